//! APPEND: one message (the write-back), or many to one folder on one connection (the Sent
//! copies).
//!
//! One APPEND per message waits a round trip for each. A batch goes out in one write: as one
//! MULTIAPPEND command (RFC 3502) where the server offers it, which the server applies all or
//! nothing, or else as pipelined APPEND commands, each confirmed by its own tagged answer. A
//! refused MULTIAPPEND goes again as pipelined APPENDs ([`append_batch`]), so one message the
//! server dislikes costs only its own copy and the caller learns which one it was. Literals
//! are non-synchronizing (`{n+}`, RFC 7888) when the server offers LITERAL+; otherwise each
//! literal waits for the server's `+`. The caller learns exactly which messages the server
//! confirmed with a tagged OK, and nothing else counts: this module never says a message was
//! appended on a hunch. Folder names are taken as people write them and sent in modified
//! UTF-7. It knows nothing about the store and never logs a message or a command.

use std::collections::HashMap;

use async_imap::imap_proto::Response;
use tokio::io::AsyncWriteExt;

use super::Error;
use super::error::Refusal;
use super::folder::wire_name;
use super::profile::ServerProfile;
use super::wire::{self, Done, SessionOf, Stream};

/// How a batch is handed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One MULTIAPPEND command: every message, or none.
    MultiAppend,
    /// One APPEND command per message, all sent before the answers are read.
    Pipelined,
}

/// What a batch came to: the indexes (into the caller's list) the server confirmed, those it
/// refused one by one with its answer, and the first thing that went wrong, if anything did
/// (a refusal, or a broken connection that leaves the rest unknown).
#[derive(Debug, Default)]
pub struct Outcome {
    pub confirmed: Vec<usize>,
    pub refused: Vec<(usize, Refusal)>,
    pub error: Option<Error>,
    /// The server refused the batch as one MULTIAPPEND and it went again as single APPENDs.
    pub fell_back: bool,
}

/// What one read from the server was, as far as appending cares.
enum Answer {
    Continue,
    Done { tag: String, result: Result<Done, Error> },
    Other,
}

struct Wire<'a, S: Stream> {
    s: &'a mut SessionOf<S>,
    what: String,
}

impl<S: Stream> Wire<'_, S> {
    async fn read(&mut self) -> Result<Answer, Error> {
        let what = self.what.clone();
        wire::read(self.s, &what, |r| match r {
            Response::Continue { .. } => Answer::Continue,
            Response::Done { tag, status, outcome } => Answer::Done {
                tag: tag.0.clone(),
                result: wire::tagged(&what, status, &outcome.code, outcome.information.as_deref()),
            },
            _ => Answer::Other,
        })
        .await
    }

    /// Send a command line; returns its tag.
    async fn command(&mut self, line: &str) -> Result<String, Error> {
        let r = self.s.run_command(line).await;
        r.map(|t| t.0).map_err(|e| Error::io(&self.what, e))
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let r = self.s.get_mut().write_all(bytes).await;
        r.map_err(|e| Error::io(&self.what, e))
    }

    async fn flush(&mut self) -> Result<(), Error> {
        let r = self.s.get_mut().flush().await;
        r.map_err(|e| Error::io(&self.what, e))
    }

    /// Wait for the `+` that lets a synchronizing literal go. A tagged answer to `tag` instead
    /// is a refusal; answers to earlier commands are kept in `done`.
    async fn wait_continue(
        &mut self,
        tag: &str,
        done: &mut HashMap<String, Result<Done, Error>>,
    ) -> Result<Option<Result<Done, Error>>, Error> {
        loop {
            match self.read().await? {
                Answer::Continue => return Ok(None),
                Answer::Done { tag: t, result } if t == tag => return Ok(Some(result)),
                Answer::Done { tag: t, result } => {
                    done.insert(t, result);
                }
                Answer::Other => {}
            }
        }
    }

    /// Read until the tagged answer to `tag`.
    async fn wait_done(&mut self, tag: &str) -> Result<Result<Done, Error>, Error> {
        loop {
            if let Answer::Done { tag: t, result } = self.read().await?
                && t == tag
            {
                return Ok(result);
            }
        }
    }
}

fn literal(len: usize, plus: bool) -> String {
    if plus { format!("{{{len}+}}") } else { format!("{{{len}}}") }
}

/// APPEND one message with a synchronizing literal: `flags` like `\Seen $label`, `date` as
/// unix seconds for INTERNALDATE. The APPENDUID, where the server gives one, is in [`Done`].
pub async fn append_one<S: Stream>(
    s: &mut SessionOf<S>,
    folder: &str,
    flags: &str,
    date: Option<i64>,
    raw: &[u8],
) -> Result<Done, Error> {
    let date = date
        .and_then(|d| chrono::DateTime::from_timestamp(d, 0))
        .map(|d| format!(" \"{}\"", d.format("%d-%b-%Y %H:%M:%S +0000")))
        .unwrap_or_default();
    let mut w = Wire { s, what: format!("APPEND {folder}") };
    let tag = w.command(&format!("APPEND {} ({flags}){date} {}", wire_name(folder), literal(raw.len(), false))).await?;
    // The server answers the literal's announcement with a continuation, or refuses at once
    // (untagged responses about the selected folder may come first).
    let mut done = HashMap::new();
    if let Some(result) = w.wait_continue(&tag, &mut done).await? {
        return result;
    }
    w.write(raw).await?;
    w.write(b"\r\n").await?;
    w.flush().await?;
    w.wait_done(&tag).await?
}

/// Append `raws` to `folder` with `flags` (e.g. `\Seen`) in the way the profile allows:
/// MULTIAPPEND where offered, falling back to pipelined APPENDs when the server refuses the
/// batch; else pipelined APPENDs. Empty `raws` does nothing.
pub async fn append_batch<S: Stream>(
    s: &mut SessionOf<S>,
    profile: &ServerProfile,
    folder: &str,
    flags: &str,
    raws: &[&[u8]],
) -> Outcome {
    if profile.multiappend {
        let out = append_all(s, folder, flags, raws, Mode::MultiAppend, profile.literal_plus).await;
        if !matches!(out.error, Some(Error::Refused { .. })) {
            return out;
        }
        let mut out = append_all(s, folder, flags, raws, Mode::Pipelined, profile.literal_plus).await;
        out.fell_back = true;
        return out;
    }
    append_all(s, folder, flags, raws, Mode::Pipelined, profile.literal_plus).await
}

/// Append `raws` to `folder` with `flags` in the given mode. Empty `raws` does nothing.
pub async fn append_all<S: Stream>(
    s: &mut SessionOf<S>,
    folder: &str,
    flags: &str,
    raws: &[&[u8]],
    mode: Mode,
    literal_plus: bool,
) -> Outcome {
    if raws.is_empty() {
        return Outcome::default();
    }
    let mut w = Wire { s, what: format!("APPEND to {folder}") };
    let mailbox = wire_name(folder);
    match mode {
        Mode::MultiAppend => match multi(&mut w, &mailbox, flags, raws, literal_plus).await {
            Ok(()) => Outcome { confirmed: (0..raws.len()).collect(), ..Default::default() },
            Err(e) => Outcome { error: Some(e), ..Default::default() },
        },
        Mode::Pipelined => pipelined(&mut w, &mailbox, flags, raws, literal_plus).await,
    }
}

async fn multi<S: Stream>(
    w: &mut Wire<'_, S>,
    mailbox: &str,
    flags: &str,
    raws: &[&[u8]],
    plus: bool,
) -> Result<(), Error> {
    let tag = w.command(&format!("APPEND {mailbox} ({flags}) {}", literal(raws[0].len(), plus))).await?;
    let mut done = HashMap::new();
    for (i, raw) in raws.iter().enumerate() {
        if !plus && let Some(result) = w.wait_continue(&tag, &mut done).await? {
            // A tagged OK before the last literal would be a broken server; treat it as a no.
            return result.and_then(|_| Err(Error::protocol(&w.what, "the server ended the command early")));
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
    w.wait_done(&tag).await?.map(|_| ())
}

async fn pipelined<S: Stream>(w: &mut Wire<'_, S>, mailbox: &str, flags: &str, raws: &[&[u8]], plus: bool) -> Outcome {
    let mut tags: Vec<(String, usize)> = Vec::new();
    let mut done: HashMap<String, Result<Done, Error>> = HashMap::new();
    let mut out = Outcome::default();
    let sent: Result<(), Error> = async {
        for (i, raw) in raws.iter().enumerate() {
            let tag = w.command(&format!("APPEND {mailbox} ({flags}) {}", literal(raw.len(), plus))).await?;
            tags.push((tag.clone(), i));
            if !plus && let Some(result) = w.wait_continue(&tag, &mut done).await? {
                done.insert(tag, result);
                continue;
            }
            w.write(raw).await?;
            w.write(b"\r\n").await?;
            if !plus {
                w.flush().await?;
            }
        }
        w.flush().await?;
        while tags.iter().any(|(t, _)| !done.contains_key(t)) {
            if let Answer::Done { tag, result } = w.read().await? {
                done.insert(tag, result);
            }
        }
        Ok(())
    }
    .await;
    if let Err(e) = sent {
        out.error = Some(e);
    }
    for (tag, i) in &tags {
        match done.remove(tag) {
            Some(Ok(_)) => out.confirmed.push(*i),
            Some(Err(e)) => {
                if let Some(r) = e.refusal() {
                    out.refused.push((*i, r.clone()));
                }
                if out.error.is_none() {
                    out.error = Some(e);
                }
            }
            None => {}
        }
    }
    out
}
