//! Reading the call log back: `telvox calls` and the per-call path.

use super::{Store, StoreError};

/// Calls listed when the filter does not say.
pub const DEFAULT_CALLS_LIMIT: usize = 50;
/// The most calls one query returns, whatever the filter asks: the CLI holds them all in memory.
pub const MAX_CALLS_LIMIT: usize = 10_000;
/// States listed per call at most (the store keeps no more than 1,000 anyway).
const MAX_PATH_ROWS: i64 = 10_000;

/// Which calls `telvox calls` lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallFilter {
    /// Only calls that started at or after this instant (epoch ms).
    pub since_ms: Option<i64>,
    /// Only calls whose `src` contains this text (literally: `%` and `_` are not wildcards).
    pub caller: Option<String>,
    /// At most this many calls, newest first; capped at [`MAX_CALLS_LIMIT`].
    pub limit: usize,
}

impl Default for CallFilter {
    fn default() -> Self {
        CallFilter {
            since_ms: None,
            caller: None,
            limit: DEFAULT_CALLS_LIMIT,
        }
    }
}

/// One call-log row as `telvox calls --json` prints it. The field names and their meanings are a
/// contract other tools rely on: add fields if needed, never rename or remove one.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CallRecord {
    pub uniqueid: String,
    pub src: String,
    pub dst: String,
    /// The caller's name as the network sent it ('' if none).
    pub clid: String,
    /// `span/chan`, e.g. `1/5`.
    pub channel: String,
    pub flow: String,
    /// ISO-8601 UTC with ms, e.g. `2026-11-22T22:14:23.123Z`.
    pub start: String,
    /// Null if the call was never answered.
    pub answer: Option<String>,
    /// Null while the call is up.
    pub end: Option<String>,
    /// Whole seconds from start to end; null while the call is up.
    pub duration: Option<i64>,
    /// Whole seconds from answer to end (0 if unanswered); null while the call is up.
    pub billsec: Option<i64>,
    /// ANSWERED, NO ANSWER, BUSY, FAILED or INTERRUPTED; null while the call is up.
    pub disposition: Option<String>,
    /// Asterisk's cause name, e.g. NORMAL_CLEARING; null while up and for interrupted calls.
    pub hangup_cause: Option<String>,
    /// The Q.850 cause value; null whenever `hangup_cause` is.
    pub hangup_cause_code: Option<i64>,
    /// Every key the caller pressed, in order ('' if none).
    pub digits: String,
}

impl Store {
    /// The calls `filter` selects, newest first.
    pub fn calls(&self, filter: &CallFilter) -> Result<Vec<CallRecord>, StoreError> {
        // One fixed statement with optional parameters rather than SQL built from pieces: the
        // caller's text only ever travels as a bound parameter.
        let mut stmt = self.conn.prepare_cached(
            r#"SELECT uniqueid, src, dst, clid, channel, flow, start, answer, "end", duration,
                      billsec, disposition, hangup_cause, hangup_cause_code, digits
               FROM cdr
               WHERE (?1 IS NULL OR start_ms >= ?1)
                 AND (?2 IS NULL OR src LIKE ?2 ESCAPE '\')
               ORDER BY start_ms DESC, id DESC
               LIMIT ?3"#,
        )?;
        let pattern = filter.caller.as_deref().map(contains_pattern);
        // usize → i64 cannot fail once capped at MAX_CALLS_LIMIT.
        let limit = i64::try_from(filter.limit.min(MAX_CALLS_LIMIT)).unwrap_or(0);
        let rows = stmt.query_map(
            rusqlite::params![filter.since_ms, pattern, limit],
            record_from_row,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The states a call's flow went through, in order, each with when it was entered (epoch ms).
    pub fn call_path(&self, uniqueid: &str) -> Result<Vec<(String, i64)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT state, at_ms FROM call_path WHERE uniqueid = ?1 ORDER BY idx LIMIT ?2")?;
        let rows = stmt.query_map(rusqlite::params![uniqueid, MAX_PATH_ROWS], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

fn record_from_row(row: &rusqlite::Row) -> rusqlite::Result<CallRecord> {
    Ok(CallRecord {
        uniqueid: row.get(0)?,
        src: row.get(1)?,
        dst: row.get(2)?,
        clid: row.get(3)?,
        channel: row.get(4)?,
        flow: row.get(5)?,
        start: row.get(6)?,
        answer: row.get(7)?,
        end: row.get(8)?,
        duration: row.get(9)?,
        billsec: row.get(10)?,
        disposition: row.get(11)?,
        hangup_cause: row.get(12)?,
        hangup_cause_code: row.get(13)?,
        digits: row.get(14)?,
    })
}

/// A LIKE pattern matching any text that contains `text` literally (escape character `\`).
fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(ch);
    }
    pattern.push('%');
    pattern
}
