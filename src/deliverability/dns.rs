//! DNS for the doctor: one `mail-auth` resolver (hickory underneath) pointed at the configured
//! server or the system's, and lookups whose outcome is one of three things: found, absent
//! (the domain or the record does not exist), or could not be looked up.
//!
//! The third case matters most: a timeout, SERVFAIL, REFUSED or a bare referral says nothing
//! about the domain, so it must never be turned into "no record". Every lookup here is bounded
//! by `doctor.timeout`; this module never retries beyond what the resolver does once.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use mail_auth::MessageAuthenticator;
use mail_auth::hickory_resolver::config::{LookupIpStrategy, NameServerConfig, ResolverConfig, ResolverOpts};
use mail_auth::hickory_resolver::net::{DnsError, NetError};
use mail_auth::hickory_resolver::proto::op::ResponseCode;
use mail_auth::hickory_resolver::proto::rr::RData;

/// What one lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dns<T> {
    Found(T),
    /// NXDOMAIN or no record of that type: the domain says "nothing here".
    Absent,
    /// Timeout, server failure, refusal: nothing can be said about the domain.
    Failed(String),
}

#[derive(Debug, thiserror::Error)]
#[error("doctor: cannot set up the DNS resolver ({what}): {message}")]
pub struct ResolverError {
    what: String,
    message: String,
}

/// The resolver the doctor asks, with its per-lookup time bound.
pub struct Resolver {
    pub auth: MessageAuthenticator,
    pub timeout: Duration,
}

impl Resolver {
    /// `server` is `doctor.resolver` (UDP and TCP on its port); `None` reads the system's
    /// configuration (`/etc/resolv.conf`).
    pub fn new(server: Option<SocketAddr>, timeout: Duration) -> Result<Resolver, ResolverError> {
        let (config, mut opts) = match server {
            Some(addr) => {
                let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
                for c in &mut ns.connections {
                    c.port = addr.port();
                }
                (ResolverConfig::from_name_servers(vec![ns]), ResolverOpts::default())
            }
            None => mail_auth::hickory_resolver::system_conf::read_system_conf().map_err(|e| ResolverError {
                what: "the system resolver configuration".into(),
                message: format!("{e}; set doctor.resolver in the config"),
            })?,
        };
        opts.timeout = timeout;
        // One attempt: a name server that does not answer within the timeout is reported as
        // such, instead of multiplying the wait.
        opts.attempts = 1;
        opts.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
        let what = server.map(|s| s.to_string()).unwrap_or_else(|| "system".into());
        let auth =
            MessageAuthenticator::new(config, opts).map_err(|e| ResolverError { what, message: e.to_string() })?;
        Ok(Resolver { auth, timeout })
    }

    /// Every TXT record at `name`, each as one string (its character-strings joined).
    pub async fn txt(&self, name: &str) -> Dns<Vec<String>> {
        let fqdn = fqdn(name);
        let lookup = tokio::time::timeout(self.timeout, self.auth.resolver().txt_lookup(fqdn.as_str())).await;
        match lookup {
            Err(_) => Dns::Failed(format!("no answer for {name} TXT within {:?}", self.timeout)),
            Ok(Err(e)) => classify(name, "TXT", e),
            Ok(Ok(l)) => {
                let records: Vec<String> = l
                    .answers()
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::TXT(t) => {
                            Some(t.txt_data.iter().map(|s| String::from_utf8_lossy(s).into_owned()).collect::<String>())
                        }
                        _ => None,
                    })
                    .collect();
                if records.is_empty() { Dns::Absent } else { Dns::Found(records) }
            }
        }
    }

    /// The addresses of a host (A and AAAA), or the host itself when it is an IP literal.
    pub async fn ips(&self, host: &str) -> Dns<Vec<IpAddr>> {
        if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            return Dns::Found(vec![ip]);
        }
        let fqdn = fqdn(host);
        match tokio::time::timeout(self.timeout, self.auth.resolver().lookup_ip(fqdn.as_str())).await {
            Err(_) => Dns::Failed(format!("no answer for {host} A/AAAA within {:?}", self.timeout)),
            Ok(Err(e)) => classify(host, "A/AAAA", e),
            Ok(Ok(l)) => {
                let mut ips: Vec<IpAddr> = l.iter().collect();
                ips.sort();
                ips.dedup();
                if ips.is_empty() { Dns::Absent } else { Dns::Found(ips) }
            }
        }
    }
}

impl Resolver {
    /// The mail exchangers of `name` (MX), most preferred first.
    pub async fn mx(&self, name: &str) -> Dns<Vec<String>> {
        let fqdn = fqdn(name);
        match tokio::time::timeout(self.timeout, self.auth.resolver().mx_lookup(fqdn.as_str())).await {
            Err(_) => Dns::Failed(format!("no answer for {name} MX within {:?}", self.timeout)),
            Ok(Err(e)) => classify(name, "MX", e),
            Ok(Ok(l)) => {
                let mut mx: Vec<(u16, String)> = l
                    .answers()
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::MX(m) => {
                            Some((m.preference, m.exchange.to_ascii().trim_end_matches('.').to_ascii_lowercase()))
                        }
                        _ => None,
                    })
                    .collect();
                mx.sort();
                let hosts: Vec<String> = mx.into_iter().map(|(_, h)| h).collect();
                if hosts.is_empty() { Dns::Absent } else { Dns::Found(hosts) }
            }
        }
    }
}

fn fqdn(name: &str) -> String {
    if name.ends_with('.') { name.to_string() } else { format!("{name}.") }
}

/// Sort a resolver error into "absent" and "could not check".
fn classify<T>(name: &str, ty: &str, e: NetError) -> Dns<T> {
    match &e {
        NetError::Dns(DnsError::NoRecordsFound(nr)) => match nr.response_code {
            ResponseCode::NXDomain => Dns::Absent,
            // A recursive resolver that hands back only a referral (NS, no SOA) did not reach
            // the delegated name server: that is a failure to look up, not an empty answer.
            ResponseCode::NoError if nr.soa.is_none() && nr.ns.as_ref().is_some_and(|ns| !ns.is_empty()) => {
                Dns::Failed(format!(
                    "{name} {ty}: the name server for this domain did not answer (only a referral came back)"
                ))
            }
            ResponseCode::NoError => Dns::Absent,
            rc => Dns::Failed(format!("{name} {ty}: the resolver answered {rc}")),
        },
        NetError::Timeout => Dns::Failed(format!("{name} {ty}: no answer within the timeout")),
        _ => Dns::Failed(format!("{name} {ty}: {e}")),
    }
}
