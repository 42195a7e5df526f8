//! `record`: the caller's speech to a WAV file under `<data_dir>/recordings/`, ended by a key
//! (`#`), by silence, or by the length limit.
//!
//! The channel thread only attaches a ring ([`AudioTap`]) to its recorder tap; the engine copies
//! every block into it. One recorder thread per runtime drains the rings of every recording in
//! progress, writes PCM16 WAV (what sox and every editor open) to `NAME.wav.part`, and renames it
//! to `NAME.wav` when complete, so a crash never leaves a half-written file under the real name.
//! The action judges silence itself, on the caller's audio as each block passes (`on_audio`), so
//! a recording ends after exactly `silence_ms` of the call's own clock, in lockstep as in realtime,
//! however far behind the recorder thread runs.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::channel::{bounded, Receiver, Sender};

use crate::config::HwMap;
use crate::dsp::g711;
use crate::engine::app::CallCx;
use crate::engine::tap::{AudioTap, TapBlock};
use crate::fixed::Number;
use crate::hw::{CallRef, BLOCK_SAMPLES};

use super::action::{Action, ActionKind, IvrCall, ParseCx, Step};
use super::business::POLL_MS;
use super::flow::{Flow, StateId};
use super::tree::Item;
use super::vars::Value;

pub(super) const KINDS: &[ActionKind] = &[ActionKind {
    key: "record",
    parse: Record::parse,
}];

/// Blocks a recording's ring holds: 2 s, plenty for a thread that drains every 20 ms.
const RING_BLOCKS: usize = 100;
/// Recordings in progress that can wait to be picked up by the recorder thread.
const QUEUE_RECORDINGS: usize = 64;
/// A block whose mean absolute sample is below this counts as silence (about -45 dBm0).
const SILENCE_LEVEL: u32 = 150;
/// With no block for this long the call is gone: the recording is finished with what it has.
const IDLE_FINISH: Duration = Duration::from_secs(2);
const MAX_MS: std::ops::RangeInclusive<i64> = 1000..=600_000;
const SILENCE_MS: std::ops::RangeInclusive<i64> = 500..=60_000;

/// One recording, shared by the action (channel thread) and the recorder thread.
pub struct Recording {
    tap: Arc<AudioTap>,
    call: CallRef,
    called: Number,
    name: Value,
    /// Set by the action: no more audio is wanted.
    stop: AtomicBool,
}

impl std::fmt::Debug for Recording {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recording")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Recording {
    /// No more audio is wanted: the recorder thread finishes the file.
    pub fn end(&self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// The recorder thread's handle.
#[derive(Debug)]
pub struct Recorder {
    queue: Sender<Arc<Recording>>,
}

impl Recorder {
    pub fn start(dir: PathBuf, hw: HwMap) -> std::io::Result<Recorder> {
        let (queue, incoming) = bounded(QUEUE_RECORDINGS);
        std::thread::Builder::new()
            .name("recorder".into())
            .spawn(move || run(&dir, &hw, &incoming))?;
        Ok(Recorder { queue })
    }

    pub fn submit(&self, recording: Arc<Recording>) -> bool {
        self.queue.try_send(recording).is_ok()
    }
}

/// A file being written.
struct Open {
    recording: Arc<Recording>,
    file: BufWriter<File>,
    part: PathBuf,
    done: PathBuf,
    law: crate::hw::Law,
    data_bytes: u32,
    last_block: Instant,
}

fn run(dir: &Path, hw: &HwMap, incoming: &Receiver<Arc<Recording>>) {
    let mut open: Vec<Open> = Vec::new();
    loop {
        // Waits for work when idle; polls every block's worth of time while recording.
        let first = if open.is_empty() {
            match incoming.recv() {
                Ok(recording) => Some(recording),
                Err(_) => return,
            }
        } else {
            std::thread::sleep(Duration::from_millis(POLL_MS));
            None
        };
        for recording in first.into_iter().chain(incoming.try_iter()) {
            match start_file(dir, hw, recording) {
                Ok(file) => open.push(file),
                Err(e) => tracing::warn!("cannot start a recording in {}: {e}", dir.display()),
            }
        }
        open.retain_mut(|file| match drain(file) {
            Ok(true) => true,
            Ok(false) => {
                if let Err(e) = finish(file) {
                    tracing::warn!("recording {} failed: {e}", file.part.display());
                }
                false
            }
            Err(e) => {
                tracing::warn!("recording {} failed: {e}", file.part.display());
                false
            }
        });
    }
}

fn start_file(dir: &Path, hw: &HwMap, recording: Arc<Recording>) -> std::io::Result<Open> {
    std::fs::create_dir_all(dir)?;
    let done = dir.join(recording.name.as_str());
    let part = done.with_extension("wav.part");
    let mut file = BufWriter::new(File::create(&part)?);
    file.write_all(&crate::wav::pcm16_header(8000, 0))?;
    Ok(Open {
        law: hw.law_for(recording.called.as_str()),
        recording,
        file,
        part,
        done,
        data_bytes: 0,
        last_block: Instant::now(),
    })
}

/// Writes what the ring holds; false when the recording is over.
fn drain(file: &mut Open) -> std::io::Result<bool> {
    let recording = file.recording.clone();
    while let Some(block) = recording.tap.pop() {
        // The tap stays attached until detached: audio of another call is never written.
        if block.call == recording.call {
            write_block(file, &block)?;
        }
    }
    let stopped = recording.stop.load(Ordering::Acquire);
    Ok(!stopped && file.last_block.elapsed() < IDLE_FINISH)
}

fn write_block(file: &mut Open, block: &TapBlock) -> std::io::Result<()> {
    let mut samples = [0i16; BLOCK_SAMPLES];
    g711::decode_block(file.law, &block.rx, &mut samples);
    let mut bytes = [0u8; BLOCK_SAMPLES * 2];
    for (out, sample) in bytes.chunks_exact_mut(2).zip(samples) {
        out.copy_from_slice(&sample.to_le_bytes());
    }
    file.file.write_all(&bytes)?;
    file.data_bytes = file.data_bytes.saturating_add(bytes.len() as u32);
    file.last_block = Instant::now();
    Ok(())
}

/// Writes the real header, then gives the file its real name.
fn finish(file: &mut Open) -> std::io::Result<()> {
    file.file.seek(SeekFrom::Start(0))?;
    file.file
        .write_all(&crate::wav::pcm16_header(8000, file.data_bytes))?;
    file.file.flush()?;
    file.file.get_ref().sync_all()?;
    std::fs::rename(&file.part, &file.done)
}

// ---------------------------------------------------------------------------------------------------
// The action

/// `record = { into = "message", max_ms = 60000, silence_ms = 3000, terminator = "#" }`: records
/// the caller until the terminator key, `silence_ms` of silence or `max_ms`; `${message}` is the
/// file's name under `<data_dir>/recordings/`. Outcomes `done`, `error` (no recorder, too busy).
/// The caller hears the record beep (1400 Hz, 250 ms) as recording starts, unless `beep = false`.
#[derive(Debug)]
struct Record {
    beep: bool,
    into: String,
    max_ms: u64,
    silence_ms: u64,
    terminator: Option<char>,
}

const DONE: &str = "done";
const ERROR: &str = "error";

impl Record {
    fn parse(item: &Item, cx: &mut ParseCx) -> Option<Box<dyn Action>> {
        let keys = ["into", "max_ms", "silence_ms", "terminator", "beep"];
        let entries = cx.table(item, &keys, "{ into = \"message\", max_ms = 60000 }")?;
        let find = |key: &str| entries.iter().find(|(k, _)| k.get_ref() == key).map(|(_, i)| i);
        let into_item = cx.field(entries, "into", item)?;
        let into = cx.string(into_item, "a variable name in quotes")?.to_owned();
        if !cx.sets_var(&into, into_item.span().start) {
            return None;
        }
        let max_ms = match find("max_ms") {
            Some(v) => cx.int(v, MAX_MS, "milliseconds")?.unsigned_abs(),
            None => 60_000,
        };
        let silence_ms = match find("silence_ms") {
            Some(v) => cx.int(v, SILENCE_MS, "milliseconds")?.unsigned_abs(),
            None => 3000,
        };
        let terminator = match find("terminator") {
            Some(v) => {
                let text = cx.string(v, "one key in quotes, or \"\" for none")?;
                let mut chars = text.chars();
                match (chars.next(), chars.next()) {
                    (None, _) => None,
                    (Some(key), None) if "0123456789*#".contains(key) => Some(key),
                    _ => {
                        cx.bad(v, "one key in quotes, or \"\" for none");
                        return None;
                    }
                }
            }
            None => Some('#'),
        };
        let beep = match find("beep") {
            Some(v) => cx.boolean(v)?,
            None => true,
        };
        Some(Box::new(Record {
            beep,
            into,
            max_ms,
            silence_ms,
            terminator,
        }))
    }

    fn stop(&self, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        cx.detach_tap();
        if let Some(recording) = call.recording.take() {
            recording.end();
        }
        Step::Done(DONE)
    }
}

impl Action for Record {
    fn enter(&self, flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        let Some(recorder) = flow.business().and_then(|b| b.recorder()) else {
            return Step::Done(ERROR);
        };
        // File name: the call id and a count of this call's recordings, e.g. `1763900000-42-1.wav`.
        call.recordings += 1;
        let mut name = Value::from_str_truncating(call.vars.get("call_id"));
        name.push('-');
        let mut count = Value::new();
        let mut n = call.recordings;
        while n > 0 || count.is_empty() {
            count.push(char::from(b'0' + (n % 10) as u8));
            n /= 10;
        }
        for c in count.as_str().chars().rev() {
            name.push(c);
        }
        for c in ".wav".chars() {
            name.push(c);
        }
        // The one allocation: the ring (2 s of audio) and the shared record, when recording starts.
        let recording = Arc::new(Recording {
            tap: AudioTap::new(RING_BLOCKS),
            call: cx.setup().call,
            called: cx.setup().info.to,
            name,
            stop: AtomicBool::new(false),
        });
        if !recorder.submit(recording.clone()) {
            return Step::Done(ERROR);
        }
        cx.attach_tap(&recording.tap);
        if self.beep {
            // "Record after the beep": the beep and the recording start together (the WAV holds
            // the caller's side only, so the beep is not in it).
            cx.play_tone(crate::dsp::tones::ToneKind::Beep, None);
        }
        call.set_var(flow, &self.into, name.as_str());
        call.recording = Some(recording);
        cx.set_timer_ms(POLL_MS);
        Step::Wait
    }

    fn on_digit(&self, _flow: &Flow, call: &mut IvrCall, cx: &mut CallCx, digit: char) -> Step {
        if Some(digit) == self.terminator {
            return self.stop(call, cx);
        }
        Step::Wait
    }

    /// Counts the caller's silence in samples of the call's clock.
    fn on_audio(
        &self,
        _flow: &Flow,
        call: &mut IvrCall,
        cx: &mut CallCx,
        rx: &[i16],
        _tx: &mut [i16],
    ) -> Step {
        if call.recording.is_none() {
            return Step::Wait;
        }
        if is_silent(rx) {
            call.scratch.silent_samples += rx.len() as u64;
            if call.scratch.silent_samples >= self.silence_ms * 8 {
                return self.stop(call, cx);
            }
        } else {
            call.scratch.silent_samples = 0;
        }
        Step::Wait
    }

    fn on_timer(&self, _flow: &Flow, call: &mut IvrCall, cx: &mut CallCx) -> Step {
        call.scratch.attempts = call.scratch.attempts.saturating_add(1);
        let too_long = u64::from(call.scratch.attempts) * POLL_MS >= self.max_ms;
        if too_long {
            return self.stop(call, cx);
        }
        cx.set_timer_ms(POLL_MS);
        Step::Wait
    }

    fn waits(&self) -> bool {
        true
    }

    fn outcomes(&self) -> &'static [&'static str] {
        &[DONE, ERROR]
    }

    fn links(&self) -> Vec<StateId> {
        Vec::new()
    }
}

/// A block whose mean absolute sample is below [`SILENCE_LEVEL`].
fn is_silent(samples: &[i16]) -> bool {
    let level: u32 = samples.iter().map(|s| u32::from(s.unsigned_abs())).sum();
    level < SILENCE_LEVEL * samples.len().max(1) as u32
}
