//! `[imap]`, `[relay]` and `[direct]`: the servers postbote talks to, with their TLS mode and,
//! for the two SMTP paths, when they may send and how much (the same rate keys also limit one
//! mailbox's own login in `[mailbox.smtp]`).

use std::path::PathBuf;

use super::raw::{RawImap, RawRate, RawSmtp};
use super::validate::{existing_file, invalid, local_datetime, non_empty, port};
use super::{ConfigError, Rel};

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
    pub(super) fn from_raw(r: &RawRate, section: &str) -> Result<RateLimits, (String, String)> {
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

impl ImapServer {
    pub(super) fn from_raw(raw: RawImap, rel: Rel) -> Result<ImapServer, ConfigError> {
        Ok(ImapServer {
            host: non_empty(raw.host, "imap.host")?,
            port: port(raw.port, 993, "imap.port")?,
            tls: tls(raw.tls.as_deref(), "imap.tls")?,
            ca_file: raw.ca_file.map(rel).map(|p| existing_file(p, "imap.ca_file")).transpose()?,
        })
    }
}

impl SmtpServer {
    /// `section` is "relay" or "direct"; `tz` reads `log_sessions_until`.
    pub(super) fn from_raw(
        s: RawSmtp,
        section: &str,
        default_while: SendWhile,
        rel: Rel,
        tz: chrono_tz::Tz,
    ) -> Result<SmtpServer, ConfigError> {
        let tls = tls(s.tls.as_deref().or(Some("starttls")), &format!("{section}.tls"))?;
        let default_port = if tls == Tls::Implicit { 465 } else { 587 };
        Ok(SmtpServer {
            host: non_empty(s.host, &format!("{section}.host"))?,
            port: port(s.port, default_port, &format!("{section}.port"))?,
            tls,
            ca_file: s.ca_file.map(rel).map(|p| existing_file(p, &format!("{section}.ca_file"))).transpose()?,
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
                .map(|d| local_datetime(&d, tz, false, &format!("{section}.log_sessions_until")))
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
    }
}

fn tls(s: Option<&str>, key: &str) -> Result<Tls, ConfigError> {
    match s.unwrap_or("implicit") {
        "implicit" => Ok(Tls::Implicit),
        "starttls" => Ok(Tls::StartTls),
        o => Err(invalid(format!("{key} \"{o}\" must be \"implicit\" or \"starttls\" (plain text is not offered)"))),
    }
}
