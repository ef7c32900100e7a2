//! The write-back queue: what devices changed that the IMAP server has not yet confirmed.
//!
//! Device writes queue an op here in their own transaction ([`queue`]). The queue is carried
//! out in order, so a folder op carries the names it was queued with (the server has exactly
//! those names when its turn comes), and a message op's folder is named for its place in the
//! queue (`writeback_names`): a name the store made up for a destroyed folder never reaches
//! the server. [`Writeback::next`] resolves the next op against the current store: one whose
//! object is gone is obsolete; one whose message is not on the server yet, whose folder is
//! created later, that touches a folder name an earlier op still waiting is about, or that was
//! refused and is not due again waits; so does an expunge tied to another account's APPEND
//! (`waits_for`: an original moved away by Email/copy), which is dropped if that APPEND is
//! given up. A confirmed op records its effect (a new UID; a
//! message destroyed while its APPEND or MOVE was under way has that new copy expunged). A
//! refused op is retried on a growing [`RetrySchedule`] (seconds, minutes, then hours); when the
//! schedule is used up it is dropped and undone in the store (`writeback_undo.rs`), so the server's state shows
//! again, and `status` says what was undone. This file never talks to IMAP. Reached as
//! `store.writeback()`.

use std::time::Duration;

use rusqlite::{OptionalExtension, params};

use super::folders::destroy_messages_where;
use super::messages::keyword_to_flag;
use super::writeback_names::{Located, delimiter, overlaps, server_name, touched_by_row};
use super::{Result, Store, Tx, now};

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

/// How long a refused op waits before its next attempt: one wait per refusal; when they are
/// used up the op is given up. Pure, so tests shorten it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule(pub Vec<Duration>);

impl RetrySchedule {
    /// 5 s, 30 s, 2 min, 10 min, 30 min, then hourly: a change is given up at its 12th
    /// refusal, about six and a half hours after the first.
    pub fn standard() -> Self {
        let mut w: Vec<Duration> = [5, 30, 120, 600, 1800].into_iter().map(Duration::from_secs).collect();
        w.extend(std::iter::repeat_n(Duration::from_secs(3600), 6));
        RetrySchedule(w)
    }

    /// The wait after the `refusals`-th refusal (counting from 1); None: give up.
    pub fn after(&self, refusals: i64) -> Option<Duration> {
        usize::try_from(refusals - 1).ok().and_then(|i| self.0.get(i).copied())
    }

    /// How many attempts an op gets.
    pub fn attempts(&self) -> usize {
        self.0.len() + 1
    }
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
    /// DELETE `name`, the server's name of the store's folder `folder_id` (destroyed).
    Delete {
        folder_id: Option<i64>,
        name: String,
    },
    /// SUBSCRIBE (`on`) or UNSUBSCRIBE `name`.
    Subscribe {
        folder_id: i64,
        name: String,
        on: bool,
    },
    /// The op refers to something that is gone: drop it.
    Obsolete,
    /// Not now: its message or folder is not on the server yet, an earlier op it depends on
    /// still waits, or it was refused and is not due again. It stays queued.
    Wait,
}

/// The write-back queue of one account, for `status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WritebackSummary {
    /// Changes waiting for the server, and since when the oldest waits.
    pub pending: i64,
    pub oldest_at: Option<i64>,
    /// The server's last refusal of a change that is still being retried, and when the next
    /// refused change is tried again.
    pub last_error: Option<String>,
    pub next_retry_at: Option<i64>,
    /// Changes given up after repeated refusals (the server's state won), the last one, and
    /// what the store undid for it.
    pub dropped: i64,
    pub last_dropped: Option<String>,
    pub last_dropped_at: Option<i64>,
    pub last_undone: Option<String>,
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

/// What became of a refused op.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Tried again at this unix time.
    RetryAt(i64),
    /// Given up; what the store undid so that it shows the server's state.
    GaveUp(String),
    /// The op was gone already (a phone withdrew the change meanwhile): nothing to retry,
    /// nothing given up.
    Withdrawn,
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

/// A message as an op needs it: (folder held in, uid, folder shown in, keywords, internal date).
type MessageRow = (i64, Option<u32>, i64, String, i64);
/// An earlier op as [`blocked`] reads it: (id, kind, message, folder, name, old name).
type EarlierRow = (i64, String, Option<i64>, Option<i64>, Option<String>, Option<String>);
type Row = (i64, String, Option<i64>, Option<i64>, Option<i64>, Option<String>, Option<String>, i64, Option<i64>);

/// Whether an op of this kind is about a folder (and carries its names).
fn is_folder_kind(kind: &str) -> bool {
    matches!(kind, "create" | "rename" | "delete" | "subscribe")
}

/// The op of row `id`, resolved against the store as it is now, for its place in the queue.
#[allow(clippy::too_many_arguments)]
fn resolve(
    c: &rusqlite::Connection,
    account: &str,
    id: i64,
    kind: &str,
    message_id: Option<i64>,
    folder_id: Option<i64>,
    uid: Option<i64>,
    name: Option<String>,
    old_name: Option<String>,
    d: Option<&str>,
) -> Result<WritebackOp> {
    let msg = |mid: i64| -> rusqlite::Result<Option<MessageRow>> {
        c.prepare_cached("SELECT imap_folder_id, uid, folder_id, keywords, received_at FROM message WHERE id = ?1")?
            .query_row([mid], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .optional()
    };
    let at = |fid: i64| server_name(c, account, id, fid, d);
    // A message without a UID waits for its APPEND; with none queued (given up, or a server
    // without UIDPLUS) there is no server copy to change.
    let uidless = |mid: i64| -> Result<WritebackOp> {
        let appending: bool = c
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM writeback_op WHERE account = ?1 AND kind = 'append' AND message_id = ?2)",
            )?
            .query_row(params![account, mid], |r| r.get(0))?;
        Ok(if appending { WritebackOp::Wait } else { WritebackOp::Obsolete })
    };
    Ok(match (kind, message_id) {
        ("flags", Some(mid)) => match msg(mid)? {
            None => WritebackOp::Obsolete,
            Some((_, None, ..)) => uidless(mid)?,
            Some((held, Some(uid), ..)) => {
                let mut add = Vec::new();
                let mut remove = Vec::new();
                let mut s =
                    c.prepare_cached("SELECT keyword, op FROM keyword_pending WHERE message_id = ?1 ORDER BY keyword")?;
                for p in s.query_map([mid], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
                    let (k, op) = p?;
                    if op == 1 { add.push(k) } else { remove.push(k) }
                }
                if add.is_empty() && remove.is_empty() {
                    WritebackOp::Obsolete
                } else {
                    match at(held)? {
                        Located::At(folder) => WritebackOp::Flags { message_id: mid, folder, uid, add, remove },
                        Located::NotYet => WritebackOp::Wait,
                        Located::Gone => WritebackOp::Obsolete,
                    }
                }
            }
        },
        ("move", Some(mid)) => match msg(mid)? {
            Some((held, uid, shown, ..)) if held != shown => match (uid, at(held)?, at(shown)?) {
                (None, ..) => uidless(mid)?,
                (_, Located::NotYet, _) | (_, _, Located::NotYet) => WritebackOp::Wait,
                (Some(uid), Located::At(from), Located::At(to)) => {
                    WritebackOp::Move { message_id: mid, from, uid, to, to_folder_id: shown }
                }
                _ => WritebackOp::Obsolete,
            },
            _ => WritebackOp::Obsolete,
        },
        ("append", Some(mid)) => match msg(mid)? {
            Some((_, None, shown, kw, date)) => match at(shown)? {
                Located::At(folder) => {
                    // The same snapshot as the row above (see `next`): the message is there.
                    let raw: Vec<u8> = c.query_row(
                        "SELECT b.data FROM message m JOIN blob b ON b.id = m.blob_id WHERE m.id = ?1",
                        [mid],
                        |r| r.get(0),
                    )?;
                    let kw: Vec<String> = serde_json::from_str(&kw).unwrap_or_default();
                    let flags = kw.iter().map(|k| keyword_to_flag(k)).collect();
                    WritebackOp::Append { message_id: mid, folder, folder_id: shown, flags, raw, internal_date: date }
                }
                Located::NotYet => WritebackOp::Wait,
                Located::Gone => WritebackOp::Obsolete,
            },
            _ => WritebackOp::Obsolete,
        },
        // An expunge that waits for another op (the APPEND of a copy in another account).
        ("expunge", _) if waiting_for_op(c, id)? => WritebackOp::Wait,
        ("expunge", _) => match (folder_id, uid) {
            (Some(fid), Some(uid)) => match at(fid)? {
                Located::At(folder) => WritebackOp::Expunge { folder_id: fid, folder, uid: uid as u32 },
                Located::NotYet => WritebackOp::Wait,
                Located::Gone => WritebackOp::Obsolete,
            },
            _ => WritebackOp::Obsolete,
        },
        // Folder ops go out under the names they were queued with: the server has exactly
        // those when their turn comes.
        ("create", _) => name.map_or(WritebackOp::Obsolete, |name| WritebackOp::Create { name }),
        ("rename", _) => match (old_name, name) {
            (Some(from), Some(to)) => WritebackOp::Rename { from, to },
            _ => WritebackOp::Obsolete,
        },
        ("delete", _) => name.map_or(WritebackOp::Obsolete, |name| WritebackOp::Delete { folder_id, name }),
        ("subscribe", _) => match (folder_id, name) {
            (Some(folder_id), Some(name)) => WritebackOp::Subscribe { folder_id, name, on: uid == Some(1) },
            _ => WritebackOp::Obsolete,
        },
        _ => WritebackOp::Obsolete,
    })
}

/// Op `id` names an op it waits for (`waits_for`) that is still queued.
fn waiting_for_op(c: &rusqlite::Connection, id: i64) -> Result<bool> {
    Ok(c.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM writeback_op w JOIN writeback_op o ON o.id = w.waits_for WHERE w.id = ?1)",
    )?
    .query_row([id], |r| r.get(0))?)
}

/// The server names `op` touches.
fn names_of(op: &WritebackOp) -> Vec<&str> {
    match op {
        WritebackOp::Flags { folder, .. }
        | WritebackOp::Expunge { folder, .. }
        | WritebackOp::Append { folder, .. } => {
            vec![folder]
        }
        WritebackOp::Move { from, to, .. } | WritebackOp::Rename { from, to } => vec![from, to],
        WritebackOp::Create { name } | WritebackOp::Delete { name, .. } | WritebackOp::Subscribe { name, .. } => {
            vec![name]
        }
        WritebackOp::Obsolete | WritebackOp::Wait => vec![],
    }
}

/// Whether an earlier op still in the queue (refused and not due, or waiting itself) is about a
/// name `op` touches: then `op` waits for it. A message op waits only for folder ops; a folder
/// op waits for any op on its names, so a folder is never renamed or deleted under a message
/// change that has not reached it yet.
fn blocked(
    c: &rusqlite::Connection,
    account: &str,
    id: i64,
    kind: &str,
    op: &WritebackOp,
    d: Option<&str>,
) -> Result<bool> {
    let mine = names_of(op);
    if mine.is_empty() {
        return Ok(false);
    }
    // A message op looks only at earlier folder ops: a long queue of flag changes stays cheap.
    let mut s = c.prepare_cached(if is_folder_kind(kind) {
        "SELECT id, kind, message_id, folder_id, name, old_name FROM writeback_op WHERE account = ?1 AND id < ?2 ORDER BY id"
    } else {
        "SELECT id, kind, message_id, folder_id, name, old_name FROM writeback_op WHERE account = ?1 AND id < ?2
           AND kind IN ('create', 'rename', 'delete', 'subscribe') ORDER BY id"
    })?;
    let earlier: Vec<EarlierRow> = s
        .query_map(params![account, id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (eid, ekind, mid, fid, name, old) in earlier {
        if !is_folder_kind(kind) && !is_folder_kind(&ekind) {
            continue;
        }
        let theirs = touched_by_row(c, account, eid, &ekind, mid, fid, name.as_deref(), old.as_deref())?;
        if theirs.iter().any(|t| mine.iter().any(|m| overlaps(t, m, d))) {
            return Ok(true);
        }
    }
    Ok(false)
}

impl Writeback<'_> {
    /// The oldest queued write-back op of `account` after `after`, resolved against the current
    /// store for its place in the queue.
    pub fn next(&self, account: &str, after: i64) -> Result<Option<QueuedOp>> {
        let now = now();
        self.0.read(|c| {
            // One snapshot for the op and everything it is resolved against: a phone's write
            // committed meanwhile (a destroy right after an import) is seen entirely or not at all.
            let snapshot = c.unchecked_transaction()?;
            let c: &rusqlite::Connection = &snapshot;
            let row: Option<Row> = c
                .prepare_cached(
                    "SELECT id, kind, message_id, folder_id, uid, name, old_name, attempts, due_at FROM writeback_op
                     WHERE account = ?1 AND id > ?2 ORDER BY id LIMIT 1",
                )?
                .query_row(params![account, after], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                        r.get(8)?,
                    ))
                })
                .optional()?;
            let Some((id, kind, message_id, folder_id, uid, name, old_name, attempts, due_at)) = row else {
                return Ok(None);
            };
            if due_at.is_some_and(|t| t > now) {
                return Ok(Some(QueuedOp { id, attempts, op: WritebackOp::Wait }));
            }
            let d = delimiter(c, account)?;
            let op = resolve(c, account, id, &kind, message_id, folder_id, uid, name, old_name, d.as_deref())?;
            let op = if blocked(c, account, id, &kind, &op, d.as_deref())? { WritebackOp::Wait } else { op };
            Ok(Some(QueuedOp { id, attempts, op }))
        })
    }

    /// The server confirmed the op: record its effect and remove it from the queue.
    pub fn done(&self, account: &str, q: &QueuedOp, effect: WritebackEffect) -> Result<()> {
        self.0.write(|t| {
            // First, so that nothing queued below can be taken for it (ids are never reused
            // since 0015, but the order costs nothing).
            t.tx.execute("DELETE FROM writeback_op WHERE id = ?1 AND account = ?2", params![q.id, account])?;
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
                (
                    WritebackOp::Move { message_id, to_folder_id: folder_id, .. }
                    | WritebackOp::Append { message_id, folder_id, .. },
                    WritebackEffect::NewUid { uidvalidity, uid },
                ) => {
                    let n = t.tx.execute(
                        "UPDATE message SET imap_folder_id = ?2, uid = ?3, uidvalidity = ?4 WHERE id = ?1",
                        params![message_id, folder_id, uid, uidvalidity],
                    )?;
                    if n == 0 {
                        // Destroyed on the device while the APPEND or MOVE was under way: its
                        // destroy could not know the new copy. Expunge that copy too, and keep
                        // the mirror from fetching it meanwhile.
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
                // The mirror may have fetched mail into the folder between the phone's destroy
                // and this DELETE: the server dropped it with the folder, so does the store.
                (WritebackOp::Delete { folder_id: Some(folder), .. }, _) => {
                    let destroyed: bool =
                        t.tx.query_row("SELECT destroyed FROM folder WHERE id = ?1", [folder], |r| r.get(0))
                            .optional()?
                            .unwrap_or(false);
                    if destroyed {
                        destroy_messages_where(t, account, "imap_folder_id = ?1 OR folder_id = ?1", *folder)?;
                        t.tx.execute("DELETE FROM imap_tombstone WHERE folder_id = ?1", [folder])?;
                    }
                }
                (WritebackOp::Expunge { folder_id, uid, .. }, _) => {
                    t.tx.execute(
                        "DELETE FROM imap_tombstone WHERE folder_id = ?1 AND uid = ?2",
                        params![folder_id, uid],
                    )?;
                }
                _ => {}
            }
            Ok(())
        })
    }

    /// A refusal of `q` by the server: the op waits as `schedule` says, and once the schedule
    /// is used up it is dropped and undone in the store (`what`, `error` and what was undone are
    /// kept for `status`).
    pub fn refused(&self, q: &QueuedOp, what: &str, error: &str, schedule: &RetrySchedule) -> Result<Refused> {
        self.0.write(|t| {
            let row: Option<(String, Option<i64>)> =
                t.tx.query_row("SELECT account, folder_id FROM writeback_op WHERE id = ?1", [q.id], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?;
            // Gone meanwhile (a phone destroyed what it was about): nothing left to retry or undo.
            let Some((account, folder)) = row else {
                return Ok(Refused::Withdrawn);
            };
            if let Some(wait) = schedule.after(q.attempts + 1) {
                let at = now() + wait.as_secs() as i64 + i64::from(wait.subsec_nanos() > 0);
                t.tx.execute(
                    "UPDATE writeback_op SET attempts = attempts + 1, last_error = ?2, due_at = ?3 WHERE id = ?1",
                    params![q.id, error, at],
                )?;
                return Ok(Refused::RetryAt(at));
            }
            t.tx.execute("DELETE FROM writeback_op WHERE id = ?1", [q.id])?;
            let undone = undo(t, &account, folder, q)?;
            t.tx.execute(
                "UPDATE sync_state SET writeback_dropped = writeback_dropped + 1, writeback_last_dropped = ?2,
                   writeback_last_dropped_at = ?3
                 WHERE account = ?1",
                params![account, format!("{what}: {error}"), now()],
            )?;
            t.tx.execute(
                "INSERT INTO writeback_given_up (account, at, what, error, undone) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![account, now(), what, error, undone],
            )?;
            Ok(Refused::GaveUp(undone))
        })
    }

    /// What `status` says about the write-back queue of `account`.
    pub fn summary(&self, account: &str) -> Result<WritebackSummary> {
        let now = now();
        self.0.read(|c| {
            let (pending, oldest_at, last_error, next_retry_at): (i64, Option<i64>, Option<String>, Option<i64>) = c
                .query_row(
                    "SELECT COUNT(*), MIN(created_at),
                   (SELECT last_error FROM writeback_op WHERE account = ?1 AND last_error IS NOT NULL ORDER BY id DESC LIMIT 1),
                   (SELECT MIN(due_at) FROM writeback_op WHERE account = ?1 AND due_at > ?2)
                 FROM writeback_op WHERE account = ?1",
                    params![account, now],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )?;
            let (dropped, last_dropped, last_dropped_at, last_undone) = c
                .query_row(
                    "SELECT writeback_dropped, writeback_last_dropped, writeback_last_dropped_at,
                       (SELECT undone FROM writeback_given_up WHERE account = ?1 ORDER BY id DESC LIMIT 1)
                     FROM sync_state WHERE account = ?1",
                    [account],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?
                .unwrap_or((0, None, None, None));
            Ok(WritebackSummary {
                pending,
                oldest_at,
                last_error,
                next_retry_at,
                dropped,
                last_dropped,
                last_dropped_at,
                last_undone,
            })
        })
    }

    /// The accounts with an op that waits for op `id` (see `waits_for` in migration 0015): to
    /// be woken when it is done.
    pub fn waiting_for(&self, id: i64) -> Result<Vec<String>> {
        self.0.read(|c| {
            let mut s = c.prepare_cached("SELECT DISTINCT account FROM writeback_op WHERE waits_for = ?1")?;
            let rows = s.query_map([id], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// How many write-back ops wait for an account.
    pub fn pending(&self, account: &str) -> Result<i64> {
        self.0
            .read(|c| Ok(c.query_row("SELECT COUNT(*) FROM writeback_op WHERE account = ?1", [account], |r| r.get(0))?))
    }

    /// When the earliest refused op of `account` that was not due when the last drain began
    /// (`since`, unix seconds) is due: the time to drain again. One that fell due during that
    /// drain gives a time already past (drain again now); one that was due when it began was
    /// looked at then (tried, or waiting for an earlier op) and does not count, so a blocked
    /// op never makes a busy loop.
    pub fn next_due(&self, account: &str, since: i64) -> Result<Option<i64>> {
        self.0.read(|c| {
            Ok(c.query_row(
                "SELECT MIN(due_at) FROM writeback_op WHERE account = ?1 AND due_at > ?2",
                params![account, since],
                |r| r.get(0),
            )?)
        })
    }
}

#[path = "writeback_undo.rs"]
mod undo;
use undo::undo;

#[cfg(test)]
#[path = "writeback_tests.rs"]
pub(crate) mod tests;
