//! `telvox sup list|passwd`: the supervisors of supervisors.toml and their PINs.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::json;

use crate::apps::voicemail::cli::{read_pin_hash, side_file_path};

#[derive(clap::Subcommand, Clone, Debug)]
pub enum SupCommand {
    /// The supervisors, whether each has a PIN, and any lockout in force.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Reads a new PIN (4 to 16 digits) from stdin and stores its salted hash in supervisors.toml
    /// (comments kept); a lockout in force is lifted.
    Passwd {
        #[arg(value_name = "ID")]
        id: String,
    },
}

pub fn run(config_path: &Path, command: &SupCommand) -> Result<i32> {
    match command {
        SupCommand::List { json } => list(config_path, *json),
        // Works on a file the config check refuses (a plain PIN is what it replaces).
        SupCommand::Passwd { id } => passwd(config_path, id),
    }
}

fn list(config_path: &Path, as_json: bool) -> Result<i32> {
    let config = crate::cli::load_config(config_path)?;
    let Some(sups) = &config.supervisors else {
        bail!(
            "{} names no supervisors file: add supervisors = \"supervisors.toml\" (or put one beside it)",
            config_path.display()
        );
    };
    let conn =
        rusqlite::Connection::open_with_flags(config.db_path(), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .ok();
    let now = crate::apps::voicemail::db::now_ms();
    let rows: Vec<serde_json::Value> = sups
        .list
        .iter()
        .map(|s| {
            let until = conn
                .as_ref()
                .and_then(|c| {
                    crate::apps::voicemail::db::pin_locked_until(c, &super::service::lockout_key(&s.id)).ok()
                })
                .filter(|&u| u > now);
            json!({
                "id": s.id,
                "name": s.name,
                "pin_set": s.pin_hash.is_some(),
                "locked_until": until.map(crate::ctl::iso_ms),
            })
        })
        .collect();
    if as_json {
        println!("{}", serde_json::to_string(&rows)?);
    } else {
        println!("{:<8} {:<24} {:<4} LOCKED UNTIL", "ID", "NAME", "PIN");
        for r in &rows {
            println!(
                "{:<8} {:<24} {:<4} {}",
                r["id"].as_str().unwrap_or(""),
                r["name"].as_str().unwrap_or(""),
                if r["pin_set"] == true { "yes" } else { "no" },
                r["locked_until"].as_str().unwrap_or("-")
            );
        }
    }
    Ok(0)
}

fn passwd(config_path: &Path, id: &str) -> Result<i32> {
    let path = side_file_path(config_path, "supervisors", "supervisors.toml")?;
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let doc: toml_edit::DocumentMut = text
        .parse()
        .map_err(|e| anyhow!("{}: not valid TOML: {e}", path.display()))?;
    let exists = doc
        .get("supervisor")
        .and_then(|b| b.as_array_of_tables())
        .is_some_and(|a| a.iter().any(|t| t.get("id").and_then(|n| n.as_str()) == Some(id)));
    if !exists {
        bail!("no [[supervisor]] with id = \"{id}\" in {}", path.display());
    }
    let hash = read_pin_hash()?;
    crate::apps::voicemail::config::set_table_pin_hash(&path, "supervisor", "id", id, &hash)
        .map_err(|e| anyhow!(e))?;
    // A new PIN lifts a lockout (when the call log is reachable: the daemon may not have made it).
    if let Ok(config) = crate::cli::load_config(config_path) {
        if config.db_path().is_file() {
            if let Ok(conn) = crate::apps::voicemail::db::open(&config.db_path()) {
                let _ = crate::apps::voicemail::db::pin_ok(&conn, &super::service::lockout_key(id));
            }
        }
    }
    println!(
        "PIN of supervisor {id} set in {} (telvox reload applies it to the running daemon)",
        path.display()
    );
    Ok(0)
}
