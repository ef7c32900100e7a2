//! Raw IMAP commands on an async-imap session, read response by response: the streaming reader.
//!
//! async-imap's typed helpers hand responses they do not expect (VANISHED, FETCH for other
//! messages, EXISTS) to a bounded side channel that drops what does not fit, and they hold a
//! whole answer before returning. postbote needs both the odd responses and streaming, so every
//! command is written with `run_command` and every response is read here, with a timeout on
//! each read. A tagged NO or BAD becomes [`Error::Refused`] with its response code; the codes
//! of a tagged OK (APPENDUID, COPYUID) are kept in [`Done`]. This module knows the protocol's
//! shapes (quoting, sequence sets, status lines) and nothing about the store; it never logs a
//! command (LOGIN is not sent here, but the rule keeps it that way).

use std::time::Duration;

use async_imap::imap_proto::rfc4315::UidSetMember;
use async_imap::imap_proto::{RequestId, Response, ResponseCode, Status};

use super::error::{Error, Refusal, Status as RefusalStatus};

/// What a session can run over: TLS in production, plain TCP for the scripted tests.
pub trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + std::fmt::Debug + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + std::fmt::Debug + Send> Stream for T {}

/// An authenticated session over any [`Stream`].
pub type SessionOf<S> = async_imap::Session<S>;

/// How long one read may wait for the server during a command. A fetch of a large message
/// arrives in many reads, so this bounds silence, not the size of an answer.
pub const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// A command in flight: its tag and a short name for error messages.
pub struct Command {
    tag: RequestId,
    what: String,
}

/// What a tagged OK (and the untagged OKs before it) carried.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Done {
    /// (uidvalidity, uid) from APPENDUID, or the first destination UID of a COPYUID.
    pub new_uid: Option<(u32, u32)>,
}

/// Send `cmd`; `what` names it in errors ("UID FETCH INBOX", never the arguments of a login).
pub async fn send<S: Stream>(s: &mut SessionOf<S>, cmd: &str, what: impl Into<String>) -> Result<Command, Error> {
    let what = what.into();
    let tag = s.run_command(cmd).await.map_err(|e| Error::io(&what, e))?;
    Ok(Command { tag, what })
}

/// Read one response and lend it to `f` (the crate does not export its response type, so the
/// response is lent rather than returned). Silence, a broken or a closed connection are errors.
pub async fn read<S: Stream, R>(
    s: &mut SessionOf<S>,
    what: &str,
    f: impl FnOnce(&Response<'_>) -> R,
) -> Result<R, Error> {
    match tokio::time::timeout(READ_TIMEOUT, s.read_response()).await {
        Err(_) => Err(Error::io(what, format!("no answer within {}s", READ_TIMEOUT.as_secs()))),
        Ok(Err(e)) => Err(Error::io(what, e)),
        Ok(Ok(None)) => Err(Error::io(what, "the server closed the connection")),
        Ok(Ok(Some(r))) => Ok(f(r.parsed())),
    }
}

/// The name of a response code the parser knows, as the server spelled it.
fn code_name(code: &ResponseCode<'_>) -> Option<&'static str> {
    Some(match code {
        ResponseCode::Alert => "ALERT",
        ResponseCode::Parse => "PARSE",
        ResponseCode::TryCreate => "TRYCREATE",
        ResponseCode::ReadOnly => "READ-ONLY",
        ResponseCode::ReadWrite => "READ-WRITE",
        ResponseCode::UidNotSticky => "UIDNOTSTICKY",
        ResponseCode::BadCharset(_) => "BADCHARSET",
        _ => return None,
    })
}

fn first_uid(set: &[UidSetMember]) -> Option<u32> {
    match set.first()? {
        UidSetMember::Uid(u) => Some(*u),
        UidSetMember::UidRange(r) => Some(*r.start()),
    }
}

/// The new UID an APPENDUID or COPYUID code names.
fn new_uid(code: &Option<ResponseCode<'_>>) -> Option<(u32, u32)> {
    match code {
        Some(ResponseCode::AppendUid(v, set)) => first_uid(set).map(|u| (*v, u)),
        Some(ResponseCode::CopyUid(v, _, dst)) => first_uid(dst).map(|u| (*v, u)),
        _ => None,
    }
}

/// A tagged answer as the end of a command: its codes, or the refusal.
pub(crate) fn tagged(
    what: &str,
    status: &Status,
    code: &Option<ResponseCode<'_>>,
    info: Option<&str>,
) -> Result<Done, Error> {
    let status = match status {
        Status::Ok => return Ok(Done { new_uid: new_uid(code) }),
        Status::Bad => RefusalStatus::Bad,
        _ => RefusalStatus::No,
    };
    let code = code.as_ref().and_then(code_name).map(String::from);
    Err(Error::Refused { what: what.to_string(), refusal: Refusal::new(status, code, info) })
}

enum Step<R> {
    Untagged(R),
    Done(Done),
}

impl Command {
    pub fn what(&self) -> &str {
        &self.what
    }

    pub fn tag(&self) -> &str {
        &self.tag.0
    }

    async fn step<S: Stream, R>(
        &self,
        s: &mut SessionOf<S>,
        f: impl FnOnce(&Response<'_>) -> R,
    ) -> Result<Step<R>, Error> {
        read(s, &self.what, |r| match r {
            Response::Done { tag, status, outcome } if *tag == self.tag => {
                tagged(&self.what, status, &outcome.code, outcome.information.as_deref()).map(Step::Done)
            }
            other => Ok(Step::Untagged(f(other))),
        })
        .await?
    }

    /// The next untagged response, handed to `f`, or `None` once the tagged OK arrived. A
    /// tagged NO or BAD becomes [`Error::Refused`] with the server's code and words.
    pub async fn next<S: Stream, R>(
        &self,
        s: &mut SessionOf<S>,
        f: impl FnOnce(&Response<'_>) -> R,
    ) -> Result<Option<R>, Error> {
        Ok(match self.step(s, f).await? {
            Step::Untagged(r) => Some(r),
            Step::Done(_) => None,
        })
    }

    /// Read to the end of the command, keeping the UIDPLUS codes of untagged and tagged OKs.
    pub async fn finish<S: Stream>(&self, s: &mut SessionOf<S>) -> Result<Done, Error> {
        let mut seen = None;
        loop {
            match self
                .step(s, |r| match r {
                    Response::Data { status: Status::Ok, outcome } => new_uid(&outcome.code),
                    _ => None,
                })
                .await?
            {
                Step::Untagged(u) => seen = u.or(seen),
                Step::Done(d) => return Ok(Done { new_uid: d.new_uid.or(seen) }),
            }
        }
    }
}

/// Run a command whose untagged answers do not matter (ENABLE, NOOP, STORE, CREATE).
pub async fn simple<S: Stream>(s: &mut SessionOf<S>, cmd: &str, what: &str) -> Result<Done, Error> {
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
}
