//! What goes to a push subscription's URL (RFC 8620 section 7.2): the subscription id's form,
//! the `PushVerification` and `StateChange` bodies, and the Web Push content coding that
//! encrypts them when the phone gave keys (RFC 8291 on top of RFC 8188's `aes128gcm`).
//!
//! The encryption: an ephemeral P-256 key per message, ECDH with the phone's public key,
//! HKDF-SHA256 keyed with the phone's auth secret to the input key material, then HKDF with a
//! random 16-byte salt to the AES-128-GCM key and nonce; the body is one record (the header
//! `salt | rs | idlen | our public key`, then the sealed plaintext with its 0x02 delimiter).
//! All of it from `aws-lc-rs`. Pure: no I/O, no clock; both the data-type file (`push`) and the
//! delivery (`push_delivery`) import it, and it imports nothing of `jmap`.

use aws_lc_rs::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::agreement::{self, ECDH_P256, PrivateKey, UnparsedPublicKey};
use aws_lc_rs::hmac;
use serde_json::{Value, json};

/// A subscription's JMAP id: `W` and its row id.
pub fn subscription_id(id: i64) -> String {
    format!("W{id}")
}

pub fn parse_subscription_id(s: &str) -> Option<i64> {
    let rest = s.strip_prefix('W')?;
    if rest.is_empty() || rest.len() > 18 || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    rest.parse().ok()
}

/// The body that proves the client controls the URL (RFC 8620 section 7.2.2).
pub fn verification(id: i64, code: &str) -> Value {
    json!({"@type": "PushVerification", "pushSubscriptionId": subscription_id(id), "verificationCode": code})
}

/// A StateChange (RFC 8620 section 7.1): account id -> type name -> state.
pub fn state_change(changed: serde_json::Map<String, Value>) -> Value {
    json!({"@type": "StateChange", "changed": changed})
}

/// The phone's public key (65 bytes, uncompressed P-256) and auth secret (16 bytes) as RFC
/// 8291 requires them; the reason when not.
pub fn check_keys(p256dh: &[u8], auth: &[u8]) -> Result<(), &'static str> {
    if p256dh.len() != 65 || p256dh[0] != 4 {
        return Err("keys.p256dh must be an uncompressed P-256 public key (65 bytes, base64url)");
    }
    if auth.len() != 16 {
        return Err("keys.auth must be 16 bytes (base64url)");
    }
    // A point not on the curve fails the key agreement: find out now, not at the first push.
    let probe = PrivateKey::generate(&ECDH_P256).map_err(|_| "the server could not make a key")?;
    agreement::agree(&probe, UnparsedPublicKey::new(&ECDH_P256, p256dh), (), |_| Ok(()))
        .map_err(|_| "keys.p256dh is not a point on P-256")
}

#[derive(Debug, thiserror::Error)]
#[error("web push encryption failed: {0}")]
pub struct EncryptError(&'static str);

/// Encrypt `plaintext` for the phone with a fresh key and salt (RFC 8291).
pub fn encrypt(plaintext: &[u8], p256dh: &[u8], auth: &[u8]) -> Result<Vec<u8>, EncryptError> {
    let key = PrivateKey::generate(&ECDH_P256).map_err(|_| EncryptError("no ephemeral key"))?;
    let mut salt = [0u8; 16];
    aws_lc_rs::rand::fill(&mut salt).map_err(|_| EncryptError("no random salt"))?;
    encrypt_with(&key, salt, plaintext, p256dh, auth)
}

/// The record size we announce: RFC 8291's 4096, or more when one record needs it.
fn record_size(plaintext_len: usize) -> u32 {
    (plaintext_len + 1 + 16).max(4096) as u32
}

/// HMAC-SHA256(key, parts...).
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut ctx = hmac::Context::with_key(&hmac::Key::new(hmac::HMAC_SHA256, key));
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.sign().as_ref());
    out
}

/// HKDF-SHA256 (RFC 5869) for outputs of at most one hash length, which is all RFC 8291 needs.
fn hkdf(salt: &[u8], ikm: &[u8], info: &[u8], len: usize) -> Vec<u8> {
    let prk = hmac_sha256(salt, &[ikm]);
    hmac_sha256(&prk, &[info, &[1]])[..len].to_vec()
}

/// The message with a given ephemeral key and salt: [`encrypt`] with its randomness fixed, so
/// that the RFC's example can be reproduced to the byte.
pub fn encrypt_with(
    key: &PrivateKey,
    salt: [u8; 16],
    plaintext: &[u8],
    p256dh: &[u8],
    auth: &[u8],
) -> Result<Vec<u8>, EncryptError> {
    let as_public = key.compute_public_key().map_err(|_| EncryptError("no public key"))?;
    let as_public = as_public.as_ref();
    let ecdh = agreement::agree(key, UnparsedPublicKey::new(&ECDH_P256, p256dh), EncryptError("bad p256dh"), |s| {
        Ok(s.to_vec())
    })?;
    // RFC 8291 section 3.4: the key info binds both public keys.
    let key_info = [b"WebPush: info\0".as_slice(), p256dh, as_public].concat();
    let ikm = hkdf(auth, &ecdh, &key_info, 32);
    let cek = hkdf(&salt, &ikm, b"Content-Encoding: aes128gcm\0", 16);
    let nonce = hkdf(&salt, &ikm, b"Content-Encoding: nonce\0", 12);
    let sealing = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &cek).map_err(|_| EncryptError("bad content key"))?);
    let mut record = Vec::with_capacity(plaintext.len() + 17);
    record.extend_from_slice(plaintext);
    // The last (and only) record's padding delimiter, without further padding.
    record.push(2);
    let nonce = Nonce::try_assume_unique_for_key(&nonce).map_err(|_| EncryptError("bad nonce"))?;
    sealing.seal_in_place_append_tag(nonce, Aad::empty(), &mut record).map_err(|_| EncryptError("sealing"))?;
    // RFC 8188 section 2.1: salt, record size, key id length, key id (our public key).
    let mut out = Vec::with_capacity(16 + 4 + 1 + as_public.len() + record.len());
    out.extend_from_slice(&salt);
    out.extend_from_slice(&record_size(plaintext.len()).to_be_bytes());
    out.push(as_public.len() as u8);
    out.extend_from_slice(as_public);
    out.extend_from_slice(&record);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    fn b64(s: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(s).unwrap()
    }

    // RFC 8291 section 5 and Appendix A.
    const PLAINTEXT: &str = "When I grow up, I want to be a watermelon";
    const UA_PUBLIC: &str = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
    const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";
    const AS_PRIVATE: &str = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
    const AS_PUBLIC: &str = "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8";
    const SALT: &str = "DGv6ra1nlYgDCS1FRnbzlw";
    const SHARED: &str = "kyrL1jIIOHEzg3sM2ZWRHDRB62YACZhhSlknJ672kSs";
    const IKM: &str = "S4lYMb_L0FxCeq0WhDx813KgSYqU26kOyzWUdsXYyrg";
    const CEK: &str = "oIhVW04MRdy2XN9CiKLxTg";
    const NONCE: &str = "4h_95klXJ5E_qnoN";
    const BODY: &str = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN";

    #[test]
    fn rfc_8291_example_to_the_byte() {
        let key = PrivateKey::from_private_key(&ECDH_P256, &b64(AS_PRIVATE)).unwrap();
        assert_eq!(key.compute_public_key().unwrap().as_ref(), b64(AS_PUBLIC).as_slice());
        let salt: [u8; 16] = b64(SALT).try_into().unwrap();
        let body = encrypt_with(&key, salt, PLAINTEXT.as_bytes(), &b64(UA_PUBLIC), &b64(AUTH)).unwrap();
        assert_eq!(URL_SAFE_NO_PAD.encode(&body), BODY);
    }

    #[test]
    fn rfc_8291_intermediate_values() {
        let key = PrivateKey::from_private_key(&ECDH_P256, &b64(AS_PRIVATE)).unwrap();
        let ecdh =
            agreement::agree(&key, UnparsedPublicKey::new(&ECDH_P256, b64(UA_PUBLIC)), (), |s| Ok(s.to_vec())).unwrap();
        assert_eq!(ecdh, b64(SHARED));
        let info = [b"WebPush: info\0".as_slice(), &b64(UA_PUBLIC), &b64(AS_PUBLIC)].concat();
        let ikm = hkdf(&b64(AUTH), &ecdh, &info, 32);
        assert_eq!(ikm, b64(IKM));
        assert_eq!(hkdf(&b64(SALT), &ikm, b"Content-Encoding: aes128gcm\0", 16), b64(CEK));
        assert_eq!(hkdf(&b64(SALT), &ikm, b"Content-Encoding: nonce\0", 12), b64(NONCE));
    }

    #[test]
    fn fresh_messages_differ_and_announce_one_record() {
        let (p, a) = (b64(UA_PUBLIC), b64(AUTH));
        let x = encrypt(b"{}", &p, &a).unwrap();
        let y = encrypt(b"{}", &p, &a).unwrap();
        assert_ne!(x, y, "a fresh key and salt per message");
        assert_eq!(&x[16..21], &[0, 0, 16, 0, 65]);
        assert_eq!(x.len(), 16 + 4 + 1 + 65 + 2 + 1 + 16);
        let big = vec![b'x'; 5000];
        assert_eq!(&encrypt(&big, &p, &a).unwrap()[16..20], &(5017u32).to_be_bytes());
    }

    #[test]
    fn keys_are_checked() {
        assert!(check_keys(&b64(UA_PUBLIC), &b64(AUTH)).is_ok());
        assert!(check_keys(&b64(UA_PUBLIC)[..64], &b64(AUTH)).is_err());
        assert!(check_keys(&b64(UA_PUBLIC), &[0; 15]).is_err());
        let mut off_curve = b64(UA_PUBLIC);
        off_curve[40] ^= 1;
        assert!(check_keys(&off_curve, &b64(AUTH)).is_err());
    }

    #[test]
    fn subscription_ids_round_trip() {
        assert_eq!(parse_subscription_id(&subscription_id(42)), Some(42));
        for bad in ["", "W", "M1", "W-1", "W1x", "W1234567890123456789"] {
            assert_eq!(parse_subscription_id(bad), None, "{bad}");
        }
    }
}
