//! Fax session records end to end (issue 5 item 7): every T.30 session, sent or received, leaves a
//! row in `fax_sessions` that `telvox fax log` shows — fax-on-demand sends of 1, 3 and 10 pages, a
//! 5-page reception decoded pixel for pixel, a far end hanging up at page 2 of 3 (partial row, the
//! pages really received kept, no temporary file), and a daemon killed (SIGKILL) mid-reception,
//! whose partial fax and row are filed at the next start.

mod common;
mod fax_pair;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::TestDaemon;
use serde_json::Value;

const FAX_FLOW: &str = "start = \"receive\"\nlanguage = \"en\"\n\
[receive]\nfax_receive = {}\non = { received = \"bye\", partial = \"bye\", failed = \"bye\" }\n\
[bye]\nhangup = true\n";

const FOD_FLOW: &str = "start = \"ask\"\nlanguage = \"en\"\n\
[ask]\ncollect = { prompts = [\"please-enter\"], max = 1, terminator = \"\", into = \"doc\" }\n\
on = { complete = \"send\", fail = \"bye\" }\n\
[send]\nfax_send = { document = \"${doc}\" }\non = { sent = \"bye\", failed = \"bye\", invalid = \"bye\" }\n\
[bye]\nhangup = true\n";

pub fn work_dir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("faxlog-").tempdir().expect("tmp")
}

/// A daemon with a fax reception number (8300) and fax-on-demand (8301) on `catalog`; `extra` is
/// appended to its [fax] section, `edit` applied to the whole config.
pub fn fax_daemon(catalog: &Path, extra: &str, edit: impl FnOnce(String) -> String) -> TestDaemon {
    prepare_fax_daemon(catalog, extra, edit).launch()
}

/// [`fax_daemon`], not started yet.
pub fn prepare_fax_daemon(catalog: &Path, extra: &str, edit: impl FnOnce(String) -> String) -> TestDaemon {
    let daemon = TestDaemon::prepare(|c| {
        let c = c.replace(
            "[numbers]\n",
            "[numbers]\n\"8300\" = \"faxin\"\n\"8301\" = \"fod\"\n",
        );
        edit(format!(
            "fax_catalog = \"{}\"\n{c}\n[fax]\nstation_id = \"+86 10 8888 0000\"\nheader = \"telvox test\"\n{extra}",
            catalog.display()
        ))
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
    daemon
}

/// `telvox fax log --json ARGS` once it lists `count` rows (rows are written after filing).
pub fn fax_log(daemon: &TestDaemon, args: &[&str], count: usize) -> Vec<Value> {
    let mut all = vec!["fax", "log", "--json"];
    all.extend_from_slice(args);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = daemon.cli(&all);
        let rows: Vec<Value> = if out.status.success() {
            serde_json::from_slice(&out.stdout).expect("json")
        } else {
            Vec::new()
        };
        if rows.len() >= count || Instant::now() > deadline {
            return rows;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn inbound(daemon: &TestDaemon) -> Vec<PathBuf> {
    let dir = daemon.dir.path().join("data/fax/in");
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries.map(|e| e.expect("entry").path()).collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

#[test]
fn fod_sends_of_1_3_and_10_pages_each_leave_an_outbound_session_row() {
    let work = work_dir();
    let mut catalog = String::new();
    for (id, pages) in [("1", 1), ("3", 3), ("0", 10)] {
        fax_pair::make_document(&work.path().join(format!("doc{pages}.tif")), pages, 1100);
        catalog.push_str(&format!(
            "[[document]]\nid = \"{id}\"\ntitle = \"{pages} pages\"\nfile = \"doc{pages}.tif\"\n"
        ));
    }
    let catalog_file = work.path().join("catalog.toml");
    std::fs::write(&catalog_file, catalog).expect("catalog");
    let daemon = fax_daemon(&catalog_file, "", |c| c);
    let mut calls = Vec::new();
    for (n, (id, pages)) in [("1", 1u64), ("3", 3), ("0", 10)].into_iter().enumerate() {
        let received = work.path().join(format!("got{pages}.tif"));
        let (call, fax) =
            fax_pair::fax_machine_receive(&daemon.sim_socket(), "8301", &[(20, id)], 250, &received, 100_000);
        assert!(fax.result.is_ok(), "{pages} pages: {}", fax.result);
        assert_eq!(u64::from(fax.pages), pages);
        calls.push((call.call_id.expect("id"), id, pages));
        fax_log(&daemon, &[], n + 1);
    }
    let rows = fax_log(&daemon, &["--direction", "out"], 3);
    assert_eq!(rows.len(), 3, "{rows:#?}");
    for (call_id, id, pages) in calls {
        let row = rows
            .iter()
            .find(|r| r["uniqueid"] == call_id.as_str())
            .unwrap_or_else(|| panic!("no row for {call_id}: {rows:#?}"));
        assert_eq!(row["direction"], "out");
        assert_eq!(row["pages"], pages, "{row}");
        assert_eq!(row["result_code"], 0, "{row}");
        assert_eq!(row["result_text"], "OK");
        assert_eq!(row["partial"], false);
        assert_eq!(row["document"], id);
        assert_eq!(row["remote_id"], "FAR END RECEIVER", "the far end's CSI");
        assert_eq!(row["local_id"], "+86 10 8888 0000");
        assert_eq!(row["remote_number"], "13800138000");
        assert_eq!(row["modem"], "V.17");
        assert_eq!(row["bit_rate"], 14400);
        assert_eq!(row["ecm"], true);
        assert!(
            ["MH", "MR", "MMR"].contains(&row["compression"].as_str().unwrap()),
            "{row}"
        );
        assert!(row["file"].as_str().unwrap().ends_with(".tif"), "{row}");
        assert!(row["duration_ms"].as_i64().unwrap() > 5_000, "{row}");
    }
    // Filters: nothing received; everything sent today.
    assert_eq!(
        daemon.cli(&["fax", "log", "--direction", "in"]).status.code(),
        Some(1),
        "nothing matched: exit 1"
    );
    assert_eq!(fax_log(&daemon, &["--from", "today"], 3).len(), 3);
    assert!(fax_log(&daemon, &["--to", "2000-01-01"], 0).is_empty());
    let status = daemon.cli_json(&["status", "--json"]);
    assert_eq!(status["fax_sessions"]["today"], 3, "{status}");
    assert_eq!(status["fax_sessions"]["records_dropped"], 0, "{status}");
    let text = daemon.cli(&["fax", "log"]);
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    eprintln!("{text}");
    assert!(
        text.contains("FAR END RECEIVER") && text.contains("V.17"),
        "{text}"
    );
}

#[test]
fn a_five_page_reception_is_pixel_for_pixel_and_logged_inbound() {
    let work = work_dir();
    let catalog = Path::new(common::REPO).join("faxdocs/catalog.toml");
    let daemon = fax_daemon(&catalog, "", |c| c);
    let doc = work.path().join("doc5.tif");
    fax_pair::make_document(&doc, 5, 2292);
    let (call, fax) = fax_pair::fax_machine_send(&daemon.sim_socket(), "8300", &doc, None);
    assert!(fax.result.is_ok(), "{}", fax.result);
    assert_eq!(fax.pages, 5);
    let call_id = call.call_id.expect("call id");
    let rows = fax_log(&daemon, &["--direction", "in"], 1);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    let row = &rows[0];
    let tif = daemon.dir.path().join(format!("data/fax/in/{call_id}.tif"));
    assert_eq!(row["uniqueid"], call_id.as_str());
    assert_eq!(row["direction"], "in");
    assert_eq!(row["pages"], 5);
    assert_eq!(row["partial"], false);
    assert_eq!(row["result_code"], 0);
    assert_eq!(row["remote_id"], "FAR END SENDER", "the far end's TSI");
    assert_eq!(row["resolution"], "fine");
    assert_eq!(row["file"], tif.display().to_string());
    assert_eq!(row["pdf"], tif.with_extension("pdf").display().to_string());
    assert_eq!(fax_pair::tiffinfo_pages(&tif), 5);
    assert!(
        fax_pair::bitmaps(&tif) == fax_pair::bitmaps(&doc),
        "pixel for pixel (ECM)"
    );
    // The session started after the call did and lies within it.
    let calls = daemon.wait_calls("the call to close", |c| {
        c.iter()
            .any(|x| x["uniqueid"] == call_id.as_str() && x["end"].is_string())
    });
    let logged = calls
        .iter()
        .find(|x| x["uniqueid"] == call_id.as_str())
        .expect("call");
    let call_s = logged["duration"].as_i64().expect("duration");
    let fax_ms = row["duration_ms"].as_i64().unwrap();
    assert!(
        fax_ms > 10_000 && fax_ms <= call_s * 1000 + 1000,
        "fax {fax_ms} ms in a {call_s} s call"
    );
}

#[test]
fn a_far_end_hanging_up_at_page_2_of_3_leaves_a_partial_row_and_no_temporary_file() {
    let work = work_dir();
    let catalog = Path::new(common::REPO).join("faxdocs/catalog.toml");
    let daemon = fax_daemon(&catalog, "", |c| c);
    let doc = work.path().join("doc3.tif");
    fax_pair::make_document(&doc, 3, 2292);
    // Hang up 1 s after the far end saw page 2 confirmed: during page 3.
    let (call, fax) = fax_pair::fax_machine_send(&daemon.sim_socket(), "8300", &doc, Some((2, 50)));
    assert!(!fax.result.is_ok());
    assert_eq!(fax.pages, 2);
    let call_id = call.call_id.expect("call id");
    let rows = fax_log(&daemon, &[], 1);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    let row = &rows[0];
    let partial = daemon
        .dir
        .path()
        .join(format!("data/fax/in/{call_id}-partial.tif"));
    assert_eq!(row["partial"], true, "{row}");
    assert_eq!(row["direction"], "in");
    assert_ne!(row["result_code"], 0);
    assert_eq!(row["file"], partial.display().to_string());
    let kept = fax_pair::bitmaps(&partial);
    assert_eq!(row["pages"], kept.len(), "the row counts the pages really kept");
    assert!(
        (2..=3).contains(&kept.len()),
        "{} pages kept (2 whole, maybe the cut third)",
        kept.len()
    );
    assert_eq!(kept[..2], fax_pair::bitmaps(&doc)[..2]);
    assert_eq!(
        inbound(&daemon),
        [partial.with_extension("pdf"), partial.clone()],
        "the partial fax and its PDF; no .part or .pdf.part left"
    );
}

#[test]
fn a_daemon_killed_mid_reception_files_the_partial_and_its_row_at_the_next_start() {
    use telvox::apps::fax::tiff::read_pages;
    let work = work_dir();
    let catalog = Path::new(common::REPO).join("faxdocs/catalog.toml");
    let mut daemon = fax_daemon(&catalog, "", |c| c);
    let doc = work.path().join("doc10.tif");
    fax_pair::make_document(&doc, 10, 2292);
    let socket = daemon.sim_socket();
    let doc_for_party = doc.clone();
    // The party's call fails when the daemon dies under it: its thread's panic is expected.
    let party = std::thread::spawn(move || fax_pair::fax_machine_send(&socket, "8300", &doc_for_party, None));
    let in_dir = daemon.dir.path().join("data/fax/in");
    // Wait for the reception's temporary file to hold a page or two, then kill -9.
    let deadline = Instant::now() + Duration::from_secs(60);
    let part = loop {
        let found = inbound(&daemon)
            .into_iter()
            .find(|f| f.to_string_lossy().ends_with(".tif.part"));
        if let Some(part) = found {
            if read_pages(&part).is_ok_and(|p| p.len() >= 2) {
                break part;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no page arrived: {:?}",
            inbound(&daemon)
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    daemon.kill_9();
    let _ = party.join();
    let pages_at_kill = read_pages(&part).expect("the .part file is readable").len();
    assert!((2..10).contains(&pages_at_kill), "{pages_at_kill}");
    let call_id = part
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".tif.part"))
        .expect("call id")
        .to_owned();
    daemon.relaunch();
    let rows = fax_log(&daemon, &[], 1);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    let row = &rows[0];
    let partial = in_dir.join(format!("{call_id}-partial.tif"));
    assert_eq!(row["uniqueid"], call_id.as_str());
    assert_eq!(row["partial"], true);
    assert_eq!(row["direction"], "in");
    assert_eq!(row["pages"], pages_at_kill);
    assert!(
        row["result_text"].as_str().unwrap().contains("interrupted"),
        "{row}"
    );
    assert_eq!(row["file"], partial.display().to_string());
    assert_eq!(
        inbound(&daemon),
        [partial.with_extension("pdf"), partial.clone()],
        "filed as partial with its PDF; no .part left"
    );
    assert_eq!(
        fax_pair::bitmaps(&partial),
        fax_pair::bitmaps(&doc)[..pages_at_kill]
    );
    // The call's own row is closed too.
    let calls = daemon.calls();
    let logged = calls
        .iter()
        .find(|c| c["uniqueid"] == call_id.as_str())
        .expect("the call is logged");
    assert_eq!(logged["disposition"], "INTERRUPTED", "{logged}");
    assert!(logged["end"].is_string());
}

// ---------------------------------------------------------------------------------------------------
// Email of received faxes (issue 5 item 5), against a real SMTP server (aiosmtpd)

use common::smtp::{free_port, mails, SmtpServer};

/// A mail's To and Subject, and its application/pdf attachment saved to `pdf` (Python's email
/// package reads it).
fn read_mail(mail: &Path, pdf: &Path) -> (String, String, String) {
    let script = "import email,sys\n\
        m=email.message_from_binary_file(open(sys.argv[1],'rb'))\n\
        print(m['To']); print(m['Subject'])\n\
        parts=[p for p in m.walk() if p.get_content_type()=='application/pdf']\n\
        open(sys.argv[2],'wb').write(parts[0].get_payload(decode=True)); print(parts[0].get_filename())\n";
    let out = std::process::Command::new("/usr/bin/python3")
        .args(["-c", script])
        .arg(mail)
        .arg(pdf)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    (lines[0].clone(), lines[1].clone(), lines[2].clone())
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
fn a_received_fax_is_mailed_as_pdf_after_the_smtp_server_comes_back_and_per_number() {
    let work = work_dir();
    let port = free_port();
    let catalog = Path::new(common::REPO).join("faxdocs/catalog.toml");
    let daemon = prepare_fax_daemon(
        &catalog,
        "email_to = \"fax@example.com\"\nemail_numbers = { \"8302\" = \"sales@example.com\" }\n",
        |c| c.replace("[numbers]\n", "[numbers]\n\"8302\" = \"faxin\"\n"),
    );
    // The SMTP server is voicemail's: [smtp] in mailboxes.toml.
    let mailboxes = daemon.dir.path().join("mailboxes.toml");
    let text = std::fs::read_to_string(&mailboxes).expect("mailboxes.toml");
    std::fs::write(
        &mailboxes,
        format!(
            "{text}\n[smtp]\nserver = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\n\
             from = \"telvox <fax@telvox.example>\"\nretry_max_s = 1\n"
        ),
    )
    .expect("write");
    let daemon = daemon.launch();
    let doc = work.path().join("doc3.tif");
    fax_pair::make_document(&doc, 3, 2292);
    let (call, fax) = fax_pair::fax_machine_send(&daemon.sim_socket(), "8300", &doc, None);
    assert!(fax.result.is_ok(), "{}", fax.result);
    let call_id = call.call_id.expect("call id");
    // The server is down: the mail is tried, fails, and waits in its row.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = fax_log(&daemon, &[], 1);
        let row = &rows[0];
        assert_eq!(row["mail_to"], "fax@example.com");
        assert_eq!(row["mail_sent"], false);
        if !row["mail_error"].as_str().unwrap_or("").is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "the mail was not tried: {row}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let maildir = work.path().join("maildir");
    let _server = SmtpServer::start(port, &maildir);
    let deadline = Instant::now() + Duration::from_secs(30);
    while mails(&maildir).is_empty() {
        assert!(Instant::now() < deadline, "no mail arrived:\n{}", daemon.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    let attached = work.path().join("attached.pdf");
    let (to, subject, name) = read_mail(&mails(&maildir)[0], &attached);
    assert_eq!(to, "fax@example.com");
    assert!(
        subject.contains("FAR END SENDER") && subject.contains("3 page"),
        "{subject}"
    );
    assert_eq!(name, format!("{call_id}.pdf"));
    let filed = daemon.dir.path().join(format!("data/fax/in/{call_id}.pdf"));
    assert_eq!(pdf_pages(&attached), 3, "the fax's 3 pages");
    assert!(
        std::fs::read(&attached).unwrap() == std::fs::read(&filed).unwrap(),
        "the attachment is the filed PDF of the fax"
    );
    let row = &fax_log(&daemon, &[], 1)[0];
    assert_eq!(row["mail_sent"], true, "{row}");
    let status = daemon.cli_json(&["status", "--json"]);
    assert_eq!(status["fax_sessions"]["mail_waiting"], 0, "{status}");
    // A fax to a number with its own address goes there; exactly one mail per fax.
    let doc1 = work.path().join("doc1.tif");
    fax_pair::make_document(&doc1, 1, 2292);
    let (_, fax) = fax_pair::fax_machine_send(&daemon.sim_socket(), "8302", &doc1, None);
    assert!(fax.result.is_ok(), "{}", fax.result);
    let deadline = Instant::now() + Duration::from_secs(30);
    while mails(&maildir).len() < 2 {
        assert!(Instant::now() < deadline, "no second mail:\n{}", daemon.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let (to, _, _) = read_mail(&mails(&maildir)[1], &attached);
    assert_eq!(to, "sales@example.com");
    assert_eq!(pdf_pages(&attached), 1);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(mails(&maildir).len(), 2, "no mail sent twice");
}

#[test]
fn fax_email_without_an_smtp_server_is_a_config_error() {
    let catalog = Path::new(common::REPO).join("faxdocs/catalog.toml");
    let daemon = TestDaemon::prepare(|c| {
        format!(
            "fax_catalog = \"{}\"\n{c}\n[fax]\nemail_to = \"fax@example.com\"\n",
            catalog.display()
        )
    });
    let out = daemon.cli(&["config", "check", daemon.config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("telvox.toml:") && text.contains("[smtp]") && text.contains("mailboxes.toml"),
        "{text}"
    );
    // A bad address, and a per-number table of something else, are named with their line.
    let text = std::fs::read_to_string(&daemon.config).unwrap().replace(
        "email_to = \"fax@example.com\"",
        "email_to = \"not an address\"\nemail_numbers = { \"8300\" = 5 }",
    );
    std::fs::write(&daemon.config, text).unwrap();
    let out = daemon.cli(&["config", "check", daemon.config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("fax.email_to = \"not an address\""), "{text}");
    assert!(text.contains("fax.email_numbers.8300"), "{text}");
}

// ---------------------------------------------------------------------------------------------------
// Cover pages (issue 5 item 3)

const COVER_FLOW: &str = "start = \"who\"\nlanguage = \"en\"\n\
[who]\nset = { customer = \"Li Wei\" }\nnext = \"ask\"\n\
[ask]\ncollect = { prompts = [\"please-enter\"], max = 1, terminator = \"\", into = \"doc\" }\n\
on = { complete = \"send\", fail = \"bye\" }\n\
[send]\nfax_send = { document = \"${doc}\", cover = true, customer = \"${customer}\", prompts = [\"please-enter\"] }\n\
on = { sent = \"bye\", failed = \"bye\", invalid = \"bye\" }\n\
[bye]\nhangup = true\n";

/// A fax machine that calls `number`, keys `key`, and presses Start to receive into `received` —
/// once `ready` says so (the lockstep clock stands still meanwhile: the card waits for this
/// party's next block).
fn fax_machine_receive_when(
    socket: &Path,
    number: &str,
    key: &str,
    received: &Path,
    ready: impl Fn() -> bool,
) -> (telvox::hw::sim::client::CallOutcome, telvox::dsp::fax::FaxOutcome) {
    use telvox::dsp::fax::{FaxJob, FaxSession};
    use telvox::dsp::g711;
    use telvox::hw::sim::client::{run_call, Party};
    use telvox::hw::Law;
    let law = Law::Alaw;
    let mut party = Party::connect(socket).expect("connect to the sim card");
    let mut session = FaxSession::new(
        FaxJob::Receive(received.to_path_buf()),
        &fax_pair::options("FAR END RECEIVER", false),
    )
    .expect("far-end fax session");
    let keyed = common::key_blocks(key);
    let silence = [g711::encode(law, 0); fax_pair::BLOCK];
    let mut lin = [0i16; fax_pair::BLOCK];
    let mut ended_at = None;
    let start_at = 250;
    let outcome = run_call(
        &mut party,
        &common::dial(number, "13800138000"),
        Duration::from_secs(60),
        |blocks, heard| {
            if blocks >= 100_000 {
                return None;
            }
            if (20..20 + keyed.len()).contains(&blocks) {
                return Some(keyed[blocks - 20]);
            }
            if blocks < start_at {
                return Some(silence);
            }
            if blocks == start_at {
                let deadline = Instant::now() + Duration::from_secs(30);
                while !ready() {
                    assert!(Instant::now() < deadline, "the cover was not rendered");
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            if heard.len() >= fax_pair::BLOCK {
                for (s, &c) in lin.iter_mut().zip(&heard[heard.len() - fax_pair::BLOCK..]) {
                    *s = g711::decode(law, c);
                }
                session.rx(&lin);
            }
            if !session.is_active() {
                let at = *ended_at.get_or_insert(blocks);
                if blocks > at + 100 {
                    return None;
                }
            }
            session.tx(&mut lin);
            let mut block = [0u8; fax_pair::BLOCK];
            for (c, &s) in block.iter_mut().zip(&lin) {
                *c = g711::encode(law, s);
            }
            Some(block)
        },
    )
    .expect("fax call");
    (outcome, session.finish())
}

/// Black pixels in rows `rows` of a page (1 bit per pixel, 216 bytes per row, 1 = black).
fn black_pixels(page: &[u8], rows: std::ops::Range<usize>) -> u32 {
    page[rows.start * 216..rows.end * 216]
        .iter()
        .map(|b| b.count_ones())
        .sum()
}

#[test]
fn fod_with_a_cover_page_sends_the_cover_first_then_the_document() {
    use telvox::apps::fax::cover::{cover_postscript, render_page, CoverData};
    use telvox::apps::fax::tiff::FaxResolution;
    let work = work_dir();
    let doc = work.path().join("doc2.tif");
    fax_pair::make_document(&doc, 2, 2292);
    let catalog = work.path().join("catalog.toml");
    std::fs::write(
        &catalog,
        "[[document]]\nid = \"4\"\ntitle = \"Price list 2026\"\nfile = \"doc2.tif\"\n",
    )
    .expect("catalog");
    let daemon = prepare_fax_daemon(
        &catalog,
        "company = \"ACME Trading Co.\\nTel +86 10 8888 0000\"\n",
        |c| c.replace("[numbers]\n", "[numbers]\n\"8303\" = \"cover\"\n"),
    );
    std::fs::write(daemon.dir.path().join("flows/cover.toml"), COVER_FLOW).expect("flow");
    let daemon = daemon.launch();
    let tmp = daemon.dir.path().join("data/fax/tmp");
    let cover_ready = || {
        std::fs::read_dir(&tmp)
            .map(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().ends_with("-cover.tif"))
            })
            .unwrap_or(false)
    };
    let received = work.path().join("got.tif");
    let (call, fax) = fax_machine_receive_when(&daemon.sim_socket(), "8303", "4", &received, cover_ready);
    assert!(fax.result.is_ok(), "{}", fax.result);
    assert_eq!(fax.pages, 3, "the document's 2 pages + the cover");
    // fax_send's prompt played whole (the cover rendered meanwhile) before the fax started.
    let at = common::assert_prompts_in_order(&call.heard, "en", &["please-enter"]);
    assert!(at[0] > 20 * 160, "the fax_send prompt, not the collect's cut one");
    let got = fax_pair::bitmaps(&received);
    let sent = fax_pair::bitmaps(&doc);
    assert_eq!(got.len(), 3);
    // Every page arrives with the [fax] header line on top (a whole number of 216-byte rows).
    let header = got[1].len() - sent[0].len();
    // The cover: black pixels in its text area (below the header line, above the foot).
    let cover = &got[0];
    let rows = cover.len() / 216;
    assert!(rows > 2000, "a fine A4 page: {rows} rows");
    let ink = black_pixels(cover, header / 216 + 50..rows - 100);
    assert!(ink > 20_000, "the cover has text: {ink} black pixels");
    // Then the document, pixel for pixel below the header line.
    for (page, (got, sent)) in got[1..].iter().zip(&sent).enumerate() {
        assert!(got[header..] == sent[..], "document page {page} differs");
    }
    // The cover is the page its PostScript renders to (same data, same date to the minute).
    let call_id = call.call_id.expect("call id");
    let rows_row = fax_log(&daemon, &[], 1);
    let row = &rows_row[0];
    assert_eq!(row["pages"], 3, "{row}");
    assert_eq!(row["document"], "4");
    assert!(
        row["file"].as_str().unwrap().ends_with("doc2.tif"),
        "the catalog's file: {row}"
    );
    let data = CoverData {
        caller: "13800138000".into(),
        customer: "Li Wei".into(),
        title: "Price list 2026".into(),
        pages: 2,
        reference: call_id.clone(),
    };
    // The cover thread stamped the wall clock's minute a moment ago: this one or the one before.
    let now = chrono::Local::now();
    let differing = [now, now - chrono::Duration::minutes(1)]
        .iter()
        .map(|t| {
            let date = t.format("%Y-%m-%d %H:%M").to_string();
            let ps = work.path().join("cover.ps");
            std::fs::write(
                &ps,
                cover_postscript(&data, "ACME Trading Co.\nTel +86 10 8888 0000", &date),
            )
            .unwrap();
            let mine = work.path().join("cover.tif");
            render_page(&ps, &mine, FaxResolution::Fine).expect("render");
            let expected = &fax_pair::bitmaps(&mine)[0];
            assert_eq!(cover.len() - header, expected.len(), "the cover's size");
            cover[header..]
                .iter()
                .zip(expected.iter())
                .filter(|(a, b)| a != b)
                .count()
        })
        .min()
        .unwrap();
    assert_eq!(
        differing, 0,
        "the cover is, pixel for pixel, its PostScript rendered here ({ink} black pixels)"
    );
    // The per-call cover file is gone once the session is over.
    let deadline = Instant::now() + Duration::from_secs(10);
    while cover_ready() {
        assert!(Instant::now() < deadline, "the cover file was not removed");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The modem a record names comes from the DCS frame spandsp exchanged (both ends see the same),
/// checked back to back against receivers that offer one modem each.
#[test]
fn the_session_reports_the_modem_of_its_dcs_frame() {
    use telvox::dsp::fax::{FaxJob, FaxSession, Modem, Modems};
    let work = work_dir();
    let doc = work.path().join("doc1.tif");
    fax_pair::make_document(&doc, 1, 300);
    let only = |v17, v29, v27ter| Modems { v17, v29, v27ter };
    for (modems, expected, bit_rate) in [
        (only(true, true, true), Modem::V17, 14_400),
        (only(false, true, true), Modem::V29, 9_600),
        (only(false, false, true), Modem::V27ter, 4_800),
    ] {
        let mut sender =
            FaxSession::new(FaxJob::Send(doc.clone()), &fax_pair::options("A", true)).expect("sender");
        let receiver_options = telvox::dsp::fax::FaxOptions {
            modems,
            ..fax_pair::options("B", false)
        };
        let mut receiver = FaxSession::new(FaxJob::Receive(work.path().join("rx.tif")), &receiver_options)
            .expect("receiver");
        let (mut a, mut b) = ([0i16; 160], [0i16; 160]);
        for _ in 0..30_000 {
            if !sender.is_active() && !receiver.is_active() {
                break;
            }
            sender.tx(&mut a);
            receiver.tx(&mut b);
            receiver.rx(&a);
            sender.rx(&b);
        }
        let outcome = receiver.finish();
        assert!(outcome.result.is_ok(), "{expected:?}: {}", outcome.result);
        assert_eq!(receiver.modem(), Some(expected));
        assert_eq!(sender.modem(), Some(expected));
        assert_eq!(outcome.stats.bit_rate, bit_rate);
    }
}

/// A standard-resolution document gets a standard-resolution cover (spandsp sends one file at
/// whatever resolution its pages have: they must agree), joined in front of it.
#[test]
fn a_cover_matches_a_standard_resolution_document() {
    use std::sync::Arc;
    use telvox::apps::fax::catalog::ghostscript_to_tiff;
    use telvox::apps::fax::cover::{render, CoverData, CoverJob, CoverSlot};
    use telvox::apps::fax::tiff::{check_class_f, read_pages, FaxResolution};
    let work = work_dir();
    let ps = work.path().join("doc.ps");
    std::fs::write(
        &ps,
        "%!PS\n/Helvetica findfont 40 scalefont setfont 72 700 moveto (Page one) show showpage\n\
         72 700 moveto (Page two) show showpage\n",
    )
    .unwrap();
    let doc = work.path().join("doc.tif");
    ghostscript_to_tiff(&ps, &doc, FaxResolution::Standard).expect("gs");
    let out = work.path().join("call-cover.tif");
    let job = CoverJob {
        data: CoverData {
            caller: "13800138000".into(),
            customer: "Zoë (VIP) \\ 王".into(),
            title: "Standard".into(),
            pages: 2,
            reference: "1.1".into(),
        },
        document: doc.clone(),
        resolution: FaxResolution::Standard,
        out: out.clone(),
        slot: Arc::new(CoverSlot::default()),
    };
    render(&job, "ACME", "2026-11-23 09:00").expect("render");
    let pages = read_pages(&out).expect("read");
    assert_eq!(pages.len(), 3, "cover + 2 pages");
    for page in &pages {
        assert_eq!(check_class_f(page), Ok(FaxResolution::Standard));
    }
    assert_eq!(fax_pair::bitmaps(&out)[1..], fax_pair::bitmaps(&doc)[..]);
    let cover = &fax_pair::bitmaps(&out)[0];
    assert!(black_pixels(cover, 0..cover.len() / 216) > 5_000);
    // Nothing temporary is left beside it.
    let mut left: Vec<String> = std::fs::read_dir(work.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["call-cover.tif", "doc.ps", "doc.tif"]);
}

#[test]
fn a_caller_hanging_up_during_fod_leaves_a_partial_outbound_row() {
    let work = work_dir();
    fax_pair::make_document(&work.path().join("doc10.tif"), 10, 2292);
    let catalog = work.path().join("catalog.toml");
    std::fs::write(
        &catalog,
        "[[document]]\nid = \"3\"\ntitle = \"ten\"\nfile = \"doc10.tif\"\n",
    )
    .expect("catalog");
    let daemon = fax_daemon(&catalog, "", |c| c);
    let received = work.path().join("got.tif");
    // Start at block 250, hang up 20 s later: mid-document (10 pages take about a minute).
    let (call, fax) =
        fax_pair::fax_machine_receive(&daemon.sim_socket(), "8301", &[(20, "3")], 250, &received, 1_250);
    assert!(!fax.result.is_ok(), "the far end hung up mid-document");
    let rows = fax_log(&daemon, &[], 1);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    let row = &rows[0];
    assert_eq!(row["uniqueid"], call.call_id.as_deref().expect("id"));
    assert_eq!(row["direction"], "out");
    assert_eq!(row["partial"], true, "{row}");
    assert_ne!(row["result_code"], 0);
    let pages = row["pages"].as_u64().unwrap();
    assert!(
        pages < 10 && pages.abs_diff(u64::from(fax.pages)) <= 1,
        "{pages} pages confirmed, the far end kept {}",
        fax.pages
    );
}
