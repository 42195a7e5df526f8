//! Line signalling: the state machines that sit between an analog or CAS channel and the engine's
//! channel loop, turning line-level events (ring bursts, hook changes, caller-ID audio, winks, ABCD
//! bits) into the call-level ones the loop acts on (`Offered`, `Answered`, `Hangup`), and the loop's
//! call-level controls into line-level ones. A [`Signalling::Network`] channel needs none: the
//! network (the sim's, or ISDN) signals calls directly.
//!
//! Each state machine is itself a [`Channel`] wrapping the card's channel, so the engine's loop is
//! the same code for every kind of line, and each is unit-tested against scripted DAHDI event
//! sequences.

pub mod em;
pub mod extension;
mod queue;
pub mod trunk;

use crate::hw::{Channel, Signalling};

pub use trunk::{AnalogOptions, CallerIdSignalling, CallerIdStart};

/// Line events a state machine absorbs in one `read` before it returns `Woken` (which the engine
/// loop takes as nothing to do): a card that only ever sent events the machine swallows would
/// otherwise hold the channel thread in its read for good.
const MAX_LINE_EVENTS_PER_READ: usize = 64;

/// What a line's state machine needs to know about the line (from the span's hardware map).
#[derive(Clone, Debug)]
pub struct LineSetup {
    pub signalling: Signalling,
    pub country: crate::dsp::tones::Country,
    /// An extension's number, dial plan and message count (fxoks/fxols); None: an unnumbered
    /// extension.
    pub extension: Option<extension::ExtensionLine>,
    /// Analog trunk and E&M settings (caller ID, polarity, timers, the number calls are offered
    /// to); defaults for every other signalling.
    pub analog: AnalogOptions,
}

/// Puts the state machine for the channel's signalling in front of it.
pub fn wrap(chan: Box<dyn Channel>, setup: &LineSetup) -> Box<dyn Channel> {
    match setup.signalling {
        Signalling::Network => chan,
        Signalling::Fxoks | Signalling::Fxols => extension::wrap(chan, setup),
        Signalling::Fxsks | Signalling::Fxsls => Box::new(trunk::TrunkLine::new(chan, setup)),
        Signalling::EmImmediate | Signalling::EmWink | Signalling::Clear => {
            Box::new(em::EmLine::new(chan, setup))
        }
    }
}

/// Whether the engine must listen for busy tone to learn that the far end hung up (on top of a
/// span's own `disconnect_tone`): loopstart trunks have no disconnect supervision at all, and a
/// kewlstart trunk whose exchange signals the hangup only by tone (`far_end_hangup = "tone"`)
/// needs it too.
pub fn needs_disconnect_tone(signalling: Signalling, far_end_tone: bool) -> bool {
    signalling == Signalling::Fxsls || (far_end_tone && signalling == Signalling::Fxsks)
}

/// The sim card's view of an analog span (how its simulated exchange rings, sends caller ID and
/// seizes), from the span's signalling and settings; None for spans that are not analog trunks
/// or E&M.
pub fn sim_analog_span(
    span: u16,
    signalling: Signalling,
    analog: &AnalogOptions,
) -> Option<crate::hw::sim::AnalogSpan> {
    use crate::dsp::callerid::FskStandard;
    use crate::hw::sim::{AnalogKind, AnalogSpan, SimCallerId};
    let kind = match signalling {
        Signalling::Fxsks => AnalogKind::Kewlstart,
        Signalling::Fxsls => AnalogKind::Loopstart,
        Signalling::EmImmediate => AnalogKind::EmImmediate,
        Signalling::EmWink => AnalogKind::EmWink,
        _ => return None,
    };
    let fsk = |standard| match analog.caller_id_start {
        CallerIdStart::Ring => SimCallerId::FskAfterRing(standard),
        CallerIdStart::Polarity => SimCallerId::FskAfterPolarity(standard),
    };
    let caller_id = match analog.caller_id {
        CallerIdSignalling::None => SimCallerId::None,
        CallerIdSignalling::Bell202 => fsk(FskStandard::Bell202),
        CallerIdSignalling::V23 => fsk(FskStandard::V23),
        CallerIdSignalling::Dtmf => SimCallerId::Dtmf,
    };
    Some(AnalogSpan {
        span,
        kind,
        caller_id,
        ring_timeout_ms: analog.ring_timeout_ms,
    })
}
