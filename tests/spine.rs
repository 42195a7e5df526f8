//! End-to-end tests of the spine: a real daemon on the lockstep sim card, driven through the sim far
//! end and the CLI, checked on the audio a caller hears and the call log on disk.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;
use telvox::hw::sim::client::{run_call, Heard};
use telvox::hw::sim::protocol::{DaemonOp, PartyOp};
use telvox::hw::{Law, BLOCK_SAMPLES};

fn blocks_of(language: &str, name: &str) -> usize {
    prompt_alaw(language, name).len().div_ceil(BLOCK_SAMPLES)
}

/// Blocks from the answer until "please enter" has finished.
fn opening_blocks() -> usize {
    blocks_of("en", "welcome") + blocks_of("en", "please-enter")
}

#[test]
fn caller_hears_welcome_keys_are_said_back_and_the_call_is_logged() {
    let daemon = TestDaemon::start();
    let mut party = daemon.party();
    let keys_at = opening_blocks() + 10;
    let outcome = call_with_keys(&mut party, "8999", "1234#", keys_at, None);
    assert!(outcome.answered, "{outcome:?}");
    assert_eq!(
        outcome.cause.as_deref(),
        Some("NORMAL_CLEARING"),
        "telvox hangs up after goodbye"
    );

    // The opening, checked the general way: correlation with the prompt's samples after G.711.
    let welcome = prompt_alaw("en", "welcome");
    let heard_lin: Vec<i16> = outcome.heard[..welcome.len()]
        .iter()
        .map(|&c| telvox::dsp::g711::decode(Law::Alaw, c))
        .collect();
    let welcome_lin: Vec<i16> = welcome
        .iter()
        .map(|&c| telvox::dsp::g711::decode(Law::Alaw, c))
        .collect();
    let c = correlation(&heard_lin, &welcome_lin);
    assert!(
        c > 0.99,
        "the first thing heard is the welcome prompt (correlation {c:.3})"
    );

    // Then every prompt in order (A-law prompt on an A-law line: the round trip is bit-exact).
    let at = assert_prompts_in_order(
        &outcome.heard,
        "en",
        &[
            "welcome",
            "please-enter",
            "you-entered",
            "digit-1",
            "digit-2",
            "digit-3",
            "digit-4",
            "goodbye",
        ],
    );
    // Four keys of 60 ms on + 60 ms off (6 blocks each) come before the "#" that ends the entry.
    assert!(
        at[2] >= (keys_at + 4 * 6) * BLOCK_SAMPLES,
        "the keys are said back only after # was pressed"
    );
    let goodbye_end = at[7] + prompt_alaw("en", "goodbye").len();
    assert!(
        outcome.heard.len() - goodbye_end < 2 * BLOCK_SAMPLES,
        "hangs up right after goodbye"
    );

    let calls = daemon.wait_calls("the call to be complete", |c| {
        c.len() == 1 && c[0]["end"].is_string()
    });
    let call = &calls[0];
    assert_eq!(call["uniqueid"], outcome.call_id.clone().unwrap().as_str());
    assert_eq!(call["channel"], outcome.channel.clone().unwrap().as_str());
    assert_eq!(call["src"], "13800138000");
    assert_eq!(call["dst"], "8999");
    assert_eq!(call["digits"], "1234#");
    assert_eq!(call["disposition"], "ANSWERED");
    assert_eq!(call["hangup_cause"], "NORMAL_CLEARING");
    assert_eq!(call["flow"], "linetest");
    let heard_s = outcome.heard.len() as i64 / 8000;
    let duration = call["duration"].as_i64().unwrap();
    assert!(
        (duration - heard_s).abs() <= 1,
        "duration {duration} s matches the {heard_s} s heard (sample clock, not wall time)"
    );
    let ring_s = call["duration"].as_i64().unwrap() - call["billsec"].as_i64().unwrap();
    assert!(
        (0..=1).contains(&ring_s),
        "answered after one 1 s ring (rang {ring_s} s)"
    );
}

#[test]
fn no_keys_times_out_says_so_and_logs_no_digits() {
    let daemon = TestDaemon::start();
    let mut party = daemon.party();
    let outcome = call_with_keys(&mut party, "8999", "", 0, None);
    assert_prompts_in_order(
        &outcome.heard,
        "en",
        &["welcome", "please-enter", "timeout", "goodbye"],
    );
    let timeout_at = find(&outcome.heard, &prompt_alaw("en", "timeout"), 0).unwrap();
    let opening_end = opening_blocks() * BLOCK_SAMPLES;
    let waited_s = (timeout_at as f64 - opening_end as f64) / 8000.0;
    assert!(
        (4.9..=5.1).contains(&waited_s),
        "waits the 5 s timeout after the prompt (waited {waited_s:.2} s)"
    );
    let calls = daemon.wait_calls("the call", |c| c.len() == 1 && c[0]["end"].is_string());
    assert_eq!(calls[0]["digits"], "");
}

#[test]
fn keys_barge_in_on_the_welcome_prompt() {
    let daemon = TestDaemon::start();
    let mut party = daemon.party();
    let outcome = call_with_keys(&mut party, "8999", "7#", 20, None);
    let please = prompt_alaw("en", "please-enter");
    assert!(
        find(&outcome.heard, &please, 0).is_none(),
        "a key during welcome stops the opening prompts"
    );
    assert_prompts_in_order(&outcome.heard, "en", &["you-entered", "digit-7", "goodbye"]);
}

#[test]
fn mandarin_prompt_set_is_used_when_configured() {
    let daemon = TestDaemon::start_with(|c| set_key(&c, "language", "\"zh\""));
    let mut party = daemon.party();
    let keys_at = blocks_of("zh", "welcome") + blocks_of("zh", "please-enter") + 10;
    let outcome = call_with_keys(&mut party, "8999", "5#", keys_at, None);
    assert_prompts_in_order(
        &outcome.heard,
        "zh",
        &["welcome", "please-enter", "you-entered", "digit-5", "goodbye"],
    );
}

#[test]
fn unrouted_and_unassigned_numbers_are_refused_with_a_cause() {
    let daemon = TestDaemon::start();
    let mut party = daemon.party();
    // Routed by the card (the span takes every number) but no flow answers it.
    let outcome = run_call(
        &mut party,
        &dial("12345", "100"),
        Duration::from_secs(10),
        |_, _| None,
    )
    .unwrap();
    assert!(!outcome.answered);
    assert_eq!(outcome.cause.as_deref(), Some("UNALLOCATED"));
    let calls = daemon.wait_calls("the refused call", |c| c.len() == 1 && c[0]["end"].is_string());
    assert_eq!(calls[0]["disposition"], "FAILED");
    assert_eq!(calls[0]["hangup_cause"], "UNALLOCATED");
    daemon.wait_all_idle();
}

/// Where in the call the caller hangs up.
#[derive(Debug, Clone, Copy)]
enum HangupPoint {
    Ringing,
    Block(usize),
    Vanish(usize),
}

#[test]
fn hangup_at_every_state_and_random_offsets_leaks_nothing_and_logs_every_call() {
    // Two rings before the answer, so there is a ringing state to hang up in.
    let daemon = TestDaemon::start_with(|c| set_key(&c, "answer_after_rings", "2"));
    let opening = opening_blocks();
    let mut points = vec![
        HangupPoint::Ringing,
        HangupPoint::Block(0),
        HangupPoint::Block(1),
        HangupPoint::Block(opening / 2),
        HangupPoint::Block(opening + 3),
        HangupPoint::Block(opening + 250),
        HangupPoint::Vanish(5),
        HangupPoint::Vanish(opening + 260),
    ];
    let seed = 20261122;
    let mut rng = Rng::new(seed);
    for _ in 0..16 {
        let at = rng.below((opening + 400) as u64) as usize;
        points.push(if rng.below(3) == 0 {
            HangupPoint::Vanish(at)
        } else {
            HangupPoint::Block(at)
        });
    }
    for (i, point) in points.iter().enumerate() {
        hang_up_at(&daemon, *point, i);
        daemon.wait_all_idle();
    }
    let calls = daemon.wait_calls("every call to be logged and closed", |c| {
        c.len() == points.len() && c.iter().all(|x| x["end"].is_string())
    });
    let no_answer = calls.iter().filter(|c| c["disposition"] == "NO ANSWER").count();
    assert_eq!(
        no_answer, 1,
        "exactly the ringing hangup is unanswered (seed {seed}, points {points:?})"
    );
    assert!(
        calls.iter().all(|c| c["hangup_cause"].is_string()),
        "every call has a cause"
    );
    let status = daemon.cli_json(&["status", "--json"]);
    assert_eq!(status["channels"]["idle"], 30, "no leaked channel");
}

fn hang_up_at(daemon: &TestDaemon, point: HangupPoint, i: usize) {
    let mut party = daemon.party();
    let keys = key_blocks("12#");
    match point {
        HangupPoint::Ringing => {
            party.send_control(&dial("8999", &format!("{i}"))).unwrap();
            assert_eq!(
                party.recv_control(Duration::from_secs(5)).unwrap(),
                Some(DaemonOp::Ringing)
            );
            party.send_control(&PartyOp::Hangup).unwrap();
        }
        HangupPoint::Block(at) | HangupPoint::Vanish(at) => {
            let keys_at = opening_blocks() + 5;
            let outcome = run_call(
                &mut party,
                &dial("8999", &format!("{i}")),
                Duration::from_secs(20),
                |blocks, _| {
                    if blocks >= at {
                        return None;
                    }
                    Some(
                        blocks
                            .checked_sub(keys_at)
                            .and_then(|k| keys.get(k).copied())
                            .unwrap_or_else(silence),
                    )
                },
            );
            let outcome = outcome.unwrap();
            assert!(outcome.answered, "call {i} at {point:?}: {outcome:?}");
            if matches!(point, HangupPoint::Vanish(_)) {
                drop(party);
            }
        }
    }
}

#[test]
fn thirty_concurrent_callers_all_get_through_and_are_logged() {
    let daemon = TestDaemon::start();
    let socket = daemon.sim_socket();
    let keys_at = opening_blocks() + 5;
    let handles: Vec<_> = (0..30)
        .map(|i| {
            let socket = socket.clone();
            std::thread::spawn(move || {
                let mut party = telvox::hw::sim::client::Party::connect(&socket).unwrap();
                let keys = format!("{}#", i % 10);
                let outcome = call_with_keys(&mut party, "8999", &keys, keys_at + i, None);
                (outcome, keys)
            })
        })
        .collect();
    let mut channels = std::collections::HashSet::new();
    for h in handles {
        let (outcome, keys) = h.join().unwrap();
        assert!(outcome.answered, "{outcome:?}");
        assert_eq!(outcome.cause.as_deref(), Some("NORMAL_CLEARING"));
        let digit = &keys[..1];
        assert_prompts_in_order(
            &outcome.heard,
            "en",
            &["you-entered", &format!("digit-{digit}"), "goodbye"],
        );
        channels.insert(outcome.channel.unwrap());
    }
    assert_eq!(channels.len(), 30, "thirty calls at once take thirty channels");
    let calls = daemon.wait_calls("30 complete calls", |c| {
        c.len() == 30 && c.iter().all(|x| x["end"].is_string())
    });
    assert!(calls.iter().all(|c| c["disposition"] == "ANSWERED"));
    let mut digits: Vec<String> = calls
        .iter()
        .map(|c| c["digits"].as_str().unwrap().to_string())
        .collect();
    digits.sort();
    let mut want: Vec<String> = (0..30).map(|i| format!("{}#", i % 10)).collect();
    want.sort();
    assert_eq!(digits, want, "every caller's keys, exactly once");
}

#[test]
fn thirty_first_caller_gets_congestion_not_a_hang() {
    // Answering on the offer needs no tick of the card, so thirty silent callers can be held up
    // without racing the lockstep clock.
    let daemon = TestDaemon::start_with(|c| set_key(&c, "answer_after_rings", "0"));
    // Hold 30 calls up: answer, send one block, then stay quiet (lockstep waits on them).
    let mut held = Vec::new();
    for i in 0..30 {
        let mut party = daemon.party();
        party.send_control(&dial("8999", &i.to_string())).unwrap();
        loop {
            match party.recv(Some(Duration::from_secs(5))).unwrap() {
                Heard::Control(DaemonOp::Answered { .. }) => break,
                Heard::Control(DaemonOp::Ringing) | Heard::Audio(_) => {}
                other => panic!("caller {i}: {other:?}"),
            }
        }
        held.push(party);
    }
    let mut extra = daemon.party();
    extra.send_control(&dial("8999", "31")).unwrap();
    assert_eq!(
        extra.recv_control(Duration::from_secs(5)).unwrap(),
        Some(DaemonOp::Hangup {
            cause: "NORMAL_CIRCUIT_CONGESTION".into()
        })
    );
    let status = daemon.cli_json(&["status", "--json"]);
    assert_eq!(status["counters"]["congestion"], 1);
    drop(held);
    daemon.wait_all_idle();
}

#[test]
fn malformed_messages_get_errors_and_vanishing_parties_are_hangups() {
    let daemon = TestDaemon::start();
    let malformed: Vec<(&[u8], &str)> = vec![
        (b"\x09hello", "unknown message type"),
        (b"\x02not json", "not valid JSON"),
        (b"\x02{\"op\":\"teleport\"}", "unknown op"),
        (b"\x02{\"op\":\"dial\"}", "bad \"dial\""),
        (b"\x02{\"op\":\"dial\",\"to\":\"12ab!\"}", "not a number"),
        (b"\x02{\"op\":\"answer\"}", "no incoming call"),
        (b"\x02{\"op\":\"hangup\"}", "no call to hang up"),
        (b"\x02{\"op\":\"dial\",\"to\":\"8999\",\"span\":9}", "no span 9"),
        (b"\x01", "AUDIO carries 0 bytes"),
    ];
    let mut party = daemon.party();
    for (msg, want) in &malformed {
        party.send_raw(msg).unwrap();
        match party.recv_control(Duration::from_secs(5)).unwrap() {
            Some(DaemonOp::Error { message }) => {
                assert!(message.contains(want), "{message:?} should say {want:?}")
            }
            other => panic!("{msg:?}: expected an error, got {other:?}"),
        }
    }
    let oversize = vec![0x02u8; 9000];
    party.send_raw(&oversize).unwrap();
    assert!(matches!(
        party.recv_control(Duration::from_secs(5)).unwrap(),
        Some(DaemonOp::Error { .. })
    ));

    // Parties that vanish at every point: before dialling, while ringing, mid-call.
    drop(daemon.party());
    let ringing = daemon.party();
    ringing.send_control(&dial("8999", "1")).unwrap();
    drop(ringing);
    let mut mid_call = daemon.party();
    let seed = 7;
    let mut rng = Rng::new(seed);
    for _ in 0..5 {
        let at = 1 + rng.below(200) as usize;
        let outcome = run_call(
            &mut mid_call,
            &dial("8999", "2"),
            Duration::from_secs(10),
            |b, _| (b < at).then(silence),
        )
        .unwrap();
        assert!(outcome.answered);
        // Then garbage interleaved with a fresh call still works on the same connection.
        mid_call.send_raw(b"\x02{{{{").unwrap();
        let _ = mid_call.recv_control(Duration::from_secs(5)).unwrap();
    }
    drop(mid_call);
    daemon.wait_all_idle();

    // The daemon is unharmed: a normal call goes through.
    let mut party = daemon.party();
    let outcome = call_with_keys(&mut party, "8999", "9#", opening_blocks() + 5, None);
    assert_prompts_in_order(&outcome.heard, "en", &["you-entered", "digit-9", "goodbye"]);
    let calls = daemon.wait_calls("all calls closed", |c| {
        c.iter().all(|x| x["end"].is_string()) && c.len() >= 7
    });
    assert!(calls
        .iter()
        .any(|c| c["disposition"] == "NO ANSWER" || c["disposition"] == "ANSWERED"));
}

#[test]
fn bad_config_at_start_names_file_line_column_and_exits_nonzero() {
    let daemon = TestDaemon::prepare(|c| set_key(&c, "clock", "\"fast\""));
    let out = std::process::Command::new(BIN)
        .args(["daemon", "--foreground", "--config"])
        .arg(&daemon.config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let text = std::fs::read_to_string(&daemon.config).unwrap();
    let line = text.lines().position(|l| l.starts_with("clock")).unwrap() + 1;
    assert!(
        stderr.contains(&format!("telvox.toml:{line}:")),
        "names file and line {line}: {stderr}"
    );
    assert!(
        stderr.contains("lockstep") && stderr.contains("realtime"),
        "says what is allowed: {stderr}"
    );
}

#[test]
fn bad_config_at_reload_is_refused_and_the_old_one_keeps_working() {
    let daemon = TestDaemon::start();
    let good = std::fs::read_to_string(&daemon.config).unwrap();
    std::fs::write(&daemon.config, set_key(&good, "max_digits", "999")).unwrap();
    let out = daemon.cli(&["reload"]);
    assert!(!out.status.success(), "reload of a bad config fails");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("telvox.toml:") && stderr.contains("max_digits"),
        "{stderr}"
    );
    assert!(
        stderr.contains("keeps its current configuration"),
        "says the running config is kept: {stderr}"
    );
    // SIGHUP reaches the daemon itself, which validates and refuses too.
    let pid = nix::unistd::Pid::from_raw(daemon.pid() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::SIGHUP).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !daemon.log().contains("reload refused") {
        assert!(
            std::time::Instant::now() < deadline,
            "no refusal logged:\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        daemon.log().contains("max_digits"),
        "the log names the problem:\n{}",
        daemon.log()
    );

    // The daemon still runs the old config (CLI verbs that read the file are pointed at a good copy).
    std::fs::write(&daemon.config, &good).unwrap();
    let mut party = daemon.party();
    let outcome = call_with_keys(&mut party, "8999", "3#", opening_blocks() + 5, None);
    assert_prompts_in_order(&outcome.heard, "en", &["you-entered", "digit-3"]);

    // A good change applies to new calls.
    let mut party = daemon.party();
    let before = run_call(&mut party, &dial("7000", "1"), Duration::from_secs(10), |_, _| {
        None
    })
    .unwrap();
    assert_eq!(before.cause.as_deref(), Some("UNALLOCATED"));
    std::fs::write(
        &daemon.config,
        good.replace("[numbers]", "[numbers]\n\"7000\" = \"linetest\""),
    )
    .unwrap();
    let out = daemon.cli(&["reload"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut party = daemon.party();
    let after = call_with_keys(&mut party, "7000", "", 0, Some(10));
    assert!(after.answered, "7000 answers after the reload");
}

#[test]
fn kill_9_with_calls_up_then_restart_closes_them_as_interrupted() {
    // Answering on the offer needs no tick, so callers that go quiet cannot stall the next setup.
    let mut daemon = TestDaemon::start_with(|c| set_key(&c, "answer_after_rings", "0"));
    let mut held = Vec::new();
    for i in 0..3 {
        let mut party = daemon.party();
        party.send_control(&dial("8999", &format!("900{i}"))).unwrap();
        loop {
            match party.recv(Some(Duration::from_secs(5))).unwrap() {
                Heard::Control(DaemonOp::Answered { .. }) => break,
                Heard::Control(DaemonOp::Ringing) | Heard::Audio(_) => {}
                other => panic!("{other:?}"),
            }
        }
        // 50 blocks of audio, then silence from this party: lockstep holds the call up.
        party.send_audio(&[Law::Alaw.silence_byte(); 1600]).unwrap();
        party.send_audio(&[Law::Alaw.silence_byte(); 1600]).unwrap();
        held.push(party);
    }
    daemon.wait_calls("three open calls in the log", |c| {
        c.len() == 3 && c.iter().all(|x| x["end"].is_null())
    });
    daemon.kill_9();
    drop(held);

    daemon.relaunch();
    let restarted = &daemon;
    let calls = restarted.wait_calls("the calls closed as interrupted", |c| {
        c.len() == 3 && c.iter().all(|x| x["end"].is_string())
    });
    for call in &calls {
        assert_eq!(call["disposition"], "INTERRUPTED", "{call}");
        assert!(call["duration"].as_i64().unwrap() >= 0);
    }
    let db = rusqlite::Connection::open(restarted.db_path()).unwrap();
    let check: String = db.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    // And the restarted daemon takes calls, numbering on from the old ones.
    let mut party = restarted.party();
    let outcome = call_with_keys(&mut party, "8999", "", 0, Some(5));
    let old_max = calls.iter().map(|c| seq_of(&c["uniqueid"])).max().unwrap();
    assert!(
        seq_of(&Value::from(outcome.call_id.unwrap())) > old_max,
        "call ids continue after a crash"
    );
}

fn seq_of(uniqueid: &Value) -> u64 {
    uniqueid
        .as_str()
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn sigterm_ends_calls_cleanly_and_logs_them() {
    let mut daemon = TestDaemon::start();
    let mut party = daemon.party();
    party.send_control(&dial("8999", "1")).unwrap();
    assert_eq!(
        party.recv_control(Duration::from_secs(5)).unwrap(),
        Some(DaemonOp::Ringing)
    );
    assert!(matches!(
        party.recv_control(Duration::from_secs(5)).unwrap(),
        Some(DaemonOp::Answered { .. })
    ));
    let status = daemon.stop();
    assert!(status.success(), "clean exit on SIGTERM");
    assert_eq!(
        party.recv_control(Duration::from_secs(5)).unwrap(),
        Some(DaemonOp::Hangup {
            cause: "NETWORK_OUT_OF_ORDER".into()
        }),
        "the caller hears the call end"
    );
    let out = daemon.cli(&["calls", "--json"]);
    let calls: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0]["disposition"], "ANSWERED",
        "a clean stop logs the call as it was, not interrupted"
    );
    assert!(calls[0]["end"].is_string());
}

#[test]
fn a_ulaw_t1_span_carries_the_call_in_ulaw() {
    let daemon = TestDaemon::prepare(|c| c.replace("[sim]", "hw = \"t1.toml\"\n[sim]"));
    let t1 = "card = \"sim\"\n[[span]]\nname = \"T1\"\nlaw = \"ulaw\"\nchannels = 24\nrole = \"trunk\"\nnumbers = [\"_X.\"]\n";
    std::fs::write(daemon.dir.path().join("t1.toml"), t1).unwrap();
    let daemon = daemon.launch();
    let status = daemon.cli_json(&["status", "--json"]);
    assert_eq!(status["spans"][0]["law"], "ulaw");
    assert_eq!(status["channels"]["total"], 24);
    let mut party = daemon.party();
    let keys = key_blocks_in("42#", Law::Ulaw);
    let keys_at = opening_blocks() + 5;
    let silence = [Law::Ulaw.silence_byte(); BLOCK_SAMPLES];
    let outcome = run_call(&mut party, &dial("8999", "1"), Duration::from_secs(20), |b, _| {
        Some(
            b.checked_sub(keys_at)
                .and_then(|k| keys.get(k).copied())
                .unwrap_or(silence),
        )
    })
    .unwrap();
    let mut from = 0;
    for name in ["welcome", "you-entered", "digit-4", "digit-2", "goodbye"] {
        let audio = prompt_encoded("en", name, Law::Ulaw);
        from = find(&outcome.heard, &audio, from).unwrap_or_else(|| panic!("{name} not heard in µ-law"))
            + audio.len();
    }
    let calls = daemon.wait_calls("the call", |c| c.len() == 1 && c[0]["end"].is_string());
    assert_eq!(calls[0]["digits"], "42#");
}

#[test]
fn config_check_prints_every_problem_with_its_place() {
    let daemon = TestDaemon::prepare(|c| {
        let c = set_key(&c, "clock", "\"fast\"");
        let c = set_key(&c, "max_digits", "0");
        c.replace("[numbers]", "[numbers]\n\"7777\" = \"nosuchflow\"")
    });
    let out = std::process::Command::new(BIN)
        .args(["config", "check"])
        .arg(&daemon.config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "errors exit 1");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let errors: Vec<&str> = stdout.lines().filter(|l| l.contains(": error: ")).collect();
    assert_eq!(
        errors.len(),
        3,
        "all three problems, not just the first:\n{stdout}"
    );
    for want in ["sim.clock", "max_digits", "nosuchflow"] {
        assert!(
            errors
                .iter()
                .any(|l| l.contains(want) && l.contains("telvox.toml:")),
            "{want}:\n{stdout}"
        );
    }
    let good = TestDaemon::prepare(|c| c);
    let out = std::process::Command::new(BIN)
        .args(["config", "check"])
        .arg(&good.config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK"));
}

#[test]
fn daemon_without_foreground_detaches_logs_to_data_dir_and_stops_on_sigterm() {
    let daemon = TestDaemon::prepare(|c| c);
    let out = std::process::Command::new(BIN)
        .args(["daemon", "--config"])
        .arg(&daemon.config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the launching process returns at once: {out:?}"
    );
    let pid_file = daemon.dir.path().join("run/telvox.pid");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !(pid_file.exists() && daemon.cli(&["status", "--json"]).status.success()) {
        assert!(
            std::time::Instant::now() < deadline,
            "detached daemon never came up"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // A second daemon on the same run_dir refuses to start.
    let second = std::process::Command::new(BIN)
        .args(["daemon", "--foreground", "--config"])
        .arg(&daemon.config)
        .output()
        .unwrap();
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("another telvox daemon is running"));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGTERM).unwrap();
    while pid_file.exists() {
        assert!(
            std::time::Instant::now() < deadline + Duration::from_secs(10),
            "did not stop"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = std::fs::read_to_string(daemon.dir.path().join("data/telvox.log")).unwrap();
    assert!(
        log.contains("telvox running") && log.contains("stopping"),
        "{log}"
    );
}

#[test]
fn calls_path_shows_each_calls_way_through_its_flow() {
    let daemon = TestDaemon::start();
    let mut party = daemon.party();
    call_with_keys(&mut party, "8999", "7#", opening_blocks() + 5, None);
    daemon.wait_calls("the call", |c| c.len() == 1 && c[0]["end"].is_string());
    let calls = daemon.cli_json(&["calls", "--path", "--json"]);
    let states: Vec<&str> = calls[0]["path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["ringing", "welcome", "collect", "sayback", "goodbye"]);
    assert_eq!(calls[0]["digits"], "7#", "the contract fields are still there");
    let text = String::from_utf8(daemon.cli(&["calls", "--path"]).stdout).unwrap();
    assert!(
        text.contains("path: ringing → welcome → collect → sayback → goodbye"),
        "{text}"
    );
    // The table shows local time (as --since reads it); JSON keeps the log's UTC. A POSIX TZ string
    // needs no zone files: XST-8 is UTC+8.
    let start = chrono::DateTime::parse_from_rfc3339(calls[0]["start"].as_str().unwrap()).unwrap();
    let local = (start + chrono::Duration::hours(8))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    let out = std::process::Command::new(common::BIN)
        .env("TZ", "XST-8")
        .arg("--config")
        .arg(&daemon.config)
        .arg("calls")
        .output()
        .unwrap();
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains(&local), "{local} in {table}");
}
