//! What each channel thread is doing, published through atomics for `telvox channels` and
//! `telvox status` (readers never block the channel thread).

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use crate::hw::{CallRef, ChanId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChanState {
    Idle,
    Ringing,
    Up,
    /// The thread has exited (card closed or failed).
    Down,
    /// Out of service: the channel's span is in alarm (it comes back by itself when that clears).
    Alarm,
}

impl ChanState {
    fn from_u8(v: u8) -> ChanState {
        match v {
            0 => ChanState::Idle,
            1 => ChanState::Ringing,
            2 => ChanState::Up,
            4 => ChanState::Alarm,
            _ => ChanState::Down,
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            ChanState::Idle => 0,
            ChanState::Ringing => 1,
            ChanState::Up => 2,
            ChanState::Down => 3,
            ChanState::Alarm => 4,
        }
    }
}

/// What the daemon shares with one channel thread: its published state and its recorder tap.
pub struct ChanStatus {
    pub id: ChanId,
    state: AtomicU8,
    call_epoch_s: AtomicU64,
    call_seq: AtomicU64,
    /// Calls this channel has carried since the daemon started.
    pub calls: AtomicU64,
    /// Blocks the channel thread took longer than a block's time (20 ms) to turn round, measured on
    /// the card's clock by the card; per-thread errors are counted here.
    pub errors: AtomicU64,
    /// Where a recorder attaches to this channel's audio (an app's own recording: IVR `record`,
    /// voicemail).
    pub tap: super::tap::TapSlot,
    /// Where call recording attaches, independently of `tap` (see [`super::tap::CallRecordHook`]).
    pub call_tap: super::tap::TapSlot,
    /// Where the daemon leaves an outbound call for this channel to place (see
    /// [`super::originate`]).
    pub originate: super::originate::OriginateSlot,
}

/// A plain copy for display.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ChanStatusSnapshot {
    pub channel: String,
    pub state: ChanState,
    pub uniqueid: Option<String>,
    pub calls: u64,
    pub errors: u64,
}

impl ChanStatus {
    pub fn new(id: ChanId) -> Self {
        Self {
            id,
            state: AtomicU8::new(ChanState::Idle.to_u8()),
            call_epoch_s: AtomicU64::new(0),
            call_seq: AtomicU64::new(0),
            calls: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            tap: Default::default(),
            call_tap: Default::default(),
            originate: Default::default(),
        }
    }

    pub fn set(&self, state: ChanState, call: Option<CallRef>) {
        let call = call.unwrap_or_default();
        self.call_epoch_s.store(call.epoch_s, Ordering::Relaxed);
        self.call_seq.store(call.seq, Ordering::Relaxed);
        self.state.store(state.to_u8(), Ordering::Release);
    }

    pub fn state(&self) -> ChanState {
        ChanState::from_u8(self.state.load(Ordering::Acquire))
    }

    pub fn snapshot(&self) -> ChanStatusSnapshot {
        let state = self.state();
        let call = CallRef {
            epoch_s: self.call_epoch_s.load(Ordering::Relaxed),
            seq: self.call_seq.load(Ordering::Relaxed),
        };
        let in_call = matches!(state, ChanState::Ringing | ChanState::Up);
        ChanStatusSnapshot {
            channel: self.id.to_string(),
            state,
            uniqueid: in_call.then(|| call.to_string()),
            calls: self.calls.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
        }
    }
}
