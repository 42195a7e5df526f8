//! Supervisor playback of call recordings by phone (issue #7 item 5): supervisors defined in
//! `supervisors.toml`, the IVR action `recording_review` (log in, search by agent or caller and
//! day, hear the recordings with replay / next / previous / ±10 s), and `telvox sup`.
//!
//! - [`config`]: supervisors.toml, validated with file:line:col; `telvox sup passwd` rewrites it.
//! - [`service`]: the worker thread (PINs and lockout, searches, loading recordings) a call's
//!   action talks to without waiting.
//! - [`review`]: the IVR action.
//! - [`cli`]: `telvox sup list|passwd`.
//!
//! Agents: a recording's `agent` column is set from the flow variable `agent` (`set = { agent =
//! "7001" }`, or `"${called}"` on an agent's direct line); the ACD will set it when it comes.

pub mod cli;
pub mod config;
pub mod review;
pub mod service;

use std::sync::Arc;

use crate::apps::ivr::action::{ActionKind, IvrCall};
use crate::apps::ivr::Flow;
use crate::fixed::{FixedStr, Label, Number};
use crate::voice::Prompt;

pub use config::Supervisors;
pub use service::Service;

use service::{By, Slot, MAX_LIST, MAX_SCRIPT};

/// The action supervisor playback adds to the IVR registry.
pub const KINDS: &[ActionKind] = &[ActionKind {
    key: "recording_review",
    parse: review::Review::parse,
}];

/// How often an action waiting for the worker looks.
pub const POLL_MS: u64 = 20;

/// Every prompt `recording_review` plays (each language of a flow using it needs all).
pub const PROMPTS: &[&str] = &[
    "sup-enter-id",
    "sup-search-menu",
    "sup-enter-number",
    "sup-enter-date",
    "sup-recordings",
    "sup-no-recordings",
    "sup-seconds",
    "sup-no-more",
    "sup-unavailable",
    "sup-player-menu",
    "vm-enter-password",
    "vm-login-incorrect",
    "vm-locked",
    "invalid",
    "timeout",
];

/// Load-time check: every prompt exists in every language of the flow.
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
                "recording_review prompts missing for language {lang} in {}: {} (voice/generate.sh makes \
                 them for en and zh)",
                voice_dir.display(),
                missing.join(", ")
            );
            cx.error(at, message);
        }
    }
}

/// A call's review state, made when `recording_review` first runs on the call.
pub struct SupCall {
    pub slot: Arc<Slot>,
    /// The worker, kept so audio still held when the call ends is freed there.
    pub service: Option<Arc<Service>>,
    pub seq: u32,
    pub polls: u32,
    pub started: std::time::Instant,
    pub phase: u8,
    pub attempts: u32,
    pub after: u8,
    pub outcome: &'static str,
    pub entry: FixedStr<32>,
    pub id: Number,
    pub by: By,
    pub key: Number,
    pub ids: [i64; MAX_LIST],
    pub count: usize,
    pub index: usize,
    /// Whether the last move was towards later recordings (an unavailable one is skipped so).
    pub forward: bool,
    pub audio: Option<Arc<Prompt>>,
    /// Where playback of `audio` started (samples into it) and when (the call's clock).
    pub base_samples: usize,
    pub started_at: u64,
    pub script: [Label; MAX_SCRIPT],
    pub script_len: usize,
}

impl SupCall {
    fn new() -> SupCall {
        SupCall {
            slot: Arc::new(Slot::default()),
            service: None,
            seq: 0,
            polls: 0,
            started: std::time::Instant::now(),
            phase: 0,
            attempts: 0,
            after: 0,
            outcome: "",
            entry: FixedStr::new(),
            id: Number::new(),
            by: By::Agent,
            key: Number::new(),
            ids: [0; MAX_LIST],
            count: 0,
            index: 0,
            forward: true,
            audio: None,
            base_samples: 0,
            started_at: 0,
            script: [Label::new(); MAX_SCRIPT],
            script_len: 0,
        }
    }

    fn reset(&mut self) {
        self.phase = 0;
        self.attempts = 0;
        self.after = 0;
        self.polls = 0;
        self.entry.clear();
        self.count = 0;
        self.index = 0;
        self.script_len = 0;
    }
}

impl Drop for SupCall {
    fn drop(&mut self) {
        // A recording mixed down in memory can be large: freed on the worker, not here.
        if let (Some(audio), Some(svc)) = (self.audio.take(), self.service.as_ref()) {
            svc.release(&self.slot, audio);
        }
    }
}

/// The call's review state, made at the action's first enter (the one allocation).
pub fn sup_call(call: &mut IvrCall) -> &mut SupCall {
    call.supervisor.get_or_insert_with(|| Box::new(SupCall::new()))
}

pub fn service(flow: &Flow) -> Option<&Arc<Service>> {
    flow.business().and_then(|b| b.supervisor())
}
