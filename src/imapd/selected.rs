//! The selected state's reads and flag writes: FETCH, SEARCH, STORE, CLOSE, UNSELECT, and the
//! untagged news (EXPUNGE or VANISHED, EXISTS, FETCH FLAGS) a session tells after a command or
//! while it idles.
//!
//! FETCH goes through `render::fetch` and SEARCH through `search::matches`; the raw bytes and
//! the search text are loaded only when the items or keys need them, and a big FETCH is written
//! out in chunks of at most about 16 MB of messages, so memory stays flat. A body fetched
//! without PEEK marks the message `$seen` through the store's Email/set path (written back like
//! any phone change; a failure there is only logged). STORE changes keywords through that path
//! too, in one transaction of `store::imap_writes` that checks UNCHANGEDSINCE against the MODSEQ
//! of that moment; `\Deleted` lives in the IMAP UID table. A store error is a tagged
//! `NO [SERVERBUG]`, never an OK with less in it. Sequence numbers
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
use super::session::{Session, State, bad, code, no, ok, server_bug};
use crate::store::email_set::{EmailUpdate, KeywordPatch, SetFailure};
use crate::store::imap_uids::ImapMessage;

/// How many messages a FETCH or SEARCH reads from the store at a time.
const CHUNK: usize = 200;

/// How many bytes of messages a FETCH holds at a time (at least one message).
const CHUNK_BYTES: u64 = 16 << 20;

/// How many of these messages (by size, in order) make one batch of at most `limit` bytes;
/// at least one.
fn by_bytes(sizes: impl Iterator<Item = u32>, limit: u64) -> usize {
    let mut total = 0u64;
    let mut n = 0;
    for size in sizes {
        total += u64::from(size);
        if n > 0 && total > limit {
            break;
        }
        n += 1;
    }
    n
}

/// The bytes of message `uid` (its blob `blob`): an error when they are missing, since a FETCH
/// or SEARCH that needs them must not answer without them.
fn bytes_of(st: &crate::store::Store, blob: i64, uid: u32) -> crate::store::Result<Vec<u8>> {
    st.imap_uids()
        .raw(blob)?
        .ok_or_else(|| crate::store::StoreError::Other(format!("the bytes of UID {uid} are missing")))
}

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

    /// The rows (no bytes) of these UIDs of `folder`, a chunk per trip to the store.
    async fn load(&self, folder: i64, uids: &[u32]) -> crate::store::Result<Vec<ImapMessage>> {
        let mut out = Vec::with_capacity(uids.len());
        for chunk in uids.chunks(CHUNK) {
            let chunk = chunk.to_vec();
            out.extend(self.blocking(move |s| s.imap_uids().messages(folder, &chunk)).await?);
        }
        Ok(out)
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
                if rw && let Err(e) = self.expunge_deleted(None).await {
                    // The folder stays selected: nothing was expunged, the client may try again.
                    return server_bug(tag, &e);
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
    /// Nothing is told, and the view stays as it was, when the store cannot be read.
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
        let mut view = s.view.clone();
        let up = view.update(&pairs, may_expunge);
        let changed: Vec<u32> = up.changed.iter().map(|c| c.1).collect();
        // The flags are read before the view moves on, so a failed read is told next time.
        let msgs = self.load(folder, &changed).await?;
        let Some(s) = self.selected() else { return Ok(()) };
        s.seen_modseq = now;
        s.view = view;
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
        self.tell_flags(&msgs, true);
        Ok(())
    }

    /// Untagged FETCH (UID FLAGS [MODSEQ]) for these UIDs of the selected folder.
    pub async fn fetch_flags(&mut self, uids: &[u32], with_uid: bool) -> crate::store::Result<()> {
        let Some(s) = self.selected() else { return Ok(()) };
        let folder = s.folder;
        let msgs = self.load(folder, uids).await?;
        self.tell_flags(&msgs, with_uid);
        Ok(())
    }

    /// Untagged FETCH (UID FLAGS [MODSEQ]) for these rows.
    fn tell_flags(&mut self, msgs: &[ImapMessage], with_uid: bool) {
        let condstore = self.condstore;
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
            let gone = match self.blocking(move |st| st.imap_uids().vanished_since(folder, since)).await {
                Ok(g) => g,
                Err(e) => return server_bug(tag, &e),
            };
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
            let rows = match self.blocking(move |st| st.imap_uids().messages(folder, &uids)).await {
                Ok(r) => r,
                Err(e) => return server_bug(tag, &e),
            };
            let mut rows: Vec<ImapMessage> = rows.into_iter().filter(|m| since.is_none_or(|s| m.modseq > s)).collect();
            while !rows.is_empty() {
                // The bytes of at most CHUNK_BYTES of messages (and at least one) at a time.
                let n = if raw_needed { by_bytes(rows.iter().map(|m| m.size), CHUNK_BYTES) } else { rows.len() };
                let batch: Vec<ImapMessage> = rows.drain(..n).collect();
                let msgs = self
                    .blocking(move |st| {
                        batch
                            .into_iter()
                            .map(|m| {
                                let raw = if raw_needed { bytes_of(st, m.blob_id, m.uid)? } else { Vec::new() };
                                Ok((m, raw))
                            })
                            .collect::<crate::store::Result<Vec<_>>>()
                    })
                    .await;
                let msgs = match msgs {
                    Ok(m) => m,
                    Err(e) => return server_bug(tag, &e),
                };
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
        }
        if !mark_seen.is_empty() {
            let ups: Vec<(i64, EmailUpdate)> = mark_seen
                .into_iter()
                .map(|id| {
                    (id, EmailUpdate { keywords: Some(KeywordPatch::Set(vec![("$seen".into(), true)])), folder: None })
                })
                .collect();
            let acc = account.clone();
            // The FETCH itself succeeded: a \Seen that could not be set is only logged.
            match self.blocking(move |st| st.emails().set(&acc, None, &ups, &[])).await {
                Ok(Some((up, _))) => {
                    if let Some(Err(f)) = up.iter().find(|r| r.is_err()) {
                        tracing::warn!(failure = ?f, "imapd: a fetched message could not be marked seen");
                    }
                    self.shared.app.wake_writeback(&account);
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "imapd: fetched messages could not be marked seen"),
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
            let uids: Vec<u32> = chunk.iter().map(|r| r.1).collect();
            let msgs = match self.load(folder, &uids).await {
                Ok(m) => m,
                Err(e) => return server_bug(tag, &e),
            };
            for m in msgs {
                let Some(seq) = self.selected().and_then(|s| s.view.seq(m.uid)) else { continue };
                let (blob, id, u) = (m.blob_id, m.message, m.uid);
                let (need_raw, need_text) = (needs.raw, needs.text);
                // A key that cannot be checked is an error, never a silent "no match".
                let loaded = if !(need_raw || need_text) {
                    Ok((Vec::new(), None))
                } else {
                    self.blocking(move |st| {
                        let raw = if need_raw { bytes_of(st, blob, u)? } else { Vec::new() };
                        let text = if need_text { st.imap_uids().search_text(id)? } else { None };
                        Ok((raw, text))
                    })
                    .await
                };
                let (raw, text) = match loaded {
                    Ok(x) => x,
                    Err(e) => return server_bug(tag, &e),
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
        let kws: Vec<String> = flags.iter().filter_map(keyword).collect();
        let deleted_flag = flags.contains(&Flag::Deleted);
        let patch = match kind {
            StoreType::Add | StoreType::Remove if kws.is_empty() => None,
            StoreType::Replace => Some(KeywordPatch::Replace(kws)),
            StoreType::Add => Some(KeywordPatch::Set(kws.into_iter().map(|k| (k, true)).collect())),
            StoreType::Remove => Some(KeywordPatch::Set(kws.into_iter().map(|k| (k, false)).collect())),
        };
        let deleted = match kind {
            StoreType::Replace => Some(deleted_flag),
            StoreType::Add if deleted_flag => Some(true),
            StoreType::Remove if deleted_flag => Some(false),
            _ => None,
        };
        let uids: Vec<u32> = targets.iter().map(|t| t.1).collect();
        let acc = account.clone();
        // One transaction on the folder as it is now: UNCHANGEDSINCE against the MODSEQ of the
        // moment, and nothing touched that another device moved away.
        let r = self
            .blocking(move |st| st.imap_uids().store(&acc, folder, &uids, patch.as_ref(), deleted, unchanged_since))
            .await;
        let stored = match r {
            Ok(Ok(x)) => x,
            Ok(Err((uid, f))) => {
                let text = match &f {
                    SetFailure::Invalid(_, t) | SetFailure::Forbidden(t) => t.clone(),
                    other => format!("{other:?}"),
                };
                return no(tag, Some(code("CANNOT")), &format!("UID {uid}: {text}; nothing was changed"));
            }
            Err(e) => return server_bug(tag, &e),
        };
        self.shared.app.wake_writeback(&account);
        let modified: Vec<u32> = if uid {
            stored.modified.clone()
        } else {
            stored.modified.iter().filter_map(|u| self.selected().and_then(|s| s.view.seq(*u))).collect()
        };
        if matches!(response, StoreResponse::Answer) || self.condstore {
            // RFC 7162 section 3.1: with CONDSTORE on, every FETCH a STORE causes carries UID.
            let with_uid = uid || self.condstore;
            let done: Vec<u32> = stored.done.iter().map(|d| d.0).collect();
            if let Err(e) = self.fetch_flags(&done, with_uid).await {
                // The change is committed: a NO would say it was not. The view has not moved
                // on, so the flags go out with the next news.
                tracing::warn!(error = %e, "IMAP: STORE done, but its flags cannot be read back now");
            }
        } else if let Some(s) = self.selected() {
            // .SILENT: the client knows what it set; its own change is not echoed as news.
            // A message that had news of its own before the STORE (another device's flag
            // change the session has not told yet) is left to `tell_updates`, which sends it
            // with this change: only whole FETCH FLAGS exist.
            for ((u, modseq), before) in stored.done.iter().zip(&stored.before) {
                if s.view.known(*u).is_some_and(|k| *before <= k) {
                    s.view.told(*u, *modseq);
                }
            }
        }
        self.tell_updates(uid).await;
        match set_of(&modified) {
            Some(set) => ok(tag, Some(Code::Modified(set)), "STORE done, some were changed meanwhile"),
            None => ok(tag, None, "STORE done"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::by_bytes;

    #[test]
    fn a_fetch_batch_stops_at_the_byte_limit_but_holds_at_least_one_message() {
        assert_eq!(by_bytes([10, 10, 10].into_iter(), 25), 2);
        assert_eq!(by_bytes([10, 10, 10].into_iter(), 30), 3);
        assert_eq!(by_bytes([100, 1].into_iter(), 25), 1, "one big message is a batch of its own");
        assert_eq!(by_bytes([1; 200].into_iter(), 16 << 20), 200);
        assert_eq!(by_bytes(std::iter::empty(), 10), 0);
    }
}
