//! What a phone set on an identity: the name, replyTo, bcc and signatures of one of the
//! mailbox's company addresses (RFC 8621 section 6.3).
//!
//! The identities themselves come from the config (one per company address); this table only
//! keeps what a device changed, keyed by the address, so that reordering the config's
//! addresses keeps each setting with its address. An update reads, patches and writes the
//! settings in one transaction (its `ifInState` checked there too), and is logged as an
//! Identity change under the account's modseq, so `Identity/changes` sees it. Nothing
//! here decides what is valid: the JMAP side checks the values before they reach the store.
//! Reached as `store.identities()`.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, params};

use super::{ObjType, Op, Result, Store, now};

/// An address of `replyTo` or `bcc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityAddress {
    pub name: Option<String>,
    pub email: String,
}

/// What a device set on one identity. `name: None` is the config's mailbox name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentitySettings {
    pub name: Option<String>,
    pub reply_to: Option<Vec<IdentityAddress>>,
    pub bcc: Option<Vec<IdentityAddress>>,
    pub text_signature: String,
    pub html_signature: String,
}

/// One update: the identity's object id in the change log, its address, its new settings.
#[derive(Debug, Clone)]
pub struct IdentityUpdate {
    pub object_id: i64,
    pub email: String,
    pub settings: IdentitySettings,
}

/// The identity settings, reached as `store.identities()`.
#[derive(Clone, Copy)]
pub struct Identities<'a>(&'a Store);

impl Store {
    /// What devices set on the mailbox's identities.
    pub fn identities(&self) -> Identities<'_> {
        Identities(self)
    }
}

fn to_json(list: &Option<Vec<IdentityAddress>>) -> Option<String> {
    list.as_ref().map(|l| {
        serde_json::Value::Array(l.iter().map(|a| serde_json::json!({"name": a.name, "email": a.email})).collect())
            .to_string()
    })
}

fn from_json(text: Option<String>) -> Option<Vec<IdentityAddress>> {
    let v: serde_json::Value = serde_json::from_str(&text?).ok()?;
    Some(
        v.as_array()?
            .iter()
            .filter_map(|a| {
                Some(IdentityAddress {
                    name: a.get("name").and_then(|n| n.as_str()).map(String::from),
                    email: a.get("email")?.as_str()?.to_string(),
                })
            })
            .collect(),
    )
}

const SELECT: &str = "SELECT email, name, reply_to, bcc, text_signature, html_signature
                      FROM identity_setting WHERE account = ?1";

fn read_settings(c: &rusqlite::Connection, account: &str) -> Result<HashMap<String, IdentitySettings>> {
    let mut s = c.prepare_cached(SELECT)?;
    let rows = s.query_map([account], |r| {
        Ok((
            r.get::<_, String>(0)?,
            IdentitySettings {
                name: r.get(1)?,
                reply_to: from_json(r.get(2)?),
                bcc: from_json(r.get(3)?),
                text_signature: r.get(4)?,
                html_signature: r.get(5)?,
            },
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

impl Identities<'_> {
    /// The settings of `account`'s identities that a device changed, by address (lowercased).
    pub fn settings(&self, account: &str) -> Result<HashMap<String, IdentitySettings>> {
        self.0.read(|c| read_settings(c, account))
    }

    /// Patch `account`'s identity settings in one write transaction: `patch` is given the
    /// settings as they are inside it (so a concurrent update is never lost) and returns the
    /// updates to store, each logged as an Identity change, and what the caller wants back.
    /// `if_in_state`: the Identity modseq the client saw; None (and nothing written) if the
    /// account has moved on since.
    pub fn update<T>(
        &self,
        account: &str,
        if_in_state: Option<i64>,
        patch: impl FnOnce(HashMap<String, IdentitySettings>) -> (Vec<IdentityUpdate>, T),
    ) -> Result<Option<T>> {
        self.0.write(|t| {
            if let Some(want) = if_in_state {
                let now_at: i64 =
                    t.tx.query_row(
                        "SELECT modseq FROM type_state WHERE account = ?1 AND type = ?2",
                        params![account, ObjType::Identity as i64],
                        |r| r.get(0),
                    )
                    .optional()?
                    .unwrap_or(0);
                if now_at != want {
                    return Ok(None);
                }
            }
            let (updates, out) = patch(read_settings(&t.tx, account)?);
            for u in &updates {
                let s = &u.settings;
                t.tx.prepare_cached(
                    "INSERT INTO identity_setting
                       (account, email, name, reply_to, bcc, text_signature, html_signature, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT(account, email) DO UPDATE SET name = excluded.name,
                       reply_to = excluded.reply_to, bcc = excluded.bcc,
                       text_signature = excluded.text_signature, html_signature = excluded.html_signature,
                       updated_at = excluded.updated_at",
                )?
                .execute(params![
                    account,
                    u.email.to_lowercase(),
                    s.name,
                    to_json(&s.reply_to),
                    to_json(&s.bcc),
                    s.text_signature,
                    s.html_signature,
                    now()
                ])?;
                t.log(account, ObjType::Identity, u.object_id, Op::Updated, None)?;
            }
            Ok(Some(out))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_store;

    #[test]
    fn settings_round_trip_and_each_update_is_logged() {
        let (_d, s) = test_store();
        assert!(s.identities().settings("becker").unwrap().is_empty());
        let before = s.changes().states("becker").unwrap().unwrap().modseq(ObjType::Identity);
        let settings = IdentitySettings {
            name: Some("Hans Becker (Büro)".into()),
            reply_to: Some(vec![IdentityAddress { name: None, email: "buero@bau-firma.test".into() }]),
            bcc: None,
            text_signature: "Mit freundlichen Grüßen\nHans Becker".into(),
            html_signature: String::new(),
        };
        let put = |u: IdentityUpdate| s.identities().update("becker", None, |_| (vec![u], ())).unwrap().unwrap();
        put(IdentityUpdate { object_id: 0, email: "Becker@Bau-Firma.test".into(), settings: settings.clone() });
        let got = s.identities().settings("becker").unwrap();
        assert_eq!(got.get("becker@bau-firma.test"), Some(&settings), "keyed by the lowercased address");
        let after = s.changes().states("becker").unwrap().unwrap().modseq(ObjType::Identity);
        assert!(after > before, "the Identity state moved");
        let c = s.changes().since("becker", ObjType::Identity, before, 100).unwrap().unwrap();
        assert_eq!(c.updated, vec![0]);

        // A second update replaces the first; a missing list stays missing.
        let plain = IdentitySettings { name: Some("H. Becker".into()), ..Default::default() };
        put(IdentityUpdate { object_id: 0, email: "becker@bau-firma.test".into(), settings: plain.clone() });
        assert_eq!(s.identities().settings("becker").unwrap()["becker@bau-firma.test"], plain);
        assert!(s.identities().settings("other").unwrap().is_empty(), "other accounts see nothing");
    }

    #[test]
    fn a_patch_sees_what_a_concurrent_update_wrote_and_a_stale_state_writes_nothing() {
        let (_d, s) = test_store();
        let id = |name: &str, sig: &str| IdentityUpdate {
            object_id: 0,
            email: "becker@bau-firma.test".into(),
            settings: IdentitySettings { name: Some(name.into()), text_signature: sig.into(), ..Default::default() },
        };
        let state = s.changes().states("becker").unwrap().unwrap().modseq(ObjType::Identity);
        let (started, go) = std::sync::mpsc::channel();
        std::thread::scope(|scope| {
            // A: changes the signature, and holds its transaction a moment.
            scope.spawn(|| {
                s.identities()
                    .update("becker", None, |_| {
                        started.send(()).unwrap();
                        std::thread::sleep(std::time::Duration::from_millis(200));
                        (vec![id("Hans Becker", "Gruß")], ())
                    })
                    .unwrap()
                    .unwrap();
            });
            go.recv().unwrap();
            // B: changes the name only, patching what it finds: A's signature stays.
            s.identities()
                .update("becker", None, |now| {
                    let mut cur = now.get("becker@bau-firma.test").cloned().unwrap_or_default();
                    cur.name = Some("H. Becker".into());
                    (vec![IdentityUpdate { settings: cur, ..id("", "") }], ())
                })
                .unwrap()
                .unwrap();
        });
        let got = &s.identities().settings("becker").unwrap()["becker@bau-firma.test"];
        assert_eq!((got.name.as_deref(), got.text_signature.as_str()), (Some("H. Becker"), "Gruß"));
        // The state seen before both is stale now: nothing is written.
        let r = s.identities().update("becker", Some(state), |_| (vec![id("X", "Y")], ())).unwrap();
        assert!(r.is_none());
        assert_eq!(
            s.identities().settings("becker").unwrap()["becker@bau-firma.test"].name.as_deref(),
            Some("H. Becker")
        );
    }
}
