//! The local control endpoint the office program talks to: HTTP/1 with JSON, on a loopback
//! address or a Unix socket (the config refuses anything else).
//!
//! Routes:
//! - `POST /session/login` `{"user": "anna", "ttl": "8h"}` -> the session (id, lease_until);
//!   the lease is never longer than `control.max_session_ttl`
//! - `POST /session/{id}/heartbeat` -> the renewed session, 404 if it ended or expired
//! - `POST /session/{id}/logout` -> 204, 404 if unknown
//! - `GET /session` -> the live sessions
//! - `POST /outbox/wake` -> 204: look at the queue now (the CLI calls it after `send`)
//!
//! Every request first passes the guard (`access`): an Origin header or a foreign Host gets 403,
//! a missing or wrong token on TCP 401; each refusal is logged with its reason and peer and kept
//! in the audit trail, never with the token. A Unix socket is guarded by its file mode (`files`).
//! Logins, heartbeats and logouts are recorded with the peer that made them. A login wakes the
//! outbox, so queued mail starts within a second. The handlers only call `outbox` functions;
//! sessions live in the store. [`request`] is the small client the command line uses. This
//! module never sends mail and never logs a request body or a token.

pub mod access;
mod client;
pub mod files;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::config::ControlListen;
use access::Peer;
pub use client::{ClientError, request};

#[derive(Debug, Deserialize)]
struct LoginBody {
    user: String,
    ttl: Option<String>,
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

async fn login(State(app): State<App>, ConnectInfo(peer): ConnectInfo<Peer>, Json(b): Json<LoginBody>) -> Response {
    let ttl = match b.ttl.as_deref().map(|t| crate::config::parse_duration(t).ok_or(t)) {
        None => None,
        Some(Ok(d)) => Some(d),
        Some(Err(t)) => return error(StatusCode::BAD_REQUEST, format!("ttl \"{t}\" is not a duration like \"8h\"")),
    };
    match crate::outbox::session_login_via(&app, &b.user, ttl, &peer.to_string()) {
        Ok(s) => (StatusCode::CREATED, Json(json!(s))).into_response(),
        Err(crate::outbox::EnqueueError::Refused(m)) => error(StatusCode::BAD_REQUEST, m),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn heartbeat(State(app): State<App>, ConnectInfo(peer): ConnectInfo<Peer>, Path(id): Path<String>) -> Response {
    match crate::outbox::session_heartbeat_via(&app, &id, &peer.to_string()) {
        Ok(Some(s)) => Json(json!(s)).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("session {id} has ended or expired: log in again")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn logout(State(app): State<App>, ConnectInfo(peer): ConnectInfo<Peer>, Path(id): Path<String>) -> Response {
    match crate::outbox::session_logout_via(&app, &id, &peer.to_string()) {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => error(StatusCode::NOT_FOUND, format!("no live session {id}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn list(State(app): State<App>) -> Response {
    match crate::outbox::sessions(&app) {
        Ok(s) => Json(json!(s)).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn wake(State(app): State<App>) -> StatusCode {
    app.outbox_wake.notify_one();
    StatusCode::NO_CONTENT
}

/// What the guard needs: the app (listen address, store for the audit) and the token.
#[derive(Clone)]
struct Guard {
    app: App,
    secret: Arc<str>,
}

/// Let a request through only when `access::check` allows it; log and record a refusal.
async fn guard(State(g): State<Guard>, ConnectInfo(peer): ConnectInfo<Peer>, req: Request, next: Next) -> Response {
    let h = req.headers();
    let text = |name| h.get(name).and_then(|v: &axum::http::HeaderValue| v.to_str().ok());
    // A Host that is not text is kept as a value no listen address can match, so it is refused.
    let mut hosts: Vec<&str> =
        h.get_all(axum::http::header::HOST).iter().map(|v| v.to_str().unwrap_or("\u{fffd}")).collect();
    if let Some(a) = req.uri().authority() {
        hosts.push(a.as_str());
    }
    let presented = access::Presented {
        hosts,
        origin: h.contains_key(axum::http::header::ORIGIN),
        bearer: text(axum::http::header::AUTHORIZATION).and_then(access::bearer),
    };
    match access::check(&g.app.config.control.listen, &g.secret, &presented) {
        Ok(()) => next.run(req).await,
        Err(refusal) => {
            tracing::warn!(%peer, reason = %refusal, method = %req.method(), path = %req.uri().path(), "control endpoint: request refused");
            if let Err(e) = g.app.store.sessions().audit_refused(&peer.to_string(), &refusal.to_string()) {
                tracing::warn!(error = %e, "control endpoint: cannot record the refusal");
            }
            error(refusal.status(), refusal.to_string())
        }
    }
}

fn router(app: App, secret: Arc<str>) -> Router {
    let guarded = Guard { app: app.clone(), secret };
    Router::new()
        .route("/session", get(list))
        .route("/session/login", post(login))
        .route("/session/{id}/heartbeat", post(heartbeat))
        .route("/session/{id}/logout", post(logout))
        .route("/outbox/wake", post(wake))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(16 * 1024))
        .layer(axum::middleware::from_fn_with_state(guarded, guard))
        .with_state(app)
}

pub async fn serve(app: App, token: CancellationToken) -> anyhow::Result<()> {
    let c = app.config.control.clone();
    // The token exists before anything listens: a client that can connect can read it.
    let secret: Arc<str> = files::ensure_token(&c.token_file)?.into();
    // Leases granted before control.max_session_ttl existed, or before it was lowered, end by
    // then at the latest.
    let until = crate::store::now() + c.max_session_ttl.as_secs() as i64;
    let capped = app.store.sessions().cap_leases(until)?;
    if capped > 0 {
        tracing::info!(sessions = capped, "office session leases shortened to control.max_session_ttl");
    }
    let router = router(app, secret);
    let stop = async move { token.cancelled().await };
    match c.listen {
        ControlListen::Tcp(addr) => {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("control endpoint: cannot listen on {addr}: {e}"))?;
            tracing::info!(%addr, "control endpoint listening");
            axum::serve(l, router.into_make_service_with_connect_info::<Peer>()).with_graceful_shutdown(stop).await?;
        }
        ControlListen::Unix(path) => {
            let l = files::bind_socket(&path)?;
            tracing::info!(path = %path.display(), "control endpoint listening");
            axum::serve(l, router.into_make_service_with_connect_info::<Peer>()).with_graceful_shutdown(stop).await?;
        }
    }
    Ok(())
}
