//! What every listener that devices use shares: JMAP for apps that speak it, IMAP and SMTP
//! submission for phones' own mail apps.
//!
//! - [`token`]: device tokens, made once and kept only as their SHA-256.
//! - [`login`]: the one check of a presented user name and token, with the failed-login
//!   limiter in front of it (a valid token is always let in) and the note of its last use.
//! - [`tls`]: the server certificate of a listener, re-read on SIGHUP without a restart.
//! - [`live`]: the open IMAP and SMTP connections per device: the cap, their end when the
//!   device is revoked (also from the command line, another process), and the rows `status`
//!   reads.
//!
//! It stands beside `app` (layer 2): it imports the store, the config and the foundations,
//! and nothing that serves a protocol.

pub mod live;
pub mod login;
pub mod tls;
pub mod token;

pub use live::{Connection, Live};
pub use login::{Login, Logins, Presented, Protocol, Refused};
pub use tls::ServerTls;
pub use token::{hash_token, new_token};
