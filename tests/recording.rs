//! Call recording end to end: a real daemon on the sim card, far-end parties, the CLI, the files on
//! disk (decoded and correlated with what the parties sent and heard; opened by sox) and the rows.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use telvox::dsp::g711;
use telvox::hw::sim::client::{run_call, CallOutcome, Heard, Party};
use telvox::hw::sim::protocol::DaemonOp;
use telvox::hw::{Block, Law, BLOCK_SAMPLES};

/// A decoded WAV file, its header checked against its length.
#[derive(Debug)]
struct Wav {
    tag: u16,
    channels: u16,
    bits: u16,
    data: Vec<u8>,
}

fn read_wav(path: &Path) -> Wav {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[0..4], b"RIFF", "{}", path.display());
    assert_eq!(&bytes[8..12], b"WAVE");
    let riff = u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
    assert_eq!(
        riff,
        bytes.len() - 8,
        "{}: RIFF size matches the file",
        path.display()
    );
    let mut at = 12;
    let (mut tag, mut channels, mut bits) = (0, 0, 0);
    loop {
        let id = &bytes[at..at + 4];
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        if id == b"fmt " {
            let f = &bytes[at + 8..];
            tag = u16::from_le_bytes([f[0], f[1]]);
            channels = u16::from_le_bytes([f[2], f[3]]);
            bits = u16::from_le_bytes([f[14], f[15]]);
        }
        if id == b"data" {
            assert_eq!(
                len,
                bytes.len() - at - 8,
                "{}: data size matches the file",
                path.display()
            );
            return Wav {
                tag,
                channels,
                bits,
                data: bytes[at + 8..].to_vec(),
            };
        }
        at += 8 + len + (len & 1);
    }
}

impl Wav {
    /// (caller, telvox) for stereo; (mix, empty) for mono.
    fn channels_linear(&self) -> (Vec<i16>, Vec<i16>) {
        match (self.tag, self.channels) {
            (6, 1) => (
                self.data.iter().map(|&b| g711::decode(Law::Alaw, b)).collect(),
                Vec::new(),
            ),
            (1, 1) => (pcm(&self.data), Vec::new()),
            (1, 2) => {
                let all = pcm(&self.data);
                (
                    all.iter().step_by(2).copied().collect(),
                    all.iter().skip(1).step_by(2).copied().collect(),
                )
            }
            other => panic!("unexpected WAV format {other:?}"),
        }
    }
}

fn pcm(data: &[u8]) -> Vec<i16> {
    data.chunks_exact(2)
        .map(|s| i16::from_le_bytes([s[0], s[1]]))
        .collect()
}

fn decode(bytes: &[u8]) -> Vec<i16> {
    bytes.iter().map(|&b| g711::decode(Law::Alaw, b)).collect()
}

fn sox_opens(path: &Path) -> String {
    let out = std::process::Command::new("sox")
        .arg("--i")
        .arg(path)
        .output()
        .expect("sox is installed");
    assert!(
        out.status.success(),
        "sox --i {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Appends `[recording]`/`[[record]]` settings to the test config. Rings hold a minute unless
/// the test says otherwise: a lockstep card runs many times faster than real time, which a ring
/// sized for real time (4 s by default) could not absorb between two passes of the recorder.
fn with_recording(extra: &'static str) -> impl FnOnce(String) -> String {
    move |c| {
        let c = set_key(&c, "timeout_ms", "10000");
        let extra = if extra.contains("[recording]") {
            extra.to_string()
        } else {
            format!("[recording]\nring_ms = 60000\n{extra}")
        };
        format!("{c}\n{extra}\n")
    }
}

fn rec_search(daemon: &TestDaemon, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["rec", "search", "--json"];
    all.extend_from_slice(args);
    let out = daemon.cli(&all);
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "rec search: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Waits until `count` recordings (deleted ones included) are finished and checksummed.
fn wait_recordings(daemon: &TestDaemon, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let rows = rec_search(daemon, &["--deleted", "--limit", "1000"]);
        let done = rows
            .iter()
            .filter(|r| r["status"] != "recording" && r["sha256"].is_string())
            .count();
        if done >= count {
            return rows;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {count} finished recordings: {rows:#?}\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A lockstep call: dial `number` from `from`, press `keys` at block `keys_at`, hang up at
/// `hangup_at` (or when telvox does); returns the outcome and every block sent.
fn call(
    daemon: &TestDaemon,
    number: &str,
    from: &str,
    keys: &str,
    keys_at: usize,
    hangup_at: Option<usize>,
) -> (CallOutcome, Vec<Block>) {
    let keys = key_blocks(keys);
    let mut sent = Vec::new();
    let mut party = daemon.party();
    let outcome = run_call(
        &mut party,
        &dial(number, from),
        Duration::from_secs(20),
        |blocks, _| {
            if hangup_at.is_some_and(|h| blocks >= h) || blocks > 3000 {
                return None;
            }
            let block = blocks
                .checked_sub(keys_at)
                .and_then(|k| keys.get(k).copied())
                .unwrap_or_else(silence);
            sent.push(block);
            Some(block)
        },
    )
    .expect("call");
    assert!(outcome.answered, "{outcome:?}");
    (outcome, sent)
}

/// Finds the shift (in samples, within ±4 blocks) at which `recorded` holds `expected` exactly
/// over their overlap (leaving out the last blocks, where the call's end cuts either side).
fn exact_shift(recorded: &[i16], expected: &[i16]) -> Option<i64> {
    let span = 4 * BLOCK_SAMPLES as i64;
    (-span..=span).step_by(BLOCK_SAMPLES).find(|&shift| {
        let (r0, e0) = if shift >= 0 {
            (shift as usize, 0)
        } else {
            (0, (-shift) as usize)
        };
        let len = recorded
            .len()
            .saturating_sub(r0)
            .min(expected.len().saturating_sub(e0));
        let len = len.saturating_sub(4 * BLOCK_SAMPLES);
        len > 8000 && recorded[r0..r0 + len] == expected[e0..e0 + len]
    })
}

#[test]
fn every_format_records_what_the_caller_sent_and_heard_at_the_right_times() {
    let daemon = TestDaemon::start_with(with_recording(
        "[[record]]\nname = \"a\"\ncaller = [\"_1001\"]\nformat = \"alaw\"\n\
         [[record]]\nname = \"p\"\ncaller = [\"_1002\"]\nformat = \"pcm16\"\n\
         [[record]]\nname = \"s\"\ncaller = [\"_1003\"]\nformat = \"stereo\"\n",
    ));
    let keys_at = 400;
    let mut calls = Vec::new();
    for from in ["1001", "1002", "1003"] {
        calls.push(call(&daemon, "8999", from, "5#", keys_at, None));
    }
    // A caller no rule names is not recorded.
    call(&daemon, "8999", "1004", "5#", keys_at, None);
    let rows = wait_recordings(&daemon, 3);
    assert_eq!(rows.len(), 3, "{rows:#?}");
    let dtmf = decode(&key_blocks("5").concat());
    for (from, (outcome, sent)) in ["1001", "1002", "1003"].iter().zip(&calls) {
        let row = rows
            .iter()
            .find(|r| r["caller"] == *from)
            .expect("a row per recorded call");
        let call_id = outcome.call_id.clone().unwrap();
        assert_eq!(row["uniqueid"], call_id.as_str());
        assert_eq!(row["called"], "8999");
        assert_eq!(row["flow"], "linetest");
        assert_eq!(row["channel"], outcome.channel.clone().unwrap().as_str());
        assert_eq!(row["status"], "complete");
        assert_eq!(row["dropped_blocks"], 0);
        let path = PathBuf::from(row["path"].as_str().unwrap());
        assert!(
            path.to_string_lossy().ends_with(&format!("{call_id}.wav")),
            "named by call id under YYYY/MM/DD: {}",
            path.display()
        );
        let sox = sox_opens(&path);
        assert!(sox.contains("8000"), "{sox}");
        let wav = read_wav(&path);
        let (first, second) = wav.channels_linear();
        let heard = decode(&outcome.heard);
        let said = decode(&sent.concat());
        // The duration in the row is the audio's.
        let seconds = row["duration_s"].as_f64().unwrap();
        assert!(
            (seconds - first.len() as f64 / 8000.0).abs() < 0.05,
            "{seconds} s"
        );
        assert!(
            (seconds - heard.len() as f64 / 8000.0).abs() < 0.2,
            "{seconds} s vs the call's"
        );
        match row["format"].as_str().unwrap() {
            "stereo" => {
                assert_eq!((wav.channels, wav.bits), (2, 16));
                // Left is the caller, sample for sample (its key at the block it was pressed);
                // right is telvox, sample for sample (the prompts where the caller heard them).
                let left = exact_shift(&first, &said).expect("the left channel is what the caller sent");
                let right = exact_shift(&second, &heard).expect("the right channel is what the caller heard");
                // The caller's block reaches the card one block after the party sent it (the sim
                // far end's lockstep latency); telvox's is heard in the block it was written.
                assert_eq!(
                    (left, right),
                    (BLOCK_SAMPLES as i64, 0),
                    "both directions on one clock"
                );
                let key_at = (keys_at * BLOCK_SAMPLES) as i64 + left;
                let key_at = key_at as usize;
                assert_eq!(
                    &first[key_at..key_at + dtmf.len()],
                    &dtmf[..],
                    "the DTMF at the right time"
                );
                let prompt = decode(&prompt_alaw("en", "you-entered"));
                let heard_at = find_i16(&heard, &prompt).expect("the caller heard you-entered");
                let recorded_at = find_i16(&second, &prompt).expect("telvox's side holds you-entered");
                assert_eq!(
                    recorded_at as i64,
                    heard_at as i64 + right,
                    "the prompt at the right time"
                );
                assert!(recorded_at > key_at, "said back after the key");
                continue;
            }
            "pcm16" => assert_eq!((wav.tag, wav.channels, wav.bits), (1, 1, 16)),
            "alaw" => assert_eq!((wav.tag, wav.channels, wav.bits), (6, 1, 8)),
            other => panic!("format {other}"),
        }
        // The mono file is the two directions mixed, sample for sample, once each direction is
        // aligned (each within a few blocks of the answer).
        let alaw = row["format"] == "alaw";
        let shifted = |x: &[i16], d: i64| -> Vec<i16> {
            let pad = vec![0i16; d.max(0) as usize];
            pad.into_iter()
                .chain(x.iter().skip((-d).max(0) as usize).copied())
                .collect()
        };
        let blocks = |n: i64| n * BLOCK_SAMPLES as i64;
        let found = (-4..=4)
            .flat_map(|a| (-4..=4).map(move |b| (a, b)))
            .find(|&(a, b)| {
                let (s, h) = (shifted(&said, blocks(a)), shifted(&heard, blocks(b)));
                let expected: Vec<i16> = mix(&s, &h)
                    .map(|x| {
                        if alaw {
                            g711::decode(Law::Alaw, g711::encode(Law::Alaw, x))
                        } else {
                            x
                        }
                    })
                    .collect();
                let from = blocks(8) as usize;
                let to = first.len().min(expected.len()) - from;
                to > 8000 && first[from..to] == expected[from..to]
            });
        // At the caller's and telvox's times as in stereo: the caller's block reaches the card
        // one block after the party sent it (the sim far end's lockstep latency).
        assert_eq!(found, Some((1, 0)), "the mono file is both directions mixed");
    }
    // The call log links each recording to its call.
    let calls_logged = daemon.calls();
    for row in &rows {
        assert!(calls_logged.iter().any(|c| c["uniqueid"] == row["uniqueid"]));
    }
    let out = daemon.cli(&["rec", "verify"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn mix<'a>(a: &'a [i16], b: &'a [i16]) -> impl Iterator<Item = i16> + 'a {
    a.iter().zip(b).map(|(x, y)| x.saturating_add(*y))
}

fn find_i16(hay: &[i16], needle: &[i16]) -> Option<usize> {
    (0..=hay.len().checked_sub(needle.len())?).find(|&i| hay[i..i + needle.len()] == *needle)
}

#[test]
fn a_throttled_recorder_overflows_the_ring_drops_are_counted_and_the_call_stays_clean() {
    let daemon = TestDaemon::start_with(with_recording(
        "[recording]\nring_ms = 200\ntest_throttle_ms = 20\n[[record]]\nall = true\nformat = \"stereo\"\n",
    ));
    let (outcome, _) = call(&daemon, "8999", "1001", "7#", 400, None);
    // The call went on as if nothing were recorded.
    assert_prompts_in_order(&outcome.heard, "en", &["you-entered", "digit-7", "goodbye"]);
    let calls = daemon.wait_calls("the call", |c| c.len() == 1 && c[0]["end"].is_string());
    assert_eq!(calls[0]["digits"], "7#");
    let rows = wait_recordings(&daemon, 1);
    let dropped = rows[0]["dropped_blocks"].as_u64().unwrap();
    assert!(dropped > 0, "the ring overflowed: {rows:#?}");
    // The dropped blocks' time is kept (silence), so the file is as long as the call.
    let seconds = rows[0]["duration_s"].as_f64().unwrap();
    let call_seconds = outcome.heard.len() as f64 / 8000.0;
    assert!(
        (seconds - call_seconds).abs() < 0.5,
        "{seconds} s recorded, call {call_seconds} s"
    );
    let status = daemon.cli_json(&["status", "--json"]);
    assert_eq!(
        status["recording"]["dropped_blocks"].as_u64(),
        Some(dropped),
        "{status}"
    );
    assert_eq!(status["counters"]["dropped_events"], 0);
    let log = daemon.log();
    assert!(
        log.contains(&format!("{dropped} block(s) dropped")),
        "the drops are logged with the call:\n{log}"
    );
    let text = String::from_utf8(daemon.cli(&["status"]).stdout).unwrap();
    assert!(text.contains(&format!("{dropped} dropped blocks")), "{text}");
}

/// Reads the daemon's messages until `answered`, ignoring audio.
fn wait_answered(party: &mut Party) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        match party.recv(Some(Duration::from_secs(20))).expect("recv") {
            Heard::Control(DaemonOp::Answered { call, .. }) => return call,
            Heard::Control(DaemonOp::Hangup { cause }) => panic!("refused: {cause}"),
            _ => {}
        }
    }
    panic!("not answered");
}

#[test]
fn kill_9_with_20_recordings_in_progress_then_every_file_is_a_valid_wav_and_every_row_closed() {
    // Realtime clock: the card keeps time by itself while the callers just listen.
    let mut daemon = TestDaemon::start_with(|c| {
        let c = set_key(&c, "clock", "\"realtime\"");
        let c = set_key(&c, "timeout_ms", "60000");
        format!("{c}\n[[record]]\nall = true\nformat = \"stereo\"\n")
    });
    let mut parties: Vec<Party> = (0..20).map(|_| daemon.party()).collect();
    for (i, party) in parties.iter().enumerate() {
        party.send_control(&dial("8999", &format!("555{i:02}"))).unwrap();
    }
    let ids: Vec<String> = parties.iter_mut().map(wait_answered).collect();
    let answered = Instant::now();
    // Let them talk a while: the recorder writes at least every second.
    std::thread::sleep(Duration::from_millis(3500));
    let status = daemon.cli_json(&["status", "--json"]);
    assert_eq!(status["recording"]["active"], 20, "{status}");
    let killed_after_s = answered.elapsed().as_secs_f64();
    daemon.kill_9();
    drop(parties);

    let dir = daemon.dir.path().join("data/recordings");
    daemon.relaunch();
    let rows = rec_search(&daemon, &["--limit", "100"]);
    assert_eq!(rows.len(), 20, "{rows:#?}");
    for id in &ids {
        let row = rows
            .iter()
            .find(|r| r["uniqueid"] == id.as_str())
            .expect("a row per call");
        assert_eq!(row["status"], "interrupted", "closed at restart: {row}");
        let path = PathBuf::from(row["path"].as_str().unwrap());
        assert!(path.starts_with(&dir));
        sox_opens(&path);
        let wav = read_wav(&path);
        assert_eq!(wav.channels, 2);
        let seconds = wav.data.len() as f64 / 32000.0;
        // Up to about the moment of the kill: at most one flush interval (1 s) lost, plus the
        // answer skew between the callers and slack for a loaded machine.
        assert!(
            seconds > killed_after_s - 2.5 && seconds <= killed_after_s + 0.5,
            "{}: {seconds} s of audio, killed {killed_after_s} s after the answers",
            path.display()
        );
        assert!((row["duration_s"].as_f64().unwrap() - seconds).abs() < 0.01);
    }
    let parts: Vec<_> = walk(&dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".part"))
        .collect();
    assert!(parts.is_empty(), "no .part left: {parts:?}");
    let out = daemon.cli(&["rec", "verify"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn retention_deletes_past_the_age_and_then_the_oldest_beyond_the_size_and_marks_their_rows() {
    // pcm16: 16,000 bytes a second; each call is 2 s (64 KB would be two of them).
    let daemon = TestDaemon::start_with(with_recording(
        "[[record]]\nname = \"r\"\nall = true\nformat = \"pcm16\"\nmax_age_days = 30\nmax_total_mb = 0.07\n",
    ));
    let mut ids = Vec::new();
    for n in 0..4 {
        let (outcome, _) = call(&daemon, "8999", "1001", "", 10_000, Some(100));
        ids.push(outcome.call_id.unwrap());
        wait_recordings(&daemon, n + 1);
        if n == 1 {
            // The first recording is now 100 days old.
            let db = rusqlite::Connection::open(daemon.db_path()).unwrap();
            db.execute(
                "UPDATE recordings SET start_ms = start_ms - 100 * 86400000 WHERE uniqueid = ?1",
                [&ids[0]],
            )
            .unwrap();
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let rows = loop {
        let rows = rec_search(&daemon, &["--deleted"]);
        if rows.iter().filter(|r| r["deleted"] == true).count() >= 2 || Instant::now() > deadline {
            break rows;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let by_id = |id: &str| rows.iter().find(|r| r["uniqueid"] == id).cloned().unwrap();
    let db = rusqlite::Connection::open(daemon.db_path()).unwrap();
    let reason = |id: &str| -> Option<String> {
        db.query_row(
            "SELECT deleted_reason FROM recordings WHERE uniqueid = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!(by_id(&ids[0])["deleted"], true);
    assert_eq!(reason(&ids[0]).as_deref(), Some("max_age"));
    assert_eq!(
        by_id(&ids[1])["deleted"],
        true,
        "the oldest goes first when over the size"
    );
    assert_eq!(reason(&ids[1]).as_deref(), Some("max_total"));
    for id in &ids[2..] {
        assert_eq!(by_id(id)["deleted"], false);
        assert!(Path::new(by_id(id)["path"].as_str().unwrap()).is_file());
    }
    for id in &ids[..2] {
        assert!(
            !Path::new(by_id(id)["path"].as_str().unwrap()).exists(),
            "its file is gone"
        );
    }
    // Search leaves deleted ones out; play refuses them.
    assert_eq!(rec_search(&daemon, &[]).len(), 2);
    let out_file = daemon.dir.path().join("old.wav");
    let out = daemon.cli(&["rec", "play", &ids[0], "--out", out_file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let status = daemon.cli_json(&["status", "--json"]);
    assert_eq!(status["recording"]["deleted"], 2);
}

#[test]
fn below_the_disk_watermark_calls_go_on_unrecorded_and_status_raises_the_alarm() {
    let daemon = TestDaemon::start_with(with_recording(
        "[recording]\nmin_free_mb = 10000000\nring_ms = 60000\n[[record]]\nall = true\n",
    ));
    let events = daemon.events();
    let (outcome, _) = call(&daemon, "8999", "1001", "3#", 400, None);
    assert_prompts_in_order(&outcome.heard, "en", &["you-entered", "digit-3", "goodbye"]);
    let status = daemon.cli_json(&["status", "--json"]);
    assert_eq!(status["recording"]["low_disk_alarm"], true, "{status}");
    assert_eq!(status["recording"]["refused_low_disk"], 1, "{status}");
    assert_eq!(status["recording"]["started"], 0, "{status}");
    let text = String::from_utf8(daemon.cli(&["status"]).stdout).unwrap();
    assert!(text.contains("ALARM"), "{text}");
    // The call that went unrecorded raises the alarm on the event stream.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut lines = Vec::new();
    let alarm = loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match events.lines.recv_timeout(remaining) {
            Ok(line) if line.contains("\"alarm\"") => break serde_json::from_str::<Value>(&line).unwrap(),
            Ok(line) => lines.push(line),
            Err(_) => panic!("no alarm event; events: {lines:#?}"),
        }
    };
    drop(events);
    assert_eq!(alarm["alarm"], "recording_low_disk");
    assert_eq!(alarm["active"], true);
    assert!(alarm["calls_unrecorded"].as_u64().unwrap() >= 1, "{alarm}");
    assert!(daemon.log().contains("below min_free_mb"), "{}", daemon.log());
}

const ON_DEMAND_FLOW: &str = "start = \"r\"\nlanguage = \"en\"\n\
    [r]\nrecord_call = { action = \"start\", format = \"stereo\" }\n\
    play = { prompts = [\"please-enter\"], barge_in = false }\n\
    record = { into = \"msg\", max_ms = 8000, silence_ms = 1500, beep = false }\nnext = \"bye\"\n\
    [bye]\nrecord_call = \"stop\"\nplay = { prompts = [\"goodbye\"], barge_in = false }\nhangup = true\n";

#[test]
fn record_call_in_a_flow_runs_beside_the_flows_own_record_and_stops_on_request() {
    let daemon = TestDaemon::prepare(|c| c.replace("[numbers]\n", "[numbers]\n\"8105\" = \"od\"\n"));
    let flows = daemon.dir.path().join("flows");
    std::fs::write(flows.join("od.toml"), ON_DEMAND_FLOW).unwrap();
    let daemon = daemon.launch();
    let (outcome, sent) = call(&daemon, "8105", "1001", "1234#", 150, None);
    assert_prompts_in_order(&outcome.heard, "en", &["please-enter", "goodbye"]);
    let rows = wait_recordings(&daemon, 1);
    assert_eq!(rows[0]["rule"], "on_demand");
    assert_eq!(rows[0]["format"], "stereo");
    assert_eq!(rows[0]["flow"], "od");
    let wav = read_wav(Path::new(rows[0]["path"].as_str().unwrap()));
    let (left, right) = wav.channels_linear();
    let heard = decode(&outcome.heard);
    assert!(
        exact_shift(&left, &decode(&sent.concat())).is_some(),
        "the caller's side"
    );
    let shift = exact_shift(&right, &heard).expect("telvox's side");
    // Stopped before goodbye: the file ends where `bye` began.
    let goodbye_at = find_i16(&heard, &decode(&prompt_alaw("en", "goodbye"))).unwrap() as i64;
    let end = right.len() as i64 - shift;
    assert!(
        (end - goodbye_at).abs() <= 2 * BLOCK_SAMPLES as i64,
        "ends at {end}, goodbye at {goodbye_at}"
    );
    // The flow's own recording of the message was made too (in recordings/, as before).
    let msgs: Vec<_> = std::fs::read_dir(daemon.dir.path().join("data/recordings"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_file())
        .collect();
    assert_eq!(msgs.len(), 1, "the message file");
}

#[test]
fn telvox_record_starts_and_stops_a_call_in_progress() {
    let daemon = TestDaemon::start_with(with_recording(
        "[recording]\non_demand_format = \"alaw\"\nring_ms = 60000\n",
    ));
    let mut party = daemon.party();
    let mut answers = Vec::new();
    let outcome = run_call(
        &mut party,
        &dial("8999", "1001"),
        Duration::from_secs(20),
        |blocks, _| {
            let id = || {
                daemon
                    .channels()
                    .into_iter()
                    .find(|c| c["state"] == "up")
                    .unwrap()["uniqueid"]
                    .as_str()
                    .unwrap()
                    .to_string()
            };
            if blocks == 50 {
                answers.push(daemon.cli_json(&["record", &id(), "start"]));
            }
            if blocks == 150 {
                answers.push(daemon.cli_json(&["record", &id(), "stop"]));
            }
            (blocks < 200).then(silence)
        },
    )
    .unwrap();
    assert_eq!(answers[0]["recording"], true, "{answers:?}");
    assert_eq!(answers[1]["was_recording"], true, "{answers:?}");
    let rows = wait_recordings(&daemon, 1);
    assert_eq!(rows[0]["uniqueid"], outcome.call_id.unwrap().as_str());
    assert_eq!(rows[0]["format"], "alaw");
    assert_eq!(rows[0]["caller"], "1001", "filled in from the call log");
    let seconds = rows[0]["duration_s"].as_f64().unwrap();
    assert!(
        (seconds - 2.0).abs() <= 0.1,
        "100 blocks between start and stop: {seconds} s"
    );
    let out = daemon.cli(&["record", "1.2", "start"]);
    assert_eq!(out.status.code(), Some(2), "no such call");
}

#[test]
fn rec_search_play_export_and_verify_through_the_cli() {
    let daemon = TestDaemon::start_with(with_recording("[[record]]\nall = true\nformat = \"alaw\"\n"));
    let (a, _) = call(&daemon, "8999", "13800138000", "", 10_000, Some(100));
    let (b, _) = call(&daemon, "8999", "1002", "", 10_000, Some(200));
    wait_recordings(&daemon, 2);
    let found = rec_search(&daemon, &["--caller", "138"]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["uniqueid"], a.call_id.clone().unwrap().as_str());
    let long = rec_search(&daemon, &["--min-duration", "3"]);
    assert_eq!(long.len(), 1);
    assert_eq!(long[0]["uniqueid"], b.call_id.clone().unwrap().as_str());
    assert_eq!(rec_search(&daemon, &["--from", "today"]).len(), 2);
    assert_eq!(
        daemon.cli(&["rec", "search", "--agent", "7"]).status.code(),
        Some(1),
        "no match: 1"
    );
    assert_eq!(
        daemon.cli(&["rec", "search", "--to", "2000-01-01"]).status.code(),
        Some(1)
    );

    let out_file = daemon.dir.path().join("a.wav");
    let out = daemon.cli(&[
        "rec",
        "play",
        a.call_id.as_deref().unwrap(),
        "--out",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(&out_file).unwrap(),
        std::fs::read(found[0]["path"].as_str().unwrap()).unwrap()
    );
    sox_opens(&out_file);

    let export = daemon.dir.path().join("export");
    let out = daemon.cli(&["rec", "export", "--from", "1h", export.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let index: Value = serde_json::from_slice(&std::fs::read(export.join("index.json")).unwrap()).unwrap();
    assert_eq!(index.as_array().unwrap().len(), 2);
    for entry in index.as_array().unwrap() {
        sox_opens(&export.join(entry["export"].as_str().unwrap()));
    }

    // Damage one file, lose the other, leave a stray: verify names each and exits 1.
    let pa = PathBuf::from(found[0]["path"].as_str().unwrap());
    let pb = PathBuf::from(long[0]["path"].as_str().unwrap());
    let mut bytes = std::fs::read(&pa).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(&pa, bytes).unwrap();
    std::fs::remove_file(&pb).unwrap();
    let stray = pa.with_file_name("stray.wav");
    std::fs::write(&stray, b"x").unwrap();
    let out = daemon.cli(&["rec", "verify", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["damaged"], serde_json::json!([pa.display().to_string()]));
    assert_eq!(report["missing"], serde_json::json!([pb.display().to_string()]));
    assert_eq!(
        report["orphaned"],
        serde_json::json!([stray.display().to_string()])
    );
    let out = daemon.cli(&[
        "rec",
        "play",
        a.call_id.as_deref().unwrap(),
        "--out",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "a damaged file is refused");
}

#[test]
fn bad_record_rules_are_reported_with_file_line_and_column() {
    let daemon = TestDaemon::prepare(|c| {
        format!(
            "{c}\n[recording]\nmin_free_mb = -1\nbogus = 1\n\
             [[record]]\nformat = \"mp3\"\n\
             [[record]]\ncalled = [\"_8Q\"]\nflow = [\"nope\"]\nmax_total_mb = 0\n"
        )
    });
    let text = std::fs::read_to_string(&daemon.config).unwrap();
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let out = daemon.cli(&["config", "check"]);
    assert_eq!(out.status.code(), Some(1));
    let report = String::from_utf8_lossy(&out.stdout);
    let config = daemon.config.display().to_string();
    for (needle, col, what) in [
        ("min_free_mb = -1", 15, "whole number of megabytes"),
        ("bogus = 1", 1, "unknown key `bogus` in [recording]"),
        ("format = \"mp3\"", 10, "\"alaw\", \"pcm16\" or \"stereo\""),
        ("called = [\"_8Q\"]", 11, "record #2 called"),
        ("flow = [\"nope\"]", 9, "no flow `nope`"),
        ("max_total_mb = 0", 16, "above 0"),
    ] {
        let prefix = format!("{config}:{}:{col}: error:", line_of(needle));
        assert!(
            report.lines().any(|l| l.starts_with(&prefix) && l.contains(what)),
            "expected `{prefix} …{what}…` in:\n{report}"
        );
    }
    assert!(report.contains("records nothing"), "{report}");
}

#[test]
fn a_graceful_stop_finishes_recordings_in_progress() {
    let mut daemon = TestDaemon::start_with(|c| {
        let c = set_key(&c, "clock", "\"realtime\"");
        let c = set_key(&c, "timeout_ms", "60000");
        format!("{c}\n[[record]]\nall = true\nformat = \"pcm16\"\n")
    });
    let mut party = daemon.party();
    party.send_control(&dial("8999", "1001")).unwrap();
    let id = wait_answered(&mut party);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(daemon.stop().success());
    // The daemon is gone: the CLI reads the rows and files directly.
    let rows = rec_search(&daemon, &[]);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["uniqueid"], id.as_str());
    assert_eq!(
        rows[0]["status"], "complete",
        "finished, not left for repair: {rows:#?}"
    );
    let path = PathBuf::from(rows[0]["path"].as_str().unwrap());
    sox_opens(&path);
    assert!(
        read_wav(&path).data.len() >= 16_000,
        "at least the 1.5 s before the stop"
    );
    let out = daemon.cli(&["rec", "verify"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn a_call_never_answered_leaves_no_recording() {
    let daemon = TestDaemon::start_with(|c| {
        let c = set_key(&c, "answer_after_rings", "3");
        format!("{c}\n[[record]]\nall = true\n")
    });
    let mut party = daemon.party();
    party.send_control(&dial("8999", "1001")).unwrap();
    loop {
        match party.recv(Some(Duration::from_secs(20))).unwrap() {
            Heard::Control(DaemonOp::Ringing) => break,
            Heard::Control(DaemonOp::Answered { .. }) => panic!("answered"),
            _ => {}
        }
    }
    party
        .send_control(&telvox::hw::sim::protocol::PartyOp::Hangup)
        .unwrap();
    let calls = daemon.wait_calls("the unanswered call", |c| c.len() == 1 && c[0]["end"].is_string());
    assert_eq!(calls[0]["disposition"], "NO ANSWER");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        let status = daemon.cli_json(&["status", "--json"]);
        if status["recording"]["empty"] == 1 || Instant::now() > deadline {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status["recording"]["empty"], 1, "{status}");
    assert_eq!(status["recording"]["active"], 0, "{status}");
    std::thread::sleep(Duration::from_millis(600));
    assert!(rec_search(&daemon, &["--deleted"]).is_empty(), "no row");
    let files = walk(&daemon.dir.path().join("data/recordings"));
    assert!(files.is_empty(), "no file: {files:?}");
}
