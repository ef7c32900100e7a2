//! What lets an employee's phone be set up in one step, as pure functions: nothing here opens
//! a socket or writes a file, and only [`issue`] writes to the store.
//!
//! - [`account`]: what a phone's mail app needs to know about one mailbox (host, ports,
//!   security, user name, address), from `[phones]` and the mailbox's config.
//! - [`profile`]: the Apple configuration profile (`.mobileconfig`) with the IMAP and SMTP
//!   account and the device token as the password. It is unsigned: iOS shows it as
//!   "unverified" and installs it all the same.
//! - [`autoconfig`]: the Thunderbird/K-9 autoconfig answer (`config-v1.1.xml`); no secrets.
//! - [`link`]: the one-time link to a profile: its random part, the SHA-256 the store keeps,
//!   and the profile sealed under a key derived from the link, so a copy of the store
//!   reveals nothing.
//! - [`qr`]: the link as a QR code, for the terminal and as SVG.
//! - [`selfsigned`]: a self-signed certificate and key for the LAN, and its SHA-256
//!   fingerprint as `openssl x509 -fingerprint -sha256` shows it.
//! - [`xml`]: escaping text for XML, the one way every document here writes a value.
//! - [`issue`]: a new device's profile sealed behind a fresh one-time link in the store.
//!
//! It stands at layer 3 beside `imap`, `smtp` and `dkim`: it imports the config and, for
//! [`issue`], the store.

pub mod account;
pub mod autoconfig;
pub mod issue;
pub mod link;
pub mod profile;
pub mod qr;
pub mod selfsigned;
pub mod xml;

pub use account::Account;
