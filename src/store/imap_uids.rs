//! The IMAP server's own UIDs, UIDVALIDITY, MODSEQs and `\Deleted` per store folder
//! (migration 0019), for phones' mail apps (module `imapd`).
//!
//! UIDs are assigned lazily: [`ImapUids::refresh`] is called when a session looks at a folder
//! and brings the folder's rows up to the account's modseq in one write transaction: a message
//! that is in the folder and has no live row gets the next UID (in message-id order); a row
//! whose message left the folder (destroyed, expunged by the mirror, moved by a phone) is marked
//! expunged and never reused; a row whose message the change log shows as changed takes that
//! change's modseq as its MODSEQ. When nothing changed for the account since the last refresh it
//! only reads. The mirror's insert path never touches these tables. `\Deleted` is kept here
//! (JMAP has no such keyword); setting it takes the account's next modseq and logs an Email
//! update, so other sessions and JMAP see the change. Reached as `store.imap_uids()`.

use std::collections::{HashMap, HashSet};

use rusqlite::{OptionalExtension, params};

use super::{ObjType, Op, Result, Store, Tx};

/// A folder's IMAP state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImapFolder {
    pub uidvalidity: u32,
    pub uidnext: u32,
    pub highest_modseq: u64,
}

/// One live message of a folder as a session sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UidRow {
    pub uid: u32,
    pub message: i64,
    pub modseq: u64,
    pub deleted: bool,
}

/// What FETCH and SEARCH read of a message besides its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapMessage {
    pub uid: u32,
    pub message: i64,
    pub modseq: u64,
    pub deleted: bool,
    pub keywords: Vec<String>,
    pub received_at: i64,
    pub size: u32,
    pub blob_id: i64,
}

/// The IMAP server's UIDs, reached as `store.imap_uids()`.
#[derive(Clone, Copy)]
pub struct ImapUids<'a>(pub(super) &'a Store);

impl Store {
    pub fn imap_uids(&self) -> ImapUids<'_> {
        ImapUids(self)
    }
}

/// A UIDVALIDITY for a folder seen for the first time: the time, so a store built again from
/// scratch (folder ids start over) never repeats one a phone knows.
fn new_uidvalidity(folder: i64) -> u32 {
    let t = super::now().max(1) as u32;
    t.wrapping_add((folder as u32) & 0xff).max(1)
}

impl ImapUids<'_> {
    /// Bring `folder`'s rows up to the account's modseq (see the module's essay) and return
    /// its state.
    pub fn refresh(&self, account: &str, folder: i64) -> Result<ImapFolder> {
        let quick: Option<(i64, i64, i64, i64, i64)> = self.0.read(|c| {
            Ok(c.query_row(
                "SELECT f.uidvalidity, f.uidnext, f.highest_modseq, f.synced_modseq, a.modseq
                 FROM imap_folder f, account a WHERE f.folder_id = ?1 AND a.id = ?2",
                params![folder, account],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?)
        })?;
        if let Some((v, n, h, synced, now)) = quick
            && synced == now
        {
            return Ok(ImapFolder { uidvalidity: v as u32, uidnext: n as u32, highest_modseq: h as u64 });
        }
        self.0.write(|t| refresh(t, account, folder))
    }

    /// The live rows of `folder`, by UID.
    pub fn live(&self, folder: i64) -> Result<Vec<UidRow>> {
        self.0.read(|c| {
            let mut s = c.prepare_cached(
                "SELECT uid, message_id, modseq, deleted FROM imap_uid WHERE folder_id = ?1 AND expunged = 0 ORDER BY uid",
            )?;
            let rows = s
                .query_map([folder], |r| {
                    Ok(UidRow { uid: r.get(0)?, message: r.get(1)?, modseq: r.get::<_, i64>(2)? as u64, deleted: r.get(3)? })
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// UIDs of `folder` expunged after `modseq` (QRESYNC's VANISHED (EARLIER)).
    pub fn vanished_since(&self, folder: i64, modseq: u64) -> Result<Vec<u32>> {
        self.0.read(|c| {
            let mut s = c.prepare_cached(
                "SELECT uid FROM imap_uid WHERE folder_id = ?1 AND expunged = 1 AND modseq > ?2 ORDER BY uid",
            )?;
            let rows = s.query_map(params![folder, modseq as i64], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// The messages of `folder` with these UIDs that still exist, by UID.
    pub fn messages(&self, folder: i64, uids: &[u32]) -> Result<Vec<ImapMessage>> {
        self.0.read(|c| {
            let mut s = c.prepare_cached(
                "SELECT u.uid, u.message_id, u.modseq, u.deleted, m.keywords, m.received_at, m.size, m.blob_id
                 FROM imap_uid u JOIN message m ON m.id = u.message_id
                 WHERE u.folder_id = ?1 AND u.uid = ?2 AND u.expunged = 0",
            )?;
            let mut out = Vec::with_capacity(uids.len());
            for uid in uids {
                let row = s
                    .query_row(params![folder, uid], |r| {
                        let kw: String = r.get(4)?;
                        Ok(ImapMessage {
                            uid: r.get(0)?,
                            message: r.get(1)?,
                            modseq: r.get::<_, i64>(2)? as u64,
                            deleted: r.get(3)?,
                            keywords: serde_json::from_str(&kw).unwrap_or_default(),
                            received_at: r.get(5)?,
                            size: r.get::<_, i64>(6)?.clamp(0, u32::MAX as i64) as u32,
                            blob_id: r.get(7)?,
                        })
                    })
                    .optional()?;
                out.extend(row);
            }
            Ok(out)
        })
    }

    /// The UID of a live message of `folder` with this Message-ID (the lowest, if several).
    pub fn uid_of_message_id(&self, folder: i64, message_id: &str) -> Result<Option<u32>> {
        self.0.read(|c| {
            Ok(c.prepare_cached(
                "SELECT MIN(u.uid) FROM imap_uid u JOIN message m ON m.id = u.message_id
                 WHERE u.folder_id = ?1 AND u.expunged = 0 AND m.message_id = ?2",
            )?
            .query_row(params![folder, message_id], |r| r.get(0))?)
        })
    }

    /// The UIDs of these messages in `folder` (live rows), in the order given; 0 for one
    /// without a row.
    pub fn uids_of(&self, folder: i64, messages: &[i64]) -> Result<Vec<u32>> {
        self.0.read(|c| uids_of(c, folder, messages))
    }

    /// The raw bytes of a blob (a message's).
    pub fn raw(&self, blob_id: i64) -> Result<Option<Vec<u8>>> {
        self.0.read(|c| {
            Ok(c.prepare_cached("SELECT data FROM blob WHERE id = ?1")?
                .query_row([blob_id], |r| r.get(0))
                .optional()?)
        })
    }

    /// The decoded search text of a message (what JMAP's `text` filter searches).
    pub fn search_text(&self, message: i64) -> Result<Option<String>> {
        self.0.read(|c| {
            let text = c
                .prepare_cached("SELECT body FROM message_text WHERE message_id = ?1")?
                .query_row([message], |r| Ok(super::search_text::text_of(r.get_ref(0)?)))
                .optional()?;
            Ok(text.flatten())
        })
    }

    /// Set or clear `\Deleted` on these live UIDs of `folder`: each change takes the account's
    /// next modseq and is logged as an Email update. Returns the UIDs that changed.
    pub fn set_deleted(&self, account: &str, folder: i64, changes: &[(u32, bool)]) -> Result<Vec<u32>> {
        self.0.write(|t| {
            let mut changed = Vec::new();
            for (uid, on) in changes {
                if set_deleted_in(t, account, folder, *uid, *on)? {
                    changed.push(*uid);
                }
            }
            Ok(changed)
        })
    }
}

/// [`ImapUids::uids_of`] on any connection (a caller's transaction too).
pub(super) fn uids_of(c: &rusqlite::Connection, folder: i64, messages: &[i64]) -> Result<Vec<u32>> {
    let mut s =
        c.prepare_cached("SELECT uid FROM imap_uid WHERE folder_id = ?1 AND message_id = ?2 AND expunged = 0")?;
    messages.iter().map(|m| Ok(s.query_row(params![folder, m], |r| r.get(0)).optional()?.unwrap_or(0))).collect()
}

/// Set or clear `\Deleted` on one live UID inside a caller's transaction; whether it changed.
pub(super) fn set_deleted_in(t: &mut Tx<'_>, account: &str, folder: i64, uid: u32, on: bool) -> Result<bool> {
    let row: Option<(i64, bool)> = t
        .tx
        .prepare_cached("SELECT message_id, deleted FROM imap_uid WHERE folder_id = ?1 AND uid = ?2 AND expunged = 0")?
        .query_row(params![folder, uid], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((message, was)) = row else { return Ok(false) };
    if was == on {
        return Ok(false);
    }
    let thread: Option<i64> =
        t.tx.prepare_cached("SELECT thread_id FROM message WHERE id = ?1")?
            .query_row([message], |r| r.get(0))
            .optional()?;
    let Some(thread) = thread else { return Ok(false) };
    let m = t.bump(account)?;
    t.log(account, ObjType::Email, message, Op::Updated, Some(thread))?;
    t.tx.prepare_cached("UPDATE imap_uid SET deleted = ?3, modseq = ?4 WHERE folder_id = ?1 AND uid = ?2")?
        .execute(params![folder, uid, on, m])?;
    t.tx.prepare_cached("UPDATE imap_folder SET highest_modseq = MAX(highest_modseq, ?2) WHERE folder_id = ?1")?
        .execute(params![folder, m])?;
    Ok(true)
}

/// [`ImapUids::refresh`]'s write, also inside a caller's transaction.
pub(super) fn refresh(t: &mut Tx<'_>, account: &str, folder: i64) -> Result<ImapFolder> {
    let now: i64 = t.tx.query_row("SELECT modseq FROM account WHERE id = ?1", [account], |r| r.get(0))?;
    let state: Option<(i64, i64, i64, i64)> =
        t.tx.prepare_cached(
            "SELECT uidvalidity, uidnext, highest_modseq, synced_modseq FROM imap_folder WHERE folder_id = ?1",
        )?
        .query_row([folder], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()?;
    let (uidvalidity, mut uidnext, mut highest, synced) = match state {
        // Up to date with every change of the account: nothing to read (the second refresh of
        // an IMAP write after a change that did not touch this account's modseq, or a quiet one).
        Some((v, n, h, synced)) if synced == now => {
            return Ok(ImapFolder { uidvalidity: v as u32, uidnext: n as u32, highest_modseq: h as u64 });
        }
        Some(s) => s,
        None => {
            let v = new_uidvalidity(folder) as i64;
            t.tx.execute(
                "INSERT INTO imap_folder (folder_id, uidvalidity, uidnext, synced_modseq, highest_modseq) VALUES (?1, ?2, 1, -1, 1)",
                params![folder, v],
            )?;
            (v, 1, 1, -1)
        }
    };
    // A row's MODSEQ is never 0 (RFC 7162 section 3.1.1) and never more than the account's.
    let stamp = now.max(1);
    let live: HashMap<i64, i64> = {
        let mut s =
            t.tx.prepare_cached("SELECT message_id, uid FROM imap_uid WHERE folder_id = ?1 AND expunged = 0")?;
        s.query_map([folder], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?
    };
    let present: Vec<i64> = {
        let mut s = t.tx.prepare_cached("SELECT id FROM message WHERE folder_id = ?1 ORDER BY id")?;
        s.query_map([folder], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?
    };
    let present_set: HashSet<i64> = present.iter().copied().collect();
    let mut touched = false;
    for (message, uid) in &live {
        if !present_set.contains(message) {
            t.tx.prepare_cached("UPDATE imap_uid SET expunged = 1, modseq = ?3 WHERE folder_id = ?1 AND uid = ?2")?
                .execute(params![folder, uid, stamp])?;
            touched = true;
        }
    }
    for message in &present {
        if !live.contains_key(message) {
            t.tx.prepare_cached("INSERT INTO imap_uid (folder_id, uid, message_id, modseq) VALUES (?1, ?2, ?3, ?4)")?
                .execute(params![folder, uidnext, message, stamp])?;
            uidnext += 1;
            touched = true;
        }
    }
    if synced >= 0 && synced < now {
        let low: i64 =
            t.tx.query_row(
                "SELECT low_modseq FROM type_state WHERE account = ?1 AND type = ?2",
                params![account, ObjType::Email as i64],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0);
        if low > synced {
            // The log no longer reaches back that far: every message counts as changed.
            t.tx.execute(
                "UPDATE imap_uid SET modseq = ?2 WHERE folder_id = ?1 AND expunged = 0 AND modseq < ?2",
                params![folder, stamp],
            )?;
            touched = true;
        } else {
            let changed: Vec<(i64, i64)> = {
                let mut s = t.tx.prepare_cached(
                    "SELECT object_id, MAX(modseq) FROM change_log WHERE account = ?1 AND type = ?2 AND modseq > ?3
                     GROUP BY object_id",
                )?;
                s.query_map(params![account, ObjType::Email as i64, synced], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()?
            };
            let mut up = t.tx.prepare_cached(
                "UPDATE imap_uid SET modseq = MAX(modseq, ?3) WHERE folder_id = ?1 AND message_id = ?2 AND expunged = 0",
            )?;
            for (message, m) in changed {
                if live.contains_key(&message)
                    && present_set.contains(&message)
                    && up.execute(params![folder, message, m])? > 0
                {
                    touched = true;
                }
            }
        }
    }
    if touched {
        let max: Option<i64> =
            t.tx.query_row("SELECT MAX(modseq) FROM imap_uid WHERE folder_id = ?1", [folder], |r| r.get(0))?;
        highest = highest.max(max.unwrap_or(1));
    }
    t.tx.execute(
        "UPDATE imap_folder SET uidnext = ?2, highest_modseq = ?3, synced_modseq = ?4 WHERE folder_id = ?1",
        params![folder, uidnext, highest, now],
    )?;
    Ok(ImapFolder { uidvalidity: uidvalidity as u32, uidnext: uidnext as u32, highest_modseq: highest as u64 })
}

#[cfg(test)]
pub(super) mod tests;
