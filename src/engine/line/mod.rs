//! Line signalling: the state machines that sit between an analog or CAS channel and the engine's
//! channel loop, turning line-level events (ring bursts, hook changes, caller-ID audio, winks, ABCD
//! bits) into the call-level ones the loop acts on (`Offered`, `Answered`, `Hangup`), and the loop's
//! call-level controls into line-level ones. A [`Signalling::Network`] channel needs none: the
//! network (the sim's, or ISDN) signals calls directly.
//!
//! Each state machine is itself a [`Channel`] wrapping the card's channel, so the engine's loop is
//! the same code for every kind of line, and each is unit-tested against scripted DAHDI event
//! sequences.

pub mod extension;

use crate::hw::{Channel, Signalling};

/// What a line's state machine needs to know about the line (from the span's hardware map).
#[derive(Clone, Debug)]
pub struct LineSetup {
    pub signalling: Signalling,
    pub country: crate::dsp::tones::Country,
    /// An extension's number, dial plan and message count (fxoks/fxols); None: an unnumbered
    /// extension.
    pub extension: Option<extension::ExtensionLine>,
}

/// Puts the state machine for the channel's signalling in front of it.
pub fn wrap(chan: Box<dyn Channel>, setup: &LineSetup) -> Box<dyn Channel> {
    match setup.signalling {
        Signalling::Network => chan,
        Signalling::Fxoks | Signalling::Fxols => extension::wrap(chan, setup),
        // The analog and CAS state machines arrive with the DAHDI issue; until then such a channel
        // reaches the loop unwrapped and its line-level events are ignored.
        _ => chan,
    }
}
