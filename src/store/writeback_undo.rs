//! What the store undoes when the write-back gives a change up: the server refused it too
//! often, so the server's state wins and the store shows it again (the message where the
//! server keeps it, its flags, the folder's old name, the subscription). A given-up RENAME
//! also rewrites the names the later folder ops carry, walking the queue in order: what
//! they named below the name the rename would have made is named below the name the server
//! still has. Part of `store::writeback`; it never talks to IMAP.

use rusqlite::{OptionalExtension, params};

use super::super::folders::{live_folder, names_free_for_undo, rename_folder, set_pref, subscribed};
use super::super::writeback_names::{delimiter, renamed};
use super::super::{ObjType, Op, Result, Tx};
use super::{QueuedOp, WritebackOp};

/// The server keeps message `uid` of `folder`, which the store destroyed: drop its tombstone
/// and let the mirror's next pass look from that UID on (it fetches only UIDs from the
/// folder's stored UIDNEXT up, and skips those it holds), so the message shows again.
fn fetch_again(t: &mut Tx<'_>, folder: i64, uid: i64) -> Result<()> {
    t.tx.execute("DELETE FROM imap_tombstone WHERE folder_id = ?1 AND uid = ?2", params![folder, uid])?;
    t.tx.execute(
        "UPDATE folder SET uidnext = MIN(uidnext, ?2) WHERE id = ?1 AND uidnext IS NOT NULL",
        params![folder, uid],
    )?;
    Ok(())
}

/// Undo in the store what a given-up op changed there, so the server's state shows again; says
/// what was undone, for `status`.
pub(super) fn undo(t: &mut Tx<'_>, account: &str, folder: Option<i64>, q: &QueuedOp) -> Result<String> {
    let folder_name = |t: &Tx<'_>, id: i64| -> Result<String> {
        Ok(t.tx.query_row("SELECT name FROM folder WHERE id = ?1", [id], |r| r.get(0)).optional()?.unwrap_or_default())
    };
    Ok(match &q.op {
        // The server keeps its copy: let the mirror bring it back.
        WritebackOp::Expunge { folder_id, uid, .. } => {
            fetch_again(t, *folder_id, i64::from(*uid))?;
            format!("the message deleted on the phone comes back from \"{}\"", folder_name(t, *folder_id)?)
        }
        // The server keeps its flags: stop laying the refused change over them.
        WritebackOp::Flags { message_id, .. } => {
            t.tx.execute("DELETE FROM keyword_pending WHERE message_id = ?1", [message_id])?;
            "the message's flags are the server's again".into()
        }
        // The server keeps the message where it was: show it there again.
        WritebackOp::Move { message_id, .. } => {
            let moved: Option<(i64, i64, i64)> =
                t.tx.query_row(
                    "SELECT folder_id, imap_folder_id, thread_id FROM message
                     WHERE id = ?1 AND imap_folder_id IS NOT NULL AND folder_id != imap_folder_id",
                    [message_id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            match moved {
                Some((shown, held, thread)) => {
                    t.tx.execute("UPDATE message SET folder_id = imap_folder_id WHERE id = ?1", [message_id])?;
                    t.log(account, ObjType::Email, *message_id, Op::Updated, Some(thread))?;
                    t.log(account, ObjType::Mailbox, shown, Op::CountsOnly, None)?;
                    t.log(account, ObjType::Mailbox, held, Op::CountsOnly, None)?;
                    format!("the message is shown in \"{}\" again", folder_name(t, held)?)
                }
                None => "nothing (the message moved on meanwhile)".into(),
            }
        }
        // The server keeps the old name: so does the store, children included (unless a
        // folder took that name meanwhile). Later renames of the same folder waited for this
        // one and go with it; later folder ops carry the names the server has, also when the
        // folder was destroyed meanwhile (its expunges and DELETE go to the old name).
        WritebackOp::Rename { from, to } => {
            let target = rewrite_later(t, account, folder, q.id, from, to)?;
            let Some(folder) = folder else { return Ok("nothing".into()) };
            match live_folder(t, account, folder)? {
                Some((current, _)) if current == target => format!("the folder is named \"{target}\" again"),
                Some((current, _)) if names_free_for_undo(t, account, folder, &current, &target)? => {
                    rename_folder(t, account, folder, &current, &target)?;
                    format!("the folder is named \"{target}\" again")
                }
                Some((current, _)) => {
                    format!("nothing: the folder keeps \"{current}\" (\"{target}\" is taken meanwhile)")
                }
                None => "nothing (the folder was deleted meanwhile)".into(),
            }
        }
        // The server never made it: the next folder listing drops it from the store.
        WritebackOp::Create { name } => format!("the folder \"{name}\" goes at the next folder listing"),
        WritebackOp::Delete { name, .. } => format!("nothing: the folder \"{name}\" stays on the server"),
        // The copy never reached its server: the original an Email/copy destroyed for it is
        // not expunged from its own (dropped with its tombstone, so the mirror brings it back).
        WritebackOp::Append { .. } => {
            let waiting: Vec<(i64, Option<i64>, Option<i64>)> = {
                let mut s = t.tx.prepare("SELECT id, folder_id, uid FROM writeback_op WHERE waits_for = ?1")?;
                s.query_map([q.id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<rusqlite::Result<_>>()?
            };
            for (id, folder, uid) in &waiting {
                t.tx.execute("DELETE FROM writeback_op WHERE id = ?1", [id])?;
                if let (Some(folder), Some(uid)) = (folder, uid) {
                    fetch_again(t, *folder, *uid)?;
                }
            }
            if waiting.is_empty() {
                "nothing: the message stays in postbote only, not on the server".into()
            } else {
                "the message stays in postbote only, not on the server; its original comes back".into()
            }
        }
        // The server keeps its subscription: so does the store.
        WritebackOp::Subscribe { folder_id, on, .. } => {
            if live_folder(t, account, *folder_id)?.is_some() && subscribed(t, *folder_id)? == *on {
                set_pref(t, *folder_id, "subscribed", !on as i64)?;
                t.log(account, ObjType::Mailbox, *folder_id, Op::Updated, None)?;
            }
            format!("the mailbox is shown {} again", if *on { "unsubscribed" } else { "subscribed" })
        }
        WritebackOp::Obsolete | WritebackOp::Wait => "nothing".into(),
    })
}

/// A later folder op as the rewrite reads it: (id, kind, folder, name, old name).
type LaterRow = (i64, String, Option<i64>, Option<String>, Option<String>);

/// A RENAME of `folder` from `from` to `to` (op `op_id`) is given up: drop the later renames
/// of that folder (they waited for it) and rewrite the names the other later folder ops carry,
/// walking the queue in order. Between the given-up op and the first dropped rename, names
/// below `to` are meant below the server's name; after a dropped rename, names below its new
/// name are, and `to` means a folder of its own again. A later rename of another folder that
/// takes this one along (a parent's) moves both names. Returns the folder's name on the
/// server after the whole queue, which the store takes back.
fn rewrite_later(t: &Tx<'_>, account: &str, folder: Option<i64>, op_id: i64, from: &str, to: &str) -> Result<String> {
    let d = delimiter(&t.tx, account)?;
    let d = d.as_deref();
    let later: Vec<LaterRow> = {
        let mut s = t.tx.prepare(
            "SELECT id, kind, folder_id, name, old_name FROM writeback_op WHERE account = ?1 AND id > ?2
             AND kind IN ('create', 'rename', 'delete', 'subscribe') ORDER BY id",
        )?;
        s.query_map(params![account, op_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?
            .collect::<rusqlite::Result<_>>()?
    };
    // `meant`: the folder's name at this place in the queue had the renames been done;
    // `server`: its name there now.
    let (mut meant, mut server) = (to.to_string(), from.to_string());
    for (id, kind, fid, name, old) in later {
        if kind == "rename" && folder.is_some() && fid == folder {
            t.tx.execute("DELETE FROM writeback_op WHERE id = ?1", [id])?;
            if let Some(n) = name {
                meant = n;
            }
            continue;
        }
        let back = |n: &Option<String>| n.as_ref().map(|n| renamed(n, &meant, &server, d).unwrap_or(n.clone()));
        let (new_name, new_old) = (back(&name), back(&old));
        if new_name != name || new_old != old {
            t.tx.execute(
                "UPDATE writeback_op SET name = ?2, old_name = ?3 WHERE id = ?1",
                params![id, new_name, new_old],
            )?;
        }
        if kind == "rename"
            && let (Some(o), Some(n), Some(o2), Some(n2)) = (&old, &name, &new_old, &new_name)
        {
            meant = renamed(&meant, o, n, d).unwrap_or(meant);
            server = renamed(&server, o2, n2, d).unwrap_or(server);
        }
    }
    Ok(server)
}
