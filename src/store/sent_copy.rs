//! Sent-copy bookkeeping for a whole batch at once (the single-copy calls are in `outbox.rs`):
//! `tries` is committed for every copy of a batch before its APPEND goes out, and `done` for
//! the copies the server confirmed, each in one transaction. The columns are in
//! `schema/0002_outbox.sql`. Nothing here talks to a server.

use rusqlite::params;

use super::outbox::add_attempt;
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
                add_attempt(&t.tx, *id, at, "postbote", None, None, note)?;
            }
            Ok(())
        })
    }
}
