//! Voicemail end to end: a real daemon on the lockstep sim card, callers that react to the prompts
//! they hear (exact A-law match) and speak tones, the CLI, the WAV files (opened with sox), the
//! call log's voicemail tables, and a real SMTP server (aiosmtpd).

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use telvox::hw::sim::client::{run_call, CallOutcome, Heard};
use telvox::hw::sim::protocol::DaemonOp;
use telvox::hw::{Block, Law, BLOCK_SAMPLES};

/// Upper bound on one scripted call: 30 minutes of audio, or 60 s of wall time. Not a plain block
/// count: lockstep runs calls far faster than real time while telvox waits for its writer (an fsync
/// on a busy disk takes seconds), and a 10-minute cap would pass in a few seconds.
const MAX_CALL_BLOCKS: usize = 90_000;
const MAX_CALL_WALL: Duration = Duration::from_secs(60);
const CALLER: &str = "13800138000";

/// What a caller does after hearing a prompt.
enum Do {
    Keys(&'static str),
    /// A 440 Hz tone (a stand-in for speech) this many ms long.
    Speak(u32),
    /// Speak, then press keys.
    SpeakThen(u32, &'static str),
    /// Nothing: wait for the next cue.
    Nothing,
}

struct Cue {
    after: (String, String),
    then: Do,
}

fn cue(lang: &str, prompt: &str, then: Do) -> Cue {
    Cue {
        after: (lang.into(), prompt.into()),
        then,
    }
}

/// A 440 Hz tone at about -10 dBm0, `ms` long, as A-law blocks; `phase` continues a tone.
fn tone_blocks(ms: u32) -> Vec<Block> {
    let samples = (ms as usize * 8).div_ceil(BLOCK_SAMPLES) * BLOCK_SAMPLES;
    let lin: Vec<i16> = (0..samples)
        .map(|i| (8000.0 * (2.0 * std::f64::consts::PI * 440.0 * i as f64 / 8000.0).sin()) as i16)
        .collect();
    lin.chunks(BLOCK_SAMPLES)
        .map(|c| {
            let mut b = [0u8; BLOCK_SAMPLES];
            for (o, s) in b.iter_mut().zip(c) {
                *o = telvox::dsp::g711::encode(Law::Alaw, *s);
            }
            b
        })
        .collect()
}

fn blocks_for(then: &Do) -> Vec<Block> {
    match then {
        Do::Keys(k) => key_blocks(k),
        Do::Speak(ms) => tone_blocks(*ms),
        Do::SpeakThen(ms, k) => {
            let mut b = tone_blocks(*ms);
            b.extend(key_blocks(k));
            b
        }
        Do::Nothing => Vec::new(),
    }
}

/// How a scripted call ends on the caller's side.
#[derive(Clone, Copy)]
enum End {
    /// Wait for telvox to hang up.
    TelvoxHangsUp,
    /// Hang up this many blocks after the last cue's audio was sent.
    After(usize),
}

/// Calls `number` from `from` and follows the cues in order.
fn scripted(daemon: &TestDaemon, number: &str, from: &str, cues: &[Cue], end: End) -> CallOutcome {
    let mut party = daemon.party();
    let audio: Vec<Vec<u8>> = cues.iter().map(|c| prompt_alaw(&c.after.0, &c.after.1)).collect();
    let (mut next_cue, mut cursor) = (0usize, 0usize);
    let mut out: Vec<Block> = Vec::new();
    let started = Instant::now();
    let mut done_at: Option<usize> = None;
    let outcome = run_call(
        &mut party,
        &dial(number, from),
        Duration::from_secs(20),
        |blocks, heard| {
            if blocks > MAX_CALL_BLOCKS || started.elapsed() > MAX_CALL_WALL {
                return None;
            }
            if out.is_empty() && next_cue < cues.len() {
                let needle = &audio[next_cue];
                let from = cursor.max(heard.len().saturating_sub(needle.len() + 2 * BLOCK_SAMPLES));
                if let Some(at) = find(heard, needle, from) {
                    cursor = at + needle.len();
                    out = blocks_for(&cues[next_cue].then);
                    out.reverse();
                    next_cue += 1;
                }
            }
            if out.is_empty() && next_cue == cues.len() && done_at.is_none() {
                done_at = Some(blocks);
            }
            if let (End::After(n), Some(at)) = (end, done_at) {
                if blocks >= at + n {
                    return None;
                }
            }
            Some(out.pop().unwrap_or_else(silence))
        },
    )
    .expect("call");
    assert_eq!(
        next_cue,
        cues.len(),
        "every cue was heard ({} bytes heard, cause {:?})",
        outcome.heard.len(),
        outcome.cause
    );
    outcome
}

fn assert_heard(heard: &[u8], prompts: &[(&str, &str)]) {
    let mut from = 0;
    for (lang, name) in prompts {
        let audio = prompt_alaw(lang, name);
        let at = find(heard, &audio, from)
            .unwrap_or_else(|| panic!("{lang}/{name} not heard after offset {from} of {}", heard.len()));
        from = at + audio.len();
    }
}

fn hash(pin: &str) -> String {
    telvox::apps::ivr::business::hash_pin(pin).unwrap()
}

/// The test mailboxes: 101 (en, PIN 1234), 102 (holds one message), 103 (review on), group 199.
fn mailboxes(extra: &str) -> String {
    format!(
        "[defaults]\nlanguage = \"en\"\nmax_message_s = 10\nmin_message_ms = 1000\nsilence_ms = 2000\n\
         pin_max_failures = 3\nlockout_s = 600\n\
         [[box]]\nnumber = \"101\"\nname = \"Support\"\npin = \"{}\"\nemail = \"support@example.com\"\n\
         [[box]]\nnumber = \"102\"\npin = \"{}\"\nmax_messages = 1\n\
         [[box]]\nnumber = \"103\"\npin = \"{}\"\nreview = true\n\
         [[group]]\nnumber = \"199\"\nmembers = [\"101\", \"103\"]\n{extra}",
        hash("1234"),
        hash("5678"),
        hash("4321")
    )
}

const BYE: &str = "[bye]\nplay = { prompts = [\"goodbye\"], barge_in = false }\nhangup = true\n";

fn leave_flow(box_expr: &str) -> String {
    format!(
        "start = \"leave\"\nlanguage = \"en\"\n[leave]\nset = {{ target = \"{box_expr}\" }}\n\
         voicemail_leave = {{ box = \"${{target}}\" }}\n\
         on = {{ saved = \"bye\", too_short = \"bye\", full = \"bye\", unknown = \"bye\", error = \"bye\" }}\n{BYE}"
    )
}

fn check_flow(args: &str) -> String {
    format!(
        "start = \"check\"\nlanguage = \"en\"\n[check]\nvoicemail_check = {{ {args} }}\n\
         on = {{ done = \"bye\", locked = \"bye\", fail = \"bye\", error = \"bye\" }}\n{BYE}"
    )
}

/// A daemon with the test mailboxes and flows: 86BB leaves a message for box BB (8699 for the
/// group 199), 8700 asks for a box, 8701 opens the caller's own box.
fn vm_daemon(extra_mailboxes: &str) -> TestDaemon {
    let daemon = prepare_vm(extra_mailboxes);
    daemon.launch()
}

fn prepare_vm(extra_mailboxes: &str) -> TestDaemon {
    let daemon = TestDaemon::prepare(|c| c);
    std::fs::write(
        daemon.dir.path().join("mailboxes.toml"),
        mailboxes(extra_mailboxes),
    )
    .unwrap();
    let flows = daemon.dir.path().join("flows");
    let mut numbers = String::new();
    for (number, flow, text) in [
        ("8601", "leave101", leave_flow("101")),
        ("8602", "leave102", leave_flow("102")),
        ("8603", "leave103", leave_flow("103")),
        ("8699", "leave199", leave_flow("199")),
        ("8604", "leave104", leave_flow("104")),
        (
            "8611",
            "busy101",
            leave_flow("101").replace("box = \"${target}\"", "box = \"${target}\", greeting = \"busy\""),
        ),
        ("8698", "leave998", leave_flow("998")),
        ("8700", "check", check_flow("")),
        ("8701", "checkown", check_flow("box = \"${caller}\"")),
    ] {
        std::fs::write(flows.join(format!("{flow}.toml")), text).unwrap();
        numbers.push_str(&format!("\"{number}\" = \"{flow}\"\n"));
    }
    let config = std::fs::read_to_string(&daemon.config).unwrap();
    std::fs::write(
        &daemon.config,
        config.replace("[numbers]\n", &format!("[numbers]\n{numbers}")),
    )
    .unwrap();
    daemon
}

/// `telvox vm list --json`, waiting until `pred` holds (messages are indexed asynchronously).
fn wait_messages(
    daemon: &TestDaemon,
    what: &str,
    pred: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list = daemon
            .cli_json(&["vm", "list", "--json"])
            .as_array()
            .cloned()
            .unwrap_or_default();
        if pred(&list) {
            return list;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {list:#?}\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn in_box<'a>(list: &'a [serde_json::Value], box_: &str) -> Vec<&'a serde_json::Value> {
    list.iter().filter(|m| m["box"] == box_).collect()
}

/// Samples of a PCM16 WAV, after checking its header is complete and sox opens it at 8 kHz.
fn wav_samples(path: &Path) -> Vec<i16> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[..4], b"RIFF");
    let data_bytes = u32::from_le_bytes(bytes[40..44].try_into().unwrap()) as usize;
    assert_eq!(data_bytes, bytes.len() - 44, "the WAV header is complete");
    let out = std::process::Command::new("soxi")
        .arg("-r")
        .arg(path)
        .output()
        .expect("soxi");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "8000",
        "sox opens {}",
        path.display()
    );
    bytes[44..]
        .chunks_exact(2)
        .map(|s| i16::from_le_bytes([s[0], s[1]]))
        .collect()
}

/// Milliseconds of tone (blocks whose mean level is well above silence) in the samples.
fn loud_ms(samples: &[i16]) -> usize {
    samples
        .chunks(BLOCK_SAMPLES)
        .filter(|b| b.iter().map(|s| u32::from(s.unsigned_abs())).sum::<u32>() / b.len() as u32 > 2000)
        .count()
        * 20
}

fn message_path(m: &serde_json::Value) -> PathBuf {
    PathBuf::from(m["path"].as_str().expect("path"))
}

/// The default greeting of box 101 and the beep.
fn greeting_101() -> Vec<Cue> {
    vec![
        cue("en", "vm-person-at", Do::Nothing),
        cue("en", "say-1", Do::Nothing),
        cue("en", "say-0", Do::Nothing),
        cue("en", "say-1", Do::Nothing),
        cue("en", "vm-unavailable", Do::Nothing),
        cue("en", "vm-leave-after-tone", Do::Nothing),
    ]
}

fn leave(daemon: &TestDaemon, number: &str, then: Do, end: End) -> CallOutcome {
    let cues = [
        cue("en", "vm-leave-after-tone", Do::Nothing),
        cue("en", "vm-beep", then),
    ];
    scripted(daemon, number, CALLER, &cues, end)
}

// ---------------------------------------------------------------------------------------------------
// Leaving messages

#[test]
fn a_message_ended_by_pound_is_stored_indexed_and_opens_in_sox() {
    let daemon = vm_daemon("");
    let mut cues = greeting_101();
    cues.push(cue("en", "vm-beep", Do::SpeakThen(2000, "#")));
    cues.push(cue("en", "vm-message-saved-thanks", Do::Nothing));
    let outcome = scripted(&daemon, "8601", CALLER, &cues, End::TelvoxHangsUp);
    assert_heard(
        &outcome.heard,
        &[("en", "vm-message-saved-thanks"), ("en", "goodbye")],
    );
    assert_eq!(outcome.cause.as_deref(), Some("NORMAL_CLEARING"));
    let list = wait_messages(&daemon, "the message", |l| l.len() == 1);
    let m = &list[0];
    assert_eq!(m["box"], "101");
    assert_eq!(m["caller"], CALLER);
    assert_eq!(m["folder"], "new");
    assert_eq!(m["uniqueid"], outcome.call_id.clone().unwrap().as_str());
    let duration_ms = m["duration_ms"].as_i64().unwrap();
    assert!(
        (2000..2700).contains(&duration_ms),
        "{duration_ms} ms: the tone and the # key"
    );
    let samples = wav_samples(&message_path(m));
    assert_eq!(samples.len() as i64 / 8, duration_ms);
    let loud = loud_ms(&samples);
    assert!(
        (1900..=2100).contains(&loud),
        "{loud} ms of the caller's tone recorded"
    );
    assert!(!message_path(m).with_extension("wav.part").exists());
}

#[test]
fn silence_ends_a_message_and_max_length_cuts_one_off() {
    let daemon = vm_daemon("");
    leave(&daemon, "8601", Do::Speak(1500), End::TelvoxHangsUp);
    let list = wait_messages(&daemon, "the first message", |l| l.len() == 1);
    let d = list[0]["duration_ms"].as_i64().unwrap();
    // 1.5 s of tone, then 2 s of silence (silence_ms): cut where the silence reached 2 s, however
    // far lockstep ran ahead of the writer.
    assert!((3500..3700).contains(&d), "{d} ms: ended by silence");
    // 15 s of tone against max_message_s = 10.
    let outcome = leave(&daemon, "8601", Do::Speak(15_000), End::TelvoxHangsUp);
    assert_heard(&outcome.heard, &[("en", "vm-message-saved-thanks")]);
    let list = wait_messages(&daemon, "the second message", |l| l.len() == 2);
    let d = list
        .iter()
        .map(|m| m["duration_ms"].as_i64().unwrap())
        .max()
        .unwrap();
    assert!((9900..=10_100).contains(&d), "{d} ms: cut at the limit");
}

#[test]
fn a_caller_who_hangs_up_mid_message_keeps_it() {
    let daemon = vm_daemon("");
    let outcome = leave(&daemon, "8601", Do::Speak(3000), End::After(0));
    assert_eq!(outcome.cause, None, "the caller hung up");
    let list = wait_messages(&daemon, "the message", |l| l.len() == 1);
    let samples = wav_samples(&message_path(&list[0]));
    let loud = loud_ms(&samples);
    assert!((2900..=3000).contains(&loud), "{loud} ms of the 3 s kept");
}

#[test]
fn a_too_short_message_is_discarded_and_the_caller_told() {
    let daemon = vm_daemon("");
    let outcome = leave(&daemon, "8601", Do::SpeakThen(300, "#"), End::TelvoxHangsUp);
    assert_heard(&outcome.heard, &[("en", "vm-too-short"), ("en", "goodbye")]);
    std::thread::sleep(Duration::from_millis(300));
    let list = daemon.cli_json(&["vm", "list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 0, "{list}");
    let dir = daemon.dir.path().join("data/voicemail/101");
    let left: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.flatten().collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "no file left behind: {left:?}");
}

#[test]
fn a_full_box_says_so_and_a_group_fans_out_and_an_unknown_box_is_refused() {
    let daemon = vm_daemon("");
    leave(&daemon, "8602", Do::SpeakThen(1500, "#"), End::TelvoxHangsUp);
    wait_messages(&daemon, "the message in 102", |l| l.len() == 1);
    let outcome = scripted(
        &daemon,
        "8602",
        CALLER,
        &[cue("en", "vm-mailbox-full", Do::Nothing)],
        End::TelvoxHangsUp,
    );
    assert!(
        find(&outcome.heard, &prompt_alaw("en", "vm-beep"), 0).is_none(),
        "no beep for a full box"
    );
    // The group 199 = boxes 101 and 103: one message, in both.
    leave(&daemon, "8699", Do::SpeakThen(1500, "#"), End::After(200));
    let list = wait_messages(&daemon, "the group message", |l| l.len() == 3);
    assert_eq!(in_box(&list, "101").len(), 1);
    assert_eq!(in_box(&list, "103").len(), 1);
    let a = wav_samples(&message_path(in_box(&list, "101")[0]));
    let b = wav_samples(&message_path(in_box(&list, "103")[0]));
    assert_eq!(a, b, "the same audio in both boxes");
    let outcome = scripted(
        &daemon,
        "8698",
        CALLER,
        &[cue("en", "vm-no-mailbox", Do::Nothing)],
        End::TelvoxHangsUp,
    );
    assert_eq!(outcome.cause.as_deref(), Some("NORMAL_CLEARING"));
}

#[test]
fn review_lets_the_caller_listen_and_record_again() {
    let daemon = vm_daemon("");
    let cues = [
        cue("en", "vm-beep", Do::SpeakThen(1500, "#")),
        cue("en", "vm-review", Do::Keys("3")),
        cue("en", "vm-beep", Do::SpeakThen(2500, "#")),
        cue("en", "vm-review", Do::Keys("1")),
        cue("en", "vm-review", Do::Keys("2")),
        cue("en", "vm-message-saved-thanks", Do::Nothing),
    ];
    let outcome = scripted(&daemon, "8603", CALLER, &cues, End::TelvoxHangsUp);
    // The caller heard the second take played back (A-law survives the round trip exactly).
    let tone = tone_blocks(2500).concat();
    assert!(
        find(&outcome.heard, &tone[..8000], 0).is_some(),
        "the message was played back"
    );
    let list = wait_messages(&daemon, "one message", |l| l.len() == 1);
    let loud = loud_ms(&wav_samples(&message_path(&list[0])));
    assert!(
        (2450..=2600).contains(&loud),
        "{loud} ms: the second take (and the # key) was kept, the first deleted"
    );
}

// ---------------------------------------------------------------------------------------------------
// Retrieval

#[test]
fn retrieval_says_the_counts_plays_saves_deletes_and_says_no_more() {
    let daemon = vm_daemon("");
    leave(&daemon, "8601", Do::SpeakThen(1500, "#"), End::TelvoxHangsUp);
    leave(&daemon, "8601", Do::SpeakThen(2000, "#"), End::TelvoxHangsUp);
    let list = wait_messages(&daemon, "two messages", |l| l.len() == 2);
    let cues = [
        cue("en", "vm-enter-box", Do::Keys("101#")),
        cue("en", "vm-enter-password", Do::Keys("1234#")),
        cue("en", "vm-main-menu", Do::Keys("1")),
        cue("en", "vm-msg-menu", Do::Keys("2")),
        cue("en", "vm-message-saved", Do::Nothing),
        cue("en", "vm-msg-menu", Do::Keys("7")),
        cue("en", "vm-message-deleted", Do::Nothing),
        cue("en", "vm-no-more", Do::Nothing),
        cue("en", "vm-main-menu", Do::Keys("#")),
    ];
    let outcome = scripted(&daemon, "8700", "5550100", &cues, End::TelvoxHangsUp);
    assert_heard(
        &outcome.heard,
        &[
            ("en", "vm-you-have"),
            ("en", "say-2"),
            ("en", "vm-new"),
            ("en", "vm-messages"),
            ("en", "vm-and"),
            ("en", "say-0"),
            ("en", "vm-saved"),
            ("en", "vm-messages"),
            ("en", "vm-main-menu"),
            // The envelope: the caller's number as digits.
            ("en", "vm-message-from"),
            ("en", "say-1"),
            ("en", "say-3"),
            ("en", "say-8"),
            ("en", "vm-received"),
            ("en", "vm-msg-menu"),
            ("en", "goodbye"),
        ],
    );
    let after = wait_messages(&daemon, "one saved", |l| {
        l.len() == 1 && l[0]["folder"] == "saved"
    });
    assert_eq!(
        after[0]["id"],
        list.iter()
            .find(|m| m["duration_ms"].as_i64() < Some(1900))
            .unwrap()["id"]
    );
    assert_eq!(after[0]["heard"], true);
    let deleted = list.iter().find(|m| m["id"] != after[0]["id"]).unwrap();
    assert!(
        !message_path(deleted).exists(),
        "the deleted message's file is gone"
    );
}

#[test]
fn replay_previous_skip_help_callback_and_forward() {
    let daemon = vm_daemon("");
    leave(&daemon, "8601", Do::SpeakThen(1500, "#"), End::TelvoxHangsUp);
    wait_messages(&daemon, "a message", |l| l.len() == 1);
    let cues = [
        cue("en", "vm-enter-password", Do::Keys("1234#")),
        cue("en", "vm-main-menu", Do::Keys("1")),
        cue("en", "vm-msg-menu", Do::Keys("1")),
        cue("en", "vm-msg-menu", Do::Keys("*")),
        cue("en", "vm-msg-menu", Do::Keys("9")),
        cue("en", "vm-callback-soon", Do::Nothing),
        cue("en", "vm-msg-menu", Do::Keys("4")),
        cue("en", "invalid", Do::Nothing),
        cue("en", "vm-msg-menu", Do::Keys("8")),
        cue("en", "vm-enter-forward", Do::Keys("103#")),
        cue("en", "vm-forwarded", Do::Nothing),
        cue("en", "vm-msg-menu", Do::Keys("#")),
        cue("en", "vm-no-more", Do::Nothing),
        cue("en", "vm-main-menu", Do::Keys("#")),
    ];
    // 8701 opens the caller's own box: the caller is 101.
    let outcome = scripted(&daemon, "8701", "101", &cues, End::TelvoxHangsUp);
    // The message was played twice (once more for key 1).
    let tone = tone_blocks(1500).concat();
    let first = find(&outcome.heard, &tone[..4000], 0).expect("played");
    assert!(
        find(&outcome.heard, &tone[..4000], first + 4000).is_some(),
        "replayed"
    );
    let list = wait_messages(&daemon, "the forwarded copy", |l| l.len() == 2);
    let copy = in_box(&list, "103");
    assert_eq!(copy.len(), 1);
    assert_eq!(copy[0]["caller"], CALLER, "the copy keeps the original caller");
    assert_eq!(
        wav_samples(&message_path(copy[0])),
        wav_samples(&message_path(in_box(&list, "101")[0]))
    );
}

fn locked_until(daemon: &TestDaemon, box_: &str) -> i64 {
    let db = rusqlite::Connection::open(daemon.db_path()).unwrap();
    db.query_row(
        "SELECT locked_until_ms FROM vm_pin_failures WHERE box = ?1",
        [box_],
        |r| r.get(0),
    )
    .unwrap_or(0)
}

#[test]
fn wrong_pins_lock_the_box_for_a_while_even_against_the_right_pin() {
    let daemon = vm_daemon("");
    let cues = [
        cue("en", "vm-enter-password", Do::Keys("1111#")),
        cue("en", "vm-enter-password", Do::Keys("2222#")),
        cue("en", "vm-enter-password", Do::Keys("3333#")),
        cue("en", "vm-locked", Do::Nothing),
    ];
    let outcome = scripted(&daemon, "8701", "101", &cues, End::TelvoxHangsUp);
    assert_heard(
        &outcome.heard,
        &[
            ("en", "vm-login-incorrect"),
            ("en", "vm-login-incorrect"),
            ("en", "vm-locked"),
        ],
    );
    let until = locked_until(&daemon, "101");
    let now = telvox::apps::voicemail::db::now_ms();
    assert!(
        until > now + 500_000,
        "locked for about lockout_s = 600 s ({until} vs {now})"
    );
    assert!(
        daemon.log().contains("box 101 locked"),
        "the lockout is logged:\n{}",
        daemon.log()
    );
    // The right PIN is refused while locked; the lock is in the database, so it survives a restart.
    let mut daemon = daemon;
    daemon.stop();
    daemon.relaunch();
    let outcome = scripted(
        &daemon,
        "8701",
        "101",
        &[
            cue("en", "vm-enter-password", Do::Keys("1234#")),
            cue("en", "vm-locked", Do::Nothing),
        ],
        End::TelvoxHangsUp,
    );
    assert!(find(&outcome.heard, &prompt_alaw("en", "vm-you-have"), 0).is_none());
}

#[test]
fn a_greeting_recorded_by_phone_is_heard_by_the_next_caller() {
    let daemon = vm_daemon("");
    let cues = [
        cue("en", "vm-enter-password", Do::Keys("1234#")),
        cue("en", "vm-main-menu", Do::Keys("0")),
        cue("en", "vm-options", Do::Keys("1")),
        cue("en", "vm-beep", Do::SpeakThen(1200, "#")),
        cue("en", "vm-greeting-saved", Do::Nothing),
        cue("en", "vm-options", Do::Keys("*")),
        cue("en", "vm-main-menu", Do::Keys("#")),
    ];
    scripted(&daemon, "8701", "101", &cues, End::TelvoxHangsUp);
    let greeting = daemon
        .dir
        .path()
        .join("data/voicemail/101/greeting-unavailable.wav");
    let loud = loud_ms(&wav_samples(&greeting));
    assert!(
        (1150..=1300).contains(&loud),
        "{loud} ms of greeting (and the # key)"
    );
    // The next caller hears it (exactly: A-law survives the round trip) instead of the default.
    let tone = tone_blocks(1200).concat();
    let outcome = scripted(
        &daemon,
        "8601",
        CALLER,
        &[cue("en", "vm-beep", Do::SpeakThen(1500, "#"))],
        End::TelvoxHangsUp,
    );
    let at = find(&outcome.heard, &tone[..6400], 0).expect("the recorded greeting was played");
    let beep = find(&outcome.heard, &prompt_alaw("en", "vm-beep"), 0).unwrap();
    assert!(at < beep, "greeting before the beep");
    assert!(
        find(&outcome.heard, &prompt_alaw("en", "vm-person-at"), 0).is_none(),
        "not the default"
    );
}

#[test]
fn a_pin_changed_by_phone_is_stored_hashed_and_works_next_time() {
    let daemon = vm_daemon("");
    let cues = [
        cue("en", "vm-enter-password", Do::Keys("1234#")),
        cue("en", "vm-main-menu", Do::Keys("0")),
        cue("en", "vm-options", Do::Keys("4")),
        cue("en", "vm-new-password", Do::Keys("97531#")),
        cue("en", "vm-password-changed", Do::Nothing),
        cue("en", "vm-options", Do::Keys("*")),
        cue("en", "vm-main-menu", Do::Keys("#")),
    ];
    scripted(&daemon, "8701", "101", &cues, End::TelvoxHangsUp);
    let text = std::fs::read_to_string(daemon.dir.path().join("mailboxes.toml")).unwrap();
    assert!(!text.contains("97531"), "stored as a hash");
    scripted(
        &daemon,
        "8701",
        "101",
        &[
            cue("en", "vm-enter-password", Do::Keys("97531#")),
            cue("en", "vm-main-menu", Do::Keys("#")),
        ],
        End::TelvoxHangsUp,
    );
}

// ---------------------------------------------------------------------------------------------------
// Crash safety

#[test]
fn kill_9_during_a_message_then_restart_keeps_the_audio_up_to_the_kill() {
    let mut daemon = vm_daemon("");
    let mut party = daemon.party();
    let beep = prompt_alaw("en", "vm-beep");
    let tone = tone_blocks(4000);
    // Speak 4 s after the beep, then stop answering the card (without hanging up): in lockstep
    // the call stands still, mid-message, until the daemon is killed.
    party.send_control(&dial("8601", CALLER)).unwrap();
    loop {
        match party.recv(Some(Duration::from_secs(20))).unwrap() {
            Heard::Control(DaemonOp::Answered { .. }) => break,
            Heard::Control(_) | Heard::Audio(_) => {}
            other => panic!("no answer: {other:?}"),
        }
    }
    party.send_audio(&silence()).unwrap();
    let mut heard: Vec<u8> = Vec::new();
    let mut sent_tone = 0usize;
    let mut speaking = false;
    while sent_tone < tone.len() {
        match party.recv(Some(Duration::from_secs(20))).unwrap() {
            Heard::Audio(a) => {
                heard.extend_from_slice(&a);
                speaking |= find(
                    &heard,
                    &beep,
                    heard.len().saturating_sub(beep.len() + 2 * BLOCK_SAMPLES),
                )
                .is_some();
                if speaking {
                    party.send_audio(&tone[sent_tone]).unwrap();
                    sent_tone += 1;
                } else {
                    party.send_audio(&silence()).unwrap();
                }
            }
            Heard::Control(_) => {}
            other => panic!("the call ended early: {other:?}"),
        }
    }
    let killed = std::cell::Cell::new(true);
    assert!(killed.get());
    // Give the writer (flushing every 20 ms) a moment to put the last blocks on disk, then crash.
    std::thread::sleep(Duration::from_millis(200));
    let part: Vec<PathBuf> = std::fs::read_dir(daemon.dir.path().join("data/voicemail/101"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    daemon.kill_9();
    drop(party);
    assert!(
        part.iter().all(|p| p.to_string_lossy().ends_with(".wav.part")),
        "{part:?}"
    );
    daemon.relaunch();
    let list = wait_messages(&daemon, "the recovered message", |l| l.len() == 1);
    let samples = wav_samples(&message_path(&list[0]));
    let loud = loud_ms(&samples);
    assert!(
        (3800..=4000).contains(&loud),
        "{loud} ms of the 4 s before the kill"
    );
    assert!(daemon.log().contains("recovered"), "{}", daemon.log());
}

// ---------------------------------------------------------------------------------------------------
// Configuration and the CLI

#[test]
fn a_plain_pin_is_refused_and_vm_passwd_fixes_it() {
    let daemon = prepare_vm("[[box]]\nnumber = \"300\"\npin = \"1234\"\n");
    let out = daemon.cli(&["config", "check"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("mailboxes.toml:") && text.contains("telvox vm passwd 300"),
        "{text}"
    );
    let mut child = std::process::Command::new(BIN)
        .arg("--config")
        .arg(&daemon.config)
        .args(["vm", "passwd", "300"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"8642\n").unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    let out = daemon.cli(&["config", "check"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let text = std::fs::read_to_string(daemon.dir.path().join("mailboxes.toml")).unwrap();
    assert!(!text.contains("\"1234\""));
}

#[test]
fn vm_cli_plays_deletes_counts_and_status_shows_waiting_messages() {
    let daemon = vm_daemon("");
    leave(&daemon, "8601", Do::SpeakThen(1500, "#"), End::TelvoxHangsUp);
    let list = wait_messages(&daemon, "a message", |l| l.len() == 1);
    let id = list[0]["id"].as_i64().unwrap().to_string();
    let status = daemon.cli_json(&["status", "--json"]);
    assert_eq!(status["voicemail"]["boxes"][0]["box"], "101", "{status}");
    assert_eq!(status["voicemail"]["boxes"][0]["new"], 1);
    assert_eq!(status["voicemail"]["boxes"][0]["waiting"], true);
    let out_wav = daemon.dir.path().join("out.wav");
    let out = daemon.cli(&["vm", "play", "101", &id, "--out", out_wav.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(wav_samples(&out_wav), wav_samples(&message_path(&list[0])));
    let stats = daemon.cli_json(&["vm", "stats", "--json"]);
    let b101 = stats["boxes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["box"] == "101")
        .unwrap()
        .clone();
    assert_eq!(b101["new"], 1);
    let out = daemon.cli(&["vm", "delete", "102", &id]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a message of another box is not deleted"
    );
    let out = daemon.cli(&["vm", "delete", "101", &id]);
    assert!(out.status.success());
    assert!(!message_path(&list[0]).exists());
    let text = String::from_utf8_lossy(&daemon.cli(&["vm", "list", "101"]).stdout).to_string();
    assert!(text.contains("no messages"), "{text}");
}

// ---------------------------------------------------------------------------------------------------
// Email

use common::smtp::{free_port, mails, SmtpServer};

#[test]
fn mail_waits_while_the_smtp_server_is_down_and_arrives_with_the_wav_when_it_is_back() {
    let port = free_port();
    let smtp = format!(
        "[smtp]\nserver = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\n\
         from = \"telvox <vm@example.com>\"\nsubject = \"Voicemail for ${{box}} from ${{caller}}\"\nretry_max_s = 1\n"
    );
    let daemon = vm_daemon(&smtp);
    let maildir = daemon.dir.path().join("maildir");
    leave(&daemon, "8601", Do::SpeakThen(1500, "#"), End::TelvoxHangsUp);
    let list = wait_messages(&daemon, "the message", |l| l.len() == 1);
    // The server is down: the mail is tried, fails, and waits in the queue.
    let db = rusqlite::Connection::open(daemon.db_path()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (attempts, sent): (i64, Option<i64>) = db
            .query_row("SELECT attempts, sent_ms FROM vm_mail_queue", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert!(sent.is_none());
        if attempts >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "the mail was not tried");
        std::thread::sleep(Duration::from_millis(100));
    }
    let stats = daemon.cli_json(&["vm", "stats", "--json"]);
    assert_eq!(stats["mail"]["waiting"], 1, "{stats}");
    let _server = SmtpServer::start(port, &maildir);
    let deadline = Instant::now() + Duration::from_secs(20);
    while mails(&maildir).is_empty() {
        assert!(Instant::now() < deadline, "no mail arrived:\n{}", daemon.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    let found = mails(&maildir);
    assert_eq!(found.len(), 1);
    // Python's email package reads it: headers, and the attachment decoded to a file.
    let attachment = daemon.dir.path().join("attached.wav");
    let script = "import email,sys\n\
        m=email.message_from_binary_file(open(sys.argv[1],'rb'))\n\
        print(m['To']); print(m['From']); print(m['Subject'])\n\
        parts=[p for p in m.walk() if p.get_content_type()=='audio/wav']\n\
        open(sys.argv[2],'wb').write(parts[0].get_payload(decode=True)); print(parts[0].get_filename())\n";
    let out = std::process::Command::new("/usr/bin/python3")
        .args(["-c", script])
        .arg(&found[0])
        .arg(&attachment)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "support@example.com");
    assert!(lines[1].contains("vm@example.com"), "{text}");
    assert_eq!(lines[2], format!("Voicemail for 101 from {CALLER}"));
    assert!(lines[3].ends_with(".wav"), "{text}");
    assert_eq!(
        wav_samples(&attachment),
        wav_samples(&message_path(&list[0])),
        "the attachment is the message"
    );
    let sent: Option<i64> = db
        .query_row("SELECT sent_ms FROM vm_mail_queue", [], |r| r.get(0))
        .unwrap();
    assert!(sent.is_some());
}

// ---------------------------------------------------------------------------------------------------
// The shipped example

#[test]
fn the_shipped_main_menu_takes_a_message_for_box_100_and_8500_plays_it_in_mandarin() {
    // The shipped etc/ as is (mailboxes.toml included), the hotline open (Monday 10:00 Shanghai).
    let daemon = TestDaemon::start_with(|c| {
        c.replace(
            "[business]\n",
            "[business]\ntest_now = \"2026-11-23T10:00:00+08:00\"\n",
        )
    });
    let cues = [
        cue("zh", "choose-language", Do::Keys("2")),
        cue("en", "main-menu", Do::Keys("3")),
        cue("en", "vm-leave-after-tone", Do::Nothing),
        cue("en", "vm-beep", Do::SpeakThen(1500, "#")),
        cue("en", "vm-message-saved-thanks", Do::Nothing),
    ];
    let outcome = scripted(&daemon, "8000", CALLER, &cues, End::TelvoxHangsUp);
    assert_heard(
        &outcome.heard,
        &[
            ("en", "vm-person-at"),
            ("en", "say-1"),
            ("en", "say-0"),
            ("en", "say-0"),
            ("en", "goodbye"),
        ],
    );
    let list = wait_messages(&daemon, "the message in box 100", |l| l.len() == 1);
    assert_eq!(list[0]["box"], "100");
    // Box 100's language is zh: retrieval switches to it after the login.
    let cues = [
        cue("en", "vm-enter-box", Do::Keys("100#")),
        cue("en", "vm-enter-password", Do::Keys("1234#")),
        cue("zh", "vm-main-menu", Do::Keys("1")),
        cue("zh", "vm-msg-menu", Do::Keys("2")),
        cue("zh", "vm-no-more", Do::Nothing),
        cue("zh", "vm-main-menu", Do::Keys("#")),
    ];
    let outcome = scripted(&daemon, "8500", "5550100", &cues, End::TelvoxHangsUp);
    assert_heard(
        &outcome.heard,
        &[
            ("zh", "vm-you-have"),
            ("zh", "say-1"),
            ("zh", "vm-new"),
            ("zh", "vm-and"),
            ("zh", "say-0"),
            ("zh", "vm-saved"),
        ],
    );
    wait_messages(&daemon, "the message saved", |l| l[0]["folder"] == "saved");
}

// ---------------------------------------------------------------------------------------------------
// Message waiting, the command hook, reload

#[test]
fn message_waiting_events_the_notify_hook_and_reload() {
    let daemon = prepare_vm("[notify]\ncommand = \"hook.sh\"\n");
    let hook = daemon.dir.path().join("hook.sh");
    std::fs::write(
        &hook,
        "#!/bin/sh\nenv | grep '^TELVOX_VM_' | sort > \"$(dirname \"$0\")/hook-$TELVOX_VM_ID.env\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let daemon = daemon.launch();
    let events = daemon.events();
    leave(&daemon, "8601", Do::SpeakThen(1500, "#"), End::TelvoxHangsUp);
    let event = events
        .next_event(Duration::from_secs(10), |e| e["type"] == "message_waiting")
        .expect("a message_waiting event");
    assert_eq!(event["box"], "101");
    assert_eq!(event["new"], 1);
    assert_eq!(event["waiting"], true);
    let list = wait_messages(&daemon, "the message", |l| l.len() == 1);
    let env_file = daemon.dir.path().join(format!("hook-{}.env", list[0]["id"]));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !env_file.exists() {
        assert!(
            Instant::now() < deadline,
            "the hook did not run:\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    let env = std::fs::read_to_string(&env_file).unwrap();
    assert!(env.contains("TELVOX_VM_BOX=101\n"), "{env}");
    assert!(env.contains(&format!("TELVOX_VM_CALLER={CALLER}\n")), "{env}");
    assert!(env.contains("TELVOX_VM_EMAIL=support@example.com\n"), "{env}");
    assert!(
        env.contains(&format!("TELVOX_VM_FILE={}\n", list[0]["path"].as_str().unwrap())),
        "{env}"
    );
    drop(events);

    // Box 104 does not exist yet; a reload adds it for new calls.
    scripted(
        &daemon,
        "8604",
        CALLER,
        &[cue("en", "vm-no-mailbox", Do::Nothing)],
        End::TelvoxHangsUp,
    );
    let path = daemon.dir.path().join("mailboxes.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{text}[[box]]\nnumber = \"104\"\n")).unwrap();
    let out = daemon.cli(&["reload"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    leave(&daemon, "8604", Do::SpeakThen(1500, "#"), End::TelvoxHangsUp);
    wait_messages(&daemon, "a message in 104", |l| in_box(l, "104").len() == 1);
    // A bad mailboxes file is refused on reload and the running one kept.
    std::fs::write(
        &path,
        format!("{text}[[box]]\nnumber = \"104\"\npin = \"1111\"\n"),
    )
    .unwrap();
    let out = daemon.cli(&["reload"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("telvox vm passwd 104"));
    leave(&daemon, "8604", Do::SpeakThen(1500, "#"), End::TelvoxHangsUp);
    // (`telvox vm list` checks the file too: the good one goes back before looking.)
    std::fs::write(&path, format!("{text}[[box]]\nnumber = \"104\"\n")).unwrap();
    wait_messages(&daemon, "a second message in 104", |l| {
        in_box(l, "104").len() == 2
    });
}

#[test]
fn an_alaw_attachment_and_delete_after_email() {
    let port = free_port();
    let maildir_root = tempfile::tempdir().unwrap();
    // aiosmtpd makes the maildir only when the directory does not exist yet.
    let maildir = maildir_root.path().join("md");
    let _server = SmtpServer::start(port, &maildir);
    let smtp = format!(
        "[smtp]\nserver = \"127.0.0.1\"\nport = {port}\nattach_format = \"alaw\"\n\
         [[box]]\nnumber = \"105\"\nemail = \"boss@example.com\"\ndelete_after_email = true\n"
    );
    let daemon = prepare_vm(&smtp);
    std::fs::write(daemon.dir.path().join("flows/leave105.toml"), leave_flow("105")).unwrap();
    let config = std::fs::read_to_string(&daemon.config).unwrap();
    std::fs::write(
        &daemon.config,
        config.replace("[numbers]\n", "[numbers]\n\"8605\" = \"leave105\"\n"),
    )
    .unwrap();
    let daemon = daemon.launch();
    leave(&daemon, "8605", Do::SpeakThen(1500, "#"), End::TelvoxHangsUp);
    let deadline = Instant::now() + Duration::from_secs(20);
    while mails(&maildir).is_empty() {
        assert!(Instant::now() < deadline, "no mail:\n{}", daemon.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let attachment = daemon.dir.path().join("attached.wav");
    let script = "import email,sys\n\
        m=email.message_from_binary_file(open(sys.argv[1],'rb'))\n\
        parts=[p for p in m.walk() if p.get_content_type()=='audio/wav']\n\
        open(sys.argv[2],'wb').write(parts[0].get_payload(decode=True))\n";
    let out = std::process::Command::new("/usr/bin/python3")
        .args(["-c", script])
        .arg(&mails(&maildir)[0])
        .arg(&attachment)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = std::process::Command::new("soxi")
        .arg("-e")
        .arg(&attachment)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "A-law",
        "sox reads an A-law WAV"
    );
    let prompt = telvox::voice::Prompt::load(&attachment).expect("telvox reads it too");
    let mut samples = vec![0i16; prompt.len_samples()];
    prompt.read_linear(0, &mut samples);
    assert!(
        (1400..=1600).contains(&loud_ms(&samples)),
        "the caller's tone is in the attachment"
    );
    // Mailed, then deleted (delete_after_email): neither row nor file stays.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list = daemon.cli_json(&["vm", "list", "105", "--json"]);
        if list.as_array().unwrap().is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "not deleted after the mail: {list}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let dir = daemon.dir.path().join("data/voicemail/105");
    assert_eq!(std::fs::read_dir(dir).unwrap().count(), 0);
}

#[test]
fn a_recorded_name_replaces_the_digits_and_a_key_skips_a_playing_message() {
    let daemon = vm_daemon("");
    let cues = [
        cue("en", "vm-enter-password", Do::Keys("1234#")),
        cue("en", "vm-main-menu", Do::Keys("0")),
        cue("en", "vm-options", Do::Keys("3")),
        cue("en", "vm-beep", Do::SpeakThen(800, "#")),
        cue("en", "vm-greeting-saved", Do::Nothing),
        cue("en", "vm-options", Do::Keys("#")),
        cue("en", "vm-main-menu", Do::Keys("#")),
    ];
    scripted(&daemon, "8701", "101", &cues, End::TelvoxHangsUp);
    let name = tone_blocks(800).concat();
    let outcome = leave(&daemon, "8601", Do::SpeakThen(5000, "#"), End::TelvoxHangsUp);
    let person = find(&outcome.heard, &prompt_alaw("en", "vm-person-at"), 0).expect("default greeting");
    let said = find(&outcome.heard, &name[..3200], person).expect("the recorded name");
    let unavailable =
        find(&outcome.heard, &prompt_alaw("en", "vm-unavailable"), said).expect("then unavailable");
    assert!(
        find(
            &outcome.heard[person..unavailable],
            &prompt_alaw("en", "say-0"),
            0
        )
        .is_none(),
        "no digits"
    );
    wait_messages(&daemon, "the message", |l| l.len() == 1);
    // A key during the 5 s message stops it at once (barge-in) and acts: 3 = next, then no more.
    let mut party = daemon.party();
    let env = prompt_alaw("en", "vm-received");
    let key3 = key_blocks("3");
    let mut pressed_at: Option<usize> = None;
    let (mut sent, mut keys_sent) = (0usize, 0usize);
    let pin = key_blocks("1234#");
    let menu = prompt_alaw("en", "vm-main-menu");
    let one = key_blocks("1");
    let mut stage = 0;
    let started = Instant::now();
    let outcome = run_call(
        &mut party,
        &dial("8701", "101"),
        Duration::from_secs(20),
        |blocks, heard| {
            if blocks > MAX_CALL_BLOCKS || started.elapsed() > MAX_CALL_WALL {
                return None;
            }
            let recent = |needle: &[u8]| {
                find(
                    heard,
                    needle,
                    heard.len().saturating_sub(needle.len() + 2 * BLOCK_SAMPLES),
                )
                .is_some()
            };
            match stage {
                0 if blocks > 250 => {
                    // The PIN (asked at once), then wait for the main menu.
                    sent += 1;
                    if sent <= pin.len() {
                        return Some(pin[sent - 1]);
                    }
                    stage = 1;
                }
                1 if recent(&menu) => stage = 2,
                2 => {
                    keys_sent += 1;
                    if keys_sent <= one.len() {
                        return Some(one[keys_sent - 1]);
                    }
                    stage = 3;
                }
                3 if recent(&env) => {
                    stage = 4;
                    pressed_at = Some(heard.len() + 200 * BLOCK_SAMPLES);
                }
                4 if pressed_at.is_some_and(|at| heard.len() >= at) => {
                    let i = (heard.len() - pressed_at.unwrap()) / BLOCK_SAMPLES;
                    if i < key3.len() {
                        return Some(key3[i]);
                    }
                    stage = 5;
                }
                _ => {}
            }
            Some(silence())
        },
    )
    .unwrap();
    let at = pressed_at.unwrap();
    let no_more =
        find(&outcome.heard, &prompt_alaw("en", "vm-no-more"), at).expect("3 went to the next message");
    assert!(
        no_more < at + 3 * 8000,
        "the 5 s message was cut short by the key"
    );
}

#[test]
fn the_busy_greeting_is_its_own() {
    let daemon = vm_daemon("");
    let cues = [
        cue("en", "vm-enter-password", Do::Keys("1234#")),
        cue("en", "vm-main-menu", Do::Keys("0")),
        cue("en", "vm-options", Do::Keys("2")),
        cue("en", "vm-beep", Do::SpeakThen(1000, "#")),
        cue("en", "vm-greeting-saved", Do::Nothing),
        cue("en", "vm-options", Do::Keys("*")),
        cue("en", "vm-main-menu", Do::Keys("#")),
    ];
    scripted(&daemon, "8701", "101", &cues, End::TelvoxHangsUp);
    let greeting = tone_blocks(1000).concat();
    // The busy flow plays it; the unavailable one still has the default.
    let busy = leave(&daemon, "8611", Do::SpeakThen(1200, "#"), End::TelvoxHangsUp);
    assert!(
        find(&busy.heard, &greeting[..4000], 0).is_some(),
        "the busy greeting"
    );
    assert!(find(&busy.heard, &prompt_alaw("en", "vm-person-at"), 0).is_none());
    let unavailable = leave(&daemon, "8601", Do::SpeakThen(1200, "#"), End::TelvoxHangsUp);
    assert!(find(&unavailable.heard, &greeting[..4000], 0).is_none());
    assert_heard(
        &unavailable.heard,
        &[("en", "vm-person-at"), ("en", "vm-unavailable")],
    );
}

// ---------------------------------------------------------------------------------------------------
// Email over TLS (STARTTLS, SMTPS) and SMTP AUTH, against aiosmtpd with a certificate made here

/// aiosmtpd requiring STARTTLS (`starttls`) or speaking TLS from the first byte (`smtps`), with a
/// certificate for 127.0.0.1; with `secret` ("user:password") it requires AUTH (over TLS) and
/// checks the credentials itself, appending "MECHANISM ok|refused" per try to `auth.log`;
/// `mechs` "LOGIN" offers AUTH LOGIN only.
const TLS_SERVER: &str = r#"
import ssl, sys, time
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword

port, maildir, mode, cert, key, secret, authlog, mechs = sys.argv[1:9]

def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword)
          and auth_data.login + b":" + auth_data.password == secret.encode())
    with open(authlog, "a") as f:
        print(mechanism, "ok" if ok else "refused", file=f)
    return AuthResult(success=ok, handled=False)

ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)
kw = {}
if secret != "-":
    kw.update(authenticator=authenticator, auth_required=True, auth_require_tls=True)
    if mechs == "LOGIN":
        kw.update(auth_exclude_mechanism=["PLAIN"])
if mode == "starttls":
    kw.update(tls_context=ctx, require_starttls=True)
elif mode == "smtps":
    kw.update(ssl_context=ctx)
Controller(Mailbox(maildir), hostname="127.0.0.1", port=int(port), **kw).start()
while True:
    time.sleep(3600)
"#;

/// A self-signed certificate for 127.0.0.1 (and its key), made with openssl: (cert.pem, key.pem).
fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl (apt-get install openssl)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (cert, key)
}

fn start_tls_server(dir: &Path, port: u16, mode: &str, secret: &str, mechs: &str) -> SmtpServer {
    let script = dir.join("tls_server.py");
    std::fs::write(&script, TLS_SERVER).unwrap();
    let child = std::process::Command::new("/usr/bin/python3")
        .arg(&script)
        .arg(port.to_string())
        .arg(dir.join("maildir"))
        .arg(mode)
        .arg(dir.join("cert.pem"))
        .arg(dir.join("key.pem"))
        .arg(secret)
        .arg(dir.join("auth.log"))
        .arg(mechs)
        .env("PYTHONWARNINGS", "ignore")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("python3 with aiosmtpd (apt-get install python3-aiosmtpd)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "aiosmtpd did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    SmtpServer::from_child(child)
}

/// The one queued mail's (attempts, sent_ms, last_error).
fn queue_row(daemon: &TestDaemon) -> (i64, Option<i64>, Option<String>) {
    let db = rusqlite::Connection::open(daemon.db_path()).unwrap();
    db.query_row(
        "SELECT attempts, sent_ms, last_error FROM vm_mail_queue ORDER BY id DESC LIMIT 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .unwrap()
}

/// Waits until the last queued mail has failed at least `tries` times; its last error.
fn wait_failed(daemon: &TestDaemon, tries: i64) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (attempts, sent, error) = queue_row(daemon);
        assert!(sent.is_none(), "the mail went out:\n{}", daemon.log());
        if attempts >= tries {
            return error.unwrap_or_default();
        }
        assert!(
            Instant::now() < deadline,
            "the mail was not tried:\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_mails(daemon: &TestDaemon, maildir: &Path, n: usize) -> Vec<PathBuf> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while mails(maildir).len() < n {
        assert!(Instant::now() < deadline, "no mail arrived:\n{}", daemon.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let found = mails(maildir);
    assert_eq!(found.len(), n);
    found
}

fn smtp_section(port: u16, security: &str, extra: &str) -> String {
    format!(
        "[smtp]\nserver = \"127.0.0.1\"\nport = {port}\nsecurity = \"{security}\"\n\
         from = \"telvox <vm@example.com>\"\nsubject = \"Voicemail for ${{box}}\"\nretry_max_s = 1\n{extra}"
    )
}

fn subject_of(mail: &Path) -> String {
    let text = std::fs::read_to_string(mail).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("Subject: "))
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn starttls_with_an_untrusted_certificate_keeps_the_mail_queued_until_ca_file_trusts_it() {
    let port = free_port();
    let daemon = vm_daemon(&smtp_section(port, "starttls", ""));
    let dir = daemon.dir.path().to_path_buf();
    let (cert, _) = self_signed(&dir);
    let _server = start_tls_server(&dir, port, "starttls", "-", "-");
    leave(&daemon, "8601", Do::SpeakThen(1500, "#"), End::TelvoxHangsUp);
    wait_messages(&daemon, "the message", |l| l.len() == 1);
    // Without ca_file the self-signed certificate is not trusted: no mail, a clear error, queued.
    let error = wait_failed(&daemon, 2);
    assert!(error.contains("certificate"), "{error}");
    assert!(error.contains("smtp.ca_file"), "{error}");
    let log = daemon.log();
    assert!(
        log.lines()
            .any(|l| l.contains("WARN") && l.contains("mail for message") && l.contains("certificate")),
        "{log}"
    );
    assert!(mails(&dir.join("maildir")).is_empty());
    let stats = daemon.cli_json(&["vm", "stats", "--json"]);
    assert_eq!(stats["mail"]["waiting"], 1, "{stats}");
    // Trust the server's certificate and reload: the waiting mail goes out over STARTTLS.
    let mailboxes = std::fs::read_to_string(dir.join("mailboxes.toml")).unwrap();
    std::fs::write(
        dir.join("mailboxes.toml"),
        mailboxes.replace("retry_max_s = 1\n", "retry_max_s = 1\nca_file = \"cert.pem\"\n"),
    )
    .unwrap();
    assert!(cert.exists());
    let out = daemon.cli(&["reload"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let found = wait_mails(&daemon, &dir.join("maildir"), 1);
    assert_eq!(subject_of(&found[0]), "Voicemail for 101");
    let deadline = Instant::now() + Duration::from_secs(10);
    while queue_row(&daemon).1.is_none() {
        assert!(Instant::now() < deadline, "not marked sent:\n{}", daemon.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn implicit_tls_smtps_delivers_with_ca_file() {
    let port = free_port();
    let daemon = prepare_vm(&smtp_section(port, "tls", "ca_file = \"cert.pem\"\n"));
    self_signed(daemon.dir.path());
    let daemon = daemon.launch();
    let _server = start_tls_server(daemon.dir.path(), port, "smtps", "-", "-");
    leave(&daemon, "8601", Do::SpeakThen(1500, "#"), End::TelvoxHangsUp);
    let found = wait_mails(&daemon, &daemon.dir.path().join("maildir"), 1);
    assert_eq!(subject_of(&found[0]), "Voicemail for 101");
}

#[test]
fn smtp_auth_over_starttls_wrong_password_waits_right_one_delivers_plain_and_login() {
    use std::os::unix::fs::PermissionsExt;
    let port = free_port();
    let daemon = prepare_vm(&smtp_section(
        port,
        "starttls",
        "ca_file = \"cert.pem\"\ncredentials = \"smtp.cred\"\n",
    ));
    let dir = daemon.dir.path().to_path_buf();
    self_signed(&dir);
    let cred = dir.join("smtp.cred");
    let write_cred = |text: &str| {
        let tmp = dir.join("smtp.cred.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::rename(&tmp, &cred).unwrap();
    };
    write_cred("voicemail:wrong\n");
    let daemon = daemon.launch();
    let auth_log = || std::fs::read_to_string(dir.join("auth.log")).unwrap_or_default();
    let mut server = start_tls_server(&dir, port, "starttls", "voicemail:s3cret", "-");
    leave(&daemon, "8601", Do::SpeakThen(1500, "#"), End::TelvoxHangsUp);
    // Wrong password: the server refuses it, the mail waits, the log says why.
    let error = wait_failed(&daemon, 2);
    assert!(error.contains("authentication"), "{error}");
    assert!(auth_log().lines().any(|l| l == "PLAIN refused"), "{}", auth_log());
    assert!(
        daemon
            .log()
            .lines()
            .any(|l| l.contains("WARN") && l.contains("mail for message") && l.contains("authentication")),
        "{}",
        daemon.log()
    );
    assert!(mails(&dir.join("maildir")).is_empty());
    // The right password (the file is read per try): the same mail goes out.
    write_cred("voicemail:s3cret\n");
    wait_mails(&daemon, &dir.join("maildir"), 1);
    assert_eq!(auth_log().lines().last(), Some("PLAIN ok"), "{}", auth_log());
    // A server offering AUTH LOGIN only.
    drop(server);
    server = start_tls_server(&dir, port, "starttls", "voicemail:s3cret", "LOGIN");
    leave(&daemon, "8601", Do::SpeakThen(1500, "#"), End::TelvoxHangsUp);
    wait_mails(&daemon, &dir.join("maildir"), 2);
    assert_eq!(auth_log().lines().last(), Some("LOGIN ok"), "{}", auth_log());
    drop(server);
}

#[test]
fn starttls_never_falls_back_to_clear_text() {
    let port = free_port();
    let daemon = prepare_vm(&smtp_section(port, "starttls", "ca_file = \"cert.pem\"\n"));
    let dir = daemon.dir.path().to_path_buf();
    self_signed(&dir);
    let daemon = daemon.launch();
    // A server without STARTTLS: the mail is not sent in clear text, it waits.
    let _server = SmtpServer::start(port, &dir.join("maildir"));
    leave(&daemon, "8601", Do::SpeakThen(1500, "#"), End::TelvoxHangsUp);
    let error = wait_failed(&daemon, 2);
    assert!(error.to_lowercase().contains("starttls"), "{error}");
    assert!(mails(&dir.join("maildir")).is_empty());
}
