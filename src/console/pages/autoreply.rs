//! Automatic replies, like Outlook's "Automatic replies": `/autoreply` lists the mailboxes the
//! account may see with their state; `/autoreply/{mailbox}` is one mailbox's form (dates as
//! whole days, subject, a text for outside senders and one for colleagues, the interval, "only
//! known senders"), with an "end now" banner while it is on, a preview of the reply as it will
//! be sent, and "explain a message" (`autoreply_explain`).
//!
//! Settings go through `autoreply::load_settings` / `save_settings`, the same path as JMAP's
//! VacationResponse/set and `postbote vacation set`: the change is logged under the account's
//! modseq in the saving transaction, so phones and the responder see it at once. An office
//! account may set any mailbox's reply (for an employee who is away); an employee only their
//! own, and another mailbox's page is a 403.

use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::autoreply_explain::{self as explain, Explained};
use super::autoreply_form::{self as f, Problem, SettingsForm};
use crate::console::auth::Viewer;
use crate::console::i18n::{Lang, Words, w};
use crate::console::words as t;
use crate::console::{Web, layout};

pub const STATE: Words = w("Zustand", "State");
pub const EDIT: Words = w("Bearbeiten", "Edit");
pub const IS_ON: Words = w("Die automatische Antwort ist an", "The automatic reply is on");
pub const END_NOW: Words = w("Jetzt beenden", "End now");
pub const SAVED: Words = w("Gespeichert.", "Saved.");
pub const ENDED: Words = w("Die automatische Antwort ist beendet.", "The automatic reply has ended.");
pub const SETTINGS: Words = w("Einstellungen", "Settings");
pub const PREVIEW_TITLE: Words = w("So wird die Antwort verschickt", "The reply as it will be sent");
pub const NO_SUCH_MAILBOX: Words = w("Dieses Postfach gibt es nicht.", "There is no such mailbox.");
pub const RECURRING_KEPT: Words = w(
    "Die wiederkehrende Abwesenheit bleibt, wie sie ist (postbote vacation set --schedule).",
    "The recurring absence stays as it is (postbote vacation set --schedule).",
);

/// `/autoreply`: the mailboxes this account may see, each with its reply's state.
pub async fn list(State(web): State<Web>, v: Viewer) -> Response {
    let ids: Vec<String> = v.mailboxes(&web.app.config).iter().map(|m| m.id.clone()).collect();
    let rows = web
        .blocking(move |app| {
            ids.into_iter().map(|id| Ok((id.clone(), crate::autoreply::load_settings(app, &id)?))).collect()
        })
        .await;
    let rows: Vec<(String, crate::autoreply::Settings)> = match rows {
        Ok(r) => r,
        Err(r) => return r,
    };
    let (l, tz) = (v.lang, web.app.config.agent.time_zone);
    let body = html! {
        table #autoreplies {
            thead { tr { th { (l.t(t::MAILBOX)) } th { (l.t(STATE)) } th {} } }
            tbody {
                @for (id, s) in &rows {
                    @let m = web.app.config.mailbox(id).expect("configured");
                    tr id={ "autoreply-" (id) } {
                        td data-label=(l.t(t::MAILBOX)) { strong { (m.name) } br; span.muted { (m.primary_address()) } }
                        td data-label=(l.t(STATE)) {
                            @if s.is_enabled { span.warn { (l.t(t::AUTOREPLY_ON)) } br; span.muted { (f::window(l, s, tz)) } }
                            @else { (l.t(t::AUTOREPLY_OFF)) }
                        }
                        td { a href={ "/autoreply/" (id) } { (l.t(EDIT)) } }
                    }
                }
            }
        }
    };
    layout::page(&v, "/autoreply", t::NAV_AUTOREPLY, body).into_response()
}

/// What one mailbox's page shows besides its stored settings.
#[derive(Default)]
pub struct Shown {
    /// The form as posted (a preview, or a save that failed); None: the stored settings.
    pub form: Option<SettingsForm>,
    pub problem: Option<Problem>,
    pub notice: Option<Words>,
    pub explained: Option<Explained>,
}

/// Refuse a mailbox this account may not act for (403), or that does not exist (404).
pub fn check_mailbox(web: &Web, v: &Viewer, id: &str) -> Result<(), Response> {
    v.mailbox(id)?;
    if web.app.config.mailbox(id).is_none() {
        return Err((StatusCode::NOT_FOUND, v.lang.t(NO_SUCH_MAILBOX)).into_response());
    }
    Ok(())
}

#[derive(serde::Deserialize)]
pub struct Notice {
    #[serde(default)]
    done: Option<String>,
}

/// `/autoreply/{mailbox}`: the form with the stored settings.
pub async fn page(
    State(web): State<Web>,
    v: Viewer,
    Path(id): Path<String>,
    axum::extract::Query(n): axum::extract::Query<Notice>,
) -> Response {
    let notice = match n.done.as_deref() {
        Some("saved") => Some(SAVED),
        Some("ended") => Some(ENDED),
        _ => None,
    };
    show(&web, &v, &id, Shown { notice, ..Shown::default() }, StatusCode::OK).await
}

/// Render one mailbox's page.
pub async fn show(web: &Web, v: &Viewer, id: &str, shown: Shown, status: StatusCode) -> Response {
    if let Err(r) = check_mailbox(web, v, id) {
        return r;
    }
    let mid = id.to_string();
    let data = web
        .blocking(move |app| {
            let s = crate::autoreply::load_settings(app, &mid)?;
            let recent = explain::recent_messages(app, &mid)?;
            Ok((s, recent))
        })
        .await;
    let (stored, recent) = match data {
        Ok(d) => d,
        Err(r) => return r,
    };
    let (l, tz, now) = (v.lang, web.app.config.agent.time_zone, chrono::Utc::now());
    let m = web.app.config.mailbox(id).expect("checked");
    let form = shown.form.clone().unwrap_or_else(|| SettingsForm::of(&stored, tz));
    // The preview follows the form; a form that does not parse says why and previews what
    // is stored.
    let (previewed, form_problem) = match form.apply(&stored, tz, now) {
        Ok(s) => (s, None),
        Err(p) => (stored.clone(), shown.form.as_ref().map(|_| p)),
    };
    let problem = shown.problem.clone().or(form_problem);
    let previews = f::previews(l, m, &previewed, tz, now);
    let here = format!("/autoreply/{id}");
    let body = html! {
        p.muted { strong { (m.name) } " · " (m.primary_address()) }
        @if let Some(n) = shown.notice { p.ok #notice { (l.t(n)) } }
        @if let Some(p) = &problem { p.error #problem { (p.show(l)) } }
        @if stored.is_enabled {
            div.banner #autoreply-on {
                strong { (l.t(IS_ON)) } " " (f::window(l, &stored, tz)) "."
                form.inline method="post" action={ (here) "/end" } {
                    input type="hidden" name="csrf" value=(v.csrf);
                    button.danger type="submit" { (l.t(END_NOW)) }
                }
            }
        }
        div.split {
            section {
                h2 { (l.t(SETTINGS)) }
                (settings_form(l, v, &here, &form, !stored.schedule.is_empty()))
            }
            section #preview data-preview={ (here) "/preview" } {
                h2 { (l.t(PREVIEW_TITLE)) }
                (f::preview_markup(l, &previews))
            }
        }
        (explain::section(l, v, &here, &recent, shown.explained.as_ref(), tz))
    };
    let mut res = layout::page(v, &here, t::NAV_AUTOREPLY, body).into_response();
    *res.status_mut() = status;
    res
}

fn settings_form(l: Lang, v: &Viewer, here: &str, form: &SettingsForm, recurring: bool) -> Markup {
    use crate::autoreply::settings::{DEFAULT_SUBJECT, DEFAULT_TEXT};
    html! {
        form.stack #autoreply-form method="post" action=(here) {
            input type="hidden" name="csrf" value=(v.csrf);
            label.check { input type="checkbox" name="enabled" checked[form.enabled.is_some()]; (l.t(f::ENABLED)) }
            div.row {
                label { (l.t(f::FROM)) input type="date" name="from" value=(form.from); }
                label { (l.t(f::UNTIL)) input type="date" name="until" value=(form.until); }
            }
            p.muted.hint { (l.t(f::DATES_HINT)) }
            @if recurring { p.muted.hint { (l.t(RECURRING_KEPT)) } }
            label { (l.t(f::SUBJECT)) input type="text" name="subject" value=(form.subject) placeholder=(DEFAULT_SUBJECT); }
            p.muted.hint { (l.t(f::SUBJECT_HINT)) }
            label { (l.t(f::TEXT_OUTSIDE)) textarea name="text_body" placeholder=(DEFAULT_TEXT) { (form.text_body) } }
            label { (l.t(f::TEXT_COLLEAGUES)) textarea name="internal_body" { (form.internal_body) } }
            label { (l.t(f::INTERVAL)) input type="number" name="interval_days" min="1" max="365" value=(form.interval_days); }
            label.check { input type="checkbox" name="known_only" checked[form.known_only.is_some()]; (l.t(f::KNOWN_ONLY)) }
            div.buttons {
                button.secondary type="submit" name="action" value="preview" { (l.t(f::PREVIEW)) }
                button type="submit" name="action" value="save" { (l.t(f::SAVE)) }
            }
        }
    }
}

/// POST `/autoreply/{mailbox}`: "preview" shows the page with the form's reply; "save"
/// stores the settings and goes back to the page.
pub async fn submit(
    State(web): State<Web>,
    v: Viewer,
    Path(id): Path<String>,
    Form(form): Form<SettingsForm>,
) -> Response {
    if let Err(r) = check_mailbox(&web, &v, &id).and_then(|_| v.csrf(&form.csrf)) {
        return r;
    }
    if form.action != "save" {
        return show(&web, &v, &id, Shown { form: Some(form), ..Shown::default() }, StatusCode::OK).await;
    }
    let (tz, now) = (web.app.config.agent.time_zone, chrono::Utc::now());
    let (mid, posted) = (id.clone(), form.clone());
    let saved = web
        .blocking(move |app| {
            let stored = crate::autoreply::load_settings(app, &mid)?;
            match posted.apply(&stored, tz, now) {
                Ok(s) => {
                    crate::autoreply::save_settings(app, &mid, &s)?;
                    Ok(Ok(s))
                }
                Err(p) => Ok(Err(p)),
            }
        })
        .await;
    match saved {
        Ok(Ok(s)) => {
            let state = if s.is_enabled { format!("on, {}", f::window(Lang::En, &s, tz)) } else { "off".into() };
            web.audit(&v.user.name, "autoreply.save", format!("mailbox {id}: {state}")).await;
            Redirect::to(&format!("/autoreply/{id}?done=saved")).into_response()
        }
        Ok(Err(p)) => {
            let shown = Shown { form: Some(form), problem: Some(p), ..Shown::default() };
            show(&web, &v, &id, shown, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(r) => r,
    }
}

/// POST `/autoreply/{mailbox}/preview`: only the preview, for `/static/console.js`.
pub async fn preview(
    State(web): State<Web>,
    v: Viewer,
    Path(id): Path<String>,
    Form(form): Form<SettingsForm>,
) -> Response {
    if let Err(r) = check_mailbox(&web, &v, &id).and_then(|_| v.csrf(&form.csrf)) {
        return r;
    }
    let mid = id.clone();
    let stored = match web.blocking(move |app| Ok(crate::autoreply::load_settings(app, &mid)?)).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (l, tz, now) = (v.lang, web.app.config.agent.time_zone, chrono::Utc::now());
    let m = web.app.config.mailbox(&id).expect("checked");
    let s = form.apply(&stored, tz, now).unwrap_or(stored);
    f::preview_markup(l, &f::previews(l, m, &s, tz, now)).into_response()
}

#[derive(serde::Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// POST `/autoreply/{mailbox}/end`: switch it off now (the texts are kept for next time).
pub async fn end(State(web): State<Web>, v: Viewer, Path(id): Path<String>, Form(form): Form<CsrfForm>) -> Response {
    if let Err(r) = check_mailbox(&web, &v, &id).and_then(|_| v.csrf(&form.csrf)) {
        return r;
    }
    let mid = id.clone();
    let ended = web
        .blocking(move |app| {
            let mut s = crate::autoreply::load_settings(app, &mid)?;
            let was = s.is_enabled;
            s.is_enabled = false;
            if was {
                crate::autoreply::save_settings(app, &mid, &s)?;
            }
            Ok(was)
        })
        .await;
    match ended {
        Ok(was) => {
            if was {
                web.audit(&v.user.name, "autoreply.end", format!("mailbox {id}")).await;
            }
            Redirect::to(&format!("/autoreply/{id}?done=ended")).into_response()
        }
        Err(r) => r,
    }
}
