//! `recording_review = {}`: a supervisor hears call recordings by phone.
//!
//! Supervisor id then PIN (each ended by `#`; supervisors.toml; a supervisor is locked out for
//! `lockout_s` after `pin_max_failures` wrong PINs in a row, kept in SQLite). Then the search
//! menu: 1 by agent id, 2 by caller number (the whole number or its last digits), # to finish;
//! the number, then the date as YYYYMMDD or 0 for today (the daemon's local day); "N
//! recordings". Each recording (oldest first) is announced — date, time, duration — and played,
//! mixed to mono. Keys while it plays (or after it ends): 1 replay, 3 next, 4 previous (at the
//! first: replay it), 6 forward 10 s, 9 back 10 s (both clamp at the ends), # back to the search
//! menu. A recording gone since the search (retention) is announced as unavailable and skipped.
//! Outcomes `done`, `locked`, `fail` (three wrong logins, no supervisors, no answer, an error).
//!
//! Positions count the call's samples: where a recording is = where it was started from plus the
//! samples played since, so seeking is exact to the block and needs no clock.

use crate::apps::ivr::action::{Action, IvrCall, ParseCx, Step};
use crate::apps::ivr::tree::Item;
use crate::apps::ivr::{Flow, StateId};
use crate::engine::app::CallCx;
use crate::fixed::Number;

use super::service::{By, Job, Lang, Reply, Status, Work};
use super::{service, sup_call, POLL_MS};

const DONE: &str = "done";
const LOCKED: &str = "locked";
const FAIL: &str = "fail";

// Phases.
const ASK_ID: u8 = 0;
const ASK_PIN: u8 = 1;
const LOGGING_IN: u8 = 2;
const SEARCH_MENU: u8 = 3;
const ASK_NUMBER: u8 = 4;
const ASK_DATE: u8 = 5;
const SEARCHING: u8 = 6;
const COUNT: u8 = 7;
const LOADING: u8 = 8;
const ENVELOPE: u8 = 9;
const PLAYING: u8 = 10;
const PLAYER_MENU: u8 = 11;
const NOTICE: u8 = 12;
const CLOSING: u8 = 13;

/// Where a notice leads.
const AFTER_SEARCH_MENU: u8 = 1;
const AFTER_PLAYER_MENU: u8 = 2;
const AFTER_ASK_DATE: u8 = 3;
const AFTER_ASK_NUMBER: u8 = 4;
/// A recording turned out unavailable: on to the next one in the direction of travel.
const AFTER_SKIP: u8 = 5;

/// Key waits, in milliseconds; menus are asked this many times before the call moves on.
const KEY_TIMEOUT_MS: u64 = 5000;
const MENU_TRIES: u32 = 3;
/// Wrong logins in one call before it gives up (the lockout itself is counted by the worker).
const LOGIN_TRIES: u32 = 3;
/// A seek (6, 9): 10 s of samples.
pub const SEEK_SAMPLES: usize = 10 * 8000;
/// How long the worker may take before the call gives up on it.
const WORKER_TIMEOUT_MS: u64 = 10_000;

#[derive(Debug)]
pub struct Review;

impl Review {
    pub fn parse(item: &Item, cx: &mut ParseCx) -> Option<Box<dyn Action>> {
        cx.table(item, &[], "{}")?;
        super::check_prompts(cx, item.span().start);
        Some(Box::new(Review))
    }
}

fn lang(call: &IvrCall) -> Lang {
    Lang::from_str_truncating(call.vars.get("language"))
}

/// Plays prompts in `phase` (barge-in on); an empty play goes straight to its end.
fn say(call: &mut IvrCall, cx: &mut CallCx, flow: &Flow, phase: u8, prompts: &[&str]) -> Step {
    call.stop(cx);
    cx.cancel_timer();
    cx.set_barge_in(true);
    let state = sup_call(call);
    state.phase = phase;
    state.entry.clear();
    for name in prompts {
        if let Some(prompt) = flow.prompt_named(call.language, name) {
            call.play_one(cx, prompt);
        }
    }
    if call.is_playing(cx) {
        Step::Wait
    } else {
        Review.on_prompts_done(flow, call, cx)
    }
}

fn finish(call: &mut IvrCall, cx: &mut CallCx, outcome: &'static str) -> Step {
    cx.cancel_timer();
    call.stop(cx);
    cx.enter_state(match outcome {
        DONE => "recording_review:done",
        LOCKED => "recording_review:locked",
        _ => "recording_review:fail",
    });
    Step::Done(outcome)
}

fn close(call: &mut IvrCall, cx: &mut CallCx, flow: &Flow, outcome: &'static str, prompts: &[&str]) -> Step {
    sup_call(call).outcome = outcome;
    let step = say(call, cx, flow, CLOSING, prompts);
    cx.set_barge_in(false);
    step
}

fn notice(call: &mut IvrCall, cx: &mut CallCx, flow: &Flow, prompt: &str, after: u8) -> Step {
    sup_call(call).after = after;
    say(call, cx, flow, NOTICE, &[prompt])
}

/// Hands work to the worker; false when there is none or its queue is full.
fn submit(flow: &Flow, call: &mut IvrCall, cx: &mut CallCx, work: Work, phase: u8) -> bool {
    let Some(svc) = service(flow) else {
        return false;
    };
    let state = sup_call(call);
    state.seq = state.seq.wrapping_add(1);
    state.polls = 0;
    state.started = std::time::Instant::now();
    let job = Job {
        slot: state.slot.clone(),
        seq: state.seq,
        work,
    };
    if !svc.submit(job) {
        return false;
    }
    state.phase = phase;
    cx.set_timer_ms(POLL_MS);
    true
}

/// The worker's reply if it has come; Err when it took too long (on the call's clock and the
/// wall clock: lockstep runs faster than real time).
fn poll(call: &mut IvrCall, cx: &mut CallCx) -> Result<Option<Reply>, ()> {
    let state = sup_call(call);
    if let Some(reply) = state.slot.take(state.seq) {
        return Ok(Some(reply));
    }
    state.polls = state.polls.saturating_add(1);
    let call_time = u64::from(state.polls) * POLL_MS >= WORKER_TIMEOUT_MS;
    let wall_time = state.started.elapsed() >= std::time::Duration::from_millis(WORKER_TIMEOUT_MS);
    if call_time && wall_time {
        return Err(());
    }
    cx.set_timer_ms(POLL_MS);
    Ok(None)
}

/// Queues the last reply's script.
fn play_script(flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) {
    let state = sup_call(call);
    let (script, len) = (state.script, state.script_len);
    for label in &script[..len] {
        if let Some(prompt) = flow.prompt_named(call.language, label.as_str()) {
            call.play_one(cx, prompt);
        }
    }
}

/// A key of an entry (id, PIN, number, date): true when `#` ended it.
fn entry_key(call: &mut IvrCall, cx: &mut CallCx, digit: char) -> bool {
    call.stop(cx);
    let state = sup_call(call);
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

fn search_menu(call: &mut IvrCall, cx: &mut CallCx, flow: &Flow) -> Step {
    say(call, cx, flow, SEARCH_MENU, &["sup-search-menu"])
}

fn player_menu(call: &mut IvrCall, cx: &mut CallCx, flow: &Flow) -> Step {
    let state = sup_call(call);
    state.base_samples = state.audio.as_ref().map_or(0, |a| a.len_samples());
    state.started_at = cx.now_samples();
    say(call, cx, flow, PLAYER_MENU, &["sup-player-menu"])
}

/// Loads recording `index` of the list.
fn load(call: &mut IvrCall, cx: &mut CallCx, flow: &Flow) -> Step {
    let state = sup_call(call);
    let id = state.ids[state.index.min(state.count.saturating_sub(1))];
    call.stop(cx);
    let work = Work::Load { id, lang: lang(call) };
    if !submit(flow, call, cx, work, LOADING) {
        return finish(call, cx, FAIL);
    }
    Step::Wait
}

/// Plays the current recording from `offset` samples (clamped; at or past its end: the player
/// menu, as when it ends).
fn play_at(call: &mut IvrCall, cx: &mut CallCx, flow: &Flow, offset: usize) -> Step {
    play_at_block(call, cx, flow, offset, 0)
}

/// [`play_at`] from `on_prompts_done`: the engine has mixed this block already, so the recording
/// starts with the next one (positions stay exact to the sample).
fn play_at_next_block(call: &mut IvrCall, cx: &mut CallCx, flow: &Flow, offset: usize) -> Step {
    play_at_block(call, cx, flow, offset, crate::hw::BLOCK_SAMPLES as u64)
}

fn play_at_block(
    call: &mut IvrCall,
    cx: &mut CallCx,
    flow: &Flow,
    offset: usize,
    delay_samples: u64,
) -> Step {
    call.stop(cx);
    cx.cancel_timer();
    let Some(audio) = sup_call(call).audio.clone() else {
        return search_menu(call, cx, flow);
    };
    if offset >= audio.len_samples() {
        return player_menu(call, cx, flow);
    }
    // Keys seek rather than stop the recording: its position is kept by the call's clock.
    cx.set_barge_in(false);
    if !cx.play_from(&audio, offset) {
        return player_menu(call, cx, flow);
    }
    let state = sup_call(call);
    state.phase = PLAYING;
    state.base_samples = offset;
    state.started_at = cx.now_samples() + delay_samples;
    Step::Wait
}

/// Where in the current recording playback is (its length once it has ended).
fn position(call: &mut IvrCall, cx: &CallCx) -> usize {
    let state = sup_call(call);
    let len = state.audio.as_ref().map_or(0, |a| a.len_samples());
    match state.phase {
        PLAYING => {
            let played = cx.now_samples().saturating_sub(state.started_at);
            state.base_samples.saturating_add(played as usize).min(len)
        }
        PLAYER_MENU => len,
        _ => 0,
    }
}

/// A key while a recording is announced, plays, or has ended.
fn player_key(call: &mut IvrCall, cx: &mut CallCx, flow: &Flow, digit: char) -> Step {
    let at = position(call, cx);
    let state = sup_call(call);
    state.attempts = 0;
    match digit {
        '1' => play_at(call, cx, flow, 0),
        '3' => {
            if state.index + 1 >= state.count {
                return notice(call, cx, flow, "sup-no-more", AFTER_PLAYER_MENU);
            }
            state.index += 1;
            state.forward = true;
            load(call, cx, flow)
        }
        '4' => {
            if state.index == 0 {
                return play_at(call, cx, flow, 0);
            }
            state.index -= 1;
            state.forward = false;
            load(call, cx, flow)
        }
        '6' => play_at(call, cx, flow, at.saturating_add(SEEK_SAMPLES)),
        '9' => play_at(call, cx, flow, at.saturating_sub(SEEK_SAMPLES)),
        '#' => search_menu(call, cx, flow),
        // Other keys do nothing while a recording plays.
        _ => Step::Wait,
    }
}

fn after_notice(call: &mut IvrCall, cx: &mut CallCx, flow: &Flow) -> Step {
    let state = sup_call(call);
    let after = std::mem::take(&mut state.after);
    match after {
        AFTER_PLAYER_MENU => player_menu(call, cx, flow),
        AFTER_ASK_DATE => say(call, cx, flow, ASK_DATE, &["sup-enter-date"]),
        AFTER_ASK_NUMBER => say(call, cx, flow, ASK_NUMBER, &["sup-enter-number"]),
        AFTER_SKIP => {
            let next = if state.forward {
                Some(state.index + 1).filter(|&i| i < state.count)
            } else {
                state.index.checked_sub(1)
            };
            match next {
                Some(i) => {
                    state.index = i;
                    load(call, cx, flow)
                }
                None => notice(call, cx, flow, "sup-no-more", AFTER_SEARCH_MENU),
            }
        }
        _ => search_menu(call, cx, flow),
    }
}

fn wrong_login(call: &mut IvrCall, cx: &mut CallCx, flow: &Flow) -> Step {
    let state = sup_call(call);
    state.attempts += 1;
    if state.attempts >= LOGIN_TRIES {
        return close(call, cx, flow, FAIL, &["vm-login-incorrect"]);
    }
    say(call, cx, flow, ASK_ID, &["vm-login-incorrect", "sup-enter-id"])
}

/// Keeps a reply's script and audio; the audio it replaces goes back to the worker.
fn keep_reply(flow: &Flow, call: &mut IvrCall, reply: &mut Reply) {
    let state = sup_call(call);
    state.script = reply.script;
    state.script_len = reply.script_len;
    if let Some(audio) = reply.prompt.take() {
        if let (Some(old), Some(svc)) = (state.audio.replace(audio), service(flow)) {
            svc.release(&state.slot, old);
        }
    }
}

impl Action for Review {
    fn enter(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        let state = sup_call(call);
        state.reset();
        state.service = service(flow).cloned();
        if state.service.is_none() {
            // No supervisors.toml: nobody can log in.
            return close(call, cx, flow, FAIL, &[]);
        }
        say(call, cx, flow, ASK_ID, &["sup-enter-id"])
    }

    fn on_digit(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx, digit: char) -> Step {
        match sup_call(call).phase {
            ASK_ID => {
                if entry_key(call, cx, digit) {
                    let state = sup_call(call);
                    state.id = Number::from_str_truncating(state.entry.as_str());
                    return say(call, cx, flow, ASK_PIN, &["vm-enter-password"]);
                }
                Step::Wait
            }
            ASK_PIN => {
                if entry_key(call, cx, digit) {
                    let state = sup_call(call);
                    let work = Work::Login {
                        id: state.id,
                        pin: Number::from_str_truncating(state.entry.as_str()),
                    };
                    state.entry.clear();
                    if !submit(flow, call, cx, work, LOGGING_IN) {
                        return finish(call, cx, FAIL);
                    }
                }
                Step::Wait
            }
            SEARCH_MENU => {
                call.stop(cx);
                let state = sup_call(call);
                match digit {
                    '1' | '2' => {
                        state.by = if digit == '1' { By::Agent } else { By::Caller };
                        state.attempts = 0;
                        say(call, cx, flow, ASK_NUMBER, &["sup-enter-number"])
                    }
                    '#' => close(call, cx, flow, DONE, &[]),
                    _ => notice(call, cx, flow, "invalid", AFTER_SEARCH_MENU),
                }
            }
            ASK_NUMBER => {
                if entry_key(call, cx, digit) {
                    let state = sup_call(call);
                    if state.entry.is_empty() {
                        return notice(call, cx, flow, "invalid", AFTER_ASK_NUMBER);
                    }
                    state.key = Number::from_str_truncating(state.entry.as_str());
                    return say(call, cx, flow, ASK_DATE, &["sup-enter-date"]);
                }
                Step::Wait
            }
            ASK_DATE => {
                if entry_key(call, cx, digit) {
                    let state = sup_call(call);
                    let work = Work::Search {
                        by: state.by,
                        key: state.key,
                        date: Number::from_str_truncating(state.entry.as_str()),
                        lang: lang(call),
                    };
                    sup_call(call).entry.clear();
                    if !submit(flow, call, cx, work, SEARCHING) {
                        return finish(call, cx, FAIL);
                    }
                }
                Step::Wait
            }
            COUNT => {
                call.stop(cx);
                if digit == '#' {
                    return search_menu(call, cx, flow);
                }
                self.on_prompts_done(flow, call, cx)
            }
            ENVELOPE | PLAYING | PLAYER_MENU => player_key(call, cx, flow, digit),
            NOTICE => after_notice(call, cx, flow),
            _ => Step::Wait,
        }
    }

    fn on_prompts_done(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        match sup_call(call).phase {
            ASK_ID | ASK_PIN | ASK_NUMBER | ASK_DATE | SEARCH_MENU | PLAYER_MENU => {
                cx.set_timer_ms(KEY_TIMEOUT_MS);
                Step::Wait
            }
            COUNT => {
                let state = sup_call(call);
                if state.count == 0 {
                    return search_menu(call, cx, flow);
                }
                state.index = 0;
                state.forward = true;
                load(call, cx, flow)
            }
            ENVELOPE => play_at_next_block(call, cx, flow, 0),
            PLAYING => player_menu(call, cx, flow),
            NOTICE => after_notice(call, cx, flow),
            CLOSING => {
                let outcome = sup_call(call).outcome;
                finish(call, cx, outcome)
            }
            _ => Step::Wait,
        }
    }

    fn on_timer(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        match sup_call(call).phase {
            phase @ (ASK_ID | ASK_PIN | ASK_NUMBER | ASK_DATE) => {
                // An entry in progress counts as ended; none at all is a wasted try.
                if !sup_call(call).entry.is_empty() {
                    return self.on_digit(flow, call, cx, '#');
                }
                let state = sup_call(call);
                state.attempts += 1;
                if state.attempts >= MENU_TRIES {
                    return close(call, cx, flow, FAIL, &["timeout"]);
                }
                let prompt = match phase {
                    ASK_ID => "sup-enter-id",
                    ASK_PIN => "vm-enter-password",
                    ASK_NUMBER => "sup-enter-number",
                    _ => "sup-enter-date",
                };
                say(call, cx, flow, phase, &[prompt])
            }
            phase @ (SEARCH_MENU | PLAYER_MENU) => {
                let state = sup_call(call);
                state.attempts += 1;
                if state.attempts >= MENU_TRIES {
                    state.attempts = 0;
                    return if phase == SEARCH_MENU {
                        close(call, cx, flow, DONE, &[])
                    } else {
                        search_menu(call, cx, flow)
                    };
                }
                let attempts = state.attempts;
                let step = if phase == SEARCH_MENU {
                    search_menu(call, cx, flow)
                } else {
                    player_menu(call, cx, flow)
                };
                sup_call(call).attempts = attempts;
                step
            }
            LOGGING_IN => match poll(call, cx) {
                Ok(None) => Step::Wait,
                Err(()) => finish(call, cx, FAIL),
                Ok(Some(reply)) => match reply.status {
                    Status::Ok => {
                        sup_call(call).attempts = 0;
                        search_menu(call, cx, flow)
                    }
                    Status::Locked => close(call, cx, flow, LOCKED, &["vm-locked"]),
                    Status::BadPin => wrong_login(call, cx, flow),
                    _ => finish(call, cx, FAIL),
                },
            },
            SEARCHING => match poll(call, cx) {
                Ok(None) => Step::Wait,
                Err(()) => finish(call, cx, FAIL),
                Ok(Some(mut reply)) => match reply.status {
                    Status::Ok => {
                        let state = sup_call(call);
                        state.ids = reply.ids;
                        state.count = reply.count;
                        state.index = 0;
                        keep_reply(flow, call, &mut reply);
                        call.stop(cx);
                        cx.set_barge_in(true);
                        sup_call(call).phase = COUNT;
                        play_script(flow, call, cx);
                        if call.is_playing(cx) {
                            Step::Wait
                        } else {
                            self.on_prompts_done(flow, call, cx)
                        }
                    }
                    Status::BadDate => notice(call, cx, flow, "invalid", AFTER_ASK_DATE),
                    _ => finish(call, cx, FAIL),
                },
            },
            LOADING => match poll(call, cx) {
                Ok(None) => Step::Wait,
                Err(()) => finish(call, cx, FAIL),
                Ok(Some(mut reply)) => match reply.status {
                    Status::Ok => {
                        keep_reply(flow, call, &mut reply);
                        call.stop(cx);
                        cx.set_barge_in(true);
                        sup_call(call).phase = ENVELOPE;
                        play_script(flow, call, cx);
                        if call.is_playing(cx) {
                            Step::Wait
                        } else {
                            play_at(call, cx, flow, 0)
                        }
                    }
                    Status::Unavailable => {
                        // Deleted since the search (retention): said, then skipped.
                        let state = sup_call(call);
                        if let (Some(old), Some(svc)) = (state.audio.take(), service(flow)) {
                            svc.release(&state.slot, old);
                        }
                        notice(call, cx, flow, "sup-unavailable", AFTER_SKIP)
                    }
                    _ => finish(call, cx, FAIL),
                },
            },
            _ => Step::Wait,
        }
    }

    fn waits(&self) -> bool {
        true
    }

    fn outcomes(&self) -> &'static [&'static str] {
        &[DONE, LOCKED, FAIL]
    }

    fn links(&self) -> Vec<StateId> {
        Vec::new()
    }
}
