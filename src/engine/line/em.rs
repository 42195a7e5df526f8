//! E&M trunks (DAHDI `e&m`, immediate and wink start) and clear channels (E1/T1 B-channels with no
//! signalling), as call-level channels for the engine loop.
//!
//! E&M inbound: the far end seizes (`OffHook`, the E lead / ABCD bits 1111) → wink start answers
//! with a `Wink` → DNIS digits as DTMF, ended by `#` or `dnis_timeout_ms` without a digit (none
//! expected when it is 0) → `Offered { to: digits, or the line's number when none came }`. E&M does
//! not ring, so the line presents one ring at the offer and one every [`RING_EVERY_MS`] after it:
//! `answer_after_rings` then works as on every other line. Answer = `OffHook` toward the far end;
//! the far end's `OnHook` = `Hangup`. A call refused before the answer stays refused until the far
//! end releases its seizure.
//!
//! E&M outbound: `Start` (DAHDI_START seizes; a plain off-hook would give a false answer), then for
//! wink start the far end's wink (`Flash`) within [`WINK_TIMEOUT_MS`], for immediate start
//! [`IMMEDIATE_DIAL_DELAY_MS`]; `DialDigits`; the far end's `OffHook` is the answer.
//!
//! Clear channels carry audio only, so there is no call to signal: the channel is "nailed up". It is
//! offered once to the line's number when it starts (the first block it reads), answered as soon
//! as the flow answers, and offered again [`CLEAR_REOFFER_MS`] after each call ends, so a flow is
//! always attached to the circuit, as a permanently connected channel bank port would expect. An
//! outbound call on a clear channel is answered at once (the far end is always there).

use crate::dsp::dtmf::{DtmfRx, DtmfRxConfig};
use crate::dsp::g711;
use crate::fixed::Number;
use crate::hw::{
    Alarms, Block, CallInfo, Cause, ChanEvent, ChanId, Channel, ChannelWaker, Control, HwError, Law,
    ReadOutcome, Role, Signalling, BLOCK_SAMPLES,
};

use super::queue::EventQueue;
use super::trunk::{ms_to_samples, AnalogOptions};
use super::LineSetup;

/// A ring presented to the engine this often while an E&M or clear call waits for its answer.
pub const RING_EVERY_MS: u32 = 4000;
/// Wink start: the far end must wink within this long of the seizure.
pub const WINK_TIMEOUT_MS: u32 = 5000;
/// Immediate start: digits go out this long after the seizure.
pub const IMMEDIATE_DIAL_DELAY_MS: u32 = 300;
/// Clear channels: a new call is offered this long after the last one ended.
pub const CLEAR_REOFFER_MS: u32 = 1000;
/// DNIS digits kept at most.
const MAX_DNIS_DIGITS: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Idle,
    /// Inbound: seized by the far end; waiting for our wink to complete (wink start).
    Winking,
    /// Inbound: collecting DNIS; samples since the seizure or the last digit.
    Digits {
        quiet_samples: u64,
    },
    /// Inbound: offered, not answered; samples since the last presented ring.
    Offered {
        since_ring_samples: u64,
    },
    /// The engine refused the call: on-hook, waiting for the far end to release.
    Refused,
    Up,
    /// The far end released; waiting for the engine to hang up.
    Clearing,
    /// Outbound: seized, waiting for the wink or the immediate-start delay.
    Seized {
        samples: u64,
        number: Number,
    },
    /// Outbound: digits going out; no writes to the card.
    Dialling,
    /// Outbound: dialled, waiting for the far end's answer.
    AwaitAnswer,
    /// Clear channel between calls: samples until the next offer.
    ClearIdle {
        wait_samples: u64,
    },
    Alarmed,
}

/// The E&M / clear channel state machine (see the module documentation).
pub struct EmLine {
    inner: Box<dyn Channel>,
    opts: AnalogOptions,
    law: Law,
    signalling: Signalling,
    state: State,
    off_hook: bool,
    events: EventQueue,
    lin: [i16; BLOCK_SAMPLES],
    dtmf: Option<Box<DtmfRx>>,
    dnis: Number,
    swallow_write: bool,
}

impl EmLine {
    pub fn new(inner: Box<dyn Channel>, setup: &LineSetup) -> Self {
        let law = inner.law();
        let dtmf = (setup.signalling != Signalling::Clear && setup.analog.dnis_timeout_ms > 0)
            .then(|| DtmfRx::new(DtmfRxConfig::for_law(law)).ok().map(Box::new))
            .flatten();
        let state = if setup.signalling == Signalling::Clear {
            State::ClearIdle { wait_samples: 0 }
        } else {
            State::Idle
        };
        Self {
            law,
            opts: setup.analog,
            signalling: setup.signalling,
            state,
            off_hook: false,
            events: EventQueue::new(),
            lin: [0; BLOCK_SAMPLES],
            dtmf,
            dnis: Number::new(),
            swallow_write: false,
            inner,
        }
    }

    fn is_clear(&self) -> bool {
        self.signalling == Signalling::Clear
    }

    fn line(&mut self, control: Control) {
        match control {
            Control::OffHook => self.off_hook = true,
            Control::OnHook => self.off_hook = false,
            Control::Start => self.off_hook = true,
            _ => {}
        }
        let _ = self.inner.control(control);
    }

    fn offer(&mut self) {
        let to = if self.dnis.is_empty() {
            self.opts.number
        } else {
            self.dnis
        };
        self.events.push(ChanEvent::Offered(CallInfo {
            to,
            ..CallInfo::default()
        }));
        self.present_ring();
    }

    fn present_ring(&mut self) {
        self.events.push(ChanEvent::RingBegin);
        self.events.push(ChanEvent::RingEnd);
        self.state = State::Offered {
            since_ring_samples: 0,
        };
    }

    fn after_call(&mut self) {
        self.state = if self.is_clear() {
            State::ClearIdle {
                wait_samples: ms_to_samples(CLEAR_REOFFER_MS),
            }
        } else {
            State::Idle
        };
    }

    fn on_line_event(&mut self, event: ChanEvent) {
        match event {
            ChanEvent::Alarm(alarms) => return self.on_alarm(alarms),
            ChanEvent::Offered(_) | ChanEvent::Answered | ChanEvent::Hangup(_) => {
                return self.events.push(event)
            }
            _ => {}
        }
        if self.is_clear() {
            return;
        }
        match (self.state, event) {
            // A new seizure; on a refused call the far end's release may not have been reported.
            (State::Idle | State::Refused, ChanEvent::OffHook) => self.seized(),
            // Wink sent: now the digits.
            (State::Winking, ChanEvent::HookComplete) => self.collect_or_offer(),
            (State::Winking | State::Digits { .. } | State::Refused, ChanEvent::OnHook) => {
                self.state = State::Idle
            }
            (State::Offered { .. }, ChanEvent::OnHook) => {
                self.events.push(ChanEvent::Hangup(Cause::NormalClearing));
                self.state = State::Idle;
            }
            (State::Up | State::AwaitAnswer | State::Dialling | State::Seized { .. }, ChanEvent::OnHook) => {
                let cause = if self.state == State::Up {
                    Cause::NormalClearing
                } else {
                    Cause::NormalCircuitCongestion
                };
                self.events.push(ChanEvent::Hangup(cause));
                self.state = State::Clearing;
            }
            // The far end's wink (DAHDI reports it as WINKFLASH): dial now.
            (State::Seized { number, .. }, ChanEvent::Flash) if self.signalling == Signalling::EmWink => {
                self.dial(number)
            }
            (State::Dialling, ChanEvent::DialComplete) => self.state = State::AwaitAnswer,
            (State::AwaitAnswer | State::Dialling, ChanEvent::OffHook) => {
                self.state = State::Up;
                self.events.push(ChanEvent::Answered);
            }
            // Glare: the far end seized as telvox did. The far end wins: its call is taken as any
            // other, and the offer that follows ends the outbound attempt in the engine loop (as on
            // the analog trunk), so no hangup is owed for it.
            (State::Seized { .. }, ChanEvent::OffHook) => {
                self.off_hook = false;
                self.seized();
            }
            _ => {}
        }
    }

    fn seized(&mut self) {
        self.dnis = Number::new();
        if let Some(dtmf) = self.dtmf.as_mut() {
            dtmf.reset();
        }
        if self.signalling == Signalling::EmWink {
            self.line(Control::Wink);
            self.state = State::Winking;
        } else {
            self.collect_or_offer();
        }
    }

    fn collect_or_offer(&mut self) {
        if self.dtmf.is_some() {
            self.state = State::Digits { quiet_samples: 0 };
        } else {
            self.offer();
        }
    }

    fn dial(&mut self, number: Number) {
        self.state = State::Dialling;
        self.line(Control::DialDigits {
            digits: number,
            pulse: false,
        });
    }

    fn on_alarm(&mut self, alarms: Alarms) {
        if alarms.is_clear() {
            if self.state == State::Alarmed {
                self.off_hook = false;
                self.after_call();
                if self.is_clear() {
                    self.state = State::ClearIdle { wait_samples: 0 };
                }
            }
            self.events.push(ChanEvent::Alarm(alarms));
            return;
        }
        let in_call = matches!(
            self.state,
            State::Offered { .. }
                | State::Up
                | State::Seized { .. }
                | State::Dialling
                | State::AwaitAnswer
                | State::Clearing
        );
        if in_call {
            self.events.push(ChanEvent::Hangup(Cause::NetworkOutOfOrder));
        }
        self.state = State::Alarmed;
        self.events.push(ChanEvent::Alarm(alarms));
    }

    fn on_audio(&mut self, block: &Block) {
        let samples = BLOCK_SAMPLES as u64;
        match &mut self.state {
            State::Digits { quiet_samples } => {
                *quiet_samples += samples;
                let quiet = *quiet_samples;
                g711::decode_block(self.law, block, &mut self.lin);
                let mut ended = quiet >= ms_to_samples(self.opts.dnis_timeout_ms);
                if let Some(dtmf) = self.dtmf.as_mut() {
                    dtmf.process(&self.lin);
                    for _ in 0..8 {
                        let Some(event) = dtmf.take_event() else {
                            break;
                        };
                        if event.duration_samples.is_some() {
                            continue;
                        }
                        match event.digit {
                            '#' => ended = true,
                            digit if self.dnis.len() < MAX_DNIS_DIGITS => {
                                self.dnis.push(digit);
                                self.state = State::Digits { quiet_samples: 0 };
                            }
                            _ => {}
                        }
                    }
                }
                if ended {
                    self.offer();
                }
            }
            State::Offered { since_ring_samples } => {
                *since_ring_samples += samples;
                if *since_ring_samples >= ms_to_samples(RING_EVERY_MS) {
                    self.present_ring();
                }
            }
            State::Seized {
                samples: waited,
                number,
            } => {
                *waited += samples;
                let (waited, number) = (*waited, *number);
                if self.signalling == Signalling::EmImmediate {
                    if waited >= ms_to_samples(IMMEDIATE_DIAL_DELAY_MS) {
                        self.dial(number);
                    }
                } else if waited >= ms_to_samples(WINK_TIMEOUT_MS) {
                    // No wink: the far end is not there (or is busy); release.
                    self.line(Control::OnHook);
                    self.events
                        .push(ChanEvent::Hangup(Cause::NormalCircuitCongestion));
                    self.state = State::Clearing;
                }
            }
            State::ClearIdle { wait_samples } => {
                *wait_samples = wait_samples.saturating_sub(samples);
                if *wait_samples == 0 {
                    self.dnis = Number::new();
                    self.offer();
                }
            }
            _ => {}
        }
    }
}

impl Channel for EmLine {
    fn id(&self) -> ChanId {
        self.inner.id()
    }

    fn law(&self) -> Law {
        self.law
    }

    fn role(&self) -> Role {
        self.inner.role()
    }

    fn signalling(&self) -> Signalling {
        self.signalling
    }

    fn waker(&self) -> Option<std::sync::Arc<dyn ChannelWaker>> {
        self.inner.waker()
    }

    fn read(&mut self, block: &mut Block) -> Result<ReadOutcome, HwError> {
        for _ in 0..super::MAX_LINE_EVENTS_PER_READ {
            if let Some(event) = self.events.pop() {
                return Ok(ReadOutcome::Event(event));
            }
            match self.inner.read(block)? {
                ReadOutcome::Audio => {
                    let dialling = self.state == State::Dialling;
                    self.on_audio(block);
                    self.swallow_write = dialling;
                    return Ok(ReadOutcome::Audio);
                }
                ReadOutcome::Event(event) => self.on_line_event(event),
                other => return Ok(other),
            }
        }
        Ok(ReadOutcome::Woken)
    }

    fn write(&mut self, block: &Block) -> Result<(), HwError> {
        if std::mem::take(&mut self.swallow_write) {
            return Ok(());
        }
        self.inner.write(block)
    }

    fn control(&mut self, control: Control) -> Result<(), HwError> {
        match control {
            Control::Answer { .. } => {
                if matches!(self.state, State::Offered { .. }) {
                    if !self.is_clear() {
                        self.line(Control::OffHook);
                    }
                    self.state = State::Up;
                }
            }
            Control::Hangup { .. } => {
                if self.is_clear() {
                    if self.state != State::Alarmed {
                        self.after_call();
                    }
                    return Ok(());
                }
                let refused = matches!(self.state, State::Offered { .. } | State::Digits { .. });
                // Refusing a seizure is staying on-hook: said explicitly, so an exchange that
                // waits for it (the sim's) releases the call.
                if self.off_hook || refused {
                    self.line(Control::OnHook);
                }
                if refused {
                    self.state = State::Refused;
                } else if self.state != State::Alarmed {
                    self.after_call();
                }
            }
            Control::Dial { number, .. } => match self.state {
                State::Idle => {
                    self.line(Control::Start);
                    self.state = State::Seized { samples: 0, number };
                }
                State::ClearIdle { .. } => {
                    self.state = State::Up;
                    self.events.push(ChanEvent::Answered);
                }
                State::Alarmed => self.events.push(ChanEvent::Hangup(Cause::NetworkOutOfOrder)),
                _ => {}
            },
            Control::Flash => self.line(Control::Flash),
            other => self.line(other),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::engine::line::trunk::tests::{drive, setup, Script, Step};
    use crate::hw::Signalling;

    use ChanEvent::*;
    use Step::*;

    fn em(steps: Vec<Step>, signalling: Signalling, dnis_ms: u32) -> (EmLine, Arc<Mutex<Vec<String>>>) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let script = Script {
            steps: steps.into(),
            log: log.clone(),
            law: Law::Alaw,
        };
        let setup = setup(signalling, |o| o.dnis_timeout_ms = dnis_ms);
        (EmLine::new(Box::new(script), &setup), log)
    }

    fn keys(keys: &str) -> Vec<u8> {
        use crate::dsp::dtmf_gen::{keys_to_blocks, DtmfConfig};
        keys_to_blocks(DtmfConfig::new(Law::Alaw), keys).unwrap().concat()
    }

    #[test]
    fn wink_start_inbound_winks_takes_dnis_offers_it_answers_and_clears_on_release() {
        let steps = vec![
            Quiet(2),
            Ev(OffHook),
            Quiet(3),
            Ev(HookComplete),
            Quiet(2),
            Audio(keys("6001#")),
            Quiet(2),
            Ev(OnHook),
            Quiet(1),
        ];
        let (mut line, log) = em(steps, Signalling::EmWink, 3000);
        let run = drive(&mut line, &log, Some(1), |_, _| {});
        assert_eq!(run.controls, ["Wink", "OffHook", "OnHook"]);
        let offer = run.seen.iter().position(|s| s.starts_with("Offered")).unwrap();
        assert_eq!(
            run.seen[offer..offer + 3],
            ["Offered(>6001 )", "RingBegin", "RingEnd"]
        );
        assert!(run.seen.contains(&"Hangup(NormalClearing)".to_string()));
    }

    #[test]
    fn immediate_start_without_digits_is_offered_to_the_line_number_after_the_dnis_timeout() {
        let steps = vec![Ev(OffHook), Quiet(200), Ev(OnHook), Quiet(1)];
        let (mut line, log) = em(steps, Signalling::EmImmediate, 1000);
        let run = drive(&mut line, &log, Some(2), |_, _| {});
        // Offered after 1 s (50 blocks), a second presented ring 4 s later answers it.
        assert_eq!(
            run.seen,
            [
                "audio×50",
                "Offered(>8000 )",
                "RingBegin",
                "RingEnd",
                "audio×150",
                "Hangup(NormalClearing)",
                "audio×1"
            ]
        );
        assert!(
            run.controls.is_empty(),
            "never answered, never off-hook: {:?}",
            run.controls
        );
        let (mut line, log) = em(
            vec![Ev(OffHook), Quiet(260), Ev(OnHook)],
            Signalling::EmImmediate,
            1000,
        );
        let run = drive(&mut line, &log, Some(2), |_, _| {});
        assert_eq!(run.controls, ["OffHook", "OnHook"]);
    }

    #[test]
    fn wink_start_outbound_seizes_waits_for_the_wink_dials_and_is_answered_by_the_far_end() {
        let steps = vec![
            Quiet(10),
            Ev(Flash),
            Quiet(1),
            Ev(DialComplete),
            Quiet(5),
            Ev(OffHook),
            Quiet(2),
        ];
        let (mut line, log) = em(steps, Signalling::EmWink, 0);
        let run = drive(&mut line, &log, None, |reads, line| {
            if reads == 0 {
                line.control(Control::Dial {
                    number: Number::from_str_truncating("6001"),
                    from: Number::new(),
                    call: Default::default(),
                })
                .unwrap();
            }
        });
        assert_eq!(run.controls[0], "Start");
        assert!(run.controls[1].starts_with("DialDigits") && run.controls[1].contains("6001"));
        // The wink and the dial's completion are the line's; the loop sees the answer.
        assert_eq!(run.seen, ["audio×16", "Answered", "audio×2"]);
        assert_eq!(
            run.writes, 17,
            "the block read while dialling is not written back"
        );
    }

    #[test]
    fn wink_start_outbound_without_a_wink_fails_as_congestion() {
        let (mut line, log) = em(vec![Quiet(260)], Signalling::EmWink, 0);
        let run = drive(&mut line, &log, None, |reads, line| {
            if reads == 0 {
                line.control(Control::Dial {
                    number: Number::from_str_truncating("6001"),
                    from: Number::new(),
                    call: Default::default(),
                })
                .unwrap();
            }
        });
        assert_eq!(run.controls, ["Start", "OnHook"]);
        assert!(
            run.seen.contains(&"Hangup(NormalCircuitCongestion)".to_string()),
            "{:?}",
            run.seen
        );
    }

    #[test]
    fn glare_the_far_end_seizing_as_telvox_does_wins_and_an_alarm_clears_its_call() {
        let steps = vec![
            Quiet(2),
            Ev(OffHook),
            Quiet(2),
            Ev(HookComplete),
            Quiet(60),
            Ev(Alarm(Alarms::BLUE)),
            Quiet(2),
            Ev(OffHook),
            Quiet(1),
        ];
        let (mut line, log) = em(steps, Signalling::EmWink, 1000);
        let run = drive(&mut line, &log, Some(1), |reads, line| {
            if reads == 0 {
                line.control(Control::Dial {
                    number: Number::from_str_truncating("6001"),
                    from: Number::new(),
                    call: Default::default(),
                })
                .unwrap();
            }
        });
        // The seizure's OffHook while telvox waited for a wink is the far end's own call: telvox
        // winks for it and offers it after the DNIS timeout (the offer fails the attempt).
        assert_eq!(
            run.seen,
            [
                "audio×54",
                "Offered(>8000 )",
                "RingBegin",
                "RingEnd",
                "audio×10",
                "Hangup(NetworkOutOfOrder)",
                "Alarm(Alarms(4))",
                "audio×3"
            ],
            "a seizure on an alarmed span is no call"
        );
        assert_eq!(run.controls, ["Start", "Wink", "OffHook", "OnHook"]);
    }

    #[test]
    fn a_clear_channel_is_nailed_up_offered_at_start_and_again_after_each_call() {
        let steps = vec![
            Quiet(5),
            Ev(Alarm(Alarms::RED)),
            Quiet(3),
            Ev(Alarm(Alarms::NONE)),
            Quiet(60),
        ];
        let (mut line, log) = em(steps, Signalling::Clear, 0);
        let run = drive(&mut line, &log, Some(1), |_, _| {});
        assert!(
            run.controls.is_empty(),
            "a clear channel has no signalling: {:?}",
            run.controls
        );
        assert_eq!(
            run.seen,
            [
                "audio×1",
                "Offered(>8000 )",
                "RingBegin",
                "RingEnd",
                "audio×4",
                "Hangup(NetworkOutOfOrder)",
                "Alarm(Alarms(1))",
                "audio×3",
                "Alarm(Alarms(0))",
                "audio×1",
                "Offered(>8000 )",
                "RingBegin",
                "RingEnd",
                "audio×59"
            ]
        );
    }
}
