//! Unix times as the people in the office read them: day, month, year and the wall-clock time
//! in the configured time zone (`agent.time_zone`), the way a German office writes a date.
//!
//! Every feature keeps its times as unix seconds and turns them into words only here, so the
//! command line, `status` and the notices postbote writes all show one time the same way. This
//! module is a foundation: it imports nothing of postbote and does no I/O; the current time is
//! always passed in, never read.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// `t` to the minute in `tz`: "04.12.2026 14:05". Empty for a time chrono cannot represent.
pub fn local_time(tz: Tz, t: i64) -> String {
    format(tz, t, "%d.%m.%Y %H:%M")
}

/// `t` to the second in `tz`: "04.12.2026 14:05:09", or "never" when there is no time. For
/// events a person may want to tell apart by the second (the last sync, the last error).
pub fn local_time_seconds(tz: Tz, t: Option<i64>) -> String {
    match t.and_then(|t| DateTime::<Utc>::from_timestamp(t, 0)) {
        Some(d) => d.with_timezone(&tz).format("%d.%m.%Y %H:%M:%S").to_string(),
        None => "never".into(),
    }
}

/// `t` as short as is clear at `now`: only "14:05" on the same local day, otherwise with its
/// date ("05.12.2026 14:05"). Empty for a time chrono cannot represent.
pub fn local_time_short(tz: Tz, t: i64, now: i64) -> String {
    let local = |t: i64| DateTime::<Utc>::from_timestamp(t, 0).map(|d| d.with_timezone(&tz));
    match (local(t), local(now)) {
        (Some(d), Some(n)) if d.date_naive() == n.date_naive() => d.format("%H:%M").to_string(),
        (Some(d), _) => d.format("%d.%m.%Y %H:%M").to_string(),
        _ => String::new(),
    }
}

fn format(tz: Tz, t: i64, pattern: &str) -> String {
    DateTime::<Utc>::from_timestamp(t, 0).map(|d| d.with_timezone(&tz).format(pattern).to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BERLIN: Tz = chrono_tz::Europe::Berlin;
    /// 2026-12-04 13:05:09 UTC, 14:05:09 in Berlin (CET).
    const T: i64 = 1_796_389_509;

    #[test]
    fn times_are_office_time_in_the_configured_zone() {
        assert_eq!(local_time(BERLIN, T), "04.12.2026 14:05");
        assert_eq!(local_time(chrono_tz::UTC, T), "04.12.2026 13:05");
        assert_eq!(local_time_seconds(BERLIN, Some(T)), "04.12.2026 14:05:09");
        assert_eq!(local_time_seconds(BERLIN, None), "never");
        // Summer time: 2026-07-01 10:00 UTC is 12:00 in Berlin.
        assert_eq!(local_time(BERLIN, 1_782_900_000), "01.07.2026 12:00");
    }

    #[test]
    fn a_short_time_drops_the_date_only_on_the_same_local_day() {
        assert_eq!(local_time_short(BERLIN, T, T - 120), "14:05");
        assert_eq!(local_time_short(BERLIN, T, T - 86_400), "04.12.2026 14:05");
        // 23:30 UTC on the 3rd is already the 4th in Berlin.
        assert_eq!(local_time_short(BERLIN, T, T - 13 * 3600 - 35 * 60 - 9 - 1800), "14:05");
    }

    #[test]
    fn an_impossible_time_is_empty_not_a_panic() {
        assert_eq!(local_time(BERLIN, i64::MAX), "");
        assert_eq!(local_time_seconds(BERLIN, Some(i64::MAX)), "never");
        assert_eq!(local_time_short(BERLIN, i64::MAX, T), "");
    }
}
