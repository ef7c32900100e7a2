//! Commands about one folder: its numbers (STATUS, EXAMINE), a UID SEARCH, and the folder
//! changes the write-back makes (SELECT, CREATE, RENAME, DELETE).
//!
//! Folder names go in as people write them and are encoded here ([`mutf7::encode`]); the
//! `wire` variants take a name exactly as LIST gave it. Numbers come back as [`Numbers`], the
//! input of the mirror's pure planning. An answer without UIDVALIDITY is a protocol error:
//! nothing can be planned without it.

use async_imap::imap_proto::{MailboxDatum, Response, ResponseCode, StatusAttribute};

use super::profile::ServerProfile;
use super::wire::{self, SessionOf, Stream, quote};
use super::{Error, mutf7};

/// What the server says about a folder now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Numbers {
    pub uidvalidity: u32,
    pub uidnext: Option<u32>,
    pub highestmodseq: Option<u64>,
    pub exists: u32,
}

/// The wire form of a name as people write it.
pub fn wire_name(name: &str) -> String {
    quote(&mutf7::encode(name))
}

/// STATUS of a folder that is not selected (`wire` as LIST gave it; `name` for errors). A
/// server may answer STATUS of the selected folder from a stale view: see
/// [`super::ServerProfile::stale_status_when_selected`].
pub async fn status<S: Stream>(
    s: &mut SessionOf<S>,
    condstore: bool,
    wire: &str,
    name: &str,
) -> Result<Numbers, Error> {
    let items =
        if condstore { "(UIDNEXT UIDVALIDITY MESSAGES HIGHESTMODSEQ)" } else { "(UIDNEXT UIDVALIDITY MESSAGES)" };
    let what = format!("STATUS {name}");
    let cmd = wire::send(s, &format!("STATUS {} {items}", quote(wire)), what.clone()).await?;
    let mut sv = Numbers::default();
    let mut got_validity = false;
    while let Some(attrs) = cmd
        .next(s, |r| match r {
            Response::MailboxData(MailboxDatum::Status { mailbox, status }) if *mailbox == wire => Some(status.clone()),
            _ => None,
        })
        .await?
    {
        for a in attrs.into_iter().flatten() {
            match a {
                StatusAttribute::UidNext(n) => sv.uidnext = Some(n),
                StatusAttribute::UidValidity(n) => {
                    sv.uidvalidity = n;
                    got_validity = true;
                }
                StatusAttribute::Messages(n) => sv.exists = n,
                StatusAttribute::HighestModSeq(n) => sv.highestmodseq = Some(n),
                _ => {}
            }
        }
    }
    if !got_validity {
        return Err(Error::protocol(what, "the answer has no UIDVALIDITY"));
    }
    Ok(sv)
}

/// A folder's numbers: STATUS, or EXAMINE when the folder is the selected one and the profile
/// says the server answers STATUS of the selected folder from a stale view.
pub async fn numbers<S: Stream>(
    s: &mut SessionOf<S>,
    profile: &ServerProfile,
    condstore: bool,
    wire: &str,
    name: &str,
    selected: bool,
) -> Result<Numbers, Error> {
    if selected && profile.stale_status_when_selected {
        examine(s, condstore, wire, name).await
    } else {
        status(s, condstore, wire, name).await
    }
}

enum Select {
    Exists(u32),
    UidValidity(u32),
    UidNext(u32),
    HighestModSeq(u64),
}

/// EXAMINE (read-only) or SELECT a folder (`wire` as LIST gave it) and return its numbers.
pub async fn open<S: Stream>(
    s: &mut SessionOf<S>,
    condstore: bool,
    verb: &str,
    wire: &str,
    name: &str,
) -> Result<Numbers, Error> {
    let cond = if condstore { " (CONDSTORE)" } else { "" };
    let what = format!("{verb} {name}");
    let cmd = wire::send(s, &format!("{verb} {}{cond}", quote(wire)), what.clone()).await?;
    let mut sv = Numbers::default();
    let mut got_validity = false;
    while let Some(item) = cmd
        .next(s, |r| match r {
            Response::MailboxData(MailboxDatum::Exists(n)) => Some(Select::Exists(*n)),
            Response::Data { outcome, .. } => match outcome.code {
                Some(ResponseCode::UidValidity(n)) => Some(Select::UidValidity(n)),
                Some(ResponseCode::UidNext(n)) => Some(Select::UidNext(n)),
                Some(ResponseCode::HighestModSeq(n)) => Some(Select::HighestModSeq(n)),
                _ => None,
            },
            _ => None,
        })
        .await?
    {
        match item {
            Some(Select::Exists(n)) => sv.exists = n,
            Some(Select::UidValidity(n)) => {
                sv.uidvalidity = n;
                got_validity = true;
            }
            Some(Select::UidNext(n)) => sv.uidnext = Some(n),
            Some(Select::HighestModSeq(n)) => sv.highestmodseq = Some(n),
            None => {}
        }
    }
    if !got_validity {
        return Err(Error::protocol(what, "the answer has no UIDVALIDITY"));
    }
    Ok(sv)
}

/// EXAMINE a folder (read-only).
pub async fn examine<S: Stream>(
    s: &mut SessionOf<S>,
    condstore: bool,
    wire: &str,
    name: &str,
) -> Result<Numbers, Error> {
    open(s, condstore, "EXAMINE", wire, name).await
}

/// `UID SEARCH <criteria>`: the UIDs at or above `min`, ascending and without duplicates.
/// (`n:*` includes the highest UID even when it is below `n`, RFC 3501 6.4.8: `min` drops it.)
pub async fn uid_search<S: Stream>(
    s: &mut SessionOf<S>,
    criteria: &str,
    name: &str,
    min: u32,
) -> Result<Vec<u32>, Error> {
    let c = wire::send(s, &format!("UID SEARCH {criteria}"), format!("UID SEARCH {name}")).await?;
    let mut uids = Vec::new();
    while let Some(found) = c
        .next(s, |r| match r {
            Response::MailboxData(MailboxDatum::Search(v)) => v.clone(),
            _ => Vec::new(),
        })
        .await?
    {
        uids.extend(found.into_iter().filter(|u| *u >= min));
    }
    uids.sort_unstable();
    uids.dedup();
    Ok(uids)
}

/// A quoted Message-ID search key (`<id>`), with what cannot be quoted taken out.
pub fn message_id_key(id: &str) -> String {
    format!("HEADER Message-ID \"<{}>\"", id.replace(['"', '\\', '\r', '\n'], ""))
}

/// The Message-IDs of these UIDs (`UID FETCH .. BODY.PEEK[HEADER]`).
pub async fn message_ids<S: Stream>(s: &mut SessionOf<S>, uids: &[u32], name: &str) -> Result<Vec<String>, Error> {
    if uids.is_empty() {
        return Ok(Vec::new());
    }
    let cmd = format!("UID FETCH {} (UID BODY.PEEK[HEADER])", wire::uid_set(uids));
    let c = wire::send(s, &cmd, format!("UID FETCH {name}")).await?;
    let mut ids = Vec::new();
    while let Some(id) = c
        .next(s, |r| match r {
            Response::Fetch(_, attrs) => attrs.iter().find_map(|a| match a {
                async_imap::imap_proto::AttributeValue::BodySection { data: Some(d), .. } => {
                    crate::message::parse(d).message_id
                }
                _ => None,
            }),
            _ => None,
        })
        .await?
    {
        ids.extend(id);
    }
    Ok(ids)
}
