//! The folder table, as the mirror keeps it: one row per IMAP folder, with the server's
//! UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ, and the account's hierarchy delimiter.
//!
//! A folder row is never deleted, only marked destroyed (JMAP ids are never reused); its name
//! is given free when another folder takes it. A folder that appears, goes or is renamed
//! changes the parent of the folders below it, and those are logged as updated Mailboxes. The
//! helpers that destroy a folder's messages live here because resetting or dropping a folder
//! is what needs them most; the mirror's expunge uses them too. A folder's JMAP `sortOrder` and
//! `isSubscribed` live beside it (`folder_pref`); the mirror takes the server's subscriptions
//! in here. Reached as `store.folders()`; what devices do to folders is in `mailboxes.rs`.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{ObjType, Op, Result, Store, Tx, now};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Folder {
    pub id: i64,
    pub account: String,
    pub name: String,
    pub role: Option<String>,
    pub uidvalidity: Option<u32>,
    pub uidnext: Option<u32>,
    pub highestmodseq: Option<u64>,
    pub last_sync_at: Option<i64>,
}

/// The server's state of a folder after a batch; stored in the batch's transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FolderState {
    pub uidvalidity: u32,
    pub uidnext: Option<u32>,
    pub highestmodseq: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FolderCount {
    pub folder: String,
    pub role: Option<String>,
    pub total: i64,
    pub unread: i64,
    pub last_sync_at: Option<i64>,
}

/// The folder table, reached as `store.folders()`.
#[derive(Clone, Copy)]
pub struct Folders<'a>(&'a Store);

impl Store {
    /// The folders the mirror keeps.
    pub fn folders(&self) -> Folders<'_> {
        Folders(self)
    }
}

impl Folders<'_> {
    /// Every folder of the account that still exists on the server.
    pub fn all(&self, account: &str) -> Result<Vec<Folder>> {
        self.0.read(|c| {
            let mut s = c.prepare_cached(
                "SELECT id, account, name, role, uidvalidity, uidnext, highestmodseq, last_sync_at
                 FROM folder WHERE account = ?1 AND destroyed = 0 ORDER BY id",
            )?;
            let rows = s.query_map([account], folder_row)?.collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// Names of the live folders a device created or renamed: mirrored besides the config's.
    pub fn made_by_devices(&self, account: &str) -> Result<Vec<String>> {
        self.0.read(|c| {
            let mut s = c.prepare_cached(
                "SELECT name FROM folder WHERE account = ?1 AND by_device = 1 AND destroyed = 0 ORDER BY id",
            )?;
            let rows = s.query_map([account], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// Server names that stand for a folder change still waiting in the write-back queue: both
    /// names of a pending RENAME and the name of a pending DELETE. What the server lists under
    /// them (or below them) is the store's renamed or destroyed folder, or an unrelated one
    /// the rename may yet be refused for; never a folder to map onto the store's.
    pub fn names_in_flux(&self, account: &str) -> Result<Vec<String>> {
        self.0.read(|c| {
            let mut s = c.prepare_cached(
                "SELECT old_name FROM writeback_op WHERE account = ?1 AND kind = 'rename' AND old_name IS NOT NULL
                 UNION SELECT name FROM writeback_op WHERE account = ?1 AND kind IN ('rename', 'delete') AND name IS NOT NULL",
            )?;
            let rows = s.query_map([account], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// Destroy the live folders of `account` that are not in `kept` (gone on the server, or no
    /// longer configured), with their messages, and return their names. A message shown in
    /// such a folder but still held in another one on the server (its MOVE not written back)
    /// goes back to where the server holds it instead; one only the store has (no UID yet)
    /// moves to the inbox, and its APPEND goes there (with no inbox, the folder stays). Nothing is destroyed
    /// while a folder CREATE, RENAME or DELETE waits in the write-back queue: until it is done
    /// the server's list cannot be compared with the store's (a folder a phone just made or
    /// renamed, or one below it, would look gone). Decided in the destroying transaction, so a
    /// phone's change committed meanwhile is seen.
    pub fn destroy_not_kept(&self, account: &str, kept: &[i64]) -> Result<Vec<String>> {
        self.0.write(|t| {
            if folder_ops_pending(&t.tx, account)? {
                return Ok(Vec::new());
            }
            let live: Vec<(i64, String)> = {
                let mut s = t.tx.prepare("SELECT id, name FROM folder WHERE account = ?1 AND destroyed = 0 ORDER BY id")?;
                s.query_map([account], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?
            };
            let mut gone = Vec::new();
            for (id, name) in live.into_iter().filter(|(id, _)| !kept.contains(id)) {
                // A message a phone moved here whose MOVE has not reached the server is still
                // held where it was: it shows there again (its MOVE can no longer be done).
                // Destroying it would lose it here while the server keeps it.
                let back: Vec<(i64, i64, i64)> = {
                    let mut s = t.tx.prepare(
                        "SELECT id, imap_folder_id, thread_id FROM message WHERE folder_id = ?1 AND imap_folder_id != ?1",
                    )?;
                    s.query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<rusqlite::Result<_>>()?
                };
                for (m, held, thread) in back {
                    t.tx.execute("UPDATE message SET folder_id = imap_folder_id WHERE id = ?1", [m])?;
                    t.tx.execute("DELETE FROM writeback_op WHERE message_id = ?1 AND kind = 'move'", [m])?;
                    t.log(account, ObjType::Email, m, Op::Updated, Some(thread))?;
                    t.log(account, ObjType::Mailbox, held, Op::CountsOnly, None)?;
                }
                // A message only the store has (no UID: its APPEND waits, or was given up) is
                // not on the server to lose: it stays, in the folder it is shown in if that
                // stays, otherwise in the inbox, where its APPEND then goes.
                if !keep_local_only(t, account, id, kept)? {
                    continue;
                }
                destroy_messages_where(t, account, "imap_folder_id = ?1 OR folder_id = ?1", id)?;
                t.tx.execute("UPDATE folder SET destroyed = 1 WHERE id = ?1", [id])?;
                t.log(account, ObjType::Mailbox, id, Op::Destroyed, None)?;
                log_below(t, account, &name)?;
                gone.push(name);
            }
            Ok(gone)
        })
    }

    /// Take the server's subscriptions (`names`: the subscribed folders) into the live
    /// folders, except those whose SUBSCRIBE or UNSUBSCRIBE from a phone still waits in the
    /// write-back queue, and none while a folder CREATE, RENAME or DELETE waits there (the
    /// server's names cannot be compared with the store's then; decided in this transaction). INBOX counts as subscribed whatever the
    /// server says (servers often leave it out, and a phone may hide what is not subscribed),
    /// and a server without any subscription changes nothing (its users do not use them). A
    /// folder that changes is logged as an updated Mailbox. Returns how many changed.
    pub fn set_subscriptions(&self, account: &str, names: &[String]) -> Result<usize> {
        if names.iter().all(|n| n.eq_ignore_ascii_case("INBOX")) {
            return Ok(0);
        }
        self.0.write(|t| {
            // While a folder CREATE, RENAME or DELETE waits, the server's names are not the
            // store's (a renamed folder and those below it are listed by their old names).
            if folder_ops_pending(&t.tx, account)? {
                return Ok(0);
            }
            let live: Vec<(i64, String, Option<String>)> = {
                let mut s = t.tx.prepare(
                    "SELECT id, name, role FROM folder f WHERE account = ?1 AND destroyed = 0 AND NOT EXISTS
                       (SELECT 1 FROM writeback_op w WHERE w.account = ?1 AND w.kind = 'subscribe' AND w.folder_id = f.id)",
                )?;
                s.query_map([account], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<rusqlite::Result<_>>()?
            };
            let mut changed = 0;
            for (id, name, role) in live {
                let inbox = role.as_deref() == Some("inbox") || name.eq_ignore_ascii_case("INBOX");
                let on = inbox || names.contains(&name);
                // Written even when it is the default: a rename then knows the folder is
                // subscribed on the server (see `known_subscribed`).
                if known_subscribed(t, id)? != Some(on) {
                    let was = subscribed(t, id)?;
                    set_pref(t, id, "subscribed", on as i64)?;
                    if was != on {
                        t.log(account, ObjType::Mailbox, id, Op::Updated, None)?;
                        changed += 1;
                    }
                }
            }
            Ok(changed)
        })
    }

    pub fn by_name(&self, account: &str, name: &str) -> Result<Option<Folder>> {
        self.0.read(|c| {
            Ok(c.query_row(
                "SELECT id, account, name, role, uidvalidity, uidnext, highestmodseq, last_sync_at
                 FROM folder WHERE account = ?1 AND name = ?2 AND destroyed = 0",
                params![account, name],
                folder_row,
            )
            .optional()?)
        })
    }

    /// The folder the server lists as `name`: the store's folder of that name, created (and
    /// logged as a new Mailbox) if it is new. While a phone's DELETE or RENAME of `name` waits
    /// in the write-back queue, the server's `name` is that folder (destroyed, or renamed in
    /// the store), and it is returned instead of a new one: a folder listing taken just before
    /// the phone's change must not bring the folder back as a new mailbox. Decided in the
    /// creating transaction.
    pub fn ensure(&self, account: &str, name: &str, role: Option<&str>) -> Result<Folder> {
        let id = self.0.write(|t| {
            let live: Option<i64> =
                t.tx.query_row(
                    "SELECT id FROM folder WHERE account = ?1 AND name = ?2 AND destroyed = 0",
                    params![account, name],
                    |r| r.get(0),
                )
                .optional()?;
            let stale: Option<i64> = match live {
                Some(_) => None,
                None => {
                    t.tx.query_row(
                        "SELECT folder_id FROM writeback_op WHERE account = ?1 AND folder_id IS NOT NULL
                           AND ((kind = 'delete' AND name = ?2) OR (kind = 'rename' AND old_name = ?2))
                         ORDER BY id DESC LIMIT 1",
                        params![account, name],
                        |r| r.get(0),
                    )
                    .optional()?
                }
            };
            match stale {
                Some(id) => Ok(id),
                None => ensure_folder(t, account, name, role),
            }
        })?;
        self.0.read(|c| {
            Ok(c.query_row(
                "SELECT id, account, name, role, uidvalidity, uidnext, highestmodseq, last_sync_at FROM folder WHERE id = ?1",
                [id],
                folder_row,
            )?)
        })
    }

    /// UIDVALIDITY changed: every UID we hold for the folder is void. The server copies are
    /// forgotten (devices see them destroyed) and will be fetched again as new; messages that
    /// exist only locally (uid NULL) are kept.
    pub fn reset(&self, folder_id: i64, uidvalidity: u32) -> Result<usize> {
        self.0.write(|t| {
            let account: String =
                t.tx.query_row("SELECT account FROM folder WHERE id = ?1", [folder_id], |r| r.get(0))?;
            let n = destroy_messages_where(t, &account, "imap_folder_id = ?1 AND uid IS NOT NULL", folder_id)?;
            t.tx.execute("DELETE FROM imap_tombstone WHERE folder_id = ?1", [folder_id])?;
            t.tx.execute(
                "UPDATE folder SET uidvalidity = ?2, uidnext = NULL, highestmodseq = NULL WHERE id = ?1",
                params![folder_id, uidvalidity],
            )?;
            if n > 0 {
                t.log(&account, ObjType::Mailbox, folder_id, Op::CountsOnly, None)?;
            }
            Ok(n)
        })
    }

    /// Record the folder's server state alone (a poll that found nothing new).
    pub fn set_state(&self, folder_id: i64, state: FolderState) -> Result<()> {
        self.0.write(|t| set_state(t, folder_id, state))
    }

    /// UIDs we hold for a folder, ascending (for the UID diff where CONDSTORE is missing).
    pub fn uids(&self, folder_id: i64) -> Result<Vec<u32>> {
        self.0.read(|c| {
            let mut s = c.prepare_cached(
                "SELECT uid FROM message WHERE imap_folder_id = ?1 AND uid IS NOT NULL
                 UNION SELECT uid FROM imap_tombstone WHERE folder_id = ?1 ORDER BY 1",
            )?;
            let rows = s.query_map([folder_id], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// UIDs we hold for a folder from `from` up, ascending: what a fetch of new messages can
    /// skip (a batch committed before a crash, or messages after one the server did not give).
    pub fn uids_from(&self, folder_id: i64, from: u32) -> Result<Vec<u32>> {
        self.0.read(|c| {
            let mut s = c.prepare_cached(
                "SELECT uid FROM message WHERE imap_folder_id = ?1 AND uid >= ?2
                 UNION SELECT uid FROM imap_tombstone WHERE folder_id = ?1 AND uid >= ?2 ORDER BY 1",
            )?;
            let rows = s.query_map(params![folder_id, from], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// Message and unread counts per folder.
    pub fn counts(&self, account: &str) -> Result<Vec<FolderCount>> {
        self.0.read(|c| {
            let mut s = c.prepare_cached(
                "SELECT f.name, f.role, COUNT(m.id),
                        COALESCE(SUM(CASE WHEN m.id IS NOT NULL AND m.keywords NOT LIKE '%\"$seen\"%' THEN 1 ELSE 0 END), 0),
                        f.last_sync_at
                 FROM folder f LEFT JOIN message m ON m.folder_id = f.id
                 WHERE f.account = ?1 AND f.destroyed = 0 GROUP BY f.id ORDER BY f.id",
            )?;
            let rows = s
                .query_map([account], |r| {
                    Ok(FolderCount {
                        folder: r.get(0)?,
                        role: r.get(1)?,
                        total: r.get(2)?,
                        unread: r.get(3)?,
                        last_sync_at: r.get(4)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// The hierarchy delimiter of the account's folder names (from the server's LIST).
    pub fn delimiter(&self, account: &str) -> Result<Option<String>> {
        self.0.read(|c| {
            Ok(c.query_row("SELECT delimiter FROM account WHERE id = ?1", [account], |r| r.get(0))
                .optional()?
                .flatten())
        })
    }

    /// Record the delimiter the server lists. When it changes, every mailbox's place in the
    /// JMAP tree may change: they are all logged as updated.
    pub fn set_delimiter(&self, account: &str, delimiter: Option<&str>) -> Result<()> {
        if self.0.folders().delimiter(account)?.as_deref() == delimiter {
            return Ok(());
        }
        self.0.write(|t| {
            t.tx.execute("UPDATE account SET delimiter = ?2 WHERE id = ?1", params![account, delimiter])?;
            let ids: Vec<i64> = {
                let mut s = t.tx.prepare("SELECT id FROM folder WHERE account = ?1 AND destroyed = 0")?;
                s.query_map([account], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?
            };
            for id in ids {
                t.log(account, ObjType::Mailbox, id, Op::Updated, None)?;
            }
            Ok(())
        })
    }
}

/// Save the messages without a UID held in or shown in folder `gone` (about to be destroyed):
/// one shown elsewhere is held there now; one shown in `gone` moves to the account's inbox
/// (a kept folder), its MOVE dropped. Returns false when there is such a message and no
/// inbox to take it: the folder is then kept.
fn keep_local_only(t: &mut Tx<'_>, account: &str, gone: i64, kept: &[i64]) -> Result<bool> {
    let local: Vec<(i64, i64, i64)> = {
        let mut s = t.tx.prepare(
            "SELECT id, folder_id, thread_id FROM message WHERE uid IS NULL AND (imap_folder_id = ?1 OR folder_id = ?1)",
        )?;
        s.query_map([gone], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<rusqlite::Result<_>>()?
    };
    if local.is_empty() {
        return Ok(true);
    }
    let inbox: Option<i64> = {
        let mut s = t.tx.prepare(
            "SELECT id FROM folder WHERE account = ?1 AND destroyed = 0 AND id != ?2
               AND (role = 'inbox' OR name = 'INBOX' COLLATE NOCASE) ORDER BY role IS NULL, id",
        )?;
        let ids: Vec<i64> = s.query_map(params![account, gone], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        ids.into_iter().find(|i| kept.contains(i))
    };
    if inbox.is_none() && local.iter().any(|(_, shown, _)| *shown == gone) {
        return Ok(false);
    }
    for (m, shown, thread) in local {
        let to = if shown != gone { shown } else { inbox.unwrap_or(shown) };
        t.tx.execute("UPDATE message SET folder_id = ?2, imap_folder_id = ?2 WHERE id = ?1", params![m, to])?;
        t.tx.execute("DELETE FROM writeback_op WHERE message_id = ?1 AND kind = 'move'", [m])?;
        if shown != to {
            t.log(account, ObjType::Email, m, Op::Updated, Some(thread))?;
            t.log(account, ObjType::Mailbox, to, Op::CountsOnly, None)?;
        }
    }
    Ok(true)
}

fn folder_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Folder> {
    Ok(Folder {
        id: r.get(0)?,
        account: r.get(1)?,
        name: r.get(2)?,
        role: r.get(3)?,
        uidvalidity: r.get(4)?,
        uidnext: r.get(5)?,
        highestmodseq: r.get::<_, Option<i64>>(6)?.map(|v| v as u64),
        last_sync_at: r.get(7)?,
    })
}

pub(super) fn ensure_folder(t: &mut Tx<'_>, account: &str, name: &str, role: Option<&str>) -> Result<i64> {
    let existing: Option<(i64, Option<String>)> =
        t.tx.query_row(
            "SELECT id, role FROM folder WHERE account = ?1 AND name = ?2 AND destroyed = 0",
            params![account, name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    match existing {
        Some((id, old_role)) => {
            if old_role.as_deref() != role {
                t.tx.execute("UPDATE folder SET role = ?2 WHERE id = ?1", params![id, role])?;
                t.log(account, ObjType::Mailbox, id, Op::Updated, None)?;
            }
            Ok(id)
        }
        None => {
            free_destroyed_name(t, account, name)?;
            t.tx.execute("INSERT INTO folder (account, name, role) VALUES (?1, ?2, ?3)", params![account, name, role])?;
            let id = t.tx.last_insert_rowid();
            t.log(account, ObjType::Mailbox, id, Op::Created, None)?;
            log_below(t, account, name)?;
            Ok(id)
        }
    }
}

/// A folder that was destroyed keeps its row (ids are never reused): give its name free.
pub(super) fn free_destroyed_name(t: &Tx<'_>, account: &str, name: &str) -> Result<()> {
    t.tx.execute(
        "UPDATE folder SET name = name || ' (destroyed ' || id || ')' WHERE account = ?1 AND name = ?2 AND destroyed = 1",
        params![account, name],
    )?;
    Ok(())
}

/// The live folders below `name` have a new nearest ancestor (a folder of that name came or
/// went): their JMAP `parentId` and `name` changed, so they are logged as updated.
pub(super) fn log_below(t: &mut Tx<'_>, account: &str, name: &str) -> Result<()> {
    for (id, _) in descendants(t, account, name)? {
        t.log(account, ObjType::Mailbox, id, Op::Updated, None)?;
    }
    Ok(())
}

/// The live folders below `name` in the account's hierarchy: (id, full name).
pub(super) fn descendants(t: &Tx<'_>, account: &str, name: &str) -> Result<Vec<(i64, String)>> {
    let delimiter: Option<String> =
        t.tx.query_row("SELECT delimiter FROM account WHERE id = ?1", [account], |r| r.get(0)).optional()?.flatten();
    let Some(d) = delimiter.filter(|d| !d.is_empty()) else { return Ok(Vec::new()) };
    let prefix = format!("{name}{d}");
    let mut s = t.tx.prepare_cached("SELECT id, name FROM folder WHERE account = ?1 AND destroyed = 0 ORDER BY id")?;
    let rows = s.query_map([account], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (id, n) = row?;
        if n.starts_with(&prefix) {
            out.push((id, n));
        }
    }
    Ok(out)
}

/// Name and role of a folder of `account` that still exists.
pub(super) fn live_folder(t: &Tx<'_>, account: &str, id: i64) -> Result<Option<(String, Option<String>)>> {
    Ok(t.tx
        .query_row(
            "SELECT name, role FROM folder WHERE id = ?1 AND account = ?2 AND destroyed = 0",
            params![id, account],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// Rename folder `id` from `old` to `new` in the store, the folders below it along with it (as
/// IMAP's RENAME takes them too). All are marked `by_device`: the config may name them by
/// their old names. Folders already below the new name now have it as their parent.
pub(super) fn rename_folder(t: &mut Tx<'_>, account: &str, id: i64, old: &str, new: &str) -> Result<()> {
    let children = descendants(t, account, old)?;
    free_destroyed_name(t, account, new)?;
    t.tx.execute("UPDATE folder SET name = ?2, by_device = 1 WHERE id = ?1", params![id, new])?;
    t.log(account, ObjType::Mailbox, id, Op::Updated, None)?;
    for (child, child_name) in children {
        let renamed = format!("{new}{}", &child_name[old.len()..]);
        free_destroyed_name(t, account, &renamed)?;
        t.tx.execute("UPDATE folder SET name = ?2, by_device = 1 WHERE id = ?1", params![child, renamed])?;
        t.log(account, ObjType::Mailbox, child, Op::Updated, None)?;
    }
    log_below(t, account, new)
}

/// Whether folder `id` is subscribed (no row: yes).
pub(super) fn subscribed(t: &Tx<'_>, id: i64) -> Result<bool> {
    Ok(t.tx
        .query_row("SELECT subscribed FROM folder_pref WHERE folder_id = ?1", [id], |r| r.get(0))
        .optional()?
        .unwrap_or(true))
}

/// Whether folder `id` is subscribed as the server said or a device set it (no row: not known,
/// the server's subscriptions never read, or the server has none).
pub(super) fn known_subscribed(t: &Tx<'_>, id: i64) -> Result<Option<bool>> {
    Ok(t.tx.query_row("SELECT subscribed FROM folder_pref WHERE folder_id = ?1", [id], |r| r.get(0)).optional()?)
}

/// Set one column (`subscribed` or `sort_order`) of folder `id`'s preferences.
pub(super) fn set_pref(t: &Tx<'_>, id: i64, column: &str, value: i64) -> Result<()> {
    t.tx.execute("INSERT OR IGNORE INTO folder_pref (folder_id) VALUES (?1)", [id])?;
    t.tx.execute(&format!("UPDATE folder_pref SET {column} = ?2 WHERE folder_id = ?1"), params![id, value])?;
    Ok(())
}

/// Whether folder `id` (named `current`) and the folders below it can take back the names
/// under `old` without meeting another live folder. If not, the undo is skipped: the next
/// folder listing then goes by the server.
pub(super) fn names_free_for_undo(t: &Tx<'_>, account: &str, id: i64, current: &str, old: &str) -> Result<bool> {
    let below = descendants(t, account, current)?;
    let moving: Vec<i64> = std::iter::once(id).chain(below.iter().map(|(i, _)| *i)).collect();
    let targets =
        std::iter::once(old.to_string()).chain(below.iter().map(|(_, n)| format!("{old}{}", &n[current.len()..])));
    for name in targets {
        let holder: Option<i64> =
            t.tx.query_row(
                "SELECT id FROM folder WHERE account = ?1 AND name = ?2 AND destroyed = 0",
                params![account, name],
                |r| r.get(0),
            )
            .optional()?;
        if holder.is_some_and(|h| !moving.contains(&h)) {
            return Ok(false);
        }
    }
    Ok(true)
}

pub(super) fn set_state(t: &mut Tx<'_>, folder_id: i64, s: FolderState) -> Result<()> {
    t.tx.prepare_cached(
        "UPDATE folder SET uidvalidity = ?2, uidnext = COALESCE(?3, uidnext), highestmodseq = COALESCE(?4, highestmodseq),
                last_sync_at = ?5 WHERE id = ?1",
    )?
    .execute(params![folder_id, s.uidvalidity, s.uidnext, s.highestmodseq.map(|v| v as i64), now()])?;
    Ok(())
}

pub(super) fn destroy_message(t: &mut Tx<'_>, account: &str, id: i64, thread: i64, visible_folder: i64) -> Result<()> {
    t.tx.prepare_cached("DELETE FROM message WHERE id = ?1")?.execute([id])?;
    t.log(account, ObjType::Email, id, Op::Destroyed, Some(thread))?;
    let left: i64 =
        t.tx.prepare_cached("SELECT COUNT(*) FROM message WHERE thread_id = ?1")?.query_row([thread], |r| r.get(0))?;
    t.log(account, ObjType::Thread, thread, if left == 0 { Op::Destroyed } else { Op::Updated }, None)?;
    t.log(account, ObjType::Mailbox, visible_folder, Op::CountsOnly, None)?;
    Ok(())
}

pub(super) fn destroy_messages_where(t: &mut Tx<'_>, account: &str, cond: &str, folder_id: i64) -> Result<usize> {
    let rows: Vec<(i64, i64, i64)> = {
        let mut s = t.tx.prepare(&format!("SELECT id, thread_id, folder_id FROM message WHERE {cond}"))?;
        s.query_map([folder_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<rusqlite::Result<_>>()?
    };
    for (id, thread, visible) in &rows {
        destroy_message(t, account, *id, *thread, *visible)?;
    }
    Ok(rows.len())
}

/// Whether a folder CREATE, RENAME or DELETE of `account` waits in the write-back queue: until
/// it is done the server's folder names are not the store's.
fn folder_ops_pending(tx: &rusqlite::Transaction<'_>, account: &str) -> Result<bool> {
    Ok(tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM writeback_op WHERE account = ?1 AND kind IN ('create', 'rename', 'delete'))",
        [account],
        |r| r.get(0),
    )?)
}
