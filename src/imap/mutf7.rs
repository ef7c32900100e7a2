//! Folder names on the wire are modified UTF-7 (RFC 3501 5.1.3): `Entw&APw-rfe` is `Entwürfe`.
//!
//! Every command that names a folder (EXAMINE, SELECT, STATUS, APPEND, CREATE, ...) takes the
//! encoded form; people and the store see the decoded one. [`encode`] is the only way from one
//! to the other in postbote, so a non-ASCII name never reaches the server as raw UTF-8.

use base64::Engine;
use base64::alphabet::Alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

fn engine() -> GeneralPurpose {
    let alphabet =
        Alphabet::new("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").expect("valid alphabet");
    GeneralPurpose::new(
        &alphabet,
        GeneralPurposeConfig::new().with_encode_padding(false).with_decode_padding_mode(DecodePaddingMode::RequireNone),
    )
}

/// Decode a name as the server sent it; a malformed name is returned as it is.
pub fn decode(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let Some(dash) = after.find('-') else { return s.to_string() };
        let chunk = &after[..dash];
        if chunk.is_empty() {
            out.push('&');
        } else {
            let Ok(bytes) = engine().decode(chunk) else { return s.to_string() };
            if bytes.len() % 2 != 0 {
                return s.to_string();
            }
            let units: Vec<u16> = bytes.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
            match String::from_utf16(&units) {
                Ok(t) => out.push_str(&t),
                Err(_) => return s.to_string(),
            }
        }
        rest = &after[dash + 1..];
    }
    out.push_str(rest);
    out
}

/// Encode a name for the wire.
pub fn encode(s: &str) -> String {
    let mut out = String::new();
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if !pending.is_empty() {
            let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
            out.push('&');
            out.push_str(&engine().encode(bytes));
            out.push('-');
            pending.clear();
        }
    };
    for c in s.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut pending, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut pending, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modified_utf7_round_trips_german_names() {
        for (wire, name) in [
            ("INBOX", "INBOX"),
            ("Entw&APw-rfe", "Entwürfe"),
            ("Gel&APY-scht", "Gelöscht"),
            ("Projekte/Stra&AN8-e", "Projekte/Straße"),
            ("Tom &- Jerry", "Tom & Jerry"),
            ("&ZeVnLIqe-", "日本語"),
        ] {
            assert_eq!(decode(wire), name, "decode {wire}");
            assert_eq!(encode(name), wire, "encode {name}");
        }
        assert_eq!(decode("broken&AP"), "broken&AP", "malformed names pass through");
    }
}
