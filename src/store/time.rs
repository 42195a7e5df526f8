//! Time conversions for the call log: channel samples to milliseconds, epoch ms to ISO-8601 text.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::hw::SAMPLE_RATE_HZ;

/// Samples of the channel clock in one millisecond (8 at 8 kHz).
const SAMPLES_PER_MS: u64 = SAMPLE_RATE_HZ as u64 / 1000;

/// Milliseconds of call time for `at_sample` samples since the offer, rounded down.
pub(crate) fn samples_to_ms(at_sample: u64) -> i64 {
    // A sample count beyond i64 ms is nonsense from a broken clock; saturate rather than wrap
    // negative.
    i64::try_from(at_sample / SAMPLES_PER_MS).unwrap_or(i64::MAX)
}

/// `start_ms` moved on by `at_sample` samples of the call's clock.
pub(crate) fn offset_ms(start_ms: i64, at_sample: u64) -> i64 {
    start_ms.saturating_add(samples_to_ms(at_sample))
}

/// Whole seconds from `from_ms` to `to_ms`, rounded down, never negative (Asterisk's
/// duration/billsec).
pub(crate) fn whole_seconds(from_ms: i64, to_ms: i64) -> i64 {
    to_ms.saturating_sub(from_ms).max(0) / 1000
}

/// `2026-11-22T22:14:23.123Z`: ISO-8601, UTC, milliseconds, as the `start`/`answer`/`end` columns
/// hold.
pub(crate) fn iso_utc_ms(epoch_ms: i64) -> String {
    // chrono refuses instants past year 262143; clamp such garbage to the epoch instead of failing
    // the whole batch over one bad clock reading (the `_ms` column still holds the raw value).
    let instant = DateTime::<Utc>::from_timestamp_millis(epoch_ms).unwrap_or_default();
    instant.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The wall clock now, in ms since the Unix epoch.
pub(crate) fn wall_clock_ms() -> i64 {
    Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_with_milliseconds() {
        assert_eq!(iso_utc_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_utc_ms(1_795_385_663_123), "2026-11-22T22:14:23.123Z");
    }

    #[test]
    fn converts_samples_and_rounds_seconds_down() {
        assert_eq!(samples_to_ms(8000), 1000);
        assert_eq!(samples_to_ms(7), 0);
        assert_eq!(offset_ms(1000, 16_000), 3000);
        assert_eq!(whole_seconds(0, 1999), 1);
        assert_eq!(whole_seconds(5000, 1000), 0);
    }
}
