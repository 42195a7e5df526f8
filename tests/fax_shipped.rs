//! The shipped configuration's fax services, end to end on the lockstep sim card: option 2 of the
//! hotline (etc/flows/main.toml) checks the keyed document number, asks the caller to press Start
//! and sends the document on the same call; a fax machine that dials the hotline is recognised by
//! its calling tone and received; the fax line 8200 (etc/flows/fax.toml) answers straight into fax.

mod common;
mod fax_pair;

use std::path::{Path, PathBuf};

use common::TestDaemon;

/// The shipped config with the repository's demo catalog and a frozen clock inside opening hours.
fn shipped_daemon() -> TestDaemon {
    let catalog = Path::new(common::REPO).join("faxdocs/catalog.toml");
    TestDaemon::start_with(|c| {
        let c = c.replace(
            "# fax_catalog = \"/usr/share/telvox/faxdocs/catalog.toml\"",
            &format!("fax_catalog = \"{}\"", catalog.display()),
        );
        assert!(
            c.contains("\nfax_catalog = "),
            "the shipped config lost its fax_catalog line"
        );
        c.replace(
            "# test_now = \"2026-11-23T10:00:00+08:00\"   (tests only: freezes the clock `hours` reads)",
            "test_now = \"2026-11-23T10:00:00+08:00\"",
        )
    })
}

/// The price list (document 1) as the daemon converted it.
fn price_list(daemon: &TestDaemon) -> PathBuf {
    let out = daemon.cli(&["fax", "docs", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let docs: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("json");
    let doc = docs
        .iter()
        .find(|d| d["id"] == "1")
        .expect("document 1 in the demo catalog");
    PathBuf::from(doc["tiff"].as_str().expect("tiff"))
}

/// Pages of a received TIFF below the header line telvox adds: each must end with the document's
/// page, pixel for pixel.
fn assert_document_received(received: &Path, document: &Path) {
    let (got, sent) = (fax_pair::bitmaps(received), fax_pair::bitmaps(document));
    assert_eq!(got.len(), sent.len(), "pages");
    for (page, (got, sent)) in got.iter().zip(&sent).enumerate() {
        assert!(
            got.len() >= sent.len(),
            "page {page} is shorter than the document's"
        );
        assert!(got[got.len() - sent.len()..] == sent[..], "page {page} differs");
    }
}

const START: [&str; 5] = ["choose_language", "english", "hours", "welcome", "main_menu"];

#[test]
fn hotline_option_2_faxes_the_keyed_document_on_the_same_call() {
    let daemon = shipped_daemon();
    let work = tempfile::Builder::new()
        .prefix("fax-shipped-")
        .tempdir()
        .expect("tmp");
    let received = work.path().join("got.tif");
    // 2: English; 2 (during the welcome): fax; 9# (no such document): refused and asked again;
    // 1#: the price list; 1: on this call; then "press Start" plays and the caller's machine starts
    // receiving.
    let (call, fax) = fax_pair::fax_machine_receive(
        &daemon.sim_socket(),
        "8000",
        &[(20, "2"), (60, "2"), (110, "9#"), (400, "1#"), (520, "1")],
        900,
        &received,
        40_000,
    );
    assert!(call.answered);
    assert!(fax.result.is_ok(), "far-end receiver: {}", fax.result);
    assert_document_received(&received, &price_list(&daemon));
    let path = daemon.call_path(call.call_id.as_deref().expect("id"));
    let mut expected: Vec<&str> = START.to_vec();
    expected.extend([
        "fax",
        "fax_check",
        "fax_invalid",
        "fax",
        "fax_check",
        "fax_delivery",
        "fax_press_start",
        "fax_send",
        "hangup",
    ]);
    assert_eq!(path, expected);
}

#[test]
fn a_fax_machine_dialling_the_hotline_is_received() {
    let daemon = shipped_daemon();
    let work = tempfile::Builder::new()
        .prefix("fax-shipped-")
        .tempdir()
        .expect("tmp");
    let doc = work.path().join("doc.tif");
    fax_pair::make_document(&doc, 2, 2292);
    // The machine sends its calling tone (CNG) while the language menu plays.
    let (call, fax) = fax_pair::fax_machine_send(&daemon.sim_socket(), "8000", &doc, None);
    assert!(fax.result.is_ok(), "{}", fax.result);
    let call_id = call.call_id.expect("call id");
    let path = daemon.call_path(&call_id);
    assert_eq!(
        path,
        [
            "choose_language",
            "fax_detected",
            "fax_tone",
            "fax_receive",
            "hangup"
        ]
    );
    let received = daemon.dir.path().join(format!("data/fax/in/{call_id}.tif"));
    for _ in 0..500 {
        if received.with_extension("pdf").exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(fax_pair::bitmaps(&received), fax_pair::bitmaps(&doc));
    assert!(received.with_extension("pdf").exists(), "no PDF copy");
}

#[test]
fn the_fax_line_answers_straight_into_reception() {
    let daemon = shipped_daemon();
    let work = tempfile::Builder::new()
        .prefix("fax-shipped-")
        .tempdir()
        .expect("tmp");
    let doc = work.path().join("doc.tif");
    fax_pair::make_document(&doc, 1, 2292);
    let (call, fax) = fax_pair::fax_machine_send(&daemon.sim_socket(), "8200", &doc, None);
    assert!(fax.result.is_ok(), "{}", fax.result);
    let call_id = call.call_id.expect("call id");
    assert_eq!(daemon.call_path(&call_id), ["receive", "done"]);
    let received = daemon.dir.path().join(format!("data/fax/in/{call_id}.tif"));
    assert_eq!(fax_pair::bitmaps(&received), fax_pair::bitmaps(&doc));
}
