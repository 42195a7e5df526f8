//! Prompt sets: 8 kHz mono WAVs, memory-mapped once and shared by every channel.
//!
//! Layout on disk: `voice/<language>/<name>.wav` (see voice/README.md). [`Voice::load`] maps every
//! prompt of every language at start-up; channel threads then hold `Arc<Prompt>`s and decode
//! straight out of the map with [`Prompt::read_linear`], which neither allocates nor locks
//! (DESIGN.md §5).
//!
//! Only what a G.711 line can carry without resampling is accepted: 8000 Hz mono, as 16-bit PCM,
//! A-law or µ-law. Converting at load time would hide a badly made prompt behind a silent quality
//! loss, so anything else is refused with the exact sox command that fixes it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;

use crate::dsp::g711::{alaw_to_linear, ulaw_to_linear};

/// The only sample rate telvox plays: the G.711 line rate.
pub const SAMPLE_RATE_HZ: u32 = 8000;
/// Longest prompt accepted: a longer file is almost certainly a mistake (a whole recording rather
/// than a prompt), and the limit bounds how long one prompt can occupy a channel.
pub const MAX_PROMPT_SECONDS: usize = 600;
/// [`MAX_PROMPT_SECONDS`] in samples at [`SAMPLE_RATE_HZ`].
pub const MAX_PROMPT_SAMPLES: usize = MAX_PROMPT_SECONDS * SAMPLE_RATE_HZ as usize;
/// Bound on the `*.wav` files loaded from one language directory (DESIGN.md §5: a limit on
/// everything); far above any real IVR.
pub const MAX_PROMPTS_PER_LANGUAGE: usize = 4096;
/// Bound on language subdirectories under the voice directory.
pub const MAX_LANGUAGES: usize = 64;
/// Bound on the RIFF chunks walked before `data`; real files have two to five.
const MAX_CHUNKS_BEFORE_DATA: usize = 64;

/// The prompts the line-test flow plays; every shipped language must have all of them.
pub const LINETEST_PROMPTS: &[&str] = &[
    "welcome",
    "please-enter",
    "you-entered",
    "digit-0",
    "digit-1",
    "digit-2",
    "digit-3",
    "digit-4",
    "digit-5",
    "digit-6",
    "digit-7",
    "digit-8",
    "digit-9",
    "star",
    "pound",
    "goodbye",
    "invalid",
    "timeout",
];

/// The fix printed with every format refusal.
const CONVERT_HINT: &str = "convert with: sox in.wav -r 8000 -c 1 -e a-law out.wav";

/// WAVE format tags (the `wFormatTag` field of the `fmt ` chunk).
const TAG_PCM: u16 = 1;
const TAG_ALAW: u16 = 6;
const TAG_ULAW: u16 = 7;
const TAG_EXTENSIBLE: u16 = 0xFFFE;

/// Bytes 4..16 of every KSDATAFORMAT_SUBTYPE GUID whose first four bytes are a WAVE format tag
/// ({tag-0000-0010-8000-00AA00389B71}, as stored little-endian in the file).
const SUBFORMAT_GUID_TAIL: [u8; 12] = [
    0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71,
];

/// Everything that can go wrong loading prompts. Every variant names the file or directory.
#[derive(Debug, thiserror::Error)]
pub enum VoiceError {
    /// The file or directory could not be opened, listed or mapped.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The file was read but is not a WAV telvox can play; `reason` says exactly why.
    #[error("{}: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
    /// Several files were bad; each is listed so one run shows everything to fix.
    #[error("{count} problems loading prompts:\n{list}", count = errors.len(), list = bullet_list(errors))]
    Files { errors: Vec<VoiceError> },
    /// A language lacks prompts a flow needs.
    #[error(
        "{}: language '{language}' is missing prompt(s): {} — run voice/generate.sh or add the recordings",
        dir.display(),
        missing.join(", ")
    )]
    Missing {
        dir: PathBuf,
        language: String,
        missing: Vec<String>,
    },
    /// No prompt set was loaded for the language asked for.
    #[error(
        "{}: no prompt set for language '{language}' (loaded: {})",
        dir.display(),
        available.join(", ")
    )]
    NoLanguage {
        dir: PathBuf,
        language: String,
        available: Vec<String>,
    },
}

/// One error per line, indented, for [`VoiceError::Files`].
fn bullet_list(errors: &[VoiceError]) -> String {
    let mut out = String::new();
    for error in errors {
        // Writing to a String cannot fail.
        let _ = writeln!(out, "  - {error}");
    }
    out.trim_end().to_owned()
}

/// Merge a batch of errors into one, flattening nested lists so the report stays one level deep.
fn combine(errors: Vec<VoiceError>) -> Result<(), VoiceError> {
    let mut flat = Vec::with_capacity(errors.len());
    for error in errors {
        match error {
            VoiceError::Files { errors } => flat.extend(errors),
            other => flat.push(other),
        }
    }
    match flat.len() {
        0 => Ok(()),
        // A single error reads better on its own than as a one-item list.
        1 => Err(flat.remove(0)),
        _ => Err(VoiceError::Files { errors: flat }),
    }
}

fn invalid(path: &Path, reason: impl Into<String>) -> VoiceError {
    VoiceError::Invalid {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn io_error(path: &Path, source: io::Error) -> VoiceError {
    VoiceError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// How the audio bytes encode samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Signed 16-bit little-endian linear PCM.
    Pcm16,
    /// G.711 A-law, one byte per sample.
    Alaw,
    /// G.711 µ-law, one byte per sample.
    Ulaw,
}

impl Encoding {
    fn bytes_per_sample(self) -> usize {
        match self {
            Encoding::Pcm16 => 2,
            Encoding::Alaw | Encoding::Ulaw => 1,
        }
    }
}

/// Where the audio is inside a WAV file, as found by [`parse_wav`].
#[derive(Debug, Clone, PartialEq, Eq)]
struct WavLayout {
    encoding: Encoding,
    /// Byte range of the `data` chunk body.
    audio: Range<usize>,
}

/// The fields of a `fmt ` chunk that decide whether telvox can play the file.
#[derive(Debug, Clone, Copy)]
struct FmtChunk {
    /// The effective tag: for WAVE_FORMAT_EXTENSIBLE, the tag inside the subformat GUID.
    tag: u16,
    channels: u16,
    rate_hz: u32,
    block_align_bytes: u16,
    bits_per_sample: u16,
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// A chunk id for messages: printable ASCII as is, anything else escaped.
fn fourcc(id: &[u8]) -> String {
    id.iter()
        .map(|&b| char::from(b))
        .collect::<String>()
        .escape_default()
        .to_string()
}

/// Human name of a format tag, so a refusal says "GSM 6.10" rather than only "49".
fn tag_name(tag: u16) -> &'static str {
    match tag {
        TAG_PCM => "PCM",
        2 => "Microsoft ADPCM",
        3 => "IEEE float",
        TAG_ALAW => "A-law",
        TAG_ULAW => "µ-law",
        0x11 => "IMA ADPCM",
        0x31 => "GSM 6.10",
        0x55 => "MP3",
        _ => "unknown",
    }
}

/// Parse the body of a `fmt ` chunk, resolving WAVE_FORMAT_EXTENSIBLE to its subformat tag.
fn parse_fmt(body: &[u8]) -> Result<FmtChunk, String> {
    if body.len() < 16 {
        return Err(format!(
            "fmt chunk is {} bytes, a valid one has at least 16 — corrupt header",
            body.len()
        ));
    }
    let mut fmt = FmtChunk {
        tag: u16_at(body, 0),
        channels: u16_at(body, 2),
        rate_hz: u32_at(body, 4),
        // Bytes 8..12 are the byte rate: redundant (rate × block align) and often wrong in files
        // from sloppy writers, so it is not checked; nothing here depends on it.
        block_align_bytes: u16_at(body, 12),
        bits_per_sample: u16_at(body, 14),
    };
    if fmt.tag == TAG_EXTENSIBLE {
        fmt.tag = extensible_subformat(body)?;
    }
    Ok(fmt)
}

/// The WAVE format tag carried in a WAVE_FORMAT_EXTENSIBLE subformat GUID.
fn extensible_subformat(body: &[u8]) -> Result<u16, String> {
    // 16 basic bytes + cbSize (2) + valid bits (2) + channel mask (4) + GUID (16).
    const EXTENSIBLE_LEN: usize = 40;
    if body.len() < EXTENSIBLE_LEN {
        return Err(format!(
            "WAVE_FORMAT_EXTENSIBLE fmt chunk is {} bytes, needs {EXTENSIBLE_LEN} — corrupt header",
            body.len()
        ));
    }
    let guid = &body[24..40];
    if guid[4..] != SUBFORMAT_GUID_TAIL {
        return Err(format!(
            "WAVE_FORMAT_EXTENSIBLE with a non-standard subformat GUID, telvox needs PCM16, A-law \
             or µ-law — {CONVERT_HINT}"
        ));
    }
    let tag = u32_at(guid, 0);
    u16::try_from(tag).map_err(|_| {
        format!(
            "WAVE_FORMAT_EXTENSIBLE subformat {tag:#x} is not a WAVE format, telvox needs PCM16, \
             A-law or µ-law — {CONVERT_HINT}"
        )
    })
}

/// Check a `fmt ` chunk against what telvox plays. All problems are reported together, so a
/// 16 kHz stereo file is described in one message rather than one problem per attempt.
fn check_fmt(fmt: &FmtChunk) -> Result<Encoding, String> {
    let mut problems: Vec<String> = Vec::new();
    let encoding = check_encoding(fmt.tag, fmt.bits_per_sample, &mut problems);
    if fmt.rate_hz != SAMPLE_RATE_HZ {
        problems.push(format!(
            "sample rate {} Hz, telvox needs {SAMPLE_RATE_HZ} Hz",
            fmt.rate_hz
        ));
    }
    if fmt.channels != 1 {
        problems.push(format!(
            "{} channels, telvox needs mono (1 channel)",
            fmt.channels
        ));
    }
    match encoding {
        Some(encoding) if problems.is_empty() => check_block_align(fmt, encoding),
        _ => Err(format!("{} — {CONVERT_HINT}", problems.join("; "))),
    }
}

/// The encoding for a tag and sample size, or a problem pushed onto `problems`.
fn check_encoding(tag: u16, bits: u16, problems: &mut Vec<String>) -> Option<Encoding> {
    let (encoding, needed_bits) = match tag {
        TAG_PCM => (Encoding::Pcm16, 16),
        TAG_ALAW => (Encoding::Alaw, 8),
        TAG_ULAW => (Encoding::Ulaw, 8),
        _ => {
            problems.push(format!(
                "format tag {tag} ({}), telvox needs PCM16 (tag 1), A-law (tag 6) or µ-law (tag 7)",
                tag_name(tag)
            ));
            return None;
        }
    };
    if bits == needed_bits {
        return Some(encoding);
    }
    if tag == TAG_PCM && bits == 8 {
        // WAV's 8-bit PCM is unsigned; a common export default worth naming precisely.
        problems.push("8-bit unsigned PCM, telvox needs 16-bit PCM, A-law or µ-law".to_owned());
    } else {
        problems.push(format!(
            "{} with {bits} bits per sample, telvox needs {needed_bits}",
            tag_name(tag)
        ));
    }
    None
}

/// Block align is how the decoder steps through samples, so a wrong one means a corrupt header.
fn check_block_align(fmt: &FmtChunk, encoding: Encoding) -> Result<Encoding, String> {
    let expected_bytes = encoding.bytes_per_sample();
    if usize::from(fmt.block_align_bytes) != expected_bytes {
        return Err(format!(
            "block align {} bytes, mono {} needs {expected_bytes} — corrupt header",
            fmt.block_align_bytes,
            tag_name(fmt.tag)
        ));
    }
    Ok(encoding)
}

/// Check the `data` chunk: it must fit in the file, hold whole samples, and be neither empty nor
/// longer than [`MAX_PROMPT_SECONDS`].
fn check_data(
    encoding: Encoding,
    body_start: usize,
    declared_bytes: usize,
    file_bytes: usize,
) -> Result<Range<usize>, String> {
    let remaining_bytes = file_bytes - body_start;
    if declared_bytes > remaining_bytes {
        return Err(format!(
            "data chunk declares {declared_bytes} bytes but only {remaining_bytes} remain in the \
             {file_bytes}-byte file — data chunk longer than the file (truncated copy?)"
        ));
    }
    if declared_bytes == 0 {
        return Err("data chunk is empty — no audio".to_owned());
    }
    let sample_bytes = encoding.bytes_per_sample();
    if declared_bytes % sample_bytes != 0 {
        return Err(format!(
            "data chunk is {declared_bytes} bytes, not a whole number of {sample_bytes}-byte \
             samples — corrupt file"
        ));
    }
    let len_samples = declared_bytes / sample_bytes;
    if len_samples > MAX_PROMPT_SAMPLES {
        return Err(format!(
            "audio is {:.1} s long, the limit is {MAX_PROMPT_SECONDS} s (MAX_PROMPT_SECONDS)",
            len_samples as f64 / f64::from(SAMPLE_RATE_HZ)
        ));
    }
    Ok(body_start..body_start + declared_bytes)
}

/// Check the 12-byte RIFF/WAVE preamble.
fn check_riff_header(bytes: &[u8]) -> Result<(), String> {
    if bytes.len() < 12 {
        return Err(format!(
            "file is {} bytes, too short for a RIFF/WAVE header (12) — truncated or not a WAV",
            bytes.len()
        ));
    }
    match &bytes[0..4] {
        b"RIFF" => {}
        b"RIFX" => {
            return Err(format!(
                "big-endian RIFX file, telvox needs RIFF — {CONVERT_HINT}"
            ))
        }
        other => {
            return Err(format!(
                "not a RIFF file (starts with \"{}\", not \"RIFF\") — {CONVERT_HINT}",
                fourcc(other)
            ))
        }
    }
    if &bytes[8..12] != b"WAVE" {
        return Err(format!(
            "RIFF form type is \"{}\", not \"WAVE\" — not a WAV file",
            fourcc(&bytes[8..12])
        ));
    }
    // The RIFF size field (bytes 4..8) is not trusted: streaming writers leave it 0 or
    // 0xFFFFFFFF. The chunk walk is bounded by the real file length instead.
    Ok(())
}

/// Walk the RIFF chunks of a WAV file held in memory and find its format and audio.
///
/// Chunks other than `fmt ` and `data` (LIST, fact, cue, …) are skipped, honouring the pad byte
/// after odd-sized chunks. `fmt ` must come before `data`, as RIFF/WAVE requires; the walk stops
/// at `data`, so anything after the audio is never read.
fn parse_wav(bytes: &[u8]) -> Result<WavLayout, String> {
    check_riff_header(bytes)?;
    let file_bytes = bytes.len();
    let mut pos = 12;
    // The encoding from the `fmt ` chunk, once seen.
    let mut encoding: Option<Encoding> = None;
    for _ in 0..MAX_CHUNKS_BEFORE_DATA {
        if pos >= file_bytes {
            return Err(match encoding {
                None => "no fmt chunk and no data chunk — truncated or corrupt".to_owned(),
                Some(_) => "no data chunk after the fmt chunk — truncated or corrupt".to_owned(),
            });
        }
        if file_bytes - pos < 8 {
            return Err(format!(
                "chunk header at byte {pos} is cut off by the end of the file — truncated"
            ));
        }
        let id = &bytes[pos..pos + 4];
        // u32 always fits usize on the 32- and 64-bit targets telvox builds for.
        let size_bytes = u32_at(bytes, pos + 4) as usize;
        let body_start = pos + 8;
        match id {
            b"fmt " => {
                let seen_before = encoding.is_some();
                encoding = Some(read_fmt_chunk(bytes, body_start, size_bytes, seen_before)?);
            }
            b"data" => {
                let encoding = encoding.ok_or_else(|| {
                    format!("data chunk at byte {pos} comes before the fmt chunk — corrupt header")
                })?;
                let audio = check_data(encoding, body_start, size_bytes, file_bytes)?;
                return Ok(WavLayout { encoding, audio });
            }
            _ => check_skipped_chunk(id, pos, size_bytes, file_bytes)?,
        }
        // RIFF pads every odd-sized chunk body with one byte so the next chunk is word-aligned.
        pos = body_start
            .saturating_add(size_bytes)
            .saturating_add(size_bytes & 1);
    }
    Err(format!(
        "more than {MAX_CHUNKS_BEFORE_DATA} chunks before the data chunk — corrupt header"
    ))
}

/// A chunk telvox skips must still fit in the file, or the file was cut short.
fn check_skipped_chunk(id: &[u8], pos: usize, size_bytes: usize, file_bytes: usize) -> Result<(), String> {
    let remaining_bytes = file_bytes - pos - 8;
    if size_bytes > remaining_bytes {
        return Err(format!(
            "\"{}\" chunk at byte {pos} declares {size_bytes} bytes but only {remaining_bytes} \
             remain in the file — truncated",
            fourcc(id)
        ));
    }
    Ok(())
}

/// Read and check the `fmt ` chunk whose body starts at `body_start`.
fn read_fmt_chunk(
    bytes: &[u8],
    body_start: usize,
    size_bytes: usize,
    seen_before: bool,
) -> Result<Encoding, String> {
    if seen_before {
        return Err("two fmt chunks — corrupt header".to_owned());
    }
    let remaining_bytes = bytes.len() - body_start;
    if size_bytes > remaining_bytes {
        return Err(format!(
            "fmt chunk declares {size_bytes} bytes but only {remaining_bytes} remain in the file \
             — truncated"
        ));
    }
    let fmt = parse_fmt(&bytes[body_start..body_start + size_bytes])?;
    check_fmt(&fmt)
}

/// One prompt: a memory-mapped WAV file and where its audio is.
pub struct Prompt {
    name: String,
    path: PathBuf,
    map: Audio,
    encoding: Encoding,
    /// Byte range of the audio inside `map`; checked by [`parse_wav`] to lie within the map.
    audio: Range<usize>,
}

impl std::fmt::Debug for Prompt {
    // The map is left out: it is the whole file.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prompt")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("encoding", &self.encoding)
            .field("len_samples", &self.len_samples())
            .finish()
    }
}

impl Prompt {
    /// Map and check one WAV file. The prompt's name is the file stem (`welcome.wav` → `welcome`).
    pub fn load(path: &Path) -> Result<Prompt, VoiceError> {
        let name = path
            .file_stem()
            .and_then(|stem| stem.to_str())
            .ok_or_else(|| invalid(path, "file name is not valid UTF-8 — rename the file"))?
            .to_owned();
        let map = map_file(path)?;
        let layout = parse_wav(&map).map_err(|reason| invalid(path, reason))?;
        let prompt = Prompt {
            name,
            path: path.to_path_buf(),
            map: Audio::Mapped(map),
            encoding: layout.encoding,
            audio: layout.audio,
        };
        // Postconditions parse_wav guarantees and read_linear relies on.
        assert!(prompt.audio.end <= prompt.map.len());
        assert!(prompt.len_samples() > 0 && prompt.len_samples() <= MAX_PROMPT_SAMPLES);
        Ok(prompt)
    }

    /// The prompt's name: its file stem.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file the prompt was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How the file encodes its samples.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// Length in samples at [`SAMPLE_RATE_HZ`].
    pub fn len_samples(&self) -> usize {
        self.audio.len() / self.encoding.bytes_per_sample()
    }

    /// Length in milliseconds, rounded down.
    pub fn len_ms(&self) -> u64 {
        self.len_samples() as u64 * 1000 / u64::from(SAMPLE_RATE_HZ)
    }

    /// Decode samples starting at `offset_samples` into `out`, as 16-bit linear.
    ///
    /// Returns how many samples were written: `out.len()` until the end of the prompt, fewer for
    /// the last piece, 0 once `offset_samples` is at or past the end. Runs on the real-time path:
    /// no allocation, no locks, no system calls beyond the page faults of the map.
    pub fn read_linear(&self, offset_samples: usize, out: &mut [i16]) -> usize {
        let len_samples = self.len_samples();
        if offset_samples >= len_samples {
            return 0;
        }
        let count = out.len().min(len_samples - offset_samples);
        let out = &mut out[..count];
        let width = self.encoding.bytes_per_sample();
        let start = self.audio.start + offset_samples * width;
        let codes = &self.map[start..start + count * width];
        match self.encoding {
            Encoding::Pcm16 => decode_pcm16(codes, out),
            Encoding::Alaw => decode_with(codes, out, alaw_to_linear),
            Encoding::Ulaw => decode_with(codes, out, ulaw_to_linear),
        }
        count
    }
}

/// A prompt's bytes: a read-only map of its file, or (a recording mixed down to mono when it was
/// loaded) memory of its own.
enum Audio {
    Mapped(Mmap),
    Owned(Vec<u8>),
}

impl std::ops::Deref for Audio {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Audio::Mapped(map) => map,
            Audio::Owned(bytes) => bytes,
        }
    }
}

impl Prompt {
    /// A call recording to play back (supervisor playback): a WAV telvox's recorder wrote, 8 kHz
    /// PCM16 or A-law, mono or stereo, of any length up to `max_samples` (longer ones are cut
    /// there). The file is mapped read-only and never written. Mono audio is played straight from
    /// the map; stereo (caller left, telvox right) is mixed down here, into A-law held in memory,
    /// so the channel thread that plays it only decodes, as for any prompt. Runs off the channel
    /// thread (it reads the whole file).
    pub fn load_recording(path: &Path, max_samples: usize) -> Result<Prompt, VoiceError> {
        let name = path
            .file_stem()
            .and_then(|stem| stem.to_str())
            .unwrap_or("recording")
            .to_owned();
        let map = map_file(path)?;
        let (fmt, audio) = find_recording_audio(&map).map_err(|reason| invalid(path, reason))?;
        let encoding = match (fmt.tag, fmt.bits_per_sample) {
            (TAG_PCM, 16) => Encoding::Pcm16,
            (TAG_ALAW, 8) => Encoding::Alaw,
            (TAG_ULAW, 8) => Encoding::Ulaw,
            (tag, bits) => {
                return Err(invalid(
                    path,
                    format!(
                        "format tag {tag} ({}) with {bits} bits: not a telvox recording",
                        tag_name(tag)
                    ),
                ))
            }
        };
        if fmt.rate_hz != SAMPLE_RATE_HZ || !(1..=2).contains(&fmt.channels) {
            return Err(invalid(
                path,
                format!(
                    "{} Hz, {} channels: not a telvox recording",
                    fmt.rate_hz, fmt.channels
                ),
            ));
        }
        let width = encoding.bytes_per_sample();
        let frame_bytes = width * usize::from(fmt.channels);
        let frames = (audio.len() / frame_bytes).min(max_samples);
        if frames == 0 {
            return Err(invalid(path, "no audio"));
        }
        let prompt = if fmt.channels == 1 {
            Prompt {
                name,
                path: path.to_path_buf(),
                map: Audio::Mapped(map),
                encoding,
                audio: audio.start..audio.start + frames * width,
            }
        } else {
            let decode = |bytes: &[u8]| -> i16 {
                match encoding {
                    Encoding::Pcm16 => i16::from_le_bytes([bytes[0], bytes[1]]),
                    Encoding::Alaw => alaw_to_linear(bytes[0]),
                    Encoding::Ulaw => ulaw_to_linear(bytes[0]),
                }
            };
            let mixed: Vec<u8> = map[audio.start..audio.start + frames * frame_bytes]
                .chunks_exact(frame_bytes)
                .map(|frame| {
                    let left = decode(&frame[..width]);
                    let right = decode(&frame[width..]);
                    crate::dsp::g711::encode(crate::hw::Law::Alaw, left.saturating_add(right))
                })
                .collect();
            Prompt {
                name,
                path: path.to_path_buf(),
                map: Audio::Owned(mixed),
                encoding: Encoding::Alaw,
                audio: 0..frames,
            }
        };
        assert!(prompt.audio.end <= prompt.map.len());
        Ok(prompt)
    }
}

/// The `fmt ` chunk and the audio of a recording (no limit on channels or length: those are the
/// caller's to judge). A `data` size running past the end (a file cut by a crash before its
/// repair) is read up to the end.
fn find_recording_audio(bytes: &[u8]) -> Result<(FmtChunk, Range<usize>), String> {
    check_riff_header(bytes)?;
    let mut pos = 12;
    let mut fmt: Option<FmtChunk> = None;
    for _ in 0..MAX_CHUNKS_BEFORE_DATA {
        if bytes.len().saturating_sub(pos) < 8 {
            break;
        }
        let id = &bytes[pos..pos + 4];
        let size_bytes = u32_at(bytes, pos + 4) as usize;
        let body_start = pos + 8;
        let body_end = body_start.saturating_add(size_bytes).min(bytes.len());
        match id {
            b"fmt " => fmt = Some(parse_fmt(&bytes[body_start..body_end])?),
            b"data" => {
                let fmt = fmt.ok_or("data chunk before the fmt chunk — corrupt header")?;
                return Ok((fmt, body_start..body_end));
            }
            _ => {}
        }
        pos = body_start
            .saturating_add(size_bytes)
            .saturating_add(size_bytes & 1);
    }
    Err("no data chunk — truncated or corrupt".to_owned())
}

fn decode_pcm16(bytes: &[u8], out: &mut [i16]) {
    for (sample, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *sample = i16::from_le_bytes([pair[0], pair[1]]);
    }
}

fn decode_with(codes: &[u8], out: &mut [i16], decode: fn(u8) -> i16) {
    for (sample, &code) in out.iter_mut().zip(codes) {
        *sample = decode(code);
    }
}

/// Open and map a prompt file read-only.
fn map_file(path: &Path) -> Result<Mmap, VoiceError> {
    let file = File::open(path).map_err(|source| io_error(path, source))?;
    let metadata = file.metadata().map_err(|source| io_error(path, source))?;
    if !metadata.is_file() {
        return Err(invalid(path, "not a regular file"));
    }
    // Checked before mapping: an empty file cannot be mapped on every platform, and a file this
    // short is refused whatever it holds.
    if metadata.len() < 12 {
        return Err(invalid(
            path,
            format!(
                "file is {} bytes, too short for a RIFF/WAVE header (12) — truncated or not a WAV",
                metadata.len()
            ),
        ));
    }
    // SAFETY: `Mmap::map` is unsafe because another process could change or truncate the file
    // while it is mapped, which would change bytes behind a `&[u8]` or raise SIGBUS. Prompts are
    // read-only assets: installed by the package or written by voice/generate.sh, which renders
    // into a scratch directory and renames the result into place — a rename gives a new inode,
    // so a running daemon keeps its map of the old, unchanged file. Residual risk: an operator
    // overwriting a prompt *in place* (e.g. `cp new.wav voice/en/welcome.wav`) while telvox runs
    // can garble that prompt or crash the daemon with SIGBUS; voice/README.md says to replace
    // prompts by rename and then reload.
    let map = unsafe { Mmap::map(&file) };
    map.map_err(|source| io_error(path, source))
}

/// All prompts of one language, by name.
#[derive(Debug)]
pub struct PromptSet {
    language: String,
    dir: PathBuf,
    prompts: BTreeMap<String, Arc<Prompt>>,
}

impl PromptSet {
    /// Load every `*.wav` in `dir` (the extension matched case-insensitively; other files such as
    /// prompts.txt are ignored). Every bad file is reported in one error.
    pub fn load_dir(dir: &Path, language: &str) -> Result<PromptSet, VoiceError> {
        let paths = wav_paths(dir)?;
        if paths.is_empty() {
            return Err(invalid(dir, "no *.wav prompts in this directory"));
        }
        let mut prompts = BTreeMap::new();
        let mut errors = Vec::new();
        for path in paths {
            match Prompt::load(&path) {
                Ok(prompt) => insert_unique(&mut prompts, prompt, &mut errors),
                Err(error) => errors.push(error),
            }
        }
        combine(errors)?;
        Ok(PromptSet {
            language: language.to_owned(),
            dir: dir.to_path_buf(),
            prompts,
        })
    }

    /// The prompt called `name` (the file stem), if the set has it.
    pub fn get(&self, name: &str) -> Option<&Arc<Prompt>> {
        self.prompts.get(name)
    }

    /// The language code this set was loaded as (its directory name under `voice/`).
    pub fn language(&self) -> &str {
        &self.language
    }

    /// The directory the set was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Prompt names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.prompts.keys().map(String::as_str)
    }

    /// Number of prompts.
    pub fn len(&self) -> usize {
        self.prompts.len()
    }

    /// True when the set has no prompts (never, for a set built by [`PromptSet::load_dir`]).
    pub fn is_empty(&self) -> bool {
        self.prompts.is_empty()
    }

    /// The names from `names` this set lacks, in the order given.
    pub fn missing<'a>(&self, names: &[&'a str]) -> Vec<&'a str> {
        names
            .iter()
            .copied()
            .filter(|name| !self.prompts.contains_key(*name))
            .collect()
    }
}

/// Add a prompt, refusing a second file with the same stem (`a.wav` and `a.WAV`).
fn insert_unique(prompts: &mut BTreeMap<String, Arc<Prompt>>, prompt: Prompt, errors: &mut Vec<VoiceError>) {
    if let Some(first) = prompts.get(prompt.name()) {
        let reason = format!(
            "same prompt name '{}' as {} — keep one of them",
            prompt.name(),
            first.path().display()
        );
        errors.push(invalid(prompt.path(), reason));
        return;
    }
    prompts.insert(prompt.name().to_owned(), Arc::new(prompt));
}

/// The `*.wav` files in `dir`, sorted so loading and error order do not depend on the file system.
fn wav_paths(dir: &Path) -> Result<Vec<PathBuf>, VoiceError> {
    let is_wav = |path: &Path| {
        path.extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("wav"))
    };
    let mut paths = Vec::new();
    for path in dir_entries(dir)? {
        if !is_wav(&path) {
            continue;
        }
        if paths.len() == MAX_PROMPTS_PER_LANGUAGE {
            return Err(invalid(
                dir,
                format!("more than {MAX_PROMPTS_PER_LANGUAGE} *.wav files (MAX_PROMPTS_PER_LANGUAGE)"),
            ));
        }
        paths.push(path);
    }
    paths.sort();
    Ok(paths)
}

/// Every entry of a directory, as paths.
fn dir_entries(dir: &Path) -> Result<Vec<PathBuf>, VoiceError> {
    let entries = std::fs::read_dir(dir).map_err(|source| io_error(dir, source))?;
    entries
        .map(|entry| {
            entry
                .map(|entry| entry.path())
                .map_err(|source| io_error(dir, source))
        })
        .collect()
}

/// Every language's prompt set, loaded from the subdirectories of the voice directory.
#[derive(Debug)]
pub struct Voice {
    dir: PathBuf,
    sets: BTreeMap<String, PromptSet>,
}

impl Voice {
    /// Load each language subdirectory of `voice_dir` (`voice/en`, `voice/zh`, …); the directory
    /// name is the language code. Hidden directories (generate.sh's scratch space) are skipped.
    /// Every bad file of every language is reported in one error.
    pub fn load(voice_dir: &Path) -> Result<Voice, VoiceError> {
        let languages = language_dirs(voice_dir)?;
        if languages.is_empty() {
            return Err(invalid(
                voice_dir,
                "no language subdirectories (expected e.g. en/ with *.wav prompts)",
            ));
        }
        let mut sets = BTreeMap::new();
        let mut errors = Vec::new();
        for (language, dir) in languages {
            match PromptSet::load_dir(&dir, &language) {
                Ok(set) => {
                    sets.insert(language, set);
                }
                Err(error) => errors.push(error),
            }
        }
        combine(errors)?;
        Ok(Voice {
            dir: voice_dir.to_path_buf(),
            sets,
        })
    }

    /// The prompt set for `language`, if one was loaded.
    pub fn set(&self, language: &str) -> Option<&PromptSet> {
        self.sets.get(language)
    }

    /// The loaded language codes, sorted.
    pub fn languages(&self) -> impl Iterator<Item = &str> + '_ {
        self.sets.keys().map(String::as_str)
    }

    /// Check that `language` has every prompt in `names`; the error names all missing ones.
    pub fn check_complete(&self, language: &str, names: &[&str]) -> Result<(), VoiceError> {
        let set = self.set(language).ok_or_else(|| VoiceError::NoLanguage {
            dir: self.dir.clone(),
            language: language.to_owned(),
            available: self.languages().map(str::to_owned).collect(),
        })?;
        let missing = set.missing(names);
        if missing.is_empty() {
            return Ok(());
        }
        Err(VoiceError::Missing {
            dir: set.dir().to_path_buf(),
            language: language.to_owned(),
            missing: missing.into_iter().map(str::to_owned).collect(),
        })
    }
}

/// `(language, path)` for each visible subdirectory of the voice directory, sorted.
fn language_dirs(voice_dir: &Path) -> Result<Vec<(String, PathBuf)>, VoiceError> {
    let mut languages = Vec::new();
    for path in dir_entries(voice_dir)? {
        if !path.is_dir() {
            continue;
        }
        let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
            return Err(invalid(&path, "directory name is not valid UTF-8 — rename it"));
        };
        if name.starts_with('.') {
            continue;
        }
        if languages.len() == MAX_LANGUAGES {
            return Err(invalid(
                voice_dir,
                format!("more than {MAX_LANGUAGES} language directories (MAX_LANGUAGES)"),
            ));
        }
        languages.push((name.to_owned(), path));
    }
    languages.sort();
    Ok(languages)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use tempfile::TempDir;

    /// The hint every format refusal must carry.
    const SOX_HINT: &str = "sox in.wav -r 8000 -c 1 -e a-law out.wav";

    fn committed_voice_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("voice")
    }

    /// One RIFF chunk, with the pad byte RIFF requires after an odd-sized body.
    fn chunk(id: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut out = id.to_vec();
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(body);
        if body.len() % 2 == 1 {
            out.push(0);
        }
        out
    }

    /// A plain 16-byte `fmt ` body.
    fn fmt_body(tag: u16, channels: u16, rate_hz: u32, bits: u16) -> Vec<u8> {
        let block_align = channels * bits.div_ceil(8);
        let mut out = Vec::new();
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&channels.to_le_bytes());
        out.extend_from_slice(&rate_hz.to_le_bytes());
        out.extend_from_slice(&(rate_hz * u32::from(block_align)).to_le_bytes());
        out.extend_from_slice(&block_align.to_le_bytes());
        out.extend_from_slice(&bits.to_le_bytes());
        out
    }

    /// A 40-byte WAVE_FORMAT_EXTENSIBLE `fmt ` body wrapping `subformat_tag`.
    fn extensible_fmt_body(subformat_tag: u16, bits: u16) -> Vec<u8> {
        let mut out = fmt_body(TAG_EXTENSIBLE, 1, SAMPLE_RATE_HZ, bits);
        out.extend_from_slice(&22u16.to_le_bytes()); // cbSize
        out.extend_from_slice(&bits.to_le_bytes()); // valid bits
        out.extend_from_slice(&4u32.to_le_bytes()); // channel mask: front centre
        out.extend_from_slice(&u32::from(subformat_tag).to_le_bytes());
        out.extend_from_slice(&SUBFORMAT_GUID_TAIL);
        out
    }

    fn riff(chunks: &[Vec<u8>]) -> Vec<u8> {
        let body: Vec<u8> = chunks.concat();
        let mut out = b"RIFF".to_vec();
        out.extend_from_slice(&(4 + body.len() as u32).to_le_bytes());
        out.extend_from_slice(b"WAVE");
        out.extend_from_slice(&body);
        out
    }

    fn wav(tag: u16, channels: u16, rate_hz: u32, bits: u16, data: &[u8]) -> Vec<u8> {
        riff(&[
            chunk(b"fmt ", &fmt_body(tag, channels, rate_hz, bits)),
            chunk(b"data", data),
        ])
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// Load `bytes` as `<tempdir>/<name>` expecting a refusal; the message must name the file.
    fn refusal(name: &str, bytes: &[u8]) -> String {
        let dir = TempDir::new().unwrap();
        let path = write(dir.path(), name, bytes);
        let message = Prompt::load(&path).unwrap_err().to_string();
        assert!(
            message.starts_with(&format!("{}: ", path.display())),
            "message does not name the file: {message}"
        );
        message
    }

    fn assert_contains(message: &str, needles: &[&str]) {
        for needle in needles {
            assert!(message.contains(needle), "{needle:?} not in {message:?}");
        }
    }

    fn read_all(prompt: &Prompt) -> Vec<i16> {
        let mut out = vec![0i16; prompt.len_samples()];
        assert_eq!(prompt.read_linear(0, &mut out), prompt.len_samples());
        out
    }

    fn pcm16_bytes(samples: &[i16]) -> Vec<u8> {
        samples.iter().flat_map(|s| s.to_le_bytes()).collect()
    }

    #[test]
    fn committed_sets_load_and_are_complete() {
        let voice = Voice::load(&committed_voice_dir()).unwrap();
        let languages: Vec<&str> = voice.languages().collect();
        // The shipped languages; any other committed language is held to the same standard.
        assert!(
            languages.contains(&"en") && languages.contains(&"zh"),
            "{languages:?}"
        );
        for language in languages {
            voice.check_complete(language, LINETEST_PROMPTS).unwrap();
            let set = voice.set(language).unwrap();
            assert_eq!(set.language(), language);
            assert_eq!(set.get("welcome").unwrap().name(), "welcome");
            assert_eq!(set.get("welcome").unwrap().encoding(), Encoding::Alaw);
        }
    }

    #[test]
    fn committed_prompt_lengths_are_sensible() {
        let voice = Voice::load(&committed_voice_dir()).unwrap();
        for language in voice.languages() {
            let set = voice.set(language).unwrap();
            for name in LINETEST_PROMPTS {
                let prompt = set.get(name).unwrap();
                let len_ms = prompt.len_ms();
                assert!((200..=6000).contains(&len_ms), "{language}/{name} is {len_ms} ms");
            }
        }
    }

    #[test]
    fn committed_prompts_peak_near_minus_6_dbfs() {
        // generate.sh normalises to -6 dBFS (16384); A-law quantisation moves it a little.
        let voice = Voice::load(&committed_voice_dir()).unwrap();
        for language in voice.languages() {
            for name in LINETEST_PROMPTS {
                let prompt = voice.set(language).unwrap().get(name).unwrap();
                let peak = read_all(prompt).iter().map(|s| s.unsigned_abs()).max();
                let peak = peak.unwrap();
                assert!(
                    (14_000..=19_000).contains(&peak),
                    "{language}/{name} peaks at {peak}"
                );
            }
        }
    }

    #[test]
    fn committed_prompt_opens_in_sox() {
        let path = committed_voice_dir().join("en").join("welcome.wav");
        let status = match Command::new("sox").arg("--i").arg(&path).output() {
            Ok(output) => output.status,
            // sox is a tool for regenerating prompts, not a build dependency: skip without it.
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                eprintln!("sox not installed; skipping the sox cross-check");
                return;
            }
            Err(error) => panic!("running sox: {error}"),
        };
        assert!(status.success(), "sox --i {} failed", path.display());
    }

    #[test]
    fn pcm16_wav_decodes_exactly() {
        let mut samples = vec![i16::MIN, -1, 0, 1, i16::MAX];
        samples.extend((0..1000).map(|i| (i * 61 - 30_000) as i16));
        let dir = TempDir::new().unwrap();
        let bytes = wav(TAG_PCM, 1, SAMPLE_RATE_HZ, 16, &pcm16_bytes(&samples));
        let path = write(dir.path(), "ramp.wav", &bytes);
        let prompt = Prompt::load(&path).unwrap();
        assert_eq!(prompt.name(), "ramp");
        assert_eq!(prompt.encoding(), Encoding::Pcm16);
        assert_eq!(prompt.len_samples(), samples.len());
        assert_eq!(read_all(&prompt), samples);
    }

    #[test]
    fn ulaw_wav_decodes_to_g711() {
        let codes: Vec<u8> = (0..=255).collect();
        let dir = TempDir::new().unwrap();
        let path = write(dir.path(), "u.wav", &wav(TAG_ULAW, 1, SAMPLE_RATE_HZ, 8, &codes));
        let prompt = Prompt::load(&path).unwrap();
        let expected: Vec<i16> = codes.iter().map(|&c| ulaw_to_linear(c)).collect();
        assert_eq!(read_all(&prompt), expected);
    }

    #[test]
    fn alaw_wav_with_odd_length_decodes_to_g711() {
        // 255 codes: an odd-sized data chunk, followed by its pad byte and a trailing chunk.
        let codes: Vec<u8> = (0..=254).collect();
        let bytes = riff(&[
            chunk(b"fmt ", &fmt_body(TAG_ALAW, 1, SAMPLE_RATE_HZ, 8)),
            chunk(b"data", &codes),
            chunk(b"LIST", b"trailing metadata"),
        ]);
        let dir = TempDir::new().unwrap();
        let path = write(dir.path(), "a.wav", &bytes);
        let prompt = Prompt::load(&path).unwrap();
        let expected: Vec<i16> = codes.iter().map(|&c| alaw_to_linear(c)).collect();
        assert_eq!(read_all(&prompt), expected);
    }

    #[test]
    fn odd_sized_chunks_before_fmt_are_skipped_with_their_pad_byte() {
        let samples = [100i16, -200, 300];
        let bytes = riff(&[
            chunk(b"LIST", b"odd"),
            chunk(b"fmt ", &fmt_body(TAG_PCM, 1, SAMPLE_RATE_HZ, 16)),
            chunk(b"fact", &[3, 0, 0, 0, 9]),
            chunk(b"data", &pcm16_bytes(&samples)),
        ]);
        assert_eq!(bytes.len() % 2, 0, "pad bytes keep chunks word-aligned");
        let layout = parse_wav(&bytes).unwrap();
        assert_eq!(layout.encoding, Encoding::Pcm16);
        assert_eq!(layout.audio.len(), 6);
        assert_eq!(&bytes[layout.audio], &pcm16_bytes(&samples)[..]);
    }

    #[test]
    fn fmt_chunk_with_cb_size_is_accepted() {
        // sox writes an 18-byte fmt chunk (cbSize = 0) for A-law, followed by a fact chunk.
        let mut fmt = fmt_body(TAG_ALAW, 1, SAMPLE_RATE_HZ, 8);
        fmt.extend_from_slice(&0u16.to_le_bytes());
        let bytes = riff(&[
            chunk(b"fmt ", &fmt),
            chunk(b"fact", &1u32.to_le_bytes()),
            chunk(b"data", &[0xD5]),
        ]);
        assert_eq!(parse_wav(&bytes).unwrap().encoding, Encoding::Alaw);
    }

    #[test]
    fn extensible_subformats_are_accepted() {
        let cases = [
            (TAG_PCM, 16, Encoding::Pcm16),
            (TAG_ALAW, 8, Encoding::Alaw),
            (TAG_ULAW, 8, Encoding::Ulaw),
        ];
        for (tag, bits, encoding) in cases {
            let bytes = riff(&[
                chunk(b"fmt ", &extensible_fmt_body(tag, bits)),
                chunk(b"data", &[1, 2, 3, 4]),
            ]);
            assert_eq!(parse_wav(&bytes).unwrap().encoding, encoding, "tag {tag}");
        }
    }

    #[test]
    fn extensible_float_is_refused() {
        let bytes = riff(&[
            chunk(b"fmt ", &extensible_fmt_body(3, 32)),
            chunk(b"data", &[0; 8]),
        ]);
        let message = refusal("float.wav", &bytes);
        assert_contains(&message, &["format tag 3 (IEEE float)", SOX_HINT]);
    }

    #[test]
    fn refuses_16khz() {
        let message = refusal("welcome.wav", &wav(TAG_ALAW, 1, 16_000, 8, &[0xD5; 4]));
        assert_contains(
            &message,
            &[
                "sample rate 16000 Hz, telvox needs 8000 Hz — convert with: ",
                SOX_HINT,
            ],
        );
    }

    #[test]
    fn refuses_stereo() {
        let message = refusal("stereo.wav", &wav(TAG_PCM, 2, SAMPLE_RATE_HZ, 16, &[0; 8]));
        assert_contains(&message, &["2 channels, telvox needs mono", SOX_HINT]);
    }

    #[test]
    fn refuses_16khz_stereo_naming_both_problems() {
        let message = refusal("both.wav", &wav(TAG_PCM, 2, 16_000, 16, &[0; 8]));
        assert_contains(&message, &["sample rate 16000 Hz", "2 channels", SOX_HINT]);
    }

    #[test]
    fn refuses_8bit_unsigned_pcm() {
        let message = refusal("u8.wav", &wav(TAG_PCM, 1, SAMPLE_RATE_HZ, 8, &[128; 4]));
        assert_contains(&message, &["8-bit unsigned PCM", SOX_HINT]);
    }

    #[test]
    fn refuses_gsm() {
        // GSM 6.10 as sox writes it: 0 bits per sample, 65-byte blocks of 320 samples.
        let mut fmt = fmt_body(49, 1, SAMPLE_RATE_HZ, 0);
        fmt[12..14].copy_from_slice(&65u16.to_le_bytes());
        let bytes = riff(&[chunk(b"fmt ", &fmt), chunk(b"data", &[0; 65])]);
        let message = refusal("gsm.wav", &bytes);
        assert_contains(&message, &["format tag 49 (GSM 6.10)", "PCM16", SOX_HINT]);
    }

    #[test]
    fn refuses_wrong_block_align() {
        let mut fmt = fmt_body(TAG_PCM, 1, SAMPLE_RATE_HZ, 16);
        fmt[12..14].copy_from_slice(&4u16.to_le_bytes());
        let bytes = riff(&[chunk(b"fmt ", &fmt), chunk(b"data", &[0; 8])]);
        assert_contains(&refusal("align.wav", &bytes), &["block align 4 bytes"]);
    }

    #[test]
    fn refuses_truncated_file() {
        let full = wav(TAG_ALAW, 1, SAMPLE_RATE_HZ, 8, &[0xD5; 100]);
        // Inside the RIFF header, inside the fmt chunk, between chunks, inside the data header.
        let cases = [
            (6, "too short for a RIFF/WAVE header"),
            (30, "fmt chunk declares 16 bytes but only 10 remain"),
            (36, "no data chunk after the fmt chunk"),
            (40, "chunk header at byte 36 is cut off"),
        ];
        for (cut_bytes, expected) in cases {
            let message = refusal("cut.wav", &full[..cut_bytes]);
            assert_contains(&message, &[expected]);
            assert!(message.contains("truncated"), "cut at {cut_bytes}: {message}");
        }
    }

    #[test]
    fn refuses_skipped_chunk_beyond_file() {
        let bytes = riff(&[chunk(b"LIST", &[0; 10])]);
        let message = refusal("list.wav", &bytes[..20]);
        assert_contains(
            &message,
            &[
                "\"LIST\" chunk at byte 12 declares 10 bytes but only 0 remain",
                "truncated",
            ],
        );
    }

    #[test]
    fn refuses_data_size_beyond_file() {
        let mut bytes = wav(TAG_ALAW, 1, SAMPLE_RATE_HZ, 8, &[0xD5; 100]);
        // The data chunk's size field sits at bytes 40..44 of this layout.
        bytes[40..44].copy_from_slice(&1000u32.to_le_bytes());
        let message = refusal("short.wav", &bytes);
        assert_contains(
            &message,
            &[
                "data chunk declares 1000 bytes but only 100 remain",
                "longer than the file",
            ],
        );
    }

    #[test]
    fn refuses_not_riff() {
        let message = refusal("notes.wav", b"OggS\0\x02 this is not a wave file at all");
        assert_contains(&message, &["not a RIFF file (starts with \"OggS\"", SOX_HINT]);
        let mut avi = wav(TAG_PCM, 1, SAMPLE_RATE_HZ, 16, &[0; 2]);
        avi[8..12].copy_from_slice(b"AVI ");
        assert_contains(&refusal("movie.wav", &avi), &["form type is \"AVI \""]);
    }

    #[test]
    fn refuses_empty_audio() {
        let message = refusal("empty.wav", &wav(TAG_ALAW, 1, SAMPLE_RATE_HZ, 8, &[]));
        assert_contains(&message, &["data chunk is empty — no audio"]);
    }

    #[test]
    fn refuses_data_before_fmt() {
        let bytes = riff(&[
            chunk(b"data", &[0xD5; 4]),
            chunk(b"fmt ", &fmt_body(TAG_ALAW, 1, SAMPLE_RATE_HZ, 8)),
        ]);
        assert_contains(
            &refusal("order.wav", &bytes),
            &["data chunk at byte 12 comes before the fmt chunk"],
        );
    }

    #[test]
    fn refuses_prompt_longer_than_limit() {
        let too_long_bytes = MAX_PROMPT_SAMPLES + 1;
        let mut bytes = wav(TAG_ALAW, 1, SAMPLE_RATE_HZ, 8, &[]);
        let header_bytes = bytes.len();
        bytes[40..44].copy_from_slice(&(too_long_bytes as u32).to_le_bytes());
        let dir = TempDir::new().unwrap();
        let path = write(dir.path(), "long.wav", &bytes);
        // A sparse file: the audio reads as zeros without writing 4.8 MB.
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len((header_bytes + too_long_bytes) as u64).unwrap();
        let message = Prompt::load(&path).unwrap_err().to_string();
        assert_contains(&message, &["long.wav: audio is 600.0 s long, the limit is 600 s"]);
    }

    #[test]
    fn recordings_play_mono_from_the_map_and_stereo_mixed_down_and_cut_at_the_limit() {
        let dir = TempDir::new().unwrap();
        // Stereo PCM16, caller left and telvox right: heard as their sum (through A-law).
        let frames: Vec<i16> = vec![1000, 200, -3000, -100, 0, 0, 20000, 20000];
        let stereo = write(
            dir.path(),
            "s.wav",
            &wav(TAG_PCM, 2, SAMPLE_RATE_HZ, 16, &pcm16_bytes(&frames)),
        );
        let prompt = Prompt::load_recording(&stereo, 100).unwrap();
        let expected: Vec<i16> = [1200i16, -3100, 0, i16::MAX]
            .iter()
            .map(|&s| alaw_to_linear(crate::dsp::g711::encode(crate::hw::Law::Alaw, s)))
            .collect();
        assert_eq!(read_all(&prompt), expected);
        // Mono A-law, longer than any prompt may be, played from the map up to the limit.
        let codes: Vec<u8> = (0..=255).collect();
        let mono = write(dir.path(), "m.wav", &wav(TAG_ALAW, 1, SAMPLE_RATE_HZ, 8, &codes));
        let before = std::fs::read(&mono).unwrap();
        let prompt = Prompt::load_recording(&mono, 10).unwrap();
        let expected: Vec<i16> = codes[..10].iter().map(|&c| alaw_to_linear(c)).collect();
        assert_eq!(read_all(&prompt), expected);
        drop(prompt);
        assert_eq!(std::fs::read(&mono).unwrap(), before, "the file is not touched");
        // Not a telvox recording.
        let wide = write(dir.path(), "w.wav", &wav(TAG_PCM, 1, 16_000, 16, &[0; 8]));
        assert!(Prompt::load_recording(&wide, 100).is_err());
        let empty = write(dir.path(), "e.wav", &wav(TAG_PCM, 2, SAMPLE_RATE_HZ, 16, &[]));
        assert!(Prompt::load_recording(&empty, 100).is_err());
    }

    #[test]
    fn read_linear_near_the_end() {
        let samples: Vec<i16> = (1..=10).collect();
        let dir = TempDir::new().unwrap();
        let bytes = wav(TAG_PCM, 1, SAMPLE_RATE_HZ, 16, &pcm16_bytes(&samples));
        let prompt = Prompt::load(&write(dir.path(), "ten.wav", &bytes)).unwrap();
        let mut out = [0i16; 4];
        assert_eq!(prompt.read_linear(6, &mut out), 4);
        assert_eq!(out, [7, 8, 9, 10]);
        out = [-1; 4];
        assert_eq!(prompt.read_linear(8, &mut out), 2);
        assert_eq!(out, [9, 10, -1, -1], "samples past the count are untouched");
        assert_eq!(prompt.read_linear(9, &mut out), 1);
        assert_eq!(out[0], 10);
        assert_eq!(prompt.read_linear(10, &mut out), 0);
        assert_eq!(prompt.read_linear(usize::MAX, &mut out), 0);
        assert_eq!(prompt.read_linear(0, &mut []), 0);
    }

    #[test]
    fn load_dir_reports_every_bad_file() {
        let dir = TempDir::new().unwrap();
        write(
            dir.path(),
            "good.wav",
            &wav(TAG_ALAW, 1, SAMPLE_RATE_HZ, 8, &[0xD5; 4]),
        );
        let wide = write(dir.path(), "wide.wav", &wav(TAG_ALAW, 1, 16_000, 8, &[0xD5; 4]));
        let text = write(dir.path(), "text.wav", b"hello, this is not audio");
        write(dir.path(), "prompts.txt", b"good\tGood.\n");
        let message = PromptSet::load_dir(dir.path(), "xx").unwrap_err().to_string();
        assert_contains(
            &message,
            &[
                "2 problems loading prompts",
                &format!("{}: not a RIFF file", text.display()),
                &format!("{}: sample rate 16000 Hz", wide.display()),
            ],
        );
    }

    #[test]
    fn voice_load_reports_bad_files_of_every_language() {
        let voice_dir = TempDir::new().unwrap();
        let mut bad = Vec::new();
        for language in ["aa", "bb"] {
            let dir = voice_dir.path().join(language);
            std::fs::create_dir(&dir).unwrap();
            bad.push(write(
                &dir,
                "x.wav",
                &wav(TAG_PCM, 2, SAMPLE_RATE_HZ, 16, &[0; 4]),
            ));
        }
        // A hidden scratch directory left by an interrupted generate.sh is ignored.
        std::fs::create_dir(voice_dir.path().join(".generate.tmp")).unwrap();
        let message = Voice::load(voice_dir.path()).unwrap_err().to_string();
        for path in bad {
            assert_contains(&message, &[&format!("{}: 2 channels", path.display())]);
        }
    }

    #[test]
    fn check_complete_names_every_missing_prompt() {
        let voice_dir = TempDir::new().unwrap();
        let dir = voice_dir.path().join("xx");
        std::fs::create_dir(&dir).unwrap();
        write(
            &dir,
            "welcome.wav",
            &wav(TAG_ULAW, 1, SAMPLE_RATE_HZ, 8, &[0xFF; 4]),
        );
        let voice = Voice::load(voice_dir.path()).unwrap();
        let message = voice
            .check_complete("xx", LINETEST_PROMPTS)
            .unwrap_err()
            .to_string();
        assert_contains(&message, &[&dir.display().to_string(), "language 'xx'"]);
        for name in &LINETEST_PROMPTS[1..] {
            assert_contains(&message, &[name]);
        }
        assert!(!message.contains("welcome"), "{message}");
        let message = voice.check_complete("fr", &["welcome"]).unwrap_err();
        assert_contains(&message.to_string(), &["no prompt set for language 'fr'", "xx"]);
    }

    #[test]
    fn prompts_are_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Arc<Prompt>>();
        assert_send_sync::<Voice>();
    }
}
