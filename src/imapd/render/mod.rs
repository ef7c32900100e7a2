//! FETCH rendering: a message's stored data as FETCH data items.
//!
//! STAND-IN: this file is a minimal stand-in for the real renderer, which is built on its own
//! branch (`imapd-render`: ENVELOPE, BODYSTRUCTURE, BODY[section]<partial>, HEADER.FIELDS,
//! MIME, BINARY) and replaces it at the merge with the same interface. It renders only UID,
//! FLAGS, RFC822.SIZE, INTERNALDATE, MODSEQ, RFC822 and BODY[]/BODY.PEEK[] of the whole
//! message (with a partial range), and leaves out every other item. It is pure: no store, no
//! I/O.

use std::num::{NonZeroU32, NonZeroU64};

use imap_codec::imap_types::IntoStatic;
use imap_codec::imap_types::core::{Literal, NString};
use imap_codec::imap_types::datetime::DateTime;
use imap_codec::imap_types::fetch::{MessageDataItem, MessageDataItemName};
use imap_codec::imap_types::flag::{Flag, FlagFetch};

/// What FETCH needs of one message.
#[derive(Debug, Clone, Copy)]
pub struct Msg<'a> {
    pub uid: u32,
    pub keywords: &'a [String],
    pub deleted: bool,
    pub internal_date: i64,
    pub size: u32,
    pub modseq: u64,
    pub raw: &'a [u8],
}

fn nstring(bytes: &[u8]) -> NString<'static> {
    match Literal::try_from(bytes.to_vec()) {
        Ok(l) => NString(Some(l.into())),
        Err(_) => NString(None),
    }
}

fn date(unix: i64) -> Option<DateTime> {
    let t = chrono::DateTime::from_timestamp(unix, 0)?;
    DateTime::try_from(t.fixed_offset()).ok()
}

/// The data items of `items` for `msg`, in the order asked.
pub fn fetch(msg: &Msg<'_>, items: &[MessageDataItemName<'_>]) -> Vec<MessageDataItem<'static>> {
    let mut out = Vec::new();
    for item in items {
        match item {
            MessageDataItemName::Uid => {
                if let Some(u) = NonZeroU32::new(msg.uid) {
                    out.push(MessageDataItem::Uid(u));
                }
            }
            MessageDataItemName::Flags => out.push(MessageDataItem::Flags(flags(msg.keywords, msg.deleted))),
            MessageDataItemName::Rfc822Size => out.push(MessageDataItem::Rfc822Size(msg.size)),
            MessageDataItemName::InternalDate => {
                if let Some(d) = date(msg.internal_date) {
                    out.push(MessageDataItem::InternalDate(d));
                }
            }
            MessageDataItemName::ModSeq => {
                out.push(MessageDataItem::ModSeq(NonZeroU64::new(msg.modseq).unwrap_or(NonZeroU64::MIN)))
            }
            MessageDataItemName::Rfc822 => out.push(MessageDataItem::Rfc822(nstring(msg.raw))),
            MessageDataItemName::BodyExt { section: None, partial, .. } => {
                let (origin, data) = match partial {
                    None => (None, msg.raw),
                    Some((from, len)) => {
                        let from = (*from as usize).min(msg.raw.len());
                        let to = from.saturating_add(len.get() as usize).min(msg.raw.len());
                        (Some(from as u32), &msg.raw[from..to])
                    }
                };
                out.push(MessageDataItem::BodyExt { section: None, origin, data: nstring(data) });
            }
            _ => {}
        }
    }
    out
}

/// Whether fetching `items` sets `\Seen` (a body part without PEEK).
pub fn sets_seen(items: &[MessageDataItemName<'_>]) -> bool {
    items.iter().any(|i| {
        matches!(
            i,
            MessageDataItemName::BodyExt { peek: false, .. }
                | MessageDataItemName::Rfc822
                | MessageDataItemName::Rfc822Text
                | MessageDataItemName::Binary { peek: false, .. }
        )
    })
}

/// The FLAGS of a message: its JMAP keywords as IMAP flags, and `\Deleted`.
pub fn flags(keywords: &[String], deleted: bool) -> Vec<FlagFetch<'static>> {
    let mut out: Vec<FlagFetch<'static>> = Vec::new();
    for k in keywords {
        let f = match k.as_str() {
            "$seen" => Flag::Seen,
            "$flagged" => Flag::Flagged,
            "$answered" => Flag::Answered,
            "$draft" => Flag::Draft,
            other => match Flag::try_from(other) {
                Ok(f) => f.into_static(),
                Err(_) => continue,
            },
        };
        out.push(FlagFetch::Flag(f));
    }
    if deleted {
        out.push(FlagFetch::Flag(Flag::Deleted));
    }
    out
}
