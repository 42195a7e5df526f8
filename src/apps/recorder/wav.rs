//! The three recording formats as WAV files, and the repair of a WAV whose header a crash left
//! stale (sizes fixed from the file's length).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::dsp::g711;
use crate::engine::tap::{RecordFormat, TapBlock};
use crate::hw::{Law, BLOCK_SAMPLES};

pub const SAMPLE_RATE_HZ: u32 = 8000;
/// Longest header written (A-law: fmt with cbSize, and a fact chunk).
pub const MAX_HEADER_BYTES: usize = 58;

/// Bytes one block (20 ms) takes in `format`.
pub const fn block_bytes(format: RecordFormat) -> usize {
    match format {
        RecordFormat::Alaw => BLOCK_SAMPLES,
        RecordFormat::Pcm16 => BLOCK_SAMPLES * 2,
        RecordFormat::Stereo => BLOCK_SAMPLES * 4,
    }
}

/// Bytes per second of audio in `format`.
pub const fn bytes_per_second(format: RecordFormat) -> u32 {
    block_bytes(format) as u32 * 50
}

/// The header of a file holding `data_bytes` of audio, and its length.
pub fn header(format: RecordFormat, data_bytes: u32) -> ([u8; MAX_HEADER_BYTES], usize) {
    let mut h = [0u8; MAX_HEADER_BYTES];
    let (tag, channels, bits, align, fmt_len): (u16, u16, u16, u16, u32) = match format {
        RecordFormat::Alaw => (6, 1, 8, 1, 18),
        RecordFormat::Pcm16 => (1, 1, 16, 2, 16),
        RecordFormat::Stereo => (1, 2, 16, 4, 16),
    };
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        h[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    };
    let len = header_len(format);
    put(b"RIFF");
    put(&(len as u32 - 8 + data_bytes).to_le_bytes());
    put(b"WAVE");
    put(b"fmt ");
    put(&fmt_len.to_le_bytes());
    put(&tag.to_le_bytes());
    put(&channels.to_le_bytes());
    put(&SAMPLE_RATE_HZ.to_le_bytes());
    put(&(SAMPLE_RATE_HZ * u32::from(align)).to_le_bytes());
    put(&align.to_le_bytes());
    put(&bits.to_le_bytes());
    if format == RecordFormat::Alaw {
        put(&0u16.to_le_bytes()); // cbSize
        put(b"fact");
        put(&4u32.to_le_bytes());
        put(&data_bytes.to_le_bytes()); // one byte per sample
    }
    put(b"data");
    put(&data_bytes.to_le_bytes());
    (h, len)
}

pub const fn header_len(format: RecordFormat) -> usize {
    match format {
        RecordFormat::Alaw => 58,
        RecordFormat::Pcm16 | RecordFormat::Stereo => 44,
    }
}

/// Appends one block of a call to `out` in `format`: mono formats mix both directions.
pub fn encode_block(format: RecordFormat, law: Law, block: &TapBlock, out: &mut Vec<u8>) {
    let mut rx = [0i16; BLOCK_SAMPLES];
    let mut tx = [0i16; BLOCK_SAMPLES];
    g711::decode_block(law, &block.rx, &mut rx);
    g711::decode_block(law, &block.tx, &mut tx);
    match format {
        RecordFormat::Stereo => {
            for (l, r) in rx.iter().zip(&tx) {
                out.extend_from_slice(&l.to_le_bytes());
                out.extend_from_slice(&r.to_le_bytes());
            }
        }
        RecordFormat::Pcm16 => {
            for (a, b) in rx.iter().zip(&tx) {
                out.extend_from_slice(&a.saturating_add(*b).to_le_bytes());
            }
        }
        RecordFormat::Alaw => {
            for (a, b) in rx.iter().zip(&tx) {
                out.push(g711::encode(Law::Alaw, a.saturating_add(*b)));
            }
        }
    }
}

/// Appends `blocks` blocks of silence in `format`.
pub fn silence(format: RecordFormat, blocks: usize, out: &mut Vec<u8>) {
    let byte = match format {
        RecordFormat::Alaw => Law::Alaw.silence_byte(),
        _ => 0,
    };
    out.resize(out.len() + blocks * block_bytes(format), byte);
}

/// What [`repair`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repaired {
    pub data_bytes: u64,
    pub bytes_per_second: u32,
}

fn bad(message: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message.to_string())
}

/// Fixes the RIFF and data sizes (and an A-law fact count) of a WAV from its length, cutting a
/// torn last frame. The audio itself is left as it is.
pub fn repair(path: &Path) -> std::io::Result<Repaired> {
    let mut file = OpenOptions::new().read(true).write(true).open(path)?;
    let mut head = [0u8; 256];
    let got = read_up_to(&mut file, &mut head)?;
    let head = &head[..got];
    if got < 12 || &head[0..4] != b"RIFF" || &head[8..12] != b"WAVE" {
        return Err(bad("not a RIFF/WAVE file"));
    }
    let mut at = 12;
    let (mut align, mut rate_bytes, mut fact_at) = (0u64, 0u32, None);
    loop {
        if at + 8 > head.len() {
            return Err(bad("no data chunk in the header"));
        }
        let id = &head[at..at + 4];
        let len = u32::from_le_bytes([head[at + 4], head[at + 5], head[at + 6], head[at + 7]]) as usize;
        if id == b"fmt " && at + 8 + 16 <= head.len() {
            let f = &head[at + 8..];
            rate_bytes = u32::from_le_bytes([f[8], f[9], f[10], f[11]]);
            align = u64::from(u16::from_le_bytes([f[12], f[13]]).max(1));
        }
        if id == b"fact" {
            fact_at = Some(at + 8);
        }
        if id == b"data" {
            let data_start = (at + 8) as u64;
            let file_len = file.metadata()?.len();
            let data_bytes = (file_len.saturating_sub(data_start) / align.max(1)) * align.max(1);
            let data_bytes = data_bytes.min(u64::from(u32::MAX) - data_start);
            file.set_len(data_start + data_bytes)?;
            let write = |file: &mut File, pos: u64, v: u32| -> std::io::Result<()> {
                file.seek(SeekFrom::Start(pos))?;
                file.write_all(&v.to_le_bytes())
            };
            write(&mut file, 4, (data_start + data_bytes - 8) as u32)?;
            write(&mut file, at as u64 + 4, data_bytes as u32)?;
            if let Some(fact) = fact_at {
                write(&mut file, fact as u64, (data_bytes / align.max(1)) as u32)?;
            }
            file.sync_all()?;
            return Ok(Repaired {
                data_bytes,
                bytes_per_second: rate_bytes,
            });
        }
        at += 8 + len + (len & 1);
    }
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repair_fixes_sizes_from_the_length_and_cuts_a_torn_frame() {
        let dir = tempfile::tempdir().unwrap();
        for format in [RecordFormat::Alaw, RecordFormat::Pcm16, RecordFormat::Stereo] {
            let path = dir.path().join(format!("{}.wav", format.as_str()));
            let (h, len) = header(format, 0);
            let mut bytes = h[..len].to_vec();
            bytes.extend(std::iter::repeat(7u8).take(block_bytes(format) * 3 + 1));
            std::fs::write(&path, &bytes).unwrap();
            let fixed = repair(&path).unwrap();
            let whole = (block_bytes(format) * 3 + 1) as u64;
            let align = block_bytes(format) as u64 / 160;
            assert_eq!(fixed.data_bytes, whole / align * align, "{format:?}");
            let back = std::fs::read(&path).unwrap();
            let (want, _) = header(format, fixed.data_bytes as u32);
            assert_eq!(
                &back[..len],
                &want[..len],
                "{format:?}: the header a finished file has"
            );
            assert_eq!(back.len() as u64, len as u64 + fixed.data_bytes);
        }
    }
}
