//! One sync pass over a mailbox's folders on an open session: the I/O that carries out
//! [`plan`](super::plan).
//!
//! A pass asks each folder's STATUS; a folder whose numbers match what the store remembers
//! costs nothing more. Otherwise it EXAMINEs the folder (read-only: the mirror never changes
//! the server; write-back does that), plans again with the fresher numbers and runs the steps.
//! New messages are fetched in batches of `agent.batch_size` UIDs (and at most
//! [`BATCH_BYTES`]); each batch is one store transaction that also records how far the folder
//! is done, so a crash resumes exactly where the last commit ended, and memory holds one batch
//! at most. A message the server cannot give is logged and holds UIDNEXT back, so the next
//! pass asks for it again instead of skipping it forever.

use std::fmt;
use std::ops::RangeInclusive;
use std::time::Instant;

use async_imap::imap_proto::{AttributeValue, MailboxDatum, NameAttribute, Response, ResponseCode, StatusAttribute};
use indicatif::ProgressBar;
use tokio_util::sync::CancellationToken;

use super::SyncError;
use super::conn::ImapSession;
use super::folders::{self, Listed, Target};
use super::plan::{self, Caps, Expunges, Flags, Plan, Server, Stored};
use super::wire::{self, mutf7, quote};
use crate::app::App;
use crate::config::{FolderSpec, Mailbox};
use crate::store::folders::Folder;
use crate::store::folders::FolderState;
use crate::store::messages::NewMessage;

/// A batch is committed early once it holds this many bytes (a few large attachments).
pub const BATCH_BYTES: usize = 32 << 20;
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
    pub caps: Caps,
    pub idle: bool,
    pub folders: Vec<MirrorFolder>,
    pub discovered_at: Option<Instant>,
    /// The folder the session has selected (EXAMINE), if any. STATUS on it would answer from
    /// the session's own view, which lags until the folder is selected again, so the pass
    /// re-EXAMINEs it instead.
    selected: std::sync::Mutex<Option<String>>,
}

/// What a pass did to one folder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FolderReport {
    pub name: String,
    pub new: usize,
    pub flags: usize,
    pub expunged: usize,
    pub reset: bool,
    /// Messages the server listed but gave no body for (asked for again next pass).
    pub missing: usize,
}

impl FolderReport {
    fn changed(&self) -> bool {
        self.new + self.flags + self.expunged + self.missing > 0 || self.reset
    }
}

/// What a pass did to a mailbox: printed by `postbote sync --once`.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub folders: Vec<FolderReport>,
    pub destroyed: Vec<String>,
    pub elapsed_ms: u128,
}

impl Report {
    pub fn new_messages(&self) -> usize {
        self.folders.iter().map(|f| f.new).sum()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let changed: Vec<&FolderReport> = self.folders.iter().filter(|r| r.changed()).collect();
        if changed.is_empty() && self.destroyed.is_empty() {
            write!(f, "nothing new ({} folders checked", self.folders.len())?;
        } else {
            let mut first = true;
            for r in changed {
                if !first {
                    f.write_str("; ")?;
                }
                first = false;
                write!(f, "{}:", r.name)?;
                if r.reset {
                    f.write_str(" UIDVALIDITY changed, fetched again,")?;
                }
                write!(f, " {} new", r.new)?;
                if r.flags > 0 {
                    write!(f, ", {} flags changed", r.flags)?;
                }
                if r.expunged > 0 {
                    write!(f, ", {} removed", r.expunged)?;
                }
                if r.missing > 0 {
                    write!(f, ", {} not delivered by the server (retried next time)", r.missing)?;
                }
            }
            for d in &self.destroyed {
                write!(f, "; {d}: gone on the server, removed")?;
            }
            write!(f, " ({} folders checked", self.folders.len())?;
        }
        write!(f, " in {} ms)", self.elapsed_ms)
    }
}

/// Where a pass stops early and what it shows while it runs.
#[derive(Default)]
pub struct PassOptions<'a> {
    pub cancel: Option<&'a CancellationToken>,
    /// Show a progress bar on stderr once a fetch of at least this many messages starts.
    pub progress: bool,
}

/// A progress bar only for long fetches.
struct Progress {
    enabled: bool,
    bar: Option<ProgressBar>,
}

impl Progress {
    const MIN: usize = 500;

    fn add(&mut self, n: usize, folder: &str) {
        if !self.enabled || (self.bar.is_none() && n < Self::MIN) {
            return;
        }
        match &self.bar {
            Some(bar) => {
                bar.set_prefix(folder.to_string());
                bar.inc_length(n as u64);
            }
            None => {
                let b = ProgressBar::with_draw_target(Some(n as u64), indicatif::ProgressDrawTarget::stderr());
                if let Ok(style) =
                    indicatif::ProgressStyle::with_template("{prefix:>12} [{bar:40}] {pos}/{len} messages, {eta} left")
                {
                    b.set_style(style.progress_chars("=> "));
                }
                b.set_prefix(folder.to_string());
                self.bar = Some(b);
            }
        }
    }

    fn inc(&self, n: usize) {
        if let Some(b) = &self.bar {
            b.inc(n as u64);
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Mirror {
    /// Learn the session's extensions (enabling QRESYNC where offered) and the folders.
    pub async fn start(app: &App, mailbox: &Mailbox, s: &mut ImapSession) -> Result<Mirror, SyncError> {
        let mut m = Self::prepare(app, mailbox, s).await?;
        m.discover(s).await?;
        Ok(m)
    }

    /// Learn the session's extensions and enable QRESYNC where offered; the folders are not
    /// listed yet ([`Mirror::discover`]). ENABLE must come before any folder is selected, so
    /// this is the first thing a session does, before the write-back.
    pub async fn prepare(app: &App, mailbox: &Mailbox, s: &mut ImapSession) -> Result<Mirror, SyncError> {
        let caps =
            s.capabilities().await.map_err(|e| SyncError::Io { what: "CAPABILITY".into(), message: e.to_string() })?;
        let idle = caps.has_str("IDLE");
        let condstore = caps.has_str("CONDSTORE") || caps.has_str("QRESYNC");
        let mut qresync = false;
        if caps.has_str("QRESYNC") {
            wire::simple(s, "ENABLE QRESYNC", "ENABLE QRESYNC").await?;
            qresync = true;
        } else if condstore {
            wire::simple(s, "ENABLE CONDSTORE", "ENABLE CONDSTORE").await.ok();
        }
        let m = Mirror {
            app: app.clone(),
            mailbox: mailbox.clone(),
            caps: Caps { condstore, qresync },
            idle,
            folders: Vec::new(),
            discovered_at: None,
            selected: std::sync::Mutex::new(None),
        };
        tracing::debug!(mailbox = %mailbox.id, condstore, qresync, idle, "session ready");
        Ok(m)
    }

    pub fn account(&self) -> &str {
        &self.mailbox.id
    }

    /// LIST the server's folders, map the config onto them, create what is new in the store
    /// and destroy what is gone. Returns the names of folders destroyed.
    pub async fn discover(&mut self, s: &mut ImapSession) -> Result<Vec<String>, SyncError> {
        let cmd = wire::send(s, "LIST \"\" \"*\"", "LIST").await?;
        let mut listed = Vec::new();
        while let Some(item) = cmd.next(s, listed_folder).await? {
            if let Some(l) = item {
                listed.push(l);
            }
        }
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
        self.discovered_at = Some(Instant::now());
        Ok(destroyed)
    }

    /// The folder IDLE watches: INBOX if it is mirrored.
    pub fn idle_folder(&self) -> Option<&str> {
        self.folders.iter().find(|f| f.folder.role.as_deref() == Some("inbox")).map(|f| f.wire.as_str())
    }

    /// Sync every folder once.
    pub async fn pass(&mut self, s: &mut ImapSession, opts: PassOptions<'_>) -> Result<Report, SyncError> {
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
                Err(SyncError::Refused { what, message })
                    if what.starts_with("STATUS") || what.starts_with("EXAMINE") =>
                {
                    // The folder may be gone: read the list again. If it is still listed, the
                    // refusal is a real error.
                    tracing::debug!(mailbox = %self.account(), folder = %f.folder.name, %message, "folder refused; listing again");
                    let destroyed = self.discover(s).await?;
                    if !destroyed.contains(&f.folder.name) {
                        progress.finish();
                        return Err(SyncError::Refused { what, message });
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

    async fn status(&self, s: &mut ImapSession, f: &MirrorFolder) -> Result<Server, SyncError> {
        let items = if self.caps.condstore {
            "(UIDNEXT UIDVALIDITY MESSAGES HIGHESTMODSEQ)"
        } else {
            "(UIDNEXT UIDVALIDITY MESSAGES)"
        };
        let cmd =
            wire::send(s, &format!("STATUS {} {items}", quote(&f.wire)), format!("STATUS {}", f.folder.name)).await?;
        let mut sv = Server::default();
        let mut got_validity = false;
        while let Some(attrs) = cmd
            .next(s, |r| match r {
                Response::MailboxData(MailboxDatum::Status { mailbox, status }) if *mailbox == f.wire => {
                    Some(status.clone())
                }
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
            return Err(SyncError::Io {
                what: format!("STATUS {}", f.folder.name),
                message: "the answer has no UIDVALIDITY".into(),
            });
        }
        Ok(sv)
    }

    /// EXAMINE the folder (read-only) and return its numbers.
    pub async fn examine(&self, s: &mut ImapSession, wire_name: &str, name: &str) -> Result<Server, SyncError> {
        let cond = if self.caps.condstore { " (CONDSTORE)" } else { "" };
        // A failed EXAMINE leaves nothing selected; a good one selects this folder.
        *self.selected.lock().unwrap_or_else(|p| p.into_inner()) = None;
        let cmd = wire::send(s, &format!("EXAMINE {}{cond}", quote(wire_name)), format!("EXAMINE {name}")).await?;
        let mut sv = Server::default();
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
            return Err(SyncError::Io {
                what: format!("EXAMINE {name}"),
                message: "the answer has no UIDVALIDITY".into(),
            });
        }
        *self.selected.lock().unwrap_or_else(|p| p.into_inner()) = Some(wire_name.to_string());
        Ok(sv)
    }

    async fn sync_folder(
        &self,
        s: &mut ImapSession,
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
        let sv = if is_selected { self.examine(s, &f.wire, &row.name).await? } else { self.status(s, f).await? };
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
        s: &mut ImapSession,
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
                let on_server = self.search(s, "UID SEARCH ALL", &row.name, 1).await?;
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
        s: &mut ImapSession,
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
        while let Some(item) = c
            .next(s, |r| match r {
                Response::Fetch(_, attrs) => {
                    let mut uid = None;
                    let mut flags = None;
                    for a in attrs {
                        match a {
                            AttributeValue::Uid(u) => uid = Some(*u),
                            AttributeValue::Flags(f) => {
                                flags = Some(f.iter().map(|x| x.to_string()).collect::<Vec<_>>())
                            }
                            _ => {}
                        }
                    }
                    uid.map(|u| FlagItem::Flags(u, flags))
                }
                Response::Vanished { uids, .. } => Some(FlagItem::Vanished(uids.clone())),
                _ => None,
            })
            .await?
        {
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

    /// `UID SEARCH ...`: the UIDs at or above `min`, ascending.
    async fn search(&self, s: &mut ImapSession, cmd: &str, name: &str, min: u32) -> Result<Vec<u32>, SyncError> {
        let c = wire::send(s, cmd, format!("UID SEARCH {name}")).await?;
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

    /// Fetch the messages with UIDs from `from` up that the store does not hold. Returns the
    /// first UID the server listed but did not deliver, if any.
    #[allow(clippy::too_many_arguments)]
    async fn fetch_new(
        &self,
        s: &mut ImapSession,
        row: &Folder,
        sv: Server,
        from: u32,
        opts: &PassOptions<'_>,
        progress: &mut Progress,
        report: &mut FolderReport,
    ) -> Result<Option<u32>, SyncError> {
        let store = &self.app.store;
        // `from:*` includes the highest UID even when it is below `from`: `search` filters.
        let mut uids = self.search(s, &format!("UID SEARCH UID {from}:*"), &row.name, from).await?;
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
        let mut next = Some(wire::send(s, &fetch(chunks[0]), what.clone()).await?);
        for (i, chunk) in chunks.iter().copied().enumerate() {
            let Some(c) = next.take() else { return Err(SyncError::Cancelled) };
            let mut batch: Vec<NewMessage> = Vec::with_capacity(chunk.len());
            let mut bytes = 0usize;
            let mut got: Vec<u32> = Vec::with_capacity(chunk.len());
            while let Some(item) = c
                .next(s, |r| match r {
                    Response::Fetch(_, attrs) => new_message(attrs),
                    _ => None,
                })
                .await?
            {
                let Some(m) = item else { continue };
                let Some(uid) = m.uid else { continue };
                if chunk.binary_search(&uid).is_err() {
                    continue; // an unsolicited FETCH for another message
                }
                got.push(uid);
                bytes += m.raw.len();
                batch.push(m);
                if bytes >= BATCH_BYTES {
                    // Large messages: commit early, without moving UIDNEXT (the batch's
                    // remainder is not in yet).
                    let n = batch.len();
                    report.new += self.commit(row, std::mem::take(&mut batch), state(sv, None)).await?;
                    progress.inc(n);
                    bytes = 0;
                }
            }
            got.sort_unstable();
            for uid in chunk.iter().filter(|u| got.binary_search(u).is_err()) {
                tracing::warn!(mailbox = %self.account(), folder = %row.name, uid, "the server listed this message but gave no body; asking again next pass");
                report.missing += 1;
                first_missing = Some(first_missing.map_or(*uid, |m: u32| m.min(*uid)));
            }
            // Ask for the next batch before writing this one: the server prepares it while the
            // store commits (it waits in the socket, not in memory here).
            if let Some(following) = chunks.get(i + 1)
                && !cancelled()
            {
                next = Some(wire::send(s, &fetch(following), what.clone()).await?);
            }
            let done_up_to = chunk.last().map(|u| u + 1);
            let n = batch.len();
            report.new += self.commit(row, batch, state(sv, first_missing.or(done_up_to))).await?;
            progress.inc(n);
            if next.is_none() && i + 1 < chunks.len() {
                return Err(SyncError::Cancelled);
            }
        }
        Ok(first_missing)
    }

    /// One store transaction for a batch (parsing and writing off the async threads).
    async fn commit(&self, row: &Folder, batch: Vec<NewMessage>, st: FolderState) -> Result<usize, SyncError> {
        let store = self.app.store.clone();
        let account = self.account().to_string();
        let folder_id = row.id;
        let ids = tokio::task::spawn_blocking(move || store.messages().insert(&account, folder_id, batch, Some(st)))
            .await
            .map_err(|e| SyncError::Io { what: "store batch".into(), message: e.to_string() })??;
        Ok(ids.len())
    }
}

enum FlagItem {
    Flags(u32, Option<Vec<String>>),
    Vanished(Vec<RangeInclusive<u32>>),
}

enum Select {
    Exists(u32),
    UidValidity(u32),
    UidNext(u32),
    HighestModSeq(u64),
}

/// A LIST answer line as [`Listed`]; `None` for other responses.
fn listed_folder(r: &Response<'_>) -> Option<Listed> {
    let Response::MailboxData(MailboxDatum::List(l)) = r else { return None };
    let wire = l.name.to_string();
    let name = mutf7::decode(&wire);
    let mut role = None;
    let mut selectable = true;
    for a in &l.name_attributes {
        match a {
            NameAttribute::NoSelect => selectable = false,
            NameAttribute::Sent => role = Some("sent"),
            NameAttribute::Drafts => role = Some("drafts"),
            NameAttribute::Trash => role = Some("trash"),
            NameAttribute::Junk => role = Some("junk"),
            NameAttribute::Archive => role = Some("archive"),
            NameAttribute::All => role = Some("all"),
            NameAttribute::Flagged => role = Some("flagged"),
            NameAttribute::Extension(e) if e.eq_ignore_ascii_case("\\NonExistent") => selectable = false,
            NameAttribute::Extension(e) => role = role.or(folders::role_of_attribute(e)),
            _ => {}
        }
    }
    if name.eq_ignore_ascii_case("INBOX") {
        role = Some("inbox");
    }
    let delimiter = l.delimiter.as_deref().map(String::from);
    Some(Listed { wire, name, role: role.map(String::from), selectable, delimiter })
}

enum FlagsResult {
    Vanished(Vec<RangeInclusive<u32>>),
    Seen(Vec<u32>),
}

fn state(sv: Server, uidnext: Option<u32>) -> FolderState {
    FolderState { uidvalidity: sv.uidvalidity, uidnext, highestmodseq: sv.highestmodseq }
}

/// A FETCH answer with a body, as the store takes it; `None` without a body.
fn new_message(attrs: &[AttributeValue<'_>]) -> Option<NewMessage> {
    let mut m = NewMessage { uid: None, modseq: None, flags: Vec::new(), internal_date: 0, raw: Vec::new() };
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

    #[test]
    fn report_says_what_changed() {
        let r = Report {
            folders: vec![
                FolderReport { name: "INBOX".into(), new: 3, flags: 1, ..Default::default() },
                FolderReport { name: "Sent".into(), ..Default::default() },
            ],
            destroyed: vec![],
            elapsed_ms: 12,
        };
        assert_eq!(r.to_string(), "INBOX: 3 new, 1 flags changed (2 folders checked in 12 ms)");
        let quiet = Report {
            folders: vec![FolderReport { name: "INBOX".into(), ..Default::default() }],
            destroyed: vec![],
            elapsed_ms: 4,
        };
        assert_eq!(quiet.to_string(), "nothing new (1 folders checked in 4 ms)");
    }
}
