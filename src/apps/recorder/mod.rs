//! Call recording (DESIGN.md §1, §2): every recorded call's channel thread copies each block, both
//! directions, into the call's own bounded lock-free ring (the engine's call tap, sized when the
//! recording starts); one recorder thread drains the rings of all recording channels and writes
//! one WAV per recording with large sequential writes; a full ring drops the block and counts it
//! (in the recording's row, the log and `telvox status`) — the channel thread never waits.
//!
//! - [`wav`]: the formats (A-law mono mixed, PCM16 mono mixed, PCM16 stereo caller left / telvox
//!   right) and the header repair used at startup.
//! - [`writer`]: the recorder thread. Files are written as `<uniqueid>.wav.part` under
//!   `<data_dir>/recordings/YYYY/MM/DD/` (UTC date of the start), the header made valid at every
//!   flush, and renamed to `.wav` when the recording ends.
//! - [`meta`]: the metadata thread: the `recordings` table (own SQLite connection, WAL), checksums,
//!   retention per rule, and the low-disk watermark.
//! - [`recover`]: at daemon start, `.part` files left by a crash are repaired, renamed and their
//!   rows closed.

pub mod control;
pub mod meta;
pub mod recover;
pub mod wav;
pub mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use crossbeam::channel::{bounded, Sender};
use serde_json::{json, Value};

use crate::config::recording::RecordingConfig;
use crate::config::HwMap;
use crate::engine::app::CallSetup;
use crate::engine::tap::{AudioTap, CallRecordHook, RecordFormat};
use crate::hw::{CallRef, ChanId, Law, BLOCKS_PER_SECOND};

/// Recordings that can wait to be picked up by the recorder thread (a whole card of channels can
/// start calls within one pass: 1,440 channels redialling together overflowed 1,024).
const JOB_QUEUE: usize = 8192;
/// The rule name of recordings started on demand.
pub const ON_DEMAND: &str = "on_demand";

/// One recording, handed from the channel thread (or the control socket) to the recorder.
pub struct Job {
    pub tap: Arc<AudioTap>,
    pub call: CallRef,
    pub chan: ChanId,
    pub law: Law,
    pub format: RecordFormat,
    pub rule: String,
    pub caller: String,
    pub called: String,
    pub flow: String,
    pub start_ms: i64,
}

/// Where alarms go (the daemon's `telvox events` stream), set once the daemon has one.
pub type AlarmSink = Arc<OnceLock<Box<dyn Fn(Value) + Send + Sync>>>;

/// Live counters for `telvox status` and the bench.
#[derive(Debug, Default)]
pub struct RecorderCounters {
    /// Recordings started (a file opened).
    pub started: AtomicU64,
    /// Recordings finished (file complete and renamed).
    pub finished: AtomicU64,
    /// Recordings that failed (the file could not be written).
    pub failed: AtomicU64,
    /// Recordings that ended without audio (the call was never answered): no file is kept.
    pub empty: AtomicU64,
    /// Recordings in progress (a gauge).
    pub active: AtomicU64,
    /// Blocks dropped by full rings, finished recordings.
    pub dropped_blocks_finished: AtomicU64,
    /// Blocks dropped by full rings of recordings in progress (a gauge, updated by the recorder).
    pub dropped_blocks_active: AtomicU64,
    /// Audio bytes written to disk.
    pub bytes_written: AtomicU64,
    /// write() calls made for audio (to judge how large the writes are).
    pub writes: AtomicU64,
    /// Recordings not started because free disk was below the watermark.
    pub refused_low_disk: AtomicU64,
    /// Recordings not started because the recorder's queue was full.
    pub refused_busy: AtomicU64,
    /// Recordings deleted by retention.
    pub deleted: AtomicU64,
    /// Free space on the recordings' filesystem at the last check (MB).
    pub free_mb: AtomicU64,
    /// Recordings the recorder has closed and handed to the metadata thread, and those whose rows
    /// the metadata thread has closed (equal when every row is up to date).
    pub closed_files: AtomicU64,
    pub closed_rows: AtomicU64,
}

/// The call recorder: rules, the recorder and metadata threads, and what status shows.
pub struct CallRecorder {
    /// Shared with the metadata thread (retention, the watermark); swapped on reload.
    config: Arc<ArcSwap<RecordingConfig>>,
    laws: Vec<(u16, Law)>,
    jobs: Sender<Job>,
    pub counters: Arc<RecorderCounters>,
    /// Free disk below `min_free_mb`: no new recording starts.
    pub low_disk: Arc<AtomicBool>,
    /// Where alarms go (the daemon's `telvox events` stream), once the daemon has one.
    pub alarm_sink: AlarmSink,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as i64
}

impl CallRecorder {
    /// Starts the recorder and metadata threads for `config`, writing rows into the call log at
    /// `db_path` (already migrated by the daemon).
    pub fn start(config: RecordingConfig, hw: &HwMap, db_path: &Path) -> anyhow::Result<Arc<CallRecorder>> {
        std::fs::create_dir_all(&config.dir)?;
        let counters = Arc::new(RecorderCounters::default());
        let low_disk = Arc::new(AtomicBool::new(false));
        let alarm_sink: AlarmSink = Arc::new(OnceLock::new());
        let shared_config = Arc::new(ArcSwap::from_pointee(config.clone()));
        let meta = meta::spawn(
            db_path.to_path_buf(),
            shared_config.clone(),
            counters.clone(),
            low_disk.clone(),
            alarm_sink.clone(),
        )?;
        let (jobs, incoming) = bounded(JOB_QUEUE);
        writer::spawn(
            config.dir.clone(),
            config.test_throttle_ms,
            incoming,
            meta,
            counters.clone(),
        )?;
        Ok(Arc::new(CallRecorder {
            config: shared_config,
            laws: hw.spans.iter().map(|s| (s.span, s.law)).collect(),
            jobs,
            counters,
            low_disk,
            alarm_sink,
        }))
    }

    /// New rules for new calls (reload); recordings in progress keep their format.
    pub fn set_config(&self, config: RecordingConfig) {
        self.config.store(Arc::new(config));
    }

    pub fn dir(&self) -> PathBuf {
        self.config.load().dir.clone()
    }

    fn law(&self, chan: ChanId) -> Law {
        self.laws
            .iter()
            .find(|(span, _)| *span == chan.span)
            .map_or(Law::Alaw, |(_, law)| *law)
    }

    /// Hands a recording to the recorder: the ring to attach, or None (refused and counted).
    pub fn begin(
        &self,
        setup: &CallSetup,
        flow: &str,
        format: RecordFormat,
        rule: &str,
    ) -> Option<Arc<AudioTap>> {
        if self.low_disk.load(Ordering::Relaxed) {
            self.counters.refused_low_disk.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let ring_ms = u64::from(self.config.load().ring_ms);
        let ring_blocks = (ring_ms * u64::from(BLOCKS_PER_SECOND) / 1000).max(1) as usize;
        let tap = AudioTap::new(ring_blocks);
        let job = Job {
            tap: tap.clone(),
            call: setup.call,
            chan: setup.chan,
            law: self.law(setup.chan),
            format,
            rule: rule.to_owned(),
            caller: setup.info.from.as_str().to_owned(),
            called: setup.info.to.as_str().to_owned(),
            flow: flow.to_owned(),
            start_ms: now_ms(),
        };
        match self.jobs.try_send(job) {
            Ok(()) => {
                self.counters.active.fetch_add(1, Ordering::Relaxed);
                Some(tap)
            }
            Err(_) => {
                self.counters.refused_busy.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Waits (up to `limit`) until no recording is in progress and every row is closed: at
    /// shutdown, after the channels have ended their calls (and so closed their rings).
    pub fn wait_idle(&self, limit: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + limit;
        let c = &self.counters;
        loop {
            let idle = c.active.load(Ordering::Relaxed) == 0
                && c.closed_rows.load(Ordering::Relaxed) >= c.closed_files.load(Ordering::Relaxed);
            if idle {
                return true;
            }
            if std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// What `telvox status` shows under "recording".
    pub fn status_json(&self) -> Value {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let config = self.config.load();
        json!({
            "rules": config.rules.len(),
            "active": get(&c.active),
            "started": get(&c.started),
            "finished": get(&c.finished),
            "failed": get(&c.failed),
            "empty": get(&c.empty),
            "dropped_blocks": get(&c.dropped_blocks_finished) + get(&c.dropped_blocks_active),
            "bytes_written": get(&c.bytes_written),
            "writes": get(&c.writes),
            "refused_low_disk": get(&c.refused_low_disk),
            "refused_busy": get(&c.refused_busy),
            "deleted": get(&c.deleted),
            "free_mb": get(&c.free_mb),
            "min_free_mb": config.min_free_mb,
            "low_disk_alarm": self.low_disk.load(Ordering::Relaxed),
        })
    }
}

impl CallRecordHook for CallRecorder {
    fn on_offered(&self, setup: &CallSetup, flow: &str) -> Option<Arc<AudioTap>> {
        let config = self.config.load();
        let rule = config.rule_for(setup.info.to.as_str(), setup.info.from.as_str(), flow)?;
        self.begin(setup, flow, rule.format, &rule.name)
    }

    fn start(&self, setup: &CallSetup, flow: &str, format: Option<RecordFormat>) -> Option<Arc<AudioTap>> {
        let format = format.unwrap_or(self.config.load().on_demand_format);
        self.begin(setup, flow, format, ON_DEMAND)
    }
}
