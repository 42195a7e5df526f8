//! The recorder thread: drains the rings of every recording in progress, encodes the blocks into
//! each file's write buffer, and writes a buffer when it holds [`FLUSH_BYTES`] or has waited
//! [`FLUSH_EVERY`] — large sequential writes, many channels per pass. After each write the header is
//! made valid for the data written so far (one small positioned write), so a file cut off by a
//! crash is already a valid WAV up to its last write; startup repair covers the rest.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, RecvTimeoutError, Sender};

use super::meta::MetaMsg;
use super::wav;
use super::{Job, RecorderCounters};
use crate::hw::BLOCK_SAMPLES;

/// A file's buffer is written when it holds this much.
pub const FLUSH_BYTES: usize = 64 * 1024;
/// ... or when its oldest byte has waited this long (bounds what a crash loses).
pub const FLUSH_EVERY: Duration = Duration::from_millis(1000);
/// How often the thread makes a pass over the rings.
const PASS_EVERY: Duration = Duration::from_millis(20);
/// Blocks taken from one ring per pass at most (so one busy call cannot starve the others).
const DRAIN_MAX_BLOCKS: usize = 500;
/// A gap in a call's clock (blocks dropped by a full ring) longer than this is not filled in.
const MAX_GAP_BLOCKS: u64 = 50 * 60;
/// Recordings open at once at most; more are refused (counted as failed).
const MAX_OPEN: usize = 8192;
/// A WAV's sizes are 32-bit: a recording stops growing before that.
const MAX_DATA_BYTES: u64 = u32::MAX as u64 - 4096;
/// Tries at a free name (`ID.wav`, `ID-2.wav`, ...) when a call is recorded more than once.
const MAX_NAME_TRIES: u32 = 100;

/// A recording being written.
struct Open {
    job: Job,
    file: File,
    part: PathBuf,
    done: PathBuf,
    /// The final file, relative to the recordings directory (the row's `file`).
    rel: String,
    data_bytes: u64,
    buf: Vec<u8>,
    /// The call clock (samples) the next block should carry; gaps are dropped blocks.
    next_sample: Option<u64>,
    last_flush: Instant,
}

pub fn spawn(
    dir: PathBuf,
    throttle_ms: u32,
    incoming: Receiver<Job>,
    meta: Sender<MetaMsg>,
    counters: Arc<RecorderCounters>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("recorder".into())
        .spawn(move || run(&dir, throttle_ms, &incoming, &meta, &counters))?;
    Ok(())
}

fn run(
    dir: &Path,
    throttle_ms: u32,
    incoming: &Receiver<Job>,
    meta: &Sender<MetaMsg>,
    counters: &RecorderCounters,
) {
    let mut open: Vec<Open> = Vec::new();
    let throttle = Duration::from_millis(u64::from(throttle_ms));
    loop {
        let pass_started = Instant::now();
        if open.is_empty() {
            match incoming.recv_timeout(Duration::from_millis(200)) {
                Ok(job) => start(dir, job, &mut open, meta, counters),
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        while let Ok(job) = incoming.try_recv() {
            start(dir, job, &mut open, meta, counters);
        }
        let mut dropped_active = 0;
        let mut behind = false;
        open.retain_mut(|rec| {
            // Read before draining: a ring that was ended and is then empty is complete.
            let ended = rec.job.tap.is_ended();
            // A ring over a quarter full: the next pass comes at once (a lockstep card can run
            // far faster than real time).
            behind |= rec.job.tap.len() * 4 > rec.job.tap.capacity();
            let result = drain(rec, throttle).and_then(|drained_all| {
                if rec.buf.len() >= FLUSH_BYTES
                    || (!rec.buf.is_empty() && rec.last_flush.elapsed() >= FLUSH_EVERY)
                {
                    flush(rec, counters)?;
                }
                Ok(drained_all)
            });
            match result {
                Ok(drained_all) if !(ended && drained_all) => {
                    dropped_active += rec.job.tap.dropped_blocks();
                    true
                }
                Ok(_) => {
                    finish(rec, "complete", meta, counters);
                    false
                }
                Err(e) => {
                    tracing::warn!(
                        "recording {}: cannot write: {e}; the file keeps what was written",
                        rec.rel
                    );
                    finish(rec, "failed", meta, counters);
                    false
                }
            }
        });
        counters
            .dropped_blocks_active
            .store(dropped_active, Ordering::Relaxed);
        if behind && throttle.is_zero() {
            continue;
        }
        if let Some(rest) = PASS_EVERY.checked_sub(pass_started.elapsed()) {
            std::thread::sleep(rest);
        }
    }
}

fn start(dir: &Path, job: Job, open: &mut Vec<Open>, meta: &Sender<MetaMsg>, counters: &RecorderCounters) {
    if open.len() >= MAX_OPEN {
        counters.active.fetch_sub(1, Ordering::Relaxed);
        counters.failed.fetch_add(1, Ordering::Relaxed);
        job.tap.mark_ended();
        return;
    }
    match create(dir, &job) {
        Ok((file, part, done, rel)) => {
            counters.started.fetch_add(1, Ordering::Relaxed);
            let _ = meta.send(MetaMsg::Started {
                uniqueid: job.call.to_string(),
                file: rel.clone(),
                format: job.format.as_str(),
                rule: job.rule.clone(),
                start_ms: job.start_ms,
                caller: job.caller.clone(),
                called: job.called.clone(),
                channel: job.chan.to_string(),
                flow: job.flow.clone(),
            });
            open.push(Open {
                job,
                file,
                part,
                done,
                rel,
                data_bytes: 0,
                buf: Vec::with_capacity(super::writer::FLUSH_BYTES + 4 * BLOCK_SAMPLES * 4),
                next_sample: None,
                last_flush: Instant::now(),
            });
        }
        Err(e) => {
            tracing::warn!(
                "recording of call {}: cannot create its file in {}: {e}",
                job.call,
                dir.display()
            );
            counters.active.fetch_sub(1, Ordering::Relaxed);
            counters.failed.fetch_add(1, Ordering::Relaxed);
            // The channel keeps filling the ring until the call ends; nobody reads it.
            job.tap.mark_ended();
        }
    }
}

/// `<dir>/YYYY/MM/DD/<uniqueid>[-n].wav.part`, created with a header for no data yet.
fn create(dir: &Path, job: &Job) -> std::io::Result<(File, PathBuf, PathBuf, String)> {
    let day = chrono::DateTime::from_timestamp_millis(job.start_ms)
        .unwrap_or_default()
        .format("%Y/%m/%d")
        .to_string();
    let day_dir = dir.join(&day);
    std::fs::create_dir_all(&day_dir)?;
    for n in 1..=MAX_NAME_TRIES {
        let name = match n {
            1 => format!("{}.wav", job.call),
            n => format!("{}-{n}.wav", job.call),
        };
        let done = day_dir.join(&name);
        let part = day_dir.join(format!("{name}.part"));
        if done.exists() {
            continue;
        }
        let file = match OpenOptions::new().write(true).create_new(true).open(&part) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        };
        let (header, len) = wav::header(job.format, 0);
        (&file).write_all(&header[..len])?;
        return Ok((file, part, done, format!("{day}/{name}")));
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        "too many recordings of this call",
    ))
}

/// Moves what the ring holds into the buffer; true when the ring was emptied.
fn drain(rec: &mut Open, throttle: Duration) -> std::io::Result<bool> {
    for _ in 0..DRAIN_MAX_BLOCKS {
        let Some(block) = rec.job.tap.pop() else {
            return Ok(true);
        };
        if block.call != rec.job.call {
            continue;
        }
        let block_samples = BLOCK_SAMPLES as u64;
        let expected = rec.next_sample.unwrap_or(block.at_sample);
        if block.at_sample > expected {
            let gap = ((block.at_sample - expected) / block_samples).min(MAX_GAP_BLOCKS);
            wav::silence(rec.job.format, gap as usize, &mut rec.buf);
        }
        rec.next_sample = Some(block.at_sample + block_samples);
        if rec.data_bytes + (rec.buf.len() as u64) < MAX_DATA_BYTES {
            wav::encode_block(rec.job.format, rec.job.law, &block, &mut rec.buf);
        }
        if !throttle.is_zero() {
            std::thread::sleep(throttle);
        }
    }
    Ok(false)
}

/// Appends the buffer to the file, then makes the header valid for everything written.
fn flush(rec: &mut Open, counters: &RecorderCounters) -> std::io::Result<()> {
    if !rec.buf.is_empty() {
        let keep = (MAX_DATA_BYTES.saturating_sub(rec.data_bytes) as usize).min(rec.buf.len());
        rec.file.write_all(&rec.buf[..keep])?;
        counters.bytes_written.fetch_add(keep as u64, Ordering::Relaxed);
        counters.writes.fetch_add(1, Ordering::Relaxed);
        rec.data_bytes += keep as u64;
        rec.buf.clear();
        let (header, len) = wav::header(rec.job.format, rec.data_bytes as u32);
        rec.file.write_all_at(&header[..len], 0)?;
    }
    rec.last_flush = Instant::now();
    Ok(())
}

/// Writes the rest, syncs, gives the file its real name and tells the metadata thread.
fn finish(rec: &mut Open, status: &'static str, meta: &Sender<MetaMsg>, counters: &RecorderCounters) {
    // Blocks dropped at the very end leave no later block to show their gap: fill up to the
    // call's last block so the file is as long as the call.
    if let Some(next) = rec.next_sample {
        let last = rec.job.tap.last_sample();
        if last >= next {
            let gap = ((last - next) / BLOCK_SAMPLES as u64 + 1).min(MAX_GAP_BLOCKS);
            wav::silence(rec.job.format, gap as usize, &mut rec.buf);
        }
    }
    if rec.data_bytes == 0 && rec.buf.is_empty() && status == "complete" {
        // Not a second of the call was heard (it was never answered): no file, no row.
        let _ = std::fs::remove_file(&rec.part);
        rec.job.tap.mark_ended();
        counters.active.fetch_sub(1, Ordering::Relaxed);
        counters.empty.fetch_add(1, Ordering::Relaxed);
        counters.closed_files.fetch_add(1, Ordering::Relaxed);
        let _ = meta.send(MetaMsg::Discard {
            file: rec.rel.clone(),
        });
        return;
    }
    let result = flush(rec, counters)
        .and_then(|()| rec.file.sync_data())
        .and_then(|()| std::fs::rename(&rec.part, &rec.done));
    let status = match result {
        Ok(()) => status,
        Err(e) => {
            tracing::warn!("recording {}: cannot finish: {e}", rec.rel);
            "failed"
        }
    };
    let dropped = rec.job.tap.dropped_blocks();
    if dropped > 0 {
        tracing::warn!(
            "recording {} of call {}: {dropped} block(s) dropped (the recorder fell behind; \
             their time is silence in the file)",
            rec.rel,
            rec.job.call
        );
    }
    rec.job.tap.mark_ended();
    counters.active.fetch_sub(1, Ordering::Relaxed);
    counters
        .dropped_blocks_finished
        .fetch_add(dropped, Ordering::Relaxed);
    if status == "complete" {
        counters.finished.fetch_add(1, Ordering::Relaxed);
    } else {
        counters.failed.fetch_add(1, Ordering::Relaxed);
    }
    let bps = u64::from(wav::bytes_per_second(rec.job.format));
    counters.closed_files.fetch_add(1, Ordering::Relaxed);
    let _ = meta.send(MetaMsg::Finished {
        file: rec.rel.clone(),
        path: if status == "complete" {
            rec.done.clone()
        } else {
            rec.part.clone()
        },
        duration_ms: (rec.data_bytes * 1000 / bps) as i64,
        bytes: rec.data_bytes + wav::header_len(rec.job.format) as u64,
        dropped_blocks: dropped,
        status,
        agent: rec.job.tap.take_agent().map(|a| a.as_str().to_owned()),
    });
}
