//! The supervisor worker thread: everything `recording_review` must not do on a channel thread —
//! PIN checks (PBKDF2, the lockout kept in SQLite), searching the `recordings` table, and loading
//! a recording (mapped read-only; stereo mixed down to mono here) with its announcement. Jobs go
//! in through a bounded queue (`try_send`: a full queue is an error outcome, never a wait); replies
//! come back through the call's own lock-free [`Slot`], polled on the call's sample clock.
//!
//! Dates: a search's day is a day of the daemon's local time, and times are said in local time,
//! as `telvox rec search --from 2026-11-23` and its START column read them (recordings' folders
//! are UTC dates; the rows' `start_ms` decide).

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{Datelike, Local, NaiveDate, TimeZone, Timelike};
use crossbeam::channel::{bounded, Receiver, Sender};
use crossbeam::queue::ArrayQueue;
use rusqlite::{Connection, OptionalExtension};

use crate::apps::say::{self, Language};
use crate::apps::voicemail::db as vmdb;
use crate::fixed::{FixedStr, Label, Number};
use crate::voice::Prompt;

use super::config::Supervisors;

/// Jobs waiting for the worker at most.
const QUEUE_JOBS: usize = 64;
/// Recordings one search lists at most (the oldest first).
pub const MAX_LIST: usize = 100;
/// Prompt names one announcement holds.
pub const MAX_SCRIPT: usize = 48;
/// Longest recording played back (longer ones are cut here): 4 hours, 115 MB of A-law at most
/// for a stereo recording mixed down in memory.
pub const MAX_PLAY_SAMPLES: usize = 4 * 3600 * 8000;
/// Replies one call's slot holds: the current one and a late one.
const SLOT_REPLIES: usize = 2;
/// The key a supervisor's PIN failures are counted under in `vm_pin_failures` (shared with the
/// mailboxes' lockout: box numbers are digits only, so the two never meet).
pub fn lockout_key(id: &str) -> String {
    format!("sup:{id}")
}

pub type Lang = FixedStr<8>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    BadPin,
    Locked,
    /// The date keyed in is not a date.
    BadDate,
    /// The recording's file is gone (retention, `rm`) or unreadable.
    Unavailable,
    Error,
}

/// What a search matches on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum By {
    Agent,
    Caller,
}

#[derive(Debug)]
pub enum Work {
    Login {
        id: Number,
        pin: Number,
    },
    /// Recordings of `key` (agent id, or caller number: exact, or its last digits) on `date`
    /// (`YYYYMMDD`, or `0` for today).
    Search {
        by: By,
        key: Number,
        date: Number,
        lang: Lang,
    },
    /// A recording's audio and its announcement (date, time, duration).
    Load {
        id: i64,
        lang: Lang,
    },
    /// Audio a channel thread is done with: unmapped (or freed) here.
    Release(Arc<Prompt>),
}

#[derive(Debug)]
pub struct Job {
    pub slot: Arc<Slot>,
    pub seq: u32,
    pub work: Work,
}

#[derive(Debug)]
pub struct Reply {
    pub seq: u32,
    pub status: Status,
    pub ids: [i64; MAX_LIST],
    pub count: usize,
    /// A recording, mapped and paged in (or mixed down).
    pub prompt: Option<Arc<Prompt>>,
    /// What to say, as prompt names.
    pub script: [Label; MAX_SCRIPT],
    pub script_len: usize,
}

impl Reply {
    fn new(seq: u32, status: Status) -> Reply {
        Reply {
            seq,
            status,
            ids: [0; MAX_LIST],
            count: 0,
            prompt: None,
            script: [Label::new(); MAX_SCRIPT],
            script_len: 0,
        }
    }

    fn say(&mut self, name: &str) {
        if self.script_len < MAX_SCRIPT {
            self.script[self.script_len] = Label::from_str_truncating(name);
            self.script_len += 1;
        }
    }

    fn say_all(&mut self, names: &[String]) {
        for n in names {
            self.say(n);
        }
    }
}

/// One call's mailbox for worker replies.
#[derive(Debug)]
pub struct Slot {
    replies: ArrayQueue<Reply>,
}

impl Default for Slot {
    fn default() -> Self {
        Slot {
            replies: ArrayQueue::new(SLOT_REPLIES),
        }
    }
}

impl Slot {
    /// The reply to job `seq` if it has come; older replies are dropped.
    pub fn take(&self, seq: u32) -> Option<Reply> {
        while let Some(reply) = self.replies.pop() {
            if reply.seq == seq {
                return Some(reply);
            }
        }
        None
    }

    fn put(&self, reply: Reply) {
        let _ = self.replies.force_push(reply);
    }
}

/// Where the worker finds things.
#[derive(Clone, Debug)]
pub struct Paths {
    /// The call log (recordings table, PIN failures).
    pub db: PathBuf,
    /// `<data_dir>/recordings`: rows' `file` is relative to it.
    pub recordings_dir: PathBuf,
}

/// The supervisor worker of one runtime; dropping the last reference ends its thread.
#[derive(Debug)]
pub struct Service {
    pub supervisors: Arc<Supervisors>,
    jobs: Sender<Job>,
}

impl Service {
    pub fn start(supervisors: Arc<Supervisors>, paths: Paths) -> std::io::Result<Arc<Service>> {
        let (jobs, rx) = bounded(QUEUE_JOBS);
        let worker = Worker {
            supervisors: supervisors.clone(),
            paths,
            conn: None,
        };
        std::thread::Builder::new()
            .name("sup-worker".into())
            .spawn(move || worker.run(&rx))?;
        Ok(Arc::new(Service { supervisors, jobs }))
    }

    /// Queues a job without waiting; false when the queue is full.
    pub fn submit(&self, job: Job) -> bool {
        self.jobs.try_send(job).is_ok()
    }

    /// Gives audio back to be unmapped off the channel thread (dropped here if the queue is full).
    pub fn release(&self, slot: &Arc<Slot>, prompt: Arc<Prompt>) {
        let _ = self.jobs.try_send(Job {
            slot: slot.clone(),
            seq: 0,
            work: Work::Release(prompt),
        });
    }
}

struct Worker {
    supervisors: Arc<Supervisors>,
    paths: Paths,
    conn: Option<Connection>,
}

impl Worker {
    fn run(mut self, jobs: &Receiver<Job>) {
        while let Ok(job) = jobs.recv() {
            if let Work::Release(prompt) = job.work {
                drop(prompt);
                continue;
            }
            let reply = match self.serve(job.seq, &job.work) {
                Ok(reply) => reply,
                Err(e) => {
                    tracing::warn!("recording review: {e}");
                    self.conn = None;
                    Reply::new(job.seq, Status::Error)
                }
            };
            job.slot.put(reply);
        }
    }

    fn conn(&mut self) -> rusqlite::Result<&Connection> {
        if self.conn.is_none() {
            self.conn = Some(vmdb::open(&self.paths.db)?);
        }
        Ok(self.conn.as_ref().expect("opened above"))
    }

    fn serve(&mut self, seq: u32, work: &Work) -> Result<Reply, String> {
        let sql = |e: rusqlite::Error| e.to_string();
        match work {
            Work::Login { id, pin } => self.login(seq, id.as_str(), pin.as_str()).map_err(sql),
            Work::Search { by, key, date, lang } => {
                let language = Language::from_code(lang.as_str()).unwrap_or(Language::En);
                let Some((from_ms, to_ms)) = day_range(date.as_str()) else {
                    return Ok(Reply::new(seq, Status::BadDate));
                };
                let ids =
                    search(self.conn().map_err(sql)?, *by, key.as_str(), from_ms, to_ms).map_err(sql)?;
                let mut reply = Reply::new(seq, Status::Ok);
                for (slot, id) in reply.ids.iter_mut().zip(&ids) {
                    *slot = *id;
                }
                reply.count = ids.len().min(MAX_LIST);
                if reply.count == 0 {
                    reply.say("sup-no-recordings");
                } else {
                    reply.say_all(&say::say_number(language, reply.count as i64));
                    reply.say("sup-recordings");
                }
                Ok(reply)
            }
            Work::Load { id, lang } => {
                let language = Language::from_code(lang.as_str()).unwrap_or(Language::En);
                let row: Option<(String, i64, i64)> = self
                    .conn()
                    .map_err(sql)?
                    .query_row(
                        "SELECT file, start_ms, COALESCE(duration_ms, 0) FROM recordings \
                         WHERE id = ?1 AND deleted = 0 AND status != 'recording'",
                        [id],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .optional()
                    .map_err(sql)?;
                let Some((file, start_ms, duration_ms)) = row else {
                    return Ok(Reply::new(seq, Status::Unavailable));
                };
                let path = self.paths.recordings_dir.join(&file);
                let prompt = match Prompt::load_recording(&path, MAX_PLAY_SAMPLES) {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::info!("recording review: recording {id} unavailable: {e}");
                        return Ok(Reply::new(seq, Status::Unavailable));
                    }
                };
                // Read through once: the channel thread never waits for the disk.
                let mut scratch = [0i16; 4096];
                let mut at = 0;
                while at < prompt.len_samples() {
                    at += prompt.read_linear(at, &mut scratch).max(1);
                }
                let mut reply = Reply::new(seq, Status::Ok);
                reply.prompt = Some(Arc::new(prompt));
                announce(&mut reply, language, start_ms, duration_ms);
                Ok(reply)
            }
            Work::Release(_) => Ok(Reply::new(seq, Status::Ok)),
        }
    }

    fn login(&mut self, seq: u32, id: &str, pin: &str) -> rusqlite::Result<Reply> {
        let sups = self.supervisors.clone();
        let key = lockout_key(id);
        let conn = self.conn()?;
        if vmdb::pin_locked_until(conn, &key)? > vmdb::now_ms() {
            tracing::warn!("recording review: supervisor {id} is locked out; login refused");
            return Ok(Reply::new(seq, Status::Locked));
        }
        // An unknown id fails like a wrong PIN (and is counted), so ids cannot be probed.
        let good = sups
            .find(id)
            .and_then(|s| s.pin_hash.as_deref())
            .is_some_and(|hash| crate::apps::ivr::business::pin_matches(pin, hash));
        if !good {
            let lockout_ms = i64::from(sups.lockout_s) * 1000;
            let (failures, locked) = vmdb::pin_failed(conn, &key, sups.pin_max_failures, lockout_ms)?;
            if locked {
                tracing::warn!(
                    "recording review: supervisor {id} locked out for {} s after {failures} wrong PINs",
                    sups.lockout_s
                );
                return Ok(Reply::new(seq, Status::Locked));
            }
            tracing::info!("recording review: wrong PIN for supervisor {id} ({failures} in a row)");
            return Ok(Reply::new(seq, Status::BadPin));
        }
        vmdb::pin_ok(conn, &key)?;
        tracing::info!("recording review: supervisor {id} logged in");
        Ok(Reply::new(seq, Status::Ok))
    }
}

/// `[from, to)` in epoch ms of a local day: `YYYYMMDD`, or `0` for today.
pub fn day_range(date: &str) -> Option<(i64, i64)> {
    let day = if date == "0" {
        Local::now().date_naive()
    } else if date.len() == 8 {
        NaiveDate::parse_from_str(date, "%Y%m%d").ok()?
    } else {
        return None;
    };
    let start = |d: NaiveDate| {
        Local
            .from_local_datetime(&d.and_hms_opt(0, 0, 0)?)
            .earliest()
            .map(|t| t.timestamp_millis())
    };
    Some((start(day)?, start(day.succ_opt()?)?))
}

/// Finished, undeleted recordings of `key` started in `[from_ms, to_ms)`, oldest first.
pub fn search(conn: &Connection, by: By, key: &str, from_ms: i64, to_ms: i64) -> rusqlite::Result<Vec<i64>> {
    let condition = match by {
        By::Agent => "agent = ?1",
        // The whole number, or its last digits (a supervisor need not key the prefix).
        By::Caller => "(caller = ?1 OR (length(?1) >= 4 AND substr(caller, -length(?1)) = ?1))",
    };
    let sql = format!(
        "SELECT id FROM recordings WHERE {condition} AND start_ms >= ?2 AND start_ms < ?3 \
         AND deleted = 0 AND status != 'recording' ORDER BY start_ms, id LIMIT {MAX_LIST}"
    );
    let mut stmt = conn.prepare(&sql)?;
    let ids = stmt.query_map(rusqlite::params![key, from_ms, to_ms], |r| r.get(0))?;
    ids.collect()
}

/// A recording's announcement: its date and time (local) and its duration in seconds.
fn announce(reply: &mut Reply, language: Language, start_ms: i64, duration_ms: i64) {
    if let Some(at) = chrono::DateTime::from_timestamp_millis(start_ms) {
        let local = at.with_timezone(&Local);
        let (y, mo, d) = (local.year(), local.month() as u8, local.day() as u8);
        reply.say_all(&say::say_date(language, y, mo, d, None).unwrap_or_default());
        let (h, mi) = (local.hour() as u8, local.minute() as u8);
        reply.say_all(&say::say_time(language, h, mi).unwrap_or_default());
    }
    let seconds = (duration_ms + 500) / 1000;
    reply.say_all(&say::say_number(language, seconds));
    reply.say("sup-seconds");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_is_a_local_day_and_bad_dates_are_refused() {
        let (from, to) = day_range("20261123").unwrap();
        let hours = (to - from) / 3_600_000;
        assert!((23..=25).contains(&hours), "{hours}");
        let start = chrono::DateTime::from_timestamp_millis(from)
            .unwrap()
            .with_timezone(&Local);
        assert_eq!(
            (start.year(), start.month(), start.day(), start.hour()),
            (2026, 11, 23, 0)
        );
        assert!(day_range("0").is_some());
        for bad in ["", "2026113", "20261323", "20260230", "abcdefgh", "00"] {
            assert!(day_range(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn search_matches_agents_exactly_and_callers_by_their_last_digits() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE recordings (id INTEGER PRIMARY KEY, start_ms INTEGER, caller TEXT, agent TEXT, \
             deleted INTEGER DEFAULT 0, status TEXT DEFAULT 'complete');
             INSERT INTO recordings (id, start_ms, caller, agent) VALUES
               (1, 100, '13800138000', '7001'), (2, 50, '+8613800138000', '7001'),
               (3, 150, '13900000000', '70011'), (4, 200, '13800138000', '7001');
             UPDATE recordings SET deleted = 1 WHERE id = 4;",
        )
        .unwrap();
        assert_eq!(search(&conn, By::Agent, "7001", 0, 1000).unwrap(), [2, 1]);
        assert_eq!(search(&conn, By::Caller, "13800138000", 0, 1000).unwrap(), [2, 1]);
        assert_eq!(search(&conn, By::Caller, "8000", 0, 1000).unwrap(), [2, 1]);
        assert!(
            search(&conn, By::Caller, "000", 0, 1000).unwrap().is_empty(),
            "too short a tail"
        );
        assert_eq!(search(&conn, By::Agent, "7001", 60, 1000).unwrap(), [1]);
    }
}
