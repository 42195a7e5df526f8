//! The card layer (DESIGN.md §3): one Channel/Card interface for the simulated card and for DAHDI.
//!
//! A channel behaves like `/dev/dahdi/channel` with a 160-sample blocksize: `read` blocks until the next
//! 20 ms block of G.711 arrives (or a signalling event is pending, which DAHDI reports as `ELAST`),
//! `write` queues one block for the card, and `control` is the DAHDI_HOOK family of ioctls. This layer
//! knows nothing of calls, flows or prompts.

pub mod any;
pub mod dahdi;
pub mod sim;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::fixed::{Name, Number};

/// Samples per second on every channel (G.711).
pub const SAMPLE_RATE_HZ: u32 = 8000;
/// Samples (and G.711 bytes) per block: 20 ms, DAHDI's usual blocksize.
pub const BLOCK_SAMPLES: usize = 160;
/// Blocks per second at 20 ms per block.
pub const BLOCKS_PER_SECOND: u32 = SAMPLE_RATE_HZ / BLOCK_SAMPLES as u32;

/// One 20 ms block of G.711 bytes, as read from and written to a channel.
pub type Block = [u8; BLOCK_SAMPLES];

/// The G.711 companding law a span runs in (E1: A-law, T1/J1: µ-law).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Law {
    #[serde(alias = "a-law", alias = "a")]
    Alaw,
    #[serde(alias = "mu-law", alias = "µ-law", alias = "ulaw", alias = "u")]
    Ulaw,
}

impl Law {
    /// The byte a silent line carries in this law (positive zero).
    pub const fn silence_byte(self) -> u8 {
        match self {
            Law::Alaw => 0xD5,
            Law::Ulaw => 0xFF,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Law::Alaw => "alaw",
            Law::Ulaw => "ulaw",
        }
    }
}

/// What a channel is for at this site.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A line from the PSTN: an FXO port or an E1/T1 B-channel. Callers arrive here.
    Trunk,
    /// An agent or staff phone on an FXS port.
    Extension,
}

/// Span and channel number, both 1-based, shown as `span/chan` like DAHDI's `DAHDI/1-5` shorthand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChanId {
    pub span: u16,
    pub chan: u16,
}

impl fmt::Display for ChanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.span, self.chan)
    }
}

/// An opaque correlation id the engine gives a call, which a card may echo to its far end (the sim
/// tells the far-end party; DAHDI ignores it). `epoch_s.seq`, like an Asterisk uniqueid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct CallRef {
    pub epoch_s: u64,
    pub seq: u64,
}

impl fmt::Display for CallRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.epoch_s, self.seq)
    }
}

/// Why a call ended: the ITU-T Q.850 cause, named as Asterisk names them so admins recognise them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cause {
    Unallocated,
    NormalClearing,
    UserBusy,
    NoUserResponse,
    NoAnswer,
    CallRejected,
    DestinationOutOfOrder,
    InvalidNumberFormat,
    NormalUnspecified,
    NormalCircuitCongestion,
    NetworkOutOfOrder,
    NormalTemporaryFailure,
    RecoveryOnTimerExpire,
    Interworking,
}

impl Cause {
    const ALL: [Cause; 14] = [
        Cause::Unallocated,
        Cause::NormalClearing,
        Cause::UserBusy,
        Cause::NoUserResponse,
        Cause::NoAnswer,
        Cause::CallRejected,
        Cause::DestinationOutOfOrder,
        Cause::InvalidNumberFormat,
        Cause::NormalUnspecified,
        Cause::NormalCircuitCongestion,
        Cause::NetworkOutOfOrder,
        Cause::NormalTemporaryFailure,
        Cause::RecoveryOnTimerExpire,
        Cause::Interworking,
    ];

    /// The Q.850 cause value.
    pub const fn q850(self) -> u8 {
        match self {
            Cause::Unallocated => 1,
            Cause::NormalClearing => 16,
            Cause::UserBusy => 17,
            Cause::NoUserResponse => 18,
            Cause::NoAnswer => 19,
            Cause::CallRejected => 21,
            Cause::DestinationOutOfOrder => 27,
            Cause::InvalidNumberFormat => 28,
            Cause::NormalUnspecified => 31,
            Cause::NormalCircuitCongestion => 34,
            Cause::NetworkOutOfOrder => 38,
            Cause::NormalTemporaryFailure => 41,
            Cause::RecoveryOnTimerExpire => 102,
            Cause::Interworking => 127,
        }
    }

    /// Asterisk's name for the cause (`HANGUPCAUSE` text), used on the sim protocol and in the call log.
    pub const fn name(self) -> &'static str {
        match self {
            Cause::Unallocated => "UNALLOCATED",
            Cause::NormalClearing => "NORMAL_CLEARING",
            Cause::UserBusy => "USER_BUSY",
            Cause::NoUserResponse => "NO_USER_RESPONSE",
            Cause::NoAnswer => "NO_ANSWER",
            Cause::CallRejected => "CALL_REJECTED",
            Cause::DestinationOutOfOrder => "DESTINATION_OUT_OF_ORDER",
            Cause::InvalidNumberFormat => "INVALID_NUMBER_FORMAT",
            Cause::NormalUnspecified => "NORMAL_UNSPECIFIED",
            Cause::NormalCircuitCongestion => "NORMAL_CIRCUIT_CONGESTION",
            Cause::NetworkOutOfOrder => "NETWORK_OUT_OF_ORDER",
            Cause::NormalTemporaryFailure => "NORMAL_TEMPORARY_FAILURE",
            Cause::RecoveryOnTimerExpire => "RECOVERY_ON_TIMER_EXPIRE",
            Cause::Interworking => "INTERWORKING",
        }
    }

    /// The cause for a Q.850 value; values telvox does not name become NORMAL_UNSPECIFIED.
    pub fn from_q850(code: u8) -> Cause {
        Self::ALL
            .into_iter()
            .find(|c| c.q850() == code)
            .unwrap_or(Cause::NormalUnspecified)
    }

    /// Parses a cause as a far end names it: Asterisk's name (any case), a short alias
    /// (`busy`, `congestion`, `rejected`, `noanswer`, `normal`) or the Q.850 number.
    pub fn parse(text: &str) -> Option<Cause> {
        let upper = text.trim().to_ascii_uppercase();
        let alias = match upper.as_str() {
            "BUSY" => Some(Cause::UserBusy),
            "CONGESTION" => Some(Cause::NormalCircuitCongestion),
            "REJECTED" | "REJECT" => Some(Cause::CallRejected),
            "NOANSWER" | "NO ANSWER" => Some(Cause::NoAnswer),
            "NORMAL" => Some(Cause::NormalClearing),
            _ => None,
        };
        if alias.is_some() {
            return alias;
        }
        if let Ok(code) = upper.parse::<u8>() {
            return Self::ALL.into_iter().find(|c| c.q850() == code);
        }
        Self::ALL.into_iter().find(|c| c.name() == upper)
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Who is calling whom, as the network signals it when a call is offered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallInfo {
    /// Calling party number (ANI / caller ID); empty when withheld.
    pub from: Number,
    /// Called party number (DNIS / DID).
    pub to: Number,
    /// Calling party name, when the network sends one.
    pub name: Name,
}

/// Signalling from the card to a channel thread (DAHDI_GETEVENT's events, plus the call offer that a
/// digital span's D-channel or an analog line's caller ID would carry).
///
/// Two levels share this type. The call-level events (`Offered` … `Hangup`) are what the engine's
/// channel loop acts on; a channel with [`Signalling::Network`] (the sim's network, later ISDN)
/// produces them directly. The line-level events (`OffHook` … `Bits`) are what an analog or CAS line
/// reports (DAHDI's events, named for their meaning at the port); `engine::line` turns them into
/// call-level ones for the signalling the channel has, so the engine's loop never sees them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChanEvent {
    /// A call is offered on this channel. Rings follow.
    Offered(CallInfo),
    /// Ring voltage on (DAHDI_EVENT_RINGBEGIN).
    RingBegin,
    /// Ring voltage off: one ring burst ended (DAHDI_EVENT_RINGOFFHOOK on an FXO port).
    RingEnd,
    /// The far end answered a call this channel placed.
    Answered,
    /// The far end cleared (loop-current drop, battery drop or a release from the network).
    Hangup(Cause),
    /// A hook flash from the far end (DAHDI_EVENT_WINKFLASH; on an E&M line this is the wink).
    Flash,
    /// The span's alarms changed; [`Alarms::NONE`] = recovered.
    Alarm(Alarms),
    /// Line level: the far end went off-hook — a phone on an extension (FXS port) was lifted, or an
    /// E&M far end seized or answered (DAHDI_EVENT_RINGOFFHOOK on fxo-signalled and E&M channels).
    OffHook,
    /// Line level: loop current / battery dropped on a trunk (kewlstart disconnect), or the phone on
    /// an extension was hung up, or the E&M far end released (DAHDI_EVENT_ONHOOK).
    OnHook,
    /// Line level: the line's polarity reversed (DAHDI_EVENT_POLARITY): answer or disconnect
    /// supervision on trunks that signal that way, or the start of caller ID (ETSI).
    Polarity,
    /// Line level: a hook state change this channel asked for (flash, wink, start) has completed
    /// (DAHDI_EVENT_HOOKCOMPLETE).
    HookComplete,
    /// Line level: the digits of a [`Control::DialDigits`] have all been sent (DAHDI_EVENT_DIALCOMPLETE).
    DialComplete,
    /// Line level: the ringer of an extension this channel rings went on / off, one burst of the
    /// cadence (DAHDI_EVENT_RINGERON / RINGEROFF): caller ID to the phone goes in the first silence.
    RingerOn,
    RingerOff,
    /// Line level: the received CAS ABCD bits changed (DAHDI_EVENT_BITSCHANGED); the low nibble
    /// holds A=8 B=4 C=2 D=1, already masked (the dynamic-span driver leaks a neighbour's bits).
    Bits(u8),
}

/// A span's alarm state as a set of DAHDI's alarm kinds. Channels on a span in alarm are out of
/// service until it clears.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Alarms(pub u8);

impl Alarms {
    pub const NONE: Alarms = Alarms(0);
    /// Loss of signal or framing here (DAHDI_ALARM_RED).
    pub const RED: Alarms = Alarms(1);
    /// The far end reports it lost our signal (remote alarm indication, DAHDI_ALARM_YELLOW).
    pub const YELLOW: Alarms = Alarms(2);
    /// All-ones from upstream: the line behind the far end is down (AIS, DAHDI_ALARM_BLUE).
    pub const BLUE: Alarms = Alarms(4);
    /// The span is looped back (DAHDI_ALARM_LOOPBACK).
    pub const LOOPBACK: Alarms = Alarms(8);
    /// The span is not open / not configured (DAHDI_ALARM_NOTOPEN).
    pub const NOT_OPEN: Alarms = Alarms(16);

    pub const fn is_clear(self) -> bool {
        self.0 == 0
    }

    pub const fn contains(self, other: Alarms) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn union(self, other: Alarms) -> Alarms {
        Alarms(self.0 | other.0)
    }

    /// The alarms' names as `telvox status` shows them: `red,yellow`, or `ok`.
    pub fn names(self) -> String {
        const NAMES: [(Alarms, &str); 5] = [
            (Alarms::RED, "red"),
            (Alarms::YELLOW, "yellow"),
            (Alarms::BLUE, "blue"),
            (Alarms::LOOPBACK, "loopback"),
            (Alarms::NOT_OPEN, "notopen"),
        ];
        let names: Vec<&str> = NAMES
            .iter()
            .filter(|(a, _)| self.contains(*a))
            .map(|(_, n)| *n)
            .collect();
        if names.is_empty() {
            "ok".to_string()
        } else {
            names.join(",")
        }
    }
}

/// Signalling from a channel thread to the card (DAHDI_HOOK and friends).
///
/// As with [`ChanEvent`], two levels: the call-level controls (`Answer` … `Flash`) are what the
/// engine's loop sends; `engine::line` turns them into the line-level ones (`OffHook` … `SetBits`)
/// for analog and CAS channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Go off-hook on an offered call (answer). `call` is echoed to the far end where the card can.
    Answer { call: CallRef },
    /// Go on-hook: clear the call, or refuse an offered one, with a cause for digital/sim spans.
    Hangup { cause: Cause },
    /// Seize the line and dial `number` (an outbound call). `Answered` or `Hangup` follows.
    Dial {
        number: Number,
        from: Number,
        call: CallRef,
    },
    /// A hook flash toward the far end (DAHDI_HOOK DAHDI_FLASH).
    Flash,
    /// Line level: go off-hook (DAHDI_HOOK DAHDI_OFFHOOK): answer a trunk, or stop ringing an
    /// extension that was lifted.
    OffHook,
    /// Line level: go on-hook (DAHDI_HOOK DAHDI_ONHOOK): release a trunk, or drop battery on an
    /// extension (kewlstart disconnect toward the phone).
    OnHook,
    /// Line level: ring an extension with the zone's cadence (DAHDI_HOOK DAHDI_RING).
    Ring,
    /// Line level: stop ringing (DAHDI_HOOK DAHDI_RINGOFF).
    RingOff,
    /// Line level: seize an E&M trunk (DAHDI_HOOK DAHDI_START).
    Start,
    /// Line level: send a wink on an E&M trunk (DAHDI_HOOK DAHDI_WINK).
    Wink,
    /// Line level: send digits in-band (DAHDI_DIAL): DTMF, or loop-disconnect pulses when `pulse`.
    /// `ChanEvent::DialComplete` follows. A write during the dial cancels it on DAHDI: the line's
    /// writer sends nothing until then.
    DialDigits { digits: Number, pulse: bool },
    /// Line level: set the transmitted CAS ABCD bits (low nibble, A=8 B=4 C=2 D=1; DAHDI_SETTXBITS).
    SetBits(u8),
}

/// How a channel signals, named as DAHDI's system.conf names it. It decides which of `engine::line`'s
/// state machines sits between the channel and the engine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signalling {
    /// Call-level signalling from the network (the sim's default; ISDN later): no line state machine.
    #[default]
    Network,
    /// An analog trunk on an FXO port, kewlstart: DAHDI `fxsks` (the port is FXS-*signalled*).
    Fxsks,
    /// An analog trunk on an FXO port, loopstart: DAHDI `fxsls` (no disconnect supervision: busy
    /// tone or polarity reversal is the only hang-up signal).
    Fxsls,
    /// An extension (phone) on an FXS port, kewlstart: DAHDI `fxoks`.
    Fxoks,
    /// An extension (phone) on an FXS port, loopstart: DAHDI `fxols`.
    Fxols,
    /// E&M, immediate start: DAHDI `e&m`.
    #[serde(rename = "em")]
    EmImmediate,
    /// E&M, wink start: DAHDI `e&m`, telvox answers a seizure with a wink before the digits.
    #[serde(rename = "em_wink")]
    EmWink,
    /// A clear channel (E1/T1 B-channel without signalling): DAHDI `clear`/`bchan`.
    Clear,
}

impl Signalling {
    /// The keyword DAHDI's system.conf and /proc/dahdi use for this signalling.
    pub const fn dahdi_keyword(self) -> &'static str {
        match self {
            Signalling::Network => "network",
            Signalling::Fxsks => "fxsks",
            Signalling::Fxsls => "fxsls",
            Signalling::Fxoks => "fxoks",
            Signalling::Fxols => "fxols",
            Signalling::EmImmediate | Signalling::EmWink => "e&m",
            Signalling::Clear => "clear",
        }
    }

    /// The role a channel with this signalling plays: FXO-signalled ports ring phones.
    pub const fn role(self) -> Role {
        match self {
            Signalling::Fxoks | Signalling::Fxols => Role::Extension,
            _ => Role::Trunk,
        }
    }
}

/// What one `read` produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadOutcome {
    /// The block buffer holds the next 20 ms of audio from the line.
    Audio,
    /// A signalling event is pending; no audio was read.
    Event(ChanEvent),
    /// The card closed the channel (daemon shutdown or hardware gone): the thread should exit.
    Closed,
    /// Another thread woke the channel with its [`ChannelWaker`] (work for an idle line, such as
    /// an outbound call to place); no audio was read and no block is owed.
    Woken,
}

/// Wakes a channel thread blocked in `read` on an idle line, for a card that delivers no blocks
/// while a line is on-hook (the sim). Cheap, never blocks, callable from any thread.
pub trait ChannelWaker: Send + Sync {
    fn wake(&self);
}

/// Errors from the card layer.
#[derive(Debug, thiserror::Error)]
pub enum HwError {
    #[error("channel {chan}: {op} failed: {source}")]
    Io {
        chan: ChanId,
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("card: {0}")]
    Card(String),
}

/// One channel of a card, owned by exactly one channel thread.
pub trait Channel: Send {
    fn id(&self) -> ChanId;
    fn law(&self) -> Law;
    fn role(&self) -> Role;
    /// Blocks until the next 20 ms block arrives or an event is pending.
    fn read(&mut self, block: &mut Block) -> Result<ReadOutcome, HwError>;
    /// Hands the card the next 20 ms block to send. Never blocks for long: the card drains it each tick.
    fn write(&mut self, block: &Block) -> Result<(), HwError>;
    /// Signals toward the line (answer, hang up, dial, flash).
    fn control(&mut self, control: Control) -> Result<(), HwError>;
    /// How this channel signals; [`Signalling::Network`] channels speak call-level events directly.
    fn signalling(&self) -> Signalling {
        Signalling::Network
    }
    /// A waker for this channel's `read` (then `read` returns [`ReadOutcome::Woken`] once per
    /// wake). None for hardware that delivers blocks continuously, idle or not (DAHDI): the channel
    /// thread sees its work at the next block anyway.
    fn waker(&self) -> Option<std::sync::Arc<dyn ChannelWaker>> {
        None
    }
}

/// What a card reports about one span.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SpanInfo {
    pub span: u16,
    pub name: String,
    pub law: Law,
    pub channels: u16,
    pub role: Role,
}

/// Counters a card keeps, read by `telvox status`. All monotonic.
#[derive(Debug, Default)]
pub struct CardCounters {
    /// Ticks the card made.
    pub ticks: AtomicU64,
    /// Blocks a channel in use had not written when the card needed them (the card sent idle instead).
    pub late_blocks: AtomicU64,
    /// Blocks a far-end party had not delivered in time (the card played silence instead).
    pub underruns: AtomicU64,
    /// Audio bytes a far end sent beyond what its jitter buffer holds (discarded).
    pub overflow_bytes: AtomicU64,
    /// Timer ticks the card thread missed because it was not scheduled in time (realtime clock).
    pub missed_ticks: AtomicU64,
    /// Calls the card refused because every channel on the route was busy.
    pub congestion: AtomicU64,
    /// Blocks a channel wrote that the card could not take (its queue was full).
    pub tx_overruns: AtomicU64,
    /// Blocks the card could not hand a channel thread that had fallen behind.
    pub rx_overruns: AtomicU64,
}

/// A plain copy of [`CardCounters`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CardCountersSnapshot {
    pub ticks: u64,
    pub late_blocks: u64,
    pub underruns: u64,
    pub overflow_bytes: u64,
    pub missed_ticks: u64,
    pub congestion: u64,
    pub tx_overruns: u64,
    pub rx_overruns: u64,
}

impl CardCounters {
    pub fn snapshot(&self) -> CardCountersSnapshot {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CardCountersSnapshot {
            ticks: get(&self.ticks),
            late_blocks: get(&self.late_blocks),
            underruns: get(&self.underruns),
            overflow_bytes: get(&self.overflow_bytes),
            missed_ticks: get(&self.missed_ticks),
            congestion: get(&self.congestion),
            tx_overruns: get(&self.tx_overruns),
            rx_overruns: get(&self.rx_overruns),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_parse_by_name_alias_and_number() {
        assert_eq!(Cause::parse("busy"), Some(Cause::UserBusy));
        assert_eq!(Cause::parse("NORMAL_CLEARING"), Some(Cause::NormalClearing));
        assert_eq!(
            Cause::parse("normal_circuit_congestion"),
            Some(Cause::NormalCircuitCongestion)
        );
        assert_eq!(Cause::parse("21"), Some(Cause::CallRejected));
        assert_eq!(Cause::parse("nonsense"), None);
        for cause in Cause::ALL {
            assert_eq!(Cause::parse(cause.name()), Some(cause));
            assert_eq!(Cause::parse(&cause.q850().to_string()), Some(cause));
        }
    }

    #[test]
    fn chan_id_prints_like_span_slash_channel() {
        assert_eq!(ChanId { span: 1, chan: 5 }.to_string(), "1/5");
    }
}
