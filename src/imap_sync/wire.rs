//! Raw IMAP commands on an async-imap session, read response by response.
//!
//! async-imap's typed helpers hand responses they do not expect (VANISHED, FETCH for other
//! messages, EXISTS) to a bounded side channel that drops what does not fit, and they hold a
//! whole answer before returning. The mirror needs both the odd responses and streaming, so it
//! writes its commands with `run_command` and reads every untagged response itself, with a
//! timeout on each read. This module knows the protocol's shapes (quoting, sequence sets,
//! status lines) and nothing about the store; it never logs a command (LOGIN is not sent here,
//! but the rule keeps it that way).

use std::time::Duration;

use async_imap::imap_proto::{RequestId, Response, Status};

use super::SyncError;
use super::conn::ImapSession;

/// How long one read may wait for the server during a command. A fetch of a large message
/// arrives in many reads, so this bounds silence, not the size of an answer.
pub const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// A command in flight: its tag and a short name for error messages.
pub struct Command {
    tag: RequestId,
    what: String,
}

/// Send `cmd`; `what` names it in errors ("UID FETCH INBOX", never the arguments of a login).
pub async fn send(s: &mut ImapSession, cmd: &str, what: impl Into<String>) -> Result<Command, SyncError> {
    let what = what.into();
    let tag = s.run_command(cmd).await.map_err(|e| SyncError::Io { what: what.clone(), message: e.to_string() })?;
    Ok(Command { tag, what })
}

impl Command {
    /// The next untagged response, handed to `f`, or `None` once the tagged OK arrived. A
    /// tagged NO or BAD becomes [`SyncError::Refused`] with the server's text. (The crate does
    /// not export its response type, so the response is lent to `f` rather than returned.)
    pub async fn next<R>(
        &self,
        s: &mut ImapSession,
        f: impl FnOnce(&Response<'_>) -> R,
    ) -> Result<Option<R>, SyncError> {
        let r = match tokio::time::timeout(READ_TIMEOUT, s.read_response()).await {
            Err(_) => {
                return Err(SyncError::Io {
                    what: self.what.clone(),
                    message: format!("no answer within {}s", READ_TIMEOUT.as_secs()),
                });
            }
            Ok(Err(e)) => return Err(SyncError::Io { what: self.what.clone(), message: e.to_string() }),
            Ok(Ok(None)) => {
                return Err(SyncError::Io {
                    what: self.what.clone(),
                    message: "the server closed the connection".into(),
                });
            }
            Ok(Ok(Some(r))) => r,
        };
        if let Response::Done { tag, status, outcome, .. } = r.parsed()
            && *tag == self.tag
        {
            return match status {
                Status::Ok => Ok(None),
                _ => Err(SyncError::Refused {
                    what: self.what.clone(),
                    message: outcome.information.as_deref().unwrap_or("(no reason given)").to_string(),
                }),
            };
        }
        Ok(Some(f(r.parsed())))
    }

    /// Read to the end of the command, ignoring untagged responses.
    pub async fn finish(&self, s: &mut ImapSession) -> Result<(), SyncError> {
        while self.next(s, |_| ()).await?.is_some() {}
        Ok(())
    }
}

/// Run a command whose untagged answers do not matter (ENABLE, NOOP).
pub async fn simple(s: &mut ImapSession, cmd: &str, what: &str) -> Result<(), SyncError> {
    send(s, cmd, what).await?.finish(s).await
}

/// An IMAP quoted string (folder names are sent in modified UTF-7, so ASCII).
pub fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q
}

/// A compact sequence set for ascending UIDs: `[1,2,3,7,9,10]` -> `1:3,7,9:10`.
pub fn uid_set(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end + 1 {
            i += 1;
            end = uids[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

/// Folder names on the wire are modified UTF-7 (RFC 3501 5.1.3): `Entw&APw-rfe` is `Entwürfe`.
pub mod mutf7 {
    use base64::Engine;
    use base64::alphabet::Alphabet;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

    fn engine() -> GeneralPurpose {
        let alphabet =
            Alphabet::new("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").expect("valid alphabet");
        GeneralPurpose::new(
            &alphabet,
            GeneralPurposeConfig::new()
                .with_encode_padding(false)
                .with_decode_padding_mode(DecodePaddingMode::RequireNone),
        )
    }

    /// Decode a name as the server sent it; a malformed name is returned as it is.
    pub fn decode(s: &str) -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(amp) = rest.find('&') {
            out.push_str(&rest[..amp]);
            let after = &rest[amp + 1..];
            let Some(dash) = after.find('-') else { return s.to_string() };
            let chunk = &after[..dash];
            if chunk.is_empty() {
                out.push('&');
            } else {
                let Ok(bytes) = engine().decode(chunk) else { return s.to_string() };
                if bytes.len() % 2 != 0 {
                    return s.to_string();
                }
                let units: Vec<u16> = bytes.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
                match String::from_utf16(&units) {
                    Ok(t) => out.push_str(&t),
                    Err(_) => return s.to_string(),
                }
            }
            rest = &after[dash + 1..];
        }
        out.push_str(rest);
        out
    }

    /// Encode a name for the wire.
    pub fn encode(s: &str) -> String {
        let mut out = String::new();
        let mut pending: Vec<u16> = Vec::new();
        let flush = |pending: &mut Vec<u16>, out: &mut String| {
            if !pending.is_empty() {
                let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
                out.push('&');
                out.push_str(&engine().encode(bytes));
                out.push('-');
                pending.clear();
            }
        };
        for c in s.chars() {
            if (' '..='~').contains(&c) {
                flush(&mut pending, &mut out);
                if c == '&' {
                    out.push_str("&-");
                } else {
                    out.push(c);
                }
            } else {
                let mut buf = [0u16; 2];
                pending.extend_from_slice(c.encode_utf16(&mut buf));
            }
        }
        flush(&mut pending, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_are_compact() {
        for (uids, want) in [
            (&[][..], ""),
            (&[5][..], "5"),
            (&[1, 2, 3][..], "1:3"),
            (&[1, 2, 3, 7, 9, 10][..], "1:3,7,9:10"),
            (&[4, 6, 8][..], "4,6,8"),
        ] {
            assert_eq!(uid_set(uids), want, "{uids:?}");
        }
    }

    #[test]
    fn quoting_escapes_quotes_and_backslashes() {
        assert_eq!(quote("INBOX"), "\"INBOX\"");
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    #[test]
    fn modified_utf7_round_trips_german_names() {
        for (wire, name) in [
            ("INBOX", "INBOX"),
            ("Entw&APw-rfe", "Entwürfe"),
            ("Gel&APY-scht", "Gelöscht"),
            ("Projekte/Stra&AN8-e", "Projekte/Straße"),
            ("Tom &- Jerry", "Tom & Jerry"),
            ("&ZeVnLIqe-", "日本語"),
        ] {
            assert_eq!(mutf7::decode(wire), name, "decode {wire}");
            assert_eq!(mutf7::encode(name), wire, "encode {name}");
        }
        assert_eq!(mutf7::decode("broken&AP"), "broken&AP", "malformed names pass through");
    }
}
