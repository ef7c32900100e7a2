//! The selected state's reads and flag writes: FETCH, SEARCH, STORE, CLOSE, UNSELECT, and the
//! untagged news (EXPUNGE or VANISHED, EXISTS, FETCH FLAGS) a session tells after a command or
//! while it idles.
//!
//! FETCH goes through `render::fetch` and SEARCH through `search::matches`; the raw bytes and
//! the search text are loaded only when the items or keys need them, and a big FETCH is written
//! out in chunks, so memory stays flat. A body fetched without PEEK marks the message `$seen`
//! through the store's Email/set path (written back like any phone change). STORE changes
//! keywords through that path too; `\Deleted` lives in the IMAP UID table. Sequence numbers
//! come from the session's [`View`](super::view::View): FETCH, STORE and SEARCH (not their UID
//! forms) never tell an expunge (RFC 3501 section 7.4.1).

use std::num::NonZeroU32;

use imap_codec::imap_types::command::{CommandBody, FetchModifier, StoreModifier};
use imap_codec::imap_types::core::{Tag, Vec1};
use imap_codec::imap_types::fetch::{MacroOrMessageDataItemNames, MessageDataItem, MessageDataItemName};
use imap_codec::imap_types::flag::{Flag, StoreResponse, StoreType};
use imap_codec::imap_types::response::{Code, Data, Status};
use imap_codec::imap_types::search::SearchKey;
use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};

use super::mailboxes::{nz, nz64, set_of};
use super::render::{self, Msg};
use super::search::{self, SearchMsg, in_set};
use super::session::{Session, State, bad, code, no, ok};
use crate::store::email_set::{EmailUpdate, KeywordPatch};
use crate::store::imap_uids::ImapMessage;

/// How many messages a FETCH or SEARCH reads from the store at a time.
const CHUNK: usize = 200;

/// The keyword of an IMAP flag (`\Deleted` and `\Recent` are none).
pub fn keyword(f: &Flag<'_>) -> Option<String> {
    Some(match f {
        Flag::Seen => "$seen".into(),
        Flag::Flagged => "$flagged".into(),
        Flag::Answered => "$answered".into(),
        Flag::Draft => "$draft".into(),
        Flag::Keyword(a) => a.as_ref().to_lowercase(),
        Flag::Deleted | Flag::Extension(_) => return None,
    })
}

fn item_names(m: MacroOrMessageDataItemNames<'static>) -> Vec<MessageDataItemName<'static>> {
    match m {
        MacroOrMessageDataItemNames::Macro(m) => m.expand().into_iter().map(|i| i.to_owned_static()).collect(),
        MacroOrMessageDataItemNames::MessageDataItemNames(v) => v,
    }
}

trait OwnedStatic {
    fn to_owned_static(self) -> MessageDataItemName<'static>;
}

impl OwnedStatic for MessageDataItemName<'_> {
    fn to_owned_static(self) -> MessageDataItemName<'static> {
        use imap_codec::imap_types::IntoStatic;
        self.into_static()
    }
}

/// Items that need no message bytes.
fn needs_raw(items: &[MessageDataItemName<'_>]) -> bool {
    items.iter().any(|i| {
        !matches!(
            i,
            MessageDataItemName::Uid
                | MessageDataItemName::Flags
                | MessageDataItemName::Rfc822Size
                | MessageDataItemName::InternalDate
                | MessageDataItemName::ModSeq
        )
    })
}

impl Session {
    pub(super) fn selected(&mut self) -> Option<&mut super::session::Selected> {
        match &mut self.state {
            State::Selected(s) => Some(s),
            _ => None,
        }
    }

    /// The (sequence number, UID) pairs a set names: UIDs when `uid`, else sequence numbers.
    fn targets(&mut self, set: &SequenceSet, uid: bool) -> Vec<(u32, u32)> {
        let Some(s) = self.selected() else { return vec![] };
        let (last_seq, last_uid) = (s.view.len(), s.view.last_uid());
        // One number (a client fetching message by message): no walk over the whole view.
        if let [Sequence::Single(SeqOrUid::Value(n))] = set.0.as_ref() {
            let n = n.get();
            return if uid {
                s.view.seq(n).map(|seq| (seq, n)).into_iter().collect()
            } else {
                s.view.uid(n).map(|u| (n, u)).into_iter().collect()
            };
        }
        s.view
            .rows
            .iter()
            .enumerate()
            .filter(|(i, k)| if uid { in_set(set, k.uid, last_uid) } else { in_set(set, *i as u32 + 1, last_seq) })
            .map(|(i, k)| (i as u32 + 1, k.uid))
            .collect()
    }

    async fn load(&self, folder: i64, uids: Vec<u32>) -> Vec<ImapMessage> {
        self.blocking(move |s| s.imap_uids().messages(folder, &uids)).await.unwrap_or_default()
    }

    pub async fn selected_command(&mut self, tag: &Tag<'static>, body: CommandBody<'static>) -> Status<'static> {
        match body {
            CommandBody::Fetch { sequence_set, macro_or_item_names, uid, modifiers } => {
                self.fetch(tag, &sequence_set, item_names(macro_or_item_names), uid, modifiers).await
            }
            CommandBody::Search { criteria, uid, .. } => self.search(tag, criteria, uid).await,
            CommandBody::Store { sequence_set, kind, response, flags, uid, modifiers } => {
                self.store_flags(tag, &sequence_set, kind, response, flags, uid, modifiers).await
            }
            CommandBody::Close => {
                let rw = self.selected().is_some_and(|s| !s.read_only);
                if rw {
                    let _ = self.expunge_deleted(None, true).await;
                }
                self.state = State::Authenticated;
                ok(tag, None, "CLOSE done")
            }
            CommandBody::Unselect => {
                self.state = State::Authenticated;
                ok(tag, None, "UNSELECT done")
            }
            CommandBody::Expunge => self.expunge(tag, None).await,
            CommandBody::ExpungeUid { sequence_set } => self.expunge(tag, Some(sequence_set)).await,
            CommandBody::Copy { sequence_set, mailbox, uid } => {
                self.copy(tag, &sequence_set, &mailbox, uid, false).await
            }
            CommandBody::Move { sequence_set, mailbox, uid } => {
                self.copy(tag, &sequence_set, &mailbox, uid, true).await
            }
            _ => bad(tag, "this command is not supported"),
        }
    }

    /// Tell the selected folder's news: expunges (when allowed), new messages, changed flags.
    pub async fn updates(&mut self, may_expunge: bool) -> crate::store::Result<()> {
        let Some(s) = self.selected() else { return Ok(()) };
        let (account, folder, seen) = (s.account.clone(), s.folder, s.seen_modseq);
        let gone = s.view.rows.iter().any(|k| k.gone);
        let live = self
            .blocking(move |st| {
                let now = st.account_state(&account)?.map_or(0, |a| a.0);
                if now == seen && !(gone && may_expunge) {
                    return Ok(None);
                }
                st.imap_uids().refresh(&account, folder)?;
                Ok(Some((now, st.imap_uids().live(folder)?)))
            })
            .await?;
        let Some((now, live)) = live else { return Ok(()) };
        let pairs: Vec<(u32, u64)> = live.iter().map(|r| (r.uid, r.modseq)).collect();
        let qresync = self.qresync;
        let Some(s) = self.selected() else { return Ok(()) };
        s.seen_modseq = now;
        let up = s.view.update(&pairs, may_expunge);
        if qresync {
            if let Some(set) = set_of(&up.vanished) {
                self.wire.server.enqueue_data(Data::Vanished { earlier: false, known_uids: set });
            }
        } else {
            for seq in &up.expunged {
                self.wire.server.enqueue_data(Data::Expunge(nz(*seq)));
            }
        }
        if let Some(n) = up.exists {
            self.wire.server.enqueue_data(Data::Exists(n));
        }
        let changed: Vec<u32> = up.changed.iter().map(|c| c.1).collect();
        self.fetch_flags(&changed, true).await;
        Ok(())
    }

    /// Untagged FETCH (UID FLAGS [MODSEQ]) for these UIDs of the selected folder.
    pub async fn fetch_flags(&mut self, uids: &[u32], with_uid: bool) {
        let Some(s) = self.selected() else { return };
        let folder = s.folder;
        let condstore = self.condstore;
        for chunk in uids.chunks(CHUNK) {
            let msgs = self.load(folder, chunk.to_vec()).await;
            for m in msgs {
                let Some(s) = self.selected() else { return };
                let Some(seq) = s.view.seq(m.uid) else { continue };
                s.view.told(m.uid, m.modseq);
                let mut items = vec![MessageDataItem::Flags(render::flags(&m.keywords, m.deleted))];
                if with_uid {
                    items.insert(0, MessageDataItem::Uid(nz(m.uid)));
                }
                if condstore {
                    items.push(MessageDataItem::ModSeq(nz64(m.modseq)));
                }
                if let Ok(items) = Vec1::try_from(items) {
                    self.wire.server.enqueue_data(Data::Fetch { seq: nz(seq), items });
                }
            }
        }
    }

    async fn fetch(
        &mut self,
        tag: &Tag<'static>,
        set: &SequenceSet,
        mut items: Vec<MessageDataItemName<'static>>,
        uid: bool,
        modifiers: Vec<FetchModifier>,
    ) -> Status<'static> {
        let mut since = None;
        let mut vanished = false;
        for m in modifiers {
            match m {
                FetchModifier::ChangedSince(m) => since = Some(m.get()),
                FetchModifier::Vanished => vanished = true,
            }
        }
        if vanished && !(uid && self.qresync && since.is_some()) {
            return bad(tag, "VANISHED needs UID FETCH, QRESYNC and CHANGEDSINCE");
        }
        if since.is_some() {
            self.condstore = true;
        }
        if uid && !items.contains(&MessageDataItemName::Uid) {
            items.insert(0, MessageDataItemName::Uid);
        }
        if since.is_some() && !items.contains(&MessageDataItemName::ModSeq) {
            items.push(MessageDataItemName::ModSeq);
        }
        let targets = self.targets(set, uid);
        let Some(s) = self.selected() else { return bad(tag, "no folder is selected") };
        let (folder, account, read_only) = (s.folder, s.account.clone(), s.read_only);
        if let Some(since) = since
            && vanished
        {
            let last = s.view.last_uid();
            let gone = self.blocking(move |st| st.imap_uids().vanished_since(folder, since)).await.unwrap_or_default();
            let gone: Vec<u32> = gone.into_iter().filter(|u| in_set(set, *u, last)).collect();
            if let Some(set) = set_of(&gone) {
                self.wire.server.enqueue_data(Data::Vanished { earlier: true, known_uids: set });
            }
        }
        let raw_needed = needs_raw(&items);
        let seen = render::sets_seen(&items) && !read_only;
        let mut mark_seen = Vec::new();
        for chunk in targets.chunks(CHUNK) {
            let uids: Vec<u32> = chunk.iter().map(|t| t.1).collect();
            // The rows and, when needed, the bytes of a chunk in one trip to the store.
            let msgs = self
                .blocking(move |st| {
                    let rows = st.imap_uids().messages(folder, &uids)?;
                    rows.into_iter()
                        .filter(|m| since.is_none_or(|s| m.modseq > s))
                        .map(|m| {
                            let raw = if raw_needed {
                                st.imap_uids().raw(m.blob_id)?.unwrap_or_default()
                            } else {
                                Vec::new()
                            };
                            Ok((m, raw))
                        })
                        .collect::<crate::store::Result<Vec<_>>>()
                })
                .await;
            let Ok(msgs) = msgs else { return no(tag, None, "the store is not available; try again") };
            for (m, raw) in msgs {
                let Some(seq) = self.selected().and_then(|s| s.view.seq(m.uid)) else { continue };
                let msg = Msg {
                    uid: m.uid,
                    keywords: &m.keywords,
                    deleted: m.deleted,
                    internal_date: m.received_at,
                    size: m.size,
                    modseq: m.modseq,
                    raw: &raw,
                };
                if render::binary_unknown_cte(&msg, &items) {
                    // RFC 3516 section 4.3: content it cannot decode is refused, never sent raw.
                    return no(
                        tag,
                        Some(Code::UnknownCte),
                        "a BINARY part has a transfer encoding postbote cannot decode",
                    );
                }
                if let Ok(data) = Vec1::try_from(render::fetch(&msg, &items)) {
                    self.wire.server.enqueue_data(Data::Fetch { seq: nz(seq), items: data });
                }
                if seen && !m.keywords.iter().any(|k| k == "$seen") {
                    mark_seen.push(m.message);
                }
            }
            if self.wire.flush().await.is_err() {
                return no(tag, None, "the connection failed");
            }
        }
        if !mark_seen.is_empty() {
            let ups: Vec<(i64, EmailUpdate)> = mark_seen
                .into_iter()
                .map(|id| {
                    (id, EmailUpdate { keywords: Some(KeywordPatch::Set(vec![("$seen".into(), true)])), folder: None })
                })
                .collect();
            let acc = account.clone();
            if self.blocking(move |st| st.emails().set(&acc, None, &ups, &[])).await.is_ok() {
                self.shared.app.wake_writeback(&account);
            }
        }
        self.tell_updates(uid).await;
        ok(tag, None, "FETCH done")
    }

    async fn search(&mut self, tag: &Tag<'static>, criteria: Vec1<SearchKey<'static>>, uid: bool) -> Status<'static> {
        let key = SearchKey::And(criteria);
        let needs = search::needs(&key);
        let Some(s) = self.selected() else { return bad(tag, "no folder is selected") };
        let folder = s.folder;
        let (last_seq, last_uid) = (s.view.len(), s.view.last_uid());
        let rows: Vec<(u32, u32)> = s.view.rows.iter().enumerate().map(|(i, k)| (i as u32 + 1, k.uid)).collect();
        let mut hits: Vec<NonZeroU32> = Vec::new();
        for chunk in rows.chunks(CHUNK) {
            let msgs = self.load(folder, chunk.iter().map(|r| r.1).collect()).await;
            for m in msgs {
                let Some(seq) = self.selected().and_then(|s| s.view.seq(m.uid)) else { continue };
                let (blob, id) = (m.blob_id, m.message);
                let raw = if needs.raw {
                    self.blocking(move |st| st.imap_uids().raw(blob)).await.ok().flatten().unwrap_or_default()
                } else {
                    Vec::new()
                };
                let text = if needs.text {
                    self.blocking(move |st| st.imap_uids().search_text(id)).await.ok().flatten()
                } else {
                    None
                };
                let sm = SearchMsg {
                    seq,
                    uid: m.uid,
                    keywords: &m.keywords,
                    deleted: m.deleted,
                    internal_date: m.received_at,
                    size: m.size,
                    modseq: m.modseq,
                    raw: &raw,
                    text: text.as_deref(),
                };
                if search::matches(&key, &sm, last_seq, last_uid) {
                    hits.push(nz(if uid { m.uid } else { seq }));
                }
            }
        }
        self.wire.server.enqueue_data(Data::Search(hits, None));
        self.tell_updates(uid).await;
        ok(tag, None, "SEARCH done")
    }

    #[allow(clippy::too_many_arguments)]
    async fn store_flags(
        &mut self,
        tag: &Tag<'static>,
        set: &SequenceSet,
        kind: StoreType,
        response: StoreResponse,
        flags: Vec<Flag<'static>>,
        uid: bool,
        modifiers: Vec<StoreModifier>,
    ) -> Status<'static> {
        let unchanged_since = modifiers.iter().map(|StoreModifier::UnchangedSince(m)| *m).next();
        if unchanged_since.is_some() {
            self.condstore = true;
        }
        let targets = self.targets(set, uid);
        let Some(s) = self.selected() else { return bad(tag, "no folder is selected") };
        if s.read_only {
            return no(tag, Some(code("READ-ONLY")), "the folder is open read-only");
        }
        let (folder, account) = (s.folder, s.account.clone());
        let msgs = self.load(folder, targets.iter().map(|t| t.1).collect()).await;
        let mut modified = Vec::new();
        let kws: Vec<String> = flags.iter().filter_map(keyword).collect();
        let deleted_flag = flags.contains(&Flag::Deleted);
        let mut updates = Vec::new();
        let mut deleted = Vec::new();
        for m in &msgs {
            if unchanged_since.is_some_and(|u| m.modseq > u) {
                modified.push(if uid { m.uid } else { self.selected().and_then(|s| s.view.seq(m.uid)).unwrap_or(0) });
                continue;
            }
            let patch = match kind {
                StoreType::Replace => KeywordPatch::Replace(kws.clone()),
                StoreType::Add => KeywordPatch::Set(kws.iter().map(|k| (k.clone(), true)).collect()),
                StoreType::Remove => KeywordPatch::Set(kws.iter().map(|k| (k.clone(), false)).collect()),
            };
            if !(matches!(kind, StoreType::Add | StoreType::Remove) && kws.is_empty()) {
                updates.push((m.message, EmailUpdate { keywords: Some(patch), folder: None }));
            }
            match kind {
                StoreType::Replace => deleted.push((m.uid, deleted_flag)),
                StoreType::Add if deleted_flag => deleted.push((m.uid, true)),
                StoreType::Remove if deleted_flag => deleted.push((m.uid, false)),
                _ => {}
            }
        }
        let acc = account.clone();
        let r = self
            .blocking(move |st| {
                if !updates.is_empty() {
                    st.emails().set(&acc, None, &updates, &[])?;
                }
                st.imap_uids().set_deleted(&acc, folder, &deleted)?;
                st.imap_uids().refresh(&acc, folder)
            })
            .await;
        if let Err(e) = r {
            return no(tag, Some(code("SERVERBUG")), &e.to_string());
        }
        self.shared.app.wake_writeback(&account);
        let done: Vec<u32> = msgs.iter().map(|m| m.uid).filter(|u| !modified.contains(u) || !uid).collect();
        if matches!(response, StoreResponse::Answer) || self.condstore {
            self.fetch_flags(&done, uid).await;
        }
        self.tell_updates(uid).await;
        match set_of(&modified) {
            Some(set) => ok(tag, Some(Code::Modified(set)), "STORE done, some were changed meanwhile"),
            None => ok(tag, None, "STORE done"),
        }
    }
}
