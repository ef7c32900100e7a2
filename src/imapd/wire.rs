//! One connection's bytes: TCP or TLS under imap-next's sans-I/O `Server`.
//!
//! imap-next parses commands, answers literals (`+` or the BAD of one over `append_limit`),
//! runs the AUTHENTICATE and IDLE exchanges and encodes responses; this file only moves bytes.
//! It is split so that the session can wait on the socket and on the store at once: [`Wire::ready`]
//! hands out the next event the bytes already read make (writing nothing), [`Wire::write_out`]
//! sends what responses were encoded, and [`Wire::read_more`] waits for bytes and is the only
//! cancel-safe await (the session's `select!` uses it beside the store's changes and timers).
//! STARTTLS swaps the stream for a TLS one and starts a fresh `Server`, so that bytes a client
//! sent after STARTTLS in plain text are dropped (RFC 3501 section 6.2.1).

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use imap_next::server::{Error as ServerError, Event, Options, Server};
use imap_next::{Interrupt, Io, State};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::server::TlsStream;

use imap_codec::imap_types::response::Greeting;

/// A TCP stream, plain or under TLS.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// Only while STARTTLS swaps one for the other.
    Gone,
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::Gone => Poll::Ready(Ok(())),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::Gone => Poll::Ready(Ok(0)),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Gone => Poll::Ready(Ok(())),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Gone => Poll::Ready(Ok(())),
        }
    }
}

/// Why a connection ends.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("the client closed the connection")]
    Closed,
    #[error("the client sent too much before logging in")]
    TooMuchBeforeLogin,
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A protocol error the session answers (the server already discarded the bytes).
#[derive(Debug)]
pub enum Garbled {
    /// A line that is not a command; its first word, when it looks like a tag.
    Malformed(Option<String>),
    /// A literal over the limit: imap-next answered with a tagged BAD already.
    TooLong,
    /// A command longer than the command limit: the connection ends.
    CommandTooLong,
}

/// The next thing the session must handle.
#[derive(Debug)]
pub enum Ready {
    Event(Box<Event>),
    Garbled(Garbled),
}

/// How long a TLS handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a write may wait for the client to read before the connection ends.
pub const WRITE_STALL: Duration = Duration::from_secs(60);
/// How many bytes a client may send before logging in without completing a command: a login
/// is small, so a literal announced before it cannot make the server hold megabytes.
/// (imap-next's limits are fixed when its `Server` is made and cannot change at login.)
pub const BEFORE_LOGIN: usize = 64 * 1024;

pub struct Wire {
    pub stream: Stream,
    pub server: Server,
    options: Options,
    out: Vec<u8>,
    buf: Vec<u8>,
    pending: VecDeque<Event>,
    pub tls: bool,
    /// Until the login: how many bytes may arrive without completing a command.
    pub before_login: Option<usize>,
    /// Bytes read since the last complete command.
    unparsed: usize,
    pub handshake_timeout: Duration,
    pub write_stall: Duration,
}

fn stalled(_: tokio::time::error::Elapsed) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::TimedOut, "the client did not keep up")
}

fn first_word(bytes: &[u8]) -> Option<String> {
    let w: Vec<u8> = bytes.iter().take_while(|b| b.is_ascii_alphanumeric() || b"._-".contains(b)).copied().collect();
    (!w.is_empty() && w.len() <= 64).then(|| String::from_utf8_lossy(&w).into_owned())
}

impl Wire {
    pub fn new(stream: Stream, options: Options, greeting: Greeting<'static>, tls: bool) -> Wire {
        let server = Server::new(options.clone(), greeting);
        Wire {
            stream,
            server,
            options,
            out: Vec::new(),
            buf: vec![0; 64 * 1024],
            pending: VecDeque::new(),
            tls,
            before_login: Some(BEFORE_LOGIN),
            unparsed: 0,
            handshake_timeout: HANDSHAKE_TIMEOUT,
            write_stall: WRITE_STALL,
        }
    }

    /// The next event from what was read so far (responses encoded meanwhile wait in the
    /// output for [`Wire::write_out`]); `None` when more bytes are needed.
    pub fn ready(&mut self) -> Option<Ready> {
        if let Some(e) = self.pending.pop_front() {
            return Some(Ready::Event(Box::new(e)));
        }
        loop {
            match self.server.next() {
                Ok(Event::GreetingSent { .. } | Event::ResponseSent { .. }) => continue,
                Ok(e) => {
                    self.unparsed = 0;
                    return Some(Ready::Event(Box::new(e)));
                }
                Err(Interrupt::Io(Io::Output(b))) => self.out.extend_from_slice(&b),
                Err(Interrupt::Io(Io::NeedMoreInput)) => return None,
                Err(Interrupt::Error(e)) => {
                    return Some(Ready::Garbled(match e {
                        ServerError::MalformedMessage { discarded_bytes }
                        | ServerError::ExpectedCrlfGotLf { discarded_bytes } => {
                            Garbled::Malformed(first_word(discarded_bytes.declassify()))
                        }
                        ServerError::LiteralTooLong { .. } => Garbled::TooLong,
                        ServerError::CommandTooLong { .. } => Garbled::CommandTooLong,
                    }));
                }
            }
        }
    }

    /// Encode the responses queued so far, keeping any command that arrives meanwhile for
    /// [`Wire::ready`].
    pub fn encode_queued(&mut self) {
        loop {
            match self.server.next() {
                Ok(Event::GreetingSent { .. } | Event::ResponseSent { .. }) => continue,
                Ok(e) => {
                    self.unparsed = 0;
                    self.pending.push_back(e);
                    // A command was parsed: whatever follows is its business; the sends are
                    // all encoded before the receive side is looked at.
                    return;
                }
                Err(Interrupt::Io(Io::Output(b))) => self.out.extend_from_slice(&b),
                Err(_) => return,
            }
        }
    }

    /// Send what is encoded; a client that reads nothing for [`Wire::write_stall`] is gone.
    pub async fn write_out(&mut self) -> Result<(), WireError> {
        if !self.out.is_empty() {
            let mut at = 0;
            while at < self.out.len() {
                let n = timeout(self.write_stall, self.stream.write(&self.out[at..])).await.map_err(stalled)??;
                if n == 0 {
                    return Err(WireError::Closed);
                }
                at += n;
            }
            self.out.clear();
            if self.out.capacity() > 1 << 20 {
                self.out.shrink_to(64 * 1024);
            }
        }
        timeout(self.write_stall, self.stream.flush()).await.map_err(stalled)??;
        Ok(())
    }

    /// Encode and send everything queued.
    pub async fn flush(&mut self) -> Result<(), WireError> {
        self.encode_queued();
        self.write_out().await
    }

    /// Wait for bytes and hand them to the server (cancel-safe).
    pub async fn read_more(&mut self) -> Result<(), WireError> {
        let n = self.stream.read(&mut self.buf).await?;
        if n == 0 {
            return Err(WireError::Closed);
        }
        self.unparsed = self.unparsed.saturating_add(n);
        if self.before_login.is_some_and(|limit| self.unparsed > limit) {
            return Err(WireError::TooMuchBeforeLogin);
        }
        self.server.enqueue_input(&self.buf[..n]);
        Ok(())
    }

    /// STARTTLS: the OK was sent; the handshake follows on the same TCP stream, and a fresh
    /// protocol state (without a greeting) reads from TLS only.
    pub async fn start_tls(&mut self, acceptor: tokio_rustls::TlsAcceptor) -> Result<(), WireError> {
        self.flush().await?;
        let Stream::Plain(tcp) = std::mem::replace(&mut self.stream, Stream::Gone) else {
            return Err(WireError::Io(std::io::Error::other("STARTTLS on a TLS stream")));
        };
        let tls = timeout(self.handshake_timeout, acceptor.accept(tcp)).await.map_err(stalled)??;
        self.stream = Stream::Tls(Box::new(tls));
        self.tls = true;
        // The greeting a new Server always starts with is not sent after STARTTLS.
        let mut server = Server::new(self.options.clone(), Greeting::ok(None, "-").expect("a valid greeting"));
        loop {
            match server.next() {
                Ok(Event::GreetingSent { .. }) => break,
                Err(Interrupt::Io(Io::Output(_))) => continue,
                _ => break,
            }
        }
        self.server = server;
        self.pending.clear();
        Ok(())
    }
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
