//! Whether one message matches an IMAP SEARCH key (RFC 3501 §6.4.4, RFC 9051 §6.4.4, MODSEQ
//! of RFC 7162). Pure: the session loads each message's data (only what `needs` says the key
//! reads) and asks `matches`.
//!
//! Strings match as case-insensitive substrings of decoded text: header values are read
//! with `message::header_fields` (bytes that are not UTF-8 as Windows-1252), RFC 2047 words
//! decoded by mail-parser, and both sides lowercased with white space squashed by
//! `message::search_needle`. BODY and TEXT search the store's decoded, lowercased body text
//! (`message_text`), so a word with umlauts in a quoted-printable body is found; TEXT also
//! searches every header section, names and values, the MIME parts' headers included (as
//! Dovecot does: `TEXT content-language` finds a part's Content-Language field), each field on
//! its own, so a string never matches across the end of one field and the start of the next.
//! BEFORE, ON and SINCE compare the UTC day of INTERNALDATE; the SENT* keys the day written
//! in the Date header, in its own time zone (RFC 3501 §6.4.4: "disregarding time and
//! timezone"; a message without a readable Date header counts as sent on 1 January 1970, as
//! in Dovecot). RECENT is never true (postbote keeps no
//! `\Recent`), so NEW never is and OLD always is.

use std::cell::OnceCell;

use chrono::NaiveDate;
use imap_codec::imap_types::core::AString;
use imap_codec::imap_types::search::SearchKey;
use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};
use mail_parser::MessageParser;

use super::render::mime::{self, Kind};
use crate::message::{header_fields, search_needle};
use crate::store::messages::flag_to_keyword;

/// One message as SEARCH sees it.
pub struct SearchMsg<'a> {
    pub seq: u32,
    pub uid: u32,
    pub keywords: &'a [String],
    pub deleted: bool,
    /// Unix seconds.
    pub internal_date: i64,
    pub size: u32,
    pub modseq: u64,
    /// The raw message; may be empty when `needs(key).raw` was false.
    pub raw: &'a [u8],
    /// The store's decoded, lowercased body text (`message_text`), when `needs(key).text`.
    pub text: Option<&'a str>,
}

/// What a key reads besides flags, dates and sizes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    pub raw: bool,
    pub text: bool,
}

/// What the session must load for `key`.
pub fn needs(key: &SearchKey<'_>) -> Needs {
    use SearchKey as K;
    match key {
        K::And(keys) => keys
            .as_ref()
            .iter()
            .map(needs)
            .fold(Needs::default(), |a, b| Needs { raw: a.raw || b.raw, text: a.text || b.text }),
        K::Not(k) => needs(k),
        K::Or(a, b) => {
            let (a, b) = (needs(a), needs(b));
            Needs { raw: a.raw || b.raw, text: a.text || b.text }
        }
        K::Bcc(_) | K::Cc(_) | K::From(_) | K::To(_) | K::Header(..) | K::Subject(_) => {
            Needs { raw: true, text: false }
        }
        K::SentBefore(_) | K::SentOn(_) | K::SentSince(_) => Needs { raw: true, text: false },
        K::Body(_) => Needs { raw: false, text: true },
        K::Text(_) => Needs { raw: true, text: true },
        _ => Needs::default(),
    }
}

/// Whether `m` matches `key`. `last_seq`/`last_uid` resolve `*` in sequence sets.
pub fn matches(key: &SearchKey<'_>, m: &SearchMsg<'_>, last_seq: u32, last_uid: u32) -> bool {
    let ctx = Ctx { m, last_seq, last_uid, headers: OnceCell::new(), all_headers: OnceCell::new() };
    ctx.eval(key)
}

struct Ctx<'a, 'm> {
    m: &'a SearchMsg<'m>,
    last_seq: u32,
    last_uid: u32,
    /// Header names (lowercase) and values (read as Windows-1252 where not UTF-8), read
    /// once; a value is decoded only when a key reads that field.
    headers: OnceCell<Vec<(String, String)>>,
    /// Every field of every header section of the message (its own and its MIME parts'), as
    /// `name: value` decoded, lowercased and squashed, one string per field: what TEXT reads
    /// besides the body.
    all_headers: OnceCell<Vec<String>>,
}

impl Ctx<'_, '_> {
    fn eval(&self, key: &SearchKey<'_>) -> bool {
        use SearchKey as K;
        let m = self.m;
        match key {
            K::And(keys) => keys.as_ref().iter().all(|k| self.eval(k)),
            K::Not(k) => !self.eval(k),
            K::Or(a, b) => self.eval(a) || self.eval(b),
            K::SequenceSet(set) => in_set(set, m.seq, self.last_seq),
            K::Uid(set) => in_set(set, m.uid, self.last_uid),
            K::All => true,
            K::Answered => self.has("$answered"),
            K::Unanswered => !self.has("$answered"),
            K::Deleted => m.deleted,
            K::Undeleted => !m.deleted,
            K::Draft => self.has("$draft"),
            K::Undraft => !self.has("$draft"),
            K::Flagged => self.has("$flagged"),
            K::Unflagged => !self.has("$flagged"),
            K::Seen => self.has("$seen"),
            K::Unseen => !self.has("$seen"),
            K::Keyword(k) => flag_to_keyword(k.as_ref()).is_some_and(|k| self.has(&k)),
            K::Unkeyword(k) => !flag_to_keyword(k.as_ref()).is_some_and(|k| self.has(&k)),
            K::Recent | K::New => false,
            K::Old => true,
            K::Larger(n) => m.size > *n,
            K::Smaller(n) => m.size < *n,
            K::Before(d) => day(m.internal_date).is_some_and(|x| x < *d.as_ref()),
            K::On(d) => day(m.internal_date) == Some(*d.as_ref()),
            K::Since(d) => day(m.internal_date).is_some_and(|x| x >= *d.as_ref()),
            K::SentBefore(d) => self.sent_day().is_some_and(|x| x < *d.as_ref()),
            K::SentOn(d) => self.sent_day() == Some(*d.as_ref()),
            K::SentSince(d) => self.sent_day().is_some_and(|x| x >= *d.as_ref()),
            K::Bcc(s) => self.header_has("bcc", s),
            K::Cc(s) => self.header_has("cc", s),
            K::From(s) => self.header_has("from", s),
            K::To(s) => self.header_has("to", s),
            K::Subject(s) => self.header_has("subject", s),
            K::Header(name, s) => {
                let name = String::from_utf8_lossy(name.as_ref()).to_ascii_lowercase();
                self.header_has(&name, s)
            }
            K::Body(s) => self.body_has(s),
            K::Text(s) => {
                let needle = needle(s);
                self.body_has(s) || self.all_headers().iter().any(|field| field.contains(&needle))
            }
            K::ModSequence { modseq, .. } => m.modseq >= *modseq,
        }
    }

    fn has(&self, keyword: &str) -> bool {
        self.m.keywords.iter().any(|k| k.eq_ignore_ascii_case(keyword))
    }

    fn headers(&self) -> &[(String, String)] {
        self.headers.get_or_init(|| {
            header_fields(self.m.raw).into_iter().map(|(name, value)| (name.to_ascii_lowercase(), value)).collect()
        })
    }

    fn all_headers(&self) -> &[String] {
        self.all_headers.get_or_init(|| {
            let raw = self.m.raw;
            let mut lines = Vec::new();
            let mut parts = vec![mime::parse(raw)];
            while let Some(part) = parts.pop() {
                for (name, value) in header_fields(&raw[part.header.clone()]) {
                    lines.push(search_needle(&format!("{name}: {}", decode_words(&value))));
                }
                match part.kind {
                    Kind::Multi(children) => parts.extend(children.into_iter().rev()),
                    Kind::Message(inner) => parts.push(*inner),
                    Kind::Leaf => {}
                }
            }
            lines
        })
    }

    /// Any field called `name` contains `s`; an empty `s` asks only that the field exists.
    fn header_has(&self, name: &str, s: &AString<'_>) -> bool {
        let needle = needle(s);
        self.headers().iter().any(|(n, v)| n == name && searchable(v).contains(&needle))
    }

    fn body_has(&self, s: &AString<'_>) -> bool {
        self.m.text.is_some_and(|t| t.contains(&needle(s)))
    }

    fn sent_day(&self) -> Option<NaiveDate> {
        let date = self.headers().iter().find(|(n, _)| n == "date").and_then(|(_, v)| sent_at(v));
        day(date.unwrap_or(0))
    }
}

fn needle(s: &AString<'_>) -> String {
    search_needle(&String::from_utf8_lossy(s.as_ref()))
}

/// A header value as strings are matched against it: words decoded, lowercased, white space
/// squashed.
fn searchable(value: &str) -> String {
    search_needle(&decode_words(value))
}

/// RFC 2047 words of an unstructured value decoded (mail-parser reads it as a Subject).
fn decode_words(value: &str) -> String {
    if !value.contains("=?") {
        return value.to_string();
    }
    let mut raw = b"Subject: ".to_vec();
    raw.extend_from_slice(value.as_bytes());
    raw.extend_from_slice(b"\r\n\r\n");
    MessageParser::default()
        .parse_headers(&raw)
        .and_then(|m| m.subject().map(str::to_string))
        .unwrap_or_else(|| value.to_string())
}

/// The time of a Date header value as written, in unix seconds with the header's own offset
/// added (so that its UTC day is the day written there), if mail-parser can read it. RFC 3501
/// §6.4.4 compares the Date header "disregarding time and timezone"; Dovecot adds the offset
/// the same way.
fn sent_at(value: &str) -> Option<i64> {
    let mut raw = b"Date: ".to_vec();
    raw.extend_from_slice(value.as_bytes());
    raw.extend_from_slice(b"\r\n\r\n");
    let msg = MessageParser::default().parse_headers(&raw)?;
    msg.date().map(|d| {
        let offset = i64::from(d.tz_hour) * 3600 + i64::from(d.tz_minute) * 60;
        d.to_timestamp() + if d.tz_before_gmt { -offset } else { offset }
    })
}

/// The UTC day of a unix time.
fn day(unix: i64) -> Option<NaiveDate> {
    chrono::DateTime::from_timestamp(unix, 0).map(|t| t.date_naive())
}

/// Whether `n` is in `set`, `*` being `last` (for SEARCH, and the session's FETCH, STORE,
/// COPY and EXPUNGE sets alike).
pub fn in_set(set: &SequenceSet, n: u32, last: u32) -> bool {
    let value = |v: &SeqOrUid| match v {
        SeqOrUid::Value(v) => v.get(),
        SeqOrUid::Asterisk => last,
    };
    set.0.as_ref().iter().any(|s| match s {
        Sequence::Single(v) => value(v) == n,
        Sequence::Range(a, b) => {
            let (a, b) = (value(a), value(b));
            a.min(b) <= n && n <= a.max(b)
        }
    })
}

#[cfg(test)]
#[path = "search_tests.rs"]
mod tests;
