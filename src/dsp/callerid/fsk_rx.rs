//! FSK caller ID receiver: 1200 baud Bell 202 or V.23 audio in, checked messages out.
//!
//! Three stages, each a small state machine stepped once per sample:
//!
//! 1. `Correlator`: non-coherent FSK detection. The input is multiplied by complex references at
//!    the mark and space frequencies and summed over a sliding window of 1.35 bits; the squared
//!    magnitudes are the energy near each tone. Their difference is the soft bit decision (positive
//!    = mark), their sum drives a carrier detector with hysteresis. Integer arithmetic keeps the
//!    sliding sums exact however long the channel runs.
//! 2. `Uart`: asynchronous 8N1 framing. A mark-to-space crossing of the decision, located to a
//!    fraction of a sample, starts a byte; each bit is read at its centre by interpolating the
//!    decision; the start bit is re-checked at its centre (glitch rejection), the stop bit must
//!    be mark, and a bit centre without energy means the burst stopped mid-byte. Timing restarts
//!    on every start bit, so ±1 % bit-rate error costs a tenth of a bit by the stop bit.
//! 3. `Framer`: message assembly. A message starts with the first byte after a mark signal of
//!    at least [`MIN_MARK_BITS`]; a channel seizure (0x55 bytes, GR-30-CORE) may precede it. The
//!    length byte says where the frame ends. Carrier loss or a long pause inside a frame, and a
//!    framing error, reject it. Complete frames are queued as bytes and parsed (checksum first)
//!    only when taken, so [`FskCallerIdRx::process`] never allocates.

use super::message::{parse_message, MAX_FRAME_BYTES};
use super::{CallerId, CallerIdError, FskStandard, SAMPLE_RATE_HZ};
use crate::dsp::level::dbm0_to_peak;
use crate::hw::Law;

/// Correlation window: 9 samples, 1.35 bits. One bit is the matched integration time for
/// orthogonal FSK, but 1200/2200 Hz and 1300/2100 Hz are not orthogonal over one bit (tone spacing
/// × bit time = 0.83 and 0.67), and the longer window's sharper tone separation outweighs its
/// inter-symbol interference. Measured on random messages at −35 dBm0 with ±1 % tone and rate
/// error: 9 samples decode every message at 12 dB SNR in both standards, 7 samples need 14 dB
/// (Bell 202) and 17 dB (V.23).
const WINDOW_SAMPLES: usize = 9;

/// Reference tables repeat every 80 samples: 1200, 1300, 2100 and 2200 Hz are all whole multiples
/// of 8000/80 = 100 Hz, so n mod 80 indexes an exact reference phase.
const TABLE_LEN: usize = 80;

/// References are Q14 so a product of a 16-bit sample and a reference fits an i32 (2^15 · 2^14).
const REFERENCE_SCALE: f32 = 16384.0;

/// Carrier detector thresholds. The receiver must work down to −35 dBm0 (telvox's requirement,
/// below what exchanges send after line loss); switching on at −42 dBm0 leaves margin for the
/// energy dip at bit transitions, and 4 dB of hysteresis keeps the detector from chattering on a
/// marginal line.
const CARRIER_ON_DBM0: f32 = -42.0;
const CARRIER_OFF_DBM0: f32 = -46.0;
/// One-pole smoothing of the energy (time constant 8 samples = 1 ms) so the dip where the window
/// straddles a mark and a space does not look like carrier loss.
const ENERGY_SMOOTHING: f32 = 1.0 / 8.0;

/// The shortest run of marks that may precede a message. GR-30-CORE sends 180 bits, EN 300 659-1
/// 80 ± 25 ms (at least 66 bits); 40 bits accepts every exchange while no run of ordinary data
/// (at most nine marks between start bits) comes close.
pub const MIN_MARK_BITS: u32 = 40;
/// A pause longer than this inside a frame means the frame was cut short; it equals
/// [`MIN_MARK_BITS`] so a pause long enough to start a new message always ends the old one.
const MAX_GAP_BITS: u32 = MIN_MARK_BITS;
/// Seizure bytes needed before "data without a mark signal" is reported rather than ignored as
/// noise: a third of GR-30-CORE's 30-byte seizure.
const MIN_SEIZURE_BYTES: u32 = 10;
/// Bytes (or framing errors) after a seizure, with no mark signal before them, that make the mark
/// signal missing. One is not enough: the UART locks onto the seizure at whichever space it first
/// sees, so its last "seizure byte" may run a few bits into the mark signal and read as 0xD5,
/// 0xF5 or 0xFD. A second one can only be data.
const STRAYS_FOR_MISSING_MARK: u8 = 2;
/// The channel seizure as a UART sees it: alternating bits framed 8N1 read as 0x55.
const SEIZURE_BYTE: u8 = 0x55;
/// Results waiting for [`FskCallerIdRx::take`]; a caller that takes after every block never needs
/// more than one.
const RESULT_SLOTS: usize = 4;

/// Type, length and checksum: a frame with an empty body.
const MIN_FRAME_BYTES: usize = 3;
/// Data bits per byte (8N1) and the index of the stop bit after the start bit.
const DATA_BITS: u8 = 8;
const STOP_BIT_INDEX: u8 = DATA_BITS + 1;

/// Receives FSK caller ID messages from 8 kHz linear audio.
#[derive(Debug)]
pub struct FskCallerIdRx {
    standard: FskStandard,
    correlator: Correlator,
    carrier: CarrierDetector,
    uart: Uart,
    framer: Framer,
    results: ResultQueue,
}

impl FskCallerIdRx {
    /// A receiver for `standard`. All memory is allocated here (inline in the struct).
    pub fn new(standard: FskStandard) -> Self {
        Self {
            standard,
            correlator: Correlator::new(standard),
            carrier: CarrierDetector::new(),
            uart: Uart::new(tone_energy(CARRIER_OFF_DBM0)),
            framer: Framer::new(),
            results: ResultQueue::new(),
        }
    }

    /// Feeds linear samples; completed messages and errors queue for [`Self::take`].
    pub fn process(&mut self, samples: &[i16]) {
        for &sample in samples {
            self.step(sample);
        }
    }

    /// Forgets everything heard so far (e.g. between calls), keeping the standard.
    pub fn reset(&mut self) {
        *self = Self::new(self.standard);
    }

    /// The oldest result: a message whose checksum and structure are valid, or why one was
    /// rejected. A frame is parsed here, never half-way. A message's strings are allocated here,
    /// once per message; `process` allocates nothing.
    pub fn take(&mut self) -> Option<Result<CallerId, CallerIdError>> {
        self.results.pop().map(|pending| match pending {
            Pending::Frame { bytes, len } => parse_message(&bytes[..usize::from(len)]),
            Pending::Error(error) => Err(error),
        })
    }

    /// True while an FSK carrier is on the line.
    pub fn carrier_present(&self) -> bool {
        self.carrier.present
    }

    /// Results discarded because the queue was full (the caller did not take them in time).
    pub fn dropped_results(&self) -> u64 {
        self.results.dropped
    }

    fn step(&mut self, sample: i16) {
        let (mark_power, space_power) = self.correlator.push(sample);
        let energy = mark_power + space_power;
        let carrier = self.carrier.update(energy);
        let event = self.uart.step(mark_power - space_power, energy, carrier);
        let idle_bits = self.uart.idle_bits();
        if let Some(outcome) = self.framer.step(event, idle_bits) {
            self.results.push(outcome);
        }
    }
}

/// Sliding complex correlation against the mark and space tones.
#[derive(Clone, Debug)]
struct Correlator {
    /// (cos, −sin) of each tone at every phase of the 80-sample cycle, Q14.
    mark_reference: [[i32; 2]; TABLE_LEN],
    space_reference: [[i32; 2]; TABLE_LEN],
    table_index: usize,
    /// The last WINDOW_SAMPLES products: mark re, mark im, space re, space im.
    products: [[i32; 4]; WINDOW_SAMPLES],
    product_index: usize,
    /// Exact running sums of `products` (i64: a window of i32 products cannot overflow it).
    sums: [i64; 4],
}

impl Correlator {
    fn new(standard: FskStandard) -> Self {
        Self {
            mark_reference: reference_table(standard.mark_hz()),
            space_reference: reference_table(standard.space_hz()),
            table_index: 0,
            products: [[0; 4]; WINDOW_SAMPLES],
            product_index: 0,
            sums: [0; 4],
        }
    }

    /// Adds one sample; returns the energy near (mark, space) over the window, in squared linear
    /// sample units.
    #[inline]
    fn push(&mut self, sample: i16) -> (f32, f32) {
        let x = i32::from(sample);
        let [mark_cos, mark_sin] = self.mark_reference[self.table_index];
        let [space_cos, space_sin] = self.space_reference[self.table_index];
        let product = [x * mark_cos, x * mark_sin, x * space_cos, x * space_sin];
        let oldest = &mut self.products[self.product_index];
        for ((sum, old), new) in self.sums.iter_mut().zip(oldest.iter()).zip(product) {
            *sum += i64::from(new) - i64::from(*old);
        }
        *oldest = product;
        self.product_index = (self.product_index + 1) % WINDOW_SAMPLES;
        self.table_index = (self.table_index + 1) % TABLE_LEN;
        let [mark_re, mark_im, space_re, space_im] = self.sums.map(|sum| sum as f32 / REFERENCE_SCALE);
        (
            mark_re * mark_re + mark_im * mark_im,
            space_re * space_re + space_im * space_im,
        )
    }
}

/// (cos, −sin)(2π·f·n/8000) for n in 0..80, Q14.
fn reference_table(frequency_hz: f64) -> [[i32; 2]; TABLE_LEN] {
    debug_assert!(
        (frequency_hz * TABLE_LEN as f64 / f64::from(SAMPLE_RATE_HZ)).fract() == 0.0,
        "{frequency_hz} Hz does not repeat within the table"
    );
    std::array::from_fn(|n| {
        let phase = std::f64::consts::TAU * frequency_hz * n as f64 / f64::from(SAMPLE_RATE_HZ);
        let scale = f64::from(REFERENCE_SCALE);
        [
            (phase.cos() * scale).round() as i32,
            (-phase.sin() * scale).round() as i32,
        ]
    })
}

/// Window energy a steady tone at `level_dbm0` produces: |Σ A·cos(ωn)·e^(−jωn)| ≈ N·A/2.
fn tone_energy(level_dbm0: f32) -> f32 {
    // A-law and µ-law references differ by 0.03 dB: irrelevant to a threshold.
    let amplitude = dbm0_to_peak(Law::Alaw, level_dbm0);
    let magnitude = WINDOW_SAMPLES as f32 * amplitude / 2.0;
    magnitude * magnitude
}

/// Energy detector with hysteresis.
#[derive(Clone, Debug)]
struct CarrierDetector {
    smoothed_energy: f32,
    on_energy: f32,
    off_energy: f32,
    present: bool,
}

impl CarrierDetector {
    fn new() -> Self {
        Self {
            smoothed_energy: 0.0,
            on_energy: tone_energy(CARRIER_ON_DBM0),
            off_energy: tone_energy(CARRIER_OFF_DBM0),
            present: false,
        }
    }

    #[inline]
    fn update(&mut self, energy: f32) -> bool {
        self.smoothed_energy += (energy - self.smoothed_energy) * ENERGY_SMOOTHING;
        let threshold = if self.present {
            self.off_energy
        } else {
            self.on_energy
        };
        self.present = self.smoothed_energy >= threshold;
        self.present
    }
}

/// What the UART saw on one sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum UartEvent {
    Nothing,
    /// A byte with a good stop bit, and how many whole bits of mark preceded its start bit.
    Byte {
        value: u8,
        idle_bits: u32,
    },
    /// A byte whose stop bit was a space.
    FramingError,
    /// The carrier went away (reported once per loss), or a bit centre had no signal: the burst
    /// stopped mid-byte, faster than the smoothed carrier detector can tell.
    CarrierLost,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum UartState {
    /// Between bytes, waiting for a mark-to-space crossing.
    Idle,
    /// Inside a byte, reading bit `bit_index` (0 = start, 9 = stop).
    Receiving,
}

/// 8N1 receiver working on the soft decision, one sample at a time.
#[derive(Clone, Debug)]
struct Uart {
    samples_per_bit: f32,
    /// Least window energy a bit centre must have to count as signal.
    min_bit_energy: f32,
    state: UartState,
    /// The decision one sample ago, to find crossings; 0 after carrier loss so a crossing needs a
    /// mark first.
    previous_decision: f32,
    had_carrier: bool,
    /// Consecutive mark samples while idle (saturating).
    idle_mark_samples: u32,
    /// Mark bits before the byte being received.
    idle_bits_before: u32,
    /// Samples since the start-bit edge.
    elapsed_samples: f32,
    bit_index: u8,
    /// The decision and the energy interpolated at the current bit's centre, built up over two
    /// samples.
    accumulator: f32,
    energy_accumulator: f32,
    value: u8,
}

impl Uart {
    fn new(min_bit_energy: f32) -> Self {
        Self {
            samples_per_bit: SAMPLE_RATE_HZ as f32 / super::fsk_tx::BAUD as f32,
            min_bit_energy,
            state: UartState::Idle,
            previous_decision: 0.0,
            had_carrier: false,
            idle_mark_samples: 0,
            idle_bits_before: 0,
            elapsed_samples: 0.0,
            bit_index: 0,
            accumulator: 0.0,
            energy_accumulator: 0.0,
            value: 0,
        }
    }

    /// Whole bits of mark since the last byte (0 while a byte is arriving).
    fn idle_bits(&self) -> u32 {
        match self.state {
            UartState::Idle => self.samples_to_bits(self.idle_mark_samples),
            UartState::Receiving => 0,
        }
    }

    fn samples_to_bits(&self, samples: u32) -> u32 {
        (samples as f32 / self.samples_per_bit) as u32
    }

    #[inline]
    fn step(&mut self, decision: f32, energy: f32, carrier: bool) -> UartEvent {
        if !carrier {
            return self.lose_carrier();
        }
        self.had_carrier = true;
        let event = match self.state {
            UartState::Idle => self.step_idle(decision),
            UartState::Receiving => self.step_receiving(decision, energy),
        };
        self.previous_decision = decision;
        event
    }

    fn lose_carrier(&mut self) -> UartEvent {
        let had_carrier = self.had_carrier;
        self.had_carrier = false;
        self.state = UartState::Idle;
        self.idle_mark_samples = 0;
        self.previous_decision = 0.0;
        if had_carrier {
            UartEvent::CarrierLost
        } else {
            UartEvent::Nothing
        }
    }

    fn step_idle(&mut self, decision: f32) -> UartEvent {
        if decision < 0.0 && self.previous_decision > 0.0 {
            // The crossing lies between the previous sample and this one; linear interpolation
            // places it to a fraction of a sample, which keeps every later bit centre accurate.
            let fraction = self.previous_decision / (self.previous_decision - decision);
            self.start_byte(1.0 - fraction);
        } else if decision >= 0.0 {
            self.idle_mark_samples = self.idle_mark_samples.saturating_add(1);
        } else {
            // Space without a preceding mark (after a framing error): not a start bit, and not mark.
            self.idle_mark_samples = 0;
        }
        UartEvent::Nothing
    }

    fn start_byte(&mut self, elapsed_samples: f32) {
        self.state = UartState::Receiving;
        self.idle_bits_before = self.samples_to_bits(self.idle_mark_samples);
        self.elapsed_samples = elapsed_samples;
        self.bit_index = 0;
        self.accumulator = 0.0;
        self.energy_accumulator = 0.0;
        self.value = 0;
    }

    fn step_receiving(&mut self, decision: f32, energy: f32) -> UartEvent {
        self.elapsed_samples += 1.0;
        let centre = (f32::from(self.bit_index) + 0.5) * self.samples_per_bit;
        let offset = self.elapsed_samples - centre;
        // The two samples either side of the centre, weighted by closeness: linear interpolation.
        if offset.abs() < 1.0 {
            let weight = 1.0 - offset.abs();
            self.accumulator += decision * weight;
            self.energy_accumulator += energy * weight;
        }
        if offset < 0.0 {
            return UartEvent::Nothing;
        }
        let mark = self.accumulator > 0.0;
        let signal = self.energy_accumulator >= self.min_bit_energy;
        self.accumulator = 0.0;
        self.energy_accumulator = 0.0;
        if !signal {
            // At a bit centre the window lies mostly inside that bit, so its energy stays near the
            // tone's whatever the neighbours; none there means the burst has stopped.
            return self.lose_carrier();
        }
        self.finish_bit(mark)
    }

    fn finish_bit(&mut self, mark: bool) -> UartEvent {
        match self.bit_index {
            0 if mark => {
                // The start bit did not last to its centre: a glitch in the mark, which goes on.
                self.state = UartState::Idle;
                let glitch_samples = self.elapsed_samples as u32;
                self.idle_mark_samples = self.idle_mark_samples.saturating_add(glitch_samples);
                UartEvent::Nothing
            }
            STOP_BIT_INDEX => {
                self.state = UartState::Idle;
                self.idle_mark_samples = 0;
                if mark {
                    UartEvent::Byte {
                        value: self.value,
                        idle_bits: self.idle_bits_before,
                    }
                } else {
                    UartEvent::FramingError
                }
            }
            data_bit => {
                if data_bit > 0 && mark {
                    self.value |= 1 << (data_bit - 1);
                }
                self.bit_index += 1;
                UartEvent::Nothing
            }
        }
    }
}

/// A result on its way to [`FskCallerIdRx::take`]: frame bytes (parsed when taken) or an error.
// The frame is stored inline on purpose: the queue is fixed storage allocated with the receiver,
// and boxing the large variant would allocate on the per-sample path.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Pending {
    Frame { bytes: [u8; MAX_FRAME_BYTES], len: u16 },
    Error(CallerIdError),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FramerState {
    /// Looking for a mark signal; counting seizure bytes, and other bytes after them, meanwhile.
    Hunting { seizure_bytes: u32, strays: u8 },
    /// Collecting a frame: `received` bytes so far.
    Message { received: usize },
}

/// Assembles frames from UART bytes.
#[derive(Clone, Debug)]
struct Framer {
    state: FramerState,
    frame: [u8; MAX_FRAME_BYTES],
}

impl FramerState {
    const HUNTING: FramerState = FramerState::Hunting {
        seizure_bytes: 0,
        strays: 0,
    };
}

impl Framer {
    fn new() -> Self {
        Self {
            state: FramerState::HUNTING,
            frame: [0; MAX_FRAME_BYTES],
        }
    }

    /// Handles one UART event; `idle_bits` is the mark run in progress (to spot a stalled frame).
    fn step(&mut self, event: UartEvent, idle_bits: u32) -> Option<Pending> {
        match (self.state, event) {
            (FramerState::Hunting { .. }, UartEvent::Byte { value, idle_bits })
                if idle_bits >= MIN_MARK_BITS =>
            {
                self.frame[0] = value;
                self.state = FramerState::Message { received: 1 };
                None
            }
            (
                FramerState::Hunting {
                    seizure_bytes,
                    strays,
                },
                UartEvent::Byte { value, .. },
            ) => self.hunt(seizure_bytes, strays, value == SEIZURE_BYTE),
            (
                FramerState::Hunting {
                    seizure_bytes,
                    strays,
                },
                UartEvent::FramingError,
            ) => self.hunt(seizure_bytes, strays, false),
            (FramerState::Hunting { .. }, UartEvent::CarrierLost) => {
                self.state = FramerState::HUNTING;
                None
            }
            (FramerState::Hunting { .. }, UartEvent::Nothing) => None,
            (FramerState::Message { received }, UartEvent::Byte { value, idle_bits }) => {
                self.continue_message(received, value, idle_bits)
            }
            (FramerState::Message { received }, UartEvent::FramingError) => {
                self.state = FramerState::HUNTING;
                Some(Pending::Error(CallerIdError::Framing { byte_index: received }))
            }
            (FramerState::Message { received }, UartEvent::CarrierLost) => Some(self.truncate(received)),
            (FramerState::Message { received }, UartEvent::Nothing) if idle_bits > MAX_GAP_BITS => {
                Some(self.truncate(received))
            }
            (FramerState::Message { .. }, UartEvent::Nothing) => None,
        }
    }

    /// A byte (or framing error) with no mark signal before it while hunting.
    fn hunt(&mut self, seizure_bytes: u32, strays: u8, is_seizure_byte: bool) -> Option<Pending> {
        if is_seizure_byte && strays == 0 {
            self.state = FramerState::Hunting {
                seizure_bytes: seizure_bytes.saturating_add(1),
                strays,
            };
            return None;
        }
        if seizure_bytes < MIN_SEIZURE_BYTES {
            // No seizure before it: a stray byte is just noise on the line.
            self.state = FramerState::HUNTING;
            return None;
        }
        let strays = strays + 1;
        if strays < STRAYS_FOR_MISSING_MARK {
            self.state = FramerState::Hunting {
                seizure_bytes,
                strays,
            };
            return None;
        }
        self.state = FramerState::HUNTING;
        Some(Pending::Error(CallerIdError::MissingMarkSignal))
    }

    fn continue_message(&mut self, received: usize, value: u8, idle_bits: u32) -> Option<Pending> {
        if idle_bits > MAX_GAP_BITS {
            // Unreachable in practice (the stall check fires first), kept so a gap can never be
            // glued into a frame.
            return Some(self.truncate(received));
        }
        self.frame[received] = value;
        let received = received + 1;
        if received >= 2 && received == self.expected_len(received) {
            self.state = FramerState::HUNTING;
            return Some(Pending::Frame {
                bytes: self.frame,
                len: received as u16,
            });
        }
        self.state = FramerState::Message { received };
        None
    }

    /// Frame length the length byte declares once it has arrived; before that, the shortest
    /// possible frame (type, length, checksum), as `parse_message` reports it.
    fn expected_len(&self, received: usize) -> usize {
        if received < 2 {
            return MIN_FRAME_BYTES;
        }
        usize::from(self.frame[1]) + MIN_FRAME_BYTES
    }

    fn truncate(&mut self, received: usize) -> Pending {
        self.state = FramerState::HUNTING;
        Pending::Error(CallerIdError::Truncated {
            received,
            expected: self.expected_len(received),
        })
    }
}

/// Fixed ring of results.
#[derive(Debug)]
struct ResultQueue {
    slots: [Option<Pending>; RESULT_SLOTS],
    head: usize,
    len: usize,
    dropped: u64,
}

impl ResultQueue {
    fn new() -> Self {
        Self {
            slots: std::array::from_fn(|_| None),
            head: 0,
            len: 0,
            dropped: 0,
        }
    }

    fn push(&mut self, pending: Pending) {
        if self.len == RESULT_SLOTS {
            // Keep the oldest: the first message of a burst is the one the call needs.
            self.dropped += 1;
            return;
        }
        self.slots[(self.head + self.len) % RESULT_SLOTS] = Some(pending);
        self.len += 1;
    }

    fn pop(&mut self) -> Option<Pending> {
        if self.len == 0 {
            return None;
        }
        let pending = self.slots[self.head].take();
        self.head = (self.head + 1) % RESULT_SLOTS;
        self.len -= 1;
        pending
    }
}

#[cfg(test)]
mod tests {
    use super::super::fsk_tx::{modulate, FskTxConfig};
    use super::*;

    fn decode_all(standard: FskStandard, audio: &[i16]) -> Vec<Result<CallerId, CallerIdError>> {
        let mut rx = FskCallerIdRx::new(standard);
        let mut results = Vec::new();
        // 20 ms blocks as the channel thread delivers them, then 100 ms of silence to end the burst.
        let silence = [0i16; 800];
        for block in audio.chunks(160).chain(silence.chunks(160)) {
            rx.process(block);
            results.extend(std::iter::from_fn(|| rx.take()));
        }
        results
    }

    #[test]
    fn uart_reads_raw_bytes_after_a_mark() {
        for standard in [FskStandard::Bell202, FskStandard::V23] {
            let config = FskTxConfig::new(standard, Law::Alaw);
            let frame = [0x80, 0x03, 0x02, 0x01, b'7', 0u8];
            let mut frame = frame.to_vec();
            let last = frame.len() - 1;
            frame[last] = super::super::message::checksum(&frame[..last]);
            let audio = modulate(&frame, &config).expect("modulate");
            let results = decode_all(standard, &audio);
            let expected = CallerId {
                number: Some("7".into()),
                ..CallerId::default()
            };
            assert_eq!(results, vec![Ok(expected)], "{standard:?}");
        }
    }

    #[test]
    fn silence_and_noise_alone_produce_nothing() {
        let mut rx = FskCallerIdRx::new(FskStandard::Bell202);
        rx.process(&[0; 8000]);
        let mut state = 0x1234_5678u32;
        let noise: Vec<i16> = (0..8000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state >> 20) as i16 - 2048
            })
            .collect();
        rx.process(&noise);
        assert!(rx.take().is_none());
    }

    fn byte(value: u8, idle_bits: u32) -> UartEvent {
        UartEvent::Byte { value, idle_bits }
    }

    #[test]
    fn framer_rejects_a_missing_stop_bit_and_a_stalled_frame() {
        let mut framer = Framer::new();
        assert!(framer.step(byte(0x80, 180), 0).is_none());
        assert!(framer.step(byte(0x05, 0), 0).is_none());
        let outcome = framer.step(UartEvent::FramingError, 0);
        assert!(matches!(
            outcome,
            Some(Pending::Error(CallerIdError::Framing { byte_index: 2 }))
        ));

        assert!(framer.step(byte(0x80, 60), 0).is_none());
        assert!(framer.step(byte(0x05, 3), 0).is_none());
        assert!(framer.step(UartEvent::Nothing, MAX_GAP_BITS).is_none());
        let outcome = framer.step(UartEvent::Nothing, MAX_GAP_BITS + 1);
        assert!(matches!(
            outcome,
            Some(Pending::Error(CallerIdError::Truncated {
                received: 2,
                expected: 8
            }))
        ));
    }

    #[test]
    fn framer_tolerates_one_seizure_tail_byte_but_not_two() {
        let mut framer = Framer::new();
        for _ in 0..MIN_SEIZURE_BYTES {
            assert!(framer.step(byte(SEIZURE_BYTE, 0), 0).is_none());
        }
        // The last seizure byte read a few bits into the mark: still fine.
        assert!(framer.step(byte(0xD5, 0), 0).is_none());
        assert!(framer.step(byte(0x04, 170), 0).is_none());
        assert!(matches!(framer.state, FramerState::Message { received: 1 }));

        let mut framer = Framer::new();
        for _ in 0..MIN_SEIZURE_BYTES {
            framer.step(byte(SEIZURE_BYTE, 0), 0);
        }
        assert!(framer.step(UartEvent::FramingError, 0).is_none());
        let outcome = framer.step(byte(0x12, 0), 0);
        assert!(matches!(
            outcome,
            Some(Pending::Error(CallerIdError::MissingMarkSignal))
        ));

        // Without a seizure before them, stray bytes are noise and say nothing.
        let mut framer = Framer::new();
        for value in [0x12, 0x34, 0x56, 0x78] {
            assert!(framer.step(byte(value, 0), 0).is_none());
        }
    }

    #[test]
    fn result_queue_keeps_the_oldest_and_counts_drops() {
        let mut queue = ResultQueue::new();
        for received in 0..6 {
            queue.push(Pending::Error(CallerIdError::Truncated {
                received,
                expected: 9,
            }));
        }
        assert_eq!(queue.dropped, 2);
        let first = queue.pop().expect("one");
        assert!(matches!(
            first,
            Pending::Error(CallerIdError::Truncated { received: 0, .. })
        ));
    }
}
