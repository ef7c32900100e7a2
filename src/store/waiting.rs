//! What the "still waiting" notice keeps in the store (`schema/0010_waiting_notice.sql`): the
//! closed-gate working time each waiting message has accrued, and when its sender was told.
//!
//! The rule deciding who is due a notice is the pure `outbox::waiting`; this file only counts,
//! lists and records. The notice itself goes into the INBOX in the same transaction that marks
//! its messages as told, so a crash can neither lose nor repeat it. Nothing here talks to a
//! server.

use rusqlite::{OptionalExtension, params};

use super::Result;
use super::outbox::{Outbox, WAITING, own_note, put_inbox_notice};

/// A waiting message the sender has not yet been told about.
#[derive(Debug, Clone)]
pub struct HeldRow {
    pub id: i64,
    pub account: String,
    pub origin: String,
    pub message_id: String,
    pub subject: String,
    pub created_at: i64,
    /// Closed-gate seconds inside working hours.
    pub gate_wait_secs: i64,
    /// The recipients not yet delivered to.
    pub recipients: Vec<String>,
}

impl Outbox<'_> {
    /// Add `secs` of closed-gate working time to every waiting message of these accounts
    /// (auto-replies excepted: they are never the subject of a notice).
    pub fn add_gate_wait(&self, accounts: &[String], secs: i64) -> Result<()> {
        if accounts.is_empty() || secs <= 0 {
            return Ok(());
        }
        self.store.write(|t| {
            let mut s = t.tx.prepare_cached(&format!(
                "INSERT INTO outbox_wait (message, account, gate_secs)
                 SELECT id, account, ?2 FROM outbox_message
                 WHERE account = ?1 AND status IN {WAITING} AND origin <> 'autoreply'
                 ON CONFLICT (message) DO UPDATE SET gate_secs = gate_secs + excluded.gate_secs"
            ))?;
            for a in accounts {
                s.execute(params![a, secs])?;
            }
            Ok(())
        })
    }

    /// Waiting messages of these accounts that have no notice yet and have accrued some wait.
    pub fn held(&self, accounts: &[String]) -> Result<Vec<HeldRow>> {
        self.store.read(|c| {
            let mut s = c.prepare_cached(&format!(
                "SELECT m.id, m.account, m.origin, m.message_id, m.subject, m.created_at, w.gate_secs
                 FROM outbox_message m JOIN outbox_wait w ON w.message = m.id
                 WHERE m.account = ?1 AND status IN {WAITING} AND w.notice_at IS NULL AND w.gate_secs > 0
                 ORDER BY m.id"
            ))?;
            let mut r = c.prepare_cached(
                "SELECT address FROM outbox_recipient WHERE message = ?1 AND status = 'pending' ORDER BY address",
            )?;
            let mut out = Vec::new();
            for a in accounts {
                let rows: Vec<HeldRow> = s
                    .query_map([a], |r| {
                        Ok(HeldRow {
                            id: r.get(0)?,
                            account: r.get(1)?,
                            origin: r.get(2)?,
                            message_id: r.get(3)?,
                            subject: r.get(4)?,
                            created_at: r.get(5)?,
                            gate_wait_secs: r.get(6)?,
                            recipients: Vec::new(),
                        })
                    })?
                    .collect::<rusqlite::Result<_>>()?;
                for mut row in rows {
                    row.recipients = r.query_map([row.id], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
                    out.push(row);
                }
            }
            Ok(out)
        })
    }

    /// When this account's sender was last told that mail waits (unix seconds).
    pub fn last_waiting_notice(&self, account: &str) -> Result<Option<i64>> {
        self.store.read(|c| {
            Ok(c.query_row("SELECT MAX(notice_at) FROM outbox_wait WHERE account = ?1", [account], |r| {
                r.get::<_, Option<i64>>(0)
            })
            .optional()?
            .flatten())
        })
    }

    /// Put the notice `raw` into the account's INBOX (store now, server through the
    /// write-back queue) and mark `ids` as told, in one transaction. Returns the notice's id.
    pub fn waiting_noticed(&self, account: &str, ids: &[i64], raw: Vec<u8>, at: i64) -> Result<i64> {
        self.store.write(|t| {
            let id = put_inbox_notice(t, account, raw, &["$postbote-notice"])?;
            for m in ids {
                t.tx.prepare_cached("UPDATE outbox_wait SET notice_at = ?2 WHERE message = ?1")?
                    .execute(params![m, at])?;
                own_note(&t.tx, *m, at, "a notice that it still waits for an office session was put into the INBOX")?;
            }
            Ok(id)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::now;
    use super::super::outbox::NewOutboxMessage;
    use crate::store::Store;

    fn new(origin: &'static str) -> NewOutboxMessage {
        NewOutboxMessage {
            account: "becker".into(),
            origin,
            message_id: format!("{origin}@bau-firma.test"),
            from_addr: "becker@bau-firma.test".into(),
            subject: "Angebot".into(),
            raw: b"From: becker@bau-firma.test\r\n\r\nhi\r\n".to_vec(),
            recipients: vec!["kunde@kunde.test".into()],
            discard_after: None,
        }
    }

    /// The wait accrues on waiting office and phone mail only, is kept in the store, and a
    /// notice marks its messages told and lands in the INBOX.
    #[test]
    fn wait_accrues_and_a_notice_is_recorded_once() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("s.sqlite")).unwrap();
        s.ensure_accounts(["becker"]).unwrap();
        let office = s.outbox().insert(&new("office")).unwrap();
        let reply = s.outbox().insert(&new("autoreply")).unwrap();
        let accounts = vec!["becker".to_string()];
        assert!(s.outbox().held(&accounts).unwrap().is_empty(), "nothing accrued yet");
        s.outbox().add_gate_wait(&accounts, 60).unwrap();
        s.outbox().add_gate_wait(&accounts, 30).unwrap();
        let held = s.outbox().held(&accounts).unwrap();
        assert_eq!(held.len(), 1, "auto-replies never accrue: {held:?}");
        assert_eq!((held[0].id, held[0].gate_wait_secs), (office, 90));
        assert_eq!(held[0].recipients, vec!["kunde@kunde.test"]);
        assert!(reply > office);

        assert_eq!(s.outbox().last_waiting_notice("becker").unwrap(), None);
        let at = now();
        s.outbox()
            .waiting_noticed("becker", &[office], b"From: a@b.test\r\nSubject: n\r\n\r\nx\r\n".to_vec(), at)
            .unwrap();
        assert_eq!(s.outbox().last_waiting_notice("becker").unwrap(), Some(at));
        assert!(s.outbox().held(&accounts).unwrap().is_empty(), "a told message is not listed again");
        assert!(s.folders().all("becker").unwrap().iter().any(|f| f.name == "INBOX"), "the notice made the INBOX");
    }
}
