//! Placing calls: the daemon hands an idle channel an [`OriginateRequest`] (the number to dial and
//! the [`App`] to run once the far end answers) through the channel's [`OriginateSlot`], a
//! one-place lock-free inbox, and wakes the channel thread. The channel thread takes the request
//! when it is idle (at its next block, or when woken on a card that sends no blocks to an idle
//! line), dials, counts the ring timeout in samples, and reports how the attempt went through the
//! request's [`OriginateReport`] (atomics the requester polls); the call itself is logged like any
//! other (`call_start` with `src` = our number, `dst` = the number dialled, `answer`, `call_end`).
//!
//! Everything a request holds is allocated by the requester; the channel thread only moves it.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};

use crossbeam::queue::ArrayQueue;

use crate::fixed::Number;
use crate::hw::{CallRef, Cause, ChannelWaker};

use super::app::App;
use super::events::Disposition;

/// Longest ring timeout a request may ask for.
pub const MAX_RING_TIMEOUT_MS: u32 = 300_000;

/// An outbound call to place.
pub struct OriginateRequest {
    /// The number to dial.
    pub number: Number,
    /// Our number, as the call presents it (the call log's `src`).
    pub from: Number,
    /// Runs the call once the far end answers (`on_answered` first).
    pub app: Box<dyn App>,
    /// Hang up with NO_ANSWER when the far end has not answered after this long (counted in the
    /// call's samples; at most [`MAX_RING_TIMEOUT_MS`]).
    pub ring_timeout_ms: u32,
    pub report: Arc<OriginateReport>,
}

impl std::fmt::Debug for OriginateRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OriginateRequest")
            .field("number", &self.number)
            .field("from", &self.from)
            .field("ring_timeout_ms", &self.ring_timeout_ms)
            .finish_non_exhaustive()
    }
}

/// Where an outbound call stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OriginatePhase {
    /// Not taken by a channel yet.
    Waiting,
    /// Dialled; ringing.
    Dialling,
    /// The far end answered; the app runs.
    Answered,
    /// The call is over (see [`OriginateReport::outcome`]).
    Ended,
}

/// How an outbound call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OriginateOutcome {
    pub call: CallRef,
    pub answered: bool,
    /// Busy: the far end was busy; NoAnswer: nobody answered in time; Failed: the network refused
    /// it (unallocated number, congestion, glare); Answered: it was answered (the app's own result
    /// says what came of it).
    pub disposition: Disposition,
    pub cause: Cause,
}

/// Written by the channel thread, read by whoever placed the call.
#[derive(Debug, Default)]
pub struct OriginateReport {
    phase: AtomicU8,
    answered: AtomicU8,
    disposition: AtomicU8,
    cause: AtomicU8,
    call_epoch_s: AtomicU64,
    call_seq: AtomicU64,
}

impl OriginateReport {
    pub fn new() -> Arc<OriginateReport> {
        Arc::new(OriginateReport::default())
    }

    pub fn phase(&self) -> OriginatePhase {
        match self.phase.load(Ordering::Acquire) {
            0 => OriginatePhase::Waiting,
            1 => OriginatePhase::Dialling,
            2 => OriginatePhase::Answered,
            _ => OriginatePhase::Ended,
        }
    }

    /// The call's id once dialled.
    pub fn call(&self) -> Option<CallRef> {
        (self.phase() != OriginatePhase::Waiting).then(|| CallRef {
            epoch_s: self.call_epoch_s.load(Ordering::Acquire),
            seq: self.call_seq.load(Ordering::Acquire),
        })
    }

    /// How the call ended, once it has.
    pub fn outcome(&self) -> Option<OriginateOutcome> {
        if self.phase() != OriginatePhase::Ended {
            return None;
        }
        let disposition = match self.disposition.load(Ordering::Acquire) {
            0 => Disposition::Answered,
            1 => Disposition::NoAnswer,
            2 => Disposition::Busy,
            _ => Disposition::Failed,
        };
        Some(OriginateOutcome {
            call: self.call()?,
            answered: self.answered.load(Ordering::Acquire) != 0,
            disposition,
            cause: Cause::from_q850(self.cause.load(Ordering::Acquire)),
        })
    }

    pub(crate) fn dialling(&self, call: CallRef) {
        self.call_epoch_s.store(call.epoch_s, Ordering::Release);
        self.call_seq.store(call.seq, Ordering::Release);
        self.phase.store(1, Ordering::Release);
    }

    pub(crate) fn answered(&self) {
        self.answered.store(1, Ordering::Release);
        self.phase.store(2, Ordering::Release);
    }

    pub(crate) fn ended(&self, cause: Cause, disposition: Disposition) {
        let code = match disposition {
            Disposition::Answered => 0,
            Disposition::NoAnswer => 1,
            Disposition::Busy => 2,
            Disposition::Failed | Disposition::Interrupted => 3,
        };
        self.disposition.store(code, Ordering::Release);
        self.cause.store(cause.q850(), Ordering::Release);
        self.phase.store(3, Ordering::Release);
    }
}

/// One channel's inbox for an outbound call (one request at a time).
pub struct OriginateSlot {
    inbox: ArrayQueue<OriginateRequest>,
    waker: OnceLock<Arc<dyn ChannelWaker>>,
}

impl Default for OriginateSlot {
    fn default() -> Self {
        Self {
            inbox: ArrayQueue::new(1),
            waker: OnceLock::new(),
        }
    }
}

impl std::fmt::Debug for OriginateSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OriginateSlot")
            .field("pending", &self.inbox.len())
            .finish_non_exhaustive()
    }
}

impl OriginateSlot {
    /// Leaves a request for the channel and wakes its thread; the request back when one is
    /// already waiting.
    pub fn offer(&self, request: OriginateRequest) -> Result<(), OriginateRequest> {
        self.inbox.push(request)?;
        if let Some(waker) = self.waker.get() {
            waker.wake();
        }
        Ok(())
    }

    /// Takes back a request the channel has not taken (it got an inbound call meanwhile).
    pub fn reclaim(&self) -> Option<OriginateRequest> {
        self.inbox.pop()
    }

    /// Whether a request waits for the channel.
    pub fn is_pending(&self) -> bool {
        !self.inbox.is_empty()
    }

    pub(crate) fn take(&self) -> Option<OriginateRequest> {
        self.inbox.pop()
    }

    pub(crate) fn set_waker(&self, waker: Arc<dyn ChannelWaker>) {
        let _ = self.waker.set(waker);
    }
}
