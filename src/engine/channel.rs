//! The channel thread: one per channel, paced by the card. Per block: read → decode → DTMF → app
//! step → mix → encode → write (DESIGN.md §1). Everything a call needs is allocated when the call is
//! offered; the per-block path allocates nothing, takes no lock and does not log.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::dsp::dtmf::{DtmfRx, DtmfRxConfig};
use crate::dsp::g711;
use crate::dsp::tones::{Country, ProgressDetector, ProgressEvent};
use crate::fixed::{DigitLog, Label};
use crate::hw::{
    Block, CallInfo, CallRef, Cause, ChanEvent, Channel, Control, Law, ReadOutcome, BLOCK_SAMPLES,
    SAMPLE_RATE_HZ,
};

use super::app::{App, AppFactory, CallCx, CallSetup, LineRequests, StateLog};
use super::clock::SampleTimer;
use super::events::{CallEvent, Disposition, EventKind};
use super::originate::{OriginateReport, OriginateRequest, MAX_RING_TIMEOUT_MS};
use super::player::{PlayStatus, PromptPlayer};
use super::sink::{EventQueue, EventSink};
use super::status::{ChanState, ChanStatus};
use super::tap::TapBlock;
use super::tone::TonePlayer;

/// Hands out call ids: `epoch_s.seq`, with `seq` continuing from the call log across restarts.
#[derive(Debug)]
pub struct CallIds {
    next_seq: AtomicU64,
}

impl CallIds {
    pub fn starting_after(last_seq: u64) -> Self {
        Self {
            next_seq: AtomicU64::new(last_seq + 1),
        }
    }

    pub fn next(&self, epoch_s: u64) -> CallRef {
        CallRef {
            epoch_s,
            seq: self.next_seq.fetch_add(1, Ordering::Relaxed),
        }
    }
}

/// What every channel thread shares.
#[derive(Clone)]
pub struct EngineShared {
    pub events: Arc<EventQueue>,
    pub factory: Arc<dyn AppFactory>,
    pub call_ids: Arc<CallIds>,
    /// Upper bound on a call's length, read when each call is offered.
    pub max_call_seconds: Arc<AtomicU64>,
    /// Call recording (rules at offer, on demand from apps); None when the daemon has none.
    pub recording: Option<Arc<dyn super::tap::CallRecordHook>>,
}

/// A span's tone settings, as the channel thread needs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelTones {
    /// The span's national tone plan: what `tone` plays and what the disconnect detector hears.
    pub country: Country,
    /// Hang up when busy or congestion tone is heard on an answered call (lines without
    /// loop-current disconnect).
    pub disconnect_tone: bool,
}

impl Default for ChannelTones {
    /// China's plan (the configuration's default), no tone disconnect.
    fn default() -> Self {
        Self {
            country: Country::Cn,
            disconnect_tone: false,
        }
    }
}

/// The call-path state `busy_tone` marks a call cleared because the far end's busy (or
/// congestion) tone was heard.
pub const BUSY_TONE_STATE: &str = "busy_tone";

/// Steps the app's requests and events at most this often per block, so a flow that keeps asking
/// for more work cannot spin the thread.
const MAX_APP_ROUNDS: usize = 4;

struct ActiveCall {
    setup: CallSetup,
    app: Option<Box<dyn App>>,
    samples: u64,
    rings: u32,
    answered: bool,
    player: PromptPlayer,
    tone: TonePlayer,
    timer: SampleTimer,
    digits: DigitLog,
    max_samples: u64,
    flow: Label,
    /// Set for a call this channel placed (see [`super::originate`]).
    outbound: Option<Outbound>,
}

/// What an outbound call keeps besides an inbound one's state.
struct Outbound {
    report: Arc<OriginateReport>,
    /// The far end must answer within this many samples of the dial.
    ring_timeout_samples: u64,
}

/// The state one channel thread owns.
pub struct ChannelRunner {
    chan: Box<dyn Channel>,
    law: Law,
    status: Arc<ChanStatus>,
    sink: EventSink,
    shared: EngineShared,
    dtmf: DtmfRx,
    tones: ChannelTones,
    /// Listens for the far end's busy tone; built at channel start when the span asks for it
    /// (boxed: its tables are ~16 KB, kept off the channel thread's stack).
    disconnect: Option<Box<ProgressDetector>>,
    rx: Block,
    tx: Block,
    lin_in: [i16; BLOCK_SAMPLES],
    lin_out: [i16; BLOCK_SAMPLES],
    call: Option<ActiveCall>,
    /// Line actions the app asked for, carried out after the current block is written.
    pending: LineRequests,
    /// The span's alarms: while any is set the channel is out of service (see `on_alarm`).
    alarms: crate::hw::Alarms,
}

impl ChannelRunner {
    /// `dtmf` is the span's receiver configuration (its law is the channel's); `tones` its tone
    /// plan and whether it hangs up on busy tone.
    pub fn new(
        chan: Box<dyn Channel>,
        status: Arc<ChanStatus>,
        shared: EngineShared,
        dtmf: DtmfRxConfig,
        tones: ChannelTones,
    ) -> Result<Self, crate::dsp::DspError> {
        let law = chan.law();
        if let Some(waker) = chan.waker() {
            status.originate.set_waker(waker);
        }
        Ok(Self {
            tones,
            disconnect: tones
                .disconnect_tone
                .then(|| Box::new(ProgressDetector::new(tones.country))),
            law,
            status,
            sink: EventSink::new(shared.events.clone()),
            shared,
            dtmf: DtmfRx::new(DtmfRxConfig { law, ..dtmf })?,
            rx: [law.silence_byte(); BLOCK_SAMPLES],
            tx: [law.silence_byte(); BLOCK_SAMPLES],
            lin_in: [0; BLOCK_SAMPLES],
            lin_out: [0; BLOCK_SAMPLES],
            call: None,
            pending: LineRequests::default(),
            alarms: crate::hw::Alarms::NONE,
            chan,
        })
    }

    /// Runs until the card closes the channel.
    pub fn run(mut self) {
        loop {
            let outcome = match self.chan.read(&mut self.rx) {
                Ok(o) => o,
                Err(e) => {
                    self.status.errors.fetch_add(1, Ordering::Relaxed);
                    // Once, as the thread ends (not on the per-block path): a channel that leaves
                    // service must say why.
                    tracing::error!("{e}: the channel is out of service");
                    ReadOutcome::Closed
                }
            };
            match outcome {
                ReadOutcome::Audio => self.on_block(),
                ReadOutcome::Event(ev) => self.on_event(ev),
                ReadOutcome::Closed => break,
                ReadOutcome::Woken => self.on_woken(),
            }
        }
        self.end_call(Cause::NetworkOutOfOrder, false);
        self.status.set(ChanState::Down, None);
        self.sink.flush_backlog();
    }

    fn on_event(&mut self, event: ChanEvent) {
        match event {
            ChanEvent::Offered(info) => self.offer(info),
            // DAHDI reports a ring when the burst ends (RINGOFFHOOK), so a ring counts once heard.
            ChanEvent::RingEnd => {
                if let Some(call) = self.call.as_mut() {
                    call.rings += 1;
                }
                self.with_app(|app, cx, rings| app.on_ring(cx, rings));
            }
            ChanEvent::Answered => self.mark_answered(),
            ChanEvent::Hangup(cause) => self.far_end_cleared(cause),
            // No app acts on a flash yet; it is on the event stream for integrations.
            ChanEvent::Flash => self.emit(EventKind::Flash),
            ChanEvent::Alarm(alarms) => self.on_alarm(alarms),
            ChanEvent::RingBegin => {}
            // Line-level events are engine::line's to turn into the ones above; a channel that
            // reaches the loop with them is Network-signalled, where they mean nothing.
            ChanEvent::OffHook
            | ChanEvent::OnHook
            | ChanEvent::Polarity
            | ChanEvent::HookComplete
            | ChanEvent::DialComplete
            | ChanEvent::RingerOn
            | ChanEvent::RingerOff
            | ChanEvent::Bits(_) => {}
        }
        self.carry_out_requests();
    }

    /// The span went into alarm (a call in progress ends NETWORK_OUT_OF_ORDER, offers and
    /// originations are refused, status shows `alarm`) or came out of it (idle again).
    fn on_alarm(&mut self, alarms: crate::hw::Alarms) {
        self.alarms = alarms;
        if alarms.is_clear() {
            if self.call.is_none() {
                self.status.set(ChanState::Idle, None);
            }
            return;
        }
        self.hang_up(Cause::NetworkOutOfOrder);
        self.status.set(ChanState::Alarm, None);
    }

    fn offer(&mut self, info: CallInfo) {
        if !self.alarms.is_clear() {
            // Out of service: the line cannot carry the call.
            let cause = Cause::NetworkOutOfOrder;
            if self.chan.control(Control::Hangup { cause }).is_err() {
                self.status.errors.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
        if self
            .call
            .as_ref()
            .is_some_and(|c| c.outbound.is_some() && !c.answered)
        {
            // Glare: a call came in as this channel seized the line to dial; the card gave the
            // line to the caller and dropped the dial. The outbound attempt failed (it is retried).
            self.end_call(Cause::NormalCircuitCongestion, false);
        }
        if self.call.is_some() {
            // The card offers only idle channels; a second offer would be a card bug. Keep the call.
            return;
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let call = self.shared.call_ids.next(now.as_secs());
        let setup = CallSetup {
            call,
            chan: self.chan.id(),
            info,
            country: self.tones.country,
        };
        // A new call starts with a clean receiver (no half-heard key from the last one).
        self.dtmf.reset();
        if let Some(detector) = self.disconnect.as_mut() {
            detector.reset();
        }
        let app = self.shared.factory.create(&setup);
        let flow = app.as_ref().map(|a| a.flow()).unwrap_or_default();
        let has_app = app.is_some();
        let max_seconds = self.shared.max_call_seconds.load(Ordering::Relaxed);
        self.call = Some(ActiveCall {
            setup,
            app,
            samples: 0,
            rings: 0,
            answered: false,
            player: PromptPlayer::new(),
            tone: TonePlayer::new(self.law),
            timer: SampleTimer::default(),
            digits: DigitLog::new(),
            max_samples: max_seconds * SAMPLE_RATE_HZ as u64,
            flow,
            outbound: None,
        });
        // Call recording by rule: the ring is sized and attached now, at call setup.
        if has_app {
            if let Some(hook) = self.shared.recording.as_ref() {
                if let Some(tap) = hook.on_offered(&setup, flow.as_str()) {
                    self.status.call_tap.attach(tap);
                }
            }
        }
        self.status.set(ChanState::Ringing, Some(call));
        self.status.calls.fetch_add(1, Ordering::Relaxed);
        let start_epoch_ms = now.as_millis() as i64;
        let kind = EventKind::CallStart {
            start_epoch_ms,
            src: info.from,
            dst: info.to,
            name: info.name,
            flow,
        };
        self.emit(kind);
        if self.call.as_ref().is_some_and(|c| c.app.is_none()) {
            // No flow answers this number: refuse it as the network would an unallocated number.
            self.hang_up(Cause::Unallocated);
            return;
        }
        self.with_app(|app, cx, _| app.on_offered(cx));
    }

    /// Another thread woke the idle line: an outbound call may wait to be placed.
    fn on_woken(&mut self) {
        self.sink.flush_backlog();
        if self.call.is_none() {
            self.originate();
        }
    }

    /// Places the outbound call waiting in the channel's inbox, if any (the line is idle).
    fn originate(&mut self) {
        let Some(request) = self.status.originate.take() else {
            return;
        };
        if !self.alarms.is_clear() {
            // Out of service: the outbound call fails at once (its dispatcher retries elsewhere).
            request
                .report
                .ended(Cause::NetworkOutOfOrder, Disposition::Failed);
            return;
        }
        let OriginateRequest {
            number,
            from,
            app,
            ring_timeout_ms,
            report,
        } = request;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let call = self.shared.call_ids.next(now.as_secs());
        let info = CallInfo {
            from,
            to: number,
            ..Default::default()
        };
        let setup = CallSetup {
            call,
            chan: self.chan.id(),
            info,
            country: self.tones.country,
        };
        self.dtmf.reset();
        if let Some(detector) = self.disconnect.as_mut() {
            detector.reset();
        }
        let flow = app.flow();
        let max_seconds = self.shared.max_call_seconds.load(Ordering::Relaxed);
        let ring_timeout_ms = u64::from(ring_timeout_ms.min(MAX_RING_TIMEOUT_MS));
        self.call = Some(ActiveCall {
            setup,
            app: Some(app),
            samples: 0,
            rings: 0,
            answered: false,
            player: PromptPlayer::new(),
            tone: TonePlayer::new(self.law),
            timer: SampleTimer::default(),
            digits: DigitLog::new(),
            max_samples: max_seconds * SAMPLE_RATE_HZ as u64,
            flow,
            outbound: Some(Outbound {
                report: report.clone(),
                ring_timeout_samples: ring_timeout_ms * u64::from(SAMPLE_RATE_HZ) / 1000,
            }),
        });
        self.status.set(ChanState::Ringing, Some(call));
        self.status.calls.fetch_add(1, Ordering::Relaxed);
        self.emit(EventKind::CallStart {
            start_epoch_ms: now.as_millis() as i64,
            src: info.from,
            dst: info.to,
            name: info.name,
            flow,
        });
        report.dialling(call);
        let dial = Control::Dial {
            number: info.to,
            from: info.from,
            call,
        };
        if self.chan.control(dial).is_err() {
            self.status.errors.fetch_add(1, Ordering::Relaxed);
            self.end_call(Cause::NetworkOutOfOrder, false);
            return;
        }
        self.with_app(|app, cx, _| app.on_offered(cx));
        self.carry_out_requests();
    }

    /// An outbound call nobody answers is given up after its ring timeout.
    fn enforce_ring_timeout(&mut self) {
        let expired = self.call.as_ref().is_some_and(|c| {
            !c.answered
                && c.outbound
                    .as_ref()
                    .is_some_and(|o| c.samples >= o.ring_timeout_samples)
        });
        if expired {
            self.hang_up(Cause::NoAnswer);
        }
    }

    fn on_block(&mut self) {
        self.sink.flush_backlog();
        if self.call.is_none() {
            // Idle or refused: keep the card's clock fed with silence (one write per read, always).
            self.tx = [self.law.silence_byte(); BLOCK_SAMPLES];
            self.write_tx();
            // A card that delivers blocks to idle lines (DAHDI) needs no wake-up to dial.
            self.originate();
            return;
        }
        g711::decode_block(self.law, &self.rx, &mut self.lin_in);
        self.advance_clock();
        self.detect_digits();
        self.detect_disconnect_tone();
        self.fire_timer();
        self.mix_and_encode();
        self.write_tx();
        self.feed_tap();
        self.carry_out_requests();
        self.enforce_max_call_time();
        self.enforce_ring_timeout();
    }

    fn advance_clock(&mut self) {
        if let Some(call) = self.call.as_mut() {
            call.samples += BLOCK_SAMPLES as u64;
        }
    }

    fn detect_digits(&mut self) {
        self.dtmf.process(&self.lin_in);
        // The receiver reports a digit's start and end; at most a few per block, and the bound
        // keeps the loop finite anyway.
        for _ in 0..8 {
            let Some(event) = self.dtmf.take_event() else {
                break;
            };
            match event.duration_samples {
                None => self.on_digit(event.digit),
                Some(samples) => self.on_digit_end(event.digit, samples),
            }
        }
    }

    /// On a line without loop-current disconnect, the far end's hangup is heard, not signalled:
    /// busy (or congestion) tone on an answered call clears it.
    fn detect_disconnect_tone(&mut self) {
        let Some(detector) = self.disconnect.as_mut() else {
            return;
        };
        if !self.call.as_ref().is_some_and(|c| c.answered) {
            return;
        }
        detector.process(&self.lin_in);
        let mut heard = false;
        // One event of each kind at most; the bound keeps the loop finite anyway.
        for _ in 0..8 {
            match detector.take_event() {
                Some(ProgressEvent::Busy | ProgressEvent::Congestion) => heard = true,
                Some(_) => {}
                None => break,
            }
        }
        if heard {
            self.emit(EventKind::State {
                state: Label::from_str_truncating(BUSY_TONE_STATE),
            });
            self.hang_up(Cause::NormalClearing);
        }
    }

    fn on_digit_end(&mut self, digit: char, duration_samples: u64) {
        if self.call.as_ref().is_some_and(|c| c.answered) {
            let duration_ms = super::clock::samples_to_ms(duration_samples) as u32;
            self.emit(EventKind::DigitEnd { digit, duration_ms });
        }
    }

    fn on_digit(&mut self, digit: char) {
        let Some(call) = self.call.as_mut() else {
            return;
        };
        if !call.answered {
            return;
        }
        call.digits.push(digit);
        if call.player.barge_in() && (call.player.is_playing() || call.tone.is_playing()) {
            call.player.stop();
            call.tone.stop();
        }
        self.emit(EventKind::Digit { digit });
        self.with_app(|app, cx, _| app.on_digit(cx, digit));
    }

    fn fire_timer(&mut self) {
        let fired = self.call.as_mut().is_some_and(|c| c.timer.fire(c.samples));
        if fired {
            self.with_app(|app, cx, _| app.on_timer(cx));
        }
    }

    fn mix_and_encode(&mut self) {
        self.lin_out = [0; BLOCK_SAMPLES];
        // Playback is done when whichever of prompts and tone was still playing ends this block
        // and the other is not playing either.
        let done = match self.call.as_mut() {
            Some(call) if call.answered => {
                let prompts = call.player.mix_into(&mut self.lin_out);
                let tone = call.tone.mix_into(&mut self.lin_out);
                let ended = prompts == PlayStatus::Finished || tone == PlayStatus::Finished;
                ended && !call.player.is_playing() && !call.tone.is_playing()
            }
            _ => false,
        };
        let wants_audio = self
            .call
            .as_ref()
            .is_some_and(|c| c.answered && c.app.as_ref().is_some_and(|a| a.wants_audio()));
        if wants_audio {
            let (lin_in, mut lin_out) = (self.lin_in, self.lin_out);
            self.with_app(|app, cx, _| app.on_audio(cx, &lin_in, &mut lin_out));
            self.lin_out = lin_out;
        }
        g711::encode_block(self.law, &self.lin_out, &mut self.tx);
        if done {
            self.with_app(|app, cx, _| app.on_prompts_done(cx));
        }
    }

    /// Copies the block both ways to an attached recorder (lock-free; nothing when none is attached).
    fn feed_tap(&self) {
        let Some(call) = self.call.as_ref().filter(|c| c.answered) else {
            return;
        };
        // Built only for a slot that has a ring attached (most calls have none).
        let block = || TapBlock {
            call: call.setup.call,
            at_sample: call.samples,
            rx: self.rx,
            tx: self.tx,
        };
        self.status.tap.feed(block);
        self.status.call_tap.feed(block);
    }

    fn write_tx(&mut self) {
        if self.chan.write(&self.tx).is_err() {
            self.status.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn enforce_max_call_time(&mut self) {
        let over = self.call.as_ref().is_some_and(|c| c.samples >= c.max_samples);
        if over {
            self.emit(EventKind::State {
                state: Label::from_str_truncating("max_call_time"),
            });
            self.hang_up(Cause::NormalClearing);
        }
    }

    /// Runs one app callback with a [`CallCx`], then reports the states it entered.
    fn with_app(&mut self, step: impl FnOnce(&mut dyn App, &mut CallCx, u32)) {
        let Some(call) = self.call.as_mut() else {
            return;
        };
        let Some(mut app) = call.app.take() else {
            return;
        };
        let mut requests = std::mem::take(&mut self.pending);
        let mut states = StateLog::default();
        {
            let mut cx = CallCx {
                setup: &call.setup,
                now_samples: call.samples,
                answered: call.answered,
                player: &mut call.player,
                tone: &mut call.tone,
                timer: &mut call.timer,
                digits: &call.digits,
                requests: &mut requests,
                states: &mut states,
                tap: &self.status.tap,
                call_tap: &self.status.call_tap,
                recording: self.shared.recording.as_deref(),
                flow: call.flow,
            };
            step(app.as_mut(), &mut cx, call.rings);
        }
        call.app = Some(app);
        self.pending = requests;
        for state in &states.entered[..states.len] {
            self.emit(EventKind::State { state: *state });
        }
    }

    fn carry_out_requests(&mut self) {
        for _ in 0..MAX_APP_ROUNDS {
            let requests = std::mem::take(&mut self.pending);
            if let Some(cause) = requests.hangup {
                return self.hang_up(cause);
            }
            if !requests.answer {
                return;
            }
            self.answer();
        }
    }

    fn answer(&mut self) {
        let Some(call) = self.call.as_mut() else {
            return;
        };
        if call.answered {
            return;
        }
        let control = Control::Answer {
            call: call.setup.call,
        };
        if self.chan.control(control).is_err() {
            self.status.errors.fetch_add(1, Ordering::Relaxed);
        }
        self.mark_answered();
    }

    fn mark_answered(&mut self) {
        let Some(call) = self.call.as_mut() else {
            return;
        };
        if call.answered {
            return;
        }
        call.answered = true;
        if let Some(outbound) = call.outbound.as_ref() {
            outbound.report.answered();
        }
        self.status.set(ChanState::Up, Some(call.setup.call));
        self.emit(EventKind::Answer);
        self.with_app(|app, cx, _| app.on_answered(cx));
    }

    /// telvox clears the call: on-hook toward the line, then the call-log end.
    fn hang_up(&mut self, cause: Cause) {
        if self.call.is_none() {
            return;
        }
        if self.chan.control(Control::Hangup { cause }).is_err() {
            self.status.errors.fetch_add(1, Ordering::Relaxed);
        }
        self.end_call(cause, false);
    }

    /// The far end cleared first: log it, then go on-hook so the line is free again.
    fn far_end_cleared(&mut self, cause: Cause) {
        if self.call.is_none() {
            return;
        }
        self.end_call(cause, true);
        if self
            .chan
            .control(Control::Hangup {
                cause: Cause::NormalClearing,
            })
            .is_err()
        {
            self.status.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn end_call(&mut self, cause: Cause, far_end: bool) {
        let Some(call) = self.call.take() else { return };
        // A recorder attaches for one call: nothing is copied for a call it was not attached to.
        self.status.tap.detach();
        // The call recording ends with the call: its recorder finishes the file.
        self.status.call_tap.close();
        let disposition = if call.answered {
            Disposition::Answered
        } else if call.outbound.is_some() {
            match cause {
                Cause::UserBusy => Disposition::Busy,
                Cause::NoAnswer | Cause::NoUserResponse => Disposition::NoAnswer,
                _ => Disposition::Failed,
            }
        } else if call.app.is_none() {
            Disposition::Failed
        } else if far_end && cause == Cause::UserBusy {
            Disposition::Busy
        } else {
            Disposition::NoAnswer
        };
        self.pending = LineRequests::default();
        self.sink.emit(CallEvent {
            call: call.setup.call,
            chan: call.setup.chan,
            at_sample: call.samples,
            kind: EventKind::CallEnd {
                cause,
                disposition,
                digits: call.digits,
            },
        });
        self.status.set(ChanState::Idle, None);
        let mut call = call;
        let outbound = call.outbound.take();
        // Dropping the app and the player's prompt handles frees no prompt memory (the set owns it).
        drop(call);
        // Reported after the app is gone, so whatever the app reports at its end is already there.
        if let Some(outbound) = outbound {
            outbound.report.ended(cause, disposition);
        }
    }

    fn emit(&mut self, kind: EventKind) {
        let Some(call) = self.call.as_ref() else {
            return;
        };
        let event = CallEvent {
            call: call.setup.call,
            chan: call.setup.chan,
            at_sample: call.samples,
            kind,
        };
        self.sink.emit(event);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;

    use super::*;
    use crate::apps::linetest::{LineTest, LineTestPrompts, LineTestSettings};
    use crate::engine::tap::AudioTap;
    use crate::fixed::Number;
    use crate::hw::{ChanId, HwError, Role};

    /// A channel that plays a script of reads and records every write and control.
    struct ScriptedChannel {
        script: VecDeque<(ReadOutcome, Block)>,
        log: Arc<Mutex<Vec<String>>>,
    }

    impl Channel for ScriptedChannel {
        fn id(&self) -> ChanId {
            ChanId { span: 1, chan: 7 }
        }
        fn law(&self) -> Law {
            Law::Alaw
        }
        fn role(&self) -> Role {
            Role::Trunk
        }
        fn read(&mut self, block: &mut Block) -> Result<ReadOutcome, HwError> {
            let (outcome, audio) = self
                .script
                .pop_front()
                .unwrap_or((ReadOutcome::Closed, [0; BLOCK_SAMPLES]));
            *block = audio;
            Ok(outcome)
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

    struct LineTestOnly(LineTestPrompts);

    impl AppFactory for LineTestOnly {
        fn create(&self, _setup: &CallSetup) -> Option<Box<dyn App>> {
            let settings = LineTestSettings {
                answer_after_rings: 1,
                max_digits: 16,
                timeout_ms: 5000,
            };
            Some(Box::new(LineTest::new(settings, self.0.clone())))
        }
    }

    fn keys_as_blocks(keys: &str) -> Vec<Block> {
        use crate::dsp::dtmf_gen::{keys_to_blocks, DtmfConfig};
        keys_to_blocks(DtmfConfig::new(Law::Alaw), keys).unwrap()
    }

    #[test]
    fn one_write_per_block_line_controls_events_and_tap_for_a_whole_call() {
        let voice =
            crate::voice::Voice::load(std::path::Path::new(crate::config::DEFAULT_VOICE_DIR)).unwrap();
        let prompts = LineTestPrompts::from_set(voice.set("en").unwrap()).unwrap();
        let silence = [Law::Alaw.silence_byte(); BLOCK_SAMPLES];
        let info = CallInfo {
            from: Number::from_str_truncating("555"),
            to: Number::from_str_truncating("8999"),
            ..Default::default()
        };
        let mut script: VecDeque<(ReadOutcome, Block)> = VecDeque::new();
        script.push_back((ReadOutcome::Event(ChanEvent::Offered(info)), silence));
        script.push_back((ReadOutcome::Event(ChanEvent::RingBegin), silence));
        script.push_back((ReadOutcome::Event(ChanEvent::RingEnd), silence));
        let keys = keys_as_blocks("5");
        let audio_blocks = 100;
        for i in 0..audio_blocks {
            let block = if (40..40 + keys.len()).contains(&i) {
                keys[i - 40]
            } else {
                silence
            };
            script.push_back((ReadOutcome::Audio, block));
        }
        script.push_back((
            ReadOutcome::Event(ChanEvent::Hangup(Cause::NormalClearing)),
            silence,
        ));
        let log = Arc::new(Mutex::new(Vec::new()));
        let channel = ScriptedChannel {
            script,
            log: log.clone(),
        };
        let events = EventQueue::new();
        let shared = EngineShared {
            events: events.clone(),
            factory: Arc::new(LineTestOnly(prompts)),
            call_ids: Arc::new(CallIds::starting_after(41)),
            max_call_seconds: Arc::new(AtomicU64::new(3600)),
            recording: None,
        };
        let status = Arc::new(ChanStatus::new(ChanId { span: 1, chan: 7 }));
        let tap = AudioTap::new(1000);
        status.tap.attach(tap.clone());
        ChannelRunner::new(
            Box::new(channel),
            status.clone(),
            shared,
            DtmfRxConfig::default(),
            ChannelTones::default(),
        )
        .unwrap()
        .run();

        let log = log.lock().unwrap();
        assert_eq!(
            log.iter().filter(|l| *l == "write").count(),
            audio_blocks,
            "exactly one write per block read"
        );
        let controls: Vec<&String> = log.iter().filter(|l| *l != "write").collect();
        assert_eq!(controls.len(), 2, "{controls:?}");
        assert!(
            controls[0].starts_with("Answer"),
            "answers after the first ring: {controls:?}"
        );
        assert!(
            controls[1].contains("Hangup"),
            "goes on-hook after the far end clears: {controls:?}"
        );

        let mut kinds = Vec::new();
        while let Some(ev) = events.queue.pop() {
            assert_eq!(
                ev.call,
                CallRef {
                    epoch_s: ev.call.epoch_s,
                    seq: 42
                },
                "ids continue from the log"
            );
            kinds.push(match ev.kind {
                EventKind::Digit { digit } => format!("digit {digit}"),
                // The key was held 60 ms; the receiver's estimate is good to a few ms.
                EventKind::DigitEnd { digit, duration_ms } => {
                    assert!(
                        (55..=65).contains(&duration_ms),
                        "held 60 ms, measured {duration_ms}"
                    );
                    format!("digit_end {digit}")
                }
                EventKind::State { state } => format!("state {state}"),
                EventKind::CallEnd {
                    disposition, digits, ..
                } => format!("end {} {digits}", disposition.as_str()),
                _ => ev.type_name().to_string(),
            });
        }
        assert_eq!(
            kinds,
            [
                "call_start",
                "state ringing",
                "answer",
                "state welcome",
                "digit 5",
                "state collect",
                "digit_end 5",
                "end ANSWERED 5"
            ]
        );
        assert_eq!(
            status.state(),
            ChanState::Down,
            "the thread ended when the card closed"
        );

        let mut tapped = Vec::new();
        while let Some(b) = tap.pop() {
            tapped.push(b);
        }
        assert_eq!(
            tapped.len(),
            audio_blocks,
            "every answered block reaches the recorder tap"
        );
        assert_eq!(tapped[40].rx, keys[0], "the tap carries what the caller sent");
        // The prompts keep 30 ms of silence at their start, so look past the first blocks.
        let played = tapped[..10]
            .iter()
            .any(|b| b.tx.iter().any(|&c| c != Law::Alaw.silence_byte()));
        assert!(played, "and what telvox played");
        assert_eq!(tap.dropped_blocks(), 0);
    }

    /// An app that counts what it is told and hangs up a few blocks after the answer.
    struct Outgoing {
        answered: Arc<AtomicU64>,
        blocks: u32,
    }

    impl App for Outgoing {
        fn flow(&self) -> Label {
            Label::from_str_truncating("out")
        }
        fn on_answered(&mut self, cx: &mut CallCx) {
            self.answered.fetch_add(1, Ordering::Relaxed);
            cx.enter_state("talking");
        }
        fn wants_audio(&self) -> bool {
            true
        }
        fn on_audio(&mut self, cx: &mut CallCx, _rx: &[i16], _tx: &mut [i16]) {
            self.blocks += 1;
            if self.blocks == 5 {
                cx.hangup(Cause::NormalClearing);
            }
        }
    }

    struct NoFlow;

    impl AppFactory for NoFlow {
        fn create(&self, _setup: &CallSetup) -> Option<Box<dyn App>> {
            None
        }
    }

    /// Runs `script` on a channel with an outbound request waiting; returns the line log, the
    /// events (as text) and the request's report.
    fn run_outbound(
        script: Vec<ReadOutcome>,
        ring_timeout_ms: u32,
    ) -> (Vec<String>, Vec<String>, Arc<OriginateReport>, u64) {
        let silence = [Law::Alaw.silence_byte(); BLOCK_SAMPLES];
        let log = Arc::new(Mutex::new(Vec::new()));
        let channel = ScriptedChannel {
            script: script.into_iter().map(|o| (o, silence)).collect(),
            log: log.clone(),
        };
        let events = EventQueue::new();
        let shared = EngineShared {
            events: events.clone(),
            factory: Arc::new(NoFlow),
            call_ids: Arc::new(CallIds::starting_after(0)),
            max_call_seconds: Arc::new(AtomicU64::new(3600)),
            recording: None,
        };
        let status = Arc::new(ChanStatus::new(ChanId { span: 1, chan: 7 }));
        let report = OriginateReport::new();
        let answered = Arc::new(AtomicU64::new(0));
        let request = OriginateRequest {
            number: Number::from_str_truncating("601"),
            from: Number::from_str_truncating("8000"),
            app: Box::new(Outgoing {
                answered: answered.clone(),
                blocks: 0,
            }),
            ring_timeout_ms,
            report: report.clone(),
        };
        status.originate.offer(request).unwrap();
        assert!(status.originate.is_pending());
        ChannelRunner::new(
            Box::new(channel),
            status.clone(),
            shared,
            DtmfRxConfig::default(),
            ChannelTones::default(),
        )
        .unwrap()
        .run();
        let mut kinds = Vec::new();
        while let Some(ev) = events.queue.pop() {
            kinds.push(match ev.kind {
                EventKind::CallStart { src, dst, flow, .. } => format!("start {src}>{dst} {flow}"),
                EventKind::State { state } => format!("state {state}"),
                EventKind::CallEnd {
                    disposition, cause, ..
                } => format!("end {} {cause}", disposition.as_str()),
                _ => ev.type_name().to_string(),
            });
        }
        let log = log.lock().unwrap().clone();
        (log, kinds, report, answered.load(Ordering::Relaxed))
    }

    #[test]
    fn an_outbound_call_is_dialled_when_woken_answered_run_and_reported() {
        let mut script = vec![ReadOutcome::Woken];
        script.extend([ReadOutcome::Audio; 3]);
        script.push(ReadOutcome::Event(ChanEvent::Answered));
        script.extend([ReadOutcome::Audio; 10]);
        let (log, events, report, answered) = run_outbound(script, 60_000);
        assert!(log[0].starts_with("Dial"), "{log:?}");
        assert!(log[0].contains("601") && log[0].contains("8000"), "{log:?}");
        // 3 ringing blocks, 5 answered ones, then the app hangs up; the line stays fed after.
        assert_eq!(log[9], "Hangup { cause: NormalClearing }", "{log:?}");
        assert_eq!(
            log.iter().filter(|l| *l == "write").count(),
            13,
            "one write per block"
        );
        assert_eq!(answered, 1);
        assert_eq!(
            events,
            [
                "start 8000>601 out",
                "answer",
                "state talking",
                "end ANSWERED NORMAL_CLEARING"
            ]
        );
        let outcome = report.outcome().expect("ended");
        assert!(outcome.answered);
        assert_eq!(outcome.disposition, Disposition::Answered);
        assert_eq!(outcome.call.seq, 1);
    }

    #[test]
    fn an_unanswered_outbound_call_is_given_up_after_its_ring_timeout_in_samples() {
        let mut script = vec![ReadOutcome::Woken];
        // 1 s of ringing = 50 blocks; the 50th block is written, then telvox hangs up.
        script.extend([ReadOutcome::Audio; 80]);
        let (log, events, report, answered) = run_outbound(script, 1000);
        let hangup = log.iter().position(|l| l.contains("Hangup")).expect("hung up");
        assert_eq!(log[..hangup].iter().filter(|l| *l == "write").count(), 50);
        assert!(log[hangup].contains("NoAnswer"), "{log:?}");
        assert_eq!(answered, 0);
        assert_eq!(events, ["start 8000>601 out", "end NO ANSWER NO_ANSWER"]);
        let outcome = report.outcome().expect("ended");
        assert!(!outcome.answered);
        assert_eq!(outcome.disposition, Disposition::NoAnswer);
        assert_eq!(outcome.cause, Cause::NoAnswer);
    }

    #[test]
    fn busy_and_glare_end_an_outbound_attempt_as_busy_and_failed() {
        let script = vec![
            ReadOutcome::Woken,
            ReadOutcome::Audio,
            ReadOutcome::Event(ChanEvent::Hangup(Cause::UserBusy)),
        ];
        let (_, events, report, _) = run_outbound(script, 60_000);
        assert_eq!(events, ["start 8000>601 out", "end BUSY USER_BUSY"]);
        assert_eq!(report.outcome().unwrap().disposition, Disposition::Busy);

        // A caller seized the line as it was dialled: the attempt fails, the caller's call is
        // taken (and refused here: no flow), and the line is never hung up under the caller's
        // offer on behalf of the attempt.
        let info = CallInfo {
            from: Number::from_str_truncating("555"),
            to: Number::from_str_truncating("8999"),
            ..Default::default()
        };
        let script = vec![ReadOutcome::Woken, ReadOutcome::Event(ChanEvent::Offered(info))];
        let (log, events, report, _) = run_outbound(script, 60_000);
        assert_eq!(
            events,
            [
                "start 8000>601 out",
                "end FAILED NORMAL_CIRCUIT_CONGESTION",
                "start 555>8999 ",
                "end FAILED UNALLOCATED"
            ]
        );
        let controls: Vec<&String> = log.iter().filter(|l| *l != "write").collect();
        assert_eq!(controls.len(), 2, "{controls:?}");
        assert!(controls[1].contains("Unallocated"), "{controls:?}");
        let outcome = report.outcome().unwrap();
        assert_eq!(outcome.disposition, Disposition::Failed);
        assert_eq!(outcome.cause, Cause::NormalCircuitCongestion);
    }
}
