//! The auto-responder's lines of `status`: on or off with its window, decisions per reason and
//! replies per outbox state.

use serde_json::{Value, json};

use super::Part;
use crate::autoreply::Summary;

pub fn render(s: &Summary, tz: chrono_tz::Tz) -> Part {
    let settings = &s.settings;
    let mut lines = vec![if settings.is_enabled {
        format!("auto-reply: on ({})", settings.describe_window(tz))
    } else {
        "auto-reply: off".to_string()
    }];
    let listed = |v: &[(String, i64)]| v.iter().map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>().join(", ");
    if !s.decisions.is_empty() {
        lines.push(format!("  decisions: {}", listed(&s.decisions)));
    }
    if !s.replies.is_empty() {
        lines.push(format!("  replies: {}", listed(&s.replies)));
    }
    let obj = |v: &[(String, i64)]| Value::Object(v.iter().map(|(k, n)| (k.clone(), json!(n))).collect());
    Part {
        json: json!({
            "enabled": settings.is_enabled,
            "from_date": settings.from_date.map(|t| t.to_rfc3339()),
            "to_date": settings.to_date.map(|t| t.to_rfc3339()),
            "schedule": settings.schedule,
            "decisions": obj(&s.decisions),
            "replies": obj(&s.replies),
            "initial_sync_skipped": s.initial_sync_skipped,
        }),
        lines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autoreply::Settings;

    const BERLIN: chrono_tz::Tz = chrono_tz::Europe::Berlin;

    #[test]
    fn off_with_nothing_decided_is_one_line() {
        let s = Summary { settings: Settings::default(), decisions: vec![], replies: vec![], initial_sync_skipped: 0 };
        let p = render(&s, BERLIN);
        assert_eq!(p.lines, ["auto-reply: off"]);
        assert_eq!(
            p.json,
            json!({
                "enabled": false, "from_date": null, "to_date": null, "schedule": [],
                "decisions": {}, "replies": {}, "initial_sync_skipped": 0,
            })
        );
    }

    #[test]
    fn on_shows_the_window_in_office_time_and_counts_in_the_order_given() {
        let utc = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap().to_utc();
        let settings = Settings {
            is_enabled: true,
            from_date: Some(utc("2026-12-19T23:00:00Z")),
            to_date: Some(utc("2027-01-06T23:00:00Z")),
            schedule: vec!["0 0 * * 5".into()],
            ..Settings::default()
        };
        let s = Summary {
            settings,
            decisions: vec![("list".into(), 2), ("auto_submitted".into(), 1), ("reply".into(), 1)],
            replies: vec![("cancelled".into(), 1), ("sent".into(), 3)],
            initial_sync_skipped: 42,
        };
        let p = render(&s, BERLIN);
        assert_eq!(
            p.lines,
            [
                "auto-reply: on (from 20.12.2026 00:00 until before 07.01.2027 00:00; recurring: 0 0 * * 5)",
                "  decisions: list 2, auto_submitted 1, reply 1",
                "  replies: cancelled 1, sent 3",
            ]
        );
        assert_eq!(
            p.json,
            json!({
                "enabled": true,
                "from_date": "2026-12-19T23:00:00+00:00",
                "to_date": "2027-01-06T23:00:00+00:00",
                "schedule": ["0 0 * * 5"],
                "decisions": { "list": 2, "auto_submitted": 1, "reply": 1 },
                "replies": { "cancelled": 1, "sent": 3 },
                "initial_sync_skipped": 42,
            })
        );
    }
}
