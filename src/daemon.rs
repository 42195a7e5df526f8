//! Wires card, engine, store and control socket into the running daemon, and owns reload and
//! shutdown.

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use arc_swap::ArcSwap;

use crate::apps::ivr::record::Recorder;
use crate::apps::ivr::{Business, FlowSet, Ivr};
use crate::apps::linetest::{LineTest, LineTestPrompts, LineTestSettings};
use crate::apps::recorder::CallRecorder;
use crate::config::pattern::{best_match, trunk_group, NumberPattern};
use crate::config::{self, Config, SimClock};
use crate::engine::app::{App, AppFactory, CallSetup};
use crate::engine::channel::{CallIds, ChannelRunner, ChannelTones, EngineShared};
use crate::engine::events::CallEvent;
use crate::engine::line::LineSetup;
use crate::engine::sink::EventQueue;
use crate::engine::status::ChanStatus;
use crate::hw::any::Card;
use crate::hw::sim::{Clock, SimCard, SimSpec, SpanTones};
use crate::hw::{CardCounters, SpanInfo};
use crate::store::{self, Store, StoreCounters};
use crate::voice::{Voice, LINETEST_PROMPTS};

/// Channel threads do little per block and keep their buffers in the runner, so a small stack is
/// plenty; it matters at 1,440 channels.
const CHANNEL_THREAD_STACK_BYTES: usize = 256 * 1024;
/// How often the store thread proves the daemon alive (the end time given to calls cut off by a crash).
const HEARTBEAT_EVERY_MS: u64 = 2000;
/// The pump wakes at least this often even if no channel unparks it.
const PUMP_IDLE_WAKE: Duration = Duration::from_millis(100);
/// Live `telvox events` listeners at once.
pub const MAX_EVENT_SUBSCRIBERS: usize = 32;
/// Lines a slow `telvox events` listener may fall behind before it loses events.
const SUBSCRIBER_QUEUE_LINES: usize = 4096;

/// Everything a new call needs, swapped whole on reload: calls in progress keep the snapshot they
/// started with.
pub struct Runtime {
    pub config: Arc<Config>,
    pub voice: Arc<Voice>,
    numbers: Vec<(NumberPattern, String)>,
    linetest_prompts: LineTestPrompts,
    /// The IVR flows of `flows_dir`, prompts resolved.
    pub flows: FlowSet,
}

impl Runtime {
    /// Builds a runtime from a validated config: loads the prompts and checks the flows have theirs.
    pub fn build(config: Config) -> Result<Runtime> {
        let voice = Voice::load(&config.voice_dir)
            .with_context(|| format!("loading prompts from {}", config.voice_dir.display()))?;
        let language = &config.linetest.language;
        voice
            .check_complete(language, LINETEST_PROMPTS)
            .context("the line-test flow's prompts")?;
        let set = voice
            .set(language)
            .ok_or_else(|| anyhow!("no prompt set for language {language}"))?;
        let linetest_prompts = LineTestPrompts::from_set(set).map_err(|e| anyhow!(e))?;
        let numbers = config
            .numbers
            .iter()
            .map(|(number, flow)| {
                Ok((
                    NumberPattern::parse(number).map_err(|e| anyhow!("{e}"))?,
                    flow.clone(),
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let voice = Arc::new(voice);
        // A new pool per runtime: calls on the old flows keep theirs until they end.
        let recorder = Recorder::start(config.data_dir.join("recordings"), config.hw.clone())
            .context("starting the recorder thread")?;
        let business =
            Business::start_with_recorder(config.business.clone(), config.db_path(), Some(recorder))
                .context("starting the business lookup threads")?;
        if let Some(boxes) = &config.voicemail {
            let voicemail = crate::apps::voicemail::Voicemail::start(
                Arc::new(boxes.clone()),
                voicemail_paths(&config),
                config.hw.clone(),
            )
            .context("starting the voicemail threads")?;
            business.set_voicemail(voicemail);
        }
        if let Some(supervisors) = &config.supervisors {
            let service = crate::apps::supervisor::Service::start(
                Arc::new(supervisors.clone()),
                crate::apps::supervisor::service::Paths {
                    db: config.db_path(),
                    recordings_dir: config.recording.dir.clone(),
                },
            )
            .context("starting the supervisor worker")?;
            business.set_supervisor(service);
        }
        business
            .set_fax_context(crate::apps::ivr::fax::FaxContext {
                in_dir: config.data_dir.join("fax").join("in"),
                options: crate::dsp::fax::FaxOptions {
                    local_ident: config.fax.station_id.clone(),
                    header: config.fax.header.clone(),
                    ecm: config.fax.ecm,
                    ..Default::default()
                },
                filer: Some(
                    crate::apps::fax::filer::FaxFiler::start_with(
                        &config.data_dir.join("fax").join("in"),
                        fax_filer_options(&config),
                    )
                    .context("starting the fax filing thread")?,
                ),
                cover: Some(
                    crate::apps::fax::cover::CoverRenderer::start(
                        &config.data_dir.join("fax").join("tmp"),
                        config.fax.company.clone(),
                        config.fax.cover,
                    )
                    .context("starting the fax cover thread")?,
                ),
                catalog: match &config.fax_catalog {
                    Some(file) => Some(Arc::new(
                        crate::apps::fax::catalog::Catalog::load(
                            file,
                            &crate::apps::fax::catalog::cache_dir(&config.data_dir),
                        )
                        .map_err(|e| anyhow!("{e}"))?,
                    )),
                    None => None,
                },
            })
            .context("creating the fax inbound directory")?;
        let flows = FlowSet::load(&config.flows_dir, &config.voice_dir, &voice, Some(&business))
            .map_err(|e| anyhow!("{e}"))
            .with_context(|| format!("loading flows from {}", config.flows_dir.display()))?;
        Ok(Runtime {
            config: Arc::new(config),
            voice,
            numbers,
            linetest_prompts,
            flows,
        })
    }

    /// The flow a dialled number reaches, if any.
    pub fn flow_for(&self, number: &str) -> Option<&str> {
        best_match(self.numbers.iter().map(|(p, f)| (p, f.as_str())), number)
    }
}

/// What the fax filing thread does besides filing: session rows in the call log, email of
/// received faxes through voicemail's [smtp].
fn fax_filer_options(config: &Config) -> crate::apps::fax::filer::FilerOptions {
    let smtp = config.voicemail.as_ref().and_then(|b| b.smtp.clone());
    let wants_mail = config.fax.email_to.is_some() || !config.fax.email_numbers.is_empty();
    crate::apps::fax::filer::FilerOptions {
        db: Some(config.db_path()),
        mail: smtp
            .filter(|_| wants_mail)
            .map(|smtp| crate::apps::fax::mail::FaxMail {
                to: config.fax.email_to.clone().unwrap_or_default(),
                by_number: config.fax.email_numbers.clone(),
                smtp,
            }),
    }
}

/// Where voicemail keeps its files and index.
fn voicemail_paths(config: &Config) -> crate::apps::voicemail::Paths {
    crate::apps::voicemail::Paths {
        data_dir: config.data_dir.clone(),
        db: config.db_path(),
        timezone: config.business.timezone,
    }
}

/// The engine's [`AppFactory`]: picks the flow for each offered call from the current runtime.
pub struct Router {
    runtime: ArcSwap<Runtime>,
}

impl Router {
    pub fn new(runtime: Runtime) -> Self {
        Self {
            runtime: ArcSwap::from_pointee(runtime),
        }
    }

    pub fn current(&self) -> Arc<Runtime> {
        self.runtime.load_full()
    }

    pub fn replace(&self, runtime: Runtime) {
        self.runtime.store(Arc::new(runtime));
    }
}

impl AppFactory for Router {
    fn create(&self, setup: &CallSetup) -> Option<Box<dyn App>> {
        let rt = self.runtime.load();
        match rt.flow_for(setup.info.to.as_str())? {
            LineTest::FLOW => {
                let c = &rt.config.linetest;
                let settings = LineTestSettings {
                    answer_after_rings: c.answer_after_rings,
                    max_digits: c.max_digits,
                    timeout_ms: c.timeout_ms,
                };
                Some(Box::new(LineTest::new(settings, rt.linetest_prompts.clone())))
            }
            name => {
                let flow = rt.flows.get(name)?;
                Some(Box::new(Ivr::new(flow.clone(), setup)))
            }
        }
    }
}

/// What the control socket and `telvox status` read from the running daemon.
pub struct DaemonState {
    pub started: Instant,
    pub started_epoch_ms: i64,
    pub router: Arc<Router>,
    pub config_path: PathBuf,
    pub spans: Vec<SpanInfo>,
    pub clock: SimClock,
    pub channels: Vec<Arc<ChanStatus>>,
    pub card: Arc<CardCounters>,
    pub events: Arc<EventQueue>,
    pub store: Arc<StoreCounters>,
    pub subscribers: Mutex<Vec<crossbeam::channel::Sender<Arc<str>>>>,
    pub reloads: AtomicU64,
    pub max_call_seconds: Arc<AtomicU64>,
    pub stopping: AtomicBool,
    /// Call recording (rules, recorder threads, counters for status).
    pub recorder: Arc<CallRecorder>,
    /// Extensions' message counters and dial plan (apps::extensions).
    pub extensions: Arc<crate::apps::extensions::MwiBoard>,
    /// Span alarms and error counters (DAHDI's span monitor, the sim's alarm op).
    pub span_health: Option<Arc<crate::hw::dahdi::monitor::SpanHealth>>,
}

impl DaemonState {
    /// Validates and applies a new config for new calls. On any error the old config stays.
    pub fn reload(&self) -> Result<Vec<String>, Vec<String>> {
        let (config, diagnostics) = config::check_file(&self.config_path);
        let lines: Vec<String> = diagnostics.iter().map(|d| d.to_string()).collect();
        let Some(config) = config else {
            return Err(lines);
        };
        let old = self.router.current();
        let mut warnings = lines;
        warnings.extend(restart_only_changes(&old.config, &config));
        let runtime =
            Runtime::build(config).map_err(|e| vec![format!("{}: {e:#}", self.config_path.display())])?;
        self.max_call_seconds
            .store(u64::from(runtime.config.max_call_seconds), Ordering::Relaxed);
        self.recorder.set_config(runtime.config.recording.clone());
        self.extensions.set_dial_plan(&runtime.config);
        self.router.replace(runtime);
        self.reloads.fetch_add(1, Ordering::Relaxed);
        tracing::info!("configuration reloaded from {}", self.config_path.display());
        Ok(warnings)
    }
}

/// Repairs recordings a crash cut off (see `apps::recorder::recover`) before new ones start.
fn recover_recordings(config: &Config) {
    let dir = &config.recording.dir;
    let result = crate::apps::recorder::meta::open(&config.db_path())
        .and_then(|conn| crate::apps::recorder::recover::recover(dir, &conn, now_epoch_ms()));
    match result {
        Ok(r) if r.files + r.rows_closed + r.missing + r.unreadable > 0 => tracing::warn!(
            "recordings cut off by the previous daemon's end: {} file(s) repaired, {} row(s) closed,              {} missing, {} unreadable",
            r.files,
            r.rows_closed,
            r.missing,
            r.unreadable
        ),
        Ok(_) => {}
        Err(e) => tracing::error!("recordings: recovery failed: {e}"),
    }
}

/// Settings a reload cannot change under a running card: reported, not applied.
fn restart_only_changes(old: &Config, new: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |changed: bool, what: &str| {
        if changed {
            out.push(format!(
                "{what} changed: takes effect at the next restart (kept the running value)"
            ));
        }
    };
    check(old.run_dir != new.run_dir, "run_dir");
    check(old.data_dir != new.data_dir, "data_dir");
    check(old.hw != new.hw, "the hardware map");
    check(old.sim != new.sim, "[sim]");
    check(old.realtime != new.realtime, "realtime");
    out
}

/// Holds the pid file locked for the daemon's lifetime, so a second daemon on the same run_dir
/// refuses to start instead of stealing the sockets.
struct PidLock {
    _file: File,
    path: PathBuf,
}

impl PidLock {
    fn acquire(path: &Path) -> Result<PidLock> {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .with_context(|| format!("cannot open the pid file {}", path.display()))?;
        let locked = nix::fcntl::Flock::lock(file.try_clone()?, nix::fcntl::FlockArg::LockExclusiveNonblock);
        let lock = match locked {
            Ok(lock) => lock,
            Err(_) => {
                let pid = std::fs::read_to_string(path).unwrap_or_default();
                bail!(
                    "another telvox daemon is running (pid {}) with run_dir {}",
                    pid.trim(),
                    path.parent().unwrap_or(path).display()
                );
            }
        };
        // Keep the lock alive for the process lifetime: the OS releases it when we exit or die.
        std::mem::forget(lock);
        file.set_len(0)?;
        writeln!(file, "{}", std::process::id())?;
        let _ = file.as_fd();
        Ok(PidLock {
            _file: file,
            path: path.to_path_buf(),
        })
    }
}

impl Drop for PidLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The running daemon.
pub struct Daemon {
    pub state: Arc<DaemonState>,
    card: Card,
    channel_threads: Vec<JoinHandle<()>>,
    pump: Option<JoinHandle<()>>,
    store_thread: Option<JoinHandle<store::StoreStats>>,
    ctl: Option<crate::ctl::server::Server>,
    /// The outbound fax queue's dispatcher.
    fax_dispatch: Option<crate::apps::fax::dispatch::Dispatcher>,
    _pid: PidLock,
}

fn now_epoch_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as i64
}

fn make_dirs(config: &Config) -> Result<()> {
    for dir in [&config.run_dir, &config.data_dir] {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    if let Some(parent) = config.sim.socket.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    Ok(())
}

impl Daemon {
    /// Starts everything for `config` (already validated), loaded from `config_path`.
    pub fn start(config: Config, config_path: &Path) -> Result<Daemon> {
        make_dirs(&config)?;
        let pid = PidLock::acquire(&config.pid_file())?;
        if config.realtime {
            lock_memory();
        }
        let mut db = Store::open(&config.db_path())?;
        let closed = db.recover_interrupted(now_epoch_ms())?;
        if closed > 0 {
            tracing::warn!(
                "{closed} call(s) were cut off by the previous daemon's end: logged as INTERRUPTED"
            );
        }
        crate::apps::voicemail::mail::enable_sending();
        if let Some(boxes) = &config.voicemail {
            // Messages a crash cut off are finished before new calls come in.
            match crate::apps::voicemail::recover(boxes, &voicemail_paths(&config)) {
                Ok(0) => {}
                Ok(n) => {
                    tracing::warn!("voicemail: {n} message(s) recovered after the previous daemon's end")
                }
                Err(e) => tracing::error!("voicemail: recovery failed: {e}"),
            }
        }
        let recovered = crate::apps::fax::filer::recover_interrupted(&config.data_dir.join("fax").join("in"));
        crate::apps::fax::record::record_recovered(
            &config.db_path(),
            &recovered,
            &fax_filer_options(&config),
        );
        let call_ids = Arc::new(CallIds::starting_after(db.max_seq()?));
        recover_recordings(&config);
        let recorder = CallRecorder::start(config.recording.clone(), &config.hw, &config.db_path())
            .context("starting the call recorder")?;
        let runtime = Runtime::build(config.clone())?;
        let router = Arc::new(Router::new(runtime));

        let mut card = start_card(&config)?;
        let events = EventQueue::new();
        let max_call_seconds = Arc::new(AtomicU64::new(u64::from(config.max_call_seconds)));
        let shared = EngineShared {
            events: events.clone(),
            factory: router.clone(),
            call_ids,
            max_call_seconds: max_call_seconds.clone(),
            recording: Some(recorder.clone()),
        };
        let mwi = Arc::new(crate::apps::extensions::MwiBoard::new(&config));
        let (channel_threads, statuses) = spawn_channels(&mut card, &shared, &config, &mwi)?;

        let store_counters = Arc::new(StoreCounters::default());
        let (store_tx, store_rx) =
            crossbeam::channel::bounded::<CallEvent>(crate::engine::sink::EVENT_QUEUE_CAP);
        let store_thread = store::spawn_store_thread_with_counters(
            db,
            store_rx,
            HEARTBEAT_EVERY_MS,
            store_counters.clone(),
        )?;

        let state = Arc::new(DaemonState {
            started: Instant::now(),
            started_epoch_ms: now_epoch_ms(),
            router,
            config_path: config_path.to_path_buf(),
            spans: card.spans().to_vec(),
            clock: config.sim.clock,
            channels: statuses,
            card: card.counters(),
            events: events.clone(),
            store: store_counters,
            subscribers: Mutex::new(Vec::new()),
            reloads: AtomicU64::new(0),
            max_call_seconds,
            stopping: AtomicBool::new(false),
            recorder,
            extensions: mwi.clone(),
            span_health: card.span_health(),
        });
        if let Some(health) = &state.span_health {
            let span_state = Arc::downgrade(&state);
            let _ = health.sink.set(Box::new(move |line: serde_json::Value| {
                if let Some(state) = span_state.upgrade() {
                    publish_line(&state, line.to_string().into());
                }
            }));
        }
        let alarms = Arc::downgrade(&state);
        let _ = state
            .recorder
            .alarm_sink
            .set(Box::new(move |alarm: serde_json::Value| {
                if let Some(state) = alarms.upgrade() {
                    broadcast(&state, alarm.to_string().into());
                }
            }));
        let waiting_state = Arc::downgrade(&state);
        crate::apps::voicemail::service::set_waiting_sink(Box::new(move |box_, new, saved| {
            mwi.update(box_, new);
            if let Some(state) = waiting_state.upgrade() {
                let line = serde_json::json!({
                    "type": "message_waiting", "box": box_, "new": new, "saved": saved, "waiting": new > 0,
                });
                publish_line(&state, line.to_string().into());
            }
        }));
        let fax_dispatch = start_fax_dispatch(&config, &state.channels, state.router.clone())?;
        let job_state = Arc::downgrade(&state);
        crate::apps::fax::dispatch::set_job_event_sink(Box::new(move |line: serde_json::Value| {
            if let Some(state) = job_state.upgrade() {
                publish_line(&state, line.to_string().into());
            }
        }));
        let pump = spawn_pump(state.clone(), store_tx)?;
        events.set_pump(pump.thread().clone());
        let ctl = crate::ctl::server::Server::start(&config.ctl_socket(), state.clone())?;
        let card_text = match config.hw.card {
            crate::config::CardKind::Dahdi => "DAHDI".to_string(),
            crate::config::CardKind::Sim => format!(
                "sim clock {:?}, far end at {}",
                config.sim.clock,
                config.sim.socket.display()
            ),
        };
        tracing::info!(
            "telvox running: {} channel(s) on {} span(s), {card_text}, control at {}",
            state.channels.len(),
            state.spans.len(),
            config.ctl_socket().display()
        );
        Ok(Daemon {
            state,
            card,
            channel_threads,
            pump: Some(pump),
            store_thread: Some(store_thread),
            ctl: Some(ctl),
            fax_dispatch: Some(fax_dispatch),
            _pid: pid,
        })
    }

    /// Stops the card (calls in progress end and are logged), drains the event path, stops the
    /// store last so every call record is written.
    pub fn shutdown(mut self) -> Result<()> {
        self.state.stopping.store(true, Ordering::SeqCst);
        if let Some(ctl) = self.ctl.take() {
            ctl.stop();
        }
        if let Some(dispatch) = self.fax_dispatch.take() {
            dispatch.stop();
        }
        self.card.shutdown();
        for t in self.channel_threads.drain(..) {
            let _ = t.join();
        }
        // The calls have ended and closed their recording rings: let the files be finished.
        if !self.state.recorder.wait_idle(Duration::from_secs(10)) {
            tracing::warn!("recordings still being written at shutdown: they are repaired at the next start");
        }
        if let Some(pump) = self.pump.take() {
            pump.thread().unpark();
            let _ = pump.join();
        }
        if let Some(store) = self.store_thread.take() {
            let stats = store.join().map_err(|_| anyhow!("the store thread panicked"))?;
            tracing::info!(
                "call log closed: {} event(s) written, {} dropped",
                stats.events_applied,
                stats.events_dropped
            );
        }
        Ok(())
    }
}

/// Starts the outbound fax dispatcher on the trunk channels.
fn start_fax_dispatch(
    config: &Config,
    channels: &[Arc<ChanStatus>],
    router: Arc<Router>,
) -> Result<crate::apps::fax::dispatch::Dispatcher> {
    let trunks: Vec<Arc<ChanStatus>> = channels
        .iter()
        .filter(|c| {
            config
                .hw
                .spans
                .iter()
                .any(|s| s.span == c.id.span && s.role == crate::hw::Role::Trunk)
        })
        .cloned()
        .collect();
    let trunk_count = trunks.len();
    let settings = fax_dispatch_settings(config, trunk_count);
    // [fax] queue settings apply from the next attempt after a reload.
    let reload = Box::new(move || fax_dispatch_settings(&router.current().config, trunk_count));
    crate::apps::fax::dispatch::Dispatcher::start(settings, Some(reload), trunks).map_err(|e| anyhow!(e))
}

fn fax_dispatch_settings(config: &Config, trunks: usize) -> crate::apps::fax::dispatch::DispatchSettings {
    let fax = &config.fax;
    crate::apps::fax::dispatch::DispatchSettings {
        db: config.db_path(),
        out_dir: crate::apps::fax::queue::out_dir(&config.data_dir),
        max_channels: fax.queue.outbound_channels(trunks),
        retries: fax.queue.retries,
        retry_spacing_s: fax.queue.retry_spacing_s,
        ring_timeout_s: fax.queue.ring_timeout_s,
        keep_finished_days: fax.queue.keep_finished_days,
        from: fax.queue.caller_number(&fax.station_id),
        options: crate::dsp::fax::FaxOptions {
            local_ident: fax.station_id.clone(),
            header: fax.header.clone(),
            ecm: fax.ecm,
            ..Default::default()
        },
    }
}

/// The daemon's sockets are mode 0660; when a `telvox` group exists (install.sh makes one) its
/// members may drive the daemon and connect far-end parties without root.
pub fn give_to_telvox_group(path: &Path) {
    if let Ok(Some(group)) = nix::unistd::Group::from_name("telvox") {
        let _ = nix::unistd::chown(path, None, Some(group.gid));
    }
}

fn start_card(config: &Config) -> Result<Card> {
    if config.hw.card == crate::config::CardKind::Dahdi {
        let dev_dir = crate::hw::dahdi::card::dev_dir();
        return Ok(Card::Dahdi(crate::hw::dahdi::DahdiCard::start(
            &config.hw, &dev_dir,
        )?));
    }
    let spans: Vec<SpanInfo> = config
        .hw
        .spans
        .iter()
        .map(|s| SpanInfo {
            span: s.span,
            name: s.name.clone(),
            law: s.law,
            channels: s.channels,
            role: s.role,
        })
        .collect();
    let routes = config.hw.span_routes();
    let route = Box::new(move |number: &str| trunk_group(&routes, number));
    let clock = match config.sim.clock {
        SimClock::Realtime => Clock::Realtime,
        SimClock::Lockstep => Clock::Lockstep,
    };
    let tones = config
        .hw
        .spans
        .iter()
        .map(|s| SpanTones {
            span: s.span,
            country: s.country,
            far_end_hangup: s.far_end_hangup,
        })
        .collect();
    let spec = SimSpec {
        spans,
        tones,
        ring_on_ms: config.hw.ring_on_ms,
        ring_off_ms: config.hw.ring_off_ms,
        clock,
        socket: config.sim.socket.clone(),
        route,
        card_thread_setup: config.realtime.then_some(make_card_thread_realtime as fn()),
        extensions: config
            .hw
            .spans
            .iter()
            .flat_map(|s| {
                s.extensions.iter().enumerate().map(|(i, n)| {
                    let chan = crate::hw::ChanId {
                        span: s.span,
                        chan: i as u16 + 1,
                    };
                    (chan, n.clone())
                })
            })
            .collect(),
    };
    let analog = config
        .hw
        .spans
        .iter()
        .filter_map(|s| crate::engine::line::sim_analog_span(s.span, s.signalling, &s.analog))
        .collect();
    let card = SimCard::start_with_analog(spec, analog)?;
    give_to_telvox_group(&config.sim.socket);
    Ok(Card::Sim(card))
}

/// The channel threads, and the status each one publishes.
type ChannelThreads = (Vec<JoinHandle<()>>, Vec<Arc<ChanStatus>>);

fn spawn_channels(
    card: &mut Card,
    shared: &EngineShared,
    config: &Config,
    mwi: &crate::apps::extensions::MwiBoard,
) -> Result<ChannelThreads> {
    let realtime = config.realtime;
    let mut threads = Vec::new();
    let mut statuses = Vec::new();
    for chan in card.take_channels() {
        let status = Arc::new(ChanStatus::new(chan.id()));
        let name = format!("chan-{}-{}", chan.id().span, chan.id().chan);
        let span = config.hw.spans.iter().find(|s| s.span == chan.id().span);
        let dtmf = span.map(|s| s.dtmf).unwrap_or_default();
        let tones = span.map_or_else(ChannelTones::default, |s| ChannelTones {
            country: s.country,
            disconnect_tone: s.disconnect_tone
                || crate::engine::line::needs_disconnect_tone(
                    s.signalling,
                    s.far_end_hangup == crate::hw::sim::FarEndHangup::Tone,
                ),
        });
        let line = LineSetup {
            // A DAHDI channel knows its own (a span's channel groups may differ); the sim's do not.
            signalling: match chan.signalling() {
                crate::hw::Signalling::Network => span.map(|s| s.signalling).unwrap_or_default(),
                own => own,
            },
            country: tones.country,
            extension: mwi.line_for(config, chan.id()),
            analog: span.map(|s| s.analog).unwrap_or_default(),
        };
        let chan = crate::engine::line::wrap(chan, &line);
        if let Some(ext) = &line.extension {
            mwi.set_waker(ext.number.as_str(), chan.waker());
        }
        let runner = ChannelRunner::new(chan, status.clone(), shared.clone(), dtmf, tones)?;
        let thread = std::thread::Builder::new()
            .name(name)
            .stack_size(CHANNEL_THREAD_STACK_BYTES)
            .spawn(move || {
                if realtime {
                    make_current_thread_realtime(CHANNEL_FIFO_PRIORITY);
                }
                runner.run()
            })
            .context("cannot start a channel thread")?;
        threads.push(thread);
        statuses.push(status);
    }
    Ok((threads, statuses))
}

static RT_WARNED: AtomicBool = AtomicBool::new(false);

/// SCHED_FIFO priorities: the card thread stands in for the card's interrupt, so it sits above the
/// channel threads it wakes and is never preempted by them mid-tick.
const CARD_FIFO_PRIORITY: u8 = 60;
const CHANNEL_FIFO_PRIORITY: u8 = 50;

fn make_card_thread_realtime() {
    make_current_thread_realtime(CARD_FIFO_PRIORITY);
}

/// SCHED_FIFO for the calling thread when permitted; one warning otherwise (DESIGN.md §5).
pub fn make_current_thread_realtime(fifo_priority: u8) {
    use thread_priority::{RealtimeThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy};
    let policy = ThreadSchedulePolicy::Realtime(RealtimeThreadSchedulePolicy::Fifo);
    let priority = ThreadPriority::Crossplatform(fifo_priority.try_into().unwrap_or_default());
    let result = thread_priority::set_thread_priority_and_policy(
        thread_priority::thread_native_id(),
        priority,
        policy,
    );
    if let Err(e) = result {
        if !RT_WARNED.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "realtime = true but SCHED_FIFO is not permitted ({e:?}): running with normal scheduling"
            );
        }
    }
}

fn lock_memory() {
    use nix::sys::mman::{mlockall, MlockAllFlags};
    if let Err(e) = mlockall(MlockAllFlags::MCL_CURRENT | MlockAllFlags::MCL_FUTURE) {
        tracing::warn!("realtime = true but mlockall failed ({e}): pages may be swapped out");
    }
}

/// The pump: moves events from the lock-free queue to the store (blocking there is fine: the
/// channels never wait on the pump) and to `telvox events` listeners as JSON lines.
fn spawn_pump(
    state: Arc<DaemonState>,
    store_tx: crossbeam::channel::Sender<CallEvent>,
) -> Result<JoinHandle<()>> {
    let thread = std::thread::Builder::new()
        .name("event-pump".into())
        .spawn(move || {
            let mut starts: HashMap<crate::hw::CallRef, i64> = HashMap::new();
            loop {
                let mut moved = 0usize;
                while let Some(event) = state.events.queue.pop() {
                    fan_out(&state, &event, &mut starts);
                    if store_tx.send(event).is_err() {
                        tracing::error!("the store thread has gone: call events are being lost");
                    }
                    moved += 1;
                }
                let channels_done = state.stopping.load(Ordering::SeqCst)
                    && state
                        .channels
                        .iter()
                        .all(|c| c.state() == crate::engine::status::ChanState::Down);
                if moved == 0 && channels_done {
                    break;
                }
                std::thread::park_timeout(PUMP_IDLE_WAKE);
            }
        })
        .context("cannot start the event pump")?;
    Ok(thread)
}

fn fan_out(state: &DaemonState, event: &CallEvent, starts: &mut HashMap<crate::hw::CallRef, i64>) {
    broadcast(state, crate::ctl::event_json(event, starts).into());
}

/// Sends one line to every `telvox events` listener (a slow one loses it).
fn broadcast(state: &DaemonState, line: Arc<str>) {
    let Ok(mut subs) = state.subscribers.lock() else {
        return;
    };
    subs.retain(|tx| match tx.try_send(line.clone()) {
        Ok(()) | Err(crossbeam::channel::TrySendError::Full(_)) => true,
        Err(crossbeam::channel::TrySendError::Disconnected(_)) => false,
    });
}

/// Sends a line that is not a call event (voicemail's message waiting) to every listener.
fn publish_line(state: &DaemonState, line: Arc<str>) {
    let Ok(mut subs) = state.subscribers.lock() else {
        return;
    };
    subs.retain(|tx| {
        !matches!(
            tx.try_send(line.clone()),
            Err(crossbeam::channel::TrySendError::Disconnected(_))
        )
    });
}

/// Adds a `telvox events` listener; None when the limit is reached.
pub fn subscribe(state: &DaemonState) -> Option<crossbeam::channel::Receiver<Arc<str>>> {
    let mut subs = state.subscribers.lock().ok()?;
    if subs.len() >= MAX_EVENT_SUBSCRIBERS {
        return None;
    }
    let (tx, rx) = crossbeam::channel::bounded(SUBSCRIBER_QUEUE_LINES);
    subs.push(tx);
    Some(rx)
}

/// `telvox events` listeners subscribed now (one that has gone counts until the next event).
pub fn event_listeners(state: &DaemonState) -> usize {
    state.subscribers.lock().map_or(0, |subs| subs.len())
}

/// Runs the daemon in the foreground until SIGTERM/SIGINT; SIGHUP reloads.
pub fn run_foreground(config_path: &Path) -> Result<()> {
    let config = config::load_file(config_path).map_err(|e| anyhow!(format_diagnostics(&e.0)))?;
    let daemon = Daemon::start(config, config_path)?;
    wait_for_signals(&daemon.state)?;
    tracing::info!("stopping");
    daemon.shutdown()
}

pub fn format_diagnostics(diagnostics: &[config::Diagnostic]) -> String {
    let lines: Vec<String> = diagnostics.iter().map(|d| d.to_string()).collect();
    lines.join("\n")
}

fn wait_for_signals(state: &DaemonState) -> Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGHUP, SIGINT, SIGTERM])?;
    for signal in signals.forever() {
        if signal != SIGHUP {
            return Ok(());
        }
        match state.reload() {
            Ok(warnings) => warnings.iter().for_each(|w| tracing::warn!("reload: {w}")),
            Err(errors) => {
                tracing::error!(
                    "reload refused, keeping the running configuration:\n{}",
                    errors.join("\n")
                )
            }
        }
    }
    Ok(())
}

/// `telvox daemon`: logging, optional detach, then run until a stop signal.
pub fn main(config_path: &Path, foreground: bool) -> Result<()> {
    let config_path = std::path::absolute(config_path).unwrap_or_else(|_| config_path.to_path_buf());
    let config = config::load_file(&config_path).map_err(|e| anyhow!(format_diagnostics(&e.0)))?;
    if !foreground {
        make_dirs(&config)?;
        let log = config.data_dir.join("telvox.log");
        detach(&log)?;
    }
    init_logging(&config.log);
    run_foreground(&config_path)
}

fn init_logging(filter: &str) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour only for a person at a terminal: journald and the detached log file get plain text.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

/// Detaches from the terminal (before any thread exists) with stderr going to `log`.
fn detach(log: &Path) -> Result<()> {
    use std::os::fd::AsRawFd;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("cannot open {}", log.display()))?;
    #[allow(deprecated)]
    nix::unistd::daemon(true, false).context("cannot detach")?;
    nix::unistd::dup2(file.as_raw_fd(), 2).context("cannot redirect stderr to the log")?;
    Ok(())
}
