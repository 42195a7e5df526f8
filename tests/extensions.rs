//! Analog extensions end to end (issue 8, parts 5 and 7): a real daemon on the lockstep sim card
//! with an fxoks span whose phones are sim parties. A phone lifts and hears the span country's dial
//! tone, dials, reaches a flow; telvox rings a phone with caller ID; message waiting from voicemail.

mod common;

use std::time::Duration;

use common::*;
use telvox::dsp::callerid::{FskCallerIdRx, FskStandard};
use telvox::dsp::g711;
use telvox::hw::sim::client::{Heard, Party};
use telvox::hw::sim::protocol::{register_phone, DaemonOp, PartyOp};
use telvox::hw::{Block, Law, BLOCK_SAMPLES};

const WAIT: Duration = Duration::from_secs(20);
const LAW: Law = Law::Alaw;

/// One span of trunks and one of fxoks extensions 601 and 602, in `country`.
fn hw_map(country: &str) -> String {
    format!(
        "card = \"sim\"\n\n[[span]]\nname = \"trunks\"\nlaw = \"alaw\"\nchannels = 2\nrole = \"trunk\"\n\
         numbers = [\"_X.\"]\ncountry = \"{country}\"\n\n\
         [[span]]\nname = \"phones\"\nlaw = \"alaw\"\nchannels = 2\nrole = \"extension\"\n\
         signalling = \"fxoks\"\nextensions = [\"601\", \"602\"]\ncountry = \"{country}\"\n"
    )
}

fn daemon(country: &str, edit: impl FnOnce(String) -> String) -> TestDaemon {
    let daemon = TestDaemon::prepare(|c| edit(format!("hw = \"hw.toml\"\n{c}")));
    std::fs::write(daemon.dir.path().join("hw.toml"), hw_map(country)).expect("write hw.toml");
    daemon.launch()
}

/// A sim phone: a party registered on an extension, with what it heard.
struct Phone {
    party: Party,
    heard: Vec<u8>,
    controls: Vec<DaemonOp>,
    off_hook: bool,
}

impl Phone {
    fn register(daemon: &TestDaemon, number: &str) -> Phone {
        let party = daemon.party();
        party.send_raw(&register_phone(number)).expect("register");
        Phone {
            party,
            heard: Vec::new(),
            controls: Vec::new(),
            off_hook: false,
        }
    }

    fn lift(&mut self) {
        self.party.send_control(&PartyOp::Offhook).unwrap();
        // In lockstep the card waits for a lifted phone's block each tick: the first goes now.
        self.party.send_audio(&silence()).unwrap();
        self.off_hook = true;
    }

    fn hang_up(&mut self) {
        self.party.send_control(&PartyOp::Onhook).unwrap();
        self.off_hook = false;
    }

    /// Hears messages until `until(self)` holds; a lifted phone answers every block with the next
    /// of `send` (then silence).
    fn listen(&mut self, send: &mut Vec<Block>, mut until: impl FnMut(&Phone) -> bool) {
        let mut guard = 0;
        while !until(self) {
            guard += 1;
            assert!(guard < 100_000, "listened too long");
            match self.party.recv(Some(WAIT)).expect("recv") {
                Heard::Audio(a) => {
                    self.heard.extend_from_slice(&a);
                    if self.off_hook {
                        for _ in 0..a.len() / BLOCK_SAMPLES {
                            let block = if send.is_empty() {
                                silence()
                            } else {
                                send.remove(0)
                            };
                            self.party.send_audio(&block).unwrap();
                        }
                    }
                }
                Heard::Control(DaemonOp::Error { message }) => panic!("the card refused: {message}"),
                Heard::Control(op) => self.controls.push(op),
                Heard::Closed | Heard::Timeout => panic!("the card went quiet"),
            }
        }
    }

    fn blocks(&self) -> usize {
        self.heard.len() / BLOCK_SAMPLES
    }
}

/// `telvox events` lines containing `needle`, as they come.
fn watch_events(daemon: &TestDaemon, needle: &'static str) -> std::sync::mpsc::Receiver<String> {
    let events = daemon.events();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    // The stream (and its `telvox events`) lives until the daemon stops or the receiver is gone.
    std::thread::spawn(move || {
        for line in events.lines.iter() {
            if line.contains(needle) && tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Power of `hz` in `samples` (Goertzel), relative to the samples' energy: 1.0 = a pure tone.
fn tone_share(samples: &[i16], hz: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * hz / 8000.0;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    let energy: f64 = samples.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
    2.0 * power / (energy * samples.len() as f64).max(1.0)
}

fn linear(alaw: &[u8]) -> Vec<i16> {
    alaw.iter().map(|&b| g711::decode(LAW, b)).collect()
}

#[test]
fn a_lifted_phone_hears_dial_tone_dials_the_hotline_and_is_logged_as_its_extension() {
    let daemon = daemon("cn", |c| c);
    let flashes = watch_events(&daemon, "\"type\":\"flash\"");
    let mut phone = Phone::register(&daemon, "601");
    phone.lift();
    let mut send = Vec::new();
    phone.listen(&mut send, |p| p.blocks() >= 50);
    // China's dial tone: 450 Hz, continuous.
    let tone = linear(&phone.heard[BLOCK_SAMPLES * 10..BLOCK_SAMPLES * 50]);
    assert!(
        tone_share(&tone, 450.0) > 0.9,
        "450 Hz: {}",
        tone_share(&tone, 450.0)
    );
    assert!(tone_share(&tone, 350.0) < 0.05);
    // Dial 8000: an exact number of [numbers] that starts no other, so the call goes at once.
    let mut send = key_blocks("8000");
    let prompt = prompt_alaw("zh", "choose-language");
    let from = phone.heard.len();
    phone.listen(&mut send, |p| find(&p.heard, &prompt, from).is_some());
    // A hook flash reaches the call (on the event stream: no flow acts on one yet).
    phone.party.send_control(&PartyOp::Flash).unwrap();
    let at = phone.blocks();
    phone.listen(&mut send, |p| p.blocks() >= at + 5);
    let flash = flashes.recv_timeout(WAIT).expect("a flash event");
    let flash: serde_json::Value = serde_json::from_str(&flash).unwrap();
    assert_eq!(flash["channel"], "2/1", "{flash}");
    phone.hang_up();
    let calls = daemon.wait_calls("the phone's call", |c| {
        c.iter().any(|r| r["src"] == "601" && r["end"].is_string())
    });
    let row = calls.iter().find(|r| r["src"] == "601").unwrap();
    assert_eq!(row["dst"], "8000", "{row}");
    assert_eq!(row["channel"], "2/1", "{row}");
    assert_eq!(row["disposition"], "ANSWERED", "{row}");
}

/// A wake-up flow: the phone hears one prompt, then telvox hangs up.
const WAKEUP_FLOW: &str = "start = \"greet\"\nlanguage = \"zh\"\nanswer_after_rings = 0\n\
    [greet]\nplay = { prompts = [\"choose-language\"], barge_in = false }\nnext = \"bye\"\n\
    [bye]\nhangup = true\n";

fn with_wakeup_flow(daemon: TestDaemon) -> TestDaemon {
    std::fs::write(daemon.dir.path().join("flows/wakeup.toml"), WAKEUP_FLOW).unwrap();
    daemon
}

#[test]
fn telvox_call_rings_the_phone_with_the_cadence_and_caller_id_and_plays_the_flow_when_lifted() {
    let daemon = TestDaemon::prepare(|c| format!("hw = \"hw.toml\"\n{c}"));
    std::fs::write(daemon.dir.path().join("hw.toml"), hw_map("cn")).unwrap();
    let daemon = with_wakeup_flow(daemon).launch();
    let mut phone = Phone::register(&daemon, "601");
    let out = daemon.cli(&["call", "601", "--flow", "wakeup", "--from", "13800138000"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(reply["channel"], "2/1", "{reply}");
    let call_id = reply["call"].as_str().expect("a call id").to_string();

    // Ring (1 s), silence with caller ID (4 s), ring again: China's cadence.
    let mut none = Vec::new();
    phone.listen(&mut none, |p| p.controls.len() >= 3);
    assert_eq!(
        phone.controls,
        [DaemonOp::Ring, DaemonOp::Ringoff, DaemonOp::Ring]
    );
    let heard = phone.blocks();
    assert!(
        (245..=255).contains(&heard),
        "one 5 s cycle of audio blocks: {heard}"
    );
    // The caller ID in the first silence, as a phone's V.23 receiver decodes it.
    let mut rx = FskCallerIdRx::new(FskStandard::V23);
    let mut number = None;
    for block in phone.heard.chunks(BLOCK_SAMPLES) {
        rx.process(&linear(block));
        if let Some(result) = rx.take() {
            number = Some(result.expect("a valid caller ID message").number);
        }
    }
    assert_eq!(number, Some(Some("13800138000".to_string())));

    // Lifted: the flow plays, telvox hangs up (battery drop), the phone hangs up.
    phone.heard.clear();
    phone.lift();
    let prompt = prompt_alaw("zh", "choose-language");
    let mut send = Vec::new();
    phone.listen(&mut send, |p| p.controls.contains(&DaemonOp::Disconnect));
    assert!(
        find(&phone.heard, &prompt, 0).is_some(),
        "the whole prompt, before the battery drop"
    );
    phone.hang_up();
    let calls = daemon.wait_calls("the wake-up call", |c| {
        c.iter()
            .any(|r| r["uniqueid"] == call_id.as_str() && r["end"].is_string())
    });
    let row = calls.iter().find(|r| r["uniqueid"] == call_id.as_str()).unwrap();
    assert_eq!(row["src"], "13800138000", "{row}");
    assert_eq!(row["dst"], "601", "{row}");
    assert_eq!(row["disposition"], "ANSWERED", "{row}");

    // A number that is no extension, and a flow that does not exist, are refused with a reason.
    let out = daemon.cli(&["call", "699", "--flow", "wakeup"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("601, 602"),
        "{out:?}"
    );
    let out = daemon.cli(&["call", "602", "--flow", "nosuch"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no flow \"nosuch\""),
        "{out:?}"
    );
}

/// Box 601 (PIN 1234) for extension 601; 8601 leaves it a message, 8701 opens the caller's box.
fn mwi_daemon() -> TestDaemon {
    let daemon = TestDaemon::prepare(|c| {
        let c = format!("hw = \"hw.toml\"\n{c}");
        c.replace(
            "[numbers]\n",
            "[numbers]\n\"8601\" = \"leave601\"\n\"8701\" = \"checkown\"\n",
        )
    });
    let dir = daemon.dir.path();
    std::fs::write(dir.join("hw.toml"), hw_map("cn")).unwrap();
    let pin = telvox::apps::ivr::business::hash_pin("1234").unwrap();
    std::fs::write(
        dir.join("mailboxes.toml"),
        format!("[defaults]\nlanguage = \"en\"\n[[box]]\nnumber = \"601\"\nname = \"Desk 601\"\npin = \"{pin}\"\n"),
    )
    .unwrap();
    let bye = "[bye]\nplay = { prompts = [\"goodbye\"], barge_in = false }\nhangup = true\n";
    std::fs::write(
        dir.join("flows/leave601.toml"),
        format!(
            "start = \"leave\"\nlanguage = \"en\"\n[leave]\nvoicemail_leave = {{ box = \"601\" }}\n\
             on = {{ saved = \"bye\", too_short = \"bye\", full = \"bye\", unknown = \"bye\", error = \"bye\" }}\n{bye}"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("flows/checkown.toml"),
        format!(
            "start = \"check\"\nlanguage = \"en\"\n[check]\nvoicemail_check = {{ box = \"${{caller}}\" }}\n\
             on = {{ done = \"bye\", locked = \"bye\", fail = \"bye\", error = \"bye\" }}\n{bye}"
        ),
    )
    .unwrap();
    daemon.launch()
}

/// A 1.5 s, 600 Hz "message", A-law blocks.
fn message_blocks() -> Vec<Block> {
    (0..75)
        .map(|b| {
            let mut block = [0u8; BLOCK_SAMPLES];
            for (i, out) in block.iter_mut().enumerate() {
                let t = (b * BLOCK_SAMPLES + i) as f64 / 8000.0;
                *out = g711::encode(
                    LAW,
                    (8000.0 * (2.0 * std::f64::consts::PI * 600.0 * t).sin()) as i16,
                );
            }
            block
        })
        .collect()
}

/// A trunk caller leaves box 601 a message.
fn leave_message(daemon: &TestDaemon) {
    let mut party = daemon.party();
    let beep = prompt_alaw("en", "vm-beep");
    let mut queued: Vec<Block> = Vec::new();
    let mut started = false;
    let wall = std::time::Instant::now();
    let outcome =
        telvox::hw::sim::client::run_call(&mut party, &dial("8601", "13900139000"), WAIT, |blocks, heard| {
            // Lockstep runs far ahead of the voicemail worker's wall clock and the flow waits
            // for it (polling in samples): bound the call by both.
            if blocks > 90_000 || wall.elapsed() > WAIT {
                return None;
            }
            if !started && find(heard, &beep, 0).is_some() {
                started = true;
                queued = message_blocks();
                queued.extend(key_blocks("#"));
                queued.reverse();
            }
            Some(queued.pop().unwrap_or_else(silence))
        })
        .expect("call");
    assert!(
        started && outcome.cause.is_some(),
        "the flow took the message and hung up: beep heard {started}, cause {:?}, {} bytes heard\n{}",
        outcome.cause,
        outcome.heard.len(),
        daemon.log()
    );
}

/// Whether `heard` holds the VMWI burst, and what a phone's FSK receiver makes of it.
fn has_vmwi(heard: &[u8], on: bool) -> bool {
    let burst = telvox::engine::line::extension::vmwi_burst(FskStandard::V23, LAW, on);
    find(heard, &burst, 0).is_some()
}

/// Levels of the blocks, as on (1) or off (0).
fn on_off(heard: &[u8]) -> String {
    heard
        .chunks(BLOCK_SAMPLES)
        .map(|b| {
            let energy: f64 = linear(b).iter().map(|&x| f64::from(x).powi(2)).sum();
            if energy / BLOCK_SAMPLES as f64 > 10_000.0 {
                '1'
            } else {
                '0'
            }
        })
        .collect()
}

#[test]
fn a_voicemail_for_the_extension_lights_vmwi_and_stutters_dial_tone_until_it_is_heard() {
    let daemon = mwi_daemon();
    let mut phone = Phone::register(&daemon, "601");
    leave_message(&daemon);
    // On-hook, the phone is sent VMWI on (MDMF 0x82, indicator 0xFF) without ringing.
    let mut none = Vec::new();
    phone.listen(&mut none, |p| has_vmwi(&p.heard, true));
    assert!(phone.controls.is_empty(), "no ring: {:?}", phone.controls);
    let mut rx = FskCallerIdRx::new(FskStandard::V23);
    let mut results = Vec::new();
    for block in phone.heard.chunks(BLOCK_SAMPLES) {
        rx.process(&linear(block));
        results.extend(rx.take());
    }
    // The receiver's filters lag the line by a few samples: let the last bits through.
    rx.process(&[0; 2 * BLOCK_SAMPLES]);
    results.extend(rx.take());
    assert_eq!(results.len(), 1, "{results:?}");
    assert!(
        results[0].as_ref().unwrap_err().to_string().contains("0x82"),
        "a caller-ID receiver sees a valid frame of the VMWI type: {results:?}"
    );

    // Lifted: stutter dial tone (100 ms on / off for 1 s), then steady.
    phone.heard.clear();
    phone.lift();
    phone.listen(&mut none, |p| p.blocks() >= 70);
    let levels = on_off(&phone.heard[..70 * BLOCK_SAMPLES]);
    // The line's first blocks are on their way (the card forwards what the channel wrote a tick
    // before, the channel answers the block it was handed).
    let lead = levels.find('1').expect("a tone");
    assert!(lead <= 4, "{levels}");
    assert_eq!(
        &levels[lead..lead + 60],
        format!("{}{}", "1111100000".repeat(5), "1".repeat(10)),
        "{levels}"
    );
    let tone = linear(&phone.heard[lead * BLOCK_SAMPLES..(lead + 5) * BLOCK_SAMPLES]);
    assert!(tone_share(&tone, 450.0) > 0.9);

    // The phone dials its voicemail, hears the message and saves it (no new messages left).
    let mut send = key_blocks("8701");
    let mut cursor = phone.heard.len();
    for (prompt, keys) in [
        ("vm-enter-password", "1234#"),
        ("vm-main-menu", "1"),
        ("vm-msg-menu", "2"),
        ("vm-main-menu", ""),
    ] {
        let needle = prompt_alaw("en", prompt);
        phone.listen(&mut send, |p| find(&p.heard, &needle, cursor).is_some());
        cursor = find(&phone.heard, &needle, cursor).unwrap() + needle.len();
        send.extend(key_blocks(keys));
    }
    let heard_message = message_blocks().concat();
    assert!(
        find(&phone.heard, &heard_message[..4000], 0).is_some(),
        "the message was played"
    );
    phone.hang_up();
    // On-hook again: VMWI off.
    phone.heard.clear();
    phone.listen(&mut none, |p| has_vmwi(&p.heard, false));
    assert!(!has_vmwi(&phone.heard, true));
}

#[test]
fn a_us_extension_has_the_precise_dial_tone_a_2_4_ring_and_bell_202_caller_id() {
    let daemon = TestDaemon::prepare(|c| format!("hw = \"hw.toml\"\n{c}"));
    std::fs::write(daemon.dir.path().join("hw.toml"), hw_map("us")).unwrap();
    let daemon = with_wakeup_flow(daemon).launch();
    let mut phone = Phone::register(&daemon, "602");
    phone.lift();
    let mut none = Vec::new();
    phone.listen(&mut none, |p| p.blocks() >= 40);
    let tone = linear(&phone.heard[10 * BLOCK_SAMPLES..40 * BLOCK_SAMPLES]);
    let (low, high) = (tone_share(&tone, 350.0), tone_share(&tone, 440.0));
    assert!(
        low > 0.4 && high > 0.4 && low + high > 0.95,
        "350 + 440 Hz: {low} {high}"
    );
    phone.hang_up();
    phone.heard.clear();

    let out = daemon.cli(&["call", "602", "--flow", "wakeup", "--from", "2125550123"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    phone.listen(&mut none, |p| p.controls.len() >= 3);
    assert_eq!(
        phone.controls,
        [DaemonOp::Ring, DaemonOp::Ringoff, DaemonOp::Ring]
    );
    // 2 s on, 4 s off.
    let heard = phone.blocks();
    assert!(
        (295..=305).contains(&heard),
        "one 6 s cycle of audio blocks: {heard}"
    );
    let mut rx = FskCallerIdRx::new(FskStandard::Bell202);
    let mut number = None;
    for block in phone.heard.chunks(BLOCK_SAMPLES) {
        rx.process(&linear(block));
        if let Some(result) = rx.take() {
            number = Some(result.expect("a valid caller ID message").number);
        }
    }
    assert_eq!(number, Some(Some("2125550123".to_string())));
    phone.lift();
    let mut send = Vec::new();
    phone.listen(&mut send, |p| p.controls.contains(&DaemonOp::Disconnect));
    phone.hang_up();
}

#[test]
fn phone_registration_is_checked_and_a_phone_that_goes_away_hangs_up() {
    let daemon = daemon("cn", |c| c);
    let refused = |phone: &mut Phone| match phone.party.recv_control(WAIT).unwrap() {
        Some(DaemonOp::Error { message }) => message,
        other => panic!("expected an error, got {other:?}"),
    };
    let mut stranger = Phone::register(&daemon, "699");
    assert!(refused(&mut stranger).contains("no extension 699"));
    stranger.party.send_control(&PartyOp::Offhook).unwrap();
    assert!(refused(&mut stranger).contains("register as a phone first"));
    let mut phone = Phone::register(&daemon, "601");
    let mut second = Phone::register(&daemon, "601");
    assert!(refused(&mut second).contains("601 already has a phone"));
    phone.party.send_control(&PartyOp::Onhook).unwrap();
    assert!(refused(&mut phone).contains("already on-hook"));

    // Lifted, dialled, connected to the hotline: then the phone's connection closes.
    phone.lift();
    let mut send = key_blocks("8000");
    let prompt = prompt_alaw("zh", "choose-language");
    phone.listen(&mut send, |p| find(&p.heard, &prompt[..8000], 0).is_some());
    drop(phone);
    let calls = daemon.wait_calls("the call of the phone that went away", |c| {
        c.iter().any(|r| r["src"] == "601" && r["end"].is_string())
    });
    let row = calls.iter().find(|r| r["src"] == "601").unwrap();
    assert_eq!(row["dst"], "8000", "{row}");
    daemon.wait_all_idle();
    // The extension is free for a new phone, which can call again.
    // … for instance to a number nothing answers: congestion tone (China: 450 Hz, 0.7 s on / off).
    let mut phone = Phone::register(&daemon, "601");
    phone.lift();
    let mut send = key_blocks("555#");
    phone.listen(&mut send, |p| p.blocks() >= 300);
    let levels = on_off(&phone.heard[100 * BLOCK_SAMPLES..]);
    let cycle = format!("{}{}", "1".repeat(35), "0".repeat(35));
    assert!(levels.contains(&cycle), "{levels}");
    assert!(phone.controls.is_empty(), "no battery drop: {:?}", phone.controls);
    phone.hang_up();
    let calls = daemon.wait_calls("the refused call", |c| {
        c.iter().any(|r| r["dst"] == "555" && r["end"].is_string())
    });
    let row = calls.iter().find(|r| r["dst"] == "555").unwrap();
    assert_eq!(row["src"], "601", "{row}");
    assert_eq!(row["disposition"], "FAILED", "{row}");
}

#[test]
fn phone_callerid_picks_the_modem_whatever_the_country() {
    let daemon = TestDaemon::prepare(|c| format!("hw = \"hw.toml\"\n{c}"));
    let map = hw_map("cn").replace(
        "signalling = \"fxoks\"\n",
        "signalling = \"fxoks\"\nphone_callerid = \"bell202\"\n",
    );
    std::fs::write(daemon.dir.path().join("hw.toml"), map).unwrap();
    let daemon = with_wakeup_flow(daemon).launch();
    let mut phone = Phone::register(&daemon, "601");
    let out = daemon.cli(&["call", "601", "--flow", "wakeup", "--from", "13800138000"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut none = Vec::new();
    phone.listen(&mut none, |p| p.controls.len() >= 3);
    let decode = |standard| {
        let mut rx = FskCallerIdRx::new(standard);
        let mut found = None;
        for block in phone.heard.chunks(BLOCK_SAMPLES) {
            rx.process(&linear(block));
            if let Some(Ok(id)) = rx.take() {
                found = id.number;
            }
        }
        found
    };
    assert_eq!(decode(FskStandard::Bell202).as_deref(), Some("13800138000"));
    // Receivers are tolerant of the other modem's tones; the preamble (seizure and mark signal) is
    // exact: Bell 202's is there, V.23's is not.
    let preamble = |standard| -> Vec<u8> {
        let config = telvox::dsp::callerid::FskTxConfig::new(standard, LAW);
        let samples = telvox::dsp::callerid::fsk_tx::modulate(&[], &config).unwrap();
        samples.iter().map(|&s| g711::encode(LAW, s)).collect()
    };
    assert!(find(&phone.heard, &preamble(FskStandard::Bell202), 0).is_some());
    assert!(find(&phone.heard, &preamble(FskStandard::V23), 0).is_none());
    phone.lift();
    let mut send = Vec::new();
    phone.listen(&mut send, |p| p.controls.contains(&DaemonOp::Disconnect));
    phone.hang_up();
}

#[test]
fn a_reloaded_dial_plan_ends_dialling_at_its_new_numbers() {
    let daemon = daemon("cn", |c| c);
    let config = std::fs::read_to_string(&daemon.config).unwrap();
    std::fs::write(
        &daemon.config,
        config.replace("[numbers]\n", "[numbers]\n\"6123\" = \"main\"\n"),
    )
    .unwrap();
    let out = daemon.cli(&["reload"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut phone = Phone::register(&daemon, "601");
    phone.lift();
    let keys = key_blocks("6123");
    let keys_len = keys.len();
    let mut send = keys;
    let prompt = prompt_alaw("zh", "choose-language");
    phone.listen(&mut send, |p| find(&p.heard, &prompt[..4000], 0).is_some());
    let at = find(&phone.heard, &prompt[..4000], 0).unwrap() / BLOCK_SAMPLES;
    // The call went as the last key was heard: 1 s of ringback (answer_after_rings = 1), not the
    // 3 s inter-digit wait first.
    assert!(
        at < keys_len + 75,
        "the prompt began {at} blocks in ({keys_len} blocks of keys)"
    );
    phone.hang_up();
}
