//! `postbote console user add|list|remove`: the web console's accounts.
//!
//! `add` reads the password from standard input (echo off at a terminal), hashes it with
//! Argon2id and stores only the hash; adding a name again replaces its role, mailbox and
//! password and ends its open logins. An office account may do everything; an employee
//! account is bound to one mailbox.

use std::io::BufRead;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;

use crate::app::App;
use crate::store::console::Role;

#[derive(Debug, Subcommand)]
pub enum ConsoleCmd {
    /// Console accounts.
    #[command(subcommand)]
    User(UserCmd),
}

#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Add an account (or replace its password); the password is read from standard input.
    Add {
        name: String,
        /// "office" (everything) or "employee" (one mailbox: its automatic reply, queue, phones).
        #[arg(long)]
        role: String,
        /// The employee's mailbox id.
        #[arg(long)]
        mailbox: Option<String>,
    },
    /// List the accounts.
    List,
    /// Remove an account and end its logins.
    Remove { name: String },
}

/// Read one line from standard input, without echo when it is a terminal.
fn read_password() -> anyhow::Result<String> {
    use std::io::IsTerminal;
    let tty = std::io::stdin().is_terminal();
    let mut saved: Option<libc::termios> = None;
    if tty {
        eprint!("password: ");
        // SAFETY: tcgetattr/tcsetattr on fd 0 with a zeroed termios that tcgetattr fills.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) == 0 {
                saved = Some(t);
                t.c_lflag &= !libc::ECHO;
                libc::tcsetattr(0, libc::TCSANOW, &t);
            }
        }
    }
    let mut line = String::new();
    let r = std::io::stdin().lock().read_line(&mut line);
    if let Some(t) = saved {
        // SAFETY: restores the settings read above.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &t) };
        eprintln!();
    }
    r.context("reading the password from standard input")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

pub async fn console(app: &App, c: ConsoleCmd) -> anyhow::Result<ExitCode> {
    let ConsoleCmd::User(u) = c;
    match u {
        UserCmd::Add { name, role, mailbox } => {
            let name = name.trim().to_string();
            if name.is_empty() || name.len() > 64 || name.chars().any(|c| c.is_control() || c.is_whitespace()) {
                bail!("the name must be 1 to 64 characters without spaces");
            }
            let role =
                Role::parse(&role).with_context(|| format!("--role \"{role}\": use \"office\" or \"employee\""))?;
            match (role, &mailbox) {
                (Role::Office, Some(_)) => bail!("--mailbox is only for employee accounts"),
                (Role::Employee, None) => bail!("an employee account needs --mailbox"),
                (Role::Employee, Some(m)) if app.config.mailbox(m).is_none() => {
                    bail!("--mailbox {m}: no mailbox \"{m}\" in the config")
                }
                _ => {}
            }
            let password = read_password()?;
            if password.chars().count() < 10 {
                bail!("the password must have at least 10 characters");
            }
            let hash = crate::console::auth::hash_password(&password).map_err(|e| anyhow::anyhow!("hashing: {e}"))?;
            app.store.console().put_user(&name, role, mailbox.as_deref(), &hash)?;
            app.store.console().audit("cli", "user.put", &format!("{name} ({})", role.as_str()))?;
            outln!("console account \"{name}\" ({}) saved.", role.as_str())?;
            Ok(ExitCode::SUCCESS)
        }
        UserCmd::List => {
            for u in app.store.console().users()? {
                let mb = u.mailbox.as_deref().map(|m| format!(", mailbox {m}")).unwrap_or_default();
                outln!("{} ({}{mb})", u.name, u.role.as_str())?;
            }
            Ok(ExitCode::SUCCESS)
        }
        UserCmd::Remove { name } => {
            if app.store.console().remove_user(&name)? {
                app.store.console().audit("cli", "user.remove", &name)?;
                outln!("console account \"{name}\" removed; its logins have ended.")?;
                Ok(ExitCode::SUCCESS)
            } else {
                bail!("no console account \"{name}\"")
            }
        }
    }
}
