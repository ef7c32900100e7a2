//! `[[mailbox]]`: one employee's or shared mailbox: its addresses, its hosted login and
//! password, the folders to mirror, the path it sends on, its own SMTP login, its DKIM key and
//! its leave settings. Every error names the mailbox: `mailbox "becker": addresses ... is not
//! an e-mail address`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::raw::{RawDkim, RawMailbox, RawMailboxSmtp, RawRate, RawVacation};
use super::servers::RateLimits;
use super::validate::{header_text_problem, invalid, is_address};
use super::{ConfigError, Rel, Secret};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailboxKind {
    Employee,
    Shared,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Direct,
    Relay,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Direct => "direct",
            Transport::Relay => "relay",
        }
    }
}

/// A folder to mirror: by SPECIAL-USE role (`\Sent`) or by name (`INBOX`, `Projekte/2026`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FolderSpec {
    Role(String),
    Name(String),
}

#[derive(Debug, Clone)]
pub struct Mailbox {
    pub id: String,
    pub kind: MailboxKind,
    pub name: String,
    /// Company addresses, lowercased; the first is the one mail is sent from.
    pub addresses: Vec<String>,
    pub hosted_address: String,
    pub login: String,
    pub password: Secret,
    pub folders: Vec<FolderSpec>,
    pub transport: Transport,
    pub sent_folder: FolderSpec,
    pub smtp: Option<MailboxSmtp>,
    pub dkim: Option<Dkim>,
    /// As written; `autoreply` turns it into its own settings type.
    pub vacation: Option<RawVacation>,
}

impl Mailbox {
    /// The address mail from this mailbox carries in From.
    pub fn primary_address(&self) -> &str {
        &self.addresses[0]
    }

    /// Every address that counts as this mailbox: company addresses and the hosted one.
    pub fn all_addresses(&self) -> impl Iterator<Item = &str> {
        self.addresses.iter().map(String::as_str).chain(std::iter::once(self.hosted_address.as_str()))
    }

    /// The company domains this mailbox sends for (from its addresses), lowercased, unique.
    pub fn company_domains(&self) -> BTreeSet<String> {
        self.addresses.iter().filter_map(|a| a.rsplit_once('@').map(|(_, d)| d.to_string())).collect()
    }
}

#[derive(Debug, Clone)]
pub struct MailboxSmtp {
    pub login: String,
    pub password: Secret,
    /// Limits of this login (on top of the transport's).
    pub limits: RateLimits,
}

#[derive(Debug, Clone)]
pub struct Dkim {
    pub selector: String,
    pub key_file: PathBuf,
    /// The signing domain: the domain of the mailbox's first address unless set.
    pub domain: String,
}

/// What a mailbox's validation needs from the rest of the config.
pub(super) struct Ctx<'a> {
    /// The config file (an inline password needs it to be owner-only).
    pub config_path: &'a Path,
    pub rel: Rel<'a>,
    pub have_relay: bool,
    pub have_direct: bool,
    pub tz: chrono_tz::Tz,
}

/// A problem with one key of a mailbox: `(key, problem)`, prefixed with the mailbox by [`Ctx::mailbox`].
type KeyError = (String, String);

impl Ctx<'_> {
    pub(super) fn mailbox(&self, m: RawMailbox) -> Result<Mailbox, ConfigError> {
        let id = m.id.trim().to_string();
        if id.is_empty()
            || !id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_' || c == '.')
        {
            return Err(invalid(format!("mailbox id \"{}\" must be lowercase letters, digits, '-', '_' or '.'", m.id)));
        }
        self.checked(&id, m).map_err(|(key, problem)| invalid(format!("mailbox \"{id}\": {key} {problem}")))
    }

    fn checked(&self, id: &str, m: RawMailbox) -> Result<Mailbox, KeyError> {
        header_bound(&m)?;
        let kind = match m.kind.as_deref().unwrap_or("employee") {
            "employee" => MailboxKind::Employee,
            "shared" => MailboxKind::Shared,
            o => return Err(("kind".into(), format!("\"{o}\" must be \"employee\" or \"shared\""))),
        };
        let addresses = addresses(&m.addresses)?;
        let hosted_address = match m.hosted_address {
            Some(h) if is_address(&h.trim().to_lowercase()) => h.trim().to_lowercase(),
            Some(h) => return Err(("hosted_address".into(), format!("\"{h}\" is not an e-mail address"))),
            None => return Err(("hosted_address".into(), "is missing".into())),
        };
        let password = self.secret(m.password, m.password_file.map(self.rel), m.password_env, "")?;
        let folders = match m.folders {
            None => ["INBOX", "\\Sent", "\\Drafts", "\\Trash", "\\Junk", "\\Archive"].map(folder_spec).to_vec(),
            Some(f) if f.is_empty() => return Err(("folders".into(), "is empty".into())),
            Some(f) => f.iter().map(|s| folder_spec(s)).collect(),
        };
        let transport = self.transport(m.transport.as_deref())?;
        let smtp = m.smtp.map(|s| self.smtp(s, &addresses[0])).transpose()?;
        if transport == Transport::Direct && smtp.is_none() {
            return Err((
                "smtp".into(),
                "is missing: transport \"direct\" needs the mailbox's own login ([mailbox.smtp] with login and password_file or password_env)".into(),
            ));
        }
        let dkim = m.dkim.map(|d| self.dkim(d, &addresses[0])).transpose()?;
        if let Some(v) = &m.vacation {
            super::vacation::check(v, self.tz)?;
        }
        Ok(Mailbox {
            login: m.login.unwrap_or_else(|| hosted_address.clone()),
            name: m.name.unwrap_or_else(|| id.to_string()),
            id: id.to_string(),
            kind,
            addresses,
            hosted_address,
            password,
            folders,
            transport,
            sent_folder: folder_spec(m.sent_folder.as_deref().unwrap_or("\\Sent")),
            smtp,
            dkim,
            vacation: m.vacation,
        })
    }

    fn transport(&self, given: Option<&str>) -> Result<Transport, KeyError> {
        let transport = match given.unwrap_or("relay") {
            "direct" => Transport::Direct,
            "relay" => Transport::Relay,
            o => return Err(("transport".into(), format!("\"{o}\" must be \"direct\" or \"relay\""))),
        };
        if transport == Transport::Direct && !self.have_direct {
            return Err(("transport".into(), "is \"direct\" but there is no [direct] section".into()));
        }
        if transport == Transport::Relay && !self.have_relay {
            return Err(("transport".into(), "is \"relay\" but there is no [relay] section".into()));
        }
        Ok(transport)
    }

    fn smtp(&self, s: RawMailboxSmtp, first_address: &str) -> Result<MailboxSmtp, KeyError> {
        let password = self.secret(s.password, s.password_file.map(self.rel), s.password_env, "smtp.")?;
        let limits = RateLimits::from_raw(
            &RawRate {
                max_per_minute: s.max_per_minute,
                max_per_hour: s.max_per_hour,
                max_per_day: s.max_per_day,
                max_recipients_per_message: s.max_recipients_per_message,
            },
            "smtp",
        )?;
        Ok(MailboxSmtp { login: s.login.unwrap_or_else(|| first_address.to_string()), password, limits })
    }

    fn dkim(&self, d: RawDkim, first_address: &str) -> Result<Dkim, KeyError> {
        if d.selector.trim().is_empty() {
            return Err(("dkim.selector".into(), "is empty".into()));
        }
        Ok(Dkim {
            selector: d.selector,
            key_file: (self.rel)(d.key_file),
            domain: d
                .domain
                .map(|d| d.to_lowercase())
                .unwrap_or_else(|| first_address.rsplit_once('@').map(|(_, d)| d.to_string()).unwrap_or_default()),
        })
    }

    /// Resolve a password from exactly one of: inline, file, environment variable.
    /// Errors are `(key, problem)` so the caller can prefix the mailbox.
    fn secret(
        &self,
        inline: Option<String>,
        file: Option<PathBuf>,
        env: Option<String>,
        prefix: &str,
    ) -> Result<Secret, (String, String)> {
        let given = inline.is_some() as u8 + file.is_some() as u8 + env.is_some() as u8;
        if given > 1 {
            return Err((
                format!("{prefix}password"),
                "is given more than once: use one of password_file, password_env or password".into(),
            ));
        }
        if let Some(p) = inline {
            // An inline password is only acceptable when nobody but the owner can read the file.
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(self.config_path).map(|m| m.permissions().mode()).unwrap_or(0o777);
            if mode & 0o077 != 0 {
                return Err((
                    format!("{prefix}password"),
                    format!(
                        "is written inline but {} is readable by others (mode {:o}): run `chmod 600` on it, or use password_file / password_env",
                        self.config_path.display(),
                        mode & 0o777
                    ),
                ));
            }
            return Ok(Secret(p));
        }
        if let Some(f) = file {
            let text = std::fs::read_to_string(&f)
                .map_err(|e| (format!("{prefix}password_file"), format!("\"{}\" cannot be read: {e}", f.display())))?;
            let line = text.lines().next().unwrap_or("").to_string();
            if line.is_empty() {
                return Err((format!("{prefix}password_file"), format!("\"{}\" is empty", f.display())));
            }
            return Ok(Secret(line));
        }
        if let Some(v) = env {
            return match std::env::var(&v) {
                Ok(s) if !s.is_empty() => Ok(Secret(s)),
                _ => Err((format!("{prefix}password_env"), format!("names ${v}, which is not set"))),
            };
        }
        Err((format!("{prefix}password_file"), "is missing: set password_file or password_env".into()))
    }
}

/// Values that end up in a header of a message postbote writes: one line each.
fn header_bound(m: &RawMailbox) -> Result<(), KeyError> {
    let header_bound = [
        ("name", m.name.as_deref()),
        ("dkim.selector", m.dkim.as_ref().map(|d| d.selector.as_str())),
        ("dkim.domain", m.dkim.as_ref().and_then(|d| d.domain.as_deref())),
        ("vacation.subject", m.vacation.as_ref().and_then(|v| v.subject.as_deref())),
    ];
    for (key, value) in header_bound {
        if let Some(problem) = value.and_then(header_text_problem) {
            return Err((
                key.into(),
                format!("\"{}\" {problem}: it goes into a mail header", value.unwrap_or("").escape_debug()),
            ));
        }
    }
    Ok(())
}

/// The company addresses, trimmed, lowercased and without repeats; at least one.
fn addresses(given: &[String]) -> Result<Vec<String>, KeyError> {
    if given.is_empty() {
        return Err(("addresses".into(), "is empty: name at least one company address".into()));
    }
    let mut addresses = Vec::new();
    for a in given {
        let a = a.trim().to_lowercase();
        if !is_address(&a) {
            return Err(("addresses".into(), format!("\"{a}\" is not an e-mail address")));
        }
        if !addresses.contains(&a) {
            addresses.push(a);
        }
    }
    Ok(addresses)
}

pub(super) fn folder_spec(s: &str) -> FolderSpec {
    match s.strip_prefix('\\') {
        Some(role) => FolderSpec::Role(role.to_lowercase()),
        None => FolderSpec::Name(s.to_string()),
    }
}
