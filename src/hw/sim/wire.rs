//! The private message format on each channel's line (see `line.rs`) between the sim card thread and the
//! channel thread. Fixed-size buffers, no allocation: the channel side runs on the real-time path.

use crate::fixed::FixedStr;
use crate::hw::{Alarms, Block, CallInfo, CallRef, Cause, ChanEvent, Control, BLOCK_SAMPLES};

pub const W_AUDIO: u8 = 1;
pub const W_EVENT: u8 = 2;
pub const W_CONTROL: u8 = 3;
/// Largest wire message: an Offered event with three full strings.
pub const WIRE_MAX: usize = 256;

/// One decoded wire message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wire {
    Audio,
    Event(ChanEvent),
    Control(Control),
}

/// Encodes an audio block; returns the message length.
pub fn put_audio(buf: &mut [u8; WIRE_MAX], block: &Block) -> usize {
    buf[0] = W_AUDIO;
    buf[1..=BLOCK_SAMPLES].copy_from_slice(block);
    1 + BLOCK_SAMPLES
}

pub fn put_event(buf: &mut [u8; WIRE_MAX], event: &ChanEvent) -> usize {
    let mut w = Writer { buf, len: 1 };
    w.buf[0] = W_EVENT;
    match event {
        ChanEvent::Offered(info) => {
            w.byte(1);
            w.text(info.from.as_str());
            w.text(info.to.as_str());
            w.text(info.name.as_str());
        }
        ChanEvent::RingBegin => w.byte(2),
        ChanEvent::RingEnd => w.byte(3),
        ChanEvent::Answered => w.byte(4),
        ChanEvent::Hangup(cause) => {
            w.byte(5);
            w.byte(cause.q850());
        }
        ChanEvent::Flash => w.byte(6),
        ChanEvent::Alarm(alarms) => {
            w.byte(7);
            w.byte(alarms.0);
        }
        ChanEvent::OffHook => w.byte(8),
        ChanEvent::OnHook => w.byte(9),
        ChanEvent::Polarity => w.byte(10),
        ChanEvent::HookComplete => w.byte(11),
        ChanEvent::DialComplete => w.byte(12),
        ChanEvent::RingerOn => w.byte(13),
        ChanEvent::RingerOff => w.byte(14),
        ChanEvent::Bits(bits) => {
            w.byte(15);
            w.byte(*bits);
        }
    }
    w.len
}

pub fn put_control(buf: &mut [u8; WIRE_MAX], control: &Control) -> usize {
    let mut w = Writer { buf, len: 1 };
    w.buf[0] = W_CONTROL;
    match control {
        Control::Answer { call } => {
            w.byte(1);
            w.call(call);
        }
        Control::Hangup { cause } => {
            w.byte(2);
            w.byte(cause.q850());
        }
        Control::Dial { number, from, call } => {
            w.byte(3);
            w.call(call);
            w.text(number.as_str());
            w.text(from.as_str());
        }
        Control::Flash => w.byte(4),
        Control::OffHook => w.byte(5),
        Control::OnHook => w.byte(6),
        Control::Ring => w.byte(7),
        Control::RingOff => w.byte(8),
        Control::Start => w.byte(9),
        Control::Wink => w.byte(10),
        Control::DialDigits { digits, pulse } => {
            w.byte(11);
            w.byte(u8::from(*pulse));
            w.text(digits.as_str());
        }
        Control::SetBits(bits) => {
            w.byte(12);
            w.byte(*bits);
        }
        Control::OnHookTransfer { ms } => {
            w.byte(13);
            w.byte((*ms >> 8) as u8);
            w.byte(*ms as u8);
        }
    }
    w.len
}

/// Decodes a message; `block` receives the audio of an audio message. None = not a valid message
/// (the two ends are the same program, so that is a bug; the reader drops it).
pub fn decode(msg: &[u8], block: &mut Block) -> Option<Wire> {
    let (&kind, rest) = msg.split_first()?;
    let mut r = Reader { buf: rest, pos: 0 };
    match kind {
        W_AUDIO if rest.len() == BLOCK_SAMPLES => {
            block.copy_from_slice(rest);
            Some(Wire::Audio)
        }
        W_EVENT => decode_event(&mut r).map(Wire::Event),
        W_CONTROL => decode_control(&mut r).map(Wire::Control),
        _ => None,
    }
}

fn decode_event(r: &mut Reader) -> Option<ChanEvent> {
    Some(match r.byte()? {
        1 => ChanEvent::Offered(CallInfo {
            from: r.text()?,
            to: r.text()?,
            name: r.text()?,
        }),
        2 => ChanEvent::RingBegin,
        3 => ChanEvent::RingEnd,
        4 => ChanEvent::Answered,
        5 => ChanEvent::Hangup(Cause::from_q850(r.byte()?)),
        6 => ChanEvent::Flash,
        7 => ChanEvent::Alarm(Alarms(r.byte()?)),
        8 => ChanEvent::OffHook,
        9 => ChanEvent::OnHook,
        10 => ChanEvent::Polarity,
        11 => ChanEvent::HookComplete,
        12 => ChanEvent::DialComplete,
        13 => ChanEvent::RingerOn,
        14 => ChanEvent::RingerOff,
        15 => ChanEvent::Bits(r.byte()? & 0x0f),
        _ => return None,
    })
}

fn decode_control(r: &mut Reader) -> Option<Control> {
    Some(match r.byte()? {
        1 => Control::Answer { call: r.call()? },
        2 => Control::Hangup {
            cause: Cause::from_q850(r.byte()?),
        },
        3 => {
            let call = r.call()?;
            Control::Dial {
                call,
                number: r.text()?,
                from: r.text()?,
            }
        }
        4 => Control::Flash,
        5 => Control::OffHook,
        6 => Control::OnHook,
        7 => Control::Ring,
        8 => Control::RingOff,
        9 => Control::Start,
        10 => Control::Wink,
        11 => {
            let pulse = r.byte()? != 0;
            Control::DialDigits {
                pulse,
                digits: r.text()?,
            }
        }
        12 => Control::SetBits(r.byte()? & 0x0f),
        13 => Control::OnHookTransfer {
            ms: (u16::from(r.byte()?) << 8) | u16::from(r.byte()?),
        },
        _ => return None,
    })
}

struct Writer<'a> {
    buf: &'a mut [u8; WIRE_MAX],
    len: usize,
}

impl Writer<'_> {
    fn byte(&mut self, b: u8) {
        self.buf[self.len] = b;
        self.len += 1;
    }

    fn text(&mut self, s: &str) {
        // FixedStr caps these at 48 bytes, so three of them always fit in WIRE_MAX.
        let bytes = s.as_bytes();
        self.byte(bytes.len() as u8);
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    fn call(&mut self, call: &CallRef) {
        self.buf[self.len..self.len + 8].copy_from_slice(&call.epoch_s.to_le_bytes());
        self.buf[self.len + 8..self.len + 16].copy_from_slice(&call.seq.to_le_bytes());
        self.len += 16;
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn text<const N: usize>(&mut self) -> Option<FixedStr<N>> {
        let len = self.byte()? as usize;
        let bytes = self.buf.get(self.pos..self.pos + len)?;
        self.pos += len;
        Some(FixedStr::from_str_truncating(std::str::from_utf8(bytes).ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        let bytes = self.buf.get(self.pos..self.pos + 8)?;
        self.pos += 8;
        Some(u64::from_le_bytes(bytes.try_into().ok()?))
    }

    fn call(&mut self) -> Option<CallRef> {
        Some(CallRef {
            epoch_s: self.u64()?,
            seq: self.u64()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixed::Number;

    #[test]
    fn every_event_and_control_round_trips() {
        let info = CallInfo {
            from: Number::from_str_truncating("13800138000"),
            to: Number::from_str_truncating("8999"),
            name: FixedStr::from_str_truncating("张三 Zhang"),
        };
        let events = [
            ChanEvent::Offered(info),
            ChanEvent::RingBegin,
            ChanEvent::RingEnd,
            ChanEvent::Answered,
            ChanEvent::Hangup(Cause::UserBusy),
            ChanEvent::Flash,
            ChanEvent::Alarm(Alarms::RED.union(Alarms::YELLOW)),
            ChanEvent::Alarm(Alarms::NONE),
            ChanEvent::OffHook,
            ChanEvent::OnHook,
            ChanEvent::Polarity,
            ChanEvent::HookComplete,
            ChanEvent::DialComplete,
            ChanEvent::RingerOn,
            ChanEvent::RingerOff,
            ChanEvent::Bits(0b1101),
        ];
        let mut buf = [0u8; WIRE_MAX];
        let mut block = [0u8; BLOCK_SAMPLES];
        for ev in events {
            let n = put_event(&mut buf, &ev);
            assert_eq!(decode(&buf[..n], &mut block), Some(Wire::Event(ev)));
        }
        let call = CallRef {
            epoch_s: 1_795_000_000,
            seq: 42,
        };
        let controls = [
            Control::Answer { call },
            Control::Hangup {
                cause: Cause::CallRejected,
            },
            Control::Dial {
                number: Number::from_str_truncating("601"),
                from: Number::new(),
                call,
            },
            Control::Flash,
            Control::OffHook,
            Control::OnHook,
            Control::Ring,
            Control::RingOff,
            Control::Start,
            Control::Wink,
            Control::DialDigits {
                digits: Number::from_str_truncating("T8000#"),
                pulse: false,
            },
            Control::SetBits(0b1111),
            Control::OnHookTransfer { ms: 1500 },
        ];
        for c in controls {
            let n = put_control(&mut buf, &c);
            assert_eq!(decode(&buf[..n], &mut block), Some(Wire::Control(c)));
        }
        let audio = [0x55u8; BLOCK_SAMPLES];
        let n = put_audio(&mut buf, &audio);
        assert_eq!(decode(&buf[..n], &mut block), Some(Wire::Audio));
        assert_eq!(block, audio);
        assert_eq!(decode(&buf[..n - 1], &mut block), None, "short audio is refused");
    }
}
