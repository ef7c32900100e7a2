//! Who is asking: an authenticated device and the accounts it may use, as plain data.
//!
//! `auth` (transport) makes an [`Authed`] from the `Authorization` header; the methods read it
//! through their `Ctx` and never see a header. It lives below both so that request handling
//! does not depend on HTTP.

/// A JMAP account a device may use: its own mailbox or a shared one it was granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub account_id: String,
    pub mailbox: String,
    pub personal: bool,
}

/// An authenticated device and the accounts it may see (and nothing else).
#[derive(Debug, Clone)]
pub struct Authed {
    pub device: i64,
    /// The device's own mailbox id (the Basic user name, the session's `username`).
    pub username: String,
    pub accounts: Vec<Access>,
}

impl Authed {
    /// The mailbox behind a JMAP account id, if this device may use it.
    pub fn mailbox(&self, account_id: &str) -> Option<&str> {
        self.accounts.iter().find(|a| a.account_id == account_id).map(|a| a.mailbox.as_str())
    }
}
