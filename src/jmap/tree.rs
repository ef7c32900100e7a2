//! The mailbox hierarchy JMAP shows, derived from full IMAP names without I/O.
//!
//! The store keeps each folder under its full IMAP name (`Kunden/Meier`) and the account's
//! hierarchy delimiter as the server listed it. A mailbox's parent is the mirrored mailbox
//! whose name is the longest proper prefix of its own followed by the delimiter; its JMAP
//! `name` is what follows. A folder whose parent is not mirrored sits at the top under its
//! full name, so no name is ever lost or made ambiguous.

use std::collections::HashMap;

/// One mailbox in the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub parent: Option<i64>,
    /// The JMAP name: the last level, or the full name at the top.
    pub name: String,
    /// The full IMAP name.
    pub full: String,
}

#[derive(Debug, Default)]
pub struct Tree {
    pub delimiter: Option<String>,
    nodes: HashMap<i64, Node>,
}

impl Tree {
    /// `folders`: (id, full name) of every live folder of the account.
    pub fn new<'a>(folders: impl IntoIterator<Item = (i64, &'a str)>, delimiter: Option<&str>) -> Tree {
        let folders: Vec<(i64, &str)> = folders.into_iter().collect();
        let by_name: HashMap<&str, i64> = folders.iter().map(|(id, n)| (*n, *id)).collect();
        let delimiter = delimiter.filter(|d| !d.is_empty());
        let mut nodes = HashMap::new();
        for (id, full) in &folders {
            let mut node = Node { parent: None, name: full.to_string(), full: full.to_string() };
            if let Some(d) = delimiter {
                // Longest proper prefix first: the nearest mirrored ancestor is the parent.
                let mut cut = full.rfind(d);
                while let Some(i) = cut {
                    if let Some(p) = by_name.get(&full[..i]).filter(|p| *p != id) {
                        node.parent = Some(*p);
                        node.name = full[i + d.len()..].to_string();
                        break;
                    }
                    cut = full[..i].rfind(d);
                }
            }
            nodes.insert(*id, node);
        }
        Tree { delimiter: delimiter.map(String::from), nodes }
    }

    pub fn get(&self, id: i64) -> Option<&Node> {
        self.nodes.get(&id)
    }

    pub fn has_children(&self, id: i64) -> bool {
        self.nodes.values().any(|n| n.parent == Some(id))
    }

    /// True when `id` is `ancestor` or lies below it.
    pub fn is_within(&self, id: i64, ancestor: i64) -> bool {
        let mut cur = Some(id);
        let mut steps = 0;
        while let Some(c) = cur {
            if c == ancestor {
                return true;
            }
            steps += 1;
            if steps > self.nodes.len() {
                return false;
            }
            cur = self.nodes.get(&c).and_then(|n| n.parent);
        }
        false
    }

    /// The full IMAP name for a mailbox called `name` under `parent` (None: at the top).
    /// Err: the JMAP property at fault and why (the name holds the delimiter, or there is no
    /// such parent or no hierarchy to put it in).
    pub fn full_name(&self, parent: Option<i64>, name: &str) -> Result<String, (&'static str, &'static str)> {
        if let Some(d) = &self.delimiter
            && name.contains(d.as_str())
        {
            return Err(("name", "the name may not contain the server's folder hierarchy delimiter"));
        }
        match parent {
            None => Ok(name.to_string()),
            Some(p) => {
                let d =
                    self.delimiter.as_deref().ok_or(("parentId", "the server's folder hierarchy is not known yet"))?;
                let parent = self.nodes.get(&p).ok_or(("parentId", "no such parent mailbox"))?;
                Ok(format!("{}{d}{name}", parent.full))
            }
        }
    }

    /// `ids` (already sorted among themselves) reordered so every mailbox comes right after
    /// its parent, siblings keeping their order (`sortAsTree`). A mailbox whose parent is not
    /// in `ids` starts a tree of its own.
    pub fn tree_order(&self, ids: &[i64]) -> Vec<i64> {
        let present: std::collections::HashSet<i64> = ids.iter().copied().collect();
        let parent_in = |id: i64| self.nodes.get(&id).and_then(|n| n.parent).filter(|p| present.contains(p));
        let mut out = Vec::with_capacity(ids.len());
        let mut stack: Vec<i64> = ids.iter().rev().copied().filter(|id| parent_in(*id).is_none()).collect();
        while let Some(id) = stack.pop() {
            out.push(id);
            stack.extend(ids.iter().rev().copied().filter(|c| parent_in(*c) == Some(id)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(delim: Option<&str>) -> Tree {
        Tree::new(
            [
                (1, "INBOX"),
                (2, "Kunden"),
                (3, "Kunden/Meier"),
                (4, "Kunden/Meier/2026"),
                (5, "Projekte/Bad"),
                (6, "INBOX/Rechnungen"),
            ],
            delim,
        )
    }

    #[test]
    fn parents_are_the_nearest_mirrored_ancestors() {
        let t = tree(Some("/"));
        assert_eq!(t.get(3).unwrap(), &Node { parent: Some(2), name: "Meier".into(), full: "Kunden/Meier".into() });
        assert_eq!(t.get(4).unwrap().parent, Some(3));
        assert_eq!(t.get(4).unwrap().name, "2026");
        assert_eq!(t.get(6).unwrap().parent, Some(1), "INBOX can have children");
        // "Projekte" is not mirrored: the child sits at the top under its full name.
        assert_eq!(t.get(5).unwrap(), &Node { parent: None, name: "Projekte/Bad".into(), full: "Projekte/Bad".into() });
        assert!(t.has_children(2) && !t.has_children(4));
        assert!(t.is_within(4, 2) && t.is_within(2, 2) && !t.is_within(2, 4));
    }

    #[test]
    fn without_a_delimiter_everything_is_flat() {
        let t = tree(None);
        assert!((1..=6).all(|id| t.get(id).unwrap().parent.is_none()));
        assert_eq!(t.get(3).unwrap().name, "Kunden/Meier");
        assert_eq!(t.full_name(None, "Neu"), Ok("Neu".into()));
        assert!(t.full_name(Some(2), "Neu").is_err());
    }

    #[test]
    fn full_names_for_new_mailboxes() {
        let t = tree(Some("/"));
        assert_eq!(t.full_name(Some(3), "Angebote"), Ok("Kunden/Meier/Angebote".into()));
        assert_eq!(t.full_name(None, "Lager"), Ok("Lager".into()));
        assert!(t.full_name(None, "a/b").is_err(), "the delimiter is not part of a name");
        assert!(t.full_name(Some(99), "x").is_err());
        let dotted = Tree::new([(1, "INBOX"), (2, "INBOX.Kunden")], Some("."));
        assert_eq!(dotted.get(2).unwrap().parent, Some(1));
        assert_eq!(dotted.full_name(Some(2), "Meier"), Ok("INBOX.Kunden.Meier".into()));
    }

    #[test]
    fn tree_order_puts_children_after_their_parent() {
        let t = tree(Some("/"));
        assert_eq!(t.tree_order(&[4, 1, 3, 5, 2, 6]), vec![1, 6, 5, 2, 3, 4]);
        // A child whose parent is filtered out starts its own tree.
        assert_eq!(t.tree_order(&[4, 1]), vec![4, 1]);
    }
}
