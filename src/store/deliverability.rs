//! The doctor's table: the last verdict per mailbox, company domain and path.
//!
//! Saving a verdict returns the previous definite level in the same transaction, so the daily
//! check can warn when it got worse. A "could not check" result never overwrites the last
//! definite level. This module stores and reads; it never judges.

use rusqlite::{OptionalExtension, params};

use super::{Result, Store};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredVerdict {
    pub account: String,
    pub domain: String,
    pub transport: String,
    pub configured: bool,
    pub level: String,
    pub definite_level: Option<String>,
    pub reason_de: String,
    pub reason_en: String,
    pub fix_de: Option<String>,
    pub fix_en: Option<String>,
    /// JSON text.
    pub report: String,
    pub checked_at: i64,
}

/// The doctor's verdicts, reached as `store.verdicts()`.
#[derive(Clone, Copy)]
pub struct Verdicts<'a>(&'a Store);

impl Store {
    /// The last verdict per mailbox, domain and path.
    pub fn verdicts(&self) -> Verdicts<'_> {
        Verdicts(self)
    }
}

impl Verdicts<'_> {
    /// Replace the verdict for (account, domain, transport); returns the definite level it had
    /// before (`None` when there was none). `v.definite_level` is ignored: it is derived here.
    pub fn save(&self, v: &StoredVerdict) -> Result<Option<String>> {
        self.0.write(|t| {
            let before: Option<String> = t
                .tx
                .query_row(
                    "SELECT definite_level FROM deliverability_verdict WHERE account = ?1 AND domain = ?2 AND transport = ?3",
                    params![v.account, v.domain, v.transport],
                    |r| r.get(0),
                )
                .optional()?
                .flatten();
            let definite = if v.level == "could_not_check" { before.clone() } else { Some(v.level.clone()) };
            t.tx.execute(
                "INSERT INTO deliverability_verdict
                   (account, domain, transport, configured, level, definite_level, reason_de, reason_en, fix_de, fix_en, report, checked_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                 ON CONFLICT(account, domain, transport) DO UPDATE SET
                   configured = excluded.configured, level = excluded.level, definite_level = excluded.definite_level,
                   reason_de = excluded.reason_de, reason_en = excluded.reason_en, fix_de = excluded.fix_de,
                   fix_en = excluded.fix_en, report = excluded.report, checked_at = excluded.checked_at",
                params![
                    v.account, v.domain, v.transport, v.configured, v.level, definite, v.reason_de, v.reason_en, v.fix_de,
                    v.fix_en, v.report, v.checked_at
                ],
            )?;
            Ok(before)
        })
    }

    /// Every stored verdict of an account, the configured path first.
    pub fn all(&self, account: &str) -> Result<Vec<StoredVerdict>> {
        self.0.read(|c| {
            let mut s = c.prepare(
                "SELECT account, domain, transport, configured, level, definite_level, reason_de, reason_en, fix_de, fix_en, report, checked_at
                 FROM deliverability_verdict WHERE account = ?1 ORDER BY configured DESC, domain, transport",
            )?;
            let rows = s
                .query_map([account], |r| {
                    Ok(StoredVerdict {
                        account: r.get(0)?,
                        domain: r.get(1)?,
                        transport: r.get(2)?,
                        configured: r.get(3)?,
                        level: r.get(4)?,
                        definite_level: r.get(5)?,
                        reason_de: r.get(6)?,
                        reason_en: r.get(7)?,
                        fix_de: r.get(8)?,
                        fix_en: r.get(9)?,
                        report: r.get(10)?,
                        checked_at: r.get(11)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(level: &str) -> StoredVerdict {
        StoredVerdict {
            account: "becker".into(),
            domain: "bau-firma.de".into(),
            transport: "relay".into(),
            configured: true,
            level: level.into(),
            definite_level: None,
            reason_de: "Grund".into(),
            reason_en: "reason".into(),
            fix_de: None,
            fix_en: None,
            report: "{}".into(),
            checked_at: 1,
        }
    }

    #[test]
    fn could_not_check_keeps_the_last_definite_level() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.sqlite")).unwrap();
        store.ensure_accounts(["becker"]).unwrap();
        assert_eq!(store.verdicts().save(&v("ok")).unwrap(), None);
        assert_eq!(store.verdicts().save(&v("could_not_check")).unwrap().as_deref(), Some("ok"));
        assert_eq!(store.verdicts().save(&v("will_fail")).unwrap().as_deref(), Some("ok"));
        let rows = store.verdicts().all("becker").unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].level.as_str(), rows[0].definite_level.as_deref()), ("will_fail", Some("will_fail")));
    }
}
