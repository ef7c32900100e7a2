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

use super::Result;
use super::outbox::{Outbox, WAITING, begin, set_in_flight};

/// Rows older than this are deleted (no pacing window is longer than a day).
const KEEP_SECS: i64 = 2 * 86_400;

/// The words people read in `status` and `queue list` for a message held back by pacing;
/// the start of its `waiting` text, by which the lifetime clock knows to stand still.
pub const HELD: &str = "held by rate limit until";

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

impl Outbox<'_> {
    /// Like [`Outbox::begin`], and in the same transaction count one envelope under `keys`
    /// and record its recipients `rcpts` as in flight. False (and nothing counted) when the
    /// message is no longer waiting.
    pub fn begin_counted(&self, id: i64, keys: &[String], at: i64, rcpts: &[String]) -> Result<bool> {
        self.store.write(|t| {
            let begun = begin(t, id, at, rcpts)?;
            if begun {
                log(&t.tx, keys, id, at)?;
            }
            Ok(begun)
        })
    }

    /// Count one more envelope under `keys` (without a message in flight; tests).
    #[cfg(test)]
    pub fn log_send(&self, keys: &[String], message: i64, at: i64) -> Result<()> {
        self.store.write(|t| Ok(log(&t.tx, keys, message, at)?))
    }

    /// The next envelope of a message already `sending` (the next part of a split one): count
    /// it and record its recipients `rcpts` as in flight, before it goes out.
    pub fn next_envelope(&self, id: i64, keys: &[String], at: i64, rcpts: &[String]) -> Result<()> {
        self.store.write(|t| {
            log(&t.tx, keys, id, at)?;
            set_in_flight(t, id, rcpts)
        })
    }

    /// Send times under `key` after `since`, oldest first.
    pub fn sends_since(&self, key: &str, since: i64) -> Result<Vec<i64>> {
        self.store.read(|c| {
            let mut s = c.prepare_cached("SELECT at FROM outbox_send_log WHERE key = ?1 AND at > ?2 ORDER BY at")?;
            let rows = s.query_map(params![key, since], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    pub fn throttle(&self, key: &str) -> Result<Option<Throttle>> {
        self.store.read(|c| {
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

    pub fn set_throttle(&self, t: &Throttle) -> Result<()> {
        self.store.write(|tx| {
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
    pub fn hold(&self, account: &str, until: i64, why: &str, at: i64) -> Result<usize> {
        self.store.write(|t| {
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
        self.store.read(|c| {
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
    use crate::store::Store;
    use crate::store::now;
    use crate::store::outbox::State;
    use crate::store::outbox::tests::new;

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
            s.outbox().log_send(&keys, 1, t - KEEP_SECS - 10).unwrap();
            s.outbox().log_send(&keys[..1], 1, t - 100).unwrap();
            s.outbox().log_send(&keys, 2, t - 5).unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.outbox().sends_since("transport:direct", t - 86_400).unwrap(), vec![t - 100, t - 5]);
        assert_eq!(s.outbox().sends_since("login:becker@bau-firma.test", 0).unwrap(), vec![t - 5]);
    }

    /// A split message: the first envelope's recipients are settled while the message is still
    /// `sending`. A stop between two envelopes leaves nobody's copy in doubt: at the next start
    /// the message is due again for the others only. A stop while the second envelope is in
    /// flight makes it `unknown`, with exactly that envelope's recipients in doubt; nobody of
    /// the first envelope is ever sent a second copy.
    #[test]
    fn a_crash_between_envelopes_resends_only_the_rest() {
        use crate::store::outbox::{AttemptResult, RcptOutcome};
        let (_d, s) = store();
        let n = new(&["a@kunde.test", "b@kunde.test", "c@kunde.test", "d@kunde.test"]);
        let id = s.outbox().insert(&n).unwrap();
        let keys = ["transport:direct".to_string()];
        let first = ["a@kunde.test".to_string(), "b@kunde.test".to_string()];
        assert!(s.outbox().begin_counted(id, &keys, now(), &first).unwrap());
        assert_eq!(s.outbox().in_flight(id).unwrap(), first);
        let answers = AttemptResult {
            server: "s".into(),
            recipients: first.iter().map(|a| (a.clone(), RcptOutcome::Sent, Some(250), "delivered".into())).collect(),
            notes: vec![],
            status: State::Sending,
            due_at: None,
            last_error: None,
        };
        s.outbox().finish(id, &answers).unwrap();
        assert!(s.outbox().in_flight(id).unwrap().is_empty(), "a settled envelope is no longer in flight");
        // The daemon dies here, before the second envelope: no person is needed.
        assert!(s.outbox().mark_unknown().unwrap().is_empty());
        assert_eq!(s.outbox().state(id).unwrap(), Some(State::Queued));
        let m = s.outbox().next("becker", now()).unwrap().unwrap();
        assert_eq!((m.pending, m.already_sent), (vec!["c@kunde.test".to_string(), "d@kunde.test".to_string()], 2));

        // Again, and this time it dies with the envelope to c in flight.
        assert!(s.outbox().begin_counted(id, &keys, now(), &["c@kunde.test".to_string()]).unwrap());
        assert_eq!(s.outbox().mark_unknown().unwrap().len(), 1);
        assert_eq!(s.outbox().state(id).unwrap(), Some(State::Unknown));
        assert_eq!(s.outbox().in_flight(id).unwrap(), vec!["c@kunde.test"], "only c's copy is in doubt");
        assert!(s.outbox().next("becker", now() + 10_000).unwrap().is_none(), "unknown is never due by itself");
        // A person decides: the retry goes to those still pending, never to a and b again.
        assert_eq!(s.outbox().retry(id, "test").unwrap().as_deref(), Some("becker"));
        assert!(s.outbox().in_flight(id).unwrap().is_empty());
        assert_eq!(s.outbox().next("becker", now()).unwrap().unwrap().pending, vec!["c@kunde.test", "d@kunde.test"]);
    }

    /// The lifetime counts only time in which a message could have been sent. A hold by
    /// pacing neither resets nor extends what was counted, and while it holds the clock stands
    /// still (a day's quota must not expire mail); a paused mailbox's clock stands still too.
    /// Once the hold has passed, the clock runs again.
    #[test]
    fn a_rate_hold_or_a_pause_does_not_use_up_the_lifetime() {
        use crate::store::outbox_list::Pause;
        let (_d, s) = store();
        let id = s.outbox().insert(&new(&["a@kunde.test"])).unwrap();
        let t = now();
        let open = |s: &Store| s.outbox().show(id).unwrap().unwrap().0.open_secs;
        let becker = ["becker".to_string()];
        s.outbox().add_open_time(&becker, 100, t).unwrap();
        assert_eq!(s.outbox().hold("becker", t + 3600, &format!("{HELD} 15:00"), t).unwrap(), 1);
        assert_eq!(open(&s), 100, "a hold keeps what was counted");
        s.outbox().add_open_time(&becker, 50, t + 10).unwrap();
        assert_eq!(open(&s), 100, "held by pacing: the lifetime stands still");
        assert!(s.outbox().expire(120, t + 10).unwrap().is_empty());
        s.outbox().add_open_time(&becker, 50, t + 3600).unwrap();
        assert_eq!(open(&s), 150, "the hold has passed: the clock runs again");
        let pause = Pause {
            account: "becker".into(),
            transport: "direct".into(),
            reason: "refused".into(),
            at: t,
            salt: "s".into(),
            fingerprint: "f".into(),
        };
        s.outbox().set_pause(&pause).unwrap();
        s.outbox().add_open_time(&becker, 500, t + 4000).unwrap();
        assert_eq!(open(&s), 150, "a paused mailbox's mail waits without using up its lifetime");
        assert!(s.outbox().clear_pause("becker").unwrap());
        s.outbox().add_open_time(&becker, 10, t + 4010).unwrap();
        assert_eq!(open(&s), 160);
    }

    #[test]
    fn hold_and_held() {
        let (_d, s) = store();
        let id = s.outbox().insert(&new(&["a@kunde.test"])).unwrap();
        let t = now();
        assert_eq!(s.outbox().rate_held("becker", "held").unwrap(), None);
        assert_eq!(s.outbox().hold("becker", t + 60, "held by rate limit until 14:05", t).unwrap(), 1);
        assert_eq!(s.outbox().rate_held("becker", "held").unwrap(), Some((1, t + 60)));
        assert!(s.outbox().next("becker", t).unwrap().is_none(), "not due while held");
        assert!(s.outbox().begin_counted(id, &["transport:relay".into()], t + 60, &[]).unwrap());
        assert_eq!(s.outbox().sends_since("transport:relay", 0).unwrap(), vec![t + 60]);
        assert!(!s.outbox().begin_counted(id, &["transport:relay".into()], t + 61, &[]).unwrap());
        assert_eq!(s.outbox().sends_since("transport:relay", 0).unwrap().len(), 1, "not counted twice");
    }
}
