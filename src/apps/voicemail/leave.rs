//! `voicemail_leave = { box = "${ext}", greeting = "unavailable" }`: the box's greeting (or a
//! default that says the box number), a beep, then the caller's message until `#`, silence or the
//! box's length limit. With `review` on, `#` offers 1 listen, 2 save, 3 record again. A caller
//! who hangs up mid-message keeps the message. Outcomes: `saved`, `too_short`, `full`,
//! `unknown` (no such box or group), `error`.

use std::sync::Arc;

use crate::apps::ivr::action::{Action, IvrCall, ParseCx, Step};
use crate::apps::ivr::tree::Item;
use crate::apps::ivr::vars::Template;
use crate::apps::ivr::{Flow, StateId};
use crate::engine::app::CallCx;
use crate::fixed::Number;

use super::config::Limits;
use super::service::{
    Greeting, Status, TakeKind, Uid, Work, TAKE_DISCARDED, TAKE_FAILED, TAKE_KEPT, TAKE_RUNNING,
};
use super::{keep_reply, play_names, play_script, poll, service, submit, vm_call, TimedOut, POLL_MS};

const SAVED: &str = "saved";
const TOO_SHORT: &str = "too_short";
const FULL: &str = "full";
const UNKNOWN: &str = "unknown";
const ERROR: &str = "error";

// Phases.
const PREPARING: u8 = 0;
const GREETING: u8 = 1;
const BEEP: u8 = 2;
const RECORDING: u8 = 3;
const FINISHING: u8 = 4;
const REVIEW_MENU: u8 = 5;
const REVIEW_WAIT: u8 = 6;
const LISTEN_LOADING: u8 = 7;
const LISTENING: u8 = 8;
const DISCARDING: u8 = 9;
const CLOSING: u8 = 10;
const WAIT_TAKE: u8 = 11;

/// How long the review menu waits for a key, and how often it asks before saving anyway.
const REVIEW_TIMEOUT_MS: u64 = 5000;
const REVIEW_TRIES: u32 = 3;
/// How long a finished message may take the writer (an fsync on a busy disk) before the call
/// moves on with `error` (the message itself is still finished by the writer, or at restart).
const WRITER_TIMEOUT_MS: u64 = 30_000;

#[derive(Debug)]
pub struct Leave {
    box_: Template,
    greeting: Greeting,
}

impl Leave {
    pub fn parse(item: &Item, cx: &mut ParseCx) -> Option<Box<dyn Action>> {
        let entries = cx.table(
            item,
            &["box", "greeting"],
            "{ box = \"100\", greeting = \"unavailable\" }",
        )?;
        let box_ = cx.field(entries, "box", item).and_then(|i| cx.template(i));
        let greeting = match entries.iter().find(|(k, _)| k.get_ref() == "greeting") {
            Some((_, value)) => match cx.string(value, "\"unavailable\" or \"busy\"")? {
                "unavailable" => Greeting::Unavailable,
                "busy" => Greeting::Busy,
                _ => {
                    cx.bad(value, "\"unavailable\" or \"busy\"");
                    return None;
                }
            },
            None => Greeting::Unavailable,
        };
        super::check_prompts(cx, item.span().start);
        Some(Box::new(Leave {
            box_: box_?,
            greeting,
        }))
    }

    /// The limits a message to the box (or the group's first member) is taken with.
    fn limits<'f>(flow: &'f Flow, number: &str) -> Option<&'f Limits> {
        let boxes = &service(flow)?.boxes;
        if let Some(b) = boxes.find(number) {
            return Some(&b.limits);
        }
        let first = boxes.group(number)?.members.first()?;
        boxes.find(first).map(|b| &b.limits)
    }

    fn finish(call: &mut IvrCall, cx: &mut CallCx, outcome: &'static str) -> Step {
        cx.cancel_timer();
        let state = vm_call(call);
        if let Some(take) = state.take.take() {
            take.end();
            cx.detach_tap();
        }
        cx.enter_state(match outcome {
            SAVED => "voicemail:saved",
            TOO_SHORT => "voicemail:too_short",
            FULL => "voicemail:full",
            UNKNOWN => "voicemail:unknown",
            _ => "voicemail:error",
        });
        Step::Done(outcome)
    }

    /// Plays the closing prompts, then finishes with `outcome`.
    fn close(
        flow: &Flow,
        call: &mut IvrCall,
        cx: &mut CallCx,
        outcome: &'static str,
        prompts: &[&str],
    ) -> Step {
        cx.cancel_timer();
        call.stop(cx);
        cx.set_barge_in(false);
        let state = vm_call(call);
        state.phase = CLOSING;
        state.outcome = outcome;
        play_names(flow, call, cx, prompts);
        if call.is_playing(cx) {
            Step::Wait
        } else {
            Self::finish(call, cx, outcome)
        }
    }

    /// The beep; meanwhile the worker makes the recording's ring (no allocation here).
    /// Asks the worker for the recording's ring (no allocation here); the beep plays once it is
    /// ready, so recording starts exactly when the beep ends, however slow the worker.
    fn beep(flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        call.stop(cx);
        cx.set_barge_in(false);
        let number = vm_call(call).box_;
        let Some(limits) = Self::limits(flow, number.as_str()) else {
            return Self::finish(call, cx, UNKNOWN);
        };
        let setup = *cx.setup();
        let work = Work::NewTake {
            call: setup.call,
            called: setup.info.to,
            kind: TakeKind::Message {
                to: number,
                caller: setup.info.from,
                uniqueid: Uid::from_str_truncating(call.vars.get("call_id")),
                min_ms: limits.min_message_ms,
                review: limits.review,
            },
            silence_ms: limits.silence_ms,
            max_ms: u64::from(limits.max_message_s) * 1000,
        };
        if !submit(flow, call, cx, work) {
            return Self::finish(call, cx, ERROR);
        }
        vm_call(call).phase = WAIT_TAKE;
        Step::Wait
    }

    /// The worker's answer to [`Self::beep`]: the beep plays.
    fn got_take(flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        let take = match poll(call, cx) {
            Ok(None) => return Step::Wait,
            Ok(Some(reply)) => reply.take,
            Err(TimedOut) => None,
        };
        let Some(take) = take else {
            return Self::finish(call, cx, ERROR);
        };
        let state = vm_call(call);
        state.take = Some(take);
        state.phase = BEEP;
        play_names(flow, call, cx, &["vm-beep"]);
        if call.is_playing(cx) {
            Step::Wait
        } else {
            Self::record(flow, call, cx)
        }
    }

    /// The beep has played: the tap is attached and the writer starts the file.
    fn record(flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        let (Some(vm), Some(take)) = (service(flow), vm_call(call).take.clone()) else {
            return Self::finish(call, cx, ERROR);
        };
        if !vm.record(take.clone()) {
            vm_call(call).take = None;
            return Self::finish(call, cx, ERROR);
        }
        cx.attach_tap(&take.tap);
        let state = vm_call(call);
        state.phase = RECORDING;
        state.polls = 0;
        state.ended_by_key = false;
        cx.set_timer_ms(POLL_MS);
        Step::Wait
    }

    /// No more audio: wait for the writer to keep or discard the message.
    fn stop_recording(call: &mut IvrCall, cx: &mut CallCx, by_key: bool) -> Step {
        cx.detach_tap();
        let state = vm_call(call);
        if let Some(take) = &state.take {
            take.end();
        }
        state.phase = FINISHING;
        state.ended_by_key = by_key;
        state.polls = 0;
        state.started = std::time::Instant::now();
        cx.set_timer_ms(POLL_MS);
        Step::Wait
    }

    fn review_menu(flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        call.stop(cx);
        cx.set_barge_in(true);
        vm_call(call).phase = REVIEW_MENU;
        play_names(flow, call, cx, &["vm-review"]);
        if !call.is_playing(cx) {
            return Self::review_wait(call, cx);
        }
        Step::Wait
    }

    fn review_wait(call: &mut IvrCall, cx: &mut CallCx) -> Step {
        vm_call(call).phase = REVIEW_WAIT;
        cx.set_timer_ms(REVIEW_TIMEOUT_MS);
        Step::Wait
    }

    fn review_key(flow: &Flow, call: &mut IvrCall, cx: &mut CallCx, digit: char) -> Step {
        cx.cancel_timer();
        call.stop(cx);
        match digit {
            '1' => {
                let id = vm_call(call).take.as_ref().map_or(0, |t| t.message_id());
                // The envelope is not wanted here: only the audio is played.
                let lang = Lang::from_str_truncating(call.vars.get("language"));
                if !submit(flow, call, cx, Work::Message { id, lang }) {
                    return Self::review_menu(flow, call, cx);
                }
                vm_call(call).phase = LISTEN_LOADING;
                Step::Wait
            }
            '2' => Self::close(flow, call, cx, SAVED, &["vm-message-saved-thanks"]),
            '3' => {
                let Some(take) = vm_call(call).take.take() else {
                    return Self::beep(flow, call, cx);
                };
                if !submit(flow, call, cx, Work::DiscardTake { take }) {
                    return Self::finish(call, cx, ERROR);
                }
                vm_call(call).phase = DISCARDING;
                Step::Wait
            }
            _ => Self::review_menu(flow, call, cx),
        }
    }

    fn on_finished(flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        let state = vm_call(call);
        let Some(take) = state.take.clone() else {
            return Self::finish(call, cx, ERROR);
        };
        match take.state() {
            TAKE_RUNNING => {
                // The writer has the file; a writer gone for good must not hold the call forever.
                state.polls = state.polls.saturating_add(1);
                let call_time = u64::from(state.polls) * POLL_MS >= WRITER_TIMEOUT_MS;
                let wall_time = state.started.elapsed().as_millis() >= u128::from(WRITER_TIMEOUT_MS);
                if call_time && wall_time {
                    return Self::finish(call, cx, ERROR);
                }
                cx.set_timer_ms(POLL_MS);
                Step::Wait
            }
            TAKE_KEPT => {
                let review = Self::limits(flow, state.box_.as_str()).is_some_and(|l| l.review);
                if review && state.ended_by_key {
                    return Self::review_menu(flow, call, cx);
                }
                Self::close(flow, call, cx, SAVED, &["vm-message-saved-thanks"])
            }
            TAKE_DISCARDED => {
                vm_call(call).take = None;
                Self::close(flow, call, cx, TOO_SHORT, &["vm-too-short"])
            }
            _ => {
                debug_assert_eq!(take.state(), TAKE_FAILED);
                vm_call(call).take = None;
                Self::finish(call, cx, ERROR)
            }
        }
    }
}

type Lang = super::service::Lang;

impl Action for Leave {
    fn enter(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        let number = self.box_.render(&call.vars);
        let lang = Lang::from_str_truncating(call.vars.get("language"));
        let state = vm_call(call);
        state.reset();
        state.box_ = Number::from_str_truncating(number.as_str());
        state.greeting = self.greeting;
        let work = Work::Prepare {
            box_: state.box_,
            greeting: self.greeting,
            lang,
        };
        if !submit(flow, call, cx, work) {
            return Self::finish(call, cx, ERROR);
        }
        vm_call(call).phase = PREPARING;
        Step::Wait
    }

    fn on_digit(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx, digit: char) -> Step {
        match vm_call(call).phase {
            // Any key skips the greeting.
            GREETING => Self::beep(flow, call, cx),
            RECORDING if digit == '#' => Self::stop_recording(call, cx, true),
            REVIEW_MENU | REVIEW_WAIT | LISTENING => Self::review_key(flow, call, cx, digit),
            _ => Step::Wait,
        }
    }

    fn on_prompts_done(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        match vm_call(call).phase {
            GREETING => Self::beep(flow, call, cx),
            BEEP => Self::record(flow, call, cx),
            REVIEW_MENU => Self::review_wait(call, cx),
            LISTENING => Self::review_menu(flow, call, cx),
            CLOSING => {
                let outcome = vm_call(call).outcome;
                Self::finish(call, cx, outcome)
            }
            _ => Step::Wait,
        }
    }

    fn on_timer(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        match vm_call(call).phase {
            PREPARING => match poll(call, cx) {
                Ok(None) => Step::Wait,
                Err(TimedOut) => Self::finish(call, cx, ERROR),
                Ok(Some(mut reply)) => match reply.status {
                    Status::Ok => {
                        keep_reply(flow, call, &mut reply);
                        vm_call(call).phase = GREETING;
                        cx.set_barge_in(true);
                        play_script(flow, call, cx);
                        if call.is_playing(cx) {
                            Step::Wait
                        } else {
                            Self::beep(flow, call, cx)
                        }
                    }
                    Status::Full => Self::close(flow, call, cx, FULL, &["vm-mailbox-full"]),
                    Status::Unknown => Self::close(flow, call, cx, UNKNOWN, &["vm-no-mailbox"]),
                    _ => Self::finish(call, cx, ERROR),
                },
            },
            RECORDING => {
                let number = vm_call(call).box_;
                let max_ms =
                    Self::limits(flow, number.as_str()).map_or(60_000, |l| u64::from(l.max_message_s) * 1000);
                let state = vm_call(call);
                state.polls = state.polls.saturating_add(1);
                let too_long = u64::from(state.polls) * POLL_MS >= max_ms;
                let silent = state.take.as_ref().is_some_and(|t| t.is_silent());
                if too_long || silent {
                    return Self::stop_recording(call, cx, false);
                }
                cx.set_timer_ms(POLL_MS);
                Step::Wait
            }
            FINISHING => Self::on_finished(flow, call, cx),
            WAIT_TAKE => Self::got_take(flow, call, cx),
            REVIEW_WAIT => {
                let state = vm_call(call);
                state.attempts += 1;
                if state.attempts >= REVIEW_TRIES {
                    return Self::close(flow, call, cx, SAVED, &["vm-message-saved-thanks"]);
                }
                Self::review_menu(flow, call, cx)
            }
            LISTEN_LOADING => match poll(call, cx) {
                Ok(None) => Step::Wait,
                Err(TimedOut) => Self::review_menu(flow, call, cx),
                Ok(Some(mut reply)) => {
                    keep_reply(flow, call, &mut reply);
                    let state = vm_call(call);
                    state.phase = LISTENING;
                    let audio: Option<Arc<crate::voice::Prompt>> = state.audio.clone();
                    cx.set_barge_in(true);
                    match audio {
                        Some(prompt) => {
                            call.play_one(cx, &prompt);
                            Step::Wait
                        }
                        None => Self::review_menu(flow, call, cx),
                    }
                }
            },
            DISCARDING => match poll(call, cx) {
                Ok(None) => Step::Wait,
                Err(TimedOut) => Self::finish(call, cx, ERROR),
                Ok(Some(_)) => Self::beep(flow, call, cx),
            },
            _ => Step::Wait,
        }
    }

    fn waits(&self) -> bool {
        true
    }

    fn outcomes(&self) -> &'static [&'static str] {
        &[SAVED, TOO_SHORT, FULL, UNKNOWN, ERROR]
    }

    fn links(&self) -> Vec<StateId> {
        Vec::new()
    }
}
