//! What the queue reports about itself: [`Summary`] for one mailbox (its counts, gate, pause,
//! pacing and whether its SMTP sessions are recorded) and [`GlobalSummary`] for what all
//! mailboxes share (office sessions, the control endpoint's audit trail, recorded transports).
//!
//! These are plain data read from the store and the config: times are unix seconds, states are
//! enums, nothing is worded here. `status` turns them into lines and JSON (and a web console may
//! turn them into HTML). This module changes nothing and never talks to a server.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::gate::{self, GateState};
use super::{State, pacing, send};
use crate::app::App;
use crate::config::Transport;
use crate::store::now;
use crate::store::sessions::{AuditEntry, OfficeSession};

/// The queue of one mailbox as it is now.
#[derive(Debug, Clone)]
pub struct Summary {
    pub transport: Transport,
    /// The SMTP server the mailbox's mail goes to on its transport.
    pub host: String,
    pub port: u16,
    /// Messages per state; a state without messages may be absent.
    pub counts: BTreeMap<State, i64>,
    /// Whether the mailbox's transport may send now, and the sessions that hold it open.
    pub gate: GateState,
    /// Sending is paused for this mailbox until a person acts.
    pub paused: Option<Paused>,
    /// SMTP sessions on this transport are being recorded to transcripts now.
    pub transcripts: bool,
    /// When recording stops by itself (unix seconds), if an end is configured.
    pub transcripts_until: Option<i64>,
    pub rate: pacing::RateSummary,
    /// Sent copies the server refused three times, set aside and not tried again, and the
    /// newest refusal's words.
    pub sent_copies_set_aside: i64,
    pub sent_copy_refusal: Option<String>,
}

/// Why and since when a mailbox's sending is paused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paused {
    pub cause: PauseCause,
    /// What the server said, for people.
    pub reason: String,
    /// Unix seconds.
    pub at: i64,
    /// The transport ("direct" or "relay") the pause was recorded on.
    pub transport: String,
}

/// What lifts a pause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PauseCause {
    /// The server refused the login: a new password (or `queue retry`) lifts it.
    LoginRefused,
    /// The provider blocked the account: only the provider can lift it, then `queue retry`.
    Blocked,
}

/// What all mailboxes share: office sessions, the whole queue, recorded transports, the audit.
#[derive(Debug, Clone)]
pub struct GlobalSummary {
    /// Live office sessions, oldest first.
    pub sessions: Vec<OfficeSession>,
    /// Messages per state over all mailboxes.
    pub counts: BTreeMap<State, i64>,
    /// The transports whose SMTP sessions are being recorded now, direct before relay.
    pub transcripts_on: Vec<Transport>,
    /// Where transcripts are written.
    pub transcript_dir: PathBuf,
    /// The control endpoint's last requests, newest first.
    pub audit: Vec<AuditEntry>,
}

/// How many audit entries [`status_global`] reports.
const AUDIT_SHOWN: usize = 5;

/// The queue of `mailbox` (its id in the config) now.
pub fn status(app: &App, mailbox: &str) -> anyhow::Result<Summary> {
    let mb = app.config.mailbox(mailbox).ok_or_else(|| anyhow::anyhow!("no mailbox \"{mailbox}\" in the config"))?;
    let server = app.config.smtp_server(mb);
    let paused = app.store.outbox().pause(mailbox)?.map(|p| Paused {
        cause: if p.reason.starts_with(send::BLOCKED) { PauseCause::Blocked } else { PauseCause::LoginRefused },
        reason: p.reason,
        at: p.at,
        transport: p.transport,
    });
    let (sent_copies_set_aside, sent_copy_refusal) = app.store.outbox_sent_copies_set_aside(mailbox)?;
    let recording = super::logging::recording(app, mb.transport)?;
    Ok(Summary {
        transport: mb.transport,
        host: server.host.clone(),
        port: server.port,
        counts: app.store.outbox().counts(Some(mailbox))?,
        gate: gate::state(app, mb.transport)?,
        paused,
        transcripts: recording.on,
        transcripts_until: recording.until(),
        rate: pacing::rate_status(app, mb, now())?,
        sent_copies_set_aside,
        sent_copy_refusal,
    })
}

/// What all mailboxes share, now.
pub fn status_global(app: &App) -> anyhow::Result<GlobalSummary> {
    let mut transcripts_on = Vec::new();
    for t in [Transport::Direct, Transport::Relay] {
        if super::logging::recording(app, t)?.on {
            transcripts_on.push(t);
        }
    }
    Ok(GlobalSummary {
        sessions: app.store.sessions().active(now())?,
        counts: app.store.outbox().counts(None)?,
        transcripts_on,
        transcript_dir: app.config.agent.data_dir.join("transcripts"),
        audit: app.store.sessions().audit_recent(AUDIT_SHOWN)?,
    })
}
