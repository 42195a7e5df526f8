//! The outbound fax dispatcher: a daemon thread that takes due jobs from the queue
//! (`super::queue`), places each as an outbound call on an idle trunk channel (`engine::originate`)
//! running [`FaxOut`] — a send through the IVR's [`FaxCall`], so fax session records cover queue
//! sends too — and records how each attempt went: done, or retried with backoff after a busy line,
//! no answer or a failed fax, until `[fax] retries` are used up.
//!
//! Limits: at most `[fax] max_outbound_channels` fax calls at once (never every trunk: at least one
//! stays free for callers). New jobs are picked up when the CLI pokes the daemon (`fax_poke` on the
//! control socket) and by polling the queue every [`POLL`].
//!
//! Fax-back (`fax_send = { document = …, to = … }` in a flow) reaches the queue through
//! [`submit_faxback`]: the channel thread only `try_send`s a small request on a bounded channel;
//! this thread copies the document into the job's directory and writes the row.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam::channel::{bounded, Receiver, Sender};
use crossbeam::queue::ArrayQueue;

use super::catalog::Catalog;
use super::filer::FaxFiler;
use super::queue::{self, AttemptResult, Job, NewJob};
use crate::apps::ivr::fax::FaxCall;
use crate::dsp::fax::{FaxJob, FaxOptions, FaxOutcome, FaxSession};
use crate::engine::app::{App, CallCx};
use crate::engine::events::Disposition;
use crate::engine::originate::{OriginatePhase, OriginateReport, OriginateRequest};
use crate::engine::status::{ChanState, ChanStatus};
use crate::fixed::{Label, Number};
use crate::hw::{CallRef, Cause};

/// How often the queue is read even without a poke.
pub const POLL: Duration = Duration::from_secs(1);
/// How often finished jobs' files are looked at for removal.
const PRUNE_INTERVAL: Duration = Duration::from_secs(3600);
/// A request no channel took within this long (it got an inbound call) is taken back.
const OFFER_TIMEOUT: Duration = Duration::from_secs(2);
/// Fax-back requests waiting for the intake; more are refused (the flow hears `failed`).
const FAXBACK_QUEUE: usize = 64;
/// The longest a queued fax session may run.
const MAX_SESSION_MS: u64 = 7_200_000;
/// How often a ringing call looks whether its job was cancelled.
const CANCEL_CHECK_MS: u64 = 200;
/// The longest wait between two attempts, however many retries.
const MAX_BACKOFF_S: u64 = 86_400;

/// A fax-back asked for in a call: fixed-size, so handing it over allocates nothing.
#[derive(Clone, Debug)]
pub struct FaxBackRequest {
    pub number: Number,
    /// The catalog document's id and the call's language.
    pub document: Label,
    pub language: Label,
    /// The catalog the flow saw (a reload may replace the daemon's meanwhile).
    pub catalog: Option<Arc<Catalog>>,
    pub caller: Number,
    pub call: CallRef,
}

/// The process's fax-back and poke channels, made once: a dispatcher (re)started later takes over
/// the receiving ends, and what was sent meanwhile waits in the channel. A `OnceLock` read is one
/// atomic load: nothing on a channel thread allocates or locks to reach it.
static FAXBACK: OnceLock<(Sender<FaxBackRequest>, Receiver<FaxBackRequest>)> = OnceLock::new();
static POKE: OnceLock<(Sender<()>, Receiver<()>)> = OnceLock::new();
/// Whether a dispatcher runs (fax-back is refused with `failed` when none does).
static RUNNING: AtomicBool = AtomicBool::new(false);

fn faxback_channel() -> &'static (Sender<FaxBackRequest>, Receiver<FaxBackRequest>) {
    FAXBACK.get_or_init(|| bounded(FAXBACK_QUEUE))
}

fn poke_channel() -> &'static (Sender<()>, Receiver<()>) {
    POKE.get_or_init(|| bounded(1))
}
/// Fax-back requests refused because the intake queue was full or no dispatcher runs.
static FAXBACK_DROPPED: AtomicU64 = AtomicU64::new(0);

/// Hands a fax-back to the dispatcher (lock-free, no allocation: callable on a channel thread).
/// False when no dispatcher runs or its queue is full (counted).
pub fn submit_faxback(request: FaxBackRequest) -> bool {
    let sent =
        RUNNING.load(Ordering::Acquire) && FAXBACK.get().is_some_and(|(tx, _)| tx.try_send(request).is_ok());
    if !sent {
        FAXBACK_DROPPED.fetch_add(1, Ordering::Relaxed);
    }
    sent
}

/// Where the dispatcher reports job changes (`telvox events` lines of type `fax_job`).
pub type JobEventSink = Box<dyn Fn(serde_json::Value) + Send + Sync>;

static JOB_EVENTS: OnceLock<JobEventSink> = OnceLock::new();

/// Set once by the daemon.
pub fn set_job_event_sink(sink: JobEventSink) {
    let _ = JOB_EVENTS.set(sink);
}

/// Reports a job's new state: `{"type":"fax_job","id","number","state","attempts",…}`.
fn publish_job(
    job: &Job,
    state: &str,
    attempts: i64,
    result: Option<&str>,
    cause: Option<&str>,
    call: Option<&str>,
) {
    if let Some(sink) = JOB_EVENTS.get() {
        sink(serde_json::json!({
            "type": "fax_job",
            "id": job.id,
            "number": job.number,
            "state": state,
            "attempts": attempts,
            "result": result,
            "cause": cause,
            "uniqueid": call,
        }));
    }
}

/// Whether `number` can be dialled as a fax number: digits, `*`, `#`, an optional leading `+`
/// (checked on the channel thread: no allocation).
pub fn is_dialable(number: &str) -> bool {
    let body = number.strip_prefix('+').unwrap_or(number);
    !body.is_empty()
        && number.len() <= queue::MAX_NUMBER_CHARS
        && body.bytes().all(|b| b.is_ascii_digit() || b == b'*' || b == b'#')
}

/// Fax-back requests refused so far.
pub fn faxback_dropped() -> u64 {
    FAXBACK_DROPPED.load(Ordering::Relaxed)
}

/// Tells the dispatcher to look at the queue now (the CLI queued something).
pub fn poke() -> bool {
    RUNNING.load(Ordering::Acquire) && poke_channel().0.try_send(()).is_ok()
}

/// The call app of one attempt: on answer, sends the document as the calling fax terminal and
/// hangs up when the session ends; its outcome goes back through a one-place lock-free queue.
pub struct FaxOut {
    fax: Option<Box<FaxCall>>,
    result: Arc<ArrayQueue<FaxOutcome>>,
    cancel: Arc<AtomicBool>,
}

impl FaxOut {
    fn report(&mut self, outcome: FaxOutcome) {
        let _ = self.result.push(outcome);
    }
}

impl App for FaxOut {
    fn flow(&self) -> Label {
        Label::from_str_truncating("fax_out")
    }

    /// While it rings, a cancelled job's call is dropped at the next look (every 200 ms of the call).
    fn on_offered(&mut self, cx: &mut CallCx) {
        cx.set_timer_ms(CANCEL_CHECK_MS);
    }

    fn on_timer(&mut self, cx: &mut CallCx) {
        if cx.is_answered() {
            return;
        }
        if self.cancel.load(Ordering::Relaxed) {
            cx.enter_state("cancelled");
            cx.hangup(Cause::NormalClearing);
            return;
        }
        cx.set_timer_ms(CANCEL_CHECK_MS);
    }

    fn on_answered(&mut self, cx: &mut CallCx) {
        if let Some(fax) = self.fax.as_mut() {
            fax.start_clock(cx.now_samples());
            fax.set_call(cx.setup().call, cx.setup().info.to);
        }
        cx.enter_state("fax_send");
    }

    fn wants_audio(&self) -> bool {
        self.fax.is_some()
    }

    fn on_audio(&mut self, cx: &mut CallCx, rx: &[i16], tx: &mut [i16]) {
        let Some(fax) = self.fax.as_mut() else {
            return;
        };
        if self.cancel.load(Ordering::Relaxed) {
            let outcome = fax.finish();
            self.fax = None;
            self.report(outcome);
            cx.enter_state("cancelled");
            cx.hangup(Cause::NormalClearing);
            return;
        }
        if let Some(outcome) = fax.step(cx.now_samples(), rx, tx) {
            self.fax = None;
            self.report(outcome);
            cx.enter_state(if outcome.result.is_ok() {
                "fax_sent"
            } else {
                "fax_failed"
            });
            cx.hangup(Cause::NormalClearing);
        }
    }
}

impl Drop for FaxOut {
    fn drop(&mut self) {
        // The call ended before the session did (hung up, never answered).
        if let Some(mut fax) = self.fax.take() {
            let outcome = fax.finish();
            self.report(outcome);
        }
    }
}

/// What the dispatcher needs from the configuration.
#[derive(Clone, Debug)]
pub struct DispatchSettings {
    pub db: PathBuf,
    pub out_dir: PathBuf,
    /// Outbound fax calls at once.
    pub max_channels: usize,
    pub retries: u32,
    pub retry_spacing_s: u32,
    pub ring_timeout_s: u32,
    /// Days a finished job's files are kept (0: for good); see [`queue::prune`].
    pub keep_finished_days: u32,
    /// Our number (the calls' `src`).
    pub from: String,
    /// Station id, ECM, the default header line.
    pub options: FaxOptions,
}

/// Gives the current settings (after a reload); the database and out directory stay as started.
pub type SettingsSource = Box<dyn Fn() -> DispatchSettings + Send>;

/// One attempt in progress.
struct Active {
    job: Job,
    chan: usize,
    report: Arc<OriginateReport>,
    result: Arc<ArrayQueue<FaxOutcome>>,
    cancel: Arc<AtomicBool>,
    offered: Instant,
}

/// The running dispatcher thread.
pub struct Dispatcher {
    stop: Arc<AtomicBool>,
    poke: Sender<()>,
    thread: Option<JoinHandle<()>>,
}

impl Dispatcher {
    /// Requeues jobs a dead daemon left `sending`, then starts the thread. `trunks` are the
    /// channels it may dial out on.
    pub fn start(
        settings: DispatchSettings,
        reload: Option<SettingsSource>,
        trunks: Vec<Arc<ChanStatus>>,
    ) -> Result<Dispatcher, String> {
        let conn = queue::open(&settings.db)?;
        match queue::requeue_interrupted(&conn) {
            Ok(0) => {}
            Ok(n) => {
                tracing::warn!("fax queue: {n} job(s) cut off by the previous daemon's end: queued again")
            }
            Err(e) => return Err(format!("fax queue: {e}")),
        }
        std::fs::create_dir_all(&settings.out_dir)
            .map_err(|e| format!("cannot create {}: {e}", settings.out_dir.display()))?;
        let (poke_tx, poke_rx) = poke_channel().clone();
        let faxback_rx = faxback_channel().1.clone();
        let stop = Arc::new(AtomicBool::new(false));
        // Session rows for the faxes the queue sends (`fax_sessions`, as for the IVR's sessions).
        let filer = FaxFiler::start_with(
            &settings.out_dir,
            crate::apps::fax::filer::FilerOptions {
                db: Some(settings.db.clone()),
                mail: None,
            },
        )
        .map_err(|e| format!("cannot start the fax queue's filing thread: {e}"))?;
        let mut run = Run {
            filer: Some(filer),
            settings,
            reload,
            trunks,
            conn,
            active: Vec::new(),
            stop: stop.clone(),
            next_prune: Instant::now(),
        };
        let thread = std::thread::Builder::new()
            .name("fax-dispatch".into())
            .spawn(move || run.run(&poke_rx, &faxback_rx))
            .map_err(|e| format!("cannot start the fax dispatcher: {e}"))?;
        RUNNING.store(true, Ordering::Release);
        Ok(Dispatcher {
            stop,
            poke: poke_tx,
            thread: Some(thread),
        })
    }

    /// Stops taking jobs; calls in progress are left to end with the card (their jobs are queued
    /// again at the next start).
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        RUNNING.store(false, Ordering::Release);
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.poke.try_send(());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        self.halt();
    }
}

struct Run {
    /// Writes each attempt's `fax_sessions` row off the channel thread.
    filer: Option<FaxFiler>,
    settings: DispatchSettings,
    reload: Option<SettingsSource>,
    trunks: Vec<Arc<ChanStatus>>,
    conn: rusqlite::Connection,
    active: Vec<Active>,
    stop: Arc<AtomicBool>,
    /// When `fax/out` is next pruned (at the first step, then hourly).
    next_prune: Instant,
}

impl Run {
    fn run(&mut self, poke: &Receiver<()>, faxback: &Receiver<FaxBackRequest>) {
        tracing::info!(
            "fax queue: dispatching on up to {} of {} trunk channel(s)",
            self.settings.max_channels,
            self.trunks.len()
        );
        // While calls are up the queue is read more often, so their ends are recorded promptly.
        let busy_poll = Duration::from_millis(50);
        while !self.stop.load(Ordering::SeqCst) {
            let wait = if self.active.is_empty() { POLL } else { busy_poll };
            crossbeam::select! {
                recv(poke) -> _ => {}
                recv(faxback) -> request => {
                    if let Ok(request) = request {
                        self.take_faxback(request);
                    }
                }
                default(wait) => {}
            }
            if self.stop.load(Ordering::SeqCst) {
                break;
            }
            if let Err(e) = self.step() {
                tracing::error!("fax queue: {e}");
            }
        }
        // Requests no channel has taken yet are taken back, their jobs queued again.
        for active in std::mem::take(&mut self.active) {
            if active.report.phase() == OriginatePhase::Waiting
                && self.trunks[active.chan].originate.reclaim().is_some()
            {
                let _ = queue::unmark_sending(&self.conn, active.job.id);
            }
        }
    }

    fn step(&mut self) -> rusqlite::Result<()> {
        if let Some(current) = self.reload.as_ref().map(|source| source()) {
            self.settings = DispatchSettings {
                db: std::mem::take(&mut self.settings.db),
                out_dir: std::mem::take(&mut self.settings.out_dir),
                ..current
            };
        }
        self.progress()?;
        self.prune_when_due();
        self.start_due()
    }

    /// Removes finished jobs' files once they are `keep_finished_days` old, hourly: an appliance
    /// that faxes for years must not fill its disk with documents already sent.
    fn prune_when_due(&mut self) {
        if Instant::now() < self.next_prune {
            return;
        }
        self.next_prune = Instant::now() + PRUNE_INTERVAL;
        let keep_days = self.settings.keep_finished_days;
        match queue::prune(&self.conn, &self.settings.out_dir, keep_days, queue::now_ms()) {
            Ok(queue::Pruned { jobs: 0, leftovers: 0 }) => {}
            Ok(pruned) => tracing::info!(
                "fax queue: removed the files of {} job(s) finished over {keep_days} day(s) ago and {} leftover(s)",
                pruned.jobs,
                pruned.leftovers
            ),
            Err(e) => tracing::error!("fax queue: pruning {}: {e}", self.settings.out_dir.display()),
        }
    }

    /// Records attempts that ended; takes back requests no channel took; passes cancellations on.
    fn progress(&mut self) -> rusqlite::Result<()> {
        let mut index = 0;
        while index < self.active.len() {
            let active = &self.active[index];
            if queue::is_cancelled(&self.conn, active.job.id)? {
                active.cancel.store(true, Ordering::Relaxed);
            }
            match active.report.phase() {
                OriginatePhase::Waiting => {
                    let cancelled = active.cancel.load(Ordering::Relaxed);
                    if (cancelled || active.offered.elapsed() > OFFER_TIMEOUT)
                        && self.trunks[active.chan].originate.reclaim().is_some()
                    {
                        let active = self.active.swap_remove(index);
                        queue::unmark_sending(&self.conn, active.job.id)?;
                        continue;
                    }
                }
                OriginatePhase::Ended => {
                    let active = self.active.swap_remove(index);
                    self.record_end(&active)?;
                    continue;
                }
                OriginatePhase::Dialling | OriginatePhase::Answered => {}
            }
            index += 1;
        }
        Ok(())
    }

    fn record_end(&self, active: &Active) -> rusqlite::Result<()> {
        let Some(call) = active.report.outcome() else {
            return Ok(());
        };
        let fax = active.result.pop();
        let sent = call.answered && fax.is_some_and(|f| f.result.is_ok());
        let result = if active.cancel.load(Ordering::Relaxed) {
            "cancelled".to_owned()
        } else if sent {
            "sent".to_owned()
        } else if !call.answered {
            match call.disposition {
                Disposition::Busy => "busy".to_owned(),
                Disposition::NoAnswer => "no answer".to_owned(),
                _ => "call failed".to_owned(),
            }
        } else {
            match fax {
                Some(f) => format!("fax failed: {}", f.result),
                None => "fax failed: no session".to_owned(),
            }
        };
        let attempts = active.job.attempts + 1;
        let now = queue::now_ms();
        let (state, next_attempt_ms) = if sent {
            ("done", now)
        } else if attempts > i64::from(self.settings.retries) {
            ("failed", now)
        } else {
            let doubling = u32::try_from(attempts - 1).unwrap_or(u32::MAX).min(20);
            let wait_s = (u64::from(self.settings.retry_spacing_s) << doubling).min(MAX_BACKOFF_S);
            ("queued", now + (wait_s * 1000) as i64)
        };
        let pages_sent = fax.map_or(0, |f| i64::from(f.pages));
        tracing::info!(
            "fax job {} to {}: attempt {attempts}: {result} ({}); now {state}",
            active.job.id,
            active.job.number,
            call.cause
        );
        let cancelled = active.cancel.load(Ordering::Relaxed);
        publish_job(
            &active.job,
            if cancelled { "cancelled" } else { state },
            attempts,
            Some(&result),
            Some(call.cause.name()),
            Some(&call.call.to_string()),
        );
        queue::finish_attempt(
            &self.conn,
            active.job.id,
            &AttemptResult {
                state,
                next_attempt_ms,
                result,
                cause: Some(call.cause.name().to_owned()),
                call: Some(call.call.to_string()),
                pages_sent,
            },
        )
    }

    /// Starts due jobs on idle trunks, within the channel limit.
    fn start_due(&mut self) -> rusqlite::Result<()> {
        let free = self.settings.max_channels.saturating_sub(self.active.len());
        if free == 0 {
            return Ok(());
        }
        let jobs = queue::due(&self.conn, queue::now_ms(), free)?;
        for job in jobs {
            let Some(chan) = self.idle_trunk() else {
                break;
            };
            self.start(job, chan)?;
        }
        Ok(())
    }

    /// An idle trunk not in use by an attempt, from the last one down (inbound calls hunt from
    /// the first, so the two rarely meet on one line).
    fn idle_trunk(&self) -> Option<usize> {
        let used: HashSet<usize> = self.active.iter().map(|a| a.chan).collect();
        (0..self.trunks.len()).rev().find(|&i| {
            let status = &self.trunks[i];
            !used.contains(&i) && status.state() == ChanState::Idle && !status.originate.is_pending()
        })
    }

    fn start(&mut self, job: Job, chan: usize) -> rusqlite::Result<()> {
        let options = FaxOptions {
            calling_party: true,
            header: job
                .header
                .clone()
                .or_else(|| self.settings.options.header.clone()),
            ..self.settings.options.clone()
        };
        let session = match FaxSession::new(FaxJob::Send(PathBuf::from(&job.document)), &options) {
            Ok(session) => session,
            Err(e) => {
                tracing::error!("fax job {}: {e}: not sent", job.id);
                if queue::mark_sending(&self.conn, job.id)? {
                    let failed = AttemptResult {
                        state: "failed",
                        next_attempt_ms: queue::now_ms(),
                        result: format!("unusable document: {e}"),
                        cause: None,
                        call: None,
                        pages_sent: 0,
                    };
                    queue::finish_attempt(&self.conn, job.id, &failed)?;
                }
                return Ok(());
            }
        };
        if !queue::mark_sending(&self.conn, job.id)? {
            // Cancelled since it was read.
            return Ok(());
        }
        let max_ms = (1_800_000 + 60_000 * job.pages.max(0) as u64).min(MAX_SESSION_MS);
        let result = Arc::new(ArrayQueue::new(1));
        let cancel = Arc::new(AtomicBool::new(false));
        let report = OriginateReport::new();
        let app = FaxOut {
            fax: Some(Box::new(FaxCall::outbound_send(
                session,
                max_ms,
                self.filer.clone(),
                crate::apps::fax::record::RecordMeta {
                    local_id: crate::apps::fax::record::StationId::from_str_truncating(&options.local_ident),
                    file: crate::apps::fax::record::FilePath::from_str_truncating(&job.document),
                    ..Default::default()
                },
            ))),
            result: result.clone(),
            cancel: cancel.clone(),
        };
        let request = OriginateRequest {
            number: Number::from_str_truncating(&job.number),
            from: Number::from_str_truncating(&self.settings.from),
            app: Box::new(app),
            ring_timeout_ms: self.settings.ring_timeout_s.saturating_mul(1000),
            report: report.clone(),
        };
        if self.trunks[chan].originate.offer(request).is_err() {
            queue::unmark_sending(&self.conn, job.id)?;
            return Ok(());
        }
        publish_job(&job, "sending", job.attempts + 1, None, None, None);
        self.active.push(Active {
            job,
            chan,
            report,
            result,
            cancel,
            offered: Instant::now(),
        });
        Ok(())
    }

    /// Queues a fax-back: the catalog document, copied into the job's directory.
    fn take_faxback(&mut self, request: FaxBackRequest) {
        let Some(document) = request
            .catalog
            .as_ref()
            .and_then(|c| c.get(request.document.as_str(), Some(request.language.as_str())))
        else {
            tracing::error!(
                "fax-back from call {}: document {} is no longer in the catalog: not queued",
                request.call,
                request.document
            );
            return;
        };
        let number = match queue::normalize_number(request.number.as_str()) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!("fax-back from call {}: {e}: not queued", request.call);
                return;
            }
        };
        let queued = queue::prepare(&self.settings.out_dir, std::slice::from_ref(&document.tiff)).and_then(
            |prepared| {
                let job = NewJob {
                    header: None,
                    not_before_ms: queue::now_ms(),
                    source: "faxback".into(),
                    caller: request.caller.as_str().to_owned(),
                    uniqueid: request.call.to_string(),
                };
                queue::enqueue(
                    &mut self.conn,
                    &self.settings.out_dir,
                    &prepared,
                    std::slice::from_ref(&number),
                    &job,
                )
            },
        );
        match queued {
            Ok(ids) => tracing::info!(
                "fax-back from call {}: document {} to {number} queued as job {}",
                request.call,
                document.id,
                ids.first().copied().unwrap_or_default()
            ),
            Err(e) => tracing::error!("fax-back from call {}: {e}: not queued", request.call),
        }
    }
}
