//! Automatic replies while someone is on leave (or a shared mailbox is unattended).
//!
//! The parts: [`settings`] (what the user set, JMAP VacationResponse-shaped), [`decide`] (a
//! pure function from message + settings + history to a decision with a reason code),
//! [`render`] (the RFC 3834 reply) and, here, the loop that ties them to the store and the
//! outbox. The loop reads each account's new INBOX (and Junk) messages past a cursor, decides,
//! records every decision with its reason, and hands replies to `outbox::enqueue`; the outbox
//! holds them behind the office-session gate and cancels them if they are still queued when
//! the leave ends or they are too old. A sender counts as answered only once the outbox says
//! the reply was sent.
//!
//! This module never talks SMTP or IMAP, never answers mail that was already in the mailbox
//! when it started watching it (the first sync of old mail), and never decides a message twice.

pub mod decide;
pub mod render;
pub mod settings;

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

pub use decide::{Context, Decision, History, Incoming, Reason, ReturnPath, decide};
pub use settings::{Answer, InvalidSettings, Settings};

use crate::app::App;
use crate::config::{FolderSpec, Mailbox};
use crate::outbox::{self, Origin, Outgoing};
use crate::store::StoreError;
use crate::store::autoreply::{Candidate, DecisionRecord, ReplyRecord};

/// How many messages one pass reads from the store at a time.
const BATCH: usize = 200;
/// Even without a store change, look again this often (the hourly cap).
const TICK: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum AutoreplyError {
    #[error("autoreply: no mailbox \"{0}\" in the config")]
    UnknownMailbox(String),
    #[error(transparent)]
    Invalid(#[from] InvalidSettings),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn mailbox<'a>(app: &'a App, id: &str) -> Result<&'a Mailbox, AutoreplyError> {
    app.config.mailbox(id).ok_or_else(|| AutoreplyError::UnknownMailbox(id.to_string()))
}

/// The mailbox's effective settings (switched off if nothing was ever set).
pub fn load_settings(app: &App, mailbox_id: &str) -> Result<Settings, AutoreplyError> {
    mailbox(app, mailbox_id)?;
    Ok(app.store.autoreply().settings(mailbox_id)?.unwrap_or_default())
}

/// Validate and store a mailbox's settings; logs a VacationResponse change (id 1) under the
/// account's modseq in the same transaction. The per-sender memory is kept unless
/// `settings.memory_since` moves.
pub fn save_settings(app: &App, mailbox_id: &str, settings: &Settings) -> Result<(), AutoreplyError> {
    mailbox(app, mailbox_id)?;
    settings.validate()?;
    app.store.autoreply().save_settings(mailbox_id, settings, None)?;
    Ok(())
}

/// Apply each mailbox's `[mailbox.vacation]` where it differs from what was last applied from
/// the config (a change made from a phone or `vacation set` since then stays until the config
/// itself changes). Returns the ids of the mailboxes whose settings were replaced.
pub fn apply_config(app: &App) -> Result<Vec<String>, AutoreplyError> {
    let tz = app.config.agent.time_zone;
    let mut applied = Vec::new();
    for m in &app.config.mailboxes {
        let Some(raw) = &m.vacation else { continue };
        let fp = Settings::config_fingerprint(raw, tz);
        if app.store.autoreply().config_hash(&m.id)?.as_deref() == Some(fp.as_str()) {
            continue;
        }
        let mut s =
            Settings::from_config(raw, tz).map_err(|e| InvalidSettings(format!("mailbox \"{}\": {}", m.id, e.0)))?;
        if let Some(old) = app.store.autoreply().settings(&m.id)? {
            s.memory_since = old.memory_since;
        }
        app.store.autoreply().save_settings(&m.id, &s, Some(&fp))?;
        applied.push(m.id.clone());
    }
    Ok(applied)
}

fn ts(t: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(t, 0).unwrap_or_default()
}

/// The history `decide` needs for `msg`, from the store.
fn history_for(
    app: &App,
    m: &Mailbox,
    settings: &Settings,
    msg: &Incoming,
    now: DateTime<Utc>,
    watching_since: Option<DateTime<Utc>>,
) -> Result<History, StoreError> {
    let memory_since = settings.memory_since.map(|t| t.timestamp()).unwrap_or(0);
    let mut h = History { watching_since, ..Default::default() };
    if let Some(sender) = msg.return_path.address() {
        let r = app.store.autoreply().history(&m.id, sender, msg.thread_id, memory_since, now.timestamp())?;
        h.last_sent_to_sender = r.last_sent_to_sender.map(ts);
        h.pending_for_sender = r.pending_for_sender;
        h.conversation_answered = r.conversation_answered;
        h.replies_last_hour = r.replies_last_hour;
    }
    if settings.answer == Answer::Known {
        let (role, name) = match &m.sent_folder {
            FolderSpec::Role(r) => (Some(r.as_str()), None),
            FolderSpec::Name(n) => (None, Some(n.as_str())),
        };
        let addrs: Vec<&str> = msg.return_path.address().into_iter().chain(msg.from.as_deref()).collect();
        h.known_sender = app.store.autoreply().known_correspondent(&m.id, role, name, &addrs)?;
    }
    Ok(h)
}

/// When a reply queued now must be cancelled if it has not gone out: at the end of the
/// absence that covers the message, and at the latest `max_age` from now.
pub fn discard_after(
    settings: &Settings,
    tz: chrono_tz::Tz,
    received_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    let by_age = now + chrono::Duration::seconds(settings.max_age_secs);
    match decide::absence_end(settings, tz, received_at) {
        Some(end) => end.min(by_age),
        None => by_age,
    }
}

fn random_id() -> String {
    use rand::Rng;
    let bytes: [u8; 16] = rand::rng().random();
    hex::encode(bytes)
}

/// The outcome of one message in the loop (for tests and logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    Decided {
        reason: Reason,
        queued: Option<i64>,
    },
    /// Inbox mail received before the responder watched the mailbox (the first sync): counted,
    /// not recorded one by one.
    InitialSync,
    /// Not the inbox or junk, or a copy of a message decided before: nothing recorded.
    Passed,
}

/// The daemon task: wake on every store change (and once a minute), look at each mailbox's
/// new mail, decide, record, queue.
pub async fn run(app: App, token: CancellationToken) -> anyhow::Result<()> {
    let mut rounds = crate::app::Rounds::new(&app, TICK);
    match apply_config(&app) {
        Ok(ids) if !ids.is_empty() => tracing::info!(mailboxes = ?ids, "vacation settings from the config applied"),
        Ok(_) => {}
        Err(e) => tracing::error!(error = %e, "vacation settings from the config not applied"),
    }
    loop {
        // Drain the wake-ups that arrived meanwhile: one pass covers them all.
        rounds.drain();
        for m in &app.config.mailboxes {
            if token.is_cancelled() {
                return Ok(());
            }
            match pass(&app, m, Utc::now()) {
                Ok(n) if n > 0 => tracing::debug!(mailbox = %m.id, decided = n, "autoreply pass"),
                Ok(_) => {}
                // The store failing is infrastructure: let the daemon restart the task.
                Err(e) => return Err(anyhow::Error::from(e).context(format!("autoreply: mailbox \"{}\"", m.id))),
            }
        }
        if !rounds.wait(&token).await {
            return Ok(());
        }
    }
}

/// Decide every new message of this mailbox. Returns how many decisions were recorded. Each
/// decision commits with the cursor move. (The state of earlier replies needs no refresh: the
/// outbox writes it into their record in the transaction that changes it.)
pub fn pass(app: &App, m: &Mailbox, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let settings = app.store.autoreply().settings(&m.id)?.unwrap_or_default();
    let cursor = match app.store.autoreply().cursor(&m.id)? {
        Some(c) => c,
        None => app.store.autoreply().arm(&m.id, now.timestamp())?,
    };
    let mut after = cursor.position;
    let mut decided = 0;
    loop {
        let batch = app.store.autoreply().candidates(&m.id, after, BATCH)?;
        let Some(last) = batch.last().map(|c| (c.modseq, c.id)) else { break };
        let mut passed_initial = 0;
        for c in &batch {
            match handle(app, m, &settings, c, cursor.armed_at, now)? {
                Handled::Decided { .. } => decided += 1,
                Handled::InitialSync => passed_initial += 1,
                Handled::Passed => {}
            }
        }
        app.store.autoreply().advance(&m.id, last, passed_initial)?;
        after = last;
    }
    Ok(decided)
}

/// Decide one stored message and act on the decision.
pub fn handle(
    app: &App,
    m: &Mailbox,
    settings: &Settings,
    c: &Candidate,
    armed_at: i64,
    now: DateTime<Utc>,
) -> Result<Handled, StoreError> {
    let in_junk = match c.role.as_deref() {
        Some("inbox") => false,
        Some("junk") => true,
        _ => return Ok(Handled::Passed),
    };
    // Mail from the first sync of old mail is not a decision at all (and not worth parsing).
    if c.received_at < armed_at {
        return Ok(Handled::InitialSync);
    }
    let Some(raw) = app.store.messages().raw(c.id)? else { return Ok(Handled::Passed) };
    let msg = Incoming::parse(&raw, ts(c.received_at), in_junk, Some(c.thread_id));
    if let Some(mid) = &msg.message_id
        && app.store.autoreply().decided(&m.id, mid)?
    {
        return Ok(Handled::Passed);
    }
    let tz = app.config.agent.time_zone;
    let history = history_for(app, m, settings, &msg, now, Some(ts(armed_at)))?;
    let ctx = Context { mailbox: m, time_zone: tz };
    let d = decide(&msg, &ctx, settings, &history, now);
    let mut record = DecisionRecord {
        message: Some(c.id),
        rfc_message_id: msg.message_id.clone(),
        sender: msg.return_path.address().map(str::to_string).or_else(|| msg.from.clone()),
        subject: msg.subject.clone(),
        reply: d.reply,
        reason: d.reason.code().to_string(),
        detail: d.detail.clone(),
    };
    let to = match (d.reply, msg.return_path.address()) {
        (true, Some(to)) => to.to_string(),
        _ => {
            app.store.autoreply().record(&m.id, &record, None, Some((c.modseq, c.id)))?;
            return Ok(Handled::Decided { reason: d.reason, queued: None });
        }
    };
    let reply = render::render(&msg, &ctx, settings, &to, d.internal, now, &random_id());
    let out = Outgoing {
        mailbox: m.id.clone(),
        raw: reply.raw,
        recipients: Some(vec![to.clone()]),
        origin: Origin::AutoReply,
        discard_after: Some(discard_after(settings, tz, msg.received_at, now).timestamp()),
    };
    match outbox::enqueue(app, out) {
        Ok(q) => {
            let r =
                ReplyRecord { sender: to.clone(), thread_id: msg.thread_id, outbox_id: q.id, message_id: q.message_id };
            app.store.autoreply().record(&m.id, &record, Some(&r), Some((c.modseq, c.id)))?;
            tracing::info!(mailbox = %m.id, to = %to, outbox_id = q.id, "automatic reply queued");
            Ok(Handled::Decided { reason: d.reason, queued: Some(q.id) })
        }
        Err(e) => {
            // The decision stands; that the outbox refused it is part of the record.
            tracing::warn!(mailbox = %m.id, to = %to, error = %e, "automatic reply not queued");
            record.detail = format!("{}; not queued: {e}", record.detail);
            app.store.autoreply().record(&m.id, &record, None, Some((c.modseq, c.id)))?;
            Ok(Handled::Decided { reason: d.reason, queued: None })
        }
    }
}

/// What `autoreply explain` shows: the decision for a message file, and the reply it would send.
#[derive(Debug, Clone)]
pub struct Explanation {
    pub decision: Decision,
    pub at: DateTime<Utc>,
    pub settings: Settings,
    pub reply: Option<render::Reply>,
    pub return_path: ReturnPath,
}

/// Decide `raw` for `mailbox_id` as if it arrived at `at`, against the stored settings and
/// history. Sends nothing, records nothing.
pub fn explain(app: &App, mailbox_id: &str, raw: &[u8], at: DateTime<Utc>) -> Result<Explanation, AutoreplyError> {
    let m = mailbox(app, mailbox_id)?;
    let settings = load_settings(app, mailbox_id)?;
    let mut msg = Incoming::parse(raw, at, false, None);
    let mut ids = msg.references.clone();
    ids.extend(msg.in_reply_to.iter().cloned());
    ids.extend(msg.message_id.iter().cloned());
    msg.thread_id = app.store.autoreply().thread_of_ids(&m.id, &ids)?;
    let history = history_for(app, m, &settings, &msg, at, None)?;
    let ctx = Context { mailbox: m, time_zone: app.config.agent.time_zone };
    let decision = decide(&msg, &ctx, &settings, &history, at);
    let reply = match (decision.reply, msg.return_path.address()) {
        (true, Some(to)) => Some(render::render(&msg, &ctx, &settings, to, decision.internal, at, &random_id())),
        _ => None,
    };
    Ok(Explanation { decision, at, settings, reply, return_path: msg.return_path })
}

/// What the responder of one mailbox is set to and has done: what `status` shows.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The leave settings (defaults, switched off, when none were ever stored);
    /// [`Settings::describe_window`] words the window.
    pub settings: Settings,
    /// Decisions per reason code, most frequent first.
    pub decisions: Vec<(String, i64)>,
    /// Replies per outbox state, by state; states without replies are left out.
    pub replies: Vec<(String, i64)>,
    /// Messages that came with the first sync of old mail and were never answered.
    pub initial_sync_skipped: i64,
}

/// The settings, decisions per reason and replies per outbox state of `mailbox_id`.
pub fn status(app: &App, mailbox_id: &str) -> Result<Summary, crate::store::StoreError> {
    let store = app.store.autoreply();
    Ok(Summary {
        settings: store.settings(mailbox_id)?.unwrap_or_default(),
        decisions: store.counts(mailbox_id)?,
        // One row per state that has replies, ordered by state.
        replies: store.reply_states(mailbox_id)?,
        initial_sync_skipped: store.cursor(mailbox_id)?.map(|c| c.initial_skipped).unwrap_or(0),
    })
}

#[cfg(test)]
mod hostile_tests;
#[cfg(test)]
mod tests;
