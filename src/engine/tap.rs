//! The recorder tap (DESIGN.md §1): while a recorder is attached to a channel, the channel thread
//! copies each block of the call, both directions, into a bounded lock-free ring that a recorder
//! thread drains. A full ring drops the block and counts it; the channel thread never waits.
//! The recording issue builds the recorder on this; the engine only fills the ring.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use crossbeam::queue::ArrayQueue;

use crate::fixed::Label;
use crate::hw::{Block, CallRef};

/// One 20 ms block of a call as both parties heard it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TapBlock {
    pub call: CallRef,
    /// Samples of the call's clock at the end of this block.
    pub at_sample: u64,
    /// What the line sent telvox (the caller).
    pub rx: Block,
    /// What telvox sent the line (prompts, tones, the agent).
    pub tx: Block,
}

/// A bounded ring of tapped blocks, sized by the recorder when it attaches.
pub struct AudioTap {
    ring: ArrayQueue<TapBlock>,
    dropped_blocks: AtomicU64,
    /// Set when the channel (or whoever stopped it) will push no more blocks.
    ended: AtomicBool,
    /// The call clock of the latest block offered, kept or dropped (so a recorder knows how long
    /// the call ran even when the last blocks were dropped).
    last_sample: AtomicU64,
    /// The agent of the call, when its flow named one (the latest wins; read when it ends).
    agent: ArrayQueue<Label>,
}

impl AudioTap {
    /// A tap holding up to `capacity_blocks` (50 per second of audio).
    pub fn new(capacity_blocks: usize) -> Arc<AudioTap> {
        Arc::new(AudioTap {
            ring: ArrayQueue::new(capacity_blocks.max(1)),
            dropped_blocks: AtomicU64::new(0),
            ended: AtomicBool::new(false),
            last_sample: AtomicU64::new(0),
            agent: ArrayQueue::new(1),
        })
    }

    /// Names the call's agent (channel thread: lock-free, replaces an earlier one).
    pub fn set_agent(&self, agent: Label) {
        let _ = self.agent.force_push(agent);
    }

    /// The agent named last, if any (taken: the recorder asks once, when the recording ends).
    pub fn take_agent(&self) -> Option<Label> {
        self.agent.pop()
    }

    /// No more blocks will come (the call ended or the recording was stopped).
    pub fn mark_ended(&self) {
        self.ended.store(true, Ordering::Release);
    }

    pub fn is_ended(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    /// Called by the channel thread: never blocks; a full ring drops the block and counts it.
    pub fn push(&self, block: TapBlock) {
        self.last_sample.store(block.at_sample, Ordering::Relaxed);
        if self.ring.push(block).is_err() {
            self.dropped_blocks.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Called by the recorder thread.
    pub fn pop(&self) -> Option<TapBlock> {
        self.ring.pop()
    }

    /// Blocks waiting in the ring.
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    /// The call clock (samples) of the latest block offered to the ring.
    pub fn last_sample(&self) -> u64 {
        self.last_sample.load(Ordering::Relaxed)
    }

    pub fn dropped_blocks(&self) -> u64 {
        self.dropped_blocks.load(Ordering::Relaxed)
    }
}

/// Where a recorder attaches to one channel: swapped without locks, read once per block.
#[derive(Default)]
pub struct TapSlot(ArcSwapOption<AudioTap>);

impl TapSlot {
    pub fn attach(&self, tap: Arc<AudioTap>) {
        self.0.store(Some(tap));
    }

    pub fn detach(&self) {
        self.0.store(None);
    }

    /// Detaches and marks the ring ended, so its recorder finishes the file. The recorder holds
    /// its own reference: nothing is freed on the caller's (channel) thread.
    pub fn close(&self) {
        if let Some(tap) = self.0.swap(None) {
            tap.mark_ended();
        }
    }

    pub fn is_attached(&self) -> bool {
        self.0.load().is_some()
    }

    /// Names the agent of the recording attached, if one is.
    pub fn set_agent(&self, agent: Label) {
        if let Some(tap) = self.0.load().as_ref() {
            tap.set_agent(agent);
        }
    }

    /// The channel thread's per-block check: a lock-free load, and a copy only when attached.
    pub fn feed(&self, block: impl FnOnce() -> TapBlock) {
        if let Some(tap) = self.0.load().as_ref() {
            tap.push(block());
        }
    }
}

/// How a call recording is written (see `apps::recorder`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordFormat {
    /// WAV A-law, mono: caller and telvox mixed.
    Alaw,
    /// WAV PCM16, mono: caller and telvox mixed.
    Pcm16,
    /// WAV PCM16, stereo: the caller left, telvox (prompts, the agent) right.
    Stereo,
}

impl RecordFormat {
    pub const NAMES: &'static [&'static str] = &["alaw", "pcm16", "stereo"];

    pub fn parse(text: &str) -> Option<RecordFormat> {
        match text {
            "alaw" => Some(RecordFormat::Alaw),
            "pcm16" => Some(RecordFormat::Pcm16),
            "stereo" => Some(RecordFormat::Stereo),
            _ => None,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            RecordFormat::Alaw => "alaw",
            RecordFormat::Pcm16 => "pcm16",
            RecordFormat::Stereo => "stereo",
        }
    }
}

/// Call recording as the engine sees it: the second, independent tap of every channel
/// ([`super::status::ChanStatus::call_tap`]), filled at the same time as an app's own recorder.
/// Both methods run on the channel thread at call setup or in an app's action start, where
/// allocating the ring is allowed; they must not block (hand work to the recorder through a
/// bounded queue).
pub trait CallRecordHook: Send + Sync {
    /// The call was offered: a ring to attach when the recording rules say record it.
    fn on_offered(&self, setup: &super::app::CallSetup, flow: &str) -> Option<Arc<AudioTap>>;
    /// On demand (an IVR `record_call start`): a ring for this call, in `format` or the default.
    fn start(
        &self,
        setup: &super::app::CallSetup,
        flow: &str,
        format: Option<RecordFormat>,
    ) -> Option<Arc<AudioTap>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(n: u64) -> TapBlock {
        TapBlock {
            call: CallRef { epoch_s: 1, seq: 1 },
            at_sample: n,
            rx: [n as u8; 160],
            tx: [0; 160],
        }
    }

    #[test]
    fn full_ring_drops_and_counts_never_blocks() {
        let tap = AudioTap::new(2);
        let slot = TapSlot::default();
        slot.feed(|| block(0));
        assert!(
            tap.pop().is_none(),
            "nothing is copied while no recorder is attached"
        );
        slot.attach(tap.clone());
        for n in 1..=5 {
            slot.feed(|| block(n));
        }
        assert_eq!(tap.dropped_blocks(), 3);
        assert_eq!(tap.pop().map(|b| b.at_sample), Some(1));
        assert_eq!(tap.pop().map(|b| b.at_sample), Some(2));
        slot.detach();
        slot.feed(|| block(9));
        assert!(tap.pop().is_none());
    }
}
