//! Saying values aloud (src/apps/say.rs): the grammar table in all three languages, written
//! out by hand; money, dates, times, digits and bounds; and properties over many random values —
//! every emitted name is a required prompt with a committed file, and Mandarin and Korean read back
//! to the number that was said.

use std::collections::BTreeSet;

use chrono::Datelike;
use std::path::PathBuf;

use telvox::apps::say::{
    required_prompts, say_date, say_digits, say_money, say_number, say_time, Language, SayError,
    MAX_SAY_DIGITS, MAX_SAY_NUMBER,
};
use telvox::voice::Voice;

use Language::{En, Ko, Zh};

/// Random values per language in the property tests.
const RANDOM_VALUES: usize = 10_000;

fn seq(names: &str) -> Vec<String> {
    names.split_whitespace().map(str::to_owned).collect()
}

/// Asserts `said` equals the space-separated `expected`, naming the input on failure.
#[track_caller]
fn check(said: Vec<String>, expected: &str, input: impl std::fmt::Debug) {
    assert_eq!(said, seq(expected), "saying {input:?}");
}

#[track_caller]
fn check_numbers(lang: Language, rows: &[(i64, &str)]) {
    for &(n, expected) in rows {
        check(say_number(lang, n), expected, (lang, n));
    }
}

#[test]
fn english_numbers() {
    check_numbers(
        En,
        &[
            (0, "say-0"),
            (7, "say-7"),
            (10, "say-10"),
            (11, "say-11"),
            (15, "say-15"),
            (19, "say-19"),
            (20, "say-20"),
            (21, "say-20 say-1"),
            (99, "say-90 say-9"),
            (100, "say-1 say-hundred"),
            (101, "say-1 say-hundred say-1"),
            (110, "say-1 say-hundred say-10"),
            (1_000, "say-1 say-thousand"),
            (1_005, "say-1 say-thousand say-5"),
            // US style: no "and".
            (1_205, "say-1 say-thousand say-2 say-hundred say-5"),
            (10_000, "say-10 say-thousand"),
            (1_000_000, "say-1 say-million"),
            (100_000_005, "say-1 say-hundred say-million say-5"),
            (2_000_013_000, "say-2 say-billion say-13 say-thousand"),
            (
                999_999_999_999,
                "say-9 say-hundred say-90 say-9 say-billion say-9 say-hundred say-90 say-9 say-million \
                 say-9 say-hundred say-90 say-9 say-thousand say-9 say-hundred say-90 say-9",
            ),
            (-1, "say-minus say-1"),
            (-42, "say-minus say-40 say-2"),
        ],
    );
}

#[test]
fn mandarin_numbers() {
    check_numbers(
        Zh,
        &[
            (0, "say-0"),
            (7, "say-7"),
            // 十, not 一十, at the start.
            (10, "say-10"),
            (11, "say-10 say-1"),
            (20, "say-2 say-10"),
            (22, "say-2 say-10 say-2"),
            (100, "say-1 say-bai"),
            (101, "say-1 say-bai say-0 say-1"),
            // 一十 inside a number.
            (110, "say-1 say-bai say-1 say-10"),
            (200, "say-liang say-bai"),
            (1_000, "say-1 say-qian"),
            (1_005, "say-1 say-qian say-0 say-5"),
            (1_205, "say-1 say-qian say-2 say-bai say-0 say-5"),
            (2_000, "say-liang say-qian"),
            (10_000, "say-1 say-wan"),
            (10_010, "say-1 say-wan say-0 say-1 say-10"),
            (12_000, "say-1 say-wan say-liang say-qian"),
            (20_000, "say-liang say-wan"),
            (100_000, "say-10 say-wan"),
            (100_005, "say-10 say-wan say-0 say-5"),
            (220_000, "say-2 say-10 say-2 say-wan"),
            (2_000_000, "say-liang say-bai say-wan"),
            // Zeros at the end of a 4-digit group are silent.
            (10_001_000, "say-1 say-qian say-wan say-1 say-qian"),
            (100_000_005, "say-1 say-yi say-0 say-5"),
            (100_001_000, "say-1 say-yi say-0 say-1 say-qian"),
            (200_000_000, "say-liang say-yi"),
            (1_000_000_000, "say-10 say-yi"),
            (
                999_999_999_999,
                "say-9 say-qian say-9 say-bai say-9 say-10 say-9 say-yi say-9 say-qian say-9 say-bai \
                 say-9 say-10 say-9 say-wan say-9 say-qian say-9 say-bai say-9 say-10 say-9",
            ),
            (-7, "say-fu say-7"),
            (-10, "say-fu say-10"),
        ],
    );
}

#[test]
fn korean_numbers() {
    check_numbers(
        Ko,
        &[
            (0, "say-0"),
            (7, "say-7"),
            // 십, not 일십; likewise 백, 천, 만.
            (10, "say-sip"),
            (11, "say-sip say-1"),
            (20, "say-2 say-sip"),
            (100, "say-baek"),
            (101, "say-baek say-1"),
            (110, "say-baek say-sip"),
            (1_000, "say-cheon"),
            (1_005, "say-cheon say-5"),
            (1_205, "say-cheon say-2 say-baek say-5"),
            (10_000, "say-man"),
            (11_000, "say-man say-cheon"),
            (110_000, "say-sip say-1 say-man"),
            // 억 keeps its 일.
            (100_000_000, "say-1 say-eok"),
            (100_000_005, "say-1 say-eok say-5"),
            (100_010_000, "say-1 say-eok say-man"),
            (
                999_999_999_999,
                "say-9 say-cheon say-9 say-baek say-9 say-sip say-9 say-eok say-9 say-cheon say-9 \
                 say-baek say-9 say-sip say-9 say-man say-9 say-cheon say-9 say-baek say-9 say-sip say-9",
            ),
            (-7, "say-maineoseu say-7"),
        ],
    );
}

#[test]
fn numbers_beyond_the_range_are_said_digit_by_digit() {
    let over = MAX_SAY_NUMBER + 1;
    check(
        say_number(En, over),
        "say-1 say-0 say-0 say-0 say-0 say-0 say-0 say-0 say-0 say-0 say-0 say-0 say-0",
        over,
    );
    check(
        say_number(Zh, -over - 10),
        "say-fu say-yao say-0 say-0 say-0 say-0 say-0 say-0 say-0 say-0 say-0 say-0 say-yao say-0",
        -over - 10,
    );
    let min_len = say_number(Ko, i64::MIN).len();
    assert_eq!(
        min_len,
        1 + "9223372036854775808".len(),
        "minus word and every digit"
    );
    // The last number in range still uses the grammar.
    assert_eq!(say_number(Ko, -MAX_SAY_NUMBER)[1], "say-9");
    assert_eq!(say_number(Ko, -MAX_SAY_NUMBER)[2], "say-cheon");
}

#[test]
fn money() {
    let rows: &[(Language, i64, &str)] = &[
        (En, 1_205, "say-12 say-dollars say-and say-5 say-cents"),
        (En, 1_200, "say-12 say-dollars"),
        (En, 100, "say-1 say-dollar"),
        (En, 101, "say-1 say-dollar say-and say-1 say-cent"),
        (En, 5, "say-5 say-cents"),
        (En, 0, "say-0 say-dollars"),
        (
            En,
            123_456,
            "say-1 say-thousand say-2 say-hundred say-30 say-4 say-dollars say-and say-50 say-6 say-cents",
        ),
        (En, -250, "say-minus say-2 say-dollars say-and say-50 say-cents"),
        (Zh, 1_235, "say-10 say-2 say-yuan say-3 say-jiao say-5 say-fen"),
        (Zh, 1_205, "say-10 say-2 say-yuan say-0 say-5 say-fen"),
        (Zh, 1_200, "say-10 say-2 say-yuan say-zheng"),
        (Zh, 1_230, "say-10 say-2 say-yuan say-3 say-jiao"),
        (Zh, 5, "say-5 say-fen"),
        (Zh, 35, "say-3 say-jiao say-5 say-fen"),
        (Zh, 0, "say-0 say-yuan"),
        (Zh, 200, "say-liang say-yuan say-zheng"),
        (Zh, 222, "say-liang say-yuan say-liang say-jiao say-liang say-fen"),
        (Zh, 20_000, "say-liang say-bai say-yuan say-zheng"),
        (Zh, 10_000_500, "say-10 say-wan say-0 say-5 say-yuan say-zheng"),
        (Zh, -1_205, "say-fu say-10 say-2 say-yuan say-0 say-5 say-fen"),
        (Ko, 1_205, "say-sip say-2 say-won say-5 say-jeon"),
        (Ko, 1_200, "say-sip say-2 say-won"),
        (Ko, 5, "say-5 say-jeon"),
        (Ko, 0, "say-0 say-won"),
        (Ko, 1_000_000, "say-man say-won"),
        (Ko, 12_500_000, "say-sip say-2 say-man say-5 say-cheon say-won"),
        (Ko, -1_200, "say-maineoseu say-sip say-2 say-won"),
    ];
    for &(lang, minor_units, expected) in rows {
        check(say_money(lang, minor_units), expected, (lang, minor_units));
    }
}

#[test]
fn money_beyond_the_range_says_the_major_units_digit_by_digit() {
    let minor_units = (MAX_SAY_NUMBER + 1) * 100 + 5;
    let said = say_money(En, minor_units);
    assert_eq!(said.len(), 13 + 4, "{said:?}");
    assert_eq!(said[13..], seq("say-dollars say-and say-5 say-cents")[..]);
    assert_eq!(
        say_money(Zh, i64::MAX).last().map(String::as_str),
        Some("say-fen")
    );
    assert_eq!(
        say_money(Ko, i64::MIN).first().map(String::as_str),
        Some("say-maineoseu")
    );
}

/// Language, year, month, day, weekday, expected names.
type DateRow = (Language, i32, u8, u8, Option<u8>, &'static str);

#[test]
fn dates() {
    // 2024-03-05 was a Tuesday (weekday 2).
    let rows: &[DateRow] = &[
        (
            En,
            2024,
            3,
            5,
            Some(2),
            "say-day-2 say-month-3 say-ord-5 say-20 say-20 say-4",
        ),
        (En, 2024, 3, 5, None, "say-month-3 say-ord-5 say-20 say-20 say-4"),
        (
            En,
            1999,
            12,
            31,
            None,
            "say-month-12 say-ord-31 say-19 say-90 say-9",
        ),
        (
            En,
            2005,
            1,
            1,
            None,
            "say-month-1 say-ord-1 say-2 say-thousand say-5",
        ),
        (En, 2000, 2, 29, None, "say-month-2 say-ord-29 say-2 say-thousand"),
        (En, 1905, 6, 1, None, "say-month-6 say-ord-1 say-19 say-o say-5"),
        (En, 1900, 6, 1, None, "say-month-6 say-ord-1 say-19 say-hundred"),
        (En, 2010, 6, 1, None, "say-month-6 say-ord-1 say-20 say-10"),
        (En, 800, 6, 1, None, "say-month-6 say-ord-1 say-8 say-hundred"),
        (
            Zh,
            2024,
            3,
            5,
            Some(2),
            "say-2 say-0 say-2 say-4 say-nian say-3 say-yue say-5 say-ri say-day-2",
        ),
        (
            Zh,
            2011,
            12,
            31,
            Some(6),
            "say-2 say-0 say-1 say-1 say-nian say-10 say-2 say-yue say-3 say-10 say-1 say-ri say-day-6",
        ),
        (
            Zh,
            2020,
            2,
            20,
            None,
            "say-2 say-0 say-2 say-0 say-nian say-2 say-yue say-2 say-10 say-ri",
        ),
        (
            Ko,
            2024,
            3,
            5,
            Some(2),
            "say-2 say-cheon say-2 say-sip say-4 say-nyeon say-month-3 say-5 say-il-date say-day-2",
        ),
        (
            Ko,
            2024,
            6,
            10,
            Some(1),
            "say-2 say-cheon say-2 say-sip say-4 say-nyeon say-month-6 say-sip say-il-date say-day-1",
        ),
        (
            Ko,
            1999,
            10,
            1,
            None,
            "say-cheon say-9 say-baek say-9 say-sip say-9 say-nyeon say-month-10 say-1 say-il-date",
        ),
    ];
    for &(lang, year, month, day, weekday, expected) in rows {
        let said = say_date(lang, year, month, day, weekday).unwrap();
        check(said, expected, (lang, year, month, day, weekday));
    }
}

#[test]
fn impossible_dates_are_refused() {
    assert_eq!(
        say_date(En, 2023, 2, 29, None),
        Err(SayError::Date {
            year: 2023,
            month: 2,
            day: 29
        })
    );
    assert_eq!(
        say_date(Zh, 2024, 13, 1, None),
        Err(SayError::Date {
            year: 2024,
            month: 13,
            day: 1
        })
    );
    assert_eq!(
        say_date(Ko, 2024, 4, 31, None),
        Err(SayError::Date {
            year: 2024,
            month: 4,
            day: 31
        })
    );
    assert_eq!(
        say_date(Ko, 2024, 1, 0, None),
        Err(SayError::Date {
            year: 2024,
            month: 1,
            day: 0
        })
    );
    assert_eq!(say_date(En, 0, 1, 1, None), Err(SayError::Year(0)));
    assert_eq!(say_date(En, 10_000, 1, 1, None), Err(SayError::Year(10_000)));
    assert_eq!(say_date(En, 2024, 3, 5, Some(7)), Err(SayError::Weekday(7)));
    let mismatch = say_date(Zh, 2024, 3, 5, Some(3)).unwrap_err();
    assert_eq!(
        mismatch.to_string(),
        "2024-03-05 is weekday 2 (0 = Sunday), not 3"
    );
    assert!(say_date(En, 9999, 12, 31, None).is_ok());
    assert!(say_date(En, 1, 1, 1, None).is_ok());
}

#[test]
fn times() {
    let rows: &[(Language, u8, u8, &str)] = &[
        (En, 9, 0, "say-9 say-oclock say-am"),
        (En, 9, 5, "say-9 say-o say-5 say-am"),
        (En, 9, 15, "say-9 say-15 say-am"),
        (En, 0, 0, "say-12 say-oclock say-am"),
        (En, 12, 0, "say-12 say-oclock say-pm"),
        (En, 13, 30, "say-1 say-30 say-pm"),
        (En, 23, 59, "say-11 say-50 say-9 say-pm"),
        (Zh, 9, 0, "say-shangwu say-9 say-dian say-zheng"),
        (Zh, 9, 15, "say-shangwu say-9 say-dian say-10 say-5 say-fen"),
        (Zh, 14, 5, "say-xiawu say-liang say-dian say-0 say-5 say-fen"),
        (Zh, 10, 2, "say-shangwu say-10 say-dian say-0 say-2 say-fen"),
        (
            Zh,
            0,
            30,
            "say-shangwu say-10 say-2 say-dian say-3 say-10 say-fen",
        ),
        (
            Zh,
            23,
            59,
            "say-xiawu say-10 say-1 say-dian say-5 say-10 say-9 say-fen",
        ),
        (Ko, 9, 5, "say-ojeon say-hour-9 say-si say-5 say-bun"),
        (Ko, 12, 0, "say-ohu say-hour-12 say-si"),
        (Ko, 0, 0, "say-ojeon say-hour-12 say-si"),
        (Ko, 13, 30, "say-ohu say-hour-1 say-si say-3 say-sip say-bun"),
        (Ko, 22, 10, "say-ohu say-hour-10 say-si say-sip say-bun"),
    ];
    for &(lang, hour, minute, expected) in rows {
        check(
            say_time(lang, hour, minute).unwrap(),
            expected,
            (lang, hour, minute),
        );
    }
    assert_eq!(say_time(En, 24, 0), Err(SayError::Time { hour: 24, minute: 0 }));
    assert_eq!(say_time(Ko, 12, 60), Err(SayError::Time { hour: 12, minute: 60 }));
}

#[test]
fn digits() {
    check(
        say_digits(En, "12*#0").unwrap(),
        "say-1 say-2 say-star say-pound say-0",
        "12*#0",
    );
    // 幺 for 1 in Mandarin digit strings, 공 for 0 in Korean ones.
    check(say_digits(Zh, "110").unwrap(), "say-yao say-yao say-0", "110");
    check(say_digits(Ko, "010").unwrap(), "say-gong say-1 say-gong", "010");
    assert_eq!(say_digits(Ko, "").unwrap(), Vec::<String>::new());
    assert_eq!(
        say_digits(En, "12a"),
        Err(SayError::InvalidDigit { ch: 'a', position: 2 })
    );
    assert_eq!(
        say_digits(Zh, "1２"),
        Err(SayError::InvalidDigit {
            ch: '２',
            position: 1
        })
    );
    let longest = "9".repeat(MAX_SAY_DIGITS);
    assert_eq!(say_digits(En, &longest).unwrap().len(), MAX_SAY_DIGITS);
    assert_eq!(
        say_digits(En, &format!("{longest}9")),
        Err(SayError::TooManyDigits)
    );
}

// ---- properties over random values --------------------------------------------------------------

/// xorshift64: a seeded, dependency-free generator, so every run checks the same values.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A value in `0..bound`.
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    /// A number in ±MAX_SAY_NUMBER with a random count of digits, so small numbers and numbers
    /// with runs of zeros turn up as often as large ones.
    fn number(&mut self) -> i64 {
        let digits = self.below(13) as u32;
        let mut n = self.below(10u64.pow(digits)) as i64;
        if self.below(3) == 0 {
            // Punch a run of zeros into the middle: the hard case for 零 and group words.
            let at = 10i64.pow(self.below(12) as u32);
            let width = 10i64.pow(self.below(5) as u32);
            n = n / (at * width) * (at * width) + n % at;
        }
        if self.below(4) == 0 {
            -n
        } else {
            n
        }
    }
}

fn committed_voice() -> Voice {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("voice");
    Voice::load(&dir).unwrap()
}

/// Everything said for many random numbers, amounts, dates and times, plus every digit key.
fn random_sayings(lang: Language, rng: &mut XorShift) -> Vec<Vec<String>> {
    let mut all = vec![say_digits(lang, "0123456789*#").unwrap()];
    for _ in 0..RANDOM_VALUES {
        all.push(say_number(lang, rng.number()));
        all.push(say_money(lang, rng.number()));
        let hour = rng.below(24) as u8;
        all.push(say_time(lang, hour, rng.below(60) as u8).unwrap());
    }
    // Every day of a leap year and the next, with and without its weekday.
    let mut day = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    while day.year() < 2026 {
        let (year, month, date) = (day.year(), day.month() as u8, day.day() as u8);
        let weekday = day.weekday().num_days_from_sunday() as u8;
        all.push(say_date(lang, year, month, date, Some(weekday)).unwrap());
        all.push(say_date(lang, year + rng.below(8000) as i32 - 2023, month, 1, None).unwrap());
        day = day.succ_opt().unwrap();
    }
    all
}

#[test]
fn every_name_said_is_required_and_has_a_committed_file() {
    let voice = committed_voice();
    let mut rng = XorShift(0x5eed_0000_f7e1_0001);
    for lang in Language::ALL {
        let required: BTreeSet<String> = required_prompts(lang).into_iter().collect();
        let set = voice.set(lang.code()).unwrap();
        for name in &required {
            assert!(set.get(name).is_some(), "{}: no file for {name}", lang.code());
        }
        let mut used = BTreeSet::new();
        for said in random_sayings(lang, &mut rng) {
            for name in said {
                assert!(
                    required.contains(&name),
                    "{}: {name} is not required",
                    lang.code()
                );
                used.insert(name);
            }
        }
        // And the other way round: no fragment is shipped that nothing says.
        let unused: Vec<_> = required.difference(&used).collect();
        assert!(unused.is_empty(), "{}: never said: {unused:?}", lang.code());
    }
}

/// Mandarin back to a number: digits and 两 set the multiplier for the next unit word; 十 with no
/// digit before it is 10 and allowed only first; 零 marks a gap and may not end or double up.
fn parse_zh(said: &[String]) -> Result<i64, String> {
    let mut names = said.iter().map(String::as_str).peekable();
    let negative = names.next_if_eq(&"say-fu").is_some();
    let (mut total, mut group, mut digit) = (0i64, 0i64, None::<i64>);
    let mut previous = "";
    // `read`: words read so far (after any 负); 一十 is wrong only as the first two.
    for (read, name) in names.enumerate() {
        match name {
            "say-0" if said.len() == 1 => return Ok(0),
            "say-0" if previous == "say-0" || read == 0 => return Err("零 doubled or leading".into()),
            "say-0" => {}
            "say-liang" => digit = Some(2),
            "say-10" | "say-bai" | "say-qian" => {
                let unit = match name {
                    "say-10" => 10,
                    "say-bai" => 100,
                    _ => 1000,
                };
                let times = match digit.take() {
                    Some(1) if unit == 10 && read == 1 => return Err("一十 at the start".into()),
                    Some(2) if previous == "say-liang" && unit == 10 => return Err("两十".into()),
                    Some(d) => d,
                    None if unit == 10 && read == 0 => 1,
                    None => return Err(format!("{name} with no digit")),
                };
                group += times * unit;
            }
            "say-wan" | "say-yi" => {
                let scale = if name == "say-wan" { 10_000 } else { 100_000_000 };
                total += (group + digit.take().unwrap_or(0)) * scale;
                group = 0;
            }
            other => {
                let d = other.strip_prefix("say-").and_then(|d| d.parse::<i64>().ok());
                digit = Some(
                    d.filter(|d| (1..=9).contains(d))
                        .ok_or(format!("unexpected {other}"))?,
                );
            }
        }
        previous = name;
    }
    if previous == "say-0" || previous == "say-liang" {
        return Err(format!("ends with {previous}"));
    }
    let value = total + group + digit.unwrap_or(0);
    Ok(if negative { -value } else { value })
}

/// Korean back to a number: 일 is refused before 십, 백, 천 and 만 (they imply it), kept before 억.
fn parse_ko(said: &[String]) -> Result<i64, String> {
    let mut names = said.iter().map(String::as_str).peekable();
    let negative = names.next_if_eq(&"say-maineoseu").is_some();
    let (mut total, mut group, mut digit) = (0i64, 0i64, None::<i64>);
    for name in names {
        match name {
            "say-0" if said.len() == 1 => return Ok(0),
            "say-sip" | "say-baek" | "say-cheon" => {
                let unit = match name {
                    "say-sip" => 10,
                    "say-baek" => 100,
                    _ => 1000,
                };
                group += unit
                    * match digit.take() {
                        Some(1) => return Err(format!("일 before {name}")),
                        Some(d) => d,
                        None => 1,
                    };
            }
            "say-man" => {
                let multiplier = match (group, digit.take()) {
                    (0, Some(1)) => return Err("일만".into()),
                    (0, None) => 1,
                    (g, d) => g + d.unwrap_or(0),
                };
                total += multiplier * 10_000;
                group = 0;
            }
            "say-eok" => {
                // 억 keeps its 일, so it never stands without a multiplier.
                let multiplier = group + digit.take().unwrap_or(0);
                if multiplier == 0 {
                    return Err("억 with no multiplier".into());
                }
                total += multiplier * 100_000_000;
                group = 0;
            }
            other => {
                let d = other.strip_prefix("say-").and_then(|d| d.parse::<i64>().ok());
                digit = Some(
                    d.filter(|d| (1..=9).contains(d))
                        .ok_or(format!("unexpected {other}"))?,
                );
            }
        }
    }
    let value = total + group + digit.unwrap_or(0);
    Ok(if negative { -value } else { value })
}

#[test]
fn mandarin_reads_back_to_the_number() {
    let mut rng = XorShift(0x2024_0305_cafe);
    for _ in 0..RANDOM_VALUES {
        let n = rng.number();
        let said = say_number(Zh, n);
        assert_eq!(parse_zh(&said), Ok(n), "{n}: {said:?}");
    }
}

#[test]
fn korean_reads_back_to_the_number() {
    let mut rng = XorShift(0x1205_beef_0001);
    for _ in 0..RANDOM_VALUES {
        let n = rng.number();
        let said = say_number(Ko, n);
        assert_eq!(parse_ko(&said), Ok(n), "{n}: {said:?}");
    }
}

#[test]
fn the_readers_refuse_what_the_grammar_forbids() {
    // The parsers are the property's judge, so check they can say no.
    assert!(parse_zh(&seq("say-1 say-10 say-5")).is_err(), "一十五");
    assert!(
        parse_zh(&seq("say-1 say-qian say-0 say-0 say-5")).is_err(),
        "零零"
    );
    assert!(parse_zh(&seq("say-1 say-bai say-0")).is_err(), "trailing 零");
    assert!(parse_ko(&seq("say-1 say-sip")).is_err(), "일십");
    assert!(parse_ko(&seq("say-1 say-man")).is_err(), "일만");
    assert!(parse_ko(&seq("say-eok")).is_err(), "억 without 일");
    assert_eq!(parse_ko(&seq("say-1 say-eok say-man say-5")), Ok(100_010_005));
    assert_eq!(parse_zh(&seq("say-10 say-wan say-0 say-5")), Ok(100_005));
}
