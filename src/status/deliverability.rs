//! The doctor's lines of `status`: the last verdict of each path the mailbox sends on, in
//! English, with the last definite level when the last check could not be made. The JSON holds
//! every path checked, in both languages.

use serde_json::{Value, json};

use super::Part;
use crate::clock::local_time;
use crate::deliverability::Summary;
use crate::deliverability::verdict::{Lang, Level};

pub fn render(s: &Summary, tz: chrono_tz::Tz) -> Part {
    let mut lines = Vec::new();
    if s.paths.is_empty() {
        lines.push("deliverability: not checked yet (`postbote doctor`)".to_string());
    }
    for p in s.paths.iter().filter(|p| p.configured) {
        let mut level = p.level.map(|l| l.label(Lang::En)).unwrap_or("?").to_string();
        if let (Some(Level::CouldNotCheck), Some(known)) = (p.level, p.last_definite_level) {
            level = format!("{level}, last known: {}", known.label(Lang::En));
        }
        lines.push(format!(
            "deliverability {} via {}: {level} ({}): {}",
            p.domain,
            p.transport,
            local_time(tz, p.checked_at),
            p.reason.en
        ));
    }
    let json = Value::Array(
        s.paths
            .iter()
            .map(|p| {
                json!({
                    "domain": p.domain,
                    "transport": p.transport,
                    "configured": p.configured,
                    "level": p.level.map(Level::as_str),
                    "last_definite_level": p.last_definite_level.map(Level::as_str),
                    "reason": p.reason,
                    "fix": p.fix,
                    "checked_at": p.checked_at,
                })
            })
            .collect(),
    );
    Part { json, lines }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deliverability::PathStatus;
    use crate::deliverability::verdict::Text;

    const BERLIN: chrono_tz::Tz = chrono_tz::Europe::Berlin;

    fn text(de: &str, en: &str) -> Text {
        Text { de: de.into(), en: en.into() }
    }

    #[test]
    fn never_checked_points_to_the_doctor() {
        let p = render(&Summary { paths: vec![] }, BERLIN);
        assert_eq!(p.lines, ["deliverability: not checked yet (`postbote doctor`)"]);
        assert_eq!(p.json, json!([]));
    }

    #[test]
    fn the_text_shows_the_path_in_use_and_the_json_every_path() {
        let s = Summary {
            paths: vec![
                PathStatus {
                    domain: "bau-firma.test".into(),
                    transport: "direct".into(),
                    configured: true,
                    level: Some(Level::CouldNotCheck),
                    last_definite_level: Some(Level::AtRisk),
                    reason: text("DNS antwortete nicht", "DNS did not answer"),
                    fix: None,
                    checked_at: 1_796_389_509,
                },
                PathStatus {
                    domain: "bau-firma.test".into(),
                    transport: "relay".into(),
                    configured: false,
                    level: Some(Level::WillFail),
                    last_definite_level: Some(Level::WillFail),
                    reason: text("SPF fehlt", "SPF missing"),
                    fix: Some(text("SPF veröffentlichen", "Publish SPF")),
                    checked_at: 1_796_389_569,
                },
                PathStatus {
                    domain: "maler.test".into(),
                    transport: "direct".into(),
                    configured: true,
                    level: Some(Level::Ok),
                    last_definite_level: Some(Level::Ok),
                    reason: text("Alles gut", "All good"),
                    fix: None,
                    checked_at: 1_796_389_509,
                },
            ],
        };
        let p = render(&s, BERLIN);
        assert_eq!(
            p.lines,
            [
                "deliverability bau-firma.test via direct: could not check, last known: at risk (04.12.2026 14:05): DNS did not answer",
                "deliverability maler.test via direct: ok (04.12.2026 14:05): All good",
            ]
        );
        assert_eq!(
            p.json,
            json!([
                {
                    "domain": "bau-firma.test", "transport": "direct", "configured": true,
                    "level": "could_not_check", "last_definite_level": "at_risk",
                    "reason": { "de": "DNS antwortete nicht", "en": "DNS did not answer" },
                    "fix": null, "checked_at": 1_796_389_509,
                },
                {
                    "domain": "bau-firma.test", "transport": "relay", "configured": false,
                    "level": "will_fail", "last_definite_level": "will_fail",
                    "reason": { "de": "SPF fehlt", "en": "SPF missing" },
                    "fix": { "de": "SPF veröffentlichen", "en": "Publish SPF" }, "checked_at": 1_796_389_569,
                },
                {
                    "domain": "maler.test", "transport": "direct", "configured": true,
                    "level": "ok", "last_definite_level": "ok",
                    "reason": { "de": "Alles gut", "en": "All good" },
                    "fix": null, "checked_at": 1_796_389_509,
                },
            ])
        );
    }

    #[test]
    fn a_level_this_version_does_not_know_is_a_question_mark() {
        let s = Summary {
            paths: vec![PathStatus {
                domain: "bau-firma.test".into(),
                transport: "direct".into(),
                configured: true,
                level: None,
                last_definite_level: None,
                reason: text("?", "?"),
                fix: None,
                checked_at: 1_796_389_509,
            }],
        };
        assert_eq!(render(&s, BERLIN).lines, ["deliverability bau-firma.test via direct: ? (04.12.2026 14:05): ?"]);
    }
}
