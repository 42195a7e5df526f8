//! `telvox record CALLID start|stop`: on-demand recording through the control socket. The call's
//! channel is found by its call id; its call tap is attached (or closed) from the control thread —
//! the channel thread only sees the lock-free slot change.

use serde_json::{json, Value};

use super::ON_DEMAND;
use crate::daemon::DaemonState;
use crate::engine::app::CallSetup;
use crate::engine::status::ChanState;
use crate::engine::tap::RecordFormat;
use crate::hw::{CallInfo, CallRef};

fn parse_call(text: &str) -> Option<CallRef> {
    let (epoch, seq) = text.split_once('.')?;
    Some(CallRef {
        epoch_s: epoch.parse().ok()?,
        seq: seq.parse().ok()?,
    })
}

/// `{"cmd":"record","call":"ID","action":"start"|"stop","format":"stereo"}`.
pub fn record_command(state: &DaemonState, request: &Value) -> Result<Value, String> {
    let call_text = request["call"].as_str().unwrap_or_default();
    let call = parse_call(call_text).ok_or_else(|| {
        format!("\"{call_text}\" is not a call id (e.g. 1763900000.42: see `telvox channels`)")
    })?;
    let format = match request["format"].as_str() {
        None => None,
        Some(name) => Some(
            RecordFormat::parse(name)
                .ok_or_else(|| format!("unknown format \"{name}\": expected alaw, pcm16 or stereo"))?,
        ),
    };
    let in_call = |c: &crate::engine::status::ChanStatus| {
        let snap = c.snapshot();
        snap.state == ChanState::Up && snap.uniqueid.as_deref() == Some(call_text)
    };
    let chan = state
        .channels
        .iter()
        .find(|c| in_call(c))
        .ok_or_else(|| format!("no answered call {call_text} in progress (see `telvox channels`)"))?;
    match request["action"].as_str() {
        Some("start") => {
            if chan.call_tap.is_attached() {
                return Ok(json!({"call": call_text, "recording": true, "already": true}));
            }
            let setup = CallSetup {
                call,
                chan: chan.id,
                info: CallInfo::default(),
                // Only the call's identity matters to the recorder; the tone plan is unused.
                country: crate::config::DEFAULT_COUNTRY,
            };
            let format = format.unwrap_or_else(|| state.router.current().config.recording.on_demand_format);
            let tap = state
                .recorder
                .begin(&setup, "", format, ON_DEMAND)
                .ok_or_else(|| {
                    if state.recorder.low_disk.load(std::sync::atomic::Ordering::Relaxed) {
                        "recording refused: free disk is below min_free_mb (see `telvox status`)".to_string()
                    } else {
                        "recording refused: the recorder is too busy".to_string()
                    }
                })?;
            chan.call_tap.attach(tap);
            if !in_call(chan) {
                // The call ended meanwhile: the recording ends with what it has (nothing).
                chan.call_tap.close();
                return Err(format!("call {call_text} ended"));
            }
            Ok(json!({"call": call_text, "recording": true, "format": format.as_str()}))
        }
        Some("stop") => {
            let was = chan.call_tap.is_attached();
            chan.call_tap.close();
            Ok(json!({"call": call_text, "recording": false, "was_recording": was}))
        }
        _ => Err("action must be \"start\" or \"stop\"".into()),
    }
}
