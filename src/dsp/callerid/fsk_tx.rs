//! FSK caller ID transmitter: a message frame as 1200 baud Bell 202 or V.23 audio.
//!
//! The burst is (Bellcore GR-30-CORE; ETSI EN 300 659-1 for V.23):
//! 1. channel seizure: alternating space and mark bits, starting with a space (300 bits);
//! 2. mark signal: continuous mark (180 bits in GR-30-CORE; EN 300 659-1 asks for about 80 ms);
//! 3. the frame, each byte 8N1: a start bit (space), eight data bits least significant first, a
//!    stop bit (mark).
//!
//! The oscillator is phase-continuous across bit changes, and a bit change that falls between two
//! samples blends the two frequencies for that sample, so every bit lasts exactly 1/1200 s on
//! average even though a bit is 6⅔ samples long.

use std::f64::consts::TAU;

use super::message::{encode_message, Format};
use super::{CallerId, CallerIdError, SAMPLE_RATE_HZ};
use crate::dsp::level::dbm0_to_peak;
use crate::hw::Law;

/// GR-30-CORE's nominal transmit level for the data signal is −13.5 dBm; telvox sends it as
/// −13.5 dBm0 so the far end sees the level Bellcore equipment expects.
pub const DEFAULT_LEVEL_DBM0: f32 = -13.5;

/// Both standards run at 1200 bit/s (Bell 202; V.23 mode 2).
pub const BAUD: f64 = 1200.0;

/// Channel seizure length: 300 bits of alternating 0 and 1 (GR-30-CORE, EN 300 659-1).
pub const SEIZURE_BITS: u32 = 300;
/// GR-30-CORE's mark signal: 180 bits.
pub const BELL_MARK_BITS: u32 = 180;
/// EN 300 659-1's mark signal: 80 ms, which is 96 bits at 1200 bit/s.
pub const ETSI_MARK_BITS: u32 = 96;

/// Settings are bounded so a bad configuration cannot ask for minutes of audio or for tones the
/// channel cannot carry (G.711 passes roughly 300–3400 Hz).
const MAX_PREAMBLE_BITS: u32 = 2000;
const MIN_TONE_HZ: f64 = 300.0;
const MAX_TONE_HZ: f64 = 3400.0;
const MIN_BAUD: f64 = 300.0;
const MAX_BAUD: f64 = 2400.0;
/// A single tone at 0 dBm0 peaks 3.14 dB below the overload point, so 0 dBm0 is the loudest
/// clean setting; below −50 dBm0 no receiver will hear it.
const MIN_LEVEL_DBM0: f32 = -50.0;
const MAX_LEVEL_DBM0: f32 = 0.0;

/// Which FSK modem carries the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FskStandard {
    /// North America (GR-30-CORE): mark 1200 Hz, space 2200 Hz.
    Bell202,
    /// ETSI, BT, China and others (EN 300 659-1, BT SIN 227): mark 1300 Hz, space 2100 Hz.
    V23,
}

impl FskStandard {
    /// Frequency of a 1 bit.
    pub const fn mark_hz(self) -> f64 {
        match self {
            FskStandard::Bell202 => 1200.0,
            FskStandard::V23 => 1300.0,
        }
    }

    /// Frequency of a 0 bit.
    pub const fn space_hz(self) -> f64 {
        match self {
            FskStandard::Bell202 => 2200.0,
            FskStandard::V23 => 2100.0,
        }
    }

    /// The mark signal this standard's exchanges send before the message.
    pub const fn mark_bits(self) -> u32 {
        match self {
            FskStandard::Bell202 => BELL_MARK_BITS,
            FskStandard::V23 => ETSI_MARK_BITS,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            FskStandard::Bell202 => "Bell 202",
            FskStandard::V23 => "V.23",
        }
    }
}

/// Everything the modulator needs. [`FskTxConfig::new`] gives the standard's values; the fields are
/// public so a site (or a test) can tune them, e.g. drop the seizure for a call-waiting burst.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FskTxConfig {
    /// The law the output will be encoded in; it fixes what 0 dBm0 means in linear units.
    pub law: Law,
    pub level_dbm0: f32,
    pub mark_hz: f64,
    pub space_hz: f64,
    pub baud: f64,
    /// Channel seizure bits (alternating, space first); 0 sends none.
    pub seizure_bits: u32,
    /// Mark bits between the seizure and the message; 0 sends none.
    pub mark_bits: u32,
}

impl FskTxConfig {
    /// The standard's tones, rate and preamble at [`DEFAULT_LEVEL_DBM0`].
    pub const fn new(standard: FskStandard, law: Law) -> Self {
        Self {
            law,
            level_dbm0: DEFAULT_LEVEL_DBM0,
            mark_hz: standard.mark_hz(),
            space_hz: standard.space_hz(),
            baud: BAUD,
            seizure_bits: SEIZURE_BITS,
            mark_bits: standard.mark_bits(),
        }
    }

    fn validate(&self) -> Result<(), CallerIdError> {
        // Range checks are written with `contains` so NaN fails them too.
        if !(MIN_LEVEL_DBM0..=MAX_LEVEL_DBM0).contains(&self.level_dbm0) {
            return Err(CallerIdError::InvalidSetting("level_dbm0 must be -50..=0"));
        }
        let tones_ok = [self.mark_hz, self.space_hz]
            .iter()
            .all(|hz| (MIN_TONE_HZ..=MAX_TONE_HZ).contains(hz));
        if !tones_ok {
            return Err(CallerIdError::InvalidSetting(
                "mark_hz and space_hz must be 300..=3400",
            ));
        }
        if !(MIN_BAUD..=MAX_BAUD).contains(&self.baud) {
            return Err(CallerIdError::InvalidSetting("baud must be 300..=2400"));
        }
        if self.seizure_bits > MAX_PREAMBLE_BITS || self.mark_bits > MAX_PREAMBLE_BITS {
            return Err(CallerIdError::InvalidSetting(
                "seizure_bits and mark_bits must be 0..=2000",
            ));
        }
        Ok(())
    }
}

/// `caller_id` as a complete FSK burst (seizure, mark, message) in `standard`'s defaults.
pub fn encode_fsk(
    caller_id: &CallerId,
    standard: FskStandard,
    format: Format,
    law: Law,
) -> Result<Vec<i16>, CallerIdError> {
    encode_fsk_with(caller_id, format, &FskTxConfig::new(standard, law))
}

/// `caller_id` as a complete FSK burst with explicit settings.
pub fn encode_fsk_with(
    caller_id: &CallerId,
    format: Format,
    config: &FskTxConfig,
) -> Result<Vec<i16>, CallerIdError> {
    let frame = encode_message(caller_id, format)?;
    modulate(&frame, config)
}

/// Any bytes (a frame, or deliberately broken ones) after the configured seizure and mark signal.
pub fn modulate(bytes: &[u8], config: &FskTxConfig) -> Result<Vec<i16>, CallerIdError> {
    config.validate()?;
    let bits = burst_bits(bytes, config);
    Ok(synthesize(&bits, config))
}

/// The burst as bits in line order: seizure, mark, then each byte 8N1 least significant bit first.
fn burst_bits(bytes: &[u8], config: &FskTxConfig) -> Vec<bool> {
    let seizure = (0..config.seizure_bits).map(|index| index % 2 == 1);
    let mark = (0..config.mark_bits).map(|_| true);
    let data = bytes.iter().flat_map(|&byte| uart_bits(byte));
    seizure.chain(mark).chain(data).collect()
}

/// One byte as start bit, eight data bits (LSB first), stop bit.
fn uart_bits(byte: u8) -> [bool; 10] {
    let mut bits = [true; 10];
    bits[0] = false;
    for (index, bit) in bits[1..9].iter_mut().enumerate() {
        *bit = (byte >> index) & 1 == 1;
    }
    bits
}

/// Phase-continuous FSK of `bits`: the output covers every bit completely (rounded up to whole
/// samples).
fn synthesize(bits: &[bool], config: &FskTxConfig) -> Vec<i16> {
    let sample_rate_hz = f64::from(SAMPLE_RATE_HZ);
    let samples_per_bit = sample_rate_hz / config.baud;
    let total_samples = (bits.len() as f64 * samples_per_bit).ceil() as usize;
    let peak = f64::from(dbm0_to_peak(config.law, config.level_dbm0));
    let frequency_of = |bit_index: usize| match bits.get(bit_index) {
        Some(false) => config.space_hz,
        // Past the last bit the line idles at mark, as a UART does.
        _ => config.mark_hz,
    };
    let mut phase_cycles = 0.0f64;
    let mut out = Vec::with_capacity(total_samples);
    for n in 0..total_samples {
        // The level range keeps |peak| below the i16 limit; `as` saturates regardless.
        out.push((peak * (TAU * phase_cycles).sin()).round() as i16);
        let start = n as f64 / samples_per_bit;
        let end = (n + 1) as f64 / samples_per_bit;
        let cycles = mean_frequency(start, end, frequency_of) / sample_rate_hz;
        // Keep the phase in [0, 1) so precision does not degrade over a long burst.
        phase_cycles = (phase_cycles + cycles).fract();
    }
    out
}

/// Mean frequency over one sample interval that spans bit positions `start..end` (in bits): one
/// bit's frequency, or a time-weighted blend where a bit boundary falls inside the interval.
fn mean_frequency(start: f64, end: f64, frequency_of: impl Fn(usize) -> f64) -> f64 {
    let first_bit = start.floor();
    let boundary = first_bit + 1.0;
    let first = frequency_of(first_bit as usize);
    if end <= boundary {
        return first;
    }
    // A bit is longer than a sample (baud ≤ 2400 < 8000), so at most one boundary falls inside.
    let second = frequency_of(boundary as usize);
    let first_share = (boundary - start) / (end - start);
    first * first_share + second * (1.0 - first_share)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::level::rms_dbm0;

    fn config() -> FskTxConfig {
        FskTxConfig::new(FskStandard::Bell202, Law::Ulaw)
    }

    #[test]
    fn bytes_are_framed_8n1_lsb_first() {
        let bits = uart_bits(0x80);
        assert_eq!(
            bits,
            [false, false, false, false, false, false, false, false, true, true]
        );
        let bits = uart_bits(0x01);
        assert_eq!(bits[..3], [false, true, false]);
    }

    #[test]
    fn burst_is_seizure_then_mark_then_data() {
        let bits = burst_bits(&[0x00], &config());
        assert_eq!(bits.len(), 300 + 180 + 10);
        assert!(bits[..300]
            .iter()
            .enumerate()
            .all(|(i, &bit)| bit == (i % 2 == 1)));
        assert!(bits[300..480].iter().all(|&bit| bit));
        assert_eq!(
            &bits[480..],
            &[false, false, false, false, false, false, false, false, false, true]
        );
    }

    #[test]
    fn duration_is_exact_at_1200_baud() {
        let audio = modulate(&[0u8; 12], &config()).expect("modulate");
        // (300 + 180 + 120) bits × 8000/1200 = 4000 samples exactly.
        assert_eq!(audio.len(), 4000);
    }

    #[test]
    fn level_matches_the_setting() {
        for level_dbm0 in [-5.0, -13.5, -35.0] {
            let config = FskTxConfig {
                level_dbm0,
                ..config()
            };
            let audio = modulate(&[0x55; 40], &config).expect("modulate");
            let measured = rms_dbm0(Law::Ulaw, &audio);
            assert!((measured - level_dbm0).abs() < 0.1, "{level_dbm0}: {measured}");
        }
    }

    #[test]
    fn oscillator_is_phase_continuous() {
        // A phase jump would show as a sample-to-sample step larger than the fastest tone allows:
        // 2π·2200/8000 rad per sample at this peak.
        let audio = modulate(&[0x5A, 0xC3, 0x0F], &config()).expect("modulate");
        let peak = f64::from(dbm0_to_peak(Law::Ulaw, DEFAULT_LEVEL_DBM0));
        let max_step = peak * TAU * 2200.0 / 8000.0 + 1.0;
        for pair in audio.windows(2) {
            let step = (f64::from(pair[1]) - f64::from(pair[0])).abs();
            assert!(step <= max_step, "{pair:?}");
        }
    }

    #[test]
    fn bad_settings_are_refused() {
        let base = config();
        for bad in [
            FskTxConfig {
                level_dbm0: 3.0,
                ..base
            },
            FskTxConfig {
                level_dbm0: f32::NAN,
                ..base
            },
            FskTxConfig {
                mark_hz: 5000.0,
                ..base
            },
            FskTxConfig { baud: 0.0, ..base },
            FskTxConfig {
                seizure_bits: 1_000_000,
                ..base
            },
        ] {
            assert!(matches!(
                modulate(&[0], &bad),
                Err(CallerIdError::InvalidSetting(_))
            ));
        }
    }
}
