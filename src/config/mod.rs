//! Configuration: the TOML schema, loading with file:line:col errors, validation and reload.
//!
//! `telvox.toml` names everything else; relative paths resolve against the directory of the file that
//! names them, so a copy of `etc/` runs anywhere. The hardware map defaults to the embedded sim card
//! (`hw/sim.toml`), the prompts to the directory this binary was built or installed with.

mod load;
pub mod pattern;
pub mod recording;
pub mod tree;

pub use load::{check_file, load_file, ConfigError, Diagnostic, Severity};

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::hw::{Law, Role};

/// The hardware map compiled into the binary: the sim card's default (one E1 span of 30 trunks).
pub const EMBEDDED_SIM_MAP: &str = include_str!("../../hw/sim.toml");
/// Where prompts live when the config does not say: set at build time by install.sh
/// (`TELVOX_VOICE_DIR=/usr/share/telvox/voice`), else the source tree's `voice/`.
pub const DEFAULT_VOICE_DIR: &str = match option_env!("TELVOX_VOICE_DIR") {
    Some(dir) => dir,
    None => concat!(env!("CARGO_MANIFEST_DIR"), "/voice"),
};
/// The flows built into the binary; `[numbers]` may also name any flow file in `flows_dir`.
pub const BUILTIN_FLOWS: &[&str] = &["linetest"];
/// Where flow files live when the config does not say and there is no `flows/` next to it: set at
/// build time by install.sh (`TELVOX_FLOWS_DIR`), else the source tree's `etc/flows` (the shipped
/// example), so a lone copy of telvox.toml still runs, as with `voice_dir`.
pub const DEFAULT_FLOWS_DIR: &str = match option_env!("TELVOX_FLOWS_DIR") {
    Some(dir) => dir,
    None => concat!(env!("CARGO_MANIFEST_DIR"), "/etc/flows"),
};

/// A fully loaded, validated configuration. Paths are absolute.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The file this was loaded from (absolute).
    pub source: PathBuf,
    /// Sockets and the pid file.
    pub run_dir: PathBuf,
    /// Database and stored files.
    pub data_dir: PathBuf,
    /// Prompt sets, one subdirectory per language (`en`, `zh`, ...).
    pub voice_dir: PathBuf,
    /// SCHED_FIFO + mlockall for the card and channel threads when permitted.
    pub realtime: bool,
    /// `tracing` filter directive, e.g. `info` or `telvox=debug`.
    pub log: String,
    /// Upper bound on any call's length; the engine hangs up politely when reached.
    pub max_call_seconds: u32,
    pub sim: SimConfig,
    pub hw: HwMap,
    /// Dialled number (exact, or an Asterisk-style `_` pattern) → flow name.
    pub numbers: BTreeMap<String, String>,
    pub linetest: LineTestConfig,
    /// IVR flow files (`*.toml`, one flow each, named by the file stem).
    pub flows_dir: PathBuf,
    /// `[business]`: the database `lookup`/`verify_pin` query and the clock `hours` reads.
    pub business: BusinessConfig,
    /// `[recording]` and the `[[record]]` rules: call recording.
    pub recording: recording::RecordingConfig,
    /// `mailboxes` (default: mailboxes.toml beside this file, when there is one).
    pub mailboxes: Option<PathBuf>,
    /// The mailboxes it holds, validated.
    pub voicemail: Option<crate::apps::voicemail::Mailboxes>,
    /// `supervisors` (default: supervisors.toml beside this file, when there is one): who may
    /// hear call recordings by phone.
    pub supervisors_file: Option<PathBuf>,
    /// The supervisors it holds, validated.
    pub supervisors: Option<crate::apps::supervisor::Supervisors>,
    /// `fax_catalog`: the fax-on-demand catalog (`faxdocs/catalog.toml`); None: no fax documents.
    pub fax_catalog: Option<PathBuf>,
    /// `[fax]`: how telvox presents itself to fax machines.
    pub fax: FaxConfig,
}

/// `[fax]`: the local station id (TSI/CSI), the header line on sent pages, error correction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaxConfig {
    pub station_id: String,
    pub header: Option<String>,
    pub ecm: bool,
    /// `email_to`: where received faxes are mailed (PDF attached), through mailboxes.toml's [smtp].
    pub email_to: Option<String>,
    /// `email_numbers = { "8300" = "sales@example.com" }`: per called number, overriding email_to.
    pub email_numbers: Vec<(String, String)>,
    /// `cover`: a cover page before every `fax_send` document (a flow's `cover` overrides it).
    pub cover: bool,
    /// `company`: the cover page's header (the company's name and details; `\n` breaks lines).
    pub company: Option<String>,
    /// The outbound queue's keys (`max_outbound_channels`, `retries`, ...).
    pub queue: FaxQueueConfig,
}

/// `[fax]` keys of the outbound fax queue (`apps::fax::dispatch`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaxQueueConfig {
    /// Outbound fax calls at once; None: half the trunk channels (at least one; never all).
    pub max_outbound_channels: Option<u32>,
    /// Further attempts after a busy, unanswered or failed one.
    pub retries: u32,
    /// Wait before the first retry; each further retry waits twice as long as the one before.
    pub retry_spacing_s: u32,
    /// How long a dialled fax number may ring.
    pub ring_timeout_s: u32,
    /// The number outbound fax calls present (the call log's `src`); None: the digits of
    /// `station_id`.
    pub caller_number: Option<String>,
    /// Days a finished job's files stay in `fax/out/<job>/` (its row stays for good); 0: forever.
    pub keep_finished_days: u32,
}

impl Default for FaxQueueConfig {
    fn default() -> Self {
        FaxQueueConfig {
            max_outbound_channels: None,
            retries: 3,
            retry_spacing_s: 300,
            ring_timeout_s: 60,
            caller_number: None,
            keep_finished_days: 30,
        }
    }
}

impl FaxQueueConfig {
    /// The channel limit for `trunks` trunk channels.
    pub fn outbound_channels(&self, trunks: usize) -> usize {
        let limit = match self.max_outbound_channels {
            Some(n) => n as usize,
            None => trunks / 2,
        };
        limit.min(trunks.saturating_sub(1)).max(usize::from(trunks > 1))
    }

    /// The number outbound calls present.
    pub fn caller_number(&self, station_id: &str) -> String {
        match &self.caller_number {
            Some(n) => n.clone(),
            None => station_id
                .chars()
                .filter(|c| c.is_ascii_digit() || *c == '+')
                .collect(),
        }
    }
}

impl Default for FaxConfig {
    fn default() -> Self {
        FaxConfig {
            station_id: "TELVOX".into(),
            header: None,
            ecm: true,
            email_to: None,
            email_numbers: Vec::new(),
            cover: false,
            company: None,
            queue: FaxQueueConfig::default(),
        }
    }
}

/// `[business]`: what IVR flows know of the business behind them.
#[derive(Clone, Debug, PartialEq)]
pub struct BusinessConfig {
    /// The SQLite database `lookup` and `verify_pin` read (opened read-only); default
    /// `<data_dir>/business.db`.
    pub db: PathBuf,
    /// The time zone `hours` judges opening hours in.
    pub timezone: chrono_tz::Tz,
    /// Wrong PINs in a row after which an account is locked (`verify_pin` → `locked`).
    pub pin_max_failures: u32,
    /// For tests only: the wall clock `hours` reads is frozen at this instant (RFC 3339).
    pub test_now: Option<chrono::DateTime<chrono::FixedOffset>>,
}

/// `[sim]`: how the simulated card is clocked and reached.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    pub clock: SimClock,
    /// The far-end socket; default `<run_dir>/sim.sock`.
    pub socket: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SimClock {
    /// The card ticks every 20 ms of wall time.
    Realtime,
    /// The card ticks when every party in a call has delivered its block: deterministic, as fast as
    /// the CPU allows.
    Lockstep,
}

/// The hardware map (`hw/*.toml`): which card, its spans, and how the sim routes dialled numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct HwMap {
    /// Where the map came from: a path, or `<embedded hw/sim.toml>`.
    pub source: String,
    pub card: CardKind,
    pub spans: Vec<SpanConfig>,
    /// Ring cadence the sim card plays to a trunk: on, off.
    pub ring_on_ms: u32,
    pub ring_off_ms: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CardKind {
    Sim,
    Dahdi,
}

/// One span of the hardware map.
#[derive(Clone, Debug, PartialEq)]
pub struct SpanConfig {
    /// 1-based, in file order.
    pub span: u16,
    pub name: String,
    pub law: Law,
    pub channels: u16,
    pub role: Role,
    /// Dialled numbers the (simulated) network routes to this span: exact numbers or `_` patterns.
    pub numbers: Vec<String>,
    /// The DTMF receiver's settings for this span's channels (`dtmf = { ... }`; Q.24 defaults).
    pub dtmf: crate::dsp::dtmf::DtmfRxConfig,
    /// The national tone plan of the line (`country = "cn"`, the default): what the sim's network
    /// plays on it, what the `tone` action plays, what the busy-tone detector listens for.
    pub country: crate::dsp::tones::Country,
    /// How the sim's network tells a channel that the far end hung up (`far_end_hangup`).
    pub far_end_hangup: crate::hw::sim::FarEndHangup,
    /// Whether the engine listens for busy/congestion tone on this span's calls and hangs up on it
    /// (`disconnect_tone = true`: lines without loop-current disconnect).
    pub disconnect_tone: bool,
    /// How the span's channels signal (`signalling`, default `"network"`: call-level, as the sim's
    /// network and ISDN do); analog and CAS signalling put an `engine::line` state machine in front
    /// of the engine.
    pub signalling: crate::hw::Signalling,
    /// The numbers an extension span's channels answer to, channel 1 first (`extensions`): the
    /// caller's number on calls the phone makes and the number that rings it.
    pub extensions: Vec<String>,
    /// The FSK modem caller ID and VMWI are sent to this span's phones with (`phone_callerid`:
    /// "v23" or "bell202"); None: Bell 202 on `country = "us"` spans, V.23 elsewhere.
    pub phone_callerid: Option<crate::dsp::callerid::FskStandard>,
    /// DAHDI settings: the driver's span number, gains, echo canceller, buffers, channel groups.
    pub dahdi: crate::hw::dahdi::options::SpanDahdi,
    /// Analog trunk and E&M settings (`caller_id`, `caller_id_start`, `hangup_on_polarity`,
    /// `answer_on_polarity`, `ring_timeout_ms`, `dnis_timeout_ms`; the line's number).
    pub analog: crate::engine::line::AnalogOptions,
}

/// The tone plan a span uses when its map does not say: China's (the embedded map's ring cadence,
/// 1 s on / 4 s off, is China's too).
pub const DEFAULT_COUNTRY: crate::dsp::tones::Country = crate::dsp::tones::Country::Cn;

/// `[linetest]`: the built-in diagnostic flow.
#[derive(Clone, Debug, PartialEq)]
pub struct LineTestConfig {
    pub language: String,
    pub answer_after_rings: u32,
    pub max_digits: u32,
    pub timeout_ms: u32,
}

impl Default for LineTestConfig {
    fn default() -> Self {
        Self {
            language: "en".into(),
            answer_after_rings: 1,
            max_digits: 16,
            timeout_ms: 5000,
        }
    }
}

impl HwMap {
    /// Every span's routed numbers, parsed (validation already refused bad ones), as
    /// `(pattern, span)` pairs for [`pattern::trunk_group`].
    pub fn span_routes(&self) -> Vec<(pattern::NumberPattern, u16)> {
        self.spans
            .iter()
            .flat_map(|s| {
                s.numbers
                    .iter()
                    .filter_map(move |n| pattern::NumberPattern::parse(n).ok().map(|p| (p, s.span)))
            })
            .collect()
    }

    /// The law of the span a dialled number reaches (A-law when nothing routes it).
    pub fn law_for(&self, number: &str) -> Law {
        let group = pattern::trunk_group(&self.span_routes(), number);
        group
            .first()
            .and_then(|&span| self.spans.iter().find(|s| s.span == span))
            .map_or(Law::Alaw, |s| s.law)
    }
}

impl Config {
    pub fn ctl_socket(&self) -> PathBuf {
        self.run_dir.join("ctl.sock")
    }

    pub fn pid_file(&self) -> PathBuf {
        self.run_dir.join("telvox.pid")
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("telvox.db")
    }

    pub fn total_channels(&self) -> usize {
        self.hw.spans.iter().map(|s| s.channels as usize).sum()
    }
}
