//! `postbote device add|list|revoke`: the phones (and other clients) that may sync, over
//! JMAP, IMAP and SMTP submission alike.
//!
//! `add` prints the device's token once; only its SHA-256 is stored, so a lost token is
//! replaced by revoking the device and adding it again. It also sets the phone up in one step:
//! it writes the Apple configuration profile (the token inside, mode 0600), keeps that profile
//! behind a one-time link that the JMAP listener serves once within `phones.setup_link_ttl`
//! (the store holds it only sealed under the link), shows the link as a QR code, and prints
//! the settings for apps without profiles. If the link cannot be stored, the device is revoked
//! and the profile removed again, as when the file cannot be written; a `jmap.public_url` that
//! phones cannot reach (loopback) or that is plain `http://` is warned about. A device sees its own mailbox and the shared
//! mailboxes named with `--grant`, nothing else. `revoke` stops the token at once; a running
//! daemon ends the device's IMAP and SMTP connections within a second.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::json;

use crate::app::App;
use crate::config::MailboxKind;
use crate::onboard::{Account, autoconfig, link, profile, qr};

#[derive(Debug, Subcommand)]
pub enum DeviceCmd {
    /// Register a device, print its token (shown only this once) and set the phone up: a
    /// profile file, a one-time link to it with its QR code, and the settings by hand.
    Add {
        /// The mailbox the device belongs to (its user name).
        #[arg(long)]
        mailbox: String,
        /// A name to recognise it by, e.g. "iPhone Becker".
        #[arg(long)]
        name: String,
        /// A shared mailbox the device may also see (repeatable).
        #[arg(long = "grant")]
        grants: Vec<String>,
        /// Where to write the Apple configuration profile (default: the device's name with
        /// `.mobileconfig`, in the current directory). An existing file is never overwritten.
        #[arg(long)]
        profile: Option<PathBuf>,
        /// The same as JSON (without the QR code).
        #[arg(long)]
        json: bool,
    },
    /// List devices: last use and over which protocol, grants, revoked or not (tokens are
    /// never shown again).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a device: its token stops working at once, and a running daemon ends its IMAP
    /// and SMTP connections within a second.
    Revoke { id: i64 },
}

pub async fn device(app: &App, c: DeviceCmd) -> anyhow::Result<ExitCode> {
    match c {
        DeviceCmd::Add { mailbox, name, grants, profile, json } => add(app, &mailbox, &name, &grants, profile, json),
        DeviceCmd::List { json } => list(app, json),
        DeviceCmd::Revoke { id } => {
            let pending = app.store.setup_links().pending(id)?;
            if !app.store.devices().revoke(id)? {
                bail!("no active device {id} (see postbote device list)")
            }
            outln!("device {id} revoked: its token stops working now, for JMAP, IMAP and SMTP.")?;
            outln!("A running daemon ends the device's open IMAP and SMTP connections within a second.")?;
            if pending > 0 {
                outln!("Its setup link, not yet used, is void.")?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn check_grants(app: &App, mailbox: &str, grants: &[String]) -> anyhow::Result<()> {
    for g in grants {
        let m = app.config.mailbox(g).with_context(|| format!("--grant {g}: no mailbox \"{g}\" in the config"))?;
        if m.kind != MailboxKind::Shared {
            bail!("--grant {g}: only shared mailboxes can be granted; \"{g}\" is an employee's mailbox");
        }
        if g == mailbox {
            bail!("--grant {g}: that is the device's own mailbox");
        }
    }
    Ok(())
}

/// Write `text` to a new file at `path`, mode 0600; an existing file is an error.
fn write_new(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = crate::files::private_options().write(true).create_new(true).open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// A one-time link made for a profile: its URL and when it dies.
struct MadeLink {
    url: String,
    expires_at: i64,
}

/// Keep `mobileconfig` behind a new one-time link of device `id`.
fn store_link(app: &App, id: i64, mobileconfig: &str) -> anyhow::Result<MadeLink> {
    let secret = link::new_link();
    let now = crate::store::now();
    let expires_at = now + app.config.phones.setup_link_ttl.as_secs() as i64;
    let sealed = link::seal(&secret, mobileconfig.as_bytes());
    app.store.setup_links().add(id, &link::hash(&secret), &sealed, now, expires_at)?;
    Ok(MadeLink { url: format!("{}/setup/{secret}", app.config.jmap.public_url), expires_at })
}

/// `keep()` the link; if that fails, undo the device as for a failed file write: revoke it
/// and remove its profile (which holds the token), so nothing half-made is left behind.
fn link_or_undo(
    app: &App,
    id: i64,
    profile_path: &Path,
    keep: impl FnOnce() -> anyhow::Result<MadeLink>,
) -> anyhow::Result<MadeLink> {
    keep().or_else(|e| {
        let revoked = app.store.devices().revoke(id);
        let removed = std::fs::remove_file(profile_path);
        let undone = match (revoked, removed) {
            (Ok(_), Ok(())) => "the device was revoked again and the profile removed; nothing else changed".to_string(),
            (r, f) => format!(
                "undoing it failed too: {}{}; run `postbote device revoke {id}` and delete {}",
                r.err().map(|e| format!("revoking: {e} ")).unwrap_or_default(),
                f.err().map(|e| format!("removing the profile: {e}")).unwrap_or_default(),
                profile_path.display()
            ),
        };
        bail!("storing the setup link: {e:#} ({undone})")
    })
}

fn add(
    app: &App,
    mailbox: &str,
    name: &str,
    grants: &[String],
    profile_path: Option<PathBuf>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let account =
        Account::of(&app.config, mailbox).with_context(|| format!("no mailbox \"{mailbox}\" in the config"))?;
    let name = name.trim();
    if name.is_empty() {
        bail!("--name must not be empty");
    }
    check_grants(app, mailbox, grants)?;
    let profile_path = profile_path.unwrap_or_else(|| PathBuf::from(profile::file_name(name)));
    if profile_path.exists() {
        bail!("--profile {}: the file exists; give another path or remove it", profile_path.display());
    }

    let (token, hash) = crate::devices::new_token();
    let id = app.store.devices().add(mailbox, name, grants, &hash)?;
    let mobileconfig = profile::mobileconfig(&account, name, &token);
    if let Err(e) = write_new(&profile_path, &mobileconfig) {
        // Without its profile the device is of no use to the person adding it: undo it.
        let _ = app.store.devices().revoke(id);
        bail!(
            "writing the profile {}: {e} (the device was revoked again; nothing else changed)",
            profile_path.display()
        );
    }
    let made = if app.config.jmap.enabled {
        Some(link_or_undo(app, id, &profile_path, || store_link(app, id, &mobileconfig))?)
    } else {
        None
    };

    let ttl_secs = app.config.phones.setup_link_ttl.as_secs();
    if json {
        let server = |port: u16, sec| json!({"host": account.host, "port": port, "security": security_key(sec)});
        let v = json!({
            "id": id, "name": name, "mailbox": mailbox, "grants": grants,
            "token": token,
            "jmap_url": app.config.jmap.public_url,
            "profile": profile_path.display().to_string(),
            "link": made.as_ref().map(|m| json!({"url": m.url, "expires_at": m.expires_at, "ttl_seconds": ttl_secs,
                "warning": unreachable_warning(&app.config.jmap.public_url)})),
            "manual": {
                "address": account.address, "user": account.user(),
                "imap": server(account.imap_port, account.imap_security),
                "smtp": server(account.smtp_port, account.smtp_security),
                "password": "the token",
            },
        });
        outln!("{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    outln!("device {id} \"{name}\" for mailbox {mailbox} added.")?;
    outln!(
        "token (shown only now; use it as the password, user name \"{}\" or \"{mailbox}\", or as a Bearer token):",
        account.user()
    )?;
    outln!("{token}")?;
    outln!("server: {}", app.config.jmap.public_url)?;
    outln!()?;
    outln!("Setup profile for iPhone and iPad (it holds the token; give it only to this device):")?;
    outln!("  {}", profile_path.display())?;
    match &made {
        Some(m) => {
            let tz = app.config.agent.time_zone;
            outln!(
                "One-time link to the profile: it works once, for {}, until {}:",
                lifetime(ttl_secs),
                crate::clock::local_time(tz, m.expires_at)
            )?;
            outln!("  {}", m.url)?;
            if let Some(w) = unreachable_warning(&app.config.jmap.public_url) {
                outln!("  {w}")?;
            }
            match qr::terminal(&m.url) {
                Ok(code) => {
                    outln!("Scan it with the phone's camera:")?;
                    out!("{code}")?;
                    outln!()?;
                }
                Err(e) => outln!("(no QR code: {e})")?,
            }
        }
        None => outln!("No one-time link: the JMAP listener is off ([jmap] enabled = false); hand the file over.")?,
    }
    outln!()?;
    outln!("Settings for mail apps without profiles:")?;
    for (k, v) in autoconfig::manual(&account) {
        outln!("  {k:<16} {v}")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A warning about `public_url` for the link: phones cannot reach it (it names this machine,
/// loopback), or it is plain `http://` to another machine, so the profile, which holds the
/// token, would cross the network in clear.
fn unreachable_warning(public_url: &str) -> Option<&'static str> {
    let rest = public_url.split_once("://").map_or(public_url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    let loopback =
        host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if loopback {
        return Some(
            "Note: jmap.public_url names this machine (loopback); a phone cannot open the link. \
             Set [jmap] public_url (with TLS) to the address phones reach, or hand the file over.",
        );
    }
    let plain = public_url.get(..7).is_some_and(|s| s.eq_ignore_ascii_case("http://"));
    plain.then_some(
        "Warning: jmap.public_url is plain http://: the profile, with the token in it, would cross \
         the network in clear. Set [jmap] public_url to an https:// address phones reach, or hand the file over.",
    )
}

fn security_key(s: crate::config::Security) -> &'static str {
    match s {
        crate::config::Security::Tls => "tls",
        crate::config::Security::StartTls => "starttls",
    }
}

/// `15 minutes`, `1 hour`, `90 seconds`.
fn lifetime(secs: u64) -> String {
    let (n, unit) = match secs {
        s if s % 3600 == 0 => (s / 3600, "hour"),
        s if s % 60 == 0 => (s / 60, "minute"),
        s => (s, "second"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

fn list(app: &App, json: bool) -> anyhow::Result<ExitCode> {
    let devices = app.store.devices().all()?;
    if json {
        let v: Vec<serde_json::Value> = devices
            .iter()
            .map(|d| {
                json!({"id": d.id, "mailbox": d.mailbox, "name": d.name, "grants": d.grants,
                    "created_at": d.created_at, "last_used_at": d.last_used_at,
                    "last_protocol": d.last_protocol, "revoked": d.revoked_at.is_some(),
                    "revoked_at": d.revoked_at})
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
        let used = match (d.last_used_at, d.last_protocol.as_deref()) {
            (Some(t), Some(p)) => format!("last used {} over {}", fmt(Some(t)), p.to_uppercase()),
            (t, _) => format!("last used {}", fmt(t)),
        };
        let state = match d.revoked_at {
            Some(t) => format!("revoked {} ({used})", fmt(Some(t))),
            None => used,
        };
        let grants = if d.grants.is_empty() { String::new() } else { format!(" (+ {})", d.grants.join(", ")) };
        outln!("{:>4}  {:24} {}{}  {}", d.id, d.name, d.mailbox, grants, state)?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_loopback_public_url_is_unreachable_for_phones() {
        for url in ["http://127.0.0.1:8080", "http://localhost", "http://[::1]:80/x", "https://LOCALHOST:8443"] {
            assert!(super::unreachable_warning(url).is_some(), "{url}");
        }
        for url in ["https://mail.bau-firma.de", "https://192.168.1.20:8443", "https://[2001:db8::1]"] {
            assert!(super::unreachable_warning(url).is_none(), "{url}");
        }
    }

    #[test]
    fn a_plain_http_public_url_to_another_machine_is_warned_about() {
        for url in ["http://mail.bau-firma.de", "HTTP://192.168.1.20:8080/", "http://[2001:db8::1]:80"] {
            let w = super::unreachable_warning(url).unwrap_or_else(|| panic!("no warning for {url}"));
            assert!(w.contains("in clear"), "{url}: {w}");
        }
        assert!(super::unreachable_warning("http://127.0.0.1:8080").unwrap().contains("loopback"));
    }

    /// Storing the link fails after the profile was written: the device is revoked and the
    /// file, which holds the token, removed. On main both stayed.
    #[test]
    fn a_failed_link_revokes_the_device_and_removes_the_profile() {
        let dir = tempfile::tempdir().unwrap();
        let app = crate::app::for_test(dir.path(), false);
        let id = app.store.devices().add("becker", "iPhone", &[], "hash").unwrap();
        let path = dir.path().join("iPhone.mobileconfig");
        super::write_new(&path, "<plist/>").unwrap();
        let Err(e) = super::link_or_undo(&app, id, &path, || anyhow::bail!("the store is full")) else {
            panic!("a failed link is not an error")
        };
        let e = format!("{e:#}");
        assert!(e.contains("the store is full") && e.contains("revoked again and the profile removed"), "{e}");
        assert!(!path.exists(), "the profile with the token is left behind");
        assert!(
            app.store.devices().all().unwrap().iter().find(|d| d.id == id).unwrap().revoked_at.is_some(),
            "the device is still active"
        );
        // And when storing works, nothing is undone.
        let id2 = app.store.devices().add("becker", "iPad", &[], "hash2").unwrap();
        super::write_new(&path, "<plist/>").unwrap();
        let made = super::link_or_undo(&app, id2, &path, || super::store_link(&app, id2, "<plist/>")).unwrap();
        assert!(made.url.contains("/setup/") && path.exists());
    }

    #[test]
    fn lifetimes_read_naturally() {
        assert_eq!(super::lifetime(900), "15 minutes");
        assert_eq!(super::lifetime(3600), "1 hour");
        assert_eq!(super::lifetime(60), "1 minute");
        assert_eq!(super::lifetime(90), "90 seconds");
    }
}
