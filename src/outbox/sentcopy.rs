//! The IMAP side of the outbox: the copy of a sent message in the mailbox's Sent folder, and
//! the search that settles a message whose outcome a crash left unknown.
//!
//! Copies go in batches on one connection (`append`: MULTIAPPEND where the server offers it,
//! else pipelined APPENDs), until none is missing. No duplicate copies: a message already in
//! the mirrored Sent folder (a phone moved its draft there) gets none; `sent_copy_tries` is
//! committed for a whole batch before its APPEND, and a copy is recorded as done only after
//! the server's tagged OK for it. So a copy whose tries are above zero but that is not done
//! may or may not be on the server (a crash between the OK and our record): it is first
//! looked up by its Message-ID in the Sent folder, and appended only if it is not there. This
//! module reads and appends; it never deletes or moves anything on the server and never
//! sends mail.

use std::collections::HashSet;

use super::append::{self, Mode};
use crate::app::App;
use crate::config::{FolderSpec, Mailbox};
use crate::imap_sync::conn::{self, ImapSession};
use crate::store::outbox::SentCopy;

/// At most this many copies go in one batch...
const BATCH: usize = 200;
/// ...and at most about this many bytes (one message larger than this goes alone).
const BATCH_BYTES: usize = 16 << 20;
/// Message-IDs looked up in one SEARCH.
const LOOKUP: usize = 50;

/// How copies are handed to the server. `Auto` (MULTIAPPEND where offered, else pipelined)
/// is what postbote does; the others exist for the benchmark and the tests, which choose them
/// with `POSTBOTE_SENT_COPY_METHOD` (`one-by-one`, `pipelined`), read in [`method`] only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Auto,
    Pipelined,
    /// One APPEND per message, each waiting for its answer, 200 per pass of the queue loop:
    /// how postbote saved Sent copies before batches, kept to measure against.
    OneByOne,
}

/// The method to use: `Auto` unless the environment asks for another.
pub fn method() -> Method {
    match std::env::var("POSTBOTE_SENT_COPY_METHOD").as_deref() {
        Ok("one-by-one") => Method::OneByOne,
        Ok("pipelined") => Method::Pipelined,
        _ => Method::Auto,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Connect(#[from] conn::ConnectError),
    #[error("mailbox \"{mailbox}\": {message}")]
    Imap { mailbox: String, message: String },
    #[error("mailbox \"{mailbox}\": {source}")]
    Append { mailbox: String, source: append::AppendError },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

fn imap_err(mb: &Mailbox, what: &str, e: impl std::fmt::Display) -> CopyError {
    CopyError::Imap { mailbox: mb.id.clone(), message: format!("{what}: {e}") }
}

/// The name of the folder `spec` means: a name as is; a role from the mirror's folder table,
/// else from the server's LIST (SPECIAL-USE).
pub async fn resolve_folder(
    app: &App,
    mb: &Mailbox,
    s: &mut ImapSession,
    spec: &FolderSpec,
) -> Result<String, CopyError> {
    let role = match spec {
        FolderSpec::Name(n) => return Ok(n.clone()),
        FolderSpec::Role(r) => r.to_lowercase(),
    };
    if let Some(f) = app.store.folders().all(&mb.id)?.into_iter().find(|f| f.role.as_deref() == Some(role.as_str())) {
        return Ok(f.name);
    }
    use futures_util::TryStreamExt;
    let names: Vec<_> = s
        .list(Some(""), Some("*"))
        .await
        .map_err(|e| imap_err(mb, "LIST", e))?
        .try_collect()
        .await
        .map_err(|e| imap_err(mb, "LIST", e))?;
    for n in &names {
        if n.attributes().iter().any(|a| attribute_role(a).as_deref() == Some(role.as_str())) {
            return Ok(n.name().to_string());
        }
    }
    Err(CopyError::Imap {
        mailbox: mb.id.clone(),
        message: format!("the server has no folder with the role \\{role}: set sent_folder to the folder's name"),
    })
}

fn attribute_role(a: &async_imap::types::NameAttribute<'_>) -> Option<String> {
    use async_imap::types::NameAttribute as A;
    Some(
        match a {
            A::Sent => "sent",
            A::Drafts => "drafts",
            A::Trash => "trash",
            A::Junk => "junk",
            A::Archive => "archive",
            A::All => "all",
            A::Flagged => "flagged",
            A::Extension(e) => return e.strip_prefix('\\').map(str::to_lowercase),
            _ => return None,
        }
        .to_string(),
    )
}

/// Is a message with this Message-ID in `folder`? (IMAP SEARCH HEADER, read-only.)
pub async fn has_message_id(
    mb: &Mailbox,
    s: &mut ImapSession,
    folder: &str,
    message_id: &str,
) -> Result<bool, CopyError> {
    s.examine(folder).await.map_err(|e| imap_err(mb, &format!("EXAMINE {folder}"), e))?;
    let id = message_id.replace(['"', '\\', '\r', '\n'], "");
    let found = s
        .uid_search(format!("HEADER Message-ID \"<{id}>\""))
        .await
        .map_err(|e| imap_err(mb, "SEARCH HEADER Message-ID", e))?;
    Ok(!found.is_empty())
}

/// Append the copies still missing for this mailbox, batch after batch on one connection.
/// Returns how many were settled.
pub async fn copy_sent(app: &App, mb: &Mailbox) -> Result<usize, CopyError> {
    let method = method();
    if method == Method::OneByOne {
        return copy_one_by_one(app, mb).await;
    }
    let mut copies = app.store.outbox_sent_copies(&mb.id, BATCH)?;
    if copies.is_empty() {
        return Ok(0);
    }
    let mut s = conn::connect(&app.config, mb).await?;
    let folder = resolve_folder(app, mb, &mut s, &mb.sent_folder).await?;
    let caps = s.capabilities().await.map_err(|e| imap_err(mb, "CAPABILITY", e))?;
    let mode = if method == Method::Auto && caps.has_str("MULTIAPPEND") { Mode::MultiAppend } else { Mode::Pipelined };
    let literal_plus = caps.has_str("LITERAL+");
    let mut n = 0;
    let mut seen = HashSet::new();
    while !copies.is_empty() {
        // Every batch settles each of its copies or fails; a copy that comes back anyway
        // must not make this a loop.
        if !copies.iter().all(|c| seen.insert(c.id)) {
            break;
        }
        n += batch(app, mb, &mut s, &folder, copies, mode, literal_plus).await?;
        copies = app.store.outbox_sent_copies(&mb.id, BATCH)?;
    }
    let _ = s.logout().await;
    Ok(n)
}

/// Settle one batch: copies the device already put into Sent, copies a crash may have left on
/// the server, then append the rest.
async fn batch(
    app: &App,
    mb: &Mailbox,
    s: &mut ImapSession,
    folder: &str,
    copies: Vec<SentCopy>,
    mode: Mode,
    literal_plus: bool,
) -> Result<usize, CopyError> {
    let mut n = 0;
    // A phone that submits a draft usually moves it into Sent itself (onSuccessUpdateEmail):
    // that copy is already there, or on its way through the write-back.
    let mut left = Vec::new();
    let mut moved = Vec::new();
    for c in copies {
        if app.store.message_id_in_role(&mb.id, "sent", &c.message_id)? {
            moved.push(c.id);
        } else {
            left.push(c);
        }
    }
    app.store.outbox_sent_copies_done(&moved, "the copy was already in the Sent folder (moved there by the device)")?;
    n += moved.len();

    let tried: Vec<&str> = left.iter().filter(|c| c.tries > 0).map(|c| c.message_id.as_str()).collect();
    if !tried.is_empty() {
        let there = message_ids_in(mb, s, folder, &tried).await?;
        let (found, rest): (Vec<SentCopy>, Vec<SentCopy>) =
            left.into_iter().partition(|c| c.tries > 0 && there.contains(&c.message_id));
        let ids: Vec<i64> = found.iter().map(|c| c.id).collect();
        app.store
            .outbox_sent_copies_done(&ids, &format!("copy already in the folder \"{folder}\" (not appended twice)"))?;
        n += ids.len();
        left = rest;
    }

    let how = match mode {
        Mode::MultiAppend => "MULTIAPPEND",
        Mode::Pipelined => "pipelined APPEND",
    };
    let mut start = 0;
    while start < left.len() {
        let mut end = start + 1;
        let mut bytes = left[start].raw.len();
        while end < left.len() && bytes + left[end].raw.len() <= BATCH_BYTES {
            bytes += left[end].raw.len();
            end += 1;
        }
        let chunk = &left[start..end];
        start = end;
        let ids: Vec<i64> = chunk.iter().map(|c| c.id).collect();
        app.store.outbox_sent_copies_try(&ids)?;
        let raws: Vec<&[u8]> = chunk.iter().map(|c| c.raw.as_slice()).collect();
        let out = append::append_all(s, folder, "\\Seen", &raws, mode, literal_plus).await;
        let confirmed: Vec<i64> = out.confirmed.iter().map(|i| chunk[*i].id).collect();
        app.store.outbox_sent_copies_done(
            &confirmed,
            &format!("copy saved in the folder \"{folder}\" ({how} of {})", chunk.len()),
        )?;
        n += confirmed.len();
        if let Some(e) = out.error {
            return Err(CopyError::Append { mailbox: mb.id.clone(), source: e });
        }
    }
    Ok(n)
}

/// Which of these Message-IDs are in `folder`: one SEARCH for up to [`LOOKUP`] of them, then a
/// FETCH of the headers of what it found, to tell which matched.
async fn message_ids_in(
    mb: &Mailbox,
    s: &mut ImapSession,
    folder: &str,
    ids: &[&str],
) -> Result<HashSet<String>, CopyError> {
    use futures_util::TryStreamExt;
    s.examine(folder).await.map_err(|e| imap_err(mb, &format!("EXAMINE {folder}"), e))?;
    let mut found = HashSet::new();
    for chunk in ids.chunks(LOOKUP) {
        let terms: Vec<String> = chunk
            .iter()
            .map(|id| format!("HEADER Message-ID \"<{}>\"", id.replace(['"', '\\', '\r', '\n'], "")))
            .collect();
        // IMAP's OR takes two keys: OR a OR b c.
        let mut query = terms.last().cloned().unwrap_or_default();
        for t in terms.iter().rev().skip(1) {
            query = format!("OR {t} {query}");
        }
        let uids = s.uid_search(&query).await.map_err(|e| imap_err(mb, "SEARCH HEADER Message-ID", e))?;
        if uids.is_empty() {
            continue;
        }
        let mut uids: Vec<u32> = uids.into_iter().collect();
        uids.sort_unstable();
        let set = crate::imap_sync::wire::uid_set(&uids);
        let fetched: Vec<_> = s
            .uid_fetch(&set, "BODY.PEEK[HEADER]")
            .await
            .map_err(|e| imap_err(mb, "UID FETCH BODY.PEEK[HEADER]", e))?
            .try_collect()
            .await
            .map_err(|e| imap_err(mb, "UID FETCH BODY.PEEK[HEADER]", e))?;
        for f in &fetched {
            if let Some(id) = f.header().and_then(|h| crate::message::parse(h).message_id) {
                found.insert(id);
            }
        }
    }
    Ok(found)
}

/// One APPEND per message, as before batches: kept only so the benchmark can compare (see
/// [`Method::OneByOne`]).
async fn copy_one_by_one(app: &App, mb: &Mailbox) -> Result<usize, CopyError> {
    let copies = app.store.outbox_sent_copies(&mb.id, 200)?;
    if copies.is_empty() {
        return Ok(0);
    }
    let mut s = conn::connect(&app.config, mb).await?;
    let folder = resolve_folder(app, mb, &mut s, &mb.sent_folder).await?;
    let mut n = 0;
    for c in copies {
        if app.store.message_id_in_role(&mb.id, "sent", &c.message_id)? {
            app.store
                .outbox_sent_copy_done(c.id, "the copy was already in the Sent folder (moved there by the device)")?;
            n += 1;
            continue;
        }
        if c.tries > 0 && has_message_id(mb, &mut s, &folder, &c.message_id).await? {
            app.store.outbox_sent_copy_done(
                c.id,
                &format!("copy already in the folder \"{folder}\" (not appended twice)"),
            )?;
            n += 1;
            continue;
        }
        app.store.outbox_sent_copy_try(c.id)?;
        s.append(&folder, Some("(\\Seen)"), None, &c.raw)
            .await
            .map_err(|e| imap_err(mb, &format!("APPEND to {folder}"), e))?;
        app.store.outbox_sent_copy_done(c.id, &format!("copy saved in the folder \"{folder}\""))?;
        n += 1;
    }
    let _ = s.logout().await;
    Ok(n)
}

/// At start-up: settle `unknown` messages that demonstrably went out, by their Message-ID in
/// the mirrored Sent folder or, failing that, in the server's Sent folder. The others stay
/// `unknown` for a person (`queue retry` sends, `queue cancel` drops). Returns how many settled.
pub async fn reconcile_unknown(app: &App) -> Result<usize, CopyError> {
    let unknown = app.store.outbox_mark_unknown()?;
    let mut settled = 0;
    let mut accounts: Vec<&str> = unknown.iter().map(|u| u.account.as_str()).collect();
    accounts.dedup();
    for account in accounts {
        let Some(mb) = app.config.mailbox(account) else { continue };
        let mut left = Vec::new();
        for u in unknown.iter().filter(|u| u.account == account) {
            if app.store.message_id_in_role(account, "sent", &u.message_id)? {
                app.store.outbox_resolve_sent(u.id, "its Message-ID was found in the mirrored Sent folder")?;
                settled += 1;
            } else {
                left.push(u);
            }
        }
        if left.is_empty() {
            continue;
        }
        let result: Result<(), CopyError> = async {
            let mut s = conn::connect(&app.config, mb).await?;
            let folder = resolve_folder(app, mb, &mut s, &mb.sent_folder).await?;
            for u in left {
                if has_message_id(mb, &mut s, &folder, &u.message_id).await? {
                    app.store.outbox_resolve_sent(
                        u.id,
                        &format!("its Message-ID was found in the server's folder \"{folder}\""),
                    )?;
                    settled += 1;
                }
            }
            let _ = s.logout().await;
            Ok(())
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(mailbox = %account, error = %e, "could not look for unknown messages in the Sent folder; they stay unknown");
        }
    }
    Ok(settled)
}
