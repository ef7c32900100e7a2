//! Phone setup over the JMAP listener, without a login: the one-time link to a setup profile
//! (`GET /setup/{link}`) and the Thunderbird/K-9 autoconfig answer
//! (`/.well-known/autoconfig/mail/config-v1.1.xml` and `/mail/config-v1.1.xml`).
//!
//! The link hands its profile out once: the store gives the sealed profile and forgets it in
//! one transaction, and only the link opens it (`crate::onboard::link`). A second use, an
//! expired link or a revoked device's link is 410 Gone; a link never made, 404. The link is
//! a secret: nothing here logs it, or anything derived from it but the device's id. HEAD is
//! refused (axum would answer it by running the GET, which uses the link up). The
//! listener serves plain HTTP only on loopback, so the profile travels inside TLS.
//!
//! Autoconfig holds no secret: the host and ports phones use from outside and the company's
//! domains. Asked for an address of another domain, it answers 404.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::server::Server;
use crate::onboard::{Account, autoconfig, link, profile};
use crate::store::setup_links::Take;

fn plain(status: StatusCode, text: &'static str) -> Response {
    let mut r = (status, text).into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `HEAD /setup/{link}`: 405. A HEAD would otherwise run the GET and use the link up (a link
/// checker or preview could then take the profile's one download).
pub async fn head_profile() -> Response {
    let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "");
    r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET"));
    r
}

/// `GET /setup/{link}`: the profile, once.
pub async fn get_profile(State(server): State<Server>, Path(secret): Path<String>) -> Response {
    let secret = secret.trim_end_matches(".mobileconfig").to_string();
    if !link::looks_like_link(&secret) {
        return plain(StatusCode::NOT_FOUND, "no such setup link\n");
    }
    let hash = link::hash(&secret);
    let app = server.app.clone();
    let taken = server.blocking(move || app.store.setup_links().take(&hash, crate::store::now())).await;
    match taken {
        Ok(Ok(Take::Profile { sealed, device, device_name })) => match link::open(&secret, &sealed) {
            Some(body) => {
                tracing::info!(device, "setup: a device's profile was downloaded; its link is used up");
                let disposition = format!("attachment; filename=\"{}\"", profile::file_name(&device_name));
                let mut r = (StatusCode::OK, body).into_response();
                let h = r.headers_mut();
                h.insert(header::CONTENT_TYPE, HeaderValue::from_static(profile::CONTENT_TYPE));
                if let Ok(v) = HeaderValue::from_str(&disposition) {
                    h.insert(header::CONTENT_DISPOSITION, v);
                }
                h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
                r
            }
            None => {
                tracing::warn!(device, "setup: a stored profile does not open with its link; it is gone now");
                plain(StatusCode::GONE, "this setup link is used up or expired; ask for a new one\n")
            }
        },
        Ok(Ok(Take::Gone)) => plain(StatusCode::GONE, "this setup link is used up or expired; ask for a new one\n"),
        Ok(Ok(Take::Unknown)) => plain(StatusCode::NOT_FOUND, "no such setup link\n"),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "setup: the store could not be read for a setup link");
            plain(StatusCode::SERVICE_UNAVAILABLE, "try again in a moment\n")
        }
        Err(e) => {
            tracing::warn!(error = %e, "setup: the setup-link task failed");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct AutoconfigQuery {
    emailaddress: Option<String>,
}

/// `GET /.well-known/autoconfig/mail/config-v1.1.xml` and `/mail/config-v1.1.xml`.
pub async fn get_autoconfig(State(server): State<Server>, Query(q): Query<AutoconfigQuery>) -> Response {
    let account = Account::servers(&server.app.config);
    if let Some(address) = q.emailaddress.as_deref().filter(|a| !a.trim().is_empty()) {
        let domain = address.trim().rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase());
        if !domain.is_some_and(|d| account.domains.contains(&d)) {
            return plain(StatusCode::NOT_FOUND, "not a domain served here\n");
        }
    }
    let mut r = (StatusCode::OK, autoconfig::config_v11(&account)).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(autoconfig::CONTENT_TYPE));
    r
}
