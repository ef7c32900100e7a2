//! The state every HTTP handler shares, and the request-level error document.
//!
//! [`Server`] holds the app (whose `logins` is the failed-login limiter every listener
//! shares), the per-device permits that enforce `maxConcurrentRequests` and
//! `maxConcurrentUpload`, and the bound on parallel store work. [`problem`] is the RFC 7807 answer for a request refused as a whole
//! (a method's own error is never one). Transport only: request handling never sees this.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::limits;
use crate::app::App;

/// What every handler shares.
#[derive(Clone)]
pub struct Server {
    pub app: App,
    /// Requests in flight per device (maxConcurrentRequests), uploads per device.
    requests: Arc<Mutex<HashMap<i64, Arc<Semaphore>>>>,
    uploads: Arc<Mutex<HashMap<i64, Arc<Semaphore>>>>,
    /// Store work in flight, bounded below the store's pool of reader connections: more
    /// parallel readers would each open (and drop) a connection of their own, which costs more
    /// than the wait.
    db: Arc<Semaphore>,
    pub shutdown: CancellationToken,
}

/// Parallel store calls of the JMAP server (the store keeps 8 readers; the mirror and the
/// outbox need some too).
const DB_PARALLEL: usize = 6;

impl Server {
    pub fn new(app: App, shutdown: CancellationToken) -> Server {
        Server {
            app,
            requests: Default::default(),
            uploads: Default::default(),
            db: Arc::new(Semaphore::new(DB_PARALLEL)),
            shutdown,
        }
    }

    fn semaphore(map: &Mutex<HashMap<i64, Arc<Semaphore>>>, device: i64, n: usize) -> Arc<Semaphore> {
        let mut m = map.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(device).or_insert_with(|| Arc::new(Semaphore::new(n))).clone()
    }

    /// A permit for one API request of `device`, or None when it has too many in flight.
    pub fn request_permit(&self, device: i64) -> Option<tokio::sync::OwnedSemaphorePermit> {
        Self::semaphore(&self.requests, device, limits::MAX_CONCURRENT_REQUESTS).try_acquire_owned().ok()
    }

    /// Run store work on a blocking thread, at most `DB_PARALLEL` at a time.
    pub async fn blocking<R: Send + 'static>(
        &self,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, tokio::task::JoinError> {
        let _permit = self.db.clone().acquire_owned().await.expect("the semaphore is never closed");
        tokio::task::spawn_blocking(f).await
    }

    pub fn upload_permit(&self, device: i64) -> Option<tokio::sync::OwnedSemaphorePermit> {
        Self::semaphore(&self.uploads, device, limits::MAX_CONCURRENT_UPLOAD).try_acquire_owned().ok()
    }
}

/// An RFC 7807 problem document (request-level errors).
pub fn problem(status: StatusCode, ty: &str, detail: &str, limit: Option<&str>) -> Response {
    let mut body = json!({ "type": ty, "status": status.as_u16(), "detail": detail });
    if let Some(l) = limit {
        body["limit"] = Value::String(l.to_string());
    }
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    r
}
