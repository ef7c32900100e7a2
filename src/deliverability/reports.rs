//! The receivers' own verdicts: DMARC aggregate reports (RFC 7489 appendix C) collected from
//! the folder they arrive in, and what they add up to.
//!
//! The collector is a daemon task like the auto-responder: it listens to the store's
//! `StateChange` broadcast, and on each one (and once at start, to catch up, and every minute)
//! reads every message of `doctor.reports_folder` in `doctor.reports_mailbox` it has not read
//! yet, whatever its id (a message moved into the folder keeps its id). A message that looks
//! like a DMARC report ([`looks_like_a_report`]: the subject RFC 7489 7.2.1.1 prescribes, or an
//! attachment named as 7.2.1.1 names it) is parsed with `mail-auth` ([`read_mail`]), its records
//! summed per day and source address ([`super::aggregate`]), and kept together with the mark
//! "read" in one transaction (`store.dmarc().keep`): a report kept before, by reporter org and
//! report id, adds nothing. One that cannot be read is kept as broken with its reason and
//! skipped; other mail in the folder (an e-invoice's XML, a TLS report's JSON) is passed over.
//! Nothing here ends the task but a failing store. The collector asks no DNS.
//!
//! [`summary`] reads the figures back as plain data ([`Summary`]) for `postbote doctor
//! reports`, the line beside each DNS prediction in `postbote doctor`, and the web console, and
//! decides each row's sending path from its source address then, with the addresses
//! [`super::paths::path_blocks`] looked up for that reading: so an address added to
//! `doctor.direct_ips` re-classifies old reports, and a DNS failure leaves addresses
//! "could not check" (`unchecked`) for that reading only, never `unknown` for good.
//! [`super::reports_text`] words them. This module never touches the mirror, IMAP or DNS records.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::aggregate::{self, PathBlocks};
use super::records::{Alignment, aligned};
use crate::app::App;
use crate::config::FolderSpec;
use crate::store::dmarc::{BrokenReport, DayRow, Kept, Reading, ReportPath};
use crate::store::{Store, StoreError};

pub use super::paths::path_blocks;

/// The largest uncompressed report read (a big receiver's day is a few hundred KB).
pub const MAX_REPORT_SIZE: usize = 16 * 1024 * 1024;
/// How many messages one pass reads from the store at a time.
const BATCH: usize = 100;
/// Even without a store change, look again this often.
const TICK: Duration = Duration::from_secs(60);

/// What one message of the reports folder was: a report, a broken one, or `None` for other mail.
pub fn read_mail(raw: &[u8]) -> Option<Reading> {
    if is_tls_report(raw) {
        return None;
    }
    match mail_auth::report::Report::parse_rfc5322(raw, MAX_REPORT_SIZE) {
        Ok(report) => {
            let (head, rows) = aggregate::read(&report);
            if head.report_id.is_empty() || head.org_name.is_empty() {
                return Some(Reading::Broken {
                    subject: subject(raw),
                    error: "the report has no org_name or report_id".into(),
                });
            }
            Some(Reading::Report { head, rows })
        }
        Err(e) if looks_like_a_report(raw) => Some(Reading::Broken { subject: subject(raw), error: describe(&e) }),
        Err(_) => None,
    }
}

fn describe(e: &mail_auth::report::Error) -> String {
    use mail_auth::report::Error;
    match e {
        Error::MailParseError => "the mail could not be parsed".into(),
        Error::ReportParseError(s) => format!("the XML is not a DMARC aggregate report: {s}"),
        Error::UncompressError(s) => format!("the attachment could not be unpacked: {s}"),
        Error::ReportTooLarge => format!("the report is larger than {} MB unpacked", MAX_REPORT_SIZE / (1024 * 1024)),
        Error::NoReportsFound => "no DMARC aggregate report found in the mail".into(),
    }
}

fn subject(raw: &[u8]) -> String {
    mail_parser::MessageParser::new()
        .parse_headers(raw)
        .and_then(|m| m.subject().map(str::to_string))
        .unwrap_or_default()
}

/// An SMTP TLS report (RFC 8460): its subject is shaped like a DMARC report's, but it comes
/// with TLS-Report-Domain/-Submitter headers and a JSON attachment (`.json`, `.json.gz`,
/// `application/tlsrpt+json`, `+gzip`). It is no DMARC report, broken or not.
fn is_tls_report(raw: &[u8]) -> bool {
    use mail_parser::MimeHeaders;
    let Some(m) = mail_parser::MessageParser::new().parse(raw) else { return false };
    if m.header_raw("TLS-Report-Domain").is_some() || m.header_raw("TLS-Report-Submitter").is_some() {
        return true;
    }
    m.parts.iter().any(|p| {
        let name = p.attachment_name().map(str::to_ascii_lowercase).unwrap_or_default();
        let sub = p.content_type().and_then(|c| c.subtype()).map(str::to_ascii_lowercase).unwrap_or_default();
        name.ends_with(".json") || name.ends_with(".json.gz") || sub.starts_with("tlsrpt+")
    })
}

/// Whether an attachment is named as RFC 7489 7.2.1.1 names a report:
/// `receiver!policy-domain!begin!end[!unique-id].xml[.gz|.zip]` (and `.zip`, as Google sends it).
fn report_file_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let Some(stem) = [".xml.gz", ".xml.zip", ".xml", ".zip", ".gz"].iter().find_map(|e| name.strip_suffix(e)) else {
        return false;
    };
    let fields: Vec<&str> = stem.split('!').collect();
    (4..=5).contains(&fields.len())
        && fields[..2].iter().all(|f| !f.is_empty())
        && fields[2..4].iter().all(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

/// A DMARC report by its subject (RFC 7489 7.2.1.1: "Report Domain: … Submitter: …
/// Report-ID: …") or by an attachment named as a report is; other mail in the folder, even with
/// an XML or zip attachment (an XRechnung e-invoice), is not a broken report.
fn looks_like_a_report(raw: &[u8]) -> bool {
    use mail_parser::MimeHeaders;
    let Some(m) = mail_parser::MessageParser::new().parse(raw) else { return false };
    let by_subject = m.subject().is_some_and(|s| {
        let s = s.to_ascii_lowercase();
        s.contains("report domain:") && s.contains("submitter:") && s.contains("report-id:")
    });
    by_subject || m.parts.iter().any(|p| p.attachment_name().is_some_and(report_file_name))
}

/// What one collecting pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Collected {
    pub counted: usize,
    pub duplicates: usize,
    pub broken: usize,
    /// Other mail in the folder.
    pub passed: usize,
}

/// Read every message of the reports folder not read yet. Without `doctor.reports_mailbox` it
/// does nothing.
pub fn collect(app: &App) -> Result<Collected, StoreError> {
    collect_until(app, &CancellationToken::new())
}

/// [`collect`], stopping after the message in hand once `stop` is cancelled (each message is
/// kept with its mark "read" in one transaction, so the next pass goes on from there).
pub fn collect_until(app: &App, stop: &CancellationToken) -> Result<Collected, StoreError> {
    let mut done = Collected::default();
    let Some(rf) = &app.config.doctor.reports else { return Ok(done) };
    let (name, role) = match &rf.folder {
        FolderSpec::Name(n) => (Some(n.as_str()), None),
        FolderSpec::Role(r) => (None, Some(r.as_str())),
    };
    let dmarc = app.store.dmarc();
    loop {
        let batch = dmarc.waiting(&rf.mailbox, name, role, BATCH)?;
        if batch.is_empty() {
            return Ok(done);
        }
        for (id, message_id) in batch {
            if stop.is_cancelled() {
                return Ok(done);
            }
            let reading = match app.store.messages().raw(id)? {
                Some(raw) => read_mail(&raw),
                None => None,
            };
            let Some(reading) = reading else {
                dmarc.pass_over(id)?;
                done.passed += 1;
                continue;
            };
            match dmarc.keep(&rf.mailbox, id, message_id.as_deref(), &reading)? {
                Kept::Counted => done.counted += 1,
                Kept::Duplicate => done.duplicates += 1,
                Kept::Broken => {
                    tracing::warn!(mailbox = %rf.mailbox, message = id, "a DMARC report could not be read; kept and skipped");
                    done.broken += 1
                }
            }
        }
    }
}

/// The daemon's collector: catch up at start, then read new reports as the mirror stores them.
pub async fn run(app: App, token: CancellationToken) -> anyhow::Result<()> {
    if app.config.doctor.reports.is_none() {
        return Ok(());
    }
    let mut rounds = crate::app::Rounds::new(&app, TICK);
    loop {
        rounds.drain();
        let (a, t) = (app.clone(), token.clone());
        let done = tokio::task::spawn_blocking(move || collect_until(&a, &t)).await??;
        if done != Collected::default() {
            tracing::info!(
                counted = done.counted,
                duplicates = done.duplicates,
                broken = done.broken,
                "DMARC aggregate reports read"
            );
        }
        if !rounds.wait(&token).await {
            return Ok(());
        }
    }
}

/// Message counts over some day rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Figures {
    pub messages: i64,
    pub dmarc_pass: i64,
    pub dmarc_fail: i64,
    pub spf_aligned: i64,
    pub dkim_aligned: i64,
    /// Messages the receiver quarantined or rejected (what it did, whatever the policy said).
    pub quarantined: i64,
    pub rejected: i64,
}

impl Figures {
    fn add(&mut self, r: &DayRow) {
        let n = r.messages;
        self.messages += n;
        if r.dmarc_pass() {
            self.dmarc_pass += n
        } else {
            self.dmarc_fail += n
        }
        self.spf_aligned += if r.spf_aligned { n } else { 0 };
        self.dkim_aligned += if r.dkim_aligned { n } else { 0 };
        self.quarantined += if r.disposition == "quarantine" { n } else { 0 };
        self.rejected += if r.disposition == "reject" { n } else { 0 };
    }
}

/// The figures of one sending path, overall and per reporter (most messages first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathFigures {
    pub path: ReportPath,
    pub total: Figures,
    pub reporters: Vec<(String, Figures)>,
}

/// What the receivers reported over the last days: what `doctor reports` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub days: u32,
    /// The first day counted (days since 1970-01-01, UTC); the last is `since_day + days - 1`.
    pub since_day: i64,
    /// Reports about a day of the window (the day of their period's middle, as the rows).
    pub reports: i64,
    /// Direct, relay, unknown, unchecked: always all four.
    pub paths: Vec<PathFigures>,
    /// The lookups that failed, so that some addresses are `unchecked`.
    pub lookups_failed: Vec<String>,
    /// The day rows the figures come from (for the per-domain lines beside the doctor's verdicts).
    pub rows: Vec<DayRow>,
    /// Mails that looked like reports and could not be read, kept within the window.
    pub broken: Vec<BrokenReport>,
}

/// Figures per path and reporter.
pub fn figures(rows: &[DayRow]) -> Vec<PathFigures> {
    ReportPath::ALL
        .into_iter()
        .map(|path| {
            let mut total = Figures::default();
            let mut by: BTreeMap<&str, Figures> = BTreeMap::new();
            for r in rows.iter().filter(|r| r.path == path) {
                total.add(r);
                by.entry(&r.reporter).or_default().add(r);
            }
            let mut reporters: Vec<(String, Figures)> = by.into_iter().map(|(k, f)| (k.to_string(), f)).collect();
            reporters.sort_by(|a, b| b.1.messages.cmp(&a.1.messages).then(a.0.cmp(&b.0)));
            PathFigures { path, total, reporters }
        })
        .collect()
}

impl Summary {
    /// The figures of the mail of `domain` (aligned: the organisational domain) on `path`, and
    /// the reporters at which some of it failed DMARC.
    pub fn for_domain(&self, path: ReportPath, domain: &str) -> (Figures, Vec<String>) {
        let mut f = Figures::default();
        let mut failed_at = Vec::new();
        for r in self.rows.iter().filter(|r| r.path == path && aligned(&r.header_from, domain, Alignment::Relaxed)) {
            f.add(r);
            if !r.dmarc_pass() && !failed_at.contains(&r.reporter) {
                failed_at.push(r.reporter.clone());
            }
        }
        failed_at.sort();
        (f, failed_at)
    }
}

/// The last `days` days (exactly: `today - days + 1 ..= today`, UTC) as the store has them at
/// `now`, each row's path decided from `blocks`. Rows and reports about a day after today are
/// not counted.
pub fn summary(store: &Store, days: u32, now: i64, blocks: &PathBlocks) -> Result<Summary, StoreError> {
    let today = now.div_euclid(86_400);
    let since_day = today - days as i64 + 1;
    let dmarc = store.dmarc();
    let mut rows = dmarc.days(since_day, today)?;
    aggregate::classify_rows(&mut rows, blocks);
    // Broken mails by when they were kept (they have no day of their own).
    let broken = dmarc.broken(100)?.into_iter().filter(|b| b.stored_at >= since_day * 86_400).collect();
    Ok(Summary {
        days,
        since_day,
        reports: dmarc.report_count(since_day, today)?,
        paths: figures(&rows),
        lookups_failed: blocks.direct_failed.iter().chain(&blocks.relay_failed).cloned().collect(),
        rows,
        broken,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deliverability::aggregate::Block;

    fn corpus(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/data/dmarc/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn blocks() -> PathBlocks {
        let ip = |s: &str| Block::host(s.parse().unwrap());
        PathBlocks {
            direct: vec![ip("127.0.0.2"), ip("192.0.2.25")],
            relay: vec![ip("127.0.0.1")],
            ..PathBlocks::default()
        }
    }

    /// Messages per path of a corpus file, or its error.
    fn read(name: &str) -> Result<(String, [i64; 4]), String> {
        match read_mail(&corpus(name)) {
            Some(Reading::Report { head, mut rows }) => {
                aggregate::classify_rows(&mut rows, &blocks());
                let mut per = [0; 4];
                for r in &rows {
                    per[ReportPath::ALL.iter().position(|p| *p == r.path).unwrap()] += r.messages;
                }
                assert_eq!(per.iter().sum::<i64>(), head.messages, "{name}: the rows keep every message");
                Ok((head.reporter, per))
            }
            Some(Reading::Broken { error, .. }) => Err(error),
            None => Err("passed over".into()),
        }
    }

    #[test]
    fn every_corpus_report_is_read_and_classified() {
        // [direct, relay, unknown, unchecked]
        assert_eq!(read("google.eml"), Ok(("google.com".into(), [30, 120, 4, 0])));
        assert_eq!(read("microsoft.eml"), Ok(("microsoft.com".into(), [0, 57, 0, 0])));
        assert_eq!(read("gmx.eml"), Ok(("gmx.net".into(), [12, 300, 0, 0])));
        assert_eq!(read("webde-mixed.eml"), Ok(("web.de".into(), [11, 49, 2, 0])));
        let zip = read("broken-truncated-zip.eml").unwrap_err();
        assert!(zip.starts_with("the attachment could not be unpacked"), "{zip}");
        let xml = read("broken-not-a-report.eml").unwrap_err();
        assert!(xml.starts_with("the XML is not a DMARC aggregate report"), "{xml}");
        assert_eq!(read("other-mail.eml"), Err("passed over".into()), "ordinary mail is no broken report");
        assert_eq!(read("xrechnung.eml"), Err("passed over".into()), "an e-invoice's XML is no broken report");
        assert_eq!(read("tls-report.eml"), Err("passed over".into()), "a TLS report (RFC 8460) is no DMARC report");
    }

    #[test]
    fn a_report_attachment_is_known_by_its_rfc_7489_name() {
        for yes in [
            "google.com!bau-firma.de!1796083200!1796169599.zip",
            "enterprise.protection.outlook.com!bau-firma.de!1796083200!1796169599.xml.gz",
            "web.de!bau-firma.de!1796083200!1796169599!7731.xml",
        ] {
            assert!(report_file_name(yes), "{yes}");
        }
        for no in [
            "report.xml",
            "XRechnung_R-2026-118.xml",
            "Angebot.zip",
            "google.com!bau-firma.de!1796083200!1796169599.json.gz",
            "a!b!c!d.xml",
        ] {
            assert!(!report_file_name(no), "{no}");
        }
    }

    #[test]
    fn the_report_head_keeps_what_the_receiver_saw() {
        let Some(Reading::Report { head, mut rows }) = read_mail(&corpus("google.eml")) else { panic!() };
        aggregate::classify_rows(&mut rows, &blocks());
        assert_eq!((head.org_name.as_str(), head.report_id.as_str()), ("google.com", "9476315829384757612"));
        assert_eq!(
            (head.policy_domain.as_str(), head.policy_p.as_str(), head.policy_aspf.as_str()),
            ("bau-firma.test", "quarantine", "r")
        );
        assert_eq!((head.date_begin, head.date_end, head.records), (1_796_083_200, 1_796_169_599, 3));
        let direct = rows.iter().find(|r| r.path == ReportPath::Direct).unwrap();
        assert_eq!((direct.spf_aligned, direct.dkim_aligned, direct.dmarc_pass()), (true, false, true));
        assert!(rows.iter().all(|r| r.day == 1_796_083_200 / 86_400));
    }

    /// The store with the four corpus reports kept (all about 2026-12-01, day 20_788).
    fn kept() -> (tempfile::TempDir, Store) {
        let (d, s) = crate::store::test_store();
        for (i, f) in ["google.eml", "microsoft.eml", "gmx.eml", "webde-mixed.eml"].into_iter().enumerate() {
            let reading = read_mail(&corpus(f)).unwrap();
            assert_eq!(s.dmarc().keep("becker", i as i64 + 1, None, &reading).unwrap(), Kept::Counted);
        }
        (d, s)
    }

    const DAY: i64 = 20_788;
    const NOON: i64 = 12 * 3600;

    fn messages(s: &Summary, p: ReportPath) -> i64 {
        s.paths.iter().find(|f| f.path == p).unwrap().total.messages
    }

    #[test]
    fn the_window_is_exactly_the_last_n_days_for_rows_and_reports() {
        let (_d, store) = kept();
        let at = |today: i64, days: u32| summary(&store, days, today * 86_400 + NOON, &blocks()).unwrap();
        let all = |s: &Summary| (s.reports, s.paths.iter().map(|p| p.total.messages).sum::<i64>());
        assert_eq!(all(&at(DAY, 1)), (4, 585), "today only");
        assert_eq!(at(DAY, 1).since_day, DAY);
        assert_eq!(all(&at(DAY + 6, 7)), (4, 585), "the seventh day back is in a 7-day window");
        assert_eq!(all(&at(DAY + 7, 7)), (0, 0), "the eighth is not");
        assert_eq!(all(&at(DAY + 1, 1)), (0, 0), "yesterday is not in a 1-day window");
        assert_eq!(all(&at(DAY - 1, 7)), (0, 0), "a day after today is not counted");
    }

    #[test]
    fn the_path_is_decided_when_the_figures_are_read() {
        let (_d, store) = kept();
        let now = DAY * 86_400 + NOON;
        // DNS failed for the relay's SPF: what cannot be told apart is unchecked, not unknown.
        let failed = PathBlocks { relay_failed: vec!["handwerk.test TXT: SERVFAIL".into()], ..blocks() };
        let s = summary(&store, 7, now, &failed).unwrap();
        assert_eq!(ReportPath::ALL.map(|p| messages(&s, p)), [53, 526, 0, 6], "[direct, relay, unknown, unchecked]");
        assert_eq!(s.lookups_failed, ["handwerk.test TXT: SERVFAIL"]);
        // The next reading, with DNS answering, puts the same rows where they belong.
        let s = summary(&store, 7, now, &blocks()).unwrap();
        assert_eq!(ReportPath::ALL.map(|p| messages(&s, p)), [53, 526, 6, 0]);
        // An address added to doctor.direct_ips later re-classifies the reports kept before.
        let mut more = blocks();
        more.direct.push(Block::host("203.0.113.77".parse().unwrap()));
        let s = summary(&store, 7, now, &more).unwrap();
        assert_eq!(ReportPath::ALL.map(|p| messages(&s, p)), [57, 526, 2, 0]);
    }
}
