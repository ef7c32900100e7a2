//! Waiting in IDLE (RFC 2177) for the server to say something about the selected folder.
//!
//! IDLE takes the session for as long as it lasts: [`start`] consumes it and [`Idle::done`]
//! gives it back. [`Idle::wait`] may be dropped at any point (the caller races it against its
//! own wake-ups); `done` then ends IDLE and reads the server's tagged answer, with a timeout.

use std::time::Duration;

use async_imap::extensions::idle::{Handle, IdleResponse};

use super::Error;
use super::wire::{READ_TIMEOUT, SessionOf, Stream};

/// A session in IDLE.
pub struct Idle<S: Stream> {
    handle: Handle<S>,
}

/// Why [`Idle::wait`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woke {
    /// The server sent something (new mail, an expunge, a flag change).
    Server,
    /// The renewal interval passed without a word.
    Timeout,
}

/// Enter IDLE on the selected folder.
pub async fn start<S: Stream>(s: SessionOf<S>) -> Result<Idle<S>, Error> {
    let mut handle = s.idle();
    handle.init().await.map_err(|e| Error::io("IDLE", e))?;
    Ok(Idle { handle })
}

impl<S: Stream> Idle<S> {
    /// Wait until the server says something or `renew` passed.
    pub async fn wait(&mut self, renew: Duration) -> Result<Woke, Error> {
        let (idle, _stop) = self.handle.wait_with_timeout(renew);
        match idle.await {
            Ok(IdleResponse::NewData(_)) => Ok(Woke::Server),
            Ok(IdleResponse::Timeout) | Ok(IdleResponse::ManualInterrupt) => Ok(Woke::Timeout),
            Err(e) => Err(Error::io("IDLE", e)),
        }
    }

    /// Leave IDLE (DONE) and get the session back, with nothing unsolicited left queued.
    pub async fn done(self) -> Result<SessionOf<S>, Error> {
        let s = match tokio::time::timeout(READ_TIMEOUT, self.handle.done()).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(Error::io("IDLE DONE", e)),
            Err(_) => return Err(Error::io("IDLE DONE", "no answer")),
        };
        while s.unsolicited_responses.try_recv().is_ok() {}
        Ok(s)
    }
}
