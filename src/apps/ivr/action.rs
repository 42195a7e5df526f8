//! The action registry: every verb a flow state can use is an [`Action`] registered here by its
//! key, so later features (`lookup`, `verify_pin`, `hours`, `record`, `fax_send`,
//! `voicemail_leave`, …) add an entry to [`Registry`] instead of a branch in the interpreter.
//!
//! An action is parsed once at load ([`ParseFn`], which reports problems through [`ParseCx`] with
//! file:line:col) and then shared read-only by every call on the flow; a call's mutable state
//! lives in [`IvrCall`], whose [`Scratch`] is reset each time an action starts.

use std::fmt;
use std::ops::RangeInclusive;
use std::path::Path;
use std::sync::Arc;

use crate::config::{Diagnostic, Severity};
use crate::engine::app::CallCx;
use crate::fixed::FixedStr;
use crate::voice::Prompt;

use super::business::ReplySlot;
use super::flow::{Flow, StateId};
use super::tree::{Item, Key, Node, Source};
use super::vars::{valid_name, Cond, Expr, Template, Vars};

/// How an action step ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Waiting for the caller, a prompt or a timer.
    Wait,
    /// Finished with this outcome; the state runs its next action, or leaves by `on`/`next`.
    Done(&'static str),
    /// Leave for this state now.
    Goto(StateId),
    /// Clear the call (NORMAL_CLEARING).
    Hangup,
    /// Run this state as a sub-flow; its `return` resumes after the calling action.
    Call(StateId),
    /// Back to the action after the latest `call`.
    Return,
}

/// The outcome of actions that just finish.
pub const DONE: &str = "done";

/// A verb of the flow language. Every method except `parse` runs on the channel thread: no
/// blocking, locks, logging; allocate only in `enter`, and little.
pub trait Action: Send + Sync + fmt::Debug {
    /// Starts the action in the current state.
    fn enter(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step;
    fn on_digit(&self, _flow: &Flow, _call: &mut IvrCall, _cx: &mut CallCx, _digit: char) -> Step {
        Step::Wait
    }
    /// Every queued prompt has played.
    fn on_prompts_done(&self, _flow: &Flow, _call: &mut IvrCall, _cx: &mut CallCx) -> Step {
        Step::Wait
    }
    fn on_timer(&self, _flow: &Flow, _call: &mut IvrCall, _cx: &mut CallCx) -> Step {
        Step::Wait
    }
    /// Every answered block (see [`crate::engine::app::App::on_audio`]): for actions that are a
    /// modem, such as the fax actions.
    fn on_audio(
        &self,
        _flow: &Flow,
        _call: &mut IvrCall,
        _cx: &mut CallCx,
        _rx: &[i16],
        _tx: &mut [i16],
    ) -> Step {
        Step::Wait
    }
    /// Whether the action can wait for the caller (or a prompt, or a timer). States made only of
    /// actions that never wait must not form a cycle: that is checked at load.
    fn waits(&self) -> bool;
    /// The outcomes `Done` can carry; empty when the action always leaves by `Goto` or `Hangup`.
    fn outcomes(&self) -> &'static [&'static str];
    /// The states `Goto` can reach.
    fn links(&self) -> Vec<StateId>;
    /// The sub-flow `Call` enters, if the action is a `call` (checked for depth and recursion).
    fn calls(&self) -> Option<StateId> {
        None
    }
}

/// Parses an action's value; problems go to `cx`, `None` when the action is unusable.
pub type ParseFn = fn(&Item, &mut ParseCx) -> Option<Box<dyn Action>>;

/// One registered action: the state key that names it and its parser.
#[derive(Clone, Copy)]
pub struct ActionKind {
    pub key: &'static str,
    pub parse: ParseFn,
}

/// The actions a flow may use.
#[derive(Clone)]
pub struct Registry {
    kinds: Vec<ActionKind>,
}

impl Registry {
    /// The actions telvox ships with.
    pub fn builtin() -> Registry {
        let kinds = [
            super::builtin::KINDS,
            super::lookup::KINDS,
            super::hours::KINDS,
            super::callret::KINDS,
            super::record::KINDS,
            super::record_call::KINDS,
            super::tone::KINDS,
            crate::apps::voicemail::KINDS,
            crate::apps::supervisor::KINDS,
            super::fax::KINDS,
            super::fax_doc::KINDS,
        ];
        Registry {
            kinds: kinds.concat(),
        }
    }

    /// Adds (or replaces) an action.
    pub fn register(&mut self, kind: ActionKind) {
        self.kinds.retain(|k| k.key != kind.key);
        self.kinds.push(kind);
    }

    pub fn get(&self, key: &str) -> Option<&ActionKind> {
        self.kinds.iter().find(|k| k.key == key)
    }

    pub fn keys(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.kinds.iter().map(|k| k.key)
    }
}

/// A prompt as written in a flow: resolved at load when its name is fixed, by name per call when
/// it contains `${…}`.
#[derive(Clone, Debug)]
pub enum PromptRef {
    Static(u16),
    Dynamic(Template),
}

pub type PromptList = Vec<PromptRef>;

/// Per-action scratch space, reset when an action starts (fixed size: no heap).
#[derive(Clone, Copy, Default)]
pub struct Scratch {
    pub phase: u8,
    pub attempts: u32,
    /// Samples of the caller's audio in a row below an action's silence level (`record`).
    pub silent_samples: u64,
    pub entry: FixedStr<64>,
}

/// Keys pressed while no action was collecting, kept for the next `collect` or `menu` (type-ahead).
pub type TypeAhead = FixedStr<16>;
/// Prompts waiting for room in the engine's play queue (pre-allocated, see [`IvrCall::new`]).
const PENDING_PROMPTS_CAP: usize = 128;

/// One call's state in a flow.
pub struct IvrCall {
    pub vars: Vars,
    /// Index into the flow's languages.
    pub language: usize,
    pub scratch: Scratch,
    pub type_ahead: TypeAhead,
    pending: Vec<Arc<Prompt>>,
    pending_next: usize,
    /// Where the lookup threads put replies for this call (see [`super::business`]).
    pub replies: Arc<ReplySlot>,
    /// The sequence number of the call's latest lookup job.
    pub lookup_seq: u32,
    /// When it was queued (wall clock, see `lookup::Query::poll`).
    pub lookup_started: std::time::Instant,
    /// The recording in progress, and how many this call has made (for file names).
    pub recording: Option<Arc<super::record::Recording>>,
    pub recordings: u32,
    /// Voicemail's per-call state, made when a voicemail action first runs on the call.
    pub voicemail: Option<Box<crate::apps::voicemail::VmCall>>,
    /// Supervisor playback's per-call state (`recording_review`), made when it first runs.
    pub supervisor: Option<Box<crate::apps::supervisor::SupCall>>,
    /// The fax session in progress (`fax_receive`, `fax_send`); a reception is filed when dropped.
    pub fax: Option<Box<super::fax::FaxCall>>,
    /// A `fax_send` waiting for its cover page to be rendered.
    pub fax_cover: Option<Box<super::fax::PendingCover>>,
}

impl IvrCall {
    pub fn new(vars: Vars) -> IvrCall {
        IvrCall {
            vars,
            language: 0,
            scratch: Scratch::default(),
            type_ahead: TypeAhead::new(),
            pending: Vec::with_capacity(PENDING_PROMPTS_CAP),
            pending_next: 0,
            replies: Arc::new(ReplySlot::default()),
            lookup_seq: 0,
            lookup_started: std::time::Instant::now(),
            recording: None,
            recordings: 0,
            voicemail: None,
            supervisor: None,
            fax: None,
            fax_cover: None,
        }
    }

    /// Sets a variable; setting `language` to one of the flow's languages switches the prompts.
    pub fn set_var(&mut self, flow: &Flow, name: &str, value: &str) {
        if name == "language" {
            match flow.languages().iter().position(|l| l == value) {
                Some(index) => self.language = index,
                // A language the flow has no prompts for would leave the caller in silence.
                None => return,
            }
        }
        self.vars.set(name, value);
    }

    /// Queues prompts in the call's language; prompts without a file are skipped.
    pub fn play(&mut self, flow: &Flow, cx: &mut CallCx, prompts: &PromptList) {
        for prompt in prompts {
            let resolved = match prompt {
                PromptRef::Static(id) => flow.prompt(self.language, *id),
                PromptRef::Dynamic(template) => {
                    flow.prompt_named(self.language, template.render(&self.vars).as_str())
                }
            };
            if let Some(prompt) = resolved {
                self.play_one(cx, prompt);
            }
        }
    }

    /// Queues one prompt, holding it back when the engine's queue is full.
    pub fn play_one(&mut self, cx: &mut CallCx, prompt: &Arc<Prompt>) {
        let held_back = self.pending_next < self.pending.len() || !cx.play(prompt);
        // Beyond the cap the prompt is dropped: a flow cannot queue unbounded audio.
        if held_back && self.pending.len() < PENDING_PROMPTS_CAP {
            self.pending.push(prompt.clone());
        }
    }

    /// Moves held-back prompts into the engine's queue; true when some were queued.
    pub fn refill(&mut self, cx: &mut CallCx) -> bool {
        let before = self.pending_next;
        while self.pending_next < self.pending.len() && cx.play(&self.pending[self.pending_next]) {
            self.pending_next += 1;
        }
        let queued = self.pending_next > before;
        if self.pending_next == self.pending.len() {
            self.pending.clear();
            self.pending_next = 0;
        }
        queued
    }

    /// Stops playback and forgets held-back prompts.
    pub fn stop(&mut self, cx: &mut CallCx) {
        cx.stop_playback();
        self.pending.clear();
        self.pending_next = 0;
    }

    pub fn is_playing(&self, cx: &CallCx) -> bool {
        cx.is_playing() || self.pending_next < self.pending.len()
    }
}

/// What parsing a flow has learnt so far, and where problems go.
pub struct ParseCx<'a> {
    pub(super) src: &'a Source,
    pub(super) state_names: &'a [String],
    pub(super) languages: &'a [String],
    pub(super) voice_dir: Option<&'a Path>,
    pub(super) diags: Vec<Diagnostic>,
    /// Fixed prompt names, indexed by `PromptRef::Static`.
    pub(super) prompt_names: Vec<String>,
    /// Variables some action sets.
    pub(super) sets: Vec<String>,
    /// Variables used, with where.
    pub(super) uses: Vec<(String, usize)>,
    /// How messages name the key being parsed, e.g. "[menu] menu".
    pub(super) what: String,
}

impl ParseCx<'_> {
    /// Where prompts are checked at load (None: not checked).
    pub fn voice_dir(&self) -> Option<&Path> {
        self.voice_dir
    }

    /// The flow's languages.
    pub fn languages(&self) -> &[String] {
        self.languages
    }

    pub fn error(&mut self, at: usize, message: impl Into<String>) {
        let diagnostic = self.src.diagnostic(Severity::Error, at, message.into());
        self.diags.push(diagnostic);
    }

    pub fn warning(&mut self, at: usize, message: impl Into<String>) {
        let diagnostic = self.src.diagnostic(Severity::Warning, at, message.into());
        self.diags.push(diagnostic);
    }

    /// Reports `item` as not what was expected.
    pub fn bad(&mut self, item: &Item, expected: &str) {
        let message = format!(
            "{} = {}: expected {expected}",
            self.what,
            self.src.snippet(item.span())
        );
        self.error(item.span().start, message);
    }

    /// The entries of an inline table, every key checked against `allowed`.
    pub fn table<'i>(
        &mut self,
        item: &'i Item,
        allowed: &[&str],
        example: &str,
    ) -> Option<&'i [(Key, Item)]> {
        let Node::Table(entries) = item.get_ref() else {
            self.bad(item, &format!("a table, e.g. {example}"));
            return None;
        };
        for (key, _) in entries {
            if !allowed.contains(&key.get_ref().as_str()) {
                let message = format!(
                    "unknown key `{}` in {}; expected one of: {}",
                    key.get_ref(),
                    self.what,
                    allowed.join(", ")
                );
                self.error(key.span().start, message);
            }
        }
        Some(entries)
    }

    /// `entries[key]` of a required key; a missing one is reported at `at` (the table).
    pub fn field<'i>(&mut self, entries: &'i [(Key, Item)], key: &str, at: &Item) -> Option<&'i Item> {
        entries
            .iter()
            .find(|(k, _)| k.get_ref() == key)
            .map(|(_, item)| item)
            .or_else(|| {
                self.error(at.span().start, format!("{} needs `{key}`", self.what));
                None
            })
    }

    pub fn string<'i>(&mut self, item: &'i Item, expected: &str) -> Option<&'i str> {
        match item.get_ref() {
            Node::Str(text) => Some(text),
            _ => {
                self.bad(item, expected);
                None
            }
        }
    }

    pub fn int(&mut self, item: &Item, range: RangeInclusive<i64>, unit: &str) -> Option<i64> {
        match item.get_ref() {
            Node::Int(value) if range.contains(value) => Some(*value),
            _ => {
                let (low, high) = (range.start(), range.end());
                self.bad(item, &format!("a whole number of {unit} from {low} to {high}"));
                None
            }
        }
    }

    pub fn boolean(&mut self, item: &Item) -> Option<bool> {
        match item.get_ref() {
            Node::Bool(value) => Some(*value),
            _ => {
                self.bad(item, "true or false");
                None
            }
        }
    }

    /// A state name.
    pub fn state(&mut self, item: &Item) -> Option<StateId> {
        let name = self.string(item, "a state name in quotes")?;
        match self.state_names.iter().position(|s| s == name) {
            Some(index) => StateId::try_from(index).ok(),
            None => {
                let known = self.state_names.join(", ");
                let message = format!("{}: no state `{name}` in this flow; states: {known}", self.what);
                self.error(item.span().start, message);
                None
            }
        }
    }

    pub fn template(&mut self, item: &Item) -> Option<Template> {
        let text = self.string(item, "text in quotes")?;
        match Template::parse(text) {
            Ok(template) => {
                let names: Vec<String> = template.var_names().map(str::to_owned).collect();
                self.used(names, item.span().start);
                Some(template)
            }
            Err(problem) => {
                self.bad(item, &format!("a valid template ({problem})"));
                None
            }
        }
    }

    pub fn expr(&mut self, item: &Item) -> Option<Expr> {
        let text = match item.get_ref() {
            Node::Int(value) => return Some(Expr::Sum(vec![(1, super::vars::Operand::Int(*value))])),
            Node::Str(text) => text,
            _ => {
                self.bad(item, "text or a sum in quotes, e.g. \"${tries} + 1\"");
                return None;
            }
        };
        match Expr::parse(text) {
            Ok(expr) => {
                let names: Vec<String> = expr.var_names().into_iter().map(str::to_owned).collect();
                self.used(names, item.span().start);
                Some(expr)
            }
            Err(problem) => {
                self.bad(item, &format!("a valid expression ({problem})"));
                None
            }
        }
    }

    pub fn cond(&mut self, item: &Item) -> Option<Cond> {
        let text = self.string(item, "a comparison in quotes, e.g. \"${tries} > 3\"")?;
        match Cond::parse(text) {
            Ok(cond) => {
                let names: Vec<String> = cond.var_names().map(str::to_owned).collect();
                self.used(names, item.span().start);
                Some(cond)
            }
            Err(problem) => {
                let message = format!("{}: {problem}", self.what);
                self.error(item.span().start, message);
                None
            }
        }
    }

    /// A variable an action will set.
    pub fn sets_var(&mut self, name: &str, at: usize) -> bool {
        if !valid_name(name) {
            let message = format!(
                "{}: `{name}` is not a variable name: use letters, digits and _, at most 32 bytes",
                self.what
            );
            self.error(at, message);
            return false;
        }
        self.sets.push(name.to_owned());
        true
    }

    fn used(&mut self, names: Vec<String>, at: usize) {
        self.uses.extend(names.into_iter().map(|n| (n, at)));
    }

    /// A prompt list: one name or a list of names; fixed names must exist in every language.
    pub fn prompts(&mut self, item: &Item) -> Option<PromptList> {
        let items: Vec<&Item> = match item.get_ref() {
            Node::Str(_) => vec![item],
            Node::Array(items) => items.iter().collect(),
            _ => {
                self.bad(item, "a prompt name or a list of them, e.g. [\"welcome\"]");
                return None;
            }
        };
        let list: Vec<Option<PromptRef>> = items.into_iter().map(|i| self.prompt(i)).collect();
        list.into_iter().collect()
    }

    fn prompt(&mut self, item: &Item) -> Option<PromptRef> {
        let template = self.template(item)?;
        match template.as_static() {
            Some(name) => {
                let name = name.to_owned();
                self.check_prompt_files(&name, item);
                let id = match self.prompt_names.iter().position(|n| *n == name) {
                    Some(id) => id,
                    None => {
                        self.prompt_names.push(name);
                        self.prompt_names.len() - 1
                    }
                };
                u16::try_from(id).ok().map(PromptRef::Static)
            }
            None => {
                self.check_language_templates(&template, item);
                Some(PromptRef::Dynamic(template))
            }
        }
    }

    fn check_prompt_files(&mut self, name: &str, item: &Item) {
        let Some(voice_dir) = self.voice_dir else {
            return;
        };
        let plain = !name.is_empty() && !name.contains(['/', '\\']) && name != "." && name != "..";
        let missing: Vec<String> = self
            .languages
            .iter()
            .filter(|lang| !plain || !voice_dir.join(lang).join(format!("{name}.wav")).is_file())
            .cloned()
            .collect();
        if !missing.is_empty() {
            let message = format!(
                "{}: prompt `{name}` has no file in {} for language(s) {}: record it or add it to \
                 voice/generate.sh",
                self.what,
                voice_dir.display(),
                missing.join(", ")
            );
            self.error(item.span().start, message);
        }
    }

    /// A name whose only variable is `language` can be checked for every language now.
    fn check_language_templates(&mut self, template: &Template, item: &Item) {
        if !template.var_names().all(|n| n == "language") {
            return;
        }
        let Some(voice_dir) = self.voice_dir else {
            return;
        };
        for language in self.languages {
            let name = template.render_with(|_| language.as_str());
            let file = voice_dir.join(language).join(format!("{}.wav", name.as_str()));
            if !file.is_file() {
                let message = format!(
                    "{}: prompt `{}` (for language {language}) has no file in {}",
                    self.what,
                    name.as_str(),
                    voice_dir.display()
                );
                self.error(item.span().start, message);
            }
        }
    }
}
