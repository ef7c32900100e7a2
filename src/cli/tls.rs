//! `postbote tls selfsigned --host NAME [--out DIR] [--force]`: a self-signed certificate and
//! key for the phones' listeners on the LAN (`crate::onboard::selfsigned` makes them).
//!
//! The files go into the data directory unless `--out` names another, mode 0600, and an
//! existing pair is never overwritten without `--force`. They are written beside their place
//! and renamed into it, so a daemon re-reading them on SIGHUP never sees half a file. The
//! command prints the SHA-256 fingerprint, for the phone's user to compare, and the
//! `[phones]` lines to put in the config.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;

use crate::onboard::selfsigned;

/// The file names in the output directory.
pub const CERT_FILE: &str = "phones-cert.pem";
pub const KEY_FILE: &str = "phones-key.pem";

#[derive(Debug, Subcommand)]
pub enum TlsCmd {
    /// Make a self-signed certificate and key for the LAN and print its SHA-256 fingerprint.
    Selfsigned {
        /// The name (or IP address) phones connect to, e.g. mail.bau-firma.lan or 192.168.1.20.
        #[arg(long)]
        host: String,
        /// The directory for phones-cert.pem and phones-key.pem (default: the data directory).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace an existing pair.
        #[arg(long)]
        force: bool,
    },
}

/// Write `text` to `path` with mode 0600 through a temporary file renamed over it.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let _ = std::fs::remove_file(&tmp);
    let mut f = crate::files::private_options().write(true).create_new(true).open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

pub fn tls(config_path: &Path, c: TlsCmd) -> anyhow::Result<ExitCode> {
    let TlsCmd::Selfsigned { host, out, force } = c;
    let dir = match out {
        Some(d) => d,
        None => {
            let cfg = super::load_config(config_path)?;
            cfg.agent.data_dir.clone()
        }
    };
    crate::files::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let dir = dir.canonicalize().with_context(|| format!("reading {}", dir.display()))?;
    let (cert, key) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
    if !force {
        for p in [&cert, &key] {
            if p.exists() {
                bail!("{} exists; give --force to replace the pair, or --out for another directory", p.display());
            }
        }
    }
    let pair = selfsigned::generate(&host, crate::store::now())?;
    write_private(&key, &pair.key_pem).with_context(|| format!("writing {}", key.display()))?;
    write_private(&cert, &pair.cert_pem).with_context(|| format!("writing {}", cert.display()))?;
    let until = chrono::DateTime::from_timestamp(pair.not_after, 0).map(|t| t.format("%Y-%m-%d").to_string());
    outln!("wrote {} and {} (mode 0600)", cert.display(), key.display())?;
    outln!("self-signed for {}, valid until {}", host.trim(), until.unwrap_or_default())?;
    outln!("SHA-256 fingerprint: {}", pair.fingerprint)?;
    outln!("The phone shows this fingerprint when it first connects: compare it before trusting the certificate.")?;
    outln!()?;
    outln!(
        "Put these lines in the config's [phones] section and restart postbote (a renewed pair later needs only SIGHUP):"
    )?;
    outln!("[phones]")?;
    outln!("host = {}", toml_string(host.trim()))?;
    outln!("tls_cert = {}", toml_string(&cert.display().to_string()))?;
    outln!("tls_key = {}", toml_string(&key.display().to_string()))?;
    outln!()?;
    outln!("The JMAP listener (one-time setup links) can present the same pair: [jmap] tls_cert and tls_key.")?;
    Ok(ExitCode::SUCCESS)
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}
