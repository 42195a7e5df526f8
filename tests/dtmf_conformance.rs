//! DTMF receiver conformance (ITU-T Q.24 as AT&T applies it): telvox's receiver must pass every
//! row of the suite in `telvox::dsp::conformance`, stay within the talk-off budget, and hear every
//! key of long random strings exactly once. spandsp's receiver is scored beside it for comparison
//! and never asserted.
//!
//! The talk-off test synthesises an hour of audio (speech with espeak-ng and sox, cached under
//! target/) and runs only in optimised builds: `cargo test --release --test dtmf_conformance`.

use std::time::Instant;

use telvox::dsp::conformance::{self, TalkoffCorpus};
use telvox::dsp::dtmf::{DtmfEvent, DtmfRx, DtmfRxConfig};
use telvox::dsp::dtmf_gen::{DtmfConfig, DtmfGenerator, MAX_QUEUED_KEYS};
use telvox::dsp::g711;
use telvox::dsp::spandsp::SpandspDtmfRx;
use telvox::hw::Law;

/// Talk-off budget: false digits per hour of speech, music and sweeps.
const TALKOFF_BUDGET_PER_HOUR: f64 = 1.0;
/// The corpus must hold at least this much audio for the budget to mean anything.
const TALKOFF_MIN_HOURS: f64 = 1.0;

#[test]
fn telvox_passes_every_conformance_row() {
    let started = Instant::now();
    let scores = conformance::score_all().expect("receivers");
    println!("{}", conformance::render_table(&scores));
    println!("scored in {:.1} s", started.elapsed().as_secs_f64());
    let telvox = scores
        .iter()
        .find(|score| score.detector == "telvox")
        .expect("telvox score");
    let failing: Vec<String> = telvox
        .rows
        .iter()
        .filter(|row| !row.all_passed())
        .map(|row| format!("{} [{}]: {}/{}", row.name, row.path.name(), row.passed, row.total))
        .collect();
    assert!(failing.is_empty(), "rows below 100%:\n{}", failing.join("\n"));
}

fn talkoff_corpus() -> TalkoffCorpus {
    let cache = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("talkoff-cache");
    match conformance::talkoff_corpus(&cache) {
        Ok(corpus) => corpus,
        Err(error) => panic!("cannot build the talk-off corpus: {error}"),
    }
}

#[test]
fn talkoff_stays_within_one_false_digit_per_hour() {
    let started = Instant::now();
    let corpus = talkoff_corpus();
    let built_s = started.elapsed().as_secs_f64();
    assert!(
        corpus.hours() >= TALKOFF_MIN_HOURS,
        "corpus is only {:.2} h",
        corpus.hours()
    );
    let telvox = conformance::score_talkoff("telvox", &corpus, || DtmfRx::new(DtmfRxConfig::default()))
        .expect("telvox receiver");
    let spandsp = conformance::score_talkoff("spandsp", &corpus, SpandspDtmfRx::new).expect("spandsp");
    print!("{}", conformance::render_talkoff(&[telvox.clone(), spandsp]));
    println!(
        "corpus {:.1} min, built/loaded in {built_s:.1} s, scored in {:.1} s",
        corpus.hours() * 60.0,
        started.elapsed().as_secs_f64() - built_s
    );
    assert!(
        telvox.per_hour() <= TALKOFF_BUDGET_PER_HOUR,
        "telvox: {:.2} false digits per hour",
        telvox.per_hour()
    );
}

/// Plays `keys` through telvox's generator and a G.711 round trip into telvox's receiver, feeding
/// the generator's bounded queue as it drains, and returns every event heard.
fn send_through_line(law: Law, keys: &str) -> Vec<DtmfEvent> {
    let mut generator = DtmfGenerator::new(DtmfConfig::new(law)).expect("generator");
    let mut receiver = DtmfRx::new(DtmfRxConfig::for_law(law)).expect("receiver");
    let mut pending = keys;
    let mut heard = Vec::new();
    let mut linear = [0i16; 160];
    let mut codes = [0u8; 160];
    let mut idle_blocks = 0;
    // The last key's end needs its gap plus the bridging time; ten idle blocks is ample.
    while idle_blocks < 10 {
        let room = MAX_QUEUED_KEYS - generator.queued();
        let (now, later) = pending.split_at(room.min(pending.len()));
        generator.queue(now).expect("queue");
        pending = later;
        let busy = generator.fill(&mut linear);
        g711::encode_block(law, &linear, &mut codes);
        g711::decode_block(law, &codes, &mut linear);
        receiver.process(&linear);
        heard.extend(std::iter::from_fn(|| receiver.take_event()));
        idle_blocks = if busy || !pending.is_empty() {
            0
        } else {
            idle_blocks + 1
        };
    }
    heard
}

#[test]
fn long_random_strings_are_heard_exactly_once_per_key_through_both_laws() {
    // The generator's defaults: 60 ms tones, 60 ms gaps, -10 dBm0 per tone.
    let tone_samples = 480;
    for (law, seed) in [(Law::Alaw, 0x1234_5678_u64), (Law::Ulaw, 0x9E37_79B9_7F4A_7C15)] {
        let keys = random_keys(seed, 1000);
        let events = send_through_line(law, &keys);
        let starts: String = events
            .iter()
            .filter(|event| event.duration_samples.is_none())
            .map(|event| event.digit)
            .collect();
        assert_eq!(starts, keys, "{law:?} seed {seed:#x}");
        // Every start is followed by its end, which measures the tone to within 4 ms.
        for pair in events.chunks(2) {
            let [start, end] = pair else {
                panic!("{law:?}: unpaired event {pair:?}");
            };
            assert_eq!((end.digit, end.start_sample), (start.digit, start.start_sample));
            let duration = end.duration_samples.expect("an end event");
            assert!(duration.abs_diff(tone_samples) <= 32, "{law:?}: {end:?}");
        }
    }
}

/// Random keys from all 16, with repeats (xorshift64, so a seed reproduces the string).
fn random_keys(seed: u64, count: usize) -> String {
    const KEYS: &[u8] = b"0123456789*#ABCD";
    let mut state = seed | 1;
    (0..count)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(KEYS[(state % KEYS.len() as u64) as usize])
        })
        .collect()
}
