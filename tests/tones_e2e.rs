//! Tones played by the sim's network and by the engine, end to end on the lockstep sim card: the
//! caller's ringback and failure tones, busy-tone disconnect on a line without loop-current
//! disconnect, and the IVR `tone` action and the record beep. What the caller heard is analysed
//! per 20 ms block by Goertzel energy share, so frequency and cadence are both checked, to the
//! block.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::Value;
use telvox::dsp::g711;
use telvox::dsp::level::rms_dbm0;
use telvox::dsp::tones::{Country, ProgressDetector, ProgressEvent};
use telvox::hw::sim::client::{run_call, CallOutcome, Heard};
use telvox::hw::sim::protocol::DaemonOp;
use telvox::hw::{Block, Law, BLOCK_SAMPLES};

const WAIT: Duration = Duration::from_secs(20);

/// Share of a block's energy at `freq_hz` (Goertzel, 0..=1; a pure tone at that frequency ≈ 1).
fn share(samples: &[i16], freq_hz: f64) -> f64 {
    let coefficient = 2.0 * (2.0 * std::f64::consts::PI * freq_hz / 8000.0).cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &sample in samples {
        let s0 = f64::from(sample) + coefficient * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let bin = s1 * s1 + s2 * s2 - coefficient * s1 * s2;
    let total: f64 = samples.iter().map(|&s| f64::from(s).powi(2)).sum();
    if total < 1e3 {
        return 0.0;
    }
    2.0 * bin / (samples.len() as f64 * total)
}

fn decode(law: Law, codes: &[u8]) -> Vec<i16> {
    codes.iter().map(|&c| g711::decode(law, c)).collect()
}

/// Per 20 ms block: does the tone made of `freqs_hz` carry most of it? (For a pair, each
/// frequency must carry a fair share.)
fn tone_blocks(samples: &[i16], freqs_hz: &[f64]) -> Vec<bool> {
    samples
        .chunks_exact(BLOCK_SAMPLES)
        .map(|block| {
            let shares: Vec<f64> = freqs_hz.iter().map(|&f| share(block, f)).collect();
            shares.iter().sum::<f64>() > 0.8 && shares.iter().all(|&s| s > 0.25)
        })
        .collect()
}

/// Run lengths of a block pattern, as (tone?, blocks).
fn runs(pattern: &[bool]) -> Vec<(bool, usize)> {
    let mut out: Vec<(bool, usize)> = Vec::new();
    for &on in pattern {
        match out.last_mut() {
            Some((value, count)) if *value == on => *count += 1,
            _ => out.push((on, 1)),
        }
    }
    out
}

fn events(country: Country, samples: &[i16]) -> Vec<ProgressEvent> {
    let mut detector = ProgressDetector::new(country);
    let mut found = Vec::new();
    for block in samples.chunks(BLOCK_SAMPLES) {
        detector.process(block);
        while let Some(event) = detector.take_event() {
            found.push(event);
        }
    }
    found
}

/// A daemon whose hardware map is `hw` (written next to the config) and whose config text gets
/// `edit`.
fn daemon_with_hw(hw: &str, edit: impl FnOnce(String) -> String) -> TestDaemon {
    let daemon = TestDaemon::prepare(|c| edit(format!("hw = \"hw.toml\"\n{c}")));
    std::fs::write(daemon.dir.path().join("hw.toml"), hw).expect("write hw.toml");
    daemon.launch()
}

fn hw_map(ring: (u32, u32), span: &str) -> String {
    format!(
        "card = \"sim\"\nring_on_ms = {}\nring_off_ms = {}\n\n[[span]]\nname = \"trunks\"\nrole = \"trunk\"\n\
         numbers = [\"_X.\"]\n{span}\n",
        ring.0, ring.1
    )
}

fn silent_call(daemon: &TestDaemon, number: &str, hangup_at: Option<usize>) -> CallOutcome {
    let mut party = daemon.party();
    run_call(&mut party, &dial(number, "13800138000"), WAIT, |blocks, _| {
        if hangup_at.is_some_and(|h| blocks >= h) {
            return None;
        }
        Some(silence())
    })
    .expect("call")
}

fn path_of(daemon: &TestDaemon, uniqueid: &str) -> Vec<(String, i64)> {
    let calls = daemon.cli_json(&["calls", "--json", "--path", "--limit", "100"]);
    let call = calls
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["uniqueid"] == uniqueid)
        .unwrap_or_else(|| panic!("call {uniqueid} not in the log: {calls:#}"))
        .clone();
    call["path"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|step| {
            (
                step["state"].as_str().unwrap_or_default().to_string(),
                step["at_ms"].as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

fn ended_call(daemon: &TestDaemon, uniqueid: &str) -> Value {
    let calls = daemon.wait_calls("the call to end", |calls| {
        calls
            .iter()
            .any(|c| c["uniqueid"] == uniqueid && c["end"].is_string())
    });
    calls
        .into_iter()
        .find(|c| c["uniqueid"] == uniqueid)
        .expect("call")
}

// ---- ringback ---------------------------------------------------------------------------------------

#[test]
fn a_caller_hears_the_spans_ringback_in_cadence_until_the_answer() {
    // China (the default plan): 450 Hz, 1 s on, 4 s off. The line test answers when the second
    // ring ends (1 s + 4 s + 1 s = 6 s), so the caller hears one whole cycle and the next burst.
    let daemon = TestDaemon::start_with(|c| set_key(&c, "answer_after_rings", "2"));
    let outcome = silent_call(&daemon, "8999", Some(10));
    assert!(outcome.answered);
    let early = decode(Law::Alaw, &outcome.early);
    // One block per tick of ringing, including the tick of the answer (which falls in the gap).
    assert_eq!(
        early.len(),
        301 * BLOCK_SAMPLES,
        "6 s of ringback, one block per tick"
    );
    assert_eq!(
        runs(&tone_blocks(&early, &[450.0])),
        [(true, 50), (false, 200), (true, 50), (false, 1)],
        "1 s of 450 Hz, 4 s of silence, 1 s of 450 Hz"
    );
    assert_eq!(events(Country::Cn, &early), [ProgressEvent::Ringback]);
    // At the plan's level: -10 dBm0 (the first second is all tone).
    let level = rms_dbm0(Law::Alaw, &early[..50 * BLOCK_SAMPLES]);
    assert!((level + 10.0).abs() < 0.2, "ringback at {level:.2} dBm0");
    // `heard` (what `--save` writes) starts at the answer: no ringback in it.
    assert!(tone_blocks(&decode(Law::Alaw, &outcome.heard), &[450.0])
        .iter()
        .all(|&t| !t));
}

#[test]
fn a_us_span_plays_the_precise_tone_plan_ringback_in_mu_law() {
    // 440 + 480 Hz, 2 s on, 4 s off; the ring cadence of the map is the US one too.
    let hw = hw_map((2000, 4000), "law = \"ulaw\"\nchannels = 2\ncountry = \"us\"");
    let daemon = daemon_with_hw(&hw, |c| set_key(&c, "answer_after_rings", "2"));
    let outcome = silent_call(&daemon, "8999", Some(10));
    assert!(outcome.answered);
    let early = decode(Law::Ulaw, &outcome.early);
    assert_eq!(
        runs(&tone_blocks(&early, &[440.0, 480.0])),
        [(true, 100), (false, 200), (true, 100), (false, 1)]
    );
    assert_eq!(events(Country::Us, &early), [ProgressEvent::Ringback]);
    // -19 dBm0 per frequency: -16 dBm0 for the pair.
    let level = rms_dbm0(Law::Ulaw, &early[..100 * BLOCK_SAMPLES]);
    assert!((level + 16.0).abs() < 0.2, "ringback at {level:.2} dBm0");
}

// ---- failure tones -----------------------------------------------------------------------------------

#[test]
fn a_number_that_does_not_exist_gets_sit_then_unallocated() {
    let daemon = TestDaemon::start();
    // "1" matches no span; "1234" reaches a channel but no flow, which refuses it while ringing.
    for number in ["1", "1234"] {
        let outcome = silent_call(&daemon, number, None);
        assert!(!outcome.answered);
        assert_eq!(outcome.cause.as_deref(), Some("UNALLOCATED"), "{number}");
        let early = decode(Law::Alaw, &outcome.early);
        // "1234" rings for the tick the channel takes to refuse it: a block of ringback first.
        let ringback = tone_blocks(&early, &[450.0]).iter().take_while(|&&t| t).count();
        assert_eq!(ringback, usize::from(number == "1234"), "{number}");
        let early = &early[ringback * BLOCK_SAMPLES..];
        // ITU SIT once: 950, 1400, 1800 Hz for 330 ms each, then 1 s of silence (99 whole ticks).
        assert_eq!(early.len(), 99 * BLOCK_SAMPLES, "{number}");
        let segments: Vec<Vec<(bool, usize)>> = [950.0, 1400.0, 1800.0]
            .iter()
            .map(|&f| runs(&tone_blocks(early, &[f])))
            .collect();
        // 330 ms = 16.5 blocks: each tone fills 16 blocks whole; the blocks across an edge hold two.
        assert!(
            segments[0][0] == (true, 16),
            "{number}: 950 Hz first: {:?}",
            segments[0]
        );
        assert!(
            segments[1].contains(&(true, 16)) && !segments[1][0].0,
            "{number}: then 1400 Hz: {:?}",
            segments[1]
        );
        assert!(
            segments[2].contains(&(true, 16)),
            "{number}: then 1800 Hz: {:?}",
            segments[2]
        );
        let quiet_tail = early[50 * BLOCK_SAMPLES..].iter().all(|&s| s.abs() < 16);
        assert!(quiet_tail, "{number}: the second second is SIT's pause");
    }
}

#[test]
fn all_trunks_busy_gets_two_cycles_of_congestion_tone_then_the_hangup() {
    let hw = hw_map((1000, 4000), "law = \"alaw\"\nchannels = 1");
    let daemon = daemon_with_hw(&hw, |c| set_key(&c, "answer_after_rings", "0"));
    // Hold the only trunk: a caller answered on the offer who then sends nothing, so the lockstep
    // card waits for it and the call cannot end before the second caller dials (a holder that
    // kept talking let the line test run to its goodbye first, on a fast enough run).
    let mut holder = daemon.party();
    holder.send_control(&dial("8999", "1")).expect("holder dials");
    loop {
        match holder.recv(Some(WAIT)).expect("holder") {
            Heard::Control(DaemonOp::Answered { .. }) => break,
            Heard::Control(DaemonOp::Ringing) | Heard::Audio(_) => {}
            other => panic!("holder: {other:?}"),
        }
    }
    let outcome = silent_call(&daemon, "8999", None);
    drop(holder);
    assert_eq!(outcome.cause.as_deref(), Some("NORMAL_CIRCUIT_CONGESTION"));
    let early = decode(Law::Alaw, &outcome.early);
    // China's congestion: 450 Hz, 700 ms on, 700 ms off, twice.
    assert_eq!(
        runs(&tone_blocks(&early, &[450.0])),
        [(true, 35), (false, 35), (true, 35), (false, 35)]
    );
    assert_eq!(events(Country::Cn, &early), [ProgressEvent::Congestion]);
}

// ---- busy-tone disconnect ------------------------------------------------------------------------------

const TONE_DISCONNECT_SPAN: &str =
    "law = \"alaw\"\nchannels = 2\ncountry = \"cn\"\nfar_end_hangup = \"tone\"\ndisconnect_tone = true";

/// Calls the line test on a tone-disconnect span of `country` (in `law`) and hangs up mid-prompt;
/// returns how long after the hangup telvox recognised the busy tone (ms of call time).
fn busy_tone_disconnect(country: &str, law: &str) -> i64 {
    let span = format!(
        "law = \"{law}\"\nchannels = 2\ncountry = \"{country}\"\nfar_end_hangup = \"tone\"\n\
         disconnect_tone = true"
    );
    let daemon = daemon_with_hw(&hw_map((1000, 4000), &span), |c| c);
    // The line test answers at 1000 ms; the caller hangs up after 100 blocks, in the welcome prompt.
    let outcome = silent_call(&daemon, "8999", Some(100));
    assert!(outcome.answered, "{country}");
    let id = outcome.call_id.clone().expect("call id");
    let call = ended_call(&daemon, &id);
    assert_eq!(call["disposition"], "ANSWERED", "{country}");
    assert_eq!(call["hangup_cause"], "NORMAL_CLEARING", "{country}");
    // Path times are wall-clock epoch ms of the call's sample clock: count from the offer.
    let path = path_of(&daemon, &id);
    let offered_at_ms = path.first().map(|(_, at)| *at).expect("a path");
    let (_, busy_at_ms) = path
        .iter()
        .find(|(state, _)| state == "busy_tone")
        .unwrap_or_else(|| panic!("{country}: no busy_tone in the path: {path:?}"))
        .clone();
    assert_eq!(path.last().map(|(s, _)| s.as_str()), Some("busy_tone"));
    daemon.wait_all_idle();
    // The line is free again for the next call, which works normally.
    let next = call_with_keys(&mut daemon.party(), "8999", "7#", 300, None);
    assert!(next.answered);
    assert_eq!(next.cause.as_deref(), Some("NORMAL_CLEARING"));
    // The caller's hangup reaches the card after its 100th block: 1000 + 100 × 20 ms = 3000 ms of
    // call time.
    busy_at_ms - offered_at_ms - 3000
}

#[test]
fn a_caller_hanging_up_mid_prompt_on_a_tone_disconnect_line_is_cleared_on_the_busy_tone() {
    // Each plan's busy tone, recognised within two of its cadence cycles (and not before the
    // first has passed, which would mean something else cleared the call).
    for (country, law, cycle_ms) in [
        ("cn", "alaw", 700),
        ("us", "ulaw", 1000),
        ("uk", "alaw", 750),
        ("eu", "alaw", 1000),
        ("kr", "alaw", 1000),
    ] {
        let after_ms = busy_tone_disconnect(country, law);
        println!(
            "{country}: busy tone recognised {after_ms} ms after the far end hung up (2 cycles = {} ms)",
            2 * cycle_ms
        );
        assert!(
            (cycle_ms..=2 * cycle_ms).contains(&after_ms),
            "{country}: recognised {after_ms} ms after the hangup, cycle {cycle_ms} ms"
        );
    }
}

/// espeak-ng speech, 8 kHz, telephone band, cached under target/ like tests/tones.rs's corpus.
fn speech(text: &str, voice: &str) -> Vec<i16> {
    let cache = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tone-speech-cache");
    std::fs::create_dir_all(&cache).expect("cache dir");
    let key = text.bytes().fold(0xCBF2_9CE4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
    });
    let path = cache.join(format!("e2e-{voice}-{key:016x}.raw"));
    let bytes = match std::fs::read(&path) {
        Ok(bytes) if !bytes.is_empty() => bytes,
        _ => {
            let script = format!(
                "espeak-ng -v {voice} -s 160 --stdout \"$1\" | sox -t wav - -r 8000 -c 1 -b 16 \
                 -e signed-integer -L -t raw - sinc 300-3400"
            );
            let out = Command::new("sh")
                .args(["-c", &script, "speak", text])
                .stderr(Stdio::null())
                .output()
                .expect("espeak-ng and sox run (install.sh --deps-only installs them)");
            assert!(
                out.status.success() && !out.stdout.is_empty(),
                "espeak-ng | sox failed"
            );
            let temporary = path.with_extension("tmp");
            std::fs::write(&temporary, &out.stdout).expect("write cache");
            std::fs::rename(&temporary, &path).expect("rename cache");
            out.stdout
        }
    };
    bytes
        .chunks_exact(2)
        .map(|p| i16::from_le_bytes([p[0], p[1]]))
        .collect()
}

#[test]
fn a_caller_talking_on_a_tone_disconnect_line_is_not_hung_up() {
    let daemon = daemon_with_hw(&hw_map((1000, 4000), TONE_DISCONNECT_SPAN), |c| {
        set_key(&c, "timeout_ms", "60000")
    });
    // About 40 s of continuous speech in two languages, loud (peaks near full scale), from the
    // first block; then the keys.
    let mut talk = speech(
        "Hello, I am calling about my order. It was supposed to arrive on Tuesday, but nothing came, \
         and the tracking page has said out for delivery for three days now. Could you check what \
         happened, and whether it can still come this week? My number is one three eight, zero zero \
         one three, eight zero zero zero. Thank you, I will hold.",
        "en",
    );
    talk.extend(speech(
        "你好，我想查一下我的订单。本来星期二应该到的，可是到现在还没有收到，物流信息三天都显示正在派送。\
         麻烦你帮我看看是怎么回事，这个星期还能不能送到？我的电话是一三八零零一三八零零零。谢谢，我等一下。",
        "cmn",
    ));
    let peak = talk.iter().map(|s| s.unsigned_abs()).max().unwrap_or(1).max(1);
    let blocks: Vec<Block> = talk
        .chunks(BLOCK_SAMPLES)
        .map(|chunk| {
            let mut block = silence();
            for (code, &s) in block.iter_mut().zip(chunk) {
                let scaled = (i32::from(s) * 24_000 / i32::from(peak)) as i16;
                *code = g711::encode(Law::Alaw, scaled);
            }
            block
        })
        .collect();
    assert!(
        blocks.len() > 1000,
        "at least 20 s of speech ({} blocks)",
        blocks.len()
    );
    let keys = key_blocks("1#");
    let mut party = daemon.party();
    let outcome = run_call(&mut party, &dial("8999", "13800138000"), WAIT, |n, _| {
        Some(
            blocks
                .get(n)
                .copied()
                .or_else(|| keys.get(n - blocks.len()).copied())
                .unwrap_or_else(silence),
        )
    })
    .expect("call");
    assert_eq!(
        outcome.cause.as_deref(),
        Some("NORMAL_CLEARING"),
        "telvox said goodbye"
    );
    let id = outcome.call_id.expect("id");
    let call = ended_call(&daemon, &id);
    assert_eq!(
        call["digits"], "1#",
        "the call lasted through the speech to the keys"
    );
    let path = path_of(&daemon, &id);
    assert!(
        path.iter().all(|(state, _)| state != "busy_tone"),
        "speech was taken for busy tone: {path:?}"
    );
}

// ---- the tone action and the record beep -------------------------------------------------------------

const TONE_FLOW: &str = r#"
start = "tones"
language = "en"
languages = ["en"]
answer_after_rings = 0

[tones]
tone = { name = "busy", ms = 2100 }
next = "beep"

[beep]
tone = "beep"
next = "press"

[press]
tone = { name = "dial", ms = 5000 }
next = "bye"

[bye]
hangup = true
"#;

#[test]
fn the_tone_action_plays_the_calls_plan_and_a_key_barges_in() {
    let daemon = TestDaemon::prepare(|c| c.replace("[numbers]\n", "[numbers]\n\"7000\" = \"tones\"\n"));
    std::fs::write(daemon.dir.path().join("flows/tones.toml"), TONE_FLOW).expect("flow");
    let daemon = daemon.launch();
    // Press 5 two seconds into the dial tone (answer at once: blocks count from the answer).
    let keys = key_blocks("5");
    let press_at = 105 + 13 + 100;
    let mut party = daemon.party();
    let outcome = run_call(&mut party, &dial("7000", "13800138000"), WAIT, |n, _| {
        Some(
            n.checked_sub(press_at)
                .and_then(|k| keys.get(k).copied())
                .unwrap_or_else(silence),
        )
    })
    .expect("call");
    assert!(outcome.answered);
    let heard = decode(Law::Alaw, &outcome.heard);
    let busy = tone_blocks(&heard, &[450.0]);
    // Busy, China: 350 ms on / 350 ms off for 2.1 s = 3 cycles: 17.5 blocks on, 17.5 off, from the
    // first block (the channel's block k carries what the flow mixed for it).
    let first = runs(&busy[..105]);
    println!("busy runs: {first:?}");
    assert_eq!(
        first.iter().filter(|(on, _)| *on).count(),
        3,
        "three bursts: {first:?}"
    );
    assert!(
        first.iter().all(|&(_, n)| (16..=19).contains(&n)),
        "350 ms ± a block: {first:?}"
    );
    assert_eq!(
        events(Country::Cn, &heard[..105 * BLOCK_SAMPLES]),
        [ProgressEvent::Busy]
    );
    // Then the 1400 Hz beep, 250 ms (12.5 blocks).
    let beep = runs(&tone_blocks(&heard[105 * BLOCK_SAMPLES..], &[1400.0]));
    assert_eq!(
        beep[0],
        (true, 12),
        "the beep right after the busy tone: {beep:?}"
    );
    // Then dial tone (450 Hz continuous) until the key stops it, about 2 s in.
    let dial_tone = tone_blocks(&heard[(105 + 13) * BLOCK_SAMPLES..], &[450.0]);
    let dial_runs = runs(&dial_tone);
    assert!(dial_runs[0].0, "dial tone starts after the beep: {dial_runs:?}");
    let stopped_after = dial_runs[0].1;
    assert!(
        (100..=110).contains(&stopped_after),
        "the key barged in about 2 s into the 5 s tone: {dial_runs:?}"
    );
    assert_eq!(outcome.cause.as_deref(), Some("NORMAL_CLEARING"));
    let call = ended_call(&daemon, outcome.call_id.as_deref().unwrap());
    assert_eq!(call["digits"], "5");
}

#[test]
fn record_plays_the_beep_before_recording() {
    let flow = r#"
start = "rec"
language = "en"
languages = ["en"]
answer_after_rings = 0

[rec]
record = { into = "msg", max_ms = 2000, silence_ms = 1000 }
next = "bye"

[bye]
hangup = true
"#;
    let daemon = TestDaemon::prepare(|c| c.replace("[numbers]\n", "[numbers]\n\"7001\" = \"rec\"\n"));
    std::fs::write(daemon.dir.path().join("flows/rec.toml"), flow).expect("flow");
    let daemon = daemon.launch();
    let outcome = silent_call(&daemon, "7001", None);
    let heard = decode(Law::Alaw, &outcome.heard);
    let beep = runs(&tone_blocks(&heard, &[1400.0]));
    assert_eq!(beep[0], (true, 12), "the caller hears the beep first: {beep:?}");
    assert!(beep[1..].iter().all(|&(on, _)| !on), "once: {beep:?}");
}

#[test]
fn without_the_detector_the_exchange_signals_the_hangup_after_a_minute_of_busy_tone() {
    // far_end_hangup = "tone" but telvox not listening: the line test (waiting 60 s for keys) is
    // left on busy tone until the exchange gives up and signals the hangup, 60 s after the caller's.
    let span = "law = \"alaw\"\nchannels = 1\nfar_end_hangup = \"tone\"";
    let daemon = daemon_with_hw(&hw_map((1000, 4000), span), |c| {
        set_key(&c, "timeout_ms", "60000")
    });
    let outcome = silent_call(&daemon, "8999", Some(100));
    let id = outcome.call_id.expect("id");
    let call = ended_call(&daemon, &id);
    assert_eq!(call["hangup_cause"], "NORMAL_CLEARING");
    // Offer to end: 1 s of ring, 2 s of call, 60 s of busy tone.
    assert_eq!(call["duration"], 63, "{call:#}");
    let path = path_of(&daemon, &id);
    assert!(path.iter().all(|(state, _)| state != "busy_tone"), "{path:?}");
}

#[test]
fn on_the_realtime_clock_ringback_and_failure_tones_are_paced_by_the_card() {
    let daemon = TestDaemon::start_with(|c| set_key(&c, "clock", "\"realtime\""));
    // Ringback for the first ring (1 s), then the answer; hang up at once.
    let started = std::time::Instant::now();
    let outcome = silent_call(&daemon, "8999", Some(1));
    assert!(outcome.answered);
    let early = decode(Law::Alaw, &outcome.early);
    let ringback = tone_blocks(&early, &[450.0]);
    let on = ringback.iter().filter(|&&t| t).count();
    assert!(
        (49..=51).contains(&on),
        "about 1 s of 450 Hz: {:?}",
        runs(&ringback)
    );
    // A number that does not exist: SIT paced over ~2 s of wall time, then the hangup.
    let started_sit = std::time::Instant::now();
    let outcome = silent_call(&daemon, "1", None);
    let took = started_sit.elapsed();
    assert_eq!(outcome.cause.as_deref(), Some("UNALLOCATED"));
    assert_eq!(
        outcome.early.len(),
        99 * BLOCK_SAMPLES,
        "every SIT block, none dropped"
    );
    assert!(
        took >= Duration::from_millis(1800) && took < Duration::from_secs(5),
        "SIT took {took:?} of wall time"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn bad_tone_actions_are_located_with_the_fix() {
    use telvox::apps::ivr::{parse_text, Registry};
    let voice = Path::new(env!("CARGO_MANIFEST_DIR")).join("voice");
    let check = |text: &str| -> Vec<String> {
        let (flow, diags) = parse_text("t", Path::new("t.toml"), text, Some(&voice), &Registry::builtin());
        assert_eq!(flow.is_some(), diags.is_empty(), "{diags:?}");
        diags.iter().map(|d| d.to_string()).collect()
    };
    let ok =
        "start = \"a\"\nlanguage = \"en\"\n[a]\ntone = { name = \"congestion\", ms = 1000 }\nnext = \"b\"\n\
              [b]\ntone = \"sit\"\nrecord = { into = \"m\", beep = false }\nhangup = true\n";
    assert_eq!(check(ok), Vec::<String>::new());
    let bad = "start = \"a\"\nlanguage = \"en\"\n[a]\ntone = \"busy\"\nnext = \"b\"\n[b]\ntone = \"howl\"\n\
               next = \"c\"\n[c]\ntone = { name = \"dial\", ms = 0 }\nhangup = true\n";
    let found = check(bad);
    assert_eq!(found.len(), 3, "{found:?}");
    assert!(
        found[0].starts_with("t.toml:4:8: error: [a] tone = \"busy\": this tone repeats until stopped"),
        "{found:?}"
    );
    assert!(found[1].starts_with("t.toml:7:8: error:"), "{found:?}");
    assert!(found[1].contains("a tone name: \"dial\""), "{found:?}");
    assert!(
        found[2].starts_with("t.toml:10:30: error: [c] tone = 0"),
        "{found:?}"
    );
    assert!(found[2].contains("milliseconds from 20 to 60000"), "{found:?}");
}
