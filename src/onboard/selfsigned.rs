//! `postbote tls selfsigned`: a certificate and key for phones on the LAN, where no public
//! certificate authority will vouch for a host name, and the fingerprint a person compares on
//! the phone before trusting it.
//!
//! ECDSA P-256, valid from a day ago (clocks differ) for two years, the host in the subject
//! and as the only subject alternative name (an IP address as an IP SAN, a name as a DNS SAN),
//! for server authentication only, not a CA. Pure: [`generate`] returns the PEM texts and the
//! fingerprint; the command line writes the files (0600) and never overwrites without
//! `--force`. The fingerprint is the SHA-256 of the certificate's DER, as `openssl x509 -noout
//! -fingerprint -sha256` prints it: upper-case hex pairs separated by colons.

use std::time::Duration;

use rcgen::{
    CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType,
    SerialNumber,
};
use sha2::{Digest, Sha256};

/// How long a self-signed certificate is valid.
pub const VALIDITY: Duration = Duration::from_secs(730 * 86_400);

/// A certificate and its key, as PEM.
#[derive(Clone)]
pub struct Pair {
    pub cert_pem: String,
    pub key_pem: String,
    /// `AB:CD:…`, 32 pairs.
    pub fingerprint: String,
    /// Unix seconds.
    pub not_after: i64,
}

impl std::fmt::Debug for Pair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pair").field("fingerprint", &self.fingerprint).field("not_after", &self.not_after).finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SelfSignedError {
    #[error("tls selfsigned: \"{0}\" is not a host name or an IP address")]
    Host(String),
    #[error("tls selfsigned: {0}")]
    Rcgen(#[from] rcgen::Error),
}

/// The SHA-256 fingerprint of a DER certificate, as openssl prints it.
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// A fresh pair for `host`, valid from a day before `now` (unix seconds).
pub fn generate(host: &str, now: i64) -> Result<Pair, SelfSignedError> {
    let host = host.trim();
    let ip = host.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>().ok();
    let ok_name = !host.is_empty()
        && host.len() <= 253
        && host
            .split('.')
            .all(|l| !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    if ip.is_none() && !ok_name {
        return Err(SelfSignedError::Host(host.to_string()));
    }
    let mut params = CertificateParams::default();
    params.subject_alt_names = match ip {
        Some(ip) => vec![SanType::IpAddress(ip)],
        None => vec![SanType::DnsName(host.to_ascii_lowercase().try_into()?)],
    };
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, host);
    params.distinguished_name.push(DnType::OrganizationName, "postbote (self-signed)");
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    let now = now.max(86_400) as u64;
    params.not_before = epoch + Duration::from_secs(now - 86_400);
    params.not_after = epoch + Duration::from_secs(now) + VALIDITY;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let mut serial = [0u8; 16];
    aws_lc_rs::rand::fill(&mut serial).expect("the system's random source");
    serial[0] &= 0x7f;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let cert = params.self_signed(&key)?;
    Ok(Pair {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        fingerprint: fingerprint(cert.der()),
        not_after: (now + VALIDITY.as_secs()) as i64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_addresses_and_the_fingerprint() {
        let p = generate("mail.bau-firma.de", 1_800_000_000).unwrap();
        assert!(p.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(p.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_eq!(p.fingerprint.len(), 32 * 3 - 1);
        assert!(
            p.fingerprint
                .split(':')
                .all(|h| h.len() == 2 && h.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_lowercase()))
        );
        assert_eq!(p.not_after, 1_800_000_000 + 730 * 86_400);
        assert!(generate("192.168.1.20", 1_800_000_000).is_ok());
        assert!(generate("::1", 1_800_000_000).is_ok());
        for bad in ["", "a b", "mail/x", "a..b"] {
            assert!(matches!(generate(bad, 1_800_000_000), Err(SelfSignedError::Host(_))), "{bad}");
        }
        assert_eq!(
            fingerprint(b"abc"),
            "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD"
        );
    }
}
