//! `[jmap]`: where the JMAP server for devices listens, the URL devices reach it at, its TLS
//! files, which reverse proxies may name the client, and an extra CA for the push services it
//! POSTs to (the platform's roots are always trusted). Plain HTTP only on loopback.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::raw::RawJmap;
use super::validate::{existing_file, invalid, tls_files};
use super::{ConfigError, Rel};

#[derive(Debug, Clone)]
pub struct Jmap {
    pub enabled: bool,
    pub listen: SocketAddr,
    /// Base URL without a trailing slash, e.g. `https://postbote.bau-firma.de`.
    pub public_url: String,
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Reverse proxies whose `X-Forwarded-For` names the client (empty: the header is ignored).
    pub trusted_proxies: Vec<super::Net>,
    /// A PEM file of further CAs to trust for push URLs, besides the platform's roots.
    pub push_ca_file: Option<PathBuf>,
}

impl Jmap {
    pub(super) fn from_raw(raw: RawJmap, rel: Rel) -> Result<Jmap, ConfigError> {
        let listen_s = raw.listen.unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen: SocketAddr =
            listen_s.parse().map_err(|_| invalid(format!("jmap.listen \"{listen_s}\" is not an address:port")))?;
        let tls = tls_files(raw.tls_cert, raw.tls_key, "jmap", rel)?;
        let enabled = raw.enabled.unwrap_or(true);
        if enabled && tls.is_none() && !listen.ip().is_loopback() {
            return Err(invalid(format!(
                "jmap.listen {listen} is not a loopback address: set jmap.tls_cert and jmap.tls_key, plain HTTP is only allowed on loopback"
            )));
        }
        let scheme = if tls.is_some() { "https" } else { "http" };
        let public_url = raw.public_url.unwrap_or_else(|| format!("{scheme}://{listen}"));
        let public_url = public_url.trim_end_matches('/').to_string();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            return Err(invalid(format!("jmap.public_url \"{public_url}\" must start with https:// or http://")));
        }
        let trusted_proxies = raw
            .trusted_proxies
            .unwrap_or_default()
            .iter()
            .map(|p| p.parse().map_err(|e| invalid(format!("jmap.trusted_proxies: {e}"))))
            .collect::<Result<_, _>>()?;
        let push_ca_file = raw.push_ca_file.map(rel).map(|p| existing_file(p, "jmap.push_ca_file")).transpose()?;
        Ok(Jmap { enabled, listen, public_url, tls, trusted_proxies, push_ca_file })
    }
}
