//! The blob table: raw messages and uploads, content-addressed by SHA-256.
//!
//! A blob is stored once however often it is referred to. An account may read a blob only
//! when one of its messages or one of its uploads refers to it; upload ownership is forgotten
//! after a day (by the change-log purge). Reached as `store.blobs()`.

use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::{Result, Store, Tx, now};

/// The blob table, reached as `store.blobs()`.
#[derive(Clone, Copy)]
pub struct Blobs<'a>(&'a Store);

impl Store {
    /// Raw messages and uploads.
    pub fn blobs(&self) -> Blobs<'_> {
        Blobs(self)
    }
}

impl Blobs<'_> {
    /// Store a blob (content-addressed) and return its id.
    pub fn put(&self, data: &[u8]) -> Result<i64> {
        self.0.write(|t| put_blob(t, data))
    }

    /// The bytes of a blob that `account` may read: the raw message of one of its emails, or
    /// an upload it made.
    pub fn get(&self, account: &str, blob_id: i64) -> Result<Option<Vec<u8>>> {
        self.0.read(|c| {
            Ok(c.prepare_cached(
                "SELECT data FROM blob WHERE id = ?2 AND (
                    EXISTS (SELECT 1 FROM message WHERE account = ?1 AND blob_id = ?2)
                 OR EXISTS (SELECT 1 FROM blob_upload WHERE account = ?1 AND blob_id = ?2))",
            )?
            .query_row(params![account, blob_id], |r| r.get(0))
            .optional()?)
        })
    }

    /// Store an upload of `account` and return its blob id.
    pub fn upload(&self, account: &str, data: &[u8]) -> Result<i64> {
        self.0.write(|t| upload_one(t, account, data))
    }

    /// Store several uploads of `account` in one transaction; their blob ids, in order.
    pub fn upload_all(&self, account: &str, parts: &[&[u8]]) -> Result<Vec<i64>> {
        if parts.is_empty() {
            return Ok(vec![]);
        }
        self.0.write(|t| parts.iter().map(|data| upload_one(t, account, data)).collect())
    }
}

fn upload_one(t: &mut Tx<'_>, account: &str, data: &[u8]) -> Result<i64> {
    let id = put_blob(t, data)?;
    t.tx.execute(
        "INSERT INTO blob_upload (blob_id, account, created_at) VALUES (?1, ?2, ?3)
         ON CONFLICT(blob_id, account) DO UPDATE SET created_at = excluded.created_at",
        params![id, account, now()],
    )?;
    Ok(id)
}

pub(super) fn put_blob(t: &mut Tx<'_>, data: &[u8]) -> Result<i64> {
    put_hashed_blob(t, &blob_hash(data), data)
}

/// The key a blob is stored under: its SHA-256, in hex. Computed before the write lock is taken
/// where that matters (the mirror's batches).
pub(super) fn blob_hash(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// [`put_blob`] with the hash already known ([`blob_hash`] of `data`).
pub(super) fn put_hashed_blob(t: &mut Tx<'_>, hash: &str, data: &[u8]) -> Result<i64> {
    if let Some(id) =
        t.tx.prepare_cached("SELECT id FROM blob WHERE sha256 = ?1")?.query_row([hash], |r| r.get(0)).optional()?
    {
        return Ok(id);
    }
    t.tx.prepare_cached("INSERT INTO blob (sha256, size, data, created_at) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![hash, data.len() as i64, data, now()])?;
    Ok(t.tx.last_insert_rowid())
}
