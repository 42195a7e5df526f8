//! The tones the simulated exchange plays (docs/sim-protocol.md, *Tones*): ringback to a caller
//! while telvox's channel rings, a failure tone to a caller whose call fails, and busy tone to a
//! channel whose far end hung up on a `far_end_hangup = "tone"` span. Each is a
//! [`ToneGenerator`] of the span's national plan, encoded in the span's law one 20 ms block per
//! tick; nothing here allocates.

use crate::dsp::g711;
use crate::dsp::tones::{tone, Country, ToneGenerator, ToneKind};
use crate::hw::{Block, Cause, Law, BLOCKS_PER_SECOND, BLOCK_SAMPLES};

/// The exchange gives up waiting for a channel to hang up on busy tone after this long, and
/// signals the hangup after all (real exchanges time out to a howler or park the line).
pub(super) const FAR_END_TONE_LIMIT_TICKS: u32 = 60 * BLOCKS_PER_SECOND;

/// A tone being played on one line, one block per tick.
#[derive(Clone)]
pub(super) struct LineTone {
    generator: ToneGenerator,
    law: Law,
}

impl LineTone {
    /// `kind` of `country`'s plan in `law`. Every plan tone is valid (the plan's own tests say so),
    /// so this cannot fail for the tones the card plays; None is kept for safety.
    pub(super) fn new(country: Country, kind: ToneKind, law: Law) -> Option<Self> {
        let generator = ToneGenerator::new(law, tone(country, kind)).ok()?;
        Some(Self { generator, law })
    }

    /// The next 20 ms of the tone, encoded.
    pub(super) fn next_block(&mut self, block: &mut Block) {
        let mut linear = [0i16; BLOCK_SAMPLES];
        self.generator.fill(&mut linear);
        g711::encode_block(self.law, &linear, block);
    }
}

/// The tone a caller hears when its call fails with `cause` before the answer, as exchanges play
/// it: SIT for a number that does not exist, busy for a busy line, congestion when the network
/// cannot complete the call. None: the call just ends (a rejection, no answer, a normal clear).
pub(super) fn failure_tone(cause: Cause) -> Option<ToneKind> {
    match cause {
        Cause::Unallocated | Cause::InvalidNumberFormat => Some(ToneKind::Sit),
        Cause::UserBusy => Some(ToneKind::Busy),
        Cause::NormalCircuitCongestion | Cause::NormalTemporaryFailure => Some(ToneKind::Congestion),
        _ => None,
    }
}

/// How long a failure tone plays before the exchange clears the call, in whole ticks: two cadence
/// cycles of busy or congestion (long enough for a caller, or telvox's own detector, to recognise
/// it), one pass of SIT including its pause (rounded down, so the next pass never starts).
pub(super) fn failure_tone_ticks(country: Country, kind: ToneKind) -> u32 {
    let spec = tone(country, kind);
    let cycles = if kind == ToneKind::Sit { 1 } else { 2 };
    let ms = spec.cycle_ms() * cycles;
    (ms / (1000 / BLOCKS_PER_SECOND)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_tones_last_two_cycles_or_one_sit() {
        // China's busy: 350 ms on, 350 ms off, twice = 1.4 s = 70 ticks.
        assert_eq!(failure_tone_ticks(Country::Cn, ToneKind::Busy), 70);
        // ITU SIT: 3 × 330 ms and 1 s of silence = 1.99 s → 99 whole ticks.
        assert_eq!(failure_tone_ticks(Country::Eu, ToneKind::Sit), 99);
        assert_eq!(failure_tone(Cause::UserBusy), Some(ToneKind::Busy));
        assert_eq!(failure_tone(Cause::CallRejected), None);
    }

    #[test]
    fn a_line_tone_is_the_plan_tone_encoded() {
        let mut line = LineTone::new(Country::Cn, ToneKind::Busy, Law::Alaw).unwrap();
        let mut block = [0u8; BLOCK_SAMPLES];
        line.next_block(&mut block);
        let mut decoded = [0i16; BLOCK_SAMPLES];
        g711::decode_block(Law::Alaw, &block, &mut decoded);
        assert!(decoded.iter().any(|&s| s.abs() > 500), "busy starts with tone");
    }
}
