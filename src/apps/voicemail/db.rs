//! Voicemail's tables in the call log database (`<data_dir>/telvox.db`, migration "voicemail"):
//! used by the voicemail threads and by `telvox vm`, never by a channel thread.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension};

pub fn now_ms() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// Opens the call log (migrating it if needed, as the store does).
pub fn open(db: &Path) -> rusqlite::Result<Connection> {
    // The store's own open applies the migrations; a voicemail thread may start first.
    if let Err(e) = crate::store::Store::open(db) {
        tracing::warn!("voicemail: cannot open the call log {}: {e}", db.display());
    }
    let conn = Connection::open(db)?;
    conn.busy_timeout(std::time::Duration::from_millis(5000))?;
    Ok(conn)
}

/// One stored message.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Message {
    pub id: i64,
    #[serde(rename = "box")]
    pub box_: String,
    pub file: String,
    pub caller: String,
    pub uniqueid: String,
    pub at_ms: i64,
    pub duration_ms: i64,
    pub folder: String,
    pub heard: bool,
}

const MESSAGE_COLUMNS: &str = "id, box, file, caller, uniqueid, at_ms, duration_ms, folder, heard";

fn message_of(row: &rusqlite::Row) -> rusqlite::Result<Message> {
    Ok(Message {
        id: row.get(0)?,
        box_: row.get(1)?,
        file: row.get(2)?,
        caller: row.get(3)?,
        uniqueid: row.get(4)?,
        at_ms: row.get(5)?,
        duration_ms: row.get(6)?,
        folder: row.get(7)?,
        heard: row.get::<_, i64>(8)? != 0,
    })
}

/// A box's messages: new first, then saved, each oldest first (the order they are played in).
pub fn messages(conn: &Connection, box_: &str) -> rusqlite::Result<Vec<Message>> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM vm_messages WHERE box = ?1
         ORDER BY folder = 'saved', at_ms, id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([box_], message_of)?;
    rows.collect()
}

/// Every message, by box.
pub fn all_messages(conn: &Connection) -> rusqlite::Result<Vec<Message>> {
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM vm_messages ORDER BY box, folder = 'saved', at_ms, id");
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([], message_of)?;
    rows.collect()
}

pub fn message(conn: &Connection, id: i64) -> rusqlite::Result<Option<Message>> {
    let sql = format!("SELECT {MESSAGE_COLUMNS} FROM vm_messages WHERE id = ?1");
    conn.query_row(&sql, [id], message_of).optional()
}

/// (new, saved) messages in a box.
pub fn counts(conn: &Connection, box_: &str) -> rusqlite::Result<(u32, u32)> {
    conn.query_row(
        "SELECT COALESCE(SUM(folder = 'new'), 0), COALESCE(SUM(folder = 'saved'), 0)
         FROM vm_messages WHERE box = ?1",
        [box_],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )
}

/// New-message counts of every box that has messages.
pub fn new_counts(conn: &Connection) -> rusqlite::Result<Vec<(String, u32, u32)>> {
    let mut stmt = conn.prepare(
        "SELECT box, SUM(folder = 'new'), SUM(folder = 'saved') FROM vm_messages GROUP BY box ORDER BY box",
    )?;
    let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?;
    rows.collect()
}

pub fn set_folder(conn: &Connection, id: i64, folder: &str) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE vm_messages SET folder = ?2, heard = 1 WHERE id = ?1",
        params![id, folder],
    )
}

pub fn set_heard(conn: &Connection, id: i64) -> rusqlite::Result<usize> {
    conn.execute("UPDATE vm_messages SET heard = 1 WHERE id = ?1", [id])
}

/// The directory of a box's files.
pub fn box_dir(data_dir: &Path, box_: &str) -> PathBuf {
    data_dir.join("voicemail").join(box_)
}

/// Deletes a message: its row, its queued mail, then its file.
pub fn delete(conn: &Connection, data_dir: &Path, id: i64) -> rusqlite::Result<Option<Message>> {
    let Some(m) = message(conn, id)? else {
        return Ok(None);
    };
    conn.execute(
        "DELETE FROM vm_mail_queue WHERE message_id = ?1 AND sent_ms IS NULL",
        [id],
    )?;
    conn.execute("DELETE FROM vm_messages WHERE id = ?1", [id])?;
    let path = box_dir(data_dir, &m.box_).join(&m.file);
    if let Err(e) = std::fs::remove_file(&path) {
        tracing::warn!("voicemail: cannot remove {}: {e}", path.display());
    }
    Ok(Some(m))
}

/// Indexes a finished message file and queues its mail; idempotent (recovery may repeat it).
pub struct NewMessage<'a> {
    pub box_: &'a str,
    pub file: &'a str,
    pub caller: &'a str,
    pub uniqueid: &'a str,
    pub at_ms: i64,
    pub duration_ms: i64,
    /// The address to mail, if the box has one and SMTP is configured.
    pub mail_to: Option<&'a str>,
    /// When the mail may first go (a caller reviewing may still re-record).
    pub mail_after_ms: i64,
}

pub fn insert_message(conn: &Connection, m: &NewMessage) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT OR IGNORE INTO vm_messages (box, file, caller, uniqueid, at_ms, duration_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![m.box_, m.file, m.caller, m.uniqueid, m.at_ms, m.duration_ms],
    )?;
    let inserted = conn.changes() > 0;
    let id: i64 = conn.query_row(
        "SELECT id FROM vm_messages WHERE box = ?1 AND file = ?2",
        params![m.box_, m.file],
        |row| row.get(0),
    )?;
    if let (true, Some(to)) = (inserted, m.mail_to) {
        conn.execute(
            "INSERT INTO vm_mail_queue (message_id, box, to_addr, created_ms, next_try_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, m.box_, to, now_ms(), m.mail_after_ms],
        )?;
    }
    Ok(id)
}

/// A recording in progress, as kept for recovery after a crash.
#[derive(Clone, Debug)]
pub struct Pending {
    pub id: i64,
    pub part: PathBuf,
    pub boxes: Vec<String>,
    pub caller: String,
    pub uniqueid: String,
    pub at_ms: i64,
    pub min_ms: i64,
}

pub fn insert_pending(conn: &Connection, p: &Pending) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO vm_recordings (part, boxes, caller, uniqueid, at_ms, min_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            p.part.to_string_lossy(),
            p.boxes.join(" "),
            p.caller,
            p.uniqueid,
            p.at_ms,
            p.min_ms
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

pub fn pending(conn: &Connection) -> rusqlite::Result<Vec<Pending>> {
    let mut stmt =
        conn.prepare("SELECT id, part, boxes, caller, uniqueid, at_ms, min_ms FROM vm_recordings")?;
    let rows = stmt.query_map([], |row| {
        Ok(Pending {
            id: row.get(0)?,
            part: PathBuf::from(row.get::<_, String>(1)?),
            boxes: row
                .get::<_, String>(2)?
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            caller: row.get(3)?,
            uniqueid: row.get(4)?,
            at_ms: row.get(5)?,
            min_ms: row.get(6)?,
        })
    })?;
    rows.collect()
}

pub fn delete_pending(conn: &Connection, id: i64) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM vm_recordings WHERE id = ?1", [id])?;
    Ok(())
}

/// A box's PIN state: Err(until_ms) while locked.
pub fn pin_locked_until(conn: &Connection, box_: &str) -> rusqlite::Result<i64> {
    let until: Option<i64> = conn
        .query_row(
            "SELECT locked_until_ms FROM vm_pin_failures WHERE box = ?1",
            [box_],
            |row| row.get(0),
        )
        .optional()?;
    Ok(until.unwrap_or(0))
}

/// Counts a wrong PIN; locks the box for `lockout_ms` when `max_failures` is reached. Returns
/// (failures, locked).
pub fn pin_failed(
    conn: &Connection,
    box_: &str,
    max_failures: u32,
    lockout_ms: i64,
) -> rusqlite::Result<(u32, bool)> {
    let now = now_ms();
    let failures: u32 = conn.query_row(
        "INSERT INTO vm_pin_failures (box, failures, at_ms) VALUES (?1, 1, ?2)
         ON CONFLICT (box) DO UPDATE SET failures = failures + 1, at_ms = excluded.at_ms
         RETURNING failures",
        params![box_, now],
        |row| row.get(0),
    )?;
    if failures >= max_failures {
        conn.execute(
            "UPDATE vm_pin_failures SET failures = 0, locked_until_ms = ?2 WHERE box = ?1",
            params![box_, now + lockout_ms],
        )?;
        return Ok((failures, true));
    }
    Ok((failures, false))
}

pub fn pin_ok(conn: &Connection, box_: &str) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM vm_pin_failures WHERE box = ?1", [box_])?;
    Ok(())
}

/// For `telvox status`: new and saved messages per box (message waiting), mail not yet sent.
pub fn status_json(config: &crate::config::Config) -> serde_json::Value {
    if config.voicemail.is_none() {
        return serde_json::Value::Null;
    }
    let Ok(conn) = Connection::open_with_flags(config.db_path(), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return serde_json::Value::Null;
    };
    let boxes: Vec<serde_json::Value> = new_counts(&conn)
        .unwrap_or_default()
        .into_iter()
        .map(|(b, new, saved)| serde_json::json!({"box": b, "new": new, "saved": saved, "waiting": new > 0}))
        .collect();
    serde_json::json!({
        "boxes": boxes,
        "mail_waiting": mail_waiting(&conn).ok(),
        "lost_blocks": super::service::LOST_BLOCKS.load(std::sync::atomic::Ordering::Relaxed),
    })
}

/// Mail not yet sent.
pub fn mail_waiting(conn: &Connection) -> rusqlite::Result<u32> {
    conn.query_row(
        "SELECT COUNT(*) FROM vm_mail_queue WHERE sent_ms IS NULL",
        [],
        |row| row.get(0),
    )
}
