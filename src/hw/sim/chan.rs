//! A sim channel as its channel thread sees it: it blocks in `read()` until the card's next block
//! or event, and writes blocks and controls back, exactly like a DAHDI channel file descriptor
//! (see [`super::line`] for how the sim carries them).

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use nix::errno::Errno;

use super::line::{ChanEnd, Frame, SendError};
use super::wire::{self, Wire};
use crate::hw::{
    Block, CardCounters, ChanId, Channel, ChannelWaker, Control, HwError, Law, ReadOutcome, Role,
};

pub struct SimChannel {
    id: ChanId,
    law: Law,
    role: Role,
    line: ChanEnd,
    counters: Arc<CardCounters>,
}

impl SimChannel {
    pub(crate) fn new(id: ChanId, law: Law, role: Role, line: ChanEnd, counters: Arc<CardCounters>) -> Self {
        Self {
            id,
            law,
            role,
            line,
            counters,
        }
    }

    fn io_error(&self, op: &'static str, errno: Errno) -> HwError {
        HwError::Io {
            chan: self.id,
            op,
            source: io::Error::from(errno),
        }
    }
}

impl Channel for SimChannel {
    fn id(&self) -> ChanId {
        self.id
    }

    fn law(&self) -> Law {
        self.law
    }

    fn role(&self) -> Role {
        self.role
    }

    fn read(&mut self, block: &mut Block) -> Result<ReadOutcome, HwError> {
        loop {
            let frame = match self.line.recv() {
                Ok(Some(frame)) => frame,
                Ok(None) => return Ok(ReadOutcome::Closed),
                Err(e) => return Err(self.io_error("read", e)),
            };
            if frame.is_woken() {
                return Ok(ReadOutcome::Woken);
            }
            match wire::decode(frame.bytes(), block) {
                Some(Wire::Audio) => return Ok(ReadOutcome::Audio),
                Some(Wire::Event(ev)) => return Ok(ReadOutcome::Event(ev)),
                // Controls never travel card → channel; an undecodable message is a bug: skip it.
                Some(Wire::Control(_)) | None => continue,
            }
        }
    }

    /// Never blocks: the card takes the channel's messages every tick, so a full line means the
    /// card is wedged, and the block is dropped and counted rather than stalling the thread.
    fn write(&mut self, block: &Block) -> Result<(), HwError> {
        match self.line.send(Frame::encode(|buf| wire::put_audio(buf, block))) {
            Ok(()) => Ok(()),
            Err(SendError::Full) => {
                self.counters.tx_overruns.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => Err(self.io_error("write", e.into())),
        }
    }

    /// A control is never dropped: a full line is reported as an error instead.
    fn control(&mut self, control: Control) -> Result<(), HwError> {
        self.line
            .send(Frame::encode(|buf| wire::put_control(buf, &control)))
            .map_err(|e| self.io_error("control", e.into()))
    }

    fn waker(&self) -> Option<Arc<dyn ChannelWaker>> {
        Some(Arc::new(SimWaker(self.line.waker())))
    }
}

/// A sim channel's waker (see [`ChannelWaker`]).
struct SimWaker(super::line::LineWaker);

impl ChannelWaker for SimWaker {
    fn wake(&self) {
        self.0.wake();
    }
}
