//! `postbote doctor` (SPF / DKIM / DMARC verdicts per mailbox and path, with what the receivers'
//! DMARC reports said beside each), `postbote doctor reports` (those reports' figures) and
//! `postbote dkim` (make a signing key, print the TXT record to publish). All call
//! `deliverability`; this file only parses arguments and prints.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};

use crate::app::App;
use crate::deliverability::{self, verdict::Lang, verdict::Level};
use crate::dkim;
use crate::store::dmarc::ReportPath;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LangArg {
    De,
    En,
}

#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "Exit status: 0 when the path every mailbox sends on is ok; 2 when one is at risk or will fail; \
3 when one could not be checked (DNS did not answer) and none is known to be bad. \
The other path is judged too, for comparison, and does not count."
)]
pub struct DoctorArgs {
    /// Only this mailbox.
    #[arg(long)]
    pub mailbox: Option<String>,
    /// Print JSON (one object per mailbox, domain and path) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Language of the reasons and fixes.
    #[arg(long, value_enum, default_value = "de")]
    pub lang: LangArg,
    /// For tests: the receivers' figures as of this day (YYYY-MM-DD, UTC) instead of today.
    #[arg(long, hide = true, value_parser = parse_day)]
    pub now: Option<i64>,
    #[command(subcommand)]
    pub cmd: Option<DoctorCmd>,
}

#[derive(Debug, Subcommand)]
pub enum DoctorCmd {
    /// What the receivers' DMARC aggregate reports say: per path and reporter, messages, DMARC
    /// passed and failed, SPF and DKIM aligned; unreadable reports listed. Needs doctor.reports_mailbox.
    Reports(ReportsArgs),
}

#[derive(Debug, Args)]
pub struct ReportsArgs {
    /// This many days, ending today (UTC): 1 is today only.
    #[arg(long, default_value_t = 7)]
    pub days: u32,
    /// For tests: as of this day (YYYY-MM-DD, UTC) instead of today.
    #[arg(long, hide = true, value_parser = parse_day)]
    pub now: Option<i64>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Language of the text.
    #[arg(long, value_enum, default_value = "de")]
    pub lang: LangArg,
}

/// A day as the unix time of its noon (UTC), for `--now`.
fn parse_day(s: &str) -> Result<i64, String> {
    let d =
        chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|e| format!("\"{s}\" is no YYYY-MM-DD day: {e}"))?;
    Ok(d.and_hms_opt(12, 0, 0).map(|t| t.and_utc().timestamp()).unwrap_or_default())
}

fn lang(l: LangArg) -> Lang {
    match l {
        LangArg::De => Lang::De,
        LangArg::En => Lang::En,
    }
}

/// How many days `postbote doctor` looks back in the receivers' reports.
const DOCTOR_DAYS: u32 = 7;

#[derive(Debug, Subcommand)]
pub enum DkimCmd {
    /// Make an RSA-2048 signing key and print the DNS record to publish for it.
    Keygen {
        /// The signing domain (the company domain in From).
        #[arg(long)]
        domain: String,
        /// The selector (the DNS name is SELECTOR._domainkey.DOMAIN).
        #[arg(long)]
        selector: String,
        /// Where to write the private key (default: DATA_DIR/dkim/DOMAIN.SELECTOR.key). Never overwritten.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print the DNS record for each mailbox's configured key ([mailbox.dkim]).
    Record {
        #[arg(long)]
        mailbox: Option<String>,
    },
}

pub async fn doctor(app: &App, a: DoctorArgs) -> anyhow::Result<ExitCode> {
    if let Some(DoctorCmd::Reports(r)) = a.cmd {
        return received(app, r).await;
    }
    let reports = deliverability::check(&app.config, a.mailbox.as_deref()).await?;
    deliverability::save(app, &reports)?;
    let summary = match app.config.doctor.reports {
        Some(_) => {
            let blocks = deliverability::paths::path_blocks_now(&app.config).await?;
            let now = a.now.unwrap_or_else(crate::store::now);
            Some(deliverability::reports::summary(&app.store, DOCTOR_DAYS, now, &blocks)?)
        }
        None => None,
    };
    if a.json {
        let all: Vec<_> = reports
            .iter()
            .map(|r| {
                let mut v = r.to_json();
                if let Some(s) = &summary {
                    let path = match r.transport {
                        crate::config::Transport::Direct => ReportPath::Direct,
                        crate::config::Transport::Relay => ReportPath::Relay,
                    };
                    let (f, failed_at) = s.for_domain(path, &r.domain);
                    let (unchecked, _) = s.for_domain(ReportPath::Unchecked, &r.domain);
                    v["received"] = serde_json::json!({
                        "days": s.days,
                        "messages": f.messages,
                        "dmarc_pass": f.dmarc_pass,
                        "dmarc_fail": f.dmarc_fail,
                        "failed_at": failed_at,
                        "unchecked": unchecked.messages,
                    });
                }
                v
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&all)?)?;
    } else {
        out!("{}", deliverability::render_with(&reports, lang(a.lang), summary.as_ref()))?;
    }
    let configured = reports.iter().filter(|r| r.configured).map(|r| r.verdict.level);
    let levels: Vec<Level> = configured.collect();
    Ok(if levels.iter().any(|l| matches!(l, Level::AtRisk | Level::WillFail)) {
        ExitCode::from(2)
    } else if levels.contains(&Level::CouldNotCheck) {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}

/// `postbote doctor reports`.
async fn received(app: &App, a: ReportsArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        app.config.doctor.reports.is_some(),
        "doctor reports: no DMARC reports are collected; set doctor.reports_mailbox (and reports_folder) in the config"
    );
    anyhow::ensure!(a.days >= 1, "doctor reports: --days must be at least 1");
    let blocks = deliverability::paths::path_blocks_now(&app.config).await?;
    let s = deliverability::reports::summary(&app.store, a.days, a.now.unwrap_or_else(crate::store::now), &blocks)?;
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&deliverability::reports_text::to_json(&s))?)?;
    } else {
        out!("{}", deliverability::reports_text::render(&s, lang(a.lang)))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn dkim(app: &App, c: DkimCmd) -> anyhow::Result<ExitCode> {
    match c {
        DkimCmd::Keygen { domain, selector, out } => {
            let domain = domain.trim().trim_end_matches('.').to_lowercase();
            anyhow::ensure!(
                crate::config::is_address(&format!("x@{domain}")),
                "dkim keygen: --domain \"{domain}\" is not a domain"
            );
            anyhow::ensure!(
                !selector.is_empty() && selector.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'),
                "dkim keygen: --selector \"{selector}\" must be letters, digits, '-' or '.'"
            );
            let out =
                out.unwrap_or_else(|| app.config.agent.data_dir.join("dkim").join(format!("{domain}.{selector}.key")));
            let record = dkim::keygen(&domain, &selector, &out)?;
            eprintln!("private key written to {} (mode 0600)", out.display());
            eprintln!("publish this record in the zone of {domain}, then set in the mailbox's config:");
            eprintln!("  [mailbox.dkim]\n  selector = \"{selector}\"\n  key_file = \"{}\"", out.display());
            outln!("{record}")?;
            Ok(ExitCode::SUCCESS)
        }
        DkimCmd::Record { mailbox } => {
            let mut any = false;
            for m in app.config.mailboxes.iter().filter(|m| mailbox.as_ref().is_none_or(|id| &m.id == id)) {
                if let Some(d) = &m.dkim {
                    let (k, p) =
                        dkim::public_key_record(&d.key_file).with_context(|| format!("mailbox \"{}\"", m.id))?;
                    outln!("{}", dkim::txt_record(&d.domain, &d.selector, k, &p))?;
                    any = true;
                }
            }
            anyhow::ensure!(any, "no mailbox has a [mailbox.dkim] key configured");
            Ok(ExitCode::SUCCESS)
        }
    }
}
