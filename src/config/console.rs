//! `[console]`: the office's web console. Where it listens (loopback by default; anywhere
//! else only with TLS files), and how long a login lasts: an idle limit and an absolute one.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::raw::RawConsole;
use super::validate::{duration, invalid, tls_files};
use super::{ConfigError, Rel};

#[derive(Debug, Clone)]
pub struct Console {
    pub enabled: bool,
    pub listen: SocketAddr,
    pub tls: Option<(PathBuf, PathBuf)>,
    /// A login ends after this long without a request.
    pub session_idle: Duration,
    /// A login ends this long after it began, however busy.
    pub session_max: Duration,
}

impl Console {
    pub(super) fn from_raw(raw: RawConsole, rel: Rel) -> Result<Console, ConfigError> {
        let listen_s = raw.listen.unwrap_or_else(|| "127.0.0.1:8090".into());
        let listen: SocketAddr =
            listen_s.parse().map_err(|_| invalid(format!("console.listen \"{listen_s}\" is not an address:port")))?;
        let tls = tls_files(raw.tls_cert, raw.tls_key, "console", rel)?;
        let enabled = raw.enabled.unwrap_or(false);
        if enabled && tls.is_none() && !listen.ip().is_loopback() {
            return Err(invalid(format!(
                "console.listen {listen} is not a loopback address: set console.tls_cert and console.tls_key, plain HTTP is only allowed on loopback"
            )));
        }
        let session_idle = duration(raw.session_idle.as_deref().unwrap_or("30m"), "console.session_idle")?;
        let session_max = duration(raw.session_max.as_deref().unwrap_or("12h"), "console.session_max")?;
        if session_idle.is_zero() || session_idle > session_max {
            return Err(invalid("console.session_idle must be more than 0 and at most console.session_max".into()));
        }
        if session_max > Duration::from_secs(7 * 24 * 3600) {
            return Err(invalid("console.session_max must be at most 7d".into()));
        }
        Ok(Console { enabled, listen, tls, session_idle, session_max })
    }
}
