//! The rules of the verdict: small pure functions from [`Facts`] to typed findings, a [`Level`]
//! with a [`Code`] that carries the details its sentences need.
//!
//! The rules run in a fixed order, and that order is the order of findings of equal level:
//! 1. anything essential that DNS did not answer makes the whole verdict "could not check";
//! 2. the outgoing server must have an address;
//! 3. SPF of the envelope domain (on the direct path the company's, on the relay path the host's);
//! 4. postbote's own DKIM signature, when the mailbox has a key;
//! 5. the DMARC record itself, and its hints (reports, pct);
//! 6. the outcome: does this path pass DMARC for the company domain?
//!
//! This module holds no words: [`super::catalog`] says each code in German and English.

use std::net::IpAddr;

use super::Level;
use crate::config::Transport;
use crate::deliverability::dns::Dns;
use crate::deliverability::facts::*;

/// What a rule found. Each variant is one stable code (`spf_missing`, ...) with the details its
/// reason and fix name; [`super::catalog::words`] turns it into sentences.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    DnsUnavailable {
        domain: String,
        detail: String,
    },
    ServerUnknown {
        server: String,
    },
    SpfMissing {
        domain: String,
        spf_terms: String,
    },
    SpfMultiple {
        domain: String,
        records: usize,
    },
    SpfInvalid {
        domain: String,
        record: String,
        problem: String,
    },
    SpfTooManyLookups {
        domain: String,
        lookups: u32,
    },
    SpfNotAuthorised {
        domain: String,
        server: String,
        ips: String,
        result: String,
        spf_terms: String,
    },
    SpfPlusAll {
        domain: String,
    },
    SpfNeutralAll {
        domain: String,
    },
    RelaySpfNotAuthorised {
        envelope_domain: String,
        server: String,
    },
    DkimKeyMissing {
        at: String,
    },
    DkimKeyInvalid {
        at: String,
        error: String,
    },
    DkimKeyRevoked {
        at: String,
    },
    DkimKeyFileUnusable {
        error: String,
    },
    DkimKeyMismatch {
        at: String,
    },
    DkimUnaligned {
        domain: String,
        signs_as: String,
    },
    DmarcInvalid {
        domain: String,
        problem: String,
    },
    DmarcMissing {
        domain: String,
    },
    DmarcMonitorOnly {
        domain: String,
    },
    DmarcNoReports {
        domain: String,
        found_at: String,
    },
    DmarcPartial {
        domain: String,
        pct: u8,
    },
    /// The relay path fails DMARC; `own_signature` says postbote signs (and the signature fails).
    RelayUnaligned {
        domain: String,
        server: String,
        envelope_sender: String,
        policy: Option<Policy>,
        strict: bool,
        own_signature: bool,
    },
    DirectUnaligned {
        domain: String,
        server: String,
        policy: Option<Policy>,
        strict: bool,
    },
    DmarcPasses {
        domain: String,
        server: String,
        by: PassedBy,
        relay: bool,
    },
    DkimNotFound {
        domain: String,
    },
}

/// What carries the mail through DMARC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassedBy {
    /// SPF passes for the envelope domain, aligned with From.
    Spf,
    /// postbote's own signature, by its selector record (`s._domainkey.d`).
    OwnSignature { at: String },
    /// The provider publishes keys under these common selectors.
    ProviderKeys { selectors: String },
}

impl Code {
    /// The stable name for tests, scripts and the stored report.
    pub fn as_str(&self) -> &'static str {
        match self {
            Code::DnsUnavailable { .. } => "dns_unavailable",
            Code::ServerUnknown { .. } => "server_unknown",
            Code::SpfMissing { .. } => "spf_missing",
            Code::SpfMultiple { .. } => "spf_multiple",
            Code::SpfInvalid { .. } => "spf_invalid",
            Code::SpfTooManyLookups { .. } => "spf_too_many_lookups",
            Code::SpfNotAuthorised { .. } => "spf_not_authorised",
            Code::SpfPlusAll { .. } => "spf_plus_all",
            Code::SpfNeutralAll { .. } => "spf_neutral_all",
            Code::RelaySpfNotAuthorised { .. } => "relay_spf_not_authorised",
            Code::DkimKeyMissing { .. } => "dkim_key_missing",
            Code::DkimKeyInvalid { .. } => "dkim_key_invalid",
            Code::DkimKeyRevoked { .. } => "dkim_key_revoked",
            Code::DkimKeyFileUnusable { .. } => "dkim_key_file_unusable",
            Code::DkimKeyMismatch { .. } => "dkim_key_mismatch",
            Code::DkimUnaligned { .. } => "dkim_unaligned",
            Code::DmarcInvalid { .. } => "dmarc_invalid",
            Code::DmarcMissing { .. } => "dmarc_missing",
            Code::DmarcMonitorOnly { .. } => "dmarc_monitor_only",
            Code::DmarcNoReports { .. } => "dmarc_no_reports",
            Code::DmarcPartial { .. } => "dmarc_partial",
            Code::RelayUnaligned { .. } => "relay_unaligned",
            Code::DirectUnaligned { .. } => "direct_unaligned",
            Code::DmarcPasses { .. } => "dmarc_passes",
            Code::DkimNotFound { .. } => "dkim_not_found",
        }
    }
}

/// A finding before it is worded.
pub type Found = (Level, Code);

/// What DMARC asks of this path, and whether aligned SPF or DKIM carries the mail.
struct Outlook {
    policy: Option<Policy>,
    /// quarantine or reject, applied to some mail (pct > 0).
    strict: bool,
    adkim: Alignment,
    spf_aligned: bool,
    /// postbote signs with a published, matching key aligned with From.
    signing_ok: bool,
    dkim_aligned: bool,
    dmarc_pass: bool,
}

/// Every finding for one path, in rule order (not yet sorted by level).
pub fn findings(f: &Facts) -> Vec<Found> {
    if let Some(unknown) = dns_unavailable(f) {
        return vec![unknown];
    }
    let mut out = Vec::new();
    let ips = match &f.server_ips {
        Dns::Found(ips) => ips.clone(),
        _ => {
            out.push((Level::WillFail, Code::ServerUnknown { server: f.server.clone() }));
            Vec::new()
        }
    };
    let o = outlook(f);
    out.extend(spf(f, &o, &ips));
    out.extend(signing(f, &o));
    dmarc_record(f, &o, &mut out);
    outcome(f, &o, &mut out);
    out
}

/// Rule 1: every essential lookup DNS did not answer; `None` when all were answered.
fn dns_unavailable(f: &Facts) -> Option<Found> {
    let mut unknown = Vec::new();
    if let Dns::Failed(e) = &f.server_ips {
        unknown.push(e.clone());
    }
    if let Spf::CouldNotCheck { error } = &f.spf {
        unknown.push(error.clone());
    }
    if let Spf::Record { results, .. } = &f.spf
        && results.iter().any(|(_, r)| *r == SpfEval::TempError)
    {
        unknown.push(format!("SPF of {}: a DNS lookup during the evaluation failed (temperror)", f.envelope_domain));
    }
    if let DmarcState::CouldNotCheck { error } = &f.dmarc {
        unknown.push(error.clone());
    }
    if let Some(Signing { published: KeyRecord::CouldNotCheck { error }, .. }) = &f.signing {
        unknown.push(error.clone());
    }
    let code = Code::DnsUnavailable { domain: f.from_domain.clone(), detail: unknown.join("; ") };
    (!unknown.is_empty()).then_some((Level::CouldNotCheck, code))
}

fn outlook(f: &Facts) -> Outlook {
    let d = &f.from_domain;
    let dmarc = match &f.dmarc {
        DmarcState::Found(m) => Some(m),
        _ => None,
    };
    let policy = dmarc.map(|m| if m.found_at.eq_ignore_ascii_case(d) { m.p } else { m.sp });
    let pct = dmarc.map(|m| m.pct).unwrap_or(100);
    let strict = matches!(policy, Some(Policy::Reject | Policy::Quarantine)) && pct > 0;
    let aspf = dmarc.map(|m| m.aspf).unwrap_or(Alignment::Relaxed);
    let adkim = dmarc.map(|m| m.adkim).unwrap_or(Alignment::Relaxed);
    let spf_aligned = f.spf.passes() && aligned(&f.envelope_domain, d, aspf);
    let signing_ok = f.signing.as_ref().is_some_and(|s| {
        matches!(s.published, KeyRecord::Valid { .. }) && s.matches == KeyMatch::Matches && aligned(&s.domain, d, adkim)
    });
    // On the direct path the provider signs; a key under a common selector is the sign of it.
    let provider_dkim = f.transport == Transport::Direct && !f.dkim_selectors_found.is_empty();
    let dkim_aligned = signing_ok || provider_dkim;
    Outlook { policy, strict, adkim, spf_aligned, signing_ok, dkim_aligned, dmarc_pass: spf_aligned || dkim_aligned }
}

/// The SPF terms that would authorise these addresses (`ip4:… ip6:…`).
fn spf_terms<'a>(ips: impl Iterator<Item = &'a IpAddr>) -> String {
    ips.map(|i| if i.is_ipv4() { format!("ip4:{i}") } else { format!("ip6:{i}") }).collect::<Vec<_>>().join(" ")
}

/// Rule 3: SPF of the envelope domain.
fn spf(f: &Facts, o: &Outlook, ips: &[IpAddr]) -> Option<Found> {
    let domain = f.from_domain.clone();
    if f.transport == Transport::Relay {
        let code = Code::RelaySpfNotAuthorised { envelope_domain: f.envelope_domain.clone(), server: f.server.clone() };
        return (!f.spf.passes()).then_some((Level::AtRisk, code));
    }
    // A broken SPF is fatal unless DKIM carries the mail.
    let broken = if o.dkim_aligned { Level::AtRisk } else { Level::WillFail };
    Some(match &f.spf {
        Spf::None => (Level::AtRisk, Code::SpfMissing { domain, spf_terms: spf_terms(ips.iter()) }),
        Spf::Multiple { records } => (broken, Code::SpfMultiple { domain, records: records.len() }),
        Spf::Invalid { record, problem } => {
            (broken, Code::SpfInvalid { domain, record: record.clone(), problem: problem.clone() })
        }
        Spf::TooManyLookups { lookups, .. } => (broken, Code::SpfTooManyLookups { domain, lookups: *lookups }),
        Spf::Record { results, all, .. } => return spf_record(f, broken, results, *all),
        Spf::CouldNotCheck { .. } => return None,
    })
}

/// Rule 3 for a usable SPF record: the server's addresses that do not pass, or else the `all`.
fn spf_record(f: &Facts, broken: Level, results: &[(IpAddr, SpfEval)], all: Option<AllQualifier>) -> Option<Found> {
    let domain = f.from_domain.clone();
    let failing: Vec<_> = results.iter().filter(|(_, r)| *r != SpfEval::Pass).collect();
    let worst = failing.iter().map(|(_, r)| *r).max_by_key(|r| matches!(r, SpfEval::Fail | SpfEval::PermError));
    let Some(worst) = worst else {
        return match all {
            Some(AllQualifier::Pass) => Some((Level::AtRisk, Code::SpfPlusAll { domain })),
            Some(AllQualifier::Neutral) | None => Some((Level::Ok, Code::SpfNeutralAll { domain })),
            _ => None,
        };
    };
    let level = match worst {
        SpfEval::Fail | SpfEval::PermError => broken,
        _ => Level::AtRisk,
    };
    let result = serde_json::to_value(worst).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
    // Name only the addresses that do not pass (a server may pass on IPv4 and not on IPv6).
    let code = Code::SpfNotAuthorised {
        domain,
        server: f.server.clone(),
        ips: failing.iter().map(|(i, _)| i.to_string()).collect::<Vec<_>>().join(", "),
        result,
        spf_terms: spf_terms(failing.iter().map(|(i, _)| i)),
    };
    Some((level, code))
}

/// Rule 4: postbote's own DKIM signature.
fn signing(f: &Facts, o: &Outlook) -> Option<Found> {
    let s = f.signing.as_ref()?;
    let at = format!("{}._domainkey.{}", s.selector, s.domain);
    let code = match (&s.published, &s.matches) {
        (KeyRecord::Absent, _) => Code::DkimKeyMissing { at },
        (KeyRecord::Invalid { error }, _) => Code::DkimKeyInvalid { at, error: error.clone() },
        (KeyRecord::Revoked, _) => Code::DkimKeyRevoked { at },
        (_, KeyMatch::Unreadable { error }) => Code::DkimKeyFileUnusable { error: error.clone() },
        (KeyRecord::Valid { .. }, KeyMatch::Mismatch) => Code::DkimKeyMismatch { at },
        _ if !aligned(&s.domain, &f.from_domain, o.adkim) => {
            Code::DkimUnaligned { domain: f.from_domain.clone(), signs_as: s.domain.clone() }
        }
        _ => return None,
    };
    // When the signature was the only way through a strict policy, this is the cause.
    let level = if o.strict && !o.dmarc_pass { Level::WillFail } else { Level::AtRisk };
    Some((level, code))
}

/// Rule 5: the DMARC record itself, then its hints, which never change the level.
fn dmarc_record(f: &Facts, o: &Outlook, out: &mut Vec<Found>) {
    let domain = f.from_domain.clone();
    match &f.dmarc {
        DmarcState::Invalid { problem, .. } => {
            out.push((Level::AtRisk, Code::DmarcInvalid { domain, problem: problem.clone() }))
        }
        DmarcState::Absent => out.push((Level::Ok, Code::DmarcMissing { domain })),
        DmarcState::Found(m) => {
            if o.dmarc_pass && m.p == Policy::None {
                out.push((Level::Ok, Code::DmarcMonitorOnly { domain: domain.clone() }));
            }
            if m.rua.is_empty() {
                out.push((Level::Ok, Code::DmarcNoReports { domain: domain.clone(), found_at: m.found_at.clone() }));
            }
            if m.pct < 100 && m.p != Policy::None {
                out.push((Level::Ok, Code::DmarcPartial { domain, pct: m.pct }));
            }
        }
        DmarcState::CouldNotCheck { .. } => {}
    }
}

/// Rule 6: the outcome. A pass goes first among the ok findings: when all is well, it is the reason.
fn outcome(f: &Facts, o: &Outlook, out: &mut Vec<Found>) {
    let (domain, server) = (f.from_domain.clone(), f.server.clone());
    if !o.dmarc_pass {
        let level = if o.strict { Level::WillFail } else { Level::AtRisk };
        let code = match f.transport {
            Transport::Relay => Code::RelayUnaligned {
                domain,
                server,
                envelope_sender: f.envelope_sender.clone(),
                policy: o.policy,
                strict: o.strict,
                own_signature: f.signing.is_some(),
            },
            Transport::Direct => Code::DirectUnaligned { domain, server, policy: o.policy, strict: o.strict },
        };
        out.push((level, code));
        return;
    }
    let by = if o.spf_aligned {
        PassedBy::Spf
    } else if o.signing_ok {
        let at = f.signing.as_ref().map(|s| format!("{}._domainkey.{}", s.selector, s.domain)).unwrap_or_default();
        PassedBy::OwnSignature { at }
    } else {
        PassedBy::ProviderKeys { selectors: f.dkim_selectors_found.join(", ") }
    };
    let relay = f.transport == Transport::Relay;
    out.insert(0, (Level::Ok, Code::DmarcPasses { domain: domain.clone(), server, by, relay }));
    if f.transport == Transport::Direct && !o.dkim_aligned && f.dkim_search_failed.is_none() {
        out.push((Level::Ok, Code::DkimNotFound { domain }));
    }
}
