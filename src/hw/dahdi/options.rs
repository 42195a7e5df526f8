//! What a DAHDI hardware map says per span and per channel group (parsed by config::load, used by
//! the card when it opens channels and checks the map against the driver).

use crate::hw::Signalling;

/// DAHDI's transmit buffer policy (DAHDI_SET_BUFINFO).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BufferPolicy {
    /// Start sending as soon as a block is queued (lowest latency; the default).
    #[default]
    Immediate,
    /// Start when half the buffers are full.
    Half,
    /// Start when every buffer is full.
    Full,
}

impl BufferPolicy {
    pub const NAMES: &'static [&'static str] = &["immediate", "half", "full"];

    pub fn parse(text: &str) -> Option<BufferPolicy> {
        Some(match text {
            "immediate" => BufferPolicy::Immediate,
            "half" => BufferPolicy::Half,
            "full" => BufferPolicy::Full,
            _ => return None,
        })
    }

    pub fn dahdi(self) -> i32 {
        match self {
            BufferPolicy::Immediate => super::sys::POLICY_IMMEDIATE,
            BufferPolicy::Half => super::sys::POLICY_HALF_FULL,
            BufferPolicy::Full => super::sys::POLICY_WHEN_FULL,
        }
    }
}

/// Buffers per channel: DAHDI takes 2..=32; 4 × 20 ms keeps two blocks queued ahead of the card.
pub const DEFAULT_BUFFERS: u8 = 4;
pub const BUFFERS_RANGE: std::ops::RangeInclusive<i64> = 2..=32;
/// Echo-canceller tail: 128 taps = 16 ms at 8 taps/ms; 0 = off.
pub const DEFAULT_ECHO_TAPS: u32 = 128;
pub const ECHO_TAPS_RANGE: std::ops::RangeInclusive<i64> = 0..=1024;
/// Gains a map may set, in dB.
pub const GAIN_DB_RANGE: std::ops::RangeInclusive<f64> = -24.0..=24.0;

/// The per-channel settings a span or a channel group sets.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct ChanOptions {
    /// Gain on what the line sends us / what we send the line, dB (DAHDI_SETGAINS).
    pub rx_gain_db: f32,
    pub tx_gain_db: f32,
    /// Echo-canceller taps, 0 = off (DAHDI_ECHOCANCEL_PARAMS; needs `echocanceller=` in system.conf).
    pub echo_taps: u32,
    pub buffer_policy: BufferPolicy,
    pub buffers: u8,
}

impl Default for ChanOptions {
    fn default() -> Self {
        ChanOptions {
            rx_gain_db: 0.0,
            tx_gain_db: 0.0,
            echo_taps: DEFAULT_ECHO_TAPS,
            buffer_policy: BufferPolicy::Immediate,
            buffers: DEFAULT_BUFFERS,
        }
    }
}

/// `[[span.group]]`: channels of a span (a mixed analog card) with their own signalling/settings.
#[derive(Clone, Debug, PartialEq)]
pub struct ChanGroup {
    /// Channel positions in the span, 1-based, inclusive.
    pub first: u16,
    pub last: u16,
    pub signalling: Signalling,
    pub options: ChanOptions,
    /// `unused = true`: telvox leaves these channels alone (a D-channel, timeslot 16 of an E1 CAS
    /// span, an unconfigured port).
    pub unused: bool,
    /// `file:line:col` of the group in the map, for errors found when the card starts.
    pub place: String,
}

/// A span's DAHDI settings in the hardware map.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SpanDahdi {
    /// DAHDI's span number (`dahdi_span`; default: the span's place in the map).
    pub dahdi_span: Option<u16>,
    pub options: ChanOptions,
    pub groups: Vec<ChanGroup>,
    /// `file:line:col` of the `[[span]]`, for errors found when the card starts.
    pub place: String,
}

impl SpanDahdi {
    /// Whether the last group naming channel `chan` marks it unused.
    pub fn unused(&self, chan: u16) -> bool {
        self.groups
            .iter()
            .rev()
            .find(|g| (g.first..=g.last).contains(&chan))
            .is_some_and(|g| g.unused)
    }

    /// Signalling and settings of channel `chan` (1-based) of a span whose own signalling is
    /// `span_signalling`: the last group naming the channel wins, else the span's.
    pub fn channel(&self, span_signalling: Signalling, chan: u16) -> (Signalling, ChanOptions, &str) {
        self.groups
            .iter()
            .rev()
            .find(|g| (g.first..=g.last).contains(&chan))
            .map_or((span_signalling, self.options, self.place.as_str()), |g| {
                (g.signalling, g.options, g.place.as_str())
            })
    }
}
