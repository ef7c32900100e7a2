//! The command line's client for the control endpoint: one HTTP/1.1 request per connection.
//!
//! On TCP it reads the token from `control.token` in the data directory itself, after the
//! connection is made (the daemon writes the token before it listens, so a client that could
//! connect finds it), and presents it as `Authorization: Bearer`. It never prints or logs it.

use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::config::{Control, ControlListen};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens: the daemon is not running.
    #[error("the daemon is not running (nothing listens on {0})")]
    NotRunning(String),
    /// 401: no token or the wrong one (the reason says whether the token file was readable).
    #[error("control endpoint {0} refused the request: {1}")]
    Unauthorized(String, String),
    #[error("control endpoint {0}: {1}")]
    Other(String, String),
}

fn connect_error(name: &str, e: std::io::Error) -> ClientError {
    use std::io::ErrorKind::{ConnectionRefused, NotFound};
    match e.kind() {
        NotFound | ConnectionRefused => ClientError::NotRunning(name.to_string()),
        std::io::ErrorKind::PermissionDenied => ClientError::Other(
            name.to_string(),
            format!("{e}: only the daemon's user and the group {} may use it", super::files::GROUP),
        ),
        _ => ClientError::Other(name.to_string(), e.to_string()),
    }
}

/// One request to the control endpoint: `(status, JSON body or Null)`.
pub async fn request(
    control: &Control,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, Value), ClientError> {
    let listen = &control.listen;
    let name = match listen {
        ControlListen::Tcp(a) => a.to_string(),
        ControlListen::Unix(p) => format!("unix:{}", p.display()),
    };
    let fut = async {
        match listen {
            ControlListen::Tcp(a) => match tokio::net::TcpStream::connect(a).await {
                Ok(s) => {
                    let token = std::fs::read_to_string(&control.token_file).map(|t| t.trim().to_string());
                    let (code, v) = exchange(s, method, path, body, token.as_deref().ok(), &name).await?;
                    if code == 401 {
                        let why = match &token {
                            Ok(_) => v["error"].as_str().unwrap_or("wrong token").to_string(),
                            Err(e) => format!("cannot read the token {}: {e}", control.token_file.display()),
                        };
                        return Err(ClientError::Unauthorized(name.clone(), why));
                    }
                    Ok((code, v))
                }
                Err(e) => Err(connect_error(&name, e)),
            },
            ControlListen::Unix(p) => match tokio::net::UnixStream::connect(p).await {
                Ok(s) => exchange(s, method, path, body, None, &name).await,
                Err(e) => Err(connect_error(&name, e)),
            },
        }
    };
    match tokio::time::timeout(Duration::from_secs(10), fut).await {
        Ok(r) => r,
        Err(_) => Err(ClientError::Other(name, "no answer within 10 s".into())),
    }
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    method: &str,
    path: &str,
    body: Option<&Value>,
    token: Option<&str>,
    name: &str,
) -> Result<(u16, Value), ClientError> {
    let err = |m: String| ClientError::Other(name.to_string(), m);
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{payload}",
        payload.len()
    );
    s.write_all(req.as_bytes()).await.map_err(|e| err(e.to_string()))?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.map_err(|e| err(e.to_string()))?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| err("not an HTTP answer".into()))?;
    let status: u16 =
        head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or_else(|| err("not an HTTP answer".into()))?;
    let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
    let body = if chunked { dechunk(body) } else { body.to_string() };
    Ok((status, serde_json::from_str(&body).unwrap_or(Value::Null)))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        // `get` rather than slicing: a size that ends inside a character stops here, no panic.
        let (Some(chunk), Some(after)) = (rest.get(..n), rest.get(n..)) else { break };
        if n == 0 {
            break;
        }
        out.push_str(chunk);
        s = after.trim_start_matches("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dechunk_joins_chunks_and_stops_at_a_size_inside_a_character() {
        assert_eq!(dechunk("4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n"), "Wikipedia");
        // Regression: a chunk size that ends inside "ü" panicked on slicing.
        assert_eq!(dechunk("1\r\nü\r\n0\r\n\r\n"), "");
    }
}
