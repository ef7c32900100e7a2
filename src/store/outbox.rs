//! Tables of the outbound queue: messages, recipients, the attempt log, the recipients in
//! flight (`schema/0002_outbox.sql`, `0011_outbox_in_flight.sql`), reached as
//! `store.outbox()` ([`Outbox`]). Reading the queue for people and the pauses are in
//! `outbox_list`, pacing in `outbox_rate`, the "still waiting" notice in `waiting`; office
//! sessions are `store.sessions()`.
//!
//! Every state change of a message ([`State`]) is one transaction, so the queue is exactly as
//! durable as the store, and what depends on the state follows in that same transaction
//! ([`follow`]: the phone's EmailSubmission and the auto-responder's record), so nobody polls
//! for it. The rule that matters most lives here as much as in `outbox`: a message becomes
//! `sending`, with the recipients of its envelope recorded as in flight, in a committed
//! transaction *before* its SMTP dialogue starts, and `sent` only in the transaction that
//! records the final 250. A message found in `sending` at start-up with recipients in flight
//! becomes `unknown` and is never sent again without a person's say; one without (stopped
//! between two envelopes) is due again for the recipients still pending, and nobody gets a
//! second copy. Nothing here talks to a server.

use rusqlite::{OptionalExtension, params};

use super::folders::ensure_folder;
use super::messages::{NewMessage, insert_message};
pub use super::outbox_list::{AttemptRow, OutboxSummary, Pause, RecipientRow};
use super::outbox_rate::HELD;
pub use super::outbox_state::State;
use super::{ObjType, Op, Result, Store, Tx, now};

/// States in which a message still waits to be sent (SQL, for `status IN ...`).
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

/// What one attempt did, written in one transaction.
#[derive(Debug, Clone)]
pub struct AttemptResult {
    pub server: String,
    pub recipients: Vec<(String, RcptOutcome, Option<i64>, String)>,
    /// Lines for the audit trail that concern the whole message.
    pub notes: Vec<(Option<i64>, String)>,
    /// The message's new state.
    pub status: State,
    /// For `deferred`: the next attempt.
    pub due_at: Option<i64>,
    pub last_error: Option<String>,
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

/// A line of the message's audit trail written by postbote itself (no server, no recipient).
pub(super) fn own_note(c: &rusqlite::Connection, id: i64, at: i64, text: &str) -> rusqlite::Result<()> {
    add_attempt(c, id, at, "postbote", None, None, text)
}

impl Store {
    /// The outbound queue's tables.
    pub fn outbox(&self) -> Outbox<'_> {
        Outbox { store: self }
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

    /// Put a message postbote wrote itself (a notice about a failed delivery) into the
    /// account's INBOX: at once in the store, where phones and `messages list` see it, and
    /// through the write-back queue on the server (IMAP APPEND), where the office program
    /// sees it. Until the APPEND is done it has no UID; after it, the mirror knows it by its
    /// new UID and never fetches it a second time.
    pub fn insert_inbox_notice(&self, account: &str, raw: Vec<u8>, keywords: &[&str]) -> Result<i64> {
        self.write(|t| put_inbox_notice(t, account, raw, keywords))
    }
}

/// The outbound queue's tables, reached as `store.outbox()`.
#[derive(Clone, Copy)]
pub struct Outbox<'a> {
    pub(super) store: &'a Store,
}

impl Outbox<'_> {
    /// Insert a message into the queue, due now. One transaction, on disk when this returns
    /// (whoever queued it, a phone's SMTP client included, is told it is queued).
    pub fn insert(&self, m: &NewOutboxMessage) -> Result<i64> {
        self.store.write_durable(|t| {
            let at = now();
            t.tx.prepare_cached(
                "INSERT INTO outbox_message (account, status, origin, message_id, from_addr, subject, raw, created_at, due_at,
                    discard_after, updated_at) VALUES (?1, ?9, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?7)",
            )?
            .execute(params![
                m.account,
                m.origin,
                m.message_id,
                m.from_addr,
                m.subject,
                m.raw,
                at,
                m.discard_after,
                State::Queued
            ])?;
            let id = t.tx.last_insert_rowid();
            let mut s = t.tx.prepare_cached(
                "INSERT OR IGNORE INTO outbox_recipient (message, address, status) VALUES (?1, ?2, 'pending')",
            )?;
            for r in &m.recipients {
                s.execute(params![id, r])?;
            }
            own_note(&t.tx, id, at, &format!("queued for {} recipient(s)", m.recipients.len()))?;
            Ok(id)
        })
    }

    /// The message's state, or None if there is no such message.
    pub fn state(&self, id: i64) -> Result<Option<State>> {
        self.store.read(|c| {
            Ok(c.query_row("SELECT status FROM outbox_message WHERE id = ?1", [id], |r| r.get(0)).optional()?)
        })
    }

    /// Cancel a message that is not final and not being sent. Returns false otherwise.
    pub fn cancel(&self, id: i64, reason: &str) -> Result<bool> {
        self.store.write(|t| {
            let at = now();
            let n = t.tx.execute(
                "UPDATE outbox_message SET status = ?4, resolved = ?2, waiting = NULL, updated_at = ?3
                 WHERE id = ?1 AND status IN (?5, ?6, ?7)",
                params![id, reason, at, State::Cancelled, State::Queued, State::Deferred, State::Unknown],
            )?;
            if n > 0 {
                own_note(&t.tx, id, at, &format!("cancelled: {reason}"))?;
                follow(t, id, State::Cancelled, at)?;
            }
            Ok(n > 0)
        })
    }

    /// At start-up, for every message left in `sending` by a stop. If an envelope was in
    /// flight (its recipients are in `outbox_in_flight`), the message becomes `unknown`: a
    /// server may have accepted it. If none was (the stop fell between two envelopes of a split
    /// message), nobody's copy is in doubt and the message is `queued` again for the recipients
    /// still pending. Returns every `unknown` message, old and new.
    pub fn mark_unknown(&self) -> Result<Vec<Unknown>> {
        self.store.write(|t| {
            let at = now();
            let ids: Vec<(i64, i64)> = {
                let mut s = t.tx.prepare(
                    "SELECT id, (SELECT COUNT(*) FROM outbox_in_flight f WHERE f.message = m.id)
                     FROM outbox_message m WHERE status = ?1",
                )?;
                s.query_map([State::Sending], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?
            };
            for (id, in_flight) in &ids {
                if *in_flight == 0 {
                    t.tx.execute(
                        "UPDATE outbox_message SET status = ?2, due_at = ?3, waiting = NULL, updated_at = ?3 WHERE id = ?1",
                        params![id, State::Queued, at],
                    )?;
                    own_note(&t.tx, *id, at, "postbote stopped between two envelopes of this message; no envelope was in flight, so the recipients still pending get it now and nobody twice",
                    )?;
                    follow(t, *id, State::Queued, at)?;
                    continue;
                }
                t.tx.execute(
                    "UPDATE outbox_message SET status = ?3, waiting = NULL, updated_at = ?2,
                        last_error = 'postbote stopped while sending: the server may or may not have accepted it' WHERE id = ?1",
                    params![id, at, State::Unknown],
                )?;
                own_note(&t.tx, *id, at, "postbote stopped while this message was being sent; outcome unknown, it is not sent again by itself",
                )?;
                follow(t, *id, State::Unknown, at)?;
            }
            let mut s = t.tx.prepare("SELECT id, account, message_id FROM outbox_message WHERE status = ?1 ORDER BY id")?;
            let rows = s
                .query_map([State::Unknown], |r| Ok(Unknown { id: r.get(0)?, account: r.get(1)?, message_id: r.get(2)? }))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// The recipients whose copy is in doubt: those of the envelope in flight (while the
    /// message is `sending`) or of the one in flight when it became `unknown`.
    #[cfg(test)]
    pub fn in_flight(&self, id: i64) -> Result<Vec<String>> {
        self.store.read(|c| {
            let mut s = c.prepare_cached("SELECT address FROM outbox_in_flight WHERE message = ?1 ORDER BY address")?;
            let rows = s.query_map([id], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// An `unknown` message was found where only a sent message can be: it is `sent`.
    pub fn resolve_sent(&self, id: i64, how: &str) -> Result<bool> {
        self.resolve_sent_with(id, how, true)
    }

    /// An `unknown` message went out: found in a Sent folder (`copy_done`: its copy is there
    /// already), or a person said so (`outbox::mark_sent`; the copy is saved unless the
    /// mirrored Sent folder holds it). The recipients of the envelope that was in flight are
    /// `sent`. When the stop came in an envelope of a split message, the recipients of the
    /// later envelopes never got anything: the message is `queued` again for them alone, so
    /// nobody gets a second copy and nobody is dropped. False when the message is not
    /// `unknown`.
    pub fn resolve_sent_with(&self, id: i64, how: &str, copy_done: bool) -> Result<bool> {
        self.store.write(|t| {
            let at = now();
            let n = t.tx.execute(
                "UPDATE outbox_message SET status = ?4, sent_at = COALESCE(sent_at, ?2), resolved = ?3,
                    sent_copy_done = ?6, updated_at = ?2 WHERE id = ?1 AND status = ?5",
                params![id, at, how, State::Sent, State::Unknown, copy_done],
            )?;
            if n == 0 {
                return Ok(false);
            }
            t.tx.execute(
                "UPDATE outbox_recipient SET status = 'sent' WHERE message = ?1 AND status = 'pending'
                   AND address IN (SELECT address FROM outbox_in_flight WHERE message = ?1)",
                [id],
            )?;
            t.tx.execute("DELETE FROM outbox_in_flight WHERE message = ?1", [id])?;
            let rest: i64 = t.tx.query_row(
                "SELECT COUNT(*) FROM outbox_recipient WHERE message = ?1 AND status = 'pending'",
                [id],
                |r| r.get(0),
            )?;
            own_note(&t.tx, id, at, &format!("marked sent: {how}"))?;
            if rest == 0 {
                follow(t, id, State::Sent, at)?;
                return Ok(true);
            }
            t.tx.execute(
                "UPDATE outbox_message SET status = ?2, sent_at = NULL, due_at = ?3, waiting = NULL, updated_at = ?3
                 WHERE id = ?1",
                params![id, State::Queued, at],
            )?;
            own_note(
                &t.tx,
                id,
                at,
                &format!("{rest} recipients of later envelopes had not been sent to yet: they get it now"),
            )?;
            follow(t, id, State::Queued, at)?;
            Ok(true)
        })
    }

    /// Accounts that have a waiting message due at `at`.
    pub fn due_accounts(&self, at: i64) -> Result<Vec<String>> {
        self.store.read(|c| {
            let mut s = c.prepare_cached(&format!(
                "SELECT DISTINCT account FROM outbox_message WHERE status IN {WAITING} AND due_at <= ?1 ORDER BY account"
            ))?;
            let rows = s.query_map([at], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// The earliest due time of any waiting message.
    pub fn next_due(&self) -> Result<Option<i64>> {
        self.store.read(|c| {
            Ok(c.query_row(&format!("SELECT MIN(due_at) FROM outbox_message WHERE status IN {WAITING}"), [], |r| {
                r.get(0)
            })?)
        })
    }

    /// The oldest due message of an account, with its pending recipients.
    pub fn next(&self, account: &str, at: i64) -> Result<Option<DueMessage>> {
        self.store.read(|c| {
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

    /// Committed before the SMTP dialogue of a message starts, with every pending recipient in
    /// flight (so a stop before `finish` leaves it `unknown`). The queue uses
    /// [`Outbox::begin_counted`], which names the envelope's recipients.
    pub fn begin(&self, id: i64) -> Result<bool> {
        self.store.write(|t| {
            let pending: Vec<String> = {
                let mut s = t.tx.prepare_cached(
                    "SELECT address FROM outbox_recipient WHERE message = ?1 AND status = 'pending' ORDER BY address",
                )?;
                s.query_map([id], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?
            };
            begin(t, id, now(), &pending)
        })
    }

    /// Record what an attempt did, and the message's new state, in one transaction. The
    /// envelope in flight is settled by it, unless the outcome is `unknown` (then its
    /// recipients stay recorded as the ones whose copy is in doubt).
    pub fn finish(&self, id: i64, r: &AttemptResult) -> Result<()> {
        self.store.write(|t| {
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
            if r.status != State::Unknown {
                t.tx.prepare_cached("DELETE FROM outbox_in_flight WHERE message = ?1")?.execute([id])?;
            }
            t.tx.prepare_cached(
                "UPDATE outbox_message SET status = ?2, due_at = COALESCE(?3, due_at), last_error = ?4, updated_at = ?5,
                    sent_at = CASE WHEN ?2 = ?6 THEN ?5 ELSE sent_at END WHERE id = ?1",
            )?
            .execute(params![id, r.status, r.due_at, r.last_error, at, State::Sent])?;
            follow(t, id, r.status, at)?;
            Ok(())
        })
    }

    /// No connection could be had: every due message of the account waits until `due_at`,
    /// each with the failure in its audit trail. Returns how many.
    pub fn defer_due(&self, account: &str, at: i64, due_at: i64, server: &str, text: &str) -> Result<usize> {
        self.store.write(|t| {
            let ids: Vec<i64> = {
                let mut s = t.tx.prepare(&format!(
                    "SELECT id FROM outbox_message WHERE account = ?1 AND status IN {WAITING} AND due_at <= ?2"
                ))?;
                s.query_map(params![account, at], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?
            };
            for id in &ids {
                t.tx.execute(
                    "UPDATE outbox_message SET status = ?5, attempts = attempts + 1, due_at = ?2, last_error = ?3,
                        waiting = NULL, updated_at = ?4 WHERE id = ?1",
                    params![id, due_at, text, at, State::Deferred],
                )?;
                add_attempt(&t.tx, *id, at, server, None, None, text)?;
                follow(t, *id, State::Deferred, at)?;
            }
            Ok(ids.len())
        })
    }

    /// One line in a message's audit trail.
    pub fn note(&self, id: i64, server: &str, code: Option<i64>, text: &str) -> Result<()> {
        self.store.write(|t| Ok(add_attempt(&t.tx, id, now(), server, None, code, text)?))
    }

    /// Add `secs` of open-gate time, counted up to `at`, to the waiting messages of these
    /// accounts that could have been sent in it. Not to those that wait only for something
    /// postbote or a person imposed: a mailbox whose sending is paused (a refused login, a
    /// blocked account: "no message is lost", its notice says), and a message held by pacing
    /// until later (the limits were chosen; a day's quota must not use up a lifetime).
    pub fn add_open_time(&self, accounts: &[String], secs: i64, at: i64) -> Result<()> {
        if accounts.is_empty() || secs <= 0 {
            return Ok(());
        }
        self.store.write(|t| {
            let mut s = t.tx.prepare_cached(&format!(
                "UPDATE outbox_message SET open_secs = open_secs + ?2 WHERE account = ?1 AND status IN {WAITING}
                   AND NOT EXISTS (SELECT 1 FROM outbox_pause p WHERE p.account = ?1)
                   AND NOT (due_at > ?3 AND waiting IS NOT NULL AND substr(waiting, 1, length(?4)) = ?4)"
            ))?;
            for a in accounts {
                s.execute(params![a, secs, at, HELD])?;
            }
            Ok(())
        })
    }

    /// Waiting messages whose open-gate time reached `lifetime_secs` become `expired`, those
    /// past `discard_after` become `cancelled`. Returns the ids that expired (for notices).
    pub fn expire(&self, lifetime_secs: i64, at: i64) -> Result<Vec<(i64, String)>> {
        self.store.write(|t| {
            let expired: Vec<(i64, String)> = {
                let mut s = t.tx.prepare(&format!(
                    "SELECT id, account FROM outbox_message WHERE status IN {WAITING} AND open_secs >= ?1"
                ))?;
                s.query_map([lifetime_secs], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?
            };
            for (id, _) in &expired {
                t.tx.execute(
                    "UPDATE outbox_message SET status = ?3, waiting = NULL, updated_at = ?2,
                        resolved = 'not delivered within its lifetime (counted while sending was allowed)' WHERE id = ?1",
                    params![id, at, State::Expired],
                )?;
                own_note(&t.tx, *id, at, "expired: given up after the configured lifetime")?;
                follow(t, *id, State::Expired, at)?;
            }
            let discarded: Vec<i64> = {
                let mut s = t.tx.prepare(&format!(
                    "SELECT id FROM outbox_message WHERE status IN {WAITING} AND discard_after IS NOT NULL AND discard_after < ?1"
                ))?;
                s.query_map([at], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?
            };
            for id in discarded {
                t.tx.execute(
                    "UPDATE outbox_message SET status = ?3, waiting = NULL, updated_at = ?2,
                        resolved = 'not sent before its discard time (sending it late would be wrong)' WHERE id = ?1",
                    params![id, at, State::Cancelled],
                )?;
                own_note(&t.tx, id, at, "cancelled: its discard time passed before it could be sent")?;
                follow(t, id, State::Cancelled, at)?;
            }
            Ok(expired)
        })
    }

    /// Note on every waiting message of these accounts why it is not being sent, and when the
    /// queue looked at it.
    pub fn mark_waiting(&self, account: &str, reason: Option<&str>, at: i64) -> Result<()> {
        self.store.write(|t| {
            t.tx.prepare_cached(&format!(
                "UPDATE outbox_message SET waiting = ?2, checked_at = ?3 WHERE account = ?1 AND status IN {WAITING}"
            ))?
            .execute(params![account, reason, at])?;
            Ok(())
        })
    }

    /// A person said "send it": a deferred, unknown, failed or expired message is due now (only
    /// its pending recipients, or all failed ones again when none is pending), and the pause of
    /// its mailbox's transport is lifted. Returns the account, or None if the state forbids it.
    pub fn retry(&self, id: i64, who: &str) -> Result<Option<String>> {
        self.store.write(|t| {
            let at = now();
            let row: Option<(String, State)> = t
                .tx
                .query_row("SELECT account, status FROM outbox_message WHERE id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let Some((account, status)) = row else { return Ok(None) };
            if matches!(status, State::Sending | State::Sent | State::Cancelled) {
                return Ok(None);
            }
            let pending: i64 =
                t.tx.query_row("SELECT COUNT(*) FROM outbox_recipient WHERE message = ?1 AND status = 'pending'", [id], |r| r.get(0))?;
            if pending == 0 {
                t.tx.execute("UPDATE outbox_recipient SET status = 'pending' WHERE message = ?1 AND status = 'failed'", [id])?;
            }
            t.tx.execute("DELETE FROM outbox_in_flight WHERE message = ?1", [id])?;
            t.tx.execute(
                "UPDATE outbox_message SET status = ?3, due_at = ?2, open_secs = 0, resolved = NULL, updated_at = ?2 WHERE id = ?1",
                params![id, at, State::Queued],
            )?;
            t.tx.execute("DELETE FROM outbox_pause WHERE account = ?1", [&account])?;
            own_note(&t.tx, id, at, &format!("{who} asked to send it again (was {status})"))?;
            follow(t, id, State::Queued, at)?;
            Ok(Some(account))
        })
    }
}

/// A waiting message becomes `sending`; `rcpts` are the envelope's recipients, now in flight.
/// False (and nothing written) when the message is no longer waiting.
pub(super) fn begin(t: &mut Tx<'_>, id: i64, at: i64, rcpts: &[String]) -> Result<bool> {
    let n =
        t.tx.prepare_cached(&format!(
            "UPDATE outbox_message SET status = ?3, attempts = attempts + 1, waiting = NULL, updated_at = ?2
         WHERE id = ?1 AND status IN {WAITING}"
        ))?
        .execute(params![id, at, State::Sending])?;
    if n == 0 {
        return Ok(false);
    }
    set_in_flight(t, id, rcpts)?;
    follow(t, id, State::Sending, at)?;
    Ok(true)
}

/// The next envelope of a message already `sending` carries `rcpts`.
pub(super) fn set_in_flight(t: &mut Tx<'_>, id: i64, rcpts: &[String]) -> Result<()> {
    t.tx.prepare_cached("DELETE FROM outbox_in_flight WHERE message = ?1")?.execute([id])?;
    let mut s = t.tx.prepare_cached("INSERT OR IGNORE INTO outbox_in_flight (message, address) VALUES (?1, ?2)")?;
    for r in rcpts {
        s.execute(params![id, r])?;
    }
    Ok(())
}

/// A message's state is now `state`: what depends on it follows in the same transaction, so
/// nobody has to poll for it. A phone's EmailSubmission of it logs an update (JMAP `/changes`
/// and push see it; its undoStatus and deliveryStatus are read from the queue); the
/// auto-responder's record of it keeps the state, and the time it was first `sent` (which is
/// what "this sender was answered" counts from).
pub(super) fn follow(t: &mut Tx<'_>, id: i64, state: State, at: i64) -> Result<()> {
    let subs: Vec<(String, i64)> = {
        let mut s = t.tx.prepare_cached(
            "SELECT account, id FROM email_submission WHERE outbox_id = ?1 AND destroyed = 0 AND last_status IS NOT ?2",
        )?;
        s.query_map(params![id, state], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?
    };
    for (account, sub) in &subs {
        t.tx.prepare_cached("UPDATE email_submission SET last_status = ?2 WHERE id = ?1")?
            .execute(params![sub, state])?;
        t.log(account, ObjType::EmailSubmission, *sub, Op::Updated, None)?;
    }
    t.tx.prepare_cached(
        "UPDATE autoreply_reply SET state = ?2,
            sent_at = CASE WHEN ?2 = ?4 AND sent_at IS NULL THEN ?3 ELSE sent_at END
         WHERE outbox_id = ?1 AND state IS NOT ?2",
    )?
    .execute(params![id, state, at, State::Sent])?;
    Ok(())
}

/// Migration 0013, once: before the queue followed its own changes, two tasks copied its
/// state into the phones' submissions and the reply records every 2 s, so a store of that
/// release may hold records left behind by its last stop. Each one takes its message's state
/// through [`follow`], which logs the change for the phones.
pub(super) fn catch_up(t: &mut Tx<'_>) -> Result<()> {
    let behind: Vec<(i64, State, i64)> = {
        let mut s = t.tx.prepare(
            "SELECT o.id, o.status, COALESCE(o.sent_at, o.updated_at) FROM outbox_message o
             WHERE EXISTS (SELECT 1 FROM email_submission s
                           WHERE s.outbox_id = o.id AND s.destroyed = 0 AND s.last_status IS NOT o.status)
                OR EXISTS (SELECT 1 FROM autoreply_reply r WHERE r.outbox_id = o.id AND r.state IS NOT o.status)",
        )?;
        s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<rusqlite::Result<_>>()?
    };
    for (id, state, when) in behind {
        follow(t, id, state, when)?;
    }
    Ok(())
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
    let id = insert_message(t, account, folder, m, parsed)?.expect("a local message is always new");
    t.log(account, super::ObjType::Mailbox, folder, super::Op::CountsOnly, None)?;
    t.touch(account, super::ObjType::EmailDelivery)?;
    super::writeback::queue(t, account, "append", Some(id), None, None, None, None)?;
    Ok(id)
}

#[cfg(test)]
#[path = "outbox_tests.rs"]
pub(crate) mod tests;
