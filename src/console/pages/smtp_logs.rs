//! SMTP logging (office accounts only): switch the recording of SMTP sessions on per transport,
//! always with the time it switches itself off, see what the config records, and list, read
//! and delete the transcripts. The page says plainly why this is delicate: a transcript shows
//! whom everyone mails (credentials are always blacked out, bodies never recorded).
//!
//! The switch is the outbox's (`outbox::logging`, migration 0024); the files are
//! `smtp::transcript`'s, reached only by a checked file name.

use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::TimeZone;
use maud::html;
use serde::Deserialize;

use crate::config::Transport;
use crate::console::Web;
use crate::console::auth::Viewer;
use crate::console::i18n::{Words, w};
use crate::console::layout;
use crate::console::words as t;
use crate::outbox::logging::{self, Recording};
use crate::smtp::transcript;

/// The longest a console switch-on may last.
const MAX_SECS: i64 = 14 * 86_400;
/// The switch-off time the form suggests.
const DEFAULT_SECS: i64 = 4 * 3600;

const WARNING: Words = w(
    "Achtung: SMTP-Mitschnitte zeigen, wer wem wann schreibt – von allen Postfächern auf diesem Weg. Passwörter werden immer geschwärzt und Nachrichtentexte nie aufgezeichnet. Schalten Sie das Mitschneiden nur zur Fehlersuche ein; es schaltet sich zur gewählten Zeit selbst ab. Löschen Sie die Mitschnitte, wenn sie nicht mehr gebraucht werden.",
    "Caution: SMTP transcripts show who mails whom, and when – for every mailbox on this path. Passwords are always blacked out and message texts never recorded. Switch recording on only to find a fault; it switches itself off at the time you choose. Delete the transcripts when they are no longer needed.",
);
const TRANSPORT_DIRECT: Words = w("Direkter Weg (eigener Server)", "Direct path (own server)");
const TRANSPORT_RELAY: Words = w("Relay (gehosteter Server)", "Relay (hosted server)");
const NOT_CONFIGURED: Words = w("nicht eingerichtet", "not configured");
const REC_OFF: Words = w("Mitschnitt aus", "Recording off");
const REC_ON_UNTIL: Words = w("Mitschnitt an bis", "Recording on until");
const REC_BY_CONFIG: Words = w(
    "Mitschnitt an durch die Konfiguration (log_sessions); abschalten nur dort",
    "Recording on by the configuration (log_sessions); switch it off there",
);
const REC_BY: Words = w("eingeschaltet von", "switched on by");
const SWITCH_ON: Words = w("Mitschnitt einschalten", "Switch recording on");
const SWITCH_OFF_AT: Words = w("Schaltet sich selbst ab am", "Switches itself off at");
const SWITCH_OFF_NOW: Words = w("Jetzt abschalten", "Switch off now");
const TRANSCRIPTS: Words = w("Mitschnitte", "Transcripts");
const NO_TRANSCRIPTS: Words = w("Keine Mitschnitte vorhanden.", "No transcripts.");
const FILE: Words = w("Datei", "File");
const SIZE: Words = w("Größe", "Size");
const CHANGED: Words = w("Zuletzt geschrieben", "Last written");
const DELETE: Words = w("Löschen", "Delete");
const DELETE_ALL: Words = w("Alle Mitschnitte löschen", "Delete every transcript");
const BAD_UNTIL: Words = w(
    "Die Abschaltzeit muss in der Zukunft liegen und höchstens 14 Tage entfernt sein.",
    "The switch-off time must be in the future and at most 14 days away.",
);
const BAD_DELETE: Words = w("Welcher Mitschnitt soll gelöscht werden?", "Which transcript should be deleted?");
const BAD_TRANSPORT: Words = w("Diesen Weg gibt es hier nicht.", "There is no such path here.");
const NOT_FOUND: Words = w("Diesen Mitschnitt gibt es nicht.", "There is no such transcript.");
const BACK: Words = w("Zurück zu den SMTP-Protokollen", "Back to the SMTP logs");

fn transport_words(t: Transport) -> Words {
    match t {
        Transport::Direct => TRANSPORT_DIRECT,
        Transport::Relay => TRANSPORT_RELAY,
    }
}

/// `YYYY-MM-DDTHH:MM` of a unix time in the office's time zone (a `datetime-local` value).
fn local_input(tz: chrono_tz::Tz, at: i64) -> String {
    chrono::DateTime::from_timestamp(at, 0)
        .map(|d| d.with_timezone(&tz).format("%Y-%m-%dT%H:%M").to_string())
        .unwrap_or_default()
}

/// A `datetime-local` value read in the office's time zone.
pub fn parse_local(tz: chrono_tz::Tz, s: &str) -> Option<i64> {
    let s = s.trim();
    let n = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S"))
        .ok()?;
    tz.from_local_datetime(&n).earliest().map(|d| d.timestamp())
}

pub async fn page(State(web): State<Web>, v: Viewer) -> Response {
    if let Err(r) = v.office() {
        return r;
    }
    let data = web
        .blocking(|app| {
            let rec = [Transport::Direct, Transport::Relay]
                .into_iter()
                .map(|t| Ok((t, logging::recording(app, t)?)))
                .collect::<anyhow::Result<Vec<(Transport, Recording)>>>()?;
            Ok((rec, transcript::list(&logging::transcript_dir(app))))
        })
        .await;
    let (rec, files) = match data {
        Ok(d) => d,
        Err(r) => return r,
    };
    let (l, tz, now) = (v.lang, web.app.config.agent.time_zone, crate::store::now());
    let body = html! {
        p.banner #warning role="note" { (l.t(WARNING)) }
        @for (tr, r) in &rec {
            section.transport id={ "transport-" (tr.as_str()) } {
                h2 { (l.t(transport_words(*tr))) }
                @if !r.configured { p.muted { (l.t(NOT_CONFIGURED)) } }
                @else {
                    p.state {
                        @if r.by_config {
                            span.warn { (l.t(REC_BY_CONFIG)) }
                            @if let Some(u) = r.config_until { " (" (l.t(REC_ON_UNTIL)) " " (crate::clock::local_time(tz, u)) ")" }
                        } @else if r.on {
                            span.warn { (l.t(REC_ON_UNTIL)) " " (r.until().map(|u| crate::clock::local_time(tz, u)).unwrap_or_default()) }
                            @if let Some(s) = &r.switch { " · " (l.t(REC_BY)) " " (s.by_user) }
                        } @else {
                            span.muted { (l.t(REC_OFF)) }
                        }
                    }
                    @if r.switch.as_ref().is_some_and(|s| s.until > now) {
                        form.inline method="post" action="/smtp-logs/off" {
                            input type="hidden" name="csrf" value=(v.csrf);
                            input type="hidden" name="transport" value=(tr.as_str());
                            button.danger type="submit" { (l.t(SWITCH_OFF_NOW)) }
                        }
                    }
                    form.stack.switch-on method="post" action="/smtp-logs/on" {
                        input type="hidden" name="csrf" value=(v.csrf);
                        input type="hidden" name="transport" value=(tr.as_str());
                        label { (l.t(SWITCH_OFF_AT))
                            input type="datetime-local" name="until" required
                                value=(local_input(tz, now + DEFAULT_SECS))
                                min=(local_input(tz, now)) max=(local_input(tz, now + MAX_SECS)); }
                        button type="submit" { (l.t(SWITCH_ON)) }
                    }
                }
            }
        }
        section #transcripts {
            h2 { (l.t(TRANSCRIPTS)) }
            @if files.is_empty() { p.muted #no-transcripts { (l.t(NO_TRANSCRIPTS)) } }
            @else {
                table {
                    thead { tr { th { (l.t(FILE)) } th { (l.t(t::MAILBOX)) } th { (l.t(SIZE)) } th { (l.t(CHANGED)) } th {} } }
                    tbody {
                        @for f in &files {
                            tr {
                                td data-label=(l.t(FILE)) { a href={ "/smtp-logs/" (f.name) } { code { (f.name) } } }
                                td data-label=(l.t(t::MAILBOX)) { (f.mailbox) }
                                td data-label=(l.t(SIZE)) { (f.bytes) " B" }
                                td data-label=(l.t(CHANGED)) { (crate::clock::local_time_short(tz, f.modified, now)) }
                                td {
                                    form.inline method="post" action="/smtp-logs/delete" {
                                        input type="hidden" name="csrf" value=(v.csrf);
                                        input type="hidden" name="name" value=(f.name);
                                        button.danger type="submit" { (l.t(DELETE)) }
                                    }
                                }
                            }
                        }
                    }
                }
                form.inline #delete-all method="post" action="/smtp-logs/delete" {
                    input type="hidden" name="csrf" value=(v.csrf);
                    input type="hidden" name="all" value="yes";
                    button.danger type="submit" { (l.t(DELETE_ALL)) }
                }
            }
        }
    };
    layout::page(&v, "/smtp-logs", t::NAV_SMTP_LOGS, body).into_response()
}

/// `/smtp-logs/{name}`: one transcript.
pub async fn read(State(web): State<Web>, v: Viewer, Path(name): Path<String>) -> Response {
    if let Err(r) = v.office() {
        return r;
    }
    let n = name.clone();
    let text = match web.blocking(move |app| Ok(transcript::read(&logging::transcript_dir(app), &n))).await {
        Ok(Some(t)) => t,
        Ok(None) => return (StatusCode::NOT_FOUND, v.lang.t(NOT_FOUND)).into_response(),
        Err(r) => return r,
    };
    let l = v.lang;
    let body = html! {
        p { a href="/smtp-logs" { "← " (l.t(BACK)) } }
        p.banner { (l.t(WARNING)) }
        h2 { code { (name) } }
        pre #transcript-text { (text) }
        form.inline method="post" action="/smtp-logs/delete" {
            input type="hidden" name="csrf" value=(v.csrf);
            input type="hidden" name="name" value=(name);
            button.danger type="submit" { (l.t(DELETE)) }
        }
    };
    layout::page(&v, "/smtp-logs", t::NAV_SMTP_LOGS, body).into_response()
}

#[derive(Deserialize)]
pub struct OnForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    transport: String,
    #[serde(default)]
    until: String,
}

fn transport(web: &Web, s: &str) -> Option<Transport> {
    let t = match s {
        "direct" => Transport::Direct,
        "relay" => Transport::Relay,
        _ => return None,
    };
    let configured = match t {
        Transport::Direct => web.app.config.direct.is_some(),
        Transport::Relay => web.app.config.relay.is_some(),
    };
    configured.then_some(t)
}

pub async fn switch_on(State(web): State<Web>, v: Viewer, Form(f): Form<OnForm>) -> Response {
    if let Err(r) = v.office().and_then(|_| v.csrf(&f.csrf)) {
        return r;
    }
    let Some(tr) = transport(&web, &f.transport) else {
        return (StatusCode::BAD_REQUEST, v.lang.t(BAD_TRANSPORT)).into_response();
    };
    let now = crate::store::now();
    let until = parse_local(web.app.config.agent.time_zone, &f.until).filter(|u| *u > now && *u <= now + MAX_SECS + 60);
    let Some(until) = until else {
        return (StatusCode::BAD_REQUEST, v.lang.t(BAD_UNTIL)).into_response();
    };
    let who = format!("console:{}", v.user.name);
    if let Err(r) = web.blocking(move |app| Ok(logging::switch_on(app, tr, until, &who)?)).await {
        return r;
    }
    web.audit(&v.user.name, "smtp_logs.on", format!("{} until {until}", tr.as_str())).await;
    Redirect::to("/smtp-logs").into_response()
}

#[derive(Deserialize)]
pub struct OffForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    transport: String,
}

pub async fn switch_off(State(web): State<Web>, v: Viewer, Form(f): Form<OffForm>) -> Response {
    if let Err(r) = v.office().and_then(|_| v.csrf(&f.csrf)) {
        return r;
    }
    let Some(tr) = transport(&web, &f.transport) else {
        return (StatusCode::BAD_REQUEST, v.lang.t(BAD_TRANSPORT)).into_response();
    };
    match web.blocking(move |app| Ok(logging::switch_off(app, tr)?)).await {
        Ok(true) => web.audit(&v.user.name, "smtp_logs.off", tr.as_str().to_string()).await,
        Ok(false) => {}
        Err(r) => return r,
    }
    Redirect::to("/smtp-logs").into_response()
}

#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    csrf: String,
    /// One transcript, by its file name.
    name: Option<String>,
    /// Every transcript: only the "delete all" button sends this, so a form whose name went
    /// missing or empty deletes nothing.
    all: Option<String>,
}

pub async fn delete(State(web): State<Web>, v: Viewer, Form(f): Form<DeleteForm>) -> Response {
    if let Err(r) = v.office().and_then(|_| v.csrf(&f.csrf)) {
        return r;
    }
    let name = match (f.name, f.all.as_deref()) {
        (Some(n), None) if !n.is_empty() => Some(n),
        (None, Some("yes")) => None,
        _ => return (StatusCode::BAD_REQUEST, v.lang.t(BAD_DELETE)).into_response(),
    };
    let n = name.clone();
    let removed =
        match web.blocking(move |app| Ok(transcript::delete(&logging::transcript_dir(app), n.as_deref()))).await {
            Ok(k) => k,
            Err(r) => return r,
        };
    let what = name.unwrap_or_else(|| "every transcript".into());
    web.audit(&v.user.name, "smtp_logs.delete", format!("{what} ({removed} removed)")).await;
    Redirect::to("/smtp-logs").into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_local_switch_off_time_is_read_in_the_office_time_zone() {
        let tz = chrono_tz::Europe::Berlin;
        // 2026-12-04 18:30 in Berlin is 17:30 UTC.
        assert_eq!(super::parse_local(tz, "2026-12-04T18:30"), Some(1_796_405_400));
        assert_eq!(super::parse_local(tz, "2026-12-04T18:30:00"), Some(1_796_405_400));
        assert_eq!(super::local_input(tz, 1_796_405_400), "2026-12-04T18:30");
        assert_eq!(super::parse_local(tz, "morgen"), None);
    }
}
