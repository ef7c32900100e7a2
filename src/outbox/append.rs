//! Appending many messages to one folder on one IMAP connection, for the Sent copies.
//!
//! One APPEND per message waits a round trip for each. Here a batch goes out in one write:
//! as one MULTIAPPEND command (RFC 3502) where the server offers it, which the server applies
//! all or nothing, or else as pipelined APPEND commands, each confirmed by its own tagged
//! answer. Literals are non-synchronizing (`{n+}`, RFC 7888) when the server offers LITERAL+;
//! otherwise each literal waits for the server's `+`. The caller learns exactly which messages
//! the server confirmed with a tagged OK, and nothing else counts: this module never says a
//! message was appended on a hunch. It writes commands and reads answers; it knows nothing
//! about the store and never logs a message or a command.

use std::collections::HashMap;
use std::time::Duration;

use async_imap::imap_proto::{Response, Status};
use tokio::io::AsyncWriteExt;

use crate::imap_sync::conn::ImapSession;
use crate::imap_sync::wire::{mutf7, quote};

/// How long one read may wait for the server (a large batch is a lot to store).
const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// How a batch is handed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One MULTIAPPEND command: every message, or none.
    MultiAppend,
    /// One APPEND command per message, all sent before the answers are read.
    Pipelined,
}

#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("APPEND to {folder}: {message}")]
    Io { folder: String, message: String },
    #[error("APPEND to {folder}: the server refused: {message}")]
    Refused { folder: String, message: String },
}

/// What a batch came to: the indexes (into the caller's list) the server confirmed, and the
/// first thing that went wrong, if anything did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub confirmed: Vec<usize>,
    pub error: Option<AppendError>,
}

/// What one read from the server was, as far as appending cares.
enum Answer {
    Continue,
    Done { tag: String, ok: bool, text: String },
    Other,
}

struct Wire<'a> {
    s: &'a mut ImapSession,
    folder: &'a str,
}

impl Wire<'_> {
    fn io(&self, e: impl std::fmt::Display) -> AppendError {
        AppendError::Io { folder: self.folder.to_string(), message: e.to_string() }
    }

    async fn read(&mut self) -> Result<Answer, AppendError> {
        let r = match tokio::time::timeout(READ_TIMEOUT, self.s.read_response()).await {
            Err(_) => return Err(self.io(format!("no answer within {}s", READ_TIMEOUT.as_secs()))),
            Ok(Err(e)) => return Err(self.io(e)),
            Ok(Ok(None)) => return Err(self.io("the server closed the connection")),
            Ok(Ok(Some(r))) => r,
        };
        Ok(match r.parsed() {
            Response::Continue { .. } => Answer::Continue,
            Response::Done { tag, status, outcome, .. } => Answer::Done {
                tag: tag.0.clone(),
                ok: matches!(status, Status::Ok),
                text: outcome.information.as_deref().unwrap_or("(no reason given)").to_string(),
            },
            _ => Answer::Other,
        })
    }

    /// Send a command line; returns its tag.
    async fn command(&mut self, line: &str) -> Result<String, AppendError> {
        let r = self.s.run_command(line).await;
        r.map(|t| t.0).map_err(|e| self.io(e))
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), AppendError> {
        let r = self.s.get_mut().write_all(bytes).await;
        r.map_err(|e| self.io(e))
    }

    async fn flush(&mut self) -> Result<(), AppendError> {
        let r = self.s.get_mut().flush().await;
        r.map_err(|e| self.io(e))
    }

    /// Wait for the `+` that lets a synchronizing literal go. A tagged answer to `tag` instead
    /// is a refusal; answers to earlier commands are kept in `done`.
    async fn wait_continue(
        &mut self,
        tag: &str,
        done: &mut HashMap<String, (bool, String)>,
    ) -> Result<Option<String>, AppendError> {
        loop {
            match self.read().await? {
                Answer::Continue => return Ok(None),
                Answer::Done { tag: t, text, .. } if t == tag => return Ok(Some(text)),
                Answer::Done { tag: t, ok, text } => {
                    done.insert(t, (ok, text));
                }
                Answer::Other => {}
            }
        }
    }
}

fn literal(len: usize, plus: bool) -> String {
    if plus { format!("{{{len}+}}") } else { format!("{{{len}}}") }
}

/// Append `raws` to `folder` with `flags` (e.g. `\Seen`). Empty `raws` does nothing.
pub async fn append_all(
    s: &mut ImapSession,
    folder: &str,
    flags: &str,
    raws: &[&[u8]],
    mode: Mode,
    literal_plus: bool,
) -> Outcome {
    if raws.is_empty() {
        return Outcome::default();
    }
    let mut w = Wire { s, folder };
    let mailbox = quote(&mutf7::encode(&mutf7::decode(folder)));
    match mode {
        Mode::MultiAppend => match multi(&mut w, &mailbox, flags, raws, literal_plus).await {
            Ok(()) => Outcome { confirmed: (0..raws.len()).collect(), error: None },
            Err(e) => Outcome { confirmed: Vec::new(), error: Some(e) },
        },
        Mode::Pipelined => pipelined(&mut w, &mailbox, flags, raws, literal_plus).await,
    }
}

async fn multi(w: &mut Wire<'_>, mailbox: &str, flags: &str, raws: &[&[u8]], plus: bool) -> Result<(), AppendError> {
    let tag = w.command(&format!("APPEND {mailbox} ({flags}) {}", literal(raws[0].len(), plus))).await?;
    let mut done = HashMap::new();
    for (i, raw) in raws.iter().enumerate() {
        if !plus && let Some(text) = w.wait_continue(&tag, &mut done).await? {
            return Err(AppendError::Refused { folder: w.folder.to_string(), message: text });
        }
        w.write(raw).await?;
        match raws.get(i + 1) {
            Some(next) => w.write(format!(" ({flags}) {}\r\n", literal(next.len(), plus)).as_bytes()).await?,
            None => w.write(b"\r\n").await?,
        }
        if !plus {
            w.flush().await?;
        }
    }
    w.flush().await?;
    loop {
        if let Answer::Done { tag: t, ok, text } = w.read().await?
            && t == tag
        {
            return if ok { Ok(()) } else { Err(AppendError::Refused { folder: w.folder.to_string(), message: text }) };
        }
    }
}

async fn pipelined(w: &mut Wire<'_>, mailbox: &str, flags: &str, raws: &[&[u8]], plus: bool) -> Outcome {
    let mut tags: Vec<(String, usize)> = Vec::new();
    let mut done: HashMap<String, (bool, String)> = HashMap::new();
    let mut error = None;
    let sent: Result<(), AppendError> = async {
        for (i, raw) in raws.iter().enumerate() {
            let tag = w.command(&format!("APPEND {mailbox} ({flags}) {}", literal(raw.len(), plus))).await?;
            if !plus && let Some(text) = w.wait_continue(&tag, &mut done).await? {
                done.insert(tag, (false, text));
                continue;
            }
            w.write(raw).await?;
            w.write(b"\r\n").await?;
            if !plus {
                w.flush().await?;
            }
            tags.push((tag, i));
        }
        w.flush().await?;
        while tags.iter().any(|(t, _)| !done.contains_key(t)) {
            if let Answer::Done { tag, ok, text } = w.read().await? {
                done.insert(tag, (ok, text));
            }
        }
        Ok(())
    }
    .await;
    if let Err(e) = sent {
        error = Some(e);
    }
    let mut confirmed = Vec::new();
    for (tag, i) in &tags {
        match done.get(tag) {
            Some((true, _)) => confirmed.push(*i),
            Some((false, text)) if error.is_none() => {
                error = Some(AppendError::Refused { folder: w.folder.to_string(), message: text.clone() })
            }
            _ => {}
        }
    }
    if error.is_none()
        && let Some((_, text)) = done.values().find(|(ok, _)| !ok)
    {
        error = Some(AppendError::Refused { folder: w.folder.to_string(), message: text.clone() });
    }
    Outcome { confirmed, error }
}
