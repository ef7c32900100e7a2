//! Tables of the auto-responder: settings per mailbox, its read cursor, the replies it queued
//! (with their message's state, which the queue keeps current) and every decision with its
//! reason.
//!
//! Saving settings logs a VacationResponse change (object id 1) under the account's modseq in
//! the same transaction, so a phone's `VacationResponse/changes` never misses one. Nothing
//! here decides anything; `autoreply` reads and records. The settings' types live here, as
//! the store persists them; `autoreply::settings` re-exports them and adds their checks.
//! Reached as `store.autoreply()`.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

use super::{ObjType, Op, Result, Store, StoreError, now};

/// RFC 5230 §4.1: the default interval per sender is 7 days (the auto-responder requires at
/// least one day).
pub const DEFAULT_INTERVAL_SECS: i64 = 7 * 86_400;
pub const DEFAULT_MAX_AGE_SECS: i64 = 3 * 86_400;
pub const DEFAULT_MAX_PER_HOUR: u32 = 30;

/// Who gets a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Answer {
    #[default]
    Everyone,
    /// Only senders this mailbox has written to before, or of the company's own domain.
    Known,
}

impl Answer {
    pub fn as_str(self) -> &'static str {
        match self {
            Answer::Everyone => "everyone",
            Answer::Known => "known",
        }
    }
    pub fn parse(s: &str) -> Option<Answer> {
        match s {
            "everyone" => Some(Answer::Everyone),
            "known" => Some(Answer::Known),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub is_enabled: bool,
    /// First instant of the leave; None: since always.
    pub from_date: Option<DateTime<Utc>>,
    /// First instant after the leave; None: open end.
    pub to_date: Option<DateTime<Utc>>,
    /// Subject template (`{subject}` = the original subject); None: the auto-responder's default subject.
    pub subject: Option<String>,
    /// None: the auto-responder's default text.
    pub text_body: Option<String>,
    pub html_body: Option<String>,
    /// The text for senders of the company's own domain; None: `text_body`.
    pub internal_body: Option<String>,
    /// Answer each sender at most once per this many seconds (at least one day).
    pub interval_secs: i64,
    /// Recurring absence as 5-field cron expressions in the agent's time zone.
    pub schedule: Vec<String>,
    pub answer: Answer,
    pub max_per_hour: u32,
    /// A queued reply older than this is cancelled; older incoming mail is not answered.
    pub max_age_secs: i64,
    /// Replies made before this instant are forgotten (`vacation set --reset-memory`).
    pub memory_since: Option<DateTime<Utc>>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            is_enabled: false,
            from_date: None,
            to_date: None,
            subject: None,
            text_body: None,
            html_body: None,
            internal_body: None,
            interval_secs: DEFAULT_INTERVAL_SECS,
            schedule: Vec::new(),
            answer: Answer::Everyone,
            max_per_hour: DEFAULT_MAX_PER_HOUR,
            max_age_secs: DEFAULT_MAX_AGE_SECS,
            memory_since: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// The change-log position last read: (modseq, message id).
    pub position: (i64, i64),
    pub armed_at: i64,
    pub initial_skipped: i64,
}

/// A message the responder has not looked at yet.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub id: i64,
    pub role: Option<String>,
    pub received_at: i64,
    pub thread_id: i64,
    /// The modseq of its "created" entry in the change log.
    pub modseq: i64,
}

#[derive(Debug, Clone)]
pub struct DecisionRecord {
    pub message: Option<i64>,
    pub rfc_message_id: Option<String>,
    pub sender: Option<String>,
    pub subject: String,
    pub reply: bool,
    pub reason: String,
    pub detail: String,
}

#[derive(Debug, Clone)]
pub struct ReplyRecord {
    pub sender: String,
    pub thread_id: Option<i64>,
    pub outbox_id: i64,
    pub message_id: String,
}

/// What the store knows about earlier replies (see `autoreply::History`).
#[derive(Debug, Clone, Default)]
pub struct ReplyHistory {
    pub last_sent_to_sender: Option<i64>,
    pub pending_for_sender: bool,
    pub conversation_answered: bool,
    pub replies_last_hour: u32,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct DecisionRow {
    pub decided_at: i64,
    pub sender: Option<String>,
    pub subject: String,
    pub reply: bool,
    pub reason: String,
    pub detail: String,
    pub reply_state: Option<String>,
}

/// Move the cursor forward to `to` (never back).
fn advance(t: &mut super::Tx<'_>, account: &str, to: (i64, i64)) -> Result<()> {
    t.tx.execute(
        "UPDATE autoreply_cursor SET last_modseq = ?2, last_message_id = ?3
         WHERE account = ?1 AND (last_modseq < ?2 OR (last_modseq = ?2 AND last_message_id < ?3))",
        params![account, to.0, to.1],
    )?;
    Ok(())
}

fn ts(t: Option<DateTime<Utc>>) -> Option<i64> {
    t.map(|t| t.timestamp())
}

fn dt(t: Option<i64>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::from_timestamp(t, 0))
}

/// The auto-responder's tables, reached as `store.autoreply()`.
#[derive(Clone, Copy)]
pub struct Autoreply<'a>(&'a Store);

impl Store {
    /// The auto-responder's settings, cursor, replies and decisions.
    pub fn autoreply(&self) -> Autoreply<'_> {
        Autoreply(self)
    }
}

impl Autoreply<'_> {
    /// The stored settings of a mailbox, or None if none were ever saved.
    pub fn settings(&self, account: &str) -> Result<Option<Settings>> {
        self.0.read(|c| {
            Ok(c.query_row(
                "SELECT enabled, from_date, to_date, subject, text_body, html_body, internal_body, interval_secs,
                        schedule, answer, max_per_hour, max_age_secs, memory_since
                 FROM autoreply_settings WHERE account = ?1",
                [account],
                |r| {
                    Ok(Settings {
                        is_enabled: r.get(0)?,
                        from_date: dt(r.get(1)?),
                        to_date: dt(r.get(2)?),
                        subject: r.get(3)?,
                        text_body: r.get(4)?,
                        html_body: r.get(5)?,
                        internal_body: r.get(6)?,
                        interval_secs: r.get(7)?,
                        schedule: serde_json::from_str(&r.get::<_, String>(8)?).unwrap_or_default(),
                        answer: Answer::parse(&r.get::<_, String>(9)?).unwrap_or_default(),
                        max_per_hour: r.get(10)?,
                        max_age_secs: r.get(11)?,
                        memory_since: dt(r.get(12)?),
                    })
                },
            )
            .optional()?)
        })
    }

    /// The fingerprint of the config section last applied to this mailbox.
    pub fn config_hash(&self, account: &str) -> Result<Option<String>> {
        self.0.read(|c| {
            Ok(c.query_row("SELECT config_hash FROM autoreply_settings WHERE account = ?1", [account], |r| r.get(0))
                .optional()?
                .flatten())
        })
    }

    /// Save a mailbox's settings and log the VacationResponse change in the same transaction.
    /// `config_hash`: Some when the config is being applied; None keeps the stored one.
    pub fn save_settings(&self, account: &str, s: &Settings, config_hash: Option<&str>) -> Result<()> {
        let schedule = serde_json::to_string(&s.schedule).map_err(|e| StoreError::Other(e.to_string()))?;
        self.0.write(|t| {
            let existed: bool = t
                .tx
                .query_row("SELECT 1 FROM autoreply_settings WHERE account = ?1", [account], |_| Ok(true))
                .optional()?
                .unwrap_or(false);
            t.tx.execute(
                "INSERT INTO autoreply_settings (account, enabled, from_date, to_date, subject, text_body, html_body, internal_body,
                    interval_secs, schedule, answer, max_per_hour, max_age_secs, memory_since, config_hash, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
                 ON CONFLICT(account) DO UPDATE SET enabled = excluded.enabled, from_date = excluded.from_date,
                    to_date = excluded.to_date, subject = excluded.subject, text_body = excluded.text_body,
                    html_body = excluded.html_body, internal_body = excluded.internal_body,
                    interval_secs = excluded.interval_secs, schedule = excluded.schedule, answer = excluded.answer,
                    max_per_hour = excluded.max_per_hour, max_age_secs = excluded.max_age_secs,
                    memory_since = excluded.memory_since,
                    config_hash = COALESCE(excluded.config_hash, autoreply_settings.config_hash),
                    updated_at = excluded.updated_at",
                params![
                    account,
                    s.is_enabled,
                    ts(s.from_date),
                    ts(s.to_date),
                    s.subject,
                    s.text_body,
                    s.html_body,
                    s.internal_body,
                    s.interval_secs,
                    schedule,
                    s.answer.as_str(),
                    s.max_per_hour,
                    s.max_age_secs,
                    ts(s.memory_since),
                    config_hash,
                    now(),
                ],
            )?;
            t.log(account, ObjType::VacationResponse, 1, if existed { Op::Updated } else { Op::Created }, None)
        })
    }

    pub fn cursor(&self, account: &str) -> Result<Option<Cursor>> {
        self.0.read(|c| {
            Ok(c.query_row(
                "SELECT last_modseq, last_message_id, armed_at, initial_skipped FROM autoreply_cursor WHERE account = ?1",
                [account],
                |r| Ok(Cursor { position: (r.get(0)?, r.get(1)?), armed_at: r.get(2)?, initial_skipped: r.get(3)? }),
            )
            .optional()?)
        })
    }

    /// Start watching an account: from the start of the change log (everything is looked at;
    /// what was received before `armed_at` only counted), armed now.
    pub fn arm(&self, account: &str, armed_at: i64) -> Result<Cursor> {
        self.0.write(|t| {
            t.tx.execute(
                "INSERT INTO autoreply_cursor (account, last_modseq, last_message_id, armed_at) VALUES (?1, 0, 0, ?2)
                 ON CONFLICT(account) DO NOTHING",
                params![account, armed_at],
            )?;
            Ok(())
        })?;
        Ok(self.cursor(account)?.expect("just armed"))
    }

    /// Messages created after `after` = (modseq, message id), in any folder, in the order they
    /// were created, with their folder's role. A message destroyed since is not returned.
    pub fn candidates(&self, account: &str, after: (i64, i64), limit: usize) -> Result<Vec<Candidate>> {
        self.0.read(|c| {
            let mut s = c.prepare_cached(
                "SELECT m.id, f.role, m.received_at, m.thread_id, l.modseq
                 FROM change_log l JOIN message m ON m.id = l.object_id JOIN folder f ON f.id = m.folder_id
                 WHERE l.account = ?1 AND l.type = ?2 AND l.op = ?3 AND m.account = ?1
                   AND (l.modseq > ?4 OR (l.modseq = ?4 AND l.object_id > ?5))
                 ORDER BY l.modseq, l.object_id LIMIT ?6",
            )?;
            let rows = s
                .query_map(
                    params![account, ObjType::Email as i64, Op::Created as i64, after.0, after.1, limit as i64],
                    |r| {
                        Ok(Candidate {
                            id: r.get(0)?,
                            role: r.get(1)?,
                            received_at: r.get(2)?,
                            thread_id: r.get(3)?,
                            modseq: r.get(4)?,
                        })
                    },
                )?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// Move the cursor past messages nothing is recorded for (other folders, first sync).
    pub fn advance(&self, account: &str, to: (i64, i64), initial_skipped: i64) -> Result<()> {
        self.0.write(|t| {
            advance(t, account, to)?;
            t.tx.execute(
                "UPDATE autoreply_cursor SET initial_skipped = initial_skipped + ?2 WHERE account = ?1",
                params![account, initial_skipped],
            )?;
            Ok(())
        })
    }

    /// A decision was recorded before for a message with this Message-ID (a copy moved back
    /// into the inbox is not decided twice).
    pub fn decided(&self, account: &str, rfc_message_id: &str) -> Result<bool> {
        self.0.read(|c| {
            Ok(c.query_row(
                "SELECT 1 FROM autoreply_decision WHERE account = ?1 AND rfc_message_id = ?2 LIMIT 1",
                params![account, rfc_message_id],
                |_| Ok(true),
            )
            .optional()?
            .unwrap_or(false))
        })
    }

    /// Record a decision (and the reply queued for it) and move the cursor, in one transaction.
    pub fn record(
        &self,
        account: &str,
        d: &DecisionRecord,
        reply: Option<&ReplyRecord>,
        cursor_to: Option<(i64, i64)>,
    ) -> Result<i64> {
        self.0.write(|t| {
            let at = now();
            let reply_id = match reply {
                Some(r) => {
                    t.tx.execute(
                        // The state as the outbox has it now (it may have moved since it was queued);
                        // from here on the outbox keeps it current (`store::outbox::follow`).
                        "INSERT INTO autoreply_reply (account, sender, thread_id, outbox_id, message_id, queued_at, state, sent_at)
                         SELECT ?1, ?2, ?3, ?4, ?5, ?6, COALESCE(o.status, 'queued'), o.sent_at
                         FROM (SELECT 1) LEFT JOIN outbox_message o ON o.id = ?4",
                        params![account, r.sender, r.thread_id, r.outbox_id, r.message_id, at],
                    )?;
                    Some(t.tx.last_insert_rowid())
                }
                None => None,
            };
            t.tx.execute(
                "INSERT INTO autoreply_decision (account, message, rfc_message_id, sender, subject, decided_at, reply, reason, detail, reply_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![account, d.message, d.rfc_message_id, d.sender, d.subject, at, d.reply, d.reason, d.detail, reply_id],
            )?;
            let id = t.tx.last_insert_rowid();
            if let Some(to) = cursor_to {
                advance(t, account, to)?;
            }
            Ok(id)
        })
    }

    /// Replies whose outbox state may still change: (reply id, outbox id, state) (tests).
    #[cfg(test)]
    pub fn open_replies(&self, account: &str) -> Result<Vec<(i64, i64, String)>> {
        self.0.read(|c| {
            let mut s = c.prepare_cached(
                "SELECT id, outbox_id, state FROM autoreply_reply
                 WHERE account = ?1 AND state IN ('queued', 'sending', 'deferred', 'unknown') ORDER BY id",
            )?;
            let rows =
                s.query_map([account], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// Set a reply's state by hand; the first time it is "sent", note when (tests; the queue
    /// keeps it with `store::outbox::follow`).
    #[cfg(test)]
    pub fn set_reply_state(&self, reply_id: i64, state: &str, seen_at: i64) -> Result<()> {
        self.0.write(|t| {
            t.tx.execute(
                "UPDATE autoreply_reply SET state = ?2,
                    sent_at = CASE WHEN ?2 = 'sent' AND sent_at IS NULL THEN ?3 ELSE sent_at END
                 WHERE id = ?1",
                params![reply_id, state, seen_at],
            )?;
            Ok(())
        })
    }

    /// Earlier replies of the account to `sender` and in `thread`, counting only those queued
    /// since `memory_since`; `now` for the hourly cap.
    pub fn history(
        &self,
        account: &str,
        sender: &str,
        thread: Option<i64>,
        memory_since: i64,
        now: i64,
    ) -> Result<ReplyHistory> {
        self.0.read(|c| {
            let last_sent: Option<i64> = c.query_row(
                "SELECT MAX(sent_at) FROM autoreply_reply WHERE account = ?1 AND sender = ?2 AND state = 'sent' AND queued_at >= ?3",
                params![account, sender, memory_since],
                |r| r.get(0),
            )?;
            let pending: bool = c.query_row(
                "SELECT EXISTS (SELECT 1 FROM autoreply_reply WHERE account = ?1 AND sender = ?2 AND queued_at >= ?3
                   AND state IN ('queued', 'sending', 'deferred', 'unknown'))",
                params![account, sender, memory_since],
                |r| r.get(0),
            )?;
            let conversation: bool = match thread {
                Some(th) => c.query_row(
                    "SELECT EXISTS (SELECT 1 FROM autoreply_reply WHERE account = ?1 AND thread_id = ?2 AND queued_at >= ?3
                       AND state IN ('queued', 'sending', 'deferred', 'unknown', 'sent'))",
                    params![account, th, memory_since],
                    |r| r.get(0),
                )?,
                None => false,
            };
            let last_hour: u32 = c.query_row(
                "SELECT COUNT(*) FROM autoreply_reply WHERE account = ?1 AND queued_at > ?2",
                params![account, now - 3600],
                |r| r.get(0),
            )?;
            Ok(ReplyHistory {
                last_sent_to_sender: last_sent,
                pending_for_sender: pending,
                conversation_answered: conversation,
                replies_last_hour: last_hour,
            })
        })
    }

    /// Has this mailbox written to any of `addresses` (To or Cc of a message in its sent
    /// folder, given by SPECIAL-USE role or by name)? Its own automatic replies do not count.
    pub fn known_correspondent(
        &self,
        account: &str,
        sent_role: Option<&str>,
        sent_name: Option<&str>,
        addresses: &[&str],
    ) -> Result<bool> {
        if addresses.is_empty() {
            return Ok(false);
        }
        self.0.read(|c| {
            let mut s = c.prepare_cached(
                "SELECT EXISTS (
                   SELECT 1 FROM message m JOIN folder f ON f.id = m.folder_id
                   WHERE m.account = ?1 AND (f.role = ?2 OR f.name = ?3)
                     AND (m.message_id IS NULL
                          OR m.message_id NOT IN (SELECT message_id FROM autoreply_reply WHERE account = ?1))
                     AND EXISTS (SELECT 1 FROM json_each(m.to_addr) j WHERE lower(json_extract(j.value, '$.email')) = ?4
                                 UNION ALL
                                 SELECT 1 FROM json_each(m.cc_addr) j WHERE lower(json_extract(j.value, '$.email')) = ?4))",
            )?;
            for a in addresses {
                let found: bool = s.query_row(params![account, sent_role, sent_name, a.to_lowercase()], |r| r.get(0))?;
                if found {
                    return Ok(true);
                }
            }
            Ok(false)
        })
    }

    /// The conversation a message with these ids belongs to, if the store has seen any of them.
    pub fn thread_of_ids(&self, account: &str, ids: &[String]) -> Result<Option<i64>> {
        self.0.read(|c| {
            let mut s = c.prepare_cached("SELECT thread_id FROM thread_ref WHERE account = ?1 AND msgid = ?2")?;
            let mut found = None;
            for id in ids {
                if let Some(th) = s.query_row(params![account, id], |r| r.get::<_, i64>(0)).optional()? {
                    found = Some(found.map_or(th, |f: i64| f.min(th)));
                }
            }
            Ok(found)
        })
    }

    /// Decisions per reason code, all time.
    pub fn counts(&self, account: &str) -> Result<Vec<(String, i64)>> {
        self.0.read(|c| {
            let mut s = c.prepare_cached(
                "SELECT reason, COUNT(*) FROM autoreply_decision WHERE account = ?1 GROUP BY reason ORDER BY COUNT(*) DESC, reason",
            )?;
            let rows = s.query_map([account], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// Replies queued per outbox state, all time.
    pub fn reply_states(&self, account: &str) -> Result<Vec<(String, i64)>> {
        self.0.read(|c| {
            let mut s = c.prepare_cached(
                "SELECT state, COUNT(*) FROM autoreply_reply WHERE account = ?1 GROUP BY state ORDER BY state",
            )?;
            let rows = s.query_map([account], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// The newest decisions, newest first.
    pub fn recent(&self, account: &str, limit: usize) -> Result<Vec<DecisionRow>> {
        self.0.read(|c| {
            let mut s = c.prepare_cached(
                "SELECT d.decided_at, d.sender, d.subject, d.reply, d.reason, d.detail, r.state
                 FROM autoreply_decision d LEFT JOIN autoreply_reply r ON r.id = d.reply_id
                 WHERE d.account = ?1 ORDER BY d.id DESC LIMIT ?2",
            )?;
            let rows = s
                .query_map(params![account, limit as i64], |r| {
                    Ok(DecisionRow {
                        decided_at: r.get(0)?,
                        sender: r.get(1)?,
                        subject: r.get(2)?,
                        reply: r.get(3)?,
                        reason: r.get(4)?,
                        detail: r.get(5)?,
                        reply_state: r.get(6)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }
}
