//! The message table as the mirror fills it: messages, their threads and search text, and the
//! tombstones of UIDs a device destroyed.
//!
//! Every function that changes something a device sees logs it under the account's modseq in
//! the same transaction. Inserting is idempotent on `(imap_folder_id, uid)`: a sync that is
//! interrupted and resumed never stores a message twice. Each batch carries the folder's new
//! server state, written in the batch's transaction. Reached as `store.messages()`; what
//! devices read and write is in `email_query.rs` and `email_set.rs`.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::blobs::{blob_hash, put_hashed_blob};
use super::folders::{FolderState, destroy_message, set_state};
use super::{ObjType, Op, Result, Store, Tx, ignore_no_rows, now, search_text};
use crate::message::{self, EmailAddress, Parsed};

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

/// The message table, reached as `store.messages()`.
#[derive(Clone, Copy)]
pub struct Messages<'a>(&'a Store);

impl Store {
    /// The messages the mirror keeps.
    pub fn messages(&self) -> Messages<'_> {
        Messages(self)
    }
}

impl Messages<'_> {
    /// Store a batch of fetched messages and, in the same transaction, the folder's new state.
    /// Returns the ids of the messages that were new (a UID already stored is skipped). The
    /// mirror prepares and inserts its batches in two stages ([`prepare`], `insert_ready`);
    /// this is both at once, for tests.
    #[cfg(test)]
    pub fn insert(
        &self,
        account: &str,
        folder_id: i64,
        batch: Vec<NewMessage>,
        state: Option<FolderState>,
    ) -> Result<Vec<i64>> {
        self.insert_ready(account, folder_id, prepare(batch), state)
    }

    /// [`Messages::insert`] of a batch already [`prepare`]d: only the SQL is left to do, so the
    /// write lock is held for that alone.
    pub fn insert_ready(
        &self,
        account: &str,
        folder_id: i64,
        batch: Vec<Ready>,
        state: Option<FolderState>,
    ) -> Result<Vec<i64>> {
        self.0.write(|t| {
            let mut ids = Vec::new();
            let uidvalidity = folder_uidvalidity(t, folder_id)?;
            for r in &batch {
                if let Some(id) = insert_ready(t, account, folder_id, uidvalidity, r)? {
                    ids.push(id);
                }
            }
            if !ids.is_empty() {
                // Each message was logged without moving its type's state: move it once.
                t.touch(account, ObjType::Email)?;
                t.touch(account, ObjType::Thread)?;
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
        self.0.write(|t| {
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
    pub fn expunge(&self, account: &str, folder_id: i64, uids: &[u32], state: Option<FolderState>) -> Result<usize> {
        self.0.write(|t| {
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

    /// The newest messages of an account, optionally of one folder (by name).
    pub fn list(&self, account: &str, folder: Option<&str>, limit: usize) -> Result<Vec<MessageSummary>> {
        self.0.read(|c| {
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

    pub fn summary(&self, id: i64) -> Result<Option<MessageSummary>> {
        self.0.read(|c| {
            Ok(c.query_row(
                &format!("SELECT {SUMMARY_COLUMNS} FROM message m JOIN folder f ON f.id = m.folder_id WHERE m.id = ?1"),
                [id],
                summary_row,
            )
            .optional()?)
        })
    }

    /// The mirrored messages of an account with this Message-ID (without angle brackets), with
    /// their folder's role: the evidence that a message went out (a copy in Sent).
    pub fn with_message_id(&self, account: &str, message_id: &str) -> Result<Vec<(Option<String>, MessageSummary)>> {
        self.0.read(|c| {
            let mut s = c.prepare_cached(&format!(
                "SELECT {SUMMARY_COLUMNS}, f.role FROM message m JOIN folder f ON f.id = m.folder_id
                 WHERE m.account = ?1 AND m.message_id = ?2 ORDER BY m.id"
            ))?;
            let rows = s
                .query_map(params![account, message_id], |r| Ok((r.get(15)?, summary_row(r)?)))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// The raw bytes of a message.
    pub fn raw(&self, id: i64) -> Result<Option<Vec<u8>>> {
        self.0.read(|c| {
            Ok(c.query_row("SELECT b.data FROM message m JOIN blob b ON b.id = m.blob_id WHERE m.id = ?1", [id], |r| {
                r.get(0)
            })
            .map(Some)
            .or_else(ignore_no_rows)?)
        })
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

/// A message made ready for the store before the write lock is taken: parsed, its blob hashed,
/// its search text packed and its JSON columns written. This is the CPU-heavy part of an
/// insert; the mirror does it on another thread while the batch before is being written.
pub struct Ready {
    m: NewMessage,
    /// The parsed fields, without the search text (that is in `search`).
    p: Parsed,
    hash: String,
    /// The search text as `message_text` keeps it ([`search_text::pack`]).
    search: Vec<u8>,
    /// in_reply_to, references, from, sender, to, cc, bcc, reply_to, keywords: as JSON.
    json: [String; 9],
}

/// Parse, hash and serialize a batch of fetched messages (no store access).
pub fn prepare(batch: Vec<NewMessage>) -> Vec<Ready> {
    batch
        .into_iter()
        .map(|m| {
            let p = message::parse(&m.raw);
            ready(m, p)
        })
        .collect()
}

fn ready(m: NewMessage, mut p: Parsed) -> Ready {
    let search = search_text::pack(&std::mem::take(&mut p.search_text));
    let json = [
        json(&p.in_reply_to),
        json(&p.references),
        json(&p.from),
        json(&p.sender),
        json(&p.to),
        json(&p.cc),
        json(&p.bcc),
        json(&p.reply_to),
        json(&keywords_of(&m.flags)),
    ];
    Ready { hash: blob_hash(&m.raw), m, p, search, json }
}

fn folder_uidvalidity(t: &mut Tx<'_>, folder_id: i64) -> Result<Option<u32>> {
    Ok(t.tx.prepare_cached("SELECT uidvalidity FROM folder WHERE id = ?1")?.query_row([folder_id], |r| r.get(0))?)
}

/// Insert one message (or return None if the server copy is already stored or tombstoned).
pub(crate) fn insert_message(
    t: &mut Tx<'_>,
    account: &str,
    folder_id: i64,
    m: NewMessage,
    p: Parsed,
) -> Result<Option<i64>> {
    let uidvalidity = folder_uidvalidity(t, folder_id)?;
    let r = ready(m, p);
    let id = insert_ready(t, account, folder_id, uidvalidity, &r)?;
    if id.is_some() {
        t.touch(account, ObjType::Email)?;
        t.touch(account, ObjType::Thread)?;
    }
    Ok(id)
}

/// Insert one prepared message with the folder's `uidvalidity`, logging it and its thread
/// without moving their types' states (the caller touches Email and Thread once).
fn insert_ready(
    t: &mut Tx<'_>,
    account: &str,
    folder_id: i64,
    uidvalidity: Option<u32>,
    r: &Ready,
) -> Result<Option<i64>> {
    let (m, p) = (&r.m, &r.p);
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
    let blob = put_hashed_blob(t, &r.hash, &m.raw)?;
    let (thread, thread_created) = thread_for(t, account, p)?;
    let [in_reply_to, refs, from, sender, to, cc, bcc, reply_to, keywords] = &r.json;
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
        in_reply_to,
        refs,
        from,
        sender,
        to,
        cc,
        bcc,
        reply_to,
        p.subject,
        p.preview,
        p.has_attachment,
        keywords,
        p.problem,
        now(),
    ])?;
    let id = t.tx.last_insert_rowid();
    t.tx.prepare_cached("INSERT INTO message_text (message_id, body) VALUES (?1, ?2)")?
        .execute(params![id, r.search])?;
    t.log_entry(account, ObjType::Email, id, Op::Created, Some(thread))?;
    t.log_entry(account, ObjType::Thread, thread, if thread_created { Op::Created } else { Op::Updated }, None)?;
    Ok(Some(id))
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
        let f = s.folders().ensure("becker", "INBOX", Some("inbox")).unwrap();
        let st = FolderState { uidvalidity: 7, uidnext: Some(3), highestmodseq: Some(5) };
        let ids = s
            .messages()
            .insert("becker", f.id, vec![msg(1, "a@x", "", &[]), msg(2, "b@x", "<a@x>", &["\\Seen"])], Some(st))
            .unwrap();
        assert_eq!(ids.len(), 2);
        // resuming after a crash fetches the same UIDs again: nothing new
        let again = s.messages().insert("becker", f.id, vec![msg(2, "b@x", "<a@x>", &["\\Seen"])], Some(st)).unwrap();
        assert!(again.is_empty());
        let list = s.messages().list("becker", None, 10).unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].thread_id, list[1].thread_id, "a reply joins its parent's thread");
        assert_eq!(list[0].keywords, vec!["$seen"]);
        let f = s.folders().by_name("becker", "INBOX").unwrap().unwrap();
        assert_eq!((f.uidvalidity, f.uidnext, f.highestmodseq), (Some(7), Some(3), Some(5)));
        let counts = s.folders().counts("becker").unwrap();
        assert_eq!((counts[0].total, counts[0].unread), (2, 1));
    }

    #[test]
    fn flags_merge_with_pending_local_changes_and_expunge_destroys() {
        let (_d, s) = store();
        let f = s.folders().ensure("becker", "INBOX", Some("inbox")).unwrap();
        let ids = s.messages().insert("becker", f.id, vec![msg(1, "a@x", "", &[])], None).unwrap();
        // a phone flagged it; the server meanwhile marked it seen
        s.write(|t| {
            t.tx.execute("INSERT INTO keyword_pending (message_id, keyword, op) VALUES (?1, '$flagged', 1)", [ids[0]])?;
            Ok(())
        })
        .unwrap();
        let n = s.messages().apply_flags("becker", f.id, &[(1, vec!["\\Seen".into()])], None).unwrap();
        assert_eq!(n, 1);
        assert_eq!(s.messages().summary(ids[0]).unwrap().unwrap().keywords, vec!["$flagged", "$seen"]);
        let before = s.account_state("becker").unwrap().unwrap().0;
        assert_eq!(s.messages().expunge("becker", f.id, &[1], None).unwrap(), 1);
        assert!(s.messages().summary(ids[0]).unwrap().is_none());
        assert!(s.account_state("becker").unwrap().unwrap().0 > before);
    }

    #[test]
    fn uidvalidity_reset_forgets_server_copies() {
        let (_d, s) = store();
        let f = s.folders().ensure("becker", "Archive", Some("archive")).unwrap();
        s.messages()
            .insert(
                "becker",
                f.id,
                vec![msg(1, "a@x", "", &[]), msg(2, "b@x", "", &[])],
                Some(FolderState { uidvalidity: 1, ..Default::default() }),
            )
            .unwrap();
        assert_eq!(s.folders().reset(f.id, 2).unwrap(), 2);
        assert!(s.folders().uids(f.id).unwrap().is_empty());
        let ids = s.messages().insert("becker", f.id, vec![msg(1, "a@x", "", &[])], None).unwrap();
        assert_eq!(ids.len(), 1);
        assert_eq!(s.messages().list("becker", Some("Archive"), 10).unwrap().len(), 1);
    }
}
