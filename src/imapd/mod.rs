//! The IMAP server for phones' own mail apps. This part holds the two pure pieces the
//! session calls: `render` (what a FETCH answers for one message) and `search` (whether a
//! message matches a SEARCH key). The listener, session, commands and UIDs live beside them.

pub mod render;
pub mod search;
