//! Who is asking: an authenticated device and the accounts it may use, as plain data.
//!
//! `auth` (transport) makes an [`Authed`] from the `Authorization` header; the methods read it
//! through their `Ctx` and never see a header. It lives below both so that request handling
//! does not depend on HTTP. [`accounts`] is the one rule of which accounts a device sees, for
//! a request (`auth`) and for a push (`push_delivery`) alike.

use super::ids;
use crate::devices::login::Granted;

/// A JMAP account a device may use: its own mailbox or a shared one it was granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub account_id: String,
    pub mailbox: String,
    pub personal: bool,
}

/// An authenticated device and the accounts it may see (and nothing else).
#[derive(Debug, Clone)]
pub struct Authed {
    pub device: i64,
    /// The device's own mailbox id (the Basic user name, the session's `username`).
    pub username: String,
    pub accounts: Vec<Access>,
}

impl Authed {
    /// The mailbox behind a JMAP account id, if this device may use it.
    pub fn mailbox(&self, account_id: &str) -> Option<&str> {
        self.accounts.iter().find(|a| a.account_id == account_id).map(|a| a.mailbox.as_str())
    }
}

/// The JMAP accounts of a device's mailboxes (`crate::devices::login::mailboxes`, the one rule
/// of which mailboxes a device sees), in the same order.
pub fn accounts(mailboxes: &[Granted]) -> Vec<Access> {
    mailboxes
        .iter()
        .map(|g| Access { account_id: ids::account(&g.mailbox), mailbox: g.mailbox.clone(), personal: g.personal })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn own_mailbox_first_then_grants_the_config_still_has_each_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "geheim\n").unwrap();
        let mailbox = |id: &str| {
            format!(
                "[[mailbox]]\nid = \"{id}\"\naddresses = [\"{id}@bau-firma.test\"]\nhosted_address = \"{id}@handwerk.test\"\npassword_file = \"{}\"\n",
                dir.path().join("pw").display()
            )
        };
        let text = format!(
            "[imap]\nhost = \"imap.handwerk.test\"\n[relay]\nhost = \"smtp.handwerk.test\"\n{}{}",
            mailbox("becker"),
            mailbox("buero")
        );
        let config = Config::parse(&text, &dir.path().join("p.toml")).unwrap();
        let grants = ["buero".to_string(), "weg".to_string(), "becker".to_string(), "buero".to_string()];
        let got = accounts(&crate::devices::login::mailboxes(&config, "becker", &grants));
        assert_eq!(
            got,
            [
                Access { account_id: "becker".into(), mailbox: "becker".into(), personal: true },
                Access { account_id: "buero".into(), mailbox: "buero".into(), personal: false },
            ]
        );
        assert!(
            crate::devices::login::mailboxes(&config, "weg", &[]).is_empty(),
            "a mailbox the config no longer has is no account"
        );
    }
}
