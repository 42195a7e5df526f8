//! Fax session records: one row per T.30 session in the call log's `fax_sessions` table (issue 5
//! item 7), read by `telvox fax log`.
//!
//! A [`FaxRecord`] is made on the channel thread when a session ends (`FaxCall`'s finishing path,
//! so every user of `FaxCall` gets one): it is `Copy` and fixed-size (no heap), and crosses to the
//! fax filing thread through the filer's bounded queue, which renames the received file, makes its
//! PDF, and only then writes the row here (so the row names the final files) and queues its email.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};

use crate::dsp::fax::{FaxOutcome, Modem};
use crate::fixed::{FixedStr, Label, Number};

/// T.30 station ids are at most 20 characters; a little room for the truncation mark.
pub type StationId = FixedStr<24>;
/// A document path as spandsp takes it (at most 255 bytes).
pub type FilePath = FixedStr<255>;

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Session records lost since the daemon started (the filer's queue was full, or the row could
/// not be written): in `telvox status` (`fax_sessions.records_dropped`).
pub static RECORDS_DROPPED: AtomicU64 = AtomicU64::new(0);
/// Finished faxes the filer's queue had no room for (renamed inline, without a PDF).
pub static FILER_OVERFLOW: AtomicU64 = AtomicU64::new(0);
/// Cover pages not made because the cover queue was full (those faxes went without one).
pub static COVERS_REFUSED: AtomicU64 = AtomicU64::new(0);

/// `telvox status`'s `fax_sessions`: sessions since local midnight (`since_ms`), received faxes
/// whose mail waits, and the counters above.
pub fn status_json(db_path: &Path, since_ms: i64) -> serde_json::Value {
    let conn = Connection::open_with_flags(db_path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).ok();
    let count = |sql: &str, args: &[i64]| -> Option<i64> {
        conn.as_ref().and_then(|c| {
            c.query_row(sql, rusqlite::params_from_iter(args), |r| r.get(0))
                .ok()
        })
    };
    serde_json::json!({
        "today": count("SELECT COUNT(*) FROM fax_sessions WHERE start_ms >= ?1", &[since_ms]),
        "mail_waiting": count(
            "SELECT COUNT(*) FROM fax_sessions WHERE mail_to != '' AND mail_sent_ms IS NULL",
            &[]
        ),
        "records_dropped": RECORDS_DROPPED.load(Ordering::Relaxed),
        "filer_overflow": FILER_OVERFLOW.load(Ordering::Relaxed),
        "covers_refused": COVERS_REFUSED.load(Ordering::Relaxed),
    })
}

/// Which way the document went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Direction {
    /// Received by telvox (`fax_receive`).
    #[default]
    In,
    /// Sent by telvox (`fax_send`, the outbound queue).
    Out,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

/// What a session belongs to, known when it is set up (copied in: no allocation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecordMeta {
    /// The call (`cdr.uniqueid`).
    pub uniqueid: Label,
    /// The caller's number (the far end's, for a call telvox placed).
    pub remote_number: Number,
    /// The number dialled (selects a per-number email address for a received fax).
    pub called_number: Number,
    /// This station's id as sent to the far end (TSI/CSI).
    pub local_id: StationId,
    /// The fax-on-demand document id (its digits), for a send; empty otherwise.
    pub document: Label,
    /// The file sent (for a send; a reception's file is named by the filer).
    pub file: FilePath,
}

/// One finished session: `Copy`, fixed-size, made on the channel thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaxRecord {
    pub direction: Direction,
    pub meta: RecordMeta,
    /// The far end's TSI (it sent) or CSI (it received).
    pub remote_id: StationId,
    pub outcome: FaxOutcome,
    pub modem: Option<Modem>,
    /// When the session started and how long it ran, in samples of the call's clock (8 kHz).
    pub started_at_sample: u64,
    pub duration_samples: u64,
}

impl FaxRecord {
    /// The modem name: from the DCS frame when one passed, else from the bit rate (14400 and
    /// 12000 exist only in V.17, 4800 and 2400 only in V.27ter; 9600/7200 default to V.29).
    pub fn modem_name(&self) -> &'static str {
        if let Some(modem) = self.modem {
            return modem.name();
        }
        match self.outcome.stats.bit_rate {
            14_400 | 12_000 => "V.17",
            9_600 | 7_200 if self.outcome.stats.pages_sent + self.outcome.stats.pages_received > 0 => "V.29",
            4_800 | 2_400 if self.outcome.pages > 0 => "V.27ter",
            _ => "",
        }
    }

    /// "fine" (196 lines/inch) or "standard" (98); empty before any page was exchanged.
    pub fn resolution_name(&self) -> &'static str {
        let stats = &self.outcome.stats;
        if stats.y_resolution_ppm == 0 {
            ""
        } else if stats.is_fine() {
            "fine"
        } else {
            "standard"
        }
    }
}

/// Where the record's files ended up (filled in by the filing thread).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filed {
    /// The TIFF (received: its final name; sent: the document).
    pub file: String,
    /// The PDF copy of a received fax, when one was made.
    pub pdf: String,
    /// Where to mail the PDF (empty: no mail).
    pub mail_to: String,
}

/// Opens the call log for the fax writers (the filing thread, the mailer).
pub fn open(db_path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(db_path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(conn)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Writes the row; returns its id. The start is the call's start (from its `cdr` row) plus the
/// samples into the call at which the session started; without the call's row, now minus the
/// session's duration.
pub fn insert(conn: &Connection, record: &FaxRecord, filed: &Filed) -> rusqlite::Result<i64> {
    let duration_ms = (record.duration_samples / 8) as i64;
    let call_start: Option<i64> = conn
        .query_row(
            "SELECT start_ms FROM cdr WHERE uniqueid = ?1",
            [record.meta.uniqueid.as_str()],
            |r| r.get(0),
        )
        .optional()?;
    let start_ms = match call_start {
        Some(ms) => ms + (record.started_at_sample / 8) as i64,
        None => now_ms() - duration_ms,
    };
    let outcome = &record.outcome;
    let stats = &outcome.stats;
    conn.execute(
        "INSERT INTO fax_sessions (uniqueid, direction, remote_id, local_id, remote_number, pages, \
         bit_rate, modem, compression, ecm, resolution, result_code, result_text, start, start_ms, \
         duration_ms, file, pdf, partial, document, mail_to, mail_next_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, \
         ?19, ?20, ?21, ?22)",
        params![
            record.meta.uniqueid.as_str(),
            record.direction.as_str(),
            record.remote_id.as_str().trim(),
            record.meta.local_id.as_str(),
            record.meta.remote_number.as_str(),
            outcome.pages,
            stats.bit_rate,
            record.modem_name(),
            stats.compression_name(),
            stats.ecm,
            record.resolution_name(),
            outcome.result.code(),
            outcome.result.text(),
            crate::ctl::iso_ms(start_ms),
            start_ms,
            duration_ms,
            filed.file,
            filed.pdf,
            outcome.partial,
            record.meta.document.as_str(),
            filed.mail_to,
            (!filed.mail_to.is_empty()).then(now_ms),
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// A reception a crash cut off, filed at the next start (see `filer::recover_interrupted`): its
/// row says so (partial, "interrupted"), with the pages the file holds. The call's id is the
/// file's stem.
pub fn insert_recovered(
    conn: &Connection,
    uniqueid: &str,
    pages: u32,
    filed: &Filed,
) -> rusqlite::Result<i64> {
    let call_start: Option<i64> = conn
        .query_row("SELECT start_ms FROM cdr WHERE uniqueid = ?1", [uniqueid], |r| {
            r.get(0)
        })
        .optional()?;
    let start_ms = call_start.unwrap_or_else(now_ms);
    let end_ms: Option<i64> = conn
        .query_row("SELECT end_ms FROM cdr WHERE uniqueid = ?1", [uniqueid], |r| {
            r.get(0)
        })
        .optional()?
        .flatten();
    let duration_ms = end_ms.map_or(0, |end| (end - start_ms).max(0));
    conn.execute(
        "INSERT INTO fax_sessions (uniqueid, direction, pages, result_code, result_text, start, \
         start_ms, duration_ms, file, pdf, partial, mail_to, mail_next_ms) \
         VALUES (?1, 'in', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 1, ?10, ?11)",
        params![
            uniqueid,
            pages,
            INTERRUPTED_CODE,
            INTERRUPTED_TEXT,
            crate::ctl::iso_ms(start_ms),
            start_ms,
            duration_ms,
            filed.file,
            filed.pdf,
            filed.mail_to,
            (!filed.mail_to.is_empty()).then(now_ms),
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Writes the rows of receptions a crash cut off and the daemon's start filed (logged, never
/// fatal: the files are in place whatever happens here), queueing their email like any other.
pub fn record_recovered(
    db: &Path,
    recovered: &[super::filer::Recovered],
    options: &super::filer::FilerOptions,
) {
    if recovered.is_empty() {
        return;
    }
    let conn = match open(db) {
        Ok(conn) => conn,
        Err(e) => {
            tracing::warn!(
                "fax: cannot record {} recovered reception(s): {e}",
                recovered.len()
            );
            return;
        }
    };
    for r in recovered {
        let called: Option<String> = conn
            .query_row("SELECT dst FROM cdr WHERE uniqueid = ?1", [&r.uniqueid], |row| {
                row.get(0)
            })
            .optional()
            .ok()
            .flatten();
        let pdf = r
            .pdf
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let mail_to = match (&options.mail, pdf.is_empty()) {
            (Some(mail), false) => mail.address_for(called.as_deref().unwrap_or("")).to_owned(),
            _ => String::new(),
        };
        let filed = Filed {
            file: r.tiff.display().to_string(),
            pdf,
            mail_to,
        };
        if let Err(e) = insert_recovered(&conn, &r.uniqueid, r.pages, &filed) {
            tracing::warn!(
                "fax: cannot record the recovered reception {}: {e}",
                r.tiff.display()
            );
        }
    }
}

/// The result code of a session the daemon's end cut off (not one of spandsp's codes, which are
/// non-negative).
pub const INTERRUPTED_CODE: i32 = -1;
pub const INTERRUPTED_TEXT: &str = "interrupted: the daemon ended during the reception";

/// One row of `fax_sessions`, as `telvox fax log` shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LogRow {
    pub id: i64,
    pub uniqueid: String,
    pub direction: String,
    pub remote_id: String,
    pub local_id: String,
    pub remote_number: String,
    pub pages: u32,
    pub bit_rate: u32,
    pub modem: String,
    pub compression: String,
    pub ecm: bool,
    pub resolution: String,
    pub result_code: i32,
    pub result_text: String,
    pub start: String,
    pub start_ms: i64,
    pub duration_ms: i64,
    pub file: String,
    pub pdf: String,
    pub partial: bool,
    pub document: String,
    pub mail_to: String,
    pub mail_sent: bool,
    pub mail_error: String,
}

/// What `telvox fax log` asks for.
#[derive(Clone, Debug, Default)]
pub struct LogFilter {
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub direction: Option<Direction>,
    pub limit: usize,
}

/// Sessions started in [from, to), newest first.
pub fn query(conn: &Connection, filter: &LogFilter) -> rusqlite::Result<Vec<LogRow>> {
    let mut stmt = conn.prepare(
        "SELECT id, uniqueid, direction, remote_id, local_id, remote_number, pages, bit_rate, modem, \
         compression, ecm, resolution, result_code, result_text, start, start_ms, duration_ms, file, \
         pdf, partial, document, mail_to, mail_sent_ms IS NOT NULL, mail_error FROM fax_sessions \
         WHERE start_ms >= ?1 AND start_ms < ?2 AND (?3 = '' OR direction = ?3) \
         ORDER BY start_ms DESC, id DESC LIMIT ?4",
    )?;
    let rows = stmt.query_map(
        params![
            filter.from_ms.unwrap_or(i64::MIN),
            filter.to_ms.unwrap_or(i64::MAX),
            filter.direction.map_or("", Direction::as_str),
            filter.limit as i64,
        ],
        |r| {
            Ok(LogRow {
                id: r.get(0)?,
                uniqueid: r.get(1)?,
                direction: r.get(2)?,
                remote_id: r.get(3)?,
                local_id: r.get(4)?,
                remote_number: r.get(5)?,
                pages: r.get(6)?,
                bit_rate: r.get(7)?,
                modem: r.get(8)?,
                compression: r.get(9)?,
                ecm: r.get(10)?,
                resolution: r.get(11)?,
                result_code: r.get(12)?,
                result_text: r.get(13)?,
                start: r.get(14)?,
                start_ms: r.get(15)?,
                duration_ms: r.get(16)?,
                file: r.get(17)?,
                pdf: r.get(18)?,
                partial: r.get(19)?,
                document: r.get(20)?,
                mail_to: r.get(21)?,
                mail_sent: r.get(22)?,
                mail_error: r.get(23)?,
            })
        },
    )?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use crate::dsp::fax::Modem;

    #[test]
    fn the_modem_comes_from_the_dcs_data_rate_bits() {
        // Address, control, FCF (DCS, with and without the X bit), FIF bytes 1 and 2.
        let dcs = |fcf: u8, byte2: u8| [0xFF, 0x13, fcf, 0x00, byte2, 0x00];
        assert_eq!(Modem::from_dcs(&dcs(0x82, 0x20)), Some(Modem::V17));
        assert_eq!(Modem::from_dcs(&dcs(0x83, 0x24)), Some(Modem::V17));
        assert_eq!(Modem::from_dcs(&dcs(0x82, 0x04)), Some(Modem::V29));
        assert_eq!(Modem::from_dcs(&dcs(0x82, 0x0C)), Some(Modem::V29));
        assert_eq!(Modem::from_dcs(&dcs(0x82, 0x08)), Some(Modem::V27ter));
        assert_eq!(Modem::from_dcs(&dcs(0x80, 0x20)), None, "a DIS is not a DCS");
        assert_eq!(Modem::from_dcs(&[0xFF, 0x13, 0x82]), None, "too short");
    }
}
