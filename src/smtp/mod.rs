//! SMTP transports: one authenticated session to the company's own server (`direct`) or the
//! hosted server (`relay`), reused for many messages, with the status of every recipient.
//!
//! The dialogue is driven here rather than through lettre's transport: lettre abandons a
//! message at the first refused RCPT (we must deliver to the others), it cannot carry a
//! transcript across STARTTLS (it layers TLS over whatever stream it is given), and its debug
//! output contains the AUTH payload. The protocol we need is small: greeting, EHLO, STARTTLS,
//! AUTH PLAIN or LOGIN, then per message MAIL, one RCPT per recipient, DATA, RSET between
//! messages. TLS is rustls with `crate::tls` (system roots plus the configured CA); there is
//! no plain-text mode.
//!
//! A send reports *where* it stopped: a failure before the final "." means the server has not
//! got the message; a failure after it means nobody knows, and the outbox records `unknown`
//! instead of sending again. This module never decides about retries (that is
//! `outbox::retry`) and never writes credentials anywhere: errors carry server replies, not
//! what we sent, and the transcript redacts.

pub mod transcript;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::config::Tls;
pub use transcript::Transcript;

/// Waiting for a reply to a command (RFC 5321 §4.5.3.2 asks for minutes; this is enough on
/// the links we use and keeps a dead server from holding the queue).
const REPLY_TIMEOUT: Duration = Duration::from_secs(120);
/// Waiting for the reply to the final "." (RFC 5321: 10 minutes).
const DATA_END_TIMEOUT: Duration = Duration::from_secs(600);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// A reply longer than this is not SMTP.
const MAX_REPLY: usize = 64 * 1024;

/// A server reply: the code and its text lines (without the code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    pub fn text(&self) -> String {
        self.lines.join(" ")
    }
    pub fn is_positive(&self) -> bool {
        (200..400).contains(&self.code)
    }
    /// "550 5.1.1 User unknown"
    pub fn summary(&self) -> String {
        format!("{} {}", self.code, self.text())
    }

    /// The enhanced status code (RFC 3463) that starts the reply text, as (class, subject,
    /// detail): "4.7.1 Greylisted" gives (4, 7, 1). None when the text does not start with one
    /// or its class does not match the reply code's first digit.
    pub fn enhanced(&self) -> Option<(u8, u16, u16)> {
        let first = self.lines.first()?.split_whitespace().next()?;
        let mut parts = first.split('.');
        let class: u8 = parts.next()?.parse().ok()?;
        let subject: u16 = parts.next()?.parse().ok()?;
        let detail: u16 = parts.next()?.parse().ok()?;
        if parts.next().is_some() || !matches!(class, 2 | 4 | 5) || u16::from(class) != self.code / 100 {
            return None;
        }
        (subject <= 999 && detail <= 999).then_some((class, subject, detail))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    /// No usable connection: DNS, TCP, a timeout, a broken stream, a reply that is not SMTP.
    #[error("{server}: {message}")]
    Connection { server: String, message: String },
    /// TLS could not be set up (certificate, STARTTLS missing or refused).
    #[error("{server}: TLS: {message}")]
    Tls { server: String, message: String },
    /// The server refused our login.
    #[error("{server} refused the login of {login}: {reply}")]
    Auth { server: String, login: String, reply: String, code: u16 },
    /// The server answered a session-level command (greeting, EHLO) negatively.
    #[error("{server}: {reply}")]
    Refused { server: String, reply: String, code: u16 },
}

impl SmtpError {
    /// The server's reply code, if there was one.
    pub fn code(&self) -> Option<u16> {
        match self {
            SmtpError::Auth { code, .. } | SmtpError::Refused { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// Where a server is and how to log in. Built by the outbox from the config.
#[derive(Clone)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub tls: Tls,
    pub ca_file: Option<std::path::PathBuf>,
    pub login: String,
    pub password: crate::config::Secret,
}

impl Endpoint {
    pub fn name(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// What happened to one message in a session.
#[derive(Debug, Clone)]
pub struct SendReport {
    /// MAIL FROM's reply when it was refused (then no recipient was tried).
    pub mail_from: Option<Reply>,
    /// Each recipient's RCPT reply, in the order given.
    pub rcpts: Vec<(String, Reply)>,
    /// The reply to DATA when it was refused, or to the final "." (None when no RCPT was
    /// accepted and DATA was not sent).
    pub data: Option<Reply>,
}

/// A send broke off. `after_dot` means the whole message was handed over and only the reply
/// is missing: the server may have accepted it.
#[derive(Debug)]
pub struct SendError {
    pub after_dot: bool,
    pub error: SmtpError,
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The line-level wire: reads replies, writes commands, feeds the transcript.
struct Wire<S> {
    io: BufReader<S>,
    transcript: Option<Transcript>,
    server: String,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Wire<S> {
    fn conn_err(&self, message: String) -> SmtpError {
        SmtpError::Connection { server: self.server.clone(), message }
    }

    async fn read_reply(&mut self, limit: Duration) -> Result<Reply, SmtpError> {
        match tokio::time::timeout(limit, self.read_reply_inner()).await {
            Ok(r) => r,
            Err(_) => Err(self.conn_err(format!("no reply within {}s", limit.as_secs()))),
        }
    }

    async fn read_reply_inner(&mut self) -> Result<Reply, SmtpError> {
        let mut lines = Vec::new();
        let mut total = 0;
        let mut code = 0u16;
        loop {
            let mut buf = Vec::new();
            let n = self.io.read_until(b'\n', &mut buf).await.map_err(|e| self.conn_err(format!("reading: {e}")))?;
            if n == 0 {
                return Err(self.conn_err("the server closed the connection".into()));
            }
            total += n;
            if total > MAX_REPLY {
                return Err(self.conn_err("the server's reply is too long to be SMTP".into()));
            }
            let line = String::from_utf8_lossy(&buf);
            let line = line.trim_end_matches(['\r', '\n']);
            let bad = || SmtpError::Connection {
                server: self.server.clone(),
                message: format!("not an SMTP reply: {:.80}", line),
            };
            if line.len() < 3 || !line.as_bytes()[..3].iter().all(u8::is_ascii_digit) {
                return Err(bad());
            }
            let c: u16 = line[..3].parse().map_err(|_| bad())?;
            if code != 0 && c != code {
                return Err(bad());
            }
            code = c;
            let sep = line.as_bytes().get(3).copied().unwrap_or(b' ');
            lines.push(line.get(4..).unwrap_or("").to_string());
            if sep != b'-' {
                break;
            }
        }
        if let Some(t) = &mut self.transcript {
            t.server(code, &lines);
        }
        Ok(Reply { code, lines })
    }

    async fn write_line(&mut self, line: &str) -> Result<(), SmtpError> {
        if let Some(t) = &mut self.transcript {
            t.client(line);
        }
        let w = self.io.get_mut();
        let r = async {
            w.write_all(line.as_bytes()).await?;
            w.write_all(b"\r\n").await?;
            w.flush().await
        };
        match tokio::time::timeout(REPLY_TIMEOUT, r).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.conn_err(format!("writing: {e}"))),
            Err(_) => Err(self.conn_err("the server stopped reading".into())),
        }
    }

    async fn command(&mut self, line: &str) -> Result<Reply, SmtpError> {
        self.write_line(line).await?;
        self.read_reply(REPLY_TIMEOUT).await
    }
}

/// An open, authenticated SMTP session.
pub struct Session {
    wire: Wire<Box<dyn Io>>,
    extensions: Vec<String>,
    broken: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("server", &self.wire.server).finish()
    }
}

impl Session {
    /// Connect, secure (implicit TLS or STARTTLS; never plain), EHLO and log in.
    pub async fn connect(ep: &Endpoint, transcript: Option<Transcript>) -> Result<Session, SmtpError> {
        let server = ep.name();
        let conn = |m: String| SmtpError::Connection { server: server.clone(), message: m };
        let tls_err = |m: String| SmtpError::Tls { server: server.clone(), message: m };
        let tcp = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((ep.host.as_str(), ep.port))).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(conn(format!("cannot connect: {e}"))),
            Err(_) => return Err(conn(format!("no connection within {}s", CONNECT_TIMEOUT.as_secs()))),
        };
        tcp.set_nodelay(true).ok();
        let helo = match tcp.local_addr() {
            Ok(a) if a.is_ipv6() => format!("[IPv6:{}]", a.ip()),
            Ok(a) => format!("[{}]", a.ip()),
            Err(_) => "[127.0.0.1]".into(),
        };
        let config = crate::tls::client_config(ep.ca_file.as_deref()).map_err(|e| tls_err(e.to_string()))?;
        let connector = tokio_rustls::TlsConnector::from(config);
        let sni = crate::tls::server_name(&ep.host).map_err(|e| tls_err(e.to_string()))?;

        let mut wire: Wire<Box<dyn Io>> = match ep.tls {
            Tls::Implicit => {
                let tls = tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(sni, tcp))
                    .await
                    .map_err(|_| tls_err("handshake timed out".into()))?
                    .map_err(|e| tls_err(e.to_string()))?;
                let mut w =
                    Wire { io: BufReader::new(Box::new(tls) as Box<dyn Io>), transcript, server: server.clone() };
                if let Some(t) = &mut w.transcript {
                    t.note("TLS established (implicit)");
                }
                greeting(&mut w).await?;
                w
            }
            Tls::StartTls => {
                let mut w = Wire { io: BufReader::new(tcp), transcript, server: server.clone() };
                greeting(&mut w).await?;
                let ext = ehlo(&mut w, &helo).await?;
                if !ext.iter().any(|e| e.eq_ignore_ascii_case("STARTTLS")) {
                    return Err(tls_err(
                        "the server does not offer STARTTLS; postbote never sends in plain text".into(),
                    ));
                }
                let r = w.command("STARTTLS").await?;
                if r.code != 220 {
                    return Err(tls_err(format!("STARTTLS refused: {}", r.summary())));
                }
                if !w.io.buffer().is_empty() {
                    return Err(tls_err("the server sent data before the TLS handshake".into()));
                }
                let Wire { io, mut transcript, server } = w;
                let tls = tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(sni, io.into_inner()))
                    .await
                    .map_err(|_| tls_err("handshake timed out".into()))?
                    .map_err(|e| tls_err(e.to_string()))?;
                if let Some(t) = &mut transcript {
                    t.note("TLS established (STARTTLS)");
                }
                Wire { io: BufReader::new(Box::new(tls) as Box<dyn Io>), transcript, server }
            }
        };
        let extensions = ehlo(&mut wire, &helo).await?;
        let mut s = Session { wire, extensions, broken: false };
        s.auth(&ep.login, ep.password.expose()).await?;
        Ok(s)
    }

    pub fn server(&self) -> &str {
        &self.wire.server
    }

    /// False once the connection cannot carry another message.
    pub fn usable(&self) -> bool {
        !self.broken
    }

    fn has(&self, ext: &str) -> bool {
        self.extensions.iter().any(|e| e.split_whitespace().next().is_some_and(|k| k.eq_ignore_ascii_case(ext)))
    }

    async fn auth(&mut self, login: &str, password: &str) -> Result<(), SmtpError> {
        let mechs: Vec<String> = self
            .extensions
            .iter()
            .find(|e| e.get(..5).is_some_and(|h| h.eq_ignore_ascii_case("AUTH ")))
            .map(|e| e[5..].split_whitespace().map(|m| m.to_ascii_uppercase()).collect())
            .unwrap_or_default();
        let server = self.wire.server.clone();
        let refused = |r: Reply| {
            if (400..500).contains(&r.code) {
                // 454 "temporary authentication failure": the server's trouble, not our password.
                SmtpError::Refused { server: server.clone(), reply: r.summary(), code: r.code }
            } else {
                SmtpError::Auth { server: server.clone(), login: login.to_string(), reply: r.summary(), code: r.code }
            }
        };
        let r = if mechs.iter().any(|m| m == "PLAIN") {
            let blob = B64.encode(format!("\0{login}\0{password}"));
            self.wire.command(&format!("AUTH PLAIN {blob}")).await?
        } else if mechs.iter().any(|m| m == "LOGIN") {
            let r = self.wire.command("AUTH LOGIN").await?;
            if r.code != 334 {
                return Err(refused(r));
            }
            let r = self.wire.command(&B64.encode(login)).await?;
            if r.code != 334 {
                return Err(refused(r));
            }
            self.wire.command(&B64.encode(password)).await?
        } else {
            return Err(SmtpError::Refused {
                server,
                reply: "the server offers neither AUTH PLAIN nor AUTH LOGIN after TLS".into(),
                code: 0,
            });
        };
        if r.code == 235 { Ok(()) } else { Err(refused(r)) }
    }

    /// Send one message: MAIL, one RCPT per recipient (a refused recipient does not stop the
    /// others), DATA and the body. `raw` must have CRLF line ends. Replies, good or bad, are in
    /// the report; an `Err` means the connection failed and says whether the "." had gone out.
    pub async fn send(&mut self, mail_from: &str, rcpts: &[String], raw: &[u8]) -> Result<SendReport, SendError> {
        let before = |error| SendError { after_dot: false, error };
        let mut report = SendReport { mail_from: None, rcpts: Vec::new(), data: None };
        let mut params = String::new();
        if !raw.is_ascii() && self.has("8BITMIME") {
            params.push_str(" BODY=8BITMIME");
        }
        if (!mail_from.is_ascii() || rcpts.iter().any(|r| !r.is_ascii())) && self.has("SMTPUTF8") {
            params.push_str(" SMTPUTF8");
        }
        let r = self.fallible(format!("MAIL FROM:<{mail_from}>{params}")).await.map_err(before)?;
        if !r.is_positive() {
            report.mail_from = Some(r);
            self.reset().await.map_err(before)?;
            return Ok(report);
        }
        let mut accepted = 0;
        for rcpt in rcpts {
            let r = self.fallible(format!("RCPT TO:<{rcpt}>")).await.map_err(before)?;
            if r.is_positive() {
                accepted += 1;
            }
            report.rcpts.push((rcpt.clone(), r));
        }
        if accepted == 0 {
            self.reset().await.map_err(before)?;
            return Ok(report);
        }
        let r = self.fallible("DATA".into()).await.map_err(before)?;
        if r.code != 354 {
            report.data = Some(r);
            self.reset().await.map_err(before)?;
            return Ok(report);
        }
        let body = dot_stuff(raw);
        let w = self.wire.io.get_mut();
        let written = async {
            w.write_all(&body).await?;
            w.write_all(b".\r\n").await?;
            w.flush().await
        };
        match tokio::time::timeout(DATA_END_TIMEOUT, written).await {
            Ok(Ok(())) => {}
            // Whether the server saw the final "." is unknowable once writing it has begun.
            Ok(Err(e)) => {
                self.broken = true;
                return Err(SendError {
                    after_dot: true,
                    error: self.wire.conn_err(format!("writing the message: {e}")),
                });
            }
            Err(_) => {
                self.broken = true;
                return Err(SendError {
                    after_dot: true,
                    error: self.wire.conn_err("the server stopped reading the message".into()),
                });
            }
        }
        if let Some(t) = &mut self.wire.transcript {
            t.body(raw.len());
        }
        match self.wire.read_reply(DATA_END_TIMEOUT).await {
            Ok(r) => {
                report.data = Some(r);
                Ok(report)
            }
            Err(error) => {
                self.broken = true;
                Err(SendError { after_dot: true, error })
            }
        }
    }

    /// A command whose negative reply is an answer, not an error.
    async fn fallible(&mut self, line: String) -> Result<Reply, SmtpError> {
        if self.broken {
            return Err(self.wire.conn_err("the connection is no longer usable".into()));
        }
        match self.wire.command(&line).await {
            Ok(r) => {
                if r.code == 421 {
                    // "Service not available, closing transmission channel".
                    self.broken = true;
                }
                Ok(r)
            }
            Err(e) => {
                self.broken = true;
                Err(e)
            }
        }
    }

    async fn reset(&mut self) -> Result<(), SmtpError> {
        if self.broken {
            return Ok(());
        }
        let r = self.fallible("RSET".into()).await?;
        if !r.is_positive() {
            self.broken = true;
        }
        Ok(())
    }

    /// A note in the session's transcript, if one is written (which queued message follows).
    pub fn note(&mut self, what: &str) {
        if let Some(t) = &mut self.wire.transcript {
            t.note(what);
        }
    }

    /// Whether this session is being recorded.
    pub fn recording(&self) -> bool {
        self.wire.transcript.is_some()
    }

    /// Stop recording this session from here on (the switch went off while it was open).
    pub fn stop_recording(&mut self) {
        if let Some(mut t) = self.wire.transcript.take() {
            t.note("recording switched off; the rest of this session is not recorded");
        }
    }

    /// Say goodbye (best effort).
    pub async fn quit(mut self) {
        if !self.broken {
            let _ = tokio::time::timeout(Duration::from_secs(5), self.wire.command("QUIT")).await;
        }
        if let Some(t) = &mut self.wire.transcript {
            t.note("session closed");
        }
    }
}

async fn greeting<S: AsyncRead + AsyncWrite + Unpin>(w: &mut Wire<S>) -> Result<(), SmtpError> {
    let r = w.read_reply(REPLY_TIMEOUT).await?;
    if r.code != 220 {
        return Err(SmtpError::Refused { server: w.server.clone(), reply: r.summary(), code: r.code });
    }
    Ok(())
}

async fn ehlo<S: AsyncRead + AsyncWrite + Unpin>(w: &mut Wire<S>, helo: &str) -> Result<Vec<String>, SmtpError> {
    let r = w.command(&format!("EHLO {helo}")).await?;
    if r.code != 250 {
        return Err(SmtpError::Refused { server: w.server.clone(), reply: r.summary(), code: r.code });
    }
    Ok(r.lines.into_iter().skip(1).collect())
}

/// The DATA payload: every line starting with "." gets another "." (RFC 5321 §4.5.2), bare
/// LF and CR become CRLF, and the payload ends with CRLF.
pub fn dot_stuff(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 50 + 8);
    let mut at_line_start = true;
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        match b {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                if raw.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                at_line_start = true;
            }
            b'\n' => {
                out.extend_from_slice(b"\r\n");
                at_line_start = true;
            }
            _ => {
                out.push(b);
                at_line_start = false;
            }
        }
        i += 1;
    }
    if !at_line_start {
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_stuffing_and_line_ends() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"a\r\n.b\r\n", b"a\r\n..b\r\n"),
            (b".\r\n", b"..\r\n"),
            (b"a\nb", b"a\r\nb\r\n"),
            (b"a\r\n\r\n..x", b"a\r\n\r\n...x\r\n"),
            (b"x.y\r\n", b"x.y\r\n"),
            (b"", b""),
        ];
        for (i, o) in cases {
            assert_eq!(dot_stuff(i), o.to_vec(), "{:?}", String::from_utf8_lossy(i));
        }
    }

    #[test]
    fn enhanced_status_codes() {
        let r = |code, t: &str| Reply { code, lines: vec![t.into()] };
        assert_eq!(r(450, "4.7.1 Greylisted").enhanced(), Some((4, 7, 1)));
        assert_eq!(r(550, "5.4.5 Daily user sending quota exceeded.").enhanced(), Some((5, 4, 5)));
        assert_eq!(r(451, "Too many messages").enhanced(), None);
        assert_eq!(r(451, "5.7.1 mismatched class").enhanced(), None);
        assert_eq!(r(421, "4.7 short").enhanced(), None);
        assert_eq!(Reply { code: 554, lines: vec![] }.enhanced(), None);
    }

    /// Replies are read against a scripted server on a loopback socket pair.
    #[tokio::test]
    async fn multiline_replies_and_garbage() {
        let (a, mut b) = tokio::io::duplex(1024);
        let mut w = Wire { io: BufReader::new(a), transcript: None, server: "test".into() };
        b.write_all(b"250-mail.test\r\n250-8BITMIME\r\n250 AUTH PLAIN\r\n").await.unwrap();
        let r = w.read_reply(REPLY_TIMEOUT).await.unwrap();
        assert_eq!((r.code, r.lines.len()), (250, 3));
        b.write_all(b"hello there\r\n").await.unwrap();
        assert!(matches!(w.read_reply(REPLY_TIMEOUT).await, Err(SmtpError::Connection { .. })));
    }
}
