//! G.711 companding: A-law and µ-law, bit-exact with the ITU-T reference as implemented by spandsp.
//!
//! Linear samples are 16-bit, left-justified: A-law's 13-bit uniform code is scaled by 8 and µ-law's
//! 14-bit code by 4, so both laws use the whole `i16` range. The largest decoded magnitudes are
//! therefore ±32256 (A-law) and ±32124 (µ-law); the overload points that define 0 dBm0 live in
//! [`crate::dsp::level`].
//!
//! Every conversion on the real-time path is one lookup in a table built at compile time
//! (256 entries per law to decode, 65536 per law to encode): no branches on the data, no allocation,
//! and no first-call initialisation cost on a channel thread.

use crate::hw::Law;

/// A-law inverts every even bit of the code word on the line (G.711 §3), which keeps the line
/// from carrying long runs of zeros on quiet signals.
const ALAW_EVEN_BIT_INVERSION: u8 = 0x55;

/// µ-law adds this bias (33 in 14-bit units, 132 once scaled to 16 bits) before finding the
/// segment, so every segment boundary lands on a power of two.
const ULAW_BIAS: i32 = 132;

/// Sign bit of a G.711 code word (after A-law's even-bit inversion or µ-law's complement is undone).
const SIGN_BIT: u8 = 0x80;

/// The highest segment number; magnitudes that would need a ninth segment are clipped.
const MAX_SEGMENT: u32 = 7;

static ALAW_TO_LINEAR: [i16; 256] = build_decode_table(Law::Alaw);
static ULAW_TO_LINEAR: [i16; 256] = build_decode_table(Law::Ulaw);
static LINEAR_TO_ALAW: [u8; 65536] = build_encode_table(Law::Alaw);
static LINEAR_TO_ULAW: [u8; 65536] = build_encode_table(Law::Ulaw);

/// Decodes one A-law code word to a 16-bit linear sample.
#[inline]
pub fn alaw_to_linear(code: u8) -> i16 {
    ALAW_TO_LINEAR[usize::from(code)]
}

/// Decodes one µ-law code word to a 16-bit linear sample.
#[inline]
pub fn ulaw_to_linear(code: u8) -> i16 {
    ULAW_TO_LINEAR[usize::from(code)]
}

/// Encodes one 16-bit linear sample to an A-law code word.
#[inline]
pub fn linear_to_alaw(sample: i16) -> u8 {
    LINEAR_TO_ALAW[encode_index(sample)]
}

/// Encodes one 16-bit linear sample to a µ-law code word.
#[inline]
pub fn linear_to_ulaw(sample: i16) -> u8 {
    LINEAR_TO_ULAW[encode_index(sample)]
}

/// Decodes one code word in `law`.
#[inline]
pub fn decode(law: Law, code: u8) -> i16 {
    decode_table(law)[usize::from(code)]
}

/// Encodes one linear sample in `law`.
#[inline]
pub fn encode(law: Law, sample: i16) -> u8 {
    encode_table(law)[encode_index(sample)]
}

/// Decodes `codes` into `out`; both slices must have the same length.
pub fn decode_block(law: Law, codes: &[u8], out: &mut [i16]) {
    debug_assert_eq!(codes.len(), out.len(), "decode_block: length mismatch");
    // Pick the table once so the loop is a plain gather the compiler can unroll.
    let table = decode_table(law);
    for (sample, &code) in out.iter_mut().zip(codes) {
        *sample = table[usize::from(code)];
    }
}

/// Encodes `samples` into `out`; both slices must have the same length.
pub fn encode_block(law: Law, samples: &[i16], out: &mut [u8]) {
    debug_assert_eq!(samples.len(), out.len(), "encode_block: length mismatch");
    let table = encode_table(law);
    for (code, &sample) in out.iter_mut().zip(samples) {
        *code = table[encode_index(sample)];
    }
}

fn decode_table(law: Law) -> &'static [i16; 256] {
    match law {
        Law::Alaw => &ALAW_TO_LINEAR,
        Law::Ulaw => &ULAW_TO_LINEAR,
    }
}

fn encode_table(law: Law) -> &'static [u8; 65536] {
    match law {
        Law::Alaw => &LINEAR_TO_ALAW,
        Law::Ulaw => &LINEAR_TO_ULAW,
    }
}

/// Maps a sample onto 0..65536 by reinterpreting its bits: the tables are indexed the same way
/// they are built, so the sign convention never matters.
#[inline]
fn encode_index(sample: i16) -> usize {
    usize::from(sample as u16)
}

const fn build_decode_table(law: Law) -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut code = 0usize;
    while code < 256 {
        table[code] = match law {
            Law::Alaw => alaw_decode_formula(code as u8),
            Law::Ulaw => ulaw_decode_formula(code as u8),
        };
        code += 1;
    }
    table
}

const fn build_encode_table(law: Law) -> [u8; 65536] {
    let mut table = [0u8; 65536];
    let mut index = 0usize;
    while index < 65536 {
        // Same reinterpretation as `encode_index`, run backwards.
        let sample = index as u16 as i16;
        table[index] = match law {
            Law::Alaw => alaw_encode_formula(sample),
            Law::Ulaw => ulaw_encode_formula(sample),
        };
        index += 1;
    }
    table
}

/// Segment (0..=8) of a 16-bit magnitude: segment 0 covers 0..256 and each further segment doubles
/// the range, so the segment is the bit length of the magnitude minus 8, floored at 0.
const fn segment_of(magnitude: i32) -> u32 {
    let bit_length = u32::BITS - ((magnitude as u32) | 0xFF).leading_zeros();
    bit_length - 8
}

/// A-law reconstruction: the midpoint of the quantisation interval, in 16-bit units.
const fn alaw_decode_formula(code: u8) -> i16 {
    let word = code ^ ALAW_EVEN_BIT_INVERSION;
    let segment = ((word >> 4) & 0x07) as i32;
    let step = (word & 0x0F) as i32;
    // Segment 0 is linear (no implied leading one); higher segments carry an implied 1 above the
    // four step bits. `2 * step + 1` / `2 * step + 33` name the interval midpoints in half-steps.
    let magnitude = if segment == 0 {
        (2 * step + 1) << 3
    } else {
        (2 * step + 33) << (segment + 2)
    };
    if word & SIGN_BIT != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

/// µ-law reconstruction: biased interval midpoint minus the bias, in 16-bit units.
const fn ulaw_decode_formula(code: u8) -> i16 {
    // µ-law sends every code word complemented (G.711 §4).
    let word = !code;
    let segment = ((word >> 4) & 0x07) as i32;
    let step = (word & 0x0F) as i32;
    let magnitude = (((2 * step + 33) << segment) - 33) * 4;
    if word & SIGN_BIT != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

const fn alaw_encode_formula(sample: i16) -> u8 {
    // Negative samples use the ones' complement magnitude (-x - 1), as the reference does: it makes
    // the two halves mirror images and maps -32768 without overflow.
    let (sign, magnitude) = if sample >= 0 {
        (SIGN_BIT, sample as i32)
    } else {
        (0, -(sample as i32) - 1)
    };
    let segment = segment_of(magnitude);
    let word = if segment > MAX_SEGMENT {
        0x7F
    } else {
        // Segment 0 has the same step size as segment 1 (A-law's linear first two chords).
        let shift = if segment == 0 { 4 } else { segment + 3 };
        ((segment as u8) << 4) | ((magnitude >> shift) & 0x0F) as u8
    };
    (sign | word) ^ ALAW_EVEN_BIT_INVERSION
}

const fn ulaw_encode_formula(sample: i16) -> u8 {
    // Before the line complement, a set sign bit means negative (the mirror of the decoder).
    let (negative, biased) = if sample >= 0 {
        (0, ULAW_BIAS + sample as i32)
    } else {
        (SIGN_BIT, ULAW_BIAS - sample as i32)
    };
    let segment = segment_of(biased);
    let word = if segment > MAX_SEGMENT {
        // Clip to the largest magnitude code.
        0x7F
    } else {
        ((segment as u8) << 4) | ((biased >> (segment + 3)) & 0x0F) as u8
    };
    // µ-law sends every code word complemented (G.711 §4).
    !(negative | word)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::level::rms_dbm0;
    use crate::dsp::spandsp::{reference_g711_decode, reference_g711_encode};

    const LAWS: [Law; 2] = [Law::Alaw, Law::Ulaw];

    /// The G.711 digital milliwatt: one period of a 1 kHz sine at 0 dBm0 (G.711 Table 5/6).
    const ALAW_MILLIWATT: [u8; 8] = [0x34, 0x21, 0x21, 0x34, 0xB4, 0xA1, 0xA1, 0xB4];
    const ULAW_MILLIWATT: [u8; 8] = [0x1E, 0x0B, 0x0B, 0x1E, 0x9E, 0x8B, 0x8B, 0x9E];

    fn all_samples() -> Vec<i16> {
        (i16::MIN..=i16::MAX).collect()
    }

    fn all_codes() -> Vec<u8> {
        (0..=u8::MAX).collect()
    }

    #[test]
    fn decode_matches_spandsp_for_all_256_codes() {
        for law in LAWS {
            let expected = reference_g711_decode(law, &all_codes()).expect("spandsp g711");
            for (code, &want) in all_codes().iter().zip(&expected) {
                assert_eq!(decode(law, *code), want, "{law:?} code {code:#04x}");
            }
        }
    }

    #[test]
    fn encode_matches_spandsp_for_all_65536_samples() {
        for law in LAWS {
            let samples = all_samples();
            let expected = reference_g711_encode(law, &samples).expect("spandsp g711");
            let mismatches: Vec<_> = samples
                .iter()
                .zip(&expected)
                .filter(|(&s, &want)| encode(law, s) != want)
                .take(5)
                .collect();
            assert!(mismatches.is_empty(), "{law:?}: {mismatches:?}");
        }
    }

    #[test]
    fn named_functions_agree_with_law_dispatch() {
        for code in all_codes() {
            assert_eq!(alaw_to_linear(code), decode(Law::Alaw, code));
            assert_eq!(ulaw_to_linear(code), decode(Law::Ulaw, code));
        }
        for sample in all_samples() {
            assert_eq!(linear_to_alaw(sample), encode(Law::Alaw, sample));
            assert_eq!(linear_to_ulaw(sample), encode(Law::Ulaw, sample));
        }
    }

    #[test]
    fn decoded_range_is_the_documented_full_scale() {
        let alaw: Vec<i16> = all_codes().into_iter().map(alaw_to_linear).collect();
        let ulaw: Vec<i16> = all_codes().into_iter().map(ulaw_to_linear).collect();
        assert_eq!(alaw.iter().max(), Some(&32256));
        assert_eq!(alaw.iter().min(), Some(&-32256));
        assert_eq!(ulaw.iter().max(), Some(&32124));
        assert_eq!(ulaw.iter().min(), Some(&-32124));
    }

    #[test]
    fn silence_bytes_decode_to_near_zero() {
        assert_eq!(decode(Law::Alaw, Law::Alaw.silence_byte()), 8);
        assert_eq!(decode(Law::Ulaw, Law::Ulaw.silence_byte()), 0);
        assert_eq!(encode(Law::Alaw, 0), Law::Alaw.silence_byte());
        assert_eq!(encode(Law::Ulaw, 0), Law::Ulaw.silence_byte());
    }

    #[test]
    fn decode_then_encode_is_stable() {
        for law in LAWS {
            for code in all_codes() {
                let linear = decode(law, code);
                assert_eq!(decode(law, encode(law, linear)), linear, "{law:?} {code:#04x}");
            }
        }
    }

    #[test]
    fn encoding_is_monotonic_in_the_decoded_value() {
        for law in LAWS {
            let decoded: Vec<i16> = all_samples()
                .into_iter()
                .map(|s| decode(law, encode(law, s)))
                .collect();
            assert!(decoded.windows(2).all(|w| w[0] <= w[1]), "{law:?}");
        }
    }

    #[test]
    fn blocks_match_scalar_conversion() {
        let samples: Vec<i16> = (0..160).map(|i| (i * 409 - 32000) as i16).collect();
        for law in LAWS {
            let mut codes = [0u8; 160];
            encode_block(law, &samples, &mut codes);
            let mut decoded = [0i16; 160];
            decode_block(law, &codes, &mut decoded);
            for i in 0..160 {
                assert_eq!(codes[i], encode(law, samples[i]));
                assert_eq!(decoded[i], decode(law, codes[i]));
            }
        }
    }

    #[test]
    fn digital_milliwatt_decodes_to_0_dbm0() {
        for (law, sequence) in [(Law::Alaw, ALAW_MILLIWATT), (Law::Ulaw, ULAW_MILLIWATT)] {
            let mut linear = [0i16; 8];
            decode_block(law, &sequence, &mut linear);
            let level_dbm0 = rms_dbm0(law, &linear);
            assert!(level_dbm0.abs() <= 0.1, "{law:?}: {level_dbm0} dBm0");
        }
    }
}
