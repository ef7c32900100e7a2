//! The Apple configuration profile (`.mobileconfig`) that sets up iPhone Mail in one step.
//!
//! A property list (XML) with one `com.apple.mail.managed` payload: the IMAP account and its
//! SMTP server, the host and ports phones use from outside, "Use SSL" on for `tls` and for
//! `starttls` alike (in Apple's Mail settings it means "TLS required": on 143 or 587 Mail then
//! upgrades with STARTTLS, as Apple's own iCloud settings say for 587; off, Mail would send the
//! token in clear whenever the server offers no STARTTLS), the mailbox's first company address as the
//! user name and e-mail address, and the device token as both passwords. The account is
//! described by the device's name. Each profile has fresh PayloadUUIDs and a PayloadIdentifier
//! of its own, so installing a second one never replaces the first. The profile is unsigned:
//! iOS says "unverified" and installs it all the same.
//!
//! The profile holds the token in clear: it is written 0600 and served once (see
//! [`super::link`]). Every value goes through [`super::xml::escape`].

use super::account::Account;
use super::xml::escape;
use crate::config::Security;

/// The profile's MIME type, as iOS expects it for a download.
pub const CONTENT_TYPE: &str = "application/x-apple-aspen-config";

/// The profile's file name for a device: its name with every run of characters other than
/// ASCII letters, digits, `.`, `_` and `-` as one `-` (a header's filename and a path alike),
/// then `.mobileconfig`.
pub fn file_name(device_name: &str) -> String {
    let mut stem = String::new();
    for c in device_name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || (c == '.' && !stem.is_empty()) {
            stem.push(c);
        } else if !stem.ends_with('-') && !stem.is_empty() {
            stem.push('-');
        }
    }
    let stem = stem.trim_end_matches(['-', '.']);
    format!("{}.mobileconfig", if stem.is_empty() { "postbote" } else { stem })
}

/// A random (version 4) UUID in capitals, as Apple's tools write them.
pub fn new_uuid() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode_upper(b);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// Apple's "Use SSL" for a port: TLS is required, from the first byte (`tls`) or after
/// STARTTLS (`starttls`); postbote never offers a phone a port without TLS.
fn ssl_required(security: Security) -> bool {
    match security {
        Security::Tls | Security::StartTls => true,
    }
}

/// The profile for `device_name` of the mailbox `account`, with `token` as the password.
pub fn mobileconfig(account: &Account, device_name: &str, token: &str) -> String {
    mobileconfig_with(account, device_name, token, &new_uuid(), &new_uuid())
}

/// [`mobileconfig`] with its UUIDs given (the profile's and the mail payload's).
pub fn mobileconfig_with(account: &Account, device_name: &str, token: &str, profile: &str, payload: &str) -> String {
    let s = |v: &str| format!("<string>{}</string>", escape(v));
    let b = |v: bool| if v { "<true/>" } else { "<false/>" }.to_string();
    let i = |v: u16| format!("<integer>{v}</integer>");
    let profile_id = format!("postbote.setup.{profile}");
    let mail: Vec<(&str, String)> = vec![
        ("EmailAccountDescription", s(device_name)),
        ("EmailAccountName", s(&account.display_name)),
        ("EmailAccountType", s("EmailTypeIMAP")),
        ("EmailAddress", s(&account.address)),
        ("IncomingMailServerAuthentication", s("EmailAuthPassword")),
        ("IncomingMailServerHostName", s(&account.host)),
        ("IncomingMailServerPortNumber", i(account.imap_port)),
        ("IncomingMailServerUseSSL", b(ssl_required(account.imap_security))),
        ("IncomingMailServerUsername", s(account.user())),
        ("IncomingPassword", s(token)),
        ("OutgoingMailServerAuthentication", s("EmailAuthPassword")),
        ("OutgoingMailServerHostName", s(&account.host)),
        ("OutgoingMailServerPortNumber", i(account.smtp_port)),
        ("OutgoingMailServerUseSSL", b(ssl_required(account.smtp_security))),
        ("OutgoingMailServerUsername", s(account.user())),
        ("OutgoingPassword", s(token)),
        ("OutgoingPasswordSameAsIncomingPassword", b(true)),
        ("PayloadDescription", s(&format!("E-mail account {} on {}", account.address, account.host))),
        ("PayloadDisplayName", s(&format!("Mail {}", account.address))),
        ("PayloadIdentifier", s(&format!("{profile_id}.mail"))),
        ("PayloadType", s("com.apple.mail.managed")),
        ("PayloadUUID", s(payload)),
        ("PayloadVersion", i(1)),
    ];
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
         <plist version=\"1.0\">\n<dict>\n\t<key>PayloadContent</key>\n\t<array>\n\t\t<dict>\n",
    );
    for (k, v) in &mail {
        out.push_str(&format!("\t\t\t<key>{k}</key>\n\t\t\t{v}\n"));
    }
    out.push_str("\t\t</dict>\n\t</array>\n");
    let top: Vec<(&str, String)> = vec![
        ("PayloadDescription", s(&format!("Sets up {} on this device ({device_name}).", account.address))),
        ("PayloadDisplayName", s(&format!("postbote: {}", account.address))),
        ("PayloadIdentifier", s(&profile_id)),
        ("PayloadRemovalDisallowed", b(false)),
        ("PayloadType", s("Configuration")),
        ("PayloadUUID", s(profile)),
        ("PayloadVersion", i(1)),
    ];
    for (k, v) in &top {
        out.push_str(&format!("\t<key>{k}</key>\n\t{v}\n"));
    }
    out.push_str("</dict>\n</plist>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::super::account::sample;
    use super::super::xml::read::{Node, parse};
    use super::*;
    use proptest::prelude::*;

    /// A plist `<dict>` as (key, value element) pairs.
    fn dict(n: &Node) -> Vec<(String, Node)> {
        let els: Vec<&Node> = n.elements().collect();
        els.chunks(2).map(|p| (p[0].text(), p[1].clone())).collect()
    }

    fn get<'a>(d: &'a [(String, Node)], k: &str) -> &'a Node {
        &d.iter().find(|(key, _)| key == k).unwrap_or_else(|| panic!("no {k}")).1
    }

    #[test]
    fn one_mail_payload_with_hosts_ports_security_and_the_token() {
        let p = mobileconfig(&sample(), "iPhone Becker", "TOKEN-123");
        let root = parse(&p).unwrap();
        assert_eq!(root.name(), "plist");
        let top = dict(root.child("dict").unwrap());
        assert_eq!(get(&top, "PayloadType").text(), "Configuration");
        let content: Vec<&Node> = get(&top, "PayloadContent").elements().collect();
        assert_eq!(content.len(), 1);
        let mail = dict(content[0]);
        let text = |k: &str| get(&mail, k).text();
        let name = |k: &str| get(&mail, k).name().to_string();
        assert_eq!(text("PayloadType"), "com.apple.mail.managed");
        assert_eq!(text("EmailAccountType"), "EmailTypeIMAP");
        assert_eq!(text("EmailAccountDescription"), "iPhone Becker");
        assert_eq!(text("EmailAddress"), "becker@bau-firma.de");
        assert_eq!(text("IncomingMailServerHostName"), "mail.bau-firma.de");
        assert_eq!(text("OutgoingMailServerHostName"), "mail.bau-firma.de");
        assert_eq!(
            (text("IncomingMailServerPortNumber"), text("OutgoingMailServerPortNumber")),
            ("993".into(), "587".into())
        );
        assert_eq!(
            (name("IncomingMailServerUseSSL"), name("OutgoingMailServerUseSSL")),
            ("true".into(), "true".into()),
            "STARTTLS on 587 is \"Use SSL\" too: TLS required"
        );
        assert_eq!(text("IncomingMailServerUsername"), "becker@bau-firma.de");
        assert_eq!((text("IncomingPassword"), text("OutgoingPassword")), ("TOKEN-123".into(), "TOKEN-123".into()));
        assert_ne!(text("PayloadUUID"), get(&top, "PayloadUUID").text());
        assert!(text("PayloadIdentifier").starts_with(&get(&top, "PayloadIdentifier").text()));
        assert_eq!(file_name("iPhone Becker"), "iPhone-Becker.mobileconfig");
        assert_eq!(file_name("../Müllers \"Handy\"/"), "M-llers-Handy.mobileconfig");
        assert_eq!(file_name(" ü "), "postbote.mobileconfig");
        // Two profiles never share a UUID.
        assert_ne!(new_uuid(), new_uuid());
        assert_eq!(new_uuid().len(), 36);
    }

    proptest! {
        /// Any device name, address or display name leaves a well-formed plist whose values
        /// read back as given.
        #[test]
        fn odd_names_never_break_the_profile(name in "\\PC*", local in "[a-z&<>\"'.+]{1,12}", display in any::<String>()) {
            let mut a = sample();
            a.address = format!("{local}@bau-firma.de");
            a.display_name = display.clone();
            let p = mobileconfig(&a, &name, "t");
            let root = parse(&p).map_err(|m| TestCaseError::fail(format!("{m}: {p}")))?;
            let top = dict(root.child("dict").unwrap());
            let mail = dict(get(&top, "PayloadContent").elements().next().unwrap());
            prop_assert_eq!(get(&mail, "EmailAccountDescription").text(), name);
            prop_assert_eq!(get(&mail, "EmailAddress").text(), a.address.clone());
            prop_assert_eq!(get(&mail, "IncomingMailServerUsername").text(), a.address);
            let clean: String = display.chars().map(|c| if super::super::xml::escape(&c.to_string()) == "\u{FFFD}" { '\u{FFFD}' } else { c }).collect();
            prop_assert_eq!(get(&mail, "EmailAccountName").text(), clean);
        }
    }
}
