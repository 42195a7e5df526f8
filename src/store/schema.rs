//! The call-log schema and its migrations.
//!
//! `PRAGMA user_version` holds how many entries of [`MIGRATIONS`] a database has had applied. Each
//! entry runs in its own transaction together with the bump of `user_version`, so a crash
//! mid-migration leaves the database at the previous version, never half-migrated. Entries are
//! append-only: once released, an entry is never edited — a change to the schema is a new entry.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;

/// The schema, one step per entry, oldest first.
const MIGRATIONS: &[&str] = &[
    // 1: the call log, the IVR path and digits of each call, and the daemon's heartbeat.
    r#"
    CREATE TABLE cdr (
        id                INTEGER PRIMARY KEY,
        uniqueid          TEXT UNIQUE NOT NULL,
        seq               INTEGER NOT NULL,
        src               TEXT NOT NULL DEFAULT '',
        dst               TEXT NOT NULL DEFAULT '',
        clid              TEXT NOT NULL DEFAULT '',
        channel           TEXT NOT NULL,
        flow              TEXT NOT NULL DEFAULT '',
        start             TEXT NOT NULL,
        answer            TEXT,
        "end"             TEXT,
        start_ms          INTEGER NOT NULL,
        answer_ms         INTEGER,
        end_ms            INTEGER,
        duration          INTEGER,
        billsec           INTEGER,
        disposition       TEXT,
        hangup_cause      TEXT,
        hangup_cause_code INTEGER,
        digits            TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX cdr_start_ms ON cdr(start_ms);
    CREATE INDEX cdr_src ON cdr(src);
    CREATE INDEX cdr_dst ON cdr(dst);

    CREATE TABLE call_path (
        uniqueid TEXT NOT NULL REFERENCES cdr(uniqueid) ON DELETE CASCADE,
        idx      INTEGER NOT NULL,
        state    TEXT NOT NULL,
        at_ms    INTEGER NOT NULL,
        PRIMARY KEY (uniqueid, idx)
    );

    CREATE TABLE call_digits (
        uniqueid TEXT NOT NULL REFERENCES cdr(uniqueid) ON DELETE CASCADE,
        idx      INTEGER NOT NULL,
        digit    TEXT NOT NULL,
        at_ms    INTEGER NOT NULL,
        PRIMARY KEY (uniqueid, idx)
    );

    CREATE TABLE daemon_heartbeat (
        id    INTEGER PRIMARY KEY CHECK (id = 1),
        at_ms INTEGER NOT NULL
    );
    "#,
    // 2: wrong PINs in a row per business account (the IVR's `verify_pin`), kept across restarts so
    // a caller cannot reset a lockout by waiting for a restart.
    r#"
    CREATE TABLE pin_failures (
        account  TEXT PRIMARY KEY NOT NULL,
        failures INTEGER NOT NULL,
        at_ms    INTEGER NOT NULL
    );
    "#,
    // Call recordings: one row per file under <data_dir>/recordings, linked to cdr.uniqueid (not a
    // declared foreign key: the recorder's row may be written before the call's). Self-contained,
    // so its order among other new tables does not matter.
    r#"
    CREATE TABLE IF NOT EXISTS recordings (
        id             INTEGER PRIMARY KEY,
        uniqueid       TEXT NOT NULL,
        file           TEXT UNIQUE NOT NULL,
        format         TEXT NOT NULL,
        rule           TEXT NOT NULL DEFAULT '',
        start          TEXT NOT NULL,
        start_ms       INTEGER NOT NULL,
        end_ms         INTEGER,
        duration_ms    INTEGER,
        bytes          INTEGER,
        caller         TEXT NOT NULL DEFAULT '',
        called         TEXT NOT NULL DEFAULT '',
        channel        TEXT NOT NULL DEFAULT '',
        flow           TEXT NOT NULL DEFAULT '',
        agent          TEXT NOT NULL DEFAULT '',
        dropped_blocks INTEGER NOT NULL DEFAULT 0,
        sha256         TEXT,
        status         TEXT NOT NULL DEFAULT 'recording',
        deleted        INTEGER NOT NULL DEFAULT 0,
        deleted_ms     INTEGER,
        deleted_reason TEXT
    );
    CREATE INDEX IF NOT EXISTS recordings_uniqueid ON recordings(uniqueid);
    CREATE INDEX IF NOT EXISTS recordings_start_ms ON recordings(start_ms);
    CREATE INDEX IF NOT EXISTS recordings_caller ON recordings(caller);
    CREATE INDEX IF NOT EXISTS recordings_called ON recordings(called);
    "#,
    // 4 (voicemail): messages per mailbox, recordings in progress (finished after a crash), PIN
    // lockouts per box, and the outgoing mail queue. Only new tables: its place among other
    // branches' migrations does not matter.
    r#"
    CREATE TABLE IF NOT EXISTS vm_messages (
        id          INTEGER PRIMARY KEY,
        box         TEXT NOT NULL,
        file        TEXT NOT NULL,
        caller      TEXT NOT NULL DEFAULT '',
        uniqueid    TEXT NOT NULL DEFAULT '',
        at_ms       INTEGER NOT NULL,
        duration_ms INTEGER NOT NULL,
        folder      TEXT NOT NULL DEFAULT 'new' CHECK (folder IN ('new', 'saved')),
        heard       INTEGER NOT NULL DEFAULT 0,
        UNIQUE (box, file)
    );
    CREATE INDEX IF NOT EXISTS vm_messages_box ON vm_messages(box, folder, at_ms);
    CREATE TABLE IF NOT EXISTS vm_recordings (
        id          INTEGER PRIMARY KEY,
        part        TEXT NOT NULL,
        boxes       TEXT NOT NULL,
        caller      TEXT NOT NULL DEFAULT '',
        uniqueid    TEXT NOT NULL DEFAULT '',
        at_ms       INTEGER NOT NULL,
        min_ms      INTEGER NOT NULL,
        law         TEXT NOT NULL DEFAULT 'alaw'
    );
    CREATE TABLE IF NOT EXISTS vm_pin_failures (
        box             TEXT PRIMARY KEY NOT NULL,
        failures        INTEGER NOT NULL,
        locked_until_ms INTEGER NOT NULL DEFAULT 0,
        at_ms           INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS vm_mail_queue (
        id           INTEGER PRIMARY KEY,
        message_id   INTEGER NOT NULL,
        box          TEXT NOT NULL,
        to_addr      TEXT NOT NULL,
        created_ms   INTEGER NOT NULL,
        attempts     INTEGER NOT NULL DEFAULT 0,
        next_try_ms  INTEGER NOT NULL,
        lease_ms     INTEGER NOT NULL DEFAULT 0,
        last_error   TEXT NOT NULL DEFAULT '',
        sent_ms      INTEGER
    );
    "#,
    // fax sessions (issue 5 item 7): one row per T.30 session, linked to cdr.uniqueid (not a
    // declared foreign key: the row may be written before the call's end), with the state of the
    // received fax's email (mail_*). Only a new table: its place among other branches' migrations
    // does not matter.
    r#"
    CREATE TABLE IF NOT EXISTS fax_sessions (
        id            INTEGER PRIMARY KEY,
        uniqueid      TEXT NOT NULL DEFAULT '',
        direction     TEXT NOT NULL CHECK (direction IN ('in', 'out')),
        remote_id     TEXT NOT NULL DEFAULT '',
        local_id      TEXT NOT NULL DEFAULT '',
        remote_number TEXT NOT NULL DEFAULT '',
        pages         INTEGER NOT NULL DEFAULT 0,
        bit_rate      INTEGER NOT NULL DEFAULT 0,
        modem         TEXT NOT NULL DEFAULT '',
        compression   TEXT NOT NULL DEFAULT '',
        ecm           INTEGER NOT NULL DEFAULT 0,
        resolution    TEXT NOT NULL DEFAULT '',
        result_code   INTEGER NOT NULL,
        result_text   TEXT NOT NULL DEFAULT '',
        start         TEXT NOT NULL,
        start_ms      INTEGER NOT NULL,
        duration_ms   INTEGER NOT NULL DEFAULT 0,
        file          TEXT NOT NULL DEFAULT '',
        pdf           TEXT NOT NULL DEFAULT '',
        partial       INTEGER NOT NULL DEFAULT 0,
        document      TEXT NOT NULL DEFAULT '',
        mail_to       TEXT NOT NULL DEFAULT '',
        mail_attempts INTEGER NOT NULL DEFAULT 0,
        mail_next_ms  INTEGER,
        mail_lease_ms INTEGER NOT NULL DEFAULT 0,
        mail_error    TEXT NOT NULL DEFAULT '',
        mail_sent_ms  INTEGER
    );
    CREATE INDEX IF NOT EXISTS fax_sessions_start_ms ON fax_sessions(start_ms);
    CREATE INDEX IF NOT EXISTS fax_sessions_uniqueid ON fax_sessions(uniqueid);
    CREATE INDEX IF NOT EXISTS fax_sessions_mail ON fax_sessions(mail_next_ms) WHERE mail_sent_ms IS NULL;
    "#,
    // 6 (fax queue): outbound fax jobs (apps::fax::queue). Only a new table: its place among other
    // branches' migrations does not matter.
    r#"
    CREATE TABLE IF NOT EXISTS fax_jobs (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        number          TEXT NOT NULL,
        files           TEXT NOT NULL DEFAULT '[]',
        document        TEXT NOT NULL,
        pages           INTEGER NOT NULL,
        header          TEXT,
        source          TEXT NOT NULL DEFAULT 'cli',
        caller          TEXT NOT NULL DEFAULT '',
        uniqueid        TEXT NOT NULL DEFAULT '',
        created_ms      INTEGER NOT NULL,
        not_before_ms   INTEGER NOT NULL,
        state           TEXT NOT NULL DEFAULT 'queued'
                        CHECK (state IN ('queued', 'sending', 'done', 'failed', 'cancelled')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_ms INTEGER NOT NULL,
        last_result     TEXT,
        last_cause      TEXT,
        last_call       TEXT,
        pages_sent      INTEGER NOT NULL DEFAULT 0,
        updated_ms      INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS fax_jobs_due ON fax_jobs(state, next_attempt_ms);
    "#,
];

/// The schema version this build writes: the number of migrations it knows.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to [`SCHEMA_VERSION`], one migration per transaction.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    loop {
        // IMMEDIATE takes the write lock before reading the version, so two processes opening the
        // same file at once cannot both apply the same step.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let found = user_version(&tx)?;
        check_not_newer(found, path)?;
        let Some(step) = usize::try_from(found).ok().and_then(|i| MIGRATIONS.get(i)) else {
            return Ok(());
        };
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", found + 1)?;
        tx.commit()?;
        tracing::info!(version = found + 1, "call log schema migrated");
    }
}

/// For a read-only handle: the schema must be exactly the one this build knows, since it cannot
/// migrate.
pub(crate) fn check_readable(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let found = user_version(conn)?;
    check_not_newer(found, path)?;
    if found < SCHEMA_VERSION {
        return Err(StoreError::SchemaTooOld {
            path: path.to_owned(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    Ok(())
}

fn user_version(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.pragma_query_value(None, "user_version", |row| row.get(0))?)
}

/// A newer telvox may have changed meanings this build does not know: writing to it could corrupt
/// them.
fn check_not_newer(found: i64, path: &Path) -> Result<(), StoreError> {
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            path: path.to_owned(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    Ok(())
}
