//! Configuration: TOML in two stages.
//!
//! `RawConfig` is what serde reads (unknown keys are refused, so a typo is an error, not a
//! silently ignored setting). `Config::from_raw` validates it into types that cannot be wrong:
//! ports are ports, schedules parse, time zones exist, every password source resolves.
//! Every error names the mailbox, the key and the problem:
//! `config: mailbox "becker": smtp.port 99999 is not a port`.
//!
//! `config.example.toml` is the one source of defaults; a test checks that leaving a key out
//! gives the value the example shows. Secrets are `Secret`, whose `Debug` prints `[redacted]`.
//! This module never writes a file and never logs.

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

mod hours;
pub use hours::WorkingHours;

/// The example configuration, shipped in the binary (`postbote config example`).
pub const EXAMPLE: &str = include_str!("../config.example.toml");

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

// ---------------------------------------------------------------------------------------------
// Stage 1: what the file says.

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub agent: RawAgent,
    pub imap: RawImap,
    pub relay: Option<RawSmtp>,
    pub direct: Option<RawSmtp>,
    #[serde(default)]
    pub outbox: RawOutbox,
    #[serde(default)]
    pub control: RawControl,
    #[serde(default)]
    pub jmap: RawJmap,
    #[serde(default)]
    pub doctor: RawDoctor,
    #[serde(default, rename = "mailbox")]
    pub mailboxes: Vec<RawMailbox>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawAgent {
    pub data_dir: Option<PathBuf>,
    pub time_zone: Option<String>,
    pub poll: Option<String>,
    pub batch_size: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawImap {
    pub host: String,
    pub port: Option<i64>,
    pub tls: Option<String>,
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSmtp {
    pub host: String,
    pub port: Option<i64>,
    pub tls: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub send_while: Option<String>,
    pub log_sessions: Option<bool>,
    pub log_sessions_until: Option<toml::value::Datetime>,
    pub max_per_minute: Option<i64>,
    pub max_per_hour: Option<i64>,
    pub max_per_day: Option<i64>,
    pub max_recipients_per_message: Option<i64>,
}

/// Send-rate limits as written in `[direct]`, `[relay]` and `[mailbox.smtp]` (the same four
/// keys in each; not a flattened struct, which serde cannot combine with unknown-key refusal).
#[derive(Debug, Default, Clone)]
pub struct RawRate {
    pub max_per_minute: Option<i64>,
    pub max_per_hour: Option<i64>,
    pub max_per_day: Option<i64>,
    pub max_recipients_per_message: Option<i64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawOutbox {
    pub lifetime: Option<String>,
    pub transcript_retention: Option<String>,
    pub max_messages_per_connection: Option<u32>,
    pub retry_schedule: Option<Vec<String>>,
    pub still_waiting_after: Option<String>,
    pub working_hours: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawControl {
    pub listen: Option<String>,
    pub session_ttl: Option<String>,
    pub max_session_ttl: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawJmap {
    pub enabled: Option<bool>,
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub trusted_proxies: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawDoctor {
    pub resolver: Option<String>,
    pub dkim_selectors: Option<Vec<String>>,
    pub timeout: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMailbox {
    pub id: String,
    pub kind: Option<String>,
    pub name: Option<String>,
    #[serde(default)]
    pub addresses: Vec<String>,
    pub hosted_address: Option<String>,
    pub login: Option<String>,
    pub password: Option<String>,
    pub password_file: Option<PathBuf>,
    pub password_env: Option<String>,
    pub folders: Option<Vec<String>>,
    pub transport: Option<String>,
    pub sent_folder: Option<String>,
    pub smtp: Option<RawMailboxSmtp>,
    pub dkim: Option<RawDkim>,
    pub vacation: Option<RawVacation>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMailboxSmtp {
    pub login: Option<String>,
    pub password: Option<String>,
    pub password_file: Option<PathBuf>,
    pub password_env: Option<String>,
    pub max_per_minute: Option<i64>,
    pub max_per_hour: Option<i64>,
    pub max_per_day: Option<i64>,
    pub max_recipients_per_message: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDkim {
    pub selector: String,
    pub key_file: PathBuf,
    pub domain: Option<String>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawVacation {
    pub enabled: Option<bool>,
    pub start: Option<toml::value::Datetime>,
    pub end: Option<toml::value::Datetime>,
    pub subject: Option<String>,
    pub body: Option<String>,
    pub body_html: Option<String>,
    pub internal_body: Option<String>,
    pub interval: Option<String>,
    pub schedule: Option<Vec<String>>,
    pub answer: Option<String>,
    pub max_per_hour: Option<u32>,
    pub max_age: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Stage 2: validated types.

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
    pub mailboxes: Vec<Mailbox>,
}

#[derive(Debug, Clone)]
pub struct Agent {
    pub data_dir: PathBuf,
    pub time_zone: chrono_tz::Tz,
    /// The poll schedule as written (crontab syntax, validated).
    pub poll: String,
    pub batch_size: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Implicit,
    /// Plain greeting, then STARTTLS before anything else is said.
    StartTls,
}

#[derive(Debug, Clone)]
pub struct ImapServer {
    pub host: String,
    pub port: u16,
    pub tls: Tls,
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendWhile {
    /// Only while at least one office session is logged in (the vendor's direct connection).
    Session,
    /// Whenever the daemon runs.
    Always,
}

#[derive(Debug, Clone)]
pub struct SmtpServer {
    pub host: String,
    pub port: u16,
    pub tls: Tls,
    pub ca_file: Option<PathBuf>,
    pub send_while: SendWhile,
    pub log_sessions: bool,
    /// Transcripts switch themselves off after this local time.
    pub log_sessions_until: Option<chrono::DateTime<chrono::Utc>>,
    /// Limits for everything sent through this transport, all mailboxes together.
    pub limits: RateLimits,
}

/// How much a provider lets one transport or one login send. `None` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimits {
    pub per_minute: Option<u32>,
    pub per_hour: Option<u32>,
    pub per_day: Option<u32>,
    /// A message with more recipients goes out as several envelopes (same Message-ID).
    pub recipients_per_message: Option<u32>,
}

impl RateLimits {
    pub fn is_unlimited(&self) -> bool {
        *self == RateLimits::default()
    }

    /// Validate the raw keys; `section` prefixes the key in errors ("direct", "smtp").
    fn from_raw(r: &RawRate, section: &str) -> Result<RateLimits, (String, String)> {
        let one = |v: Option<i64>, key: &str| -> Result<Option<u32>, (String, String)> {
            match v {
                None => Ok(None),
                Some(n) if (1..=10_000_000).contains(&n) => Ok(Some(n as u32)),
                Some(n) => Err((
                    format!("{section}.{key}"),
                    format!("{n} must be a whole number of at least 1 (leave the key out for no limit)"),
                )),
            }
        };
        Ok(RateLimits {
            per_minute: one(r.max_per_minute, "max_per_minute")?,
            per_hour: one(r.max_per_hour, "max_per_hour")?,
            per_day: one(r.max_per_day, "max_per_day")?,
            recipients_per_message: one(r.max_recipients_per_message, "max_recipients_per_message")?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct Outbox {
    pub lifetime: Duration,
    pub transcript_retention: Duration,
    pub max_messages_per_connection: u32,
    /// Waits between attempts after a temporary failure; the last one repeats.
    pub retry_schedule: Vec<Duration>,
    /// Closed-gate time inside working hours after which the sender is told that mail waits.
    pub still_waiting_after: Duration,
    /// The office's working hours, in `agent.time_zone`.
    pub working_hours: WorkingHours,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlListen {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

#[derive(Debug, Clone)]
pub struct Control {
    pub listen: ControlListen,
    pub session_ttl: Duration,
    /// No lease is ever longer: a login asking for more gets this, a heartbeat renews up to it.
    pub max_session_ttl: Duration,
    /// The secret a TCP client must present (`control.token` in the data directory; not a key).
    pub token_file: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Jmap {
    pub enabled: bool,
    pub listen: SocketAddr,
    /// Base URL without a trailing slash, e.g. `https://postbote.bau-firma.de`.
    pub public_url: String,
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Reverse proxies whose `X-Forwarded-For` names the client (empty: the header is ignored).
    pub trusted_proxies: Vec<crate::authlimit::Net>,
}

#[derive(Debug, Clone)]
pub struct Doctor {
    pub resolver: Option<SocketAddr>,
    pub dkim_selectors: Vec<String>,
    pub timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailboxKind {
    Employee,
    Shared,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Direct,
    Relay,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Direct => "direct",
            Transport::Relay => "relay",
        }
    }
}

/// A folder to mirror: by SPECIAL-USE role (`\Sent`) or by name (`INBOX`, `Projekte/2026`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FolderSpec {
    Role(String),
    Name(String),
}

#[derive(Debug, Clone)]
pub struct Mailbox {
    pub id: String,
    pub kind: MailboxKind,
    pub name: String,
    /// Company addresses, lowercased; the first is the one mail is sent from.
    pub addresses: Vec<String>,
    pub hosted_address: String,
    pub login: String,
    pub password: Secret,
    pub folders: Vec<FolderSpec>,
    pub transport: Transport,
    pub sent_folder: FolderSpec,
    pub smtp: Option<MailboxSmtp>,
    pub dkim: Option<Dkim>,
    /// As written; `autoreply` turns it into its own settings type.
    pub vacation: Option<RawVacation>,
}

impl Mailbox {
    /// The address mail from this mailbox carries in From.
    pub fn primary_address(&self) -> &str {
        &self.addresses[0]
    }

    /// Every address that counts as this mailbox: company addresses and the hosted one.
    pub fn all_addresses(&self) -> impl Iterator<Item = &str> {
        self.addresses.iter().map(String::as_str).chain(std::iter::once(self.hosted_address.as_str()))
    }

    /// The company domains this mailbox sends for (from its addresses), lowercased, unique.
    pub fn company_domains(&self) -> BTreeSet<String> {
        self.addresses.iter().filter_map(|a| a.rsplit_once('@').map(|(_, d)| d.to_string())).collect()
    }
}

#[derive(Debug, Clone)]
pub struct MailboxSmtp {
    pub login: String,
    pub password: Secret,
    /// Limits of this login (on top of the transport's).
    pub limits: RateLimits,
}

#[derive(Debug, Clone)]
pub struct Dkim {
    pub selector: String,
    pub key_file: PathBuf,
    /// The signing domain: the domain of the mailbox's first address unless set.
    pub domain: String,
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
        let ctx = Ctx { config_path: path.to_owned() };

        let agent = Agent {
            data_dir: rel(raw.agent.data_dir.unwrap_or_else(|| "/var/lib/postbote".into())),
            time_zone: {
                let tz = raw.agent.time_zone.unwrap_or_else(|| "Europe/Berlin".into());
                tz.parse().map_err(|_| {
                    invalid(format!("agent.time_zone \"{tz}\" is not a known time zone (e.g. \"Europe/Berlin\")"))
                })?
            },
            poll: {
                let poll = raw.agent.poll.unwrap_or_else(|| "*/2 * * * *".into());
                parse_cron(&poll)
                    .map_err(|e| invalid(format!("agent.poll \"{poll}\" is not a crontab schedule: {e}")))?;
                poll
            },
            batch_size: match raw.agent.batch_size.unwrap_or(200) {
                0 => return Err(invalid("agent.batch_size must be at least 1".into())),
                n => n,
            },
        };

        let imap = ImapServer {
            host: non_empty(raw.imap.host, "imap.host")?,
            port: port(raw.imap.port, 993, "imap.port")?,
            tls: tls(raw.imap.tls.as_deref(), "imap.tls")?,
            ca_file: raw.imap.ca_file.map(rel).map(|p| existing_file(p, "imap.ca_file")).transpose()?,
        };

        let smtp = |s: RawSmtp, section: &str, default_while: SendWhile| -> Result<SmtpServer, ConfigError> {
            let tls = tls(s.tls.as_deref().or(Some("starttls")), &format!("{section}.tls"))?;
            let default_port = if tls == Tls::Implicit { 465 } else { 587 };
            Ok(SmtpServer {
                host: non_empty(s.host, &format!("{section}.host"))?,
                port: port(s.port, default_port, &format!("{section}.port"))?,
                tls,
                ca_file: s.ca_file.map(&rel).map(|p| existing_file(p, &format!("{section}.ca_file"))).transpose()?,
                send_while: match s.send_while.as_deref() {
                    None => default_while,
                    Some("session") => SendWhile::Session,
                    Some("always") => SendWhile::Always,
                    Some(o) => {
                        return Err(invalid(format!("{section}.send_while \"{o}\" must be \"session\" or \"always\"")));
                    }
                },
                log_sessions: s.log_sessions.unwrap_or(false),
                log_sessions_until: s
                    .log_sessions_until
                    .map(|d| local_datetime(&d, agent.time_zone, false, &format!("{section}.log_sessions_until")))
                    .transpose()?,
                limits: RateLimits::from_raw(
                    &RawRate {
                        max_per_minute: s.max_per_minute,
                        max_per_hour: s.max_per_hour,
                        max_per_day: s.max_per_day,
                        max_recipients_per_message: s.max_recipients_per_message,
                    },
                    section,
                )
                .map_err(|(k, p)| invalid(format!("{k} {p}")))?,
            })
        };
        let relay = raw.relay.map(|s| smtp(s, "relay", SendWhile::Always)).transpose()?;
        let direct = raw.direct.map(|s| smtp(s, "direct", SendWhile::Session)).transpose()?;

        let raw_lifetime = raw.outbox.lifetime.clone();
        let outbox = Outbox {
            lifetime: duration(raw.outbox.lifetime.as_deref().unwrap_or("5d"), "outbox.lifetime")?,
            transcript_retention: duration(
                raw.outbox.transcript_retention.as_deref().unwrap_or("14d"),
                "outbox.transcript_retention",
            )?,
            max_messages_per_connection: raw.outbox.max_messages_per_connection.unwrap_or(100).max(1),
            retry_schedule: {
                let given = raw
                    .outbox
                    .retry_schedule
                    .unwrap_or_else(|| ["1m", "5m", "15m", "30m", "1h", "2h", "4h"].map(String::from).to_vec());
                if given.is_empty() {
                    return Err(invalid(
                        "outbox.retry_schedule is empty: give at least one wait, e.g. [\"4h\"]".into(),
                    ));
                }
                given.iter().map(|d| duration(d, "outbox.retry_schedule")).collect::<Result<Vec<_>, _>>()?
            },
            still_waiting_after: duration(
                raw.outbox.still_waiting_after.as_deref().unwrap_or("2h"),
                "outbox.still_waiting_after",
            )?,
            working_hours: {
                let given = raw.outbox.working_hours.as_deref().unwrap_or("Mon-Fri 07:00-18:00");
                WorkingHours::parse(given).map_err(|e| invalid(format!("outbox.working_hours \"{given}\": {e}")))?
            },
        };

        if outbox.lifetime.is_zero() {
            return Err(invalid(format!(
                "outbox.lifetime \"{}\" must be longer than zero: every message would expire unsent",
                raw_lifetime.as_deref().unwrap_or("")
            )));
        }

        let control = Control {
            listen: control_listen(raw.control.listen.as_deref().unwrap_or("127.0.0.1:4190"), &rel)?,
            session_ttl: duration(raw.control.session_ttl.as_deref().unwrap_or("8h"), "control.session_ttl")?,
            max_session_ttl: duration(
                raw.control.max_session_ttl.as_deref().unwrap_or("12h"),
                "control.max_session_ttl",
            )?,
            token_file: agent.data_dir.join("control.token"),
        };
        control_leases(&control, &raw.control)?;

        let jmap = {
            let listen_s = raw.jmap.listen.unwrap_or_else(|| "127.0.0.1:8080".into());
            let listen: SocketAddr =
                listen_s.parse().map_err(|_| invalid(format!("jmap.listen \"{listen_s}\" is not an address:port")))?;
            let tls = match (raw.jmap.tls_cert, raw.jmap.tls_key) {
                (Some(c), Some(k)) => {
                    Some((existing_file(rel(c), "jmap.tls_cert")?, existing_file(rel(k), "jmap.tls_key")?))
                }
                (None, None) => None,
                (Some(_), None) => return Err(invalid("jmap.tls_cert is set but jmap.tls_key is not".into())),
                (None, Some(_)) => return Err(invalid("jmap.tls_key is set but jmap.tls_cert is not".into())),
            };
            let enabled = raw.jmap.enabled.unwrap_or(true);
            if enabled && tls.is_none() && !listen.ip().is_loopback() {
                return Err(invalid(format!(
                    "jmap.listen {listen} is not a loopback address: set jmap.tls_cert and jmap.tls_key, plain HTTP is only allowed on loopback"
                )));
            }
            let scheme = if tls.is_some() { "https" } else { "http" };
            let public_url = raw.jmap.public_url.unwrap_or_else(|| format!("{scheme}://{listen}"));
            let public_url = public_url.trim_end_matches('/').to_string();
            if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
                return Err(invalid(format!("jmap.public_url \"{public_url}\" must start with https:// or http://")));
            }
            let trusted_proxies = raw
                .jmap
                .trusted_proxies
                .unwrap_or_default()
                .iter()
                .map(|p| p.parse().map_err(|e| invalid(format!("jmap.trusted_proxies: {e}"))))
                .collect::<Result<_, _>>()?;
            Jmap { enabled, listen, public_url, tls, trusted_proxies }
        };

        let doctor = Doctor {
            resolver: raw
                .doctor
                .resolver
                .map(|r| {
                    r.parse::<SocketAddr>()
                        .or_else(|_| r.parse::<std::net::IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
                        .map_err(|_| invalid(format!("doctor.resolver \"{r}\" is not an IP address or IP:port")))
                })
                .transpose()?,
            dkim_selectors: raw.doctor.dkim_selectors.unwrap_or_else(|| {
                ["default", "dkim", "mail", "selector1", "selector2", "s1", "s2", "k1", "google"]
                    .map(String::from)
                    .to_vec()
            }),
            timeout: duration(raw.doctor.timeout.as_deref().unwrap_or("5s"), "doctor.timeout")?,
        };

        if raw.mailboxes.is_empty() {
            return Err(invalid("no [[mailbox]] is configured".into()));
        }
        let mut ids = BTreeSet::new();
        let mut mailboxes = Vec::new();
        for m in raw.mailboxes {
            let mb = ctx.mailbox(m, &rel, relay.is_some(), direct.is_some(), agent.time_zone)?;
            if !ids.insert(mb.id.clone()) {
                return Err(invalid(format!("mailbox \"{}\" is configured twice", mb.id)));
            }
            mailboxes.push(mb);
        }

        Ok(Config { path: path.to_owned(), agent, imap, relay, direct, outbox, control, jmap, doctor, mailboxes })
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

struct Ctx {
    config_path: PathBuf,
}

impl Ctx {
    fn mailbox(
        &self,
        m: RawMailbox,
        rel: &dyn Fn(PathBuf) -> PathBuf,
        have_relay: bool,
        have_direct: bool,
        tz: chrono_tz::Tz,
    ) -> Result<Mailbox, ConfigError> {
        let id = m.id.trim().to_string();
        if id.is_empty()
            || !id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_' || c == '.')
        {
            return Err(invalid(format!("mailbox id \"{}\" must be lowercase letters, digits, '-', '_' or '.'", m.id)));
        }
        let err = |key: &str, problem: String| invalid(format!("mailbox \"{id}\": {key} {problem}"));

        // Values that end up in a header of a message postbote writes: one line each.
        let header_bound = [
            ("name", m.name.as_deref()),
            ("dkim.selector", m.dkim.as_ref().map(|d| d.selector.as_str())),
            ("dkim.domain", m.dkim.as_ref().and_then(|d| d.domain.as_deref())),
            ("vacation.subject", m.vacation.as_ref().and_then(|v| v.subject.as_deref())),
        ];
        for (key, value) in header_bound {
            if let Some(problem) = value.and_then(header_text_problem) {
                return Err(err(
                    key,
                    format!("\"{}\" {problem}: it goes into a mail header", value.unwrap_or("").escape_debug()),
                ));
            }
        }

        let kind = match m.kind.as_deref().unwrap_or("employee") {
            "employee" => MailboxKind::Employee,
            "shared" => MailboxKind::Shared,
            o => return Err(err("kind", format!("\"{o}\" must be \"employee\" or \"shared\""))),
        };
        if m.addresses.is_empty() {
            return Err(err("addresses", "is empty: name at least one company address".into()));
        }
        let mut addresses = Vec::new();
        for a in &m.addresses {
            let a = a.trim().to_lowercase();
            if !is_address(&a) {
                return Err(err("addresses", format!("\"{a}\" is not an e-mail address")));
            }
            if !addresses.contains(&a) {
                addresses.push(a);
            }
        }
        let hosted_address = match m.hosted_address {
            Some(h) if is_address(&h.trim().to_lowercase()) => h.trim().to_lowercase(),
            Some(h) => return Err(err("hosted_address", format!("\"{h}\" is not an e-mail address"))),
            None => return Err(err("hosted_address", "is missing".into())),
        };
        let password =
            self.secret(m.password, m.password_file.map(rel), m.password_env, "").map_err(|p| err(&p.0, p.1))?;
        let folders = match m.folders {
            None => ["INBOX", "\\Sent", "\\Drafts", "\\Trash", "\\Junk", "\\Archive"].map(folder_spec).to_vec(),
            Some(f) if f.is_empty() => return Err(err("folders", "is empty".into())),
            Some(f) => f.iter().map(|s| folder_spec(s)).collect(),
        };
        let transport = match m.transport.as_deref().unwrap_or("relay") {
            "direct" => Transport::Direct,
            "relay" => Transport::Relay,
            o => return Err(err("transport", format!("\"{o}\" must be \"direct\" or \"relay\""))),
        };
        if transport == Transport::Direct && !have_direct {
            return Err(err("transport", "is \"direct\" but there is no [direct] section".into()));
        }
        if transport == Transport::Relay && !have_relay {
            return Err(err("transport", "is \"relay\" but there is no [relay] section".into()));
        }
        let smtp = match m.smtp {
            Some(s) => {
                let password = self
                    .secret(s.password, s.password_file.map(rel), s.password_env, "smtp.")
                    .map_err(|p| err(&p.0, p.1))?;
                let limits = RateLimits::from_raw(
                    &RawRate {
                        max_per_minute: s.max_per_minute,
                        max_per_hour: s.max_per_hour,
                        max_per_day: s.max_per_day,
                        max_recipients_per_message: s.max_recipients_per_message,
                    },
                    "smtp",
                )
                .map_err(|p| err(&p.0, p.1))?;
                Some(MailboxSmtp { login: s.login.unwrap_or_else(|| addresses[0].clone()), password, limits })
            }
            None => None,
        };
        if transport == Transport::Direct && smtp.is_none() {
            return Err(err(
                "smtp",
                "is missing: transport \"direct\" needs the mailbox's own login ([mailbox.smtp] with login and password_file or password_env)".into(),
            ));
        }
        let dkim = match m.dkim {
            Some(d) => {
                if d.selector.trim().is_empty() {
                    return Err(err("dkim.selector", "is empty".into()));
                }
                Some(Dkim {
                    selector: d.selector,
                    key_file: rel(d.key_file),
                    domain: d.domain.map(|d| d.to_lowercase()).unwrap_or_else(|| {
                        addresses[0].rsplit_once('@').map(|(_, d)| d.to_string()).unwrap_or_default()
                    }),
                })
            }
            None => None,
        };
        if let Some(v) = &m.vacation {
            if let Some(i) = &v.interval {
                let d = duration(i, "vacation.interval")
                    .map_err(|_| err("vacation.interval", format!("\"{i}\" is not a duration like \"7d\"")))?;
                if d < Duration::from_secs(86_400) {
                    return Err(err("vacation.interval", format!("\"{i}\" is shorter than one day")));
                }
            }
            if let Some(a) = &v.max_age {
                duration(a, "vacation.max_age")
                    .map_err(|_| err("vacation.max_age", format!("\"{a}\" is not a duration like \"3d\"")))?;
            }
            for s in v.schedule.iter().flatten() {
                parse_cron(s)
                    .map_err(|e| err("vacation.schedule", format!("\"{s}\" is not a crontab expression: {e}")))?;
            }
            if let Some(a) = &v.answer
                && a != "everyone"
                && a != "known"
            {
                return Err(err("vacation.answer", format!("\"{a}\" must be \"everyone\" or \"known\"")));
            }
            let mut window = [None, None];
            for (i, (key, d)) in [("vacation.start", &v.start), ("vacation.end", &v.end)].into_iter().enumerate() {
                if let Some(d) = d {
                    window[i] = Some(
                        local_datetime(d, tz, key == "vacation.end", key)
                            .map_err(|_| err(key, format!("\"{d}\" is not a local date or date-time")))?,
                    );
                }
            }
            if let ([Some(start), Some(end)], Some(s), Some(e)) = (window, &v.start, &v.end)
                && end <= start
            {
                return Err(err(
                    "vacation.end",
                    format!("{e} is not after vacation.start {s}: the leave would never begin"),
                ));
            }
        }
        Ok(Mailbox {
            login: m.login.unwrap_or_else(|| hosted_address.clone()),
            name: m.name.unwrap_or_else(|| id.clone()),
            id,
            kind,
            addresses,
            hosted_address,
            password,
            folders,
            transport,
            sent_folder: folder_spec(m.sent_folder.as_deref().unwrap_or("\\Sent")),
            smtp,
            dkim,
            vacation: m.vacation,
        })
    }

    /// Resolve a password from exactly one of: inline, file, environment variable.
    /// Errors are `(key, problem)` so the caller can prefix the mailbox.
    fn secret(
        &self,
        inline: Option<String>,
        file: Option<PathBuf>,
        env: Option<String>,
        prefix: &str,
    ) -> Result<Secret, (String, String)> {
        let given = inline.is_some() as u8 + file.is_some() as u8 + env.is_some() as u8;
        if given > 1 {
            return Err((
                format!("{prefix}password"),
                "is given more than once: use one of password_file, password_env or password".into(),
            ));
        }
        if let Some(p) = inline {
            // An inline password is only acceptable when nobody but the owner can read the file.
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&self.config_path).map(|m| m.permissions().mode()).unwrap_or(0o777);
            if mode & 0o077 != 0 {
                return Err((
                    format!("{prefix}password"),
                    format!(
                        "is written inline but {} is readable by others (mode {:o}): run `chmod 600` on it, or use password_file / password_env",
                        self.config_path.display(),
                        mode & 0o777
                    ),
                ));
            }
            return Ok(Secret(p));
        }
        if let Some(f) = file {
            let text = std::fs::read_to_string(&f)
                .map_err(|e| (format!("{prefix}password_file"), format!("\"{}\" cannot be read: {e}", f.display())))?;
            let line = text.lines().next().unwrap_or("").to_string();
            if line.is_empty() {
                return Err((format!("{prefix}password_file"), format!("\"{}\" is empty", f.display())));
            }
            return Ok(Secret(line));
        }
        if let Some(v) = env {
            return match std::env::var(&v) {
                Ok(s) if !s.is_empty() => Ok(Secret(s)),
                _ => Err((format!("{prefix}password_env"), format!("names ${v}, which is not set"))),
            };
        }
        Err((format!("{prefix}password_file"), "is missing: set password_file or password_env".into()))
    }
}

fn invalid(s: String) -> ConfigError {
    ConfigError::Invalid(s)
}

fn non_empty(s: String, key: &str) -> Result<String, ConfigError> {
    if s.trim().is_empty() { Err(invalid(format!("{key} is empty"))) } else { Ok(s.trim().to_string()) }
}

fn port(p: Option<i64>, default: u16, key: &str) -> Result<u16, ConfigError> {
    match p {
        None => Ok(default),
        Some(p) if (1..=65535).contains(&p) => Ok(p as u16),
        Some(p) => Err(invalid(format!("{key} {p} is not a port"))),
    }
}

fn tls(s: Option<&str>, key: &str) -> Result<Tls, ConfigError> {
    match s.unwrap_or("implicit") {
        "implicit" => Ok(Tls::Implicit),
        "starttls" => Ok(Tls::StartTls),
        o => Err(invalid(format!("{key} \"{o}\" must be \"implicit\" or \"starttls\" (plain text is not offered)"))),
    }
}

fn existing_file(p: PathBuf, key: &str) -> Result<PathBuf, ConfigError> {
    if p.is_file() { Ok(p) } else { Err(invalid(format!("{key} \"{}\" is not a readable file", p.display()))) }
}

fn control_listen(s: &str, rel: &dyn Fn(PathBuf) -> PathBuf) -> Result<ControlListen, ConfigError> {
    if let Some(path) = s.strip_prefix("unix:") {
        return Ok(ControlListen::Unix(rel(PathBuf::from(path))));
    }
    let addr: SocketAddr =
        s.parse().map_err(|_| invalid(format!("control.listen \"{s}\" is not an address:port or unix:/path")))?;
    if !addr.ip().is_loopback() {
        return Err(invalid(format!(
            "control.listen {addr} is not a loopback address: the control endpoint only listens on loopback or a Unix socket"
        )));
    }
    Ok(ControlListen::Tcp(addr))
}

/// The longest lease `control.max_session_ttl` may allow: an office session is a working day
/// that heartbeats keep alive, never a standing permission to send.
const MAX_SESSION_TTL_LIMIT: Duration = Duration::from_secs(7 * 86_400);

fn control_leases(c: &Control, raw: &RawControl) -> Result<(), ConfigError> {
    let max = raw.max_session_ttl.as_deref().unwrap_or("12h");
    if c.max_session_ttl.is_zero() || c.max_session_ttl > MAX_SESSION_TTL_LIMIT {
        return Err(invalid(format!(
            "control.max_session_ttl \"{max}\" must be more than 0 and at most 7d (heartbeats renew a lease; the default is \"12h\")"
        )));
    }
    if c.session_ttl.is_zero() || c.session_ttl > c.max_session_ttl {
        return Err(invalid(format!(
            "control.session_ttl \"{}\" must be more than 0 and at most control.max_session_ttl (\"{max}\")",
            raw.session_ttl.as_deref().unwrap_or("8h")
        )));
    }
    Ok(())
}

fn folder_spec(s: &str) -> FolderSpec {
    match s.strip_prefix('\\') {
        Some(role) => FolderSpec::Role(role.to_lowercase()),
        None => FolderSpec::Name(s.to_string()),
    }
}

/// A plausible addr-spec: one '@', a non-empty local part, a dotted domain, no spaces.
pub fn is_address(a: &str) -> bool {
    match a.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !a.chars().any(|c| c.is_whitespace() || c == '<' || c == '>' || c == ',')
        }
        None => false,
    }
}

/// Parse a duration like `90s`, `15m`, `8h`, `5d`, `2w` (one number, one unit).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    let secs = match unit.trim() {
        "s" => n,
        "m" | "min" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        "w" => n.checked_mul(7 * 86_400)?,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

fn duration(s: &str, key: &str) -> Result<Duration, ConfigError> {
    parse_duration(s)
        .ok_or_else(|| invalid(format!("{key} \"{s}\" is not a duration (a number and one of s, m, h, d, w: \"5d\")")))
}

/// The fields of a crontab expression, in order, with what each takes.
const CRON_FIELDS: [(&str, &str); 5] = [
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day-of-month", "1-31"),
    ("month", "1-12 or JAN-DEC"),
    ("day-of-week", "0-7 or SUN-SAT"),
];

/// Parse a 5-field crontab expression. An error names the field that is wrong.
pub fn parse_cron(s: &str) -> Result<croner::Cron, String> {
    let fields: Vec<&str> = s.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!("has {} fields, expected 5: minute hour day-of-month month day-of-week", fields.len()));
    }
    s.parse::<croner::Cron>().map_err(|whole| {
        // Try each field alone among stars: the first that fails is the one to name.
        for (i, (name, takes)) in CRON_FIELDS.iter().enumerate() {
            let mut probe = ["*"; 5];
            probe[i] = fields[i];
            if let Err(e) = probe.join(" ").parse::<croner::Cron>() {
                return format!("the {name} field \"{}\" is wrong (it takes {takes}): {e}", fields[i]);
            }
        }
        whole.to_string()
    })
}

/// Why `s` cannot be a header value postbote writes, if it cannot: a CR or LF would end the
/// header and start another (header injection), a NUL is not allowed in mail at all.
pub fn header_text_problem(s: &str) -> Option<&'static str> {
    if s.contains(['\r', '\n']) {
        Some("contains a line break (CR or LF)")
    } else if s.contains('\0') {
        Some("contains a NUL character")
    } else {
        None
    }
}

/// A TOML date or local date-time, read in `tz`. A bare date means the start of that day,
/// or, when `end_of_day`, the end of it (so "until 6 Jan" includes the 6th).
pub fn local_datetime(
    d: &toml::value::Datetime,
    tz: chrono_tz::Tz,
    end_of_day: bool,
    key: &str,
) -> Result<chrono::DateTime<chrono::Utc>, ConfigError> {
    use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
    let bad = || invalid(format!("{key} \"{d}\" is not a local date or date-time"));
    let date = d.date.ok_or_else(bad)?;
    let date = NaiveDate::from_ymd_opt(date.year as i32, date.month as u32, date.day as u32).ok_or_else(bad)?;
    if d.offset.is_some() {
        // An explicit offset is taken as written.
        let t = d.time.ok_or_else(bad)?;
        let s = d.to_string();
        let _ = t;
        return chrono::DateTime::parse_from_rfc3339(&s).map(|x| x.with_timezone(&chrono::Utc)).map_err(|_| bad());
    }
    let (date, time) = match d.time {
        Some(t) => (
            date,
            NaiveTime::from_hms_opt(t.hour as u32, t.minute as u32, t.second.unwrap_or(0) as u32).ok_or_else(bad)?,
        ),
        None if end_of_day => (date.succ_opt().ok_or_else(bad)?, NaiveTime::MIN),
        None => (date, NaiveTime::MIN),
    };
    let naive = NaiveDateTime::new(date, time);
    // A local time skipped by a DST change is moved forward; a doubled one takes the earlier.
    let local = tz
        .from_local_datetime(&naive)
        .earliest()
        .or_else(|| tz.from_local_datetime(&(naive + chrono::Duration::hours(1))).earliest())
        .ok_or_else(bad)?;
    Ok(local.with_timezone(&chrono::Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_example_secrets() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "geheim\n").unwrap();
        dir
    }

    fn minimal(dir: &Path, extra: &str) -> String {
        format!(
            r#"
[imap]
host = "imap.handwerk.test"
[relay]
host = "smtp.handwerk.test"
{extra}
[[mailbox]]
id = "becker"
addresses = ["Becker@Bau-Firma.de"]
hosted_address = "becker.bau-firma@handwerk.org"
password_file = "{}"
"#,
            dir.join("pw").display()
        )
    }

    fn err(text: &str, dir: &Path) -> String {
        Config::parse(text, &dir.join("postbote.toml")).unwrap_err().to_string()
    }

    #[test]
    fn example_parses_with_its_password_sources() {
        let dir = write_example_secrets();
        let text = EXAMPLE.replace("/etc/postbote/becker.password", &dir.path().join("pw").display().to_string());
        // SAFETY: tests in this module set this variable only here, to the same value.
        unsafe { std::env::set_var("POSTBOTE_INFO_PASSWORD", "info-secret") };
        let c = Config::parse(&text, &dir.path().join("postbote.toml")).unwrap();
        assert_eq!(c.mailboxes.len(), 2);
        assert_eq!(c.mailboxes[0].password.expose(), "geheim");
        assert_eq!(c.mailboxes[1].kind, MailboxKind::Shared);
        assert_eq!(c.mailboxes[0].folders.len(), 6);
    }

    /// Leaving a key out must give exactly what config.example.toml shows.
    #[test]
    fn defaults_match_the_example() {
        let dir = write_example_secrets();
        let d = Config::parse(&minimal(dir.path(), ""), &dir.path().join("p.toml")).unwrap();
        let text = EXAMPLE.replace("/etc/postbote/becker.password", &dir.path().join("pw").display().to_string());
        unsafe { std::env::set_var("POSTBOTE_INFO_PASSWORD", "info-secret") };
        let e = Config::parse(&text, &dir.path().join("postbote.toml")).unwrap();
        assert_eq!(d.agent.data_dir, e.agent.data_dir);
        assert_eq!(d.agent.time_zone, e.agent.time_zone);
        assert_eq!(d.agent.poll, e.agent.poll);
        assert_eq!(d.agent.batch_size, e.agent.batch_size);
        assert_eq!(d.imap.port, e.imap.port);
        assert_eq!(d.imap.tls, e.imap.tls);
        let (dr, er) = (d.relay.unwrap(), e.relay.unwrap());
        assert_eq!(
            (dr.port, dr.tls, dr.send_while, dr.log_sessions),
            (er.port, er.tls, er.send_while, er.log_sessions)
        );
        assert_eq!(d.outbox.lifetime, e.outbox.lifetime);
        assert_eq!(d.outbox.transcript_retention, e.outbox.transcript_retention);
        assert_eq!(d.outbox.max_messages_per_connection, e.outbox.max_messages_per_connection);
        assert_eq!(d.outbox.retry_schedule, e.outbox.retry_schedule);
        assert!(dr.limits.is_unlimited() && er.limits.is_unlimited(), "no send-rate limit by default");
        assert_eq!(d.outbox.still_waiting_after, e.outbox.still_waiting_after);
        assert_eq!(d.outbox.working_hours, e.outbox.working_hours);
        assert_eq!(d.control.listen, e.control.listen);
        assert_eq!(d.control.session_ttl, e.control.session_ttl);
        assert_eq!(d.control.max_session_ttl, e.control.max_session_ttl);
        assert_eq!(d.jmap.listen, e.jmap.listen);
        assert_eq!(d.jmap.enabled, e.jmap.enabled);
        assert_eq!(d.jmap.trusted_proxies, e.jmap.trusted_proxies);
        assert_eq!(d.doctor.dkim_selectors, e.doctor.dkim_selectors);
        assert_eq!(d.doctor.timeout, e.doctor.timeout);
        assert_eq!(d.mailboxes[0].folders, e.mailboxes[0].folders);
        assert_eq!(d.mailboxes[0].sent_folder, e.mailboxes[0].sent_folder);
        assert_eq!(d.mailboxes[0].transport, e.mailboxes[0].transport);
        assert_eq!(d.mailboxes[0].kind, e.mailboxes[0].kind);
        // addresses are lowercased
        assert_eq!(d.mailboxes[0].addresses, vec!["becker@bau-firma.de"]);
    }

    #[test]
    fn errors_name_the_mailbox_the_key_and_the_problem() {
        let dir = write_example_secrets();
        let p = dir.path();
        let cases: &[(&str, &str)] = &[
            ("[imap]\nport = 99999", "imap.port 99999 is not a port"),
            ("[agent]\npoll = \"every minute\"", "agent.poll \"every minute\" is not a crontab schedule"),
            ("[agent]\ntime_zone = \"Europe/Bonn\"", "agent.time_zone \"Europe/Bonn\" is not a known time zone"),
            ("[control]\nlisten = \"0.0.0.0:4190\"", "control.listen 0.0.0.0:4190 is not a loopback address"),
            ("[control]\nmax_session_ttl = \"0s\"", "control.max_session_ttl \"0s\" must be more than 0"),
            (
                "[control]\nmax_session_ttl = \"520w\"",
                "control.max_session_ttl \"520w\" must be more than 0 and at most 7d",
            ),
            (
                "[control]\nsession_ttl = \"24h\"",
                "control.session_ttl \"24h\" must be more than 0 and at most control.max_session_ttl (\"12h\")",
            ),
            ("[jmap]\nlisten = \"0.0.0.0:8080\"", "plain HTTP is only allowed on loopback"),
            (
                "[jmap]\ntrusted_proxies = [\"10.0.0.0/8\", \"proxy.lan\"]",
                "jmap.trusted_proxies: \"proxy.lan\" is not an IP address or an address/prefix",
            ),
            ("[outbox]\nlifetime = \"five days\"", "outbox.lifetime \"five days\" is not a duration"),
            ("[outbox]\nlifetime = \"0s\"", "outbox.lifetime \"0s\" must be longer than zero"),
            (
                "[agent]\npoll = \"*/5 25 * * *\"",
                "agent.poll \"*/5 25 * * *\" is not a crontab schedule: the hour field \"25\"",
            ),
            ("[agent]\npoll = \"* * * 13 *\"", "the month field \"13\" is wrong (it takes 1-12 or JAN-DEC)"),
            (
                "[direct]\nhost = \"d.test\"\nmax_per_minute = 0",
                "direct.max_per_minute 0 must be a whole number of at least 1",
            ),
            ("[outbox]\nstill_waiting_after = \"2 hours\"", "outbox.still_waiting_after \"2 hours\" is not a duration"),
            ("[outbox]\nworking_hours = \"Mo-Fr 7-18\"", "outbox.working_hours \"Mo-Fr 7-18\": \"Mo\" is not a day"),
        ];
        for (extra, want) in cases {
            // [imap] and [relay] already exist in `minimal`: put overrides in their own table where needed.
            let text = if extra.starts_with("[imap]") {
                minimal(p, "").replace("host = \"imap.handwerk.test\"", "host = \"imap.handwerk.test\"\nport = 99999")
            } else {
                minimal(p, extra)
            };
            let e = err(&text, p);
            assert!(e.contains(want), "{extra:?}: got {e}");
        }
        let e = err(&minimal(p, "").replace("password_file", "password_env = \"NOPE_NOT_SET_X\"\n#"), p);
        assert!(e.contains("mailbox \"becker\": password_env names $NOPE_NOT_SET_X, which is not set"), "{e}");
        let e = err(&minimal(p, "").replace("[\"Becker@Bau-Firma.de\"]", "[\"becker at bau-firma\"]"), p);
        assert!(e.contains("mailbox \"becker\": addresses \"becker at bau-firma\" is not an e-mail address"), "{e}");
        let e = err(&format!("{}transport = \"direct\"\n", minimal(p, "")), p);
        assert!(e.contains("mailbox \"becker\": transport is \"direct\" but there is no [direct] section"), "{e}");
        let e = err(&format!("{}colour = \"blue\"\n", minimal(p, "")), p);
        assert!(e.contains("unknown field `colour`"), "{e}");
        let e = err(&format!("{}[mailbox.smtp]\npassword_env = \"HOME\"\nmax_per_day = -5\n", minimal(p, "")), p);
        assert!(e.contains("mailbox \"becker\": smtp.max_per_day -5 must be a whole number of at least 1"), "{e}");
        let text =
            format!("{}[mailbox.smtp]\npassword_env = \"HOME\"\nmax_recipients_per_message = 50\n", minimal(p, ""));
        let c = Config::parse(&text, &p.join("p.toml")).unwrap();
        assert_eq!(c.mailboxes[0].smtp.as_ref().unwrap().limits.recipients_per_message, Some(50));
        let e = err(&format!("{}[mailbox.vacation]\ninterval = \"2h\"\n", minimal(p, "")), p);
        assert!(e.contains("mailbox \"becker\": vacation.interval \"2h\" is shorter than one day"), "{e}");
    }

    #[test]
    fn inline_password_needs_an_owner_only_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = write_example_secrets();
        let path = dir.path().join("postbote.toml");
        let text = minimal(dir.path(), "")
            .replace(&format!("password_file = \"{}\"", dir.path().join("pw").display()), "password = \"inline-pw\"");
        std::fs::write(&path, &text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = Config::load(&path).unwrap_err().to_string();
        assert!(e.contains("mailbox \"becker\": password is written inline") && e.contains("chmod 600"), "{e}");
        assert!(!e.contains("inline-pw"), "the error must not show the password: {e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let c = Config::load(&path).unwrap();
        assert_eq!(c.mailboxes[0].password.expose(), "inline-pw");
        assert!(!format!("{c:?}").contains("inline-pw"), "Debug must redact secrets");
    }

    #[test]
    fn durations_and_dates() {
        assert_eq!(parse_duration("5d"), Some(Duration::from_secs(5 * 86_400)));
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("8h"), Some(Duration::from_secs(8 * 3600)));
        assert_eq!(parse_duration("d"), None);
        assert_eq!(parse_duration("3 days"), None);
        // Regression: a huge count overflowed (a panic in a debug build) instead of being refused.
        assert_eq!(parse_duration("18446744073709551615w"), None);
        assert_eq!(parse_duration("307445734561825861m"), None);
        let tz: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
        let d: toml::value::Datetime = "2026-01-06".parse().unwrap();
        let end = local_datetime(&d, tz, true, "k").unwrap();
        assert_eq!(end.to_rfc3339(), "2026-01-06T23:00:00+00:00"); // midnight after the 6th, CET
        let start = local_datetime(&d, tz, false, "k").unwrap();
        assert_eq!(start.to_rfc3339(), "2026-01-05T23:00:00+00:00");
        // 02:30 on the spring-forward day does not exist in Berlin: moved to 03:30 CEST.
        let d: toml::value::Datetime = "2026-03-29T02:30:00".parse().unwrap();
        assert_eq!(local_datetime(&d, tz, false, "k").unwrap().to_rfc3339(), "2026-03-29T01:30:00+00:00");
    }
}
