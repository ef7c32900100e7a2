//! The Session resource (RFC 8620 section 2), served directly at `/.well-known/jmap` (clients
//! such as jmap-client follow redirects only to hosts they were told about). Every URL in it is
//! absolute, built from `jmap.public_url`. Its `state` is a hash of what it lists, so it changes
//! exactly when the device's accounts or the server's capabilities do.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::auth::Authed;
use super::dispatch::{CORE, MAIL, SUBMISSION, VACATION};
use super::limits;
use super::server::Server;
use crate::app::App;

pub async fn get_session(State(server): State<Server>, authed: Authed) -> Response {
    let body = session(&server.app, &authed);
    let mut r = (StatusCode::OK, body.to_string()).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, no-store, must-revalidate"));
    r
}

fn capabilities() -> Value {
    json!({
        CORE: {
            "maxSizeUpload": limits::MAX_SIZE_UPLOAD,
            "maxConcurrentUpload": limits::MAX_CONCURRENT_UPLOAD,
            "maxSizeRequest": limits::MAX_SIZE_REQUEST,
            "maxConcurrentRequests": limits::MAX_CONCURRENT_REQUESTS,
            "maxCallsInRequest": limits::MAX_CALLS_IN_REQUEST,
            "maxObjectsInGet": limits::MAX_OBJECTS_IN_GET,
            "maxObjectsInSet": limits::MAX_OBJECTS_IN_SET,
            "collationAlgorithms": ["i;ascii-casemap"],
        },
        MAIL: {},
        SUBMISSION: {},
        VACATION: {},
    })
}

fn account_capabilities() -> Value {
    json!({
        MAIL: {
            // One message row is one mailbox: a move replaces it.
            "maxMailboxesPerEmail": 1,
            "maxMailboxDepth": null,
            "maxSizeMailboxName": 200,
            "maxSizeAttachmentsPerEmail": limits::MAX_SIZE_UPLOAD,
            "emailQuerySortOptions": ["receivedAt", "sentAt", "size", "subject", "from", "to",
                "hasKeyword", "someInThreadHaveKeyword", "allInThreadHaveKeyword"],
            "mayCreateTopLevelMailbox": true,
        },
        SUBMISSION: {
            "maxDelayedSend": 0,
            "submissionExtensions": {},
        },
        VACATION: {},
    })
}

pub fn session(app: &App, authed: &Authed) -> Value {
    let base = app.config.jmap.public_url.trim_end_matches('/');
    let mut accounts = serde_json::Map::new();
    for a in &authed.accounts {
        let name = app
            .config
            .mailbox(&a.mailbox)
            .map(|m| m.primary_address().to_string())
            .unwrap_or_else(|| a.mailbox.clone());
        accounts.insert(
            a.account_id.clone(),
            json!({
                "name": name,
                "isPersonal": a.personal,
                "isReadOnly": false,
                "accountCapabilities": account_capabilities(),
            }),
        );
    }
    let primary = &authed.accounts[0].account_id;
    json!({
        "capabilities": capabilities(),
        "accounts": accounts,
        "primaryAccounts": { MAIL: primary, SUBMISSION: primary, VACATION: primary },
        "username": authed.username,
        "apiUrl": format!("{base}/jmap/api/"),
        "downloadUrl": format!("{base}/jmap/download/{{accountId}}/{{blobId}}/{{name}}?accept={{type}}"),
        "uploadUrl": format!("{base}/jmap/upload/{{accountId}}/"),
        "eventSourceUrl": format!("{base}/jmap/eventsource/?types={{types}}&closeafter={{closeafter}}&ping={{ping}}"),
        "state": state(app, authed),
    })
}

/// Changes when the device's accounts or the advertised capabilities change.
pub fn state(app: &App, authed: &Authed) -> String {
    let mut h = Sha256::new();
    h.update(capabilities().to_string());
    h.update(account_capabilities().to_string());
    h.update(&app.config.jmap.public_url);
    for a in &authed.accounts {
        h.update(&a.account_id);
        h.update([0, a.personal as u8]);
    }
    hex::encode(&h.finalize()[..8])
}
