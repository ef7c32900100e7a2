//! `postbote status`: every part of postbote reports on each mailbox; this module only
//! collects the parts and renders them as text or one JSON object. It changes nothing.

use serde_json::{Value, json};

use crate::app::App;

/// One feature's report about one mailbox: a JSON value and the lines a person reads.
#[derive(Debug, Default)]
pub struct Part {
    pub json: Value,
    pub lines: Vec<String>,
}

pub struct Report {
    pub json: Value,
    pub text: String,
}

/// A unix time as people here read it: day, month, year, hours and minutes in `tz`.
pub fn local_time(tz: chrono_tz::Tz, t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.with_timezone(&tz).format("%d.%m.%Y %H:%M").to_string())
        .unwrap_or_default()
}

pub async fn collect(app: &App) -> anyhow::Result<Report> {
    let tz = app.config.agent.time_zone;
    let when = |t: Option<i64>| {
        t.and_then(|t| chrono::DateTime::from_timestamp(t, 0))
            .map(|d| d.with_timezone(&tz).format("%d.%m.%Y %H:%M:%S").to_string())
            .unwrap_or_else(|| "never".into())
    };
    let mut text = String::new();
    let mut mailboxes = Vec::new();
    let mut global_lines = Vec::new();
    let global = crate::outbox::status_global(app).await?;
    global_lines.extend(global.lines.iter().cloned());
    for m in &app.config.mailboxes {
        let sync = app.store.sync_state().status(&m.id)?;
        let folders = app.store.folders().counts(&m.id)?;
        text.push_str(&format!("{} ({}, {}):\n", m.id, m.name, m.primary_address()));
        text.push_str(&format!("  last sync: {}\n", when(sync.last_sync_at)));
        if let Some(e) = &sync.last_error {
            let auth = if sync.auth_failed { " (login refused: check the password; retrying slowly)" } else { "" };
            text.push_str(&format!("  last error: {} at {}{auth}\n", e, when(sync.last_error_at)));
        }
        for f in &folders {
            text.push_str(&format!("  {:12} {:6} messages, {:5} unread\n", f.folder, f.total, f.unread));
        }
        let parts = [
            ("outbox", crate::outbox::status(app, &m.id).await?),
            ("autoreply", crate::autoreply::status(app, &m.id).await?),
            ("deliverability", crate::deliverability::status(app, &m.id).await?),
            ("writeback", crate::mirror::writeback::status(app, &m.id)?),
        ];
        let mut obj = json!({
            "id": m.id,
            "name": m.name,
            "address": m.primary_address(),
            "sync": {
                "last_sync_at": sync.last_sync_at,
                "last_error": sync.last_error,
                "last_error_at": sync.last_error_at,
                "auth_failed": sync.auth_failed,
            },
            "folders": folders,
        });
        for (name, part) in parts {
            for l in &part.lines {
                text.push_str(&format!("  {l}\n"));
            }
            obj[name] = part.json;
        }
        mailboxes.push(obj);
    }
    for l in &global_lines {
        text.push_str(&format!("{l}\n"));
    }
    let files = files_part(&app.config.agent.data_dir);
    for l in &files.lines {
        text.push_str(&format!("{l}\n"));
    }
    Ok(Report { json: json!({ "mailboxes": mailboxes, "outbox": global.json, "files": files.json }), text })
}

/// Whether the data directory and its files are private; a warning per one that is not.
fn files_part(data_dir: &std::path::Path) -> Part {
    match crate::files::check(data_dir) {
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
