//! National call-progress tone plans, the fax tones and the record beep, as data.
//!
//! Sources, per figure (the comments on each table say which figure is a spec value and which is
//! common practice):
//! - **ITU-T E.180 Supplement 2** ("Various tones used in national networks"), the ITU's list of
//!   every country's tones; read through its 2003 edition as transcribed in DAHDI's zone data.
//! - **China**: the E.180 Supplement 2 entry for China, which reproduces the national plan
//!   (GB 3380 / YD/T signalling-tone series): 450 Hz for every tone, told apart by cadence only.
//! - **North America**: the Precise Tone Plan (ATIS/ANSI T1.401, Telcordia GR-506).
//! - **United Kingdom**: BT SIN 350 (dial 350+450 Hz; DAHDI and Asterisk ship 350+440, which is the
//!   North American pair, not SIN 350's).
//! - **Europe**: ETSI ES 201 970 / TR 101 041, the common CEPT plan at 425 Hz.
//! - **Korea**: a North-American-style plan. Every frequency and cadence is checked against the
//!   ITU's list of national tones (E.180 Suppl. 2 data) as transcribed in `decal/werdlists`
//!   (`telco-data/national-network-tones.txt`); the ringback also against FreeSWITCH's `ko-ring`
//!   and Korean Wikipedia (통화연결음). Only the levels are assumed (see the table below).
//!
//! Cross-checked (2026-11) against Asterisk's `configs/samples/indications.conf`, which cites the
//! ITU's list of national tones (`tones-0203.pdf`, the E.180 Supplement 2 data) for most zones:
//! its `cn`, `us` and `uk` zones agree with every frequency and cadence below (China's busy
//! 350/350, congestion 700/700, ringback 1000/4000, call waiting 400/4000; the UK's double ring,
//! busy 375/375, "beep-bip" congestion, call waiting 100/4000; the Precise Tone Plan), except UK
//! dial tone, where Asterisk ships 350 + 440 Hz (the North American pair) and SIN 350 says
//! 350 + 450 Hz.
//! - **Fax**: ITU-T T.30 (CNG, CED), V.25 (answer tone and its phase reversals), V.8 (ANSam).
//!
//! Receive tolerances are not part of any of these plans (they give nominal send values); the
//! detector's tolerances are its own and are documented there.

use super::ToneError;

/// A national tone plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Country {
    /// China (E.180 Suppl. 2, GB 3380 / YD/T).
    Cn,
    /// Republic of Korea (E.180 Suppl. 2).
    Kr,
    /// North America (Precise Tone Plan).
    Us,
    /// United Kingdom (BT SIN 350).
    Uk,
    /// Europe, the common ETSI/CEPT plan (ES 201 970).
    Eu,
}

impl Country {
    /// Every plan, in a fixed order (for tests and tables).
    pub const ALL: [Country; 5] = [Country::Cn, Country::Kr, Country::Us, Country::Uk, Country::Eu];

    /// Parses a plan code, case-insensitively: `cn`, `kr`, `us`, `uk` (or `gb`), `eu`.
    pub fn from_code(code: &str) -> Result<Self, ToneError> {
        match code.trim().to_ascii_lowercase().as_str() {
            "cn" => Ok(Country::Cn),
            "kr" => Ok(Country::Kr),
            "us" => Ok(Country::Us),
            // ISO 3166 says GB; telephony configs (Asterisk, DAHDI) say uk. Accept both.
            "uk" | "gb" => Ok(Country::Uk),
            "eu" => Ok(Country::Eu),
            _ => Err(ToneError::UnknownCountry {
                code: code.to_string(),
            }),
        }
    }

    /// The canonical code, as `from_code` accepts it.
    pub const fn code(self) -> &'static str {
        match self {
            Country::Cn => "cn",
            Country::Kr => "kr",
            Country::Us => "us",
            Country::Uk => "uk",
            Country::Eu => "eu",
        }
    }
}

/// The tones a plan defines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ToneKind {
    Dial,
    Ringback,
    Busy,
    /// Congestion, called reorder or "fast busy" in North America.
    Congestion,
    CallWaiting,
    /// Special information tone: three rising tones before an announcement.
    Sit,
    /// The "record after the beep" beep; the same in every plan.
    Beep,
}

impl ToneKind {
    /// Every kind, in a fixed order.
    pub const ALL: [ToneKind; 7] = [
        ToneKind::Dial,
        ToneKind::Ringback,
        ToneKind::Busy,
        ToneKind::Congestion,
        ToneKind::CallWaiting,
        ToneKind::Sit,
        ToneKind::Beep,
    ];
}

/// The fax and modem tones (the same in every country).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaxTone {
    /// Calling tone (T.30): the calling fax announces itself.
    Cng,
    /// Called-terminal identification (T.30), the plain 2100 Hz answer tone of V.25.
    Ced,
    /// V.8's modified answer tone: 2100 Hz, 15 Hz amplitude modulation, phase reversals. A
    /// [`ToneSpec`] cannot express the modulation; `fax_tone` returns the carrier and
    /// [`super::ToneGenerator::fax`] adds the modulation.
    Ansam,
}

/// One on/off step of a cadence.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CadenceStep {
    pub on_ms: u32,
    /// Silence after the tone; 0 goes straight to the next step (SIT's three tones).
    pub off_ms: u32,
    /// Frequencies for this step when they differ from the spec's (SIT); `None` uses
    /// [`ToneSpec::freqs_hz`].
    pub freqs_hz: Option<[f32; 2]>,
}

impl CadenceStep {
    /// A step at the spec's frequencies.
    pub const fn new(on_ms: u32, off_ms: u32) -> Self {
        Self {
            on_ms,
            off_ms,
            freqs_hz: None,
        }
    }

    /// A step at its own frequencies.
    pub const fn with_freqs(on_ms: u32, off_ms: u32, freqs_hz: [f32; 2]) -> Self {
        Self {
            on_ms,
            off_ms,
            freqs_hz: Some(freqs_hz),
        }
    }
}

/// A tone as a plan defines it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ToneSpec {
    /// Up to two frequencies played together; 0 marks an unused slot.
    pub freqs_hz: [f32; 2],
    /// Level of each frequency (a pair together is 3 dB louder).
    pub level_dbm0: f32,
    /// On/off steps; empty means a continuous tone.
    pub cadence: &'static [CadenceStep],
    /// Whether the cadence repeats; a cadence played once is followed by silence.
    pub repeat: bool,
}

impl ToneSpec {
    /// True for a tone without cadence (dial tone).
    pub fn is_continuous(&self) -> bool {
        self.cadence.is_empty()
    }

    /// One pass through the cadence, in ms (0 for a continuous tone).
    pub fn cycle_ms(&self) -> u32 {
        self.cadence.iter().map(|step| step.on_ms + step.off_ms).sum()
    }

    /// The frequencies sounding during step `index` (the spec's when the step has none of its own,
    /// or when the tone is continuous).
    pub fn step_freqs_hz(&self, index: usize) -> [f32; 2] {
        self.cadence
            .get(index)
            .and_then(|step| step.freqs_hz)
            .unwrap_or(self.freqs_hz)
    }
}

/// The tone `kind` in `country`'s plan.
pub fn tone(country: Country, kind: ToneKind) -> ToneSpec {
    match kind {
        ToneKind::Beep => BEEP,
        ToneKind::Sit if country == Country::Us => US_SIT,
        ToneKind::Sit => ITU_SIT,
        _ => match country {
            Country::Cn => china(kind),
            Country::Kr => korea(kind),
            Country::Us => north_america(kind),
            Country::Uk => united_kingdom(kind),
            Country::Eu => europe(kind),
        },
    }
}

/// The fax tone `kind`; for [`FaxTone::Ansam`], its unmodulated 2100 Hz carrier.
pub fn fax_tone(kind: FaxTone) -> ToneSpec {
    match kind {
        FaxTone::Cng => CNG,
        FaxTone::Ced | FaxTone::Ansam => CED,
    }
}

const fn spec(freqs_hz: [f32; 2], level_dbm0: f32, cadence: &'static [CadenceStep]) -> ToneSpec {
    ToneSpec {
        freqs_hz,
        level_dbm0,
        cadence,
        repeat: true,
    }
}

const CONTINUOUS: &[CadenceStep] = &[];

// ---- China (E.180 Suppl. 2; GB 3380 / YD/T) --------------------------------------------------
// Every tone is 450 Hz; the plan separates them by cadence alone (the cadences agree with
// Asterisk's `cn` zone, which cites the ITU's tones-0203 list). Level: -10 dBm0 is the figure we
// recall from the national spec and is common practice for Chinese exchanges; not re-checked here.
const CN_HZ: [f32; 2] = [450.0, 0.0];
const CN_LEVEL_DBM0: f32 = -10.0;
const CN_RINGBACK: &[CadenceStep] = &[CadenceStep::new(1000, 4000)];
const CN_BUSY: &[CadenceStep] = &[CadenceStep::new(350, 350)];
const CN_CONGESTION: &[CadenceStep] = &[CadenceStep::new(700, 700)];
const CN_CALL_WAITING: &[CadenceStep] = &[CadenceStep::new(400, 4000)];

fn china(kind: ToneKind) -> ToneSpec {
    let cadence = match kind {
        ToneKind::Ringback => CN_RINGBACK,
        ToneKind::Busy => CN_BUSY,
        ToneKind::Congestion => CN_CONGESTION,
        ToneKind::CallWaiting => CN_CALL_WAITING,
        _ => CONTINUOUS,
    };
    spec(CN_HZ, CN_LEVEL_DBM0, cadence)
}

// ---- North America (Precise Tone Plan: ATIS/ANSI T1.401, Telcordia GR-506) ---------------------
// Frequencies and cadences are the plan's. Levels per frequency are the plan's as commonly
// published: dial -13, audible ringing -19, busy and reorder -24 dBm0.
const NA_DIAL_HZ: [f32; 2] = [350.0, 440.0];
const NA_RINGBACK_HZ: [f32; 2] = [440.0, 480.0];
const NA_BUSY_HZ: [f32; 2] = [480.0, 620.0];
const NA_CALL_WAITING_HZ: [f32; 2] = [440.0, 0.0];
const NA_DIAL_DBM0: f32 = -13.0;
const NA_RINGBACK_DBM0: f32 = -19.0;
const NA_BUSY_DBM0: f32 = -24.0;
const NA_RINGBACK: &[CadenceStep] = &[CadenceStep::new(2000, 4000)];
const NA_BUSY: &[CadenceStep] = &[CadenceStep::new(500, 500)];
const NA_REORDER: &[CadenceStep] = &[CadenceStep::new(250, 250)];
// One 300 ms burst every 10 s, at dial-tone level.
const NA_CALL_WAITING: &[CadenceStep] = &[CadenceStep::new(300, 9700)];

fn north_america(kind: ToneKind) -> ToneSpec {
    match kind {
        ToneKind::Ringback => spec(NA_RINGBACK_HZ, NA_RINGBACK_DBM0, NA_RINGBACK),
        ToneKind::Busy => spec(NA_BUSY_HZ, NA_BUSY_DBM0, NA_BUSY),
        ToneKind::Congestion => spec(NA_BUSY_HZ, NA_BUSY_DBM0, NA_REORDER),
        ToneKind::CallWaiting => spec(NA_CALL_WAITING_HZ, NA_DIAL_DBM0, NA_CALL_WAITING),
        _ => spec(NA_DIAL_HZ, NA_DIAL_DBM0, CONTINUOUS),
    }
}

// ---- Republic of Korea ---------------------------------------------------------------------------
// Frequencies and cadences from the ITU's "Various tones used in national networks" (E.180 Suppl. 2
// data, the list behind Asterisk's zones), entry "Korea (Republic of)", as transcribed in the public
// repository decal/werdlists, telco-data/national-network-tones.txt (commit 81edb46, lines 749-758;
// its China and USA entries agree with the figures in this file):
//   Busy tone        480+620  0.5 on 0.5 off
//   Congestion tone  480+620  0.3 on 0.2 off
//   Dial tone        350+440  continuous
//   Ringing tone     440+480  1.0 on 2.0 off
//   Waiting tone     350+440  0.25 on 0.25 off 0.25 on 3.25 off
// The ringback also agrees with FreeSWITCH's conf/vanilla/vars.xml (`ko-ring=%(1000,2000,440,480)`)
// and the Korean Wikipedia article 통화연결음 ("대한민국은 1초 재생 후 2초 정지"); busy and dial tone
// with Frank Durda IV's tone tables (busy "480Hz 620Hz 0.5sec 0.5sec", dial "350Hz 440Hz").
// Call waiting: the ITU list gives Korea no "call waiting tone", only this "waiting tone"; several
// administrations list their call-waiting tone under that name, so it is used for call waiting.
// Levels: no source found gives Korea's in dBm0 (Durda's -12 dBm dial / -20 dBm busy are the same
// for nearly every country), so they are the Precise Tone Plan's, an assumption. Korean exchanges
// did not always agree with each other (Lee, Won, Kim, "A Study on the Specifications of the
// Audible Tones of the Switching System", 1987), hence the detector's cadence tolerance.
const KR_RINGBACK: &[CadenceStep] = &[CadenceStep::new(1000, 2000)];
const KR_CONGESTION: &[CadenceStep] = &[CadenceStep::new(300, 200)];
const KR_CALL_WAITING: &[CadenceStep] = &[CadenceStep::new(250, 250), CadenceStep::new(250, 3250)];

fn korea(kind: ToneKind) -> ToneSpec {
    match kind {
        ToneKind::Ringback => spec(NA_RINGBACK_HZ, NA_RINGBACK_DBM0, KR_RINGBACK),
        ToneKind::Congestion => spec(NA_BUSY_HZ, NA_BUSY_DBM0, KR_CONGESTION),
        ToneKind::CallWaiting => spec(NA_DIAL_HZ, NA_RINGBACK_DBM0, KR_CALL_WAITING),
        // Dial tone (350 + 440 Hz) and busy (480 + 620 Hz, 0.5 / 0.5) are North America's.
        _ => north_america(kind),
    }
}

// ---- United Kingdom (BT SIN 350) ----------------------------------------------------------------
// Frequencies and cadences are SIN 350's. We have no copy of SIN 350's level table: the levels are
// those of vendor UK profiles (e.g. Zyxel's IES-1248 UK profile: ringing and busy -18 dB, dial
// -22 dB), i.e. common practice.
const UK_DIAL_HZ: [f32; 2] = [350.0, 450.0];
const UK_RINGBACK_HZ: [f32; 2] = [400.0, 450.0];
const UK_SINGLE_HZ: [f32; 2] = [400.0, 0.0];
const UK_DIAL_DBM0: f32 = -22.0;
const UK_LEVEL_DBM0: f32 = -18.0;
// The double ring: 0.4 on, 0.2 off, 0.4 on, 2.0 off.
const UK_RINGBACK: &[CadenceStep] = &[CadenceStep::new(400, 200), CadenceStep::new(400, 2000)];
const UK_BUSY: &[CadenceStep] = &[CadenceStep::new(375, 375)];
// "Beep-bip": 0.4 on, 0.35 off, 0.225 on, 0.525 off.
const UK_CONGESTION: &[CadenceStep] = &[CadenceStep::new(400, 350), CadenceStep::new(225, 525)];
const UK_CALL_WAITING: &[CadenceStep] = &[CadenceStep::new(100, 4000)];

fn united_kingdom(kind: ToneKind) -> ToneSpec {
    match kind {
        ToneKind::Ringback => spec(UK_RINGBACK_HZ, UK_LEVEL_DBM0, UK_RINGBACK),
        ToneKind::Busy => spec(UK_SINGLE_HZ, UK_LEVEL_DBM0, UK_BUSY),
        ToneKind::Congestion => spec(UK_SINGLE_HZ, UK_LEVEL_DBM0, UK_CONGESTION),
        ToneKind::CallWaiting => spec(UK_SINGLE_HZ, UK_LEVEL_DBM0, UK_CALL_WAITING),
        _ => spec(UK_DIAL_HZ, UK_DIAL_DBM0, CONTINUOUS),
    }
}

// ---- Europe (ETSI ES 201 970, common CEPT plan) -------------------------------------------------
// 425 Hz throughout. Level: -20 dBm0, the ETSI guide's busy-tone level, used for every tone here.
// Congestion: 0.25/0.25 as in ES 201 970; 3GPP TS 22.001 Annex F (and handsets following it) play
// 0.2/0.2, which the detector's ±50 ms tolerance also accepts.
const EU_HZ: [f32; 2] = [425.0, 0.0];
const EU_LEVEL_DBM0: f32 = -20.0;
const EU_RINGBACK: &[CadenceStep] = &[CadenceStep::new(1000, 4000)];
const EU_BUSY: &[CadenceStep] = &[CadenceStep::new(500, 500)];
const EU_CONGESTION: &[CadenceStep] = &[CadenceStep::new(250, 250)];
// CEPT call waiting as in 3GPP TS 22.001 Annex F: 0.2 on, 0.6 off, 0.2 on, 3 s off.
const EU_CALL_WAITING: &[CadenceStep] = &[CadenceStep::new(200, 600), CadenceStep::new(200, 3000)];

fn europe(kind: ToneKind) -> ToneSpec {
    let cadence = match kind {
        ToneKind::Ringback => EU_RINGBACK,
        ToneKind::Busy => EU_BUSY,
        ToneKind::Congestion => EU_CONGESTION,
        ToneKind::CallWaiting => EU_CALL_WAITING,
        _ => CONTINUOUS,
    };
    spec(EU_HZ, EU_LEVEL_DBM0, cadence)
}

// ---- Special information tones ------------------------------------------------------------------
// North America (ANSI T1.401): three segments, 913.8 / 1370.6 / 1776.7 Hz for 274 / 274 / 380 ms,
// no gaps, played once before the announcement. (These are the low first and second frequencies
// with short, short, long segments; other SIT codes use 985.2 and 1428.5 Hz.) The level -24 dBm0 is
// common practice.
const US_SIT_STEPS: &[CadenceStep] = &[
    CadenceStep::with_freqs(274, 0, [913.8, 0.0]),
    CadenceStep::with_freqs(274, 0, [1370.6, 0.0]),
    CadenceStep::with_freqs(380, 0, [1776.7, 0.0]),
];
const US_SIT: ToneSpec = ToneSpec {
    freqs_hz: [913.8, 0.0],
    level_dbm0: -24.0,
    cadence: US_SIT_STEPS,
    repeat: false,
};

// Everywhere else, ITU-T E.180 / Q.35's SIT: 950 / 1400 / 1800 Hz, 330 ms each (spec: ±70 ms,
// gaps up to 30 ms), then 1 s of silence, repeated. Level -24 dBm0 as above (common practice).
const ITU_SIT_STEPS: &[CadenceStep] = &[
    CadenceStep::with_freqs(330, 0, [950.0, 0.0]),
    CadenceStep::with_freqs(330, 0, [1400.0, 0.0]),
    CadenceStep::with_freqs(330, 1000, [1800.0, 0.0]),
];
const ITU_SIT: ToneSpec = ToneSpec {
    freqs_hz: [950.0, 0.0],
    level_dbm0: -24.0,
    cadence: ITU_SIT_STEPS,
    repeat: true,
};

// ---- The record beep ----------------------------------------------------------------------------
// 1400 Hz, the frequency ITU-T E.180 gives the recording tone (and the North American record tone),
// rather than 1000 Hz, which sits next to the 1004 Hz test tone that line-test equipment listens
// for. 250 ms once, at -13 dBm0 (common practice: audible, well below overload).
const BEEP_STEPS: &[CadenceStep] = &[CadenceStep::new(250, 0)];
const BEEP: ToneSpec = ToneSpec {
    freqs_hz: [1400.0, 0.0],
    level_dbm0: -13.0,
    cadence: BEEP_STEPS,
    repeat: false,
};

// ---- Fax (ITU-T T.30, V.25, V.8) ------------------------------------------------------------------
// CNG: 1100 Hz (±38 Hz), 0.5 s on, 3 s off (T.30, ±15 %). CED: 2100 Hz (±15 Hz) for 2.6 to 4 s
// (T.30); we play V.25's nominal 3.3 s, once. Level -13 dBm0 for both: common practice for data
// tones, which keep below about -9 dBm0 on the line.
const CNG_STEPS: &[CadenceStep] = &[CadenceStep::new(500, 3000)];
const CNG: ToneSpec = spec([1100.0, 0.0], -13.0, CNG_STEPS);
const CED_STEPS: &[CadenceStep] = &[CadenceStep::new(3300, 0)];
const CED: ToneSpec = ToneSpec {
    freqs_hz: [2100.0, 0.0],
    level_dbm0: -13.0,
    cadence: CED_STEPS,
    repeat: false,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn country_codes_parse_case_insensitively() {
        for country in Country::ALL {
            assert_eq!(Country::from_code(country.code()), Ok(country));
            assert_eq!(Country::from_code(&country.code().to_uppercase()), Ok(country));
        }
        assert_eq!(Country::from_code("GB"), Ok(Country::Uk));
        let error = Country::from_code("fr").unwrap_err();
        assert_eq!(error, ToneError::UnknownCountry { code: "fr".into() });
        assert!(error.to_string().contains("'fr'"));
    }

    #[test]
    fn the_brief_figures_are_the_tables_figures() {
        let busy = tone(Country::Cn, ToneKind::Busy);
        assert_eq!(
            (busy.freqs_hz, busy.cadence),
            ([450.0, 0.0], &[CadenceStep::new(350, 350)][..])
        );
        let ringback = tone(Country::Us, ToneKind::Ringback);
        assert_eq!(ringback.freqs_hz, [440.0, 480.0]);
        assert_eq!(ringback.cycle_ms(), 6000);
        assert_eq!(tone(Country::Uk, ToneKind::Dial).freqs_hz, [350.0, 450.0]);
        assert_eq!(tone(Country::Uk, ToneKind::Ringback).cycle_ms(), 3000);
        assert_eq!(tone(Country::Uk, ToneKind::Congestion).cycle_ms(), 1500);
        assert_eq!(
            tone(Country::Eu, ToneKind::Congestion).cadence,
            &[CadenceStep::new(250, 250)][..]
        );
        // Korea, as the ITU's list of national tones has it.
        let korea = |kind| {
            let spec = tone(Country::Kr, kind);
            (spec.freqs_hz, spec.cadence)
        };
        assert_eq!(korea(ToneKind::Dial), ([350.0, 440.0], &[][..]));
        assert_eq!(
            korea(ToneKind::Ringback),
            ([440.0, 480.0], &[CadenceStep::new(1000, 2000)][..])
        );
        assert_eq!(
            korea(ToneKind::Busy),
            ([480.0, 620.0], &[CadenceStep::new(500, 500)][..])
        );
        assert_eq!(
            korea(ToneKind::Congestion),
            ([480.0, 620.0], &[CadenceStep::new(300, 200)][..])
        );
        assert_eq!(
            korea(ToneKind::CallWaiting),
            (
                [350.0, 440.0],
                &[CadenceStep::new(250, 250), CadenceStep::new(250, 3250)][..]
            )
        );
        let sit = tone(Country::Us, ToneKind::Sit);
        assert_eq!(sit.step_freqs_hz(2), [1776.7, 0.0]);
        assert!(!sit.repeat);
    }

    #[test]
    fn every_tone_is_playable() {
        // Frequencies inside the telephone band, levels that cannot clip, bounded cadences.
        let all_specs = Country::ALL
            .iter()
            .flat_map(|&country| ToneKind::ALL.iter().map(move |&kind| tone(country, kind)))
            .chain([FaxTone::Cng, FaxTone::Ced, FaxTone::Ansam].map(fax_tone));
        for spec in all_specs {
            assert!((-50.0..=-3.0).contains(&spec.level_dbm0), "{spec:?}");
            let steps = spec.cadence.len().max(1);
            for index in 0..steps {
                let [first, second] = spec.step_freqs_hz(index);
                assert!((300.0..3400.0).contains(&first), "{spec:?}");
                assert!(second == 0.0 || (300.0..3400.0).contains(&second), "{spec:?}");
            }
            assert!(spec
                .cadence
                .iter()
                .all(|step| step.on_ms > 0 && step.on_ms <= 10_000));
        }
    }
}
