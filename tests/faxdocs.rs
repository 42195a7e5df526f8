//! The fax-on-demand catalog through the CLI (`telvox fax docs`, `telvox config check`): the shipped
//! documents load, PDF/PostScript conversion is cached and redone when the source changes, and a
//! bad document is a load error naming the catalog entry and the file.

mod fax_pair;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use telvox::dsp::fax::FaxOutcome;
use telvox::hw::Law;

const BIN: &str = env!("CARGO_BIN_EXE_telvox");
const REPO: &str = env!("CARGO_MANIFEST_DIR");

fn docs(catalog: &Path, cache: &Path, json: bool) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(["fax", "docs", "--catalog"])
        .arg(catalog)
        .arg("--cache")
        .arg(cache);
    if json {
        cmd.arg("--json");
    }
    cmd.output().expect("run telvox")
}

fn docs_json(catalog: &Path, cache: &Path) -> Vec<Value> {
    let out = docs(catalog, cache, true);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice::<Vec<Value>>(&out.stdout).expect("json")
}

/// A copy of faxdocs/ in a fresh directory.
fn faxdocs_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix("fax-docs-")
        .tempdir()
        .expect("tmp");
    let docs = dir.path().join("faxdocs");
    std::fs::create_dir(&docs).expect("mkdir");
    for entry in std::fs::read_dir(Path::new(REPO).join("faxdocs")).expect("faxdocs") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), docs.join(entry.file_name())).expect("copy");
    }
    (dir, docs)
}

#[test]
fn shipped_catalog_loads_and_converts_once() {
    let (dir, docs) = faxdocs_copy();
    let cache = dir.path().join("cache");
    let list = docs_json(&docs.join("catalog.toml"), &cache);
    assert_eq!(list.len(), 2);
    let price = &list[0];
    assert_eq!(price["id"], "1");
    assert_eq!(price["language"], "en");
    assert_eq!(price["pages"], 2);
    assert_eq!(price["converted"], true);
    let converted = PathBuf::from(price["tiff"].as_str().expect("tiff"));
    assert!(converted.starts_with(&cache));
    assert_eq!(fax_pair::tiffinfo_pages(&converted), 2);
    assert_eq!(list[1]["id"], "2");
    assert_eq!(list[1]["pages"], 1);
    assert_eq!(list[1]["converted"], false);

    // Unchanged source: the cached file is reused as is (same path, not rewritten).
    let modified = std::fs::metadata(&converted)
        .and_then(|m| m.modified())
        .expect("mtime");
    std::thread::sleep(std::time::Duration::from_millis(20));
    let again = docs_json(&docs.join("catalog.toml"), &cache);
    assert_eq!(again[0]["tiff"], price["tiff"]);
    assert_eq!(
        std::fs::metadata(&converted)
            .and_then(|m| m.modified())
            .expect("mtime"),
        modified
    );

    // A changed source is converted again (a third page appears).
    let ps = docs.join("pricelist.ps");
    let text = std::fs::read_to_string(&ps).expect("ps");
    let extra = "%%Page: 3 3\n(Page 3: new products) 72 700 body\nshowpage\n%%EOF\n";
    std::fs::write(&ps, text.replace("%%EOF\n", extra)).expect("edit ps");
    let changed = docs_json(&docs.join("catalog.toml"), &cache);
    assert_ne!(changed[0]["tiff"], price["tiff"]);
    assert_eq!(changed[0]["pages"], 3);
    // No temporary files are left in the cache.
    for entry in std::fs::read_dir(&cache).expect("cache") {
        let name = entry.expect("entry").file_name();
        assert!(!name.to_string_lossy().contains(".tmp"), "{name:?}");
    }

    // The converted document is one a fax machine accepts: it goes through a T.30 transfer.
    let received = dir.path().join("rx.tif");
    let run = fax_pair::run_pair(
        &converted,
        &received,
        &fax_pair::options("DOCS TX", true),
        &fax_pair::options("DOCS RX", false),
        Some(Law::Alaw),
        30_000,
        |_, _| false,
    );
    let FaxOutcome { result, pages, .. } = run.receiver;
    assert!(result.is_ok(), "{result}");
    assert_eq!(pages, 2);
    assert_eq!(fax_pair::bitmaps(&received), fax_pair::bitmaps(&converted));
}

/// Runs `fax docs` on a catalog with one document entry and returns (exit code, stdout).
fn one_document(dir: &Path, entry: &str) -> (Option<i32>, String) {
    let catalog = dir.join("catalog.toml");
    std::fs::write(&catalog, format!("# test\n[[document]]\n{entry}")).expect("catalog");
    let out = docs(&catalog, &dir.join("cache"), false);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn bad_documents_are_load_errors_naming_the_file() {
    let (dir, docs) = faxdocs_copy();
    let d = dir.path();

    // A TIFF that is not one: truncated.
    let hours = std::fs::read(docs.join("hours.tif")).expect("hours");
    std::fs::write(d.join("cut.tif"), &hours[..hours.len() / 2]).expect("write");
    let (code, out) = one_document(d, "id = \"7\"\ntitle = \"Cut\"\nfile = \"cut.tif\"\n");
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("catalog.toml:5:8: error:"), "{out}");
    assert!(out.contains("cut.tif: corrupt TIFF"), "{out}");

    // Not a TIFF at all.
    std::fs::write(d.join("text.tif"), "hello").expect("write");
    let (code, out) = one_document(d, "id = \"7\"\ntitle = \"Text\"\nfile = \"text.tif\"\n");
    assert_eq!(code, Some(1));
    assert!(out.contains("text.tif: not a TIFF file"), "{out}");

    // A real TIFF of the wrong width (A4 at 300 dpi is 2480 px wide).
    let wide = d.join("wide.tif");
    let status = Command::new("gs")
        .args([
            "-q",
            "-dNOPAUSE",
            "-dBATCH",
            "-dSAFER",
            "-sDEVICE=tiffg4",
            "-r300",
            "-g2480x400",
        ])
        .arg(format!("-sOutputFile={}", wide.display()))
        .arg(docs.join("hours.ps"))
        .status()
        .expect("gs");
    assert!(status.success());
    let (code, out) = one_document(d, "id = \"7\"\ntitle = \"Wide\"\nfile = \"wide.tif\"\n");
    assert_eq!(code, Some(1));
    assert!(out.contains("wide.tif: page 1 is 2480 px wide"), "{out}");

    // A PostScript file ghostscript cannot render.
    std::fs::write(d.join("broken.ps"), "%!PS\n/nosuchoperator_x exec\n").expect("write");
    let (code, out) = one_document(d, "id = \"7\"\ntitle = \"Broken\"\nfile = \"broken.ps\"\n");
    assert_eq!(code, Some(1));
    assert!(
        out.contains("broken.ps: ghostscript could not convert it"),
        "{out}"
    );

    // Missing file, bad id, unknown key, unsupported type, missing title.
    let (code, out) = one_document(
        d,
        "id = \"12a\"\ntitle = \"X\"\nfile = \"nothere.tif\"\ncolour = 1\n",
    );
    assert_eq!(code, Some(1));
    assert!(out.contains("id \"12a\" must be 1 to 8 digits"), "{out}");
    assert!(out.contains("unknown key `colour`"), "{out}");
    assert!(out.contains("nothere.tif: No such file"), "{out}");
    let (_, out) = one_document(d, "id = \"3\"\ntitle = \"Word\"\nfile = \"price.docx\"\n");
    assert!(out.contains("unsupported document type"), "{out}");
    let (_, out) = one_document(d, "id = \"3\"\nfile = \"cut.tif\"\n");
    assert!(out.contains("this document has no `title`"), "{out}");
}

#[test]
fn config_check_validates_the_fax_catalog() {
    let (dir, docs) = faxdocs_copy();
    let etc = dir.path().join("etc");
    std::fs::create_dir(&etc).expect("etc");
    let copy = |from: &Path, to: &Path| {
        let status = Command::new("cp")
            .arg("-r")
            .arg(from)
            .arg(to)
            .status()
            .expect("cp");
        assert!(status.success());
    };
    for entry in std::fs::read_dir(Path::new(REPO).join("etc")).expect("etc") {
        copy(&entry.expect("entry").path(), &etc);
    }
    let config = etc.join("telvox.toml");
    let text = std::fs::read_to_string(&config).expect("config");
    let data = dir.path().join("data");
    let run = dir.path().join("run");
    std::fs::create_dir_all(&data).expect("data");
    std::fs::create_dir_all(&run).expect("run");
    let mut edited = String::new();
    for line in text.lines() {
        if line.starts_with("data_dir") {
            edited.push_str(&format!("data_dir = \"{}\"\n", data.display()));
        } else if line.starts_with("run_dir") {
            edited.push_str(&format!("run_dir = \"{}\"\n", run.display()));
        } else {
            edited.push_str(line);
            edited.push('\n');
        }
    }
    let with_catalog = format!(
        "fax_catalog = \"{}\"\n{edited}",
        docs.join("catalog.toml").display()
    );
    std::fs::write(&config, &with_catalog).expect("config");
    let check = || {
        Command::new(BIN)
            .args(["config", "check"])
            .arg(&config)
            .output()
            .expect("run")
    };
    let out = check();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // `fax docs` without options reads the catalog and cache from the configuration.
    let out = Command::new(BIN)
        .args(["--config"])
        .arg(&config)
        .args(["fax", "docs", "--json"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    let list: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json");
    assert!(list[0]["tiff"]
        .as_str()
        .expect("tiff")
        .starts_with(data.join("fax/cache").to_str().unwrap()));

    // A station id no fax machine could show is refused with its place.
    std::fs::write(
        &config,
        format!("{with_catalog}\n[fax]\nstation_id = \"far too long for a fax station id\"\n"),
    )
    .expect("config");
    let out = check();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("fax.station_id = \"far too long for a fax station id\": at most 20"),
        "{stdout}"
    );
    std::fs::write(&config, &with_catalog).expect("config");

    // Break a document: the configuration is refused, naming the catalog entry and the file.
    std::fs::write(docs.join("hours.tif"), "not a tiff").expect("break");
    let out = check();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("catalog.toml:14:8: error:"), "{stdout}");
    assert!(stdout.contains("hours.tif: not a TIFF file"), "{stdout}");
}
