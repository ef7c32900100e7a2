//! Office sessions and their audit trail (`schema/0002_outbox.sql`, `schema/0008_control_audit.sql`).
//!
//! A live session (not logged out, lease not run out) opens the gate of every
//! `send_while = "session"` transport. Each login, heartbeat and logout is written to
//! `control_audit` in the same transaction as the change it records, so the trail can never
//! miss one; requests the control endpoint refused are recorded there too. This file never
//! decides how long a lease may be (the caller passes the capped length) and never stores a
//! token.

use rusqlite::params;
use serde::Serialize;

use super::{Result, Store, now};

/// How many audit rows are kept; older ones are dropped as new ones arrive.
const AUDIT_KEEP: i64 = 20_000;
/// Refused requests are kept apart and fewer, so a flood of them can never push the record of
/// who opened the gate out of the audit trail.
const REFUSED_KEEP: i64 = 1_000;

#[derive(Debug, Clone, Serialize)]
pub struct OfficeSession {
    pub id: String,
    pub user: String,
    pub created_at: i64,
    pub lease_until: i64,
    pub ttl_secs: i64,
    pub ended_at: Option<i64>,
}

/// What happened on the control endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditAction {
    Login,
    Heartbeat,
    Logout,
    Refused,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Login => "login",
            AuditAction::Heartbeat => "heartbeat",
            AuditAction::Logout => "logout",
            AuditAction::Refused => "refused",
        }
    }

    fn parse(s: &str) -> AuditAction {
        match s {
            "login" => AuditAction::Login,
            "heartbeat" => AuditAction::Heartbeat,
            "logout" => AuditAction::Logout,
            _ => AuditAction::Refused,
        }
    }
}

/// One row of the audit trail.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub at: i64,
    pub action: AuditAction,
    pub session_id: Option<String>,
    pub user: Option<String>,
    /// Who or what made the request: "tcp 127.0.0.1:53211", "unix uid 1000", "cli uid 1000".
    pub how: String,
    pub lease_until: Option<i64>,
    /// Why a request was refused.
    pub detail: Option<String>,
}

fn audit(t: &rusqlite::Transaction<'_>, action: AuditAction, s: Option<&OfficeSession>, how: &str) -> Result<()> {
    t.execute(
        "INSERT INTO control_audit (at, action, session_id, user, how, lease_until) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![now(), action.as_str(), s.map(|s| &s.id), s.map(|s| &s.user), how, s.map(|s| s.lease_until)],
    )?;
    prune(t, false)
}

/// Keep the newest rows of one kind: session changes (`refused` false) or refusals.
fn prune(t: &rusqlite::Transaction<'_>, refused: bool) -> Result<()> {
    let (op, keep) = if refused { ("=", REFUSED_KEEP) } else { ("!=", AUDIT_KEEP) };
    t.execute(
        &format!(
            "DELETE FROM control_audit WHERE action {op} 'refused' AND id <= (SELECT id FROM control_audit
                WHERE action {op} 'refused' ORDER BY id DESC LIMIT 1 OFFSET ?1)"
        ),
        [keep],
    )?;
    Ok(())
}

const COLUMNS: &str = "id, user, created_at, lease_until, ttl_secs, ended_at";

fn session_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OfficeSession> {
    Ok(OfficeSession {
        id: r.get(0)?,
        user: r.get(1)?,
        created_at: r.get(2)?,
        lease_until: r.get(3)?,
        ttl_secs: r.get(4)?,
        ended_at: r.get(5)?,
    })
}

impl Store {
    /// Office sessions and the control endpoint's audit trail.
    pub fn sessions(&self) -> Sessions<'_> {
        Sessions { store: self }
    }
}

/// Office sessions and the control endpoint's audit trail, reached as `store.sessions()`.
#[derive(Clone, Copy)]
pub struct Sessions<'a> {
    store: &'a Store,
}

impl Sessions<'_> {
    /// Open a session with a lease of `ttl_secs` (already capped by the caller), recorded as
    /// opened by `how`.
    pub fn insert(&self, id: &str, user: &str, ttl_secs: i64, how: &str) -> Result<OfficeSession> {
        self.store.write(|t| {
            let at = now();
            let s = OfficeSession {
                id: id.into(),
                user: user.into(),
                created_at: at,
                lease_until: at + ttl_secs,
                ttl_secs,
                ended_at: None,
            };
            t.tx.execute(
                "INSERT INTO office_session (id, user, created_at, lease_until, ttl_secs) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![s.id, s.user, s.created_at, s.lease_until, s.ttl_secs],
            )?;
            audit(&t.tx, AuditAction::Login, Some(&s), how)?;
            Ok(s)
        })
    }

    /// Renew a live session's lease to now + its ttl, but never more than `max_secs` from now.
    /// None if it does not exist, ended, or already expired.
    pub fn heartbeat(&self, id: &str, max_secs: i64, how: &str) -> Result<Option<OfficeSession>> {
        self.store.write(|t| {
            let at = now();
            let n = t.tx.execute(
                "UPDATE office_session SET lease_until = ?2 + min(ttl_secs, ?3)
                 WHERE id = ?1 AND ended_at IS NULL AND lease_until > ?2",
                params![id, at, max_secs],
            )?;
            if n == 0 {
                return Ok(None);
            }
            let s =
                t.tx.query_row(&format!("SELECT {COLUMNS} FROM office_session WHERE id = ?1"), [id], session_row)?;
            audit(&t.tx, AuditAction::Heartbeat, Some(&s), how)?;
            Ok(Some(s))
        })
    }

    /// End a live session. False if there is none with this id.
    pub fn end(&self, id: &str, how: &str) -> Result<bool> {
        self.store.write(|t| {
            let at = now();
            let n = t.tx.execute(
                "UPDATE office_session SET ended_at = ?2 WHERE id = ?1 AND ended_at IS NULL",
                params![id, at],
            )?;
            if n == 0 {
                return Ok(false);
            }
            let s =
                t.tx.query_row(&format!("SELECT {COLUMNS} FROM office_session WHERE id = ?1"), [id], session_row)?;
            audit(&t.tx, AuditAction::Logout, Some(&s), how)?;
            Ok(true)
        })
    }

    /// Shorten every live lease that runs past `until` to end then (a lease granted before
    /// `control.max_session_ttl` existed, or before it was lowered). Returns how many.
    pub fn cap_leases(&self, until: i64) -> Result<usize> {
        self.store.write(|t| {
            Ok(t.tx.execute(
                "UPDATE office_session SET lease_until = ?1 WHERE ended_at IS NULL AND lease_until > ?1",
                [until],
            )?)
        })
    }

    /// Sessions whose lease runs at `at` and that have not logged out.
    pub fn active(&self, at: i64) -> Result<Vec<OfficeSession>> {
        self.store.read(|c| {
            let mut s = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM office_session WHERE ended_at IS NULL AND lease_until > ?1 ORDER BY created_at"
            ))?;
            let rows = s.query_map([at], session_row)?.collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// Record a request the control endpoint refused: `how` names the peer, `detail` the reason.
    pub fn audit_refused(&self, how: &str, detail: &str) -> Result<()> {
        self.store.write(|t| {
            t.tx.execute(
                "INSERT INTO control_audit (at, action, how, detail) VALUES (?1, 'refused', ?2, ?3)",
                params![now(), how, detail],
            )?;
            prune(&t.tx, true)
        })
    }

    /// The newest `limit` audit rows, newest first.
    pub fn audit_recent(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        self.store.read(|c| {
            let mut s = c.prepare_cached(
                "SELECT at, action, session_id, user, how, lease_until, detail FROM control_audit ORDER BY id DESC LIMIT ?1",
            )?;
            let rows = s
                .query_map([limit as i64], |r| {
                    Ok(AuditEntry {
                        at: r.get(0)?,
                        action: AuditAction::parse(&r.get::<_, String>(1)?),
                        session_id: r.get(2)?,
                        user: r.get(3)?,
                        how: r.get(4)?,
                        lease_until: r.get(5)?,
                        detail: r.get(6)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        crate::store::test_store()
    }

    #[test]
    fn sessions_lease_heartbeat_logout() {
        let (_d, s) = store();
        s.sessions().insert("s1", "anna", 100, "cli uid 0").unwrap();
        assert_eq!(s.sessions().active(now()).unwrap().len(), 1);
        assert!(s.sessions().active(now() + 101).unwrap().is_empty(), "the lease runs out");
        assert!(s.sessions().heartbeat("s1", 1000, "unix uid 7").unwrap().is_some());
        assert!(s.sessions().end("s1", "tcp 127.0.0.1:9").unwrap());
        assert!(s.sessions().active(now()).unwrap().is_empty());
        assert!(s.sessions().heartbeat("s1", 1000, "x").unwrap().is_none(), "a logged-out session cannot be renewed");
        assert!(!s.sessions().end("s1", "x").unwrap());
        let trail = s.sessions().audit_recent(10).unwrap();
        let seen: Vec<(AuditAction, &str)> = trail.iter().map(|a| (a.action, a.how.as_str())).collect();
        assert_eq!(
            seen,
            vec![
                (AuditAction::Logout, "tcp 127.0.0.1:9"),
                (AuditAction::Heartbeat, "unix uid 7"),
                (AuditAction::Login, "cli uid 0")
            ]
        );
        assert!(trail.iter().all(|a| a.user.as_deref() == Some("anna") && a.session_id.as_deref() == Some("s1")));
    }

    /// A heartbeat renews by the session's ttl, but never past `max_secs` from now (the limit
    /// may have been lowered since the login); an old over-long lease is cut back.
    #[test]
    fn heartbeat_and_cap_never_exceed_the_limit() {
        let (_d, s) = store();
        s.sessions().insert("long", "anna", 3600, "cli uid 0").unwrap();
        let renewed = s.sessions().heartbeat("long", 600, "cli uid 0").unwrap().unwrap();
        assert!(renewed.lease_until <= now() + 600, "{renewed:?}");
        s.sessions().insert("old", "bernd", 520 * 7 * 86_400, "cli uid 0").unwrap();
        assert_eq!(s.sessions().cap_leases(now() + 43_200).unwrap(), 1);
        let old = s.sessions().active(now()).unwrap().into_iter().find(|x| x.id == "old").unwrap();
        assert!(old.lease_until <= now() + 43_200);
    }

    /// Regression: refusals shared one bounded trail with logins, so a flood of unauthenticated
    /// requests could push the record of who opened the gate out of it.
    #[test]
    fn refused_requests_are_recorded_apart_and_never_push_out_logins() {
        let (_d, s) = store();
        s.sessions().insert("s1", "anna", 100, "cli uid 0").unwrap();
        s.sessions().audit_refused("tcp 127.0.0.1:5", "no token").unwrap();
        let a = &s.sessions().audit_recent(1).unwrap()[0];
        assert_eq!((a.action, a.detail.as_deref(), a.user.as_deref()), (AuditAction::Refused, Some("no token"), None));
        for _ in 0..REFUSED_KEEP + 10 {
            s.sessions().audit_refused("tcp 127.0.0.1:5", "wrong token").unwrap();
        }
        let count = |action: &str| -> i64 {
            s.read(|c| Ok(c.query_row("SELECT count(*) FROM control_audit WHERE action = ?1", [action], |r| r.get(0))?))
                .unwrap()
        };
        assert_eq!(count("refused"), REFUSED_KEEP, "only the newest refusals are kept");
        assert_eq!(count("login"), 1, "the login outlives any number of refusals");
    }
}
