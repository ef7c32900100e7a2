//! The IMAP side of the outbox: the copy of a sent message in the mailbox's Sent folder, and
//! the search that settles a message whose outcome a crash left unknown.
//!
//! Copies go in batches on one connection (`imap::append`: MULTIAPPEND where the server offers
//! it, falling back to pipelined APPENDs when it refuses a batch, else pipelined APPENDs),
//! until none is missing. A copy the server refuses on its own is counted; after
//! [`SET_ASIDE_AFTER`] refusals it is set aside (recorded in the message's audit trail, logged,
//! counted for `status`) and never tried again. No duplicate copies: a message already in
//! the mirrored Sent folder (a phone moved its draft there) gets none; `sent_copy_tries` is
//! committed for a whole batch before its APPEND, and a copy is recorded as done only after
//! the server's tagged OK for it. So a copy whose tries are above zero but that is not done
//! may or may not be on the server (a crash between the OK and our record): it is first
//! looked up by its Message-ID in the Sent folder, and appended only if it is not there. The
//! Sent folder is named as people write it and sent in modified UTF-7 on every command. This
//! module speaks IMAP only through [`crate::imap`]; it reads and appends, never deletes or
//! moves anything on the server and never sends mail.

use std::collections::HashSet;

use crate::app::App;
use crate::config::{FolderSpec, Mailbox};
use crate::imap::append;
use crate::imap::wire::{SessionOf, Stream};
use crate::imap::{self, ServerProfile, Session, folder, mutf7};
use crate::store::outbox::SentCopy;

/// At most this many copies go in one batch...
const BATCH: usize = 200;
/// ...and at most about this many bytes (one message larger than this goes alone).
const BATCH_BYTES: usize = 16 << 20;
/// Message-IDs looked up in one SEARCH.
const LOOKUP: usize = 50;
/// A copy the server refuses this many times is set aside.
pub const SET_ASIDE_AFTER: i64 = 3;

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
    #[error("mailbox \"{mailbox}\": {source}")]
    Imap { mailbox: String, source: imap::Error },
    #[error(
        "mailbox \"{mailbox}\": the server has no folder with the role \\{role}: set sent_folder to the folder's name"
    )]
    NoFolder { mailbox: String, role: String },
    #[error("mailbox \"{mailbox}\": the server refused {count} Sent copies: {last}")]
    Refused { mailbox: String, count: usize, last: String },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

fn imap_err(mb: &Mailbox) -> impl Fn(imap::Error) -> CopyError + '_ {
    move |source| CopyError::Imap { mailbox: mb.id.clone(), source }
}

async fn connect(app: &App, mb: &Mailbox) -> Result<Session, CopyError> {
    imap::connect(&app.config, mb).await.map_err(imap_err(mb))
}

/// The name (as people write it) of the folder `spec` means: a name as is; a role from the
/// mirror's folder table, else from the server's LIST (one role mapping: `imap::roles`).
pub async fn resolve_folder(app: &App, mb: &Mailbox, s: &mut Session, spec: &FolderSpec) -> Result<String, CopyError> {
    let role = match spec {
        FolderSpec::Name(n) => return Ok(n.clone()),
        FolderSpec::Role(r) => r.to_lowercase(),
    };
    if let Some(f) = app.store.folders().all(&mb.id)?.into_iter().find(|f| f.role.as_deref() == Some(role.as_str())) {
        return Ok(f.name);
    }
    let listed = imap::roles::list(s).await.map_err(imap_err(mb))?;
    match imap::roles::with_role(&listed, &role) {
        Some(l) => Ok(l.name.clone()),
        None => Err(CopyError::NoFolder { mailbox: mb.id.clone(), role }),
    }
}

/// EXAMINE `folder` (a name as people write it).
async fn examine<S: Stream>(mb: &Mailbox, s: &mut SessionOf<S>, folder: &str) -> Result<(), CopyError> {
    folder::examine(s, false, &mutf7::encode(folder), folder).await.map_err(imap_err(mb))?;
    Ok(())
}

/// Is a message with this Message-ID in `folder`? (IMAP SEARCH HEADER, read-only.)
pub async fn has_message_id(mb: &Mailbox, s: &mut Session, folder: &str, message_id: &str) -> Result<bool, CopyError> {
    examine(mb, s, folder).await?;
    let found = folder::uid_search(s, &folder::message_id_key(message_id), folder, 1).await.map_err(imap_err(mb))?;
    Ok(!found.is_empty())
}

/// Append the copies still missing for this mailbox, batch after batch on one connection.
/// Returns how many were settled.
pub async fn copy_sent(app: &App, mb: &Mailbox) -> Result<usize, CopyError> {
    let method = method();
    if method == Method::OneByOne {
        return copy_one_by_one(app, mb).await;
    }
    let mut copies = app.store.outbox_sent_copies_due(&mb.id, BATCH)?;
    if copies.is_empty() {
        return Ok(0);
    }
    let mut s = connect(app, mb).await?;
    let mut profile = ServerProfile::ask(&mut s).await.map_err(imap_err(mb))?;
    if method != Method::Auto {
        profile.multiappend = false;
    }
    let folder = resolve_folder(app, mb, &mut s, &mb.sent_folder).await?;
    let mut n = 0;
    let mut refused: Option<(usize, String)> = None;
    let mut seen = HashSet::new();
    loop {
        // Every batch settles each of its copies or fails; a copy that comes back anyway (a
        // refused one is due again until it is set aside) is left for the next run, so it
        // neither makes this a loop nor holds up the copies behind it.
        copies.retain(|c| seen.insert(c.id));
        if copies.is_empty() {
            break;
        }
        let done = batch(app, mb, &mut s, &profile, &folder, copies).await?;
        n += done.settled;
        if let Some(last) = done.last_refusal {
            let count = refused.as_ref().map_or(0, |(c, _)| *c) + done.refused;
            refused = Some((count, last));
        }
        copies = app.store.outbox_sent_copies_due(&mb.id, BATCH)?;
    }
    let _ = s.logout().await;
    match refused {
        // Recorded per copy; the error makes the queue loop wait before it tries again.
        Some((count, last)) => Err(CopyError::Refused { mailbox: mb.id.clone(), count, last }),
        None => Ok(n),
    }
}

/// What one batch came to.
#[derive(Default)]
struct Settled {
    settled: usize,
    refused: usize,
    last_refusal: Option<String>,
}

/// Settle one batch: copies the device already put into Sent, copies a crash may have left on
/// the server, then append the rest.
async fn batch<S: Stream>(
    app: &App,
    mb: &Mailbox,
    s: &mut SessionOf<S>,
    profile: &ServerProfile,
    folder: &str,
    copies: Vec<SentCopy>,
) -> Result<Settled, CopyError> {
    let mut n = 0;
    let mut out = Settled::default();
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
        let got = append::append_batch(s, profile, folder, "\\Seen", &raws).await;
        let how = match (profile.multiappend, got.fell_back) {
            (true, false) => "MULTIAPPEND",
            (true, true) => "pipelined APPEND after the server refused the MULTIAPPEND",
            (false, _) => "pipelined APPEND",
        };
        let confirmed: Vec<i64> = got.confirmed.iter().map(|i| chunk[*i].id).collect();
        app.store.outbox_sent_copies_done(
            &confirmed,
            &format!("copy saved in the folder \"{folder}\" ({how} of {})", chunk.len()),
        )?;
        n += confirmed.len();
        for (i, refusal) in &got.refused {
            let c = &chunk[*i];
            let text = refusal.to_string();
            if app.store.outbox_sent_copy_refused(c.id, &text, SET_ASIDE_AFTER)? {
                tracing::warn!(mailbox = %mb.id, id = c.id, error = %text, "the server refused this message's Sent copy {SET_ASIDE_AFTER} times; set aside");
            } else {
                tracing::info!(mailbox = %mb.id, id = c.id, error = %text, "the server refused a Sent copy; will try again");
            }
            out.refused += 1;
            out.last_refusal = Some(text);
        }
        match got.error {
            // Refusals are counted per copy above; only a broken connection ends the run.
            None | Some(imap::Error::Refused { .. }) => {}
            Some(e) => return Err(imap_err(mb)(e)),
        }
    }
    out.settled = n;
    Ok(out)
}

/// Which of these Message-IDs are in `folder`: one SEARCH for up to [`LOOKUP`] of them, then a
/// FETCH of the headers of what it found, to tell which matched.
async fn message_ids_in<S: Stream>(
    mb: &Mailbox,
    s: &mut SessionOf<S>,
    folder: &str,
    ids: &[&str],
) -> Result<HashSet<String>, CopyError> {
    examine(mb, s, folder).await?;
    let mut found = HashSet::new();
    for chunk in ids.chunks(LOOKUP) {
        let terms: Vec<String> = chunk.iter().map(|id| folder::message_id_key(id)).collect();
        // IMAP's OR takes two keys: OR a OR b c.
        let mut query = terms.last().cloned().unwrap_or_default();
        for t in terms.iter().rev().skip(1) {
            query = format!("OR {t} {query}");
        }
        let uids = folder::uid_search(s, &query, folder, 1).await.map_err(imap_err(mb))?;
        found.extend(folder::message_ids(s, &uids, folder).await.map_err(imap_err(mb))?);
    }
    Ok(found)
}

/// One APPEND per message, as before batches: kept only so the benchmark can compare (see
/// [`Method::OneByOne`]).
async fn copy_one_by_one(app: &App, mb: &Mailbox) -> Result<usize, CopyError> {
    let copies = app.store.outbox_sent_copies_due(&mb.id, 200)?;
    if copies.is_empty() {
        return Ok(0);
    }
    let mut s = connect(app, mb).await?;
    let folder = resolve_folder(app, mb, &mut s, &mb.sent_folder).await?;
    let mut n = 0;
    for c in copies {
        if app.store.message_id_in_role(&mb.id, "sent", &c.message_id)? {
            app.store.outbox_sent_copies_done(
                &[c.id],
                "the copy was already in the Sent folder (moved there by the device)",
            )?;
            n += 1;
            continue;
        }
        if c.tries > 0 && has_message_id(mb, &mut s, &folder, &c.message_id).await? {
            app.store.outbox_sent_copies_done(
                &[c.id],
                &format!("copy already in the folder \"{folder}\" (not appended twice)"),
            )?;
            n += 1;
            continue;
        }
        app.store.outbox_sent_copies_try(&[c.id])?;
        append::append_one(&mut s, &folder, "\\Seen", None, &c.raw).await.map_err(imap_err(mb))?;
        app.store.outbox_sent_copies_done(&[c.id], &format!("copy saved in the folder \"{folder}\""))?;
        n += 1;
    }
    let _ = s.logout().await;
    Ok(n)
}

/// At start-up: settle `unknown` messages that demonstrably went out, by their Message-ID in
/// the mirrored Sent folder or, failing that, in the server's Sent folder. The others stay
/// `unknown` for a person (`queue retry` sends, `queue cancel` drops). Returns how many settled.
pub async fn reconcile_unknown(app: &App) -> Result<usize, CopyError> {
    let unknown = app.store.outbox().mark_unknown()?;
    let mut settled = 0;
    let mut accounts: Vec<&str> = unknown.iter().map(|u| u.account.as_str()).collect();
    accounts.sort_unstable();
    accounts.dedup();
    for account in accounts {
        let Some(mb) = app.config.mailbox(account) else { continue };
        let mut left = Vec::new();
        for u in unknown.iter().filter(|u| u.account == account) {
            if app.store.message_id_in_role(account, "sent", &u.message_id)? {
                app.store.outbox().resolve_sent(u.id, "its Message-ID was found in the mirrored Sent folder")?;
                settled += 1;
            } else {
                left.push(u);
            }
        }
        if left.is_empty() {
            continue;
        }
        let result: Result<(), CopyError> = async {
            let mut s = connect(app, mb).await?;
            let folder = resolve_folder(app, mb, &mut s, &mb.sent_folder).await?;
            // One EXAMINE and a SEARCH per 50 Message-IDs, not both per message.
            let ids: Vec<&str> = left.iter().map(|u| u.message_id.as_str()).collect();
            let there = message_ids_in(mb, &mut s, &folder, &ids).await?;
            for u in left.into_iter().filter(|u| there.contains(&u.message_id)) {
                app.store
                    .outbox()
                    .resolve_sent(u.id, &format!("its Message-ID was found in the server's folder \"{folder}\""))?;
                settled += 1;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imap::script::{self, step};

    fn app(dir: &std::path::Path) -> App {
        crate::app::for_test(dir, false)
    }

    /// A server that offers MULTIAPPEND refuses the batch; one by one it takes the first copy
    /// and refuses the second, which is tried twice more (after a Message-ID lookup each
    /// time, since it was tried before) and then set aside: recorded in its audit trail,
    /// counted, and no longer handed out.
    #[tokio::test]
    async fn a_refused_batch_falls_back_and_a_copy_refused_three_times_is_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(dir.path());
        let mb = app.config.mailbox("becker").unwrap().clone();
        let a = app.store.outbox_insert_sent_for_test("becker", "a@bau-firma.test", b"Subject: a\r\n\r\na\r\n");
        let b = app.store.outbox_insert_sent_for_test("becker", "b@bau-firma.test", b"Subject: b\r\n\r\nbb\r\n");
        let lookup = || {
            vec![
                step("EXAMINE \"Sent\"", &["* OK [UIDVALIDITY 1] ok", "{tag} OK done"]),
                step("UID SEARCH HEADER Message-ID \"<b@bau-firma.test>\"", &["* SEARCH", "{tag} OK done"]),
                step("APPEND \"Sent\" (\\Seen) {18+}", &["{tag} NO [LIMIT] Message refused"]),
            ]
        };
        let mut steps = vec![
            step("APPEND \"Sent\" (\\Seen) {17+}", &["{tag} NO [LIMIT] Batch too large"]),
            step("APPEND \"Sent\" (\\Seen) {17+}", &["{tag} OK [APPENDUID 1 10] done"]),
            step("APPEND \"Sent\" (\\Seen) {18+}", &["{tag} NO [LIMIT] Message refused"]),
        ];
        steps.extend(lookup());
        steps.extend(lookup());
        let (mut s, server) = script::serve(steps).await;
        let multi = ServerProfile::from_capabilities(["MULTIAPPEND", "LITERAL+"]);
        let single = ServerProfile::from_capabilities(["LITERAL+"]);

        let copies = app.store.outbox_sent_copies_due("becker", BATCH).unwrap();
        assert_eq!(copies.len(), 2);
        let got = batch(&app, &mb, &mut s, &multi, "Sent", copies).await.unwrap();
        assert_eq!((got.settled, got.refused), (1, 1));
        for round in 2..=3 {
            let copies = app.store.outbox_sent_copies_due("becker", BATCH).unwrap();
            assert_eq!(copies.iter().map(|c| c.id).collect::<Vec<_>>(), vec![b], "round {round}");
            let got = batch(&app, &mb, &mut s, &single, "Sent", copies).await.unwrap();
            assert_eq!((got.settled, got.refused), (0, 1), "round {round}");
        }
        assert!(app.store.outbox_sent_copies_due("becker", BATCH).unwrap().is_empty(), "b is set aside");
        let (n, last) = app.store.outbox_sent_copies_set_aside("becker").unwrap();
        assert_eq!((n, last.as_deref()), (1, Some("[LIMIT] Message refused")));
        let (ma, _) = app.store.outbox().show(a).unwrap().unwrap();
        assert!(ma.sent_copy_done);
        let (mb_row, attempts) = app.store.outbox().show(b).unwrap().unwrap();
        assert!(!mb_row.sent_copy_done);
        assert!(
            attempts.iter().any(
                |t| t.text.contains("refused the copy for the Sent folder 3 times") && t.text.contains("set aside")
            ),
            "{attempts:?}"
        );
        s.logout().await.unwrap();
        server.await.unwrap();
    }
}
