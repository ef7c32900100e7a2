//! The one IMAP client layer: everything postbote says to an IMAP server goes through here.
//!
//! `conn` opens the session (TCP, TLS, LOGIN); `profile` learns what the server offers and
//! holds every known quirk of servers in one place; `wire` writes commands and streams the
//! responses, one by one, with a timeout on each read; `folder` asks about one folder
//! (STATUS, EXAMINE, SEARCH); `roles` reads the folder list and maps SPECIAL-USE attributes to
//! roles (the only such mapping in postbote); `append` appends one message or a batch;
//! `mutf7` encodes folder names for the wire; `idle` waits in IDLE. Errors are one enum,
//! [`Error`], whose kinds are the decisions callers make (reconnect, wait for a person, give up
//! on one item). The mirror, the write-back and the outbox's Sent copy use this layer and never
//! parse the protocol themselves. This layer never touches the store, never logs a command's
//! arguments (a LOGIN carries the password) and never decides what to do about a refusal.

pub mod append;
pub mod conn;
pub mod error;
pub mod fetch;
pub mod folder;
pub mod idle;
pub mod mutf7;
pub mod profile;
pub mod roles;
pub mod wire;

#[cfg(test)]
pub(crate) mod script;

pub use conn::{Session, connect, connect_to};
pub use error::{Error, Refusal, Status};
pub use folder::Numbers;
pub use profile::ServerProfile;
pub use roles::Listed;
