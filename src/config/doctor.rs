//! `[doctor]`: how the deliverability doctor asks DNS (which resolver, how long to wait),
//! which common DKIM selectors it tries, and where the receivers' DMARC aggregate reports
//! arrive (`reports_mailbox`, `reports_folder`) with the addresses that count as each sending
//! path besides its server's own (`direct_ips`, `relay_ips`).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::ConfigError;
use super::mailbox::{FolderSpec, Mailbox, folder_spec};
use super::raw::RawDoctor;
use super::validate::{duration, invalid};

#[derive(Debug, Clone)]
pub struct Doctor {
    pub resolver: Option<SocketAddr>,
    pub dkim_selectors: Vec<String>,
    pub timeout: Duration,
    /// Where DMARC aggregate reports arrive; `None`: none are collected.
    pub reports: Option<ReportsFolder>,
    /// Addresses that send as the company's own server besides those `[direct] host` resolves to.
    pub direct_ips: Vec<IpAddr>,
    /// Addresses that send as the hosted relay besides those `[relay] host` resolves to.
    pub relay_ips: Vec<IpAddr>,
}

/// The mailbox and folder the receivers' DMARC aggregate reports arrive in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportsFolder {
    /// A configured mailbox id.
    pub mailbox: String,
    /// One of the folders that mailbox mirrors (default `INBOX`).
    pub folder: FolderSpec,
}

impl Doctor {
    pub(super) fn from_raw(raw: RawDoctor) -> Result<Doctor, ConfigError> {
        let ips = |list: Option<Vec<String>>, key: &str| -> Result<Vec<IpAddr>, ConfigError> {
            list.unwrap_or_default()
                .iter()
                .map(|s| s.parse().map_err(|_| invalid(format!("doctor.{key}: \"{s}\" is not an IP address"))))
                .collect()
        };
        let reports = match (raw.reports_mailbox, raw.reports_folder) {
            (Some(mailbox), folder) => {
                Some(ReportsFolder { mailbox, folder: folder_spec(folder.as_deref().unwrap_or("INBOX")) })
            }
            (None, Some(f)) => {
                return Err(invalid(format!(
                    "doctor.reports_folder \"{f}\" is set but doctor.reports_mailbox is not (which mailbox receives the reports?)"
                )));
            }
            (None, None) => None,
        };
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
            reports,
            direct_ips: ips(raw.direct_ips, "direct_ips")?,
            relay_ips: ips(raw.relay_ips, "relay_ips")?,
        })
    }

    /// The reports mailbox must be configured and mirror the reports folder.
    pub(super) fn check_mailboxes(&self, mailboxes: &[Mailbox]) -> Result<(), ConfigError> {
        let Some(r) = &self.reports else { return Ok(()) };
        let Some(m) = mailboxes.iter().find(|m| m.id == r.mailbox) else {
            return Err(invalid(format!("doctor.reports_mailbox \"{}\" is not a configured mailbox", r.mailbox)));
        };
        let same = |f: &FolderSpec| match (f, &r.folder) {
            (FolderSpec::Name(a), FolderSpec::Name(b)) if a.eq_ignore_ascii_case("INBOX") => b.eq_ignore_ascii_case(a),
            (a, b) => a == b,
        };
        if !m.folders.iter().any(same) {
            let shown = match &r.folder {
                FolderSpec::Name(n) => n.clone(),
                FolderSpec::Role(role) => format!("\\{role}"),
            };
            return Err(invalid(format!(
                "doctor.reports_folder \"{shown}\" is not one of the folders mailbox \"{}\" mirrors (its `folders`)",
                m.id
            )));
        }
        Ok(())
    }
}
