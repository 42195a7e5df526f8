//! Caller ID (CLIP / Calling Number Delivery) sent to and received from an analog line: the FSK
//! formats of North America and Europe, and the DTMF format used in China, India, Scandinavia and
//! elsewhere.
//!
//! | piece                | where                | standard                                                  |
//! |----------------------|----------------------|-----------------------------------------------------------|
//! | message model        | [`CallerId`]         | Bellcore GR-30-CORE, ETSI EN 300 659-3                    |
//! | SDMF / MDMF bytes    | [`message`]          | GR-30-CORE (SDMF 0x04, MDMF 0x80), EN 300 659-3           |
//! | FSK audio out        | [`fsk_tx`]           | Bell 202 (GR-30-CORE), ITU-T V.23 (EN 300 659-1, BT SIN 227) |
//! | FSK audio in         | [`fsk_rx`]           | the same                                                  |
//! | DTMF digits in / out | [`dtmf_clip`]        | EN 300 659-1 DTMF annex, TeleDanmark's DTMF CLIP          |
//!
//! Everything that runs per sample ([`fsk_rx::FskCallerIdRx::process`], [`dtmf_clip::DtmfClipRx`])
//! is allocation-free (DESIGN.md §5). The encoders allocate their output: they run once per call,
//! before the first ring.

pub mod dtmf_clip;
pub mod fsk_rx;
pub mod fsk_tx;
pub mod message;

pub use dtmf_clip::{dtmf_clip_digits, encode_dtmf_clip, DtmfClipRx, DtmfClipVariant};
pub use fsk_rx::FskCallerIdRx;
pub use fsk_tx::{encode_fsk, encode_fsk_with, FskStandard, FskTxConfig};
pub use message::{encode_message, parse_message, Format};

use super::DspError;

/// Sample rate of every channel (DESIGN.md §3).
const SAMPLE_RATE_HZ: u32 = 8000;

/// Why a field is absent ("reason for absence", GR-30-CORE / EN 300 659-3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Absence {
    /// The caller withheld it: ASCII 'P' on the line.
    Private,
    /// The network does not have it (out of area, international, interworking): ASCII 'O'.
    Unavailable,
}

impl Absence {
    /// The byte GR-30-CORE and EN 300 659-3 send for this reason.
    pub const fn code(self) -> u8 {
        match self {
            Absence::Private => b'P',
            Absence::Unavailable => b'O',
        }
    }

    /// The reason a received byte stands for, if it is one of the two defined codes.
    pub const fn from_code(code: u8) -> Option<Absence> {
        match code {
            b'P' => Some(Absence::Private),
            b'O' => Some(Absence::Unavailable),
            _ => None,
        }
    }
}

/// The local date and time of the call as the exchange sends it: no year and no seconds
/// (GR-30-CORE and EN 300 659-3 both carry "MMDDHHMM").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CallTime {
    /// 1..=12.
    pub month: u8,
    /// 1..=31 (not checked against the month: the line carries no year to check February with).
    pub day: u8,
    /// 0..=23.
    pub hour: u8,
    /// 0..=59.
    pub minute: u8,
}

impl CallTime {
    /// A call time, or `None` if any field is out of its range.
    pub fn new(month: u8, day: u8, hour: u8, minute: u8) -> Option<CallTime> {
        let time = CallTime {
            month,
            day,
            hour,
            minute,
        };
        time.is_valid().then_some(time)
    }

    /// True when every field is inside its range.
    pub fn is_valid(&self) -> bool {
        (1..=12).contains(&self.month) && (1..=31).contains(&self.day) && self.hour < 24 && self.minute < 60
    }
}

/// What one caller ID message says about a call. Every field is optional because every format
/// leaves some out: SDMF has no name, DTMF has neither name nor time.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct CallerId {
    /// The calling number (digits, possibly `*`, `#` or `+` in FSK formats).
    pub number: Option<String>,
    /// The calling party's name (MDMF only).
    pub name: Option<String>,
    /// When the exchange sent the message.
    pub datetime: Option<CallTime>,
    /// Why `number` is missing; never set together with `number`.
    pub number_absence: Option<Absence>,
    /// Why `name` is missing; never set together with `name`.
    pub name_absence: Option<Absence>,
}

/// Everything that can go wrong building or reading a caller ID message. No variant owns heap
/// memory, so a receiver can queue errors without allocating.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CallerIdError {
    // --- building a message ---
    /// The message would carry nothing.
    #[error("caller ID has nothing to send: set a number, name, time or reason for absence")]
    NothingToSend,
    /// A value and the reason for its absence were both given.
    #[error("caller ID {field} and the reason for its absence are both set; keep one")]
    Conflict { field: &'static str },
    /// The chosen format cannot carry something the message holds.
    #[error("{format} cannot carry {what}; use {instead}")]
    NotRepresentable {
        format: &'static str,
        what: &'static str,
        instead: &'static str,
    },
    /// A field longer than the format allows.
    #[error("caller ID {field} is {chars} characters; the limit is {limit}")]
    FieldTooLong {
        field: &'static str,
        chars: usize,
        limit: usize,
    },
    /// A field shorter than the format allows.
    #[error("caller ID {field} is {chars} characters; it needs at least {minimum}")]
    FieldTooShort {
        field: &'static str,
        chars: usize,
        minimum: usize,
    },
    /// A character the format cannot carry in this field (or a received byte outside printable ASCII).
    #[error("caller ID {field} contains {character:?}, which the format cannot carry")]
    InvalidCharacter { field: &'static str, character: char },
    /// A date or time outside the calendar (month 13, minute 60, or non-digits on the line).
    #[error("caller ID date/time is not a valid MMDDHHMM")]
    BadDateTime,
    /// A transmitter setting outside the range the modulator supports.
    #[error("invalid caller ID transmitter setting: {0}")]
    InvalidSetting(&'static str),

    // --- reading an FSK message ---
    /// The bytes do not sum to zero modulo 256 (GR-30-CORE checksum).
    #[error("caller ID checksum failed: the message sums to {sum:#04x}, not 0")]
    Checksum { sum: u8 },
    /// A message type other than SDMF (0x04) or MDMF call set-up (0x80).
    #[error("caller ID message type {message_type:#04x} is neither SDMF (0x04) nor MDMF (0x80)")]
    UnknownMessageType { message_type: u8 },
    /// The frame holds more bytes than its length byte declares.
    #[error("caller ID message declares {declared} bytes but the frame holds {actual}")]
    BadLength { declared: usize, actual: usize },
    /// A parameter (or the SDMF body) whose length is wrong for its type or overruns the message.
    #[error("caller ID parameter {parameter:#04x} has an invalid length {length}")]
    BadParameterLength { parameter: u8, length: usize },
    /// The same MDMF parameter twice.
    #[error("caller ID parameter {parameter:#04x} appears twice")]
    DuplicateParameter { parameter: u8 },
    /// A reason-for-absence byte other than 'P' or 'O'.
    #[error("caller ID reason for absence {value:#04x} is neither 'P' nor 'O'")]
    UnknownAbsence { value: u8 },
    /// The message stopped before its declared end (carrier lost or a long pause).
    #[error("caller ID message truncated after {received} of {expected} bytes")]
    Truncated { received: usize, expected: usize },
    /// A channel seizure was followed by data with no mark signal in between.
    #[error("caller ID channel seizure was not followed by a mark signal")]
    MissingMarkSignal,
    /// A byte whose stop bit was a space: the bit timing or the line is broken.
    #[error("caller ID framing error (no stop bit) at message byte {byte_index}")]
    Framing { byte_index: usize },

    // --- DTMF CLIP ---
    /// A digit that has no place at this point of a DTMF CLIP sequence.
    #[error("unexpected DTMF digit '{digit}' in a caller ID sequence")]
    UnexpectedDigit { digit: char },
    /// More digits than the receiver holds.
    #[error("DTMF caller ID longer than {limit} digits")]
    TooManyDigits { limit: usize },
    /// The digits stopped before an end digit arrived.
    #[error("DTMF caller ID timed out after {digits} digits without an end digit")]
    Timeout { digits: usize },
    /// A start digit immediately followed by an end digit.
    #[error("DTMF caller ID sequence is empty")]
    EmptySequence,
    /// A `D<code>` whose code is not one this receiver knows.
    #[error("DTMF caller ID absence code '{code}' is not 1, 2 or 3")]
    UnknownAbsenceCode { code: char },
    /// The DTMF generator refused a setting.
    #[error(transparent)]
    Dtmf(#[from] DspError),
}
