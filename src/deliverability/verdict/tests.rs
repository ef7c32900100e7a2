//! The verdict's table tests and its golden file of texts.

use super::*;
use crate::config::Transport;
use crate::deliverability::dns::Dns;
use crate::deliverability::facts::*;
use std::net::IpAddr;

const DIRECT_IP: &str = "192.0.2.2";

fn dmarc(p: Policy) -> DmarcState {
    DmarcState::Found(Dmarc {
        found_at: "bau-firma.de".into(),
        record: String::new(),
        p,
        sp: p,
        pct: 100,
        adkim: Alignment::Relaxed,
        aspf: Alignment::Relaxed,
        rua: vec![],
    })
}

fn spf_with(r: SpfEval, all: AllQualifier) -> Spf {
    Spf::Record {
        record: "v=spf1 ...".into(),
        all: Some(all),
        redirect: false,
        lookups: Some(1),
        results: vec![(DIRECT_IP.parse::<IpAddr>().unwrap(), r)],
    }
}

/// Direct path, SPF passing with -all, DMARC reject, provider DKIM found: all is well.
fn direct_ok() -> Facts {
    Facts {
        mailbox: "becker".into(),
        transport: Transport::Direct,
        from_domain: "bau-firma.de".into(),
        server: "smtp.provider.de".into(),
        server_ips: Dns::Found(vec![DIRECT_IP.parse().unwrap()]),
        envelope_sender: "becker@bau-firma.de".into(),
        envelope_domain: "bau-firma.de".into(),
        spf: spf_with(SpfEval::Pass, AllQualifier::Fail),
        dkim_selectors_found: vec!["default".into()],
        dkim_search_failed: None,
        signing: None,
        dmarc: dmarc(Policy::Reject),
    }
}

fn relay(mut f: Facts) -> Facts {
    f.transport = Transport::Relay;
    f.server = "smtp.handwerk.org".into();
    f.envelope_sender = "becker.bau-firma@handwerk.org".into();
    f.envelope_domain = "handwerk.org".into();
    f
}

fn signing(published: KeyRecord, matches: KeyMatch) -> Option<Signing> {
    Some(Signing { selector: "postbote".into(), domain: "bau-firma.de".into(), published, matches })
}

type Case = (&'static str, fn() -> Facts, Level, &'static str);

/// Each case: its name, its facts, the expected level and the code of the first finding.
fn cases() -> Vec<Case> {
    vec![
        ("direct, SPF pass, DKIM found, p=reject", direct_ok, Level::Ok, "dmarc_passes"),
        (
            "direct, no SPF, no DKIM, no DMARC",
            || Facts { spf: Spf::None, dkim_selectors_found: vec![], dmarc: DmarcState::Absent, ..direct_ok() },
            Level::AtRisk,
            "spf_missing",
        ),
        (
            "direct, two SPF records, p=quarantine",
            || Facts {
                spf: Spf::Multiple { records: vec!["a".into(), "b".into()] },
                dkim_selectors_found: vec![],
                dmarc: dmarc(Policy::Quarantine),
                ..direct_ok()
            },
            Level::WillFail,
            "spf_multiple",
        ),
        (
            "direct, two SPF records but DKIM carries it",
            || Facts { spf: Spf::Multiple { records: vec!["a".into(), "b".into()] }, ..direct_ok() },
            Level::AtRisk,
            "spf_multiple",
        ),
        (
            "direct, SPF -all without the server, p=none",
            || Facts {
                spf: spf_with(SpfEval::Fail, AllQualifier::Fail),
                dkim_selectors_found: vec![],
                dmarc: dmarc(Policy::None),
                ..direct_ok()
            },
            Level::WillFail,
            "spf_not_authorised",
        ),
        (
            "direct, SPF ~all without the server, p=none",
            || Facts {
                spf: spf_with(SpfEval::SoftFail, AllQualifier::SoftFail),
                dkim_selectors_found: vec![],
                dmarc: dmarc(Policy::None),
                ..direct_ok()
            },
            Level::AtRisk,
            "spf_not_authorised",
        ),
        (
            "direct, SPF ~all without the server, p=reject, no DKIM",
            || Facts {
                spf: spf_with(SpfEval::SoftFail, AllQualifier::SoftFail),
                dkim_selectors_found: vec![],
                ..direct_ok()
            },
            Level::WillFail,
            "direct_unaligned",
        ),
        (
            "direct, SPF syntax error",
            || Facts {
                spf: Spf::Invalid { record: "v=spf1 ip4:300.1.1.1 -all".into(), problem: "bad".into() },
                dkim_selectors_found: vec![],
                dmarc: dmarc(Policy::None),
                ..direct_ok()
            },
            Level::WillFail,
            "spf_invalid",
        ),
        (
            "direct, too many SPF lookups",
            || Facts {
                spf: Spf::TooManyLookups { record: String::new(), lookups: 11 },
                dkim_selectors_found: vec![],
                dmarc: dmarc(Policy::None),
                ..direct_ok()
            },
            Level::WillFail,
            "spf_too_many_lookups",
        ),
        (
            "direct, +all",
            || Facts { spf: spf_with(SpfEval::Pass, AllQualifier::Pass), ..direct_ok() },
            Level::AtRisk,
            "spf_plus_all",
        ),
        (
            "direct, SPF ok, p=none",
            || Facts { dmarc: dmarc(Policy::None), dkim_selectors_found: vec![], ..direct_ok() },
            Level::Ok,
            "dmarc_passes",
        ),
        (
            "direct, SPF ok, DMARC invalid",
            || Facts { dmarc: DmarcState::Invalid { record: "x".into(), problem: "no p".into() }, ..direct_ok() },
            Level::AtRisk,
            "dmarc_invalid",
        ),
        ("relay, p=reject, no signing", || relay(direct_ok()), Level::WillFail, "relay_unaligned"),
        (
            "relay, p=quarantine, no signing",
            || Facts { dmarc: dmarc(Policy::Quarantine), ..relay(direct_ok()) },
            Level::WillFail,
            "relay_unaligned",
        ),
        (
            "relay, p=reject pct=0",
            || {
                let mut f = relay(direct_ok());
                if let DmarcState::Found(m) = &mut f.dmarc {
                    m.pct = 0;
                }
                f
            },
            Level::AtRisk,
            "relay_unaligned",
        ),
        (
            "relay, p=none",
            || Facts { dmarc: dmarc(Policy::None), ..relay(direct_ok()) },
            Level::AtRisk,
            "relay_unaligned",
        ),
        (
            "relay, no DMARC",
            || Facts { dmarc: DmarcState::Absent, ..relay(direct_ok()) },
            Level::AtRisk,
            "relay_unaligned",
        ),
        (
            "relay, p=reject, postbote signs with the published key",
            || Facts {
                signing: signing(KeyRecord::Valid { bits: Some(2048) }, KeyMatch::Matches),
                ..relay(direct_ok())
            },
            Level::Ok,
            "dmarc_passes",
        ),
        (
            "relay, p=reject, key missing",
            || Facts { signing: signing(KeyRecord::Absent, KeyMatch::NotChecked), ..relay(direct_ok()) },
            Level::WillFail,
            "dkim_key_missing",
        ),
        (
            "relay, p=reject, key mismatch",
            || Facts {
                signing: signing(KeyRecord::Valid { bits: Some(2048) }, KeyMatch::Mismatch),
                ..relay(direct_ok())
            },
            Level::WillFail,
            "dkim_key_mismatch",
        ),
        (
            "relay, p=none, key mismatch",
            || Facts {
                dmarc: dmarc(Policy::None),
                signing: signing(KeyRecord::Valid { bits: Some(2048) }, KeyMatch::Mismatch),
                ..relay(direct_ok())
            },
            Level::AtRisk,
            "dkim_key_mismatch",
        ),
        (
            "relay, signing as another domain",
            || Facts {
                signing: Some(Signing {
                    selector: "s".into(),
                    domain: "other.de".into(),
                    published: KeyRecord::Valid { bits: None },
                    matches: KeyMatch::Matches,
                }),
                ..relay(direct_ok())
            },
            Level::WillFail,
            "dkim_unaligned",
        ),
        (
            "DNS timeout on SPF",
            || Facts { spf: Spf::CouldNotCheck { error: "timeout".into() }, ..direct_ok() },
            Level::CouldNotCheck,
            "dns_unavailable",
        ),
        (
            "SERVFAIL on DMARC",
            || Facts { dmarc: DmarcState::CouldNotCheck { error: "SERVFAIL".into() }, ..direct_ok() },
            Level::CouldNotCheck,
            "dns_unavailable",
        ),
        (
            "server address lookup failed",
            || Facts { server_ips: Dns::Failed("timeout".into()), ..direct_ok() },
            Level::CouldNotCheck,
            "dns_unavailable",
        ),
        (
            "temperror during SPF evaluation",
            || Facts { spf: spf_with(SpfEval::TempError, AllQualifier::Fail), ..direct_ok() },
            Level::CouldNotCheck,
            "dns_unavailable",
        ),
        (
            "signing key lookup failed",
            || Facts {
                signing: signing(KeyRecord::CouldNotCheck { error: "timeout".into() }, KeyMatch::NotChecked),
                ..relay(direct_ok())
            },
            Level::CouldNotCheck,
            "dns_unavailable",
        ),
        (
            "server has no address",
            || Facts {
                server_ips: Dns::Absent,
                spf: Spf::Record {
                    record: String::new(),
                    all: None,
                    redirect: false,
                    lookups: Some(0),
                    results: vec![],
                },
                dkim_selectors_found: vec![],
                ..direct_ok()
            },
            Level::WillFail,
            "server_unknown",
        ),
    ]
}

/// A named case without expectations: the golden file holds its outcome.
type Extra = (&'static str, fn() -> Facts);

/// More facts, for the rules and wordings the table above does not reach first.
fn more_cases() -> Vec<Extra> {
    vec![
        ("direct, DKIM key record invalid", || Facts {
            signing: signing(KeyRecord::Invalid { error: "no p= tag".into() }, KeyMatch::NotChecked),
            ..direct_ok()
        }),
        ("relay, DKIM key revoked, p=none", || Facts {
            dmarc: dmarc(Policy::None),
            signing: signing(KeyRecord::Revoked, KeyMatch::NotChecked),
            ..relay(direct_ok())
        }),
        ("relay, DKIM key file unusable", || Facts {
            signing: signing(
                KeyRecord::Valid { bits: Some(2048) },
                KeyMatch::Unreadable { error: "no such file".into() },
            ),
            ..relay(direct_ok())
        }),
        ("direct, ?all", || Facts { spf: spf_with(SpfEval::Pass, AllQualifier::Neutral), ..direct_ok() }),
        ("relay, hosted SPF fails, own signature carries it", || Facts {
            spf: spf_with(SpfEval::Fail, AllQualifier::Fail),
            signing: signing(KeyRecord::Valid { bits: Some(2048) }, KeyMatch::Matches),
            ..relay(direct_ok())
        }),
        ("direct, p=quarantine pct=50 with reports", || {
            let mut f = Facts { dmarc: dmarc(Policy::Quarantine), ..direct_ok() };
            if let DmarcState::Found(m) = &mut f.dmarc {
                m.pct = 50;
                m.rua = vec!["mailto:dmarc@bau-firma.de".into()];
            }
            f
        }),
        ("direct, SPF fails, no DKIM, no DMARC", || Facts {
            spf: spf_with(SpfEval::Fail, AllQualifier::Fail),
            dkim_selectors_found: vec![],
            dmarc: DmarcState::Absent,
            ..direct_ok()
        }),
        ("direct, SPF passes, no DKIM found, p=reject", || Facts { dkim_selectors_found: vec![], ..direct_ok() }),
        ("direct, DKIM search failed", || Facts {
            dkim_selectors_found: vec![],
            dkim_search_failed: Some("timeout".into()),
            ..direct_ok()
        }),
        ("direct, own signature passes, SPF missing", || Facts {
            spf: Spf::None,
            dkim_selectors_found: vec![],
            signing: signing(KeyRecord::Valid { bits: Some(2048) }, KeyMatch::Matches),
            ..direct_ok()
        }),
        ("relay, p=none, signature as another domain", || Facts {
            dmarc: dmarc(Policy::None),
            signing: Some(Signing {
                selector: "s".into(),
                domain: "other.de".into(),
                published: KeyRecord::Valid { bits: None },
                matches: KeyMatch::Matches,
            }),
            ..relay(direct_ok())
        }),
    ]
}

/// Every finding of every case, in both languages, against the golden file: a change of
/// wording or of a rule shows here. `POSTBOTE_BLESS=1` rewrites the file after a deliberate change.
#[test]
fn verdict_texts_match_the_golden_file() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/deliverability/verdicts.golden");
    let all = cases().into_iter().map(|(n, f, _, _)| (n, f)).chain(more_cases());
    let mut text = String::new();
    for (name, facts) in all {
        let v = judge(&facts());
        text.push_str(&format!("## {name}\n{}\n\n", serde_json::to_string_pretty(&v).unwrap()));
    }
    if std::env::var_os("POSTBOTE_BLESS").is_some() {
        std::fs::write(path, &text).unwrap();
    }
    let golden = std::fs::read_to_string(path).unwrap();
    assert!(golden == text, "verdict texts differ from {path}; diff it against POSTBOTE_BLESS=1 output");
}

#[test]
fn verdicts_follow_the_facts() {
    for (name, facts, level, code) in cases() {
        let v = judge(&facts());
        assert_eq!(v.level, level, "{name}: {v:#?}");
        assert_eq!(v.findings[0].code, code, "{name}: {v:#?}");
        assert!(!v.reason().de.is_empty() && !v.reason().en.is_empty(), "{name}");
    }
}

#[test]
fn the_relay_reason_says_what_the_article_says() {
    let v = judge(&relay(direct_ok()));
    let en = &v.reason().en;
    assert!(en.contains("DKIM for bau-firma.de cannot be had on this path"), "{en}");
    assert!(en.contains("SPF does not align"), "{en}");
    assert!(en.contains("strict receivers will reject"), "{en}");
    assert!(v.fix().unwrap().en.contains("Use the direct path"), "{:?}", v.fix());
    assert!(v.reason().de.contains("strenge Empfänger weisen die Mail ab"), "{}", v.reason().de);
}

#[test]
fn the_spf_fix_names_the_servers_address() {
    let v = judge(&Facts {
        spf: spf_with(SpfEval::Fail, AllQualifier::Fail),
        dkim_selectors_found: vec![],
        dmarc: dmarc(Policy::None),
        ..direct_ok()
    });
    assert!(v.fix().unwrap().en.contains("ip4:192.0.2.2"), "{:?}", v.fix());
}

#[test]
fn only_the_addresses_that_fail_are_named() {
    let mut f = Facts { dkim_selectors_found: vec![], dmarc: dmarc(Policy::None), ..direct_ok() };
    f.spf = Spf::Record {
        record: "v=spf1 ip4:192.0.2.2 ~all".into(),
        all: Some(AllQualifier::SoftFail),
        redirect: false,
        lookups: Some(0),
        results: vec![
            ("192.0.2.2".parse().unwrap(), SpfEval::Pass),
            ("2001:db8::2".parse().unwrap(), SpfEval::SoftFail),
        ],
    };
    let v = judge(&f);
    assert_eq!((v.level, v.findings[0].code), (Level::AtRisk, "spf_not_authorised"));
    let fix = &v.fix().unwrap().en;
    assert!(fix.contains("ip6:2001:db8::2") && !fix.contains("ip4:"), "{fix}");
}

#[test]
fn dmarc_hints_do_not_change_the_level() {
    let v = judge(&direct_ok());
    assert_eq!(v.level, Level::Ok);
    assert!(v.findings.iter().any(|f| f.code == "dmarc_no_reports"), "{v:#?}");
}

#[test]
fn could_not_check_is_not_worse() {
    assert!(Level::CouldNotCheck.severity().is_none());
    assert!(Level::WillFail.severity() > Level::AtRisk.severity());
    assert_eq!(Level::parse("at_risk"), Some(Level::AtRisk));
}
