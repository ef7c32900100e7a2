//! Deliverability checks (placeholder).
//!
//! PLACEHOLDER: being written in this session; nothing here is done yet.

use tokio_util::sync::CancellationToken;

use crate::app::App;

pub async fn run_daily(_app: App, token: CancellationToken) -> anyhow::Result<()> {
    token.cancelled().await;
    Ok(())
}

pub async fn status(_app: &App, _mailbox: &str) -> anyhow::Result<crate::status::Part> {
    Ok(Default::default())
}
