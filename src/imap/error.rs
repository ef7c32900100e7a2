//! What can go wrong when speaking IMAP, as one enum that callers match on.
//!
//! The kinds are the decisions a caller makes: a refused login waits for a person
//! ([`Error::Auth`]), a broken connection reconnects ([`Error::Io`], [`Error::Tls`],
//! [`Error::Connect`]), an answer we cannot read is the server's fault ([`Error::Protocol`]),
//! and a tagged NO or BAD ([`Error::Refused`]) is about one command: the connection is still
//! good, and the caller decides (retry later, give up on one item, list the folders again).
//! A refusal keeps the server's response code (`TRYCREATE`, `ALREADYEXISTS`, ...) apart from its
//! words, so nobody classifies errors by reading text. Store failures are never IMAP errors: the
//! callers have their own enums that hold both. No message here ever quotes a command's
//! arguments, so a password cannot end up in one.

/// How the server refused a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    No,
    Bad,
}

/// A tagged NO or BAD: the response code (upper case, without brackets) and the server's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: Status,
    pub code: Option<String>,
    pub text: String,
}

impl Refusal {
    /// Split `[CODE] words` (codes the parser does not know stay in the text) into code and words.
    pub fn new(status: Status, code: Option<String>, information: Option<&str>) -> Refusal {
        let info = information.unwrap_or("").trim();
        let (code, text) = match (code, info.strip_prefix('[').and_then(|r| r.split_once(']'))) {
            (Some(c), _) => (Some(c), info.to_string()),
            (None, Some((c, rest))) => {
                let atom = c.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
                ((!atom.is_empty()).then_some(atom), rest.trim().to_string())
            }
            (None, None) => (None, info.to_string()),
        };
        let text = if text.is_empty() { "(no reason given)".to_string() } else { text };
        Refusal { status, code, text }
    }

    /// Does the refusal carry this response code?
    pub fn has_code(&self, code: &str) -> bool {
        self.code.as_deref().is_some_and(|c| c.eq_ignore_ascii_case(code))
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.code {
            Some(c) => write!(f, "[{c}] {}", self.text),
            None => f.write_str(&self.text),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No TCP connection (refused, unreachable, or no answer in time).
    #[error("cannot connect to {server}: {message}")]
    Connect { server: String, message: String },
    /// The TLS handshake (or STARTTLS) failed.
    #[error("TLS with {server} failed: {message}")]
    Tls { server: String, message: String },
    /// The server refused the login: wrong password or a locked account.
    #[error("{server} refused the login of {login}: {message}")]
    Auth { server: String, login: String, message: String },
    /// The connection broke, timed out or was closed during `what`.
    #[error("IMAP {what}: {message}")]
    Io { what: String, message: String },
    /// The server's answer to `what` cannot be read, or lacks what it must hold.
    #[error("IMAP {what}: {message}")]
    Protocol { what: String, message: String },
    /// The server answered NO or BAD to `what`; the connection is still usable.
    #[error("the server refused {what}: {refusal}")]
    Refused { what: String, refusal: Refusal },
}

impl Error {
    pub fn io(what: impl Into<String>, e: impl std::fmt::Display) -> Error {
        Error::Io { what: what.into(), message: e.to_string() }
    }

    pub fn protocol(what: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Protocol { what: what.into(), message: message.into() }
    }

    pub fn is_auth(&self) -> bool {
        matches!(self, Error::Auth { .. })
    }

    /// The refusal, when the server said NO or BAD to one command.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            Error::Refused { refusal, .. } => Some(refusal),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_the_parser_does_not_know_are_taken_from_the_text() {
        let r = Refusal::new(Status::No, None, Some("[ALREADYEXISTS] Mailbox already exists"));
        assert_eq!((r.code.as_deref(), r.text.as_str()), (Some("ALREADYEXISTS"), "Mailbox already exists"));
        assert!(r.has_code("alreadyexists"));
        let r = Refusal::new(Status::No, Some("TRYCREATE".into()), Some("Mailbox doesn't exist"));
        assert_eq!(r.to_string(), "[TRYCREATE] Mailbox doesn't exist");
        let r = Refusal::new(Status::Bad, None, None);
        assert_eq!((r.code, r.text.as_str()), (None, "(no reason given)"));
    }
}
