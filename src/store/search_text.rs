//! The search text as the store keeps it: LZ4-packed, searched through one SQL function.
//!
//! Each message's decoded body text (`message::Parsed::search_text`: lowercased, white space
//! squashed) is what JMAP `text` and `body` filters look in. Kept verbatim it doubled what a
//! full sync writes for text mail: every byte went through the log and then the file a second
//! time. It is kept packed instead ([`pack`], LZ4 with its length in front, done on the mirror's
//! parsing thread, not under the write lock), and a search unpacks it on the fly inside SQLite:
//! `search_text_contains(message_text.body, needle)` ([`register`]d on every connection)
//! answers exactly what `instr(body, needle) > 0` answered on the verbatim text, so the
//! searches find the same messages. LZ4 unpacks at several GB/s, so a search over a whole
//! mailbox costs about what reading the verbatim text did.
//!
//! A store from before keeps its text verbatim until migration 0014 packs it ([`pack_stored`]);
//! the function reads a verbatim value too, so nothing depends on the order of the two.

use rusqlite::functions::FunctionFlags;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, params};

use super::Result;

/// The SQL function a search calls: `search_text_contains(stored, needle)`.
pub const CONTAINS_FN: &str = "search_text_contains";

/// The largest text [`unpack`] accepts (more than any search text: at most
/// `message::SEARCH_CHARS` characters of at most 4 bytes), so a damaged length prefix cannot
/// make a search allocate without bound.
const MAX_TEXT_BYTES: usize = crate::message::SEARCH_CHARS * 4 + 16;

/// The stored form of a search text.
pub fn pack(text: &str) -> Vec<u8> {
    lz4_flex::compress_prepend_size(text.as_bytes())
}

/// The text a stored value holds: a packed one unpacked, a verbatim one (from before 0014) as
/// it is. None for a value that is neither (damaged): it matches no search.
fn unpack(stored: ValueRef<'_>) -> Option<std::borrow::Cow<'_, [u8]>> {
    match stored {
        ValueRef::Text(t) => Some(t.into()),
        ValueRef::Blob(b) => {
            let len = u32::from_le_bytes(b.get(..4)?.try_into().ok()?) as usize;
            if len > MAX_TEXT_BYTES {
                return None;
            }
            lz4_flex::decompress_size_prepended(b).ok().map(Into::into)
        }
        _ => None,
    }
}

/// The text of a stored value, for a reader that matches itself (the IMAP server's SEARCH).
pub fn text_of(stored: ValueRef<'_>) -> Option<String> {
    unpack(stored).map(|t| String::from_utf8_lossy(&t).into_owned())
}

/// Whether the stored search text contains `needle` (bytes of UTF-8; an empty needle is in
/// every text, as with `instr`).
pub fn contains(stored: ValueRef<'_>, needle: &[u8]) -> bool {
    let Some(text) = unpack(stored) else { return false };
    memchr::memmem::find(&text, needle).is_some()
}

/// Make [`CONTAINS_FN`] known to `conn` (every connection of the store gets it).
pub(crate) fn register(conn: &Connection) -> rusqlite::Result<()> {
    conn.create_scalar_function(
        CONTAINS_FN,
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let needle = match ctx.get_raw(1) {
                ValueRef::Text(t) | ValueRef::Blob(t) => t,
                _ => return Ok(false),
            };
            Ok(contains(ctx.get_raw(0), needle))
        },
    )
}

/// Pack every search text still stored verbatim (migration 0014), in the migration's
/// transaction.
pub(crate) fn pack_stored(tx: &rusqlite::Transaction<'_>) -> Result<()> {
    let mut read = tx.prepare("SELECT message_id, body FROM message_text WHERE typeof(body) = 'text'")?;
    let mut write = tx.prepare("UPDATE message_text SET body = ?2 WHERE message_id = ?1")?;
    let mut rows = read.query([])?;
    let mut n = 0;
    while let Some(r) = rows.next()? {
        let (id, body): (i64, String) = (r.get(0)?, r.get(1)?);
        write.execute(params![id, pack(&body)])?;
        n += 1;
    }
    if n > 0 {
        tracing::info!(messages = n, "search text packed (once, at this upgrade)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_and_verbatim_texts_answer_as_instr_did() {
        let text = "grüße aus köln, bitte um rückruf wegen der fliesen. ".repeat(40);
        let packed = pack(&text);
        assert!(packed.len() < text.len() / 4, "{} of {}", packed.len(), text.len());
        for stored in [ValueRef::Blob(&packed), ValueRef::Text(text.as_bytes())] {
            assert!(contains(stored, "rückruf wegen".as_bytes()));
            assert!(contains(stored, b""), "an empty needle is everywhere, as with instr");
            assert!(!contains(stored, "rückrufe".as_bytes()));
            assert!(!contains(stored, "RÜCKRUF".as_bytes()), "the needle comes lowercased");
        }
        assert!(contains(ValueRef::Blob(&pack("")), b""));
        assert!(!contains(ValueRef::Blob(&pack("")), b"a"));
    }

    /// A store from before 0014 (its search text verbatim) is packed when opened again, and a
    /// search finds the same messages before and after.
    #[test]
    fn migration_0014_packs_the_verbatim_texts() {
        use crate::store::Store;
        use crate::store::email_query::EmailFilter;
        use crate::store::messages::NewMessage;
        let (dir, s) = crate::store::test_store();
        let f = s.folders().ensure("becker", "INBOX", Some("inbox")).unwrap();
        let msg = |uid: u32, body: &str| NewMessage {
            uid: Some(uid),
            modseq: None,
            flags: vec![],
            internal_date: 1_790_000_000,
            raw: format!("From: k@kunde.test\r\nSubject: s{uid}\r\n\r\n{body}\r\n").into_bytes(),
        };
        let ids = s
            .messages()
            .insert("becker", f.id, vec![msg(1, "Bitte um RÜCKRUF"), msg(2, "Angebot   Fliesen")], None)
            .unwrap();
        let find = |s: &Store, needle: &str| crate::store::tests::matching(s, &EmailFilter::Body(needle.into()));
        let kinds = |s: &Store| -> Vec<String> {
            s.read(|c| {
                let mut st = c.prepare("SELECT typeof(body) FROM message_text ORDER BY message_id")?;
                Ok(st.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?)
            })
            .unwrap()
        };
        assert_eq!(kinds(&s), ["blob", "blob"], "new texts are stored packed");
        assert_eq!(find(&s, "rückruf"), [ids[0]]);
        // Back to the form of before: verbatim text, schema 13.
        s.write(|t| {
            t.tx.execute_batch(
                "UPDATE message_text SET body = CASE message_id WHEN 1 THEN 'bitte um rückruf' ELSE 'angebot fliesen' END;
                 PRAGMA user_version = 13;",
            )?;
            Ok(())
        })
        .unwrap();
        assert_eq!(kinds(&s), ["text", "text"]);
        assert_eq!(find(&s, "angebot fliesen"), [ids[1]], "a verbatim text is searched as before");
        drop(s);
        let s = Store::open(&dir.path().join("s.sqlite")).unwrap();
        assert_eq!(kinds(&s), ["blob", "blob"]);
        assert_eq!(find(&s, "RÜCKRUF"), [ids[0]]);
        assert_eq!(find(&s, "angebot fliesen"), [ids[1]]);
        assert_eq!(find(&s, "fliesen bitte"), Vec::<i64>::new());
        assert_eq!(find(&s, ""), ids);
    }

    #[test]
    fn a_damaged_value_matches_nothing() {
        let mut bad = pack("angebot");
        bad[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(!contains(ValueRef::Blob(&bad), b"angebot"));
        assert!(!contains(ValueRef::Blob(b"\x07\x00\x00\x00xx"), b"x"));
        assert!(!contains(ValueRef::Blob(b"ab"), b""));
        assert!(!contains(ValueRef::Null, b""));
    }
}
