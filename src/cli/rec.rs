//! `telvox rec search|play|export|verify`: call recordings found through their rows in the call log
//! (read straight from the database and the files: works with the daemon stopped).
//!
//! Exit codes: 0 success (search/export: something matched; verify: everything checks out);
//! 1 nothing matched, the recording is deleted/missing/damaged, or verify found problems;
//! 2 an error (no database, unreadable files, bad options).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use rusqlite::{Connection, OpenFlags};
use serde::Serialize;
use serde_json::json;

use crate::apps::recorder::meta::sha256_file;
use crate::config::Config;

/// Rows returned by a search at most.
const MAX_ROWS: usize = 100_000;
/// Files under the recordings directory looked at by verify at most.
const MAX_FILES: usize = 1_000_000;

#[derive(clap::Subcommand, Clone, Debug)]
pub enum RecCommand {
    /// Find recordings (newest first).
    Search {
        /// Caller number contains this.
        #[arg(long)]
        caller: Option<String>,
        /// Called number contains this.
        #[arg(long)]
        called: Option<String>,
        /// Agent id is exactly this.
        #[arg(long)]
        agent: Option<String>,
        /// Started at or after: today, an age (2h, 7d), a date (2026-11-22) or a local time.
        #[arg(long)]
        from: Option<String>,
        /// Started before (same forms as --from).
        #[arg(long)]
        to: Option<String>,
        /// At least this many seconds long.
        #[arg(long, value_name = "S")]
        min_duration: Option<f64>,
        /// Also list recordings deleted by retention.
        #[arg(long)]
        deleted: bool,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Copy one recording (by row id or call id) to a WAV file, after checking its checksum.
    Play {
        id: String,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Copy every recording started in [--from, --to) into DIR, with an index.json of their rows.
    Export {
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
        dir: PathBuf,
    },
    /// Check files against rows: missing files, orphaned files, damaged files (checksum mismatch).
    Verify {
        #[arg(long)]
        json: bool,
    },
}

/// One row of `recordings`, as the CLI shows it.
#[derive(Clone, Debug, Serialize)]
pub struct RecRow {
    pub id: i64,
    pub uniqueid: String,
    pub file: String,
    pub path: String,
    pub format: String,
    pub rule: String,
    pub start: String,
    pub start_ms: i64,
    pub duration_s: f64,
    pub bytes: Option<i64>,
    pub caller: String,
    pub called: String,
    pub channel: String,
    pub flow: String,
    pub agent: String,
    pub dropped_blocks: i64,
    pub sha256: Option<String>,
    pub status: String,
    pub deleted: bool,
}

const COLUMNS: &str = "id, uniqueid, file, format, rule, start, start_ms, COALESCE(duration_ms, 0), bytes, \
                       caller, called, channel, flow, agent, dropped_blocks, sha256, status, deleted";

fn row(dir: &Path, r: &rusqlite::Row) -> rusqlite::Result<RecRow> {
    let file: String = r.get(2)?;
    Ok(RecRow {
        id: r.get(0)?,
        uniqueid: r.get(1)?,
        path: dir.join(&file).display().to_string(),
        file,
        format: r.get(3)?,
        rule: r.get(4)?,
        start: r.get(5)?,
        start_ms: r.get(6)?,
        duration_s: r.get::<_, i64>(7)? as f64 / 1000.0,
        bytes: r.get(8)?,
        caller: r.get(9)?,
        called: r.get(10)?,
        channel: r.get(11)?,
        flow: r.get(12)?,
        agent: r.get(13)?,
        dropped_blocks: r.get(14)?,
        sha256: r.get(15)?,
        status: r.get(16)?,
        deleted: r.get::<_, i64>(17)? != 0,
    })
}

fn open_db(config: &Config) -> Result<Connection> {
    let path = config.db_path();
    if !path.exists() {
        bail!(
            "no call log at {}: the daemon creates it when it starts",
            path.display()
        );
    }
    let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("cannot open {}", path.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let has_table: i64 = conn.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'recordings'",
        [],
        |r| r.get(0),
    )?;
    if has_table == 0 {
        bail!(
            "{} has no recordings table: start the daemon once to upgrade it",
            path.display()
        );
    }
    Ok(conn)
}

/// A search's conditions.
#[derive(Default)]
struct Filter {
    caller: Option<String>,
    called: Option<String>,
    agent: Option<String>,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
    min_duration_ms: Option<i64>,
    deleted: bool,
    limit: usize,
}

fn search(conn: &Connection, dir: &Path, f: &Filter) -> Result<Vec<RecRow>> {
    let mut sql = format!("SELECT {COLUMNS} FROM recordings WHERE 1 = 1");
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    // Each clause has one `?`, numbered as its value is added.
    let mut add = |clause: &str, value: rusqlite::types::Value| {
        args.push(value);
        sql.push_str(" AND ");
        sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
    };
    if let Some(c) = &f.caller {
        add("instr(caller, ?) > 0", c.clone().into());
    }
    if let Some(c) = &f.called {
        add("instr(called, ?) > 0", c.clone().into());
    }
    if let Some(a) = &f.agent {
        add("agent = ?", a.clone().into());
    }
    if let Some(ms) = f.from_ms {
        add("start_ms >= ?", ms.into());
    }
    if let Some(ms) = f.to_ms {
        add("start_ms < ?", ms.into());
    }
    if let Some(ms) = f.min_duration_ms {
        add("COALESCE(duration_ms, 0) >= ?", ms.into());
    }
    if !f.deleted {
        sql.push_str(" AND deleted = 0");
    }
    sql.push_str(&format!(
        " ORDER BY start_ms DESC, id DESC LIMIT {}",
        f.limit.min(MAX_ROWS)
    ));
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| row(dir, r))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn print_rows(rows: &[RecRow]) {
    println!(
        "{:>5} {:<18} {:<24} {:>8} {:<14} {:<8} {:<6} {:<7} {:>4} FILE",
        "ID", "CALL", "START", "SECONDS", "CALLER", "CALLED", "CHAN", "FORMAT", "DROP"
    );
    for r in rows {
        println!(
            "{:>5} {:<18} {:<24} {:>8.1} {:<14} {:<8} {:<6} {:<7} {:>4} {}{}",
            r.id,
            r.uniqueid,
            super::local_time_ms(r.start_ms),
            r.duration_s,
            r.caller,
            r.called,
            r.channel,
            r.format,
            r.dropped_blocks,
            r.path,
            if r.deleted { " (deleted)" } else { "" }
        );
    }
}

fn time_opt(text: &Option<String>) -> Result<Option<i64>> {
    text.as_deref().map(super::parse_since).transpose()
}

/// Copies `from` to `to` through a temporary name.
fn copy_atomic(from: &Path, to: &Path) -> Result<()> {
    let tmp = PathBuf::from(format!("{}.tmp", to.display()));
    std::fs::copy(from, &tmp)
        .with_context(|| format!("cannot copy {} to {}", from.display(), tmp.display()))?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, to).with_context(|| format!("cannot rename {}", tmp.display()))
}

pub fn run(config: &Config, command: &RecCommand) -> Result<i32> {
    let dir = &config.recording.dir;
    let conn = open_db(config)?;
    match command {
        RecCommand::Search {
            caller,
            called,
            agent,
            from,
            to,
            min_duration,
            deleted,
            limit,
            json,
        } => {
            let filter = Filter {
                caller: caller.clone(),
                called: called.clone(),
                agent: agent.clone(),
                from_ms: time_opt(from)?,
                to_ms: time_opt(to)?,
                min_duration_ms: min_duration.map(|s| (s * 1000.0) as i64),
                deleted: *deleted,
                limit: *limit,
            };
            let rows = search(&conn, dir, &filter)?;
            if *json {
                println!("{}", serde_json::to_string(&rows)?);
            } else {
                print_rows(&rows);
            }
            Ok(if rows.is_empty() { 1 } else { 0 })
        }
        RecCommand::Play { id, out } => {
            let sql = format!("SELECT {COLUMNS} FROM recordings WHERE CAST(id AS TEXT) = ?1 OR uniqueid = ?1 ORDER BY id LIMIT 1");
            let found = conn.query_row(&sql, [id], |r| row(dir, r));
            let rec = match found {
                Ok(r) => r,
                Err(rusqlite::Error::QueryReturnedNoRows) => {
                    eprintln!("telvox: no recording {id} (see `telvox rec search`)");
                    return Ok(1);
                }
                Err(e) => return Err(e.into()),
            };
            if rec.deleted {
                eprintln!("telvox: recording {id} was deleted by retention");
                return Ok(1);
            }
            let path = Path::new(&rec.path);
            if !path.is_file() {
                eprintln!("telvox: recording {id}: file {} is missing", rec.path);
                return Ok(1);
            }
            let sum = sha256_file(path)?;
            if rec.sha256.as_deref().is_some_and(|s| s != sum) {
                eprintln!(
                    "telvox: recording {id}: {} is damaged (checksum mismatch)",
                    rec.path
                );
                return Ok(1);
            }
            copy_atomic(path, out)?;
            println!(
                "{} ({:.1} s, {}) -> {}",
                rec.uniqueid,
                rec.duration_s,
                rec.format,
                out.display()
            );
            Ok(0)
        }
        RecCommand::Export {
            from,
            to,
            dir: out_dir,
        } => {
            let filter = Filter {
                from_ms: time_opt(from)?,
                to_ms: time_opt(to)?,
                limit: MAX_ROWS,
                ..Filter::default()
            };
            let rows = search(&conn, dir, &filter)?;
            std::fs::create_dir_all(out_dir)
                .with_context(|| format!("cannot create {}", out_dir.display()))?;
            let mut exported = Vec::new();
            for rec in &rows {
                let src = Path::new(&rec.path);
                let name = rec.file.replace('/', "-");
                if !src.is_file() {
                    eprintln!("telvox: {} is missing: not exported", rec.path);
                    continue;
                }
                copy_atomic(src, &out_dir.join(&name))?;
                exported.push(json!({"export": name, "recording": rec}));
            }
            let index = out_dir.join("index.json");
            let tmp = out_dir.join("index.json.tmp");
            std::fs::write(&tmp, serde_json::to_string_pretty(&exported)?)?;
            std::fs::rename(&tmp, &index)?;
            println!(
                "{} recording(s) exported to {}",
                exported.len(),
                out_dir.display()
            );
            Ok(if exported.is_empty() { 1 } else { 0 })
        }
        RecCommand::Verify { json } => {
            let report = verify(&conn, dir)?;
            let problems = report.missing.len() + report.orphaned.len() + report.damaged.len();
            if *json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                for m in &report.missing {
                    println!("missing: {m}");
                }
                for o in &report.orphaned {
                    println!("orphaned: {o}");
                }
                for d in &report.damaged {
                    println!("damaged: {d}");
                }
                println!(
                    "{} recording(s) checked: {} missing, {} orphaned, {} damaged",
                    report.checked,
                    report.missing.len(),
                    report.orphaned.len(),
                    report.damaged.len()
                );
            }
            Ok(if problems == 0 { 0 } else { 1 })
        }
    }
}

#[derive(Debug, Default, Serialize)]
pub struct VerifyReport {
    pub checked: usize,
    /// Rows whose file is gone.
    pub missing: Vec<String>,
    /// Files no live row names.
    pub orphaned: Vec<String>,
    /// Files whose checksum differs from their row's.
    pub damaged: Vec<String>,
}

fn verify(conn: &Connection, dir: &Path) -> Result<VerifyReport> {
    let mut report = VerifyReport::default();
    let mut stmt = conn.prepare("SELECT file, sha256, status, deleted FROM recordings ORDER BY id")?;
    let rows: Vec<(String, Option<String>, String, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut known = std::collections::HashSet::new();
    for (file, sha, status, deleted) in rows {
        if deleted != 0 {
            continue;
        }
        if status == "recording" {
            // In progress: its file is still `.part`.
            known.insert(format!("{file}.part"));
            continue;
        }
        known.insert(file.clone());
        report.checked += 1;
        let path = dir.join(&file);
        if !path.is_file() {
            report.missing.push(path.display().to_string());
            continue;
        }
        let sum = sha256_file(&path).map_err(|e| anyhow!("cannot read {}: {e}", path.display()))?;
        if sha.as_deref() != Some(sum.as_str()) {
            report.damaged.push(path.display().to_string());
        }
    }
    let mut files = Vec::new();
    walk(dir, dir, 0, &mut files);
    for rel in files {
        if !known.contains(&rel) {
            report.orphaned.push(dir.join(&rel).display().to_string());
        }
    }
    Ok(report)
}

fn walk(root: &Path, dir: &Path, depth: usize, out: &mut Vec<String>) {
    if depth > 4 || out.len() >= MAX_FILES {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(root, &path, depth + 1, out);
        } else if depth != 3 {
            // Call recordings live in YYYY/MM/DD/; other files here (an IVR `record`'s messages
            // at the top) are not theirs.
        } else if let Ok(rel) = path.strip_prefix(root) {
            out.push(rel.to_string_lossy().into_owned());
        }
    }
}
