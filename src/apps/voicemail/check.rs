//! `voicemail_check = { box = "${caller}", pin = true }`: retrieval by phone. Without `box` the
//! caller is asked for the box number. Then the PIN (a box locks for `lockout_s` after
//! `pin_max_failures` wrong ones in a row, kept in SQLite, logged), "you have 3 new messages and 2
//! saved messages" in the box's language, and the main menu: 1 messages, 0 mailbox options,
//! # exit. Per message: envelope (caller said as digits, time), then the message; keys 1 replay,
//! 2 save, 3 next, 4 previous, 7 delete, 8 forward to another box, 9 call back (placeholder),
//! * help, # skip. Options: 1/2/3 record the unavailable/busy/name greeting, 4 change the PIN,
//! * back. Every prompt can be interrupted by a key. Outcomes `done`, `locked`, `fail`, `error`.

use crate::apps::ivr::action::{Action, IvrCall, ParseCx, Step};
use crate::apps::ivr::tree::Item;
use crate::apps::ivr::vars::Template;
use crate::apps::ivr::{Flow, StateId};
use crate::engine::app::CallCx;
use crate::fixed::Number;

use super::service::{Act, Greeting, Lang, Status, TakeKind, Work, TAKE_KEPT, TAKE_RUNNING};
use super::{keep_reply, play_names, play_script, poll, service, submit, vm_call, TimedOut, POLL_MS};

const DONE: &str = "done";
const LOCKED: &str = "locked";
const FAIL: &str = "fail";
const ERROR: &str = "error";

// Phases: what the caller is hearing or doing.
const ASK_BOX: u8 = 0;
const ASK_PIN: u8 = 1;
const LOGGING_IN: u8 = 2;
const SUMMARY: u8 = 3;
const MAIN_MENU: u8 = 4;
const LOADING: u8 = 5;
const PLAYING: u8 = 6;
const MSG_MENU: u8 = 7;
const ACTING: u8 = 8;
const ASK_FORWARD: u8 = 9;
const FORWARDING: u8 = 10;
const NOTICE: u8 = 11;
const OPTIONS: u8 = 12;
const GREETING_BEEP: u8 = 13;
const GREETING_RECORDING: u8 = 14;
const GREETING_FINISHING: u8 = 15;
const ASK_NEW_PIN: u8 = 16;
const SETTING_PIN: u8 = 17;
const CLOSING: u8 = 18;
const GREETING_WAIT_TAKE: u8 = 19;

/// Key waits, in milliseconds; menus are asked this many times before the call moves on.
const KEY_TIMEOUT_MS: u64 = 5000;
const MENU_TRIES: u32 = 3;
/// Wrong logins in one call before it gives up (the box's own lockout is counted by the worker).
const LOGIN_TRIES: u32 = 3;
/// Longest greeting.
const GREETING_MAX_MS: u64 = 60_000;
const GREETING_SILENCE_MS: u32 = 3000;
const MIN_PIN_DIGITS: usize = 4;
/// How long a finished greeting may take the writer before the caller is told it failed.
const WRITER_TIMEOUT_MS: u64 = 30_000;

/// Where the message menu goes after a notice ("message saved" …).
const AFTER_NEXT: u8 = 1;
const AFTER_MENU: u8 = 2;
const AFTER_OPTIONS: u8 = 3;
const AFTER_MAIN: u8 = 4;

#[derive(Debug)]
pub struct Check {
    box_: Option<Template>,
    pin: bool,
}

impl Check {
    pub fn parse(item: &Item, cx: &mut ParseCx) -> Option<Box<dyn Action>> {
        let entries = cx.table(item, &["box", "pin"], "{ box = \"${caller}\", pin = true }")?;
        let box_ = match entries.iter().find(|(k, _)| k.get_ref() == "box") {
            Some((_, value)) => Some(cx.template(value)?),
            None => None,
        };
        let pin = match entries.iter().find(|(k, _)| k.get_ref() == "pin") {
            Some((_, value)) => cx.boolean(value)?,
            None => true,
        };
        super::check_prompts(cx, item.span().start);
        Some(Box::new(Check { box_, pin }))
    }

    fn lang(call: &IvrCall) -> Lang {
        Lang::from_str_truncating(call.vars.get("language"))
    }

    /// Plays prompts in `phase` (barge-in on); an empty play goes straight to its end.
    fn say(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx, phase: u8, prompts: &[&str]) -> Step {
        call.stop(cx);
        cx.cancel_timer();
        cx.set_barge_in(true);
        let state = vm_call(call);
        state.phase = phase;
        state.entry.clear();
        play_names(flow, call, cx, prompts);
        if call.is_playing(cx) {
            Step::Wait
        } else {
            self.on_prompts_done(flow, call, cx)
        }
    }

    fn finish(call: &mut IvrCall, cx: &mut CallCx, outcome: &'static str) -> Step {
        cx.cancel_timer();
        let state = vm_call(call);
        if let Some(take) = state.take.take() {
            take.cancel();
            cx.detach_tap();
        }
        cx.enter_state(match outcome {
            DONE => "voicemail_check:done",
            LOCKED => "voicemail_check:locked",
            FAIL => "voicemail_check:fail",
            _ => "voicemail_check:error",
        });
        Step::Done(outcome)
    }

    fn close(
        &self,
        flow: &Flow,
        call: &mut IvrCall,
        cx: &mut CallCx,
        outcome: &'static str,
        prompts: &[&str],
    ) -> Step {
        vm_call(call).outcome = outcome;
        call.stop(cx);
        cx.set_barge_in(false);
        self.say(flow, call, cx, CLOSING, prompts)
    }

    fn ask_box(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        self.say(flow, call, cx, ASK_BOX, &["vm-enter-box"])
    }

    fn ask_pin(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        if !self.pin {
            return self.login(flow, call, cx);
        }
        self.say(flow, call, cx, ASK_PIN, &["vm-enter-password"])
    }

    fn login(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        // The box's language, when the flow has prompts in it.
        let number = vm_call(call).box_;
        let language = service(flow)
            .and_then(|vm| vm.boxes.find(number.as_str()))
            .map(|b| b.limits.language.as_str());
        if let Some(lang) = language {
            if flow.languages().iter().any(|l| l == lang) {
                call.set_var(flow, "language", lang);
            }
        }
        let state = vm_call(call);
        let work = Work::Login {
            box_: state.box_,
            pin: Number::from_str_truncating(state.entry.as_str()),
            check_pin: self.pin,
            lang: Self::lang(call),
        };
        if !submit(flow, call, cx, work) {
            return Self::finish(call, cx, ERROR);
        }
        vm_call(call).phase = LOGGING_IN;
        Step::Wait
    }

    fn main_menu(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        self.say(flow, call, cx, MAIN_MENU, &["vm-main-menu"])
    }

    fn options(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        self.say(flow, call, cx, OPTIONS, &["vm-options"])
    }

    /// Loads message `index` of the list (or says there are no more).
    fn load(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        let state = vm_call(call);
        if state.index >= state.count {
            state.index = state.count.saturating_sub(1);
            return self.notice(flow, call, cx, "vm-no-more", AFTER_MAIN);
        }
        let id = state.ids[state.index];
        if !submit(
            flow,
            call,
            cx,
            Work::Message {
                id,
                lang: Self::lang(call),
            },
        ) {
            return Self::finish(call, cx, ERROR);
        }
        vm_call(call).phase = LOADING;
        Step::Wait
    }

    fn play_message(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        call.stop(cx);
        cx.set_barge_in(true);
        vm_call(call).phase = PLAYING;
        play_script(flow, call, cx);
        if call.is_playing(cx) {
            Step::Wait
        } else {
            self.msg_menu(flow, call, cx)
        }
    }

    fn msg_menu(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        self.say(flow, call, cx, MSG_MENU, &["vm-msg-menu"])
    }

    /// A short notice, then on to `after`.
    fn notice(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx, prompt: &str, after: u8) -> Step {
        vm_call(call).attempts = u32::from(after);
        self.say(flow, call, cx, NOTICE, &[prompt])
    }

    fn after_notice(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        let state = vm_call(call);
        let after = state.attempts as u8;
        state.attempts = 0;
        match after {
            AFTER_NEXT => {
                state.index = state.index.wrapping_add(1);
                self.load(flow, call, cx)
            }
            AFTER_MENU => self.msg_menu(flow, call, cx),
            AFTER_OPTIONS => self.options(flow, call, cx),
            _ => self.main_menu(flow, call, cx),
        }
    }

    fn act(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx, act: Act) -> Step {
        let state = vm_call(call);
        let id = state.ids[state.index.min(state.count.saturating_sub(1))];
        if !submit(flow, call, cx, Work::Act { id, act }) {
            return Self::finish(call, cx, ERROR);
        }
        let state = vm_call(call);
        state.phase = ACTING;
        state.attempts = match act {
            Act::Save => 2,
            Act::Delete => 7,
            _ => 0,
        };
        Step::Wait
    }

    fn msg_key(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx, digit: char) -> Step {
        call.stop(cx);
        cx.cancel_timer();
        match digit {
            '1' => self.play_message(flow, call, cx),
            '2' => self.act(flow, call, cx, Act::Save),
            '3' | '#' => {
                vm_call(call).index += 1;
                self.load(flow, call, cx)
            }
            '4' => {
                let state = vm_call(call);
                if state.index == 0 {
                    return self.notice(flow, call, cx, "invalid", AFTER_MENU);
                }
                state.index -= 1;
                self.load(flow, call, cx)
            }
            '7' => self.act(flow, call, cx, Act::Delete),
            '8' => self.say(flow, call, cx, ASK_FORWARD, &["vm-enter-forward"]),
            '9' => self.notice(flow, call, cx, "vm-callback-soon", AFTER_MENU),
            '*' => self.msg_menu(flow, call, cx),
            _ => self.notice(flow, call, cx, "invalid", AFTER_MENU),
        }
    }

    /// Asks the worker for the greeting's ring; the prompt and beep play once it is ready, so
    /// recording starts exactly when the beep ends.
    fn record_greeting(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx, which: Greeting) -> Step {
        vm_call(call).greeting = which;
        call.stop(cx);
        cx.set_barge_in(false);
        let setup = *cx.setup();
        let work = Work::NewTake {
            call: setup.call,
            called: setup.info.to,
            kind: TakeKind::Greeting {
                box_: vm_call(call).box_,
                which,
            },
            silence_ms: GREETING_SILENCE_MS,
            max_ms: GREETING_MAX_MS,
        };
        if !submit(flow, call, cx, work) {
            return Self::finish(call, cx, ERROR);
        }
        vm_call(call).phase = GREETING_WAIT_TAKE;
        Step::Wait
    }

    fn got_greeting_take(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
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
        state.phase = GREETING_BEEP;
        play_names(flow, call, cx, &["vm-record-after-tone", "vm-beep"]);
        if call.is_playing(cx) {
            Step::Wait
        } else {
            self.start_greeting(flow, call, cx)
        }
    }

    /// The beep has played: the tap is attached and the writer starts the file.
    fn start_greeting(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        let (Some(vm), Some(take)) = (service(flow), vm_call(call).take.clone()) else {
            return Self::finish(call, cx, ERROR);
        };
        if !vm.record(take.clone()) {
            vm_call(call).take = None;
            return self.notice(flow, call, cx, "invalid", AFTER_OPTIONS);
        }
        cx.attach_tap(&take.tap);
        let state = vm_call(call);
        state.phase = GREETING_RECORDING;
        state.polls = 0;
        cx.set_timer_ms(POLL_MS);
        Step::Wait
    }

    fn stop_greeting(call: &mut IvrCall, cx: &mut CallCx) -> Step {
        cx.detach_tap();
        let state = vm_call(call);
        if let Some(take) = &state.take {
            take.end();
        }
        state.phase = GREETING_FINISHING;
        state.polls = 0;
        state.started = std::time::Instant::now();
        cx.set_timer_ms(POLL_MS);
        Step::Wait
    }

    /// A key of a digit entry (box, PIN, forward target, new PIN): true when `#` ended it.
    fn entry_key(call: &mut IvrCall, cx: &mut CallCx, digit: char) -> bool {
        call.stop(cx);
        let state = vm_call(call);
        if digit == '#' {
            cx.cancel_timer();
            return true;
        }
        if digit.is_ascii_digit() {
            state.entry.push(digit);
        }
        cx.set_timer_ms(KEY_TIMEOUT_MS);
        false
    }

    fn wrong_login(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        let state = vm_call(call);
        state.attempts += 1;
        if state.attempts >= LOGIN_TRIES {
            return self.close(flow, call, cx, FAIL, &["vm-login-incorrect", "goodbye"]);
        }
        call.stop(cx);
        let next = if self.box_.is_some() { ASK_PIN } else { ASK_BOX };
        let prompt = if next == ASK_PIN {
            "vm-enter-password"
        } else {
            "vm-enter-box"
        };
        self.say(flow, call, cx, next, &["vm-login-incorrect", prompt])
    }
}

impl Action for Check {
    fn enter(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        let number = self.box_.as_ref().map(|t| t.render(&call.vars));
        let state = vm_call(call);
        state.reset();
        match number {
            Some(n) => {
                state.box_ = Number::from_str_truncating(n.as_str());
                self.ask_pin(flow, call, cx)
            }
            None => self.ask_box(flow, call, cx),
        }
    }

    fn on_digit(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx, digit: char) -> Step {
        match vm_call(call).phase {
            ASK_BOX => {
                if Self::entry_key(call, cx, digit) {
                    let state = vm_call(call);
                    state.box_ = Number::from_str_truncating(state.entry.as_str());
                    state.entry.clear();
                    return self.ask_pin(flow, call, cx);
                }
                Step::Wait
            }
            ASK_PIN => {
                if Self::entry_key(call, cx, digit) {
                    return self.login(flow, call, cx);
                }
                Step::Wait
            }
            SUMMARY | MAIN_MENU => {
                call.stop(cx);
                match digit {
                    '1' => {
                        let state = vm_call(call);
                        if state.count == 0 {
                            return self.notice(flow, call, cx, "vm-no-messages", AFTER_MAIN);
                        }
                        state.index = 0;
                        self.load(flow, call, cx)
                    }
                    '0' => self.options(flow, call, cx),
                    '#' => self.close(flow, call, cx, DONE, &["goodbye"]),
                    '*' => self.main_menu(flow, call, cx),
                    _ => self.notice(flow, call, cx, "invalid", AFTER_MAIN),
                }
            }
            PLAYING | MSG_MENU => self.msg_key(flow, call, cx, digit),
            ASK_FORWARD => {
                if Self::entry_key(call, cx, digit) {
                    let to = Number::from_str_truncating(vm_call(call).entry.as_str());
                    let state = vm_call(call);
                    let id = state.ids[state.index.min(state.count.saturating_sub(1))];
                    if !submit(
                        flow,
                        call,
                        cx,
                        Work::Act {
                            id,
                            act: Act::Forward(to),
                        },
                    ) {
                        return Self::finish(call, cx, ERROR);
                    }
                    vm_call(call).phase = FORWARDING;
                }
                Step::Wait
            }
            NOTICE => self.after_notice(flow, call, cx),
            OPTIONS => {
                call.stop(cx);
                match digit {
                    '1' => self.record_greeting(flow, call, cx, Greeting::Unavailable),
                    '2' => self.record_greeting(flow, call, cx, Greeting::Busy),
                    '3' => self.record_greeting(flow, call, cx, Greeting::Name),
                    '4' => self.say(flow, call, cx, ASK_NEW_PIN, &["vm-new-password"]),
                    '*' | '#' => self.main_menu(flow, call, cx),
                    _ => self.notice(flow, call, cx, "invalid", AFTER_OPTIONS),
                }
            }
            GREETING_RECORDING if digit == '#' => Self::stop_greeting(call, cx),
            ASK_NEW_PIN => {
                if Self::entry_key(call, cx, digit) {
                    let state = vm_call(call);
                    if state.entry.len() < MIN_PIN_DIGITS {
                        return self.notice(flow, call, cx, "invalid", AFTER_OPTIONS);
                    }
                    let work = Work::SetPin {
                        box_: state.box_,
                        pin: Number::from_str_truncating(state.entry.as_str()),
                    };
                    state.entry.clear();
                    if !submit(flow, call, cx, work) {
                        return Self::finish(call, cx, ERROR);
                    }
                    vm_call(call).phase = SETTING_PIN;
                }
                Step::Wait
            }
            _ => Step::Wait,
        }
    }

    fn on_prompts_done(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        match vm_call(call).phase {
            ASK_BOX | ASK_PIN | ASK_FORWARD | ASK_NEW_PIN => {
                cx.set_timer_ms(KEY_TIMEOUT_MS);
                Step::Wait
            }
            SUMMARY => self.main_menu(flow, call, cx),
            MAIN_MENU | MSG_MENU | OPTIONS => {
                cx.set_timer_ms(KEY_TIMEOUT_MS);
                Step::Wait
            }
            PLAYING => {
                // Heard: marked without waiting for the answer.
                let state = vm_call(call);
                let id = state.ids[state.index.min(state.count.saturating_sub(1))];
                if let Some(vm) = service(flow) {
                    let _ = vm.submit(super::service::Job {
                        slot: state.slot.clone(),
                        seq: state.seq.wrapping_add(1_000_000),
                        work: Work::Act { id, act: Act::Heard },
                    });
                }
                self.msg_menu(flow, call, cx)
            }
            NOTICE => self.after_notice(flow, call, cx),
            GREETING_BEEP => self.start_greeting(flow, call, cx),
            CLOSING => {
                let outcome = vm_call(call).outcome;
                Self::finish(call, cx, outcome)
            }
            _ => Step::Wait,
        }
    }

    fn on_timer(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        match vm_call(call).phase {
            ASK_BOX | ASK_PIN | ASK_FORWARD | ASK_NEW_PIN => {
                // No entry: an entry in progress counts as ended; none at all is a wrong try.
                let phase = vm_call(call).phase;
                if vm_call(call).entry.is_empty() {
                    let state = vm_call(call);
                    state.attempts += 1;
                    if state.attempts >= MENU_TRIES {
                        return self.close(flow, call, cx, FAIL, &["timeout", "goodbye"]);
                    }
                    let prompt = match phase {
                        ASK_BOX => "vm-enter-box",
                        ASK_PIN => "vm-enter-password",
                        ASK_FORWARD => "vm-enter-forward",
                        _ => "vm-new-password",
                    };
                    let attempts = vm_call(call).attempts;
                    let step = self.say(flow, call, cx, phase, &[prompt]);
                    vm_call(call).attempts = attempts;
                    return step;
                }
                self.on_digit(flow, call, cx, '#')
            }
            LOGGING_IN => match poll(call, cx) {
                Ok(None) => Step::Wait,
                Err(TimedOut) => Self::finish(call, cx, ERROR),
                Ok(Some(mut reply)) => match reply.status {
                    Status::Ok => {
                        let state = vm_call(call);
                        state.ids = reply.ids;
                        state.count = reply.count;
                        state.index = 0;
                        state.attempts = 0;
                        keep_reply(flow, call, &mut reply);
                        call.stop(cx);
                        cx.set_barge_in(true);
                        vm_call(call).phase = SUMMARY;
                        play_script(flow, call, cx);
                        if call.is_playing(cx) {
                            Step::Wait
                        } else {
                            self.main_menu(flow, call, cx)
                        }
                    }
                    Status::Locked => self.close(flow, call, cx, LOCKED, &["vm-locked", "goodbye"]),
                    Status::BadPin | Status::Unknown | Status::NoPin => self.wrong_login(flow, call, cx),
                    _ => Self::finish(call, cx, ERROR),
                },
            },
            MAIN_MENU | MSG_MENU | OPTIONS => {
                let state = vm_call(call);
                state.attempts += 1;
                if state.attempts >= MENU_TRIES {
                    return self.close(flow, call, cx, DONE, &["goodbye"]);
                }
                let attempts = state.attempts;
                let step = match state.phase {
                    MAIN_MENU => self.main_menu(flow, call, cx),
                    MSG_MENU => self.msg_menu(flow, call, cx),
                    _ => self.options(flow, call, cx),
                };
                vm_call(call).attempts = attempts;
                step
            }
            LOADING => match poll(call, cx) {
                Ok(None) => Step::Wait,
                Err(TimedOut) => Self::finish(call, cx, ERROR),
                Ok(Some(mut reply)) => {
                    if reply.status != Status::Ok {
                        // Deleted meanwhile (e.g. by `telvox vm delete`): on to the next.
                        vm_call(call).index += 1;
                        return self.load(flow, call, cx);
                    }
                    keep_reply(flow, call, &mut reply);
                    self.play_message(flow, call, cx)
                }
            },
            ACTING => match poll(call, cx) {
                Ok(None) => Step::Wait,
                Err(TimedOut) => Self::finish(call, cx, ERROR),
                Ok(Some(_)) => {
                    let state = vm_call(call);
                    let what = state.attempts;
                    state.attempts = 0;
                    if what == 7 {
                        // The list closes over the deleted message.
                        let i = state.index.min(state.count.saturating_sub(1));
                        state.ids.copy_within(i + 1..state.count, i);
                        state.count -= 1;
                        state.index = i.wrapping_sub(1);
                        return self.notice(flow, call, cx, "vm-message-deleted", AFTER_NEXT);
                    }
                    self.notice(flow, call, cx, "vm-message-saved", AFTER_NEXT)
                }
            },
            FORWARDING => match poll(call, cx) {
                Ok(None) => Step::Wait,
                Err(TimedOut) => Self::finish(call, cx, ERROR),
                Ok(Some(reply)) if reply.status == Status::Ok => {
                    self.notice(flow, call, cx, "vm-forwarded", AFTER_MENU)
                }
                Ok(Some(reply)) if reply.status == Status::Full => {
                    self.notice(flow, call, cx, "vm-mailbox-full", AFTER_MENU)
                }
                Ok(Some(_)) => self.notice(flow, call, cx, "vm-no-mailbox", AFTER_MENU),
            },
            GREETING_WAIT_TAKE => self.got_greeting_take(flow, call, cx),
            GREETING_RECORDING => {
                let state = vm_call(call);
                state.polls = state.polls.saturating_add(1);
                let too_long = u64::from(state.polls) * POLL_MS >= GREETING_MAX_MS;
                let silent = state.take.as_ref().is_some_and(|t| t.is_silent());
                if too_long || silent {
                    return Self::stop_greeting(call, cx);
                }
                cx.set_timer_ms(POLL_MS);
                Step::Wait
            }
            GREETING_FINISHING => {
                let state = vm_call(call);
                let kept = match state.take.as_ref().map(|t| t.state()) {
                    Some(TAKE_RUNNING) => {
                        // A writer gone for good must not hold the call forever.
                        state.polls = state.polls.saturating_add(1);
                        let call_time = u64::from(state.polls) * POLL_MS >= WRITER_TIMEOUT_MS;
                        let wall_time = state.started.elapsed().as_millis() >= u128::from(WRITER_TIMEOUT_MS);
                        if !(call_time && wall_time) {
                            cx.set_timer_ms(POLL_MS);
                            return Step::Wait;
                        }
                        false
                    }
                    Some(TAKE_KEPT) => true,
                    _ => false,
                };
                state.take = None;
                let prompt = if kept { "vm-greeting-saved" } else { "vm-too-short" };
                self.notice(flow, call, cx, prompt, AFTER_OPTIONS)
            }
            SETTING_PIN => match poll(call, cx) {
                Ok(None) => Step::Wait,
                Err(TimedOut) => Self::finish(call, cx, ERROR),
                Ok(Some(reply)) if reply.status == Status::Ok => {
                    self.notice(flow, call, cx, "vm-password-changed", AFTER_OPTIONS)
                }
                Ok(Some(_)) => self.notice(flow, call, cx, "invalid", AFTER_OPTIONS),
            },
            _ => Step::Wait,
        }
    }

    fn waits(&self) -> bool {
        true
    }

    fn outcomes(&self) -> &'static [&'static str] {
        &[DONE, LOCKED, FAIL, ERROR]
    }

    fn links(&self) -> Vec<StateId> {
        Vec::new()
    }
}
