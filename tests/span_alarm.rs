//! Span alarms end to end on the sim card: a far-end party faults span 1 mid-call (the sim's `alarm`
//! op, as a red alarm on an E1 would); the call ends NETWORK_OUT_OF_ORDER and its row is written,
//! status and the event stream show the alarm, every channel of the span is out of service and new
//! calls are refused; when the alarm clears the channels come back by themselves and a call works.

mod common;

use std::time::{Duration, Instant};

use serde_json::Value;
use telvox::hw::sim::client::run_call;
use telvox::hw::sim::protocol::{DaemonOp, PartyOp};

use common::{dial, silence, TestDaemon};

fn alarm(daemon: &TestDaemon, names: &[&str]) {
    let party = daemon.party();
    party
        .send_control(&PartyOp::Alarm {
            span: 1,
            alarms: names.iter().map(|s| s.to_string()).collect(),
        })
        .unwrap();
    // The op is read when the card next looks at the socket; the party may go once it is sent.
    std::thread::sleep(Duration::from_millis(50));
}

fn wait_status(daemon: &TestDaemon, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = daemon.cli_json(&["status", "--json"]);
        if pred(&status) {
            return status;
        }
        assert!(Instant::now() < deadline, "waiting for {what}: {status}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_alarm_mid_call_ends_it_takes_the_span_out_of_service_and_clearing_brings_it_back() {
    let daemon = TestDaemon::start();
    let events = daemon.events();

    // A call in the line test's flow; at block 20 the span goes red.
    let mut caller = daemon.party();
    let mut faulted = false;
    let outcome = run_call(
        &mut caller,
        &dial("8999", "1001"),
        Duration::from_secs(10),
        |blocks, _| {
            if blocks >= 20 && !faulted {
                faulted = true;
                alarm(&daemon, &["red"]);
            }
            (blocks < 3000).then(silence)
        },
    )
    .unwrap();
    assert!(outcome.answered, "{:?}", outcome.call_id);
    assert_eq!(
        outcome.cause.as_deref(),
        Some("NETWORK_OUT_OF_ORDER"),
        "errors {:?}",
        outcome.errors
    );
    let calls = daemon.wait_calls("the call's row", |c| c.len() == 1 && c[0]["end"].is_string());
    assert_eq!(calls[0]["hangup_cause"], "NETWORK_OUT_OF_ORDER", "{:?}", calls[0]);
    assert_eq!(calls[0]["disposition"], "ANSWERED");

    let status = wait_status(&daemon, "every channel out of service", |s| {
        s["channels"]["alarm"] == 30
    });
    assert_eq!(status["span_health"][0]["alarms"], "red", "{status}");
    assert_eq!(status["span_health"][0]["alarm_count"], 1, "{status}");
    let text = String::from_utf8(daemon.cli(&["status"]).stdout).unwrap();
    assert!(text.contains("span 1 alarms: red"), "{text}");
    assert!(text.contains("30 alarm"), "{text}");
    let channels = daemon.channels();
    assert!(channels.iter().all(|c| c["state"] == "alarm"), "{channels:?}");

    // While the span is down a new call is refused.
    let mut refused = daemon.party();
    let outcome = run_call(
        &mut refused,
        &dial("8999", "1002"),
        Duration::from_secs(10),
        |_, _| None,
    )
    .unwrap();
    assert!(!outcome.answered, "{:?}", outcome.call_id);
    assert_eq!(
        outcome.cause.as_deref(),
        Some("NETWORK_OUT_OF_ORDER"),
        "errors {:?}",
        outcome.errors
    );

    // The fault clears: the channels are idle again by themselves, and a call goes through.
    alarm(&daemon, &[]);
    let status = wait_status(&daemon, "every channel idle again", |s| {
        s["channels"]["idle"] == 30
    });
    assert_eq!(status["span_health"][0]["alarms"], "ok", "{status}");
    let mut again = daemon.party();
    let outcome = run_call(
        &mut again,
        &dial("8999", "1003"),
        Duration::from_secs(10),
        |blocks, _| (blocks < 30).then(silence),
    )
    .unwrap();
    assert!(outcome.answered, "errors {:?}", outcome.errors);
    assert_eq!(outcome.cause, None, "the caller hung up");

    // The event stream carried the alarm and its clearing.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match events.lines.recv_timeout(remaining) {
            Ok(line) if line.contains("\"span_alarm\"") => {
                seen.push(serde_json::from_str::<Value>(&line).unwrap())
            }
            Ok(_) => {}
            Err(_) => panic!("span_alarm events missing; got {seen:?}"),
        }
    }
    drop(events);
    assert_eq!(
        (seen[0]["alarms"].as_str(), seen[0]["in_service"].as_bool()),
        (Some("red"), Some(false))
    );
    assert_eq!(
        (seen[1]["alarms"].as_str(), seen[1]["in_service"].as_bool()),
        (Some("ok"), Some(true))
    );
}

#[test]
fn a_bad_alarm_op_is_answered_with_an_error() {
    let daemon = TestDaemon::start();
    let mut party = daemon.party();
    party
        .send_control(&PartyOp::Alarm {
            span: 1,
            alarms: vec!["purple".into()],
        })
        .unwrap();
    match party.recv_control(Duration::from_secs(5)).unwrap() {
        Some(DaemonOp::Error { message }) => {
            assert!(message.contains("unknown alarm \"purple\""), "{message}")
        }
        other => panic!("expected an error, got {other:?}"),
    }
    party
        .send_control(&PartyOp::Alarm {
            span: 9,
            alarms: vec!["red".into()],
        })
        .unwrap();
    match party.recv_control(Duration::from_secs(5)).unwrap() {
        Some(DaemonOp::Error { message }) => assert!(message.contains("there is no span 9"), "{message}"),
        other => panic!("expected an error, got {other:?}"),
    }
}
