//! One sync pass over a mailbox's folders on an open session: the I/O that carries out
//! [`plan`](super::plan).
//!
//! A pass asks each folder's STATUS; a folder whose numbers match what the store remembers
//! costs nothing more. Otherwise it EXAMINEs the folder (read-only: the mirror never changes
//! the server; write-back does that), plans again with the fresher numbers and runs the steps.
//! New messages are fetched in batches of `agent.batch_size` UIDs (and at most
//! [`BATCH_BYTES`]); each batch is one store transaction that also records how far the folder
//! is done, so a crash resumes exactly where the last commit ended. While the next batch is
//! read, the one before is parsed on one blocking thread and the one before that written on
//! another ([`BatchWriter`]), in order, so memory holds three batches at most; after each
//! commit the store's log is copied into its file on a third ([`Store::checkpoint`]). A message
//! the server cannot give is logged and holds UIDNEXT back, so the next pass asks for it again
//! instead of skipping it forever.

use std::ops::RangeInclusive;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use super::SyncError;
use super::folders::{self, Target};
use super::plan::{self, Caps, Expunges, Flags, Plan, Server, Stored};
use super::report::{FolderReport, Progress, Report};
use crate::app::App;
use crate::config::{FolderSpec, Mailbox};
use crate::imap::fetch::{self, FlagItem};
use crate::imap::{self, Error, ServerProfile, Session, folder, wire};
use crate::store::folders::Folder;
use crate::store::folders::FolderState;
use crate::store::messages::{self, NewMessage};
use crate::store::{Store, StoreError};

/// A batch is committed early once it holds this many bytes (a few large attachments). One
/// batch is written and one prepared while the next is read, so the mirror holds three times
/// this at most (about what two batches of 16 MB came to before).
pub const BATCH_BYTES: usize = 11 << 20;
/// Flag updates are applied in transactions of this many messages.
const FLAG_CHUNK: usize = 2000;
/// The folder list is read again after this long even when nothing failed.
pub const DISCOVERY_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// A mirrored folder: the server's name for it and the store's row.
#[derive(Debug, Clone)]
pub struct MirrorFolder {
    pub wire: String,
    pub folder: Folder,
}

/// The state of one mailbox's mirror between passes (the session is held by the caller,
/// because IDLE takes it by value).
pub struct Mirror {
    app: App,
    mailbox: Mailbox,
    /// What the server offers and its quirks.
    pub profile: ServerProfile,
    /// The extensions planning uses (from the profile; a test may narrow them).
    pub caps: Caps,
    pub folders: Vec<MirrorFolder>,
    pub discovered_at: Option<Instant>,
    /// The folder the session has selected (EXAMINE), if any. STATUS on it would answer from
    /// the session's own view, which lags until the folder is selected again, so the pass
    /// re-EXAMINEs it instead.
    selected: std::sync::Mutex<Option<String>>,
}

/// Where a pass stops early and what it shows while it runs.
#[derive(Default)]
pub struct PassOptions<'a> {
    pub cancel: Option<&'a CancellationToken>,
    /// Show a progress bar on stderr once a fetch of at least this many messages starts.
    pub progress: bool,
}

impl Mirror {
    /// Learn the session's extensions (enabling QRESYNC where offered) and the folders.
    pub async fn start(app: &App, mailbox: &Mailbox, s: &mut Session) -> Result<Mirror, SyncError> {
        let mut m = Self::prepare(app, mailbox, s).await?;
        m.discover(s).await?;
        Ok(m)
    }

    /// Learn the session's extensions and enable QRESYNC where offered; the folders are not
    /// listed yet ([`Mirror::discover`]). ENABLE must come before any folder is selected, so
    /// this is the first thing a session does, before the write-back.
    pub async fn prepare(app: &App, mailbox: &Mailbox, s: &mut Session) -> Result<Mirror, SyncError> {
        let profile = ServerProfile::learn(s).await?;
        let m = Mirror {
            app: app.clone(),
            mailbox: mailbox.clone(),
            caps: Caps { condstore: profile.condstore, qresync: profile.qresync },
            profile,
            folders: Vec::new(),
            discovered_at: None,
            selected: std::sync::Mutex::new(None),
        };
        tracing::debug!(mailbox = %mailbox.id, profile = ?m.profile, "session ready");
        Ok(m)
    }

    pub fn account(&self) -> &str {
        &self.mailbox.id
    }

    /// LIST the server's folders, map the config onto them, create what is new in the store
    /// and destroy what is gone. Returns the names of folders destroyed.
    pub async fn discover(&mut self, s: &mut Session) -> Result<Vec<String>, SyncError> {
        let listed = imap::roles::list(s).await?;
        let store = &self.app.store;
        // The personal name space has one delimiter; INBOX's is the one to trust.
        let delimiter = listed
            .iter()
            .find(|l| l.name.eq_ignore_ascii_case("INBOX"))
            .or_else(|| listed.first())
            .and_then(|l| l.delimiter.as_deref());
        store.folders().set_delimiter(self.account(), delimiter)?;
        // The config's folders, and those a phone created or renamed.
        let mut specs = self.mailbox.folders.clone();
        specs.extend(store.folders().made_by_devices(self.account())?.into_iter().map(FolderSpec::Name));
        let (mut targets, missing) = folders::resolve(&specs, &listed);
        for spec in missing {
            tracing::debug!(mailbox = %self.account(), folder = ?spec, "the server has no such folder; not mirrored");
        }
        // What the server still lists under the old name of a pending rename (or a pending
        // delete) is the store's renamed (or destroyed) folder: never a new one.
        let in_flux = store.folders().names_in_flux(self.account())?;
        targets.retain(|t| {
            !in_flux.iter().any(|n| t.name == *n || delimiter.is_some_and(|d| t.name.starts_with(&format!("{n}{d}"))))
        });
        let mut kept = Vec::new();
        for Target { wire, name, role } in targets {
            let folder = store.folders().ensure(self.account(), &name, role.as_deref())?;
            kept.push(MirrorFolder { wire, folder });
        }
        let kept_ids: Vec<i64> = kept.iter().map(|k| k.folder.id).collect();
        let destroyed = store.folders().destroy_not_kept(self.account(), &kept_ids)?;
        for name in &destroyed {
            tracing::info!(mailbox = %self.account(), folder = %name, "folder is gone on the server (or no longer configured): removed");
        }
        self.folders = kept;
        // The server's subscriptions are read whenever the folders are listed.
        super::writeback::read_subscriptions(&self.app, self.account(), s).await?;
        self.discovered_at = Some(Instant::now());
        Ok(destroyed)
    }

    /// The folder IDLE watches: INBOX if it is mirrored.
    pub fn idle_folder(&self) -> Option<&str> {
        self.folders.iter().find(|f| f.folder.role.as_deref() == Some("inbox")).map(|f| f.wire.as_str())
    }

    /// Sync every folder once.
    pub async fn pass(&mut self, s: &mut Session, opts: PassOptions<'_>) -> Result<Report, SyncError> {
        let started = Instant::now();
        let mut report = Report::default();
        if self.discovered_at.is_none_or(|t| t.elapsed() > DISCOVERY_INTERVAL) {
            report.destroyed = self.discover(s).await?;
        }
        let mut progress = Progress { enabled: opts.progress, bar: None };
        let mut i = 0;
        while i < self.folders.len() {
            let f = self.folders[i].clone();
            match self.sync_folder(s, &f, &opts, &mut progress).await {
                Ok(r) => {
                    if r.changed() {
                        tracing::info!(
                            mailbox = %self.account(), folder = %r.name, new = r.new, flags = r.flags,
                            expunged = r.expunged, reset = r.reset, missing = r.missing, "folder synced"
                        );
                    }
                    report.folders.push(r);
                    i += 1;
                }
                Err(SyncError::FolderRefused(e)) => {
                    // The folder may be gone: read the list again. If it is still listed, the
                    // refusal is a real error.
                    tracing::debug!(mailbox = %self.account(), folder = %f.folder.name, error = %e, "folder refused; listing again");
                    let destroyed = self.discover(s).await?;
                    if !destroyed.contains(&f.folder.name) {
                        progress.finish();
                        return Err(SyncError::Imap(e));
                    }
                    report.destroyed.extend(destroyed);
                    // The list changed under us: continue with the folder now at index i.
                    i = self
                        .folders
                        .iter()
                        .position(|x| !report.folders.iter().any(|r| r.name == x.folder.name))
                        .unwrap_or(self.folders.len());
                }
                Err(e) => {
                    progress.finish();
                    return Err(e);
                }
            }
        }
        progress.finish();
        report.elapsed_ms = started.elapsed().as_millis();
        Ok(report)
    }

    /// EXAMINE the folder (read-only) and return its numbers.
    pub async fn examine(&self, s: &mut Session, wire_name: &str, name: &str) -> Result<Server, SyncError> {
        // A failed EXAMINE leaves nothing selected; a good one selects this folder.
        *self.selected.lock().unwrap_or_else(|p| p.into_inner()) = None;
        let sv = folder::examine(s, self.caps.condstore, wire_name, name).await.map_err(refused_folder)?;
        *self.selected.lock().unwrap_or_else(|p| p.into_inner()) = Some(wire_name.to_string());
        Ok(sv)
    }

    async fn sync_folder(
        &self,
        s: &mut Session,
        f: &MirrorFolder,
        opts: &PassOptions<'_>,
        progress: &mut Progress,
    ) -> Result<FolderReport, SyncError> {
        let mut report = FolderReport { name: f.folder.name.clone(), ..Default::default() };
        let store = &self.app.store;
        // The row may have moved on since discovery (an earlier pass on this connection).
        let row = store.folders().by_name(self.account(), &f.folder.name)?.unwrap_or_else(|| f.folder.clone());
        let stored = Stored { uidvalidity: row.uidvalidity, uidnext: row.uidnext, highestmodseq: row.highestmodseq };
        let is_selected = self.selected.lock().unwrap_or_else(|p| p.into_inner()).as_deref() == Some(f.wire.as_str());
        let sv = folder::numbers(s, &self.profile, self.caps.condstore, &f.wire, &row.name, is_selected)
            .await
            .map_err(refused_folder)?;
        // The folder stays selected only if the server was asked by EXAMINE and said yes.
        let is_selected = is_selected && self.profile.stale_status_when_selected;
        let p = plan::plan(stored, sv, self.caps);
        if p.is_nothing() {
            if stored.uidvalidity != Some(sv.uidvalidity) || (sv.uidnext.is_some() && stored.uidnext != sv.uidnext) {
                store.folders().set_state(row.id, state(sv, sv.uidnext))?;
            }
            tracing::debug!(mailbox = %self.account(), folder = %row.name, "nothing new");
            return Ok(report);
        }
        // Plan again with the numbers of the selected folder: they may have moved since STATUS.
        let sv = if is_selected { sv } else { self.examine(s, &f.wire, &row.name).await? };
        let p = plan::plan(stored, sv, self.caps);
        tracing::debug!(mailbox = %self.account(), folder = %row.name, plan = ?p, server = ?sv, "syncing folder");
        self.run_plan(s, &row, sv, p, opts, progress, &mut report).await?;
        Ok(report)
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_plan(
        &self,
        s: &mut Session,
        row: &Folder,
        sv: Server,
        p: Plan,
        opts: &PassOptions<'_>,
        progress: &mut Progress,
        report: &mut FolderReport,
    ) -> Result<(), SyncError> {
        let store = &self.app.store;
        if p.reset {
            let n = store.folders().reset(row.id, sv.uidvalidity)?;
            tracing::info!(mailbox = %self.account(), folder = %row.name, forgotten = n, "UIDVALIDITY changed: fetching the folder again");
            report.reset = true;
        }
        // 1. Flags and expunges, then record the server's HIGHESTMODSEQ.
        match p.flags {
            Flags::Unchanged => {}
            Flags::ChangedSince { modseq, vanished } => {
                let v = if vanished { " VANISHED" } else { "" };
                let (flags, gone) = self
                    .fetch_flags(s, row, &format!("UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE {modseq}{v})"), false)
                    .await?;
                report.flags += flags;
                if let FlagsResult::Vanished(ranges) = gone {
                    let held = store.folders().uids(row.id)?;
                    let gone: Vec<u32> = held.into_iter().filter(|u| ranges.iter().any(|r| r.contains(u))).collect();
                    if !gone.is_empty() {
                        report.expunged += store.messages().expunge(self.account(), row.id, &gone, None)?;
                    }
                }
            }
            Flags::Full => {
                let (flags, seen) = if sv.exists == 0 {
                    (0, FlagsResult::Seen(Vec::new()))
                } else {
                    self.fetch_flags(s, row, "UID FETCH 1:* (UID FLAGS)", true).await?
                };
                report.flags += flags;
                if let (Expunges::FromFullFetch, FlagsResult::Seen(mut seen)) = (p.expunges, seen) {
                    seen.sort_unstable();
                    let held = store.folders().uids(row.id)?;
                    let gone: Vec<u32> = held.into_iter().filter(|u| seen.binary_search(u).is_err()).collect();
                    if !gone.is_empty() {
                        report.expunged += store.messages().expunge(self.account(), row.id, &gone, None)?;
                    }
                }
            }
        }
        if p.flags != Flags::Unchanged {
            store.folders().set_state(
                row.id,
                FolderState { uidvalidity: sv.uidvalidity, uidnext: None, highestmodseq: sv.highestmodseq },
            )?;
        }
        // 2. New messages, batch by batch.
        let mut first_missing = None;
        if let Some(from) = p.new_from {
            first_missing = self.fetch_new(s, row, sv, from, opts, progress, report).await?;
        }
        // 3. Expunges by UID diff where the server gave no better way.
        if p.expunges == Expunges::DiffIfCountDiffers {
            let held = store.folders().uids(row.id)?;
            if held.len() != sv.exists as usize {
                let on_server = folder::uid_search(s, "ALL", &row.name, 1).await?;
                let gone: Vec<u32> = held.into_iter().filter(|u| on_server.binary_search(u).is_err()).collect();
                if !gone.is_empty() {
                    report.expunged += store.messages().expunge(self.account(), row.id, &gone, None)?;
                }
            }
        }
        // 4. The folder is done up to what the server said when it was selected.
        let uidnext = first_missing.or(sv.uidnext);
        store.folders().set_state(row.id, state(sv, uidnext))?;
        Ok(())
    }

    /// Run a flag fetch and apply what it says; returns how many messages changed and either
    /// the VANISHED ranges or every UID seen (when `collect_seen`).
    async fn fetch_flags(
        &self,
        s: &mut Session,
        row: &Folder,
        cmd: &str,
        collect_seen: bool,
    ) -> Result<(usize, FlagsResult), SyncError> {
        let store = &self.app.store;
        let c = wire::send(s, cmd, format!("UID FETCH FLAGS {}", row.name)).await?;
        let mut updates: Vec<(u32, Vec<String>)> = Vec::new();
        let mut seen = Vec::new();
        let mut vanished: Vec<RangeInclusive<u32>> = Vec::new();
        let mut changed = 0;
        while let Some(item) = c.next(s, fetch::flags).await? {
            match item {
                Some(FlagItem::Flags(uid, flags)) => {
                    if collect_seen {
                        seen.push(uid);
                    }
                    if let Some(flags) = flags {
                        updates.push((uid, flags));
                    }
                }
                Some(FlagItem::Vanished(r)) => vanished.extend(r),
                None => {}
            }
            if updates.len() >= FLAG_CHUNK {
                changed += store.messages().apply_flags(self.account(), row.id, &std::mem::take(&mut updates), None)?;
            }
        }
        if !updates.is_empty() {
            changed += store.messages().apply_flags(self.account(), row.id, &updates, None)?;
        }
        Ok((changed, if collect_seen { FlagsResult::Seen(seen) } else { FlagsResult::Vanished(vanished) }))
    }

    /// Fetch the messages with UIDs from `from` up that the store does not hold. Returns the
    /// first UID the server listed but did not deliver, if any.
    #[allow(clippy::too_many_arguments)]
    async fn fetch_new(
        &self,
        s: &mut Session,
        row: &Folder,
        sv: Server,
        from: u32,
        opts: &PassOptions<'_>,
        progress: &mut Progress,
        report: &mut FolderReport,
    ) -> Result<Option<u32>, SyncError> {
        let store = &self.app.store;
        // `from:*` includes the highest UID even when it is below `from`: `search` filters.
        let mut uids = folder::uid_search(s, &format!("UID {from}:*"), &row.name, from).await?;
        let held = store.folders().uids_from(row.id, from)?;
        if !held.is_empty() {
            uids.retain(|u| held.binary_search(u).is_err());
        }
        if uids.is_empty() {
            return Ok(None);
        }
        progress.add(uids.len(), &row.name);
        let batch_size = self.app.config.agent.batch_size.max(1) as usize;
        let modseq = if self.caps.condstore { " MODSEQ" } else { "" };
        let mut first_missing: Option<u32> = None;
        let chunks: Vec<&[u32]> = uids.chunks(batch_size).collect();
        let fetch = |chunk: &[u32]| {
            format!("UID FETCH {} (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[]{modseq})", wire::uid_set(chunk))
        };
        let what = format!("UID FETCH {}", row.name);
        let cancelled = || opts.cancel.is_some_and(|c| c.is_cancelled());
        if cancelled() {
            return Err(SyncError::Cancelled);
        }
        let mut writer = BatchWriter {
            store: store.clone(),
            account: self.account().to_string(),
            folder_id: row.id,
            in_flight: Default::default(),
            last_done: None,
        };
        let progress = &*progress;
        let fetched = async {
            let mut next = Some(wire::send(s, &fetch(chunks[0]), what.clone()).await?);
            for (i, chunk) in chunks.iter().copied().enumerate() {
                let Some(c) = next.take() else { return Err(SyncError::Cancelled) };
                let mut batch: Vec<NewMessage> = Vec::with_capacity(chunk.len());
                let mut bytes = 0usize;
                let mut got: Vec<u32> = Vec::with_capacity(chunk.len());
                while let Some(item) = c.next(s, fetch::message).await? {
                    let Some(m) = item else { continue };
                    let Some(uid) = m.uid else { continue };
                    if chunk.binary_search(&uid).is_err() {
                        continue; // an unsolicited FETCH for another message
                    }
                    let m = NewMessage {
                        uid: m.uid,
                        modseq: m.modseq,
                        flags: m.flags,
                        internal_date: m.internal_date,
                        raw: m.raw,
                    };
                    got.push(uid);
                    bytes += m.raw.len();
                    batch.push(m);
                    if bytes >= BATCH_BYTES {
                        // Large messages: commit early, without moving UIDNEXT (the batch's
                        // remainder is not in yet).
                        report.new += writer.start(std::mem::take(&mut batch), state(sv, None), progress).await?;
                        bytes = 0;
                    }
                }
                got.sort_unstable();
                for uid in chunk.iter().filter(|u| got.binary_search(u).is_err()) {
                    tracing::warn!(mailbox = %self.account(), folder = %row.name, uid, "the server listed this message but gave no body; asking again next pass");
                    report.missing += 1;
                    first_missing = Some(first_missing.map_or(*uid, |m: u32| m.min(*uid)));
                }
                // Ask for the next batch before writing this one: the server prepares it while
                // the store commits, and it is read while this one is written.
                if let Some(following) = chunks.get(i + 1)
                    && !cancelled()
                {
                    next = Some(wire::send(s, &fetch(following), what.clone()).await?);
                }
                let done_up_to = chunk.last().map(|u| u + 1);
                report.new += writer.start(batch, state(sv, first_missing.or(done_up_to)), progress).await?;
                if next.is_none() && i + 1 < chunks.len() {
                    return Err(SyncError::Cancelled);
                }
            }
            Ok(first_missing)
        }
        .await;
        // Whatever stopped the reading, the batch being written is waited for: it is in the
        // store (or its error is known) before the pass records anything else or gives up.
        // A store error wins over any other, wherever it surfaced (a batch handed over after
        // a failed one only reports that the one before was not stored): it ends the task (the
        // daemon restarts it), where another error would only reconnect and meet the same
        // store again.
        match (fetched, writer.settle(progress).await) {
            (Err(e @ SyncError::Store(_)), _) => Err(e),
            (fetched, last) => {
                report.new += last?;
                fetched
            }
        }
    }
}

/// The store side of a fetch of new messages, in two stages behind the reader: a batch is
/// prepared (parsed, hashed, its columns written: [`messages::prepare`]) on a blocking thread
/// while the batch before it is being inserted on another, and the reader meanwhile reads the
/// next one; so network, parsing and SQL work at once. Batches commit in order (each records
/// how far the folder is done): a batch is inserted only after the one before it committed,
/// and not at all if that one failed. Memory holds three batches at most: one being read, one
/// being prepared, one being written. After each commit a checkpoint is started beside the
/// next insert, so the writer does not stop to copy the log into the database file.
struct BatchWriter {
    store: Store,
    account: String,
    folder_id: i64,
    /// The batches handed over and not yet settled, oldest first, with their sizes.
    in_flight: std::collections::VecDeque<(Writing, usize)>,
    /// Told when the newest batch handed over has committed (true) or failed (false).
    last_done: Option<tokio::sync::oneshot::Receiver<bool>>,
}

/// A batch's preparation and store transaction; it yields the ids of the new messages.
type Writing = tokio::task::JoinHandle<Result<Vec<i64>, SyncError>>;

impl BatchWriter {
    /// Wait for the oldest batch handed over; returns how many of its messages were new.
    async fn settle_one(&mut self, progress: &Progress) -> Result<usize, SyncError> {
        let Some((writing, n)) = self.in_flight.pop_front() else { return Ok(0) };
        let ids = writing.await.map_err(|e| SyncError::Batch(e.to_string()))??;
        progress.inc(n);
        Ok(ids.len())
    }

    /// Wait for every batch handed over; returns how many messages were new. Each one is
    /// waited for even after an error, so nothing is still writing when this returns.
    async fn settle(&mut self, progress: &Progress) -> Result<usize, SyncError> {
        let (mut new, mut first_err) = (0, None);
        while !self.in_flight.is_empty() {
            match self.settle_one(progress).await {
                Ok(n) => new += n,
                Err(e) => first_err = first_err.or(Some(e)),
            }
        }
        first_err.map_or(Ok(new), Err)
    }

    /// Hand `batch` over with the folder's state `st`, to be prepared at once and inserted in
    /// one store transaction after the batch before it. Waits first while two batches are in
    /// flight; returns how many messages of the batches settled meanwhile were new.
    async fn start(
        &mut self,
        batch: Vec<NewMessage>,
        st: FolderState,
        progress: &Progress,
    ) -> Result<usize, SyncError> {
        let mut new = 0;
        while self.in_flight.len() >= 2 {
            new += self.settle_one(progress).await?;
        }
        let (store, account, folder_id) = (self.store.clone(), self.account.clone(), self.folder_id);
        let n = batch.len();
        let before = self.last_done.take();
        let (done, done_rx) = tokio::sync::oneshot::channel();
        self.last_done = Some(done_rx);
        let joined = |e: tokio::task::JoinError| SyncError::Batch(e.to_string());
        let writing = tokio::spawn(async move {
            let r = async {
                let ready = tokio::task::spawn_blocking(move || messages::prepare(batch)).await.map_err(joined)?;
                if let Some(before) = before
                    && before.await != Ok(true)
                {
                    return Err(SyncError::Batch("the batch before this one was not stored".into()));
                }
                let ids = tokio::task::spawn_blocking(move || {
                    let ids = store.messages().insert_ready(&account, folder_id, ready, Some(st))?;
                    // Copy the batch into the database file while the next batch is inserted.
                    tokio::task::spawn_blocking(move || {
                        if let Err(e) = store.checkpoint() {
                            tracing::debug!(error = %e, "background checkpoint failed; the writer's own will do");
                        }
                    });
                    Ok::<_, StoreError>(ids)
                })
                .await
                .map_err(joined)??;
                Ok(ids)
            }
            .await;
            let _ = done.send(r.is_ok());
            r
        });
        self.in_flight.push_back((writing, n));
        Ok(new)
    }
}

/// A refused STATUS or EXAMINE: the folder may be gone (the pass lists the folders again).
fn refused_folder(e: Error) -> SyncError {
    match e {
        Error::Refused { .. } => SyncError::FolderRefused(e),
        e => SyncError::Imap(e),
    }
}

enum FlagsResult {
    Vanished(Vec<RangeInclusive<u32>>),
    Seen(Vec<u32>),
}

fn state(sv: Server, uidnext: Option<u32>) -> FolderState {
    FolderState { uidvalidity: sv.uidvalidity, uidnext, highestmodseq: sv.highestmodseq }
}
