//! EventSource push (RFC 8620 section 7.3).
//!
//! A connection subscribes to the store's post-commit broadcast (`Store::subscribe`) and sends
//! a `state` event whenever a type the client asked for changed in an account the device may
//! see: a commit from the IMAP mirror reaches the phone within the coalescing window
//! (`COALESCE`), far under a second. Only types whose state actually moved are listed, each
//! with the state its `/get` gives (`type_state`; Identity with its config hash).
//! `closeafter=state` ends the response after the first state event; `ping=N` sends a ping
//! every N seconds (clamped to 10..=300). Each stream holds an open JMAP connection of its
//! device (`App::live`, counted against `phones.max_connections_per_device` and shown by
//! `status`); it ends when the server shuts down or when the device is revoked
//! (`Connection::ended`, also when another process revoked it).

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::sse::{Event, Sse};
use serde_json::{Map, Value, json};
use tokio::sync::broadcast;
use tokio::time::Instant;

use super::auth::Authed;
use super::server::{Server, problem};
use super::type_state;
use crate::app::App;
use crate::devices::{Connection, Protocol};
use crate::store::{ObjType, StateChange};

/// Changes committed within this window after the first go out as one event.
const COALESCE: Duration = Duration::from_millis(100);

#[derive(serde::Deserialize)]
pub struct EsQuery {
    types: Option<String>,
    closeafter: Option<String>,
    ping: Option<u64>,
}

struct Es {
    rx: broadcast::Receiver<StateChange>,
    app: App,
    authed: Authed,
    types: Option<HashSet<String>>,
    close_after: bool,
    ping: Option<Duration>,
    next_ping: Instant,
    /// (account id, type name) -> last state sent (or seen at connect).
    last: HashMap<(String, &'static str), String>,
    done: bool,
    shutdown: tokio_util::sync::CancellationToken,
    /// The device's open connection: held while the stream lasts, ends it on revocation.
    conn: Connection,
}

impl Es {
    fn wanted(&self, ty: ObjType) -> bool {
        self.types.as_ref().is_none_or(|t| t.contains(ty.name()))
    }

    /// States of the wanted types that differ from what was last sent, per account.
    fn changed(&mut self, accounts: &HashSet<String>) -> Map<String, Value> {
        let mut out = Map::new();
        for a in self.authed.accounts.clone() {
            if !accounts.contains(&a.mailbox) {
                continue;
            }
            let Ok(Some(states)) = self.app.store.changes().states(&a.mailbox) else { continue };
            let mut m = Map::new();
            for ty in ObjType::ALL {
                if !self.wanted(ty) {
                    continue;
                }
                let s = type_state::of(&self.app.config, &a.mailbox, &states, ty);
                let key = (a.account_id.clone(), ty.name());
                if self.last.get(&key) != Some(&s) {
                    self.last.insert(key, s.clone());
                    m.insert(ty.name().into(), Value::String(s));
                }
            }
            if !m.is_empty() {
                out.insert(a.account_id.clone(), Value::Object(m));
            }
        }
        out
    }

    async fn next_event(&mut self) -> Option<Event> {
        loop {
            if self.done {
                return None;
            }
            let ping_at = self.ping.map(|_| self.next_ping);
            let mut accounts: HashSet<String> = HashSet::new();
            tokio::select! {
                _ = self.shutdown.cancelled() => return None,
                _ = self.conn.ended() => return None,
                _ = async { match ping_at { Some(t) => tokio::time::sleep_until(t).await, None => std::future::pending().await } } => {
                    let interval = self.ping.unwrap_or_default();
                    self.next_ping = Instant::now() + interval;
                    return Some(Event::default().event("ping").data(json!({"interval": interval.as_secs()}).to_string()));
                }
                r = self.rx.recv() => match r {
                    Ok(c) => { accounts.insert(c.account); }
                    Err(broadcast::error::RecvError::Lagged(_)) => accounts.extend(self.authed.accounts.iter().map(|a| a.mailbox.clone())),
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
            }
            // Coalesce a burst (an IMAP batch, a multi-call request) into one event.
            let until = Instant::now() + COALESCE;
            loop {
                match tokio::time::timeout_at(until, self.rx.recv()).await {
                    Ok(Ok(c)) => {
                        accounts.insert(c.account);
                    }
                    Ok(Err(broadcast::error::RecvError::Lagged(_))) => {
                        accounts.extend(self.authed.accounts.iter().map(|a| a.mailbox.clone()))
                    }
                    Ok(Err(broadcast::error::RecvError::Closed)) | Err(_) => break,
                }
            }
            let changed = self.changed(&accounts);
            if changed.is_empty() {
                continue;
            }
            if self.close_after {
                self.done = true;
            }
            let data = json!({"@type": "StateChange", "changed": changed});
            return Some(Event::default().event("state").data(data.to_string()));
        }
    }
}

pub async fn event_source(State(server): State<Server>, authed: Authed, Query(q): Query<EsQuery>) -> impl IntoResponse {
    let types = match q.types.as_deref() {
        None | Some("*") | Some("") => None,
        Some(t) => Some(t.split(',').map(|s| s.trim().to_string()).collect::<HashSet<_>>()),
    };
    let ping = q.ping.filter(|p| *p > 0).map(|p| Duration::from_secs(p.clamp(10, 300)));
    let conn = match server.app.live.open(authed.device, Protocol::Jmap).await {
        Ok(c) => c,
        Err(e) => {
            return problem(StatusCode::TOO_MANY_REQUESTS, "about:blank", &format!("{e}; close one first"), None);
        }
    };
    let rx = server.app.store.subscribe();
    let mut es = Es {
        rx,
        app: server.app.clone(),
        authed,
        types,
        close_after: q.closeafter.as_deref() == Some("state"),
        ping,
        next_ping: Instant::now() + ping.unwrap_or_default(),
        last: HashMap::new(),
        done: false,
        shutdown: server.shutdown.clone(),
        conn,
    };
    // What the client is assumed to have now: events report only what moves from here.
    // (One small read of the type states; it never waits on IMAP.)
    let all: HashSet<String> = es.authed.accounts.iter().map(|a| a.mailbox.clone()).collect();
    es.changed(&all);
    let stream = futures_util::stream::unfold(es, |mut es| async move {
        es.next_event().await.map(|e| (Ok::<_, Infallible>(e), es))
    });
    Sse::new(stream).into_response()
}
