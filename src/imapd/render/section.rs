//! `BODY[section]<partial>` and `BINARY[section]`: the bytes a section names (RFC 3501
//! §6.4.5, RFC 3516), cut to the partial range. A section that does not exist is the empty
//! string, as Dovecot answers it. HEADER.FIELDS keeps the named fields in their order, each
//! with its continuation lines, then the blank line; the answer names the fields in capitals,
//! as Dovecot's does. BINARY decodes base64 and quoted-printable (mail-parser's decoders) and
//! answers such content, and any content with NUL bytes, as literal8; `unknown_cte` tells the
//! session when a part is in an encoding BINARY cannot decode.

use std::borrow::Cow;
use std::num::NonZeroU32;
use std::ops::Range;

use imap_codec::imap_types::ToStatic;
use imap_codec::imap_types::core::{AString, NString8, Vec1};
use imap_codec::imap_types::extensions::binary::Literal8;
use imap_codec::imap_types::fetch::{MessageDataItem, Section};

use super::envelope::fields;
use super::mime::{self, Kind, Part, Tok, tokenize};
use super::{literal, no_nuls};

/// The header and body of the message a section's part path names (the whole message
/// without a path; the inner message of a message/rfc822 part). None when the path names
/// nothing or a part that is not a message.
fn message<'a>(root: &'a Part, path: Option<&imap_codec::imap_types::fetch::Part>) -> Option<&'a Part> {
    match path {
        None => Some(root),
        Some(p) => match &mime::find(root, p.0.as_ref())?.kind {
            Kind::Message(inner) => Some(inner),
            _ => None,
        },
    }
}

/// The bytes `section` names, or None when it names nothing.
pub(super) fn section_bytes<'r>(raw: &'r [u8], root: &Part, section: Option<&Section<'_>>) -> Option<Cow<'r, [u8]>> {
    let slice = |r: &Range<usize>| Cow::Borrowed(&raw[r.clone()]);
    Some(match section {
        None => Cow::Borrowed(raw),
        Some(Section::Part(p)) => slice(&mime::find(root, p.0.as_ref())?.body),
        Some(Section::Mime(p)) => slice(&mime::find(root, p.0.as_ref())?.header),
        Some(Section::Header(p)) => slice(&message(root, p.as_ref())?.header),
        Some(Section::Text(p)) => slice(&message(root, p.as_ref())?.body),
        Some(Section::HeaderFields(p, names)) => {
            Cow::Owned(header_fields(&raw[message(root, p.as_ref())?.header.clone()], names.as_ref(), true))
        }
        Some(Section::HeaderFieldsNot(p, names)) => {
            Cow::Owned(header_fields(&raw[message(root, p.as_ref())?.header.clone()], names.as_ref(), false))
        }
    })
}

/// The fields of `header` whose names are (`keep`) or are not among `names`, raw, then CRLF.
fn header_fields(header: &[u8], names: &[AString<'_>], keep: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut taking = false;
    for line in header.split_inclusive(|b| *b == b'\n') {
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        if !line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            let name = line.iter().position(|b| *b == b':').map(|c| line[..c].trim_ascii_end());
            let listed = name.is_some_and(|n| names.iter().any(|x| x.as_ref().eq_ignore_ascii_case(n)));
            taking = listed == keep && (name.is_some() || !keep);
        }
        if taking {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// `<origin.count>` of `bytes`; an origin past the end gives the empty string.
fn cut(bytes: &[u8], partial: Option<(u32, NonZeroU32)>) -> &[u8] {
    match partial {
        None => bytes,
        Some((origin, count)) => {
            let from = (origin as usize).min(bytes.len());
            let to = from.saturating_add(count.get() as usize).min(bytes.len());
            &bytes[from..to]
        }
    }
}

/// The section as the answer names it: HEADER.FIELDS names in capitals, as Dovecot echoes them.
fn echo(section: &Section<'_>) -> Section<'static> {
    let upper = |names: &Vec1<AString<'_>>| -> Vec1<AString<'static>> {
        let list: Vec<AString<'static>> = names
            .as_ref()
            .iter()
            .map(|n| AString::try_from(n.as_ref().to_ascii_uppercase()).unwrap_or_else(|_| n.to_static()))
            .collect();
        Vec1::try_from(list).expect("as many as asked, at least one")
    };
    match section {
        Section::HeaderFields(p, names) => Section::HeaderFields(p.clone(), upper(names)),
        Section::HeaderFieldsNot(p, names) => Section::HeaderFieldsNot(p.clone(), upper(names)),
        other => other.to_static(),
    }
}

pub(super) fn body_ext(
    raw: &[u8],
    root: &Part,
    section: Option<&Section<'_>>,
    partial: Option<(u32, NonZeroU32)>,
) -> MessageDataItem<'static> {
    let bytes = section_bytes(raw, root, section).unwrap_or(Cow::Borrowed(b""));
    MessageDataItem::BodyExt {
        section: section.map(echo),
        origin: partial.map(|(o, _)| o),
        data: literal(cut(&bytes, partial)),
    }
}

/// The content of the part `path` names with every leaf decoded from its transfer encoding
/// (RFC 3516), and whether anything was decoded. A multipart or message part is rebuilt as
/// Dovecot rebuilds it: each decoded part's Content-Transfer-Encoding line says `binary`.
/// The whole message (empty path) is the message header and its content so converted.
fn decoded(raw: &[u8], root: &Part, path: &[NonZeroU32]) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    if path.is_empty() {
        let was = whole(raw, root, &mut out);
        return (out, was);
    }
    let Some(part) = mime::find(root, path) else { return (out, false) };
    let was = content(raw, part, &mut out);
    (out, was)
}

/// The transfer encoding of a part, in lower case ("" when none is given). Of two such fields
/// Dovecot decodes by the last (while BODYSTRUCTURE shows the first), and so does this.
fn encoding(raw: &[u8], part: &Part) -> Vec<u8> {
    fields(&raw[part.header.clone()], b"Content-Transfer-Encoding")
        .pop()
        .and_then(|(v, _)| {
            tokenize(&v, b"").0.into_iter().find_map(|t| match t {
                Tok::Word { text, .. } => Some(text.to_ascii_lowercase()),
                _ => None,
            })
        })
        .unwrap_or_default()
}

fn is_encoded(encoding: &[u8]) -> bool {
    encoding == b"base64" || encoding == b"quoted-printable"
}

/// Whether some leaf of the part `path` names (the whole message for an empty path) is in a
/// transfer encoding BINARY cannot decode: anything but none, 7bit, 8bit, binary, base64 and
/// quoted-printable (RFC 3516 §4.3). A path that names nothing has nothing to decode.
pub(super) fn unknown_cte(raw: &[u8], root: &Part, path: &[NonZeroU32]) -> bool {
    fn walk(raw: &[u8], part: &Part) -> bool {
        match &part.kind {
            Kind::Leaf => {
                let e = encoding(raw, part);
                !(e.is_empty() || is_encoded(&e) || matches!(e.as_slice(), b"7bit" | b"8bit" | b"binary"))
            }
            Kind::Message(inner) => walk(raw, inner),
            Kind::Multi(children) => children.iter().any(|c| walk(raw, c)),
        }
    }
    let part = if path.is_empty() { Some(root) } else { mime::find(root, path) };
    part.is_some_and(|p| walk(raw, p))
}

/// Header and converted content of `part`; whether anything was decoded.
fn whole(raw: &[u8], part: &Part, out: &mut Vec<u8>) -> bool {
    let header = &raw[part.header.clone()];
    if matches!(part.kind, Kind::Leaf) && is_encoded(&encoding(raw, part)) {
        let mut in_cte = false;
        for line in header.split_inclusive(|b| *b == b'\n') {
            if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
                if !in_cte {
                    out.extend_from_slice(line);
                }
                continue;
            }
            in_cte = line
                .iter()
                .position(|b| *b == b':')
                .is_some_and(|c| line[..c].trim_ascii_end().eq_ignore_ascii_case(b"Content-Transfer-Encoding"));
            if in_cte {
                out.extend_from_slice(b"Content-Transfer-Encoding: binary");
                out.extend_from_slice(if line.ends_with(b"\r\n") { b"\r\n" } else { b"\n" });
            } else {
                out.extend_from_slice(line);
            }
        }
    } else {
        out.extend_from_slice(header);
    }
    content(raw, part, out)
}

/// The converted content (body) of `part`; whether anything was decoded.
fn content(raw: &[u8], part: &Part, out: &mut Vec<u8>) -> bool {
    let body = &raw[part.body.clone()];
    match &part.kind {
        Kind::Leaf => {
            let decoded = match encoding(raw, part).as_slice() {
                b"base64" => mail_parser::decoders::base64::base64_decode(body),
                b"quoted-printable" => mail_parser::decoders::quoted_printable::quoted_printable_decode(body),
                _ => None,
            };
            match decoded {
                Some(d) => {
                    out.extend_from_slice(&d);
                    true
                }
                None => {
                    out.extend_from_slice(body);
                    false
                }
            }
        }
        Kind::Message(inner) => whole(raw, inner, out),
        Kind::Multi(children) => {
            let mut was = false;
            let mut at = part.body.start;
            for child in children {
                if child.header.start < at || child.body.end > part.body.end {
                    continue;
                }
                out.extend_from_slice(&raw[at..child.header.start]);
                was |= whole(raw, child, out);
                at = child.body.end;
            }
            out.extend_from_slice(&raw[at..part.body.end]);
            was
        }
    }
}

pub(super) fn binary(
    raw: &[u8],
    root: &Part,
    section: &[NonZeroU32],
    partial: Option<(u32, NonZeroU32)>,
) -> MessageDataItem<'static> {
    let (bytes, was_decoded) = decoded(raw, root, section);
    let bytes = cut(&bytes, partial);
    // A literal cannot carry NUL; literal8 can, so content with NUL (Content-Transfer-Encoding:
    // binary) goes as literal8 with its NULs intact, as Dovecot sends it.
    let value = if was_decoded || bytes.contains(&0) {
        NString8::Literal8(Literal8 {
            data: Cow::Owned(bytes.to_vec()),
            mode: imap_codec::imap_types::core::LiteralMode::Sync,
        })
    } else {
        NString8::NString(literal(&no_nuls(bytes)))
    };
    MessageDataItem::Binary { section: section.to_vec(), value }
}

pub(super) fn binary_size(raw: &[u8], root: &Part, section: &[NonZeroU32]) -> MessageDataItem<'static> {
    let size = decoded(raw, root, section).0.len().min(u32::MAX as usize) as u32;
    MessageDataItem::BinarySize { section: section.to_vec(), size }
}
