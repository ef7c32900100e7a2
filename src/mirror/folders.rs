//! Which server folders the config's folder list means, decided without I/O.
//!
//! The config names folders by SPECIAL-USE role (`\Sent`, RFC 6154) or by name (`INBOX`,
//! `Projekte/2026`). The server's LIST answer carries each folder's role (read by
//! `imap::roles`, the one mapping of attributes to roles); this module maps one onto the
//! other. A role the server does not offer is left out (logged by the caller), never guessed
//! from a name.

use crate::config::FolderSpec;
use crate::imap::{Listed, roles};

/// A folder to mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub wire: String,
    pub name: String,
    pub role: Option<String>,
}

/// Map the config's specs onto the listed folders. Returns the folders to mirror (each once,
/// in the config's order) and the specs the server has no folder for.
pub fn resolve(specs: &[FolderSpec], listed: &[Listed]) -> (Vec<Target>, Vec<FolderSpec>) {
    let mut targets: Vec<Target> = Vec::new();
    let mut missing = Vec::new();
    for spec in specs {
        let found = match spec {
            FolderSpec::Role(r) => roles::with_role(listed, r),
            FolderSpec::Name(n) => listed.iter().filter(|l| l.selectable).find(|l| {
                if n.eq_ignore_ascii_case("INBOX") {
                    l.name.eq_ignore_ascii_case("INBOX")
                } else {
                    l.name == *n || l.wire == *n
                }
            }),
        };
        match found {
            Some(l) => {
                if !targets.iter().any(|t| t.wire == l.wire) {
                    targets.push(Target { wire: l.wire.clone(), name: l.name.clone(), role: l.role.clone() });
                }
            }
            None => missing.push(spec.clone()),
        }
    }
    (targets, missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(name: &str, role: Option<&str>) -> Listed {
        Listed {
            wire: crate::imap::mutf7::encode(name),
            name: name.into(),
            role: role.map(String::from),
            selectable: true,
            delimiter: Some("/".into()),
        }
    }

    #[test]
    fn roles_and_names_map_onto_the_listing() {
        let listed = vec![
            l("INBOX", Some("inbox")),
            l("Gesendete Objekte", Some("sent")),
            l("Entwürfe", Some("drafts")),
            l("Papierkorb", Some("trash")),
            l("Projekte/2026", None),
            Listed { wire: "Projekte".into(), name: "Projekte".into(), role: None, selectable: false, delimiter: None },
        ];
        let specs = vec![
            FolderSpec::Name("inbox".into()),
            FolderSpec::Role("sent".into()),
            FolderSpec::Role("drafts".into()),
            FolderSpec::Role("junk".into()),
            FolderSpec::Name("Projekte/2026".into()),
            FolderSpec::Name("Projekte".into()),
            FolderSpec::Name("Gesendete Objekte".into()),
        ];
        let (targets, missing) = resolve(&specs, &listed);
        let names: Vec<(&str, Option<&str>)> = targets.iter().map(|t| (t.name.as_str(), t.role.as_deref())).collect();
        assert_eq!(
            names,
            vec![
                ("INBOX", Some("inbox")),
                ("Gesendete Objekte", Some("sent")),
                ("Entwürfe", Some("drafts")),
                ("Projekte/2026", None),
            ],
            "each folder once, in the config's order"
        );
        assert_eq!(targets[2].wire, "Entw&APw-rfe");
        assert_eq!(missing, vec![FolderSpec::Role("junk".into()), FolderSpec::Name("Projekte".into())]);
    }
}
