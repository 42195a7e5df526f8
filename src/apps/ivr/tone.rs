//! `tone`: plays a call-progress tone of the call's national plan (the span's `country`) through
//! the engine's tone source: `tone = "beep"`, or
//! `tone = { name = "busy", ms = 3000, barge_in = true }`.
//!
//! Names: `dial`, `ringback`, `busy`, `congestion`, `call_waiting`, `sit`, `beep`. `sit` and `beep`
//! have a natural length (SIT once with its pause, the 250 ms beep) and need no `ms`; the others
//! repeat and need one. A key stops a barge-in tone (the default) and is kept for the next
//! `collect` or `menu`, as with `play`. Outcome `done`.

use crate::dsp::tones::ToneKind;
use crate::engine::app::CallCx;
use crate::engine::tone::MAX_TONE_MS;

use super::action::{Action, ActionKind, IvrCall, ParseCx, Step, DONE};
use super::flow::{Flow, StateId};
use super::tree::{Item, Node};

pub(super) const KINDS: &[ActionKind] = &[ActionKind {
    key: "tone",
    parse: Tone::parse,
}];

const NAMES: &[(&str, ToneKind)] = &[
    ("dial", ToneKind::Dial),
    ("ringback", ToneKind::Ringback),
    ("busy", ToneKind::Busy),
    ("congestion", ToneKind::Congestion),
    ("call_waiting", ToneKind::CallWaiting),
    ("sit", ToneKind::Sit),
    ("beep", ToneKind::Beep),
];
const NAME_LIST: &str =
    "\"dial\", \"ringback\", \"busy\", \"congestion\", \"call_waiting\", \"sit\" or \"beep\"";

#[derive(Debug)]
struct Tone {
    kind: ToneKind,
    /// None: the tone's natural length.
    ms: Option<u32>,
    barge_in: bool,
}

fn has_natural_length(kind: ToneKind) -> bool {
    matches!(kind, ToneKind::Sit | ToneKind::Beep)
}

impl Tone {
    fn parse(item: &Item, cx: &mut ParseCx) -> Option<Box<dyn Action>> {
        let name_of = |cx: &mut ParseCx, item: &Item| -> Option<ToneKind> {
            let text = cx.string(item, &format!("a tone name: {NAME_LIST}"))?;
            let found = NAMES
                .iter()
                .find(|(name, _)| *name == text)
                .map(|(_, kind)| *kind);
            if found.is_none() {
                cx.bad(item, &format!("a tone name: {NAME_LIST}"));
            }
            found
        };
        let (kind, ms, barge_in) = if let Node::Table(_) = item.get_ref() {
            let example = "{ name = \"busy\", ms = 3000 }";
            let entries = cx.table(item, &["name", "ms", "barge_in"], example)?;
            let find = |key: &str| entries.iter().find(|(k, _)| k.get_ref() == key).map(|(_, i)| i);
            let kind = cx.field(entries, "name", item).and_then(|i| name_of(cx, i))?;
            let ms = match find("ms") {
                Some(v) => Some(cx.int(v, 20..=i64::from(MAX_TONE_MS), "milliseconds")? as u32),
                None => None,
            };
            let barge_in = match find("barge_in") {
                Some(v) => cx.boolean(v)?,
                None => true,
            };
            (kind, ms, barge_in)
        } else {
            (name_of(cx, item)?, None, true)
        };
        if ms.is_none() && !has_natural_length(kind) {
            let message = format!(
                "{} = {:?}: this tone repeats until stopped, give its length, e.g. \
                 {{ name = {:?}, ms = 3000 }}",
                cx.what,
                name(kind),
                name(kind)
            );
            cx.error(item.span().start, message);
            return None;
        }
        Some(Box::new(Tone { kind, ms, barge_in }))
    }
}

fn name(kind: ToneKind) -> &'static str {
    NAMES
        .iter()
        .find(|(_, k)| *k == kind)
        .map_or("?", |(name, _)| name)
}

impl Action for Tone {
    fn enter(&self, _flow: &Flow, _call: &mut IvrCall, cx: &mut CallCx) -> Step {
        cx.set_barge_in(self.barge_in);
        if cx.play_tone(self.kind, self.ms) {
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
        true
    }

    fn outcomes(&self) -> &'static [&'static str] {
        &[DONE]
    }

    fn links(&self) -> Vec<StateId> {
        Vec::new()
    }
}
