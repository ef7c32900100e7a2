//! JMAP push subscriptions (RFC 8620 section 7.2): which URL a device's push service gave it,
//! the Web Push keys, the verification codes, the expiry and the types it wants.
//!
//! A subscription belongs to the device that made it: every call of the devices' side names
//! the device, so another device's credential can neither see nor change it. The delivery
//! reads through [`Push::live`] and [`Push::all_live`], which see only subscriptions of
//! devices that are not revoked and have not expired. Every write wakes the delivery
//! ([`Push::wake`]) after its commit, so a new subscription's verification goes out at once
//! and nothing polls. The URL and keys are secrets of the phone's push service: this file
//! hands them to the delivery and nothing else, and [`Subscription`]'s `Debug` shows only
//! the URL's host. Reached as `store.push()`.

use rusqlite::{OptionalExtension, params};
use tokio::sync::Notify;

use super::{Result, Store, now};

/// The phone's Web Push keys (RFC 8291): its P-256 public key (65 bytes, uncompressed) and
/// its authentication secret (16 bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct WebPushKeys {
    pub p256dh: Vec<u8>,
    pub auth: Vec<u8>,
}

/// A subscription as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: i64,
    pub device: i64,
    pub device_client_id: String,
    pub url: String,
    pub keys: Option<WebPushKeys>,
    /// The code sent to the URL in the PushVerification.
    pub server_code: String,
    /// The code the client set since (RFC 8620: `verificationCode`).
    pub client_code: Option<String>,
    pub verification_sent: bool,
    /// Unix seconds.
    pub expires: i64,
    /// Type names to push; None: every type.
    pub types: Option<Vec<String>>,
}

impl Subscription {
    /// Whether the client proved it received the PushVerification: only then may anything
    /// else go to the URL.
    pub fn verified(&self) -> bool {
        self.client_code.as_deref() == Some(self.server_code.as_str())
    }

    /// The URL's host (and port), the only part of it a log may show.
    pub fn host(&self) -> &str {
        url_host(&self.url)
    }
}

/// The host of an `https://host[:port]/secret` URL; the path and any user info stay out.
pub fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    authority.rsplit_once('@').map_or(authority, |(_, h)| h)
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .field("device", &self.device)
            .field("host", &self.host())
            .field("encrypted", &self.keys.is_some())
            .field("verified", &self.verified())
            .field("verification_sent", &self.verification_sent)
            .field("expires", &self.expires)
            .field("types", &self.types)
            .finish()
    }
}

/// A subscription of a live device, with what the delivery needs of the device: its own
/// mailbox and its grants (the accounts it may see, as far as the config still has them).
#[derive(Debug, Clone)]
pub struct Live {
    pub sub: Subscription,
    pub mailbox: String,
    pub grants: Vec<String>,
}

/// A new subscription.
pub struct NewSubscription<'a> {
    pub device: i64,
    pub device_client_id: &'a str,
    pub url: &'a str,
    pub keys: Option<WebPushKeys>,
    pub server_code: &'a str,
    pub expires: i64,
    pub types: Option<&'a [String]>,
}

/// What a device may change of its subscription (RFC 8620 section 7.2.2); None leaves a
/// property as it is.
#[derive(Debug, Default)]
pub struct Update {
    pub client_code: Option<Option<String>>,
    pub expires: Option<i64>,
    pub types: Option<Option<Vec<String>>>,
}

const COLUMNS: &str = "s.id, s.device, s.device_client_id, s.url, s.p256dh, s.auth, s.server_code, s.client_code, \
                       s.verification_sent, s.expires, s.types";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Subscription> {
    let (p256dh, auth): (Option<Vec<u8>>, Option<Vec<u8>>) = (r.get(4)?, r.get(5)?);
    let types: Option<String> = r.get(10)?;
    Ok(Subscription {
        id: r.get(0)?,
        device: r.get(1)?,
        device_client_id: r.get(2)?,
        url: r.get(3)?,
        keys: p256dh.zip(auth).map(|(p256dh, auth)| WebPushKeys { p256dh, auth }),
        server_code: r.get(6)?,
        client_code: r.get(7)?,
        verification_sent: r.get(8)?,
        expires: r.get(9)?,
        types: types.and_then(|t| serde_json::from_str(&t).ok()),
    })
}

fn live_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Live> {
    Ok(Live {
        sub: row(r)?,
        mailbox: r.get(11)?,
        grants: serde_json::from_str(&r.get::<_, String>(12)?).unwrap_or_default(),
    })
}

fn types_json(types: Option<&[String]>) -> Option<String> {
    types.map(|t| serde_json::to_string(t).unwrap_or_else(|_| "[]".into()))
}

/// The push subscriptions, reached as `store.push()`.
#[derive(Clone, Copy)]
pub struct Push<'a>(&'a Store);

impl Store {
    /// The push subscriptions.
    pub fn push(&self) -> Push<'_> {
        Push(self)
    }
}

impl<'a> Push<'a> {
    /// What the delivery waits on: notified after every write to the subscriptions.
    pub fn wake(&self) -> &'a Notify {
        &self.0.inner.push_wake
    }

    fn written<R>(&self, r: Result<R>) -> Result<R> {
        if r.is_ok() {
            self.0.inner.push_wake.notify_one();
        }
        r
    }

    /// Add a subscription, unless its device already has `max` live ones (None then). The
    /// count is taken in the insert's transaction, so two requests at once cannot pass it.
    pub fn create(&self, s: &NewSubscription<'_>, max: usize) -> Result<Option<i64>> {
        let r = self.0.write(|t| {
            let live: i64 = t.tx.query_row(
                "SELECT COUNT(*) FROM push_subscription WHERE device = ?1 AND expires > ?2",
                params![s.device, now()],
                |r| r.get(0),
            )?;
            if live >= max as i64 {
                return Ok(None);
            }
            t.tx.execute(
                "INSERT INTO push_subscription (device, device_client_id, url, p256dh, auth, server_code, expires, types, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    s.device,
                    s.device_client_id,
                    s.url,
                    s.keys.as_ref().map(|k| &k.p256dh),
                    s.keys.as_ref().map(|k| &k.auth),
                    s.server_code,
                    s.expires,
                    types_json(s.types),
                    now()
                ],
            )?;
            Ok(Some(t.tx.last_insert_rowid()))
        });
        self.written(r)
    }

    /// The device's subscriptions that have not expired, by id.
    pub fn of_device(&self, device: i64) -> Result<Vec<Subscription>> {
        self.0.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM push_subscription s WHERE s.device = ?1 AND s.expires > ?2 ORDER BY s.id"
            ))?;
            Ok(st.query_map(params![device, now()], row)?.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Change the device's subscription `id`; false if the device has no such subscription.
    pub fn update(&self, device: i64, id: i64, u: &Update) -> Result<bool> {
        let r = self.0.write(|t| {
            let mine =
                t.tx.query_row(
                    "SELECT 1 FROM push_subscription WHERE id = ?1 AND device = ?2 AND expires > ?3",
                    params![id, device, now()],
                    |_| Ok(()),
                )
                .optional()?;
            if mine.is_none() {
                return Ok(false);
            }
            if let Some(code) = &u.client_code {
                t.tx.execute("UPDATE push_subscription SET client_code = ?2 WHERE id = ?1", params![id, code])?;
            }
            if let Some(expires) = u.expires {
                t.tx.execute("UPDATE push_subscription SET expires = ?2 WHERE id = ?1", params![id, expires])?;
            }
            if let Some(types) = &u.types {
                t.tx.execute(
                    "UPDATE push_subscription SET types = ?2 WHERE id = ?1",
                    params![id, types_json(types.as_deref())],
                )?;
            }
            Ok(true)
        });
        self.written(r)
    }

    /// Destroy the device's subscription `id`; false if the device has no such subscription.
    pub fn destroy(&self, device: i64, id: i64) -> Result<bool> {
        let r = self.0.write(|t| {
            Ok(t.tx.execute("DELETE FROM push_subscription WHERE id = ?1 AND device = ?2", params![id, device])? == 1)
        });
        self.written(r)
    }

    /// The subscription `id` if its device is live and it has not expired at `at`.
    pub fn live(&self, id: i64, at: i64) -> Result<Option<Live>> {
        self.0.read(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {COLUMNS}, d.mailbox, d.grants FROM push_subscription s JOIN device d ON d.id = s.device
                 WHERE s.id = ?1 AND s.expires > ?2 AND d.revoked_at IS NULL"
            ))?
            .query_row(params![id, at], live_row)
            .optional()?)
        })
    }

    /// Every subscription of a live device that has not expired at `at`.
    pub fn all_live(&self, at: i64) -> Result<Vec<Live>> {
        self.0.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLUMNS}, d.mailbox, d.grants FROM push_subscription s JOIN device d ON d.id = s.device
                 WHERE s.expires > ?1 AND d.revoked_at IS NULL ORDER BY s.id"
            ))?;
            Ok(st.query_map(params![at], live_row)?.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// The push service took the PushVerification of `id`.
    pub fn verification_sent(&self, id: i64) -> Result<()> {
        self.0.write(|t| {
            t.tx.execute("UPDATE push_subscription SET verification_sent = 1 WHERE id = ?1", [id])?;
            Ok(())
        })
    }

    /// Remove `id` whoever owns it: its push service said the URL is gone (404, 410).
    pub fn remove(&self, id: i64) -> Result<bool> {
        self.0.write(|t| Ok(t.tx.execute("DELETE FROM push_subscription WHERE id = ?1", [id])? == 1))
    }

    /// Remove every subscription that expired at or before `at`, and those of revoked devices.
    pub fn remove_expired(&self, at: i64) -> Result<usize> {
        self.0.write(|t| {
            Ok(t.tx.execute(
                "DELETE FROM push_subscription WHERE expires <= ?1
                 OR device IN (SELECT id FROM device WHERE revoked_at IS NOT NULL)",
                [at],
            )?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new<'a>(device: i64, url: &'a str, types: Option<&'a [String]>) -> NewSubscription<'a> {
        NewSubscription {
            device,
            device_client_id: "phone",
            url,
            keys: None,
            server_code: "code",
            expires: now() + 3600,
            types,
        }
    }

    #[test]
    fn a_subscription_belongs_to_its_device() {
        let (_d, s) = super::super::test_store();
        let a = s.devices().add("becker", "a", &[], "h1").unwrap();
        let b = s.devices().add("becker", "b", &[], "h2").unwrap();
        let types = vec!["Email".to_string()];
        let id = s.push().create(&new(a, "https://push.test/secret", Some(&types)), 16).unwrap().unwrap();
        assert_eq!(s.push().of_device(a).unwrap().len(), 1);
        assert!(s.push().of_device(b).unwrap().is_empty());
        assert!(!s.push().update(b, id, &Update { expires: Some(now() + 10), ..Default::default() }).unwrap());
        assert!(!s.push().destroy(b, id).unwrap());
        let got = &s.push().of_device(a).unwrap()[0];
        assert_eq!(got.types, Some(types));
        assert!(!got.verified());
        let u = Update { client_code: Some(Some("code".into())), ..Default::default() };
        assert!(s.push().update(a, id, &u).unwrap());
        assert!(s.push().live(id, now()).unwrap().unwrap().sub.verified());
        // The Debug form shows the host, never the secret path.
        let dbg = format!("{got:?}");
        assert!(dbg.contains("push.test") && !dbg.contains("secret"), "{dbg}");
        s.devices().revoke(a).unwrap();
        assert!(s.push().live(id, now()).unwrap().is_none(), "a revoked device's subscription is not live");
        assert_eq!(s.push().remove_expired(now()).unwrap(), 1);
        assert!(s.push().of_device(a).unwrap().is_empty());
    }

    #[test]
    fn expired_subscriptions_are_not_live_and_are_removed() {
        let (_d, s) = super::super::test_store();
        let a = s.devices().add("becker", "a", &[], "h1").unwrap();
        let id = s.push().create(&new(a, "https://push.test/x", None), 16).unwrap().unwrap();
        assert!(s.push().live(id, now() + 3599).unwrap().is_some());
        assert!(s.push().live(id, now() + 3600).unwrap().is_none());
        assert_eq!(s.push().remove_expired(now()).unwrap(), 0);
        assert_eq!(s.push().remove_expired(now() + 3600).unwrap(), 1);
    }

    #[test]
    fn the_limit_per_device_is_counted_in_the_insert() {
        let (_d, s) = super::super::test_store();
        let a = s.devices().add("becker", "a", &[], "h1").unwrap();
        let b = s.devices().add("becker", "b", &[], "h2").unwrap();
        for _ in 0..2 {
            assert!(s.push().create(&new(a, "https://push.test/x", None), 2).unwrap().is_some());
        }
        assert_eq!(s.push().create(&new(a, "https://push.test/x", None), 2).unwrap(), None);
        assert!(s.push().create(&new(b, "https://push.test/x", None), 2).unwrap().is_some(), "per device");
        assert_eq!(s.push().of_device(a).unwrap().len(), 2);
    }

    #[test]
    fn only_the_host_of_a_url_is_shown() {
        assert_eq!(url_host("https://push.test:8443/a/b?c"), "push.test:8443");
        assert_eq!(url_host("https://user:pw@push.test/x"), "push.test");
        assert_eq!(url_host("https://push.test"), "push.test");
    }
}
