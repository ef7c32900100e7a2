//! `[submission]`: the SMTP submission server for phones' own mail apps. `listen` is the
//! port-587 style listener (STARTTLS offered when `[phones]` has TLS files; AUTH before TLS
//! only on a loopback address), `listen_tls` the optional port-465 style one (TLS from the
//! first byte). A listener that is not on loopback needs `phones.tls_cert` and
//! `phones.tls_key`; the error names the key. The size limit is what EHLO announces as SIZE.

use std::net::SocketAddr;
use std::time::Duration;

use super::ConfigError;
use super::phones::Phones;
use super::raw::RawSubmission;
use super::validate::{duration, invalid};

#[derive(Debug, Clone)]
pub struct Submission {
    pub enabled: bool,
    /// Plain SMTP, STARTTLS offered when TLS files are configured.
    pub listen: SocketAddr,
    /// TLS from the first byte (port 465 style), if any.
    pub listen_tls: Option<SocketAddr>,
    /// Bytes; larger messages are refused with 552.
    pub max_message_size: usize,
    /// A connection that sends nothing for this long is closed (421).
    pub idle_timeout: Duration,
}

fn address(s: &str, key: &str) -> Result<SocketAddr, ConfigError> {
    s.parse().map_err(|_| invalid(format!("{key} \"{s}\" is not an address:port")))
}

impl Submission {
    pub(super) fn from_raw(raw: RawSubmission, phones: &Phones) -> Result<Submission, ConfigError> {
        let enabled = raw.enabled.unwrap_or(false);
        let listen = address(raw.listen.as_deref().unwrap_or("127.0.0.1:1587"), "submission.listen")?;
        let listen_tls = raw.listen_tls.as_deref().map(|s| address(s, "submission.listen_tls")).transpose()?;
        let max = raw.max_message_size.unwrap_or(25 * 1024 * 1024);
        if !(1024..=1024 * 1024 * 1024).contains(&max) {
            return Err(invalid(format!(
                "submission.max_message_size {max} must be between 1024 and 1073741824 (bytes)"
            )));
        }
        let idle_timeout = duration(raw.idle_timeout.as_deref().unwrap_or("5m"), "submission.idle_timeout")?;
        if idle_timeout < Duration::from_secs(10) || idle_timeout > Duration::from_secs(3600) {
            return Err(invalid("submission.idle_timeout must be between 10s and 1h".into()));
        }
        if enabled && phones.tls.is_none() {
            if !listen.ip().is_loopback() {
                return Err(invalid(format!(
                    "submission.listen {listen} is not a loopback address: set phones.tls_cert and phones.tls_key, \
                     SMTP without TLS is only allowed on loopback"
                )));
            }
            if let Some(l) = listen_tls {
                return Err(invalid(format!(
                    "submission.listen_tls {l} needs a certificate: set phones.tls_cert and phones.tls_key"
                )));
            }
        }
        Ok(Submission { enabled, listen, listen_tls, max_message_size: max as usize, idle_timeout })
    }
}
