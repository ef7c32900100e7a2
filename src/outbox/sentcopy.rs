//! The IMAP side of the outbox: the copy of a sent message in the mailbox's Sent folder, and
//! the search that settles a message whose outcome a crash left unknown.
//!
//! No duplicate copies: a message already in the mirrored Sent folder (a phone moved its draft
//! there) gets none, and `sent_copy_tries` is committed before an APPEND, so when a retry finds
//! it above zero it first searches the Sent folder for the Message-ID and appends only if the
//! message is not there. This module reads and appends; it never deletes or moves anything on
//! the server and never sends mail.

use crate::app::App;
use crate::config::{FolderSpec, Mailbox};
use crate::imap_sync::conn::{self, ImapSession};

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Connect(#[from] conn::ConnectError),
    #[error("mailbox \"{mailbox}\": {message}")]
    Imap { mailbox: String, message: String },
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
    if let Some(f) = app.store.folders(&mb.id)?.into_iter().find(|f| f.role.as_deref() == Some(role.as_str())) {
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

/// Append the copies still missing for this mailbox. Returns how many were settled.
pub async fn copy_sent(app: &App, mb: &Mailbox) -> Result<usize, CopyError> {
    let copies = app.store.outbox_sent_copies(&mb.id, 200)?;
    if copies.is_empty() {
        return Ok(0);
    }
    let mut s = conn::connect(&app.config, mb).await?;
    let folder = resolve_folder(app, mb, &mut s, &mb.sent_folder).await?;
    let mut n = 0;
    for c in copies {
        // A phone that submits a draft usually moves it into Sent itself (onSuccessUpdateEmail):
        // that copy is already there, or on its way through the write-back.
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
