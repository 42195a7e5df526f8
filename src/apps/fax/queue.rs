//! The outbound fax queue, kept in the call log database (`fax_jobs`, see `store::schema`): what
//! `telvox fax send` and fax-back queue, and what the dispatcher (`super::dispatch`) sends.
//!
//! A job is one document to one number. Its files are validated and converted when it is queued
//! (TIFF-F as is, PDF/PostScript through ghostscript as catalog documents are; several files are
//! joined into one document with libtiff's `tiffcp`) and kept in `<data_dir>/fax/out/<job id>/`,
//! written under a temporary name and renamed into place in the same transaction that inserts the
//! row: a job never depends on the user's file staying put, and nothing is queued for a bad file.
//!
//! States: `queued` (waiting for its time: `not_before_ms`, then `next_attempt_ms`), `sending` (a
//! call is up or being placed), `done`, `failed` (retries used up, or the document is unusable),
//! `cancelled`. A job left `sending` by a daemon that died goes back to `queued` at start.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::catalog::{ghostscript_to_tiff, validate};
use super::tiff::FaxResolution;

/// Files one job may be made of.
pub const MAX_FILES: usize = 32;
/// Numbers one broadcast may go to.
pub const MAX_BROADCAST_NUMBERS: usize = 10_000;
/// Longest number dialled (the engine's fixed number length).
pub const MAX_NUMBER_CHARS: usize = 31;

pub fn now_ms() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// `<data_dir>/fax/out`: one directory per job.
pub fn out_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("fax").join("out")
}

/// Opens the call log for the queue (migrating it first, as the store does).
pub fn open(db: &Path) -> Result<Connection, String> {
    crate::store::Store::open(db).map_err(|e| format!("cannot open the call log {}: {e}", db.display()))?;
    let conn = Connection::open(db).map_err(|e| format!("cannot open {}: {e}", db.display()))?;
    conn.busy_timeout(std::time::Duration::from_millis(5000))
        .map_err(|e| e.to_string())?;
    Ok(conn)
}

/// One queued fax.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Job {
    pub id: i64,
    pub number: String,
    /// The files it was made from, as given.
    pub files: Vec<String>,
    /// The TIFF-F sent.
    pub document: String,
    pub pages: i64,
    pub header: Option<String>,
    /// `cli` or `faxback` (then `caller` and `uniqueid` name the call that asked for it).
    pub source: String,
    pub caller: String,
    pub uniqueid: String,
    pub created_ms: i64,
    pub not_before_ms: i64,
    pub state: String,
    pub attempts: i64,
    pub next_attempt_ms: i64,
    /// `sent`, `busy`, `no answer`, `call failed`, `fax failed: …`, `cancelled`.
    pub last_result: Option<String>,
    /// The Q.850 cause name of the last attempt's call.
    pub last_cause: Option<String>,
    /// The call log id (`uniqueid`) of the last attempt.
    pub last_call: Option<String>,
    pub pages_sent: i64,
    pub updated_ms: i64,
}

const JOB_COLUMNS: &str = "id, number, files, document, pages, header, source, caller, uniqueid, \
     created_ms, not_before_ms, state, attempts, next_attempt_ms, last_result, last_cause, last_call, \
     pages_sent, updated_ms";

fn job_of(row: &rusqlite::Row) -> rusqlite::Result<Job> {
    let files: String = row.get(2)?;
    Ok(Job {
        id: row.get(0)?,
        number: row.get(1)?,
        files: serde_json::from_str(&files).unwrap_or_default(),
        document: row.get(3)?,
        pages: row.get(4)?,
        header: row.get(5)?,
        source: row.get(6)?,
        caller: row.get(7)?,
        uniqueid: row.get(8)?,
        created_ms: row.get(9)?,
        not_before_ms: row.get(10)?,
        state: row.get(11)?,
        attempts: row.get(12)?,
        next_attempt_ms: row.get(13)?,
        last_result: row.get(14)?,
        last_cause: row.get(15)?,
        last_call: row.get(16)?,
        pages_sent: row.get(17)?,
        updated_ms: row.get(18)?,
    })
}

/// Checks a fax number as dialled: digits, `*`, `#`, an optional leading `+`; spaces, `-`, `.`,
/// `(` and `)` are dropped. The number as it will be dialled, or what is wrong.
pub fn normalize_number(text: &str) -> Result<String, String> {
    let number: String = text
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let body = number.strip_prefix('+').unwrap_or(&number);
    if body.is_empty() {
        return Err(format!("{text:?} is not a fax number: no digits"));
    }
    if let Some(bad) = body
        .chars()
        .find(|c| !(c.is_ascii_digit() || *c == '*' || *c == '#'))
    {
        return Err(format!(
            "{text:?} is not a fax number: {bad:?} is not a digit, * or # (spaces and dashes are allowed)"
        ));
    }
    if number.len() > MAX_NUMBER_CHARS {
        return Err(format!(
            "{text:?} is not a fax number: longer than {MAX_NUMBER_CHARS} characters"
        ));
    }
    Ok(number)
}

/// Reads a broadcast list: one number per line; blank lines and `#` comments are skipped. A bad
/// number is an error naming the file and line.
pub fn read_number_list(path: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let mut numbers = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let entry = line.trim();
        if entry.is_empty() || entry.starts_with('#') {
            continue;
        }
        let number = normalize_number(entry).map_err(|e| format!("{}:{}: {e}", path.display(), index + 1))?;
        numbers.push(number);
        if numbers.len() > MAX_BROADCAST_NUMBERS {
            return Err(format!(
                "{}:{}: more than {MAX_BROADCAST_NUMBERS} numbers in one broadcast",
                path.display(),
                index + 1
            ));
        }
    }
    if numbers.is_empty() {
        return Err(format!("{}: no numbers in the list", path.display()));
    }
    Ok(numbers)
}

/// A document made ready to queue: in a temporary directory under the out directory, removed when
/// dropped (its copies live in the jobs' own directories).
#[derive(Debug)]
pub struct Prepared {
    dir: PathBuf,
    document: PathBuf,
    pub pages: usize,
    names: Vec<String>,
}

impl Drop for Prepared {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What kind of document a file is, by its first bytes.
fn kind_of(path: &Path) -> Result<&'static str, String> {
    use std::io::Read;
    let mut head = [0u8; 8];
    let mut file = std::fs::File::open(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let n = file
        .read(&mut head)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let head = &head[..n];
    if head.starts_with(b"II*\0") || head.starts_with(b"MM\0*") {
        Ok("tiff")
    } else if head.starts_with(b"%PDF") {
        Ok("pdf")
    } else if head.starts_with(b"%!") {
        Ok("postscript")
    } else {
        Err(format!(
            "{}: not a fax document: telvox sends TIFF-F, PDF and PostScript files",
            path.display()
        ))
    }
}

/// Validates and converts `files` into one TIFF-F in a new temporary directory under `out_dir`.
/// Every problem names the file.
pub fn prepare(out_dir: &Path, files: &[PathBuf]) -> Result<Prepared, String> {
    if files.is_empty() {
        return Err("no file to send".into());
    }
    if files.len() > MAX_FILES {
        return Err(format!(
            "{} files; one fax takes at most {MAX_FILES}",
            files.len()
        ));
    }
    std::fs::create_dir_all(out_dir).map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
    let dir = out_dir.join(format!(
        ".new-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    ));
    std::fs::create_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut prepared = Prepared {
        document: dir.join("document.tif"),
        dir,
        pages: 0,
        names: files
            .iter()
            .map(|f| {
                std::path::absolute(f)
                    .unwrap_or_else(|_| f.clone())
                    .display()
                    .to_string()
            })
            .collect(),
    };
    let mut parts = Vec::new();
    for (index, file) in files.iter().enumerate() {
        let part = prepared.dir.join(format!("part-{}.tif", index + 1));
        match kind_of(file)? {
            "tiff" => {
                validate(file).map_err(|e| format!("{}: not a usable fax TIFF: {e}", file.display()))?;
                std::fs::copy(file, &part).map_err(|e| format!("{}: cannot copy: {e}", file.display()))?;
            }
            _ => {
                ghostscript_to_tiff(file, &part, FaxResolution::Fine)
                    .map_err(|e| format!("{}: {e}", file.display()))?;
                validate(&part).map_err(|e| {
                    format!("{}: ghostscript's output is not a fax page: {e}", file.display())
                })?;
            }
        }
        parts.push(part);
    }
    if parts.len() == 1 {
        std::fs::rename(&parts[0], &prepared.document)
            .map_err(|e| format!("cannot move the document into place: {e}"))?;
    } else {
        join_tiffs(&parts, &prepared.document)?;
    }
    let (pages, _) = validate(&prepared.document).map_err(|e| format!("the joined document: {e}"))?;
    prepared.pages = pages;
    Ok(prepared)
}

/// Joins TIFF-F files page after page with libtiff's `tiffcp` (each page keeps its coding).
fn join_tiffs(parts: &[PathBuf], output: &Path) -> Result<(), String> {
    let out = Command::new("tiffcp")
        .args(parts)
        .arg(output)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                "joining several files needs libtiff's tiffcp (libtiff-tools), which is not installed".into()
            } else {
                format!("cannot run tiffcp: {e}")
            }
        })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(format!("tiffcp could not join the files: {}", stderr.trim()));
    }
    Ok(())
}

/// What a new job says besides its number and document.
#[derive(Clone, Debug, Default)]
pub struct NewJob {
    pub header: Option<String>,
    pub not_before_ms: i64,
    pub source: String,
    pub caller: String,
    pub uniqueid: String,
}

/// Queues `prepared` to each of `numbers` (one job each, each with its own copy of the document),
/// all or nothing. Returns the job ids.
pub fn enqueue(
    conn: &mut Connection,
    out_dir: &Path,
    prepared: &Prepared,
    numbers: &[String],
    job: &NewJob,
) -> Result<Vec<i64>, String> {
    let db = |e: rusqlite::Error| format!("the fax queue: {e}");
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)?;
    let now = now_ms();
    let files = serde_json::to_string(&prepared.names).unwrap_or_else(|_| "[]".into());
    let mut ids = Vec::new();
    let mut made: Vec<PathBuf> = Vec::new();
    let result = (|| {
        for number in numbers {
            tx.execute(
                "INSERT INTO fax_jobs (number, files, document, pages, header, source, caller, uniqueid,
                     created_ms, not_before_ms, state, attempts, next_attempt_ms, pages_sent, updated_ms)
                 VALUES (?1, ?2, '', ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'queued', 0, ?9, 0, ?8)",
                params![
                    number,
                    files,
                    prepared.pages as i64,
                    job.header,
                    job.source,
                    job.caller,
                    job.uniqueid,
                    now,
                    job.not_before_ms
                ],
            )
            .map_err(db)?;
            let id = tx.last_insert_rowid();
            let final_dir = out_dir.join(id.to_string());
            let temporary = out_dir.join(format!(".job-{id}.tmp"));
            let _ = std::fs::remove_dir_all(&temporary);
            // A directory by this id can only be a leftover of a transaction that never committed.
            let _ = std::fs::remove_dir_all(&final_dir);
            std::fs::create_dir(&temporary)
                .map_err(|e| format!("cannot create {}: {e}", temporary.display()))?;
            // A broadcast's jobs share one file (hard links) where the file system allows.
            let copy = temporary.join("document.tif");
            if std::fs::hard_link(&prepared.document, &copy).is_err() {
                std::fs::copy(&prepared.document, &copy)
                    .map_err(|e| format!("cannot copy the document into {}: {e}", temporary.display()))?;
            }
            std::fs::rename(&temporary, &final_dir)
                .map_err(|e| format!("cannot move {} into place: {e}", temporary.display()))?;
            made.push(final_dir.clone());
            let document = final_dir.join("document.tif");
            tx.execute(
                "UPDATE fax_jobs SET document = ?1 WHERE id = ?2",
                params![document.display().to_string(), id],
            )
            .map_err(db)?;
            ids.push(id);
        }
        Ok::<(), String>(())
    })();
    match result.and_then(|()| tx.commit().map_err(db)) {
        Ok(()) => Ok(ids),
        Err(e) => {
            for dir in made {
                let _ = std::fs::remove_dir_all(dir);
            }
            Err(e)
        }
    }
}

/// Every job, newest first.
pub fn list(conn: &Connection) -> rusqlite::Result<Vec<Job>> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM fax_jobs ORDER BY id DESC");
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([], job_of)?;
    rows.collect()
}

pub fn get(conn: &Connection, id: i64) -> rusqlite::Result<Option<Job>> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM fax_jobs WHERE id = ?1");
    conn.query_row(&sql, [id], job_of).optional()
}

/// Cancels a job that is not finished. A job being sent is cancelled too: the dispatcher hangs its
/// call up and does not retry it. Err says why not (no such job, already finished).
pub fn cancel(conn: &Connection, id: i64) -> Result<Job, String> {
    let db = |e: rusqlite::Error| format!("the fax queue: {e}");
    let job = get(conn, id)
        .map_err(db)?
        .ok_or_else(|| format!("no fax job {id}"))?;
    if !matches!(job.state.as_str(), "queued" | "sending") {
        return Err(format!("fax job {id} is {}: nothing to cancel", job.state));
    }
    conn.execute(
        "UPDATE fax_jobs SET state = 'cancelled', last_result = COALESCE(last_result, 'cancelled'),
             updated_ms = ?2
         WHERE id = ?1 AND state IN ('queued', 'sending')",
        params![id, now_ms()],
    )
    .map_err(db)?;
    get(conn, id)
        .map_err(db)?
        .ok_or_else(|| format!("no fax job {id}"))
}

/// Jobs a dead daemon left `sending` go back to `queued` (their attempt is not counted).
pub fn requeue_interrupted(conn: &Connection) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE fax_jobs SET state = 'queued', attempts = MAX(attempts - 1, 0),
             last_result = 'interrupted', updated_ms = ?1
         WHERE state = 'sending'",
        [now_ms()],
    )
}

/// Up to `limit` jobs due at `now`, oldest due first.
pub fn due(conn: &Connection, now: i64, limit: usize) -> rusqlite::Result<Vec<Job>> {
    let sql = format!(
        "SELECT {JOB_COLUMNS} FROM fax_jobs
         WHERE state = 'queued' AND not_before_ms <= ?1 AND next_attempt_ms <= ?1
         ORDER BY MAX(not_before_ms, next_attempt_ms), id LIMIT ?2"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params![now, limit as i64], job_of)?;
    rows.collect()
}

/// The job's next attempt starts: `sending`, one more attempt. False when it is no longer queued.
pub fn mark_sending(conn: &Connection, id: i64) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "UPDATE fax_jobs SET state = 'sending', attempts = attempts + 1, updated_ms = ?2
         WHERE id = ?1 AND state = 'queued'",
        params![id, now_ms()],
    )?;
    Ok(n == 1)
}

/// The attempt was never placed (no channel took it): back to `queued`, not counted.
pub fn unmark_sending(conn: &Connection, id: i64) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE fax_jobs SET state = 'queued', attempts = MAX(attempts - 1, 0), updated_ms = ?2
         WHERE id = ?1 AND state = 'sending'",
        params![id, now_ms()],
    )?;
    Ok(())
}

/// How an attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptResult {
    /// The job's new state: `done`, `queued` (retry at `next_attempt_ms`) or `failed`.
    pub state: &'static str,
    pub next_attempt_ms: i64,
    pub result: String,
    pub cause: Option<String>,
    pub call: Option<String>,
    pub pages_sent: i64,
}

/// Records an attempt's end (unless the job was cancelled meanwhile: it stays cancelled).
pub fn finish_attempt(conn: &Connection, id: i64, r: &AttemptResult) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE fax_jobs SET state = ?2, next_attempt_ms = ?3, last_result = ?4, last_cause = ?5,
             last_call = ?6, pages_sent = ?7, updated_ms = ?8
         WHERE id = ?1 AND state = 'sending'",
        params![
            id,
            r.state,
            r.next_attempt_ms,
            r.result,
            r.cause,
            r.call,
            r.pages_sent,
            now_ms()
        ],
    )?;
    conn.execute(
        "UPDATE fax_jobs SET last_result = ?2, last_cause = ?3, last_call = ?4, pages_sent = ?5
         WHERE id = ?1 AND state = 'cancelled'",
        params![id, r.result, r.cause, r.call, r.pages_sent],
    )?;
    Ok(())
}

/// Jobs per state, for `telvox status` (read-only; None when the database cannot be read).
pub fn state_counts(db: &Path) -> Option<serde_json::Value> {
    let conn = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).ok()?;
    let mut stmt = conn
        .prepare("SELECT state, COUNT(*) FROM fax_jobs GROUP BY state")
        .ok()?;
    let mut counts = serde_json::json!({"queued": 0, "sending": 0, "done": 0, "failed": 0, "cancelled": 0});
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .ok()?;
    for (state, n) in rows.flatten() {
        counts[state] = n.into();
    }
    Some(counts)
}

/// Whether the job was cancelled (the dispatcher asks while its call is up).
pub fn is_cancelled(conn: &Connection, id: i64) -> rusqlite::Result<bool> {
    let state: Option<String> = conn
        .query_row("SELECT state FROM fax_jobs WHERE id = ?1", [id], |r| r.get(0))
        .optional()?;
    Ok(state.as_deref() == Some("cancelled"))
}

/// What [`prune`] removed from `fax/out`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Finished jobs whose files were removed.
    pub jobs: usize,
    /// Directories no job owns: a queueing or a conversion cut off before it committed.
    pub leftovers: usize,
}

/// A directory no committed job owns is left alone this long: it may be a `telvox fax send` still
/// converting, or inside its transaction.
const LEFTOVER_AGE_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// Removes the files of jobs that finished (done, failed, cancelled) more than `keep_days` days
/// before `now` (0 keeps them), and leftovers older than an hour. Rows stay: the job history is the
/// call log's, and `telvox fax show` then says the document was removed. The directory is walked
/// rather than the table, so the cost follows what is on disk, not years of history.
pub fn prune(conn: &Connection, out_dir: &Path, keep_days: u32, now: i64) -> Result<Pruned, String> {
    let mut pruned = Pruned::default();
    let entries = match std::fs::read_dir(out_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(pruned),
        Err(e) => return Err(format!("cannot read {}: {e}", out_dir.display())),
    };
    let finished_before = now - i64::from(keep_days) * DAY_MS;
    // Only directories: a job's files are always in one.
    for entry in entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
    {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let finished = match name.parse::<i64>() {
            Ok(id) => finished_at(conn, id).map_err(|e| format!("the fax queue: {e}"))?,
            Err(_) => None,
        };
        let remove = match finished {
            Some(Some(at)) => keep_days > 0 && at < finished_before,
            Some(None) => false,
            // No row, or not a job's name (.new-*, .job-*.tmp): a leftover once it is old enough.
            None => modified_ms(&path).is_some_and(|at| at < now - LEFTOVER_AGE_MS),
        };
        if !remove {
            continue;
        }
        match std::fs::remove_dir_all(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("cannot remove {}: {e}", path.display())),
        }
        if finished.is_some() {
            pruned.jobs += 1;
        } else {
            pruned.leftovers += 1;
        }
    }
    Ok(pruned)
}

/// None: no such job; Some(None): not finished; Some(Some(ms)): finished at `ms`.
fn finished_at(conn: &Connection, id: i64) -> rusqlite::Result<Option<Option<i64>>> {
    conn.query_row(
        "SELECT state IN ('done', 'failed', 'cancelled'), updated_ms FROM fax_jobs WHERE id = ?1",
        params![id],
        |row| Ok(row.get::<_, bool>(0)?.then_some(row.get::<_, i64>(1)?)),
    )
    .optional()
}

fn modified_ms(path: &Path) -> Option<i64> {
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok()?;
    let since = modified.duration_since(UNIX_EPOCH).ok()?;
    i64::try_from(since.as_millis()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_normalised_or_refused_with_the_reason() {
        assert_eq!(normalize_number(" +86 10-8888 0000 ").unwrap(), "+861088880000");
        assert_eq!(normalize_number("601").unwrap(), "601");
        assert!(normalize_number("").unwrap_err().contains("no digits"));
        assert!(normalize_number("60x1").unwrap_err().contains("'x'"));
        assert!(normalize_number(&"1".repeat(40)).unwrap_err().contains("longer"));
    }

    #[test]
    fn a_dialable_number_is_what_normalising_keeps() {
        use super::super::dispatch::is_dialable;
        for good in ["601", "+861088880000", "*99#"] {
            assert!(is_dialable(good) && normalize_number(good).unwrap() == good);
        }
        for bad in ["", "+", "60 1", "abc", &"1".repeat(40)] {
            assert!(!is_dialable(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_number_list_skips_comments_and_names_the_bad_line() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("list.txt");
        std::fs::write(&list, "# customers\n601\n\n  602  \n# more\n603\n").unwrap();
        assert_eq!(read_number_list(&list).unwrap(), ["601", "602", "603"]);
        std::fs::write(&list, "601\n\nfax me\n").unwrap();
        let e = read_number_list(&list).unwrap_err();
        assert!(e.starts_with(&format!("{}:3: ", list.display())), "{e}");
    }

    #[test]
    fn prune_removes_finished_jobs_files_after_their_days_and_old_leftovers_only() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("telvox.db");
        let out = out_dir(dir.path());
        let mut conn = open(&db).unwrap();
        let prep = dir.path().join("prep");
        std::fs::create_dir(&prep).unwrap();
        let doc = prep.join("doc.tif");
        std::fs::write(&doc, b"not read by enqueue").unwrap();
        let prepared = Prepared {
            dir: prep,
            document: doc,
            pages: 1,
            names: vec!["doc.tif".into()],
        };
        std::fs::create_dir_all(&out).unwrap();
        let numbers: Vec<String> = ["601", "602", "603", "604"].map(String::from).to_vec();
        let ids = enqueue(&mut conn, &out, &prepared, &numbers, &NewJob::default()).unwrap();
        let now = now_ms();
        let set = |id: i64, state: &str, updated_ms: i64| {
            conn.execute(
                "UPDATE fax_jobs SET state = ?2, updated_ms = ?3 WHERE id = ?1",
                params![id, state, updated_ms],
            )
            .unwrap();
        };
        set(ids[0], "done", now - 31 * DAY_MS); // old enough
        set(ids[1], "failed", now - 29 * DAY_MS); // not yet
        set(ids[2], "queued", now - 400 * DAY_MS); // never, while it waits
        set(ids[3], "cancelled", now - 31 * DAY_MS);
        // A leftover of a queueing that never committed, and a conversion still going on.
        std::fs::create_dir(out.join("999")).unwrap();
        std::fs::create_dir(out.join(".new-1-2")).unwrap();

        let pruned = prune(&conn, &out, 30, now).unwrap();
        assert_eq!(
            pruned,
            Pruned {
                jobs: 2,
                leftovers: 0
            }
        );
        let exists = |id: i64| out.join(id.to_string()).join("document.tif").exists();
        assert!(!exists(ids[0]) && !exists(ids[3]));
        assert!(exists(ids[1]) && exists(ids[2]));
        assert!(
            out.join("999").exists() && out.join(".new-1-2").exists(),
            "young leftovers stay"
        );
        assert_eq!(
            get(&conn, ids[0]).unwrap().unwrap().state,
            "done",
            "the row stays"
        );

        // An hour later the leftovers go; keep_days = 0 keeps every finished job's files.
        let later = now + LEFTOVER_AGE_MS + 1000;
        assert_eq!(
            prune(&conn, &out, 0, later).unwrap(),
            Pruned {
                jobs: 0,
                leftovers: 2
            }
        );
        assert!(exists(ids[1]));
        assert_eq!(prune(&conn, &out, 30, later + 2 * DAY_MS).unwrap().jobs, 1);
        assert!(!exists(ids[1]) && exists(ids[2]));
        assert_eq!(
            prune(&conn, &dir.path().join("absent"), 30, now).unwrap(),
            Pruned::default()
        );
    }
}
