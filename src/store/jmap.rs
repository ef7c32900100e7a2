//! The SQL behind the JMAP server and the write-back queue.
//!
//! Devices and their hashed tokens, per-type states and the coalesced change log that
//! `/changes` answers from, the message-list queries of `Email/query`, the writes a device
//! makes (each logged under the account's modseq and queued for IMAP in the same
//! transaction), uploaded blobs and the daily purge. This file knows nothing about JSON or
//! HTTP: the `jmap` module turns requests into the plain types below. It never talks to IMAP;
//! `writeback` reads the queue from here and reports back what the server confirmed.

use std::collections::{BTreeMap, HashMap, HashSet};

use rusqlite::types::Value;
use rusqlite::{OptionalExtension, params, params_from_iter};

use super::messages::{NewMessage, ensure_folder, insert_message, put_blob};
use super::{ObjType, Op, Result, Store, StoreError, Tx, now};
use crate::message::EmailAddress;

// ---------------------------------------------------------------------------------------------
// Devices

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub id: i64,
    pub mailbox: String,
    pub name: String,
    pub grants: Vec<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

fn device_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Device> {
    Ok(Device {
        id: r.get(0)?,
        mailbox: r.get(1)?,
        name: r.get(2)?,
        grants: serde_json::from_str(&r.get::<_, String>(3)?).unwrap_or_default(),
        created_at: r.get(4)?,
        last_used_at: r.get(5)?,
        revoked_at: r.get(6)?,
    })
}

const DEVICE_COLUMNS: &str = "id, mailbox, name, grants, created_at, last_used_at, revoked_at";

/// How long a device's `last_used_at` may lag behind (so authentication is not a write per request).
const LAST_USED_GRANULARITY: i64 = 60;

impl Store {
    /// Register a device; `token_sha256` is the hex SHA-256 of the token shown to the user.
    pub fn add_device(&self, mailbox: &str, name: &str, grants: &[String], token_sha256: &str) -> Result<i64> {
        self.write(|t| {
            t.tx.execute(
                "INSERT INTO device (mailbox, name, token_sha256, grants, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    mailbox,
                    name,
                    token_sha256,
                    serde_json::to_string(grants).unwrap_or_else(|_| "[]".into()),
                    now()
                ],
            )?;
            Ok(t.tx.last_insert_rowid())
        })
    }

    pub fn devices(&self) -> Result<Vec<Device>> {
        self.read(|c| {
            let mut s = c.prepare(&format!("SELECT {DEVICE_COLUMNS} FROM device ORDER BY id"))?;
            let rows = s.query_map([], device_row)?.collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// Revoke a device. Returns false if there is no such device or it was already revoked.
    pub fn revoke_device(&self, id: i64) -> Result<bool> {
        self.write(|t| {
            Ok(t.tx.execute(
                "UPDATE device SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![id, now()],
            )? == 1)
        })
    }

    /// The live (not revoked) device whose token hashes to `token_sha256`; notes the use.
    pub fn device_by_token(&self, token_sha256: &str) -> Result<Option<Device>> {
        let dev = self.read(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {DEVICE_COLUMNS} FROM device WHERE token_sha256 = ?1 AND revoked_at IS NULL"
            ))?
            .query_row([token_sha256], device_row)
            .optional()?)
        })?;
        if let Some(d) = &dev
            && d.last_used_at.is_none_or(|t| now() - t > LAST_USED_GRANULARITY)
        {
            self.write(|t| {
                t.tx.execute("UPDATE device SET last_used_at = ?2 WHERE id = ?1", params![d.id, now()])?;
                Ok(())
            })?;
        }
        Ok(dev)
    }
}

// ---------------------------------------------------------------------------------------------
// States and changes

/// The account's epoch and, per type, (modseq, low_modseq). Types never touched are absent.
#[derive(Debug, Clone, Default)]
pub struct AccountStates {
    pub epoch: String,
    pub types: HashMap<ObjType, (i64, i64)>,
}

impl AccountStates {
    pub fn modseq(&self, ty: ObjType) -> i64 {
        self.types.get(&ty).map_or(0, |s| s.0)
    }
    pub fn low(&self, ty: ObjType) -> i64 {
        self.types.get(&ty).map_or(0, |s| s.1)
    }
}

/// What changed for one type between two modseqs, coalesced per object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub created: Vec<i64>,
    pub updated: Vec<i64>,
    pub destroyed: Vec<i64>,
    /// The modseq the answer brings the client to.
    pub new_modseq: i64,
    pub has_more: bool,
    /// Every update in the range was a counts-only update (Mailbox).
    pub counts_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangesError {
    /// `since` is older than the retained log.
    TooOld,
    /// One transaction alone changed more objects than `max` allows.
    TooMany,
}

impl Store {
    pub fn account_states(&self, account: &str) -> Result<Option<AccountStates>> {
        self.read(|c| account_states(c, account))
    }

    /// Changes of `ty` after `since`, at most `max` distinct objects, ending at a modseq
    /// boundary so that paging can never report an object created after it was updated.
    pub fn changes(
        &self,
        account: &str,
        ty: ObjType,
        since: i64,
        max: usize,
    ) -> Result<std::result::Result<Changes, ChangesError>> {
        self.read(|c| {
            let (current, low): (i64, i64) = c
                .query_row("SELECT modseq, low_modseq FROM type_state WHERE account = ?1 AND type = ?2", params![account, ty as i64], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?
                .unwrap_or((0, 0));
            if since < low || since > current {
                return Ok(Err(ChangesError::TooOld));
            }
            if since == current {
                return Ok(Ok(Changes { new_modseq: since, counts_only: true, ..Default::default() }));
            }
            let mut s = c.prepare_cached(
                "SELECT modseq, object_id, op FROM change_log WHERE account = ?1 AND type = ?2 AND modseq > ?3 AND modseq <= ?4
                 ORDER BY modseq, object_id",
            )?;
            let mut rows = s.query(params![account, ty as i64, since, current])?;
            // Per object: (created, destroyed, any non-counts update); in first-seen order.
            let mut objs: Vec<i64> = Vec::new();
            let mut state: HashMap<i64, (bool, bool, bool)> = HashMap::new();
            let mut group: Vec<(i64, i64)> = Vec::new();
            let mut group_modseq = None;
            let mut end = since;
            let mut truncated = false;
            let flush = |group: &mut Vec<(i64, i64)>, objs: &mut Vec<i64>, state: &mut HashMap<i64, (bool, bool, bool)>| -> bool {
                let new: HashSet<i64> = group.iter().map(|g| g.0).filter(|o| !state.contains_key(o)).collect();
                if objs.len() + new.len() > max {
                    return false;
                }
                for (obj, op) in group.drain(..) {
                    let e = state.entry(obj).or_insert_with(|| {
                        objs.push(obj);
                        (false, false, false)
                    });
                    match op {
                        0 => e.0 = true,
                        2 => e.1 = true,
                        1 => e.2 = true,
                        _ => {}
                    }
                }
                true
            };
            while let Some(r) = rows.next()? {
                let (m, obj, op): (i64, i64, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
                if group_modseq != Some(m) {
                    if let Some(gm) = group_modseq {
                        if !flush(&mut group, &mut objs, &mut state) {
                            truncated = true;
                            break;
                        }
                        end = gm;
                    }
                    group_modseq = Some(m);
                }
                group.push((obj, op));
            }
            if !truncated && let Some(gm) = group_modseq {
                if flush(&mut group, &mut objs, &mut state) {
                    end = gm;
                } else {
                    truncated = true;
                }
            }
            if truncated && end == since {
                return Ok(Err(ChangesError::TooMany));
            }
            // Nothing beyond the last change-log row: the answer reaches the current state
            // (a type can be touched without per-object rows, e.g. EmailDelivery).
            let new_modseq = if truncated { end } else { current };
            let mut out = Changes { new_modseq, has_more: truncated, counts_only: true, ..Default::default() };
            for obj in objs {
                let (created, destroyed, real_update) = state[&obj];
                match (created, destroyed) {
                    (true, true) => {}
                    (true, false) => out.created.push(obj),
                    (false, true) => out.destroyed.push(obj),
                    (false, false) => {
                        if real_update {
                            out.counts_only = false;
                        }
                        out.updated.push(obj)
                    }
                }
            }
            Ok(Ok(out))
        })
    }

    /// Delete change-log rows older than `keep_secs` (each account and type keeps at least
    /// what is younger) and raise `low_modseq` so that older states get
    /// `cannotCalculateChanges`. Also forgets upload ownership older than a day.
    pub fn purge_changes(&self, keep_secs: i64) -> Result<usize> {
        let cutoff = now() - keep_secs;
        self.write(|t| {
            let groups: Vec<(String, i64, i64)> = {
                let mut s = t.tx.prepare(
                    "SELECT account, type, MAX(modseq) FROM change_log WHERE at < ?1 GROUP BY account, type",
                )?;
                s.query_map([cutoff], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<rusqlite::Result<_>>()?
            };
            let mut n = 0;
            for (account, ty, max_old) in groups {
                n += t.tx.execute(
                    "DELETE FROM change_log WHERE account = ?1 AND type = ?2 AND modseq <= ?3",
                    params![account, ty, max_old],
                )?;
                t.tx.execute(
                    "UPDATE type_state SET low_modseq = MAX(low_modseq, ?3) WHERE account = ?1 AND type = ?2",
                    params![account, ty, max_old],
                )?;
            }
            t.tx.execute("DELETE FROM blob_upload WHERE created_at < ?1", [now() - 86_400])?;
            Ok(n)
        })
    }
}

fn account_states(c: &rusqlite::Connection, account: &str) -> Result<Option<AccountStates>> {
    let Some(epoch) = c.query_row("SELECT epoch FROM account WHERE id = ?1", [account], |r| r.get(0)).optional()?
    else {
        return Ok(None);
    };
    let mut s = c.prepare_cached("SELECT type, modseq, low_modseq FROM type_state WHERE account = ?1")?;
    let mut types = HashMap::new();
    for row in s.query_map([account], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?)))? {
        let (ty, m, low) = row?;
        if let Some(ty) = ObjType::from_i64(ty) {
            types.insert(ty, (m, low));
        }
    }
    Ok(Some(AccountStates { epoch, types }))
}

// ---------------------------------------------------------------------------------------------
// Mailboxes, threads, emails: reads

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxRow {
    pub id: i64,
    pub name: String,
    pub role: Option<String>,
    pub total: i64,
    pub unread: i64,
    pub total_threads: i64,
    pub unread_threads: i64,
}

/// Everything `Email/get` can answer without parsing the raw message.
#[derive(Debug, Clone)]
pub struct EmailRow {
    pub id: i64,
    pub folder_id: i64,
    pub blob_id: i64,
    pub thread_id: i64,
    pub size: i64,
    pub received_at: i64,
    pub sent_at: Option<i64>,
    pub message_id: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub from: Vec<EmailAddress>,
    pub sender: Vec<EmailAddress>,
    pub to: Vec<EmailAddress>,
    pub cc: Vec<EmailAddress>,
    pub bcc: Vec<EmailAddress>,
    pub reply_to: Vec<EmailAddress>,
    pub subject: String,
    pub preview: String,
    pub has_attachment: bool,
    pub keywords: Vec<String>,
}

fn j<T: serde::de::DeserializeOwned + Default>(s: String) -> T {
    serde_json::from_str(&s).unwrap_or_default()
}

fn email_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EmailRow> {
    Ok(EmailRow {
        id: r.get(0)?,
        folder_id: r.get(1)?,
        blob_id: r.get(2)?,
        thread_id: r.get(3)?,
        size: r.get(4)?,
        received_at: r.get(5)?,
        sent_at: r.get(6)?,
        message_id: r.get(7)?,
        in_reply_to: j(r.get(8)?),
        references: j(r.get(9)?),
        from: j(r.get(10)?),
        sender: j(r.get(11)?),
        to: j(r.get(12)?),
        cc: j(r.get(13)?),
        bcc: j(r.get(14)?),
        reply_to: j(r.get(15)?),
        subject: r.get(16)?,
        preview: r.get(17)?,
        has_attachment: r.get(18)?,
        keywords: j(r.get(19)?),
    })
}

const EMAIL_COLUMNS: &str =
    "id, folder_id, blob_id, thread_id, size, received_at, sent_at, message_id, in_reply_to, refs,
    from_addr, sender_addr, to_addr, cc_addr, bcc_addr, reply_to_addr, subject, preview, has_attachment, keywords";

/// A filter of `Email/query`, already checked by the caller.
#[derive(Debug, Clone, PartialEq)]
pub enum EmailFilter {
    And(Vec<EmailFilter>),
    Or(Vec<EmailFilter>),
    Not(Vec<EmailFilter>),
    InMailbox(i64),
    InMailboxOtherThan(Vec<i64>),
    Before(i64),
    After(i64),
    MinSize(i64),
    MaxSize(i64),
    HasKeyword(String),
    NotKeyword(String),
    HasAttachment(bool),
    /// Substring of From, To, Cc, Bcc, Subject, preview or the raw body (case-insensitive).
    Text(String),
    From(String),
    To(String),
    Cc(String),
    Bcc(String),
    Subject(String),
    Body(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailSortKey {
    ReceivedAt,
    SentAt,
    Size,
    Subject,
    From,
    To,
}

fn filter_sql(f: &EmailFilter, out: &mut String, args: &mut Vec<Value>) {
    let contains = |col: &str, s: &str, out: &mut String, args: &mut Vec<Value>| {
        out.push_str(&format!("instr(lower({col}), ?) > 0"));
        args.push(Value::Text(s.to_lowercase()));
    };
    let join = |list: &[EmailFilter], op: &str, empty: &str, out: &mut String, args: &mut Vec<Value>| {
        if list.is_empty() {
            out.push_str(empty);
            return;
        }
        out.push('(');
        for (i, x) in list.iter().enumerate() {
            if i > 0 {
                out.push_str(op);
            }
            filter_sql(x, out, args);
        }
        out.push(')');
    };
    match f {
        EmailFilter::And(l) => join(l, " AND ", "1", out, args),
        EmailFilter::Or(l) => join(l, " OR ", "0", out, args),
        EmailFilter::Not(l) => {
            out.push_str("NOT ");
            join(l, " OR ", "0", out, args)
        }
        EmailFilter::InMailbox(id) => {
            out.push_str("m.folder_id = ?");
            args.push(Value::Integer(*id));
        }
        EmailFilter::InMailboxOtherThan(ids) => {
            out.push_str("m.folder_id NOT IN (SELECT value FROM json_each(?))");
            args.push(Value::Text(serde_json::to_string(ids).unwrap_or_else(|_| "[]".into())));
        }
        EmailFilter::Before(t) => {
            out.push_str("m.received_at < ?");
            args.push(Value::Integer(*t));
        }
        EmailFilter::After(t) => {
            out.push_str("m.received_at >= ?");
            args.push(Value::Integer(*t));
        }
        EmailFilter::MinSize(n) => {
            out.push_str("m.size >= ?");
            args.push(Value::Integer(*n));
        }
        EmailFilter::MaxSize(n) => {
            out.push_str("m.size < ?");
            args.push(Value::Integer(*n));
        }
        EmailFilter::HasKeyword(k) | EmailFilter::NotKeyword(k) => {
            if matches!(f, EmailFilter::NotKeyword(_)) {
                out.push_str("NOT ");
            }
            out.push_str("EXISTS (SELECT 1 FROM json_each(m.keywords) WHERE value = ?)");
            args.push(Value::Text(k.to_lowercase()));
        }
        EmailFilter::HasAttachment(b) => {
            out.push_str("m.has_attachment = ?");
            args.push(Value::Integer(*b as i64));
        }
        EmailFilter::From(s) => contains("m.from_addr", s, out, args),
        EmailFilter::To(s) => contains("m.to_addr", s, out, args),
        EmailFilter::Cc(s) => contains("m.cc_addr", s, out, args),
        EmailFilter::Bcc(s) => contains("m.bcc_addr", s, out, args),
        EmailFilter::Subject(s) => contains("m.subject", s, out, args),
        EmailFilter::Body(s) => body_contains(s, out, args),
        EmailFilter::Text(s) => {
            out.push('(');
            for (i, col) in
                ["m.from_addr", "m.to_addr", "m.cc_addr", "m.bcc_addr", "m.subject", "m.preview"].iter().enumerate()
            {
                if i > 0 {
                    out.push_str(" OR ");
                }
                contains(col, s, out, args);
            }
            out.push_str(" OR ");
            body_contains(s, out, args);
            out.push(')');
        }
    }
}

/// The decoded body text (`message_text`, lowercased with Unicode rules) contains `s`.
fn body_contains(s: &str, out: &mut String, args: &mut Vec<Value>) {
    out.push_str("EXISTS (SELECT 1 FROM message_text t WHERE t.message_id = m.id AND instr(t.body, ?) > 0)");
    args.push(Value::Text(crate::message::search_needle(s)));
}

impl Store {
    /// The hierarchy delimiter of the account's folder names (from the server's LIST).
    pub fn delimiter(&self, account: &str) -> Result<Option<String>> {
        self.read(|c| {
            Ok(c.query_row("SELECT delimiter FROM account WHERE id = ?1", [account], |r| r.get(0))
                .optional()?
                .flatten())
        })
    }

    /// Record the delimiter the server lists. When it changes, every mailbox's place in the
    /// JMAP tree may change: they are all logged as updated.
    pub fn set_delimiter(&self, account: &str, delimiter: Option<&str>) -> Result<()> {
        if self.delimiter(account)?.as_deref() == delimiter {
            return Ok(());
        }
        self.write(|t| {
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

    pub fn jmap_mailboxes(&self, account: &str) -> Result<Vec<MailboxRow>> {
        self.read(|c| {
            let mut s = c.prepare_cached(
                "SELECT f.id, f.name, f.role,
                   (SELECT COUNT(*) FROM message m WHERE m.folder_id = f.id),
                   (SELECT COUNT(*) FROM message m WHERE m.folder_id = f.id AND m.keywords NOT LIKE '%\"$seen\"%'),
                   (SELECT COUNT(DISTINCT m.thread_id) FROM message m WHERE m.folder_id = f.id),
                   (SELECT COUNT(DISTINCT m.thread_id) FROM message m WHERE m.folder_id = f.id AND m.keywords NOT LIKE '%\"$seen\"%')
                 FROM folder f WHERE f.account = ?1 AND f.destroyed = 0 ORDER BY f.id",
            )?;
            let rows = s
                .query_map([account], |r| {
                    Ok(MailboxRow {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        role: r.get(2)?,
                        total: r.get(3)?,
                        unread: r.get(4)?,
                        total_threads: r.get(5)?,
                        unread_threads: r.get(6)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// The emails of `account` among `ids` (missing or foreign ids are simply absent).
    pub fn jmap_emails(&self, account: &str, ids: &[i64]) -> Result<Vec<EmailRow>> {
        self.read(|c| {
            let mut s = c.prepare_cached(&format!(
                "SELECT {EMAIL_COLUMNS} FROM message WHERE account = ?1 AND id IN (SELECT value FROM json_each(?2))"
            ))?;
            let rows = s
                .query_map(params![account, serde_json::to_string(ids).unwrap_or_default()], email_row)?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// Raw bytes of an email of this account.
    pub fn jmap_email_raw(&self, account: &str, id: i64) -> Result<Option<Vec<u8>>> {
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT b.data FROM message m JOIN blob b ON b.id = m.blob_id WHERE m.account = ?1 AND m.id = ?2",
            )?
            .query_row(params![account, id], |r| r.get(0))
            .optional()?)
        })
    }

    /// Ids (and thread ids) of the emails matching `filter`, sorted; ties broken by id.
    pub fn jmap_query(
        &self,
        account: &str,
        filter: &EmailFilter,
        sort: &[(EmailSortKey, bool)],
    ) -> Result<Vec<(i64, i64)>> {
        let mut cond = String::new();
        let mut args = vec![Value::Text(account.to_string())];
        filter_sql(filter, &mut cond, &mut args);
        let mut order: Vec<String> = sort
            .iter()
            .map(|(k, asc)| {
                let col = match k {
                    EmailSortKey::ReceivedAt => "m.received_at",
                    EmailSortKey::SentAt => "COALESCE(m.sent_at, m.received_at)",
                    EmailSortKey::Size => "m.size",
                    EmailSortKey::Subject => "lower(m.subject)",
                    EmailSortKey::From => "lower(m.from_addr)",
                    EmailSortKey::To => "lower(m.to_addr)",
                };
                format!("{col} {}", if *asc { "ASC" } else { "DESC" })
            })
            .collect();
        let last_desc = sort.last().is_none_or(|s| !s.1);
        order.push(format!("m.id {}", if last_desc { "DESC" } else { "ASC" }));
        let sql = format!(
            "SELECT m.id, m.thread_id FROM message m WHERE m.account = ? AND {cond} ORDER BY {}",
            order.join(", ")
        );
        self.read(|c| {
            let mut s = c.prepare_cached(&sql)?;
            let rows = s
                .query_map(params_from_iter(args.iter()), |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// For each existing thread among `ids`: its email ids, oldest first.
    pub fn jmap_threads(&self, account: &str, ids: &[i64]) -> Result<BTreeMap<i64, Vec<i64>>> {
        self.read(|c| {
            let mut s = c.prepare_cached(
                "SELECT thread_id, id FROM message WHERE account = ?1 AND thread_id IN (SELECT value FROM json_each(?2))
                 ORDER BY thread_id, received_at, id",
            )?;
            let mut out: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
            for row in s.query_map(params![account, serde_json::to_string(ids).unwrap_or_default()], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })? {
                let (t, m) = row?;
                out.entry(t).or_default().push(m);
            }
            Ok(out)
        })
    }

    /// Email ids of the given threads, for `collapseThreads` query changes.
    pub fn jmap_thread_ids_of(&self, account: &str, emails: &[i64]) -> Result<Vec<i64>> {
        self.read(|c| {
            let mut s = c.prepare_cached(
                "SELECT DISTINCT aux FROM change_log WHERE account = ?1 AND type = 2 AND aux IS NOT NULL
                   AND object_id IN (SELECT value FROM json_each(?2))",
            )?;
            let rows = s
                .query_map(params![account, serde_json::to_string(emails).unwrap_or_default()], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// The bytes of a blob that `account` may read: the raw message of one of its emails, or
    /// an upload it made.
    pub fn jmap_blob(&self, account: &str, blob_id: i64) -> Result<Option<Vec<u8>>> {
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT data FROM blob WHERE id = ?2 AND (
                    EXISTS (SELECT 1 FROM message WHERE account = ?1 AND blob_id = ?2)
                 OR EXISTS (SELECT 1 FROM blob_upload WHERE account = ?1 AND blob_id = ?2))",
            )?
            .query_row(params![account, blob_id], |r| r.get(0))
            .optional()?)
        })
    }

    /// Store an upload of `account` and return its blob id.
    pub fn jmap_upload(&self, account: &str, data: &[u8]) -> Result<i64> {
        self.write(|t| {
            let id = put_blob(t, data)?;
            t.tx.execute(
                "INSERT INTO blob_upload (blob_id, account, created_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(blob_id, account) DO UPDATE SET created_at = excluded.created_at",
                params![id, account, now()],
            )?;
            Ok(id)
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Writes from devices

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

#[allow(clippy::too_many_arguments)]
/// Name and role of a folder of `account` that still exists.
fn live_folder(t: &Tx<'_>, account: &str, id: i64) -> Result<Option<(String, Option<String>)>> {
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
fn rename_folder(t: &mut Tx<'_>, account: &str, id: i64, old: &str, new: &str) -> Result<()> {
    let children = descendants(t, account, old)?;
    super::messages::free_destroyed_name(t, account, new)?;
    t.tx.execute("UPDATE folder SET name = ?2, by_device = 1 WHERE id = ?1", params![id, new])?;
    t.log(account, ObjType::Mailbox, id, Op::Updated, None)?;
    for (child, child_name) in children {
        let renamed = format!("{new}{}", &child_name[old.len()..]);
        super::messages::free_destroyed_name(t, account, &renamed)?;
        t.tx.execute("UPDATE folder SET name = ?2, by_device = 1 WHERE id = ?1", params![child, renamed])?;
        t.log(account, ObjType::Mailbox, child, Op::Updated, None)?;
    }
    super::messages::log_below(t, account, new)
}

/// Whether folder `id` (named `current`) and the folders below it can take back the names
/// under `old` without meeting another live folder. If not, the undo is skipped: the next
/// folder listing then goes by the server.
fn names_free_for_undo(t: &Tx<'_>, account: &str, id: i64, current: &str, old: &str) -> Result<bool> {
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

/// Keywords are case-insensitive and returned lowercase (RFC 8621 section 4.1.1).
fn valid_keyword(k: &str) -> bool {
    !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| (0x21..0x7f).contains(&b) && !b"()\\{]%*\"".contains(&b))
}

impl Store {
    /// Apply `Email/set` updates and destroys in one transaction: each change is visible at
    /// once, logged, and queued for IMAP. `if_in_state` is the Email modseq the client
    /// expects. Returns per update and per destroy the outcome.
    #[allow(clippy::type_complexity)]
    pub fn jmap_email_set(
        &self,
        account: &str,
        if_in_state: Option<i64>,
        updates: &[(i64, EmailUpdate)],
        destroys: &[i64],
    ) -> Result<Guarded<(Vec<std::result::Result<(), SetFailure>>, Vec<std::result::Result<(), SetFailure>>)>> {
        self.write(|t| {
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
    pub fn jmap_email_create(
        &self,
        account: &str,
        folder: i64,
        raw: Vec<u8>,
        keywords: &[String],
        received_at: i64,
    ) -> Result<std::result::Result<Created, SetFailure>> {
        let parsed = crate::message::parse(&raw);
        self.write(|t| {
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
            let id = insert_message(t, account, folder, &m, &parsed)?
                .ok_or_else(|| StoreError::Other("a local message cannot exist already".into()))?;
            let (blob_id, thread_id): (i64, i64) =
                t.tx.query_row("SELECT blob_id, thread_id FROM message WHERE id = ?1", [id], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
            t.log(account, ObjType::Mailbox, folder, Op::CountsOnly, None)?;
            queue(t, account, "append", Some(id), None, None, None, None)?;
            Ok(Ok(Created { id, blob_id, thread_id, size }))
        })
    }

    /// Create a folder on a device's behalf (written back as IMAP CREATE).
    pub fn jmap_mailbox_create(&self, account: &str, name: &str) -> Result<std::result::Result<i64, SetFailure>> {
        self.write(|t| {
            let exists =
                t.tx.query_row(
                    "SELECT 1 FROM folder WHERE account = ?1 AND name = ?2 AND destroyed = 0",
                    params![account, name],
                    |_| Ok(()),
                )
                .optional()?;
            if exists.is_some() {
                return Ok(Err(SetFailure::AlreadyExists(format!("a mailbox named \"{name}\" exists"))));
            }
            let id = ensure_folder(t, account, name, None)?;
            t.tx.execute("UPDATE folder SET by_device = 1 WHERE id = ?1", [id])?;
            queue(t, account, "create", None, Some(id), None, Some(name), None)?;
            Ok(Ok(id))
        })
    }

    /// Rename a folder (its full name) on a device's behalf; the folders below it move along,
    /// as they do on the IMAP server, which is sent one RENAME.
    pub fn jmap_mailbox_rename(
        &self,
        account: &str,
        id: i64,
        name: &str,
    ) -> Result<std::result::Result<(), SetFailure>> {
        self.write(|t| {
            let row = live_folder(t, account, id)?;
            let Some((old, role)) = row else { return Ok(Err(SetFailure::NotFound)) };
            if old == name {
                return Ok(Ok(()));
            }
            if role.as_deref() == Some("inbox") {
                return Ok(Err(SetFailure::Forbidden("the inbox cannot be renamed".into())));
            }
            let exists =
                t.tx.query_row(
                    "SELECT 1 FROM folder WHERE account = ?1 AND name = ?2 AND destroyed = 0",
                    params![account, name],
                    |_| Ok(()),
                )
                .optional()?;
            if exists.is_some() {
                return Ok(Err(SetFailure::AlreadyExists(format!("a mailbox named \"{name}\" exists"))));
            }
            // Mailboxes below the new name would become its children here, but not on the
            // server, and a rename the server refuses could not be undone cleanly.
            if !descendants(t, account, name)?.is_empty() {
                return Ok(Err(SetFailure::AlreadyExists(format!("mailboxes exist below \"{name}\""))));
            }
            rename_folder(t, account, id, &old, name)?;
            queue(t, account, "rename", None, Some(id), None, Some(name), Some(&old))?;
            Ok(Ok(()))
        })
    }

    pub fn jmap_mailbox_destroy(
        &self,
        account: &str,
        id: i64,
        remove_emails: bool,
    ) -> Result<std::result::Result<(), SetFailure>> {
        self.write(|t| {
            let row = live_folder(t, account, id)?;
            let Some((name, role)) = row else { return Ok(Err(SetFailure::NotFound)) };
            if role.as_deref() == Some("inbox") {
                return Ok(Err(SetFailure::Forbidden("the inbox cannot be destroyed".into())));
            }
            if !descendants(t, account, &name)?.is_empty() {
                return Ok(Err(SetFailure::MailboxHasChild));
            }
            let ids: Vec<i64> = {
                let mut s = t.tx.prepare("SELECT id FROM message WHERE folder_id = ?1")?;
                s.query_map([id], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?
            };
            if !ids.is_empty() && !remove_emails {
                return Ok(Err(SetFailure::MailboxHasEmail));
            }
            for m in ids {
                // Messages still held elsewhere on the server (a move not yet written back)
                // are expunged there; the folder delete takes the rest.
                let _ = destroy_email(t, account, m)?;
            }
            t.tx.execute("UPDATE folder SET destroyed = 1 WHERE id = ?1", [id])?;
            t.log(account, ObjType::Mailbox, id, Op::Destroyed, None)?;
            queue(t, account, "delete", None, Some(id), None, Some(&name), None)?;
            Ok(Ok(()))
        })
    }
}

fn update_email(
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

fn destroy_email(t: &mut Tx<'_>, account: &str, id: i64) -> Result<std::result::Result<(), SetFailure>> {
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
    }
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

// ---------------------------------------------------------------------------------------------
// Email submissions

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

impl Store {
    /// Record a submission whose message the outbound queue accepted as `outbox_id`.
    pub fn jmap_submission_add(
        &self,
        account: &str,
        email_id: i64,
        thread_id: i64,
        identity: &str,
        outbox_id: i64,
        envelope: &str,
    ) -> Result<i64> {
        self.write(|t| {
            t.tx.execute(
                "INSERT INTO email_submission (account, email_id, thread_id, identity, outbox_id, envelope, send_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![account, email_id, thread_id, identity, outbox_id, envelope, now()],
            )?;
            let id = t.tx.last_insert_rowid();
            t.log(account, ObjType::EmailSubmission, id, Op::Created, None)?;
            Ok(id)
        })
    }

    /// Submissions of `account` (all, or those among `ids`).
    pub fn jmap_submissions(&self, account: &str, ids: Option<&[i64]>) -> Result<Vec<Submission>> {
        self.read(|c| {
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

    /// Submissions whose queue state may still change: (account, id, outbox id, last status).
    #[allow(clippy::type_complexity)]
    pub fn jmap_submissions_open(&self) -> Result<Vec<(String, i64, i64, Option<String>)>> {
        self.read(|c| {
            let mut s = c.prepare_cached(
                "SELECT account, id, outbox_id, last_status FROM email_submission
                 WHERE destroyed = 0 AND (last_status IS NULL OR last_status NOT IN ('sent', 'failed', 'cancelled', 'expired'))",
            )?;
            let rows = s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?.collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// The queue state of a submission is now `status`: remember it and log the change.
    pub fn jmap_submission_status(&self, account: &str, id: i64, status: &str) -> Result<()> {
        self.write(|t| {
            let n = t.tx.execute(
                "UPDATE email_submission SET last_status = ?3 WHERE id = ?1 AND account = ?2 AND last_status IS NOT ?3",
                params![id, account, status],
            )?;
            if n == 1 {
                t.log(account, ObjType::EmailSubmission, id, Op::Updated, None)?;
            }
            Ok(())
        })
    }

    /// Log that a submission changed (its queue state was changed from here, e.g. cancelled).
    pub fn jmap_submission_touched(&self, account: &str, id: i64) -> Result<()> {
        self.write(|t| t.log(account, ObjType::EmailSubmission, id, Op::Updated, None))
    }

    /// Forget a submission (the message itself is not affected). False if there is none.
    pub fn jmap_submission_destroy(&self, account: &str, id: i64) -> Result<bool> {
        self.write(|t| {
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

// ---------------------------------------------------------------------------------------------
// The write-back queue, as the IMAP task sees it

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

impl Store {
    /// The oldest queued write-back op of `account`, resolved against the current store.
    #[allow(clippy::type_complexity)]
    pub fn writeback_next(&self, account: &str, after: i64) -> Result<Option<QueuedOp>> {
        self.read(|c| {
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
                        WritebackOp::Append { message_id: mid, folder, folder_id: vis_fid, flags: kw.iter().map(|k| super::messages::keyword_to_flag(k)).collect(), raw, internal_date: date }
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
    pub fn writeback_done(&self, account: &str, q: &QueuedOp, effect: WritebackEffect) -> Result<()> {
        self.write(|t| {
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

    /// The server refused the op: count the attempt; after `give_up_after` attempts drop it.
    /// Returns true if it was dropped.
    /// A refusal of `q` by the server: counted, and after `give_up_after` attempts the op is
    /// dropped (`what` and `error` are kept for `status`). True when it was dropped.
    pub fn writeback_refused(&self, q: &QueuedOp, what: &str, error: &str, give_up_after: i64) -> Result<bool> {
        self.write(|t| {
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

    /// How many write-back ops wait for an account.
    /// What `status` says about the write-back queue of `account`.
    pub fn writeback_summary(&self, account: &str) -> Result<WritebackSummary> {
        self.read(|c| {
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

    pub fn writeback_pending(&self, account: &str) -> Result<i64> {
        self.read(|c| Ok(c.query_row("SELECT COUNT(*) FROM writeback_op WHERE account = ?1", [account], |r| r.get(0))?))
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::messages::FolderState;

    fn store() -> (tempfile::TempDir, Store) {
        crate::store::test_store()
    }

    /// Messages as a sync stores them (with their UIDs, in a folder of UIDVALIDITY 1).
    fn synced(s: &Store, folder: i64, uids: &[u32]) -> Vec<i64> {
        let msgs = uids.iter().map(|u| msg(*u)).collect();
        s.insert_messages("becker", folder, msgs, Some(FolderState { uidvalidity: 1, ..Default::default() })).unwrap()
    }

    fn msg(uid: u32) -> NewMessage {
        NewMessage {
            uid: Some(uid),
            modseq: None,
            flags: vec![],
            internal_date: 1_790_000_000 + uid as i64,
            raw: format!("From: k@kunde.test\r\nMessage-ID: <{uid}@x>\r\nSubject: m{uid}\r\n\r\nbody {uid}\r\n")
                .into_bytes(),
        }
    }

    #[test]
    fn changes_coalesce_and_page_on_modseq_boundaries() {
        let (_d, s) = store();
        let f = s.ensure_folder("becker", "INBOX", Some("inbox")).unwrap();
        let since = s.account_states("becker").unwrap().unwrap().modseq(ObjType::Email);
        // Three separate transactions of one message each, then a keyword change on the first.
        let mut ids = Vec::new();
        for uid in 1..=3 {
            ids.extend(synced(&s, f.id, &[uid]));
        }
        let upd = EmailUpdate { keywords: Some(KeywordPatch::Set(vec![("$Seen".into(), true)])), folder: None };
        s.jmap_email_set("becker", None, &[(ids[0], upd)], &[]).unwrap().unwrap();
        let all = s.changes("becker", ObjType::Email, since, 100).unwrap().unwrap();
        assert_eq!(all.created, ids, "created then updated is reported as created");
        assert!(all.updated.is_empty() && all.destroyed.is_empty() && !all.has_more);
        let page = s.changes("becker", ObjType::Email, since, 2).unwrap().unwrap();
        assert_eq!(page.created, ids[..2].to_vec());
        assert!(page.has_more);
        let rest = s.changes("becker", ObjType::Email, page.new_modseq, 2).unwrap().unwrap();
        assert_eq!(rest.created, vec![ids[2]]);
        assert_eq!(rest.updated, vec![ids[0]]);
        assert!(!rest.has_more);
        // Mailbox: only counts changed.
        let mb = s.changes("becker", ObjType::Mailbox, since, 100).unwrap().unwrap();
        assert!(mb.counts_only);
        // Keyword pending row and a write-back op exist for the change.
        assert_eq!(s.writeback_pending("becker").unwrap(), 1);
        let q = s.writeback_next("becker", 0).unwrap().unwrap();
        assert!(matches!(&q.op, WritebackOp::Flags { add, .. } if add == &vec!["$seen".to_string()]));
        s.writeback_done("becker", &q, WritebackEffect::None).unwrap();
        assert_eq!(s.writeback_pending("becker").unwrap(), 0);
    }

    #[test]
    fn a_refused_store_is_retried_then_dropped_with_its_pending_keywords() {
        let (_d, s) = store();
        let f = s.ensure_folder("becker", "INBOX", Some("inbox")).unwrap();
        let ids = synced(&s, f.id, &[1]);
        let upd = EmailUpdate { keywords: Some(KeywordPatch::Set(vec![("$flagged".into(), true)])), folder: None };
        s.jmap_email_set("becker", None, &[(ids[0], upd)], &[]).unwrap().unwrap();
        for attempt in 1..=5 {
            let q = s.writeback_next("becker", 0).unwrap().unwrap();
            assert_eq!(q.attempts, attempt - 1);
            assert_eq!(s.writeback_refused(&q, "store flags", "NO refused", 5).unwrap(), attempt == 5);
            if attempt == 1 {
                let w = s.writeback_summary("becker").unwrap();
                assert_eq!((w.pending, w.last_error.as_deref(), w.dropped), (1, Some("NO refused"), 0));
                assert!(w.oldest_at.is_some());
            }
        }
        assert_eq!(s.writeback_pending("becker").unwrap(), 0);
        let w = s.writeback_summary("becker").unwrap();
        assert_eq!((w.pending, w.dropped, w.last_dropped.as_deref()), (0, 1, Some("store flags: NO refused")));
        let pending: i64 =
            s.read(|c| Ok(c.query_row("SELECT COUNT(*) FROM keyword_pending", [], |r| r.get(0))?)).unwrap();
        assert_eq!(pending, 0, "the server's flags win again after the change was given up");
    }

    /// A move or a folder rename the server refuses for good is undone in the store: the
    /// message shows where the server keeps it, the folder (and the one below it) its old name.
    #[test]
    fn a_refused_move_or_rename_given_up_shows_the_servers_state_again() {
        let (_d, s) = store();
        s.set_delimiter("becker", Some("/")).unwrap();
        let inbox = s.ensure_folder("becker", "INBOX", Some("inbox")).unwrap();
        let kunden = s.ensure_folder("becker", "Kunden", None).unwrap();
        let meier = s.ensure_folder("becker", "Kunden/Meier", None).unwrap();
        let ids = synced(&s, inbox.id, &[1]);
        let mv = EmailUpdate { keywords: None, folder: Some(MailboxPatch::Replace(vec![meier.id])) };
        s.jmap_email_set("becker", None, &[(ids[0], mv)], &[]).unwrap().unwrap();
        s.jmap_mailbox_rename("becker", kunden.id, "Firma").unwrap().unwrap();
        assert_eq!(s.list_messages("becker", Some("Firma/Meier"), 10).unwrap().len(), 1);
        for _ in 0..5 {
            let mut after = 0;
            while let Some(q) = s.writeback_next("becker", after).unwrap() {
                after = q.id;
                s.writeback_refused(&q, "x", "NO refused", 5).unwrap();
            }
        }
        assert_eq!(s.writeback_pending("becker").unwrap(), 0);
        let names: Vec<String> = s.folders("becker").unwrap().into_iter().map(|f| f.name).collect();
        assert_eq!(names, vec!["INBOX", "Kunden", "Kunden/Meier"]);
        assert_eq!(s.list_messages("becker", Some("INBOX"), 10).unwrap().len(), 1, "back where the server has it");
        assert_eq!(s.writeback_summary("becker").unwrap().dropped, 2);
    }

    /// While a folder RENAME waits (the server may refuse it: the new name can be another,
    /// unmirrored folder there), every change that touches the new name waits too; when the
    /// rename is given up, later renames of that folder go with it, the folder gets its old
    /// name back, and the waiting changes then go to the old name. An undo that would collide
    /// with a live folder is skipped instead of failing the drain.
    #[test]
    fn changes_wait_for_a_pending_rename_and_follow_its_undo() {
        let (_d, s) = store();
        s.set_delimiter("becker", Some("/")).unwrap();
        let kunden = s.ensure_folder("becker", "Kunden", None).unwrap();
        let ids = synced(&s, kunden.id, &[7]);
        s.jmap_mailbox_rename("becker", kunden.id, "Archiv").unwrap().unwrap();
        s.jmap_mailbox_rename("becker", kunden.id, "Archiv 2").unwrap().unwrap();
        let flag = EmailUpdate { keywords: Some(KeywordPatch::Set(vec![("$flagged".into(), true)])), folder: None };
        s.jmap_email_set("becker", None, &[(ids[0], flag)], &[]).unwrap().unwrap();
        let queue = |s: &Store| {
            let mut out = Vec::new();
            let mut after = 0;
            while let Some(q) = s.writeback_next("becker", after).unwrap() {
                after = q.id;
                out.push(q);
            }
            out
        };
        let q = queue(&s);
        assert!(matches!(&q[0].op, WritebackOp::Rename { from, to } if from == "Kunden" && to == "Archiv"));
        assert_eq!(q[1].op, WritebackOp::Wait, "the second rename waits for the first");
        assert_eq!(q[2].op, WritebackOp::Wait, "the flag change waits: \"Archiv 2\" is not on the server yet");
        // The server refuses the first rename five times: it is given up and undone.
        for _ in 0..5 {
            let first = s.writeback_next("becker", 0).unwrap().unwrap();
            s.writeback_refused(&first, "rename folder", "NO [ALREADYEXISTS] Mailbox already exists", 5).unwrap();
        }
        assert_eq!(s.folders("becker").unwrap()[0].name, "Kunden");
        let q = queue(&s);
        assert_eq!(q.len(), 1, "the later rename went with the first");
        assert!(matches!(&q[0].op, WritebackOp::Flags { folder, uid: 7, .. } if folder == "Kunden"), "{:?}", q[0].op);

        // An undo that would take a name a live folder has meanwhile is skipped, not an error.
        s.writeback_done("becker", &q[0], WritebackEffect::None).unwrap();
        s.jmap_mailbox_rename("becker", kunden.id, "Neu").unwrap().unwrap();
        let other = s.jmap_mailbox_create("becker", "Kunden").unwrap().unwrap();
        for _ in 0..5 {
            let first = s.writeback_next("becker", 0).unwrap().unwrap();
            assert!(matches!(first.op, WritebackOp::Rename { .. }));
            s.writeback_refused(&first, "rename folder", "NO", 5).unwrap();
        }
        let names: Vec<(i64, String)> = s.folders("becker").unwrap().into_iter().map(|f| (f.id, f.name)).collect();
        assert_eq!(names, vec![(kunden.id, "Neu".to_string()), (other, "Kunden".to_string())]);

        // A rename onto a name with mailboxes below it is refused up front.
        s.ensure_folder("becker", "Lager/2025", None).unwrap();
        assert!(matches!(
            s.jmap_mailbox_rename("becker", kunden.id, "Lager").unwrap(),
            Err(SetFailure::AlreadyExists(_))
        ));
    }

    /// Regression: SQLite reuses the largest rowid after a delete; a JMAP id must never be.
    #[test]
    fn a_destroyed_newest_message_never_lends_its_id() {
        let (_d, s) = store();
        let f = s.ensure_folder("becker", "INBOX", Some("inbox")).unwrap();
        let ids = s.insert_messages("becker", f.id, vec![msg(1), msg(2)], None).unwrap();
        s.jmap_email_set("becker", None, &[], &[ids[1]]).unwrap().unwrap();
        let again = s.insert_messages("becker", f.id, vec![msg(3)], None).unwrap();
        assert!(again[0] > ids[1], "{again:?} reuses {}", ids[1]);
    }

    #[test]
    fn one_huge_transaction_over_max_changes_cannot_be_split() {
        let (_d, s) = store();
        let f = s.ensure_folder("becker", "INBOX", Some("inbox")).unwrap();
        let since = s.account_states("becker").unwrap().unwrap().modseq(ObjType::Email);
        s.insert_messages("becker", f.id, (1..=5).map(msg).collect(), None).unwrap();
        assert_eq!(s.changes("becker", ObjType::Email, since, 3).unwrap(), Err(ChangesError::TooMany));
        assert_eq!(s.changes("becker", ObjType::Email, since, 5).unwrap().unwrap().created.len(), 5);
    }

    #[test]
    fn folders_made_or_renamed_by_a_device_stay_mirrored_and_protected_until_written_back() {
        let (_d, s) = store();
        s.set_delimiter("becker", Some("/")).unwrap();
        let configured = s.ensure_folder("becker", "Projekte", None).unwrap();
        let child = s.ensure_folder("becker", "Projekte/Bad", None).unwrap();
        let made = s.jmap_mailbox_create("becker", "Erledigt").unwrap().unwrap();
        assert_eq!(s.device_folders("becker").unwrap(), vec!["Erledigt".to_string()]);
        s.jmap_mailbox_rename("becker", configured.id, "Projekte 2026").unwrap().unwrap();
        let mut names = s.device_folders("becker").unwrap();
        names.sort();
        assert_eq!(names, vec!["Erledigt", "Projekte 2026", "Projekte 2026/Bad"], "the child moved along");
        assert_eq!(
            s.folder_names_in_flux("becker").unwrap(),
            vec!["Projekte".to_string(), "Projekte 2026".to_string()]
        );
        // While the CREATE and RENAME wait, a server list without them destroys nothing.
        assert!(s.destroy_folders_not_kept("becker", &[]).unwrap().is_empty());
        assert_eq!(s.folders("becker").unwrap().len(), 3);
        // Written back: nothing is in flux; a folder the server no longer has goes now.
        while let Some(q) = s.writeback_next("becker", 0).unwrap() {
            s.writeback_done("becker", &q, WritebackEffect::None).unwrap();
        }
        assert!(s.folder_names_in_flux("becker").unwrap().is_empty());
        let gone = s.destroy_folders_not_kept("becker", &[configured.id, child.id]).unwrap();
        assert_eq!(gone, vec!["Erledigt".to_string()]);
        assert_eq!(s.device_folders("becker").unwrap().len(), 2);
        let _ = made;
    }

    /// A folder that appears or goes changes the parent of the folders below it: those are
    /// logged as updated Mailboxes. A rename may take a name (and its children names) that a
    /// destroyed folder's row still holds.
    #[test]
    fn tree_changes_reach_mailbox_changes_and_destroyed_names_are_free_again() {
        let (_d, s) = store();
        s.set_delimiter("becker", Some("/")).unwrap();
        let bad = s.ensure_folder("becker", "Projekte/Bad", None).unwrap().id;
        let since = s.account_states("becker").unwrap().unwrap().modseq(ObjType::Mailbox);
        let parent = s.jmap_mailbox_create("becker", "Projekte").unwrap().unwrap();
        let c = s.changes("becker", ObjType::Mailbox, since, 100).unwrap().unwrap();
        assert_eq!((c.created, c.updated), (vec![parent], vec![bad]), "Bad is now below Projekte");
        while let Some(q) = s.writeback_next("becker", 0).unwrap() {
            s.writeback_done("becker", &q, WritebackEffect::None).unwrap();
        }

        let alt = s.ensure_folder("becker", "Alt", None).unwrap().id;
        let alt_child = s.ensure_folder("becker", "Alt/2025", None).unwrap().id;
        s.ensure_folder("becker", "Neu", None).unwrap();
        s.ensure_folder("becker", "Neu/2025", None).unwrap();
        let keep: Vec<i64> =
            s.folders("becker").unwrap().into_iter().filter(|f| !f.name.starts_with("Neu")).map(|f| f.id).collect();
        assert_eq!(s.destroy_folders_not_kept("becker", &keep).unwrap().len(), 2);
        s.jmap_mailbox_rename("becker", alt, "Neu").unwrap().unwrap();
        let names: Vec<(i64, String)> = s.folders("becker").unwrap().into_iter().map(|f| (f.id, f.name)).collect();
        assert!(names.contains(&(alt, "Neu".into())) && names.contains(&(alt_child, "Neu/2025".into())), "{names:?}");
    }

    /// Bodies sent base64 or quoted-printable, in UTF-8 or ISO-8859-1, or as HTML only, are
    /// found by the words a person reads in them, in any letter case, umlauts included, also
    /// far beyond the preview; a store from before the search text existed is filled in.
    #[test]
    fn text_and_body_search_the_decoded_body() {
        use base64::Engine as _;
        let (dir, s) = store();
        let f = s.ensure_folder("becker", "INBOX", Some("inbox")).unwrap();
        let filler = "Sehr geehrte Damen und Herren, wir kommen auf Ihr Angebot zurück. ".repeat(20);
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{filler}Bitte um Rückruf wegen Fliesen."));
        let raw = |uid: u32, headers: &str, body: &str| NewMessage {
            uid: Some(uid),
            modseq: None,
            flags: vec![],
            internal_date: 1_790_000_000,
            raw: format!("From: k@kunde.test\r\nSubject: s{uid}\r\nMIME-Version: 1.0\r\n{headers}\r\n\r\n{body}\r\n")
                .into_bytes(),
        };
        let mut latin = format!("From: k@kunde.test\r\nSubject: s4\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{filler}").into_bytes();
        latin.extend_from_slice(b"Gr\xfc\xdfe, Ihr K\xf6hler\r\n");
        let ids = s
            .insert_messages(
                "becker",
                f.id,
                vec![
                    raw(1, "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64", &b64),
                    raw(
                        2,
                        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable",
                        &format!("{filler}Die Rechnung f=C3=BCr das B=C3=BCro"),
                    ),
                    raw(
                        3,
                        "Content-Type: text/html; charset=utf-8",
                        &format!("<html><body><p>{filler}</p><p>Termin am <b>Donnerstag</b></p></body></html>"),
                    ),
                    NewMessage { raw: latin, ..raw(4, "", "") },
                    raw(5, "Content-Type: text/plain; charset=utf-8", "Wir bitten um\r\nAnruf,   morgen\r\n\r\n  früh."),
                    raw(
                        6,
                        "Content-Type: multipart/mixed; boundary=\"b\"",
                        &format!("--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--", base64::engine::general_purpose::STANDARD.encode([0xABu8; 3000])),
                    ),
                ],
                None,
            )
            .unwrap();
        let find = |s: &Store, needle: &str| -> Vec<i64> {
            let mut got: Vec<i64> = s
                .jmap_query("becker", &EmailFilter::Text(needle.into()), &[])
                .unwrap()
                .into_iter()
                .map(|(id, _)| id)
                .collect();
            got.sort();
            let body: Vec<i64> = s
                .jmap_query("becker", &EmailFilter::Body(needle.into()), &[])
                .unwrap()
                .into_iter()
                .map(|(id, _)| id)
                .collect();
            assert_eq!(body.len(), got.len(), "{needle}: body and text agree on body words");
            got
        };
        assert_eq!(find(&s, "RÜCKRUF"), vec![ids[0]], "base64, upper case with an umlaut");
        assert_eq!(find(&s, "für das büro"), vec![ids[1]], "quoted-printable");
        assert_eq!(find(&s, "termin am donnerstag"), vec![ids[2]], "HTML as text, without its tags");
        assert_eq!(find(&s, "ihr köhler"), vec![ids[3]], "ISO-8859-1");
        assert!(find(&s, "<b>").is_empty(), "markup is not text");
        assert_eq!(find(&s, "bitten um anruf, morgen früh"), vec![ids[4]], "a phrase across line breaks");
        assert_eq!(find(&s, "bitten um\n Anruf"), vec![ids[4]], "white space in the needle counts as one");
        assert!(find(&s, "q6ur").is_empty(), "an attachment's base64 is not text");
        assert_eq!(find(&s, "angebot").len(), 4);

        // A store from before: the search text is gone, as it was then; opening it again
        // with the migration to apply fills it in.
        s.write(|t| {
            t.tx.execute_batch("DROP TABLE message_text; PRAGMA user_version = 6;")?;
            Ok(())
        })
        .unwrap();
        drop(s);
        let s = Store::open(&dir.path().join("s.sqlite")).unwrap();
        assert_eq!(find(&s, "rückruf"), vec![ids[0]]);
        assert_eq!(find(&s, "angebot").len(), 4);
    }

    #[test]
    fn purge_makes_old_states_uncalculable() {
        let (_d, s) = store();
        let f = s.ensure_folder("becker", "INBOX", Some("inbox")).unwrap();
        s.insert_messages("becker", f.id, vec![msg(1)], None).unwrap();
        let mid = s.account_states("becker").unwrap().unwrap().modseq(ObjType::Email);
        s.write(|t| {
            t.tx.execute("UPDATE change_log SET at = at - 40 * 86400", [])?;
            Ok(())
        })
        .unwrap();
        s.insert_messages("becker", f.id, vec![msg(2)], None).unwrap();
        assert!(s.purge_changes(30 * 86_400).unwrap() > 0);
        assert_eq!(s.changes("becker", ObjType::Email, 0, 100).unwrap(), Err(ChangesError::TooOld));
        assert_eq!(s.changes("becker", ObjType::Email, mid, 100).unwrap().unwrap().created.len(), 1);
    }

    #[test]
    fn move_destroy_and_draft_queue_writeback_and_tombstone() {
        let (_d, s) = store();
        let inbox = s.ensure_folder("becker", "INBOX", Some("inbox")).unwrap();
        let trash = s.ensure_folder("becker", "Trash", Some("trash")).unwrap();
        let ids = synced(&s, inbox.id, &[1, 2]);
        let mv =
            EmailUpdate { keywords: None, folder: Some(MailboxPatch::Set(vec![(inbox.id, false), (trash.id, true)])) };
        let (up, de) = s.jmap_email_set("becker", None, &[(ids[0], mv)], &[ids[1], 999]).unwrap().unwrap();
        assert_eq!(up, vec![Ok(())]);
        assert_eq!(de, vec![Ok(()), Err(SetFailure::NotFound)]);
        // The destroyed UID is tombstoned: a sync does not bring it back.
        assert!(s.insert_messages("becker", inbox.id, vec![msg(2)], None).unwrap().is_empty());
        let q1 = s.writeback_next("becker", 0).unwrap().unwrap();
        assert!(matches!(&q1.op, WritebackOp::Move { uid: 1, to, .. } if to == "Trash"));
        let q2 = s.writeback_next("becker", q1.id).unwrap().unwrap();
        assert!(matches!(&q2.op, WritebackOp::Expunge { uid: 2, .. }));
        s.writeback_done("becker", &q1, WritebackEffect::NewUid { uidvalidity: 9, uid: 44 }).unwrap();
        let moved = s.jmap_emails("becker", &[ids[0]]).unwrap();
        assert_eq!(moved[0].folder_id, trash.id);
        // A stale state is refused.
        assert!(s.jmap_email_set("becker", Some(0), &[], &[]).unwrap().is_none());
        // A draft.
        let c = s
            .jmap_email_create(
                "becker",
                inbox.id,
                b"From: becker@bau-firma.test\r\nSubject: d\r\n\r\nx".to_vec(),
                &["$draft".into()],
                1_790_000_000,
            )
            .unwrap()
            .unwrap();
        let q3 = s.writeback_next("becker", q2.id).unwrap().unwrap();
        assert!(
            matches!(&q3.op, WritebackOp::Append { message_id, flags, .. } if *message_id == c.id && flags == &vec!["\\Draft".to_string()])
        );
    }
}
