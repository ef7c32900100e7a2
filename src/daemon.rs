//! The daemon: wires the long-running tasks together.
//!
//! `run` takes the shutdown future as an argument (tests pass their own), starts one IMAP task
//! per mailbox and one task each for the outbox, the auto-responder, the control endpoint, the
//! JMAP server and its push delivery, the SMTP submission server for phones, the web console,
//! the daily deliverability check and the DMARC report collector, one that broadcasts what the
//! command line commits meanwhile, one that ends a revoked device's connections, and one that
//! re-reads TLS certificates on SIGHUP, then waits. On shutdown it cancels the
//! token every task selects on and joins them all: each task stops at a safe point (after a commit,
//! never between "sent" and "recorded as sent"). A task that fails is restarted with backoff;
//! one failing mailbox never stops the others. Only one daemon runs per data directory
//! ([`DaemonLock`]).

use std::future::Future;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
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
    let _lock = DaemonLock::acquire(&app.config.agent.data_dir)?;
    let token = CancellationToken::new();
    let tracker = TaskTracker::new();

    for m in &app.config.mailboxes {
        let id = m.id.clone();
        supervise(&tracker, &token, format!("imap {id}"), {
            let app = app.clone();
            move |t| {
                let (app, id) = (app.clone(), id.clone());
                async move { crate::mirror::run(app, id, t).await }
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
        supervise(&tracker, &token, "push".into(), {
            let app = app.clone();
            move |t| crate::jmap::push_delivery::run(app.clone(), t)
        });
    }
    if app.config.imap_server.enabled {
        supervise(&tracker, &token, "imap server".into(), {
            let app = app.clone();
            move |t| crate::imapd::serve(app.clone(), t)
        });
    }
    if app.config.submission.enabled {
        supervise(&tracker, &token, "submission".into(), {
            let app = app.clone();
            move |t| crate::submission::serve(app.clone(), t)
        });
    }
    if app.config.console.enabled {
        supervise(&tracker, &token, "console".into(), {
            let app = app.clone();
            move |t| crate::console::serve(app.clone(), t)
        });
    }
    supervise(&tracker, &token, "deliverability".into(), {
        let app = app.clone();
        move |t| crate::deliverability::run_daily(app.clone(), t)
    });
    supervise(&tracker, &token, "dmarc reports".into(), {
        let app = app.clone();
        move |t| crate::deliverability::reports::run(app.clone(), t)
    });
    supervise(&tracker, &token, "other writers".into(), {
        let app = app.clone();
        move |t| notice_other_writers(app.clone(), t)
    });
    // Devices' connections: none is open yet (a crash cannot close its rows), revocations
    // end them, and SIGHUP re-reads every listener's certificate.
    app.store.devices().connections_clear()?;
    supervise(&tracker, &token, "revocations".into(), {
        let app = app.clone();
        move |t| app.live.clone().watch_revocations(t)
    });
    supervise(&tracker, &token, "certificates".into(), reload_certificates_on_sighup);
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

/// Re-read every listener's TLS certificate and key on SIGHUP (certbot's renewal hook sends
/// it); a file that cannot be read keeps the old certificate and is logged.
async fn reload_certificates_on_sighup(token: CancellationToken) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hup = signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = token.cancelled() => return Ok(()),
            _ = hup.recv() => {}
        }
        let (ok, errors) = crate::devices::tls::reload_all();
        tracing::info!(reloaded = ok, failed = errors.len(), "SIGHUP: TLS certificates re-read");
        for e in errors {
            tracing::warn!(error = %e, "SIGHUP: a certificate was not re-read; the old one stays");
        }
    }
}

/// How often the store is asked whether another process (the command line) committed.
const OTHER_WRITERS_EVERY: Duration = Duration::from_secs(1);

/// Broadcast, within a second, what the command line wrote while the daemon runs (a queue
/// cancel, a vacation change), so phones get their push and the auto-responder its wake-up
/// ([`crate::store::Store::notice_other_writers`]).
async fn notice_other_writers(app: App, token: CancellationToken) -> anyhow::Result<()> {
    let mut seen = crate::store::OtherWriters::default();
    loop {
        let store = app.store.clone();
        let (s, r) = tokio::task::spawn_blocking(move || {
            let r = store.notice_other_writers(&mut seen);
            (seen, r)
        })
        .await?;
        seen = s;
        r?;
        tokio::select! {
            _ = token.cancelled() => return Ok(()),
            _ = tokio::time::sleep(OTHER_WRITERS_EVERY) => {}
        }
    }
}

/// The daemon's claim on its data directory, held for as long as it lives: an exclusive lock
/// on `daemon.lock` there, which the kernel drops when the process ends in any way (SIGKILL
/// included), so a crash never leaves a stale lock behind. One daemon per store: a second one
/// would take the first one's messages in flight for the remains of a crash (`sending` becomes
/// `unknown` at start-up) and could send them twice.
pub struct DaemonLock {
    _file: std::fs::File,
}

impl DaemonLock {
    pub fn acquire(data_dir: &Path) -> anyhow::Result<Self> {
        use anyhow::Context as _;
        crate::files::create_dir(data_dir)
            .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
        let path = data_dir.join("daemon.lock");
        let mut file = crate::files::private_options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open the lock file {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                let pid = pid.trim();
                let pid = if pid.is_empty() { "unknown".into() } else { format!("pid {pid}") };
                anyhow::bail!(
                    "another postbote daemon ({pid}) already runs on the data directory {}; stop it first",
                    data_dir.display()
                );
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
        // Only the holder writes: the pid tells a second daemon whom it met.
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        writeln!(file, "{}", std::process::id())?;
        Ok(Self { _file: file })
    }
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

#[cfg(test)]
mod tests {
    use super::DaemonLock;

    #[test]
    fn a_second_claim_on_the_data_directory_is_refused_until_the_first_ends() {
        let dir = tempfile::tempdir().unwrap();
        let first = DaemonLock::acquire(dir.path()).unwrap();
        let err = DaemonLock::acquire(dir.path()).err().expect("a second daemon must be refused");
        let msg = format!("{err:#}");
        assert!(msg.contains("another postbote daemon") && msg.contains(&std::process::id().to_string()), "{msg}");
        drop(first);
        DaemonLock::acquire(dir.path()).expect("free again once the first has ended");
    }
}
