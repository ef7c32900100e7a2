//! What postbote believes about one server: the extensions it offers, checked where an offer
//! cannot be trusted, and the odd answers it is known to give. The one home for a workaround.
//!
//! A profile is learned once per session ([`ServerProfile::learn`]: CAPABILITY, then ENABLE)
//! and consulted instead of the raw capability list. Each quirk is a named field or method
//! with its reason beside it, and one test against a scripted server (`tests` below):
//!
//! - **QRESYNC offered, ENABLE QRESYNC refused**: the session goes on with CONDSTORE only
//!   (flag changes by CHANGEDSINCE, expunges by UID diff) instead of failing every connection.
//! - **CONDSTORE offered, ENABLE CONDSTORE refused**: CONDSTORE is still used; the first
//!   `EXAMINE .. (CONDSTORE)` turns it on (RFC 7162 3.1), so the refusal costs nothing.
//! - **STATUS of the selected folder is stale**: servers (Dovecot among them) answer it from the
//!   session's own view, which lags until the folder is selected again, so the selected folder
//!   is asked by EXAMINE ([`ServerProfile::stale_status_when_selected`]).
//! - **`UID SEARCH UID n:*` names a UID below n**: `*` is the highest UID even when it is below
//!   `n` (RFC 3501 6.4.8); [`super::folder::uid_search`] drops what is below the range.
//! - **CREATE of a folder that exists, DELETE of one that does not**: refused with the RFC 5530
//!   code `ALREADYEXISTS` / `NONEXISTENT`, or only in words by servers without those codes;
//!   both mean the write-back's wish already came true ([`ServerProfile::already_exists`],
//!   [`ServerProfile::nonexistent`]).
//! - **MULTIAPPEND offered but a batch refused** (a size limit for the whole command, or one
//!   message it dislikes): the batch goes again as single pipelined APPENDs, so every message
//!   gets its own answer ([`super::append::append_batch`]).
//! - **A refused login answered with BAD instead of NO**: both are a refused login
//!   ([`super::conn`]), never a protocol error that would be retried at once.

use super::Error;
use super::error::Refusal;
use super::wire::{self, SessionOf, Stream};

/// The extensions the session may use and the quirks its server has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerProfile {
    /// IDLE (RFC 2177).
    pub idle: bool,
    /// CONDSTORE (RFC 7162): MODSEQ, CHANGEDSINCE, HIGHESTMODSEQ.
    pub condstore: bool,
    /// QRESYNC was enabled on the session (`ENABLE QRESYNC` answered OK).
    pub qresync: bool,
    /// MULTIAPPEND (RFC 3502): many messages in one APPEND.
    pub multiappend: bool,
    /// LITERAL+ (RFC 7888): literals that do not wait for the server's `+`.
    pub literal_plus: bool,
    /// STATUS on the selected folder may answer from the session's stale view.
    pub stale_status_when_selected: bool,
}

impl Default for ServerProfile {
    fn default() -> Self {
        ServerProfile::from_capabilities(std::iter::empty::<&str>())
    }
}

impl ServerProfile {
    /// The profile the capability list promises, before anything was tried.
    pub fn from_capabilities<'a>(caps: impl IntoIterator<Item = &'a str>) -> ServerProfile {
        let caps: Vec<String> = caps.into_iter().map(|c| c.to_ascii_uppercase()).collect();
        let has = |c: &str| caps.iter().any(|x| x == c);
        ServerProfile {
            idle: has("IDLE"),
            condstore: has("CONDSTORE") || has("QRESYNC"),
            qresync: has("QRESYNC"),
            multiappend: has("MULTIAPPEND"),
            literal_plus: has("LITERAL+"),
            stale_status_when_selected: true,
        }
    }

    /// Ask the server what it offers (CAPABILITY), enabling nothing: for a session that only
    /// appends and searches (the Sent copy).
    pub async fn ask<S: Stream>(s: &mut SessionOf<S>) -> Result<ServerProfile, Error> {
        let caps = s.capabilities().await.map_err(|e| Error::io("CAPABILITY", e))?;
        let names: Vec<String> = caps
            .iter()
            .filter_map(|c| match c {
                async_imap::types::Capability::Atom(a) => Some(a.to_string()),
                _ => None,
            })
            .collect();
        Ok(ServerProfile::from_capabilities(names.iter().map(String::as_str)))
    }

    /// Ask the server what it offers, and ENABLE QRESYNC (else CONDSTORE) where offered. ENABLE
    /// must come before any folder is selected, so this is the first thing a session does.
    pub async fn learn<S: Stream>(s: &mut SessionOf<S>) -> Result<ServerProfile, Error> {
        let mut p = ServerProfile::ask(s).await?;
        if p.qresync {
            match wire::simple(s, "ENABLE QRESYNC", "ENABLE QRESYNC").await {
                Ok(_) => {}
                // Offered but refused: a capability that cannot be trusted.
                Err(Error::Refused { refusal, .. }) => {
                    tracing::debug!(%refusal, "the server offers QRESYNC but refused to enable it; using CONDSTORE");
                    p.qresync = false;
                    enable_condstore(s).await?;
                }
                Err(e) => return Err(e),
            }
        } else if p.condstore {
            enable_condstore(s).await?;
        }
        Ok(p)
    }

    /// CREATE was refused because the folder is already there.
    pub fn already_exists(&self, r: &Refusal) -> bool {
        r.has_code("ALREADYEXISTS") || r.text.to_lowercase().contains("exists")
    }

    /// DELETE (or SELECT) was refused because the folder is not there.
    pub fn nonexistent(&self, r: &Refusal) -> bool {
        let t = r.text.to_lowercase();
        r.has_code("NONEXISTENT")
            || t.contains("nonexistent")
            || t.contains("doesn't exist")
            || t.contains("does not exist")
    }
}

/// ENABLE CONDSTORE; a refusal is ignored (the first EXAMINE with CONDSTORE enables it).
async fn enable_condstore<S: Stream>(s: &mut SessionOf<S>) -> Result<(), Error> {
    match wire::simple(s, "ENABLE CONDSTORE", "ENABLE CONDSTORE").await {
        Ok(_) | Err(Error::Refused { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
#[path = "quirks_tests.rs"]
mod tests;
