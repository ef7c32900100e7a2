//! What devices read of the messages: `Email/get` rows, `Email/query` filters and sorts,
//! threads.
//!
//! A filter arrives already checked, as the plain [`EmailFilter`]; it becomes one SQL
//! condition with bound arguments (never text spliced into the SQL). Text and body searches
//! go through the stored search text, so a word is found in any letter case, whatever the
//! message's transfer encoding. Reached as `store.emails()`, whose writes are in
//! `email_set.rs`.

use std::collections::BTreeMap;

use rusqlite::types::Value;
use rusqlite::{OptionalExtension, params, params_from_iter};

use super::{Result, Store};
use crate::message::EmailAddress;

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

/// The decoded body text (`message_text`, lowercased with Unicode rules, kept packed:
/// `search_text`) contains `s`.
fn body_contains(s: &str, out: &mut String, args: &mut Vec<Value>) {
    out.push_str("EXISTS (SELECT 1 FROM message_text t WHERE t.message_id = m.id AND search_text_contains(t.body, ?))");
    args.push(Value::Text(crate::message::search_needle(s)));
}

/// The messages as devices see and change them, reached as `store.emails()`.
#[derive(Clone, Copy)]
pub struct Emails<'a>(pub(super) &'a Store);

impl Store {
    /// The messages as devices see them.
    pub fn emails(&self) -> Emails<'_> {
        Emails(self)
    }
}

impl Emails<'_> {
    /// The emails of `account` among `ids` (missing or foreign ids are simply absent).
    pub fn get(&self, account: &str, ids: &[i64]) -> Result<Vec<EmailRow>> {
        self.0.read(|c| {
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
    pub fn raw(&self, account: &str, id: i64) -> Result<Option<Vec<u8>>> {
        self.0.read(|c| {
            Ok(c.prepare_cached(
                "SELECT b.data FROM message m JOIN blob b ON b.id = m.blob_id WHERE m.account = ?1 AND m.id = ?2",
            )?
            .query_row(params![account, id], |r| r.get(0))
            .optional()?)
        })
    }

    /// Ids (and thread ids) of the emails matching `filter`, sorted; ties broken by id.
    pub fn query(&self, account: &str, filter: &EmailFilter, sort: &[(EmailSortKey, bool)]) -> Result<Vec<(i64, i64)>> {
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
        self.0.read(|c| {
            let mut s = c.prepare_cached(&sql)?;
            let rows = s
                .query_map(params_from_iter(args.iter()), |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// For each existing thread among `ids`: its email ids, oldest first.
    pub fn threads(&self, account: &str, ids: &[i64]) -> Result<BTreeMap<i64, Vec<i64>>> {
        self.0.read(|c| {
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
}
