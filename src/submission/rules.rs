//! The pure rules of the submission server, apart from any socket: which mailbox a sender
//! address belongs to (and the words when it belongs to none), whether AUTH may happen
//! before TLS, how an AUTH PLAIN or LOGIN answer decodes, and the `Received:` trace header.
//!
//! The sender rule: `MAIL FROM`, the message's one `From:` and its `Sender:` (if any) must
//! each be an address of a mailbox the device may use (`devices::login::mailboxes`: its own,
//! then its grants), any of the addresses the config gives that mailbox (`all_addresses`), in
//! any case. The header must hold exactly one `From` field and at most one `Sender` field,
//! counted raw (`outbox::senders`, the rule `enqueue` applies to every path again). The
//! message is queued for the mailbox its `From:` belongs to. Nothing here ever sees the token
//! after decoding hands it back; nothing here logs.
//!
//! The `Received:` line goes to every recipient: it names the device by id and name and never
//! carries the phone's address or its EHLO text (often its address on the local network).

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

/// The one `From:` address of a message and its `Sender:` address if it has one, or why it
/// cannot be checked (see `outbox::senders`: fields are counted raw, only the header is read).
pub fn header_senders(raw: &[u8]) -> Result<(String, Option<String>), String> {
    let (from, sender) = crate::outbox::senders(raw)?;
    Ok((from.email, sender.map(|s| s.email)))
}

/// AUTH is allowed before TLS only on a connection to a loopback address of ours: the token
/// never crosses a network in clear text.
pub fn plain_auth_allowed(local: IpAddr, tls: bool) -> bool {
    tls || local.is_loopback() || local.to_canonical().is_loopback()
}

/// A presented credential: user name (may be empty), token, and the identity the client
/// asks to act as (AUTH PLAIN's authzid, when not empty).
#[derive(PartialEq, Eq)]
pub struct Credential {
    pub user: String,
    pub token: String,
    pub authz: Option<String>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("user", &self.user)
            .field("token", &"[redacted]")
            .field("authz", &self.authz)
            .finish()
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

/// AUTH PLAIN (RFC 4616): `authzid NUL authcid NUL passwd`. A device acts only as itself:
/// the session lets a non-empty authzid in only when it names the device's own mailbox
/// ([`authz_allowed`]), as the user name must.
pub fn plain(answer: &str) -> Option<Credential> {
    let bytes = b64(answer)?;
    let text = String::from_utf8(bytes).ok()?;
    let mut parts = text.split('\0');
    let (authz, user, token) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let authz = Some(authz.to_string()).filter(|a| !a.is_empty());
    Some(Credential { user: user.to_string(), token: token.to_string(), authz })
}

/// Whether an AUTH PLAIN authzid lets the logged-in device act as itself: it names the
/// device's own mailbox (its id or an address, in any case; `devices::login::names_mailbox`).
pub fn authz_allowed(config: &Config, own_mailbox: &str, authz: Option<&str>) -> bool {
    authz.is_none_or(|a| crate::devices::login::names_mailbox(config, own_mailbox, a))
}

/// One AUTH LOGIN answer (a user name or a token), decoded; None when it is not base64 of
/// UTF-8 text.
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

/// What the `Received:` header says about one submission. Neither the phone's address nor
/// its EHLO name is here: the line goes to every recipient.
#[derive(Debug)]
pub struct Trace<'a> {
    pub host: &'a str,
    pub device_id: i64,
    pub device_name: &'a str,
    pub tls: bool,
    /// RFC 5322 date-time.
    pub date: &'a str,
}

/// The `Received:` trace header (RFC 5321 §4.4) naming postbote and the device by id and
/// name (never its token or address), with CRLF. A name that is not ASCII is one or more
/// RFC 2047 encoded words in the comment (§5(2) allows them there, not in a quoted string).
pub fn received(t: &Trace<'_>) -> String {
    let with = if t.tls { "ESMTPSA" } else { "ESMTPA" };
    let name = header_safe(t.device_name).replace('"', "'");
    let name = if name.is_ascii() { format!("\"{name}\"") } else { crate::outbox::compose::encode_word(&name) };
    format!(
        "Received: from device-{id}\r\n\tby {} (postbote) with {with}\r\n\t(device {id} {name}); {}\r\n",
        header_safe(t.host),
        t.date,
        id = t.device_id,
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
    fn header_senders_takes_exactly_one_from_field_and_at_most_one_sender() {
        assert_eq!(header_senders(b"From: B <b@x.test>\r\n\r\nhi\r\n").unwrap(), ("b@x.test".into(), None));
        assert_eq!(
            header_senders(b"From: b@x.test\r\nSender: S <s@x.test>\r\n\r\nhi\r\n").unwrap(),
            ("b@x.test".into(), Some("s@x.test".into()))
        );
        assert!(header_senders(b"Subject: x\r\n\r\nhi\r\n").is_err());
        assert!(header_senders(b"From: a@x.test, b@x.test\r\n\r\nhi\r\n").is_err());
        // Regression: the parser kept the last of two From fields, which then passed.
        assert!(header_senders(b"From: evil@y.test\r\nFrom: b@x.test\r\n\r\nhi\r\n").is_err());
        assert!(header_senders(b"From: b@x.test\r\nSender: b@x.test\r\nsender: e@y.test\r\n\r\nhi\r\n").is_err());
        // A From line in the body is content.
        assert!(header_senders(b"From: b@x.test\r\n\r\nFrom: e@y.test\r\n").is_ok());
    }

    #[test]
    fn an_authzid_must_name_the_devices_own_mailbox() {
        let dir = tempfile::tempdir().unwrap();
        let app = crate::app::for_test(dir.path(), true);
        for ok in [None, Some("becker"), Some("Becker"), Some("BECKER@bau-firma.test"), Some("b@h.test")] {
            assert!(authz_allowed(&app.config, "becker", ok), "{ok:?}");
        }
        assert!(!authz_allowed(&app.config, "becker", Some("info")));
        assert!(!authz_allowed(&app.config, "becker", Some("info@bau-firma.test")));
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
        assert_eq!(plain(&B64.encode("Becker\0becker\0tok")).unwrap().authz.as_deref(), Some("Becker"));
        assert_eq!(c.authz, None);
        assert!(plain(&B64.encode("a\0b\0c\0d")).is_none());
        assert!(plain(&B64.encode("becker tok")).is_none());
        assert!(plain("not base64!").is_none());
        assert_eq!(login_answer(&B64.encode("becker")).unwrap(), "becker");
        assert_eq!(login_answer("=").unwrap(), "");
        assert!(!format!("{c:?}").contains("tok\""), "Debug hides the token");
    }

    #[test]
    fn the_trace_header_names_the_device_and_cannot_be_broken_by_client_text() {
        let h = received(&Trace {
            host: "mail.bau-firma.de",
            device_id: 3,
            device_name: "iPhone \"Becker\" (neu)\r\nBcc: x@y",
            tls: true,
            date: "Fri, 4 Dec 2026 19:00:00 +0100",
        });
        assert_eq!(
            h,
            "Received: from device-3\r\n\tby mail.bau-firma.de (postbote) with ESMTPSA\r\n\
             \t(device 3 \"iPhone 'Becker' neuBcc: x@y\"); Fri, 4 Dec 2026 19:00:00 +0100\r\n"
        );
        // A name that is not ASCII is encoded, and the header stays ASCII.
        let h = received(&Trace {
            host: "mail.bau-firma.de",
            device_id: 4,
            device_name: "Jürgens Handy",
            tls: false,
            date: "Fri, 4 Dec 2026 19:00:00 +0100",
        });
        assert!(h.is_ascii(), "{h}");
        assert!(h.contains("(device 4 =?UTF-8?B?"), "{h}");
        assert!(!h.contains('"'), "no encoded word inside a quoted string: {h}");
    }
}
