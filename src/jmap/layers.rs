//! Test only: the layers of `jmap` (see the module essay) are kept. Every reference a file
//! makes to another jmap file (`super::x`, `crate::jmap::x`) outside its tests must point to a
//! lower layer, so no circle can form; and only the dispatcher reaches the data-type files.
//! A new file must be given its layer here, or this test fails.

/// (file, module it is, layer). Lower layers never reach higher ones.
const FILES: &[(&str, &str, u8, &str)] = &[
    ("ids", "ids", 0, include_str!("ids.rs")),
    ("limits", "limits", 0, include_str!("limits.rs")),
    ("tree", "tree", 0, include_str!("tree.rs")),
    ("listen", "listen", 0, include_str!("listen.rs")),
    ("push_wire", "push_wire", 0, include_str!("push_wire.rs")),
    ("body", "body", 1, include_str!("body.rs")),
    ("device", "device", 1, include_str!("device.rs")),
    ("type_state", "type_state", 1, include_str!("type_state.rs")),
    // The method toolkit.
    ("method", "method", 2, include_str!("method.rs")),
    ("set", "set", 3, include_str!("set.rs")),
    ("filter", "filter", 3, include_str!("filter.rs")),
    ("placement", "placement", 3, include_str!("placement.rs")),
    // One file per data type.
    ("mailbox", "mailbox", TYPES, include_str!("mailbox.rs")),
    ("thread", "thread", TYPES, include_str!("thread.rs")),
    ("identity", "identity", TYPES, include_str!("identity.rs")),
    ("email/mod", "email", TYPES, include_str!("email/mod.rs")),
    ("email/query", "email", TYPES, include_str!("email/query.rs")),
    ("email/set", "email", TYPES, include_str!("email/set.rs")),
    ("email/create", "email", TYPES, include_str!("email/create.rs")),
    ("email/create_tests", "email", TYPES, include_str!("email/create_tests.rs")),
    ("email/build", "email", TYPES, include_str!("email/build.rs")),
    ("email/parse", "email", TYPES, include_str!("email/parse.rs")),
    ("snippet", "snippet", TYPES, include_str!("snippet.rs")),
    ("submission", "submission", TYPES, include_str!("submission.rs")),
    ("vacation", "vacation", TYPES, include_str!("vacation.rs")),
    ("push", "push", TYPES, include_str!("push.rs")),
    ("copy", "copy", TYPES, include_str!("copy.rs")),
    ("dispatch", "dispatch", 5, include_str!("dispatch.rs")),
    // Transport.
    ("server", "server", 6, include_str!("server.rs")),
    ("auth", "auth", 7, include_str!("auth.rs")),
    ("session", "session", 8, include_str!("session.rs")),
    ("blob", "blob", 8, include_str!("blob.rs")),
    ("eventsource", "eventsource", 8, include_str!("eventsource.rs")),
    ("setup", "setup", 8, include_str!("setup.rs")),
    ("push_delivery", "push_delivery", 8, include_str!("push_delivery.rs")),
    ("api", "api", 9, include_str!("api.rs")),
    ("mod", "jmap", 10, include_str!("mod.rs")),
];

const TYPES: u8 = 4;

/// The first path segment of every `super::…` and `crate::jmap::…` reference in `code`.
fn references(code: &str, from_child_of_email: bool) -> Vec<String> {
    let mut out = Vec::new();
    let code: String = code.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
    for prefix in ["crate::jmap::", "super::"] {
        // In email/query.rs and email/set.rs `super` is `email` itself.
        if prefix == "super::" && from_child_of_email {
            continue;
        }
        for (i, _) in code.match_indices(prefix) {
            if prefix == "super::" && code[..i].ends_with("jmap::") {
                continue;
            }
            let rest = &code[i + prefix.len()..];
            if let Some(group) = rest.strip_prefix('{') {
                // The items at the top of the group (a nested group belongs to its item).
                let (mut depth, mut item) = (0, String::new());
                for c in group.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            out.push(item.trim().split("::").next().unwrap_or("").trim().to_string());
                            item.clear();
                            continue;
                        }
                        _ => {}
                    }
                    item.push(c);
                }
                out.push(item.trim().split("::").next().unwrap_or("").trim().to_string());
                out.retain(|s| !s.is_empty());
            } else {
                out.push(rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect());
            }
        }
    }
    out
}

#[test]
fn every_file_reaches_only_lower_layers_and_only_the_dispatcher_reaches_the_types() {
    let layer_of = |module: &str| FILES.iter().find(|f| f.1 == module).map(|f| f.2);
    let mut wrong = Vec::new();
    for (file, module, layer, text) in FILES {
        let code = text.split("#[cfg(test)]").next().unwrap_or(text);
        let child = file.starts_with("email/") && *file != "email/mod";
        for r in references(code, child) {
            if r == *module {
                continue;
            }
            let Some(to) = layer_of(&r) else { continue };
            if to >= *layer {
                wrong.push(format!("{file} (layer {layer}) reaches {r} (layer {to})"));
            }
            if to == TYPES && *module != "dispatch" && *layer != TYPES {
                wrong.push(format!("{file} reaches the data-type file {r}; only the dispatcher may"));
            }
            if to == TYPES && *layer == TYPES {
                wrong.push(format!("{file} reaches the data-type file {r}; ask the dispatcher (Ctx::then)"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_file_of_jmap_has_its_layer() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/jmap");
    let mut missing = Vec::new();
    for sub in ["", "email/"] {
        for e in std::fs::read_dir(dir.join(sub)).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            let Some(stem) = name.strip_suffix(".rs") else { continue };
            let file = format!("{sub}{stem}");
            if file != "layers" && !FILES.iter().any(|f| f.0 == file) {
                missing.push(file);
            }
        }
    }
    assert!(missing.is_empty(), "give these files a layer in jmap/layers.rs: {missing:?}");
}

#[test]
fn references_are_found_in_groups_and_paths() {
    let code = "use super::{body, ids::{self, X}};\nuse super::set::SetResponse;\nlet x = crate::jmap::method::utc(1);\n// super::dispatch in a comment\n";
    assert_eq!(references(code, false), ["method", "body", "ids", "set"]);
    assert_eq!(references(code, true), ["method"]);
}
