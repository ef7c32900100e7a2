//! Integration tests: one binary, against the real daemon and the local mail stack
//! (Dovecot, Postfix, unbound on loopback), started by `scripts/stack up`.

mod autoreply;
mod deliverability;
mod imap_sync;
mod jmap;
mod outbox;
mod support;
mod waiting;
