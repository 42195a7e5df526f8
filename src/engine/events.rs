//! Events out of the channel threads: fixed-size, `Copy`, no heap, so they cross a lock-free queue
//! on the real-time path. The store turns them into call-log rows; `telvox events` streams them as JSON.
//!
//! Times: `start_epoch_ms` is the wall clock when the call was offered; every later instant is
//! `at_sample`, samples of the channel's clock since then. In lockstep mode a 30 s call can take 30 ms
//! of wall time, and its log still says 30 s.

use crate::fixed::{DigitLog, Label, Name, Number};
use crate::hw::{CallRef, Cause, ChanId};

/// How a call ended, in Asterisk CDR terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Disposition {
    #[serde(rename = "ANSWERED")]
    Answered,
    #[serde(rename = "NO ANSWER")]
    NoAnswer,
    #[serde(rename = "BUSY")]
    Busy,
    #[serde(rename = "FAILED")]
    Failed,
    /// The daemon died with the call up; closed at the next start.
    #[serde(rename = "INTERRUPTED")]
    Interrupted,
}

impl Disposition {
    pub const fn as_str(self) -> &'static str {
        match self {
            Disposition::Answered => "ANSWERED",
            Disposition::NoAnswer => "NO ANSWER",
            Disposition::Busy => "BUSY",
            Disposition::Failed => "FAILED",
            Disposition::Interrupted => "INTERRUPTED",
        }
    }
}

/// One event about one call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CallEvent {
    pub call: CallRef,
    pub chan: ChanId,
    /// Samples of the channel clock since the call was offered.
    pub at_sample: u64,
    pub kind: EventKind,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum EventKind {
    /// A call was offered to (or placed by) a channel. The call-log row is inserted now.
    CallStart {
        start_epoch_ms: i64,
        src: Number,
        dst: Number,
        name: Name,
        flow: Label,
    },
    /// The call was answered (telvox went off-hook, or the far end answered an outbound call).
    Answer,
    /// The caller pressed a key (DTMF heard on the line): reported as soon as it is validated.
    Digit { digit: char },
    /// The key was released after `duration_ms` (a held key and a tap differ here).
    DigitEnd { digit: char, duration_ms: u32 },
    /// The flow entered a state.
    State { state: Label },
    /// A hook flash from the far end reached the call (an extension's phone flashed).
    Flash,
    /// The call is over. The row is completed now.
    CallEnd {
        cause: Cause,
        disposition: Disposition,
        digits: DigitLog,
    },
}

impl CallEvent {
    /// Start, answer and end make the call log; they are retried until the queue takes them,
    /// where digits and states are dropped (and counted) when the queue is full.
    pub fn is_critical(&self) -> bool {
        matches!(
            self.kind,
            EventKind::CallStart { .. } | EventKind::Answer | EventKind::CallEnd { .. }
        )
    }

    /// The event's `type` on the `telvox events` stream.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            EventKind::CallStart { .. } => "call_start",
            EventKind::Answer => "answer",
            EventKind::Digit { .. } => "digit",
            EventKind::DigitEnd { .. } => "digit_end",
            EventKind::State { .. } => "state",
            EventKind::Flash => "flash",
            EventKind::CallEnd { .. } => "call_end",
        }
    }
}
