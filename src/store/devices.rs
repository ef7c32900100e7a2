//! The devices table: phones and other JMAP clients, each with a hashed token and its grants.
//!
//! A token is stored only as its SHA-256; the token itself is shown once, when the device is
//! added. Looking a device up by its token notes the use, at most once a minute, so that
//! authentication is not a write per request. Reached as `store.devices()`.

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
    })
}

const DEVICE_COLUMNS: &str = "id, mailbox, name, grants, created_at, last_used_at, revoked_at";

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
            let mut s = c.prepare(&format!("SELECT {DEVICE_COLUMNS} FROM device ORDER BY id"))?;
            let rows = s.query_map([], device_row)?.collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// Revoke a device. Returns false if there is no such device or it was already revoked.
    pub fn revoke(&self, id: i64) -> Result<bool> {
        self.0.write(|t| {
            Ok(t.tx.execute(
                "UPDATE device SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![id, now()],
            )? == 1)
        })
    }

    /// The live (not revoked) device whose token hashes to `token_sha256`; notes the use.
    pub fn by_token(&self, token_sha256: &str) -> Result<Option<Device>> {
        let dev = self.0.read(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {DEVICE_COLUMNS} FROM device WHERE token_sha256 = ?1 AND revoked_at IS NULL"
            ))?
            .query_row([token_sha256], device_row)
            .optional()?)
        })?;
        if let Some(d) = &dev
            && d.last_used_at.is_none_or(|t| now() - t > LAST_USED_GRANULARITY)
        {
            self.0.write(|t| {
                t.tx.execute("UPDATE device SET last_used_at = ?2 WHERE id = ?1", params![d.id, now()])?;
                Ok(())
            })?;
        }
        Ok(dev)
    }
}
