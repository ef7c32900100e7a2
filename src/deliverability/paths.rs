//! The addresses of the two sending paths, looked up when the receivers' figures are read:
//! what `[direct] host` and `[relay] host` resolve to, `doctor.direct_ips` / `relay_ips`, and
//! what the hosted domains' SPF records pass (the relay's mail carries the hosted addresses as
//! envelope senders, so their domains' SPF lists the relay's addresses).
//!
//! SPF is walked breadth-first ([`spf_walk`]): `ip4:`/`ip6:` blocks are taken as they are,
//! `a` and `mx` are resolved to addresses (with their prefix lengths), `include:` and
//! `redirect=` are followed, each name read once, and at most [`SPF_LOOKUPS`] DNS lookups are
//! made per hosted domain beyond its own record (RFC 7208 section 4.6.4: a receiver gives up
//! there too, so addresses further on do not pass SPF anyway).
//!
//! A lookup that failed (timeout, SERVFAIL) is never taken for an empty answer: its name is
//! kept in [`PathBlocks`]'s `direct_failed` / `relay_failed`, and [`super::aggregate::classify`]
//! then says "could not check" (`unchecked`) for an address it cannot tell apart. Nothing is
//! cached: the next reading of the figures looks up again. This module does no other I/O.

use std::collections::{BTreeSet, VecDeque};
use std::net::IpAddr;

use mail_auth::common::parse::TxtRecordParser;
use mail_auth::spf::{Macro, Mechanism, Qualifier, Spf};

use super::aggregate::{Block, PathBlocks, spf_blocks};
use super::dns::{Dns, Resolver};
use super::records::spf_records;
use crate::config::Config;

/// At most this many DNS lookups while following one hosted domain's SPF record.
pub const SPF_LOOKUPS: usize = 10;

/// The lookups the SPF walk makes (the doctor's resolver; a table in the tests).
pub(crate) trait SpfDns {
    async fn txt(&self, name: &str) -> Dns<Vec<String>>;
    async fn ips(&self, name: &str) -> Dns<Vec<IpAddr>>;
    async fn mx(&self, name: &str) -> Dns<Vec<String>>;
}

impl SpfDns for Resolver {
    async fn txt(&self, name: &str) -> Dns<Vec<String>> {
        Resolver::txt(self, name).await
    }
    async fn ips(&self, name: &str) -> Dns<Vec<IpAddr>> {
        Resolver::ips(self, name).await
    }
    async fn mx(&self, name: &str) -> Dns<Vec<String>> {
        Resolver::mx(self, name).await
    }
}

/// The sending paths' addresses, looked up now with the doctor's resolver (a failed lookup
/// leaves the addresses it may cover "could not check" for this run): `postbote doctor` and
/// the console's deliverability page.
pub async fn path_blocks_now(config: &Config) -> anyhow::Result<PathBlocks> {
    let resolver = Resolver::new(config.doctor.resolver, config.doctor.timeout)?;
    Ok(path_blocks(&resolver, config).await)
}

/// The addresses of the two sending paths, as the config and DNS say now.
pub async fn path_blocks(r: &Resolver, config: &Config) -> PathBlocks {
    let mut b = PathBlocks {
        direct: config.doctor.direct_ips.iter().map(|ip| Block::host(*ip)).collect(),
        relay: config.doctor.relay_ips.iter().map(|ip| Block::host(*ip)).collect(),
        ..PathBlocks::default()
    };
    if let Some(d) = &config.direct {
        match r.ips(&d.host).await {
            Dns::Found(ips) => b.direct.extend(ips.into_iter().map(Block::host)),
            Dns::Absent => {}
            Dns::Failed(e) => b.direct_failed.push(e),
        }
    }
    if let Some(s) = &config.relay {
        match r.ips(&s.host).await {
            Dns::Found(ips) => b.relay.extend(ips.into_iter().map(Block::host)),
            Dns::Absent => {}
            Dns::Failed(e) => b.relay_failed.push(e),
        }
        let mut domains: Vec<String> = config
            .mailboxes
            .iter()
            .filter_map(|m| m.hosted_address.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()))
            .collect();
        domains.sort();
        domains.dedup();
        let mut read = BTreeSet::new();
        for domain in domains {
            spf_walk(r, &domain, &mut read, &mut b.relay, &mut b.relay_failed).await;
        }
    }
    b
}

/// The name an `a`/`mx` mechanism is about: its own literal, or the record's domain.
fn target(m: &Macro, domain: &str) -> Option<String> {
    match m {
        Macro::None => Some(domain.to_string()),
        Macro::Literal(n) => Some(String::from_utf8_lossy(n).trim_end_matches('.').to_ascii_lowercase()),
        _ => None,
    }
}

fn masked(ip: IpAddr, ip4_mask: u32, ip6_mask: u128) -> Block {
    match ip {
        IpAddr::V4(a) => Block::V4 { addr: a.into(), mask: ip4_mask },
        IpAddr::V6(a) => Block::V6 { addr: a.into(), mask: ip6_mask },
    }
}

/// Add what `domain`'s SPF passes to `blocks`, breadth-first, skipping names in `read` (and
/// adding those it reads), with at most [`SPF_LOOKUPS`] lookups after the domain's own record.
/// Each lookup that failed is added to `failed`.
pub(crate) async fn spf_walk(
    dns: &impl SpfDns,
    domain: &str,
    read: &mut BTreeSet<String>,
    blocks: &mut Vec<Block>,
    failed: &mut Vec<String>,
) {
    let mut queue = VecDeque::from([domain.to_string()]);
    // The domain's own record does not count (RFC 7208 4.6.4 counts the terms that cause one).
    let mut budget = SPF_LOOKUPS + 1;
    let spend = |budget: &mut usize| {
        if *budget == 0 {
            false
        } else {
            *budget -= 1;
            true
        }
    };
    while let Some(name) = queue.pop_front() {
        if !read.insert(name.clone()) {
            continue;
        }
        if !spend(&mut budget) {
            break;
        }
        let txt = match dns.txt(&name).await {
            Dns::Found(t) => t,
            Dns::Absent => continue,
            Dns::Failed(e) => {
                failed.push(e);
                continue;
            }
        };
        let Some(Ok(spf)) = spf_records(&txt).first().map(|t| Spf::parse(t.as_bytes())) else { continue };
        let (literal, follow) = spf_blocks(&spf);
        blocks.extend(literal);
        queue.extend(follow);
        for d in spf.directives.iter().filter(|d| d.qualifier == Qualifier::Pass) {
            match &d.mechanism {
                Mechanism::A { macro_string, ip4_mask, ip6_mask } => {
                    let Some(host) = target(macro_string, &name) else { continue };
                    if !spend(&mut budget) {
                        return;
                    }
                    match dns.ips(&host).await {
                        Dns::Found(ips) => blocks.extend(ips.into_iter().map(|ip| masked(ip, *ip4_mask, *ip6_mask))),
                        Dns::Absent => {}
                        Dns::Failed(e) => failed.push(e),
                    }
                }
                Mechanism::Mx { macro_string, ip4_mask, ip6_mask } => {
                    let Some(host) = target(macro_string, &name) else { continue };
                    if !spend(&mut budget) {
                        return;
                    }
                    let hosts = match dns.mx(&host).await {
                        Dns::Found(h) => h,
                        Dns::Absent => continue,
                        Dns::Failed(e) => {
                            failed.push(e);
                            continue;
                        }
                    };
                    // RFC 7208 4.6.4: at most ten exchangers are looked up; they are part of
                    // the `mx` term's one lookup.
                    for h in hosts.iter().take(10) {
                        match dns.ips(h).await {
                            Dns::Found(ips) => {
                                blocks.extend(ips.into_iter().map(|ip| masked(ip, *ip4_mask, *ip6_mask)))
                            }
                            Dns::Absent => {}
                            Dns::Failed(e) => failed.push(e),
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    /// A DNS of fixed answers that counts its TXT/A/MX lookups; a name missing is absent, a
    /// name mapped to "FAIL" could not be looked up.
    #[derive(Default)]
    struct Table {
        txt: BTreeMap<&'static str, &'static str>,
        ips: BTreeMap<&'static str, &'static str>,
        mx: BTreeMap<&'static str, &'static str>,
        asked: Mutex<Vec<String>>,
    }

    fn answer<T>(v: Option<&&str>, name: &str, f: impl Fn(&str) -> T) -> Dns<T> {
        match v {
            None => Dns::Absent,
            Some(&"FAIL") => Dns::Failed(format!("{name}: SERVFAIL")),
            Some(v) => Dns::Found(f(v)),
        }
    }

    impl SpfDns for Table {
        async fn txt(&self, name: &str) -> Dns<Vec<String>> {
            self.asked.lock().unwrap().push(format!("txt {name}"));
            answer(self.txt.get(name), name, |v| vec![v.to_string()])
        }
        async fn ips(&self, name: &str) -> Dns<Vec<IpAddr>> {
            self.asked.lock().unwrap().push(format!("a {name}"));
            answer(self.ips.get(name), name, |v| v.split(' ').map(|a| a.parse().unwrap()).collect())
        }
        async fn mx(&self, name: &str) -> Dns<Vec<String>> {
            self.asked.lock().unwrap().push(format!("mx {name}"));
            answer(self.mx.get(name), name, |v| v.split(' ').map(str::to_string).collect())
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    async fn walk(t: &Table, domain: &str) -> (Vec<Block>, Vec<String>) {
        let (mut blocks, mut failed) = (Vec::new(), Vec::new());
        spf_walk(t, domain, &mut BTreeSet::new(), &mut blocks, &mut failed).await;
        (blocks, failed)
    }

    #[tokio::test]
    async fn the_walk_resolves_a_and_mx_and_reads_each_name_once() {
        let t = Table {
            txt: BTreeMap::from([
                ("hosted.test", "v=spf1 a mx:mail.hosted.test include:_spf.hosted.test include:_loop.hosted.test ~all"),
                ("_spf.hosted.test", "v=spf1 ip4:198.51.100.0/24 a:out.hosted.test/28 include:hosted.test -all"),
                ("_loop.hosted.test", "v=spf1 include:_spf.hosted.test redirect=_spf.hosted.test"),
            ]),
            ips: BTreeMap::from([
                ("hosted.test", "203.0.113.10"),
                ("mx1.hosted.test", "203.0.113.20 2001:db8::20"),
                ("out.hosted.test", "192.0.2.40"),
            ]),
            mx: BTreeMap::from([("mail.hosted.test", "mx1.hosted.test")]),
            ..Table::default()
        };
        let (blocks, failed) = walk(&t, "hosted.test").await;
        assert!(failed.is_empty(), "{failed:?}");
        let covered = |a: &str| blocks.iter().any(|b| b.contains(ip(a)));
        for a in ["203.0.113.10", "203.0.113.20", "2001:db8::20", "198.51.100.7", "192.0.2.33", "192.0.2.47"] {
            assert!(covered(a), "{a} in {blocks:?}");
        }
        assert!(!covered("192.0.2.48"), "a:out.hosted.test/28 covers 192.0.2.32-47 only");
        let asked = t.asked.lock().unwrap().clone();
        let txt: Vec<&String> = asked.iter().filter(|a| a.starts_with("txt")).collect();
        assert_eq!(txt, ["txt hosted.test", "txt _spf.hosted.test", "txt _loop.hosted.test"], "each name once");
    }

    #[tokio::test]
    async fn the_walk_stops_at_ten_lookups_and_keeps_failures_apart() {
        // A chain of includes: n0 → n1 → … → n14, each with its own block.
        let names: Vec<&'static str> = (0..15).map(|i| &*Box::leak(format!("n{i}.test").into_boxed_str())).collect();
        let records: Vec<&'static str> = (0..15)
            .map(|i| {
                let next = if i < 14 { format!(" include:n{}.test", i + 1) } else { String::new() };
                &*Box::leak(format!("v=spf1 ip4:10.0.{i}.0/24{next} -all").into_boxed_str())
            })
            .collect();
        let t = Table { txt: names.iter().copied().zip(records.iter().copied()).collect(), ..Table::default() };
        let (blocks, _) = walk(&t, "n0.test").await;
        assert_eq!(t.asked.lock().unwrap().len(), 1 + SPF_LOOKUPS, "the record itself and ten lookups");
        assert!(blocks.iter().any(|b| b.contains(ip("10.0.10.1"))));
        assert!(!blocks.iter().any(|b| b.contains(ip("10.0.11.1"))), "the eleventh include is not followed");

        let t = Table {
            txt: BTreeMap::from([("hosted.test", "v=spf1 include:broken.test a:gone.test ip4:198.51.100.1 -all")]),
            ips: BTreeMap::from([("gone.test", "FAIL")]),
            ..Table::default()
        };
        let (blocks, failed) = walk(&t, "hosted.test").await;
        assert_eq!(failed.len(), 1, "a failed lookup is kept, an absent one is not: {failed:?}");
        assert!(failed[0].starts_with("gone.test"));
        assert!(blocks.iter().any(|b| b.contains(ip("198.51.100.1"))));
    }
}
