//! An `Email/set` create, checked (RFC 8621 section 4.6): the JMAP object becomes a
//! [`Draft`] for `build`, or a SetError naming what is wrong.
//!
//! A body is given either as `bodyStructure` (a tree of parts, leaves by `partId` into
//! `bodyValues` or by `blobId`) or as `textBody` / `htmlBody` / `attachments`; both end up as
//! the same tree of [`Part`]s, so one builder writes every draft. The rules of section 4.6 are
//! checked here, in one place: no `headers` property, no two properties for one header field
//! (a part's `header:Content-Type` and `header:Content-Disposition` are read as its type,
//! charset, name and disposition, and refused beside them),
//! parsed forms only where section 4.1.2 allows them, `Content-*` only on parts, no
//! Content-Transfer-Encoding, `bodyStructure` alone, a leaf with a partId or a blobId and not
//! both, no charset or size beside a partId, no partId, blobId, charset or size on a multipart.
//! An error in a `bodyStructure` names the property's path (`bodyStructure/subParts/1/partId`);
//! an error in a part of `textBody`, `htmlBody` or `attachments` names that list, as it always
//! has. Every string bound for a header is refused when it holds CR, LF or NUL.

use std::collections::BTreeMap;

use mail_parser::MimeHeaders;
use serde_json::{Map, Value, json};

use super::build::{Addr, Content, Draft, HeaderValue, Part};
use crate::jmap::body::{self, Form};

/// How deep a `bodyStructure` may nest.
pub const MAX_DEPTH: usize = 10;

/// How many leaf parts (a `partId` or a `blobId`) one create may have.
pub const MAX_LEAVES: usize = 256;

/// How many octets the leaf parts of one create may hold together: the
/// `maxSizeAttachmentsPerEmail` the session advertises.
pub const MAX_BYTES: usize = crate::jmap::limits::MAX_SIZE_UPLOAD;

/// The `tooLarge` SetError (RFC 8620 section 5.3) of a create past a limit.
fn too_large(description: &str) -> Value {
    json!({"type": "tooLarge", "description": description})
}

/// The `invalidProperties` SetError naming `props`.
pub use crate::jmap::method::invalid_properties as invalid;

/// Where a part sits: its path in the object, or the one list property (`textBody`,
/// `htmlBody`, `attachments`) every error in it names.
#[derive(Debug, Clone)]
enum Loc {
    Path(String),
    Flat(&'static str),
}

impl Loc {
    fn at(&self, key: &str) -> String {
        match self {
            Loc::Path(p) => format!("{p}/{key}"),
            Loc::Flat(f) => f.to_string(),
        }
    }
    fn here(&self) -> String {
        match self {
            Loc::Path(p) => p.clone(),
            Loc::Flat(f) => f.to_string(),
        }
    }
    fn child(&self, i: usize) -> Loc {
        match self {
            Loc::Path(p) => Loc::Path(format!("{p}/subParts/{i}")),
            Loc::Flat(f) => Loc::Flat(f),
        }
    }
}

/// The Email properties that stand for a header field, and that field.
const CONVENIENCE: &[(&str, &str)] = &[
    ("from", "From"),
    ("sender", "Sender"),
    ("to", "To"),
    ("cc", "Cc"),
    ("bcc", "Bcc"),
    ("replyTo", "Reply-To"),
    ("subject", "Subject"),
    ("sentAt", "Date"),
    ("messageId", "Message-ID"),
    ("inReplyTo", "In-Reply-To"),
    ("references", "References"),
];

/// The EmailBodyPart properties that stand for a header field of their own.
const PART_CONVENIENCE: &[(&str, &str)] =
    &[("cid", "Content-ID"), ("language", "Content-Language"), ("location", "Content-Location")];

/// Properties a create may give besides the header fields above and `header:*`.
const OTHER_PROPS: &[&str] =
    &["mailboxIds", "keywords", "receivedAt", "bodyStructure", "bodyValues", "textBody", "htmlBody", "attachments"];

const ADDRESS_FIELDS: &[&str] = &[
    "From",
    "Sender",
    "Reply-To",
    "To",
    "Cc",
    "Bcc",
    "Resent-From",
    "Resent-Sender",
    "Resent-Reply-To",
    "Resent-To",
    "Resent-Cc",
    "Resent-Bcc",
];
const ID_FIELDS: &[&str] = &["Message-ID", "In-Reply-To", "References", "Resent-Message-ID"];
const DATE_FIELDS: &[&str] = &["Date", "Resent-Date"];
const URL_FIELDS: &[&str] =
    &["List-Help", "List-Unsubscribe", "List-Subscribe", "List-Post", "List-Owner", "List-Archive"];
const TEXT_FIELDS: &[&str] = &["Subject", "Comments", "Keywords", "List-Id"];
const OTHER_KNOWN: &[&str] = &["Return-Path", "Received", "Content-ID", "Content-Language", "Content-Location"];

fn one_of(list: &[&str], name: &str) -> bool {
    list.iter().any(|k| k.eq_ignore_ascii_case(name))
}

/// The usual spelling of a header field name we know (so `header:message-id` is the
/// Message-ID that keeps the builder from adding one), else the name as given.
fn canonical(name: &str) -> String {
    [ADDRESS_FIELDS, ID_FIELDS, DATE_FIELDS, URL_FIELDS, TEXT_FIELDS, OTHER_KNOWN]
        .iter()
        .flat_map(|l| l.iter())
        .find(|k| k.eq_ignore_ascii_case(name))
        .map_or_else(|| name.to_string(), |k| k.to_string())
}

/// Whether RFC 8621 section 4.1.2 allows header field `name` in `form`: raw always; a parsed
/// form for the fields it names, and for any field RFC 5322 and RFC 2369 do not define.
pub fn form_allowed(name: &str, form: Form) -> bool {
    let known = [ADDRESS_FIELDS, ID_FIELDS, DATE_FIELDS, URL_FIELDS, &TEXT_FIELDS[..3], &["Return-Path", "Received"]]
        .iter()
        .any(|l| one_of(l, name));
    match form {
        Form::Raw => true,
        _ if !known => true,
        Form::Text => one_of(TEXT_FIELDS, name),
        Form::Addresses | Form::GroupedAddresses => one_of(ADDRESS_FIELDS, name),
        Form::MessageIds => one_of(ID_FIELDS, name),
        Form::Date => one_of(DATE_FIELDS, name),
        Form::Urls => one_of(URL_FIELDS, name),
    }
}

fn is_id(s: &str) -> bool {
    !s.is_empty() && body::one_line(s) && !s.contains(['<', '>', ' ', '\t'])
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A list of EmailAddress objects; `prop` names the property in an error.
pub fn addresses(v: Option<&Value>, prop: &str) -> Result<Vec<Addr>, Value> {
    match v {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                let email = x
                    .get("email")
                    .and_then(Value::as_str)
                    .filter(|e| e.contains('@') && body::one_line(e) && !e.contains(['<', '>', ' ', '\t']));
                let name = match x.get("name") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(n)) if body::one_line(n) => Some(n.clone()),
                    Some(_) => return Err(invalid(&[prop], "an address name must be one line of text")),
                };
                match email {
                    Some(e) => Ok((name, e.to_string())),
                    None => Err(invalid(&[prop], "each address needs a valid email")),
                }
            })
            .collect(),
        Some(_) => Err(invalid(&[prop], "must be a list of addresses")),
    }
}

fn id_list(v: Option<&Value>, prop: &str) -> Result<Vec<String>, Value> {
    match v {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .filter(|s| is_id(s))
                    .map(String::from)
                    .ok_or_else(|| invalid(&[prop], "message ids without <>"))
            })
            .collect(),
        Some(_) => Err(invalid(&[prop], "must be a list")),
    }
}

fn date(s: &str, prop: &str) -> Result<i64, Value> {
    chrono::DateTime::parse_from_rfc3339(s).map(|d| d.timestamp()).map_err(|_| invalid(&[prop], "not a date"))
}

/// One value of a header property in `form`.
fn header_value(v: &Value, form: Form, prop: &str) -> Result<HeaderValue, Value> {
    let text = |what: &str| -> Result<String, Value> {
        match v.as_str() {
            Some(s) if body::one_line(s) => Ok(s.to_string()),
            Some(_) => Err(invalid(&[prop], "no line breaks in header values")),
            None => Err(invalid(&[prop], what)),
        }
    };
    Ok(match form {
        Form::Raw => HeaderValue::Raw(text("a raw header value is a string")?),
        Form::Text => HeaderValue::Text(text("a text header value is a string")?),
        Form::Addresses => HeaderValue::Addresses(addresses(Some(v), prop)?),
        Form::GroupedAddresses => {
            let groups = v.as_array().ok_or_else(|| invalid(&[prop], "must be a list of address groups"))?;
            let mut out = Vec::new();
            for g in groups {
                let name = match g.get("name") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(n)) if body::one_line(n) => Some(n.clone()),
                    Some(_) => return Err(invalid(&[prop], "a group name must be one line of text")),
                };
                out.push((name, addresses(Some(g.get("addresses").unwrap_or(&Value::Null)), prop)?));
            }
            HeaderValue::Groups(out)
        }
        Form::MessageIds => HeaderValue::MessageIds(id_list(Some(v), prop)?),
        Form::Date => HeaderValue::Date(date(&text("a date is a string")?, prop)?),
        Form::Urls => {
            let list = v.as_array().ok_or_else(|| invalid(&[prop], "must be a list of URLs"))?;
            HeaderValue::Urls(
                list.iter()
                    .map(|u| {
                        u.as_str()
                            .filter(|s| !s.is_empty() && body::one_line(s) && !s.contains(['<', '>']))
                            .map(String::from)
                            .ok_or_else(|| invalid(&[prop], "URLs without <>"))
                    })
                    .collect::<Result<_, _>>()?,
            )
        }
    })
}

/// The header fields a set of `header:*` properties gives, checked. `at` turns a property
/// into the path an error names; `on_part`: the properties are a body part's.
fn header_fields(
    o: &Map<String, Value>,
    at: &dyn Fn(&str) -> String,
    on_part: bool,
) -> Result<Vec<(String, String, HeaderValue)>, Value> {
    let mut out = Vec::new();
    for (k, v) in o {
        let Some(hp) = body::parse_header_prop(k) else { continue };
        let name = hp.name.as_str();
        if name.eq_ignore_ascii_case("Content-Transfer-Encoding") {
            return Err(invalid(&[at(k)], "the server chooses the Content-Transfer-Encoding"));
        }
        if name.eq_ignore_ascii_case("MIME-Version") {
            return Err(invalid(&[at(k)], "the server writes MIME-Version"));
        }
        let content = name.get(..8).is_some_and(|h| h.eq_ignore_ascii_case("Content-"));
        if content && !on_part {
            return Err(invalid(&[at(k)], "Content-* header fields belong on body parts (bodyStructure)"));
        }
        if on_part && (name.eq_ignore_ascii_case("Content-Type") || name.eq_ignore_ascii_case("Content-Disposition")) {
            // Read as the part's type, charset, name and disposition (`content_header`).
            continue;
        }
        if !form_allowed(name, hp.form) {
            return Err(invalid(&[at(k)], "this header field cannot be given in that form (RFC 8621 section 4.1.2)"));
        }
        let canonical = canonical(name);
        match (v, hp.all) {
            (Value::Null, _) => {}
            (Value::Array(list), true) => {
                for x in list {
                    out.push((k.clone(), canonical.clone(), header_value(x, hp.form, &at(k))?));
                }
            }
            (_, true) => return Err(invalid(&[at(k)], "a :all header property is a list of values")),
            (v, false) => out.push((k.clone(), canonical, header_value(v, hp.form, &at(k))?)),
        }
    }
    Ok(out)
}

/// Refuse two properties that stand for one header field. `given`: (property, field name).
fn no_two_for_one(given: &[(String, String)], at: &dyn Fn(&str) -> String) -> Result<(), Value> {
    let mut by_field: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (prop, field) in given {
        let props = by_field.entry(field.to_ascii_lowercase()).or_default();
        if !props.contains(prop) {
            props.push(prop.clone());
        }
    }
    match by_field.values().find(|p| p.len() > 1) {
        Some(props) => {
            Err(invalid(&props.iter().map(|p| at(p)).collect::<Vec<_>>(), "two properties give the same header field"))
        }
        None => Ok(()),
    }
}

fn present(o: &Map<String, Value>, k: &str) -> bool {
    o.get(k).is_some_and(|v| !v.is_null())
}

/// The text of `bodyValues`, by part id.
fn body_values(o: &Map<String, Value>) -> Result<BTreeMap<String, String>, Value> {
    let mut out = BTreeMap::new();
    match o.get("bodyValues") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (id, v) in m {
                let path = |k: &str| format!("bodyValues/{}/{k}", id.replace('~', "~0").replace('/', "~1"));
                let value = v
                    .get("value")
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid(&[path("value")], "a body value is a string"))?;
                for flag in ["isEncodingProblem", "isTruncated"] {
                    if !matches!(v.get(flag), None | Some(Value::Null) | Some(Value::Bool(false))) {
                        return Err(invalid(&[path(flag)], "must be false on create"));
                    }
                }
                out.insert(id.clone(), value.to_string());
            }
        }
        Some(_) => return Err(invalid(&["bodyValues"], "must be an object")),
    }
    Ok(out)
}

/// A part's `header:Content-Type` or `header:Content-Disposition`, read as the properties it
/// stands for: (the property, the value as `type/subtype` or the disposition, lowercase, and
/// its parameters). `same`: the part's properties that give the same header field.
#[allow(clippy::type_complexity)]
fn content_header(
    o: &Map<String, Value>,
    field: &str,
    same: &[&str],
    at: &dyn Fn(&str) -> String,
) -> Result<Option<(String, String, Vec<(String, String)>)>, Value> {
    let given: Vec<(&String, body::HeaderProp, &Value)> = o
        .iter()
        .filter(|(_, v)| !v.is_null())
        .filter_map(|(k, v)| {
            body::parse_header_prop(k).filter(|h| h.name.eq_ignore_ascii_case(field)).map(|h| (k, h, v))
        })
        .collect();
    let Some((k, hp, v)) = given.first() else { return Ok(None) };
    let also: Vec<String> =
        same.iter().filter(|p| present(o, p)).map(|p| at(p)).chain(given.iter().skip(1).map(|g| at(g.0))).collect();
    if !also.is_empty() {
        let props: Vec<String> = also.into_iter().chain([at(k)]).collect();
        return Err(invalid(&props, "two properties give the same header field"));
    }
    let value = match (v.as_str(), hp.form, hp.all) {
        (Some(s), Form::Raw | Form::Text, false) if body::one_line(s) => s,
        _ => return Err(invalid(&[at(k)], "give this header field as one line of text, raw or asText")),
    };
    let raw = format!("{field}:{value}\r\n\r\n");
    let parsed = mail_parser::MessageParser::default().parse(raw.as_bytes());
    let read = parsed.as_ref().and_then(|m| {
        let part = m.root_part();
        let ct = if field == "Content-Type" { part.content_type() } else { part.content_disposition() }?;
        let main = match ct.subtype() {
            Some(st) => format!("{}/{st}", ct.ctype()),
            None => ct.ctype().to_string(),
        };
        let params =
            ct.attributes().unwrap_or_default().iter().map(|a| (a.name.to_ascii_lowercase(), a.value.to_string()));
        Some((main.to_ascii_lowercase(), params.collect::<Vec<_>>()))
    });
    let ok = |m: &str| if field == "Content-Type" { body::is_mime_type(m) } else { is_token(m) };
    match read {
        Some((main, params)) if ok(&main) => Ok(Some((k.to_string(), main, params))),
        _ => Err(invalid(&[at(k)], "not a header field value this server can read")),
    }
}

fn param(params: &[(String, String)], name: &str) -> Option<String> {
    params.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
}

/// What a part reads from outside itself, and what the leaves read so far add up to.
struct Inputs<'a> {
    values: &'a BTreeMap<String, String>,
    blob: &'a mut dyn FnMut(&str) -> Option<Vec<u8>>,
    leaves: usize,
    bytes: usize,
}

impl Inputs<'_> {
    /// Count one more leaf, refusing the create past [`MAX_LEAVES`] before anything is read.
    fn leaf(&mut self) -> Result<(), Value> {
        self.leaves += 1;
        if self.leaves > MAX_LEAVES {
            return Err(too_large(&format!("at most {MAX_LEAVES} body parts in one email")));
        }
        Ok(())
    }
    /// Count `n` more octets of content, refusing the create past [`MAX_BYTES`].
    fn add(&mut self, n: usize) -> Result<(), Value> {
        self.bytes = self.bytes.saturating_add(n);
        if self.bytes > MAX_BYTES {
            return Err(too_large(&format!(
                "the body parts of this email come to more than {MAX_BYTES} octets (maxSizeAttachmentsPerEmail)"
            )));
        }
        Ok(())
    }
}

const PART_PROPS: &[&str] =
    &["partId", "blobId", "size", "name", "type", "charset", "disposition", "cid", "language", "location", "subParts"];

/// One EmailBodyPart of a create. `default_ty`: its type when none is given (a leaf);
/// `top`: the header fields of the email, for the root of a `bodyStructure`.
fn part(
    v: &Value,
    loc: &Loc,
    depth: usize,
    inp: &mut Inputs<'_>,
    default_ty: &str,
    top: &[String],
) -> Result<Part, Value> {
    let at = |k: &str| loc.at(k);
    let o = v.as_object().ok_or_else(|| invalid(&[loc.here()], "a body part is an object"))?;
    if depth > MAX_DEPTH {
        return Err(invalid(&[loc.here()], "body parts are nested too deep"));
    }
    for (k, v) in o {
        if v.is_null() {
            continue;
        }
        if k == "headers" {
            return Err(invalid(
                &[at(k)],
                "give each header field as its own header:Name property (RFC 8621 section 4.6)",
            ));
        }
        if !PART_PROPS.contains(&k.as_str()) && body::parse_header_prop(k).is_none() {
            return Err(invalid(&[at(k)], "is not a body part property"));
        }
    }
    let s = |k: &str| -> Result<Option<String>, Value> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid(&[at(k)], "must be a string")),
        }
    };
    let mut p = Part::default();
    let ct = content_header(o, "Content-Type", &["type", "charset"], &at)?;
    let cd = content_header(o, "Content-Disposition", &["disposition", "name"], &at)?;
    let ty = s("type")?.map(|t| t.to_ascii_lowercase());
    if ty.as_deref().is_some_and(|t| !body::is_mime_type(t)) {
        return Err(invalid(&[at("type")], "an attachment's type must be a MIME type like application/pdf"));
    }
    let ty = ty.or_else(|| ct.as_ref().map(|c| c.1.clone()));
    let header_charset = ct.as_ref().and_then(|c| param(&c.2, "charset").map(|v| (c.0.clone(), v)));
    p.name = s("name")?
        .or_else(|| cd.as_ref().and_then(|c| param(&c.2, "filename")))
        .or_else(|| ct.as_ref().and_then(|c| param(&c.2, "name")));
    if p.name.as_deref().is_some_and(|n| !body::one_line(n)) {
        return Err(invalid(&[at("name")], "an attachment's name must be one line of text"));
    }
    p.disposition = s("disposition")?.map(|d| d.to_ascii_lowercase()).or_else(|| cd.as_ref().map(|c| c.1.clone()));
    if p.disposition.as_deref().is_some_and(|d| !is_token(d)) {
        return Err(invalid(&[at("disposition")], "a disposition is a word like attachment or inline"));
    }
    p.cid = s("cid")?;
    if p.cid.as_deref().is_some_and(|c| !is_id(c)) {
        return Err(invalid(&[at("cid")], "an attachment's cid must be a content id without <>"));
    }
    p.language = match o.get("language") {
        None | Some(Value::Null) => vec![],
        Some(Value::Array(a)) => a
            .iter()
            .map(|l| {
                l.as_str()
                    .filter(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
                    .map(String::from)
                    .ok_or_else(|| invalid(&[at("language")], "language tags like de or de-AT"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(invalid(&[at("language")], "must be a list of language tags")),
    };
    p.location = s("location")?;
    if p.location.as_deref().is_some_and(|l| !body::one_line(l) || l.contains([' ', '\t'])) {
        return Err(invalid(&[at("location")], "a location is one URI"));
    }
    match o.get("subParts") {
        None | Some(Value::Null) => {
            let (pid, bid) = (s("partId")?, s("blobId")?);
            match (pid, bid) {
                (Some(_), Some(_)) => {
                    return Err(invalid(&[at("partId"), at("blobId")], "a part has a partId or a blobId, not both"));
                }
                (None, None) => {
                    return Err(invalid(&[at("partId")], "a part needs a partId into bodyValues or a blobId"));
                }
                (Some(id), None) => {
                    for k in ["charset", "size"] {
                        if present(o, k) {
                            return Err(invalid(&[at(k)], "not with a partId: the server chooses it"));
                        }
                    }
                    if let Some((k, _)) = &header_charset {
                        return Err(invalid(&[at(k)], "no charset with a partId: the server chooses it"));
                    }
                    let value = inp
                        .values
                        .get(&id)
                        .ok_or_else(|| invalid(&[at("partId")], "the partId is not in bodyValues"))?;
                    let value = value.clone();
                    inp.leaf()?;
                    inp.add(value.len())?;
                    p.ty = ty.unwrap_or_else(|| default_ty.to_string());
                    if !p.ty.starts_with("text/") {
                        return Err(invalid(&[at("type")], "a part from bodyValues is text/*"));
                    }
                    p.content = Content::Text(value);
                }
                (None, Some(b)) => {
                    inp.leaf()?;
                    let data = (inp.blob)(&b).ok_or_else(|| json!({"type": "blobNotFound", "notFound": [b]}))?;
                    inp.add(data.len())?;
                    p.ty = ty.unwrap_or_else(|| default_ty.to_string());
                    p.charset =
                        s("charset")?.or_else(|| header_charset.map(|(_, c)| c)).map(|c| c.to_ascii_lowercase());
                    if p.charset.as_deref().is_some_and(|c| !is_token(c)) {
                        return Err(invalid(&[at("charset")], "a charset name like iso-8859-1"));
                    }
                    p.content = Content::Bytes(data);
                }
            }
            if p.ty.starts_with("multipart/") {
                return Err(invalid(&[at("type")], "a multipart part needs subParts"));
            }
        }
        Some(Value::Array(sub)) => {
            for k in ["partId", "blobId", "charset", "size"] {
                if present(o, k) {
                    return Err(invalid(&[at(k)], "a multipart part has no partId, blobId, charset or size"));
                }
            }
            p.ty = ty.unwrap_or_else(|| "multipart/mixed".into());
            if !p.ty.starts_with("multipart/") {
                return Err(invalid(&[at("type")], "a part with subParts is multipart/*"));
            }
            if sub.is_empty() {
                return Err(invalid(&[at("subParts")], "a multipart part needs at least one part"));
            }
            let mut children = Vec::new();
            for (i, c) in sub.iter().enumerate() {
                children.push(part(c, &loc.child(i), depth + 1, inp, "text/plain", &[])?);
            }
            p.content = Content::Multipart(children);
        }
        Some(_) => return Err(invalid(&[at("subParts")], "must be a list of body parts")),
    }
    let fields = header_fields(o, &at, true)?;
    let mut given: Vec<(String, String)> =
        PART_CONVENIENCE.iter().filter(|(k, _)| present(o, k)).map(|(k, f)| (k.to_string(), f.to_string())).collect();
    given.extend(fields.iter().map(|(prop, field, _)| (prop.clone(), field.clone())));
    no_two_for_one(&given, &at)?;
    if let Some((prop, _, _)) = fields.iter().find(|(_, f, _)| top.iter().any(|t| t.eq_ignore_ascii_case(f))) {
        return Err(invalid(&[at(prop)], "this header field is already given on the email"));
    }
    p.headers = fields.into_iter().map(|(_, f, v)| (f, v)).collect();
    Ok(p)
}

/// The body of a create given as `textBody`, `htmlBody` and `attachments`.
fn simple_body(o: &Map<String, Value>, inp: &mut Inputs<'_>) -> Result<Part, Value> {
    let list = |key: &'static str| -> Result<Vec<Value>, Value> {
        match o.get(key) {
            None | Some(Value::Null) => Ok(vec![]),
            Some(Value::Array(a)) => Ok(a.clone()),
            Some(_) => Err(invalid(&[key], "must be a list of body parts")),
        }
    };
    let mut one = |key: &'static str, ty: &str| -> Result<Option<Part>, Value> {
        let parts = list(key)?;
        if parts.len() > 1 {
            return Err(invalid(&[key], "at most one part (RFC 8621 section 4.6)"));
        }
        let Some(v) = parts.first() else { return Ok(None) };
        let p = part(v, &Loc::Flat(key), 0, inp, ty, &[])?;
        if p.ty != ty {
            return Err(invalid(&[key], format!("the part's type must be {ty}")));
        }
        Ok(Some(p))
    };
    let text = one("textBody", "text/plain")?;
    let html = one("htmlBody", "text/html")?;
    let mut attachments = Vec::new();
    for v in list("attachments")? {
        let mut a = part(&v, &Loc::Flat("attachments"), 0, inp, "application/octet-stream", &[])?;
        if a.disposition.as_deref() == Some("inline") && a.cid.is_some() {
            a.name = None;
        } else {
            a.disposition = Some("attachment".into());
            a.name = Some(a.name.unwrap_or_else(|| "attachment".into()));
            a.cid = None;
        }
        attachments.push(a);
    }
    Ok(Part::simple(text, html, attachments))
}

/// The [`Draft`] of a create, or the SetError that refuses it. `blob` reads a blob the
/// account may use; it is called once per leaf that names a blob (the caller keeps what it
/// read, so one blob named twice is read once). At most [`MAX_LEAVES`] leaves and
/// [`MAX_BYTES`] octets of content: past either the create is `tooLarge`.
pub fn draft(o: &Map<String, Value>, blob: &mut dyn FnMut(&str) -> Option<Vec<u8>>) -> Result<Draft, Value> {
    let same = |k: &str| k.to_string();
    for (k, v) in o {
        if v.is_null()
            || body::parse_header_prop(k).is_some()
            || CONVENIENCE.iter().any(|(c, _)| c == k)
            || OTHER_PROPS.contains(&k.as_str())
        {
            continue;
        }
        return Err(match k.as_str() {
            "headers" => invalid(&[k], "give each header field as its own header:Name property (RFC 8621 section 4.6)"),
            "id" | "blobId" | "threadId" | "size" | "hasAttachment" | "preview" => {
                invalid(&[k], "is set by the server")
            }
            _ => invalid(&[k], "cannot be set on create"),
        });
    }
    let mut d = Draft {
        from: addresses(o.get("from"), "from")?,
        sender: addresses(o.get("sender"), "sender")?,
        to: addresses(o.get("to"), "to")?,
        cc: addresses(o.get("cc"), "cc")?,
        bcc: addresses(o.get("bcc"), "bcc")?,
        reply_to: addresses(o.get("replyTo"), "replyTo")?,
        subject: match o.get("subject") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if body::one_line(s) => Some(s.clone()),
            Some(Value::String(_)) => return Err(invalid(&["subject"], "no line breaks in the subject")),
            Some(_) => return Err(invalid(&["subject"], "must be a string")),
        },
        ..Default::default()
    };
    if let Some(s) = o.get("sentAt").and_then(Value::as_str) {
        d.sent_at = Some(date(s, "sentAt")?);
    }
    d.message_id = id_list(o.get("messageId"), "messageId")?.into_iter().next();
    d.in_reply_to = id_list(o.get("inReplyTo"), "inReplyTo")?;
    d.references = id_list(o.get("references"), "references")?;

    let fields = header_fields(o, &same, false)?;
    let mut given: Vec<(String, String)> =
        CONVENIENCE.iter().filter(|(k, _)| present(o, k)).map(|(k, f)| (k.to_string(), f.to_string())).collect();
    given.extend(fields.iter().map(|(prop, field, _)| (prop.clone(), field.clone())));
    no_two_for_one(&given, &same)?;
    let top: Vec<String> = given.iter().map(|(_, f)| f.clone()).collect();
    d.headers = fields.into_iter().map(|(_, f, v)| (f, v)).collect();

    let values = body_values(o)?;
    let mut inp = Inputs { values: &values, blob, leaves: 0, bytes: 0 };
    d.body = if present(o, "bodyStructure") {
        let with: Vec<&str> = ["textBody", "htmlBody", "attachments"].into_iter().filter(|k| present(o, k)).collect();
        if !with.is_empty() {
            return Err(invalid(&with, "not together with bodyStructure"));
        }
        part(&o["bodyStructure"], &Loc::Path("bodyStructure".into()), 0, &mut inp, "text/plain", &top)?
    } else {
        simple_body(o, &mut inp)?
    };
    Ok(d)
}

#[cfg(test)]
#[path = "create_tests.rs"]
mod tests;
