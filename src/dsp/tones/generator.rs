//! Plays a [`ToneSpec`]: up to two phase-continuous oscillators, gated by a cadence counted in samples.
//!
//! Like the DTMF generator, each oscillator is a 32-bit phase accumulator reading an interpolated sine
//! table, so frequency is exact to 2^-32 of the sample rate and never drifts. Cadence steps are
//! converted to sample counts once, so every edge lands on the exact sample (8 samples per ms).

use std::sync::LazyLock;

use super::plan::{fax_tone, FaxTone, ToneSpec};
use super::{ToneError, SAMPLES_PER_MS, SAMPLE_RATE_HZ};
use crate::dsp::level::dbm0_to_peak;
use crate::hw::Law;

/// Per-frequency level range: two frequencies at -3 dBm0 each peak just under the overload point
/// (the same bound as the DTMF generator); below -50 dBm0 nothing will hear it.
const MIN_LEVEL_DBM0: f32 = -50.0;
const MAX_LEVEL_DBM0: f32 = -3.0;
/// Frequencies must sit inside the G.711 band with room to spare below Nyquist.
const MAX_FREQ_HZ: f32 = 3800.0;
/// Longest step accepted: no plan has a step longer than 10 s (call waiting's gap is the longest).
const MAX_STEP_MS: u32 = 10_000;
/// Longest cadence: SIT's three steps and the double rings fit well inside.
const MAX_STEPS: usize = 8;

/// ANSam (V.8): amplitude modulation at 15 Hz with a 20 % depth, and a 180° phase reversal every
/// 450 ms (the V.25 reversal interval).
const ANSAM_AM_HZ: f64 = 15.0;
const ANSAM_AM_DEPTH: f32 = 0.2;
const ANSAM_REVERSAL_SAMPLES: u32 = 450 * SAMPLES_PER_MS;
/// Half a turn of the 32-bit phase accumulator: a 180° phase reversal.
const HALF_TURN: u32 = 1 << 31;

/// 1024 points with linear interpolation put the interpolation error near -100 dB, far below G.711's
/// own quantisation noise (the same table size the DTMF generator uses).
const SINE_TABLE_BITS: u32 = 10;
const SINE_TABLE_LEN: usize = 1 << SINE_TABLE_BITS;
const FRACTION_BITS: u32 = 32 - SINE_TABLE_BITS;

/// One full sine cycle plus a guard point equal to the first, so interpolation never wraps.
static SINE_TABLE: LazyLock<[f32; SINE_TABLE_LEN + 1]> = LazyLock::new(|| {
    let mut table = [0f32; SINE_TABLE_LEN + 1];
    for (index, value) in table.iter_mut().enumerate() {
        *value = (2.0 * std::f64::consts::PI * index as f64 / SINE_TABLE_LEN as f64).sin() as f32;
    }
    table
});

/// A cadence step resolved to samples and phase steps.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Step {
    on_samples: u32,
    off_samples: u32,
    phase_steps: [u32; 2],
    /// How many of `phase_steps` sound (1 or 2).
    voices: usize,
}

/// V.8 ANSam's modulation state.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Ansam {
    am_phase: u32,
    am_step: u32,
    /// Samples until the next phase reversal.
    until_reversal: u32,
}

/// Plays one tone spec as 16-bit linear samples, a block at a time.
#[derive(Clone)]
pub struct ToneGenerator {
    steps: [Step; MAX_STEPS],
    step_count: usize,
    repeat: bool,
    continuous: bool,
    /// Peak amplitude of each frequency, in 16-bit linear units.
    peak: f32,
    step_index: usize,
    in_gap: bool,
    /// Samples left in the current on or off segment.
    remaining_samples: u32,
    finished: bool,
    phases: [u32; 2],
    ansam: Option<Ansam>,
    /// The shared sine table, resolved once so `fill` skips the lazy-init check per sample.
    sine_table: &'static [f32; SINE_TABLE_LEN + 1],
}

impl ToneGenerator {
    /// A generator playing `spec` at its level, with 0 dBm0 defined by `law`.
    pub fn new(law: Law, spec: ToneSpec) -> Result<Self, ToneError> {
        validate(&spec)?;
        let mut steps = [Step::default(); MAX_STEPS];
        for (index, step) in steps.iter_mut().enumerate().take(spec.cadence.len().max(1)) {
            *step = resolve_step(&spec, index);
        }
        let mut generator = Self {
            steps,
            step_count: spec.cadence.len().max(1),
            repeat: spec.repeat,
            continuous: spec.is_continuous(),
            peak: dbm0_to_peak(law, spec.level_dbm0),
            step_index: 0,
            in_gap: false,
            remaining_samples: 0,
            finished: false,
            phases: [0; 2],
            ansam: None,
            sine_table: LazyLock::force(&SINE_TABLE),
        };
        generator.enter_step(0);
        Ok(generator)
    }

    /// A generator for a fax tone; ANSam gets its 15 Hz modulation and phase reversals.
    pub fn fax(law: Law, kind: FaxTone) -> Self {
        let mut generator = Self::new(law, fax_tone(kind)).expect("the fax tone table is valid");
        if kind == FaxTone::Ansam {
            generator.ansam = Some(Ansam {
                am_phase: 0,
                am_step: phase_step(ANSAM_AM_HZ),
                until_reversal: ANSAM_REVERSAL_SAMPLES,
            });
        }
        generator
    }

    /// True once a cadence that does not repeat has played out; only silence follows.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Writes the next `out.len()` samples: tone, gaps, and silence once finished. Phase and cadence
    /// carry across calls, so any block size gives the same stream.
    pub fn fill(&mut self, out: &mut [i16]) {
        let mut written = 0;
        while written < out.len() {
            let rest = &mut out[written..];
            if self.finished {
                rest.fill(0);
                return;
            }
            let count = if self.continuous {
                rest.len()
            } else {
                rest.len().min(self.remaining_samples as usize)
            };
            if self.in_gap {
                rest[..count].fill(0);
            } else {
                self.write_tone(&mut rest[..count]);
            }
            written += count;
            if !self.continuous {
                self.remaining_samples -= count as u32;
                if self.remaining_samples == 0 {
                    self.advance();
                }
            }
        }
    }

    fn write_tone(&mut self, out: &mut [i16]) {
        let step = self.steps[self.step_index];
        for sample in out.iter_mut() {
            let mut value = sine(self.sine_table, self.phases[0]);
            if step.voices == 2 {
                value += sine(self.sine_table, self.phases[1]);
            }
            value *= self.peak * self.ansam_gain();
            // The level range keeps the sum inside i16; `as` saturates regardless.
            *sample = value.round() as i16;
            self.phases[0] = self.phases[0].wrapping_add(step.phase_steps[0]);
            self.phases[1] = self.phases[1].wrapping_add(step.phase_steps[1]);
        }
    }

    /// ANSam's envelope for this sample (1 without ANSam); also runs its reversal clock.
    #[inline]
    fn ansam_gain(&mut self) -> f32 {
        let Some(ansam) = self.ansam.as_mut() else {
            return 1.0;
        };
        let gain = 1.0 + ANSAM_AM_DEPTH * sine(self.sine_table, ansam.am_phase);
        ansam.am_phase = ansam.am_phase.wrapping_add(ansam.am_step);
        ansam.until_reversal -= 1;
        if ansam.until_reversal == 0 {
            ansam.until_reversal = ANSAM_REVERSAL_SAMPLES;
            // The carrier's phase jumps by half a turn; the next sample already carries it.
            self.phases[0] = self.phases[0].wrapping_add(HALF_TURN);
        }
        gain
    }

    /// Moves from the segment just finished to the next one.
    fn advance(&mut self) {
        if !self.in_gap && self.steps[self.step_index].off_samples > 0 {
            self.in_gap = true;
            self.remaining_samples = self.steps[self.step_index].off_samples;
            return;
        }
        let next = self.step_index + 1;
        if next < self.step_count {
            self.enter_step(next);
        } else if self.repeat {
            self.enter_step(0);
        } else {
            self.finished = true;
        }
    }

    /// Starts step `index`'s tone. A tone after silence starts at phase 0 (a sine starts from zero,
    /// so no click); a tone straight after another (SIT) keeps the running phase, also click-free.
    fn enter_step(&mut self, index: usize) {
        if self.in_gap {
            self.phases = [0; 2];
        }
        self.step_index = index;
        self.in_gap = false;
        self.remaining_samples = self.steps[index].on_samples;
    }
}

fn validate(spec: &ToneSpec) -> Result<(), ToneError> {
    // Written as a range check so NaN is rejected too.
    if !(MIN_LEVEL_DBM0..=MAX_LEVEL_DBM0).contains(&spec.level_dbm0) {
        return Err(ToneError::InvalidSpec("level_dbm0 must be -50..=-3"));
    }
    if spec.cadence.len() > MAX_STEPS {
        return Err(ToneError::InvalidSpec("at most 8 cadence steps"));
    }
    if spec
        .cadence
        .iter()
        .any(|step| step.on_ms == 0 || step.on_ms > MAX_STEP_MS || step.off_ms > MAX_STEP_MS)
    {
        return Err(ToneError::InvalidSpec(
            "each step needs on_ms 1..=10000 and off_ms 0..=10000",
        ));
    }
    for index in 0..spec.cadence.len().max(1) {
        let [first, second] = spec.step_freqs_hz(index);
        let valid = |freq_hz: f32| freq_hz > 0.0 && freq_hz <= MAX_FREQ_HZ;
        if !valid(first) || !(second == 0.0 || valid(second)) {
            return Err(ToneError::InvalidSpec(
                "frequencies must be in 0 < f <= 3800 Hz (second may be 0)",
            ));
        }
    }
    Ok(())
}

fn resolve_step(spec: &ToneSpec, index: usize) -> Step {
    let [first, second] = spec.step_freqs_hz(index);
    let (on_samples, off_samples) = match spec.cadence.get(index) {
        Some(step) => (step.on_ms * SAMPLES_PER_MS, step.off_ms * SAMPLES_PER_MS),
        // A continuous tone never counts down.
        None => (u32::MAX, 0),
    };
    Step {
        on_samples,
        off_samples,
        phase_steps: [phase_step(f64::from(first)), phase_step(f64::from(second))],
        voices: if second > 0.0 { 2 } else { 1 },
    }
}

/// Phase increment per sample for `freq_hz`, as a fraction of a cycle scaled by 2^32.
fn phase_step(freq_hz: f64) -> u32 {
    (freq_hz / f64::from(SAMPLE_RATE_HZ) * 4_294_967_296.0).round() as u32
}

/// sin(2π · phase / 2^32), linearly interpolated from the table.
#[inline]
fn sine(table: &[f32; SINE_TABLE_LEN + 1], phase: u32) -> f32 {
    let index = (phase >> FRACTION_BITS) as usize;
    let fraction = (phase & ((1 << FRACTION_BITS) - 1)) as f32 / (1u32 << FRACTION_BITS) as f32;
    let (low, high) = (table[index], table[index + 1]);
    low + (high - low) * fraction
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::g711;
    use crate::dsp::level::rms_dbm0;
    use crate::dsp::tones::plan::{tone, CadenceStep, Country, ToneKind};

    fn generate(law: Law, spec: ToneSpec, samples: usize) -> Vec<i16> {
        let mut generator = ToneGenerator::new(law, spec).expect("valid spec");
        let mut out = vec![0i16; samples];
        generator.fill(&mut out);
        out
    }

    fn through_g711(law: Law, samples: &[i16]) -> Vec<i16> {
        let mut codes = vec![0u8; samples.len()];
        g711::encode_block(law, samples, &mut codes);
        let mut decoded = vec![0i16; samples.len()];
        g711::decode_block(law, &codes, &mut decoded);
        decoded
    }

    /// Power of `samples` at `freq_hz` relative to their total power (Goertzel), in dB.
    fn goertzel_share_db(samples: &[i16], freq_hz: f64) -> f64 {
        let coefficient = 2.0 * (2.0 * std::f64::consts::PI * freq_hz / 8000.0).cos();
        let (mut s1, mut s2) = (0.0f64, 0.0f64);
        for &sample in samples {
            let s0 = f64::from(sample) + coefficient * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        let bin_power = s1 * s1 + s2 * s2 - coefficient * s1 * s2;
        let total: f64 = samples.iter().map(|&s| f64::from(s).powi(2)).sum();
        10.0 * (2.0 * bin_power / (samples.len() as f64 * total)).log10()
    }

    /// Zero crossings per second / 2 = frequency, for a single tone.
    fn zero_crossing_freq_hz(samples: &[i16]) -> f64 {
        let crossings = samples
            .windows(2)
            .filter(|pair| (pair[0] < 0) != (pair[1] < 0))
            .count();
        crossings as f64 * 8000.0 / samples.len() as f64 / 2.0
    }

    /// Index of the first and one past the last non-zero sample of each burst.
    fn bursts(samples: &[i16]) -> Vec<(usize, usize)> {
        let mut result = Vec::new();
        let mut start = None;
        for (index, &sample) in samples.iter().enumerate() {
            match (start, sample != 0) {
                (None, true) => start = Some(index),
                // A sine passes through zero inside a burst; only a run of zeros ends it.
                (Some(first), false) if samples[index..].iter().take(8).all(|&s| s == 0) => {
                    result.push((first, index));
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(first) = start {
            result.push((first, samples.len()));
        }
        result
    }

    #[test]
    fn level_is_within_a_fifth_of_a_db_for_every_tone_and_law() {
        for law in [Law::Alaw, Law::Ulaw] {
            for country in Country::ALL {
                for kind in [
                    ToneKind::Dial,
                    ToneKind::Ringback,
                    ToneKind::Busy,
                    ToneKind::Congestion,
                ] {
                    let spec = tone(country, kind);
                    let first_on = spec.cadence.first().map_or(8000, |step| step.on_ms as usize * 8);
                    let burst = generate(law, spec, first_on);
                    let voices = if spec.freqs_hz[1] > 0.0 { 2.0 } else { 1.0 };
                    let expected_dbm0 = spec.level_dbm0 + 10.0 * f32::log10(voices);
                    for (what, samples) in [("linear", burst.clone()), ("G.711", through_g711(law, &burst))] {
                        let measured = rms_dbm0(law, &samples);
                        assert!(
                            (measured - expected_dbm0).abs() <= 0.2,
                            "{country:?} {kind:?} {law:?} {what}: {measured} vs {expected_dbm0}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn cadence_edges_land_on_the_exact_sample() {
        // UK congestion: 400 on, 350 off, 225 on, 525 off, repeated.
        let spec = tone(Country::Uk, ToneKind::Congestion);
        let out = generate(Law::Alaw, spec, 2 * 1500 * 8);
        let edges_ms = [(0, 400), (750, 975), (1500, 1900), (2250, 2475)];
        let expected: Vec<(usize, usize)> = edges_ms.iter().map(|&(on, off)| (on * 8, off * 8)).collect();
        let found = bursts(&out);
        // A burst starts at phase 0, so its first sample is exactly 0: the burst starts one earlier.
        let found: Vec<(usize, usize)> = found.iter().map(|&(start, end)| (start - 1, end)).collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn block_size_does_not_change_the_stream() {
        let spec = tone(Country::Us, ToneKind::Ringback);
        let whole = generate(Law::Ulaw, spec, 50_000);
        let mut generator = ToneGenerator::new(Law::Ulaw, spec).expect("valid");
        let mut pieces = vec![0i16; 50_000];
        let mut offset = 0;
        for size in [1usize, 7, 160, 333, 2, 4096].iter().cycle() {
            if offset == pieces.len() {
                break;
            }
            let end = (offset + size).min(pieces.len());
            generator.fill(&mut pieces[offset..end]);
            offset = end;
        }
        assert_eq!(whole, pieces);
    }

    #[test]
    fn frequencies_are_exact_by_zero_crossings_and_goertzel() {
        for (country, kind, freq_hz) in [
            (Country::Cn, ToneKind::Dial, 450.0),
            (Country::Eu, ToneKind::Dial, 425.0),
            (Country::Uk, ToneKind::Busy, 400.0),
        ] {
            // Only the first burst of a cadenced tone: the gaps have no crossings.
            let spec = tone(country, kind);
            let burst_samples = spec.cadence.first().map_or(8000, |step| step.on_ms as usize * 8);
            let samples = generate(Law::Alaw, spec, burst_samples);
            let measured = zero_crossing_freq_hz(&samples);
            // One crossing more or less at the burst's ends is worth 4000 / len Hz.
            assert!(
                (measured - freq_hz).abs() <= 4000.0 / burst_samples as f64 + 0.1,
                "{country:?} {kind:?}: {measured} Hz"
            );
        }
        // Dual tones: each frequency carries half the power (-3 dB), both survive G.711.
        let dial = through_g711(
            Law::Alaw,
            &generate(Law::Alaw, tone(Country::Us, ToneKind::Dial), 8000),
        );
        for freq_hz in [350.0, 440.0] {
            let share_db = goertzel_share_db(&dial, freq_hz);
            assert!((share_db + 3.01).abs() < 0.2, "{freq_hz} Hz: {share_db} dB");
        }
        assert!(goertzel_share_db(&dial, 480.0) < -30.0);
    }

    #[test]
    fn sit_steps_change_frequency_and_then_stop() {
        let spec = tone(Country::Us, ToneKind::Sit);
        let mut generator = ToneGenerator::new(Law::Ulaw, spec).expect("valid");
        let mut out = vec![0i16; (274 + 274 + 380 + 500) * 8];
        generator.fill(&mut out);
        assert!(generator.is_finished());
        let segments = [(0, 274, 913.8), (274, 548, 1370.6), (548, 928, 1776.7)];
        for (start_ms, end_ms, freq_hz) in segments {
            let segment = &out[start_ms * 8..end_ms * 8];
            assert!(goertzel_share_db(segment, freq_hz) > -0.5, "{freq_hz} Hz");
        }
        assert!(out[928 * 8..].iter().all(|&s| s == 0));
    }

    #[test]
    fn ansam_has_15_hz_envelope_and_reversals_every_450_ms() {
        let mut generator = ToneGenerator::fax(Law::Alaw, FaxTone::Ansam);
        let mut out = vec![0i16; 8000];
        generator.fill(&mut out);
        // The envelope: peaks per 5 ms window (27° of the 15 Hz envelope) swing between 0.8 and 1.2
        // of the carrier peak.
        let carrier_peak = dbm0_to_peak(Law::Alaw, fax_tone(FaxTone::Ansam).level_dbm0);
        let window_peaks: Vec<f32> = out
            .chunks(40)
            .map(|chunk| chunk.iter().map(|&s| f32::from(s).abs()).fold(0.0, f32::max) / carrier_peak)
            .collect();
        let highest = window_peaks.iter().copied().fold(0.0, f32::max);
        let lowest = window_peaks.iter().copied().fold(f32::MAX, f32::min);
        assert!(
            (1.17..=1.21).contains(&highest) && (0.79..=0.85).contains(&lowest),
            "{lowest}..{highest}"
        );
        // A reversal: at 450 ms the sample is the sine's continuation with its sign flipped. A sampled
        // sine obeys x[n] = 2cos(ω)·x[n-1] - x[n-2], which predicts the unreversed continuation.
        let reversal = ANSAM_REVERSAL_SAMPLES as usize;
        let two_cos = 2.0 * (2.0 * std::f64::consts::PI * 2100.0 / 8000.0).cos();
        for n in [reversal - 1, reversal, reversal + 2] {
            let predicted = two_cos * f64::from(out[n - 1]) - f64::from(out[n - 2]);
            let flipped = n == reversal;
            let error = if flipped {
                f64::from(out[n]) + predicted
            } else {
                f64::from(out[n]) - predicted
            };
            assert!(
                error.abs() < 0.05 * f64::from(carrier_peak),
                "sample {n}: {} vs {predicted}",
                out[n]
            );
        }
    }

    #[test]
    fn beep_is_a_single_quarter_second() {
        let out = generate(Law::Alaw, tone(Country::Cn, ToneKind::Beep), 4000);
        let found = bursts(&out);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].1, 250 * 8);
    }

    #[test]
    fn invalid_specs_are_refused() {
        const BAD_STEP: &[CadenceStep] = &[CadenceStep::new(0, 100)];
        let base = tone(Country::Eu, ToneKind::Busy);
        for spec in [
            ToneSpec {
                level_dbm0: 0.0,
                ..base
            },
            ToneSpec {
                level_dbm0: f32::NAN,
                ..base
            },
            ToneSpec {
                freqs_hz: [0.0, 0.0],
                ..base
            },
            ToneSpec {
                freqs_hz: [425.0, 4000.0],
                ..base
            },
            ToneSpec {
                cadence: BAD_STEP,
                ..base
            },
        ] {
            assert!(ToneGenerator::new(Law::Alaw, spec).is_err(), "{spec:?}");
        }
    }
}
