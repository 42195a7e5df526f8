//! Writing WAV files other tools open (sox, audacity): PCM16 mono 8 kHz, written to a temporary name
//! and renamed when complete so a crash never leaves a half-written file under the real name.

use std::io::Write;
use std::path::Path;

/// The 44-byte canonical header of a PCM16 mono WAV holding `data_bytes` bytes of samples.
pub fn pcm16_header(sample_rate_hz: u32, data_bytes: u32) -> [u8; 44] {
    let mut h = [0u8; 44];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&(36 + data_bytes).to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes()); // PCM
    h[22..24].copy_from_slice(&1u16.to_le_bytes()); // mono
    h[24..28].copy_from_slice(&sample_rate_hz.to_le_bytes());
    h[28..32].copy_from_slice(&(sample_rate_hz * 2).to_le_bytes());
    h[32..34].copy_from_slice(&2u16.to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data_bytes.to_le_bytes());
    h
}

/// Writes `samples` as a PCM16 mono WAV at `path` (via `path.tmp`, then rename).
pub fn write_pcm16(path: &Path, sample_rate_hz: u32, samples: &[i16]) -> std::io::Result<()> {
    let tmp = path.with_extension("wav.tmp");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        let data_bytes = u32::try_from(samples.len() * 2).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "audio too long for a WAV file")
        })?;
        f.write_all(&pcm16_header(sample_rate_hz, data_bytes))?;
        for s in samples {
            f.write_all(&s.to_le_bytes())?;
        }
        f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_file_loads_as_a_prompt_with_the_same_samples() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.wav");
        let samples: Vec<i16> = (0..800).map(|i| ((i * 37) % 2000 - 1000) as i16).collect();
        write_pcm16(&path, 8000, &samples).unwrap();
        let prompt = crate::voice::Prompt::load(&path).unwrap();
        let mut back = vec![0i16; samples.len()];
        assert_eq!(prompt.read_linear(0, &mut back), samples.len());
        assert_eq!(back, samples);
        assert!(!dir.path().join("x.wav.tmp").exists());
    }
}
