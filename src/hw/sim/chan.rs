//! A sim channel as its channel thread sees it: one end of a socketpair, read and written exactly
//! like a DAHDI channel file descriptor.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use nix::errno::Errno;
use nix::sys::socket::{recv, send, MsgFlags};

use super::wire::{self, Wire, WIRE_MAX};
use crate::hw::{Block, CardCounters, ChanId, Channel, Control, HwError, Law, ReadOutcome, Role};

pub struct SimChannel {
    id: ChanId,
    law: Law,
    role: Role,
    fd: OwnedFd,
    counters: Arc<CardCounters>,
    buf: [u8; WIRE_MAX],
}

impl SimChannel {
    pub(crate) fn new(id: ChanId, law: Law, role: Role, fd: OwnedFd, counters: Arc<CardCounters>) -> Self {
        Self {
            id,
            law,
            role,
            fd,
            counters,
            buf: [0; WIRE_MAX],
        }
    }

    fn io_error(&self, op: &'static str, errno: Errno) -> HwError {
        HwError::Io {
            chan: self.id,
            op,
            source: io::Error::from(errno),
        }
    }

    /// Sends without blocking: the card drains the socket every tick, so a full socket means the
    /// card is gone or wedged, and the block is dropped and counted rather than stalling the thread.
    /// A control is never dropped: a full socket is reported as an error instead.
    fn send_nonblocking(&mut self, len: usize, op: &'static str, droppable: bool) -> Result<(), HwError> {
        let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL;
        match send(self.fd.as_raw_fd(), &self.buf[..len], flags) {
            Ok(_) => Ok(()),
            Err(Errno::EAGAIN) if droppable => {
                self.counters.tx_overruns.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => Err(self.io_error(op, e)),
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
            let n = match recv(self.fd.as_raw_fd(), &mut self.buf, MsgFlags::empty()) {
                Ok(0) => return Ok(ReadOutcome::Closed),
                Ok(n) => n,
                Err(Errno::EINTR) => continue,
                Err(Errno::ECONNRESET) => return Ok(ReadOutcome::Closed),
                Err(e) => return Err(self.io_error("read", e)),
            };
            match wire::decode(&self.buf[..n], block) {
                Some(Wire::Audio) => return Ok(ReadOutcome::Audio),
                Some(Wire::Event(ev)) => return Ok(ReadOutcome::Event(ev)),
                // Controls never travel card → channel; an undecodable message is a bug: skip it.
                Some(Wire::Control(_)) | None => continue,
            }
        }
    }

    fn write(&mut self, block: &Block) -> Result<(), HwError> {
        let len = wire::put_audio(&mut self.buf, block);
        self.send_nonblocking(len, "write", true)
    }

    fn control(&mut self, control: Control) -> Result<(), HwError> {
        let len = wire::put_control(&mut self.buf, &control);
        self.send_nonblocking(len, "control", false)
    }
}
