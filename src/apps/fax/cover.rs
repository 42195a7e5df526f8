//! Fax cover pages (issue 5 item 3): a page built per call from business data — the date, the
//! caller's number, the customer's name (an IVR variable, e.g. from a `lookup`), the document's
//! title and page count, and the company header from `[fax] company` — rendered at the document's
//! fax resolution (1728 px wide) and sent before the document.
//!
//! Nothing of this runs on a channel thread: `fax_send` hands a [`CoverJob`] to the cover thread
//! through a bounded queue and polls a [`CoverSlot`] (an atomic) from its timer while the caller
//! waits. The thread writes PostScript ([`cover_postscript`]), renders it with ghostscript (as the
//! catalog converts documents), validates the page, and joins cover + document into one TIFF with
//! `tiffcp` under a temporary name, renamed when complete. The session then sends that file; it is
//! removed once the session is over (by the filing thread).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use crossbeam::channel::{bounded, Receiver, Sender};

use super::catalog::ghostscript_to_tiff;
use super::tiff::{check_class_f, read_pages, FaxResolution};

/// Covers waiting to be rendered; a call beyond this is sent without one (and counted).
const QUEUE_JOBS: usize = 64;
/// Longest text line kept on the page (characters); longer values are cut.
const MAX_LINE_CHARS: usize = 60;
/// Company header lines at most.
const MAX_COMPANY_LINES: usize = 4;

/// Where a cover job stands, polled by the channel thread.
#[derive(Debug, Default)]
pub struct CoverSlot {
    state: AtomicU8,
}

/// [`CoverSlot`] states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoverState {
    Pending,
    /// The cover + document file is ready (the job's `out`).
    Ready,
    /// Rendering failed (logged): send the document alone.
    Failed,
}

impl CoverSlot {
    pub fn state(&self) -> CoverState {
        match self.state.load(Ordering::Acquire) {
            1 => CoverState::Ready,
            2 => CoverState::Failed,
            _ => CoverState::Pending,
        }
    }

    fn set(&self, state: CoverState) {
        let value = match state {
            CoverState::Pending => 0,
            CoverState::Ready => 1,
            CoverState::Failed => 2,
        };
        self.state.store(value, Ordering::Release);
    }
}

/// The business data printed on a cover.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CoverData {
    /// The caller's number (where the fax goes).
    pub caller: String,
    /// The customer's name (empty: not printed).
    pub customer: String,
    pub title: String,
    /// Pages of the document (the cover not counted).
    pub pages: usize,
    /// The call's id, printed small as a reference.
    pub reference: String,
}

/// One cover to render and join with its document.
#[derive(Debug)]
pub struct CoverJob {
    pub data: CoverData,
    pub document: PathBuf,
    pub resolution: FaxResolution,
    /// The cover + document file to write (renamed into place when complete).
    pub out: PathBuf,
    pub slot: Arc<CoverSlot>,
}

/// The handle `fax_send` holds (one cover thread per runtime; it ends with the last handle).
#[derive(Clone, Debug)]
pub struct CoverRenderer {
    jobs: Sender<CoverJob>,
    /// Where per-call cover files go (`<data_dir>/fax/tmp`).
    pub dir: PathBuf,
    /// `[fax] cover`: whether `fax_send` adds a cover unless its flow says otherwise.
    pub default_on: bool,
    /// Jobs refused because the queue was full (those calls got no cover).
    pub refused: Arc<AtomicU64>,
}

impl CoverRenderer {
    /// Starts the cover thread; `company` is `[fax] company` (lines split at `\n`).
    pub fn start(dir: &Path, company: Option<String>, default_on: bool) -> std::io::Result<CoverRenderer> {
        std::fs::create_dir_all(dir)?;
        // Covers of calls a crash or a reload cut off.
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let name = entry.file_name();
                if name.to_string_lossy().contains("-cover") {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        let (jobs, queue) = bounded(QUEUE_JOBS);
        let company = company.unwrap_or_default();
        std::thread::Builder::new()
            .name("fax-cover".into())
            .spawn(move || run(&queue, &company))?;
        Ok(CoverRenderer {
            jobs,
            dir: dir.to_path_buf(),
            default_on,
            refused: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Queues a job without blocking; false (counted) when the queue is full.
    pub fn submit(&self, job: CoverJob) -> bool {
        if self.jobs.try_send(job).is_ok() {
            return true;
        }
        self.refused.fetch_add(1, Ordering::Relaxed);
        super::record::COVERS_REFUSED.fetch_add(1, Ordering::Relaxed);
        false
    }
}

fn run(queue: &Receiver<CoverJob>, company: &str) {
    while let Ok(job) = queue.recv() {
        let date = chrono::Local::now().format("%Y-%m-%d %H:%M").to_string();
        match render(&job, company, &date) {
            // Nobody waits any more (the caller hung up): the file would only be left behind.
            Ok(()) if Arc::strong_count(&job.slot) == 1 => {
                let _ = std::fs::remove_file(&job.out);
            }
            Ok(()) => job.slot.set(CoverState::Ready),
            Err(e) => {
                tracing::warn!(document = %job.document.display(), "fax cover page: {e}");
                job.slot.set(CoverState::Failed);
            }
        }
    }
}

/// `name` with `suffix` appended (`x.tif` → `x.tif.ps`).
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Renders the cover and joins it with the document into `job.out`.
pub fn render(job: &CoverJob, company: &str, date: &str) -> Result<(), String> {
    let ps = with_suffix(&job.out, ".ps");
    let cover = with_suffix(&job.out, ".cover.tif");
    let part = with_suffix(&job.out, ".part");
    let result = (|| {
        std::fs::write(&ps, cover_postscript(&job.data, company, date))
            .map_err(|e| format!("{}: {e}", ps.display()))?;
        render_page(&ps, &cover, job.resolution)?;
        let output = Command::new("tiffcp")
            .arg(&cover)
            .arg(&job.document)
            .arg(&part)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run tiffcp (libtiff-tools; install.sh installs it): {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "tiffcp failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        std::fs::rename(&part, &job.out).map_err(|e| format!("renaming {}: {e}", part.display()))
    })();
    let _ = std::fs::remove_file(&ps);
    let _ = std::fs::remove_file(&cover);
    if result.is_err() {
        let _ = std::fs::remove_file(&part);
    }
    result
}

/// Renders one PostScript page to a TIFF-F page at `resolution`, checked like a catalog document.
pub fn render_page(ps: &Path, tiff: &Path, resolution: FaxResolution) -> Result<(), String> {
    ghostscript_to_tiff(ps, tiff, resolution)?;
    let pages = read_pages(tiff).map_err(|e| format!("ghostscript's cover cannot be read: {e}"))?;
    let [page] = pages.as_slice() else {
        return Err(format!("the cover has {} pages, not 1", pages.len()));
    };
    match check_class_f(page) {
        Ok(got) if got == resolution => Ok(()),
        Ok(_) => Err("ghostscript's cover has another resolution than the document".into()),
        Err(e) => Err(format!("ghostscript's cover {e}")),
    }
}

/// A PostScript string literal's body: printable ASCII only (others become `?`; the standard
/// fonts have no other glyphs), `\`, `(` and `)` escaped, cut at [`MAX_LINE_CHARS`].
fn ps_text(text: &str) -> String {
    let mut out = String::new();
    for ch in text.chars().take(MAX_LINE_CHARS) {
        match ch {
            '\\' | '(' | ')' => {
                out.push('\\');
                out.push(ch);
            }
            ' '..='~' => out.push(ch),
            _ => out.push('?'),
        }
    }
    out
}

/// The cover as a PostScript page (A4, 595 x 842 points): the company header, a rule, "FAX",
/// then date, recipient, fax number, document, pages, reference.
pub fn cover_postscript(data: &CoverData, company: &str, date: &str) -> String {
    let mut ps = String::from(
        "%!PS-Adobe-3.0\n%%Pages: 1\n<< /PageSize [595 842] >> setpagedevice\n\
         /line { moveto show } def\n",
    );
    let mut y = 780;
    ps.push_str("/Helvetica-Bold findfont 26 scalefont setfont\n");
    for (i, line) in company.lines().take(MAX_COMPANY_LINES).enumerate() {
        if i == 1 {
            ps.push_str("/Helvetica findfont 16 scalefont setfont\n");
        }
        ps.push_str(&format!("({}) 50 {y} line\n", ps_text(line)));
        y -= if i == 0 { 30 } else { 22 };
    }
    y -= 10;
    ps.push_str(&format!(
        "newpath 50 {y} moveto 545 {y} lineto 4 setlinewidth stroke\n"
    ));
    y -= 80;
    ps.push_str("/Helvetica-Bold findfont 64 scalefont setfont\n");
    ps.push_str(&format!("(FAX) 50 {y} line\n"));
    y -= 70;
    let customer = if data.customer.is_empty() {
        "-"
    } else {
        data.customer.as_str()
    };
    let caller = if data.caller.is_empty() {
        "-"
    } else {
        data.caller.as_str()
    };
    let rows = [
        ("Date:", date.to_owned()),
        ("To:", customer.to_owned()),
        ("Fax number:", caller.to_owned()),
        ("Document:", data.title.clone()),
        ("Pages:", format!("{} + this cover", data.pages)),
    ];
    for (label, value) in rows {
        ps.push_str("/Helvetica-Bold findfont 20 scalefont setfont\n");
        ps.push_str(&format!("({}) 50 {y} line\n", ps_text(label)));
        ps.push_str("/Helvetica findfont 20 scalefont setfont\n");
        ps.push_str(&format!("({}) 200 {y} line\n", ps_text(&value)));
        y -= 36;
    }
    if !data.reference.is_empty() {
        ps.push_str("/Helvetica findfont 10 scalefont setfont\n");
        ps.push_str(&format!("(Reference {}) 50 60 line\n", ps_text(&data.reference)));
    }
    ps.push_str("showpage\n%%EOF\n");
    ps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_kept_to_what_the_fonts_have() {
        assert_eq!(ps_text("A (b) \\ c"), "A \\(b\\) \\\\ c");
        assert_eq!(ps_text("Zoë 王"), "Zo? ?");
        assert_eq!(ps_text(&"x".repeat(100)).len(), MAX_LINE_CHARS);
    }

    #[test]
    fn the_page_carries_the_business_data() {
        let data = CoverData {
            caller: "13800138000".into(),
            customer: "Li Wei".into(),
            title: "Price list".into(),
            pages: 2,
            reference: "1763900000.42".into(),
        };
        let ps = cover_postscript(&data, "ACME Trading\nTel +86 10 8888 0000", "2026-11-23 09:00");
        for text in [
            "(ACME Trading)",
            "(Tel +86 10 8888 0000)",
            "(2026-11-23 09:00)",
            "(Li Wei)",
            "(13800138000)",
            "(Price list)",
            "(2 + this cover)",
            "showpage",
        ] {
            assert!(ps.contains(text), "{text} missing from\n{ps}");
        }
    }
}
