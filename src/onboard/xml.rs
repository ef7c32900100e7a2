//! Text as an XML 1.0 value: `&`, `<`, `>`, `"` and `'` become entities; tab, line feed and
//! carriage return become character references (`&#9;`, `&#10;`, `&#13;`), because a parser
//! turns a raw CR or CRLF into LF everywhere and a raw tab or line break in an attribute into
//! a space (XML 1.0 sections 2.11 and 3.3.3), while a reference stays what it names; the characters
//! XML 1.0 cannot hold at all (most control characters, lone surrogates cannot occur in a
//! Rust string, U+FFFE and U+FFFF) become U+FFFD, so that no device name or address can break
//! the document around it.

/// `s` escaped for an XML element's text or an attribute value in double or single quotes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if allowed(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
    out
}

/// Whether XML 1.0 allows `c` in a document (section 2.2, `Char`).
fn allowed(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// Test only: a small reader for the documents made here (elements, text, attributes, the
/// five entities and numeric references; no DTD beyond skipping `<!DOCTYPE …>`), strict
/// enough to fail on a document an escape broke. It normalises as a real XML parser does:
/// CRLF and a lone CR become LF in the whole document (section 2.11), and in an attribute
/// value a raw tab, CR or LF becomes a space (section 3.3.3); references are taken as written.
#[cfg(test)]
pub mod read {
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Node {
        Element { name: String, attrs: Vec<(String, String)>, children: Vec<Node> },
        Text(String),
    }

    impl Node {
        pub fn name(&self) -> &str {
            match self {
                Node::Element { name, .. } => name,
                Node::Text(_) => "",
            }
        }
        pub fn children(&self) -> &[Node] {
            match self {
                Node::Element { children, .. } => children,
                Node::Text(_) => &[],
            }
        }
        /// Child elements only.
        pub fn elements(&self) -> impl Iterator<Item = &Node> {
            self.children().iter().filter(|n| matches!(n, Node::Element { .. }))
        }
        pub fn child(&self, name: &str) -> Option<&Node> {
            self.elements().find(|n| n.name() == name)
        }
        pub fn attr(&self, key: &str) -> Option<&str> {
            match self {
                Node::Element { attrs, .. } => attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()),
                Node::Text(_) => None,
            }
        }
        /// The text directly inside (whitespace-only text between elements is kept).
        pub fn text(&self) -> String {
            self.children()
                .iter()
                .filter_map(|n| match n {
                    Node::Text(t) => Some(t.as_str()),
                    _ => None,
                })
                .collect()
        }
    }

    fn unescape(s: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = s;
        while let Some(i) = rest.find('&') {
            out.push_str(&rest[..i]);
            let end = rest[i..].find(';').ok_or("an unclosed entity")? + i;
            let ent = &rest[i + 1..end];
            let c = match ent {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                e if e.starts_with("#x") => {
                    char::from_u32(u32::from_str_radix(&e[2..], 16).map_err(|e| e.to_string())?).ok_or("bad char")?
                }
                e if e.starts_with('#') => {
                    char::from_u32(e[1..].parse().map_err(|_| "bad number")?).ok_or("bad char")?
                }
                e => return Err(format!("unknown entity &{e};")),
            };
            out.push(c);
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// The root element of `doc`.
    pub fn parse(doc: &str) -> Result<Node, String> {
        let doc = doc.replace("\r\n", "\n").replace('\r', "\n");
        let mut s = doc.trim_start();
        // Prolog: the declaration, comments and a doctype.
        loop {
            if let Some(r) = s.strip_prefix("<?") {
                s = r[r.find("?>").ok_or("an unclosed declaration")? + 2..].trim_start();
            } else if let Some(r) = s.strip_prefix("<!--") {
                s = r[r.find("-->").ok_or("an unclosed comment")? + 3..].trim_start();
            } else if let Some(r) = s.strip_prefix("<!DOCTYPE") {
                s = r[r.find('>').ok_or("an unclosed doctype")? + 1..].trim_start();
            } else {
                break;
            }
        }
        let (node, rest) = element(s)?;
        if !rest.trim().is_empty() {
            return Err(format!("text after the root element: {:?}", &rest[..rest.len().min(40)]));
        }
        Ok(node)
    }

    fn name_end(s: &str) -> usize {
        s.find(|c: char| c.is_whitespace() || c == '>' || c == '/' || c == '=').unwrap_or(s.len())
    }

    fn element(s: &str) -> Result<(Node, &str), String> {
        let s = s.strip_prefix('<').ok_or("an element must start with <")?;
        let n = name_end(s);
        let name = s[..n].to_string();
        if name.is_empty() || name.contains(['<', '&', '"', '\'']) {
            return Err(format!("bad element name {name:?}"));
        }
        let mut s = &s[n..];
        let mut attrs = Vec::new();
        loop {
            s = s.trim_start();
            if let Some(r) = s.strip_prefix("/>") {
                return Ok((Node::Element { name, attrs, children: vec![] }, r));
            }
            if let Some(r) = s.strip_prefix('>') {
                s = r;
                break;
            }
            let n = name_end(s);
            let key = s[..n].to_string();
            let r = s[n..].trim_start().strip_prefix('=').ok_or("an attribute without =")?.trim_start();
            let q = r.chars().next().filter(|c| *c == '"' || *c == '\'').ok_or("an unquoted attribute")?;
            let end = r[1..].find(q).ok_or("an unclosed attribute")? + 1;
            let raw = &r[1..end];
            if raw.contains('<') {
                return Err("< in an attribute".into());
            }
            let raw = raw.replace(['\t', '\n'], " ");
            attrs.push((key, unescape(&raw)?));
            s = &r[end + 1..];
        }
        let mut children = Vec::new();
        loop {
            if let Some(r) = s.strip_prefix("</") {
                let end = r.find('>').ok_or("an unclosed end tag")?;
                if r[..end].trim() != name {
                    return Err(format!("</{}> closes <{name}>", &r[..end]));
                }
                return Ok((Node::Element { name, attrs, children }, &r[end + 1..]));
            }
            if let Some(r) = s.strip_prefix("<!--") {
                s = &r[r.find("-->").ok_or("an unclosed comment")? + 3..];
                continue;
            }
            if s.starts_with('<') {
                let (child, r) = element(s)?;
                children.push(child);
                s = r;
                continue;
            }
            let end = s.find('<').ok_or_else(|| format!("<{name}> is never closed"))?;
            if s[..end].contains('>') {
                return Err("a bare > in text".into());
            }
            children.push(Node::Text(unescape(&s[..end])?));
            s = &s[end..];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_five_and_the_forbidden() {
        assert_eq!(
            escape(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &apos;Jerry&apos;&lt;/a&gt;"
        );
        assert_eq!(escape("a\u{0}b\u{1b}c\u{FFFE}"), "a\u{FFFD}b\u{FFFD}c\u{FFFD}");
        assert_eq!(escape("Müller\tÖ\n😀\r\n"), "Müller&#9;Ö&#10;😀&#13;&#10;");
    }

    /// The test reader normalises as XML does, so a raw tab or line break would not survive it.
    #[test]
    fn the_reader_normalises_line_ends_and_attribute_whitespace_as_xml_does() {
        let root = read::parse("<r a=\"x\ty\nz\" b='&#9;&#10;&#13;'>a\r\nb\rc&#13;</r>").unwrap();
        assert_eq!(root.attr("a"), Some("x y z"));
        assert_eq!(root.attr("b"), Some("\t\n\r"));
        assert_eq!(root.text(), "a\nb\nc\r");
    }

    proptest! {
        /// Any text, as a value and an attribute, reads back as itself (forbidden characters as
        /// U+FFFD); half the cases are short runs rich in tabs, line breaks and controls.
        #[test]
        fn any_text_round_trips(s in prop_oneof![any::<String>(), "[\t\r\n a&<\"'\u{0}-\u{1f}ü]{0,16}"]) {
            let e = escape(&s);
            let doc = format!("<?xml version=\"1.0\"?><r a=\"{e}\" b='{e}'><v>{e}</v></r>");
            let root = read::parse(&doc).map_err(|m| TestCaseError::fail(format!("{m}: {doc:?}")))?;
            let want: String = s.chars().map(|c| if c == '\t' || c == '\n' || c == '\r' || allowed(c) { c } else { '\u{FFFD}' }).collect();
            prop_assert!(!e.contains(['\t', '\n', '\r']), "raw whitespace a parser would change: {e:?}");
            prop_assert_eq!(root.attr("a"), Some(want.as_str()));
            prop_assert_eq!(root.attr("b"), Some(want.as_str()));
            prop_assert_eq!(root.child("v").unwrap().text(), want);
        }
    }

    #[test]
    fn the_reader_refuses_broken_documents() {
        for bad in ["<r>a<b</r>", "<r a=\"x\"y\"></r>", "<r>&bogus;</r>", "<r><v></r>", "<r>a</r>tail", "<r>a > b</r>"]
        {
            assert!(read::parse(bad).is_err(), "{bad}");
        }
    }
}
