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

/// Unit tests' config and store: mailbox "becker" and, with `with_info`, the shared "info",
/// each named as its id, with the config file and password file in `dir` and the accounts'
/// rows. Built here rather than through `app`, which stands beside this module;
/// `app::for_test` is this plus `App::new`.
#[cfg(test)]
pub(crate) fn for_test(dir: &std::path::Path, with_info: bool) -> (crate::config::Config, crate::store::Store) {
    let pw = dir.join("pw");
    std::fs::write(&pw, "secret\n").unwrap();
    let mailbox = |id: &str, kind: &str, hosted: &str| {
        format!(
            "[[mailbox]]\nid = \"{id}\"\nkind = \"{kind}\"\nname = \"{id}\"\naddresses = [\"{id}@bau-firma.test\"]\n\
             hosted_address = \"{hosted}\"\npassword_file = \"{}\"\n",
            pw.display()
        )
    };
    let mut text = format!(
        "[agent]\ndata_dir = \"{}\"\n[imap]\nhost = \"localhost\"\n[relay]\nhost = \"localhost\"\n{}",
        dir.display(),
        mailbox("becker", "employee", "b@h.test")
    );
    if with_info {
        text += &mailbox("info", "shared", "i@h.test");
    }
    let path = dir.join("c.toml");
    std::fs::write(&path, text).unwrap();
    let config = crate::config::Config::load(&path).unwrap();
    let store = crate::store::Store::open(&config.store_path()).unwrap();
    store.ensure_accounts(config.mailboxes.iter().map(|m| m.id.as_str())).unwrap();
    (config, store)
}
