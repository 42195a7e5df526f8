//! The fax filing thread: takes a received fax's finished `.part` file off the channel thread,
//! renames it to its final name and makes a PDF copy beside it (`tiff2pdf`, written to a temporary
//! name and renamed). [`recover_interrupted`] files the `.part` files a crash left behind: a
//! readable one as partial (its pages are kept); an unreadable one is left as it is and reported.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam::channel::{bounded, Receiver, Sender};

use super::tiff::read_pages;

/// Finished faxes waiting to be filed; more at once only if the disk stalls for long.
const QUEUE_JOBS: usize = 256;

/// One finished reception: move `part` to `done` and make `done` with a `.pdf` extension.
#[derive(Debug)]
pub struct FileJob {
    pub part: PathBuf,
    pub done: PathBuf,
}

/// The handle the channel threads hold.
#[derive(Clone, Debug)]
pub struct FaxFiler {
    jobs: Sender<FileJob>,
    /// Jobs the queue had no room for (filed inline by the caller instead).
    pub overflow: Arc<AtomicU64>,
}

impl FaxFiler {
    /// Starts the thread (one per runtime; it ends when the last handle is dropped).
    pub fn start(in_dir: &Path) -> std::io::Result<FaxFiler> {
        std::fs::create_dir_all(in_dir)?;
        let (jobs, queue) = bounded(QUEUE_JOBS);
        std::thread::Builder::new()
            .name("fax-filer".into())
            .spawn(move || run(&queue))?;
        Ok(FaxFiler {
            jobs,
            overflow: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Queues a job without blocking. When the queue is full the rename is done here (the fax
    /// must not stay under its temporary name) without a PDF, and counted.
    pub fn submit(&self, job: FileJob) {
        if let Err(e) = self.jobs.try_send(job) {
            self.overflow.fetch_add(1, Ordering::Relaxed);
            let job = e.into_inner();
            let _ = std::fs::rename(&job.part, &job.done);
        }
    }
}

fn run(queue: &Receiver<FileJob>) {
    while let Ok(job) = queue.recv() {
        if let Err(e) = std::fs::rename(&job.part, &job.done) {
            tracing::warn!(part = %job.part.display(), "filing a received fax: {e}");
            continue;
        }
        if let Err(e) = make_pdf(&job.done) {
            tracing::warn!(fax = %job.done.display(), "no PDF copy of a received fax: {e}");
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

/// Files `.tif.part` files left by a crash: readable ones as `-partial.tif` (with their PDF).
/// Call at daemon start only (with the run directory locked): during a reload, receptions in
/// progress own their `.part` files.
pub fn recover_interrupted(in_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(in_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(stem) = name.strip_suffix(".tif.part") else {
            continue;
        };
        if read_pages(&path).is_err() {
            tracing::warn!(file = %path.display(), "an interrupted fax reception left an unreadable file");
            continue;
        }
        let done = in_dir.join(format!("{stem}-partial.tif"));
        if std::fs::rename(&path, &done).is_ok() {
            tracing::info!(file = %done.display(), "filed an interrupted fax reception as partial");
            let _ = make_pdf(&done);
        }
    }
}
