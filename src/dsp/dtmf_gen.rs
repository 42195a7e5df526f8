//! telvox's own DTMF generator: phase-continuous digital oscillators, a bounded key queue, and
//! block-at-a-time output for the channel thread.
//!
//! Each tone is a direct digital synthesiser: a 32-bit phase accumulator advanced by a fixed step
//! per sample, so frequency is exact to 2^-32 of the sample rate and phase never drifts however long
//! the tone. The sine comes from a small interpolated table shared by all generators.

use std::sync::LazyLock;

use super::level::dbm0_to_peak;
use super::DspError;
use crate::hw::Law;

/// Most keys that may wait in the queue: an IVR never needs to send more than a phone number or
/// two, and a bound keeps `queue` and the ring buffer allocation-free.
pub const MAX_QUEUED_KEYS: usize = 64;

/// Sample rate of every channel (DESIGN.md §3).
const SAMPLE_RATE_HZ: u32 = 8000;
const SAMPLES_PER_MS: u32 = SAMPLE_RATE_HZ / 1000;

/// Longest tone or gap accepted: DTMF longer than ten seconds is a stuck key, not signalling.
const MAX_DURATION_MS: u32 = 10_000;

/// Per-tone level range. Two tones at -3 dBm0 each peak at about 0.99 of the overload point
/// (2 × 10^(-3/20) × 10^(-3.14/20)), so anything louder would clip; below -50 dBm0 no receiver
/// will hear it.
const MIN_LEVEL_DBM0: f32 = -50.0;
const MAX_LEVEL_DBM0: f32 = -3.0;

/// Row (low group) and column (high group) frequencies of the DTMF keypad (ITU-T Q.23).
const ROW_FREQUENCIES_HZ: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
const COLUMN_FREQUENCIES_HZ: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];

/// The keypad, row by row, in the order of the frequency tables above.
const KEYPAD_COLUMNS: usize = 4;
const KEYPAD: [[u8; KEYPAD_COLUMNS]; 4] = [
    *b"123A", //
    *b"456B", //
    *b"789C", //
    *b"*0#D",
];

/// log2 of the sine table length: 1024 points with linear interpolation put the interpolation
/// error near -100 dB, far below G.711's own quantisation noise.
const SINE_TABLE_BITS: u32 = 10;
const SINE_TABLE_LEN: usize = 1 << SINE_TABLE_BITS;
/// Phase bits below the table index, used as the interpolation fraction.
const FRACTION_BITS: u32 = 32 - SINE_TABLE_BITS;

/// One full sine cycle plus a guard point equal to the first, so interpolation never wraps.
static SINE_TABLE: LazyLock<[f32; SINE_TABLE_LEN + 1]> = LazyLock::new(|| {
    let mut table = [0f32; SINE_TABLE_LEN + 1];
    for (index, value) in table.iter_mut().enumerate() {
        let phase = 2.0 * std::f64::consts::PI * index as f64 / SINE_TABLE_LEN as f64;
        *value = phase.sin() as f32;
    }
    table
});

/// How a [`DtmfGenerator`] shapes its tones.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DtmfConfig {
    /// The law the output will be encoded in; it fixes what 0 dBm0 means in linear units.
    pub law: Law,
    /// Duration of each key's tone pair.
    pub on_ms: u32,
    /// Silence after each key, so a repeated key is heard twice.
    pub off_ms: u32,
    /// Level of each of the two tones (the pair together is 3 dB louder).
    pub level_dbm0: f32,
}

impl DtmfConfig {
    /// The defaults: 60 ms on, 60 ms off, -10 dBm0 per tone — comfortably inside Q.24's
    /// acceptance limits (≥ 40 ms, well above -25 dBm0 per tone).
    pub const fn new(law: Law) -> Self {
        Self {
            law,
            on_ms: 60,
            off_ms: 60,
            level_dbm0: -10.0,
        }
    }

    fn validate(&self) -> Result<(), DspError> {
        if self.on_ms == 0 || self.on_ms > MAX_DURATION_MS {
            return Err(DspError::InvalidSetting("on_ms must be 1..=10000"));
        }
        if self.off_ms > MAX_DURATION_MS {
            return Err(DspError::InvalidSetting("off_ms must be 0..=10000"));
        }
        // Written as a range check so NaN is rejected too.
        if !(MIN_LEVEL_DBM0..=MAX_LEVEL_DBM0).contains(&self.level_dbm0) {
            return Err(DspError::InvalidSetting("level_dbm0 must be -50..=-3"));
        }
        Ok(())
    }
}

/// What the generator is emitting right now.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Segment {
    /// Nothing playing; the next `fill` starts the next queued key, if any.
    Idle,
    /// A tone pair with `remaining_samples` left.
    Tone {
        row_step: u32,
        column_step: u32,
        remaining_samples: u32,
    },
    /// The silence after a key.
    Gap { remaining_samples: u32 },
}

/// Generates queued DTMF keys as 16-bit linear samples, one block at a time.
#[derive(Clone)]
pub struct DtmfGenerator {
    on_samples: u32,
    off_samples: u32,
    /// Peak amplitude of each tone, in 16-bit linear units.
    tone_peak: f32,
    /// Phase steps per sample, as fractions of a cycle scaled by 2^32.
    row_steps: [u32; 4],
    column_steps: [u32; 4],
    /// Ring buffer of queued keys, each stored as its keypad index (row * 4 + column), so a
    /// queued key can never fail to map to frequencies.
    queue: [u8; MAX_QUEUED_KEYS],
    queue_head: usize,
    queue_len: usize,
    segment: Segment,
    row_phase: u32,
    column_phase: u32,
    /// The shared sine table, resolved once so `fill` skips the lazy-init check per sample.
    sine_table: &'static [f32; SINE_TABLE_LEN + 1],
}

impl DtmfGenerator {
    /// Builds a generator. The shared sine table is initialised here, if it is not already, so the
    /// channel thread never pays for it in `fill`.
    pub fn new(config: DtmfConfig) -> Result<Self, DspError> {
        config.validate()?;
        Ok(Self {
            on_samples: config.on_ms * SAMPLES_PER_MS,
            off_samples: config.off_ms * SAMPLES_PER_MS,
            tone_peak: dbm0_to_peak(config.law, config.level_dbm0),
            row_steps: ROW_FREQUENCIES_HZ.map(phase_step),
            column_steps: COLUMN_FREQUENCIES_HZ.map(phase_step),
            queue: [0; MAX_QUEUED_KEYS],
            queue_head: 0,
            queue_len: 0,
            segment: Segment::Idle,
            row_phase: 0,
            column_phase: 0,
            sine_table: LazyLock::force(&SINE_TABLE),
        })
    }

    /// Appends `keys` (0-9, *, #, A-D; lower-case a-d accepted) to the queue. All or nothing: an
    /// invalid key or a full queue leaves the queue unchanged.
    pub fn queue(&mut self, keys: &str) -> Result<(), DspError> {
        if let Some(key) = keys.chars().find(|&key| keypad_index(key).is_none()) {
            return Err(DspError::InvalidKey { key });
        }
        // Every valid key is one byte, so the byte length is the key count.
        let requested = keys.len();
        if requested > MAX_QUEUED_KEYS - self.queue_len {
            return Err(DspError::QueueFull {
                queued: self.queue_len,
                requested,
                limit: MAX_QUEUED_KEYS,
            });
        }
        for index in keys.chars().filter_map(keypad_index) {
            let tail = (self.queue_head + self.queue_len) % MAX_QUEUED_KEYS;
            self.queue[tail] = index;
            self.queue_len += 1;
        }
        Ok(())
    }

    /// Keys waiting in the queue (not counting the one playing).
    pub fn queued(&self) -> usize {
        self.queue_len
    }

    /// True when nothing is playing and nothing is queued.
    pub fn is_idle(&self) -> bool {
        self.segment == Segment::Idle && self.queue_len == 0
    }

    /// Stops the key playing now and empties the queue (e.g. the far end hung up).
    pub fn cancel(&mut self) {
        self.queue_len = 0;
        self.segment = Segment::Idle;
    }

    /// Writes the next `out.len()` samples: tones, gaps, and silence once idle. Returns true while
    /// keys remain (playing, in their gap, or queued).
    pub fn fill(&mut self, out: &mut [i16]) -> bool {
        let mut written = 0;
        while written < out.len() {
            let rest = &mut out[written..];
            written += match self.segment {
                Segment::Idle => {
                    if self.start_next_key() {
                        0
                    } else {
                        rest.fill(0);
                        rest.len()
                    }
                }
                Segment::Tone { .. } => self.write_tone(rest),
                Segment::Gap { .. } => self.write_gap(rest),
            };
        }
        !self.is_idle()
    }

    /// Pops the next key and starts its tone pair at phase zero; false if the queue is empty.
    fn start_next_key(&mut self) -> bool {
        if self.queue_len == 0 {
            return false;
        }
        let index = usize::from(self.queue[self.queue_head]);
        self.queue_head = (self.queue_head + 1) % MAX_QUEUED_KEYS;
        self.queue_len -= 1;
        let (row, column) = (index / KEYPAD_COLUMNS, index % KEYPAD_COLUMNS);
        self.row_phase = 0;
        self.column_phase = 0;
        self.segment = Segment::Tone {
            row_step: self.row_steps[row],
            column_step: self.column_steps[column],
            remaining_samples: self.on_samples,
        };
        true
    }

    /// Writes as much of the current tone as fits; returns the samples written.
    fn write_tone(&mut self, out: &mut [i16]) -> usize {
        let Segment::Tone {
            row_step,
            column_step,
            remaining_samples,
        } = self.segment
        else {
            return 0;
        };
        let count = out.len().min(remaining_samples as usize);
        for sample in &mut out[..count] {
            let value = sine(self.sine_table, self.row_phase) + sine(self.sine_table, self.column_phase);
            // The level range keeps the sum inside i16; `as` saturates regardless.
            *sample = (value * self.tone_peak).round() as i16;
            self.row_phase = self.row_phase.wrapping_add(row_step);
            self.column_phase = self.column_phase.wrapping_add(column_step);
        }
        let left = remaining_samples - count as u32;
        self.segment = if left > 0 {
            Segment::Tone {
                row_step,
                column_step,
                remaining_samples: left,
            }
        } else {
            Segment::Gap {
                remaining_samples: self.off_samples,
            }
        };
        count
    }

    /// Writes as much of the current gap as fits; returns the samples written.
    fn write_gap(&mut self, out: &mut [i16]) -> usize {
        let Segment::Gap { remaining_samples } = self.segment else {
            return 0;
        };
        let count = out.len().min(remaining_samples as usize);
        out[..count].fill(0);
        let left = remaining_samples - count as u32;
        self.segment = if left > 0 {
            Segment::Gap {
                remaining_samples: left,
            }
        } else {
            Segment::Idle
        };
        count
    }
}

impl std::fmt::Debug for DtmfGenerator {
    // Hand-written so the 1025-entry sine table stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DtmfGenerator")
            .field("on_samples", &self.on_samples)
            .field("off_samples", &self.off_samples)
            .field("tone_peak", &self.tone_peak)
            .field("queued", &self.queue_len)
            .field("segment", &self.segment)
            .finish_non_exhaustive()
    }
}

/// Phase step per sample for `frequency_hz`, as a fraction of a cycle scaled by 2^32.
fn phase_step(frequency_hz: f64) -> u32 {
    let cycles_per_sample = frequency_hz / f64::from(SAMPLE_RATE_HZ);
    (cycles_per_sample * 4_294_967_296.0).round() as u32
}

/// sin(2π · phase / 2^32), linearly interpolated from the table.
#[inline]
fn sine(table: &[f32; SINE_TABLE_LEN + 1], phase: u32) -> f32 {
    let index = (phase >> FRACTION_BITS) as usize;
    let fraction = (phase & ((1 << FRACTION_BITS) - 1)) as f32 / (1u32 << FRACTION_BITS) as f32;
    let (low, high) = (table[index], table[index + 1]);
    low + (high - low) * fraction
}

/// Keypad index (row * 4 + column) of `key`; lower-case a-d are accepted as A-D.
fn keypad_index(key: char) -> Option<u8> {
    let key = u8::try_from(key.to_ascii_uppercase()).ok()?;
    let index = KEYPAD.iter().flatten().position(|&candidate| candidate == key)?;
    // At most 15: the keypad has 16 keys.
    Some(index as u8)
}

/// Renders `keys` (with `config`'s timing and level) as G.711 blocks for a far end to send: the
/// sim CLI, the benchmark and tests press keys this way. Allocates: not for the real-time path.
pub fn keys_to_blocks(config: DtmfConfig, keys: &str) -> Result<Vec<crate::hw::Block>, DspError> {
    let mut gen = DtmfGenerator::new(config)?;
    gen.queue(keys)?;
    let mut blocks = Vec::new();
    while !gen.is_idle() {
        let mut lin = [0i16; crate::hw::BLOCK_SAMPLES];
        gen.fill(&mut lin);
        let mut block = [0u8; crate::hw::BLOCK_SAMPLES];
        crate::dsp::g711::encode_block(config.law, &lin, &mut block);
        blocks.push(block);
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::g711;
    use crate::dsp::level::rms_dbm0;
    use crate::dsp::spandsp::SpandspDtmfRx;

    const BLOCK_SAMPLES: usize = 160;
    const ALL_KEYS: &str = "0123456789*#ABCD";

    /// Deterministic key stream: xorshift32, so a failing seed reproduces exactly.
    struct XorShift32(u32);

    impl XorShift32 {
        fn next(&mut self) -> u32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 17;
            self.0 ^= self.0 << 5;
            self.0
        }
    }

    fn random_keys(seed: u32, count: usize) -> String {
        let mut rng = XorShift32(seed);
        let keys = ALL_KEYS.as_bytes();
        (0..count)
            .map(|_| char::from(keys[rng.next() as usize % keys.len()]))
            .collect()
    }

    /// Plays `keys` through generator → G.711 encode → decode → spandsp, feeding the queue as it
    /// drains, and returns what spandsp detected.
    fn send_through_line(config: DtmfConfig, keys: &str) -> String {
        let mut generator = DtmfGenerator::new(config).expect("generator");
        let mut rx = SpandspDtmfRx::new().expect("receiver");
        let mut pending = keys;
        let mut detected = String::new();
        let mut linear = [0i16; BLOCK_SAMPLES];
        let mut codes = [0u8; BLOCK_SAMPLES];
        // The last key needs its gap plus spandsp's confirmation blocks; ten idle blocks is ample.
        let mut idle_blocks = 0;
        while idle_blocks < 10 {
            let room = MAX_QUEUED_KEYS - generator.queued();
            let (now, later) = pending.split_at(room.min(pending.len()));
            generator.queue(now).expect("queue");
            pending = later;
            let busy = generator.fill(&mut linear);
            g711::encode_block(config.law, &linear, &mut codes);
            g711::decode_block(config.law, &codes, &mut linear);
            rx.process(&linear);
            detected.extend(std::iter::from_fn(|| rx.take_digit()));
            idle_blocks = if busy || !pending.is_empty() {
                0
            } else {
                idle_blocks + 1
            };
        }
        detected
    }

    #[test]
    fn every_key_is_detected_once_in_order_for_both_laws() {
        for law in [Law::Alaw, Law::Ulaw] {
            let detected = send_through_line(DtmfConfig::new(law), ALL_KEYS);
            assert_eq!(detected, ALL_KEYS, "{law:?}");
        }
    }

    #[test]
    fn long_random_key_string_is_detected_exactly() {
        for (law, seed) in [(Law::Alaw, 0x1234_5678), (Law::Ulaw, 0x9E37_79B9)] {
            let keys = random_keys(seed, 500);
            let detected = send_through_line(DtmfConfig::new(law), &keys);
            assert_eq!(detected, keys, "{law:?} seed {seed:#x}");
        }
    }

    #[test]
    fn tone_pair_level_is_within_a_fifth_of_a_db() {
        for law in [Law::Alaw, Law::Ulaw] {
            for key in ALL_KEYS.chars() {
                let mut generator = DtmfGenerator::new(DtmfConfig::new(law)).expect("generator");
                generator.queue(&key.to_string()).expect("queue");
                // Exactly the 60 ms tone: 480 samples.
                let mut tone = [0i16; 480];
                generator.fill(&mut tone);
                let mut codes = [0u8; 480];
                g711::encode_block(law, &tone, &mut codes);
                let mut line = [0i16; 480];
                g711::decode_block(law, &codes, &mut line);
                // Two tones at -10 dBm0 each add in power: -10 + 10·log10(2) ≈ -6.99 dBm0.
                let expected_dbm0 = -10.0 + 10.0 * 2f32.log10();
                for (what, samples) in [("linear", &tone), ("after G.711", &line)] {
                    let measured = rms_dbm0(law, samples);
                    assert!(
                        (measured - expected_dbm0).abs() <= 0.2,
                        "{law:?} key {key} {what}: {measured} dBm0"
                    );
                }
            }
        }
    }

    #[test]
    fn timing_follows_on_and_off_ms() {
        let config = DtmfConfig {
            on_ms: 40,
            off_ms: 25,
            ..DtmfConfig::new(Law::Alaw)
        };
        let mut generator = DtmfGenerator::new(config).expect("generator");
        generator.queue("55").expect("queue");
        let mut out = vec![0i16; 2 * (320 + 200) + 100];
        assert!(generator.fill(&mut out[..7]));
        assert!(!generator.fill(&mut out[7..]));
        let active = |range: std::ops::Range<usize>| out[range].iter().any(|&s| s != 0);
        let silent = |range: std::ops::Range<usize>| out[range].iter().all(|&s| s == 0);
        assert!(active(0..10) && active(310..320), "first tone");
        assert!(silent(320..520), "first gap");
        assert!(active(520..530) && active(830..840), "second tone");
        assert!(silent(840..out.len()), "idle tail");
        assert!(generator.is_idle());
    }

    #[test]
    fn oscillators_are_phase_accurate() {
        // The table oscillator must track an exact f64 sine sample for sample over a whole tone.
        let config = DtmfConfig::new(Law::Alaw);
        let mut generator = DtmfGenerator::new(config).expect("generator");
        generator.queue("D").expect("queue");
        let mut tone = [0i16; 480];
        generator.fill(&mut tone);
        let peak = f64::from(dbm0_to_peak(Law::Alaw, -10.0));
        let tau = 2.0 * std::f64::consts::PI;
        for (n, &sample) in tone.iter().enumerate() {
            let t = n as f64 / 8000.0;
            let exact = peak * ((tau * 941.0 * t).sin() + (tau * 1633.0 * t).sin());
            assert!((f64::from(sample) - exact).abs() <= 1.0, "sample {n}");
        }
    }

    #[test]
    fn idle_generator_writes_silence() {
        let mut generator = DtmfGenerator::new(DtmfConfig::new(Law::Ulaw)).expect("generator");
        let mut out = [7i16; BLOCK_SAMPLES];
        assert!(!generator.fill(&mut out));
        assert!(out.iter().all(|&s| s == 0));
        assert!(generator.is_idle());
    }

    #[test]
    fn invalid_key_is_named_and_nothing_is_queued() {
        let mut generator = DtmfGenerator::new(DtmfConfig::new(Law::Alaw)).expect("generator");
        let error = generator.queue("12x4").unwrap_err();
        assert_eq!(error, DspError::InvalidKey { key: 'x' });
        assert!(error.to_string().contains("'x'"));
        assert_eq!(generator.queued(), 0);
        generator.queue("abcd").expect("lower-case letters");
        assert_eq!(generator.queued(), 4);
    }

    #[test]
    fn queue_is_bounded() {
        let mut generator = DtmfGenerator::new(DtmfConfig::new(Law::Alaw)).expect("generator");
        generator.queue(&"1".repeat(MAX_QUEUED_KEYS - 1)).expect("fits");
        let error = generator.queue("23").unwrap_err();
        assert!(matches!(error, DspError::QueueFull { limit: 64, .. }));
        generator.queue("2").expect("exactly full");
        generator.cancel();
        assert!(generator.is_idle());
    }

    #[test]
    fn out_of_range_settings_are_refused() {
        let base = DtmfConfig::new(Law::Alaw);
        for config in [
            DtmfConfig { on_ms: 0, ..base },
            DtmfConfig {
                off_ms: 20_000,
                ..base
            },
            DtmfConfig {
                level_dbm0: 0.0,
                ..base
            },
            DtmfConfig {
                level_dbm0: f32::NAN,
                ..base
            },
        ] {
            assert!(DtmfGenerator::new(config).is_err(), "{config:?}");
        }
    }
}
