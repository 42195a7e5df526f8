//! The channel engine: one thread per channel, paced by the card (DESIGN.md §1, §5).

pub mod app;
pub mod channel;
pub mod clock;
pub mod events;
pub mod line;
pub mod originate;
pub mod player;
pub mod sink;
pub mod status;
pub mod tap;
pub mod tone;
