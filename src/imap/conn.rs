//! Opening an authenticated IMAP session to the hosted server: TCP, TLS (implicit or
//! STARTTLS, never plain), LOGIN. Shared by the mirror, the write-back and the outbox's
//! Sent copy. Errors say which step failed and never contain the password; a refused login
//! is its own kind ([`Error::Auth`]) so callers can back off instead of locking the account.

use std::time::Duration;

use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::Error;
use crate::config::{Config, ImapServer, Mailbox, Tls};

/// An authenticated session to the hosted server.
pub type Session = async_imap::Session<TlsStream<TcpStream>>;

/// How long connecting, the TLS handshake and LOGIN may take together.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Connect and log in as `mailbox`.
pub async fn connect(config: &Config, mailbox: &Mailbox) -> Result<Session, Error> {
    connect_to(&config.imap, &mailbox.login, mailbox.password.expose()).await
}

pub async fn connect_to(server: &ImapServer, login: &str, password: &str) -> Result<Session, Error> {
    let name = format!("{}:{}", server.host, server.port);
    match tokio::time::timeout(CONNECT_TIMEOUT, connect_inner(server, &name, login, password)).await {
        Ok(r) => r,
        Err(_) => {
            Err(Error::Connect { server: name, message: format!("no answer within {}s", CONNECT_TIMEOUT.as_secs()) })
        }
    }
}

async fn connect_inner(server: &ImapServer, name: &str, login: &str, password: &str) -> Result<Session, Error> {
    let conn_err = |e: std::io::Error| Error::Connect { server: name.to_string(), message: e.to_string() };
    let tls_err = |m: String| Error::Tls { server: name.to_string(), message: m };
    let proto = |m: String| Error::Protocol { what: name.to_string(), message: m };

    let tcp = TcpStream::connect((server.host.as_str(), server.port)).await.map_err(conn_err)?;
    tcp.set_nodelay(true).ok();
    let config = crate::tls::client_config(server.ca_file.as_deref()).map_err(|e| tls_err(e.to_string()))?;
    let connector = TlsConnector::from(config);
    let sni = crate::tls::server_name(&server.host).map_err(|e| tls_err(e.to_string()))?;

    let client = match server.tls {
        Tls::Implicit => {
            let tls = connector.connect(sni, tcp).await.map_err(|e| tls_err(e.to_string()))?;
            let mut c = async_imap::Client::new(tls);
            greeting(&mut c).await.map_err(proto)?;
            c
        }
        Tls::StartTls => {
            let mut plain = async_imap::Client::new(tcp);
            greeting(&mut plain).await.map_err(proto)?;
            plain
                .run_command_and_check_ok("STARTTLS", None)
                .await
                .map_err(|e| tls_err(format!("STARTTLS refused: {e}")))?;
            let tcp = plain.into_inner();
            let tls = connector.connect(sni, tcp).await.map_err(|e| tls_err(e.to_string()))?;
            // After STARTTLS the server sends no second greeting.
            async_imap::Client::new(tls)
        }
    };
    log_in(client, name, login, password).await
}

/// LOGIN. A refusal is [`Error::Auth`] whether the server says NO or, as some do, BAD.
pub(crate) async fn log_in<S: super::wire::Stream>(
    client: async_imap::Client<S>,
    name: &str,
    login: &str,
    password: &str,
) -> Result<async_imap::Session<S>, Error> {
    let proto = |m: String| Error::Protocol { what: name.to_string(), message: m };
    match client.login(login, password).await {
        Ok(session) => Ok(session),
        Err((async_imap::error::Error::No(m), _)) | Err((async_imap::error::Error::Bad(m), _)) => {
            Err(Error::Auth { server: name.to_string(), login: login.to_string(), message: server_text(&m) })
        }
        Err((e, _)) => Err(proto(format!("login failed: {e}"))),
    }
}

/// The server's own words from async-imap's `code: .., info: Some("..")` rendering.
fn server_text(m: &str) -> String {
    match m.split_once("info: Some(\"") {
        Some((_, rest)) => rest.strip_suffix("\")").unwrap_or(rest).replace("\\\"", "\""),
        None => m.to_string(),
    }
}

async fn greeting<T>(c: &mut async_imap::Client<T>) -> Result<(), String>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + std::fmt::Debug + Send,
{
    match c.read_response().await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err("the server closed the connection before its greeting".into()),
        Err(e) => Err(format!("no greeting: {e}")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn login_refusal_shows_the_servers_words() {
        assert_eq!(
            super::server_text(r#"code: None, info: Some("[AUTHENTICATIONFAILED] Authentication failed.")"#),
            "[AUTHENTICATIONFAILED] Authentication failed."
        );
        assert_eq!(super::server_text("plain"), "plain");
    }
}
