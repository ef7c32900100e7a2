//! Office sessions: who holds the sending gate open and until when; an office account opens
//! and closes one here. Explicitly: opening the console never opens the gate by itself.

use axum::extract::{Form, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use crate::console::auth::Viewer;
use crate::console::layout;
use crate::console::words as t;
use crate::console::{Web, internal};

pub async fn page(State(web): State<Web>, v: Viewer) -> Response {
    if let Err(r) = v.office() {
        return r;
    }
    let sessions = match web.blocking(|app| Ok(crate::outbox::gate::sessions(app)?)).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (l, tz, now) = (v.lang, web.app.config.agent.time_zone, crate::store::now());
    let default_hours = (web.app.config.control.session_ttl.as_secs() / 3600).max(1);
    let max_hours = (web.app.config.control.max_session_ttl.as_secs() / 3600).max(1);
    let body = html! {
        p.muted { (l.t(t::SESSION_EXPLAIN)) }
        section {
            h2 { (l.t(t::SESSIONS_HELD_BY)) }
            @if sessions.is_empty() { p #no-sessions { (l.t(t::SESSIONS_NONE)) } }
            @else {
                table #sessions {
                    thead { tr { th { (l.t(t::SESSION_USER)) } th { (l.t(t::SESSION_SINCE)) } th { (l.t(t::SESSION_UNTIL)) } th {} } }
                    tbody {
                        @for s in &sessions {
                            tr {
                                td data-label=(l.t(t::SESSION_USER)) { (s.user) }
                                td data-label=(l.t(t::SESSION_SINCE)) { (crate::clock::local_time_short(tz, s.created_at, now)) }
                                td data-label=(l.t(t::SESSION_UNTIL)) { (crate::clock::local_time_short(tz, s.lease_until, now)) }
                                td {
                                    form method="post" action={ "/sessions/" (s.id) "/close" } {
                                        input type="hidden" name="csrf" value=(v.csrf);
                                        button.danger type="submit" { (l.t(t::SESSION_CLOSE)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section {
            h2 { (l.t(t::SESSION_OPEN)) }
            form.stack #open-session method="post" action="/sessions/open" {
                input type="hidden" name="csrf" value=(v.csrf);
                label { (l.t(t::SESSION_HOURS))
                    input type="number" name="hours" min="1" max=(max_hours) value=(default_hours) required; }
                button type="submit" { (l.t(t::SESSION_OPEN)) }
            }
        }
    };
    layout::page(&v, "/sessions", t::NAV_SESSIONS, body).into_response()
}

#[derive(Deserialize)]
pub struct OpenForm {
    #[serde(default)]
    csrf: String,
    hours: Option<u64>,
}

pub async fn open(State(web): State<Web>, v: Viewer, Form(f): Form<OpenForm>) -> Response {
    if let Err(r) = v.office().and_then(|_| v.csrf(&f.csrf)) {
        return r;
    }
    let ttl = f.hours.map(|h| std::time::Duration::from_secs(h.clamp(1, 24 * 7) * 3600));
    let who = format!("console:{}", v.user.name);
    let opened = web
        .blocking(move |app| {
            let s = crate::outbox::gate::session_login_via(app, &who, ttl, "console")?;
            app.outbox_wake.notify_one();
            Ok(s)
        })
        .await;
    match opened {
        Ok(s) => {
            web.audit(&v.user.name, "session.open", format!("office session {} until {}", s.id, s.lease_until)).await;
            Redirect::to("/sessions").into_response()
        }
        Err(r) => r,
    }
}

#[derive(Deserialize)]
pub struct CloseForm {
    #[serde(default)]
    csrf: String,
}

pub async fn close(State(web): State<Web>, v: Viewer, Path(id): Path<String>, Form(f): Form<CloseForm>) -> Response {
    if let Err(r) = v.office().and_then(|_| v.csrf(&f.csrf)) {
        return r;
    }
    let sid = id.clone();
    match web.blocking(move |app| Ok(crate::outbox::gate::session_logout_via(app, &sid, "console")?)).await {
        Ok(true) => {
            web.audit(&v.user.name, "session.close", format!("office session {id}")).await;
            Redirect::to("/sessions").into_response()
        }
        Ok(false) => Redirect::to("/sessions").into_response(),
        Err(_) => internal("closing an office session failed"),
    }
}
