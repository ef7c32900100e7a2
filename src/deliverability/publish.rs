//! The DNS records a company domain should publish for the paths its mailboxes send on, and
//! how what DNS had at the doctor's last check compares with them: pure, from the config, the
//! configured DKIM keys and the stored verdicts (their facts as `postbote doctor --json` shows
//! them). The office console shows both, each record marked ok, bad or unknown.
//!
//! - **SPF** for the domain: the direct server's addresses (`ip4:`/`ip6:` as the doctor
//!   resolved them, else `a:HOST`) and, when the relay is configured, an `include:` of the
//!   hosted domain the relay sends as (its SPF authorises the relay, as the vendor's article
//!   says), ending in `-all`. It must let the direct server's addresses pass and carry the
//!   relay's include.
//! - **DKIM**: for every mailbox that signs (`[mailbox.dkim]`), the TXT record exactly as
//!   `postbote dkim record` prints it from the key file; judged by whether the published key
//!   is there and belongs to that key.
//! - **DMARC**: `p=quarantine` (or the stricter policy already published) with `rua=` to the
//!   mailbox that collects the receivers' reports (`doctor.reports_mailbox`, added beside the
//!   addresses already published; without one and without a published `rua=`,
//!   `postmaster@DOMAIN`), relaxed alignment when nothing is published; a published record
//!   keeps its other tags. Judged ok when one is published with a policy that acts and an
//!   `rua=`.
//!
//! A published SPF record keeps its mechanisms (a web shop's, a newsletter service's): the
//! suggestion adds only what is missing before its `all`. SPF is judged from the direct
//! path's facts, or the relay's when there is no direct path.
//!
//! A fact the doctor could not check, or no check yet, is "unknown", never "bad". Nothing here
//! asks DNS or changes it.

use serde_json::Value;

use crate::config::{Config, Transport};
use crate::dkim;
use crate::store::deliverability::StoredVerdict;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Spf,
    Dkim,
    Dmarc,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Spf => "spf",
            Kind::Dkim => "dkim",
            Kind::Dmarc => "dmarc",
        }
    }
}

/// How what DNS has compares with what it should have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Ok,
    Bad,
    Unknown,
}

/// One record to publish and what DNS had at the last check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub kind: Kind,
    /// The owner name, fully qualified with the final dot.
    pub name: String,
    /// The TXT value, unquoted.
    pub value: String,
    /// The zone-file line (quoted, long values split into 255-byte strings).
    pub zone_line: String,
    /// The records DNS had for it at the last check (empty: none, or not known).
    pub seen: Vec<String>,
    /// A stable word for what the last check found (`absent`, `not_authorised`, `mismatch`,
    /// `no_rua`, `could_not_check`, `not_checked`, `key_unreadable`, `ok`, …).
    pub found: String,
    pub mark: Mark,
}

fn zone_line(name: &str, value: &str) -> String {
    let chunks: Vec<String> =
        value.as_bytes().chunks(255).map(|c| format!("\"{}\"", String::from_utf8_lossy(c))).collect();
    format!("{name} IN TXT {}", chunks.join(" "))
}

/// The facts of the stored report of `domain` on `transport`, if the doctor checked it.
fn facts<'a>(stored: &'a [(StoredVerdict, Value)], domain: &str, transport: Option<&str>) -> Option<&'a Value> {
    stored
        .iter()
        .filter(|(v, _)| v.domain == domain && transport.is_none_or(|t| v.transport == t))
        .max_by_key(|(v, _)| (v.configured, v.checked_at))
        .map(|(_, r)| &r["facts"])
}

fn state(v: &Value) -> &str {
    v["state"].as_str().unwrap_or("")
}

/// The records `domain` should publish, each with what DNS had. `stored` are the doctor's last
/// verdicts (of every mailbox) with their parsed report JSON.
pub fn records(config: &Config, domain: &str, stored: &[(StoredVerdict, Value)]) -> Vec<Record> {
    let mut out = Vec::new();
    let mailboxes: Vec<_> = config.mailboxes.iter().filter(|m| m.company_domains().contains(domain)).collect();
    if let Some(r) = spf(config, domain, &mailboxes, stored) {
        out.push(r);
    }
    for m in &mailboxes {
        let Some(d) = m.dkim.as_ref().filter(|d| d.domain == domain) else { continue };
        if out
            .iter()
            .any(|r: &Record| r.kind == Kind::Dkim && r.name.starts_with(&format!("{}._domainkey.", d.selector)))
        {
            continue;
        }
        let name = format!("{}._domainkey.{domain}.", d.selector);
        let (value, zone, readable) = match dkim::public_key_record(&d.key_file) {
            Ok((k, p)) => (format!("v=DKIM1; k={k}; p={p}"), dkim::txt_record(domain, &d.selector, k, &p), true),
            Err(e) => (e.to_string(), String::new(), false),
        };
        let signing = stored
            .iter()
            .filter(|(v, _)| v.account == m.id && v.domain == domain)
            .map(|(_, r)| &r["facts"]["signing"])
            .find(|s| s.is_object());
        let (found, mark) = match signing {
            _ if !readable => ("key_unreadable", Mark::Bad),
            None => ("not_checked", Mark::Unknown),
            Some(s) => match (state(&s["published"]), state(&s["matches"])) {
                ("could_not_check", _) => ("could_not_check", Mark::Unknown),
                ("valid", "matches") => ("ok", Mark::Ok),
                ("valid", "mismatch") => ("mismatch", Mark::Bad),
                ("valid", _) => ("not_compared", Mark::Unknown),
                ("absent", _) => ("absent", Mark::Bad),
                ("revoked", _) => ("revoked", Mark::Bad),
                _ => ("invalid", Mark::Bad),
            },
        };
        out.push(Record {
            kind: Kind::Dkim,
            name,
            value,
            zone_line: zone,
            seen: Vec::new(),
            found: found.into(),
            mark,
        });
    }
    out.push(dmarc(config, domain, stored));
    out
}

fn spf(
    config: &Config,
    domain: &str,
    mailboxes: &[&crate::config::Mailbox],
    stored: &[(StoredVerdict, Value)],
) -> Option<Record> {
    let direct = facts(stored, domain, Some(Transport::Direct.as_str()))
        .or_else(|| facts(stored, domain, Some(Transport::Relay.as_str())));
    let mut terms: Vec<String> = Vec::new();
    if let Some(server) = &config.direct {
        let ips = direct.map(|f| &f["server_ips"]).filter(|s| state(s) == "found").and_then(|s| s["value"].as_array());
        match ips {
            Some(list) if !list.is_empty() => {
                for ip in list.iter().filter_map(Value::as_str) {
                    terms.push(if ip.contains(':') { format!("ip6:{ip}") } else { format!("ip4:{ip}") });
                }
            }
            _ => terms.push(format!("a:{}", server.host)),
        }
    }
    let mut includes: Vec<String> = Vec::new();
    if config.relay.is_some() {
        for m in mailboxes.iter().filter(|m| m.transport == Transport::Relay) {
            if let Some((_, d)) = m.hosted_address.rsplit_once('@') {
                let inc = format!("include:{}", d.to_lowercase());
                if !includes.contains(&inc) {
                    includes.push(inc);
                }
            }
        }
    }
    let direct_terms = terms.len();
    terms.extend(includes.iter().cloned());
    if terms.is_empty() {
        return None;
    }
    let value = match direct.map(|f| &f["spf"]).filter(|s| state(s) == "record") {
        // What is published stays (a web shop's or a newsletter service's mechanisms): only
        // what is missing is added. The direct server's addresses only when they do not pass.
        Some(s) => {
            let results = s["results"].as_array().cloned().unwrap_or_default();
            let passes = !results.is_empty() && results.iter().all(|r| r[1].as_str() == Some("pass"));
            let wanted = if passes { &terms[direct_terms..] } else { &terms[..] };
            merge_spf(s["record"].as_str().unwrap_or(""), wanted)
        }
        None => format!("v=spf1 {} -all", terms.join(" ")),
    };
    let name = format!("{domain}.");
    let (seen, found, mark) = match direct.map(|f| &f["spf"]) {
        None => (Vec::new(), "not_checked", Mark::Unknown),
        Some(s) => match state(s) {
            "record" => {
                let record = s["record"].as_str().unwrap_or("").to_string();
                let results = s["results"].as_array().cloned().unwrap_or_default();
                let passes = !results.is_empty() && results.iter().all(|r| r[1].as_str() == Some("pass"));
                let lower = record.to_lowercase();
                let has_includes =
                    includes.iter().all(|i| lower.split_whitespace().any(|t| t.trim_start_matches('+') == i));
                let (found, mark) = match (passes, has_includes) {
                    (true, true) => ("ok", Mark::Ok),
                    (false, _) => ("not_authorised", Mark::Bad),
                    (true, false) => ("include_missing", Mark::Bad),
                };
                (vec![record], found, mark)
            }
            "none" => (Vec::new(), "absent", Mark::Bad),
            "multiple" => (strings(&s["records"]), "multiple", Mark::Bad),
            "invalid" => (vec![s["record"].as_str().unwrap_or("").to_string()], "invalid", Mark::Bad),
            "too_many_lookups" => (vec![s["record"].as_str().unwrap_or("").to_string()], "too_many_lookups", Mark::Bad),
            _ => (Vec::new(), "could_not_check", Mark::Unknown),
        },
    };
    Some(Record { kind: Kind::Spf, zone_line: zone_line(&name, &value), name, value, seen, found: found.into(), mark })
}

/// `existing` SPF record with the `wanted` terms it lacks, put before its `all` (or its
/// `redirect=`), the rest untouched; `-all` at the end when it had neither.
pub fn merge_spf(existing: &str, wanted: &[String]) -> String {
    let is_all = |t: &str| t.trim_start_matches(['+', '-', '~', '?']).eq_ignore_ascii_case("all");
    let is_redirect = |t: &str| t.get(..9).is_some_and(|h| h.eq_ignore_ascii_case("redirect="));
    let old: Vec<&str> = existing.split_whitespace().skip(1).collect();
    let mut out: Vec<String> = old.iter().filter(|t| !is_all(t) && !is_redirect(t)).map(|t| t.to_string()).collect();
    for w in wanted {
        if !out.iter().any(|t| t.trim_start_matches('+').eq_ignore_ascii_case(w)) {
            out.push(w.clone());
        }
    }
    let tail: Vec<String> = old.iter().filter(|t| is_all(t) || is_redirect(t)).map(|t| t.to_string()).collect();
    if tail.is_empty() {
        out.push("-all".into());
    } else {
        out.extend(tail);
    }
    format!("v=spf1 {}", out.join(" "))
}

/// `existing` DMARC record with a policy that acts and `rua` among its report addresses (when
/// it has none and no `rua` is asked for: `fallback`); every other tag (`ruf`, `sp`, `pct`,
/// `fo`, a strict `adkim`, …) as published.
pub fn merge_dmarc(existing: &str, rua: Option<&str>, fallback: &str) -> String {
    let mut tags: Vec<(String, String)> = existing
        .split(';')
        .filter_map(|t| t.split_once('='))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .filter(|(k, _)| k != "v")
        .collect();
    let policy = tags.iter().find(|(k, _)| k == "p").map(|(_, v)| v.to_ascii_lowercase());
    let p = if policy.as_deref() == Some("reject") { "reject" } else { "quarantine" };
    match tags.iter_mut().find(|(k, _)| k == "p") {
        Some(t) => t.1 = p.into(),
        None => tags.insert(0, ("p".into(), p.into())),
    }
    match (tags.iter_mut().find(|(k, _)| k == "rua"), rua) {
        (Some(t), Some(rua)) => {
            let has = t.1.split(',').any(|a| {
                let a = a.trim();
                a.get(..7).is_some_and(|h| h.eq_ignore_ascii_case("mailto:")) && a[7..].eq_ignore_ascii_case(rua)
            });
            if !has {
                t.1 = format!("{},mailto:{rua}", t.1);
            }
        }
        (Some(_), None) => {}
        (None, rua) => tags.push(("rua".into(), format!("mailto:{}", rua.unwrap_or(fallback)))),
    }
    // p comes first after v (RFC 7489 section 6.3).
    tags.sort_by_key(|(k, _)| k != "p");
    let rest: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("v=DMARC1; {}", rest.join("; "))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

fn dmarc(config: &Config, domain: &str, stored: &[(StoredVerdict, Value)]) -> Record {
    let now = facts(stored, domain, None).map(|f| &f["dmarc"]);
    let published = now.filter(|d| state(d) == "found").and_then(|d| d["record"].as_str());
    // The reports go to the mailbox that reads them; else where they go now; else postmaster.
    let rua = config
        .doctor
        .reports
        .as_ref()
        .and_then(|r| config.mailbox(&r.mailbox))
        .map(|m| m.primary_address().to_string());
    let value = match (published, rua) {
        (Some(p), rua) => merge_dmarc(p, rua.as_deref(), &format!("postmaster@{domain}")),
        (None, rua) => {
            let rua = rua.unwrap_or_else(|| format!("postmaster@{domain}"));
            format!("v=DMARC1; p=quarantine; rua=mailto:{rua}; adkim=r; aspf=r")
        }
    };
    let name = format!("_dmarc.{domain}.");
    let (seen, found, mark) = match now {
        None => (Vec::new(), "not_checked", Mark::Unknown),
        Some(d) => match state(d) {
            "found" => {
                let record = d["record"].as_str().unwrap_or("").to_string();
                let acts = matches!(d["p"].as_str(), Some("quarantine" | "reject"));
                let has_rua = d["rua"].as_array().is_some_and(|a| !a.is_empty());
                let (found, mark) = match (acts, has_rua) {
                    (true, true) => ("ok", Mark::Ok),
                    (false, _) => ("monitor_only", Mark::Bad),
                    (true, false) => ("no_rua", Mark::Bad),
                };
                (vec![record], found, mark)
            }
            "absent" => (Vec::new(), "absent", Mark::Bad),
            "invalid" => (vec![d["record"].as_str().unwrap_or("").to_string()], "invalid", Mark::Bad),
            _ => (Vec::new(), "could_not_check", Mark::Unknown),
        },
    };
    Record { kind: Kind::Dmarc, zone_line: zone_line(&name, &value), name, value, seen, found: found.into(), mark }
}

/// The records as one zone-file snippet.
pub fn zone_snippet(records: &[Record]) -> String {
    records.iter().filter(|r| !r.zone_line.is_empty()).map(|r| format!("{}\n", r.zone_line)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn verdict(transport: &str, facts: Value) -> (StoredVerdict, Value) {
        let v = StoredVerdict {
            account: "becker".into(),
            domain: "bau-firma.test".into(),
            transport: transport.into(),
            configured: true,
            level: "ok".into(),
            definite_level: None,
            reason_de: String::new(),
            reason_en: String::new(),
            fix_de: None,
            fix_en: None,
            report: String::new(),
            checked_at: 1,
        };
        (v, json!({ "facts": facts }))
    }

    #[test]
    fn a_published_spf_record_keeps_its_mechanisms_and_gains_what_is_missing() {
        let want = ["ip4:192.0.2.7".to_string(), "include:h.test".to_string()];
        assert_eq!(
            merge_spf("v=spf1 include:shop.example mx ~all", &want),
            "v=spf1 include:shop.example mx ip4:192.0.2.7 include:h.test ~all"
        );
        assert_eq!(merge_spf("v=spf1 +include:H.test -all", &want), "v=spf1 +include:H.test ip4:192.0.2.7 -all");
        assert_eq!(
            merge_spf("v=spf1 redirect=_spf.example", &want[1..]),
            "v=spf1 include:h.test redirect=_spf.example"
        );
        assert_eq!(merge_spf("v=spf1", &want[1..]), "v=spf1 include:h.test -all");
    }

    #[test]
    fn a_published_dmarc_record_keeps_its_tags_and_report_addresses() {
        assert_eq!(
            merge_dmarc("v=DMARC1; p=reject; rua=MAILTO:a@x.test; fo=1", Some("dmarc@bau-firma.test"), "pm@b.test"),
            "v=DMARC1; p=reject; rua=MAILTO:a@x.test,mailto:dmarc@bau-firma.test; fo=1"
        );
        assert_eq!(
            merge_dmarc("v=DMARC1; p=none; rua=mailto:dmarc@BAU-firma.test", Some("dmarc@bau-firma.test"), "pm@b.test"),
            "v=DMARC1; p=quarantine; rua=mailto:dmarc@BAU-firma.test"
        );
        assert_eq!(
            merge_dmarc("v=DMARC1; rua=mailto:a@x.test", None, "pm@b.test"),
            "v=DMARC1; p=quarantine; rua=mailto:a@x.test"
        );
    }

    #[test]
    fn records_say_what_to_publish_and_mark_what_dns_had() {
        let dir = tempfile::tempdir().unwrap();
        let app = crate::app::for_test(dir.path(), false);
        // The relay only: SPF is the relay's include; nothing checked yet is unknown, never bad.
        let r = records(&app.config, "bau-firma.test", &[]);
        assert_eq!(r.len(), 2, "{r:?}");
        assert_eq!((r[0].kind, r[0].value.as_str()), (Kind::Spf, "v=spf1 include:h.test -all"));
        assert_eq!(r[0].zone_line, "bau-firma.test. IN TXT \"v=spf1 include:h.test -all\"");
        assert_eq!(r[1].value, "v=DMARC1; p=quarantine; rua=mailto:postmaster@bau-firma.test; adkim=r; aspf=r");
        assert!(r.iter().all(|x| x.mark == Mark::Unknown && x.found == "not_checked"));
        // A DMARC record that only watches, and one DNS could not be asked for.
        let watched = verdict(
            "relay",
            json!({ "dmarc": { "state": "found", "record": "v=DMARC1; p=none", "p": "none", "rua": [] } }),
        );
        let r = records(&app.config, "bau-firma.test", &[watched]);
        assert_eq!(
            (r[1].mark, r[1].found.as_str(), r[1].seen.clone()),
            (Mark::Bad, "monitor_only", vec!["v=DMARC1; p=none".to_string()])
        );
        let failed = verdict("relay", json!({ "dmarc": { "state": "could_not_check", "error": "timeout" } }));
        assert_eq!(records(&app.config, "bau-firma.test", &[failed])[1].mark, Mark::Unknown);
        // A published DMARC record keeps its tags; rua= gets postmaster only when it has none.
        let strict = verdict(
            "relay",
            json!({ "dmarc": { "state": "found", "record": "v=DMARC1; p=none; sp=reject; adkim=s; ruf=mailto:f@x.test; pct=50", "p": "none", "rua": [] } }),
        );
        assert_eq!(
            records(&app.config, "bau-firma.test", &[strict])[1].value,
            "v=DMARC1; p=quarantine; sp=reject; adkim=s; ruf=mailto:f@x.test; pct=50; rua=mailto:postmaster@bau-firma.test"
        );
        let snippet = zone_snippet(&r);
        assert_eq!(snippet.lines().count(), 2);
        assert!(snippet.contains("_dmarc.bau-firma.test. IN TXT \"v=DMARC1; p=quarantine;"), "{snippet}");
    }
}
