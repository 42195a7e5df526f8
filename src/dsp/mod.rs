//! Signal processing: G.711, DTMF, tones, and the spandsp FFI wrapper.
//!
//! Everything here that runs per sample is allocation-free (DESIGN.md §5); allocation happens only in
//! constructors. `spandsp.rs` and `fax.rs` (the T.30 session) are
//! the modules in `dsp` allowed to use `unsafe`.

pub mod callerid;
pub mod conformance;
pub mod dtmf;
pub mod dtmf_gen;
pub mod fax;
pub mod g711;
pub mod level;
pub mod spandsp;
pub mod tones;

/// Errors from the DSP layer. None of them can arise on the per-sample path: they come from
/// construction (spandsp allocation) and from configuration-time calls such as queueing digits.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DspError {
    /// A spandsp `*_init` returned NULL: its only failure mode is an allocation failure.
    #[error("spandsp could not create its {what} state (out of memory)")]
    SpandspInit { what: &'static str },
    /// A character that is not one of the 16 DTMF keys (0-9, *, #, A-D).
    #[error("'{key}' is not a DTMF key (use 0-9, *, #, A-D)")]
    InvalidKey { key: char },
    /// Queueing the keys would exceed the generator's bounded queue.
    #[error("DTMF queue full: {queued} keys queued, {requested} more requested, limit {limit}")]
    QueueFull {
        queued: usize,
        requested: usize,
        limit: usize,
    },
    /// A generator setting outside the range the generator supports.
    #[error("invalid DSP setting: {0}")]
    InvalidSetting(&'static str),
}
