//! Tables of send-rate pacing (`schema/0009_outbox_rates.sql`): the log of envelopes handed to
//! a server per transport and login, the adaptive slow-down per transport, and holding waiting
//! messages until pacing lets them go.
//!
//! The log is what makes limits survive a restart: counts come from these rows, never from
//! memory. A row is written before its envelope goes out (in the same transaction as the
//! message's `sending` state for the first envelope), so a crash can over-count but never
//! under-count. What the numbers mean is decided in `outbox::rate`; nothing here talks to a
//! server.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::outbox::WAITING;
use super::{Result, Store};

/// Rows older than this are deleted (no pacing window is longer than a day).
const KEEP_SECS: i64 = 2 * 86_400;

/// A transport's slow-down after a throttling answer.
#[derive(Debug, Clone, Serialize)]
pub struct Throttle {
    pub key: String,
    pub interval_secs: f64,
    pub throttled_at: i64,
    pub reply: String,
}

fn log(c: &rusqlite::Connection, keys: &[String], message: i64, at: i64) -> rusqlite::Result<()> {
    let mut ins = c.prepare_cached("INSERT INTO outbox_send_log (key, at, message) VALUES (?1, ?2, ?3)")?;
    let mut del = c.prepare_cached("DELETE FROM outbox_send_log WHERE key = ?1 AND at < ?2")?;
    for k in keys {
        ins.execute(params![k, at, message])?;
        del.execute(params![k, at - KEEP_SECS])?;
    }
    Ok(())
}

impl Store {
    /// Like `outbox_begin`, and in the same transaction count one envelope under `keys`.
    /// False (and nothing counted) when the message is no longer waiting.
    pub fn outbox_begin_counted(&self, id: i64, keys: &[String], at: i64) -> Result<bool> {
        self.write(|t| {
            let n = t.tx.execute(
                &format!(
                    "UPDATE outbox_message SET status = 'sending', attempts = attempts + 1, waiting = NULL, updated_at = ?2
                     WHERE id = ?1 AND status IN {WAITING}"
                ),
                params![id, at],
            )?;
            if n > 0 {
                log(&t.tx, keys, id, at)?;
            }
            Ok(n > 0)
        })
    }

    /// Count one more envelope of a message already `sending` (the next part of a split one).
    pub fn outbox_log_send(&self, keys: &[String], message: i64, at: i64) -> Result<()> {
        self.write(|t| Ok(log(&t.tx, keys, message, at)?))
    }

    /// Send times under `key` after `since`, oldest first.
    pub fn outbox_sends_since(&self, key: &str, since: i64) -> Result<Vec<i64>> {
        self.read(|c| {
            let mut s = c.prepare_cached("SELECT at FROM outbox_send_log WHERE key = ?1 AND at > ?2 ORDER BY at")?;
            let rows = s.query_map(params![key, since], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    pub fn outbox_throttle(&self, key: &str) -> Result<Option<Throttle>> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT key, interval_secs, throttled_at, reply FROM outbox_throttle WHERE key = ?1",
                [key],
                |r| {
                    Ok(Throttle { key: r.get(0)?, interval_secs: r.get(1)?, throttled_at: r.get(2)?, reply: r.get(3)? })
                },
            )
            .optional()?)
        })
    }

    pub fn outbox_set_throttle(&self, t: &Throttle) -> Result<()> {
        self.write(|tx| {
            tx.tx.execute(
                "INSERT INTO outbox_throttle (key, interval_secs, throttled_at, reply) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(key) DO UPDATE SET interval_secs = excluded.interval_secs,
                   throttled_at = excluded.throttled_at, reply = excluded.reply",
                params![t.key, t.interval_secs, t.throttled_at, t.reply],
            )?;
            Ok(())
        })
    }

    /// Pacing holds the account's waiting messages: those due by `until` become due then,
    /// with `why` as the reason people read. Returns how many.
    pub fn outbox_hold(&self, account: &str, until: i64, why: &str, at: i64) -> Result<usize> {
        self.write(|t| {
            Ok(t.tx
                .prepare_cached(&format!(
                    "UPDATE outbox_message SET due_at = ?2, waiting = ?3, checked_at = ?4
                     WHERE account = ?1 AND status IN {WAITING} AND due_at <= ?2"
                ))?
                .execute(params![account, until, why, at])?)
        })
    }

    /// How many waiting messages of the account carry a reason starting with `prefix`, and the
    /// earliest time one of them is due.
    pub fn rate_held(&self, account: &str, prefix: &str) -> Result<Option<(i64, i64)>> {
        self.read(|c| {
            let (n, due): (i64, Option<i64>) = c.query_row(
                &format!(
                    "SELECT COUNT(*), MIN(due_at) FROM outbox_message
                     WHERE account = ?1 AND status IN {WAITING} AND substr(waiting, 1, length(?2)) = ?2"
                ),
                params![account, prefix],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            Ok(due.filter(|_| n > 0).map(|d| (n, d)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::now;
    use crate::store::outbox::NewOutboxMessage;

    fn store() -> (tempfile::TempDir, Store) {
        crate::store::test_store()
    }

    /// Counts survive reopening the store (a restart), and old rows go away.
    #[test]
    fn the_send_log_survives_a_restart_and_forgets_after_two_days() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let keys = vec!["transport:direct".to_string(), "login:becker@bau-firma.test".to_string()];
        let t = now();
        {
            let s = Store::open(&path).unwrap();
            s.outbox_log_send(&keys, 1, t - KEEP_SECS - 10).unwrap();
            s.outbox_log_send(&keys[..1], 1, t - 100).unwrap();
            s.outbox_log_send(&keys, 2, t - 5).unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.outbox_sends_since("transport:direct", t - 86_400).unwrap(), vec![t - 100, t - 5]);
        assert_eq!(s.outbox_sends_since("login:becker@bau-firma.test", 0).unwrap(), vec![t - 5]);
    }

    /// A split message: the first envelope's recipients are recorded while the message is still
    /// `sending`; a crash then makes it `unknown`, and a retry sends only to the others.
    #[test]
    fn a_crash_between_envelopes_resends_only_the_rest() {
        use crate::store::outbox::{AttemptResult, RcptOutcome};
        let (_d, s) = store();
        let mut n = new_message();
        n.recipients = vec!["a@kunde.test".into(), "b@kunde.test".into(), "c@kunde.test".into()];
        let id = s.outbox_insert(&n).unwrap();
        assert!(s.outbox_begin_counted(id, &["transport:direct".into()], now()).unwrap());
        let first = AttemptResult {
            server: "s".into(),
            recipients: vec![
                ("a@kunde.test".into(), RcptOutcome::Sent, Some(250), "delivered".into()),
                ("b@kunde.test".into(), RcptOutcome::Sent, Some(250), "delivered".into()),
            ],
            notes: vec![],
            status: "sending",
            due_at: None,
            last_error: None,
        };
        s.outbox_finish(id, &first).unwrap();
        // The daemon dies here, before the second envelope.
        assert_eq!(s.outbox_mark_unknown().unwrap().len(), 1);
        assert_eq!(s.outbox_retry(id, "test").unwrap().as_deref(), Some("becker"));
        assert_eq!(s.outbox_next("becker", now()).unwrap().unwrap().pending, vec!["c@kunde.test"]);
    }

    fn new_message() -> NewOutboxMessage {
        NewOutboxMessage {
            account: "becker".into(),
            origin: "office",
            message_id: "x@bau-firma.test".into(),
            from_addr: "becker@bau-firma.test".into(),
            subject: "s".into(),
            raw: b"From: becker@bau-firma.test\r\n\r\nhi\r\n".to_vec(),
            recipients: vec!["a@kunde.test".into()],
            discard_after: None,
        }
    }

    #[test]
    fn hold_and_held() {
        let (_d, s) = store();
        let id = s.outbox_insert(&new_message()).unwrap();
        let t = now();
        assert_eq!(s.rate_held("becker", "held").unwrap(), None);
        assert_eq!(s.outbox_hold("becker", t + 60, "held by rate limit until 14:05", t).unwrap(), 1);
        assert_eq!(s.rate_held("becker", "held").unwrap(), Some((1, t + 60)));
        assert!(s.outbox_next("becker", t).unwrap().is_none(), "not due while held");
        assert!(s.outbox_begin_counted(id, &["transport:relay".into()], t + 60).unwrap());
        assert_eq!(s.outbox_sends_since("transport:relay", 0).unwrap(), vec![t + 60]);
        assert!(!s.outbox_begin_counted(id, &["transport:relay".into()], t + 61).unwrap());
        assert_eq!(s.outbox_sends_since("transport:relay", 0).unwrap().len(), 1, "not counted twice");
    }
}
