//! Folders, messages, threads and the IMAP state that the mirror keeps.
//!
//! Every function that changes something a device sees logs it under the account's modseq in
//! the same transaction. Inserting is idempotent on `(imap_folder_id, uid)`: a sync that is
//! interrupted and resumed never stores a message twice.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{ObjType, Op, Result, Store, Tx, ignore_no_rows, now};
use crate::message::{self, EmailAddress, Parsed};

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

/// A message as fetched from the server.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub uid: Option<u32>,
    pub modseq: Option<u64>,
    /// IMAP flags and keywords as the server sent them (`\Seen`, `$Forwarded`, ...).
    pub flags: Vec<String>,
    /// INTERNALDATE, unix seconds.
    pub internal_date: i64,
    pub raw: Vec<u8>,
}

/// One line of a message list.
#[derive(Debug, Clone, Serialize)]
pub struct MessageSummary {
    pub id: i64,
    pub folder: String,
    pub uid: Option<u32>,
    pub received_at: i64,
    pub sent_at: Option<i64>,
    pub from: Vec<EmailAddress>,
    pub to: Vec<EmailAddress>,
    pub subject: String,
    pub preview: String,
    pub size: i64,
    pub keywords: Vec<String>,
    pub has_attachment: bool,
    pub message_id: Option<String>,
    pub thread_id: i64,
    pub parse_error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FolderCount {
    pub folder: String,
    pub role: Option<String>,
    pub total: i64,
    pub unread: i64,
    pub last_sync_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct SyncStatus {
    pub last_sync_at: Option<i64>,
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
    pub auth_failed: bool,
}

/// IMAP system flag -> JMAP keyword. `\Recent` and `\Deleted` are not keywords.
pub fn flag_to_keyword(flag: &str) -> Option<String> {
    let k = match flag.to_ascii_lowercase().as_str() {
        "\\seen" => "$seen".to_string(),
        "\\flagged" => "$flagged".to_string(),
        "\\answered" => "$answered".to_string(),
        "\\draft" => "$draft".to_string(),
        "\\recent" | "\\deleted" | "\\*" => return None,
        other if other.starts_with('\\') => return None,
        other => other.to_string(),
    };
    Some(k)
}

/// JMAP keyword -> IMAP flag.
pub fn keyword_to_flag(keyword: &str) -> String {
    match keyword {
        "$seen" => "\\Seen".into(),
        "$flagged" => "\\Flagged".into(),
        "$answered" => "\\Answered".into(),
        "$draft" => "\\Draft".into(),
        other => other.into(),
    }
}

fn keywords_of(flags: &[String]) -> Vec<String> {
    let mut k: Vec<String> = flags.iter().filter_map(|f| flag_to_keyword(f)).collect();
    k.sort();
    k.dedup();
    k
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn from_json<T: serde::de::DeserializeOwned + Default>(s: &str) -> T {
    serde_json::from_str(s).unwrap_or_default()
}

impl Store {
    /// Every folder of the account that still exists on the server.
    pub fn folders(&self, account: &str) -> Result<Vec<Folder>> {
        self.read(|c| {
            let mut s = c.prepare_cached(
                "SELECT id, account, name, role, uidvalidity, uidnext, highestmodseq, last_sync_at
                 FROM folder WHERE account = ?1 AND destroyed = 0 ORDER BY id",
            )?;
            let rows = s.query_map([account], folder_row)?.collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// Names of the live folders a device created or renamed: mirrored besides the config's.
    pub fn device_folders(&self, account: &str) -> Result<Vec<String>> {
        self.read(|c| {
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
    pub fn folder_names_in_flux(&self, account: &str) -> Result<Vec<String>> {
        self.read(|c| {
            let mut s = c.prepare_cached(
                "SELECT old_name FROM writeback_op WHERE account = ?1 AND kind = 'rename' AND old_name IS NOT NULL
                 UNION SELECT name FROM writeback_op WHERE account = ?1 AND kind IN ('rename', 'delete') AND name IS NOT NULL",
            )?;
            let rows = s.query_map([account], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// Destroy the live folders of `account` that are not in `kept` (gone on the server, or no
    /// longer configured), with their messages, and return their names. Nothing is destroyed
    /// while a folder CREATE, RENAME or DELETE waits in the write-back queue: until it is done
    /// the server's list cannot be compared with the store's (a folder a phone just made or
    /// renamed, or one below it, would look gone). Decided in the destroying transaction, so a
    /// phone's change committed meanwhile is seen.
    pub fn destroy_folders_not_kept(&self, account: &str, kept: &[i64]) -> Result<Vec<String>> {
        self.write(|t| {
            let in_flux: bool = t.tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM writeback_op WHERE account = ?1 AND kind IN ('create', 'rename', 'delete'))",
                [account],
                |r| r.get(0),
            )?;
            if in_flux {
                return Ok(Vec::new());
            }
            let live: Vec<(i64, String)> = {
                let mut s = t.tx.prepare("SELECT id, name FROM folder WHERE account = ?1 AND destroyed = 0 ORDER BY id")?;
                s.query_map([account], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?
            };
            let mut gone = Vec::new();
            for (id, name) in live.into_iter().filter(|(id, _)| !kept.contains(id)) {
                destroy_messages_where(t, account, "imap_folder_id = ?1 OR folder_id = ?1", id)?;
                t.tx.execute("UPDATE folder SET destroyed = 1 WHERE id = ?1", [id])?;
                t.log(account, ObjType::Mailbox, id, Op::Destroyed, None)?;
                log_below(t, account, &name)?;
                gone.push(name);
            }
            Ok(gone)
        })
    }

    pub fn folder_by_name(&self, account: &str, name: &str) -> Result<Option<Folder>> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT id, account, name, role, uidvalidity, uidnext, highestmodseq, last_sync_at
                 FROM folder WHERE account = ?1 AND name = ?2 AND destroyed = 0",
                params![account, name],
                folder_row,
            )
            .optional()?)
        })
    }

    /// The folder with this name, created (and logged as a new Mailbox) if it is new.
    pub fn ensure_folder(&self, account: &str, name: &str, role: Option<&str>) -> Result<Folder> {
        self.write(|t| ensure_folder(t, account, name, role))?;
        Ok(self.folder_by_name(account, name)?.expect("just ensured"))
    }

    /// UIDVALIDITY changed: every UID we hold for the folder is void. The server copies are
    /// forgotten (devices see them destroyed) and will be fetched again as new; messages that
    /// exist only locally (uid NULL) are kept.
    pub fn reset_folder(&self, folder_id: i64, uidvalidity: u32) -> Result<usize> {
        self.write(|t| {
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

    /// Store a batch of fetched messages and, in the same transaction, the folder's new state.
    /// Returns the ids of the messages that were new (a UID already stored is skipped).
    pub fn insert_messages(
        &self,
        account: &str,
        folder_id: i64,
        batch: Vec<NewMessage>,
        state: Option<FolderState>,
    ) -> Result<Vec<i64>> {
        // Parse outside the write lock: it is the expensive part.
        let parsed: Vec<(NewMessage, Parsed)> = batch
            .into_iter()
            .map(|m| {
                let p = message::parse(&m.raw);
                (m, p)
            })
            .collect();
        self.write(|t| {
            let mut ids = Vec::new();
            for (m, p) in parsed {
                if let Some(id) = insert_message(t, account, folder_id, &m, &p)? {
                    ids.push(id);
                }
            }
            if !ids.is_empty() {
                t.log(account, ObjType::Mailbox, folder_id, Op::CountsOnly, None)?;
                let role: Option<String> =
                    t.tx.query_row("SELECT role FROM folder WHERE id = ?1", [folder_id], |r| r.get(0))?;
                if role.as_deref() == Some("inbox") {
                    t.touch(account, ObjType::EmailDelivery)?;
                }
            }
            if let Some(s) = state {
                set_state(t, folder_id, s)?;
            }
            Ok(ids)
        })
    }

    /// Apply the server's flags for `(uid, flags)` pairs. Local changes not yet confirmed by the
    /// server are applied on top. Returns how many messages changed.
    pub fn apply_flags(
        &self,
        account: &str,
        folder_id: i64,
        updates: &[(u32, Vec<String>)],
        state: Option<FolderState>,
    ) -> Result<usize> {
        self.write(|t| {
            let mut changed = 0;
            for (uid, flags) in updates {
                let row: Option<(i64, String, i64)> =
                    t.tx.prepare_cached(
                        "SELECT id, keywords, thread_id FROM message WHERE imap_folder_id = ?1 AND uid = ?2",
                    )?
                    .query_row(params![folder_id, uid], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .optional()?;
                let Some((id, old, thread)) = row else { continue };
                let mut kw = keywords_of(flags);
                {
                    let mut s = t.tx.prepare_cached("SELECT keyword, op FROM keyword_pending WHERE message_id = ?1")?;
                    let pending = s.query_map([id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
                    for p in pending {
                        let (k, op) = p?;
                        kw.retain(|x| *x != k);
                        if op == 1 {
                            kw.push(k);
                        }
                    }
                }
                kw.sort();
                let new = json(&kw);
                if new != old {
                    t.tx.prepare_cached("UPDATE message SET keywords = ?2 WHERE id = ?1")?.execute(params![id, new])?;
                    t.log(account, ObjType::Email, id, Op::Updated, Some(thread))?;
                    let visible: i64 =
                        t.tx.query_row("SELECT folder_id FROM message WHERE id = ?1", [id], |r| r.get(0))?;
                    t.log(account, ObjType::Mailbox, visible, Op::CountsOnly, None)?;
                    changed += 1;
                }
            }
            if let Some(s) = state {
                set_state(t, folder_id, s)?;
            }
            Ok(changed)
        })
    }

    /// The server no longer has these UIDs in the folder: destroy our copies.
    pub fn expunge_uids(
        &self,
        account: &str,
        folder_id: i64,
        uids: &[u32],
        state: Option<FolderState>,
    ) -> Result<usize> {
        self.write(|t| {
            let mut n = 0;
            for uid in uids {
                let row: Option<(i64, i64, i64)> =
                    t.tx.prepare_cached(
                        "SELECT id, thread_id, folder_id FROM message WHERE imap_folder_id = ?1 AND uid = ?2",
                    )?
                    .query_row(params![folder_id, uid], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .optional()?;
                t.tx.prepare_cached("DELETE FROM imap_tombstone WHERE folder_id = ?1 AND uid = ?2")?
                    .execute(params![folder_id, uid])?;
                if let Some((id, thread, visible)) = row {
                    destroy_message(t, account, id, thread, visible)?;
                    n += 1;
                }
            }
            if let Some(s) = state {
                set_state(t, folder_id, s)?;
            }
            Ok(n)
        })
    }

    /// Record the folder's server state alone (a poll that found nothing new).
    pub fn set_folder_state(&self, folder_id: i64, state: FolderState) -> Result<()> {
        self.write(|t| set_state(t, folder_id, state))
    }

    /// UIDs we hold for a folder, ascending (for the UID diff where CONDSTORE is missing).
    pub fn folder_uids(&self, folder_id: i64) -> Result<Vec<u32>> {
        self.read(|c| {
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
    pub fn folder_uids_from(&self, folder_id: i64, from: u32) -> Result<Vec<u32>> {
        self.read(|c| {
            let mut s = c.prepare_cached(
                "SELECT uid FROM message WHERE imap_folder_id = ?1 AND uid >= ?2
                 UNION SELECT uid FROM imap_tombstone WHERE folder_id = ?1 AND uid >= ?2 ORDER BY 1",
            )?;
            let rows = s.query_map(params![folder_id, from], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// Message and unread counts per folder.
    pub fn folder_counts(&self, account: &str) -> Result<Vec<FolderCount>> {
        self.read(|c| {
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

    /// The newest messages of an account, optionally of one folder (by name).
    pub fn list_messages(&self, account: &str, folder: Option<&str>, limit: usize) -> Result<Vec<MessageSummary>> {
        self.read(|c| {
            let mut s = c.prepare_cached(&format!(
                "SELECT {SUMMARY_COLUMNS} FROM message m JOIN folder f ON f.id = m.folder_id
                 WHERE m.account = ?1 AND (?2 IS NULL OR f.name = ?2)
                 ORDER BY m.received_at DESC, m.id DESC LIMIT ?3"
            ))?;
            let rows =
                s.query_map(params![account, folder, limit as i64], summary_row)?.collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    pub fn message_summary(&self, id: i64) -> Result<Option<MessageSummary>> {
        self.read(|c| {
            Ok(c.query_row(
                &format!("SELECT {SUMMARY_COLUMNS} FROM message m JOIN folder f ON f.id = m.folder_id WHERE m.id = ?1"),
                [id],
                summary_row,
            )
            .optional()?)
        })
    }

    /// The raw bytes of a message.
    pub fn message_raw(&self, id: i64) -> Result<Option<Vec<u8>>> {
        self.read(|c| {
            Ok(c.query_row("SELECT b.data FROM message m JOIN blob b ON b.id = m.blob_id WHERE m.id = ?1", [id], |r| {
                r.get(0)
            })
            .map(Some)
            .or_else(ignore_no_rows)?)
        })
    }

    /// Messages of the account received after `since` (unix seconds), oldest first, with the
    /// folder role: what the auto-responder looks at.
    pub fn messages_since(&self, account: &str, after_id: i64, limit: usize) -> Result<Vec<MessageSummary>> {
        self.read(|c| {
            let mut s = c.prepare_cached(&format!(
                "SELECT {SUMMARY_COLUMNS} FROM message m JOIN folder f ON f.id = m.folder_id
                 WHERE m.account = ?1 AND m.id > ?2 ORDER BY m.id LIMIT ?3"
            ))?;
            let rows =
                s.query_map(params![account, after_id, limit as i64], summary_row)?.collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    pub fn record_sync_ok(&self, account: &str) -> Result<()> {
        self.write(|t| {
            t.tx.execute(
                "UPDATE sync_state SET last_sync_at = ?2, last_error = NULL, last_error_at = NULL, auth_failed = 0 WHERE account = ?1",
                params![account, now()],
            )?;
            Ok(())
        })
    }

    /// Record why the last sync failed (shown by `status`). The message must not contain secrets.
    pub fn record_sync_error(&self, account: &str, error: &str, auth_failed: bool) -> Result<()> {
        self.write(|t| {
            t.tx.execute(
                "UPDATE sync_state SET last_error = ?2, last_error_at = ?3, auth_failed = ?4 WHERE account = ?1",
                params![account, error, now(), auth_failed],
            )?;
            Ok(())
        })
    }

    pub fn sync_status(&self, account: &str) -> Result<SyncStatus> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT last_sync_at, last_error, last_error_at, auth_failed FROM sync_state WHERE account = ?1",
                [account],
                |r| {
                    Ok(SyncStatus {
                        last_sync_at: r.get(0)?,
                        last_error: r.get(1)?,
                        last_error_at: r.get(2)?,
                        auth_failed: r.get(3)?,
                    })
                },
            )
            .optional()?
            .unwrap_or_default())
        })
    }

    /// Store a blob (content-addressed) and return its id.
    pub fn put_blob(&self, data: &[u8]) -> Result<i64> {
        self.write(|t| put_blob(t, data))
    }
}

pub(crate) const SUMMARY_COLUMNS: &str =
    "m.id, f.name, m.uid, m.received_at, m.sent_at, m.from_addr, m.to_addr, m.subject,
     m.preview, m.size, m.keywords, m.has_attachment, m.message_id, m.thread_id, m.parse_error";

pub(crate) fn summary_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MessageSummary> {
    Ok(MessageSummary {
        id: r.get(0)?,
        folder: r.get(1)?,
        uid: r.get(2)?,
        received_at: r.get(3)?,
        sent_at: r.get(4)?,
        from: from_json(&r.get::<_, String>(5)?),
        to: from_json(&r.get::<_, String>(6)?),
        subject: r.get(7)?,
        preview: r.get(8)?,
        size: r.get(9)?,
        keywords: from_json(&r.get::<_, String>(10)?),
        has_attachment: r.get(11)?,
        message_id: r.get(12)?,
        thread_id: r.get(13)?,
        parse_error: r.get(14)?,
    })
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

pub(crate) fn ensure_folder(t: &mut Tx<'_>, account: &str, name: &str, role: Option<&str>) -> Result<i64> {
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
pub(crate) fn free_destroyed_name(t: &Tx<'_>, account: &str, name: &str) -> Result<()> {
    t.tx.execute(
        "UPDATE folder SET name = name || ' (destroyed ' || id || ')' WHERE account = ?1 AND name = ?2 AND destroyed = 1",
        params![account, name],
    )?;
    Ok(())
}

/// The live folders below `name` have a new nearest ancestor (a folder of that name came or
/// went): their JMAP `parentId` and `name` changed, so they are logged as updated.
pub(crate) fn log_below(t: &mut Tx<'_>, account: &str, name: &str) -> Result<()> {
    for (id, _) in super::jmap::descendants(t, account, name)? {
        t.log(account, ObjType::Mailbox, id, Op::Updated, None)?;
    }
    Ok(())
}

fn set_state(t: &mut Tx<'_>, folder_id: i64, s: FolderState) -> Result<()> {
    t.tx.prepare_cached(
        "UPDATE folder SET uidvalidity = ?2, uidnext = COALESCE(?3, uidnext), highestmodseq = COALESCE(?4, highestmodseq),
                last_sync_at = ?5 WHERE id = ?1",
    )?
    .execute(params![folder_id, s.uidvalidity, s.uidnext, s.highestmodseq.map(|v| v as i64), now()])?;
    Ok(())
}

pub(crate) fn put_blob(t: &mut Tx<'_>, data: &[u8]) -> Result<i64> {
    let hash = hex::encode(Sha256::digest(data));
    if let Some(id) =
        t.tx.prepare_cached("SELECT id FROM blob WHERE sha256 = ?1")?.query_row([&hash], |r| r.get(0)).optional()?
    {
        return Ok(id);
    }
    t.tx.prepare_cached("INSERT INTO blob (sha256, size, data, created_at) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![hash, data.len() as i64, data, now()])?;
    Ok(t.tx.last_insert_rowid())
}

/// Find or create the thread for a message with these ids, and remember the ids for it.
fn thread_for(t: &mut Tx<'_>, account: &str, p: &Parsed) -> Result<(i64, bool)> {
    let mut ids: Vec<&str> = p.references.iter().chain(p.in_reply_to.iter()).map(String::as_str).collect();
    if let Some(own) = &p.message_id {
        ids.push(own);
    }
    ids.retain(|s| !s.is_empty());
    let mut found: Option<i64> = None;
    {
        let mut s = t.tx.prepare_cached("SELECT thread_id FROM thread_ref WHERE account = ?1 AND msgid = ?2")?;
        for id in &ids {
            if let Some(th) = s.query_row(params![account, id], |r| r.get::<_, i64>(0)).optional()? {
                found = Some(found.map_or(th, |f: i64| f.min(th)));
            }
        }
    }
    let (thread, created) = match found {
        Some(th) => (th, false),
        None => {
            t.tx.prepare_cached("INSERT INTO thread (account) VALUES (?1)")?.execute([account])?;
            (t.tx.last_insert_rowid(), true)
        }
    };
    let mut s =
        t.tx.prepare_cached("INSERT OR IGNORE INTO thread_ref (account, msgid, thread_id) VALUES (?1, ?2, ?3)")?;
    for id in &ids {
        s.execute(params![account, id, thread])?;
    }
    Ok((thread, created))
}

/// Insert one message (or return None if the server copy is already stored or tombstoned).
pub(crate) fn insert_message(
    t: &mut Tx<'_>,
    account: &str,
    folder_id: i64,
    m: &NewMessage,
    p: &Parsed,
) -> Result<Option<i64>> {
    if let Some(uid) = m.uid {
        let exists: Option<i64> =
            t.tx.prepare_cached(
                "SELECT 1 FROM message WHERE imap_folder_id = ?1 AND uid = ?2
                 UNION ALL SELECT 1 FROM imap_tombstone WHERE folder_id = ?1 AND uid = ?2 LIMIT 1",
            )?
            .query_row(params![folder_id, uid], |r| r.get(0))
            .optional()?;
        if exists.is_some() {
            return Ok(None);
        }
    }
    let uidvalidity: Option<u32> =
        t.tx.prepare_cached("SELECT uidvalidity FROM folder WHERE id = ?1")?.query_row([folder_id], |r| r.get(0))?;
    let blob = put_blob(t, &m.raw)?;
    let (thread, thread_created) = thread_for(t, account, p)?;
    t.tx.prepare_cached(
        "INSERT INTO message (account, folder_id, imap_folder_id, uid, uidvalidity, server_modseq, blob_id, thread_id, size,
            received_at, sent_at, message_id, in_reply_to, refs, from_addr, sender_addr, to_addr, cc_addr, bcc_addr,
            reply_to_addr, subject, preview, has_attachment, keywords, parse_error, created_at)
         VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25)",
    )?
    .execute(params![
        account,
        folder_id,
        m.uid,
        uidvalidity,
        m.modseq.map(|v| v as i64),
        blob,
        thread,
        m.raw.len() as i64,
        m.internal_date,
        p.sent_at,
        p.message_id,
        json(&p.in_reply_to),
        json(&p.references),
        json(&p.from),
        json(&p.sender),
        json(&p.to),
        json(&p.cc),
        json(&p.bcc),
        json(&p.reply_to),
        p.subject,
        p.preview,
        p.has_attachment,
        json(&keywords_of(&m.flags)),
        p.problem,
        now(),
    ])?;
    let id = t.tx.last_insert_rowid();
    t.tx.prepare_cached("INSERT INTO message_text (message_id, body) VALUES (?1, ?2)")?
        .execute(params![id, p.search_text])?;
    t.log(account, ObjType::Email, id, Op::Created, Some(thread))?;
    t.log(account, ObjType::Thread, thread, if thread_created { Op::Created } else { Op::Updated }, None)?;
    Ok(Some(id))
}

/// Fill `message_text` for every message stored before it existed (migration 0007), from the
/// raw bytes, in the migration's transaction.
pub(super) fn fill_search_text(tx: &rusqlite::Transaction<'_>) -> Result<()> {
    let total: i64 = tx.query_row("SELECT COUNT(*) FROM message", [], |r| r.get(0))?;
    if total > 0 {
        tracing::info!(messages = total, "filling in the search text of the stored messages (once, at this upgrade)");
    }
    let mut read = tx.prepare(
        "SELECT m.id, b.data FROM message m JOIN blob b ON b.id = m.blob_id
         WHERE NOT EXISTS (SELECT 1 FROM message_text t WHERE t.message_id = m.id)",
    )?;
    let mut write = tx.prepare("INSERT INTO message_text (message_id, body) VALUES (?1, ?2)")?;
    let mut rows = read.query([])?;
    let mut n = 0;
    while let Some(r) = rows.next()? {
        let (id, raw): (i64, Vec<u8>) = (r.get(0)?, r.get(1)?);
        write.execute(params![id, crate::message::parse(&raw).search_text])?;
        n += 1;
    }
    if n > 0 {
        tracing::info!(messages = n, "search text filled in for the messages stored before");
    }
    Ok(())
}

fn destroy_message(t: &mut Tx<'_>, account: &str, id: i64, thread: i64, visible_folder: i64) -> Result<()> {
    t.tx.prepare_cached("DELETE FROM message WHERE id = ?1")?.execute([id])?;
    t.log(account, ObjType::Email, id, Op::Destroyed, Some(thread))?;
    let left: i64 =
        t.tx.prepare_cached("SELECT COUNT(*) FROM message WHERE thread_id = ?1")?.query_row([thread], |r| r.get(0))?;
    t.log(account, ObjType::Thread, thread, if left == 0 { Op::Destroyed } else { Op::Updated }, None)?;
    t.log(account, ObjType::Mailbox, visible_folder, Op::CountsOnly, None)?;
    Ok(())
}

fn destroy_messages_where(t: &mut Tx<'_>, account: &str, cond: &str, folder_id: i64) -> Result<usize> {
    let rows: Vec<(i64, i64, i64)> = {
        let mut s = t.tx.prepare(&format!("SELECT id, thread_id, folder_id FROM message WHERE {cond}"))?;
        s.query_map([folder_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<rusqlite::Result<_>>()?
    };
    for (id, thread, visible) in &rows {
        destroy_message(t, account, *id, *thread, *visible)?;
    }
    Ok(rows.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        crate::store::test_store()
    }

    fn msg(uid: u32, id: &str, refs: &str, flags: &[&str]) -> NewMessage {
        NewMessage {
            uid: Some(uid),
            modseq: None,
            flags: flags.iter().map(|s| s.to_string()).collect(),
            internal_date: 1_790_000_000 + uid as i64,
            raw: format!("From: Kunde <k@kunde.test>\r\nMessage-ID: <{id}>\r\nReferences: {refs}\r\nSubject: m{uid}\r\n\r\nbody {uid}\r\n").into_bytes(),
        }
    }

    #[test]
    fn insert_is_idempotent_and_threads_by_references() {
        let (_d, s) = store();
        let f = s.ensure_folder("becker", "INBOX", Some("inbox")).unwrap();
        let st = FolderState { uidvalidity: 7, uidnext: Some(3), highestmodseq: Some(5) };
        let ids = s
            .insert_messages(
                "becker",
                f.id,
                vec![msg(1, "a@x", "", &[]), msg(2, "b@x", "<a@x>", &["\\Seen"])],
                Some(st),
            )
            .unwrap();
        assert_eq!(ids.len(), 2);
        // resuming after a crash fetches the same UIDs again: nothing new
        let again = s.insert_messages("becker", f.id, vec![msg(2, "b@x", "<a@x>", &["\\Seen"])], Some(st)).unwrap();
        assert!(again.is_empty());
        let list = s.list_messages("becker", None, 10).unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].thread_id, list[1].thread_id, "a reply joins its parent's thread");
        assert_eq!(list[0].keywords, vec!["$seen"]);
        let f = s.folder_by_name("becker", "INBOX").unwrap().unwrap();
        assert_eq!((f.uidvalidity, f.uidnext, f.highestmodseq), (Some(7), Some(3), Some(5)));
        let counts = s.folder_counts("becker").unwrap();
        assert_eq!((counts[0].total, counts[0].unread), (2, 1));
    }

    #[test]
    fn flags_merge_with_pending_local_changes_and_expunge_destroys() {
        let (_d, s) = store();
        let f = s.ensure_folder("becker", "INBOX", Some("inbox")).unwrap();
        let ids = s.insert_messages("becker", f.id, vec![msg(1, "a@x", "", &[])], None).unwrap();
        // a phone flagged it; the server meanwhile marked it seen
        s.write(|t| {
            t.tx.execute("INSERT INTO keyword_pending (message_id, keyword, op) VALUES (?1, '$flagged', 1)", [ids[0]])?;
            Ok(())
        })
        .unwrap();
        let n = s.apply_flags("becker", f.id, &[(1, vec!["\\Seen".into()])], None).unwrap();
        assert_eq!(n, 1);
        assert_eq!(s.message_summary(ids[0]).unwrap().unwrap().keywords, vec!["$flagged", "$seen"]);
        let before = s.account_state("becker").unwrap().unwrap().0;
        assert_eq!(s.expunge_uids("becker", f.id, &[1], None).unwrap(), 1);
        assert!(s.message_summary(ids[0]).unwrap().is_none());
        assert!(s.account_state("becker").unwrap().unwrap().0 > before);
    }

    #[test]
    fn uidvalidity_reset_forgets_server_copies() {
        let (_d, s) = store();
        let f = s.ensure_folder("becker", "Archive", Some("archive")).unwrap();
        s.insert_messages(
            "becker",
            f.id,
            vec![msg(1, "a@x", "", &[]), msg(2, "b@x", "", &[])],
            Some(FolderState { uidvalidity: 1, ..Default::default() }),
        )
        .unwrap();
        assert_eq!(s.reset_folder(f.id, 2).unwrap(), 2);
        assert!(s.folder_uids(f.id).unwrap().is_empty());
        let ids = s.insert_messages("becker", f.id, vec![msg(1, "a@x", "", &[])], None).unwrap();
        assert_eq!(ids.len(), 1);
        assert_eq!(s.list_messages("becker", Some("Archive"), 10).unwrap().len(), 1);
    }
}
