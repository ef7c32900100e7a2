//! What devices read of the messages: `Email/get` rows, `Email/query` filters and sorts,
//! threads.
//!
//! A filter arrives already checked, as the plain [`EmailFilter`]; it becomes one SQL
//! condition with bound arguments (never text spliced into the SQL). Text and body searches
//! go through the stored search text, so a word is found in any letter case, whatever the
//! message's transfer encoding. A `header` condition has no stored column to search: it is the
//! SQL function `postbote_header` (registered on every connection by [`register_functions`]),
//! which reads only the header section of the raw bytes, and reads a value that is not UTF-8
//! as Windows-1252 like every other check, so no byte goes unseen. The thread-keyword
//! conditions and sorts look at the other messages of the thread in SQL. Reached as
//! `store.emails()`, whose writes are in `email_set.rs`.

use std::collections::BTreeMap;

use rusqlite::functions::FunctionFlags;
use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use super::{ObjType, Result, Store};
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
    /// A header field of this name exists (case-insensitive) and, with a value, its value
    /// contains that text (case-insensitive, white space squashed; RFC 2047 words decoded).
    Header(String, Option<String>),
    /// At least one email of the thread has the keyword (RFC 8621 section 4.4.1).
    SomeInThreadHaveKeyword(String),
    /// No email of the thread has the keyword.
    NoneInThreadHaveKeyword(String),
    /// Every email of the thread has the keyword.
    AllInThreadHaveKeyword(String),
}

impl EmailFilter {
    /// Whether an email's place in the results can depend on the other emails of its thread,
    /// so that a change to one of them can move it (Email/queryChanges).
    pub fn looks_at_thread(&self) -> bool {
        match self {
            EmailFilter::And(l) | EmailFilter::Or(l) | EmailFilter::Not(l) => l.iter().any(Self::looks_at_thread),
            EmailFilter::SomeInThreadHaveKeyword(_)
            | EmailFilter::NoneInThreadHaveKeyword(_)
            | EmailFilter::AllInThreadHaveKeyword(_) => true,
            _ => false,
        }
    }
}

/// What `Email/query` sorts by (RFC 8621 section 4.4.2); a keyword sort puts the emails
/// without (false) before those with it (true) when ascending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailSortKey {
    ReceivedAt,
    SentAt,
    Size,
    Subject,
    From,
    To,
    HasKeyword(String),
    SomeInThreadHaveKeyword(String),
    AllInThreadHaveKeyword(String),
}

impl EmailSortKey {
    /// Whether this sort looks at the other emails of the thread.
    pub fn looks_at_thread(&self) -> bool {
        matches!(self, EmailSortKey::SomeInThreadHaveKeyword(_) | EmailSortKey::AllInThreadHaveKeyword(_))
    }
}

/// The email `m` has the keyword bound next.
const HAS_KEYWORD: &str = "EXISTS (SELECT 1 FROM json_each(m.keywords) WHERE value = ?)";
/// Some email of `m`'s thread has the keyword bound next.
const SOME_IN_THREAD: &str = "EXISTS (SELECT 1 FROM message t, json_each(t.keywords) k
     WHERE t.thread_id = m.thread_id AND t.account = m.account AND k.value = ?)";
/// Every email of `m`'s thread has the keyword bound next.
const ALL_IN_THREAD: &str =
    "NOT EXISTS (SELECT 1 FROM message t WHERE t.thread_id = m.thread_id AND t.account = m.account
     AND NOT EXISTS (SELECT 1 FROM json_each(t.keywords) WHERE value = ?))";

/// Register the store's SQL functions on a connection the store opens.
pub(super) fn register_functions(c: &Connection) -> rusqlite::Result<()> {
    // postbote_header(raw message, field name, needle or NULL): see [`header_matches`].
    c.create_scalar_function(
        "postbote_header",
        3,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC | FunctionFlags::SQLITE_DIRECTONLY,
        |ctx| {
            let raw = match ctx.get_raw(0) {
                ValueRef::Blob(b) | ValueRef::Text(b) => b,
                _ => return Ok(false),
            };
            let name = match ctx.get_raw(1) {
                ValueRef::Text(b) => b,
                _ => return Ok(false),
            };
            let needle = match ctx.get_raw(2) {
                ValueRef::Text(b) => Some(String::from_utf8_lossy(b)),
                _ => None,
            };
            Ok(header_matches(raw, name, needle.as_deref()))
        },
    )
}

/// Whether the header section of `raw` has a field named `name` (ASCII case-insensitive)
/// whose value contains `needle` (already in [`crate::message::search_needle`] form), or any
/// such field when `needle` is None. A value is read as it is written (unfolded; bytes that
/// are not UTF-8 as Windows-1252, as `message::header_fields` reads them) and, when it holds
/// RFC 2047 encoded words, decoded too: either reading may match. The lines are read up to
/// the blank line that ends the header section and no further (with none, all of `raw` is
/// header), and only a field of that name is decoded: this runs once per candidate message.
pub fn header_matches(raw: &[u8], name: &[u8], needle: Option<&str>) -> bool {
    let value_matches = |value: &[u8]| {
        let Some(needle) = needle else { return true };
        let v = crate::message::decode_8bit(value).replace(['\r', '\n'], "");
        crate::message::search_needle(&v).contains(needle)
            || (v.contains("=?")
                && decoded_words(&v).is_some_and(|d| crate::message::search_needle(&d).contains(needle)))
    };
    // The value of the field being read, when it is one of `name`.
    let mut value: Option<Vec<u8>> = None;
    for line in raw.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            if let Some(v) = value.as_mut() {
                v.extend_from_slice(line);
            }
            continue;
        }
        if let Some(v) = value.take()
            && value_matches(&v)
        {
            return true;
        }
        if line.is_empty() {
            return false;
        }
        let Some(colon) = line.iter().position(|b| *b == b':') else { continue };
        // Obsolete syntax (RFC 5322 section 4.5) allows white space before the colon.
        let field = line[..colon].trim_ascii_end();
        if field.eq_ignore_ascii_case(name) {
            value = Some(line[colon + 1..].to_vec());
        }
    }
    value.is_some_and(|v| value_matches(&v))
}

/// A header value with its RFC 2047 encoded words decoded, as mail-parser reads unstructured
/// text.
fn decoded_words(value: &str) -> Option<String> {
    let line = format!("{}\r\n", value.trim_start());
    match mail_parser::parsers::MessageStream::new(line.as_bytes()).parse_unstructured() {
        mail_parser::HeaderValue::Text(t) => Some(t.into_owned()),
        _ => None,
    }
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
            out.push_str(HAS_KEYWORD);
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
        EmailFilter::Header(name, value) => {
            out.push_str("postbote_header((SELECT b.data FROM blob b WHERE b.id = m.blob_id), ?, ?)");
            args.push(Value::Text(name.clone()));
            args.push(value.as_deref().map_or(Value::Null, |v| Value::Text(crate::message::search_needle(v))));
        }
        EmailFilter::SomeInThreadHaveKeyword(k) => {
            out.push_str(SOME_IN_THREAD);
            args.push(Value::Text(k.to_lowercase()));
        }
        EmailFilter::NoneInThreadHaveKeyword(k) => {
            out.push_str("NOT ");
            out.push_str(SOME_IN_THREAD);
            args.push(Value::Text(k.to_lowercase()));
        }
        EmailFilter::AllInThreadHaveKeyword(k) => {
            out.push_str(ALL_IN_THREAD);
            args.push(Value::Text(k.to_lowercase()));
        }
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
        // The sort's bound keywords come after the filter's: `?` are numbered in text order.
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
                    EmailSortKey::HasKeyword(kw) => {
                        args.push(Value::Text(kw.to_lowercase()));
                        HAS_KEYWORD
                    }
                    EmailSortKey::SomeInThreadHaveKeyword(kw) => {
                        args.push(Value::Text(kw.to_lowercase()));
                        SOME_IN_THREAD
                    }
                    EmailSortKey::AllInThreadHaveKeyword(kw) => {
                        args.push(Value::Text(kw.to_lowercase()));
                        ALL_IN_THREAD
                    }
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

    /// The emails now in every thread that an Email change after modseq `since` and up to
    /// `until` touched (the change log names the thread of each change): what may have moved
    /// in a query that collapses threads or looks at thread keywords. None when a destroyed
    /// email's change does not name its thread, so the threads cannot be known.
    pub fn in_changed_threads(&self, account: &str, since: i64, until: i64) -> Result<Option<Vec<i64>>> {
        self.0.read(|c| {
            let range = "l.account = ?1 AND l.type = ?2 AND l.modseq > ?3 AND l.modseq <= ?4";
            let p = params![account, ObjType::Email as i64, since, until];
            let unknown: bool = c
                .prepare_cached(&format!(
                    "SELECT EXISTS (SELECT 1 FROM change_log l WHERE {range} AND l.aux IS NULL
                       AND NOT EXISTS (SELECT 1 FROM message x WHERE x.id = l.object_id))"
                ))?
                .query_row(p, |r| r.get(0))?;
            if unknown {
                return Ok(None);
            }
            let mut s = c.prepare_cached(&format!(
                "SELECT m.id FROM message m WHERE m.account = ?1 AND m.thread_id IN (
                   SELECT l.aux FROM change_log l WHERE {range} AND l.aux IS NOT NULL
                   UNION SELECT x.thread_id FROM change_log l JOIN message x ON x.id = l.object_id
                     WHERE {range} AND l.aux IS NULL)
                 ORDER BY m.id"
            ))?;
            let ids = s.query_map(p, |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            Ok(Some(ids))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::folders::FolderState;
    use crate::store::messages::NewMessage;

    #[test]
    fn a_header_is_matched_by_name_and_by_its_value_in_any_form() {
        let raw: &[u8] =
            b"From: k@kunde.test\r\nX-Kunde: Herr M\xfcller\r\nSubject: =?ISO-8859-1?Q?Angebot_f=FCr_K=F6ln?=\r\n\
X-Folded: erste Zeile\r\n\t zweite   Zeile\r\nX-Utf8: Gr\xc3\xbc\xc3\x9fe\r\n\r\nX-Body: im Text\r\n";
        let m = |name: &str, needle: Option<&str>| {
            header_matches(raw, name.as_bytes(), needle.map(crate::message::search_needle).as_deref())
        };
        assert!(m("x-kunde", None), "the name in any case");
        assert!(!m("X-Fehlt", None));
        assert!(m("X-Kunde", Some("MÜLLER")), "a raw Latin-1 value is read as Windows-1252");
        assert!(m("Subject", Some("für köln")), "RFC 2047 words are decoded");
        assert!(m("Subject", Some("ISO-8859-1")), "and the value as written is seen too");
        assert!(m("X-Folded", Some("erste zeile zweite zeile")), "folding and runs of white space");
        assert!(m("X-Utf8", Some("grüße")));
        assert!(!m("X-Kunde", Some("meier")));
        assert!(!m("X-Body", None), "the body is not a header");
        assert!(!header_matches(b"no header at all", b"X", None));
    }

    fn insert(s: &Store, folder: i64, uid: u32, date: i64, flags: &[&str], headers: &[u8]) -> i64 {
        let raw =
            [format!("From: k@kunde.test\r\nMessage-ID: <{uid}@q>\r\n").as_bytes(), headers, b"\r\nText\r\n"].concat();
        let m = NewMessage {
            uid: Some(uid),
            modseq: None,
            flags: flags.iter().map(|f| f.to_string()).collect(),
            internal_date: date,
            raw,
        };
        s.messages()
            .insert("becker", folder, vec![m], Some(FolderState { uidvalidity: 1, ..Default::default() }))
            .unwrap()[0]
    }

    /// A thread of three (1 flagged, 2 flagged and seen, 3 flagged), and a lone email 4
    /// (seen) with a raw 8-bit header.
    #[test]
    fn thread_keyword_filters_and_sorts_and_the_header_filter_in_sql() {
        let (_d, s) = crate::store::test_store();
        let f = s.folders().ensure("becker", "INBOX", Some("inbox")).unwrap().id;
        let e1 = insert(&s, f, 1, 100, &["\\Flagged"], b"Subject: Bad\r\n");
        let e2 = insert(&s, f, 2, 200, &["\\Flagged", "\\Seen"], b"Subject: Re: Bad\r\nIn-Reply-To: <1@q>\r\n");
        let e3 = insert(&s, f, 3, 300, &["\\Flagged"], b"Subject: Re: Bad\r\nReferences: <1@q> <2@q>\r\n");
        let e4 = insert(&s, f, 4, 400, &["\\Seen"], b"Subject: Dach\r\nX-Kunde: Herr M\xfcller\r\n");
        let q = |filter: EmailFilter, sort: &[(EmailSortKey, bool)]| -> Vec<i64> {
            s.emails().query("becker", &filter, sort).unwrap().into_iter().map(|r| r.0).collect()
        };
        let threads: Vec<i64> =
            s.emails().query("becker", &EmailFilter::And(vec![]), &[]).unwrap().into_iter().map(|r| r.1).collect();
        assert_eq!(threads[1..].iter().collect::<std::collections::HashSet<_>>().len(), 1, "one thread of three");
        let by_date = [(EmailSortKey::ReceivedAt, true)];
        let seen = || "$seen".to_string();
        assert_eq!(q(EmailFilter::SomeInThreadHaveKeyword(seen()), &by_date), [e1, e2, e3, e4]);
        assert_eq!(q(EmailFilter::NoneInThreadHaveKeyword("$flagged".into()), &by_date), [e4]);
        assert_eq!(q(EmailFilter::AllInThreadHaveKeyword("$flagged".into()), &by_date), [e1, e2, e3]);
        assert_eq!(q(EmailFilter::AllInThreadHaveKeyword(seen()), &by_date), [e4]);
        assert_eq!(q(EmailFilter::NoneInThreadHaveKeyword(seen()), &by_date), Vec::<i64>::new());
        // Sorts: false before true ascending; ties by the next comparator.
        let all = || EmailFilter::And(vec![]);
        assert_eq!(
            q(all(), &[(EmailSortKey::HasKeyword(seen()), true), (EmailSortKey::ReceivedAt, true)]),
            [e1, e3, e2, e4]
        );
        assert_eq!(
            q(all(), &[(EmailSortKey::HasKeyword(seen()), false), (EmailSortKey::ReceivedAt, true)]),
            [e2, e4, e1, e3]
        );
        assert_eq!(
            q(all(), &[(EmailSortKey::AllInThreadHaveKeyword(seen()), false), (EmailSortKey::ReceivedAt, true)]),
            [e4, e1, e2, e3]
        );
        assert_eq!(
            q(
                all(),
                &[(EmailSortKey::SomeInThreadHaveKeyword("$flagged".into()), true), (EmailSortKey::ReceivedAt, false)]
            ),
            [e4, e3, e2, e1]
        );
        // A sort's keyword is bound after the filter's.
        assert_eq!(
            q(
                EmailFilter::HasKeyword("$flagged".into()),
                &[(EmailSortKey::HasKeyword(seen()), false), (EmailSortKey::ReceivedAt, true)]
            ),
            [e2, e1, e3]
        );
        // header, in SQL over the raw bytes, a raw 8-bit value included.
        assert_eq!(q(EmailFilter::Header("x-kunde".into(), None), &by_date), [e4]);
        assert_eq!(q(EmailFilter::Header("X-Kunde".into(), Some("müller".into())), &by_date), [e4]);
        assert_eq!(q(EmailFilter::Header("In-Reply-To".into(), None), &by_date), [e2]);
        assert_eq!(
            q(EmailFilter::Not(vec![EmailFilter::Header("Subject".into(), Some("re:".into()))]), &by_date),
            [e1, e4]
        );
    }

    #[test]
    fn the_emails_of_changed_threads() {
        let (_d, s) = crate::store::test_store();
        let f = s.folders().ensure("becker", "INBOX", Some("inbox")).unwrap().id;
        let e1 = insert(&s, f, 1, 100, &[], b"Subject: a\r\n");
        let e2 = insert(&s, f, 2, 200, &[], b"Subject: b\r\n");
        let since = s.changes().states("becker").unwrap().unwrap().modseq(ObjType::Email);
        let e3 = insert(&s, f, 3, 300, &[], b"Subject: Re: a\r\nIn-Reply-To: <1@q>\r\n");
        let now = s.changes().states("becker").unwrap().unwrap().modseq(ObjType::Email);
        assert_eq!(s.emails().in_changed_threads("becker", since, now).unwrap(), Some(vec![e1, e3]));
        assert_eq!(s.emails().in_changed_threads("becker", now, now).unwrap(), Some(vec![]));
        let _ = e2;
    }
}
