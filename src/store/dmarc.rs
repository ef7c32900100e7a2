//! The DMARC aggregate reports' tables: each report once, the mails that were not reports, the
//! per-day figures by source address, and which messages of a reports folder were read.
//!
//! [`Dmarc::keep`] is the one write: in one transaction it marks the message read (`dmarc_seen`)
//! and either keeps the report and adds its rows to the day figures, or, when a report with the
//! same (reporter org, report id) is already kept, adds nothing; a mail that is no report is
//! kept as broken with its reason. So a crash never counts a report twice nor reads one twice.
//! The collector reads the folder's messages that have no `dmarc_seen` row ([`Dmarc::waiting`]),
//! whatever their id: a message moved into the folder keeps its id and is still read.
//! The day rows keep the source address, not the sending path: the path is decided when the
//! figures are read (rows come back [`ReportPath::Unchecked`]). This module stores and sums; it
//! never parses a report or classifies an address (that is `deliverability`).

use rusqlite::{OptionalExtension, params};

use super::{Result, Store, now};

/// The sending path a report's source address was classified into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReportPath {
    /// The company's own SMTP server (`[direct]`).
    Direct,
    /// The hosted relay (`[relay]`).
    Relay,
    /// Neither: a forwarder, a mailing list, someone sending in the company's name.
    Unknown,
    /// Not known yet: the address is not classified (as the store returns a row), or a path's
    /// addresses could not be looked up, so it cannot be told apart from the paths.
    Unchecked,
}

impl ReportPath {
    pub const ALL: [ReportPath; 4] =
        [ReportPath::Direct, ReportPath::Relay, ReportPath::Unknown, ReportPath::Unchecked];

    pub fn as_str(self) -> &'static str {
        match self {
            ReportPath::Direct => "direct",
            ReportPath::Relay => "relay",
            ReportPath::Unknown => "unknown",
            ReportPath::Unchecked => "unchecked",
        }
    }

    pub fn parse(s: &str) -> Option<ReportPath> {
        ReportPath::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// One report as it is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportHead {
    pub org_name: String,
    /// The organisational domain of the reporter's address (`google.com`, `web.de`).
    pub reporter: String,
    pub report_id: String,
    pub date_begin: i64,
    pub date_end: i64,
    pub policy_domain: String,
    pub policy_p: String,
    pub policy_sp: String,
    pub policy_adkim: String,
    pub policy_aspf: String,
    pub records: i64,
    pub messages: i64,
}

/// Messages of one day, source address, reporter and result, and the path of the address once
/// it is classified.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DayRow {
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    pub source_ip: String,
    /// Not stored: [`ReportPath::Unchecked`] as kept and read back, until classified.
    pub path: ReportPath,
    pub reporter: String,
    pub header_from: String,
    pub spf: String,
    pub spf_aligned: bool,
    pub dkim: String,
    pub dkim_aligned: bool,
    pub disposition: String,
    pub messages: i64,
}

impl DayRow {
    /// DMARC passes with an aligned SPF or an aligned DKIM pass.
    pub fn dmarc_pass(&self) -> bool {
        self.spf_aligned || self.dkim_aligned
    }
}

/// What one message of the reports folder turned out to be.
#[derive(Debug, Clone)]
pub enum Reading {
    Report { head: ReportHead, rows: Vec<DayRow> },
    Broken { subject: String, error: String },
}

/// What [`Dmarc::keep`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    /// A new report: its figures were added.
    Counted,
    /// A report kept before (same reporter org and report id): nothing added.
    Duplicate,
    /// Not a report: kept as broken.
    Broken,
}

/// A mail that could not be read as a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenReport {
    pub account: String,
    pub message: i64,
    pub rfc_message_id: Option<String>,
    pub subject: String,
    pub error: String,
    pub stored_at: i64,
}

/// The DMARC report tables, reached as `store.dmarc()`.
#[derive(Clone, Copy)]
pub struct Dmarc<'a>(&'a Store);

impl Store {
    /// DMARC aggregate reports: which messages were read, the reports, their figures.
    pub fn dmarc(&self) -> Dmarc<'_> {
        Dmarc(self)
    }
}

impl Dmarc<'_> {
    /// Messages of `account` in the folder named `name` or with the role `role` that were not
    /// read yet, in id order, at most `limit`: (id, Message-ID).
    pub fn waiting(
        &self,
        account: &str,
        name: Option<&str>,
        role: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(i64, Option<String>)>> {
        self.0.read(|c| {
            let mut s = c.prepare_cached(
                "SELECT m.id, m.message_id FROM message m JOIN folder f ON f.id = m.folder_id
                 WHERE m.account = ?1 AND f.destroyed = 0
                   AND ((?2 IS NOT NULL AND (f.name = ?2 OR (upper(?2) = 'INBOX' AND upper(f.name) = 'INBOX')))
                        OR (?3 IS NOT NULL AND f.role = ?3))
                   AND NOT EXISTS (SELECT 1 FROM dmarc_seen s WHERE s.message = m.id)
                 ORDER BY m.id LIMIT ?4",
            )?;
            let rows = s
                .query_map(params![account, name, role, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// Mark `message` read with nothing else kept: other mail, or a message that vanished before
    /// it was read.
    pub fn pass_over(&self, message: i64) -> Result<()> {
        self.0.write(|t| seen(&t.tx, message, "passed"))
    }

    /// Whether `message` was read.
    pub fn is_seen(&self, message: i64) -> Result<bool> {
        self.0.read(|c| {
            Ok(c.query_row("SELECT 1 FROM dmarc_seen WHERE message = ?1", [message], |_| Ok(())).optional()?.is_some())
        })
    }

    /// Keep what `message` (of `account`, Message-ID `rfc_message_id`) turned out to be, and
    /// mark it read, in one transaction.
    pub fn keep(&self, account: &str, message: i64, rfc_message_id: Option<&str>, reading: &Reading) -> Result<Kept> {
        self.0.write(|t| {
            let tx = &t.tx;
            let at = now();
            match reading {
                Reading::Broken { subject, error } => {
                    seen(tx, message, "broken")?;
                    tx.execute(
                        "INSERT INTO dmarc_broken (account, message, rfc_message_id, subject, error, stored_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (account, message) DO NOTHING",
                        params![account, message, rfc_message_id, subject, error, at],
                    )?;
                    Ok(Kept::Broken)
                }
                Reading::Report { head: h, rows } => {
                    seen(tx, message, "report")?;
                    let inserted = tx.execute(
                        "INSERT INTO dmarc_report (account, message, rfc_message_id, org_name, reporter, report_id,
                           date_begin, date_end, policy_domain, policy_p, policy_sp, policy_adkim, policy_aspf,
                           records, messages, stored_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
                         ON CONFLICT (org_name, report_id) DO NOTHING",
                        params![
                            account,
                            message,
                            rfc_message_id,
                            h.org_name,
                            h.reporter,
                            h.report_id,
                            h.date_begin,
                            h.date_end,
                            h.policy_domain,
                            h.policy_p,
                            h.policy_sp,
                            h.policy_adkim,
                            h.policy_aspf,
                            h.records,
                            h.messages,
                            at
                        ],
                    )?;
                    if inserted == 0 {
                        return Ok(Kept::Duplicate);
                    }
                    let mut add = tx.prepare_cached(
                        "INSERT INTO dmarc_source_day (day, source_ip, reporter, header_from, spf, spf_aligned, dkim,
                           dkim_aligned, disposition, dmarc_pass, messages)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                         ON CONFLICT DO UPDATE SET messages = messages + excluded.messages",
                    )?;
                    for r in rows {
                        add.execute(params![
                            r.day,
                            r.source_ip,
                            r.reporter,
                            r.header_from,
                            r.spf,
                            r.spf_aligned,
                            r.dkim,
                            r.dkim_aligned,
                            r.disposition,
                            r.dmarc_pass(),
                            r.messages
                        ])?;
                    }
                    Ok(Kept::Counted)
                }
            }
        })
    }

    /// The day figures of the days `first ..= last`, ordered by their key, each
    /// [`ReportPath::Unchecked`].
    pub fn days(&self, first: i64, last: i64) -> Result<Vec<DayRow>> {
        self.0.read(|c| {
            let mut s = c.prepare_cached(
                "SELECT day, source_ip, reporter, header_from, spf, spf_aligned, dkim, dkim_aligned,
                        disposition, messages
                 FROM dmarc_source_day WHERE day >= ?1 AND day <= ?2
                 ORDER BY day, source_ip, reporter, header_from, spf, spf_aligned, dkim, dkim_aligned, disposition",
            )?;
            let rows = s
                .query_map([first, last], |r| {
                    Ok(DayRow {
                        day: r.get(0)?,
                        source_ip: r.get(1)?,
                        path: ReportPath::Unchecked,
                        reporter: r.get(2)?,
                        header_from: r.get(3)?,
                        spf: r.get(4)?,
                        spf_aligned: r.get(5)?,
                        dkim: r.get(6)?,
                        dkim_aligned: r.get(7)?,
                        disposition: r.get(8)?,
                        messages: r.get(9)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
    }

    /// How many reports are about a day of `first ..= last`: the day of their period's middle,
    /// as their rows are counted.
    pub fn report_count(&self, first: i64, last: i64) -> Result<i64> {
        self.0.read(|c| {
            Ok(c.query_row(
                "SELECT COUNT(*) FROM dmarc_report
                 WHERE (date_begin + max(date_end, date_begin)) / 2 / 86400 BETWEEN ?1 AND ?2",
                [first, last],
                |r| r.get(0),
            )?)
        })
    }

    /// Every kept report's (org name, report id), oldest first.
    pub fn report_ids(&self) -> Result<Vec<(String, String)>> {
        self.0.read(|c| {
            let mut s = c.prepare("SELECT org_name, report_id FROM dmarc_report ORDER BY id")?;
            let rows = s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// The mails that were not reports, newest first, at most `limit`.
    pub fn broken(&self, limit: usize) -> Result<Vec<BrokenReport>> {
        self.0.read(|c| {
            let mut s = c.prepare_cached(
                "SELECT account, message, rfc_message_id, subject, error, stored_at FROM dmarc_broken
                 ORDER BY stored_at DESC, message DESC LIMIT ?1",
            )?;
            let rows = s
                .query_map([limit as i64], |r| {
                    Ok(BrokenReport {
                        account: r.get(0)?,
                        message: r.get(1)?,
                        rfc_message_id: r.get(2)?,
                        subject: r.get(3)?,
                        error: r.get(4)?,
                        stored_at: r.get(5)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }
}

/// Mark `message` read, if it still exists (a message deleted meanwhile leaves nothing to mark).
fn seen(tx: &rusqlite::Transaction<'_>, message: i64, what: &str) -> Result<()> {
    tx.execute(
        "INSERT INTO dmarc_seen (message, what) SELECT ?1, ?2 WHERE EXISTS (SELECT 1 FROM message WHERE id = ?1)
         ON CONFLICT (message) DO NOTHING",
        params![message, what],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(id: &str, messages: i64) -> ReportHead {
        ReportHead {
            org_name: "google.com".into(),
            reporter: "google.com".into(),
            report_id: id.into(),
            date_begin: 86_400 * 20_000,
            date_end: 86_400 * 20_001 - 1,
            policy_domain: "bau-firma.de".into(),
            policy_p: "none".into(),
            policy_sp: "none".into(),
            policy_adkim: "r".into(),
            policy_aspf: "r".into(),
            records: 1,
            messages,
        }
    }

    fn row(messages: i64, spf_aligned: bool) -> DayRow {
        DayRow {
            day: 20_000,
            source_ip: "192.0.2.10".into(),
            path: ReportPath::Relay,
            reporter: "google.com".into(),
            header_from: "bau-firma.de".into(),
            spf: "pass".into(),
            spf_aligned,
            dkim: "none".into(),
            dkim_aligned: false,
            disposition: "none".into(),
            messages,
        }
    }

    /// A store of 0020 with figures keeps them at 0023: rows that differed only in their path
    /// add up, the cursor is gone, and a kept report's mail counts as read.
    #[test]
    fn the_upgrade_keeps_the_figures_without_their_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("postbote.db");
        let at = super::super::MIGRATIONS.iter().position(|(n, _)| *n == "0023_dmarc_seen").unwrap();
        {
            let c = rusqlite::Connection::open(&path).unwrap();
            for (_, sql) in &super::super::MIGRATIONS[..at] {
                c.execute_batch(sql).unwrap();
            }
            c.execute_batch(&format!(
                "PRAGMA user_version = {at};
                 INSERT INTO account (id, epoch, created_at) VALUES ('info', 'e1', 1);
                 INSERT INTO dmarc_cursor (account, last_message) VALUES ('info', 9);
                 INSERT INTO dmarc_report (account, message, org_name, reporter, report_id, date_begin, date_end,
                     policy_domain, policy_p, policy_sp, policy_adkim, policy_aspf, records, messages, stored_at)
                   VALUES ('info', 9, 'GMX', 'gmx.net', 'r1', 1728000000, 1728086399, 'bau-firma.de', 'none', 'none',
                     'r', 'r', 2, 7, 1);
                 INSERT INTO dmarc_day VALUES (20000, '192.0.2.1', 'unknown', 'gmx.net', 'bau-firma.de', 'pass', 1,
                     'none', 0, 'none', 1, 4);
                 INSERT INTO dmarc_day VALUES (20000, '192.0.2.1', 'direct', 'gmx.net', 'bau-firma.de', 'pass', 1,
                     'none', 0, 'none', 1, 3);"
            ))
            .unwrap();
        }
        let s = Store::open(&path).unwrap();
        let days = s.dmarc().days(0, i64::MAX).unwrap();
        assert_eq!(days.iter().map(|r| (r.source_ip.as_str(), r.messages)).collect::<Vec<_>>(), [("192.0.2.1", 7)]);
        assert_eq!(s.dmarc().report_count(20_000, 20_000).unwrap(), 1);
        let cursor: i64 = s
            .read(|c| {
                Ok(c.query_row(
                    "SELECT COUNT(*) FROM sqlite_master WHERE name IN ('dmarc_cursor', 'dmarc_day')",
                    [],
                    |r| r.get(0),
                )?)
            })
            .unwrap();
        assert_eq!(cursor, 0, "the cursor and the old day table are gone");
    }

    #[test]
    fn a_report_is_counted_once_and_same_keyed_rows_add_up() {
        let (_d, s) = crate::store::test_store();
        let r1 = Reading::Report { head: head("r1", 3), rows: vec![row(3, true)] };
        assert_eq!(s.dmarc().keep("becker", 5, Some("<a@x>"), &r1).unwrap(), Kept::Counted);
        assert_eq!(s.dmarc().keep("becker", 9, Some("<b@x>"), &r1).unwrap(), Kept::Duplicate);
        let r2 = Reading::Report { head: head("r2", 4), rows: vec![row(4, true), row(1, false)] };
        assert_eq!(s.dmarc().keep("becker", 7, None, &r2).unwrap(), Kept::Counted);
        let days = s.dmarc().days(0, i64::MAX).unwrap();
        assert_eq!(days.iter().map(|r| (r.spf_aligned, r.messages)).collect::<Vec<_>>(), [(false, 1), (true, 7)]);
        assert!(days.iter().all(|r| r.path == ReportPath::Unchecked), "the path is not stored");
        assert!(s.dmarc().days(20_001, i64::MAX).unwrap().is_empty());
        let broken = Reading::Broken { subject: "Report".into(), error: "no report found".into() };
        assert_eq!(s.dmarc().keep("becker", 11, None, &broken).unwrap(), Kept::Broken);
        assert_eq!(s.dmarc().broken(10).unwrap()[0].message, 11);
        assert_eq!(s.dmarc().report_ids().unwrap().len(), 2);
        assert_eq!(
            (s.dmarc().report_count(20_000, 20_000).unwrap(), s.dmarc().report_count(20_001, 20_009).unwrap()),
            (2, 0)
        );
    }
}
