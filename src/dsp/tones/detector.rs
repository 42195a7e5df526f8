//! Call-progress detection: what the far end is playing, from its audio alone.
//!
//! The pipeline, per 20 ms block (160 samples, one channel block):
//! 1. **Analysis.** Inner products of the block with a cosine and a sine at every frequency of the
//!    plan (Goertzel bins, computed as plain dot products against tables so they vectorise).
//! 2. **Classification.** For each *signature* (a set of one or two frequencies that some tone of the
//!    plan uses: US dial is {350, 440}, US busy {480, 620}) the block is projected by least squares
//!    onto the signature's sinusoids. The energy ratio *projected / total* is the share of the block
//!    that is exactly that tone; it must pass a threshold, and each frequency of a pair must carry
//!    its own share (so {440} alone never passes as {440, 480}). Every other frequency of the plan
//!    acts as a guard: energy there is energy outside the signature and lowers the ratio. Least
//!    squares instead of independent bins matters for close pairs: 440 and 480 Hz are 0.8 bins apart
//!    in 20 ms, and independent bins would see each other's leakage as ±50 % power swings. The fit
//!    is at the nominal frequencies; tones up to about ±2 % off (±10 Hz) still pass (measured), well
//!    beyond the ±0.5 % the Precise Tone Plan allows senders.
//! 3. **Segmentation.** Labels (a signature, or none) become runs, with hysteresis counted in
//!    samples: a new label must hold for two blocks (40 ms) to start a run, so an ANSam phase
//!    reversal or a G.711 glitch does not split a tone; a tone already running is held at a lower
//!    threshold than it needs to start.
//! 4. **Cadence matching.** Each on-run followed by its off-run is a step (signature, on, off, on
//!    level and its spread, loudest off block). The last steps are matched against each tone's
//!    cadence, at any alignment for repeating cadences, with tolerance ±10 % or ±50 ms, whichever is
//!    larger (±15 % for CNG, from T.30). The national plans give nominal send values only; ±10 % is
//!    common receiver practice, and the 50 ms floor covers the ±20 ms block quantisation of each edge.
//!
//! Speech is rejected by the conjunction: a speech sound must be a pure tone at the plan's frequency
//! (≥ 80 % of its energy), hold its level within 6 dB for the whole on time, be followed by silence
//! at least 10 dB quieter, and repeat with the right timing at the same level (±4 dB). Busy and
//! congestion need two full on/off steps (two cycles for one-step cadences); dial tone needs a
//! continuous tone longer than any cadenced tone of the plan could be. No single test is enough on
//! its own: in 16 minutes of telephone-band synthetic speech, the 425 Hz signature alone passed for
//! up to 260 ms at a time (four runs of 200 ms or more), but never followed by a quiet gap.

use super::plan::{fax_tone, tone, Country, FaxTone, ToneKind};
use super::SAMPLES_PER_MS;
use crate::dsp::level::dbm0_to_peak;
use crate::hw::{Law, BLOCK_SAMPLES};

/// Analysis block: one channel block, 20 ms. Bins are 50 Hz apart, fine enough with least squares.
const BLOCK: usize = BLOCK_SAMPLES;
/// Lanes of the dot products: eight independent sums let the compiler use SIMD.
const LANES: usize = 8;

/// Capacity limits (TIGER_STYLE: a limit on everything). The largest plan (North America) uses nine
/// frequencies, eight signatures and five cadenced patterns.
const MAX_BINS: usize = 12;
const MAX_SIGNATURES: usize = 10;
const MAX_PATTERNS: usize = 6;
const MAX_PATTERN_STEPS: usize = 4;
/// Completed steps remembered: twice the longest requirement (UK cadences need two steps).
const HISTORY_STEPS: usize = 8;
/// Events waiting for `take_event`: one of each kind fits.
const EVENT_QUEUE: usize = 8;

/// Share of the block's energy a signature must explain to start a run, and to keep one running.
/// A clean tone scores above 0.95 even at 20 dB SNR through G.711; speech vowels rarely pass 0.8.
const START_FRACTION: f32 = 0.80;
const HOLD_FRACTION: f32 = 0.60;
/// Each frequency of a pair must carry this share: allows about 7 dB of twist between the two.
const COMPONENT_FRACTION: f32 = 0.15;
/// Quietest block that can carry a tone: the weakest specified input is -35 dBm0 per frequency,
/// and this leaves 8 dB for line loss below that.
const MIN_TONE_LEVEL_DBM0: f32 = -43.0;
/// A new label must persist this long to start a run (hysteresis in time).
const DEBOUNCE_SAMPLES: u32 = 320;
const DEBOUNCE_BLOCKS: u32 = DEBOUNCE_SAMPLES / BLOCK as u32;
/// An on-run's block levels (edges excluded) must stay within this spread: tones are steady, speech
/// is not. ANSam's 20 % modulation spans about 3.5 dB of 20 ms block levels.
const STABLE_SPREAD_DB: f32 = 6.0;
/// The on-runs of one match must agree in level within this.
const LEVEL_MATCH_DB: f32 = 4.0;
/// The gaps must be this much quieter than the tone (noise 20 dB down passes; speech does not).
const GAP_DROP_DB: f32 = 10.0;
/// Cadence tolerance: ±10 % or ±50 ms, whichever is larger.
const TOLERANCE_PERCENT: u32 = 10;
const TOLERANCE_FLOOR_MS: u32 = 50;
/// T.30 allows ±15 % on CNG's cadence.
const CNG_TOLERANCE_PERCENT: u32 = 15;
/// Dial tone: continuous for longer than the plan's longest cadenced on-time (plus tolerance) plus
/// this margin, and never less than the floor.
const DIAL_MARGIN_MS: u32 = 300;
const DIAL_FLOOR_MS: u32 = 1500;
/// CED/ANS: 2100 Hz held this long (T.30 sends 2.6 to 4 s; the requirement is detection in 3 s).
const CED_MIN_MS: u32 = 1000;
/// Stand-in for the level of an all-zero block, whose log is -inf.
const SILENCE_DB: f32 = -120.0;

/// What the detector recognised. Each is reported once, until [`ProgressDetector::reset`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProgressEvent {
    Dial,
    Ringback,
    Busy,
    Congestion,
    Sit,
    /// Fax calling tone (1100 Hz, T.30).
    Cng,
    /// 2100 Hz answer tone: fax CED, modem ANS or ANSam.
    Ced,
}

impl ProgressEvent {
    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// Cosine and sine tables of one frequency over one block.
struct Bin {
    freq_hz: f32,
    cos: [f32; BLOCK],
    sin: [f32; BLOCK],
}

/// A set of frequencies that sound together in some tone of the plan.
#[derive(Clone, Copy, Debug, Default)]
struct Signature {
    bins: [usize; 2],
    voices: usize,
    /// Inverse of the Gram matrix of [cos f1, sin f1, cos f2, sin f2] over one block (the top-left
    /// 2×2 for a single frequency): turns inner products into least-squares amplitudes.
    inverse_gram: [[f32; 4]; 4],
}

/// Accepted durations, in samples, inclusive.
#[derive(Clone, Copy, Debug, Default)]
struct SampleRange {
    min: u64,
    max: u64,
}

impl SampleRange {
    fn around(nominal_ms: u32, percent: u32) -> Self {
        let tolerance_ms = (nominal_ms * percent / 100).max(TOLERANCE_FLOOR_MS);
        let to_samples = |ms: u32| u64::from(ms * SAMPLES_PER_MS);
        Self {
            min: to_samples(nominal_ms.saturating_sub(tolerance_ms)),
            max: to_samples(nominal_ms + tolerance_ms),
        }
    }

    fn contains(self, samples: u64) -> bool {
        (self.min..=self.max).contains(&samples)
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct PatternStep {
    signature: usize,
    on: SampleRange,
    off: SampleRange,
}

/// A cadenced tone to recognise.
#[derive(Clone, Copy, Debug)]
struct Pattern {
    event: ProgressEvent,
    steps: [PatternStep; MAX_PATTERN_STEPS],
    len: usize,
    /// A repeating cadence may be entered at any step.
    repeat: bool,
    /// Consecutive observed steps that must match.
    required: usize,
    /// SIT's last tone is followed by an announcement, not by a gap.
    ignore_last_off: bool,
}

/// A continuous tone to recognise (dial tone, CED).
#[derive(Clone, Copy, Debug)]
struct Sustained {
    event: ProgressEvent,
    signature: usize,
    min_samples: u64,
}

/// Block levels of a run, in dB. The first and last blocks straddle the run's edges and are only
/// partly tone or partly gap, so only the blocks between them are counted.
#[derive(Clone, Copy, Debug)]
struct RunLevels {
    blocks: u32,
    last_db: f32,
    counted: u32,
    sum_db: f32,
    min_db: f32,
    max_db: f32,
}

impl RunLevels {
    const EMPTY: Self = Self {
        blocks: 0,
        last_db: SILENCE_DB,
        counted: 0,
        sum_db: 0.0,
        min_db: f32::MAX,
        max_db: SILENCE_DB,
    };

    fn add(&mut self, level_db: f32) {
        // Block i's predecessor is interior once block i arrives, unless it was block 0.
        if self.blocks >= 2 {
            let interior_db = self.last_db;
            self.counted += 1;
            self.sum_db += interior_db;
            self.min_db = self.min_db.min(interior_db);
            self.max_db = self.max_db.max(interior_db);
        }
        self.last_db = level_db;
        self.blocks += 1;
    }

    fn mean_db(&self) -> f32 {
        if self.counted == 0 {
            self.last_db
        } else {
            self.sum_db / self.counted as f32
        }
    }

    fn spread_db(&self) -> f32 {
        if self.counted == 0 {
            0.0
        } else {
            self.max_db - self.min_db
        }
    }
}

/// A stretch of blocks with one label (`None`: no tone).
#[derive(Clone, Copy, Debug)]
struct Run {
    label: Option<usize>,
    start: u64,
    levels: RunLevels,
}

impl Run {
    const fn new(label: Option<usize>, start: u64) -> Self {
        Self {
            label,
            start,
            levels: RunLevels::EMPTY,
        }
    }
}

/// One tone burst and the gap after it, as heard.
#[derive(Clone, Copy, Debug)]
struct Step {
    signature: usize,
    on_samples: u64,
    on_level_db: f32,
    on_spread_db: f32,
    off_samples: u64,
    off_max_db: f32,
    /// The gap is still going on: `off_samples` is its length so far.
    off_open: bool,
}

impl Step {
    const EMPTY: Self = Self {
        signature: 0,
        on_samples: 0,
        on_level_db: SILENCE_DB,
        on_spread_db: 0.0,
        off_samples: 0,
        off_max_db: SILENCE_DB,
        off_open: false,
    };
}

/// Recognises call-progress tones of one country's plan, plus CNG and CED, in a stream of 16-bit
/// linear samples of any block size. Allocates only in `new`.
pub struct ProgressDetector {
    country: Country,
    bins: Vec<Bin>,
    signatures: [Signature; MAX_SIGNATURES],
    signature_count: usize,
    patterns: [Option<Pattern>; MAX_PATTERNS],
    sustained: [Option<Sustained>; 2],
    /// Mean square of a 0 dBm0 sine in 16-bit units.
    zero_dbm0_power: f32,
    block: [f32; BLOCK],
    filled: usize,
    /// Samples analysed so far (whole blocks).
    now: u64,
    current: Run,
    pending: Run,
    pending_blocks: u32,
    /// The last tone burst, while its gap is still running.
    open_step: Option<Step>,
    history: [Step; HISTORY_STEPS],
    history_len: usize,
    reported: u8,
    events: [ProgressEvent; EVENT_QUEUE],
    event_head: usize,
    event_len: usize,
}

impl ProgressDetector {
    /// A detector for `country`'s tones. Levels are judged against A-law's 0 dBm0; µ-law's differs
    /// by 0.03 dB, far inside every level margin here.
    pub fn new(country: Country) -> Self {
        let mut builder = PlanBuilder::default();
        let patterns = builder.patterns(country);
        let sustained = builder.sustained(country);
        let PlanBuilder {
            bins,
            signatures,
            signature_count,
        } = builder;
        Self {
            country,
            bins,
            signatures,
            signature_count,
            patterns,
            sustained,
            zero_dbm0_power: dbm0_to_peak(Law::Alaw, 0.0).powi(2) / 2.0,
            block: [0.0; BLOCK],
            filled: 0,
            now: 0,
            current: Run::new(None, 0),
            pending: Run::new(None, 0),
            pending_blocks: 0,
            open_step: None,
            history: [Step::EMPTY; HISTORY_STEPS],
            history_len: 0,
            reported: 0,
            events: [ProgressEvent::Dial; EVENT_QUEUE],
            event_head: 0,
            event_len: 0,
        }
    }

    /// The plan this detector listens for.
    pub fn country(&self) -> Country {
        self.country
    }

    /// Forgets everything heard and re-arms every event (a new call on the channel).
    pub fn reset(&mut self) {
        self.filled = 0;
        self.now = 0;
        self.current = Run::new(None, 0);
        self.pending = Run::new(None, 0);
        self.pending_blocks = 0;
        self.open_step = None;
        self.history_len = 0;
        self.reported = 0;
        self.event_len = 0;
    }

    /// Feeds samples; any slice length, no allocation. Recognised tones queue up for `take_event`.
    pub fn process(&mut self, samples: &[i16]) {
        for &sample in samples {
            self.block[self.filled] = f32::from(sample);
            self.filled += 1;
            if self.filled == BLOCK {
                self.filled = 0;
                self.analyse_block();
            }
        }
    }

    /// The oldest recognised tone not yet taken.
    pub fn take_event(&mut self) -> Option<ProgressEvent> {
        if self.event_len == 0 {
            return None;
        }
        let event = self.events[self.event_head];
        self.event_head = (self.event_head + 1) % EVENT_QUEUE;
        self.event_len -= 1;
        Some(event)
    }

    fn analyse_block(&mut self) {
        let block_start = self.now;
        self.now += BLOCK as u64;
        let energy = dot(&self.block, &self.block);
        let level_db = self.level_dbm0(energy);
        let label = if level_db >= MIN_TONE_LEVEL_DBM0 {
            self.classify(energy)
        } else {
            None
        };
        self.segment(label, level_db, block_start);
        self.recognise();
    }

    fn level_dbm0(&self, energy: f32) -> f32 {
        let power = energy / BLOCK as f32 / self.zero_dbm0_power;
        if power > 0.0 {
            10.0 * power.log10()
        } else {
            SILENCE_DB
        }
    }

    /// The signature that explains the block best, if any explains enough of it.
    fn classify(&self, energy: f32) -> Option<usize> {
        let mut products = [[0f32; 2]; MAX_BINS];
        for (product, bin) in products.iter_mut().zip(&self.bins) {
            *product = [dot(&self.block, &bin.cos), dot(&self.block, &bin.sin)];
        }
        let mut best: Option<(usize, f32)> = None;
        for (index, signature) in self.signatures[..self.signature_count].iter().enumerate() {
            let threshold = if self.current.label == Some(index) {
                HOLD_FRACTION
            } else {
                START_FRACTION
            };
            let Some(share) = signature_share(signature, &products, energy, threshold) else {
                continue;
            };
            if best.map_or(true, |(_, best_share)| share > best_share) {
                best = Some((index, share));
            }
        }
        best.map(|(index, _)| index)
    }

    /// Turns block labels into runs, with the debounce; a finished run becomes a step.
    fn segment(&mut self, label: Option<usize>, level_db: f32, block_start: u64) {
        if label == self.current.label {
            self.pending_blocks = 0;
            self.current.levels.add(level_db);
            return;
        }
        if self.pending_blocks == 0 || label != self.pending.label {
            self.pending = Run::new(label, block_start);
            self.pending_blocks = 0;
        }
        self.pending.levels.add(level_db);
        self.pending_blocks += 1;
        if self.pending_blocks >= DEBOUNCE_BLOCKS {
            // The new run started where its label first appeared.
            let ended = self.current;
            self.current = self.pending;
            self.pending_blocks = 0;
            self.close_run(ended, self.current.start, self.current.label);
        }
    }

    fn close_run(&mut self, run: Run, end: u64, next_label: Option<usize>) {
        let duration = end - run.start;
        match run.label {
            Some(signature) => {
                let step = Step {
                    signature,
                    on_samples: duration,
                    on_level_db: run.levels.mean_db(),
                    on_spread_db: run.levels.spread_db(),
                    ..Step::EMPTY
                };
                if next_label.is_none() {
                    self.open_step = Some(step);
                } else {
                    // Straight into another tone (SIT): a step with no gap.
                    self.open_step = None;
                    self.push_history(step);
                }
            }
            None => {
                if let Some(mut step) = self.open_step.take() {
                    step.off_samples = duration;
                    step.off_max_db = run.levels.max_db;
                    self.push_history(step);
                }
            }
        }
    }

    fn push_history(&mut self, step: Step) {
        if self.history_len == HISTORY_STEPS {
            self.history.copy_within(1.., 0);
            self.history_len -= 1;
        }
        self.history[self.history_len] = step;
        self.history_len += 1;
    }

    /// Checks every tone not yet reported against what has been heard.
    fn recognise(&mut self) {
        for sustained in self.sustained.into_iter().flatten() {
            if !self.is_reported(sustained.event) && self.sustains(&sustained) {
                self.report(sustained.event);
            }
        }
        let mut observed = [Step::EMPTY; HISTORY_STEPS + 1];
        let complete = self.history_len;
        observed[..complete].copy_from_slice(&self.history[..complete]);
        let with_open = match self.open_step {
            Some(step) => {
                observed[complete] = Step {
                    off_samples: self.now - self.current.start,
                    off_max_db: self.current.levels.max_db,
                    off_open: true,
                    ..step
                };
                complete + 1
            }
            None => complete,
        };
        for pattern in self.patterns.into_iter().flatten() {
            if self.is_reported(pattern.event) {
                continue;
            }
            if matches_tail(&pattern, &observed[..with_open]) || matches_tail(&pattern, &observed[..complete])
            {
                self.report(pattern.event);
            }
        }
    }

    fn sustains(&self, sustained: &Sustained) -> bool {
        self.current.label == Some(sustained.signature)
            && self.now - self.current.start >= sustained.min_samples
            && self.current.levels.spread_db() <= STABLE_SPREAD_DB
    }

    fn is_reported(&self, event: ProgressEvent) -> bool {
        self.reported & event.bit() != 0
    }

    fn report(&mut self, event: ProgressEvent) {
        self.reported |= event.bit();
        // One of each kind at most, so the queue (EVENT_QUEUE >= kinds) cannot overflow.
        let tail = (self.event_head + self.event_len) % EVENT_QUEUE;
        self.events[tail] = event;
        self.event_len += 1;
    }
}

/// The share of the block's energy that `signature` explains, if it passes `threshold` and each of
/// its frequencies carries its own share.
fn signature_share(
    signature: &Signature,
    products: &[[f32; 2]; MAX_BINS],
    energy: f32,
    threshold: f32,
) -> Option<f32> {
    let dims = 2 * signature.voices;
    let mut inner = [0f32; 4];
    for voice in 0..signature.voices {
        let [c, s] = products[signature.bins[voice]];
        inner[2 * voice] = c;
        inner[2 * voice + 1] = s;
    }
    let mut amplitudes = [0f32; 4];
    for (row, amplitude) in amplitudes.iter_mut().enumerate().take(dims) {
        *amplitude = (0..dims)
            .map(|col| signature.inverse_gram[row][col] * inner[col])
            .sum();
    }
    // Energy of the least-squares fit: <x, U a> = inner · a.
    let projected: f32 = (0..dims).map(|i| inner[i] * amplitudes[i]).sum();
    let share = projected / energy;
    if share < threshold {
        return None;
    }
    // A sinusoid of amplitude A carries A² · N / 2 over the block.
    let voice_energy = |voice: usize| {
        (amplitudes[2 * voice].powi(2) + amplitudes[2 * voice + 1].powi(2)) * BLOCK as f32 / 2.0
    };
    let every_voice_present =
        (0..signature.voices).all(|voice| voice_energy(voice) >= COMPONENT_FRACTION * energy);
    every_voice_present.then_some(share)
}

/// Whether the last `pattern.required` observed steps match the pattern's cadence.
fn matches_tail(pattern: &Pattern, observed: &[Step]) -> bool {
    let Some(start) = observed.len().checked_sub(pattern.required) else {
        return false;
    };
    let window = &observed[start..];
    let alignments = if pattern.repeat { pattern.len } else { 1 };
    (0..alignments).any(|offset| {
        let steps_match = window.iter().enumerate().all(|(index, step)| {
            let expected = &pattern.steps[(offset + index) % pattern.len];
            let check_off = !(pattern.ignore_last_off && index + 1 == window.len());
            step_matches(step, expected, check_off)
        });
        steps_match && levels_agree(pattern, window)
    })
}

fn step_matches(step: &Step, expected: &PatternStep, check_off: bool) -> bool {
    let off_matches = !check_off
        || if step.off_open {
            step.off_samples >= expected.off.min
        } else {
            expected.off.contains(step.off_samples)
        };
    step.signature == expected.signature
        && expected.on.contains(step.on_samples)
        && step.on_spread_db <= STABLE_SPREAD_DB
        && off_matches
}

/// The bursts of a match share one level and every gap is well below it.
fn levels_agree(pattern: &Pattern, window: &[Step]) -> bool {
    let (quietest_db, loudest_db) = window.iter().fold((f32::MAX, f32::MIN), |(low, high), step| {
        (low.min(step.on_level_db), high.max(step.on_level_db))
    });
    let gaps_checked = if pattern.ignore_last_off {
        window.len() - 1
    } else {
        window.len()
    };
    let gaps_quiet = window[..gaps_checked]
        .iter()
        .filter(|step| step.off_samples > 0)
        .all(|step| step.off_max_db <= quietest_db - GAP_DROP_DB);
    loudest_db - quietest_db <= LEVEL_MATCH_DB && gaps_quiet
}

/// Dot product of two blocks in `LANES` independent partial sums (vectorisable).
fn dot(a: &[f32; BLOCK], b: &[f32; BLOCK]) -> f32 {
    let mut sums = [0f32; LANES];
    for (a_chunk, b_chunk) in a.chunks_exact(LANES).zip(b.chunks_exact(LANES)) {
        for lane in 0..LANES {
            sums[lane] += a_chunk[lane] * b_chunk[lane];
        }
    }
    sums.iter().sum()
}

/// Builds bins, signatures and patterns for one plan; runs only in `ProgressDetector::new`.
#[derive(Default)]
struct PlanBuilder {
    bins: Vec<Bin>,
    signatures: [Signature; MAX_SIGNATURES],
    signature_count: usize,
}

impl PlanBuilder {
    fn patterns(&mut self, country: Country) -> [Option<Pattern>; MAX_PATTERNS] {
        let cadenced = [
            (ProgressEvent::Ringback, ToneKind::Ringback),
            (ProgressEvent::Busy, ToneKind::Busy),
            (ProgressEvent::Congestion, ToneKind::Congestion),
            (ProgressEvent::Sit, ToneKind::Sit),
        ];
        let mut patterns = [None; MAX_PATTERNS];
        for (slot, (event, kind)) in patterns.iter_mut().zip(cadenced) {
            *slot = Some(self.pattern(event, tone(country, kind), TOLERANCE_PERCENT));
        }
        patterns[cadenced.len()] =
            Some(self.pattern(ProgressEvent::Cng, fax_tone(FaxTone::Cng), CNG_TOLERANCE_PERCENT));
        patterns
    }

    fn pattern(&mut self, event: ProgressEvent, spec: super::ToneSpec, percent: u32) -> Pattern {
        assert!(
            spec.cadence.len() <= MAX_PATTERN_STEPS,
            "cadence too long for the detector"
        );
        let mut steps = [PatternStep::default(); MAX_PATTERN_STEPS];
        for (index, (slot, step)) in steps.iter_mut().zip(spec.cadence).enumerate() {
            *slot = PatternStep {
                signature: self.signature(spec.step_freqs_hz(index)),
                on: SampleRange::around(step.on_ms, percent),
                off: SampleRange::around(step.off_ms, percent),
            };
        }
        let len = spec.cadence.len();
        let (repeat, required, ignore_last_off) = match event {
            // SIT is a sequence heard once; its last tone runs into an announcement.
            ProgressEvent::Sit => (false, len, true),
            // Busy and congestion: two full on/off steps, i.e. two cycles of a one-step cadence.
            ProgressEvent::Busy | ProgressEvent::Congestion => (true, len.max(2), false),
            // Ringback and CNG: one full cycle.
            _ => (true, len, false),
        };
        Pattern {
            event,
            steps,
            len,
            repeat,
            required,
            ignore_last_off,
        }
    }

    fn sustained(&mut self, country: Country) -> [Option<Sustained>; 2] {
        let longest_on_ms = [
            ToneKind::Ringback,
            ToneKind::Busy,
            ToneKind::Congestion,
            ToneKind::CallWaiting,
        ]
        .iter()
        .flat_map(|&kind| tone(country, kind).cadence)
        .map(|step| step.on_ms + (step.on_ms * TOLERANCE_PERCENT / 100).max(TOLERANCE_FLOOR_MS))
        .max()
        .unwrap_or(0);
        let dial_ms = (longest_on_ms + DIAL_MARGIN_MS).max(DIAL_FLOOR_MS);
        let to_samples = |ms: u32| u64::from(ms * SAMPLES_PER_MS);
        [
            Some(Sustained {
                event: ProgressEvent::Dial,
                signature: self.signature(tone(country, ToneKind::Dial).freqs_hz),
                min_samples: to_samples(dial_ms),
            }),
            Some(Sustained {
                event: ProgressEvent::Ced,
                signature: self.signature(fax_tone(FaxTone::Ced).freqs_hz),
                min_samples: to_samples(CED_MIN_MS),
            }),
        ]
    }

    /// The signature for `freqs_hz` (0 = unused slot), shared with any earlier identical one.
    fn signature(&mut self, freqs_hz: [f32; 2]) -> usize {
        let voices = if freqs_hz[1] > 0.0 { 2 } else { 1 };
        let bins = [
            self.bin(freqs_hz[0]),
            if voices == 2 { self.bin(freqs_hz[1]) } else { 0 },
        ];
        let existing = self.signatures[..self.signature_count]
            .iter()
            .position(|signature| signature.voices == voices && signature.bins[..voices] == bins[..voices]);
        if let Some(index) = existing {
            return index;
        }
        assert!(
            self.signature_count < MAX_SIGNATURES,
            "plan has too many signatures"
        );
        let inverse_gram = inverse_gram(&self.bins, &bins[..voices]);
        self.signatures[self.signature_count] = Signature {
            bins,
            voices,
            inverse_gram,
        };
        self.signature_count += 1;
        self.signature_count - 1
    }

    fn bin(&mut self, freq_hz: f32) -> usize {
        if let Some(index) = self.bins.iter().position(|bin| bin.freq_hz == freq_hz) {
            return index;
        }
        assert!(self.bins.len() < MAX_BINS, "plan has too many frequencies");
        let step = 2.0 * std::f64::consts::PI * f64::from(freq_hz) / f64::from(super::SAMPLE_RATE_HZ);
        let mut bin = Bin {
            freq_hz,
            cos: [0.0; BLOCK],
            sin: [0.0; BLOCK],
        };
        for n in 0..BLOCK {
            bin.cos[n] = (step * n as f64).cos() as f32;
            bin.sin[n] = (step * n as f64).sin() as f32;
        }
        self.bins.push(bin);
        self.bins.len() - 1
    }
}

/// Inverse of the Gram matrix of the cosine and sine rows of `voices` (2 or 4 dimensions), by
/// Gauss-Jordan elimination in f64; the unused rows and columns stay zero.
fn inverse_gram(bins: &[Bin], voices: &[usize]) -> [[f32; 4]; 4] {
    let rows: Vec<&[f32; BLOCK]> = voices
        .iter()
        .flat_map(|&bin| [&bins[bin].cos, &bins[bin].sin])
        .collect();
    let dims = rows.len();
    let mut matrix = [[0f64; 8]; 4];
    for i in 0..dims {
        for j in 0..dims {
            matrix[i][j] = rows[i]
                .iter()
                .zip(rows[j])
                .map(|(&a, &b)| f64::from(a) * f64::from(b))
                .sum();
        }
        matrix[i][dims + i] = 1.0;
    }
    for pivot in 0..dims {
        // The Gram matrix of distinct frequencies is positive definite: pivots are never zero.
        let scale = matrix[pivot][pivot];
        for value in matrix[pivot].iter_mut() {
            *value /= scale;
        }
        for row in 0..dims {
            if row != pivot {
                let factor = matrix[row][pivot];
                let pivot_row = matrix[pivot];
                for (value, pivot_value) in matrix[row].iter_mut().zip(pivot_row) {
                    *value -= factor * pivot_value;
                }
            }
        }
    }
    let mut inverse = [[0f32; 4]; 4];
    for i in 0..dims {
        for j in 0..dims {
            inverse[i][j] = matrix[i][dims + j] as f32;
        }
    }
    inverse
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::tones::{ToneGenerator, ToneSpec};

    /// Plays `spec` (then silence) into a fresh detector in 20 ms blocks; returns each event with the
    /// sample count at which it was reported.
    fn detect(country: Country, spec: ToneSpec, seconds: u32) -> Vec<(ProgressEvent, usize)> {
        let mut generator = ToneGenerator::new(Law::Alaw, spec).expect("valid");
        let mut detector = ProgressDetector::new(country);
        let mut block = [0i16; BLOCK];
        let mut events = Vec::new();
        for index in 0..(seconds as usize * 50) {
            generator.fill(&mut block);
            detector.process(&block);
            events.extend(
                std::iter::from_fn(|| detector.take_event()).map(|event| (event, (index + 1) * BLOCK)),
            );
        }
        events
    }

    #[test]
    fn least_squares_separates_close_pairs() {
        // US ringback (440+480) must explain its own blocks fully and never pass as dial (350+440).
        let mut builder = PlanBuilder::default();
        let ringback = builder.signature([440.0, 480.0]);
        let dial = builder.signature([350.0, 440.0]);
        let mut generator =
            ToneGenerator::new(Law::Alaw, tone(Country::Us, ToneKind::Ringback)).expect("valid");
        let mut samples = [0i16; BLOCK];
        for _ in 0..50 {
            generator.fill(&mut samples);
            let block: [f32; BLOCK] = samples.map(f32::from);
            let energy = dot(&block, &block);
            let mut products = [[0f32; 2]; MAX_BINS];
            for (product, bin) in products.iter_mut().zip(&builder.bins) {
                *product = [dot(&block, &bin.cos), dot(&block, &bin.sin)];
            }
            let share = signature_share(&builder.signatures[ringback], &products, energy, 0.0);
            assert!(share.is_some_and(|share| share > 0.99), "{share:?}");
            assert_eq!(
                signature_share(&builder.signatures[dial], &products, energy, HOLD_FRACTION),
                None
            );
        }
    }

    #[test]
    fn clean_tones_are_recognised_once() {
        for (country, kind, expected) in [
            (Country::Cn, ToneKind::Busy, ProgressEvent::Busy),
            (Country::Us, ToneKind::Congestion, ProgressEvent::Congestion),
            (Country::Uk, ToneKind::Ringback, ProgressEvent::Ringback),
            (Country::Eu, ToneKind::Dial, ProgressEvent::Dial),
            (Country::Us, ToneKind::Sit, ProgressEvent::Sit),
            (Country::Kr, ToneKind::Sit, ProgressEvent::Sit),
        ] {
            let events = detect(country, tone(country, kind), 10);
            let kinds: Vec<ProgressEvent> = events.iter().map(|&(event, _)| event).collect();
            assert_eq!(kinds, [expected], "{country:?} {kind:?}: {events:?}");
        }
    }

    #[test]
    fn fax_tones_are_recognised() {
        let events = detect(Country::Eu, fax_tone(FaxTone::Cng), 4);
        assert_eq!(
            events.iter().map(|e| e.0).collect::<Vec<_>>(),
            [ProgressEvent::Cng]
        );
        let mut generator = ToneGenerator::fax(Law::Ulaw, FaxTone::Ansam);
        let mut detector = ProgressDetector::new(Country::Us);
        let mut samples = vec![0i16; 8000 * 3];
        generator.fill(&mut samples);
        detector.process(&samples);
        assert_eq!(detector.take_event(), Some(ProgressEvent::Ced));
        assert_eq!(detector.take_event(), None);
    }

    #[test]
    fn any_slice_length_gives_the_same_events() {
        let spec = tone(Country::Uk, ToneKind::Congestion);
        let mut generator = ToneGenerator::new(Law::Alaw, spec).expect("valid");
        let mut samples = vec![0i16; 8000 * 4];
        generator.fill(&mut samples);
        let mut detector = ProgressDetector::new(Country::Uk);
        for piece in samples.chunks(37) {
            detector.process(piece);
        }
        assert_eq!(detector.take_event(), Some(ProgressEvent::Congestion));
        assert_eq!(detector.take_event(), None);
        detector.reset();
        detector.process(&samples);
        assert_eq!(detector.take_event(), Some(ProgressEvent::Congestion));
    }

    #[test]
    fn silence_and_a_lone_burst_say_nothing() {
        let mut detector = ProgressDetector::new(Country::Cn);
        detector.process(&[0i16; 8000 * 5]);
        assert_eq!(detector.take_event(), None);
        // One 350 ms burst of busy tone is not yet a busy tone.
        let mut generator = ToneGenerator::new(Law::Alaw, tone(Country::Cn, ToneKind::Busy)).expect("valid");
        let mut burst = vec![0i16; 350 * 8];
        generator.fill(&mut burst);
        detector.process(&burst);
        detector.process(&[0i16; 8000 * 5]);
        assert_eq!(detector.take_event(), None);
    }
}
