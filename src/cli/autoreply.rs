//! `postbote vacation set|show|off` and `postbote autoreply explain`.
//!
//! Dates on the command line are local dates or date-times in `agent.time_zone` ("2026-12-21",
//! "2026-12-21T14:00", "2026-12-21 14:00"); a bare `--until` date is inclusive. `explain`
//! only reads: it decides a message file against the stored settings and history and sends
//! nothing; with `--json` it prints exactly one JSON object.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use serde_json::json;

use crate::app::App;
use crate::autoreply::{self, Answer, Settings};
use crate::config;

#[derive(Debug, Subcommand)]
pub enum VacationCmd {
    /// Show a mailbox's leave settings.
    Show {
        #[arg(long)]
        mailbox: String,
        #[arg(long)]
        json: bool,
    },
    /// Switch automatic replies on and change what is given; everything else stays.
    Set(Box<SetArgs>),
    /// Switch automatic replies off (the settings are kept for next time).
    Off {
        #[arg(long)]
        mailbox: String,
    },
}

#[derive(Debug, Args)]
pub struct SetArgs {
    #[arg(long)]
    pub mailbox: String,
    /// First day (or date-time) of the leave, local time.
    #[arg(long)]
    pub from: Option<String>,
    /// Last day of the leave (inclusive), or the date-time it ends, local time.
    #[arg(long)]
    pub until: Option<String>,
    /// Forget the dates: on until switched off (or only during --schedule).
    #[arg(long, conflicts_with_all = ["from", "until"])]
    pub no_dates: bool,
    /// Subject; "{subject}" stands for the original subject.
    #[arg(long)]
    pub subject: Option<String>,
    /// The reply text.
    #[arg(long, conflicts_with = "body_file")]
    pub body: Option<String>,
    /// Read the reply text from a file (UTF-8).
    #[arg(long)]
    pub body_file: Option<PathBuf>,
    /// An HTML version of the text, from a file ("" file: none).
    #[arg(long)]
    pub html_file: Option<PathBuf>,
    /// A different text for senders of the company's own domain ("" for none).
    #[arg(long)]
    pub internal_body: Option<String>,
    /// Answer each sender at most once per this long (at least 1d).
    #[arg(long)]
    pub interval: Option<String>,
    /// Recurring absence (crontab, 5 fields, local time); repeat for several. Replaces the old ones.
    #[arg(long)]
    pub schedule: Vec<String>,
    /// Remove the recurring absence.
    #[arg(long, conflicts_with = "schedule")]
    pub no_schedule: bool,
    /// "everyone" or "known" (senders mailed before, or of the company's domain).
    #[arg(long)]
    pub answer: Option<String>,
    #[arg(long)]
    pub max_per_hour: Option<u32>,
    /// A queued reply older than this is cancelled.
    #[arg(long)]
    pub max_age: Option<String>,
    /// Forget who was answered already: everyone gets the (new) reply again.
    #[arg(long)]
    pub reset_memory: bool,
}

#[derive(Debug, Subcommand)]
pub enum AutoreplyCmd {
    /// Say whether a message would get an automatic reply, and why. Sends nothing.
    Explain {
        #[arg(long)]
        mailbox: String,
        /// The message (RFC 5322 .eml file).
        file: PathBuf,
        /// As if it arrived at this local date-time (default: now).
        #[arg(long)]
        at: Option<String>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// A local date or date-time in `tz`. `end_of_day`: a bare date means the end of that day.
pub fn parse_local(s: &str, tz: chrono_tz::Tz, end_of_day: bool) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Ok(d.with_timezone(&Utc));
    }
    let normalised = s.trim().replacen(' ', "T", 1);
    let normalised =
        if normalised.len() == 16 && normalised.contains('T') { format!("{normalised}:00") } else { normalised };
    let d: toml::value::Datetime = normalised
        .parse()
        .map_err(|_| anyhow::anyhow!("\"{s}\" is not a date (2026-12-21) or local date-time (2026-12-21T14:00)"))?;
    Ok(config::local_datetime(&d, tz, end_of_day, "date")?)
}

fn read_text(p: &PathBuf) -> anyhow::Result<String> {
    std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))
}

fn opt(s: String) -> Option<String> {
    if s.trim().is_empty() { None } else { Some(s) }
}

fn secs(s: &str, what: &str) -> anyhow::Result<i64> {
    config::parse_duration(s)
        .map(|d| d.as_secs() as i64)
        .ok_or_else(|| anyhow::anyhow!("{what} \"{s}\" is not a duration (a number and one of s, m, h, d, w: \"7d\")"))
}

fn settings_json(s: &Settings, tz: chrono_tz::Tz) -> serde_json::Value {
    let local = |t: Option<DateTime<Utc>>| t.map(|t| t.with_timezone(&tz).to_rfc3339());
    json!({
        "isEnabled": s.is_enabled,
        "fromDate": s.from_date.map(|t| t.to_rfc3339()),
        "toDate": s.to_date.map(|t| t.to_rfc3339()),
        "fromLocal": local(s.from_date),
        "toLocal": local(s.to_date),
        "subject": s.subject,
        "textBody": s.text_body,
        "htmlBody": s.html_body,
        "internalBody": s.internal_body,
        "interval": autoreply::settings::human_duration(s.interval_secs),
        "schedule": s.schedule,
        "answer": s.answer.as_str(),
        "maxPerHour": s.max_per_hour,
        "maxAge": autoreply::settings::human_duration(s.max_age_secs),
        "memorySince": s.memory_since.map(|t| t.to_rfc3339()),
    })
}

fn print_settings(s: &Settings, tz: chrono_tz::Tz) -> anyhow::Result<()> {
    outln!("automatic replies: {}", if s.is_enabled { "on" } else { "off" })?;
    outln!("when:      {}", s.describe_window(tz))?;
    outln!("subject:   {}", s.subject.as_deref().unwrap_or(autoreply::settings::DEFAULT_SUBJECT))?;
    outln!("text:      {}", s.text_body.as_deref().unwrap_or(autoreply::settings::DEFAULT_TEXT))?;
    if s.html_body.is_some() {
        outln!("html:      yes")?;
    }
    if let Some(t) = &s.internal_body {
        outln!("internal:  {t}")?;
    }
    outln!(
        "interval:  {} per sender; answer {}; at most {} per hour; queued replies expire after {}",
        autoreply::settings::human_duration(s.interval_secs),
        s.answer.as_str(),
        s.max_per_hour,
        autoreply::settings::human_duration(s.max_age_secs)
    )
}

pub async fn vacation(app: &App, c: VacationCmd) -> anyhow::Result<ExitCode> {
    let tz = app.config.agent.time_zone;
    // What the config says counts from the moment it is written, daemon running or not.
    autoreply::apply_config(app)?;
    match c {
        VacationCmd::Show { mailbox, json } => {
            let s = autoreply::load_settings(app, &mailbox)?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&settings_json(&s, tz))?)?;
            } else {
                print_settings(&s, tz)?;
            }
        }
        VacationCmd::Off { mailbox } => {
            let mut s = autoreply::load_settings(app, &mailbox)?;
            s.is_enabled = false;
            autoreply::save_settings(app, &mailbox, &s)?;
            outln!("{mailbox}: automatic replies off")?;
        }
        VacationCmd::Set(a) => {
            let mut s = autoreply::load_settings(app, &a.mailbox)?;
            s.is_enabled = true;
            if a.no_dates {
                s.from_date = None;
                s.to_date = None;
            }
            if let Some(f) = &a.from {
                s.from_date = Some(parse_local(f, tz, false).context("--from")?);
            }
            if let Some(u) = &a.until {
                s.to_date = Some(parse_local(u, tz, true).context("--until")?);
            }
            if let Some(x) = a.subject {
                if let Some(problem) = config::header_text_problem(&x) {
                    bail!("--subject \"{}\" {problem}: the reply's subject is one line", x.escape_debug());
                }
                s.subject = opt(x);
            }
            if let Some(x) = a.body {
                s.text_body = opt(x);
            }
            if let Some(p) = &a.body_file {
                s.text_body = opt(read_text(p)?);
            }
            if let Some(p) = &a.html_file {
                s.html_body = opt(read_text(p)?);
            }
            if let Some(x) = a.internal_body {
                s.internal_body = opt(x);
            }
            if let Some(i) = &a.interval {
                s.interval_secs = secs(i, "--interval")?;
            }
            if a.no_schedule {
                s.schedule.clear();
            }
            if !a.schedule.is_empty() {
                s.schedule = a.schedule.clone();
            }
            if let Some(x) = &a.answer {
                s.answer =
                    Answer::parse(x).with_context(|| format!("--answer \"{x}\" must be \"everyone\" or \"known\""))?;
            }
            if let Some(n) = a.max_per_hour {
                s.max_per_hour = n;
            }
            if let Some(x) = &a.max_age {
                s.max_age_secs = secs(x, "--max-age")?;
            }
            if a.reset_memory {
                s.memory_since = Some(Utc::now());
            }
            if let (Some(from), Some(until)) = (s.from_date, s.to_date)
                && until <= from
            {
                bail!("the leave would end before it begins ({}): check --from and --until", s.describe_window(tz));
            }
            if s.to_date.is_some_and(|t| t <= Utc::now()) {
                bail!("the leave would already be over ({}): check --until", s.describe_window(tz));
            }
            autoreply::save_settings(app, &a.mailbox, &s)?;
            outln!("{}: automatic replies on", a.mailbox)?;
            print_settings(&s, tz)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn autoreply(app: &App, c: AutoreplyCmd) -> anyhow::Result<ExitCode> {
    let tz = app.config.agent.time_zone;
    match c {
        AutoreplyCmd::Explain { mailbox, file, at, json } => {
            autoreply::apply_config(app)?;
            let raw = std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let at = match &at {
                Some(a) => parse_local(a, tz, false).context("--at")?,
                None => Utc::now(),
            };
            let e = autoreply::explain(app, &mailbox, &raw, at)?;
            let d = &e.decision;
            if json {
                let reply = e.reply.as_ref().map(|r| {
                    json!({
                        "to": r.to,
                        "from": r.from,
                        "subject": r.subject,
                        "message_id": r.message_id,
                        "headers": header_lines(&r.raw),
                    })
                });
                let out = json!({
                    "decision": if d.reply { "reply" } else { "skip" },
                    "reason": d.reason.code(),
                    "detail": d.detail,
                    "mailbox": mailbox,
                    "at": e.at.to_rfc3339(),
                    "return_path": e.return_path.address(),
                    "internal": d.internal,
                    "reply": reply,
                });
                outln!("{}", serde_json::to_string(&out)?)?;
            } else {
                outln!("{}: {} ({})", if d.reply { "reply" } else { "skip" }, d.reason.code(), d.detail)?;
                outln!("as of {}", e.at.with_timezone(&tz).format("%d.%m.%Y %H:%M %Z"))?;
                if let Some(r) = &e.reply {
                    outln!("\nthe reply would be:")?;
                    for l in header_lines(&r.raw) {
                        outln!("  {l}")?;
                    }
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The header lines of a rendered message, unfolded.
fn header_lines(raw: &[u8]) -> Vec<String> {
    let end = crate::message::find_header_end(raw);
    let text = String::from_utf8_lossy(&raw[..end]);
    let mut out: Vec<String> = Vec::new();
    for line in text.split("\r\n").flat_map(|l| l.split('\n')) {
        if line.is_empty() {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.push(' ');
                last.push_str(line.trim());
            }
        } else {
            out.push(line.to_string());
        }
    }
    out
}
