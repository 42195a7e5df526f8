//! `telvox fax …`: fax tools that work without the daemon.

use std::path::Path;

use anyhow::{bail, Result};
use serde_json::json;

use crate::apps::fax::catalog::{cache_dir, Catalog};
use crate::apps::fax::tiff::FaxResolution;

/// `telvox fax docs`: loads the catalog as the daemon would and lists it; exit 1 on a bad catalog
/// (every problem printed as file:line:col), 0 otherwise.
pub fn docs(config_path: &Path, catalog: Option<&Path>, cache: Option<&Path>, json: bool) -> Result<i32> {
    // The configuration is needed only for what the options do not say.
    let config = if catalog.is_none() || cache.is_none() {
        Some(super::load_config(config_path)?)
    } else {
        None
    };
    let catalog_file = match (catalog, config.as_ref().and_then(|c| c.fax_catalog.as_ref())) {
        (Some(file), _) => file.to_path_buf(),
        (None, Some(file)) => file.clone(),
        (None, None) => bail!(
            "{} has no fax_catalog: add fax_catalog = \"…/catalog.toml\" or pass --catalog FILE",
            config_path.display()
        ),
    };
    let cache = match (cache, &config) {
        (Some(dir), _) => dir.to_path_buf(),
        (None, Some(config)) => cache_dir(&config.data_dir),
        (None, None) => unreachable!("the configuration is loaded when --cache is not given"),
    };
    let catalog = match Catalog::load(&catalog_file, &cache) {
        Ok(catalog) => catalog,
        Err(e) => {
            for diagnostic in &e.0 {
                println!("{diagnostic}");
            }
            println!("{}: {} error(s): not usable", catalog_file.display(), e.0.len());
            return Ok(1);
        }
    };
    let resolution = |r: FaxResolution| match r {
        FaxResolution::Fine => "fine",
        FaxResolution::Standard => "standard",
    };
    if json {
        let docs: Vec<_> = catalog
            .documents()
            .iter()
            .map(|d| {
                json!({
                    "id": d.id,
                    "title": d.title,
                    "language": d.language,
                    "pages": d.pages,
                    "resolution": resolution(d.resolution),
                    "source": d.source,
                    "tiff": d.tiff,
                    "converted": d.converted,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&docs)?);
    } else {
        println!("{:<8} {:<4} {:>5}  {:<8}  title", "id", "lang", "pages", "res");
        for d in catalog.documents() {
            println!(
                "{:<8} {:<4} {:>5}  {:<8}  {}",
                d.id,
                d.language.as_deref().unwrap_or("-"),
                d.pages,
                resolution(d.resolution),
                d.title
            );
        }
    }
    Ok(0)
}

/// `telvox fax log [--from --to --direction --limit --json]`: rows of `fax_sessions`, newest first
/// (read-only; works with the daemon stopped). Exit 1 when nothing matched.
pub fn log(
    config_path: &Path,
    from: Option<&str>,
    to: Option<&str>,
    direction: Option<&str>,
    limit: usize,
    json: bool,
) -> Result<i32> {
    use crate::apps::fax::record::{query, Direction, LogFilter};
    let config = super::load_config(config_path)?;
    let direction = match direction {
        None => None,
        Some("in") => Some(Direction::In),
        Some("out") => Some(Direction::Out),
        Some(other) => bail!("--direction {other}: expected in (received) or out (sent)"),
    };
    let filter = LogFilter {
        from_ms: from.map(super::parse_since).transpose()?,
        to_ms: to.map(super::parse_since).transpose()?,
        direction,
        limit: limit.clamp(1, 1_000_000),
    };
    let db = config.db_path();
    if !db.exists() {
        bail!(
            "no call log at {}: the daemon creates it when it starts",
            db.display()
        );
    }
    let conn = rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", db.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    let rows = query(&conn, &filter).map_err(|e| {
        anyhow::anyhow!(
            "{}: cannot read fax_sessions ({e}): start the daemon once to upgrade it",
            db.display()
        )
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!(
            "{:<19}  {:<3}  {:<20}  {:>5}  {:>5}  {:<7}  {:<3}  {:<3}  {:<8}  {:<24}  file",
            "start (local)", "dir", "remote id", "pages", "bps", "modem", "cmp", "ecm", "res", "result"
        );
        for r in &rows {
            let start = chrono::DateTime::from_timestamp_millis(r.start_ms)
                .map(|t| {
                    t.with_timezone(&chrono::Local)
                        .format("%Y-%m-%d %H:%M:%S")
                        .to_string()
                })
                .unwrap_or_default();
            let result = if r.partial {
                format!("{} (partial)", r.result_text)
            } else {
                r.result_text.clone()
            };
            println!(
                "{:<19}  {:<3}  {:<20}  {:>5}  {:>5}  {:<7}  {:<3}  {:<3}  {:<8}  {:<24}  {}",
                start,
                r.direction,
                r.remote_id,
                r.pages,
                r.bit_rate,
                r.modem,
                r.compression,
                if r.ecm { "yes" } else { "no" },
                r.resolution,
                result,
                r.file
            );
        }
    }
    Ok(if rows.is_empty() { 1 } else { 0 })
}
