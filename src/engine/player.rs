//! Prompt playback: a bounded queue of memory-mapped prompts played back to back into the outgoing
//! block. No allocation: the queue is a fixed array of shared handles.

use std::sync::Arc;

use crate::voice::Prompt;

/// Prompts one play request may queue ("you entered" + 16 digits + margin).
pub const PLAY_QUEUE_CAP: usize = 32;

pub struct PromptPlayer {
    queue: [Option<Arc<Prompt>>; PLAY_QUEUE_CAP],
    head: usize,
    len: usize,
    offset_samples: usize,
    barge_in: bool,
}

/// What one block of playback did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlayStatus {
    Idle,
    Playing,
    /// The last queued prompt ended within this block.
    Finished,
}

impl Default for PromptPlayer {
    fn default() -> Self {
        Self::new()
    }
}

impl PromptPlayer {
    pub fn new() -> Self {
        Self {
            queue: Default::default(),
            head: 0,
            len: 0,
            offset_samples: 0,
            barge_in: true,
        }
    }

    /// Queues a prompt after those already queued; false when the queue is full (it is not queued).
    pub fn enqueue(&mut self, prompt: &Arc<Prompt>) -> bool {
        if self.len == PLAY_QUEUE_CAP {
            return false;
        }
        self.queue[(self.head + self.len) % PLAY_QUEUE_CAP] = Some(prompt.clone());
        self.len += 1;
        true
    }

    /// Starts `prompt` at `offset_samples` (a recording's playback seeking); only when nothing
    /// else is queued, false otherwise (it is not queued).
    pub fn enqueue_from(&mut self, prompt: &Arc<Prompt>, offset_samples: usize) -> bool {
        if self.len != 0 || !self.enqueue(prompt) {
            return false;
        }
        self.offset_samples = offset_samples;
        true
    }

    /// Whether a key pressed now stops playback.
    pub fn set_barge_in(&mut self, enabled: bool) {
        self.barge_in = enabled;
    }

    pub fn barge_in(&self) -> bool {
        self.barge_in
    }

    pub fn is_playing(&self) -> bool {
        self.len > 0
    }

    /// Drops everything queued. Dropping the handles does not free prompt memory: the prompt set
    /// holds the other reference.
    pub fn stop(&mut self) {
        for slot in &mut self.queue {
            *slot = None;
        }
        self.head = 0;
        self.len = 0;
        self.offset_samples = 0;
    }

    /// Adds the next samples of playback into `out` (which holds silence or other audio).
    pub fn mix_into(&mut self, out: &mut [i16]) -> PlayStatus {
        if self.len == 0 {
            return PlayStatus::Idle;
        }
        let mut scratch = [0i16; crate::hw::BLOCK_SAMPLES];
        let mut filled = 0;
        while filled < out.len() && self.len > 0 {
            let want = (out.len() - filled).min(scratch.len());
            let got = self
                .current()
                .map_or(0, |p| p.read_linear(self.offset_samples, &mut scratch[..want]));
            for (o, s) in out[filled..filled + got].iter_mut().zip(&scratch[..got]) {
                *o = o.saturating_add(*s);
            }
            filled += got;
            self.offset_samples += got;
            if got < want {
                self.advance();
            }
        }
        if self.len == 0 {
            PlayStatus::Finished
        } else {
            PlayStatus::Playing
        }
    }

    fn current(&self) -> Option<&Arc<Prompt>> {
        self.queue[self.head].as_ref()
    }

    fn advance(&mut self) {
        self.queue[self.head] = None;
        self.head = (self.head + 1) % PLAY_QUEUE_CAP;
        self.len -= 1;
        self.offset_samples = 0;
    }
}
