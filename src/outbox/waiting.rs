//! The "still waiting" rule: when a sender is told that mail they sent waits for the office.
//!
//! A transport with `send_while = "session"` holds mail while no office session is logged in.
//! Nobody would notice on a weekend or a holiday, so once a message has been held long enough
//! its sender gets one notice. Two pure pieces, no clock and no I/O (`waiting_notice` does the
//! counting and the telling):
//!
//! - [`working_secs`]: how much of a stretch of time falls inside the office's working hours,
//!   in the office's time zone, right across daylight-saving changes. The queue loop adds this
//!   for every interval the gate was closed, so evenings and weekends never count.
//! - [`verdict`] and [`plan`]: which messages are due a notice, and one summary per sender.
//!
//! The checks of [`verdict`], in order (the first that applies decides):
//! 1. `already-noticed`: a message gets at most one notice.
//! 2. `auto-reply`: never for auto-replies; they expire by themselves.
//! 3. `not-held-by-gate`: only mail of a `session` transport; `always` never waits for the office.
//! 4. not yet: less than `still_waiting_after` of closed-gate working time.
//! 5. due.
//!
//! [`plan`] then tells only while `now` is inside working hours, groups the due messages of a
//! sender (a mailbox: the notice goes into its INBOX) into one summary, and skips a sender
//! already told on the same local day; their messages stay due and are told the next working
//! day.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Datelike, LocalResult, NaiveDate, TimeZone};
use chrono_tz::Tz;

use crate::config::WorkingHours;

/// Seconds of `[from, to)` (unix seconds) inside the working hours, read in `tz`.
pub fn working_secs(hours: &WorkingHours, tz: Tz, from: i64, to: i64) -> i64 {
    if to <= from {
        return 0;
    }
    let (Some(first), Some(last)) = (local_date(tz, from), local_date(tz, to)) else { return 0 };
    let mut total = 0;
    let mut day = first;
    while day <= last {
        if hours.works_on(day.weekday()) {
            let (start, end) = (instant(tz, day, hours.start), instant(tz, day, hours.end));
            total += (end.min(to) - start.max(from)).max(0);
        }
        let Some(next) = day.succ_opt() else { break };
        day = next;
    }
    total
}

/// Is the instant `at` inside the working hours?
pub fn in_working_hours(hours: &WorkingHours, tz: Tz, at: i64) -> bool {
    working_secs(hours, tz, at, at + 1) == 1
}

fn local_date(tz: Tz, t: i64) -> Option<NaiveDate> {
    Some(DateTime::from_timestamp(t, 0)?.with_timezone(&tz).date_naive())
}

/// The instant `secs` after local midnight of `day`. A local time that occurs twice (autumn)
/// is its first occurrence; one that does not exist (spring) is taken an hour later, as
/// `config::local_datetime` does.
fn instant(tz: Tz, day: NaiveDate, secs: u32) -> i64 {
    let local = day.and_hms_opt(0, 0, 0).expect("midnight exists") + chrono::Duration::seconds(secs as i64);
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.timestamp(),
        LocalResult::None => tz
            .from_local_datetime(&(local + chrono::Duration::hours(1)))
            .earliest()
            .map(|t| t.timestamp())
            .unwrap_or_else(|| local.and_utc().timestamp()),
    }
}

/// A waiting message as the rule sees it.
#[derive(Debug, Clone)]
pub struct Held {
    pub id: i64,
    /// The mailbox that sent it; its INBOX gets the notice.
    pub account: String,
    pub auto_reply: bool,
    /// Its transport sends only while an office session is logged in.
    pub held_by_gate: bool,
    /// Closed-gate time inside working hours so far.
    pub waited: Duration,
    pub noticed: bool,
}

/// Why a message never gets a notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Never {
    AlreadyNoticed,
    AutoReply,
    NotHeldByGate,
}

impl Never {
    pub fn code(self) -> &'static str {
        match self {
            Never::AlreadyNoticed => "already-noticed",
            Never::AutoReply => "auto-reply",
            Never::NotHeldByGate => "not-held-by-gate",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Due,
    NotYet,
    Never(Never),
}

/// What the rule says about one message (the checks in the order of the module text).
pub fn verdict(m: &Held, after: Duration) -> Verdict {
    if m.noticed {
        Verdict::Never(Never::AlreadyNoticed)
    } else if m.auto_reply {
        Verdict::Never(Never::AutoReply)
    } else if !m.held_by_gate {
        Verdict::Never(Never::NotHeldByGate)
    } else if m.waited < after {
        Verdict::NotYet
    } else {
        Verdict::Due
    }
}

/// The settings the rule needs.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub after: Duration,
    pub hours: WorkingHours,
    pub tz: Tz,
}

/// One notice to write: the sender's account and the messages it names, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub account: String,
    pub ids: Vec<i64>,
}

/// The notices due at `now`. `last_notice` holds, per account, when it was last told.
pub fn plan(held: &[Held], last_notice: &HashMap<String, i64>, rule: &Rule, now: i64) -> Vec<Summary> {
    if !in_working_hours(&rule.hours, rule.tz, now) {
        return Vec::new();
    }
    let today = local_date(rule.tz, now);
    let mut out: Vec<Summary> = Vec::new();
    for m in held.iter().filter(|m| verdict(m, rule.after) == Verdict::Due) {
        if last_notice.get(&m.account).is_some_and(|t| local_date(rule.tz, *t) == today) {
            continue;
        }
        match out.iter_mut().find(|s| s.account == m.account) {
            Some(s) => s.ids.push(m.id),
            None => out.push(Summary { account: m.account.clone(), ids: vec![m.id] }),
        }
    }
    for s in &mut out {
        s.ids.sort_unstable();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Berlin;

    const H: i64 = 3600;

    fn office() -> WorkingHours {
        WorkingHours::parse("Mon-Fri 07:00-18:00").unwrap()
    }

    /// Unix seconds of a Berlin local time (2026-03-27 is a Friday, 03-29 the spring-forward
    /// Sunday, 10-25 the fall-back Sunday, 12-05 a Saturday).
    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        Berlin.with_ymd_and_hms(y, mo, d, h, mi, 0).earliest().unwrap().timestamp()
    }

    #[test]
    fn working_time_table() {
        let all_week = WorkingHours::parse("Mon-Sun 00:00-24:00").unwrap();
        let cases: &[(&str, WorkingHours, i64, i64, i64)] = &[
            ("one working day", office(), at(2026, 12, 7, 0, 0), at(2026, 12, 8, 0, 0), 11 * H),
            ("a whole week", office(), at(2026, 12, 7, 0, 0), at(2026, 12, 14, 0, 0), 55 * H),
            ("a weekend", office(), at(2026, 12, 5, 0, 0), at(2026, 12, 7, 0, 0), 0),
            ("a night", office(), at(2026, 12, 7, 18, 0), at(2026, 12, 8, 7, 0), 0),
            ("Saturday morning", office(), at(2026, 12, 5, 9, 0), at(2026, 12, 5, 12, 0), 0),
            ("Friday 17:00 to Monday 08:00", office(), at(2026, 12, 4, 17, 0), at(2026, 12, 7, 8, 0), 2 * H),
            ("inside one day", office(), at(2026, 12, 7, 9, 15), at(2026, 12, 7, 9, 45), 1800),
            ("start at opening", office(), at(2026, 12, 7, 6, 59), at(2026, 12, 7, 7, 1), 60),
            ("empty", office(), at(2026, 12, 7, 9, 0), at(2026, 12, 7, 9, 0), 0),
            ("backwards", office(), at(2026, 12, 7, 10, 0), at(2026, 12, 7, 9, 0), 0),
            // Across the spring-forward weekend: 71 h of wall-clock time, 6 h on Friday and
            // 5 h on Monday inside working hours, the Monday already in summer time.
            ("across spring forward", office(), at(2026, 3, 27, 12, 0), at(2026, 3, 30, 12, 0), 11 * H),
            ("the short day", all_week, at(2026, 3, 29, 0, 0), at(2026, 3, 30, 0, 0), 23 * H),
            ("the long day", all_week, at(2026, 10, 25, 0, 0), at(2026, 10, 26, 0, 0), 25 * H),
            // A working day in summer time: still 11 hours, not 10 or 12.
            ("a summer day", office(), at(2026, 7, 1, 0, 0), at(2026, 7, 2, 0, 0), 11 * H),
        ];
        for (what, hours, from, to, want) in cases {
            assert_eq!(working_secs(hours, Berlin, *from, *to), *want, "{what}");
        }
        assert!(in_working_hours(&office(), Berlin, at(2026, 12, 7, 7, 0)));
        assert!(!in_working_hours(&office(), Berlin, at(2026, 12, 7, 18, 0)), "the end is exclusive");
        assert!(!in_working_hours(&office(), Berlin, at(2026, 12, 5, 10, 0)), "Saturday");
    }

    /// The loop adds up short intervals: the sum must be the same as one long one, whatever
    /// the cut points (here every 7 minutes and 13 seconds across a week with a DST change).
    #[test]
    fn intervals_add_up() {
        let hours = office();
        let (from, to) = (at(2026, 10, 22, 5, 0), at(2026, 10, 29, 20, 0));
        let whole = working_secs(&hours, Berlin, from, to);
        let mut sum = 0;
        let mut t = from;
        while t < to {
            let next = (t + 433).min(to);
            sum += working_secs(&hours, Berlin, t, next);
            t = next;
        }
        assert_eq!(sum, whole);
        assert_eq!(whole, 6 * 11 * H, "Thu, Fri, Mon, Tue, Wed, Thu (the fall-back Sunday does not count)");
    }

    /// Outside working hours nothing accrues: a gate closed all weekend, observed every few
    /// seconds as the loop does, adds nothing; the first working minute on Monday adds a minute.
    #[test]
    fn outside_working_hours_nothing_accrues() {
        let hours = office();
        let mut waited = 0;
        let mut t = at(2026, 12, 4, 18, 0);
        while t < at(2026, 12, 7, 7, 0) {
            waited += working_secs(&hours, Berlin, t, t + 5);
            t += 5;
        }
        assert_eq!(waited, 0);
        let m = Held {
            id: 1,
            account: "becker".into(),
            auto_reply: false,
            held_by_gate: true,
            waited: Duration::from_secs(waited as u64),
            noticed: false,
        };
        assert_eq!(verdict(&m, Duration::from_secs(2 * 3600)), Verdict::NotYet);
        waited += working_secs(&hours, Berlin, t, t + 60);
        assert_eq!(waited, 60);
    }

    fn held(id: i64, account: &str, waited_h: u64) -> Held {
        Held {
            id,
            account: account.into(),
            auto_reply: false,
            held_by_gate: true,
            waited: Duration::from_secs(waited_h * 3600),
            noticed: false,
        }
    }

    #[test]
    fn verdict_table() {
        let two = Duration::from_secs(2 * 3600);
        let cases: &[(&str, Held, Verdict)] = &[
            ("held long enough", held(1, "a", 2), Verdict::Due),
            ("not long enough", held(1, "a", 1), Verdict::NotYet),
            ("already told", Held { noticed: true, ..held(1, "a", 9) }, Verdict::Never(Never::AlreadyNoticed)),
            ("auto-reply", Held { auto_reply: true, ..held(1, "a", 9) }, Verdict::Never(Never::AutoReply)),
            ("always transport", Held { held_by_gate: false, ..held(1, "a", 9) }, Verdict::Never(Never::NotHeldByGate)),
            (
                "told beats auto-reply",
                Held { noticed: true, auto_reply: true, ..held(1, "a", 9) },
                Verdict::Never(Never::AlreadyNoticed),
            ),
        ];
        for (what, m, want) in cases {
            assert_eq!(verdict(m, two), *want, "{what}");
        }
        assert_eq!(Never::NotHeldByGate.code(), "not-held-by-gate");
    }

    #[test]
    fn plan_table() {
        let rule = Rule { after: Duration::from_secs(2 * 3600), hours: office(), tz: Berlin };
        let monday_10 = at(2026, 12, 7, 10, 0);
        let msgs = vec![
            held(3, "becker", 5),
            held(1, "becker", 3),
            held(2, "schmidt", 1),
            Held { auto_reply: true, ..held(4, "schmidt", 9) },
            held(5, "info", 2),
        ];
        let none = HashMap::new();
        // Several due messages of one sender make one summary; a sender with nothing due and
        // an auto-reply get nothing.
        assert_eq!(
            plan(&msgs, &none, &rule, monday_10),
            vec![
                Summary { account: "becker".into(), ids: vec![1, 3] },
                Summary { account: "info".into(), ids: vec![5] },
            ]
        );
        // Outside working hours nobody is told, even when due.
        assert!(plan(&msgs, &none, &rule, at(2026, 12, 7, 19, 0)).is_empty());
        assert!(plan(&msgs, &none, &rule, at(2026, 12, 5, 10, 0)).is_empty());
        // One summary per sender per (local) day: told at 08:00 today means not again today...
        let told: HashMap<String, i64> = [("becker".to_string(), at(2026, 12, 7, 8, 0))].into();
        assert_eq!(plan(&msgs, &told, &rule, monday_10), vec![Summary { account: "info".into(), ids: vec![5] }]);
        // ...but the next working day.
        let tuesday = at(2026, 12, 8, 7, 30);
        assert_eq!(plan(&msgs, &told, &rule, tuesday)[0], Summary { account: "becker".into(), ids: vec![1, 3] });
        // The day is the office's: told at 00:30 on Monday in Berlin (still Sunday in UTC) is
        // today, and 23:59 on Sunday is yesterday.
        let told: HashMap<String, i64> = [("becker".to_string(), at(2026, 12, 7, 0, 30))].into();
        assert!(plan(&msgs, &told, &rule, monday_10).iter().all(|s| s.account != "becker"));
        let told: HashMap<String, i64> = [("becker".to_string(), at(2026, 12, 6, 23, 59))].into();
        assert_eq!(plan(&msgs, &told, &rule, monday_10)[0].account, "becker");
    }
}
