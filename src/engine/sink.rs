//! The one way out of a channel thread: a bounded lock-free queue of [`CallEvent`]s, drained by the
//! pump thread. A push never blocks; when the queue is full a digit or state event is dropped and
//! counted, while call start/answer/end wait in the channel's own small backlog and are retried every
//! block, so a busy disk never costs a call record.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::Thread;

use crossbeam::queue::ArrayQueue;

use super::events::CallEvent;

/// Events in flight between all channel threads and the pump.
pub const EVENT_QUEUE_CAP: usize = 1 << 16;
/// Critical events one channel can hold back while the queue is full.
const BACKLOG_CAP: usize = 16;

/// Shared by every channel thread and the pump.
pub struct EventQueue {
    pub queue: ArrayQueue<CallEvent>,
    pub dropped: AtomicU64,
    pump: std::sync::OnceLock<Thread>,
}

impl EventQueue {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            queue: ArrayQueue::new(EVENT_QUEUE_CAP),
            dropped: AtomicU64::new(0),
            pump: Default::default(),
        })
    }

    /// Registers the pump thread so pushes can wake it.
    pub fn set_pump(&self, pump: Thread) {
        let _ = self.pump.set(pump);
    }

    fn wake_pump(&self) {
        // `unpark` is an atomic swap plus, only if the pump sleeps, a futex wake: it never blocks.
        if let Some(pump) = self.pump.get() {
            pump.unpark();
        }
    }
}

/// A channel thread's handle on the event queue, with its backlog of critical events.
pub struct EventSink {
    shared: Arc<EventQueue>,
    backlog: [Option<CallEvent>; BACKLOG_CAP],
    backlog_len: usize,
}

impl EventSink {
    pub fn new(shared: Arc<EventQueue>) -> Self {
        Self {
            shared,
            backlog: [None; BACKLOG_CAP],
            backlog_len: 0,
        }
    }

    pub fn emit(&mut self, event: CallEvent) {
        self.flush_backlog();
        if self.backlog_len > 0 && event.is_critical() {
            // Keep call-log order: a later critical event waits behind earlier ones.
            return self.hold(event);
        }
        match self.shared.queue.push(event) {
            Ok(()) => self.shared.wake_pump(),
            Err(event) if event.is_critical() => self.hold(event),
            Err(_) => {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Retries held-back events; called every block.
    pub fn flush_backlog(&mut self) {
        let mut sent = 0;
        while sent < self.backlog_len {
            let Some(event) = self.backlog[sent] else {
                break;
            };
            if self.shared.queue.push(event).is_err() {
                break;
            }
            sent += 1;
        }
        if sent > 0 {
            self.backlog.copy_within(sent..self.backlog_len, 0);
            self.backlog_len -= sent;
            self.shared.wake_pump();
        }
    }

    fn hold(&mut self, event: CallEvent) {
        if self.backlog_len == BACKLOG_CAP {
            // Sixteen call records stuck behind a full 65,536-event queue: the store has been
            // down for minutes. Count the loss rather than stall the call.
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.backlog[self.backlog_len] = Some(event);
        self.backlog_len += 1;
    }

    pub fn has_backlog(&self) -> bool {
        self.backlog_len > 0
    }
}
