//! The records the doctor reads, parsed without I/O: which TXT records are SPF, whether an SPF
//! record's terms are well formed, the tags of a DMARC record, and the organisational domain
//! and alignment DMARC is judged by (with the Public Suffix List compiled in).
//!
//! [`super::facts`] asks DNS and hands the text here; nothing here looks anything up.

use serde::Serialize;

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

/// The `v=spf1` records among a name's TXT records.
pub fn spf_records(txt: &[String]) -> Vec<String> {
    txt.iter()
        .filter(|r| {
            let r = r.trim_start();
            r.get(..6).is_some_and(|h| h.eq_ignore_ascii_case("v=spf1"))
                && r[6..].chars().next().is_none_or(|c| c == ' ')
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a TXT record with a multi-byte character in its first six bytes panicked.
    #[test]
    fn a_txt_record_beyond_ascii_is_not_spf() {
        assert!(spf_records(&["v=spé1 -all".into(), "v=spf1 -all".into()]) == vec!["v=spf1 -all".to_string()]);
    }

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
