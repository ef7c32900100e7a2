//! Reading the outbound queue for people (`postbote queue list` / `show`, `status`), and the
//! per-mailbox pause of sending after a refused login or a blocked account
//! (`schema/0002_outbox.sql`). Part of the [`Outbox`] handle; nothing here changes a message's
//! state (that is `store::outbox`), and nothing here talks to a server.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::Result;
use super::outbox::{Outbox, State};

/// One line of the audit trail.
#[derive(Debug, Clone, Serialize)]
pub struct AttemptRow {
    pub at: i64,
    pub server: String,
    pub recipient: Option<String>,
    pub code: Option<i64>,
    pub text: String,
}

/// One line of `postbote queue list`.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxSummary {
    pub id: i64,
    pub account: String,
    pub status: State,
    pub origin: String,
    pub message_id: String,
    pub from: String,
    pub subject: String,
    pub created_at: i64,
    pub due_at: i64,
    pub attempts: i64,
    pub open_secs: i64,
    pub last_error: Option<String>,
    pub waiting: Option<String>,
    pub checked_at: Option<i64>,
    pub sent_at: Option<i64>,
    pub resolved: Option<String>,
    pub sent_copy_done: bool,
    pub recipients: Vec<RecipientRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecipientRow {
    pub address: String,
    pub status: String,
    pub code: Option<i64>,
    pub text: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Pause {
    pub account: String,
    pub transport: String,
    pub reason: String,
    pub at: i64,
    #[serde(skip)]
    pub salt: String,
    #[serde(skip)]
    pub fingerprint: String,
}

const SUMMARY: &str = "id, account, status, origin, message_id, from_addr, subject, created_at, due_at, attempts,
    open_secs, last_error, waiting, checked_at, sent_at, resolved, sent_copy_done";

fn summary_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxSummary> {
    Ok(OutboxSummary {
        id: r.get(0)?,
        account: r.get(1)?,
        status: r.get(2)?,
        origin: r.get(3)?,
        message_id: r.get(4)?,
        from: r.get(5)?,
        subject: r.get(6)?,
        created_at: r.get(7)?,
        due_at: r.get(8)?,
        attempts: r.get(9)?,
        open_secs: r.get(10)?,
        last_error: r.get(11)?,
        waiting: r.get(12)?,
        checked_at: r.get(13)?,
        sent_at: r.get(14)?,
        resolved: r.get(15)?,
        sent_copy_done: r.get(16)?,
        recipients: Vec::new(),
    })
}

fn recipients_of(c: &rusqlite::Connection, id: i64) -> rusqlite::Result<Vec<RecipientRow>> {
    let mut s = c.prepare_cached(
        "SELECT address, status, code, text FROM outbox_recipient WHERE message = ?1 ORDER BY address",
    )?;
    s.query_map([id], |r| Ok(RecipientRow { address: r.get(0)?, status: r.get(1)?, code: r.get(2)?, text: r.get(3)? }))?
        .collect()
}

impl Outbox<'_> {
    /// Whether `account` queued a message with this Message-ID, in any state. The outbox makes
    /// its own Sent copy of what it sends, so the IMAP server's APPEND to Sent asks this to
    /// keep a phone's own Sent copy of the same message from being stored twice.
    pub fn has_message_id(&self, account: &str, message_id: &str) -> Result<bool> {
        self.store.read(|c| {
            Ok(c.prepare_cached("SELECT EXISTS (SELECT 1 FROM outbox_message WHERE message_id = ?1 AND account = ?2)")?
                .query_row(params![message_id, account], |r| r.get(0))?)
        })
    }

    /// How many messages are in each state, of one account or of all.
    pub fn counts(&self, account: Option<&str>) -> Result<BTreeMap<State, i64>> {
        self.store.read(|c| {
            let mut s = c.prepare_cached(
                "SELECT status, COUNT(*) FROM outbox_message WHERE (?1 IS NULL OR account = ?1) GROUP BY status",
            )?;
            let rows = s.query_map([account], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// The newest messages, optionally of one account and one status.
    pub fn list(&self, account: Option<&str>, status: Option<State>, limit: usize) -> Result<Vec<OutboxSummary>> {
        self.store.read(|c| {
            let mut s = c.prepare_cached(&format!(
                "SELECT {SUMMARY} FROM outbox_message WHERE (?1 IS NULL OR account = ?1) AND (?2 IS NULL OR status = ?2)
                 ORDER BY id DESC LIMIT ?3"
            ))?;
            let mut rows: Vec<OutboxSummary> =
                s.query_map(params![account, status, limit as i64], summary_row)?.collect::<rusqlite::Result<_>>()?;
            for r in &mut rows {
                r.recipients = recipients_of(c, r.id)?;
            }
            Ok(rows)
        })
    }

    /// One message with its recipients and its whole audit trail.
    pub fn show(&self, id: i64) -> Result<Option<(OutboxSummary, Vec<AttemptRow>)>> {
        self.store.read(|c| {
            let Some(mut m) = c
                .query_row(&format!("SELECT {SUMMARY} FROM outbox_message WHERE id = ?1"), [id], summary_row)
                .optional()?
            else {
                return Ok(None);
            };
            m.recipients = recipients_of(c, id)?;
            let mut s = c.prepare_cached(
                "SELECT at, server, recipient, code, text FROM outbox_attempt WHERE message = ?1 ORDER BY id",
            )?;
            let attempts = s
                .query_map([id], |r| {
                    Ok(AttemptRow {
                        at: r.get(0)?,
                        server: r.get(1)?,
                        recipient: r.get(2)?,
                        code: r.get(3)?,
                        text: r.get(4)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok(Some((m, attempts)))
        })
    }

    pub fn pause(&self, account: &str) -> Result<Option<Pause>> {
        self.store.read(|c| {
            Ok(c.query_row(
                "SELECT account, transport, reason, at, salt, fingerprint FROM outbox_pause WHERE account = ?1",
                [account],
                |r| {
                    Ok(Pause {
                        account: r.get(0)?,
                        transport: r.get(1)?,
                        reason: r.get(2)?,
                        at: r.get(3)?,
                        salt: r.get(4)?,
                        fingerprint: r.get(5)?,
                    })
                },
            )
            .optional()?)
        })
    }

    pub fn set_pause(&self, p: &Pause) -> Result<()> {
        self.store.write(|t| {
            t.tx.execute(
                "INSERT INTO outbox_pause (account, transport, reason, at, salt, fingerprint) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(account) DO UPDATE SET transport = excluded.transport, reason = excluded.reason, at = excluded.at,
                   salt = excluded.salt, fingerprint = excluded.fingerprint",
                params![p.account, p.transport, p.reason, p.at, p.salt, p.fingerprint],
            )?;
            Ok(())
        })
    }

    pub fn clear_pause(&self, account: &str) -> Result<bool> {
        self.store.write(|t| Ok(t.tx.execute("DELETE FROM outbox_pause WHERE account = ?1", [account])? > 0))
    }
}
