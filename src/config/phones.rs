//! `[phones]`: how phones' own mail apps reach postbote. The host name and ports they use from
//! outside (behind port forwarding these differ from the listen addresses) go into setup
//! profiles and autoconfig; the certificate and key are what the IMAP and SMTP submission
//! listeners present (re-read on SIGHUP); and the cap on open connections per device.

use std::path::PathBuf;
use std::time::Duration;

use super::raw::RawPhones;
use super::validate::{duration, invalid, port, tls_files};
use super::{ConfigError, Rel};

/// How a phone secures a connection to a port: TLS from the first byte, or STARTTLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    Tls,
    StartTls,
}

#[derive(Debug, Clone)]
pub struct Phones {
    /// The name phones connect to, e.g. `mail.bau-firma.de`, `192.168.1.20` or `fd00::20`
    /// (an IPv6 address without brackets; also the self-signed name).
    pub host: String,
    pub imap_port: u16,
    pub imap_security: Security,
    pub smtp_port: u16,
    pub smtp_security: Security,
    /// PEM certificate chain and key for the IMAP and submission listeners.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub max_connections_per_device: usize,
    /// How long the one-time link to a phone's setup profile lives.
    pub setup_link_ttl: Duration,
}

fn security(s: Option<String>, default: Security, key: &str) -> Result<Security, ConfigError> {
    match s.as_deref() {
        None => Ok(default),
        Some("tls") => Ok(Security::Tls),
        Some("starttls") => Ok(Security::StartTls),
        Some(o) => Err(invalid(format!("{key} \"{o}\" must be \"tls\" or \"starttls\""))),
    }
}

impl Phones {
    pub(super) fn from_raw(raw: RawPhones, rel: Rel) -> Result<Phones, ConfigError> {
        let host = raw.host.unwrap_or_else(|| "localhost".into());
        // An IPv6 literal is taken as it is written, without brackets (`tls selfsigned --host ::1`
        // prints it so); any other `:` would be a port.
        let v6 = host.parse::<std::net::Ipv6Addr>().is_ok();
        if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '/' || (c == ':' && !v6)) {
            return Err(invalid(format!("phones.host \"{host}\" is not a host name")));
        }
        let tls = tls_files(raw.tls_cert, raw.tls_key, "phones", rel)?;
        let max = raw.max_connections_per_device.unwrap_or(20);
        if !(1..=1000).contains(&max) {
            return Err(invalid(format!("phones.max_connections_per_device {max} must be between 1 and 1000")));
        }
        let setup_link_ttl = duration(raw.setup_link_ttl.as_deref().unwrap_or("15m"), "phones.setup_link_ttl")?;
        if setup_link_ttl.is_zero() || setup_link_ttl > Duration::from_secs(24 * 3600) {
            return Err(invalid("phones.setup_link_ttl must be more than 0 and at most 24h".into()));
        }
        Ok(Phones {
            host,
            imap_port: port(raw.imap_port, 993, "phones.imap_port")?,
            imap_security: security(raw.imap_security, Security::Tls, "phones.imap_security")?,
            smtp_port: port(raw.smtp_port, 465, "phones.smtp_port")?,
            smtp_security: security(raw.smtp_security, Security::Tls, "phones.smtp_security")?,
            tls,
            max_connections_per_device: max as usize,
            setup_link_ttl,
        })
    }
}
