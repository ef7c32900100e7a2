//! The email_submission table: what a device submitted for sending, and the outbox entry
//! that carries it.
//!
//! A submission is created, changes state and is destroyed (forgotten; the message is not
//! affected) with a logged EmailSubmission change in the same transaction. Reached as
//! `store.submissions()`.

use rusqlite::params;

use super::{ObjType, Op, Result, Store, now};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    pub id: i64,
    pub email_id: i64,
    pub thread_id: i64,
    pub identity: String,
    pub outbox_id: i64,
    pub envelope: String,
    pub send_at: i64,
}

/// The email_submission table, reached as `store.submissions()`.
#[derive(Clone, Copy)]
pub struct Submissions<'a>(&'a Store);

impl Store {
    /// What devices submitted for sending.
    pub fn submissions(&self) -> Submissions<'_> {
        Submissions(self)
    }
}

impl Submissions<'_> {
    /// Record a submission whose message the outbound queue accepted as `outbox_id`.
    pub fn add(
        &self,
        account: &str,
        email_id: i64,
        thread_id: i64,
        identity: &str,
        outbox_id: i64,
        envelope: &str,
    ) -> Result<i64> {
        self.0.write(|t| {
            t.tx.execute(
                // The state as the outbox has it now; from here on the outbox keeps it current
                // (`store::outbox::follow`).
                "INSERT INTO email_submission (account, email_id, thread_id, identity, outbox_id, envelope, send_at, last_status)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, o.status FROM (SELECT 1) LEFT JOIN outbox_message o ON o.id = ?5",
                params![account, email_id, thread_id, identity, outbox_id, envelope, now()],
            )?;
            let id = t.tx.last_insert_rowid();
            t.log(account, ObjType::EmailSubmission, id, Op::Created, None)?;
            Ok(id)
        })
    }

    /// Submissions of `account` (all, or those among `ids`).
    pub fn get(&self, account: &str, ids: Option<&[i64]>) -> Result<Vec<Submission>> {
        self.0.read(|c| {
            let mut s = c.prepare_cached(
                "SELECT id, email_id, thread_id, identity, outbox_id, envelope, send_at FROM email_submission
                 WHERE account = ?1 AND destroyed = 0 AND (?2 IS NULL OR id IN (SELECT value FROM json_each(?2))) ORDER BY id",
            )?;
            let ids = ids.map(|i| serde_json::to_string(i).unwrap_or_default());
            let rows = s
                .query_map(params![account, ids], |r| {
                    Ok(Submission {
                        id: r.get(0)?,
                        email_id: r.get(1)?,
                        thread_id: r.get(2)?,
                        identity: r.get(3)?,
                        outbox_id: r.get(4)?,
                        envelope: r.get(5)?,
                        send_at: r.get(6)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// Forget a submission (the message itself is not affected). False if there is none.
    pub fn destroy(&self, account: &str, id: i64) -> Result<bool> {
        self.0.write(|t| {
            let n = t.tx.execute(
                "UPDATE email_submission SET destroyed = 1 WHERE id = ?1 AND account = ?2 AND destroyed = 0",
                params![id, account],
            )?;
            if n == 1 {
                t.log(account, ObjType::EmailSubmission, id, Op::Destroyed, None)?;
            }
            Ok(n == 1)
        })
    }
}
