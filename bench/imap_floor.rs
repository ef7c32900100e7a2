//! The wire's floor for a full mirror (run by `bench/sync.sh`): one client, one connection,
//! one `UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])` over IMAPS, every byte
//! read and thrown away. Nothing is parsed beyond the literal lengths needed to find the end,
//! nothing is stored: no mirror can be faster than this on the same server and link.
//!
//!   imap_floor HOST PORT CA_FILE USER PASSWORD [FOLDER]
//!
//! Prints `messages bytes seconds` (seconds from connect to the tagged OK of the FETCH).

use std::path::Path;
use std::time::Instant;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, host, port, ca, user, password, rest @ ..] = args.as_slice() else {
        anyhow::bail!("usage: imap_floor HOST PORT CA_FILE USER PASSWORD [FOLDER]");
    };
    let folder = rest.first().map_or("INBOX", String::as_str);
    postbote::tls::install_provider();
    let start = Instant::now();
    let tcp = TcpStream::connect((host.as_str(), port.parse::<u16>()?)).await?;
    tcp.set_nodelay(true)?;
    let connector = tokio_rustls::TlsConnector::from(postbote::tls::client_config(Some(Path::new(ca)))?);
    let tls = connector.connect(postbote::tls::server_name(host)?, tcp).await?;
    let mut conn = BufReader::with_capacity(256 * 1024, tls);

    let mut line = Vec::new();
    conn.read_until(b'\n', &mut line).await?; // greeting
    let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    command(&mut conn, "a", &format!("LOGIN {} {}", quote(user), quote(password))).await?;
    command(&mut conn, "b", &format!("EXAMINE {}", quote(folder))).await?;
    let (messages, bytes) =
        command(&mut conn, "c", "UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])").await?;
    let seconds = start.elapsed().as_secs_f64();
    let _ = command(&mut conn, "d", "LOGOUT").await;
    println!("{messages} {bytes} {seconds:.3}");
    Ok(())
}

/// Sends `tag command` and reads to the tagged response, skipping literals by their length.
/// Returns (untagged FETCH responses, bytes read).
async fn command<S>(conn: &mut BufReader<S>, tag: &str, command: &str) -> anyhow::Result<(u64, u64)>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    conn.get_mut().write_all(format!("{tag} {command}\r\n").as_bytes()).await?;
    conn.get_mut().flush().await?;
    let (mut fetches, mut bytes) = (0u64, 0u64);
    let mut line = Vec::new();
    let mut sink = vec![0u8; 64 * 1024];
    let mut continued = false;
    loop {
        line.clear();
        if conn.read_until(b'\n', &mut line).await? == 0 {
            anyhow::bail!("the server closed the connection during {tag}");
        }
        bytes += line.len() as u64;
        if !continued {
            if line.starts_with(format!("{tag} ").as_bytes()) {
                anyhow::ensure!(
                    line[tag.len() + 1..].starts_with(b"OK"),
                    "{tag} failed: {}",
                    String::from_utf8_lossy(&line)
                );
                return Ok((fetches, bytes));
            }
            if line.starts_with(b"* ") && line.windows(7).any(|w| w == b" FETCH ") {
                fetches += 1;
            }
        }
        // A line ending in {n} (or {n+}) is followed by n bytes of literal, then the line goes on.
        let trimmed = line.strip_suffix(b"\r\n").unwrap_or(&line);
        continued = false;
        if let Some(open) =
            trimmed.strip_suffix(b"}").and_then(|t| t.iter().rposition(|&c| c == b'{').map(|i| &t[i + 1..]))
        {
            let digits = open.strip_suffix(b"+").unwrap_or(open);
            if let Some(mut left) = std::str::from_utf8(digits).ok().and_then(|d| d.parse::<u64>().ok()) {
                bytes += left;
                while left > 0 {
                    let n = conn.read(&mut sink[..left.min(64 * 1024) as usize]).await?;
                    anyhow::ensure!(n > 0, "the server closed the connection inside a literal");
                    left -= n as u64;
                }
                continued = true;
            }
        }
    }
}
