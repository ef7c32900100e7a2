//! What a phone's mail app needs to know about one mailbox, from `[phones]` (the name and
//! ports phones use from outside, which behind port forwarding differ from the listen
//! addresses) and the mailbox's config. The user name is the mailbox's first company address,
//! which the login check accepts beside the id; the password is the device token, which this
//! type never holds.

use crate::config::{Config, Security};

/// One mailbox as a phone's mail app sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The mailbox's display name (the sender's name in the app).
    pub display_name: String,
    /// The mailbox's first company address: the e-mail address and the user name.
    pub address: String,
    /// The company domains of every mailbox, for autoconfig.
    pub domains: Vec<String>,
    pub host: String,
    pub imap_port: u16,
    pub imap_security: Security,
    pub smtp_port: u16,
    pub smtp_security: Security,
}

impl Account {
    /// The account of `mailbox`, or None when the config has no such mailbox.
    pub fn of(config: &Config, mailbox: &str) -> Option<Account> {
        let m = config.mailbox(mailbox)?;
        Some(Account {
            display_name: m.name.clone(),
            address: m.primary_address().to_string(),
            ..Account::servers(config)
        })
    }

    /// The servers alone (no mailbox's address or name), for autoconfig.
    pub fn servers(config: &Config) -> Account {
        let p = &config.phones;
        Account {
            display_name: String::new(),
            address: String::new(),
            domains: domains(config),
            host: p.host.clone(),
            imap_port: p.imap_port,
            imap_security: p.imap_security,
            smtp_port: p.smtp_port,
            smtp_security: p.smtp_security,
        }
    }

    /// The user name phones log in with.
    pub fn user(&self) -> &str {
        &self.address
    }
}

/// Every company domain of the config, lowercased, sorted, each once.
pub fn domains(config: &Config) -> Vec<String> {
    let mut all: Vec<String> =
        config.mailboxes.iter().flat_map(|m| m.company_domains()).map(|d| d.to_ascii_lowercase()).collect();
    all.sort();
    all.dedup();
    all
}

/// How a security setting is named where people read it.
pub fn security_word(s: Security) -> &'static str {
    match s {
        Security::Tls => "SSL/TLS",
        Security::StartTls => "STARTTLS",
    }
}

#[cfg(test)]
pub(crate) fn sample() -> Account {
    Account {
        display_name: "Hans Becker".into(),
        address: "becker@bau-firma.de".into(),
        domains: vec!["bau-firma.de".into()],
        host: "mail.bau-firma.de".into(),
        imap_port: 993,
        imap_security: Security::Tls,
        smtp_port: 587,
        smtp_security: Security::StartTls,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let app = crate::app::for_test(dir.path(), true);
        let a = Account::of(&app.config, "becker").unwrap();
        assert_eq!(
            (a.address.as_str(), a.user(), a.host.as_str()),
            ("becker@bau-firma.test", "becker@bau-firma.test", "localhost")
        );
        assert_eq!(
            (a.imap_port, a.imap_security, a.smtp_port, a.smtp_security),
            (993, Security::Tls, 465, Security::Tls)
        );
        assert_eq!(a.domains, ["bau-firma.test"]);
        assert!(Account::of(&app.config, "nobody").is_none());
    }
}
