//! The RFC 5322 bytes of an email a phone creates, from a checked [`Draft`]: one builder for
//! every way RFC 8621 section 4.6 lets a client describe a body.
//!
//! `create` turns the JMAP object into a `Draft` whose body is always a tree of [`Part`]s:
//! a `bodyStructure` is that tree as given, and `textBody` / `htmlBody` / `attachments` become
//! the tree [`Part::simple`] makes of them. This file only writes; it never refuses. Every
//! header is written by `mail-builder`, so non-ASCII words in headers are RFC 2047 encoded,
//! non-ASCII file names RFC 2231 encoded, and text bodies quoted-printable or base64 as
//! needed. Nothing here checks for CR or LF: `create` has refused those before a value gets
//! here. A draft gets a Message-ID on the mailbox's company domain and a Date unless it
//! names its own.

use mail_builder::MessageBuilder;
use mail_builder::headers::HeaderType;
use mail_builder::headers::address::Address;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::date::Date;
use mail_builder::headers::message_id::MessageId;
use mail_builder::headers::raw::Raw;
use mail_builder::headers::text::Text;
use mail_builder::headers::url::URL;
use mail_builder::mime::{BodyPart, MimePart};

/// An address as (name, email).
pub type Addr = (Option<String>, String);

/// A header field's value in the form the client gave it (`header:Name:asForm`).
#[derive(Debug, Clone, PartialEq)]
pub enum HeaderValue {
    /// Written as given (folded, never encoded).
    Raw(String),
    /// Unstructured text, RFC 2047 encoded where needed.
    Text(String),
    Addresses(Vec<Addr>),
    /// (group name, its addresses); a group without a name is a plain list.
    Groups(Vec<(Option<String>, Vec<Addr>)>),
    /// Message ids without angle brackets.
    MessageIds(Vec<String>),
    /// Unix seconds.
    Date(i64),
    Urls(Vec<String>),
}

/// One MIME part of a draft.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Part {
    /// `type/subtype`, lowercase.
    pub ty: String,
    /// The charset of a leaf given as a blob; text from `bodyValues` is always UTF-8.
    pub charset: Option<String>,
    pub name: Option<String>,
    pub disposition: Option<String>,
    pub cid: Option<String>,
    pub language: Vec<String>,
    pub location: Option<String>,
    /// Other header fields of the part, in order.
    pub headers: Vec<(String, HeaderValue)>,
    pub content: Content,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// A value from `bodyValues`.
    Text(String),
    /// The bytes of a blob.
    Bytes(Vec<u8>),
    Multipart(Vec<Part>),
}

impl Default for Content {
    fn default() -> Self {
        Content::Text(String::new())
    }
}

impl Part {
    /// A text leaf of `ty` (text/plain, text/html).
    pub fn text(ty: &str, value: String) -> Part {
        Part { ty: ty.into(), content: Content::Text(value), ..Default::default() }
    }

    /// The body of a draft given as `textBody`, `htmlBody` and `attachments`: the text and
    /// HTML as multipart/alternative when both are there, and the attachments beside that
    /// in a multipart/mixed (mail-builder's own layout, which drafts have always had).
    pub fn simple(text: Option<Part>, html: Option<Part>, attachments: Vec<Part>) -> Part {
        let body = match (text, html) {
            (Some(t), Some(h)) => Some(Part::multipart("multipart/alternative", vec![t, h])),
            (t, h) => t.or(h),
        };
        match (body, attachments.is_empty()) {
            (Some(b), true) => b,
            (None, true) => Part::text("text/plain", String::new()),
            (b, false) => Part::multipart("multipart/mixed", b.into_iter().chain(attachments).collect()),
        }
    }

    pub fn multipart(ty: &str, parts: Vec<Part>) -> Part {
        Part { ty: ty.into(), content: Content::Multipart(parts), ..Default::default() }
    }
}

/// What a phone sent to create an email, checked and reduced to what we build from.
#[derive(Debug, Default)]
pub struct Draft {
    pub from: Vec<Addr>,
    pub sender: Vec<Addr>,
    pub to: Vec<Addr>,
    pub cc: Vec<Addr>,
    pub bcc: Vec<Addr>,
    pub reply_to: Vec<Addr>,
    pub subject: Option<String>,
    pub sent_at: Option<i64>,
    pub message_id: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    /// Other header fields of the message (`header:*`), names spelled canonically.
    pub headers: Vec<(String, HeaderValue)>,
    pub body: Part,
}

fn address(list: &[Addr]) -> Address<'static> {
    Address::new_list(list.iter().map(|(n, e)| Address::new_address(n.clone(), e.clone())).collect())
}

fn header_type(v: &HeaderValue) -> HeaderType<'static> {
    match v {
        // mail-builder writes "Name: "; a raw value keeps its own leading space otherwise.
        HeaderValue::Raw(s) => Raw::new(s.strip_prefix([' ', '\t']).unwrap_or(s).to_string()).into(),
        HeaderValue::Text(s) => Text::new(s.clone()).into(),
        HeaderValue::Addresses(l) => address(l).into(),
        HeaderValue::Groups(g) => Address::new_list(
            g.iter()
                .flat_map(|(name, l)| match name {
                    Some(n) => vec![Address::new_group(Some(n.clone()), vec![address(l)])],
                    None => l.iter().map(|(n, e)| Address::new_address(n.clone(), e.clone())).collect(),
                })
                .collect(),
        )
        .into(),
        HeaderValue::MessageIds(ids) => MessageId::new_list(ids.clone().into_iter()).into(),
        HeaderValue::Date(t) => Date::new(*t).into(),
        HeaderValue::Urls(u) => URL::new_list(u.clone().into_iter()).into(),
    }
}

fn mime(p: Part) -> MimePart<'static> {
    let mut ct = ContentType::new(p.ty.clone());
    let mut raw_encoding = None;
    let contents = match p.content {
        Content::Text(s) => BodyPart::Text(s.into()),
        Content::Bytes(b) => {
            if let Some(c) = &p.charset {
                ct = ct.attribute("charset", c.clone());
            } else if p.ty.starts_with("text/") && !b.is_ascii() && std::str::from_utf8(&b).is_ok() {
                ct = ct.attribute("charset", "utf-8");
            }
            // A message/* part may not be base64 encoded (RFC 2046 section 5.2.1): it goes
            // as it is, 7bit or 8bit.
            if p.ty.starts_with("message/") {
                raw_encoding = Some(if b.is_ascii() { "7bit" } else { "8bit" });
            }
            BodyPart::Binary(b.into())
        }
        Content::Multipart(parts) => BodyPart::Multipart(parts.into_iter().map(mime).collect()),
    };
    let mut m = MimePart::new(ct, contents);
    if p.disposition.is_some() || p.name.is_some() {
        let mut d = ContentType::new(p.disposition.unwrap_or_else(|| "attachment".into()));
        if let Some(n) = p.name {
            d = d.attribute("filename", n);
        }
        m = m.header("Content-Disposition", d);
    }
    if let Some(c) = p.cid {
        m = m.cid(c);
    }
    if !p.language.is_empty() {
        m = m.language(p.language.join(", "));
    }
    if let Some(l) = p.location {
        m = m.location(l);
    }
    for (n, v) in &p.headers {
        m = m.header(n.clone(), header_type(v));
    }
    if let Some(e) = raw_encoding {
        m = m.transfer_encoding(e);
    }
    m
}

fn has_header(headers: &[(String, HeaderValue)], name: &str) -> bool {
    headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
}

/// The RFC 5322 bytes of a draft. `domain` names the Message-ID's right-hand side. The root
/// part's header fields other than `Content-*` land in the same header block as the email's,
/// so they are written as the email's: a Message-ID or Date given on the root part keeps the
/// builder from adding its own.
pub fn build(mut d: Draft, domain: &str, now: i64) -> Vec<u8> {
    let (content, top): (Vec<_>, Vec<_>) = std::mem::take(&mut d.body.headers)
        .into_iter()
        .partition(|(n, _)| n.get(..8).is_some_and(|p| p.eq_ignore_ascii_case("Content-")));
    d.body.headers = content;
    d.headers.extend(top);
    let mut b = MessageBuilder::new();
    let given = |name: &str| has_header(&d.headers, name);
    if !given("Message-ID") {
        let message_id = d.message_id.clone().unwrap_or_else(|| {
            use rand::Rng;
            let n: u64 = rand::rng().random();
            format!("{now:x}.{n:016x}@{domain}")
        });
        b = b.message_id(message_id);
    }
    if !given("Date") {
        b = b.date(d.sent_at.unwrap_or(now));
    }
    for (name, list) in [
        ("From", &d.from),
        ("Sender", &d.sender),
        ("To", &d.to),
        ("Cc", &d.cc),
        ("Bcc", &d.bcc),
        ("Reply-To", &d.reply_to),
    ] {
        if !list.is_empty() {
            b = b.header(name, address(list));
        }
    }
    if let Some(s) = &d.subject {
        b = b.subject(s.clone());
    }
    if !d.in_reply_to.is_empty() {
        b = b.in_reply_to(d.in_reply_to.clone());
    }
    if !d.references.is_empty() {
        b = b.references(d.references.clone());
    }
    for (n, v) in &d.headers {
        b = b.header(n.clone(), header_type(v));
    }
    b.body(mime(d.body)).write_to_vec().unwrap_or_default()
}
