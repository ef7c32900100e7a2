//! BODY and BODYSTRUCTURE (RFC 3501 §7.4.2) from the MIME tree, as Dovecot writes them: type,
//! subtype and parameter names as written; a text part without a charset gets
//! `"charset" "us-ascii"` last; encoding as written or `7bit`; size and line count (line feeds)
//! of the body as stored; the extension data MD5 (always NIL), disposition, language and
//! location, for a multipart its parameters, disposition, language and location.

use imap_codec::imap_types::body::{
    BasicFields, Body, BodyStructure, Disposition, Language, Location, MultiPartExtensionData, SinglePartExtensionData,
    SpecificFields,
};
use imap_codec::imap_types::core::{IString, NString, Vec1};

use super::envelope::{envelope, field};
use super::mime::{Kind, Part, Tok, tokenize, value_and_params};
use super::string;

type Params = Vec<(IString<'static>, IString<'static>)>;

fn params(list: &[(Vec<u8>, Vec<u8>)]) -> Params {
    list.iter().map(|(n, v)| (string(n, false), string(v, false))).collect()
}

fn header_text(header: &[u8], name: &[u8]) -> NString<'static> {
    NString(field(header, name).map(|(v, folded)| string(&v, folded)))
}

/// Disposition, language and location of a part.
fn tail(header: &[u8]) -> Disposition<'static> {
    let disposition = field(header, b"Content-Disposition")
        .and_then(|(v, _)| value_and_params(&v))
        .map(|(value, p)| (string(&value, false), params(&p)));
    let language = field(header, b"Content-Language")
        .map(|(v, _)| {
            let (toks, _) = tokenize(&v, b",");
            toks.into_iter()
                .filter_map(|t| match t {
                    Tok::Word { text, .. } | Tok::Quoted { text, .. } => Some(string(&text, false)),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    Disposition {
        disposition,
        tail: Some(Language {
            language,
            tail: Some(Location { location: header_text(header, b"Content-Location"), extensions: Vec::new() }),
        }),
    }
}

/// The BODYSTRUCTURE of `part` (with extension data) or its BODY (without).
pub(super) fn body_structure(raw: &[u8], part: &Part, ext: bool) -> BodyStructure<'static> {
    let header = &raw[part.header.clone()];
    match &part.kind {
        Kind::Multi(children) => {
            let bodies: Vec<BodyStructure<'static>> = children.iter().map(|c| body_structure(raw, c, ext)).collect();
            BodyStructure::Multi {
                bodies: Vec1::try_from(bodies).expect("a multipart has at least one part"),
                subtype: string(&part.ctype.sub, false),
                extension_data: ext.then(|| MultiPartExtensionData {
                    parameter_list: params(&part.ctype.params),
                    tail: Some(tail(header)),
                }),
            }
        }
        kind => {
            let body = &raw[part.body.clone()];
            let lines = memchr::memchr_iter(b'\n', body).count() as u32;
            let is_text = part.ctype.is("text");
            let mut parameter_list = params(&part.ctype.params);
            if is_text && part.ctype.param("charset").is_none() {
                parameter_list.push((string(b"charset", false), string(b"us-ascii", false)));
            }
            let encoding = field(header, b"Content-Transfer-Encoding")
                .and_then(|(v, _)| {
                    let (toks, _) = tokenize(&v, b"");
                    toks.into_iter().find_map(|t| match t {
                        Tok::Word { text, .. } => Some(text),
                        _ => None,
                    })
                })
                .unwrap_or_else(|| b"7bit".to_vec());
            let basic = BasicFields {
                parameter_list,
                id: header_text(header, b"Content-ID"),
                description: header_text(header, b"Content-Description"),
                content_transfer_encoding: string(&encoding, false),
                size: body.len().min(u32::MAX as usize) as u32,
            };
            let specific = match kind {
                Kind::Message(inner) => SpecificFields::Message {
                    envelope: Box::new(envelope(&raw[inner.header.clone()])),
                    body_structure: Box::new(body_structure(raw, inner, ext)),
                    number_of_lines: lines,
                },
                _ if is_text => {
                    SpecificFields::Text { subtype: string(&part.ctype.sub, false), number_of_lines: lines }
                }
                _ => SpecificFields::Basic {
                    r#type: string(&part.ctype.ty, false),
                    subtype: string(&part.ctype.sub, false),
                },
            };
            BodyStructure::Single {
                body: Body { basic, specific },
                extension_data: ext.then(|| SinglePartExtensionData { md5: NString(None), tail: Some(tail(header)) }),
            }
        }
    }
}
