//! The voicemail threads of one runtime, and what the channel threads share with them.
//!
//! - The **writer** thread drains the recorder taps of messages and greetings being recorded (the
//!   same tap machinery as `record`), writes PCM16 WAV to `NAME.wav.part` (flushed every 20 ms),
//!   and when a take ends renames it into `<data_dir>/voicemail/<box>/`, indexes it in SQLite and
//!   queues its mail. A row in `vm_recordings` exists for every take in progress, so after a crash
//!   [`recover`] finishes the part files left behind: a message is never lost, even to kill -9.
//! - The **worker** thread does everything a channel thread must not: SQLite, PIN hashing, and
//!   mapping WAV files (greetings and messages) into memory; a mapped file is read through once
//!   there, so its pages are resident before a channel thread plays it. Jobs go in through a
//!   bounded queue (`try_send`: a full queue is an error outcome, never a wait); replies come back
//!   through the call's own lock-free [`Slot`], which the action polls on its sample-clock timer.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::channel::{bounded, Receiver, Sender};
use crossbeam::queue::ArrayQueue;
use rusqlite::Connection;

use crate::apps::say::{self, Language};
use crate::dsp::g711;
use crate::engine::tap::AudioTap;
use crate::fixed::{FixedStr, Label, Number};
use crate::hw::{CallRef, Law, BLOCK_SAMPLES};
use crate::voice::Prompt;

use super::config::{Mailbox, Mailboxes};
use super::db;
use super::{MARK_NAME, MARK_PROMPT, MAX_SCRIPT};

/// Jobs waiting for the worker at most.
const QUEUE_JOBS: usize = 256;
/// Takes waiting to be picked up by the writer.
const QUEUE_TAKES: usize = 256;
/// Blocks a take's ring holds: 10 s (about 170 kB). Far more than the writer needs at the line's
/// pace, but the lockstep sim card runs calls many times faster than real time, and a message must
/// not lose audio there either.
pub const RING_BLOCKS: usize = 500;
/// A block whose mean absolute sample is below this is silence (about -45 dBm0).
const SILENCE_LEVEL: u32 = 150;
/// With no block for this long the call is gone: the take is finished with what it has.
const IDLE_FINISH: Duration = Duration::from_secs(2);
/// How often the writer drains the rings while takes are open.
const WRITER_POLL: Duration = Duration::from_millis(5);
/// Messages one retrieval session lists (new first, then saved).
pub const MAX_LIST: usize = 100;
/// Replies one call's slot holds: the current one and a late one.
const SLOT_REPLIES: usize = 2;
/// With review on, mail waits this long so a re-recorded message is not mailed.
const REVIEW_MAIL_DELAY_MS: i64 = 120_000;

pub type Uid = FixedStr<48>;
/// A language code.
pub type Lang = FixedStr<8>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// The box (or every box of the group) is full.
    Full,
    /// No such box or group.
    Unknown,
    BadPin,
    Locked,
    /// The box has no PIN set.
    NoPin,
    Error,
}

/// A greeting a box can record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Greeting {
    Unavailable,
    Busy,
    Name,
}

impl Greeting {
    pub fn file(self) -> &'static str {
        match self {
            Greeting::Unavailable => "greeting-unavailable.wav",
            Greeting::Busy => "greeting-busy.wav",
            Greeting::Name => "greeting-name.wav",
        }
    }
}

/// What a retrieval session does to a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    Heard,
    Save,
    Delete,
    Forward(Number),
}

#[derive(Debug)]
pub enum Work {
    /// Before leaving a message: does the box (or group) exist, is it full, its greeting.
    Prepare {
        box_: Number,
        greeting: Greeting,
        lang: Lang,
    },
    /// Retrieval login; without `check_pin` the flow has verified the caller another way.
    Login {
        box_: Number,
        pin: Number,
        check_pin: bool,
        lang: Lang,
    },
    /// A message's audio and envelope.
    Message {
        id: i64,
        lang: Lang,
    },
    Act {
        id: i64,
        act: Act,
    },
    /// Deletes every message a take made (review: re-record).
    DiscardTake {
        take: Arc<Take>,
    },
    /// A new PIN for a box (rewrites mailboxes.toml).
    SetPin {
        box_: Number,
        pin: Number,
    },
    /// A recording's ring and shared record, allocated here rather than on the channel thread
    /// (and the line's law looked up here: that walks the hardware map).
    NewTake {
        call: CallRef,
        called: Number,
        kind: TakeKind,
        silence_ms: u32,
        max_ms: u64,
    },
    /// A prompt a channel thread is done with: unmapped here, not on the channel thread.
    Release(Arc<Prompt>),
}

#[derive(Debug)]
pub struct Job {
    pub slot: Arc<Slot>,
    pub seq: u32,
    pub work: Work,
}

/// A worker's answer.
#[derive(Debug)]
pub struct Reply {
    pub seq: u32,
    pub status: Status,
    /// A greeting or a message's audio, mapped and paged in.
    pub prompt: Option<Arc<Prompt>>,
    /// The box's recorded name.
    pub name: Option<Arc<Prompt>>,
    pub new: u32,
    pub saved: u32,
    pub ids: [i64; MAX_LIST],
    pub count: usize,
    pub caller: Number,
    /// `YYYY-MM-DD` and `HH:MM` of a message, in the business time zone.
    pub date: FixedStr<16>,
    pub time: FixedStr<8>,
    pub language: FixedStr<8>,
    /// What to say, as prompt names (and `@prompt`, `@name` for the audio above).
    pub script: [Label; MAX_SCRIPT],
    pub script_len: usize,
    /// A new recording (`NewTake`).
    pub take: Option<Arc<Take>>,
}

impl Reply {
    fn say(&mut self, name: &str) {
        if self.script_len < MAX_SCRIPT {
            self.script[self.script_len] = Label::from_str_truncating(name);
            self.script_len += 1;
        }
    }

    fn say_all(&mut self, names: &[String]) {
        for n in names {
            self.say(n);
        }
    }

    fn new(seq: u32, status: Status) -> Reply {
        Reply {
            seq,
            status,
            prompt: None,
            name: None,
            new: 0,
            saved: 0,
            ids: [0; MAX_LIST],
            count: 0,
            caller: Number::new(),
            date: FixedStr::new(),
            time: FixedStr::new(),
            language: FixedStr::new(),
            script: [Label::new(); MAX_SCRIPT],
            script_len: 0,
            take: None,
        }
    }
}

/// One call's mailbox for worker replies.
#[derive(Debug)]
pub struct Slot {
    replies: ArrayQueue<Reply>,
}

impl Default for Slot {
    fn default() -> Self {
        Slot {
            replies: ArrayQueue::new(SLOT_REPLIES),
        }
    }
}

impl Slot {
    /// The reply to job `seq` if it has come; older replies are dropped.
    pub fn take(&self, seq: u32) -> Option<Reply> {
        while let Some(reply) = self.replies.pop() {
            if reply.seq == seq {
                return Some(reply);
            }
        }
        None
    }

    fn put(&self, reply: Reply) {
        let _ = self.replies.force_push(reply);
    }
}

/// What a take becomes.
#[derive(Clone, Copy, Debug)]
pub enum TakeKind {
    /// A message to a box or group.
    Message {
        to: Number,
        caller: Number,
        uniqueid: Uid,
        min_ms: u32,
        review: bool,
    },
    Greeting {
        box_: Number,
        which: Greeting,
    },
}

pub const TAKE_RUNNING: u8 = 0;
pub const TAKE_KEPT: u8 = 1;
pub const TAKE_DISCARDED: u8 = 2;
pub const TAKE_FAILED: u8 = 3;

/// One recording in progress, shared by the action (channel thread) and the writer.
pub struct Take {
    pub tap: Arc<AudioTap>,
    call: CallRef,
    law: Law,
    kind: TakeKind,
    silence_samples: u64,
    /// Audio beyond this is not written (0 = no limit): the file ends at the limit in call time,
    /// however late the action notices.
    max_samples: u64,
    stop: AtomicBool,
    discard: AtomicBool,
    silent: AtomicBool,
    state: AtomicU8,
    /// The first message it made (for review playback).
    message_id: AtomicI64,
    /// Every message it made, as a space-separated list, set once when kept (off the channel thread).
    made: std::sync::OnceLock<Vec<i64>>,
    samples: AtomicU64,
}

impl std::fmt::Debug for Take {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Take")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl Take {
    /// Allocates the ring (2 s) and the shared record: done when recording starts.
    pub fn new(call: CallRef, law: Law, kind: TakeKind, silence_ms: u32, max_ms: u64) -> Arc<Take> {
        Arc::new(Take {
            tap: AudioTap::new(RING_BLOCKS),
            call,
            law,
            kind,
            silence_samples: u64::from(silence_ms) * 8,
            max_samples: max_ms * 8,
            stop: AtomicBool::new(false),
            discard: AtomicBool::new(false),
            silent: AtomicBool::new(false),
            state: AtomicU8::new(TAKE_RUNNING),
            message_id: AtomicI64::new(0),
            made: std::sync::OnceLock::new(),
            samples: AtomicU64::new(0),
        })
    }

    /// No more audio: the writer finishes the file (keeps it if long enough).
    pub fn end(&self) {
        self.stop.store(true, Ordering::Release);
    }

    /// No more audio, and throw it away.
    pub fn cancel(&self) {
        self.discard.store(true, Ordering::Release);
        self.stop.store(true, Ordering::Release);
    }

    pub fn is_silent(&self) -> bool {
        self.silent.load(Ordering::Acquire)
    }

    pub fn state(&self) -> u8 {
        self.state.load(Ordering::Acquire)
    }

    pub fn message_id(&self) -> i64 {
        self.message_id.load(Ordering::Acquire)
    }
}

/// The voicemail services of one runtime; dropping the last reference ends its threads once
/// their work is done.
#[derive(Debug)]
pub struct Voicemail {
    pub boxes: Arc<Mailboxes>,
    jobs: Sender<Job>,
    takes: Sender<Arc<Take>>,
    _mailer: Option<super::mail::MailerHandle>,
}

/// Where everything lives.
#[derive(Clone, Debug)]
pub struct Paths {
    pub data_dir: PathBuf,
    pub db: PathBuf,
    pub timezone: chrono_tz::Tz,
}

impl Voicemail {
    pub fn start(
        boxes: Arc<Mailboxes>,
        paths: Paths,
        hw: crate::config::HwMap,
    ) -> std::io::Result<Arc<Voicemail>> {
        let (jobs, job_rx) = bounded(QUEUE_JOBS);
        let (takes, take_rx) = bounded(QUEUE_TAKES);
        let worker = Worker {
            boxes: boxes.clone(),
            paths: paths.clone(),
            hw: hw.clone(),
            conn: None,
        };
        std::thread::Builder::new()
            .name("vm-worker".into())
            .spawn(move || worker.run(&job_rx))?;
        let writer_boxes = boxes.clone();
        let writer_paths = paths.clone();
        std::thread::Builder::new()
            .name("vm-writer".into())
            .spawn(move || write_loop(&writer_boxes, &writer_paths, &take_rx))?;
        let mailer = super::mail::start(boxes.clone(), paths)?;
        Ok(Arc::new(Voicemail {
            boxes,
            jobs,
            takes,
            _mailer: mailer,
        }))
    }

    /// Queues a job without waiting; false when the queue is full.
    pub fn submit(&self, job: Job) -> bool {
        self.jobs.try_send(job).is_ok()
    }

    /// Hands a take to the writer; false when its queue is full.
    pub fn record(&self, take: Arc<Take>) -> bool {
        self.takes.try_send(take).is_ok()
    }

    /// Gives a prompt back to be unmapped off the channel thread (dropped here if the queue is full).
    pub fn release(&self, slot: &Arc<Slot>, prompt: Arc<Prompt>) {
        let _ = self.jobs.try_send(Job {
            slot: slot.clone(),
            seq: 0,
            work: Work::Release(prompt),
        });
    }
}

/// Blocks of message audio lost because a take's ring was full (the writer fell behind), since the
/// daemon started: in `telvox status` (`voicemail.lost_blocks`).
pub static LOST_BLOCKS: AtomicU64 = AtomicU64::new(0);

/// Where message-waiting changes go (the daemon fans them out to `telvox events`): box, new, saved.
pub type WaitingSink = Box<dyn Fn(&str, u32, u32) + Send + Sync>;
static WAITING_SINK: std::sync::OnceLock<WaitingSink> = std::sync::OnceLock::new();

/// Set once by the daemon.
pub fn set_waiting_sink(sink: WaitingSink) {
    let _ = WAITING_SINK.set(sink);
}

/// Tells the sink a box's counts (after a message arrived, was saved, deleted or forwarded).
fn publish_waiting(conn: &Connection, box_: &str) {
    if let Some(sink) = WAITING_SINK.get() {
        if let Ok((new, saved)) = db::counts(conn, box_) {
            sink(box_, new, saved);
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// The worker

struct Worker {
    boxes: Arc<Mailboxes>,
    paths: Paths,
    hw: crate::config::HwMap,
    conn: Option<Connection>,
}

impl Worker {
    fn run(mut self, jobs: &Receiver<Job>) {
        while let Ok(job) = jobs.recv() {
            if let Work::Release(prompt) = job.work {
                drop(prompt);
                continue;
            }
            let reply = match self.serve(job.seq, &job.work) {
                Ok(reply) => reply,
                Err(e) => {
                    tracing::warn!("voicemail: {e}");
                    self.conn = None;
                    Reply::new(job.seq, Status::Error)
                }
            };
            job.slot.put(reply);
        }
    }

    fn conn(&mut self) -> rusqlite::Result<&Connection> {
        if self.conn.is_none() {
            self.conn = Some(db::open(&self.paths.db)?);
        }
        Ok(self.conn.as_ref().expect("opened above"))
    }

    fn serve(&mut self, seq: u32, work: &Work) -> Result<Reply, String> {
        let sql = |e: rusqlite::Error| e.to_string();
        match work {
            Work::Prepare { box_, greeting, lang } => {
                let boxes = self.boxes.clone();
                let targets = boxes.targets(box_.as_str());
                if targets.is_empty() {
                    return Ok(Reply::new(seq, Status::Unknown));
                }
                let mut any_room = false;
                for b in &targets {
                    let (new, saved) = db::counts(self.conn().map_err(sql)?, &b.number).map_err(sql)?;
                    any_room |= new + saved < b.limits.max_messages;
                }
                let mut reply = Reply::new(seq, if any_room { Status::Ok } else { Status::Full });
                if let Some(b) = boxes.find(box_.as_str()) {
                    let dir = db::box_dir(&self.paths.data_dir, &b.number);
                    reply.prompt = load_paged(&dir.join(greeting.file()));
                    reply.name = load_paged(&dir.join(Greeting::Name.file()));
                    reply.language = FixedStr::from_str_truncating(&b.limits.language);
                }
                let language = Language::from_code(lang.as_str()).unwrap_or(Language::En);
                if reply.prompt.is_some() {
                    reply.say(MARK_PROMPT);
                } else {
                    reply.say("vm-person-at");
                    if reply.name.is_some() {
                        reply.say(MARK_NAME);
                    } else {
                        reply.say_all(&say::say_digits(language, box_.as_str()).unwrap_or_default());
                    }
                    reply.say(match greeting {
                        Greeting::Busy => "vm-busy",
                        _ => "vm-unavailable",
                    });
                }
                reply.say("vm-leave-after-tone");
                Ok(reply)
            }
            Work::Login {
                box_,
                pin,
                check_pin,
                lang,
            } => self.login(seq, box_.as_str(), pin.as_str(), *check_pin, lang.as_str()),
            Work::Message { id, lang } => {
                let Some(m) = db::message(self.conn().map_err(sql)?, *id).map_err(sql)? else {
                    return Ok(Reply::new(seq, Status::Unknown));
                };
                let mut reply = Reply::new(seq, Status::Ok);
                let path = db::box_dir(&self.paths.data_dir, &m.box_).join(&m.file);
                reply.prompt = load_paged(&path);
                reply.caller = Number::from_str_truncating(&m.caller);
                reply.new = u32::from(m.folder == "new");
                let language = Language::from_code(lang.as_str()).unwrap_or(Language::En);
                reply.say("vm-message-from");
                reply.say_all(&say::say_digits(language, &m.caller).unwrap_or_default());
                if let Some(at) = chrono::DateTime::from_timestamp_millis(m.at_ms) {
                    use chrono::{Datelike, Timelike};
                    let local = at.with_timezone(&self.paths.timezone);
                    reply.date = FixedStr::from_str_truncating(&local.format("%Y-%m-%d").to_string());
                    reply.time = FixedStr::from_str_truncating(&local.format("%H:%M").to_string());
                    reply.say("vm-received");
                    let (y, mo, d) = (local.year(), local.month() as u8, local.day() as u8);
                    reply.say_all(&say::say_date(language, y, mo, d, None).unwrap_or_default());
                    let (h, mi) = (local.hour() as u8, local.minute() as u8);
                    reply.say_all(&say::say_time(language, h, mi).unwrap_or_default());
                }
                reply.say(MARK_PROMPT);
                Ok(reply)
            }
            Work::Act { id, act } => {
                let data_dir = self.paths.data_dir.clone();
                let conn = self.conn().map_err(sql)?;
                let owner = db::message(conn, *id).map_err(sql)?.map(|m| m.box_);
                let status = match act {
                    Act::Heard => db::set_heard(conn, *id).map(|_| Status::Ok),
                    Act::Save => db::set_folder(conn, *id, "saved").map(|_| Status::Ok),
                    Act::Delete => db::delete(conn, &data_dir, *id).map(|_| Status::Ok),
                    Act::Forward(to) => {
                        let boxes = self.boxes.clone();
                        forward(self.conn().map_err(sql)?, &boxes, &data_dir, *id, to.as_str())
                    }
                }
                .map_err(sql)?;
                let boxes = self.boxes.clone();
                let conn = self.conn().map_err(sql)?;
                if *act != Act::Heard {
                    owner.iter().for_each(|b| publish_waiting(conn, b));
                }
                if let Act::Forward(to) = act {
                    for b in boxes.targets(to.as_str()) {
                        publish_waiting(conn, &b.number);
                    }
                }
                Ok(Reply::new(seq, status))
            }
            Work::DiscardTake { take } => {
                let data_dir = self.paths.data_dir.clone();
                let conn = self.conn().map_err(sql)?;
                for id in take.made.get().into_iter().flatten() {
                    db::delete(conn, &data_dir, *id).map_err(sql)?;
                }
                Ok(Reply::new(seq, Status::Ok))
            }
            Work::SetPin { box_, pin } => {
                let hash = crate::apps::ivr::business::hash_pin(pin.as_str()).map_err(|e| e.to_string())?;
                super::config::set_pin_hash(&self.boxes.path, box_.as_str(), &hash)?;
                tracing::info!("voicemail: box {} PIN changed by phone", box_.as_str());
                Ok(Reply::new(seq, Status::Ok))
            }
            Work::NewTake {
                call,
                called,
                kind,
                silence_ms,
                max_ms,
            } => {
                let mut reply = Reply::new(seq, Status::Ok);
                let law = self.hw.law_for(called.as_str());
                reply.take = Some(Take::new(*call, law, *kind, *silence_ms, *max_ms));
                Ok(reply)
            }
            Work::Release(_) => Ok(Reply::new(seq, Status::Ok)),
        }
    }

    fn login(
        &mut self,
        seq: u32,
        box_: &str,
        pin: &str,
        check_pin: bool,
        lang: &str,
    ) -> Result<Reply, String> {
        let sql = |e: rusqlite::Error| e.to_string();
        let boxes = self.boxes.clone();
        let Some(b) = boxes.find(box_) else {
            // An unknown box fails like a wrong PIN, so a caller cannot probe for boxes.
            return Ok(Reply::new(
                seq,
                if check_pin {
                    Status::BadPin
                } else {
                    Status::Unknown
                },
            ));
        };
        if check_pin {
            let until = db::pin_locked_until(self.conn().map_err(sql)?, box_).map_err(sql)?;
            if until > db::now_ms() {
                tracing::warn!("voicemail: box {box_} is locked; login refused");
                return Ok(Reply::new(seq, Status::Locked));
            }
            // A PIN changed by phone is in the file before this runtime's copy is reloaded.
            let current = current_pin_hash(&boxes.path, box_).or_else(|| b.pin_hash.clone());
            let Some(hash) = current else {
                return Ok(Reply::new(seq, Status::NoPin));
            };
            if !crate::apps::ivr::business::pin_matches(pin, &hash) {
                let lockout_ms = i64::from(boxes.lockout_s) * 1000;
                let (failures, locked) = db::pin_failed(
                    self.conn().map_err(sql)?,
                    box_,
                    boxes.pin_max_failures,
                    lockout_ms,
                )
                .map_err(sql)?;
                if locked {
                    tracing::warn!(
                        "voicemail: box {box_} locked for {} s after {failures} wrong PINs",
                        boxes.lockout_s
                    );
                    return Ok(Reply::new(seq, Status::Locked));
                }
                tracing::info!("voicemail: wrong PIN for box {box_} ({failures} in a row)");
                return Ok(Reply::new(seq, Status::BadPin));
            }
            db::pin_ok(self.conn().map_err(sql)?, box_).map_err(sql)?;
        }
        let list = db::messages(self.conn().map_err(sql)?, box_).map_err(sql)?;
        let mut reply = Reply::new(seq, Status::Ok);
        reply.new = list.iter().filter(|m| m.folder == "new").count() as u32;
        reply.saved = list.len() as u32 - reply.new;
        for (slot, m) in reply.ids.iter_mut().zip(&list) {
            *slot = m.id;
        }
        reply.count = list.len().min(MAX_LIST);
        reply.language = FixedStr::from_str_truncating(&b.limits.language);
        let language = Language::from_code(lang).unwrap_or(Language::En);
        summary(&mut reply, language);
        Ok(reply)
    }
}

/// "You have 3 new messages and 2 saved messages", in the language's word order.
fn summary(reply: &mut Reply, language: Language) {
    let (new, saved) = (i64::from(reply.new), i64::from(reply.saved));
    if new + saved == 0 {
        reply.say("vm-no-messages");
        return;
    }
    let noun = |n: i64| if n == 1 { "vm-message" } else { "vm-messages" };
    match language {
        Language::Ko => {
            // 새 메시지 세 건, 그리고 저장된 메시지 두 건이 있습니다.
            reply.say("vm-new");
            reply.say_all(&say::say_number(language, new));
            reply.say("vm-message");
            reply.say("vm-and");
            reply.say("vm-saved");
            reply.say_all(&say::say_number(language, saved));
            reply.say("vm-message");
            reply.say("vm-you-have");
        }
        Language::Zh => {
            // 您有 三 条新留言 和 两 条已保存的留言
            reply.say("vm-you-have");
            reply.say_all(&say::say_number(language, new));
            reply.say("vm-new");
            reply.say("vm-and");
            reply.say_all(&say::say_number(language, saved));
            reply.say("vm-saved");
        }
        Language::En => {
            reply.say("vm-you-have");
            reply.say_all(&say::say_number(language, new));
            reply.say("vm-new");
            reply.say(noun(new));
            reply.say("vm-and");
            reply.say_all(&say::say_number(language, saved));
            reply.say("vm-saved");
            reply.say(noun(saved));
        }
    }
}

/// The PIN hash in the file now (it may have been changed since this runtime loaded it).
fn current_pin_hash(path: &Path, box_: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let doc: toml_edit::DocumentMut = text.parse().ok()?;
    let boxes = doc.get("box")?.as_array_of_tables()?;
    let entry = boxes
        .iter()
        .find(|t| t.get("number").and_then(|n| n.as_str()) == Some(box_))?;
    entry.get("pin")?.as_str().map(str::to_owned)
}

/// Maps a WAV file and reads it through once, so a channel thread playing it never waits for the
/// disk; None when there is no such file (or it is not a playable WAV).
fn load_paged(path: &Path) -> Option<Arc<Prompt>> {
    if !path.is_file() {
        return None;
    }
    match Prompt::load(path) {
        Ok(prompt) => {
            let mut scratch = [0i16; 4096];
            let mut at = 0;
            while at < prompt.len_samples() {
                at += prompt.read_linear(at, &mut scratch).max(1);
            }
            Some(Arc::new(prompt))
        }
        Err(e) => {
            tracing::warn!("voicemail: cannot play {}: {e}", path.display());
            None
        }
    }
}

/// Copies a message into another box (a hard link: same audio, its own entry).
fn forward(
    conn: &Connection,
    boxes: &Mailboxes,
    data_dir: &Path,
    id: i64,
    to: &str,
) -> rusqlite::Result<Status> {
    let Some(m) = db::message(conn, id)? else {
        return Ok(Status::Unknown);
    };
    let targets = boxes.targets(to);
    if targets.is_empty() {
        return Ok(Status::Unknown);
    }
    let from = db::box_dir(data_dir, &m.box_).join(&m.file);
    let mut status = Status::Full;
    for b in targets {
        let (new, saved) = db::counts(conn, &b.number)?;
        if new + saved >= b.limits.max_messages {
            continue;
        }
        let file = format!("fwd-{}-{}", m.box_, m.file);
        let dir = db::box_dir(data_dir, &b.number);
        if let Err(e) = link_or_copy(&from, &dir, &file) {
            tracing::warn!("voicemail: cannot forward message {id} to box {}: {e}", b.number);
            return Ok(Status::Error);
        }
        db::insert_message(
            conn,
            &db::NewMessage {
                box_: &b.number,
                file: &file,
                caller: &m.caller,
                uniqueid: &m.uniqueid,
                at_ms: m.at_ms,
                duration_ms: m.duration_ms,
                mail_to: mail_to(boxes, b),
                mail_after_ms: db::now_ms(),
            },
        )?;
        status = Status::Ok;
    }
    Ok(status)
}

fn mail_to<'a>(boxes: &Mailboxes, b: &'a Mailbox) -> Option<&'a str> {
    boxes.smtp.as_ref().and(b.email.as_deref())
}

/// Puts `from` into `dir/name` (hard link, else a copy via a temporary name); an existing
/// `dir/name` is kept (recovery may run this twice).
fn link_or_copy(from: &Path, dir: &Path, name: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let to = dir.join(name);
    if to.exists() {
        return Ok(());
    }
    if std::fs::hard_link(from, &to).is_err() {
        let tmp = dir.join(format!("{name}.tmp"));
        std::fs::copy(from, &tmp)?;
        File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, &to)?;
    }
    // The new name itself survives a power cut once the directory is synced.
    File::open(dir)?.sync_all()
}

// ---------------------------------------------------------------------------------------------------
// The writer

struct Open {
    take: Arc<Take>,
    file: BufWriter<File>,
    part: PathBuf,
    pending_id: Option<i64>,
    at_ms: i64,
    data_bytes: u32,
    silent_run: u64,
    last_block: Instant,
}

/// Takes whose audio is complete, waiting for the finisher (a full queue is finished inline).
const QUEUE_FINISHED: usize = 1024;

/// Drains the rings; finished takes go to a finisher thread, so a slow fsync or a busy database
/// never keeps the rings of the other calls from being drained.
fn write_loop(boxes: &Arc<Mailboxes>, paths: &Paths, incoming: &Receiver<Arc<Take>>) {
    let (finished, to_finish) = bounded::<Open>(QUEUE_FINISHED);
    let (finisher_boxes, finisher_paths) = (boxes.clone(), paths.clone());
    let finisher = std::thread::Builder::new()
        .name("vm-finisher".into())
        .spawn(move || {
            let mut conn: Option<Connection> = None;
            for mut file in to_finish {
                finish_logged(&mut conn, &finisher_boxes, &finisher_paths, &mut file);
            }
        });
    if let Err(e) = &finisher {
        tracing::warn!("voicemail: no finisher thread ({e}): messages are finished by the writer");
    }
    let mut conn: Option<Connection> = None;
    let mut open: Vec<Open> = Vec::new();
    loop {
        let first = if open.is_empty() {
            match incoming.recv() {
                Ok(take) => Some(take),
                Err(_) => return,
            }
        } else {
            std::thread::sleep(WRITER_POLL);
            None
        };
        if conn.is_none() {
            conn = db::open(&paths.db)
                .map_err(|e| tracing::warn!("voicemail: {e}"))
                .ok();
        }
        let Some(db_conn) = conn.as_ref() else {
            // Without the database a message could not be indexed: refuse the takes.
            for take in first.into_iter().chain(incoming.try_iter()) {
                take.state.store(TAKE_FAILED, Ordering::Release);
            }
            continue;
        };
        for take in first.into_iter().chain(incoming.try_iter()) {
            match start_take(db_conn, paths, take.clone()) {
                Ok(file) => open.push(file),
                Err(e) => {
                    tracing::warn!("voicemail: cannot start a recording: {e}");
                    take.state.store(TAKE_FAILED, Ordering::Release);
                }
            }
        }
        let mut i = 0;
        while i < open.len() {
            match drain(&mut open[i]) {
                Ok(true) => i += 1,
                Ok(false) => {
                    let file = open.swap_remove(i);
                    let handed = match &finisher {
                        Ok(_) => finished.try_send(file).map_err(|e| e.into_inner()),
                        Err(_) => Err(file),
                    };
                    if let Err(mut file) = handed {
                        finish_logged(&mut conn, boxes, paths, &mut file);
                    }
                }
                Err(e) => {
                    let file = open.swap_remove(i);
                    tracing::warn!("voicemail: recording {} failed: {e}", file.part.display());
                    file.take.state.store(TAKE_FAILED, Ordering::Release);
                }
            }
        }
    }
}

fn finish_logged(conn: &mut Option<Connection>, boxes: &Mailboxes, paths: &Paths, file: &mut Open) {
    if conn.is_none() {
        *conn = db::open(&paths.db)
            .map_err(|e| tracing::warn!("voicemail: {e}"))
            .ok();
    }
    let result = match conn.as_ref() {
        Some(c) => finish_take(c, boxes, paths, file),
        None => Err("no database".to_owned()),
    };
    if let Err(e) = result {
        // The part file and its `vm_recordings` row stay: the next start finishes it.
        tracing::warn!("voicemail: recording {} failed: {e}", file.part.display());
        file.take.state.store(TAKE_FAILED, Ordering::Release);
        *conn = None;
    }
}

fn start_take(conn: &Connection, paths: &Paths, take: Arc<Take>) -> Result<Open, String> {
    let at_ms = db::now_ms();
    let (dir, stem) = match take.kind {
        TakeKind::Message { to, .. } => (
            db::box_dir(&paths.data_dir, to.as_str()),
            format!("msg-{at_ms}-{}", take.call.seq),
        ),
        TakeKind::Greeting { box_, which } => (
            db::box_dir(&paths.data_dir, box_.as_str()),
            format!("{}-{at_ms}", which.file().trim_end_matches(".wav")),
        ),
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let part = dir.join(format!("{stem}.wav.part"));
    let mut file = BufWriter::new(File::create(&part).map_err(|e| format!("{}: {e}", part.display()))?);
    file.write_all(&crate::wav::pcm16_header(8000, 0))
        .map_err(|e| e.to_string())?;
    let pending_id = match take.kind {
        TakeKind::Message {
            to,
            caller,
            uniqueid,
            min_ms,
            ..
        } => Some(
            db::insert_pending(
                conn,
                &db::Pending {
                    id: 0,
                    part: part.clone(),
                    boxes: vec![to.as_str().to_owned()],
                    caller: caller.as_str().to_owned(),
                    uniqueid: uniqueid.as_str().to_owned(),
                    at_ms,
                    min_ms: i64::from(min_ms),
                },
            )
            .map_err(|e| e.to_string())?,
        ),
        TakeKind::Greeting { .. } => None,
    };
    Ok(Open {
        take,
        file,
        part,
        pending_id,
        at_ms,
        data_bytes: 0,
        silent_run: 0,
        last_block: Instant::now(),
    })
}

/// Writes what the ring holds (flushed, so a crash loses at most this poll's audio); false when
/// the take is over.
fn drain(file: &mut Open) -> std::io::Result<bool> {
    let take = file.take.clone();
    let mut wrote = false;
    while let Some(block) = take.tap.pop() {
        // After the silence that ends the message, or past the length limit, nothing more is
        // kept: the file ends where the call's clock says, however far lockstep ran ahead.
        let full = take.max_samples > 0 && u64::from(file.data_bytes / 2) >= take.max_samples;
        if block.call != take.call || take.is_silent() || full {
            file.last_block = Instant::now();
            continue;
        }
        let mut samples = [0i16; BLOCK_SAMPLES];
        g711::decode_block(take.law, &block.rx, &mut samples);
        let mut bytes = [0u8; BLOCK_SAMPLES * 2];
        let mut level: u32 = 0;
        for (out, sample) in bytes.chunks_exact_mut(2).zip(samples) {
            out.copy_from_slice(&sample.to_le_bytes());
            level += u32::from(sample.unsigned_abs());
        }
        file.file.write_all(&bytes)?;
        file.data_bytes = file.data_bytes.saturating_add(bytes.len() as u32);
        take.samples.fetch_add(BLOCK_SAMPLES as u64, Ordering::Relaxed);
        file.last_block = Instant::now();
        wrote = true;
        if level / BLOCK_SAMPLES as u32 >= SILENCE_LEVEL {
            file.silent_run = 0;
        } else {
            file.silent_run += BLOCK_SAMPLES as u64;
            if take.silence_samples > 0 && file.silent_run >= take.silence_samples {
                take.silent.store(true, Ordering::Release);
            }
        }
    }
    if wrote {
        file.file.flush()?;
    }
    let stopped = take.stop.load(Ordering::Acquire);
    Ok(!stopped && file.last_block.elapsed() < IDLE_FINISH)
}

fn finish_take(conn: &Connection, boxes: &Mailboxes, paths: &Paths, file: &mut Open) -> Result<(), String> {
    let io = |e: std::io::Error| e.to_string();
    let dropped = file.take.tap.dropped_blocks();
    LOST_BLOCKS.fetch_add(dropped, Ordering::Relaxed);
    if dropped > 0 {
        tracing::warn!(
            "voicemail: {} lost {dropped} block(s) of audio: the writer fell behind",
            file.part.display()
        );
    }
    file.file.seek(SeekFrom::Start(0)).map_err(io)?;
    file.file
        .write_all(&crate::wav::pcm16_header(8000, file.data_bytes))
        .map_err(io)?;
    file.file.flush().map_err(io)?;
    file.file.get_ref().sync_all().map_err(io)?;
    let take = &file.take;
    let duration_ms = i64::from(file.data_bytes / 16);
    let discard = take.discard.load(Ordering::Acquire);
    match take.kind {
        TakeKind::Greeting { box_, which } => {
            if discard || duration_ms < 500 {
                let _ = std::fs::remove_file(&file.part);
                take.state.store(TAKE_DISCARDED, Ordering::Release);
                return Ok(());
            }
            let dir = db::box_dir(&paths.data_dir, box_.as_str());
            std::fs::rename(&file.part, dir.join(which.file())).map_err(io)?;
            File::open(&dir).and_then(|d| d.sync_all()).map_err(io)?;
            take.state.store(TAKE_KEPT, Ordering::Release);
            Ok(())
        }
        TakeKind::Message {
            to,
            caller,
            uniqueid,
            min_ms,
            review,
        } => {
            let pending = db::Pending {
                id: file.pending_id.unwrap_or(0),
                part: file.part.clone(),
                boxes: vec![to.as_str().to_owned()],
                caller: caller.as_str().to_owned(),
                uniqueid: uniqueid.as_str().to_owned(),
                at_ms: file.at_ms,
                min_ms: i64::from(min_ms),
            };
            let mail_delay = if review { REVIEW_MAIL_DELAY_MS } else { 0 };
            let made = if discard {
                let _ = std::fs::remove_file(&file.part);
                db::delete_pending(conn, pending.id).map_err(|e| e.to_string())?;
                Vec::new()
            } else {
                index_message(conn, boxes, paths, &pending, duration_ms, mail_delay)?
            };
            take.message_id
                .store(made.first().copied().unwrap_or(0), Ordering::Release);
            let kept = !made.is_empty();
            let _ = take.made.set(made);
            let state = if kept { TAKE_KEPT } else { TAKE_DISCARDED };
            take.state.store(state, Ordering::Release);
            Ok(())
        }
    }
}

/// Turns a finished part file into messages in every target box (or discards it when too short);
/// the ids of the messages made. Idempotent, so recovery can repeat it after a crash.
fn index_message(
    conn: &Connection,
    boxes: &Mailboxes,
    paths: &Paths,
    p: &db::Pending,
    duration_ms: i64,
    mail_delay_ms: i64,
) -> Result<Vec<i64>, String> {
    let sqlerr = |e: rusqlite::Error| e.to_string();
    if duration_ms < p.min_ms || duration_ms == 0 {
        let _ = std::fs::remove_file(&p.part);
        db::delete_pending(conn, p.id).map_err(sqlerr)?;
        tracing::info!(
            "voicemail: a {duration_ms} ms message for {} was too short: discarded",
            p.boxes.join(" ")
        );
        return Ok(Vec::new());
    }
    let file_name = p
        .part
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("msg.wav.part")
        .trim_end_matches(".part")
        .to_owned();
    let mut made = Vec::new();
    for to in &p.boxes {
        for b in boxes.targets(to) {
            let (new, saved) = db::counts(conn, &b.number).map_err(sqlerr)?;
            let dir = db::box_dir(&paths.data_dir, &b.number);
            let exists = dir.join(&file_name).exists();
            if !exists && new + saved >= b.limits.max_messages {
                tracing::warn!(
                    "voicemail: box {} is full: a message for it was not stored",
                    b.number
                );
                continue;
            }
            link_or_copy(&p.part, &dir, &file_name).map_err(|e| e.to_string())?;
            let id = db::insert_message(
                conn,
                &db::NewMessage {
                    box_: &b.number,
                    file: &file_name,
                    caller: &p.caller,
                    uniqueid: &p.uniqueid,
                    at_ms: p.at_ms,
                    duration_ms,
                    mail_to: mail_to(boxes, b),
                    mail_after_ms: db::now_ms() + mail_delay_ms,
                },
            )
            .map_err(sqlerr)?;
            made.push(id);
            publish_waiting(conn, &b.number);
            super::mail::run_hook(
                boxes,
                b,
                id,
                &p.caller,
                p.at_ms,
                duration_ms,
                &dir.join(&file_name),
            );
            tracing::info!(
                "voicemail: new message {id} in box {} from {} ({duration_ms} ms)",
                b.number,
                p.caller
            );
        }
    }
    // The part file is linked into every box now (or nobody had room): it can go.
    let _ = std::fs::remove_file(&p.part);
    db::delete_pending(conn, p.id).map_err(sqlerr)?;
    Ok(made)
}

/// At daemon start: finishes every message a crash cut off. Its WAV header is rewritten for the
/// audio that reached the disk, and it is indexed like any other message.
pub fn recover(boxes: &Mailboxes, paths: &Paths) -> Result<usize, String> {
    let conn = db::open(&paths.db).map_err(|e| e.to_string())?;
    let pending = db::pending(&conn).map_err(|e| e.to_string())?;
    let mut recovered = 0;
    for p in pending {
        let Ok(meta) = std::fs::metadata(&p.part) else {
            // Already linked into its boxes before the crash (or lost): nothing left to do.
            db::delete_pending(&conn, p.id).map_err(|e| e.to_string())?;
            continue;
        };
        let data_bytes = meta.len().saturating_sub(44) & !1;
        let data_bytes = u32::try_from(data_bytes).unwrap_or(u32::MAX - 1);
        let fix = || -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new().write(true).open(&p.part)?;
            f.set_len(44 + u64::from(data_bytes))?;
            f.write_all(&crate::wav::pcm16_header(8000, data_bytes))?;
            f.sync_all()
        };
        fix().map_err(|e| format!("{}: {e}", p.part.display()))?;
        let made = index_message(&conn, boxes, paths, &p, i64::from(data_bytes / 16), 0)?;
        if !made.is_empty() {
            recovered += 1;
            tracing::warn!(
                "voicemail: recovered a message cut off by the previous daemon's end ({} ms, box {})",
                data_bytes / 16,
                p.boxes.join(" ")
            );
        }
    }
    Ok(recovered)
}
