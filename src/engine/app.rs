//! The interface between the engine and call applications (`apps/`): an application is a state
//! machine the engine steps with call events; it acts on the call only through [`CallCx`].

use std::sync::Arc;

use crate::dsp::tones::{tone, Country, ToneKind};
use crate::fixed::{DigitLog, Label};
use crate::hw::{CallInfo, CallRef, Cause, ChanId};
use crate::voice::Prompt;

use super::clock::SampleTimer;
use super::player::PromptPlayer;
use super::tap::{AudioTap, CallRecordHook, RecordFormat, TapSlot};
use super::tone::TonePlayer;

/// What an application is told about a call when it is created.
#[derive(Clone, Copy, Debug)]
pub struct CallSetup {
    pub call: CallRef,
    pub chan: ChanId,
    pub info: CallInfo,
    /// The national tone plan of the call's span (`country` in the hardware map).
    pub country: Country,
}

/// A call application. Every method runs on the channel thread: it must not block, lock, log or
/// allocate (allocate in `AppFactory::create`, which runs when the call is offered).
pub trait App: Send {
    /// The flow's name, for the call log.
    fn flow(&self) -> Label;
    /// The call was just offered (before the first ring).
    fn on_offered(&mut self, _cx: &mut CallCx) {}
    /// A ring burst ended; `rings` counts the completed rings from 1.
    fn on_ring(&mut self, _cx: &mut CallCx, _rings: u32) {}
    /// telvox is now off-hook: audio flows both ways.
    fn on_answered(&mut self, _cx: &mut CallCx) {}
    /// The caller pressed a key. Playback has already stopped if barge-in was on.
    fn on_digit(&mut self, _cx: &mut CallCx, _digit: char) {}
    /// Playback finished: the last queued prompt, or the tone, ended (not sent when a key stopped
    /// playback by barge-in: `on_digit` is).
    fn on_prompts_done(&mut self, _cx: &mut CallCx) {}
    /// The timer armed with [`CallCx::set_timer_ms`] expired.
    fn on_timer(&mut self, _cx: &mut CallCx) {}
    /// Every answered block while [`wants_audio`](Self::wants_audio) says so, after prompts are
    /// mixed into `tx`: an application that is a modem (fax) or listens for tones (CNG) reads the
    /// caller's audio in `rx` and may write its own into `tx`. Linear, 8 kHz.
    fn on_audio(&mut self, _cx: &mut CallCx, _rx: &[i16], _tx: &mut [i16]) {}
    /// Whether `on_audio` is wanted for the next block (asked every block: keep it cheap).
    fn wants_audio(&self) -> bool {
        false
    }
}

/// Makes the application for an offered call; None refuses the call (no flow for that number).
pub trait AppFactory: Send + Sync {
    fn create(&self, setup: &CallSetup) -> Option<Box<dyn App>>;
}

/// What an application asked of the line during one step; the engine carries it out after writing
/// the block, so the caller hears the last block before a hangup.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct LineRequests {
    pub answer: bool,
    pub hangup: Option<Cause>,
}

/// The call as an application sees it.
pub struct CallCx<'a> {
    pub(crate) setup: &'a CallSetup,
    pub(crate) now_samples: u64,
    pub(crate) answered: bool,
    pub(crate) player: &'a mut PromptPlayer,
    pub(crate) tone: &'a mut TonePlayer,
    pub(crate) timer: &'a mut SampleTimer,
    pub(crate) digits: &'a DigitLog,
    pub(crate) requests: &'a mut LineRequests,
    pub(crate) states: &'a mut StateLog,
    /// The channel's recorder tap (see [`super::tap`]).
    pub(crate) tap: &'a TapSlot,
    /// The channel's call-recording tap and the recorder behind it, when call recording runs.
    pub(crate) call_tap: &'a TapSlot,
    pub(crate) recording: Option<&'a dyn CallRecordHook>,
    pub(crate) flow: Label,
}

/// States entered during one step, reported as events by the engine (bounded: an IVR chain of more
/// than 16 states that never wait within one event is not reported past the 16th).
#[derive(Default)]
pub(crate) struct StateLog {
    pub entered: [Label; 16],
    pub len: usize,
}

impl CallCx<'_> {
    pub fn setup(&self) -> &CallSetup {
        self.setup
    }

    /// Samples since the call was offered.
    pub fn now_samples(&self) -> u64 {
        self.now_samples
    }

    pub fn is_answered(&self) -> bool {
        self.answered
    }

    /// Every key pressed so far in this call.
    pub fn digits(&self) -> &DigitLog {
        self.digits
    }

    /// Go off-hook.
    pub fn answer(&mut self) {
        if !self.answered {
            self.requests.answer = true;
        }
    }

    /// Clear the call.
    pub fn hangup(&mut self, cause: Cause) {
        self.requests.hangup.get_or_insert(cause);
    }

    /// Queue a prompt; false when the play queue is full.
    pub fn play(&mut self, prompt: &Arc<Prompt>) -> bool {
        self.player.enqueue(prompt)
    }

    /// Stops what is playing and plays `prompt` from `offset_samples` on (seeking in a
    /// recording); false when it cannot be queued.
    pub fn play_from(&mut self, prompt: &Arc<Prompt>, offset_samples: usize) -> bool {
        self.player.stop();
        self.tone.stop();
        self.player.enqueue_from(prompt, offset_samples)
    }

    /// Names the agent of the call's recording (the `agent` column of its row), when the call is
    /// being recorded: lock-free, no allocation.
    pub fn set_call_agent(&mut self, agent: &str) {
        self.call_tap.set_agent(Label::from_str_truncating(agent));
    }

    /// Stops prompts and tone.
    pub fn stop_playback(&mut self) {
        self.player.stop();
        self.tone.stop();
    }

    /// Plays `kind` of the call's tone plan, mixed with any prompts, for `ms` (None: to its natural
    /// end — SIT once, the beep — or the tone player's one-minute bound); replaces a tone already
    /// playing. Barge-in applies as to prompts; `on_prompts_done` follows when it ends. False when
    /// the tone cannot be played.
    pub fn play_tone(&mut self, kind: ToneKind, ms: Option<u32>) -> bool {
        self.tone.start(tone(self.setup.country, kind), ms)
    }

    /// The call's tone plan.
    pub fn country(&self) -> Country {
        self.setup.country
    }

    pub fn set_barge_in(&mut self, enabled: bool) {
        self.player.set_barge_in(enabled);
    }

    /// Whether a prompt or a tone is playing.
    pub fn is_playing(&self) -> bool {
        self.player.is_playing() || self.tone.is_playing()
    }

    /// Arms the call's timer `ms` from now (replacing any earlier deadline).
    pub fn set_timer_ms(&mut self, ms: u64) {
        self.timer.arm(self.now_samples, ms);
    }

    pub fn cancel_timer(&mut self) {
        self.timer.cancel();
    }

    /// Attaches a recorder's ring: from the next block on, the channel thread copies the call's
    /// audio into it (lock-free; replaces any earlier one).
    pub fn attach_tap(&mut self, tap: &Arc<AudioTap>) {
        self.tap.attach(tap.clone());
    }

    pub fn detach_tap(&mut self) {
        self.tap.detach();
    }

    /// Starts recording the whole call (both directions) from the next block, unless it is being
    /// recorded already; false when call recording is off or refused it (disk low, too busy).
    pub fn start_call_recording(&mut self, format: Option<RecordFormat>) -> bool {
        if self.call_tap.is_attached() {
            return true;
        }
        let Some(hook) = self.recording else {
            return false;
        };
        match hook.start(self.setup, self.flow.as_str(), format) {
            Some(tap) => {
                self.call_tap.attach(tap);
                true
            }
            None => false,
        }
    }

    /// Stops the call recording; its file is finished and kept.
    pub fn stop_call_recording(&mut self) {
        self.call_tap.close();
    }

    pub fn is_call_recording(&self) -> bool {
        self.call_tap.is_attached()
    }

    /// Records that the flow entered `state` (a `state` event and a step in the call's path).
    pub fn enter_state(&mut self, state: &str) {
        if self.states.len < self.states.entered.len() {
            self.states.entered[self.states.len] = Label::from_str_truncating(state);
            self.states.len += 1;
        }
    }
}
