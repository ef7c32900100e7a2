//! The authenticated state's commands: LIST, LSUB, STATUS, NAMESPACE, ENABLE, SELECT and
//! EXAMINE (with CONDSTORE and QRESYNC), and the dispatch of every command that needs a login.
//!
//! Folders come from `store.mailboxes()`, the same rows JMAP's Mailbox/get reads, under the
//! names `names.rs` gives them; a mailbox the device has no grant for has no name and is
//! neither listed nor selectable. Roles become RFC 6154 special-use attributes.

use std::num::{NonZeroU32, NonZeroU64};

use imap_codec::imap_types::command::{CommandBody, SelectParameter};
use imap_codec::imap_types::core::{IString, QuotedChar, Tag};
use imap_codec::imap_types::extensions::enable::CapabilityEnable;
use imap_codec::imap_types::extensions::namespace::Namespace;
use imap_codec::imap_types::flag::{Flag, FlagNameAttribute, FlagPerm};
use imap_codec::imap_types::mailbox::{ListMailbox, Mailbox};
use imap_codec::imap_types::response::{Code, Data, Status};
use imap_codec::imap_types::sequence::SequenceSet;
use imap_codec::imap_types::status::{StatusDataItem, StatusDataItemName};

use super::names::{self, DELIM, Place, SHARED};
use super::search::in_set;
use super::session::{Selected, Session, State, bad, code, no, ok, server_bug};
use super::view::View;
use crate::store::mailboxes::MailboxRow;

/// A folder found by its IMAP name.
pub struct Found {
    pub account: String,
    pub row: MailboxRow,
    pub delim: Option<String>,
}

/// An IMAP mailbox name as UTF-8.
pub fn name_of(m: &Mailbox<'_>) -> String {
    match m {
        Mailbox::Inbox => "INBOX".into(),
        Mailbox::Other(o) => crate::imap::mutf7::decode(&String::from_utf8_lossy(o.as_ref())),
    }
}

/// A name for the wire (modified UTF-7).
pub fn wire_name(name: &str) -> Mailbox<'static> {
    if name.eq_ignore_ascii_case("INBOX") {
        return Mailbox::Inbox;
    }
    Mailbox::try_from(crate::imap::mutf7::encode(name)).unwrap_or(Mailbox::Inbox)
}

fn special_use(role: Option<&str>) -> Option<&'static str> {
    Some(match role? {
        "sent" => "\\Sent",
        "drafts" => "\\Drafts",
        "trash" => "\\Trash",
        "junk" => "\\Junk",
        "archive" => "\\Archive",
        _ => return None,
    })
}

fn attr(s: &str) -> FlagNameAttribute<'static> {
    FlagNameAttribute::from(
        imap_codec::imap_types::core::Atom::try_from(s.trim_start_matches('\\').to_string()).expect("an atom"),
    )
}

/// The sequence set of these numbers, ranges folded.
pub fn set_of(nums: &[u32]) -> Option<SequenceSet> {
    let mut v: Vec<u32> = nums.iter().copied().filter(|n| *n > 0).collect();
    v.sort_unstable();
    v.dedup();
    let mut text = String::new();
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j + 1 < v.len() && v[j + 1] == v[j] + 1 {
            j += 1;
        }
        if !text.is_empty() {
            text.push(',');
        }
        if i == j {
            text += &v[i].to_string()
        } else {
            text += &format!("{}:{}", v[i], v[j])
        }
        i = j + 1;
    }
    SequenceSet::try_from(text.as_str()).ok()
}

pub fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

pub fn nz64(n: u64) -> NonZeroU64 {
    NonZeroU64::new(n).unwrap_or(NonZeroU64::MIN)
}

impl Session {
    /// The folder an IMAP name points to, if the device may see it.
    pub async fn find(&self, name: &str) -> crate::store::Result<Option<Found>> {
        let Some(Place { account, name, inbox }) = self.names.resolve(name) else { return Ok(None) };
        let acc = account.clone();
        let (rows, delim) =
            self.blocking(move |s| Ok((s.mailboxes().all(&acc)?, s.folders().delimiter(&acc)?))).await?;
        let row = rows.into_iter().find(|r| {
            if inbox { r.role.as_deref() == Some("inbox") } else { names::to_phone(&r.name, delim.as_deref()) == name }
        });
        Ok(row.map(|row| Found { account, row, delim }))
    }

    /// Every folder the device sees: (IMAP name, row).
    async fn all_folders(&self) -> crate::store::Result<Vec<(String, MailboxRow)>> {
        let mut out = Vec::new();
        let accounts: Vec<String> =
            std::iter::once(self.names.own.clone()).chain(self.names.shared.iter().cloned()).collect();
        for account in accounts {
            let acc = account.clone();
            let (rows, delim) =
                self.blocking(move |s| Ok((s.mailboxes().all(&acc)?, s.folders().delimiter(&acc)?))).await?;
            for r in rows {
                let phone = if r.role.as_deref() == Some("inbox") {
                    "INBOX".into()
                } else {
                    names::to_phone(&r.name, delim.as_deref())
                };
                out.push((self.names.imap_name(&account, &phone), r));
            }
        }
        Ok(out)
    }

    pub async fn authed_command(&mut self, tag: &Tag<'static>, body: CommandBody<'static>) -> Status<'static> {
        match body {
            CommandBody::Namespace => {
                let slash = QuotedChar::try_from(DELIM).ok();
                let personal = vec![Namespace::new(IString::try_from("").expect("a string"), slash)];
                let shared = if self.names.shared.is_empty() {
                    vec![]
                } else {
                    vec![Namespace::new(IString::try_from(format!("{SHARED}{DELIM}")).expect("a string"), slash)]
                };
                self.wire.server.enqueue_data(Data::Namespace { personal, other: vec![], shared });
                ok(tag, None, "NAMESPACE done")
            }
            CommandBody::Enable { capabilities } => {
                let mut on = Vec::new();
                for c in capabilities.into_iter() {
                    match &c {
                        CapabilityEnable::CondStore => {
                            self.condstore = true;
                            on.push(c);
                        }
                        CapabilityEnable::Other(_) if c.to_string().eq_ignore_ascii_case("QRESYNC") => {
                            self.condstore = true;
                            self.qresync = true;
                            on.push(c);
                        }
                        _ => {}
                    }
                }
                self.wire.server.enqueue_data(Data::Enabled { capabilities: on });
                ok(tag, None, "ENABLE done")
            }
            CommandBody::List { reference, mailbox_wildcard } => {
                self.list(tag, &reference, &mailbox_wildcard, false).await
            }
            CommandBody::Lsub { reference, mailbox_wildcard } => {
                self.list(tag, &reference, &mailbox_wildcard, true).await
            }
            CommandBody::Status { mailbox, item_names } => self.status(tag, &mailbox, &item_names).await,
            CommandBody::Select { mailbox, parameters } => self.select(tag, &mailbox, parameters, false).await,
            CommandBody::Examine { mailbox, parameters } => self.select(tag, &mailbox, parameters, true).await,
            CommandBody::Create { mailbox } => self.create(tag, &mailbox).await,
            CommandBody::Delete { mailbox } => self.delete(tag, &mailbox).await,
            CommandBody::Rename { from, to } => self.rename(tag, &from, &to).await,
            CommandBody::Subscribe { mailbox } => self.subscribe(tag, &mailbox, true).await,
            CommandBody::Unsubscribe { mailbox } => self.subscribe(tag, &mailbox, false).await,
            CommandBody::Append { mailbox, flags, date, message } => {
                self.append(tag, &mailbox, flags, date, message).await
            }
            body => {
                if !matches!(self.state, State::Selected(_)) {
                    return bad(tag, "no folder is selected");
                }
                self.selected_command(tag, body).await
            }
        }
    }

    async fn list(
        &mut self,
        tag: &Tag<'static>,
        reference: &Mailbox<'_>,
        pattern: &ListMailbox<'_>,
        lsub: bool,
    ) -> Status<'static> {
        let pattern = match pattern {
            ListMailbox::Token(t) => String::from_utf8_lossy(t.as_ref()).into_owned(),
            ListMailbox::String(s) => String::from_utf8_lossy(s.as_ref()).into_owned(),
        };
        let pattern = crate::imap::mutf7::decode(&pattern);
        let reference = match reference {
            Mailbox::Inbox => "INBOX".to_string(),
            other => name_of(other),
        };
        if pattern.is_empty() && !lsub {
            let data = Data::List {
                items: vec![attr("Noselect")],
                delimiter: QuotedChar::try_from(DELIM).ok(),
                mailbox: wire_name(""),
            };
            self.wire.server.enqueue_data(data);
            return ok(tag, None, "LIST done");
        }
        let full = format!("{reference}{pattern}");
        let folders = match self.all_folders().await {
            Ok(f) => f,
            Err(e) => return server_bug(tag, &e),
        };
        let mut names: Vec<(String, Vec<FlagNameAttribute<'static>>, bool)> = Vec::new();
        if !self.names.shared.is_empty() {
            names.push((SHARED.into(), vec![attr("Noselect"), attr("HasChildren")], true));
            for mb in &self.names.shared {
                names.push((format!("{SHARED}{DELIM}{mb}"), vec![attr("Noselect"), attr("HasChildren")], true));
            }
        }
        for (name, row) in &folders {
            let prefix = format!("{name}{DELIM}");
            let children = folders.iter().any(|(n, _)| n.starts_with(&prefix));
            let mut items = vec![attr(if children { "HasChildren" } else { "HasNoChildren" })];
            if let Some(s) = special_use(row.role.as_deref()) {
                items.push(attr(s));
            }
            names.push((name.clone(), items, row.subscribed));
        }
        for (name, items, subscribed) in names {
            if !names::matches(&full, &name) || (lsub && !subscribed) {
                continue;
            }
            let (delimiter, mailbox) = (QuotedChar::try_from(DELIM).ok(), wire_name(&name));
            self.wire.server.enqueue_data(if lsub {
                Data::Lsub { items, delimiter, mailbox }
            } else {
                Data::List { items, delimiter, mailbox }
            });
        }
        ok(tag, None, if lsub { "LSUB done" } else { "LIST done" })
    }

    async fn status(
        &mut self,
        tag: &Tag<'static>,
        mailbox: &Mailbox<'_>,
        items: &[StatusDataItemName],
    ) -> Status<'static> {
        let name = name_of(mailbox);
        let found = match self.find(&name).await {
            Ok(Some(f)) => f,
            Ok(None) => return no(tag, Some(code("NONEXISTENT")), "no such folder"),
            Err(e) => return server_bug(tag, &e),
        };
        let (account, folder) = (found.account.clone(), found.row.id);
        let r = self
            .blocking(move |s| {
                let f = s.imap_uids().refresh(&account, folder)?;
                let live = s.imap_uids().live(folder)?;
                Ok((f, live.iter().filter(|r| r.deleted).count()))
            })
            .await;
        let (f, deleted) = match r {
            Ok(x) => x,
            Err(e) => return server_bug(tag, &e),
        };
        let mut out = Vec::new();
        for i in items {
            out.push(match i {
                StatusDataItemName::Messages => StatusDataItem::Messages(found.row.total as u32),
                StatusDataItemName::Recent => StatusDataItem::Recent(0),
                StatusDataItemName::UidNext => StatusDataItem::UidNext(nz(f.uidnext)),
                StatusDataItemName::UidValidity => StatusDataItem::UidValidity(nz(f.uidvalidity)),
                StatusDataItemName::Unseen => StatusDataItem::Unseen(found.row.unread as u32),
                StatusDataItemName::Deleted => StatusDataItem::Deleted(deleted as u32),
                StatusDataItemName::HighestModSeq => StatusDataItem::HighestModSeq(f.highest_modseq),
                _ => continue,
            });
        }
        self.wire.server.enqueue_data(Data::Status { mailbox: wire_name(&name), items: out.into() });
        ok(tag, None, "STATUS done")
    }

    async fn select(
        &mut self,
        tag: &Tag<'static>,
        mailbox: &Mailbox<'_>,
        parameters: Vec<SelectParameter>,
        examine: bool,
    ) -> Status<'static> {
        // A failed SELECT leaves no folder selected (RFC 3501 section 6.3.1).
        if let State::Selected(_) = self.state {
            self.state = State::Authenticated;
            if self.qresync {
                self.wire.server.enqueue_status(
                    Status::ok(None, Some(Code::Closed), "previous folder closed").expect("a valid text"),
                );
            }
        }
        let name = name_of(mailbox);
        let found = match self.find(&name).await {
            Ok(Some(f)) => f,
            Ok(None) => return no(tag, Some(code("NONEXISTENT")), "no such folder"),
            Err(e) => return server_bug(tag, &e),
        };
        let mut qresync = None;
        for p in parameters {
            match p {
                SelectParameter::CondStore => self.condstore = true,
                SelectParameter::QResync { uid_validity, mod_sequence_value, known_uids, .. } => {
                    if !self.qresync {
                        return bad(tag, "ENABLE QRESYNC first");
                    }
                    qresync = Some((uid_validity.get(), mod_sequence_value.get(), known_uids));
                }
            }
        }
        let (account, folder) = (found.account.clone(), found.row.id);
        let since = qresync.as_ref().map(|q| (q.0, q.1));
        // Everything SELECT tells is read before anything is told: a store error is a NO.
        let r = self
            .blocking(move |s| {
                let modseq = s.account_state(&account)?.map_or(0, |a| a.0);
                let f = s.imap_uids().refresh(&account, folder)?;
                let gone = match since {
                    Some((validity, since)) if validity == f.uidvalidity => {
                        Some(s.imap_uids().vanished_since(folder, since)?)
                    }
                    _ => None,
                };
                Ok((f, s.imap_uids().live(folder)?, modseq, gone))
            })
            .await;
        let (f, live, modseq, gone) = match r {
            Ok(x) => x,
            Err(e) => return server_bug(tag, &e),
        };
        let flags = vec![Flag::Answered, Flag::Flagged, Flag::Deleted, Flag::Seen, Flag::Draft];
        self.wire.server.enqueue_data(Data::Flags(flags.clone()));
        self.wire.server.enqueue_data(Data::Exists(live.len() as u32));
        self.wire.server.enqueue_data(Data::Recent(0));
        let mut perm: Vec<FlagPerm<'static>> = flags.into_iter().map(FlagPerm::Flag).collect();
        perm.push(FlagPerm::Asterisk);
        let untagged = |c: Code<'static>| Status::ok(None, Some(c), "ok").expect("a valid text");
        self.wire.server.enqueue_status(untagged(Code::PermanentFlags(if examine { vec![] } else { perm })));
        self.wire.server.enqueue_status(untagged(Code::UidValidity(nz(f.uidvalidity))));
        self.wire.server.enqueue_status(untagged(Code::UidNext(nz(f.uidnext))));
        self.wire.server.enqueue_status(untagged(Code::HighestModSeq(nz64(f.highest_modseq))));
        let view = View::new(&live.iter().map(|r| (r.uid, r.modseq)).collect::<Vec<_>>());
        self.state = State::Selected(Selected {
            account: found.account.clone(),
            folder,
            name: name.clone(),
            read_only: examine,
            uidvalidity: f.uidvalidity,
            view,
            seen_modseq: modseq,
        });
        if let Some((_, since, known)) = qresync
            && let Some(gone) = gone
        {
            let gone: Vec<u32> =
                gone.into_iter().filter(|u| known.as_ref().is_none_or(|k| in_set(k, *u, u32::MAX))).collect();
            if let Some(set) = set_of(&gone) {
                self.wire.server.enqueue_data(Data::Vanished { earlier: true, known_uids: set });
            }
            let changed: Vec<u32> = live.iter().filter(|r| r.modseq > since).map(|r| r.uid).collect();
            if let Err(e) = self.fetch_flags(&changed, true).await {
                // RFC 3501: a failed SELECT leaves no folder selected.
                self.state = State::Authenticated;
                return server_bug(tag, &e);
            }
        }
        let code = if examine { Code::ReadOnly } else { Code::ReadWrite };
        ok(tag, Some(code), if examine { "EXAMINE done" } else { "SELECT done" })
    }
}
