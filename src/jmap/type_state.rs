//! The state string of each data type, as `/get` gives it and as a push (EventSource or a
//! push subscription) announces it: `<epoch>-<modseq>` from the store, and for Identity the
//! config's identities hashed before it (`<hash>.<epoch>-<modseq>`), so an address added in
//! the config is a new Identity state. Below both the Identity methods and the transport, so
//! a push carries exactly the state `Identity/get` returns.

use serde_json::json;
use sha2::{Digest, Sha256};

use super::ids;
use crate::config::Config;
use crate::store::ObjType;
use crate::store::changes::AccountStates;

/// What the config contributes to the Identity state of `mailbox`: the identities' ids
/// (`I0`, `I1`, … in address order), addresses and names.
pub fn identity_hash(config: &Config, mailbox: &str) -> String {
    let mut h = Sha256::new();
    if let Some(m) = config.mailbox(mailbox) {
        for (i, a) in m.addresses.iter().enumerate() {
            h.update(json!(format!("I{i}")).to_string());
            h.update(json!(a).to_string());
            h.update(json!(m.name).to_string());
        }
    }
    hex::encode(&h.finalize()[..8])
}

/// The Identity state from the store's plain `<epoch>-<modseq>`.
pub fn identity(config: &Config, mailbox: &str, plain: &str) -> String {
    format!("{}.{plain}", identity_hash(config, mailbox))
}

/// The state of `ty` in `mailbox`'s account with store states `st`.
pub fn of(config: &Config, mailbox: &str, st: &AccountStates, ty: ObjType) -> String {
    let plain = ids::state(&st.epoch, st.modseq(ty));
    if ty == ObjType::Identity { identity(config, mailbox, &plain) } else { plain }
}
