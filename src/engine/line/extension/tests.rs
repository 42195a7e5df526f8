//! The extension state machine against scripted event sequences as DAHDI reports them on an
//! fxoks port (RINGOFFHOOK when lifted, ONHOOK after the 1250 ms debounce, WINKFLASH for a flash,
//! RINGERON/RINGEROFF for the cadence), with the engine's side played by the test.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use super::*;
use crate::dsp::callerid::FskCallerIdRx;
use crate::dsp::dtmf_gen::{keys_to_blocks, DtmfConfig};
use crate::dsp::tones::ToneGenerator;
use crate::hw::{CallRef, ChanId};

const LAW: Law = Law::Alaw;

/// A card channel that plays a script of reads and logs what was written and controlled.
struct Scripted {
    script: VecDeque<(ReadOutcome, Block)>,
    log: Arc<Mutex<Log>>,
}

#[derive(Default)]
struct Log {
    writes: Vec<Block>,
    controls: Vec<Control>,
}

impl Channel for Scripted {
    fn id(&self) -> ChanId {
        ChanId { span: 2, chan: 1 }
    }
    fn law(&self) -> Law {
        LAW
    }
    fn role(&self) -> Role {
        Role::Extension
    }
    fn read(&mut self, block: &mut Block) -> Result<ReadOutcome, HwError> {
        let Some((outcome, audio)) = self.script.pop_front() else {
            return Ok(ReadOutcome::Closed);
        };
        *block = audio;
        Ok(outcome)
    }
    fn write(&mut self, block: &Block) -> Result<(), HwError> {
        self.log.lock().unwrap().writes.push(*block);
        Ok(())
    }
    fn control(&mut self, control: Control) -> Result<(), HwError> {
        self.log.lock().unwrap().controls.push(control);
        Ok(())
    }
}

fn silence() -> Block {
    [LAW.silence_byte(); BLOCK_SAMPLES]
}

/// The script a test builds: reads of silence, DTMF or events.
#[derive(Default)]
struct Script(Vec<(ReadOutcome, Block)>);

impl Script {
    fn ev(mut self, event: ChanEvent) -> Self {
        self.0.push((ReadOutcome::Event(event), silence()));
        self
    }
    fn quiet(mut self, blocks: usize) -> Self {
        self.0
            .extend(std::iter::repeat((ReadOutcome::Audio, silence())).take(blocks));
        self
    }
    fn keys(mut self, keys: &str) -> Self {
        for block in keys_to_blocks(DtmfConfig::new(LAW), keys).unwrap() {
            self.0.push((ReadOutcome::Audio, block));
        }
        self
    }
}

fn line(messages: u32) -> ExtensionLine {
    ExtensionLine {
        number: Number::from_str_truncating("601"),
        messages: Arc::new(AtomicU32::new(messages)),
        exact_numbers: Arc::new(arc_swap::ArcSwap::from_pointee(vec![
            Number::from_str_truncating("8000"),
            Number::from_str_truncating("8999"),
            Number::from_str_truncating("80001"),
        ])),
        fsk: FskStandard::V23,
        dtmf: DtmfRxConfig::for_law(LAW),
        utc_offset_s: 8 * 3600,
    }
}

/// What the engine saw and what the line did.
struct Run {
    events: Vec<ChanEvent>,
    writes: Vec<Block>,
    controls: Vec<Control>,
}

/// Runs `script` through an extension the way the engine's loop drives it: a write per Audio,
/// `respond` consulted for each event (it returns the controls the engine sends).
fn run_with(
    script: Script,
    line: ExtensionLine,
    first: Vec<Control>,
    mut respond: impl FnMut(&ChanEvent) -> Vec<Control>,
) -> Run {
    let log = Arc::new(Mutex::new(Log::default()));
    let inner = Scripted {
        script: script.0.into_iter().collect(),
        log: log.clone(),
    };
    let mut ext = Extension::new(Box::new(inner), Signalling::Fxoks, Country::Cn, line);
    for c in first {
        ext.control(c).unwrap();
    }
    let mut events = Vec::new();
    let mut block = silence();
    loop {
        match ext.read(&mut block).unwrap() {
            ReadOutcome::Audio => ext.write(&silence()).unwrap(),
            ReadOutcome::Event(ev) => {
                for c in respond(&ev) {
                    ext.control(c).unwrap();
                }
                events.push(ev);
            }
            ReadOutcome::Closed => break,
            ReadOutcome::Woken => {}
        }
    }
    let log = log.lock().unwrap();
    Run {
        events,
        writes: log.writes.clone(),
        controls: log.controls.clone(),
    }
}

fn run(script: Script) -> Run {
    run_with(script, line(0), Vec::new(), |_| Vec::new())
}

fn tone_blocks(spec: ToneSpec, blocks: usize) -> Vec<Block> {
    let mut gen = ToneGenerator::new(LAW, spec).unwrap();
    let mut lin = [0i16; BLOCK_SAMPLES];
    (0..blocks)
        .map(|_| {
            gen.fill(&mut lin);
            let mut out = [0u8; BLOCK_SAMPLES];
            g711::encode_block(LAW, &lin, &mut out);
            out
        })
        .collect()
}

fn offered(events: &[ChanEvent]) -> Option<CallInfo> {
    events.iter().find_map(|e| match e {
        ChanEvent::Offered(info) => Some(*info),
        _ => None,
    })
}

#[test]
fn lifted_phone_hears_the_plans_dial_tone_and_dials_a_number_that_is_offered_at_once() {
    let r = run(Script::default()
        .ev(ChanEvent::OffHook)
        .quiet(25)
        .keys("8999")
        .quiet(5)
        .ev(ChanEvent::Flash)
        .quiet(2)
        .ev(ChanEvent::OnHook));
    let dial = tone_blocks(tone(Country::Cn, ToneKind::Dial), 25);
    assert_eq!(
        &r.writes[..25],
        &dial[..],
        "China's 450 Hz dial tone, sample-exact"
    );
    let info = offered(&r.events).expect("offered");
    assert_eq!(info.from.as_str(), "601");
    assert_eq!(
        info.to.as_str(),
        "8999",
        "8999 is one of [numbers] and starts no other one"
    );
    // Offered as the last key ends (no timeout), then flash and on-hook reach the call.
    assert_eq!(
        r.events[1..],
        [ChanEvent::Flash, ChanEvent::Hangup(Cause::NormalClearing)],
        "{:?}",
        r.events
    );
    assert!(r.controls.is_empty(), "{:?}", r.controls);
}

#[test]
fn digits_end_with_hash_or_after_the_inter_digit_timeout() {
    // "8000" is a prefix of "80001": wait for more, and end after 3 s of nothing.
    // 150 blocks = 3 s after the last key began (the key itself lasts a few blocks).
    let r = run(Script::default()
        .ev(ChanEvent::OffHook)
        .keys("8000")
        .quiet(150)
        .ev(ChanEvent::OnHook));
    assert_eq!(offered(&r.events).unwrap().to.as_str(), "8000");
    let r2 = run(Script::default()
        .ev(ChanEvent::OffHook)
        .keys("8000")
        .quiet(140)
        .ev(ChanEvent::OnHook));
    assert_eq!(offered(&r2.events), None, "not before 3 s");
    let r3 = run(Script::default()
        .ev(ChanEvent::OffHook)
        .keys("123#")
        .quiet(3)
        .ev(ChanEvent::OnHook));
    assert_eq!(offered(&r3.events).unwrap().to.as_str(), "123");
}

#[test]
fn nothing_dialled_for_ten_seconds_gives_congestion_then_on_hook_is_quiet() {
    let r = run(Script::default()
        .ev(ChanEvent::OffHook)
        .quiet(520)
        .ev(ChanEvent::OnHook)
        .quiet(3));
    assert!(r.events.is_empty(), "no call: {:?}", r.events);
    let congestion = tone_blocks(tone(Country::Cn, ToneKind::Congestion), 20);
    assert_eq!(&r.writes[500..520], &congestion[..], "congestion from 10 s");
    assert!(
        r.writes[520..].iter().all(|b| *b == silence()),
        "on-hook: the engine's silence"
    );
}

#[test]
fn the_phones_call_rings_the_flow_until_it_answers_and_busy_tone_follows_its_hangup() {
    let mut answered = false;
    let r = run_with(
        Script::default()
            .ev(ChanEvent::OffHook)
            .keys("8999")
            .quiet(400)
            .ev(ChanEvent::OnHook),
        line(0),
        Vec::new(),
        |ev| match ev {
            // Answer at the second ring; hang up on the next event (none): see below.
            ChanEvent::RingEnd if !answered => {
                answered = true;
                vec![Control::Answer {
                    call: CallRef::default(),
                }]
            }
            _ => Vec::new(),
        },
    );
    let rings = r.events.iter().filter(|e| **e == ChanEvent::RingEnd).count();
    assert_eq!(rings, 1, "rings stop at the answer: {:?}", r.events);
    let r = run_with(
        Script::default()
            .ev(ChanEvent::OffHook)
            .keys("8999")
            .quiet(30)
            .ev(ChanEvent::OnHook),
        line(0),
        Vec::new(),
        |ev| match ev {
            ChanEvent::Offered(_) => vec![Control::Hangup {
                cause: Cause::Unallocated,
            }],
            _ => Vec::new(),
        },
    );
    assert!(
        r.controls.is_empty(),
        "no battery drop for a call never connected: {:?}",
        r.controls
    );
    let last = r.writes.len() - 1;
    let congestion = tone_blocks(tone(Country::Cn, ToneKind::Congestion), 10);
    assert!(
        r.writes[..=last].windows(10).any(|w| w == &congestion[..]),
        "congestion after refusal"
    );
    assert_eq!(
        r.events.last(),
        Some(&ChanEvent::Offered(offered(&r.events).unwrap())),
        "on-hook after the clear is no second hangup"
    );
}

fn dial_601() -> Control {
    Control::Dial {
        number: Number::from_str_truncating("601"),
        from: Number::from_str_truncating("13800138000"),
        call: CallRef::default(),
    }
}

fn decode_cid(writes: &[Block]) -> Option<String> {
    let mut rx = FskCallerIdRx::new(FskStandard::V23);
    let mut lin = [0i16; BLOCK_SAMPLES];
    for b in writes {
        g711::decode_block(LAW, b, &mut lin);
        rx.process(&lin);
        if let Some(Ok(id)) = rx.take() {
            return id.number;
        }
    }
    None
}

#[test]
fn telvox_rings_the_phone_sends_caller_id_in_the_first_silence_and_lifting_answers() {
    let r = run_with(
        Script::default()
            .ev(ChanEvent::RingerOn)
            .quiet(50)
            .ev(ChanEvent::RingerOff)
            .quiet(200)
            .ev(ChanEvent::RingerOn)
            .quiet(10)
            .ev(ChanEvent::OffHook)
            .quiet(5)
            .ev(ChanEvent::OnHook),
        line(0),
        vec![dial_601()],
        |_| Vec::new(),
    );
    assert_eq!(r.controls, [Control::Ring, Control::RingOff]);
    assert!(
        r.writes[..50].iter().all(|b| *b == silence()),
        "nothing during the first ring"
    );
    assert_eq!(decode_cid(&r.writes[50..250]).as_deref(), Some("13800138000"));
    assert_eq!(
        r.events,
        [ChanEvent::Answered, ChanEvent::Hangup(Cause::NormalClearing)]
    );
}

#[test]
fn lifting_during_caller_id_stops_it_and_answers() {
    let r = run_with(
        Script::default()
            .ev(ChanEvent::RingerOn)
            .quiet(50)
            .ev(ChanEvent::RingerOff)
            .quiet(20)
            .ev(ChanEvent::OffHook)
            .quiet(40),
        line(0),
        vec![dial_601()],
        |_| Vec::new(),
    );
    assert_eq!(r.events, [ChanEvent::Answered]);
    assert_eq!(r.controls, [Control::Ring, Control::RingOff]);
    assert!(
        r.writes[50..70].iter().all(|b| *b != silence()),
        "the burst started"
    );
    assert!(
        r.writes[70..].iter().all(|b| *b == silence()),
        "and stopped at the answer"
    );
}

#[test]
fn flash_and_on_hook_while_ringing_mean_nothing_and_the_engines_hangup_stops_the_ringer() {
    let mut blocks = 0;
    let r = run_with(
        Script::default()
            .ev(ChanEvent::RingerOn)
            .ev(ChanEvent::Flash)
            .ev(ChanEvent::OnHook)
            .quiet(10)
            .ev(ChanEvent::RingerOff)
            .quiet(5),
        line(0),
        vec![dial_601()],
        |_| {
            blocks += 1;
            Vec::new()
        },
    );
    assert!(r.events.is_empty(), "{:?}", r.events);
    assert_eq!(blocks, 0);
    // The engine gives up (ring timeout): the ringer stops.
    let log = Arc::new(Mutex::new(Log::default()));
    let inner = Scripted {
        script: VecDeque::new(),
        log: log.clone(),
    };
    let mut ext = Extension::new(Box::new(inner), Signalling::Fxoks, Country::Cn, line(0));
    ext.control(dial_601()).unwrap();
    ext.control(Control::Hangup {
        cause: Cause::NoAnswer,
    })
    .unwrap();
    assert_eq!(log.lock().unwrap().controls, [Control::Ring, Control::RingOff]);
    // A second call while the phone is in use is busy.
    ext.control(dial_601()).unwrap();
    let inner_log = log.lock().unwrap().controls.len();
    assert_eq!(inner_log, 3);
}

#[test]
fn a_dial_to_a_phone_in_use_is_busy() {
    let r = run_with(
        Script::default().ev(ChanEvent::OffHook).quiet(2),
        line(0),
        Vec::new(),
        |_| Vec::new(),
    );
    assert!(r.events.is_empty());
    let log = Arc::new(Mutex::new(Log::default()));
    let inner = Scripted {
        script: vec![(ReadOutcome::Event(ChanEvent::OffHook), silence())].into(),
        log: log.clone(),
    };
    let mut ext = Extension::new(Box::new(inner), Signalling::Fxoks, Country::Cn, line(0));
    let mut block = silence();
    // The off-hook is absorbed; the script then ends.
    assert_eq!(ext.read(&mut block).unwrap(), ReadOutcome::Closed);
    ext.control(dial_601()).unwrap();
    assert_eq!(
        ext.read(&mut block).unwrap(),
        ReadOutcome::Event(ChanEvent::Hangup(Cause::UserBusy))
    );
    assert!(log.lock().unwrap().controls.is_empty(), "no ring");
}

#[test]
fn messages_waiting_give_stutter_dial_tone_and_vmwi_on_hook() {
    let r = run_with(
        Script::default()
            .quiet(300)
            .ev(ChanEvent::OffHook)
            .quiet(60)
            .ev(ChanEvent::OnHook),
        line(2),
        Vec::new(),
        |_| Vec::new(),
    );
    // On-hook: VMWI on, as an MDMF 0x82 burst, exactly once.
    let on = vmwi_burst(FskStandard::V23, LAW, true);
    let heard: Vec<u8> = r.writes[..300].iter().flatten().copied().collect();
    assert_eq!(
        &heard[..on.len()],
        &on[..],
        "VMWI on, first thing on the idle line"
    );
    assert!(heard[on.len().div_ceil(BLOCK_SAMPLES) * BLOCK_SAMPLES..]
        .iter()
        .all(|&b| b == LAW.silence_byte()));
    let stutter = ToneSpec {
        cadence: &STUTTER,
        repeat: true,
        ..tone(Country::Cn, ToneKind::Dial)
    };
    assert_eq!(
        &r.writes[300..350],
        &tone_blocks(stutter, 50)[..],
        "1 s of stutter dial tone"
    );
    assert_eq!(
        &r.writes[350..360],
        &tone_blocks(tone(Country::Cn, ToneKind::Dial), 10)[..],
        "then steady"
    );
}

#[test]
fn vmwi_off_goes_out_when_the_last_message_is_heard() {
    let messages = Arc::new(AtomicU32::new(1));
    let mut l = line(0);
    l.messages = messages.clone();
    let log = Arc::new(Mutex::new(Log::default()));
    let inner = Scripted {
        script: std::iter::repeat((ReadOutcome::Audio, silence()))
            .take(600)
            .collect(),
        log: log.clone(),
    };
    let mut ext = Extension::new(Box::new(inner), Signalling::Fxoks, Country::Cn, l);
    let mut block = silence();
    for i in 0..600 {
        if i == 300 {
            messages.store(0, Ordering::Relaxed);
        }
        assert_eq!(ext.read(&mut block).unwrap(), ReadOutcome::Audio);
        ext.write(&silence()).unwrap();
    }
    let heard: Vec<u8> = log.lock().unwrap().writes.iter().flatten().copied().collect();
    let off = vmwi_burst(FskStandard::V23, LAW, false);
    assert_eq!(
        &heard[300 * BLOCK_SAMPLES..300 * BLOCK_SAMPLES + off.len()],
        &off[..]
    );
}

#[test]
fn vmwi_frame_is_mdmf_0x82_with_the_visual_indicator() {
    let frame = vmwi_frame(true);
    assert_eq!(
        frame,
        [0x82, 3, 0x0B, 1, 0xFF, checksum(&[0x82, 3, 0x0B, 1, 0xFF])]
    );
    assert_eq!(frame.iter().fold(0u8, |a, b| a.wrapping_add(*b)), 0);
    assert_eq!(vmwi_frame(false)[4], 0);
}

#[test]
fn on_hook_during_caller_id_after_a_lift_ends_the_call_and_the_burst() {
    let r = run_with(
        Script::default()
            .ev(ChanEvent::RingerOn)
            .quiet(50)
            .ev(ChanEvent::RingerOff)
            .quiet(10)
            .ev(ChanEvent::OffHook)
            .quiet(2)
            .ev(ChanEvent::OnHook)
            .quiet(40),
        line(0),
        vec![dial_601()],
        |_| Vec::new(),
    );
    assert_eq!(
        r.events,
        [ChanEvent::Answered, ChanEvent::Hangup(Cause::NormalClearing)]
    );
    assert!(
        r.writes[62..].iter().all(|b| *b == silence()),
        "no more caller ID"
    );
}

#[test]
fn a_ring_without_cadence_sends_no_caller_id_and_is_answered_when_lifted() {
    // The ringer never goes off (no RINGEROFF): there is no silence to put caller ID in.
    let r = run_with(
        Script::default()
            .ev(ChanEvent::RingerOn)
            .quiet(300)
            .ev(ChanEvent::OffHook)
            .quiet(5),
        line(0),
        vec![dial_601()],
        |_| Vec::new(),
    );
    assert!(
        r.writes.iter().all(|b| *b == silence()),
        "nothing sent while it rings"
    );
    assert_eq!(r.events, [ChanEvent::Answered]);
    assert_eq!(r.controls, [Control::Ring, Control::RingOff]);
}
