//! The daemon side of the control socket.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use super::MAX_REQUEST_BYTES;
use crate::daemon::DaemonState;
use crate::engine::status::ChanState;
use crate::store::Store;

/// Control connections served at once; more are refused with a message.
const MAX_CONNECTIONS: usize = 64;
/// How long a client may take to send its request line.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Server {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    pub fn start(path: &Path, state: Arc<DaemonState>) -> Result<Server> {
        if path.exists() {
            // Left by a daemon that died: the pid lock already proved no daemon owns it.
            std::fs::remove_file(path).with_context(|| format!("cannot remove stale {}", path.display()))?;
        }
        let listener = UnixListener::bind(path)
            .with_context(|| format!("cannot bind the control socket {}", path.display()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
        crate::daemon::give_to_telvox_group(path);
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("ctl".into())
            .spawn(move || accept_loop(listener, state, stop_flag))?;
        Ok(Server {
            path: path.to_path_buf(),
            stop,
            thread: Some(thread),
        })
    }

    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept with a connection of our own.
        let _ = UnixStream::connect(&self.path);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn accept_loop(listener: UnixListener, state: Arc<DaemonState>, stop: Arc<AtomicBool>) {
    let active = Arc::new(AtomicUsize::new(0));
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(mut conn) = conn else { continue };
        if active.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
            let _ = writeln!(
                conn,
                "{}",
                json!({"ok": false, "error": "too many control connections"})
            );
            continue;
        }
        active.fetch_add(1, Ordering::SeqCst);
        let (state, active) = (state.clone(), active.clone());
        let spawned = std::thread::Builder::new()
            .name("ctl-conn".into())
            .spawn(move || {
                let _ = serve(conn, &state);
                active.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            tracing::warn!("control: cannot start a connection thread");
        }
    }
}

fn serve(conn: UnixStream, state: &DaemonState) -> std::io::Result<()> {
    conn.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    let mut line = String::new();
    BufReader::new((&conn).take(MAX_REQUEST_BYTES as u64)).read_line(&mut line)?;
    let mut out = conn.try_clone()?;
    let request: Value = match serde_json::from_str(line.trim()) {
        Ok(v) => v,
        Err(e) => return reply_err(&mut out, &format!("malformed request: {e}")),
    };
    match request.get("cmd").and_then(Value::as_str) {
        Some("status") => reply_ok(&mut out, status_json(state)),
        Some("channels") => reply_ok(&mut out, channels_json(state)),
        Some("reload") => match state.reload() {
            Ok(warnings) => reply_ok(&mut out, json!({"reloaded": true, "warnings": warnings})),
            Err(errors) => {
                let msg = format!(
                    "reload refused, the running configuration is kept:\n{}",
                    errors.join("\n")
                );
                reply_err(&mut out, &msg)
            }
        },
        Some("events") => stream_events(out, state),
        Some("fax_poke") => reply_ok(&mut out, json!({"poked": crate::apps::fax::dispatch::poke()})),
        Some("record") => match crate::apps::recorder::control::record_command(state, &request) {
            Ok(data) => reply_ok(&mut out, data),
            Err(e) => reply_err(&mut out, &e),
        },
        Some("call") => match crate::apps::extensions::call_command(state, &request) {
            Ok(data) => reply_ok(&mut out, data),
            Err(e) => reply_err(&mut out, &e),
        },
        Some(other) => reply_err(&mut out, &format!("unknown command \"{other}\"")),
        None => reply_err(&mut out, "request has no \"cmd\""),
    }
}

fn reply_ok(out: &mut UnixStream, data: Value) -> std::io::Result<()> {
    writeln!(out, "{}", json!({"ok": true, "data": data}))
}

fn reply_err(out: &mut UnixStream, error: &str) -> std::io::Result<()> {
    writeln!(out, "{}", json!({"ok": false, "error": error}))
}

fn stream_events(mut out: UnixStream, state: &DaemonState) -> std::io::Result<()> {
    let Some(rx) = crate::daemon::subscribe(state) else {
        return reply_err(&mut out, "too many event listeners");
    };
    reply_ok(&mut out, json!({"streaming": true}))?;
    loop {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(line) => writeln!(out, "{line}")?,
            Err(crossbeam::channel::RecvTimeoutError::Timeout) if state.stopping.load(Ordering::SeqCst) => {
                return Ok(())
            }
            Err(crossbeam::channel::RecvTimeoutError::Timeout) => {}
            Err(crossbeam::channel::RecvTimeoutError::Disconnected) => return Ok(()),
        }
    }
}

fn local_midnight_epoch_ms() -> i64 {
    let now = chrono::Local::now();
    now.date_naive()
        .and_hms_opt(0, 0, 0)
        .and_then(|t| t.and_local_timezone(chrono::Local).earliest())
        .map_or(0, |t| t.timestamp_millis())
}

fn status_json(state: &DaemonState) -> Value {
    let runtime = state.router.current();
    let card = state.card.snapshot();
    let store = state.store.snapshot();
    let calls_today = Store::open_readonly(&runtime.config.db_path())
        .and_then(|s| s.calls_since(local_midnight_epoch_ms()))
        .ok();
    let count = |wanted: ChanState| state.channels.iter().filter(|c| c.state() == wanted).count();
    let calls_since_start: u64 = state
        .channels
        .iter()
        .map(|c| c.calls.load(Ordering::Relaxed))
        .sum();
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "pid": std::process::id(),
        "uptime_s": state.started.elapsed().as_secs(),
        "config": state.config_path.display().to_string(),
        "clock": state.clock,
        "reloads": state.reloads.load(Ordering::Relaxed),
        "spans": state.spans,
        "span_health": state.span_health.as_ref().map(|h| h.report()),
        "channels": {
            "total": state.channels.len(),
            "idle": count(ChanState::Idle),
            "ringing": count(ChanState::Ringing),
            "up": count(ChanState::Up),
            "down": count(ChanState::Down),
            "alarm": count(ChanState::Alarm),
        },
        "calls_today": calls_today,
        "fax_queue": crate::apps::fax::queue::state_counts(&runtime.config.db_path()),
        "calls_since_start": calls_since_start,
        "event_listeners": crate::daemon::event_listeners(state),
        "counters": {
            "late_blocks": card.late_blocks,
            "dropped_blocks": card.tx_overruns + card.rx_overruns,
            "underruns": card.underruns,
            "missed_ticks": card.missed_ticks,
            "congestion": card.congestion,
            "overflow_bytes": card.overflow_bytes,
            "dropped_events": state.events.dropped.load(Ordering::Relaxed),
            "fax_back_dropped": crate::apps::fax::dispatch::faxback_dropped(),
            "ticks": card.ticks,
        },
        "store": store,
        "recording": state.recorder.status_json(),
        "voicemail": crate::apps::voicemail::db::status_json(&runtime.config),
        "fax_sessions": crate::apps::fax::record::status_json(&runtime.config.db_path(), local_midnight_epoch_ms()),
    })
}

fn channels_json(state: &DaemonState) -> Value {
    let list: Vec<_> = state.channels.iter().map(|c| c.snapshot()).collect();
    json!(list)
}
