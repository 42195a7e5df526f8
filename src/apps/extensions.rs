//! Analog extensions, the daemon's side: which number each extension channel answers to (the hw
//! map's `extensions`), the dial plan its phone dials into, and message waiting — one lock-free
//! counter per extension that the voicemail worker updates (off the channel threads) and the
//! extension's line state machine reads (stutter dial tone, VMWI).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;

use crate::config::Config;
use crate::engine::line::extension::{default_fsk, ExtensionLine};
use crate::fixed::Number;
use crate::hw::{ChanId, ChannelWaker};

/// New-message counters by extension number, and the wakers of the extensions' channels (a
/// change wakes an idle line so its phone is sent VMWI at once, even on a card that sends an idle
/// line no blocks).
#[derive(Default)]
pub struct MwiBoard {
    boxes: HashMap<String, Arc<AtomicU32>>,
    wakers: HashMap<String, OnceLock<Arc<dyn ChannelWaker>>>,
    /// telvox.toml's exact `[numbers]`, shared by every extension line; replaced on reload.
    dial_plan: Arc<ArcSwap<Vec<Number>>>,
}

impl std::fmt::Debug for MwiBoard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MwiBoard")
            .field("boxes", &self.boxes)
            .finish_non_exhaustive()
    }
}

impl MwiBoard {
    /// One counter per extension number in the map, seeded from the voicemail index when there is
    /// one (a box with the extension's number).
    pub fn new(config: &Config) -> Self {
        let mut boxes = HashMap::new();
        let mut wakers = HashMap::new();
        for span in &config.hw.spans {
            for number in &span.extensions {
                boxes.insert(number.clone(), Arc::new(AtomicU32::new(0)));
                wakers.insert(number.clone(), OnceLock::new());
            }
        }
        let board = Self {
            boxes,
            wakers,
            dial_plan: Arc::new(ArcSwap::from_pointee(exact_numbers(config))),
        };
        if config.voicemail.is_some() && !board.boxes.is_empty() {
            let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
            if let Ok(conn) = rusqlite::Connection::open_with_flags(config.db_path(), flags) {
                for (box_, new, _) in crate::apps::voicemail::db::new_counts(&conn).unwrap_or_default() {
                    board.update(&box_, new);
                }
            }
        }
        board
    }

    /// A box's new-message count changed (called by the voicemail worker).
    pub fn update(&self, box_: &str, new: u32) {
        if let Some(count) = self.boxes.get(box_) {
            count.store(new, Ordering::Relaxed);
            if let Some(waker) = self.wakers.get(box_).and_then(OnceLock::get) {
                waker.wake();
            }
        }
    }

    /// Remembers the waker of extension `number`'s channel; wakes it at once when messages wait
    /// (the phone is sent VMWI at start).
    pub fn set_waker(&self, number: &str, waker: Option<Arc<dyn ChannelWaker>>) {
        let (Some(slot), Some(waker)) = (self.wakers.get(number), waker) else {
            return;
        };
        let _ = slot.set(waker.clone());
        if self
            .boxes
            .get(number)
            .is_some_and(|c| c.load(Ordering::Relaxed) > 0)
        {
            waker.wake();
        }
    }

    /// The counter of one extension number.
    pub fn counter(&self, number: &str) -> Option<Arc<AtomicU32>> {
        self.boxes.get(number).cloned()
    }

    /// What the line state machine of extension channel `chan` needs; None when its span is not
    /// an extension span.
    pub fn line_for(&self, config: &Config, chan: ChanId) -> Option<ExtensionLine> {
        let span = config.hw.spans.iter().find(|s| s.span == chan.span)?;
        if span.signalling.role() != crate::hw::Role::Extension {
            return None;
        }
        let number = span.extensions.get(usize::from(chan.chan).checked_sub(1)?);
        Some(ExtensionLine {
            number: number.map_or_else(Number::new, |n| Number::from_str_truncating(n)),
            messages: number
                .and_then(|n| self.counter(n))
                .unwrap_or_else(|| Arc::new(AtomicU32::new(0))),
            exact_numbers: self.dial_plan.clone(),
            fsk: span.phone_callerid.unwrap_or_else(|| default_fsk(span.country)),
            dtmf: span.dtmf,
            utc_offset_s: crate::engine::line::extension::local_utc_offset_s(),
        })
    }

    /// A reloaded configuration's `[numbers]` for the phones' next calls.
    pub fn set_dial_plan(&self, config: &Config) {
        self.dial_plan.store(Arc::new(exact_numbers(config)));
    }

    /// The channel that answers to extension `number`.
    pub fn channel_of(config: &Config, number: &str) -> Option<ChanId> {
        config.hw.spans.iter().find_map(|span| {
            let index = span.extensions.iter().position(|n| n == number)?;
            Some(ChanId {
                span: span.span,
                chan: u16::try_from(index + 1).ok()?,
            })
        })
    }
}

/// The exact numbers of `[numbers]` (patterns cannot end dialling early).
fn exact_numbers(config: &Config) -> Vec<Number> {
    config
        .numbers
        .keys()
        .filter(|n| !n.starts_with('_'))
        .map(|n| Number::from_str_truncating(n))
        .collect()
}

/// How long `telvox call` waits for the extension's channel to take the call.
const TAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);
/// Default and largest ring time of `telvox call`.
const DEFAULT_RING_TIMEOUT_S: u64 = 30;
const MAX_RING_TIMEOUT_S: u64 = 300;

/// `{"cmd":"call","number":"601","flow":"NAME","from":"8000","ring_timeout_s":30}`: rings extension
/// `number` and runs flow NAME when the phone is lifted (a wake-up or announcement call). Replies
/// with the call id and channel once the channel has dialled.
pub fn call_command(
    state: &crate::daemon::DaemonState,
    request: &serde_json::Value,
) -> Result<serde_json::Value, String> {
    use crate::engine::app::CallSetup;
    use crate::engine::originate::{OriginatePhase, OriginateReport, OriginateRequest};
    use crate::hw::{CallInfo, CallRef};

    let number = request["number"].as_str().unwrap_or_default();
    let flow_name = request["flow"].as_str().unwrap_or_default();
    let runtime = state.router.current();
    let config = &runtime.config;
    let chan = MwiBoard::channel_of(config, number).ok_or_else(|| {
        let known: Vec<&str> = config
            .hw
            .spans
            .iter()
            .flat_map(|s| s.extensions.iter().map(String::as_str))
            .collect();
        format!(
            "{number:?} is not an extension of the hardware map (extensions: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        )
    })?;
    let flow = runtime.flows.get(flow_name).ok_or_else(|| {
        let names: Vec<&str> = runtime.flows.names().collect();
        format!("no flow {flow_name:?} in flows_dir (flows: {})", names.join(", "))
    })?;
    let from = request["from"].as_str().unwrap_or_default();
    if from.len() > 20
        || !from
            .chars()
            .all(|c| c.is_ascii_digit() || c == '*' || c == '#' || c == '+')
    {
        return Err(format!("--from {from:?} is not a number"));
    }
    let ring_timeout_s = request["ring_timeout_s"]
        .as_u64()
        .unwrap_or(DEFAULT_RING_TIMEOUT_S)
        .clamp(1, MAX_RING_TIMEOUT_S);
    let status = state
        .channels
        .iter()
        .find(|c| c.id == chan)
        .ok_or_else(|| format!("channel {chan} of extension {number} is not running"))?;
    let info = CallInfo {
        from: Number::from_str_truncating(from),
        to: Number::from_str_truncating(number),
        ..Default::default()
    };
    // The flow's variables are made here, before the channel gives the call its id.
    let setup = CallSetup {
        call: CallRef::default(),
        chan,
        info,
        country: config
            .hw
            .spans
            .iter()
            .find(|s| s.span == chan.span)
            .map_or(crate::config::DEFAULT_COUNTRY, |s| s.country),
    };
    let report = OriginateReport::new();
    let request = OriginateRequest {
        number: info.to,
        from: info.from,
        app: Box::new(Originated(crate::apps::ivr::Ivr::new(flow.clone(), &setup))),
        ring_timeout_ms: (ring_timeout_s * 1000) as u32,
        report: report.clone(),
    };
    if status.originate.offer(request).is_err() {
        return Err(format!(
            "extension {number} already has a call waiting to be placed"
        ));
    }
    let deadline = std::time::Instant::now() + TAKE_TIMEOUT;
    while report.phase() == OriginatePhase::Waiting {
        if std::time::Instant::now() >= deadline {
            if status.originate.reclaim().is_some() {
                return Err(format!(
                    "extension {number} is busy (channel {chan} did not take the call)"
                ));
            }
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let call = report.call().map(|c| c.to_string());
    let outcome = report.outcome().map(|o| o.disposition.as_str());
    Ok(serde_json::json!({
        "call": call,
        "channel": chan.to_string(),
        "number": number,
        "flow": flow_name,
        "ended": outcome,
    }))
}

/// A flow run on a call telvox places: it starts when the far end answers. A flow's own
/// `answer_after_rings` is about calls it receives, so the offer and rings are not passed on (an
/// IVR that answered its own outbound call would run before anyone is there).
struct Originated(crate::apps::ivr::Ivr);

impl crate::engine::app::App for Originated {
    fn flow(&self) -> crate::fixed::Label {
        self.0.flow()
    }
    fn on_answered(&mut self, cx: &mut crate::engine::app::CallCx) {
        self.0.on_answered(cx)
    }
    fn on_digit(&mut self, cx: &mut crate::engine::app::CallCx, digit: char) {
        self.0.on_digit(cx, digit)
    }
    fn on_prompts_done(&mut self, cx: &mut crate::engine::app::CallCx) {
        self.0.on_prompts_done(cx)
    }
    fn on_timer(&mut self, cx: &mut crate::engine::app::CallCx) {
        self.0.on_timer(cx)
    }
    fn on_audio(&mut self, cx: &mut crate::engine::app::CallCx, rx: &[i16], tx: &mut [i16]) {
        self.0.on_audio(cx, rx, tx)
    }
    fn wants_audio(&self) -> bool {
        self.0.wants_audio()
    }
}
