//! `[control]`: where the local control endpoint listens (loopback or a Unix socket, never
//! further) and how long an office session's lease lasts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::raw::RawControl;
use super::validate::{duration, invalid};
use super::{ConfigError, Rel};

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

impl Control {
    pub(super) fn from_raw(raw: &RawControl, rel: Rel, data_dir: &Path) -> Result<Control, ConfigError> {
        let control = Control {
            listen: control_listen(raw.listen.as_deref().unwrap_or("127.0.0.1:4190"), rel)?,
            session_ttl: duration(raw.session_ttl.as_deref().unwrap_or("8h"), "control.session_ttl")?,
            max_session_ttl: duration(raw.max_session_ttl.as_deref().unwrap_or("12h"), "control.max_session_ttl")?,
            token_file: data_dir.join("control.token"),
        };
        control_leases(&control, raw)?;
        Ok(control)
    }
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
