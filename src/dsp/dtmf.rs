//! telvox's DTMF receiver: a bank of eight phase-coherent correlators, a tapered sliding window with a
//! 1 ms hop, and per-digit validation of frequency, level, twist, purity and harmonics.
//!
//! # How it works
//! 1. **Correlators.** Every 8-sample sub-block (1 ms) is correlated with the eight keypad frequencies
//!    (a table lookup and two multiply-adds per frequency per sample). Each sub-block result is
//!    rotated onto an absolute phase reference, taken from a shared table (every keypad frequency is
//!    a whole number of hertz, so the reference repeats every second), so results of different
//!    sub-blocks add coherently.
//! 2. **Window.** Two cascaded 8-sub-block sliding sums turn the sub-block results into the spectrum
//!    of a 120-sample stepped-triangle window, updated every 1 ms at constant cost. The triangle's
//!    sidelobes keep the other group's tone about 30 dB or more out of a bin, so twist is measured
//!    cleanly; the 1 ms hop measures tone and gap durations to about a millisecond.
//! 3. **Hits.** A window is a *hit* for a key when the strongest row and column bins together hold
//!    most of the window's energy, are loud enough, and are not grossly twisted. The energy test is
//!    what rejects most speech: voiced speech spreads its energy over many harmonics.
//! 4. **Tracks.** Consecutive hits of one key form a track; gaps up to the bridging limit are
//!    absorbed, so a short line interruption does not split a digit. Once a track has lasted long
//!    enough it is validated once, on averages over the whole track:
//!    - frequency, from the phase rotation of each bin between hops (precise to a fraction of a
//!      hertz, and independent of level — the magnitude of a bin cannot tell 1.5% from 3.5%
//!      deviation when the level is unknown);
//!    - level and twist, from the mean bin powers corrected for the window's response at the
//!      measured frequency;
//!    - purity: the two tones' share of the total energy, and no strong bin elsewhere in either
//!      group;
//!    - harmonics: the 2nd and 3rd harmonics, measured on the last 32 ms of samples, well below
//!      their fundamentals — voices and instruments that happen to hit a key's two frequencies
//!      have harmonics, a keypad does not.
//!
//! A validated track is reported as a digit start; its end is reported once the gap after it
//! exceeds the bridging limit. Nothing on the per-sample path allocates, locks or logs (DESIGN.md §5);
//! the only costly arithmetic off that path is the harmonic test, run once per validated track.

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use super::level::dbm0_to_peak;
use super::DspError;
use crate::hw::Law;

/// Sample rate of every channel (DESIGN.md §3).
const SAMPLE_RATE_HZ: f64 = 8000.0;
const SAMPLES_PER_MS: u64 = 8;

/// Row (low group) and column (high group) frequencies of the keypad (ITU-T Q.23).
const ROW_FREQUENCIES_HZ: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
const COLUMN_FREQUENCIES_HZ: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const GROUP_SIZE: usize = 4;

/// The keypad, row by row, in the order of the frequency tables above.
const KEYPAD: [[char; GROUP_SIZE]; GROUP_SIZE] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// Correlator bins: the four rows, then the four columns.
const BINS: usize = 2 * GROUP_SIZE;
/// Correlator lanes: the real parts of all bins, then the imaginary parts, so the per-sample loop is
/// one straight run of multiply-adds the compiler vectorises.
const LANES: usize = 2 * BINS;
/// Sub-blocks per second. Every keypad frequency is a whole number of hertz, so each bin's phase
/// reference e^{−jω·8b} at sub-block b repeats after this many sub-blocks: the reference comes
/// from a table, exact and drift-free however long a call lasts.
const ROTOR_PERIOD_SUB_BLOCKS: usize = 1000;

/// Samples per sub-block, which is also the hop between windows. 1 ms resolves on and off times
/// to about a millisecond; a shorter hop would spend more on per-hop work than on correlation.
const SUB_BLOCK_SAMPLES: usize = 8;
/// Sub-blocks in each of the two cascaded boxcars. Two boxcars of 8 give a 15-step triangle over
/// 120 samples (15 ms): long enough to separate the groups' tones by 30 dB or more, short enough to
/// leave several full windows inside a 40 ms tone.
const BOXCAR_SUB_BLOCKS: usize = 8;
/// Window support in samples: the triangle's 2L − 1 steps, each one sub-block long.
const WINDOW_SAMPLES: usize = (2 * BOXCAR_SUB_BLOCKS - 1) * SUB_BLOCK_SAMPLES;
/// Sum of the window's weights (M · L²): a sine of amplitude A at a bin's frequency gives a bin
/// magnitude of A · WINDOW_GAIN / 2.
const WINDOW_GAIN: f64 = (SUB_BLOCK_SAMPLES * BOXCAR_SUB_BLOCKS * BOXCAR_SUB_BLOCKS) as f64;

/// Smallest share of a window's energy the two strongest bins must hold for a hit. A clean pair
/// scores 1.0, a pair in white noise at 10 dB SNR about 0.9, a window that the tone covers only in
/// part about the covered share of the window's weight; voiced speech rarely gets above 0.4.
const HIT_PURITY_MIN: f64 = 0.6;
/// Smallest share of the energy the pair must hold averaged over a whole track, after correcting
/// the bins for frequency deviation. Stricter than per window: averaging removes the scatter of
/// single windows. A pair in white noise at 10 dB SNR averages 0.88-0.91; voiced speech whose
/// formants lift two harmonics onto a key's frequencies reaches about 0.8.
const TRACK_PURITY_MIN: f64 = 0.83;
/// Largest mean power, relative to the key's bin, of any bin of the same group at least two places
/// away (−12 dB). A keypad's tone leaks less than −30 dB that far, and white noise at 10 dB SNR
/// about −20 dB; voiced speech that puts two harmonics on a key's frequencies puts a third one
/// near another bin of the group (3 × 238 Hz ≈ 697 Hz when 4× and 5× sit on 941 and 1209 Hz).
const FAR_BIN_RATIO_MAX: f64 = 0.063;
/// How far below the configured level threshold a single window may be and still count as a hit:
/// a window the tone covers only in part measures up to 4.4 dB low (at the purity limit above).
const WINDOW_LEVEL_MARGIN_DB: f64 = 6.0;
/// Extra twist allowed in a single window; the track's mean decides against the configured limit.
const WINDOW_TWIST_MARGIN_DB: f64 = 3.0;
/// Measured tone durations may fall short of the true duration by a few milliseconds (noise
/// lowers purity at the tone's edges); a track is validated once it has lasted `min_on_ms` less
/// this margin. The default 40 ms therefore validates at 32 ms: Q.24's 23 ms non-operate
/// limit stays 9 ms below it.
const DURATION_MARGIN_MS: u64 = 8;

/// Samples kept for the harmonic test: 32 ms, which a tone long enough to validate always fills.
const HISTORY_SAMPLES: usize = 256;
const _: () = assert!(
    HISTORY_SAMPLES % SUB_BLOCK_SAMPLES == 0,
    "history holds whole sub-blocks"
);
/// Largest accepted power of a harmonic relative to its fundamental (−15 dB). Q.23 asks senders
/// for unwanted components 20 dB down; white noise at 10 dB SNR reads about −26 dB in one bin and
/// exceeds −15 dB once in 10⁵ tests.
const HARMONIC_RATIO_MAX: f64 = 0.0316;
/// Harmonics closer than this to either tone are not tested: the Hann window's main lobe over
/// HISTORY_SAMPLES is ±62.5 Hz, and the tone would be taken for its own harmonic.
const HARMONIC_CLEARANCE_HZ: f64 = 100.0;
/// Harmonics above this are not tested: the channel's band ends at 3.4 kHz.
const HARMONIC_BAND_LIMIT_HZ: f64 = 3400.0;

/// Most events waiting to be taken. The channel thread takes them every 20 ms block, so the
/// queue never holds more than two; the bound only matters if nobody polls.
const MAX_QUEUED_EVENTS: usize = 32;

/// Settings limits checked by [`DtmfRx::new`].
const MIN_ON_MS_RANGE: std::ops::RangeInclusive<u32> = 20..=1000;
const MIN_OFF_MS_RANGE: std::ops::RangeInclusive<u32> = 10..=1000;
const TWIST_DB_RANGE: std::ops::RangeInclusive<f32> = 0.0..=20.0;
const LEVEL_DBM0_RANGE: std::ops::RangeInclusive<f32> = -60.0..=0.0;
/// Above 4.5% the tolerance bands of adjacent rows (697 and 770 Hz are 10% apart) would meet.
const TOLERANCE_PCT_RANGE: std::ops::RangeInclusive<f32> = 0.5..=4.5;

/// Receiver settings, per span (`[span.dtmf]` in the hardware map). Every field has a default.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DtmfRxConfig {
    /// The span's law: it fixes what 0 dBm0 means in linear units.
    pub law: Law,
    /// Tones at least this long are detected (Q.24: 40 ms); tones of 23 ms or less never are.
    pub min_on_ms: u32,
    /// Pauses at least this long separate two digits (Q.24: 40 ms).
    pub min_off_ms: u32,
    /// Interruptions up to this long are bridged: the digit continues (Q.24: 10 ms). Must be
    /// shorter than `min_off_ms`; gaps between the two are split at their midpoint.
    pub max_dropout_ms: u32,
    /// Largest accepted excess of the high group over the low group ("reverse twist"), in dB.
    pub reverse_twist_db: f32,
    /// Largest accepted excess of the low group over the high group ("normal twist"), in dB.
    pub normal_twist_db: f32,
    /// Quietest accepted level of each tone, in dBm0.
    pub min_level_dbm0: f32,
    /// Largest accepted frequency deviation of each tone, in percent of its nominal frequency.
    pub freq_tolerance_pct: f32,
}

impl Default for DtmfRxConfig {
    /// Q.24 as AT&T applies it: ±1.5% accepted and ±3.5% rejected (limit midway), 4 dB reverse and
    /// 8 dB normal twist accepted while 6 and 10 dB are rejected (limits midway), tones down to
    /// −30 dBm0 accepted with 4 dB to spare.
    fn default() -> Self {
        Self {
            law: Law::Alaw,
            min_on_ms: 40,
            min_off_ms: 40,
            max_dropout_ms: 10,
            reverse_twist_db: 5.0,
            normal_twist_db: 9.0,
            min_level_dbm0: -34.0,
            freq_tolerance_pct: 2.5,
        }
    }
}

impl DtmfRxConfig {
    /// The defaults for a span in `law`.
    pub fn for_law(law: Law) -> Self {
        Self {
            law,
            ..Self::default()
        }
    }

    fn validate(&self) -> Result<(), DspError> {
        if !MIN_ON_MS_RANGE.contains(&self.min_on_ms) {
            return Err(DspError::InvalidSetting("dtmf min_on_ms must be 20..=1000"));
        }
        if !MIN_OFF_MS_RANGE.contains(&self.min_off_ms) {
            return Err(DspError::InvalidSetting("dtmf min_off_ms must be 10..=1000"));
        }
        if self.max_dropout_ms >= self.min_off_ms {
            return Err(DspError::InvalidSetting(
                "dtmf max_dropout_ms must be shorter than min_off_ms",
            ));
        }
        // Range checks are written so that NaN fails them too.
        if !TWIST_DB_RANGE.contains(&self.reverse_twist_db) || !TWIST_DB_RANGE.contains(&self.normal_twist_db)
        {
            return Err(DspError::InvalidSetting("dtmf twist limits must be 0..=20 dB"));
        }
        if !LEVEL_DBM0_RANGE.contains(&self.min_level_dbm0) {
            return Err(DspError::InvalidSetting("dtmf min_level_dbm0 must be -60..=0"));
        }
        if !TOLERANCE_PCT_RANGE.contains(&self.freq_tolerance_pct) {
            return Err(DspError::InvalidSetting(
                "dtmf freq_tolerance_pct must be 0.5..=4.5",
            ));
        }
        Ok(())
    }
}

/// A digit seen on the line. Each digit yields two events: its start, once validated (duration
/// `None`), and its end (duration `Some`), so an IVR can tell a held key from a tap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DtmfEvent {
    /// '0'-'9', '*', '#' or 'A'-'D'.
    pub digit: char,
    /// Estimated first sample of the tone, counted from the receiver's creation or last reset.
    pub start_sample: u64,
    /// Estimated tone duration, on the end event only.
    pub duration_samples: Option<u64>,
}

/// Thresholds derived once from the configuration, in the units the hop loop compares.
#[derive(Clone, Copy, Debug)]
struct Limits {
    /// Bin power of a tone at `min_level_dbm0`.
    track_power_min: f64,
    /// Bin power a single window needs (the level limit less the window margin).
    window_power_min: f64,
    /// Window energy below which no hit is possible: two tones at the window level minimum.
    window_energy_min: f64,
    /// Power ratios (high over low, low over high) accepted per track and per window.
    reverse_twist_ratio: f64,
    normal_twist_ratio: f64,
    window_reverse_twist_ratio: f64,
    window_normal_twist_ratio: f64,
    /// Largest accepted deviation as a fraction of the nominal frequency.
    tolerance_fraction: f64,
    /// Track span (first to last hit) at which the track is validated.
    validate_span_samples: u64,
    /// Gap (last hit to the current hop) beyond which a track ends.
    end_gap_samples: u64,
    /// How far a track's first hit lags the tone's start, and its last hit the tone's end.
    start_lead_samples: u64,
    end_lag_samples: u64,
}

impl Limits {
    fn new(config: &DtmfRxConfig) -> Self {
        let power_of = |level_dbm0: f64| {
            let peak = f64::from(dbm0_to_peak(config.law, level_dbm0 as f32));
            (peak * WINDOW_GAIN / 2.0).powi(2)
        };
        let min_level_dbm0 = f64::from(config.min_level_dbm0);
        let window_power_min = power_of(min_level_dbm0 - WINDOW_LEVEL_MARGIN_DB);
        // Energy of one tone is A²/2 · gain; a bin holds (A · gain / 2)², so energy = 2 · power / gain.
        let window_energy_min = 2.0 * 2.0 * window_power_min / WINDOW_GAIN;
        let (start_lead_samples, end_lag_samples) = edge_offsets_samples();
        let measured_extra = start_lead_samples.abs_diff(end_lag_samples);
        let min_on_samples = u64::from(config.min_on_ms) * SAMPLES_PER_MS;
        let validate_samples = min_on_samples.saturating_sub(DURATION_MARGIN_MS * SAMPLES_PER_MS);
        // Bridging splits the grey zone between the longest dropout and the shortest pause in half.
        let bridge_samples = u64::from(config.max_dropout_ms + config.min_off_ms) * SAMPLES_PER_MS / 2;
        Self {
            track_power_min: power_of(min_level_dbm0),
            window_power_min,
            window_energy_min,
            reverse_twist_ratio: db_to_power_ratio(f64::from(config.reverse_twist_db)),
            normal_twist_ratio: db_to_power_ratio(f64::from(config.normal_twist_db)),
            window_reverse_twist_ratio: db_to_power_ratio(
                f64::from(config.reverse_twist_db) + WINDOW_TWIST_MARGIN_DB,
            ),
            window_normal_twist_ratio: db_to_power_ratio(
                f64::from(config.normal_twist_db) + WINDOW_TWIST_MARGIN_DB,
            ),
            tolerance_fraction: f64::from(config.freq_tolerance_pct) / 100.0,
            // Span between hit window ends = duration − (lead − lag); see `edge_offsets_samples`.
            validate_span_samples: validate_samples.saturating_sub(measured_extra),
            end_gap_samples: bridge_samples + measured_extra,
            start_lead_samples,
            end_lag_samples,
        }
    }
}

/// Where the first and last hits of a clean tone fall relative to its edges. A window the tone
/// covers only at one end has a purity equal to the covered share of the window's weight; the first
/// hit is the first window end whose covered (newest) part holds HIT_PURITY_MIN of the weight, and
/// by the window's symmetry the last hit ends the same distance past the tone's end as the first
/// hit's window start lies before the tone's start.
fn edge_offsets_samples() -> (u64, u64) {
    let mut covered_weight = 0.0;
    let mut lead = WINDOW_SAMPLES;
    for age in 0..WINDOW_SAMPLES {
        covered_weight += window_weight(age);
        if covered_weight / WINDOW_GAIN >= HIT_PURITY_MIN {
            lead = age + 1;
            break;
        }
    }
    (lead as u64, (WINDOW_SAMPLES - lead) as u64)
}

/// Weight of the sample `age` samples before the window's end (0 = newest).
fn window_weight(age: usize) -> f64 {
    let step = age / SUB_BLOCK_SAMPLES;
    let rising = step + 1;
    let falling = 2 * BOXCAR_SUB_BLOCKS - 1 - step;
    rising.min(falling) as f64
}

fn db_to_power_ratio(level_db: f64) -> f64 {
    10f64.powf(level_db / 10.0)
}

/// Two cascaded boxcars over the last BOXCAR_SUB_BLOCKS sub-blocks of N lanes, kept as running
/// sums: the second sum is the stepped-triangle window. Both rings advance together, so one loop
/// updates both. The spectrum (16 lanes, four SIMD registers) and the energy (one lane) each get
/// their own, so no lane is wasted on padding.
#[derive(Clone, Copy, Debug)]
struct Boxcars<const N: usize> {
    first_ring: [[f32; N]; BOXCAR_SUB_BLOCKS],
    second_ring: [[f32; N]; BOXCAR_SUB_BLOCKS],
    first_sum: [f32; N],
    second_sum: [f32; N],
    next: usize,
}

impl<const N: usize> Boxcars<N> {
    const EMPTY: Self = Self {
        first_ring: [[0.0; N]; BOXCAR_SUB_BLOCKS],
        second_ring: [[0.0; N]; BOXCAR_SUB_BLOCKS],
        first_sum: [0.0; N],
        second_sum: [0.0; N],
        next: 0,
    };

    #[inline]
    fn push(&mut self, value: &[f32; N]) {
        let first_old = &mut self.first_ring[self.next];
        for ((sum, old), new) in self.first_sum.iter_mut().zip(first_old.iter()).zip(value) {
            *sum += new - old;
        }
        *first_old = *value;
        let second_old = &mut self.second_ring[self.next];
        for ((sum, old), new) in self
            .second_sum
            .iter_mut()
            .zip(second_old.iter())
            .zip(&self.first_sum)
        {
            *sum += new - old;
        }
        *second_old = self.first_sum;
        self.next = (self.next + 1) % BOXCAR_SUB_BLOCKS;
    }

    /// Recomputes both running sums exactly from the rings, so the rounding of adding and
    /// subtracting never accumulates (f32 then keeps the error near 10⁻⁶ of recent peaks).
    fn refresh(&mut self) {
        self.first_sum = sum_of(&self.first_ring);
        self.second_sum = sum_of(&self.second_ring);
    }
}

fn sum_of<const N: usize>(ring: &[[f32; N]; BOXCAR_SUB_BLOCKS]) -> [f32; N] {
    let mut total = [0.0; N];
    for entry in ring {
        for (sum, value) in total.iter_mut().zip(entry) {
            *sum += value;
        }
    }
    total
}

/// e^{−jω·8b} for every bin (real parts, then imaginary parts) and every sub-block b of a period,
/// shared by all receivers (64 KiB).
static ROTORS: LazyLock<Vec<[f32; LANES]>> = LazyLock::new(|| {
    (0..ROTOR_PERIOD_SUB_BLOCKS)
        .map(|sub_block| {
            std::array::from_fn(|lane| {
                // Whole cycles are dropped in integer arithmetic, so the angle stays exact.
                let cycles = (bin_frequency_hz(lane % BINS) as usize * sub_block) % ROTOR_PERIOD_SUB_BLOCKS;
                let angle = std::f64::consts::TAU * cycles as f64 / ROTOR_PERIOD_SUB_BLOCKS as f64;
                (if lane < BINS { angle.cos() } else { -angle.sin() }) as f32
            })
        })
        .collect()
});

/// The Hann window over HISTORY_SAMPLES for the harmonic test, shared by all receivers.
static HANN: LazyLock<[f64; HISTORY_SAMPLES]> = LazyLock::new(|| {
    std::array::from_fn(|n| 0.5 - 0.5 * (std::f64::consts::TAU * n as f64 / HISTORY_SAMPLES as f64).cos())
});

/// One window's spectrum at the eight bins (real parts, then imaginary parts) and its
/// window-weighted energy.
#[derive(Clone, Copy, Debug)]
struct Spectrum {
    lanes: [f32; LANES],
    energy: f32,
}

impl Spectrum {
    const SILENT: Self = Self {
        lanes: [0.0; LANES],
        energy: 0.0,
    };

    fn re(&self, bin: usize) -> f64 {
        f64::from(self.lanes[bin])
    }

    fn im(&self, bin: usize) -> f64 {
        f64::from(self.lanes[BINS + bin])
    }

    fn energy(&self) -> f64 {
        // Rounding in the running sums can leave a hair below zero after loud audio.
        f64::from(self.energy).max(0.0)
    }

    /// Power of every bin, computed together so the compiler vectorises it.
    fn powers(&self) -> [f32; BINS] {
        let (re, im) = self.lanes.split_at(BINS);
        std::array::from_fn(|bin| re[bin] * re[bin] + im[bin] * im[bin])
    }
}

/// A window that passed the hit tests: which key, and its two bin powers.
#[derive(Clone, Copy, Debug)]
struct Hit {
    row: usize,
    column: usize,
    row_power: f64,
    column_power: f64,
    /// Strongest far bin per group (see `far_power`).
    row_far_power: f64,
    column_far_power: f64,
}

impl Hit {
    fn key(&self) -> usize {
        self.row * GROUP_SIZE + self.column
    }
}

/// Where a track stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// Not yet long enough to judge.
    Pending,
    /// Validated and reported; its end will be reported too.
    Digit { start_sample: u64 },
    /// Judged and refused; it is followed to its end so its tail cannot start a new track.
    Refused,
}

/// Sums over a track's hit windows: what validation averages.
#[derive(Clone, Copy, Debug, Default)]
struct Sums {
    hits: u32,
    row_power: f64,
    column_power: f64,
    energy: f64,
    /// Σ X_t · conj(X_{t−1}) of the row and column bins: its angle is the mean phase advance per
    /// hop, that is the tone's offset from the bin's frequency.
    row_rotation: (f64, f64),
    column_rotation: (f64, f64),
    /// Σ of the strongest bin two or more places away from the key's bin, per group.
    row_far_power: f64,
    column_far_power: f64,
}

/// What validation measures from a track's sums: offsets from the bins in radians per sample,
/// mean powers corrected for the window's roll-off at those offsets, and purity.
#[derive(Clone, Copy, Debug)]
struct Measurement {
    row_offset: f64,
    column_offset: f64,
    row_power: f64,
    column_power: f64,
    purity: f64,
    /// Mean far-bin power relative to the key's bin, per group.
    row_far_ratio: f64,
    column_far_ratio: f64,
}

impl Measurement {
    fn of(sums: &Sums) -> Self {
        let row_offset = offset_rad_per_sample(sums.row_rotation);
        let column_offset = offset_rad_per_sample(sums.column_rotation);
        let hits = f64::from(sums.hits.max(1));
        // Undo the window's roll-off at the measured frequency, so level, twist and purity do not
        // depend on the deviation.
        let row_power = sums.row_power / window_power_response(row_offset) / hits;
        let column_power = sums.column_power / window_power_response(column_offset) / hits;
        let purity = 2.0 * (row_power + column_power) * hits / (WINDOW_GAIN * sums.energy);
        Self {
            row_offset,
            column_offset,
            row_power,
            column_power,
            purity,
            row_far_ratio: sums.row_far_power / sums.row_power,
            column_far_ratio: sums.column_far_power / sums.column_power,
        }
    }
}

/// Consecutive hits of one key, with the sums validation needs.
#[derive(Clone, Copy, Debug)]
struct Track {
    row: usize,
    column: usize,
    first_hit_end: u64,
    last_hit_end: u64,
    sums: Sums,
    verdict: Verdict,
}

impl Track {
    /// Adds a hit window to the sums; `previous` is the window one hop earlier.
    fn add(&mut self, hit: &Hit, spectrum: &Spectrum, previous: &Spectrum) {
        let sums = &mut self.sums;
        // Saturates after 49 days of one held key rather than wrapping.
        sums.hits = sums.hits.saturating_add(1);
        sums.row_power += hit.row_power;
        sums.column_power += hit.column_power;
        sums.energy += spectrum.energy();
        sums.row_far_power += hit.row_far_power;
        sums.column_far_power += hit.column_far_power;
        add_rotation(&mut sums.row_rotation, spectrum, previous, self.row);
        add_rotation(
            &mut sums.column_rotation,
            spectrum,
            previous,
            GROUP_SIZE + self.column,
        );
    }

    fn key(&self) -> usize {
        self.row * GROUP_SIZE + self.column
    }

    fn digit(&self) -> char {
        KEYPAD[self.row][self.column]
    }
}

/// A bounded FIFO of events; full means new events are dropped and counted.
#[derive(Clone, Copy, Debug)]
struct EventQueue {
    events: [DtmfEvent; MAX_QUEUED_EVENTS],
    head: usize,
    len: usize,
    dropped: u64,
}

impl EventQueue {
    const EMPTY: Self = Self {
        events: [DtmfEvent {
            digit: '0',
            start_sample: 0,
            duration_samples: None,
        }; MAX_QUEUED_EVENTS],
        head: 0,
        len: 0,
        dropped: 0,
    };

    fn push(&mut self, event: DtmfEvent) {
        if self.len == MAX_QUEUED_EVENTS {
            self.dropped += 1;
            return;
        }
        self.events[(self.head + self.len) % MAX_QUEUED_EVENTS] = event;
        self.len += 1;
    }

    fn pop(&mut self) -> Option<DtmfEvent> {
        if self.len == 0 {
            return None;
        }
        let event = self.events[self.head];
        self.head = (self.head + 1) % MAX_QUEUED_EVENTS;
        self.len -= 1;
        Some(event)
    }
}

/// telvox's DTMF receiver. See the module documentation for the method.
#[derive(Clone)]
pub struct DtmfRx {
    config: DtmfRxConfig,
    limits: Limits,
    /// cos and −sin of each bin's frequency at each position in a sub-block.
    correlator: [[f32; LANES]; SUB_BLOCK_SAMPLES],
    /// The shared phase-reference table, resolved once so the hop skips the lazy-init check.
    rotors: &'static [[f32; LANES]],
    /// Index in `rotors` of the current sub-block.
    rotor_index: usize,
    /// The shared Hann window, resolved once like `rotors`.
    hann: &'static [f64; HISTORY_SAMPLES],
    accumulator: [f32; LANES],
    energy: f32,
    /// Samples of the current sub-block already accumulated.
    position: usize,
    spectrum_boxcars: Boxcars<LANES>,
    energy_boxcars: Boxcars<1>,
    previous: Spectrum,
    /// The last HISTORY_SAMPLES samples, for the harmonic test; sample n sits at n % HISTORY_SAMPLES.
    history: [i16; HISTORY_SAMPLES],
    samples_seen: u64,
    track: Option<Track>,
    queue: EventQueue,
}

impl DtmfRx {
    /// Builds a receiver; the only place it computes tables. Fails on settings out of range.
    pub fn new(config: DtmfRxConfig) -> Result<Self, DspError> {
        config.validate()?;
        let frequencies_hz: [f64; BINS] = std::array::from_fn(bin_frequency_hz);
        let omega = frequencies_hz.map(|hz| 2.0 * std::f64::consts::PI * hz / SAMPLE_RATE_HZ);
        let correlator = std::array::from_fn(|position| {
            std::array::from_fn(|lane| {
                let angle = omega[lane % BINS] * position as f64;
                // Real lanes hold cos, imaginary lanes −sin: together e^{−jωn}.
                (if lane < BINS { angle.cos() } else { -angle.sin() }) as f32
            })
        });
        Ok(Self {
            config,
            limits: Limits::new(&config),
            correlator,
            rotors: LazyLock::force(&ROTORS).as_slice(),
            rotor_index: 0,
            hann: LazyLock::force(&HANN),
            accumulator: [0.0; LANES],
            energy: 0.0,
            position: 0,
            spectrum_boxcars: Boxcars::EMPTY,
            energy_boxcars: Boxcars::EMPTY,
            previous: Spectrum::SILENT,
            history: [0; HISTORY_SAMPLES],
            samples_seen: 0,
            track: None,
            queue: EventQueue::EMPTY,
        })
    }

    /// The settings this receiver was built with.
    pub fn config(&self) -> &DtmfRxConfig {
        &self.config
    }

    /// Feeds linear samples (8 kHz), any number at a time; state carries across calls.
    pub fn process(&mut self, samples: &[i16]) {
        let mut rest = samples;
        // Complete a sub-block left over from the previous call first.
        if self.position > 0 {
            let take = (SUB_BLOCK_SAMPLES - self.position).min(rest.len());
            let (now, later) = rest.split_at(take);
            let table = &self.correlator[self.position..self.position + take];
            correlate(&mut self.accumulator, &mut self.energy, table, now);
            self.remember(now);
            self.position += take;
            rest = later;
            if self.position < SUB_BLOCK_SAMPLES {
                return;
            }
            self.finish_sub_block(self.accumulator, self.energy);
            self.accumulator = [0.0; LANES];
            self.energy = 0.0;
            self.position = 0;
        }
        let mut blocks = rest.chunks_exact(SUB_BLOCK_SAMPLES);
        for block in &mut blocks {
            let (spectrum, energy) = correlate_sub_block(&self.correlator, block);
            self.remember_sub_block(block);
            self.finish_sub_block(spectrum, energy);
        }
        let tail = blocks.remainder();
        correlate(&mut self.accumulator, &mut self.energy, &self.correlator, tail);
        self.remember(tail);
        self.position = tail.len();
    }

    /// Like [`remember`](Self::remember) for a whole sub-block starting on a sub-block boundary:
    /// it never wraps (the history holds whole sub-blocks), so the copy has a constant length.
    fn remember_sub_block(&mut self, block: &[i16]) {
        let start = self.samples_seen as usize % HISTORY_SAMPLES;
        debug_assert_eq!(
            start % SUB_BLOCK_SAMPLES,
            0,
            "sub-blocks start on sub-block boundaries"
        );
        self.history[start..start + SUB_BLOCK_SAMPLES].copy_from_slice(block);
        self.samples_seen += SUB_BLOCK_SAMPLES as u64;
    }

    /// Appends `samples` to the history and counts them.
    fn remember(&mut self, samples: &[i16]) {
        let start = self.samples_seen as usize % HISTORY_SAMPLES;
        // A sub-block or less: at most one wrap.
        let (first, second) = samples.split_at(samples.len().min(HISTORY_SAMPLES - start));
        self.history[start..start + first.len()].copy_from_slice(first);
        self.history[..second.len()].copy_from_slice(second);
        self.samples_seen += samples.len() as u64;
    }

    /// The oldest event not yet taken: digit starts and ends, in order.
    pub fn take_event(&mut self) -> Option<DtmfEvent> {
        self.queue.pop()
    }

    /// The next digit start not yet taken, discarding end events: for callers that only want the
    /// keys. Use either this or [`take_event`](Self::take_event) on one receiver, not both.
    pub fn take_digit(&mut self) -> Option<char> {
        std::iter::from_fn(|| self.queue.pop())
            .find(|event| event.duration_samples.is_none())
            .map(|event| event.digit)
    }

    /// Events dropped because nobody took them (the queue holds MAX_QUEUED_EVENTS).
    pub fn dropped_events(&self) -> u64 {
        self.queue.dropped
    }

    /// Back to the state of a new receiver: no partial digit, empty queue, sample count zero.
    pub fn reset(&mut self) {
        self.rotor_index = 0;
        self.accumulator = [0.0; LANES];
        self.energy = 0.0;
        self.position = 0;
        self.spectrum_boxcars = Boxcars::EMPTY;
        self.energy_boxcars = Boxcars::EMPTY;
        self.previous = Spectrum::SILENT;
        self.history = [0; HISTORY_SAMPLES];
        self.samples_seen = 0;
        self.track = None;
        self.queue = EventQueue::EMPTY;
    }

    /// Completes a sub-block: rotate it onto the absolute phase reference, push it through the two
    /// boxcars, and judge the resulting window.
    fn finish_sub_block(&mut self, correlation: [f32; LANES], energy: f32) {
        let (rotor_re, rotor_im) = self.rotors[self.rotor_index].split_at(BINS);
        let (re, im) = correlation.split_at(BINS);
        let mut lanes = [0.0f32; LANES];
        for bin in 0..BINS {
            lanes[bin] = re[bin] * rotor_re[bin] - im[bin] * rotor_im[bin];
            lanes[BINS + bin] = re[bin] * rotor_im[bin] + im[bin] * rotor_re[bin];
        }
        self.spectrum_boxcars.push(&lanes);
        self.energy_boxcars.push(&[energy]);
        self.rotor_index += 1;
        if self.rotor_index == ROTOR_PERIOD_SUB_BLOCKS {
            self.rotor_index = 0;
            // Once a second is plenty to keep rounding drift negligible.
            self.spectrum_boxcars.refresh();
            self.energy_boxcars.refresh();
        }
        let spectrum = Spectrum {
            lanes: self.spectrum_boxcars.second_sum,
            energy: self.energy_boxcars.second_sum[0],
        };
        self.on_window(&spectrum);
        self.previous = spectrum;
    }

    /// Runs the track state machine for the window ending now. The track is updated in place, never
    /// copied: it is the largest part of the state, and this runs every millisecond.
    fn on_window(&mut self, spectrum: &Spectrum) {
        let now = self.samples_seen;
        let hit = self.classify(spectrum);
        let tracked = self.track.as_ref().map(|track| (track.key(), track.last_hit_end));
        match (tracked, hit) {
            (None, None) => {}
            (None, Some(hit)) => self.start_track(now, &hit, spectrum),
            (Some((key, _)), Some(hit)) if hit.key() == key => self.extend_track(now, &hit, spectrum),
            (Some(_), Some(hit)) => {
                // Another key without a pause: the old digit ended at its last hit.
                self.end_track();
                self.start_track(now, &hit, spectrum);
            }
            (Some((_, last_hit_end)), None) => {
                if now - last_hit_end > self.limits.end_gap_samples {
                    self.end_track();
                }
            }
        }
    }

    /// Decides whether a window holds a plausible key: strongest bin per group, both loud enough,
    /// not grossly twisted, and together most of the window's energy.
    fn classify(&self, spectrum: &Spectrum) -> Option<Hit> {
        let limits = &self.limits;
        let energy = spectrum.energy();
        if energy < limits.window_energy_min {
            return None;
        }
        let powers = spectrum.powers();
        let (row, row_power) = strongest(&powers[..GROUP_SIZE]);
        let (column, column_power) = strongest(&powers[GROUP_SIZE..]);
        // Purity (see HIT_PURITY_MIN) compared without a division, which would cost more than the
        // rest of the test.
        let plausible = 2.0 * (row_power + column_power) >= HIT_PURITY_MIN * WINDOW_GAIN * energy
            && row_power >= limits.window_power_min
            && column_power >= limits.window_power_min
            && column_power <= row_power * limits.window_reverse_twist_ratio
            && row_power <= column_power * limits.window_normal_twist_ratio;
        plausible.then(|| Hit {
            row,
            column,
            row_power,
            column_power,
            row_far_power: far_power(&powers[..GROUP_SIZE], row),
            column_far_power: far_power(&powers[GROUP_SIZE..], column),
        })
    }

    fn start_track(&mut self, now: u64, hit: &Hit, spectrum: &Spectrum) {
        let mut track = Track {
            row: hit.row,
            column: hit.column,
            first_hit_end: now,
            last_hit_end: now,
            sums: Sums::default(),
            verdict: Verdict::Pending,
        };
        track.add(hit, spectrum, &self.previous);
        self.track = Some(track);
    }

    fn extend_track(&mut self, now: u64, hit: &Hit, spectrum: &Spectrum) {
        let Some(track) = self.track.as_mut() else {
            return;
        };
        track.last_hit_end = now;
        track.add(hit, spectrum, &self.previous);
        let span_samples = track.last_hit_end - track.first_hit_end;
        if track.verdict != Verdict::Pending || span_samples < self.limits.validate_span_samples {
            return;
        }
        // Judged once per track, so one copy here costs nothing and keeps the borrows simple.
        let judged = *track;
        let verdict = self.judge(&judged);
        if let Some(track) = self.track.as_mut() {
            track.verdict = verdict;
        }
        if let Verdict::Digit { start_sample } = verdict {
            self.queue.push(DtmfEvent {
                digit: judged.digit(),
                start_sample,
                duration_samples: None,
            });
        }
    }

    /// Validates a track that has lasted long enough, on its averages.
    fn judge(&self, track: &Track) -> Verdict {
        let limits = &self.limits;
        let measured = Measurement::of(&track.sums);
        let to_hz = SAMPLE_RATE_HZ / std::f64::consts::TAU;
        let row_nominal_hz = ROW_FREQUENCIES_HZ[track.row];
        let column_nominal_hz = COLUMN_FREQUENCIES_HZ[track.column];
        let row_hz = row_nominal_hz + measured.row_offset * to_hz;
        let column_hz = column_nominal_hz + measured.column_offset * to_hz;
        let in_tolerance =
            |hz: f64, nominal_hz: f64| (hz - nominal_hz).abs() <= limits.tolerance_fraction * nominal_hz;
        let frequency_ok = in_tolerance(row_hz, row_nominal_hz) && in_tolerance(column_hz, column_nominal_hz);
        let loud_enough = measured.row_power.min(measured.column_power) >= limits.track_power_min;
        let twist_ok = measured.column_power <= measured.row_power * limits.reverse_twist_ratio
            && measured.row_power <= measured.column_power * limits.normal_twist_ratio;
        let pure = measured.purity >= TRACK_PURITY_MIN
            && measured.row_far_ratio <= FAR_BIN_RATIO_MAX
            && measured.column_far_ratio <= FAR_BIN_RATIO_MAX;
        // Last, because it is the one test that costs: four short DFTs.
        let valid =
            frequency_ok && loud_enough && twist_ok && pure && self.free_of_harmonics(row_hz, column_hz);
        if valid {
            Verdict::Digit {
                start_sample: track.first_hit_end.saturating_sub(limits.start_lead_samples),
            }
        } else {
            Verdict::Refused
        }
    }

    /// True unless the 2nd or 3rd harmonic of the row tone, or the 2nd of the column tone, is
    /// within HARMONIC_RATIO_MAX of its fundamental over the last HISTORY_SAMPLES. A keypad's
    /// tones, even through G.711, carry harmonics 30 dB down or more (G.711's distortion is
    /// odd-order and weak); voices and instruments that land on a key's frequencies carry theirs
    /// at −3 to −12 dB. A harmonic that falls on the other tone (2 × 697 Hz is only 58 Hz from
    /// 1336 Hz), or above the band, cannot be told apart and is not tested.
    fn free_of_harmonics(&self, row_hz: f64, column_hz: f64) -> bool {
        let probes_hz = [row_hz, column_hz, 2.0 * row_hz, 3.0 * row_hz, 2.0 * column_hz];
        let [row_power, column_power, harmonic_powers @ ..] = self.recent_powers(probes_hz);
        let fundamental_powers = [row_power, row_power, column_power];
        probes_hz[2..]
            .iter()
            .zip(harmonic_powers)
            .zip(fundamental_powers)
            .all(|((&harmonic_hz, harmonic_power), fundamental_power)| {
                let measurable = harmonic_hz < HARMONIC_BAND_LIMIT_HZ
                    && (harmonic_hz - row_hz).abs() > HARMONIC_CLEARANCE_HZ
                    && (harmonic_hz - column_hz).abs() > HARMONIC_CLEARANCE_HZ;
                !measurable || harmonic_power <= HARMONIC_RATIO_MAX * fundamental_power
            })
    }

    /// Power at each probe frequency over the last HISTORY_SAMPLES samples, through a Hann window
    /// (whose sidelobes keep the two tones out of the harmonic bins): one Goertzel filter per
    /// probe, all fed in one pass.
    fn recent_powers<const N: usize>(&self, probes_hz: [f64; N]) -> [f64; N] {
        let coefficients = probes_hz.map(|hz| 2.0 * (std::f64::consts::TAU * hz / SAMPLE_RATE_HZ).cos());
        let (mut newest, mut older) = ([0.0f64; N], [0.0f64; N]);
        let oldest = self.samples_seen as usize % HISTORY_SAMPLES;
        for (age, weight) in self.hann.iter().enumerate() {
            let x = weight * f64::from(self.history[(oldest + age) % HISTORY_SAMPLES]);
            for probe in 0..N {
                let next = x + coefficients[probe] * newest[probe] - older[probe];
                older[probe] = newest[probe];
                newest[probe] = next;
            }
        }
        std::array::from_fn(|probe| {
            let (a, b) = (newest[probe], older[probe]);
            a * a + b * b - coefficients[probe] * a * b
        })
    }

    /// Ends the current track, reporting its end if it was a digit.
    fn end_track(&mut self) {
        let Some(track) = self.track.take() else {
            return;
        };
        if let Verdict::Digit { start_sample } = track.verdict {
            let end_sample = track.last_hit_end.saturating_sub(self.limits.end_lag_samples);
            self.queue.push(DtmfEvent {
                digit: track.digit(),
                start_sample,
                duration_samples: Some(end_sample.saturating_sub(start_sample)),
            });
        }
    }
}

impl std::fmt::Debug for DtmfRx {
    // Hand-written so the correlator tables and sliding sums stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DtmfRx")
            .field("config", &self.config)
            .field("samples_seen", &self.samples_seen)
            .field("track", &self.track)
            .field("queued_events", &self.queue.len)
            .finish_non_exhaustive()
    }
}

fn bin_frequency_hz(bin: usize) -> f64 {
    if bin < GROUP_SIZE {
        ROW_FREQUENCIES_HZ[bin]
    } else {
        COLUMN_FREQUENCIES_HZ[bin - GROUP_SIZE]
    }
}

/// Adds each sample times its correlator row into the accumulators, and its square into `energy`.
#[inline]
fn correlate(accumulator: &mut [f32; LANES], energy: &mut f32, table: &[[f32; LANES]], samples: &[i16]) {
    for (&sample, coefficients) in samples.iter().zip(table) {
        let x = f32::from(sample);
        for (lane, coefficient) in accumulator.iter_mut().zip(coefficients) {
            *lane += x * coefficient;
        }
        *energy += x * x;
    }
}

/// Like [`correlate`] for one whole sub-block, from zero, with two interleaved accumulator sets so
/// the additions of consecutive samples do not wait on each other.
#[inline]
fn correlate_sub_block(table: &[[f32; LANES]; SUB_BLOCK_SAMPLES], block: &[i16]) -> ([f32; LANES], f32) {
    let mut even = [0.0f32; LANES];
    let mut odd = [0.0f32; LANES];
    let mut energy = 0.0f32;
    for (pair, coefficients) in block.chunks_exact(2).zip(table.chunks_exact(2)) {
        let (x0, x1) = (f32::from(pair[0]), f32::from(pair[1]));
        for lane in 0..LANES {
            even[lane] += x0 * coefficients[0][lane];
            odd[lane] += x1 * coefficients[1][lane];
        }
        energy += x0 * x0 + x1 * x1;
    }
    for (total, part) in even.iter_mut().zip(odd) {
        *total += part;
    }
    (even, energy)
}

/// The strongest bin of a group, as (index within the group, power).
fn strongest(powers: &[f32]) -> (usize, f64) {
    let mut best = (0, powers[0]);
    for (index, &power) in powers.iter().enumerate().skip(1) {
        if power > best.1 {
            best = (index, power);
        }
    }
    (best.0, f64::from(best.1))
}

/// Power of the strongest bin of a group that is two or more places from `key_bin` (adjacent bins
/// catch the key's own main lobe, so they tell nothing).
fn far_power(powers: &[f32], key_bin: usize) -> f64 {
    let far = powers
        .iter()
        .enumerate()
        .filter(|(bin, _)| bin.abs_diff(key_bin) >= 2)
        .map(|(_, &power)| power)
        .fold(0.0, f32::max);
    f64::from(far)
}

/// Adds X_now · conj(X_previous) for `bin` to `rotation`.
fn add_rotation(rotation: &mut (f64, f64), now: &Spectrum, previous: &Spectrum, bin: usize) {
    let (a, b) = (now.re(bin), now.im(bin));
    let (c, d) = (previous.re(bin), -previous.im(bin));
    rotation.0 += a * c - b * d;
    rotation.1 += a * d + b * c;
}

/// A tone's offset from its bin, in radians per sample, from the mean rotation per hop.
fn offset_rad_per_sample(rotation: (f64, f64)) -> f64 {
    rotation.1.atan2(rotation.0) / SUB_BLOCK_SAMPLES as f64
}

/// The window's power response at `offset` radians per sample from a bin, relative to the bin's
/// centre: a boxcar of one sub-block times the triangle made of two boxcars of sub-blocks.
fn window_power_response(offset: f64) -> f64 {
    let sub_block = dirichlet(offset, SUB_BLOCK_SAMPLES as f64);
    let triangle = dirichlet(offset * SUB_BLOCK_SAMPLES as f64, BOXCAR_SUB_BLOCKS as f64).powi(2);
    (sub_block * triangle).powi(2)
}

/// |Σ_{k<n} e^{jkx}| / n: the normalised magnitude response of an n-point boxcar.
fn dirichlet(x: f64, n: f64) -> f64 {
    let denominator = n * (x / 2.0).sin();
    if denominator.abs() < 1e-12 {
        1.0
    } else {
        ((n * x / 2.0).sin() / denominator).abs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TONE_DBM0: f32 = -10.0;

    /// `key` for `on_samples` at -10 dBm0 per tone, after `lead_samples` of silence.
    fn key_tone(key: char, lead_samples: usize, on_samples: usize) -> Vec<i16> {
        let index = KEYPAD.iter().flatten().position(|&k| k == key).expect("key");
        let (low_hz, high_hz) = (ROW_FREQUENCIES_HZ[index / 4], COLUMN_FREQUENCIES_HZ[index % 4]);
        let peak = f64::from(dbm0_to_peak(Law::Alaw, TONE_DBM0));
        let mut samples = vec![0i16; lead_samples];
        samples.extend((0..on_samples).map(|n| {
            let t = n as f64 / SAMPLE_RATE_HZ;
            let value =
                (std::f64::consts::TAU * low_hz * t).sin() + (std::f64::consts::TAU * high_hz * t).sin();
            (peak * value).round() as i16
        }));
        samples
    }

    fn keys(sequence: &str) -> Vec<i16> {
        let mut samples = Vec::new();
        for key in sequence.chars() {
            samples.extend(key_tone(key, 480, 480));
        }
        samples.resize(samples.len() + 800, 0);
        samples
    }

    fn events(receiver: &mut DtmfRx) -> Vec<DtmfEvent> {
        std::iter::from_fn(|| receiver.take_event()).collect()
    }

    fn receiver() -> DtmfRx {
        DtmfRx::new(DtmfRxConfig::default()).expect("receiver")
    }

    #[test]
    fn a_key_reports_its_start_then_its_end_with_its_timing() {
        let mut rx = receiver();
        let mut audio = key_tone('5', 800, 800);
        audio.resize(audio.len() + 800, 0);
        rx.process(&audio);
        let got = events(&mut rx);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!((got[0].digit, got[0].duration_samples), ('5', None));
        assert_eq!(got[1].digit, '5');
        assert_eq!(got[1].start_sample, got[0].start_sample);
        // Edges are estimated to a few milliseconds.
        assert!(got[0].start_sample.abs_diff(800) <= 3 * SAMPLES_PER_MS, "{got:?}");
        let duration = got[1].duration_samples.expect("end event");
        assert!(duration.abs_diff(800) <= 4 * SAMPLES_PER_MS, "{got:?}");
    }

    #[test]
    fn a_held_key_is_one_digit_lasting_as_long_as_it_was_held() {
        let mut rx = receiver();
        let mut audio = key_tone('#', 400, 16_000);
        audio.resize(audio.len() + 800, 0);
        for block in audio.chunks(160) {
            rx.process(block);
        }
        let got = events(&mut rx);
        assert_eq!(got.len(), 2, "{got:?}");
        let duration = got[1].duration_samples.expect("end event");
        assert!(duration.abs_diff(16_000) <= 4 * SAMPLES_PER_MS, "{got:?}");
    }

    #[test]
    fn take_digit_returns_starts_only() {
        let mut rx = receiver();
        rx.process(&keys("1*9D"));
        let digits: String = std::iter::from_fn(|| rx.take_digit()).collect();
        assert_eq!(digits, "1*9D");
        assert_eq!(rx.take_event(), None);
    }

    #[test]
    fn any_slicing_gives_the_same_events() {
        let audio = keys("0123456789*#ABCD");
        let mut whole = receiver();
        whole.process(&audio);
        let expected = events(&mut whole);
        assert_eq!(expected.len(), 32);
        let mut sliced = receiver();
        let mut rest = audio.as_slice();
        // Slice lengths 0..=16 in turn: every alignment against the 8-sample sub-blocks.
        for length in (0..=16).cycle() {
            if rest.is_empty() {
                break;
            }
            let (now, later) = rest.split_at(length.min(rest.len()));
            sliced.process(now);
            rest = later;
        }
        assert_eq!(events(&mut sliced), expected);
    }

    #[test]
    fn reset_forgets_a_partial_digit_and_restarts_the_clock() {
        let mut rx = receiver();
        rx.process(&key_tone('7', 0, 200));
        rx.reset();
        rx.process(&[0; 800]);
        assert_eq!(rx.take_event(), None);
        rx.reset();
        rx.process(&keys("7"));
        let got = events(&mut rx);
        assert_eq!(got.len(), 2);
        assert!(got[0].start_sample.abs_diff(480) <= 3 * SAMPLES_PER_MS, "{got:?}");
    }

    #[test]
    fn an_unpolled_queue_keeps_the_oldest_events_and_counts_the_rest() {
        let mut rx = receiver();
        rx.process(&keys(&"5".repeat(20)));
        assert_eq!(rx.dropped_events(), 40 - MAX_QUEUED_EVENTS as u64);
        assert_eq!(events(&mut rx).len(), MAX_QUEUED_EVENTS);
    }

    #[test]
    fn silence_and_noise_give_nothing() {
        let mut rx = receiver();
        rx.process(&[0; 8000]);
        let mut state = 0x1234_5678u32;
        let noise: Vec<i16> = (0..80_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state >> 20) as i16 - 2048
            })
            .collect();
        rx.process(&noise);
        assert_eq!(rx.take_event(), None);
    }

    #[test]
    fn sliding_sums_return_to_zero_after_a_long_loud_signal() {
        let mut rx = receiver();
        // Three minutes of a loud tone pair: 180 000 sub-blocks through the running sums.
        let loud: Vec<i16> = key_tone('D', 0, 8000)
            .iter()
            .map(|&s| s.saturating_mul(3))
            .collect();
        for _ in 0..180 {
            rx.process(&loud);
        }
        let largest = |values: &[f32]| values.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let loud_bin = largest(&rx.spectrum_boxcars.second_sum);
        let loud_energy = rx.energy_boxcars.second_sum[0];
        rx.process(&[0; 1200]);
        // What is left is rounding: more than 100 dB below the loud signal (in amplitude and in
        // energy), so far below the quietest tone the receiver accepts (-34 dBm0).
        assert!(largest(&rx.spectrum_boxcars.second_sum) < loud_bin * 1e-5);
        assert!(rx.energy_boxcars.second_sum[0].abs() < loud_energy * 1e-5);
    }

    #[test]
    fn rotor_table_is_the_exact_phase_reference() {
        let rotors = LazyLock::force(&ROTORS);
        for sub_block in [0, 1, 7, 499, 999] {
            for bin in 0..BINS {
                let angle =
                    std::f64::consts::TAU * bin_frequency_hz(bin) * (sub_block * SUB_BLOCK_SAMPLES) as f64
                        / SAMPLE_RATE_HZ;
                assert!((f64::from(rotors[sub_block][bin]) - angle.cos()).abs() < 1e-6);
                assert!((f64::from(rotors[sub_block][BINS + bin]) + angle.sin()).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn window_response_matches_the_window_weights() {
        for offset_hz in [0.0, 5.0, 20.0, 40.0, 60.0] {
            let offset = std::f64::consts::TAU * offset_hz / SAMPLE_RATE_HZ;
            let (re, im) = (0..WINDOW_SAMPLES).fold((0.0, 0.0), |(re, im), age| {
                let weight = window_weight(age);
                (
                    re + weight * (offset * age as f64).cos(),
                    im + weight * (offset * age as f64).sin(),
                )
            });
            let direct = (re * re + im * im) / (WINDOW_GAIN * WINDOW_GAIN);
            let formula = window_power_response(offset);
            assert!(
                (direct - formula).abs() < 1e-9,
                "{offset_hz} Hz: {direct} vs {formula}"
            );
        }
    }

    #[test]
    fn recent_powers_measure_a_sine_and_nothing_beside_it() {
        let mut rx = receiver();
        let amplitude = 10_000.0;
        let sine: Vec<i16> = (0..1000)
            .map(|n| (amplitude * (std::f64::consts::TAU * 1000.0 * n as f64 / SAMPLE_RATE_HZ).sin()) as i16)
            .collect();
        rx.process(&sine);
        let [at_tone, octave_up, far_below] = rx.recent_powers([1000.0, 2000.0, 697.0]);
        // A Hann window's weights sum to half its length.
        let expected = (amplitude * HISTORY_SAMPLES as f64 / 4.0).powi(2);
        assert!((at_tone / expected - 1.0).abs() < 0.01, "{at_tone} vs {expected}");
        assert!(octave_up < at_tone * 1e-6 && far_below < at_tone * 1e-6);
    }

    #[test]
    fn edge_offsets_add_up_to_the_window() {
        let (lead, lag) = edge_offsets_samples();
        assert_eq!(lead + lag, WINDOW_SAMPLES as u64);
        assert!(lead > lag, "{lead} {lag}");
    }

    #[test]
    fn window_weights_sum_to_the_gain() {
        let total: f64 = (0..WINDOW_SAMPLES).map(window_weight).sum();
        assert_eq!(total, WINDOW_GAIN);
    }

    #[test]
    fn settings_deserialise_with_defaults() {
        let empty: DtmfRxConfig = toml::from_str("").expect("empty table");
        assert_eq!(empty, DtmfRxConfig::default());
        let some: DtmfRxConfig = toml::from_str("law = \"ulaw\"\nmin_on_ms = 50\n").expect("partial table");
        assert_eq!(some.law, Law::Ulaw);
        assert_eq!(some.min_on_ms, 50);
        assert_eq!(some.normal_twist_db, DtmfRxConfig::default().normal_twist_db);
        assert!(
            toml::from_str::<DtmfRxConfig>("min_on = 50").is_err(),
            "unknown field"
        );
    }

    #[test]
    fn out_of_range_settings_are_refused() {
        let base = DtmfRxConfig::default();
        for config in [
            DtmfRxConfig { min_on_ms: 5, ..base },
            DtmfRxConfig {
                min_off_ms: 5_000,
                ..base
            },
            DtmfRxConfig {
                max_dropout_ms: 40,
                ..base
            },
            DtmfRxConfig {
                reverse_twist_db: f32::NAN,
                ..base
            },
            DtmfRxConfig {
                normal_twist_db: -1.0,
                ..base
            },
            DtmfRxConfig {
                min_level_dbm0: 3.0,
                ..base
            },
            DtmfRxConfig {
                freq_tolerance_pct: 6.0,
                ..base
            },
        ] {
            assert!(
                matches!(DtmfRx::new(config), Err(DspError::InvalidSetting(_))),
                "{config:?}"
            );
        }
    }

    #[test]
    fn receiver_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<DtmfRx>();
    }
}
