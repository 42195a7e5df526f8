//! The fax-on-demand library: `faxdocs/catalog.toml` lists the documents a caller can ask for.
//!
//! ```toml
//! [[document]]
//! id = "2"                 # the digits a caller keys (1 to 8 digits, quoted)
//! title = "Price list"
//! file = "pricelist.ps"    # relative to the catalog; .tif/.tiff used as is, .pdf/.ps/.eps converted
//! language = "en"          # optional: the same id may exist once per language
//! resolution = "fine"      # optional, for converted documents: "fine" (default) or "standard"
//! ```
//!
//! TIFF documents must already be Class F (1728 px wide, 204 dpi across, 98 or 196 dpi down, MH, MR
//! or MMR). PDF and PostScript are converted with ghostscript when the catalog loads, into a cache
//! keyed by the source's contents, so a changed source is converted again and an unchanged one is
//! not. Every document, converted or not, is validated page by page at load: a bad file is a load
//! error naming the catalog entry (file:line:col) and the file, never a failed call.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use toml::Spanned;

use super::tiff::{check_class_f, read_pages, FaxResolution};
use crate::config::tree::{Item, Key, Node, Source};
use crate::config::{Diagnostic, Severity};

/// Bounds (DESIGN.md §5): documents in a catalog, pages in one document, lengths of its fields.
pub const MAX_DOCUMENTS: usize = 1000;
pub const MAX_DOCUMENT_PAGES: usize = 100;
const MAX_ID_DIGITS: usize = 8;
const MAX_TITLE_CHARS: usize = 100;
const MAX_LANGUAGE_CHARS: usize = 16;
/// A ghostscript conversion that takes longer than this is stopped and reported.
const GS_TIMEOUT: Duration = Duration::from_secs(120);
/// Changes whenever the conversion settings change, so old cache entries are not reused.
const CONVERSION_VERSION: &str = "tiffg3-v1";

const DOCUMENT_KEYS: &[&str] = &["id", "title", "file", "language", "resolution"];

/// One document a caller can ask for, ready to send.
#[derive(Clone, Debug, PartialEq)]
pub struct FaxDocument {
    pub id: String,
    pub title: String,
    pub language: Option<String>,
    /// The file named in the catalog.
    pub source: PathBuf,
    /// The TIFF-F that is sent: the source itself, or its converted copy in the cache.
    pub tiff: PathBuf,
    pub pages: usize,
    pub resolution: FaxResolution,
    /// True when `tiff` was converted from a PDF or PostScript source.
    pub converted: bool,
}

/// The loaded catalog.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Catalog {
    pub file: PathBuf,
    documents: Vec<FaxDocument>,
}

/// Where converted documents are cached: `<data_dir>/fax/cache`.
pub fn cache_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("fax").join("cache")
}

/// The catalog was refused: every problem found, each naming the catalog entry and the file.
#[derive(Debug, thiserror::Error)]
pub struct CatalogError(pub Vec<Diagnostic>);

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fax catalog has {} error(s)", self.0.len())?;
        for diagnostic in &self.0 {
            write!(f, "\n{diagnostic}")?;
        }
        Ok(())
    }
}

impl Catalog {
    /// Loads `catalog_file`, converting PDF/PostScript into `cache_dir` (created if missing).
    pub fn load(catalog_file: &Path, cache_dir: &Path) -> Result<Catalog, CatalogError> {
        let mut errors = Vec::new();
        let text = match std::fs::read_to_string(catalog_file) {
            Ok(text) => text,
            Err(e) => {
                return Err(CatalogError(vec![Diagnostic {
                    severity: Severity::Error,
                    file: catalog_file.to_path_buf(),
                    line: 1,
                    column: 1,
                    message: format!("cannot read the fax catalog: {e}"),
                }]))
            }
        };
        let src = Source::new(catalog_file.to_path_buf(), text);
        let base = catalog_file.parent().unwrap_or(Path::new("."));
        let mut error = |offset: usize, message: String| {
            errors.push(src.diagnostic(Severity::Error, offset, message));
        };
        let entries = match toml::from_str::<Spanned<Node>>(&src.text) {
            Ok(doc) => match doc.into_inner() {
                Node::Table(entries) => entries,
                _ => Vec::new(),
            },
            Err(e) => {
                let offset = e.span().map_or(0, |s| s.start);
                let message = e.message().lines().next().unwrap_or("").trim().to_owned();
                error(offset, format!("TOML syntax: {message}"));
                Vec::new()
            }
        };
        let mut documents: Vec<FaxDocument> = Vec::new();
        for (key, item) in entries {
            if key.get_ref() != "document" {
                error(
                    key.span().start,
                    format!(
                        "unknown key `{}`: the catalog holds [[document]] tables only",
                        key.get_ref()
                    ),
                );
                continue;
            }
            let Node::Array(tables) = item.get_ref() else {
                error(
                    item.span().start,
                    "`document` must be a list of tables: write each as [[document]]".into(),
                );
                continue;
            };
            for table in tables {
                if documents.len() >= MAX_DOCUMENTS {
                    error(table.span().start, format!("more than {MAX_DOCUMENTS} documents"));
                    break;
                }
                let Node::Table(fields) = table.get_ref() else {
                    error(
                        table.span().start,
                        "each document is a table: [[document]]".into(),
                    );
                    continue;
                };
                if let Some(doc) = read_document(table, fields, base, cache_dir, &documents, &mut error) {
                    documents.push(doc);
                }
            }
        }
        if errors.is_empty() {
            Ok(Catalog {
                file: catalog_file.to_path_buf(),
                documents,
            })
        } else {
            Err(CatalogError(errors))
        }
    }

    pub fn documents(&self) -> &[FaxDocument] {
        &self.documents
    }

    /// The document with these digits: the one in `language` if there is one, else one without a
    /// language, else any.
    pub fn get(&self, id: &str, language: Option<&str>) -> Option<&FaxDocument> {
        let candidates = || self.documents.iter().filter(move |d| d.id == id);
        language
            .and_then(|lang| candidates().find(|d| d.language.as_deref() == Some(lang)))
            .or_else(|| candidates().find(|d| d.language.is_none()))
            .or_else(|| candidates().next())
    }
}

fn string_field<'a>(
    fields: &'a [(Key, Item)],
    name: &str,
    error: &mut impl FnMut(usize, String),
) -> Option<(&'a str, usize)> {
    let (_, item) = fields.iter().find(|(k, _)| k.get_ref() == name)?;
    match item.get_ref() {
        Node::Str(s) => Some((s.as_str(), item.span().start)),
        other => {
            error(
                item.span().start,
                format!("`{name}` must be a quoted string, not {}", other.kind()),
            );
            None
        }
    }
}

fn read_document(
    table: &Item,
    fields: &[(Key, Item)],
    base: &Path,
    cache_dir: &Path,
    earlier: &[FaxDocument],
    error: &mut impl FnMut(usize, String),
) -> Option<FaxDocument> {
    let start = table.span().start;
    for (key, _) in fields {
        if !DOCUMENT_KEYS.contains(&key.get_ref().as_str()) {
            error(
                key.span().start,
                format!(
                    "unknown key `{}` in a document; the keys are {}",
                    key.get_ref(),
                    DOCUMENT_KEYS.join(", ")
                ),
            );
        }
    }
    let id = string_field(fields, "id", error);
    let title = string_field(fields, "title", error);
    let file = string_field(fields, "file", error);
    let language = string_field(fields, "language", error);
    let resolution = string_field(fields, "resolution", error);
    let mut ok = true;
    for (value, name) in [(&id, "id"), (&title, "title"), (&file, "file")] {
        if value.is_none() && !fields.iter().any(|(k, _)| k.get_ref() == name) {
            error(start, format!("this document has no `{name}`"));
            ok = false;
        }
    }
    let (id, id_at) = id?;
    let (title, title_at) = title?;
    let (file, file_at) = file?;
    if id.is_empty() || id.len() > MAX_ID_DIGITS || !id.bytes().all(|b| b.is_ascii_digit()) {
        error(
            id_at,
            format!("id {id:?} must be 1 to {MAX_ID_DIGITS} digits (what the caller keys)"),
        );
        ok = false;
    }
    if title.trim().is_empty() || title.chars().count() > MAX_TITLE_CHARS {
        error(
            title_at,
            format!("title must be 1 to {MAX_TITLE_CHARS} characters"),
        );
        ok = false;
    }
    let language = match language {
        Some((lang, at))
            if lang.is_empty()
                || lang.len() > MAX_LANGUAGE_CHARS
                || !lang
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            error(
                at,
                format!("language {lang:?} must be a short code such as \"en\" or \"zh\""),
            );
            ok = false;
            None
        }
        Some((lang, _)) => Some(lang.to_owned()),
        None => None,
    };
    let wanted_resolution = match resolution {
        None | Some(("fine", _)) => FaxResolution::Fine,
        Some(("standard", _)) => FaxResolution::Standard,
        Some((other, at)) => {
            error(
                at,
                format!("resolution {other:?} must be \"fine\" or \"standard\""),
            );
            ok = false;
            FaxResolution::Fine
        }
    };
    if earlier.iter().any(|d| d.id == id && d.language == language) {
        error(
            id_at,
            match &language {
                Some(lang) => format!("document {id} in language {lang} is listed twice"),
                None => format!("document {id} (no language) is listed twice"),
            },
        );
        ok = false;
    }
    let source = base.join(file);
    let extension = source
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let convert = match extension.as_deref() {
        Some("tif" | "tiff") => false,
        Some("pdf" | "ps" | "eps") => true,
        _ => {
            error(
                file_at,
                format!(
                    "{}: unsupported document type; use TIFF-F (.tif), PDF (.pdf) or PostScript (.ps)",
                    source.display()
                ),
            );
            return None;
        }
    };
    if let Err(e) = std::fs::metadata(&source) {
        error(file_at, format!("{}: {e}", source.display()));
        return None;
    }
    if !ok {
        return None;
    }
    let tiff = if convert {
        match convert_cached(&source, cache_dir, wanted_resolution) {
            Ok(tiff) => tiff,
            Err(message) => {
                error(file_at, format!("{}: {message}", source.display()));
                return None;
            }
        }
    } else {
        source.clone()
    };
    let (pages, resolution) = match validate(&tiff) {
        Ok(found) => found,
        Err(message) => {
            error(file_at, format!("{}: {message}", tiff.display()));
            return None;
        }
    };
    Some(FaxDocument {
        id: id.to_owned(),
        title: title.to_owned(),
        language,
        source,
        tiff,
        pages,
        resolution,
        converted: convert,
    })
}

/// Checks every page of a TIFF-F; returns the page count and the (common) resolution.
pub fn validate(tiff: &Path) -> Result<(usize, FaxResolution), String> {
    let pages = read_pages(tiff).map_err(|e| e.to_string())?;
    if pages.len() > MAX_DOCUMENT_PAGES {
        return Err(format!(
            "{} pages; a fax document has at most {MAX_DOCUMENT_PAGES}",
            pages.len()
        ));
    }
    let mut resolution = None;
    for (index, page) in pages.iter().enumerate() {
        let found = check_class_f(page).map_err(|m| format!("page {} {m}", index + 1))?;
        if page.length_px == 0 {
            return Err(format!("page {} has no rows", index + 1));
        }
        resolution.get_or_insert(found);
    }
    Ok((pages.len(), resolution.unwrap_or(FaxResolution::Fine)))
}

/// FNV-1a, 64 bits: a content key for the cache (not a security boundary).
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &byte in *part {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        hash ^= 0xff;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The converted TIFF for `source`, from the cache when its contents have not changed since.
fn convert_cached(source: &Path, cache_dir: &Path, resolution: FaxResolution) -> Result<PathBuf, String> {
    let bytes = std::fs::read(source).map_err(|e| format!("cannot read: {e}"))?;
    let res_name = match resolution {
        FaxResolution::Fine => "fine",
        FaxResolution::Standard => "standard",
    };
    let key = fnv1a(&[CONVERSION_VERSION.as_bytes(), res_name.as_bytes(), &bytes]);
    let stem = source.file_stem().and_then(|s| s.to_str()).unwrap_or("document");
    let cached = cache_dir.join(format!("{stem}-{key:016x}-{res_name}.tif"));
    if cached.is_file() && validate(&cached).is_ok() {
        return Ok(cached);
    }
    std::fs::create_dir_all(cache_dir)
        .map_err(|e| format!("cannot create the cache {}: {e}", cache_dir.display()))?;
    let temporary = cache_dir.join(format!(
        ".{stem}-{key:016x}-{res_name}.tif.tmp{}",
        std::process::id()
    ));
    let result = ghostscript_to_tiff(source, &temporary, resolution).and_then(|()| {
        validate(&temporary).map_err(|m| format!("ghostscript's output is not a fax page: {m}"))?;
        std::fs::rename(&temporary, &cached)
            .map_err(|e| format!("cannot move the converted file into the cache: {e}"))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result.map(|()| cached)
}

/// Renders a PDF or PostScript file to TIFF-F (MH, 1728 px wide, A4 length) with ghostscript.
pub fn ghostscript_to_tiff(source: &Path, output: &Path, resolution: FaxResolution) -> Result<(), String> {
    // 1728 px at 204 dpi is 215 mm; A4's 297 mm is 1146 rows at 98 dpi, 2292 at 196.
    let (dpi, rows) = match resolution {
        FaxResolution::Fine => ("-r204x196", 2292),
        FaxResolution::Standard => ("-r204x98", 1146),
    };
    let mut child = Command::new("gs")
        .args([
            "-q",
            "-dNOPAUSE",
            "-dBATCH",
            "-dSAFER",
            "-sDEVICE=tiffg3",
            dpi,
            "-dFIXEDMEDIA",
            "-dFitPage",
            "-dPDFFitPage",
        ])
        .arg(format!("-g1728x{rows}"))
        .arg(format!("-sOutputFile={}", output.display()))
        .arg("--")
        .arg(source)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                "converting it needs ghostscript (`gs`), which is not installed (install.sh installs it)"
                    .to_owned()
            } else {
                format!("cannot run ghostscript: {e}")
            }
        })?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() > GS_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "ghostscript did not finish within {} s",
                    GS_TIMEOUT.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("waiting for ghostscript: {e}")),
        }
    }
    let output_result = child
        .wait_with_output()
        .map_err(|e| format!("ghostscript: {e}"))?;
    if output_result.status.success() && output.is_file() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&output_result.stderr);
        let first = stderr
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("no message");
        Err(format!(
            "ghostscript could not convert it ({}): {first}",
            output_result.status
        ))
    }
}
