//! One submission connection: the SMTP dialogue from greeting to QUIT over a plain socket,
//! upgraded by STARTTLS, or TLS from the first byte.
//!
//! Commands are parsed by `smtp-proto` (one line at a time; this file only finds the line
//! ends) and the EHLO answer is written by it. Replies are gathered and written when the
//! client has nothing more in flight, so a pipelining client gets them in one write. Every
//! wait for the client is a `select!` over its bytes, the idle timeout, the daemon's shutdown
//! and (once logged in) the device's revocation; the three last answer 421 and close. Every
//! write is the same `select!` (a client that never reads must not hold the connection, or
//! the daemon's shutdown, forever); a write that does not finish drops the connection without
//! another word, and the last 421 itself gets only [`LAST_WRITE_TIMEOUT`]. The one step that
//! is never cut short is the commit of a message: `250` is written only after
//! `outbox::enqueue` returned, and a shutdown that arrives meanwhile waits for it.
//!
//! The message is read once into one buffer, its header alone is checked, and that buffer
//! (with the `Received:` line put in front of it) is what the outbox gets.
//!
//! What is never written anywhere: the AUTH line, the SASL answers, the token, the message
//! body. The log has the device id, the mailbox and the outbox id.

use std::fmt::Display;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use smtp_proto::{Error as ParseError, MailFrom, RcptTo, Request, Response};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use super::Listener;
use super::data::{Data, DataReader};
use super::rules::{self, Credential};
use crate::devices::{Login, Presented, Protocol, Refused};
use crate::outbox::{EnqueueError, Origin, Outgoing};

/// A command line longer than this is refused (RFC 5321 §4.5.3.1.4 says 512; AUTH PLAIN
/// answers and extension parameters need more).
const MAX_LINE: usize = 4096;
/// Bad commands in a row before the connection is closed.
const MAX_ERRORS: u32 = 10;
/// Recipients of one message.
const MAX_RECIPIENTS: usize = 1000;
/// The TLS handshake must be done by then.
pub(super) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// The closing 421 (shutdown, idle, revoked) is given this long to be written, then the
/// connection is dropped.
const LAST_WRITE_TIMEOUT: Duration = Duration::from_secs(2);

pub(super) trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}
pub(super) type Io = Box<dyn Stream>;

/// Why the client is no longer read.
#[derive(Debug)]
enum End {
    /// The client closed or the socket failed.
    Gone,
    Idle,
    Shutdown,
    Revoked,
}

enum Line {
    Text(Vec<u8>),
    TooLong,
}

/// A reply that refuses: code, enhanced status, text.
type Refusal = (u16, [u8; 3], &'static str);

enum Flow {
    Go,
    Quit,
    /// The reply is written; close without another.
    Close,
    StartTls,
}

pub(super) struct Session {
    l: Arc<Listener>,
    io: Io,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    /// Discarding the rest of a line that was too long.
    skipping: bool,
    peer: IpAddr,
    local: IpAddr,
    tls: bool,
    helo: Option<String>,
    login: Option<Login>,
    live: Option<crate::devices::Connection>,
    mail: Option<String>,
    rcpts: Vec<String>,
    errors: u32,
    shutdown: CancellationToken,
    /// A place among the client address's connections without a login; given up at login.
    unauthed: Option<super::UnauthedPlace>,
}

impl Session {
    pub(super) fn new(
        l: Arc<Listener>,
        io: Io,
        peer: IpAddr,
        local: IpAddr,
        tls: bool,
        shutdown: CancellationToken,
        unauthed: super::UnauthedPlace,
    ) -> Self {
        Session {
            l,
            io,
            inbuf: Vec::new(),
            out: Vec::new(),
            skipping: false,
            peer,
            local,
            tls,
            helo: None,
            login: None,
            live: None,
            mail: None,
            rcpts: Vec::new(),
            errors: 0,
            shutdown,
            unauthed: Some(unauthed),
        }
    }

    /// The whole dialogue; returns when the connection is over.
    pub(super) async fn run(mut self) {
        let host = self.l.app.config.phones.host.clone();
        self.reply(220, [0, 0, 0], format!("{host} ESMTP postbote"));
        loop {
            let line = match self.read_line().await {
                Ok(l) => l,
                Err(e) => return self.end(e).await,
            };
            let flow = match line {
                Line::TooLong => {
                    self.fail(500, [5, 5, 6], "Line too long");
                    Flow::Go
                }
                Line::Text(bytes) => match Request::parse(&mut bytes.iter()) {
                    Ok(req) => match self.command(req.into_owned()).await {
                        Ok(f) => f,
                        Err(e) => return self.end(e).await,
                    },
                    Err(e) => {
                        self.syntax(e);
                        Flow::Go
                    }
                },
            };
            match flow {
                Flow::Go => {}
                Flow::Quit => {
                    self.reply(221, [2, 0, 0], "Bye");
                    let _ = self.flush().await;
                    return;
                }
                Flow::Close => {
                    let _ = self.flush().await;
                    return;
                }
                Flow::StartTls => {
                    if let Err(e) = self.start_tls().await {
                        tracing::debug!(peer = %self.peer, error = %e, "submission: TLS handshake failed");
                        return;
                    }
                }
            }
            if self.errors >= MAX_ERRORS {
                self.reply(421, [4, 7, 0], "Too many errors, closing the connection");
                let _ = self.flush().await;
                return;
            }
        }
    }

    async fn end(mut self, why: End) {
        let (code, esc, text) = match why {
            End::Gone => return,
            End::Idle => (421, [4, 4, 2], "Idle for too long, closing the connection"),
            End::Shutdown => (421, [4, 3, 2], "postbote is shutting down; try again later"),
            End::Revoked => (421, [4, 7, 0], "This device was revoked; closing the connection"),
        };
        tracing::debug!(peer = %self.peer, ?why, "submission: closing the connection");
        self.reply(code, esc, text);
        // Shutdown or revocation already happened, so this write cannot wait for them: it
        // gets a short time of its own.
        let out = std::mem::take(&mut self.out);
        let io = &mut self.io;
        let _ = tokio::time::timeout(LAST_WRITE_TIMEOUT, async move {
            io.write_all(&out).await?;
            io.flush().await
        })
        .await;
    }

    // ------------------------------------------------------------------ replies

    fn reply(&mut self, code: u16, esc: [u8; 3], text: impl Display) {
        if esc == [0, 0, 0] {
            self.out.extend_from_slice(format!("{code} {text}\r\n").as_bytes());
        } else {
            let _ = Response::new(code, esc[0], esc[1], esc[2], text).write(&mut self.out);
        }
    }

    /// A refusal of a bad command: it counts towards closing.
    fn fail(&mut self, code: u16, esc: [u8; 3], text: impl Display) {
        self.errors += 1;
        self.reply(code, esc, text);
    }

    /// A command that did what it should: the run of errors is over.
    fn ok(&mut self, code: u16, esc: [u8; 3], text: impl Display) {
        self.errors = 0;
        self.reply(code, esc, text);
    }

    fn syntax(&mut self, e: ParseError) {
        match e {
            ParseError::UnknownCommand => self.fail(500, [5, 5, 2], "Command not recognized"),
            ParseError::InvalidSenderAddress => self.fail(501, [5, 1, 7], "Bad sender address syntax"),
            ParseError::InvalidRecipientAddress => self.fail(501, [5, 1, 3], "Bad recipient address syntax"),
            ParseError::SyntaxError { syntax } => self.fail(501, [5, 5, 4], format!("Syntax: {syntax}")),
            ParseError::InvalidParameter { param } => self.fail(501, [5, 5, 4], format!("Invalid parameter {param}")),
            ParseError::UnsupportedParameter { param } => {
                let param: String = param.chars().filter(|c| c.is_ascii_graphic()).take(40).collect();
                self.fail(555, [5, 5, 4], format!("Unsupported parameter {param}"))
            }
            _ => self.fail(500, [5, 5, 2], "Syntax error"),
        }
    }

    /// Write the gathered replies. Bounded like a read: the idle timeout, the daemon's
    /// shutdown and the device's revocation cut it short, and then the connection is to be
    /// dropped without another reply (`End::Gone`): the stream may hold half a reply.
    async fn flush(&mut self) -> Result<(), End> {
        if self.out.is_empty() {
            return Ok(());
        }
        let out = std::mem::take(&mut self.out);
        let revoked = self.revoked();
        let idle = self.l.app.config.submission.idle_timeout;
        let io = &mut self.io;
        let write = async move {
            io.write_all(&out).await?;
            io.flush().await
        };
        let why = tokio::select! {
            r = tokio::time::timeout(idle, write) => match r {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(_)) => "the write failed",
                Err(_) => "the client reads nothing (idle timeout)",
            },
            _ = self.shutdown.cancelled() => "shutdown",
            _ = revoked => "the device was revoked",
        };
        tracing::debug!(peer = %self.peer, why, "submission: a reply could not be written; dropping the connection");
        Err(End::Gone)
    }

    /// Resolves when the logged-in device is revoked; never before a login.
    fn revoked(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let ended = self.live.as_ref().map(|c| c.ended());
        async move {
            match ended {
                Some(f) => f.await,
                None => std::future::pending().await,
            }
        }
    }

    // ------------------------------------------------------------------ reading

    /// Wait for more bytes from the client (replies are written first).
    async fn read_more(&mut self) -> Result<(), End> {
        if self.shutdown.is_cancelled() {
            return Err(End::Shutdown);
        }
        self.flush().await?;
        let revoked = self.revoked();
        let mut buf = [0u8; 16 * 1024];
        tokio::select! {
            r = self.io.read(&mut buf) => match r {
                Ok(0) | Err(_) => Err(End::Gone),
                Ok(n) => {
                    self.inbuf.extend_from_slice(&buf[..n]);
                    Ok(())
                }
            },
            _ = tokio::time::sleep(self.l.app.config.submission.idle_timeout) => Err(End::Idle),
            _ = self.shutdown.cancelled() => Err(End::Shutdown),
            _ = revoked => Err(End::Revoked),
        }
    }

    /// The next command line, with its line end.
    async fn read_line(&mut self) -> Result<Line, End> {
        loop {
            if self.shutdown.is_cancelled() {
                return Err(End::Shutdown);
            }
            if self.live.as_ref().is_some_and(|c| c.is_ended()) {
                return Err(End::Revoked);
            }
            if let Some(i) = self.inbuf.iter().position(|&c| c == b'\n') {
                let line: Vec<u8> = self.inbuf.drain(..=i).collect();
                // Too long whether it came in many reads (skipped) or in one.
                if std::mem::take(&mut self.skipping) || line.len() > MAX_LINE {
                    return Ok(Line::TooLong);
                }
                return Ok(Line::Text(line));
            }
            if self.inbuf.len() > MAX_LINE {
                self.inbuf.clear();
                self.skipping = true;
            }
            self.read_more().await?;
        }
    }

    /// One SASL answer line, without its line end ("*" cancels); None when it was too long
    /// or not UTF-8.
    async fn read_answer(&mut self) -> Result<Option<String>, End> {
        match self.read_line().await? {
            Line::TooLong => Ok(None),
            Line::Text(b) => Ok(String::from_utf8(b).ok().map(|s| s.trim_end_matches(['\r', '\n']).to_string())),
        }
    }

    // ------------------------------------------------------------------ commands

    fn reset(&mut self) {
        self.mail = None;
        self.rcpts.clear();
    }

    async fn command(&mut self, req: Request<String>) -> Result<Flow, End> {
        match req {
            Request::Ehlo { host } => self.ehlo(host),
            Request::Helo { host } => {
                self.reset();
                self.helo = Some(host);
                let me = self.l.app.config.phones.host.clone();
                self.ok(250, [0, 0, 0], me);
            }
            Request::StartTls => return Ok(self.starttls()),
            Request::Auth { mechanism, initial_response } => self.auth(mechanism, initial_response).await?,
            Request::Mail { from } => self.mail_from(from),
            Request::Rcpt { to } => self.rcpt_to(to),
            Request::Data => self.data().await?,
            Request::Rset => {
                self.reset();
                self.ok(250, [2, 0, 0], "OK");
            }
            Request::Noop { .. } => self.ok(250, [2, 0, 0], "OK"),
            Request::Vrfy { .. } => self.ok(252, [2, 5, 0], "Cannot VRFY user, but will accept the message"),
            Request::Help { .. } => self.ok(214, [2, 0, 0], "See RFC 5321 and RFC 6409"),
            Request::Quit => return Ok(Flow::Quit),
            Request::Bdat { .. } => {
                // Without CHUNKING announced, the chunk that follows is not ours to read:
                // the connection cannot be kept in step.
                self.reply(503, [5, 5, 1], "BDAT is not offered; closing the connection");
                return Ok(Flow::Close);
            }
            other => self.fail(502, [5, 5, 1], format!("{} is not implemented", other.name())),
        }
        Ok(Flow::Go)
    }

    fn ehlo(&mut self, host: String) {
        use smtp_proto::*;
        self.reset();
        self.helo = Some(host);
        let cfg = &self.l.app.config;
        let mut e = EhloResponse::new(cfg.phones.host.clone());
        e.capabilities = EXT_PIPELINING | EXT_8BIT_MIME | EXT_ENHANCED_STATUS_CODES | EXT_SIZE;
        e.size = cfg.submission.max_message_size;
        if !self.tls && self.l.tls.is_some() {
            e.capabilities |= EXT_START_TLS;
        }
        if rules::plain_auth_allowed(self.local, self.tls) {
            e.capabilities |= EXT_AUTH;
            e.auth_mechanisms = AUTH_PLAIN | AUTH_LOGIN;
        }
        self.errors = 0;
        let mut answer = Vec::new();
        let _ = e.write(&mut answer);
        // smtp-proto's first line carries a joke; ours names the server.
        let first = answer.windows(2).position(|w| w == b"\r\n").map_or(answer.len(), |i| i + 2);
        self.out.extend_from_slice(format!("250-{} postbote\r\n", cfg.phones.host).as_bytes());
        self.out.extend_from_slice(&answer[first..]);
    }

    fn starttls(&mut self) -> Flow {
        if self.tls {
            self.fail(503, [5, 5, 1], "TLS is already active");
        } else if self.l.tls.is_none() {
            self.fail(454, [4, 7, 0], "TLS is not available (no certificate configured)");
        } else if self.login.is_some() {
            self.fail(503, [5, 5, 1], "STARTTLS is not allowed after AUTH");
        } else {
            self.ok(220, [2, 0, 0], "Ready to start TLS");
            return Flow::StartTls;
        }
        Flow::Go
    }

    async fn start_tls(&mut self) -> std::io::Result<()> {
        self.flush().await.map_err(|_| std::io::Error::other("the 220 could not be written"))?;
        // Anything the client sent behind STARTTLS came in clear text: never act on it.
        self.inbuf.clear();
        let acceptor = self.l.tls.as_ref().expect("checked by starttls").acceptor();
        let plain = std::mem::replace(&mut self.io, Box::new(tokio::io::duplex(1).0));
        let tls = tokio::select! {
            r = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(plain)) => r.map_err(|_| std::io::Error::other("handshake timed out"))??,
            _ = self.shutdown.cancelled() => return Err(std::io::Error::other("shutting down")),
        };
        self.io = Box::new(tls);
        self.tls = true;
        self.helo = None;
        self.reset();
        Ok(())
    }

    async fn auth(&mut self, mechanism: u64, initial: String) -> Result<(), End> {
        match self.credential(mechanism, initial).await? {
            Ok(c) => self.check(c).await,
            Err((code, esc, text)) => self.fail(code, esc, text),
        }
        Ok(())
    }

    /// The credential of an AUTH exchange, or the refusal to answer with.
    async fn credential(&mut self, mechanism: u64, initial: String) -> Result<Result<Credential, Refusal>, End> {
        const CANCELLED: Refusal = (501, [5, 0, 0], "Authentication cancelled");
        const UNDECODABLE: Refusal = (501, [5, 5, 2], "Cannot decode the answer");
        if self.login.is_some() {
            return Ok(Err((503, [5, 5, 1], "Already authenticated")));
        }
        if self.mail.is_some() {
            return Ok(Err((503, [5, 5, 1], "AUTH is not allowed during a mail transaction")));
        }
        if !rules::plain_auth_allowed(self.local, self.tls) {
            return Ok(Err((538, [5, 7, 11], "Encryption required: issue STARTTLS first")));
        }
        if mechanism == smtp_proto::AUTH_PLAIN {
            let answer = if initial.is_empty() {
                self.reply(334, [0, 0, 0], "");
                self.read_answer().await?
            } else {
                Some(initial)
            };
            return Ok(match answer {
                None => Err(UNDECODABLE),
                Some(a) if a == "*" => Err(CANCELLED),
                Some(a) => rules::plain(&a).ok_or(UNDECODABLE),
            });
        }
        if mechanism != smtp_proto::AUTH_LOGIN {
            return Ok(Err((504, [5, 5, 4], "Unrecognized authentication type; use PLAIN or LOGIN")));
        }
        let user = if initial.is_empty() {
            self.reply(334, [0, 0, 0], "VXNlcm5hbWU6");
            self.read_answer().await?
        } else {
            Some(initial)
        };
        // A user line that is too long or not base64 of text cannot be decoded: said so at
        // once, before the token is asked for.
        let user = match user {
            None => return Ok(Err(UNDECODABLE)),
            Some(u) if u == "*" => return Ok(Err(CANCELLED)),
            Some(u) => match rules::login_answer(&u) {
                Some(u) => u,
                None => return Ok(Err(UNDECODABLE)),
            },
        };
        self.reply(334, [0, 0, 0], "UGFzc3dvcmQ6");
        Ok(match self.read_answer().await? {
            None => Err(UNDECODABLE),
            Some(t) if t == "*" => Err(CANCELLED),
            Some(t) => match rules::login_answer(&t) {
                Some(token) => Ok(Credential { user, token, authz: None }),
                None => Err(UNDECODABLE),
            },
        })
    }

    async fn check(&mut self, c: Credential) {
        let (app, ip) = (self.l.app.clone(), self.peer);
        let authz = c.authz.clone();
        let checked = tokio::task::spawn_blocking(move || {
            let user = Some(c.user.as_str()).filter(|u| !u.is_empty());
            let p = Presented { ip, user, token: &c.token, protocol: Protocol::Smtp };
            app.logins.check(&app.store, &app.config, p, Instant::now())
        })
        .await
        .unwrap_or_else(|e| Err(Refused::Store(e.to_string())));
        match checked {
            Ok(login) if !rules::authz_allowed(&self.l.app.config, &login.mailbox, authz.as_deref()) => {
                // A valid token asking to act as someone else: refused like a wrong
                // credential, but not counted (the token was right).
                self.fail(535, [5, 7, 8], "Authentication credentials invalid (a device acts only as itself)")
            }
            Ok(login) => match self.l.app.live.open(login.device, Protocol::Smtp).await {
                Ok(conn) => {
                    tracing::info!(device = login.device, mailbox = %login.mailbox, peer = %self.peer, "submission: a device logged in");
                    self.live = Some(conn);
                    self.login = Some(login);
                    self.unauthed = None;
                    self.ok(235, [2, 7, 0], "Authentication successful");
                }
                Err(e) => self.fail(454, [4, 7, 0], format!("{e}; try again later")),
            },
            Err(Refused::Wrong) => self.fail(535, [5, 7, 8], "Authentication credentials invalid"),
            Err(r @ Refused::TooMany { retry_after }) => {
                // Guesses past the limit never run at full speed (a valid token never gets here).
                tokio::time::sleep(r.delay()).await;
                self.fail(
                    454,
                    [4, 7, 0],
                    format!("Too many failed logins; try again later (in {} s)", retry_after.as_secs().max(1)),
                )
            }
            Err(Refused::Store(e)) => {
                tracing::warn!(error = %e, "submission: cannot check a login");
                self.fail(454, [4, 7, 0], "Temporary authentication failure; try again later")
            }
        }
    }

    fn mail_from(&mut self, from: MailFrom<String>) {
        use smtp_proto::{MAIL_BODY_7BIT, MAIL_BODY_8BITMIME};
        let Some(granted) = self.login.as_ref().map(|l| l.mailboxes.clone()) else {
            return self.fail(530, [5, 7, 0], "Authentication required");
        };
        if self.mail.is_some() {
            return self.fail(503, [5, 5, 1], "Nested MAIL command");
        }
        let max = self.l.app.config.submission.max_message_size;
        if from.size > max {
            return self.fail(552, [5, 3, 4], format!("Message size exceeds the limit of {max} bytes"));
        }
        if from.flags & !(MAIL_BODY_7BIT | MAIL_BODY_8BITMIME) != 0 || from.env_id.is_some() {
            return self.fail(555, [5, 5, 4], "Unsupported MAIL parameter (offered: SIZE, BODY=7BIT, BODY=8BITMIME)");
        }
        match rules::sender_mailbox(&self.l.app.config, &granted, &from.address) {
            Ok(_) => {
                self.mail = Some(from.address);
                self.ok(250, [2, 1, 0], "Sender OK");
            }
            Err(why) => self.fail(553, [5, 7, 1], why),
        }
    }

    fn rcpt_to(&mut self, to: RcptTo<String>) {
        if self.mail.is_none() {
            return self.fail(503, [5, 5, 1], "Need MAIL before RCPT");
        }
        if !crate::config::is_address(&to.address) {
            return self.fail(501, [5, 1, 3], "Bad recipient address syntax");
        }
        if to.flags != 0 || to.orcpt.is_some() {
            return self.fail(555, [5, 5, 4], "Unsupported RCPT parameter");
        }
        if self.rcpts.len() >= MAX_RECIPIENTS {
            return self.reply(452, [4, 5, 3], "Too many recipients");
        }
        self.rcpts.push(to.address);
        self.ok(250, [2, 1, 5], "Recipient OK");
    }

    async fn data(&mut self) -> Result<(), End> {
        if self.mail.is_none() {
            self.fail(503, [5, 5, 1], "Need MAIL before DATA");
            return Ok(());
        }
        if self.rcpts.is_empty() {
            self.fail(554, [5, 5, 1], "No valid recipients");
            return Ok(());
        }
        self.reply(354, [0, 0, 0], "End data with <CR><LF>.<CR><LF>");
        let mut reader = DataReader::new(self.l.app.config.submission.max_message_size);
        loop {
            let n = reader.feed(&self.inbuf);
            self.inbuf.drain(..n);
            if reader.is_done() {
                break;
            }
            self.read_more().await?;
        }
        let message = match reader.finish() {
            Data::TooBig { size } => {
                self.reset();
                let max = self.l.app.config.submission.max_message_size;
                self.reply(552, [5, 3, 4], format!("Message size exceeds the limit of {max} bytes (at least {size})"));
                return Ok(());
            }
            Data::Message(m) => m,
        };
        self.commit(message).await
    }

    /// The From and Sender rule, then the commit: `250` only once the message is in the
    /// outbox. `message` is the one copy of the message; it moves on into the outbox.
    async fn commit(&mut self, mut message: Vec<u8>) -> Result<(), End> {
        let login = self.login.clone().expect("MAIL needs a login");
        let cfg = self.l.app.config.clone();
        let (from, sender) = match rules::header_senders(&message) {
            Ok(f) => f,
            Err(why) => {
                self.reset();
                self.fail(550, [5, 6, 0], why);
                return Ok(());
            }
        };
        let mailbox = match rules::sender_mailbox(&cfg, &login.mailboxes, &from) {
            Ok(m) => m,
            Err(why) => {
                self.reset();
                self.fail(553, [5, 7, 1], format!("From: {why}"));
                return Ok(());
            }
        };
        if let Some(sender) = sender
            && let Err(why) = rules::sender_mailbox(&cfg, &login.mailboxes, &sender)
        {
            self.reset();
            self.fail(553, [5, 7, 1], format!("Sender: {why}"));
            return Ok(());
        }
        if self.live.as_ref().is_some_and(|c| c.is_ended()) {
            return Err(End::Revoked);
        }
        let date = chrono::Utc::now().with_timezone(&cfg.agent.time_zone).to_rfc2822();
        let trace = rules::received(&rules::Trace {
            host: &cfg.phones.host,
            device_id: login.device,
            device_name: &login.name,
            tls: self.tls,
            date: &date,
        });
        // In front of the message in its own buffer (moved along, not copied to a new one).
        message.splice(0..0, trace.into_bytes());
        let raw = message;
        let (device, recipients) = (login.device, std::mem::take(&mut self.rcpts));
        self.reset();
        let app = self.l.app.clone();
        let mb = mailbox.clone();
        let queued = tokio::task::spawn_blocking(move || {
            crate::outbox::enqueue(
                &app,
                Outgoing { mailbox: mb, raw, recipients: Some(recipients), origin: Origin::Phone, discard_after: None },
            )
        })
        .await;
        match queued {
            Ok(Ok(q)) => {
                tracing::info!(mailbox, device, outbox_id = q.id, "submission: a phone queued a message");
                self.ok(250, [2, 0, 0], format!("Queued as {} <{}>", q.id, q.message_id));
            }
            Ok(Err(EnqueueError::Refused(why))) => self.fail(550, [5, 6, 0], why),
            Ok(Err(EnqueueError::Store(e))) => {
                tracing::warn!(mailbox, device, error = %e, "submission: cannot queue a message");
                self.reply(451, [4, 3, 0], "Cannot queue the message now; try again later");
            }
            Err(e) => {
                tracing::warn!(mailbox, device, error = %e, "submission: the queueing task failed");
                self.reply(451, [4, 3, 0], "Cannot queue the message now; try again later");
            }
        }
        Ok(())
    }
}
