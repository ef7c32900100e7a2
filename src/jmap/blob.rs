//! Blob upload and download (RFC 8620 section 6).
//!
//! An upload is stored content-addressed in the `blob` table and remembered as the uploading
//! account's, so only that account can use it until an email references it. A download
//! serves a whole stored blob (a raw message or an upload) or the decoded content of one
//! part of an email (`P<email>-<part>`), and only for an account the device may use. Blobs
//! are sent as attachments unless the type is harmless to show inline, so HTML in a mail never
//! runs in this server's origin.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::auth::Authed;
use super::ids;
use super::limits;
use super::method::read_blob;
use super::server::{Server, problem};

pub async fn upload(
    State(server): State<Server>,
    authed: Authed,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(mailbox) = authed.mailbox(&account).map(String::from) else {
        return problem(
            StatusCode::NOT_FOUND,
            "about:blank",
            &format!("no account \"{account}\" for this device"),
            None,
        );
    };
    if let Some(len) =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok())
        && len > limits::MAX_SIZE_UPLOAD as u64
    {
        return problem(
            StatusCode::PAYLOAD_TOO_LARGE,
            "urn:ietf:params:jmap:error:limit",
            "the upload is too large",
            Some("maxSizeUpload"),
        );
    }
    let Some(_permit) = server.upload_permit(authed.device) else {
        return problem(
            StatusCode::TOO_MANY_REQUESTS,
            "urn:ietf:params:jmap:error:limit",
            "too many uploads at once",
            Some("maxConcurrentUpload"),
        );
    };
    let bytes = match axum::body::to_bytes(body, limits::MAX_SIZE_UPLOAD).await {
        Ok(b) => b,
        Err(_) => {
            return problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                "urn:ietf:params:jmap:error:limit",
                "the upload is too large",
                Some("maxSizeUpload"),
            );
        }
    };
    let ty = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_string();
    let store = server.app.store.clone();
    let size = bytes.len();
    match server.blocking(move || store.blobs().upload(&mailbox, &bytes)).await {
        Ok(Ok(id)) => {
            let body = json!({"accountId": account, "blobId": ids::blob(id), "type": ty, "size": size});
            let mut r = (StatusCode::CREATED, body.to_string()).into_response();
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "jmap: storing an upload failed");
            problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "about:blank",
                "storing the upload failed; see the server log",
                None,
            )
        }
        Err(e) => {
            problem(StatusCode::INTERNAL_SERVER_ERROR, "about:blank", &format!("storing the upload failed: {e}"), None)
        }
    }
}

#[derive(serde::Deserialize)]
pub struct DownloadQuery {
    accept: Option<String>,
}

/// Types a browser can show without running anything.
fn inline_safe(ty: &str) -> bool {
    matches!(ty, "image/png" | "image/jpeg" | "image/gif" | "image/webp" | "application/pdf" | "text/plain")
}

pub async fn download(
    State(server): State<Server>,
    authed: Authed,
    Path((account, blob, name)): Path<(String, String, String)>,
    Query(q): Query<DownloadQuery>,
) -> Response {
    let Some(mailbox) = authed.mailbox(&account).map(String::from) else {
        return problem(StatusCode::NOT_FOUND, "about:blank", "no such blob", None);
    };
    let app = server.app.clone();
    let data = match server.blocking(move || read_blob(&app, &mailbox, &blob)).await {
        Ok(Ok(Some(d))) => d,
        Ok(Ok(None)) => return problem(StatusCode::NOT_FOUND, "about:blank", "no such blob", None),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "jmap: reading a blob failed");
            return problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "about:blank",
                "reading the blob failed; see the server log",
                None,
            );
        }
        Err(e) => return problem(StatusCode::INTERNAL_SERVER_ERROR, "about:blank", &e.to_string(), None),
    };
    let ty = q
        .accept
        .filter(|t| t.contains('/') && t.is_ascii() && !t.contains(['\r', '\n']))
        .unwrap_or_else(|| "application/octet-stream".into());
    let safe_name: String = name.chars().filter(|c| !c.is_control() && *c != '"' && *c != '\\').collect();
    let disposition = if inline_safe(&ty) { "inline" } else { "attachment" };
    let mut r = (StatusCode::OK, data).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&ty).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{disposition}; filename=\"{}\"",
        safe_name.replace(|c: char| !c.is_ascii(), "_")
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, immutable, max-age=31536000"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    r
}
