//! Call applications: state machines the engine steps with call events (DESIGN.md §2).

pub mod extensions;
pub mod fax;
pub mod ivr;
pub mod linetest;
pub mod recorder;
pub mod say;
pub mod supervisor;
pub mod voicemail;
