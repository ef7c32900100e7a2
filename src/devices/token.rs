//! Device tokens: 32 random bytes, base64url, shown once by `postbote device add`. The store
//! keeps only the hex SHA-256, so a copy of the store lets nobody in, and a lookup by hash
//! needs no constant-time compare (a guess's hash not being found says nothing of a token).

use base64::Engine;
use sha2::{Digest, Sha256};

/// A fresh token and its hash as stored.
pub fn new_token() -> (String, String) {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_token(&token);
    (token, hash)
}

/// The hex SHA-256 of a token, as the store keeps it.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_fresh_and_hash_as_stored() {
        let (a, ha) = new_token();
        let (b, _) = new_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43, "32 bytes in base64url without padding");
        assert_eq!(ha, hash_token(&a));
        assert_eq!(ha.len(), 64);
    }
}
