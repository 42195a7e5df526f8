//! The sim far-end protocol (DESIGN.md §4, docs/sim-protocol.md): what a party and the daemon say to
//! each other over the `SOCK_SEQPACKET` socket. One message = one type byte + payload.

use serde::{Deserialize, Serialize};

/// Type byte of an AUDIO message: 1..=1600 bytes of G.711 in the span's law follow.
pub const MSG_AUDIO: u8 = 0x01;
/// Type byte of a CONTROL message: one UTF-8 JSON object with an `op` field follows.
pub const MSG_CONTROL: u8 = 0x02;
/// Largest audio payload in one message (200 ms).
pub const MAX_AUDIO_BYTES: usize = 1600;
/// Largest control payload accepted; longer messages are refused.
pub const MAX_CONTROL_BYTES: usize = 4096;
/// Largest message either side sends, with its type byte.
pub const MAX_MESSAGE_BYTES: usize = 1 + MAX_CONTROL_BYTES;

/// What a party may say (party → daemon).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
pub enum PartyOp {
    /// Place a call into the card.
    Dial {
        to: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        span: Option<u16>,
    },
    /// Be the party reached when telvox dials `number`.
    Register { number: String },
    /// Answer the incoming call telvox placed to this party.
    Answer,
    /// Refuse the incoming call, with a cause (default CALL_REJECTED).
    Reject {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cause: Option<String>,
    },
    /// Clear the call (closing the socket does the same).
    Hangup,
    /// A hook flash.
    Flash,
    /// Put span `span` into alarm (`["red"]`, `["yellow","blue"]` …) or clear it (`[]`): a line
    /// fault on the simulated span (see docs/sim-protocol.md).
    Alarm { span: u16, alarms: Vec<String> },
}

/// What the daemon says (daemon → party).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum DaemonOp {
    /// The dialled channel is ringing.
    Ringing,
    /// telvox answered the call.
    Answered { call: String, channel: String },
    /// telvox is calling this registered party.
    Incoming { call: String, from: String, to: String },
    /// The call is over (Q.850 cause name, as Asterisk names it).
    Hangup { cause: String },
    /// The party's last message was refused.
    Error { message: String },
}

const PARTY_OPS: &str = "dial, register, answer, reject, hangup, flash, alarm";

/// One message from a party, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PartyMessage<'a> {
    Audio(&'a [u8]),
    Control(PartyOp),
}

/// Parses one party message, or says in words why it is refused (sent back as an `error`).
pub fn parse_party_message(msg: &[u8]) -> Result<PartyMessage<'_>, String> {
    let (&kind, payload) = msg.split_first().ok_or("empty message: expected a type byte")?;
    match kind {
        MSG_AUDIO => parse_audio(payload).map(PartyMessage::Audio),
        MSG_CONTROL => parse_control(payload).map(PartyMessage::Control),
        other => Err(format!(
            "unknown message type 0x{other:02x}: expected 0x01 (AUDIO) or 0x02 (CONTROL)"
        )),
    }
}

fn parse_audio(payload: &[u8]) -> Result<&[u8], String> {
    if payload.is_empty() || payload.len() > MAX_AUDIO_BYTES {
        return Err(format!(
            "AUDIO carries {} bytes: expected 1..={MAX_AUDIO_BYTES}",
            payload.len()
        ));
    }
    Ok(payload)
}

fn parse_control(payload: &[u8]) -> Result<PartyOp, String> {
    if payload.len() > MAX_CONTROL_BYTES {
        return Err(format!(
            "CONTROL carries {} bytes: the limit is {MAX_CONTROL_BYTES}",
            payload.len()
        ));
    }
    let text = std::str::from_utf8(payload).map_err(|e| format!("CONTROL is not UTF-8: {e}"))?;
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("CONTROL is not valid JSON: {e}"))?;
    let op = match value.get("op") {
        Some(serde_json::Value::String(op)) => op.clone(),
        Some(_) => return Err("CONTROL field \"op\" must be a string".into()),
        None if value.is_object() => return Err("CONTROL has no \"op\" field".into()),
        None => return Err("CONTROL must be a JSON object".into()),
    };
    if !PARTY_OPS.split(", ").any(|known| known == op) {
        return Err(format!("unknown op \"{op}\": expected one of {PARTY_OPS}"));
    }
    serde_json::from_value(value).map_err(|e| format!("bad \"{op}\" message: {e}"))
}

/// Frames a control message for the wire.
pub fn encode_control<T: Serialize>(op: &T) -> Vec<u8> {
    let mut out = vec![MSG_CONTROL];
    // Serializing these plain enums cannot fail.
    out.extend(serde_json::to_vec(op).unwrap_or_default());
    out
}

/// Frames an audio message for the wire into `out` (no allocation); returns the framed length.
pub fn encode_audio_into(audio: &[u8], out: &mut [u8]) -> usize {
    debug_assert!(!audio.is_empty() && audio.len() <= MAX_AUDIO_BYTES);
    out[0] = MSG_AUDIO;
    out[1..=audio.len()].copy_from_slice(audio);
    audio.len() + 1
}

/// Parses a daemon message (for parties: the CLI, tests, the benchmark).
pub fn parse_daemon_message(msg: &[u8]) -> Result<DaemonMessage<'_>, String> {
    let (&kind, payload) = msg.split_first().ok_or("empty message")?;
    match kind {
        MSG_AUDIO => Ok(DaemonMessage::Audio(payload)),
        MSG_CONTROL => serde_json::from_slice(payload)
            .map(DaemonMessage::Control)
            .map_err(|e| format!("bad control from daemon: {e}")),
        other => Err(format!("unknown message type 0x{other:02x} from daemon")),
    }
}

/// One message from the daemon, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DaemonMessage<'a> {
    Audio(&'a [u8]),
    Control(DaemonOp),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control(json: &str) -> Vec<u8> {
        let mut v = vec![MSG_CONTROL];
        v.extend_from_slice(json.as_bytes());
        v
    }

    #[test]
    fn parses_every_documented_op() {
        let msg = control(r#"{"op":"dial","to":"8000","from":"13800138000"}"#);
        let dial = parse_party_message(&msg);
        assert_eq!(
            dial,
            Ok(PartyMessage::Control(PartyOp::Dial {
                to: "8000".into(),
                from: Some("13800138000".into()),
                name: None,
                span: None
            }))
        );
        for json in [
            r#"{"op":"register","number":"601"}"#,
            r#"{"op":"answer"}"#,
            r#"{"op":"reject","cause":"busy"}"#,
            r#"{"op":"reject"}"#,
            r#"{"op":"hangup"}"#,
            r#"{"op":"flash"}"#,
            r#"{"op":"alarm","span":1,"alarms":["red"]}"#,
            r#"{"op":"alarm","span":1,"alarms":[]}"#,
        ] {
            assert!(
                matches!(parse_party_message(&control(json)), Ok(PartyMessage::Control(_))),
                "{json}"
            );
        }
    }

    #[test]
    fn refuses_malformed_messages_with_a_reason() {
        let cases: [(&[u8], &str); 9] = [
            (b"", "empty"),
            (b"\x07abc", "unknown message type"),
            (b"\x01", "AUDIO carries 0 bytes"),
            (b"\x02{not json", "not valid JSON"),
            (b"\x02[1,2]", "must be a JSON object"),
            (b"\x02{\"to\":\"1\"}", "no \"op\""),
            (b"\x02{\"op\":\"explode\"}", "unknown op \"explode\""),
            (b"\x02{\"op\":\"dial\"}", "bad \"dial\" message"),
            (b"\x02\xff\xfe", "not UTF-8"),
        ];
        for (msg, want) in cases {
            let err = parse_party_message(msg).expect_err(want);
            assert!(err.contains(want), "{err:?} should mention {want:?}");
        }
        let mut long_control = vec![MSG_CONTROL];
        long_control.resize(MAX_CONTROL_BYTES + 2, b' ');
        assert!(parse_party_message(&long_control)
            .unwrap_err()
            .contains("the limit is 4096"));
        let long = vec![MSG_AUDIO; MAX_AUDIO_BYTES + 2];
        assert!(parse_party_message(&long).unwrap_err().contains("1601 bytes"));
    }

    #[test]
    fn daemon_ops_use_the_documented_json() {
        let msg = encode_control(&DaemonOp::Answered {
            call: "1.2".into(),
            channel: "1/5".into(),
        });
        assert_eq!(&msg[1..], br#"{"op":"answered","call":"1.2","channel":"1/5"}"#);
        let msg = encode_control(&DaemonOp::Hangup {
            cause: "NORMAL_CLEARING".into(),
        });
        assert_eq!(&msg[1..], br#"{"op":"hangup","cause":"NORMAL_CLEARING"}"#);
    }
}
