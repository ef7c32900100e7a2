//! The outbound queue (being written in this session; the enqueue API below is the
//! contract other modules code against).

use tokio_util::sync::CancellationToken;

use crate::app::App;

/// Who asked for a message to be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The office program or a person (`postbote send`).
    Office,
    /// A phone (JMAP EmailSubmission).
    Phone,
    /// The auto-responder.
    AutoReply,
}

/// A message to queue.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The mailbox id it is sent for.
    pub mailbox: String,
    /// The whole RFC 5322 message. Its From must be one of the mailbox's company addresses.
    /// A missing Message-ID (on the company domain) or Date is added.
    pub raw: Vec<u8>,
    /// Envelope recipients; `None` takes To, Cc and Bcc of the message (Bcc is removed from
    /// the header before sending).
    pub recipients: Option<Vec<String>>,
    pub origin: Origin,
    /// Unix seconds: if it has not been sent by then it is cancelled, not sent late
    /// (auto-replies after the leave ended).
    pub discard_after: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct Queued {
    pub id: i64,
    /// Without angle brackets.
    pub message_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum EnqueueError {
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Queue a message durably and wake the sender. Returns once it is committed.
pub fn enqueue(_app: &App, _msg: Outgoing) -> Result<Queued, EnqueueError> {
    Err(EnqueueError::Refused("the outbound queue is not built yet".into()))
}

/// The queue state of a message: "queued", "sending", "deferred", "sent", "failed",
/// "cancelled", "expired" or "unknown".
pub fn state(_app: &App, _id: i64) -> Result<Option<String>, crate::store::StoreError> {
    Ok(None)
}

/// Cancel a message that has not been sent. Returns false if it was already final.
pub fn cancel(_app: &App, _id: i64, _reason: &str) -> Result<bool, crate::store::StoreError> {
    Ok(false)
}

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
