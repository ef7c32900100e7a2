//! The map stays true: the top-level modules of `src/` import only modules below them, so there
//! is no circle among them, and no source file grows past 700 lines.
//!
//! The layers are the ones drawn in `ARCHITECTURE.md`. A module may import a module of a lower
//! layer, or of its own layer as long as that makes no circle; a new top-level module must be
//! given a layer here (and on the map) before the test passes. `tests/` is exempt from the size
//! limit, and `main.rs`/`lib.rs` only declare the modules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bottom to top. Keep in step with the drawing in ARCHITECTURE.md.
const LAYERS: &[&[&str]] = &[
    &["files", "tls", "message", "authlimit", "clock", "config"],
    &["store"],
    &["app", "devices"],
    &["imap", "smtp", "dkim"],
    &["mirror", "deliverability"],
    &["outbox"],
    &["autoreply"],
    &["jmap", "imapd"],
    &["status", "control"],
    &["daemon", "cli"],
];

const MAX_LINES: usize = 700;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).expect("read src").map(|e| e.expect("dir entry").path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`src/store/jmap.rs` → `store`).
fn top_module(file: &Path) -> String {
    let rel = file.strip_prefix(src()).expect("under src");
    let first = rel.components().next().expect("a component").as_os_str().to_string_lossy().into_owned();
    first.strip_suffix(".rs").map(str::to_owned).unwrap_or(first)
}

/// Every top-level module named after `crate::` in `text`, with the number of the line the
/// `crate::` is on: plain paths (`crate::store::Store`) and groups (`use crate::{app::App,
/// store};`), also a group that rustfmt spread over several lines.
fn crate_refs(text: &str) -> Vec<(String, usize)> {
    let mut refs = Vec::new();
    let mut from = 0;
    while let Some(found) = text[from..].find("crate::") {
        let at = from + found;
        from = at + "crate::".len();
        let n = text[..at].matches('\n').count();
        let rest = &text[from..];
        // `pub(crate)` and `$crate::` are not paths into another module.
        let before = &text[..at];
        if before.ends_with('$') || before.ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            // Only the first segment of each item at depth 0 of the group is a module.
            let mut depth = 0;
            let mut item_start = true;
            let mut ident = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    // A group never holds a `;`: an unclosed `{` (in a comment) ends here.
                    ';' => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && (c.is_alphanumeric() || c == '_') => ident.push(c),
                    _ => {
                        if !ident.is_empty() {
                            refs.push((std::mem::take(&mut ident), n + 1));
                        }
                        if !c.is_whitespace() {
                            item_start = false;
                        }
                    }
                }
            }
            if !ident.is_empty() {
                refs.push((ident, n + 1));
            }
        } else {
            let ident: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !ident.is_empty() {
                refs.push((ident, n + 1));
            }
        }
    }
    refs
}

#[test]
fn crate_ref_parsing() {
    let text = "use crate::{app::App, store::{self, Store}, files};\nlet x = crate::outbox::State::Queued;\npub(crate) fn f() {}\nmacro $crate::x";
    let got: Vec<_> = crate_refs(text).into_iter().map(|(m, _)| m).collect();
    assert_eq!(got, ["app", "store", "files", "outbox"]);
    // rustfmt breaks a long group over lines; each module in it still counts, at the `use` line.
    let text = "//! essay\nuse crate::{\n    app::App,\n    status::{Part, Report},\n    store,\n};\nfn f() { crate::clock::local_time(tz, 0) }";
    assert_eq!(crate_refs(text), [("app".into(), 2), ("status".into(), 2), ("store".into(), 2), ("clock".into(), 7)]);
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

#[test]
fn top_level_modules_import_only_downwards_and_make_no_circle() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    // module -> (imported module -> first place it is imported)
    let mut edges: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut problems = Vec::new();
    for file in &files {
        let module = top_module(file);
        if module == "main" || module == "lib" {
            continue;
        }
        if layer_of(&module).is_none() {
            problems.push(format!("src/{module} has no layer: give it one in tests/structure.rs and ARCHITECTURE.md"));
        }
        let text = std::fs::read_to_string(file).expect("read source");
        for (target, line) in crate_refs(&text) {
            if target == module {
                continue;
            }
            let place = format!("{}:{line}", file.strip_prefix(src().parent().unwrap()).unwrap().display());
            edges.entry(module.clone()).or_default().entry(target).or_insert(place);
        }
    }
    for (from, tos) in &edges {
        for (to, place) in tos {
            match (layer_of(from), layer_of(to)) {
                (Some(a), Some(b)) if b > a => {
                    problems.push(format!("{from} (layer {a}) imports {to} (layer {b}, above it) at {place}"))
                }
                (_, None) => {
                    problems.push(format!("{from} imports {to}, which is not a module with a layer, at {place}"))
                }
                _ => {}
            }
        }
    }
    // Circles, also within one layer: depth-first search for a back edge.
    fn visit(
        m: &str,
        edges: &BTreeMap<String, BTreeMap<String, String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        circles: &mut BTreeSet<String>,
    ) {
        if let Some(at) = path.iter().position(|p| p == m) {
            let mut circle = path[at..].to_vec();
            circle.push(m.to_owned());
            circles.insert(circle.join(" → "));
            return;
        }
        if !done.insert(m.to_owned()) {
            return;
        }
        path.push(m.to_owned());
        for to in edges.get(m).into_iter().flat_map(|t| t.keys()) {
            visit(to, edges, path, done, circles);
        }
        path.pop();
    }
    let mut circles = BTreeSet::new();
    let mut done = BTreeSet::new();
    for m in edges.keys() {
        visit(m, &edges, &mut Vec::new(), &mut done, &mut circles);
    }
    problems.extend(circles.into_iter().map(|c| format!("import circle: {c}")));
    assert!(problems.is_empty(), "the module map is broken:\n  {}", problems.join("\n  "));
}

#[test]
fn no_source_file_over_700_lines() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let lines = std::fs::read_to_string(f).expect("read source").lines().count();
            (lines > MAX_LINES)
                .then(|| format!("{} has {lines} lines", f.strip_prefix(src().parent().unwrap()).unwrap().display()))
        })
        .collect();
    assert!(long.is_empty(), "source files over {MAX_LINES} lines (split them by concern):\n  {}", long.join("\n  "));
}
