//! The sim's analog trunks and E&M lines (docs/sim-protocol.md, *Analog trunks*): a span whose
//! map says `signalling = "fxsks"`, `"fxsls"`, `"em"` or `"em_wink"` behaves like that line from
//! an exchange, at line level, as DAHDI reports it:
//!
//! - A party dialling into an FXO-trunk span makes the card ring the channel with the map's cadence
//!   (`RingBegin` / `RingEnd`, no `Offered`), deliver audio while ringing, and play the caller's
//!   number as caller ID audio: FSK (Bell 202 or V.23, MDMF with the name when the party gave one)
//!   in the silence after the first ring, DTMF (`A<number>C`) before the first ring, or a
//!   polarity reversal and FSK before the first ring. A withheld number (no `from`) goes as the
//!   "private" absence code. The channel's `OffHook` answers; its `OnHook` is the party's hangup.
//! - The party hanging up: `OnHook` (kewlstart battery drop, `fxsks`), nothing but silence
//!   (`fxsls`: loopstart has no disconnect supervision), busy tone (`far_end_hangup = "tone"`), or
//!   a `Polarity` reversal (`far_end_hangup = "polarity"`). A caller who gives up while the channel
//!   rings just stops the rings; the line stays in a call (silence) for the ring timeout.
//! - Outbound: the channel's `OffHook` seizes (dial tone), `DialDigits` dials (`DialComplete` after
//!   100 ms on / 100 ms off per digit), and the number is routed to the registered party. Its
//!   answer is not signalled (plain analog), except by a `Polarity` reversal on
//!   `far_end_hangup = "polarity"` spans.
//! - E&M: the party's dial seizes the channel (`OffHook`); on wink start the card waits for the
//!   channel's `Wink` (acknowledged with `HookComplete`); then the dialled number and `#` go as DTMF
//!   (DNIS). The channel's `OffHook` answers, the party's hangup is `OnHook`. Outbound: `Start`
//!   seizes, wink start answers with a wink (`Flash`), `DialDigits` as above, the party's answer is
//!   `OffHook`.
//!
//! The card thread owns everything here; caller ID audio is rendered once per call, at the offer.

use super::{CardThread, Phase};
use crate::dsp::callerid::{
    encode_dtmf_clip, encode_fsk, Absence, CallerId, DtmfClipVariant, Format, FskStandard,
};
use crate::dsp::dtmf_gen::{keys_to_blocks, DtmfConfig};
use crate::dsp::g711;
use crate::dsp::tones::ToneKind;
use crate::fixed::Number;
use crate::hw::sim::protocol::DaemonOp;
use crate::hw::sim::tones::LineTone;
use crate::hw::sim::FarEndHangup;
use crate::hw::{Block, CallInfo, CallRef, Cause, ChanEvent, Control, Law, BLOCKS_PER_SECOND, BLOCK_SAMPLES};

/// What kind of analog line a span is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnalogKind {
    /// FXO trunk, kewlstart (DAHDI `fxsks`): the exchange drops battery when the far end clears.
    Kewlstart,
    /// FXO trunk, loopstart (DAHDI `fxsls`): no disconnect supervision.
    Loopstart,
    /// E&M, immediate start.
    EmImmediate,
    /// E&M, wink start.
    EmWink,
}

/// How the exchange sends caller ID on an FXO-trunk span.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SimCallerId {
    #[default]
    None,
    /// FSK in the silence after the first ring.
    FskAfterRing(FskStandard),
    /// Polarity reversal, then FSK, before the first ring (ETSI).
    FskAfterPolarity(FskStandard),
    /// DTMF `A<number>C` before the first ring.
    Dtmf,
}

/// One analog span of the sim card.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnalogSpan {
    pub span: u16,
    pub kind: AnalogKind,
    pub caller_id: SimCallerId,
    /// How long the channel waits for the next ring before it takes the caller as gone: a caller
    /// who gives up leaves the line in a call this long (plus a margin), so the channel can count it.
    pub ring_timeout_ms: u32,
}

/// Ticks from the first ring's end to the FSK burst (GR-30-CORE: at least 500 ms).
const FSK_AFTER_RING_TICKS: u32 = 25;
/// Ticks from the polarity reversal to the FSK burst (EN 300 659-1: at least 100 ms).
const FSK_AFTER_POLARITY_TICKS: u32 = 13;
/// Ticks of silence before DTMF caller ID.
const DTMF_LEAD_TICKS: u32 = 5;
/// Ticks between the end of pre-ring caller ID and the first ring.
const CID_TO_RING_TICKS: u32 = 15;
/// E&M immediate start: DNIS digits begin this long after the seizure.
const EM_DIGITS_AFTER_SEIZE_TICKS: u32 = 15;
/// E&M wink start: DNIS digits begin this long after the channel's wink.
const EM_DIGITS_AFTER_WINK_TICKS: u32 = 10;
/// E&M wink start: the card winks back this long after the channel's `Start`.
const EM_WINK_AFTER_START_TICKS: u32 = 10;
/// DTMF dialling: 100 ms on, 100 ms off per digit (DAHDI_DIAL's default timing).
const DIAL_TICKS_PER_DIGIT: u32 = 10;
/// A line whose caller gave up stays in a call this much longer than the channel's ring timeout.
const ABANDON_MARGIN_TICKS: u32 = 2 * BLOCKS_PER_SECOND;

/// One analog channel's state on the card.
pub(super) struct AnalogLine {
    pub(super) cfg: AnalogSpan,
    /// Audio the exchange plays while the channel rings (caller ID, or DNIS digits on E&M).
    audio: Vec<u8>,
    /// The ring tick the audio starts at; None until known (E&M wink start: after the wink).
    audio_from: Option<u32>,
    /// Ticks of the call before the first ring (pre-ring caller ID).
    pre_ring_ticks: u32,
    /// Outbound: the number being dialled.
    number: Number,
    /// E&M outbound, wink start: ticks until the card winks back (0 = not pending).
    wink_in: u32,
    /// The last ring tick seen, for a wink that arrives mid-ringing.
    ring_tick: u32,
}

impl AnalogLine {
    pub(super) fn new(cfg: AnalogSpan) -> Self {
        Self {
            cfg,
            audio: Vec::new(),
            audio_from: None,
            pre_ring_ticks: 0,
            number: Number::new(),
            wink_in: 0,
            ring_tick: 0,
        }
    }

    fn is_em(&self) -> bool {
        matches!(self.cfg.kind, AnalogKind::EmImmediate | AnalogKind::EmWink)
    }

    fn abandon_ticks(&self) -> u32 {
        self.cfg.ring_timeout_ms / (1000 / BLOCKS_PER_SECOND) + ABANDON_MARGIN_TICKS
    }
}

fn ticks_of(samples: usize) -> u32 {
    samples.div_ceil(BLOCK_SAMPLES) as u32
}

fn encode_linear(law: Law, samples: &[i16]) -> Vec<u8> {
    samples.iter().map(|&s| g711::encode(law, s)).collect()
}

/// The caller ID the exchange sends for `info`: the number, or "private" when there is none; the
/// name when the party gave one.
fn caller_id_for(info: &CallInfo) -> CallerId {
    let number = (!info.from.is_empty()).then(|| info.from.as_str().to_string());
    CallerId {
        number_absence: number.is_none().then_some(Absence::Private),
        number,
        name: (!info.name.is_empty()).then(|| info.name.as_str().to_string()),
        ..CallerId::default()
    }
}

/// Caller ID audio for `info`, or empty when the format cannot carry it (then none is sent).
fn caller_id_audio(caller_id: SimCallerId, info: &CallInfo, law: Law) -> Vec<u8> {
    let cid = caller_id_for(info);
    let linear = match caller_id {
        SimCallerId::None => return Vec::new(),
        SimCallerId::FskAfterRing(standard) | SimCallerId::FskAfterPolarity(standard) => {
            encode_fsk(&cid, standard, Format::Mdmf, law)
        }
        SimCallerId::Dtmf => encode_dtmf_clip(&cid, DtmfClipVariant::StartAEndC, law),
    };
    linear.map(|l| encode_linear(law, &l)).unwrap_or_default()
}

/// DNIS digits as DTMF audio: the dialled number's DTMF keys, then `#`.
fn dnis_audio(to: &str, law: Law) -> Vec<u8> {
    let keys: String = to
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '*')
        .chain(['#'])
        .collect();
    keys_to_blocks(DtmfConfig::new(law), &keys)
        .map(|blocks| blocks.concat())
        .unwrap_or_default()
}

impl CardThread {
    /// A party's call reaches an analog channel: it starts ringing (or is seized) with caller ID
    /// prepared; no `Offered` — the channel's state machine makes the call of it.
    pub(super) fn analog_offer(&mut self, index: usize, info: &CallInfo) {
        let slot = &mut self.slots[index];
        let law = slot.law;
        let ring_on = self.ring_on_ticks;
        let Some(line) = slot.analog.as_mut() else {
            return;
        };
        line.wink_in = 0;
        line.ring_tick = 0;
        if line.is_em() {
            line.audio = dnis_audio(info.to.as_str(), law);
            line.audio_from =
                (line.cfg.kind == AnalogKind::EmImmediate).then_some(EM_DIGITS_AFTER_SEIZE_TICKS);
            line.pre_ring_ticks = 0;
            return;
        }
        line.audio = caller_id_audio(line.cfg.caller_id, info, law);
        let audio_ticks = ticks_of(line.audio.len());
        let (from, pre) = match line.cfg.caller_id {
            SimCallerId::None => (None, 0),
            SimCallerId::FskAfterRing(_) => (Some(ring_on + FSK_AFTER_RING_TICKS), 0),
            SimCallerId::FskAfterPolarity(_) => (
                Some(FSK_AFTER_POLARITY_TICKS),
                FSK_AFTER_POLARITY_TICKS + audio_ticks + CID_TO_RING_TICKS,
            ),
            SimCallerId::Dtmf => (
                Some(DTMF_LEAD_TICKS),
                DTMF_LEAD_TICKS + audio_ticks + CID_TO_RING_TICKS,
            ),
        };
        line.audio_from = from;
        line.pre_ring_ticks = pre;
    }

    /// The line-level events of a ringing analog channel at `ticks` since the offer; false when
    /// the exchange gave up on the call.
    pub(super) fn analog_ring_cadence(&mut self, index: usize, ticks: u32) -> bool {
        if ticks >= super::RING_TIMEOUT_TICKS {
            self.analog_abandon(index, Cause::NoAnswer);
            return false;
        }
        let (ring_on, cycle) = (self.ring_on_ticks, self.ring_cycle_ticks);
        let Some(line) = self.slots[index].analog.as_mut() else {
            return true;
        };
        line.ring_tick = ticks;
        let mut event = None;
        if line.is_em() {
            if ticks == 0 {
                event = Some(ChanEvent::OffHook);
            }
        } else {
            let polarity_first = matches!(line.cfg.caller_id, SimCallerId::FskAfterPolarity(_));
            if ticks == 0 && polarity_first {
                event = Some(ChanEvent::Polarity);
            }
            if ticks >= line.pre_ring_ticks {
                let in_cycle = (ticks - line.pre_ring_ticks) % cycle;
                if in_cycle == 0 {
                    event = Some(ChanEvent::RingBegin);
                } else if in_cycle == ring_on {
                    event = Some(ChanEvent::RingEnd);
                }
            }
        }
        if let Some(event) = event {
            self.send_event(index, &event);
        }
        self.slots[index].phase = Phase::Ringing { ticks: ticks + 1 };
        true
    }

    /// The audio a ringing analog channel hears at `ticks`: caller ID (or DNIS) when due.
    pub(super) fn analog_ring_audio(&self, index: usize, ticks: u32, block: &mut Block) {
        let Some(line) = self.slots[index].analog.as_ref() else {
            return;
        };
        let Some(from) = line.audio_from else {
            return;
        };
        let Some(at) = ticks.checked_sub(from) else {
            return;
        };
        let start = at as usize * BLOCK_SAMPLES;
        if start >= line.audio.len() {
            return;
        }
        let end = (start + BLOCK_SAMPLES).min(line.audio.len());
        block[..end - start].copy_from_slice(&line.audio[start..end]);
    }

    /// The phases only analog lines have; true when this tick's work for the slot is done.
    pub(super) fn analog_tick(&mut self, index: usize, phase: Phase) -> bool {
        let silence = [self.slots[index].law.silence_byte(); BLOCK_SAMPLES];
        match phase {
            Phase::Seized { ticks } => {
                let mut block = silence;
                if let Some(tone) = self.slots[index].tone.as_mut() {
                    tone.next_block(&mut block);
                }
                self.slots[index].phase = Phase::Seized {
                    ticks: ticks.saturating_add(1),
                };
                self.analog_wink_tick(index);
                self.feed_slot(index, &block);
                true
            }
            Phase::Dialling { ticks_left } => {
                // DAHDI sends nothing up while it dials (and a write would cancel the dial).
                self.slots[index].fed_last_tick = false;
                if ticks_left > 0 {
                    self.slots[index].phase = Phase::Dialling {
                        ticks_left: ticks_left - 1,
                    };
                    return true;
                }
                self.send_event(index, &ChanEvent::DialComplete);
                self.analog_route(index);
                true
            }
            Phase::Abandoned { ticks_left } => {
                if ticks_left == 0 {
                    self.slots[index].phase = Phase::Idle;
                    self.slots[index].fed_last_tick = false;
                    return true;
                }
                self.slots[index].phase = Phase::Abandoned {
                    ticks_left: ticks_left - 1,
                };
                self.feed_slot(index, &silence);
                true
            }
            _ => false,
        }
    }

    /// E&M wink start outbound: the far end winks back a little after the seizure.
    fn analog_wink_tick(&mut self, index: usize) {
        let Some(line) = self.slots[index].analog.as_mut() else {
            return;
        };
        if line.wink_in == 0 {
            return;
        }
        line.wink_in -= 1;
        if line.wink_in == 0 {
            self.send_event(index, &ChanEvent::Flash);
        }
    }

    /// The dialled number reaches its party (or not: the channel hears congestion tone, as an
    /// analog line does; there is no signal for it).
    fn analog_route(&mut self, index: usize) {
        let number = self.slots[index]
            .analog
            .as_ref()
            .map(|l| l.number)
            .unwrap_or_default();
        self.seq_for_outbound += 1;
        let target = self.registry.get(number.as_str()).copied();
        let callee = target.filter(|&p| {
            self.parties[p]
                .as_ref()
                .is_some_and(|x| x.call == super::PartyCall::Idle)
        });
        let slot = &mut self.slots[index];
        let country = slot.tones.map(|t| t.country);
        match callee {
            Some(p) => {
                slot.phase = Phase::Alerting;
                slot.party = Some(p);
                slot.tone = country.and_then(|c| LineTone::new(c, ToneKind::Ringback, slot.law));
                if let Some(party) = self.parties[p].as_mut() {
                    party.call = super::PartyCall::Alerting(index);
                }
                let op = DaemonOp::Incoming {
                    call: format!("analog.{}", self.seq_for_outbound),
                    from: String::new(),
                    to: number.as_str().into(),
                };
                self.tell_party(p, op);
            }
            None => {
                let kind = if target.is_some() {
                    ToneKind::Busy
                } else {
                    ToneKind::Congestion
                };
                slot.phase = Phase::FarEndGone { ticks: 0 };
                slot.tone = country.and_then(|c| LineTone::new(c, kind, slot.law));
            }
        }
    }

    /// A line-level control from an analog channel.
    pub(super) fn analog_control(&mut self, index: usize, control: Control) {
        let phase = self.slots[index].phase;
        match (control, phase) {
            (Control::OffHook, Phase::Ringing { .. }) => self.channel_answers(index, CallRef::default()),
            (Control::OffHook | Control::Start, Phase::Idle) => self.analog_seize(index, control),
            (Control::OnHook, Phase::Idle) => {}
            // An FXO port cannot refuse a ringing call (it is on-hook already); an E&M one
            // refuses the seizure by staying on-hook, and the exchange releases it.
            (Control::OnHook, Phase::Ringing { .. })
                if self.slots[index].analog.as_ref().is_some_and(|l| l.is_em()) =>
            {
                self.channel_hangs_up(index, Cause::CallRejected);
            }
            (Control::OnHook, Phase::Ringing { .. }) => {}
            (Control::OnHook, _) => self.channel_hangs_up(index, Cause::NormalClearing),
            (Control::DialDigits { digits, .. }, Phase::Seized { .. }) => {
                if let Some(line) = self.slots[index].analog.as_mut() {
                    line.number = digits;
                }
                self.slots[index].tone = None;
                // A dial takes over the line: a block the channel read before it need not be
                // written back (DAHDI would cancel the dial on a write), so none is owed.
                self.slots[index].tx_owed = 0;
                self.slots[index].fed_last_tick = false;
                let ticks_left = DIAL_TICKS_PER_DIGIT * digits.len() as u32;
                self.slots[index].phase = Phase::Dialling { ticks_left };
            }
            (Control::Wink, Phase::Ringing { .. }) => {
                self.send_event(index, &ChanEvent::HookComplete);
                if let Some(line) = self.slots[index].analog.as_mut() {
                    if line.cfg.kind == AnalogKind::EmWink && line.audio_from.is_none() {
                        line.audio_from = Some(line.ring_tick + EM_DIGITS_AFTER_WINK_TICKS);
                    }
                }
            }
            (Control::Flash, _) => {}
            _ => {}
        }
    }

    fn analog_seize(&mut self, index: usize, control: Control) {
        let slot = &mut self.slots[index];
        let Some(line) = slot.analog.as_mut() else {
            return;
        };
        let em = line.is_em();
        if em != (control == Control::Start) {
            // OffHook on E&M is not a seizure (DAHDI gives a false answer); Start on FXO is no-op.
            return;
        }
        line.wink_in = if line.cfg.kind == AnalogKind::EmWink {
            EM_WINK_AFTER_START_TICKS
        } else {
            0
        };
        slot.phase = Phase::Seized { ticks: 0 };
        slot.fed_last_tick = false;
        slot.txq.clear();
        let country = slot.tones.map(|t| t.country);
        slot.tone = if em {
            None
        } else {
            country.and_then(|c| LineTone::new(c, ToneKind::Dial, slot.law))
        };
    }

    /// The far end of an analog call answered a call the channel dialled.
    pub(super) fn analog_party_answered(&mut self, index: usize) {
        let Some(line) = self.slots[index].analog.as_ref() else {
            return;
        };
        let polarity = self.slots[index]
            .tones
            .is_some_and(|t| t.far_end_hangup == FarEndHangup::Polarity);
        if line.is_em() {
            self.send_event(index, &ChanEvent::OffHook);
        } else if polarity {
            self.send_event(index, &ChanEvent::Polarity);
        }
    }

    /// The party of an analog call hung up.
    pub(super) fn analog_party_hangs_up(&mut self, p: usize, index: usize) {
        let ringing = matches!(self.slots[index].phase, Phase::Ringing { .. });
        self.slots[index].party = None;
        self.set_party_idle(p);
        if ringing {
            return self.analog_abandon(index, Cause::NormalClearing);
        }
        let slot = &mut self.slots[index];
        let Some(line) = slot.analog.as_ref() else {
            return;
        };
        let kind = line.cfg.kind;
        let far_end = slot.tones.map(|t| t.far_end_hangup).unwrap_or_default();
        let country = slot.tones.map(|t| t.country);
        match (far_end, kind) {
            (FarEndHangup::Tone, AnalogKind::Kewlstart | AnalogKind::Loopstart) => {
                slot.phase = Phase::FarEndGone { ticks: 0 };
                slot.tone = country.and_then(|c| LineTone::new(c, ToneKind::Busy, slot.law));
            }
            (FarEndHangup::Polarity, AnalogKind::Kewlstart | AnalogKind::Loopstart) => {
                slot.phase = Phase::Clearing;
                self.send_event(index, &ChanEvent::Polarity);
            }
            (_, AnalogKind::Loopstart) => {
                // No disconnect supervision: the line just goes quiet.
                slot.phase = Phase::FarEndGone { ticks: 0 };
                slot.tone = None;
            }
            _ => {
                slot.phase = Phase::Clearing;
                self.send_event(index, &ChanEvent::OnHook);
            }
        }
    }

    /// The caller went away before the answer: the rings stop; an FXO port learns it only from
    /// their absence, so the line stays in a (silent) call for the channel's ring timeout. E&M
    /// releases the seizure.
    pub(super) fn analog_abandon(&mut self, index: usize, cause: Cause) {
        if let Some(p) = self.slots[index].party.take() {
            self.tell_party(
                p,
                DaemonOp::Hangup {
                    cause: cause.name().into(),
                },
            );
            self.set_party_idle(p);
        }
        let (ring_on, cycle) = (self.ring_on_ticks, self.ring_cycle_ticks);
        let Some((em, ticks_left, mid_ring)) = self.slots[index].analog.as_ref().map(|line| {
            let since_first = line.ring_tick.checked_sub(line.pre_ring_ticks);
            let mid_ring = since_first.is_some_and(|t| t % cycle < ring_on);
            (line.is_em(), line.abandon_ticks(), mid_ring)
        }) else {
            return;
        };
        if mid_ring && !em && matches!(self.slots[index].phase, Phase::Ringing { .. }) {
            // The ring voltage stops with the call: the burst ends early (DAHDI's RINGOFFHOOK).
            self.send_event(index, &ChanEvent::RingEnd);
        }
        self.slots[index].tone = None;
        if em {
            // The seizure drops; the channel never went off-hook (that would have answered), so
            // there is nothing to wait for: the line is free.
            self.slots[index].phase = Phase::Idle;
            self.slots[index].fed_last_tick = false;
            self.slots[index].txq.clear();
            self.send_event(index, &ChanEvent::OnHook);
            return;
        }
        self.slots[index].phase = Phase::Abandoned { ticks_left };
    }

    /// What tells an analog channel the far end is gone when the exchange stops waiting for it to
    /// hang up on busy tone (or on silence).
    pub(super) fn far_end_clear_event(&self, index: usize) -> ChanEvent {
        if self.slots[index].analog.is_some() {
            ChanEvent::OnHook
        } else {
            ChanEvent::Hangup(Cause::NormalClearing)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::callerid::{DtmfClipRx, FskCallerIdRx};
    use crate::dsp::dtmf::{DtmfRx, DtmfRxConfig};

    fn info(from: &str, name: &str) -> CallInfo {
        CallInfo {
            from: Number::from_str_truncating(from),
            to: Number::from_str_truncating("8000"),
            name: crate::fixed::Name::from_str_truncating(name),
        }
    }

    #[test]
    fn the_exchange_sends_fsk_and_dtmf_caller_id_that_the_receivers_read_back() {
        for standard in [FskStandard::Bell202, FskStandard::V23] {
            let audio = caller_id_audio(
                SimCallerId::FskAfterRing(standard),
                &info("5551234", "ACME"),
                Law::Ulaw,
            );
            let mut rx = FskCallerIdRx::new(standard);
            let mut lin: Vec<i16> = audio.iter().map(|&b| g711::decode(Law::Ulaw, b)).collect();
            // The line goes quiet after the burst (the receiver decides on the last bit after it).
            lin.extend([0; BLOCK_SAMPLES]);
            rx.process(&lin);
            let cid = rx.take().expect("a message").expect("valid");
            assert_eq!(cid.number.as_deref(), Some("5551234"));
            assert_eq!(cid.name.as_deref(), Some("ACME"));
        }
        let audio = caller_id_audio(SimCallerId::Dtmf, &info("", ""), Law::Alaw);
        let lin: Vec<i16> = audio.iter().map(|&b| g711::decode(Law::Alaw, b)).collect();
        let mut dtmf = DtmfRx::new(DtmfRxConfig::for_law(Law::Alaw)).unwrap();
        dtmf.process(&lin);
        let mut clip = DtmfClipRx::new();
        let mut result = None;
        while let Some(digit) = dtmf.take_digit() {
            result = clip.push_digit(digit).or(result);
        }
        let cid = result.expect("a sequence").expect("valid");
        assert_eq!(cid.number, None);
        assert_eq!(cid.number_absence, Some(Absence::Private), "withheld: D1C");
    }

    #[test]
    fn dnis_is_the_dialled_number_and_a_hash() {
        let audio = dnis_audio("6001", Law::Alaw);
        let lin: Vec<i16> = audio.iter().map(|&b| g711::decode(Law::Alaw, b)).collect();
        let mut dtmf = DtmfRx::new(DtmfRxConfig::for_law(Law::Alaw)).unwrap();
        dtmf.process(&lin);
        let mut keys = String::new();
        while let Some(digit) = dtmf.take_digit() {
            keys.push(digit);
        }
        assert_eq!(keys, "6001#");
    }
}
