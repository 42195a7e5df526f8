//! DTMF receiver conformance: generates the ITU-T Q.24 test signals (as AT&T applies the limits),
//! scores any receiver on them, and measures talk-off (false digits per hour) on a generated corpus
//! of speech, music and sweeps.
//!
//! Everything is generated, nothing is recorded: each condition plays all 16 keys, several times
//! with different seeds (random tone phases and start offsets, and noise where the condition has
//! some), on each signal path — linear, and through an A-law or a µ-law round trip. A burst passes
//! when a receiver reports exactly its key once (conditions that must be detected) or nothing at all
//! (conditions that must be rejected) between the burst's start and the next burst's start.
//!
//! The speech part of the talk-off corpus is synthesised with espeak-ng in six voices and resampled
//! with sox; it is cached, so only the first run pays for it. Music and sweeps are synthesised here.
//!
//! Nothing here is for the real-time path: it allocates freely and may run external programs.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::dtmf::{DtmfRx, DtmfRxConfig};
use super::g711;
use super::level::dbm0_to_peak;
use super::spandsp::SpandspDtmfRx;
use super::DspError;
use crate::hw::Law;

const SAMPLE_RATE_HZ: f64 = 8000.0;
/// Samples handed to a receiver per call: one 20 ms channel block, as the channel thread does.
const BLOCK_SAMPLES: usize = 160;
/// The 16 keys and their row/column frequencies (ITU-T Q.23).
const KEYS: [char; 16] = [
    '1', '2', '3', 'A', '4', '5', '6', 'B', '7', '8', '9', 'C', '*', '0', '#', 'D',
];
const ROW_FREQUENCIES_HZ: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
const COLUMN_FREQUENCIES_HZ: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
/// Every condition is played once per seed; a seed reproduces a failing burst exactly.
pub const SEEDS: [u64; 4] = [0x5EED_0001, 0x5EED_0002, 0x5EED_0003, 0x5EED_0004];
/// Level of each tone in the conditions that do not vary it: the usual test level.
const NOMINAL_LEVEL_DBM0: f64 = -10.0;
/// Tone and pause of the conditions that do not vary timing: comfortably inside Q.24's limits, so
/// those conditions test only what they vary.
const NOMINAL_ON_MS: f64 = 60.0;
const NOMINAL_PAUSE_MS: f64 = 60.0;
/// Silence before the first burst of each seed; a random part is added so bursts start at
/// arbitrary offsets within a receiver's blocks.
const LEAD_IN_MS: f64 = 20.0;
const LEAD_IN_JITTER_SAMPLES: u64 = 160;
/// Silence after the last burst, so the last digit's slot is as long as any other.
const TAIL_MS: f64 = 200.0;

/// Errors from building the talk-off corpus (the conformance signals themselves cannot fail).
#[derive(Debug, thiserror::Error)]
pub enum ConformanceError {
    #[error("{tool} is not installed: run install.sh (it installs espeak-ng and sox), then rerun")]
    ToolMissing { tool: &'static str },
    #[error("{tool} failed ({status}) on {what}: {stderr}")]
    ToolFailed {
        tool: &'static str,
        what: String,
        status: String,
        stderr: String,
    },
    #[error("talk-off cache {path}: {source}")]
    Cache { path: PathBuf, source: io::Error },
}

/// A DTMF receiver under test: linear 8 kHz samples in, digits out (one per key press).
pub trait DtmfDetector {
    fn process(&mut self, samples: &[i16]);
    fn take_digit(&mut self) -> Option<char>;
}

impl DtmfDetector for DtmfRx {
    fn process(&mut self, samples: &[i16]) {
        DtmfRx::process(self, samples);
    }

    fn take_digit(&mut self) -> Option<char> {
        DtmfRx::take_digit(self)
    }
}

impl DtmfDetector for SpandspDtmfRx {
    fn process(&mut self, samples: &[i16]) {
        SpandspDtmfRx::process(self, samples);
    }

    fn take_digit(&mut self) -> Option<char> {
        SpandspDtmfRx::take_digit(self)
    }
}

/// How the test signal reaches the receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignalPath {
    /// 16-bit linear, as generated.
    Linear,
    /// Encoded to A-law and decoded again, as on an E1 line.
    Alaw,
    /// Encoded to µ-law and decoded again, as on a T1 line.
    Ulaw,
}

impl SignalPath {
    pub const ALL: [SignalPath; 3] = [SignalPath::Linear, SignalPath::Alaw, SignalPath::Ulaw];

    /// The law whose 0 dBm0 sets the levels; the linear path uses A-law's, the default span law.
    pub fn law(self) -> Law {
        match self {
            SignalPath::Linear | SignalPath::Alaw => Law::Alaw,
            SignalPath::Ulaw => Law::Ulaw,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SignalPath::Linear => "linear",
            SignalPath::Alaw => "alaw",
            SignalPath::Ulaw => "ulaw",
        }
    }

    /// Passes `samples` through this path's codec, if any.
    fn apply(self, samples: &mut [i16]) {
        let law = match self {
            SignalPath::Linear => return,
            SignalPath::Alaw => Law::Alaw,
            SignalPath::Ulaw => Law::Ulaw,
        };
        for sample in samples.iter_mut() {
            *sample = g711::decode(law, g711::encode(law, *sample));
        }
    }
}

/// What a receiver must do with a condition's bursts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expectation {
    /// Report each burst's key exactly once.
    Detect,
    /// Report nothing.
    Reject,
}

impl Expectation {
    pub fn name(self) -> &'static str {
        match self {
            Expectation::Detect => "detect",
            Expectation::Reject => "reject",
        }
    }
}

/// One test condition: how every burst of it is shaped.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    pub name: String,
    pub expected: Expectation,
    shape: BurstShape,
}

/// The shape of each burst in a condition.
#[derive(Clone, Copy, Debug, PartialEq)]
struct BurstShape {
    low_deviation_pct: f64,
    high_deviation_pct: f64,
    low_level_dbm0: f64,
    high_level_dbm0: f64,
    /// Tone time, not counting an interruption.
    on_ms: f64,
    pause_ms: f64,
    /// Silence cut into the middle of the tone (the oscillators keep running through it).
    interruption_ms: Option<f64>,
    /// White Gaussian noise over the whole signal, this many dB below the pair's total power.
    snr_db: Option<f64>,
    /// Times each key is played in a row (a repeated key must be heard twice).
    repeats: usize,
}

impl BurstShape {
    const NOMINAL: Self = Self {
        low_deviation_pct: 0.0,
        high_deviation_pct: 0.0,
        low_level_dbm0: NOMINAL_LEVEL_DBM0,
        high_level_dbm0: NOMINAL_LEVEL_DBM0,
        on_ms: NOMINAL_ON_MS,
        pause_ms: NOMINAL_PAUSE_MS,
        interruption_ms: None,
        snr_db: None,
        repeats: 1,
    };
}

/// One row of a receiver's score: a condition on one path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConformanceRow {
    pub name: String,
    pub path: SignalPath,
    pub expected: Expectation,
    pub passed: u32,
    pub total: u32,
}

impl ConformanceRow {
    pub fn all_passed(&self) -> bool {
        self.passed == self.total
    }
}

/// A receiver's score on every condition and path, in the order of [`conditions`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DetectorScore {
    pub detector: String,
    pub rows: Vec<ConformanceRow>,
}

/// Every condition of the suite, in table order.
pub fn conditions() -> Vec<Condition> {
    let mut all = vec![condition(
        "nominal -10 dBm0, 60 ms on/off",
        true,
        BurstShape::NOMINAL,
    )];
    all.extend(frequency_conditions());
    all.extend(duration_conditions());
    all.extend(twist_conditions());
    all.extend(level_conditions());
    all.push(condition(
        "10 ms interruption in a 100 ms tone",
        true,
        BurstShape {
            on_ms: 100.0,
            interruption_ms: Some(10.0),
            ..BurstShape::NOMINAL
        },
    ));
    for level_dbm0 in [-10.0, -20.0] {
        all.push(condition(
            &format!("white noise 10 dB SNR, {level_dbm0} dBm0"),
            true,
            BurstShape {
                low_level_dbm0: level_dbm0,
                high_level_dbm0: level_dbm0,
                snr_db: Some(10.0),
                ..BurstShape::NOMINAL
            },
        ));
    }
    all
}

fn condition(name: &str, detect: bool, shape: BurstShape) -> Condition {
    Condition {
        name: name.to_string(),
        expected: if detect {
            Expectation::Detect
        } else {
            Expectation::Reject
        },
        shape,
    }
}

/// ±1.5% must be detected and ±3.5% rejected, on either tone or both (Q.24).
fn frequency_conditions() -> Vec<Condition> {
    let mut all = Vec::new();
    for (which, low, high) in [("low", 1.0, 0.0), ("high", 0.0, 1.0), ("both", 1.0, 1.0)] {
        for deviation_pct in [-3.5, -1.5, 1.5, 3.5] {
            all.push(condition(
                &format!("frequency {which} {deviation_pct:+.1}%"),
                f64::abs(deviation_pct) < 2.5,
                BurstShape {
                    low_deviation_pct: low * deviation_pct,
                    high_deviation_pct: high * deviation_pct,
                    ..BurstShape::NOMINAL
                },
            ));
        }
    }
    for (low, high) in [(1.5, -1.5), (-1.5, 1.5)] {
        all.push(condition(
            &format!("frequency low {low:+.1}% high {high:+.1}%"),
            true,
            BurstShape {
                low_deviation_pct: low,
                high_deviation_pct: high,
                ..BurstShape::NOMINAL
            },
        ));
    }
    all
}

/// 40 ms tones with 40 ms pauses must be detected (each key twice in a row, so the pause must
/// separate them); 23 ms tones must not.
fn duration_conditions() -> Vec<Condition> {
    [(23.0, false), (40.0, true), (60.0, true)]
        .into_iter()
        .map(|(on_ms, detect)| {
            condition(
                &format!("{on_ms} ms tones, 40 ms pauses, keys doubled"),
                detect,
                BurstShape {
                    on_ms,
                    pause_ms: 40.0,
                    repeats: 2,
                    ..BurstShape::NOMINAL
                },
            )
        })
        .collect()
}

/// Normal twist (low group louder) up to 8 dB and reverse twist up to 4 dB must be detected;
/// 10 dB normal and 6 dB reverse must not. The pair's mean level stays at the nominal level.
fn twist_conditions() -> Vec<Condition> {
    let mut all = Vec::new();
    for (direction, sign, accepted_db) in [("normal", 1.0, 8.0), ("reverse", -1.0, 4.0)] {
        for twist_db in [4.0, 6.0, 8.0, 10.0] {
            let half_db = sign * twist_db / 2.0;
            all.push(condition(
                &format!("twist {direction} {twist_db} dB"),
                twist_db <= accepted_db,
                BurstShape {
                    low_level_dbm0: NOMINAL_LEVEL_DBM0 + half_db,
                    high_level_dbm0: NOMINAL_LEVEL_DBM0 - half_db,
                    ..BurstShape::NOMINAL
                },
            ));
        }
    }
    all
}

/// 0 to −30 dBm0 per tone must be detected; −40 dBm0 is below any sensible threshold.
fn level_conditions() -> Vec<Condition> {
    [
        (0.0, true),
        (-10.0, true),
        (-20.0, true),
        (-25.0, true),
        (-30.0, true),
        (-40.0, false),
    ]
    .into_iter()
    .map(|(level_dbm0, detect)| {
        condition(
            &format!("level {level_dbm0} dBm0 per tone"),
            detect,
            BurstShape {
                low_level_dbm0: level_dbm0,
                high_level_dbm0: level_dbm0,
                ..BurstShape::NOMINAL
            },
        )
    })
    .collect()
}

/// Where one burst's tone starts and which key it carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Burst {
    pub key: char,
    pub start_sample: u64,
}

/// A condition rendered for one path: the samples and where the bursts are.
#[derive(Clone, Debug)]
pub struct TestSignal {
    pub samples: Vec<i16>,
    pub bursts: Vec<Burst>,
}

/// Renders `condition` for `path`: every key, `repeats` times each, for every seed, one after the
/// other. The same seed gives the same signal before the codec on every path.
pub fn render(condition: &Condition, path: SignalPath) -> TestSignal {
    let mut synth = Synth::default();
    for &seed in &SEEDS {
        let mut rng = Rng::new(seed ^ fnv1a(condition.name.as_bytes()));
        synth.silence(ms_to_samples(LEAD_IN_MS) + rng.below(LEAD_IN_JITTER_SAMPLES) as usize);
        for key in rng.shuffled(KEYS) {
            for _ in 0..condition.shape.repeats {
                synth.burst(key, &condition.shape, path.law(), &mut rng);
            }
        }
        synth.silence(ms_to_samples(TAIL_MS));
    }
    if let Some(snr_db) = condition.shape.snr_db {
        let pair_power = (tone_power(path.law(), condition.shape.low_level_dbm0)
            + tone_power(path.law(), condition.shape.high_level_dbm0))
            * 10f64.powf(-snr_db / 10.0);
        let mut rng = Rng::new(fnv1a(condition.name.as_bytes()) ^ 0x0015_E5EE_D000);
        synth.add_noise(pair_power.sqrt(), &mut rng);
    }
    let mut samples = quantize(&synth.samples);
    path.apply(&mut samples);
    TestSignal {
        samples,
        bursts: synth.bursts,
    }
}

/// Mean power of a sine at `level_dbm0`, in squared linear units.
fn tone_power(law: Law, level_dbm0: f64) -> f64 {
    let peak = f64::from(dbm0_to_peak(law, level_dbm0 as f32));
    peak * peak / 2.0
}

/// The conformance signal under construction, in floating point until the end.
#[derive(Default)]
struct Synth {
    samples: Vec<f64>,
    bursts: Vec<Burst>,
}

impl Synth {
    fn silence(&mut self, count: usize) {
        self.samples.resize(self.samples.len() + count, 0.0);
    }

    fn burst(&mut self, key: char, shape: &BurstShape, law: Law, rng: &mut Rng) {
        let index = KEYS.iter().position(|&k| k == key).unwrap_or(0);
        let low_hz = ROW_FREQUENCIES_HZ[index / 4] * (1.0 + shape.low_deviation_pct / 100.0);
        let high_hz = COLUMN_FREQUENCIES_HZ[index % 4] * (1.0 + shape.high_deviation_pct / 100.0);
        let low_peak = f64::from(dbm0_to_peak(law, shape.low_level_dbm0 as f32));
        let high_peak = f64::from(dbm0_to_peak(law, shape.high_level_dbm0 as f32));
        let (low_phase, high_phase) = (rng.phase(), rng.phase());
        let on = ms_to_samples(shape.on_ms);
        let gap = shape.interruption_ms.map_or(0, ms_to_samples);
        // The interruption sits in the middle of the tone time.
        let gap_range = on / 2..on / 2 + gap;
        self.bursts.push(Burst {
            key,
            start_sample: self.samples.len() as u64,
        });
        for n in 0..on + gap {
            let t = n as f64 / SAMPLE_RATE_HZ;
            let value = if gap_range.contains(&n) {
                0.0
            } else {
                low_peak * (std::f64::consts::TAU * low_hz * t + low_phase).sin()
                    + high_peak * (std::f64::consts::TAU * high_hz * t + high_phase).sin()
            };
            self.samples.push(value);
        }
        self.silence(ms_to_samples(shape.pause_ms));
    }

    fn add_noise(&mut self, rms: f64, rng: &mut Rng) {
        for sample in &mut self.samples {
            *sample += rms * rng.gaussian();
        }
    }
}

fn ms_to_samples(ms: f64) -> usize {
    (ms * SAMPLE_RATE_HZ / 1000.0).round() as usize
}

/// Rounds to 16-bit linear, saturating as a real codec input would clip.
fn quantize(samples: &[f64]) -> Vec<i16> {
    samples
        .iter()
        .map(|&value| value.round().clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16)
        .collect()
}

/// Feeds `samples` to `detector` block by block and returns each digit with the number of samples
/// fed when it was taken.
pub fn detect_all<D: DtmfDetector + ?Sized>(detector: &mut D, samples: &[i16]) -> Vec<(u64, char)> {
    let mut digits = Vec::new();
    let mut fed = 0u64;
    for block in samples.chunks(BLOCK_SAMPLES) {
        detector.process(block);
        fed += block.len() as u64;
        digits.extend(std::iter::from_fn(|| detector.take_digit()).map(|digit| (fed, digit)));
    }
    digits
}

/// Bursts of `signal` that `detections` handled as `expected` demands. Each burst owns the time
/// from its start to the next burst's start (the first also owns everything before it).
pub fn count_passed(signal: &TestSignal, detections: &[(u64, char)], expected: Expectation) -> u32 {
    let mut passed = 0;
    for (index, burst) in signal.bursts.iter().enumerate() {
        let from = if index == 0 { 0 } else { burst.start_sample };
        let until = signal
            .bursts
            .get(index + 1)
            .map_or(u64::MAX, |next| next.start_sample);
        let mut in_slot = detections.iter().filter(|(at, _)| (from..until).contains(at));
        let ok = match expected {
            Expectation::Detect => {
                matches!((in_slot.next(), in_slot.next()), (Some(&(_, digit)), None) if digit == burst.key)
            }
            Expectation::Reject => in_slot.next().is_none(),
        };
        passed += u32::from(ok);
    }
    passed
}

/// Scores a receiver on every condition and path. `make` builds a fresh receiver for a path's law
/// (each row starts from a new receiver, so rows are independent).
pub fn score_detector<D: DtmfDetector>(
    detector: &str,
    mut make: impl FnMut(Law) -> Result<D, DspError>,
) -> Result<DetectorScore, DspError> {
    let mut rows = Vec::new();
    for condition in conditions() {
        for path in SignalPath::ALL {
            let signal = render(&condition, path);
            let mut receiver = make(path.law())?;
            let detections = detect_all(&mut receiver, &signal.samples);
            rows.push(ConformanceRow {
                name: condition.name.clone(),
                path,
                expected: condition.expected,
                passed: count_passed(&signal, &detections, condition.expected),
                total: signal.bursts.len() as u32,
            });
        }
    }
    Ok(DetectorScore {
        detector: detector.to_string(),
        rows,
    })
}

/// telvox's receiver (default settings) and spandsp's, scored side by side: what
/// `telvox dsp conformance` prints. The two run on separate threads.
pub fn score_all() -> Result<Vec<DetectorScore>, DspError> {
    std::thread::scope(|scope| {
        let spandsp = scope.spawn(|| score_detector("spandsp", |_| SpandspDtmfRx::new()));
        let telvox = score_detector("telvox", |law| DtmfRx::new(DtmfRxConfig::for_law(law)))?;
        let spandsp = spandsp
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
        Ok(vec![telvox, spandsp])
    })
}

/// The scores as a text table, one line per condition and path, one column per receiver. All
/// scores must come from [`score_detector`] (same rows, same order).
pub fn render_table(scores: &[DetectorScore]) -> String {
    let Some(first) = scores.first() else {
        return String::new();
    };
    let name_width = first.rows.iter().map(|row| row.name.len()).max().unwrap_or(0);
    let mut out = format!("{:<name_width$}  {:<6}  {:<6}", "condition", "path", "expect");
    for score in scores {
        let _ = write!(out, "  {:>12}", score.detector);
    }
    out.push('\n');
    for (index, row) in first.rows.iter().enumerate() {
        let _ = write!(
            out,
            "{:<name_width$}  {:<6}  {:<6}",
            row.name,
            row.path.name(),
            row.expected.name()
        );
        for score in scores {
            let cell = score.rows.get(index).map_or("-".to_string(), |r| {
                let mark = if r.all_passed() { ' ' } else { '*' };
                format!("{}/{}{mark}", r.passed, r.total)
            });
            let _ = write!(out, "  {cell:>12}");
        }
        out.push('\n');
    }
    for score in scores {
        let passed: u32 = score.rows.iter().map(|row| row.passed).sum();
        let total: u32 = score.rows.iter().map(|row| row.total).sum();
        let perfect = score.rows.iter().filter(|row| row.all_passed()).count();
        let _ = writeln!(
            out,
            "{}: {passed}/{total} bursts, {perfect}/{} rows at 100% (* marks a row below 100%)",
            score.detector,
            score.rows.len()
        );
    }
    out
}

/// Prints [`render_table`] to standard output.
pub fn print_table(scores: &[DetectorScore]) {
    print!("{}", render_table(scores));
}

// ---------------------------------------------------------------------------------------------
// Talk-off
// ---------------------------------------------------------------------------------------------

/// One kind of non-DTMF audio in the talk-off corpus.
#[derive(Clone, Debug)]
pub struct CorpusPart {
    pub name: String,
    /// Linear samples after an A-law round trip (talk-off happens on real lines).
    pub samples: Vec<i16>,
}

impl CorpusPart {
    pub fn hours(&self) -> f64 {
        self.samples.len() as f64 / SAMPLE_RATE_HZ / 3600.0
    }
}

/// The talk-off corpus: speech, music and sweeps.
#[derive(Clone, Debug)]
pub struct TalkoffCorpus {
    pub parts: Vec<CorpusPart>,
}

impl TalkoffCorpus {
    pub fn hours(&self) -> f64 {
        self.parts.iter().map(CorpusPart::hours).sum()
    }
}

/// Minutes of generated music and of sweeps; the speech adds about 40 more.
const MUSIC_MINUTES: f64 = 16.0;
const SWEEP_MINUTES: f64 = 8.0;
/// Bumped whenever generation changes, so stale cache files are never reused.
const CORPUS_VERSION: u32 = 3;

/// Builds (or loads from `cache_dir`) the talk-off corpus. Needs espeak-ng and sox for the speech.
pub fn talkoff_corpus(cache_dir: &Path) -> Result<TalkoffCorpus, ConformanceError> {
    std::fs::create_dir_all(cache_dir).map_err(|source| ConformanceError::Cache {
        path: cache_dir.to_path_buf(),
        source,
    })?;
    let speech = speech_corpus(cache_dir)?;
    let music = cached(cache_dir, "music", || generate_music(MUSIC_MINUTES, 0x4D55_5349))?;
    let sweeps = cached(cache_dir, "sweeps", || {
        generate_sweeps(SWEEP_MINUTES, 0x5357_4545)
    })?;
    let parts = [("speech", speech), ("music", music), ("sweeps", sweeps)]
        .into_iter()
        .map(|(name, mut samples)| {
            SignalPath::Alaw.apply(&mut samples);
            CorpusPart {
                name: name.to_string(),
                samples,
            }
        })
        .collect();
    Ok(TalkoffCorpus { parts })
}

/// False digits a receiver reported on one part of the corpus.
#[derive(Clone, Debug, PartialEq)]
pub struct TalkoffPart {
    pub name: String,
    pub false_digits: u64,
    pub hours: f64,
}

/// False digits a receiver reports on each part of the corpus.
#[derive(Clone, Debug, PartialEq)]
pub struct TalkoffScore {
    pub detector: String,
    pub parts: Vec<TalkoffPart>,
}

impl TalkoffScore {
    pub fn false_digits(&self) -> u64 {
        self.parts.iter().map(|part| part.false_digits).sum()
    }

    pub fn per_hour(&self) -> f64 {
        let hours: f64 = self.parts.iter().map(|part| part.hours).sum();
        self.false_digits() as f64 / hours
    }
}

/// Runs a fresh receiver from `make` over each part of the corpus and counts what it reports.
pub fn score_talkoff<D: DtmfDetector>(
    detector: &str,
    corpus: &TalkoffCorpus,
    mut make: impl FnMut() -> Result<D, DspError>,
) -> Result<TalkoffScore, DspError> {
    let mut parts = Vec::new();
    for part in &corpus.parts {
        let mut receiver = make()?;
        parts.push(TalkoffPart {
            name: part.name.clone(),
            false_digits: detect_all(&mut receiver, &part.samples).len() as u64,
            hours: part.hours(),
        });
    }
    Ok(TalkoffScore {
        detector: detector.to_string(),
        parts,
    })
}

/// Talk-off scores as a text table: false digits per part, and per hour overall.
pub fn render_talkoff(scores: &[TalkoffScore]) -> String {
    let mut out = String::new();
    for score in scores {
        let _ = write!(out, "{:<8} talk-off:", score.detector);
        for part in &score.parts {
            let _ = write!(
                out,
                "  {} {} in {:.1} min",
                part.name,
                part.false_digits,
                part.hours * 60.0
            );
        }
        let _ = writeln!(out, "  => {:.2} false digits/hour", score.per_hour());
    }
    out
}

/// Loads `name` from the cache, or generates and stores it.
fn cached(
    cache_dir: &Path,
    name: &str,
    generate: impl FnOnce() -> Vec<i16>,
) -> Result<Vec<i16>, ConformanceError> {
    let path = cache_dir.join(format!("{name}-v{CORPUS_VERSION}.raw"));
    if let Ok(samples) = read_raw(&path) {
        return Ok(samples);
    }
    let samples = generate();
    write_raw(&path, &samples)?;
    Ok(samples)
}

fn read_raw(path: &Path) -> io::Result<Vec<i16>> {
    let bytes = std::fs::read(path)?;
    Ok(bytes
        .chunks_exact(2)
        .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
        .collect())
}

/// Writes under a temporary name and renames, so an interrupted run never leaves a short file.
fn write_raw(path: &Path, samples: &[i16]) -> Result<(), ConformanceError> {
    let bytes: Vec<u8> = samples.iter().flat_map(|sample| sample.to_le_bytes()).collect();
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, bytes)
        .and_then(|()| std::fs::rename(&temporary, path))
        .map_err(|source| ConformanceError::Cache {
            path: path.to_path_buf(),
            source,
        })
}

/// One espeak-ng rendering: voice (with variant), words per minute, pitch (0-99), text.
struct Utterance {
    voice: String,
    speed_wpm: u32,
    pitch: u32,
    text: &'static str,
}

/// Speeds and pitches each text is spoken at, and the voice variants (espeak-ng's +m/+f) used in
/// turn: together they move the pitch harmonics over the whole range the DTMF bins cover.
const SPEEDS_WPM: [u32; 3] = [140, 175, 210];
const PITCHES: [u32; 3] = [25, 50, 80];
const VARIANTS: [&str; 3] = ["m3", "f2", "f4"];

fn utterances() -> Vec<Utterance> {
    let mut all = Vec::new();
    for (voice, text) in SPEECH_TEXTS {
        for (index, (speed_wpm, pitch)) in SPEEDS_WPM
            .iter()
            .flat_map(|&speed| PITCHES.iter().map(move |&pitch| (speed, pitch)))
            .enumerate()
        {
            all.push(Utterance {
                voice: format!("{voice}+{}", VARIANTS[index % VARIANTS.len()]),
                speed_wpm,
                pitch,
                text,
            });
        }
    }
    all
}

/// The speech part: every utterance, levelled and separated by short silences.
fn speech_corpus(cache_dir: &Path) -> Result<Vec<i16>, ConformanceError> {
    require_tool("espeak-ng")?;
    require_tool("sox")?;
    let utterances = utterances();
    // Two workers: the machine has two cores, and each job is two short-lived processes.
    let rendered: Vec<Result<Vec<i16>, ConformanceError>> = std::thread::scope(|scope| {
        let halves: Vec<_> = [0usize, 1]
            .into_iter()
            .map(|worker| {
                let utterances = &utterances;
                scope.spawn(move || {
                    utterances
                        .iter()
                        .enumerate()
                        .filter(|(index, _)| index % 2 == worker)
                        .map(|(index, utterance)| (index, speak_cached(cache_dir, utterance)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<_> = halves
            .into_iter()
            .flat_map(|half| {
                half.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect();
        all.sort_by_key(|(index, _)| *index);
        all.into_iter().map(|(_, result)| result).collect()
    });
    let mut rng = Rng::new(0x5350_4545_4348);
    let mut speech = Vec::new();
    for samples in rendered {
        let samples = samples?;
        // Talkers differ: each utterance at its own level, from quiet to loud.
        let level_dbm0 = -24.0 + 16.0 * rng.unit();
        let samples: Vec<f64> = samples.iter().map(|&s| f64::from(s)).collect();
        speech.extend(scale_to_level(&samples, level_dbm0));
        speech.resize(speech.len() + ms_to_samples(300.0 + 500.0 * rng.unit()), 0);
    }
    Ok(speech)
}

fn require_tool(tool: &'static str) -> Result<(), ConformanceError> {
    let found = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if found {
        Ok(())
    } else {
        Err(ConformanceError::ToolMissing { tool })
    }
}

fn speak_cached(cache_dir: &Path, utterance: &Utterance) -> Result<Vec<i16>, ConformanceError> {
    let key = format!(
        "{}-{}-{}-{:016x}",
        utterance.voice,
        utterance.speed_wpm,
        utterance.pitch,
        fnv1a(utterance.text.as_bytes())
    );
    let path = cache_dir.join(format!("speech-{}.raw", key.replace('+', "_")));
    if let Ok(samples) = read_raw(&path) {
        if !samples.is_empty() {
            return Ok(samples);
        }
    }
    let samples = speak(utterance)?;
    write_raw(&path, &samples)?;
    Ok(samples)
}

/// espeak-ng → WAV on a pipe → sox → 8 kHz mono 16-bit raw.
fn speak(utterance: &Utterance) -> Result<Vec<i16>, ConformanceError> {
    let tool_error = |tool: &'static str, status: String, stderr: String| ConformanceError::ToolFailed {
        tool,
        what: utterance.voice.clone(),
        status,
        stderr,
    };
    let mut espeak = Command::new("espeak-ng")
        .args(["-v", &utterance.voice])
        .args(["-s", &utterance.speed_wpm.to_string()])
        .args(["-p", &utterance.pitch.to_string()])
        .arg("--stdout")
        .arg(utterance.text)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|_| ConformanceError::ToolMissing { tool: "espeak-ng" })?;
    let wav = espeak
        .stdout
        .take()
        .ok_or_else(|| tool_error("espeak-ng", "no stdout".into(), String::new()))?;
    let sox = Command::new("sox")
        .args([
            "-t",
            "wav",
            "-",
            "-r",
            "8000",
            "-c",
            "1",
            "-b",
            "16",
            "-e",
            "signed-integer",
            "-t",
            "raw",
            "-",
        ])
        .stdin(Stdio::from(wav))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|_| ConformanceError::ToolMissing { tool: "sox" })?;
    let sox_output = sox
        .wait_with_output()
        .map_err(|error| tool_error("sox", error.to_string(), String::new()))?;
    let espeak_output = espeak
        .wait_with_output()
        .map_err(|error| tool_error("espeak-ng", error.to_string(), String::new()))?;
    if !espeak_output.status.success() {
        let stderr = String::from_utf8_lossy(&espeak_output.stderr).into_owned();
        return Err(tool_error("espeak-ng", espeak_output.status.to_string(), stderr));
    }
    if !sox_output.status.success() || sox_output.stdout.is_empty() {
        let stderr = String::from_utf8_lossy(&sox_output.stderr).into_owned();
        return Err(tool_error("sox", sox_output.status.to_string(), stderr));
    }
    Ok(sox_output
        .stdout
        .chunks_exact(2)
        .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
        .collect())
}

/// `samples` scaled so their RMS over the active part is `level_dbm0` (A-law's 0 dBm0), rounded to
/// 16 bits. Samples more than 40 dB below the peak count as pauses and are left out of the RMS, so
/// a talker's level does not depend on how long they pause.
fn scale_to_level(samples: &[f64], level_dbm0: f64) -> Vec<i16> {
    let peak = samples.iter().fold(0.0f64, |peak, s| peak.max(s.abs()));
    let active: Vec<f64> = samples
        .iter()
        .copied()
        .filter(|s| s.abs() > peak / 100.0)
        .collect();
    if active.is_empty() {
        return quantize(samples);
    }
    let rms = (active.iter().map(|s| s * s).sum::<f64>() / active.len() as f64).sqrt();
    let gain = tone_power(Law::Alaw, level_dbm0).sqrt() / rms;
    quantize(&samples.iter().map(|&s| s * gain).collect::<Vec<_>>())
}

/// Music-like audio: melodies, chords, and melodies over chords, in equal temperament, with
/// harmonic timbres (amplitudes falling as 1/h^p), vibrato and note envelopes.
fn generate_music(minutes: f64, seed: u64) -> Vec<i16> {
    let total = ms_to_samples(minutes * 60_000.0);
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(total);
    while out.len() < total {
        let phrase = music_phrase(&mut rng);
        let level_dbm0 = -20.0 + 12.0 * rng.unit();
        out.extend(scale_to_level(&phrase, level_dbm0));
    }
    out.truncate(total);
    out
}

/// A note: MIDI number, start and length in samples.
#[derive(Clone, Copy)]
struct Note {
    midi: u32,
    start: usize,
    length: usize,
}

/// The timbre shared by a phrase's notes.
#[derive(Clone, Copy)]
struct Timbre {
    /// The phrase's A4: instruments and recordings are rarely tuned exactly to 440 Hz.
    tuning_hz: f64,
    rolloff: f64,
    odd_only: bool,
    vibrato_depth: f64,
    vibrato_hz: f64,
    attack_samples: f64,
    release_samples: f64,
}

fn music_phrase(rng: &mut Rng) -> Vec<f64> {
    let length = ms_to_samples(2000.0 + 4000.0 * rng.unit());
    let timbre = Timbre {
        tuning_hz: 440.0 * 2f64.powf((80.0 * rng.unit() - 40.0) / 1200.0),
        rolloff: 0.6 + 1.0 * rng.unit(),
        odd_only: rng.below(4) == 0,
        vibrato_depth: if rng.below(3) == 0 {
            0.0
        } else {
            0.003 + 0.009 * rng.unit()
        },
        vibrato_hz: 4.5 + 2.0 * rng.unit(),
        attack_samples: 40.0 + 300.0 * rng.unit(),
        release_samples: 160.0 + 640.0 * rng.unit(),
    };
    let mut notes = Vec::new();
    let kind = rng.below(3);
    if kind != 1 {
        melody(rng, length, &mut notes);
    }
    if kind != 0 {
        chords(rng, length, &mut notes);
    }
    let mut phrase = vec![0.0; length];
    for note in notes {
        render_note(&mut phrase, note, &timbre, rng.phase());
    }
    phrase
}

/// A single line of notes, 100-500 ms each, wandering by small steps over C4-C7.
fn melody(rng: &mut Rng, length: usize, notes: &mut Vec<Note>) {
    let mut midi = 60 + rng.below(24) as u32;
    let mut start = 0;
    while start < length {
        let note_length = ms_to_samples(100.0 + 400.0 * rng.unit());
        notes.push(Note {
            midi,
            start,
            length: note_length.min(length - start),
        });
        start += note_length;
        let step = rng.below(9) as i64 - 4;
        midi = (i64::from(midi) + step).clamp(60, 96) as u32;
    }
}

/// Chords of 2-4 notes from G3 up, 400-1500 ms each, with any interval (1-12 semitones) between
/// neighbouring notes: open voicings put two notes an octave or more apart, as a row and a column
/// frequency are.
fn chords(rng: &mut Rng, length: usize, notes: &mut Vec<Note>) {
    let mut start = 0;
    while start < length {
        let chord_length = ms_to_samples(400.0 + 1100.0 * rng.unit()).min(length - start);
        let voices = 2 + rng.below(3) as usize;
        let mut midi = 55 + rng.below(30) as u32;
        for _ in 0..voices {
            notes.push(Note {
                midi,
                start,
                length: chord_length,
            });
            midi += 1 + rng.below(12) as u32;
        }
        start += chord_length;
    }
}

/// Adds one note with its harmonics (up to 3.6 kHz), vibrato and envelope.
fn render_note(out: &mut [f64], note: Note, timbre: &Timbre, phase: f64) {
    let fundamental_hz = timbre.tuning_hz * 2f64.powf((f64::from(note.midi) - 69.0) / 12.0);
    let harmonics: Vec<(f64, f64)> = (1..=12u32)
        .filter(|&h| !timbre.odd_only || h % 2 == 1)
        .map(|h| (f64::from(h), f64::from(h).powf(-timbre.rolloff)))
        .filter(|&(h, _)| h * fundamental_hz < 3600.0)
        .collect();
    let mut phases = vec![phase; harmonics.len()];
    for n in 0..note.length {
        let t = n as f64 / SAMPLE_RATE_HZ;
        let vibrato = 1.0 + timbre.vibrato_depth * (std::f64::consts::TAU * timbre.vibrato_hz * t).sin();
        let envelope = (n as f64 / timbre.attack_samples)
            .min(1.0)
            .min((note.length - n) as f64 / timbre.release_samples);
        let mut value = 0.0;
        for ((h, amplitude), phase) in harmonics.iter().zip(&mut phases) {
            value += amplitude * phase.sin();
            *phase += std::f64::consts::TAU * fundamental_hz * h * vibrato / SAMPLE_RATE_HZ;
        }
        if let Some(slot) = out.get_mut(note.start + n) {
            *slot += envelope * value;
        }
    }
}

/// Sine sweeps between 300 and 3400 Hz, linear and logarithmic, up and down, at rates from a few
/// hundred Hz/s to over 10 kHz/s.
fn generate_sweeps(minutes: f64, seed: u64) -> Vec<i16> {
    let total = ms_to_samples(minutes * 60_000.0);
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(total);
    let mut phase = 0.0;
    while out.len() < total {
        let seconds = 0.25 * 80f64.powf(rng.unit());
        let count = (seconds * SAMPLE_RATE_HZ) as usize;
        let (from_hz, to_hz): (f64, f64) = if rng.below(2) == 0 {
            (300.0, 3400.0)
        } else {
            (3400.0, 300.0)
        };
        let logarithmic = rng.below(2) == 0;
        let peak = f64::from(dbm0_to_peak(Law::Alaw, (-25.0 + 20.0 * rng.unit()) as f32));
        for n in 0..count {
            let progress = n as f64 / count as f64;
            let hz = if logarithmic {
                from_hz * (to_hz / from_hz).powf(progress)
            } else {
                from_hz + (to_hz - from_hz) * progress
            };
            phase += std::f64::consts::TAU * hz / SAMPLE_RATE_HZ;
            out.push((peak * phase.sin()).round() as i16);
        }
    }
    out.truncate(total);
    out
}

/// FNV-1a: a stable hash for seeds and cache keys (std's hasher is not stable across releases).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xCBF2_9CE4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01B3)
    })
}

/// SplitMix64: small, fast, and good enough for test signals; a seed reproduces a run exactly.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn phase(&mut self) -> f64 {
        std::f64::consts::TAU * self.unit()
    }

    /// Standard normal, by Box-Muller.
    fn gaussian(&mut self) -> f64 {
        let radius = (-2.0 * (1.0 - self.unit()).ln()).sqrt();
        radius * (std::f64::consts::TAU * self.unit()).cos()
    }

    fn shuffled<T: Copy, const N: usize>(&mut self, mut items: [T; N]) -> [T; N] {
        for index in (1..N).rev() {
            items.swap(index, self.below(index as u64 + 1) as usize);
        }
        items
    }
}

/// The talk-off texts, one per voice: ordinary call-centre and everyday language, written for
/// this corpus. Each is spoken at every speed and pitch above.
const SPEECH_TEXTS: [(&str, &str); 6] = [
    (
        "en-us",
        "Thank you for calling the customer service line. Your call is important to us, and it \
         may be recorded so that we can improve the way we answer the phone. If you are calling \
         about a delivery that has not arrived, please have your order number ready. Most parcels \
         leave our warehouse within two working days, and the driver will send a message in the \
         morning with a time window. If nobody is at home, the parcel goes back to the depot, \
         where it waits for a week. You can also change the address, ask for a refund, or talk \
         about a broken item. Our opening hours are from eight in the morning until six in the \
         evening, Monday to Friday, and until noon on Saturday. While you wait, remember that \
         many questions are answered on our web site, where you can track the parcel, print a \
         return label, and read the answers to common questions about payments and invoices.",
    ),
    (
        "en-gb",
        "Good afternoon, this is the weather and travel summary for the south of the country. \
         After a bright start, cloud will spread from the west during the late morning, bringing \
         showers to the hills by lunchtime and a little drizzle to the coast later on. Winds will \
         be light at first, then fresh and gusty near the cliffs. Temperatures will reach fifteen \
         degrees in the sunniest places but only eleven under the thicker cloud. On the roads, \
         there are long queues on the ring road because of repairs to a bridge, and one lane is \
         closed near the airport. Trains are running normally, although the late service to the \
         harbour has been replaced by a bus. Tomorrow looks drier, with sunny spells and a gentle \
         breeze, so it should be a good day for a walk along the river or a visit to the market.",
    ),
    (
        "cmn",
        "您好，欢迎致电客户服务中心。我们的工作时间是每天早上八点到晚上八点。如果您想查询订单，\
         请准备好您的订单号码。如果您的包裹还没有到，我们会帮您联系快递公司。今天天气很好，\
         阳光明媚，气温大约二十度，适合出去散步。城市的公园里有很多人在锻炼身体，有的人在跑步，\
         有的人在打太极拳，还有孩子们在草地上放风筝。晚上我们一家人一起吃饭，妈妈做了红烧鱼和\
         青菜豆腐汤，爸爸讲了他年轻时候在农村生活的故事。周末我们打算去图书馆借几本书，\
         然后去博物馆看看新的展览。谢谢您的耐心等待，我们的工作人员马上为您服务。",
    ),
    (
        "ko",
        "안녕하세요, 고객 센터에 전화해 주셔서 감사합니다. 상담 시간은 평일 오전 아홉 시부터 \
         오후 여섯 시까지입니다. 주문 번호를 준비해 주시면 더 빠르게 도와드릴 수 있습니다. \
         오늘은 하늘이 맑고 바람이 조금 불어서 산책하기 좋은 날씨입니다. 공원에는 자전거를 \
         타는 사람들과 강아지와 함께 걷는 사람들이 많습니다. 저녁에는 가족과 함께 따뜻한 \
         된장찌개와 김치를 먹고, 주말에는 시장에 가서 과일과 채소를 살 계획입니다. 잠시만 \
         기다려 주시면 상담원이 곧 연결해 드리겠습니다. 이용해 주셔서 고맙습니다.",
    ),
    (
        "de",
        "Guten Tag und herzlich willkommen bei unserem Kundendienst. Wenn Sie Fragen zu Ihrer \
         Rechnung haben, halten Sie bitte Ihre Kundennummer bereit. Unsere Mitarbeiter sind von \
         Montag bis Freitag zwischen acht und achtzehn Uhr für Sie da. Heute ist das Wetter \
         wechselhaft, am Vormittag scheint die Sonne, am Nachmittag ziehen Wolken auf und es kann \
         regnen. Auf der Autobahn gibt es wegen einer Baustelle einen langen Stau, und die Bahn \
         fährt am Abend nur jede Stunde. Am Wochenende möchten wir mit den Kindern in den Wald \
         gehen, Pilze suchen und danach im Gasthaus Kuchen essen. Vielen Dank für Ihre Geduld, \
         der nächste freie Mitarbeiter wird Ihren Anruf gleich entgegennehmen.",
    ),
    (
        "fr",
        "Bonjour et bienvenue sur la ligne du service client. Pour suivre une commande, munissez \
         vous de votre numéro de dossier. Nos conseillers vous répondent du lundi au vendredi, de \
         neuf heures à dix-huit heures, et le samedi matin. Aujourd'hui, le ciel est dégagé sur \
         la côte, mais des nuages arrivent par l'ouest et quelques averses sont possibles en fin \
         de journée. Dans le centre ville, la circulation est difficile à cause des travaux près \
         de la gare. Ce week-end, nous irons au marché acheter du pain, du fromage et des fruits, \
         puis nous ferons une promenade au bord du fleuve. Merci de votre patience, un conseiller \
         va prendre votre appel dans quelques instants.",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_condition_has_every_key_on_every_seed() {
        for condition in conditions() {
            let signal = render(&condition, SignalPath::Linear);
            let expected = KEYS.len() * SEEDS.len() * condition.shape.repeats;
            assert_eq!(signal.bursts.len(), expected, "{}", condition.name);
        }
    }

    #[test]
    fn rendering_is_deterministic() {
        let condition = &conditions()[0];
        let a = render(condition, SignalPath::Alaw);
        let b = render(condition, SignalPath::Alaw);
        assert_eq!(a.samples, b.samples);
        assert_eq!(a.bursts, b.bursts);
    }

    #[test]
    fn slots_score_exact_detection_only() {
        let signal = TestSignal {
            samples: vec![0; 3000],
            bursts: vec![
                Burst {
                    key: '1',
                    start_sample: 100,
                },
                Burst {
                    key: '2',
                    start_sample: 1000,
                },
                Burst {
                    key: '3',
                    start_sample: 2000,
                },
            ],
        };
        let detections = [(500, '1'), (1500, '2'), (1600, '2'), (2500, '4')];
        assert_eq!(count_passed(&signal, &detections, Expectation::Detect), 1);
        assert_eq!(count_passed(&signal, &[(50, '1')], Expectation::Reject), 2);
    }

    #[test]
    fn noise_has_the_requested_power() {
        let mut rng = Rng::new(7);
        let power: f64 = (0..100_000).map(|_| rng.gaussian().powi(2)).sum::<f64>() / 100_000.0;
        assert!((power - 1.0).abs() < 0.02, "{power}");
    }

    #[test]
    fn table_has_a_line_per_row_and_a_summary_per_detector() {
        let rows = vec![ConformanceRow {
            name: "x".into(),
            path: SignalPath::Alaw,
            expected: Expectation::Detect,
            passed: 3,
            total: 4,
        }];
        let scores = [
            DetectorScore {
                detector: "a".into(),
                rows: rows.clone(),
            },
            DetectorScore {
                detector: "b".into(),
                rows,
            },
        ];
        let table = render_table(&scores);
        assert_eq!(table.lines().count(), 1 + 1 + 2, "{table}");
        assert!(table.contains("3/4*"), "{table}");
    }
}
