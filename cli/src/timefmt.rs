//! Wall-clock times and durations as an operator reads them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch now (0 if the clock is before 1970).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The last millisecond RFC 3339 can show (the end of year 9999).
const LAST_MS: u64 = 253_402_300_799_999;

/// `2026-05-01T03:12:44.123Z`, or the raw number for a time RFC 3339 cannot show (the stored
/// bytes may hold anything).
pub fn wall(ms: u64) -> String {
    if ms > LAST_MS {
        return format!("{ms} ms after the epoch (beyond year 9999)");
    }
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// `in 4m 59s` or `12s ago` from `now_ms`.
pub fn relative(ms: u64, now_ms: u64) -> String {
    if ms >= now_ms {
        format!("in {}", span(ms - now_ms))
    } else {
        format!("{} ago", span(now_ms - ms))
    }
}

/// `wall (relative)`.
pub fn wall_and_relative(ms: u64, now_ms: u64) -> String {
    format!("{} ({})", wall(ms), relative(ms, now_ms))
}

/// A duration, to the millisecond under a minute and to the second above.
pub fn span(ms: u64) -> String {
    let shown = if ms >= 60_000 { ms / 1000 * 1000 } else { ms };
    humantime::format_duration(Duration::from_millis(shown)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_times_and_spans() {
        assert_eq!(wall(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(wall(1_500), "1970-01-01T00:00:01.500Z");
        assert!(wall(u64::MAX).contains("beyond year 9999"));
        assert_eq!(wall(LAST_MS), "9999-12-31T23:59:59.999Z");
        assert_eq!(relative(10_000, 7_500), "in 2s 500ms");
        assert_eq!(relative(7_500, 10_000), "2s 500ms ago");
        assert_eq!(span(3_723_456), "1h 2m 3s");
        assert_eq!(span(0), "0s");
    }
}
