//! Integration tests: one binary, against the real daemon and the local mail stack
//! (Dovecot, Postfix, unbound on loopback), started by `scripts/stack up`.

mod autoreply;
mod console;
mod console_browser;
mod console_ops;
mod console_ops_browser;
mod console_people;
mod console_people_browser;
mod control;
mod convergence;
mod crash;
mod deliverability;
mod dmarc;
mod hygiene;
mod imapd;
mod imapd_render;
mod jmap;
mod jmap_copy;
mod jmap_create;
mod jmap_push;
mod jmap_qchanges;
mod jmap_query;
mod mirror;
mod onboarding;
mod outbox;
mod rates;
mod sent_copy;
mod submission;
mod support;
mod trust_jmap;
mod waiting;
mod writeback;
