//! `[doctor]`: how the deliverability doctor asks DNS (which resolver, how long to wait) and
//! which common DKIM selectors it tries.

use std::net::SocketAddr;
use std::time::Duration;

use super::ConfigError;
use super::raw::RawDoctor;
use super::validate::{duration, invalid};

#[derive(Debug, Clone)]
pub struct Doctor {
    pub resolver: Option<SocketAddr>,
    pub dkim_selectors: Vec<String>,
    pub timeout: Duration,
}

impl Doctor {
    pub(super) fn from_raw(raw: RawDoctor) -> Result<Doctor, ConfigError> {
        Ok(Doctor {
            resolver: raw
                .resolver
                .map(|r| {
                    r.parse::<SocketAddr>()
                        .or_else(|_| r.parse::<std::net::IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
                        .map_err(|_| invalid(format!("doctor.resolver \"{r}\" is not an IP address or IP:port")))
                })
                .transpose()?,
            dkim_selectors: raw.dkim_selectors.unwrap_or_else(|| {
                ["default", "dkim", "mail", "selector1", "selector2", "s1", "s2", "k1", "google"]
                    .map(String::from)
                    .to_vec()
            }),
            timeout: duration(raw.timeout.as_deref().unwrap_or("5s"), "doctor.timeout")?,
        })
    }
}
