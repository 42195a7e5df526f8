//! Asterisk-style number patterns.
//!
//! A dialled number is written either exactly (`8999`, `+8613800138000`, `*98`) or as a pattern that
//! starts with `_`: `X` = 0-9, `Z` = 1-9, `N` = 2-9, `[1-5]` / `[135]` / `[1-35-7]` = a set, `.` = one
//! or more of anything, `!` = zero or more, and literal digits, `*`, `#`, `+`. Letters are
//! case-insensitive. `.` and `!` must come last: they swallow the rest of the number, so anything after
//! them could never take part in a match.
//!
//! When several entries match a number, [`best_match`] picks the most specific one, in the order
//! Asterisk admins expect: an exact number beats every pattern; between patterns, the first position
//! where they differ decides, and fewer choices there wins (`8` beats `[5-9]` beats `X` beats `.`).

use std::cmp::Ordering;
use std::fmt;

/// Longest number accepted anywhere (E.164 allows 15 digits; the rest is room for prefixes and codes).
pub const MAX_NUMBER_CHARS: usize = 32;
/// Longest pattern text: a pattern has at most `MAX_NUMBER_CHARS` positions, but sets make the text
/// longer than the numbers it matches.
pub const MAX_PATTERN_CHARS: usize = 128;

/// The characters a dialled number may contain, in the order used for set bits and canonical text.
const ALPHABET: &str = "0123456789*#+";

/// Why a number or pattern was refused; each message says how to fix it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("empty number: write digits, or `_` and a pattern")]
    Empty,
    #[error("{len_chars} characters is too long: at most {max_chars}")]
    TooLong { len_chars: usize, max_chars: usize },
    #[error("`{ch}` is not allowed in a number: use digits, `*`, `#` and `+`, or start a pattern with `_`")]
    BadNumberChar { ch: char },
    #[error("`{ch}` is not allowed in a pattern: use digits, `*`, `#`, `+`, X, Z, N, [sets], `.` or `!`")]
    BadPatternChar { ch: char },
    #[error("`_` alone matches nothing: add digits, X, Z, N, a [set], `.` or `!` after it")]
    EmptyPattern,
    #[error("`[` has no closing `]`: close the set, e.g. [1-5]")]
    UnclosedSet,
    #[error("`[]` is an empty set: list the digits it allows, e.g. [135] or [1-5]")]
    EmptySet,
    #[error("`{ch}` is not allowed in a [set]: use digits, `*`, `#`, `+` and ranges like 1-5")]
    BadSetChar { ch: char },
    #[error("range `{from}-{to}` must run from a lower to a higher digit, e.g. {to}-{from}")]
    BadRange { from: char, to: char },
    #[error("`{ch}` must be the last character of a pattern: it matches the rest of the number")]
    WildcardNotLast { ch: char },
    #[error("the pattern has more than {max_positions} positions, so no number can match it")]
    TooManyPositions { max_positions: usize },
}

/// A set of characters from `ALPHABET`, one bit each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct CharSet(u16);

impl CharSet {
    const ANY: CharSet = CharSet((1 << 13) - 1);
    const X: CharSet = CharSet::digit_range(0, 9);
    const Z: CharSet = CharSet::digit_range(1, 9);
    const N: CharSet = CharSet::digit_range(2, 9);

    const fn digit_range(low: u32, high: u32) -> CharSet {
        CharSet(((1u16 << (high + 1)) - 1) & !((1u16 << low) - 1))
    }

    fn of(ch: char) -> Option<CharSet> {
        ALPHABET.find(ch).map(|index| CharSet(1 << index))
    }

    fn contains(self, ch: char) -> bool {
        CharSet::of(ch).is_some_and(|bit| self.0 & bit.0 != 0)
    }

    fn len(self) -> u32 {
        self.0.count_ones()
    }

    fn intersects(self, other: CharSet) -> bool {
        self.0 & other.0 != 0
    }

    fn members(self) -> impl Iterator<Item = char> {
        ALPHABET
            .chars()
            .enumerate()
            .filter(move |(index, _)| self.0 & (1 << index) != 0)
            .map(|(_, ch)| ch)
    }

    /// `X`, `Z`, `N`, a single character, or `[...]` with runs of three or more digits as ranges.
    fn canonical(self) -> String {
        match self {
            CharSet::X => return "X".into(),
            CharSet::Z => return "Z".into(),
            CharSet::N => return "N".into(),
            _ => {}
        }
        let members: Vec<char> = self.members().collect();
        if let [single] = members[..] {
            return single.to_string();
        }
        format!("[{}]", compact_runs(&members))
    }
}

/// Writes sorted set members with digit runs of three or more as `a-b`.
fn compact_runs(members: &[char]) -> String {
    let mut out = String::new();
    let mut index = 0;
    while index < members.len() {
        let mut end = index;
        while end + 1 < members.len() && is_next_digit(members[end], members[end + 1]) {
            end += 1;
        }
        if end - index >= 2 {
            out.push(members[index]);
            out.push('-');
            out.push(members[end]);
        } else {
            out.extend(&members[index..=end]);
        }
        index = end + 1;
    }
    out
}

fn is_next_digit(a: char, b: char) -> bool {
    a.is_ascii_digit() && b.is_ascii_digit() && b as u32 == a as u32 + 1
}

/// What may follow the fixed positions of a pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Tail {
    /// The number ends after the fixed positions.
    End,
    /// `.`: one or more further characters.
    OneOrMore,
    /// `!`: zero or more further characters.
    ZeroOrMore,
}

impl Tail {
    /// Choices this tail offers at its position, for ranking: the end of the number is the narrowest
    /// choice, `!` the widest. Larger than any set (at most 13 members).
    fn choices(self) -> u32 {
        match self {
            Tail::End => 0,
            Tail::OneOrMore => 1000,
            Tail::ZeroOrMore => 1001,
        }
    }

    /// Fewest characters the tail consumes.
    fn min_chars(self) -> usize {
        match self {
            Tail::End | Tail::ZeroOrMore => 0,
            Tail::OneOrMore => 1,
        }
    }
}

/// An exact number or an `_` pattern, parsed once and matched many times.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NumberPattern {
    text: String,
    exact: bool,
    positions: Vec<CharSet>,
    tail: Tail,
}

impl NumberPattern {
    /// Parses an exact number (digits, `*`, `#`, `+`; 1 to `MAX_NUMBER_CHARS` characters) or a
    /// pattern starting with `_`.
    pub fn parse(text: &str) -> Result<NumberPattern, PatternError> {
        match text.strip_prefix('_') {
            Some(body) => parse_pattern(text, body),
            None => parse_exact(text),
        }
    }

    /// The text this was parsed from.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True for an exact number, false for an `_` pattern.
    pub fn is_exact(&self) -> bool {
        self.exact
    }

    /// A normal form: two entries with the same canonical text match exactly the same numbers.
    /// A pattern of literals only (`_8999`) normalises to the exact number (`8999`).
    pub fn canonical(&self) -> String {
        let all_single = self.positions.iter().all(|set| set.len() == 1);
        if self.tail == Tail::End && all_single {
            return self.positions.iter().map(|set| set.canonical()).collect();
        }
        let mut out = String::from("_");
        for set in &self.positions {
            out.push_str(&set.canonical());
        }
        match self.tail {
            Tail::End => {}
            Tail::OneOrMore => out.push('.'),
            Tail::ZeroOrMore => out.push('!'),
        }
        out
    }

    /// Whether `number` (as dialled) is matched.
    pub fn matches(&self, number: &str) -> bool {
        let len_chars = number.chars().count();
        if !self.accepts_len(len_chars) || len_chars > MAX_NUMBER_CHARS {
            return false;
        }
        let mut chars = number.chars();
        let fixed_ok = self
            .positions
            .iter()
            .all(|set| chars.next().is_some_and(|ch| set.contains(ch)));
        fixed_ok && chars.all(|ch| CharSet::ANY.contains(ch))
    }

    /// Whether at least one number is matched by both `self` and `other` (used to tell whether a
    /// dialled-number entry is reachable through some span's patterns).
    pub fn overlaps(&self, other: &NumberPattern) -> bool {
        let (shorter, longer) = if self.positions.len() <= other.positions.len() {
            (self, other)
        } else {
            (other, self)
        };
        // Beyond the shorter's fixed positions it accepts anything (if it has a tail at all), so only
        // the common positions and the lengths need to agree.
        let common_ok = shorter
            .positions
            .iter()
            .zip(&longer.positions)
            .all(|(a, b)| a.intersects(*b));
        let len_ok = match shorter.tail {
            Tail::End => longer.positions.len() == shorter.positions.len() && longer.tail != Tail::OneOrMore,
            tail => {
                longer.positions.len() >= shorter.positions.len() + tail.min_chars()
                    || longer.tail != Tail::End
            }
        };
        common_ok && len_ok
    }

    /// Orders by specificity: `Less` means `self` is the more specific (preferred) match.
    pub fn cmp_specificity(&self, other: &NumberPattern) -> Ordering {
        // Exact numbers first, then per-position choices, then the text so ties are deterministic.
        other
            .exact
            .cmp(&self.exact)
            .then_with(|| self.choices().cmp(other.choices()))
            .then_with(|| self.text.cmp(&other.text))
    }

    fn accepts_len(&self, len_chars: usize) -> bool {
        let fixed = self.positions.len();
        match self.tail {
            Tail::End => len_chars == fixed,
            tail => len_chars >= fixed + tail.min_chars(),
        }
    }

    /// The number of choices at each position, ending with the tail's.
    fn choices(&self) -> impl Iterator<Item = u32> + '_ {
        self.positions
            .iter()
            .map(|set| set.len())
            .chain(std::iter::once(self.tail.choices()))
    }
}

impl fmt::Display for NumberPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Picks the candidate whose pattern matches `number` most specifically (see the module docs).
pub fn best_match<'a, T>(
    candidates: impl IntoIterator<Item = (&'a NumberPattern, T)>,
    number: &str,
) -> Option<T> {
    let mut best: Option<(&'a NumberPattern, T)> = None;
    for (pattern, value) in candidates {
        if !pattern.matches(number) {
            continue;
        }
        let better = match &best {
            None => true,
            Some((current, _)) => pattern.cmp_specificity(current) == Ordering::Less,
        };
        if better {
            best = Some((pattern, value));
        }
    }
    best.map(|(_, value)| value)
}

/// The spans a number reaches: every span whose most specific matching entry is the best match
/// overall (spans listing the same number or pattern are one trunk group), in span order.
pub fn trunk_group(routes: &[(NumberPattern, u16)], number: &str) -> Vec<u16> {
    let Some(best) = best_match(routes.iter().map(|(p, _)| (p, p)), number) else {
        return Vec::new();
    };
    let best = best.canonical();
    let mut spans: Vec<u16> = routes
        .iter()
        .filter(|(p, _)| p.matches(number) && p.canonical() == best)
        .map(|(_, s)| *s)
        .collect();
    spans.dedup();
    spans
}

fn check_len(text: &str, max_chars: usize) -> Result<(), PatternError> {
    let len_chars = text.chars().count();
    if len_chars > max_chars {
        return Err(PatternError::TooLong { len_chars, max_chars });
    }
    Ok(())
}

fn parse_exact(text: &str) -> Result<NumberPattern, PatternError> {
    if text.is_empty() {
        return Err(PatternError::Empty);
    }
    check_len(text, MAX_NUMBER_CHARS)?;
    let positions = text
        .chars()
        .map(|ch| CharSet::of(ch).ok_or(PatternError::BadNumberChar { ch }))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(NumberPattern {
        text: text.into(),
        exact: true,
        positions,
        tail: Tail::End,
    })
}

fn parse_pattern(text: &str, body: &str) -> Result<NumberPattern, PatternError> {
    if body.is_empty() {
        return Err(PatternError::EmptyPattern);
    }
    check_len(text, MAX_PATTERN_CHARS)?;
    let mut positions = Vec::new();
    let mut tail = Tail::End;
    let mut chars = body.chars();
    while let Some(ch) = chars.next() {
        if tail != Tail::End {
            let wildcard = if tail == Tail::OneOrMore { '.' } else { '!' };
            return Err(PatternError::WildcardNotLast { ch: wildcard });
        }
        match ch.to_ascii_uppercase() {
            '.' => tail = Tail::OneOrMore,
            '!' => tail = Tail::ZeroOrMore,
            'X' => positions.push(CharSet::X),
            'Z' => positions.push(CharSet::Z),
            'N' => positions.push(CharSet::N),
            '[' => positions.push(parse_set(&mut chars)?),
            _ => positions.push(CharSet::of(ch).ok_or(PatternError::BadPatternChar { ch })?),
        }
    }
    if positions.len() > MAX_NUMBER_CHARS {
        return Err(PatternError::TooManyPositions {
            max_positions: MAX_NUMBER_CHARS,
        });
    }
    Ok(NumberPattern {
        text: text.into(),
        exact: false,
        positions,
        tail,
    })
}

/// Parses the inside of `[...]` after the `[`, consuming the `]`.
fn parse_set(chars: &mut std::str::Chars<'_>) -> Result<CharSet, PatternError> {
    let mut bits = 0u16;
    let mut previous: Option<char> = None;
    loop {
        let ch = chars.next().ok_or(PatternError::UnclosedSet)?;
        match ch {
            ']' if bits == 0 => return Err(PatternError::EmptySet),
            ']' => return Ok(CharSet(bits)),
            '-' => {
                let from = previous.take().ok_or(PatternError::BadSetChar { ch })?;
                let to = chars.next().ok_or(PatternError::UnclosedSet)?;
                bits |= parse_range(from, to)?.0;
            }
            _ => {
                bits |= CharSet::of(ch).ok_or(PatternError::BadSetChar { ch })?.0;
                previous = Some(ch);
            }
        }
    }
}

fn parse_range(from: char, to: char) -> Result<CharSet, PatternError> {
    let (Some(low), Some(high)) = (from.to_digit(10), to.to_digit(10)) else {
        let ch = if from.is_ascii_digit() { to } else { from };
        return Err(PatternError::BadSetChar { ch });
    };
    if low > high {
        return Err(PatternError::BadRange { from, to });
    }
    Ok(CharSet::digit_range(low, high))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(text: &str) -> NumberPattern {
        NumberPattern::parse(text).unwrap_or_else(|err| panic!("{text}: {err}"))
    }

    #[test]
    fn matches_table() {
        // (pattern, number, expected)
        let table: &[(&str, &str, bool)] = &[
            ("8999", "8999", true),
            ("8999", "89990", false),
            ("8999", "899", false),
            ("+8613800138000", "+8613800138000", true),
            ("*98", "*98", true),
            ("*98", "98", false),
            ("_X", "0", true),
            ("_X", "", false),
            ("_X", "*", false),
            ("_Z", "0", false),
            ("_Z", "1", true),
            ("_N", "1", false),
            ("_N", "2", true),
            ("_nxx", "200", true),
            ("_NXX", "199", false),
            ("_8XXX", "8999", true),
            ("_8XXX", "899", false),
            ("_8XXX", "89990", false),
            ("_[1-5]", "5", true),
            ("_[1-5]", "6", false),
            ("_[135]", "3", true),
            ("_[135]", "2", false),
            ("_[1-35-7]", "2", true),
            ("_[1-35-7]", "4", false),
            ("_[1-35-7]", "6", true),
            ("_[*#]1", "#1", true),
            ("_X.", "1", false),
            ("_X.", "12", true),
            ("_X.", "1234567890", true),
            ("_X!", "1", true),
            ("_X!", "12", true),
            ("_X!", "", false),
            ("_.", "*98#", true),
            ("_!", "", true),
            ("_+86X.", "+8613800138000", true),
            ("_+86X.", "8613800138000", false),
            ("_X.", "12a", false),
        ];
        for &(text, number, expected) in table {
            assert_eq!(pattern(text).matches(number), expected, "{text} vs {number:?}");
        }
    }

    #[test]
    fn nothing_matches_numbers_longer_than_the_limit() {
        let long = "1".repeat(MAX_NUMBER_CHARS + 1);
        assert!(!pattern("_X.").matches(&long));
        assert!(pattern("_X.").matches(&long[1..]));
    }

    #[test]
    fn parse_errors_name_the_problem() {
        let cases: &[(&str, PatternError)] = &[
            ("", PatternError::Empty),
            ("_", PatternError::EmptyPattern),
            ("12a", PatternError::BadNumberChar { ch: 'a' }),
            ("80 00", PatternError::BadNumberChar { ch: ' ' }),
            ("_8Q", PatternError::BadPatternChar { ch: 'Q' }),
            ("_[1-5", PatternError::UnclosedSet),
            ("_[]", PatternError::EmptySet),
            ("_[5-1]", PatternError::BadRange { from: '5', to: '1' }),
            ("_[1-#]", PatternError::BadSetChar { ch: '#' }),
            ("_[x]", PatternError::BadSetChar { ch: 'x' }),
            ("_X.1", PatternError::WildcardNotLast { ch: '.' }),
            ("_X!!", PatternError::WildcardNotLast { ch: '!' }),
        ];
        for (text, expected) in cases {
            assert_eq!(NumberPattern::parse(text).as_ref(), Err(expected), "{text:?}");
        }
        let too_long = "1".repeat(MAX_NUMBER_CHARS + 1);
        assert_eq!(
            NumberPattern::parse(&too_long),
            Err(PatternError::TooLong {
                len_chars: 33,
                max_chars: MAX_NUMBER_CHARS
            })
        );
        let too_many = format!("_{}", "X".repeat(MAX_NUMBER_CHARS + 1));
        assert_eq!(
            NumberPattern::parse(&too_many),
            Err(PatternError::TooManyPositions {
                max_positions: MAX_NUMBER_CHARS
            })
        );
    }

    #[test]
    fn exact_number_beats_patterns() {
        let exact = pattern("8999");
        let four = pattern("_8XXX");
        let any = pattern("_X.");
        let candidates = [(&any, "any"), (&four, "four"), (&exact, "exact")];
        assert_eq!(best_match(candidates, "8999"), Some("exact"));
        assert_eq!(best_match(candidates, "8000"), Some("four"));
        assert_eq!(best_match(candidates, "80001"), Some("any"));
        assert_eq!(best_match(candidates, "8"), None);
    }

    #[test]
    fn exact_number_beats_an_all_literal_pattern() {
        let (exact, literal) = (pattern("8999"), pattern("_8999"));
        assert_eq!(best_match([(&literal, 1), (&exact, 2)], "8999"), Some(2));
        assert_eq!(best_match([(&exact, 2), (&literal, 1)], "8999"), Some(2));
    }

    #[test]
    fn fewer_choices_at_first_difference_wins() {
        // (winner, loser, number)
        let cases: &[(&str, &str, &str)] = &[
            ("_8XXX", "_X.", "8999"),
            ("_8XXX", "_XXXX", "8999"),
            ("_89XX", "_8XXX", "8999"),
            ("_8[5-9]XX", "_8XXX", "8999"),
            ("_8NXX", "_8XXX", "8999"),
            ("_8NXX", "_8X99", "8999"),
            ("_8XX", "_8X!", "899"),
            ("_8X.", "_8X!", "899"),
            ("_8XXX", "_8.", "8999"),
            ("_Z.", "_X.", "12"),
        ];
        for &(winner, loser, number) in cases {
            let (w, l) = (pattern(winner), pattern(loser));
            assert_eq!(
                best_match([(&l, loser), (&w, winner)], number),
                Some(winner),
                "{number}"
            );
            assert_eq!(
                best_match([(&w, winner), (&l, loser)], number),
                Some(winner),
                "{number}"
            );
        }
    }

    #[test]
    fn ties_are_broken_by_text_whatever_the_order() {
        let (upper, lower) = (pattern("_X."), pattern("_x."));
        assert_eq!(
            best_match([(&lower, "lower"), (&upper, "upper")], "12"),
            Some("upper")
        );
        assert_eq!(
            best_match([(&upper, "upper"), (&lower, "lower")], "12"),
            Some("upper")
        );
    }

    #[test]
    fn canonical_form_identifies_equivalent_entries() {
        let same: &[(&str, &str)] = &[
            ("_x.", "_X."),
            ("_[0-9]", "_X"),
            ("_[123456789]", "_Z"),
            ("_[2-9]XX", "_NXX"),
            ("_[135]", "_[513]"),
            ("_[1-35-7]", "_[1235-7]"),
            ("_8999", "8999"),
            ("_[8]", "8"),
        ];
        for (a, b) in same {
            assert_eq!(pattern(a).canonical(), pattern(b).canonical(), "{a} vs {b}");
        }
        assert_eq!(pattern("_[1-35-7]").canonical(), "_[1-35-7]");
        assert_eq!(pattern("_[12#]").canonical(), "_[12#]");
        assert_ne!(pattern("_X.").canonical(), pattern("_X!").canonical());
    }

    #[test]
    fn overlap_table() {
        // (a, b, some number matches both)
        let table: &[(&str, &str, bool)] = &[
            ("8999", "_X.", true),
            ("8999", "_8XXX", true),
            ("8999", "_7XXX", false),
            ("8999", "8999", true),
            ("8999", "899", false),
            ("_8XXX", "_X.", true),
            ("_8XXX", "_XX", false),
            ("_8XXX", "_9.", false),
            ("_8X", "_8X.", false),
            ("_8X", "_8X!", true),
            ("_8.", "_X", false),
            ("_8!", "8", true),
            ("_[1-3]", "_[4-6]", false),
            ("_[1-4]", "_[4-6]", true),
            ("_X.", "*98", false),
            ("_!", "*98", true),
        ];
        for &(a, b, expected) in table {
            assert_eq!(pattern(a).overlaps(&pattern(b)), expected, "{a} vs {b}");
            assert_eq!(pattern(b).overlaps(&pattern(a)), expected, "{b} vs {a}");
        }
    }
}

#[cfg(test)]
mod trunk_group_tests {
    use super::*;

    fn routes(entries: &[(&str, u16)]) -> Vec<(NumberPattern, u16)> {
        entries
            .iter()
            .map(|(p, s)| (NumberPattern::parse(p).unwrap(), *s))
            .collect()
    }

    #[test]
    fn spans_sharing_the_best_route_form_one_trunk_group_in_span_order() {
        let r = routes(&[("_X.", 1), ("_X.", 2), ("_8XXX", 3), ("_x.", 4), ("8999", 5)]);
        assert_eq!(
            trunk_group(&r, "12345"),
            vec![1, 2, 4],
            "equivalent patterns are one group"
        );
        assert_eq!(
            trunk_group(&r, "8000"),
            vec![3],
            "a more specific pattern wins alone"
        );
        assert_eq!(
            trunk_group(&r, "8999"),
            vec![5],
            "an exact number beats every pattern"
        );
        assert!(
            trunk_group(&routes(&[("_8XXX", 1)]), "12").is_empty(),
            "no route: unallocated"
        );
    }
}
