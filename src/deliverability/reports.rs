//! The receivers' own verdicts: DMARC aggregate reports (RFC 7489 appendix C) collected from
//! the folder they arrive in, and what they add up to.
//!
//! The collector is a daemon task like the auto-responder: it listens to the store's
//! `StateChange` broadcast, and on each one (and once at start, to catch up) reads every message
//! of `doctor.reports_folder` in `doctor.reports_mailbox` past its cursor (message ids are never
//! reused, so "past" means "new"). A message that looks like a report (the subject RFC 7489
//! prescribes, or a zip, gzip or XML attachment) is parsed with `mail-auth` ([`read_mail`]),
//! its records classified by sending path and summed per day ([`super::aggregate`]), and kept
//! with the cursor move in one transaction (`store.dmarc().keep`): a report kept before, by
//! reporter org and report id, adds nothing. One that cannot be read is kept as broken with
//! its reason and skipped; other mail in the folder is passed over. Nothing here ends the task
//! but a failing store.
//!
//! The sending paths' addresses ([`path_blocks`]) come from the doctor's resolver: what
//! `[direct] host` and `[relay] host` resolve to, `doctor.direct_ips` / `relay_ips`, and the
//! blocks the hosted domains' SPF records pass. They are looked up at start and daily; an
//! address that could not be looked up leaves its records `unknown`.
//!
//! [`summary`] reads the figures back as plain data ([`Summary`]) for `postbote doctor
//! reports`, the line beside each DNS prediction in `postbote doctor`, and the web console;
//! [`super::reports_text`] words them. This module never touches the mirror, IMAP or DNS records.

use std::collections::BTreeMap;
use std::time::Duration;

use mail_auth::common::parse::TxtRecordParser;

use tokio_util::sync::CancellationToken;

use super::aggregate::{self, Block, PathBlocks};
use super::dns::{Dns, Resolver};
use super::records::{Alignment, aligned, spf_records};
use crate::app::App;
use crate::config::{Config, FolderSpec};
use crate::store::StoreError;
use crate::store::dmarc::{BrokenReport, DayRow, Kept, Reading, ReportPath};

/// The largest uncompressed report read (a big receiver's day is a few hundred KB).
pub const MAX_REPORT_SIZE: usize = 16 * 1024 * 1024;
/// How many messages one pass reads from the store at a time.
const BATCH: usize = 100;
/// Even without a store change, look again this often.
const TICK: Duration = Duration::from_secs(60);
/// How often the paths' addresses are looked up again.
const REFRESH: Duration = Duration::from_secs(24 * 3600);
/// At most this many SPF records are read while following the relay's includes.
const SPF_NAMES: usize = 10;

/// What one message of the reports folder was.
pub fn read_mail(raw: &[u8], blocks: &PathBlocks) -> Option<Reading> {
    match mail_auth::report::Report::parse_rfc5322(raw, MAX_REPORT_SIZE) {
        Ok(report) => {
            let (head, rows) = aggregate::read(&report, blocks);
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

/// A report by its subject (RFC 7489 7.2.1.1: "Report Domain: … Submitter: … Report-ID: …")
/// or by an attachment a report comes in; other mail in the folder is not a broken report.
fn looks_like_a_report(raw: &[u8]) -> bool {
    use mail_parser::MimeHeaders;
    let Some(m) = mail_parser::MessageParser::new().parse(raw) else { return false };
    if m.subject().is_some_and(|s| s.to_ascii_lowercase().contains("report domain:")) {
        return true;
    }
    m.parts.iter().any(|p| {
        let ext = p.attachment_name().and_then(|n| n.rsplit_once('.')).map(|(_, e)| e.to_ascii_lowercase());
        let sub = p.content_type().and_then(|c| c.subtype()).map(str::to_ascii_lowercase);
        matches!(ext.as_deref(), Some("zip" | "gz" | "xml"))
            || matches!(sub.as_deref(), Some("zip" | "gzip" | "x-gzip" | "x-zip-compressed" | "xml"))
    })
}

/// The addresses of the two sending paths, as the config and DNS say now.
pub async fn path_blocks(r: &Resolver, config: &Config) -> PathBlocks {
    let mut b = PathBlocks {
        direct: config.doctor.direct_ips.iter().map(|ip| Block::host(*ip)).collect(),
        relay: config.doctor.relay_ips.iter().map(|ip| Block::host(*ip)).collect(),
    };
    if let Some(d) = &config.direct
        && let Dns::Found(ips) = r.ips(&d.host).await
    {
        b.direct.extend(ips.into_iter().map(Block::host));
    }
    if let Some(s) = &config.relay {
        if let Dns::Found(ips) = r.ips(&s.host).await {
            b.relay.extend(ips.into_iter().map(Block::host));
        }
        // The relay's mail carries the hosted addresses as envelope senders: their domains' SPF
        // lists the relay's addresses.
        let mut names: Vec<String> = config
            .mailboxes
            .iter()
            .filter_map(|m| m.hosted_address.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()))
            .collect();
        names.sort();
        names.dedup();
        let mut read = 0;
        while let Some(name) = names.pop() {
            if read == SPF_NAMES {
                break;
            }
            read += 1;
            let Dns::Found(txt) = r.txt(&name).await else { continue };
            let Some(Ok(spf)) = spf_records(&txt).first().map(|t| mail_auth::spf::Spf::parse(t.as_bytes())) else {
                continue;
            };
            let (blocks, follow) = aggregate::spf_blocks(&spf);
            b.relay.extend(blocks);
            names.extend(follow);
        }
    }
    b
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

/// Read every message of the reports folder past the cursor. Without `doctor.reports_mailbox`
/// it does nothing.
pub fn collect(app: &App, blocks: &PathBlocks) -> Result<Collected, StoreError> {
    collect_until(app, blocks, &CancellationToken::new())
}

/// [`collect`], stopping after the message in hand once `stop` is cancelled (each message is
/// kept with its cursor move in one transaction, so the next pass goes on from there).
pub fn collect_until(app: &App, blocks: &PathBlocks, stop: &CancellationToken) -> Result<Collected, StoreError> {
    let mut done = Collected::default();
    let Some(rf) = &app.config.doctor.reports else { return Ok(done) };
    let (name, role) = match &rf.folder {
        FolderSpec::Name(n) => (Some(n.as_str()), None),
        FolderSpec::Role(r) => (None, Some(r.as_str())),
    };
    let dmarc = app.store.dmarc();
    let mut after = dmarc.cursor(&rf.mailbox)?;
    loop {
        let batch = dmarc.waiting(&rf.mailbox, name, role, after, BATCH)?;
        if batch.is_empty() {
            return Ok(done);
        }
        for (id, message_id) in batch {
            if stop.is_cancelled() {
                return Ok(done);
            }
            after = id;
            let reading = match app.store.messages().raw(id)? {
                Some(raw) => read_mail(&raw, blocks),
                None => None,
            };
            let Some(reading) = reading else {
                dmarc.advance(&rf.mailbox, id)?;
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
    let mut changes = app.store.subscribe();
    let resolver = Resolver::new(app.config.doctor.resolver, app.config.doctor.timeout)?;
    // Each lookup is bounded by doctor.timeout, but there are several: shutdown does not wait.
    let mut blocks = tokio::select! {
        _ = token.cancelled() => return Ok(()),
        b = path_blocks(&resolver, &app.config) => b,
    };
    let mut looked_up = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        while changes.try_recv().is_ok() {}
        if looked_up.elapsed() > REFRESH {
            blocks = tokio::select! {
                _ = token.cancelled() => return Ok(()),
                b = path_blocks(&resolver, &app.config) => b,
            };
            looked_up = tokio::time::Instant::now();
        }
        let (a, b, t) = (app.clone(), blocks.clone(), token.clone());
        let done = tokio::task::spawn_blocking(move || collect_until(&a, &b, &t)).await??;
        if done != Collected::default() {
            tracing::info!(
                counted = done.counted,
                duplicates = done.duplicates,
                broken = done.broken,
                "DMARC aggregate reports read"
            );
        }
        tokio::select! {
            _ = token.cancelled() => return Ok(()),
            r = changes.recv() => {
                if let Err(tokio::sync::broadcast::error::RecvError::Closed) = r {
                    return Ok(());
                }
            }
            _ = tick.tick() => {}
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
    /// The first day counted (days since 1970-01-01, UTC).
    pub since_day: i64,
    /// Reports whose period ends in the window.
    pub reports: i64,
    /// Direct, relay, unknown: always all three.
    pub paths: Vec<PathFigures>,
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

/// The last `days` days (today and the `days` before it, UTC) as the store has them at `now`.
pub fn summary(app: &App, days: u32, now: i64) -> Result<Summary, StoreError> {
    let today = now.div_euclid(86_400);
    let since_day = today - days as i64;
    let rows = app.store.dmarc().days(since_day)?;
    let since = since_day * 86_400;
    let broken = app.store.dmarc().broken(100)?.into_iter().filter(|b| b.stored_at >= since).collect();
    Ok(Summary {
        days,
        since_day,
        reports: app.store.dmarc().report_count(since)?,
        paths: figures(&rows),
        rows,
        broken,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/data/dmarc/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn blocks() -> PathBlocks {
        let ip = |s: &str| Block::host(s.parse().unwrap());
        PathBlocks { direct: vec![ip("127.0.0.2"), ip("192.0.2.25")], relay: vec![ip("127.0.0.1")] }
    }

    /// Messages per path of a corpus file, or its error.
    fn read(name: &str) -> Result<(String, [i64; 3]), String> {
        match read_mail(&corpus(name), &blocks()) {
            Some(Reading::Report { head, rows }) => {
                let mut per = [0; 3];
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
        // [direct, relay, unknown]
        assert_eq!(read("google.eml"), Ok(("google.com".into(), [30, 120, 4])));
        assert_eq!(read("microsoft.eml"), Ok(("microsoft.com".into(), [0, 57, 0])));
        assert_eq!(read("gmx.eml"), Ok(("gmx.net".into(), [12, 300, 0])));
        assert_eq!(read("webde-mixed.eml"), Ok(("web.de".into(), [11, 49, 2])));
        let zip = read("broken-truncated-zip.eml").unwrap_err();
        assert!(zip.starts_with("the attachment could not be unpacked"), "{zip}");
        let xml = read("broken-not-a-report.eml").unwrap_err();
        assert!(xml.starts_with("the XML is not a DMARC aggregate report"), "{xml}");
        assert_eq!(read("other-mail.eml"), Err("passed over".into()), "ordinary mail is no broken report");
    }

    #[test]
    fn the_report_head_keeps_what_the_receiver_saw() {
        let Some(Reading::Report { head, rows }) = read_mail(&corpus("google.eml"), &blocks()) else { panic!() };
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
}
