//! Which server name a write-back op means: folder names as they stand at the op's place in
//! the queue, and which earlier ops an op must wait for.
//!
//! The queue is carried out in order, so when op `p` runs the server holds exactly the
//! names the store had when `p` was queued. A folder CREATE, RENAME, DELETE or SUBSCRIBE carries
//! the names it was queued with. A message op finds its message where the server holds it *when
//! it runs* (an earlier APPEND or MOVE gives it its UID), so its folder's name is worked out for
//! its place in the queue ([`server_name`]): the folder's name now, with the renames queued
//! after `p` taken back, newest first; a folder the phone destroyed has the name its DELETE
//! carries; a folder whose CREATE comes after `p` is not on the server yet. The store's own
//! name for a destroyed folder (`… (destroyed 7)`) never leaves this file. Nothing here writes.

use rusqlite::{Connection, OptionalExtension, params};

use super::Result;

/// Where a folder stands on the server at one place in the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Located {
    /// It exists there under this name.
    At(String),
    /// Its CREATE is queued later: not on the server yet.
    NotYet,
    /// Gone from the server (destroyed there, or by a DELETE already done).
    Gone,
}

/// `name` is `of` or below it in a hierarchy with delimiter `d`.
pub(super) fn within(name: &str, of: &str, d: Option<&str>) -> bool {
    name == of || d.is_some_and(|d| !d.is_empty() && name.strip_prefix(of).is_some_and(|t| t.starts_with(d)))
}

/// One name is the other or lies below it: an op on one may depend on an op on the other.
pub(super) fn overlaps(a: &str, b: &str, d: Option<&str>) -> bool {
    within(a, b, d) || within(b, a, d)
}

/// `name` with the prefix `from` replaced by `to` (a rename of `from` or a folder above it);
/// None when `name` is not within `from`.
pub(super) fn renamed(name: &str, from: &str, to: &str, d: Option<&str>) -> Option<String> {
    within(name, from, d).then(|| format!("{to}{}", &name[from.len()..]))
}

pub(super) fn delimiter(c: &Connection, account: &str) -> Result<Option<String>> {
    Ok(c.query_row("SELECT delimiter FROM account WHERE id = ?1", [account], |r| r.get(0)).optional()?.flatten())
}

/// The server's name of folder `fid` at the place of op `op_id` in `account`'s queue.
pub(super) fn server_name(c: &Connection, account: &str, op_id: i64, fid: i64, d: Option<&str>) -> Result<Located> {
    let row: Option<(String, bool)> = c
        .prepare_cached("SELECT name, destroyed FROM folder WHERE id = ?1 AND account = ?2")?
        .query_row(params![fid, account], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((now_name, destroyed)) = row else { return Ok(Located::Gone) };
    let (mut name, upto) = if destroyed {
        // The phone destroyed it: its name is the one its DELETE carries, if that is still to
        // come; otherwise the folder is gone from the server.
        let delete: Option<(i64, String)> = c
            .prepare_cached(
                "SELECT id, name FROM writeback_op WHERE account = ?1 AND kind = 'delete' AND folder_id = ?2
                 AND id > ?3 AND name IS NOT NULL ORDER BY id LIMIT 1",
            )?
            .query_row(params![account, fid, op_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        match delete {
            Some((id, name)) => (name, id),
            None => return Ok(Located::Gone),
        }
    } else {
        (now_name, i64::MAX)
    };
    let created_later: bool = c
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM writeback_op WHERE account = ?1 AND kind = 'create' AND folder_id = ?2 AND id > ?3)",
        )?
        .query_row(params![account, fid, op_id], |r| r.get(0))?;
    if created_later {
        return Ok(Located::NotYet);
    }
    let mut s = c.prepare_cached(
        "SELECT old_name, name FROM writeback_op WHERE account = ?1 AND kind = 'rename' AND id > ?2 AND id < ?3
           AND old_name IS NOT NULL AND name IS NOT NULL ORDER BY id DESC",
    )?;
    let renames =
        s.query_map(params![account, op_id, upto], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    for r in renames {
        let (from, to) = r?;
        if let Some(back) = renamed(&name, &to, &from, d) {
            name = back;
        }
    }
    Ok(Located::At(name))
}

/// The names queued op `op_id` touches, for deciding what later ops must wait for: the names a
/// folder op carries, or the store's names of the folders a message op's message is shown in
/// and held in (a destroyed folder by its DELETE's name), but not one created after the op.
#[allow(clippy::too_many_arguments)]
pub(super) fn touched_by_row(
    c: &Connection,
    account: &str,
    op_id: i64,
    kind: &str,
    message_id: Option<i64>,
    folder_id: Option<i64>,
    name: Option<&str>,
    old_name: Option<&str>,
) -> Result<Vec<String>> {
    let mut out: Vec<String> = name.into_iter().chain(old_name).map(String::from).collect();
    let mut folders = Vec::new();
    if kind == "expunge" {
        folders.extend(folder_id);
    }
    if let Some(mid) = message_id {
        let row: Option<(Option<i64>, i64)> = c
            .prepare_cached("SELECT imap_folder_id, folder_id FROM message WHERE id = ?1")?
            .query_row([mid], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        if let Some((held, shown)) = row {
            folders.extend(held);
            folders.push(shown);
        }
    }
    for fid in folders {
        // A folder created after the op is not on the server at its turn: the op waits for
        // that CREATE and must not hold it back.
        let created_later: bool = c
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM writeback_op WHERE account = ?1 AND kind = 'create' AND folder_id = ?2 AND id > ?3)",
            )?
            .query_row(params![account, fid, op_id], |r| r.get(0))?;
        if created_later {
            continue;
        }
        let row: Option<(String, bool)> = c
            .prepare_cached("SELECT name, destroyed FROM folder WHERE id = ?1")?
            .query_row([fid], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        match row {
            Some((n, false)) => out.push(n),
            Some((_, true)) => {
                let mut s = c.prepare_cached(
                    "SELECT name FROM writeback_op WHERE account = ?1 AND kind = 'delete' AND folder_id = ?2 AND name IS NOT NULL",
                )?;
                for n in s.query_map(params![account, fid], |r| r.get::<_, String>(0))? {
                    out.push(n?);
                }
            }
            None => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_within_overlap_and_rename() {
        let d = Some("/");
        assert!(within("Kunden/Meier", "Kunden", d));
        assert!(within("Kunden", "Kunden", d));
        assert!(!within("Kunden 2026", "Kunden", d), "a longer name is not below");
        assert!(!within("Kunden/Meier", "Kunden", None), "no hierarchy without a delimiter");
        assert!(overlaps("Kunden", "Kunden/Meier", d) && overlaps("Kunden/Meier", "Kunden", d));
        assert!(!overlaps("Kunden", "Lager", d));
        assert_eq!(renamed("Kunden/Meier", "Kunden", "Firma", d).as_deref(), Some("Firma/Meier"));
        assert_eq!(renamed("Lager", "Kunden", "Firma", d), None);
    }
}
