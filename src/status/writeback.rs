//! The write-back's lines of `status`: phone changes waiting for the server (and the server's
//! last refusal of one still retried, and when it is tried again), and changes the server
//! refused for good, with what the store undid for the last one. Silent when neither is the
//! case.

use serde_json::json;

use super::Part;
use crate::clock::local_time;
use crate::mirror::writeback::Summary;

pub fn render(w: &Summary, tz: chrono_tz::Tz) -> Part {
    let when = |t: Option<i64>| t.map(|t| local_time(tz, t)).unwrap_or_default();
    let mut lines = Vec::new();
    if w.pending > 0 {
        lines.push(format!("phone changes waiting for the server: {} (oldest from {})", w.pending, when(w.oldest_at)));
        if let Some(e) = &w.last_error {
            match w.next_retry_at {
                Some(t) => lines.push(format!("  the server refused one, retrying at {}: {e}", when(Some(t)))),
                None => lines.push(format!("  the server refused one, retrying: {e}")),
            }
        }
    }
    if w.dropped > 0 {
        lines.push(format!(
            "phone changes the server refused for good: {} (last at {}: {}); the server's state was kept",
            w.dropped,
            when(w.last_dropped_at),
            w.last_dropped.as_deref().unwrap_or("")
        ));
        if let Some(u) = &w.last_undone {
            lines.push(format!("  undone: {u}"));
        }
    }
    Part {
        json: json!({
            "pending": w.pending,
            "oldest_at": w.oldest_at,
            "last_error": w.last_error,
            "next_retry_at": w.next_retry_at,
            "dropped": w.dropped,
            "last_dropped": w.last_dropped,
            "last_dropped_at": w.last_dropped_at,
            "last_undone": w.last_undone,
        }),
        lines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BERLIN: chrono_tz::Tz = chrono_tz::Europe::Berlin;

    #[test]
    fn status_is_silent_when_nothing_waits_and_says_what_waits_or_was_given_up() {
        let p = render(&Summary::default(), BERLIN);
        assert!(p.lines.is_empty());
        assert_eq!(
            p.json,
            json!({
                "pending": 0, "oldest_at": null, "last_error": null, "next_retry_at": null,
                "dropped": 0, "last_dropped": null, "last_dropped_at": null, "last_undone": null,
            })
        );
        let w = Summary {
            pending: 3,
            oldest_at: Some(1_796_000_000),
            last_error: Some("NO [TRYCREATE] Mailbox doesn't exist".into()),
            dropped: 1,
            last_dropped: Some("move: NO [TRYCREATE] Mailbox doesn't exist".into()),
            last_dropped_at: Some(1_796_003_600),
            next_retry_at: Some(1_796_000_030),
            last_undone: Some("the message is shown in \"INBOX\" again".into()),
        };
        let p = render(&w, BERLIN);
        assert_eq!(
            p.lines,
            [
                "phone changes waiting for the server: 3 (oldest from 30.11.2026 01:53)",
                "  the server refused one, retrying at 30.11.2026 01:53: NO [TRYCREATE] Mailbox doesn't exist",
                "phone changes the server refused for good: 1 (last at 30.11.2026 02:53: move: NO [TRYCREATE] Mailbox doesn't exist); the server's state was kept",
                "  undone: the message is shown in \"INBOX\" again",
            ]
        );
        assert_eq!(
            p.json,
            json!({
                "pending": 3,
                "oldest_at": 1_796_000_000,
                "last_error": "NO [TRYCREATE] Mailbox doesn't exist",
                "next_retry_at": 1_796_000_030,
                "dropped": 1,
                "last_dropped": "move: NO [TRYCREATE] Mailbox doesn't exist",
                "last_dropped_at": 1_796_003_600,
                "last_undone": "the message is shown in \"INBOX\" again",
            })
        );
    }

    #[test]
    fn changes_given_up_show_even_when_none_wait() {
        let w = Summary { dropped: 2, last_dropped_at: Some(1_796_003_600), ..Summary::default() };
        assert_eq!(
            render(&w, BERLIN).lines,
            ["phone changes the server refused for good: 2 (last at 30.11.2026 02:53: ); the server's state was kept"]
        );
    }
}
