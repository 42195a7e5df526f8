//! The sim card thread: the simulated card and the PSTN behind it in one loop.
//!
//! Each tick it takes one 20 ms block from every far-end party in a call and hands it to the channel
//! thread as that channel's next `read()`, and forwards the block each channel thread wrote for the
//! previous tick to its party. Signalling (offer, rings, answer, clear) rides on the same lines
//! ([`super::line`]), ordered with the audio, so a channel thread sees events exactly where DAHDI
//! would put them.
//!
//! Clocks: `Realtime` ticks on a timerfd every 20 ms and drains every socket at the tick, so a party
//! message waits at most one tick (as on a real line). `Lockstep` ticks as soon as every channel has
//! answered the last block and every party in a call has its next block queued: deterministic and as
//! fast as the CPU allows.

#[path = "analog.rs"]
pub(super) mod analog;

use std::collections::{HashMap, VecDeque};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::socket::{recv, send, MsgFlags};
use nix::sys::timerfd::TimerFd;

use super::line::{CardEnd, Doorbell, Frame};
use super::protocol::{self as proto, DaemonOp, PartyMessage, PartyOp, MAX_MESSAGE_BYTES};
use super::tones::{failure_tone, failure_tone_ticks, LineTone, FAR_END_TONE_LIMIT_TICKS};
use super::wire::{self, Wire};
use super::{Clock, FarEndHangup, RouteFn, SpanTones};
use crate::dsp::tones::ToneKind;
use crate::fixed::{Name, Number};
use crate::hw::{
    Block, CallInfo, CallRef, CardCounters, Cause, ChanEvent, ChanId, Control, Law, Role, SpanInfo,
    BLOCKS_PER_SECOND, BLOCK_SAMPLES,
};

/// Audio a party may queue ahead of the card: 2 s. Beyond it, bytes are dropped and counted.
const PARTY_AUDIO_CAP_BYTES: usize = 16_000;
/// Controls a party may queue behind its audio.
const PARTY_CONTROL_CAP: usize = 64;
/// Controls held for a party whose socket is full before it counts as gone (see
/// `Party::pending_controls`).
const PENDING_CONTROLS_CAP: usize = 64;
/// Far-end connections at once; more are told so and closed.
const MAX_PARTIES: usize = 8192;
/// Messages read from one party per drain, so a flooding party cannot starve the others.
const DRAIN_BUDGET_MESSAGES: usize = 256;
/// Blocks written ahead by a channel thread that the card keeps; older ones are dropped.
const TXQ_BLOCKS: usize = 4;
/// The simulated exchange gives up on an unanswered call after this long, as real ones do.
pub(super) const RING_TIMEOUT_TICKS: u32 = 120 * BLOCKS_PER_SECOND;

const TOKEN_STOP: u64 = 0;
const TOKEN_LISTENER: u64 = 1;
const TOKEN_TIMER: u64 = 2;
const TOKEN_DOORBELL: u64 = 3;
const TOKEN_PARTY: u64 = 2 << 32;

/// What a channel is doing, from the card's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// On-hook, nothing offered: no audio flows.
    Idle,
    /// A call from a party is offered and ringing; `ticks` counts from the offer.
    Ringing { ticks: u32 },
    /// The channel dialled a registered party, which has not answered yet.
    Alerting,
    /// Both ends connected.
    Connected,
    /// The far end is gone; waiting for the channel thread to go on-hook.
    Clearing,
    /// The far end hung up on a `far_end_hangup = "tone"` span: no hangup is signalled, the
    /// exchange plays busy tone to the channel (`ticks` counts it) until the channel hangs up.
    FarEndGone { ticks: u32 },
    /// Analog: the channel seized the line to dial (it hears dial tone; E&M: waits for the wink).
    Seized { ticks: u32 },
    /// Analog: the channel's digits are going out; nothing is fed until they have.
    Dialling { ticks_left: u32 },
    /// Analog: the caller gave up while the channel rang; the line stays silent this long, so the
    /// channel can time the missing rings.
    Abandoned { ticks_left: u32 },
}

struct Slot {
    id: ChanId,
    law: Law,
    role: Role,
    line: CardEnd,
    phase: Phase,
    party: Option<usize>,
    /// Blocks handed to the channel thread that it has not answered with a write yet.
    tx_owed: u32,
    /// Whether this slot was sent a block on the last tick (so a missing reply is a late block).
    fed_last_tick: bool,
    txq: VecDeque<Block>,
    /// The span's tones; None: the exchange plays none on this channel.
    tones: Option<SpanTones>,
    /// The tone playing on this channel's call: ringback to the caller while ringing, busy to the
    /// channel after the far end hung up.
    tone: Option<LineTone>,
    /// An analog trunk or E&M line: line-level signalling (see `analog.rs`).
    analog: Option<analog::AnalogLine>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PartyCall {
    Idle,
    /// Dialled into the card; ringing.
    Dialing(usize),
    /// telvox is calling this party.
    Alerting(usize),
    InCall(usize),
    /// The call failed before the answer; the party hears a failure tone, then `hangup`.
    Failing,
}

/// A failure tone a party hears before its `hangup`.
struct Failing {
    tone: LineTone,
    ticks_left: u32,
    cause: Cause,
}

struct Party {
    fd: OwnedFd,
    call: PartyCall,
    registered: Option<String>,
    /// Audio queued for the card, in the law of the slot the party is connected to.
    audio: VecDeque<u8>,
    /// Audio bytes accepted since the call connected / consumed by ticks: controls wait behind them.
    accepted_total: u64,
    consumed_total: u64,
    /// Controls queued behind audio, each with the audio position it takes effect at.
    controls: VecDeque<(u64, PartyOp)>,
    /// The party closed its socket; it leaves once its queue is played out.
    closed: bool,
    /// Ticks after the answer in which missing audio is not an underrun: the party learns of the
    /// answer during a tick and cannot have sent for it yet.
    connect_grace_ticks: u8,
    /// The failure tone playing, while `call` is `Failing`.
    failing: Option<Failing>,
    /// Lockstep: a block of ringback or failure tone the party's socket had no room for. The card
    /// does not tick until it is delivered (the party reads), so what a party hears before the
    /// answer is as deterministic as what it hears after it.
    pending_early: Option<Block>,
    /// Controls the party's socket had no room for, in order: its buffer can be full of early
    /// audio the lockstep card holds back for it, or the party is slow to read. They go out
    /// before anything else once it has room; a party that lets [`PENDING_CONTROLS_CAP`] pile up
    /// is treated as gone.
    pending_controls: VecDeque<Vec<u8>>,
}

impl Party {
    fn new(fd: OwnedFd) -> Self {
        Self {
            fd,
            call: PartyCall::Idle,
            registered: None,
            audio: VecDeque::with_capacity(PARTY_AUDIO_CAP_BYTES),
            accepted_total: 0,
            consumed_total: 0,
            controls: VecDeque::new(),
            closed: false,
            connect_grace_ticks: 0,
            failing: None,
            pending_early: None,
            pending_controls: VecDeque::new(),
        }
    }

    fn in_call_slot(&self) -> Option<usize> {
        match self.call {
            PartyCall::InCall(slot) => Some(slot),
            _ => None,
        }
    }

    /// Forgets queued audio at a call boundary. Controls queued behind that audio (a hangup followed
    /// at once by a new dial) are kept, in order, and now wait for nothing.
    fn reset_audio(&mut self) {
        self.connect_grace_ticks = 2;
        self.audio.clear();
        self.accepted_total = 0;
        self.consumed_total = 0;
        for (pos, _) in &mut self.controls {
            *pos = 0;
        }
    }

    /// Lockstep: the card may tick once this party has its next block, or has ended its call. A
    /// control that does not end the call (a flash) takes its place inside the audio instead, so it
    /// neither costs the party a tick nor makes the timing depend on when the card read the socket.
    fn ready_for_tick(&self) -> bool {
        self.closed || self.audio.len() >= BLOCK_SAMPLES || self.controls.iter().any(|(_, op)| ends_call(op))
    }
}

pub(super) struct CardThread {
    clock: Clock,
    epoll: Epoll,
    listener: socket2::Socket,
    /// Registered in epoll; kept only so the descriptor stays open while the loop runs.
    _stop: OwnedFd,
    timer: Option<TimerFd>,
    /// Lockstep only: rung by a channel that answers while the card sleeps.
    doorbell: Option<Arc<Doorbell>>,
    slots: Vec<Slot>,
    spans: Vec<SpanInfo>,
    tones: Vec<SpanTones>,
    /// Parties hearing a failure tone: the card ticks for them even with every channel idle.
    failing_parties: usize,
    parties: Vec<Option<Party>>,
    free_parties: Vec<usize>,
    registry: HashMap<String, usize>,
    route: RouteFn,
    ring_on_ticks: u32,
    ring_cycle_ticks: u32,
    counters: Arc<CardCounters>,
    health: Arc<crate::hw::dahdi::monitor::SpanHealth>,
    seq_for_outbound: u64,
    rbuf: Box<[u8; MAX_MESSAGE_BYTES + 1]>,
    abuf: [u8; 1 + BLOCK_SAMPLES],
}

pub(super) struct CardSetup {
    pub clock: Clock,
    pub listener: socket2::Socket,
    pub stop: OwnedFd,
    pub slot_lines: Vec<(ChanId, Law, Role, CardEnd)>,
    pub doorbell: Option<Arc<Doorbell>>,
    pub spans: Vec<SpanInfo>,
    pub tones: Vec<SpanTones>,
    pub route: RouteFn,
    pub ring_on_ms: u32,
    pub ring_off_ms: u32,
    pub counters: Arc<CardCounters>,
    pub analog: Vec<analog::AnalogSpan>,
    pub health: Arc<crate::hw::dahdi::monitor::SpanHealth>,
}

fn ms_to_ticks(ms: u32) -> u32 {
    (ms / (1000 / BLOCKS_PER_SECOND)).max(1)
}

impl CardThread {
    pub(super) fn new(setup: CardSetup) -> nix::Result<Self> {
        let epoll = Epoll::new(nix::sys::epoll::EpollCreateFlags::EPOLL_CLOEXEC)?;
        epoll.add(&setup.stop, EpollEvent::new(EpollFlags::EPOLLIN, TOKEN_STOP))?;
        epoll.add(
            &setup.listener,
            EpollEvent::new(EpollFlags::EPOLLIN, TOKEN_LISTENER),
        )?;
        let timer = match setup.clock {
            Clock::Realtime => Some(start_tick_timer()?),
            Clock::Lockstep => None,
        };
        if let Some(t) = &timer {
            epoll.add(t.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, TOKEN_TIMER))?;
        }
        if let Some(doorbell) = &setup.doorbell {
            epoll.add(
                doorbell.fd().as_fd(),
                EpollEvent::new(EpollFlags::EPOLLIN, TOKEN_DOORBELL),
            )?;
        }
        let slots: Vec<Slot> = setup
            .slot_lines
            .into_iter()
            .map(|(id, law, role, line)| Slot {
                id,
                law,
                role,
                line,
                phase: Phase::Idle,
                party: None,
                tx_owed: 0,
                fed_last_tick: false,
                txq: VecDeque::with_capacity(TXQ_BLOCKS),
                tones: setup.tones.iter().find(|t| t.span == id.span).copied(),
                tone: None,
                analog: setup
                    .analog
                    .iter()
                    .find(|a| a.span == id.span)
                    .map(|a| analog::AnalogLine::new(*a)),
            })
            .collect();
        let ring_on_ticks = ms_to_ticks(setup.ring_on_ms);
        Ok(Self {
            clock: setup.clock,
            epoll,
            listener: setup.listener,
            _stop: setup.stop,
            timer,
            doorbell: setup.doorbell,
            slots,
            spans: setup.spans,
            tones: setup.tones,
            failing_parties: 0,
            parties: Vec::new(),
            free_parties: Vec::new(),
            registry: HashMap::new(),
            route: setup.route,
            ring_on_ticks,
            ring_cycle_ticks: ring_on_ticks + ms_to_ticks(setup.ring_off_ms),
            counters: setup.counters,
            health: setup.health,
            seq_for_outbound: 0,
            rbuf: Box::new([0; MAX_MESSAGE_BYTES + 1]),
            abuf: [0; 1 + BLOCK_SAMPLES],
        })
    }

    /// Runs until the stop eventfd is written.
    pub(super) fn run(mut self) {
        let mut events = vec![EpollEvent::empty(); 256];
        loop {
            if self.clock == Clock::Lockstep && !self.lockstep_may_sleep() {
                continue;
            }
            let n = match self.epoll.wait(&mut events, EpollTimeout::NONE) {
                Ok(n) => n,
                Err(Errno::EINTR) => continue,
                Err(e) => {
                    tracing::error!("sim card: epoll failed: {e}; the card stops");
                    break;
                }
            };
            for ev in &events[..n] {
                match ev.data() {
                    TOKEN_STOP => {
                        self.shut_down();
                        return;
                    }
                    TOKEN_LISTENER => self.accept_parties(),
                    TOKEN_TIMER => self.on_timer(),
                    TOKEN_DOORBELL => {
                        if let Some(doorbell) = &self.doorbell {
                            doorbell.acknowledge();
                        }
                    }
                    token => {
                        let p = (token - TOKEN_PARTY) as usize;
                        self.flush_early(p);
                        self.drain_party(p, false);
                    }
                }
            }
        }
        self.shut_down();
    }

    /// Lockstep: ticks while it can; true once the card may sleep until a party or a channel
    /// writes (it has then told the channels to ring the doorbell).
    fn lockstep_may_sleep(&mut self) -> bool {
        let Some(doorbell) = self.doorbell.clone() else {
            return true;
        };
        doorbell.card_awake();
        // Tick before reading the channels, as a card latches at its own pace: a control a channel
        // sends while owing no block (refusing an offer) then always lands after this tick, never
        // racing it. Reading only when not ready keeps lockstep runs identical from run to run.
        if self.any_active() && self.lockstep_ready() {
            self.tick();
            return false;
        }
        self.drain_all_slots();
        if self.any_active() && self.lockstep_ready() {
            self.tick();
            return false;
        }
        doorbell.card_going_to_sleep();
        // A channel that answered between the drain and the announcement did not ring: look again.
        if self.slots.iter().any(|s| s.line.has_pending()) {
            return false;
        }
        true
    }

    fn drain_all_slots(&mut self) {
        for slot in 0..self.slots.len() {
            self.drain_slot(slot);
        }
    }

    fn on_timer(&mut self) {
        let expirations = match &self.timer {
            Some(t) => read_expirations(t),
            None => return,
        };
        if expirations > 1 {
            self.counters
                .missed_ticks
                .fetch_add(expirations - 1, Ordering::Relaxed);
        }
        for party in 0..self.parties.len() {
            self.flush_early(party);
            self.drain_party(party, true);
        }
        self.drain_all_slots();
        self.tick();
    }

    fn any_active(&self) -> bool {
        self.failing_parties > 0 || self.slots.iter().any(|s| s.phase != Phase::Idle)
    }

    fn lockstep_ready(&self) -> bool {
        self.slots.iter().all(|s| s.tx_owed == 0)
            && self.parties.iter().flatten().all(|p| {
                p.pending_early.is_none()
                    && p.pending_controls.is_empty()
                    && (p.in_call_slot().is_none() || p.ready_for_tick())
            })
    }

    // ---- the tick ------------------------------------------------------------------------------

    fn tick(&mut self) {
        self.counters.ticks.fetch_add(1, Ordering::Relaxed);
        for index in 0..self.parties.len() {
            self.apply_due_controls(index);
        }
        for index in 0..self.slots.len() {
            self.tick_slot(index);
        }
        if self.failing_parties > 0 {
            for p in 0..self.parties.len() {
                self.tick_failing(p);
            }
        }
    }

    /// One block of a failing call's tone to its party; the `hangup` when the tone is over.
    fn tick_failing(&mut self, p: usize) {
        let Some(failing) = self.parties[p].as_mut().and_then(|x| x.failing.as_mut()) else {
            return;
        };
        if failing.ticks_left == 0 {
            let cause = failing.cause;
            self.set_party_idle(p);
            self.tell_party(
                p,
                DaemonOp::Hangup {
                    cause: cause.name().into(),
                },
            );
            self.apply_due_controls(p);
            return;
        }
        failing.ticks_left -= 1;
        let mut block = [0u8; BLOCK_SAMPLES];
        failing.tone.next_block(&mut block);
        self.send_early_audio(p, &block);
    }

    /// Sends a block of the network's audio before the answer (ringback, failure tone). Realtime:
    /// like any audio, dropped and counted when the party does not read. Lockstep: kept, and the
    /// card waits for the party to read (`EPOLLOUT`) before it ticks again.
    fn send_early_audio(&mut self, p: usize, block: &Block) {
        self.abuf[0] = proto::MSG_AUDIO;
        self.abuf[1..].copy_from_slice(block);
        let abuf = self.abuf;
        if self.clock == Clock::Realtime {
            return self.send_to_party(p, &abuf, true);
        }
        let Some(party) = self.parties[p].as_mut() else {
            return;
        };
        if party.closed {
            return;
        }
        let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL;
        match send(party.fd.as_raw_fd(), &abuf, flags) {
            Ok(_) | Err(Errno::EPIPE) | Err(Errno::ECONNRESET) => {}
            Err(Errno::EAGAIN) => {
                party.pending_early = Some(*block);
                let mut ev =
                    EpollEvent::new(EpollFlags::EPOLLIN | EpollFlags::EPOLLOUT, TOKEN_PARTY + p as u64);
                let _ = self.epoll.modify(&party.fd, &mut ev);
            }
            Err(_) => self.party_vanished(p),
        }
    }

    /// Lockstep: delivers a held-back early block once the party's socket has room.
    fn flush_early(&mut self, p: usize) {
        let Some(party) = self.parties[p].as_mut() else {
            return;
        };
        let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL;
        if let Some(block) = party.pending_early {
            self.abuf[0] = proto::MSG_AUDIO;
            self.abuf[1..].copy_from_slice(&block);
            match send(party.fd.as_raw_fd(), &self.abuf, flags) {
                Err(Errno::EAGAIN) => return,
                Ok(_) | Err(_) => party.pending_early = None,
            }
        }
        while let Some(msg) = party.pending_controls.front() {
            match send(party.fd.as_raw_fd(), msg, flags) {
                Err(Errno::EAGAIN) => return,
                Ok(_) | Err(_) => {
                    party.pending_controls.pop_front();
                }
            }
        }
        if self.clock == Clock::Lockstep {
            let mut ev = EpollEvent::new(EpollFlags::EPOLLIN, TOKEN_PARTY + p as u64);
            let _ = self.epoll.modify(&party.fd, &mut ev);
        }
    }

    /// Ends a call that failed before the answer: the party hears the failure tone `cause` calls
    /// for in `tones`' plan (in `law`), then `hangup`; or at once `hangup` when there is none.
    fn fail_call(&mut self, p: usize, cause: Cause, tones: Option<SpanTones>, law: Law) {
        let kind = failure_tone(cause);
        let tone = tones.zip(kind).and_then(|(t, kind)| {
            let line = LineTone::new(t.country, kind, law)?;
            Some((line, failure_tone_ticks(t.country, kind)))
        });
        let Some((tone, ticks)) = tone else {
            self.set_party_idle(p);
            self.tell_party(
                p,
                DaemonOp::Hangup {
                    cause: cause.name().into(),
                },
            );
            return;
        };
        self.set_party_idle(p);
        if self.clock == Clock::Lockstep {
            // The tone belongs to no channel's clock, and a card stalled by other parties must not
            // withhold a hangup: in lockstep the whole tone goes at once, then the hangup.
            let mut tone = tone;
            let mut block = [0u8; BLOCK_SAMPLES];
            for _ in 0..ticks {
                tone.next_block(&mut block);
                self.abuf[0] = proto::MSG_AUDIO;
                self.abuf[1..].copy_from_slice(&block);
                let abuf = self.abuf;
                self.send_to_party(p, &abuf, true);
            }
            self.tell_party(
                p,
                DaemonOp::Hangup {
                    cause: cause.name().into(),
                },
            );
            return;
        }
        let Some(party) = self.parties[p].as_mut() else {
            return;
        };
        party.call = PartyCall::Failing;
        party.failing = Some(Failing {
            tone,
            ticks_left: ticks,
            cause,
        });
        self.failing_parties += 1;
    }

    /// The tones of the span a dial reaches (its first span), or of the card's first span when
    /// it reaches none, with that span's law.
    fn dial_tones(&self, spans: &[u16]) -> (Option<SpanTones>, Law) {
        let span = spans.first().copied().or(self.spans.first().map(|s| s.span));
        let law = span
            .and_then(|n| self.spans.iter().find(|s| s.span == n))
            .map_or(Law::Alaw, |s| s.law);
        let tones = span
            .and_then(|n| self.tones.iter().find(|t| t.span == n))
            .copied();
        (tones, law)
    }

    fn tick_slot(&mut self, index: usize) {
        let phase = self.slots[index].phase;
        if phase == Phase::Idle {
            self.slots[index].fed_last_tick = false;
            return;
        }
        self.forward_tx(index);
        if self.slots[index].analog.is_some() && self.analog_tick(index, phase) {
            return;
        }
        if let Phase::Ringing { ticks } = phase {
            if !self.ring_cadence(index, ticks) {
                return;
            }
        }
        if matches!(phase, Phase::Ringing { .. }) {
            self.send_ringback(index);
        }
        let mut block = [self.slots[index].law.silence_byte(); BLOCK_SAMPLES];
        if let Phase::Ringing { ticks } = phase {
            self.analog_ring_audio(index, ticks, &mut block);
        }
        let talking = self.slots[index].party.filter(|_| phase == Phase::Connected);
        if let Some(p) = talking {
            self.take_party_block(p, &mut block);
        }
        if phase == Phase::Alerting {
            // telvox's own outbound call rings: its channel hears the span's ringback.
            if let Some(tone) = self.slots[index].tone.as_mut() {
                tone.next_block(&mut block);
            }
        }
        if let Phase::FarEndGone { ticks } = phase {
            if ticks >= FAR_END_TONE_LIMIT_TICKS {
                // The channel never hung up on the busy tone: signal the hangup after all.
                self.slots[index].phase = Phase::Clearing;
                self.slots[index].tone = None;
                let event = self.far_end_clear_event(index);
                self.send_event(index, &event);
                return;
            }
            if let Some(tone) = self.slots[index].tone.as_mut() {
                tone.next_block(&mut block);
            }
            self.slots[index].phase = Phase::FarEndGone { ticks: ticks + 1 };
        }
        self.feed_slot(index, &block);
        // Controls the party sent after this block's audio follow it at once (a hangup right
        // after the caller's last words, a flash between two blocks).
        if let Some(p) = talking {
            self.apply_due_controls(p);
        }
    }

    /// Hands the channel's last written block to its party (or counts it late).
    fn forward_tx(&mut self, index: usize) {
        let slot = &mut self.slots[index];
        let tx = slot.txq.pop_front();
        if tx.is_none() && slot.fed_last_tick {
            self.counters.late_blocks.fetch_add(1, Ordering::Relaxed);
        }
        if slot.phase != Phase::Connected {
            return;
        }
        let block = tx.unwrap_or([slot.law.silence_byte(); BLOCK_SAMPLES]);
        self.send_block_to_party(index, &block);
    }

    fn send_block_to_party(&mut self, index: usize, block: &Block) {
        let Some(p) = self.slots[index].party else { return };
        self.abuf[0] = proto::MSG_AUDIO;
        self.abuf[1..].copy_from_slice(block);
        let abuf = self.abuf;
        self.send_to_party(p, &abuf, true);
    }

    /// One block of ringback to the caller of a ringing channel, as the PSTN plays it (see
    /// [`Self::send_early_audio`] for a caller that does not read it).
    fn send_ringback(&mut self, index: usize) {
        let slot = &mut self.slots[index];
        let (Some(_), Some(tone)) = (slot.party, slot.tone.as_mut()) else {
            return;
        };
        let mut block = [0u8; BLOCK_SAMPLES];
        tone.next_block(&mut block);
        if let Some(p) = slot.party {
            self.send_early_audio(p, &block);
        }
    }

    /// Plays the ring cadence; false when the exchange gave up on the call.
    fn ring_cadence(&mut self, index: usize, ticks: u32) -> bool {
        if self.slots[index].analog.is_some() {
            return self.analog_ring_cadence(index, ticks);
        }
        if ticks >= RING_TIMEOUT_TICKS {
            self.release_from_network(index, Cause::NoAnswer);
            return false;
        }
        let in_cycle = ticks % self.ring_cycle_ticks;
        if in_cycle == 0 {
            self.send_event(index, &ChanEvent::RingBegin);
        } else if in_cycle == self.ring_on_ticks {
            self.send_event(index, &ChanEvent::RingEnd);
        }
        self.slots[index].phase = Phase::Ringing { ticks: ticks + 1 };
        true
    }

    /// The network clears a call it could not complete: both sides are told.
    fn release_from_network(&mut self, index: usize, cause: Cause) {
        if self.slots[index].analog.is_some() {
            return self.analog_abandon(index, cause);
        }
        if let Some(p) = self.slots[index].party.take() {
            self.tell_party(
                p,
                DaemonOp::Hangup {
                    cause: cause.name().into(),
                },
            );
            self.set_party_idle(p);
        }
        self.slots[index].phase = Phase::Clearing;
        self.send_event(index, &ChanEvent::Hangup(cause));
    }

    fn feed_slot(&mut self, index: usize, block: &Block) {
        let slot = &mut self.slots[index];
        if slot.line.send(Frame::encode(|buf| wire::put_audio(buf, block))) {
            slot.tx_owed += 1;
            slot.fed_last_tick = true;
        } else {
            // The channel thread is far behind (its line is full) or gone: DAHDI would overrun.
            self.counters.rx_overruns.fetch_add(1, Ordering::Relaxed);
            slot.fed_last_tick = false;
        }
    }

    /// Takes the party's next block, stopping short of a queued control (which then applies at the
    /// next tick) and filling the rest with silence.
    /// Takes the party's next block, reading across controls that do not end the call (they apply
    /// right after the block is fed, in their place) and stopping short of one that does (the rest
    /// of the block is silence).
    fn take_party_block(&mut self, p: usize, block: &mut Block) {
        let Some(party) = self.parties[p].as_mut() else {
            return;
        };
        let until_ending = party
            .controls
            .iter()
            .find(|(_, op)| ends_call(op))
            .map_or(u64::MAX, |(pos, _)| pos.saturating_sub(party.consumed_total));
        let take = party.audio.len().min(BLOCK_SAMPLES).min(until_ending as usize);
        for (dst, src) in block.iter_mut().zip(party.audio.drain(..take)) {
            *dst = src;
        }
        party.consumed_total += take as u64;
        let in_grace = party.connect_grace_ticks > 0;
        party.connect_grace_ticks = party.connect_grace_ticks.saturating_sub(1);
        let ending = party.closed || until_ending != u64::MAX;
        if take < BLOCK_SAMPLES && !ending && !in_grace {
            self.counters.underruns.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn apply_due_controls(&mut self, p: usize) {
        loop {
            let Some(party) = self.parties[p].as_mut() else {
                return;
            };
            // A control waits behind the audio sent before it only while that audio is still
            // going somewhere, i.e. while the party is in a call.
            let not_in_call = party.in_call_slot().is_none();
            match party.controls.front() {
                Some((pos, _)) if not_in_call || *pos <= party.consumed_total => {}
                _ => break,
            }
            let Some((_, op)) = party.controls.pop_front() else {
                break;
            };
            self.apply_party_op(p, op);
        }
        let Some(party) = self.parties[p].as_ref() else {
            return;
        };
        if party.closed && party.controls.is_empty() && party.audio.is_empty() {
            self.remove_party(p);
        }
    }

    // ---- channel side --------------------------------------------------------------------------

    /// Takes everything a channel thread wrote (no syscall: an empty line costs one atomic load).
    fn drain_slot(&mut self, index: usize) {
        let mut block = [0u8; BLOCK_SAMPLES];
        while let Some(frame) = self.slots[index].line.recv() {
            match wire::decode(frame.bytes(), &mut block) {
                Some(Wire::Audio) => self.take_tx(index, &block),
                Some(Wire::Control(control)) => self.apply_control(index, control),
                Some(Wire::Event(_)) | None => {}
            }
        }
    }

    fn take_tx(&mut self, index: usize, block: &Block) {
        let slot = &mut self.slots[index];
        slot.tx_owed = slot.tx_owed.saturating_sub(1);
        if slot.phase == Phase::Idle {
            return;
        }
        if slot.txq.len() == TXQ_BLOCKS {
            slot.txq.pop_front();
            self.counters.tx_overruns.fetch_add(1, Ordering::Relaxed);
        }
        slot.txq.push_back(*block);
    }

    fn apply_control(&mut self, index: usize, control: Control) {
        match control {
            Control::Answer { call } => self.channel_answers(index, call),
            Control::Hangup { cause } => self.channel_hangs_up(index, cause),
            Control::Dial { number, from, call } => self.channel_dials(index, number, from, call),
            // The sim protocol has no flash toward a party; a flash on a trunk is simply absorbed.
            Control::Flash => {}
            // Line-level controls: the sim's analog trunks and E&M lines (analog.rs).
            control if self.slots[index].analog.is_some() => self.analog_control(index, control),
            Control::OffHook
            | Control::OnHook
            | Control::Ring
            | Control::RingOff
            | Control::Start
            | Control::Wink
            | Control::DialDigits { .. }
            | Control::SetBits(_) => {}
        }
    }

    fn channel_answers(&mut self, index: usize, call: CallRef) {
        let slot = &mut self.slots[index];
        if !matches!(slot.phase, Phase::Ringing { .. }) {
            return;
        }
        slot.phase = Phase::Connected;
        let channel = slot.id.to_string();
        if let Some(p) = slot.party {
            if let Some(party) = self.parties[p].as_mut() {
                party.call = PartyCall::InCall(index);
                party.reset_audio();
            }
            self.tell_party(
                p,
                DaemonOp::Answered {
                    call: call.to_string(),
                    channel,
                },
            );
        }
    }

    fn channel_hangs_up(&mut self, index: usize, cause: Cause) {
        // The caller hears every block written before the on-hook (the end of "goodbye"), then
        // the hangup: flush what the channel queued ahead of the control.
        if self.slots[index].phase == Phase::Connected {
            while let Some(block) = self.slots[index].txq.pop_front() {
                self.send_block_to_party(index, &block);
            }
        }
        let was_ringing = matches!(self.slots[index].phase, Phase::Ringing { .. });
        let slot = &mut self.slots[index];
        slot.phase = Phase::Idle;
        slot.txq.clear();
        slot.tone = None;
        if was_ringing && failure_tone(cause).is_some() {
            if let Some(p) = slot.party.take() {
                // Refused before the answer (no flow for the number, or the flow said busy): the
                // exchange plays the caller the tone for the cause, then clears.
                let (tones, law) = (slot.tones, slot.law);
                self.fail_call(p, cause, tones, law);
                // Controls it queued behind (a new dial) now apply, as after any hangup.
                self.apply_due_controls(p);
                return;
            }
        }
        if let Some(p) = slot.party.take() {
            self.tell_party(
                p,
                DaemonOp::Hangup {
                    cause: cause.name().into(),
                },
            );
            self.set_party_idle(p);
            // Controls it queued behind its audio (a new dial) now apply at once.
            self.apply_due_controls(p);
        }
    }

    fn channel_dials(&mut self, index: usize, number: Number, from: Number, call: CallRef) {
        if self.slots[index].phase != Phase::Idle {
            return;
        }
        self.seq_for_outbound += 1;
        let target = self.registry.get(number.as_str()).copied();
        let callee = target.filter(|&p| {
            self.parties[p]
                .as_ref()
                .is_some_and(|x| x.call == PartyCall::Idle)
        });
        let slot = &mut self.slots[index];
        match callee {
            Some(p) => {
                slot.phase = Phase::Alerting;
                slot.fed_last_tick = false;
                slot.party = Some(p);
                slot.tone = slot
                    .tones
                    .and_then(|t| LineTone::new(t.country, ToneKind::Ringback, slot.law));
                if let Some(party) = self.parties[p].as_mut() {
                    party.call = PartyCall::Alerting(index);
                }
                let op = DaemonOp::Incoming {
                    call: call.to_string(),
                    from: from.as_str().into(),
                    to: number.as_str().into(),
                };
                self.tell_party(p, op);
            }
            None => {
                slot.phase = Phase::Clearing;
                let cause = if target.is_some() {
                    Cause::UserBusy
                } else {
                    Cause::Unallocated
                };
                self.send_event(index, &ChanEvent::Hangup(cause));
            }
        }
    }

    fn send_event(&mut self, index: usize, event: &ChanEvent) {
        // The channel thread reads continuously; a full line means it has gone or hung.
        let _ = self.slots[index]
            .line
            .send(Frame::encode(|buf| wire::put_event(buf, event)));
    }

    // ---- party side ----------------------------------------------------------------------------

    fn accept_parties(&mut self) {
        loop {
            let fd = match self.listener.accept() {
                Ok((sock, _)) if sock.set_nonblocking(true).is_ok() => OwnedFd::from(sock),
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED) => continue,
                Err(_) => return,
            };
            let active = self.parties.len() - self.free_parties.len();
            if active >= MAX_PARTIES {
                let msg = proto::encode_control(&DaemonOp::Error {
                    message: format!("too many far-end connections (limit {MAX_PARTIES})"),
                });
                let _ = send(
                    fd.as_raw_fd(),
                    &msg,
                    MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
                );
                continue;
            }
            let index = match self.free_parties.pop() {
                Some(i) => i,
                None => {
                    self.parties.push(None);
                    self.parties.len() - 1
                }
            };
            if self.clock == Clock::Lockstep {
                let ev = EpollEvent::new(EpollFlags::EPOLLIN, TOKEN_PARTY + index as u64);
                if self.epoll.add(&fd, ev).is_err() {
                    self.free_parties.push(index);
                    continue;
                }
            }
            self.parties[index] = Some(Party::new(fd));
        }
    }

    /// Reads what a party sent. `until_settled` (realtime) stops once a party in a call has two
    /// blocks queued — enough for this tick and the next — saving the `recv` that finds the socket
    /// empty; the rest is read at the next tick.
    fn drain_party(&mut self, p: usize, until_settled: bool) {
        for _ in 0..DRAIN_BUDGET_MESSAGES {
            let Some(party) = self.parties[p].as_ref() else {
                return;
            };
            if party.closed {
                return;
            }
            let settled = party.in_call_slot().is_some() && party.audio.len() >= 2 * BLOCK_SAMPLES;
            if until_settled && settled {
                return;
            }
            let fd = party.fd.as_raw_fd();
            let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_TRUNC;
            match recv(fd, &mut self.rbuf[..], flags) {
                Ok(0) => return self.party_vanished(p),
                Ok(n) if n > MAX_MESSAGE_BYTES => self.tell_party(
                    p,
                    DaemonOp::Error {
                        message: format!("message of {n} bytes is too long (limit {MAX_MESSAGE_BYTES})"),
                    },
                ),
                Ok(n) => self.party_message(p, n),
                Err(Errno::EAGAIN) => return,
                Err(Errno::EINTR) => continue,
                // A party that closed with our messages unread is reported once as a reset, but
                // what it sent before closing is still there: keep reading until end-of-file.
                Err(Errno::ECONNRESET) => continue,
                Err(_) => return self.party_vanished(p),
            }
        }
    }

    fn party_message(&mut self, p: usize, len: usize) {
        let control = match proto::parse_party_message(&self.rbuf[..len]) {
            Ok(PartyMessage::Audio(audio)) => {
                // Straight from the receive buffer into the party's queue: no copy, no allocation.
                let party = self.parties[p].as_mut();
                let dropped = party.map_or(0, |party| queue_party_audio(party, audio));
                if dropped > 0 {
                    self.counters
                        .overflow_bytes
                        .fetch_add(dropped as u64, Ordering::Relaxed);
                }
                return;
            }
            Ok(PartyMessage::Control(op)) => Ok(op),
            Err(message) => Err(message),
        };
        match control {
            Ok(op) => self.party_control(p, op),
            Err(message) => self.tell_party(p, DaemonOp::Error { message }),
        }
    }

    /// A control from a party in a call waits behind the audio it sent before it; otherwise it
    /// applies at once.
    fn party_control(&mut self, p: usize, op: PartyOp) {
        let Some(party) = self.parties[p].as_mut() else {
            return;
        };
        if party.in_call_slot().is_none() && party.controls.is_empty() {
            return self.apply_party_op(p, op);
        }
        if party.controls.len() >= PARTY_CONTROL_CAP {
            let message = format!("too many controls queued behind audio (limit {PARTY_CONTROL_CAP})");
            return self.tell_party(p, DaemonOp::Error { message });
        }
        let pos = party.accepted_total;
        party.controls.push_back((pos, op));
        // Arriving after every block before it was already played, it applies now.
        self.apply_due_controls(p);
    }

    fn party_vanished(&mut self, p: usize) {
        let Some(party) = self.parties[p].as_mut() else {
            return;
        };
        party.closed = true;
        if party.in_call_slot().is_some() {
            // Play out what it sent, then hang up: closing the socket is a hangup (DESIGN.md §4).
            let pos = party.accepted_total;
            party.controls.push_back((pos, PartyOp::Hangup));
            return;
        }
        self.apply_party_op(p, PartyOp::Hangup);
        self.remove_party(p);
    }

    fn apply_party_op(&mut self, p: usize, op: PartyOp) {
        let result = match op {
            PartyOp::Dial { to, from, name, span } => {
                self.party_dials(p, &to, from.as_deref(), name.as_deref(), span)
            }
            PartyOp::Register { number } => self.party_registers(p, number),
            PartyOp::Answer => self.party_answers(p),
            PartyOp::Reject { cause } => self.party_rejects(p, cause.as_deref()),
            PartyOp::Hangup => self.party_hangs_up(p),
            PartyOp::Flash => self.party_flashes(p),
            PartyOp::Alarm { span, alarms } => self.span_alarm(span, &alarms),
        };
        if let Err(message) = result {
            let closed = self.parties[p].as_ref().is_some_and(|x| x.closed);
            if !closed {
                self.tell_party(p, DaemonOp::Error { message });
            }
        }
    }

    /// A fault on a span (the `alarm` op, see hw/sim/alarm.rs): recorded, and told to its channels.
    fn span_alarm(&mut self, span: u16, names: &[String]) -> Result<(), String> {
        let alarms = super::alarm::parse(names)?;
        if !self.spans.iter().any(|s| s.span == span) {
            return Err(format!("alarm: there is no span {span}"));
        }
        self.health.set_alarms(span, alarms);
        for index in 0..self.slots.len() {
            if self.slots[index].id.span == span {
                self.send_event(index, &ChanEvent::Alarm(alarms));
            }
        }
        Ok(())
    }

    fn party_call(&self, p: usize) -> PartyCall {
        self.parties[p].as_ref().map_or(PartyCall::Idle, |x| x.call)
    }

    fn party_dials(
        &mut self,
        p: usize,
        to: &str,
        from: Option<&str>,
        name: Option<&str>,
        span: Option<u16>,
    ) -> Result<(), String> {
        if self.party_call(p) != PartyCall::Idle {
            return Err("this connection already has a call; hang it up first".into());
        }
        validate_number("to", to, false)?;
        validate_number("from", from.unwrap_or(""), true)?;
        let spans = match span {
            Some(s) if self.spans.iter().any(|x| x.span == s) => vec![s],
            Some(s) => {
                return Err(format!(
                    "no span {s}: this card has spans 1..={}",
                    self.spans.len()
                ));
            }
            None => (self.route)(to),
        };
        if spans.is_empty() {
            let (tones, law) = self.dial_tones(&spans);
            self.fail_call(p, Cause::Unallocated, tones, law);
            return Ok(());
        }
        let Some(index) = self.hunt_free_trunk(&spans) else {
            self.counters.congestion.fetch_add(1, Ordering::Relaxed);
            let (tones, law) = self.dial_tones(&spans);
            self.fail_call(p, Cause::NormalCircuitCongestion, tones, law);
            return Ok(());
        };
        let info = CallInfo {
            from: Number::from_str_truncating(from.unwrap_or("")),
            to: Number::from_str_truncating(to),
            name: Name::from_str_truncating(name.unwrap_or("")),
        };
        let slot = &mut self.slots[index];
        slot.phase = Phase::Ringing { ticks: 0 };
        // A new call: the last block the previous call's thread owed is not this call's late block.
        slot.fed_last_tick = false;
        slot.party = Some(p);
        slot.txq.clear();
        // The caller hears the span's ringback from the first tick of ringing.
        slot.tone = slot
            .tones
            .and_then(|t| LineTone::new(t.country, ToneKind::Ringback, slot.law));
        if let Some(party) = self.parties[p].as_mut() {
            party.call = PartyCall::Dialing(index);
        }
        if self.slots[index].analog.is_some() {
            self.analog_offer(index, &info);
            self.tell_party(p, DaemonOp::Ringing);
            return Ok(());
        }
        self.send_event(index, &ChanEvent::Offered(info));
        self.tell_party(p, DaemonOp::Ringing);
        Ok(())
    }

    /// Lowest free trunk on the first span of the group that has one, as DAHDI's ascending group
    /// hunt does. A channel whose thread
    /// still owes a block from its last call is not free yet, so a stale block never leaks in.
    fn hunt_free_trunk(&self, spans: &[u16]) -> Option<usize> {
        spans.iter().find_map(|&span| {
            self.slots.iter().position(|s| {
                s.id.span == span && s.role == Role::Trunk && s.phase == Phase::Idle && s.tx_owed == 0
            })
        })
    }

    fn party_registers(&mut self, p: usize, number: String) -> Result<(), String> {
        validate_number("number", &number, false)?;
        match self.registry.get(&number) {
            Some(&owner) if owner != p => return Err(format!("number {number} is already registered")),
            _ => {}
        }
        if let Some(party) = self.parties[p].as_mut() {
            if let Some(old) = party.registered.replace(number.clone()) {
                self.registry.remove(&old);
            }
        }
        self.registry.insert(number, p);
        Ok(())
    }

    fn party_answers(&mut self, p: usize) -> Result<(), String> {
        let PartyCall::Alerting(index) = self.party_call(p) else {
            return Err("no incoming call to answer".into());
        };
        if let Some(party) = self.parties[p].as_mut() {
            party.call = PartyCall::InCall(index);
            party.reset_audio();
        }
        self.slots[index].phase = Phase::Connected;
        self.slots[index].tone = None;
        if self.slots[index].analog.is_some() {
            self.analog_party_answered(index);
            return Ok(());
        }
        self.send_event(index, &ChanEvent::Answered);
        Ok(())
    }

    fn party_rejects(&mut self, p: usize, cause: Option<&str>) -> Result<(), String> {
        let PartyCall::Alerting(index) = self.party_call(p) else {
            return Err("no incoming call to reject".into());
        };
        let cause = match cause {
            None => Cause::CallRejected,
            Some(text) => Cause::parse(text).ok_or_else(|| format!("unknown cause \"{text}\""))?,
        };
        self.slots[index].party = None;
        self.slots[index].phase = Phase::Clearing;
        self.set_party_idle(p);
        self.send_event(index, &ChanEvent::Hangup(cause));
        Ok(())
    }

    fn party_hangs_up(&mut self, p: usize) -> Result<(), String> {
        let index = match self.party_call(p) {
            PartyCall::Idle => return Err("no call to hang up".into()),
            // Hanging up on a failure tone: the call is already over for the channel.
            PartyCall::Failing => {
                self.set_party_idle(p);
                return Ok(());
            }
            PartyCall::Dialing(i) | PartyCall::Alerting(i) | PartyCall::InCall(i) => i,
        };
        if self.slots[index].analog.is_some() {
            self.analog_party_hangs_up(p, index);
            return Ok(());
        }
        let tone_disconnect = self.slots[index]
            .tones
            .is_some_and(|t| t.far_end_hangup == FarEndHangup::Tone);
        if tone_disconnect && self.party_call(p) == PartyCall::InCall(index) {
            // No loop-current disconnect: the channel is not told; the exchange plays busy tone
            // until it hangs up (or FAR_END_TONE_LIMIT_TICKS pass).
            let slot = &mut self.slots[index];
            slot.party = None;
            slot.phase = Phase::FarEndGone { ticks: 0 };
            slot.tone = slot
                .tones
                .and_then(|t| LineTone::new(t.country, ToneKind::Busy, slot.law));
            self.set_party_idle(p);
            return Ok(());
        }
        self.slots[index].party = None;
        self.slots[index].phase = Phase::Clearing;
        self.set_party_idle(p);
        self.send_event(index, &ChanEvent::Hangup(Cause::NormalClearing));
        Ok(())
    }

    fn party_flashes(&mut self, p: usize) -> Result<(), String> {
        let PartyCall::InCall(index) = self.party_call(p) else {
            return Err("no call to flash on".into());
        };
        self.send_event(index, &ChanEvent::Flash);
        Ok(())
    }

    fn set_party_idle(&mut self, p: usize) {
        if let Some(party) = self.parties[p].as_mut() {
            if party.failing.take().is_some() {
                self.failing_parties -= 1;
            }
            let held_early = party.pending_early.take().is_some();
            if held_early && party.pending_controls.is_empty() && self.clock == Clock::Lockstep {
                // The call it belonged to is over: stop waiting for the party to read it.
                let mut ev = EpollEvent::new(EpollFlags::EPOLLIN, TOKEN_PARTY + p as u64);
                let _ = self.epoll.modify(&party.fd, &mut ev);
            }
            party.call = PartyCall::Idle;
            party.reset_audio();
            // A hangup or flash queued for the call that just ended has nothing left to act on.
            party
                .controls
                .retain(|(_, op)| !matches!(op, PartyOp::Hangup | PartyOp::Flash));
        }
    }

    fn remove_party(&mut self, p: usize) {
        let Some(party) = self.parties[p].take() else {
            return;
        };
        if party.failing.is_some() {
            self.failing_parties -= 1;
        }
        if let Some(number) = &party.registered {
            if self.registry.get(number) == Some(&p) {
                self.registry.remove(number);
            }
        }
        if self.clock == Clock::Lockstep {
            let _ = self.epoll.delete(&party.fd);
        }
        self.free_parties.push(p);
    }

    fn tell_party(&mut self, p: usize, op: DaemonOp) {
        let msg = proto::encode_control(&op);
        self.send_to_party(p, &msg, false);
    }

    /// Audio to a party that is not reading is dropped (and counted); a control waits, in order,
    /// until the party's socket has room.
    fn send_to_party(&mut self, p: usize, msg: &[u8], droppable: bool) {
        let Some(party) = self.parties[p].as_ref() else {
            return;
        };
        if party.closed {
            return;
        }
        // Nothing overtakes what is already waiting for the party.
        let backlog = party.pending_early.is_some() || !party.pending_controls.is_empty();
        let sent = if backlog {
            Err(Errno::EAGAIN)
        } else {
            send(
                party.fd.as_raw_fd(),
                msg,
                MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
            )
            .map(|_| ())
        };
        match sent {
            Ok(()) => {}
            Err(Errno::EAGAIN) if droppable => {
                self.counters
                    .overflow_bytes
                    .fetch_add(msg.len() as u64, Ordering::Relaxed);
            }
            Err(Errno::EAGAIN) => self.hold_control(p, msg),
            // The party has closed: reading its socket to end-of-file plays out what it sent and
            // then hangs up (a send failure must not cut that short).
            Err(Errno::EPIPE) | Err(Errno::ECONNRESET) => {}
            Err(_) => self.party_vanished(p),
        }
    }

    /// Keeps a control for a party whose socket is full, to send when it has room (lockstep:
    /// EPOLLOUT; realtime: the next tick).
    fn hold_control(&mut self, p: usize, msg: &[u8]) {
        let Some(party) = self.parties[p].as_mut() else {
            return;
        };
        if party.pending_controls.len() >= PENDING_CONTROLS_CAP {
            // A party that has read nothing for this many controls and its audio is gone.
            return self.party_vanished(p);
        }
        party.pending_controls.push_back(msg.to_vec());
        if self.clock == Clock::Lockstep {
            let mut ev = EpollEvent::new(EpollFlags::EPOLLIN | EpollFlags::EPOLLOUT, TOKEN_PARTY + p as u64);
            let _ = self.epoll.modify(&party.fd, &mut ev);
        }
    }

    fn shut_down(&mut self) {
        for p in 0..self.parties.len() {
            if matches!(
                self.party_call(p),
                PartyCall::InCall(_) | PartyCall::Dialing(_) | PartyCall::Alerting(_) | PartyCall::Failing
            ) {
                self.tell_party(
                    p,
                    DaemonOp::Hangup {
                        cause: Cause::NetworkOutOfOrder.name().into(),
                    },
                );
            }
        }
        self.parties.clear();
        // Dropping the slots hangs up every line: each channel thread reads end-of-file.
        self.slots.clear();
    }
}

/// Whether a party's control ends its call (and so must wait for the audio before it).
fn ends_call(op: &PartyOp) -> bool {
    matches!(op, PartyOp::Hangup)
}

/// Queues a party's audio for the card; returns how many bytes did not fit (dropped).
fn queue_party_audio(party: &mut Party, audio: &[u8]) -> usize {
    // Audio outside a call has nowhere to go (a real line carries nothing before the answer).
    if party.in_call_slot().is_none() {
        return 0;
    }
    let room = PARTY_AUDIO_CAP_BYTES - party.audio.len();
    let take = audio.len().min(room);
    party.audio.extend(&audio[..take]);
    party.accepted_total += take as u64;
    audio.len() - take
}

fn validate_number(field: &str, number: &str, empty_ok: bool) -> Result<(), String> {
    if number.is_empty() && empty_ok {
        return Ok(());
    }
    let valid_chars = number
        .chars()
        .all(|c| c.is_ascii_digit() || "*#+ABCDabcd".contains(c));
    if number.is_empty() || number.len() > 32 || !valid_chars {
        return Err(format!(
            "\"{field}\": \"{number}\" is not a number (1 to 32 of 0-9 * # + A-D)"
        ));
    }
    Ok(())
}

fn start_tick_timer() -> nix::Result<TimerFd> {
    use nix::sys::time::TimeSpec;
    use nix::sys::timerfd::{ClockId, Expiration, TimerFlags, TimerSetTimeFlags};
    let timer = TimerFd::new(
        ClockId::CLOCK_MONOTONIC,
        TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
    )?;
    let period = TimeSpec::from_duration(std::time::Duration::from_millis(1000 / BLOCKS_PER_SECOND as u64));
    timer.set(Expiration::Interval(period), TimerSetTimeFlags::empty())?;
    Ok(timer)
}

fn read_expirations(timer: &TimerFd) -> u64 {
    let mut buf = [0u8; 8];
    match nix::unistd::read(timer.as_fd().as_raw_fd(), &mut buf) {
        Ok(8) => u64::from_ne_bytes(buf),
        _ => 0,
    }
}
