//! SEARCH: whether a message matches a search key.
//!
//! STAND-IN: this file is a minimal stand-in for the real matcher, which is built on its own
//! branch (`imapd-render`: every RFC 3501/9051 key, TEXT and BODY on the store's decoded body
//! text) and replaces it at the merge with the same interface. It knows ALL, a sequence set,
//! UID, SEEN, UNSEEN, DELETED, UNDELETED, FLAGGED, UNFLAGGED, ANSWERED, DRAFT, KEYWORD, NOT,
//! OR, AND and MODSEQ; every other key matches nothing. It is pure: no store, no I/O.

use imap_codec::imap_types::search::SearchKey;
use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};

/// What SEARCH needs of one message.
#[derive(Debug, Clone, Copy)]
pub struct SearchMsg<'a> {
    pub seq: u32,
    pub uid: u32,
    pub keywords: &'a [String],
    pub deleted: bool,
    pub internal_date: i64,
    pub size: u32,
    pub modseq: u64,
    pub raw: &'a [u8],
    /// The decoded body text the store keeps (lowercased), when [`needs`] asked for it.
    pub text: Option<&'a str>,
}

/// What a search key needs loaded beyond the message's row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    pub raw: bool,
    pub text: bool,
}

/// What `key` needs to be decided.
pub fn needs(key: &SearchKey<'_>) -> Needs {
    match key {
        SearchKey::And(keys) => keys.as_ref().iter().fold(Needs::default(), |a, k| or(a, needs(k))),
        SearchKey::Or(a, b) => or(needs(a), needs(b)),
        SearchKey::Not(k) => needs(k),
        _ => Needs::default(),
    }
}

fn or(a: Needs, b: Needs) -> Needs {
    Needs { raw: a.raw || b.raw, text: a.text || b.text }
}

/// Whether `set` holds `n` (`*` is `last`).
pub fn in_set(set: &SequenceSet, n: u32, last: u32) -> bool {
    let v = |s: &SeqOrUid| match s {
        SeqOrUid::Value(v) => v.get(),
        SeqOrUid::Asterisk => last,
    };
    set.0.as_ref().iter().any(|s| match s {
        Sequence::Single(x) => v(x) == n,
        Sequence::Range(a, b) => {
            let (a, b) = (v(a).min(v(b)), v(a).max(v(b)));
            (a..=b).contains(&n)
        }
    })
}

fn has(m: &SearchMsg<'_>, k: &str) -> bool {
    m.keywords.iter().any(|x| x.eq_ignore_ascii_case(k))
}

/// Whether `m` matches `key`; `last_seq` and `last_uid` are what `*` means.
pub fn matches(key: &SearchKey<'_>, m: &SearchMsg<'_>, last_seq: u32, last_uid: u32) -> bool {
    match key {
        SearchKey::All => true,
        SearchKey::And(keys) => keys.as_ref().iter().all(|k| matches(k, m, last_seq, last_uid)),
        SearchKey::Or(a, b) => matches(a, m, last_seq, last_uid) || matches(b, m, last_seq, last_uid),
        SearchKey::Not(k) => !matches(k, m, last_seq, last_uid),
        SearchKey::SequenceSet(s) => in_set(s, m.seq, last_seq),
        SearchKey::Uid(s) => in_set(s, m.uid, last_uid),
        SearchKey::Seen => has(m, "$seen"),
        SearchKey::Unseen => !has(m, "$seen"),
        SearchKey::Flagged => has(m, "$flagged"),
        SearchKey::Unflagged => !has(m, "$flagged"),
        SearchKey::Answered => has(m, "$answered"),
        SearchKey::Unanswered => !has(m, "$answered"),
        SearchKey::Draft => has(m, "$draft"),
        SearchKey::Undraft => !has(m, "$draft"),
        SearchKey::Deleted => m.deleted,
        SearchKey::Undeleted => !m.deleted,
        SearchKey::Keyword(k) => has(m, k.as_ref()),
        SearchKey::Unkeyword(k) => !has(m, k.as_ref()),
        SearchKey::ModSequence { modseq, .. } => m.modseq >= *modseq,
        _ => false,
    }
}
