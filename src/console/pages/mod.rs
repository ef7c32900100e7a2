//! One file per console page; each adds its routes here. A page reads through the features'
//! own functions (summaries, the queue, the gate) and words what it shows with
//! `super::words` and `crate::clock`.

pub mod audit;
pub mod autoreply;
pub mod autoreply_explain;
pub mod autoreply_form;
pub mod deliverability;
pub mod outbox;
pub mod outbox_message;
pub mod overview;
pub mod phones;
pub mod sessions;
pub mod smtp_logs;

use axum::Router;
use axum::routing::{get, post};

use super::Web;

pub fn routes(r: Router<Web>) -> Router<Web> {
    r.route("/", get(overview::page))
        .route("/sessions", get(sessions::page))
        .route("/sessions/open", post(sessions::open))
        .route("/sessions/{id}/close", post(sessions::close))
        .route("/audit", get(audit::page))
        .route("/autoreply", get(autoreply::list))
        .route("/autoreply/{mailbox}", get(autoreply::page).post(autoreply::submit))
        .route("/autoreply/{mailbox}/preview", post(autoreply::preview))
        .route("/autoreply/{mailbox}/end", post(autoreply::end))
        .route("/autoreply/{mailbox}/explain", post(autoreply_explain::upload))
        .route("/autoreply/{mailbox}/explain-message", post(autoreply_explain::pick))
        .route("/phones", get(phones::page))
        .route("/phones/add", post(phones::add))
        .route("/phones/{id}/revoke", post(phones::revoke))
        .route("/outbox", get(outbox::list))
        .route("/outbox/{id}", get(outbox::message))
        .route("/outbox/{id}/retry", post(outbox::retry))
        .route("/outbox/{id}/cancel", post(outbox::cancel))
        .route("/outbox/{id}/sent", post(outbox::mark_sent))
        .route("/deliverability", get(deliverability::page))
        .route("/deliverability/check", post(deliverability::check))
        .route("/smtp-logs", get(smtp_logs::page))
        .route("/smtp-logs/on", post(smtp_logs::switch_on))
        .route("/smtp-logs/off", post(smtp_logs::switch_off))
        .route("/smtp-logs/delete", post(smtp_logs::delete))
        .route("/smtp-logs/{name}", get(smtp_logs::read))
}
