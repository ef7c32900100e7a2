//! The folders as devices see and change them: JMAP Mailbox rows with their counts, and the
//! folders a device creates, renames or destroys.
//!
//! A device's change is made in the store at once, logged, and queued as one IMAP CREATE,
//! RENAME or DELETE in the same transaction; a rename takes the folders below it along, as
//! the server does. A folder a device made or renamed is marked `by_device`, so the mirror
//! keeps it although the config does not name it. A phone's `isSubscribed` is queued as
//! SUBSCRIBE / UNSUBSCRIBE (a folder made on the phone is subscribed, so webmail shows it too);
//! a rename queues a SUBSCRIBE of the new name of each folder known to be subscribed, as a server need not move
//! subscriptions along. Its `sortOrder` is the store's alone, as IMAP has none. Reached as `store.mailboxes()`.

use rusqlite::{OptionalExtension, params};

use super::email_set::{SetFailure, destroy_email};
use super::folders::{descendants, ensure_folder, known_subscribed, live_folder, rename_folder, set_pref, subscribed};
use super::writeback::queue;
use super::{ObjType, Op, Result, Store, Tx};

/// A folder as `Mailbox/get` shows it, with its message and thread counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxRow {
    pub id: i64,
    pub name: String,
    pub role: Option<String>,
    pub total: i64,
    pub unread: i64,
    pub total_threads: i64,
    pub unread_threads: i64,
    /// The phone's own order (None: by role), and whether the folder is subscribed.
    pub sort_order: Option<i64>,
    pub subscribed: bool,
}

/// The folders as devices see and change them, reached as `store.mailboxes()`.
#[derive(Clone, Copy)]
pub struct Mailboxes<'a>(&'a Store);

impl Store {
    /// The folders as devices see them.
    pub fn mailboxes(&self) -> Mailboxes<'_> {
        Mailboxes(self)
    }
}

impl Mailboxes<'_> {
    /// The live folders of `account` with their counts, in id order.
    pub fn all(&self, account: &str) -> Result<Vec<MailboxRow>> {
        self.0.read(|c| {
            let mut s = c.prepare_cached(
                "SELECT f.id, f.name, f.role,
                   (SELECT COUNT(*) FROM message m WHERE m.folder_id = f.id),
                   (SELECT COUNT(*) FROM message m WHERE m.folder_id = f.id AND m.keywords NOT LIKE '%\"$seen\"%'),
                   (SELECT COUNT(DISTINCT m.thread_id) FROM message m WHERE m.folder_id = f.id),
                   (SELECT COUNT(DISTINCT m.thread_id) FROM message m WHERE m.folder_id = f.id AND m.keywords NOT LIKE '%\"$seen\"%'),
                   p.sort_order, COALESCE(p.subscribed, 1)
                 FROM folder f LEFT JOIN folder_pref p ON p.folder_id = f.id WHERE f.account = ?1 AND f.destroyed = 0 ORDER BY f.id",
            )?;
            let rows = s
                .query_map([account], |r| {
                    Ok(MailboxRow {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        role: r.get(2)?,
                        total: r.get(3)?,
                        unread: r.get(4)?,
                        total_threads: r.get(5)?,
                        unread_threads: r.get(6)?,
                        sort_order: r.get(7)?,
                        subscribed: r.get(8)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// Create a subscribed folder on a device's behalf (written back as IMAP CREATE and
    /// SUBSCRIBE).
    pub fn create(&self, account: &str, name: &str) -> Result<std::result::Result<i64, SetFailure>> {
        self.create_with(account, name, true, None)
    }

    /// Create a folder on a device's behalf with its `isSubscribed` and `sortOrder`.
    pub fn create_with(
        &self,
        account: &str,
        name: &str,
        subscribed: bool,
        sort_order: Option<i64>,
    ) -> Result<std::result::Result<i64, SetFailure>> {
        self.0.write(|t| {
            if let Some(taken) = name_taken(t, account, name)? {
                return Ok(Err(taken));
            }
            let id = ensure_folder(t, account, name, None)?;
            t.tx.execute("UPDATE folder SET by_device = 1 WHERE id = ?1", [id])?;
            t.tx.execute(
                "INSERT OR REPLACE INTO folder_pref (folder_id, sort_order, subscribed) VALUES (?1, ?2, ?3)",
                params![id, sort_order, subscribed],
            )?;
            queue(t, account, "create", None, Some(id), None, Some(name), None)?;
            if subscribed {
                queue(t, account, "subscribe", None, Some(id), Some(1), Some(name), None)?;
            }
            Ok(Ok(id))
        })
    }

    /// Subscribe or unsubscribe a folder on a device's behalf (written back as IMAP SUBSCRIBE
    /// or UNSUBSCRIBE under its name now, which is the server's when the op's turn comes).
    pub fn set_subscribed(&self, account: &str, id: i64, on: bool) -> Result<std::result::Result<(), SetFailure>> {
        self.0.write(|t| {
            let Some((name, _)) = live_folder(t, account, id)? else { return Ok(Err(SetFailure::NotFound)) };
            if subscribed(t, id)? != on {
                set_pref(t, id, "subscribed", on as i64)?;
                t.log(account, ObjType::Mailbox, id, Op::Updated, None)?;
                queue(t, account, "subscribe", None, Some(id), Some(on as i64), Some(&name), None)?;
            }
            Ok(Ok(()))
        })
    }

    /// Give a folder the device's `sortOrder` (kept here only: IMAP has no order of folders).
    pub fn set_sort_order(&self, account: &str, id: i64, order: i64) -> Result<std::result::Result<(), SetFailure>> {
        self.0.write(|t| {
            if live_folder(t, account, id)?.is_none() {
                return Ok(Err(SetFailure::NotFound));
            }
            let now: Option<i64> =
                t.tx.query_row("SELECT sort_order FROM folder_pref WHERE folder_id = ?1", [id], |r| r.get(0))
                    .optional()?
                    .flatten();
            if now != Some(order) {
                set_pref(t, id, "sort_order", order)?;
                t.log(account, ObjType::Mailbox, id, Op::Updated, None)?;
            }
            Ok(Ok(()))
        })
    }

    /// Rename a folder (its full name) on a device's behalf; the folders below it move along,
    /// as they do on the IMAP server, which is sent one RENAME.
    pub fn rename(&self, account: &str, id: i64, name: &str) -> Result<std::result::Result<(), SetFailure>> {
        self.0.write(|t| {
            let row = live_folder(t, account, id)?;
            let Some((old, role)) = row else { return Ok(Err(SetFailure::NotFound)) };
            if old == name {
                return Ok(Ok(()));
            }
            if role.as_deref() == Some("inbox") {
                return Ok(Err(SetFailure::Forbidden("the inbox cannot be renamed".into())));
            }
            if let Some(taken) = name_taken(t, account, name)? {
                return Ok(Err(taken));
            }
            // Mailboxes below the new name would become its children here, but not on the
            // server, and a rename the server refuses could not be undone cleanly.
            if !descendants(t, account, name)?.is_empty() {
                return Ok(Err(SetFailure::AlreadyExists(format!("mailboxes exist below \"{name}\""))));
            }
            rename_folder(t, account, id, &old, name)?;
            queue(t, account, "rename", None, Some(id), None, Some(name), Some(&old))?;
            // RFC 3501 leaves it to the server whether RENAME moves subscriptions: the folders
            // known to be subscribed are subscribed under their new names.
            let moved = std::iter::once((id, name.to_string())).chain(descendants(t, account, name)?);
            for (f, new_name) in moved {
                if known_subscribed(t, f)? == Some(true) {
                    queue(t, account, "subscribe", None, Some(f), Some(1), Some(&new_name), None)?;
                }
            }
            Ok(Ok(()))
        })
    }

    /// Destroy a folder on a device's behalf (written back as IMAP DELETE); its messages
    /// go with it only when `remove_emails` says so.
    pub fn destroy(&self, account: &str, id: i64, remove_emails: bool) -> Result<std::result::Result<(), SetFailure>> {
        self.0.write(|t| {
            let row = live_folder(t, account, id)?;
            let Some((name, role)) = row else { return Ok(Err(SetFailure::NotFound)) };
            if role.as_deref() == Some("inbox") {
                return Ok(Err(SetFailure::Forbidden("the inbox cannot be destroyed".into())));
            }
            if !descendants(t, account, &name)?.is_empty() {
                return Ok(Err(SetFailure::MailboxHasChild));
            }
            let ids: Vec<i64> = {
                let mut s = t.tx.prepare("SELECT id FROM message WHERE folder_id = ?1")?;
                s.query_map([id], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?
            };
            if !ids.is_empty() && !remove_emails {
                return Ok(Err(SetFailure::MailboxHasEmail));
            }
            for m in ids {
                // Messages still held elsewhere on the server (a move not yet written back)
                // are expunged there; the folder delete takes the rest.
                let _ = destroy_email(t, account, m)?;
            }
            t.tx.execute("UPDATE folder SET destroyed = 1 WHERE id = ?1", [id])?;
            t.log(account, ObjType::Mailbox, id, Op::Destroyed, None)?;
            queue(t, account, "delete", None, Some(id), None, Some(&name), None)?;
            Ok(Ok(()))
        })
    }
}

/// A live folder of `account` already has `name`: the failure a device is told.
fn name_taken(t: &Tx<'_>, account: &str, name: &str) -> Result<Option<SetFailure>> {
    let exists =
        t.tx.query_row(
            "SELECT 1 FROM folder WHERE account = ?1 AND name = ?2 AND destroyed = 0",
            params![account, name],
            |_| Ok(()),
        )
        .optional()?;
    Ok(exists.map(|()| SetFailure::AlreadyExists(format!("a mailbox named \"{name}\" exists"))))
}
