//! When the responder is on: the dated leave and the recurring absence expressions.
//!
//! [`absent_at`] says whether a moment falls inside the absence, [`absence_end`] when the
//! absence covering a moment is over (a reply later than that would come late, and a queued
//! one is dropped then). Both read the recurring expressions in the mailbox's time zone, so
//! "outside office hours" stays local time across the daylight-saving changes; neither reads
//! a clock.

use chrono::{DateTime, Timelike, Utc};

use crate::autoreply::settings::Settings;

/// Is `at` inside the leave: between `from_date` (inclusive) and `to_date` (exclusive), or in a
/// minute matched by one of the recurring absence expressions (read in `tz`)? Dates and
/// expressions add up: a shared mailbox can answer outside office hours all year and all day
/// during the company holidays. With no dates and no expressions the leave is open-ended: on
/// whenever enabled.
pub fn absent_at(settings: &Settings, tz: chrono_tz::Tz, at: DateTime<Utc>) -> bool {
    let dated = settings.from_date.is_some() || settings.to_date.is_some();
    if dated && in_dates(settings, at) {
        return true;
    }
    if !dated && settings.schedule.is_empty() {
        return true;
    }
    schedule_matches(&compile(settings), tz, at)
}

fn in_dates(settings: &Settings, at: DateTime<Utc>) -> bool {
    settings.from_date.is_none_or(|f| at >= f) && settings.to_date.is_none_or(|t| at < t)
}

/// The recurring absence expressions, parsed (they were validated when saved).
fn compile(settings: &Settings) -> Vec<croner::Cron> {
    settings.schedule.iter().filter_map(|s| crate::config::parse_cron(s).ok()).collect()
}

fn schedule_matches(crons: &[croner::Cron], tz: chrono_tz::Tz, at: DateTime<Utc>) -> bool {
    // Cron matches whole minutes: the seconds of the arrival time do not matter.
    let minute = at.with_second(0).and_then(|t| t.with_nanosecond(0)).unwrap_or(at).with_timezone(&tz);
    crons.iter().any(|c| c.is_time_matching(&minute).unwrap_or(false))
}

/// When the absence that covers `at` ends: the leave's end when `at` falls in the dated leave,
/// else the first minute no absence expression matches (searched up to a week ahead).
pub fn absence_end(settings: &Settings, tz: chrono_tz::Tz, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let dated = settings.from_date.is_some() || settings.to_date.is_some();
    if dated && in_dates(settings, at) {
        return settings.to_date;
    }
    let crons = compile(settings);
    if crons.is_empty() || !schedule_matches(&crons, tz, at) {
        return None;
    }
    let mut t = at.with_second(0).and_then(|t| t.with_nanosecond(0)).unwrap_or(at);
    for _ in 0..7 * 24 * 60 {
        t += chrono::Duration::minutes(1);
        if !schedule_matches(&crons, tz, t) {
            return Some(t);
        }
    }
    None
}
