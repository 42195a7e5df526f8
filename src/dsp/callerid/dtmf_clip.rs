//! DTMF caller ID ("DTMF CLIP"): the number sent as DTMF digits before the first ring.
//!
//! The variants telvox sends and receives:
//!
//! | sequence       | where it comes from                                                        |
//! |----------------|----------------------------------------------------------------------------|
//! | `A<number>C`   | Telia (Sweden) and others under EN 300 659-1's DTMF annex: A starts, C ends |
//! | `D<number>C`   | networks that open the number with D instead of A (listed in the DSP issue) |
//! | `A<number>#`   | TeleDanmark's DTMF CLIP                                                     |
//! | `<number>#`    | no start digit, # ends the number                                          |
//! | `D<code><end>` | reason for absence, TeleDanmark's codes: 1 = withheld by the caller        |
//! |                | (→ [`Absence::Private`]), 2 = international call, 3 = technical reasons    |
//! |                | (both → [`Absence::Unavailable`])                                          |
//!
//! A `D` followed by a single digit is a reason code: no calling number is one digit long. The
//! receiver accepts any start (A, D or none) with either end (C or #), so one receiver serves all
//! variants. Digits are 70 ms of tone and 70 ms of silence by default (Telia's published timing;
//! TeleDanmark's description requires receivers to detect any tone or pause of 50 ms or more).

use super::{Absence, CallerId, CallerIdError};
use crate::dsp::dtmf_gen::{DtmfConfig, DtmfGenerator};
use crate::hw::Law;

/// Most number digits the receiver holds (and the encoder sends).
pub const MAX_DIGITS: usize = 32;
/// Numbers are at least two digits, so `D` plus one digit can only be a reason code.
pub const MIN_NUMBER_DIGITS: usize = 2;
/// Default inter-digit timeout: 500 ms at 8 kHz. Digits arrive every 140 ms, so a gap over three
/// times that means the sender stopped.
pub const DEFAULT_TIMEOUT_SAMPLES: u32 = 4000;
/// Tone and gap of each digit.
pub const TONE_MS: u32 = 70;
pub const GAP_MS: u32 = 70;

/// The reason codes sent for each absence (TeleDanmark: 1 restricted by the caller, 2 number not
/// transmitted on an international call; 3, technical reasons, is received as unavailable too).
const PRIVATE_CODE: char = '1';
const UNAVAILABLE_CODE: char = '2';
const TECHNICAL_CODE: char = '3';

/// Which digit sequence to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DtmfClipVariant {
    /// `A<number>C` (EN 300 659-1 DTMF annex).
    StartAEndC,
    /// `D<number>C`.
    StartDEndC,
    /// `A<number>#` (TeleDanmark).
    StartAEndHash,
    /// `<number>#`.
    EndHash,
}

impl DtmfClipVariant {
    /// The digit sent before the number, if any.
    pub const fn start_digit(self) -> Option<char> {
        match self {
            DtmfClipVariant::StartAEndC | DtmfClipVariant::StartAEndHash => Some('A'),
            DtmfClipVariant::StartDEndC => Some('D'),
            DtmfClipVariant::EndHash => None,
        }
    }

    /// The digit that ends the sequence.
    pub const fn end_digit(self) -> char {
        match self {
            DtmfClipVariant::StartAEndC | DtmfClipVariant::StartDEndC => 'C',
            DtmfClipVariant::StartAEndHash | DtmfClipVariant::EndHash => '#',
        }
    }
}

/// The digits for `caller_id`: its number, or `D<code><end>` for a reason of absence. DTMF has no
/// place for name or time, so they are left out (the number is what the called party needs).
pub fn dtmf_clip_digits(caller_id: &CallerId, variant: DtmfClipVariant) -> Result<String, CallerIdError> {
    let end = variant.end_digit();
    match (&caller_id.number, caller_id.number_absence) {
        (Some(_), Some(_)) => Err(CallerIdError::Conflict { field: "number" }),
        (Some(number), None) => {
            check_number(number)?;
            Ok(variant
                .start_digit()
                .into_iter()
                .chain(number.chars())
                .chain([end])
                .collect())
        }
        (None, Some(absence)) => {
            let code = match absence {
                Absence::Private => PRIVATE_CODE,
                Absence::Unavailable => UNAVAILABLE_CODE,
            };
            Ok(['D', code, end].iter().collect())
        }
        (None, None) => Err(CallerIdError::NotRepresentable {
            format: "DTMF caller ID",
            what: "a message without a number or a reason for its absence",
            instead: "FSK MDMF",
        }),
    }
}

/// `caller_id` as DTMF audio: [`TONE_MS`] on, [`GAP_MS`] off per digit, at the generator's
/// default level.
pub fn encode_dtmf_clip(
    caller_id: &CallerId,
    variant: DtmfClipVariant,
    law: Law,
) -> Result<Vec<i16>, CallerIdError> {
    let config = DtmfConfig {
        on_ms: TONE_MS,
        off_ms: GAP_MS,
        ..DtmfConfig::new(law)
    };
    encode_dtmf_clip_with(caller_id, variant, config)
}

/// `caller_id` as DTMF audio with explicit timing and level.
pub fn encode_dtmf_clip_with(
    caller_id: &CallerId,
    variant: DtmfClipVariant,
    config: DtmfConfig,
) -> Result<Vec<i16>, CallerIdError> {
    let digits = dtmf_clip_digits(caller_id, variant)?;
    let mut generator = DtmfGenerator::new(config)?;
    generator.queue(&digits)?;
    let samples_per_digit = (config.on_ms + config.off_ms) as usize * 8;
    let mut audio = vec![0i16; digits.len() * samples_per_digit];
    generator.fill(&mut audio);
    Ok(audio)
}

fn check_number(number: &str) -> Result<(), CallerIdError> {
    if let Some(character) = number.chars().find(|c| !c.is_ascii_digit()) {
        // DTMF has * and #, but # ends a sequence and neither belongs in a calling number here.
        return Err(CallerIdError::InvalidCharacter {
            field: "number",
            character,
        });
    }
    let chars = number.len();
    if chars < MIN_NUMBER_DIGITS {
        return Err(CallerIdError::FieldTooShort {
            field: "number",
            chars,
            minimum: MIN_NUMBER_DIGITS,
        });
    }
    if chars > MAX_DIGITS {
        return Err(CallerIdError::FieldTooLong {
            field: "number",
            chars,
            limit: MAX_DIGITS,
        });
    }
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RxState {
    /// Waiting for a start digit or the first digit of a `<number>#`.
    Idle,
    /// Collecting digits after `start` (None for `<number>#`).
    Collecting { start: Option<char> },
    /// After an error inside a sequence: ignore digits until its end, so its tail is not read as
    /// a new `<number>#`.
    Discarding,
}

/// Turns DTMF digits, as a DTMF receiver reports them, into caller ID.
#[derive(Clone, Debug)]
pub struct DtmfClipRx {
    digits: [u8; MAX_DIGITS],
    len: usize,
    state: RxState,
    since_digit_samples: u32,
    timeout_samples: u32,
}

impl Default for DtmfClipRx {
    fn default() -> Self {
        Self::new()
    }
}

impl DtmfClipRx {
    /// A receiver with [`DEFAULT_TIMEOUT_SAMPLES`].
    pub fn new() -> Self {
        Self::with_timeout_samples(DEFAULT_TIMEOUT_SAMPLES)
    }

    /// A receiver that abandons a sequence after `timeout_samples` without a digit.
    pub fn with_timeout_samples(timeout_samples: u32) -> Self {
        Self {
            digits: [0; MAX_DIGITS],
            len: 0,
            state: RxState::Idle,
            since_digit_samples: 0,
            timeout_samples,
        }
    }

    /// True while a sequence has started and not yet ended.
    pub fn is_collecting(&self) -> bool {
        self.state != RxState::Idle
    }

    /// Forgets any sequence in progress.
    pub fn reset(&mut self) {
        self.state = RxState::Idle;
        self.len = 0;
        self.since_digit_samples = 0;
    }

    /// Takes one detected digit (0-9, *, #, A-D; lower case accepted). Returns a result when a
    /// sequence ends or breaks.
    pub fn push_digit(&mut self, digit: char) -> Option<Result<CallerId, CallerIdError>> {
        let digit = digit.to_ascii_uppercase();
        self.since_digit_samples = 0;
        match self.state {
            RxState::Idle => {
                self.begin(digit);
                None
            }
            RxState::Collecting { start } => self.collect(start, digit),
            RxState::Discarding => {
                if matches!(digit, 'A' | 'D') {
                    self.begin(digit);
                } else if matches!(digit, 'C' | '#') {
                    self.state = RxState::Idle;
                }
                None
            }
        }
    }

    /// Counts `samples` of time without a new digit; a sequence left open past the timeout is
    /// reported as [`CallerIdError::Timeout`].
    pub fn advance(&mut self, samples: usize) -> Option<Result<CallerId, CallerIdError>> {
        if self.state == RxState::Idle {
            return None;
        }
        let samples = u32::try_from(samples).unwrap_or(u32::MAX);
        self.since_digit_samples = self.since_digit_samples.saturating_add(samples);
        if self.since_digit_samples <= self.timeout_samples {
            return None;
        }
        let was_collecting = matches!(self.state, RxState::Collecting { .. });
        let digits = self.len;
        self.reset();
        was_collecting.then_some(Err(CallerIdError::Timeout { digits }))
    }

    /// Starts a sequence on a start digit or a number digit; anything else while idle is ignored
    /// (a stray end digit or a key press is not caller ID).
    fn begin(&mut self, digit: char) {
        self.len = 0;
        match digit {
            'A' | 'D' => self.state = RxState::Collecting { start: Some(digit) },
            '0'..='9' => {
                self.state = RxState::Collecting { start: None };
                self.digits[0] = digit as u8;
                self.len = 1;
            }
            _ => self.state = RxState::Idle,
        }
    }

    fn collect(&mut self, start: Option<char>, digit: char) -> Option<Result<CallerId, CallerIdError>> {
        match digit {
            '0'..='9' if self.len == MAX_DIGITS => {
                self.state = RxState::Discarding;
                Some(Err(CallerIdError::TooManyDigits { limit: MAX_DIGITS }))
            }
            '0'..='9' => {
                self.digits[self.len] = digit as u8;
                self.len += 1;
                None
            }
            'C' | '#' => {
                self.state = RxState::Idle;
                Some(self.finish(start))
            }
            'A' | 'D' => {
                // A new start inside a sequence: the old one was cut short; read the new one.
                self.begin(digit);
                Some(Err(CallerIdError::UnexpectedDigit { digit }))
            }
            _ => {
                self.state = RxState::Discarding;
                Some(Err(CallerIdError::UnexpectedDigit { digit }))
            }
        }
    }

    fn finish(&self, start: Option<char>) -> Result<CallerId, CallerIdError> {
        let digits = &self.digits[..self.len];
        match (start, digits) {
            (_, []) => Err(CallerIdError::EmptySequence),
            (Some('D'), [code]) => absence_from_code(char::from(*code)).map(|absence| CallerId {
                number_absence: Some(absence),
                ..CallerId::default()
            }),
            _ => Ok(CallerId {
                number: Some(digits.iter().map(|&digit| char::from(digit)).collect()),
                ..CallerId::default()
            }),
        }
    }
}

fn absence_from_code(code: char) -> Result<Absence, CallerIdError> {
    match code {
        PRIVATE_CODE => Ok(Absence::Private),
        UNAVAILABLE_CODE | TECHNICAL_CODE => Ok(Absence::Unavailable),
        _ => Err(CallerIdError::UnknownAbsenceCode { code }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(digits: &str) -> CallerId {
        CallerId {
            number: Some(digits.into()),
            ..CallerId::default()
        }
    }

    fn feed(rx: &mut DtmfClipRx, digits: &str) -> Vec<Result<CallerId, CallerIdError>> {
        digits.chars().filter_map(|digit| rx.push_digit(digit)).collect()
    }

    #[test]
    fn digit_strings_for_each_variant() {
        let caller = number("13800138000");
        let cases = [
            (DtmfClipVariant::StartAEndC, "A13800138000C"),
            (DtmfClipVariant::StartDEndC, "D13800138000C"),
            (DtmfClipVariant::StartAEndHash, "A13800138000#"),
            (DtmfClipVariant::EndHash, "13800138000#"),
        ];
        for (variant, expected) in cases {
            assert_eq!(dtmf_clip_digits(&caller, variant).as_deref(), Ok(expected));
        }
        let private = CallerId {
            number_absence: Some(Absence::Private),
            ..CallerId::default()
        };
        assert_eq!(
            dtmf_clip_digits(&private, DtmfClipVariant::StartAEndC).as_deref(),
            Ok("D1C")
        );
        let unavailable = CallerId {
            number_absence: Some(Absence::Unavailable),
            ..CallerId::default()
        };
        assert_eq!(
            dtmf_clip_digits(&unavailable, DtmfClipVariant::EndHash).as_deref(),
            Ok("D2#")
        );
    }

    #[test]
    fn receiver_reads_every_variant_and_code() {
        let mut rx = DtmfClipRx::new();
        let cases = [
            ("A5551234C", Ok(number("5551234"))),
            ("D5551234C", Ok(number("5551234"))),
            ("A5551234#", Ok(number("5551234"))),
            ("5551234#", Ok(number("5551234"))),
            ("D1C", Ok(private())),
            ("D2#", Ok(unavailable())),
            ("D3C", Ok(unavailable())),
            ("D7C", Err(CallerIdError::UnknownAbsenceCode { code: '7' })),
            ("AC", Err(CallerIdError::EmptySequence)),
        ];
        for (digits, expected) in cases {
            assert_eq!(feed(&mut rx, digits), vec![expected], "{digits}");
        }
    }

    fn private() -> CallerId {
        CallerId {
            number_absence: Some(Absence::Private),
            ..CallerId::default()
        }
    }

    fn unavailable() -> CallerId {
        CallerId {
            number_absence: Some(Absence::Unavailable),
            ..CallerId::default()
        }
    }

    #[test]
    fn too_many_digits_discards_the_rest_of_the_sequence() {
        let mut rx = DtmfClipRx::new();
        let long = format!("A{}C", "9".repeat(40));
        assert_eq!(
            feed(&mut rx, &long),
            vec![Err(CallerIdError::TooManyDigits { limit: 32 })]
        );
        // The tail was discarded, so the next sequence reads cleanly.
        assert_eq!(feed(&mut rx, "A12C"), vec![Ok(number("12"))]);
        let exactly = format!("A{}C", "8".repeat(32));
        assert_eq!(feed(&mut rx, &exactly), vec![Ok(number(&"8".repeat(32)))]);
    }

    #[test]
    fn timeout_is_counted_in_samples() {
        let mut rx = DtmfClipRx::with_timeout_samples(1000);
        assert_eq!(feed(&mut rx, "A555"), vec![]);
        assert_eq!(rx.advance(600), None);
        // A digit restarts the clock.
        assert_eq!(rx.push_digit('1'), None);
        assert_eq!(rx.advance(600), None);
        assert_eq!(rx.advance(401), Some(Err(CallerIdError::Timeout { digits: 4 })));
        assert!(!rx.is_collecting());
        assert_eq!(rx.advance(10_000), None);
    }

    #[test]
    fn interruptions_are_reported_and_recovered_from() {
        let mut rx = DtmfClipRx::new();
        assert_eq!(
            feed(&mut rx, "A555A123C"),
            vec![
                Err(CallerIdError::UnexpectedDigit { digit: 'A' }),
                Ok(number("123"))
            ]
        );
        assert_eq!(
            feed(&mut rx, "A55*123C77#"),
            vec![
                Err(CallerIdError::UnexpectedDigit { digit: '*' }),
                Ok(number("77"))
            ]
        );
        // Stray end digits and keys while idle are not caller ID.
        assert_eq!(feed(&mut rx, "C#B*"), vec![]);
    }

    #[test]
    fn encoder_refuses_what_dtmf_cannot_send() {
        let variant = DtmfClipVariant::StartAEndC;
        assert!(matches!(
            dtmf_clip_digits(&number("+4412"), variant),
            Err(CallerIdError::InvalidCharacter { character: '+', .. })
        ));
        assert!(matches!(
            dtmf_clip_digits(&number("5"), variant),
            Err(CallerIdError::FieldTooShort { .. })
        ));
        assert!(matches!(
            dtmf_clip_digits(&number(&"1".repeat(33)), variant),
            Err(CallerIdError::FieldTooLong { .. })
        ));
        assert!(matches!(
            dtmf_clip_digits(&CallerId::default(), variant),
            Err(CallerIdError::NotRepresentable { .. })
        ));
    }

    #[test]
    fn audio_is_seventy_ms_per_tone_and_gap() {
        let audio = encode_dtmf_clip(&number("12"), DtmfClipVariant::StartAEndC, Law::Alaw).expect("encode");
        // A12C: four digits of 140 ms.
        assert_eq!(audio.len(), 4 * 1120);
        assert!(audio[..560].iter().any(|&s| s != 0));
        assert!(audio[560..1120].iter().all(|&s| s == 0));
    }
}
