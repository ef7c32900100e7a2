//! The office console's tables: accounts (Argon2id hashes only), login sessions (the SHA-256
//! of the cookie only) and the audit log of every action taken in it. Hashing and checking
//! passwords is the console's business; the store keeps what it is given. Reached as
//! `store.console()`.

use rusqlite::{OptionalExtension, params};

use super::{Result, Store, now};

/// What a console account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything.
    Office,
    /// Only what concerns its one mailbox.
    Employee,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Office => "office",
            Role::Employee => "employee",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "office" => Some(Role::Office),
            "employee" => Some(Role::Employee),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleUser {
    pub name: String,
    pub role: Role,
    /// The employee's mailbox; `None` for office accounts.
    pub mailbox: Option<String>,
    pub password_hash: String,
    pub created_at: i64,
}

/// A logged-in session, found by its cookie's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    pub user: ConsoleUser,
    pub created_at: i64,
    pub last_seen: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleAudit {
    pub at: i64,
    pub user: String,
    pub action: String,
    pub detail: String,
}

/// Audit rows kept at most; older ones are dropped.
const AUDIT_KEEP: i64 = 100_000;

#[derive(Clone, Copy)]
pub struct Console<'a>(&'a Store);

impl Store {
    /// The console's accounts, sessions and audit log.
    pub fn console(&self) -> Console<'_> {
        Console(self)
    }
}

fn user_row(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<ConsoleUser> {
    let role: String = r.get(at + 1)?;
    Ok(ConsoleUser {
        name: r.get(at)?,
        role: Role::parse(&role).unwrap_or(Role::Employee),
        mailbox: r.get(at + 2)?,
        password_hash: r.get(at + 3)?,
        created_at: r.get(at + 4)?,
    })
}

const USER_COLUMNS: &str = "u.name, u.role, u.mailbox, u.password_hash, u.created_at";

impl Console<'_> {
    /// Add an account, or replace the role, mailbox and password of an existing one.
    pub fn put_user(&self, name: &str, role: Role, mailbox: Option<&str>, password_hash: &str) -> Result<()> {
        self.0.write(|t| {
            t.tx.execute(
                "INSERT INTO console_user (name, role, mailbox, password_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (name) DO UPDATE SET role = excluded.role, mailbox = excluded.mailbox,
                   password_hash = excluded.password_hash",
                params![name, role.as_str(), mailbox, password_hash, now()],
            )?;
            // A new password or role ends the sessions made under the old one.
            t.tx.execute("DELETE FROM console_session WHERE user = ?1", [name])?;
            Ok(())
        })
    }

    pub fn remove_user(&self, name: &str) -> Result<bool> {
        self.0.write(|t| {
            t.tx.execute("DELETE FROM console_session WHERE user = ?1", [name])?;
            Ok(t.tx.execute("DELETE FROM console_user WHERE name = ?1", [name])? == 1)
        })
    }

    pub fn user(&self, name: &str) -> Result<Option<ConsoleUser>> {
        self.0.read(|c| {
            Ok(c.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM console_user u WHERE u.name = ?1"))?
                .query_row([name], |r| user_row(r, 0))
                .optional()?)
        })
    }

    pub fn users(&self) -> Result<Vec<ConsoleUser>> {
        self.0.read(|c| {
            let mut s = c.prepare(&format!("SELECT {USER_COLUMNS} FROM console_user u ORDER BY u.name"))?;
            let rows = s.query_map([], |r| user_row(r, 0))?.collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// Start a session for `user`, known by the hash of its cookie, ending at `expires_at`.
    pub fn open_session(&self, id_sha256: &str, user: &str, expires_at: i64) -> Result<()> {
        self.0.write(|t| {
            let at = now();
            t.tx.execute("DELETE FROM console_session WHERE expires_at <= ?1", [at])?;
            t.tx.execute(
                "INSERT INTO console_session (id_sha256, user, created_at, last_seen, expires_at) VALUES (?1, ?2, ?3, ?3, ?4)",
                params![id_sha256, user, at, expires_at],
            )?;
            Ok(())
        })
    }

    /// The live session with this hash: not past `expires_at`, and seen within `idle_secs`.
    /// Notes the visit (at most once every `touch_secs`, so reading a page is rarely a write).
    pub fn session(&self, id_sha256: &str, idle_secs: i64, touch_secs: i64) -> Result<Option<ConsoleSession>> {
        let at = now();
        let found = self.0.read(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT s.created_at, s.last_seen, s.expires_at, {USER_COLUMNS}
                 FROM console_session s JOIN console_user u ON u.name = s.user WHERE s.id_sha256 = ?1"
            ))?
            .query_row([id_sha256], |r| {
                Ok(ConsoleSession {
                    created_at: r.get(0)?,
                    last_seen: r.get(1)?,
                    expires_at: r.get(2)?,
                    user: user_row(r, 3)?,
                })
            })
            .optional()?)
        })?;
        let Some(s) = found else { return Ok(None) };
        if at >= s.expires_at || at - s.last_seen > idle_secs {
            self.end_session(id_sha256)?;
            return Ok(None);
        }
        if at - s.last_seen >= touch_secs {
            self.0.write(|t| {
                t.tx.execute("UPDATE console_session SET last_seen = ?2 WHERE id_sha256 = ?1", params![id_sha256, at])?;
                Ok(())
            })?;
        }
        Ok(Some(s))
    }

    pub fn end_session(&self, id_sha256: &str) -> Result<()> {
        self.0.write(|t| {
            t.tx.execute("DELETE FROM console_session WHERE id_sha256 = ?1", [id_sha256])?;
            Ok(())
        })
    }

    /// Write one audit row: who did what. Never pass a password or token in `detail`.
    pub fn audit(&self, user: &str, action: &str, detail: &str) -> Result<()> {
        self.0.write(|t| {
            t.tx.execute(
                "INSERT INTO console_audit (at, user, action, detail) VALUES (?1, ?2, ?3, ?4)",
                params![now(), user, action, detail],
            )?;
            t.tx.execute(
                "DELETE FROM console_audit WHERE id <= (SELECT MAX(id) FROM console_audit) - ?1",
                [AUDIT_KEEP],
            )?;
            Ok(())
        })
    }

    /// The newest `limit` audit rows, newest first.
    pub fn audit_recent(&self, limit: usize) -> Result<Vec<ConsoleAudit>> {
        self.0.read(|c| {
            let mut s =
                c.prepare_cached("SELECT at, user, action, detail FROM console_audit ORDER BY id DESC LIMIT ?1")?;
            let rows = s
                .query_map([limit as i64], |r| {
                    Ok(ConsoleAudit { at: r.get(0)?, user: r.get(1)?, action: r.get(2)?, detail: r.get(3)? })
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_sessions_expire_and_audit() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("s.sqlite")).unwrap();
        s.ensure_accounts(["becker"]).unwrap();
        let c = s.console();
        c.put_user("anna", Role::Office, None, "$argon2id$x").unwrap();
        c.put_user("becker", Role::Employee, Some("becker"), "$argon2id$y").unwrap();
        assert!(
            s.write(|t| Ok(t.tx.execute("INSERT INTO console_user VALUES ('x','office','becker','h',0)", [])?))
                .is_err()
        );
        assert_eq!(c.users().unwrap().len(), 2);
        c.open_session("h1", "anna", now() + 3600).unwrap();
        assert_eq!(c.session("h1", 600, 60).unwrap().unwrap().user.role, Role::Office);
        assert_eq!(c.session("h2", 600, 60).unwrap(), None);
        // Idle too long: gone.
        s.write(|t| Ok(t.tx.execute("UPDATE console_session SET last_seen = last_seen - 700", [])?)).unwrap();
        assert_eq!(c.session("h1", 600, 60).unwrap(), None);
        // Past the absolute end: gone, however fresh.
        c.open_session("h3", "anna", now() - 1).unwrap();
        assert_eq!(c.session("h3", 600, 60).unwrap(), None);
        // A new password ends the sessions.
        c.open_session("h4", "becker", now() + 3600).unwrap();
        c.put_user("becker", Role::Employee, Some("becker"), "$argon2id$z").unwrap();
        assert_eq!(c.session("h4", 600, 60).unwrap(), None);
        c.audit("anna", "gate.open", "office session 1").unwrap();
        c.audit("anna", "gate.close", "").unwrap();
        let a = c.audit_recent(10).unwrap();
        assert_eq!(a.iter().map(|a| a.action.as_str()).collect::<Vec<_>>(), ["gate.close", "gate.open"]);
    }
}
