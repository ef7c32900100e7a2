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
    let parser = MessageParser::default();
    // Most mail is one plain-text part in ASCII: its header is enough to know that, and the
    // body is then its own text. mail-parser would copy it through a charset table character
    // by character (about a tenth of a full sync's CPU time); the result is the same. The body
    // is looked at first, which spares other mail (8-bit text, most attachments) a second
    // reading of its header.
    if header_end > 0
        && let Some(body) = ascii_text(&raw[header_end..])
        && let Some(head) = parser.parse_headers(raw)
        && header_ends_at(&head, raw, header_end)
        && plain_text_part(&head)
    {
        let preview = mail_parser::parsers::preview::preview_text(body.into(), PREVIEW_CHARS);
        return fields(&head, raw, header_end, body, Some(preview), false);
    }
    parse_whole(&parser, raw, header_end)
}

/// [`parse`] with mail-parser reading the whole message (any structure, any encoding).
fn parse_whole(parser: &MessageParser, raw: &[u8], header_end: usize) -> Parsed {
    let Some(msg) = parser.parse(raw) else {
        // Nothing to decode: the bytes themselves are what a search can find.
        let search_text =
            lower_capped(&squash_whitespace(&decode_8bit(&raw[..raw.len().min(SEARCH_CHARS * 4)]), SEARCH_CHARS));
        return Parsed {
            problem: Some("not a message: no header could be read".into()),
            search_text,
            ..Default::default()
        };
    };
    let preview = msg.body_preview(PREVIEW_CHARS);
    fields(&msg, raw, header_end, &readable_body(&msg), preview, msg.attachment_count() > 0)
}

/// `body` as text when it is ASCII.
fn ascii_text(body: &[u8]) -> Option<&str> {
    if body.is_ascii() { std::str::from_utf8(body).ok() } else { None }
}

/// Whether a message (its header read alone) is one plain-text part that mail-parser would
/// read as it is when its body is ASCII: no transfer encoding to undo, no disposition, and a
/// charset in which ASCII is ASCII (or none, or one mail-parser does not know).
fn plain_text_part(head: &mail_parser::Message<'_>) -> bool {
    use mail_parser::{GetHeader, HeaderName};
    let headers = &head.root_part().headers;
    if headers.header_value(&HeaderName::ContentDisposition).is_some() {
        return false;
    }
    if let Some(HeaderValue::Text(e)) = headers.header_value(&HeaderName::ContentTransferEncoding)
        && (e.eq_ignore_ascii_case("base64") || e.eq_ignore_ascii_case("quoted-printable"))
    {
        return false;
    }
    match headers.header_value(&HeaderName::ContentType).and_then(|c| c.as_content_type()) {
        None => true,
        Some(ct) => {
            ct.ctype() == "text"
                && ct.subtype() == Some("plain")
                && ct.attribute("charset").is_none_or(|cs| {
                    ascii_is_ascii(cs) || mail_parser::decoders::charsets::map::charset_decoder(cs.as_bytes()).is_none()
                })
        }
    }
}

/// Whether the header mail-parser read (`head`) ends at `header_end`, the blank line
/// [`find_header_end`] found: right after its last field comes that blank line and nothing
/// else. mail-parser also ends a header at a line of only white space (a form feed, a lone CR)
/// and skips lines without a colon, where the blank line found may come later.
fn header_ends_at(head: &mail_parser::Message<'_>, raw: &[u8], header_end: usize) -> bool {
    let Some(last) = head.root_part().headers.last() else { return false };
    matches!(raw.get(last.offset_end as usize..header_end), Some(b"\n" | b"\r\n"))
}

/// Whether the charset named is one in which the ASCII bytes are the ASCII characters, one
/// byte each, whatever comes before them: US-ASCII, UTF-8, ISO-8859-* and Windows-125*.
fn ascii_is_ascii(charset: &str) -> bool {
    let c = charset.trim().to_ascii_lowercase().replace('_', "-");
    let numbered = |prefix: &str, range: std::ops::RangeInclusive<u32>| {
        c.strip_prefix(prefix).and_then(|n| n.parse::<u32>().ok()).is_some_and(|n| range.contains(&n))
    };
    matches!(c.as_str(), "us-ascii" | "ascii" | "utf-8" | "utf8" | "latin1" | "latin-1")
        || numbered("iso-8859-", 1..=16)
        || numbered("windows-", 1250..=1258)
        || numbered("cp", 1250..=1258)
}

/// The fields of a parsed message (`msg`, read in whole or its header alone) with its body's
/// readable text and preview.
fn fields(
    msg: &mail_parser::Message<'_>,
    raw: &[u8],
    header_end: usize,
    body: &str,
    preview: Option<std::borrow::Cow<'_, str>>,
    has_attachment: bool,
) -> Parsed {
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
        preview: preview.map(|s| squash_whitespace(&s, PREVIEW_CHARS)).unwrap_or_default(),
        search_text: search_form(body),
        has_attachment,
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
/// rules), at most [`SEARCH_CHARS`] characters. ASCII text (most mail) takes a fast way with
/// the same result as the general one (squash word by word, then lowercase, then cut): eight
/// bytes at a time where they hold no white space but single spaces (most of a text), which are
/// lowercased as one word and copied; byte by byte elsewhere. The general way made three copies
/// and was a tenth of a full sync's CPU time; a byte-by-byte pass was still a twelfth.
fn search_form(body: &str) -> String {
    if !body.is_ascii() {
        return lower_capped(&squash_whitespace(body, SEARCH_CHARS));
    }
    // The ASCII characters that are Unicode white space (`char::is_whitespace`).
    let space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\x0B' | b'\x0C' | b'\r');
    let bytes = body.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len().min(SEARCH_CHARS + 8));
    let mut after_space = true; // no space at the start
    let mut words = bytes.chunks_exact(8);
    for chunk in words.by_ref() {
        if out.len() > SEARCH_CHARS {
            break;
        }
        let w = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        match ascii_word(w, after_space) {
            Some((lower, ends_in_space)) => {
                out.extend_from_slice(&lower.to_le_bytes());
                after_space = ends_in_space;
            }
            None => {
                for &b in chunk {
                    let sp = space(b);
                    if !(sp && after_space) {
                        out.push(if sp { b' ' } else { b.to_ascii_lowercase() });
                    }
                    after_space = sp;
                }
            }
        }
    }
    if out.len() <= SEARCH_CHARS {
        for &b in words.remainder() {
            let sp = space(b);
            if !(sp && after_space) {
                out.push(if sp { b' ' } else { b.to_ascii_lowercase() });
            }
            after_space = sp;
        }
    }
    if out.last() == Some(&b' ') {
        out.pop();
    }
    out.truncate(SEARCH_CHARS);
    String::from_utf8(out).unwrap_or_default()
}

/// Eight ASCII bytes (little-endian in `w`) lowercased, when the search form keeps them as they
/// are otherwise: no white space in them but single spaces, none of them right after a space
/// (`after_space` for the one before the first). Also whether the last byte is a space. None
/// when the bytes need the byte-by-byte way. Every byte is below 0x80, so no sum below carries
/// from one byte into the next.
fn ascii_word(w: u64, after_space: bool) -> Option<(u64, bool)> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Bytes at most 0x20 (space and the control characters, white space among them).
    let low = !w.wrapping_add(0x5F * ONES) & HIGH;
    // Bytes that are exactly a space.
    let x = w ^ (0x20 * ONES);
    let spaces = !((x & (0x7F * ONES)).wrapping_add(0x7F * ONES) | x) & HIGH;
    let adjacent = spaces & (spaces << 8) != 0;
    if low != spaces || adjacent || (after_space && spaces & 0x80 != 0) {
        return None;
    }
    // 'A'..='Z' (0x41..=0x5A) get 0x20 added.
    let upper = w.wrapping_add(0x3F * ONES) & !w.wrapping_add(0x25 * ONES) & HIGH;
    Some((w | (upper >> 2), spaces >> 63 == 1))
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
mod tests;
