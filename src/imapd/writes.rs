//! What a phone changes over IMAP beyond flags: EXPUNGE and UID EXPUNGE, COPY and MOVE (with
//! COPYUID), APPEND (with APPENDUID), CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE.
//!
//! Every change goes through the store's per-message writes that JMAP uses (destroy and move as
//! `Email/set`, a copy as `Email/import`, `mailboxes()` create, rename, destroy and subscribe),
//! so it is logged, visible to JMAP and to every IMAP session, and queued for the hosted server
//! on the durable write-back queue in the same transaction; the mailbox's write-back is woken
//! after each. EXPUNGE and COPY/MOVE go through `store::imap_writes`: one transaction on the
//! folder as it is at that moment (a message another device moved away is left alone), and a
//! COPY or MOVE is all or nothing, answered NO when one message cannot be copied. A copy into
//! another mailbox (a shared one) is an import there. An APPEND to Sent whose Message-ID the
//! outbox already holds for that mailbox is the phone's own Sent copy of something postbote
//! sends (and files in Sent itself): it is answered OK and stores nothing.

use imap_codec::imap_types::core::{Tag, Vec1};
use imap_codec::imap_types::datetime::DateTime;
use imap_codec::imap_types::extensions::binary::LiteralOrLiteral8;
use imap_codec::imap_types::extensions::uidplus::{UidElement, UidSet};
use imap_codec::imap_types::flag::Flag;
use imap_codec::imap_types::mailbox::Mailbox;
use imap_codec::imap_types::response::{Code, Status};
use imap_codec::imap_types::sequence::SequenceSet;

use super::mailboxes::{name_of, nz};
use super::names;
use super::search::in_set;
use super::selected::keyword;
use super::session::{Session, bad, code, no, ok, server_bug};
use crate::store::email_set::SetFailure;

fn uid_set(uids: &[u32]) -> Option<UidSet> {
    let elems: Vec<UidElement> = uids.iter().map(|u| UidElement::Single(nz(*u))).collect();
    Vec1::try_from(elems).ok().map(UidSet)
}

fn failure(f: &SetFailure) -> (Option<Code<'static>>, String) {
    match f {
        SetFailure::AlreadyExists(t) => (Some(code("ALREADYEXISTS")), t.clone()),
        SetFailure::NotFound => (Some(code("NONEXISTENT")), "no such folder".into()),
        SetFailure::MailboxHasChild => (Some(code("INUSE")), "the folder has folders below it".into()),
        SetFailure::Forbidden(t) => (Some(code("CANNOT")), t.clone()),
        SetFailure::Invalid(_, t) => (Some(code("CANNOT")), t.clone()),
        SetFailure::MailboxHasEmail => (Some(code("INUSE")), "the folder has messages".into()),
    }
}

impl Session {
    /// Destroy the `\Deleted` messages of the selected folder (only those in `only`, a UID
    /// set), as the folder is now: a message another device moved away meanwhile stays.
    pub async fn expunge_deleted(&mut self, only: Option<SequenceSet>) -> crate::store::Result<()> {
        let Some(s) = self.selected() else { return Ok(()) };
        let (account, folder, last) = (s.account.clone(), s.folder, s.view.last_uid());
        let acc = account.clone();
        let gone = self
            .blocking(move |st| {
                st.imap_uids().expunge(&acc, folder, &|u| only.as_ref().is_none_or(|o| in_set(o, u, last)))
            })
            .await?;
        if !gone.is_empty() {
            self.shared.app.wake_writeback(&account);
        }
        Ok(())
    }

    pub async fn expunge(&mut self, tag: &Tag<'static>, only: Option<SequenceSet>) -> Status<'static> {
        if self.selected().is_some_and(|s| s.read_only) {
            return no(tag, Some(code("READ-ONLY")), "the folder is open read-only");
        }
        if let Err(e) = self.expunge_deleted(only).await {
            return server_bug(tag, &e);
        }
        self.tell_updates(true).await;
        ok(tag, None, "EXPUNGE done")
    }

    pub async fn copy(
        &mut self,
        tag: &Tag<'static>,
        set: &SequenceSet,
        mailbox: &Mailbox<'_>,
        uid: bool,
        moving: bool,
    ) -> Status<'static> {
        let dest = match self.find(&name_of(mailbox)).await {
            Ok(Some(f)) => f,
            Ok(None) => return no(tag, Some(code("TRYCREATE")), "no such folder"),
            Err(e) => return server_bug(tag, &e),
        };
        let Some(s) = self.selected() else { return bad(tag, "no folder is selected") };
        if moving && s.read_only {
            return no(tag, Some(code("READ-ONLY")), "the folder is open read-only");
        }
        let (account, folder) = (s.account.clone(), s.folder);
        let (last_seq, last_uid) = (s.view.len(), s.view.last_uid());
        let uids: Vec<u32> = s
            .view
            .rows
            .iter()
            .enumerate()
            .filter(|(i, k)| if uid { in_set(set, k.uid, last_uid) } else { in_set(set, *i as u32 + 1, last_seq) })
            .map(|(_, k)| k.uid)
            .collect();
        let (dest_account, dest_folder) = (dest.account.clone(), dest.row.id);
        if moving && dest_account == account && dest_folder == folder {
            // Nothing would move, and a COPYUID of each UID to itself would claim it did.
            return no(tag, Some(code("CANNOT")), "the messages are in that folder already");
        }
        // One transaction: all copied (and, moving, all originals gone) or nothing changed.
        let r = self
            .blocking(move |st| st.imap_uids().copy(&account, folder, &uids, &dest_account, dest_folder, moving))
            .await;
        let crate::store::imap_writes::Copied { uidvalidity: validity, source: src, dest: dst } = match r {
            Ok(Ok(c)) => c,
            Ok(Err((uid, f))) => {
                let (c, t) = failure(&f);
                return no(tag, c, &format!("UID {uid} cannot be copied ({t}); nothing was changed"));
            }
            Err(e) => return server_bug(tag, &e),
        };
        self.shared.app.wake_writeback(&dest.account);
        if moving && let Some(s) = self.selected() {
            let account = s.account.clone();
            self.shared.app.wake_writeback(&account);
        }
        let copyuid = match (uid_set(&src), uid_set(&dst)) {
            (Some(source), Some(destination)) if !dst.contains(&0) => {
                Some(Code::CopyUid { uid_validity: nz(validity), source, destination })
            }
            _ => None,
        };
        if moving {
            if let Some(c) = copyuid
                && let Ok(s) = Status::ok(None, Some(c), "moved")
            {
                self.wire.server.enqueue_status(s);
            }
            self.tell_updates(true).await;
            ok(tag, None, "MOVE done")
        } else {
            self.tell_updates(uid).await;
            ok(tag, copyuid, "COPY done")
        }
    }

    pub async fn append(
        &mut self,
        tag: &Tag<'static>,
        mailbox: &Mailbox<'_>,
        flags: Vec<Flag<'static>>,
        date: Option<DateTime>,
        message: LiteralOrLiteral8<'static>,
    ) -> Status<'static> {
        let dest = match self.find(&name_of(mailbox)).await {
            Ok(Some(f)) => f,
            Ok(None) => return no(tag, Some(code("TRYCREATE")), "no such folder"),
            Err(e) => return server_bug(tag, &e),
        };
        let raw: Vec<u8> = match message {
            LiteralOrLiteral8::Literal(l) => l.data().to_vec(),
            LiteralOrLiteral8::Literal8(l) => l.data.to_vec(),
        };
        let keywords: Vec<String> = flags.iter().filter_map(keyword).collect();
        let received = date.map(|d| d.as_ref().timestamp()).unwrap_or_else(crate::store::now);
        let (account, folder, sent) = (dest.account.clone(), dest.row.id, dest.row.role.as_deref() == Some("sent"));
        let acc = account.clone();
        let r = self
            .blocking(move |st| {
                if sent
                    && let Some(id) = crate::message::parse(&raw).message_id
                    && st.outbox().has_message_id(&acc, &id)?
                {
                    // The phone's own copy of what the outbox sends: the outbox files its own.
                    let f = st.imap_uids().refresh(&acc, folder)?;
                    return Ok(Ok((f.uidvalidity, st.imap_uids().uid_of_message_id(folder, &id)?, false)));
                }
                match st.emails().create(&acc, folder, raw, &keywords, received)? {
                    Ok(c) => {
                        let f = st.imap_uids().refresh(&acc, folder)?;
                        let uid = st.imap_uids().uids_of(folder, &[c.id])?.first().copied().filter(|u| *u > 0);
                        Ok(Ok((f.uidvalidity, uid, true)))
                    }
                    Err(e) => Ok(Err(e)),
                }
            })
            .await;
        match r {
            Ok(Ok((validity, uid, stored))) => {
                if stored {
                    self.shared.app.wake_writeback(&account);
                }
                self.tell_updates(true).await;
                let c = uid.map(|u| Code::AppendUid { uid_validity: nz(validity), uid: nz(u) });
                ok(tag, c, if stored { "APPEND done" } else { "APPEND done, the outbox files this message in Sent" })
            }
            Ok(Err(f)) => {
                let (c, t) = failure(&f);
                no(tag, c, &t)
            }
            Err(e) => server_bug(tag, &e),
        }
    }

    pub async fn create(&mut self, tag: &Tag<'static>, mailbox: &Mailbox<'_>) -> Status<'static> {
        let name = name_of(mailbox);
        let Some(place) = self.names.resolve(&name) else { return no(tag, Some(code("CANNOT")), "not a name here") };
        if place.inbox {
            return no(tag, Some(code("ALREADYEXISTS")), "INBOX exists");
        }
        let acc = place.account.clone();
        let r = self
            .blocking(move |st| {
                let delim = st.folders().delimiter(&acc)?;
                st.mailboxes().create(&acc, &names::to_store(&place.name, delim.as_deref()))
            })
            .await;
        self.answer(tag, r.map(|x| x.map(|_| ())), &place_account(&self.names, &name), "CREATE done")
    }

    pub async fn delete(&mut self, tag: &Tag<'static>, mailbox: &Mailbox<'_>) -> Status<'static> {
        let found = match self.find(&name_of(mailbox)).await {
            Ok(Some(f)) => f,
            Ok(None) => return no(tag, Some(code("NONEXISTENT")), "no such folder"),
            Err(e) => return server_bug(tag, &e),
        };
        let (acc, id) = (found.account.clone(), found.row.id);
        let r = self.blocking(move |st| st.mailboxes().destroy(&acc, id, true)).await;
        // Only a folder that is gone leaves the selected state; a refused DELETE changes nothing.
        if matches!(r, Ok(Ok(())))
            && let Some(s) = self.selected()
            && s.folder == id
        {
            self.state = super::session::State::Authenticated;
        }
        self.answer(tag, r, &found.account, "DELETE done")
    }

    pub async fn rename(&mut self, tag: &Tag<'static>, from: &Mailbox<'_>, to: &Mailbox<'_>) -> Status<'static> {
        let found = match self.find(&name_of(from)).await {
            Ok(Some(f)) => f,
            Ok(None) => return no(tag, Some(code("NONEXISTENT")), "no such folder"),
            Err(e) => return server_bug(tag, &e),
        };
        let Some(place) = self.names.resolve(&name_of(to)) else {
            return no(tag, Some(code("CANNOT")), "not a name here");
        };
        if place.account != found.account {
            return no(tag, Some(code("CANNOT")), "a folder cannot move to another mailbox");
        }
        let (acc, id, delim) = (found.account.clone(), found.row.id, found.delim.clone());
        let r = self
            .blocking(move |st| st.mailboxes().rename(&acc, id, &names::to_store(&place.name, delim.as_deref())))
            .await;
        self.answer(tag, r, &found.account, "RENAME done")
    }

    pub async fn subscribe(&mut self, tag: &Tag<'static>, mailbox: &Mailbox<'_>, on: bool) -> Status<'static> {
        let found = match self.find(&name_of(mailbox)).await {
            Ok(Some(f)) => f,
            Ok(None) => return no(tag, Some(code("NONEXISTENT")), "no such folder"),
            Err(e) => return server_bug(tag, &e),
        };
        let (acc, id) = (found.account.clone(), found.row.id);
        let r = self.blocking(move |st| st.mailboxes().set_subscribed(&acc, id, on)).await;
        self.answer(tag, r, &found.account, if on { "SUBSCRIBE done" } else { "UNSUBSCRIBE done" })
    }

    fn answer(
        &self,
        tag: &Tag<'static>,
        r: crate::store::Result<Result<(), SetFailure>>,
        account: &str,
        done: &str,
    ) -> Status<'static> {
        match r {
            Ok(Ok(())) => {
                self.shared.app.wake_writeback(account);
                ok(tag, None, done)
            }
            Ok(Err(f)) => {
                let (c, t) = failure(&f);
                no(tag, c, &t)
            }
            Err(e) => server_bug(tag, &e),
        }
    }
}

fn place_account(n: &names::Names, name: &str) -> String {
    n.resolve(name).map(|p| p.account).unwrap_or_else(|| n.own.clone())
}
