//! `call` and `return`: sub-flows. `call = "state"` runs that state (and whatever it leads to)
//! until a `return`, then carries on after the `call` with outcome `done` — one "enter your PIN"
//! routine shared by several menus. Calls nest at most [`MAX_CALL_DEPTH`] deep and may not
//! recurse; both are checked at load (`flow::check_calls`).

use crate::engine::app::CallCx;

use super::action::{Action, ActionKind, IvrCall, ParseCx, Step, DONE};
use super::flow::{Flow, StateId};
use super::tree::Item;

pub(super) const KINDS: &[ActionKind] = &[
    ActionKind {
        key: "call",
        parse: Call::parse,
    },
    ActionKind {
        key: "return",
        parse: Return::parse,
    },
];

/// Sub-flows in progress at once in one call.
pub const MAX_CALL_DEPTH: usize = 8;

/// `call = "state"`.
#[derive(Debug)]
struct Call {
    target: StateId,
}

impl Call {
    fn parse(item: &Item, cx: &mut ParseCx) -> Option<Box<dyn Action>> {
        let target = cx.state(item)?;
        Some(Box::new(Call { target }))
    }
}

impl Action for Call {
    fn enter(&self, _flow: &Flow, _call: &mut IvrCall, _cx: &mut CallCx) -> Step {
        Step::Call(self.target)
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

    fn calls(&self) -> Option<StateId> {
        Some(self.target)
    }
}

/// `return = true`: back after the latest `call`; with none in progress, the call ends.
#[derive(Debug)]
struct Return;

impl Return {
    fn parse(item: &Item, cx: &mut ParseCx) -> Option<Box<dyn Action>> {
        match cx.boolean(item)? {
            true => Some(Box::new(Return)),
            false => {
                cx.bad(item, "true (or leave the key out)");
                None
            }
        }
    }
}

impl Action for Return {
    fn enter(&self, _flow: &Flow, _call: &mut IvrCall, _cx: &mut CallCx) -> Step {
        Step::Return
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
