//! Voicemail: mailboxes (`mailboxes.toml`), leaving messages (`voicemail_leave`), retrieval by
//! phone (`voicemail_check`), email notification from a persistent queue, and `telvox vm`.
//!
//! - [`config`]: mailboxes.toml, validated with file:line:col; `telvox vm passwd` rewrites it.
//! - [`db`]: the voicemail tables of the call log.
//! - [`service`]: the writer thread (WAV via the recorder tap, crash recovery) and the worker
//!   thread (SQLite, PINs, loading audio) a call's actions talk to without waiting.
//! - [`leave`], [`check`]: the IVR actions.
//! - [`mail`]: the mail queue and its SMTP sender, and the per-message command hook.
//! - [`cli`]: `telvox vm list|play|delete|passwd|stats`.

pub mod check;
pub mod cli;
pub mod config;
pub mod db;
pub mod leave;
pub mod mail;
pub mod service;

use std::sync::Arc;

use crate::apps::ivr::action::{ActionKind, IvrCall};
use crate::apps::ivr::Flow;
use crate::engine::app::CallCx;
use crate::fixed::{FixedStr, Label};
use crate::voice::Prompt;

pub use config::Mailboxes;
pub use service::{recover, Paths, Voicemail};

use service::{Job, Reply, Slot, Work, MAX_LIST};

/// The actions voicemail adds to the IVR registry.
pub const KINDS: &[ActionKind] = &[
    ActionKind {
        key: "voicemail_leave",
        parse: leave::Leave::parse,
    },
    ActionKind {
        key: "voicemail_check",
        parse: check::Check::parse,
    },
];

/// How often an action waiting for the worker or the writer looks.
pub const POLL_MS: u64 = 20;
/// How long it waits for the worker before giving up (polls of the sample clock, and wall time).
const WORKER_TIMEOUT_MS: u64 = 5000;
/// Prompt names one script holds.
pub const MAX_SCRIPT: usize = 64;
/// Marks in a script for the reply's own audio.
pub const MARK_PROMPT: &str = "@prompt";
pub const MARK_NAME: &str = "@name";

/// A call's voicemail state, made when a voicemail action first runs on the call.
pub struct VmCall {
    pub slot: Arc<Slot>,
    pub seq: u32,
    pub polls: u32,
    pub started: std::time::Instant,
    pub phase: u8,
    pub attempts: u32,
    pub take: Option<Arc<service::Take>>,
    /// The audio of the last reply (greeting or message), kept for replay.
    pub audio: Option<Arc<Prompt>>,
    pub name: Option<Arc<Prompt>>,
    pub box_: crate::fixed::Number,
    pub entry: FixedStr<32>,
    pub ids: [i64; MAX_LIST],
    pub count: usize,
    pub index: usize,
    pub outcome: &'static str,
    pub ended_by_key: bool,
    /// The script of the last reply, and its length.
    pub script: [Label; MAX_SCRIPT],
    pub script_len: usize,
    pub greeting: service::Greeting,
}

impl VmCall {
    fn new() -> VmCall {
        VmCall {
            slot: Arc::new(Slot::default()),
            seq: 0,
            polls: 0,
            started: std::time::Instant::now(),
            phase: 0,
            attempts: 0,
            take: None,
            audio: None,
            name: None,
            box_: crate::fixed::Number::new(),
            entry: FixedStr::new(),
            ids: [0; MAX_LIST],
            count: 0,
            index: 0,
            outcome: "",
            ended_by_key: false,
            script: [Label::new(); MAX_SCRIPT],
            script_len: 0,
            greeting: service::Greeting::Unavailable,
        }
    }

    /// Resets what one action run keeps (a new `voicemail_*` action starting on the call).
    fn reset(&mut self) {
        self.phase = 0;
        self.attempts = 0;
        self.polls = 0;
        self.entry.clear();
        self.count = 0;
        self.index = 0;
        self.outcome = "";
        self.ended_by_key = false;
        self.script_len = 0;
    }
}

impl Drop for VmCall {
    fn drop(&mut self) {
        // The call is gone: a take in progress keeps what it has (a caller who hangs up
        // mid-message leaves the message).
        if let Some(take) = self.take.take() {
            take.end();
        }
    }
}

/// The call's voicemail state, made at the action's enter (the one allocation).
pub fn vm_call(call: &mut IvrCall) -> &mut VmCall {
    let vm = call.voicemail.get_or_insert_with(|| Box::new(VmCall::new()));
    vm
}

pub fn service(flow: &Flow) -> Option<&Arc<Voicemail>> {
    flow.business().and_then(|b| b.voicemail())
}

/// Hands work to the worker; false when there is no voicemail service or its queue is full.
pub fn submit(flow: &Flow, call: &mut IvrCall, cx: &mut CallCx, work: Work) -> bool {
    let Some(vm) = service(flow) else {
        return false;
    };
    let state = vm_call(call);
    state.seq = state.seq.wrapping_add(1);
    state.polls = 0;
    state.started = std::time::Instant::now();
    let job = Job {
        slot: state.slot.clone(),
        seq: state.seq,
        work,
    };
    if !vm.submit(job) {
        return false;
    }
    cx.set_timer_ms(POLL_MS);
    true
}

/// The worker did not answer in time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimedOut;

/// The worker's reply if it has come; Err when it timed out (on the call's clock and the wall
/// clock: lockstep runs faster than real time); re-arms the poll otherwise.
pub fn poll(call: &mut IvrCall, cx: &mut CallCx) -> Result<Option<Reply>, TimedOut> {
    let state = vm_call(call);
    if let Some(reply) = state.slot.take(state.seq) {
        return Ok(Some(reply));
    }
    state.polls = state.polls.saturating_add(1);
    let call_time = u64::from(state.polls) * POLL_MS >= WORKER_TIMEOUT_MS;
    let wall_time = state.started.elapsed() >= std::time::Duration::from_millis(WORKER_TIMEOUT_MS);
    if call_time && wall_time {
        return Err(TimedOut);
    }
    cx.set_timer_ms(POLL_MS);
    Ok(None)
}

/// Keeps a reply's script and audio for playing (and replaying); the audio it replaces goes back
/// to the worker to be unmapped.
pub fn keep_reply(flow: &Flow, call: &mut IvrCall, reply: &mut Reply) {
    let state = vm_call(call);
    state.script = reply.script;
    state.script_len = reply.script_len;
    let old_audio = std::mem::replace(&mut state.audio, reply.prompt.take());
    let old_name = std::mem::replace(&mut state.name, reply.name.take());
    if let Some(vm) = service(flow) {
        for old in [old_audio, old_name].into_iter().flatten() {
            vm.release(&state.slot, old);
        }
    }
}

/// Queues the kept script: prompt names in the call's language, `@prompt`/`@name` for the audio.
pub fn play_script(flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) {
    let Some(state) = call.voicemail.as_ref() else {
        return;
    };
    let (script, len) = (state.script, state.script_len);
    let (audio, name) = (state.audio.clone(), state.name.clone());
    for label in &script[..len] {
        let prompt = match label.as_str() {
            MARK_PROMPT => audio.clone(),
            MARK_NAME => name.clone(),
            other => flow.prompt_named(call.language, other).cloned(),
        };
        if let Some(prompt) = prompt {
            call.play_one(cx, &prompt);
        }
    }
}

/// Queues prompts by name in the call's language (missing ones are skipped).
pub fn play_names(flow: &Flow, call: &mut IvrCall, cx: &mut CallCx, names: &[&str]) {
    for name in names {
        if let Some(prompt) = flow.prompt_named(call.language, name) {
            call.play_one(cx, prompt);
        }
    }
}

/// Every prompt the voicemail actions play (each language of a flow using them needs all).
pub const PROMPTS: &[&str] = &[
    "vm-beep",
    "vm-person-at",
    "vm-unavailable",
    "vm-busy",
    "vm-leave-after-tone",
    "vm-mailbox-full",
    "vm-no-mailbox",
    "vm-too-short",
    "vm-message-saved-thanks",
    "vm-review",
    "vm-enter-box",
    "vm-enter-password",
    "vm-login-incorrect",
    "vm-locked",
    "vm-you-have",
    "vm-new",
    "vm-saved",
    "vm-messages",
    "vm-message",
    "vm-and",
    "vm-no-messages",
    "vm-message-from",
    "vm-received",
    "vm-main-menu",
    "vm-msg-menu",
    "vm-message-saved",
    "vm-message-deleted",
    "vm-no-more",
    "vm-enter-forward",
    "vm-forwarded",
    "vm-callback-soon",
    "vm-options",
    "vm-record-after-tone",
    "vm-greeting-saved",
    "vm-new-password",
    "vm-password-changed",
    "invalid",
    "timeout",
    "goodbye",
];

/// Load-time check: every voicemail prompt exists in every language of the flow.
pub fn check_prompts(cx: &mut crate::apps::ivr::ParseCx, at: usize) {
    let Some(voice_dir) = cx.voice_dir().map(std::path::Path::to_path_buf) else {
        return;
    };
    let languages: Vec<String> = cx.languages().to_vec();
    for lang in &languages {
        let missing: Vec<&str> = PROMPTS
            .iter()
            .copied()
            .filter(|p| !voice_dir.join(lang).join(format!("{p}.wav")).is_file())
            .collect();
        if !missing.is_empty() {
            let message = format!(
                "voicemail prompts missing for language {lang} in {}: {} (voice/generate.sh makes them)",
                voice_dir.display(),
                missing.join(", ")
            );
            cx.error(at, message);
        }
    }
}

/// For `telvox bench --number 8600`: a mailbox every bench caller leaves a 10 s message in (no
/// silence detection: the callers are quiet after their keys), added to the bench's temporary configuration in `dir`.
pub fn bench_setup(dir: &std::path::Path) -> std::io::Result<()> {
    let config = dir.join("telvox.toml");
    let text = std::fs::read_to_string(&config)?;
    let text = format!("flows_dir = \"flows\"\n{text}").replacen(
        "[numbers]\n",
        "[numbers]\n\"8600\" = \"vmbench\"\n",
        1,
    );
    std::fs::write(&config, text)?;
    let flows = dir.join("flows");
    std::fs::create_dir_all(&flows)?;
    for entry in std::fs::read_dir(crate::config::DEFAULT_FLOWS_DIR)?.flatten() {
        if entry.path().extension().is_some_and(|e| e == "toml") {
            std::fs::copy(entry.path(), flows.join(entry.file_name()))?;
        }
    }
    std::fs::write(
        flows.join("vmbench.toml"),
        // The bench callers' keys (1234#, 2 s in) go to a `collect` first, so that none ends a
        // message: every message runs to max_message_s.
        "start = \"keys\"\nlanguage = \"en\"\nanswer_after_rings = 0\n[keys]\n\
         collect = { prompts = [\"please-enter\"], min = 1, max = 8, terminator = \"#\", retries = 0, into = \"k\" }\n\
         on = { complete = \"leave\", fail = \"leave\" }\n[leave]\n\
         voicemail_leave = { box = \"600\" }\nnext = \"bye\"\n[bye]\nhangup = true\n",
    )?;
    std::fs::write(
        dir.join("mailboxes.toml"),
        "[defaults]\nmax_messages = 10000\nmax_message_s = 10\nmin_message_ms = 0\nsilence_ms = 0\n\
         [[box]]\nnumber = \"100\"\n[[box]]\nnumber = \"600\"\n",
    )
}

/// For the bench: (messages indexed, bytes of message audio on disk, finished or not).
pub fn bench_written(data_dir: &std::path::Path) -> (u64, u64) {
    let messages = rusqlite::Connection::open_with_flags(
        data_dir.join("telvox.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .and_then(|c| c.query_row("SELECT COUNT(*) FROM vm_messages", [], |r| r.get(0)))
    .unwrap_or(0);
    let dir = data_dir.join("voicemail").join("600");
    let bytes = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0);
    (messages, bytes)
}
