//! The simulated card and PSTN (DESIGN.md §3, §4).
