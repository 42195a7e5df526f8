//! telvox: a call-centre telephony daemon for DAHDI voice cards and a simulated card.
//!
//! Dependencies point one way (DESIGN.md §2): `apps → engine → dsp, hw`; `store`, `ctl` and `config`
//! are leaves that `daemon` wires together.

pub mod apps;
pub mod cli;
pub mod config;
pub mod ctl;
pub mod daemon;
pub mod dsp;
pub mod engine;
pub mod fixed;
pub mod hw;
pub mod store;
pub mod voice;
pub mod wav;
