//! The one-time links to phones' setup profiles (`postbote device add`), reached as
//! `store.setup_links()`.
//!
//! A row holds the SHA-256 of a link's secret and the profile sealed under a key derived from
//! that secret (the `onboard` module seals and opens; the store only keeps bytes). [`take`]
//! hands the sealed profile out once, within its lifetime, and in the same transaction forgets
//! it; after that, after expiry, or once the device is revoked, the link is [`Take::Gone`]
//! for a week, and then unknown. Nothing here ever sees a token or a link in clear.
//!
//! [`take`]: SetupLinks::take

use rusqlite::{OptionalExtension, params};

use super::{Result, Store};

/// How long a used or expired link is still known as gone (rather than unknown).
const GONE_KEPT_SECS: i64 = 7 * 86_400;

/// What a link's hash finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Take {
    /// The sealed profile, handed out now and forgotten; the device's name for the file name.
    Profile { sealed: Vec<u8>, device: i64, device_name: String },
    /// Used before, expired, or its device revoked.
    Gone,
    /// No such link.
    Unknown,
}

/// A link's sealed profile, its device, the device's name and when it was revoked.
type LinkRow = (Option<Vec<u8>>, i64, String, Option<i64>);

/// The setup links, reached as `store.setup_links()`.
#[derive(Clone, Copy)]
pub struct SetupLinks<'a>(&'a Store);

impl Store {
    /// The one-time setup links.
    pub fn setup_links(&self) -> SetupLinks<'_> {
        SetupLinks(self)
    }
}

fn forget_expired(tx: &rusqlite::Transaction<'_>, now: i64) -> rusqlite::Result<usize> {
    let n = tx.execute("UPDATE setup_link SET sealed = NULL WHERE sealed IS NOT NULL AND expires_at <= ?1", [now])?;
    tx.execute("DELETE FROM setup_link WHERE MAX(expires_at, COALESCE(used_at, 0)) <= ?1", [now - GONE_KEPT_SECS])?;
    Ok(n)
}

impl SetupLinks<'_> {
    /// Keep `sealed` for the device `device` under the link whose secret hashes to
    /// `link_sha256`, until `expires_at` (unix seconds).
    pub fn add(&self, device: i64, link_sha256: &str, sealed: &[u8], now: i64, expires_at: i64) -> Result<()> {
        self.0.write(|t| {
            forget_expired(&t.tx, now)?;
            t.tx.execute(
                "INSERT INTO setup_link (link_sha256, device, sealed, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![link_sha256, device, sealed, now, expires_at],
            )?;
            Ok(())
        })
    }

    /// Hand out the profile of the link hashing to `link_sha256` once; see [`Take`].
    pub fn take(&self, link_sha256: &str, now: i64) -> Result<Take> {
        self.0.write(|t| {
            forget_expired(&t.tx, now)?;
            let row: Option<LinkRow> =
                t.tx.query_row(
                    "SELECT l.sealed, l.device, d.name, d.revoked_at FROM setup_link l JOIN device d ON d.id = l.device
                     WHERE l.link_sha256 = ?1",
                    [link_sha256],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?;
            let Some((sealed, device, device_name, revoked)) = row else { return Ok(Take::Unknown) };
            t.tx.execute(
                "UPDATE setup_link SET sealed = NULL, used_at = COALESCE(used_at, ?2) WHERE link_sha256 = ?1",
                params![link_sha256, now],
            )?;
            match sealed {
                Some(sealed) if revoked.is_none() => Ok(Take::Profile { sealed, device, device_name }),
                _ => Ok(Take::Gone),
            }
        })
    }

    /// Forget the profiles of expired links, and links gone for a week; how many profiles
    /// were forgotten.
    pub fn purge(&self, now: i64) -> Result<usize> {
        self.0.write(|t| Ok(forget_expired(&t.tx, now)?))
    }

    /// Links of `device` whose profile can still be downloaded.
    pub fn pending(&self, device: i64) -> Result<i64> {
        self.0.read(|c| {
            Ok(c.query_row(
                "SELECT COUNT(*) FROM setup_link WHERE device = ?1 AND sealed IS NOT NULL",
                [device],
                |r| r.get(0),
            )?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_then_gone_expired_gone_revoked_gone_unknown_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.sqlite")).unwrap();
        store.ensure_accounts(["becker"]).unwrap();
        let dev = store.devices().add("becker", "iPhone", &[], "h").unwrap();
        let links = store.setup_links();
        links.add(dev, "aa", b"sealed-a", 1000, 1900).unwrap();
        links.add(dev, "bb", b"sealed-b", 1000, 1900).unwrap();
        links.add(dev, "cc", b"sealed-c", 1000, 1900).unwrap();
        assert_eq!(links.pending(dev).unwrap(), 3);
        assert_eq!(
            links.take("aa", 1100).unwrap(),
            Take::Profile { sealed: b"sealed-a".to_vec(), device: dev, device_name: "iPhone".into() }
        );
        assert_eq!(links.take("aa", 1101).unwrap(), Take::Gone, "a second use");
        assert_eq!(links.take("zz", 1101).unwrap(), Take::Unknown);
        assert_eq!(links.take("bb", 1900).unwrap(), Take::Gone, "expired");
        assert!(store.devices().revoke(dev).unwrap());
        assert_eq!(links.pending(dev).unwrap(), 0, "revoking forgets the profile");
        assert_eq!(links.take("cc", 1200).unwrap(), Take::Gone, "revoked");
        assert_eq!(links.take("aa", 1900 + GONE_KEPT_SECS).unwrap(), Take::Unknown, "after a week, forgotten");
    }
}
