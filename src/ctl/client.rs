//! The CLI side of the control socket.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};

/// How long the CLI waits for an answer (a reload reloads prompts: allow some seconds).
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

fn connect(socket: &Path) -> Result<UnixStream> {
    UnixStream::connect(socket).with_context(|| {
        format!(
            "cannot reach the telvox daemon at {} — is it running? (start it with `telvox daemon`, or pass --config for another instance)",
            socket.display()
        )
    })
}

/// Sends one command and returns its `data`, or the daemon's error as an error.
pub fn request(socket: &Path, cmd: &str) -> Result<Value> {
    request_json(socket, &json!({"cmd": cmd}))
}

/// Sends one request object (with its `cmd` and arguments) and returns its `data`.
pub fn request_json(socket: &Path, request: &Value) -> Result<Value> {
    let mut conn = connect(socket)?;
    conn.set_read_timeout(Some(REPLY_TIMEOUT))?;
    writeln!(conn, "{request}")?;
    let mut line = String::new();
    BufReader::new(&conn).read_line(&mut line)?;
    parse_reply(&line)
}

fn parse_reply(line: &str) -> Result<Value> {
    if line.trim().is_empty() {
        bail!("the daemon closed the connection without answering");
    }
    let reply: Value = serde_json::from_str(line.trim()).context("the daemon's reply is not JSON")?;
    if reply.get("ok").and_then(Value::as_bool) == Some(true) {
        return Ok(reply.get("data").cloned().unwrap_or(Value::Null));
    }
    let error = reply
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or("unknown error");
    Err(anyhow!("{error}"))
}

/// Streams `telvox events` lines to `out` until the daemon stops or `out` fails.
pub fn stream_events(socket: &Path, mut out: impl Write) -> Result<()> {
    let mut conn = connect(socket)?;
    writeln!(conn, "{}", json!({"cmd": "events"}))?;
    let mut reader = BufReader::new(&conn);
    let mut first = String::new();
    reader.read_line(&mut first)?;
    parse_reply(&first)?;
    for line in reader.lines() {
        let line = line?;
        if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
            return Ok(());
        }
    }
    Ok(())
}
