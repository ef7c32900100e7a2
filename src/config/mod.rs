//! Configuration: TOML in two stages.
//!
//! Stage 1, [`raw`]: `RawConfig` is what serde reads (unknown keys are refused, so a typo is an
//! error, not a silently ignored setting). Stage 2: [`Config::from_raw`] validates it into types
//! that cannot be wrong: ports are ports, schedules parse, time zones exist, every password
//! source resolves. Each section has its own file with its type and its check ([`agent`],
//! [`servers`] for `[imap]`/`[relay]`/`[direct]`, [`outbox`], [`control`], [`jmap`], [`doctor`],
//! [`phones`], [`imap_server`], [`submission`], [`console`], [`mailbox`] with [`vacation`]); [`validate`] holds the checks they share, [`net`] the address
//! blocks of `jmap.trusted_proxies`. Every error names the mailbox, the key and the problem:
//! `config: mailbox "becker": smtp.port 99999 is not a port`.
//!
//! `config.example.toml` is the one source of defaults; a test checks that leaving a key out
//! gives the value the example shows. Secrets are `Secret`, whose `Debug` prints `[redacted]`.
//! This module never writes a file and never logs, and it imports nothing of the crate: every
//! other module may use it.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

mod agent;
mod console;
mod control;
mod doctor;
mod hours;
mod imap_server;
mod jmap;
mod mailbox;
mod net;
mod outbox;
mod phones;
mod raw;
mod servers;
mod submission;
mod vacation;
mod validate;

pub use agent::Agent;
pub use console::Console;
pub use control::{Control, ControlListen};
pub use doctor::{Doctor, ReportsFolder};
pub use hours::WorkingHours;
pub use imap_server::ImapListen;
pub use jmap::Jmap;
pub use mailbox::{Dkim, FolderSpec, Mailbox, MailboxKind, MailboxSmtp, Transport};
pub use net::Net;
pub use outbox::Outbox;
pub use phones::{Phones, Security};
pub use raw::{
    RawAgent, RawConfig, RawControl, RawDkim, RawDoctor, RawImap, RawImapServer, RawJmap, RawMailbox, RawMailboxSmtp,
    RawOutbox, RawPhones, RawRate, RawSmtp, RawSubmission, RawVacation,
};
pub use servers::{ImapServer, RateLimits, SendWhile, SmtpServer, Tls};
pub use submission::Submission;
pub use validate::{header_text_problem, is_address, local_datetime, parse_cron, parse_duration};

/// Makes a path from the config relative to the config file's directory (absolute ones stay).
type Rel<'a> = &'a dyn Fn(PathBuf) -> PathBuf;

/// The example configuration, shipped in the binary (`postbote config example`).
pub const EXAMPLE: &str = include_str!("../../config.example.toml");

/// Where the config is read from when neither `--config` nor `POSTBOTE_CONFIG` says otherwise.
pub const DEFAULT_PATH: &str = "/etc/postbote/postbote.toml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config: cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config: {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config: {0}")]
    Invalid(String),
}

/// A secret string (password, token). Its `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The value itself. Call sites are the few places that hand it to a server.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from (relative paths in it are relative to its directory).
    pub path: PathBuf,
    pub agent: Agent,
    pub imap: ImapServer,
    pub relay: Option<SmtpServer>,
    pub direct: Option<SmtpServer>,
    pub outbox: Outbox,
    pub control: Control,
    pub jmap: Jmap,
    pub doctor: Doctor,
    pub phones: Phones,
    pub imap_server: ImapListen,
    pub submission: Submission,
    pub console: Console,
    pub mailboxes: Vec<Mailbox>,
}

impl Config {
    /// Read, parse and validate the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        Self::parse(&text, path)
    }

    /// Parse and validate `text` as if read from `path` (used for relative paths and the
    /// inline-password permission check).
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig =
            toml::from_str(text).map_err(|e| ConfigError::Parse { path: path.to_owned(), message: e.to_string() })?;
        Self::from_raw(raw, path)
    }

    pub fn from_raw(raw: RawConfig, path: &Path) -> Result<Config, ConfigError> {
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let rel = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
        let agent = Agent::from_raw(raw.agent, &rel)?;
        let imap = ImapServer::from_raw(raw.imap, &rel)?;
        let tz = agent.time_zone;
        let relay = raw.relay.map(|s| SmtpServer::from_raw(s, "relay", SendWhile::Always, &rel, tz)).transpose()?;
        let direct = raw.direct.map(|s| SmtpServer::from_raw(s, "direct", SendWhile::Session, &rel, tz)).transpose()?;
        let outbox = Outbox::from_raw(raw.outbox)?;
        let control = Control::from_raw(&raw.control, &rel, &agent.data_dir)?;
        let jmap = Jmap::from_raw(raw.jmap, &rel)?;
        let doctor = Doctor::from_raw(raw.doctor)?;
        let phones = Phones::from_raw(raw.phones, &rel)?;
        let imap_server = ImapListen::from_raw(raw.imap_server, phones.tls.is_some())?;
        let submission = Submission::from_raw(raw.submission, &phones)?;
        let console = Console::from_raw(raw.console, &rel)?;

        if raw.mailboxes.is_empty() {
            return Err(validate::invalid("no [[mailbox]] is configured".into()));
        }
        let ctx = mailbox::Ctx {
            config_path: path,
            rel: &rel,
            have_relay: relay.is_some(),
            have_direct: direct.is_some(),
            tz,
        };
        let mut ids = BTreeSet::new();
        let mut mailboxes = Vec::new();
        for m in raw.mailboxes {
            let mb = ctx.mailbox(m)?;
            if !ids.insert(mb.id.clone()) {
                return Err(validate::invalid(format!("mailbox \"{}\" is configured twice", mb.id)));
            }
            mailboxes.push(mb);
        }
        doctor.check_mailboxes(&mailboxes)?;

        Ok(Config {
            path: path.to_owned(),
            agent,
            imap,
            relay,
            direct,
            outbox,
            control,
            jmap,
            doctor,
            phones,
            imap_server,
            submission,
            console,
            mailboxes,
        })
    }

    pub fn mailbox(&self, id: &str) -> Option<&Mailbox> {
        self.mailboxes.iter().find(|m| m.id == id)
    }

    /// The SQLite store's path.
    pub fn store_path(&self) -> PathBuf {
        self.agent.data_dir.join("postbote.sqlite")
    }

    /// The SMTP server a mailbox sends through.
    pub fn smtp_server(&self, mailbox: &Mailbox) -> &SmtpServer {
        match mailbox.transport {
            Transport::Direct => self.direct.as_ref().expect("validated: [direct] exists when a mailbox uses it"),
            Transport::Relay => self.relay.as_ref().expect("validated: [relay] exists when a mailbox uses it"),
        }
    }
}

#[cfg(test)]
mod tests;
