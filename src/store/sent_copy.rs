//! Sent-copy bookkeeping, for a whole batch at once (or a batch of one):
//! `tries` is committed for every copy of a batch before its APPEND goes out, and `done` for
//! the copies the server confirmed, each in one transaction. A copy the server refuses is
//! counted, and set aside after a few refusals, so one message the server will never take is
//! not tried forever (`outbox_sent_copy_refusal`). The columns are in `schema/0002_outbox.sql`
//! and `schema/0012_sent_copy_refusals.sql`. Nothing here talks to a server.

use rusqlite::params;

use super::outbox::{SentCopy, own_note};
use super::{Result, Store, now};

impl Store {
    /// Committed before a batch's APPEND, so a retry after a crash knows to search first.
    pub fn outbox_sent_copies_try(&self, ids: &[i64]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        self.write(|t| {
            let mut s =
                t.tx.prepare_cached("UPDATE outbox_message SET sent_copy_tries = sent_copy_tries + 1 WHERE id = ?1")?;
            for id in ids {
                s.execute([id])?;
            }
            Ok(())
        })
    }

    /// The copies of `ids` are in the Sent folder; `note` goes into each audit trail.
    pub fn outbox_sent_copies_done(&self, ids: &[i64], note: &str) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        self.write(|t| {
            let at = now();
            for id in ids {
                t.tx.prepare_cached("UPDATE outbox_message SET sent_copy_done = 1 WHERE id = ?1")?
                    .execute(params![id])?;
                own_note(&t.tx, *id, at, note)?;
            }
            Ok(())
        })
    }

    /// Sent messages of an account whose Sent-folder copy is missing and not set aside.
    pub fn outbox_sent_copies_due(&self, account: &str, limit: usize) -> Result<Vec<SentCopy>> {
        self.read(|c| {
            let mut s = c.prepare_cached(
                "SELECT m.id, m.message_id, m.raw, m.sent_copy_tries FROM outbox_message m
                 LEFT JOIN outbox_sent_copy_refusal r ON r.message = m.id
                 WHERE m.account = ?1 AND m.status = 'sent' AND m.sent_copy_done = 0 AND r.set_aside_at IS NULL
                 ORDER BY m.id LIMIT ?2",
            )?;
            let rows = s
                .query_map(params![account, limit as i64], |r| {
                    Ok(SentCopy { id: r.get(0)?, message_id: r.get(1)?, raw: r.get(2)?, tries: r.get(3)? })
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// The server refused the copy of `id` with `text`. Returns true when this was refusal
    /// number `set_aside_after`: the copy is set aside (never tried again) and its audit trail
    /// says so.
    pub fn outbox_sent_copy_refused(&self, id: i64, text: &str, set_aside_after: i64) -> Result<bool> {
        self.write(|t| {
            let at = now();
            let refusals: i64 = t.tx.query_row(
                "INSERT INTO outbox_sent_copy_refusal (message, account, refusals, last_error)
                   SELECT id, account, 1, ?2 FROM outbox_message WHERE id = ?1
                 ON CONFLICT(message) DO UPDATE SET refusals = refusals + 1, last_error = excluded.last_error
                 RETURNING refusals",
                params![id, text],
                |r| r.get(0),
            )?;
            let set_aside = refusals >= set_aside_after;
            let note = if set_aside {
                t.tx.execute("UPDATE outbox_sent_copy_refusal SET set_aside_at = ?2 WHERE message = ?1", params![id, at])?;
                format!(
                    "the server refused the copy for the Sent folder {refusals} times ({text}); set aside, not tried again"
                )
            } else {
                format!("the server refused the copy for the Sent folder ({text}); will try again")
            };
            own_note(&t.tx, id, at, &note)?;
            Ok(set_aside)
        })
    }

    /// How many copies of an account are set aside, and the newest refusal's words.
    pub fn outbox_sent_copies_set_aside(&self, account: &str) -> Result<(i64, Option<String>)> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT COUNT(*), (SELECT last_error FROM outbox_sent_copy_refusal
                   WHERE account = ?1 AND set_aside_at IS NOT NULL ORDER BY set_aside_at DESC, message DESC LIMIT 1)
                 FROM outbox_sent_copy_refusal WHERE account = ?1 AND set_aside_at IS NOT NULL",
                [account],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?)
        })
    }

    /// A message of `account` that went out and still needs its Sent copy (tests only).
    #[cfg(test)]
    pub fn outbox_insert_sent_for_test(&self, account: &str, message_id: &str, raw: &[u8]) -> i64 {
        self.write(|t| {
            t.tx.execute(
                "INSERT INTO outbox_message (account, status, origin, message_id, from_addr, raw, created_at, due_at, updated_at)
                 VALUES (?1, 'sent', 'office', ?2, 'becker@bau-firma.test', ?3, 0, 0, 0)",
                params![account, message_id, raw],
            )?;
            Ok(t.tx.last_insert_rowid())
        })
        .unwrap()
    }
}
