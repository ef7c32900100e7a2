//! FETCH answers as postbote's own values: a whole message ([`Fetched`]) or a flag change
//! ([`FlagItem`], with QRESYNC's VANISHED ranges), read one response at a time from a
//! [`super::wire::Command`]. Nothing here holds more than the one message being read.

use std::ops::RangeInclusive;

use async_imap::imap_proto::{AttributeValue, Response};

/// A message as the server gave it with `UID FLAGS INTERNALDATE BODY.PEEK[] [MODSEQ]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub uid: Option<u32>,
    pub modseq: Option<u64>,
    pub flags: Vec<String>,
    /// INTERNALDATE as unix seconds (0 when the server's date cannot be read).
    pub internal_date: i64,
    pub raw: Vec<u8>,
}

/// A FETCH answer with a body; `None` for other responses and FETCHes without a body.
pub fn message(r: &Response<'_>) -> Option<Fetched> {
    let Response::Fetch(_, attrs) = r else { return None };
    let mut m = Fetched { uid: None, modseq: None, flags: Vec::new(), internal_date: 0, raw: Vec::new() };
    let mut body = false;
    for a in attrs {
        match a {
            AttributeValue::Uid(u) => m.uid = Some(*u),
            AttributeValue::ModSeq(v) => m.modseq = Some(*v),
            AttributeValue::Flags(f) => m.flags = f.iter().map(|x| x.to_string()).collect(),
            AttributeValue::InternalDate(d) => m.internal_date = internal_date(d).unwrap_or(0),
            AttributeValue::BodySection { section: None, data: Some(d), .. } | AttributeValue::Rfc822(Some(d)) => {
                m.raw = d.to_vec();
                body = true;
            }
            _ => {}
        }
    }
    body.then_some(m)
}

/// What a flag fetch (`UID FETCH .. (UID FLAGS) [(CHANGEDSINCE ..)]`) answers.
pub enum FlagItem {
    /// A message's UID and its flags (`None` when the answer carried none).
    Flags(u32, Option<Vec<String>>),
    /// QRESYNC: these UIDs are gone.
    Vanished(Vec<RangeInclusive<u32>>),
}

/// A flag fetch's answer line; `None` for anything else.
pub fn flags(r: &Response<'_>) -> Option<FlagItem> {
    match r {
        Response::Fetch(_, attrs) => {
            let mut uid = None;
            let mut flags = None;
            for a in attrs {
                match a {
                    AttributeValue::Uid(u) => uid = Some(*u),
                    AttributeValue::Flags(f) => flags = Some(f.iter().map(|x| x.to_string()).collect::<Vec<_>>()),
                    _ => {}
                }
            }
            uid.map(|u| FlagItem::Flags(u, flags))
        }
        Response::Vanished { uids, .. } => Some(FlagItem::Vanished(uids.clone())),
        _ => None,
    }
}

/// INTERNALDATE (`" 2-Nov-2026 09:15:00 +0100"`) as unix seconds.
pub fn internal_date(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_str(s.trim(), "%d-%b-%Y %H:%M:%S %z").ok().map(|d| d.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_dates_parse_with_and_without_padding() {
        assert_eq!(internal_date(" 2-Nov-2026 09:15:00 +0100"), Some(1_793_607_300));
        assert_eq!(internal_date("02-Nov-2026 09:15:00 +0100"), Some(1_793_607_300));
        assert_eq!(internal_date("garbage"), None);
    }
}
