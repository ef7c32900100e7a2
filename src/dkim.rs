//! DKIM by postbote: signing outgoing mail with a mailbox's configured key, making keys
//! (`postbote dkim keygen`), printing the TXT record to publish, and telling whether a
//! published key belongs to a configured private key.
//!
//! Two callers: the outbox signs every message of a mailbox that has `[mailbox.dkim]` through
//! [`sign`], and the deliverability doctor compares the published key with [`load_key`] and
//! [`key_matches`]. It imports nothing of the crate but `config`, so both can use it.
//!
//! Signing is relaxed/relaxed, RSA-SHA256 (or Ed25519-SHA256 for an Ed25519 key), over the
//! usual headers that are present. Keys are read from PEM (PKCS#8 or PKCS#1) once and cached
//! until the file changes. This module never logs key material and never overwrites a key file.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use base64::Engine;
use mail_auth::common::crypto::{Algorithm, DkimKey, Ed25519Key, HashOutput, RsaKey, Sha256, SigningKey};
use mail_auth::common::headers::{HeaderWriter, Writable};
use mail_auth::common::verify::DomainKey;
use mail_auth::dkim::{Canonicalization, DkimSigner};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;

/// The headers signed when present (RFC 6376 5.4.1's recommendations plus Auto-Submitted,
/// which tells receivers not to answer).
pub const SIGNED_HEADERS: [&str; 11] = [
    "From",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Auto-Submitted",
];

#[derive(Debug, thiserror::Error)]
pub enum DkimError {
    #[error("dkim: cannot read the key {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error(
        "dkim: {path} is not a usable private key ({message}); expected a PEM RSA or Ed25519 key as `postbote dkim keygen` writes"
    )]
    Key { path: PathBuf, message: String },
    #[error("dkim: signing for {domain} with selector {selector} failed: {message}")]
    Sign { domain: String, selector: String, message: String },
    #[error(
        "dkim: {path} already exists; it may be the published key, so it is not replaced (choose another --out or selector)"
    )]
    Exists { path: PathBuf },
    #[error("dkim: cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("dkim: key generation failed: {0}")]
    Generate(String),
}

/// A loaded key, shared between signers.
struct Shared(Arc<DkimKey>);

impl SigningKey for Shared {
    type Hasher = Sha256;
    fn sign(&self, input: impl Writable) -> mail_auth::Result<Vec<u8>> {
        self.0.sign(input)
    }
    fn hash(&self, data: impl Writable) -> HashOutput {
        self.0.hash(data)
    }
    fn algorithm(&self) -> Algorithm {
        self.0.algorithm()
    }
}

type Cache = Mutex<HashMap<PathBuf, (Option<SystemTime>, Arc<DkimKey>)>>;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The private key at `path`, parsed once and again only when the file's mtime changes.
pub fn load_key(path: &Path) -> Result<Arc<DkimKey>, DkimError> {
    let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    if let Some((t, k)) = cache().lock().unwrap_or_else(|p| p.into_inner()).get(path)
        && *t == mtime
        && mtime.is_some()
    {
        return Ok(k.clone());
    }
    let pem = std::fs::read(path).map_err(|source| DkimError::Read { path: path.to_owned(), source })?;
    let key = Arc::new(parse_key(&pem).map_err(|message| DkimError::Key { path: path.to_owned(), message })?);
    cache().lock().unwrap_or_else(|p| p.into_inner()).insert(path.to_owned(), (mtime, key.clone()));
    Ok(key)
}

fn parse_key(pem: &[u8]) -> Result<DkimKey, String> {
    let der = PrivateKeyDer::from_pem_slice(pem).map_err(|e| format!("no PEM private key in it: {e}"))?;
    if let PrivateKeyDer::Pkcs8(p8) = &der
        && let Ok(k) = Ed25519Key::from_pkcs8_maybe_unchecked_der(p8.secret_pkcs8_der())
    {
        return Ok(DkimKey::Ed25519(k));
    }
    RsaKey::<Sha256>::from_key_der(der).map(DkimKey::Rsa).map_err(|e| e.to_string())
}

/// Sign `raw` (an RFC 5322 message) for `dkim.domain` with `dkim.selector`; returns the
/// message with the `DKIM-Signature` header in front.
pub fn sign(dkim: &crate::config::Dkim, raw: &[u8]) -> Result<Vec<u8>, DkimError> {
    let key = load_key(&dkim.key_file)?;
    let err =
        |message: String| DkimError::Sign { domain: dkim.domain.clone(), selector: dkim.selector.clone(), message };
    let signature = DkimSigner::from_key(Shared(key))
        .domain(dkim.domain.as_str())
        .selector(dkim.selector.as_str())
        .headers(present_headers(raw))
        .header_canonicalization(Canonicalization::Relaxed)
        .body_canonicalization(Canonicalization::Relaxed)
        .sign(raw)
        .map_err(|e| err(e.to_string()))?;
    let mut out = signature.to_header().into_bytes();
    out.extend_from_slice(raw);
    Ok(out)
}

/// The names of [`SIGNED_HEADERS`] the message has. A header that is absent is not listed:
/// mail-auth would list it anyway (as "must stay absent"), and a relay that adds a missing
/// Date or Message-ID would then break the signature.
fn present_headers(raw: &[u8]) -> Vec<&'static str> {
    let mut present = Vec::new();
    for line in raw.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            continue;
        }
        if let Some(colon) = line.iter().position(|b| *b == b':') {
            let name = String::from_utf8_lossy(&line[..colon]);
            if let Some(h) = SIGNED_HEADERS.iter().find(|h| h.eq_ignore_ascii_case(name.trim_end()))
                && !present.contains(h)
            {
                present.push(*h);
            }
        }
    }
    present
}

/// Whether the published key `dk` belongs to `key`: sign a probe with the private key and
/// verify it with the published one.
pub fn key_matches(dk: &DomainKey, key: &DkimKey) -> bool {
    let probe: &[u8] = b"postbote doctor: does the published DKIM key belong to the configured one?";
    match key.sign(probe) {
        Ok(sig) => dk.p.verify_bytes(probe, &sig, key.algorithm()).is_ok(),
        Err(_) => false,
    }
}

/// The `k=` and `p=` of the public half of the PEM key at `path`.
pub fn public_key_record(path: &Path) -> Result<(&'static str, String), DkimError> {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::signature::KeyPair;
    let pem = std::fs::read(path).map_err(|source| DkimError::Read { path: path.to_owned(), source })?;
    let bad = |message: String| DkimError::Key { path: path.to_owned(), message };
    let der = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| bad(format!("no PEM private key in it: {e}")))?;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    if let PrivateKeyDer::Pkcs8(p8) = &der
        && let Ok(k) = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(p8.secret_pkcs8_der())
    {
        return Ok(("ed25519", b64(k.public_key().as_ref())));
    }
    let kp = match &der {
        PrivateKeyDer::Pkcs8(p8) => aws_lc_rs::rsa::KeyPair::from_pkcs8(p8.secret_pkcs8_der()),
        PrivateKeyDer::Pkcs1(p1) => aws_lc_rs::rsa::KeyPair::from_der(p1.secret_pkcs1_der()),
        _ => return Err(bad("only PKCS#8 and PKCS#1 keys are supported".into())),
    }
    .map_err(|e| bad(e.to_string()))?;
    let spki = kp.public_key().as_der().map_err(|e| bad(e.to_string()))?;
    Ok(("rsa", b64(spki.as_ref())))
}

/// The zone-file line to publish: `S._domainkey.D. IN TXT "v=DKIM1; k=rsa; p=..."`, split into
/// character-strings of at most 255 bytes (the DNS limit per string).
pub fn txt_record(domain: &str, selector: &str, k: &str, p: &str) -> String {
    let value = format!("v=DKIM1; k={k}; p={p}");
    let chunks: Vec<String> =
        value.as_bytes().chunks(255).map(|c| format!("\"{}\"", String::from_utf8_lossy(c))).collect();
    format!("{selector}._domainkey.{domain}. IN TXT {}", chunks.join(" "))
}

/// Make a new RSA-2048 key, write it as PKCS#8 PEM to `out` (mode 0600, never over an existing
/// file) and return the TXT record to publish.
pub fn keygen(domain: &str, selector: &str, out: &Path) -> Result<String, DkimError> {
    use aws_lc_rs::encoding::AsDer;
    let kp = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
        .map_err(|e| DkimError::Generate(e.to_string()))?;
    let pkcs8 =
        AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&kp).map_err(|e| DkimError::Generate(e.to_string()))?;
    let spki =
        aws_lc_rs::signature::KeyPair::public_key(&kp).as_der().map_err(|e| DkimError::Generate(e.to_string()))?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref());
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    write_private(out, pem.as_bytes())?;
    Ok(txt_record(domain, selector, "rsa", &base64::engine::general_purpose::STANDARD.encode(spki.as_ref())))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), DkimError> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let werr = |source| DkimError::Write { path: path.to_owned(), source };
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
        && !dir.exists()
    {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(werr)?;
    }
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            DkimError::Exists { path: path.to_owned() }
        } else {
            werr(e)
        }
    })?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(werr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_auth::common::parse::TxtRecordParser;

    #[test]
    fn keygen_writes_a_private_key_whose_record_parses_and_matches() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dkim/bau-firma.de.s1.key");
        let record = keygen("bau-firma.de", "s1", &path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(record.starts_with("s1._domainkey.bau-firma.de. IN TXT \"v=DKIM1; k=rsa; p="), "{record}");
        // Each character-string is at most 255 bytes; joined they are the DKIM record.
        let strings: Vec<&str> = record.split('"').skip(1).step_by(2).collect();
        assert!(strings.len() >= 2 && strings.iter().all(|s| s.len() <= 255), "{record}");
        let dk = DomainKey::parse(strings.concat().as_bytes()).unwrap();
        assert!(key_matches(&dk, &load_key(&path).unwrap()));
        // The record printed again from the file is the same.
        let (k, p) = public_key_record(&path).unwrap();
        assert_eq!(txt_record("bau-firma.de", "s1", k, &p), record);
        // A second keygen never replaces the key.
        assert!(matches!(keygen("bau-firma.de", "s1", &path), Err(DkimError::Exists { .. })));
        // Another key does not match.
        let other = dir.path().join("other.key");
        keygen("bau-firma.de", "s2", &other).unwrap();
        assert!(!key_matches(&dk, &load_key(&other).unwrap()));
    }

    #[test]
    fn only_present_headers_are_signed() {
        let raw = b"From: a@x.de\r\nto: b@y.de\r\nSubject: long\r\n folded\r\nX-Other: 1\r\n\r\nCc: in the body\r\n";
        assert_eq!(present_headers(raw), vec!["From", "To", "Subject"]);
    }

    #[test]
    fn a_bad_key_file_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        std::fs::write(&path, "not a key").unwrap();
        let e = load_key(&path).err().unwrap().to_string();
        assert!(e.contains("k.pem") && e.contains("not a usable private key"), "{e}");
    }
}
