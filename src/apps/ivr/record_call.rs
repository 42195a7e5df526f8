//! `record_call`: start or stop recording the whole call (both directions) from a flow, on the
//! call-recording tap — independent of `record` (the caller's message), which may run at the
//! same time. `record_call = "start"`, `record_call = "stop"`, or
//! `record_call = { action = "start", format = "pcm16" }`. Outcomes `done`, `error` (call
//! recording refused it: disk below the watermark, recorder too busy).

use crate::engine::app::CallCx;
use crate::engine::tap::RecordFormat;

use super::action::{Action, ActionKind, IvrCall, ParseCx, Step, DONE};
use super::flow::{Flow, StateId};
use super::tree::{Item, Node};

pub(super) const KINDS: &[ActionKind] = &[ActionKind {
    key: "record_call",
    parse: RecordCall::parse,
}];

const ERROR: &str = "error";

#[derive(Debug)]
struct RecordCall {
    start: bool,
    format: Option<RecordFormat>,
}

impl RecordCall {
    fn parse(item: &Item, cx: &mut ParseCx) -> Option<Box<dyn Action>> {
        let expected = "\"start\", \"stop\" or { action = \"start\", format = \"stereo\" }";
        let (action_item, format_item) = match item.get_ref() {
            Node::Str(_) => (item, None),
            Node::Table(_) => {
                let entries = cx.table(
                    item,
                    &["action", "format"],
                    "{ action = \"start\", format = \"stereo\" }",
                )?;
                let action = cx.field(entries, "action", item)?;
                let format = entries
                    .iter()
                    .find(|(k, _)| k.get_ref() == "format")
                    .map(|(_, i)| i);
                (action, format)
            }
            _ => {
                cx.bad(item, expected);
                return None;
            }
        };
        let start = match cx.string(action_item, expected)? {
            "start" => true,
            "stop" => false,
            _ => {
                cx.bad(action_item, "\"start\" or \"stop\"");
                return None;
            }
        };
        let format = match format_item {
            None => None,
            Some(f) => {
                let name = cx.string(f, "\"alaw\", \"pcm16\" or \"stereo\"")?;
                match RecordFormat::parse(name) {
                    Some(format) => Some(format),
                    None => {
                        cx.bad(f, "\"alaw\", \"pcm16\" or \"stereo\"");
                        return None;
                    }
                }
            }
        };
        Some(Box::new(RecordCall { start, format }))
    }
}

impl Action for RecordCall {
    fn enter(&self, _flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        if !self.start {
            cx.stop_call_recording();
            return Step::Done(DONE);
        }
        if cx.start_call_recording(self.format) {
            let agent = call.vars.get("agent");
            if !agent.is_empty() {
                cx.set_call_agent(agent);
            }
            Step::Done(DONE)
        } else {
            Step::Done(ERROR)
        }
    }

    fn waits(&self) -> bool {
        false
    }

    fn outcomes(&self) -> &'static [&'static str] {
        &[DONE, ERROR]
    }

    fn links(&self) -> Vec<StateId> {
        Vec::new()
    }
}
