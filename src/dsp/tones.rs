//! Call-progress tones: national tone plans, a tone generator, and a call-progress detector.
//!
//! - [`plan`]: what each country plays (frequencies, level, cadence), with the spec each figure
//!   comes from, plus the fax tones (CNG, CED, ANSam) and the record beep.
//! - [`ToneGenerator`]: plays a [`ToneSpec`] at an exact level and an exact, sample-counted cadence.
//! - [`ProgressDetector`]: listens to the far end and reports dial, ringback, busy, congestion, SIT,
//!   CNG and CED, each once, robust to speech, noise, level and G.711.
//!
//! All three follow DESIGN.md §5: tables and buffers are built in the constructors, and the
//! per-sample paths (`fill`, `process`) never allocate, lock or log.

mod detector;
mod generator;
pub mod plan;

pub use detector::{ProgressDetector, ProgressEvent};
pub use generator::ToneGenerator;
pub use plan::{fax_tone, tone, CadenceStep, Country, FaxTone, ToneKind, ToneSpec};

/// Sample rate of every channel (DESIGN.md §3).
const SAMPLE_RATE_HZ: u32 = crate::hw::SAMPLE_RATE_HZ;
const SAMPLES_PER_MS: u32 = SAMPLE_RATE_HZ / 1000;

/// Errors from the tone layer. Like [`super::DspError`], none can arise on the per-sample path: they
/// come from parsing a country code and from validating a [`ToneSpec`] when a generator is built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ToneError {
    /// A country code outside the plans telvox carries.
    #[error("unknown tone country '{code}' (use cn, kr, us, uk/gb or eu)")]
    UnknownCountry { code: String },
    /// A tone spec the generator cannot play faithfully.
    #[error("invalid tone spec: {0}")]
    InvalidSpec(&'static str),
}
