//! The command line. Each subcommand parses its arguments here (clap derive) and calls one
//! library function; the per-feature subcommands live in the files beside this one.
//! Output for people goes to stdout, diagnostics to stderr through `tracing`.
//!
//! Everything for stdout goes through [`outln!`] and [`out!`], never `println!`: a write to a
//! closed pipe becomes [`StdoutClosed`], which `main` ends on quietly, where `println!` would
//! panic.

/// Standard output was closed under us (`postbote messages list | head -1`): the reader has
/// what it wanted. Not a failure; `main` ends with status 0 on it.
#[derive(Debug, thiserror::Error)]
#[error("standard output is closed")]
pub struct StdoutClosed;

/// Write to standard output. A closed pipe is [`StdoutClosed`], any other failure an error.
pub(crate) fn write_out(args: std::fmt::Arguments<'_>) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_fmt(args).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        Err(e) => Err(anyhow::Error::new(e).context("writing to standard output")),
    }
}

/// `println!` that returns `anyhow::Result<()>` instead of panicking on a closed pipe.
macro_rules! outln {
    () => {
        $crate::cli::write_out(format_args!("\n"))
    };
    ($($t:tt)*) => {
        $crate::cli::write_out(format_args!("{}\n", format_args!($($t)*)))
    };
}

/// `print!` that returns `anyhow::Result<()>` instead of panicking on a closed pipe.
macro_rules! out {
    ($($t:tt)*) => {
        $crate::cli::write_out(format_args!($($t)*))
    };
}

mod autoreply;
mod console;
mod core;
mod device;
mod doctor;
mod outbound;
mod tls;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::config::{self, Config};

#[derive(Debug, Parser)]
#[command(name = "postbote", version, about = "Mail agent for small trades businesses", propagate_version = true)]
pub struct Cli {
    /// Configuration file.
    #[arg(long, global = true, env = "POSTBOTE_CONFIG", default_value = config::DEFAULT_PATH)]
    pub config: PathBuf,
    /// More log output (-v: debug for postbote, -vv: trace for postbote). Credentials never appear.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the data directory and the store, and check the config.
    Init,
    /// Run the daemon until SIGINT or SIGTERM.
    Run,
    /// Mirror the mailboxes now.
    Sync(core::SyncArgs),
    /// Show each mailbox's sync state, queue, auto-replies and deliverability.
    Status(core::StatusArgs),
    /// List mirrored messages.
    #[command(subcommand)]
    Messages(core::MessagesCmd),
    /// Check or print the configuration.
    #[command(subcommand)]
    Config(core::ConfigCmd),
    /// Queue an outgoing message.
    Send(outbound::SendArgs),
    /// Inspect and steer the outbound queue.
    #[command(subcommand)]
    Queue(outbound::QueueCmd),
    /// Office sessions: mail on the direct path leaves only while one is logged in.
    #[command(subcommand)]
    Session(outbound::SessionCmd),
    /// Leave settings (automatic replies).
    #[command(subcommand)]
    Vacation(autoreply::VacationCmd),
    /// Explain auto-reply decisions.
    #[command(subcommand)]
    Autoreply(autoreply::AutoreplyCmd),
    /// Phones and other devices (JMAP, IMAP, SMTP submission): add with one-step setup, list, revoke.
    #[command(subcommand)]
    Device(device::DeviceCmd),
    /// Certificates for the phones' listeners (a self-signed one for the LAN).
    #[command(subcommand)]
    Tls(tls::TlsCmd),
    /// Check SPF, DKIM and DMARC for the paths the mailboxes send on.
    Doctor(doctor::DoctorArgs),
    /// DKIM keys for signing by postbote.
    #[command(subcommand)]
    Dkim(doctor::DkimCmd),
    /// The office's web console.
    #[command(subcommand)]
    Console(console::ConsoleCmd),
}

impl Cli {
    /// Whether the command prints JSON: its errors are then JSON on stdout too.
    pub fn wants_json(&self) -> bool {
        match &self.command {
            Command::Status(a) => a.json,
            Command::Messages(core::MessagesCmd::List { json, .. }) => *json,
            Command::Queue(outbound::QueueCmd::List { json, .. } | outbound::QueueCmd::Show { json, .. }) => *json,
            Command::Session(outbound::SessionCmd::List { json }) => *json,
            Command::Vacation(autoreply::VacationCmd::Show { json, .. }) => *json,
            Command::Autoreply(autoreply::AutoreplyCmd::Explain { json, .. }) => *json,
            Command::Device(device::DeviceCmd::List { json } | device::DeviceCmd::Add { json, .. }) => *json,
            Command::Doctor(a) => match &a.cmd {
                Some(doctor::DoctorCmd::Reports(r)) => r.json,
                None => a.json,
            },
            _ => false,
        }
    }
}

/// Logging to stderr. The IMAP client crate logs credentials at trace level, so it (and the TLS
/// and DNS crates) are held at `warn` whatever `RUST_LOG` says.
pub fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let base = match verbose {
        0 => "postbote=info",
        1 => "postbote=debug",
        _ => "postbote=trace",
    };
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(base));
    // imap-next traces every fragment a phone sends, LOGIN and AUTHENTICATE lines included.
    for d in [
        "async_imap=warn",
        "imap_proto=warn",
        "imap_next=warn",
        "imap_codec=warn",
        "rustls=warn",
        "hickory_proto=warn",
        "hickory_resolver=warn",
    ] {
        filter = filter.add_directive(d.parse().expect("static directive"));
    }
    // Colours only for a person at a terminal, never escape codes in a log file.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false)
        .try_init();
}

pub fn load_config(path: &std::path::Path) -> anyhow::Result<Config> {
    Config::load(path).map_err(anyhow::Error::from)
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let path = cli.config.clone();
    match cli.command {
        Command::Config(c) => core::config(&path, c),
        Command::Tls(c) => tls::tls(&path, c),
        cmd => {
            let cfg = load_config(&path)?;
            let store = crate::store::Store::open(&cfg.store_path())
                .with_context(|| format!("opening the store under {}", cfg.agent.data_dir.display()))?;
            store.ensure_accounts(cfg.mailboxes.iter().map(|m| m.id.as_str()))?;
            let app = crate::app::App::new(std::sync::Arc::new(cfg), store);
            match cmd {
                Command::Config(_) | Command::Tls(_) => unreachable!("handled above"),
                Command::Init => core::init(&app),
                Command::Run => core::run_daemon(app).await,
                Command::Sync(a) => core::sync(&app, a).await,
                Command::Status(a) => core::status(&app, a).await,
                Command::Messages(c) => core::messages(&app, c),
                Command::Send(a) => outbound::send(&app, a).await,
                Command::Queue(c) => outbound::queue(&app, c).await,
                Command::Session(c) => outbound::session(&app, c).await,
                Command::Vacation(c) => autoreply::vacation(&app, c).await,
                Command::Autoreply(c) => autoreply::autoreply(&app, c).await,
                Command::Device(c) => device::device(&app, c).await,
                Command::Doctor(a) => doctor::doctor(&app, a).await,
                Command::Dkim(c) => doctor::dkim(&app, c).await,
                Command::Console(c) => console::console(&app, c).await,
            }
        }
    }
}
