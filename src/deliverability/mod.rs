//! The deliverability doctor: tells, from DNS, whether each mailbox's mail will arrive on the
//! path it sends on.
//!
//! For every company domain in use and every configured path (`direct`: the company's own
//! server, envelope sender the company address; `relay`: the hosted server, envelope sender the
//! hosted address) it gathers SPF, DKIM and DMARC facts ([`facts`], through [`dns`]), and
//! [`verdict::judge`] turns them into ok / at risk / will fail / could not check with the reason
//! and the fix in German and English. `postbote doctor` runs it on demand; the daemon runs it
//! shortly after start and then daily ([`run_daily`]), stores the last verdict (shown by
//! `status`) and logs a warning when one gets worse.
//!
//! [`publish`] says which SPF, DKIM and DMARC records each company domain should publish, and
//! how what DNS had at the last check compares (for the office console).
//!
//! Beside the prediction stand the receivers' own verdicts: DMARC aggregate reports, collected
//! from `doctor.reports_folder` by a daemon task ([`reports`]), summed per day and source
//! address ([`aggregate`], pure), classified by sending path each time they are read (with the
//! paths' addresses [`paths`] looks up then), and worded in [`reports_text`]. `postbote doctor
//! reports` shows them; `postbote doctor` puts one line of them under each path's verdict.
//!
//! This module never changes DNS, never sends mail, and never reports a DNS timeout or server
//! failure as a fault of the domain. It reads DKIM keys through [`crate::dkim`] (to tell whether
//! the published key matches) but never signs: signing belongs to `dkim`, which the outbox calls.

pub mod aggregate;
pub mod dns;
pub mod facts;
pub mod paths;
pub mod publish;
pub mod records;
pub mod reports;
pub mod reports_text;
pub mod verdict;

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::config::{Config, Mailbox, Transport};
use crate::dkim;
use crate::store::deliverability::StoredVerdict;
use dns::{Dns, Resolver};
use facts::{Facts, KeyMatch, KeyRecord, Signing};
use verdict::{Lang, Level, Verdict};

/// How long after the daemon starts the first check runs (the network may still be coming up).
const FIRST_CHECK_AFTER: Duration = Duration::from_secs(60);
const EVERY: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    #[error(transparent)]
    Resolver(#[from] dns::ResolverError),
    #[error("doctor: there is no mailbox \"{0}\" in the config")]
    UnknownMailbox(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// The verdict for one mailbox, one company domain and one path.
#[derive(Debug, Clone)]
pub struct PathReport {
    pub mailbox: String,
    pub domain: String,
    pub transport: Transport,
    /// This is the path the mailbox sends on (the other one is shown for comparison).
    pub configured: bool,
    pub facts: Facts,
    pub verdict: Verdict,
}

impl PathReport {
    pub fn to_json(&self) -> Value {
        json!({
            "mailbox": self.mailbox,
            "domain": self.domain,
            "transport": self.transport.as_str(),
            "configured": self.configured,
            "level": self.verdict.level.as_str(),
            "reason": self.verdict.reason(),
            "fix": self.verdict.fix(),
            "findings": self.verdict.findings,
            "facts": self.facts,
            // Which Public Suffix List decided the organisational domains (DMARC alignment).
            "public_suffix_list": facts::PUBLIC_SUFFIX_LIST,
        })
    }
}

/// Check every mailbox (or only `only`), every company domain, every configured path.
/// The checks run concurrently; each DNS lookup is bounded by `doctor.timeout`.
pub async fn check(config: &Config, only: Option<&str>) -> Result<Vec<PathReport>, DoctorError> {
    if let Some(id) = only
        && config.mailbox(id).is_none()
    {
        return Err(DoctorError::UnknownMailbox(id.to_string()));
    }
    let resolver = Resolver::new(config.doctor.resolver, config.doctor.timeout)?;
    let mut jobs = Vec::new();
    for mb in config.mailboxes.iter().filter(|m| only.is_none_or(|id| m.id == id)) {
        for domain in mb.company_domains() {
            for transport in [Transport::Direct, Transport::Relay] {
                let server = match transport {
                    Transport::Direct => config.direct.as_ref(),
                    Transport::Relay => config.relay.as_ref(),
                };
                if let Some(server) = server {
                    jobs.push((mb, domain.clone(), transport, server.host.clone()));
                }
            }
        }
    }
    let r = &resolver;
    let reports = join_all(jobs.into_iter().map(|(mb, domain, transport, server)| async move {
        let facts = gather(r, config, mb, &domain, transport, &server).await;
        let verdict = verdict::judge(&facts);
        PathReport { mailbox: mb.id.clone(), domain, configured: transport == mb.transport, transport, facts, verdict }
    }))
    .await;
    Ok(reports)
}

/// Gather the facts for one mailbox, domain and path.
pub async fn gather(
    r: &Resolver,
    config: &Config,
    mb: &Mailbox,
    domain: &str,
    transport: Transport,
    server: &str,
) -> Facts {
    let envelope_sender = match transport {
        Transport::Direct => mb
            .addresses
            .iter()
            .find(|a| a.rsplit_once('@').is_some_and(|(_, d)| d == domain))
            .cloned()
            .unwrap_or_else(|| format!("postmaster@{domain}")),
        Transport::Relay => mb.hosted_address.clone(),
    };
    let envelope_domain = envelope_sender.rsplit_once('@').map(|(_, d)| d.to_string()).unwrap_or_default();
    let own_selector = mb.dkim.as_ref().filter(|k| k.domain == domain).map(|k| k.selector.clone());

    let spf = async {
        let ips = r.ips(server).await;
        let spf = match &ips {
            Dns::Found(list) => facts::spf(r, &envelope_domain, list, server, &envelope_sender).await,
            Dns::Absent => facts::spf(r, &envelope_domain, &[], server, &envelope_sender).await,
            Dns::Failed(_) => facts::Spf::CouldNotCheck {
                error: format!("SPF of {envelope_domain} not evaluated: the address of {server} is unknown"),
            },
        };
        (ips, spf)
    };
    let selectors = async {
        let names: Vec<&String> =
            config.doctor.dkim_selectors.iter().filter(|s| Some(*s) != own_selector.as_ref()).collect();
        let found = join_all(names.iter().map(|s| facts::dkim_key(r, s, domain))).await;
        let failed = found.iter().filter_map(|(k, _)| match k {
            KeyRecord::CouldNotCheck { error } => Some(error.clone()),
            _ => None,
        });
        let failed: Vec<String> = failed.collect();
        let search_failed = (!names.is_empty() && failed.len() == names.len()).then(|| failed[0].clone());
        let valid = names
            .iter()
            .zip(found)
            .filter(|(_, (k, _))| matches!(k, KeyRecord::Valid { .. }))
            .map(|(s, _)| s.to_string())
            .collect::<Vec<_>>();
        (valid, search_failed)
    };
    let signing = async {
        let d = mb.dkim.as_ref()?;
        let (published, key) = facts::dkim_key(r, &d.selector, &d.domain).await;
        let loaded = dkim::load_key(&d.key_file);
        let matches = match (&key, loaded) {
            (_, Err(e)) => KeyMatch::Unreadable { error: e.to_string() },
            (Some(dk), Ok(k)) if dkim::key_matches(dk, &k) => KeyMatch::Matches,
            (Some(_), Ok(_)) => KeyMatch::Mismatch,
            (None, Ok(_)) => KeyMatch::NotChecked,
        };
        Some(Signing { selector: d.selector.clone(), domain: d.domain.clone(), published, matches })
    };
    let ((server_ips, spf), (dkim_selectors_found, dkim_search_failed), signing, dmarc) =
        tokio::join!(spf, selectors, signing, facts::dmarc(r, domain));
    Facts {
        mailbox: mb.id.clone(),
        transport,
        from_domain: domain.to_string(),
        server: server.to_string(),
        server_ips,
        envelope_sender,
        envelope_domain,
        spf,
        dkim_selectors_found,
        dkim_search_failed,
        signing,
        dmarc,
    }
}

/// A verdict that got worse since the last check.
#[derive(Debug, Clone)]
pub struct Worse {
    pub mailbox: String,
    pub domain: String,
    pub transport: Transport,
    pub before: Level,
    pub now: Level,
    pub reason_en: String,
}

/// Store each report as the latest verdict; return those that got worse.
pub fn save(app: &App, reports: &[PathReport]) -> Result<Vec<Worse>, DoctorError> {
    let mut worse = Vec::new();
    for r in reports {
        let v = &r.verdict;
        let stored = StoredVerdict {
            account: r.mailbox.clone(),
            domain: r.domain.clone(),
            transport: r.transport.as_str().into(),
            configured: r.configured,
            level: v.level.as_str().into(),
            definite_level: None,
            reason_de: v.reason().de.clone(),
            reason_en: v.reason().en.clone(),
            fix_de: v.fix().map(|f| f.de.clone()),
            fix_en: v.fix().map(|f| f.en.clone()),
            report: r.to_json().to_string(),
            checked_at: crate::store::now(),
        };
        let before = app.store.verdicts().save(&stored)?.as_deref().and_then(Level::parse);
        if let (Some(b), Some(s_now), Some(s_before)) = (before, v.level.severity(), before.and_then(Level::severity))
            && s_now > s_before
        {
            worse.push(Worse {
                mailbox: r.mailbox.clone(),
                domain: r.domain.clone(),
                transport: r.transport,
                before: b,
                now: v.level,
                reason_en: v.reason().en.clone(),
            });
        }
    }
    Ok(worse)
}

/// Check once, store, and warn about every verdict that got worse.
pub async fn check_and_record(app: &App) -> Result<Vec<PathReport>, DoctorError> {
    let reports = check(&app.config, None).await?;
    for w in save(app, &reports)? {
        tracing::warn!(
            mailbox = %w.mailbox,
            domain = %w.domain,
            path = w.transport.as_str(),
            before = w.before.as_str(),
            now = w.now.as_str(),
            reason = %w.reason_en,
            "deliverability got worse"
        );
    }
    Ok(reports)
}

/// The daemon's task: check shortly after start, then once a day, until cancelled. A failed
/// check is logged and retried at the next turn; it never ends the task.
pub async fn run_daily(app: App, token: CancellationToken) -> anyhow::Result<()> {
    run_schedule(app, token, FIRST_CHECK_AFTER, EVERY).await
}

/// [`run_daily`] with its two waits given (tests use short ones).
pub async fn run_schedule(app: App, token: CancellationToken, first: Duration, every: Duration) -> anyhow::Result<()> {
    let mut wait = first;
    loop {
        tokio::select! {
            _ = token.cancelled() => return Ok(()),
            _ = tokio::time::sleep(wait) => {}
        }
        tokio::select! {
            _ = token.cancelled() => return Ok(()),
            r = check_and_record(&app) => match r {
                Ok(reports) => tracing::info!(paths = reports.len(), "deliverability checked"),
                Err(e) => tracing::warn!(error = %e, "deliverability check failed; trying again tomorrow"),
            },
        }
        wait = every;
    }
}

/// The last verdicts of one mailbox, one per company domain and sending path: what `status`
/// shows (its text the paths the mailbox sends on, its JSON every path).
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Empty until the doctor has run once.
    pub paths: Vec<PathStatus>,
}

/// The last verdict about one company domain on one sending path.
#[derive(Debug, Clone, PartialEq)]
pub struct PathStatus {
    pub domain: String,
    /// "direct" or "relay".
    pub transport: String,
    /// Whether this is the path the mailbox sends on.
    pub configured: bool,
    /// `None` only for a level this version does not know.
    pub level: Option<Level>,
    /// The last level that said something about the domain: a check that could not be made
    /// leaves it as it was.
    pub last_definite_level: Option<Level>,
    pub reason: verdict::Text,
    pub fix: Option<verdict::Text>,
    /// Unix seconds.
    pub checked_at: i64,
}

/// The last verdicts of `mailbox` as the store keeps them.
pub fn status(app: &App, mailbox: &str) -> Result<Summary, crate::store::StoreError> {
    let paths = app
        .store
        .verdicts()
        .all(mailbox)?
        .into_iter()
        .map(|r| PathStatus {
            level: Level::parse(&r.level),
            last_definite_level: r.definite_level.as_deref().and_then(Level::parse),
            reason: verdict::Text { de: r.reason_de, en: r.reason_en },
            fix: r.fix_en.map(|en| verdict::Text { de: r.fix_de.unwrap_or_default(), en }),
            domain: r.domain,
            transport: r.transport,
            configured: r.configured,
            checked_at: r.checked_at,
        })
        .collect();
    Ok(Summary { paths })
}

/// Render reports for people; every word comes from the verdict's catalog.
pub fn render(reports: &[PathReport], lang: Lang) -> String {
    render_with(reports, lang, None)
}

/// [`render`], with what the receivers' DMARC reports said about each domain and path under
/// its verdict.
pub fn render_with(reports: &[PathReport], lang: Lang, received: Option<&reports::Summary>) -> String {
    let w = verdict::report_words(lang);
    let mut s = String::new();
    for r in reports {
        let mark = if r.configured { format!(" ({})", w.configured) } else { String::new() };
        s.push_str(&format!(
            "{} · {} · {}: {} {} {}{mark}\n",
            r.mailbox,
            r.domain,
            w.path,
            r.transport.as_str(),
            w.via,
            r.facts.server
        ));
        s.push_str(&format!("  => {}\n", r.verdict.level.label(lang).to_uppercase()));
        s.push_str(&format!("  {}: {}\n", w.reason, r.verdict.reason().get(lang)));
        if let Some(f) = r.verdict.fix() {
            s.push_str(&format!("  {}: {}\n", w.fix, f.get(lang)));
        }
        let rest: Vec<_> = r.verdict.findings.iter().skip(1).collect();
        if !rest.is_empty() {
            s.push_str(&format!("  {}:\n", w.more));
            for f in rest {
                let label = if f.level == Level::Ok { w.hint } else { f.level.label(lang) };
                s.push_str(&format!("   - [{label}] {}", f.reason.get(lang)));
                if let Some(fix) = &f.fix {
                    s.push_str(&format!(" → {}", fix.get(lang)));
                }
                s.push('\n');
            }
        }
        if let Some(sum) = received {
            let path = match r.transport {
                Transport::Direct => crate::store::dmarc::ReportPath::Direct,
                Transport::Relay => crate::store::dmarc::ReportPath::Relay,
            };
            let line = reports_text::beside(sum, path, &r.domain, lang);
            s.push_str(&format!("  {}: {line}\n", reports_text::beside_label(lang)));
        }
        s.push('\n');
    }
    s
}
