//! The facts the doctor gathers from DNS for one mailbox, one company domain and one path,
//! and the parsing of the records they come from (SPF counting and lookups, DMARC tags).
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    None,
    Quarantine,
    Reject,
}

impl Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::None => "none",
            Policy::Quarantine => "quarantine",
            Policy::Reject => "reject",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Alignment {
    Relaxed,
    Strict,
}

/// A parsed DMARC record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dmarc {
    /// The domain whose `_dmarc` record this is (the From domain, or its organisational domain).
    pub found_at: String,
    pub record: String,
    pub p: Policy,
    pub sp: Policy,
    pub pct: u8,
    pub adkim: Alignment,
    pub aspf: Alignment,
    pub rua: Vec<String>,
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
// Pure parsing.

/// The `v=spf1` records among a name's TXT records.
pub fn spf_records(txt: &[String]) -> Vec<String> {
    txt.iter()
        .filter(|r| {
            let r = r.trim_start();
            r.len() >= 6 && r[..6].eq_ignore_ascii_case("v=spf1") && r[6..].chars().next().is_none_or(|c| c == ' ')
        })
        .cloned()
        .collect()
}

/// Check an SPF record's terms as RFC 7208 section 12 defines them; the error names the term.
pub fn spf_syntax(record: &str) -> Result<(), String> {
    let mut terms = record.split_ascii_whitespace();
    match terms.next() {
        Some(v) if v.eq_ignore_ascii_case("v=spf1") => {}
        _ => return Err("it does not start with v=spf1".into()),
    }
    let cidr = |s: &str, max: u32| s.parse::<u32>().ok().filter(|n| *n <= max).is_some();
    // "domain-spec" with optional "/v4" and "//v6" lengths, as a and mx take them.
    let domain_cidr = |arg: &str| -> bool {
        let (rest, v6) = match arg.split_once("//") {
            Some((r, v6)) => (r, Some(v6)),
            None => (arg, None),
        };
        let (domain, v4) = match rest.rsplit_once('/') {
            Some((d, v4)) => (d, Some(v4)),
            None => (rest, None),
        };
        v4.is_none_or(|n| cidr(n, 32))
            && v6.is_none_or(|n| cidr(n, 128))
            && (domain.is_empty() || domain.starts_with(':') && domain.len() > 1)
    };
    let (mut redirect, mut exp) = (0, 0);
    for term in terms {
        let bad = |why: &str| Err(format!("the term \"{term}\" {why}"));
        if let Some((name, value)) = term.split_once('=')
            && !name.contains(':')
            && !name.contains('/')
        {
            let ok_name = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !ok_name {
                return bad("is not a valid modifier");
            }
            match name.to_ascii_lowercase().as_str() {
                "redirect" => redirect += 1,
                "exp" => exp += 1,
                _ => {}
            }
            if (name.eq_ignore_ascii_case("redirect") || name.eq_ignore_ascii_case("exp")) && value.is_empty() {
                return bad("has no domain");
            }
            continue;
        }
        let body = term.strip_prefix(['+', '-', '~', '?']).unwrap_or(term);
        let (mech, arg) = match body.find([':', '/']) {
            Some(i) => (&body[..i], &body[i..]),
            None => (body, ""),
        };
        let ok = match mech.to_ascii_lowercase().as_str() {
            "all" => arg.is_empty(),
            "include" | "exists" => arg.len() > 1 && arg.starts_with(':') && !arg.contains('/'),
            "ptr" => arg.is_empty() || (arg.len() > 1 && arg.starts_with(':')),
            "a" | "mx" => domain_cidr(arg),
            "ip4" => arg.strip_prefix(':').is_some_and(|a| {
                let (ip, len) = a.split_once('/').map_or((a, None), |(i, l)| (i, Some(l)));
                ip.parse::<std::net::Ipv4Addr>().is_ok() && len.is_none_or(|l| cidr(l, 32))
            }),
            "ip6" => arg.strip_prefix(':').is_some_and(|a| {
                let (ip, len) = a.rsplit_once('/').map_or((a, None), |(i, l)| (i, Some(l)));
                ip.parse::<std::net::Ipv6Addr>().is_ok() && len.is_none_or(|l| cidr(l, 128))
            }),
            _ => return bad("is not an SPF mechanism"),
        };
        if !ok {
            return bad("has a malformed argument");
        }
    }
    if redirect > 1 || exp > 1 {
        return Err("redirect= or exp= appears more than once".into());
    }
    Ok(())
}

/// Parse a DMARC record (RFC 7489 6.3): `v=DMARC1` first, `p` required, the rest defaulted.
pub fn parse_dmarc(record: &str, found_at: &str) -> Result<Dmarc, String> {
    let mut tags = record.split(';').map(str::trim).filter(|t| !t.is_empty()).map(|t| match t.split_once('=') {
        Some((k, v)) => (k.trim().to_ascii_lowercase(), v.trim().to_string()),
        None => (t.to_ascii_lowercase(), String::new()),
    });
    match tags.next() {
        Some((k, v)) if k == "v" && v == "DMARC1" => {}
        _ => return Err("it does not start with v=DMARC1".into()),
    }
    let policy = |v: &str, tag: &str| match v.to_ascii_lowercase().as_str() {
        "none" => Ok(Policy::None),
        "quarantine" => Ok(Policy::Quarantine),
        "reject" => Ok(Policy::Reject),
        o => Err(format!("{tag}={o} is not none, quarantine or reject")),
    };
    let align = |v: &str, tag: &str| match v.to_ascii_lowercase().as_str() {
        "r" => Ok(Alignment::Relaxed),
        "s" => Ok(Alignment::Strict),
        o => Err(format!("{tag}={o} is not r or s")),
    };
    let (mut p, mut sp, mut pct, mut adkim, mut aspf, mut rua) =
        (None, None, 100u8, Alignment::Relaxed, Alignment::Relaxed, Vec::new());
    for (k, v) in tags {
        match k.as_str() {
            "p" => p = Some(policy(&v, "p")?),
            "sp" => sp = Some(policy(&v, "sp")?),
            "pct" => {
                pct = v
                    .parse::<u8>()
                    .ok()
                    .filter(|n| *n <= 100)
                    .ok_or_else(|| format!("pct={v} is not a number from 0 to 100"))?
            }
            "adkim" => adkim = align(&v, "adkim")?,
            "aspf" => aspf = align(&v, "aspf")?,
            "rua" => rua = v.split(',').map(|u| u.trim().to_string()).filter(|u| !u.is_empty()).collect(),
            _ => {}
        }
    }
    // RFC 7489 6.6.3: a record without p but with a valid rua is treated as p=none.
    let p = match p {
        Some(p) => p,
        None if !rua.is_empty() => Policy::None,
        None => return Err("it has no p= tag".into()),
    };
    Ok(Dmarc {
        found_at: found_at.to_string(),
        record: record.to_string(),
        p,
        sp: sp.unwrap_or(p),
        pct,
        adkim,
        aspf,
        rua,
    })
}

/// The version of the `psl` crate, whose patch number counts the releases of the Public
/// Suffix List compiled into it; `doctor --json` shows it. A unit test compares it with
/// Cargo.lock, so an update of the list cannot leave it behind.
pub const PUBLIC_SUFFIX_LIST: &str = "psl 2.1.247";

/// The organisational domain (RFC 7489 §3.2): the public suffix of `domain` (by the Public
/// Suffix List) plus one label, so `mail.bau-firma.co.uk` gives `bau-firma.co.uk` and
/// `amt.gv.at` stays `amt.gv.at`. A domain that is itself a public suffix (or a single
/// label) is its own organisational domain. Expects lowercase ASCII (A-labels).
pub fn org_domain(domain: &str) -> &str {
    let d = domain.trim_end_matches('.');
    psl::domain_str(d).unwrap_or(d)
}

/// DMARC identifier alignment (RFC 7489 3.1).
pub fn aligned(a: &str, b: &str, mode: Alignment) -> bool {
    let (a, b) = (a.trim_end_matches('.').to_ascii_lowercase(), b.trim_end_matches('.').to_ascii_lowercase());
    match mode {
        Alignment::Strict => a == b,
        Alignment::Relaxed => org_domain(&a) == org_domain(&b),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dmarc_records_parse_with_defaults_and_errors() {
        let d = parse_dmarc("v=DMARC1; p=reject; rua=mailto:a@x.de, mailto:b@y.de", "x.de").unwrap();
        assert_eq!(
            (d.p, d.sp, d.pct, d.adkim, d.aspf),
            (Policy::Reject, Policy::Reject, 100, Alignment::Relaxed, Alignment::Relaxed)
        );
        assert_eq!(d.rua, vec!["mailto:a@x.de", "mailto:b@y.de"]);
        let d = parse_dmarc("v=DMARC1;p=quarantine;sp=none;pct=20;adkim=s;aspf=s", "x.de").unwrap();
        assert_eq!(
            (d.p, d.sp, d.pct, d.adkim, d.aspf),
            (Policy::Quarantine, Policy::None, 20, Alignment::Strict, Alignment::Strict)
        );
        assert_eq!(parse_dmarc("v=DMARC1; rua=mailto:a@x.de", "x.de").unwrap().p, Policy::None);
        let cases = [
            ("p=reject; v=DMARC1", "does not start with v=DMARC1"),
            ("v=DMARC1; p=block", "p=block is not none"),
            ("v=DMARC1; p=none; pct=150", "pct=150"),
            ("v=DMARC1; p=none; adkim=x", "adkim=x"),
            ("v=DMARC1", "no p= tag"),
        ];
        for (rec, want) in cases {
            let e = parse_dmarc(rec, "x.de").unwrap_err();
            assert!(e.contains(want), "{rec}: {e}");
        }
    }

    #[test]
    fn spf_syntax_is_checked_term_by_term() {
        let good = [
            "v=spf1 -all",
            "v=spf1 include:_spf.provider.test ip4:192.0.2.0/24 ip6:2001:db8::/32 a mx:mail.x.de/24//64 ~all",
            "v=spf1 a/24 ptr ?exists:%{i}.x.de redirect=_spf.x.de",
            "V=SPF1 +mx -all exp=explain.x.de unknown-mod=foo",
        ];
        for r in good {
            assert_eq!(spf_syntax(r), Ok(()), "{r}");
        }
        let bad = [
            ("v=spf1 ip4:300.1.1.1 -all", "ip4:300.1.1.1"),
            ("v=spf1 foo:bar -all", "is not an SPF mechanism"),
            ("v=spf1 ip4:192.0.2.1/40 -all", "ip4:192.0.2.1/40"),
            ("v=spf1 include: -all", "include:"),
            ("v=spf1 all:x.de", "all:x.de"),
            ("v=spf1 redirect=a.de redirect=b.de", "more than once"),
            ("spf1 -all", "v=spf1"),
        ];
        for (r, want) in bad {
            let e = spf_syntax(r).unwrap_err();
            assert!(e.contains(want), "{r}: {e}");
        }
    }

    #[test]
    fn spf_records_are_picked_by_version_tag() {
        let txt = vec![
            "v=spf1 -all".to_string(),
            "google-site-verification=abc".into(),
            "v=spf10 nope".into(),
            "V=SPF1 include:x ~all".into(),
            "v=spf1".into(),
        ];
        assert_eq!(spf_records(&txt), vec!["v=spf1 -all", "V=SPF1 include:x ~all", "v=spf1"]);
    }

    #[test]
    fn alignment_and_organisational_domain() {
        assert_eq!(org_domain("mail.bau-firma.de"), "bau-firma.de");
        assert_eq!(org_domain("bau-firma.de"), "bau-firma.de");
        assert_eq!(org_domain("de"), "de");
        assert!(aligned("mail.bau-firma.de", "Bau-Firma.de", Alignment::Relaxed));
        assert!(!aligned("mail.bau-firma.de", "bau-firma.de", Alignment::Strict));
        assert!(!aligned("handwerk.org", "bau-firma.de", Alignment::Relaxed));
    }

    /// Multi-label public suffixes: the last two labels would be the suffix itself.
    #[test]
    fn organisational_domain_follows_the_public_suffix_list() {
        let cases = [
            ("mail.bau-firma.co.uk", "bau-firma.co.uk"),
            ("bau-firma.co.uk", "bau-firma.co.uk"),
            ("news.tischlerei.com.au", "tischlerei.com.au"),
            ("post.bmf.gv.at", "bmf.gv.at"),
            ("a.b.kunde.ac.at", "kunde.ac.at"),
            ("mx.firma.co.jp", "firma.co.jp"),
            ("bounces.firma.github.io", "firma.github.io"),
            ("mail.bau-firma.de.", "bau-firma.de"),
            ("mail.bau-firma.test", "bau-firma.test"),
            ("co.uk", "co.uk"),
            ("gv.at", "gv.at"),
        ];
        for (domain, org) in cases {
            assert_eq!(org_domain(domain), org, "{domain}");
        }
        assert!(aligned("mail.bau-firma.co.uk", "bau-firma.co.uk", Alignment::Relaxed));
        assert!(!aligned("bau-firma.co.uk", "mitbewerber.co.uk", Alignment::Relaxed), "co.uk is no organisation");
        assert!(!aligned("a.gv.at", "b.gv.at", Alignment::Relaxed));
    }

    /// The list version `doctor --json` shows is the one Cargo.lock builds.
    #[test]
    fn public_suffix_list_version_matches_cargo_lock() {
        let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock")).unwrap();
        let at = lock.find("name = \"psl\"\nversion = \"").expect("psl in Cargo.lock");
        let version = lock[at..].split('"').nth(3).unwrap();
        assert_eq!(PUBLIC_SUFFIX_LIST, format!("psl {version}"));
    }
}
