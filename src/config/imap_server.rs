//! `[imap_server]`: the IMAP server that phones' own mail apps use (module `imapd`). Where it
//! listens in plain text (STARTTLS offered when `[phones]` has the TLS files; a login before
//! TLS only on loopback) and, optionally, with TLS from the first byte; how long an idle
//! session lives outside IDLE; and the largest message a phone may APPEND.

use std::net::SocketAddr;
use std::time::Duration;

use super::ConfigError;
use super::raw::RawImapServer;
use super::validate::{duration, invalid};

#[derive(Debug, Clone)]
pub struct ImapListen {
    pub enabled: bool,
    /// The plain port: STARTTLS when `[phones]` has TLS files; a login without TLS only here on
    /// loopback.
    pub listen: SocketAddr,
    /// TLS from the first byte (needs the `[phones]` TLS files).
    pub listen_tls: Option<SocketAddr>,
    /// A session outside IDLE that says nothing this long is closed (RFC 9051 allows 30 min).
    pub idle_timeout: Duration,
    /// The largest APPEND literal, in bytes (APPENDLIMIT).
    pub append_limit: u32,
}

/// The sizes `append_limit` takes: a number of bytes, or "50MB", "512KB", "1GB" (powers of
/// 1000) and "50MiB", "512KiB" (powers of 1024).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged)]
pub enum RawSize {
    Bytes(i64),
    Text(String),
}

pub(super) fn size(raw: &RawSize, key: &str) -> Result<u64, ConfigError> {
    let bad = |s: &str| invalid(format!("{key} \"{s}\" is not a size (bytes, or e.g. \"50MB\")"));
    match raw {
        RawSize::Bytes(n) if *n > 0 => Ok(*n as u64),
        RawSize::Bytes(n) => Err(bad(&n.to_string())),
        RawSize::Text(s) => {
            let t = s.trim();
            let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
            let (num, unit) = t.split_at(split);
            let n: u64 = num.parse().map_err(|_| bad(s))?;
            let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
                "" | "b" => 1,
                "kb" => 1000,
                "mb" => 1000 * 1000,
                "gb" => 1000 * 1000 * 1000,
                "kib" => 1024,
                "mib" => 1024 * 1024,
                "gib" => 1024 * 1024 * 1024,
                _ => return Err(bad(s)),
            };
            n.checked_mul(mult).filter(|v| *v > 0).ok_or_else(|| bad(s))
        }
    }
}

impl ImapListen {
    pub(super) fn from_raw(raw: RawImapServer, have_tls: bool) -> Result<ImapListen, ConfigError> {
        let addr = |s: &str, key: &str| -> Result<SocketAddr, ConfigError> {
            s.parse().map_err(|_| invalid(format!("{key} \"{s}\" is not an address:port")))
        };
        let enabled = raw.enabled.unwrap_or(false);
        let listen = addr(raw.listen.as_deref().unwrap_or("127.0.0.1:1143"), "imap_server.listen")?;
        let listen_tls = raw.listen_tls.as_deref().map(|s| addr(s, "imap_server.listen_tls")).transpose()?;
        if enabled && !have_tls && !listen.ip().is_loopback() {
            return Err(invalid(format!(
                "imap_server.listen {listen} is not a loopback address: set phones.tls_cert and phones.tls_key, \
                 IMAP without TLS is only allowed on loopback"
            )));
        }
        if enabled && !have_tls && listen_tls.is_some() {
            return Err(invalid("imap_server.listen_tls needs phones.tls_cert and phones.tls_key".into()));
        }
        let idle_timeout = duration(raw.idle_timeout.as_deref().unwrap_or("30m"), "imap_server.idle_timeout")?;
        if idle_timeout < Duration::from_secs(60) {
            return Err(invalid("imap_server.idle_timeout must be at least 1m".into()));
        }
        let limit =
            size(raw.append_limit.as_ref().unwrap_or(&RawSize::Text("50MB".into())), "imap_server.append_limit")?;
        let append_limit = u32::try_from(limit)
            .ok()
            .filter(|l| *l <= 1024 * 1024 * 1024)
            .ok_or_else(|| invalid(format!("imap_server.append_limit {limit} is more than 1GiB")))?;
        Ok(ImapListen { enabled, listen, listen_tls, idle_timeout, append_limit })
    }
}
