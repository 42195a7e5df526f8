//! Saying values aloud: digit strings, whole numbers, amounts of money, dates and times, turned into
//! the sequence of prompt names (`say-*` fragments in `voice/<lang>/`) a flow plays one after another.
//!
//! Each language has its own number grammar, so each has its own small set of functions here; they
//! share only the plumbing. Everything is a pure function of its arguments. These run when a flow
//! state starts, not per 20 ms block, so they allocate freely; every input is bounded
//! ([`MAX_SAY_NUMBER`], [`MAX_SAY_DIGITS`], [`MIN_SAY_YEAR`]..=[`MAX_SAY_YEAR`]), so every output is
//! too (a few dozen names at most).
//!
//! Grammar choices (each has a row in tests/say.rs):
//!
//! - **English** is US style: no "and" inside numbers (1,205 is "one thousand two hundred five"),
//!   because US IVRs and cheque writing omit it and a shorter phrase is clearer on a phone line;
//!   "and" appears only between dollars and cents. Years are said in pairs ("nineteen ninety
//!   nine", "nineteen oh five", "nineteen hundred") except 2000–2009 style years ("two thousand
//!   five"). Times are 12-hour: "nine o'clock A.M." on the hour (a lone "nine" is easily lost on a
//!   noisy line), "nine oh five A.M.", "nine thirty P.M."; midnight is "twelve o'clock A.M.".
//!   Dates: "Tuesday, March fifth, twenty twenty four".
//! - **Mandarin** groups by 4 digits (万, 亿). 十 stands alone only at the very start (10 → 十,
//!   15 → 十五, 100,000 → 十万) and is 一十 elsewhere (110 → 一百一十). Zeros follow the school rule:
//!   zeros at the end of a 4-digit group are silent, any other run of zeros is one 零 (1,005 →
//!   一千零五, 10,010 → 一万零一十, 100,000,005 → 一亿零五, 10,001,000 → 一千万一千). 2 is 两 as
//!   common speech has it: always before 千 (2,000 → 两千, 12,000 → 一万两千), before 百 only as the
//!   first word (200 → 两百, 2,000,000 → 两百万, but 1,205 → 一千二百零五), and when it alone
//!   multiplies 万 or 亿 (20,000 → 两万, but 220,000 → 二十二万); before 十 and as a units digit it
//!   is 二 (22 → 二十二). A quantity of exactly 2 before a measure word is 两 too (两元, 两角, 两分,
//!   两点). Money: 元/角/分 (12.35 → 十二元三角五分, 12.05 → 十二元零五分,
//!   12.00 → 十二元整, 0.05 → 五分, 0.00 → 零元). Dates: the year digit by digit (二零二四年), then
//!   month and day as numbers (三月五日, 日 rather than the colloquial 号 because announcements use
//!   it), then 星期二. Times: 上午/下午 + 12-hour (两点, 十二点) + 点; minutes with a leading 零
//!   below 10 (九点零五分), 整 on the hour (九点整).
//! - **Korean** uses Sino-Korean numerals grouped by 4 digits (만, 억), with no word for internal
//!   zeros (1,205 → 천이백오, 100,000,005 → 일억오). 일 is dropped before 십, 백, 천 and 만 (10 → 십,
//!   10,000 → 만, 11,000 → 만천) but kept before 억 (일억), as Koreans say them. 0 alone is 영; in digit
//!   strings 0 is 공, as in phone numbers. Money: the won, with jeon (1/100 won) said only when
//!   nonzero (12.05 → 십이 원 오 전, 12.00 → 십이 원); ISO 4217 gives the won no minor unit, so a
//!   caller holding whole won passes `won * 100`. Dates: 년, then whole-word months (because 6월 and
//!   10월 are 유월 and 시월), 일, weekday. Times: 오전/오후, native-numeral hours (한 시 … 열두 시),
//!   then Sino-Korean minutes (분), nothing for zero minutes.
//! - **Digit strings**: 0-9, `*`, `#`. Mandarin says 1 as 幺 (yāo), as Chinese operators read
//!   phone and account numbers, so it is not confused with 七; Korean says 0 as 공.
//! - **Out of range**: a whole number beyond ±[`MAX_SAY_NUMBER`] (and so an amount of money beyond
//!   it in major units) is said digit by digit, which is never wrong, rather than refused.
//! - Weekdays are numbered 0 = Sunday … 6 = Saturday (C's `tm_wday`); a weekday that does not
//!   match the date is refused, since saying a wrong one is worse than saying none.

use chrono::{Datelike, NaiveDate};

/// Largest magnitude said as a number; beyond it numbers are said digit by digit.
pub const MAX_SAY_NUMBER: i64 = 999_999_999_999;
/// Longest digit string [`say_digits`] accepts (the longest DTMF entry a flow collects is 64).
pub const MAX_SAY_DIGITS: usize = 64;
/// Earliest year [`say_date`] says.
pub const MIN_SAY_YEAR: i32 = 1;
/// Latest year [`say_date`] says: English pairs and Mandarin digit-by-digit years assume 4 digits.
pub const MAX_SAY_YEAR: i32 = 9999;

/// Everything that can be wrong with a value to say. Every variant names the value and the limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SayError {
    #[error("unknown language '{0}' for saying values: expected en, zh or ko")]
    UnknownLanguage(String),
    #[error("cannot say '{ch}' (position {position}) as a digit: only 0-9, * and # can be said")]
    InvalidDigit { ch: char, position: usize },
    #[error("digit string is longer than {MAX_SAY_DIGITS} characters (MAX_SAY_DIGITS)")]
    TooManyDigits,
    #[error("year {0} is outside {MIN_SAY_YEAR}..={MAX_SAY_YEAR}")]
    Year(i32),
    #[error("{year}-{month:02}-{day:02} is not a date")]
    Date { year: i32, month: u8, day: u8 },
    #[error("weekday {0} is outside 0..=6 (0 = Sunday)")]
    Weekday(u8),
    #[error("{year}-{month:02}-{day:02} is weekday {actual} (0 = Sunday), not {given}")]
    WeekdayMismatch {
        year: i32,
        month: u8,
        day: u8,
        given: u8,
        actual: u8,
    },
    #[error("time {hour}:{minute:02} is outside 0:00..=23:59")]
    Time { hour: u8, minute: u8 },
}

/// A language with its own number grammar; the code is its `voice/` directory name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    En,
    Zh,
    Ko,
}

impl Language {
    /// Every language this module can say values in.
    pub const ALL: [Language; 3] = [Language::En, Language::Zh, Language::Ko];

    /// The language for a `voice/` directory name: "en", "zh" or "ko".
    pub fn from_code(code: &str) -> Result<Language, SayError> {
        match code {
            "en" => Ok(Language::En),
            "zh" => Ok(Language::Zh),
            "ko" => Ok(Language::Ko),
            other => Err(SayError::UnknownLanguage(other.to_owned())),
        }
    }

    /// The `voice/` directory name.
    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Zh => "zh",
            Language::Ko => "ko",
        }
    }
}

/// The prompt names said so far; every function here appends to one.
type Names = Vec<String>;

fn push(out: &mut Names, name: &str) {
    out.push(name.to_owned());
}

/// `say-<n>`: the fragment for a numeral (0-19 and tens in English, 0-10 in Mandarin, 0-9 in Korean).
fn push_numeral(out: &mut Names, n: u64) {
    out.push(format!("say-{n}"));
}

/// Decimal digits of `n`, most significant first.
fn decimal_digits(n: u64) -> Vec<u8> {
    n.to_string().bytes().map(|b| b - b'0').collect()
}

/// Say each character of `digits` (0-9, `*`, `#`), e.g. an account number or the keys a caller
/// pressed.
pub fn say_digits(lang: Language, digits: &str) -> Result<Vec<String>, SayError> {
    let mut out = Names::new();
    for (position, ch) in digits.chars().enumerate() {
        if position >= MAX_SAY_DIGITS {
            return Err(SayError::TooManyDigits);
        }
        match ch {
            '0'..='9' => push_digit(&mut out, lang, ch.to_digit(10).map_or(0, |d| d as u8)),
            '*' => push(&mut out, "say-star"),
            '#' => push(&mut out, "say-pound"),
            _ => return Err(SayError::InvalidDigit { ch, position }),
        }
    }
    Ok(out)
}

/// One digit of a digit string: 幺 for a Mandarin 1 and 공 for a Korean 0 (see the module doc).
fn push_digit(out: &mut Names, lang: Language, digit: u8) {
    match (lang, digit) {
        (Language::Zh, 1) => push(out, "say-yao"),
        (Language::Ko, 0) => push(out, "say-gong"),
        _ => push_numeral(out, u64::from(digit)),
    }
}

/// Say a whole number. Magnitudes up to [`MAX_SAY_NUMBER`] follow the language's number grammar;
/// larger ones are said digit by digit after the minus word.
pub fn say_number(lang: Language, n: i64) -> Vec<String> {
    let mut out = Names::new();
    if n < 0 {
        push(&mut out, minus_word(lang));
    }
    push_magnitude(&mut out, lang, n.unsigned_abs());
    out
}

fn minus_word(lang: Language) -> &'static str {
    match lang {
        Language::En => "say-minus",
        Language::Zh => "say-fu",
        Language::Ko => "say-maineoseu",
    }
}

/// A non-negative number in the language's grammar, or digit by digit beyond the range.
fn push_magnitude(out: &mut Names, lang: Language, n: u64) {
    if n > MAX_SAY_NUMBER.unsigned_abs() {
        for digit in decimal_digits(n) {
            push_digit(out, lang, digit);
        }
        return;
    }
    match lang {
        Language::En => en_number(out, n),
        Language::Zh => zh_number(out, n),
        Language::Ko => ko_number(out, n),
    }
}

/// Say an amount of money given in minor units (cents, fen, jeon: 1/100 of the main unit).
pub fn say_money(lang: Language, minor_units: i64) -> Vec<String> {
    let mut out = Names::new();
    if minor_units < 0 {
        push(&mut out, minus_word(lang));
    }
    let magnitude = minor_units.unsigned_abs();
    let (major, minor) = (magnitude / 100, magnitude % 100);
    match lang {
        Language::En => en_money(&mut out, major, minor),
        Language::Zh => zh_money(&mut out, major, minor),
        Language::Ko => ko_money(&mut out, major, minor),
    }
    out
}

/// Say a date; `weekday` (0 = Sunday … 6 = Saturday), if given, is said too and must match.
pub fn say_date(
    lang: Language,
    year: i32,
    month: u8,
    day: u8,
    weekday: Option<u8>,
) -> Result<Vec<String>, SayError> {
    check_date(year, month, day, weekday)?;
    let mut out = Names::new();
    match lang {
        Language::En => en_date(&mut out, year, month, day, weekday),
        Language::Zh => zh_date(&mut out, year, month, day, weekday),
        Language::Ko => ko_date(&mut out, year, month, day, weekday),
    }
    Ok(out)
}

/// The year is in range, the date exists (leap years included) and the weekday, if any, is its own.
fn check_date(year: i32, month: u8, day: u8, weekday: Option<u8>) -> Result<(), SayError> {
    if !(MIN_SAY_YEAR..=MAX_SAY_YEAR).contains(&year) {
        return Err(SayError::Year(year));
    }
    let date = NaiveDate::from_ymd_opt(year, u32::from(month), u32::from(day)).ok_or(SayError::Date {
        year,
        month,
        day,
    })?;
    let Some(given) = weekday else {
        return Ok(());
    };
    if given > 6 {
        return Err(SayError::Weekday(given));
    }
    // num_days_from_sunday() is 0..=6, so the narrowing cannot fail.
    let actual = u8::try_from(date.weekday().num_days_from_sunday()).unwrap_or(u8::MAX);
    if given != actual {
        return Err(SayError::WeekdayMismatch {
            year,
            month,
            day,
            given,
            actual,
        });
    }
    Ok(())
}

/// Say a time of day (24-hour input), in the 12-hour form each language speaks.
pub fn say_time(lang: Language, hour: u8, minute: u8) -> Result<Vec<String>, SayError> {
    if hour > 23 || minute > 59 {
        return Err(SayError::Time { hour, minute });
    }
    let mut out = Names::new();
    let afternoon = hour >= 12;
    // 0:xx and 12:xx are both "twelve" on a 12-hour clock.
    let hour12 = match hour % 12 {
        0 => 12,
        h => u64::from(h),
    };
    let minute = u64::from(minute);
    match lang {
        Language::En => en_time(&mut out, hour12, minute, afternoon),
        Language::Zh => zh_time(&mut out, hour12, minute, afternoon),
        Language::Ko => ko_time(&mut out, hour12, minute, afternoon),
    }
    Ok(out)
}

/// Every fragment name the functions here can emit for `lang`, so a flow loader can check the
/// prompt set is complete before a call needs it.
pub fn required_prompts(lang: Language) -> Vec<String> {
    let mut out = Names::new();
    let numbered = |out: &mut Names, prefix: &str, range: std::ops::RangeInclusive<u64>| {
        out.extend(range.map(|n| format!("{prefix}{n}")));
    };
    match lang {
        Language::En => {
            numbered(&mut out, "say-", 0..=19);
            out.extend((2..=9).map(|tens| format!("say-{}", tens * 10)));
            numbered(&mut out, "say-month-", 1..=12);
            numbered(&mut out, "say-day-", 0..=6);
            numbered(&mut out, "say-ord-", 1..=31);
            out.extend(EN_WORDS.iter().map(|&w| w.to_owned()));
        }
        Language::Zh => {
            numbered(&mut out, "say-", 0..=10);
            numbered(&mut out, "say-day-", 0..=6);
            out.extend(ZH_WORDS.iter().map(|&w| w.to_owned()));
        }
        Language::Ko => {
            numbered(&mut out, "say-", 0..=9);
            numbered(&mut out, "say-month-", 1..=12);
            numbered(&mut out, "say-day-", 0..=6);
            numbered(&mut out, "say-hour-", 1..=12);
            out.extend(KO_WORDS.iter().map(|&w| w.to_owned()));
        }
    }
    out
}

/// The English fragments that are not numbered families.
const EN_WORDS: &[&str] = &[
    "say-hundred",
    "say-thousand",
    "say-million",
    "say-billion",
    "say-minus",
    "say-dollar",
    "say-dollars",
    "say-cent",
    "say-cents",
    "say-and",
    "say-am",
    "say-pm",
    "say-oclock",
    "say-o",
    "say-star",
    "say-pound",
];

/// The Mandarin fragments that are not numbered families.
const ZH_WORDS: &[&str] = &[
    "say-liang",
    "say-yao",
    "say-bai",
    "say-qian",
    "say-wan",
    "say-yi",
    "say-fu",
    "say-yuan",
    "say-jiao",
    "say-fen",
    "say-zheng",
    "say-nian",
    "say-yue",
    "say-ri",
    "say-shangwu",
    "say-xiawu",
    "say-dian",
    "say-star",
    "say-pound",
];

/// The Korean fragments that are not numbered families.
const KO_WORDS: &[&str] = &[
    "say-gong",
    "say-sip",
    "say-baek",
    "say-cheon",
    "say-man",
    "say-eok",
    "say-maineoseu",
    "say-won",
    "say-jeon",
    "say-nyeon",
    "say-il-date",
    "say-ojeon",
    "say-ohu",
    "say-si",
    "say-bun",
    "say-star",
    "say-pound",
];

// ---- English ------------------------------------------------------------------------------------

/// The three-digit groups above the units, largest first, with their scale words.
const EN_SCALES: [(u64, &str); 3] = [
    (1_000_000_000, "say-billion"),
    (1_000_000, "say-million"),
    (1_000, "say-thousand"),
];

/// 0..=MAX_SAY_NUMBER in US English: three-digit groups, each followed by its scale word.
fn en_number(out: &mut Names, n: u64) {
    if n == 0 {
        push_numeral(out, 0);
        return;
    }
    for (scale, word) in EN_SCALES {
        let group = (n / scale) % 1000;
        if group > 0 {
            en_below_1000(out, group);
            push(out, word);
        }
    }
    if n % 1000 > 0 {
        en_below_1000(out, n % 1000);
    }
}

/// 1..=999: "two hundred five" (no "and": US style).
fn en_below_1000(out: &mut Names, n: u64) {
    debug_assert!((1..1000).contains(&n));
    if n >= 100 {
        push_numeral(out, n / 100);
        push(out, "say-hundred");
    }
    if n % 100 > 0 {
        en_below_100(out, n % 100);
    }
}

/// 1..=99: the teens are single words, above them a tens word and a units word.
fn en_below_100(out: &mut Names, n: u64) {
    debug_assert!((1..100).contains(&n));
    if n < 20 {
        push_numeral(out, n);
        return;
    }
    push_numeral(out, n / 10 * 10);
    if n % 10 > 0 {
        push_numeral(out, n % 10);
    }
}

/// "twelve dollars and five cents", "one dollar", "five cents", "zero dollars".
fn en_money(out: &mut Names, dollars: u64, cents: u64) {
    if dollars > 0 || cents == 0 {
        push_magnitude(out, Language::En, dollars);
        push(out, if dollars == 1 { "say-dollar" } else { "say-dollars" });
    }
    if dollars > 0 && cents > 0 {
        push(out, "say-and");
    }
    if cents > 0 {
        en_below_100(out, cents);
        push(out, if cents == 1 { "say-cent" } else { "say-cents" });
    }
}

/// "Tuesday, March fifth, twenty twenty four".
fn en_date(out: &mut Names, year: i32, month: u8, day: u8, weekday: Option<u8>) {
    if let Some(weekday) = weekday {
        out.push(format!("say-day-{weekday}"));
    }
    out.push(format!("say-month-{month}"));
    out.push(format!("say-ord-{day}"));
    // check_date bounds the year to 1..=9999.
    en_year(out, u64::try_from(year).unwrap_or(0));
}

/// Years as Americans say them: in pairs ("nineteen ninety nine", "nineteen oh five", "nineteen
/// hundred"), except that x000-x009 are whole numbers ("two thousand five") and so are years
/// before 1000.
fn en_year(out: &mut Names, year: u64) {
    let (high, low) = (year / 100, year % 100);
    if year < 1000 || year % 1000 < 10 {
        en_number(out, year);
        return;
    }
    en_below_100(out, high);
    match low {
        0 => push(out, "say-hundred"),
        1..=9 => {
            push(out, "say-o");
            push_numeral(out, low);
        }
        _ => en_below_100(out, low),
    }
}

/// "nine o'clock A.M.", "nine oh five A.M.", "nine thirty P.M.".
fn en_time(out: &mut Names, hour12: u64, minute: u64, afternoon: bool) {
    push_numeral(out, hour12);
    match minute {
        0 => push(out, "say-oclock"),
        1..=9 => {
            push(out, "say-o");
            push_numeral(out, minute);
        }
        _ => en_below_100(out, minute),
    }
    push(out, if afternoon { "say-pm" } else { "say-am" });
}

// ---- Mandarin -----------------------------------------------------------------------------------

/// Positional unit words inside a 4-digit group: 千, 百, 十, (units).
const ZH_GROUP_UNITS: [Option<&str>; 4] = [Some("say-qian"), Some("say-bai"), Some("say-10"), None];

/// Where a Mandarin number stands while it is being said.
#[derive(Default)]
struct ZhState {
    /// Something has been said already (so 十 needs its 一, and zeros may need a 零).
    started: bool,
    /// A run of zeros that must be read as one 零 before the next nonzero digit.
    zero_pending: bool,
}

/// 0..=MAX_SAY_NUMBER in Mandarin: 4-digit groups for 亿, 万 and the units.
fn zh_number(out: &mut Names, n: u64) {
    if n == 0 {
        push_numeral(out, 0);
        return;
    }
    let groups = [
        (n / 100_000_000, Some("say-yi")),
        (n / 10_000 % 10_000, Some("say-wan")),
        (n % 10_000, None),
    ];
    let mut state = ZhState::default();
    for (group, unit) in groups {
        if group == 0 {
            // A whole silent group between said ones is a gap: 一亿零一千 for 100,001,000.
            state.zero_pending |= state.started;
            continue;
        }
        zh_group(out, group, unit.is_some(), &mut state);
        if let Some(unit) = unit {
            push(out, unit);
        }
    }
}

/// One 4-digit group, 1..=9999. `has_unit`: the group is followed by 万 or 亿.
fn zh_group(out: &mut Names, group: u64, has_unit: bool, state: &mut ZhState) {
    debug_assert!((1..10_000).contains(&group));
    let digits = [group / 1000, group / 100 % 10, group / 10 % 10, group % 10];
    // Zeros after the group's last nonzero digit are silent (一千万, not 一千万零).
    let last_nonzero = digits.iter().rposition(|&d| d != 0).unwrap_or(0);
    for (position, (&digit, unit)) in digits.iter().zip(ZH_GROUP_UNITS).enumerate() {
        if digit == 0 {
            state.zero_pending |= state.started && position < last_nonzero;
            continue;
        }
        if state.zero_pending {
            push_numeral(out, 0);
            state.zero_pending = false;
        }
        zh_digit(out, digit, unit, group == 2 && has_unit, state.started);
        if let Some(unit) = unit {
            push(out, unit);
        }
        state.started = true;
    }
}

/// One nonzero digit before its positional `unit`: the 一 of a leading 十 is dropped, and 2 is 两
/// before 千, before 百 as the first word, or when it alone multiplies 万 or 亿
/// (`lone_before_big_unit`).
fn zh_digit(out: &mut Names, digit: u64, unit: Option<&str>, lone_before_big_unit: bool, started: bool) {
    if digit == 1 && unit == Some("say-10") && !started {
        return;
    }
    let liang_position = match unit {
        Some("say-qian") => true,
        Some("say-bai") => !started,
        _ => lone_before_big_unit,
    };
    if digit == 2 && liang_position {
        push(out, "say-liang");
    } else {
        push_numeral(out, digit);
    }
}

/// A quantity before a measure word (元, 角, 分, 点): exactly 2 is 两, anything else a number.
fn zh_count(out: &mut Names, n: u64) {
    if n == 2 {
        push(out, "say-liang");
    } else {
        push_magnitude(out, Language::Zh, n);
    }
}

/// 元/角/分: "十二元三角五分", "十二元零五分", "十二元整", "五分", "零元".
fn zh_money(out: &mut Names, yuan: u64, fen_total: u64) {
    let (jiao, fen) = (fen_total / 10, fen_total % 10);
    if yuan > 0 || fen_total == 0 {
        zh_count(out, yuan);
        push(out, "say-yuan");
    }
    if fen_total == 0 {
        // 整 ("exactly") closes a whole amount, as on receipts; 零元 needs no closing.
        if yuan > 0 {
            push(out, "say-zheng");
        }
        return;
    }
    if jiao > 0 {
        zh_count(out, jiao);
        push(out, "say-jiao");
    } else if yuan > 0 {
        // The skipped 角 is a gap, read as 零 like any internal zero.
        push_numeral(out, 0);
    }
    if fen > 0 {
        zh_count(out, fen);
        push(out, "say-fen");
    }
}

/// "二零二四年三月五日星期二".
fn zh_date(out: &mut Names, year: i32, month: u8, day: u8, weekday: Option<u8>) {
    // Years are read digit by digit with 零 for 0 (二零零五年), never 幺.
    for digit in decimal_digits(u64::try_from(year).unwrap_or(0)) {
        push_numeral(out, u64::from(digit));
    }
    push(out, "say-nian");
    zh_number(out, u64::from(month));
    push(out, "say-yue");
    zh_number(out, u64::from(day));
    push(out, "say-ri");
    if let Some(weekday) = weekday {
        out.push(format!("say-day-{weekday}"));
    }
}

/// "上午九点整", "下午两点零五分", "上午九点十五分".
fn zh_time(out: &mut Names, hour12: u64, minute: u64, afternoon: bool) {
    push(out, if afternoon { "say-xiawu" } else { "say-shangwu" });
    zh_count(out, hour12);
    push(out, "say-dian");
    if minute == 0 {
        push(out, "say-zheng");
        return;
    }
    if minute < 10 {
        // Read like the clock face: 九点零五分 (and 零二分, a digit, not 两).
        push_numeral(out, 0);
        push_numeral(out, minute);
    } else {
        zh_number(out, minute);
    }
    push(out, "say-fen");
}

// ---- Korean -------------------------------------------------------------------------------------

/// Positional unit words inside a 4-digit group: 천, 백, 십, (units).
const KO_GROUP_UNITS: [Option<&str>; 4] = [Some("say-cheon"), Some("say-baek"), Some("say-sip"), None];

/// 0..=MAX_SAY_NUMBER in Sino-Korean: 4-digit groups for 억, 만 and the units, no word for zeros.
fn ko_number(out: &mut Names, n: u64) {
    if n == 0 {
        push_numeral(out, 0);
        return;
    }
    let groups = [
        (n / 100_000_000, Some("say-eok")),
        (n / 10_000 % 10_000, Some("say-man")),
        (n % 10_000, None),
    ];
    for (group, unit) in groups {
        if group == 0 {
            continue;
        }
        // 10,000 is 만, not 일만; 억 keeps its 일 (일억).
        if !(group == 1 && unit == Some("say-man")) {
            ko_group(out, group);
        }
        if let Some(unit) = unit {
            push(out, unit);
        }
    }
}

/// One 4-digit group, 1..=9999: 일 is dropped before 십, 백 and 천.
fn ko_group(out: &mut Names, group: u64) {
    debug_assert!((1..10_000).contains(&group));
    let digits = [group / 1000, group / 100 % 10, group / 10 % 10, group % 10];
    for (&digit, unit) in digits.iter().zip(KO_GROUP_UNITS) {
        if digit == 0 {
            continue;
        }
        if digit != 1 || unit.is_none() {
            push_numeral(out, digit);
        }
        if let Some(unit) = unit {
            push(out, unit);
        }
    }
}

/// "십이 원 오 전", "십이 원", "오 전", "영 원": jeon only when nonzero.
fn ko_money(out: &mut Names, won: u64, jeon: u64) {
    if won > 0 || jeon == 0 {
        push_magnitude(out, Language::Ko, won);
        push(out, "say-won");
    }
    if jeon > 0 {
        ko_number(out, jeon);
        push(out, "say-jeon");
    }
}

/// "이천이십사 년 삼월 오 일 화요일".
fn ko_date(out: &mut Names, year: i32, month: u8, day: u8, weekday: Option<u8>) {
    ko_number(out, u64::try_from(year).unwrap_or(0));
    push(out, "say-nyeon");
    out.push(format!("say-month-{month}"));
    ko_number(out, u64::from(day));
    push(out, "say-il-date");
    if let Some(weekday) = weekday {
        out.push(format!("say-day-{weekday}"));
    }
}

/// "오전 아홉 시 오 분", "오후 열두 시".
fn ko_time(out: &mut Names, hour12: u64, minute: u64, afternoon: bool) {
    push(out, if afternoon { "say-ohu" } else { "say-ojeon" });
    out.push(format!("say-hour-{hour12}"));
    push(out, "say-si");
    if minute > 0 {
        ko_number(out, minute);
        push(out, "say-bun");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|&s| s.to_owned()).collect()
    }

    #[test]
    fn language_codes_round_trip() {
        for lang in Language::ALL {
            assert_eq!(Language::from_code(lang.code()), Ok(lang));
        }
        assert_eq!(
            Language::from_code("fr"),
            Err(SayError::UnknownLanguage("fr".to_owned()))
        );
    }

    #[test]
    fn required_prompts_have_no_duplicates() {
        for lang in Language::ALL {
            let mut list = required_prompts(lang);
            let len = list.len();
            list.sort();
            list.dedup();
            assert_eq!(list.len(), len, "{lang:?}");
        }
    }

    #[test]
    fn out_of_range_numbers_are_said_digit_by_digit() {
        let said = say_number(Language::Ko, -1_000_000_000_000);
        let mut expected = names(&["say-maineoseu", "say-1"]);
        expected.extend((0..12).map(|_| "say-gong".to_owned()));
        assert_eq!(said, expected);
        // i64::MIN has no positive counterpart; unsigned_abs still says it.
        assert_eq!(say_number(Language::En, i64::MIN).len(), 1 + 19);
    }
}
