//! `telvox vm list [BOX]`, `vm play BOX MSG --out FILE`, `vm delete BOX MSG`, `vm passwd BOX`,
//! `vm stats`: they open the call log and the mailboxes file themselves, so they work with the
//! daemon stopped too.

use std::io::BufRead;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::json;

use crate::config::Config;

use super::config::Mailboxes;
use super::db;

fn mailboxes(config: &Config) -> Result<Mailboxes> {
    let path = config.mailboxes.as_ref().ok_or_else(|| {
        anyhow!(
            "{} names no mailboxes file: add mailboxes = \"mailboxes.toml\" (or put one beside it)",
            config.source.display()
        )
    })?;
    let (boxes, diags) = super::config::load(path, Some(&config.voice_dir));
    boxes.ok_or_else(|| anyhow!(crate::daemon::format_diagnostics(&diags)))
}

fn open(config: &Config) -> Result<rusqlite::Connection> {
    db::open(&config.db_path()).with_context(|| format!("opening {}", config.db_path().display()))
}

fn known_box(boxes: &Mailboxes, number: &str) -> Result<()> {
    if boxes.find(number).is_none() {
        bail!("no mailbox {number} in {}", boxes.path.display());
    }
    Ok(())
}

fn fmt_time(config: &Config, at_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(at_ms)
        .map(|t| {
            t.with_timezone(&config.business.timezone)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}

/// `telvox vm list [BOX]`.
pub fn list(config: &Config, number: Option<&str>, as_json: bool) -> Result<()> {
    let boxes = mailboxes(config)?;
    let conn = open(config)?;
    let messages = match number {
        Some(n) => {
            known_box(&boxes, n)?;
            db::messages(&conn, n)?
        }
        None => db::all_messages(&conn)?,
    };
    if as_json {
        let list: Vec<serde_json::Value> = messages
            .iter()
            .map(|m| {
                let mut v = serde_json::to_value(m).unwrap_or_default();
                v["time"] = json!(fmt_time(config, m.at_ms));
                v["path"] = json!(db::box_dir(&config.data_dir, &m.box_).join(&m.file));
                v
            })
            .collect();
        println!("{}", serde_json::Value::Array(list));
        return Ok(());
    }
    println!(
        "{:>6}  {:<6} {:<6} {:<19} {:>7}  caller",
        "id", "box", "folder", "time", "seconds"
    );
    for m in &messages {
        println!(
            "{:>6}  {:<6} {:<6} {:<19} {:>7.1}  {}{}",
            m.id,
            m.box_,
            m.folder,
            fmt_time(config, m.at_ms),
            m.duration_ms as f64 / 1000.0,
            if m.caller.is_empty() { "unknown" } else { &m.caller },
            if m.heard { "" } else { "  (not heard)" }
        );
    }
    if messages.is_empty() {
        println!("no messages");
    }
    Ok(())
}

fn find_message(config: &Config, conn: &rusqlite::Connection, number: &str, id: i64) -> Result<db::Message> {
    match db::message(conn, id)? {
        Some(m) if m.box_ == number => Ok(m),
        _ => bail!(
            "mailbox {number} has no message {id} (telvox --config {} vm list {number})",
            config.source.display()
        ),
    }
}

/// `telvox vm play BOX MSG --out FILE`: the message as a WAV (written to a temporary name first).
pub fn play(config: &Config, number: &str, id: i64, out: &Path) -> Result<()> {
    let conn = open(config)?;
    let m = find_message(config, &conn, number, id)?;
    let from = db::box_dir(&config.data_dir, number).join(&m.file);
    let tmp = out.with_extension("wav.tmp");
    std::fs::copy(&from, &tmp).with_context(|| format!("copying {} to {}", from.display(), tmp.display()))?;
    std::fs::rename(&tmp, out).with_context(|| format!("writing {}", out.display()))?;
    db::set_heard(&conn, id)?;
    println!("message {id} of box {number} written to {}", out.display());
    Ok(())
}

/// `telvox vm delete BOX MSG`.
pub fn delete(config: &Config, number: &str, id: i64) -> Result<()> {
    let conn = open(config)?;
    find_message(config, &conn, number, id)?;
    db::delete(&conn, &config.data_dir, id)?;
    println!("message {id} of box {number} deleted");
    Ok(())
}

/// The mailboxes file telvox.toml at `config_path` names, read without validating the rest (so
/// `vm passwd` can fix a file the full check refuses).
fn mailboxes_path(config_path: &Path) -> Result<std::path::PathBuf> {
    side_file_path(config_path, "mailboxes", "mailboxes.toml")
}

/// A file telvox.toml at `config_path` names with `key` (default: `default_name` beside it),
/// read without validating the rest; it must exist.
pub fn side_file_path(config_path: &Path, key: &str, default_name: &str) -> Result<std::path::PathBuf> {
    let text =
        std::fs::read_to_string(config_path).with_context(|| format!("reading {}", config_path.display()))?;
    let doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| anyhow!("{}: not valid TOML: {e}", config_path.display()))?;
    let base = std::path::absolute(config_path)?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let path = match doc.get(key).and_then(|m| m.as_str()) {
        Some(name) => base.join(name),
        None => base.join(default_name),
    };
    if !path.is_file() {
        bail!(
            "no {key} file {} (set {key} = \"…\" in {})",
            path.display(),
            config_path.display()
        );
    }
    Ok(path)
}

/// `telvox vm passwd BOX`: reads the new PIN (4 to 16 digits) from stdin.
pub fn passwd_at(config_path: &Path, number: &str) -> Result<()> {
    let path = mailboxes_path(config_path)?;
    // The file may hold plain PINs this command is meant to replace: only the box must exist.
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| anyhow!("{}: not valid TOML: {e}", path.display()))?;
    let exists = doc
        .get("box")
        .and_then(|b| b.as_array_of_tables())
        .is_some_and(|a| {
            a.iter()
                .any(|t| t.get("number").and_then(|n| n.as_str()) == Some(number))
        });
    if !exists {
        bail!("no [[box]] with number = \"{number}\" in {}", path.display());
    }
    let hash = read_pin_hash()?;
    super::config::set_pin_hash(&path, number, &hash).map_err(|e| anyhow!(e))?;
    println!(
        "PIN of box {number} set in {} (telvox reload applies it to the running daemon)",
        path.display()
    );
    Ok(())
}

/// Reads a new PIN (4 to 16 digits) from stdin; its salted hash.
pub fn read_pin_hash() -> Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let pin = line.trim();
    if !(4..=16).contains(&pin.len()) || !pin.chars().all(|c| c.is_ascii_digit()) {
        bail!("a PIN is 4 to 16 digits (read from stdin)");
    }
    crate::apps::ivr::business::hash_pin(pin).map_err(|e| anyhow!("{e}"))
}

/// `telvox vm stats`.
pub fn stats(config: &Config, as_json: bool) -> Result<()> {
    let boxes = mailboxes(config)?;
    let conn = open(config)?;
    let counts = db::new_counts(&conn)?;
    let mut rows = Vec::new();
    for b in &boxes.boxes {
        let (new, saved) = counts
            .iter()
            .find(|(n, _, _)| *n == b.number)
            .map_or((0, 0), |(_, new, saved)| (*new, *saved));
        rows.push(json!({
            "box": b.number, "name": b.name, "new": new, "saved": saved,
            "max_messages": b.limits.max_messages,
        }));
    }
    let (waiting, sent, failing): (u32, u32, u32) = conn.query_row(
        "SELECT COALESCE(SUM(sent_ms IS NULL), 0), COALESCE(SUM(sent_ms IS NOT NULL), 0),
                COALESCE(SUM(sent_ms IS NULL AND attempts > 0), 0) FROM vm_mail_queue",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let recording: u32 = conn.query_row("SELECT COUNT(*) FROM vm_recordings", [], |r| r.get(0))?;
    let data = json!({
        "boxes": rows,
        "mail": {"waiting": waiting, "sent": sent, "retrying": failing},
        "recordings_in_progress": recording,
    });
    if as_json {
        println!("{data}");
        return Ok(());
    }
    println!(
        "{:<8} {:<20} {:>5} {:>6} {:>5}",
        "box", "name", "new", "saved", "max"
    );
    for r in &rows {
        println!(
            "{:<8} {:<20} {:>5} {:>6} {:>5}",
            r["box"].as_str().unwrap_or(""),
            r["name"].as_str().unwrap_or(""),
            r["new"],
            r["saved"],
            r["max_messages"]
        );
    }
    println!("mail: {waiting} waiting ({failing} retrying after a failure), {sent} sent; {recording} recording(s) in progress");
    Ok(())
}
