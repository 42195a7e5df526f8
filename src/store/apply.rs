//! Turning call events into call-log rows, and closing the rows a crash left open.
//!
//! Every write is idempotent where an event can arrive twice (a duplicated start, answer or end
//! changes nothing), and an event about a call the log does not have is logged and skipped: one odd
//! event must never stop the log.

use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};

use super::time::{iso_utc_ms, offset_ms, whole_seconds};
use super::{Store, StoreError};
use crate::engine::events::{CallEvent, Disposition, EventKind};
use crate::fixed::{DigitLog, Label, Name, Number};
use crate::hw::Cause;

/// `call_path` rows kept per call; a flow looping forever must not fill the disk.
const MAX_PATH_ROWS_PER_CALL: i64 = 1_000;
/// Keys kept per call in `call_digits` (and appended to `cdr.digits`).
const MAX_DIGITS_PER_CALL: i64 = 1_000;

/// What `cdr` already holds about a call, as far as later events need it.
struct CallRow {
    start_ms: i64,
    answer_ms: Option<i64>,
    end_ms: Option<i64>,
    digits: String,
}

/// The fields of a `CallStart` event.
struct NewCall<'a> {
    event: &'a CallEvent,
    start_ms: i64,
    src: &'a Number,
    dst: &'a Number,
    name: &'a Name,
    flow: &'a Label,
}

/// The fields of a `CallEnd` event, with its instant resolved to epoch ms.
struct Ending<'a> {
    end_ms: i64,
    cause: Cause,
    disposition: Disposition,
    digits: &'a DigitLog,
}

impl Store {
    /// Applies a batch of events in one transaction: all of them, or (on error) none.
    pub fn apply(&mut self, events: &[CallEvent]) -> Result<(), StoreError> {
        self.apply_counted(events).map(|_skipped| ())
    }

    /// [`Store::apply`], returning how many events were skipped because their call is not in the
    /// log.
    pub(crate) fn apply_counted(&mut self, events: &[CallEvent]) -> Result<u64, StoreError> {
        // IMMEDIATE takes the write lock up front: a deferred transaction that reads first and then
        // writes can fail with "busy" without waiting when another writer got in between.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut skipped = 0;
        for event in events {
            if !apply_one(&tx, event)? {
                skipped += 1;
            }
        }
        tx.commit()?;
        Ok(skipped)
    }

    /// Closes every call the log still has open — at startup those were cut off by a crash. A call
    /// is dated as ending at the daemon's last heartbeat (or at its start, if it started after
    /// that), with disposition INTERRUPTED and no hangup cause. `now_ms` caps a heartbeat that lies
    /// in the future (the wall clock stepped back). Returns how many calls were closed.
    pub fn recover_interrupted(&mut self, now_ms: i64) -> Result<usize, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let heartbeat_ms: Option<i64> = tx
            .query_row("SELECT at_ms FROM daemon_heartbeat WHERE id = 1", [], |row| {
                row.get(0)
            })
            .optional()?;
        let open = open_rows(&tx)?;
        for (uniqueid, row) in &open {
            let end_ms = interrupted_end_ms(row.start_ms, heartbeat_ms, now_ms);
            close_interrupted(&tx, uniqueid, row, end_ms)?;
            tracing::warn!(
                call = %uniqueid,
                end = %iso_utc_ms(end_ms),
                "call was up when the daemon stopped; logged as INTERRUPTED"
            );
        }
        tx.commit()?;
        Ok(open.len())
    }
}

/// Applies one event; false when it was skipped because its call is unknown.
fn apply_one(tx: &Transaction, event: &CallEvent) -> Result<bool, StoreError> {
    let uniqueid = event.call.to_string();
    if let EventKind::CallStart {
        start_epoch_ms,
        ref src,
        ref dst,
        ref name,
        ref flow,
    } = event.kind
    {
        insert_call(
            tx,
            &uniqueid,
            &NewCall {
                event,
                start_ms: start_epoch_ms,
                src,
                dst,
                name,
                flow,
            },
        )?;
        return Ok(true);
    }
    let Some(row) = find_call(tx, &uniqueid)? else {
        tracing::warn!(
            call = %uniqueid,
            event = event.type_name(),
            "event for a call not in the log; skipped"
        );
        return Ok(false);
    };
    let at_ms = offset_ms(row.start_ms, event.at_sample);
    match event.kind {
        EventKind::Answer => set_answer(tx, &uniqueid, at_ms)?,
        EventKind::Digit { digit } => append_digit(tx, &uniqueid, digit, at_ms)?,
        // Key durations are on the event stream; the call log keeps the keys themselves.
        EventKind::DigitEnd { .. } | EventKind::Flash => {}
        EventKind::State { ref state } => append_state(tx, &uniqueid, state.as_str(), at_ms)?,
        EventKind::CallEnd {
            cause,
            disposition,
            ref digits,
        } => complete_call(
            tx,
            &uniqueid,
            &row,
            &Ending {
                end_ms: at_ms,
                cause,
                disposition,
                digits,
            },
        )?,
        // Inserted above; matched here so that a new event kind fails to compile until handled.
        EventKind::CallStart { .. } => {}
    }
    Ok(true)
}

/// Inserts the call's row; a second start for the same uniqueid changes nothing.
fn insert_call(tx: &Transaction, uniqueid: &str, call: &NewCall) -> Result<(), StoreError> {
    // Stored as SQLite's i64; a sequence past i64::MAX cannot happen in practice, so saturate.
    let seq = i64::try_from(call.event.call.seq).unwrap_or(i64::MAX);
    let mut stmt = tx.prepare_cached(
        "INSERT INTO cdr (uniqueid, seq, src, dst, clid, channel, flow, start, start_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT(uniqueid) DO NOTHING",
    )?;
    let inserted = stmt.execute(params![
        uniqueid,
        seq,
        call.src.as_str(),
        call.dst.as_str(),
        call.name.as_str(),
        call.event.chan.to_string(),
        call.flow.as_str(),
        iso_utc_ms(call.start_ms),
        call.start_ms,
    ])?;
    if inserted == 0 {
        tracing::debug!(call = %uniqueid, "duplicate call start ignored");
    }
    Ok(())
}

fn find_call(tx: &Transaction, uniqueid: &str) -> Result<Option<CallRow>, StoreError> {
    let mut stmt =
        tx.prepare_cached("SELECT start_ms, answer_ms, end_ms, digits FROM cdr WHERE uniqueid = ?1")?;
    let row = stmt
        .query_row([uniqueid], |row| {
            Ok(CallRow {
                start_ms: row.get(0)?,
                answer_ms: row.get(1)?,
                end_ms: row.get(2)?,
                digits: row.get(3)?,
            })
        })
        .optional()?;
    Ok(row)
}

/// Sets the answer time; the first answer wins, so a repeated one changes nothing.
fn set_answer(tx: &Transaction, uniqueid: &str, answer_ms: i64) -> Result<(), StoreError> {
    let mut stmt = tx.prepare_cached(
        "UPDATE cdr SET answer = ?2, answer_ms = ?3 WHERE uniqueid = ?1 AND answer_ms IS NULL",
    )?;
    stmt.execute(params![uniqueid, iso_utc_ms(answer_ms), answer_ms])?;
    Ok(())
}

/// Appends a key to `call_digits` and to the row's `digits`, up to [`MAX_DIGITS_PER_CALL`].
fn append_digit(tx: &Transaction, uniqueid: &str, digit: char, at_ms: i64) -> Result<(), StoreError> {
    let idx = next_idx(
        tx,
        "SELECT COALESCE(MAX(idx) + 1, 0) FROM call_digits WHERE uniqueid = ?1",
        uniqueid,
    )?;
    if idx >= MAX_DIGITS_PER_CALL {
        tracing::warn!(
            call = %uniqueid,
            limit = MAX_DIGITS_PER_CALL,
            "too many digits in one call; key not logged"
        );
        return Ok(());
    }
    let mut utf8 = [0u8; 4];
    let key = digit.encode_utf8(&mut utf8);
    let mut insert =
        tx.prepare_cached("INSERT INTO call_digits (uniqueid, idx, digit, at_ms) VALUES (?1, ?2, ?3, ?4)")?;
    insert.execute(params![uniqueid, idx, &*key, at_ms])?;
    let mut update = tx.prepare_cached("UPDATE cdr SET digits = digits || ?2 WHERE uniqueid = ?1")?;
    update.execute(params![uniqueid, &*key])?;
    Ok(())
}

/// Appends a flow state to `call_path`, up to [`MAX_PATH_ROWS_PER_CALL`].
fn append_state(tx: &Transaction, uniqueid: &str, state: &str, at_ms: i64) -> Result<(), StoreError> {
    let idx = next_idx(
        tx,
        "SELECT COALESCE(MAX(idx) + 1, 0) FROM call_path WHERE uniqueid = ?1",
        uniqueid,
    )?;
    if idx >= MAX_PATH_ROWS_PER_CALL {
        tracing::warn!(
            call = %uniqueid,
            limit = MAX_PATH_ROWS_PER_CALL,
            "too many states in one call; state not logged"
        );
        return Ok(());
    }
    let mut stmt =
        tx.prepare_cached("INSERT INTO call_path (uniqueid, idx, state, at_ms) VALUES (?1, ?2, ?3, ?4)")?;
    stmt.execute(params![uniqueid, idx, state, at_ms])?;
    Ok(())
}

/// The index the next row of a call's path or digits gets (0 for the first).
fn next_idx(tx: &Transaction, sql: &str, uniqueid: &str) -> Result<i64, StoreError> {
    let mut stmt = tx.prepare_cached(sql)?;
    Ok(stmt.query_row([uniqueid], |row| row.get(0))?)
}

/// Completes the row at the call's end; a repeated end changes nothing.
fn complete_call(tx: &Transaction, uniqueid: &str, row: &CallRow, end: &Ending) -> Result<(), StoreError> {
    if row.end_ms.is_some() {
        tracing::debug!(call = %uniqueid, "duplicate call end ignored");
        return Ok(());
    }
    let mut stmt = tx.prepare_cached(
        r#"UPDATE cdr SET "end" = ?2, end_ms = ?3, duration = ?4, billsec = ?5, disposition = ?6,
                          hangup_cause = ?7, hangup_cause_code = ?8, digits = ?9
           WHERE uniqueid = ?1"#,
    )?;
    stmt.execute(params![
        uniqueid,
        iso_utc_ms(end.end_ms),
        end.end_ms,
        whole_seconds(row.start_ms, end.end_ms),
        billsec(row.answer_ms, end.end_ms),
        end.disposition.as_str(),
        end.cause.name(),
        end.cause.q850(),
        pick_digits(&row.digits, end.digits),
    ])?;
    Ok(())
}

/// Asterisk's billsec: whole seconds from answer to end, 0 for a call never answered.
fn billsec(answer_ms: Option<i64>, end_ms: i64) -> i64 {
    answer_ms.map_or(0, |answer_ms| whole_seconds(answer_ms, end_ms))
}

/// The digits a finished call is logged with. The engine's log holds every key unless it overflowed
/// (it keeps 64); the Digit events behind `logged` are not capped that low but may have been
/// dropped under load. So: the engine's log when complete, else whichever holds more keys.
fn pick_digits<'a>(logged: &'a str, engine: &'a DigitLog) -> &'a str {
    if !engine.is_truncated() || engine.len() >= logged.len() {
        engine.as_str()
    } else {
        logged
    }
}

/// The calls still open, with their rows.
fn open_rows(tx: &Transaction) -> Result<Vec<(String, CallRow)>, StoreError> {
    let mut stmt =
        tx.prepare("SELECT uniqueid, start_ms, answer_ms, digits FROM cdr WHERE end_ms IS NULL")?;
    let rows = stmt.query_map([], |row| {
        let call = CallRow {
            start_ms: row.get(1)?,
            answer_ms: row.get(2)?,
            end_ms: None,
            digits: row.get(3)?,
        };
        Ok((row.get(0)?, call))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// When a call cut off by a crash is taken to have ended. The daemon was alive at its last
/// heartbeat, so the call lasted at least until then; a heartbeat from before the call (or none)
/// tells nothing, so such a call is dated as ending when it started. A heartbeat after `now_ms` is
/// a clock that stepped back since; it is capped so that no call ends after the moment it was
/// recovered.
fn interrupted_end_ms(start_ms: i64, heartbeat_ms: Option<i64>, now_ms: i64) -> i64 {
    heartbeat_ms.unwrap_or(start_ms).min(now_ms).max(start_ms)
}

fn close_interrupted(tx: &Transaction, uniqueid: &str, row: &CallRow, end_ms: i64) -> Result<(), StoreError> {
    tx.execute(
        r#"UPDATE cdr SET "end" = ?2, end_ms = ?3, duration = ?4, billsec = ?5, disposition = ?6,
                          hangup_cause = NULL, hangup_cause_code = NULL
           WHERE uniqueid = ?1"#,
        params![
            uniqueid,
            iso_utc_ms(end_ms),
            end_ms,
            whole_seconds(row.start_ms, end_ms),
            billsec(row.answer_ms, end_ms),
            Disposition::Interrupted.as_str(),
        ],
    )?;
    Ok(())
}
