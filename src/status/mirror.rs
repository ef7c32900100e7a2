//! The mirror's lines of `status`: when a mailbox was last synced, its last error (and whether
//! the server refused the login), and how many messages and unread ones each folder holds. The
//! JSON keys `sync` and `folders` sit in the mailbox's own object.

use serde_json::json;

use super::Part;
use crate::clock::local_time_seconds;
use crate::store::folders::FolderCount;
use crate::store::sync_state::SyncStatus;

pub fn render(sync: &SyncStatus, folders: &[FolderCount], tz: chrono_tz::Tz) -> Part {
    let mut lines = vec![format!("last sync: {}", local_time_seconds(tz, sync.last_sync_at))];
    if let Some(e) = &sync.last_error {
        let auth = if sync.auth_failed { " (login refused: check the password; retrying slowly)" } else { "" };
        lines.push(format!("last error: {} at {}{auth}", e, local_time_seconds(tz, sync.last_error_at)));
    }
    for f in folders {
        lines.push(format!("{:12} {:6} messages, {:5} unread", f.folder, f.total, f.unread));
    }
    Part {
        json: json!({
            "sync": {
                "last_sync_at": sync.last_sync_at,
                "last_error": sync.last_error,
                "last_error_at": sync.last_error_at,
                "auth_failed": sync.auth_failed,
            },
            "folders": folders,
        }),
        lines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BERLIN: chrono_tz::Tz = chrono_tz::Europe::Berlin;

    #[test]
    fn a_mailbox_never_synced_says_never() {
        let p = render(&SyncStatus::default(), &[], BERLIN);
        assert_eq!(p.lines, ["last sync: never"]);
        assert_eq!(
            p.json,
            json!({
                "sync": { "last_sync_at": null, "last_error": null, "last_error_at": null, "auth_failed": false },
                "folders": [],
            })
        );
    }

    #[test]
    fn the_last_error_and_each_folder_get_a_line() {
        let sync = SyncStatus {
            last_sync_at: Some(1_796_389_509),
            last_error: Some("LOGIN refused".into()),
            last_error_at: Some(1_796_389_569),
            auth_failed: true,
        };
        let folders = [
            FolderCount {
                folder: "INBOX".into(),
                role: Some("inbox".into()),
                total: 1234,
                unread: 7,
                last_sync_at: None,
            },
            FolderCount {
                folder: "Projekte/2026".into(),
                role: None,
                total: 3,
                unread: 0,
                last_sync_at: Some(1_796_389_509),
            },
        ];
        let p = render(&sync, &folders, BERLIN);
        assert_eq!(
            p.lines,
            [
                "last sync: 04.12.2026 14:05:09",
                "last error: LOGIN refused at 04.12.2026 14:06:09 (login refused: check the password; retrying slowly)",
                "INBOX          1234 messages,     7 unread",
                "Projekte/2026      3 messages,     0 unread",
            ]
        );
        assert_eq!(
            p.json,
            json!({
                "sync": {
                    "last_sync_at": 1_796_389_509,
                    "last_error": "LOGIN refused",
                    "last_error_at": 1_796_389_569,
                    "auth_failed": true,
                },
                "folders": [
                    { "folder": "INBOX", "role": "inbox", "total": 1234, "unread": 7, "last_sync_at": null },
                    { "folder": "Projekte/2026", "role": null, "total": 3, "unread": 0, "last_sync_at": 1_796_389_509 },
                ],
            })
        );
    }
}
