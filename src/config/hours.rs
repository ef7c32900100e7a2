//! The office's working hours (`outbox.working_hours = "Mon-Fri 07:00-18:00"`): which weekdays,
//! and which local times on them. Only the shape and its parser live here; what the hours are
//! used for (closed-gate time that counts towards a "still waiting" notice) is in
//! `outbox::waiting`. Pure, no clock.

use chrono::Weekday;

/// Weekdays and one daily span of local time, in seconds after local midnight: `start`
/// inclusive, `end` exclusive (86,400 for "24:00").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkingHours {
    /// Monday first.
    pub days: [bool; 7],
    pub start: u32,
    pub end: u32,
}

const DAYS: [(&str, Weekday); 7] = [
    ("mon", Weekday::Mon),
    ("tue", Weekday::Tue),
    ("wed", Weekday::Wed),
    ("thu", Weekday::Thu),
    ("fri", Weekday::Fri),
    ("sat", Weekday::Sat),
    ("sun", Weekday::Sun),
];

impl WorkingHours {
    /// `"Mon-Fri 07:00-18:00"`, `"Mon-Thu,Sat 06:30-15:00"`, `"Mon,Wed 08:00-12:00"`. Day
    /// names in English, three letters, any case; a day range may not wrap past Sunday; the
    /// end time must be after the start time ("24:00" is the end of the day).
    pub fn parse(s: &str) -> Result<WorkingHours, String> {
        let (days, times) =
            s.trim().split_once(char::is_whitespace).ok_or("expected days and times, e.g. \"Mon-Fri 07:00-18:00\"")?;
        let mut set = [false; 7];
        for part in days.split(',') {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            let (a, b) = (day(a)?, day(b)?);
            if a > b {
                return Err(format!("the day range \"{part}\" runs backwards (write \"Mon-Fri\", not \"Fri-Mon\")"));
            }
            for d in set.iter_mut().take(b + 1).skip(a) {
                *d = true;
            }
        }
        let (start, end) = times.trim().split_once('-').ok_or("expected a time span such as 07:00-18:00")?;
        let (start, end) = (time(start)?, if end.trim() == "24:00" { 86_400 } else { time(end)? });
        if end <= start {
            return Err(format!("the end {} is not after the start {}", hhmm(end), hhmm(start)));
        }
        Ok(WorkingHours { days: set, start, end })
    }

    /// Is `wd` a working day?
    pub fn works_on(&self, wd: Weekday) -> bool {
        self.days[wd.num_days_from_monday() as usize]
    }
}

fn day(s: &str) -> Result<usize, String> {
    let l = s.trim().to_lowercase();
    DAYS.iter()
        .position(|(n, _)| *n == l)
        .ok_or_else(|| format!("\"{}\" is not a day (Mon, Tue, Wed, Thu, Fri, Sat, Sun)", s.trim()))
}

fn time(s: &str) -> Result<u32, String> {
    use chrono::Timelike;
    chrono::NaiveTime::parse_from_str(s.trim(), "%H:%M")
        .map(|t| t.num_seconds_from_midnight())
        .map_err(|_| format!("\"{}\" is not a time of day (HH:MM)", s.trim()))
}

fn hhmm(secs: u32) -> String {
    format!("{:02}:{:02}", secs / 3600, secs % 3600 / 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_that_parse_and_shapes_that_do_not() {
        let h = WorkingHours::parse("Mon-Fri 07:00-18:00").unwrap();
        assert_eq!(h.days, [true, true, true, true, true, false, false]);
        assert_eq!((h.start, h.end), (7 * 3600, 18 * 3600));
        let h = WorkingHours::parse("mon-thu,SAT 06:30-15:00").unwrap();
        assert_eq!(h.days, [true, true, true, true, false, true, false]);
        assert_eq!(h.start, 6 * 3600 + 30 * 60);
        let h = WorkingHours::parse("Sun 00:00-24:00").unwrap();
        assert!(h.works_on(Weekday::Sun) && !h.works_on(Weekday::Mon));
        assert_eq!((h.start, h.end), (0, 86_400));
        for (bad, why) in [
            ("Mon-Fri", "expected days and times"),
            ("Fri-Mon 07:00-18:00", "runs backwards"),
            ("Mo-Fr 07:00-18:00", "\"Mo\" is not a day"),
            ("Mon-Fri 7-18", "\"7\" is not a time of day"),
            ("Mon-Fri 07:00", "expected a time span"),
            ("Mon-Fri 07:00-6pm", "\"6pm\" is not a time of day"),
            ("Mon-Fri 18:00-07:00", "is not after the start"),
        ] {
            let e = WorkingHours::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
