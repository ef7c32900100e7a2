//! Subcommands of the foundation: init, run, sync, status, messages, config.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::app::App;
use crate::config::{self, Config};

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Sync once and exit (the daemon, `postbote run`, syncs continuously).
    #[arg(long, required = true)]
    pub once: bool,
    /// Only this mailbox.
    #[arg(long)]
    pub mailbox: Option<String>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum MessagesCmd {
    /// The newest messages of a mailbox.
    List {
        #[arg(long)]
        mailbox: String,
        /// Folder name (e.g. INBOX, Sent).
        #[arg(long)]
        folder: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Validate the configuration file and say what is wrong.
    Check,
    /// Print an example configuration with every default.
    Example,
}

pub fn config(path: &std::path::Path, c: ConfigCmd) -> anyhow::Result<ExitCode> {
    match c {
        ConfigCmd::Example => {
            out!("{}", config::EXAMPLE)?;
            Ok(ExitCode::SUCCESS)
        }
        ConfigCmd::Check => {
            let cfg = Config::load(path)?;
            outln!(
                "{}: ok ({} mailbox{}: {})",
                path.display(),
                cfg.mailboxes.len(),
                if cfg.mailboxes.len() == 1 { "" } else { "es" },
                cfg.mailboxes.iter().map(|m| m.id.as_str()).collect::<Vec<_>>().join(", ")
            )?;
            if let Some(r) = &cfg.doctor.reports {
                let folder = match &r.folder {
                    config::FolderSpec::Name(n) => n.clone(),
                    config::FolderSpec::Role(role) => format!("\\{role}"),
                };
                outln!("DMARC reports: read from mailbox \"{}\", folder \"{folder}\"", r.mailbox)?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn init(app: &App) -> anyhow::Result<ExitCode> {
    outln!("config {}: ok", app.config.path.display())?;
    for l in repair_modes(app)? {
        outln!("repaired {}: others could read it (mode {:04o}, now {:04o})", l.path.display(), l.mode, l.want)?;
    }
    outln!("store {}: ready", app.store.path().display())?;
    let token = &app.config.control.token_file;
    crate::control::files::ensure_token(token)?;
    outln!("control token {}: ready (for the command line and the group postbote)", token.display())?;
    for m in &app.config.mailboxes {
        outln!("mailbox {} ({}): {} via {}", m.id, m.name, m.primary_address(), m.transport.as_str())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Tighten what an older install (or a umask of 022) left readable under the data directory.
fn repair_modes(app: &App) -> anyhow::Result<Vec<crate::files::Loose>> {
    let dir = &app.config.agent.data_dir;
    crate::files::repair(dir).with_context(|| format!("repairing the file modes under {}", dir.display()))
}

pub async fn run_daemon(app: App) -> anyhow::Result<ExitCode> {
    for l in repair_modes(&app)? {
        tracing::warn!(
            path = %l.path.display(),
            was = %format!("{:04o}", l.mode),
            now = %format!("{:04o}", l.want),
            "repaired a file mode: others could read it"
        );
    }
    crate::daemon::run(app, crate::daemon::shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

pub async fn sync(app: &App, a: SyncArgs) -> anyhow::Result<ExitCode> {
    let ids: Vec<String> = match &a.mailbox {
        Some(id) => {
            app.config.mailbox(id).with_context(|| format!("no mailbox \"{id}\" in the config"))?;
            vec![id.clone()]
        }
        None => app.config.mailboxes.iter().map(|m| m.id.clone()).collect(),
    };
    let progress = !a.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut failed = 0;
    for id in ids {
        match crate::mirror::sync_once(app, &id, progress).await {
            Ok(report) => outln!("{id}: {report}")?,
            Err(e) => {
                failed += 1;
                outln!("{id}: failed: {e}")?;
            }
        }
    }
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

pub async fn status(app: &App, a: StatusArgs) -> anyhow::Result<ExitCode> {
    let report = crate::status::collect(app).await?;
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&report.json)?)?;
    } else {
        out!("{}", report.text)?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn messages(app: &App, c: MessagesCmd) -> anyhow::Result<ExitCode> {
    match c {
        MessagesCmd::List { mailbox, folder, limit, json } => {
            app.config.mailbox(&mailbox).with_context(|| format!("no mailbox \"{mailbox}\" in the config"))?;
            let list = app.store.messages().list(&mailbox, folder.as_deref(), limit)?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&list)?)?;
                return Ok(ExitCode::SUCCESS);
            }
            let tz = app.config.agent.time_zone;
            for m in list {
                let date = crate::clock::local_time(tz, m.sent_at.unwrap_or(m.received_at));
                let from = m.from.first().map(|a| a.to_string()).unwrap_or_else(|| "(no sender)".into());
                let mut marks = String::new();
                marks.push(if m.keywords.iter().any(|k| k == "$seen") { ' ' } else { 'N' });
                marks.push(if m.keywords.iter().any(|k| k == "$flagged") { '!' } else { ' ' });
                marks.push(if m.has_attachment { '@' } else { ' ' });
                let warn = if m.parse_error.is_some() { " [malformed: kept raw]" } else { "" };
                outln!("{marks} {date:16}  {:8}  {:30}  {}{warn}", m.folder, truncate(&from, 30), m.subject)?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_string() } else { s.chars().take(n - 1).chain(std::iter::once('…')).collect() }
}
