//! The one-time link to a phone's setup profile, and the profile sealed under it.
//!
//! The link's secret part is 32 random bytes, base64url (43 characters). The store keeps only
//! its SHA-256 ([`hash`]), to find the row, and the profile sealed with AES-256-GCM under a key
//! derived from the secret with HKDF-SHA256 ([`seal`]): the profile holds the device token in
//! clear, and a copy of the store (or a backup of it) must reveal neither the token nor a
//! working link. Only whoever holds the link can [`open`] what it sealed. The sealed form is
//! a random 12-byte nonce, then the ciphertext and its tag.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
use base64::Engine;
use sha2::{Digest, Sha256};

/// Binds the derived key to this use; a new scheme gets a new label.
const SALT: &[u8] = b"postbote setup link v1";
const INFO: &[u8] = b"setup profile";

/// A fresh link secret (43 characters, URL-safe).
pub fn new_link() -> String {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).expect("the system's random source");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether `s` has the shape of a link secret (before any store lookup).
pub fn looks_like_link(s: &str) -> bool {
    s.len() == 43 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The hex SHA-256 of a link secret, as the store keeps it.
pub fn hash(link: &str) -> String {
    hex::encode(Sha256::digest(link.as_bytes()))
}

fn key(link: &str) -> LessSafeKey {
    let okm = Salt::new(HKDF_SHA256, SALT).extract(link.as_bytes());
    let okm = okm.expand(&[INFO], &AES_256_GCM).expect("32 bytes are within HKDF's limit");
    LessSafeKey::new(UnboundKey::from(okm))
}

/// `plain` sealed under a key derived from `link`.
pub fn seal(link: &str, plain: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    aws_lc_rs::rand::fill(&mut nonce).expect("the system's random source");
    let mut data = plain.to_vec();
    key(link)
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(INFO), &mut data)
        .expect("AES-GCM seals any length we hand it");
    [nonce.as_slice(), &data].concat()
}

/// What [`seal`] sealed under `link`, or None for another link or altered bytes.
pub fn open(link: &str, sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE_LEN {
        return None;
    }
    let (nonce, data) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut data = data.to_vec();
    let plain = key(link).open_in_place(nonce, Aad::from(INFO), &mut data).ok()?;
    Some(plain.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_opens_only_with_its_link() {
        let (a, b) = (new_link(), new_link());
        assert!(looks_like_link(&a) && a != b);
        assert!(!looks_like_link("short") && !looks_like_link(&format!("{}/", &a[..42])));
        assert_eq!(hash(&a).len(), 64);
        let sealed = seal(&a, b"<plist>TOKEN</plist>");
        assert!(!sealed.windows(5).any(|w| w == b"TOKEN"), "nothing in clear");
        assert_ne!(sealed, seal(&a, b"<plist>TOKEN</plist>"), "a fresh nonce each time");
        assert_eq!(open(&a, &sealed).as_deref(), Some(b"<plist>TOKEN</plist>".as_slice()));
        assert_eq!(open(&b, &sealed), None);
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(open(&a, &altered), None);
        assert_eq!(open(&a, &sealed[..5]), None);
    }
}
