//! The link between the sim card thread and one channel thread: the sim's stand-in for a card's
//! DMA buffers and its interrupt.
//!
//! Each direction is a bounded lock-free queue of wire messages (audio, events, controls, in order),
//! and the channel side blocks in `read()` on an eventfd that the card bumps after queueing, exactly
//! as a DAHDI reader sleeps until the driver's interrupt fills its buffer. The channel is still a
//! file descriptor that a thread blocks on; what the sim no longer does is copy every block through
//! a socket in both directions. Measured on the 2-core CI machine (benches/ipc in the notes): a
//! SOCK_SEQPACKET socketpair cost 21–28 µs of CPU per channel-block for the wakeup plus the two
//! socket round trips; this link costs 12–14 µs, because the only syscall left per block is the
//! wakeup itself (and the channel's blocking read of it).
//!
//! Lockstep needs the reverse wakeup too: the card sleeps until every channel has answered its
//! block. A channel rings the card-wide [`Doorbell`] after queueing, but only when the card has said
//! it is about to sleep, so a tick costs at most one doorbell syscall, not one per channel.

use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::Arc;

use crossbeam::queue::ArrayQueue;
use nix::errno::Errno;
use nix::sys::eventfd::{EfdFlags, EventFd};

use super::wire::WIRE_MAX;

/// Messages a direction holds: 32 blocks = 640 ms, far beyond DAHDI's usual 4-buffer policy, so a
/// descheduled channel thread loses nothing short of a real stall (which is then counted).
const LINE_FRAMES: usize = 32;

/// One wire message.
#[derive(Clone, Copy)]
pub(super) struct Frame {
    len: u16,
    bytes: [u8; WIRE_MAX],
}

impl Frame {
    /// Encodes with `put` (one of the `wire::put_*` functions) into a new frame.
    pub(super) fn encode(put: impl FnOnce(&mut [u8; WIRE_MAX]) -> usize) -> Frame {
        let mut frame = Frame {
            len: 0,
            bytes: [0; WIRE_MAX],
        };
        frame.len = put(&mut frame.bytes) as u16;
        frame
    }

    pub(super) fn bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// The state both ends share.
struct Line {
    to_chan: ArrayQueue<Frame>,
    to_card: ArrayQueue<Frame>,
    /// Bumped by the card after it queues for the channel; the channel blocks reading it.
    chan_wakeup: EventFd,
    /// The card has shut down: the channel reads what is queued, then end-of-file.
    card_gone: AtomicBool,
    /// Another thread woke the channel ([`LineWaker`]); cleared when the channel reads it.
    woken: AtomicBool,
}

/// Wakes a sleeping lockstep card when a channel has answered.
pub(super) struct Doorbell {
    fd: EventFd,
    card_sleeping: AtomicBool,
}

impl Doorbell {
    pub(super) fn new() -> nix::Result<Arc<Doorbell>> {
        Ok(Arc::new(Doorbell {
            fd: EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)?,
            card_sleeping: AtomicBool::new(false),
        }))
    }

    pub(super) fn fd(&self) -> &EventFd {
        &self.fd
    }

    /// The card is about to sleep. It must look at every queue once more after this (the fence
    /// pairs with the one in [`Doorbell::ring`]: either the card sees the message, or the channel
    /// sees the card asleep and wakes it).
    pub(super) fn card_going_to_sleep(&self) {
        self.card_sleeping.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }

    /// The card is awake again (it found work before sleeping, or was woken).
    pub(super) fn card_awake(&self) {
        self.card_sleeping.store(false, Ordering::SeqCst);
    }

    /// Clears a ring once it has woken the card (the queues say what there is to do).
    pub(super) fn acknowledge(&self) {
        let _ = self.fd.read();
    }

    fn ring(&self) {
        fence(Ordering::SeqCst);
        if self.card_sleeping.swap(false, Ordering::SeqCst) {
            let _ = self.fd.arm();
        }
    }
}

/// Creates a line: the card's end and the channel's end.
pub(super) fn line(doorbell: Option<Arc<Doorbell>>) -> nix::Result<(CardEnd, ChanEnd)> {
    let line = Arc::new(Line {
        to_chan: ArrayQueue::new(LINE_FRAMES),
        to_card: ArrayQueue::new(LINE_FRAMES),
        chan_wakeup: EventFd::from_flags(EfdFlags::EFD_CLOEXEC)?,
        card_gone: AtomicBool::new(false),
        woken: AtomicBool::new(false),
    });
    Ok((CardEnd(line.clone()), ChanEnd { line, doorbell }))
}

/// The card thread's end. Dropping it hangs the line up: the channel reads end-of-file.
pub(super) struct CardEnd(Arc<Line>);

impl CardEnd {
    /// Queues a message for the channel and wakes it; false when the channel is too far behind
    /// to take it (a DAHDI receive overrun).
    pub(super) fn send(&self, frame: Frame) -> bool {
        let queued = self.0.to_chan.push(frame).is_ok();
        // Woken even when full: the channel is behind, and must not also be asleep.
        let _ = self.0.chan_wakeup.arm();
        queued
    }

    /// Whether the channel has written something the card has not taken.
    pub(super) fn has_pending(&self) -> bool {
        !self.0.to_card.is_empty()
    }

    /// The channel's next message, if it wrote one.
    pub(super) fn recv(&self) -> Option<Frame> {
        self.0.to_card.pop()
    }
}

impl Drop for CardEnd {
    fn drop(&mut self) {
        self.0.card_gone.store(true, Ordering::Release);
        let _ = self.0.chan_wakeup.arm();
    }
}

/// Why the channel's end could not queue a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SendError {
    /// The card has not taken the last 32 messages.
    Full,
    /// The card has shut down.
    Gone,
}

impl From<SendError> for Errno {
    fn from(e: SendError) -> Errno {
        match e {
            SendError::Full => Errno::EAGAIN,
            SendError::Gone => Errno::EPIPE,
        }
    }
}

/// The channel thread's end.
pub(super) struct ChanEnd {
    line: Arc<Line>,
    doorbell: Option<Arc<Doorbell>>,
}

/// Wakes the channel end's blocking `recv` from another thread: it returns [`Frame::WOKEN`].
pub(super) struct LineWaker(Arc<Line>);

impl LineWaker {
    pub(super) fn wake(&self) {
        self.0.woken.store(true, Ordering::Release);
        let _ = self.0.chan_wakeup.arm();
    }
}

impl Frame {
    /// What `recv` returns for a wake-up: an empty message (no wire message is empty).
    pub(super) const WOKEN: Frame = Frame {
        len: 0,
        bytes: [0; WIRE_MAX],
    };

    pub(super) fn is_woken(&self) -> bool {
        self.len == 0
    }
}

impl ChanEnd {
    /// A waker for [`ChanEnd::recv`].
    pub(super) fn waker(&self) -> LineWaker {
        LineWaker(self.line.clone())
    }

    /// Blocks until the card sends a message (or a waker wakes it: [`Frame::WOKEN`], after anything
    /// the card queued); None once the card has gone and nothing is left.
    pub(super) fn recv(&self) -> Result<Option<Frame>, Errno> {
        loop {
            if let Some(frame) = self.line.to_chan.pop() {
                return Ok(Some(frame));
            }
            if self.line.woken.swap(false, Ordering::AcqRel) {
                return Ok(Some(Frame::WOKEN));
            }
            if self.line.card_gone.load(Ordering::Acquire) {
                // What the card queued before it went is still delivered.
                return Ok(self.line.to_chan.pop());
            }
            match self.line.chan_wakeup.read() {
                Ok(_) | Err(Errno::EINTR) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Queues a message for the card without blocking.
    pub(super) fn send(&self, frame: Frame) -> Result<(), SendError> {
        if self.line.card_gone.load(Ordering::Acquire) {
            return Err(SendError::Gone);
        }
        let queued = self.line.to_card.push(frame).map_err(|_| SendError::Full);
        if let Some(doorbell) = &self.doorbell {
            doorbell.ring();
        }
        queued
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hw::sim::wire::{self, Wire};
    use crate::hw::{Block, ChanEvent, BLOCK_SAMPLES};

    fn audio(byte: u8) -> Frame {
        Frame::encode(|buf| wire::put_audio(buf, &[byte; BLOCK_SAMPLES]))
    }

    fn decode(frame: &Frame) -> (Option<Wire>, Block) {
        let mut block = [0; BLOCK_SAMPLES];
        (wire::decode(frame.bytes(), &mut block), block)
    }

    #[test]
    fn messages_arrive_in_order_across_threads() {
        let (card, chan) = line(None).unwrap();
        let reader = std::thread::spawn(move || {
            let mut seen = Vec::new();
            while let Some(frame) = chan.recv().unwrap() {
                seen.push(decode(&frame).1[0]);
            }
            seen
        });
        for i in 0..1000u32 {
            // The queue holds 32; wait for room the way a card would wait for its next tick.
            while card.0.to_chan.len() == LINE_FRAMES {
                std::thread::yield_now();
            }
            assert!(card.send(audio(i as u8)));
        }
        drop(card);
        let seen = reader.join().unwrap();
        let expected: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn a_full_line_refuses_and_a_gone_card_is_end_of_file() {
        let (card, chan) = line(None).unwrap();
        for _ in 0..LINE_FRAMES {
            assert!(card.send(audio(1)));
        }
        assert!(!card.send(audio(2)), "the 33rd block is an overrun");
        let event = Frame::encode(|buf| wire::put_event(buf, &ChanEvent::RingBegin));
        for _ in 0..LINE_FRAMES {
            chan.send(event).unwrap();
        }
        assert_eq!(chan.send(event), Err(SendError::Full));
        drop(card);
        let mut delivered = 0;
        while chan.recv().unwrap().is_some() {
            delivered += 1;
        }
        assert_eq!(
            delivered, LINE_FRAMES,
            "queued blocks survive the card's shutdown"
        );
        assert_eq!(chan.send(event), Err(SendError::Gone));
    }

    #[test]
    fn the_doorbell_rings_only_for_a_sleeping_card() {
        let doorbell = Doorbell::new().unwrap();
        let (_card, chan) = line(Some(doorbell.clone())).unwrap();
        chan.send(audio(0)).unwrap();
        assert_eq!(
            doorbell.fd.read(),
            Err(Errno::EAGAIN),
            "an awake card is not rung"
        );
        doorbell.card_going_to_sleep();
        chan.send(audio(0)).unwrap();
        assert_eq!(doorbell.fd.read(), Ok(1));
        chan.send(audio(0)).unwrap();
        assert_eq!(doorbell.fd.read(), Err(Errno::EAGAIN), "one ring per sleep");
    }
}
