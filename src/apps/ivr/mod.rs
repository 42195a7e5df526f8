//! Scripted IVR: call flows in TOML files (`flows/*.toml`, one flow per file, named by its stem),
//! run as a state machine on the channel thread. The schema is documented in docs/ivr-flows.md and
//! in the header of etc/flows/main.toml.
//!
//! - [`tree`]: the spanned TOML tree, for file:line:col diagnostics.
//! - [`vars`]: call variables, `${name}` templates, sums and comparisons (bounded, no heap per call).
//! - [`action`]: the [`Action`] trait and its [`Registry`]: new verbs are registered, not matched.
//! - [`builtin`]: play, say, collect, menu, set, branch, goto, hangup.
//! - [`business`]: the lookup threads serving `lookup` and `verify_pin` off the channel thread,
//!   and the business clock `hours` reads.
//! - [`flow`]: loading, validation (unknown states, actions, prompts; unset variables; unreachable
//!   states; cycles that never wait) and the resolved [`Flow`].
//! - [`run`]: the [`Ivr`] app with its per-call transition guard.

pub mod action;
mod builtin;
pub mod business;
mod callret;
pub mod fax;
mod fax_doc;
pub mod flow;
mod hours;
mod lookup;
pub mod outline;
pub mod record;
mod record_call;
pub mod run;
mod tone;
pub mod tree;
pub mod vars;

pub use action::{Action, ActionKind, IvrCall, ParseCx, Registry, Step};
pub use business::Business;
pub use flow::{flow_names, load_dir, parse_text, Flow, FlowSet, StateId};
pub use run::{Ivr, TRANSITION_LIMIT_STATE};
