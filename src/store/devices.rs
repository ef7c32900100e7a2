//! The devices table: phones and other clients (JMAP, IMAP, SMTP submission), each with a
//! hashed token and its grants, and the daemon's open IMAP and SMTP connections.
//!
//! A token is stored only as its SHA-256; the token itself is shown once, when the device is
//! added. Looking a device up by its token notes the use and the protocol, at most once a
//! minute per protocol, so that authentication is not a write per request. Reached as
//! `store.devices()`.

use rusqlite::{OptionalExtension, params};

use super::{Result, Store, now};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub id: i64,
    pub mailbox: String,
    pub name: String,
    pub grants: Vec<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// What the device last used: "jmap", "imap" or "smtp".
    pub last_protocol: Option<String>,
}

fn device_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Device> {
    Ok(Device {
        id: r.get(0)?,
        mailbox: r.get(1)?,
        name: r.get(2)?,
        grants: serde_json::from_str(&r.get::<_, String>(3)?).unwrap_or_default(),
        created_at: r.get(4)?,
        last_used_at: r.get(5)?,
        revoked_at: r.get(6)?,
        last_protocol: r.get(7)?,
    })
}

const DEVICE_FROM: &str = "device d LEFT JOIN device_use u ON u.device = d.id";
const DEVICE_COLUMNS: &str =
    "d.id, d.mailbox, d.name, d.grants, d.created_at, d.last_used_at, d.revoked_at, u.protocol";

/// How long a device's `last_used_at` may lag behind (so authentication is not a write per request).
const LAST_USED_GRANULARITY: i64 = 60;

/// The devices table, reached as `store.devices()`.
#[derive(Clone, Copy)]
pub struct Devices<'a>(&'a Store);

impl Store {
    /// The devices table.
    pub fn devices(&self) -> Devices<'_> {
        Devices(self)
    }
}

impl Devices<'_> {
    /// Register a device; `token_sha256` is the hex SHA-256 of the token shown to the user.
    pub fn add(&self, mailbox: &str, name: &str, grants: &[String], token_sha256: &str) -> Result<i64> {
        self.0.write(|t| {
            t.tx.execute(
                "INSERT INTO device (mailbox, name, token_sha256, grants, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    mailbox,
                    name,
                    token_sha256,
                    serde_json::to_string(grants).unwrap_or_else(|_| "[]".into()),
                    now()
                ],
            )?;
            Ok(t.tx.last_insert_rowid())
        })
    }

    pub fn all(&self) -> Result<Vec<Device>> {
        self.0.read(|c| {
            let mut s = c.prepare(&format!("SELECT {DEVICE_COLUMNS} FROM {DEVICE_FROM} ORDER BY d.id"))?;
            let rows = s.query_map([], device_row)?.collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// Revoke a device, and forget the setup profiles its links still hold (they carry the
    /// token). Returns false if there is no such device or it was already revoked.
    pub fn revoke(&self, id: i64) -> Result<bool> {
        self.0.write(|t| {
            let n = t.tx.execute(
                "UPDATE device SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![id, now()],
            )?;
            t.tx.execute("UPDATE setup_link SET sealed = NULL WHERE device = ?1", [id])?;
            Ok(n == 1)
        })
    }

    /// The live (not revoked) device whose token hashes to `token_sha256`; notes the use over
    /// `protocol` ("jmap", "imap", "smtp").
    pub fn by_token(&self, token_sha256: &str, protocol: &str) -> Result<Option<Device>> {
        let dev = self.0.read(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {DEVICE_COLUMNS} FROM {DEVICE_FROM} WHERE d.token_sha256 = ?1 AND d.revoked_at IS NULL"
            ))?
            .query_row([token_sha256], device_row)
            .optional()?)
        })?;
        if let Some(d) = &dev
            && (d.last_used_at.is_none_or(|t| now() - t > LAST_USED_GRANULARITY)
                || d.last_protocol.as_deref() != Some(protocol))
        {
            self.0.write(|t| {
                t.tx.execute("UPDATE device SET last_used_at = ?2 WHERE id = ?1", params![d.id, now()])?;
                t.tx.execute(
                    "INSERT INTO device_use (device, protocol) VALUES (?1, ?2)
                     ON CONFLICT (device) DO UPDATE SET protocol = excluded.protocol",
                    params![d.id, protocol],
                )?;
                Ok(())
            })?;
        }
        Ok(dev)
    }

    /// Which of these devices are revoked (or gone): their open connections must end.
    pub fn revoked_among(&self, ids: &[i64]) -> Result<Vec<i64>> {
        self.0.read(|c| {
            let mut s = c.prepare_cached("SELECT revoked_at IS NULL FROM device WHERE id = ?1")?;
            let mut out = Vec::new();
            for &id in ids {
                let live: Option<bool> = s.query_row([id], |r| r.get(0)).optional()?;
                if live != Some(true) {
                    out.push(id);
                }
            }
            Ok(out)
        })
    }

    /// Note an open IMAP or SMTP connection of a device; the id closes it.
    pub fn connection_open(&self, device: i64, protocol: &str) -> Result<i64> {
        self.0.write(|t| {
            t.tx.execute(
                "INSERT INTO device_connection (device, protocol, since) VALUES (?1, ?2, ?3)",
                params![device, protocol, now()],
            )?;
            Ok(t.tx.last_insert_rowid())
        })
    }

    pub fn connection_close(&self, id: i64) -> Result<()> {
        self.0.write(|t| {
            t.tx.execute("DELETE FROM device_connection WHERE id = ?1", [id])?;
            Ok(())
        })
    }

    /// Forget every connection row: the daemon starting holds none yet.
    pub fn connections_clear(&self) -> Result<()> {
        self.0.write(|t| {
            t.tx.execute("DELETE FROM device_connection", [])?;
            Ok(())
        })
    }

    /// Open connections: (protocol, devices connected, connections), by protocol.
    pub fn connections(&self) -> Result<Vec<(String, i64, i64)>> {
        self.0.read(|c| {
            let mut s = c.prepare(
                "SELECT protocol, COUNT(DISTINCT device), COUNT(*) FROM device_connection GROUP BY protocol ORDER BY protocol",
            )?;
            let rows = s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }
}
