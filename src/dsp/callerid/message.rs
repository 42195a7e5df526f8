//! Caller ID messages as bytes: SDMF and MDMF framing, checksum, and the parameters telvox uses.
//!
//! A frame is `type, length, body[length], checksum` (Bellcore GR-30-CORE; ETSI EN 300 659-3 uses
//! the same layout). The checksum is the two's complement of the sum of every byte before it, so
//! the whole frame sums to zero modulo 256.
//!
//! - SDMF (type 0x04, GR-30-CORE): the body is eight ASCII digits MMDDHHMM followed by the number,
//!   or by a single 'P' (private) or 'O' (out of area / unavailable).
//! - MDMF (type 0x80, GR-30-CORE; "call set-up" in EN 300 659-3): the body is a list of parameters,
//!   each `type, length, data[length]`: 0x01 date/time (MMDDHHMM), 0x02 calling number, 0x04 reason
//!   for absence of the number, 0x07 name, 0x08 reason for absence of the name. Parameters of other
//!   types are skipped, as EN 300 659-3 asks of terminals that do not support them.

use super::{Absence, CallTime, CallerId, CallerIdError};

/// GR-30-CORE Single Data Message Format.
pub const SDMF_MESSAGE_TYPE: u8 = 0x04;
/// GR-30-CORE Multiple Data Message Format; EN 300 659-3's call set-up message.
pub const MDMF_MESSAGE_TYPE: u8 = 0x80;

/// MDMF parameter types (GR-30-CORE, EN 300 659-3).
pub const PARAM_DATE_TIME: u8 = 0x01;
pub const PARAM_NUMBER: u8 = 0x02;
pub const PARAM_NUMBER_ABSENCE: u8 = 0x04;
pub const PARAM_NAME: u8 = 0x07;
pub const PARAM_NAME_ABSENCE: u8 = 0x08;

/// The length byte is one byte, so a body holds at most 255 bytes; type, length and checksum make
/// the frame 258.
pub const MAX_BODY_BYTES: usize = 255;
pub const MAX_FRAME_BYTES: usize = MAX_BODY_BYTES + 3;

/// telvox's bounds on what it sends: 20 characters hold any E.164 number (15 digits) with an
/// international prefix; 50 hold the longest display names networks send.
pub const MAX_NUMBER_CHARS: usize = 20;
pub const MAX_NAME_CHARS: usize = 50;

/// "MMDDHHMM".
const DATE_TIME_BYTES: usize = 8;

/// Bytes in front of the body (type, length) and behind it (checksum).
const HEADER_BYTES: usize = 2;
const TRAILER_BYTES: usize = 1;

/// The two message layouts of GR-30-CORE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Single Data Message Format (0x04): date/time and number only.
    Sdmf,
    /// Multiple Data Message Format (0x80): parameters, including the name.
    Mdmf,
}

impl Format {
    pub const fn name(self) -> &'static str {
        match self {
            Format::Sdmf => "SDMF",
            Format::Mdmf => "MDMF",
        }
    }
}

/// Builds the complete frame (type, length, body, checksum) for `caller_id` in `format`.
pub fn encode_message(caller_id: &CallerId, format: Format) -> Result<Vec<u8>, CallerIdError> {
    validate_for_sending(caller_id, format)?;
    let mut frame = Vec::with_capacity(MAX_FRAME_BYTES);
    match format {
        Format::Sdmf => {
            frame.extend_from_slice(&[SDMF_MESSAGE_TYPE, 0]);
            write_sdmf_body(caller_id, &mut frame)?;
        }
        Format::Mdmf => {
            frame.extend_from_slice(&[MDMF_MESSAGE_TYPE, 0]);
            write_mdmf_body(caller_id, &mut frame);
        }
    }
    let body_bytes = frame.len() - HEADER_BYTES;
    // The field limits keep every body far below 255 bytes; this guards the limits themselves.
    debug_assert!(body_bytes <= MAX_BODY_BYTES, "body of {body_bytes} bytes");
    frame[1] = body_bytes as u8;
    frame.push(checksum(&frame));
    Ok(frame)
}

/// Reads one complete frame, checksum first: a frame is either parsed whole or rejected.
pub fn parse_message(frame: &[u8]) -> Result<CallerId, CallerIdError> {
    check_frame(frame)?;
    let body = &frame[HEADER_BYTES..frame.len() - TRAILER_BYTES];
    match frame[0] {
        SDMF_MESSAGE_TYPE => parse_sdmf_body(body),
        MDMF_MESSAGE_TYPE => parse_mdmf_body(body),
        message_type => Err(CallerIdError::UnknownMessageType { message_type }),
    }
}

/// The checksum byte for `bytes`: the two's complement of their sum modulo 256 (GR-30-CORE).
pub fn checksum(bytes: &[u8]) -> u8 {
    byte_sum(bytes).wrapping_neg()
}

fn byte_sum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |sum, &byte| sum.wrapping_add(byte))
}

/// Frame-level checks: long enough, exactly as long as declared, and summing to zero.
fn check_frame(frame: &[u8]) -> Result<(), CallerIdError> {
    let minimum = HEADER_BYTES + TRAILER_BYTES;
    if frame.len() < minimum {
        return Err(CallerIdError::Truncated {
            received: frame.len(),
            expected: minimum,
        });
    }
    let declared = usize::from(frame[1]) + minimum;
    if frame.len() < declared {
        return Err(CallerIdError::Truncated {
            received: frame.len(),
            expected: declared,
        });
    }
    if frame.len() > declared {
        return Err(CallerIdError::BadLength {
            declared,
            actual: frame.len(),
        });
    }
    match byte_sum(frame) {
        0 => Ok(()),
        sum => Err(CallerIdError::Checksum { sum }),
    }
}

fn validate_for_sending(caller_id: &CallerId, format: Format) -> Result<(), CallerIdError> {
    if caller_id.number.is_some() && caller_id.number_absence.is_some() {
        return Err(CallerIdError::Conflict { field: "number" });
    }
    if caller_id.name.is_some() && caller_id.name_absence.is_some() {
        return Err(CallerIdError::Conflict { field: "name" });
    }
    if let Some(number) = &caller_id.number {
        check_text("number", number, MAX_NUMBER_CHARS, is_number_char)?;
    }
    if let Some(name) = &caller_id.name {
        check_text("name", name, MAX_NAME_CHARS, is_printable_ascii)?;
    }
    if caller_id.datetime.is_some_and(|time| !time.is_valid()) {
        return Err(CallerIdError::BadDateTime);
    }
    match format {
        Format::Sdmf => validate_sdmf(caller_id),
        Format::Mdmf => validate_mdmf(caller_id),
    }
}

/// SDMF always carries the date and exactly one of number or reason; it has no room for a name.
fn validate_sdmf(caller_id: &CallerId) -> Result<(), CallerIdError> {
    let not_representable = |what| CallerIdError::NotRepresentable {
        format: "SDMF",
        what,
        instead: "MDMF",
    };
    if caller_id.name.is_some() || caller_id.name_absence.is_some() {
        return Err(not_representable("a name or a reason for its absence"));
    }
    if caller_id.datetime.is_none() {
        return Err(not_representable("a message without date and time"));
    }
    if caller_id.number.is_none() && caller_id.number_absence.is_none() {
        return Err(not_representable(
            "a message without a number or a reason for its absence",
        ));
    }
    Ok(())
}

fn validate_mdmf(caller_id: &CallerId) -> Result<(), CallerIdError> {
    let CallerId {
        number,
        name,
        datetime,
        number_absence,
        name_absence,
    } = caller_id;
    let empty = number.is_none()
        && name.is_none()
        && datetime.is_none()
        && number_absence.is_none()
        && name_absence.is_none();
    if empty {
        return Err(CallerIdError::NothingToSend);
    }
    Ok(())
}

fn check_text(
    field: &'static str,
    text: &str,
    limit: usize,
    allowed: fn(char) -> bool,
) -> Result<(), CallerIdError> {
    if let Some(character) = text.chars().find(|&c| !allowed(c)) {
        return Err(CallerIdError::InvalidCharacter { field, character });
    }
    // Every allowed character is ASCII, so bytes are characters from here on.
    if text.is_empty() {
        return Err(CallerIdError::FieldTooShort {
            field,
            chars: 0,
            minimum: 1,
        });
    }
    if text.len() > limit {
        return Err(CallerIdError::FieldTooLong {
            field,
            chars: text.len(),
            limit,
        });
    }
    Ok(())
}

/// Digits plus the characters networks put in numbers (`*`, `#` for service codes, `+` for
/// international). Letters are excluded so an SDMF number can never read as 'P' or 'O'.
fn is_number_char(c: char) -> bool {
    c.is_ascii_digit() || matches!(c, '*' | '#' | '+')
}

fn is_printable_ascii(c: char) -> bool {
    (' '..='~').contains(&c)
}

fn write_sdmf_body(caller_id: &CallerId, frame: &mut Vec<u8>) -> Result<(), CallerIdError> {
    // validate_sdmf guarantees both of these; the errors keep this function honest on its own.
    let time = caller_id.datetime.ok_or(CallerIdError::BadDateTime)?;
    frame.extend_from_slice(&date_time_digits(time));
    match (&caller_id.number, caller_id.number_absence) {
        (Some(number), _) => frame.extend_from_slice(number.as_bytes()),
        (None, Some(absence)) => frame.push(absence.code()),
        (None, None) => return Err(CallerIdError::NothingToSend),
    }
    Ok(())
}

/// Parameters in the order GR-30-CORE lists them: date/time, number (or why not), name (or why not).
fn write_mdmf_body(caller_id: &CallerId, frame: &mut Vec<u8>) {
    if let Some(time) = caller_id.datetime {
        write_parameter(frame, PARAM_DATE_TIME, &date_time_digits(time));
    }
    if let Some(number) = &caller_id.number {
        write_parameter(frame, PARAM_NUMBER, number.as_bytes());
    }
    if let Some(absence) = caller_id.number_absence {
        write_parameter(frame, PARAM_NUMBER_ABSENCE, &[absence.code()]);
    }
    if let Some(name) = &caller_id.name {
        write_parameter(frame, PARAM_NAME, name.as_bytes());
    }
    if let Some(absence) = caller_id.name_absence {
        write_parameter(frame, PARAM_NAME_ABSENCE, &[absence.code()]);
    }
}

fn write_parameter(frame: &mut Vec<u8>, parameter: u8, data: &[u8]) {
    // Field limits keep every parameter under 256 bytes.
    debug_assert!(data.len() <= usize::from(u8::MAX));
    frame.push(parameter);
    frame.push(data.len() as u8);
    frame.extend_from_slice(data);
}

fn date_time_digits(time: CallTime) -> [u8; DATE_TIME_BYTES] {
    let mut digits = [0u8; DATE_TIME_BYTES];
    for (pair, value) in digits
        .chunks_exact_mut(2)
        .zip([time.month, time.day, time.hour, time.minute])
    {
        pair[0] = b'0' + value / 10;
        pair[1] = b'0' + value % 10;
    }
    digits
}

fn parse_date_time(bytes: &[u8]) -> Result<CallTime, CallerIdError> {
    if bytes.len() != DATE_TIME_BYTES || !bytes.iter().all(u8::is_ascii_digit) {
        return Err(CallerIdError::BadDateTime);
    }
    let field = |index: usize| (bytes[index] - b'0') * 10 + (bytes[index + 1] - b'0');
    CallTime::new(field(0), field(2), field(4), field(6)).ok_or(CallerIdError::BadDateTime)
}

fn parse_sdmf_body(body: &[u8]) -> Result<CallerId, CallerIdError> {
    // Eight date/time digits and at least one character of number or reason.
    if body.len() <= DATE_TIME_BYTES {
        return Err(CallerIdError::BadParameterLength {
            parameter: SDMF_MESSAGE_TYPE,
            length: body.len(),
        });
    }
    let (time, rest) = body.split_at(DATE_TIME_BYTES);
    let mut caller_id = CallerId {
        datetime: Some(parse_date_time(time)?),
        ..CallerId::default()
    };
    // A lone 'P' or 'O' is a reason (GR-30-CORE); numbers never consist of one letter.
    match rest {
        [code] if Absence::from_code(*code).is_some() => caller_id.number_absence = Absence::from_code(*code),
        _ => caller_id.number = Some(ascii_text("number", rest)?),
    }
    Ok(caller_id)
}

fn parse_mdmf_body(body: &[u8]) -> Result<CallerId, CallerIdError> {
    if body.is_empty() {
        return Err(CallerIdError::BadParameterLength {
            parameter: MDMF_MESSAGE_TYPE,
            length: 0,
        });
    }
    let mut caller_id = CallerId::default();
    let mut rest = body;
    while !rest.is_empty() {
        let (parameter, data, after) = split_parameter(rest)?;
        apply_parameter(&mut caller_id, parameter, data)?;
        rest = after;
    }
    if caller_id.number.is_some() && caller_id.number_absence.is_some() {
        return Err(CallerIdError::Conflict { field: "number" });
    }
    if caller_id.name.is_some() && caller_id.name_absence.is_some() {
        return Err(CallerIdError::Conflict { field: "name" });
    }
    Ok(caller_id)
}

/// Splits the first parameter off `bytes`: (type, data, the bytes after it).
fn split_parameter(bytes: &[u8]) -> Result<(u8, &[u8], &[u8]), CallerIdError> {
    let [parameter, length, rest @ ..] = bytes else {
        // A lone type byte with no length: the parameter overruns the message.
        return Err(CallerIdError::BadParameterLength {
            parameter: bytes[0],
            length: bytes.len(),
        });
    };
    let length = usize::from(*length);
    if length > rest.len() {
        return Err(CallerIdError::BadParameterLength {
            parameter: *parameter,
            length,
        });
    }
    let (data, after) = rest.split_at(length);
    Ok((*parameter, data, after))
}

fn apply_parameter(caller_id: &mut CallerId, parameter: u8, data: &[u8]) -> Result<(), CallerIdError> {
    let duplicate = CallerIdError::DuplicateParameter { parameter };
    match parameter {
        PARAM_DATE_TIME => {
            if data.len() != DATE_TIME_BYTES {
                return Err(CallerIdError::BadParameterLength {
                    parameter,
                    length: data.len(),
                });
            }
            set_once(&mut caller_id.datetime, parse_date_time(data)?, duplicate)
        }
        PARAM_NUMBER => set_once(
            &mut caller_id.number,
            non_empty_text(parameter, "number", data)?,
            duplicate,
        ),
        PARAM_NAME => set_once(
            &mut caller_id.name,
            non_empty_text(parameter, "name", data)?,
            duplicate,
        ),
        PARAM_NUMBER_ABSENCE => set_once(
            &mut caller_id.number_absence,
            absence(parameter, data)?,
            duplicate,
        ),
        PARAM_NAME_ABSENCE => set_once(&mut caller_id.name_absence, absence(parameter, data)?, duplicate),
        // EN 300 659-3: a terminal ignores parameters it does not support.
        _ => Ok(()),
    }
}

fn set_once<T>(slot: &mut Option<T>, value: T, duplicate: CallerIdError) -> Result<(), CallerIdError> {
    if slot.is_some() {
        return Err(duplicate);
    }
    *slot = Some(value);
    Ok(())
}

fn absence(parameter: u8, data: &[u8]) -> Result<Absence, CallerIdError> {
    let [value] = data else {
        return Err(CallerIdError::BadParameterLength {
            parameter,
            length: data.len(),
        });
    };
    Absence::from_code(*value).ok_or(CallerIdError::UnknownAbsence { value: *value })
}

fn non_empty_text(parameter: u8, field: &'static str, data: &[u8]) -> Result<String, CallerIdError> {
    if data.is_empty() {
        return Err(CallerIdError::BadParameterLength { parameter, length: 0 });
    }
    ascii_text(field, data)
}

/// Received text must be printable ASCII: GR-30-CORE sends ASCII, and anything else is more likely
/// a corrupted byte than a character.
fn ascii_text(field: &'static str, data: &[u8]) -> Result<String, CallerIdError> {
    if let Some(&byte) = data.iter().find(|&&byte| !is_printable_ascii(char::from(byte))) {
        return Err(CallerIdError::InvalidCharacter {
            field,
            character: char::from(byte),
        });
    }
    Ok(data.iter().map(|&byte| char::from(byte)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_caller_id() -> CallerId {
        CallerId {
            number: Some("5551234567".into()),
            name: Some("JOHN DOE".into()),
            datetime: CallTime::new(1, 2, 15, 30),
            ..CallerId::default()
        }
    }

    /// Wraps `body` as a frame of `message_type` with a correct length and checksum.
    fn frame(message_type: u8, body: &[u8]) -> Vec<u8> {
        let mut frame = vec![message_type, body.len() as u8];
        frame.extend_from_slice(body);
        frame.push(checksum(&frame));
        frame
    }

    #[test]
    fn mdmf_bytes_follow_gr30_layout() {
        let bytes = encode_message(&full_caller_id(), Format::Mdmf).expect("encode");
        let mut expected = vec![0x80, 0x20, 0x01, 0x08];
        expected.extend_from_slice(b"01021530");
        expected.extend_from_slice(&[0x02, 0x0A]);
        expected.extend_from_slice(b"5551234567");
        expected.extend_from_slice(&[0x07, 0x08]);
        expected.extend_from_slice(b"JOHN DOE");
        // The bytes above sum to 0x682, 0x82 modulo 256, whose two's complement is 0x7E.
        expected.push(0x7E);
        assert_eq!(bytes, expected);
        assert_eq!(parse_message(&bytes), Ok(full_caller_id()));
    }

    #[test]
    fn sdmf_carries_date_and_number_or_reason() {
        let mut caller_id = CallerId {
            name: None,
            ..full_caller_id()
        };
        let bytes = encode_message(&caller_id, Format::Sdmf).expect("encode");
        assert_eq!(&bytes[..2], &[0x04, 18]);
        assert_eq!(&bytes[2..20], b"010215305551234567");
        assert_eq!(parse_message(&bytes), Ok(caller_id.clone()));

        caller_id.number = None;
        caller_id.number_absence = Some(Absence::Private);
        let bytes = encode_message(&caller_id, Format::Sdmf).expect("encode");
        assert_eq!(&bytes[2..11], b"01021530P");
        assert_eq!(parse_message(&bytes), Ok(caller_id));
    }

    #[test]
    fn sdmf_refuses_what_it_cannot_carry() {
        let error = encode_message(&full_caller_id(), Format::Sdmf).unwrap_err();
        assert!(matches!(
            error,
            CallerIdError::NotRepresentable { format: "SDMF", .. }
        ));
        let no_time = CallerId {
            name: None,
            datetime: None,
            ..full_caller_id()
        };
        assert!(matches!(
            encode_message(&no_time, Format::Sdmf),
            Err(CallerIdError::NotRepresentable { .. })
        ));
    }

    #[test]
    fn invalid_fields_are_refused_before_encoding() {
        let cases = [
            (
                CallerId {
                    number_absence: Some(Absence::Private),
                    ..full_caller_id()
                },
                CallerIdError::Conflict { field: "number" },
            ),
            (
                CallerId {
                    number: Some("555-1234".into()),
                    ..full_caller_id()
                },
                CallerIdError::InvalidCharacter {
                    field: "number",
                    character: '-',
                },
            ),
            (
                CallerId {
                    name: Some("Zoë".into()),
                    ..full_caller_id()
                },
                CallerIdError::InvalidCharacter {
                    field: "name",
                    character: 'ë',
                },
            ),
            (
                CallerId {
                    name: Some("N".repeat(51)),
                    ..full_caller_id()
                },
                CallerIdError::FieldTooLong {
                    field: "name",
                    chars: 51,
                    limit: 50,
                },
            ),
            (
                CallerId {
                    datetime: Some(CallTime {
                        month: 13,
                        day: 1,
                        hour: 0,
                        minute: 0,
                    }),
                    ..full_caller_id()
                },
                CallerIdError::BadDateTime,
            ),
            (CallerId::default(), CallerIdError::NothingToSend),
        ];
        for (caller_id, expected) in cases {
            assert_eq!(
                encode_message(&caller_id, Format::Mdmf),
                Err(expected),
                "{caller_id:?}"
            );
        }
    }

    #[test]
    fn every_flipped_bit_is_caught_by_the_checksum_or_the_length() {
        let bytes = encode_message(&full_caller_id(), Format::Mdmf).expect("encode");
        for index in 0..bytes.len() {
            for bit in 0..8 {
                let mut corrupt = bytes.clone();
                corrupt[index] ^= 1 << bit;
                let error = parse_message(&corrupt).unwrap_err();
                // A flipped length bit changes where the frame should end; any other bit breaks the sum.
                let expected_kind = match index {
                    1 => matches!(
                        error,
                        CallerIdError::Truncated { .. } | CallerIdError::BadLength { .. }
                    ),
                    _ => matches!(error, CallerIdError::Checksum { .. }),
                };
                assert!(expected_kind, "byte {index} bit {bit}: {error:?}");
            }
        }
    }

    #[test]
    fn truncated_and_padded_frames_are_rejected() {
        let bytes = encode_message(&full_caller_id(), Format::Mdmf).expect("encode");
        for length in 0..bytes.len() {
            let error = parse_message(&bytes[..length]).unwrap_err();
            assert!(
                matches!(error, CallerIdError::Truncated { .. }),
                "{length}: {error:?}"
            );
        }
        let mut padded = bytes.clone();
        padded.push(0x00);
        assert_eq!(
            parse_message(&padded),
            Err(CallerIdError::BadLength {
                declared: bytes.len(),
                actual: bytes.len() + 1
            })
        );
    }

    #[test]
    fn structural_errors_under_a_valid_checksum_are_named() {
        let cases: [(Vec<u8>, CallerIdError); 9] = [
            (
                frame(0x82, &[0x0B, 0x01, 0xFF]),
                CallerIdError::UnknownMessageType { message_type: 0x82 },
            ),
            (
                frame(0x80, &[0x02, 0x05, b'1', b'2']),
                CallerIdError::BadParameterLength {
                    parameter: 0x02,
                    length: 5,
                },
            ),
            (
                frame(0x80, &[0x01, 0x04, b'0', b'1', b'0', b'2']),
                CallerIdError::BadParameterLength {
                    parameter: 0x01,
                    length: 4,
                },
            ),
            (
                frame(0x80, &[0x04, 0x01, b'X']),
                CallerIdError::UnknownAbsence { value: b'X' },
            ),
            (
                frame(0x80, &[0x02, 0x01, b'1', 0x02, 0x01, b'2']),
                CallerIdError::DuplicateParameter { parameter: 0x02 },
            ),
            (
                frame(0x80, &[0x02, 0x01, b'1', 0x04, 0x01, b'P']),
                CallerIdError::Conflict { field: "number" },
            ),
            (frame(0x04, b"13011200555"), CallerIdError::BadDateTime),
            (
                frame(0x04, b"0101"),
                CallerIdError::BadParameterLength {
                    parameter: 0x04,
                    length: 4,
                },
            ),
            (
                frame(0x80, &[0x07, 0x02, b'A', 0x00]),
                CallerIdError::InvalidCharacter {
                    field: "name",
                    character: '\0',
                },
            ),
        ];
        for (bytes, expected) in cases {
            assert_eq!(parse_message(&bytes), Err(expected), "{bytes:02x?}");
        }
    }

    #[test]
    fn unknown_parameters_are_skipped() {
        // 0x11 is EN 300 659-3's call type; telvox does not use it but must read past it.
        let bytes = frame(0x80, &[0x11, 0x01, 0x01, 0x02, 0x03, b'1', b'2', b'3']);
        let expected = CallerId {
            number: Some("123".into()),
            ..CallerId::default()
        };
        assert_eq!(parse_message(&bytes), Ok(expected));
    }
}
