//! An analog extension: a phone on an FXS port (DAHDI `fxoks` / `fxols`).
//!
//! The state machine sits between the card's channel and the engine's loop (see [`super`]): the
//! loop sees a phone that dials as an ordinary caller (`Offered{from: the extension's number, to:
//! the digits}`), and a call telvox places to the extension (`Control::Dial`) as an outbound call
//! that rings and is answered when the phone is lifted.
//!
//! What the phone hears before a call exists — dial tone (stutter dial tone when messages wait),
//! ringback while the dialled flow has not answered, busy tone once the call is over, congestion
//! when nothing was dialled — and the caller ID it is sent between the rings, is written by this
//! wrapper in place of the engine's idle silence: the engine writes one block per block it reads,
//! and [`Extension::write`] replaces it while the line needs its own audio.
//!
//! Time is counted in samples of the blocks read (DAHDI delivers blocks on idle lines; the sim
//! delivers them to a phone that is off-hook or ringing). Nothing here allocates after the
//! extension is built, except the caller-ID burst, which is made when a call to the phone is set
//! up (`Control::Dial`), and the VMWI burst, made when the message-waiting state changes.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use crate::dsp::callerid::fsk_tx::{encode_fsk, modulate, FskStandard, FskTxConfig};
use crate::dsp::callerid::message::{checksum, Format};
use crate::dsp::callerid::{CallTime, CallerId};
use crate::dsp::dtmf::{DtmfRx, DtmfRxConfig};
use crate::dsp::g711;
use crate::dsp::tones::{tone, CadenceStep, Country, ToneGenerator, ToneKind, ToneSpec};
use crate::fixed::Number;
use crate::hw::{
    Block, CallInfo, Cause, ChanEvent, ChanId, Channel, ChannelWaker, Control, HwError, Law, ReadOutcome,
    Role, Signalling, BLOCK_SAMPLES, SAMPLE_RATE_HZ,
};

/// Nothing dialled this long after the phone is lifted: congestion tone, and the line waits for
/// the phone to be hung up (Asterisk's chan_dahdi waits 16 s for a first digit; 10 s is what the
/// issue asks, and what most PBXs use before the howler).
pub const FIRST_DIGIT_TIMEOUT_MS: u64 = 10_000;
/// Pause after a digit that ends the number (chan_dahdi's `matchdigit_timeout` is 3 s).
pub const INTER_DIGIT_TIMEOUT_MS: u64 = 3_000;
/// Most digits a number may have; the number is complete when this many are dialled.
pub const MAX_DIGITS: usize = 20;
/// Stutter dial tone (messages waiting) plays this long before steady dial tone.
pub const STUTTER_MS: u64 = 1_000;
/// Congestion tone to a phone left off-hook plays at most this long, then silence.
pub const HOWL_MS: u64 = 60_000;
/// Longest caller-ID / VMWI burst kept (seizure + mark + 258-byte frame is ~3 s).
const MAX_FSK_SAMPLES: usize = 4 * SAMPLE_RATE_HZ as usize;

/// VMWI: MDMF message type for message waiting (GR-30-CORE / ETSI EN 300 659-3).
pub const VMWI_MESSAGE_TYPE: u8 = 0x82;
/// VMWI: the visual indicator parameter; 0xFF = on, 0x00 = off.
pub const PARAM_VISUAL_INDICATOR: u8 = 0x0B;

/// Stutter dial tone: 100 ms on / 100 ms off of the plan's dial tone frequencies.
static STUTTER: [CadenceStep; 1] = [CadenceStep::new(100, 100)];

const fn ms_to_samples(ms: u64) -> u64 {
    ms.saturating_mul(SAMPLE_RATE_HZ as u64) / 1000
}

/// What one extension is, from the hardware map and the daemon.
#[derive(Clone, Debug)]
pub struct ExtensionLine {
    /// The extension's own number: the caller's number on calls it makes, the number telvox
    /// dials to ring it.
    pub number: Number,
    /// New voicemail messages in the box with the extension's number, kept current by another
    /// thread (read lock-free here): stutter dial tone and VMWI.
    pub messages: Arc<AtomicU32>,
    /// The daemon's exact `[numbers]`: dialling ends as soon as the digits are one of them and
    /// no other starts with them. Replaced whole on reload (read lock-free).
    pub exact_numbers: Arc<arc_swap::ArcSwap<Vec<Number>>>,
    /// How caller ID and VMWI are sent (Bell 202 in North America, V.23 elsewhere by default).
    pub fsk: FskStandard,
    pub dtmf: DtmfRxConfig,
    /// The site's offset from UTC for caller ID's date and time, taken when the daemon starts
    /// (the channel thread reads no time zone files).
    pub utc_offset_s: i32,
}

impl ExtensionLine {
    /// An extension with no number, no dial plan and no messages (a map without `extensions`).
    pub fn unnumbered(country: Country, law: Law) -> Self {
        Self {
            number: Number::new(),
            messages: Arc::new(AtomicU32::new(0)),
            exact_numbers: Arc::new(arc_swap::ArcSwap::from_pointee(Vec::new())),
            fsk: default_fsk(country),
            dtmf: DtmfRxConfig::for_law(law),
            utc_offset_s: local_utc_offset_s(),
        }
    }
}

/// The local time zone's offset from UTC now, in seconds.
pub fn local_utc_offset_s() -> i32 {
    use chrono::Offset;
    chrono::Local::now().offset().fix().local_minus_utc()
}

/// The FSK modem a country's phones expect by default.
pub fn default_fsk(country: Country) -> FskStandard {
    match country {
        Country::Us => FskStandard::Bell202,
        _ => FskStandard::V23,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// On-hook, nothing happening.
    Idle,
    /// Lifted: dial tone until the first digit, digits until the number is complete.
    Dialling,
    /// The number is complete and offered to the engine; ringback until the flow answers.
    Calling { answered: bool },
    /// The call ended (or was refused) with the phone still off-hook: busy or congestion tone,
    /// then silence, until it is hung up.
    Cleared,
    /// telvox rings the phone.
    Ringing,
    /// The phone answered telvox's call.
    Talking,
}

/// The audio the line itself plays toward the phone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sound {
    Engine,
    Tone,
    Fsk,
}

/// The line state machine of one extension (see the module docs).
pub struct Extension {
    inner: Box<dyn Channel>,
    law: Law,
    country: Country,
    signalling: Signalling,
    line: ExtensionLine,
    state: State,
    /// Samples read since the state was entered.
    state_samples: u64,
    /// Samples read since the last digit (Dialling).
    since_digit_samples: u64,
    digits: Number,
    dtmf: DtmfRx,
    tone: Option<ToneGenerator>,
    /// Samples of stutter dial tone left before steady dial tone.
    stutter_left: u64,
    /// Tone samples left before silence (busy/congestion to a phone left off-hook).
    tone_left: u64,
    /// Caller ID or VMWI burst, and how far it has been sent.
    fsk: Vec<i16>,
    fsk_pos: usize,
    fsk_playing: bool,
    /// Ring bursts heard on this call (RingerOff events).
    ring_bursts: u32,
    /// Ring cycle for the rings the engine is told of on calls the phone makes.
    ring_on_samples: u64,
    ring_cycle_samples: u64,
    /// The VMWI state the phone was last sent; None = never sent.
    vmwi_sent: Option<bool>,
    /// The VMWI bursts, made once: sending one allocates nothing.
    vmwi_on: Vec<i16>,
    vmwi_off: Vec<i16>,
    pending: Option<ChanEvent>,
    lin: [i16; BLOCK_SAMPLES],
    out: Block,
}

impl Extension {
    pub fn new(
        inner: Box<dyn Channel>,
        signalling: Signalling,
        country: Country,
        line: ExtensionLine,
    ) -> Self {
        let law = inner.law();
        let dtmf_config = DtmfRxConfig { law, ..line.dtmf };
        // A bad receiver setting was refused by the config check; fall back to the defaults.
        let dtmf = DtmfRx::new(dtmf_config)
            .or_else(|_| DtmfRx::new(DtmfRxConfig::for_law(law)))
            .expect("the default DTMF receiver settings are valid");
        let ringback = tone(country, ToneKind::Ringback);
        let first = ringback
            .cadence
            .first()
            .copied()
            .unwrap_or(CadenceStep::new(1000, 4000));
        Self {
            law,
            country,
            signalling,
            state: State::Idle,
            state_samples: 0,
            since_digit_samples: 0,
            digits: Number::new(),
            dtmf,
            tone: None,
            stutter_left: 0,
            tone_left: 0,
            fsk: Vec::with_capacity(MAX_FSK_SAMPLES),
            fsk_pos: 0,
            fsk_playing: false,
            ring_bursts: 0,
            ring_on_samples: ms_to_samples(u64::from(first.on_ms)),
            ring_cycle_samples: ms_to_samples(u64::from(ringback.cycle_ms().max(1000))),
            vmwi_sent: None,
            vmwi_on: vmwi_samples(line.fsk, law, true).unwrap_or_default(),
            vmwi_off: vmwi_samples(line.fsk, law, false).unwrap_or_default(),
            pending: None,
            lin: [0; BLOCK_SAMPLES],
            out: [law.silence_byte(); BLOCK_SAMPLES],
            line,
            inner,
        }
    }

    fn enter(&mut self, state: State) {
        self.state = state;
        self.state_samples = 0;
        self.tone = None;
        self.fsk_playing = false;
    }

    fn play(&mut self, kind: ToneKind, max_ms: u64) {
        self.tone = ToneGenerator::new(self.law, tone(self.country, kind)).ok();
        self.tone_left = ms_to_samples(max_ms);
    }

    fn messages_waiting(&self) -> bool {
        self.line.messages.load(Ordering::Relaxed) > 0
    }

    fn lifted(&mut self) {
        self.enter(State::Dialling);
        self.digits.clear();
        self.since_digit_samples = 0;
        self.dtmf.reset();
        if self.messages_waiting() {
            let dial = tone(self.country, ToneKind::Dial);
            let stutter = ToneSpec {
                cadence: &STUTTER,
                repeat: true,
                ..dial
            };
            self.tone = ToneGenerator::new(self.law, stutter).ok();
            self.stutter_left = ms_to_samples(STUTTER_MS);
        } else {
            self.play(ToneKind::Dial, u64::MAX / 2);
            self.stutter_left = 0;
        }
        self.tone_left = u64::MAX / 2;
    }

    /// The phone is off-hook with no call (or its call ended): tone, then silence.
    fn cleared(&mut self, kind: ToneKind) {
        self.enter(State::Cleared);
        self.play(kind, HOWL_MS);
    }

    fn on_event(&mut self, event: ChanEvent) -> Option<ChanEvent> {
        match (self.state, event) {
            (State::Idle, ChanEvent::OffHook) => {
                self.lifted();
                None
            }
            (State::Ringing, ChanEvent::OffHook) => {
                let _ = self.inner.control(Control::RingOff);
                self.enter(State::Talking);
                Some(ChanEvent::Answered)
            }
            (State::Ringing, ChanEvent::RingerOff) => {
                self.ring_bursts += 1;
                if self.ring_bursts == 1 && !self.fsk.is_empty() {
                    // Caller ID goes in the first silence between rings.
                    self.fsk_pos = 0;
                    self.fsk_playing = true;
                }
                None
            }
            (State::Ringing, ChanEvent::RingerOn) => {
                self.fsk_playing = false;
                None
            }
            (State::Dialling | State::Cleared, ChanEvent::OnHook) => {
                self.enter(State::Idle);
                // Messages heard (or left) while the phone was in use: VMWI now.
                self.check_vmwi();
                None
            }
            (State::Calling { .. } | State::Talking, ChanEvent::OnHook) => {
                self.enter(State::Idle);
                self.check_vmwi();
                Some(ChanEvent::Hangup(Cause::NormalClearing))
            }
            (State::Calling { .. } | State::Talking, ChanEvent::Flash) => Some(ChanEvent::Flash),
            // Call-level events from a network that signals them (none on analog) and alarms pass.
            (_, ev @ (ChanEvent::Alarm(_) | ChanEvent::Hangup(_) | ChanEvent::Answered)) => Some(ev),
            // Everything else means nothing in this state: a flash while dialling or ringing, an
            // on-hook while ringing, ringer events of a ring already stopped, hook completions.
            _ => None,
        }
    }

    fn on_audio(&mut self, block: &Block) {
        self.state_samples += BLOCK_SAMPLES as u64;
        match self.state {
            State::Idle => self.check_vmwi(),
            State::Dialling => self.collect_digits(block),
            // The dialled flow answers after its rings: tell it of the rings the phone hears.
            State::Calling { answered: false }
                if self.state_samples >= self.ring_on_samples
                    && (self.state_samples - self.ring_on_samples) % self.ring_cycle_samples
                        < BLOCK_SAMPLES as u64 =>
            {
                self.pending = Some(ChanEvent::RingEnd);
            }
            _ => {}
        }
    }

    fn collect_digits(&mut self, block: &Block) {
        self.since_digit_samples += BLOCK_SAMPLES as u64;
        g711::decode_block(self.law, block, &mut self.lin);
        self.dtmf.process(&self.lin);
        let mut complete = false;
        while let Some(digit) = self.dtmf.take_digit() {
            // The first digit stops the dial tone.
            self.tone = None;
            self.since_digit_samples = 0;
            if digit == '#' && !self.digits.is_empty() {
                complete = true;
                break;
            }
            self.digits.push(digit);
            if self.digits.len() >= MAX_DIGITS || self.only_match() {
                complete = true;
                break;
            }
        }
        if !complete
            && !self.digits.is_empty()
            && self.since_digit_samples >= ms_to_samples(INTER_DIGIT_TIMEOUT_MS)
        {
            complete = true;
        }
        if complete {
            let info = CallInfo {
                from: self.line.number,
                to: self.digits,
                ..Default::default()
            };
            self.enter(State::Calling { answered: false });
            self.play(ToneKind::Ringback, u64::MAX / 2);
            self.pending = Some(ChanEvent::Offered(info));
            return;
        }
        if self.digits.is_empty() && self.state_samples >= ms_to_samples(FIRST_DIGIT_TIMEOUT_MS) {
            self.cleared(ToneKind::Congestion);
        }
    }

    /// The digits are one of the exact numbers and no other number starts with them.
    fn only_match(&self) -> bool {
        let dialled = self.digits.as_str();
        let mut exact = false;
        let numbers = self.line.exact_numbers.load();
        for n in numbers.iter() {
            let n = n.as_str();
            if n == dialled {
                exact = true;
            } else if n.starts_with(dialled) {
                return false;
            }
        }
        exact
    }

    /// On-hook: sends the phone VMWI when the message-waiting state changed (zero ↔ non-zero).
    fn check_vmwi(&mut self) {
        if self.fsk_playing {
            return;
        }
        let waiting = self.messages_waiting();
        // Nothing to say to a phone that has heard nothing yet and has no messages.
        if self.vmwi_sent.unwrap_or(false) == waiting {
            return;
        }
        self.vmwi_sent = Some(waiting);
        let burst = if waiting { &self.vmwi_on } else { &self.vmwi_off };
        if !burst.is_empty() {
            self.fsk.clear();
            self.fsk.extend(burst.iter().take(MAX_FSK_SAMPLES));
            self.fsk_pos = 0;
            self.fsk_playing = true;
            // The burst and a block either side reach the on-hook phone.
            let ms = self.fsk.len() as u64 * 1000 / u64::from(SAMPLE_RATE_HZ) + 60;
            let ms = u16::try_from(ms).unwrap_or(u16::MAX);
            let _ = self.inner.control(Control::OnHookTransfer { ms });
        }
    }

    /// What the phone hears now.
    fn sound(&self) -> Sound {
        if self.fsk_playing && self.fsk_pos < self.fsk.len() {
            return Sound::Fsk;
        }
        match self.state {
            State::Dialling | State::Cleared | State::Calling { answered: false } if self.tone.is_some() => {
                Sound::Tone
            }
            State::Dialling | State::Cleared | State::Calling { answered: false } => Sound::Engine,
            State::Idle | State::Ringing => Sound::Engine,
            State::Calling { answered: true } | State::Talking => Sound::Engine,
        }
    }

    fn fill_tone(&mut self) {
        let Some(generator) = self.tone.as_mut() else {
            return;
        };
        generator.fill(&mut self.lin);
        self.tone_left = self.tone_left.saturating_sub(BLOCK_SAMPLES as u64);
        if self.stutter_left > 0 {
            self.stutter_left = self.stutter_left.saturating_sub(BLOCK_SAMPLES as u64);
            if self.stutter_left == 0 {
                self.tone = ToneGenerator::new(self.law, tone(self.country, ToneKind::Dial)).ok();
            }
        }
        if self.tone_left == 0 {
            self.tone = None;
        }
    }

    fn fill_fsk(&mut self) {
        let end = (self.fsk_pos + BLOCK_SAMPLES).min(self.fsk.len());
        let n = end - self.fsk_pos;
        self.lin[..n].copy_from_slice(&self.fsk[self.fsk_pos..end]);
        self.lin[n..].fill(0);
        self.fsk_pos = end;
        if self.fsk_pos >= self.fsk.len() {
            self.fsk_playing = false;
        }
    }

    /// A call from telvox: ring the phone, caller ID ready for the first silence.
    fn ring(&mut self, from: Number) -> Result<(), HwError> {
        self.fsk.clear();
        use chrono::{Datelike, Timelike};
        let now = chrono::Utc::now() + chrono::Duration::seconds(i64::from(self.line.utc_offset_s));
        let caller_id = CallerId {
            number: (!from.is_empty()).then(|| from.as_str().to_string()),
            datetime: CallTime::new(
                now.month() as u8,
                now.day() as u8,
                now.hour() as u8,
                now.minute() as u8,
            ),
            ..Default::default()
        };
        if let Ok(samples) = encode_fsk(&caller_id, self.line.fsk, Format::Mdmf, self.law) {
            self.fsk.extend(samples.iter().take(MAX_FSK_SAMPLES));
        }
        self.ring_bursts = 0;
        self.enter(State::Ringing);
        self.inner.control(Control::Ring)
    }
}

impl Channel for Extension {
    fn id(&self) -> ChanId {
        self.inner.id()
    }

    fn law(&self) -> Law {
        self.law
    }

    fn role(&self) -> Role {
        Role::Extension
    }

    fn signalling(&self) -> Signalling {
        self.signalling
    }

    fn waker(&self) -> Option<Arc<dyn ChannelWaker>> {
        self.inner.waker()
    }

    fn read(&mut self, block: &mut Block) -> Result<ReadOutcome, HwError> {
        for _ in 0..super::MAX_LINE_EVENTS_PER_READ {
            if let Some(event) = self.pending.take() {
                return Ok(ReadOutcome::Event(event));
            }
            match self.inner.read(block)? {
                ReadOutcome::Audio => {
                    self.on_audio(block);
                    return Ok(ReadOutcome::Audio);
                }
                ReadOutcome::Event(event) => {
                    if let Some(up) = self.on_event(event) {
                        return Ok(ReadOutcome::Event(up));
                    }
                }
                ReadOutcome::Woken => {
                    // Woken on an idle line: the message count may have changed (VMWI).
                    if self.state == State::Idle {
                        self.check_vmwi();
                    }
                    return Ok(ReadOutcome::Woken);
                }
                other => return Ok(other),
            }
        }
        Ok(ReadOutcome::Woken)
    }

    fn write(&mut self, block: &Block) -> Result<(), HwError> {
        match self.sound() {
            Sound::Engine => self.inner.write(block),
            Sound::Tone => {
                self.fill_tone();
                g711::encode_block(self.law, &self.lin, &mut self.out);
                let out = self.out;
                self.inner.write(&out)
            }
            Sound::Fsk => {
                self.fill_fsk();
                g711::encode_block(self.law, &self.lin, &mut self.out);
                let out = self.out;
                self.inner.write(&out)
            }
        }
    }

    fn control(&mut self, control: Control) -> Result<(), HwError> {
        match (self.state, control) {
            (State::Idle, Control::Dial { from, .. }) => self.ring(from),
            (_, Control::Dial { .. }) => {
                // The phone is in use: busy.
                self.pending = Some(ChanEvent::Hangup(Cause::UserBusy));
                Ok(())
            }
            (State::Calling { .. }, Control::Answer { .. }) => {
                self.state = State::Calling { answered: true };
                self.tone = None;
                Ok(())
            }
            (State::Ringing, Control::Hangup { .. }) => {
                self.enter(State::Idle);
                self.inner.control(Control::RingOff)
            }
            (State::Calling { answered }, Control::Hangup { cause }) => {
                let kind = match cause {
                    Cause::NormalClearing | Cause::UserBusy if answered || cause == Cause::UserBusy => {
                        ToneKind::Busy
                    }
                    _ => ToneKind::Congestion,
                };
                self.cleared(kind);
                // Kewlstart: a battery drop tells the phone the far end of its call is gone; a
                // call that never connected (a number nothing answers) just gets the tone.
                if answered && self.signalling == Signalling::Fxoks {
                    self.inner.control(Control::OnHook)?;
                }
                Ok(())
            }
            (State::Talking, Control::Hangup { .. }) => {
                self.cleared(ToneKind::Busy);
                if self.signalling == Signalling::Fxoks {
                    self.inner.control(Control::OnHook)?;
                }
                Ok(())
            }
            // Nothing to clear, or nothing a phone can be sent.
            (_, Control::Hangup { .. } | Control::Answer { .. } | Control::Flash) => Ok(()),
            (_, line_level) => self.inner.control(line_level),
        }
    }
}

/// The VMWI message (MDMF 0x82, visual indicator on/off), checksum included.
pub fn vmwi_frame(on: bool) -> [u8; 6] {
    let value = if on { 0xFF } else { 0x00 };
    let mut frame = [VMWI_MESSAGE_TYPE, 3, PARAM_VISUAL_INDICATOR, 1, value, 0];
    frame[5] = checksum(&frame[..5]);
    frame
}

fn vmwi_samples(
    standard: FskStandard,
    law: Law,
    on: bool,
) -> Result<Vec<i16>, crate::dsp::callerid::CallerIdError> {
    modulate(&vmwi_frame(on), &FskTxConfig::new(standard, law))
}

/// The VMWI burst as the phone hears it, in `law` (for tests and sim phones to compare against).
pub fn vmwi_burst(standard: FskStandard, law: Law, on: bool) -> Vec<u8> {
    let samples = vmwi_samples(standard, law, on).unwrap_or_default();
    samples.iter().map(|&s| g711::encode(law, s)).collect()
}

/// The `wrap` arm for fxoks/fxols channels.
pub fn wrap(chan: Box<dyn Channel>, setup: &super::LineSetup) -> Box<dyn Channel> {
    let line = setup
        .extension
        .clone()
        .unwrap_or_else(|| ExtensionLine::unnumbered(setup.country, chan.law()));
    Box::new(Extension::new(chan, setup.signalling, setup.country, line))
}

#[cfg(test)]
mod tests;
