//! The sim's extension phones (DESIGN.md §4, docs/sim-protocol.md): a party registered as the phone
//! on an extension (`{"op":"register","number":"601","phone":true}`) lifts and hangs up the handset
//! and flashes (`offhook`, `onhook`, `flash`), which reach the extension's channel as the line-level
//! events DAHDI reports on an fxoks port (OffHook, OnHook, Flash); the channel's line-level
//! controls come back as the phone hears them: `Ring` rings it with the span country's cadence
//! (`ring` / `ringoff` to the party, RingerOn / RingerOff events to the channel, as DAHDI's
//! zone cadence does), `OnHookTransfer` passes audio to the on-hook phone (VMWI), `OnHook` on a
//! lifted phone is a battery drop (`disconnect`).
//!
//! Everything the phone hears — dial tone, caller ID, prompts — is the channel's audio.
//!
//! The line carries audio while the phone is off-hook (the slot is `Connected`, the party is in a
//! call and, in lockstep, sends a block per block it hears) and while it rings or takes on-hook
//! audio (`Phase::Phone`: the phone sends nothing; what it is sent is early audio, which a lockstep
//! card holds until the party has read it).

use super::{CardThread, PartyCall, Phase};
use crate::dsp::tones::{tone, CadenceStep, Country, ToneKind};
use crate::hw::sim::protocol::DaemonOp;
use crate::hw::{ChanEvent, Control, BLOCK_SAMPLES};

/// One extension's phone, as the card keeps it.
pub(super) struct PhoneLine {
    /// The extension number the phone registers for.
    pub number: String,
    /// The party that is the phone.
    pub party: Option<usize>,
    pub off_hook: bool,
    /// Ticks since the ringing began.
    pub ringing: Option<u32>,
    /// Ticks of on-hook audio left.
    pub transfer_ticks: u32,
    /// The ring cadence (the span country's ringback cadence, which is its ring cadence).
    cadence: &'static [CadenceStep],
}

impl PhoneLine {
    pub fn new(number: String, country: Country) -> Self {
        Self {
            number,
            party: None,
            off_hook: false,
            ringing: None,
            transfer_ticks: 0,
            cadence: tone(country, ToneKind::Ringback).cadence,
        }
    }

    /// The ringer's change at tick `t` of the ringing: Some(true) = on, Some(false) = off.
    fn ring_change(&self, t: u32) -> Option<bool> {
        const TICK_MS: u32 = 1000 * BLOCK_SAMPLES as u32 / 8000;
        if self.cadence.is_empty() {
            return (t == 0).then_some(true);
        }
        let cycle: u32 = self.cadence.iter().map(|s| (s.on_ms + s.off_ms) / TICK_MS).sum();
        let mut pos = t % cycle.max(1);
        for step in self.cadence {
            let (on, off) = (step.on_ms / TICK_MS, step.off_ms / TICK_MS);
            if pos == 0 {
                return Some(true);
            }
            if pos == on && off > 0 {
                return Some(false);
            }
            if pos < on + off {
                return None;
            }
            pos -= on + off;
        }
        None
    }
}

impl CardThread {
    fn phone_slot_of(&self, p: usize) -> Option<usize> {
        self.parties[p].as_ref().and_then(|x| x.phone)
    }

    pub(super) fn phone_register(&mut self, p: usize, number: &str) -> Result<(), String> {
        let Some(index) = self
            .slots
            .iter()
            .position(|s| s.phone.as_ref().is_some_and(|ph| ph.number == number))
        else {
            return Err(format!(
                "no extension {number} in the hardware map (a span's `extensions` lists them)"
            ));
        };
        let owner = self.slots[index].phone.as_ref().and_then(|ph| ph.party);
        if owner.is_some_and(|o| o != p) {
            return Err(format!("extension {number} already has a phone"));
        }
        if self.party_call(p) != PartyCall::Idle {
            return Err("this connection has a call; hang it up first".into());
        }
        self.phone_detach(p);
        if let Some(phone) = self.slots[index].phone.as_mut() {
            phone.party = Some(p);
        }
        if let Some(party) = self.parties[p].as_mut() {
            party.phone = Some(index);
        }
        Ok(())
    }

    /// The party stops being a phone (it registered elsewhere or left).
    pub(super) fn phone_detach(&mut self, p: usize) {
        let Some(index) = self.phone_slot_of(p) else {
            return;
        };
        if let Some(party) = self.parties[p].as_mut() {
            party.phone = None;
        }
        if let Some(phone) = self.slots[index].phone.as_mut() {
            phone.party = None;
        }
    }

    pub(super) fn phone_offhook(&mut self, p: usize) -> Result<(), String> {
        let index = self.phone_slot_of(p).ok_or("register as a phone first")?;
        let slot = &mut self.slots[index];
        let Some(phone) = slot.phone.as_mut() else {
            return Err("register as a phone first".into());
        };
        if phone.off_hook {
            return Err("the phone is already off-hook".into());
        }
        phone.off_hook = true;
        phone.ringing = None;
        phone.transfer_ticks = 0;
        if slot.phase == Phase::Idle {
            slot.fed_last_tick = false;
            slot.txq.clear();
        }
        slot.phase = Phase::Connected;
        slot.party = Some(p);
        if let Some(party) = self.parties[p].as_mut() {
            party.call = PartyCall::InCall(index);
            party.reset_audio();
        }
        self.send_event(index, &ChanEvent::OffHook);
        Ok(())
    }

    pub(super) fn phone_onhook(&mut self, p: usize) -> Result<(), String> {
        let index = self.phone_slot_of(p).ok_or("register as a phone first")?;
        let slot = &mut self.slots[index];
        let Some(phone) = slot.phone.as_mut() else {
            return Err("register as a phone first".into());
        };
        if !phone.off_hook {
            return Err("the phone is already on-hook".into());
        }
        phone.off_hook = false;
        slot.phase = Phase::Idle;
        slot.party = None;
        slot.txq.clear();
        self.set_party_idle(p);
        self.send_event(index, &ChanEvent::OnHook);
        Ok(())
    }

    /// A phone party's op; None when `op` is not a phone's (it takes the ordinary path).
    pub(super) fn phone_op(&mut self, p: usize, op: &super::PartyOp) -> Option<Result<(), String>> {
        use super::PartyOp;
        Some(match op {
            PartyOp::RegisterPhone { number } => self.phone_register(p, number),
            PartyOp::Offhook => self.phone_offhook(p),
            PartyOp::Onhook => self.phone_onhook(p),
            // A phone hangs up by putting the handset down (or closing its socket).
            PartyOp::Hangup if self.phone_slot_of(p).is_some() => {
                let off_hook = self
                    .phone_slot_of(p)
                    .and_then(|i| self.slots[i].phone.as_ref())
                    .is_some_and(|ph| ph.off_hook);
                if off_hook {
                    self.phone_onhook(p)
                } else {
                    Ok(())
                }
            }
            _ => return None,
        })
    }

    /// A line-level control on an extension with a phone; false when it is not one of those.
    pub(super) fn phone_control(&mut self, index: usize, control: Control) -> bool {
        let slot = &mut self.slots[index];
        let Some(phone) = slot.phone.as_mut() else {
            return false;
        };
        let party = phone.party;
        match control {
            Control::Ring if !phone.off_hook => {
                phone.ringing = Some(0);
                if slot.phase == Phase::Idle {
                    slot.fed_last_tick = false;
                    slot.txq.clear();
                    slot.phase = Phase::Phone;
                }
            }
            Control::RingOff => {
                let was_ringing = phone.ringing.take().is_some();
                if !phone.off_hook && phone.transfer_ticks == 0 {
                    slot.phase = Phase::Idle;
                }
                if let (true, Some(p)) = (was_ringing, party) {
                    self.tell_party(p, DaemonOp::Ringoff);
                }
            }
            Control::OnHookTransfer { ms } if !phone.off_hook => {
                let tick_ms = 1000 * BLOCK_SAMPLES as u32 / 8000;
                phone.transfer_ticks = u32::from(ms).div_ceil(tick_ms);
                if slot.phase == Phase::Idle {
                    slot.fed_last_tick = false;
                    slot.txq.clear();
                    slot.phase = Phase::Phone;
                }
            }
            Control::OnHook if phone.off_hook => {
                // The phone hears every block written before the battery drop (the end of the
                // flow's goodbye), then the drop.
                while let Some(block) = self.slots[index].txq.pop_front() {
                    self.send_block_to_party(index, &block);
                }
                if let Some(p) = party {
                    self.tell_party(p, DaemonOp::Disconnect);
                }
            }
            Control::Ring | Control::OnHookTransfer { .. } | Control::OnHook | Control::OffHook => {}
            _ => return false,
        }
        true
    }

    /// One tick of a ringing (or on-hook transfer) line: the channel's last block to the phone,
    /// the cadence, a block to the channel.
    pub(super) fn tick_phone(&mut self, index: usize) {
        let tx = self.slots[index].txq.pop_front();
        let Some(phone) = self.slots[index].phone.as_mut() else {
            self.slots[index].phase = Phase::Idle;
            return;
        };
        let party = phone.party;
        let change = phone.ringing.and_then(|t| phone.ring_change(t));
        if let Some(t) = phone.ringing.as_mut() {
            *t += 1;
        }
        phone.transfer_ticks = phone.transfer_ticks.saturating_sub(1);
        let done = phone.ringing.is_none() && phone.transfer_ticks == 0;
        if let (Some(p), Some(block)) = (party, tx) {
            self.send_early_audio(p, &block);
        }
        match change {
            Some(true) => {
                self.send_event(index, &ChanEvent::RingerOn);
                if let Some(p) = party {
                    self.tell_party(p, DaemonOp::Ring);
                }
            }
            Some(false) => {
                self.send_event(index, &ChanEvent::RingerOff);
                if let Some(p) = party {
                    self.tell_party(p, DaemonOp::Ringoff);
                }
            }
            None => {}
        }
        if done {
            self.slots[index].phase = Phase::Idle;
            return;
        }
        let silence = [self.slots[index].law.silence_byte(); BLOCK_SAMPLES];
        self.feed_slot(index, &silence);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rings_with_the_countrys_cadence() {
        let cn = PhoneLine::new("601".into(), Country::Cn);
        // China: 1 s on, 4 s off = 50 + 200 ticks.
        assert_eq!(cn.ring_change(0), Some(true));
        assert_eq!(cn.ring_change(50), Some(false));
        assert_eq!(cn.ring_change(250), Some(true));
        assert_eq!((1..50).filter_map(|t| cn.ring_change(t)).count(), 0);
        let uk = PhoneLine::new("601".into(), Country::Uk);
        let changes: Vec<(u32, bool)> = (0..150)
            .filter_map(|t| uk.ring_change(t).map(|c| (t, c)))
            .collect();
        // UK: 0.4 on, 0.2 off, 0.4 on, 2 off.
        assert_eq!(changes, [(0, true), (20, false), (30, true), (50, false)]);
        assert_eq!(uk.ring_change(150), Some(true), "the 3 s cycle starts again");
    }
}
