//! `telvox bench`: loads a real daemon (a child process on a temporary configuration) with N
//! concurrent sim callers in the line-test flow — prompts playing, DTMF detected, callers pressing
//! keys, calls ending and being redialled — and measures the daemon: CPU (from /proc, so the load
//! generator's own CPU is not counted), late blocks, dropped blocks, underruns; and in lockstep mode
//! the throughput in channel-seconds per CPU-second. `--ramp` raises N until blocks turn late.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::socket::{recv, send, MsgFlags};
use serde::Serialize;
use serde_json::Value;

use crate::dsp::dtmf_gen::{keys_to_blocks, DtmfConfig};
use crate::hw::sim::protocol::{self as proto, DaemonMessage, DaemonOp, PartyOp};
use crate::hw::{Block, Law, BLOCKS_PER_SECOND, BLOCK_SAMPLES};

/// Channels per simulated E1 span.
const SPAN_CHANNELS: usize = 30;
/// Callers press their keys this long after the answer (barging in on the welcome prompt).
const KEYS_AT_BLOCKS: usize = 2 * BLOCKS_PER_SECOND as usize;
const BENCH_KEYS: &str = "1234#";
/// The example flow's `hours` sees this (a Monday morning in its time zone), so every bench call is
/// served the menus rather than the closed message.
const BENCH_NOW: &str = "2026-11-23T10:00:00+08:00";
/// Load-generator threads (the machine has two cores; the daemon needs them more).
const WORKERS: usize = 2;

#[derive(clap::Args, Clone, Debug)]
pub struct BenchArgs {
    /// Concurrent calls (the first step with --ramp).
    #[arg(long, default_value_t = 240)]
    pub channels: usize,
    /// Measured seconds per run (after every caller has been answered once).
    #[arg(long, default_value_t = 30)]
    pub seconds: u64,
    /// realtime (20 ms ticks of wall time) or lockstep (as fast as the CPU allows).
    #[arg(long, default_value = "realtime")]
    pub clock: String,
    /// Raise the channel count by --step until blocks turn late; report the largest clean count.
    #[arg(long)]
    pub ramp: bool,
    #[arg(long, default_value_t = 240)]
    pub step: usize,
    #[arg(long, default_value_t = 2040)]
    pub max_channels: usize,
    /// The number callers dial: 8999 (the line test) or 8000 (the shipped example IVR flow, whose
    /// menus the bench keys also drive: 1 Mandarin, then fax, message, two invalid keys), or 8600
    /// (voicemail: every caller leaves a 10 s message, then redials).
    #[arg(long, default_value = "8999")]
    pub number: String,
    /// Run the daemon with realtime = true (SCHED_FIFO + mlockall when permitted).
    #[arg(long)]
    pub realtime_sched: bool,
    /// Record every call in this format (alaw, pcm16 or stereo) and report the recorder's write
    /// throughput, its drops and its CPU.
    #[arg(long, value_parser = ["alaw", "pcm16", "stereo"])]
    pub record: Option<String>,
    #[arg(long)]
    pub json: bool,
}

/// One measured run.
#[derive(Clone, Debug, Serialize)]
pub struct BenchResult {
    pub channels: usize,
    pub seconds: f64,
    pub clock: String,
    pub late_blocks: u64,
    pub dropped_blocks: u64,
    pub underruns: u64,
    pub missed_ticks: u64,
    pub dropped_events: u64,
    /// Calls the card refused because every channel was busy (callers then retry).
    pub congestion: u64,
    /// Daemon CPU over the window, as a percentage of one core.
    pub cpu_percent: f64,
    pub cpu_percent_per_channel: f64,
    /// The sim card thread's share (it does what a DAHDI card's hardware and driver do).
    pub cpu_percent_card: f64,
    /// The channel threads' share: the engine itself.
    pub cpu_percent_channels: f64,
    /// Store, event pump, control socket.
    pub cpu_percent_other: f64,
    /// Audio the callers exchanged, in channel-seconds, and per daemon CPU-second.
    pub channel_seconds: f64,
    pub channel_seconds_per_cpu_second: f64,
    pub calls_completed: u64,
    /// Calls telvox completed normally over the whole run (warm-up included), from the call log.
    pub calls_logged: u64,
    /// Of those, calls whose logged keys were not exactly the keys pressed.
    pub calls_with_wrong_digits: u64,
    /// `--record`: the format every call was recorded in, else None (and the figures below 0).
    pub record: Option<String>,
    /// Audio bytes the recorder wrote per second of the window.
    pub record_bytes_per_second: f64,
    /// Its write() calls per second, and their mean size.
    pub record_writes_per_second: f64,
    pub record_mean_write_bytes: f64,
    /// Blocks the recording rings dropped in the window (the recorder fell behind).
    pub record_dropped_blocks: u64,
    /// Recordings not started (disk below the watermark, recorder queue full), and failed ones.
    pub record_refused: u64,
    pub record_failed: u64,
    /// Recordings finished in the window.
    pub record_finished: u64,
    /// The recorder threads' CPU (recorder + recorder-meta), % of a core; inside cpu_percent_other.
    pub cpu_percent_recorder: f64,
    /// Voicemail (--number 8600): what the writer put on disk in the measured time.
    pub voicemail_bytes_per_second: f64,
    pub voicemail_messages: u64,
    /// Message audio blocks the writer lost since the daemon started (a full ring).
    pub voicemail_lost_blocks: u64,
}

pub fn run(args: &BenchArgs) -> Result<i32> {
    if !matches!(args.clock.as_str(), "realtime" | "lockstep") {
        bail!("--clock {}: expected realtime or lockstep", args.clock);
    }
    if !args.ramp {
        let result = run_once(args, args.channels)?;
        print_result(&result, args.json);
        return Ok(0);
    }
    let mut steps = Vec::new();
    let mut n = args.channels;
    while n <= args.max_channels {
        let result = run_once(args, n)?;
        if !args.json {
            print_result(&result, false);
        }
        let clean =
            result.late_blocks == 0 && result.dropped_blocks == 0 && result.record_dropped_blocks == 0;
        steps.push(result);
        if !clean {
            break;
        }
        n += args.step;
    }
    let largest_clean = steps
        .iter()
        .filter(|r| r.late_blocks == 0 && r.dropped_blocks == 0 && r.record_dropped_blocks == 0)
        .map(|r| r.channels)
        .max();
    if args.json {
        println!(
            "{}",
            serde_json::json!({"ramp": steps, "largest_clean_channels": largest_clean})
        );
    } else {
        println!(
            "largest channel count with zero late blocks: {}",
            largest_clean.map_or("none".into(), |n| n.to_string())
        );
    }
    Ok(0)
}

fn print_result(r: &BenchResult, json: bool) {
    if json {
        println!("{}", serde_json::to_string(r).unwrap_or_default());
        return;
    }
    println!(
        "{} channels, {} clock, {:.0} s: late {} dropped {} underruns {} | daemon CPU {:.1}% of a core ({:.3}%/channel; sim card {:.1}%, channel threads {:.1}%, other {:.1}%) | {:.0} channel-s per CPU-s | {} calls, {} logged, {} with wrong digits",
        r.channels, r.clock, r.seconds, r.late_blocks, r.dropped_blocks, r.underruns, r.cpu_percent, r.cpu_percent_per_channel,
        r.cpu_percent_card, r.cpu_percent_channels, r.cpu_percent_other,
        r.channel_seconds_per_cpu_second, r.calls_completed, r.calls_logged, r.calls_with_wrong_digits
    );
    if let Some(format) = &r.record {
        println!(
            "  recording {format}: {:.2} MB/s written in {:.0} writes/s of {:.0} KB, {} blocks dropped, {} refused, {} failed, {} finished; recorder CPU {:.1}% of a core",
            r.record_bytes_per_second / 1e6,
            r.record_writes_per_second,
            r.record_mean_write_bytes / 1e3,
            r.record_dropped_blocks,
            r.record_refused,
            r.record_failed,
            r.record_finished,
            r.cpu_percent_recorder
        );
    }
}

/// A daemon child on a temporary configuration; killed and cleaned up on drop.
struct BenchDaemon {
    child: Child,
    dir: PathBuf,
    config: PathBuf,
}

impl BenchDaemon {
    fn start(args: &BenchArgs, channels: usize) -> Result<BenchDaemon> {
        let dir = std::env::temp_dir().join(format!("telvox-bench-{}-{channels}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let spans = channels.div_ceil(SPAN_CHANNELS);
        let mut hw = String::from("card = \"sim\"\nring_on_ms = 1000\nring_off_ms = 4000\n");
        for s in 0..spans {
            let n = SPAN_CHANNELS.min(channels - s * SPAN_CHANNELS);
            hw.push_str(&format!("[[span]]\nname = \"bench {s}\"\nlaw = \"alaw\"\nchannels = {n}\nrole = \"trunk\"\nnumbers = [\"_X.\"]\n"));
        }
        std::fs::write(dir.join("hw.toml"), hw)?;
        let config = format!(
            "run_dir = \"run\"\ndata_dir = \"data\"\nhw = \"hw.toml\"\nrealtime = {}\nlog = \"warn\"\n[sim]\nclock = \"{}\"\n[numbers]\n\"8999\" = \"linetest\"\n\"8000\" = \"main\"\n[business]\ntimezone = \"Asia/Shanghai\"\ntest_now = \"{BENCH_NOW}\"\n[linetest]\nlanguage = \"en\"\nanswer_after_rings = 1\nmax_digits = 16\ntimeout_ms = 5000\n",
            args.realtime_sched, args.clock
        );
        let config = match &args.record {
            Some(format) => format!(
                "{config}[recording]\nmin_free_mb = 100\n[[record]]\nname = \"bench\"\nall = true\nformat = \"{format}\"\n"
            ),
            None => config,
        };
        let config_path = dir.join("telvox.toml");
        std::fs::write(&config_path, config)?;
        crate::apps::voicemail::bench_setup(&dir)?;
        let log = std::fs::File::create(dir.join("daemon.log"))?;
        let child = Command::new(std::env::current_exe()?)
            .args(["daemon", "--foreground", "--config"])
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("cannot start the daemon")?;
        let mut daemon = BenchDaemon {
            child,
            dir,
            config: config_path,
        };
        daemon.wait_ready()?;
        Ok(daemon)
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.ctl_socket().exists() && self.sim_socket().exists() {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                let log = std::fs::read_to_string(self.dir.join("daemon.log")).unwrap_or_default();
                bail!("the daemon exited ({status}) during start:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!("the daemon did not start within 60 s")
    }

    fn sim_socket(&self) -> PathBuf {
        self.dir.join("run/sim.sock")
    }

    fn ctl_socket(&self) -> PathBuf {
        self.dir.join("run/ctl.sock")
    }

    fn status(&self) -> Result<Value> {
        crate::ctl::client::request(&self.ctl_socket(), "status")
    }

    fn cpu_seconds(&self) -> ThreadCpu {
        thread_cpu_seconds(self.child.id())
    }
}

impl Drop for BenchDaemon {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::SIGTERM,
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = &self.config;
    }
}

/// CPU seconds of a process's threads, split into the sim card thread (which stands in for the
/// card's hardware and driver), the channel threads (the engine) and the rest.
#[derive(Clone, Copy, Debug, Default)]
struct ThreadCpu {
    card_s: f64,
    channels_s: f64,
    other_s: f64,
    /// Part of `other_s`: the call recorder's threads.
    recorder_s: f64,
}

/// Per-thread CPU from /proc/PID/task/*/schedstat: exact nanoseconds on the CPU. (utime/stime are
/// sampled in 10 ms ticks, too coarse for a thread that runs 3 ms in a whole measurement.)
fn thread_cpu_seconds(pid: u32) -> ThreadCpu {
    let mut out = ThreadCpu::default();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        let schedstat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        let on_cpu_ns: f64 = schedstat
            .split_whitespace()
            .next()
            .and_then(|f| f.parse().ok())
            .unwrap_or(0.0);
        let seconds = on_cpu_ns / 1e9;
        match comm.trim() {
            "sim-card" => out.card_s += seconds,
            c if c.starts_with("chan-") => out.channels_s += seconds,
            c => {
                out.other_s += seconds;
                if c.starts_with("recorder") {
                    out.recorder_s += seconds;
                }
            }
        }
    }
    out
}

impl ThreadCpu {
    fn total_s(&self) -> f64 {
        self.card_s + self.channels_s + self.other_s
    }
}

/// Counters the callers keep.
#[derive(Default)]
struct LoadCounters {
    blocks_heard: AtomicU64,
    calls_answered: AtomicU64,
    calls_completed: AtomicU64,
}

fn run_once(args: &BenchArgs, channels: usize) -> Result<BenchResult> {
    let daemon = BenchDaemon::start(args, channels)?;
    let counters = Arc::new(LoadCounters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let key_blocks = Arc::new(keys_to_blocks(DtmfConfig::new(Law::Alaw), BENCH_KEYS)?);
    let mut workers = Vec::new();
    for w in 0..WORKERS {
        let n = channels / WORKERS + usize::from(w < channels % WORKERS);
        let socket = daemon.sim_socket();
        let (counters, stop, keys) = (counters.clone(), stop.clone(), key_blocks.clone());
        let number = args.number.clone();
        workers.push(
            std::thread::Builder::new()
                .name(format!("bench-load-{w}"))
                .spawn(move || callers(&socket, &number, n, &keys, &counters, &stop))?,
        );
    }
    let warmup_deadline = Instant::now() + Duration::from_secs(120);
    while counters.calls_answered.load(Ordering::Relaxed) < channels as u64 {
        if Instant::now() > warmup_deadline {
            stop.store(true, Ordering::Relaxed);
            bail!(
                "only {} of {channels} callers were answered within 120 s",
                counters.calls_answered.load(Ordering::Relaxed)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let before = daemon.status()?;
    let vm_before = crate::apps::voicemail::bench_written(&daemon.dir.join("data"));
    let threads_before = daemon.cpu_seconds();
    let heard_before = counters.blocks_heard.load(Ordering::Relaxed);
    let calls_before = counters.calls_completed.load(Ordering::Relaxed);
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(args.seconds));
    let threads_after = daemon.cpu_seconds();
    let cpu = threads_after.total_s() - threads_before.total_s();
    let wall = started.elapsed().as_secs_f64();
    let after = daemon.status()?;
    let vm_after = crate::apps::voicemail::bench_written(&daemon.dir.join("data"));
    let heard = counters.blocks_heard.load(Ordering::Relaxed) - heard_before;
    let calls = counters.calls_completed.load(Ordering::Relaxed) - calls_before;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    let delta = |key: &str| {
        let get = |v: &Value| {
            v.pointer(&format!("/counters/{key}"))
                .and_then(Value::as_u64)
                .unwrap_or(0)
        };
        get(&after).saturating_sub(get(&before))
    };
    let rec = |key: &str| {
        let get = |v: &Value| {
            v.pointer(&format!("/recording/{key}"))
                .and_then(Value::as_u64)
                .unwrap_or(0)
        };
        get(&after).saturating_sub(get(&before))
    };
    let writes = rec("writes");
    let channel_seconds = heard as f64 / f64::from(BLOCKS_PER_SECOND);
    let cpu_percent = 100.0 * cpu / wall;
    let (calls_logged, calls_with_wrong_digits) = digit_check(&daemon.dir.join("data/telvox.db"));
    Ok(BenchResult {
        channels,
        seconds: wall,
        clock: args.clock.clone(),
        late_blocks: delta("late_blocks"),
        dropped_blocks: delta("dropped_blocks"),
        underruns: delta("underruns"),
        missed_ticks: delta("missed_ticks"),
        dropped_events: delta("dropped_events"),
        congestion: delta("congestion"),
        cpu_percent,
        cpu_percent_per_channel: cpu_percent / channels as f64,
        cpu_percent_card: 100.0 * (threads_after.card_s - threads_before.card_s) / wall,
        cpu_percent_channels: 100.0 * (threads_after.channels_s - threads_before.channels_s) / wall,
        cpu_percent_other: 100.0 * (threads_after.other_s - threads_before.other_s) / wall,
        channel_seconds,
        channel_seconds_per_cpu_second: if cpu > 0.0 { channel_seconds / cpu } else { 0.0 },
        calls_completed: calls,
        calls_logged,
        calls_with_wrong_digits,
        record: args.record.clone(),
        record_bytes_per_second: rec("bytes_written") as f64 / wall,
        record_writes_per_second: writes as f64 / wall,
        record_mean_write_bytes: if writes > 0 {
            rec("bytes_written") as f64 / writes as f64
        } else {
            0.0
        },
        record_dropped_blocks: rec("dropped_blocks"),
        record_refused: rec("refused_low_disk") + rec("refused_busy"),
        record_failed: rec("failed"),
        record_finished: rec("finished"),
        cpu_percent_recorder: 100.0 * (threads_after.recorder_s - threads_before.recorder_s) / wall,
        voicemail_bytes_per_second: (vm_after.1.saturating_sub(vm_before.1)) as f64 / wall,
        voicemail_messages: vm_after.0.saturating_sub(vm_before.0),
        voicemail_lost_blocks: after
            .pointer("/voicemail/lost_blocks")
            .and_then(Value::as_u64)
            .unwrap_or(0),
    })
}

/// From the call log: calls telvox completed normally, and how many of those did not hear exactly
/// the keys every bench caller pressed (a DTMF miss or double under load shows here).
fn digit_check(db: &Path) -> (u64, u64) {
    let Ok(conn) = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return (0, 0);
    };
    let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap_or(0) as u64;
    let done = "FROM cdr WHERE hangup_cause = 'NORMAL_CLEARING' AND disposition = 'ANSWERED'";
    let completed = count(&format!("SELECT COUNT(*) {done}"));
    let wrong = count(&format!("SELECT COUNT(*) {done} AND digits != '{BENCH_KEYS}'"));
    (completed, wrong)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum CallerState {
    Dialing,
    InCall { blocks: usize },
}

struct Caller {
    fd: OwnedFd,
    state: CallerState,
}

fn connect(socket: &Path) -> Result<OwnedFd> {
    let sock = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::SEQPACKET, None)?;
    sock.connect(&socket2::SockAddr::unix(socket)?)?;
    sock.set_nonblocking(true)?;
    Ok(OwnedFd::from(sock))
}

fn send_msg(fd: &OwnedFd, msg: &[u8]) {
    let _ = send(fd.as_raw_fd(), msg, MsgFlags::MSG_NOSIGNAL);
}

fn dial(fd: &OwnedFd, number: &str, n: usize) {
    let op = PartyOp::Dial {
        to: number.into(),
        from: Some(format!("555{n:04}")),
        name: None,
        span: None,
    };
    send_msg(fd, &proto::encode_control(&op));
}

/// One load-generator thread: `n` callers that dial `number`, answer each block heard with one block
/// (silence, or their keys 2 s in) and redial when telvox hangs up.
fn callers(
    socket: &Path,
    number: &str,
    n: usize,
    keys: &[Block],
    counters: &LoadCounters,
    stop: &AtomicBool,
) -> Result<()> {
    let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
    let mut parties = Vec::with_capacity(n);
    for i in 0..n {
        let fd = connect(socket)?;
        epoll.add(fd.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, i as u64))?;
        dial(&fd, number, i);
        parties.push(Caller {
            fd,
            state: CallerState::Dialing,
        });
    }
    let silence = [Law::Alaw.silence_byte(); BLOCK_SAMPLES];
    let mut out = [0u8; 1 + BLOCK_SAMPLES];
    let mut buf = vec![0u8; proto::MAX_MESSAGE_BYTES + 1];
    let mut events = vec![EpollEvent::empty(); 512];
    while !stop.load(Ordering::Relaxed) {
        let ready = epoll.wait(&mut events, EpollTimeout::from(100u16)).unwrap_or(0);
        for ev in &events[..ready] {
            let i = ev.data() as usize;
            let caller = &mut parties[i];
            while let Ok(len) = recv(caller.fd.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT) {
                if len == 0 {
                    break;
                }
                match proto::parse_daemon_message(&buf[..len]) {
                    Ok(DaemonMessage::Audio(_)) => {
                        let CallerState::InCall { blocks } = caller.state else {
                            continue;
                        };
                        counters.blocks_heard.fetch_add(1, Ordering::Relaxed);
                        let block = blocks
                            .checked_sub(KEYS_AT_BLOCKS)
                            .and_then(|k| keys.get(k))
                            .unwrap_or(&silence);
                        let len = proto::encode_audio_into(block, &mut out);
                        send_msg(&caller.fd, &out[..len]);
                        caller.state = CallerState::InCall { blocks: blocks + 1 };
                    }
                    Ok(DaemonMessage::Control(DaemonOp::Answered { .. })) => {
                        counters.calls_answered.fetch_add(1, Ordering::Relaxed);
                        caller.state = CallerState::InCall { blocks: 0 };
                        // Two blocks of slack so the realtime jitter buffer never runs dry.
                        let len = proto::encode_audio_into(&silence, &mut out);
                        send_msg(&caller.fd, &out[..len]);
                        send_msg(&caller.fd, &out[..len]);
                    }
                    Ok(DaemonMessage::Control(DaemonOp::Hangup { .. })) => {
                        counters.calls_completed.fetch_add(1, Ordering::Relaxed);
                        caller.state = CallerState::Dialing;
                        dial(&caller.fd, number, i);
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(())
}
