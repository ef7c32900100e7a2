//! `postbote device add|list|revoke`: the phones (and other JMAP clients) that may sync.
//!
//! `add` prints the device's token once; only its SHA-256 is stored, so a lost token is
//! replaced by revoking the device and adding it again. A device sees its own mailbox and the
//! shared mailboxes named with `--grant`, nothing else.

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;

use crate::app::App;
use crate::config::MailboxKind;

#[derive(Debug, Subcommand)]
pub enum DeviceCmd {
    /// Register a device and print its token (shown only this once).
    Add {
        /// The mailbox the device belongs to (its JMAP user name).
        #[arg(long)]
        mailbox: String,
        /// A name to recognise it by, e.g. "iPhone Becker".
        #[arg(long)]
        name: String,
        /// A shared mailbox the device may also see (repeatable).
        #[arg(long = "grant")]
        grants: Vec<String>,
    },
    /// List devices (tokens are never shown again).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a device: its token stops working at once.
    Revoke { id: i64 },
}

pub async fn device(app: &App, c: DeviceCmd) -> anyhow::Result<ExitCode> {
    match c {
        DeviceCmd::Add { mailbox, name, grants } => {
            app.config.mailbox(&mailbox).with_context(|| format!("no mailbox \"{mailbox}\" in the config"))?;
            let name = name.trim();
            if name.is_empty() {
                bail!("--name must not be empty");
            }
            for g in &grants {
                let m =
                    app.config.mailbox(g).with_context(|| format!("--grant {g}: no mailbox \"{g}\" in the config"))?;
                if m.kind != MailboxKind::Shared {
                    bail!("--grant {g}: only shared mailboxes can be granted; \"{g}\" is an employee's mailbox");
                }
                if *g == mailbox {
                    bail!("--grant {g}: that is the device's own mailbox");
                }
            }
            let (token, hash) = crate::devices::new_token();
            let id = app.store.devices().add(&mailbox, name, &grants, &hash)?;
            outln!("device {id} \"{name}\" for mailbox {mailbox} added.")?;
            outln!("token (shown only now; use it as the password, user name \"{mailbox}\", or as a Bearer token):")?;
            outln!("{token}")?;
            outln!("server: {}", app.config.jmap.public_url)?;
            Ok(ExitCode::SUCCESS)
        }
        DeviceCmd::List { json } => {
            let devices = app.store.devices().all()?;
            if json {
                let v: Vec<serde_json::Value> = devices
                    .iter()
                    .map(|d| {
                        serde_json::json!({"id": d.id, "mailbox": d.mailbox, "name": d.name, "grants": d.grants,
                            "created_at": d.created_at, "last_used_at": d.last_used_at, "revoked_at": d.revoked_at})
                    })
                    .collect();
                outln!("{}", serde_json::to_string_pretty(&v)?)?;
                return Ok(ExitCode::SUCCESS);
            }
            if devices.is_empty() {
                outln!("no devices (add one with: postbote device add --mailbox ID --name NAME)")?;
            }
            let tz = app.config.agent.time_zone;
            let fmt = |t: Option<i64>| t.map_or_else(|| "never".into(), |t| crate::clock::local_time(tz, t));
            for d in devices {
                let state = match d.revoked_at {
                    Some(t) => format!("revoked {}", fmt(Some(t))),
                    None => format!("last used {}", fmt(d.last_used_at)),
                };
                let grants = if d.grants.is_empty() { String::new() } else { format!(" (+ {})", d.grants.join(", ")) };
                outln!("{:>4}  {:24} {}{}  {}", d.id, d.name, d.mailbox, grants, state)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        DeviceCmd::Revoke { id } => {
            if app.store.devices().revoke(id)? {
                outln!("device {id} revoked")?;
                Ok(ExitCode::SUCCESS)
            } else {
                bail!("no active device {id} (see postbote device list)")
            }
        }
    }
}
