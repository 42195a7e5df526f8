//! The card the daemon drives: the simulated card or DAHDI, behind one face.

use std::sync::Arc;

use super::dahdi::monitor::SpanHealth;
use super::dahdi::DahdiCard;
use super::sim::SimCard;
use super::{CardCounters, Channel, SpanInfo};

pub enum Card {
    Sim(SimCard),
    Dahdi(DahdiCard),
}

impl Card {
    pub fn spans(&self) -> &[SpanInfo] {
        match self {
            Card::Sim(card) => card.spans(),
            Card::Dahdi(card) => card.spans(),
        }
    }

    pub fn counters(&self) -> Arc<CardCounters> {
        match self {
            Card::Sim(card) => card.counters(),
            Card::Dahdi(card) => card.counters(),
        }
    }

    pub fn take_channels(&mut self) -> Vec<Box<dyn Channel>> {
        match self {
            Card::Sim(card) => card.take_channels(),
            Card::Dahdi(card) => card.take_channels(),
        }
    }

    /// Span alarms and error counters (DAHDI's span monitor, or the sim's alarm op).
    pub fn span_health(&self) -> Option<Arc<SpanHealth>> {
        match self {
            Card::Sim(card) => Some(card.span_health()),
            Card::Dahdi(card) => card.span_health(),
        }
    }

    pub fn shutdown(&mut self) {
        match self {
            Card::Sim(card) => card.shutdown(),
            Card::Dahdi(card) => card.shutdown(),
        }
    }
}
