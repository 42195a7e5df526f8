//! `fax_receive` and `fax_send`: the call becomes a fax reception, or sends a catalog document on
//! the caller's line (fax-on-demand, same-call mode), with T.30 through the spandsp wrapper
//! (`dsp::fax`).
//!
//! The session runs on the channel thread, block by block ([`Action::on_audio`]): the caller's audio
//! goes to spandsp and spandsp's audio replaces anything else on the line. The fax is written to
//! `<data_dir>/fax/in/<call id>.tif.part`; when the session ends the fax filing thread
//! (`apps::fax::filer`) renames it to `<call id>.tif` (complete) or `<call id>-partial.tif` (cut
//! off: the pages received are kept) and makes a PDF copy beside it; a session that received no page
//! leaves no file. A call that hangs up mid-fax is filed the same way when the call is torn down
//! ([`FaxCall`]'s `Drop`).
//!
//! Known limit: spandsp itself writes each received page with libtiff when the page ends (and reads
//! each page to send when it starts), so that file I/O happens on the channel thread at page
//! boundaries; moving it off needs spandsp's T.4 output redirected (its `document_put_handler`
//! covers ECM only).

use std::path::{Path, PathBuf};

use std::sync::Arc;

use crate::apps::fax::catalog::Catalog;
use crate::apps::fax::filer::{FaxFiler, FileJob};
use crate::dsp::fax::{FaxJob, FaxOptions, FaxOutcome, FaxSession};
use crate::engine::app::CallCx;

use super::action::{Action, ActionKind, IvrCall, ParseCx, Step};
use super::business::Business;
use super::flow::{Flow, StateId};
use super::tree::Item;
use super::vars::Template;

pub(super) const KINDS: &[ActionKind] = &[
    ActionKind {
        key: "fax_receive",
        parse: FaxReceive::parse,
    },
    ActionKind {
        key: "fax_send",
        parse: FaxSend::parse,
    },
];

const RECEIVED: &str = "received";
const PARTIAL: &str = "partial";
const FAILED: &str = "failed";
const SENT: &str = "sent";
const INVALID: &str = "invalid";
const QUEUED: &str = "queued";

/// Longest reception a flow may allow, and the default: a 100-page fax at 9600 bit/s fits.
const MAX_MS: std::ops::RangeInclusive<i64> = 10_000..=7_200_000;
const DEFAULT_MAX_MS: u64 = 1_800_000;
/// Events drained per block (spandsp produces a handful per page).
const EVENTS_PER_BLOCK: usize = 16;

/// What the fax actions need from the daemon: where received faxes go and how telvox identifies
/// itself to the far machine.
#[derive(Clone, Debug)]
pub struct FaxContext {
    pub in_dir: PathBuf,
    pub options: FaxOptions,
    /// The fax-on-demand documents `fax_send` offers (None: `fax_send` always says `invalid`).
    pub catalog: Option<Arc<Catalog>>,
    /// Files received faxes (rename, PDF copy) off the channel thread; None: renamed inline.
    pub filer: Option<FaxFiler>,
}

impl Business {
    /// Enables the fax actions (once; later calls are ignored). Creates the inbound directory.
    pub fn set_fax_context(&self, context: FaxContext) -> std::io::Result<()> {
        std::fs::create_dir_all(&context.in_dir)?;
        let _ = self.fax.set(context);
        Ok(())
    }

    pub fn fax_context(&self) -> Option<&FaxContext> {
        self.fax.get()
    }
}

/// A fax session in progress; a reception files its document when finished or dropped.
pub struct FaxCall {
    session: FaxSession,
    filer: Option<FaxFiler>,
    /// `<in_dir>/<call id>` (no extension) for a reception; None for a send.
    stem: Option<PathBuf>,
    started_samples: u64,
    max_samples: u64,
    filed: Option<(FaxOutcome, Option<PathBuf>)>,
}

impl FaxCall {
    /// Ends the session and moves the file to its final name (once).
    fn file(&mut self) -> (FaxOutcome, Option<PathBuf>) {
        if let Some(filed) = &self.filed {
            return filed.clone();
        }
        let outcome = self.session.finish();
        let Some(stem) = &self.stem else {
            self.filed = Some((outcome, None));
            return (outcome, None);
        };
        let part = self.session.path().to_path_buf();
        let done = if outcome.pages == 0 {
            let _ = std::fs::remove_file(&part);
            None
        } else {
            let mut name = stem.as_os_str().to_owned();
            name.push(if outcome.partial { "-partial.tif" } else { ".tif" });
            let done = PathBuf::from(name);
            match &self.filer {
                Some(filer) => {
                    filer.submit(FileJob {
                        part,
                        done: done.clone(),
                    });
                    Some(done)
                }
                None => std::fs::rename(&part, &done).ok().map(|()| done),
            }
        };
        self.filed = Some((outcome, done.clone()));
        (outcome, done)
    }
}

/// For the outbound fax queue (`apps::fax::dispatch`): a send on a call telvox placed, driven by
/// the queue's own call app through the same session wrapper and end-of-session path as the IVR's.
impl FaxCall {
    /// A send session that may run for `max_ms` from [`FaxCall::start_clock`].
    pub fn outbound_send(session: FaxSession, max_ms: u64) -> FaxCall {
        FaxCall {
            session,
            filer: None,
            stem: None,
            started_samples: 0,
            max_samples: max_ms.saturating_mul(8),
            filed: None,
        }
    }

    /// Starts the session's time limit now (the far end answered).
    pub fn start_clock(&mut self, now_samples: u64) {
        self.started_samples = now_samples;
    }

    /// Runs one block; the session's outcome once it has ended (or run over its time).
    pub fn step(&mut self, now_samples: u64, rx: &[i16], tx: &mut [i16]) -> Option<FaxOutcome> {
        self.session.rx(rx);
        self.session.tx(tx);
        for _ in 0..EVENTS_PER_BLOCK {
            if self.session.poll_event().is_none() {
                break;
            }
        }
        let too_long = now_samples.saturating_sub(self.started_samples) >= self.max_samples;
        if self.session.is_active() && !too_long {
            return None;
        }
        Some(self.file().0)
    }

    /// Ends the session now (the call went away); its outcome.
    pub fn finish(&mut self) -> FaxOutcome {
        self.file().0
    }
}

impl Drop for FaxCall {
    fn drop(&mut self) {
        self.file();
    }
}

impl std::fmt::Debug for FaxCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaxCall")
            .field("stem", &self.stem)
            .finish_non_exhaustive()
    }
}

/// `fax_receive = {}` or `fax_receive = { max_ms = 600000 }`: answers the call as a fax machine and
/// receives. Outcomes `received`, `partial` (cut off or failed after some pages), `failed`
/// (nothing received). Sets `${fax_pages}`, `${fax_file}` (the file name under fax/in, empty when
/// none) and `${fax_result}` (spandsp's completion code).
#[derive(Debug)]
struct FaxReceive {
    max_ms: u64,
}

impl FaxReceive {
    fn parse(item: &Item, cx: &mut ParseCx) -> Option<Box<dyn Action>> {
        let entries = cx.table(item, &["max_ms"], "{ max_ms = 1800000 }")?;
        let max_ms = match entries.iter().find(|(k, _)| k.get_ref() == "max_ms") {
            Some((_, v)) => cx.int(v, MAX_MS, "milliseconds")?.unsigned_abs(),
            None => DEFAULT_MAX_MS,
        };
        for var in ["fax_pages", "fax_file", "fax_result"] {
            if !cx.sets_var(var, item.span().start) {
                return None;
            }
        }
        Some(Box::new(FaxReceive { max_ms }))
    }

    fn finish(flow: &Flow, call: &mut IvrCall, fax: &mut FaxCall) -> Step {
        let (outcome, file) = fax.file();
        set_result_vars(flow, call, &outcome);
        let name = file
            .as_deref()
            .and_then(Path::file_name)
            .and_then(|n| n.to_str())
            .unwrap_or("");
        call.set_var(flow, "fax_file", name);
        Step::Done(match (outcome.pages, outcome.partial) {
            (0, _) => FAILED,
            (_, true) => PARTIAL,
            (_, false) => RECEIVED,
        })
    }
}

/// Runs one block of the call's fax session; returns the session once it is over (or over time).
fn run_block(call: &mut IvrCall, cx: &mut CallCx, rx: &[i16], tx: &mut [i16]) -> Option<Box<FaxCall>> {
    let mut fax = call.fax.take()?;
    fax.session.rx(rx);
    fax.session.tx(tx);
    for _ in 0..EVENTS_PER_BLOCK {
        if fax.session.poll_event().is_none() {
            break;
        }
    }
    let too_long = cx.now_samples().saturating_sub(fax.started_samples) >= fax.max_samples;
    if fax.session.is_active() && !too_long {
        call.fax = Some(fax);
        return None;
    }
    Some(fax)
}

/// Sets `${fax_pages}` and `${fax_result}` from a finished session.
fn set_result_vars(flow: &Flow, call: &mut IvrCall, outcome: &FaxOutcome) {
    let mut digits = [0u8; 12];
    call.set_var(flow, "fax_pages", format_u32(outcome.pages, &mut digits));
    let code = outcome.result.code().unsigned_abs();
    call.set_var(flow, "fax_result", format_u32(code, &mut digits));
}

/// `fax_send = { document = "${doc}" }`: sends the catalog document with those digits on this call
/// (the caller has pressed Start on their fax machine: telvox is the sending, calling terminal),
/// in the call's language when the catalog has it. Outcomes `sent`, `failed` (cut off or refused:
/// `${fax_pages}` says how far it got), `invalid` (no such document: the flow says so and asks
/// again). Sets `${fax_pages}`, `${fax_result}`.
///
/// Fax-back mode, `fax_send = { document = "${doc}", to = "${faxnum}" }`: the document is queued
/// for the outbound fax queue to send to that number later (the channel thread only hands the
/// request to the queue's intake thread, lock-free). Outcomes `queued`, `failed` (no queue, queue
/// full, not a phone number), `invalid` (no such document).
#[derive(Debug)]
struct FaxSend {
    document: Template,
    max_ms: u64,
    /// Fax-back: the number to send the document to later.
    to: Option<Template>,
}

impl FaxSend {
    fn parse(item: &Item, cx: &mut ParseCx) -> Option<Box<dyn Action>> {
        let entries = cx.table(item, &["document", "max_ms", "to"], "{ document = \"${doc}\" }")?;
        let document_item = cx.field(entries, "document", item)?;
        let document = cx.template(document_item)?;
        let to = match entries.iter().find(|(k, _)| k.get_ref() == "to") {
            Some((_, v)) => Some(cx.template(v)?),
            None => None,
        };
        let max_ms = match entries.iter().find(|(k, _)| k.get_ref() == "max_ms") {
            Some((_, v)) => cx.int(v, MAX_MS, "milliseconds")?.unsigned_abs(),
            None => DEFAULT_MAX_MS,
        };
        for var in ["fax_pages", "fax_result"] {
            if !cx.sets_var(var, item.span().start) {
                return None;
            }
        }
        Some(Box::new(FaxSend { document, max_ms, to }))
    }
}

impl Action for FaxSend {
    fn enter(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        let Some(context) = flow.business().and_then(|b| b.fax_context()) else {
            return Step::Done(FAILED);
        };
        let id = self.document.render(&call.vars);
        let language = call.vars.get("language");
        let Some(document) = context
            .catalog
            .as_ref()
            .and_then(|c| c.get(id.as_str(), Some(language)))
        else {
            return Step::Done(INVALID);
        };
        if let Some(to) = &self.to {
            let number = to.render(&call.vars);
            let request = crate::apps::fax::dispatch::FaxBackRequest {
                number: crate::fixed::Number::from_str_truncating(number.as_str()),
                document: crate::fixed::Label::from_str_truncating(document.id.as_str()),
                language: crate::fixed::Label::from_str_truncating(language),
                catalog: context.catalog.clone(),
                caller: cx.setup().info.from,
                call: cx.setup().call,
            };
            let queued = !number.is_truncated()
                && crate::apps::fax::dispatch::is_dialable(number.as_str())
                && crate::apps::fax::dispatch::submit_faxback(request);
            return Step::Done(if queued { QUEUED } else { FAILED });
        }
        let options = FaxOptions {
            calling_party: true,
            ..context.options.clone()
        };
        // Starting the session is this action's one allocation (spandsp's state).
        let session = match FaxSession::new(FaxJob::Send(document.tiff.clone()), &options) {
            Ok(session) => session,
            Err(_) => return Step::Done(FAILED),
        };
        cx.stop_playback();
        call.fax = Some(Box::new(FaxCall {
            session,
            filer: None,
            stem: None,
            started_samples: cx.now_samples(),
            max_samples: self.max_ms * 8,
            filed: None,
        }));
        Step::Wait
    }

    fn on_audio(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx, rx: &[i16], tx: &mut [i16]) -> Step {
        let Some(mut fax) = run_block(call, cx, rx, tx) else {
            return Step::Wait;
        };
        let (outcome, _) = fax.file();
        set_result_vars(flow, call, &outcome);
        Step::Done(if outcome.result.is_ok() { SENT } else { FAILED })
    }

    fn waits(&self) -> bool {
        self.to.is_none()
    }

    fn outcomes(&self) -> &'static [&'static str] {
        if self.to.is_some() {
            &[QUEUED, FAILED, INVALID]
        } else {
            &[SENT, FAILED, INVALID]
        }
    }

    fn links(&self) -> Vec<StateId> {
        Vec::new()
    }
}

/// Decimal digits of `n` in `buffer`, without allocating.
fn format_u32(mut n: u32, buffer: &mut [u8; 12]) -> &str {
    let mut at = buffer.len();
    loop {
        at -= 1;
        buffer[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buffer[at..]).unwrap_or("0")
}

impl Action for FaxReceive {
    fn enter(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        let Some(context) = flow.business().and_then(|b| b.fax_context()) else {
            return Step::Done(FAILED);
        };
        // Starting the session is this action's one allocation (spandsp's state, the file name).
        let stem = context.in_dir.join(call.vars.get("call_id"));
        let mut part = stem.as_os_str().to_owned();
        part.push(".tif.part");
        let session = match FaxSession::new(FaxJob::Receive(PathBuf::from(part)), &context.options) {
            Ok(session) => session,
            Err(_) => return Step::Done(FAILED),
        };
        cx.stop_playback();
        call.fax = Some(Box::new(FaxCall {
            session,
            filer: context.filer.clone(),
            stem: Some(stem),
            started_samples: cx.now_samples(),
            max_samples: self.max_ms * 8,
            filed: None,
        }));
        Step::Wait
    }

    fn on_audio(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx, rx: &[i16], tx: &mut [i16]) -> Step {
        match run_block(call, cx, rx, tx) {
            Some(mut fax) => Self::finish(flow, call, &mut fax),
            None => Step::Wait,
        }
    }

    fn waits(&self) -> bool {
        true
    }

    fn outcomes(&self) -> &'static [&'static str] {
        &[RECEIVED, PARTIAL, FAILED]
    }

    fn links(&self) -> Vec<StateId> {
        Vec::new()
    }
}
