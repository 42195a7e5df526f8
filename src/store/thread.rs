//! The store thread: the one owner of the writing connection.
//!
//! It blocks on the event channel (with a timeout so heartbeats keep their schedule), drains what
//! else is waiting, and applies the lot in one transaction. When a write fails (disk full, I/O
//! error, a lock held too long) the events stay queued in memory and the write is retried with
//! backoff; the queue is bounded, and when it overflows the oldest digits and states go first, then
//! the oldest of the rest — always counted and logged, never silently. On disconnect the thread
//! writes what is left and exits.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, RecvTimeoutError, TryRecvError};
use rusqlite::ErrorCode;

use super::time::wall_clock_ms;
use super::{Store, StoreError};
use crate::engine::events::CallEvent;

/// Events taken off the channel without blocking after the first one of a round.
const DRAIN_MAX_EVENTS: usize = 512;
/// Events written per transaction at most, when catching up on a backlog.
const APPLY_MAX_EVENTS: usize = 4_096;
/// Events held in memory at most while the disk refuses writes (a CallEvent is ~200 bytes: ~20 MB).
const PENDING_MAX_EVENTS: usize = 100_000;
/// First wait before retrying a failed write; doubled per failure up to [`RETRY_MAX_DELAY`].
const RETRY_FIRST_DELAY: Duration = Duration::from_millis(100);
const RETRY_MAX_DELAY: Duration = Duration::from_secs(5);
/// How long the thread keeps retrying after the channel closed before it gives up (and says so).
const SHUTDOWN_RETRY_LIMIT: Duration = Duration::from_secs(30);
/// Bounds on the heartbeat interval the daemon asks for.
const HEARTBEAT_MIN_MS: u64 = 10;
const HEARTBEAT_MAX_MS: u64 = 3_600_000;

/// Live counters of the store thread, read by `telvox status`. All monotonic except
/// `events_pending`.
#[derive(Debug, Default)]
pub struct StoreCounters {
    /// Events taken off the channel.
    pub events_received: AtomicU64,
    /// Events committed to the log (skipped ones included: see `events_skipped`).
    pub events_applied: AtomicU64,
    /// Events ignored because their call is not in the log.
    pub events_skipped: AtomicU64,
    /// Events whose write failed and was queued for another attempt (per attempt).
    pub events_retried: AtomicU64,
    /// Events lost: queue overflow while writes failed, an event the database refused on its own,
    /// or a write still failing when the daemon shut down.
    pub events_dropped: AtomicU64,
    /// Events waiting in memory to be written (a gauge).
    pub events_pending: AtomicU64,
    /// Transactions committed.
    pub batches_committed: AtomicU64,
    /// Writes that failed (each is retried).
    pub write_failures: AtomicU64,
    /// Heartbeats that could not be written.
    pub heartbeat_failures: AtomicU64,
}

/// A plain copy of [`StoreCounters`]; also what the store thread returns when it exits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoreStats {
    pub events_received: u64,
    pub events_applied: u64,
    pub events_skipped: u64,
    pub events_retried: u64,
    pub events_dropped: u64,
    pub events_pending: u64,
    pub batches_committed: u64,
    pub write_failures: u64,
    pub heartbeat_failures: u64,
}

impl StoreCounters {
    pub fn snapshot(&self) -> StoreStats {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StoreStats {
            events_received: get(&self.events_received),
            events_applied: get(&self.events_applied),
            events_skipped: get(&self.events_skipped),
            events_retried: get(&self.events_retried),
            events_dropped: get(&self.events_dropped),
            events_pending: get(&self.events_pending),
            batches_committed: get(&self.batches_committed),
            write_failures: get(&self.write_failures),
            heartbeat_failures: get(&self.heartbeat_failures),
        }
    }
}

fn bump(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// Starts the thread "store" with fresh counters. See [`spawn_store_thread_with_counters`].
pub fn spawn_store_thread(
    store: Store,
    events: Receiver<CallEvent>,
    heartbeat_every_ms: u64,
) -> std::io::Result<JoinHandle<StoreStats>> {
    spawn_store_thread_with_counters(store, events, heartbeat_every_ms, Arc::default())
}

/// Starts the thread "store": it writes `events` to `store` until every sender is dropped and every
/// event written, heartbeating every `heartbeat_every_ms` (clamped to 10 ms ..= 1 h). `counters`
/// are updated live (keep a clone for `telvox status`); the thread returns their final values.
pub fn spawn_store_thread_with_counters(
    store: Store,
    events: Receiver<CallEvent>,
    heartbeat_every_ms: u64,
    counters: Arc<StoreCounters>,
) -> std::io::Result<JoinHandle<StoreStats>> {
    let heartbeat_every = Duration::from_millis(heartbeat_every_ms.clamp(HEARTBEAT_MIN_MS, HEARTBEAT_MAX_MS));
    let writer = Writer::new(store, events, heartbeat_every, counters);
    std::thread::Builder::new()
        .name("store".into())
        .spawn(move || writer.run())
}

/// The store thread's state.
struct Writer {
    store: Store,
    events: Receiver<CallEvent>,
    counters: Arc<StoreCounters>,
    /// Received, not yet written; oldest first.
    pending: VecDeque<CallEvent>,
    heartbeat_every: Duration,
    next_heartbeat: Instant,
    /// Set while writes fail: no attempt before this instant.
    retry_at: Option<Instant>,
    retry_delay: Duration,
    /// When the channel was found closed: every sender is gone.
    disconnected_at: Option<Instant>,
}

impl Writer {
    fn new(
        store: Store,
        events: Receiver<CallEvent>,
        heartbeat_every: Duration,
        counters: Arc<StoreCounters>,
    ) -> Self {
        let now = Instant::now();
        Writer {
            store,
            events,
            counters,
            pending: VecDeque::new(),
            heartbeat_every,
            next_heartbeat: now,
            retry_at: None,
            retry_delay: RETRY_FIRST_DELAY,
            disconnected_at: None,
        }
    }

    fn run(mut self) -> StoreStats {
        loop {
            self.receive_or_wait();
            self.write_if_due();
            self.heartbeat_if_due();
            if self.finished() {
                break;
            }
        }
        // The last heartbeat tells the next start that the daemon was alive until now.
        self.heartbeat();
        tracing::info!(stats = ?self.counters.snapshot(), "store thread stopped");
        self.counters.snapshot()
    }

    /// Waits for events (or until something is due), then takes everything waiting, up to a bound.
    fn receive_or_wait(&mut self) {
        let wait = self.wait_time(Instant::now());
        if self.disconnected_at.is_some() {
            // A closed channel returns at once: sleep instead of spinning while a retry is pending.
            std::thread::sleep(wait);
            return;
        }
        match self.events.recv_timeout(wait) {
            Ok(event) => self.push(event),
            Err(RecvTimeoutError::Timeout) => return,
            Err(RecvTimeoutError::Disconnected) => return self.mark_disconnected(),
        }
        for _ in 0..DRAIN_MAX_EVENTS {
            match self.events.try_recv() {
                Ok(event) => self.push(event),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return self.mark_disconnected(),
            }
        }
    }

    /// How long the next wait may last: until the next retry when writes are failing, not at all
    /// when events are waiting, else until the next heartbeat.
    fn wait_time(&self, now: Instant) -> Duration {
        let until = match (self.pending.is_empty(), self.retry_at) {
            (false, Some(retry_at)) => retry_at.min(self.next_heartbeat),
            (false, None) => now,
            (true, _) => self.next_heartbeat,
        };
        until.saturating_duration_since(now)
    }

    fn push(&mut self, event: CallEvent) {
        bump(&self.counters.events_received, 1);
        self.pending.push_back(event);
        let dropped = shed(&mut self.pending, PENDING_MAX_EVENTS);
        if dropped > 0 {
            bump(&self.counters.events_dropped, dropped);
            tracing::error!(
                dropped,
                limit = PENDING_MAX_EVENTS,
                "call log cannot be written and its queue is full: oldest events dropped"
            );
        }
        self.update_pending_gauge();
    }

    fn mark_disconnected(&mut self) {
        if self.disconnected_at.is_none() {
            self.disconnected_at = Some(Instant::now());
        }
    }

    /// True when the thread may exit: the channel is closed and everything written, or the disk has
    /// refused writes for too long after shutdown began (then the rest is dropped, loudly).
    fn finished(&mut self) -> bool {
        let Some(disconnected_at) = self.disconnected_at else {
            return false;
        };
        if self.pending.is_empty() {
            return true;
        }
        if disconnected_at.elapsed() < SHUTDOWN_RETRY_LIMIT {
            return false;
        }
        let lost = self.pending.len() as u64;
        tracing::error!(
            lost,
            "daemon stopping and the call log still cannot be written: events lost"
        );
        bump(&self.counters.events_dropped, lost);
        self.pending.clear();
        self.update_pending_gauge();
        true
    }

    /// Writes one transaction's worth of pending events, unless a retry is not yet due.
    fn write_if_due(&mut self) {
        if self.pending.is_empty() || self.retry_at.is_some_and(|at| Instant::now() < at) {
            return;
        }
        let n = self.pending.len().min(APPLY_MAX_EVENTS);
        let batch = &self.pending.make_contiguous()[..n];
        match self.store.apply_counted(batch) {
            Ok(skipped) => self.written(n, skipped),
            Err(err) if is_transient(&err) => self.failed(n, &err),
            Err(err) => {
                tracing::error!(
                    error = %err,
                    "call log refused a batch; writing its events one by one"
                );
                self.write_singly(n);
            }
        }
        self.update_pending_gauge();
    }

    fn written(&mut self, n: usize, skipped: u64) {
        self.pending.drain(..n);
        bump(&self.counters.events_applied, n as u64);
        bump(&self.counters.events_skipped, skipped);
        bump(&self.counters.batches_committed, 1);
        if self.retry_at.take().is_some() {
            tracing::info!("call log writable again");
        }
        self.retry_delay = RETRY_FIRST_DELAY;
    }

    /// Keeps the batch and schedules the next attempt, backing off up to [`RETRY_MAX_DELAY`].
    fn failed(&mut self, n: usize, err: &StoreError) {
        bump(&self.counters.write_failures, 1);
        bump(&self.counters.events_retried, n as u64);
        tracing::error!(
            error = %err,
            pending = self.pending.len(),
            retry_in_ms = self.retry_delay.as_millis() as u64,
            "cannot write the call log; will retry"
        );
        self.retry_at = Some(Instant::now() + self.retry_delay);
        self.retry_delay = (self.retry_delay * 2).min(RETRY_MAX_DELAY);
    }

    /// A batch failed for a reason that is not the disk's: write its events one per transaction so
    /// the one the database refuses (dropped, counted, logged) does not hold back the others.
    fn write_singly(&mut self, n: usize) {
        for _ in 0..n {
            let Some(event) = self.pending.front().copied() else {
                return;
            };
            match self.store.apply_counted(&[event]) {
                Ok(skipped) => self.written(1, skipped),
                Err(err) if is_transient(&err) => return self.failed(1, &err),
                Err(err) => {
                    tracing::error!(
                        error = %err,
                        call = %event.call,
                        event = event.type_name(),
                        "call log refused an event; dropped"
                    );
                    self.pending.pop_front();
                    bump(&self.counters.events_dropped, 1);
                }
            }
        }
    }

    fn heartbeat_if_due(&mut self) {
        let now = Instant::now();
        if now < self.next_heartbeat {
            return;
        }
        self.next_heartbeat = now + self.heartbeat_every;
        self.heartbeat();
    }

    fn heartbeat(&mut self) {
        if let Err(err) = self.store.heartbeat(wall_clock_ms()) {
            bump(&self.counters.heartbeat_failures, 1);
            tracing::warn!(error = %err, "cannot write the daemon heartbeat");
        }
    }

    fn update_pending_gauge(&self) {
        self.counters
            .events_pending
            .store(self.pending.len() as u64, Ordering::Relaxed);
    }
}

/// Errors that say nothing about the events themselves — the disk, the file or a lock — and so are
/// worth retrying the same batch for. Anything else (a constraint, a value too big) would fail
/// again.
fn is_transient(err: &StoreError) -> bool {
    let StoreError::Sqlite(rusqlite::Error::SqliteFailure(failure, _)) = err else {
        return false;
    };
    !matches!(
        failure.code,
        ErrorCode::ConstraintViolation | ErrorCode::TooBig | ErrorCode::TypeMismatch
    )
}

/// Shrinks an over-full queue to 90 % of `max_events` (so the next shed is 10 % of `max_events`
/// events away, not one): the oldest digits and states go first, then — only if those are not
/// enough — the oldest starts, answers and ends. Returns how many events were dropped.
pub(crate) fn shed(pending: &mut VecDeque<CallEvent>, max_events: usize) -> u64 {
    if pending.len() <= max_events {
        return 0;
    }
    let target = max_events - max_events / 10;
    let before = pending.len();
    let mut excess = before - target;
    pending.retain(|event| {
        if excess > 0 && !event.is_critical() {
            excess -= 1;
            return false;
        }
        true
    });
    let still_over = pending.len().saturating_sub(target);
    pending.drain(..still_over);
    (before - pending.len()) as u64
}
