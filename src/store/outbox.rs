//! Tables of the outbound queue: messages, recipients, the attempt log, transport pauses
//! (`schema/0002_outbox.sql`; office sessions are in `sessions`).
//!
//! Every state change of a message is one transaction, so the queue is exactly as durable as
//! the store. The rule that matters most lives here as much as in `outbox`: a message becomes
//! `sending` in a committed transaction *before* its SMTP dialogue starts and `sent` only in
//! the transaction that records the final 250; rows found in `sending` at start-up become
//! `unknown` and are never sent again without a person's say. Nothing here talks to a server.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::folders::ensure_folder;
use super::messages::{NewMessage, insert_message};
use super::{Result, Store, now};

/// States in which a message still waits to be sent.
pub const WAITING: &str = "('queued','deferred')";

/// A message to insert into the queue (already validated by `outbox::enqueue`).
#[derive(Debug, Clone)]
pub struct NewOutboxMessage {
    pub account: String,
    pub origin: &'static str,
    pub message_id: String,
    pub from_addr: String,
    pub subject: String,
    pub raw: Vec<u8>,
    pub recipients: Vec<String>,
    pub discard_after: Option<i64>,
}

/// A message due for an attempt, with the recipients still to deliver.
#[derive(Debug, Clone)]
pub struct DueMessage {
    pub id: i64,
    pub account: String,
    pub message_id: String,
    pub from_addr: String,
    pub raw: Vec<u8>,
    pub attempts: i64,
    pub pending: Vec<String>,
    /// Recipients an earlier attempt already delivered to.
    pub already_sent: i64,
}

/// The outcome of one recipient in one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RcptOutcome {
    Sent,
    /// Still pending (a temporary failure).
    Deferred,
    Failed,
}

/// One line of the audit trail.
#[derive(Debug, Clone, Serialize)]
pub struct AttemptRow {
    pub at: i64,
    pub server: String,
    pub recipient: Option<String>,
    pub code: Option<i64>,
    pub text: String,
}

/// What one attempt did, written in one transaction.
#[derive(Debug, Clone)]
pub struct AttemptResult {
    pub server: String,
    pub recipients: Vec<(String, RcptOutcome, Option<i64>, String)>,
    /// Lines for the audit trail that concern the whole message.
    pub notes: Vec<(Option<i64>, String)>,
    /// The message's new status.
    pub status: &'static str,
    /// For `deferred`: the next attempt.
    pub due_at: Option<i64>,
    pub last_error: Option<String>,
}

/// One line of `postbote queue list`.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxSummary {
    pub id: i64,
    pub account: String,
    pub status: String,
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

/// A message left in `sending` by a crash, now `unknown`.
#[derive(Debug, Clone)]
pub struct Unknown {
    pub id: i64,
    pub account: String,
    pub message_id: String,
}

/// A sent message whose copy is not yet in the Sent folder.
#[derive(Debug, Clone)]
pub struct SentCopy {
    pub id: i64,
    pub message_id: String,
    pub raw: Vec<u8>,
    pub tries: i64,
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

pub(super) fn add_attempt(
    c: &rusqlite::Connection,
    id: i64,
    at: i64,
    server: &str,
    recipient: Option<&str>,
    code: Option<i64>,
    text: &str,
) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO outbox_attempt (message, at, server, recipient, code, text) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![id, at, server, recipient, code, text])?;
    Ok(())
}

impl Store {
    /// Insert a message into the queue, due now. One transaction.
    pub fn outbox_insert(&self, m: &NewOutboxMessage) -> Result<i64> {
        self.write(|t| {
            let at = now();
            t.tx.prepare_cached(
                "INSERT INTO outbox_message (account, status, origin, message_id, from_addr, subject, raw, created_at, due_at,
                    discard_after, updated_at) VALUES (?1, 'queued', ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?7)",
            )?
            .execute(params![m.account, m.origin, m.message_id, m.from_addr, m.subject, m.raw, at, m.discard_after])?;
            let id = t.tx.last_insert_rowid();
            let mut s = t.tx.prepare_cached(
                "INSERT OR IGNORE INTO outbox_recipient (message, address, status) VALUES (?1, ?2, 'pending')",
            )?;
            for r in &m.recipients {
                s.execute(params![id, r])?;
            }
            add_attempt(&t.tx, id, at, "postbote", None, None, &format!("queued for {} recipient(s)", m.recipients.len()))?;
            Ok(id)
        })
    }

    pub fn outbox_status_of(&self, id: i64) -> Result<Option<String>> {
        self.read(|c| {
            Ok(c.query_row("SELECT status FROM outbox_message WHERE id = ?1", [id], |r| r.get(0)).optional()?)
        })
    }

    /// Cancel a message that is not final and not being sent. Returns false otherwise.
    pub fn outbox_cancel(&self, id: i64, reason: &str) -> Result<bool> {
        self.write(|t| {
            let n = t.tx.execute(
                "UPDATE outbox_message SET status = 'cancelled', resolved = ?2, waiting = NULL, updated_at = ?3
                 WHERE id = ?1 AND status IN ('queued','deferred','unknown')",
                params![id, reason, now()],
            )?;
            if n > 0 {
                add_attempt(&t.tx, id, now(), "postbote", None, None, &format!("cancelled: {reason}"))?;
            }
            Ok(n > 0)
        })
    }

    /// At start-up: every message left in `sending` becomes `unknown` (the daemon died while a
    /// server may have accepted it). Returns every `unknown` message, old and new.
    pub fn outbox_mark_unknown(&self) -> Result<Vec<Unknown>> {
        self.write(|t| {
            let at = now();
            let ids: Vec<i64> = {
                let mut s = t.tx.prepare("SELECT id FROM outbox_message WHERE status = 'sending'")?;
                s.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?
            };
            for id in &ids {
                t.tx.execute(
                    "UPDATE outbox_message SET status = 'unknown', waiting = NULL, updated_at = ?2,
                        last_error = 'postbote stopped while sending: the server may or may not have accepted it' WHERE id = ?1",
                    params![id, at],
                )?;
                add_attempt(
                    &t.tx,
                    *id,
                    at,
                    "postbote",
                    None,
                    None,
                    "postbote stopped while this message was being sent; outcome unknown, it is not sent again by itself",
                )?;
            }
            let mut s = t.tx.prepare("SELECT id, account, message_id FROM outbox_message WHERE status = 'unknown' ORDER BY id")?;
            let rows = s
                .query_map([], |r| Ok(Unknown { id: r.get(0)?, account: r.get(1)?, message_id: r.get(2)? }))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// An `unknown` message was found where only a sent message can be: it is `sent`.
    pub fn outbox_resolve_sent(&self, id: i64, how: &str) -> Result<bool> {
        self.write(|t| {
            let at = now();
            let n = t.tx.execute(
                "UPDATE outbox_message SET status = 'sent', sent_at = COALESCE(sent_at, ?2), resolved = ?3,
                    sent_copy_done = 1, updated_at = ?2 WHERE id = ?1 AND status = 'unknown'",
                params![id, at, how],
            )?;
            if n > 0 {
                t.tx.execute(
                    "UPDATE outbox_recipient SET status = 'sent' WHERE message = ?1 AND status = 'pending'",
                    [id],
                )?;
                add_attempt(&t.tx, id, at, "postbote", None, None, &format!("marked sent: {how}"))?;
            }
            Ok(n > 0)
        })
    }

    /// Is a message with this Message-ID in the mirrored folder of `role` (e.g. "sent")?
    pub fn message_id_in_role(&self, account: &str, role: &str, message_id: &str) -> Result<bool> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT 1 FROM message m JOIN folder f ON f.id = m.folder_id
                 WHERE m.account = ?1 AND f.role = ?2 AND m.message_id = ?3 LIMIT 1",
                params![account, role, message_id],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
        })
    }

    /// Accounts that have a waiting message due at `at`.
    pub fn outbox_due_accounts(&self, at: i64) -> Result<Vec<String>> {
        self.read(|c| {
            let mut s = c.prepare_cached(&format!(
                "SELECT DISTINCT account FROM outbox_message WHERE status IN {WAITING} AND due_at <= ?1 ORDER BY account"
            ))?;
            let rows = s.query_map([at], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// The earliest due time of any waiting message.
    pub fn outbox_next_due(&self) -> Result<Option<i64>> {
        self.read(|c| {
            Ok(c.query_row(&format!("SELECT MIN(due_at) FROM outbox_message WHERE status IN {WAITING}"), [], |r| {
                r.get(0)
            })?)
        })
    }

    /// The oldest due message of an account, with its pending recipients.
    pub fn outbox_next(&self, account: &str, at: i64) -> Result<Option<DueMessage>> {
        self.read(|c| {
            let row = c
                .prepare_cached(&format!(
                    "SELECT id, account, message_id, from_addr, raw, attempts FROM outbox_message
                     WHERE account = ?1 AND status IN {WAITING} AND due_at <= ?2 ORDER BY due_at, id LIMIT 1"
                ))?
                .query_row(params![account, at], |r| {
                    Ok(DueMessage {
                        id: r.get(0)?,
                        account: r.get(1)?,
                        message_id: r.get(2)?,
                        from_addr: r.get(3)?,
                        raw: r.get(4)?,
                        attempts: r.get(5)?,
                        pending: Vec::new(),
                        already_sent: 0,
                    })
                })
                .optional()?;
            let Some(mut m) = row else { return Ok(None) };
            let mut s = c.prepare_cached(
                "SELECT address FROM outbox_recipient WHERE message = ?1 AND status = 'pending' ORDER BY address",
            )?;
            m.pending = s.query_map([m.id], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            m.already_sent = c.query_row(
                "SELECT COUNT(*) FROM outbox_recipient WHERE message = ?1 AND status = 'sent'",
                [m.id],
                |r| r.get(0),
            )?;
            Ok(Some(m))
        })
    }

    /// Committed before the SMTP dialogue of a message starts.
    pub fn outbox_begin(&self, id: i64) -> Result<bool> {
        self.write(|t| {
            let n = t.tx.execute(
                &format!(
                    "UPDATE outbox_message SET status = 'sending', attempts = attempts + 1, waiting = NULL, updated_at = ?2
                     WHERE id = ?1 AND status IN {WAITING}"
                ),
                params![id, now()],
            )?;
            Ok(n > 0)
        })
    }

    /// Record what an attempt did, and the message's new state, in one transaction.
    pub fn outbox_finish(&self, id: i64, r: &AttemptResult) -> Result<()> {
        self.write(|t| {
            let at = now();
            for (note_code, note) in &r.notes {
                add_attempt(&t.tx, id, at, &r.server, None, *note_code, note)?;
            }
            for (addr, outcome, code, text) in &r.recipients {
                let st = match outcome {
                    RcptOutcome::Sent => "sent",
                    RcptOutcome::Deferred => "pending",
                    RcptOutcome::Failed => "failed",
                };
                t.tx.prepare_cached(
                    "UPDATE outbox_recipient SET status = ?3, code = ?4, text = ?5 WHERE message = ?1 AND address = ?2",
                )?
                .execute(params![id, addr, st, code, text])?;
                add_attempt(&t.tx, id, at, &r.server, Some(addr), *code, text)?;
            }
            t.tx.prepare_cached(
                "UPDATE outbox_message SET status = ?2, due_at = COALESCE(?3, due_at), last_error = ?4, updated_at = ?5,
                    sent_at = CASE WHEN ?2 = 'sent' THEN ?5 ELSE sent_at END WHERE id = ?1",
            )?
            .execute(params![id, r.status, r.due_at, r.last_error, at])?;
            Ok(())
        })
    }

    /// No connection could be had: every due message of the account waits until `due_at`,
    /// each with the failure in its audit trail. Returns how many.
    pub fn outbox_defer_due(&self, account: &str, at: i64, due_at: i64, server: &str, text: &str) -> Result<usize> {
        self.write(|t| {
            let ids: Vec<i64> = {
                let mut s = t.tx.prepare(&format!(
                    "SELECT id FROM outbox_message WHERE account = ?1 AND status IN {WAITING} AND due_at <= ?2"
                ))?;
                s.query_map(params![account, at], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?
            };
            for id in &ids {
                t.tx.execute(
                    "UPDATE outbox_message SET status = 'deferred', attempts = attempts + 1, due_at = ?2, last_error = ?3,
                        waiting = NULL, updated_at = ?4 WHERE id = ?1",
                    params![id, due_at, text, at],
                )?;
                add_attempt(&t.tx, *id, at, server, None, None, text)?;
            }
            Ok(ids.len())
        })
    }

    /// One line in a message's audit trail.
    pub fn outbox_note(&self, id: i64, server: &str, code: Option<i64>, text: &str) -> Result<()> {
        self.write(|t| Ok(add_attempt(&t.tx, id, now(), server, None, code, text)?))
    }

    /// Add `secs` of open-gate time to every waiting message of these accounts.
    pub fn outbox_add_open_time(&self, accounts: &[String], secs: i64) -> Result<()> {
        if accounts.is_empty() || secs <= 0 {
            return Ok(());
        }
        self.write(|t| {
            let mut s = t.tx.prepare_cached(&format!(
                "UPDATE outbox_message SET open_secs = open_secs + ?2 WHERE account = ?1 AND status IN {WAITING}"
            ))?;
            for a in accounts {
                s.execute(params![a, secs])?;
            }
            Ok(())
        })
    }

    /// Waiting messages whose open-gate time reached `lifetime_secs` become `expired`, those
    /// past `discard_after` become `cancelled`. Returns the ids that expired (for notices).
    pub fn outbox_expire(&self, lifetime_secs: i64, at: i64) -> Result<Vec<(i64, String)>> {
        self.write(|t| {
            let expired: Vec<(i64, String)> = {
                let mut s = t.tx.prepare(&format!(
                    "SELECT id, account FROM outbox_message WHERE status IN {WAITING} AND open_secs >= ?1"
                ))?;
                s.query_map([lifetime_secs], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?
            };
            for (id, _) in &expired {
                t.tx.execute(
                    "UPDATE outbox_message SET status = 'expired', waiting = NULL, updated_at = ?2,
                        resolved = 'not delivered within its lifetime (counted while sending was allowed)' WHERE id = ?1",
                    params![id, at],
                )?;
                add_attempt(&t.tx, *id, at, "postbote", None, None, "expired: given up after the configured lifetime")?;
            }
            let discarded: Vec<i64> = {
                let mut s = t.tx.prepare(&format!(
                    "SELECT id FROM outbox_message WHERE status IN {WAITING} AND discard_after IS NOT NULL AND discard_after < ?1"
                ))?;
                s.query_map([at], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?
            };
            for id in discarded {
                t.tx.execute(
                    "UPDATE outbox_message SET status = 'cancelled', waiting = NULL, updated_at = ?2,
                        resolved = 'not sent before its discard time (sending it late would be wrong)' WHERE id = ?1",
                    params![id, at],
                )?;
                add_attempt(&t.tx, id, at, "postbote", None, None, "cancelled: its discard time passed before it could be sent")?;
            }
            Ok(expired)
        })
    }

    /// Note on every waiting message of these accounts why it is not being sent, and when the
    /// queue looked at it.
    pub fn outbox_mark_waiting(&self, account: &str, reason: Option<&str>, at: i64) -> Result<()> {
        self.write(|t| {
            t.tx.prepare_cached(&format!(
                "UPDATE outbox_message SET waiting = ?2, checked_at = ?3 WHERE account = ?1 AND status IN {WAITING}"
            ))?
            .execute(params![account, reason, at])?;
            Ok(())
        })
    }

    pub fn outbox_counts(&self, account: Option<&str>) -> Result<BTreeMap<String, i64>> {
        self.read(|c| {
            let mut s = c.prepare_cached(
                "SELECT status, COUNT(*) FROM outbox_message WHERE (?1 IS NULL OR account = ?1) GROUP BY status",
            )?;
            let rows = s.query_map([account], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// The newest messages, optionally of one account and one status.
    pub fn outbox_list(&self, account: Option<&str>, status: Option<&str>, limit: usize) -> Result<Vec<OutboxSummary>> {
        self.read(|c| {
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
    pub fn outbox_show(&self, id: i64) -> Result<Option<(OutboxSummary, Vec<AttemptRow>)>> {
        self.read(|c| {
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

    /// The message's raw bytes as queued.
    pub fn outbox_raw(&self, id: i64) -> Result<Option<Vec<u8>>> {
        self.read(|c| Ok(c.query_row("SELECT raw FROM outbox_message WHERE id = ?1", [id], |r| r.get(0)).optional()?))
    }

    /// A person said "send it": a deferred, unknown, failed or expired message is due now (only
    /// its pending recipients, or all failed ones again when none is pending), and the pause of
    /// its mailbox's transport is lifted. Returns the account, or None if the state forbids it.
    pub fn outbox_retry(&self, id: i64, who: &str) -> Result<Option<String>> {
        self.write(|t| {
            let at = now();
            let row: Option<(String, String)> = t
                .tx
                .query_row("SELECT account, status FROM outbox_message WHERE id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let Some((account, status)) = row else { return Ok(None) };
            if !matches!(status.as_str(), "queued" | "deferred" | "unknown" | "failed" | "expired") {
                return Ok(None);
            }
            let pending: i64 =
                t.tx.query_row("SELECT COUNT(*) FROM outbox_recipient WHERE message = ?1 AND status = 'pending'", [id], |r| r.get(0))?;
            if pending == 0 {
                t.tx.execute("UPDATE outbox_recipient SET status = 'pending' WHERE message = ?1 AND status = 'failed'", [id])?;
            }
            t.tx.execute(
                "UPDATE outbox_message SET status = 'queued', due_at = ?2, open_secs = 0, resolved = NULL, updated_at = ?2 WHERE id = ?1",
                params![id, at],
            )?;
            t.tx.execute("DELETE FROM outbox_pause WHERE account = ?1", [&account])?;
            add_attempt(&t.tx, id, at, "postbote", None, None, &format!("{who} asked to send it again (was {status})"))?;
            Ok(Some(account))
        })
    }

    pub fn outbox_pause(&self, account: &str) -> Result<Option<Pause>> {
        self.read(|c| {
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

    pub fn outbox_set_pause(&self, p: &Pause) -> Result<()> {
        self.write(|t| {
            t.tx.execute(
                "INSERT INTO outbox_pause (account, transport, reason, at, salt, fingerprint) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(account) DO UPDATE SET transport = excluded.transport, reason = excluded.reason, at = excluded.at,
                   salt = excluded.salt, fingerprint = excluded.fingerprint",
                params![p.account, p.transport, p.reason, p.at, p.salt, p.fingerprint],
            )?;
            Ok(())
        })
    }

    pub fn outbox_clear_pause(&self, account: &str) -> Result<bool> {
        self.write(|t| Ok(t.tx.execute("DELETE FROM outbox_pause WHERE account = ?1", [account])? > 0))
    }

    /// Sent messages of an account whose Sent-folder copy is missing.
    pub fn outbox_sent_copies(&self, account: &str, limit: usize) -> Result<Vec<SentCopy>> {
        self.read(|c| {
            let mut s = c.prepare_cached(
                "SELECT id, message_id, raw, sent_copy_tries FROM outbox_message
                 WHERE account = ?1 AND status = 'sent' AND sent_copy_done = 0 ORDER BY id LIMIT ?2",
            )?;
            let rows = s
                .query_map(params![account, limit as i64], |r| {
                    Ok(SentCopy { id: r.get(0)?, message_id: r.get(1)?, raw: r.get(2)?, tries: r.get(3)? })
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// Committed before an APPEND, so a retry after a crash knows to search first.
    pub fn outbox_sent_copy_try(&self, id: i64) -> Result<()> {
        self.write(|t| {
            t.tx.execute("UPDATE outbox_message SET sent_copy_tries = sent_copy_tries + 1 WHERE id = ?1", [id])?;
            Ok(())
        })
    }

    pub fn outbox_sent_copy_done(&self, id: i64, note: &str) -> Result<()> {
        self.write(|t| {
            t.tx.execute("UPDATE outbox_message SET sent_copy_done = 1 WHERE id = ?1", [id])?;
            add_attempt(&t.tx, id, now(), "postbote", None, None, note)?;
            Ok(())
        })
    }

    /// Put a message postbote wrote itself (a notice about a failed delivery) into the
    /// account's INBOX: at once in the store, where phones and `messages list` see it, and
    /// through the write-back queue on the server (IMAP APPEND), where the office program
    /// sees it. Until the APPEND is done it has no UID; after it, the mirror knows it by its
    /// new UID and never fetches it a second time.
    pub fn insert_inbox_notice(&self, account: &str, raw: Vec<u8>, keywords: &[&str]) -> Result<i64> {
        self.write(|t| put_inbox_notice(t, account, raw, keywords))
    }
}

/// [`Store::insert_inbox_notice`] inside a caller's transaction (the "still waiting" notice
/// marks its messages as told in the same one).
pub(super) fn put_inbox_notice(t: &mut super::Tx<'_>, account: &str, raw: Vec<u8>, keywords: &[&str]) -> Result<i64> {
    let parsed = crate::message::parse(&raw);
    let folder = ensure_folder(t, account, "INBOX", Some("inbox"))?;
    let m = NewMessage {
        uid: None,
        modseq: None,
        flags: keywords.iter().map(|k| k.to_string()).collect(),
        internal_date: now(),
        raw,
    };
    let id = insert_message(t, account, folder, &m, &parsed)?.expect("a local message is always new");
    t.log(account, super::ObjType::Mailbox, folder, super::Op::CountsOnly, None)?;
    t.touch(account, super::ObjType::EmailDelivery)?;
    super::writeback::queue(t, account, "append", Some(id), None, None, None, None)?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        crate::store::test_store()
    }

    fn new(to: &[&str]) -> NewOutboxMessage {
        NewOutboxMessage {
            account: "becker".into(),
            origin: "office",
            message_id: "x@bau-firma.test".into(),
            from_addr: "becker@bau-firma.test".into(),
            subject: "s".into(),
            raw: b"From: becker@bau-firma.test\r\n\r\nhi\r\n".to_vec(),
            recipients: to.iter().map(|s| s.to_string()).collect(),
            discard_after: None,
        }
    }

    #[test]
    fn sending_at_startup_becomes_unknown_and_is_never_due_again() {
        let (_d, s) = store();
        let id = s.outbox_insert(&new(&["a@kunde.test"])).unwrap();
        assert!(s.outbox_begin(id).unwrap());
        assert!(!s.outbox_begin(id).unwrap(), "a message being sent cannot be begun twice");
        let u = s.outbox_mark_unknown().unwrap();
        assert_eq!(u.len(), 1);
        assert_eq!(s.outbox_status_of(id).unwrap().as_deref(), Some("unknown"));
        assert!(s.outbox_next("becker", now() + 10_000).unwrap().is_none());
        assert_eq!(s.outbox_retry(id, "test").unwrap().as_deref(), Some("becker"));
        assert_eq!(s.outbox_next("becker", now()).unwrap().unwrap().pending, vec!["a@kunde.test"]);
    }

    #[test]
    fn expiry_uses_open_time_and_discard_cancels() {
        let (_d, s) = store();
        let a = s.outbox_insert(&new(&["a@kunde.test"])).unwrap();
        let mut n = new(&["b@kunde.test"]);
        n.discard_after = Some(now() - 1);
        let b = s.outbox_insert(&n).unwrap();
        s.outbox_add_open_time(&["becker".into()], 99).unwrap();
        let e = s.outbox_expire(100, now()).unwrap();
        assert!(e.is_empty());
        assert_eq!(s.outbox_status_of(b).unwrap().as_deref(), Some("cancelled"));
        s.outbox_add_open_time(&["becker".into()], 1).unwrap();
        assert_eq!(s.outbox_expire(100, now()).unwrap(), vec![(a, "becker".to_string())]);
        assert_eq!(s.outbox_status_of(a).unwrap().as_deref(), Some("expired"));
    }
}
