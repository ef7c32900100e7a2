//! The API endpoint's transport (`POST apiUrl`, RFC 8620 section 3.1): authentication (by
//! the [`Authed`] extractor), the request-level limits and errors (problem+json), then the
//! request handed to the dispatcher on a blocking thread.
//!
//! Limits are checked before any work: the size before the body is read (and while reading),
//! the number of calls before the first is run, concurrent requests per device.
//!
//! A body whose Content-Type is not `application/json` (parameters such as `charset=utf-8`
//! allowed) is refused before it is read, with the problem type `notJSON` and status 400:
//! RFC 8620 section 3.6.1 defines that type for exactly this ("the content type of the request
//! was not application/json or the request did not parse as I-JSON"), so a client learns the
//! JMAP reason rather than a bare HTTP 415.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::auth::Authed;
use super::dispatch::{CAPABILITIES, Request, TOLERATED, run};
use super::server::{Server, problem};
use super::{limits, session};

fn limit_problem(limit: &str, detail: &str) -> Response {
    problem(StatusCode::BAD_REQUEST, "urn:ietf:params:jmap:error:limit", detail, Some(limit))
}

/// Whether a Content-Type header value is `application/json`, with or without parameters.
fn is_json(content_type: Option<&HeaderValue>) -> bool {
    let Some(v) = content_type.and_then(|v| v.to_str().ok()) else { return false };
    v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}

/// `POST apiUrl`.
pub async fn post_api(State(server): State<Server>, authed: Authed, headers: HeaderMap, body: Body) -> Response {
    if !is_json(headers.get(header::CONTENT_TYPE)) {
        return problem(
            StatusCode::BAD_REQUEST,
            "urn:ietf:params:jmap:error:notJSON",
            "the request's Content-Type must be application/json",
            None,
        );
    }
    if let Some(len) =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok())
        && len > limits::MAX_SIZE_REQUEST as u64
    {
        return limit_problem(
            "maxSizeRequest",
            &format!("the request is {len} bytes; at most {} are accepted", limits::MAX_SIZE_REQUEST),
        );
    }
    let Some(_permit) = server.request_permit(authed.device) else {
        return problem(
            StatusCode::TOO_MANY_REQUESTS,
            "urn:ietf:params:jmap:error:limit",
            &format!("at most {} requests of one device at a time", limits::MAX_CONCURRENT_REQUESTS),
            Some("maxConcurrentRequests"),
        );
    };
    let bytes: Bytes = match axum::body::to_bytes(body, limits::MAX_SIZE_REQUEST).await {
        Ok(b) => b,
        Err(_) => {
            return limit_problem(
                "maxSizeRequest",
                &format!("the request is larger than {} bytes", limits::MAX_SIZE_REQUEST),
            );
        }
    };
    let request: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => {
            return problem(
                StatusCode::BAD_REQUEST,
                "urn:ietf:params:jmap:error:notJSON",
                &format!("the body is not JSON: {e}"),
                None,
            );
        }
    };
    let req = match Request::parse(request) {
        Ok(r) => r,
        Err(detail) => return problem(StatusCode::BAD_REQUEST, "urn:ietf:params:jmap:error:notRequest", &detail, None),
    };
    if let Some(unknown) =
        req.using.iter().find(|u| !CAPABILITIES.contains(&u.as_str()) && !TOLERATED.contains(&u.as_str()))
    {
        return problem(
            StatusCode::BAD_REQUEST,
            "urn:ietf:params:jmap:error:unknownCapability",
            &format!("this server does not implement the capability \"{unknown}\""),
            None,
        );
    }
    if req.calls.len() > limits::MAX_CALLS_IN_REQUEST {
        return limit_problem(
            "maxCallsInRequest",
            &format!("{} method calls; at most {} per request", req.calls.len(), limits::MAX_CALLS_IN_REQUEST),
        );
    }
    let app = server.app.clone();
    let session_state = session::state(&app, &authed);
    match server.blocking(move || run(&app, &authed, req, session_state)).await {
        Ok(v) => {
            let mut r = (StatusCode::OK, v.to_string()).into_response();
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, "about:blank", &format!("the request failed: {e}"), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_is_application_json_with_any_parameters() {
        for ok in ["application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8"] {
            assert!(is_json(Some(&HeaderValue::from_static(ok))), "{ok}");
        }
        for bad in ["text/plain", "application/jsonx", "application/problem+json", "multipart/form-data; a=b", ""] {
            assert!(!is_json(Some(&HeaderValue::from_static(bad))), "{bad}");
        }
        assert!(!is_json(None), "no Content-Type at all");
    }
}
