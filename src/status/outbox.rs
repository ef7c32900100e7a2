//! The queue's lines of `status`: per mailbox ([`render`]: counts, messages whose outcome is
//! unknown, a pause, the office-session gate, pacing, recorded SMTP sessions) and for all
//! mailboxes together ([`render_global`]: office sessions, recorded transports, the control
//! endpoint's last requests).

use serde_json::json;

use super::Part;
use crate::clock::local_time;
use crate::config::SendWhile;
use crate::outbox::pacing::{RateSummary, held_text};
use crate::outbox::{GlobalSummary, PauseCause, State, Summary};

pub fn render(s: &Summary, tz: chrono_tz::Tz) -> Part {
    let mut lines = Vec::new();
    let counts: Vec<String> =
        State::ALL.iter().filter_map(|st| s.counts.get(st).filter(|n| **n > 0).map(|n| format!("{n} {st}"))).collect();
    lines.push(format!(
        "outbox ({} via {}:{}): {}",
        s.transport.as_str(),
        s.host,
        s.port,
        if counts.is_empty() { "empty".into() } else { counts.join(", ") }
    ));
    if let Some(n) = s.counts.get(&State::Unknown).filter(|n| **n > 0) {
        lines.push(format!(
            "outbox: {n} message(s) may or may not have gone out (postbote stopped while sending): `postbote queue list --status unknown`, then `queue retry ID` or `queue cancel ID`"
        ));
    }
    if let Some(p) = &s.paused {
        let fix = match p.cause {
            PauseCause::Blocked => "Once the provider lifts the block",
            PauseCause::LoginRefused => "Fix the password",
        };
        lines.push(format!(
            "outbox: SENDING PAUSED since {}: {}. {fix}, then `postbote queue retry ID`",
            local_time(tz, p.at),
            p.reason
        ));
    }
    if s.gate.policy == SendWhile::Session {
        if s.gate.open {
            lines.push(format!("outbox: gate open ({} office session(s) logged in)", s.gate.sessions.len()));
        } else {
            lines.push(
                "outbox: gate closed: mail waits until an office session logs in (send_while = \"session\")".into(),
            );
        }
    }
    let rate = render_rate(&s.rate, s.transport.as_str(), tz);
    lines.extend(rate.lines);
    if s.sent_copies_set_aside > 0 {
        lines.push(format!(
            "outbox: {} Sent copy(ies) set aside after the server refused them {} times (last: {}); the mail itself went out",
            s.sent_copies_set_aside,
            crate::outbox::sentcopy::SET_ASIDE_AFTER,
            s.sent_copy_refusal.as_deref().unwrap_or("no reason given")
        ));
    }
    if s.transcripts {
        lines.push(format!(
            "outbox: WARNING: SMTP sessions are being recorded{} (they show who mails whom): set log_sessions = false when done",
            s.transcripts_until.map(|u| format!(" until {}", local_time(tz, u))).unwrap_or_default()
        ));
    }
    let json = json!({
        "transport": s.transport.as_str(),
        "server": format!("{}:{}", s.host, s.port),
        "counts": s.counts,
        "gate": {
            "open": s.gate.open,
            "policy": match s.gate.policy { SendWhile::Session => "session", SendWhile::Always => "always" },
            "sessions": s.gate.sessions.len(),
        },
        "paused": s.paused.as_ref().map(|p| json!({ "reason": p.reason, "at": p.at, "transport": p.transport })),
        "transcripts": s.transcripts,
        "rate": rate.json,
        "sent_copies_set_aside": s.sent_copies_set_aside,
    });
    Part { json, lines }
}

/// The pacing lines of one mailbox on `transport`.
pub fn render_rate(r: &RateSummary, transport: &str, tz: chrono_tz::Tz) -> Part {
    let mut lines = Vec::new();
    if let Some(h) = r.held {
        lines.push(format!("outbox: {} message(s) {}", h.messages, held_text(tz, h.until.max(r.at), r.at)));
    }
    if let Some(t) = &r.slowed_down {
        lines.push(format!(
            "outbox: {transport} slowed down after \"{}\" at {}: at most one message every {} s, speeding up again by itself",
            t.reply,
            local_time(tz, t.at),
            t.interval_secs.ceil()
        ));
    }
    let json = json!({
        "held": r.held.map(|h| json!({ "messages": h.messages, "until": h.until })),
        "slowed_down": r.slowed_down.as_ref().map(|t| json!({ "reply": t.reply, "at": t.at, "interval_secs": t.interval_secs })),
    });
    Part { json, lines }
}

/// What all mailboxes share; its lines follow the mailboxes' unindented.
pub fn render_global(g: &GlobalSummary, tz: chrono_tz::Tz) -> Part {
    let mut lines = Vec::new();
    if g.sessions.is_empty() {
        lines.push("office sessions: none logged in".to_string());
    } else {
        for s in &g.sessions {
            lines.push(format!("office session {} ({}), lease until {}", s.user, s.id, local_time(tz, s.lease_until)));
        }
    }
    for t in &g.transcripts_on {
        lines.push(format!(
            "WARNING: [{}] log_sessions is on: SMTP transcripts under {} reveal who mails whom",
            t.as_str(),
            g.transcript_dir.display()
        ));
    }
    if !g.audit.is_empty() {
        lines.push("control endpoint, last requests (newest first):".to_string());
    }
    for a in &g.audit {
        let who = match (&a.user, &a.session_id) {
            (Some(u), Some(id)) => format!("{u} ({id})"),
            _ => "-".into(),
        };
        let end = a.lease_until.map(|t| format!(", lease until {}", local_time(tz, t))).unwrap_or_default();
        let why = a.detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default();
        lines.push(format!("  {}  {:9}  {who}  from {}{end}{why}", local_time(tz, a.at), a.action.as_str(), a.how));
    }
    let json = json!({
        "sessions": g.sessions,
        "counts": g.counts,
        "session_audit": g.audit,
    });
    Part { json, lines }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::Transport;
    use crate::outbox::Paused;
    use crate::outbox::gate::GateState;
    use crate::outbox::pacing::{Held, SlowDown};
    use crate::store::sessions::{AuditAction, AuditEntry, OfficeSession};

    const BERLIN: chrono_tz::Tz = chrono_tz::Europe::Berlin;
    /// 04.12.2026 14:05:09 in Berlin.
    const T: i64 = 1_796_389_509;

    fn session() -> OfficeSession {
        OfficeSession {
            id: "c0ffee".into(),
            user: "anna".into(),
            created_at: T - 3600,
            lease_until: T + 8 * 3600,
            ttl_secs: 8 * 3600,
            ended_at: None,
        }
    }

    fn quiet(transport: Transport, policy: SendWhile) -> Summary {
        Summary {
            transport,
            host: "smtp.bau-firma.test".into(),
            port: 465,
            counts: BTreeMap::new(),
            gate: GateState { open: policy == SendWhile::Always, policy, sessions: vec![] },
            paused: None,
            transcripts: false,
            transcripts_until: None,
            rate: RateSummary { at: T, held: None, slowed_down: None },
            sent_copies_set_aside: 0,
            sent_copy_refusal: None,
        }
    }

    #[test]
    fn an_empty_queue_on_an_always_open_path_is_one_line() {
        let p = render(&quiet(Transport::Relay, SendWhile::Always), BERLIN);
        assert_eq!(p.lines, ["outbox (relay via smtp.bau-firma.test:465): empty"]);
        assert_eq!(
            p.json,
            json!({
                "transport": "relay",
                "server": "smtp.bau-firma.test:465",
                "counts": {},
                "gate": { "open": true, "policy": "always", "sessions": 0 },
                "paused": null,
                "transcripts": false,
                "rate": { "held": null, "slowed_down": null },
                "sent_copies_set_aside": 0,
            })
        );
    }

    #[test]
    fn a_closed_gate_says_what_opens_it() {
        let p = render(&quiet(Transport::Direct, SendWhile::Session), BERLIN);
        assert_eq!(
            p.lines,
            [
                "outbox (direct via smtp.bau-firma.test:465): empty",
                "outbox: gate closed: mail waits until an office session logs in (send_while = \"session\")",
            ]
        );
        assert_eq!(p.json["gate"], json!({ "open": false, "policy": "session", "sessions": 0 }));
    }

    #[test]
    fn everything_that_holds_mail_back_gets_a_line_in_a_fixed_order() {
        let mut s = quiet(Transport::Direct, SendWhile::Session);
        s.counts = BTreeMap::from([(State::Sent, 4), (State::Queued, 2), (State::Unknown, 1), (State::Failed, 0)]);
        s.gate = GateState { open: true, policy: SendWhile::Session, sessions: vec![session()] };
        s.paused = Some(Paused {
            cause: PauseCause::LoginRefused,
            reason: "smtp.bau-firma.test:465 refused the login (535 5.7.8)".into(),
            at: T,
            transport: "direct".into(),
        });
        s.transcripts = true;
        s.transcripts_until = Some(T + 86_400);
        s.sent_copies_set_aside = 2;
        s.sent_copy_refusal = Some("NO [LIMIT] Mailbox is full".into());
        s.rate = RateSummary {
            at: T,
            held: Some(Held { messages: 2, until: T + 600 }),
            slowed_down: Some(SlowDown { reply: "421 4.7.0 too many".into(), at: T - 60, interval_secs: 29.2 }),
        };
        let p = render(&s, BERLIN);
        assert_eq!(
            p.lines,
            [
                "outbox (direct via smtp.bau-firma.test:465): 2 queued, 1 unknown, 4 sent",
                "outbox: 1 message(s) may or may not have gone out (postbote stopped while sending): `postbote queue list --status unknown`, then `queue retry ID` or `queue cancel ID`",
                "outbox: SENDING PAUSED since 04.12.2026 14:05: smtp.bau-firma.test:465 refused the login (535 5.7.8). Fix the password, then `postbote queue retry ID`",
                "outbox: gate open (1 office session(s) logged in)",
                "outbox: 2 message(s) held by rate limit until 14:15",
                "outbox: direct slowed down after \"421 4.7.0 too many\" at 04.12.2026 14:04: at most one message every 30 s, speeding up again by itself",
                "outbox: 2 Sent copy(ies) set aside after the server refused them 3 times (last: NO [LIMIT] Mailbox is full); the mail itself went out",
                "outbox: WARNING: SMTP sessions are being recorded until 05.12.2026 14:05 (they show who mails whom): set log_sessions = false when done",
            ]
        );
        assert_eq!(
            p.json,
            json!({
                "transport": "direct",
                "server": "smtp.bau-firma.test:465",
                "counts": { "queued": 2, "unknown": 1, "sent": 4, "failed": 0 },
                "gate": { "open": true, "policy": "session", "sessions": 1 },
                "paused": { "reason": "smtp.bau-firma.test:465 refused the login (535 5.7.8)", "at": T, "transport": "direct" },
                "transcripts": true,
                "rate": {
                    "held": { "messages": 2, "until": T + 600 },
                    "slowed_down": { "reply": "421 4.7.0 too many", "at": T - 60, "interval_secs": 29.2 },
                },
                "sent_copies_set_aside": 2,
            })
        );
    }

    #[test]
    fn a_blocked_account_waits_for_the_provider_and_a_past_hold_shows_now() {
        let mut s = quiet(Transport::Relay, SendWhile::Always);
        s.paused = Some(Paused {
            cause: PauseCause::Blocked,
            reason: "the provider blocked the sending account (554 5.7.1)".into(),
            at: T - 86_400,
            transport: "relay".into(),
        });
        s.transcripts = true;
        s.rate.held = Some(Held { messages: 1, until: T - 600 });
        let p = render(&s, BERLIN);
        assert_eq!(
            &p.lines[1..],
            [
                "outbox: SENDING PAUSED since 03.12.2026 14:05: the provider blocked the sending account (554 5.7.1). Once the provider lifts the block, then `postbote queue retry ID`",
                "outbox: 1 message(s) held by rate limit until 14:05",
                "outbox: WARNING: SMTP sessions are being recorded (they show who mails whom): set log_sessions = false when done",
            ]
        );
        assert_eq!(
            p.json["rate"]["held"],
            json!({ "messages": 1, "until": T - 600 }),
            "the JSON keeps the stored time"
        );
    }

    #[test]
    fn the_shared_part_lists_sessions_recorded_transports_and_the_audit_newest_first() {
        let g = GlobalSummary {
            sessions: vec![session()],
            counts: BTreeMap::from([(State::Queued, 3)]),
            transcripts_on: vec![Transport::Direct, Transport::Relay],
            transcript_dir: "/var/lib/postbote/transcripts".into(),
            audit: vec![
                AuditEntry {
                    at: T,
                    action: AuditAction::Login,
                    session_id: Some("c0ffee".into()),
                    user: Some("anna".into()),
                    how: "cli uid 1000".into(),
                    lease_until: Some(T + 8 * 3600),
                    detail: None,
                },
                AuditEntry {
                    at: T - 60,
                    action: AuditAction::Refused,
                    session_id: None,
                    user: None,
                    how: "tcp 127.0.0.1:53211".into(),
                    lease_until: None,
                    detail: Some("wrong token".into()),
                },
            ],
        };
        let p = render_global(&g, BERLIN);
        assert_eq!(
            p.lines,
            [
                "office session anna (c0ffee), lease until 04.12.2026 22:05",
                "WARNING: [direct] log_sessions is on: SMTP transcripts under /var/lib/postbote/transcripts reveal who mails whom",
                "WARNING: [relay] log_sessions is on: SMTP transcripts under /var/lib/postbote/transcripts reveal who mails whom",
                "control endpoint, last requests (newest first):",
                "  04.12.2026 14:05  login      anna (c0ffee)  from cli uid 1000, lease until 04.12.2026 22:05",
                "  04.12.2026 14:04  refused    -  from tcp 127.0.0.1:53211: wrong token",
            ]
        );
        assert_eq!(
            p.json,
            json!({
                "sessions": [{
                    "id": "c0ffee", "user": "anna", "created_at": T - 3600, "lease_until": T + 8 * 3600,
                    "ttl_secs": 8 * 3600, "ended_at": null,
                }],
                "counts": { "queued": 3 },
                "session_audit": [
                    {
                        "at": T, "action": "login", "session_id": "c0ffee", "user": "anna",
                        "how": "cli uid 1000", "lease_until": T + 8 * 3600, "detail": null,
                    },
                    {
                        "at": T - 60, "action": "refused", "session_id": null, "user": null,
                        "how": "tcp 127.0.0.1:53211", "lease_until": null, "detail": "wrong token",
                    },
                ],
            })
        );
    }

    #[test]
    fn no_session_is_said_plainly() {
        let g = GlobalSummary {
            sessions: vec![],
            counts: BTreeMap::new(),
            transcripts_on: vec![],
            transcript_dir: "/var/lib/postbote/transcripts".into(),
            audit: vec![],
        };
        let p = render_global(&g, BERLIN);
        assert_eq!(p.lines, ["office sessions: none logged in"]);
        assert_eq!(p.json, json!({ "sessions": [], "counts": {}, "session_audit": [] }));
    }
}
