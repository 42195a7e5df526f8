//! A far-end party: connects to the sim socket and speaks the protocol. Used by `telvox sim call`,
//! the end-to-end tests and `telvox bench`; other tools can use it as a reference.

use std::io::{self, Read};
use std::path::Path;
use std::time::Duration;

use super::protocol::{self as proto, DaemonMessage, DaemonOp, PartyOp, MAX_MESSAGE_BYTES};
use crate::hw::{Block, BLOCK_SAMPLES};

/// What the daemon sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Heard {
    Audio(Vec<u8>),
    Control(DaemonOp),
    /// The daemon closed the connection.
    Closed,
    /// Nothing arrived within the timeout.
    Timeout,
}

/// One connection to the sim card: one party.
pub struct Party {
    sock: socket2::Socket,
    buf: Vec<u8>,
}

impl Party {
    pub fn connect(socket: &Path) -> io::Result<Party> {
        let sock = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::SEQPACKET, None)?;
        let addr = socket2::SockAddr::unix(socket)?;
        sock.connect(&addr).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot reach the sim card at {}: {e} (is the daemon running?)",
                    socket.display()
                ),
            )
        })?;
        Ok(Party {
            sock,
            buf: vec![0; MAX_MESSAGE_BYTES + 1],
        })
    }

    pub fn send_control(&self, op: &PartyOp) -> io::Result<()> {
        self.send_raw(&proto::encode_control(op))
    }

    pub fn send_audio(&self, audio: &[u8]) -> io::Result<()> {
        let mut msg = Vec::with_capacity(audio.len() + 1);
        msg.push(proto::MSG_AUDIO);
        msg.extend_from_slice(audio);
        self.send_raw(&msg)
    }

    /// Sends bytes exactly as given (tests use it for malformed messages).
    pub fn send_raw(&self, msg: &[u8]) -> io::Result<()> {
        self.sock.send_with_flags(msg, libc::MSG_NOSIGNAL).map(|_| ())
    }

    /// Waits for the next message (None = wait forever).
    pub fn recv(&mut self, timeout: Option<Duration>) -> io::Result<Heard> {
        self.sock.set_read_timeout(timeout)?;
        let n = match (&self.sock).read(&mut self.buf) {
            Ok(0) => return Ok(Heard::Closed),
            Ok(n) => n,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                return Ok(Heard::Timeout)
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(Heard::Closed),
            Err(e) => return Err(e),
        };
        match proto::parse_daemon_message(&self.buf[..n]) {
            Ok(DaemonMessage::Audio(a)) => Ok(Heard::Audio(a.to_vec())),
            Ok(DaemonMessage::Control(op)) => Ok(Heard::Control(op)),
            Err(e) => Err(io::Error::new(io::ErrorKind::InvalidData, e)),
        }
    }

    /// Waits for a control message, collecting (and returning) any audio heard meanwhile.
    pub fn recv_control(&mut self, timeout: Duration) -> io::Result<Option<DaemonOp>> {
        loop {
            match self.recv(Some(timeout))? {
                Heard::Control(op) => return Ok(Some(op)),
                Heard::Audio(_) => continue,
                Heard::Closed | Heard::Timeout => return Ok(None),
            }
        }
    }
}

/// How a scripted call went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallOutcome {
    pub answered: bool,
    pub call_id: Option<String>,
    pub channel: Option<String>,
    /// Every byte telvox sent after the answer, in order (G.711 in the span's law).
    pub heard: Vec<u8>,
    /// What the network played before the answer: ringback, or the failure tone before a
    /// `hangup` (not part of `heard`, so `heard` starts at the answer).
    pub early: Vec<u8>,
    /// The cause telvox gave when it hung up; None when this party hung up.
    pub cause: Option<String>,
    /// Errors the daemon reported to this party.
    pub errors: Vec<String>,
}

/// Places a call and plays it out in lockstep with the card: after the answer, one block is sent
/// for every block heard, with `next_block(blocks_heard_so_far, &heard)` choosing what to send;
/// returning None hangs up. Works on both clocks (in realtime the card paces the exchange).
pub fn run_call(
    party: &mut Party,
    dial: &PartyOp,
    answer_timeout: Duration,
    mut next_block: impl FnMut(usize, &[u8]) -> Option<Block>,
) -> io::Result<CallOutcome> {
    let mut out = CallOutcome::default();
    party.send_control(dial)?;
    if !wait_for_answer(party, answer_timeout, &mut out)? {
        return Ok(out);
    }
    let Some(first) = next_block(0, &out.heard) else {
        party.send_control(&PartyOp::Hangup)?;
        return Ok(out);
    };
    party.send_audio(&first)?;
    let mut blocks_heard = 0usize;
    loop {
        match party.recv(Some(answer_timeout))? {
            Heard::Audio(a) => {
                out.heard.extend_from_slice(&a);
                blocks_heard += a.len() / BLOCK_SAMPLES;
                match next_block(blocks_heard, &out.heard) {
                    Some(block) => party.send_audio(&block)?,
                    None => {
                        party.send_control(&PartyOp::Hangup)?;
                        return Ok(out);
                    }
                }
            }
            Heard::Control(DaemonOp::Hangup { cause }) => {
                out.cause = Some(cause);
                return Ok(out);
            }
            Heard::Control(DaemonOp::Error { message }) => out.errors.push(message),
            Heard::Control(_) => {}
            Heard::Closed => return Ok(out),
            Heard::Timeout => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the card sent nothing for too long",
                ))
            }
        }
    }
}

fn wait_for_answer(party: &mut Party, timeout: Duration, out: &mut CallOutcome) -> io::Result<bool> {
    loop {
        match party.recv(Some(timeout))? {
            Heard::Control(DaemonOp::Ringing) => {}
            // Ringback or a failure tone: heard, but never answered (the card discards audio a
            // party sends before its call is connected).
            Heard::Audio(audio) => out.early.extend_from_slice(&audio),
            Heard::Control(DaemonOp::Answered { call, channel }) => {
                out.answered = true;
                out.call_id = Some(call);
                out.channel = Some(channel);
                return Ok(true);
            }
            Heard::Control(DaemonOp::Hangup { cause }) => {
                out.cause = Some(cause);
                return Ok(false);
            }
            Heard::Control(DaemonOp::Error { message }) => {
                out.errors.push(message);
                return Ok(false);
            }
            Heard::Control(DaemonOp::Incoming { .. })
            | Heard::Control(DaemonOp::Ring)
            | Heard::Control(DaemonOp::Ringoff)
            | Heard::Control(DaemonOp::Disconnect) => {}
            Heard::Closed => return Ok(false),
            Heard::Timeout => return Err(io::Error::new(io::ErrorKind::TimedOut, "no answer from the card")),
        }
    }
}
