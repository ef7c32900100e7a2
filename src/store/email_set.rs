//! What devices write to the messages: `Email/set` keyword changes, moves and destroys, and
//! messages made on a device (drafts, imports).
//!
//! Each change is visible at once, logged under the account's modseq and queued for IMAP in
//! the same transaction. A keyword change leaves pending rows that the mirror lays over the
//! server's flags until the STORE is confirmed; a destroyed server copy leaves a tombstone so
//! that the mirror does not fetch it again as new mail. Nothing is changed unless all of an
//! update is valid. This file adds the writes to the `store.emails()` handle.

use rusqlite::{OptionalExtension, params};

use super::email_query::Emails;
use super::messages::{NewMessage, insert_message};
use super::writeback::queue;
use super::{ObjType, Op, Result, StoreError, Tx};

/// Why one object of a `/set` call was not changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetFailure {
    NotFound,
    MailboxHasChild,
    /// The property that is wrong, and why.
    Invalid(&'static str, String),
    MailboxHasEmail,
    Forbidden(String),
    AlreadyExists(String),
}

/// One update of `Email/set`: the complete new keyword set and/or the new mailbox.
#[derive(Debug, Clone, Default)]
pub struct EmailChange {
    pub keywords: Option<Vec<String>>,
    pub folder: Option<i64>,
}

/// A patch of an email's keywords given as per-keyword set/unset (`keywords/$seen: true`),
/// or the complete set.
#[derive(Debug, Clone)]
pub enum KeywordPatch {
    Replace(Vec<String>),
    Set(Vec<(String, bool)>),
}

#[derive(Debug, Clone, Default)]
pub struct EmailUpdate {
    pub keywords: Option<KeywordPatch>,
    /// Where the email must end up (one mailbox per email).
    pub folder: Option<MailboxPatch>,
}

#[derive(Debug, Clone)]
pub enum MailboxPatch {
    Replace(Vec<i64>),
    Set(Vec<(i64, bool)>),
}

/// A created email, as `Email/set` and `Email/import` report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Created {
    pub id: i64,
    pub blob_id: i64,
    pub thread_id: i64,
    pub size: i64,
}

/// The outcome of one write call: `None` if the account's state did not match `if_in_state`.
pub type Guarded<T> = Option<T>;

fn folder_of_account(t: &Tx<'_>, account: &str, folder: i64) -> Result<bool> {
    Ok(t.tx
        .prepare_cached("SELECT 1 FROM folder WHERE id = ?1 AND account = ?2 AND destroyed = 0")?
        .query_row(params![folder, account], |_| Ok(()))
        .optional()?
        .is_some())
}

fn type_modseq(t: &Tx<'_>, account: &str, ty: ObjType) -> Result<i64> {
    Ok(t.tx
        .query_row("SELECT modseq FROM type_state WHERE account = ?1 AND type = ?2", params![account, ty as i64], |r| {
            r.get(0)
        })
        .optional()?
        .unwrap_or(0))
}

/// Keywords are case-insensitive and returned lowercase (RFC 8621 section 4.1.1).
fn valid_keyword(k: &str) -> bool {
    !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| (0x21..0x7f).contains(&b) && !b"()\\{]%*\"".contains(&b))
}

impl Emails<'_> {
    /// Apply `Email/set` updates and destroys in one transaction: each change is visible at
    /// once, logged, and queued for IMAP. `if_in_state` is the Email modseq the client
    /// expects. Returns per update and per destroy the outcome.
    #[allow(clippy::type_complexity)]
    pub fn set(
        &self,
        account: &str,
        if_in_state: Option<i64>,
        updates: &[(i64, EmailUpdate)],
        destroys: &[i64],
    ) -> Result<Guarded<(Vec<std::result::Result<(), SetFailure>>, Vec<std::result::Result<(), SetFailure>>)>> {
        self.0.write(|t| {
            if let Some(s) = if_in_state
                && type_modseq(t, account, ObjType::Email)? != s
            {
                return Ok(None);
            }
            let mut up = Vec::new();
            for (id, u) in updates {
                up.push(update_email(t, account, *id, u)?);
            }
            let mut de = Vec::new();
            for id in destroys {
                de.push(destroy_email(t, account, *id)?);
            }
            Ok(Some((up, de)))
        })
    }

    /// Store a message made on a device (a draft, an import) in `folder`, queue its APPEND.
    pub fn create(
        &self,
        account: &str,
        folder: i64,
        raw: Vec<u8>,
        keywords: &[String],
        received_at: i64,
    ) -> Result<std::result::Result<Created, SetFailure>> {
        let parsed = crate::message::parse(&raw);
        self.0.write(|t| create_in(t, account, folder, raw, parsed, keywords, received_at))
    }
}

/// [`Emails::create`] inside a caller's transaction (`parsed` is `raw` parsed).
pub(super) fn create_in(
    t: &mut Tx<'_>,
    account: &str,
    folder: i64,
    raw: Vec<u8>,
    parsed: crate::message::Parsed,
    keywords: &[String],
    received_at: i64,
) -> Result<std::result::Result<Created, SetFailure>> {
    if !folder_of_account(t, account, folder)? {
        return Ok(Err(SetFailure::Invalid("mailboxIds", "no such mailbox".into())));
    }
    if let Some(bad) = keywords.iter().find(|k| !valid_keyword(k)) {
        return Ok(Err(SetFailure::Invalid("keywords", format!("\"{bad}\" is not a valid keyword"))));
    }
    let m = NewMessage {
        uid: None,
        modseq: None,
        flags: keywords.iter().map(|k| k.to_lowercase()).collect(),
        internal_date: received_at,
        raw,
    };
    let size = m.raw.len() as i64;
    let id = insert_message(t, account, folder, m, parsed)?
        .ok_or_else(|| StoreError::Other("a local message cannot exist already".into()))?;
    let (blob_id, thread_id): (i64, i64) =
        t.tx.query_row("SELECT blob_id, thread_id FROM message WHERE id = ?1", [id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    t.log(account, ObjType::Mailbox, folder, Op::CountsOnly, None)?;
    queue(t, account, "append", Some(id), None, None, None, None)?;
    Ok(Ok(Created { id, blob_id, thread_id, size }))
}

impl Emails<'_> {
    /// Message `copy` was made by Email/copy from `original` (of another account): if the
    /// original is destroyed (`onSuccessDestroyOriginal`), its expunge waits for the copy's
    /// APPEND.
    pub fn copied_from(&self, copy: i64, original: i64) -> Result<()> {
        self.0.write(|t| copied_from(t, copy, original))
    }
}

/// `copy` was made from `original` in another account, which is about to be destroyed: its
/// expunge on the server waits for the copy's APPEND (and is undone if that is given up).
pub(super) fn copied_from(t: &mut Tx<'_>, copy: i64, original: i64) -> Result<()> {
    t.tx.execute("INSERT OR REPLACE INTO copy_origin (copy_id, original_id) VALUES (?1, ?2)", params![copy, original])?;
    Ok(())
}

pub(super) fn update_email(
    t: &mut Tx<'_>,
    account: &str,
    id: i64,
    u: &EmailUpdate,
) -> Result<std::result::Result<(), SetFailure>> {
    let row: Option<(i64, String, i64)> =
        t.tx.prepare_cached("SELECT folder_id, keywords, thread_id FROM message WHERE id = ?1 AND account = ?2")?
            .query_row(params![id, account], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
    let Some((folder, old_kw, thread)) = row else { return Ok(Err(SetFailure::NotFound)) };
    let old_kw: Vec<String> = serde_json::from_str(&old_kw).unwrap_or_default();

    // Work out the new state first; change nothing unless all of it is valid.
    let new_kw: Option<Vec<String>> = match &u.keywords {
        None => None,
        Some(KeywordPatch::Replace(all)) => Some(all.iter().map(|k| k.to_lowercase()).collect()),
        Some(KeywordPatch::Set(pairs)) => {
            let mut kw = old_kw.clone();
            for (k, on) in pairs {
                let k = k.to_lowercase();
                kw.retain(|x| *x != k);
                if *on {
                    kw.push(k);
                }
            }
            Some(kw)
        }
    };
    if let Some(kw) = &new_kw
        && let Some(bad) = kw.iter().find(|k| !valid_keyword(k))
    {
        return Ok(Err(SetFailure::Invalid("keywords", format!("\"{bad}\" is not a valid keyword"))));
    }
    let new_folder: Option<i64> = match &u.folder {
        None => None,
        Some(p) => {
            let set: Vec<i64> = match p {
                MailboxPatch::Replace(ids) => ids.clone(),
                MailboxPatch::Set(pairs) => {
                    let mut s = vec![folder];
                    for (f, on) in pairs {
                        s.retain(|x| x != f);
                        if *on {
                            s.push(*f);
                        }
                    }
                    s
                }
            };
            match set.as_slice() {
                [one] => {
                    if !folder_of_account(t, account, *one)? {
                        return Ok(Err(SetFailure::Invalid("mailboxIds", "no such mailbox".into())));
                    }
                    Some(*one)
                }
                [] => return Ok(Err(SetFailure::Invalid("mailboxIds", "an email must be in a mailbox".into()))),
                _ => {
                    return Ok(Err(SetFailure::Invalid(
                        "mailboxIds",
                        "an email is in exactly one mailbox here (maxMailboxesPerEmail 1)".into(),
                    )));
                }
            }
        }
    };

    let mut changed = false;
    if let Some(mut kw) = new_kw {
        kw.sort();
        kw.dedup();
        let mut old_sorted = old_kw.clone();
        old_sorted.sort();
        if kw != old_sorted {
            let added: Vec<&String> = kw.iter().filter(|k| !old_sorted.contains(k)).collect();
            let removed: Vec<&String> = old_sorted.iter().filter(|k| !kw.contains(k)).collect();
            {
                // The pending rows make the mirror keep this change on top of whatever the
                // server says until the STORE is confirmed. For a message not yet appended the
                // STORE waits behind the APPEND (an APPEND already under way may carry the old
                // keywords).
                let mut s = t.tx.prepare_cached(
                    "INSERT INTO keyword_pending (message_id, keyword, op) VALUES (?1, ?2, ?3)
                     ON CONFLICT(message_id, keyword) DO UPDATE SET op = excluded.op",
                )?;
                for k in &added {
                    s.execute(params![id, k, 1])?;
                }
                for k in &removed {
                    s.execute(params![id, k, 0])?;
                }
            }
            t.tx.prepare_cached("UPDATE message SET keywords = ?2 WHERE id = ?1")?
                .execute(params![id, serde_json::to_string(&kw).unwrap_or_else(|_| "[]".into())])?;
            queue(t, account, "flags", Some(id), None, None, None, None)?;
            t.log(account, ObjType::Mailbox, folder, Op::CountsOnly, None)?;
            changed = true;
        }
    }
    if let Some(nf) = new_folder
        && nf != folder
    {
        t.tx.prepare_cached("UPDATE message SET folder_id = ?2 WHERE id = ?1")?.execute(params![id, nf])?;
        // Queued even for a message not yet appended: an APPEND under way goes to the old
        // folder, and the MOVE then follows it.
        queue(t, account, "move", Some(id), None, None, None, None)?;
        t.log(account, ObjType::Mailbox, folder, Op::CountsOnly, None)?;
        t.log(account, ObjType::Mailbox, nf, Op::CountsOnly, None)?;
        changed = true;
    }
    if changed {
        t.log(account, ObjType::Email, id, Op::Updated, Some(thread))?;
    }
    Ok(Ok(()))
}

pub(super) fn destroy_email(t: &mut Tx<'_>, account: &str, id: i64) -> Result<std::result::Result<(), SetFailure>> {
    let row: Option<(i64, i64, i64, Option<i64>)> = t
        .tx
        .prepare_cached("SELECT folder_id, thread_id, imap_folder_id, uid FROM message WHERE id = ?1 AND account = ?2")?
        .query_row(params![id, account], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()?;
    let Some((folder, thread, imap_folder, uid)) = row else { return Ok(Err(SetFailure::NotFound)) };
    if let Some(uid) = uid {
        // The tombstone keeps the mirror from fetching the server copy again as new mail
        // until the expunge is confirmed.
        t.tx.prepare_cached("INSERT OR IGNORE INTO imap_tombstone (folder_id, uid) VALUES (?1, ?2)")?
            .execute(params![imap_folder, uid])?;
        queue(t, account, "expunge", None, Some(imap_folder), Some(uid), None, None)?;
        // A message copied to another account (Email/copy) leaves its server only once the
        // copy's APPEND is done; if that is given up, this expunge goes with it.
        let append: Option<i64> =
            t.tx.prepare_cached(
                "SELECT w.id FROM copy_origin c JOIN writeback_op w ON w.message_id = c.copy_id AND w.kind = 'append'
                 WHERE c.original_id = ?1 ORDER BY w.id LIMIT 1",
            )?
            .query_row([id], |r| r.get(0))
            .optional()?;
        if let Some(append) = append {
            let expunge = t.tx.last_insert_rowid();
            t.tx.execute("UPDATE writeback_op SET waits_for = ?2 WHERE id = ?1", params![expunge, append])?;
        }
    }
    t.tx.prepare_cached("DELETE FROM copy_origin WHERE original_id = ?1")?.execute([id])?;
    // A pending APPEND or STORE of this message is moot now.
    t.tx.prepare_cached("DELETE FROM writeback_op WHERE message_id = ?1")?.execute([id])?;
    t.tx.prepare_cached("DELETE FROM message WHERE id = ?1")?.execute([id])?;
    t.log(account, ObjType::Email, id, Op::Destroyed, Some(thread))?;
    let left: i64 =
        t.tx.prepare_cached("SELECT COUNT(*) FROM message WHERE thread_id = ?1")?.query_row([thread], |r| r.get(0))?;
    t.log(account, ObjType::Thread, thread, if left == 0 { Op::Destroyed } else { Op::Updated }, None)?;
    t.log(account, ObjType::Mailbox, folder, Op::CountsOnly, None)?;
    Ok(Ok(()))
}
