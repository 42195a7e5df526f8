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
use crate::apps::fax::filer::{FaxFiler, FileJob, SessionJob};
use crate::apps::fax::record::{Direction, FaxRecord, RecordMeta};
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
    /// Renders `fax_send` cover pages off the channel thread; None: no cover pages.
    pub cover: Option<crate::apps::fax::cover::CoverRenderer>,
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
    /// What the session's `fax_sessions` row says it belongs to (see `apps::fax::record`).
    pub meta: RecordMeta,
    /// The session's end, in samples of the call's clock (set by `run_block`; for the record).
    pub ended_samples: u64,
    /// A per-call file the session sends (a cover page + document), removed once it is over.
    pub scratch: Option<PathBuf>,
}

impl FaxCall {
    /// Ends the session and moves the file to its final name (once). With a filer, the session's
    /// record goes with the file job (a send's record alone), so that every session has a row.
    fn file(&mut self) -> (FaxOutcome, Option<PathBuf>) {
        if let Some(filed) = &self.filed {
            return filed.clone();
        }
        let outcome = self.session.finish();
        let record = FaxRecord {
            direction: if self.session.is_receiving() {
                Direction::In
            } else {
                Direction::Out
            },
            meta: self.meta,
            remote_id: crate::apps::fax::record::StationId::from_str_truncating(self.session.remote_ident()),
            outcome,
            modem: self.session.modem(),
            started_at_sample: self.started_samples,
            duration_samples: self.ended_samples.saturating_sub(self.started_samples),
        };
        let scratch = self.scratch.take();
        let Some(stem) = &self.stem else {
            if let Some(filer) = &self.filer {
                filer.submit_session(SessionJob {
                    record,
                    file: None,
                    scratch,
                });
            }
            self.filed = Some((outcome, None));
            return (outcome, None);
        };
        let part = self.session.path().to_path_buf();
        let done = if outcome.pages == 0 {
            match &self.filer {
                // Nothing received: the filer removes what spandsp may have created.
                Some(filer) => filer.submit_session(SessionJob {
                    record,
                    file: None,
                    scratch: Some(part),
                }),
                None => {
                    let _ = std::fs::remove_file(&part);
                }
            }
            None
        } else {
            let mut name = stem.as_os_str().to_owned();
            name.push(if outcome.partial { "-partial.tif" } else { ".tif" });
            let done = PathBuf::from(name);
            match &self.filer {
                Some(filer) => {
                    filer.submit_session(SessionJob {
                        record,
                        file: Some(FileJob {
                            part,
                            done: done.clone(),
                        }),
                        scratch,
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
    /// A send session that may run for `max_ms` from [`FaxCall::start_clock`]; with a `filer`,
    /// its `fax_sessions` row is written when it ends, as for the IVR's sessions.
    pub fn outbound_send(
        session: FaxSession,
        max_ms: u64,
        filer: Option<FaxFiler>,
        meta: RecordMeta,
    ) -> FaxCall {
        FaxCall {
            session,
            filer,
            stem: None,
            started_samples: 0,
            max_samples: max_ms.saturating_mul(8),
            filed: None,
            meta,
            ended_samples: 0,
            scratch: None,
        }
    }

    /// Starts the session's time limit now (the far end answered).
    pub fn start_clock(&mut self, now_samples: u64) {
        self.started_samples = now_samples;
        self.ended_samples = now_samples;
    }

    /// Names the call in the session's record: the call's id and the number dialled.
    pub fn set_call(&mut self, call: crate::hw::CallRef, dialled: crate::fixed::Number) {
        let mut uniqueid = crate::fixed::Label::new();
        // A call id is ~20 characters; a Label holds it whole.
        let _ = std::fmt::Write::write_fmt(&mut uniqueid, format_args!("{call}"));
        self.meta.uniqueid = uniqueid;
        self.meta.remote_number = dialled;
    }

    /// Runs one block; the session's outcome once it has ended (or run over its time).
    pub fn step(&mut self, now_samples: u64, rx: &[i16], tx: &mut [i16]) -> Option<FaxOutcome> {
        self.ended_samples = now_samples;
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
    fax.ended_samples = cx.now_samples();
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
/// With `cover = true` (or `[fax] cover = true` and no `cover` here) a cover page goes first:
/// the date, the caller's number, `customer` (a template, e.g. `"${customer}"` from a `lookup`),
/// the document's title and the `[fax] company` header. It is rendered off the channel thread
/// (`apps::fax::cover`) while the call waits (at most [`COVER_WAIT_MS`] of the call's clock, then
/// the document goes alone); `${fax_pages}` counts it. `prompts` (e.g. "press Start now") play
/// first — meanwhile the cover renders — and the fax starts when they have played and the cover
/// is ready.
/// Fax-back mode, `fax_send = { document = "${doc}", to = "${faxnum}" }`: the document is queued
/// for the outbound fax queue to send to that number later (the channel thread only hands the
/// request to the queue's intake thread, lock-free). Outcomes `queued`, `failed` (no queue, queue
/// full, not a phone number), `invalid` (no such document).
#[derive(Debug)]
struct FaxSend {
    document: Template,
    max_ms: u64,
    /// None: as `[fax] cover` says.
    cover: Option<bool>,
    customer: Option<Template>,
    /// Played before the fax starts (while the cover renders).
    prompts: Option<super::action::PromptList>,
    /// Fax-back: the number to send the document to later.
    to: Option<Template>,
}

/// How long a call waits for its cover page at most, and how often it looks, in call time.
const COVER_WAIT_MS: u64 = 20_000;
const COVER_POLL_MS: u64 = 20;

/// A `fax_send` waiting for its prompts to play and its cover page (see
/// [`crate::apps::fax::cover`]) to be rendered.
#[derive(Debug)]
pub struct PendingCover {
    /// None: no cover (only prompts to wait for).
    slot: Option<Arc<crate::apps::fax::cover::CoverSlot>>,
    /// The cover + document file the cover thread writes.
    out: PathBuf,
    document: PathBuf,
    id: crate::fixed::Label,
    since_samples: u64,
}

impl FaxSend {
    fn parse(item: &Item, cx: &mut ParseCx) -> Option<Box<dyn Action>> {
        let entries = cx.table(
            item,
            &["document", "max_ms", "cover", "customer", "prompts", "to"],
            "{ document = \"${doc}\" }",
        )?;
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
        let cover = match entries.iter().find(|(k, _)| k.get_ref() == "cover") {
            Some((_, v)) => Some(cx.boolean(v)?),
            None => None,
        };
        let customer = match entries.iter().find(|(k, _)| k.get_ref() == "customer") {
            Some((_, v)) => Some(cx.template(v)?),
            None => None,
        };
        let prompts = match entries.iter().find(|(k, _)| k.get_ref() == "prompts") {
            Some((_, v)) => Some(cx.prompts(v)?),
            None => None,
        };
        for var in ["fax_pages", "fax_result"] {
            if !cx.sets_var(var, item.span().start) {
                return None;
            }
        }
        Some(Box::new(FaxSend {
            document,
            max_ms,
            cover,
            customer,
            prompts,
            to,
        }))
    }

    /// Starts sending `file` (the document, or cover + document) on the call; the record names
    /// the catalog's `document`.
    #[allow(clippy::too_many_arguments)]
    fn start_session(
        &self,
        call: &mut IvrCall,
        cx: &mut CallCx,
        context: &FaxContext,
        file: PathBuf,
        document: &Path,
        id: &str,
        scratch: Option<PathBuf>,
    ) -> Step {
        let options = FaxOptions {
            calling_party: true,
            ..context.options.clone()
        };
        // Starting the session is this action's one allocation (spandsp's state).
        let session = match FaxSession::new(FaxJob::Send(file.clone()), &options) {
            Ok(session) => session,
            Err(_) => {
                if let Some(scratch) = scratch {
                    // Not sent: nothing else will remove it (the cover thread is done with it).
                    let _ = std::fs::remove_file(scratch);
                }
                return Step::Done(FAILED);
            }
        };
        cx.stop_playback();
        let mut meta = record_meta(call, cx, &options);
        meta.document = crate::fixed::Label::from_str_truncating(id);
        meta.file = crate::apps::fax::record::FilePath::from_str_truncating(&document.to_string_lossy());
        call.fax = Some(Box::new(FaxCall {
            session,
            filer: context.filer.clone(),
            stem: None,
            started_samples: cx.now_samples(),
            max_samples: self.max_ms * 8,
            filed: None,
            meta,
            ended_samples: cx.now_samples(),
            scratch,
        }));
        Step::Wait
    }

    /// Plays the prompts and hands the cover to the cover thread; false when there is nothing to
    /// wait for.
    fn request_cover(
        &self,
        flow: &Flow,
        call: &mut IvrCall,
        cx: &mut CallCx,
        context: &FaxContext,
        document: &crate::apps::fax::catalog::FaxDocument,
        id: &str,
    ) -> bool {
        if let Some(prompts) = &self.prompts {
            call.play(flow, cx, prompts);
        }
        let slot = self.submit_cover(call, cx, context, document);
        if slot.is_none() && self.prompts.is_none() {
            return false;
        }
        call.fax_cover = Some(Box::new(PendingCover {
            out: context
                .cover
                .as_ref()
                .map(|r| r.dir.join(format!("{}-cover.tif", call.vars.get("call_id"))))
                .unwrap_or_default(),
            slot,
            document: document.tiff.clone(),
            id: crate::fixed::Label::from_str_truncating(id),
            since_samples: cx.now_samples(),
        }));
        cx.set_timer_ms(COVER_POLL_MS);
        true
    }

    /// Queues the cover job when this send has a cover; its slot.
    fn submit_cover(
        &self,
        call: &IvrCall,
        cx: &CallCx,
        context: &FaxContext,
        document: &crate::apps::fax::catalog::FaxDocument,
    ) -> Option<Arc<crate::apps::fax::cover::CoverSlot>> {
        let renderer = context.cover.as_ref()?;
        if !self.cover.unwrap_or(renderer.default_on) {
            return None;
        }
        use crate::apps::fax::cover::{CoverData, CoverJob, CoverSlot};
        let call_id = call.vars.get("call_id");
        let out = renderer.dir.join(format!("{call_id}-cover.tif"));
        let slot = Arc::new(CoverSlot::default());
        let job = CoverJob {
            data: CoverData {
                caller: cx.setup().info.from.as_str().to_owned(),
                customer: self
                    .customer
                    .as_ref()
                    .map(|t| t.render(&call.vars).as_str().to_owned())
                    .unwrap_or_default(),
                title: document.title.clone(),
                pages: document.pages,
                reference: call_id.to_owned(),
            },
            document: document.tiff.clone(),
            resolution: document.resolution,
            out,
            slot: slot.clone(),
        };
        renderer.submit(job).then_some(slot)
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
        if self.request_cover(flow, call, cx, context, document, id.as_str()) {
            return Step::Wait;
        }
        self.start_session(
            call,
            cx,
            context,
            document.tiff.clone(),
            &document.tiff,
            id.as_str(),
            None,
        )
    }

    /// While a cover is being rendered: look again, then send (with it, or without it when it
    /// failed or took longer than [`COVER_WAIT_MS`]).
    fn on_timer(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        use crate::apps::fax::cover::CoverState;
        let Some(pending) = call.fax_cover.take() else {
            return Step::Wait;
        };
        let Some(context) = flow.business().and_then(|b| b.fax_context()) else {
            return Step::Done(FAILED);
        };
        let waited = cx.now_samples().saturating_sub(pending.since_samples);
        let state = pending.slot.as_ref().map(|s| s.state());
        let rendering = state == Some(CoverState::Pending) && waited < COVER_WAIT_MS * 8;
        if rendering || cx.is_playing() {
            call.fax_cover = Some(pending);
            cx.set_timer_ms(COVER_POLL_MS);
            return Step::Wait;
        }
        let (file, scratch) = match state {
            Some(CoverState::Ready) => (pending.out.clone(), Some(pending.out.clone())),
            // Too late: sent without it; the cover file, if it comes, is removed with the session.
            Some(CoverState::Pending) => (pending.document.clone(), Some(pending.out.clone())),
            _ => (pending.document.clone(), None),
        };
        self.start_session(
            call,
            cx,
            context,
            file,
            &pending.document,
            pending.id.as_str(),
            scratch,
        )
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

/// What a session's record says it belongs to: this call, its numbers, this station's id.
pub fn record_meta(call: &IvrCall, cx: &CallCx, options: &FaxOptions) -> RecordMeta {
    let info = &cx.setup().info;
    RecordMeta {
        uniqueid: crate::fixed::Label::from_str_truncating(call.vars.get("call_id")),
        remote_number: info.from,
        called_number: info.to,
        local_id: crate::apps::fax::record::StationId::from_str_truncating(&options.local_ident),
        ..RecordMeta::default()
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
            meta: record_meta(call, cx, &context.options),
            ended_samples: cx.now_samples(),
            scratch: None,
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
