//! The overview: for each mailbox the account may see, the last sync, its error, the message
//! counts and the automatic reply's state; the sending gate and who holds it; the queue by
//! state; and the last deliverability verdict per path.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use crate::console::Web;
use crate::console::auth::Viewer;
use crate::console::i18n::{Lang, w};
use crate::console::layout;
use crate::console::words as t;
use crate::deliverability::verdict::Level;
use crate::outbox::State as QState;

/// What one mailbox's row shows.
struct Row {
    id: String,
    name: String,
    address: String,
    sync: crate::store::sync_state::SyncStatus,
    total: i64,
    unread: i64,
    autoreply: Option<String>,
    queue: Vec<(QState, i64)>,
    verdicts: Vec<crate::deliverability::PathStatus>,
}

pub fn state_words(s: QState) -> crate::console::i18n::Words {
    match s {
        QState::Queued => w("wartet", "queued"),
        QState::Sending => w("wird gesendet", "sending"),
        QState::Deferred => w("später erneut", "deferred"),
        QState::Unknown => w("unklar: Entscheidung nötig", "unknown: needs a decision"),
        QState::Sent => w("gesendet", "sent"),
        QState::Failed => w("fehlgeschlagen", "failed"),
        QState::Expired => w("abgelaufen", "expired"),
        QState::Cancelled => w("abgebrochen", "cancelled"),
    }
}

pub fn level_mark(l: Option<Level>) -> Markup {
    match l {
        Some(Level::Ok) => html! { span.ok { "✓" } },
        Some(Level::AtRisk) => html! { span.warn { "!" } },
        Some(Level::WillFail) => html! { span.bad { "✖" } },
        _ => html! { span.muted { "?" } },
    }
}

pub async fn page(State(web): State<Web>, v: Viewer) -> Response {
    let ids: Vec<String> = v.mailboxes(&web.app.config).iter().map(|m| m.id.clone()).collect();
    let (office, lang) = (v.is_office(), v.lang);
    let data = web
        .blocking(move |app| {
            let tz = app.config.agent.time_zone;
            let mut rows = Vec::new();
            for id in &ids {
                let m = app.config.mailbox(id).expect("configured");
                let folders = app.store.folders().counts(id)?;
                let ar = crate::autoreply::status(app, id)?;
                let q = crate::outbox::status(app, id)?;
                rows.push(Row {
                    id: id.clone(),
                    name: m.name.clone(),
                    address: m.primary_address().to_string(),
                    sync: app.store.sync_state().status(id)?,
                    total: folders.iter().map(|f| f.total).sum(),
                    unread: folders.iter().filter(|f| f.role.as_deref() == Some("inbox")).map(|f| f.unread).sum(),
                    autoreply: ar.settings.is_enabled.then(|| super::autoreply_form::window(lang, &ar.settings, tz)),
                    queue: q.counts.iter().map(|(s, n)| (*s, *n)).filter(|(_, n)| *n > 0).collect(),
                    verdicts: crate::deliverability::status(app, id)?.paths,
                });
            }
            let global = if office { Some(crate::outbox::status_global(app)?) } else { None };
            Ok((rows, global))
        })
        .await;
    let (rows, global) = match data {
        Ok(d) => d,
        Err(r) => return r,
    };
    let (l, tz) = (v.lang, web.app.config.agent.time_zone);
    let now = crate::store::now();
    let body = html! {
        @if let Some(g) = &global {
            section #gate {
                h2 { (l.t(t::GATE)) }
                @if g.sessions.is_empty() {
                    p.warn { (l.t(t::GATE_CLOSED)) }
                } @else {
                    p.ok { (l.t(t::GATE_OPEN)) ": "
                        @for (i, s) in g.sessions.iter().enumerate() {
                            @if i > 0 { ", " }
                            (s.user) " (" (l.t(t::SESSION_UNTIL)) " " (crate::clock::local_time_short(tz, s.lease_until, now)) ")"
                        }
                    }
                }
                h2 { (l.t(t::QUEUE)) }
                (queue_line(l, &g.counts.iter().map(|(s, n)| (*s, *n)).filter(|(_, n)| *n > 0).collect::<Vec<_>>()))
            }
        }
        h2 { (l.t(t::MAILBOXES)) }
        table #mailboxes {
            thead { tr {
                th { (l.t(t::MAILBOX)) } th { (l.t(t::LAST_SYNC)) } th { (l.t(t::MESSAGES)) }
                th { (l.t(t::NAV_AUTOREPLY)) } th { (l.t(t::QUEUE)) } th { (l.t(t::DELIVERABILITY)) }
            } }
            tbody {
                @for r in &rows {
                    tr id={ "mailbox-" (r.id) } {
                        td data-label=(l.t(t::MAILBOX)) { strong { (r.name) } br; span.muted { (r.address) } }
                        td data-label=(l.t(t::LAST_SYNC)) {
                            @match r.sync.last_sync_at {
                                Some(at) => { (crate::clock::local_time_short(tz, at, now)) }
                                None => { span.muted { (l.t(t::NEVER)) } }
                            }
                            @if let Some(e) = &r.sync.last_error { br; span.bad { (l.t(t::ERROR)) ": " (e) } }
                        }
                        td data-label=(l.t(t::MESSAGES)) { (r.total) " (" (r.unread) " " (l.t(t::UNREAD)) ")" }
                        td data-label=(l.t(t::NAV_AUTOREPLY)) {
                            @match &r.autoreply {
                                Some(win) => { a href={ "/autoreply/" (r.id) } { span.warn { (l.t(t::AUTOREPLY_ON)) } } br; span.muted { (win) } }
                                None => { a href={ "/autoreply/" (r.id) } { (l.t(t::AUTOREPLY_OFF)) } }
                            }
                        }
                        td data-label=(l.t(t::QUEUE)) { (queue_line(l, &r.queue)) }
                        td data-label=(l.t(t::DELIVERABILITY)) {
                            @if r.verdicts.is_empty() { span.muted { (l.t(t::NOT_CHECKED)) } }
                            @for p in r.verdicts.iter().filter(|p| p.configured) {
                                (level_mark(p.level)) " " (p.domain) " "
                                (l.t(if p.transport == "direct" { t::PATH_DIRECT } else { t::PATH_RELAY }))
                            }
                        }
                    }
                }
            }
        }
    };
    layout::page(&v, "/", t::NAV_OVERVIEW, body).into_response()
}

fn queue_line(l: Lang, counts: &[(QState, i64)]) -> Markup {
    html! {
        @if counts.is_empty() { span.muted { (l.t(t::QUEUE_EMPTY)) } }
        @for (i, (s, n)) in counts.iter().enumerate() {
            @if i > 0 { ", " }
            a href={ "/outbox?state=" (s.as_str()) } { (n) " " (l.t(state_words(*s))) }
        }
    }
}
