//! The Thunderbird autoconfig answer (`config-v1.1.xml`, also read by K-9 Mail / Thunderbird
//! for Android and others), served to anyone without a login: it holds no secret.
//!
//! One `emailProvider` (its id the first company domain) lists every company domain, then the
//! IMAP server and the SMTP server with the host and ports phones use from outside,
//! `socketType` `SSL` or `STARTTLS`, `%EMAILADDRESS%` as the user name (the login check takes
//! a mailbox's address) and `password-cleartext` (the device token, inside TLS).

use super::account::{Account, security_word};
use super::xml::escape;
use crate::config::Security;

/// The answer's MIME type.
pub const CONTENT_TYPE: &str = "application/xml; charset=utf-8";

fn socket_type(s: Security) -> &'static str {
    match s {
        Security::Tls => "SSL",
        Security::StartTls => "STARTTLS",
    }
}

/// The autoconfig document for the servers of `account` and its `domains`.
pub fn config_v11(account: &Account) -> String {
    let id = account.domains.first().map(String::as_str).unwrap_or(account.host.as_str());
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<clientConfig version=\"1.1\">\n");
    out.push_str(&format!("  <emailProvider id=\"{}\">\n", escape(id)));
    for d in &account.domains {
        out.push_str(&format!("    <domain>{}</domain>\n", escape(d)));
    }
    out.push_str(&format!("    <displayName>postbote ({})</displayName>\n", escape(id)));
    out.push_str("    <displayShortName>postbote</displayShortName>\n");
    let server = |tag: &str, ty: &str, port: u16, sec: Security| {
        format!(
            "    <{tag} type=\"{ty}\">\n      <hostname>{}</hostname>\n      <port>{port}</port>\n      \
             <socketType>{}</socketType>\n      <username>%EMAILADDRESS%</username>\n      \
             <authentication>password-cleartext</authentication>\n    </{tag}>\n",
            escape(&account.host),
            socket_type(sec),
        )
    };
    out.push_str(&server("incomingServer", "imap", account.imap_port, account.imap_security));
    out.push_str(&server("outgoingServer", "smtp", account.smtp_port, account.smtp_security));
    out.push_str("  </emailProvider>\n</clientConfig>\n");
    out
}

/// The same settings as lines for a person setting up an app by hand (password = the token).
pub fn manual(account: &Account) -> Vec<(String, String)> {
    vec![
        ("e-mail address".into(), account.address.clone()),
        ("user name".into(), account.user().to_string()),
        (
            "incoming (IMAP)".into(),
            format!("{}, port {}, {}", account.host, account.imap_port, security_word(account.imap_security)),
        ),
        (
            "outgoing (SMTP)".into(),
            format!("{}, port {}, {}", account.host, account.smtp_port, security_word(account.smtp_security)),
        ),
        ("password".into(), "the token above (for incoming and outgoing)".into()),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::account::sample;
    use super::super::xml::read::parse;
    use super::*;

    #[test]
    fn what_thunderbird_reads() {
        let mut a = sample();
        a.domains = vec!["bau-firma.de".into(), "b&f.de".into()];
        let x = config_v11(&a);
        let root = parse(&x).unwrap();
        assert_eq!((root.name(), root.attr("version")), ("clientConfig", Some("1.1")));
        let p = root.child("emailProvider").unwrap();
        assert_eq!(p.attr("id"), Some("bau-firma.de"));
        let domains: Vec<String> = p.elements().filter(|e| e.name() == "domain").map(|e| e.text()).collect();
        assert_eq!(domains, ["bau-firma.de", "b&f.de"]);
        for (tag, ty, port, sock) in
            [("incomingServer", "imap", "993", "SSL"), ("outgoingServer", "smtp", "587", "STARTTLS")]
        {
            let s = p.child(tag).unwrap();
            assert_eq!(s.attr("type"), Some(ty));
            let t = |k: &str| s.child(k).unwrap().text();
            assert_eq!(
                (t("hostname"), t("port"), t("socketType")),
                ("mail.bau-firma.de".into(), port.into(), sock.into())
            );
            assert_eq!((t("username"), t("authentication")), ("%EMAILADDRESS%".into(), "password-cleartext".into()));
        }
        assert!(!x.to_lowercase().contains("password<"), "no secret in it");
    }
}
