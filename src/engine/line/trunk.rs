//! The analog trunk (an FXO port on the card, DAHDI signalling `fxsks` / `fxsls`): a line from an
//! exchange that rings telvox, sends caller ID as audio, and is answered by going off-hook.
//!
//! What the engine loop sees, and when:
//!
//! | on the line                                   | to the engine                                  |
//! |-----------------------------------------------|------------------------------------------------|
//! | first ring, caller ID before it or none       | `Offered(from)` + `RingBegin` at the ring start |
//! | first ring, FSK caller ID after it (`ring`)   | nothing until the caller ID is complete, the   |
//! |                                               | second ring starts or the caller gives up: then |
//! |                                               | `Offered(from)` + the held `RingEnd`            |
//! | each ring's end                               | `RingEnd` (the loop's `answer_after_rings`)     |
//! | no ring for `ring_timeout_ms` while ringing   | `Hangup` (the caller gave up)                   |
//! | `OnHook` (battery drop, kewlstart) in a call  | `Hangup(NORMAL_CLEARING)`                       |
//! | `Polarity` in a call (`hangup_on_polarity`)   | `Hangup(NORMAL_CLEARING)`                       |
//! | alarm on the span                             | `Hangup(NETWORK_OUT_OF_ORDER)`, out of service  |
//!
//! A call with no caller ID (or an unreadable one) is offered with an empty `from`; its `to` is the
//! line's number (the span's first exact `numbers` entry), since an analog line carries no DNIS.
//! The loop's `Answer` becomes `OffHook`; `Hangup` becomes `OnHook` when the line is off-hook. A
//! call the loop refuses while it rings cannot be refused on an analog line (it is on-hook already):
//! the line ignores that call's further rings until the caller gives up.
//!
//! Outbound (`Dial`): off-hook, wait [`DIAL_WAIT_MS`] for dial tone, `DialDigits`, and on
//! `DialComplete` the call counts as answered — plain analog lines have no answer supervision —
//! unless `answer_on_polarity` waits for the exchange's polarity reversal. No block is written to
//! the card while the digits are sent (a write cancels a DAHDI dial).
//!
//! The busy-tone disconnect of lines without loop-current disconnect is the engine's
//! (`disconnect_tone`, switched on for `fxsls` spans by the daemon).
//!
//! Everything counts samples of the blocks read; nothing allocates after the wrapper is built,
//! except parsing a received caller ID message (once per call, at call setup).

use crate::dsp::callerid::{Absence, CallerId, DtmfClipRx, FskCallerIdRx, FskStandard};
use crate::dsp::dtmf::{DtmfRx, DtmfRxConfig};
use crate::dsp::g711;
use crate::fixed::{Name, Number};
use crate::hw::{
    Alarms, Block, CallInfo, Cause, ChanEvent, ChanId, Channel, ChannelWaker, Control, HwError, Law,
    ReadOutcome, Role, Signalling, BLOCK_SAMPLES, SAMPLE_RATE_HZ,
};

use super::queue::EventQueue;
use super::LineSetup;

/// How the exchange sends caller ID (`caller_id` in a span; Asterisk's `cidsignalling`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallerIdSignalling {
    /// None expected: the call is offered at the first ring.
    #[default]
    None,
    /// FSK, Bell 202 (North America).
    Bell202,
    /// FSK, ITU-T V.23 (ETSI, BT, China).
    V23,
    /// DTMF digits before the first ring (China, India, Scandinavia).
    Dtmf,
}

/// When FSK caller ID comes (`caller_id_start`; Asterisk's `cidstart`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallerIdStart {
    /// Between the first and the second ring (Bellcore).
    #[default]
    Ring,
    /// After a polarity reversal, before the first ring (ETSI EN 300 659-1).
    Polarity,
}

/// A span's analog (and E&M) settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnalogOptions {
    pub caller_id: CallerIdSignalling,
    pub caller_id_start: CallerIdStart,
    /// A polarity reversal during a call means the far end hung up (`hangup_on_polarity`).
    pub hangup_on_polarity: bool,
    /// An outbound call is answered at the exchange's polarity reversal, not at the end of dialling
    /// (`answer_on_polarity`).
    pub answer_on_polarity: bool,
    /// No ring for this long while ringing: the caller gave up (`ring_timeout_ms`).
    pub ring_timeout_ms: u32,
    /// The number calls on this line are offered to (an analog line has no DNIS).
    pub number: Number,
    /// E&M: DTMF digits of the called number (DNIS) after the seizure end at `#` or after this long
    /// without a digit; 0 = the far end sends none (`dnis_timeout_ms`).
    pub dnis_timeout_ms: u32,
}

impl Default for AnalogOptions {
    fn default() -> Self {
        Self {
            caller_id: CallerIdSignalling::None,
            caller_id_start: CallerIdStart::Ring,
            hangup_on_polarity: false,
            answer_on_polarity: false,
            ring_timeout_ms: DEFAULT_RING_TIMEOUT_MS,
            number: Number::new(),
            dnis_timeout_ms: DEFAULT_DNIS_TIMEOUT_MS,
        }
    }
}

/// E&M: the far end has this long after the seizure (and after each digit) to send DNIS digits.
pub const DEFAULT_DNIS_TIMEOUT_MS: u32 = 3000;

/// Asterisk's `ringtimeout` default: 8 s without a ring and the caller has gone.
pub const DEFAULT_RING_TIMEOUT_MS: u32 = 8000;
/// Outbound: digits go out this long after going off-hook. Exchanges give dial tone within a few
/// hundred ms; recognising it for sure takes the progress detector 1.5 s (longer than any cadenced
/// tone's on-time), more than the wait itself, so the line simply waits.
pub const DIAL_WAIT_MS: u32 = 1000;
/// Caller ID heard before the first ring is forgotten if no ring follows within this long.
const PRE_RING_CID_MS: u32 = 5000;

pub(super) const fn ms_to_samples(ms: u32) -> u64 {
    ms as u64 * SAMPLE_RATE_HZ as u64 / 1000
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// On-hook, no call.
    Idle,
    /// Rings from the exchange; `offered` once the engine has the call.
    Ringing {
        offered: bool,
        in_ring: bool,
        /// Samples since the last ring ended (or started, while none has ended).
        quiet_samples: u64,
        /// A `RingEnd` held back until the offer (FSK caller ID after the first ring).
        held_ring_end: bool,
    },
    /// The engine refused a ringing call: its further rings are ignored until they stop.
    Refused { quiet_samples: u64 },
    /// Off-hook in a call (answered inbound, or an outbound call past its dialling).
    Up,
    /// The far end cleared; off-hook until the engine hangs up.
    Clearing,
    /// Outbound: off-hook, waiting for dial tone.
    Seizing { samples: u64, number: Number },
    /// Outbound: digits going out; no writes to the card.
    Dialling,
    /// Outbound: dialled, waiting for the answer's polarity reversal.
    AwaitAnswer,
    /// The span is in alarm: out of service until it clears.
    Alarmed,
}

/// The FXO trunk state machine (see the module documentation).
pub struct TrunkLine {
    inner: Box<dyn Channel>,
    opts: AnalogOptions,
    law: Law,
    signalling: Signalling,
    state: State,
    off_hook: bool,
    events: EventQueue,
    lin: [i16; BLOCK_SAMPLES],
    fsk: Option<Box<FskCallerIdRx>>,
    /// Listening for FSK (after the first ring, or after a polarity reversal before it).
    fsk_listening: bool,
    dtmf: Option<Box<DtmfRx>>,
    clip: DtmfClipRx,
    /// Caller ID received for the call about to be offered, and how long ago (samples).
    cid: Option<CallInfo>,
    cid_age_samples: u64,
    /// Samples left in the window after a polarity reversal in which FSK is expected (idle line).
    polarity_window_samples: u64,
    /// The block just returned was read while dialling: its write is swallowed.
    swallow_write: bool,
    /// Writes swallowed while dialling (DAHDI cancels a dial on a write).
    pub swallowed_writes: u64,
}

impl TrunkLine {
    pub fn new(inner: Box<dyn Channel>, setup: &LineSetup) -> Self {
        let law = inner.law();
        let opts = setup.analog;
        let fsk = match opts.caller_id {
            CallerIdSignalling::Bell202 => Some(Box::new(FskCallerIdRx::new(FskStandard::Bell202))),
            CallerIdSignalling::V23 => Some(Box::new(FskCallerIdRx::new(FskStandard::V23))),
            _ => None,
        };
        let dtmf = (opts.caller_id == CallerIdSignalling::Dtmf)
            .then(|| DtmfRx::new(DtmfRxConfig::for_law(law)).ok().map(Box::new))
            .flatten();
        Self {
            law,
            signalling: setup.signalling,
            opts,
            state: State::Idle,
            off_hook: false,
            events: EventQueue::new(),
            lin: [0; BLOCK_SAMPLES],
            fsk,
            fsk_listening: false,
            dtmf,
            clip: DtmfClipRx::new(),
            cid: None,
            cid_age_samples: 0,
            polarity_window_samples: 0,
            swallow_write: false,
            swallowed_writes: 0,
            inner,
        }
    }

    fn line(&mut self, control: Control) {
        match control {
            Control::OffHook => self.off_hook = true,
            Control::OnHook => self.off_hook = false,
            _ => {}
        }
        // A failed control is the card's to report (its read fails next); the line carries on.
        let _ = self.inner.control(control);
    }

    fn ring_timeout_samples(&self) -> u64 {
        ms_to_samples(self.opts.ring_timeout_ms)
    }

    fn fsk_before_ring(&self) -> bool {
        self.fsk.is_some() && self.opts.caller_id_start == CallerIdStart::Polarity
    }

    fn fsk_after_ring(&self) -> bool {
        self.fsk.is_some() && self.opts.caller_id_start == CallerIdStart::Ring
    }

    /// The offer for the call now ringing: its caller ID if any, the line's number.
    fn offer(&mut self) {
        let mut info = self.cid.take().unwrap_or_default();
        info.to = self.opts.number;
        self.events.push(ChanEvent::Offered(info));
        self.fsk_listening = false;
        self.polarity_window_samples = 0;
    }

    fn reset_receivers(&mut self) {
        if let Some(fsk) = self.fsk.as_mut() {
            fsk.reset();
        }
        if let Some(dtmf) = self.dtmf.as_mut() {
            dtmf.reset();
        }
        self.clip.reset();
        self.fsk_listening = false;
        self.polarity_window_samples = 0;
    }

    fn go_idle(&mut self) {
        self.state = State::Idle;
        self.cid = None;
        self.reset_receivers();
    }

    // ---- line events --------------------------------------------------------------------------

    fn on_line_event(&mut self, event: ChanEvent) {
        match event {
            ChanEvent::Alarm(alarms) => return self.on_alarm(alarms),
            // Call-level events from a card that signals calls itself pass through untouched.
            ChanEvent::Offered(_) | ChanEvent::Answered | ChanEvent::Hangup(_) => {
                return self.events.push(event)
            }
            _ => {}
        }
        match self.state {
            State::Idle => self.idle_event(event),
            State::Ringing { .. } => self.ringing_event(event),
            State::Refused { .. } => {
                if matches!(event, ChanEvent::RingBegin | ChanEvent::RingEnd) {
                    self.state = State::Refused { quiet_samples: 0 };
                }
            }
            State::Up | State::AwaitAnswer | State::Dialling => self.call_event(event),
            State::Seizing { .. } => self.seizing_event(event),
            State::Clearing | State::Alarmed => {}
        }
    }

    fn idle_event(&mut self, event: ChanEvent) {
        match event {
            ChanEvent::RingBegin | ChanEvent::RingEnd => {
                self.reset_receivers_keep_cid();
                let first_ring_end = event == ChanEvent::RingEnd;
                self.state = State::Ringing {
                    offered: false,
                    in_ring: !first_ring_end,
                    quiet_samples: 0,
                    held_ring_end: false,
                };
                if self.fsk_after_ring() {
                    // The caller ID comes in the silence after this ring: the offer waits for it.
                    if first_ring_end {
                        // A ring heard only at its end (no RINGBEGIN): listen from now.
                        self.hold_first_ring_end();
                    }
                    return;
                }
                self.offer();
                self.set_offered();
                self.events.push(event);
            }
            ChanEvent::Polarity if self.fsk_before_ring() => {
                if let Some(fsk) = self.fsk.as_mut() {
                    fsk.reset();
                }
                self.fsk_listening = true;
                self.polarity_window_samples = ms_to_samples(PRE_RING_CID_MS);
            }
            // An exchange that reverses polarity before DTMF caller ID: nothing to do, the DTMF
            // receiver listens on the idle line anyway. Other line events on an idle line (a
            // stray battery drop, a flash) mean nothing.
            _ => {}
        }
    }

    /// Rings carry on: a caller ID received before the first ring must survive the reset.
    fn reset_receivers_keep_cid(&mut self) {
        let cid = self.cid.take();
        self.reset_receivers();
        self.cid = cid;
    }

    fn hold_first_ring_end(&mut self) {
        if let State::Ringing {
            held_ring_end,
            in_ring,
            quiet_samples,
            ..
        } = &mut self.state
        {
            *held_ring_end = true;
            *in_ring = false;
            *quiet_samples = 0;
        }
        if let Some(fsk) = self.fsk.as_mut() {
            fsk.reset();
        }
        self.fsk_listening = true;
    }

    fn set_offered(&mut self) {
        if let State::Ringing { offered, .. } = &mut self.state {
            *offered = true;
        }
    }

    fn ringing_event(&mut self, event: ChanEvent) {
        let State::Ringing { offered, .. } = self.state else {
            return;
        };
        match event {
            ChanEvent::RingBegin => {
                if !offered {
                    // The second ring: the caller ID had its chance.
                    self.offer_with_held_ring();
                }
                if let State::Ringing {
                    in_ring,
                    quiet_samples,
                    ..
                } = &mut self.state
                {
                    *in_ring = true;
                    *quiet_samples = 0;
                }
                self.events.push(ChanEvent::RingBegin);
            }
            ChanEvent::RingEnd => {
                if !offered && self.fsk_after_ring() {
                    self.hold_first_ring_end();
                    return;
                }
                if let State::Ringing {
                    in_ring,
                    quiet_samples,
                    ..
                } = &mut self.state
                {
                    *in_ring = false;
                    *quiet_samples = 0;
                }
                self.events.push(ChanEvent::RingEnd);
            }
            // A battery drop while ringing: the caller gave up (some exchanges signal it).
            ChanEvent::OnHook => self.abandoned(),
            // A flash or a polarity change during ringing is a glitch of the ring signal.
            _ => {}
        }
    }

    /// Offers the ringing call now, with the first ring's end the offer was waiting on.
    fn offer_with_held_ring(&mut self) {
        self.take_fsk_result();
        self.offer();
        let held = matches!(
            self.state,
            State::Ringing {
                held_ring_end: true,
                ..
            }
        );
        if let State::Ringing {
            offered,
            held_ring_end,
            ..
        } = &mut self.state
        {
            *offered = true;
            *held_ring_end = false;
        }
        if held {
            self.events.push(ChanEvent::RingEnd);
        }
    }

    /// The caller hung up before the answer.
    fn abandoned(&mut self) {
        if matches!(self.state, State::Ringing { offered: false, .. }) {
            // A missed call is still a call: it is logged with whatever caller ID arrived.
            self.offer_with_held_ring();
        }
        self.events.push(ChanEvent::Hangup(Cause::NormalClearing));
        self.go_idle();
    }

    fn call_event(&mut self, event: ChanEvent) {
        match event {
            ChanEvent::OnHook => {
                self.events.push(ChanEvent::Hangup(Cause::NormalClearing));
                self.state = State::Clearing;
            }
            ChanEvent::Polarity if self.state == State::AwaitAnswer => {
                self.state = State::Up;
                self.events.push(ChanEvent::Answered);
            }
            ChanEvent::Polarity if self.opts.hangup_on_polarity => {
                self.events.push(ChanEvent::Hangup(Cause::NormalClearing));
                self.state = State::Clearing;
            }
            ChanEvent::DialComplete if self.state == State::Dialling => {
                if self.opts.answer_on_polarity {
                    self.state = State::AwaitAnswer;
                } else {
                    // No answer supervision on a plain analog line: dialled is as answered as it gets.
                    self.state = State::Up;
                    self.events.push(ChanEvent::Answered);
                }
            }
            ChanEvent::Flash => self.events.push(ChanEvent::Flash),
            _ => {}
        }
    }

    fn seizing_event(&mut self, event: ChanEvent) {
        match event {
            // Glare: the exchange rang the line as telvox seized it. The caller wins: release
            // the seizure and take the ring as the first of an incoming call (the loop fails the
            // outbound attempt when the offer arrives).
            ChanEvent::RingBegin | ChanEvent::RingEnd => {
                self.line(Control::OnHook);
                self.state = State::Idle;
                self.idle_event(event);
                if matches!(self.state, State::Ringing { offered: false, .. }) {
                    // The offer would wait for caller ID, but the loop's outbound attempt must
                    // end now.
                    self.offer_with_held_ring();
                    if event == ChanEvent::RingBegin {
                        self.events.push(event);
                    }
                }
            }
            // No battery on the line: nothing to dial on.
            ChanEvent::OnHook => {
                self.events
                    .push(ChanEvent::Hangup(Cause::NormalCircuitCongestion));
                self.state = State::Clearing;
            }
            _ => {}
        }
    }

    fn on_alarm(&mut self, alarms: Alarms) {
        if alarms.is_clear() {
            if self.state == State::Alarmed {
                self.go_idle();
            }
            self.events.push(ChanEvent::Alarm(alarms));
            return;
        }
        let in_call = matches!(
            self.state,
            State::Ringing { offered: true, .. }
                | State::Up
                | State::Seizing { .. }
                | State::Dialling
                | State::AwaitAnswer
                | State::Clearing
        );
        if in_call {
            self.events.push(ChanEvent::Hangup(Cause::NetworkOutOfOrder));
        }
        self.reset_receivers();
        self.cid = None;
        self.state = State::Alarmed;
        self.events.push(ChanEvent::Alarm(alarms));
    }

    // ---- audio ---------------------------------------------------------------------------------

    fn on_audio(&mut self, block: &Block) {
        let samples = BLOCK_SAMPLES as u64;
        let listen_dtmf = self.dtmf.is_some() && matches!(self.state, State::Idle);
        let listen_fsk = self.fsk_listening && matches!(self.state, State::Idle | State::Ringing { .. });
        if listen_dtmf || listen_fsk {
            g711::decode_block(self.law, block, &mut self.lin);
        }
        if listen_dtmf {
            self.listen_dtmf_clip();
        }
        if listen_fsk {
            if let Some(fsk) = self.fsk.as_mut() {
                fsk.process(&self.lin);
            }
            self.take_fsk_result();
        }
        if self.cid.is_some() && self.state == State::Idle {
            self.cid_age_samples += samples;
            if self.cid_age_samples > ms_to_samples(PRE_RING_CID_MS) {
                // Caller ID with no ring after it: not for a call.
                self.cid = None;
            }
        }
        if self.polarity_window_samples > 0 && self.state == State::Idle {
            self.polarity_window_samples = self.polarity_window_samples.saturating_sub(samples);
            if self.polarity_window_samples == 0 {
                self.fsk_listening = false;
            }
        }
        self.advance_timers(samples);
    }

    fn advance_timers(&mut self, samples: u64) {
        let timeout = self.ring_timeout_samples();
        match &mut self.state {
            State::Ringing {
                offered,
                in_ring,
                quiet_samples,
                ..
            } => {
                // The FSK caller ID is complete: the call goes up without waiting for the next ring.
                if !*offered && self.cid.is_some() {
                    self.offer_with_held_ring();
                    return;
                }
                *quiet_samples += samples;
                // A burst that never ends (the ring voltage stuck, or its end lost) is given
                // twice the time before the caller counts as gone.
                let limit = if *in_ring { 2 * timeout } else { timeout };
                if *quiet_samples >= limit {
                    self.abandoned();
                }
            }
            State::Refused { quiet_samples } => {
                *quiet_samples += samples;
                if *quiet_samples >= timeout {
                    self.go_idle();
                }
            }
            State::Seizing {
                samples: waited,
                number,
            } => {
                *waited += samples;
                let number = *number;
                if *waited >= ms_to_samples(DIAL_WAIT_MS) {
                    self.state = State::Dialling;
                    self.line(Control::DialDigits {
                        digits: number,
                        pulse: false,
                    });
                }
            }
            _ => {}
        }
    }

    fn listen_dtmf_clip(&mut self) {
        let Some(dtmf) = self.dtmf.as_mut() else {
            return;
        };
        dtmf.process(&self.lin);
        let mut result = None;
        for _ in 0..8 {
            let Some(event) = dtmf.take_event() else {
                break;
            };
            if event.duration_samples.is_none() {
                if let Some(r) = self.clip.push_digit(event.digit) {
                    result = Some(r);
                }
            }
        }
        if let Some(r) = self.clip.advance(BLOCK_SAMPLES) {
            result = Some(r);
        }
        if let Some(Ok(caller_id)) = result {
            self.set_cid(&caller_id);
        }
    }

    fn take_fsk_result(&mut self) {
        // A broken burst (the caller hung up in it, a noisy line) leaves the call without caller
        // ID; the next good one wins. Bounded by the receiver's result queue.
        for _ in 0..8 {
            let Some(result) = self.fsk.as_mut().and_then(|fsk| fsk.take()) else {
                break;
            };
            if let Ok(caller_id) = result {
                self.set_cid(&caller_id);
                self.fsk_listening = false;
            }
        }
    }

    fn set_cid(&mut self, caller_id: &CallerId) {
        self.cid = Some(caller_id_info(caller_id));
        self.cid_age_samples = 0;
    }
}

/// The call-level view of a received caller ID: a withheld or unavailable number is an empty
/// `from` (the call log shows it as such); the name as sent, if any.
pub fn caller_id_info(caller_id: &CallerId) -> CallInfo {
    let from = match (&caller_id.number, caller_id.number_absence) {
        (Some(number), _) => Number::from_str_truncating(number),
        (None, Some(Absence::Private | Absence::Unavailable)) | (None, None) => Number::new(),
    };
    let name = caller_id
        .name
        .as_deref()
        .map(Name::from_str_truncating)
        .unwrap_or_default();
    CallInfo {
        from,
        to: Number::new(),
        name,
    }
}

impl Channel for TrunkLine {
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
                    // A block read while digits go out is not written back; the block whose
                    // reading started the dial still is.
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
        if self.swallow_write {
            self.swallow_write = false;
            self.swallowed_writes += 1;
            return Ok(());
        }
        self.inner.write(block)
    }

    fn control(&mut self, control: Control) -> Result<(), HwError> {
        match control {
            Control::Answer { .. } => {
                if matches!(self.state, State::Ringing { .. }) {
                    self.line(Control::OffHook);
                    self.state = State::Up;
                    self.reset_receivers();
                }
            }
            Control::Hangup { .. } => {
                let ringing = matches!(self.state, State::Ringing { .. });
                if self.off_hook {
                    self.line(Control::OnHook);
                }
                if ringing {
                    // The line is on-hook while it rings: nothing to send; the rest of this call's
                    // rings are not a new call.
                    self.state = State::Refused { quiet_samples: 0 };
                    self.reset_receivers();
                    self.cid = None;
                } else if self.state != State::Alarmed {
                    self.go_idle();
                }
            }
            Control::Dial { number, .. } => match self.state {
                State::Idle => {
                    self.line(Control::OffHook);
                    self.state = State::Seizing { samples: 0, number };
                }
                // Glare with a ring telvox has not offered yet: the offer that follows ends the
                // outbound attempt. Out of service: say so.
                State::Alarmed => self.events.push(ChanEvent::Hangup(Cause::NetworkOutOfOrder)),
                _ => {}
            },
            Control::Flash => self.line(Control::Flash),
            // Line-level controls from a caller that knows the line (diagnostics) go straight on.
            other => self.line(other),
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::dsp::callerid::{encode_dtmf_clip, encode_fsk, DtmfClipVariant, Format};
    use crate::dsp::tones::Country;

    /// A card channel that plays a script and logs the controls and writes it gets.
    pub(crate) struct Script {
        pub steps: VecDeque<Step>,
        pub log: Arc<Mutex<Vec<String>>>,
        pub law: Law,
    }

    #[derive(Clone, Debug)]
    pub(crate) enum Step {
        Ev(ChanEvent),
        /// Blocks of silence.
        Quiet(usize),
        /// Audio, cut into blocks (the last padded with silence).
        Audio(Vec<u8>),
    }

    impl Channel for Script {
        fn id(&self) -> ChanId {
            ChanId { span: 1, chan: 1 }
        }
        fn law(&self) -> Law {
            self.law
        }
        fn role(&self) -> Role {
            Role::Trunk
        }
        fn read(&mut self, block: &mut Block) -> Result<ReadOutcome, HwError> {
            loop {
                match self.steps.front_mut() {
                    None => return Ok(ReadOutcome::Closed),
                    Some(Step::Ev(ev)) => {
                        let ev = *ev;
                        self.steps.pop_front();
                        return Ok(ReadOutcome::Event(ev));
                    }
                    Some(Step::Quiet(0)) => {
                        self.steps.pop_front();
                    }
                    Some(Step::Quiet(n)) => {
                        *n -= 1;
                        *block = [self.law.silence_byte(); BLOCK_SAMPLES];
                        return Ok(ReadOutcome::Audio);
                    }
                    Some(Step::Audio(bytes)) if bytes.is_empty() => {
                        self.steps.pop_front();
                    }
                    Some(Step::Audio(bytes)) => {
                        let take = bytes.len().min(BLOCK_SAMPLES);
                        *block = [self.law.silence_byte(); BLOCK_SAMPLES];
                        block[..take].copy_from_slice(&bytes[..take]);
                        bytes.drain(..take);
                        return Ok(ReadOutcome::Audio);
                    }
                }
            }
        }
        fn write(&mut self, _block: &Block) -> Result<(), HwError> {
            self.log.lock().unwrap().push("write".into());
            Ok(())
        }
        fn control(&mut self, control: Control) -> Result<(), HwError> {
            self.log.lock().unwrap().push(format!("{control:?}"));
            Ok(())
        }
    }

    pub(crate) fn setup(signalling: Signalling, f: impl FnOnce(&mut AnalogOptions)) -> LineSetup {
        let mut analog = AnalogOptions {
            number: Number::from_str_truncating("8000"),
            ..AnalogOptions::default()
        };
        f(&mut analog);
        LineSetup {
            signalling,
            country: Country::Cn,
            extension: None,
            analog,
        }
    }

    /// What the engine loop would see: events by name, audio blocks counted as `audio×n`; and the
    /// wrapper's controls when the loop answers (`answer_on` = after how many RingEnds).
    pub(crate) struct Run {
        pub seen: Vec<String>,
        pub controls: Vec<String>,
        pub writes: usize,
    }

    /// Drives `line` like the engine loop: one write per Audio, `Answer` after `answer_after`
    /// RingEnds of an offered call, `Hangup` back after the far end's `Hangup`, and `extra`
    /// controls at given read counts.
    pub(crate) fn drive(
        line: &mut dyn Channel,
        log: &Arc<Mutex<Vec<String>>>,
        answer_after: Option<u32>,
        mut at_read: impl FnMut(usize, &mut dyn Channel),
    ) -> Run {
        let mut seen: Vec<String> = Vec::new();
        let mut block = [0u8; BLOCK_SAMPLES];
        let mut rings = 0;
        let mut offered = false;
        let mut audio_run = 0usize;
        let flush = |seen: &mut Vec<String>, n: &mut usize| {
            if *n > 0 {
                seen.push(format!("audio×{n}"));
                *n = 0;
            }
        };
        for reads in 0..100_000 {
            at_read(reads, line);
            match line.read(&mut block).unwrap() {
                ReadOutcome::Audio => {
                    audio_run += 1;
                    line.write(&block).unwrap();
                }
                ReadOutcome::Event(ev) => {
                    flush(&mut seen, &mut audio_run);
                    seen.push(match ev {
                        ChanEvent::Offered(info) => {
                            format!("Offered({}>{} {})", info.from, info.to, info.name)
                        }
                        other => format!("{other:?}"),
                    });
                    match ev {
                        ChanEvent::Offered(_) => {
                            offered = true;
                            rings = 0;
                        }
                        ChanEvent::RingEnd if offered => {
                            rings += 1;
                            if answer_after == Some(rings) {
                                line.control(Control::Answer {
                                    call: Default::default(),
                                })
                                .unwrap();
                            }
                        }
                        ChanEvent::Hangup(_) => {
                            offered = false;
                            line.control(Control::Hangup {
                                cause: Cause::NormalClearing,
                            })
                            .unwrap();
                        }
                        _ => {}
                    }
                }
                ReadOutcome::Closed => break,
                ReadOutcome::Woken => {}
            }
        }
        flush(&mut seen, &mut audio_run);
        let all = log.lock().unwrap().clone();
        Run {
            seen,
            writes: all.iter().filter(|l| *l == "write").count(),
            controls: all.into_iter().filter(|l| l != "write").collect(),
        }
    }

    fn trunk(steps: Vec<Step>, setup: &LineSetup) -> (TrunkLine, Arc<Mutex<Vec<String>>>) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let script = Script {
            steps: steps.into(),
            log: log.clone(),
            law: Law::Alaw,
        };
        (TrunkLine::new(Box::new(script), setup), log)
    }

    fn encode(samples: &[i16]) -> Vec<u8> {
        samples.iter().map(|&s| g711::encode(Law::Alaw, s)).collect()
    }

    fn caller(number: Option<&str>, name: Option<&str>) -> CallerId {
        CallerId {
            number: number.map(str::to_string),
            name: name.map(str::to_string),
            number_absence: number.is_none().then_some(Absence::Private),
            ..Default::default()
        }
    }

    use ChanEvent::*;
    use Step::*;

    /// The DAHDI sequence of an exchange ringing an fxsks port (NOTES.md): RINGBEGIN, then
    /// RINGOFFHOOK 2 s later at the end of the burst, 4 s of silence, and again.
    fn ring_cycle() -> Vec<Step> {
        vec![Ev(RingBegin), Quiet(100), Ev(RingEnd), Quiet(200)]
    }

    #[test]
    fn a_flood_of_absorbed_line_events_returns_control_to_the_loop() {
        let setup = setup(Signalling::Fxsks, |_| {});
        // HOOKCOMPLETE on an idle trunk means nothing: the line absorbs each one.
        let steps = vec![Ev(HookComplete); 3 * super::super::MAX_LINE_EVENTS_PER_READ];
        let (mut line, _log) = trunk(steps, &setup);
        let mut block = [0u8; BLOCK_SAMPLES];
        for _ in 0..3 {
            assert_eq!(line.read(&mut block).unwrap(), ReadOutcome::Woken);
        }
        assert_eq!(line.read(&mut block).unwrap(), ReadOutcome::Closed);
    }

    #[test]
    fn rings_without_caller_id_are_offered_at_once_answered_after_two_and_cleared_by_battery_drop() {
        let setup = setup(Signalling::Fxsks, |_| {});
        let mut steps = ring_cycle();
        steps.extend([
            Ev(RingBegin),
            Quiet(100),
            Ev(RingEnd),
            Quiet(50),
            Ev(OnHook),
            Quiet(3),
        ]);
        let (mut line, log) = trunk(steps, &setup);
        let run = drive(&mut line, &log, Some(2), |_, _| {});
        assert_eq!(
            run.seen,
            [
                "Offered(>8000 )",
                "RingBegin",
                "audio×100",
                "RingEnd",
                "audio×200",
                "RingBegin",
                "audio×100",
                "RingEnd",
                "audio×50",
                "Hangup(NormalClearing)",
                "audio×3"
            ]
        );
        assert_eq!(run.controls, ["OffHook", "OnHook"]);
        assert_eq!(run.writes, 453, "one write per block read");
    }

    #[test]
    fn fsk_caller_id_after_the_first_ring_is_offered_as_soon_as_it_is_complete() {
        for (cid, standard) in [
            (CallerIdSignalling::Bell202, FskStandard::Bell202),
            (CallerIdSignalling::V23, FskStandard::V23),
        ] {
            let setup = setup(Signalling::Fxsks, |o| o.caller_id = cid);
            let burst = encode_fsk(
                &caller(Some("13800138000"), Some("ZHANG WEI")),
                standard,
                Format::Mdmf,
                Law::Alaw,
            )
            .unwrap();
            let steps = vec![
                Ev(RingBegin),
                Quiet(100),
                Ev(RingEnd),
                Quiet(25),
                Audio(encode(&burst)),
                Quiet(150),
                Ev(RingBegin),
                Quiet(100),
                Ev(RingEnd),
                Quiet(5),
                Ev(OnHook),
            ];
            let (mut line, log) = trunk(steps, &setup);
            let run = drive(&mut line, &log, Some(1), |_, _| {});
            // The offer and the first ring's end come once the burst is decoded, mid-silence;
            // the loop answers on that ring, so the second ring never reaches it.
            let offer = run.seen.iter().position(|s| s.starts_with("Offered")).unwrap();
            assert_eq!(
                run.seen[offer], "Offered(13800138000>8000 ZHANG WEI)",
                "{standard:?}"
            );
            assert_eq!(run.seen[offer + 1], "RingEnd");
            assert!(
                run.seen[..offer].iter().all(|s| s.starts_with("audio")),
                "{:?}",
                run.seen
            );
            assert_eq!(run.controls[0], "OffHook");
        }
    }

    #[test]
    fn fsk_caller_id_before_the_first_ring_after_a_polarity_reversal() {
        let setup = setup(Signalling::Fxsks, |o| {
            o.caller_id = CallerIdSignalling::V23;
            o.caller_id_start = CallerIdStart::Polarity;
        });
        let burst = encode_fsk(
            &caller(Some("0755123456"), None),
            FskStandard::V23,
            Format::Mdmf,
            Law::Alaw,
        )
        .unwrap();
        let mut steps = vec![
            Quiet(10),
            Ev(Polarity),
            Quiet(5),
            Audio(encode(&burst)),
            Quiet(20),
        ];
        steps.extend(ring_cycle());
        let (mut line, log) = trunk(steps, &setup);
        let run = drive(&mut line, &log, Some(1), |_, _| {});
        let offer = run.seen.iter().position(|s| s.starts_with("Offered")).unwrap();
        assert_eq!(run.seen[offer], "Offered(0755123456>8000 )");
        assert_eq!(run.seen[offer + 1], "RingBegin", "offered at the first ring");
    }

    #[test]
    fn dtmf_caller_id_before_the_first_ring_and_a_withheld_one() {
        let setup = setup(Signalling::Fxsks, |o| o.caller_id = CallerIdSignalling::Dtmf);
        for (cid, want) in [
            (caller(Some("13912345678"), None), "Offered(13912345678>8000 )"),
            (caller(None, None), "Offered(>8000 )"),
        ] {
            let audio = encode_dtmf_clip(&cid, DtmfClipVariant::StartAEndC, Law::Alaw).unwrap();
            let mut steps = vec![Quiet(3), Audio(encode(&audio)), Quiet(40)];
            steps.extend(ring_cycle());
            let (mut line, log) = trunk(steps, &setup);
            let run = drive(&mut line, &log, None, |_, _| {});
            assert_eq!(run.seen[1], want, "{:?}", run.seen);
            assert_eq!(run.seen[2], "RingBegin");
        }
    }

    #[test]
    fn a_caller_who_gives_up_while_ringing_is_a_hangup_after_the_ring_timeout() {
        let setup = setup(Signalling::Fxsks, |o| o.ring_timeout_ms = 8000);
        let mut steps = ring_cycle();
        steps.push(Quiet(300));
        let (mut line, log) = trunk(steps, &setup);
        let run = drive(&mut line, &log, Some(3), |_, _| {});
        // 200 + 200 blocks of silence after the ring's end = 8 s.
        assert_eq!(
            run.seen,
            [
                "Offered(>8000 )",
                "RingBegin",
                "audio×100",
                "RingEnd",
                "audio×400",
                "Hangup(NormalClearing)",
                "audio×100"
            ]
        );
        assert!(run.controls.is_empty(), "never off-hook: {:?}", run.controls);
    }

    #[test]
    fn a_ring_without_cadence_still_makes_a_call() {
        // RINGOFFHOOK with no RINGBEGIN before it (a ring too short for the driver's debounce), or
        // a RINGBEGIN whose burst never ends.
        let setup = setup(Signalling::Fxsks, |_| {});
        let (mut line, log) = trunk(vec![Quiet(2), Ev(RingEnd), Quiet(2)], &setup);
        let run = drive(&mut line, &log, Some(1), |_, _| {});
        assert_eq!(run.seen, ["audio×2", "Offered(>8000 )", "RingEnd", "audio×2"]);
        assert_eq!(run.controls, ["OffHook"]);
        let (mut line, log) = trunk(vec![Ev(RingBegin), Quiet(1000)], &setup);
        let run = drive(&mut line, &log, Some(1), |_, _| {});
        assert_eq!(
            run.seen,
            [
                "Offered(>8000 )",
                "RingBegin",
                "audio×800",
                "Hangup(NormalClearing)",
                "audio×200"
            ],
            "a ring that never ends: gone after twice the ring timeout"
        );
    }

    #[test]
    fn hanging_up_during_caller_id_is_a_missed_call_without_a_number() {
        let setup = setup(Signalling::Fxsks, |o| o.caller_id = CallerIdSignalling::Bell202);
        let burst = encode_fsk(
            &caller(Some("5551234"), None),
            FskStandard::Bell202,
            Format::Mdmf,
            Law::Alaw,
        )
        .unwrap();
        let cut = encode(&burst[..burst.len() * 2 / 3]);
        let steps = vec![
            Ev(RingBegin),
            Quiet(100),
            Ev(RingEnd),
            Quiet(25),
            Audio(cut),
            Quiet(420),
        ];
        let (mut line, log) = trunk(steps, &setup);
        let run = drive(&mut line, &log, Some(2), |_, _| {});
        let offer = run.seen.iter().position(|s| s.starts_with("Offered")).unwrap();
        assert_eq!(
            run.seen[offer..offer + 3],
            ["Offered(>8000 )", "RingEnd", "Hangup(NormalClearing)"]
        );
        assert!(run.controls.is_empty());
    }

    #[test]
    fn a_flash_while_ringing_is_ignored_and_the_call_goes_on() {
        let setup = setup(Signalling::Fxsks, |_| {});
        let steps = vec![
            Ev(RingBegin),
            Quiet(50),
            Ev(Flash),
            Quiet(50),
            Ev(RingEnd),
            Quiet(3),
        ];
        let (mut line, log) = trunk(steps, &setup);
        let run = drive(&mut line, &log, Some(1), |_, _| {});
        assert_eq!(
            run.seen,
            ["Offered(>8000 )", "RingBegin", "audio×100", "RingEnd", "audio×3"]
        );
        assert_eq!(run.controls, ["OffHook"]);
    }

    #[test]
    fn an_alarm_mid_call_clears_it_and_the_line_comes_back_when_the_alarm_does() {
        let setup = setup(Signalling::Fxsks, |_| {});
        let mut steps = vec![
            Ev(RingBegin),
            Quiet(10),
            Ev(RingEnd),
            Quiet(10),
            Ev(Alarm(Alarms::RED)),
        ];
        steps.extend([
            Quiet(5),
            Ev(RingBegin),
            Quiet(5),
            Ev(Alarm(Alarms::NONE)),
            Quiet(1),
        ]);
        steps.extend([Ev(RingBegin), Quiet(2)]);
        let (mut line, log) = trunk(steps, &setup);
        let run = drive(&mut line, &log, Some(1), |_, _| {});
        assert_eq!(
            run.seen,
            [
                "Offered(>8000 )",
                "RingBegin",
                "audio×10",
                "RingEnd",
                "audio×10",
                "Hangup(NetworkOutOfOrder)",
                "Alarm(Alarms(1))",
                "audio×10",
                "Alarm(Alarms(0))",
                "audio×1",
                "Offered(>8000 )",
                "RingBegin",
                "audio×2"
            ],
            "a ring on an alarmed span is no call"
        );
        assert_eq!(run.controls, ["OffHook", "OnHook"]);
    }

    #[test]
    fn polarity_reversal_clears_a_call_only_when_configured() {
        for (hangup_on_polarity, cleared) in [(false, false), (true, true)] {
            let setup = setup(Signalling::Fxsks, |o| o.hangup_on_polarity = hangup_on_polarity);
            let steps = vec![
                Ev(RingBegin),
                Quiet(5),
                Ev(RingEnd),
                Quiet(5),
                Ev(Polarity),
                Quiet(5),
            ];
            let (mut line, log) = trunk(steps, &setup);
            let run = drive(&mut line, &log, Some(1), |_, _| {});
            assert_eq!(
                run.seen.iter().any(|s| s.starts_with("Hangup")),
                cleared,
                "{:?}",
                run.seen
            );
        }
    }

    #[test]
    fn a_refused_call_keeps_ringing_unanswered_and_the_next_call_after_it_is_new() {
        let setup = setup(Signalling::Fxsks, |o| o.ring_timeout_ms = 2000);
        let steps = vec![
            Ev(RingBegin),
            Quiet(5),
            Ev(RingEnd),
            Quiet(5),
            Ev(RingBegin),
            Quiet(5),
            Ev(RingEnd),
            Quiet(110),
            Ev(RingBegin),
            Quiet(1),
        ];
        let (mut line, log) = trunk(steps, &setup);
        let run = drive(&mut line, &log, None, |reads, line| {
            if reads == 3 {
                line.control(Control::Hangup {
                    cause: Cause::Unallocated,
                })
                .unwrap();
            }
        });
        let offers = run.seen.iter().filter(|s| s.starts_with("Offered")).count();
        assert_eq!(offers, 2, "{:?}", run.seen);
        assert!(
            run.controls.is_empty(),
            "an on-hook line sends nothing: {:?}",
            run.controls
        );
    }

    #[test]
    fn outbound_seizes_waits_dials_without_writing_and_counts_as_answered_when_dialled() {
        let setup = setup(Signalling::Fxsks, |_| {});
        let steps = vec![
            Quiet(60),
            Quiet(10),
            Ev(DialComplete),
            Quiet(5),
            Ev(OnHook),
            Quiet(1),
        ];
        let (mut line, log) = trunk(steps, &setup);
        let run = drive(&mut line, &log, None, |reads, line| {
            if reads == 0 {
                line.control(Control::Dial {
                    number: Number::from_str_truncating("601"),
                    from: Number::new(),
                    call: Default::default(),
                })
                .unwrap();
            }
        });
        assert_eq!(run.controls[0], "OffHook");
        assert!(run.controls[1].starts_with("DialDigits"), "{:?}", run.controls);
        assert!(run.controls[1].contains("601"));
        assert_eq!(run.controls[2], "OnHook");
        assert_eq!(
            run.seen,
            [
                "audio×70",
                "Answered",
                "audio×5",
                "Hangup(NormalClearing)",
                "audio×1"
            ]
        );
        // 1 s of waiting = 50 blocks written; the 20 read while dialling are not.
        assert_eq!(run.writes, 50 + 5 + 1);
    }

    #[test]
    fn outbound_with_answer_on_polarity_waits_for_the_reversal() {
        let setup = setup(Signalling::Fxsks, |o| o.answer_on_polarity = true);
        let steps = vec![Quiet(50), Ev(DialComplete), Quiet(30), Ev(Polarity), Quiet(2)];
        let (mut line, log) = trunk(steps, &setup);
        let run = drive(&mut line, &log, None, |reads, line| {
            if reads == 0 {
                line.control(Control::Dial {
                    number: Number::from_str_truncating("601"),
                    from: Number::new(),
                    call: Default::default(),
                })
                .unwrap();
            }
        });
        assert_eq!(run.seen, ["audio×80", "Answered", "audio×2"]);
    }

    /// The fxsks side of NOTES.md's table (tests/dahdi-vm): ring, answer, a flash telvox sends
    /// (HOOKCOMPLETE 0.8 s later), the exchange clearing (ONHOOK), and — 1 s later, inside the
    /// driver's 2 s ring debounce — the next call arriving as a RINGOFFHOOK alone.
    #[test]
    fn the_real_drivers_event_sequence_makes_two_calls() {
        let setup = setup(Signalling::Fxsks, |_| {});
        let steps = vec![
            Ev(RingBegin),
            Quiet(103),
            Ev(RingEnd),
            Quiet(10),
            Ev(HookComplete),
            Quiet(30),
            Ev(OnHook),
            Quiet(50),
            Ev(RingEnd),
            Quiet(5),
        ];
        let (mut line, log) = trunk(steps, &setup);
        let run = drive(&mut line, &log, Some(1), |reads, line| {
            if reads == 110 {
                line.control(Control::Flash).unwrap();
            }
        });
        assert_eq!(
            run.seen,
            [
                "Offered(>8000 )",
                "RingBegin",
                "audio×103",
                "RingEnd",
                "audio×40",
                "Hangup(NormalClearing)",
                "audio×50",
                "Offered(>8000 )",
                "RingEnd",
                "audio×5"
            ]
        );
        assert_eq!(run.controls, ["OffHook", "Flash", "OnHook", "OffHook"]);
    }

    /// The cost of an idle DAHDI trunk (blocks arrive on idle lines too) per 20 ms block:
    /// `cargo test --lib idle_line_cost -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn idle_line_cost() {
        for cid in [
            CallerIdSignalling::None,
            CallerIdSignalling::Dtmf,
            CallerIdSignalling::V23,
        ] {
            let setup = setup(Signalling::Fxsks, |o| o.caller_id = cid);
            let blocks = 50_000;
            let (mut line, _log) = trunk(vec![Quiet(blocks)], &setup);
            let mut block = [0u8; BLOCK_SAMPLES];
            let start = std::time::Instant::now();
            while line.read(&mut block).unwrap() == ReadOutcome::Audio {
                line.write(&block).unwrap();
            }
            let per_block_ns = start.elapsed().as_nanos() / blocks as u128;
            println!("idle fxsks, caller_id {cid:?}: {per_block_ns} ns per 20 ms block");
        }
    }

    #[test]
    fn glare_a_ring_while_seizing_gives_the_line_to_the_caller() {
        let setup = setup(Signalling::Fxsks, |o| o.caller_id = CallerIdSignalling::Bell202);
        let steps = vec![Quiet(10), Ev(RingBegin), Quiet(5), Ev(RingEnd), Quiet(2)];
        let (mut line, log) = trunk(steps, &setup);
        let run = drive(&mut line, &log, Some(1), |reads, line| {
            if reads == 0 {
                line.control(Control::Dial {
                    number: Number::from_str_truncating("601"),
                    from: Number::new(),
                    call: Default::default(),
                })
                .unwrap();
            }
        });
        // Released the seizure before dialling, offered the caller at once (the engine fails its
        // outbound attempt on that offer), and answered it after its ring.
        assert_eq!(run.controls, ["OffHook", "OnHook", "OffHook"]);
        assert_eq!(
            run.seen,
            [
                "audio×10",
                "Offered(>8000 )",
                "RingBegin",
                "audio×5",
                "RingEnd",
                "audio×2"
            ]
        );
    }
}
