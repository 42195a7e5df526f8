//! The fax filing thread: takes a received fax's finished `.part` file off the channel thread,
//! renames it to its final name and makes a PDF copy beside it (`tiff2pdf`, written to a temporary
//! name and renamed). [`recover_interrupted`] files the `.part` files a crash left behind: a
//! readable one as partial (its pages are kept); an unreadable one is left as it is and reported.
//!
//! With a call log ([`FilerOptions::db`]) it also writes each finished session's row in
//! `fax_sessions` (see [`super::record`]) once the files have their final names, and queues the
//! email of a received fax's PDF ([`FilerOptions::mail`], sent by [`super::mail`]).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam::channel::{bounded, Receiver, Sender};

use super::mail::{FaxMail, Mailer};
use super::record::{FaxRecord, Filed};
use super::tiff::read_pages;

/// Finished faxes waiting to be filed; more at once only if the disk stalls for long.
const QUEUE_JOBS: usize = 256;

/// One finished reception: move `part` to `done` and make `done` with a `.pdf` extension.
#[derive(Debug)]
pub struct FileJob {
    pub part: PathBuf,
    pub done: PathBuf,
}

/// A finished session: its record, the received file to file (None for a send), and a scratch
/// file to remove once the session is over (a per-call cover + document, for instance).
#[derive(Debug)]
pub struct SessionJob {
    pub record: FaxRecord,
    pub file: Option<FileJob>,
    pub scratch: Option<PathBuf>,
}

/// The queue's slots are allocated with the queue, so a session's record (a fixed-size value)
/// goes in by value: boxing it would allocate on the channel thread.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
enum Job {
    File(FileJob),
    Session(SessionJob),
}

/// What the filing thread does besides filing.
#[derive(Clone, Debug, Default)]
pub struct FilerOptions {
    /// The call log: session rows are written to its `fax_sessions` (None: no rows).
    pub db: Option<PathBuf>,
    /// Email of received faxes (needs `db`: the queue is in `fax_sessions`).
    pub mail: Option<FaxMail>,
}

/// The handle the channel threads hold.
#[derive(Clone, Debug)]
pub struct FaxFiler {
    jobs: Sender<Job>,
    /// Jobs the queue had no room for (filed inline by the caller instead).
    pub overflow: Arc<AtomicU64>,
    /// Session records lost: the queue was full (the file is still filed) or the row could not
    /// be written.
    pub records_dropped: Arc<AtomicU64>,
}

impl FaxFiler {
    /// Starts the thread (one per runtime; it ends when the last handle is dropped).
    pub fn start(in_dir: &Path) -> std::io::Result<FaxFiler> {
        Self::start_with(in_dir, FilerOptions::default())
    }

    /// Starts the thread with session records (and email) as `options` say.
    pub fn start_with(in_dir: &Path, options: FilerOptions) -> std::io::Result<FaxFiler> {
        std::fs::create_dir_all(in_dir)?;
        let (jobs, queue) = bounded(QUEUE_JOBS);
        let records_dropped = Arc::new(AtomicU64::new(0));
        let dropped = records_dropped.clone();
        std::thread::Builder::new()
            .name("fax-filer".into())
            .spawn(move || run(&queue, &options, &dropped))?;
        Ok(FaxFiler {
            jobs,
            overflow: Arc::new(AtomicU64::new(0)),
            records_dropped,
        })
    }

    /// Queues a job without blocking. When the queue is full the rename is done here (the fax
    /// must not stay under its temporary name) without a PDF, and counted.
    pub fn submit(&self, job: FileJob) {
        if let Err(e) = self.jobs.try_send(Job::File(job)) {
            self.overflow.fetch_add(1, Ordering::Relaxed);
            super::record::FILER_OVERFLOW.fetch_add(1, Ordering::Relaxed);
            if let Job::File(job) = e.into_inner() {
                let _ = std::fs::rename(&job.part, &job.done);
            }
        }
    }

    /// Queues a finished session (its record, and its received file if any) without blocking.
    /// When the queue is full the file is renamed here, and the record dropped; both counted.
    pub fn submit_session(&self, job: SessionJob) {
        if let Err(e) = self.jobs.try_send(Job::Session(job)) {
            self.overflow.fetch_add(1, Ordering::Relaxed);
            self.records_dropped.fetch_add(1, Ordering::Relaxed);
            super::record::FILER_OVERFLOW.fetch_add(1, Ordering::Relaxed);
            super::record::RECORDS_DROPPED.fetch_add(1, Ordering::Relaxed);
            if let Job::Session(job) = e.into_inner() {
                if let Some(file) = &job.file {
                    let _ = std::fs::rename(&file.part, &file.done);
                }
                if let Some(scratch) = &job.scratch {
                    let _ = std::fs::remove_file(scratch);
                }
            }
        }
    }
}

fn run(queue: &Receiver<Job>, options: &FilerOptions, records_dropped: &AtomicU64) {
    let mut conn: Option<rusqlite::Connection> = None;
    let mailer = match (&options.db, &options.mail) {
        (Some(db), Some(mail)) => Mailer::start(db.clone(), mail.clone())
            .map_err(|e| tracing::warn!("fax: no mailer thread: {e}"))
            .ok(),
        _ => None,
    };
    while let Ok(job) = queue.recv() {
        let job = match job {
            Job::File(job) => {
                file_one(&job);
                continue;
            }
            Job::Session(job) => job,
        };
        let mut filed = Filed {
            file: job
                .file
                .as_ref()
                .map_or(job.record.meta.file.as_str().to_owned(), |f| {
                    f.done.display().to_string()
                }),
            ..Filed::default()
        };
        if let Some(file) = &job.file {
            match file_one(file) {
                Some(pdf) => filed.pdf = pdf.display().to_string(),
                None if !file.done.exists() => filed.file.clear(),
                None => {}
            }
            if !filed.pdf.is_empty() {
                if let Some(mail) = &options.mail {
                    filed.mail_to = mail
                        .address_for(job.record.meta.called_number.as_str())
                        .to_owned();
                }
            }
        }
        if let Some(scratch) = &job.scratch {
            let _ = std::fs::remove_file(scratch);
        }
        let Some(db) = &options.db else { continue };
        if conn.is_none() {
            conn = super::record::open(db)
                .map_err(|e| tracing::warn!("fax: cannot open the call log {}: {e}", db.display()))
                .ok();
        }
        let written = match &conn {
            Some(c) => super::record::insert(c, &job.record, &filed)
                .map_err(|e| tracing::warn!("fax: cannot write the session row: {e}")),
            None => Err(()),
        };
        match written {
            Ok(_) => {
                if let Some(mailer) = &mailer {
                    mailer.wake();
                }
            }
            Err(()) => {
                records_dropped.fetch_add(1, Ordering::Relaxed);
                super::record::RECORDS_DROPPED.fetch_add(1, Ordering::Relaxed);
                conn = None;
            }
        }
    }
}

/// Renames a received fax to its final name and makes its PDF; the PDF's path when made.
fn file_one(job: &FileJob) -> Option<PathBuf> {
    if let Err(e) = std::fs::rename(&job.part, &job.done) {
        tracing::warn!(part = %job.part.display(), "filing a received fax: {e}");
        return None;
    }
    match make_pdf(&job.done) {
        Ok(pdf) => Some(pdf),
        Err(e) => {
            tracing::warn!(fax = %job.done.display(), "no PDF copy of a received fax: {e}");
            None
        }
    }
}

/// `<name>.pdf` beside `<name>.tif`, through a temporary name.
pub fn make_pdf(tiff: &Path) -> Result<PathBuf, String> {
    let pdf = tiff.with_extension("pdf");
    let mut part = pdf.clone().into_os_string();
    part.push(".part");
    let part = PathBuf::from(part);
    let output = Command::new("tiff2pdf")
        .arg("-o")
        .arg(&part)
        .arg(tiff)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run tiff2pdf (libtiff-tools; install.sh installs it): {e}"))?;
    if !output.status.success() {
        let _ = std::fs::remove_file(&part);
        return Err(format!(
            "tiff2pdf failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    std::fs::rename(&part, &pdf).map_err(|e| format!("renaming {}: {e}", part.display()))?;
    Ok(pdf)
}

/// A reception a crash cut off, filed by [`recover_interrupted`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovered {
    /// The call's id (the file's stem).
    pub uniqueid: String,
    pub tiff: PathBuf,
    /// None when tiff2pdf failed.
    pub pdf: Option<PathBuf>,
    pub pages: u32,
}

/// Files `.tif.part` files left by a crash: readable ones as `-partial.tif` (with their PDF).
/// Call at daemon start only (with the run directory locked): during a reload, receptions in
/// progress own their `.part` files. Returns what it filed (for their session rows).
pub fn recover_interrupted(in_dir: &Path) -> Vec<Recovered> {
    let mut recovered = Vec::new();
    let Ok(entries) = std::fs::read_dir(in_dir) else {
        return recovered;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(stem) = name.strip_suffix(".tif.part") else {
            continue;
        };
        let Ok(pages) = read_pages(&path) else {
            tracing::warn!(file = %path.display(), "an interrupted fax reception left an unreadable file");
            continue;
        };
        let done = in_dir.join(format!("{stem}-partial.tif"));
        if std::fs::rename(&path, &done).is_ok() {
            tracing::info!(file = %done.display(), "filed an interrupted fax reception as partial");
            let pdf = make_pdf(&done).ok();
            recovered.push(Recovered {
                uniqueid: stem.to_owned(),
                tiff: done,
                pdf,
                pages: u32::try_from(pages.len()).unwrap_or(u32::MAX),
            });
        }
    }
    recovered
}
