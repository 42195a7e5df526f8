//! Analog trunks (FXO ports, DAHDI fxsks/fxsls) and E&M end to end on the lockstep sim card: the
//! sim's exchange rings the channel with the map's cadence and sends caller ID as audio, the
//! channel's line state machine (engine::line) makes calls of it, and what happened is read back
//! from the call log through the CLI.

mod common;

use std::time::Duration;

use common::{call_with_keys, set_key, silence, TestDaemon};
use serde_json::Value;
use telvox::hw::sim::client::{run_call, CallOutcome, Heard};
use telvox::hw::sim::protocol::{DaemonOp, PartyOp};

const WAIT: Duration = Duration::from_secs(20);

/// A daemon whose hardware map is one span of `span` keys, routed the line test's number 8999.
fn daemon(span: &str, edit: impl FnOnce(String) -> String) -> TestDaemon {
    let hw = format!(
        "card = \"sim\"\nring_on_ms = 1000\nring_off_ms = 4000\n\n[[span]]\nname = \"analog\"\nrole = \"trunk\"\n\
         numbers = [\"8999\"]\nchannels = 2\n{span}\n"
    );
    let daemon = TestDaemon::prepare(|c| edit(format!("hw = \"hw.toml\"\n{c}")));
    std::fs::write(daemon.dir.path().join("hw.toml"), hw).expect("write hw.toml");
    daemon.launch()
}

fn dial_from(from: &str, name: Option<&str>) -> PartyOp {
    PartyOp::Dial {
        to: "8999".into(),
        from: (!from.is_empty()).then(|| from.into()),
        name: name.map(str::to_string),
        span: None,
    }
}

/// Calls 8999 from `from` and hangs up after `hangup_at` blocks of the answered call.
fn call(daemon: &TestDaemon, from: &str, name: Option<&str>, hangup_at: usize) -> CallOutcome {
    let mut party = daemon.party();
    run_call(&mut party, &dial_from(from, name), WAIT, |blocks, _| {
        (blocks < hangup_at).then(silence)
    })
    .expect("call")
}

/// The one call in the log, once it has ended.
fn only_call(daemon: &TestDaemon) -> Value {
    let calls = daemon.wait_calls("the call to end", |c| c.len() == 1 && c[0]["end"].is_string());
    calls[0].clone()
}

fn path(daemon: &TestDaemon, call: &Value) -> Vec<String> {
    daemon.call_path(call["uniqueid"].as_str().expect("uniqueid"))
}

#[test]
fn kewlstart_rings_answer_after_one_ring_and_the_callers_hangup_is_a_battery_drop() {
    let daemon = daemon("law = \"alaw\"\nsignalling = \"fxsks\"", |c| c);
    let outcome = call(&daemon, "13800138000", None, 60);
    assert!(outcome.answered, "{outcome:?}\n{}", daemon.log());
    // One ring (1 s) of ringback before the answer at its end.
    assert_eq!(outcome.early.len() / 160, 51, "ringback blocks before the answer");
    let call = only_call(&daemon);
    assert_eq!(call["disposition"], "ANSWERED");
    assert_eq!(call["hangup_cause"], "NORMAL_CLEARING");
    assert_eq!(call["dst"], "8999", "offered to the line's number");
    assert_eq!(call["src"], "", "no caller ID on this line");
    assert_eq!(call["channel"], "1/1");
    daemon.wait_all_idle();
    // The line is free again: the next call goes through and the line test hears its keys.
    let next = call_with_keys(&mut daemon.party(), "8999", "42#", 100, None);
    assert!(next.answered);
    assert_eq!(
        next.cause.as_deref(),
        Some("NORMAL_CLEARING"),
        "the line test hangs up"
    );
    let calls = daemon.wait_calls("two calls", |c| {
        c.len() == 2 && c.iter().all(|x| x["end"].is_string())
    });
    assert!(calls.iter().any(|c| c["digits"] == "42#"), "{calls:#?}");
}

#[test]
fn answer_after_three_rings_counts_the_exchanges_rings() {
    let daemon = daemon("law = \"alaw\"\nsignalling = \"fxsks\"", |c| {
        set_key(&c, "answer_after_rings", "3")
    });
    let outcome = call(&daemon, "13800138000", None, 10);
    assert!(outcome.answered);
    // Rings end at 1 s, 6 s and 11 s: 11 s of ringback = 550 ticks (plus the tick of the answer).
    assert_eq!(outcome.early.len() / 160, 551);
}

#[test]
fn each_caller_id_format_reaches_the_call_log() {
    for (keys, name_carried) in [
        ("caller_id = \"bell202\"", true),
        ("caller_id = \"v23\"", true),
        ("caller_id = \"v23\"\ncaller_id_start = \"polarity\"", true),
        ("caller_id = \"bell202\"\ncaller_id_start = \"polarity\"", true),
        ("caller_id = \"dtmf\"", false),
    ] {
        let daemon = daemon(&format!("law = \"ulaw\"\nsignalling = \"fxsks\"\n{keys}"), |c| c);
        let outcome = call(&daemon, "13800138000", Some("ZHANG WEI"), 20);
        assert!(outcome.answered, "{keys}");
        let call = only_call(&daemon);
        assert_eq!(call["src"], "13800138000", "{keys}: {call:#}");
        let name = if name_carried { "ZHANG WEI" } else { "" };
        assert_eq!(call["clid"], name, "{keys}: {call:#}");
        assert_eq!(call["disposition"], "ANSWERED", "{keys}");
    }
}

#[test]
fn a_withheld_number_is_logged_without_one() {
    for keys in ["caller_id = \"v23\"", "caller_id = \"dtmf\""] {
        let daemon = daemon(&format!("law = \"alaw\"\nsignalling = \"fxsks\"\n{keys}"), |c| c);
        let outcome = call(&daemon, "", None, 20);
        assert!(outcome.answered, "{keys}");
        let call = only_call(&daemon);
        assert_eq!(call["src"], "", "{keys}: {call:#}");
        assert_eq!(call["dst"], "8999");
    }
}

#[test]
fn polarity_reversal_disconnect_clears_the_call() {
    let daemon = daemon(
        "law = \"alaw\"\nsignalling = \"fxsks\"\nfar_end_hangup = \"polarity\"\nhangup_on_polarity = true",
        |c| c,
    );
    let outcome = call(&daemon, "5551234", None, 40);
    assert!(outcome.answered);
    let call = only_call(&daemon);
    assert_eq!(call["disposition"], "ANSWERED");
    assert_eq!(call["hangup_cause"], "NORMAL_CLEARING");
    // The line test waits 5 s for digits: the call ended on the reversal, 40 blocks in.
    let billsec = call["billsec"].as_i64().expect("billsec");
    assert!(billsec <= 1, "cleared at the reversal, not by the flow: {call:#}");
    daemon.wait_all_idle();
}

#[test]
fn busy_tone_is_the_only_hangup_signal_on_loopstart_lines_for_every_country() {
    // Two cycles of each plan's busy cadence, in ms.
    for (country, law, cycle_ms) in [
        ("cn", "alaw", 700),
        ("kr", "alaw", 1000),
        ("us", "ulaw", 1000),
        ("uk", "alaw", 750),
        ("eu", "alaw", 1000),
    ] {
        let daemon = daemon(
            &format!(
                "law = \"{law}\"\nsignalling = \"fxsls\"\ncountry = \"{country}\"\nfar_end_hangup = \"tone\""
            ),
            |c| c,
        );
        let outcome = call(&daemon, "5551234", None, 50);
        assert!(outcome.answered, "{country}");
        let call = only_call(&daemon);
        assert_eq!(call["hangup_cause"], "NORMAL_CLEARING", "{country}");
        assert_eq!(call["disposition"], "ANSWERED", "{country}");
        let steps = timed_path(&daemon, &call);
        let (last, busy_at_ms) = steps.last().cloned().expect("a path");
        assert_eq!(last, "busy_tone", "{country}: {steps:?}");
        // Offered at the first ring, answered at its end (1 s), the caller hung up 50 blocks
        // (1 s) later: the busy tone is recognised within two cadence cycles of that.
        let after_ms = busy_at_ms - steps[0].1 - 2000;
        println!(
            "{country}: busy tone recognised {after_ms} ms after the far end hung up (2 cycles = {} ms)",
            2 * cycle_ms
        );
        assert!(
            (cycle_ms..=2 * cycle_ms).contains(&after_ms),
            "{country}: recognised {after_ms} ms after the hangup, cycle {cycle_ms} ms"
        );
        daemon.wait_all_idle();
    }
}

/// The states of a call with their times (ms, on the call's sample clock).
fn timed_path(daemon: &TestDaemon, call: &Value) -> Vec<(String, i64)> {
    let id = call["uniqueid"].as_str().expect("uniqueid");
    let _ = path(daemon, call);
    let calls = daemon.cli_json(&["calls", "--json", "--path", "--limit", "100"]);
    let call = calls
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["uniqueid"] == id)
        .expect("the call")
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

/// The caller hangs up while the channel rings: the exchange just stops ringing; the channel
/// learns it from the missing rings (ring timeout) and the call is logged as not answered.
#[test]
fn a_caller_who_gives_up_while_ringing_is_a_missed_call() {
    let daemon = daemon(
        "law = \"alaw\"\nsignalling = \"fxsks\"\ncaller_id = \"dtmf\"",
        |c| set_key(&c, "answer_after_rings", "4"),
    );
    let mut party = daemon.party();
    party.send_control(&dial_from("13912345678", None)).expect("dial");
    // DTMF caller ID takes ~2.4 s before the first ring (1 s); hang up 5 s in, between rings.
    let mut blocks = 0;
    while blocks < 250 {
        match party.recv(Some(WAIT)).expect("recv") {
            Heard::Audio(a) => blocks += a.len() / 160,
            Heard::Control(DaemonOp::Ringing) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    party.send_control(&PartyOp::Hangup).expect("hangup");
    let call = only_call(&daemon);
    assert_eq!(call["disposition"], "NO ANSWER");
    assert_eq!(call["src"], "13912345678");
    daemon.wait_all_idle();
}

/// E&M wink start: the caller's dial seizes the channel, telvox winks, the exchange sends the
/// dialled number as DTMF (DNIS), and the call is offered to it — not to the line's own number,
/// which has no flow here and would be refused.
#[test]
fn em_wink_start_inbound_winks_reads_the_dnis_and_is_answered() {
    em_inbound("em_wink");
}

/// E&M immediate start: the same without the wink.
#[test]
fn em_immediate_start_inbound_reads_the_dnis_and_is_answered() {
    em_inbound("em");
}

fn em_inbound(signalling: &str) {
    let hw = format!(
        "card = \"sim\"\n\n[[span]]\nname = \"e&m\"\nrole = \"trunk\"\nnumbers = [\"7777\", \"8999\"]\n\
         channels = 2\nlaw = \"ulaw\"\nsignalling = \"{signalling}\"\n"
    );
    let daemon = TestDaemon::prepare(|c| format!("hw = \"hw.toml\"\n{c}"));
    std::fs::write(daemon.dir.path().join("hw.toml"), hw).expect("write hw.toml");
    let daemon = daemon.launch();
    let keys = common::key_blocks_in("5#", telvox::hw::Law::Ulaw);
    let mut party = daemon.party();
    let outcome = run_call(
        &mut party,
        &common::dial("8999", "13800138000"),
        WAIT,
        |blocks, _| {
            if blocks >= 3000 {
                return None;
            }
            Some(
                blocks
                    .checked_sub(300)
                    .and_then(|k| keys.get(k).copied())
                    .unwrap_or([0xFF; 160]),
            )
        },
    )
    .expect("call");
    assert!(outcome.answered, "{outcome:?}\n{}", daemon.log());
    let call = only_call(&daemon);
    assert_eq!(call["dst"], "8999", "{signalling}: offered to the DNIS: {call:#}");
    assert_eq!(call["flow"], "linetest");
    assert_eq!(call["disposition"], "ANSWERED");
    assert_eq!(
        call["digits"], "5#",
        "the caller's keys after the answer: {call:#}"
    );
    assert_eq!(
        outcome.cause.as_deref(),
        Some("NORMAL_CLEARING"),
        "the line test hung up after reading the digits back"
    );
    daemon.wait_all_idle();
}

/// An outbound call on a kewlstart trunk (the fax queue dials through engine origination): the
/// channel seizes, dials the number as DTMF after dial tone, and the exchange connects it to the
/// registered party; the call counts as answered when dialled (no answer supervision), and the
/// party's hangup is the battery drop that ends it.
#[test]
fn an_outbound_call_on_an_analog_trunk_seizes_dials_and_reaches_the_party() {
    outbound_call("signalling = \"fxsks\"", true);
}

/// With polarity answer supervision the call is answered at the exchange's reversal when the
/// party picks up — and not at all when it does not (the attempt times out unanswered).
#[test]
fn outbound_answer_supervision_by_polarity_reversal() {
    let keys = "signalling = \"fxsks\"\nfar_end_hangup = \"polarity\"\nanswer_on_polarity = true\n\
                hangup_on_polarity = true";
    outbound_call(keys, true);
    outbound_call(keys, false);
}

/// The same on an E&M wink-start trunk: `Start` seizes, the exchange winks, the digits follow the
/// wink, and the far end's off-hook is the answer.
#[test]
fn an_outbound_call_on_an_em_wink_trunk_waits_for_the_wink_and_the_far_ends_answer() {
    outbound_call("signalling = \"em_wink\"", true);
    outbound_call("signalling = \"em_wink\"", false);
}

/// Sends a fax to 601 on a span with `keys`; the registered party answers (or not), listens 2 s and
/// hangs up. Checks the call log's outbound row.
fn outbound_call(keys: &str, answer: bool) {
    let work = tempfile::Builder::new()
        .prefix("trunk-out-")
        .tempdir()
        .expect("tmp");
    let doc = work.path().join("doc.tif");
    std::fs::copy(
        std::path::Path::new(common::REPO)
            .join("faxdocs")
            .join(first_faxdoc()),
        &doc,
    )
    .expect("a fax document");
    let daemon = daemon(&format!("law = \"alaw\"\n{keys}"), |c| {
        format!("{c}\n[fax]\nring_timeout_s = 60\nretries = 0\n")
    });
    let mut party = daemon.party();
    party
        .send_control(&PartyOp::Register { number: "601".into() })
        .expect("register");
    let out = daemon.cli(&["fax", "send", "601", doc.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The exchange rings the party with the number the channel dialled.
    loop {
        match party.recv(Some(WAIT)).expect("recv") {
            Heard::Control(DaemonOp::Incoming { to, .. }) => {
                assert_eq!(to, "601");
                break;
            }
            Heard::Control(DaemonOp::Error { message }) => panic!("{message}"),
            Heard::Timeout | Heard::Closed => panic!("no incoming call\n{}", daemon.log()),
            _ => {}
        }
    }
    if !answer {
        // Never picked up: telvox gives up after the fax queue's ring timeout.
        loop {
            match party.recv(Some(WAIT)).expect("recv") {
                Heard::Control(DaemonOp::Hangup { .. }) => break,
                Heard::Timeout | Heard::Closed => panic!("no hangup\n{}", daemon.log()),
                _ => {}
            }
        }
        let calls = daemon.wait_calls("the outbound call to end", |c| {
            c.len() == 1 && c[0]["end"].is_string()
        });
        assert_eq!(calls[0]["disposition"], "NO ANSWER", "{keys}: {calls:#?}");
        daemon.wait_all_idle();
        return;
    }
    party.send_control(&PartyOp::Answer).expect("answer");
    // Lockstep: the card ticks once the party has its block queued; then one block per block heard.
    party.send_audio(&silence()).expect("first block");
    // Two seconds of the call, then the party hangs up.
    let mut blocks = 0;
    while blocks < 100 {
        match party.recv(Some(WAIT)).expect("recv") {
            Heard::Audio(a) => {
                blocks += a.len() / 160;
                party.send_audio(&a).expect("echo");
            }
            Heard::Control(DaemonOp::Hangup { .. }) => break,
            Heard::Control(_) => {}
            other => panic!("call cut: {other:?}\n{}", daemon.log()),
        }
    }
    party.send_control(&PartyOp::Hangup).expect("hangup");
    let calls = daemon.wait_calls("the outbound call to end", |c| {
        c.len() == 1 && c[0]["end"].is_string()
    });
    assert_eq!(calls[0]["dst"], "601", "{calls:#?}");
    assert_eq!(calls[0]["disposition"], "ANSWERED", "{keys}: {calls:#?}");
    // Cleared by the party's hangup (battery drop, release or reversal), not by the fax session.
    assert_eq!(calls[0]["hangup_cause"], "NORMAL_CLEARING", "{keys}: {calls:#?}");
    assert!(calls[0]["channel"].as_str().is_some_and(|c| c.starts_with("1/")));
    daemon.wait_all_idle();
}

fn first_faxdoc() -> String {
    let dir = std::path::Path::new(common::REPO).join("faxdocs");
    let mut tifs: Vec<String> = std::fs::read_dir(&dir)
        .expect("faxdocs/")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tif"))
        .collect();
    tifs.sort();
    tifs.into_iter().next().expect("a .tif in faxdocs/")
}

/// An E&M caller who releases the seizure before the answer: the call is logged unanswered and the
/// line takes the next call.
#[test]
fn an_em_caller_who_releases_before_the_answer_frees_the_line() {
    let hw = "card = \"sim\"\n\n[[span]]\nname = \"e&m\"\nrole = \"trunk\"\nnumbers = [\"8999\"]\n\
              channels = 1\nlaw = \"alaw\"\nsignalling = \"em_wink\"\n";
    let daemon =
        TestDaemon::prepare(|c| format!("hw = \"hw.toml\"\n{}", set_key(&c, "answer_after_rings", "3")));
    std::fs::write(daemon.dir.path().join("hw.toml"), hw).expect("write hw.toml");
    let daemon = daemon.launch();
    let mut party = daemon.party();
    party.send_control(&common::dial("8999", "555")).expect("dial");
    let mut blocks = 0;
    while blocks < 150 {
        match party.recv(Some(WAIT)).expect("recv") {
            Heard::Audio(a) => blocks += a.len() / 160,
            Heard::Control(DaemonOp::Ringing) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    party.send_control(&PartyOp::Hangup).expect("hangup");
    let missed = only_call(&daemon);
    assert_eq!(missed["disposition"], "NO ANSWER", "{missed:#}");
    daemon.wait_all_idle();
    let next = call(&daemon, "556", None, 10);
    assert!(next.answered, "the line is free again: {next:?}");
}

/// The same analog line on the realtime clock (the card ticks every 20 ms of wall time): one
/// ring, caller ID, the answer at its end, the caller's hangup as a battery drop.
#[test]
fn a_kewlstart_call_with_caller_id_on_the_realtime_clock() {
    let daemon = daemon(
        "law = \"alaw\"\nsignalling = \"fxsks\"\ncaller_id = \"dtmf\"",
        |c| set_key(&c, "clock", "\"realtime\""),
    );
    let started = std::time::Instant::now();
    let outcome = call(&daemon, "13800138000", None, 25);
    assert!(outcome.answered, "{outcome:?}");
    let call = only_call(&daemon);
    assert_eq!(call["src"], "13800138000");
    assert_eq!(call["disposition"], "ANSWERED");
    assert_eq!(call["hangup_cause"], "NORMAL_CLEARING");
    // Caller ID (~2.4 s), one ring (1 s), half a second of call: real time, not CPU speed.
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(3500), "{took:?}");
}
