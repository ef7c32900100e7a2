//! The local control endpoint (placeholder).
//!
//! PLACEHOLDER: being written in this session; nothing here is done yet.

use tokio_util::sync::CancellationToken;

use crate::app::App;

pub async fn serve(_app: App, token: CancellationToken) -> anyhow::Result<()> {
    token.cancelled().await;
    Ok(())
}
