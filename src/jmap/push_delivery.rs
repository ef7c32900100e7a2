//! The push delivery: POSTs to the URLs of push subscriptions (RFC 8620 section 7.2).
//!
//! One task (started by the daemon, ended by its token) keeps one worker per live
//! subscription. It listens to the store's post-commit broadcast (the one EventSource uses)
//! and wakes the workers of the devices that can see the changed account; the store wakes it
//! after every write to the subscriptions, and once a minute it removes the expired ones.
//!
//! A worker first POSTs the `PushVerification`; until the client sets that code nothing
//! else goes to the URL. Then, at most once per [`COALESCE`] (a burst of commits is one
//! push), it POSTs a `StateChange` with the types (filtered by the subscription's `types`)
//! whose state moved since the last push that arrived. A failed POST is retried after
//! [`RETRY`] (1 s, 5 s, 30 s, 2 min), then given up: the next change carries this one's
//! states too (a verification given up removes its subscription: it can never be verified).
//! A 404 or 410 means the push service forgot the subscription: it is removed. Shutdown
//! abandons a POST in flight; nothing about it is recorded as sent.
//! The subscription is read again before every attempt, so one destroyed, expired or of a
//! revoked device gets nothing more. With `keys` the body is encrypted (RFC 8291, see
//! `push_wire`) and sent with `Content-Encoding: aes128gcm`; every POST carries `TTL`.
//!
//! HTTP/1.1 with hyper over tokio-rustls, `https://` only, certificates checked against the
//! platform's roots plus `jmap.push_ca_file`. The URL's path is a secret of the phone's push
//! service: logs name the subscription id and the URL's host, nothing more.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value};
use tokio::sync::{Notify, broadcast};
use tokio::time::Instant;
use tokio_rustls::rustls::ClientConfig;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{device, push_wire, type_state};
use crate::app::App;
use crate::store::push::{Live, Subscription};
use crate::store::{ObjType, now};

/// At most one StateChange per subscription per this window.
pub const COALESCE: Duration = Duration::from_secs(1);
/// The waits before the retries of one POST; after the last, that POST is given up.
pub const RETRY: [Duration; 4] =
    [Duration::from_secs(1), Duration::from_secs(5), Duration::from_secs(30), Duration::from_secs(120)];
/// How long one POST (connect, TLS, request, response head) may take.
const TIMEOUT: Duration = Duration::from_secs(30);
/// How long a push service should keep a push for a phone that is offline (RFC 8030 `TTL`).
const TTL_SECS: u32 = 86_400;
/// How often expired subscriptions are removed and the workers compared with the store.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// The wait before retry `attempt` (0: the first retry); None: give up.
pub fn retry_after(attempt: usize) -> Option<Duration> {
    RETRY.get(attempt).copied()
}

/// What a push service's answer means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// 404 or 410: the subscription is gone at the push service; remove it.
    Gone,
    /// Worth another try later (a timeout, 408, 429, a server error, no connection).
    Retry,
    /// Refused for good (another 4xx): retrying the same body would not help.
    Refused,
}

pub fn classify(status: u16) -> Outcome {
    match status {
        200..=299 => Outcome::Delivered,
        404 | 410 => Outcome::Gone,
        408 | 425 | 429 | 500..=599 => Outcome::Retry,
        _ => Outcome::Refused,
    }
}

/// Whether a subscription with `types` (None: all) wants pushes for `ty`.
pub fn wanted(types: Option<&[String]>, ty: ObjType) -> bool {
    types.is_none_or(|t| t.iter().any(|n| n == ty.name()))
}

/// (account id, type name) -> the state last pushed (or seen when the worker started).
type Seen = HashMap<(String, &'static str), String>;

/// The state of every type of one account, as `/get` gives it (`type_state::of`).
pub type TypeStates = Vec<(ObjType, String)>;

/// The StateChange's `changed` for the accounts' `states`: the wanted types whose state
/// differs from `seen`, and the entries `seen` takes on once the push arrived.
pub fn diff(states: &[(String, TypeStates)], types: Option<&[String]>, seen: &Seen) -> (Map<String, Value>, Seen) {
    let mut changed = Map::new();
    let mut next = Seen::new();
    for (account_id, st) in states {
        let mut m = Map::new();
        for (ty, s) in st {
            if !wanted(types, *ty) {
                continue;
            }
            let key = (account_id.clone(), ty.name());
            if seen.get(&key) != Some(s) {
                m.insert(ty.name().into(), Value::String(s.clone()));
                next.insert(key, s.clone());
            }
        }
        if !m.is_empty() {
            changed.insert(account_id.clone(), Value::Object(m));
        }
    }
    (changed, next)
}

/// The states of the accounts a subscription's device may see (as `auth` decides for a
/// request).
fn states_of(app: &App, live: &Live) -> Vec<(String, TypeStates)> {
    device::accounts(&crate::devices::login::mailboxes(&app.config, &live.mailbox, &live.grants))
        .into_iter()
        .filter_map(|a| {
            let st = app.store.changes().states(&a.mailbox).ok()??;
            let all =
                ObjType::ALL.into_iter().map(|ty| (ty, type_state::of(&app.config, &a.mailbox, &st, ty))).collect();
            Some((a.account_id, all))
        })
        .collect()
}

/// Run a store call off the async threads (a write may wait behind a mirror batch).
async fn blocking<R: Send + 'static>(
    app: &App,
    f: impl FnOnce(&crate::store::Store) -> crate::store::Result<R> + Send + 'static,
) -> Option<R> {
    let store = app.store.clone();
    match tokio::task::spawn_blocking(move || f(&store)).await {
        Ok(Ok(r)) => Some(r),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "push: store error");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "push: store task failed");
            None
        }
    }
}

async fn load(app: &App, id: i64) -> Option<Live> {
    blocking(app, move |s| s.push().live(id, now())).await.flatten()
}

struct Worker {
    wake: Arc<Notify>,
    mailboxes: HashSet<String>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

/// Deliver pushes until `token` is cancelled; then every worker stops and is joined.
pub async fn run(app: App, token: CancellationToken) -> anyhow::Result<()> {
    let tls = crate::tls::client_config(app.config.jmap.push_ca_file.as_deref())?;
    let mut rx = app.store.subscribe();
    let tracker = TaskTracker::new();
    let mut workers: HashMap<i64, Worker> = HashMap::new();
    let mut sweep_at = Instant::now();
    'outer: loop {
        if Instant::now() >= sweep_at {
            sweep_at = Instant::now() + SWEEP_EVERY;
            if let Some(n) = blocking(&app, |s| s.push().remove_expired(now())).await
                && n > 0
            {
                tracing::info!(removed = n, "push: removed expired subscriptions");
            }
        }
        let live = blocking(&app, |s| s.push().all_live(now())).await.unwrap_or_default();
        reconcile(&app, &tls, &tracker, &token, &mut workers, live);
        loop {
            tokio::select! {
                _ = token.cancelled() => break 'outer,
                _ = app.store.push().wake().notified() => break,
                _ = tokio::time::sleep_until(sweep_at) => break,
                r = rx.recv() => {
                    let account = match r {
                        Ok(c) => Some(c.account),
                        Err(broadcast::error::RecvError::Lagged(_)) => None,
                        Err(broadcast::error::RecvError::Closed) => break 'outer,
                    };
                    for w in workers.values() {
                        if account.as_ref().is_none_or(|a| w.mailboxes.contains(a)) {
                            w.wake.notify_one();
                        }
                    }
                }
            }
        }
    }
    for w in workers.values() {
        w.stop.cancel();
    }
    tracker.close();
    tracker.wait().await;
    Ok(())
}

/// Start a worker for each live subscription that has none; stop those whose subscription
/// is gone; note which mailboxes each may see.
fn reconcile(
    app: &App,
    tls: &Arc<ClientConfig>,
    tracker: &TaskTracker,
    token: &CancellationToken,
    workers: &mut HashMap<i64, Worker>,
    live: Vec<Live>,
) {
    let ids: HashSet<i64> = live.iter().map(|l| l.sub.id).collect();
    workers.retain(|id, w| {
        let keep = ids.contains(id) && !w.task.is_finished();
        if !keep {
            w.stop.cancel();
        }
        keep
    });
    for l in live {
        let mailboxes: HashSet<String> = crate::devices::login::mailboxes(&app.config, &l.mailbox, &l.grants)
            .into_iter()
            .map(|g| g.mailbox)
            .collect();
        if let Some(w) = workers.get_mut(&l.sub.id) {
            w.mailboxes = mailboxes;
            continue;
        }
        let wake = Arc::new(Notify::new());
        let stop = token.child_token();
        let task = tracker.spawn(worker(app.clone(), tls.clone(), l.sub.id, wake.clone(), stop.clone()));
        workers.insert(l.sub.id, Worker { wake, mailboxes, stop, task });
    }
}

/// How one body's delivery ended, retries included.
#[derive(Debug, PartialEq, Eq)]
enum Sent {
    Delivered,
    Gone,
    GaveUp,
    /// The daemon stops, or the subscription went away meanwhile.
    Stopped,
}

async fn worker(app: App, tls: Arc<ClientConfig>, id: i64, wake: Arc<Notify>, stop: CancellationToken) {
    let Some(live) = load(&app, id).await else { return };
    // What the phone is taken to know now: pushes report only what moves from here. Taken
    // before the verification goes out, so a change made while it is on its way is pushed.
    // Every type is noted, since the client may change `types` later.
    let (_, mut seen) = diff(&states_of(&app, &live), None, &Seen::new());
    if !live.sub.verification_sent {
        let body = push_wire::verification(id, &live.sub.server_code);
        match deliver(&app, &tls, id, &body, &stop).await {
            Sent::Delivered => {
                tracing::info!(subscription = id, host = live.sub.host(), "push: verification sent");
                blocking(&app, move |s| s.push().verification_sent(id)).await;
            }
            Sent::Gone => return gone(&app, &live.sub).await,
            Sent::GaveUp => {
                // The client can never verify it: remove it (the client sees it gone and may
                // make a new one), rather than trying again at every start.
                tracing::warn!(
                    subscription = id,
                    host = live.sub.host(),
                    "push: the verification could not be delivered; subscription removed"
                );
                blocking(&app, move |s| s.push().remove(id)).await;
                return;
            }
            Sent::Stopped => return,
        }
    }
    let mut next_allowed = Instant::now();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = wake.notified() => {}
        }
        // Coalesce: the commits of the next moment ride along with this one.
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep_until(next_allowed.max(Instant::now() + Duration::from_millis(50))) => {}
        }
        let Some(live) = load(&app, id).await else { return };
        if !live.sub.verified() {
            continue;
        }
        let (changed, next) = diff(&states_of(&app, &live), live.sub.types.as_deref(), &seen);
        if changed.is_empty() {
            continue;
        }
        let result = deliver(&app, &tls, id, &push_wire::state_change(changed), &stop).await;
        next_allowed = Instant::now() + COALESCE;
        match result {
            Sent::Delivered => seen.extend(next),
            Sent::Gone => return gone(&app, &live.sub).await,
            Sent::GaveUp => {
                tracing::warn!(subscription = id, host = live.sub.host(), "push: gave up on a state change")
            }
            Sent::Stopped => return,
        }
    }
}

async fn gone(app: &App, sub: &Subscription) {
    let id = sub.id;
    tracing::info!(
        subscription = id,
        host = sub.host(),
        "push: the push service no longer knows the subscription; removed"
    );
    blocking(app, move |s| s.push().remove(id)).await;
}

/// POST `body` to the subscription, retrying after [`RETRY`]; the subscription is read again
/// before each attempt, so nothing goes to one that was destroyed or expired meanwhile.
async fn deliver(app: &App, tls: &Arc<ClientConfig>, id: i64, body: &Value, stop: &CancellationToken) -> Sent {
    let json = body.to_string();
    for attempt in 0.. {
        let Some(live) = load(app, id).await else { return Sent::Stopped };
        let sub = &live.sub;
        let attempt_result = tokio::select! {
            _ = stop.cancelled() => return Sent::Stopped,
            r = tokio::time::timeout(TIMEOUT, post(tls, sub, json.as_bytes())) => r,
        };
        let outcome = match attempt_result {
            Ok(Ok(status)) => {
                let o = classify(status);
                if o != Outcome::Delivered {
                    tracing::info!(subscription = id, host = sub.host(), status, "push: the push service answered");
                }
                o
            }
            Ok(Err(e)) => {
                tracing::info!(subscription = id, host = sub.host(), error = %e, "push: POST failed");
                Outcome::Retry
            }
            Err(_) => {
                tracing::info!(subscription = id, host = sub.host(), "push: POST timed out");
                Outcome::Retry
            }
        };
        match outcome {
            Outcome::Delivered => return Sent::Delivered,
            Outcome::Gone => return Sent::Gone,
            Outcome::Refused => return Sent::GaveUp,
            Outcome::Retry => {}
        }
        let Some(wait) = retry_after(attempt) else { return Sent::GaveUp };
        tokio::select! {
            _ = stop.cancelled() => return Sent::Stopped,
            _ = tokio::time::sleep(wait) => {}
        }
    }
    Sent::GaveUp
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct PostError(String);

fn post_err(what: &str) -> impl Fn(&dyn std::fmt::Display) -> PostError + '_ {
    move |e| PostError(format!("{what}: {e}"))
}

/// One POST over a fresh HTTPS connection; the answer's status.
async fn post(tls: &Arc<ClientConfig>, sub: &Subscription, json: &[u8]) -> Result<u16, PostError> {
    let uri: hyper::Uri = sub.url.parse().map_err(|e| post_err("url")(&e))?;
    if uri.scheme_str() != Some("https") {
        return Err(PostError("the URL is not https".into()));
    }
    let authority = uri.authority().ok_or_else(|| PostError("the URL has no host".into()))?.clone();
    let host = authority.host().trim_start_matches('[').trim_end_matches(']').to_string();
    let port = authority.port_u16().unwrap_or(443);
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await.map_err(|e| post_err("connect")(&e))?;
    let name = crate::tls::server_name(&host).map_err(|e| post_err("tls")(&e))?;
    let stream =
        tokio_rustls::TlsConnector::from(tls.clone()).connect(name, tcp).await.map_err(|e| post_err("tls")(&e))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| post_err("http")(&e))?;
    let (body, encoding) = match &sub.keys {
        Some(k) => (push_wire::encrypt(json, &k.p256dh, &k.auth).map_err(|e| post_err("encrypt")(&e))?, true),
        None => (json.to_vec(), false),
    };
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut req = hyper::Request::post(path)
        .header(hyper::header::HOST, authority.as_str())
        .header("TTL", TTL_SECS)
        .header(hyper::header::CONTENT_LENGTH, body.len());
    req = if encoding {
        req.header(hyper::header::CONTENT_ENCODING, "aes128gcm")
            .header(hyper::header::CONTENT_TYPE, "application/octet-stream")
    } else {
        req.header(hyper::header::CONTENT_TYPE, "application/json; charset=utf-8")
    };
    let req = req.body(Full::new(Bytes::from(body))).map_err(|e| post_err("request")(&e))?;
    // The connection is driven here until the answer's head is in; it may finish first
    // (the push service closes after answering), and the answer is still read then.
    let mut conn = std::pin::pin!(conn);
    let mut send = std::pin::pin!(sender.send_request(req));
    let mut conn_done = false;
    let resp = loop {
        tokio::select! {
            biased;
            r = &mut send => break r.map_err(|e| post_err("http")(&e))?,
            r = &mut conn, if !conn_done => {
                conn_done = true;
                r.map_err(|e| post_err("http")(&e))?;
            }
        }
    };
    Ok(resp.status().as_u16())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn states(epoch: &str, email: i64, mailbox: i64) -> TypeStates {
        vec![
            (ObjType::Email, format!("{epoch}-{email}")),
            (ObjType::Mailbox, format!("{epoch}-{mailbox}")),
            (ObjType::Identity, format!("h.{epoch}-0")),
        ]
    }

    #[test]
    fn the_types_filter_picks_what_a_subscription_asked_for() {
        let email = vec!["Email".to_string()];
        assert!(wanted(None, ObjType::Mailbox));
        assert!(wanted(Some(&email), ObjType::Email));
        assert!(!wanted(Some(&email), ObjType::Mailbox));
        assert!(!wanted(Some(&[]), ObjType::Email));
        let all = [("becker".to_string(), states("e", 5, 3))];
        let (changed, _) = diff(&all, Some(&email), &Seen::new());
        assert_eq!(Value::Object(changed), serde_json::json!({"becker": {"Email": "e-5"}}));
    }

    #[test]
    fn only_states_that_moved_are_pushed() {
        let first = [("becker".to_string(), states("e", 5, 3)), ("info".to_string(), states("f", 1, 1))];
        let (changed, seen) = diff(&first, None, &Seen::new());
        assert_eq!(changed.len(), 2);
        assert_eq!(changed["becker"]["Identity"], "h.e-0", "Identity is pushed with its /get state");
        let (none, _) = diff(&first, None, &seen);
        assert!(none.is_empty(), "nothing moved: nothing to push");
        let later = [("becker".to_string(), states("e", 6, 3)), ("info".to_string(), states("f", 1, 1))];
        let (changed, _) = diff(&later, None, &seen);
        assert_eq!(Value::Object(changed), serde_json::json!({"becker": {"Email": "e-6"}}));
    }

    #[test]
    fn answers_and_retries() {
        assert_eq!(classify(201), Outcome::Delivered);
        assert_eq!(classify(204), Outcome::Delivered);
        assert_eq!(classify(404), Outcome::Gone);
        assert_eq!(classify(410), Outcome::Gone);
        assert_eq!(classify(500), Outcome::Retry);
        assert_eq!(classify(503), Outcome::Retry);
        assert_eq!(classify(429), Outcome::Retry);
        assert_eq!(classify(400), Outcome::Refused);
        assert_eq!(classify(413), Outcome::Refused);
        let waits: Vec<u64> = (0..).map_while(retry_after).map(|d| d.as_secs()).collect();
        assert_eq!(waits, [1, 5, 30, 120]);
    }
}
