//! The write-back queue: what devices changed that the IMAP server has not yet confirmed.
//!
//! Device writes queue an op here in their own transaction ([`queue`]). The write-back task
//! takes the oldest op resolved against the current store ([`Writeback::next`]), so an op
//! whose object is gone is obsolete and one whose message is not on the server yet waits; an
//! op touching a folder name an earlier RENAME has not yet given the server waits too. A
//! confirmed op records its effect (a new UID); one refused too often is dropped and undone in
//! the store, so the server's state shows again. This file never talks to IMAP. Reached as
//! `store.writeback()`.

use rusqlite::{OptionalExtension, params};

use super::folders::{live_folder, names_free_for_undo, rename_folder};
use super::messages::keyword_to_flag;
use super::{ObjType, Op, Result, Store, Tx, now};

/// Queue a write-back op in the caller's transaction.
#[allow(clippy::too_many_arguments)]
pub(super) fn queue(
    t: &Tx<'_>,
    account: &str,
    kind: &str,
    message_id: Option<i64>,
    folder_id: Option<i64>,
    uid: Option<i64>,
    name: Option<&str>,
    old_name: Option<&str>,
) -> Result<()> {
    t.tx.prepare_cached(
        "INSERT INTO writeback_op (account, kind, message_id, folder_id, uid, name, old_name, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![account, kind, message_id, folder_id, uid, name, old_name, now()])?;
    Ok(())
}

/// One queued operation with what the IMAP task needs to carry it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WritebackOp {
    /// UID STORE the pending keywords of a message held at `folder`/`uid`.
    Flags {
        message_id: i64,
        folder: String,
        uid: u32,
        add: Vec<String>,
        remove: Vec<String>,
    },
    /// UID MOVE `uid` from `from` to `to`.
    Move {
        message_id: i64,
        from: String,
        uid: u32,
        to: String,
        to_folder_id: i64,
    },
    /// Expunge `uid` from `folder`.
    Expunge {
        folder_id: i64,
        folder: String,
        uid: u32,
    },
    /// APPEND a local-only message to `folder`.
    Append {
        message_id: i64,
        folder: String,
        folder_id: i64,
        flags: Vec<String>,
        raw: Vec<u8>,
        internal_date: i64,
    },
    Create {
        name: String,
    },
    Rename {
        from: String,
        to: String,
    },
    Delete {
        name: String,
    },
    /// The op refers to something that is gone: drop it.
    Obsolete,
    /// The message is not on the server yet (its APPEND is still queued): leave the op queued.
    Wait,
}

/// The write-back queue of one account, for `status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WritebackSummary {
    /// Changes waiting for the server, and since when the oldest waits.
    pub pending: i64,
    pub oldest_at: Option<i64>,
    /// The server's last refusal of a change that is still being retried.
    pub last_error: Option<String>,
    /// Changes given up after repeated refusals (the server's state won), and the last one.
    pub dropped: i64,
    pub last_dropped: Option<String>,
    pub last_dropped_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedOp {
    pub id: i64,
    pub attempts: i64,
    pub op: WritebackOp,
}

/// What the server told us about a confirmed op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WritebackEffect {
    None,
    /// UIDPLUS: where the message now lives.
    NewUid {
        uidvalidity: u32,
        uid: u32,
    },
}

/// The write-back queue, reached as `store.writeback()`.
#[derive(Clone, Copy)]
pub struct Writeback<'a>(&'a Store);

impl Store {
    /// The write-back queue.
    pub fn writeback(&self) -> Writeback<'_> {
        Writeback(self)
    }
}

impl Writeback<'_> {
    /// The oldest queued write-back op of `account`, resolved against the current store.
    #[allow(clippy::type_complexity)]
    pub fn next(&self, account: &str, after: i64) -> Result<Option<QueuedOp>> {
        self.0.read(|c| {
            let row: Option<(i64, String, Option<i64>, Option<i64>, Option<i64>, Option<String>, Option<String>, i64)> = c
                .prepare_cached(
                    "SELECT id, kind, message_id, folder_id, uid, name, old_name, attempts FROM writeback_op
                     WHERE account = ?1 AND id > ?2 ORDER BY id LIMIT 1",
                )?
                .query_row(params![account, after], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?)))
                .optional()?;
            let Some((id, kind, message_id, folder_id, uid, name, old_name, attempts)) = row else { return Ok(None) };
            let folder_name = |fid: i64| -> rusqlite::Result<Option<String>> {
                c.query_row("SELECT name FROM folder WHERE id = ?1", [fid], |r| r.get(0)).optional()
            };
            // (imap folder name, imap_folder_id, uid, visible folder id, visible folder name, keywords, internal date)
            let msg = |mid: i64| -> rusqlite::Result<Option<(String, i64, Option<u32>, i64, String, String, i64)>> {
                c.query_row(
                    "SELECT fi.name, m.imap_folder_id, m.uid, m.folder_id, fv.name, m.keywords, m.received_at
                     FROM message m JOIN folder fi ON fi.id = m.imap_folder_id JOIN folder fv ON fv.id = m.folder_id WHERE m.id = ?1",
                    [mid],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
                )
                .optional()
            };
            let op = match (kind.as_str(), message_id) {
                ("flags", Some(mid)) => match msg(mid)? {
                    Some((_, _, None, _, _, _, _)) => WritebackOp::Wait,
                    Some((folder, _, Some(uid), _, _, _, _)) => {
                        let mut add = Vec::new();
                        let mut remove = Vec::new();
                        let mut s = c.prepare_cached("SELECT keyword, op FROM keyword_pending WHERE message_id = ?1 ORDER BY keyword")?;
                        for p in s.query_map([mid], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
                            let (k, op) = p?;
                            if op == 1 { add.push(k) } else { remove.push(k) }
                        }
                        if add.is_empty() && remove.is_empty() { WritebackOp::Obsolete } else { WritebackOp::Flags { message_id: mid, folder, uid, add, remove } }
                    }
                    _ => WritebackOp::Obsolete,
                },
                ("move", Some(mid)) => match msg(mid)? {
                    Some((from, imap_fid, Some(uid), vis_fid, to, _, _)) if imap_fid != vis_fid => {
                        WritebackOp::Move { message_id: mid, from, uid, to, to_folder_id: vis_fid }
                    }
                    Some((_, imap_fid, None, vis_fid, _, _, _)) if imap_fid != vis_fid => WritebackOp::Wait,
                    _ => WritebackOp::Obsolete,
                },
                ("append", Some(mid)) => match msg(mid)? {
                    Some((_, _, None, vis_fid, folder, kw, date)) => {
                        let raw: Vec<u8> = c.query_row("SELECT b.data FROM message m JOIN blob b ON b.id = m.blob_id WHERE m.id = ?1", [mid], |r| r.get(0))?;
                        let kw: Vec<String> = serde_json::from_str(&kw).unwrap_or_default();
                        WritebackOp::Append { message_id: mid, folder, folder_id: vis_fid, flags: kw.iter().map(|k| keyword_to_flag(k)).collect(), raw, internal_date: date }
                    }
                    _ => WritebackOp::Obsolete,
                },
                ("expunge", _) => match (folder_id, uid) {
                    (Some(fid), Some(uid)) => match folder_name(fid)? {
                        Some(folder) => WritebackOp::Expunge { folder_id: fid, folder, uid: uid as u32 },
                        None => WritebackOp::Obsolete,
                    },
                    _ => WritebackOp::Obsolete,
                },
                // Under the folder's name now: a rename given up and undone meanwhile moved it.
                ("create", _) => match folder_id.map(folder_name).transpose()?.flatten().or(name) {
                    Some(name) => WritebackOp::Create { name },
                    None => WritebackOp::Obsolete,
                },
                ("rename", _) => match (old_name, name) {
                    (Some(from), Some(to)) => WritebackOp::Rename { from, to },
                    _ => WritebackOp::Obsolete,
                },
                ("delete", _) => name.map_or(WritebackOp::Obsolete, |name| WritebackOp::Delete { name }),
                _ => WritebackOp::Obsolete,
            };
            // A folder name an earlier RENAME still waits to give the server does not exist
            // there yet (or is another folder, if the server refuses that rename): whatever
            // touches it waits until the rename is done, or given up and undone.
            let renaming: Vec<String> = {
                let mut s = c.prepare_cached(
                    "SELECT name FROM writeback_op WHERE account = ?1 AND kind = 'rename' AND id < ?2 AND name IS NOT NULL",
                )?;
                s.query_map(params![account, id], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?
            };
            let op = if renaming.is_empty() {
                op
            } else {
                let delimiter: Option<String> =
                    c.query_row("SELECT delimiter FROM account WHERE id = ?1", [account], |r| r.get(0)).optional()?.flatten();
                let within = |n: &str| {
                    renaming.iter().any(|r| {
                        n == r || delimiter.as_deref().is_some_and(|d| n.strip_prefix(r.as_str()).is_some_and(|t| t.starts_with(d)))
                    })
                };
                let touched: Vec<&str> = match &op {
                    WritebackOp::Flags { folder, .. } | WritebackOp::Expunge { folder, .. } | WritebackOp::Append { folder, .. } => vec![folder],
                    WritebackOp::Move { from, to, .. } => vec![from, to],
                    WritebackOp::Create { name } | WritebackOp::Delete { name } => vec![name],
                    WritebackOp::Rename { from, .. } => vec![from],
                    WritebackOp::Obsolete | WritebackOp::Wait => vec![],
                };
                if touched.iter().any(|n| within(n)) { WritebackOp::Wait } else { op }
            };
            Ok(Some(QueuedOp { id, attempts, op }))
        })
    }

    /// The server confirmed the op: record its effect and remove it from the queue.
    pub fn done(&self, account: &str, q: &QueuedOp, effect: WritebackEffect) -> Result<()> {
        self.0.write(|t| {
            match (&q.op, effect) {
                (WritebackOp::Flags { message_id, add, remove, .. }, _) => {
                    // Only the rows that were sent are confirmed; a change made meanwhile stays.
                    let mut s = t.tx.prepare_cached(
                        "DELETE FROM keyword_pending WHERE message_id = ?1 AND keyword = ?2 AND op = ?3",
                    )?;
                    for k in add {
                        s.execute(params![message_id, k, 1])?;
                    }
                    for k in remove {
                        s.execute(params![message_id, k, 0])?;
                    }
                }
                (WritebackOp::Move { message_id, to_folder_id, .. }, WritebackEffect::NewUid { uidvalidity, uid }) => {
                    t.tx.execute(
                        "UPDATE message SET imap_folder_id = ?2, uid = ?3, uidvalidity = ?4 WHERE id = ?1",
                        params![message_id, to_folder_id, uid, uidvalidity],
                    )?;
                }
                (WritebackOp::Append { message_id, folder_id, .. }, WritebackEffect::NewUid { uidvalidity, uid }) => {
                    let n = t.tx.execute(
                        "UPDATE message SET imap_folder_id = ?2, uid = ?3, uidvalidity = ?4 WHERE id = ?1",
                        params![message_id, folder_id, uid, uidvalidity],
                    )?;
                    if n == 0 {
                        // Destroyed on the device while the APPEND was under way: expunge the
                        // new server copy too, and keep the mirror from fetching it meanwhile.
                        t.tx.execute(
                            "INSERT OR IGNORE INTO imap_tombstone (folder_id, uid) VALUES (?1, ?2)",
                            params![folder_id, uid],
                        )?;
                        queue(t, account, "expunge", None, Some(*folder_id), Some(uid as i64), None, None)?;
                    }
                }
                (WritebackOp::Move { message_id, to_folder_id, .. }, WritebackEffect::None)
                | (WritebackOp::Append { message_id, folder_id: to_folder_id, .. }, WritebackEffect::None) => {
                    // Without UIDPLUS the new UID is unknown: the copy counts as the server's
                    // from now on (uid stays NULL); the mirror will see it as a new message.
                    t.tx.execute(
                        "UPDATE message SET imap_folder_id = ?2, uid = NULL WHERE id = ?1",
                        params![message_id, to_folder_id],
                    )?;
                }
                (WritebackOp::Expunge { folder_id, uid, .. }, _) => {
                    t.tx.execute(
                        "DELETE FROM imap_tombstone WHERE folder_id = ?1 AND uid = ?2",
                        params![folder_id, uid],
                    )?;
                }
                _ => {}
            }
            t.tx.execute("DELETE FROM writeback_op WHERE id = ?1 AND account = ?2", params![q.id, account])?;
            Ok(())
        })
    }

    /// A refusal of `q` by the server: counted, and after `give_up_after` attempts the op is
    /// dropped (`what` and `error` are kept for `status`). True when it was dropped.
    pub fn refused(&self, q: &QueuedOp, what: &str, error: &str, give_up_after: i64) -> Result<bool> {
        self.0.write(|t| {
            if q.attempts + 1 >= give_up_after {
                let row: Option<(String, Option<i64>)> = t
                    .tx
                    .query_row("SELECT account, folder_id FROM writeback_op WHERE id = ?1", [q.id], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .optional()?;
                // Gone meanwhile (a phone destroyed what it was about): nothing left to give up.
                let Some((account, folder)) = row else { return Ok(true) };
                t.tx.execute(
                    "UPDATE sync_state SET writeback_dropped = writeback_dropped + 1, writeback_last_dropped = ?2,
                       writeback_last_dropped_at = ?3
                     WHERE account = (SELECT account FROM writeback_op WHERE id = ?1)",
                    params![q.id, format!("{what}: {error}"), now()],
                )?;
                t.tx.execute("DELETE FROM writeback_op WHERE id = ?1", [q.id])?;
                match &q.op {
                    // The server keeps its copy: let the mirror bring it back.
                    WritebackOp::Expunge { folder_id, uid, .. } => {
                        t.tx.execute(
                            "DELETE FROM imap_tombstone WHERE folder_id = ?1 AND uid = ?2",
                            params![folder_id, uid],
                        )?;
                    }
                    // The server keeps its flags: stop laying the refused change over them.
                    WritebackOp::Flags { message_id, .. } => {
                        t.tx.execute("DELETE FROM keyword_pending WHERE message_id = ?1", [message_id])?;
                    }
                    // The server keeps the message where it was: show it there again.
                    WritebackOp::Move { message_id, .. } => {
                        let moved: Option<(i64, i64, i64)> =
                            t.tx.query_row(
                                "SELECT folder_id, imap_folder_id, thread_id FROM message
                                 WHERE id = ?1 AND imap_folder_id IS NOT NULL AND folder_id != imap_folder_id",
                                [message_id],
                                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                            )
                            .optional()?;
                        if let Some((shown, held, thread)) = moved {
                            t.tx.execute("UPDATE message SET folder_id = imap_folder_id WHERE id = ?1", [message_id])?;
                            t.log(&account, ObjType::Email, *message_id, Op::Updated, Some(thread))?;
                            t.log(&account, ObjType::Mailbox, shown, Op::CountsOnly, None)?;
                            t.log(&account, ObjType::Mailbox, held, Op::CountsOnly, None)?;
                        }
                    }
                    // The server keeps the old name: so does the store, children included. Later
                    // renames of the same folder waited for this one and go with it.
                    WritebackOp::Rename { from, .. } => {
                        if let Some(folder) = folder {
                            t.tx.execute(
                                "DELETE FROM writeback_op WHERE account = ?1 AND kind = 'rename' AND folder_id = ?2 AND id > ?3",
                                params![account, folder, q.id],
                            )?;
                            if let Some((current, _)) = live_folder(t, &account, folder)?
                                && current != *from
                                && names_free_for_undo(t, &account, folder, &current, from)?
                            {
                                rename_folder(t, &account, folder, &current, from)?;
                            }
                        }
                    }
                    _ => {}
                }
                Ok(true)
            } else {
                t.tx.execute(
                    "UPDATE writeback_op SET attempts = attempts + 1, last_error = ?2 WHERE id = ?1",
                    params![q.id, error],
                )?;
                Ok(false)
            }
        })
    }

    /// What `status` says about the write-back queue of `account`.
    pub fn summary(&self, account: &str) -> Result<WritebackSummary> {
        self.0.read(|c| {
            let (pending, oldest_at, last_error): (i64, Option<i64>, Option<String>) = c.query_row(
                "SELECT COUNT(*), MIN(created_at),
                   (SELECT last_error FROM writeback_op WHERE account = ?1 AND last_error IS NOT NULL ORDER BY id DESC LIMIT 1)
                 FROM writeback_op WHERE account = ?1",
                [account],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            let (dropped, last_dropped, last_dropped_at) = c
                .query_row(
                    "SELECT writeback_dropped, writeback_last_dropped, writeback_last_dropped_at FROM sync_state WHERE account = ?1",
                    [account],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?
                .unwrap_or((0, None, None));
            Ok(WritebackSummary { pending, oldest_at, last_error, dropped, last_dropped, last_dropped_at })
        })
    }

    /// How many write-back ops wait for an account.
    pub fn pending(&self, account: &str) -> Result<i64> {
        self.0
            .read(|c| Ok(c.query_row("SELECT COUNT(*) FROM writeback_op WHERE account = ?1", [account], |r| r.get(0))?))
    }
}
