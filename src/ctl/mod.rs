//! The control socket (`<run_dir>/ctl.sock`, DESIGN.md §7): newline-delimited JSON. The CLI sends one
//! request line `{"cmd": "..."}`; the daemon answers with one line `{"ok": true, "data": ...}` or
//! `{"ok": false, "error": "..."}`, and for `events` then streams one JSON object per line.

pub mod client;
pub mod server;

use std::collections::HashMap;

use serde_json::json;

use crate::engine::clock::samples_to_ms;
use crate::engine::events::{CallEvent, EventKind};
use crate::hw::CallRef;

/// Largest request line the server reads.
pub const MAX_REQUEST_BYTES: usize = 4096;

/// Formats a millisecond epoch time as ISO-8601 UTC, the call log's format.
pub fn iso_ms(epoch_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(epoch_ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

/// The `telvox events` line for an event. `starts` remembers each live call's start time so later
/// events can carry a wall-clock time (start + samples).
pub fn event_json(event: &CallEvent, starts: &mut HashMap<CallRef, i64>) -> String {
    let at_ms = samples_to_ms(event.at_sample) as i64;
    let start_ms = match event.kind {
        EventKind::CallStart { start_epoch_ms, .. } => {
            starts.insert(event.call, start_epoch_ms);
            start_epoch_ms
        }
        EventKind::CallEnd { .. } => starts.remove(&event.call).unwrap_or_default(),
        _ => starts.get(&event.call).copied().unwrap_or_default(),
    };
    let mut obj = json!({
        "type": event.type_name(),
        "uniqueid": event.call.to_string(),
        "channel": event.chan.to_string(),
        "at_ms": at_ms,
        "time": iso_ms(start_ms + at_ms),
    });
    let extra = match event.kind {
        EventKind::CallStart {
            src, dst, name, flow, ..
        } => {
            json!({"src": src.as_str(), "dst": dst.as_str(), "clid": name.as_str(), "flow": flow.as_str()})
        }
        EventKind::Answer | EventKind::Flash => json!({}),
        EventKind::Digit { digit } => json!({"digit": digit.to_string()}),
        EventKind::DigitEnd { digit, duration_ms } => {
            json!({"digit": digit.to_string(), "duration_ms": duration_ms})
        }
        EventKind::State { state } => json!({"state": state.as_str()}),
        EventKind::CallEnd {
            cause,
            disposition,
            digits,
        } => json!({
            "cause": cause.name(),
            "cause_code": cause.q850(),
            "disposition": disposition.as_str(),
            "digits": digits.as_str(),
            "duration_ms": at_ms,
        }),
    };
    if let (Some(o), serde_json::Value::Object(e)) = (obj.as_object_mut(), extra) {
        o.extend(e);
    }
    obj.to_string()
}
