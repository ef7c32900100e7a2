//! The outbound queue: every message postbote sends (from phones, the auto-responder, the office
//! program) is queued here durably and leaves only under the rules of its transport.
//!
//! `enqueue` validates and commits in one store transaction and wakes the loop. `run` is the
//! daemon's queue loop: at start-up it turns messages left in `sending` into `unknown` and
//! settles those it can prove were sent; then, on every wake-up and at least every few seconds,
//! it counts open-gate time (and closed-gate working time, for the "still waiting" notice of
//! `waiting_notice`), expires and discards, and drains each mailbox with due messages
//! whose gate is open (`send`), then saves Sent copies (`sentcopy`). The retry policy is the
//! pure `retry::next`; the gate and its clock are in `gate`. This module is the only caller of
//! `smtp`. It never sends a message twice without a person's say: a message whose outcome is
//! unknown waits for `postbote queue retry` or `cancel`.

pub mod compose;
pub mod gate;
pub mod pacing;
pub mod rate;
pub mod retry;
pub mod send;
pub mod sentcopy;
pub mod waiting;
pub mod waiting_notice;

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::config::{Mailbox, Transport};
use crate::store::now;
use crate::store::outbox::NewOutboxMessage;
use crate::store::sessions::OfficeSession;

/// Who asked for a message to be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The office program or a person (`postbote send`).
    Office,
    /// A phone (JMAP EmailSubmission).
    Phone,
    /// The auto-responder.
    AutoReply,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Office => "office",
            Origin::Phone => "phone",
            Origin::AutoReply => "autoreply",
        }
    }
}

/// A message to queue.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The mailbox id it is sent for.
    pub mailbox: String,
    /// The whole RFC 5322 message. Its From must be one of the mailbox's company addresses.
    /// A missing Message-ID (on the company domain) or Date is added.
    pub raw: Vec<u8>,
    /// Envelope recipients; `None` takes To, Cc and Bcc of the message (Bcc is removed from
    /// the header before sending).
    pub recipients: Option<Vec<String>>,
    pub origin: Origin,
    /// Unix seconds: if it has not been sent by then it is cancelled, not sent late
    /// (auto-replies after the leave ended).
    pub discard_after: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct Queued {
    pub id: i64,
    /// Without angle brackets.
    pub message_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// How often the loop looks at the queue without being woken (another process may have queued,
/// a lease may have run out, a deferred message may be due).
const POLL: Duration = Duration::from_secs(2);
/// How often old transcripts are deleted.
const CLEANUP_EVERY: Duration = Duration::from_secs(3600);

/// Queue a message durably and wake the sender. Returns once it is committed.
pub fn enqueue(app: &App, msg: Outgoing) -> Result<Queued, EnqueueError> {
    let refuse = |s: String| Err(EnqueueError::Refused(s));
    let Some(mb) = app.config.mailbox(&msg.mailbox) else {
        return refuse(format!("no mailbox \"{}\" in the config", msg.mailbox));
    };
    let raw = compose::normalize_crlf(&msg.raw);
    let Some((mut fields, rest)) = compose::split_headers(&raw) else {
        return refuse(format!("mailbox \"{}\": the message has no header section", mb.id));
    };
    let rest = rest.to_vec();
    let parsed = crate::message::parse(&raw);
    let from = match parsed.from.as_slice() {
        [one] => one.clone(),
        [] => return refuse(format!("mailbox \"{}\": the message has no From address", mb.id)),
        _ => return refuse(format!("mailbox \"{}\": the message has more than one From address", mb.id)),
    };
    let from_addr = from.email.to_lowercase();
    let from_addr = if mb.addresses.contains(&from_addr) {
        from_addr
    } else if from_addr == mb.hosted_address {
        // The hosted address must never show: the recipient sees the company address.
        let company = mb.primary_address().to_string();
        let header = format!("From: {}\r\n", compose::mailbox_header(from.name.as_deref(), &company));
        for f in fields.iter_mut() {
            if compose::is_field(f, "From") {
                *f = header.clone().into_bytes();
            }
        }
        company
    } else {
        return refuse(format!(
            "mailbox \"{}\": From {} is not one of its company addresses ({})",
            mb.id,
            from.email,
            mb.addresses.join(", ")
        ));
    };

    let mut recipients: Vec<String> = Vec::new();
    let given: Vec<String> = match &msg.recipients {
        Some(r) => r.clone(),
        None => parsed.to.iter().chain(&parsed.cc).chain(&parsed.bcc).map(|a| a.email.clone()).collect(),
    };
    for r in given {
        let r = r.trim().to_string();
        if !crate::config::is_address(&r) {
            return refuse(format!("mailbox \"{}\": recipient \"{r}\" is not an e-mail address", mb.id));
        }
        if !recipients.iter().any(|x| x.eq_ignore_ascii_case(&r)) {
            recipients.push(r);
        }
    }
    if recipients.is_empty() {
        return refuse(format!(
            "mailbox \"{}\": the message has no recipient (no To, Cc or Bcc, and none given)",
            mb.id
        ));
    }

    fields.retain(|f| !compose::is_field(f, "Bcc"));
    let domain = from_addr.rsplit_once('@').map(|(_, d)| d.to_string()).unwrap_or_default();
    let message_id = match parsed.message_id.filter(|m| !m.is_empty() && m.contains('@')) {
        Some(id) => id,
        None => {
            fields.retain(|f| !compose::is_field(f, "Message-ID"));
            let id = compose::new_message_id(&domain);
            fields.push(format!("Message-ID: <{id}>\r\n").into_bytes());
            id
        }
    };
    if !fields.iter().any(|f| compose::is_field(f, "Date")) {
        fields.push(format!("Date: {}\r\n", compose::date_header(app.config.agent.time_zone)).into_bytes());
    }
    let raw = compose::join(&fields, &rest);
    let id = app.store.outbox_insert(&NewOutboxMessage {
        account: mb.id.clone(),
        origin: msg.origin.as_str(),
        message_id: message_id.clone(),
        from_addr,
        subject: parsed.subject,
        raw,
        recipients,
        discard_after: msg.discard_after,
    })?;
    app.outbox_wake.notify_one();
    Ok(Queued { id, message_id })
}

/// The queue state of a message: "queued", "sending", "deferred", "sent", "failed",
/// "cancelled", "expired" or "unknown".
pub fn state(app: &App, id: i64) -> Result<Option<String>, crate::store::StoreError> {
    app.store.outbox_status_of(id)
}

/// Cancel a message that has not been sent. Returns false if it was already final.
pub fn cancel(app: &App, id: i64, reason: &str) -> Result<bool, crate::store::StoreError> {
    app.store.outbox_cancel(id, reason)
}

/// Send it again (deferred, failed, expired or unknown), now, and lift the mailbox's pause.
/// Returns false when the message does not exist or is sent, sending or cancelled.
pub fn retry_now(app: &App, id: i64, who: &str) -> Result<bool, crate::store::StoreError> {
    let r = app.store.outbox_retry(id, who)?;
    if r.is_some() {
        app.outbox_wake.notify_one();
    }
    Ok(r.is_some())
}

pub(crate) fn random_hex(bytes: usize) -> String {
    use rand::Rng;
    let mut b = vec![0u8; bytes];
    rand::rng().fill(&mut b[..]);
    hex::encode(b)
}

// ----------------------------------------------------------------------- office sessions

/// "cli uid N": a session change made in this process (the command line while the daemon is
/// not running), as the audit trail records it.
pub fn this_process() -> String {
    // SAFETY: getuid has no arguments, cannot fail and touches no memory of ours.
    format!("cli uid {}", unsafe { libc::getuid() })
}

/// Log an office session in; the gate of `send_while = "session"` transports opens.
pub fn session_login(app: &App, user: &str, ttl: Option<Duration>) -> Result<OfficeSession, EnqueueError> {
    session_login_via(app, user, ttl, &this_process())
}

/// Log an office session in for a request that came in `how` (recorded in the audit trail).
/// The lease is `ttl` (default `control.session_ttl`), never more than `control.max_session_ttl`.
pub fn session_login_via(
    app: &App,
    user: &str,
    ttl: Option<Duration>,
    how: &str,
) -> Result<OfficeSession, EnqueueError> {
    let user = user.trim();
    if user.is_empty() || user.len() > 200 {
        return Err(EnqueueError::Refused("a session needs a user name (1 to 200 characters)".into()));
    }
    let c = &app.config.control;
    let ttl = ttl.unwrap_or(c.session_ttl).min(c.max_session_ttl).as_secs().max(1) as i64;
    let s = app.store.session_insert(&random_hex(16), user, ttl, how)?;
    app.outbox_wake.notify_one();
    Ok(s)
}

pub fn session_heartbeat(app: &App, id: &str) -> Result<Option<OfficeSession>, crate::store::StoreError> {
    session_heartbeat_via(app, id, &this_process())
}

/// Renew a lease to now + the session's ttl, never more than `control.max_session_ttl` ahead.
pub fn session_heartbeat_via(
    app: &App,
    id: &str,
    how: &str,
) -> Result<Option<OfficeSession>, crate::store::StoreError> {
    app.store.session_heartbeat(id, app.config.control.max_session_ttl.as_secs() as i64, how)
}

pub fn session_logout(app: &App, id: &str) -> Result<bool, crate::store::StoreError> {
    session_logout_via(app, id, &this_process())
}

pub fn session_logout_via(app: &App, id: &str, how: &str) -> Result<bool, crate::store::StoreError> {
    app.store.session_end(id, how)
}

pub fn sessions(app: &App) -> Result<Vec<OfficeSession>, crate::store::StoreError> {
    app.store.sessions_active(now())
}

// ----------------------------------------------------------------------- notices

/// Put a notice about recipients that failed into the sender's INBOX (the store at once, the
/// server's INBOX through the write-back queue).
pub(crate) fn notify_failed(
    app: &App,
    mb: &Mailbox,
    id: i64,
    lines: &[compose::NoticeLine],
    expired: bool,
) -> Result<(), crate::store::StoreError> {
    let Some((m, _)) = app.store.outbox_show(id)? else { return Ok(()) };
    let domain = m.from.rsplit_once('@').map(|(_, d)| d.to_string()).unwrap_or_else(|| "localhost".into());
    let raw = compose::notice(app.config.agent.time_zone, &m.from, &domain, &m.subject, &m.message_id, lines, expired);
    app.store.insert_inbox_notice(&mb.id, raw, &["$postbote-notice"])?;
    app.wake_writeback(&mb.id);
    app.store.outbox_note(id, "postbote", None, "a notice about the failed recipients was put into the INBOX")?;
    Ok(())
}

// ----------------------------------------------------------------------- the loop

/// Per-run state of the loop that is not worth a table.
struct LoopState {
    clocks: HashMap<&'static str, gate::OpenClock>,
    copy_backoff: HashMap<String, (tokio::time::Instant, Duration)>,
    last_cleanup: Option<tokio::time::Instant>,
    waited: waiting_notice::WaitClock,
}

pub async fn run(app: App, token: CancellationToken) -> anyhow::Result<()> {
    match sentcopy::reconcile_unknown(&app).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(settled = n, "messages left unknown by a crash were found in the Sent folder"),
        Err(e) => tracing::warn!(error = %e, "could not settle unknown messages"),
    }
    let mut st = LoopState {
        clocks: HashMap::new(),
        copy_backoff: HashMap::new(),
        last_cleanup: None,
        waited: Default::default(),
    };
    loop {
        if token.is_cancelled() {
            return Ok(());
        }
        if let Err(e) = pass(&app, &mut st, &token).await {
            tracing::error!(error = %e, "outbox pass failed");
        }
        let wait = match app.store.outbox_next_due() {
            Ok(Some(due)) => Duration::from_secs((due - now()).clamp(0, POLL.as_secs() as i64) as u64),
            _ => POLL,
        };
        let wait = wait.max(Duration::from_millis(200));
        tokio::select! {
            _ = token.cancelled() => return Ok(()),
            _ = app.outbox_wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// One look at the queue.
async fn pass(app: &App, st: &mut LoopState, token: &CancellationToken) -> Result<(), crate::store::StoreError> {
    let at = now();
    let instant = tokio::time::Instant::now();
    for t in [Transport::Direct, Transport::Relay] {
        let accounts: Vec<String> =
            app.config.mailboxes.iter().filter(|m| m.transport == t).map(|m| m.id.clone()).collect();
        if accounts.is_empty() {
            continue;
        }
        let open = gate::is_open(app, t)?;
        let secs = st.clocks.entry(t.as_str()).or_default().tick(instant, open);
        app.store.outbox_add_open_time(&accounts, secs as i64)?;
    }
    // Closed-gate time in working hours, and "still waiting" notices to whoever is due one.
    if let Err(e) = waiting_notice::tick(app, &mut st.waited, at) {
        tracing::warn!(error = %e, "could not count or tell the time mail waits for an office session");
    }
    for (id, account) in app.store.outbox_expire(app.config.outbox.lifetime.as_secs() as i64, at)? {
        if let (Some(mb), Some((m, _))) = (app.config.mailbox(&account), app.store.outbox_show(id)?) {
            let lines: Vec<compose::NoticeLine> = m
                .recipients
                .iter()
                .filter(|r| r.status == "pending")
                .map(|r| compose::NoticeLine {
                    recipient: r.address.clone(),
                    reply: r.text.clone().unwrap_or_else(|| m.last_error.clone().unwrap_or_default()),
                })
                .collect();
            if let Err(e) = notify_failed(app, mb, id, &lines, true) {
                tracing::warn!(id, error = %e, "could not store the expiry notice");
            }
        }
    }

    let due = app.store.outbox_due_accounts(at)?;
    let mut drains = Vec::new();
    for account in &due {
        let Some(mb) = app.config.mailbox(account) else {
            app.store.outbox_mark_waiting(account, Some("its mailbox is no longer in the config"), at)?;
            continue;
        };
        if !gate::is_open(app, mb.transport)? {
            app.store.outbox_mark_waiting(account, Some(send::GATE_CLOSED), at)?;
            continue;
        }
        drains.push(async move {
            match send::drain(app, mb, token).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(mailbox = %mb.id, error = %e, "sending stopped");
                    0
                }
            }
        });
    }
    futures_util::future::join_all(drains).await;

    for mb in &app.config.mailboxes {
        if let Some((next, _)) = st.copy_backoff.get(&mb.id)
            && tokio::time::Instant::now() < *next
        {
            continue;
        }
        match sentcopy::copy_sent(app, mb).await {
            Ok(_) => {
                st.copy_backoff.remove(&mb.id);
            }
            Err(e) => {
                let d = st
                    .copy_backoff
                    .get(&mb.id)
                    .map(|(_, d)| (*d * 2).min(Duration::from_secs(3600)))
                    .unwrap_or(Duration::from_secs(60));
                tracing::warn!(mailbox = %mb.id, error = %e, retry_in_s = d.as_secs(), "could not save sent mail to the Sent folder");
                st.copy_backoff.insert(mb.id.clone(), (tokio::time::Instant::now() + d, d));
            }
        }
    }

    if st.last_cleanup.is_none_or(|t| t.elapsed() > CLEANUP_EVERY) {
        st.last_cleanup = Some(tokio::time::Instant::now());
        let n = crate::smtp::transcript::cleanup(
            &app.config.agent.data_dir.join("transcripts"),
            app.config.outbox.transcript_retention,
        );
        if n > 0 {
            tracing::info!(removed = n, "old SMTP transcripts deleted");
        }
    }
    Ok(())
}

// ----------------------------------------------------------------------- status

fn when(app: &App, t: i64) -> String {
    crate::status::local_time(app.config.agent.time_zone, t)
}

pub async fn status(app: &App, mailbox: &str) -> anyhow::Result<crate::status::Part> {
    let Some(mb) = app.config.mailbox(mailbox) else { return Ok(Default::default()) };
    let counts = app.store.outbox_counts(Some(mailbox))?;
    let gate = gate::state(app, mb.transport)?;
    let pause = app.store.outbox_pause(mailbox)?;
    let server = app.config.smtp_server(mb);
    let mut lines = Vec::new();
    let order = ["queued", "sending", "deferred", "unknown", "sent", "failed", "expired", "cancelled"];
    let summary: Vec<String> =
        order.iter().filter_map(|s| counts.get(*s).filter(|n| **n > 0).map(|n| format!("{n} {s}"))).collect();
    lines.push(format!(
        "outbox ({} via {}:{}): {}",
        mb.transport.as_str(),
        server.host,
        server.port,
        if summary.is_empty() { "empty".into() } else { summary.join(", ") }
    ));
    if let Some(n) = counts.get("unknown").filter(|n| **n > 0) {
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
    let sessions = app.store.sessions_active(now())?;
    let counts = app.store.outbox_counts(None)?;
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
    let audit = app.store.audit_recent(5)?;
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
