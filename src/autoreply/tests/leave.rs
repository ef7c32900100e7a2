//! When the responder is on: the dated leave at its boundaries across the Europe/Berlin
//! daylight-saving changes, recurring absence expressions read in local time, stale and
//! late mail, and how long a queued reply may wait before the absence is over.

use chrono::{TimeZone, Utc};
use chrono_tz::Europe::Berlin;

use super::{config, customer_at, decide_at, leave, local};
use crate::autoreply::decide::{self, Context, History, Reason};
use crate::autoreply::settings::Settings;

/// The leave ends with Sunday 25 Oct 2026 (the night clocks go back): 23:30 local is still
/// inside, 00:30 on the 26th is not; the spring change on 29 Mar 2026 likewise.
#[test]
fn leave_boundaries_across_dst_in_berlin() {
    let autumn = leave("2026-10-19", "2026-10-25");
    assert_eq!(autumn.to_date.unwrap().to_rfc3339(), "2026-10-25T23:00:00+00:00", "midnight CET after the 25th");
    let cases = [
        ("2026-10-25 23:30", Reason::Reply),
        ("2026-10-25 23:59", Reason::Reply),
        ("2026-10-26 00:00", Reason::OutsideLeave),
        ("2026-10-26 00:30", Reason::OutsideLeave),
        ("2026-10-19 00:00", Reason::Reply),
        ("2026-10-18 23:59", Reason::OutsideLeave),
    ];
    for (at, want) in cases {
        assert_eq!(decide_at(&autumn, local(at)), want, "autumn leave, message at {at}");
    }
    // 02:30 happens twice on 25 Oct; both are inside the leave.
    let first = Berlin.with_ymd_and_hms(2026, 10, 25, 2, 30, 0).earliest().unwrap().with_timezone(&Utc);
    let second = Berlin.with_ymd_and_hms(2026, 10, 25, 2, 30, 0).latest().unwrap().with_timezone(&Utc);
    assert_ne!(first, second);
    assert_eq!(decide_at(&autumn, first), Reason::Reply);
    assert_eq!(decide_at(&autumn, second), Reason::Reply);

    // Spring: the 29th has 23 hours; a leave of exactly that day.
    let spring = leave("2026-03-29", "2026-03-29");
    assert_eq!(spring.from_date.unwrap().to_rfc3339(), "2026-03-28T23:00:00+00:00", "midnight CET");
    assert_eq!(spring.to_date.unwrap().to_rfc3339(), "2026-03-29T22:00:00+00:00", "midnight CEST");
    let cases = [
        ("2026-03-28 23:59", Reason::OutsideLeave),
        ("2026-03-29 00:00", Reason::Reply),
        ("2026-03-29 03:00", Reason::Reply),
        ("2026-03-29 23:30", Reason::Reply),
        ("2026-03-30 00:00", Reason::OutsideLeave),
        ("2026-03-30 00:30", Reason::OutsideLeave),
    ];
    for (at, want) in cases {
        assert_eq!(decide_at(&spring, local(at)), want, "spring leave, message at {at}");
    }
}

/// A recurring absence ("outside office hours") is read in local time on both sides of a change.
#[test]
fn recurring_absence_is_local_time_across_dst() {
    let s = Settings {
        is_enabled: true,
        schedule: vec!["* 0-6,18-23 * * 1-5".into(), "* * * * 0,6".into()],
        ..Default::default()
    };
    let cases = [
        ("2026-10-23 17:59", Reason::OutsideLeave), // Friday, office open
        ("2026-10-23 18:00", Reason::Reply),        // Friday evening
        ("2026-10-25 12:00", Reason::Reply),        // Sunday
        ("2026-10-26 06:59", Reason::Reply),        // Monday early, first day of CET
        ("2026-10-26 07:00", Reason::OutsideLeave), // Monday 07:00 CET, office open
        ("2026-03-30 06:30", Reason::Reply),        // Monday early, first week of CEST
        ("2026-03-30 07:30", Reason::OutsideLeave),
    ];
    for (at, want) in cases {
        assert_eq!(decide_at(&s, local(at)), want, "office hours, message at {at}");
    }
    // A reply to Friday-evening mail is dropped if still queued on Monday 07:00.
    let end = decide::absence_end(&s, Berlin, local("2026-10-23 18:00")).unwrap();
    assert_eq!(end, local("2026-10-26 07:00"));
}

#[test]
fn leave_in_progress_and_stale_mail() {
    let s = leave("2026-12-21", "2027-01-06");
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let ctx = Context { mailbox: cfg.mailbox("becker").unwrap(), time_zone: Berlin };
    let at = local("2027-01-02 10:00");
    // Processed four days late (postbote was down): too old to answer.
    let d = decide::decide(&customer_at(at), &ctx, &s, &History::default(), at + chrono::Duration::days(4));
    assert_eq!(d.reason, Reason::TooOld);
    // Processed after the leave ended: no late reply.
    let d = decide::decide(
        &customer_at(local("2027-01-06 23:50")),
        &ctx,
        &s,
        &History::default(),
        local("2027-01-07 00:10"),
    );
    assert_eq!(d.reason, Reason::OutsideLeave);
    // Mail from before the responder watched the mailbox (first sync).
    let h = History { watching_since: Some(at + chrono::Duration::hours(1)), ..Default::default() };
    assert_eq!(decide::decide(&customer_at(at), &ctx, &s, &h, at).reason, Reason::InitialSync);
    // Switched off.
    let off = Settings { is_enabled: false, ..s.clone() };
    assert_eq!(decide::decide(&customer_at(at), &ctx, &off, &History::default(), at).reason, Reason::Disabled);
}

/// Dates and a recurring absence add up; a leave that is over does not stop the recurring one.
#[test]
fn dates_and_schedule_add_up() {
    let s = Settings {
        is_enabled: true,
        from_date: Some(local("2026-12-21 00:00")),
        to_date: Some(local("2027-01-07 00:00")),
        schedule: vec!["* 0-6,18-23 * * 1-5".into()],
        ..Default::default()
    };
    assert_eq!(decide_at(&s, local("2026-12-28 11:00")), Reason::Reply, "holiday, daytime");
    assert_eq!(decide_at(&s, local("2027-01-12 11:00")), Reason::OutsideLeave, "after the holiday, office hours");
    assert_eq!(decide_at(&s, local("2027-01-12 19:00")), Reason::Reply, "after the holiday, evening");
    // Friday-evening mail looked at on Monday at 08:00: the office is open again, no late reply.
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let ctx = Context { mailbox: cfg.mailbox("becker").unwrap(), time_zone: Berlin };
    let d = decide::decide(
        &customer_at(local("2027-01-15 19:00")),
        &ctx,
        &s,
        &History::default(),
        local("2027-01-18 08:00"),
    );
    assert_eq!(d.reason, Reason::OutsideLeave, "{}", d.detail);
}

/// A queued reply is dropped at the end of the absence, or after `max_age`, whichever is first.
#[test]
fn queued_replies_expire_with_the_leave_or_their_age() {
    let now = local("2027-01-02 10:00");
    let s = leave("2026-12-21", "2027-01-03");
    assert_eq!(
        crate::autoreply::discard_after(&s, Berlin, now, now),
        local("2027-01-04 00:00"),
        "the leave ends first"
    );
    let s = leave("2026-12-21", "2027-01-31");
    assert_eq!(
        crate::autoreply::discard_after(&s, Berlin, now, now),
        now + chrono::Duration::days(3),
        "max_age is first"
    );
}
