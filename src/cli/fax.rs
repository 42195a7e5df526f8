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
