//! `fax_document = "${doc}"`: checks a document number against the fax-on-demand catalog before the
//! caller is asked to press Start, so a wrong number is refused while the caller can still hear it
//! (once their fax machine has taken the line, a spoken "no such document" is lost). Outcomes
//! `found` (sets `${fax_title}` to the document's title, cut to a variable's length) and `invalid`
//! (no such document, or no catalog configured).

use crate::engine::app::CallCx;

use super::action::{Action, ActionKind, IvrCall, ParseCx, Step};
use super::flow::{Flow, StateId};
use super::tree::Item;
use super::vars::Template;

pub(super) const KINDS: &[ActionKind] = &[ActionKind {
    key: "fax_document",
    parse: FaxDocument::parse,
}];

const FOUND: &str = "found";
const INVALID: &str = "invalid";

#[derive(Debug)]
struct FaxDocument {
    document: Template,
}

impl FaxDocument {
    fn parse(item: &Item, cx: &mut ParseCx) -> Option<Box<dyn Action>> {
        let document = cx.template(item)?;
        if !cx.sets_var("fax_title", item.span().start) {
            return None;
        }
        Some(Box::new(FaxDocument { document }))
    }
}

impl Action for FaxDocument {
    fn enter(&self, flow: &Flow, call: &mut IvrCall, _cx: &mut CallCx) -> Step {
        let id = self.document.render(&call.vars);
        let language = call.vars.get("language");
        let catalog = flow
            .business()
            .and_then(|b| b.fax_context())
            .and_then(|c| c.catalog.as_ref());
        let Some(document) = catalog.and_then(|c| c.get(id.as_str(), Some(language))) else {
            return Step::Done(INVALID);
        };
        // The catalog outlives the call (an Arc in the flow's business context): borrowing its
        // title here allocates nothing.
        let title = document.title.as_str();
        call.set_var(flow, "fax_title", title);
        Step::Done(FOUND)
    }

    fn waits(&self) -> bool {
        false
    }

    fn outcomes(&self) -> &'static [&'static str] {
        &[FOUND, INVALID]
    }

    fn links(&self) -> Vec<StateId> {
        Vec::new()
    }
}
