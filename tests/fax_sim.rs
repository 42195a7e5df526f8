//! Fax end to end through the lockstep sim card, against a far-end fax machine (spandsp on the party
//! side): `fax_receive` files the received TIFF-F in `<data_dir>/fax/in/`, complete or marked
//! partial, with no temporary file left behind; `fax_send` sends the catalog document the caller
//! keyed on the same call, after an unknown document id was refused and asked again.

mod common;
mod fax_pair;

use std::path::{Path, PathBuf};

use common::TestDaemon;

const FAX_FLOW: &str = "start = \"receive\"\nlanguage = \"en\"\n\
[receive]\nfax_receive = {}\non = { received = \"bye\", partial = \"bye\", failed = \"bye\" }\n\
[bye]\nhangup = true\n";

/// Fax-on-demand: key a document number, then press Start; an unknown number is refused and asked
/// again.
const FOD_FLOW: &str = "start = \"ask\"\nlanguage = \"en\"\n\
[ask]\ncollect = { prompts = [\"please-enter\"], max = 1, terminator = \"\", into = \"doc\" }\n\
on = { complete = \"send\", fail = \"bye\" }\n\
[send]\nfax_send = { document = \"${doc}\" }\non = { sent = \"bye\", failed = \"bye\", invalid = \"sorry\" }\n\
[sorry]\nplay = [\"invalid\"]\nnext = \"ask\"\n\
[bye]\nhangup = true\n";

/// A menu with fax detection: a fax calling tone anywhere goes to `fax`; a failed reception (no fax
/// after all) goes back to the menu.
const DETECT_FLOW: &str = "start = \"menu\"\nlanguage = \"en\"\nfax_detect = \"fax\"\n\
[menu]\nmenu = { prompts = [\"main-menu\"], options = { \"1\" = \"one\" }, timeout_ms = 10000, retries = 9, fallback = \"bye\" }\n\
[one]\nplay = [\"goodbye\"]\nnext = \"bye\"\n\
[fax]\nfax_receive = {}\non = { received = \"bye\", partial = \"bye\", failed = \"menu\" }\n\
[bye]\nhangup = true\n";

fn fax_daemon() -> TestDaemon {
    fax_daemon_with(&Path::new(common::REPO).join("faxdocs/catalog.toml"))
}

/// A daemon whose fax-on-demand catalog is `catalog`.
fn fax_daemon_with(catalog: &Path) -> TestDaemon {
    let daemon = TestDaemon::prepare(|c| {
        let c = c.replace(
            "[numbers]\n",
            "[numbers]\n\"8300\" = \"faxin\"\n\"8301\" = \"fod\"\n\"8302\" = \"detect\"\n",
        );
        format!(
            "fax_catalog = \"{}\"\n{c}\n[fax]\nstation_id = \"+86 10 8888 0000\"\nheader = \"telvox test\"\n",
            catalog.display()
        )
    });
    let flows = daemon.dir.path().join("flows");
    std::fs::create_dir_all(&flows).expect("flows");
    std::fs::copy(
        Path::new(common::REPO).join("etc/flows/main.toml"),
        flows.join("main.toml"),
    )
    .expect("main flow");
    std::fs::write(flows.join("faxin.toml"), FAX_FLOW).expect("fax flow");
    std::fs::write(flows.join("fod.toml"), FOD_FLOW).expect("fod flow");
    std::fs::write(flows.join("detect.toml"), DETECT_FLOW).expect("detect flow");
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

/// Each page arrives with the [fax] header line added above it (rows of 1728 px = 216 bytes), then
/// the document pixel for pixel.
fn assert_sent_with_header(received: &Path, document: &Path) {
    let (got, sent) = (fax_pair::bitmaps(received), fax_pair::bitmaps(document));
    assert_eq!(got.len(), sent.len(), "pages");
    for (page, (got, sent)) in got.iter().zip(&sent).enumerate() {
        let extra = got.len() - sent.len();
        assert!(extra > 0 && extra % 216 == 0, "page {page}: {extra} extra bytes");
        assert!(
            got[..extra].iter().any(|&b| b != 0),
            "page {page}: the header line is blank"
        );
        assert!(got[extra..] == sent[..], "page {page} differs below the header");
    }
}

/// The inbound spool once it holds `count` files and nothing temporary (filing is asynchronous).
fn wait_inbound(daemon: &TestDaemon, count: usize) -> Vec<PathBuf> {
    for _ in 0..500 {
        let files = inbound(daemon);
        let temporary = files.iter().any(|f| f.to_string_lossy().ends_with(".part"));
        if files.len() >= count && !temporary {
            return files;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    inbound(daemon)
}

/// Pages of a PDF written by tiff2pdf (one `/Type /Page` dictionary each).
fn pdf_pages(pdf: &Path) -> usize {
    let bytes = std::fs::read(pdf).expect("pdf");
    assert!(bytes.starts_with(b"%PDF-"), "not a PDF");
    String::from_utf8_lossy(&bytes)
        .lines()
        .filter(|l| l.trim_end() == "/Type /Page")
        .count()
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
    let (call, fax, ident) = fax_pair::fax_machine_send_ident(&daemon.sim_socket(), "8300", &doc, None);
    assert!(call.answered, "{call:?}");
    assert_eq!(ident, "+86 10 8888 0000", "the far machine sees [fax] station_id");
    assert!(fax.result.is_ok(), "far-end sender: {}", fax.result);
    assert_eq!(fax.pages, 3);
    let call_id = call.call_id.expect("call id");
    let files = wait_inbound(&daemon, 2);
    let expected = daemon.dir.path().join(format!("data/fax/in/{call_id}.tif"));
    assert_eq!(
        files,
        [expected.with_extension("pdf"), expected.clone()],
        "one complete fax and its PDF copy, no temporary file"
    );
    assert_eq!(pdf_pages(&expected.with_extension("pdf")), 3);
    // Fax signals are not taken for keys (no DTMF talk-off in the call log).
    let calls = daemon.wait_calls("the fax call to end", |c| {
        c.iter()
            .any(|x| x["uniqueid"] == call_id.as_str() && x["end"].is_string())
    });
    let logged = calls
        .iter()
        .find(|x| x["uniqueid"] == call_id.as_str())
        .expect("logged");
    assert_eq!(logged["digits"], "", "{logged}");
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
    let files = wait_inbound(&daemon, 2);
    let partial = daemon
        .dir
        .path()
        .join(format!("data/fax/in/{call_id}-partial.tif"));
    assert_eq!(
        files,
        [partial.with_extension("pdf"), partial.clone()],
        "the pages received, marked partial, and a PDF; no temporary file"
    );
    let got = fax_pair::bitmaps(&partial);
    assert!(got.len() >= 2, "{} pages kept", got.len());
    assert_eq!(got[..2], fax_pair::bitmaps(&doc)[..2]);
}

#[test]
fn fax_on_demand_sends_the_keyed_document_on_the_same_call() {
    let daemon = fax_daemon();
    let work = tempfile::Builder::new()
        .prefix("fax-sim-")
        .tempdir()
        .expect("tmp");
    let received = work.path().join("got.tif");
    // Key 9 (no such document): "invalid", asked again; key 1 (the price list); then press Start.
    let (call, fax) = fax_pair::fax_machine_receive(
        &daemon.sim_socket(),
        "8301",
        &[(20, "9"), (250, "1")],
        400,
        &received,
        30_000,
    );
    assert!(call.answered);
    assert!(fax.result.is_ok(), "far-end receiver: {}", fax.result);
    assert_eq!(fax.pages, 2);
    // What arrived is the converted catalog document, pixel for pixel below the header line.
    let out = daemon.cli(&["fax", "docs", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let docs: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("json");
    let price_list = PathBuf::from(docs[0]["tiff"].as_str().expect("tiff"));
    assert_sent_with_header(&received, &price_list);
    let path = daemon.call_path(call.call_id.as_deref().expect("id"));
    assert_eq!(path, ["ask", "send", "sorry", "ask", "send", "bye"]);
}

#[test]
fn a_fax_machine_calling_a_menu_is_detected_by_its_cng_and_received() {
    let daemon = fax_daemon();
    let work = tempfile::Builder::new()
        .prefix("fax-sim-")
        .tempdir()
        .expect("tmp");
    let doc = work.path().join("doc.tif");
    fax_pair::make_document(&doc, 1, 2292);
    // The machine only sends its calling tone (CNG) and waits: the menu prompt plays meanwhile.
    let (call, fax) = fax_pair::fax_machine_send(&daemon.sim_socket(), "8302", &doc, None);
    assert!(fax.result.is_ok(), "{}", fax.result);
    let call_id = call.call_id.expect("call id");
    let path = daemon.call_path(&call_id);
    assert_eq!(path, ["menu", "fax_detected", "fax", "bye"]);
    let received = daemon.dir.path().join(format!("data/fax/in/{call_id}.tif"));
    wait_inbound(&daemon, 2);
    assert_eq!(fax_pair::bitmaps(&received), fax_pair::bitmaps(&doc));
}

#[test]
fn a_flood_of_cng_that_is_no_fax_does_not_break_the_call() {
    use telvox::dsp::tones::{FaxTone, ToneGenerator};
    use telvox::hw::sim::client::run_call;
    let daemon = fax_daemon();
    let law = telvox::hw::Law::Alaw;
    let mut cng = ToneGenerator::fax(law, FaxTone::Cng);
    let key_one = common::key_blocks("1");
    let silence = [law.silence_byte(); 160];
    let mut party = daemon.party();
    // 20 s of CNG and nothing else, then silence; key 1 once the failed reception is long over.
    let outcome = run_call(
        &mut party,
        &common::dial("8302", "13800138000"),
        std::time::Duration::from_secs(20),
        |blocks, _| {
            if blocks > 6000 {
                return None;
            }
            if blocks < 1000 {
                let mut lin = [0i16; 160];
                cng.fill(&mut lin);
                let mut block = [0u8; 160];
                for (c, &s) in block.iter_mut().zip(&lin) {
                    *c = telvox::dsp::g711::encode(law, s);
                }
                return Some(block);
            }
            if (3000..3000 + key_one.len()).contains(&blocks) {
                return Some(key_one[blocks - 3000]);
            }
            Some(silence)
        },
    )
    .expect("call");
    assert!(outcome.answered);
    assert_eq!(
        outcome.cause.as_deref(),
        Some("NORMAL_CLEARING"),
        "telvox ended the call"
    );
    let path = daemon.call_path(outcome.call_id.as_deref().expect("id"));
    assert_eq!(
        path,
        ["menu", "fax_detected", "fax", "menu", "one", "bye"],
        "detected, no fax came, back to the menu, which still hears keys"
    );
    assert!(
        inbound(&daemon).is_empty(),
        "no file for a reception that got no page"
    );
}

/// CPU seconds (user + system) a process has used so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let after = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// This process's CPU seconds (the far-end fax machines and the in-process pairs).
fn own_cpu_seconds() -> f64 {
    cpu_seconds(std::process::id())
}

/// Measurement, not a check: `cargo test --release --test fax_sim fax_bench -- --ignored --nocapture`.
/// (1) spandsp back to back in-process: fax audio-seconds per CPU-second for a sender+receiver pair;
/// (2) telvox in lockstep: N simultaneous faxes into `fax_receive`, the daemon's CPU per fax second;
/// (3) telvox in realtime: one fax channel's share of a core.
#[test]
#[ignore = "a measurement"]
fn fax_bench() {
    let work = tempfile::Builder::new()
        .prefix("fax-bench-")
        .tempdir()
        .expect("tmp");
    let doc = work.path().join("doc.tif");
    fax_pair::make_document(&doc, 3, 2292);

    let before = own_cpu_seconds();
    let started = std::time::Instant::now();
    let mut audio_s = 0.0;
    for i in 0..5 {
        let run = fax_pair::run_pair(
            &doc,
            &work.path().join(format!("b2b{i}.tif")),
            &fax_pair::options("A", true),
            &fax_pair::options("B", false),
            Some(telvox::hw::Law::Alaw),
            30_000,
            |_, _| false,
        );
        assert!(run.receiver.result.is_ok());
        audio_s += run.blocks as f64 * 0.02;
    }
    let cpu = own_cpu_seconds() - before;
    eprintln!(
        "spandsp back to back: {audio_s:.0} s of fax audio (sender+receiver pairs) in {cpu:.2} CPU s \
         ({:.2} s wall): {:.0} pair-seconds per CPU-second, {:.2} % of a core per fax channel",
        started.elapsed().as_secs_f64(),
        audio_s / cpu,
        100.0 * cpu / audio_s / 2.0
    );

    for n in [8usize, 16] {
        let daemon = fax_daemon();
        let daemon_before = cpu_seconds(daemon.pid());
        let own_before = own_cpu_seconds();
        let started = std::time::Instant::now();
        let socket = daemon.sim_socket();
        let threads: Vec<_> = (0..n)
            .map(|_| {
                let (socket, doc) = (socket.clone(), doc.clone());
                std::thread::spawn(move || fax_pair::fax_machine_send(&socket, "8300", &doc, None))
            })
            .collect();
        let mut fax_s = 0.0;
        for t in threads {
            let (call, fax) = t.join().expect("party");
            assert!(fax.result.is_ok(), "{}", fax.result);
            fax_s += call.heard.len() as f64 / 8000.0;
        }
        let wall = started.elapsed().as_secs_f64();
        let daemon_cpu = cpu_seconds(daemon.pid()) - daemon_before;
        let parties_cpu = own_cpu_seconds() - own_before;
        eprintln!(
            "lockstep, {n} simultaneous faxes: {fax_s:.0} fax channel-seconds in {wall:.2} s wall; daemon \
             {daemon_cpu:.2} CPU s = {:.0} fax channel-seconds per daemon CPU-second ({:.2} % of a core \
             per realtime fax channel); far-end machines {parties_cpu:.2} CPU s",
            fax_s / daemon_cpu,
            100.0 * daemon_cpu / fax_s
        );
    }

    // Realtime: one fax, the daemon's CPU against an idle baseline of the same length.
    let daemon = {
        let daemon = TestDaemon::prepare(|c| {
            c.replace("[numbers]\n", "[numbers]\n\"8300\" = \"faxin\"\n")
                .replace("clock = \"lockstep\"", "clock = \"realtime\"")
        });
        let flows = daemon.dir.path().join("flows");
        std::fs::create_dir_all(&flows).expect("flows");
        std::fs::copy(
            Path::new(common::REPO).join("etc/flows/main.toml"),
            flows.join("main.toml"),
        )
        .expect("main flow");
        std::fs::write(flows.join("faxin.toml"), FAX_FLOW).expect("fax flow");
        daemon.launch()
    };
    let idle_before = cpu_seconds(daemon.pid());
    std::thread::sleep(std::time::Duration::from_secs(10));
    let idle_per_s = (cpu_seconds(daemon.pid()) - idle_before) / 10.0;
    let before = cpu_seconds(daemon.pid());
    let started = std::time::Instant::now();
    let (call, fax) = fax_pair::fax_machine_send(&daemon.sim_socket(), "8300", &doc, None);
    assert!(fax.result.is_ok(), "{}", fax.result);
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(daemon.pid()) - before;
    eprintln!(
        "realtime, one fax ({:.0} s of audio, {wall:.1} s wall): daemon {:.2} % of a core, idle baseline \
         {:.2} %: the fax channel costs {:.2} % of a core",
        call.heard.len() as f64 / 8000.0,
        100.0 * cpu / wall,
        100.0 * idle_per_s,
        100.0 * (cpu / wall - idle_per_s)
    );
}

#[test]
fn a_part_file_left_by_a_crash_is_filed_as_partial_at_the_next_start() {
    let mut daemon = fax_daemon();
    let work = tempfile::Builder::new()
        .prefix("fax-sim-")
        .tempdir()
        .expect("tmp");
    let doc = work.path().join("doc.tif");
    fax_pair::make_document(&doc, 3, 2292);
    // A real 2-page partial reception is turned back into the .part file a crash mid-fax leaves
    // (spandsp writes each page when it ends), with the daemon killed (SIGKILL) meanwhile.
    let socket = daemon.sim_socket();
    let doc_for_party = doc.clone();
    let party = std::thread::spawn(move || {
        fax_pair::fax_machine_send(&socket, "8300", &doc_for_party, Some((2, 100)))
    });
    let (call, _) = party.join().expect("party");
    let in_dir = daemon.dir.path().join("data/fax/in");
    let call_id = call.call_id.expect("id");
    let partial = wait_inbound(&daemon, 2)
        .into_iter()
        .find(|f| f.extension().is_some_and(|e| e == "tif"))
        .expect("tif");
    daemon.kill_9();
    let part = in_dir.join(format!("{call_id}-crash.tif.part"));
    std::fs::rename(&partial, &part).expect("make a leftover .part");
    std::fs::remove_file(partial.with_extension("pdf")).expect("remove pdf");
    daemon.relaunch();
    let files = wait_inbound(&daemon, 2);
    let recovered = in_dir.join(format!("{call_id}-crash-partial.tif"));
    assert_eq!(files, [recovered.with_extension("pdf"), recovered.clone()]);
    assert_eq!(fax_pair::bitmaps(&recovered)[..2], fax_pair::bitmaps(&doc)[..2]);
}

#[test]
fn fax_on_demand_sends_1_3_and_10_page_documents() {
    let work = tempfile::Builder::new()
        .prefix("fax-sim-")
        .tempdir()
        .expect("tmp");
    let mut catalog = String::new();
    for (id, pages) in [("1", 1), ("3", 3), ("0", 10)] {
        fax_pair::make_document(&work.path().join(format!("doc{pages}.tif")), pages, 2292);
        catalog.push_str(&format!(
            "[[document]]\nid = \"{id}\"\ntitle = \"{pages} pages\"\nfile = \"doc{pages}.tif\"\n"
        ));
    }
    let catalog_file = work.path().join("catalog.toml");
    std::fs::write(&catalog_file, catalog).expect("catalog");
    let daemon = fax_daemon_with(&catalog_file);
    for (id, pages) in [("1", 1u32), ("3", 3), ("0", 10)] {
        let received = work.path().join(format!("got{pages}.tif"));
        let (call, fax) =
            fax_pair::fax_machine_receive(&daemon.sim_socket(), "8301", &[(20, id)], 250, &received, 100_000);
        assert!(fax.result.is_ok(), "{pages} pages: {}", fax.result);
        assert_eq!(fax.pages, pages);
        assert_sent_with_header(&received, &work.path().join(format!("doc{pages}.tif")));
        let path = daemon.call_path(call.call_id.as_deref().expect("id"));
        assert_eq!(path, ["ask", "send", "bye"]);
    }
}

#[test]
fn one_and_five_page_faxes_are_received() {
    let daemon = fax_daemon();
    let work = tempfile::Builder::new()
        .prefix("fax-sim-")
        .tempdir()
        .expect("tmp");
    let mut filed = 0;
    for pages in [1u32, 5] {
        let doc = work.path().join(format!("doc{pages}.tif"));
        fax_pair::make_document(&doc, pages, 2292);
        let (call, fax) = fax_pair::fax_machine_send(&daemon.sim_socket(), "8300", &doc, None);
        assert!(fax.result.is_ok(), "{pages} pages: {}", fax.result);
        assert_eq!(fax.pages, pages);
        let call_id = call.call_id.expect("call id");
        let received = daemon.dir.path().join(format!("data/fax/in/{call_id}.tif"));
        filed += 2;
        wait_inbound(&daemon, filed);
        assert_eq!(fax_pair::tiffinfo_pages(&received), pages as usize);
        assert!(
            fax_pair::bitmaps(&received) == fax_pair::bitmaps(&doc),
            "{pages} pages differ"
        );
        assert_eq!(pdf_pages(&received.with_extension("pdf")), pages as usize);
    }
}
