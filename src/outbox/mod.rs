//! The outbound queue (placeholder).
//!
//! PLACEHOLDER: being written in this session; nothing here is done yet.

use tokio_util::sync::CancellationToken;

use crate::app::App;

pub async fn run(_app: App, token: CancellationToken) -> anyhow::Result<()> {
    token.cancelled().await;
    Ok(())
}

pub async fn status(_app: &App, _mailbox: &str) -> anyhow::Result<crate::status::Part> {
    Ok(Default::default())
}

pub async fn status_global(_app: &App) -> anyhow::Result<crate::status::Part> {
    Ok(Default::default())
}
