//! The facts the doctor gathers from DNS for one mailbox, one company domain and one path:
//! SPF evaluated for the server's addresses (with its lookups counted), DKIM keys under the
//! selectors, and the DMARC record. The records' text is parsed in [`super::records`], whose
//! types and parsers are re-exported here.
//!
//! This module asks DNS and records what it saw; it never judges (that is `verdict`) and never
//! writes anything. Every lookup that could not be made is kept as "could not check" with its
//! reason, never folded into "absent".

use std::net::IpAddr;

use mail_auth::common::parse::TxtRecordParser;
use mail_auth::common::verify::DomainKey;
use mail_auth::spf::{Macro, Mechanism, Qualifier};
use mail_auth::{SpfResult, spf::verify::SpfParameters};
use serde::Serialize;

use super::dns::{Dns, Resolver};
pub use super::records::{
    Alignment, Dmarc, PUBLIC_SUFFIX_LIST, Policy, aligned, org_domain, parse_dmarc, spf_records, spf_syntax,
};
use crate::config::Transport;

/// RFC 7208 4.6.4: at most 10 mechanisms and modifiers that cause DNS lookups.
pub const SPF_LOOKUP_LIMIT: u32 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpfEval {
    Pass,
    Fail,
    SoftFail,
    Neutral,
    None,
    TempError,
    PermError,
}

impl From<SpfResult> for SpfEval {
    fn from(r: SpfResult) -> Self {
        match r {
            SpfResult::Pass => SpfEval::Pass,
            SpfResult::Fail => SpfEval::Fail,
            SpfResult::SoftFail => SpfEval::SoftFail,
            SpfResult::Neutral => SpfEval::Neutral,
            SpfResult::None => SpfEval::None,
            SpfResult::TempError => SpfEval::TempError,
            SpfResult::PermError => SpfEval::PermError,
        }
    }
}

/// How an SPF record ends: `+all`, `-all`, `~all`, `?all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AllQualifier {
    Pass,
    Fail,
    SoftFail,
    Neutral,
}

impl AllQualifier {
    pub fn as_str(self) -> &'static str {
        match self {
            AllQualifier::Pass => "+all",
            AllQualifier::Fail => "-all",
            AllQualifier::SoftFail => "~all",
            AllQualifier::Neutral => "?all",
        }
    }
}

/// The SPF state of one domain, evaluated against the sending addresses of one path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Spf {
    CouldNotCheck {
        error: String,
    },
    /// No `v=spf1` record.
    None,
    /// More than one `v=spf1` record: a permanent error (RFC 7208 4.5).
    Multiple {
        records: Vec<String>,
    },
    Invalid {
        record: String,
        problem: String,
    },
    TooManyLookups {
        record: String,
        lookups: u32,
    },
    Record {
        record: String,
        all: Option<AllQualifier>,
        redirect: bool,
        /// DNS-querying terms, through includes and redirects; `None` when not countable
        /// (a macro, or an include that could not be looked up).
        lookups: Option<u32>,
        /// The `check_host` result per sending address.
        results: Vec<(IpAddr, SpfEval)>,
    },
}

impl Spf {
    pub fn passes(&self) -> bool {
        matches!(self, Spf::Record { results, .. } if !results.is_empty() && results.iter().all(|(_, r)| *r == SpfEval::Pass))
    }
}

/// A DKIM public key record at one selector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum KeyRecord {
    CouldNotCheck {
        error: String,
    },
    Absent,
    Invalid {
        error: String,
    },
    /// `p=` is empty: the key was withdrawn.
    Revoked,
    Valid {
        bits: Option<usize>,
    },
}

/// Whether the published key belongs to the private key postbote signs with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum KeyMatch {
    Matches,
    Mismatch,
    /// The configured key file cannot be used for signing.
    Unreadable {
        error: String,
    },
    /// No valid published key to compare with.
    NotChecked,
}

/// DKIM signing by postbote for this mailbox (`[mailbox.dkim]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Signing {
    pub selector: String,
    /// The `d=` postbote signs with.
    pub domain: String,
    pub published: KeyRecord,
    pub matches: KeyMatch,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DmarcState {
    CouldNotCheck { error: String },
    Absent,
    Invalid { record: String, problem: String },
    Found(Dmarc),
}

/// Everything the verdict for one mailbox, domain and path is computed from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Facts {
    pub mailbox: String,
    #[serde(serialize_with = "transport_str")]
    pub transport: Transport,
    /// The company domain in From.
    pub from_domain: String,
    /// The outgoing server of this path.
    pub server: String,
    pub server_ips: Dns<Vec<IpAddr>>,
    /// MAIL FROM on this path: the company address (direct) or the hosted address (relay).
    pub envelope_sender: String,
    pub envelope_domain: String,
    /// SPF of the envelope domain, evaluated for the server's addresses.
    pub spf: Spf,
    /// Selectors of `doctor.dkim_selectors` under which the From domain publishes a valid key.
    pub dkim_selectors_found: Vec<String>,
    /// Set when none of those lookups could be made.
    pub dkim_search_failed: Option<String>,
    pub signing: Option<Signing>,
    pub dmarc: DmarcState,
}

fn transport_str<S: serde::Serializer>(t: &Transport, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(t.as_str())
}

impl<T: Serialize> Serialize for Dns<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(2))?;
        match self {
            Dns::Found(v) => {
                m.serialize_entry("state", "found")?;
                m.serialize_entry("value", v)?;
            }
            Dns::Absent => m.serialize_entry("state", "absent")?,
            Dns::Failed(e) => {
                m.serialize_entry("state", "could_not_check")?;
                m.serialize_entry("error", e)?;
            }
        }
        m.end()
    }
}

// ---------------------------------------------------------------------------------------------
// Gathering.

/// The SPF state of `domain` for mail from `sender` sent by `ips`.
pub async fn spf(r: &Resolver, domain: &str, ips: &[IpAddr], helo: &str, sender: &str) -> Spf {
    let records = match r.txt(domain).await {
        Dns::Failed(error) => return Spf::CouldNotCheck { error },
        Dns::Absent => return Spf::None,
        Dns::Found(txt) => spf_records(&txt),
    };
    let record = match records.len() {
        0 => return Spf::None,
        1 => records.into_iter().next().unwrap_or_default(),
        _ => return Spf::Multiple { records },
    };
    // mail-auth's parser is lenient (it skips unknown terms); receivers are not.
    if let Err(problem) = spf_syntax(&record) {
        return Spf::Invalid { record, problem };
    }
    let parsed = match mail_auth::spf::Spf::parse(record.as_bytes()) {
        Ok(p) => p,
        Err(e) => return Spf::Invalid { record, problem: e.to_string() },
    };
    let all = parsed.directives.iter().find(|d| d.mechanism == Mechanism::All).map(|d| match d.qualifier {
        Qualifier::Pass => AllQualifier::Pass,
        Qualifier::Fail => AllQualifier::Fail,
        Qualifier::SoftFail => AllQualifier::SoftFail,
        Qualifier::Neutral => AllQualifier::Neutral,
    });
    let lookups = count_lookups(r, &parsed, 0).await;
    if let Some(n) = lookups
        && n > SPF_LOOKUP_LIMIT
    {
        return Spf::TooManyLookups { record, lookups: n };
    }
    let mut results = Vec::new();
    for ip in ips {
        let eval = tokio::time::timeout(
            r.timeout * 3,
            r.auth.verify_spf(SpfParameters::verify_mail_from(*ip, helo, helo, sender)),
        )
        .await
        .map(|o| SpfEval::from(o.result()))
        .unwrap_or(SpfEval::TempError);
        results.push((*ip, eval));
    }
    Spf::Record { record, all, redirect: parsed.redirect.is_some(), lookups, results }
}

/// Count the terms that cost a DNS lookup, following includes and redirects with literal
/// targets. `None` when a target uses a macro or could not be fetched.
fn count_lookups<'a>(
    r: &'a Resolver,
    spf: &'a mail_auth::spf::Spf,
    depth: u32,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<u32>> + Send + 'a>> {
    Box::pin(async move {
        if depth > SPF_LOOKUP_LIMIT {
            return Some(SPF_LOOKUP_LIMIT + 1);
        }
        let mut n = 0u32;
        let mut targets = Vec::new();
        for d in spf.directives.iter() {
            match &d.mechanism {
                Mechanism::Include { macro_string } => {
                    n += 1;
                    targets.push(macro_string);
                }
                Mechanism::A { .. } | Mechanism::Mx { .. } | Mechanism::Ptr { .. } | Mechanism::Exists { .. } => n += 1,
                Mechanism::All | Mechanism::Ip4 { .. } | Mechanism::Ip6 { .. } => {}
            }
        }
        if let Some(redirect) = &spf.redirect {
            n += 1;
            targets.push(redirect);
        }
        let mut unknown = false;
        for t in targets {
            let Macro::Literal(name) = t else {
                unknown = true;
                continue;
            };
            let name = String::from_utf8_lossy(name).into_owned();
            let records = match r.txt(&name).await {
                Dns::Found(txt) => spf_records(&txt),
                _ => {
                    unknown = true;
                    continue;
                }
            };
            match records.first().map(|rec| mail_auth::spf::Spf::parse(rec.as_bytes())) {
                Some(Ok(inner)) => match count_lookups(r, &inner, depth + 1).await {
                    Some(k) => n += k,
                    None => unknown = true,
                },
                _ => unknown = true,
            }
            if n > SPF_LOOKUP_LIMIT {
                return Some(n);
            }
        }
        if unknown { None } else { Some(n) }
    })
}

/// The DMARC record for `domain`, falling back to its organisational domain.
pub async fn dmarc(r: &Resolver, domain: &str) -> DmarcState {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let domain = domain.as_str();
    let org = org_domain(domain).to_string();
    let mut candidates = vec![domain.to_string()];
    if org != domain {
        candidates.push(org);
    }
    for at in candidates {
        match r.txt(&format!("_dmarc.{at}")).await {
            Dns::Failed(error) => return DmarcState::CouldNotCheck { error },
            Dns::Absent => continue,
            Dns::Found(txt) => {
                let recs: Vec<&String> =
                    txt.iter().filter(|t| t.trim_start().to_ascii_lowercase().starts_with("v=dmarc1")).collect();
                match recs.len() {
                    0 => continue,
                    1 => {
                        return match parse_dmarc(recs[0], &at) {
                            Ok(d) => DmarcState::Found(d),
                            Err(problem) => DmarcState::Invalid { record: recs[0].clone(), problem },
                        };
                    }
                    _ => {
                        return DmarcState::Invalid {
                            record: recs.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" | "),
                            problem: format!("_dmarc.{at} has {} DMARC records; receivers then apply none", recs.len()),
                        };
                    }
                }
            }
        }
    }
    DmarcState::Absent
}

/// The DKIM key record at `selector._domainkey.domain`, parsed with `mail-auth`.
pub async fn dkim_key(r: &Resolver, selector: &str, domain: &str) -> (KeyRecord, Option<DomainKey>) {
    match r.txt(&format!("{selector}._domainkey.{domain}")).await {
        Dns::Failed(error) => (KeyRecord::CouldNotCheck { error }, None),
        Dns::Absent => (KeyRecord::Absent, None),
        Dns::Found(txt) => {
            let mut last = KeyRecord::Absent;
            for t in txt {
                match DomainKey::parse(t.as_bytes()) {
                    Ok(k) => {
                        let bits = Some(k.p.public_key_bits()).filter(|b| *b != usize::MAX);
                        return (KeyRecord::Valid { bits }, Some(k));
                    }
                    Err(mail_auth::Error::Dkim(mail_auth::dkim::DkimError::RevokedPublicKey)) => {
                        last = KeyRecord::Revoked
                    }
                    Err(e) if t.contains("p=") || t.to_ascii_lowercase().contains("dkim1") => {
                        last = KeyRecord::Invalid { error: e.to_string() }
                    }
                    Err(_) => {}
                }
            }
            (last, None)
        }
    }
}
