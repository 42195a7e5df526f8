//! Fax reception end to end through the lockstep sim card: a far-end fax machine (spandsp on the
//! party side) dials a number whose flow runs `fax_receive`; the received TIFF-F lands in
//! `<data_dir>/fax/in/`, complete or marked partial, with no temporary file left behind.

mod common;
mod fax_pair;

use std::path::{Path, PathBuf};

use common::TestDaemon;

const FAX_FLOW: &str = "start = \"receive\"\nlanguage = \"en\"\n\
[receive]\nfax_receive = {}\non = { received = \"bye\", partial = \"bye\", failed = \"bye\" }\n\
[bye]\nhangup = true\n";

fn fax_daemon() -> TestDaemon {
    let daemon = TestDaemon::prepare(|c| c.replace("[numbers]\n", "[numbers]\n\"8300\" = \"faxin\"\n"));
    let flows = daemon.dir.path().join("flows");
    std::fs::create_dir_all(&flows).expect("flows");
    std::fs::copy(
        Path::new(common::REPO).join("etc/flows/main.toml"),
        flows.join("main.toml"),
    )
    .expect("main flow");
    std::fs::write(flows.join("faxin.toml"), FAX_FLOW).expect("fax flow");
    daemon.launch()
}

fn inbound(daemon: &TestDaemon) -> Vec<PathBuf> {
    let dir = daemon.dir.path().join("data/fax/in");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    files
}

#[test]
fn a_three_page_fax_is_received_into_the_inbound_spool() {
    let daemon = fax_daemon();
    let work = tempfile::Builder::new()
        .prefix("fax-sim-")
        .tempdir()
        .expect("tmp");
    let doc = work.path().join("doc.tif");
    fax_pair::make_document(&doc, 3, 2292);
    let (call, fax) = fax_pair::fax_machine_send(&daemon.sim_socket(), "8300", &doc, None);
    assert!(call.answered, "{call:?}");
    assert!(fax.result.is_ok(), "far-end sender: {}", fax.result);
    assert_eq!(fax.pages, 3);
    let call_id = call.call_id.expect("call id");
    let files = inbound(&daemon);
    let expected = daemon.dir.path().join(format!("data/fax/in/{call_id}.tif"));
    assert_eq!(
        files,
        std::slice::from_ref(&expected),
        "one complete fax, no temporary file"
    );
    assert_eq!(fax_pair::tiffinfo_pages(&expected), 3);
    assert_eq!(
        fax_pair::bitmaps(&expected),
        fax_pair::bitmaps(&doc),
        "pixel for pixel (ECM)"
    );
}

#[test]
fn a_fax_cut_off_at_page_3_keeps_two_pages_marked_partial() {
    let daemon = fax_daemon();
    let work = tempfile::Builder::new()
        .prefix("fax-sim-")
        .tempdir()
        .expect("tmp");
    let doc = work.path().join("doc.tif");
    fax_pair::make_document(&doc, 3, 2292);
    // The far end hangs up 2 s after page 2 was confirmed: during page 3.
    let (call, fax) = fax_pair::fax_machine_send(&daemon.sim_socket(), "8300", &doc, Some((2, 100)));
    assert!(call.answered);
    assert!(!fax.result.is_ok());
    assert_eq!(fax.pages, 2);
    let call_id = call.call_id.expect("call id");
    daemon.wait_calls("the cut call to end", |calls| {
        calls
            .iter()
            .any(|c| c["uniqueid"] == call_id.as_str() && !c["end"].is_null())
    });
    let files = inbound(&daemon);
    let partial = daemon
        .dir
        .path()
        .join(format!("data/fax/in/{call_id}-partial.tif"));
    assert_eq!(
        files,
        std::slice::from_ref(&partial),
        "the pages received, marked partial; no temporary file"
    );
    let got = fax_pair::bitmaps(&partial);
    assert!(got.len() >= 2, "{} pages kept", got.len());
    assert_eq!(got[..2], fax_pair::bitmaps(&doc)[..2]);
}
