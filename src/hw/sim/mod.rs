//! The simulated card and PSTN (DESIGN.md §3, §4): the embedded default backend, which behaves like
//! DAHDI — 20 ms blocks of G.711 on a file descriptor per channel, signalling events in, hook
//! controls out — so the channel-thread code proven here is the code that runs on cards.
//!
//! Far-end parties (callers, extensions, fax machines) connect to a `SOCK_SEQPACKET` socket and speak
//! the protocol in [`protocol`] (documented in docs/sim-protocol.md). [`client`] is a party for the
//! CLI, the tests and the benchmark.

pub mod alarm;
mod card;
mod chan;
pub mod client;
mod line;
pub mod protocol;
mod tones;
mod wire;

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use nix::sys::eventfd::{EfdFlags, EventFd};

pub use self::card::analog::{AnalogKind, AnalogSpan, SimCallerId};
use self::card::{CardSetup, CardThread};
use self::chan::SimChannel;
use crate::hw::dahdi::monitor::SpanHealth;
use crate::hw::{CardCounters, ChanId, Channel, HwError, SpanInfo};

/// How the sim card is clocked (see `[sim] clock`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    Realtime,
    Lockstep,
}

/// Which spans a dialled number reaches, in hunt order (the simulated network's routing: spans that
/// list the same number or pattern form one trunk group); empty = unallocated.
pub type RouteFn = Box<dyn Fn(&str) -> Vec<u16> + Send>;

/// How the simulated network tells a channel that the far end hung up (a span's `far_end_hangup`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FarEndHangup {
    /// A hangup event, as loop-current disconnect or an ISDN DISCONNECT gives (the default).
    #[default]
    Signal,
    /// No signal: the exchange plays its busy tone on the line until the channel hangs up (bounded),
    /// as on analog lines without loop-current disconnect.
    Tone,
    /// Analog spans: a polarity reversal tells the channel (an exchange with polarity
    /// supervision); it also reverses polarity when a call telvox placed is answered.
    Polarity,
}

/// The tones a span's simulated exchange plays: ringback to a caller while the channel rings,
/// busy/congestion/SIT to a caller whose call fails, and (with [`FarEndHangup::Tone`]) busy tone
/// to the channel after the far end hangs up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanTones {
    pub span: u16,
    pub country: crate::dsp::tones::Country,
    pub far_end_hangup: FarEndHangup,
}

/// Everything the sim card needs to start.
pub struct SimSpec {
    pub spans: Vec<SpanInfo>,
    /// Per span; a span without an entry is silent before the answer and signals every hangup
    /// (the card as it was before it played tones).
    pub tones: Vec<SpanTones>,
    pub ring_on_ms: u32,
    pub ring_off_ms: u32,
    pub clock: Clock,
    pub socket: PathBuf,
    pub route: RouteFn,
    /// Run on the card thread before it starts ticking (the daemon raises it to SCHED_FIFO there).
    pub card_thread_setup: Option<fn()>,
}

/// A running simulated card.
pub struct SimCard {
    spans: Vec<SpanInfo>,
    channels: Vec<SimChannel>,
    counters: Arc<CardCounters>,
    stop: EventFd,
    thread: Option<JoinHandle<()>>,
    socket: PathBuf,
    /// Span alarms a far-end party set (the `alarm` op), for `telvox status`.
    health: Arc<SpanHealth>,
}

impl SimCard {
    /// Creates the channels and the far-end socket and starts the card thread.
    pub fn start(spec: SimSpec) -> Result<SimCard, HwError> {
        Self::start_with_analog(spec, Vec::new())
    }

    /// As [`SimCard::start`], with analog trunk and E&M spans (see `analog.rs`): their channels
    /// signal at line level, as DAHDI reports such lines.
    pub fn start_with_analog(spec: SimSpec, analog: Vec<AnalogSpan>) -> Result<SimCard, HwError> {
        let counters = Arc::new(CardCounters::default());
        let watched: Vec<(u16, u16)> = spec.spans.iter().map(|s| (s.span, s.span)).collect();
        let health = Arc::new(SpanHealth::new(&watched));
        let listener = bind_far_end_socket(&spec.socket)?;
        let mut channels = Vec::new();
        let mut slot_lines = Vec::new();
        // Only a lockstep card sleeps waiting for the channels' answers.
        let doorbell = match spec.clock {
            Clock::Lockstep => {
                Some(line::Doorbell::new().map_err(|e| HwError::Card(format!("eventfd: {e}")))?)
            }
            Clock::Realtime => None,
        };
        for span in &spec.spans {
            for chan in 1..=span.channels {
                let id = ChanId {
                    span: span.span,
                    chan,
                };
                let (card_side, chan_side) = line::line(doorbell.clone()).map_err(|e| HwError::Io {
                    chan: id,
                    op: "eventfd",
                    source: e.into(),
                })?;
                channels.push(SimChannel::new(
                    id,
                    span.law,
                    span.role,
                    chan_side,
                    counters.clone(),
                ));
                slot_lines.push((id, span.law, span.role, card_side));
            }
        }
        let stop = EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)
            .map_err(|e| HwError::Card(format!("eventfd: {e}")))?;
        let stop_for_thread: OwnedFd = stop
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| HwError::Card(format!("dup eventfd: {e}")))?;
        let setup = CardSetup {
            clock: spec.clock,
            listener,
            stop: stop_for_thread,
            slot_lines,
            doorbell,
            spans: spec.spans.clone(),
            tones: spec.tones,
            route: spec.route,
            ring_on_ms: spec.ring_on_ms,
            ring_off_ms: spec.ring_off_ms,
            counters: counters.clone(),
            analog,
            health: health.clone(),
        };
        let card = CardThread::new(setup).map_err(|e| HwError::Card(format!("sim card setup: {e}")))?;
        let thread = std::thread::Builder::new()
            .name("sim-card".into())
            .spawn(move || {
                if let Some(setup) = spec.card_thread_setup {
                    setup();
                }
                card.run()
            })
            .map_err(|e| HwError::Card(format!("cannot start the sim card thread: {e}")))?;
        Ok(SimCard {
            spans: spec.spans,
            channels,
            counters,
            stop,
            thread: Some(thread),
            socket: spec.socket,
            health,
        })
    }

    pub fn spans(&self) -> &[SpanInfo] {
        &self.spans
    }

    pub fn counters(&self) -> Arc<CardCounters> {
        self.counters.clone()
    }

    pub fn span_health(&self) -> Arc<SpanHealth> {
        self.health.clone()
    }

    /// Hands out the channels, once: each goes to its own channel thread.
    pub fn take_channels(&mut self) -> Vec<Box<dyn Channel>> {
        std::mem::take(&mut self.channels)
            .into_iter()
            .map(|c| Box::new(c) as Box<dyn Channel>)
            .collect()
    }

    /// The card thread raises the SCHED_FIFO priority it was started with; this gives its handle to
    /// whoever wants to set scheduling on it.
    pub fn thread(&self) -> Option<&std::thread::Thread> {
        self.thread.as_ref().map(|t| t.thread())
    }

    /// Stops the card: parties in calls hear a hangup, channel threads read end-of-file.
    pub fn shutdown(&mut self) {
        let _ = self.stop.arm();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}

impl Drop for SimCard {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Binds the far-end socket (mode 0660: the `telvox` group may connect parties).
fn bind_far_end_socket(path: &Path) -> Result<socket2::Socket, HwError> {
    let fail =
        |what: &str, e: std::io::Error| HwError::Card(format!("sim socket {}: {what}: {e}", path.display()));
    if path.exists() {
        // A socket left by a daemon that died; the pid-file lock already proved no daemon owns it.
        std::fs::remove_file(path).map_err(|e| fail("cannot remove the stale socket", e))?;
    }
    let sock = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::SEQPACKET, None)
        .map_err(|e| fail("socket", e))?;
    let addr = socket2::SockAddr::unix(path).map_err(|e| fail("address", e))?;
    sock.bind(&addr).map_err(|e| fail("bind", e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(|e| fail("chmod", e))?;
    sock.listen(128).map_err(|e| fail("listen", e))?;
    sock.set_nonblocking(true).map_err(|e| fail("nonblocking", e))?;
    Ok(sock)
}
