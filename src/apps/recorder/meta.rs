//! The metadata thread: owns a connection to the call log for the `recordings` table (a row per
//! recording, linked to `cdr.uniqueid`), checksums finished files (SHA-256), applies retention per
//! rule (oldest first) and watches free disk against the low-disk watermark. It is fed by the
//! recorder thread through a bounded channel; nothing here is on a channel thread.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use crossbeam::channel::{bounded, Receiver, RecvTimeoutError, Sender};
use rusqlite::{params, Connection};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{AlarmSink, RecorderCounters};
use crate::config::recording::RecordingConfig;

/// Messages waiting for the metadata thread at most (the recorder blocks beyond: it is not a
/// channel thread, and its rings absorb the wait).
const QUEUE: usize = 16_384;
/// Free disk is checked this often.
const DISK_CHECK_EVERY: Duration = Duration::from_secs(5);
/// Retention runs over every rule this often (and for a rule after each of its recordings ends).
const RETENTION_EVERY: Duration = Duration::from_secs(60);
/// While the disk is low, the alarm is repeated at most this often when calls go unrecorded.
const ALARM_REPEAT_EVERY: Duration = Duration::from_secs(10);
/// Rows deleted per retention run and rule at most.
const RETENTION_MAX_ROWS: usize = 10_000;
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub enum MetaMsg {
    Started {
        uniqueid: String,
        file: String,
        format: &'static str,
        rule: String,
        start_ms: i64,
        caller: String,
        called: String,
        channel: String,
        flow: String,
    },
    Finished {
        file: String,
        path: PathBuf,
        duration_ms: i64,
        bytes: u64,
        dropped_blocks: u64,
        status: &'static str,
        /// The agent the call's flow named (`set = { agent = "…" }`), if any.
        agent: Option<String>,
    },
    /// The recording ended without audio: its row goes.
    Discard { file: String },
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as i64
}

/// Opens the call log for the recorder's writes.
pub fn open(db_path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(db_path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(conn)
}

pub fn spawn(
    db_path: PathBuf,
    config: Arc<ArcSwap<RecordingConfig>>,
    counters: Arc<RecorderCounters>,
    low_disk: Arc<AtomicBool>,
    alarm_sink: AlarmSink,
) -> anyhow::Result<Sender<MetaMsg>> {
    let conn = open(&db_path)?;
    let (tx, rx) = bounded(QUEUE);
    let mut thread = Meta {
        conn,
        config,
        counters,
        low_disk,
        alarm_sink,
        alarm_announced: false,
    };
    // The watermark holds from the first call on.
    thread.check_disk();
    std::thread::Builder::new()
        .name("recorder-meta".into())
        .spawn(move || thread.run(&rx))?;
    Ok(tx)
}

struct Meta {
    conn: Connection,
    config: Arc<ArcSwap<RecordingConfig>>,
    counters: Arc<RecorderCounters>,
    low_disk: Arc<AtomicBool>,
    alarm_sink: AlarmSink,
    alarm_announced: bool,
}

impl Meta {
    fn run(&mut self, rx: &Receiver<MetaMsg>) {
        let mut last_disk = Instant::now();
        let mut last_retention = Instant::now();
        let mut last_alarm: Option<Instant> = None;
        let mut refused_seen = 0;
        loop {
            match rx.recv_timeout(Duration::from_millis(500)) {
                Ok(msg) => {
                    let mut batch = vec![msg];
                    batch.extend(rx.try_iter().take(QUEUE));
                    self.apply(batch);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            if last_disk.elapsed() >= DISK_CHECK_EVERY {
                self.check_disk();
                last_disk = Instant::now();
            }
            if !self.alarm_announced && self.alarm_sink.get().is_some() {
                self.alarm_announced = true;
                if self.low_disk.load(Ordering::Relaxed) {
                    self.announce(true);
                    last_alarm = Some(Instant::now());
                }
            }
            // Calls going unrecorded because of the disk: say so again (rate-limited).
            let refused = self.counters.refused_low_disk.load(Ordering::Relaxed);
            let due = match last_alarm {
                None => true,
                Some(t) => t.elapsed() >= ALARM_REPEAT_EVERY,
            };
            if refused != refused_seen && due && self.low_disk.load(Ordering::Relaxed) {
                refused_seen = refused;
                self.announce(true);
                last_alarm = Some(Instant::now());
            }
            if last_retention.elapsed() >= RETENTION_EVERY {
                let config = self.config.load_full();
                for rule in &config.rules {
                    self.retain(&config, &rule.name);
                }
                last_retention = Instant::now();
            }
        }
    }

    fn apply(&mut self, batch: Vec<MetaMsg>) {
        let mut rules_to_check: Vec<String> = Vec::new();
        let closing = batch
            .iter()
            .filter(|m| matches!(m, MetaMsg::Finished { .. } | MetaMsg::Discard { .. }))
            .count() as u64;
        let result = (|| -> rusqlite::Result<()> {
            let tx = self.conn.transaction()?;
            for msg in batch {
                match msg {
                    MetaMsg::Started {
                        uniqueid,
                        file,
                        format,
                        rule,
                        start_ms,
                        caller,
                        called,
                        channel,
                        flow,
                    } => {
                        tx.execute(
                            "INSERT OR REPLACE INTO recordings (uniqueid, file, format, rule, start, start_ms, \
                             caller, called, channel, flow, status) \
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'recording')",
                            params![
                                uniqueid,
                                file,
                                format,
                                rule,
                                crate::ctl::iso_ms(start_ms),
                                start_ms,
                                caller,
                                called,
                                channel,
                                flow
                            ],
                        )?;
                    }
                    MetaMsg::Discard { file } => {
                        tx.execute("DELETE FROM recordings WHERE file = ?1", [&file])?;
                    }
                    MetaMsg::Finished {
                        file,
                        path,
                        duration_ms,
                        bytes,
                        dropped_blocks,
                        status,
                        agent,
                    } => {
                        let sha = sha256_file(&path).ok();
                        tx.execute(
                            "UPDATE recordings SET end_ms = ?2, duration_ms = ?3, bytes = ?4, \
                             dropped_blocks = ?5, status = ?6, sha256 = ?7, \
                             agent = COALESCE(?8, agent) WHERE file = ?1",
                            params![
                                file,
                                now_ms(),
                                duration_ms,
                                bytes as i64,
                                dropped_blocks as i64,
                                status,
                                sha,
                                agent
                            ],
                        )?;
                        fill_from_cdr(&tx, &file)?;
                        let rule: Option<String> = tx
                            .query_row("SELECT rule FROM recordings WHERE file = ?1", [&file], |r| {
                                r.get(0)
                            })
                            .ok();
                        if let Some(rule) = rule {
                            if !rules_to_check.contains(&rule) {
                                rules_to_check.push(rule);
                            }
                        }
                    }
                }
            }
            tx.commit()
        })();
        if let Err(e) = result {
            tracing::warn!("recordings table: cannot write: {e}");
        }
        self.counters.closed_rows.fetch_add(closing, Ordering::Relaxed);
        let config = self.config.load_full();
        for rule in rules_to_check {
            self.retain(&config, &rule);
        }
    }

    fn retain(&mut self, config: &RecordingConfig, rule: &str) {
        match retention(&self.conn, config, rule, now_ms()) {
            Ok(deleted) => {
                for file in &deleted {
                    tracing::info!("recording {file} deleted by retention (rule {rule})");
                }
                self.counters
                    .deleted
                    .fetch_add(deleted.len() as u64, Ordering::Relaxed);
            }
            Err(e) => tracing::warn!("retention for rule {rule}: {e}"),
        }
    }

    fn check_disk(&mut self) {
        let config = self.config.load();
        let Ok(stat) = nix::sys::statvfs::statvfs(&config.dir) else {
            return;
        };
        let free_mb = stat.blocks_available().saturating_mul(stat.fragment_size()) / 1_000_000;
        self.counters.free_mb.store(free_mb, Ordering::Relaxed);
        let low = free_mb < config.min_free_mb;
        let was = self.low_disk.swap(low, Ordering::Relaxed);
        if low != was {
            if low {
                tracing::error!(
                    "recordings: {free_mb} MB free in {}, below min_free_mb = {}: no new recording starts \
                     (calls go on unrecorded)",
                    config.dir.display(),
                    config.min_free_mb
                );
            } else {
                tracing::warn!("recordings: {free_mb} MB free again: recording resumes");
            }
            self.announce(low);
        }
    }

    fn announce(&self, low: bool) {
        if let Some(sink) = self.alarm_sink.get() {
            let config = self.config.load();
            sink(json!({
                "type": "alarm",
                "alarm": "recording_low_disk",
                "active": low,
                "free_mb": self.counters.free_mb.load(Ordering::Relaxed),
                "min_free_mb": config.min_free_mb,
                "calls_unrecorded": self.counters.refused_low_disk.load(Ordering::Relaxed),
                "time": crate::ctl::iso_ms(now_ms()),
            }));
        }
    }
}

/// Caller, called number and flow from the call's row when the recording did not know them
/// (started from the control socket).
fn fill_from_cdr(conn: &Connection, file: &str) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE recordings SET \
           caller = CASE WHEN caller = '' THEN COALESCE((SELECT src FROM cdr WHERE cdr.uniqueid = recordings.uniqueid), '') ELSE caller END, \
           called = CASE WHEN called = '' THEN COALESCE((SELECT dst FROM cdr WHERE cdr.uniqueid = recordings.uniqueid), '') ELSE called END, \
           flow = CASE WHEN flow = '' THEN COALESCE((SELECT flow FROM cdr WHERE cdr.uniqueid = recordings.uniqueid), '') ELSE flow END \
         WHERE file = ?1",
        [file],
    )?;
    Ok(())
}

/// SHA-256 of a file, lower-case hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match file.read(&mut buf)? {
            0 => break,
            n => hasher.update(&buf[..n]),
        }
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Deletes the recordings of `rule` past its maximum age, then the oldest until its total size
/// fits; marks their rows deleted. Returns the files deleted.
pub fn retention(
    conn: &Connection,
    config: &RecordingConfig,
    rule: &str,
    now_ms: i64,
) -> rusqlite::Result<Vec<String>> {
    let Some(limits) = config.rules.iter().find(|r| r.name == rule) else {
        return Ok(Vec::new());
    };
    let mut doomed: Vec<(i64, String, &'static str)> = Vec::new();
    let mut stmt = conn.prepare(
        "SELECT id, file, COALESCE(bytes, 0), start_ms FROM recordings \
         WHERE rule = ?1 AND deleted = 0 AND status != 'recording' ORDER BY start_ms DESC, id DESC",
    )?;
    let rows: Vec<(i64, String, i64, i64)> = stmt
        .query_map([rule], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let cutoff_ms = limits.max_age_days.map(|d| now_ms - i64::from(d) * 86_400_000);
    let max_bytes = limits.max_total_mb.map(|mb| (mb * 1_000_000.0) as i64);
    let mut total = 0i64;
    // Newest first: everything past the age cutoff or beyond the size budget goes.
    for (id, file, bytes, start_ms) in rows {
        if cutoff_ms.is_some_and(|c| start_ms < c) {
            doomed.push((id, file, "max_age"));
            continue;
        }
        total += bytes;
        if max_bytes.is_some_and(|m| total > m) {
            doomed.push((id, file, "max_total"));
        }
    }
    // Oldest first, as the rows are marked.
    doomed.reverse();
    doomed.truncate(RETENTION_MAX_ROWS);
    let mut deleted = Vec::new();
    for (id, file, reason) in doomed {
        match std::fs::remove_file(config.dir.join(&file)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!("retention: cannot delete {file}: {e}");
                continue;
            }
        }
        conn.execute(
            "UPDATE recordings SET deleted = 1, deleted_ms = ?2, deleted_reason = ?3 WHERE id = ?1",
            params![id, now_ms, reason],
        )?;
        deleted.push(file);
    }
    Ok(deleted)
}
