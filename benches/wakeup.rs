//! The floor of thread-per-channel on this machine: what it costs only to wake N threads once per
//! 20 ms block and let each answer, with no audio, no DSP and no far end.
//!
//! One ticker thread plays the card: every 20 ms of wall time it wakes every channel thread (a
//! futex via `Thread::unpark`, or an eventfd as the sim card does); each channel thread answers by
//! bumping a counter and sleeps again. A channel that has not answered by the next tick is a late
//! block, as in `telvox bench`. CPU is the process's own (getrusage), so the figure is the kernel's
//! wakeup and context switch plus the few atomics around them: the part of `telvox bench`'s
//! per-channel-block cost that no change inside the engine can remove while each channel has its
//! own thread (DESIGN.md §3).
//!
//! `cargo bench --bench wakeup [-- SECONDS]`, 10 s per row by default.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::resource::{getrusage, UsageWho};

const BLOCK: Duration = Duration::from_millis(20);

#[derive(Clone, Copy, PartialEq)]
enum Wake {
    Futex,
    EventFd,
}

struct Shared {
    answered: AtomicU64,
    stop: AtomicBool,
}

/// How the ticker reaches one channel thread.
enum Waker {
    Futex { thread: Thread, due: Arc<AtomicBool> },
    EventFd(Arc<EventFd>),
}

impl Waker {
    fn wake(&self) {
        match self {
            Waker::Futex { thread, due } => {
                due.store(true, Ordering::Release);
                thread.unpark();
            }
            Waker::EventFd(fd) => {
                let _ = fd.arm();
            }
        }
    }
}

fn spawn_channel(wake: Wake, shared: Arc<Shared>) -> Waker {
    match wake {
        Wake::Futex => {
            let due = Arc::new(AtomicBool::new(false));
            let mine = due.clone();
            let handle = thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || {
                    while !shared.stop.load(Ordering::Relaxed) {
                        if mine.swap(false, Ordering::AcqRel) {
                            shared.answered.fetch_add(1, Ordering::Relaxed);
                        } else {
                            thread::park();
                        }
                    }
                })
                .expect("spawn");
            Waker::Futex {
                thread: handle.thread().clone(),
                due,
            }
        }
        Wake::EventFd => {
            let fd = Arc::new(EventFd::from_flags(EfdFlags::EFD_CLOEXEC).expect("eventfd"));
            let mine = fd.clone();
            thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || {
                    while mine.read().is_ok() && !shared.stop.load(Ordering::Relaxed) {
                        shared.answered.fetch_add(1, Ordering::Relaxed);
                    }
                })
                .expect("spawn");
            Waker::EventFd(fd)
        }
    }
}

fn cpu_seconds() -> f64 {
    let usage = getrusage(UsageWho::RUSAGE_SELF).expect("getrusage");
    let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    secs(usage.user_time()) + secs(usage.system_time())
}

/// One row: N channels woken every 20 ms for `seconds`; returns (CPU % of a core, µs per
/// channel-block, late blocks).
fn run(wake: Wake, channels: usize, seconds: u64) -> (f64, f64, u64) {
    let shared = Arc::new(Shared {
        answered: AtomicU64::new(0),
        stop: AtomicBool::new(false),
    });
    let wakers: Vec<Waker> = (0..channels)
        .map(|_| spawn_channel(wake, shared.clone()))
        .collect();
    let ticks = seconds * 50;
    let mut late = 0u64;
    let mut expected = 0u64;
    let (wall_start, cpu_start) = (Instant::now(), cpu_seconds());
    let mut next = Instant::now() + BLOCK;
    for _ in 0..ticks {
        thread::sleep(next.saturating_duration_since(Instant::now()));
        next += BLOCK;
        // Every channel woken at the last tick should have answered by now.
        late += expected - shared.answered.swap(0, Ordering::Relaxed).min(expected);
        expected = channels as u64;
        for waker in &wakers {
            waker.wake();
        }
    }
    let (wall, cpu) = (wall_start.elapsed().as_secs_f64(), cpu_seconds() - cpu_start);
    shared.stop.store(true, Ordering::Relaxed);
    for waker in &wakers {
        waker.wake();
    }
    let blocks = (ticks * channels as u64) as f64;
    (100.0 * cpu / wall, 1e6 * cpu / blocks, late)
}

fn main() {
    // `cargo bench` passes `--bench`; a bare number is the seconds per row.
    let seconds = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<u64>().ok())
        .unwrap_or(10);
    println!("wake     channels  cpu_%_of_core  us_per_channel_block  late_blocks");
    for wake in [Wake::Futex, Wake::EventFd] {
        for channels in [240, 720, 1440] {
            let (cpu, per_block_us, late) = run(wake, channels, seconds);
            let name = if wake == Wake::Futex { "futex" } else { "eventfd" };
            println!("{name:<8} {channels:>8}  {cpu:>13.1}  {per_block_us:>20.2}  {late:>11}");
            // Let the last row's threads exit before the next row's start.
            thread::sleep(Duration::from_millis(200));
        }
    }
}
