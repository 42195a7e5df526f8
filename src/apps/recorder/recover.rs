//! Startup recovery: recordings a crash cut off are made whole. Every `*.wav.part` under the
//! recordings directory gets its header sizes fixed from its length, is renamed to `.wav`, and its
//! row is closed as `interrupted` (with duration, size and checksum); rows still open whose file is
//! gone are closed as `missing`.

use std::path::Path;

use rusqlite::{params, Connection};

use super::meta::sha256_file;
use super::wav;

/// Directory levels searched (YYYY/MM/DD).
const MAX_DEPTH: usize = 4;
/// `.part` files recovered per start at most.
const MAX_FILES: usize = 100_000;

/// What recovery did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Recovered {
    pub files: usize,
    pub rows_closed: usize,
    pub missing: usize,
    pub unreadable: usize,
}

pub fn recover(dir: &Path, conn: &Connection, now_ms: i64) -> rusqlite::Result<Recovered> {
    let mut out = Recovered::default();
    let mut parts = Vec::new();
    find_parts(dir, 0, &mut parts);
    for part in parts {
        let done = part.with_extension("");
        let rel = done
            .strip_prefix(dir)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let repaired = match wav::repair(&part) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("recording {}: cannot repair: {e}; left as it is", part.display());
                out.unreadable += 1;
                continue;
            }
        };
        if repaired.data_bytes == 0 {
            // Cut off before any audio (an unanswered call): nothing to keep.
            let _ = std::fs::remove_file(&part);
            conn.execute("DELETE FROM recordings WHERE file = ?1", [&rel])?;
            continue;
        }
        if let Err(e) = std::fs::rename(&part, &done) {
            tracing::warn!("recording {}: cannot rename: {e}", part.display());
            out.unreadable += 1;
            continue;
        }
        out.files += 1;
        let duration_ms = (repaired.data_bytes * 1000 / u64::from(repaired.bytes_per_second.max(1))) as i64;
        let bytes = std::fs::metadata(&done).map(|m| m.len()).unwrap_or(0) as i64;
        let sha = sha256_file(&done).ok();
        let updated = conn.execute(
            "UPDATE recordings SET status = 'interrupted', end_ms = ?2, duration_ms = ?3, bytes = ?4, sha256 = ?5 \
             WHERE file = ?1",
            params![rel, now_ms, duration_ms, bytes, sha],
        )?;
        if updated == 0 {
            // The crash came before the row was written: make one from the file.
            let uniqueid = done
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let format = match repaired.bytes_per_second {
                8000 => "alaw",
                16000 => "pcm16",
                _ => "stereo",
            };
            let start_ms = now_ms - duration_ms;
            conn.execute(
                "INSERT OR IGNORE INTO recordings (uniqueid, file, format, start, start_ms, end_ms, duration_ms, \
                 bytes, sha256, status) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'interrupted')",
                params![uniqueid, rel, format, crate::ctl::iso_ms(start_ms), start_ms, now_ms, duration_ms, bytes, sha],
            )?;
        }
        out.rows_closed += 1;
    }
    // Rows still open: the file was finished (renamed) but the row not updated, or never written.
    let open: Vec<(i64, String)> = {
        let mut stmt = conn.prepare("SELECT id, file FROM recordings WHERE status = 'recording'")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for (id, file) in open {
        let path = dir.join(&file);
        let repaired = path.is_file().then(|| wav::repair(&path).ok()).flatten();
        match repaired {
            Some(r) => {
                let duration_ms = (r.data_bytes * 1000 / u64::from(r.bytes_per_second.max(1))) as i64;
                let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) as i64;
                conn.execute(
                    "UPDATE recordings SET status = 'interrupted', end_ms = ?2, duration_ms = ?3, bytes = ?4, \
                     sha256 = ?5 WHERE id = ?1",
                    params![id, now_ms, duration_ms, bytes, sha256_file(&path).ok()],
                )?;
                out.rows_closed += 1;
            }
            None => {
                conn.execute(
                    "UPDATE recordings SET status = 'missing', end_ms = ?2 WHERE id = ?1",
                    params![id, now_ms],
                )?;
                out.missing += 1;
            }
        }
    }
    Ok(out)
}

fn find_parts(dir: &Path, depth: usize, out: &mut Vec<std::path::PathBuf>) {
    if depth > MAX_DEPTH || out.len() >= MAX_FILES {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            find_parts(&path, depth + 1, out);
        } else if path.to_string_lossy().ends_with(".wav.part") && out.len() < MAX_FILES {
            out.push(path);
        }
    }
}
