//! `postbote send`, `postbote queue list|show|retry|cancel`, `postbote session
//! login|heartbeat|logout|list`: the office program's and a person's handles on the outbox.
//!
//! `send` queues in this process (one store transaction) and then pokes the daemon's control
//! endpoint so sending starts at once; the daemon also looks at the queue on a timer. Session
//! commands go through the control endpoint; when the daemon is not running they write the
//! store directly and say so.

use std::io::Read;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::json;

use crate::app::App;
use crate::outbox::{self, Origin, Outgoing, compose};

#[derive(Debug, Args)]
pub struct SendArgs {
    /// The mailbox to send for (its id in the config).
    #[arg(long)]
    pub mailbox: String,
    /// A recipient (repeatable). With --raw: the envelope recipients (default: To, Cc, Bcc).
    #[arg(long)]
    pub to: Vec<String>,
    /// A copy recipient (repeatable).
    #[arg(long)]
    pub cc: Vec<String>,
    #[arg(long, default_value = "")]
    pub subject: String,
    /// The body text (UTF-8) from this file; `-` reads standard input.
    #[arg(long)]
    pub body_file: Option<std::path::PathBuf>,
    /// Read a whole RFC 5322 message from standard input.
    #[arg(long, conflicts_with_all = ["subject", "body_file", "cc"])]
    pub raw: bool,
}

#[derive(Debug, Subcommand)]
pub enum QueueCmd {
    /// The newest queued messages and their state.
    List {
        #[arg(long)]
        mailbox: Option<String>,
        /// Only this state (queued, deferred, sent, failed, cancelled, expired, unknown).
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// One message with every recipient and every attempt.
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Send a deferred, failed, expired or unknown message now (and lift a paused login).
    Retry { id: i64 },
    /// Drop a message that has not been sent.
    Cancel { id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum SessionCmd {
    /// Log an office session in: mail on a `send_while = "session"` transport may go.
    Login {
        user: String,
        /// Lease length; the session ends unless renewed within it (default control.session_ttl).
        #[arg(long)]
        ttl: Option<String>,
    },
    /// Renew a session's lease.
    Heartbeat { id: String },
    /// End a session.
    Logout { id: String },
    /// The live sessions.
    List {
        #[arg(long)]
        json: bool,
    },
}

pub async fn send(app: &App, a: SendArgs) -> anyhow::Result<ExitCode> {
    let mb = app.config.mailbox(&a.mailbox).with_context(|| format!("no mailbox \"{}\" in the config", a.mailbox))?;
    let (raw, recipients) = if a.raw {
        let mut raw = Vec::new();
        std::io::stdin().read_to_end(&mut raw).context("reading the message from standard input")?;
        (raw, if a.to.is_empty() { None } else { Some(a.to.clone()) })
    } else {
        if a.to.is_empty() && a.cc.is_empty() {
            bail!("give at least one --to (or --raw with a whole message on standard input)");
        }
        let body = match &a.body_file {
            None => String::new(),
            Some(p) if p.as_os_str() == "-" => {
                let mut s = String::new();
                std::io::stdin().read_to_string(&mut s).context("reading the body from standard input")?;
                s
            }
            Some(p) => std::fs::read_to_string(p).with_context(|| format!("reading the body from {}", p.display()))?,
        };
        let mut h = format!("From: {}\r\n", compose::mailbox_header(Some(&mb.name), mb.primary_address()));
        if !a.to.is_empty() {
            h.push_str(&format!("To: {}\r\n", a.to.join(", ")));
        }
        if !a.cc.is_empty() {
            h.push_str(&format!("Cc: {}\r\n", a.cc.join(", ")));
        }
        h.push_str(&format!("Subject: {}\r\n", compose::encode_word(&a.subject)));
        h.push_str(
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
        );
        let mut raw = h.into_bytes();
        raw.extend_from_slice(body.as_bytes());
        (raw, None)
    };
    let q = outbox::enqueue(
        app,
        Outgoing { mailbox: mb.id.clone(), raw, recipients, origin: Origin::Office, discard_after: None },
    )
    .map_err(|e| anyhow::anyhow!("not queued: {e}"))?;
    println!("queued as {} (Message-ID <{}>)", q.id, q.message_id);
    // Best effort: the daemon would find it on its next look anyway.
    if crate::control::request(&app.config.control.listen, "POST", "/outbox/wake", None).await.is_err() {
        eprintln!("note: the daemon is not running; the message is sent once `postbote run` is started");
    }
    Ok(ExitCode::SUCCESS)
}

fn when(app: &App, t: Option<i64>) -> String {
    t.and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map(|d| d.with_timezone(&app.config.agent.time_zone).format("%d.%m.%Y %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into())
}

fn state_words(s: &str) -> &'static str {
    match s {
        "queued" => "waiting to be sent",
        "sending" => "being sent",
        "deferred" => "will be tried again",
        "sent" => "sent",
        "failed" => "could not be delivered",
        "cancelled" => "cancelled",
        "expired" => "given up (too long undeliverable)",
        "unknown" => "UNKNOWN: may or may not have gone out; decide with `queue retry` or `queue cancel`",
        _ => "?",
    }
}

pub async fn queue(app: &App, c: QueueCmd) -> anyhow::Result<ExitCode> {
    match c {
        QueueCmd::List { mailbox, status, limit, json } => {
            let rows = app.store.outbox_list(mailbox.as_deref(), status.as_deref(), limit)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
                return Ok(ExitCode::SUCCESS);
            }
            if rows.is_empty() {
                println!("the queue is empty");
            }
            for m in rows {
                let to: Vec<&str> = m.recipients.iter().map(|r| r.address.as_str()).collect();
                println!(
                    "{:>6}  {:9}  {:8}  {}  to {}  \"{}\"",
                    m.id,
                    m.status,
                    m.account,
                    when(app, Some(m.created_at)),
                    to.join(", "),
                    m.subject
                );
                match m.status.as_str() {
                    "deferred" => match m.waiting.filter(|w| w.starts_with(outbox::rate::HELD)) {
                        Some(w) => println!("        {w}"),
                        None => println!(
                            "        next attempt {}: {}",
                            when(app, Some(m.due_at)),
                            m.last_error.unwrap_or_default()
                        ),
                    },
                    "queued" | "unknown" | "failed" => {
                        if let Some(w) = m.waiting.or(m.last_error) {
                            println!("        {w}");
                        }
                    }
                    _ => {}
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        QueueCmd::Show { id, json } => {
            let Some((m, attempts)) = app.store.outbox_show(id)? else { bail!("no queued message {id}") };
            if json {
                println!("{}", serde_json::to_string_pretty(&json!({ "message": m, "attempts": attempts }))?);
                return Ok(ExitCode::SUCCESS);
            }
            let failed = m.recipients.iter().filter(|r| r.status == "failed").count();
            let partly = if m.status == "sent" && failed > 0 {
                format!(", but not to {failed} recipient(s): see below")
            } else {
                String::new()
            };
            println!("message {}: {} ({}{partly})", m.id, m.status, state_words(&m.status));
            println!("  mailbox:    {} (from {}), queued by {}", m.account, m.from, m.origin);
            println!("  subject:    {}", m.subject);
            println!("  Message-ID: <{}>", m.message_id);
            println!("  queued:     {}", when(app, Some(m.created_at)));
            if m.status == "deferred" || m.status == "queued" {
                println!("  next try:   {}", when(app, Some(m.due_at)));
            }
            if let Some(w) = &m.waiting {
                println!("  waiting:    {w}");
            }
            if let Some(s) = m.sent_at {
                println!(
                    "  sent:       {}{}",
                    when(app, Some(s)),
                    if m.sent_copy_done { " (copy in Sent)" } else { "" }
                );
            }
            if let Some(r) = &m.resolved {
                println!("  note:       {r}");
            }
            println!("  recipients:");
            for r in &m.recipients {
                println!("    {:40} {:8} {}", r.address, r.status, r.text.clone().unwrap_or_default());
            }
            println!("  history:");
            for a in attempts {
                let who = a.recipient.map(|r| format!(" {r}:")).unwrap_or_default();
                let code = a.code.map(|c| format!(" [{c}]")).unwrap_or_default();
                println!("    {}  {}{who}{code} {}", when(app, Some(a.at)), a.server, a.text);
            }
            Ok(ExitCode::SUCCESS)
        }
        QueueCmd::Retry { id } => {
            if !outbox::retry_now(app, id, "a person")? {
                bail!(
                    "message {id} cannot be sent again: it does not exist, or it is sent, being sent or cancelled (see `postbote queue show {id}`)"
                );
            }
            let _ = crate::control::request(&app.config.control.listen, "POST", "/outbox/wake", None).await;
            println!("message {id} will be sent now");
            Ok(ExitCode::SUCCESS)
        }
        QueueCmd::Cancel { id } => {
            if !outbox::cancel(app, id, "cancelled by a person")? {
                bail!(
                    "message {id} cannot be cancelled: it does not exist, or it is already sent, being sent or final"
                );
            }
            println!("message {id} cancelled");
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub async fn session(app: &App, c: SessionCmd) -> anyhow::Result<ExitCode> {
    use crate::control::{ClientError, request};
    let listen = &app.config.control.listen;
    let offline = |e: &ClientError| matches!(e, ClientError::NotRunning(_));
    let note = "note: the daemon is not running; recorded in the store, effective once `postbote run` starts";
    match c {
        SessionCmd::Login { user, ttl } => {
            let body = json!({ "user": user, "ttl": ttl });
            let s = match request(listen, "POST", "/session/login", Some(&body)).await {
                Ok((201, v)) => v,
                Ok((_, v)) => bail!("login refused: {}", v["error"].as_str().unwrap_or("no reason given")),
                Err(e) if offline(&e) => {
                    let ttl = match ttl.as_deref() {
                        Some(t) => Some(
                            crate::config::parse_duration(t)
                                .with_context(|| format!("--ttl \"{t}\" is not a duration like \"8h\""))?,
                        ),
                        None => None,
                    };
                    eprintln!("{note}");
                    json!(outbox::session_login(app, &user, ttl).map_err(|e| anyhow::anyhow!("{e}"))?)
                }
                Err(e) => return Err(e.into()),
            };
            println!("{}", s["id"].as_str().unwrap_or(""));
            eprintln!("session of {} logged in, lease until {}", user, when(app, s["lease_until"].as_i64()));
            Ok(ExitCode::SUCCESS)
        }
        SessionCmd::Heartbeat { id } => {
            let lease = match request(listen, "POST", &format!("/session/{id}/heartbeat"), None).await {
                Ok((200, v)) => v["lease_until"].as_i64(),
                Ok((_, v)) => bail!("{}", v["error"].as_str().unwrap_or("heartbeat refused")),
                Err(e) if offline(&e) => {
                    eprintln!("{note}");
                    outbox::session_heartbeat(app, &id)?
                        .map(|s| s.lease_until)
                        .with_context(|| format!("session {id} has ended or expired: log in again"))
                        .map(Some)?
                }
                Err(e) => return Err(e.into()),
            };
            println!("lease until {}", when(app, lease));
            Ok(ExitCode::SUCCESS)
        }
        SessionCmd::Logout { id } => {
            match request(listen, "POST", &format!("/session/{id}/logout"), None).await {
                Ok((204, _)) => {}
                Ok((_, v)) => bail!("{}", v["error"].as_str().unwrap_or("logout refused")),
                Err(e) if offline(&e) => {
                    if !outbox::session_logout(app, &id)? {
                        bail!("no live session {id}");
                    }
                }
                Err(e) => return Err(e.into()),
            }
            println!("session {id} logged out");
            Ok(ExitCode::SUCCESS)
        }
        SessionCmd::List { json } => {
            let list = outbox::sessions(app)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if list.is_empty() {
                println!("no office session is logged in");
            } else {
                for s in list {
                    println!(
                        "{}  {:20}  since {}  lease until {}",
                        s.id,
                        s.user,
                        when(app, Some(s.created_at)),
                        when(app, Some(s.lease_until))
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
