//! The SQLite call log, owned by one store thread (DESIGN.md §6).
//!
//! The daemon opens a [`Store`] with [`Store::open`], closes the rows a crash left open with
//! [`Store::recover_interrupted`], and hands it to [`spawn_store_thread`], which applies
//! [`CallEvent`](crate::engine::events::CallEvent)s in batches. The CLI reads the same file through
//! [`Store::open_readonly`] while the daemon writes (WAL lets readers and the one writer work at
//! once).
//!
//! Tables: `cdr` (one row per call, Asterisk CDR column names), `call_path` (the states a call's
//! flow went through), `call_digits` (every key pressed) and `daemon_heartbeat` (when the daemon
//! was last known alive, to date the end of calls a crash cut off).

mod apply;
mod query;
mod schema;
mod thread;
mod time;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

pub use query::{CallFilter, CallRecord, DEFAULT_CALLS_LIMIT, MAX_CALLS_LIMIT};
pub use schema::SCHEMA_VERSION;
pub use thread::{spawn_store_thread, spawn_store_thread_with_counters, StoreCounters, StoreStats};

/// How long a statement waits for another connection's lock before failing with "database is busy".
const BUSY_TIMEOUT_MS: u64 = 5_000;
/// Rows of `PRAGMA integrity_check` reported at most: a badly broken file can list millions.
const INTEGRITY_CHECK_MAX_ROWS: i64 = 100;

/// Errors from the call log.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("call log {path}: cannot open: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "no calls have been logged yet: {path} does not exist (the daemon creates it when it \
         starts; if the daemon has been running, check `data_dir` in the config)"
    )]
    NoDatabase { path: PathBuf },
    #[error(
        "call log {path}: schema version {found} is newer than this telvox knows ({known}): it \
         was written by a newer telvox; upgrade telvox, or move the file aside to start a new log"
    )]
    SchemaTooNew { path: PathBuf, found: i64, known: i64 },
    #[error(
        "call log {path}: schema version {found} is older than this telvox reads ({known}): \
         start the daemon once to upgrade it"
    )]
    SchemaTooOld { path: PathBuf, found: i64, known: i64 },
    #[error(
        "call log {path}: journal mode is {mode}; WAL is needed so the CLI can read while the \
         daemon writes"
    )]
    NotWal { path: PathBuf, mode: String },
    #[error("call log: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// The call log: one SQLite connection. The daemon's store thread owns the writer; the CLI opens
/// readers.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the call log at `path` for writing and migrates it to this
    /// build's schema. The parent directory must exist: the daemon creates its state directory.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        let mut conn = Connection::open(path).map_err(open_err)?;
        configure_writer(&conn, path)?;
        schema::migrate(&mut conn, path)?;
        Ok(Store {
            conn,
            path: path.to_owned(),
        })
    }

    /// Opens an existing call log for reading only (the CLI). Works while the daemon writes; never
    /// migrates, so a schema of another version is refused with an error that says what to do.
    pub fn open_readonly(path: &Path) -> Result<Store, StoreError> {
        // Checked first because SQLite's own "unable to open database file" does not tell an admin
        // that the daemon simply has not run yet, nor where we looked.
        if !path.exists() {
            return Err(StoreError::NoDatabase {
                path: path.to_owned(),
            });
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let open_err = |source| StoreError::Open {
            path: path.to_owned(),
            source,
        };
        let conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
        // A reader can still meet the writer's brief exclusive moments (WAL checkpoint, recovery).
        conn.busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS))
            .map_err(open_err)?;
        schema::check_readable(&conn, path)?;
        Ok(Store {
            conn,
            path: path.to_owned(),
        })
    }

    /// The file this store reads and writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records that the daemon is alive at `now_ms` (epoch ms). After a crash, calls left open are
    /// closed at the last heartbeat, so their durations are off by at most one heartbeat interval.
    pub fn heartbeat(&mut self, now_ms: i64) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO daemon_heartbeat (id, at_ms) VALUES (1, ?1)
             ON CONFLICT(id) DO UPDATE SET at_ms = excluded.at_ms",
            [now_ms],
        )?;
        Ok(())
    }

    /// The last heartbeat written (epoch ms), if any.
    pub fn last_heartbeat_ms(&self) -> Result<Option<i64>, StoreError> {
        let sql = "SELECT at_ms FROM daemon_heartbeat WHERE id = 1";
        Ok(self.conn.query_row(sql, [], |row| row.get(0)).optional()?)
    }

    /// The highest call sequence number logged (0 if none), so a restarted daemon continues
    /// numbering.
    pub fn max_seq(&self) -> Result<u64, StoreError> {
        let max: i64 = self
            .conn
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM cdr", [], |row| row.get(0))?;
        // seq is written from a u64 and never negative; a hand-edited negative one counts as none.
        Ok(u64::try_from(max).unwrap_or(0))
    }

    /// How many calls started at or after `since_ms` (epoch ms), e.g. "calls today".
    pub fn calls_since(&self, since_ms: i64) -> Result<u64, StoreError> {
        let sql = "SELECT COUNT(*) FROM cdr WHERE start_ms >= ?1";
        self.count(sql, [since_ms])
    }

    /// How many calls are up (started, not yet ended).
    pub fn open_calls(&self) -> Result<u64, StoreError> {
        self.count("SELECT COUNT(*) FROM cdr WHERE end_ms IS NULL", [])
    }

    /// SQLite's `PRAGMA integrity_check`: `"ok"`, or the problems found, one per line.
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        let mut lines = Vec::new();
        self.conn
            .pragma(None, "integrity_check", INTEGRITY_CHECK_MAX_ROWS, |row| {
                lines.push(row.get::<_, String>(0)?);
                Ok(())
            })?;
        Ok(lines.join("\n"))
    }

    fn count<P: rusqlite::Params>(&self, sql: &str, params: P) -> Result<u64, StoreError> {
        let n: i64 = self.conn.query_row(sql, params, |row| row.get(0))?;
        // COUNT(*) is never negative.
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

/// Settings of the writer's connection.
fn configure_writer(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    conn.busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS))?;
    // WAL: readers (the CLI) never block the writer and the writer never blocks them.
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::NotWal {
            path: path.to_owned(),
            mode,
        });
    }
    // NORMAL in WAL mode syncs only at checkpoints, not at every commit. A committed transaction
    // survives the process dying (kill -9, panic, OOM kill): it is in the WAL file in the OS page
    // cache. It does NOT survive a power cut or kernel crash: the last transactions before it may
    // roll back (the database stays consistent; those calls are simply missing or still open).
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}
