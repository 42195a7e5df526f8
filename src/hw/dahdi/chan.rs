//! One DAHDI channel as a [`Channel`] (DESIGN.md §3): `/dev/dahdi/channel` bound with DAHDI_SPECIFY,
//! 160-byte blocks, buffers kept ahead of the card, events via POLLPRI/ELAST + DAHDI_GETEVENT mapped
//! by the channel's signalling, controls via DAHDI_HOOK / DAHDI_DIAL / DAHDI_SETTXBITS.
//!
//! Everything that may allocate or log happens in [`DahdiChannel::open`]; `read`, `write` and
//! `control` are the channel thread's real-time path: syscalls on a non-blocking fd, no allocation.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use nix::errno::Errno;
use std::os::unix::fs::OpenOptionsExt;

use nix::poll::{PollFd, PollFlags, PollTimeout};

use super::events::{self, Mapped};
use super::options::ChanOptions;
use super::sys;
use crate::dsp::g711;
use crate::hw::{
    Block, CardCounters, ChanEvent, ChanId, Channel, Control, HwError, Law, ReadOutcome, Role, Signalling,
    BLOCK_SAMPLES,
};

/// How long one poll waits before looking at the card's closing flag again. DAHDI delivers a block
/// every 20 ms even on idle lines, so this only matters when a span stops clocking.
const POLL_TIMEOUT_MS: u16 = 200;

/// What the card tells a channel when it opens it.
#[derive(Clone, Debug)]
pub struct ChanSetup {
    pub id: ChanId,
    /// DAHDI's global channel number (`/dev/dahdi/<n>`, DAHDI_SPECIFY's argument).
    pub channo: i32,
    pub signalling: Signalling,
    pub options: ChanOptions,
}

/// A DAHDI channel, owned by its channel thread.
pub struct DahdiChannel {
    fd: OwnedFd,
    id: ChanId,
    law: Law,
    signalling: Signalling,
    silence: Block,
    /// When to write, and how many blocks to queue ahead first.
    tx: TxMargin,
    /// Nothing read yet: what queued up between open and the thread's first read is stale.
    fresh: bool,
    /// A block has been read: the thread runs at the card's pace from here on.
    reading: bool,
    echo_taps: u32,
    /// The span was in alarm when the channel opened (DAHDI posts no event for that): reported by
    /// the first read.
    initial_alarm: Option<ChanEvent>,
    dial: sys::DialRequest,
    closing: Arc<AtomicBool>,
    counters: Arc<CardCounters>,
}

/// The transmit side's margin: DAHDI sends idle bytes when its buffers run dry, so telvox keeps
/// `ahead` blocks queued beyond the one it writes for each block it reads — at the first write,
/// after anything that empties the buffers (an on-hook, a dial, an underrun, a block lost to ELAST),
/// and never writes while a DAHDI_DIAL runs (a write cancels the dial).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxMargin {
    ahead: usize,
    dialing: bool,
    refill: bool,
}

impl TxMargin {
    /// Half of `buffers` queued once a block is written (at least one ahead).
    pub fn new(buffers: u8) -> TxMargin {
        TxMargin {
            ahead: usize::from(buffers / 2).saturating_sub(1).max(1),
            dialing: false,
            // Primed at the first write, when the channel thread runs: primed at open, the blocks
            // would drain before the thread starts.
            refill: true,
        }
    }

    /// Before a block is written: None = hold it (a dial runs), else the silence blocks to queue first.
    pub fn before_write(&mut self) -> Option<usize> {
        if self.dialing {
            return None;
        }
        Some(if std::mem::take(&mut self.refill) {
            self.ahead
        } else {
            0
        })
    }

    pub fn dialing(&mut self) {
        self.dialing = true;
    }

    pub fn dial_complete(&mut self) {
        if std::mem::take(&mut self.dialing) {
            self.refill = true;
        }
    }

    pub fn on_hook(&mut self) {
        self.dialing = false;
        self.refill = true;
    }

    /// The driver reported a transmit underrun. Returns whether it counts as a late block: an
    /// underrun while a refill is pending follows what emptied the buffers on purpose (an on-hook
    /// runs dahdi_hangup, which drops the queue; a dial ends with nothing queued), not a late write.
    pub fn ran_dry(&mut self) -> bool {
        !std::mem::replace(&mut self.refill, true)
    }
}

fn io(id: ChanId, op: &'static str, err: Errno) -> HwError {
    HwError::Io {
        chan: id,
        op,
        source: std::io::Error::from_raw_os_error(err as i32),
    }
}

/// The DAHDI_SETGAINS table for `db` of gain in `law`: every code to the code of its scaled value.
pub fn gain_table(law: Law, db: f32) -> [u8; 256] {
    let factor = 10f32.powf(db / 20.0);
    let mut table = [0u8; 256];
    for (code, slot) in table.iter_mut().enumerate() {
        let linear = f32::from(g711::decode(law, code as u8)) * factor;
        *slot = g711::encode(law, linear.clamp(-32768.0, 32767.0) as i16);
    }
    table
}

impl DahdiChannel {
    /// Opens `dev` (normally /dev/dahdi/channel), binds it to the channel and sets it up: blocksize
    /// 160, buffers, gains, echo canceller; reads the law and checks the signalling the driver has.
    pub fn open(
        dev: &Path,
        setup: &ChanSetup,
        closing: Arc<AtomicBool>,
        counters: Arc<CardCounters>,
    ) -> Result<DahdiChannel, HwError> {
        let id = setup.id;
        let fd: OwnedFd = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(dev)
            .map_err(|source| HwError::Io {
                chan: id,
                op: "open",
                source,
            })?
            .into();
        let bfd = fd.as_fd();
        sys::specify(bfd, setup.channo).map_err(|e| io(id, "DAHDI_SPECIFY", e))?;
        sys::set_blocksize(bfd, BLOCK_SAMPLES as i32).map_err(|e| io(id, "DAHDI_SET_BLOCKSIZE", e))?;
        let options = setup.options;
        sys::set_bufinfo(
            bfd,
            options.buffer_policy.dahdi(),
            i32::from(options.buffers),
            BLOCK_SAMPLES as i32,
        )
        .map_err(|e| io(id, "DAHDI_SET_BUFINFO", e))?;
        let params = sys::get_params(bfd, 0).map_err(|e| io(id, "DAHDI_GET_PARAMS", e))?;
        let law = if params.curlaw == sys::LAW_MULAW {
            Law::Ulaw
        } else {
            Law::Alaw
        };
        if options.rx_gain_db != 0.0 || options.tx_gain_db != 0.0 {
            let gains = sys::Gains::new(
                &gain_table(law, options.rx_gain_db),
                &gain_table(law, options.tx_gain_db),
            );
            gains.send(bfd).map_err(|e| io(id, "DAHDI_SETGAINS", e))?;
        }
        // Underruns and overruns as events, counted in `telvox status` (older drivers refuse: no count).
        let _ = sys::buffer_events(bfd, true);
        let alarms = events::alarms_from_dahdi(params.chan_alarms as i32);
        let chan = DahdiChannel {
            fd,
            id,
            law,
            signalling: setup.signalling,
            silence: [law.silence_byte(); BLOCK_SAMPLES],
            tx: TxMargin::new(options.buffers),
            fresh: true,
            reading: false,
            echo_taps: options.echo_taps,
            initial_alarm: (!alarms.is_clear()).then_some(ChanEvent::Alarm(alarms)),
            dial: sys::DialRequest::new(),
            closing,
            counters,
        };
        chan.set_echo_canceller(options.echo_taps);
        Ok(chan)
    }

    /// Echo canceller on with `taps`, or off (0). A channel without an echo canceller configured in
    /// system.conf (`echocanceller=`) refuses; that is reported once at open, not an error.
    fn set_echo_canceller(&self, taps: u32) {
        static WARNED: AtomicBool = AtomicBool::new(false);
        if let Err(e) = sys::echocancel(self.fd.as_fd(), taps) {
            if taps > 0 && !WARNED.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "channel {}: echo canceller ({taps} taps) refused by DAHDI: {e}; add echocanceller= \
                     for this channel to /etc/dahdi/system.conf, or set echo_taps = 0 in the map (said once \
                     for all channels)",
                    self.id
                );
            }
        }
    }

    /// Queues silence ahead of the card so each later write keeps the buffers as full: the
    /// transmitter never runs dry (an underrun makes DAHDI send idle bytes).
    fn prime(&mut self, blocks: usize) {
        for _ in 0..blocks {
            if nix::unistd::write(&self.fd, &self.silence).is_err() {
                break;
            }
        }
    }

    fn event(&mut self, code: i32) -> Result<Option<ReadOutcome>, HwError> {
        let event = match events::map_event(self.signalling, code) {
            Mapped::Event(event) => event,
            Mapped::ReadBits => match sys::get_rxbits(self.fd.as_fd()) {
                Ok(raw) => ChanEvent::Bits(events::rx_bits(raw)),
                // Bits that cannot be read are no event (the channel stays in service).
                Err(_) => return Ok(None),
            },
            Mapped::ReadAlarms => {
                let bits = sys::get_params(self.fd.as_fd(), 0).map_or(0, |p| p.chan_alarms as i32);
                let alarms = events::alarms_from_dahdi(bits);
                ChanEvent::Alarm(if alarms.is_clear() {
                    crate::hw::Alarms::RED
                } else {
                    alarms
                })
            }
            Mapped::Removed => return Ok(Some(ReadOutcome::Closed)),
            Mapped::Underrun => {
                // The card sent idle bytes: the block telvox owed was late (CardCounters' meaning),
                // unless telvox had emptied the queue itself (FINDINGS.md 4: one per hang-up).
                if self.tx.ran_dry() {
                    self.counters.late_blocks.fetch_add(1, Ordering::Relaxed);
                }
                return Ok(None);
            }
            Mapped::Overrun => {
                // Overruns before the first block read are the backlog of open-to-start, which the
                // first read drops anyway; only a thread that fell behind later lost blocks.
                if self.reading {
                    self.counters.rx_overruns.fetch_add(1, Ordering::Relaxed);
                }
                return Ok(None);
            }
            Mapped::Ignore => return Ok(None),
        };
        if event == ChanEvent::DialComplete {
            self.tx.dial_complete();
        }
        Ok(Some(ReadOutcome::Event(event)))
    }

    fn hook(&mut self, op: i32, name: &'static str) -> Result<(), HwError> {
        if matches!(self.signalling, Signalling::Clear | Signalling::Network) {
            // A clear channel has no hook: DAHDI refuses DAHDI_HOOK there (EINVAL); the call's
            // signalling travels elsewhere (CAS bits, a D-channel, or none).
            return Ok(());
        }
        match sys::hook(self.fd.as_fd(), op) {
            // Non-blocking fd: ring/start/wink/flash are accepted, HOOKCOMPLETE follows.
            Ok(()) | Err(Errno::EINPROGRESS) => Ok(()),
            Err(e) => Err(io(self.id, name, e)),
        }
    }

    fn closed_or(&self, err: Errno, op: &'static str) -> Result<ReadOutcome, HwError> {
        if self.closing.load(Ordering::Acquire)
            || matches!(
                err,
                Errno::EBADF | Errno::ENODEV | Errno::ENXIO | Errno::EPIPE | Errno::EUNATCH
            )
        {
            return Ok(ReadOutcome::Closed);
        }
        Err(io(self.id, op, err))
    }
}

impl Channel for DahdiChannel {
    fn id(&self) -> ChanId {
        self.id
    }

    fn law(&self) -> Law {
        self.law
    }

    fn role(&self) -> Role {
        self.signalling.role()
    }

    fn signalling(&self) -> Signalling {
        self.signalling
    }

    fn read(&mut self, block: &mut Block) -> Result<ReadOutcome, HwError> {
        if let Some(event) = self.initial_alarm.take() {
            return Ok(ReadOutcome::Event(event));
        }
        if self.fresh {
            // The blocks received since open are old by the time the thread runs (a second on a slow
            // machine): drop them, so every channel starts with the same margin (FINDINGS.md 3).
            self.fresh = false;
            let _ = sys::flush(self.fd.as_fd());
        }
        loop {
            if self.closing.load(Ordering::Acquire) {
                return Ok(ReadOutcome::Closed);
            }
            let mut fds = [PollFd::new(
                self.fd.as_fd(),
                PollFlags::POLLIN | PollFlags::POLLPRI,
            )];
            match nix::poll::poll(&mut fds, PollTimeout::from(POLL_TIMEOUT_MS)) {
                Ok(0) | Err(Errno::EINTR) => continue,
                Ok(_) => {}
                Err(e) => return self.closed_or(e, "poll"),
            }
            let revents = fds[0].revents().unwrap_or(PollFlags::empty());
            if revents.intersects(PollFlags::POLLERR | PollFlags::POLLHUP | PollFlags::POLLNVAL) {
                return Ok(ReadOutcome::Closed);
            }
            if revents.contains(PollFlags::POLLPRI) {
                let code = match sys::get_event(self.fd.as_fd()) {
                    Ok(code) => code,
                    Err(e) => return self.closed_or(e, "DAHDI_GETEVENT"),
                };
                if let Some(outcome) = self.event(code)? {
                    return Ok(outcome);
                }
                continue;
            }
            match nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(&self.fd), block) {
                Ok(0) => return Ok(ReadOutcome::Closed),
                Ok(n) => {
                    if n < BLOCK_SAMPLES {
                        block[n..].fill(self.law.silence_byte());
                    }
                    self.reading = true;
                    return Ok(ReadOutcome::Audio);
                }
                Err(Errno::EAGAIN | Errno::EINTR) => continue,
                Err(e) if sys::is_elast(e) => {
                    let code = match sys::get_event(self.fd.as_fd()) {
                        Ok(code) => code,
                        Err(e) => return self.closed_or(e, "DAHDI_GETEVENT"),
                    };
                    if let Some(outcome) = self.event(code)? {
                        return Ok(outcome);
                    }
                }
                Err(e) => return self.closed_or(e, "read"),
            }
        }
    }

    fn write(&mut self, block: &Block) -> Result<(), HwError> {
        match self.tx.before_write() {
            // A write would cancel the dial: the kernel is sending the digits; this block is dropped.
            None => return Ok(()),
            Some(0) => {}
            Some(blocks) => self.prime(blocks),
        }
        match nix::unistd::write(&self.fd, block) {
            Ok(_) => Ok(()),
            // The card's buffers are full: drop and count, never wait.
            Err(Errno::EAGAIN) => {
                self.counters.tx_overruns.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            // An event is pending; the next read reports it. The block is lost: queue one ahead
            // again before the next, so the transmitter keeps its margin.
            Err(e) if sys::is_elast(e) => {
                let _ = self.tx.ran_dry();
                Ok(())
            }
            Err(e) if self.closing.load(Ordering::Acquire) => {
                let _ = e;
                Ok(())
            }
            Err(e) => Err(io(self.id, "write", e)),
        }
    }

    fn control(&mut self, control: Control) -> Result<(), HwError> {
        match control {
            Control::OffHook | Control::Answer { .. } => {
                self.hook(sys::HOOK_OFFHOOK, "DAHDI_HOOK OFFHOOK")?;
                if self.echo_taps > 0 {
                    // The driver may drop the canceller across hook changes: on again per call.
                    let _ = sys::echocancel(self.fd.as_fd(), self.echo_taps);
                }
                Ok(())
            }
            Control::OnHook | Control::Hangup { .. } => {
                // DAHDI empties the channel's buffers on an on-hook (dahdi_hangup): queue the
                // blocks ahead again, or the transmitter runs dry at the next late wake-up.
                self.tx.on_hook();
                self.hook(sys::HOOK_ONHOOK, "DAHDI_HOOK ONHOOK")
            }
            Control::Ring => self.hook(sys::HOOK_RING, "DAHDI_HOOK RING"),
            Control::RingOff => self.hook(sys::HOOK_RINGOFF, "DAHDI_HOOK RINGOFF"),
            Control::Start => self.hook(sys::HOOK_START, "DAHDI_HOOK START"),
            Control::Wink => self.hook(sys::HOOK_WINK, "DAHDI_HOOK WINK"),
            Control::Flash => self.hook(sys::HOOK_FLASH, "DAHDI_HOOK FLASH"),
            Control::DialDigits { digits, pulse } => {
                self.dial.set(pulse, digits.as_str().as_bytes());
                // Whatever is queued would play before the digits: drop it.
                let _ = sys::flush(self.fd.as_fd());
                self.dial
                    .send(self.fd.as_fd())
                    .map_err(|e| io(self.id, "DAHDI_DIAL", e))?;
                self.tx.dialing();
                Ok(())
            }
            Control::OnHookTransfer { ms } => sys::onhook_transfer(self.fd.as_fd(), i32::from(ms))
                .map_err(|e| io(self.id, "DAHDI_ONHOOKTRANSFER", e)),
            Control::SetBits(bits) => sys::set_txbits(self.fd.as_fd(), i32::from(bits & 0xf))
                .map_err(|e| io(self.id, "DAHDI_SETTXBITS", e)),
            // A channel without a line state machine in front (clear channels) cannot place a
            // call by itself: seizing is the line's job.
            Control::Dial { .. } => self.hook(sys::HOOK_OFFHOOK, "DAHDI_HOOK OFFHOOK"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tx_margin_primes_first_holds_during_a_dial_and_refills_after_what_empties_the_buffers() {
        let mut tx = TxMargin::new(4);
        assert_eq!(tx.before_write(), Some(1), "first write: one ahead, two queued");
        assert_eq!(tx.before_write(), Some(0), "steady: one written per one read");
        tx.dialing();
        assert_eq!(tx.before_write(), None, "no write may cancel the dial");
        assert_eq!(tx.before_write(), None);
        tx.dial_complete();
        assert_eq!(tx.before_write(), Some(1), "the buffers drained during the dial");
        assert_eq!(tx.before_write(), Some(0));
        tx.on_hook();
        assert_eq!(
            tx.before_write(),
            Some(1),
            "DAHDI empties the buffers on an on-hook"
        );
        assert!(
            tx.ran_dry(),
            "an underrun with the margin in place is a late block"
        );
        assert_eq!(tx.before_write(), Some(1), "after an underrun or a lost block");
        tx.on_hook();
        assert!(
            !tx.ran_dry(),
            "the underrun an on-hook causes (DAHDI drops the queue) is no late block"
        );
        assert_eq!(tx.before_write(), Some(1));
        tx.dial_complete();
        assert_eq!(
            tx.before_write(),
            Some(0),
            "a DIALCOMPLETE without a dial changes nothing"
        );
        tx.dialing();
        tx.on_hook();
        assert_eq!(tx.before_write(), Some(1), "hanging up ends the dial");
        assert_eq!(TxMargin::new(16).before_write(), Some(7), "16 buffers: 8 queued");
        assert_eq!(TxMargin::new(2).before_write(), Some(1));
    }

    #[test]
    fn gain_tables_scale_in_the_law() {
        let flat = gain_table(Law::Alaw, 0.0);
        for code in 0..=255u8 {
            assert_eq!(flat[code as usize], code, "0 dB keeps A-law code {code:#x}");
        }
        let up = gain_table(Law::Ulaw, 6.0);
        let sample = g711::decode(Law::Ulaw, 0x9f); // a mid-level negative sample
        let boosted = g711::decode(Law::Ulaw, up[0x9f]);
        let ratio = f32::from(boosted) / f32::from(sample);
        assert!((1.8..2.2).contains(&ratio), "+6 dB ≈ ×2, got ×{ratio}");
        let silence = Law::Ulaw.silence_byte();
        assert_eq!(
            g711::decode(Law::Ulaw, up[silence as usize]),
            g711::decode(Law::Ulaw, silence)
        );
    }

    #[test]
    fn opening_a_missing_device_is_a_clear_error() {
        let setup = ChanSetup {
            id: ChanId { span: 1, chan: 1 },
            channo: 1,
            signalling: Signalling::Fxsks,
            options: ChanOptions::default(),
        };
        let err = DahdiChannel::open(
            Path::new("/nonexistent/dahdi/channel"),
            &setup,
            Arc::default(),
            Arc::default(),
        )
        .err()
        .expect("no such device");
        assert!(err.to_string().starts_with("channel 1/1: open failed"), "{err}");
    }
}
