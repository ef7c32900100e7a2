//! The hosted IMAP servers of the stack, seen from the server side of a mirror test: Dovecot
//! (the one the vendor is believed to run) and Cyrus IMAP (a second, independent
//! implementation, so that a test passing on both is not passing by one server's habits).
//!
//! [`Server`] gives both the same verbs: deliver and bulk-fill mail, read a folder's UIDs
//! and UIDVALIDITY, change flags, expunge, create and delete folders, the way another mail
//! client's changes would reach the server. For Dovecot they go through doveadm (as the
//! mirror tests always did); for Cyrus through IMAP as the mailbox's own user, on its plain
//! port with LOGIN (allowed on loopback), with the password the stack keeps for that user.
//! Both servers know every user `scripts/stack add-user` creates; their mail is separate.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};

use super::{RawImap, deliver_to_folder, ensure_stack, imap_quote, stack, stack_dir};

/// Cyrus IMAP with STARTTLS (plain LOGIN before STARTTLS is allowed on loopback).
pub const CYRUS_IMAP_PORT: u16 = 12143;
/// Cyrus IMAP over implicit TLS (the stack's certificate).
pub const CYRUS_IMAPS_PORT: u16 = 12993;

/// One of the stack's hosted IMAP servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    Dovecot,
    Cyrus,
}

impl Server {
    pub const ALL: [Server; 2] = [Server::Dovecot, Server::Cyrus];

    pub fn name(self) -> &'static str {
        match self {
            Server::Dovecot => "dovecot",
            Server::Cyrus => "cyrus",
        }
    }

    /// The IMAPS port a postbote config points at.
    pub fn imaps_port(self) -> u16 {
        match self {
            Server::Dovecot => super::IMAPS_PORT,
            Server::Cyrus => CYRUS_IMAPS_PORT,
        }
    }

    /// The plain IMAP port (STARTTLS offered, LOGIN allowed without it).
    pub fn imap_port(self) -> u16 {
        match self {
            Server::Dovecot => super::IMAP_PORT,
            Server::Cyrus => CYRUS_IMAP_PORT,
        }
    }

    /// Delivers `raw` into `folder` of `address` (created if missing; UTF-8, `/` separated).
    /// Cyrus gets it by APPEND, with bare LF line ends made CRLF (it refuses bare newlines).
    pub fn deliver(self, address: &str, folder: &str, raw: &[u8]) {
        match self {
            Server::Dovecot => deliver_to_folder(address, folder, raw),
            Server::Cyrus => {
                ensure_stack();
                stack(&["cyrus", "deliver", address, folder], Some(raw));
            }
        }
    }

    /// Adds `n` generated messages of about 5 KB to `address`'s INBOX.
    pub fn populate(self, address: &str, n: u32) {
        ensure_stack();
        let n = n.to_string();
        match self {
            Server::Dovecot => stack(&["populate", address, &n], None),
            Server::Cyrus => stack(&["cyrus", "populate", address, &n], None),
        };
    }

    /// The UIDs the server holds in `folder`.
    pub fn uids(self, address: &str, folder: &str) -> BTreeSet<u32> {
        match self {
            Server::Dovecot => doveadm(&["-f", "flow", "fetch", "-u", address, "uid", "mailbox", folder, "all"])
                .lines()
                .filter_map(|l| l.trim().strip_prefix("uid=")?.parse().ok())
                .collect(),
            Server::Cyrus => {
                let mut imap = self.session(address);
                imap.command(&format!("EXAMINE {}", mailbox(folder)));
                let uids = imap.uid_search("ALL").into_iter().collect();
                imap.logout();
                uids
            }
        }
    }

    pub fn uidvalidity(self, address: &str, folder: &str) -> u32 {
        match self {
            Server::Dovecot => {
                let out = doveadm(&["-f", "flow", "mailbox", "status", "-u", address, "uidvalidity", folder]);
                out.trim().rsplit('=').next().unwrap().parse().unwrap()
            }
            Server::Cyrus => {
                let mut imap = self.session(address);
                let resp = imap.command(&format!("STATUS {} (UIDVALIDITY)", mailbox(folder)));
                imap.logout();
                resp.split("UIDVALIDITY ")
                    .nth(1)
                    .and_then(|r| r.split([')', ' ']).next())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| panic!("no UIDVALIDITY in:\n{resp}"))
            }
        }
    }

    /// Adds `flags` (e.g. `\Flagged \Seen`) to the messages `uids` (a UID set) of `folder`.
    pub fn add_flags(self, address: &str, folder: &str, uids: &str, flags: &str) {
        self.store_flags(address, folder, uids, flags, "+")
    }

    pub fn remove_flags(self, address: &str, folder: &str, uids: &str, flags: &str) {
        self.store_flags(address, folder, uids, flags, "-")
    }

    fn store_flags(self, address: &str, folder: &str, uids: &str, flags: &str, sign: &str) {
        match self {
            Server::Dovecot => {
                let verb = if sign == "+" { "add" } else { "remove" };
                doveadm(&["flags", verb, "-u", address, flags, "mailbox", folder, "uid", uids]);
            }
            Server::Cyrus => {
                let mut imap = self.session(address);
                imap.command(&format!("SELECT {}", mailbox(folder)));
                imap.command(&format!("UID STORE {uids} {sign}FLAGS.SILENT ({flags})"));
                imap.logout();
            }
        }
    }

    /// Expunges the messages `uids` (a UID set) of `folder`.
    pub fn expunge(self, address: &str, folder: &str, uids: &str) {
        match self {
            Server::Dovecot => {
                doveadm(&["expunge", "-u", address, "mailbox", folder, "uid", uids]);
            }
            Server::Cyrus => {
                let mut imap = self.session(address);
                imap.command(&format!("SELECT {}", mailbox(folder)));
                imap.command(&format!("UID STORE {uids} +FLAGS.SILENT (\\Deleted)"));
                imap.command(&format!("UID EXPUNGE {uids}"));
                imap.logout();
            }
        }
    }

    /// Creates and subscribes `folder`. `special_use` (e.g. `\Archive`) gives it that role:
    /// Dovecot's config gives the role by name, Cyrus is told with CREATE-SPECIAL-USE.
    pub fn create(self, address: &str, folder: &str, special_use: Option<&str>) {
        match self {
            Server::Dovecot => {
                doveadm(&["mailbox", "create", "-u", address, "-s", folder]);
            }
            Server::Cyrus => {
                let mut imap = self.session(address);
                let name = mailbox(folder);
                match special_use {
                    Some(u) => imap.command(&format!("CREATE {name} (USE ({u}))")),
                    None => imap.command(&format!("CREATE {name}")),
                };
                imap.command(&format!("SUBSCRIBE {name}"));
                imap.logout();
            }
        }
    }

    /// Deletes `folder` (which has no subfolders).
    pub fn delete(self, address: &str, folder: &str) {
        match self {
            Server::Dovecot => {
                doveadm(&["mailbox", "delete", "-u", address, folder]);
            }
            Server::Cyrus => {
                let mut imap = self.session(address);
                let name = mailbox(folder);
                // Cyrus refuses to delete a folder with a special use ("NO SPECIAL-USE flag
                // conflict", specialuse_protect): a client removes the use first
                if let Err(resp) = imap.try_command(&format!("DELETE {name}")) {
                    assert!(resp.contains("SPECIAL-USE"), "DELETE {name} failed:\n{resp}");
                    imap.command(&format!("SETMETADATA {name} (/private/specialuse NIL)"));
                    imap.command(&format!("DELETE {name}"));
                }
                let _ = imap.try_command(&format!("UNSUBSCRIBE {name}"));
                imap.logout();
            }
        }
    }

    /// How many refused logins of `address` the server has logged, where it has a log to
    /// read: Dovecot writes one to dovecot.log; Cyrus logs only to syslog, which the stack
    /// does not run, so it says `None`.
    pub fn refused_logins(self, address: &str) -> Option<usize> {
        match self {
            Server::Dovecot => {
                let log = stack_dir().join("dovecot/dovecot.log");
                let needle = format!("user=<{address}>");
                Some(
                    std::fs::read_to_string(log)
                        .unwrap_or_default()
                        .lines()
                        .filter(|l| l.contains(&needle) && l.contains("auth failed"))
                        .count(),
                )
            }
            Server::Cyrus => None,
        }
    }

    /// An IMAP session as `address` on the plain port (Cyrus; Dovecot's verbs use doveadm).
    pub fn session(self, address: &str) -> RawImap {
        RawImap::login_on(self.imap_port(), address, &password_of(address))
    }
}

impl std::fmt::Display for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// doveadm on the stack's Dovecot.
pub fn doveadm(args: &[&str]) -> String {
    ensure_stack();
    let conf = stack_dir().join("dovecot/dovecot.conf");
    let out = Command::new("doveadm").arg("-c").arg(conf).args(args).stdin(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "doveadm {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The password the stack keeps for `address` (dovecot/users/ADDRESS: `address:{PLAIN}pw`).
pub fn password_of(address: &str) -> String {
    let path = stack_dir().join("dovecot/users").join(address.to_ascii_lowercase());
    let line = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("no user file {}: {e}", path.display()));
    line.trim_end().split_once("{PLAIN}").map(|(_, pw)| pw.to_string()).expect("a {PLAIN} password")
}

/// `folder` (UTF-8, `/` separated) as a quoted IMAP mailbox name in modified UTF-7.
fn mailbox(folder: &str) -> String {
    imap_quote(&mutf7(folder))
}

/// RFC 3501 modified UTF-7.
fn mutf7(name: &str) -> String {
    use base64::Engine;
    let mut out = String::new();
    let mut run: Vec<u16> = Vec::new();
    let flush = |run: &mut Vec<u16>, out: &mut String| {
        if !run.is_empty() {
            let bytes: Vec<u8> = run.iter().flat_map(|u| u.to_be_bytes()).collect();
            let b64 = base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes).replace('/', ",");
            out.push('&');
            out.push_str(&b64);
            out.push('-');
            run.clear();
        }
    };
    for ch in name.chars() {
        if (' '..='~').contains(&ch) {
            flush(&mut run, &mut out);
            if ch == '&' {
                out.push_str("&-");
            } else {
                out.push(ch);
            }
        } else {
            let mut buf = [0u16; 2];
            run.extend_from_slice(ch.encode_utf16(&mut buf));
        }
    }
    flush(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn modified_utf7() {
        assert_eq!(super::mutf7("Angebote/Bäder & Küchen"), "Angebote/B&AOQ-der &- K&APw-chen");
        assert_eq!(super::mutf7("INBOX"), "INBOX");
    }
}
