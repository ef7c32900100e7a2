//! Who may use the control endpoint: the pure decision over one request's Host, Origin and
//! token, and the peer a request came from (for the log and the audit trail).
//!
//! The checks run in a fixed order, and the first that fails decides:
//! 1. an `Origin` header: 403. Browsers send it with cross-site requests, the office program and
//!    the command line never do; a web page must not reach the endpoint, so there is no CORS.
//! 2. on TCP, a `Host` (or an absolute request target) other than the listen address
//!    (`127.0.0.1:4190`, `[::1]:4190`) or `localhost[:port]`: 403. This stops DNS rebinding,
//!    where a page on `evil.example` has its name point at 127.0.0.1.
//! 3. on TCP, no `Authorization: Bearer TOKEN` or a wrong one: 401. The comparison takes the
//!    same time wherever the tokens differ.
//!
//! A Unix socket is guarded by its file mode and group (see `files`), and no browser can open
//! one, so only the Origin check applies there. Nothing here does I/O; a [`Refusal`] never
//! carries the token that was sent.

use std::net::SocketAddr;

use axum::extract::connect_info::Connected;
use axum::http::StatusCode;
use axum::serve::IncomingStream;
use subtle::ConstantTimeEq;

use crate::config::ControlListen;

/// Why a request was refused. Its text goes to the log and the audit trail, so it never holds
/// a token; a Host value is shortened and escaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Origin,
    NoHost,
    Host(String),
    NoToken,
    WrongToken,
}

impl Refusal {
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::Origin | Refusal::NoHost | Refusal::Host(_) => StatusCode::FORBIDDEN,
            Refusal::NoToken | Refusal::WrongToken => StatusCode::UNAUTHORIZED,
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Origin => {
                write!(f, "the request has an Origin header (web pages may not use the control endpoint)")
            }
            Refusal::NoHost => write!(f, "the request has no Host header"),
            Refusal::Host(h) => {
                let short: String = h.chars().take(80).collect();
                write!(f, "Host {short:?} is not the control endpoint's address or localhost")
            }
            Refusal::NoToken => {
                write!(f, "no token (send Authorization: Bearer with the data directory's control.token)")
            }
            Refusal::WrongToken => write!(f, "wrong token (the data directory's control.token has the right one)"),
        }
    }
}

/// What one request presents, as read from its head.
#[derive(Debug, Default)]
pub struct Presented<'a> {
    /// Every authority the request names: its Host header and an absolute request target's.
    pub hosts: Vec<&'a str>,
    pub origin: bool,
    /// The value of `Authorization: Bearer VALUE`, if any.
    pub bearer: Option<&'a str>,
}

/// Decide one request. `secret` is the token a TCP client must present.
pub fn check(listen: &ControlListen, secret: &str, r: &Presented<'_>) -> Result<(), Refusal> {
    if r.origin {
        return Err(Refusal::Origin);
    }
    let ControlListen::Tcp(addr) = listen else { return Ok(()) };
    if r.hosts.is_empty() {
        return Err(Refusal::NoHost);
    }
    if let Some(bad) = r.hosts.iter().find(|h| !host_allowed(*addr, h)) {
        return Err(Refusal::Host(bad.to_string()));
    }
    match r.bearer {
        None => Err(Refusal::NoToken),
        Some(t) if bool::from(t.trim().as_bytes().ct_eq(secret.as_bytes())) => Ok(()),
        Some(_) => Err(Refusal::WrongToken),
    }
}

/// `Host` may be the listen address exactly (`127.0.0.1:4190`, `[::1]:4190`), or `localhost`
/// with or without the listen port.
pub fn host_allowed(listen: SocketAddr, host: &str) -> bool {
    let host = host.trim();
    if host.eq_ignore_ascii_case(&listen.to_string()) {
        return true;
    }
    match host.split_once(':') {
        None => host.eq_ignore_ascii_case("localhost"),
        Some((name, port)) => name.eq_ignore_ascii_case("localhost") && port == listen.port().to_string(),
    }
}

/// The token of an `Authorization: Bearer TOKEN` header value.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

/// Where a request came from: a TCP peer, or the user id of a Unix socket peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    Tcp(SocketAddr),
    Unix { uid: Option<u32> },
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Tcp(a) => write!(f, "tcp {a}"),
            Peer::Unix { uid: Some(u) } => write!(f, "unix uid {u}"),
            Peer::Unix { uid: None } => write!(f, "unix uid unknown"),
        }
    }
}

impl Connected<IncomingStream<'_, tokio::net::TcpListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        Peer::Tcp(*stream.remote_addr())
    }
}

impl Connected<IncomingStream<'_, tokio::net::UnixListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, tokio::net::UnixListener>) -> Self {
        Peer::Unix { uid: stream.io().peer_cred().ok().map(|c| c.uid()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn tcp() -> ControlListen {
        ControlListen::Tcp("127.0.0.1:4190".parse().unwrap())
    }

    fn req<'a>(hosts: &[&'a str], origin: bool, bearer: Option<&'a str>) -> Presented<'a> {
        Presented { hosts: hosts.to_vec(), origin, bearer }
    }

    /// Each input, the decision, in the documented order: Origin, then Host, then the token.
    #[test]
    fn decisions() {
        let unix = ControlListen::Unix("/run/postbote/control.sock".into());
        let cases: &[(&ControlListen, Presented<'_>, Result<(), Refusal>)] = &[
            (&tcp(), req(&["localhost"], false, Some(SECRET)), Ok(())),
            (&tcp(), req(&["127.0.0.1:4190"], false, Some(SECRET)), Ok(())),
            (&tcp(), req(&["LOCALHOST:4190"], false, Some(SECRET)), Ok(())),
            (&tcp(), req(&["localhost"], false, None), Err(Refusal::NoToken)),
            (&tcp(), req(&["localhost"], false, Some("nope")), Err(Refusal::WrongToken)),
            (&tcp(), req(&["localhost"], false, Some(&SECRET[..63])), Err(Refusal::WrongToken)),
            (&tcp(), req(&["evil.example"], false, Some(SECRET)), Err(Refusal::Host("evil.example".into()))),
            (&tcp(), req(&["evil.example:4190"], false, None), Err(Refusal::Host("evil.example:4190".into()))),
            (&tcp(), req(&["localhost:4191"], false, Some(SECRET)), Err(Refusal::Host("localhost:4191".into()))),
            (&tcp(), req(&["127.0.0.1:80"], false, Some(SECRET)), Err(Refusal::Host("127.0.0.1:80".into()))),
            (
                &tcp(),
                req(&["localhost", "evil.example"], false, Some(SECRET)),
                Err(Refusal::Host("evil.example".into())),
            ),
            (&tcp(), req(&[], false, Some(SECRET)), Err(Refusal::NoHost)),
            (&tcp(), req(&["localhost"], true, Some(SECRET)), Err(Refusal::Origin)),
            (&tcp(), req(&["evil.example"], true, None), Err(Refusal::Origin)),
            (&unix, req(&["localhost"], false, None), Ok(())),
            (&unix, req(&["anything"], false, None), Ok(())),
            (&unix, req(&["localhost"], true, None), Err(Refusal::Origin)),
        ];
        for (listen, r, want) in cases {
            assert_eq!(&check(listen, SECRET, r), want, "{listen:?} {r:?}");
        }
    }

    #[test]
    fn ipv6_listen_address() {
        let a: SocketAddr = "[::1]:4190".parse().unwrap();
        assert!(host_allowed(a, "[::1]:4190"));
        assert!(host_allowed(a, "localhost:4190"));
        assert!(!host_allowed(a, "[::1]:4191"));
        assert!(!host_allowed(a, "::1"));
    }

    #[test]
    fn refusals_never_show_a_token_and_name_their_status() {
        for r in [Refusal::NoToken, Refusal::WrongToken] {
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
            assert!(!r.to_string().contains(SECRET));
        }
        assert_eq!(Refusal::Origin.status(), StatusCode::FORBIDDEN);
        let long = Refusal::Host(format!("{}\r\nX: y", "a".repeat(200))).to_string();
        assert!(long.len() < 200 && !long.contains('\r'), "{long}");
    }

    #[test]
    fn bearer_header() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("abc"), None);
    }
}
