//! One file per console page; each adds its routes here. A page reads through the features'
//! own functions (summaries, the queue, the gate) and words what it shows with
//! `super::words` and `crate::clock`.

pub mod audit;
pub mod overview;
pub mod sessions;

use axum::Router;
use axum::routing::{get, post};

use super::Web;

pub fn routes(r: Router<Web>) -> Router<Web> {
    r.route("/", get(overview::page))
        .route("/sessions", get(sessions::page))
        .route("/sessions/open", post(sessions::open))
        .route("/sessions/{id}/close", post(sessions::close))
        .route("/audit", get(audit::page))
}
