//! Parsing raw RFC 5322 bytes into the fields a phone's message list needs.
//!
//! `parse` never fails: mail-parser is built not to panic on hostile input, and whatever
//! it cannot make sense of is reported in `Parsed::problem` so the store can keep the raw
//! bytes and flag the message instead of dropping it. Header words in RFC 2047 and bodies in
//! any declared charset (ISO-8859-1, Windows-1252, UTF-8) are decoded by mail-parser; raw 8-bit
//! header bytes that are not UTF-8 are read as Windows-1252, the common case in German mail.
//! This module does no I/O.

use mail_parser::{Address, HeaderValue, MessageParser};
use serde::{Deserialize, Serialize};

/// An e-mail address with its display name, as stored (JSON) and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailAddress {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<String>,
    pub email: String,
}

impl std::fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.name {
            Some(n) if !n.is_empty() => write!(f, "{n} <{}>", self.email),
            _ => f.write_str(&self.email),
        }
    }
}

/// What the store keeps besides the raw bytes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    pub message_id: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub from: Vec<EmailAddress>,
    pub sender: Vec<EmailAddress>,
    pub to: Vec<EmailAddress>,
    pub cc: Vec<EmailAddress>,
    pub bcc: Vec<EmailAddress>,
    pub reply_to: Vec<EmailAddress>,
    pub subject: String,
    /// The Date header, unix seconds.
    pub sent_at: Option<i64>,
    pub preview: String,
    /// The decoded text of the body (HTML parts as text), lowercased, for `text`/`body`
    /// searches; at most [`SEARCH_CHARS`] characters.
    pub search_text: String,
    pub has_attachment: bool,
    /// Why the message is flagged as malformed, if it is.
    pub problem: Option<String>,
}

/// Characters of body text kept as the list preview (JMAP allows up to 256).
pub const PREVIEW_CHARS: usize = 256;

/// Characters of decoded body text kept for searching.
pub const SEARCH_CHARS: usize = 100_000;

pub fn parse(raw: &[u8]) -> Parsed {
    let header_end = find_header_end(raw);
    let Some(msg) = MessageParser::default().parse(raw) else {
        // Nothing to decode: the bytes themselves are what a search can find.
        let search_text =
            lower_capped(&squash_whitespace(&decode_8bit(&raw[..raw.len().min(SEARCH_CHARS * 4)]), SEARCH_CHARS));
        return Parsed {
            problem: Some("not a message: no header could be read".into()),
            search_text,
            ..Default::default()
        };
    };
    let mut p = Parsed {
        message_id: msg.message_id().map(clean_id),
        in_reply_to: id_list(msg.in_reply_to()),
        references: id_list(msg.references()),
        from: addresses(msg.from()),
        sender: addresses(msg.sender()),
        to: addresses(msg.to()),
        cc: addresses(msg.cc()),
        bcc: addresses(msg.bcc()),
        reply_to: addresses(msg.reply_to()),
        subject: msg.subject().map(|s| s.trim().to_string()).unwrap_or_default(),
        sent_at: msg.date().map(|d| d.to_timestamp()),
        preview: msg.body_preview(PREVIEW_CHARS).map(|s| squash_whitespace(&s, PREVIEW_CHARS)).unwrap_or_default(),
        search_text: search_form(&readable_body(&msg)),
        has_attachment: msg.attachment_count() > 0,
        problem: None,
    };

    // mail-parser drops header bytes that are not valid UTF-8 (raw 8-bit headers). Read the
    // subject ourselves in that case, as Windows-1252, which covers ISO-8859-1 umlauts.
    if let Some(raw_subject) = raw_header(&raw[..header_end], b"subject")
        && std::str::from_utf8(&raw_subject).is_err()
    {
        p.subject = decode_8bit(&raw_subject).trim().to_string();
    }

    let mut problems = Vec::new();
    if header_end == 0 || msg.headers().is_empty() {
        problems.push("no header section");
    }
    if msg.from().is_none() && msg.sender().is_none() {
        problems.push("no From");
    }
    if msg.header("Date").is_some() && msg.date().is_none() {
        problems.push("unreadable Date");
    }
    if !problems.is_empty() {
        p.problem = Some(problems.join(", "));
    }
    p
}

/// `body` as the search text keeps it: white space squashed to one space, lowercased (Unicode
/// rules), at most [`SEARCH_CHARS`] characters. ASCII text (most mail) is copied and
/// lowercased in bulk, then its white space runs are closed up in place in one branch-light
/// pass, with the same result as the general way (squash word by word, then lowercase, then
/// cut), which made three copies and was a tenth of a full sync's CPU time.
fn search_form(body: &str) -> String {
    if !body.is_ascii() {
        return lower_capped(&squash_whitespace(body, SEARCH_CHARS));
    }
    // The ASCII characters that are Unicode white space (`char::is_whitespace`).
    let space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\x0B' | b'\x0C' | b'\r');
    let mut out: Vec<u8> = Vec::with_capacity(body.len().min(SEARCH_CHARS + 1));
    // In slices, so that a huge body is read only as far as the cut needs.
    let mut after_space = true; // no space at the start
    for chunk in body.as_bytes().chunks(16 * 1024) {
        let from = out.len();
        out.extend_from_slice(chunk);
        let mut w = from;
        for r in from..out.len() {
            let b = out[r];
            let sp = space(b);
            out[w] = if sp { b' ' } else { b };
            w += usize::from(!(sp && after_space));
            after_space = sp;
        }
        out.truncate(w);
        if out.len() > SEARCH_CHARS {
            break;
        }
    }
    if out.last() == Some(&b' ') {
        out.pop();
    }
    out.truncate(SEARCH_CHARS);
    out.make_ascii_lowercase();
    String::from_utf8(out).unwrap_or_default()
}

/// `s` lowercased (Unicode rules), at most [`SEARCH_CHARS`] characters.
fn lower_capped(s: &str) -> String {
    let lower = s.to_lowercase();
    match lower.char_indices().nth(SEARCH_CHARS) {
        Some((cut, _)) => lower[..cut].to_string(),
        None => lower,
    }
}

/// A search needle as the search text is kept: white space squashed, lowercased.
pub fn search_needle(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// True when lowercasing `s` keeps every character's UTF-8 length, so byte offsets found in
/// the lowercased text are valid in `s` (not so for a few letters such as 'İ' or 'ẞ').
pub fn lowercase_keeps_offsets(s: &str) -> bool {
    s.chars().all(|c| c.to_lowercase().map(char::len_utf8).sum::<usize>() == c.len_utf8())
}

/// The text parts of the body, decoded from transfer encoding and charset (HTML as text), in
/// their own letter case; empty for a message without text parts (an attachment alone). A
/// single text part (most mail) is lent, not copied.
fn readable_body<'x>(msg: &'x mail_parser::Message<'_>) -> std::borrow::Cow<'x, str> {
    if msg.text_body_count() == 1
        && let Some(t) = msg.body_text(0)
    {
        return t;
    }
    let mut out = String::new();
    for i in 0..msg.text_body_count() {
        if let Some(t) = msg.body_text(i) {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&t);
        }
        if out.len() >= SEARCH_CHARS * 4 {
            break;
        }
    }
    out.into()
}

/// Characters of body text around a search hit that a search snippet shows.
pub const SNIPPET_CHARS: usize = 200;

/// The stretch of the body around the first place any of `terms` (lowercase) occurs, with
/// white space squashed and "…" where it was cut; None when no term occurs in the body.
/// For SearchSnippet/get, when the hit lies beyond the preview.
pub fn body_snippet(raw: &[u8], terms: &[String]) -> Option<String> {
    let msg = MessageParser::default().parse(raw)?;
    let text = squash_whitespace(&readable_body(&msg), SEARCH_CHARS);
    if !lowercase_keeps_offsets(&text) {
        return None; // lowercasing would move byte offsets: no safe cut
    }
    let lower = text.to_lowercase();
    let hit = terms.iter().filter(|t| !t.is_empty()).filter_map(|t| lower.find(t.as_str())).min()?;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let at = chars.partition_point(|(i, _)| *i < hit);
    let from = at.saturating_sub(SNIPPET_CHARS / 3);
    let to = (from + SNIPPET_CHARS).min(chars.len());
    let byte = |k: usize| chars.get(k).map_or(text.len(), |(i, _)| *i);
    let mut s = String::new();
    if from > 0 {
        s.push('…');
    }
    s.push_str(text[byte(from)..byte(to)].trim());
    if to < chars.len() {
        s.push('…');
    }
    Some(s)
}

/// Offset just past the blank line that ends the header section (0 if there is none).
/// A bare-LF blank line counts only before the first CRLF one: a CRLF message (all of them on
/// the wire) is read as far as its header ends, not to its end looking for "\n\n".
pub fn find_header_end(raw: &[u8]) -> usize {
    use memchr::memmem;
    let crlf = memmem::find(raw, b"\r\n\r\n").map(|i| i + 4);
    let lf = memmem::find(&raw[..crlf.unwrap_or(raw.len())], b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b).unwrap_or(0),
    }
}

/// The unfolded raw bytes of the first header named `name` (case-insensitive). White space
/// between the name and the colon is allowed (RFC 5322 §4.5 obsolete syntax), as
/// [`header_fields`] allows it, so both readers see the same fields.
pub fn raw_header(headers: &[u8], name: &[u8]) -> Option<Vec<u8>> {
    let mut lines = headers.split(|b| *b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|b| *b == b':') else { continue };
        if !trim_wsp_end(&line[..colon]).eq_ignore_ascii_case(name) {
            continue;
        }
        let mut value = line[colon + 1..].to_vec();
        while let Some(next) = lines.peek() {
            if next.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
                let next = lines.next().unwrap();
                value.extend_from_slice(next.strip_suffix(b"\r").unwrap_or(next));
            } else {
                break;
            }
        }
        return Some(value);
    }
    None
}

/// Every header field of the header section, in order: the name as written and the value
/// unfolded (CR and LF removed) and read with [`decode_8bit`], so a value with a raw 8-bit byte
/// is still seen. mail-parser's `headers_raw` leaves out any value that is not UTF-8, which made
/// such headers invisible to the auto-responder's safety checks; every decision reads this
/// instead. A line without a colon, or a continuation line with no field before it, is skipped.
/// With no blank line the whole input is read as headers.
pub fn header_fields(raw: &[u8]) -> Vec<(String, String)> {
    let end = find_header_end(raw);
    let headers = if end == 0 { raw } else { &raw[..end] };
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut continuing = false;
    for line in headers.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            if continuing && let Some((_, value)) = out.last_mut() {
                value.extend_from_slice(line);
            }
            continue;
        }
        continuing = false;
        let Some(colon) = line.iter().position(|b| *b == b':') else { continue };
        // Obsolete syntax (RFC 5322 §4.5) allows white space before the colon.
        let name = trim_wsp_end(&line[..colon]);
        if name.is_empty() || name.iter().any(|b| !(33..=126).contains(b)) {
            continue;
        }
        out.push((String::from_utf8_lossy(name).into_owned(), line[colon + 1..].to_vec()));
        continuing = true;
    }
    out.into_iter().map(|(n, v)| (n, decode_8bit(&v).replace(['\r', '\n'], ""))).collect()
}

/// A field name without the spaces and tabs between it and the colon.
fn trim_wsp_end(mut name: &[u8]) -> &[u8] {
    while let [rest @ .., b' ' | b'\t'] = name {
        name = rest;
    }
    name
}

/// Bytes that are UTF-8 stay as they are; anything else is read as Windows-1252.
pub fn decode_8bit(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => bytes.iter().map(|&b| cp1252(b)).collect(),
    }
}

fn cp1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž', '\u{8f}', '\u{90}', '‘',
        '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}', 'ž', 'Ÿ',
    ];
    match b {
        0x80..=0x9f => HIGH[(b - 0x80) as usize],
        _ => b as char,
    }
}

fn addresses(a: Option<&Address<'_>>) -> Vec<EmailAddress> {
    let Some(a) = a else { return Vec::new() };
    a.iter()
        .filter_map(|x| {
            let email = x.address()?.trim().to_string();
            if email.is_empty() {
                return None;
            }
            Some(EmailAddress { name: x.name().map(|n| n.trim().to_string()).filter(|n| !n.is_empty()), email })
        })
        .collect()
}

fn id_list(v: &HeaderValue<'_>) -> Vec<String> {
    match v {
        HeaderValue::Text(t) => vec![clean_id(t)],
        HeaderValue::TextList(l) => l.iter().map(|t| clean_id(t)).collect(),
        _ => Vec::new(),
    }
}

fn clean_id(s: &str) -> String {
    s.trim().trim_start_matches('<').trim_end_matches('>').to_string()
}

fn squash_whitespace(s: &str, max_chars: usize) -> String {
    // Most text is ASCII: then a byte is a char, and ASCII white space is Unicode white space
    // except the vertical tab, which `split_ascii_whitespace` would keep.
    if s.is_ascii() && !s.contains('\x0B') {
        return squash_words(s.split_ascii_whitespace(), max_chars, str::len);
    }
    squash_words(s.split_whitespace(), max_chars, |w| w.chars().count())
}

fn squash_words<'a>(words: impl Iterator<Item = &'a str>, max_chars: usize, count: fn(&str) -> usize) -> String {
    let mut out = String::new();
    let mut n = 0;
    for word in words {
        if n > 0 {
            out.push(' ');
            n += 1;
        }
        // A word that fits is copied whole (most of them): pushing char by char was the
        // largest single cost of storing a message.
        let chars = count(word);
        if n + chars <= max_chars {
            out.push_str(word);
            n += chars;
            continue;
        }
        for c in word.chars() {
            if n >= max_chars {
                return out;
            }
            out.push(c);
            n += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2047_umlaut_subject_and_latin1_body() {
        let raw = b"From: =?ISO-8859-1?Q?J=FCrgen_M=FCller?= <mueller@kunde.test>\r\n\
To: becker@bau-firma.de\r\n\
Subject: =?UTF-8?Q?Angebot_f=C3=BCr_Badsanierung_=E2=80=93_M=C3=BCller?=\r\n\
Date: Mon, 2 Nov 2026 09:15:00 +0100\r\n\
Message-ID: <abc@kunde.test>\r\n\
Content-Type: text/plain; charset=ISO-8859-1\r\n\
Content-Transfer-Encoding: 8bit\r\n\r\n\
Gr\xfc\xdfe aus K\xf6ln, bitte um R\xfcckruf.\r\n";
        let p = parse(raw);
        assert_eq!(p.subject, "Angebot für Badsanierung – Müller");
        assert_eq!(p.from[0].name.as_deref(), Some("Jürgen Müller"));
        assert_eq!(p.preview, "Grüße aus Köln, bitte um Rückruf.");
        assert_eq!(p.message_id.as_deref(), Some("abc@kunde.test"));
        assert_eq!(p.sent_at, Some(1_793_607_300));
        assert!(p.problem.is_none());
    }

    #[test]
    fn raw_8bit_latin1_subject_is_read_as_windows_1252() {
        let raw = b"From: a@b.test\nSubject: Pr\xfcfung der Rechnung\nDate: Mon, 2 Nov 2026 09:15:00 +0100\n\nx\n";
        assert_eq!(parse(raw).subject, "Prüfung der Rechnung");
    }

    /// mail-parser's `headers_raw` leaves out a value that is not UTF-8; `header_fields` keeps
    /// it, unfolded, and counts every occurrence.
    #[test]
    fn header_fields_keep_raw_8bit_values_and_every_repeat() {
        let raw: &[u8] = &[
            &b"Received: from a.m\xfcnchen.test\r\nReceived: from b\r\n\tby c\r\n"[..],
            b"Auto-Submitted :\r\n auto-replied (f\xfcr)\r\n more\r\nno colon here\r\n",
            b"Subject: x\r\n\r\nReceived: in the body\r\n",
        ]
        .concat();
        let mut mp: Vec<String> = Vec::new();
        for (n, _) in MessageParser::default().parse(raw).unwrap().headers_raw() {
            mp.push(n.to_string());
        }
        assert!(!mp.iter().any(|n| n == "Auto-Submitted"), "mail-parser drops the 8-bit value: {mp:?}");
        let f = header_fields(raw);
        let names: Vec<&str> = f.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["Received", "Received", "Auto-Submitted", "Subject"]);
        assert_eq!(f[0].1, " from a.münchen.test");
        assert_eq!(f[1].1, " from b\tby c");
        assert_eq!(f[2].1, " auto-replied (für) more");
    }

    #[test]
    fn malformed_input_is_flagged_not_lost() {
        for raw in [&b""[..], b"\x00\x01\x02garbage without headers", b"Subject: only\r\n\r\nbody"] {
            let p = parse(raw);
            assert!(p.problem.is_some(), "{raw:?} should be flagged");
        }
    }

    #[test]
    fn whitespace_is_squashed_and_cut_at_the_limit() {
        assert_eq!(squash_whitespace("  Grüße \r\n aus\tKöln  ", 100), "Grüße aus Köln");
        assert_eq!(squash_whitespace("Grüße aus Köln", 8), "Grüße au");
        assert_eq!(squash_whitespace("Grüße aus", 5), "Grüße ");
        assert_eq!(squash_whitespace("äöü", 2), "äö");
        assert_eq!(squash_whitespace("", 2), "");
        assert_eq!(squash_whitespace("a\x0Bb \x0C c", 10), "a b c");
        assert_eq!(squash_whitespace("a\u{a0}b\u{2003}c", 10), "a b c");
    }

    #[test]
    fn the_header_ends_at_the_first_blank_line_of_either_kind() {
        assert_eq!(find_header_end(b"A: b\r\n\r\nbody\n\nmore"), 8);
        assert_eq!(find_header_end(b"A: b\n\nbody\r\n\r\nmore"), 6);
        assert_eq!(find_header_end(b"A: b\nC: d\n\n"), 11);
        assert_eq!(find_header_end(b"A: b\r\n\n\r\n\r\n"), 7, "LF after CRLF");
        assert_eq!(find_header_end(b"A: b\r\nC: d"), 0);
        assert_eq!(find_header_end(b""), 0);
    }

    #[test]
    fn the_ascii_search_form_is_the_general_one() {
        let general = |s: &str| lower_capped(&squash_whitespace(s, SEARCH_CHARS));
        let long = "Angebot  Bad\r\n".repeat(SEARCH_CHARS / 7);
        let exact = format!("{} Xy", "a".repeat(SEARCH_CHARS - 2));
        let at_cut = format!("{}  \r\nB c", "a".repeat(SEARCH_CHARS - 1));
        let past_cut = format!("{}\n\nb", "a".repeat(SEARCH_CHARS));
        let over_slices = format!("{}   {}  ", "x ".repeat(20_000), "Y\t".repeat(40_000));
        for s in [
            "",
            "   ",
            "  Termin am\r\n\tDONNERSTAG \x0B um\x0C 9  ",
            "a\x0Bb",
            "ein-wort",
            long.as_str(),
            exact.as_str(),
            &exact[1..],
            at_cut.as_str(),
            past_cut.as_str(),
            over_slices.as_str(),
        ] {
            assert_eq!(search_form(s), general(s), "{:?}", &s[..s.len().min(40)]);
        }
        assert_eq!(search_form("Grüße  AUS Köln"), "grüße aus köln");
        assert_eq!(search_form(&long).len(), SEARCH_CHARS);
    }

    #[test]
    fn references_and_threading_ids() {
        let raw = b"From: a@b.test\r\nMessage-ID: <3@x>\r\nIn-Reply-To: <2@x>\r\nReferences: <1@x> <2@x>\r\n\r\nhi";
        let p = parse(raw);
        assert_eq!(p.in_reply_to, vec!["2@x"]);
        assert_eq!(p.references, vec!["1@x", "2@x"]);
    }

    #[test]
    fn a_body_snippet_shows_the_hit_far_down_in_a_base64_body() {
        use base64::Engine as _;
        let filler = "Sehr geehrte Damen und Herren,\n\nwir kommen auf Ihr Angebot zurück. ".repeat(30);
        let body = base64::engine::general_purpose::STANDARD
            .encode(format!("{filler}Bitte um RÜCKRUF wegen der Fliesen im Bad. {filler}"));
        let raw = format!(
            "From: k@kunde.test\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{body}\r\n"
        );
        let s = body_snippet(raw.as_bytes(), &["rückruf".into()]).expect("a hit");
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(s.contains("Bitte um RÜCKRUF wegen der Fliesen"), "{s}");
        assert!(s.chars().count() <= SNIPPET_CHARS + 2, "{}", s.chars().count());
        assert!(!s.contains('\n'));
        assert_eq!(body_snippet(raw.as_bytes(), &["nirgends".into()]), None);
    }
}
