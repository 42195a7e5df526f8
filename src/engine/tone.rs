//! The engine's tone source: one [`ToneGenerator`] per call, mixed into the outgoing block beside
//! the prompt player (DESIGN.md §1: "mix (prompt, tone, peer audio)"). Starting a tone builds the
//! generator in place (a fixed-size struct: no allocation), so an app may start one on the channel
//! thread; the generator fills each block.

use crate::dsp::tones::{ToneGenerator, ToneSpec};
use crate::hw::{Law, BLOCK_SAMPLES, SAMPLE_RATE_HZ};

use super::player::PlayStatus;

/// Longest tone an app may ask for: a minute (anything longer is a flow bug, not a tone).
pub const MAX_TONE_MS: u32 = 60_000;

pub struct TonePlayer {
    law: Law,
    generator: Option<ToneGenerator>,
    /// Samples left to play; a tone with a natural end (SIT, the beep) may end sooner.
    remaining_samples: u64,
}

impl TonePlayer {
    pub fn new(law: Law) -> Self {
        Self {
            law,
            generator: None,
            remaining_samples: 0,
        }
    }

    /// Starts `spec` (replacing any tone playing) for `ms`, or to its natural end when None (a
    /// tone without one then plays `MAX_TONE_MS`). False when the spec is not playable.
    pub fn start(&mut self, spec: ToneSpec, ms: Option<u32>) -> bool {
        let Ok(generator) = ToneGenerator::new(self.law, spec) else {
            return false;
        };
        let ms = ms.unwrap_or(MAX_TONE_MS).min(MAX_TONE_MS);
        self.remaining_samples = u64::from(ms) * u64::from(SAMPLE_RATE_HZ) / 1000;
        self.generator = Some(generator);
        true
    }

    pub fn stop(&mut self) {
        self.generator = None;
        self.remaining_samples = 0;
    }

    pub fn is_playing(&self) -> bool {
        self.generator.is_some()
    }

    /// Adds the next samples of the tone into `out`.
    pub fn mix_into(&mut self, out: &mut [i16]) -> PlayStatus {
        let Some(generator) = self.generator.as_mut() else {
            return PlayStatus::Idle;
        };
        let mut scratch = [0i16; BLOCK_SAMPLES];
        let count = out
            .len()
            .min(scratch.len())
            .min(usize::try_from(self.remaining_samples).unwrap_or(usize::MAX));
        generator.fill(&mut scratch[..count]);
        for (o, s) in out[..count].iter_mut().zip(&scratch[..count]) {
            *o = o.saturating_add(*s);
        }
        self.remaining_samples -= count as u64;
        if self.remaining_samples == 0 || generator.is_finished() {
            self.stop();
            return PlayStatus::Finished;
        }
        PlayStatus::Playing
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::tones::{tone, Country, ToneKind};

    #[test]
    fn plays_for_the_time_asked_then_finishes_once() {
        let mut player = TonePlayer::new(Law::Alaw);
        assert!(player.start(tone(Country::Cn, ToneKind::Dial), Some(50)));
        let mut statuses = Vec::new();
        let mut blocks = Vec::new();
        for _ in 0..4 {
            let mut out = [0i16; BLOCK_SAMPLES];
            statuses.push(player.mix_into(&mut out));
            blocks.push(out);
        }
        use PlayStatus::*;
        assert_eq!(statuses, [Playing, Playing, Finished, Idle]);
        // 50 ms = 400 samples: the third block carries 80 samples of tone, then silence.
        assert!(blocks[2][..80].iter().any(|&s| s != 0));
        assert!(blocks[2][80..].iter().all(|&s| s == 0));
    }

    #[test]
    fn a_beep_ends_by_itself() {
        let mut player = TonePlayer::new(Law::Ulaw);
        assert!(player.start(tone(Country::Us, ToneKind::Beep), None));
        let mut blocks = 0;
        while player.is_playing() {
            player.mix_into(&mut [0i16; BLOCK_SAMPLES]);
            blocks += 1;
            assert!(blocks < 100);
        }
        // 250 ms = 12.5 blocks.
        assert_eq!(blocks, 13);
    }
}
