//! What a phone set on an identity: the name, replyTo, bcc and signatures of one of the
//! mailbox's company addresses (RFC 8621 section 6.3).
//!
//! The identities themselves come from the config (one per company address); this table only
//! keeps what a device changed, keyed by the address, so that reordering the config's
//! addresses keeps each setting with its address. An update is logged as an Identity change
//! under the account's modseq in its own transaction, so `Identity/changes` sees it. Nothing
//! here decides what is valid: the JMAP side checks the values before they reach the store.
//! Reached as `store.identities()`.

use std::collections::HashMap;

use rusqlite::params;

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

impl Identities<'_> {
    /// The settings of `account`'s identities that a device changed, by address (lowercased).
    pub fn settings(&self, account: &str) -> Result<HashMap<String, IdentitySettings>> {
        self.0.read(|c| {
            let mut s = c.prepare_cached(
                "SELECT email, name, reply_to, bcc, text_signature, html_signature
                 FROM identity_setting WHERE account = ?1",
            )?;
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
        })
    }

    /// Store the new settings of these identities and log each as updated, in one transaction.
    pub fn update(&self, account: &str, updates: &[IdentityUpdate]) -> Result<()> {
        if updates.is_empty() {
            return Ok(());
        }
        self.0.write(|t| {
            for u in updates {
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
            Ok(())
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
        s.identities()
            .update(
                "becker",
                &[IdentityUpdate { object_id: 0, email: "Becker@Bau-Firma.test".into(), settings: settings.clone() }],
            )
            .unwrap();
        let got = s.identities().settings("becker").unwrap();
        assert_eq!(got.get("becker@bau-firma.test"), Some(&settings), "keyed by the lowercased address");
        let after = s.changes().states("becker").unwrap().unwrap().modseq(ObjType::Identity);
        assert!(after > before, "the Identity state moved");
        let c = s.changes().since("becker", ObjType::Identity, before, 100).unwrap().unwrap();
        assert_eq!(c.updated, vec![0]);

        // A second update replaces the first; a missing list stays missing.
        let plain = IdentitySettings { name: Some("H. Becker".into()), ..Default::default() };
        s.identities()
            .update(
                "becker",
                &[IdentityUpdate { object_id: 0, email: "becker@bau-firma.test".into(), settings: plain.clone() }],
            )
            .unwrap();
        assert_eq!(s.identities().settings("becker").unwrap()["becker@bau-firma.test"], plain);
        assert!(s.identities().settings("other").unwrap().is_empty(), "other accounts see nothing");
    }
}
