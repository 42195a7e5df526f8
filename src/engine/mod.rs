//! The channel engine: one thread per channel, paced by the card (DESIGN.md §1, §5).

pub mod events;
