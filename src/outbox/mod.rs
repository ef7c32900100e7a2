//! The outbound queue: every message postbote sends (from phones, the auto-responder, the office
//! program) is queued here durably and leaves only under the rules of its transport.
//!
//! The parts: `enqueue` validates and commits in one store transaction and wakes the loop (and
//! holds `cancel` and `retry_now`); `run` is the daemon's queue loop; `gate` is the
//! office-session gate, its clock and the sessions that open it; `send` drains one mailbox
//! over one SMTP connection and `outcome` says, purely, what its answers mean; the retry
//! policy is the pure `retry::next`, pacing the pure `rate` with its glue in `pacing`;
//! `notices` and `waiting_notice` tell senders about failed, expired and waiting mail;
//! `sentcopy` saves Sent copies. A message's [`State`] lives in the store, which also keeps
//! what follows it. This module is the only caller of `smtp`. It never sends a message twice
//! without a person's say: a message whose outcome is unknown waits for `postbote queue
//! retry` or `cancel`.

pub mod compose;
pub mod enqueue;
pub mod gate;
pub mod notices;
pub mod outcome;
pub mod pacing;
pub mod rate;
pub mod retry;
pub mod run;
pub mod send;
pub mod sentcopy;
pub mod waiting;
pub mod waiting_notice;

use serde_json::json;

use crate::app::App;
use crate::store::now;
pub use crate::store::outbox::State;
pub use enqueue::{EnqueueError, Origin, Outgoing, Queued, cancel, enqueue, retry_now, state};
pub use gate::{
    session_heartbeat, session_heartbeat_via, session_login, session_login_via, session_logout, session_logout_via,
    sessions, this_process,
};
pub(crate) use notices::notify_failed;
pub use run::run;

pub(crate) fn random_hex(bytes: usize) -> String {
    use rand::Rng;
    let mut b = vec![0u8; bytes];
    rand::rng().fill(&mut b[..]);
    hex::encode(b)
}

// ----------------------------------------------------------------------- status

fn when(app: &App, t: i64) -> String {
    crate::status::local_time(app.config.agent.time_zone, t)
}

pub async fn status(app: &App, mailbox: &str) -> anyhow::Result<crate::status::Part> {
    let Some(mb) = app.config.mailbox(mailbox) else { return Ok(Default::default()) };
    let counts = app.store.outbox().counts(Some(mailbox))?;
    let gate = gate::state(app, mb.transport)?;
    let pause = app.store.outbox().pause(mailbox)?;
    let server = app.config.smtp_server(mb);
    let mut lines = Vec::new();
    let summary: Vec<String> =
        State::ALL.iter().filter_map(|s| counts.get(s).filter(|n| **n > 0).map(|n| format!("{n} {s}"))).collect();
    lines.push(format!(
        "outbox ({} via {}:{}): {}",
        mb.transport.as_str(),
        server.host,
        server.port,
        if summary.is_empty() { "empty".into() } else { summary.join(", ") }
    ));
    if let Some(n) = counts.get(&State::Unknown).filter(|n| **n > 0) {
        lines.push(format!(
            "outbox: {n} message(s) may or may not have gone out (postbote stopped while sending): `postbote queue list --status unknown`, then `queue retry ID` or `queue cancel ID`"
        ));
    }
    if let Some(p) = &pause {
        let fix =
            if p.reason.starts_with(send::BLOCKED) { "Once the provider lifts the block" } else { "Fix the password" };
        lines.push(format!(
            "outbox: SENDING PAUSED since {}: {}. {fix}, then `postbote queue retry ID`",
            when(app, p.at),
            p.reason
        ));
    }
    if gate.policy == crate::config::SendWhile::Session {
        if gate.open {
            lines.push(format!("outbox: gate open ({} office session(s) logged in)", gate.sessions.len()));
        } else {
            lines.push(
                "outbox: gate closed: mail waits until an office session logs in (send_while = \"session\")".into(),
            );
        }
    }
    let rate = pacing::rate_status(app, mb, now())?;
    lines.extend(rate.lines);
    let transcripts = send::transcripts_on(server);
    if transcripts {
        lines.push(format!(
            "outbox: WARNING: SMTP sessions are being recorded{} (they show who mails whom): set log_sessions = false when done",
            server.log_sessions_until.map(|u| format!(" until {}", when(app, u.timestamp()))).unwrap_or_default()
        ));
    }
    let json = json!({
        "transport": mb.transport.as_str(),
        "server": format!("{}:{}", server.host, server.port),
        "counts": counts,
        "gate": {
            "open": gate.open,
            "policy": match gate.policy { crate::config::SendWhile::Session => "session", crate::config::SendWhile::Always => "always" },
            "sessions": gate.sessions.len(),
        },
        "paused": pause.as_ref().map(|p| json!({ "reason": p.reason, "at": p.at, "transport": p.transport })),
        "transcripts": transcripts,
        "rate": rate.json,
    });
    Ok(crate::status::Part { json, lines })
}

pub async fn status_global(app: &App) -> anyhow::Result<crate::status::Part> {
    let sessions = app.store.sessions().active(now())?;
    let counts = app.store.outbox().counts(None)?;
    let mut lines = Vec::new();
    if sessions.is_empty() {
        lines.push("office sessions: none logged in".to_string());
    } else {
        for s in &sessions {
            lines.push(format!("office session {} ({}), lease until {}", s.user, s.id, when(app, s.lease_until)));
        }
    }
    for (name, server) in [("direct", &app.config.direct), ("relay", &app.config.relay)] {
        if let Some(s) = server
            && send::transcripts_on(s)
        {
            lines.push(format!(
                "WARNING: [{name}] log_sessions is on: SMTP transcripts under {} reveal who mails whom",
                app.config.agent.data_dir.join("transcripts").display()
            ));
        }
    }
    let audit = app.store.sessions().audit_recent(5)?;
    if !audit.is_empty() {
        lines.push("control endpoint, last requests (newest first):".to_string());
    }
    for a in &audit {
        let who = match (&a.user, &a.session_id) {
            (Some(u), Some(id)) => format!("{u} ({id})"),
            _ => "-".into(),
        };
        let end = a.lease_until.map(|t| format!(", lease until {}", when(app, t))).unwrap_or_default();
        let why = a.detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default();
        lines.push(format!("  {}  {:9}  {who}  from {}{end}{why}", when(app, a.at), a.action.as_str(), a.how));
    }
    let json = json!({
        "sessions": sessions,
        "counts": counts,
        "session_audit": audit,
    });
    Ok(crate::status::Part { json, lines })
}
