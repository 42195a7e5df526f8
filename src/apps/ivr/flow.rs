//! Flow files: loading, validation and the resolved flow every call on it shares.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::{Diagnostic, Severity};
use crate::fixed::Label;
use crate::voice::{Prompt, Voice};

use super::action::{Action, ParseCx, Registry};
use super::business::Business;
use super::tree::{parse_document, Item, Key, Node, Source};
use super::vars::BUILTIN_VARS;

/// Index of a state in its flow.
pub type StateId = u16;

/// Flow files read from one directory at most.
pub const MAX_FLOWS: usize = 256;
/// States in one flow.
pub const MAX_STATES: usize = 256;
/// Actions in one state.
pub const MAX_ACTIONS_PER_STATE: usize = 8;
/// A flow file larger than this is refused unread.
pub const MAX_FLOW_FILE_BYTES: u64 = 256 * 1024;
/// `max_transitions` when a flow does not say, and its allowed range.
pub const DEFAULT_MAX_TRANSITIONS: u32 = 500;
const MAX_TRANSITIONS: std::ops::RangeInclusive<i64> = 1..=100_000;
const ANSWER_AFTER_RINGS: std::ops::RangeInclusive<i64> = 0..=10;
/// Languages one flow may offer.
const MAX_LANGUAGES: usize = 8;

/// Top-level settings of a flow file; every other top-level key is a state.
const SETTINGS: &[&str] = &[
    "start",
    "language",
    "languages",
    "max_transitions",
    "answer_after_rings",
    "fax_detect",
];
/// State keys that are not actions.
const STATE_KEYS: &[&str] = &["next", "on"];
/// Names the built-in flows own.
const RESERVED_FLOW_NAMES: &[&str] = &["linetest"];

/// One state: its actions in file order, then where it goes when the last one finishes.
#[derive(Debug)]
pub struct State {
    pub name: String,
    pub label: Label,
    pub actions: Vec<Box<dyn Action>>,
    pub next: Option<StateId>,
    pub on: Vec<(String, StateId)>,
    /// Each action as written (`key = value`, whitespace squeezed), for `telvox flow show|dot`.
    pub written: Vec<String>,
    /// Where the state's name is in the file, for diagnostics.
    at: usize,
}

impl State {
    /// Where the state goes when its last action finishes with `outcome`.
    pub fn exit(&self, outcome: &str) -> Option<StateId> {
        self.on
            .iter()
            .find(|(o, _)| o == outcome)
            .map(|(_, s)| *s)
            .or(self.next)
    }

    fn waits(&self) -> bool {
        self.actions.iter().any(|a| a.waits())
    }

    /// The sub-flows this state's `call` actions enter.
    pub fn calls(&self) -> impl Iterator<Item = StateId> + '_ {
        self.actions.iter().filter_map(|a| a.calls())
    }

    pub fn links(&self) -> Vec<StateId> {
        let actions = self.actions.iter().flat_map(|a| a.links());
        actions
            .chain(self.next)
            .chain(self.on.iter().map(|(_, s)| *s))
            .collect()
    }
}

/// A validated flow; after [`Flow::resolve`] its prompts are in memory.
#[derive(Debug)]
pub struct Flow {
    pub name: String,
    pub path: PathBuf,
    pub start: StateId,
    pub max_transitions: u32,
    pub answer_after_rings: u32,
    /// `fax_detect = "STATE"`: a fax calling tone (CNG) heard anywhere in the flow goes there.
    pub fax_detect: Option<StateId>,
    pub states: Vec<State>,
    languages: Vec<String>,
    prompt_names: Vec<String>,
    /// `[language][prompt id]`, filled by `resolve`.
    prompts: Vec<Vec<Arc<Prompt>>>,
    voice: Option<Arc<Voice>>,
    /// The lookup threads and business clock, given by [`FlowSet::load`].
    business: Option<Arc<Business>>,
}

impl Flow {
    /// The flow's languages; the first is where every call starts.
    pub fn languages(&self) -> &[String] {
        &self.languages
    }

    pub fn prompt(&self, language: usize, id: u16) -> Option<&Arc<Prompt>> {
        self.prompts.get(language)?.get(usize::from(id))
    }

    /// A prompt by name (names made at run time: `${…}` prompts and spoken numbers).
    pub fn prompt_named(&self, language: usize, name: &str) -> Option<&Arc<Prompt>> {
        self.voice.as_ref()?.set(self.languages.get(language)?)?.get(name)
    }

    /// Looks up every fixed prompt in `voice`; Err names the first one missing.
    pub fn resolve(&mut self, voice: &Arc<Voice>) -> Result<(), String> {
        let mut table = Vec::new();
        for language in &self.languages {
            let set = voice
                .set(language)
                .ok_or_else(|| format!("flow {}: no prompt set for language {language}", self.name))?;
            let prompts: Result<Vec<Arc<Prompt>>, String> = self
                .prompt_names
                .iter()
                .map(|name| {
                    set.get(name)
                        .cloned()
                        .ok_or_else(|| format!("flow {}: prompt {name} missing in {language}", self.name))
                })
                .collect();
            table.push(prompts?);
        }
        self.prompts = table;
        self.voice = Some(voice.clone());
        Ok(())
    }

    /// The business database and clock; None for a flow loaded outside the daemon.
    pub fn business(&self) -> Option<&Arc<Business>> {
        self.business.as_ref()
    }

    pub fn state_id(&self, name: &str) -> Option<StateId> {
        self.states
            .iter()
            .position(|s| s.name == name)
            .and_then(|i| StateId::try_from(i).ok())
    }
}

/// Every flow in `dir` (`*.toml`, one flow per file named by its stem), with all diagnostics in
/// file order. A missing directory holds no flows. Flows with errors are left out.
pub fn load_dir(dir: &Path, voice_dir: Option<&Path>, registry: &Registry) -> (Vec<Flow>, Vec<Diagnostic>) {
    let mut flows = Vec::new();
    let mut diags = Vec::new();
    for path in flow_paths(dir, &mut diags) {
        let (flow, found) = load_file(&path, voice_dir, registry);
        diags.extend(found);
        flows.extend(flow);
    }
    (flows, diags)
}

/// The names of the flow files in `dir`, whether or not they are valid.
pub fn flow_names(dir: &Path) -> Vec<String> {
    flow_paths(dir, &mut Vec::new())
        .iter()
        .filter_map(|p| flow_name(p))
        .collect()
}

fn flow_name(path: &Path) -> Option<String> {
    path.file_stem().and_then(|s| s.to_str()).map(str::to_owned)
}

fn flow_paths(dir: &Path, diags: &mut Vec<Diagnostic>) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml") && p.is_file())
        .collect();
    paths.sort();
    if paths.len() > MAX_FLOWS {
        let src = Source::new(paths[MAX_FLOWS].clone(), String::new());
        let message = format!(
            "more than {MAX_FLOWS} flow files in {}: this one and later are ignored",
            dir.display()
        );
        diags.push(src.diagnostic(Severity::Error, 0, message));
        paths.truncate(MAX_FLOWS);
    }
    paths
}

/// Loads one flow file.
pub fn load_file(
    path: &Path,
    voice_dir: Option<&Path>,
    registry: &Registry,
) -> (Option<Flow>, Vec<Diagnostic>) {
    let text = match fs::metadata(path) {
        Ok(meta) if meta.len() > MAX_FLOW_FILE_BYTES => {
            Err(format!("larger than {MAX_FLOW_FILE_BYTES} bytes"))
        }
        _ => fs::read_to_string(path).map_err(|e| e.to_string()),
    };
    let src = match text {
        Ok(text) => Source::new(path.to_path_buf(), text),
        Err(problem) => {
            let src = Source::new(path.to_path_buf(), String::new());
            let message = format!("cannot read this flow: {problem}");
            return (None, vec![src.diagnostic(Severity::Error, 0, message)]);
        }
    };
    let name = flow_name(path).unwrap_or_default();
    parse_flow(&name, &src, voice_dir, registry)
}

/// Parses and validates a flow from text (the file is only named in diagnostics).
pub fn parse_text(
    name: &str,
    path: &Path,
    text: &str,
    voice_dir: Option<&Path>,
    registry: &Registry,
) -> (Option<Flow>, Vec<Diagnostic>) {
    let src = Source::new(path.to_path_buf(), text.to_owned());
    parse_flow(name, &src, voice_dir, registry)
}

fn parse_flow(
    name: &str,
    src: &Source,
    voice_dir: Option<&Path>,
    registry: &Registry,
) -> (Option<Flow>, Vec<Diagnostic>) {
    let entries = match parse_document(src) {
        Ok(entries) => entries,
        Err(diagnostic) => return (None, vec![diagnostic]),
    };
    let mut early = Vec::new();
    check_flow_name(name, src, &mut early);
    let settings = read_settings(src, &entries, voice_dir, &mut early);
    // States are the tables that are not settings (anything else was reported by read_settings).
    let states: Vec<(&Key, &Item)> = entries
        .iter()
        .filter(|(k, i)| !SETTINGS.contains(&k.get_ref().as_str()) && matches!(i.get_ref(), Node::Table(_)))
        .map(|(k, i)| (k, i))
        .collect();
    // Names past the limit are left out, so links to them are unknown states, not bad indices.
    let state_names: Vec<String> = states
        .iter()
        .take(MAX_STATES)
        .map(|(k, _)| k.get_ref().clone())
        .collect();
    let mut cx = ParseCx {
        src,
        state_names: &state_names,
        languages: &settings.languages,
        voice_dir,
        diags: early,
        prompt_names: Vec::new(),
        sets: Vec::new(),
        uses: Vec::new(),
        what: String::new(),
    };
    if states.len() > MAX_STATES {
        cx.error(
            states[MAX_STATES].0.span().start,
            format!("more than {MAX_STATES} states in one flow"),
        );
    }
    let parsed: Vec<Option<State>> = states
        .iter()
        .take(MAX_STATES)
        .map(|(k, i)| read_state(k, i, registry, &mut cx))
        .collect();
    let start = settings
        .start
        .as_ref()
        .and_then(|(start, at)| find_start(start, *at, &mut cx));
    let fax_detect = settings
        .fax_detect
        .as_ref()
        .map(|(state, at)| find_state("fax_detect", state, *at, &mut cx));
    let mut diags = std::mem::take(&mut cx.diags);
    let (prompt_names, sets, uses) = (cx.prompt_names, cx.sets, cx.uses);
    let states: Option<Vec<State>> = parsed.into_iter().collect();
    let (Some(states), Some(start)) = (states, start) else {
        return finish(None, diags);
    };
    let fax_detect = match fax_detect {
        Some(Some(state)) => Some(state),
        Some(None) => return finish(None, diags),
        None => None,
    };
    check_graph(src, &states, start, fax_detect, &mut diags);
    warn_unset_vars(src, &sets, &uses, &mut diags);
    let flow = Flow {
        name: name.to_owned(),
        path: src.name.clone(),
        start,
        max_transitions: settings.max_transitions,
        answer_after_rings: settings.answer_after_rings,
        fax_detect,
        states,
        languages: settings.languages,
        prompt_names,
        prompts: Vec::new(),
        voice: None,
        business: None,
    };
    finish(Some(flow), diags)
}

fn find_start(start: &str, at: usize, cx: &mut ParseCx) -> Option<StateId> {
    find_state("start", start, at, cx)
}

fn find_state(key: &str, start: &str, at: usize, cx: &mut ParseCx) -> Option<StateId> {
    let found = cx.state_names.iter().position(|s| s == start);
    if found.is_none() {
        let message = format!(
            "{key} = {start:?}: no such state; states: {}",
            cx.state_names.join(", ")
        );
        cx.error(at, message);
    }
    found.and_then(|index| StateId::try_from(index).ok())
}

/// Diagnostics sorted by place; the flow only when there are no errors.
fn finish(flow: Option<Flow>, mut diags: Vec<Diagnostic>) -> (Option<Flow>, Vec<Diagnostic>) {
    diags.sort_by_key(|d| (d.line, d.column));
    let clean = !diags.iter().any(|d| d.severity == Severity::Error);
    (flow.filter(|_| clean), diags)
}

fn check_flow_name(name: &str, src: &Source, diags: &mut Vec<Diagnostic>) {
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !plain {
        let message = format!("flow name {name:?} (the file name): use letters, digits, - and _");
        diags.push(src.diagnostic(Severity::Error, 0, message));
    }
    if RESERVED_FLOW_NAMES.contains(&name) {
        let message = format!("flow name {name:?} belongs to a built-in flow: rename the file");
        diags.push(src.diagnostic(Severity::Error, 0, message));
    }
}

struct Settings {
    start: Option<(String, usize)>,
    languages: Vec<String>,
    max_transitions: u32,
    answer_after_rings: u32,
    fax_detect: Option<(String, usize)>,
}

fn read_settings(
    src: &Source,
    entries: &[(Key, Item)],
    voice_dir: Option<&Path>,
    diags: &mut Vec<Diagnostic>,
) -> Settings {
    let empty_names: Vec<String> = Vec::new();
    let mut cx = ParseCx {
        src,
        state_names: &empty_names,
        languages: &[],
        voice_dir,
        diags: Vec::new(),
        prompt_names: Vec::new(),
        sets: Vec::new(),
        uses: Vec::new(),
        what: String::new(),
    };
    let get = |key: &str| entries.iter().find(|(k, _)| k.get_ref() == key).map(|(_, i)| i);
    let start = match get("start") {
        Some(item) => {
            cx.what = "start".into();
            cx.string(item, "a state name in quotes")
                .map(|s| (s.to_owned(), item.span().start))
        }
        None => {
            cx.error(
                0,
                "missing `start`: add start = \"NAME\" (the first state) at the top",
            );
            None
        }
    };
    cx.what = "max_transitions".into();
    let max_transitions = get("max_transitions").and_then(|i| cx.int(i, MAX_TRANSITIONS, "state entries"));
    cx.what = "answer_after_rings".into();
    let rings = get("answer_after_rings").and_then(|i| cx.int(i, ANSWER_AFTER_RINGS, "rings"));
    let languages = read_languages(&mut cx, get("language"), get("languages"));
    cx.what = "fax_detect".into();
    let fax_detect = get("fax_detect").and_then(|item| {
        cx.string(item, "a state name in quotes (where a fax calling tone goes)")
            .map(|s| (s.to_owned(), item.span().start))
    });
    for (key, item) in entries {
        if SETTINGS.contains(&key.get_ref().as_str()) && matches!(item.get_ref(), Node::Table(_)) {
            let message = format!(
                "`{}` is a flow setting, not a state: choose another state name",
                key.get_ref()
            );
            cx.error(key.span().start, message);
        } else if !SETTINGS.contains(&key.get_ref().as_str()) && !matches!(item.get_ref(), Node::Table(_)) {
            let message = format!(
                "unknown setting `{}`; expected one of: {} (states are [NAME] tables)",
                key.get_ref(),
                SETTINGS.join(", ")
            );
            cx.error(key.span().start, message);
        }
    }
    diags.extend(cx.diags);
    Settings {
        start,
        languages,
        max_transitions: max_transitions.map_or(DEFAULT_MAX_TRANSITIONS, |v| v as u32),
        answer_after_rings: rings.map_or(1, |v| v as u32),
        fax_detect,
    }
}

/// `language` (the default) and `languages` (all a call may switch to); the default comes first.
fn read_languages(cx: &mut ParseCx, language: Option<&Item>, languages: Option<&Item>) -> Vec<String> {
    cx.what = "language".into();
    let expected = "a language code in quotes, e.g. \"en\"";
    let default = language.and_then(|i| cx.string(i, expected).map(|s| (s.to_owned(), i.span().start)));
    let mut all: Vec<(String, usize)> = Vec::new();
    cx.what = "languages".into();
    if let Some(item) = languages {
        match item.get_ref() {
            Node::Array(items) if !items.is_empty() && items.len() <= MAX_LANGUAGES => {
                for i in items {
                    if let Some(code) = cx.string(i, "a language code in quotes") {
                        all.push((code.to_owned(), i.span().start));
                    }
                }
            }
            _ => cx.bad(item, "a list of 1 to 8 language codes, e.g. [\"zh\", \"en\"]"),
        }
    }
    let mut out: Vec<(String, usize)> = Vec::new();
    match default {
        Some(d) => out.push(d),
        None if all.is_empty() => out.push(("en".to_owned(), 0)),
        None => {}
    }
    for (code, at) in all {
        if !out.iter().any(|(c, _)| *c == code) {
            out.push((code, at));
        }
    }
    for (code, at) in &out {
        check_language(cx, code, *at);
    }
    out.into_iter().map(|(c, _)| c).collect()
}

fn check_language(cx: &mut ParseCx, code: &str, at: usize) {
    let Some(voice_dir) = cx.voice_dir else {
        return;
    };
    let plain = !code.is_empty()
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !plain || !voice_dir.join(code).is_dir() {
        let message = format!(
            "language {code:?}: {} has no such prompt set",
            voice_dir.display()
        );
        cx.error(at, message);
    }
}

fn read_state(key: &Key, item: &Item, registry: &Registry, cx: &mut ParseCx) -> Option<State> {
    let name = key.get_ref();
    let Node::Table(entries) = item.get_ref() else {
        return None;
    };
    let label_ok = !name.contains('.') && super::vars::valid_name(&name.replace('-', "_"));
    if !label_ok {
        cx.error(
            key.span().start,
            format!("state name {name:?}: use letters, digits, - and _, at most 32 bytes"),
        );
    }
    let mut actions = Vec::new();
    let mut written = Vec::new();
    let (mut next, mut on, mut ok) = (None, Vec::new(), label_ok);
    for (k, value) in entries {
        let key_name = k.get_ref().as_str();
        cx.what = format!("[{name}] {key_name}");
        let read = match key_name {
            "next" => cx.state(value).map(|state| next = Some(state)),
            "on" => read_on(value, cx).map(|exits| on = exits),
            _ => read_action(name, k, value, registry, cx).map(|action| {
                actions.push(action);
                let text = cx.src.text.get(value.span()).unwrap_or("");
                written.push(format!(
                    "{key_name} = {}",
                    text.split_whitespace().collect::<Vec<_>>().join(" ")
                ));
            }),
        };
        ok &= read.is_some();
    }
    if actions.len() > MAX_ACTIONS_PER_STATE {
        cx.error(
            key.span().start,
            format!("[{name}] has more than {MAX_ACTIONS_PER_STATE} actions: split it"),
        );
        ok = false;
    }
    let state = State {
        name: name.clone(),
        label: Label::from_str_truncating(name),
        actions,
        next,
        on,
        written,
        at: key.span().start,
    };
    if ok {
        check_exits(&state, cx);
    }
    ok.then_some(state)
}

/// One action of a state, by its registered key.
fn read_action(
    state: &str,
    key: &Key,
    value: &Item,
    registry: &Registry,
    cx: &mut ParseCx,
) -> Option<Box<dyn Action>> {
    let key_name = key.get_ref();
    if let Some(kind) = registry.get(key_name) {
        return (kind.parse)(value, cx);
    }
    let keys: Vec<&str> = registry.keys().chain(STATE_KEYS.iter().copied()).collect();
    let message = format!(
        "unknown action or key `{key_name}` in [{state}]; expected one of: {}",
        keys.join(", ")
    );
    cx.error(key.span().start, message);
    None
}

/// `on = { outcome = "state", ... }`; every target is checked before giving up.
fn read_on(item: &Item, cx: &mut ParseCx) -> Option<Vec<(String, StateId)>> {
    let Node::Table(entries) = item.get_ref() else {
        cx.bad(
            item,
            "a table of outcome = state, e.g. { complete = \"thanks\", fail = \"goodbye\" }",
        );
        return None;
    };
    let exits: Vec<Option<(String, StateId)>> = entries
        .iter()
        .map(|(outcome, target)| cx.state(target).map(|state| (outcome.get_ref().clone(), state)))
        .collect();
    exits.into_iter().collect()
}

/// Every way the state's last action can finish must lead somewhere; `on` names real outcomes.
fn check_exits(state: &State, cx: &mut ParseCx) {
    let name = &state.name;
    let Some(last) = state.actions.last() else {
        if state.next.is_none() {
            cx.error(
                state.at,
                format!("[{name}] does nothing and has no `next`: add an action or next = \"STATE\""),
            );
        }
        return;
    };
    for outcome in last.outcomes() {
        if state.exit(outcome).is_none() {
            let message = format!(
                "[{name}] can finish with `{outcome}` but has no `next` or `on.{outcome}`: say where the call goes"
            );
            cx.error(state.at, message);
        }
    }
    let known: Vec<&str> = state
        .actions
        .iter()
        .flat_map(|a| a.outcomes().iter().copied())
        .collect();
    for (outcome, _) in &state.on {
        if !known.contains(&outcome.as_str()) {
            let expected = if known.is_empty() {
                "none: its actions never finish".to_owned()
            } else {
                known.join(", ")
            };
            let message = format!(
                "[{name}] on.{outcome}: no action here finishes with `{outcome}`; outcomes: {expected}"
            );
            cx.error(state.at, message);
        }
    }
}

/// Unreachable states (warnings) and cycles of states that never wait (errors).
fn check_graph(
    src: &Source,
    states: &[State],
    start: StateId,
    fax_detect: Option<StateId>,
    diags: &mut Vec<Diagnostic>,
) {
    let links: Vec<Vec<StateId>> = states.iter().map(State::links).collect();
    let mut reached = vec![false; states.len()];
    let mut todo = vec![start];
    todo.extend(fax_detect);
    while let Some(s) = todo.pop() {
        if std::mem::replace(&mut reached[usize::from(s)], true) {
            continue;
        }
        todo.extend(&links[usize::from(s)]);
        todo.extend(states[usize::from(s)].calls());
    }
    for (state, reached) in states.iter().zip(&reached) {
        if !reached {
            let message = format!(
                "state `{}` is never reached from start: remove it or link to it",
                state.name
            );
            diags.push(src.diagnostic(Severity::Warning, state.at, message));
        }
    }
    check_calls(src, states, &links, start, diags);
    // A state waits if one of its actions does, or a sub-flow it calls can (a `call` returns only
    // after its sub-flow has run).
    let busy: Vec<bool> = states
        .iter()
        .map(|s| {
            let calls_wait = s.calls().any(|entry| {
                region(&links, entry)
                    .iter()
                    .any(|r| states[usize::from(*r)].waits())
            });
            !s.waits() && !calls_wait
        })
        .collect();
    if let Some(cycle) = busy_cycle(&busy, &links) {
        let names: Vec<&str> = cycle
            .iter()
            .map(|&s| states[usize::from(s)].name.as_str())
            .collect();
        let message = format!(
            "states {} -> {} can loop forever without waiting for the caller: add a play, collect or menu \
             to the loop, or a way out",
            names.join(" -> "),
            names[0]
        );
        diags.push(src.diagnostic(Severity::Error, states[usize::from(cycle[0])].at, message));
    }
}

/// The states a sub-flow entered at `entry` can be in before it returns: all reachable by links.
fn region(links: &[Vec<StateId>], entry: StateId) -> Vec<StateId> {
    let mut seen = vec![false; links.len()];
    let mut todo = vec![entry];
    let mut out = Vec::new();
    while let Some(s) = todo.pop() {
        if !std::mem::replace(&mut seen[usize::from(s)], true) {
            out.push(s);
            todo.extend(&links[usize::from(s)]);
        }
    }
    out
}

/// `call`s nest at most MAX_CALL_DEPTH deep and never recurse (a sub-flow that can call itself,
/// directly or not, could nest without bound).
fn check_calls(
    src: &Source,
    states: &[State],
    links: &[Vec<StateId>],
    start: StateId,
    diags: &mut Vec<Diagnostic>,
) {
    use super::callret::MAX_CALL_DEPTH;
    // The sub-flows each region's states call; the top level is the region of `start`.
    let callees = |entry: StateId| -> Vec<StateId> {
        let mut out: Vec<StateId> = region(links, entry)
            .into_iter()
            .flat_map(|s| states[usize::from(s)].calls().collect::<Vec<_>>())
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    };
    // Depth-first over the call graph: (sub-flow, its callees, next callee) on the path.
    let mut path: Vec<(StateId, Vec<StateId>, usize)> = vec![(start, callees(start), 0)];
    let mut done = vec![false; states.len()];
    while let Some((_, next, index)) = path.last_mut() {
        let Some(&callee) = next.get(*index) else {
            let (entry, _, _) = path.pop().expect("non-empty");
            done[usize::from(entry)] = true;
            continue;
        };
        *index += 1;
        let at = states[usize::from(callee)].at;
        let name = &states[usize::from(callee)].name;
        if path.iter().skip(1).any(|(entry, _, _)| *entry == callee) {
            let message = format!(
                "sub-flow `{name}` can call itself (directly or through others): calls may not recurse"
            );
            diags.push(src.diagnostic(Severity::Error, at, message));
            return;
        }
        if path.len() > MAX_CALL_DEPTH {
            let message = format!("sub-flow `{name}` is called more than {MAX_CALL_DEPTH} calls deep");
            diags.push(src.diagnostic(Severity::Error, at, message));
            return;
        }
        if !done[usize::from(callee)] {
            path.push((callee, callees(callee), 0));
        }
    }
}

/// A cycle among `busy` states (ones that never wait), if there is one (depth-first search).
fn busy_cycle(busy: &[bool], links: &[Vec<StateId>]) -> Option<Vec<StateId>> {
    // 0 = unvisited, 1 = on the current path, 2 = done.
    let mut mark = vec![0u8; busy.len()];
    for root in 0..busy.len() {
        if !busy[root] || mark[root] != 0 {
            continue;
        }
        let mut path: Vec<(StateId, usize)> = vec![(root as StateId, 0)];
        mark[root] = 1;
        while let Some((node, edge)) = path.last_mut() {
            let node_index = usize::from(*node);
            let Some(&to) = links[node_index].get(*edge) else {
                mark[node_index] = 2;
                path.pop();
                continue;
            };
            *edge += 1;
            let to_index = usize::from(to);
            if !busy[to_index] {
                continue;
            }
            match mark[to_index] {
                0 => {
                    mark[to_index] = 1;
                    path.push((to, 0));
                }
                1 => {
                    let from = path.iter().position(|(s, _)| *s == to).unwrap_or(0);
                    return Some(path[from..].iter().map(|(s, _)| *s).collect());
                }
                _ => {}
            }
        }
    }
    None
}

fn warn_unset_vars(src: &Source, sets: &[String], uses: &[(String, usize)], diags: &mut Vec<Diagnostic>) {
    for (name, at) in uses {
        // `cust.name` is set by a `lookup` into `cust` (its columns are known only at run time).
        let prefix = name.split_once('.').map(|(p, _)| p);
        let set = sets.contains(name) || prefix.is_some_and(|p| sets.iter().any(|s| s == p));
        if !BUILTIN_VARS.contains(&name.as_str()) && !set {
            let message = format!("variable `{name}` is used but never set in this flow: it will be empty");
            diags.push(src.diagnostic(Severity::Warning, *at, message));
        }
    }
}

/// Every flow of a directory, resolved against the loaded prompts, by name.
#[derive(Default)]
pub struct FlowSet {
    flows: BTreeMap<String, Arc<Flow>>,
}

impl FlowSet {
    /// Loads and resolves every flow in `dir`; Err lists every problem.
    pub fn load(
        dir: &Path,
        voice_dir: &Path,
        voice: &Arc<Voice>,
        business: Option<&Arc<Business>>,
    ) -> Result<FlowSet, String> {
        let (flows, diags) = load_dir(dir, Some(voice_dir), &Registry::builtin());
        let errors: Vec<String> = diags
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(|d| d.to_string())
            .collect();
        if !errors.is_empty() {
            return Err(errors.join("\n"));
        }
        let mut set = FlowSet::default();
        for mut flow in flows {
            flow.resolve(voice)?;
            flow.business = business.cloned();
            set.flows.insert(flow.name.clone(), Arc::new(flow));
        }
        Ok(set)
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Flow>> {
        self.flows.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.flows.keys().map(String::as_str)
    }
}
