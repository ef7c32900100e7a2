//! `postbote status`: every part of postbote reports on each mailbox as plain data (the
//! features' summaries: `outbox::Summary`, `autoreply::Summary`, ...); this module asks each for
//! its summary and renders it, as the lines a person reads and as one JSON object. It changes
//! nothing.
//!
//! The features never word their own status and never import this module: they return numbers,
//! states and unix times, and the renderers here (one file per feature) turn them into text with
//! `clock` and into JSON. The text and the JSON keys are what scripts and people rely on, so
//! each renderer has a test that pins both for a summary built by hand.

pub mod autoreply;
pub mod deliverability;
pub mod devices;
pub mod files;
pub mod mirror;
pub mod outbox;
pub mod writeback;

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

/// Every mailbox's report, then what the mailboxes share, the devices connected now, then the
/// data directory's modes.
pub async fn collect(app: &App) -> anyhow::Result<Report> {
    let tz = app.config.agent.time_zone;
    let mut text = String::new();
    let mut mailboxes = Vec::new();
    for m in &app.config.mailboxes {
        let sync = app.store.sync_state().status(&m.id)?;
        let folders = app.store.folders().counts(&m.id)?;
        text.push_str(&format!("{} ({}, {}):\n", m.id, m.name, m.primary_address()));
        let parts = [
            (None, mirror::render(&sync, &folders, tz)),
            (Some("outbox"), outbox::render(&crate::outbox::status(app, &m.id)?, tz)),
            (Some("autoreply"), autoreply::render(&crate::autoreply::status(app, &m.id)?, tz)),
            (Some("deliverability"), deliverability::render(&crate::deliverability::status(app, &m.id)?, tz)),
            (Some("writeback"), writeback::render(&crate::mirror::writeback::status(app, &m.id)?, tz)),
        ];
        let mut obj = json!({
            "id": m.id,
            "name": m.name,
            "address": m.primary_address(),
        });
        for (name, part) in parts {
            for l in &part.lines {
                text.push_str(&format!("  {l}\n"));
            }
            match (name, part.json) {
                (Some(name), json) => obj[name] = json,
                // The mirror's keys ("sync", "folders") sit beside the mailbox's own.
                (None, Value::Object(keys)) => keys.into_iter().for_each(|(k, v)| obj[k] = v),
                (None, _) => {}
            }
        }
        mailboxes.push(obj);
    }
    let global = outbox::render_global(&crate::outbox::status_global(app)?, tz);
    let devices = devices::render(&app.store.devices().connections()?);
    let data_dir = &app.config.agent.data_dir;
    let files = files::render(data_dir, &crate::files::check(data_dir));
    for l in global.lines.iter().chain(&devices.lines).chain(&files.lines) {
        text.push_str(&format!("{l}\n"));
    }
    Ok(Report {
        json: json!({ "mailboxes": mailboxes, "outbox": global.json, "devices": devices.json, "files": files.json }),
        text,
    })
}
