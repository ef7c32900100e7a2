//! `postbote send`, `postbote queue list|show|retry|cancel|sent`, `postbote session
//! login|heartbeat|logout|list`: the office program's and a person's handles on the outbox.
//!
//! `send` queues in this process (one store transaction) and then pokes the daemon's control
//! endpoint so sending starts at once; the daemon also looks at the queue on a timer. Session
//! commands go through the control endpoint (the client reads the token itself); when the daemon
//! is not running they write the store directly, say so, and are audited as `cli uid N`.

use std::io::Read;
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use clap::{Args, Subcommand};
use serde_json::json;

use crate::app::App;
use crate::outbox::{self, Origin, Outgoing, State, compose};

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
    /// Settle an unknown message as sent: you checked that it went out (its Sent copy is saved
    /// if the Sent folder does not have it). `queue retry` sends it again instead.
    Sent { id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum SessionCmd {
    /// Log an office session in: mail on a `send_while = "session"` transport may go.
    Login {
        user: String,
        /// Lease length; the session ends unless renewed within it (default control.session_ttl,
        /// never more than control.max_session_ttl).
        #[arg(long)]
        ttl: Option<String>,
    },
    /// Renew a session's lease.
    Heartbeat { id: String },
    /// End a session.
    Logout { id: String },
    /// The live sessions, each with its lease end.
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
        let raw = compose_send(app, mb, &a, &body)?;
        (raw, None)
    };
    let q = outbox::enqueue(
        app,
        Outgoing { mailbox: mb.id.clone(), raw, recipients, origin: Origin::Office, discard_after: None },
    )
    .map_err(|e| anyhow::anyhow!("not queued: {e}"))?;
    outln!("queued as {} (Message-ID <{}>)", q.id, q.message_id)?;
    // Best effort: the daemon would find it on its next look anyway.
    match crate::control::request(&app.config.control, "POST", "/outbox/wake", None).await {
        Ok(_) => {}
        Err(crate::control::ClientError::NotRunning(_)) => {
            eprintln!("note: the daemon is not running; the message is sent once `postbote run` is started")
        }
        Err(e) => eprintln!("note: could not wake the daemon ({e}); it looks at the queue every few seconds anyway"),
    }
    Ok(ExitCode::SUCCESS)
}

/// A recipient as given on the command line: `kunde@example.de` or `Kunde <kunde@example.de>`.
fn recipient<'a>(given: &'a str, flag: &str) -> anyhow::Result<(Option<&'a str>, &'a str)> {
    let given = given.trim();
    let (name, addr) = match given.strip_suffix('>').and_then(|g| g.rsplit_once('<')) {
        Some((name, addr)) => (Some(name.trim().trim_matches('"').trim()).filter(|n| !n.is_empty()), addr.trim()),
        None => (None, given),
    };
    if let Some(problem) = name.and_then(crate::config::header_text_problem) {
        bail!("{flag} \"{}\": the name {problem}", given.escape_debug());
    }
    if !crate::config::is_address(addr) {
        bail!("{flag} \"{}\" is not an e-mail address", given.escape_debug());
    }
    Ok((name, addr))
}

/// The message `send` queues, built by mail-builder (so every header is encoded and folded by
/// it); a subject or name with a line break is refused, never written into a header.
fn compose_send(app: &App, mb: &crate::config::Mailbox, a: &SendArgs, body: &str) -> anyhow::Result<Vec<u8>> {
    use mail_builder::MessageBuilder;
    use mail_builder::headers::address::Address;
    use mail_builder::headers::raw::Raw;
    if let Some(problem) = crate::config::header_text_problem(&a.subject) {
        bail!("--subject \"{}\" {problem}: a subject is one line", a.subject.escape_debug());
    }
    let list = |given: &[String], flag: &str| -> anyhow::Result<Address<'static>> {
        let mut out = Vec::new();
        for g in given {
            let (name, addr) = recipient(g, flag)?;
            out.push(Address::new_address(name.map(str::to_string), addr.to_string()));
        }
        Ok(Address::new_list(out))
    };
    let from = mb.primary_address();
    let domain = from.rsplit_once('@').map(|(_, d)| d).unwrap_or(from);
    let mut b = MessageBuilder::new()
        .from(Address::new_address(Some(mb.name.clone()), from.to_string()))
        .message_id(compose::new_message_id(domain))
        .header("Date", Raw::new(compose::date_header(app.config.agent.time_zone)));
    if !a.to.is_empty() {
        b = b.to(list(&a.to, "--to")?);
    }
    if !a.cc.is_empty() {
        b = b.cc(list(&a.cc, "--cc")?);
    }
    if !a.subject.is_empty() {
        b = b.subject(a.subject.clone());
    }
    b = b.text_body(body.to_string());
    b.write_to_vec().context("building the message")
}

/// The control endpoint's path for one session; an id is what `session login` printed (letters
/// and digits), so nothing else can reach the request line.
fn session_path(id: &str, action: &str) -> anyhow::Result<String> {
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
        anyhow::bail!(
            "\"{}\" is not a session id (the letters and digits `postbote session login` printed)",
            id.escape_debug()
        );
    }
    Ok(format!("/session/{id}/{action}"))
}

fn when(app: &App, t: Option<i64>) -> String {
    t.and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map(|d| d.with_timezone(&app.config.agent.time_zone).format("%d.%m.%Y %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into())
}

fn state_words(s: State) -> &'static str {
    match s {
        State::Queued => "waiting to be sent",
        State::Sending => "being sent",
        State::Deferred => "will be tried again",
        State::Sent => "sent",
        State::Failed => "could not be delivered",
        State::Cancelled => "cancelled",
        State::Expired => "given up (too long undeliverable)",
        State::Unknown => {
            "UNKNOWN: may or may not have gone out; decide with `queue sent` (it went out) or `queue retry` (send it again)"
        }
    }
}

pub async fn queue(app: &App, c: QueueCmd) -> anyhow::Result<ExitCode> {
    match c {
        QueueCmd::List { mailbox, status, limit, json } => {
            let status = status
                .as_deref()
                .map(str::parse::<State>)
                .transpose()
                .map_err(|e| anyhow!("queue list --status: {e}"))?;
            let rows = app.store.outbox().list(mailbox.as_deref(), status, limit)?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&rows)?)?;
                return Ok(ExitCode::SUCCESS);
            }
            if rows.is_empty() {
                outln!("the queue is empty")?;
            }
            for m in rows {
                let to: Vec<&str> = m.recipients.iter().map(|r| r.address.as_str()).collect();
                outln!(
                    "{:>6}  {:9}  {:8}  {}  to {}  \"{}\"",
                    m.id,
                    m.status,
                    m.account,
                    when(app, Some(m.created_at)),
                    to.join(", "),
                    m.subject
                )?;
                match m.status {
                    State::Deferred => match m.waiting.filter(|w| w.starts_with(outbox::rate::HELD)) {
                        Some(w) => outln!("        {w}")?,
                        None => outln!(
                            "        next attempt {}: {}",
                            when(app, Some(m.due_at)),
                            m.last_error.unwrap_or_default()
                        )?,
                    },
                    State::Queued | State::Unknown | State::Failed => {
                        if let Some(w) = m.waiting.or(m.last_error) {
                            outln!("        {w}")?;
                        }
                    }
                    _ => {}
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        QueueCmd::Show { id, json } => {
            let Some((m, attempts)) = app.store.outbox().show(id)? else { bail!("no queued message {id}") };
            if json {
                outln!("{}", serde_json::to_string_pretty(&json!({ "message": m, "attempts": attempts }))?)?;
                return Ok(ExitCode::SUCCESS);
            }
            let failed = m.recipients.iter().filter(|r| r.status == "failed").count();
            let partly = if m.status == State::Sent && failed > 0 {
                format!(", but not to {failed} recipient(s): see below")
            } else {
                String::new()
            };
            outln!("message {}: {} ({}{partly})", m.id, m.status, state_words(m.status))?;
            outln!("  mailbox:    {} (from {}), queued by {}", m.account, m.from, m.origin)?;
            outln!("  subject:    {}", m.subject)?;
            outln!("  Message-ID: <{}>", m.message_id)?;
            outln!("  queued:     {}", when(app, Some(m.created_at)))?;
            if m.status.is_waiting() {
                outln!("  next try:   {}", when(app, Some(m.due_at)))?;
            }
            if let Some(w) = &m.waiting {
                outln!("  waiting:    {w}")?;
            }
            if let Some(s) = m.sent_at {
                outln!(
                    "  sent:       {}{}",
                    when(app, Some(s)),
                    if m.sent_copy_done { " (copy in Sent)" } else { "" }
                )?;
            }
            if let Some(r) = &m.resolved {
                outln!("  note:       {r}")?;
            }
            outln!("  recipients:")?;
            for r in &m.recipients {
                outln!("    {:40} {:8} {}", r.address, r.status, r.text.clone().unwrap_or_default())?;
            }
            outln!("  history:")?;
            for a in attempts {
                let who = a.recipient.map(|r| format!(" {r}:")).unwrap_or_default();
                let code = a.code.map(|c| format!(" [{c}]")).unwrap_or_default();
                outln!("    {}  {}{who}{code} {}", when(app, Some(a.at)), a.server, a.text)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        QueueCmd::Retry { id } => {
            if !outbox::retry_now(app, id, "a person")? {
                bail!(
                    "message {id} cannot be sent again: it does not exist, or it is sent, being sent or cancelled (see `postbote queue show {id}`)"
                );
            }
            let _ = crate::control::request(&app.config.control, "POST", "/outbox/wake", None).await;
            outln!("message {id} will be sent now")?;
            Ok(ExitCode::SUCCESS)
        }
        QueueCmd::Cancel { id } => {
            if !outbox::cancel(app, id, "cancelled by a person")? {
                bail!(
                    "message {id} cannot be cancelled: it does not exist, or it is already sent, being sent or final"
                );
            }
            outln!("message {id} cancelled")?;
            Ok(ExitCode::SUCCESS)
        }
        QueueCmd::Sent { id } => {
            if !outbox::mark_sent(app, id, "a person")? {
                match outbox::state(app, id)? {
                    None => bail!("there is no message {id} in the queue"),
                    Some(s) => bail!(
                        "message {id} is {}: only a message whose outcome is unknown can be settled as sent",
                        state_words(s)
                    ),
                }
            }
            let _ = crate::control::request(&app.config.control, "POST", "/outbox/wake", None).await;
            outln!("message {id} recorded as sent")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub async fn session(app: &App, c: SessionCmd) -> anyhow::Result<ExitCode> {
    use crate::control::{ClientError, request};
    let listen = &app.config.control;
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
            outln!("{}", s["id"].as_str().unwrap_or(""))?;
            let asked = ttl.as_deref().and_then(crate::config::parse_duration).map(|d| d.as_secs() as i64);
            let capped = match (asked, s["ttl_secs"].as_i64()) {
                (Some(a), Some(got)) if got < a => " (shortened to control.max_session_ttl)",
                _ => "",
            };
            eprintln!("session of {} logged in, lease until {}{capped}", user, when(app, s["lease_until"].as_i64()));
            Ok(ExitCode::SUCCESS)
        }
        SessionCmd::Heartbeat { id } => {
            let lease = match request(listen, "POST", &session_path(&id, "heartbeat")?, None).await {
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
            outln!("lease until {}", when(app, lease))?;
            Ok(ExitCode::SUCCESS)
        }
        SessionCmd::Logout { id } => {
            match request(listen, "POST", &session_path(&id, "logout")?, None).await {
                Ok((204, _)) => {}
                Ok((_, v)) => bail!("{}", v["error"].as_str().unwrap_or("logout refused")),
                Err(e) if offline(&e) => {
                    if !outbox::session_logout(app, &id)? {
                        bail!("no live session {id}");
                    }
                }
                Err(e) => return Err(e.into()),
            }
            outln!("session {id} logged out")?;
            Ok(ExitCode::SUCCESS)
        }
        SessionCmd::List { json } => {
            let list = outbox::sessions(app)?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&list)?)?;
            } else if list.is_empty() {
                outln!("no office session is logged in")?;
            } else {
                for s in list {
                    outln!(
                        "{}  {:20}  since {}  lease until {}",
                        s.id,
                        s.user,
                        when(app, Some(s.created_at)),
                        when(app, Some(s.lease_until))
                    )?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
