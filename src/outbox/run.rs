//! The daemon's queue loop.
//!
//! At start-up it turns messages left in `sending` into `unknown` (or back to `queued` when
//! the stop fell between two envelopes, see `store::outbox`) and settles those it can prove
//! were sent; then, on every wake-up and at least every few seconds, one pass: count open-gate
//! time (and closed-gate working time, for the "still waiting" notice of `waiting_notice`),
//! expire and discard, drain each mailbox with due messages whose gate is open (`send`), save
//! Sent copies (`sentcopy`), and now and then delete old transcripts. A pass that fails is
//! logged and the loop goes on; it ends only when cancelled, between passes.

use std::collections::HashMap;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{gate, notices, send, sentcopy, waiting_notice};
use crate::app::App;
use crate::config::Transport;
use crate::store::now;

/// How often the loop looks at the queue without being woken (another process may have queued,
/// a lease may have run out, a deferred message may be due).
const POLL: Duration = Duration::from_secs(2);
/// How often old transcripts are deleted.
const CLEANUP_EVERY: Duration = Duration::from_secs(3600);

/// Per-run state of the loop that is not worth a table.
struct LoopState {
    clocks: HashMap<&'static str, gate::OpenClock>,
    copy_backoff: HashMap<String, (tokio::time::Instant, Duration)>,
    last_cleanup: Option<tokio::time::Instant>,
    waited: waiting_notice::WaitClock,
}

pub async fn run(app: App, token: CancellationToken) -> anyhow::Result<()> {
    match sentcopy::reconcile_unknown(&app).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(settled = n, "messages left unknown by a crash were found in the Sent folder"),
        Err(e) => tracing::warn!(error = %e, "could not settle unknown messages"),
    }
    let mut st = LoopState {
        clocks: HashMap::new(),
        copy_backoff: HashMap::new(),
        last_cleanup: None,
        waited: Default::default(),
    };
    loop {
        if token.is_cancelled() {
            return Ok(());
        }
        if let Err(e) = pass(&app, &mut st, &token).await {
            tracing::error!(error = %e, "outbox pass failed");
        }
        let wait = match app.store.outbox().next_due() {
            Ok(Some(due)) => Duration::from_secs((due - now()).clamp(0, POLL.as_secs() as i64) as u64),
            _ => POLL,
        };
        let wait = wait.max(Duration::from_millis(200));
        tokio::select! {
            _ = token.cancelled() => return Ok(()),
            _ = app.outbox_wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// One look at the queue.
async fn pass(app: &App, st: &mut LoopState, token: &CancellationToken) -> Result<(), crate::store::StoreError> {
    let at = now();
    let instant = tokio::time::Instant::now();
    for t in [Transport::Direct, Transport::Relay] {
        let accounts: Vec<String> =
            app.config.mailboxes.iter().filter(|m| m.transport == t).map(|m| m.id.clone()).collect();
        if accounts.is_empty() {
            continue;
        }
        let open = gate::is_open(app, t)?;
        let secs = st.clocks.entry(t.as_str()).or_default().tick(instant, open);
        app.store.outbox().add_open_time(&accounts, secs as i64, at)?;
    }
    // Closed-gate time in working hours, and "still waiting" notices to whoever is due one.
    if let Err(e) = waiting_notice::tick(app, &mut st.waited, at) {
        tracing::warn!(error = %e, "could not count or tell the time mail waits for an office session");
    }
    for (id, account) in app.store.outbox().expire(app.config.outbox.lifetime.as_secs() as i64, at)? {
        if let Some(mb) = app.config.mailbox(&account)
            && let Err(e) = notices::expired(app, mb, id)
        {
            tracing::warn!(id, error = %e, "could not store the expiry notice");
        }
    }

    let due = app.store.outbox().due_accounts(at)?;
    let mut drains = Vec::new();
    for account in &due {
        let Some(mb) = app.config.mailbox(account) else {
            app.store.outbox().mark_waiting(account, Some("its mailbox is no longer in the config"), at)?;
            continue;
        };
        if !gate::is_open(app, mb.transport)? {
            app.store.outbox().mark_waiting(account, Some(send::GATE_CLOSED), at)?;
            continue;
        }
        drains.push(async move {
            match send::drain(app, mb, token).await {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(mailbox = %mb.id, error = %e, "sending stopped");
                    0
                }
            }
        });
    }
    futures_util::future::join_all(drains).await;

    for mb in &app.config.mailboxes {
        if let Some((next, _)) = st.copy_backoff.get(&mb.id)
            && tokio::time::Instant::now() < *next
        {
            continue;
        }
        match sentcopy::copy_sent(app, mb).await {
            Ok(_) => {
                st.copy_backoff.remove(&mb.id);
            }
            Err(e) => {
                let d = st
                    .copy_backoff
                    .get(&mb.id)
                    .map(|(_, d)| (*d * 2).min(Duration::from_secs(3600)))
                    .unwrap_or(Duration::from_secs(60));
                tracing::warn!(mailbox = %mb.id, error = %e, retry_in_s = d.as_secs(), "could not save sent mail to the Sent folder");
                st.copy_backoff.insert(mb.id.clone(), (tokio::time::Instant::now() + d, d));
            }
        }
    }

    if st.last_cleanup.is_none_or(|t| t.elapsed() > CLEANUP_EVERY) {
        st.last_cleanup = Some(tokio::time::Instant::now());
        let n = crate::smtp::transcript::cleanup(
            &app.config.agent.data_dir.join("transcripts"),
            app.config.outbox.transcript_retention,
        );
        if n > 0 {
            tracing::info!(removed = n, "old SMTP transcripts deleted");
        }
    }
    Ok(())
}
