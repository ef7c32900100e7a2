//! What a FETCH answers for one message: every message data item of RFC 3501/9051 (and
//! BINARY, RFC 3516; MODSEQ, RFC 7162), rendered from the raw bytes as stored into imap-types
//! values that the session encodes with imap-codec.
//!
//! The answers follow Dovecot's for the same bytes, so a phone sees the same ENVELOPE and
//! BODYSTRUCTURE from postbote as from the hosted server: header values as written (encoded
//! words left encoded, letter case kept), a string as a literal when it has 8-bit bytes, CR,
//! LF, `"` or `\` (Dovecot's choice), otherwise quoted; a section that does not exist is the
//! empty string. `tests/imapd/*.dovecot` hold Dovecot 2.3's own answers for the `.eml` files
//! beside them, and the tests compare item by item. Where imap-codec cannot say what Dovecot
//! says (it writes `"TEXT"` and `"MESSAGE" "RFC822"` in capitals, and no `<origin>` after a
//! partial BINARY), the tests name the difference.
//!
//! Pure: no store, no I/O, no clock; never panics on any bytes (a property test holds it to
//! that). The session supplies UID, flags, dates and MODSEQ; `sets_seen` tells it whether the
//! items read the message so that `\Seen` must be set; `binary_unknown_cte` whether a BINARY
//! item must be refused with `NO [UNKNOWN-CTE]`.

mod envelope;
pub(super) mod mime;
mod section;
mod structure;

#[cfg(test)]
pub(super) mod test_wire;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::cell::OnceCell;
use std::num::{NonZeroU32, NonZeroU64};

use chrono::{FixedOffset, TimeZone};
use imap_codec::imap_types::core::{IString, Literal, NString, Quoted};
use imap_codec::imap_types::datetime::DateTime;
use imap_codec::imap_types::fetch::{MessageDataItem, MessageDataItemName};
use imap_codec::imap_types::flag::{Flag, FlagFetch};

use crate::store::messages::keyword_to_flag;

/// One message as a FETCH sees it. The session supplies its own UID and MODSEQ.
pub struct Msg<'a> {
    pub uid: u32,
    /// The store's JMAP keywords (`$seen`, `$flagged`, `kunde`, ...).
    pub keywords: &'a [String],
    /// The session's `\Deleted` state (not a JMAP keyword).
    pub deleted: bool,
    /// Unix seconds.
    pub internal_date: i64,
    /// RFC822.SIZE (the raw length).
    pub size: u32,
    pub modseq: u64,
    /// The raw RFC 5322 bytes, exactly as stored.
    pub raw: &'a [u8],
}

/// Renders the requested items, in the order asked. An item that has no value for this
/// message (UID or MODSEQ 0) is left out rather than invented.
pub fn fetch(msg: &Msg<'_>, items: &[MessageDataItemName<'_>]) -> Vec<MessageDataItem<'static>> {
    let tree = OnceCell::new();
    let tree = || tree.get_or_init(|| mime::parse(msg.raw));
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let rendered = match item {
            MessageDataItemName::Uid => NonZeroU32::new(msg.uid).map(MessageDataItem::Uid),
            MessageDataItemName::Flags => Some(MessageDataItem::Flags(flags(msg.keywords, msg.deleted))),
            MessageDataItemName::InternalDate => Some(MessageDataItem::InternalDate(internal_date(msg.internal_date))),
            MessageDataItemName::Rfc822Size => Some(MessageDataItem::Rfc822Size(msg.size)),
            MessageDataItemName::Rfc822 => Some(MessageDataItem::Rfc822(literal(msg.raw))),
            MessageDataItemName::Rfc822Header => {
                Some(MessageDataItem::Rfc822Header(literal(&msg.raw[tree().header.clone()])))
            }
            MessageDataItemName::Rfc822Text => {
                Some(MessageDataItem::Rfc822Text(literal(&msg.raw[tree().body.clone()])))
            }
            MessageDataItemName::Envelope => {
                Some(MessageDataItem::Envelope(envelope::envelope(&msg.raw[tree().header.clone()])))
            }
            MessageDataItemName::Body => Some(MessageDataItem::Body(structure::body_structure(msg.raw, tree(), false))),
            MessageDataItemName::BodyStructure => {
                Some(MessageDataItem::BodyStructure(structure::body_structure(msg.raw, tree(), true)))
            }
            MessageDataItemName::BodyExt { section, partial, .. } => {
                Some(section::body_ext(msg.raw, tree(), section.as_ref(), *partial))
            }
            MessageDataItemName::Binary { section, partial, .. } => {
                Some(section::binary(msg.raw, tree(), section, *partial))
            }
            MessageDataItemName::BinarySize { section } => Some(section::binary_size(msg.raw, tree(), section)),
            MessageDataItemName::ModSeq => NonZeroU64::new(msg.modseq).map(MessageDataItem::ModSeq),
        };
        out.extend(rendered);
    }
    out
}

/// Whether a BINARY or BINARY.SIZE item names content in a transfer encoding that cannot be
/// decoded (say `x-uuencode`). The session asks this before [`fetch`] and then answers the
/// command `NO [UNKNOWN-CTE]` instead (RFC 3516 §4.3); `fetch` itself would send such content
/// undecoded.
pub fn binary_unknown_cte(msg: &Msg<'_>, items: &[MessageDataItemName<'_>]) -> bool {
    let mut tree = None;
    items.iter().any(|item| match item {
        MessageDataItemName::Binary { section, .. } | MessageDataItemName::BinarySize { section } => {
            let root = tree.get_or_insert_with(|| mime::parse(msg.raw));
            section::unknown_cte(msg.raw, root, section)
        }
        _ => false,
    })
}

/// Whether the items set `\Seen`: a BODY[...] or BINARY[...] without PEEK, RFC822 or
/// RFC822.TEXT (RFC 3501 §6.4.5; RFC822.HEADER does not).
pub fn sets_seen(items: &[MessageDataItemName<'_>]) -> bool {
    items.iter().any(|i| match i {
        MessageDataItemName::BodyExt { peek, .. } | MessageDataItemName::Binary { peek, .. } => !peek,
        MessageDataItemName::Rfc822 | MessageDataItemName::Rfc822Text => true,
        _ => false,
    })
}

/// FLAGS of a message: system flags from `$seen` etc. (through the store's one mapping),
/// keywords as atoms (a keyword that is no valid IMAP atom is left out), then `\Deleted`.
pub fn flags(keywords: &[String], deleted: bool) -> Vec<FlagFetch<'static>> {
    let mut out: Vec<FlagFetch<'static>> = keywords
        .iter()
        .filter_map(|k| {
            let flag = keyword_to_flag(k);
            let flag = match flag.strip_prefix('\\') {
                Some(system) => Flag::system(imap_codec::imap_types::core::Atom::try_from(system.to_string()).ok()?),
                None => Flag::Keyword(imap_codec::imap_types::core::Atom::try_from(flag).ok()?),
            };
            Some(FlagFetch::Flag(flag))
        })
        .collect();
    if deleted {
        out.push(FlagFetch::Flag(Flag::Deleted));
    }
    out
}

/// INTERNALDATE in UTC (+0000). A time imap-types cannot carry becomes the epoch.
fn internal_date(unix: i64) -> DateTime {
    let utc = FixedOffset::east_opt(0).expect("zero offset");
    let at = utc.timestamp_opt(unix, 0).single().and_then(|t| DateTime::try_from(t).ok());
    at.unwrap_or_else(|| DateTime::try_from(utc.timestamp_opt(0, 0).unwrap()).expect("the epoch is a valid date"))
}

/// Message bytes as a literal. A literal cannot hold NUL: Dovecot sends NUL as 0x80, and so
/// does this.
fn literal(bytes: &[u8]) -> NString<'static> {
    NString(Some(IString::Literal(Literal::try_from(no_nuls(bytes).into_owned()).expect("no NUL is left"))))
}

fn no_nuls(bytes: &[u8]) -> Cow<'_, [u8]> {
    if bytes.contains(&0) {
        Cow::Owned(bytes.iter().map(|&b| if b == 0 { 0x80 } else { b }).collect())
    } else {
        Cow::Borrowed(bytes)
    }
}

/// A string the way Dovecot writes it: quoted when every byte may stand in a quoted string
/// unescaped, otherwise a literal (8-bit, CR, LF, `"` or `\`). `folded` values (a header that
/// spanned lines) lose their CR and LF and are always literals, as in Dovecot's envelope.
fn string(bytes: &[u8], folded: bool) -> IString<'static> {
    let plain =
        !folded && bytes.iter().all(|&b| matches!(b, 0x01..=0x7f) && !matches!(b, b'\r' | b'\n' | b'"' | b'\\'));
    if plain {
        let text = String::from_utf8(bytes.to_vec()).expect("ASCII");
        return IString::Quoted(Quoted::try_from(text).expect("checked above"));
    }
    let cleaned: Vec<u8> = no_nuls(bytes).iter().copied().filter(|b| !matches!(b, b'\r' | b'\n')).collect();
    IString::Literal(Literal::try_from(cleaned).expect("no NUL, CR or LF is left"))
}

fn nstring(bytes: Option<&[u8]>) -> NString<'static> {
    NString(bytes.map(|b| string(b, false)))
}
