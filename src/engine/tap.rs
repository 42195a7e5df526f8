//! The recorder tap (DESIGN.md §1): while a recorder is attached to a channel, the channel thread
//! copies each block of the call, both directions, into a bounded lock-free ring that a recorder
//! thread drains. A full ring drops the block and counts it; the channel thread never waits.
//! The recording issue builds the recorder on this; the engine only fills the ring.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use crossbeam::queue::ArrayQueue;

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
}

impl AudioTap {
    /// A tap holding up to `capacity_blocks` (50 per second of audio).
    pub fn new(capacity_blocks: usize) -> Arc<AudioTap> {
        Arc::new(AudioTap {
            ring: ArrayQueue::new(capacity_blocks.max(1)),
            dropped_blocks: AtomicU64::new(0),
        })
    }

    /// Called by the channel thread: never blocks; a full ring drops the block and counts it.
    pub fn push(&self, block: TapBlock) {
        if self.ring.push(block).is_err() {
            self.dropped_blocks.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Called by the recorder thread.
    pub fn pop(&self) -> Option<TapBlock> {
        self.ring.pop()
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

    /// The channel thread's per-block check: a lock-free load, and a copy only when attached.
    pub fn feed(&self, block: impl FnOnce() -> TapBlock) {
        if let Some(tap) = self.0.load().as_ref() {
            tap.push(block());
        }
    }
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
