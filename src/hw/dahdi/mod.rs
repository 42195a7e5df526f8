//! The DAHDI backend (DESIGN.md §3): telvox's [`Channel`](crate::hw::Channel) on the DAHDI kernel
//! driver's `/dev/dahdi/channel`, the hardware map checked against what the driver has, `telvox hw
//! scan`, and the span monitor (alarms and error counters).
//!
//! - `sys`: the ABI (bindgen structs, nix ioctls, safe wrappers): the only `unsafe` here.
//! - `events`: DAHDI events and sigtypes in telvox's terms (pure, unit-tested).
//! - `chan`: one channel; `card`: inventory, map check, card start; `monitor`: span alarms/counters;
//!   `scan`: the proposed map; `options`: what the map sets per span / channel group.

pub mod card;
pub mod chan;
pub mod events;
pub mod monitor;
pub mod options;
pub mod scan;
pub mod sys;

pub use card::DahdiCard;
