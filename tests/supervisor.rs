//! Supervisor playback of call recordings by phone, end to end: a real daemon on the lockstep sim
//! card records three calls whose callers send different noise; a supervisor dials the shipped
//! flow on 8900, logs in, searches by agent and by caller number, and what the supervisor hears
//! is correlated with the recordings (decoded by sox) to tell which recording plays and where
//! in it playback is — so next/previous/replay and the 10 s seeks are measured, not assumed.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use telvox::dsp::g711;
use telvox::hw::sim::client::{run_call, CallOutcome};
use telvox::hw::{Block, Law, BLOCK_SAMPLES};

const SUP: &str = "9001";
const SUP_PIN: &str = "2580";
/// Samples of the supervisor's audio compared with the recordings at a time (200 ms).
const WINDOW: usize = 10 * BLOCK_SAMPLES;
/// A seek (keys 6 and 9).
const SEEK: i64 = 80_000;

/// The agents' desk flow: the call is filed under the agent it reached (`agent` = the number
/// dialled), then the caller talks until hanging up.
const DESK_FLOW: &str = "start = \"desk\"\nlanguage = \"en\"\nanswer_after_rings = 0\n\
[desk]\nset = { agent = \"${called}\" }\nnext = \"wait\"\n\
[wait]\ncollect = { prompts = [\"please-enter\"], min = 1, max = 8, terminator = \"#\", first_timeout_ms = 60000, retries = 0, into = \"k\" }\n\
on = { complete = \"bye\", fail = \"bye\" }\n[bye]\nhangup = true\n";

/// Three recorded calls: (caller, number dialled, format, seconds, noise seed).
const CALLS: [(&str, &str, &str, usize, u64); 3] = [
    ("13800000001", "8801", "stereo", 30, 11),
    ("13900000002", "8802", "alaw", 8, 22),
    ("13700000003", "8801", "pcm16", 24, 33),
];

fn start_daemon() -> TestDaemon {
    let daemon = TestDaemon::prepare(|c| {
        let mut rules = String::from("[recording]\nring_ms = 60000\n");
        for (i, (caller, _, format, _, _)) in CALLS.iter().enumerate() {
            rules.push_str(&format!(
                "[[record]]\nname = \"r{i}\"\ncaller = [\"{caller}\"]\nformat = \"{format}\"\n"
            ));
        }
        let c = c.replacen("[numbers]\n", "[numbers]\n\"_88XX\" = \"desk\"\n", 1);
        format!("{c}\n{rules}")
    });
    std::fs::write(daemon.dir.path().join("flows/desk.toml"), DESK_FLOW).unwrap();
    daemon.launch()
}

/// A caller's voice: noise from its own seed, so each recording is told apart by correlation.
fn noise_block(rng: &mut Rng) -> Block {
    let mut block = [0u8; BLOCK_SAMPLES];
    for b in &mut block {
        let sample = rng.below(8000) as i16 - 4000;
        *b = g711::encode(Law::Alaw, sample);
    }
    block
}

struct Made {
    call_id: String,
    path: PathBuf,
    /// The recording as sox decodes it, mixed to mono.
    audio: Vec<i16>,
}

fn rec_search(daemon: &TestDaemon, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["rec", "search", "--json"];
    all.extend_from_slice(args);
    let out = daemon.cli(&all);
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap_or(Value::Null)
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The recording decoded by sox (not telvox) to 16-bit mono.
fn sox_mono(path: &Path) -> Vec<i16> {
    let out = std::process::Command::new("sox")
        .arg(path)
        .args(["-t", "raw", "-e", "signed-integer", "-b", "16", "-c", "1", "-"])
        .output()
        .expect("sox is installed");
    assert!(
        out.status.success(),
        "sox {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
        .chunks_exact(2)
        .map(|s| i16::from_le_bytes([s[0], s[1]]))
        .collect()
}

/// Makes the three recorded calls; returns them in CALLS order.
fn make_recordings(daemon: &TestDaemon) -> Vec<Made> {
    let mut ids = Vec::new();
    for (caller, number, _, seconds, seed) in CALLS {
        let mut rng = Rng::new(seed);
        let mut party = daemon.party();
        let outcome = run_call(
            &mut party,
            &dial(number, caller),
            Duration::from_secs(20),
            |blocks, _| (blocks < seconds * 50).then(|| noise_block(&mut rng)),
        )
        .expect("call");
        assert!(outcome.answered, "{outcome:?}");
        ids.push(outcome.call_id.unwrap());
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let rows = loop {
        let rows = rec_search(daemon, &[]);
        let done = rows
            .iter()
            .filter(|r| r["status"] == "complete" && r["sha256"].is_string())
            .count();
        if done == CALLS.len() {
            break rows;
        }
        assert!(
            Instant::now() < deadline,
            "recordings not finished: {rows:#?}\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    ids.iter()
        .zip(CALLS)
        .map(|(id, (_, number, format, _, _))| {
            let row = rows.iter().find(|r| r["uniqueid"] == id.as_str()).expect("row");
            assert_eq!(row["format"], format);
            assert_eq!(
                row["agent"], number,
                "the flow's ${{agent}} is the recording's agent"
            );
            let path = PathBuf::from(row["path"].as_str().unwrap());
            Made {
                call_id: id.clone(),
                audio: sox_mono(&path),
                path,
            }
        })
        .collect()
}

/// Which recording, and where in it (samples), `window` is: the best correlation over
/// block-aligned offsets, if it is a clear match.
fn locate(window: &[i16], refs: &[&[i16]]) -> Option<(usize, usize)> {
    let mut best = (0.0, 0, 0);
    for (i, r) in refs.iter().enumerate() {
        let mut at = 0;
        while at + window.len() <= r.len() {
            let c = correlation(window, &r[at..at + window.len()]);
            if c > best.0 {
                best = (c, i, at);
            }
            at += BLOCK_SAMPLES;
        }
    }
    (best.0 > 0.9).then_some((best.1, best.2))
}

fn linear(heard: &[u8]) -> Vec<i16> {
    heard.iter().map(|&b| g711::decode(Law::Alaw, b)).collect()
}

/// What the supervisor waits for before pressing the next keys.
enum Until {
    /// A prompt heard whole.
    Prompt(&'static str),
    /// A prompt of another language than English heard whole.
    PromptIn(&'static str, &'static str),
    /// Recording `i` (of the refs) playing.
    Rec(usize),
    /// This many blocks after the previous step.
    Blocks(usize),
}

struct Step {
    until: Until,
    keys: String,
    /// Remembers the block at which the keys start, under this name.
    mark: &'static str,
}

fn step(until: Until, keys: &str, mark: &'static str) -> Step {
    Step {
        until,
        keys: keys.to_owned(),
        mark,
    }
}

/// The supervisor's call to 8900, driven by what is heard; returns the outcome and the marks.
fn session(
    daemon: &TestDaemon,
    steps: Vec<Step>,
    refs: &[&[i16]],
) -> (CallOutcome, HashMap<&'static str, usize>) {
    let mut marks = HashMap::new();
    let mut next = 0;
    let mut cursor = 0;
    let mut since = 0;
    let mut queue: std::collections::VecDeque<Block> = Default::default();
    let prompts: HashMap<(&str, &str), Vec<u8>> = steps
        .iter()
        .filter_map(|s| match s.until {
            Until::Prompt(name) => Some((("en", name), prompt_alaw("en", name))),
            Until::PromptIn(lang, name) => Some(((lang, name), prompt_alaw(lang, name))),
            _ => None,
        })
        .collect();
    let mut party = daemon.party();
    let outcome = run_call(
        &mut party,
        &dial("8900", "13000000009"),
        Duration::from_secs(20),
        |blocks, heard| {
            if let Some(block) = queue.pop_front() {
                return Some(block);
            }
            if blocks > 20_000 {
                return None;
            }
            let Some(s) = steps.get(next) else {
                return Some(silence());
            };
            let met = match s.until {
                Until::Prompt(name) | Until::PromptIn(_, name) => {
                    let lang = match s.until {
                        Until::PromptIn(lang, _) => lang,
                        _ => "en",
                    };
                    let audio = &prompts[&(lang, name)];
                    let from = cursor.max(heard.len().saturating_sub(audio.len() + 4 * BLOCK_SAMPLES));
                    match find(heard, audio, from) {
                        Some(at) => {
                            cursor = at + audio.len();
                            true
                        }
                        None => false,
                    }
                }
                Until::Rec(i) => {
                    blocks % 5 == 0
                        && heard.len() >= WINDOW
                        && locate(&linear(&heard[heard.len() - WINDOW..]), refs).is_some_and(|(r, _)| r == i)
                }
                Until::Blocks(n) => blocks >= since + n,
            };
            if !met {
                return Some(silence());
            }
            marks.insert(s.mark, blocks);
            since = blocks;
            cursor = cursor.max(heard.len());
            queue.extend(key_blocks(&s.keys));
            next += 1;
            Some(queue.pop_front().unwrap_or_else(silence))
        },
    )
    .expect("call");
    assert!(outcome.answered, "{outcome:?}");
    assert_eq!(
        next,
        steps.len(),
        "the supervisor got stuck at step {next} (heard {} blocks); marks {marks:?}\n{}",
        outcome.heard.len() / BLOCK_SAMPLES,
        daemon.log()
    );
    (outcome, marks)
}

/// Which recording plays, and where, in the window starting `blocks` into the call.
fn pos_at(heard: &[i16], blocks: usize, refs: &[&[i16]]) -> (usize, i64) {
    let at = blocks * BLOCK_SAMPLES;
    let (r, offset) = locate(&heard[at..at + WINDOW], refs)
        .unwrap_or_else(|| panic!("no recording heard at block {blocks}"));
    (r, offset as i64)
}

fn login() -> Vec<Step> {
    vec![
        step(Until::Prompt("sup-welcome"), "*", "star"),
        step(Until::Prompt("sup-enter-id"), &format!("{SUP}#"), "id"),
        step(Until::Prompt("vm-enter-password"), &format!("{SUP_PIN}#"), "pin"),
    ]
}

#[test]
fn a_supervisor_finds_recordings_by_agent_and_caller_and_moves_through_them() {
    let daemon = start_daemon();
    let made = make_recordings(&daemon);
    let sums: Vec<Value> = rec_search(&daemon, &[])
        .iter()
        .map(|r| r["sha256"].clone())
        .collect();
    // Agent 8801's recordings oldest first (A, C), then the other caller's (B).
    let refs: Vec<&[i16]> = vec![&made[0].audio, &made[2].audio, &made[1].audio];
    let mut steps = login();
    steps.extend([
        step(Until::Prompt("sup-search-menu"), "1", "by_agent"),
        step(Until::Prompt("sup-enter-number"), "8801#", "agent"),
        step(Until::Prompt("sup-enter-date"), "0#", "date"),
        step(Until::Prompt("sup-recordings"), "", "count"),
        step(Until::Prompt("sup-seconds"), "", "envelope_a"),
        step(Until::Rec(0), "", "playing_a"),
        step(Until::Blocks(150), "6", "forward"),
        step(Until::Blocks(100), "9", "back"),
        step(Until::Blocks(100), "3", "next"),
        step(Until::Rec(1), "", "playing_c"),
        step(Until::Blocks(50), "3", "next_at_last"),
        step(Until::Prompt("sup-no-more"), "", "no_more"),
        step(Until::Prompt("sup-player-menu"), "4", "previous"),
        step(Until::Rec(0), "", "playing_a_again"),
        step(Until::Blocks(150), "4", "previous_at_first"),
        step(Until::Blocks(100), "1", "replay"),
        step(Until::Blocks(100), "9", "back_at_start"),
        step(Until::Blocks(100), "#", "menu"),
        step(Until::Prompt("sup-search-menu"), "2", "by_caller"),
        step(Until::Prompt("sup-enter-number"), "13900000002#", "caller"),
        step(Until::Prompt("sup-enter-date"), "0#", "date2"),
        step(Until::Rec(2), "", "playing_b"),
        step(Until::Blocks(20), "#", "menu2"),
        step(Until::Prompt("sup-search-menu"), "1", "by_agent2"),
        step(Until::Prompt("sup-enter-number"), "4242#", "nobody"),
        step(Until::Prompt("sup-enter-date"), "0#", "date3"),
        step(Until::Prompt("sup-no-recordings"), "", "none"),
        step(Until::Prompt("sup-search-menu"), "#", "finish"),
    ]);
    let (outcome, marks) = session(&daemon, steps, &refs);
    assert_eq!(
        outcome.cause.as_deref(),
        Some("NORMAL_CLEARING"),
        "telvox says goodbye and hangs up"
    );
    let heard = linear(&outcome.heard);
    let at = |name: &str| marks[name];

    // The announcement: "two recordings", then A's date, time and duration, then A from its start.
    let rows = rec_search(&daemon, &[]);
    let row_a = rows
        .iter()
        .find(|r| r["uniqueid"] == made[0].call_id.as_str())
        .unwrap();
    let start = chrono::DateTime::from_timestamp_millis(row_a["start_ms"].as_i64().unwrap())
        .unwrap()
        .with_timezone(&chrono::Local);
    use chrono::{Datelike, Timelike};
    let lang = telvox::apps::say::Language::En;
    let mut names = telvox::apps::say::say_number(lang, 2);
    names.push("sup-recordings".into());
    names.extend(
        telvox::apps::say::say_date(lang, start.year(), start.month() as u8, start.day() as u8, None)
            .unwrap(),
    );
    names.extend(telvox::apps::say::say_time(lang, start.hour() as u8, start.minute() as u8).unwrap());
    let seconds = (row_a["duration_s"].as_f64().unwrap()).round() as i64;
    assert!((29..=31).contains(&seconds), "{seconds}");
    names.extend(telvox::apps::say::say_number(lang, seconds));
    names.push("sup-seconds".into());
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let announced = assert_prompts_in_order(&outcome.heard[at("date") * BLOCK_SAMPLES..], "en", &name_refs);
    let envelope_end =
        at("date") + (announced.last().unwrap() + prompt_alaw("en", "sup-seconds").len()) / BLOCK_SAMPLES;
    let (r, first) = pos_at(&heard, envelope_end + 3, &refs);
    assert_eq!(r, 0);
    assert!(
        first <= 5 * BLOCK_SAMPLES as i64,
        "A plays from its start after the announcement: {first}"
    );

    // 6 moves forward 10 s; 9 back 10 s: measured 10 blocks before the key and 50 after.
    let shift = |key: &str| {
        let (r0, before) = pos_at(&heard, at(key) - 10, &refs);
        let (r1, after) = pos_at(&heard, at(key) + 50, &refs);
        assert_eq!((r0, r1), (0, 0), "{key}: still recording A");
        after - before - 60 * BLOCK_SAMPLES as i64
    };
    let forward = shift("forward");
    eprintln!("measured: 6 moved {forward} samples");
    assert_eq!(forward, SEEK, "6 moves exactly 10 s");
    let back = shift("back");
    eprintln!("measured: 9 moved {back} samples");
    assert_eq!(back, -SEEK, "9 moves exactly 10 s back");

    // 3: the next recording (C) plays; 3 at the last says so; 4 goes back to A.
    assert!(at("playing_c") > at("next"));
    assert!(at("playing_a_again") > at("previous"));
    // 4 at the first recording, 1 and 9 near the start: each plays A from its start again.
    for key in ["previous_at_first", "replay", "back_at_start"] {
        let (r, before) = pos_at(&heard, at(key) - 10, &refs);
        assert_eq!(r, 0, "{key}");
        assert!(
            before >= 80 * BLOCK_SAMPLES as i64,
            "{key}: A had played a while: {before}"
        );
        let (r, after) = pos_at(&heard, at(key) + 50, &refs);
        assert_eq!(r, 0, "{key}");
        assert!(
            after <= 52 * BLOCK_SAMPLES as i64,
            "{key}: back at the start of A: {after}"
        );
    }
    // By caller number: the other caller's one recording.
    assert!(at("playing_b") > at("date2"));
    assert!(at("none") > at("date3"));

    // Playback changed nothing: every file still matches its checksum.
    let out = daemon.cli(&["rec", "verify"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let after: Vec<Value> = rec_search(&daemon, &[])
        .iter()
        .map(|r| r["sha256"].clone())
        .collect();
    assert_eq!(sums, after);
    let calls = daemon.calls();
    let sup_call = calls
        .iter()
        .find(|c| c["dst"] == "8900")
        .expect("the supervisor's call");
    assert_eq!(sup_call["flow"], "supervisor", "{sup_call:#?}");
}

#[test]
fn forward_clamps_at_the_end_and_a_recording_deleted_meanwhile_is_skipped() {
    let daemon = start_daemon();
    let made = make_recordings(&daemon);
    let refs: Vec<&[i16]> = vec![&made[0].audio, &made[2].audio, &made[1].audio];
    // C's file goes (as retention would delete it) while A plays.
    let doomed = made[2].path.clone();
    let mut steps = login();
    steps.extend([
        step(Until::Prompt("sup-search-menu"), "1", "by_agent"),
        step(Until::Prompt("sup-enter-number"), "8801#", "agent"),
        step(Until::Prompt("sup-enter-date"), "0#", "date"),
        step(Until::Rec(0), "66", "forward_twice"),
        step(Until::Blocks(120), "6", "forward_past_end"),
        step(Until::Prompt("sup-player-menu"), "9", "back_from_end"),
        step(Until::Rec(0), "", "last_ten_seconds"),
        step(Until::Blocks(50), "3", "next"),
        step(Until::Prompt("sup-unavailable"), "", "unavailable"),
        step(Until::Prompt("sup-no-more"), "", "no_more"),
        step(Until::Prompt("sup-search-menu"), "#", "finish"),
    ]);
    // Deterministic rather than timed: the file goes before the call, its row stays listed (as
    // between retention deleting a file and marking its row, or after a search listed it).
    std::fs::remove_file(&doomed).unwrap();
    let (outcome, marks) = session(&daemon, steps, &refs);
    let heard = linear(&outcome.heard);
    let len_a = made[0].audio.len() as i64;
    let (r, at_end) = pos_at(&heard, marks["last_ten_seconds"], &refs);
    assert_eq!(r, 0);
    assert!(
        (at_end - (len_a - SEEK)).abs() <= 15 * BLOCK_SAMPLES as i64,
        "9 at the end plays the last 10 s: at {at_end} of {len_a}"
    );
    assert!(daemon.log().contains("unavailable"), "{}", daemon.log());
    assert_eq!(outcome.cause.as_deref(), Some("NORMAL_CLEARING"));
}

#[test]
fn wrong_pins_lock_a_supervisor_out_until_a_new_pin_is_set() {
    let daemon = TestDaemon::start();
    let wrong = |daemon: &TestDaemon, tries: usize, last: &'static str| {
        let mut steps = vec![step(Until::Prompt("sup-welcome"), "*", "star")];
        for _ in 0..tries {
            steps.push(step(Until::Prompt("sup-enter-id"), &format!("{SUP}#"), "id"));
            steps.push(step(Until::Prompt("vm-enter-password"), "0000#", "pin"));
        }
        steps.push(step(Until::Prompt(last), "", "end"));
        session(daemon, steps, &[]).0
    };
    let outcome = wrong(&daemon, 3, "vm-locked");
    assert_eq!(outcome.cause.as_deref(), Some("NORMAL_CLEARING"));
    assert_prompts_in_order(
        &outcome.heard,
        "en",
        &["vm-login-incorrect", "vm-login-incorrect", "vm-locked", "goodbye"],
    );
    let list = daemon.cli_json(&["sup", "list", "--json"]);
    let entry = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == SUP)
        .unwrap()
        .clone();
    assert!(entry["locked_until"].is_string(), "{list:#?}");

    // Locked: even the right PIN is refused (and not counted as a success).
    let mut steps = login();
    steps.push(step(Until::Prompt("vm-locked"), "", "locked"));
    let (outcome, _) = session(&daemon, steps, &[]);
    assert!(find(&outcome.heard, &prompt_alaw("en", "sup-search-menu"), 0).is_none());

    // A new PIN lifts the lockout.
    let mut child = std::process::Command::new(BIN)
        .arg("--config")
        .arg(&daemon.config)
        .args(["sup", "passwd", SUP])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{SUP_PIN}\n").as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
    let list = daemon.cli_json(&["sup", "list", "--json"]);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|s| s["locked_until"].is_null()),
        "{list:#?}"
    );
    let mut steps = login();
    steps.push(step(Until::Prompt("sup-search-menu"), "#", "in"));
    steps.push(step(Until::Prompt("goodbye"), "", "bye"));
    session(&daemon, steps, &[]);
}

#[test]
fn the_shipped_config_checks_clean_and_a_plain_pin_is_located() {
    let daemon = TestDaemon::prepare(|c| c);
    let out = daemon.cli(&["config", "check", daemon.config.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = daemon.dir.path().join("supervisors.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    let line = text.lines().position(|l| l.starts_with("pin = ")).unwrap() + 1;
    let mut lines: Vec<&str> = text.lines().collect();
    lines[line - 1] = "pin = \"2580\"";
    std::fs::write(&file, lines.join("\n")).unwrap();
    let out = daemon.cli(&["config", "check", daemon.config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        stderr.contains(&format!("supervisors.toml:{line}:7: error"))
            && stderr.contains("telvox sup passwd 9001"),
        "{stderr}"
    );
    // Without the file, a flow using recording_review is warned about (nobody could log in).
    std::fs::remove_file(&file).unwrap();
    let out = daemon.cli(&["config", "check", daemon.config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("flows/supervisor.toml:")
            && text.contains("warning: recording_review: there is no supervisors file"),
        "{text}"
    );
}

#[test]
fn a_supervisor_added_to_the_file_can_log_in_after_a_reload() {
    let daemon = TestDaemon::start();
    let file = daemon.dir.path().join("supervisors.toml");
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("\n# Added later.\n[[supervisor]]\nid = \"9003\"\nname = \"Weekend cover\"\n");
    std::fs::write(&file, text).unwrap();
    let mut child = std::process::Command::new(BIN)
        .arg("--config")
        .arg(&daemon.config)
        .args(["sup", "passwd", "9003"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"3690\n").unwrap();
    assert!(child.wait().unwrap().success());
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("# Added later.") && text.contains("# The demo PINs"),
        "comments kept"
    );
    let login_9003 = |last: &'static str| {
        vec![
            step(Until::Prompt("sup-welcome"), "*", "star"),
            step(Until::Prompt("sup-enter-id"), "9003#", "id"),
            step(Until::Prompt("vm-enter-password"), "3690#", "pin"),
            step(Until::Prompt(last), "#", "end"),
        ]
    };
    // The running daemon still has the old file: 9003 is unknown (a wrong login).
    session(&daemon, login_9003("vm-login-incorrect"), &[]);
    let out = daemon.cli(&["reload"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    session(&daemon, login_9003("sup-search-menu"), &[]);
}

/// Figures for the report: how long the worker takes to load (map and mix down) an hour-long
/// stereo recording, and what it holds in memory. `cargo test --test supervisor -- --ignored
/// --nocapture load_time`.
#[test]
#[ignore]
fn load_time_of_an_hour_long_stereo_recording() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hour.wav");
    let out = std::process::Command::new("sox")
        .args(["-n", "-r", "8000", "-c", "2", "-b", "16", "-e", "signed-integer"])
        .arg(&path)
        .args(["synth", "3600", "whitenoise", "vol", "0.1"])
        .output()
        .unwrap();
    assert!(out.status.success());
    for (what, samples) in [("stereo PCM16, 1 h", usize::MAX)] {
        let started = Instant::now();
        let prompt = telvox::voice::Prompt::load_recording(&path, samples).unwrap();
        let mut scratch = [0i16; 4096];
        let mut at = 0;
        while at < prompt.len_samples() {
            at += prompt.read_linear(at, &mut scratch).max(1);
        }
        eprintln!(
            "{what}: loaded and read through in {:.0} ms; {} samples held as A-law ({} MB)",
            started.elapsed().as_secs_f64() * 1000.0,
            prompt.len_samples(),
            prompt.len_samples() / 1_000_000
        );
    }
}

#[test]
fn zero_instead_of_star_reviews_in_mandarin() {
    let daemon = TestDaemon::start();
    let steps = vec![
        step(Until::Prompt("sup-welcome"), "0", "zero"),
        step(Until::PromptIn("zh", "sup-enter-id"), &format!("{SUP}#"), "id"),
        step(
            Until::PromptIn("zh", "vm-enter-password"),
            &format!("{SUP_PIN}#"),
            "pin",
        ),
        step(Until::PromptIn("zh", "sup-search-menu"), "2", "by_caller"),
        step(
            Until::PromptIn("zh", "sup-enter-number"),
            "13800000001#",
            "caller",
        ),
        step(Until::PromptIn("zh", "sup-enter-date"), "20000101#", "date"),
        step(Until::PromptIn("zh", "sup-no-recordings"), "", "none"),
        step(Until::PromptIn("zh", "sup-search-menu"), "#", "finish"),
    ];
    let (outcome, _) = session(&daemon, steps, &[]);
    assert_eq!(outcome.cause.as_deref(), Some("NORMAL_CLEARING"));
    assert_prompts_in_order(
        &outcome.heard,
        "zh",
        &["sup-enter-id", "sup-no-recordings", "goodbye"],
    );
}
