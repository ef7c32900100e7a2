//! postbote: a mail agent for small trades businesses.
//!
//! It mirrors each employee's and shared mailbox from the vendor's hosted IMAP server into one
//! SQLite file, serves phones from that file over JMAP, answers automatically while someone is
//! on leave, sends all outgoing mail through one durable queue that by default opens only while
//! an office session is logged in, and tells from DNS whether the company's mail will arrive.
//! `ARCHITECTURE.md` has the map; each module below opens with what it owns and what it must
//! never do.

/// What every daemon task shares: config, store, wake-ups.
pub mod app;
/// Failed-login limiting for listeners that accept device tokens; the client address behind a trusted proxy.
pub mod authlimit;
/// Automatic replies while someone is on leave: a pure `decide` and reply rendering.
pub mod autoreply;
/// The command line (clap derive); each subcommand calls one library function.
pub mod cli;
/// Unix times as the office reads them, in the configured time zone (`local_time`).
pub mod clock;
/// Validated configuration (TOML in two stages; secrets redacted in `Debug`).
pub mod config;
/// The office's web console: status, queue, office sessions, automatic replies, phones,
/// deliverability; German and English; office and employee accounts.
pub mod console;
/// The local control endpoint (loopback or Unix socket) the office program talks to: a token on
/// TCP, the socket's mode otherwise; no Origin, no foreign Host; every session change audited.
pub mod control;
/// Wires the tasks together; takes a shutdown future, cancels, then joins every task.
pub mod daemon;
/// SPF / DKIM / DMARC diagnosis from DNS, and the receivers' DMARC aggregate reports beside it.
pub mod deliverability;
/// What every listener devices use shares: tokens, the login check, server TLS re-read on
/// SIGHUP, open connections per device.
pub mod devices;
/// DKIM signing with a mailbox's key, key generation and the record to publish (outbox and doctor).
pub mod dkim;
/// postbote's files are private: directories 0700, files 0600; finds and repairs looser modes.
pub mod files;
/// The one IMAP client layer: connection, login, the streaming reader, folder roles, server quirks.
pub mod imap;
/// The IMAP server for phones' own mail apps, served from the store (imap-next under a session).
pub mod imapd;
/// The JMAP server for phones; wire types live only here.
pub mod jmap;
/// Raw RFC 5322 bytes to the fields a message list needs; never fails, flags what is malformed.
pub mod message;
/// One task per mailbox mirroring IMAP folders into the store (planning apart from I/O), and the
/// write-back of phones' changes it drives.
pub mod mirror;
/// One-step phone setup, pure: the Apple profile, the autoconfig answer, the one-time link
/// sealed under its secret, its QR code, and the self-signed certificate for the LAN.
pub mod onboard;
/// The durable outbound queue, its retry policy and the office-session gate; the only caller of `smtp`.
pub mod outbox;
/// SMTP transports (direct, relay) and the redacting session transcript.
pub mod smtp;
/// `postbote status`: renders what every part reports about each mailbox, as text and as JSON.
pub mod status;
/// The SQLite store: the only module that speaks SQL; every visible change bumps a modseq.
pub mod store;
/// The SMTP submission server for phones' own mail apps: device tokens, the sender rule, and
/// every message committed to the outbox before `250`.
pub mod submission;
/// TLS client settings (system roots plus an optional CA file) for IMAP and SMTP.
pub mod tls;
