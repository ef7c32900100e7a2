//! Pure: a parsed DMARC aggregate report (RFC 7489 appendix C, as `mail-auth` reads it) → the
//! report's head and the per-day rows the store keeps (by source address, no path); and the
//! addresses of the two sending paths → each row's path, when the figures are read.
//!
//! A source address is classified ([`classify`]) into `direct` (the company's own server: the
//! addresses its host resolves to, plus `doctor.direct_ips`), `relay` (the hosted relay: its
//! host's addresses, `doctor.relay_ips`, and what the hosted domain's SPF record passes,
//! [`spf_blocks`] and `paths`), `unknown`, or `unchecked` when a path's addresses could not be
//! looked up and the address is not the company's for sure. Direct is asked first: a company
//! server that the relay's SPF happens to cover is still the company's server. Records with the
//! same day, address and result are summed ([`merge`]); the sum of the messages never changes.
//!
//! This module does no I/O: the addresses come from `paths`, which asks DNS.
//! The reporter is named by the organisational domain (Public Suffix List, [`org_domain`]) of
//! the report's contact address, so `noreply-dmarc-support@google.com` is `google.com`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use mail_auth::report::{ActionDisposition, Alignment, Disposition, DkimResult, DmarcResult, Report, SpfResult};
use mail_auth::spf::{Macro, Mechanism, Qualifier, Spf};

use super::records::org_domain;
use crate::store::dmarc::{DayRow, ReportHead, ReportPath};

/// An address block, as SPF's `ip4:`/`ip6:` give it (address and mask bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Block {
    V4 { addr: u32, mask: u32 },
    V6 { addr: u128, mask: u128 },
}

impl Block {
    /// The block of exactly one address.
    pub fn host(ip: IpAddr) -> Block {
        match ip {
            IpAddr::V4(a) => Block::V4 { addr: a.into(), mask: u32::MAX },
            IpAddr::V6(a) => Block::V6 { addr: a.into(), mask: u128::MAX },
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 address a receiver wrote as ::ffff:a.b.c.d is that IPv4 address.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self, ip) {
            (Block::V4 { addr, mask }, IpAddr::V4(a)) => u32::from(a) & mask == addr & mask,
            (Block::V6 { addr, mask }, IpAddr::V6(a)) => u128::from(a) & mask == addr & mask,
            _ => false,
        }
    }
}

/// The addresses each sending path sends from, and the lookups of each that failed (then the
/// list is incomplete).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathBlocks {
    pub direct: Vec<Block>,
    pub relay: Vec<Block>,
    pub direct_failed: Vec<String>,
    pub relay_failed: Vec<String>,
}

/// The path a record's source address belongs to; direct first, then relay. An address that is
/// on neither list is `unchecked` while a list is incomplete (it may be on the missing part),
/// and so is one on the relay's list while the direct one is.
pub fn classify(ip: Option<IpAddr>, blocks: &PathBlocks) -> ReportPath {
    let Some(ip) = ip else { return ReportPath::Unknown };
    if blocks.direct.iter().any(|b| b.contains(ip)) {
        ReportPath::Direct
    } else if !blocks.direct_failed.is_empty() {
        ReportPath::Unchecked
    } else if blocks.relay.iter().any(|b| b.contains(ip)) {
        ReportPath::Relay
    } else if !blocks.relay_failed.is_empty() {
        ReportPath::Unchecked
    } else {
        ReportPath::Unknown
    }
}

/// Give each row the path of its source address.
pub fn classify_rows(rows: &mut [DayRow], blocks: &PathBlocks) {
    for r in rows {
        r.path = classify(r.source_ip.parse().ok(), blocks);
    }
}

/// The address blocks an SPF record passes directly (`ip4:`, `ip6:` with a pass qualifier), and
/// the literal names of its `include:` and `redirect=` targets, which the caller may follow.
pub fn spf_blocks(spf: &Spf) -> (Vec<Block>, Vec<String>) {
    let mut blocks = Vec::new();
    let mut follow = Vec::new();
    for d in spf.directives.iter() {
        match (&d.qualifier, &d.mechanism) {
            (Qualifier::Pass, Mechanism::Ip4 { addr, mask }) => {
                blocks.push(Block::V4 { addr: (*addr).into(), mask: *mask })
            }
            (Qualifier::Pass, Mechanism::Ip6 { addr, mask }) => {
                blocks.push(Block::V6 { addr: (*addr).into(), mask: *mask })
            }
            (Qualifier::Pass, Mechanism::Include { macro_string: Macro::Literal(name) }) => {
                follow.push(String::from_utf8_lossy(name).into_owned())
            }
            _ => {}
        }
    }
    if let Some(Macro::Literal(name)) = &spf.redirect {
        follow.push(String::from_utf8_lossy(name).into_owned());
    }
    (blocks, follow)
}

/// The organisational domain of the reporter's contact address (or of its org name when the
/// address has none).
pub fn reporter(report: &Report) -> String {
    let m = &report.report_metadata;
    let domain = m.email.rsplit_once('@').map(|(_, d)| d).unwrap_or(&m.org_name);
    let domain = domain.trim().trim_end_matches('.').trim_end_matches('>').to_ascii_lowercase();
    org_domain(&domain).to_string()
}

const DAY: u64 = 86_400;

/// The UTC day (days since 1970-01-01) a report's period is about: the day of its middle, so a
/// period written as 00:00:00 to 23:59:59 of a day, or one shifted by a time zone, falls on it.
pub fn report_day(begin: u64, end: u64) -> i64 {
    let end = end.max(begin);
    ((begin / 2 + end / 2 + (begin % 2 + end % 2) / 2) / DAY) as i64
}

fn alignment(a: Alignment) -> &'static str {
    match a {
        Alignment::Relaxed => "r",
        Alignment::Strict => "s",
        Alignment::Unspecified => "",
    }
}

fn disposition(d: Disposition) -> &'static str {
    match d {
        Disposition::None => "none",
        Disposition::Quarantine => "quarantine",
        Disposition::Reject => "reject",
        Disposition::Unspecified => "",
    }
}

fn action(d: ActionDisposition) -> &'static str {
    match d {
        ActionDisposition::None | ActionDisposition::Pass | ActionDisposition::Unspecified => "none",
        ActionDisposition::Quarantine => "quarantine",
        ActionDisposition::Reject => "reject",
    }
}

fn spf_word(r: SpfResult) -> &'static str {
    match r {
        SpfResult::None => "none",
        SpfResult::Neutral => "neutral",
        SpfResult::Pass => "pass",
        SpfResult::Fail => "fail",
        SpfResult::SoftFail => "softfail",
        SpfResult::TempError => "temperror",
        SpfResult::PermError => "permerror",
    }
}

fn dkim_word(r: DkimResult) -> &'static str {
    match r {
        DkimResult::None => "none",
        DkimResult::Pass => "pass",
        DkimResult::Fail => "fail",
        DkimResult::Policy => "policy",
        DkimResult::Neutral => "neutral",
        DkimResult::TempError => "temperror",
        DkimResult::PermError => "permerror",
    }
}

/// The report's head and its rows, merged, not classified (each `unchecked`).
pub fn read(report: &Report) -> (ReportHead, Vec<DayRow>) {
    let m = &report.report_metadata;
    let p = &report.policy_published;
    let who = reporter(report);
    let day = report_day(m.date_range.begin, m.date_range.end);
    let rows = report.record.iter().map(|r| {
        let spf = r.auth_results.spf.first().map(|s| spf_word(s.result)).unwrap_or("none");
        let dkim = if r.auth_results.dkim.iter().any(|d| d.result == DkimResult::Pass) {
            "pass"
        } else {
            r.auth_results.dkim.first().map(|d| dkim_word(d.result)).unwrap_or("none")
        };
        let pe = &r.row.policy_evaluated;
        DayRow {
            day,
            source_ip: r.row.source_ip.map(|ip| ip.to_string()).unwrap_or_default(),
            path: ReportPath::Unchecked,
            reporter: who.clone(),
            header_from: r.identifiers.header_from.trim().to_ascii_lowercase(),
            spf: spf.into(),
            spf_aligned: pe.spf == DmarcResult::Pass,
            dkim: dkim.into(),
            dkim_aligned: pe.dkim == DmarcResult::Pass,
            disposition: action(pe.disposition).into(),
            messages: r.row.count as i64,
        }
    });
    let rows = merge(rows);
    let head = ReportHead {
        org_name: m.org_name.trim().to_string(),
        reporter: who,
        report_id: m.report_id.trim().to_string(),
        date_begin: m.date_range.begin as i64,
        date_end: m.date_range.end as i64,
        policy_domain: p.domain.trim().to_ascii_lowercase(),
        policy_p: disposition(p.p).into(),
        policy_sp: disposition(p.sp).into(),
        policy_adkim: alignment(p.adkim).into(),
        policy_aspf: alignment(p.aspf).into(),
        records: report.record.len() as i64,
        messages: report.record.iter().map(|r| r.row.count as i64).sum(),
    };
    (head, rows)
}

/// Sum the rows that share every key column (all but `messages`); the result is ordered by
/// key and has each key once. Rows of no message are dropped.
pub fn merge(rows: impl IntoIterator<Item = DayRow>) -> Vec<DayRow> {
    let mut sums: BTreeMap<DayRow, i64> = BTreeMap::new();
    for r in rows {
        let n = r.messages;
        *sums.entry(DayRow { messages: 0, ..r }).or_default() += n;
    }
    sums.into_iter().filter(|(_, n)| *n != 0).map(|(k, n)| DayRow { messages: n, ..k }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_auth::common::parse::TxtRecordParser;
    use proptest::prelude::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn blocks() -> PathBlocks {
        let spf = Spf::parse(
            b"v=spf1 ip4:198.51.100.0/24 ip6:2001:db8:1::/48 include:_spf.hosted.test -ip4:198.51.100.7 ~all",
        )
        .unwrap();
        let (mut relay, follow) = spf_blocks(&spf);
        assert_eq!(follow, ["_spf.hosted.test"]);
        relay.push(Block::host(ip("203.0.113.5")));
        PathBlocks {
            direct: vec![Block::host(ip("192.0.2.25")), Block::host(ip("198.51.100.99"))],
            relay,
            ..PathBlocks::default()
        }
    }

    #[test]
    fn addresses_are_classified_direct_first_then_relay_then_unknown() {
        let b = blocks();
        let cases = [
            ("192.0.2.25", ReportPath::Direct),
            ("::ffff:192.0.2.25", ReportPath::Direct),
            ("198.51.100.99", ReportPath::Direct), // the company's server inside the relay's SPF block
            ("198.51.100.1", ReportPath::Relay),
            ("198.51.100.7", ReportPath::Relay), // a `-ip4:` is no pass, but the block around it is
            ("2001:db8:1:ff::1", ReportPath::Relay),
            ("203.0.113.5", ReportPath::Relay),
            ("203.0.113.6", ReportPath::Unknown),
            ("2001:db8:2::1", ReportPath::Unknown),
            ("192.0.2.26", ReportPath::Unknown),
        ];
        for (a, want) in cases {
            assert_eq!(classify(Some(ip(a)), &b), want, "{a}");
        }
        assert_eq!(classify(None, &b), ReportPath::Unknown);
        // An `ip4:` with a fail qualifier adds nothing.
        let (only_fail, _) = spf_blocks(&Spf::parse(b"v=spf1 -ip4:10.0.0.0/8 -all").unwrap());
        assert!(only_fail.is_empty());
    }

    #[test]
    fn a_failed_lookup_leaves_what_it_may_cover_unchecked_never_unknown() {
        let relay_failed = PathBlocks { relay_failed: vec!["_spf.hosted.test TXT: SERVFAIL".into()], ..blocks() };
        assert_eq!(classify(Some(ip("192.0.2.25")), &relay_failed), ReportPath::Direct);
        assert_eq!(classify(Some(ip("198.51.100.1")), &relay_failed), ReportPath::Relay);
        assert_eq!(classify(Some(ip("203.0.113.6")), &relay_failed), ReportPath::Unchecked);
        let direct_failed = PathBlocks { direct_failed: vec!["smtp.bau-firma.de A/AAAA: timeout".into()], ..blocks() };
        assert_eq!(classify(Some(ip("192.0.2.25")), &direct_failed), ReportPath::Direct);
        assert_eq!(classify(Some(ip("198.51.100.1")), &direct_failed), ReportPath::Unchecked, "maybe the company's");
        assert_eq!(classify(Some(ip("203.0.113.6")), &direct_failed), ReportPath::Unchecked);
    }

    #[test]
    fn the_report_day_is_the_day_of_the_period_s_middle() {
        let d = 20_426 * 86_400; // 2025-12-04
        assert_eq!(report_day(d, d + 86_399), 20_426);
        assert_eq!(report_day(d - 3_600, d + 86_399 - 3_600), 20_426, "shifted by an hour");
        assert_eq!(report_day(d + 10, d), 20_426, "an end before the begin counts as the begin");
    }

    fn arb_row() -> impl Strategy<Value = DayRow> {
        (
            0i64..3,
            prop::sample::select(vec!["192.0.2.1", "192.0.2.2", "2001:db8::1"]),
            prop::sample::select(ReportPath::ALL.to_vec()),
            prop::sample::select(vec!["google.com", "web.de"]),
            any::<bool>(),
            any::<bool>(),
            prop::sample::select(vec!["none", "reject"]),
            1i64..100_000,
        )
            .prop_map(|(day, ip, path, reporter, spf_aligned, dkim_aligned, disposition, messages)| DayRow {
                day,
                source_ip: ip.into(),
                path,
                reporter: reporter.into(),
                header_from: "bau-firma.de".into(),
                spf: if spf_aligned { "pass" } else { "fail" }.into(),
                spf_aligned,
                dkim: "pass".into(),
                dkim_aligned,
                disposition: disposition.into(),
                messages,
            })
    }

    fn arb_record() -> impl Strategy<Value = mail_auth::report::Record> {
        (
            prop::sample::select(vec!["192.0.2.25", "198.51.100.4", "203.0.113.5", "203.0.113.6", "2001:db8:2::1"]),
            0u32..5_000,
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(ip, count, spf, dkim)| {
                let mut r = mail_auth::report::Record::default();
                r.row.source_ip = Some(ip.parse().unwrap());
                r.row.count = count;
                let result = |pass| if pass { DmarcResult::Pass } else { DmarcResult::Fail };
                r.row.policy_evaluated.spf = result(spf);
                r.row.policy_evaluated.dkim = result(dkim);
                r.identifiers.header_from = "Bau-Firma.de".into();
                r
            })
    }

    proptest! {
        /// Reading a report keeps every message: in all, per path as [`classify`] puts each
        /// record, and per DMARC pass or fail.
        #[test]
        fn reading_a_report_conserves_the_counts(records in prop::collection::vec(arb_record(), 0..40)) {
            let mut report = Report::default();
            report.report_metadata.email = "noreply-dmarc-support@google.com".into();
            report.report_metadata.date_range.begin = 1_796_083_200;
            report.report_metadata.date_range.end = 1_796_169_599;
            report.record = records.clone();
            let b = blocks();
            let (head, mut rows) = read(&report);
            prop_assert!(rows.iter().all(|r| r.path == ReportPath::Unchecked));
            classify_rows(&mut rows, &b);
            let sum = |f: &dyn Fn(&mail_auth::report::Record) -> bool| records.iter().filter(|r| f(r)).map(|r| r.row.count as i64).sum::<i64>();
            prop_assert_eq!(head.messages, sum(&|_| true));
            prop_assert_eq!(rows.iter().map(|r| r.messages).sum::<i64>(), head.messages);
            for p in ReportPath::ALL {
                let on_path = rows.iter().filter(|r| r.path == p).map(|r| r.messages).sum::<i64>();
                prop_assert_eq!(on_path, sum(&|r| classify(r.row.source_ip, &b) == p));
            }
            let passed = rows.iter().filter(|r| r.dmarc_pass()).map(|r| r.messages).sum::<i64>();
            let pass = |r: &mail_auth::report::Record| r.row.policy_evaluated.spf == DmarcResult::Pass || r.row.policy_evaluated.dkim == DmarcResult::Pass;
            prop_assert_eq!(passed, sum(&pass));
            prop_assert!(rows.iter().all(|r| r.reporter == "google.com" && r.header_from == "bau-firma.de" && r.day == 20_788));
        }

        /// Merging keeps every message, per path and per pass/fail, and leaves each key once.
        #[test]
        fn merging_conserves_the_counts(rows in prop::collection::vec(arb_row(), 0..60)) {
            let merged = merge(rows.clone());
            let total = |rs: &[DayRow], f: &dyn Fn(&DayRow) -> bool| rs.iter().filter(|r| f(r)).map(|r| r.messages).sum::<i64>();
            prop_assert_eq!(total(&merged, &|_| true), total(&rows, &|_| true));
            prop_assert_eq!(total(&merged, &|r| r.dmarc_pass()), total(&rows, &|r| r.dmarc_pass()));
            for p in ReportPath::ALL {
                prop_assert_eq!(total(&merged, &|r| r.path == p), total(&rows, &|r| r.path == p));
            }
            let mut keys: Vec<DayRow> = merged.iter().map(|r| DayRow { messages: 0, ..r.clone() }).collect();
            let n = keys.len();
            keys.dedup();
            prop_assert_eq!(keys.len(), n, "each key once, in order");
            // Merging twice changes nothing.
            prop_assert_eq!(merge(merged.clone()), merged);
        }
    }
}
