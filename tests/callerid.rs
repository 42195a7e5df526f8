//! Caller ID end to end: FSK (Bell 202, V.23) and DTMF CLIP through the encoders, a simulated line
//! (G.711, level, white noise, frequency error) and the receivers; corrupt bursts; and vectors made
//! and checked by an independent modem, minimodem (Debian package `minimodem`).

use std::path::Path;
use std::process::{Command, Stdio};

use telvox::dsp::callerid::fsk_tx::{modulate, FskTxConfig};
use telvox::dsp::callerid::message::{checksum, encode_message, Format};
use telvox::dsp::callerid::{
    encode_dtmf_clip, encode_fsk, encode_fsk_with, Absence, CallTime, CallerId, CallerIdError, DtmfClipRx,
    DtmfClipVariant, FskCallerIdRx, FskStandard,
};
use telvox::dsp::g711;
use telvox::dsp::level::{dbm0_to_peak, rms_dbm0};
use telvox::dsp::spandsp::SpandspDtmfRx;
use telvox::hw::Law;

const BLOCK_SAMPLES: usize = 160;
const STANDARDS: [FskStandard; 2] = [FskStandard::Bell202, FskStandard::V23];
const LAWS: [Law; 2] = [Law::Alaw, Law::Ulaw];
const FORMATS: [Format; 2] = [Format::Sdmf, Format::Mdmf];
/// 8000/1200: samples per bit at 1200 baud.
const SAMPLES_PER_BIT: f64 = 8000.0 / 1200.0;

/// A deterministic pseudo-random sequence (xorshift64*): a failing seed reproduces.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn range(&mut self, low: u64, high_inclusive: u64) -> u64 {
        low + self.below(high_inclusive - low + 1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// Uniform in (0, 1].
    fn unit(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    fn gaussian(&mut self) -> f64 {
        let (u1, u2) = (self.unit(), self.unit());
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

fn random_digits(rng: &mut Rng, low: u64, high: u64) -> String {
    let count = rng.range(low, high);
    (0..count)
        .map(|_| char::from(b'0' + rng.below(10) as u8))
        .collect()
}

fn random_name(rng: &mut Rng) -> String {
    let count = rng.range(1, 30);
    (0..count)
        .map(|_| char::from(rng.range(0x20, 0x7E) as u8))
        .collect()
}

fn random_time(rng: &mut Rng) -> CallTime {
    CallTime::new(
        rng.range(1, 12) as u8,
        rng.range(1, 31) as u8,
        rng.range(0, 23) as u8,
        rng.range(0, 59) as u8,
    )
    .expect("in range")
}

fn random_absence(rng: &mut Rng) -> Absence {
    if rng.chance(50) {
        Absence::Private
    } else {
        Absence::Unavailable
    }
}

/// A caller ID `format` can carry: SDMF always has a time and a number or reason; MDMF mixes
/// every field, each present, absent with a reason, or left out.
fn random_caller_id(rng: &mut Rng, format: Format) -> CallerId {
    let mut caller_id = CallerId {
        datetime: Some(random_time(rng)),
        ..CallerId::default()
    };
    if rng.chance(80) {
        caller_id.number = Some(random_digits(rng, 3, 20));
    } else {
        caller_id.number_absence = Some(random_absence(rng));
    }
    if format == Format::Sdmf {
        return caller_id;
    }
    if rng.chance(15) {
        caller_id.datetime = None;
    }
    match rng.below(3) {
        0 => caller_id.name = Some(random_name(rng)),
        1 => caller_id.name_absence = Some(random_absence(rng)),
        _ => {}
    }
    caller_id
}

/// What happens between the exchange and the receiver.
#[derive(Clone, Copy)]
struct Line {
    law: Law,
    /// White noise this far below the signal's RMS; None for a clean line.
    snr_db: Option<f64>,
}

/// Silence, the burst, silence; noise over all of it; then the G.711 codec.
fn through_line(audio: &[i16], line: Line, rng: &mut Rng) -> Vec<i16> {
    let padding = vec![0i16; 800];
    let mut samples: Vec<f64> = padding
        .iter()
        .chain(audio)
        .chain(&padding)
        .map(|&s| f64::from(s))
        .collect();
    if let Some(snr_db) = line.snr_db {
        let signal_rms = rms(audio);
        let noise_rms = signal_rms / 10f64.powf(snr_db / 20.0);
        for sample in &mut samples {
            *sample += noise_rms * rng.gaussian();
        }
    }
    let linear: Vec<i16> = samples
        .iter()
        .map(|&s| s.round().clamp(-32768.0, 32767.0) as i16)
        .collect();
    g711_round_trip(line.law, &linear)
}

fn rms(samples: &[i16]) -> f64 {
    let sum: f64 = samples.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    (sum / samples.len() as f64).sqrt()
}

fn g711_round_trip(law: Law, linear: &[i16]) -> Vec<i16> {
    let mut codes = vec![0u8; linear.len()];
    g711::encode_block(law, linear, &mut codes);
    let mut out = vec![0i16; codes.len()];
    g711::decode_block(law, &codes, &mut out);
    out
}

/// Everything the receiver reports for `audio`, fed in 20 ms blocks and taken after each.
fn receive(standard: FskStandard, audio: &[i16]) -> Vec<Result<CallerId, CallerIdError>> {
    let mut rx = FskCallerIdRx::new(standard);
    let mut results = Vec::new();
    for block in audio.chunks(BLOCK_SAMPLES) {
        rx.process(block);
        results.extend(std::iter::from_fn(|| rx.take()));
    }
    // A final stretch of silence lets a burst cut off at the very end be reported.
    rx.process(&[0; 800]);
    results.extend(std::iter::from_fn(|| rx.take()));
    results
}

fn send_and_receive(
    caller_id: &CallerId,
    format: Format,
    config: &FskTxConfig,
    line: Line,
    seed: u64,
) -> Vec<Result<CallerId, CallerIdError>> {
    let mut rng = Rng::new(seed);
    let audio = encode_fsk_with(caller_id, format, config).expect("encode");
    receive(standard_of(config), &through_line(&audio, line, &mut rng))
}

/// The receiver to use for a transmitter config (its nominal tones tell the standard).
fn standard_of(config: &FskTxConfig) -> FskStandard {
    if config.space_hz > 2150.0 {
        FskStandard::Bell202
    } else {
        FskStandard::V23
    }
}

#[test]
fn fsk_round_trips_every_format_standard_and_law() {
    let mut rng = Rng::new(1);
    for format in FORMATS {
        for standard in STANDARDS {
            for law in LAWS {
                for trial in 0..20 {
                    let caller_id = random_caller_id(&mut rng, format);
                    let config = FskTxConfig::new(standard, law);
                    let line = Line { law, snr_db: None };
                    let results = send_and_receive(&caller_id, format, &config, line, rng.next());
                    assert_eq!(
                        results,
                        vec![Ok(caller_id.clone())],
                        "{format:?} {standard:?} {law:?} trial {trial}"
                    );
                }
            }
        }
    }
}

#[test]
fn fsk_round_trips_from_minus_5_to_minus_35_dbm0() {
    let mut rng = Rng::new(2);
    for standard in STANDARDS {
        for law in LAWS {
            for level_dbm0 in [-5.0, -10.0, -13.5, -20.0, -25.0, -30.0, -35.0] {
                let caller_id = random_caller_id(&mut rng, Format::Mdmf);
                let config = FskTxConfig {
                    level_dbm0,
                    ..FskTxConfig::new(standard, law)
                };
                let audio = encode_fsk_with(&caller_id, Format::Mdmf, &config).expect("encode");
                let measured = rms_dbm0(law, &audio);
                assert!((measured - level_dbm0).abs() < 0.1, "sent at {measured} dBm0");
                let line = Line { law, snr_db: None };
                let results = send_and_receive(&caller_id, Format::Mdmf, &config, line, rng.next());
                assert_eq!(
                    results,
                    vec![Ok(caller_id)],
                    "{standard:?} {law:?} {level_dbm0} dBm0"
                );
            }
        }
    }
}

/// Everything at once: the level extremes, tones and bit rate 1 % off in either direction,
/// white noise 20 dB below the signal, and G.711.
#[test]
fn fsk_survives_noise_frequency_error_and_level_together() {
    let mut rng = Rng::new(3);
    for standard in STANDARDS {
        for law in LAWS {
            for level_dbm0 in [-5.0, -35.0] {
                for tone_error in [0.99, 1.01] {
                    for rate_error in [0.99, 1.01] {
                        for trial in 0..3 {
                            let format = FORMATS[trial % 2];
                            let caller_id = random_caller_id(&mut rng, format);
                            let nominal = FskTxConfig::new(standard, law);
                            let config = FskTxConfig {
                                level_dbm0,
                                mark_hz: nominal.mark_hz * tone_error,
                                space_hz: nominal.space_hz * tone_error,
                                baud: nominal.baud * rate_error,
                                ..nominal
                            };
                            let line = Line {
                                law,
                                snr_db: Some(20.0),
                            };
                            let results = send_and_receive(&caller_id, format, &config, line, rng.next());
                            assert_eq!(
                                results,
                                vec![Ok(caller_id)],
                                "{standard:?} {law:?} {level_dbm0} dBm0 tones ×{tone_error} rate ×{rate_error} trial {trial}"
                            );
                        }
                    }
                }
            }
        }
    }
}

/// The 20 dB requirement with room to spare: at 12 dB SNR, −35 dBm0 and ±1 % error, at least
/// 97 of 100 random messages per standard decode (all 100 do today; the slack absorbs a future
/// tweak, not a regression of several dB).
#[test]
fn fsk_keeps_8_db_of_noise_margin() {
    for standard in STANDARDS {
        let mut rng = Rng::new(12);
        let trials = 100;
        let mut decoded = 0;
        for trial in 0..trials {
            let format = FORMATS[trial % 2];
            let caller_id = random_caller_id(&mut rng, format);
            let nominal = FskTxConfig::new(standard, Law::Ulaw);
            let tone_error = if trial % 4 < 2 { 0.99 } else { 1.01 };
            let rate_error = if trial % 2 == 0 { 0.99 } else { 1.01 };
            let config = FskTxConfig {
                level_dbm0: -35.0,
                mark_hz: nominal.mark_hz * tone_error,
                space_hz: nominal.space_hz * tone_error,
                baud: nominal.baud * rate_error,
                ..nominal
            };
            let line = Line {
                law: Law::Ulaw,
                snr_db: Some(12.0),
            };
            let results = send_and_receive(&caller_id, format, &config, line, rng.next());
            if results == vec![Ok(caller_id)] {
                decoded += 1;
            }
        }
        assert!(decoded >= 97, "{standard:?}: {decoded}/{trials} at 12 dB SNR");
    }
}

#[test]
fn fsk_reasons_for_absence_round_trip() {
    let time = CallTime::new(12, 31, 23, 59);
    let mut cases = Vec::new();
    for number_absence in [Absence::Private, Absence::Unavailable] {
        cases.push((
            Format::Sdmf,
            CallerId {
                datetime: time,
                number_absence: Some(number_absence),
                ..CallerId::default()
            },
        ));
        for name_absence in [Absence::Private, Absence::Unavailable] {
            cases.push((
                Format::Mdmf,
                CallerId {
                    datetime: time,
                    number_absence: Some(number_absence),
                    name_absence: Some(name_absence),
                    ..CallerId::default()
                },
            ));
        }
    }
    for standard in STANDARDS {
        for (format, caller_id) in &cases {
            let config = FskTxConfig::new(standard, Law::Alaw);
            let line = Line {
                law: Law::Alaw,
                snr_db: None,
            };
            let results = send_and_receive(caller_id, *format, &config, line, 7);
            assert_eq!(results, vec![Ok(caller_id.clone())], "{standard:?} {caller_id:?}");
        }
    }
}

/// EN 300 659-1 lets the exchange leave out the channel seizure (e.g. for data sent after an
/// alerting signal); the mark signal alone introduces the message.
#[test]
fn fsk_without_channel_seizure_decodes() {
    let mut rng = Rng::new(13);
    for standard in STANDARDS {
        for law in LAWS {
            let caller_id = random_caller_id(&mut rng, Format::Mdmf);
            let config = FskTxConfig {
                seizure_bits: 0,
                ..FskTxConfig::new(standard, law)
            };
            let line = Line { law, snr_db: None };
            let results = send_and_receive(&caller_id, Format::Mdmf, &config, line, rng.next());
            assert_eq!(results, vec![Ok(caller_id)], "{standard:?} {law:?}");
        }
    }
}

#[test]
fn fsk_two_bursts_give_two_messages() {
    let mut rng = Rng::new(4);
    let first = random_caller_id(&mut rng, Format::Mdmf);
    let second = random_caller_id(&mut rng, Format::Sdmf);
    let standard = FskStandard::Bell202;
    let mut audio = encode_fsk(&first, standard, Format::Mdmf, Law::Ulaw).expect("encode");
    audio.extend_from_slice(&[0; 4000]);
    audio.extend(encode_fsk(&second, standard, Format::Sdmf, Law::Ulaw).expect("encode"));
    let results = receive(standard, &g711_round_trip(Law::Ulaw, &audio));
    assert_eq!(results, vec![Ok(first), Ok(second)]);
}

/// A known-good MDMF frame used by the corruption tests.
fn sample_frame() -> (CallerId, Vec<u8>) {
    let caller_id = CallerId {
        number: Some("13800138000".into()),
        name: Some("ZHANG WEI".into()),
        datetime: CallTime::new(6, 15, 9, 41),
        ..CallerId::default()
    };
    let frame = encode_message(&caller_id, Format::Mdmf).expect("encode");
    (caller_id, frame)
}

/// `bytes` after the standard preamble, through an A-law line, decoded.
fn receive_bytes(standard: FskStandard, bytes: &[u8]) -> Vec<Result<CallerId, CallerIdError>> {
    let audio = modulate(bytes, &FskTxConfig::new(standard, Law::Alaw)).expect("modulate");
    receive(standard, &g711_round_trip(Law::Alaw, &audio))
}

#[test]
fn fsk_flipped_checksum_bits_are_rejected() {
    let (_, frame) = sample_frame();
    for standard in STANDARDS {
        for bit in 0..8 {
            let mut corrupt = frame.clone();
            *corrupt.last_mut().expect("checksum") ^= 1 << bit;
            let results = receive_bytes(standard, &corrupt);
            assert!(
                matches!(results.as_slice(), [Err(CallerIdError::Checksum { .. })]),
                "{standard:?} bit {bit}: {results:?}"
            );
        }
    }
}

#[test]
fn fsk_flipped_data_bits_are_rejected() {
    let (_, frame) = sample_frame();
    let mut rng = Rng::new(5);
    for standard in STANDARDS {
        // Every body byte, one random bit each (the length byte is covered by truncation below).
        for index in 2..frame.len() - 1 {
            let bit = rng.below(8);
            let mut corrupt = frame.clone();
            corrupt[index] ^= 1 << bit;
            let results = receive_bytes(standard, &corrupt);
            assert!(
                matches!(results.as_slice(), [Err(CallerIdError::Checksum { .. })]),
                "{standard:?} byte {index} bit {bit}: {results:?}"
            );
        }
        // The message type too: the checksum catches it before the type is looked at.
        let mut corrupt = frame.clone();
        corrupt[0] ^= 0x02;
        let results = receive_bytes(standard, &corrupt);
        assert!(matches!(
            results.as_slice(),
            [Err(CallerIdError::Checksum { .. })]
        ));
    }
}

/// Audio samples covering the preamble and the first `bits` bits after it.
fn samples_for_bits(config: &FskTxConfig, bits: usize) -> usize {
    let preamble = (config.seizure_bits + config.mark_bits) as usize;
    ((preamble + bits) as f64 * SAMPLES_PER_BIT).ceil() as usize
}

#[test]
fn fsk_truncated_at_every_byte_is_rejected() {
    let (_, frame) = sample_frame();
    let declared = frame.len();
    for standard in STANDARDS {
        let config = FskTxConfig::new(standard, Law::Ulaw);
        let audio = modulate(&frame, &config).expect("modulate");
        for kept in 0..frame.len() {
            // Cut right after byte `kept` and, separately, halfway through the next byte.
            for extra_bits in [0, 5] {
                let end = samples_for_bits(&config, kept * 10 + extra_bits);
                let results = receive(standard, &g711_round_trip(Law::Ulaw, &audio[..end]));
                let expected = match kept {
                    // Only the preamble (and maybe half a byte): no message started.
                    0 => vec![],
                    // Before the length byte the frame's length is unknown: the minimum, 3.
                    1 => vec![Err(CallerIdError::Truncated {
                        received: 1,
                        expected: 3,
                    })],
                    _ => vec![Err(CallerIdError::Truncated {
                        received: kept,
                        expected: declared,
                    })],
                };
                assert_eq!(
                    results, expected,
                    "{standard:?} kept {kept} bytes + {extra_bits} bits"
                );
            }
        }
    }
}

#[test]
fn fsk_missing_mark_signal_is_rejected() {
    let (_, frame) = sample_frame();
    for standard in STANDARDS {
        for law in LAWS {
            let config = FskTxConfig {
                mark_bits: 0,
                ..FskTxConfig::new(standard, law)
            };
            let audio = modulate(&frame, &config).expect("modulate");
            let results = receive(standard, &g711_round_trip(law, &audio));
            assert_eq!(
                results,
                vec![Err(CallerIdError::MissingMarkSignal)],
                "{standard:?} {law:?}"
            );
        }
    }
}

#[test]
fn fsk_wrong_type_and_bad_lengths_are_rejected() {
    let with_checksum = |mut bytes: Vec<u8>| {
        bytes.push(checksum(&bytes));
        bytes
    };
    let cases = [
        // Message-waiting indicator (EN 300 659-3 type 0x82) is not caller ID.
        (
            with_checksum(vec![0x82, 0x03, 0x0B, 0x01, 0xFF]),
            Err(CallerIdError::UnknownMessageType { message_type: 0x82 }),
        ),
        // A number parameter claiming more bytes than the message holds.
        (
            with_checksum(vec![0x80, 0x04, 0x02, 0x09, b'5', b'5']),
            Err(CallerIdError::BadParameterLength {
                parameter: 0x02,
                length: 9,
            }),
        ),
        // A date/time parameter of the wrong size.
        (
            with_checksum(vec![0x80, 0x05, 0x01, 0x03, b'0', b'1', b'0']),
            Err(CallerIdError::BadParameterLength {
                parameter: 0x01,
                length: 3,
            }),
        ),
        // An empty MDMF body.
        (
            with_checksum(vec![0x80, 0x00]),
            Err(CallerIdError::BadParameterLength {
                parameter: 0x80,
                length: 0,
            }),
        ),
    ];
    for standard in STANDARDS {
        for (bytes, expected) in &cases {
            let results = receive_bytes(standard, bytes);
            assert_eq!(
                results.as_slice(),
                std::slice::from_ref(expected),
                "{standard:?} {bytes:02x?}"
            );
        }
        // A length byte larger than what follows: the frame never completes.
        let (_, frame) = sample_frame();
        let mut long = frame.clone();
        long[1] += 10;
        let results = receive_bytes(standard, &long);
        assert_eq!(
            results,
            vec![Err(CallerIdError::Truncated {
                received: frame.len(),
                expected: frame.len() + 10
            })]
        );
    }
}

/// Random FSK bytes and noise right before and after the burst: the message is still read, and
/// the garbage produces nothing.
#[test]
fn fsk_garbage_before_and_after_is_ignored() {
    let mut rng = Rng::new(6);
    for standard in STANDARDS {
        for law in LAWS {
            for trial in 0..5 {
                let caller_id = random_caller_id(&mut rng, Format::Mdmf);
                let config = FskTxConfig::new(standard, law);
                let bare = FskTxConfig {
                    seizure_bits: 0,
                    mark_bits: 0,
                    ..config
                };
                let garbage = |rng: &mut Rng| {
                    let bytes: Vec<u8> = (0..rng.range(1, 40)).map(|_| rng.next() as u8).collect();
                    modulate(&bytes, &bare).expect("modulate")
                };
                let mut audio = garbage(&mut rng);
                audio.extend(encode_fsk_with(&caller_id, Format::Mdmf, &config).expect("encode"));
                audio.extend(garbage(&mut rng));
                let noise_peak = dbm0_to_peak(law, -20.0) as f64;
                audio.extend((0..2000).map(|_| (noise_peak * rng.gaussian()) as i16));
                let results = receive(standard, &g711_round_trip(law, &audio));
                assert_eq!(results, vec![Ok(caller_id)], "{standard:?} {law:?} trial {trial}");
            }
        }
    }
}

/// Plays DTMF CLIP audio through G.711 into spandsp's DTMF receiver and feeds the digits it
/// reports, with the elapsed time, to a DtmfClipRx.
fn receive_dtmf(law: Law, audio: &[i16]) -> Vec<Result<CallerId, CallerIdError>> {
    let line = g711_round_trip(law, audio);
    let mut detector = SpandspDtmfRx::new().expect("spandsp DTMF receiver");
    let mut clip = DtmfClipRx::new();
    let mut results = Vec::new();
    let tail = vec![0i16; 8000];
    for block in line.chunks(BLOCK_SAMPLES).chain(tail.chunks(BLOCK_SAMPLES)) {
        detector.process(block);
        while let Some(digit) = detector.take_digit() {
            results.extend(clip.push_digit(digit));
        }
        results.extend(clip.advance(block.len()));
    }
    results
}

#[test]
fn dtmf_clip_round_trips_every_variant_and_law() {
    let variants = [
        DtmfClipVariant::StartAEndC,
        DtmfClipVariant::StartDEndC,
        DtmfClipVariant::StartAEndHash,
        DtmfClipVariant::EndHash,
    ];
    let mut rng = Rng::new(8);
    for variant in variants {
        for law in LAWS {
            for trial in 0..6 {
                let caller_id = match trial {
                    0 => CallerId {
                        number_absence: Some(Absence::Private),
                        ..CallerId::default()
                    },
                    1 => CallerId {
                        number_absence: Some(Absence::Unavailable),
                        ..CallerId::default()
                    },
                    _ => CallerId {
                        number: Some(random_digits(&mut rng, 2, 32)),
                        ..CallerId::default()
                    },
                };
                let audio = encode_dtmf_clip(&caller_id, variant, law).expect("encode");
                let results = receive_dtmf(law, &audio);
                assert_eq!(
                    results,
                    vec![Ok(caller_id.clone())],
                    "{variant:?} {law:?} {caller_id:?}"
                );
            }
        }
    }
}

#[test]
fn dtmf_clip_cut_short_times_out() {
    let caller_id = CallerId {
        number: Some("8613912345678".into()),
        ..CallerId::default()
    };
    let audio = encode_dtmf_clip(&caller_id, DtmfClipVariant::StartAEndC, Law::Alaw).expect("encode");
    // "A86139" and no more: six digits of 140 ms (1120 samples).
    let results = receive_dtmf(Law::Alaw, &audio[..6 * 1120]);
    assert_eq!(results, vec![Err(CallerIdError::Timeout { digits: 5 })]);
}

// ---------------------------------------------------------------------------------------------
// minimodem: an independent Bell 202 / V.23 modem (GPL, used only as an external program).
// ---------------------------------------------------------------------------------------------

/// minimodem writes 48 kHz by default; 48000/1200 = 40 samples per bit exactly. (At 8 kHz it
/// rounds a bit to 7 samples and sends 1143 baud, so vectors are made at 48 kHz and decimated.)
const MINIMODEM_RATE_HZ: u32 = 48_000;
const DECIMATION: usize = 6;

/// Fails the test with the package to install when minimodem is missing.
fn require_minimodem() {
    let found = Command::new("minimodem")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    assert!(
        found,
        "minimodem is not installed: `apt-get install -y minimodem` (Debian package minimodem; \
         install.sh must install it for these tests)"
    );
}

/// minimodem's option for each standard's tones (its `1200` mode is Bell 202).
fn minimodem_tone_args(standard: FskStandard) -> Vec<String> {
    match standard {
        FskStandard::Bell202 => vec![],
        FskStandard::V23 => vec!["-M".into(), "1300".into(), "-S".into(), "2100".into()],
    }
}

/// Runs minimodem with `args`, `stdin` as input; returns its standard output.
fn run_minimodem(args: &[String], stdin: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new("minimodem")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run minimodem");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write to minimodem");
    let output = child.wait_with_output().expect("minimodem output");
    assert!(
        output.status.success(),
        "minimodem {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// minimodem transmits `bytes` 8N1 (or with `framing` overriding start/stop bits) at 1200 baud
/// into a 48 kHz WAV; returns the samples.
fn minimodem_tx(dir: &Path, standard: FskStandard, bytes: &[u8], framing: &[&str]) -> Vec<i16> {
    let path = dir.join("tx.wav");
    let mut args: Vec<String> = ["--tx", "-q", "-v", "0.3", "-f"].map(String::from).to_vec();
    args.push(path.display().to_string());
    args.extend(minimodem_tone_args(standard));
    args.extend(framing.iter().map(|arg| arg.to_string()));
    args.push("1200".into());
    run_minimodem(&args, bytes);
    let (rate_hz, samples) = read_wav(&path);
    assert_eq!(rate_hz, MINIMODEM_RATE_HZ);
    samples
}

/// The samples of a 16-bit mono PCM WAV, walking its RIFF chunks.
fn read_wav(path: &Path) -> (u32, Vec<i16>) {
    let bytes = std::fs::read(path).expect("read wav");
    assert_eq!(&bytes[..4], b"RIFF");
    assert_eq!(&bytes[8..12], b"WAVE");
    let mut offset = 12;
    let mut rate_hz = 0;
    while offset + 8 <= bytes.len() {
        let id = &bytes[offset..offset + 4];
        let size = u32::from_le_bytes(bytes[offset + 4..offset + 8].try_into().expect("4 bytes")) as usize;
        let body = &bytes[offset + 8..(offset + 8 + size).min(bytes.len())];
        if id == b"fmt " {
            let field = |at: usize| u16::from_le_bytes([body[at], body[at + 1]]);
            assert_eq!((field(0), field(2), field(14)), (1, 1, 16), "PCM, mono, 16-bit");
            rate_hz = u32::from_le_bytes(body[4..8].try_into().expect("4 bytes"));
        }
        if id == b"data" {
            let samples = body
                .chunks_exact(2)
                .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
                .collect();
            return (rate_hz, samples);
        }
        // Chunks are padded to an even size.
        offset += 8 + size + size % 2;
    }
    panic!("{} has no data chunk", path.display());
}

/// 48 kHz → 8 kHz: a 127-tap Blackman-windowed sinc low-pass at 3.4 kHz, then every sixth sample.
fn decimate_to_8k(samples: &[i16]) -> Vec<f64> {
    const TAPS: usize = 127;
    let cutoff = 3400.0 / f64::from(MINIMODEM_RATE_HZ);
    let middle = (TAPS / 2) as f64;
    let taps: Vec<f64> = (0..TAPS)
        .map(|n| {
            let x = n as f64 - middle;
            let sinc = if x == 0.0 {
                2.0 * cutoff
            } else {
                (std::f64::consts::TAU * cutoff * x).sin() / (std::f64::consts::PI * x)
            };
            let phase = std::f64::consts::TAU * n as f64 / (TAPS - 1) as f64;
            sinc * (0.42 - 0.5 * phase.cos() + 0.08 * (2.0 * phase).cos())
        })
        .collect();
    (0..samples.len())
        .step_by(DECIMATION)
        .map(|centre| {
            taps.iter()
                .enumerate()
                .map(|(k, tap)| {
                    let index = centre as isize + k as isize - middle as isize;
                    let sample = usize::try_from(index).ok().and_then(|i| samples.get(i));
                    tap * sample.map_or(0.0, |&s| f64::from(s))
                })
                .sum()
        })
        .collect()
}

/// Scales `samples` to `level_dbm0` (RMS) in `law` and quantises.
fn scale_to_level(samples: &[f64], law: Law, level_dbm0: f32) -> Vec<i16> {
    let rms = (samples.iter().map(|s| s * s).sum::<f64>() / samples.len() as f64).sqrt();
    let target_rms = f64::from(dbm0_to_peak(law, level_dbm0)) / std::f64::consts::SQRT_2;
    samples
        .iter()
        .map(|s| (s * target_rms / rms).round() as i16)
        .collect()
}

/// Seizure (30 × 0x55), mark (one 0xFF byte sent with no start bit and enough stop bits to make
/// `mark_bits` marks), then the frame: three minimodem runs joined at 48 kHz.
fn minimodem_burst(dir: &Path, standard: FskStandard, frame: &[u8], mark_bits: u32) -> Vec<i16> {
    let stop_bits = format!("{}", mark_bits - 8);
    let mut audio = minimodem_tx(dir, standard, &[0x55; 30], &[]);
    audio.extend(minimodem_tx(
        dir,
        standard,
        &[0xFF],
        &["--startbits", "0", "--stopbits", &stop_bits],
    ));
    audio.extend(minimodem_tx(dir, standard, frame, &[]));
    audio
}

#[test]
fn minimodem_transmitted_bursts_decode() {
    require_minimodem();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = Rng::new(9);
    for standard in STANDARDS {
        for format in FORMATS {
            for (trial, (law, level_dbm0)) in [(Law::Alaw, -13.5), (Law::Ulaw, -30.0), (Law::Alaw, -8.0)]
                .into_iter()
                .enumerate()
            {
                let caller_id = random_caller_id(&mut rng, format);
                let frame = encode_message(&caller_id, format).expect("encode");
                let burst = minimodem_burst(dir.path(), standard, &frame, standard.mark_bits());
                let audio = scale_to_level(&decimate_to_8k(&burst), law, level_dbm0);
                let results = receive(standard, &g711_round_trip(law, &audio));
                assert_eq!(
                    results,
                    vec![Ok(caller_id)],
                    "{standard:?} {format:?} {law:?} {level_dbm0} dBm0 trial {trial} frame {frame:02x?}"
                );
            }
        }
    }
}

#[test]
fn minimodem_transmitted_corrupt_frame_is_rejected() {
    require_minimodem();
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, mut frame) = sample_frame();
    frame[5] ^= 0x10;
    let burst = minimodem_burst(dir.path(), FskStandard::Bell202, &frame, 180);
    let audio = scale_to_level(&decimate_to_8k(&burst), Law::Ulaw, -13.5);
    let results = receive(FskStandard::Bell202, &g711_round_trip(Law::Ulaw, &audio));
    assert!(
        matches!(results.as_slice(), [Err(CallerIdError::Checksum { .. })]),
        "{results:?}"
    );
}

/// Writes telvox's burst (after G.711) with a little silence either side to an 8 kHz WAV.
fn write_burst(path: &Path, audio: &[i16], law: Law) {
    let mut padded = vec![0i16; 800];
    padded.extend(g711_round_trip(law, audio));
    padded.extend_from_slice(&[0; 800]);
    telvox::wav::write_pcm16(path, 8000, &padded).expect("write wav");
}

/// minimodem's own Bell 202 caller ID decoder (`--rx callerid`) reads telvox's bursts. It formats
/// 10-digit numbers as NPA-NXX-XXXX, prints reasons for absence as "[blocked]" (P) and "[N/A]"
/// (O) in MDMF, and prints an SDMF reason letter as the number.
#[test]
fn minimodem_callerid_decoder_reads_our_bell202() {
    require_minimodem();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ours.wav");
    let mut rng = Rng::new(10);
    for trial in 0..12 {
        let format = FORMATS[trial % 2];
        let law = LAWS[trial / 2 % 2];
        let mut caller_id = random_caller_id(&mut rng, format);
        if trial == 10 {
            caller_id.number = None;
            caller_id.number_absence = Some(Absence::Private);
        }
        let audio = encode_fsk(&caller_id, FskStandard::Bell202, format, law).expect("encode");
        write_burst(&path, &audio, law);
        let args: Vec<String> = ["--rx", "-q", "-f"].map(String::from).to_vec();
        let args = [args, vec![path.display().to_string(), "callerid".into()]].concat();
        let output = String::from_utf8(run_minimodem(&args, &[])).expect("utf-8");
        let expected = minimodem_callerid_text(&caller_id, format);
        let lines: Vec<&str> = output
            .lines()
            .map(str::trim_end)
            .filter(|line| !line.is_empty())
            .collect();
        assert_eq!(lines, expected, "{format:?} {law:?} {caller_id:?}\n{output}");
    }
}

/// The lines minimodem prints for `caller_id` (see the test above for its conventions).
fn minimodem_callerid_text(caller_id: &CallerId, format: Format) -> Vec<String> {
    let reason = |absence: Absence| match (format, absence) {
        (Format::Sdmf, absence) => char::from(absence.code()).to_string(),
        (Format::Mdmf, Absence::Private) => "[blocked]".to_string(),
        (Format::Mdmf, Absence::Unavailable) => "[N/A]".to_string(),
    };
    let mut lines = vec!["CALLER-ID".to_string()];
    if let Some(time) = caller_id.datetime {
        lines.push(format!(
            "Time:  {:02}/{:02} {:02}:{:02}",
            time.month, time.day, time.hour, time.minute
        ));
    }
    let number = caller_id.number.as_ref().map(|number| match number.len() {
        10 => format!("{}-{}-{}", &number[..3], &number[3..6], &number[6..]),
        _ => number.clone(),
    });
    if let Some(phone) = number.or(caller_id.number_absence.map(reason)) {
        lines.push(format!("Phone: {phone}"));
    }
    if let Some(name) = caller_id.name.clone().or(caller_id.name_absence.map(reason)) {
        lines.push(format!("Name:  {name}"));
    }
    lines
}

/// minimodem's plain 1200 baud receiver (`--rx 1200`, with -M/-S for V.23) frames telvox's bursts
/// byte for byte: the seizure reads as 0x55 and the frame as sent.
#[test]
fn minimodem_uart_reads_our_bytes_bell202_and_v23() {
    require_minimodem();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ours.wav");
    let mut rng = Rng::new(11);
    for standard in STANDARDS {
        for format in FORMATS {
            for law in LAWS {
                let caller_id = random_caller_id(&mut rng, format);
                let frame = encode_message(&caller_id, format).expect("encode");
                let audio = encode_fsk(&caller_id, standard, format, law).expect("encode");
                write_burst(&path, &audio, law);
                let mut args: Vec<String> = ["--rx", "-q", "-f"].map(String::from).to_vec();
                args.push(path.display().to_string());
                args.extend(minimodem_tone_args(standard));
                args.push("1200".into());
                let output = run_minimodem(&args, &[]);
                let seizure = output.iter().take_while(|&&byte| byte == 0x55).count();
                assert!(
                    seizure >= 20,
                    "{standard:?}: only {seizure} seizure bytes in {output:02x?}"
                );
                assert!(
                    output.ends_with(&frame),
                    "{standard:?} {format:?} {law:?}: minimodem read {output:02x?}, sent {frame:02x?}"
                );
            }
        }
    }
}
