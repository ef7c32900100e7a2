//! The sender's address: the return path a reply would go to, and whether it may get one.
//!
//! [`parse_return_path`] reads the envelope sender Dovecot recorded, decoding a forwarder's
//! SRS rewrite back to the original sender; [`address_problem`] holds a destination to the
//! RFC 5321 shape and limits; [`system_sender`] recognises machines, list addresses and the
//! noreply family by their local part. All are pure and lowercase-in, so `decide` and the
//! tables in the tests read them the same way. A return path is only ever used as a reply
//! destination after every other check passed.

use super::header::strip_comments;

/// The envelope sender as the final delivery recorded it (`Return-Path`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReturnPath {
    /// No `Return-Path` header at all.
    Missing,
    /// `Return-Path: <>`: a bounce or other null-sender message.
    Null,
    /// Something that is not an address.
    Invalid(String),
    /// An address; `address` is the original sender when `raw` was SRS-rewritten by a forwarder.
    Address { raw: String, address: String },
}

impl ReturnPath {
    pub fn address(&self) -> Option<&str> {
        match self {
            ReturnPath::Address { address, .. } => Some(address),
            _ => None,
        }
    }
}

/// Read a `Return-Path` value: `<>` is the null sender; an SRS address is decoded.
pub fn parse_return_path(value: &str) -> ReturnPath {
    let v = strip_comments(value);
    let v = v.trim();
    let inner = match (v.find('<'), v.rfind('>')) {
        (Some(a), Some(b)) if b > a => v[a + 1..b].trim(),
        _ => v,
    };
    // A source route ("<@relay:user@host>") is obsolete; keep the address after the colon.
    let inner = match inner.strip_prefix('@').and_then(|r| r.split_once(':')) {
        Some((_, a)) => a,
        None => inner,
    };
    if inner.is_empty() {
        return ReturnPath::Null;
    }
    let lower = inner.to_lowercase();
    if address_problem(&lower).is_some() {
        return ReturnPath::Invalid(inner.to_string());
    }
    let address = decode_srs(&lower).unwrap_or_else(|| lower.clone());
    if address_problem(&address).is_some() {
        return ReturnPath::Invalid(inner.to_string());
    }
    ReturnPath::Address { raw: lower, address }
}

/// RFC 5321 §4.5.3.1: a local part has at most 64 octets, a domain at most 255, a path (the
/// address in angle brackets) at most 256.
pub const MAX_LOCAL_PART: usize = 64;
pub const MAX_DOMAIN: usize = 255;
pub const MAX_PATH: usize = 256;

/// Why `addr` cannot be a reply destination, or None when it can: exactly one '@', the
/// RFC 5321 length limits, and the shape `config::is_address` checks.
pub fn address_problem(addr: &str) -> Option<String> {
    let ats = addr.matches('@').count();
    if ats != 1 {
        return Some(format!("has {ats} '@' signs instead of one"));
    }
    let (local, domain) = addr.split_once('@')?;
    if local.len() > MAX_LOCAL_PART {
        return Some(format!("its local part has {} octets (RFC 5321 allows {MAX_LOCAL_PART})", local.len()));
    }
    if domain.len() > MAX_DOMAIN {
        return Some(format!("its domain has {} octets (RFC 5321 allows {MAX_DOMAIN})", domain.len()));
    }
    if addr.len() + 2 > MAX_PATH {
        return Some(format!("as a path it has {} octets (RFC 5321 allows {MAX_PATH})", addr.len() + 2));
    }
    if !crate::config::is_address(addr) {
        return Some("is not an address".into());
    }
    None
}

/// Decode a Sender Rewriting Scheme address back to the original sender:
/// `SRS0=HHH=TT=domain=local@forwarder` and
/// `SRS1=HHH=forwarder1==HHH=TT=domain=local@forwarder2` give `local@domain`. The hash cannot
/// be checked without the forwarder's secret; the address is only used as a reply
/// destination after every other check passed. Returns None for anything that is not SRS.
pub fn decode_srs(addr: &str) -> Option<String> {
    let (local, _forwarder) = addr.rsplit_once('@')?;
    let lower = local.to_ascii_lowercase();
    let srs0_body = if lower.starts_with("srs0") {
        // SRS0=HHH=TT=domain=local; the first separator may also be '+' or '-'.
        let sep = local.as_bytes().get(4).copied()?;
        if !matches!(sep, b'=' | b'+' | b'-') {
            return None;
        }
        &local[5..]
    } else if lower.starts_with("srs1") {
        // SRS1=HHH=forwarder1==HHH=TT=domain=local: the SRS0 part follows "==".
        let (_, rest) = local[4..].split_once("==")?;
        rest
    } else {
        return None;
    };
    let mut parts = srs0_body.splitn(4, '=');
    let _hash = parts.next()?;
    let _timestamp = parts.next()?;
    let domain = parts.next()?;
    let orig_local = parts.next()?;
    if domain.is_empty() || orig_local.is_empty() || !domain.contains('.') {
        return None;
    }
    Some(format!("{orig_local}@{domain}").to_lowercase())
}

/// Local parts of senders that are machines, lists or explicitly not read (RFC 3834 §2,
/// RFC 5230 §4.6, and the noreply family that none of the reference implementations has).
pub fn system_sender(addr: &str) -> Option<&'static str> {
    let local = addr.rsplit_once('@').map(|(l, _)| l).unwrap_or(addr).to_ascii_lowercase();
    // Subaddresses ("noreply+abc") count by their base.
    let base = local.split('+').next().unwrap_or(&local);
    let squashed: String = base.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    if matches!(base, "mailer-daemon" | "postmaster" | "listserv" | "majordomo" | "mailerdaemon") {
        return Some("a mail system address");
    }
    if base.starts_with("owner-") || base.ends_with("-owner") {
        return Some("a list owner address (owner-*)");
    }
    // By suffix, not substring: "quote-requests@" is a person's address.
    if base.ends_with("-request") {
        return Some("a list request address (*-request)");
    }
    if squashed.starts_with("noreply")
        || squashed.starts_with("donotreply")
        || squashed.starts_with("dontreply")
        || squashed.ends_with("noreply")
        || squashed.ends_with("donotreply")
        || squashed == "nichtantworten"
        || squashed.starts_with("bounce")
        || squashed.starts_with("mailerdaemon")
    {
        return Some("a no-reply address");
    }
    None
}
