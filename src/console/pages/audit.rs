//! The audit log: who did what in the console, and when (office accounts only).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::html;

use crate::console::Web;
use crate::console::auth::Viewer;
use crate::console::layout;
use crate::console::words as t;

pub async fn page(State(web): State<Web>, v: Viewer) -> Response {
    if let Err(r) = v.office() {
        return r;
    }
    let rows = match web.blocking(|app| Ok(app.store.console().audit_recent(500)?)).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let (l, tz) = (v.lang, web.app.config.agent.time_zone);
    let body = html! {
        table #audit {
            thead { tr { th { (l.t(t::AUDIT_AT)) } th { (l.t(t::AUDIT_WHO)) } th { (l.t(t::AUDIT_WHAT)) } th { (l.t(t::AUDIT_DETAIL)) } } }
            tbody {
                @for a in &rows {
                    tr {
                        td data-label=(l.t(t::AUDIT_AT)) { (crate::clock::local_time(tz, a.at)) }
                        td data-label=(l.t(t::AUDIT_WHO)) { (a.user) }
                        td data-label=(l.t(t::AUDIT_WHAT)) { code { (a.action) } }
                        td data-label=(l.t(t::AUDIT_DETAIL)) { (a.detail) }
                    }
                }
            }
        }
    };
    layout::page(&v, "/audit", t::NAV_AUDIT, body).into_response()
}
