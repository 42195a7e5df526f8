//! The safe wrapper over spandsp-sys: the only `unsafe` code in `dsp`.
//!
//! Each wrapper owns one spandsp state object, allocated by spandsp in the constructor and freed in
//! `Drop`. Nothing here registers a callback, so spandsp never calls back into Rust: results are
//! polled. The per-sample methods neither allocate nor lock.

use std::ffi::c_int;
use std::ptr::{self, NonNull};
use std::sync::{Mutex, PoisonError};

use spandsp_sys as sys;

use super::DspError;
use crate::hw::Law;

/// Longest slice handed to spandsp in one call: its length parameters are `c_int`, so longer
/// inputs are split. One second of audio keeps the split rare and the cast obviously lossless.
const MAX_SAMPLES_PER_CALL: usize = 8000;

/// `dtmf_rx_init` fills spandsp's process-wide Goertzel descriptor tables on first use, guarded
/// only by an unsynchronised flag. Serialising every init through this lock makes that first write
/// happen-before any other receiver's init reads the tables (after that they are read-only).
static DTMF_RX_INIT_LOCK: Mutex<()> = Mutex::new(());

/// spandsp's DTMF receiver (Goertzel detector with twist and energy checks), polled for digits.
pub struct SpandspDtmfRx {
    state: NonNull<sys::dtmf_rx_state_t>,
}

// SAFETY: the receiver state is owned exclusively by this value (never aliased, no callbacks, no
// user-data pointer), and spandsp's DTMF receiver keeps no thread-affine or thread-local state; the
// only global it touches is written under DTMF_RX_INIT_LOCK. Moving it to another thread is
// therefore sound. It is not Sync, and needs not be: every method takes `&mut self`.
unsafe impl Send for SpandspDtmfRx {}

impl SpandspDtmfRx {
    /// Allocates a receiver with spandsp's default thresholds. Call at channel start, not per block.
    pub fn new() -> Result<Self, DspError> {
        // A poisoned lock only means another thread panicked mid-init; the tables are still either
        // untouched or fully written before the flag is set, so carry on.
        let _guard = DTMF_RX_INIT_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
        // SAFETY: a NULL state asks spandsp to allocate a fresh one; a NULL callback with NULL user
        // data selects polling mode (digits are buffered for dtmf_rx_get), so spandsp keeps no
        // pointer into Rust memory.
        let raw = unsafe { sys::dtmf_rx_init(ptr::null_mut(), None, ptr::null_mut()) };
        NonNull::new(raw)
            .map(|state| Self { state })
            .ok_or(DspError::SpandspInit {
                what: "DTMF receiver",
            })
    }

    /// Feeds linear samples (8 kHz). Detected digits are buffered by spandsp (up to 128; later
    /// ones are dropped) until [`take_digit`](Self::take_digit) collects them.
    pub fn process(&mut self, samples: &[i16]) {
        for chunk in samples.chunks(MAX_SAMPLES_PER_CALL) {
            // SAFETY: `state` is a live receiver owned by `self` (exclusive via &mut); spandsp reads
            // exactly `len` samples from `chunk`, which is valid for that many; the length fits a
            // c_int because chunks are at most MAX_SAMPLES_PER_CALL long.
            unsafe {
                sys::dtmf_rx(self.state.as_ptr(), chunk.as_ptr(), chunk.len() as c_int);
            }
        }
    }

    /// The oldest detected digit not yet taken ('0'-'9', '*', '#', 'A'-'D'), if any.
    pub fn take_digit(&mut self) -> Option<char> {
        // One digit plus the NUL that dtmf_rx_get always writes after the digits it returns.
        let mut buffer: [std::ffi::c_char; 2] = [0; 2];
        // SAFETY: `state` is live and exclusively ours; `buffer` has room for `max` (1) digits
        // plus the terminating NUL spandsp writes at index `max`.
        let count = unsafe { sys::dtmf_rx_get(self.state.as_ptr(), buffer.as_mut_ptr(), 1) };
        // c_char is i8 or u8 by platform; the digit is ASCII either way.
        (count == 1).then(|| char::from(buffer[0] as u8))
    }
}

impl Drop for SpandspDtmfRx {
    fn drop(&mut self) {
        // SAFETY: `state` came from dtmf_rx_init with a NULL state (so spandsp allocated it), is
        // freed exactly once here, and is never used again. dtmf_rx_free releases and frees.
        unsafe {
            sys::dtmf_rx_free(self.state.as_ptr());
        }
    }
}

impl std::fmt::Debug for SpandspDtmfRx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpandspDtmfRx").finish_non_exhaustive()
    }
}

/// Encodes with spandsp's own G.711 (`g711_encode`): the reference the telvox tables are tested
/// and benchmarked against. Allocates; not for the real-time path.
pub fn reference_g711_encode(law: Law, samples: &[i16]) -> Result<Vec<u8>, DspError> {
    let codec = ReferenceG711::new(law)?;
    let mut codes = vec![0u8; samples.len()];
    codec.encode(samples, &mut codes);
    Ok(codes)
}

/// Decodes with spandsp's own G.711 (`g711_decode`). Allocates; not for the real-time path.
pub fn reference_g711_decode(law: Law, codes: &[u8]) -> Result<Vec<i16>, DspError> {
    let codec = ReferenceG711::new(law)?;
    let mut samples = vec![0i16; codes.len()];
    codec.decode(codes, &mut samples);
    Ok(samples)
}

/// spandsp's G.711 context, reusable for benchmarking without per-call allocation.
pub struct ReferenceG711 {
    state: NonNull<sys::g711_state_t>,
}

impl ReferenceG711 {
    pub fn new(law: Law) -> Result<Self, DspError> {
        let mode = match law {
            Law::Alaw => sys::G711_ALAW,
            Law::Ulaw => sys::G711_ULAW,
        };
        // SAFETY: a NULL state asks spandsp to allocate one; the mode is one of its two constants.
        let raw = unsafe { sys::g711_init(ptr::null_mut(), mode as c_int) };
        NonNull::new(raw)
            .map(|state| Self { state })
            .ok_or(DspError::SpandspInit { what: "G.711" })
    }

    /// Encodes `samples` into `codes` (equal lengths).
    pub fn encode(&self, samples: &[i16], codes: &mut [u8]) {
        assert_eq!(samples.len(), codes.len(), "reference encode: length mismatch");
        let pairs = samples
            .chunks(MAX_SAMPLES_PER_CALL)
            .zip(codes.chunks_mut(MAX_SAMPLES_PER_CALL));
        for (input, output) in pairs {
            // SAFETY: `state` is live; g711_encode only reads its mode. `input` and `output` have
            // the same length (asserted above, chunked identically), at most MAX_SAMPLES_PER_CALL,
            // so spandsp reads and writes within both slices.
            unsafe {
                sys::g711_encode(
                    self.state.as_ptr(),
                    output.as_mut_ptr(),
                    input.as_ptr(),
                    input.len() as c_int,
                );
            }
        }
    }

    /// Decodes `codes` into `samples` (equal lengths).
    pub fn decode(&self, codes: &[u8], samples: &mut [i16]) {
        assert_eq!(samples.len(), codes.len(), "reference decode: length mismatch");
        let pairs = codes
            .chunks(MAX_SAMPLES_PER_CALL)
            .zip(samples.chunks_mut(MAX_SAMPLES_PER_CALL));
        for (input, output) in pairs {
            // SAFETY: as in `encode`: live state, equal in-bounds lengths that fit a c_int.
            unsafe {
                sys::g711_decode(
                    self.state.as_ptr(),
                    output.as_mut_ptr(),
                    input.as_ptr(),
                    input.len() as c_int,
                );
            }
        }
    }
}

impl Drop for ReferenceG711 {
    fn drop(&mut self) {
        // SAFETY: `state` was allocated by g711_init(NULL, ..), is freed exactly once, never reused.
        unsafe {
            sys::g711_free(self.state.as_ptr());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::level::dbm0_to_peak;

    /// A DTMF pair at -10 dBm0 per tone for `on_samples`, then `off_samples` of silence.
    fn pair(low_hz: f64, high_hz: f64, on_samples: usize, off_samples: usize) -> Vec<i16> {
        let peak = f64::from(dbm0_to_peak(Law::Alaw, -10.0));
        let tau = 2.0 * std::f64::consts::PI;
        let mut samples: Vec<i16> = (0..on_samples)
            .map(|n| {
                let t = n as f64 / 8000.0;
                (peak * ((tau * low_hz * t).sin() + (tau * high_hz * t).sin())).round() as i16
            })
            .collect();
        samples.resize(on_samples + off_samples, 0);
        samples
    }

    fn assert_send<T: Send>() {}

    #[test]
    fn receiver_is_send() {
        assert_send::<SpandspDtmfRx>();
    }

    #[test]
    fn idle_receiver_has_no_digits() {
        let mut rx = SpandspDtmfRx::new().expect("dtmf rx");
        rx.process(&[0; 1600]);
        assert_eq!(rx.take_digit(), None);
    }

    #[test]
    fn detects_a_pair_once_and_in_order() {
        let mut rx = SpandspDtmfRx::new().expect("dtmf rx");
        rx.process(&pair(697.0, 1209.0, 480, 480));
        rx.process(&pair(941.0, 1477.0, 480, 480));
        assert_eq!(rx.take_digit(), Some('1'));
        assert_eq!(rx.take_digit(), Some('#'));
        assert_eq!(rx.take_digit(), None);
    }

    #[test]
    fn long_input_is_split_without_loss() {
        let mut rx = SpandspDtmfRx::new().expect("dtmf rx");
        let mut audio = vec![0i16; MAX_SAMPLES_PER_CALL - 100];
        audio.extend(pair(852.0, 1633.0, 480, 480));
        rx.process(&audio);
        assert_eq!(rx.take_digit(), Some('C'));
    }

    #[test]
    fn many_receivers_create_and_drop() {
        let receivers: Vec<_> = (0..64).map(|_| SpandspDtmfRx::new().expect("rx")).collect();
        drop(receivers);
    }

    #[test]
    fn reference_codec_round_trips_its_own_codes() {
        for law in [Law::Alaw, Law::Ulaw] {
            let codes: Vec<u8> = (0..=255).collect();
            let linear = reference_g711_decode(law, &codes).expect("decode");
            let again = reference_g711_encode(law, &linear).expect("encode");
            let linear_again = reference_g711_decode(law, &again).expect("decode");
            assert_eq!(linear, linear_again, "{law:?}");
        }
    }
}
