//! The MIME tree of one raw message, as byte ranges into the raw bytes, read the way Dovecot
//! reads it, so that BODYSTRUCTURE sizes and line counts and every `BODY[section]` agree with
//! what the hosted server would answer for the same bytes.
//!
//! A part is its header section (blank line included) and its body. A multipart's children
//! are the stretches between its boundary lines (RFC 2046: the line break before a boundary
//! belongs to the boundary; a missing close delimiter ends the last part at the body's end; a
//! boundary line matches by prefix). A multipart without a boundary has one empty text/plain
//! child, as Dovecot shows it. A message/rfc822 part holds its inner message as a child part.
//! Nothing here fails: any bytes give a tree (nesting is cut off at [`MAX_DEPTH`], the part
//! there shown as application/octet-stream).
//!
//! Header values are read with `crate::message::raw_header` and tokenised here (RFC 2045
//! tokens, quoted strings, comments; RFC 2231 continuations joined the way Dovecot joins them;
//! at most [`MAX_PARAMS`] parameters, as Dovecot keeps).
//! mail-parser is not used for the tree: its offsets for a nested message are relative to a
//! decoded copy, and its part ends do not follow the boundary rule above.

use std::ops::Range;

use crate::message::{find_header_end, raw_header};

/// A part this deep (the whole message is depth 0) is not entered: a message/rfc822 or
/// multipart part there is an opaque `application/octet-stream` leaf, as in Dovecot (its
/// `max_nested_mime_parts` is 100: the 100th nested part is cut off). A part that claims to
/// be message/rfc822 but has no envelope or body inside would break RFC 9051's grammar.
pub const MAX_DEPTH: usize = 99;

/// One MIME part: byte ranges into the raw message.
#[derive(Debug, Clone)]
pub struct Part {
    /// The header section, the blank line that ends it included.
    pub header: Range<usize>,
    pub body: Range<usize>,
    pub ctype: ContentType,
    pub kind: Kind,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Leaf,
    Multi(Vec<Part>),
    /// message/rfc822: the inner message as a part (its header is the inner message's header).
    Message(Box<Part>),
}

/// Parameters as written: name and value, quotes removed.
pub type Params = Vec<(Vec<u8>, Vec<u8>)>;

/// A Content-Type as written: type and subtype keep their letter case, parameters their order
/// (RFC 2231 continuations joined and put last).
#[derive(Debug, Clone, PartialEq)]
pub struct ContentType {
    pub ty: Vec<u8>,
    pub sub: Vec<u8>,
    pub params: Params,
}

impl ContentType {
    fn text_plain() -> Self {
        ContentType { ty: b"text".to_vec(), sub: b"plain".to_vec(), params: Vec::new() }
    }
    fn message_rfc822() -> Self {
        ContentType { ty: b"message".to_vec(), sub: b"rfc822".to_vec(), params: Vec::new() }
    }
    pub fn is(&self, ty: &str) -> bool {
        self.ty.eq_ignore_ascii_case(ty.as_bytes())
    }
    pub fn is_message_rfc822(&self) -> bool {
        self.is("message") && self.sub.eq_ignore_ascii_case(b"rfc822")
    }
    pub fn param(&self, name: &str) -> Option<&[u8]> {
        self.params.iter().find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes())).map(|(_, v)| v.as_slice())
    }
}

/// The tree of the whole message.
pub fn parse(raw: &[u8]) -> Part {
    parse_part(raw, 0..raw.len(), false, 0)
}

fn parse_part(raw: &[u8], range: Range<usize>, in_digest: bool, depth: usize) -> Part {
    let s = &raw[range.clone()];
    let he = if s.starts_with(b"\r\n") {
        2
    } else if s.starts_with(b"\n") {
        1
    } else {
        match find_header_end(s) {
            0 => s.len(),
            n => n,
        }
    };
    let header = range.start..range.start + he;
    let body = range.start + he..range.end;
    let default = if in_digest { ContentType::message_rfc822() } else { ContentType::text_plain() };
    let mut ctype = raw_header(&raw[header.clone()], b"Content-Type").and_then(|v| content_type(&v)).unwrap_or(default);
    let kind = if depth >= MAX_DEPTH {
        if ctype.is("multipart") || ctype.is_message_rfc822() {
            ctype.ty = b"application".to_vec();
            ctype.sub = b"octet-stream".to_vec();
        }
        Kind::Leaf
    } else if ctype.is("multipart") {
        let digest = ctype.sub.eq_ignore_ascii_case(b"digest");
        let ranges = match ctype.param("boundary") {
            Some(b) if !b.is_empty() => split(raw, body.clone(), b),
            _ => Vec::new(),
        };
        let children: Vec<Part> = ranges
            .into_iter()
            .map(|(r, next)| {
                let mut child = parse_part(raw, r, digest, depth + 1);
                // Dovecot keeps the line break after a nested multipart's close delimiter
                // in that part, even when the next boundary line follows at once.
                if let (Kind::Multi(_), Some(b)) = (&child.kind, child.ctype.param("boundary")) {
                    let last = raw[..child.body.end].rsplit(|c| *c == b'\n').next().unwrap_or_default();
                    if last.strip_prefix(b"--").is_some_and(|l| l.starts_with(b) && l[b.len()..].starts_with(b"--")) {
                        child.body.end = next;
                    }
                }
                child
            })
            .collect();
        if children.is_empty() {
            let end = body.end;
            Kind::Multi(vec![Part {
                header: end..end,
                body: end..end,
                ctype: ContentType::text_plain(),
                kind: Kind::Leaf,
            }])
        } else {
            Kind::Multi(children)
        }
    } else if ctype.is_message_rfc822() {
        Kind::Message(Box::new(parse_part(raw, body.clone(), false, depth + 1)))
    } else {
        Kind::Leaf
    };
    Part { header, body, ctype, kind }
}

/// The ranges of a multipart body's parts (between boundary lines, without the line break
/// that comes before each boundary line), each with where the next boundary line starts.
fn split(raw: &[u8], body: Range<usize>, boundary: &[u8]) -> Vec<(Range<usize>, usize)> {
    let mut parts = Vec::new();
    let mut start: Option<usize> = None;
    let mut pos = body.start;
    let mut closed = false;
    while pos < body.end {
        let line_end = memchr::memchr(b'\n', &raw[pos..body.end]).map_or(body.end, |i| pos + i + 1);
        let line = &raw[pos..line_end];
        if line.len() >= 2 + boundary.len() && line.starts_with(b"--") && line[2..].starts_with(boundary) {
            if let Some(s) = start {
                parts.push((s..end_before(raw, s, pos), pos));
            }
            if line[2 + boundary.len()..].starts_with(b"--") {
                closed = true;
                break;
            }
            start = Some(line_end);
        }
        pos = line_end;
    }
    if !closed && let Some(s) = start {
        parts.push((s..body.end, body.end));
    }
    parts
}

/// `pos` without the line break just before it, but never before `start`.
fn end_before(raw: &[u8], start: usize, pos: usize) -> usize {
    if pos >= start + 2 && &raw[pos - 2..pos] == b"\r\n" {
        pos - 2
    } else if pos > start && raw[pos - 1] == b'\n' {
        pos - 1
    } else {
        pos
    }
}

/// A token of a structured header value (RFC 2045/5322).
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// An atom or RFC 2045 token; `ws` is whether white space (or a comment) came before it.
    Word {
        text: Vec<u8>,
        ws: bool,
    },
    Quoted {
        text: Vec<u8>,
        ws: bool,
    },
    Comment(Vec<u8>),
    Special(u8),
}

/// Splits a header value into tokens. `specials` are the bytes that stand alone (`;=/` for
/// MIME, `<>@,;:.` and more for addresses). Returns the tokens and whether the value ended
/// inside a quoted string, comment or bad byte sequence.
pub fn tokenize(value: &[u8], specials: &[u8]) -> (Vec<Tok>, bool) {
    let mut out = Vec::new();
    let mut i = 0;
    let mut ws = false;
    let mut broken = false;
    while i < value.len() {
        let c = value[i];
        if matches!(c, b' ' | b'\t' | b'\r' | b'\n') {
            ws = true;
            i += 1;
        } else if c == b'(' {
            let mut depth = 0;
            let mut text = Vec::new();
            while i < value.len() {
                let b = value[i];
                i += 1;
                match b {
                    b'\\' if i < value.len() => {
                        text.push(value[i]);
                        i += 1;
                    }
                    b'(' => {
                        depth += 1;
                        if depth > 1 {
                            text.push(b);
                        }
                    }
                    b')' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                        text.push(b);
                    }
                    b'\r' | b'\n' => {}
                    b => text.push(b),
                }
            }
            if depth != 0 {
                broken = true;
            }
            out.push(Tok::Comment(text));
            ws = true;
        } else if c == b'"' {
            i += 1;
            let mut text = Vec::new();
            let mut closed = false;
            while i < value.len() {
                match value[i] {
                    b'\\' if i + 1 < value.len() => {
                        text.push(value[i + 1]);
                        i += 2;
                    }
                    b'"' => {
                        i += 1;
                        closed = true;
                        break;
                    }
                    b'\r' | b'\n' => i += 1,
                    b => {
                        text.push(b);
                        i += 1;
                    }
                }
            }
            broken |= !closed;
            out.push(Tok::Quoted { text, ws });
            ws = false;
        } else if specials.contains(&c) {
            out.push(Tok::Special(c));
            ws = false;
            i += 1;
        } else {
            let start = i;
            while i < value.len()
                && !matches!(value[i], b' ' | b'\t' | b'\r' | b'\n' | b'(' | b'"')
                && !specials.contains(&value[i])
            {
                i += 1;
            }
            out.push(Tok::Word { text: value[start..i].to_vec(), ws });
            ws = false;
        }
    }
    (out, broken)
}

const MIME_SPECIALS: &[u8] = b";=/,";

/// Content-Type: `type/subtype; params`. None when not even a type is there (the default
/// applies then). A missing subtype is empty, as Dovecot shows it.
pub fn content_type(value: &[u8]) -> Option<ContentType> {
    let (toks, _) = tokenize(value, MIME_SPECIALS);
    let toks: Vec<Tok> = toks.into_iter().filter(|t| !matches!(t, Tok::Comment(_))).collect();
    let ty = match toks.first() {
        Some(Tok::Word { text, .. }) => text.clone(),
        _ => return None,
    };
    let (sub, rest) = match (toks.get(1), toks.get(2)) {
        (Some(Tok::Special(b'/')), Some(Tok::Word { text, .. })) => (text.clone(), &toks[3..]),
        (Some(Tok::Special(b'/')), _) => (Vec::new(), &toks[2..]),
        _ => (Vec::new(), &toks[1..]),
    };
    Some(ContentType { ty, sub, params: params(rest) })
}

/// A value with parameters (Content-Disposition): the value and the parameters.
pub fn value_and_params(value: &[u8]) -> Option<(Vec<u8>, Params)> {
    let (toks, _) = tokenize(value, MIME_SPECIALS);
    let toks: Vec<Tok> = toks.into_iter().filter(|t| !matches!(t, Tok::Comment(_))).collect();
    match toks.first() {
        Some(Tok::Word { text, .. }) => Some((text.clone(), params(&toks[1..]))),
        _ => None,
    }
}

/// At most this many `name=value` pairs of one header are read; the rest are dropped, as
/// Dovecot drops them (it keeps 128, counting each RFC 2231 piece as one).
pub const MAX_PARAMS: usize = 128;

/// One RFC 2231 piece: base name, number, whether it is extended (`*n*`), value.
type Piece = (Vec<u8>, u32, bool, Vec<u8>);

/// `; name=value` pairs (the first [`MAX_PARAMS`]), then RFC 2231 continuations joined, the
/// way Dovecot joins them: the pieces sorted by (base name as written, number), one pass over
/// them folding neighbours of the same base; a base whose numbers run 0, 1, 2, ... becomes
/// one parameter `name` (`name*` when a piece is extended, the encoded pieces joined); a base
/// with a gap or a repeated number keeps its pieces as written (`name*1`). One sort and one
/// pass, so a header with thousands of parameters costs no more than reading it.
fn params(toks: &[Tok]) -> Params {
    let mut plain = Vec::new();
    let mut continued: Vec<Piece> = Vec::new();
    let mut i = 0;
    while i < toks.len() && plain.len() + continued.len() < MAX_PARAMS {
        let name = match (&toks[i], toks.get(i + 1)) {
            (Tok::Word { text, .. }, Some(Tok::Special(b'='))) => text.clone(),
            _ => {
                i += 1;
                continue;
            }
        };
        let value = match toks.get(i + 2) {
            Some(Tok::Word { text, .. }) | Some(Tok::Quoted { text, .. }) => {
                i += 3;
                text.clone()
            }
            _ => {
                i += 2;
                Vec::new()
            }
        };
        match continuation(&name) {
            Some((base, n, ext)) => continued.push((base, n, ext, value)),
            None => plain.push((name, value)),
        }
    }
    continued.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    for group in continued.chunk_by(|a, b| a.0 == b.0) {
        let in_order = group.iter().enumerate().all(|(k, p)| p.1 as usize == k);
        if !in_order {
            for (base, n, ext, value) in group {
                let mut name = base.clone();
                name.extend_from_slice(format!("*{n}{}", if *ext { "*" } else { "" }).as_bytes());
                plain.push((name, value.clone()));
            }
            continue;
        }
        let mut name = group[0].0.clone();
        if group.iter().any(|p| p.2) {
            name.push(b'*');
        }
        plain.push((name, group.iter().flat_map(|p| p.3.iter().copied()).collect()));
    }
    plain
}

/// `name*3` → (name, 3, false); `name*3*` → (name, 3, true). A bare `name*` is no
/// continuation and stays as written.
fn continuation(name: &[u8]) -> Option<(Vec<u8>, u32, bool)> {
    let star = name.iter().position(|b| *b == b'*')?;
    let rest = &name[star + 1..];
    let (digits, ext) = match rest.strip_suffix(b"*") {
        Some(d) => (d, true),
        None => (rest, false),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some((name[..star].to_vec(), n, ext))
}

/// The part a section path names (RFC 3501 §6.4.5): numbers count the parts of a multipart;
/// `1` of a part that is not multipart is that part (not so deeper down the whole message);
/// a message/rfc822 part is entered first.
pub fn find<'a>(root: &'a Part, path: &[std::num::NonZeroU32]) -> Option<&'a Part> {
    let mut cur = root;
    for (i, n) in path.iter().enumerate() {
        // A message/rfc822 part is entered. Any other part without children is its own part
        // 1, as Dovecot has it, except the whole message: `1.1` of a single-part message is
        // nothing.
        if i > 0 {
            match &cur.kind {
                Kind::Message(inner) => cur = inner,
                Kind::Leaf if std::ptr::eq(cur, root) => return None,
                _ => {}
            }
        }
        let n = n.get() as usize;
        cur = match &cur.kind {
            Kind::Multi(children) => children.get(n - 1)?,
            _ if n == 1 => cur,
            _ => return None,
        };
    }
    Some(cur)
}
