//! "Explain a message" on the automatic-reply page: upload an `.eml` file, or pick one of the
//! mailbox's recent messages, and see whether it would get an automatic reply and why. It is
//! `autoreply::explain`, what `postbote autoreply explain` calls: decided against the stored
//! settings and history as if it arrived now; nothing is sent or recorded. The reasons are
//! worded here in both languages, keyed by the decision's stable reason code.
//!
//! The upload is a `multipart/form-data` form (the one form of the console that is); its two
//! fields (`csrf`, `eml`) are read by [`multipart_fields`], a small reader of that format. It
//! refuses boundaries over RFC 2046's 70 characters, searches in linear time
//! (`memchr::memmem`) and runs off the async threads; an upload over the body limit is a 413
//! said in the page's language.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::autoreply::{Shown, check_mailbox, show};
use crate::app::App;
use crate::autoreply::Reason;
use crate::console::Web;
use crate::console::auth::Viewer;
use crate::console::i18n::{Lang, Words, w};

/// How many recent messages the picker offers.
const RECENT: usize = 15;

pub const TITLE: Words = w("Nachricht prüfen", "Explain a message");
pub const INTRO: Words = w(
    "Würde diese Nachricht jetzt eine automatische Antwort bekommen, und warum? Es wird nichts verschickt.",
    "Would this message get an automatic reply now, and why? Nothing is sent.",
);
pub const UPLOAD: Words = w("Nachricht als .eml-Datei", "Message as an .eml file");
pub const PICK: Words = w("Oder eine der letzten Nachrichten", "Or one of the recent messages");
pub const CHECK: Words = w("Prüfen", "Explain");
pub const NO_MESSAGES: Words = w("Noch keine Nachrichten abgeglichen.", "No messages mirrored yet.");
pub const WOULD_REPLY: Words = w("Bekäme eine automatische Antwort", "Would get an automatic reply");
pub const WOULD_SKIP: Words = w("Bekäme keine automatische Antwort", "Would not get an automatic reply");
pub const REASON: Words = w("Grund", "Reason");
pub const DETAIL: Words = w("Genauer", "Detail");
pub const REPLY_TO: Words = w("Antwort an", "Reply to");
pub const TOO_LARGE: Words = w("Die Datei ist zu groß (höchstens 2 MB).", "The file is too large (2 MB at most).");
pub const NO_FILE: Words = w("Bitte eine .eml-Datei wählen.", "Please choose an .eml file.");
pub const NOT_RECENT: Words = w(
    "Diese Nachricht gehört nicht zu den letzten dieses Postfachs.",
    "That message is not one of this mailbox's recent ones.",
);

/// The reason in words (the code is shown beside it).
pub fn reason_words(r: Reason) -> Words {
    match r {
        Reason::Reply => w(
            "Die Abwesenheit gilt, und nichts spricht gegen eine Antwort.",
            "The leave applies and nothing speaks against a reply.",
        ),
        Reason::Disabled => w("Die automatische Antwort ist ausgeschaltet.", "The automatic reply is switched off."),
        Reason::OutsideLeave => {
            w("Die Nachricht kam außerhalb der Abwesenheit.", "The message came outside the leave.")
        }
        Reason::TooOld => w("Die Nachricht ist zu alt für eine Antwort.", "The message is too old to be answered."),
        Reason::InitialSync => w(
            "Die Nachricht lag schon im Postfach, bevor postbote es beobachtete.",
            "The message was in the mailbox before postbote watched it.",
        ),
        Reason::EmptyReturnPath => w(
            "Die Nachricht hat keinen Rückweg (leerer Return-Path).",
            "The message has no return path (empty Return-Path).",
        ),
        Reason::AutoSubmitted => w(
            "Die Nachricht wurde selbst automatisch verschickt (Auto-Submitted).",
            "The message was itself sent automatically (Auto-Submitted).",
        ),
        Reason::ListHeader => {
            w("Die Nachricht kommt von einer Mailingliste.", "The message comes from a mailing list.")
        }
        Reason::PrecedenceBulk => {
            w("Die Nachricht ist Massenpost (Precedence: bulk).", "The message is bulk mail (Precedence: bulk).")
        }
        Reason::SuppressedBySender => {
            w("Der Absender bittet, nicht automatisch zu antworten.", "The sender asks for no automatic replies.")
        }
        Reason::Spam => w("Die Nachricht gilt als Spam.", "The message counts as spam."),
        Reason::LoopSuspected => w("Eine Antwort könnte eine Schleife auslösen.", "A reply could start a loop."),
        Reason::SystemSender => w(
            "Der Absender ist ein System (z. B. noreply, mailer-daemon).",
            "The sender is a system (e.g. noreply, mailer-daemon).",
        ),
        Reason::OwnAddress => {
            w("Die Nachricht kommt von diesem Postfach selbst.", "The message comes from this mailbox itself.")
        }
        Reason::NotAddressedToMailbox => w(
            "Die Nachricht ist nicht direkt an dieses Postfach gerichtet.",
            "The message is not addressed to this mailbox directly.",
        ),
        Reason::UnknownSender => w(
            "Der Absender ist unbekannt, und es wird nur bekannten geantwortet.",
            "The sender is unknown, and only known senders are answered.",
        ),
        Reason::ConversationAnswered => {
            w("In diesem Gespräch wurde schon geantwortet.", "This conversation was answered already.")
        }
        Reason::ReplyPending => {
            w("Eine Antwort an diesen Absender wartet schon.", "A reply to this sender is already waiting.")
        }
        Reason::AlreadyAnswered => {
            w("Dieser Absender wurde vor kurzem schon beantwortet.", "This sender was answered recently.")
        }
        Reason::RateLimited => w(
            "Es gingen in der letzten Stunde schon zu viele Antworten hinaus.",
            "Too many replies went out in the last hour.",
        ),
    }
}

/// One recent message, as the picker offers it.
#[derive(Debug, Clone)]
pub struct Recent {
    pub id: i64,
    pub received_at: i64,
    pub from: String,
    pub subject: String,
}

/// The mailbox's newest messages, newest first.
pub fn recent_messages(app: &App, mailbox: &str) -> anyhow::Result<Vec<Recent>> {
    Ok(app
        .store
        .messages()
        .list(mailbox, None, RECENT)?
        .into_iter()
        .map(|m| Recent {
            id: m.id,
            received_at: m.received_at,
            from: m.from.first().map(|a| a.email.clone()).unwrap_or_default(),
            subject: m.subject,
        })
        .collect())
}

/// What an explanation shows.
#[derive(Debug, Clone)]
pub struct Explained {
    /// The file name or the message's subject.
    pub source: String,
    pub reply: bool,
    pub reason: Reason,
    pub detail: String,
    pub to: Option<String>,
    pub subject: Option<String>,
}

async fn run(web: &Web, id: &str, source: String, raw: Vec<u8>) -> Result<Explained, Response> {
    let mid = id.to_string();
    web.blocking(move |app| {
        let e = crate::autoreply::explain(app, &mid, &raw, chrono::Utc::now())?;
        Ok(Explained {
            source,
            reply: e.decision.reply,
            reason: e.decision.reason,
            detail: e.decision.detail,
            to: e.reply.as_ref().map(|r| r.to.clone()),
            subject: e.reply.as_ref().map(|r| r.subject.clone()),
        })
    })
    .await
}

async fn answer(web: &Web, v: &Viewer, id: &str, r: Result<Explained, Response>) -> Response {
    match r {
        Ok(e) => show(web, v, id, Shown { explained: Some(e), ..Shown::default() }, StatusCode::OK).await,
        Err(r) => r,
    }
}

fn problem(words: Words) -> Shown {
    Shown { problem: Some(super::autoreply_form::Problem(words, String::new())), ..Shown::default() }
}

/// POST `/autoreply/{mailbox}/explain` (multipart): an uploaded `.eml` file.
pub async fn upload(
    State(web): State<Web>,
    v: Viewer,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return (StatusCode::PAYLOAD_TOO_LARGE, v.lang.t(TOO_LARGE)).into_response();
        }
        Err(e) => return e.into_response(),
    };
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    // Parsed off the async threads: the body may be megabytes.
    let fields = match tokio::task::spawn_blocking(move || multipart_fields(&ct, &body).unwrap_or_default()).await {
        Ok(f) => f,
        Err(e) => return crate::console::internal(&e.to_string()),
    };
    let field = |n: &str| fields.iter().find(|f| f.name == n);
    let csrf = field("csrf").map(|f| String::from_utf8_lossy(&f.data).into_owned()).unwrap_or_default();
    if let Err(r) = check_mailbox(&web, &v, &id).and_then(|_| v.csrf(&csrf)) {
        return r;
    }
    let Some(file) = field("eml").filter(|f| !f.data.is_empty()) else {
        return show(&web, &v, &id, problem(NO_FILE), StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    let source = file.filename.clone().unwrap_or_else(|| "upload.eml".into());
    let r = run(&web, &id, source, file.data.clone()).await;
    answer(&web, &v, &id, r).await
}

#[derive(serde::Deserialize)]
pub struct PickForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    message: i64,
}

/// POST `/autoreply/{mailbox}/explain-message`: one of the recent messages (only those: an id
/// of another mailbox's message is refused).
pub async fn pick(State(web): State<Web>, v: Viewer, Path(id): Path<String>, Form(p): Form<PickForm>) -> Response {
    if let Err(r) = check_mailbox(&web, &v, &id).and_then(|_| v.csrf(&p.csrf)) {
        return r;
    }
    let (mid, wanted) = (id.clone(), p.message);
    let found = web
        .blocking(move |app| {
            let Some(m) = recent_messages(app, &mid)?.into_iter().find(|m| m.id == wanted) else { return Ok(None) };
            Ok(app.store.messages().raw(m.id)?.map(|raw| (m.subject, raw)))
        })
        .await;
    match found {
        Ok(Some((subject, raw))) => {
            let r = run(&web, &id, subject, raw).await;
            answer(&web, &v, &id, r).await
        }
        Ok(None) => show(&web, &v, &id, problem(NOT_RECENT), StatusCode::UNPROCESSABLE_ENTITY).await,
        Err(r) => r,
    }
}

/// The "explain a message" section of the page, with the last explanation if there is one.
pub fn section(
    l: Lang,
    v: &Viewer,
    here: &str,
    recent: &[Recent],
    done: Option<&Explained>,
    tz: chrono_tz::Tz,
) -> Markup {
    let now = crate::store::now();
    html! {
        section #explain {
            h2 { (l.t(TITLE)) }
            p.muted { (l.t(INTRO)) }
            @if let Some(e) = done {
                div.card #explain-result {
                    p { strong { (e.source) } }
                    p class=(if e.reply { "ok" } else { "warn" }) { strong { (l.t(if e.reply { WOULD_REPLY } else { WOULD_SKIP })) } }
                    dl {
                        dt { (l.t(REASON)) } dd { (l.t(reason_words(e.reason))) " " code { (e.reason.code()) } }
                        @if !e.detail.is_empty() { dt { (l.t(DETAIL)) } dd { (e.detail) } }
                        @if let (Some(to), Some(s)) = (&e.to, &e.subject) { dt { (l.t(REPLY_TO)) } dd { (to) " · " (s) } }
                    }
                }
            }
            form.stack #explain-upload method="post" action={ (here) "/explain" } enctype="multipart/form-data" {
                input type="hidden" name="csrf" value=(v.csrf);
                label { (l.t(UPLOAD)) input type="file" name="eml" accept=".eml,message/rfc822"; }
                button.secondary type="submit" { (l.t(CHECK)) }
            }
            @if recent.is_empty() { p.muted { (l.t(NO_MESSAGES)) } }
            @else {
                form.stack #explain-pick method="post" action={ (here) "/explain-message" } {
                    input type="hidden" name="csrf" value=(v.csrf);
                    label { (l.t(PICK))
                        select name="message" {
                            @for m in recent {
                                option value=(m.id) { (crate::clock::local_time_short(tz, m.received_at, now)) " · " (m.from) " · " (m.subject) }
                            }
                        }
                    }
                    button.secondary type="submit" { (l.t(CHECK)) }
                }
            }
        }
    }
}

/// One field of a `multipart/form-data` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub filename: Option<String>,
    pub data: Vec<u8>,
}

/// The fields of a `multipart/form-data` body (RFC 7578): parts between `--boundary` lines,
/// each with its headers, a blank line and its bytes. None when it is not that format.
pub fn multipart_fields(content_type: &str, body: &[u8]) -> Option<Vec<Field>> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    let boundary = params.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim().eq_ignore_ascii_case("boundary").then(|| v.trim().trim_matches('"').to_string())
    })?;
    // RFC 2046 §5.1.1: a boundary is 1 to 70 characters. A longer one is refused, so a
    // hostile request cannot make every search below long.
    if boundary.is_empty() || boundary.len() > MAX_BOUNDARY {
        return None;
    }
    let delimiter = format!("--{boundary}").into_bytes();
    let mut fields = Vec::new();
    let mut rest = &body[find(body, &delimiter)? + delimiter.len()..];
    loop {
        if rest.starts_with(b"--") {
            break;
        }
        rest = rest.strip_prefix(b"\r\n")?;
        let head_end = find(rest, b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&rest[..head_end]).into_owned();
        let after = &rest[head_end + 4..];
        let mut end_marker = b"\r\n".to_vec();
        end_marker.extend_from_slice(&delimiter);
        let end = find(after, &end_marker)?;
        let disposition = head.lines().find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))?;
        let param = |n: &str| {
            disposition.split(';').find_map(|p| {
                let (k, v) = p.trim().split_once('=')?;
                k.trim().eq_ignore_ascii_case(n).then(|| v.trim().trim_matches('"').to_string())
            })
        };
        fields.push(Field { name: param("name")?, filename: param("filename"), data: after[..end].to_vec() });
        rest = &after[end + end_marker.len()..];
    }
    Some(fields)
}

/// The longest boundary RFC 2046 allows.
const MAX_BOUNDARY: usize = 70;

/// Linear-time substring search (`memchr::memmem`), whatever the input.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_fields_are_read_as_browsers_send_them() {
        let body = b"------WebKitFormBoundaryX\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nabc\r\n\
------WebKitFormBoundaryX\r\nContent-Disposition: form-data; name=\"eml\"; filename=\"a.eml\"\r\nContent-Type: message/rfc822\r\n\r\n\
From: x@y\r\n\r\n--not a boundary\r\n\r\n------WebKitFormBoundaryX--\r\n";
        let f = multipart_fields("multipart/form-data; boundary=----WebKitFormBoundaryX", body).unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!((f[0].name.as_str(), f[0].data.as_slice()), ("csrf", &b"abc"[..]));
        assert_eq!(f[1].filename.as_deref(), Some("a.eml"));
        assert_eq!(f[1].data, b"From: x@y\r\n\r\n--not a boundary\r\n");
        assert_eq!(multipart_fields("application/x-www-form-urlencoded", b"a=b"), None);
        assert_eq!(multipart_fields("multipart/form-data; boundary=z", b"garbage"), None);
    }

    #[test]
    fn a_boundary_longer_than_rfc_2046_allows_is_refused() {
        let part = |b: &str| {
            format!("--{b}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\nabc\r\n--{b}--\r\n").into_bytes()
        };
        let (ok, long) = ("b".repeat(70), "b".repeat(71));
        let f = multipart_fields(&format!("multipart/form-data; boundary={ok}"), &part(&ok)).unwrap();
        assert_eq!(f[0].data, b"abc");
        assert_eq!(multipart_fields(&format!("multipart/form-data; boundary={long}"), &part(&long)), None);
        assert_eq!(multipart_fields("multipart/form-data; boundary=\"\"", b"----\r\n"), None);
        // A hostile body (near-boundaries everywhere) is read in linear time.
        let near = "a".repeat(69);
        let hay = format!("--{ok}\r\n{}", format!("--{near}\r\n").repeat(20_000));
        assert_eq!(multipart_fields(&format!("multipart/form-data; boundary={ok}"), hay.as_bytes()), None);
    }

    #[test]
    fn every_reason_has_words_in_both_languages() {
        for r in Reason::ALL {
            let words = reason_words(r);
            assert!(!words.de.is_empty() && !words.en.is_empty() && words.de != words.en, "{r}");
        }
    }
}
