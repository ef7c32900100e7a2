//! The data directory's line of `status`: a warning for each file or directory other local
//! users can read, or one that the modes could not be checked.

use std::path::Path;

use serde_json::json;

use super::Part;
use crate::files::Loose;

/// `checked` is what `files::check(data_dir)` found.
pub fn render(data_dir: &Path, checked: &std::io::Result<Vec<Loose>>) -> Part {
    match checked {
        Ok(loose) => Part {
            lines: loose
                .iter()
                .map(|l| {
                    format!("WARNING: {l}: other local users can read it; `postbote init` or `postbote run` repairs it")
                })
                .collect(),
            json: json!({
                "private": loose.is_empty(),
                "loose": loose.iter().map(|l| json!({
                    "path": l.path.display().to_string(),
                    "mode": format!("{:04o}", l.mode),
                    "want": format!("{:04o}", l.want),
                })).collect::<Vec<_>>(),
            }),
        },
        Err(e) => Part {
            lines: vec![format!("WARNING: cannot check the file modes under {}: {e}", data_dir.display())],
            json: json!({ "private": null, "error": e.to_string() }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_files_say_nothing() {
        let p = render(Path::new("/var/lib/postbote"), &Ok(vec![]));
        assert!(p.lines.is_empty());
        assert_eq!(p.json, json!({ "private": true, "loose": [] }));
    }

    #[test]
    fn each_loose_file_is_a_warning_with_its_modes() {
        let loose = vec![
            Loose { path: "/var/lib/postbote".into(), mode: 0o755, want: 0o700 },
            Loose { path: "/var/lib/postbote/postbote.sqlite".into(), mode: 0o644, want: 0o600 },
        ];
        let p = render(Path::new("/var/lib/postbote"), &Ok(loose));
        assert_eq!(
            p.lines,
            [
                "WARNING: /var/lib/postbote is mode 0755, should be 0700: other local users can read it; `postbote init` or `postbote run` repairs it",
                "WARNING: /var/lib/postbote/postbote.sqlite is mode 0644, should be 0600: other local users can read it; `postbote init` or `postbote run` repairs it",
            ]
        );
        assert_eq!(
            p.json,
            json!({
                "private": false,
                "loose": [
                    { "path": "/var/lib/postbote", "mode": "0755", "want": "0700" },
                    { "path": "/var/lib/postbote/postbote.sqlite", "mode": "0644", "want": "0600" },
                ],
            })
        );
    }

    #[test]
    fn a_failed_check_is_a_warning_not_an_error() {
        let e = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "permission denied");
        let p = render(Path::new("/var/lib/postbote"), &Err(e));
        assert_eq!(p.lines, ["WARNING: cannot check the file modes under /var/lib/postbote: permission denied"]);
        assert_eq!(p.json, json!({ "private": null, "error": "permission denied" }));
    }
}
