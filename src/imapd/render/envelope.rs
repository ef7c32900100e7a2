//! ENVELOPE (RFC 3501 §7.4.2) from a header section, as Dovecot builds it: date, subject,
//! in-reply-to and message-id as written in the last field of that name (white space after
//! the colon dropped, a folded value unfolded and sent as a literal); addresses split into
//! name, route, mailbox and host, with comments dropped, quoted strings unquoted and encoded
//! words left encoded; a group as its start and end markers; a missing mailbox or host as
//! `MISSING_MAILBOX`/`MISSING_DOMAIN`. The addresses of repeated fields are listed one after
//! the other. Sender and Reply-To default to From, also when present but empty.

use imap_codec::imap_types::core::NString;
use imap_codec::imap_types::envelope::{Address, Envelope};

use super::mime::{Tok, tokenize};
use super::{nstring, string};

/// Every field called `name`, in order: its value with the white space after the colon
/// dropped, CR and LF removed, and whether it spanned more than one line.
pub(super) fn fields(header: &[u8], name: &[u8]) -> Vec<(Vec<u8>, bool)> {
    let mut out = Vec::new();
    let mut lines = header.split_inclusive(|b| *b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let Some(colon) = line.iter().position(|b| *b == b':') else { continue };
        if line.first().is_some_and(|b| *b == b' ' || *b == b'\t')
            || !line[..colon].trim_ascii_end().eq_ignore_ascii_case(name)
        {
            continue;
        }
        let mut value: Vec<u8> = line[colon + 1..].to_vec();
        let mut folded = false;
        while let Some(next) = lines.peek() {
            if next.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
                value.extend_from_slice(next);
                folded = true;
                lines.next();
            } else {
                break;
            }
        }
        let start = value.iter().position(|b| !matches!(b, b' ' | b'\t')).unwrap_or(value.len());
        let value: Vec<u8> = value.split_off(start).into_iter().filter(|b| !matches!(b, b'\r' | b'\n')).collect();
        out.push((value, folded));
    }
    out
}

/// The first field called `name` (MIME fields: Dovecot reads the first).
pub(super) fn field(header: &[u8], name: &[u8]) -> Option<(Vec<u8>, bool)> {
    fields(header, name).into_iter().next()
}

/// The last field called `name`, as Dovecot's envelope reads Date, Subject and the ids.
fn text(header: &[u8], name: &[u8]) -> NString<'static> {
    NString(fields(header, name).pop().map(|(v, folded)| string(&v, folded)))
}

pub(super) fn envelope(header: &[u8]) -> Envelope<'static> {
    // The addresses of every field of that name, one after the other, as Dovecot lists them;
    // None when there is no such field or it holds no address (RFC 3501 §7.4.2: Sender and
    // Reply-To take From's value when "absent or present but empty").
    let list = |name: &[u8]| {
        let all: Vec<_> = fields(header, name).iter().flat_map(|(v, _)| addresses(v)).collect();
        (!all.is_empty()).then_some(all)
    };
    let from = list(b"From").unwrap_or_default();
    Envelope {
        date: text(header, b"Date"),
        subject: text(header, b"Subject"),
        sender: list(b"Sender").unwrap_or_else(|| from.clone()),
        reply_to: list(b"Reply-To").unwrap_or_else(|| from.clone()),
        from,
        to: list(b"To").unwrap_or_default(),
        cc: list(b"Cc").unwrap_or_default(),
        bcc: list(b"Bcc").unwrap_or_default(),
        in_reply_to: text(header, b"In-Reply-To"),
        message_id: text(header, b"Message-ID"),
    }
}

#[derive(Default)]
struct Addr {
    name: Option<Vec<u8>>,
    adl: Option<Vec<u8>>,
    mailbox: Option<Vec<u8>>,
    host: Option<Vec<u8>>,
}

impl Addr {
    fn mailbox(name: Option<Vec<u8>>, adl: Option<Vec<u8>>, mailbox: Vec<u8>, host: Vec<u8>) -> Addr {
        let or = |v: Vec<u8>, missing: &[u8]| Some(if v.is_empty() { missing.to_vec() } else { v });
        Addr { name, adl, mailbox: or(mailbox, b"MISSING_MAILBOX"), host: or(host, b"MISSING_DOMAIN") }
    }

    fn wire(self) -> Address<'static> {
        Address {
            name: nstring(self.name.as_deref()),
            adl: nstring(self.adl.as_deref()),
            mailbox: nstring(self.mailbox.as_deref()),
            host: nstring(self.host.as_deref()),
        }
    }
}

/// Words and quoted strings up to the next special, joined with one space where the value had
/// white space between them; the last comment seen, if any.
fn phrase(toks: &[Tok], i: &mut usize) -> (Vec<u8>, Option<Vec<u8>>) {
    let mut out = Vec::new();
    let mut comment = None;
    while let Some(t) = toks.get(*i) {
        match t {
            Tok::Word { text, ws } | Tok::Quoted { text, ws } => {
                if !out.is_empty() && *ws {
                    out.push(b' ');
                }
                out.extend_from_slice(text);
            }
            Tok::Comment(c) => comment = Some(c.clone()),
            Tok::Special(_) => break,
        }
        *i += 1;
    }
    (out, comment)
}

/// Words up to one of `stop` (or the end), joined without spaces, comments dropped.
fn joined(toks: &[Tok], i: &mut usize, stop: &[u8]) -> (Vec<u8>, Option<Vec<u8>>) {
    let mut out = Vec::new();
    let mut comment = None;
    while let Some(t) = toks.get(*i) {
        match t {
            Tok::Word { text, .. } | Tok::Quoted { text, .. } => out.extend_from_slice(text),
            Tok::Comment(c) => comment = Some(c.clone()),
            Tok::Special(c) if stop.contains(c) => break,
            Tok::Special(c) => out.push(*c),
        }
        *i += 1;
    }
    (out, comment)
}

/// An address list (RFC 5322 §3.4) as ENVELOPE address structures.
fn addresses(value: &[u8]) -> Vec<Address<'static>> {
    let (toks, broken) = tokenize(value, b"<>@,;:");
    if broken {
        return vec![Addr::mailbox(None, None, Vec::new(), Vec::new()).wire()];
    }
    let mut out: Vec<Addr> = Vec::new();
    let mut in_group = false;
    let mut i = 0;
    while i < toks.len() {
        let (words, comment) = phrase(&toks, &mut i);
        match toks.get(i) {
            Some(Tok::Special(b':')) if !in_group => {
                out.push(Addr { mailbox: Some(words), ..Addr::default() });
                in_group = true;
                i += 1;
                continue;
            }
            Some(Tok::Special(b'<')) => {
                i += 1;
                let mut adl = None;
                if let Some(Tok::Special(b'@')) = toks.get(i) {
                    let (route, _) = joined(&toks, &mut i, b":>");
                    if let Some(Tok::Special(b':')) = toks.get(i) {
                        i += 1;
                        adl = Some(route);
                    }
                }
                let (local, _) = joined(&toks, &mut i, b"@>");
                let mut host = Vec::new();
                if let Some(Tok::Special(b'@')) = toks.get(i) {
                    i += 1;
                    host = joined(&toks, &mut i, b">").0;
                }
                if let Some(Tok::Special(b'>')) = toks.get(i) {
                    i += 1;
                }
                let name = if words.is_empty() { None } else { Some(words) };
                out.push(Addr::mailbox(name, adl, local, host));
                joined(&toks, &mut i, b",;");
            }
            Some(Tok::Special(b'@')) => {
                i += 1;
                let (host, after) = joined(&toks, &mut i, b",;<");
                out.push(Addr::mailbox(after.or(comment), None, words, host));
            }
            _ if !words.is_empty() => out.push(Addr::mailbox(comment, None, words, Vec::new())),
            _ => {}
        }
        match toks.get(i) {
            Some(Tok::Special(b';')) if in_group => {
                out.push(Addr::default());
                in_group = false;
                i += 1;
            }
            Some(_) => i += 1,
            None => {}
        }
    }
    if in_group {
        out.push(Addr::default());
    }
    out.into_iter().map(Addr::wire).collect()
}
