//! The pure rules of the submission server, apart from any socket: which mailbox a sender
//! address belongs to (and the words when it belongs to none), whether AUTH may happen
//! before TLS, how an AUTH PLAIN or LOGIN answer decodes, and the `Received:` trace header.
//!
//! The sender rule: `MAIL FROM` and the message's `From:` must each be an address of a
//! mailbox the device may use (`devices::login::mailboxes`: its own, then its grants), any
//! of the addresses the config gives that mailbox (`all_addresses`), in any case. The message
//! is queued for the mailbox its `From:` belongs to. Nothing here ever sees the token after
//! decoding hands it back; nothing here logs.

use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use crate::config::Config;
use crate::devices::login::Granted;

/// The mailbox (of those the device may use) that `addr` is an address of, or the reason
/// why none: a sentence that names the allowed mailboxes and their addresses.
pub fn sender_mailbox(config: &Config, granted: &[Granted], addr: &str) -> Result<String, String> {
    let addr = addr.trim();
    for g in granted {
        if let Some(mb) = config.mailbox(&g.mailbox)
            && mb.all_addresses().any(|a| a.eq_ignore_ascii_case(addr))
        {
            return Ok(mb.id.clone());
        }
    }
    let allowed: Vec<String> = granted
        .iter()
        .filter_map(|g| config.mailbox(&g.mailbox))
        .map(|mb| format!("mailbox {} ({})", mb.id, mb.addresses.join(", ")))
        .collect();
    let shown = if addr.is_empty() { "<>".to_string() } else { format!("<{addr}>") };
    Err(format!("{shown} is not an address of this device's mailboxes; send as {}", allowed.join(" or ")))
}

/// The one `From:` address of a message, or why it cannot be checked.
pub fn header_from(raw: &[u8]) -> Result<String, &'static str> {
    let parsed = crate::message::parse(raw);
    match parsed.from.as_slice() {
        [one] if !one.email.is_empty() => Ok(one.email.clone()),
        [] | [_] => Err("the message has no From: address"),
        _ => Err("the message has more than one From: address"),
    }
}

/// AUTH is allowed before TLS only on a connection to a loopback address of ours: the token
/// never crosses a network in clear text.
pub fn plain_auth_allowed(local: IpAddr, tls: bool) -> bool {
    tls || local.is_loopback() || local.to_canonical().is_loopback()
}

/// A presented credential: user name (may be empty) and token.
#[derive(PartialEq, Eq)]
pub struct Credential {
    pub user: String,
    pub token: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential").field("user", &self.user).field("token", &"[redacted]").finish()
    }
}

/// Base64 of a SASL answer ("=" is the empty answer, RFC 4954 §4).
pub fn b64(answer: &str) -> Option<Vec<u8>> {
    let a = answer.trim();
    if a == "=" {
        return Some(Vec::new());
    }
    B64.decode(a).ok()
}

/// AUTH PLAIN (RFC 4616): `authzid NUL authcid NUL passwd`. An authzid other than the
/// authcid is refused (a device acts only as itself).
pub fn plain(answer: &str) -> Option<Credential> {
    let bytes = b64(answer)?;
    let text = String::from_utf8(bytes).ok()?;
    let mut parts = text.split('\0');
    let (authz, user, token) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || (!authz.is_empty() && authz != user) {
        return None;
    }
    Some(Credential { user: user.to_string(), token: token.to_string() })
}

/// One AUTH LOGIN answer (a user name or a token), decoded.
pub fn login_answer(answer: &str) -> Option<String> {
    String::from_utf8(b64(answer)?).ok()
}

/// Characters that may go into a header field from a client or a device name: printable,
/// no line breaks, no parentheses that would end our comment, shortened.
fn header_safe(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() && !matches!(c, '(' | ')' | '\\'))
        .take(64)
        .collect::<String>()
        .trim()
        .to_string()
}

/// What the `Received:` header says about one submission.
#[derive(Debug)]
pub struct Trace<'a> {
    pub helo: &'a str,
    pub peer: IpAddr,
    pub host: &'a str,
    pub device_id: i64,
    pub device_name: &'a str,
    pub tls: bool,
    /// RFC 5322 date-time.
    pub date: &'a str,
}

/// The `Received:` trace header (RFC 5321 §4.4) naming postbote and the device (never its
/// token), with CRLF.
pub fn received(t: &Trace<'_>) -> String {
    let with = if t.tls { "ESMTPSA" } else { "ESMTPA" };
    let helo = header_safe(t.helo);
    let helo = if helo.is_empty() { "unknown".to_string() } else { helo };
    format!(
        "Received: from {helo} ([{}])\r\n\tby {} (postbote) with {with}\r\n\t(device {} \"{}\"); {}\r\n",
        t.peer,
        header_safe(t.host),
        t.device_id,
        header_safe(t.device_name).replace('"', "'"),
        t.date
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sender_must_be_an_address_of_an_allowed_mailbox_in_any_case() {
        let dir = tempfile::tempdir().unwrap();
        let app = crate::app::for_test(dir.path(), true);
        let own = crate::devices::login::mailboxes(&app.config, "becker", &[]);
        let both = crate::devices::login::mailboxes(&app.config, "becker", &["info".into()]);
        assert_eq!(sender_mailbox(&app.config, &own, "Becker@Bau-Firma.test").unwrap(), "becker");
        assert_eq!(sender_mailbox(&app.config, &own, "B@H.TEST").unwrap(), "becker", "the hosted address counts");
        assert_eq!(sender_mailbox(&app.config, &both, "info@bau-firma.test").unwrap(), "info");
        let e = sender_mailbox(&app.config, &own, "info@bau-firma.test").unwrap_err();
        assert_eq!(
            e,
            "<info@bau-firma.test> is not an address of this device's mailboxes; send as mailbox becker (becker@bau-firma.test)"
        );
        let e = sender_mailbox(&app.config, &both, "chef@example.test").unwrap_err();
        assert!(e.contains("mailbox becker (becker@bau-firma.test) or mailbox info (info@bau-firma.test)"), "{e}");
        assert!(sender_mailbox(&app.config, &own, "").unwrap_err().starts_with("<> is not"));
    }

    #[test]
    fn header_from_takes_exactly_one_address() {
        assert_eq!(header_from(b"From: B <b@x.test>\r\n\r\nhi\r\n").unwrap(), "b@x.test");
        assert!(header_from(b"Subject: x\r\n\r\nhi\r\n").is_err());
        assert!(header_from(b"From: a@x.test, b@x.test\r\n\r\nhi\r\n").is_err());
    }

    #[test]
    fn auth_before_tls_only_on_loopback() {
        assert!(plain_auth_allowed("127.0.0.1".parse().unwrap(), false));
        assert!(plain_auth_allowed("::1".parse().unwrap(), false));
        assert!(plain_auth_allowed("::ffff:127.0.0.1".parse().unwrap(), false));
        assert!(!plain_auth_allowed("192.0.2.10".parse().unwrap(), false));
        assert!(!plain_auth_allowed("2001:db8::1".parse().unwrap(), false));
        assert!(plain_auth_allowed("192.0.2.10".parse().unwrap(), true));
    }

    #[test]
    fn sasl_answers_decode() {
        let c = plain(&B64.encode("\0becker\0tok")).unwrap();
        assert_eq!((c.user.as_str(), c.token.as_str()), ("becker", "tok"));
        assert!(plain(&B64.encode("becker\0becker\0tok")).is_some());
        assert!(plain(&B64.encode("info\0becker\0tok")).is_none(), "acting as another is refused");
        assert!(plain(&B64.encode("becker tok")).is_none());
        assert!(plain("not base64!").is_none());
        assert_eq!(login_answer(&B64.encode("becker")).unwrap(), "becker");
        assert_eq!(login_answer("=").unwrap(), "");
        assert!(!format!("{c:?}").contains("tok\""), "Debug hides the token");
    }

    #[test]
    fn the_trace_header_names_the_device_and_cannot_be_broken_by_client_text() {
        let h = received(&Trace {
            helo: "[192.168.1.5]\r\nBcc: x@y",
            peer: "192.0.2.7".parse().unwrap(),
            host: "mail.bau-firma.de",
            device_id: 3,
            device_name: "iPhone \"Becker\" (neu)",
            tls: true,
            date: "Fri, 4 Dec 2026 19:00:00 +0100",
        });
        assert_eq!(
            h,
            "Received: from [192.168.1.5]Bcc: x@y ([192.0.2.7])\r\n\tby mail.bau-firma.de (postbote) with ESMTPSA\r\n\
             \t(device 3 \"iPhone 'Becker' neu\"); Fri, 4 Dec 2026 19:00:00 +0100\r\n"
        );
    }
}
