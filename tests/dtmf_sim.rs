//! Digits pressed at the Q.24 edges, through the sim far end into a running daemon, reach the flow
//! as the right digits, once each: every "detect" condition of the conformance suite (frequency
//! deviation, twist, level, 40 ms tones, 10 ms breaks, noise), rendered on the A-law path.

mod common;

use std::time::Duration;

use common::*;
use telvox::dsp::conformance::{conditions, render, Expectation, SignalPath};
use telvox::dsp::g711;
use telvox::hw::sim::client::run_call;
use telvox::hw::{Law, BLOCK_SAMPLES};

/// A flow that only listens: up to 64 keys, no terminator, then hangs up.
const LISTEN_FLOW: &str = r#"
start = "listen"
[listen]
collect = { prompts = ["please-enter"], max = 64, terminator = "", first_timeout_ms = 60000, inter_timeout_ms = 60000, retries = 0, into = "keys" }
on = { complete = "bye", fail = "bye" }
[bye]
hangup = true
"#;

#[test]
fn keys_at_the_q24_edges_reach_the_flow_once_each() {
    let daemon = TestDaemon::prepare(|c| c.replace("[numbers]", "[numbers]\n\"7100\" = \"listen\""));
    std::fs::write(daemon.dir.path().join("flows/listen.toml"), LISTEN_FLOW).unwrap();
    let daemon = daemon.launch();
    let mut checked = 0;
    for condition in conditions().iter().filter(|c| c.expected == Expectation::Detect) {
        let signal = render(condition, SignalPath::Alaw);
        let codes: Vec<u8> = signal
            .samples
            .iter()
            .map(|&s| g711::encode(Law::Alaw, s))
            .collect();
        let pressed: String = signal.bursts.iter().take(64).map(|b| b.key).collect();
        let mut party = daemon.party();
        let silence = [Law::Alaw.silence_byte(); BLOCK_SAMPLES];
        let outcome = run_call(&mut party, &dial("7100", "1"), Duration::from_secs(30), |b, _| {
            let block = codes.chunks(BLOCK_SAMPLES).nth(b).map_or(silence, |c| {
                let mut block = silence;
                block[..c.len()].copy_from_slice(c);
                block
            });
            Some(block)
        })
        .unwrap();
        assert!(outcome.answered, "{}: {outcome:?}", condition.name);
        let call_id = outcome.call_id.unwrap();
        let calls = daemon.wait_calls("the call logged", |c| {
            c.iter()
                .any(|x| x["uniqueid"] == call_id.as_str() && x["end"].is_string())
        });
        let call = calls.iter().find(|x| x["uniqueid"] == call_id.as_str()).unwrap();
        assert_eq!(
            call["digits"],
            pressed.as_str(),
            "{}: every key once, in order",
            condition.name
        );
        checked += 1;
    }
    assert!(checked >= 20, "checked {checked} conditions");
}
