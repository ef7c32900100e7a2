//! Folder names as a phone sees them: namespaces, the delimiter, wildcards. Pure.
//!
//! The device's own mailbox is the personal namespace at the root: its folders under the
//! store's names, with "/" as the delimiter whatever the hosted server uses. A mailbox granted
//! to the device (`devices::login::mailboxes`, the one rule) appears below `Shared/<mailbox
//! id>/`; a mailbox without the grant has no name here at all, so it can be neither listed nor
//! selected. `INBOX` is case-insensitive, at the root and below a shared prefix. Names go over
//! the wire in modified UTF-7 (`imap::mutf7`), which the session applies.

/// The prefix of the other-users namespace.
pub const SHARED: &str = "Shared";
/// The hierarchy delimiter phones see.
pub const DELIM: char = '/';

/// The mailboxes a session may use.
#[derive(Debug, Clone)]
pub struct Names {
    pub own: String,
    pub shared: Vec<String>,
}

/// Where an IMAP name points: a mailbox (account) and a folder name as the phone writes it
/// below that mailbox ("/" delimited); `inbox` when it names the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub account: String,
    pub name: String,
    pub inbox: bool,
}

impl Names {
    /// The place an IMAP name (UTF-8, already decoded) points to; None for a name outside
    /// every mailbox the device may see (a shared prefix without the grant, or the prefix
    /// itself).
    pub fn resolve(&self, imap: &str) -> Option<Place> {
        let imap = imap.trim_end_matches(DELIM);
        if let Some(rest) = imap.strip_prefix(SHARED).and_then(|r| r.strip_prefix(DELIM)) {
            let (mb, name) = rest.split_once(DELIM)?;
            let account = self.shared.iter().find(|s| s.as_str() == mb)?.clone();
            return Some(place(account, name));
        }
        if imap.is_empty() || imap.eq_ignore_ascii_case(SHARED) {
            return None;
        }
        Some(place(self.own.clone(), imap))
    }

    /// The IMAP name of `name` (phone-style, "/" delimited) in `account`.
    pub fn imap_name(&self, account: &str, name: &str) -> String {
        if account == self.own { name.to_string() } else { format!("{SHARED}{DELIM}{account}{DELIM}{name}") }
    }
}

fn place(account: String, name: &str) -> Place {
    if name.eq_ignore_ascii_case("INBOX") {
        Place { account, name: "INBOX".into(), inbox: true }
    } else {
        Place { account, name: name.to_string(), inbox: false }
    }
}

/// A store folder name in phone form: the server's delimiter becomes "/".
pub fn to_phone(store_name: &str, delim: Option<&str>) -> String {
    match delim {
        Some(d) if !d.is_empty() && d != "/" => store_name.replace(d, "/"),
        _ => store_name.to_string(),
    }
}

/// A phone-form name back in the store's form.
pub fn to_store(phone: &str, delim: Option<&str>) -> String {
    match delim {
        Some(d) if !d.is_empty() && d != "/" => phone.replace('/', d),
        _ => phone.to_string(),
    }
}

/// Whether `name` matches the LIST pattern (`*` anything, `%` anything but the delimiter);
/// INBOX matches case-insensitively.
pub fn matches(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some(('*', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some(('%', rest)) => (0..=n.len()).take_while(|&i| i == 0 || n[i - 1] != DELIM).any(|i| go(rest, &n[i..])),
            Some((c, rest)) => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    let norm = |s: &str| {
        if s.get(..5).is_some_and(|h| h.eq_ignore_ascii_case("INBOX")) && (s.len() == 5 || s[5..].starts_with(DELIM)) {
            format!("INBOX{}", &s[5..])
        } else {
            s.to_string()
        }
    };
    let (p, n): (Vec<char>, Vec<char>) = (norm(pattern).chars().collect(), norm(name).chars().collect());
    go(&p, &n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_at_the_root_grants_under_shared_others_nowhere() {
        let n = Names { own: "becker".into(), shared: vec!["info".into()] };
        assert_eq!(n.resolve("inbox"), Some(Place { account: "becker".into(), name: "INBOX".into(), inbox: true }));
        assert_eq!(n.resolve("Projekte/Müller").unwrap().name, "Projekte/Müller");
        assert_eq!(
            n.resolve("Shared/info/Inbox"),
            Some(Place { account: "info".into(), name: "INBOX".into(), inbox: true })
        );
        assert_eq!(n.resolve("Shared/weg/INBOX"), None, "no grant, no name");
        assert_eq!(n.resolve("Shared/info"), None);
        assert_eq!(n.resolve("Shared"), None);
        assert_eq!(n.imap_name("info", "Sent"), "Shared/info/Sent");
        assert_eq!(to_phone("INBOX.Kunden.Müller", Some(".")), "INBOX/Kunden/Müller");
        assert_eq!(to_store("Kunden/Müller", Some(".")), "Kunden.Müller");
    }

    #[test]
    fn list_wildcards() {
        assert!(matches("*", "Shared/info/INBOX"));
        assert!(matches("%", "Sent") && !matches("%", "Shared/info"));
        assert!(matches("Shared/%", "Shared/info") && !matches("Shared/%", "Shared/info/Sent"));
        assert!(matches("inbox", "INBOX") && matches("INBOX", "INBOX"));
        assert!(!matches("Sent", "sent"));
    }

    /// Regression: "Entwürfe" has a two-byte character across byte 5, where the INBOX check
    /// cut the string, and every LIST of a mailbox holding such a folder killed the session.
    #[test]
    fn names_and_patterns_beyond_ascii() {
        assert!(matches("*", "Entwürfe") && matches("Entwürfe", "Entwürfe") && matches("Entw%", "Entwürfe"));
        assert!(!matches("abcdé", "INBOX") && !matches("INBOX", "abcdé"));
        assert!(matches("Shared/info/*", "Shared/info/Gelöscht"));
    }

    proptest::proptest! {
        #[test]
        fn matching_any_pattern_against_any_name_answers(p in "\\PC{0,12}", n in "\\PC{0,12}") {
            let _ = matches(&p, &n);
            proptest::prop_assert!(matches("*", &n));
        }
    }
}
