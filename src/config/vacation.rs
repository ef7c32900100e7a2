//! `[mailbox.vacation]`: the leave settings of one mailbox, checked here as written. The
//! settings stay raw in [`super::Mailbox::vacation`]; `autoreply` turns them into its own type,
//! and may rely on what this check guarantees: durations, schedules and dates parse, and the
//! leave ends after it starts.

use std::time::Duration;

use super::raw::RawVacation;
use super::validate::{duration, local_datetime, parse_cron};

/// Check the leave settings; an error is `(key, problem)`, which the caller prefixes with the mailbox.
pub(super) fn check(v: &RawVacation, tz: chrono_tz::Tz) -> Result<(), (String, String)> {
    let err = |key: &str, problem: String| (key.to_string(), problem);
    if let Some(i) = &v.interval {
        let d = duration(i, "vacation.interval")
            .map_err(|_| err("vacation.interval", format!("\"{i}\" is not a duration like \"7d\"")))?;
        if d < Duration::from_secs(86_400) {
            return Err(err("vacation.interval", format!("\"{i}\" is shorter than one day")));
        }
    }
    if let Some(a) = &v.max_age {
        duration(a, "vacation.max_age")
            .map_err(|_| err("vacation.max_age", format!("\"{a}\" is not a duration like \"3d\"")))?;
    }
    for s in v.schedule.iter().flatten() {
        parse_cron(s).map_err(|e| err("vacation.schedule", format!("\"{s}\" is not a crontab expression: {e}")))?;
    }
    if let Some(a) = &v.answer
        && a != "everyone"
        && a != "known"
    {
        return Err(err("vacation.answer", format!("\"{a}\" must be \"everyone\" or \"known\"")));
    }
    let mut window = [None, None];
    for (i, (key, d)) in [("vacation.start", &v.start), ("vacation.end", &v.end)].into_iter().enumerate() {
        if let Some(d) = d {
            window[i] = Some(
                local_datetime(d, tz, key == "vacation.end", key)
                    .map_err(|_| err(key, format!("\"{d}\" is not a local date or date-time")))?,
            );
        }
    }
    if let ([Some(start), Some(end)], Some(s), Some(e)) = (window, &v.start, &v.end)
        && end <= start
    {
        return Err(err("vacation.end", format!("{e} is not after vacation.start {s}: the leave would never begin")));
    }
    Ok(())
}
