//! The local control endpoint the office program talks to: HTTP/1 with JSON, on a loopback
//! address or a Unix socket (the config refuses anything else).
//!
//! Routes:
//! - `POST /session/login` `{"user": "anna", "ttl": "8h"}` -> the session (id, lease_until)
//! - `POST /session/{id}/heartbeat` -> the renewed session, 404 if it ended or expired
//! - `POST /session/{id}/logout` -> 204, 404 if unknown
//! - `GET /session` -> the live sessions
//! - `POST /outbox/wake` -> 204: look at the queue now (the CLI calls it after `send`)
//!
//! A login wakes the outbox, so queued mail starts within a second. The handlers only call
//! `outbox` functions; sessions live in the store. [`request`] is the small client the command
//! line uses. This module never sends mail and never logs a request body.

use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::config::ControlListen;

#[derive(Debug, Deserialize)]
struct LoginBody {
    user: String,
    ttl: Option<String>,
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

async fn login(State(app): State<App>, Json(b): Json<LoginBody>) -> Response {
    let ttl = match b.ttl.as_deref().map(|t| crate::config::parse_duration(t).ok_or(t)) {
        None => None,
        Some(Ok(d)) => Some(d),
        Some(Err(t)) => return error(StatusCode::BAD_REQUEST, format!("ttl \"{t}\" is not a duration like \"8h\"")),
    };
    match crate::outbox::session_login(&app, &b.user, ttl) {
        Ok(s) => (StatusCode::CREATED, Json(json!(s))).into_response(),
        Err(crate::outbox::EnqueueError::Refused(m)) => error(StatusCode::BAD_REQUEST, m),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn heartbeat(State(app): State<App>, Path(id): Path<String>) -> Response {
    match crate::outbox::session_heartbeat(&app, &id) {
        Ok(Some(s)) => Json(json!(s)).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("session {id} has ended or expired: log in again")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn logout(State(app): State<App>, Path(id): Path<String>) -> Response {
    match crate::outbox::session_logout(&app, &id) {
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

pub fn router(app: App) -> Router {
    Router::new()
        .route("/session", get(list))
        .route("/session/login", post(login))
        .route("/session/{id}/heartbeat", post(heartbeat))
        .route("/session/{id}/logout", post(logout))
        .route("/outbox/wake", post(wake))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(16 * 1024))
        .with_state(app)
}

pub async fn serve(app: App, token: CancellationToken) -> anyhow::Result<()> {
    let listen = app.config.control.listen.clone();
    let router = router(app);
    let stop = async move { token.cancelled().await };
    match listen {
        ControlListen::Tcp(addr) => {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("control endpoint: cannot listen on {addr}: {e}"))?;
            tracing::info!(%addr, "control endpoint listening");
            axum::serve(l, router).with_graceful_shutdown(stop).await?;
        }
        ControlListen::Unix(path) => {
            // A socket file left by a previous run would make bind fail.
            if std::fs::symlink_metadata(&path).is_ok_and(|m| {
                use std::os::unix::fs::FileTypeExt;
                m.file_type().is_socket()
            }) {
                let _ = std::fs::remove_file(&path);
            }
            let l = tokio::net::UnixListener::bind(&path)
                .map_err(|e| anyhow::anyhow!("control endpoint: cannot listen on {}: {e}", path.display()))?;
            {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o660));
            }
            tracing::info!(path = %path.display(), "control endpoint listening");
            axum::serve(l, router).with_graceful_shutdown(stop).await?;
        }
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens: the daemon is not running.
    #[error("the daemon is not running (nothing listens on {0})")]
    NotRunning(String),
    #[error("control endpoint {0}: {1}")]
    Other(String, String),
}

/// One request to the control endpoint: `(status, JSON body or Null)`.
pub async fn request(
    listen: &ControlListen,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, Value), ClientError> {
    let name = match listen {
        ControlListen::Tcp(a) => a.to_string(),
        ControlListen::Unix(p) => format!("unix:{}", p.display()),
    };
    let fut = async {
        match listen {
            ControlListen::Tcp(a) => match tokio::net::TcpStream::connect(a).await {
                Ok(s) => exchange(s, method, path, body, &name).await,
                Err(_) => Err(ClientError::NotRunning(name.clone())),
            },
            ControlListen::Unix(p) => match tokio::net::UnixStream::connect(p).await {
                Ok(s) => exchange(s, method, path, body, &name).await,
                Err(_) => Err(ClientError::NotRunning(name.clone())),
            },
        }
    };
    match tokio::time::timeout(Duration::from_secs(10), fut).await {
        Ok(r) => r,
        Err(_) => Err(ClientError::Other(name, "no answer within 10 s".into())),
    }
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    method: &str,
    path: &str,
    body: Option<&Value>,
    name: &str,
) -> Result<(u16, Value), ClientError> {
    let err = |m: String| ClientError::Other(name.to_string(), m);
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{payload}",
        payload.len()
    );
    s.write_all(req.as_bytes()).await.map_err(|e| err(e.to_string()))?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.map_err(|e| err(e.to_string()))?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| err("not an HTTP answer".into()))?;
    let status: u16 =
        head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or_else(|| err("not an HTTP answer".into()))?;
    let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
    let body = if chunked { dechunk(body) } else { body.to_string() };
    Ok((status, serde_json::from_str(&body).unwrap_or(Value::Null)))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}
