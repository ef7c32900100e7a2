//! The outbox: the queue, filterable by mailbox and state (an employee sees only their own
//! mailbox's mail), and one message with its recipients, its attempts and the server's
//! answers, the SMTP transcript that recorded it (office accounts), and what a person may do:
//! send again, cancel, and for an `unknown` message the decision "it was sent" or "send it
//! again", with the Sent-folder evidence beside it.
//!
//! Every action goes through the outbox's own functions, the ones `postbote queue` uses
//! (`outbox::retry_now`, `outbox::cancel`, `outbox::mark_sent`), and is an office account's.
//! Listing reads `store.outbox().list`, the message `store.outbox().show`.

use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::outbox_message::One;
use super::overview::state_words;
use crate::console::Web;
use crate::console::auth::Viewer;
use crate::console::i18n::{Lang, Words, w};
use crate::console::layout;
use crate::console::words as t;
use crate::outbox::State as QState;
use crate::store::outbox::OutboxSummary;

/// How many messages the list shows at most.
pub const SHOWN: usize = 200;

const ALL: Words = w("alle", "all");
const FILTER: Words = w("Anzeigen", "Show");
pub(super) const STATE: Words = w("Zustand", "State");
const NO_MAIL: Words = w("Keine Nachrichten in dieser Auswahl.", "No messages in this selection.");
pub(super) const QUEUED_AT: Words = w("Eingereiht", "Queued");
const TO: Words = w("An", "To");
const SUBJECT: Words = w("Betreff", "Subject");
pub(super) const FROM: Words = w("Von", "From");
pub(super) const NEXT_TRY: Words = w("Nächster Versuch", "Next attempt");
pub(super) const WAITING: Words = w("Wartet, weil", "Waiting because");
pub(super) const SENT_AT: Words = w("Gesendet", "Sent");
pub(super) const NOTE: Words = w("Vermerk", "Note");
pub(super) const LAST_ERROR: Words = w("Letzter Fehler", "Last error");
pub(super) const RECIPIENTS: Words = w("Empfänger", "Recipients");
pub(super) const HISTORY: Words = w("Verlauf und Antworten des Servers", "History and the server's answers");
pub(super) const WHEN: Words = w("Wann", "When");
pub(super) const SERVER: Words = w("Server", "Server");
pub(super) const ANSWER: Words = w("Antwort", "Answer");
pub(super) const TRANSCRIPT: Words = w("SMTP-Mitschnitt", "SMTP transcript");
pub(super) const NO_TRANSCRIPT: Words =
    w("Für diese Nachricht wurde keine SMTP-Sitzung mitgeschnitten.", "No SMTP session was recorded for this message.");
pub(super) const RETRY: Words = w("Jetzt erneut senden", "Send again now");
pub(super) const CANCEL: Words = w("Abbrechen (nicht senden)", "Cancel (do not send)");
pub(super) const DECIDE: Words = w("Entscheidung nötig", "Decision needed");
pub(super) const DECIDE_EXPLAIN: Words = w(
    "postbote wurde beendet oder die Verbindung brach ab, während diese Nachricht gesendet wurde. Ob der Server sie angenommen hat, ist unbekannt. postbote sendet sie nicht von selbst noch einmal: Bitte entscheiden Sie.",
    "postbote stopped, or the connection broke, while this message was being sent. Whether the server took it is unknown. postbote does not send it again by itself: please decide.",
);
pub(super) const EVIDENCE: Words = w("Was der Gesendet-Ordner sagt", "What the Sent folder says");
pub(super) const OUTBOX_COPY_DONE: Words =
    w("Der Postausgang hat eine Kopie im Gesendet-Ordner gespeichert.", "The outbox saved a copy in the Sent folder.");
pub(super) const OUTBOX_COPY_NONE: Words = w(
    "Der Postausgang hat keine Kopie im Gesendet-Ordner gespeichert.",
    "The outbox has saved no copy in the Sent folder.",
);
pub(super) const MIRROR_HAS: Words = w(
    "Im gespiegelten Gesendet-Ordner liegt eine Nachricht mit dieser Message-ID:",
    "The mirrored Sent folder holds a message with this Message-ID:",
);
pub(super) const MIRROR_ELSEWHERE: Words = w(
    "Nicht im Gesendet-Ordner, also kein Beleg für den Versand, aber mit dieser Message-ID im Ordner",
    "Not in the Sent folder, so no evidence that it went out, but with this Message-ID in the folder",
);
pub(super) const MIRROR_NONE: Words = w(
    "Im gespiegelten Gesendet-Ordner liegt keine Nachricht mit dieser Message-ID (Stand des letzten Abgleichs).",
    "The mirrored Sent folder holds no message with this Message-ID (as of the last sync).",
);
pub(super) const WAS_SENT: Words = w("Wurde gesendet", "Was sent");
pub(super) const WAS_SENT_EXPLAIN: Words = w(
    "Die Nachricht ist angekommen (z. B. liegt sie im Gesendet-Ordner oder der Empfänger bestätigt sie). Sie wird als gesendet vermerkt und nicht noch einmal verschickt.",
    "The message arrived (e.g. it is in the Sent folder, or the recipient confirms it). It is recorded as sent and not sent again.",
);
pub(super) const SEND_AGAIN: Words = w("Noch einmal senden", "Send again");
pub(super) const SEND_AGAIN_EXPLAIN: Words = w(
    "Die Nachricht ist nicht angekommen. Sie wird jetzt noch einmal gesendet; wer sie doch schon bekommen hat, bekommt sie zweimal.",
    "The message did not arrive. It is sent again now; whoever did get it gets it twice.",
);
const DONE_CANCELLED: Words = w("Die Nachricht wurde abgebrochen.", "The message was cancelled.");
const DONE_RETRIED: Words = w("Die Nachricht wird jetzt gesendet.", "The message is being sent now.");
const DONE_SENT: Words = w("Die Nachricht ist als gesendet vermerkt.", "The message is recorded as sent.");
const DONE_REFUSED: Words = w(
    "Das ging nicht: die Nachricht ist inzwischen in einem anderen Zustand.",
    "That was not possible: the message is in another state by now.",
);
const NOT_FOUND: Words = w("Diese Nachricht gibt es nicht.", "There is no such message.");
pub(super) const BACK: Words = w("Zurück zum Postausgang", "Back to the outbox");
pub(super) const PAUSED: Words = w("Versand angehalten", "Sending paused");

#[derive(Deserialize, Default)]
pub struct Filter {
    mailbox: Option<String>,
    state: Option<String>,
}

/// `/outbox`: the newest messages of the chosen mailbox (or every mailbox the account sees)
/// and state.
pub async fn list(State(web): State<Web>, v: Viewer, Query(f): Query<Filter>) -> Response {
    let l = v.lang;
    let state = match f.state.as_deref().filter(|s| !s.is_empty()).map(str::parse::<QState>).transpose() {
        Ok(s) => s,
        Err(_) => return (axum::http::StatusCode::BAD_REQUEST, l.t(NO_MAIL)).into_response(),
    };
    let mailbox = f.mailbox.filter(|m| !m.is_empty());
    if let Some(m) = &mailbox
        && let Err(r) = v.mailbox(m)
    {
        return r;
    }
    // An employee's view is their own mailbox, whatever the query says.
    let mailbox = if v.is_office() { mailbox } else { v.user.mailbox.clone() };
    let m2 = mailbox.clone();
    let data = web
        .blocking(move |app| {
            let rows = app.store.outbox().list(m2.as_deref(), state, SHOWN)?;
            let counts = app.store.outbox().counts(m2.as_deref())?;
            Ok((rows, counts))
        })
        .await;
    let (rows, counts) = match data {
        Ok(d) => d,
        Err(r) => return r,
    };
    let (tz, now) = (web.app.config.agent.time_zone, crate::store::now());
    let boxes = v.mailboxes(&web.app.config);
    let body = html! {
        form.filter #outbox-filter method="get" action="/outbox" {
            @if v.is_office() {
                label { (l.t(t::MAILBOX))
                    select name="mailbox" {
                        option value="" { (l.t(ALL)) }
                        @for m in &boxes {
                            option value=(m.id) selected[mailbox.as_deref() == Some(m.id.as_str())] { (m.name) }
                        }
                    }
                }
            }
            label { (l.t(STATE))
                select name="state" {
                    option value="" { (l.t(ALL)) }
                    @for s in QState::ALL {
                        option value=(s.as_str()) selected[state == Some(s)] {
                            (l.t(state_words(s))) " (" (counts.get(&s).copied().unwrap_or(0)) ")"
                        }
                    }
                }
            }
            button.secondary type="submit" { (l.t(FILTER)) }
        }
        @if rows.is_empty() { p #no-mail.muted { (l.t(NO_MAIL)) } }
        @else {
            table #outbox {
                thead { tr {
                    th { "#" } th { (l.t(STATE)) } th { (l.t(t::MAILBOX)) } th { (l.t(QUEUED_AT)) }
                    th { (l.t(TO)) } th { (l.t(SUBJECT)) }
                } }
                tbody {
                    @for m in &rows {
                        tr id={ "msg-" (m.id) } {
                            td data-label="#" { a href={ "/outbox/" (m.id) } { (m.id) } }
                            td data-label=(l.t(STATE)) { (state_mark(l, m.status)) }
                            td data-label=(l.t(t::MAILBOX)) { (m.account) }
                            td data-label=(l.t(QUEUED_AT)) { (crate::clock::local_time_short(tz, m.created_at, now)) }
                            td data-label=(l.t(TO)) { (recipients_line(m)) }
                            td data-label=(l.t(SUBJECT)) { a href={ "/outbox/" (m.id) } { (subject(m)) } }
                        }
                    }
                }
            }
            @if rows.len() == SHOWN { p.muted { (SHOWN) " …" } }
        }
    };
    layout::page(&v, "/outbox", t::NAV_OUTBOX, body).into_response()
}

fn subject(m: &OutboxSummary) -> String {
    if m.subject.is_empty() { "–".into() } else { m.subject.clone() }
}

fn recipients_line(m: &OutboxSummary) -> String {
    let all: Vec<&str> = m.recipients.iter().map(|r| r.address.as_str()).collect();
    match all.len() {
        0..=3 => all.join(", "),
        n => format!("{}, … (+{})", all[..2].join(", "), n - 2),
    }
}

/// A state, marked by what it asks of people.
pub fn state_mark(l: Lang, s: QState) -> Markup {
    let class = match s {
        QState::Sent => "ok",
        QState::Unknown | QState::Failed | QState::Expired => "bad",
        QState::Deferred | QState::Sending => "warn",
        QState::Queued | QState::Cancelled => "muted",
    };
    html! { span class={ "state " (class) } data-state=(s.as_str()) { (l.t(state_words(s))) } }
}

#[derive(Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

/// `/outbox/{id}`: one message.
pub async fn message(State(web): State<Web>, v: Viewer, Path(id): Path<i64>, Query(d): Query<Done>) -> Response {
    let l = v.lang;
    let office = v.is_office();
    let data = web
        .blocking(move |app| {
            let Some((m, attempts)) = app.store.outbox().show(id)? else { return Ok(None) };
            let transcripts = if office {
                let dir = crate::outbox::logging::transcript_dir(app);
                crate::outbox::logging::transcripts_of(app, &m.account, m.id, m.created_at)
                    .into_iter()
                    .filter_map(|n| crate::smtp::transcript::read(&dir, &n).map(|text| (n, text)))
                    .collect()
            } else {
                Vec::new()
            };
            let found = app
                .store
                .messages()
                .with_message_id(&m.account, &m.message_id)?
                .into_iter()
                .map(|(role, s)| (s.folder, role, s.received_at))
                .collect();
            let paused = app.store.outbox().pause(&m.account)?.map(|p| p.reason);
            Ok(Some(One { m, attempts, transcripts, found, paused }))
        })
        .await;
    let one = match data {
        Ok(Some(o)) => o,
        Ok(None) => return (axum::http::StatusCode::NOT_FOUND, l.t(NOT_FOUND)).into_response(),
        Err(r) => return r,
    };
    if let Err(r) = v.mailbox(&one.m.account) {
        return r;
    }
    let done = match d.done.as_deref() {
        Some("cancelled") => Some(DONE_CANCELLED),
        Some("retried") => Some(DONE_RETRIED),
        Some("sent") => Some(DONE_SENT),
        Some("refused") => Some(DONE_REFUSED),
        _ => None,
    };
    let body = super::outbox_message::render(&v, web.app.config.agent.time_zone, &one, done);
    layout::page(&v, &format!("/outbox/{id}"), t::NAV_OUTBOX, body).into_response()
}

#[derive(Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
}

/// What a button on a message's page asks for.
#[derive(Clone, Copy)]
enum Action {
    Retry,
    Cancel,
    Sent,
}

async fn act(web: Web, v: Viewer, id: i64, f: ActionForm, action: Action) -> Response {
    if let Err(r) = v.office().and_then(|_| v.csrf(&f.csrf)) {
        return r;
    }
    let who = format!("console:{}", v.user.name);
    let w2 = who.clone();
    let done = web
        .blocking(move |app| {
            let before = app.store.outbox().state(id)?;
            let ok = match action {
                Action::Retry => crate::outbox::retry_now(app, id, &w2)?,
                Action::Cancel => crate::outbox::cancel(app, id, &format!("cancelled by {w2}"))?,
                Action::Sent => crate::outbox::mark_sent(app, id, &w2)?,
            };
            Ok((before, ok))
        })
        .await;
    let (before, ok) = match done {
        Ok(d) => d,
        Err(r) => return r,
    };
    let Some(before) = before else {
        return (axum::http::StatusCode::NOT_FOUND, v.lang.t(NOT_FOUND)).into_response();
    };
    let (area, word) = match action {
        Action::Retry => ("outbox.retry", "retried"),
        Action::Cancel => ("outbox.cancel", "cancelled"),
        Action::Sent => ("outbox.mark_sent", "sent"),
    };
    if ok {
        web.audit(&v.user.name, area, format!("message {id} (was {before})")).await;
    }
    Redirect::to(&format!("/outbox/{id}?done={}", if ok { word } else { "refused" })).into_response()
}

pub async fn retry(State(web): State<Web>, v: Viewer, Path(id): Path<i64>, Form(f): Form<ActionForm>) -> Response {
    act(web, v, id, f, Action::Retry).await
}

pub async fn cancel(State(web): State<Web>, v: Viewer, Path(id): Path<i64>, Form(f): Form<ActionForm>) -> Response {
    act(web, v, id, f, Action::Cancel).await
}

pub async fn mark_sent(State(web): State<Web>, v: Viewer, Path(id): Path<i64>, Form(f): Form<ActionForm>) -> Response {
    act(web, v, id, f, Action::Sent).await
}
