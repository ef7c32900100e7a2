//! The store: one SQLite file, and the only module that speaks SQL.
//!
//! Opening it applies the append-only migrations in `schema/` (tracked by `PRAGMA
//! user_version`) and sets WAL, `synchronous=NORMAL`, a busy timeout and foreign keys; every
//! connection also gets the SQL function that searches the packed search text
//! ([`search_text`]).
//! There is one writer connection behind a mutex (with a page cache that holds a mirror batch)
//! and a small pool of readers, so a phone's read never waits behind an IMAP batch being
//! written; a third connection copies the log into the file while the mirror writes.
//!
//! Every write a device could see goes through [`Tx::bump`]: it takes the account's next
//! modseq, and [`Tx::log`] records the change under it, in the same transaction as the change
//! itself. After the commit the store broadcasts a [`StateChange`] (for JMAP push, the
//! auto-responder and anything else that waits for mail). Nothing outside this module
//! builds SQL.
//!
//! Each submodule owns one family of tables and is reached through a small handle named after
//! it: `store.folders().by_name(..)`, `store.changes().since(..)`, `store.writeback().next(..)`.
//! The mirror's side and the devices' side of the same tables are separate families
//! (`folders` / `mailboxes`, `messages` / `emails`). Files import only this root and files
//! below them, never one another in a circle: `blobs`, `folders`, `search_text` at the bottom; `messages`
//! above them; `writeback` above those; `email_set` and `mailboxes` (device writes, which
//! queue write-back ops) on top; `imap_uids` (the IMAP server's UIDs) reads the change log beside them. The store imports no feature module: the types it persists
//! live here (the auto-responder's settings in `autoreply`).

pub mod autoreply;
pub mod blobs;
pub mod changes;
pub mod console;
pub mod deliverability;
pub mod devices;
pub mod dmarc;
pub mod email_query;
pub mod email_set;
pub mod folders;
pub mod identities;
pub mod imap_uids;
pub mod imap_writes;
pub mod mailboxes;
pub mod messages;
pub mod outbox;
pub mod outbox_list;
pub mod outbox_rate;
pub mod outbox_state;
pub mod push;
pub mod search_text;
pub mod sent_copy;
pub mod sessions;
pub mod setup_links;
pub mod smtp_logging;
pub mod submissions;
pub mod sync_state;
pub mod waiting;
pub mod writeback;
mod writeback_names;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};
use tokio::sync::broadcast;

/// The migrations, in order. A shipped file is never edited; a change is a new file.
const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_core", include_str!("../../schema/0001_core.sql")),
    ("0002_outbox", include_str!("../../schema/0002_outbox.sql")),
    ("0003_autoreply", include_str!("../../schema/0003_autoreply.sql")),
    ("0004_jmap", include_str!("../../schema/0004_jmap.sql")),
    ("0005_deliverability", include_str!("../../schema/0005_deliverability.sql")),
    ("0006_device_folders", include_str!("../../schema/0006_device_folders.sql")),
    ("0007_search_text", include_str!("../../schema/0007_search_text.sql")),
    ("0008_control_audit", include_str!("../../schema/0008_control_audit.sql")),
    ("0009_outbox_rates", include_str!("../../schema/0009_outbox_rates.sql")),
    ("0010_waiting_notice", include_str!("../../schema/0010_waiting_notice.sql")),
    ("0011_outbox_in_flight", include_str!("../../schema/0011_outbox_in_flight.sql")),
    ("0012_sent_copy_refusals", include_str!("../../schema/0012_sent_copy_refusals.sql")),
    ("0013_reply_state_catch_up", include_str!("../../schema/0013_reply_state_catch_up.sql")),
    ("0014_packed_search_text", include_str!("../../schema/0014_packed_search_text.sql")),
    ("0015_writeback_retry_and_subscriptions", include_str!("../../schema/0015_writeback_retry_and_subscriptions.sql")),
    ("0016_push", include_str!("../../schema/0016_push.sql")),
    ("0017_identities", include_str!("../../schema/0017_identities.sql")),
    ("0018_device_access", include_str!("../../schema/0018_device_access.sql")),
    ("0019_imap_uids", include_str!("../../schema/0019_imap_uids.sql")),
    ("0020_dmarc_reports", include_str!("../../schema/0020_dmarc_reports.sql")),
    ("0021_setup_links", include_str!("../../schema/0021_setup_links.sql")),
    ("0022_console", include_str!("../../schema/0022_console.sql")),
    ("0023_dmarc_seen", include_str!("../../schema/0023_dmarc_seen.sql")),
    ("0024_smtp_logging", include_str!("../../schema/0024_smtp_logging.sql")),
];

const READERS: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {path}: {source}")]
    Open { path: PathBuf, source: rusqlite::Error },
    #[error("store: migration {name} failed: {source}")]
    Migration { name: &'static str, source: rusqlite::Error },
    #[error("store: the database was written by a newer postbote (schema {found}, this one knows {known})")]
    TooNew { found: i64, known: i64 },
    #[error("store: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("store: {0}")]
    Other(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// JMAP object types that have a state and a change log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(i64)]
pub enum ObjType {
    Mailbox = 1,
    Email = 2,
    Thread = 3,
    Identity = 4,
    EmailSubmission = 5,
    VacationResponse = 6,
    EmailDelivery = 7,
}

impl ObjType {
    pub const ALL: [ObjType; 7] = [
        ObjType::Mailbox,
        ObjType::Email,
        ObjType::Thread,
        ObjType::Identity,
        ObjType::EmailSubmission,
        ObjType::VacationResponse,
        ObjType::EmailDelivery,
    ];
    pub fn name(self) -> &'static str {
        match self {
            ObjType::Mailbox => "Mailbox",
            ObjType::Email => "Email",
            ObjType::Thread => "Thread",
            ObjType::Identity => "Identity",
            ObjType::EmailSubmission => "EmailSubmission",
            ObjType::VacationResponse => "VacationResponse",
            ObjType::EmailDelivery => "EmailDelivery",
        }
    }
    pub fn from_i64(v: i64) -> Option<ObjType> {
        ObjType::ALL.into_iter().find(|t| *t as i64 == v)
    }
}

/// What a change-log row says happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i64)]
pub enum Op {
    Created = 0,
    Updated = 1,
    Destroyed = 2,
    /// Only a Mailbox's counts changed.
    CountsOnly = 3,
}

/// Sent after a commit that bumped an account's modseq.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange {
    pub account: String,
    pub modseq: i64,
    pub types: BTreeSet<ObjType>,
}

/// What [`Store::notice_other_writers`] saw last: the writer connection's data version and
/// each account's modseq.
#[derive(Debug, Default)]
pub struct OtherWriters {
    data_version: Option<i64>,
    modseqs: std::collections::HashMap<String, i64>,
}

#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    /// A read-write connection of its own for [`Store::checkpoint`], opened on first use.
    checkpointer: Mutex<Option<Connection>>,
    changes: broadcast::Sender<StateChange>,
    /// Wakes the push delivery after a write to the push subscriptions (`push`).
    push_wake: tokio::sync::Notify,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.inner.path).finish()
    }
}

/// The page size of a new store, in bytes.
const PAGE_SIZE: i64 = 16 * 1024;

/// The writer connection's page cache, in KiB (SQLite's negative `cache_size`).
const WRITER_CACHE_KIB: i64 = -8192;

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    email_query::register_functions(conn)?;
    search_text::register(conn)?;
    Ok(())
}

impl Store {
    /// Open (creating if needed) the store at `path` and bring its schema up to date.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            crate::files::create_dir(dir)
                .map_err(|e| StoreError::Other(format!("cannot create {}: {e}", dir.display())))?;
        }
        // SQLite gives the -wal and -shm files the database file's mode: make it 0600 first.
        crate::files::ensure_file(path)
            .map_err(|e| StoreError::Other(format!("cannot create {}: {e}", path.display())))?;
        let open_err = |source| StoreError::Open { path: path.to_owned(), source };
        let mut writer = Connection::open(path).map_err(open_err)?;
        // A new store gets pages of 16 KB (an existing one keeps its size: it is fixed when the
        // first table is made). A message of a few KB then sits in one page instead of a chain
        // of 4 KB ones, and the log and the checkpoint move a quarter as many pages, each one
        // write; a full sync of 10,000 messages spent about a third less time in the kernel. A
        // small write (a flag) logs a few 16 KB pages instead of 4 KB ones.
        writer.pragma_update(None, "page_size", PAGE_SIZE).map_err(open_err)?;
        // WAL lets readers go on while the writer commits; it is a property of the file.
        writer.pragma_update(None, "journal_mode", "WAL").map_err(open_err)?;
        configure(&writer).map_err(open_err)?;
        // Room for a whole mirror batch of dirty pages (200 messages of a few KB, their search
        // text and index entries): with the default 2 MB, pages spill into the log in the middle
        // of a batch and are written again at its commit. Measured on 10,000 messages of 5 KB:
        // a quarter fewer writes to the log and half the checkpoint's reads.
        writer.pragma_update(None, "cache_size", WRITER_CACHE_KIB).map_err(open_err)?;
        migrate(&mut writer)?;
        let (changes, _) = broadcast::channel(1024);
        Ok(Store {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                writer: Mutex::new(writer),
                readers: Mutex::new(Vec::new()),
                checkpointer: Mutex::new(None),
                changes,
                push_wake: tokio::sync::Notify::new(),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Changes committed from now on (in this process).
    pub fn subscribe(&self) -> broadcast::Receiver<StateChange> {
        self.inner.changes.subscribe()
    }

    /// Broadcast here what another process committed. A write by the command line while the
    /// daemon runs (`postbote queue cancel`, `vacation set`) is broadcast only in that process,
    /// so the daemon's JMAP push and auto-responder would not hear of it. Called every second
    /// or so: when the writer connection's `PRAGMA data_version` moved (it moves only for
    /// commits of other connections, and this process's readers never write), every account
    /// whose modseq moved since the last call gets a [`StateChange`] without types (listeners
    /// read the type states themselves). The first call only takes note. Returns how many
    /// changes it broadcast.
    pub fn notice_other_writers(&self, seen: &mut OtherWriters) -> Result<usize> {
        let (version, modseqs) = {
            let conn = self.inner.writer.lock().unwrap_or_else(|p| p.into_inner());
            let version: i64 = conn.query_row("PRAGMA data_version", [], |r| r.get(0))?;
            if seen.data_version == Some(version) {
                return Ok(0);
            }
            let mut st = conn.prepare_cached("SELECT id, modseq FROM account")?;
            let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
            (version, rows.collect::<rusqlite::Result<Vec<_>>>()?)
        };
        let first = seen.data_version.replace(version).is_none();
        let mut sent = 0;
        for (account, modseq) in modseqs {
            let before = seen.modseqs.insert(account.clone(), modseq);
            if !first && before.is_none_or(|b| b < modseq) {
                let _ = self.inner.changes.send(StateChange { account, modseq, types: BTreeSet::new() });
                sent += 1;
            }
        }
        Ok(sent)
    }

    /// Run `f` in one IMMEDIATE transaction on the writer connection; commit if it returns Ok.
    /// State changes recorded with [`Tx::bump`] are broadcast after the commit.
    pub fn write<R>(&self, f: impl FnOnce(&mut Tx<'_>) -> Result<R>) -> Result<R> {
        self.write_with(false, f)
    }

    /// [`Store::write`], and the commit is on disk when it returns, power loss included: the
    /// log is synced at this commit (`synchronous=FULL` for this transaction alone). For the
    /// writes whose success is promised to someone outside, such as a queued message that an
    /// SMTP client is told `250` for.
    pub fn write_durable<R>(&self, f: impl FnOnce(&mut Tx<'_>) -> Result<R>) -> Result<R> {
        self.write_with(true, f)
    }

    fn write_with<R>(&self, durable: bool, f: impl FnOnce(&mut Tx<'_>) -> Result<R>) -> Result<R> {
        let (r, bumped) = {
            let mut conn = self.inner.writer.lock().unwrap_or_else(|p| p.into_inner());
            if durable {
                conn.pragma_update(None, "synchronous", "FULL")?;
            }
            let done: Result<(R, Vec<StateChange>)> = (|| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let mut t = Tx { tx, bumped: Vec::new() };
                let r = f(&mut t)?;
                let Tx { tx, bumped } = t;
                tx.commit()?;
                Ok((r, bumped))
            })();
            if durable {
                conn.pragma_update(None, "synchronous", "NORMAL")?;
            }
            done?
        };
        for change in bumped {
            let _ = self.inner.changes.send(change);
        }
        Ok(r)
    }

    /// Copy what the write-ahead log holds into the database file (a PASSIVE checkpoint: it
    /// waits for no one and copies what it can), on a connection of its own, so that the
    /// writer finds little left to copy when its automatic checkpoint comes due at a commit.
    /// The mirror calls this on another thread after each batch it commits: the copying and
    /// its fsyncs then overlap the next batch's inserts instead of stalling them. Does nothing
    /// when a checkpoint is already running. Durability is as before: a commit is in the log,
    /// and a checkpoint only moves committed pages.
    pub fn checkpoint(&self) -> Result<()> {
        let Ok(mut conn) = self.inner.checkpointer.try_lock() else { return Ok(()) };
        if conn.is_none() {
            let c = Connection::open(&self.inner.path)?;
            configure(&c)?;
            *conn = Some(c);
        }
        if let Some(c) = conn.as_ref() {
            c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        }
        Ok(())
    }

    /// Run `f` on a read-only connection from the pool (a consistent snapshot when `f` opens
    /// its own transaction; single statements are consistent anyway).
    pub fn read<R>(&self, f: impl FnOnce(&Connection) -> Result<R>) -> Result<R> {
        let conn = {
            let mut pool = self.inner.readers.lock().unwrap_or_else(|p| p.into_inner());
            pool.pop()
        };
        let conn = match conn {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    &self.inner.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
                )?;
                configure(&c)?;
                c
            }
        };
        let r = f(&conn);
        let mut pool = self.inner.readers.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < READERS {
            pool.push(conn);
        }
        r
    }

    /// Make sure an account row exists for each configured mailbox.
    pub fn ensure_accounts<'a>(&self, ids: impl IntoIterator<Item = &'a str>) -> Result<()> {
        let ids: Vec<&str> = ids.into_iter().collect();
        self.write(|t| {
            for id in ids {
                t.tx.execute(
                    "INSERT INTO account (id, modseq, epoch, created_at) VALUES (?1, 0, ?2, ?3) ON CONFLICT(id) DO NOTHING",
                    params![id, random_epoch(), now()],
                )?;
                t.tx.execute("INSERT INTO sync_state (account) VALUES (?1) ON CONFLICT(account) DO NOTHING", params![id])?;
            }
            Ok(())
        })
    }

    /// The account's current modseq and epoch.
    pub fn account_state(&self, account: &str) -> Result<Option<(i64, String)>> {
        self.read(|c| {
            Ok(c.query_row("SELECT modseq, epoch FROM account WHERE id = ?1", [account], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map(Some)
            .or_else(ignore_no_rows)?)
        })
    }
}

/// A write transaction with the per-account change counter at hand.
pub struct Tx<'c> {
    pub(crate) tx: rusqlite::Transaction<'c>,
    bumped: Vec<StateChange>,
}

impl Tx<'_> {
    pub fn conn(&self) -> &rusqlite::Transaction<'_> {
        &self.tx
    }

    /// Take the account's next modseq for this transaction (once per transaction and account;
    /// later calls return the same value).
    pub fn bump(&mut self, account: &str) -> Result<i64> {
        if let Some(c) = self.bumped.iter().find(|c| c.account == account) {
            return Ok(c.modseq);
        }
        let m: i64 = self
            .tx
            .prepare_cached("UPDATE account SET modseq = modseq + 1 WHERE id = ?1 RETURNING modseq")?
            .query_row([account], |r| r.get(0))?;
        self.bumped.push(StateChange { account: account.to_string(), modseq: m, types: BTreeSet::new() });
        Ok(m)
    }

    /// Record that `object_id` of `ty` changed (`op`) under this transaction's modseq.
    pub fn log(&mut self, account: &str, ty: ObjType, object_id: i64, op: Op, aux: Option<i64>) -> Result<()> {
        self.log_entry(account, ty, object_id, op, aux)?;
        self.touch(account, ty)
    }

    /// [`Tx::log`] without moving the type's state: for a caller that logs many objects of one
    /// type and then calls [`Tx::touch`] once (the state is the transaction's modseq either way).
    pub(crate) fn log_entry(
        &mut self,
        account: &str,
        ty: ObjType,
        object_id: i64,
        op: Op,
        aux: Option<i64>,
    ) -> Result<()> {
        let m = self.bump(account)?;
        // Cached: a batch of new mail logs several changes per message.
        self.tx
            .prepare_cached(
                "INSERT INTO change_log (account, type, modseq, object_id, op, aux, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT(account, type, modseq, object_id) DO UPDATE SET op = CASE
               WHEN change_log.op = 2 OR excluded.op = 2 THEN 2
               WHEN change_log.op = 0 OR excluded.op = 0 THEN 0
               WHEN change_log.op = 1 OR excluded.op = 1 THEN 1
               ELSE 3 END",
            )?
            .execute(params![account, ty as i64, m, object_id, op as i64, aux, now()])?;
        Ok(())
    }

    /// Move the state of `ty` forward without a per-object entry (e.g. EmailDelivery).
    pub fn touch(&mut self, account: &str, ty: ObjType) -> Result<()> {
        let m = self.bump(account)?;
        self.tx
            .prepare_cached(
                "INSERT INTO type_state (account, type, modseq) VALUES (?1, ?2, ?3)
             ON CONFLICT(account, type) DO UPDATE SET modseq = excluded.modseq",
            )?
            .execute(params![account, ty as i64, m])?;
        if let Some(c) = self.bumped.iter_mut().find(|c| c.account == account) {
            c.types.insert(ty);
        }
        Ok(())
    }
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::TooNew { found: version, known });
    }
    for (i, (name, sql)) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
        tx.execute_batch(sql).map_err(|source| StoreError::Migration { name, source })?;
        // Migrations that need Rust run it in their own transaction. (What `catch_up` logs is
        // not broadcast: nobody listens before the store is open.)
        let mut t = Tx { tx, bumped: Vec::new() };
        match *name {
            "0007_search_text" => fill_search_text(&t.tx)?,
            "0013_reply_state_catch_up" => outbox::catch_up(&mut t)?,
            "0014_packed_search_text" => search_text::pack_stored(&t.tx)?,
            _ => {}
        }
        t.tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        t.tx.commit()?;
    }
    Ok(())
}

/// Fill `message_text` for every message stored before it existed (migration 0007), from the
/// raw bytes, in the migration's transaction; packed as the store keeps it now.
fn fill_search_text(tx: &rusqlite::Transaction<'_>) -> Result<()> {
    let total: i64 = tx.query_row("SELECT COUNT(*) FROM message", [], |r| r.get(0))?;
    if total > 0 {
        tracing::info!(messages = total, "filling in the search text of the stored messages (once, at this upgrade)");
    }
    let mut read = tx.prepare(
        "SELECT m.id, b.data FROM message m JOIN blob b ON b.id = m.blob_id
         WHERE NOT EXISTS (SELECT 1 FROM message_text t WHERE t.message_id = m.id)",
    )?;
    let mut write = tx.prepare("INSERT INTO message_text (message_id, body) VALUES (?1, ?2)")?;
    let mut rows = read.query([])?;
    let mut n = 0;
    while let Some(r) = rows.next()? {
        let (id, raw): (i64, Vec<u8>) = (r.get(0)?, r.get(1)?);
        write.execute(params![id, search_text::pack(&crate::message::parse(&raw).search_text)])?;
        n += 1;
    }
    if n > 0 {
        tracing::info!(messages = n, "search text filled in for the messages stored before");
    }
    Ok(())
}

/// Unix seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn random_epoch() -> String {
    use rand::Rng;
    let n: u64 = rand::rng().random();
    format!("{n:016x}")
}

/// Turn "no rows" into `Ok(None)` for optional lookups.
pub(crate) fn ignore_no_rows<T>(e: rusqlite::Error) -> rusqlite::Result<Option<T>> {
    match e {
        rusqlite::Error::QueryReturnedNoRows => Ok(None),
        e => Err(e),
    }
}

/// A store in a fresh temporary directory with the account `becker`, for unit tests.
#[cfg(test)]
pub(crate) fn test_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&dir.path().join("s.sqlite")).unwrap();
    s.ensure_accounts(["becker"]).unwrap();
    (dir, s)
}

#[cfg(test)]
pub(crate) mod tests;
