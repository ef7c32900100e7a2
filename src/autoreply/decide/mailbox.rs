//! How a message relates to the mailbox it arrived in.
//!
//! Whether an address is one of the mailbox's own (company or hosted), whether the message
//! is addressed to the mailbox at all (its headers, or a company-domain forward's envelope
//! record), and whether the sender belongs to the company (it then gets the internal text).
//! The hosted address counts in the headers but not in `Delivered-To` / `X-Original-To`:
//! Dovecot writes it into every delivered message, Bcc and list mail included.

use super::incoming::Incoming;
use crate::config::Mailbox;

/// `addr` is one of the mailbox's addresses, company or hosted, in any case.
pub(super) fn is_own(mailbox: &Mailbox, addr: &str) -> bool {
    mailbox.all_addresses().any(|o| o.eq_ignore_ascii_case(addr))
}

/// The message is meant for this mailbox. To/Cc/Bcc/Resent-* may name any address of the
/// mailbox. Delivered-To / X-Original-To count only with a company address: they are what the
/// company-domain forward recorded, while the hosted address is in every delivered message
/// (Dovecot adds it), Bcc included.
pub(super) fn addressed_to(msg: &Incoming, mailbox: &Mailbox) -> bool {
    let in_headers = msg.recipients.iter().any(|a| is_own(mailbox, a));
    let forwarded = msg.envelope_recipients.iter().any(|a| mailbox.addresses.iter().any(|c| c.eq_ignore_ascii_case(a)));
    in_headers || forwarded
}

fn domain_of(addr: &str) -> &str {
    addr.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
}

/// The sender belongs to the company: its envelope sender is on a company domain, or its From
/// is and it came through the hosted server the company's mailboxes send from.
pub fn is_internal(msg: &Incoming, mailbox: &Mailbox) -> bool {
    let domains = mailbox.company_domains();
    let hosted_domain = domain_of(&mailbox.hosted_address);
    match msg.return_path.address() {
        Some(rp) if domains.contains(domain_of(rp)) => true,
        Some(rp) if domain_of(rp) == hosted_domain => {
            msg.from.as_deref().is_some_and(|f| domains.contains(domain_of(f)))
        }
        _ => false,
    }
}
