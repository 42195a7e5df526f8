//! Signal levels relative to 0 dBm0, the reference level of a digital telephone channel.
//!
//! G.711 fixes 0 dBm0 relative to each law's overload point T_max (the amplitude of the largest sine
//! the codec carries without clipping): a 0 dBm0 sine peaks 3.14 dB below T_max in A-law and
//! 3.17 dB below it in µ-law. Full scale in 16-bit linear is therefore:
//!
//! | law   | T_max (codec units) | T_max (16-bit) | largest decoded value | 0 dBm0 sine peak |
//! |-------|---------------------|----------------|-----------------------|------------------|
//! | A-law | 4096 (13-bit) × 8   | 32768          | ±32256                | ≈ 22827          |
//! | µ-law | 8159 (14-bit) × 4   | 32636          | ±32124                | ≈ 22657          |
//!
//! The largest decoded value is the top reconstruction level, which sits inside the last
//! quantisation interval and so below T_max; using it as full scale would put the G.711 digital
//! milliwatt at +0.13 dB instead of 0 dBm0.

use crate::hw::Law;

/// A-law overload point in 16-bit linear units: 4096 steps of the 13-bit code, each worth 8.
pub const ALAW_OVERLOAD_LINEAR: f32 = 4096.0 * 8.0;
/// µ-law overload point in 16-bit linear units: 8159 steps of the 14-bit code, each worth 4.
pub const ULAW_OVERLOAD_LINEAR: f32 = 8159.0 * 4.0;
/// How far below the A-law overload point a 0 dBm0 sine peaks (G.711).
// G.711's 3.14 dB happens to look like π to clippy; it is a level, not an angle.
#[allow(clippy::approx_constant)]
pub const ALAW_HEADROOM_DB: f32 = 3.14;
/// How far below the µ-law overload point a 0 dBm0 sine peaks (G.711).
pub const ULAW_HEADROOM_DB: f32 = 3.17;

/// Peak amplitude, in 16-bit linear units, of a sine at `level_dbm0` in `law`.
pub fn dbm0_to_peak(law: Law, level_dbm0: f32) -> f32 {
    zero_dbm0_peak_linear(law) * db_to_amplitude_ratio(level_dbm0)
}

/// RMS level of `samples` in dBm0 for `law`: a sine at L dBm0 measures L. Silence (or an empty
/// slice) measures negative infinity.
pub fn rms_dbm0(law: Law, samples: &[i16]) -> f32 {
    if samples.is_empty() {
        return f32::NEG_INFINITY;
    }
    // f64 keeps the sum of squares exact well past an hour of audio (each square is below 2^30).
    let sum_of_squares: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    let rms = (sum_of_squares / samples.len() as f64).sqrt();
    let reference_rms = f64::from(zero_dbm0_peak_linear(law)) / std::f64::consts::SQRT_2;
    (20.0 * (rms / reference_rms).log10()) as f32
}

fn zero_dbm0_peak_linear(law: Law) -> f32 {
    let (overload_linear, headroom_db) = match law {
        Law::Alaw => (ALAW_OVERLOAD_LINEAR, ALAW_HEADROOM_DB),
        Law::Ulaw => (ULAW_OVERLOAD_LINEAR, ULAW_HEADROOM_DB),
    };
    overload_linear * db_to_amplitude_ratio(-headroom_db)
}

fn db_to_amplitude_ratio(level_db: f32) -> f32 {
    10f32.powf(level_db / 20.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::g711;

    const SAMPLE_RATE_HZ: f64 = 8000.0;

    /// A sine at `level_dbm0`; 1004 Hz (the usual test tone) avoids landing on the same few
    /// sample phases every period.
    fn sine(law: Law, level_dbm0: f32, samples: usize) -> Vec<i16> {
        let peak = f64::from(dbm0_to_peak(law, level_dbm0));
        let step = 2.0 * std::f64::consts::PI * 1004.0 / SAMPLE_RATE_HZ;
        (0..samples)
            .map(|n| (peak * (step * n as f64).sin()).round() as i16)
            .collect()
    }

    #[test]
    fn zero_dbm0_peaks_match_g711_headroom() {
        assert!((dbm0_to_peak(Law::Alaw, 0.0) - 22827.0).abs() < 2.0);
        assert!((dbm0_to_peak(Law::Ulaw, 0.0) - 22657.0).abs() < 2.0);
        assert!((dbm0_to_peak(Law::Alaw, ALAW_HEADROOM_DB) - 32768.0).abs() < 2.0);
        assert!((dbm0_to_peak(Law::Ulaw, ULAW_HEADROOM_DB) - 32636.0).abs() < 2.0);
    }

    #[test]
    fn generated_sines_measure_their_level() {
        for law in [Law::Alaw, Law::Ulaw] {
            for level_dbm0 in [0.0, -3.0, -10.0, -20.0, -40.0] {
                let measured = rms_dbm0(law, &sine(law, level_dbm0, 8000));
                assert!(
                    (measured - level_dbm0).abs() < 0.01,
                    "{law:?} {level_dbm0}: {measured}"
                );
            }
        }
    }

    #[test]
    fn level_survives_g711_within_a_tenth_of_a_db() {
        for law in [Law::Alaw, Law::Ulaw] {
            let linear = sine(law, -10.0, 8000);
            let mut codes = vec![0u8; linear.len()];
            g711::encode_block(law, &linear, &mut codes);
            let mut decoded = vec![0i16; codes.len()];
            g711::decode_block(law, &codes, &mut decoded);
            let measured = rms_dbm0(law, &decoded);
            assert!((measured + 10.0).abs() < 0.1, "{law:?}: {measured}");
        }
    }

    #[test]
    fn six_db_halves_the_amplitude() {
        let ratio = dbm0_to_peak(Law::Alaw, -6.0206) / dbm0_to_peak(Law::Alaw, 0.0);
        assert!((ratio - 0.5).abs() < 1e-4);
    }

    #[test]
    fn silence_and_empty_measure_negative_infinity() {
        assert_eq!(rms_dbm0(Law::Alaw, &[]), f32::NEG_INFINITY);
        assert_eq!(rms_dbm0(Law::Ulaw, &[0; 160]), f32::NEG_INFINITY);
    }
}
