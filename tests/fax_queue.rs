//! The outbound fax queue end to end through the lockstep sim card: `telvox fax send` queues (the
//! CLI writes SQLite and pokes the daemon), the dispatcher dials a registered far-end fax machine
//! (spandsp on the party side, answering and receiving), retries busy / unanswered numbers per
//! `[fax] retries`, keeps to `[fax] max_outbound_channels`, survives a daemon crash, broadcasts to a
//! list, and sends what a caller asked for by fax-back from an IVR flow.

mod common;
mod fax_pair;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::TestDaemon;
use serde_json::Value;
use telvox::dsp::fax::{FaxJob, FaxSession};
use telvox::dsp::g711;
use telvox::hw::sim::client::{Heard, Party};
use telvox::hw::sim::protocol::{DaemonOp, PartyOp};
use telvox::hw::Law;

const BLOCK: usize = 160;

/// Fax-back: key a document number, then the fax number ending with #; telvox queues it, says
/// goodbye and hangs up.
const FAXBACK_FLOW: &str = "start = \"doc\"\nlanguage = \"en\"\n\
[doc]\ncollect = { prompts = [\"please-enter\"], max = 1, terminator = \"\", into = \"doc\" }\n\
on = { complete = \"number\", fail = \"bye\" }\n\
[number]\ncollect = { prompts = [\"please-enter\"], max = 20, terminator = \"#\", into = \"faxnum\" }\n\
on = { complete = \"queue\", fail = \"bye\" }\n\
[queue]\nfax_send = { document = \"${doc}\", to = \"${faxnum}\" }\n\
on = { queued = \"goodbye\", failed = \"bye\", invalid = \"sorry\" }\n\
[sorry]\nplay = [\"invalid\"]\nnext = \"doc\"\n\
[goodbye]\nplay = [\"goodbye\"]\nnext = \"bye\"\n\
[bye]\nhangup = true\n";

/// How the far-end machine treats each incoming call, in turn (then it answers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pickup {
    Answer,
    Busy,
    /// Let it ring until telvox gives up.
    Ignore,
    /// Answer, then send nothing more: the lockstep card (and the call) stands still.
    Stall,
    /// Answer and receive, 3 ms of wall time per block (a fax that lasts seconds in lockstep).
    Slow,
}

/// One fax the machine received.
#[derive(Debug)]
struct Reception {
    call: String,
    ok: bool,
    pages: u32,
    file: PathBuf,
}

/// A fax machine registered on the sim card as `number`: answers telvox's calls per its plan and
/// receives into `dir/<number>-<n>.tif`, block for block in lockstep.
struct FaxMachine {
    stop: Arc<AtomicBool>,
    received: mpsc::Receiver<Reception>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaxMachine {
    fn start(socket: &Path, number: &str, dir: &Path, plan: &[Pickup]) -> FaxMachine {
        Self::start_counted(socket, number, dir, plan, None)
    }

    /// With `counter = (up, most)`: counts this machine's calls in `up` while they last and keeps
    /// the highest count seen in `most` (shared by several machines).
    fn start_counted(
        socket: &Path,
        number: &str,
        dir: &Path,
        plan: &[Pickup],
        counter: Option<(Arc<AtomicUsize>, Arc<AtomicUsize>)>,
    ) -> FaxMachine {
        let mut party = Party::connect(socket).expect("connect");
        party
            .send_control(&PartyOp::Register {
                number: number.into(),
            })
            .expect("register");
        // A fence: a malformed message's error proves the registration was processed.
        party.send_raw(&[0x07]).expect("fence");
        loop {
            match party.recv(Some(Duration::from_secs(10))).expect("recv") {
                Heard::Control(DaemonOp::Error { message }) if message.contains("0x07") => break,
                Heard::Control(DaemonOp::Error { message }) => panic!("register {number}: {message}"),
                Heard::Timeout | Heard::Closed => panic!("register {number}: no reply"),
                _ => {}
            }
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, received) = mpsc::channel();
        let (number, dir, plan, stop_flag) = (number.to_owned(), dir.to_owned(), plan.to_vec(), stop.clone());
        let thread = std::thread::spawn(move || {
            machine(party, &number, &dir, &plan, &stop_flag, &tx, counter.as_ref())
        });
        FaxMachine {
            stop,
            received,
            thread: Some(thread),
        }
    }

    /// The next reception (panics after `timeout_s`).
    fn next(&self, timeout_s: u64) -> Reception {
        self.received
            .recv_timeout(Duration::from_secs(timeout_s))
            .expect("the far-end machine received nothing")
    }
}

impl Drop for FaxMachine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn machine(
    mut party: Party,
    number: &str,
    dir: &Path,
    plan: &[Pickup],
    stop: &AtomicBool,
    tx: &mpsc::Sender<Reception>,
    counter: Option<&(Arc<AtomicUsize>, Arc<AtomicUsize>)>,
) {
    let law = Law::Alaw;
    let mut calls = 0usize;
    while !stop.load(Ordering::SeqCst) {
        let call = match party.recv(Some(Duration::from_millis(100))) {
            Ok(Heard::Control(DaemonOp::Incoming { call, .. })) => call,
            Ok(Heard::Closed) | Err(_) => return,
            Ok(_) => continue,
        };
        let pickup = plan.get(calls).copied().unwrap_or(Pickup::Answer);
        calls += 1;
        if let Some((up, most)) = counter {
            let now = up.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
        }
        match pickup {
            Pickup::Busy => {
                let reject = PartyOp::Reject {
                    cause: Some("busy".into()),
                };
                party.send_control(&reject).expect("reject");
                continue;
            }
            Pickup::Ignore => continue,
            Pickup::Answer | Pickup::Stall | Pickup::Slow => {}
        }
        let file = dir.join(format!("{number}-{calls}.tif"));
        let mut session = FaxSession::new(
            FaxJob::Receive(file.clone()),
            &fax_pair::options("FAR END RECEIVER", false),
        )
        .expect("far-end session");
        party.send_control(&PartyOp::Answer).expect("answer");
        let mut lin = [0i16; BLOCK];
        let mut block = [0u8; BLOCK];
        session.tx(&mut lin);
        for (c, &s) in block.iter_mut().zip(&lin) {
            *c = g711::encode(law, s);
        }
        party.send_audio(&block).expect("audio");
        let mut ended_at = None;
        let mut blocks = 0usize;
        loop {
            match party.recv(Some(Duration::from_secs(30))) {
                Ok(Heard::Audio(audio)) => {
                    blocks += 1;
                    if pickup == Pickup::Stall && blocks > 100 {
                        // Stands still (until the daemon dies and the socket closes).
                        while !matches!(
                            party.recv(Some(Duration::from_secs(60))),
                            Ok(Heard::Closed) | Err(_)
                        ) {}
                        return;
                    }
                    for (s, &c) in lin.iter_mut().zip(&audio[audio.len() - BLOCK..]) {
                        *s = g711::decode(law, c);
                    }
                    session.rx(&lin);
                    if pickup == Pickup::Slow {
                        std::thread::sleep(Duration::from_millis(3));
                    }
                    if !session.is_active() {
                        let at = *ended_at.get_or_insert(blocks);
                        if blocks > at + 500 {
                            let _ = party.send_control(&PartyOp::Hangup);
                            break;
                        }
                    }
                    session.tx(&mut lin);
                    for (c, &s) in block.iter_mut().zip(&lin) {
                        *c = g711::encode(law, s);
                    }
                    party.send_audio(&block).expect("audio");
                }
                Ok(Heard::Control(DaemonOp::Hangup { .. })) => break,
                Ok(Heard::Control(_)) => {}
                Ok(Heard::Closed | Heard::Timeout) | Err(_) => return,
            }
        }
        if let Some((up, _)) = counter {
            up.fetch_sub(1, Ordering::SeqCst);
        }
        let outcome = session.finish();
        let _ = tx.send(Reception {
            call,
            ok: outcome.result.is_ok(),
            pages: outcome.pages,
            file,
        });
    }
}

/// A daemon with the fax queue configured as given (`[fax]` lines), a catalog of 1-, 3- and
/// 10-page documents (ids 1, 3, 0) and the fax-back flow on 8400.
///
/// The ring timeout is the longest allowed: in lockstep the card does not wait for a party that is
/// being called, so ringing runs at CPU speed and 300 s of it is well under a second of wall time,
/// which is all the far-end machine's thread has to answer.
fn queue_daemon(work: &Path, fax_lines: &str) -> TestDaemon {
    let mut catalog = String::new();
    for (id, pages) in [("1", 1), ("3", 3), ("0", 10)] {
        let doc = work.join(format!("doc{pages}.tif"));
        if !doc.exists() {
            fax_pair::make_document(&doc, pages, 2292);
        }
        catalog.push_str(&format!(
            "[[document]]\nid = \"{id}\"\ntitle = \"{pages} pages\"\nfile = \"doc{pages}.tif\"\n"
        ));
    }
    let catalog_file = work.join("catalog.toml");
    std::fs::write(&catalog_file, catalog).expect("catalog");
    let daemon = TestDaemon::prepare(|c| {
        let c = c.replace("[numbers]\n", "[numbers]\n\"8400\" = \"faxback\"\n");
        // The shipped hotline (8000) checks its opening hours: freeze its clock inside them.
        let c = c.replace(
            "# test_now = \"2026-11-23T10:00:00+08:00\"   (tests only: freezes the clock `hours` reads)",
            "test_now = \"2026-11-23T10:00:00+08:00\"",
        );
        format!(
            "fax_catalog = \"{}\"\n{c}\n[fax]\nstation_id = \"+86 10 8888 0000\"\nheader = \"telvox queue\"\nring_timeout_s = 300\n{fax_lines}\n",
            catalog_file.display()
        )
    });
    let flows = daemon.dir.path().join("flows");
    std::fs::create_dir_all(&flows).expect("flows");
    std::fs::copy(
        Path::new(common::REPO).join("etc/flows/main.toml"),
        flows.join("main.toml"),
    )
    .expect("main flow");
    std::fs::write(flows.join("faxback.toml"), FAXBACK_FLOW).expect("faxback flow");
    daemon.launch()
}

fn workdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("faxq-test-")
        .tempdir()
        .expect("tmp")
}

/// `telvox fax send ... --json`: the job ids.
fn send(daemon: &TestDaemon, args: &[&str]) -> Vec<i64> {
    let mut all = vec!["fax", "send", "--json"];
    all.extend_from_slice(args);
    let out = daemon.cli_json(&all);
    out["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .map(|j| j["id"].as_i64().expect("id"))
        .collect()
}

fn job(daemon: &TestDaemon, id: i64) -> Value {
    daemon.cli_json(&["fax", "show", &id.to_string(), "--json"])
}

/// Waits until job `id` reaches `state`.
fn wait_job(daemon: &TestDaemon, id: i64, state: &str, timeout_s: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(timeout_s);
    loop {
        let job = job(daemon, id);
        if job["state"] == state {
            return job;
        }
        assert!(
            Instant::now() < deadline,
            "job {id} never became {state}: {job:#}\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The received fax is the document pixel for pixel below the header line on each page.
fn assert_received(received: &Path, document: &Path) {
    let (got, sent) = (fax_pair::bitmaps(received), fax_pair::bitmaps(document));
    assert_eq!(got.len(), sent.len(), "pages");
    for (page, (got, sent)) in got.iter().zip(&sent).enumerate() {
        let extra = got.len() - sent.len();
        assert!(extra > 0 && extra % 216 == 0, "page {page}: {extra} extra bytes");
        assert!(
            got[..extra].iter().any(|&b| b != 0),
            "page {page}: no header line"
        );
        assert!(got[extra..] == sent[..], "page {page} differs below the header");
    }
}

/// The call log rows of outbound calls (src = our number), as (start_ms, end_ms, dst, disposition).
fn outbound_calls(daemon: &TestDaemon) -> Vec<(i64, i64, String, String)> {
    let db = rusqlite::Connection::open(daemon.db_path()).expect("db");
    let mut stmt = db
        .prepare(
            "SELECT start_ms, COALESCE(end_ms, -1), dst, COALESCE(disposition, '') FROM cdr
             WHERE src = '+861088880000' ORDER BY start_ms, id",
        )
        .expect("query");
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect()
}

#[test]
fn one_and_three_page_faxes_are_sent_to_a_registered_machine() {
    let work = workdir();
    let daemon = queue_daemon(work.path(), "retries = 1\nretry_spacing_s = 1\n");
    let machine = FaxMachine::start(&daemon.sim_socket(), "601", work.path(), &[]);
    let mut call_ids = Vec::new();
    for pages in [1u32, 3] {
        let doc = work.path().join(format!("doc{pages}.tif"));
        // The user's file may go once the job is queued: the job has its own copy.
        let users = work.path().join(format!("mine{pages}.tif"));
        std::fs::copy(&doc, &users).expect("copy");
        let ids = send(
            &daemon,
            &["601", users.to_str().unwrap(), "--header", "ACME pricing"],
        );
        std::fs::remove_file(&users).expect("remove");
        assert_eq!(ids.len(), 1);
        let got = machine.next(60);
        assert!(got.ok, "{got:?}");
        assert_eq!(got.pages, pages);
        assert_received(&got.file, &doc);
        let done = wait_job(&daemon, ids[0], "done", 30);
        assert_eq!(done["attempts"], 1);
        assert_eq!(done["pages_sent"], i64::from(pages));
        assert_eq!(done["last_result"], "sent");
        assert_eq!(done["last_call"], got.call.as_str());
        call_ids.push(got.call.clone());
        // The copy the job sent lives in the out directory; the user's file could go.
        let copy = PathBuf::from(done["document"].as_str().unwrap());
        assert!(
            copy.starts_with(daemon.dir.path().join("data/fax/out")),
            "{copy:?}"
        );
        assert_eq!(fax_pair::bitmaps(&copy), fax_pair::bitmaps(&doc));
    }
    // Each send is an outbound call in the call log: from our number to the one dialled.
    let calls = outbound_calls(&daemon);
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(
        calls.iter().all(|c| c.2 == "601" && c.3 == "ANSWERED"),
        "{calls:?}"
    );
    let list = daemon.cli_json(&["fax", "list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 2);
    let status = daemon.cli_json(&["status", "--json"]);
    assert_eq!(status["fax_queue"]["done"], 2, "{status}");
    assert_eq!(status["fax_queue"]["queued"], 0, "{status}");
    // Each send is a row of `telvox fax log` too, named by its call and the number dialled (the
    // filing thread writes it just after the job is marked done).
    let mut sessions = serde_json::Value::Null;
    for _ in 0..250 {
        sessions = daemon.cli_json(&["fax", "log", "--direction", "out", "--json"]);
        if sessions.as_array().map_or(0, Vec::len) == 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let sessions = sessions.as_array().expect("fax log rows").clone();
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    for row in &sessions {
        assert_eq!(row["remote_number"], "601", "{row}");
        assert_eq!(row["result_code"], 0, "{row}");
        let call = row["uniqueid"].as_str().unwrap_or("").to_string();
        assert!(call_ids.contains(&call), "{row} {call_ids:?}");
    }
    let mut pages: Vec<u64> = sessions.iter().filter_map(|r| r["pages"].as_u64()).collect();
    pages.sort_unstable();
    assert_eq!(pages, [1, 3]);
}

#[test]
fn busy_and_unanswered_attempts_are_retried_until_the_fax_goes_through() {
    let work = workdir();
    let daemon = queue_daemon(work.path(), "retries = 2\nretry_spacing_s = 1\n");
    let plan = [Pickup::Busy, Pickup::Ignore, Pickup::Answer];
    let machine = FaxMachine::start(&daemon.sim_socket(), "602", work.path(), &plan);
    // `telvox events` reports each attempt of the job.
    let events = daemon.events();
    let doc = work.path().join("doc1.tif");
    let started = Instant::now();
    let ids = send(&daemon, &["602", doc.to_str().unwrap()]);
    let got = machine.next(90);
    assert!(got.ok && got.pages == 1, "{got:?}");
    let done = wait_job(&daemon, ids[0], "done", 30);
    assert_eq!(done["attempts"], 3, "{done:#}");
    // Backoff: 1 s after the first failure, 2 s after the second.
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let calls = outbound_calls(&daemon);
    let dispositions: Vec<&str> = calls.iter().map(|c| c.3.as_str()).collect();
    assert_eq!(dispositions, ["BUSY", "NO ANSWER", "ANSWERED"]);
    let mut seen = Vec::new();
    while seen.len() < 6 {
        let v = events
            .next_event(Duration::from_secs(10), |e| e["type"] == "fax_job")
            .unwrap_or_else(|| panic!("fax_job events so far: {seen:?}"));
        assert_eq!(v["id"], ids[0]);
        seen.push(format!(
            "{} {} {}",
            v["state"].as_str().unwrap(),
            v["attempts"],
            v["result"].as_str().unwrap_or("-")
        ));
    }
    assert_eq!(
        seen,
        [
            "sending 1 -",
            "queued 1 busy",
            "sending 2 -",
            "queued 2 no answer",
            "sending 3 -",
            "done 3 sent"
        ]
    );
    drop(events);

    // Retries used up: a number that is always busy ends failed after 1 + 2 attempts.
    let busy = FaxMachine::start(&daemon.sim_socket(), "603", work.path(), &[Pickup::Busy; 8]);
    let ids = send(&daemon, &["603", doc.to_str().unwrap()]);
    let failed = wait_job(&daemon, ids[0], "failed", 60);
    assert_eq!(failed["attempts"], 3, "{failed:#}");
    assert_eq!(failed["last_result"], "busy");
    assert_eq!(failed["last_cause"], "USER_BUSY");
    drop(busy);
}

#[test]
fn cancel_stops_a_queued_job_and_hangs_up_one_being_sent() {
    let work = workdir();
    let daemon = queue_daemon(work.path(), "retries = 0\n");
    let doc = work.path().join("doc1.tif");
    // Queued for later: cancel it before its time.
    let ids = send(
        &daemon,
        &["604", doc.to_str().unwrap(), "--at", "2099-01-01 09:00"],
    );
    let queued = job(&daemon, ids[0]);
    assert_eq!(queued["state"], "queued");
    let out = daemon.cli(&["fax", "cancel", &ids[0].to_string()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(job(&daemon, ids[0])["state"], "cancelled");
    // Cancelling again, or an unknown job, is refused with exit 1.
    assert_eq!(
        daemon.cli(&["fax", "cancel", &ids[0].to_string()]).status.code(),
        Some(1)
    );
    assert_eq!(daemon.cli(&["fax", "cancel", "999"]).status.code(), Some(1));
    assert_eq!(daemon.cli(&["fax", "show", "999"]).status.code(), Some(1));
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        outbound_calls(&daemon).is_empty(),
        "a cancelled job placed a call"
    );

    // A job being sent: its call is hung up, and it is not retried.
    let machine = FaxMachine::start(&daemon.sim_socket(), "604", work.path(), &[Pickup::Slow]);
    let ids = send(&daemon, &["604", work.path().join("doc3.tif").to_str().unwrap()]);
    daemon.wait_calls("the fax call to be up", |c| {
        c.iter().any(|x| x["dst"] == "604" && x["answer"].is_string())
    });
    let out = daemon.cli(&["fax", "cancel", &ids[0].to_string()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got = machine.next(60);
    assert!(!got.ok && got.pages < 3, "cut short: {got:?}");
    let calls = daemon.wait_calls("the cancelled call to end", |c| {
        c.iter().any(|x| x["dst"] == "604" && x["end"].is_string())
    });
    let call = calls.iter().find(|x| x["dst"] == "604").unwrap();
    assert_eq!(call["hangup_cause"], "NORMAL_CLEARING", "telvox hung up: {call}");
    std::thread::sleep(Duration::from_millis(500));
    let cancelled = job(&daemon, ids[0]);
    assert_eq!(cancelled["state"], "cancelled", "{cancelled:#}");
    assert_eq!(cancelled["last_result"], "cancelled");
    assert_eq!(cancelled["attempts"], 1);
}

#[test]
fn a_finished_jobs_document_is_removed_after_keep_finished_days_and_its_row_kept() {
    let work = workdir();
    let mut daemon = queue_daemon(work.path(), "retries = 0\nkeep_finished_days = 30\n");
    let doc = work.path().join("doc1.tif");
    let later = ["604", doc.to_str().unwrap(), "--at", "2099-01-01 09:00"];
    let old = send(&daemon, &later)[0];
    let waiting = send(&daemon, &later)[0];
    assert!(daemon.cli(&["fax", "cancel", &old.to_string()]).status.success());
    let document = |id: i64| PathBuf::from(job(&daemon, id)["document"].as_str().unwrap().to_string());
    let (old_doc, waiting_doc) = (document(old), document(waiting));
    assert!(old_doc.exists() && waiting_doc.exists());
    // A month passes for the cancelled job (and for the waiting one, which must stay regardless).
    daemon.kill_9();
    let month_ms: i64 = 31 * 86_400_000;
    rusqlite::Connection::open(daemon.db_path())
        .unwrap()
        .execute(
            "UPDATE fax_jobs SET updated_ms = updated_ms - ?1, created_ms = created_ms - ?1",
            [month_ms],
        )
        .unwrap();
    daemon.relaunch();
    let deadline = Instant::now() + Duration::from_secs(20);
    while old_doc.exists() {
        assert!(Instant::now() < deadline, "never pruned:\n{}", daemon.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !old_doc.parent().unwrap().exists(),
        "the job's directory goes too"
    );
    assert!(
        waiting_doc.exists(),
        "a queued job keeps its document however old"
    );
    let shown = job(&daemon, old);
    assert_eq!(shown["state"], "cancelled", "the row stays: {shown:#}");
    assert_eq!(shown["document_removed"], true);
    assert_eq!(job(&daemon, waiting)["document_removed"], false);
    let text = String::from_utf8(daemon.cli(&["fax", "show", &old.to_string()]).stdout).unwrap();
    assert!(text.contains("(removed: [fax] keep_finished_days)"), "{text}");
    assert!(
        daemon.log().contains("removed the files of 1 job(s)"),
        "{}",
        daemon.log()
    );
}

#[test]
fn a_job_cut_off_by_a_crash_is_sent_after_the_restart() {
    let work = workdir();
    let mut daemon = queue_daemon(work.path(), "retries = 0\n");
    let doc = work.path().join("doc3.tif");
    // The machine answers, then stands still: the fax is in progress when the daemon dies.
    let stalled = FaxMachine::start(&daemon.sim_socket(), "605", work.path(), &[Pickup::Stall]);
    let ids = send(&daemon, &["605", doc.to_str().unwrap()]);
    wait_job(&daemon, ids[0], "sending", 30);
    daemon.wait_calls("the fax call to be up", |c| {
        c.iter().any(|x| x["dst"] == "605" && x["answer"].is_string())
    });
    daemon.kill_9();
    drop(stalled);
    // Queued while the daemon is down: the CLI writes the queue itself.
    let later = send(&daemon, &["606", work.path().join("doc1.tif").to_str().unwrap()]);
    assert_eq!(job(&daemon, later[0])["state"], "queued");
    daemon.relaunch();
    // Registered before the dispatcher's first look at the queue (a second after the start).
    let machine = FaxMachine::start(&daemon.sim_socket(), "605", work.path(), &[]);
    let other = FaxMachine::start(&daemon.sim_socket(), "606", work.path(), &[]);
    let got = machine.next(60);
    assert!(got.ok && got.pages == 3, "{got:?}");
    assert_received(&got.file, &doc);
    let got = other.next(60);
    assert!(got.ok && got.pages == 1, "{got:?}");
    let first = wait_job(&daemon, ids[0], "done", 30);
    // The interrupted attempt is not counted against the job's retries (retries = 0).
    assert_eq!(first["attempts"], 1, "{first:#}");
    wait_job(&daemon, later[0], "done", 30);
    // The call cut off by the crash is in the call log as interrupted.
    let calls = outbound_calls(&daemon);
    let dispositions: Vec<&str> = calls.iter().map(|c| c.3.as_str()).collect();
    assert_eq!(
        dispositions.iter().filter(|d| **d == "INTERRUPTED").count(),
        1,
        "{calls:?}"
    );
}

#[test]
fn a_broadcast_sends_one_fax_to_each_number_in_the_list() {
    let work = workdir();
    let daemon = queue_daemon(work.path(), "retries = 0\n");
    let machines: Vec<FaxMachine> = ["611", "612", "613"]
        .iter()
        .map(|n| FaxMachine::start(&daemon.sim_socket(), n, work.path(), &[]))
        .collect();
    let list = work.path().join("customers.txt");
    std::fs::write(&list, "# our customers\n611\n\n612   \n# the last one\n613\n").expect("list");
    let doc = work.path().join("doc1.tif");
    let ids = send(
        &daemon,
        &["--to-list", list.to_str().unwrap(), doc.to_str().unwrap()],
    );
    assert_eq!(ids.len(), 3);
    for m in &machines {
        let got = m.next(60);
        assert!(got.ok && got.pages == 1, "{got:?}");
    }
    for id in ids {
        wait_job(&daemon, id, "done", 30);
    }
    let mut dialled: Vec<String> = outbound_calls(&daemon).into_iter().map(|c| c.2).collect();
    dialled.sort();
    assert_eq!(dialled, ["611", "612", "613"]);

    // A bad number in a list is an error naming file:line; nothing is queued.
    std::fs::write(&list, "611\nfax me\n").expect("list");
    let out = daemon.cli(&[
        "fax",
        "send",
        "--to-list",
        list.to_str().unwrap(),
        doc.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("{}:2: ", list.display())), "{stderr}");
    assert_eq!(
        daemon
            .cli_json(&["fax", "list", "--json"])
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

/// Calls the fax-back number, keys `doc` and then `number` and `#`; returns the call.
fn fax_back_call(daemon: &TestDaemon, doc: &str, number: &str) -> telvox::hw::sim::client::CallOutcome {
    use telvox::hw::sim::client::run_call;
    let (doc_keys, number_keys) = (common::key_blocks(doc), common::key_blocks(&format!("{number}#")));
    let mut party = daemon.party();
    run_call(
        &mut party,
        &common::dial("8400", "13800138000"),
        Duration::from_secs(20),
        |blocks, _| {
            if blocks > 2000 {
                return None;
            }
            let key = blocks.checked_sub(20).and_then(|b| doc_keys.get(b));
            let key = key.or_else(|| blocks.checked_sub(250).and_then(|b| number_keys.get(b)));
            Some(key.copied().unwrap_or_else(common::silence))
        },
    )
    .expect("call")
}

#[test]
fn fax_back_from_an_ivr_flow_sends_1_3_and_10_pages_after_the_caller_hung_up() {
    let work = workdir();
    let daemon = queue_daemon(work.path(), "retries = 0\n");
    let machine = FaxMachine::start(&daemon.sim_socket(), "620", work.path(), &[]);
    // Keys 1, 3, 0: the 1-, 3- and 10-page documents.
    for (key, pages) in [("1", 1u32), ("3", 3), ("0", 10)] {
        let call = fax_back_call(&daemon, key, "620");
        assert!(call.answered);
        assert_eq!(
            call.cause.as_deref(),
            Some("NORMAL_CLEARING"),
            "telvox said goodbye and hung up"
        );
        let call_id = call.call_id.expect("id");
        let got = machine.next(120);
        assert!(got.ok, "{got:?}\n{}", daemon.log());
        assert_eq!(got.pages, pages);
        assert_received(&got.file, &work.path().join(format!("doc{pages}.tif")));
        let jobs = daemon.cli_json(&["fax", "list", "--json"]);
        let job = &jobs.as_array().unwrap()[0];
        assert_eq!(job["source"], "faxback");
        assert_eq!(job["number"], "620");
        assert_eq!(job["uniqueid"], call_id.as_str());
        assert_eq!(job["caller"], "13800138000");
        let done = wait_job(&daemon, job["id"].as_i64().unwrap(), "done", 30);
        assert_eq!(done["pages_sent"], i64::from(pages));
        let path = daemon.wait_calls("the fax-back call's path", |c| {
            c.iter()
                .any(|x| x["uniqueid"] == call_id.as_str() && x["end"].is_string())
        });
        assert!(path.iter().any(|x| x["uniqueid"] == call_id.as_str()));
    }
    // An unknown document is `invalid` (asked again), a number that cannot be dialled (a DTMF A
    // key in it) `failed`: nothing more is queued.
    let call = fax_back_call(&daemon, "9", "620");
    let path = daemon.call_path(&call.call_id.expect("id"));
    assert_eq!(path[..5], ["doc", "number", "queue", "sorry", "doc"], "{path:?}");
    let call = fax_back_call(&daemon, "1", "12A");
    let path = daemon.call_path(&call.call_id.expect("id"));
    assert_eq!(path, ["doc", "number", "queue", "bye"]);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        daemon
            .cli_json(&["fax", "list", "--json"])
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn the_shipped_hotline_faxes_a_document_back_to_a_keyed_number() {
    use telvox::hw::sim::client::run_call;
    let work = workdir();
    let daemon = queue_daemon(work.path(), "retries = 0\n");
    let machine = FaxMachine::start(&daemon.sim_socket(), "640", work.path(), &[]);
    // 2: English; 2 (during the welcome): fax; 3#: the 3-page document; 2: fax it back; 640#.
    let keys: Vec<(usize, Vec<[u8; 160]>)> = [(20, "2"), (60, "2"), (110, "3#"), (200, "2"), (300, "640#")]
        .iter()
        .map(|&(at, k)| (at, common::key_blocks(k)))
        .collect();
    let mut party = daemon.party();
    let call = run_call(
        &mut party,
        &common::dial("8000", "13800138000"),
        Duration::from_secs(30),
        |blocks, _| {
            if blocks > 3000 {
                return None;
            }
            let key = keys
                .iter()
                .find_map(|(at, k)| blocks.checked_sub(*at).and_then(|b| k.get(b)));
            Some(key.copied().unwrap_or_else(common::silence))
        },
    )
    .expect("call");
    assert!(call.answered);
    assert_eq!(
        call.cause.as_deref(),
        Some("NORMAL_CLEARING"),
        "telvox said goodbye and hung up"
    );
    let call_id = call.call_id.expect("id");
    let path = daemon.call_path(&call_id);
    let tail = [
        "fax",
        "fax_check",
        "fax_delivery",
        "fax_ask_number",
        "fax_back",
        "fax_queued",
        "goodbye",
    ];
    assert!(path.ends_with(&tail.map(String::from)), "{path:?}");
    let got = machine.next(120);
    assert!(got.ok, "{got:?}\n{}", daemon.log());
    assert_eq!(got.pages, 3);
    assert_received(&got.file, &work.path().join("doc3.tif"));
    let jobs = daemon.cli_json(&["fax", "list", "--json"]);
    let job = &jobs.as_array().unwrap()[0];
    assert_eq!(job["source"], "faxback");
    assert_eq!(job["number"], "640");
    assert_eq!(job["uniqueid"], call_id.as_str());
}

#[test]
fn never_more_outbound_fax_calls_at_once_than_the_channel_limit() {
    let work = workdir();
    let daemon = queue_daemon(work.path(), "retries = 0\nmax_outbound_channels = 2\n");
    let numbers = ["631", "632", "633", "634", "635"];
    // The far ends count the calls up at once (from `incoming` to the end of the call): in
    // lockstep the call log's times are the calls' own sample clocks, not comparable across calls.
    let up = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let machines: Vec<FaxMachine> = numbers
        .iter()
        .map(|n| {
            FaxMachine::start_counted(
                &daemon.sim_socket(),
                n,
                work.path(),
                &[],
                Some((up.clone(), most.clone())),
            )
        })
        .collect();
    let doc = work.path().join("doc3.tif");
    let mut ids = Vec::new();
    for n in numbers {
        ids.extend(send(&daemon, &[n, doc.to_str().unwrap()]));
    }
    for m in &machines {
        let got = m.next(120);
        assert!(got.ok && got.pages == 3, "{got:?}");
    }
    for id in ids {
        wait_job(&daemon, id, "done", 30);
    }
    let calls = outbound_calls(&daemon);
    assert_eq!(calls.len(), 5, "{calls:?}");
    assert!(calls.iter().all(|c| c.3 == "ANSWERED"), "{calls:?}");
    assert_eq!(
        most.load(Ordering::SeqCst),
        2,
        "at most 2 fax calls at once, and the limit was used"
    );
}

#[test]
fn a_corrupt_file_is_refused_and_nothing_is_queued() {
    let work = workdir();
    let daemon = queue_daemon(work.path(), "");
    let bad_pdf = work.path().join("broken.pdf");
    std::fs::write(&bad_pdf, b"%PDF-1.4\nthis is not a PDF at all\n").expect("write");
    let out = daemon.cli(&["fax", "send", "601", bad_pdf.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("broken.pdf"), "{stderr}");
    // A truncated TIFF, and a file that is no document at all.
    let bytes = std::fs::read(work.path().join("doc3.tif")).expect("doc");
    let cut = work.path().join("cut.tif");
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).expect("write");
    let text = work.path().join("notes.txt");
    std::fs::write(&text, "hello").expect("write");
    for file in [&cut, &text] {
        let out = daemon.cli(&["fax", "send", "601", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{file:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(file.file_name().unwrap().to_str().unwrap()),
            "{stderr}"
        );
    }
    // A good file with a bad one: nothing either.
    let good = work.path().join("doc1.tif");
    let out = daemon.cli(&[
        "fax",
        "send",
        "601",
        good.to_str().unwrap(),
        text.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(daemon.cli_json(&["fax", "list", "--json"]), serde_json::json!([]));
    let out_dir = daemon.dir.path().join("data/fax/out");
    let left: Vec<_> = std::fs::read_dir(&out_dir)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "files left in fax/out: {left:?}");
}

#[test]
fn the_queue_settings_are_validated_with_file_line_and_column() {
    let daemon = TestDaemon::prepare(|c| {
        format!("{c}\n[fax]\nmax_outbound_channels = 30\nretries = 99\nretry_spacing_s = 0\nring_timeout_s = 5\ncaller_number = \"our fax\"\n")
    });
    let out = daemon.cli(&["config", "check", daemon.config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    let config_text = std::fs::read_to_string(&daemon.config).unwrap();
    let line_of = |key: &str| {
        config_text
            .lines()
            .position(|l| l.starts_with(key))
            .map(|i| i + 1)
            .unwrap()
    };
    for (key, says) in [
        ("max_outbound_channels", "from 1 to 29"),
        ("retries", "from 0 to 20"),
        ("retry_spacing_s", "from 1 to 86400"),
        ("ring_timeout_s", "from 10 to 300"),
        ("caller_number", "not a fax number"),
    ] {
        let at = format!("{}:{}:", daemon.config.display(), line_of(key));
        assert!(
            lines.iter().any(|l| l.starts_with(&at) && l.contains(says)),
            "no error for {key} at {at} saying {says:?}:\n{text}"
        );
    }
}

/// Measurement (and a check that dialling out works on the realtime clock too, where idle lines
/// get no blocks and the dispatcher wakes the channel):
/// `cargo test --test fax_queue realtime -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement: about 20 s of wall time"]
fn realtime_send_of_a_one_page_fax() {
    let work = workdir();
    let doc = work.path().join("doc1.tif");
    fax_pair::make_document(&doc, 1, 2292);
    let daemon = TestDaemon::start_with(|c| {
        format!(
            "{}\n[fax]\nstation_id = \"+86 10 8888 0000\"\n",
            c.replace("clock = \"lockstep\"", "clock = \"realtime\"")
        )
    });
    let machine = FaxMachine::start(&daemon.sim_socket(), "601", work.path(), &[]);
    let started = Instant::now();
    let ids = send(&daemon, &["601", doc.to_str().unwrap()]);
    let got = machine.next(120);
    let wall = started.elapsed();
    assert!(got.ok && got.pages == 1, "{got:?}");
    let done = wait_job(&daemon, ids[0], "done", 30);
    eprintln!(
        "realtime: 1 page queued → received in {:.1} s wall; job {done}",
        wall.as_secs_f64()
    );
}

#[test]
fn queue_settings_follow_a_reload() {
    let work = workdir();
    let daemon = queue_daemon(work.path(), "retries = 0\nretry_spacing_s = 1\n");
    let busy = FaxMachine::start(&daemon.sim_socket(), "641", work.path(), &[Pickup::Busy; 8]);
    let doc = work.path().join("doc1.tif");
    let ids = send(&daemon, &["641", doc.to_str().unwrap()]);
    let failed = wait_job(&daemon, ids[0], "failed", 30);
    assert_eq!(failed["attempts"], 1, "retries = 0: {failed:#}");
    let config = std::fs::read_to_string(&daemon.config).unwrap();
    std::fs::write(&daemon.config, config.replace("retries = 0", "retries = 1")).unwrap();
    let out = daemon.cli(&["reload"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ids = send(&daemon, &["641", doc.to_str().unwrap()]);
    let failed = wait_job(&daemon, ids[0], "failed", 30);
    assert_eq!(failed["attempts"], 2, "retries = 1 after the reload: {failed:#}");
    drop(busy);
}

/// Measurement: how long the longest ring timeout (300 s of ringing) takes in lockstep, where the
/// card does not wait for a party being called — the time a far end has to answer.
/// `cargo test --test fax_queue lockstep_ring -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement"]
fn lockstep_ring_timeout_wall_time() {
    let work = workdir();
    let daemon = queue_daemon(work.path(), "retries = 0\n");
    let machine = FaxMachine::start(&daemon.sim_socket(), "651", work.path(), &[Pickup::Ignore]);
    let doc = work.path().join("doc1.tif");
    let ids = send(&daemon, &["651", doc.to_str().unwrap()]);
    wait_job(&daemon, ids[0], "sending", 30);
    let started = Instant::now();
    let failed = wait_job(&daemon, ids[0], "failed", 60);
    eprintln!(
        "lockstep: 300 s of unanswered ringing ended (NO ANSWER) {:.2} s of wall time after the job went to sending; {failed}",
        started.elapsed().as_secs_f64()
    );
    drop(machine);
}

#[test]
fn several_files_tiff_and_postscript_make_one_fax() {
    let work = workdir();
    let daemon = queue_daemon(work.path(), "retries = 0\n");
    let machine = FaxMachine::start(&daemon.sim_socket(), "661", work.path(), &[]);
    let ps = work.path().join("note.ps");
    std::fs::write(
        &ps,
        "%!PS\n/Helvetica findfont 24 scalefont setfont 72 700 moveto (a note from telvox) show showpage\n",
    )
    .expect("ps");
    let tiff = work.path().join("doc3.tif");
    let out = daemon.cli_json(&[
        "fax",
        "send",
        "--json",
        "661",
        tiff.to_str().unwrap(),
        ps.to_str().unwrap(),
    ]);
    assert_eq!(out["pages"], 4, "{out}");
    let got = machine.next(60);
    assert!(got.ok && got.pages == 4, "{got:?}");
    let (received, sent) = (fax_pair::bitmaps(&got.file), fax_pair::bitmaps(&tiff));
    for page in 0..3 {
        let extra = received[page].len() - sent[page].len();
        assert!(
            received[page][extra..] == sent[page][..],
            "page {} differs",
            page + 1
        );
    }
    assert!(
        received[3].iter().any(|&b| b != 0),
        "the PostScript page is not blank"
    );
    let id = out["jobs"][0]["id"].as_i64().unwrap();
    let done = wait_job(&daemon, id, "done", 30);
    assert_eq!(done["files"].as_array().unwrap().len(), 2);
}
