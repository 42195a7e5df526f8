//! The business behind a flow: its SQLite database (`lookup`, `verify_pin`), its time zone and
//! clock (`hours`).
//!
//! SQL and PIN hashing are blocking and CPU-heavy, so they never run on a channel thread. A small
//! pool of lookup threads ([`WORKERS`]) takes [`Job`]s from one bounded crossbeam queue
//! ([`QUEUE_JOBS`]); a channel thread only `try_send`s (never waits: a full queue is the outcome
//! `error`). Each call owns a [`ReplySlot`], a lock-free `ArrayQueue` the worker pushes the
//! [`Reply`] into; the action polls it on its call timer every [`POLL_MS`] and gives up after its
//! timeout, counted in polls of the sample clock. Jobs and replies are fixed-size (no heap on the
//! channel thread), and a reply carries the job's sequence number so a late reply to a timed-out
//! job is never taken for the answer to a later one.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use crossbeam::channel::{bounded, Receiver, Sender, TrySendError};
use crossbeam::queue::ArrayQueue;
use pbkdf2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use pbkdf2::Pbkdf2;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use crate::config::BusinessConfig;

use super::vars::{Value, VarName};

/// Lookup threads per runtime: SQLite reads are quick; two keep one slow PIN hash from delaying
/// every other caller's lookup.
pub const WORKERS: usize = 2;
/// Jobs waiting at most; beyond it a lookup fails at once instead of queueing unbounded work.
pub const QUEUE_JOBS: usize = 256;
/// How often an action waiting for a reply looks at its slot.
pub const POLL_MS: u64 = 20;
/// Parameters one query may bind.
pub const MAX_PARAMS: usize = 4;
/// Columns of a result row kept (the rest are dropped).
pub const MAX_COLUMNS: usize = 8;
/// Replies one call's slot holds: the current one, and one late reply to a timed-out job.
const SLOT_REPLIES: usize = 2;
/// PBKDF2-SHA256 rounds for `telvox pin hash`: a PIN has few digits, so the hash must be slow.
const PIN_HASH_ROUNDS: u32 = 100_000;

/// How a job ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Found,
    NotFound,
    Error,
    PinOk,
    PinFail,
    PinLocked,
}

/// A query's text, shared by every call on the flow (cloning it does not allocate).
pub type Sql = Arc<str>;
/// Bound query parameters.
pub type Params = [Value; MAX_PARAMS];

/// What a job asks of the lookup thread.
#[derive(Clone, Debug)]
pub enum Work {
    /// Runs the query; its first row is the reply.
    Query { sql: Sql },
    /// Runs the query for the stored PHC hash (first column), checks `pin` against it and counts
    /// failures per `account`.
    VerifyPin { sql: Sql, account: Value, pin: Value },
}

#[derive(Debug)]
pub struct Job {
    pub slot: Arc<ReplySlot>,
    pub seq: u32,
    pub work: Work,
    pub params: Params,
    pub param_count: usize,
}

/// A job's result: fixed size, built on the lookup thread.
#[derive(Clone, Copy, Debug)]
pub struct Reply {
    pub seq: u32,
    pub outcome: Outcome,
    pub columns: [(VarName, Value); MAX_COLUMNS],
    pub column_count: usize,
}

impl Reply {
    fn new(seq: u32, outcome: Outcome) -> Reply {
        Reply {
            seq,
            outcome,
            columns: [(VarName::new(), Value::new()); MAX_COLUMNS],
            column_count: 0,
        }
    }

    pub fn columns(&self) -> &[(VarName, Value)] {
        &self.columns[..self.column_count]
    }
}

/// One call's mailbox for replies.
#[derive(Debug)]
pub struct ReplySlot {
    replies: ArrayQueue<Reply>,
}

impl Default for ReplySlot {
    fn default() -> Self {
        ReplySlot {
            replies: ArrayQueue::new(SLOT_REPLIES),
        }
    }
}

impl ReplySlot {
    /// The reply to job `seq`, if it has come; older replies are dropped.
    pub fn take(&self, seq: u32) -> Option<Reply> {
        while let Some(reply) = self.replies.pop() {
            if reply.seq == seq {
                return Some(reply);
            }
        }
        None
    }

    fn put(&self, reply: Reply) {
        // A full slot holds stale replies only (one job per call at a time): make room.
        self.replies.force_push(reply);
    }
}

/// The business services of one runtime; dropping the last reference stops its threads.
#[derive(Debug)]
pub struct Business {
    jobs: Sender<Job>,
    config: BusinessConfig,
    recorder: Option<super::record::Recorder>,
    /// The voicemail threads, when mailboxes are configured.
    voicemail: std::sync::OnceLock<Arc<crate::apps::voicemail::Voicemail>>,
    /// The supervisor worker (`recording_review`), when supervisors are configured.
    supervisor: std::sync::OnceLock<Arc<crate::apps::supervisor::Service>>,
    /// What the fax actions need: inbound spool, station id, catalog (set once by the daemon; see `fax.rs`).
    pub(super) fax: std::sync::OnceLock<super::fax::FaxContext>,
}

impl Business {
    /// Starts the lookup threads; `store_db` is the call log, which keeps PIN failures.
    pub fn start(config: BusinessConfig, store_db: PathBuf) -> std::io::Result<Arc<Business>> {
        Self::start_with_recorder(config, store_db, None)
    }

    /// [`Business::start`], plus the recorder thread `record` writes with.
    pub fn start_with_recorder(
        config: BusinessConfig,
        store_db: PathBuf,
        recorder: Option<super::record::Recorder>,
    ) -> std::io::Result<Arc<Business>> {
        let (jobs, queue) = bounded(QUEUE_JOBS);
        for index in 0..WORKERS {
            let worker = Worker {
                queue: queue.clone(),
                db: config.db.clone(),
                store_db: store_db.clone(),
                pin_max_failures: config.pin_max_failures,
                business: None,
                store: None,
            };
            std::thread::Builder::new()
                .name(format!("lookup-{index}"))
                .spawn(move || worker.run())?;
        }
        Ok(Arc::new(Business {
            jobs,
            config,
            recorder,
            voicemail: std::sync::OnceLock::new(),
            supervisor: std::sync::OnceLock::new(),
            fax: std::sync::OnceLock::new(),
        }))
    }

    /// Queues a job without waiting; false when the queue is full (or the threads are gone).
    pub fn submit(&self, job: Job) -> bool {
        match self.jobs.try_send(job) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
        }
    }

    pub fn voicemail(&self) -> Option<&Arc<crate::apps::voicemail::Voicemail>> {
        self.voicemail.get()
    }

    /// Gives voicemail actions their threads (once, when the runtime is built).
    pub fn set_voicemail(&self, voicemail: Arc<crate::apps::voicemail::Voicemail>) {
        let _ = self.voicemail.set(voicemail);
    }

    pub fn supervisor(&self) -> Option<&Arc<crate::apps::supervisor::Service>> {
        self.supervisor.get()
    }

    /// Gives `recording_review` its worker (once, when the runtime is built).
    pub fn set_supervisor(&self, service: Arc<crate::apps::supervisor::Service>) {
        let _ = self.supervisor.set(service);
    }

    pub fn recorder(&self) -> Option<&super::record::Recorder> {
        self.recorder.as_ref()
    }

    pub fn config(&self) -> &BusinessConfig {
        &self.config
    }

    /// Now, in the business's time zone (`[business] test_now` freezes it, for tests).
    pub fn now(&self) -> DateTime<chrono_tz::Tz> {
        let now = self
            .config
            .test_now
            .map_or_else(Utc::now, |t| t.with_timezone(&Utc));
        now.with_timezone(&self.config.timezone)
    }
}

/// One lookup thread; its connections open on first use and reopen after an error.
struct Worker {
    queue: Receiver<Job>,
    db: PathBuf,
    store_db: PathBuf,
    pin_max_failures: u32,
    business: Option<Connection>,
    store: Option<Connection>,
}

impl Worker {
    fn run(mut self) {
        while let Ok(job) = self.queue.recv() {
            let reply = self.serve(&job);
            job.slot.put(reply);
        }
    }

    fn serve(&mut self, job: &Job) -> Reply {
        let params = &job.params[..job.param_count];
        let result = match &job.work {
            Work::Query { sql } => self.query(job.seq, sql, params),
            Work::VerifyPin { sql, account, pin } => {
                self.verify_pin(job.seq, sql, params, account.as_str(), pin.as_str())
            }
        };
        result.unwrap_or_else(|e| {
            tracing::warn!("business lookup failed: {e}");
            // A broken connection is reopened on the next job.
            self.business = None;
            self.store = None;
            Reply::new(job.seq, Outcome::Error)
        })
    }

    fn business(&mut self) -> rusqlite::Result<&Connection> {
        if self.business.is_none() {
            // Read-only: a flow's query can never change the business's data, whatever it says.
            let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let conn = Connection::open_with_flags(&self.db, flags)?;
            conn.busy_timeout(std::time::Duration::from_millis(500))?;
            self.business = Some(conn);
        }
        Ok(self.business.as_ref().expect("opened above"))
    }

    fn store(&mut self) -> rusqlite::Result<&Connection> {
        if self.store.is_none() {
            let conn = Connection::open(&self.store_db)?;
            conn.busy_timeout(std::time::Duration::from_millis(2000))?;
            self.store = Some(conn);
        }
        Ok(self.store.as_ref().expect("opened above"))
    }

    /// The query's first row, every value as text. Parameters are bound, never spliced.
    fn query(&mut self, seq: u32, sql: &str, params: &[Value]) -> rusqlite::Result<Reply> {
        let conn = self.business()?;
        let mut stmt = conn.prepare_cached(sql)?;
        let names: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
        let values = params.iter().map(|v| v.as_str());
        let mut rows = stmt.query(rusqlite::params_from_iter(values))?;
        let Some(row) = rows.next()? else {
            return Ok(Reply::new(seq, Outcome::NotFound));
        };
        let mut reply = Reply::new(seq, Outcome::Found);
        for (index, name) in names.iter().enumerate().take(MAX_COLUMNS) {
            let value = text_of(row.get_ref(index)?);
            reply.columns[index] = (
                VarName::from_str_truncating(name),
                Value::from_str_truncating(&value),
            );
            reply.column_count = index + 1;
        }
        Ok(reply)
    }

    fn verify_pin(
        &mut self,
        seq: u32,
        sql: &str,
        params: &[Value],
        account: &str,
        pin: &str,
    ) -> rusqlite::Result<Reply> {
        let failures = self.failures(account)?;
        if failures >= self.pin_max_failures {
            return Ok(Reply::new(seq, Outcome::PinLocked));
        }
        let stored: Option<String> = {
            let conn = self.business()?;
            let mut stmt = conn.prepare_cached(sql)?;
            let values = params.iter().map(|v| v.as_str());
            stmt.query_row(rusqlite::params_from_iter(values), |row| row.get(0))
                .optional()?
        };
        // An unknown account fails like a wrong PIN, so a caller cannot probe for accounts.
        if stored.is_some_and(|hash| pin_matches(pin, &hash)) {
            self.store()?
                .execute("DELETE FROM pin_failures WHERE account = ?1", [account])?;
            return Ok(Reply::new(seq, Outcome::PinOk));
        }
        let failures = self.count_failure(account)?;
        let outcome = if failures >= self.pin_max_failures {
            Outcome::PinLocked
        } else {
            Outcome::PinFail
        };
        Ok(Reply::new(seq, outcome))
    }

    fn failures(&mut self, account: &str) -> rusqlite::Result<u32> {
        let conn = self.store()?;
        let found: Option<u32> = conn
            .query_row(
                "SELECT failures FROM pin_failures WHERE account = ?1",
                [account],
                |row| row.get(0),
            )
            .optional()?;
        Ok(found.unwrap_or(0))
    }

    /// Counts one more wrong PIN; the new count.
    fn count_failure(&mut self, account: &str) -> rusqlite::Result<u32> {
        let conn = self.store()?;
        conn.query_row(
            "INSERT INTO pin_failures (account, failures, at_ms) VALUES (?1, 1, ?2)
             ON CONFLICT (account) DO UPDATE SET failures = failures + 1, at_ms = excluded.at_ms
             RETURNING failures",
            params![account, now_ms()],
            |row| row.get(0),
        )
    }
}

fn text_of(value: rusqlite::types::ValueRef) -> String {
    use rusqlite::types::ValueRef;
    match value {
        ValueRef::Null | ValueRef::Blob(_) => String::new(),
        ValueRef::Integer(n) => n.to_string(),
        ValueRef::Real(x) => x.to_string(),
        ValueRef::Text(text) => String::from_utf8_lossy(text).into_owned(),
    }
}

fn now_ms() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// Whether `pin` matches a PHC-format hash (`$pbkdf2-sha256$…`); a malformed hash never matches.
pub fn pin_matches(pin: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| Pbkdf2.verify_password(pin.as_bytes(), &parsed).is_ok())
}

/// A salted PBKDF2-SHA256 hash of `pin` in PHC format, for the business database.
pub fn hash_pin(pin: &str) -> Result<String, pbkdf2::password_hash::Error> {
    let salt = SaltString::generate(&mut rand_core::OsRng);
    let params = pbkdf2::Params {
        rounds: PIN_HASH_ROUNDS,
        output_length: 32,
    };
    let hash = Pbkdf2.hash_password_customized(pin.as_bytes(), None, None, params, &salt)?;
    Ok(hash.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pin_hash_verifies_only_its_pin() {
        let hash = hash_pin("4321").unwrap();
        assert!(hash.starts_with("$pbkdf2-sha256$"), "{hash}");
        assert!(pin_matches("4321", &hash));
        assert!(!pin_matches("1234", &hash));
        assert!(!pin_matches("4321", "not a hash"));
    }

    #[test]
    fn a_stale_reply_is_not_taken_for_the_current_one() {
        let slot = ReplySlot::default();
        slot.put(Reply::new(1, Outcome::Found));
        slot.put(Reply::new(2, Outcome::NotFound));
        assert_eq!(slot.take(2).map(|r| r.outcome), Some(Outcome::NotFound));
        assert!(slot.take(2).is_none());
    }
}
