//! Shared helpers for the end-to-end tests: a real daemon (the built binary) on a copy of etc/ with
//! the lockstep clock, far-end parties over the sim socket, the CLI, and prompt fingerprints.
#![allow(dead_code)]

pub mod smtp;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use telvox::hw::sim::client::{run_call, CallOutcome, Party};
use telvox::hw::sim::protocol::PartyOp;
use telvox::hw::{Block, Law, BLOCK_SAMPLES};

pub const BIN: &str = env!("CARGO_BIN_EXE_telvox");
pub const REPO: &str = env!("CARGO_MANIFEST_DIR");

/// A deterministic pseudo-random sequence (xorshift64*): a failing seed reproduces.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A telvox daemon on its own copy of etc/, killed (and its directory removed) on drop.
pub struct TestDaemon {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    child: Option<Child>,
}

impl TestDaemon {
    /// Copies etc/ with run_dir/data_dir inside a fresh directory and the lockstep clock, applies
    /// `edit` to the config text, and starts the daemon.
    pub fn start_with(edit: impl FnOnce(String) -> String) -> TestDaemon {
        let daemon = Self::prepare(edit);
        daemon.launch()
    }

    pub fn start() -> TestDaemon {
        Self::start_with(|c| c)
    }

    /// Writes the config without starting the daemon.
    pub fn prepare(edit: impl FnOnce(String) -> String) -> TestDaemon {
        let dir = tempfile::tempdir().expect("tempdir");
        copy_tree(&Path::new(REPO).join("etc"), dir.path());
        let config = dir.path().join("telvox.toml");
        let text = std::fs::read_to_string(&config).expect("etc/telvox.toml");
        let text = set_key(&text, "run_dir", "\"run\"");
        let text = set_key(&text, "data_dir", "\"data\"");
        let text = set_key(&text, "clock", "\"lockstep\"");
        std::fs::write(&config, edit(text)).expect("write config");
        TestDaemon {
            dir,
            config,
            child: None,
        }
    }

    pub fn launch(mut self) -> TestDaemon {
        self.relaunch();
        self
    }

    /// Starts the daemon again on the same directory (after `kill_9` or `stop`).
    pub fn relaunch(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("daemon.log")).expect("log");
        let child = Command::new(BIN)
            .args(["daemon", "--foreground", "--config"])
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn daemon");
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.ctl_ok() {
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("daemon exited during start ({status}):\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("daemon not ready in 30 s:\n{}", self.log());
    }

    fn ctl_ok(&self) -> bool {
        self.sim_socket().exists() && self.cli(&["status", "--json"]).status.success()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    pub fn sim_socket(&self) -> PathBuf {
        self.dir.path().join("run/sim.sock")
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("data/telvox.db")
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Runs `telvox --config <this> ARGS`.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .output()
            .expect("run telvox")
    }

    pub fn cli_json(&self, args: &[&str]) -> Value {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "telvox {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "telvox {args:?}: not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    pub fn calls(&self) -> Vec<Value> {
        self.cli_json(&["calls", "--json", "--limit", "10000"])
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub fn channels(&self) -> Vec<Value> {
        self.cli_json(&["channels", "--json"])
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Waits until `pred` holds for the call log (the store writes asynchronously).
    /// The states a call went through (`call_path`), once the call is logged as ended.
    pub fn call_path(&self, call_id: &str) -> Vec<String> {
        self.wait_calls("the call to be closed", |c| {
            c.iter().any(|x| x["uniqueid"] == call_id && x["end"].is_string())
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        let db = rusqlite::Connection::open(self.db_path()).expect("open the call log");
        loop {
            let mut query = db
                .prepare("SELECT state FROM call_path WHERE uniqueid = ?1 ORDER BY idx")
                .expect("query");
            let rows = query
                .query_map([call_id], |row| row.get::<_, String>(0))
                .expect("rows");
            let path: Vec<String> = rows.map(|r| r.expect("row")).collect();
            if !path.is_empty() || Instant::now() > deadline {
                return path;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn wait_calls(&self, what: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let calls = self.calls();
            if pred(&calls) {
                return calls;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; calls: {calls:#?}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until every channel is idle again.
    pub fn wait_all_idle(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let busy: Vec<Value> = self
                .channels()
                .into_iter()
                .filter(|c| c["state"] != "idle")
                .collect();
            if busy.is_empty() {
                return;
            }
            assert!(Instant::now() < deadline, "channels still busy: {busy:#?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `telvox events` running against this daemon: its lines as they come. Returns once the daemon
    /// counts the new listener in `telvox status`, so no event after this call is missed.
    pub fn events(&self) -> EventLines {
        let listeners = || {
            self.cli_json(&["status", "--json"])["event_listeners"]
                .as_u64()
                .expect("event_listeners")
        };
        let before = listeners();
        let mut child = Command::new(BIN)
            .arg("--config")
            .arg(&self.config)
            .arg("events")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("run telvox events");
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        while listeners() <= before {
            assert!(Instant::now() < deadline, "telvox events never subscribed");
            std::thread::sleep(Duration::from_millis(10));
        }
        EventLines { child, lines: rx }
    }

    pub fn party(&self) -> Party {
        Party::connect(&self.sim_socket()).expect("connect to the sim socket")
    }

    /// Stops the daemon with SIGKILL, as a crash would.
    pub fn kill_9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("kill -9");
            child.wait().expect("reap");
        }
    }

    /// Stops the daemon with SIGTERM and waits for it.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::SIGTERM).expect("SIGTERM");
        child.wait().expect("wait")
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Copies a directory tree (the whole of etc/, flows included: a copy of etc/ runs anywhere).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let dest = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), &dest).expect("copy");
        }
    }
}

/// Replaces `key = ...` (first occurrence, at the start of a line) in TOML text.
pub fn set_key(text: &str, key: &str, value: &str) -> String {
    let mut done = false;
    text.lines()
        .map(|line| {
            let is_key = line.split('=').next().is_some_and(|k| k.trim() == key)
                && !line.trim_start().starts_with('#');
            if is_key && !done {
                done = true;
                format!("{key} = {value}")
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

pub fn dial(to: &str, from: &str) -> PartyOp {
    PartyOp::Dial {
        to: to.into(),
        from: Some(from.into()),
        name: None,
        span: None,
    }
}

pub fn silence() -> Block {
    [Law::Alaw.silence_byte(); BLOCK_SAMPLES]
}

/// DTMF keys pre-rendered as A-law blocks (60 ms on, 60 ms off, -10 dBm0 per tone).
pub fn key_blocks(keys: &str) -> Vec<Block> {
    key_blocks_in(keys, Law::Alaw)
}

/// DTMF keys pre-rendered in `law`.
pub fn key_blocks_in(keys: &str, law: Law) -> Vec<Block> {
    use telvox::dsp::dtmf_gen::{keys_to_blocks, DtmfConfig};
    keys_to_blocks(DtmfConfig::new(law), keys).expect("keys")
}

/// Calls `number` and presses `keys` starting at block `keys_at`; hangs up at block `hangup_at`.
pub fn call_with_keys(
    party: &mut Party,
    number: &str,
    keys: &str,
    keys_at: usize,
    hangup_at: Option<usize>,
) -> CallOutcome {
    let keys = key_blocks(keys);
    run_call(
        party,
        &dial(number, "13800138000"),
        Duration::from_secs(20),
        |blocks, _| {
            if hangup_at.is_some_and(|h| blocks >= h) {
                return None;
            }
            Some(
                blocks
                    .checked_sub(keys_at)
                    .and_then(|k| keys.get(k).copied())
                    .unwrap_or_else(silence),
            )
        },
    )
    .expect("call")
}

/// A prompt's audio as it goes out on an A-law line.
pub fn prompt_alaw(language: &str, name: &str) -> Vec<u8> {
    prompt_encoded(language, name, Law::Alaw)
}

/// A prompt's audio as it goes out on a line in `law`.
pub fn prompt_encoded(language: &str, name: &str, law: Law) -> Vec<u8> {
    let path = Path::new(REPO)
        .join("voice")
        .join(language)
        .join(format!("{name}.wav"));
    let prompt = telvox::voice::Prompt::load(&path).expect("prompt");
    let mut lin = vec![0i16; prompt.len_samples()];
    prompt.read_linear(0, &mut lin);
    lin.iter().map(|&s| telvox::dsp::g711::encode(law, s)).collect()
}

/// Where `needle` first occurs in `hay` at or after `from`.
pub fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    (from..=hay.len() - needle.len()).find(|&i| hay[i..i + needle.len()] == *needle)
}

/// Normalised cross-correlation of two equal-length linear signals (1.0 = identical shape).
pub fn correlation(a: &[i16], b: &[i16]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(&x, &y)| f64::from(x) * f64::from(y)).sum();
    let ea: f64 = a.iter().map(|&x| f64::from(x).powi(2)).sum();
    let eb: f64 = b.iter().map(|&y| f64::from(y).powi(2)).sum();
    dot / (ea.sqrt() * eb.sqrt()).max(1e-9)
}

/// Asserts the prompts occur in `heard` in this order; returns their start offsets.
pub fn assert_prompts_in_order(heard: &[u8], language: &str, names: &[&str]) -> Vec<usize> {
    let mut from = 0;
    let mut at = Vec::new();
    for name in names {
        let audio = prompt_alaw(language, name);
        let pos = find(heard, &audio, from).unwrap_or_else(|| {
            panic!(
                "prompt {name} not heard after offset {from} (heard {} bytes; so far {at:?})",
                heard.len()
            )
        });
        at.push(pos);
        from = pos + audio.len();
    }
    at
}

/// A running `telvox events` (killed when dropped) and its lines.
pub struct EventLines {
    child: Child,
    pub lines: std::sync::mpsc::Receiver<String>,
}

impl EventLines {
    /// The next event (a parsed line) that `wanted` accepts, within `timeout`; None if none came.
    pub fn next_event(&self, timeout: Duration, wanted: impl Fn(&Value) -> bool) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let line = self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .ok()?;
            match serde_json::from_str::<Value>(&line) {
                Ok(event) if wanted(&event) => return Some(event),
                _ => {}
            }
        }
    }
}

impl Drop for EventLines {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
