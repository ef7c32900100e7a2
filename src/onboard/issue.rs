//! Making a new phone's one-time setup link: the profile for the device, sealed under a fresh
//! link and kept by the store until it is fetched once or expires. The one place with I/O in
//! this module (one store write), shared by `postbote device add` and the console's phones page.

use super::{Account, link, profile};
use crate::config::Config;
use crate::store::Store;

/// A setup link that was made: its URL and when it stops working (unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub url: String,
    pub expires_at: i64,
}

/// Store the profile of device `id` (`name`, `token`) behind a new one-time link; `None`
/// when there is no HTTP listener to serve it (`[jmap] enabled = false`).
pub fn setup_link(
    config: &Config,
    store: &Store,
    account: &Account,
    id: i64,
    name: &str,
    token: &str,
) -> crate::store::Result<Option<Issued>> {
    if !config.jmap.enabled {
        return Ok(None);
    }
    let mobileconfig = profile::mobileconfig(account, name, token);
    let secret = link::new_link();
    let now = crate::store::now();
    let expires_at = now + config.phones.setup_link_ttl.as_secs() as i64;
    let sealed = link::seal(&secret, mobileconfig.as_bytes());
    store.setup_links().add(id, &link::hash(&secret), &sealed, now, expires_at)?;
    Ok(Some(Issued { url: format!("{}/setup/{secret}", config.jmap.public_url), expires_at }))
}
