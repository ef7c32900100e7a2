//! The one check of a device's credential, for JMAP, IMAP and SMTP submission alike.
//!
//! The user name is optional (JMAP's Bearer has none); when given it must name the device's
//! own mailbox: its id, or one of its addresses (company or hosted), in any case. The secret
//! is the device token. The credential is verified first and a valid one is always let in,
//! whatever its address did before (behind NAT or a proxy many phones share one address);
//! only a presented, wrong credential counts, once against the client's address (an IPv6 one
//! per /64 and per /56) and once against the credential (`crate::authlimit`): a user name
//! counts under the mailbox it names, whichever of its names was spelled, so another spelling
//! gives no fresh budget (an unknown name under itself, lowercased); without one, the token.
//! Over the limit the answer is "too many" with how long to wait, and the listener holds that
//! answer back for [`Refused::delay`] (at most [`MAX_DELAY`]), so guesses past the limit are
//! slow; IMAP and SMTP then close the connection. A listener counts nothing for a connection
//! that presents no credential. A successful check notes the device's last use and protocol.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::token::hash_token;
use crate::authlimit::{AuthLimiter, Key, Verdict};
use crate::config::Config;
use crate::store::Store;

/// Which listener a device used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Jmap,
    Imap,
    Smtp,
}

impl Protocol {
    /// The word the store keeps and `device list` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Jmap => "jmap",
            Protocol::Imap => "imap",
            Protocol::Smtp => "smtp",
        }
    }
}

/// A mailbox a logged-in device may use: its own, or a shared one it was granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Granted {
    pub mailbox: String,
    pub personal: bool,
}

/// A device that presented a valid token, and the mailboxes it may use (its own first).
#[derive(Debug, Clone)]
pub struct Login {
    pub device: i64,
    pub name: String,
    /// The device's own mailbox id.
    pub mailbox: String,
    pub mailboxes: Vec<Granted>,
}

/// The longest a listener holds back a "too many" answer.
pub const MAX_DELAY: Duration = Duration::from_secs(3);

/// Why a credential was not let in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Wrong user name or token (counted).
    Wrong,
    /// Wrong, and this address or credential is over the limit: wait this long.
    TooMany { retry_after: Duration },
    /// The store could not be read; nothing was counted.
    Store(String),
}

impl Refused {
    /// How long the listener waits before it answers: `min(retry_after, MAX_DELAY)` for
    /// "too many", nothing otherwise. JMAP sleeps this long before its 429; IMAP and SMTP
    /// sleep, answer, and close the connection, so a guesser pays the wait per connection.
    pub fn delay(&self) -> Duration {
        match self {
            Refused::TooMany { retry_after } => (*retry_after).min(MAX_DELAY),
            Refused::Wrong | Refused::Store(_) => Duration::ZERO,
        }
    }

    /// Whether the listener should close the connection after answering (over the limit).
    pub fn closes(&self) -> bool {
        matches!(self, Refused::TooMany { .. })
    }
}

/// The mailboxes a device sees: its own, then its grants, as far as the config still has
/// them, each once. The one rule, for every protocol and for push.
pub fn mailboxes(config: &Config, own: &str, grants: &[String]) -> Vec<Granted> {
    let mut out: Vec<Granted> = Vec::new();
    for (mb, personal) in std::iter::once((own, true)).chain(grants.iter().map(|g| (g.as_str(), false))) {
        if config.mailbox(mb).is_some() && !out.iter().any(|a| a.mailbox == mb) {
            out.push(Granted { mailbox: mb.to_string(), personal });
        }
    }
    out
}

/// Whether `user` names the mailbox `id`: its id or one of its addresses, in any case.
pub fn names_mailbox(config: &Config, id: &str, user: &str) -> bool {
    let user = user.trim();
    config
        .mailbox(id)
        .is_some_and(|m| m.id.eq_ignore_ascii_case(user) || m.all_addresses().any(|a| a.eq_ignore_ascii_case(user)))
}

/// The limiter's key of a presented user name: the id of the mailbox it names (its id or any
/// of its addresses, in any case), or, naming none, the name itself trimmed and lowercased.
pub fn user_key(config: &Config, user: &str) -> String {
    let named = config.mailboxes.iter().find(|m| names_mailbox(config, &m.id, user));
    match named {
        Some(m) => format!("mailbox:{}", m.id),
        None => format!("user:{}", user.trim().to_lowercase()),
    }
}

/// A credential as a listener received it.
#[derive(Debug, Clone, Copy)]
pub struct Presented<'a> {
    /// The client's address (behind a trusted proxy, the one it names).
    pub ip: IpAddr,
    /// The user name, if the protocol has one.
    pub user: Option<&'a str>,
    /// The device token.
    pub token: &'a str,
    pub protocol: Protocol,
}

/// The failed-login limiter and the credential check. The daemon has one (`app.logins`),
/// which every listener checks through, so wrong credentials count together on all ports.
#[derive(Debug, Default)]
pub struct Logins {
    limiter: AuthLimiter,
}

impl Logins {
    /// Check a presented credential. Blocking: it reads (and may note the use in) the store.
    pub fn check(&self, store: &Store, config: &Config, p: Presented<'_>, now: Instant) -> Result<Login, Refused> {
        let Presented { ip, user, token, protocol } = p;
        if let Some(login) = self.verify(store, config, user, token, protocol)? {
            return Ok(login);
        }
        let credential = match user {
            Some(u) => Key::credential(&user_key(config, u)),
            None => Key::credential(&format!("token:{token}")),
        };
        Err(self.wrong(ip, credential, now))
    }

    /// Count a presented credential that was wrong (or could not even be read) against the
    /// client's address (per /64 and /56 for IPv6) and `credential`.
    pub fn wrong(&self, ip: IpAddr, credential: Key, now: Instant) -> Refused {
        let mut keys = Key::addrs(ip);
        keys.push(credential);
        match self.limiter.wrong(&keys, now) {
            Verdict::Unauthorized => Refused::Wrong,
            Verdict::TooMany { retry_after } => Refused::TooMany { retry_after },
        }
    }

    fn verify(
        &self,
        store: &Store,
        config: &Config,
        user: Option<&str>,
        token: &str,
        protocol: Protocol,
    ) -> Result<Option<Login>, Refused> {
        if token.is_empty() || token.len() > 200 {
            return Ok(None);
        }
        let dev = store
            .devices()
            .by_token(&hash_token(token), protocol.as_str())
            .map_err(|e| Refused::Store(e.to_string()))?;
        let Some(dev) = dev else { return Ok(None) };
        if user.is_some_and(|u| !names_mailbox(config, &dev.mailbox, u)) {
            return Ok(None);
        }
        let mailboxes = mailboxes(config, &dev.mailbox, &dev.grants);
        if mailboxes.is_empty() {
            return Ok(None);
        }
        Ok(Some(Login { device: dev.id, name: dev.name, mailbox: dev.mailbox, mailboxes }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::token::new_token;

    #[test]
    fn user_names_the_mailbox_a_valid_token_is_never_locked_out_and_the_use_is_noted() {
        let dir = tempfile::tempdir().unwrap();
        let (config, store) = crate::devices::for_test(dir.path(), true);
        let (token, hash) = new_token();
        let id = store.devices().add("becker", "iPhone", &["info".into(), "weg".into()], &hash).unwrap();
        let logins = Logins::default();
        let ip: IpAddr = [203, 0, 113, 7].into();
        let now = Instant::now();
        let check = |user: Option<&str>, token: &str| {
            logins.check(&store, &config, Presented { ip, user, token, protocol: Protocol::Imap }, now)
        };
        for user in [None, Some("becker"), Some("BECKER@bau-firma.test"), Some(" b@h.test")] {
            let l = check(user, &token).unwrap_or_else(|e| panic!("{user:?}: {e:?}"));
            assert_eq!((l.device, l.mailbox.as_str()), (id, "becker"));
            assert_eq!(
                l.mailboxes,
                [
                    Granted { mailbox: "becker".into(), personal: true },
                    Granted { mailbox: "info".into(), personal: false }
                ],
                "a grant the config no longer has is left out"
            );
        }
        assert_eq!(store.devices().all().unwrap()[0].last_protocol.as_deref(), Some("imap"));
        assert_eq!(check(Some("info"), &token).unwrap_err(), Refused::Wrong, "another mailbox's name");
        // Wrong tokens from the same address, many times over: past the limit for wrong ones,
        // and still the right token gets in.
        let mut limited = false;
        for i in 0..40 {
            limited |= matches!(check(Some("becker"), &format!("falsch{i}")), Err(Refused::TooMany { .. }));
        }
        assert!(limited, "wrong tokens are limited");
        assert!(check(Some("becker"), &token).is_ok(), "a valid token is never locked out");
        assert!(
            matches!(check(Some("becker"), ""), Err(Refused::TooMany { .. })),
            "an empty token is wrong, not skipped"
        );
    }

    /// Guesses for one mailbox under its id, its company address and its hosted address, in
    /// any case, from ever new addresses, share one budget; an unknown name has its own.
    #[test]
    fn every_name_of_a_mailbox_counts_under_the_mailbox() {
        let dir = tempfile::tempdir().unwrap();
        let (config, store) = crate::devices::for_test(dir.path(), true);
        assert_eq!(user_key(&config, " BECKER "), "mailbox:becker");
        assert_eq!(user_key(&config, "Becker@Bau-Firma.test"), "mailbox:becker");
        assert_eq!(user_key(&config, "b@h.TEST"), "mailbox:becker");
        assert_eq!(user_key(&config, "i@h.test"), "mailbox:info");
        assert_eq!(user_key(&config, " Jemand@Example.ORG"), "user:jemand@example.org");
        let logins = Logins::default();
        let now = Instant::now();
        let names = ["becker", "BECKER", "becker@bau-firma.test", "Becker@Bau-Firma.TEST", "b@h.test"];
        let answers: Vec<Refused> = (0..10u8)
            .map(|i| {
                let ip: IpAddr = [198, 51, 100, i].into();
                let p = Presented { ip, user: Some(names[i as usize % 5]), token: "falsch", protocol: Protocol::Imap };
                logins.check(&store, &config, p, now).unwrap_err()
            })
            .collect();
        assert!(answers[..9].iter().all(|a| *a == Refused::Wrong), "{answers:?}");
        assert!(
            matches!(answers[9], Refused::TooMany { .. }),
            "ten guesses for becker, spelled five ways: {answers:?}"
        );
        let other =
            Presented { ip: [198, 51, 100, 99].into(), user: Some("info"), token: "falsch", protocol: Protocol::Imap };
        assert_eq!(logins.check(&store, &config, other, now).unwrap_err(), Refused::Wrong, "another mailbox");
    }

    #[test]
    fn the_delay_is_the_wait_up_to_three_seconds_and_only_for_too_many() {
        let too_many = |s| Refused::TooMany { retry_after: Duration::from_secs(s) };
        assert_eq!(too_many(1).delay(), Duration::from_secs(1));
        assert_eq!(too_many(65).delay(), MAX_DELAY);
        assert_eq!(Refused::Wrong.delay(), Duration::ZERO);
        assert!(too_many(1).closes() && !Refused::Wrong.closes());
    }
}
