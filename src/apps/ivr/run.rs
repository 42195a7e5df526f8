//! The IVR application: steps one call through a flow.

use std::sync::Arc;

use crate::dsp::tones::{Country, ProgressDetector, ProgressEvent};
use crate::engine::app::{App, CallCx, CallSetup};
use crate::fixed::Label;
use crate::hw::Cause;

use super::action::{IvrCall, Scratch, Step};
use super::callret::MAX_CALL_DEPTH;
use super::flow::{Flow, StateId};
use super::vars::Vars;

/// The state recorded when a call exceeds its flow's `max_transitions`.
pub const TRANSITION_LIMIT_STATE: &str = "transition_limit";

pub struct Ivr {
    flow: Arc<Flow>,
    call: IvrCall,
    state: StateId,
    /// Index of the running action in the state.
    action: usize,
    transitions: u32,
    /// Hung up: every later event is ignored.
    ended: bool,
    /// Where each `call` in progress resumes: (state, index of the `call` action).
    returns: [(StateId, usize); MAX_CALL_DEPTH],
    depth: usize,
    /// Listens for a fax calling tone when the flow has `fax_detect`.
    cng: Option<Box<ProgressDetector>>,
}

impl Ivr {
    /// Runs when the call is offered (allocation is fine here).
    pub fn new(flow: Arc<Flow>, setup: &CallSetup) -> Ivr {
        let mut vars = Vars::default();
        vars.set("caller", setup.info.from.as_str());
        vars.set("called", setup.info.to.as_str());
        vars.set("channel", &setup.chan.to_string());
        vars.set("call_id", &setup.call.to_string());
        vars.set("language", &flow.languages()[0]);
        vars.set("digits", "");
        let state = flow.start;
        // The detector's tables are built here, when the call is offered (not per block).
        let cng = flow
            .fax_detect
            .map(|_| Box::new(ProgressDetector::new(Country::Eu)));
        Ivr {
            flow,
            call: IvrCall::new(vars),
            state,
            action: 0,
            transitions: 0,
            ended: false,
            returns: [(0, 0); MAX_CALL_DEPTH],
            depth: 0,
            cng,
        }
    }

    /// Carries out steps until one waits; bounded by `max_transitions`.
    fn run(&mut self, cx: &mut CallCx, mut step: Step) {
        let flow = self.flow.clone();
        loop {
            step = match step {
                Step::Wait => return,
                Step::Hangup => return self.hang_up(cx),
                Step::Goto(state) => match self.enter(&flow, cx, state) {
                    Some(step) => step,
                    None => return,
                },
                Step::Call(state) => match self.push_return() {
                    true => match self.enter(&flow, cx, state) {
                        Some(step) => step,
                        None => return,
                    },
                    // Load refuses nesting this deep; hang up rather than lose the way back.
                    false => Step::Hangup,
                },
                Step::Return => match self.pop_return(cx) {
                    true => Step::Done(super::action::DONE),
                    // A `return` outside any sub-flow: nowhere to go back to.
                    false => Step::Hangup,
                },
                Step::Done(outcome) => {
                    self.action += 1;
                    let state = &flow.states[usize::from(self.state)];
                    match state.actions.get(self.action) {
                        Some(action) => {
                            self.call.scratch = Scratch::default();
                            action.enter(&flow, &mut self.call, cx)
                        }
                        // Validation guarantees an exit for every outcome; hang up if not.
                        None => state.exit(outcome).map_or(Step::Hangup, Step::Goto),
                    }
                }
            };
        }
    }

    /// Enters `state`; None when the transition limit stopped the call.
    fn enter(&mut self, flow: &Flow, cx: &mut CallCx, state: StateId) -> Option<Step> {
        self.transitions += 1;
        if self.transitions > flow.max_transitions {
            cx.enter_state(TRANSITION_LIMIT_STATE);
            self.hang_up(cx);
            return None;
        }
        cx.cancel_timer();
        self.state = state;
        self.action = 0;
        self.call.scratch = Scratch::default();
        let state = &flow.states[usize::from(state)];
        cx.enter_state(state.label.as_str());
        Some(match state.actions.first() {
            Some(action) => action.enter(flow, &mut self.call, cx),
            None => state.next.map_or(Step::Hangup, Step::Goto),
        })
    }

    fn push_return(&mut self) -> bool {
        let Some(slot) = self.returns.get_mut(self.depth) else {
            return false;
        };
        *slot = (self.state, self.action);
        self.depth += 1;
        true
    }

    /// Goes back to the latest `call` action (the caller then moves past it); false when none.
    fn pop_return(&mut self, cx: &mut CallCx) -> bool {
        let Some(depth) = self.depth.checked_sub(1) else {
            return false;
        };
        self.depth = depth;
        (self.state, self.action) = self.returns[depth];
        cx.cancel_timer();
        true
    }

    fn hang_up(&mut self, cx: &mut CallCx) {
        self.ended = true;
        // A recording in progress ends with the call; the next call on the channel is not tapped.
        if let Some(recording) = self.call.recording.take() {
            recording.end();
            cx.detach_tap();
        }
        self.call.stop(cx);
        cx.cancel_timer();
        cx.hangup(Cause::NormalClearing);
    }

    /// Hands an event to the running action.
    fn dispatch(
        &mut self,
        cx: &mut CallCx,
        event: impl FnOnce(&Flow, &dyn super::action::Action, &mut IvrCall, &mut CallCx) -> Step,
    ) {
        if self.ended || !cx.is_answered() {
            return;
        }
        let flow = self.flow.clone();
        let Some(action) = flow.states[usize::from(self.state)].actions.get(self.action) else {
            return;
        };
        let step = event(&flow, action.as_ref(), &mut self.call, cx);
        self.run(cx, step);
    }
}

impl App for Ivr {
    fn flow(&self) -> Label {
        Label::from_str_truncating(&self.flow.name)
    }

    fn on_offered(&mut self, cx: &mut CallCx) {
        if self.flow.answer_after_rings == 0 {
            cx.answer();
        }
    }

    fn on_ring(&mut self, cx: &mut CallCx, rings: u32) {
        if rings >= self.flow.answer_after_rings {
            cx.answer();
        }
    }

    fn on_answered(&mut self, cx: &mut CallCx) {
        let start = self.flow.start;
        self.run(cx, Step::Goto(start));
    }

    fn on_digit(&mut self, cx: &mut CallCx, digit: char) {
        self.dispatch(cx, |flow, action, call, cx| {
            action.on_digit(flow, call, cx, digit)
        });
    }

    fn on_prompts_done(&mut self, cx: &mut CallCx) {
        // Prompts held back for room in the play queue go first; the action hears only the end.
        if self.call.refill(cx) {
            return;
        }
        self.dispatch(cx, |flow, action, call, cx| {
            action.on_prompts_done(flow, call, cx)
        });
    }

    fn on_timer(&mut self, cx: &mut CallCx) {
        self.dispatch(cx, |flow, action, call, cx| action.on_timer(flow, call, cx));
    }

    fn wants_audio(&self) -> bool {
        !self.ended && (self.call.fax.is_some() || self.cng.is_some() || self.call.recording.is_some())
    }

    fn on_audio(&mut self, cx: &mut CallCx, rx: &[i16], tx: &mut [i16]) {
        // Only a modem action (fax) and `record` (its silence) listen to the audio; skip the
        // dispatch for every other.
        if self.call.fax.is_none() {
            // With `fax_detect`, a fax calling tone heard anywhere in the flow goes to its state.
            if let (Some(detector), Some(state)) = (self.cng.as_mut(), self.flow.fax_detect) {
                if self.ended || !cx.is_answered() {
                    return;
                }
                detector.process(rx);
                let mut heard_cng = false;
                while let Some(event) = detector.take_event() {
                    heard_cng |= event == ProgressEvent::Cng;
                }
                if heard_cng {
                    detector.reset();
                    self.call.stop(cx);
                    cx.cancel_timer();
                    cx.enter_state("fax_detected");
                    self.run(cx, Step::Goto(state));
                    return;
                }
            }
            if self.call.recording.is_none() {
                return;
            }
        }
        self.dispatch(cx, |flow, action, call, cx| {
            action.on_audio(flow, call, cx, rx, tx)
        });
    }
}
