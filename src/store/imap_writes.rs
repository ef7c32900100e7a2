//! The IMAP server's writes (module `imapd`) that must act on a folder as it is at the moment
//! of the write, not as a session last saw it: EXPUNGE, STORE and COPY/MOVE.
//!
//! Each is one write transaction that first brings the folder's UID rows up to date (the
//! `refresh` of `imap_uids.rs`) and then touches only messages still in that folder: a message
//! another device moved away or destroyed meanwhile is left alone, whatever an old row said of
//! it. STORE checks UNCHANGEDSINCE against the MODSEQ of that moment. STORE and COPY/MOVE are
//! all or nothing: when one message is refused, nothing is changed, so a client that tries
//! again makes no duplicate and a MOVE never destroys a message that was not copied. The
//! changes go through the same per-message writes as `Email/set` and `Email/import`.

use rusqlite::{OptionalExtension, params};

use super::email_set::{
    EmailUpdate, KeywordPatch, MailboxPatch, SetFailure, copied_from, create_in, destroy_email, update_email,
};
use super::imap_uids::{ImapUids, refresh, set_deleted_in, uids_of};
use super::{Result, StoreError, Tx};

/// What a STORE did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stored {
    /// The UIDs it changed or found as asked, each with its MODSEQ after the STORE.
    pub done: Vec<(u32, u64)>,
    /// For each of `done`, its MODSEQ just before the STORE: above what a session knew, the
    /// message had news of its own (another device's change) besides this STORE.
    pub before: Vec<u64>,
    /// The UIDs it left alone because they changed after UNCHANGEDSINCE.
    pub modified: Vec<u32>,
}

/// What a COPY or MOVE did: the destination's UIDVALIDITY and the UIDs copied, source and
/// destination in the same order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    pub uidvalidity: u32,
    pub source: Vec<u32>,
    pub dest: Vec<u32>,
}

/// A refused message: its UID and why.
pub type Refused = (u32, SetFailure);

/// The message of a live row of `folder` that is still in that folder, with the row's MODSEQ.
fn current(t: &Tx<'_>, folder: i64, uid: u32) -> Result<Option<(i64, u64)>> {
    Ok(t.tx
        .prepare_cached(
            "SELECT u.message_id, u.modseq FROM imap_uid u JOIN message m ON m.id = u.message_id
             WHERE u.folder_id = ?1 AND u.uid = ?2 AND u.expunged = 0 AND m.folder_id = ?1",
        )?
        .query_row(params![folder, uid], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))
        .optional()?)
}

/// Run `f` in one write transaction that is committed only when `f` refuses nothing.
fn all_or_nothing<R>(
    u: &ImapUids<'_>,
    f: impl FnOnce(&mut Tx<'_>) -> Result<std::result::Result<R, Refused>>,
) -> Result<std::result::Result<R, Refused>> {
    let mut refused = None;
    let r = u.0.write(|t| match f(t)? {
        Ok(r) => Ok(r),
        Err(x) => {
            refused = Some(x);
            Err(StoreError::Other("refused, rolled back".into()))
        }
    });
    match (r, refused) {
        (_, Some(x)) => Ok(Err(x)),
        (Ok(r), None) => Ok(Ok(r)),
        (Err(e), None) => Err(e),
    }
}

fn refusal(uid: u32, message: i64, f: SetFailure) -> StoreError {
    StoreError::Other(format!("message {message} (UID {uid}) was refused: {f:?}"))
}

impl ImapUids<'_> {
    /// EXPUNGE: destroy the messages of `folder` whose live row has `\Deleted` and whose UID
    /// `only` accepts, that are still in `folder` now. Returns the UIDs destroyed.
    pub fn expunge(&self, account: &str, folder: i64, only: &dyn Fn(u32) -> bool) -> Result<Vec<u32>> {
        self.0.write(|t| {
            refresh(t, account, folder)?;
            let doomed: Vec<(u32, i64)> = {
                let mut s = t.tx.prepare_cached(
                    "SELECT u.uid, u.message_id FROM imap_uid u JOIN message m ON m.id = u.message_id
                     WHERE u.folder_id = ?1 AND u.expunged = 0 AND u.deleted = 1 AND m.folder_id = ?1
                     ORDER BY u.uid",
                )?;
                s.query_map([folder], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?
            };
            let mut done = Vec::new();
            for (uid, message) in doomed.into_iter().filter(|(uid, _)| only(*uid)) {
                if let Err(f) = destroy_email(t, account, message)? {
                    return Err(refusal(uid, message, f));
                }
                done.push(uid);
            }
            refresh(t, account, folder)?;
            Ok(done)
        })
    }

    /// STORE on these UIDs of `folder`: the keyword patch and/or `\Deleted`, on each message
    /// still in the folder whose MODSEQ now is not above `unchanged_since`.
    pub fn store(
        &self,
        account: &str,
        folder: i64,
        uids: &[u32],
        keywords: Option<&KeywordPatch>,
        deleted: Option<bool>,
        unchanged_since: Option<u64>,
    ) -> Result<std::result::Result<Stored, Refused>> {
        all_or_nothing(self, |t| {
            refresh(t, account, folder)?;
            let mut out = Stored::default();
            for &uid in uids {
                let Some((message, modseq)) = current(t, folder, uid)? else { continue };
                if unchanged_since.is_some_and(|u| modseq > u) {
                    out.modified.push(uid);
                    continue;
                }
                if let Some(k) = keywords {
                    let up = EmailUpdate { keywords: Some(k.clone()), folder: None };
                    if let Err(f) = update_email(t, account, message, &up)? {
                        return Ok(Err((uid, f)));
                    }
                }
                if let Some(on) = deleted {
                    set_deleted_in(t, account, folder, uid, on)?;
                }
                out.done.push((uid, 0));
                out.before.push(modseq);
            }
            refresh(t, account, folder)?;
            for (uid, modseq) in out.done.iter_mut() {
                *modseq = current(t, folder, *uid)?.map_or(0, |c| c.1);
            }
            Ok(Ok(out))
        })
    }

    /// COPY (or, with `moving`, MOVE) these UIDs of `folder` to `dest_folder` of
    /// `dest_account`: within one account a MOVE changes the message's folder; otherwise each
    /// message is imported there (as `Email/import`) and, when moving, the original destroyed.
    #[allow(clippy::too_many_arguments)]
    pub fn copy(
        &self,
        account: &str,
        folder: i64,
        uids: &[u32],
        dest_account: &str,
        dest_folder: i64,
        moving: bool,
    ) -> Result<std::result::Result<Copied, Refused>> {
        all_or_nothing(self, |t| {
            refresh(t, account, folder)?;
            let mut source = Vec::new();
            let mut made = Vec::new();
            for &uid in uids {
                let Some((message, _)) = current(t, folder, uid)? else { continue };
                if moving && account == dest_account {
                    let up = EmailUpdate { keywords: None, folder: Some(MailboxPatch::Replace(vec![dest_folder])) };
                    if let Err(f) = update_email(t, account, message, &up)? {
                        return Ok(Err((uid, f)));
                    }
                    source.push(uid);
                    made.push(message);
                    continue;
                }
                let row: Option<(String, i64, Option<Vec<u8>>)> =
                    t.tx.prepare_cached(
                        "SELECT m.keywords, m.received_at, b.data FROM message m LEFT JOIN blob b ON b.id = m.blob_id
                         WHERE m.id = ?1",
                    )?
                    .query_row([message], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .optional()?;
                let Some((keywords, received_at, Some(raw))) = row else {
                    return Ok(Err((uid, SetFailure::Invalid("blobId", "the message's bytes are missing".into()))));
                };
                let keywords: Vec<String> = serde_json::from_str(&keywords).unwrap_or_default();
                let parsed = crate::message::parse(&raw);
                let created = match create_in(t, dest_account, dest_folder, raw, parsed, &keywords, received_at)? {
                    Ok(c) => c,
                    Err(f) => return Ok(Err((uid, f))),
                };
                if moving {
                    // As Email/copy with onSuccessDestroyOriginal: the original's expunge on
                    // its server waits for the copy's APPEND on the other, and comes back if
                    // that APPEND is given up, so the message is never on neither server.
                    copied_from(t, created.id, message)?;
                    if let Err(f) = destroy_email(t, account, message)? {
                        return Ok(Err((uid, f)));
                    }
                }
                source.push(uid);
                made.push(created.id);
            }
            let f = refresh(t, dest_account, dest_folder)?;
            if moving {
                refresh(t, account, folder)?;
            }
            let dest = uids_of(&t.tx, dest_folder, &made)?;
            Ok(Ok(Copied { uidvalidity: f.uidvalidity, source, dest }))
        })
    }
}

#[cfg(test)]
#[path = "imap_writes_tests.rs"]
mod tests;
