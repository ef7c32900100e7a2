//! The server's folder list and the one mapping from LIST attributes to folder roles.
//!
//! Roles are SPECIAL-USE attributes (RFC 6154: `\Sent`, `\Drafts`, `\Trash`, `\Junk`,
//! `\Archive`, `\All`, `\Flagged`; RFC 8457: `\Important`) in JMAP spelling (`sent`, ...), and
//! `inbox` for INBOX. A role is never guessed from a folder's name, and a name the server
//! marks `\Noselect` or `\NonExistent` has no role: it is a node in the hierarchy, not a folder
//! anyone can read or append to. The mirror, the write-back and the Sent copy all ask here;
//! the mirror also reads the subscriptions (LSUB) here.

use async_imap::imap_proto::{MailboxDatum, NameAttribute, Response};

use super::Error;
use super::mutf7;
use super::wire::{self, SessionOf, Stream};

/// One LIST answer line, reduced to what matters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The name as the server spells it (modified UTF-7), for commands.
    pub wire: String,
    /// The name for people and the store.
    pub name: String,
    /// The role in JMAP spelling (`sent`, `drafts`, ...), `inbox` for INBOX.
    pub role: Option<String>,
    /// `\Noselect` or `\NonExistent`: a name in the hierarchy, not a folder.
    pub selectable: bool,
    /// The hierarchy delimiter (`/`, `.`); None for a flat name space.
    pub delimiter: Option<String>,
}

/// The role of a LIST attribute written as text, in JMAP spelling; `None` for attributes that
/// are not roles (`\HasNoChildren`, `\Marked`, an extension nobody registered).
pub fn role_of_attribute(attr: &str) -> Option<&'static str> {
    Some(match attr.to_ascii_lowercase().as_str() {
        "\\sent" => "sent",
        "\\drafts" => "drafts",
        "\\trash" => "trash",
        "\\junk" => "junk",
        "\\archive" => "archive",
        "\\all" => "all",
        "\\flagged" => "flagged",
        "\\important" => "important",
        _ => return None,
    })
}

/// A LIST answer line as [`Listed`]; `None` for other responses.
pub fn listed(r: &Response<'_>) -> Option<Listed> {
    let Response::MailboxData(MailboxDatum::List(l)) = r else { return None };
    let wire = l.name.to_string();
    let name = mutf7::decode(&wire);
    let mut role = None;
    let mut selectable = true;
    for a in &l.name_attributes {
        match a {
            NameAttribute::NoSelect => selectable = false,
            NameAttribute::Sent => role = Some("sent"),
            NameAttribute::Drafts => role = Some("drafts"),
            NameAttribute::Trash => role = Some("trash"),
            NameAttribute::Junk => role = Some("junk"),
            NameAttribute::Archive => role = Some("archive"),
            NameAttribute::All => role = Some("all"),
            NameAttribute::Flagged => role = Some("flagged"),
            NameAttribute::Extension(e) if e.eq_ignore_ascii_case("\\NonExistent") => selectable = false,
            NameAttribute::Extension(e) => role = role.or(role_of_attribute(e)),
            _ => {}
        }
    }
    if name.eq_ignore_ascii_case("INBOX") {
        role = Some("inbox");
    }
    if !selectable {
        role = None;
    }
    let delimiter = l.delimiter.as_deref().map(String::from);
    Some(Listed { wire, name, role: role.map(String::from), selectable, delimiter })
}

/// `LIST "" "*"`: every folder of the personal name space.
pub async fn list<S: Stream>(s: &mut SessionOf<S>) -> Result<Vec<Listed>, Error> {
    let cmd = wire::send(s, "LIST \"\" \"*\"", "LIST").await?;
    let mut out = Vec::new();
    while let Some(item) = cmd.next(s, listed).await? {
        out.extend(item);
    }
    Ok(out)
}

/// `LSUB "" "*"`: the folders the user subscribed to (names as people write them). A name
/// the server marks `\Noselect` only stands for subscribed folders below it and is left out.
pub async fn subscribed<S: Stream>(s: &mut SessionOf<S>) -> Result<Vec<String>, Error> {
    let cmd = wire::send(s, "LSUB \"\" \"*\"", "LSUB").await?;
    let mut out = Vec::new();
    while let Some(item) = cmd.next(s, listed).await? {
        out.extend(item.filter(|l| l.selectable).map(|l| l.name));
    }
    Ok(out)
}

/// The first selectable folder with `role`.
pub fn with_role<'a>(listed: &'a [Listed], role: &str) -> Option<&'a Listed> {
    listed.iter().find(|l| l.selectable && l.role.as_deref().is_some_and(|r| r.eq_ignore_ascii_case(role)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_to_roles() {
        assert_eq!(role_of_attribute("\\Sent"), Some("sent"));
        assert_eq!(role_of_attribute("\\JUNK"), Some("junk"));
        assert_eq!(role_of_attribute("\\Important"), Some("important"));
        assert_eq!(role_of_attribute("\\HasNoChildren"), None);
        assert_eq!(role_of_attribute("\\Gesendet"), None, "an unregistered attribute is no role");
    }
}
