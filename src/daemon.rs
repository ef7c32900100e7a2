//! The daemon: wires the long-running tasks together.
//!
//! `run` takes the shutdown future as an argument (tests pass their own), starts one IMAP task
//! per mailbox and one task each for the outbox, the auto-responder, the control endpoint, the
//! JMAP server and the daily deliverability check, then waits. On shutdown it cancels the token
//! every task selects on and joins them all: each task stops at a safe point (after a commit,
//! never between "sent" and "recorded as sent"). A task that fails is restarted with backoff;
//! one failing mailbox never stops the others.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::app::App;

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
}

pub async fn run(app: App, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let token = CancellationToken::new();
    let tracker = TaskTracker::new();

    for m in &app.config.mailboxes {
        let id = m.id.clone();
        supervise(&tracker, &token, format!("imap {id}"), {
            let app = app.clone();
            move |t| {
                let (app, id) = (app.clone(), id.clone());
                async move { crate::imap_sync::run(app, id, t).await }
            }
        });
    }
    supervise(&tracker, &token, "outbox".into(), {
        let app = app.clone();
        move |t| crate::outbox::run(app.clone(), t)
    });
    supervise(&tracker, &token, "autoreply".into(), {
        let app = app.clone();
        move |t| crate::autoreply::run(app.clone(), t)
    });
    supervise(&tracker, &token, "control".into(), {
        let app = app.clone();
        move |t| crate::control::serve(app.clone(), t)
    });
    if app.config.jmap.enabled {
        supervise(&tracker, &token, "jmap".into(), {
            let app = app.clone();
            move |t| crate::jmap::serve(app.clone(), t)
        });
    }
    supervise(&tracker, &token, "deliverability".into(), {
        let app = app.clone();
        move |t| crate::deliverability::run_daily(app.clone(), t)
    });
    tracker.close();
    tracing::info!(mailboxes = app.config.mailboxes.len(), "postbote running");

    tokio::select! {
        _ = shutdown => tracing::info!("shutting down: finishing work in flight"),
        _ = tracker.wait() => tracing::warn!("every task ended"),
    }
    token.cancel();
    tracker.wait().await;
    tracing::info!("stopped");
    Ok(())
}

/// Run `make(token)` until it returns Ok or the token is cancelled; restart it after an error
/// with a growing delay (1 s doubling to 5 min), so a broken part neither spins nor stops the rest.
fn supervise<F, Fut>(tracker: &TaskTracker, token: &CancellationToken, name: String, make: F)
where
    F: Fn(CancellationToken) -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let token = token.clone();
    tracker.spawn(async move {
        let mut delay = Duration::from_secs(1);
        loop {
            let started = tokio::time::Instant::now();
            match make(token.clone()).await {
                Ok(()) => return,
                Err(e) => {
                    if token.is_cancelled() {
                        return;
                    }
                    if started.elapsed() > Duration::from_secs(300) {
                        delay = Duration::from_secs(1);
                    }
                    tracing::error!(task = %name, error = %format!("{e:#}"), retry_in_s = delay.as_secs(), "task failed");
                    tokio::select! {
                        _ = token.cancelled() => return,
                        _ = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(Duration::from_secs(300));
                }
            }
        }
    });
}
