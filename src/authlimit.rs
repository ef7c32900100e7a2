//! Failed-login limiting for every listener that accepts device tokens (JMAP today; the IMAP
//! and SMTP servers for phones next), and the client address behind a trusted reverse proxy.
//!
//! The rule: a listener verifies a presented credential first (device tokens are 256-bit
//! random values looked up by their SHA-256, so verifying is cheap and a guess is hopeless),
//! and a valid credential is always served, whatever the counts say. A request without a
//! credential is answered 401 and counts against nobody, so a phone probing before it logs
//! in, or many phones behind one proxy, never lock anyone out. Only a credential that was
//! presented and is wrong counts, once against the client's address and once against the
//! credential itself (a hash of the token, or the mailbox a user name names); when either key
//! is over the limit the answer is "too many", with how long to wait. An IPv6 client counts
//! per /64 (the block one client usually has) and also per /56 with a higher limit
//! ([`LIMIT_V6_56`]), so a client that owns a whole /56 cannot take a fresh budget from each of
//! its 256 /64s. Counts decay: a key's score halves every [`HALF_LIFE`].
//!
//! Passwords are different: an Argon2 check is costly and a password can be guessed. The
//! console's login therefore asks [`AuthLimiter::over`] (read only) for the client address
//! first and answers an address over the limit without verifying; it never asks for the
//! account name, so no one can lock an account's right password out from elsewhere.
//!
//! This module is pure: it imports nothing from the features, does no I/O and takes the time
//! as an argument, so its rules are tested without a clock. It never sees a credential in
//! clear: callers pass a [`Key`] built from a hash.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// A key's score halves in this time.
pub const HALF_LIFE: Duration = Duration::from_secs(60);
/// At this score a key is over the limit until it has decayed below it again.
pub const LIMIT: f64 = 10.0;
/// The limit of an IPv6 /56 (its /64s share it): a few clients of one site together.
pub const LIMIT_V6_56: f64 = 40.0;
/// Keys remembered at most; beyond this the weakest are forgotten first.
const MAX_KEYS: usize = 20_000;

/// What a failure counts against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    /// A client address; IPv6 addresses count per /64, the block one client usually has.
    Addr(IpAddr),
    /// The /56 around an IPv6 client (its first 56 bits), limited by [`LIMIT_V6_56`].
    Block56(std::net::Ipv6Addr),
    /// The SHA-256 of the presented credential (token, or `user:` + user name for Basic).
    Credential([u8; 32]),
}

impl Key {
    pub fn addr(ip: IpAddr) -> Key {
        Key::Addr(match ip.to_canonical() {
            IpAddr::V6(v6) => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
            v4 => v4,
        })
    }

    /// Every key a client address counts under: the address (an IPv6 one per /64) and, for
    /// IPv6, its /56.
    pub fn addrs(ip: IpAddr) -> Vec<Key> {
        let key = Key::addr(ip);
        match ip.to_canonical() {
            IpAddr::V6(v6) => {
                let s = v6.segments();
                let block = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3] & 0xff00, 0, 0, 0, 0);
                vec![key, Key::Block56(block)]
            }
            IpAddr::V4(_) => vec![key],
        }
    }

    /// The score at which this key is over the limit.
    pub fn limit(&self) -> f64 {
        match self {
            Key::Block56(_) => LIMIT_V6_56,
            Key::Addr(_) | Key::Credential(_) => LIMIT,
        }
    }

    /// A presented credential, by its hash (the clear text is not kept).
    pub fn credential(what: &str) -> Key {
        Key::Credential(Sha256::digest(what.as_bytes()).into())
    }
}

/// The verdict on a wrong credential.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Verdict {
    /// Counted; answer "unauthorized".
    Unauthorized,
    /// Counted and over the limit; answer "too many" and ask to wait this long.
    TooMany { retry_after: Duration },
}

/// Decaying failure scores per key.
#[derive(Debug, Default)]
pub struct AuthLimiter {
    scores: Mutex<HashMap<Key, (f64, Instant)>>,
}

fn decayed(score: f64, since: Instant, now: Instant) -> f64 {
    let elapsed = now.saturating_duration_since(since).as_secs_f64();
    score * 0.5f64.powf(elapsed / HALF_LIFE.as_secs_f64())
}

/// How long until `score` has decayed below `limit` (at least one second).
fn wait_for(score: f64, limit: f64) -> Duration {
    if score < limit {
        return Duration::ZERO;
    }
    let secs = HALF_LIFE.as_secs_f64() * (score / limit).log2();
    Duration::from_secs(secs.ceil().max(1.0) as u64)
}

impl AuthLimiter {
    /// The decayed score of `key` at `now`.
    pub fn score(&self, key: &Key, now: Instant) -> f64 {
        let m = self.scores.lock().unwrap_or_else(|p| p.into_inner());
        m.get(key).map_or(0.0, |(s, t)| decayed(*s, *t, now))
    }

    /// Read-only: whether `key` is over the limit at `now`, and if so how long to wait. Counts
    /// nothing, so a listener can refuse before it spends work on verifying.
    pub fn over(&self, key: &Key, now: Instant) -> Option<Duration> {
        let (s, limit) = (self.score(key, now), key.limit());
        (s >= limit).then(|| wait_for(s, limit))
    }

    /// Count one wrong credential against every key in `keys` (the address and the
    /// credential). Over its limit on any of them: `TooMany`, waiting for the slowest.
    pub fn wrong(&self, keys: &[Key], now: Instant) -> Verdict {
        let mut m = self.scores.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= MAX_KEYS {
            forget_weakest(&mut m, now);
        }
        let mut over: Option<Duration> = None;
        for k in keys {
            let e = m.entry(k.clone()).or_insert((0.0, now));
            let s = decayed(e.0, e.1, now) + 1.0;
            *e = (s, now);
            if s >= k.limit() {
                over = over.max(Some(wait_for(s, k.limit())));
            }
        }
        match over {
            Some(retry_after) => Verdict::TooMany { retry_after },
            None => Verdict::Unauthorized,
        }
    }

    /// Keys remembered (for tests and status).
    pub fn len(&self) -> usize {
        self.scores.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Drop keys that have decayed to almost nothing; if that is not enough, keep the strongest
/// half, so an attacker inventing credentials cannot grow the map without bound.
fn forget_weakest(m: &mut HashMap<Key, (f64, Instant)>, now: Instant) {
    m.retain(|_, (s, t)| decayed(*s, *t, now) > 0.5);
    if m.len() >= MAX_KEYS {
        let mut all: Vec<(Key, f64)> = m.iter().map(|(k, (s, t))| (k.clone(), decayed(*s, *t, now))).collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1));
        for (k, _) in all.into_iter().skip(MAX_KEYS / 2) {
            m.remove(&k);
        }
    }
}

/// Trusted proxies are configured as [`Net`]s (`jmap.trusted_proxies`); the type lives in
/// `config`, below this module.
pub use crate::config::Net;

/// The client's address: the TCP peer, unless the peer is a trusted proxy; then the right-most
/// `X-Forwarded-For` entry that is not a trusted proxy (entries to its left were written by
/// the client and prove nothing). `forwarded` holds the header's values in order; an entry
/// that is not an address ends the walk at the last trusted hop.
pub fn client_addr<'a>(peer: IpAddr, forwarded: impl IntoIterator<Item = &'a str>, trusted: &[Net]) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded.into_iter().flat_map(|v| v.split(',')).map(str::trim).collect();
    let mut last = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else { return last };
        if !is_trusted(ip) {
            return ip;
        }
        last = ip;
    }
    last
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`[v6]:port`, `v4:port`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip().to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ten_wrong_credentials_reach_the_limit_and_the_wait_is_told() {
        let l = AuthLimiter::default();
        let t0 = Instant::now();
        let a = Key::addr(ip("192.0.2.1"));
        for i in 0..9 {
            assert_eq!(l.wrong(&[a.clone(), Key::credential(&format!("guess{i}"))], t0), Verdict::Unauthorized);
        }
        let Verdict::TooMany { retry_after } = l.wrong(&[a.clone(), Key::credential("guess9")], t0) else {
            panic!("the tenth wrong credential is over the limit");
        };
        // At exactly the limit the wait is the one second minimum; more failures wait longer.
        assert_eq!(retry_after, Duration::from_secs(1));
        for i in 0..10 {
            l.wrong(&[a.clone(), Key::credential(&format!("more{i}"))], t0);
        }
        let Verdict::TooMany { retry_after } = l.wrong(std::slice::from_ref(&a), t0) else { panic!() };
        // Score 21: 60 s × log2(2.1) = 64.2 s, rounded up.
        assert_eq!(retry_after, Duration::from_secs(65));
        // After the wait the address is below the limit again.
        assert!(l.score(&a, t0 + retry_after) < LIMIT);
        assert!(l.score(&a, t0 + retry_after - Duration::from_secs(2)) >= LIMIT);
        // The read-only check agrees and counts nothing.
        assert_eq!(l.over(&a, t0), Some(Duration::from_secs(65)));
        assert_eq!(l.over(&a, t0), Some(Duration::from_secs(65)));
        assert_eq!(l.over(&a, t0 + retry_after), None);
        assert_eq!(l.over(&Key::addr(ip("192.0.2.2")), t0), None);
    }

    #[test]
    fn scores_halve_every_half_life() {
        let l = AuthLimiter::default();
        let t0 = Instant::now();
        let k = Key::credential("becker");
        for _ in 0..8 {
            l.wrong(std::slice::from_ref(&k), t0);
        }
        assert!((l.score(&k, t0 + HALF_LIFE) - 4.0).abs() < 1e-9);
        assert!((l.score(&k, t0 + 3 * HALF_LIFE) - 1.0).abs() < 1e-9);
        assert_eq!(l.score(&Key::credential("someone else"), t0), 0.0);
    }

    #[test]
    fn one_credential_guessed_from_many_addresses_is_limited_by_itself() {
        let l = AuthLimiter::default();
        let t0 = Instant::now();
        let user = Key::credential("user:becker");
        let verdicts: Vec<Verdict> =
            (0..10).map(|i| l.wrong(&[Key::addr(ip(&format!("198.51.100.{i}"))), user.clone()], t0)).collect();
        assert!(matches!(verdicts[9], Verdict::TooMany { .. }), "{verdicts:?}");
        assert!(verdicts[..9].iter().all(|v| *v == Verdict::Unauthorized));
        // Each address has one failure only.
        assert_eq!(l.score(&Key::addr(ip("198.51.100.3")), t0), 1.0);
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_v4_as_v4() {
        assert_eq!(Key::addr(ip("2001:db8:1:2::1")), Key::addr(ip("2001:db8:1:2:ffff::9")));
        assert_ne!(Key::addr(ip("2001:db8:1:2::1")), Key::addr(ip("2001:db8:1:3::1")));
        assert_eq!(Key::addr(ip("::ffff:192.0.2.7")), Key::addr(ip("192.0.2.7")));
        assert_eq!(Key::addrs(ip("192.0.2.7")), [Key::addr(ip("192.0.2.7"))]);
        let (a, b) = (Key::addrs(ip("2001:db8:1:200::1")), Key::addrs(ip("2001:db8:1:2ff:1::9")));
        assert_ne!(a[0], b[0], "two /64s");
        assert_eq!(a[1], b[1], "one /56");
        assert_ne!(a[1], Key::addrs(ip("2001:db8:1:300::1"))[1], "the next /56");
    }

    /// A client with a /56 walking through its /64s gets a fresh /64 budget each time, but the
    /// /56 they share reaches its own, higher limit.
    #[test]
    fn ipv6_a_56_shares_one_higher_limit() {
        let l = AuthLimiter::default();
        let t0 = Instant::now();
        let mut verdicts = Vec::new();
        for i in 0..LIMIT_V6_56 as u16 {
            // Five tries per /64, under the /64's limit.
            let a = ip(&format!("2001:db8:1:{:x}::{}", 0x200 + i / 5, i % 5 + 1));
            verdicts.push(l.wrong(&Key::addrs(a), t0));
        }
        assert!(verdicts[..39].iter().all(|v| *v == Verdict::Unauthorized), "{verdicts:?}");
        assert!(matches!(verdicts[39], Verdict::TooMany { .. }), "the /56 is over its limit");
        assert!(matches!(l.wrong(&Key::addrs(ip("2001:db8:1:2ff::1")), t0), Verdict::TooMany { .. }));
        assert_eq!(l.wrong(&Key::addrs(ip("2001:db8:1:300::1")), t0), Verdict::Unauthorized, "another /56");
    }

    #[test]
    fn the_map_stays_bounded() {
        let l = AuthLimiter::default();
        let t0 = Instant::now();
        for i in 0..(MAX_KEYS + 10) {
            l.wrong(&[Key::credential(&i.to_string())], t0);
        }
        assert!(l.len() <= MAX_KEYS, "{}", l.len());
    }

    #[test]
    fn nets_parse_and_match() {
        let n: Net = "10.0.0.0/8".parse().unwrap();
        assert!(n.contains(ip("10.200.1.1")));
        assert!(!n.contains(ip("11.0.0.1")));
        assert!(n.contains(ip("::ffff:10.0.0.1")));
        let one: Net = "192.0.2.10".parse().unwrap();
        assert!(one.contains(ip("192.0.2.10")) && !one.contains(ip("192.0.2.11")));
        let v6: Net = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        let all: Net = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.5")));
        for bad in ["10.0.0.0/33", "proxy.local", "10.0.0/8", "::/129", ""] {
            assert!(bad.parse::<Net>().is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_for_counts_only_from_a_trusted_proxy() {
        let proxy: Vec<Net> = vec!["127.0.0.1".parse().unwrap(), "10.0.0.0/8".parse().unwrap()];
        let peer = ip("127.0.0.1");
        // Not a trusted peer: the header is ignored.
        assert_eq!(client_addr(ip("192.0.2.9"), ["203.0.113.5"], &proxy), ip("192.0.2.9"));
        assert_eq!(client_addr(peer, ["203.0.113.5"], &[]), peer);
        // Trusted: the right-most entry that is not a proxy; what the client wrote left of it is ignored.
        assert_eq!(client_addr(peer, ["1.1.1.1, 203.0.113.5"], &proxy), ip("203.0.113.5"));
        assert_eq!(client_addr(peer, ["1.1.1.1", "203.0.113.5, 10.1.1.1"], &proxy), ip("203.0.113.5"));
        assert_eq!(client_addr(peer, ["[2001:db8::5]:4711"], &proxy), ip("2001:db8::5"));
        assert_eq!(client_addr(peer, ["198.51.100.2:80"], &proxy), ip("198.51.100.2"));
        // No header, garbage, or only proxies: the last trusted hop.
        assert_eq!(client_addr(peer, [], &proxy), peer);
        assert_eq!(client_addr(peer, ["unknown, 10.2.2.2"], &proxy), ip("10.2.2.2"));
        assert_eq!(client_addr(peer, ["10.3.3.3"], &proxy), ip("10.3.3.3"));
    }
}
