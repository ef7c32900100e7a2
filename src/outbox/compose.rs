//! Byte-level header work on queued messages, and the notices postbote writes to a sender.
//!
//! Enqueueing normalises line ends to CRLF, removes Bcc, adds a Message-ID on the company
//! domain and a Date where they are missing, and rewrites a From that carries the hosted
//! address to the company address (the rewrite the vendor article describes). Everything else
//! in the message is left byte for byte as the caller made it. Pure functions, no I/O.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

/// Bare LF or CR become CRLF.
pub fn normalize_crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 40);
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                if raw.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// Whether every line of `raw` already ends with CRLF (no bare CR or LF), so
/// [`normalize_crlf`] would change nothing.
pub fn is_crlf(raw: &[u8]) -> bool {
    let mut i = 0;
    while let Some(p) = memchr::memchr2(b'\r', b'\n', &raw[i..]) {
        let at = i + p;
        if raw[at] == b'\n' || raw.get(at + 1) != Some(&b'\n') {
            return false;
        }
        i = at + 2;
    }
    true
}

/// Split a CRLF message into its header fields (each with its folded continuation lines and
/// final CRLF) and the rest (the empty line and the body). None if there is no header section.
pub fn split_headers(raw: &[u8]) -> Option<(Vec<Vec<u8>>, &[u8])> {
    let mut fields: Vec<Vec<u8>> = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        let end = raw[i..].windows(2).position(|w| w == b"\r\n").map(|p| i + p + 2).unwrap_or(raw.len());
        let line = &raw[i..end];
        if line == b"\r\n" {
            return if fields.is_empty() { None } else { Some((fields, &raw[i..])) };
        }
        if line[0] == b' ' || line[0] == b'\t' {
            fields.last_mut()?.extend_from_slice(line);
        } else {
            if !line.contains(&b':') {
                return None;
            }
            fields.push(line.to_vec());
        }
        i = end;
    }
    // Headers only, no body: add the empty line.
    if fields.is_empty() { None } else { Some((fields, b"\r\n")) }
}

pub fn field_name(field: &[u8]) -> &[u8] {
    let colon = field.iter().position(|b| *b == b':').unwrap_or(field.len());
    let n = &field[..colon];
    n.iter().rposition(|b| !b.is_ascii_whitespace()).map(|p| &n[..=p]).unwrap_or(n)
}

pub fn is_field(field: &[u8], name: &str) -> bool {
    field_name(field).eq_ignore_ascii_case(name.as_bytes())
}

pub fn join(fields: &[Vec<u8>], rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(fields.iter().map(Vec::len).sum::<usize>() + rest.len());
    for f in fields {
        out.extend_from_slice(f);
    }
    out.extend_from_slice(rest);
    out
}

/// A random Message-ID (without brackets) on `domain`.
pub fn new_message_id(domain: &str) -> String {
    use rand::Rng;
    let n: u128 = rand::rng().random();
    format!("{n:032x}.postbote@{domain}")
}

/// RFC 5322 date in the given zone.
pub fn date_header(tz: chrono_tz::Tz) -> String {
    chrono::Utc::now().with_timezone(&tz).format("%a, %d %b %Y %H:%M:%S %z").to_string()
}

/// An unstructured header value: as is when ASCII, else one RFC 2047 B-word per ~45 bytes.
/// Control characters (a CR or LF that a decoded subject or name may hold) become spaces, so a
/// value can never end its header line and start another.
pub fn encode_word(s: &str) -> String {
    let s: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if s.is_ascii() {
        return s;
    }
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in s.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(format!("=?UTF-8?B?{}?=", B64.encode(&chunk)));
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(format!("=?UTF-8?B?{}?=", B64.encode(&chunk)));
    }
    words.join("\r\n ")
}

/// A display name for a From header: quoted (or encoded) as needed. Control characters in
/// the name become spaces (see [`encode_word`]).
pub fn mailbox_header(name: Option<&str>, addr: &str) -> String {
    let name = name.map(|n| n.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>());
    match name.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        None => addr.to_string(),
        Some(n) if !n.is_ascii() => format!("{} <{addr}>", encode_word(n)),
        Some(n) => format!("\"{}\" <{addr}>", n.replace('\\', "\\\\").replace('"', "\\\"")),
    }
}

/// What went wrong for one recipient, for a notice.
pub struct NoticeLine {
    pub recipient: String,
    pub reply: String,
}

/// A plain-language notice (German, then English) to the sender of a message that could not
/// be delivered to some recipients. `Auto-Submitted` keeps the auto-responder away from it.
pub fn notice(
    tz: chrono_tz::Tz,
    to: &str,
    domain: &str,
    original_subject: &str,
    original_id: &str,
    lines: &[NoticeLine],
    expired: bool,
) -> Vec<u8> {
    let (de_why, en_why) = if expired {
        (
            "Die Nachricht konnte über längere Zeit nicht zugestellt werden; postbote hat aufgegeben.",
            "The message could not be delivered for a long time; postbote has given up.",
        )
    } else {
        (
            "Der Empfangsserver hat die Nachricht für diese Empfänger abgelehnt. Ein erneuter Versuch ändert daran nichts: bitte Adresse prüfen.",
            "The receiving server refused the message for these recipients. Trying again will not help: please check the address.",
        )
    };
    let mut list = String::new();
    for l in lines {
        list.push_str(&format!("  {}\r\n    {}\r\n", l.recipient, l.reply));
    }
    let subject = if original_subject.is_empty() { "(ohne Betreff / no subject)" } else { original_subject };
    let body = format!(
        "Ihre Nachricht \"{subject}\" wurde an folgende Empfänger NICHT zugestellt:\r\n\r\n{list}\r\n{de_why}\r\nAn alle anderen Empfänger wurde sie zugestellt.\r\n\r\n\
         ----\r\n\r\nYour message \"{subject}\" was NOT delivered to these recipients:\r\n\r\n{list}\r\n{en_why}\r\nIt was delivered to every other recipient.\r\n\r\n\
         (postbote, Nachricht {original_id})\r\n"
    );
    let hdr = format!(
        "From: \"postbote\" <mailer-daemon@{domain}>\r\nTo: <{to}>\r\nSubject: {}\r\nDate: {}\r\nMessage-ID: <{}>\r\n\
         In-Reply-To: <{original_id}>\r\nReferences: <{original_id}>\r\nAuto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
        encode_word(&format!("Nicht zugestellt / Not delivered: {subject}")),
        date_header(tz),
        new_message_id(domain),
    );
    let mut out = hdr.into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_keeps_folding_and_join_round_trips() {
        assert!(is_crlf(b"a\r\nb\r\n") && is_crlf(b"") && !is_crlf(b"a\nb\r\n") && !is_crlf(b"a\r"));
        assert!(!is_crlf(b"a\rb\r\n"));
        let raw = normalize_crlf(b"From: a@b.test\nSubject: one\n two\nBcc: x@y.test\n\nbody\n.\n");
        let (fields, rest) = split_headers(&raw).unwrap();
        assert_eq!(fields.len(), 3);
        assert_eq!(fields[1], b"Subject: one\r\n two\r\n");
        assert!(is_field(&fields[2], "bcc"));
        assert_eq!(join(&fields, rest), raw);
        assert!(split_headers(b"no header here\r\n\r\nx").is_none());
    }

    #[test]
    fn a_line_break_in_a_decoded_subject_or_name_never_starts_a_header() {
        assert_eq!(encode_word("Hallo\r\nBcc: x@y.test"), "Hallo  Bcc: x@y.test");
        let long = encode_word(&format!("{}\r\nBcc: x@y.test", "Grüße ".repeat(20)));
        assert!(long.split("\r\n").skip(1).all(|l| l.starts_with(' ')), "only folding: {long:?}");
        assert_eq!(mailbox_header(Some("Eve\r\nBcc: x@y.test"), "a@b.test"), "\"Eve  Bcc: x@y.test\" <a@b.test>");
        let n = notice(chrono_tz::Europe::Berlin, "a@b.test", "b.test", "Hi\r\nBcc: x@y.test", "id@b.test", &[], true);
        let (fields, _) = split_headers(&n).unwrap();
        assert!(!fields.iter().any(|f| is_field(f, "Bcc")), "{}", String::from_utf8_lossy(&n));
    }

    #[test]
    fn notice_is_readable_and_marked_automatic() {
        let n = notice(
            chrono_tz::Europe::Berlin,
            "becker@bau-firma.test",
            "bau-firma.test",
            "Angebot Bäder",
            "abc@bau-firma.test",
            &[NoticeLine { recipient: "reject@kunde.test".into(), reply: "550 5.1.1 User unknown".into() }],
            false,
        );
        let p = crate::message::parse(&n);
        assert_eq!(p.subject, "Nicht zugestellt / Not delivered: Angebot Bäder");
        assert_eq!(p.in_reply_to, vec!["abc@bau-firma.test"]);
        let text = String::from_utf8(n).unwrap();
        assert!(text.contains("Auto-Submitted: auto-generated"));
        assert!(text.contains("NICHT zugestellt") && text.contains("NOT delivered") && text.contains("550 5.1.1"));
    }
}
