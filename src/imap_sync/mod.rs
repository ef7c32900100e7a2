//! The IMAP mirror (being written in this session; `conn` is done).

pub mod conn;

use tokio_util::sync::CancellationToken;

use crate::app::App;

pub async fn run(_app: App, _mailbox: String, token: CancellationToken) -> anyhow::Result<()> {
    token.cancelled().await;
    Ok(())
}

pub async fn sync_once(_app: &App, _mailbox: &str, _progress: bool) -> anyhow::Result<String> {
    anyhow::bail!("not built yet")
}
