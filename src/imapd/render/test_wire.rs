//! Test helpers for IMAP wire bytes, shared by the unit tests here and by the integration test
//! `tests/it/imapd_render.rs` (which includes this file with `#[path]`, since an integration
//! test cannot see `#[cfg(test)]` code and these are no part of the library's job): item names
//! of a FETCH read by imap-codec's own parser, a FETCH response as imap-codec writes it, the one
//! accepted difference from Dovecot's wire form, and SEARCH criteria with their non-ASCII
//! strings sent as literals. Only imap-codec is used, so the file builds in both places.

use std::num::NonZeroU32;

use imap_codec::decode::Decoder;
use imap_codec::encode::Encoder;
use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::core::Vec1;
use imap_codec::imap_types::fetch::{MacroOrMessageDataItemNames, MessageDataItem, MessageDataItemName};
use imap_codec::imap_types::response::{Data, Response};
use imap_codec::imap_types::search::SearchKey;
use imap_codec::{CommandCodec, ResponseCodec};

/// The item names of `FETCH 1 (<spec>)`, read by imap-codec's own parser.
pub fn items(spec: &str) -> Vec<MessageDataItemName<'static>> {
    let line = format!("a FETCH 1 ({spec})\r\n");
    let (_, cmd) = CommandCodec::default().decode_static(line.as_bytes()).unwrap_or_else(|e| panic!("{spec}: {e:?}"));
    match cmd.body {
        CommandBody::Fetch {
            macro_or_item_names: MacroOrMessageDataItemNames::MessageDataItemNames(names), ..
        } => names,
        other => panic!("not a FETCH of items: {other:?}"),
    }
}

/// `* seq FETCH (items)\r\n` as imap-codec writes it.
pub fn wire(seq: u32, items: Vec<MessageDataItem<'static>>) -> Vec<u8> {
    let items = Vec1::try_from(items).expect("at least one item");
    let resp = Response::Data(Data::Fetch { seq: NonZeroU32::new(seq).expect("a sequence number"), items });
    ResponseCodec::default().encode(&resp).dump()
}

/// The differences between imap-codec's and Dovecot's wire form that are accepted: imap-codec
/// writes the body type of a text part as `"TEXT"` and of a message/rfc822 part as `"MESSAGE"
/// "RFC822"`, where Dovecot keeps the letter case of the header. Both sides are put in capitals
/// there (IMAP reads them case-insensitively).
pub fn accepted(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for (from, to) in
        [(&b"(\"text\" "[..], &b"(\"TEXT\" "[..]), (b"(\"message\" \"rfc822\" ", b"(\"MESSAGE\" \"RFC822\" ")]
    {
        let mut i = 0;
        while i + from.len() <= out.len() {
            if out[i..i + from.len()].eq_ignore_ascii_case(from) {
                out[i..i + from.len()].copy_from_slice(to);
                i += from.len();
            } else {
                i += 1;
            }
        }
    }
    out
}

/// `criteria` with every quoted string beyond ASCII sent as a literal (LITERAL+), as a client
/// must send it.
pub fn with_literals(criteria: &str) -> String {
    let mut out = String::new();
    let mut parts = criteria.split('"');
    out.push_str(parts.next().unwrap_or_default());
    while let (Some(quoted), Some(after)) = (parts.next(), parts.next()) {
        if quoted.is_ascii() {
            out.push_str(&format!("\"{quoted}\""));
        } else {
            out.push_str(&format!("{{{}+}}\r\n{quoted}", quoted.len()));
        }
        out.push_str(after);
    }
    out
}

/// The keys of `SEARCH <criteria>` (read by imap-codec's parser), as one key: several are
/// their AND.
pub fn search_key(criteria: &str) -> SearchKey<'static> {
    let line = format!("a SEARCH {}\r\n", with_literals(criteria));
    let (_, cmd) =
        CommandCodec::default().decode_static(line.as_bytes()).unwrap_or_else(|e| panic!("{criteria}: {e:?}"));
    let CommandBody::Search { criteria: keys, .. } = cmd.body else { panic!("not a SEARCH: {criteria}") };
    let mut keys = keys.into_inner();
    if keys.len() == 1 { keys.remove(0) } else { SearchKey::And(Vec1::try_from(keys).expect("at least one key")) }
}
