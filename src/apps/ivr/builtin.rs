//! The actions telvox ships with: `play`, `say`, `collect`, `menu`, `set`, `branch`, `goto`,
//! `hangup`. Each is a small state machine over [`IvrCall::scratch`].

use crate::apps::say::{self, Language};
use crate::engine::app::CallCx;

use super::action::{Action, ActionKind, IvrCall, ParseCx, PromptList, Step, DONE};
use super::flow::{Flow, StateId};
use super::tree::{Item, Node};
use super::vars::{Cond, Expr, Template};

/// The registry's starting set.
pub(super) const KINDS: &[ActionKind] = &[
    ActionKind {
        key: "play",
        parse: Play::parse,
    },
    ActionKind {
        key: "say",
        parse: Say::parse,
    },
    ActionKind {
        key: "collect",
        parse: Collect::parse,
    },
    ActionKind {
        key: "menu",
        parse: Menu::parse,
    },
    ActionKind {
        key: "set",
        parse: Set::parse,
    },
    ActionKind {
        key: "branch",
        parse: Branch::parse,
    },
    ActionKind {
        key: "goto",
        parse: Goto::parse,
    },
    ActionKind {
        key: "hangup",
        parse: Hangup::parse,
    },
];

/// Bounds on timeouts, retries and digit counts a flow may ask for.
const TIMEOUT_MS: std::ops::RangeInclusive<i64> = 500..=60_000;
const RETRIES: std::ops::RangeInclusive<i64> = 0..=9;
const DIGITS: std::ops::RangeInclusive<i64> = 1..=64;
/// Menu options at most: one per DTMF key.
const MAX_OPTIONS: usize = 16;
/// Arms in one `branch`, and entries in one `set`.
const MAX_ARMS: usize = 32;

fn key_of(item: &Item) -> Option<char> {
    match item.get_ref() {
        Node::Str(text) => {
            let mut chars = text.chars();
            let key = chars.next()?;
            (chars.next().is_none() && "0123456789*#ABCD".contains(key)).then_some(key)
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------------
// play

/// `play = ["a", "b"]` or `play = { prompts = [...], barge_in = false }`: plays, then done. A key
/// pressed during a barge-in prompt stops it and is kept for the next `collect` or `menu`.
#[derive(Debug)]
struct Play {
    prompts: PromptList,
    barge_in: bool,
}

impl Play {
    fn parse(item: &Item, cx: &mut ParseCx) -> Option<Box<dyn Action>> {
        if let Node::Table(_) = item.get_ref() {
            let entries = cx.table(item, &["prompts", "barge_in"], "{ prompts = [\"welcome\"] }")?;
            let prompts = cx.field(entries, "prompts", item).and_then(|i| cx.prompts(i));
            let barge_in = match entries.iter().find(|(k, _)| k.get_ref() == "barge_in") {
                Some((_, value)) => cx.boolean(value)?,
                None => true,
            };
            return Some(Box::new(Play {
                prompts: prompts?,
                barge_in,
            }));
        }
        let prompts = cx.prompts(item)?;
        Some(Box::new(Play {
            prompts,
            barge_in: true,
        }))
    }
}

impl Action for Play {
    fn enter(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        cx.set_barge_in(self.barge_in);
        call.play(flow, cx, &self.prompts);
        if call.is_playing(cx) {
            Step::Wait
        } else {
            Step::Done(DONE)
        }
    }

    fn on_digit(&self, _flow: &Flow, call: &mut IvrCall, cx: &mut CallCx, digit: char) -> Step {
        if !self.barge_in {
            return Step::Wait;
        }
        call.type_ahead.push(digit);
        call.stop(cx);
        Step::Done(DONE)
    }

    fn on_prompts_done(&self, _flow: &Flow, _call: &mut IvrCall, _cx: &mut CallCx) -> Step {
        Step::Done(DONE)
    }

    fn waits(&self) -> bool {
        // An empty list finishes at once: it must not hide a busy loop from the cycle check.
        !self.prompts.is_empty()
    }

    fn outcomes(&self) -> &'static [&'static str] {
        &[DONE]
    }

    fn links(&self) -> Vec<StateId> {
        Vec::new()
    }
}

// ---------------------------------------------------------------------------------------------------
// say

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SayAs {
    Digits,
    Number,
    Money,
    Date,
    Time,
}

/// `say = { value = "${account}", as = "digits" }` in the call's language (en, zh, ko), then done.
/// Money is in minor units (cents, fen, jeon), dates `YYYY-MM-DD`, times `HH:MM`. A value that
/// cannot be said is skipped rather than said wrong.
#[derive(Debug)]
struct Say {
    value: Template,
    as_: SayAs,
}

impl Say {
    fn parse(item: &Item, cx: &mut ParseCx) -> Option<Box<dyn Action>> {
        let entries = cx.table(
            item,
            &["value", "as"],
            "{ value = \"${digits}\", as = \"digits\" }",
        )?;
        let value = cx.field(entries, "value", item).and_then(|i| cx.template(i));
        let as_item = cx.field(entries, "as", item)?;
        let as_ = match cx.string(
            as_item,
            "one of \"digits\", \"number\", \"money\", \"date\", \"time\"",
        )? {
            "digits" => SayAs::Digits,
            "number" => SayAs::Number,
            "money" => SayAs::Money,
            "date" => SayAs::Date,
            "time" => SayAs::Time,
            _ => {
                cx.bad(
                    as_item,
                    "one of \"digits\", \"number\", \"money\", \"date\", \"time\"",
                );
                return None;
            }
        };
        for language in cx.languages {
            if Language::from_code(language).is_err() {
                let message = format!(
                    "{}: numbers cannot be said in language {language}: en, zh and ko can",
                    cx.what
                );
                cx.error(item.span().start, message);
            }
        }
        Some(Box::new(Say { value: value?, as_ }))
    }

    fn names(&self, lang: Language, value: &str) -> Option<Vec<String>> {
        let number = || value.trim().parse::<i64>().ok();
        match self.as_ {
            SayAs::Digits => say::say_digits(lang, value).ok(),
            SayAs::Number => Some(say::say_number(lang, number()?)),
            SayAs::Money => Some(say::say_money(lang, number()?)),
            SayAs::Date => {
                let mut parts = value.trim().splitn(3, '-').map(|p| p.parse::<i32>().ok());
                let (year, month, day) = (parts.next()??, parts.next()??, parts.next()??);
                say::say_date(
                    lang,
                    year,
                    u8::try_from(month).ok()?,
                    u8::try_from(day).ok()?,
                    None,
                )
                .ok()
            }
            SayAs::Time => {
                let (hour, minute) = value.trim().split_once(':')?;
                say::say_time(lang, hour.parse().ok()?, minute.parse().ok()?).ok()
            }
        }
    }
}

impl Action for Say {
    fn enter(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        cx.set_barge_in(false);
        let value = self.value.render(&call.vars);
        let names = Language::from_code(&flow.languages()[call.language])
            .ok()
            .and_then(|lang| self.names(lang, value.as_str()))
            .unwrap_or_default();
        for name in &names {
            if let Some(prompt) = flow.prompt_named(call.language, name) {
                call.play_one(cx, prompt);
            }
        }
        if call.is_playing(cx) {
            Step::Wait
        } else {
            Step::Done(DONE)
        }
    }

    fn on_prompts_done(&self, _flow: &Flow, _call: &mut IvrCall, _cx: &mut CallCx) -> Step {
        Step::Done(DONE)
    }

    fn waits(&self) -> bool {
        true
    }

    fn outcomes(&self) -> &'static [&'static str] {
        &[DONE]
    }

    fn links(&self) -> Vec<StateId> {
        Vec::new()
    }
}

// ---------------------------------------------------------------------------------------------------
// Asking for keys: the retry loop `collect` and `menu` share

/// Phases of an ask, kept in `Scratch::phase`.
const ASKING: u8 = 0;
const WAITING: u8 = 1;
const COMPLAINING: u8 = 2;
const GIVING_UP: u8 = 3;

/// Prompts, timeouts and retries of a question to the caller.
#[derive(Debug)]
struct Ask {
    prompts: PromptList,
    first_timeout_ms: u64,
    retries: u32,
    invalid: PromptList,
    no_input: PromptList,
}

const ASK_KEYS: &[&str] = &[
    "prompts",
    "timeout_ms",
    "first_timeout_ms",
    "retries",
    "invalid",
    "no_input",
];

impl Ask {
    fn parse(
        entries: &[(super::tree::Key, Item)],
        item: &Item,
        cx: &mut ParseCx,
        timeout_key: &str,
    ) -> Option<Ask> {
        let get = |key: &str| entries.iter().find(|(k, _)| k.get_ref() == key).map(|(_, i)| i);
        let prompts = cx.field(entries, "prompts", item).and_then(|i| cx.prompts(i));
        let timeout = get(timeout_key).map(|i| cx.int(i, TIMEOUT_MS, "milliseconds"));
        let retries = get("retries").map(|i| cx.int(i, RETRIES, "retries"));
        let invalid = get("invalid").map(|i| cx.prompts(i));
        let no_input = get("no_input").map(|i| cx.prompts(i));
        Some(Ask {
            prompts: prompts?,
            first_timeout_ms: timeout.unwrap_or(Some(5000))? as u64,
            retries: retries.unwrap_or(Some(2))? as u32,
            invalid: invalid.unwrap_or(Some(Vec::new()))?,
            no_input: no_input.unwrap_or(Some(Vec::new()))?,
        })
    }

    /// Plays the question, consuming type-ahead keys through `on_key`.
    fn start(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) {
        call.scratch.phase = ASKING;
        call.scratch.entry.clear();
        cx.set_barge_in(true);
        call.play(flow, cx, &self.prompts);
        if !call.is_playing(cx) {
            self.wait(call, cx, self.first_timeout_ms);
        }
    }

    fn wait(&self, call: &mut IvrCall, cx: &mut CallCx, timeout_ms: u64) {
        call.scratch.phase = WAITING;
        cx.set_timer_ms(timeout_ms);
    }

    /// A failed attempt: complain, then ask again or give up.
    fn fail(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx, no_input: bool) -> bool {
        cx.cancel_timer();
        call.stop(cx);
        call.scratch.attempts += 1;
        let last = call.scratch.attempts > self.retries;
        call.scratch.phase = if last { GIVING_UP } else { COMPLAINING };
        cx.set_barge_in(false);
        call.play(flow, cx, if no_input { &self.no_input } else { &self.invalid });
        if !call.is_playing(cx) {
            return self.after_complaint(flow, call, cx);
        }
        false
    }

    /// The complaint has played; true when it is time to give up.
    fn after_complaint(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> bool {
        if call.scratch.phase == GIVING_UP {
            return true;
        }
        self.start(flow, call, cx);
        false
    }

    fn accepting_keys(call: &IvrCall) -> bool {
        matches!(call.scratch.phase, ASKING | WAITING)
    }
}

// ---------------------------------------------------------------------------------------------------
// menu

/// `menu = { prompts, options = { "1" = "state" }, timeout_ms, retries, invalid, no_input,
/// fallback }`: one key picks a state; a wrong key or silence complains and asks again, up to
/// `retries` more times, then `fallback`. Always leaves by `Goto`.
#[derive(Debug)]
struct Menu {
    ask: Ask,
    options: Vec<(char, StateId)>,
    fallback: StateId,
}

impl Menu {
    fn parse(item: &Item, cx: &mut ParseCx) -> Option<Box<dyn Action>> {
        let allowed: Vec<&str> = ASK_KEYS
            .iter()
            .copied()
            .filter(|k| *k != "first_timeout_ms")
            .chain(["options", "fallback"])
            .collect();
        let entries = cx.table(
            item,
            &allowed,
            "{ prompts = [\"menu\"], options = { \"1\" = \"next\" }, fallback = \"goodbye\" }",
        )?;
        let ask = Ask::parse(entries, item, cx, "timeout_ms");
        let options = cx
            .field(entries, "options", item)
            .and_then(|i| Self::options(i, cx));
        let fallback = cx.field(entries, "fallback", item).and_then(|i| cx.state(i));
        Some(Box::new(Menu {
            ask: ask?,
            options: options?,
            fallback: fallback?,
        }))
    }

    fn options(item: &Item, cx: &mut ParseCx) -> Option<Vec<(char, StateId)>> {
        let Node::Table(entries) = item.get_ref() else {
            cx.bad(item, "a table of key = state, e.g. { \"1\" = \"balance\" }");
            return None;
        };
        if entries.is_empty() || entries.len() > MAX_OPTIONS {
            cx.bad(item, &format!("1 to {MAX_OPTIONS} options"));
            return None;
        }
        let mut options = Vec::new();
        let mut ok = true;
        for (key, target) in entries {
            let key_item = Item::new(key.span(), Node::Str(key.get_ref().clone()));
            let digit = key_of(&key_item);
            if digit.is_none() {
                let message = format!(
                    "{}: option `{}` is not one key: use 0-9, *, # or A-D",
                    cx.what,
                    key.get_ref()
                );
                cx.error(key.span().start, message);
            }
            match (digit, cx.state(target)) {
                (Some(digit), Some(state)) => options.push((digit, state)),
                _ => ok = false,
            }
        }
        ok.then_some(options)
    }
}

impl Action for Menu {
    fn enter(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        self.ask.start(flow, call, cx);
        match call.type_ahead.as_str().chars().next() {
            Some(key) => {
                call.type_ahead.clear();
                self.on_digit(flow, call, cx, key)
            }
            None => Step::Wait,
        }
    }

    fn on_digit(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx, digit: char) -> Step {
        if !Ask::accepting_keys(call) {
            return Step::Wait;
        }
        cx.cancel_timer();
        if let Some((_, state)) = self.options.iter().find(|(key, _)| *key == digit) {
            call.stop(cx);
            call.vars.set("digits", digit.encode_utf8(&mut [0; 4]));
            return Step::Goto(*state);
        }
        self.give_up_if(self.ask.fail(flow, call, cx, false))
    }

    fn on_prompts_done(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        match call.scratch.phase {
            ASKING => {
                self.ask.wait(call, cx, self.ask.first_timeout_ms);
                Step::Wait
            }
            COMPLAINING | GIVING_UP => self.give_up_if(self.ask.after_complaint(flow, call, cx)),
            _ => Step::Wait,
        }
    }

    fn on_timer(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        if call.scratch.phase != WAITING {
            return Step::Wait;
        }
        self.give_up_if(self.ask.fail(flow, call, cx, true))
    }

    fn waits(&self) -> bool {
        true
    }

    fn outcomes(&self) -> &'static [&'static str] {
        &[]
    }

    fn links(&self) -> Vec<StateId> {
        self.options
            .iter()
            .map(|(_, s)| *s)
            .chain([self.fallback])
            .collect()
    }
}

impl Menu {
    fn give_up_if(&self, give_up: bool) -> Step {
        if give_up {
            Step::Goto(self.fallback)
        } else {
            Step::Wait
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// collect

/// `collect = { prompts, min, max, terminator, first_timeout_ms, inter_timeout_ms, retries,
/// invalid, no_input, into }`: keys until the terminator, `max` keys or the inter-digit timeout.
/// Outcome `complete` (the keys, without terminator, in `digits` and in `into`) or `fail` when the
/// retries are used up.
#[derive(Debug)]
struct Collect {
    ask: Ask,
    min: usize,
    max: usize,
    terminator: Option<char>,
    inter_timeout_ms: u64,
    into: Option<String>,
}

const COMPLETE: &str = "complete";
const FAIL: &str = "fail";

impl Collect {
    fn parse(item: &Item, cx: &mut ParseCx) -> Option<Box<dyn Action>> {
        let allowed: Vec<&str> = ASK_KEYS
            .iter()
            .copied()
            .filter(|k| *k != "timeout_ms")
            .chain(["min", "max", "terminator", "inter_timeout_ms", "into"])
            .collect();
        let entries = cx.table(
            item,
            &allowed,
            "{ prompts = [\"enter-account\"], max = 10, into = \"account\" }",
        )?;
        let get = |key: &str| entries.iter().find(|(k, _)| k.get_ref() == key).map(|(_, i)| i);
        let ask = Ask::parse(entries, item, cx, "first_timeout_ms");
        let min = get("min").map_or(Some(1), |i| cx.int(i, DIGITS, "digits"));
        let max = cx
            .field(entries, "max", item)
            .and_then(|i| cx.int(i, DIGITS, "digits"));
        let terminator = match get("terminator") {
            None => Some(Some('#')),
            Some(i) if matches!(i.get_ref(), Node::Str(s) if s.is_empty()) => Some(None),
            Some(i) => match key_of(i) {
                Some(key) => Some(Some(key)),
                None => {
                    cx.bad(i, "one key (\"#\", \"*\") or \"\" for none");
                    None
                }
            },
        };
        let inter = get("inter_timeout_ms").map_or(Some(3000), |i| cx.int(i, TIMEOUT_MS, "milliseconds"));
        let into = match get("into") {
            Some(i) => {
                let name = cx.string(i, "a variable name in quotes")?.to_owned();
                cx.sets_var(&name, i.span().start).then_some(Some(name))
            }
            None => Some(None),
        };
        cx.sets_var("digits", item.span().start);
        let (min, max) = (min? as usize, max? as usize);
        if min > max {
            let message = format!("{}: min = {min} is more than max = {max}", cx.what);
            cx.error(item.span().start, message);
            return None;
        }
        Some(Box::new(Collect {
            ask: ask?,
            min,
            max,
            terminator: terminator?,
            inter_timeout_ms: inter? as u64,
            into: into?,
        }))
    }

    /// The entry is over: complete, or a failed attempt.
    fn finish(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        cx.cancel_timer();
        let len = call.scratch.entry.len();
        if (self.min..=self.max).contains(&len) {
            call.stop(cx);
            let entry = call.scratch.entry;
            call.vars.set("digits", entry.as_str());
            if let Some(into) = &self.into {
                call.set_var(flow, into, entry.as_str());
            }
            return Step::Done(COMPLETE);
        }
        let no_input = len == 0;
        call.scratch.entry.clear();
        self.give_up_if(self.ask.fail(flow, call, cx, no_input))
    }

    fn give_up_if(&self, give_up: bool) -> Step {
        if give_up {
            Step::Done(FAIL)
        } else {
            Step::Wait
        }
    }
}

impl Action for Collect {
    fn enter(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        self.ask.start(flow, call, cx);
        let typed = call.type_ahead;
        call.type_ahead.clear();
        for key in typed.as_str().chars() {
            let step = self.on_digit(flow, call, cx, key);
            if step != Step::Wait {
                return step;
            }
        }
        Step::Wait
    }

    fn on_digit(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx, digit: char) -> Step {
        if !Ask::accepting_keys(call) {
            return Step::Wait;
        }
        call.stop(cx);
        if Some(digit) == self.terminator {
            return self.finish(flow, call, cx);
        }
        call.scratch.entry.push(digit);
        if call.scratch.entry.len() >= self.max {
            return self.finish(flow, call, cx);
        }
        self.ask.wait(call, cx, self.inter_timeout_ms);
        Step::Wait
    }

    fn on_prompts_done(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        match call.scratch.phase {
            ASKING => {
                self.ask.wait(call, cx, self.ask.first_timeout_ms);
                Step::Wait
            }
            COMPLAINING | GIVING_UP => self.give_up_if(self.ask.after_complaint(flow, call, cx)),
            _ => Step::Wait,
        }
    }

    fn on_timer(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        if call.scratch.phase != WAITING {
            return Step::Wait;
        }
        self.finish(flow, call, cx)
    }

    fn waits(&self) -> bool {
        true
    }

    fn outcomes(&self) -> &'static [&'static str] {
        &[COMPLETE, FAIL]
    }

    fn links(&self) -> Vec<StateId> {
        Vec::new()
    }
}

// ---------------------------------------------------------------------------------------------------
// set, branch, goto, hangup: actions that never wait

/// `set = { name = "value or ${a} + 1", ... }`, in order; `language` switches the prompts.
#[derive(Debug)]
struct Set {
    entries: Vec<(String, Expr)>,
}

impl Set {
    fn parse(item: &Item, cx: &mut ParseCx) -> Option<Box<dyn Action>> {
        let Node::Table(entries) = item.get_ref() else {
            cx.bad(
                item,
                "a table of variable = value, e.g. { tries = \"${tries} + 1\" }",
            );
            return None;
        };
        if entries.len() > MAX_ARMS {
            cx.bad(item, &format!("at most {MAX_ARMS} variables"));
            return None;
        }
        let mut out = Vec::new();
        for (key, value) in entries {
            let name = key.get_ref();
            let named = cx.sets_var(name, key.span().start);
            let expr = cx.expr(value);
            if name == "language" {
                Self::check_language(value, cx);
            }
            if let (true, Some(expr)) = (named, expr) {
                out.push((name.clone(), expr));
            }
        }
        (out.len() == entries.len()).then(|| Box::new(Set { entries: out }) as Box<dyn Action>)
    }

    fn check_language(value: &Item, cx: &mut ParseCx) {
        if let Node::Str(language) = value.get_ref() {
            if !language.contains("${") && !cx.languages.contains(language) {
                let message = format!(
                    "{}: language {language:?} is not one of this flow's languages ({}): add it to `languages`",
                    cx.what,
                    cx.languages.join(", ")
                );
                cx.error(value.span().start, message);
            }
        }
    }
}

impl Action for Set {
    fn enter(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        for (name, expr) in &self.entries {
            let value = expr.eval(&call.vars);
            call.set_var(flow, name, value.as_str());
            if name == "agent" {
                // The call's recording is filed under this agent (`telvox rec search --agent`).
                cx.set_call_agent(value.as_str());
            }
        }
        Step::Done(DONE)
    }

    fn waits(&self) -> bool {
        false
    }

    fn outcomes(&self) -> &'static [&'static str] {
        &[DONE]
    }

    fn links(&self) -> Vec<StateId> {
        Vec::new()
    }
}

/// `branch = [ { if = "${tries} > 3", goto = "goodbye" }, { goto = "menu" } ]`: the first arm whose
/// condition holds (an arm without `if` always does); done when none does.
#[derive(Debug)]
struct Branch {
    arms: Vec<(Option<Cond>, StateId)>,
}

impl Branch {
    fn parse(item: &Item, cx: &mut ParseCx) -> Option<Box<dyn Action>> {
        let Node::Array(arms) = item.get_ref() else {
            cx.bad(item, "a list of { if = \"…\", goto = \"state\" }");
            return None;
        };
        if arms.is_empty() || arms.len() > MAX_ARMS {
            cx.bad(item, &format!("1 to {MAX_ARMS} arms"));
            return None;
        }
        let parsed: Vec<Option<(Option<Cond>, StateId)>> =
            arms.iter().map(|arm| Self::arm(arm, cx)).collect();
        let arms: Option<Vec<_>> = parsed.into_iter().collect();
        Some(Box::new(Branch { arms: arms? }))
    }

    fn arm(arm: &Item, cx: &mut ParseCx) -> Option<(Option<Cond>, StateId)> {
        let entries = cx.table(
            arm,
            &["if", "goto"],
            "{ if = \"${tries} > 3\", goto = \"goodbye\" }",
        )?;
        let cond = match entries.iter().find(|(k, _)| k.get_ref() == "if") {
            Some((_, i)) => Some(Some(cx.cond(i)?)),
            None => Some(None),
        };
        let target = cx.field(entries, "goto", arm).and_then(|i| cx.state(i));
        Some((cond?, target?))
    }
}

impl Action for Branch {
    fn enter(&self, _flow: &Flow, call: &mut IvrCall, _cx: &mut CallCx) -> Step {
        self.arms
            .iter()
            .find(|(cond, _)| cond.as_ref().map_or(true, |c| c.eval(&call.vars)))
            .map_or(Step::Done(DONE), |(_, state)| Step::Goto(*state))
    }

    fn waits(&self) -> bool {
        false
    }

    fn outcomes(&self) -> &'static [&'static str] {
        // An arm without a condition always matches: then the branch never falls through.
        if self.arms.iter().any(|(cond, _)| cond.is_none()) {
            &[]
        } else {
            &[DONE]
        }
    }

    fn links(&self) -> Vec<StateId> {
        self.arms.iter().map(|(_, s)| *s).collect()
    }
}

/// `goto = "state"`.
#[derive(Debug)]
struct Goto(StateId);

impl Goto {
    fn parse(item: &Item, cx: &mut ParseCx) -> Option<Box<dyn Action>> {
        Some(Box::new(Goto(cx.state(item)?)))
    }
}

impl Action for Goto {
    fn enter(&self, _flow: &Flow, _call: &mut IvrCall, _cx: &mut CallCx) -> Step {
        Step::Goto(self.0)
    }

    fn waits(&self) -> bool {
        false
    }

    fn outcomes(&self) -> &'static [&'static str] {
        &[]
    }

    fn links(&self) -> Vec<StateId> {
        vec![self.0]
    }
}

/// `hangup = true`: clear the call (NORMAL_CLEARING).
#[derive(Debug)]
struct Hangup;

impl Hangup {
    fn parse(item: &Item, cx: &mut ParseCx) -> Option<Box<dyn Action>> {
        match cx.boolean(item)? {
            true => Some(Box::new(Hangup)),
            false => {
                cx.bad(item, "true (remove the key to stay on the line)");
                None
            }
        }
    }
}

impl Action for Hangup {
    fn enter(&self, _flow: &Flow, _call: &mut IvrCall, _cx: &mut CallCx) -> Step {
        Step::Hangup
    }

    fn waits(&self) -> bool {
        false
    }

    fn outcomes(&self) -> &'static [&'static str] {
        &[]
    }

    fn links(&self) -> Vec<StateId> {
        Vec::new()
    }
}
