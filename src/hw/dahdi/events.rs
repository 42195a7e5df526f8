//! DAHDI's events and signalling types in telvox's terms: pure functions, unit-tested against the
//! sequences the real driver produces (../shared/dahdi-vm/NOTES.md).

use super::sys;
use crate::hw::{Alarms, ChanEvent, Signalling};

/// What one DAHDI_GETEVENT code means on a channel with a given signalling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mapped {
    /// Report this event.
    Event(ChanEvent),
    /// CAS bits changed: read them (DAHDI_GETRXBITS), mask to the nibble, report `Bits`.
    ReadBits,
    /// The channel's span went into alarm: read which (DAHDI_GET_PARAMS chan_alarms), report `Alarm`.
    ReadAlarms,
    /// The channel is gone (hardware removed): the thread should exit.
    Removed,
    /// The transmitter ran dry and DAHDI sent idle bytes (DAHDI_BUFFER_EVENTS): count it.
    Underrun,
    /// A received block was lost because telvox read too late: count it.
    Overrun,
    /// Nothing telvox acts on (pulse-digit progress, fax tone detection, overruns …).
    Ignore,
}

/// Maps a DAHDI event code BY SIGNALLING. DAHDI reports both "ring burst ended" on an FXS-signalled
/// trunk and "the far end went off-hook" on FXO-signalled and E&M channels as RINGOFFHOOK.
pub fn map_event(signalling: Signalling, code: i32) -> Mapped {
    let event = match code {
        sys::EVENT_RINGOFFHOOK => match signalling {
            Signalling::Fxsks | Signalling::Fxsls => ChanEvent::RingEnd,
            _ => ChanEvent::OffHook,
        },
        sys::EVENT_RINGBEGIN => ChanEvent::RingBegin,
        sys::EVENT_WINKFLASH => ChanEvent::Flash,
        sys::EVENT_ONHOOK => ChanEvent::OnHook,
        sys::EVENT_POLARITY => ChanEvent::Polarity,
        sys::EVENT_HOOKCOMPLETE => ChanEvent::HookComplete,
        sys::EVENT_DIALCOMPLETE => ChanEvent::DialComplete,
        sys::EVENT_RINGERON => ChanEvent::RingerOn,
        sys::EVENT_RINGEROFF => ChanEvent::RingerOff,
        sys::EVENT_NOALARM => ChanEvent::Alarm(Alarms::NONE),
        sys::EVENT_BITSCHANGED => return Mapped::ReadBits,
        sys::EVENT_ALARM => return Mapped::ReadAlarms,
        sys::EVENT_REMOVED => return Mapped::Removed,
        sys::EVENT_WRITE_UNDERRUN => return Mapped::Underrun,
        sys::EVENT_READ_OVERRUN => return Mapped::Overrun,
        _ => return Mapped::Ignore,
    };
    Mapped::Event(event)
}

/// The received ABCD bits as telvox reports them: the channel's own nibble only (the dynamic-span
/// driver leaks the neighbour channel's bits into bits 4–7).
pub const fn rx_bits(raw: i32) -> u8 {
    (raw & 0xf) as u8
}

/// DAHDI's alarm bits (span or channel) as telvox's [`Alarms`]; an ALARM event whose bits say
/// nothing telvox names counts as red (the span is down).
pub fn alarms_from_dahdi(bits: i32) -> Alarms {
    let pairs = [
        (sys::ALARM_RED, Alarms::RED),
        (sys::ALARM_YELLOW, Alarms::YELLOW),
        (sys::ALARM_BLUE, Alarms::BLUE),
        (sys::ALARM_LOOPBACK, Alarms::LOOPBACK),
        (sys::ALARM_NOTOPEN, Alarms::NOT_OPEN),
    ];
    pairs
        .iter()
        .filter(|(bit, _)| bits & bit != 0)
        .fold(Alarms::NONE, |all, (_, alarm)| all.union(*alarm))
}

/// The DAHDI sigtypes a map's signalling may sit on.
pub fn sigtype_fits(signalling: Signalling, sigtype: i32) -> bool {
    match signalling {
        Signalling::Fxsks => sigtype == sys::SIG_FXSKS,
        Signalling::Fxsls => sigtype == sys::SIG_FXSLS,
        Signalling::Fxoks => sigtype == sys::SIG_FXOKS,
        Signalling::Fxols => sigtype == sys::SIG_FXOLS,
        Signalling::EmImmediate | Signalling::EmWink => sigtype == sys::SIG_EM,
        // A clear channel: DAHDI's clear/bchan (CAS-only channels carry audio too).
        Signalling::Clear | Signalling::Network => sigtype == sys::SIG_CLEAR || sigtype == sys::SIG_CAS,
    }
}

/// The signalling telvox proposes for a DAHDI sigtype (`telvox hw scan`); None for channels telvox
/// does not drive (unconfigured, HDLC D-channels, groundstart, E1 E&M).
pub fn signalling_for(sigtype: i32) -> Option<Signalling> {
    Some(match sigtype {
        sys::SIG_FXSKS => Signalling::Fxsks,
        sys::SIG_FXSLS => Signalling::Fxsls,
        sys::SIG_FXOKS => Signalling::Fxoks,
        sys::SIG_FXOLS => Signalling::Fxols,
        sys::SIG_EM => Signalling::EmImmediate,
        sys::SIG_CLEAR | sys::SIG_CAS => Signalling::Clear,
        _ => return None,
    })
}

/// DAHDI's name for a sigtype, as system.conf / /proc/dahdi spell it, for error messages.
pub fn sigtype_name(sigtype: i32) -> &'static str {
    match sigtype {
        sys::SIG_NONE => "unconfigured",
        sys::SIG_FXSKS => "fxsks",
        sys::SIG_FXSLS => "fxsls",
        sys::SIG_FXSGS => "fxsgs",
        sys::SIG_FXOKS => "fxoks",
        sys::SIG_FXOLS => "fxols",
        sys::SIG_FXOGS => "fxogs",
        sys::SIG_EM => "e&m",
        sys::SIG_EM_E1 => "e&me1",
        sys::SIG_CLEAR => "clear",
        sys::SIG_CAS => "cas",
        sys::SIG_HDLCFCS => "hdlcfcs (dchan)",
        _ => "another signalling",
    }
}

/// The sigtype for DAHDI's /proc/dahdi name of it (`FXSKS`, `E&M`, `Clear`, …), any case.
pub fn sigtype_from_proc(name: &str) -> Option<i32> {
    Some(match name.to_ascii_uppercase().as_str() {
        "FXSKS" => sys::SIG_FXSKS,
        "FXSLS" => sys::SIG_FXSLS,
        "FXSGS" => sys::SIG_FXSGS,
        "FXOKS" => sys::SIG_FXOKS,
        "FXOLS" => sys::SIG_FXOLS,
        "FXOGS" => sys::SIG_FXOGS,
        "E&M" => sys::SIG_EM,
        "E&M-E1" => sys::SIG_EM_E1,
        "CLEAR" => sys::SIG_CLEAR,
        "CAS" => sys::SIG_CAS,
        "HDLCFCS" => sys::SIG_HDLCFCS,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(signalling: Signalling, codes: &[i32]) -> Vec<Mapped> {
        codes.iter().map(|&c| map_event(signalling, c)).collect()
    }

    #[test]
    fn trunk_ring_answer_clear_sequence() {
        // The exchange rings a kewlstart trunk, telvox answers, the exchange clears (NOTES.md).
        let seen = ev(
            Signalling::Fxsks,
            &[sys::EVENT_RINGBEGIN, sys::EVENT_RINGOFFHOOK, sys::EVENT_ONHOOK],
        );
        let want = [ChanEvent::RingBegin, ChanEvent::RingEnd, ChanEvent::OnHook].map(Mapped::Event);
        assert_eq!(seen, want);
        assert_eq!(
            map_event(Signalling::Fxsls, sys::EVENT_RINGOFFHOOK),
            Mapped::Event(ChanEvent::RingEnd)
        );
    }

    #[test]
    fn ringoffhook_is_off_hook_on_extensions_and_em() {
        for signalling in [
            Signalling::Fxoks,
            Signalling::Fxols,
            Signalling::EmImmediate,
            Signalling::EmWink,
        ] {
            assert_eq!(
                map_event(signalling, sys::EVENT_RINGOFFHOOK),
                Mapped::Event(ChanEvent::OffHook),
                "{signalling:?}"
            );
        }
    }

    #[test]
    fn extension_ringer_flash_and_hangup() {
        let seen = ev(
            Signalling::Fxoks,
            &[
                sys::EVENT_RINGEROFF,
                sys::EVENT_RINGERON,
                sys::EVENT_RINGOFFHOOK,
                sys::EVENT_WINKFLASH,
                sys::EVENT_ONHOOK,
                sys::EVENT_HOOKCOMPLETE,
            ],
        );
        let want = [
            ChanEvent::RingerOff,
            ChanEvent::RingerOn,
            ChanEvent::OffHook,
            ChanEvent::Flash,
            ChanEvent::OnHook,
            ChanEvent::HookComplete,
        ]
        .map(Mapped::Event);
        assert_eq!(seen, want);
    }

    #[test]
    fn dial_polarity_bits_alarms_and_the_rest() {
        let s = Signalling::EmWink;
        assert_eq!(
            map_event(s, sys::EVENT_DIALCOMPLETE),
            Mapped::Event(ChanEvent::DialComplete)
        );
        assert_eq!(
            map_event(s, sys::EVENT_POLARITY),
            Mapped::Event(ChanEvent::Polarity)
        );
        assert_eq!(map_event(s, sys::EVENT_BITSCHANGED), Mapped::ReadBits);
        assert_eq!(map_event(s, sys::EVENT_ALARM), Mapped::ReadAlarms);
        assert_eq!(
            map_event(s, sys::EVENT_NOALARM),
            Mapped::Event(ChanEvent::Alarm(Alarms::NONE))
        );
        assert_eq!(map_event(s, sys::EVENT_REMOVED), Mapped::Removed);
        // Pulse-digit progress, fax tone detection, DTMF down/up: not telvox's business here.
        assert_eq!(map_event(s, sys::EVENT_WRITE_UNDERRUN), Mapped::Underrun);
        assert_eq!(map_event(s, sys::EVENT_READ_OVERRUN), Mapped::Overrun);
        for code in [0, 14, 23, 1 << 16 | b'5' as i32, 1 << 17 | b'1' as i32] {
            assert_eq!(map_event(s, code), Mapped::Ignore, "{code:#x}");
        }
    }

    #[test]
    fn rx_bits_keep_only_the_channels_nibble() {
        // The loc driver's leak: neighbour's 0101 in the high nibble, ours 1111.
        assert_eq!(rx_bits(0x5f), 0xf);
        assert_eq!(rx_bits(0xf0), 0x0);
        assert_eq!(rx_bits(0x05), 0x5);
    }

    #[test]
    fn alarm_bits_convert() {
        assert_eq!(alarms_from_dahdi(0), Alarms::NONE);
        assert_eq!(alarms_from_dahdi(sys::ALARM_RED), Alarms::RED);
        assert_eq!(
            alarms_from_dahdi(sys::ALARM_YELLOW | sys::ALARM_BLUE | 1),
            Alarms::YELLOW.union(Alarms::BLUE)
        );
        assert_eq!(alarms_from_dahdi(sys::ALARM_LOOPBACK), Alarms::LOOPBACK);
        assert_eq!(alarms_from_dahdi(sys::ALARM_NOTOPEN), Alarms::NOT_OPEN);
    }

    #[test]
    fn sigtypes_fit_their_signalling_only() {
        assert!(sigtype_fits(Signalling::Fxsks, sys::SIG_FXSKS));
        assert!(!sigtype_fits(Signalling::Fxsks, sys::SIG_FXOKS));
        assert!(sigtype_fits(Signalling::EmWink, sys::SIG_EM));
        assert!(sigtype_fits(Signalling::Clear, sys::SIG_CLEAR));
        assert!(!sigtype_fits(Signalling::Clear, sys::SIG_HDLCFCS));
        assert_eq!(signalling_for(sys::SIG_FXOLS), Some(Signalling::Fxols));
        assert_eq!(signalling_for(sys::SIG_HDLCFCS), None);
        assert_eq!(sigtype_from_proc("FXSKS"), Some(sys::SIG_FXSKS));
        assert_eq!(sigtype_from_proc("Clear"), Some(sys::SIG_CLEAR));
        assert_eq!(sigtype_name(sys::SIG_FXOKS), "fxoks");
    }
}
