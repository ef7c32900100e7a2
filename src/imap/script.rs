//! A scripted IMAP server for the quirk tests: a tokio listener on 127.0.0.1 that answers each
//! command of one client with canned lines, and fails the test when a command is not the one
//! the script expects. Literals are read (and a synchronizing one is answered with `+`), so
//! APPEND and MULTIAPPEND can be scripted too. `{tag}` in a reply is the client's tag; a reply
//! `<close>` hangs up instead of answering.

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use super::wire::SessionOf;

/// One step: the client's next command must contain `expect`; the server answers `replies`.
pub struct Step {
    pub expect: &'static str,
    pub replies: Vec<String>,
}

pub fn step(expect: &'static str, replies: &[&str]) -> Step {
    Step { expect, replies: replies.iter().map(|r| r.to_string()).collect() }
}

/// Start a server that greets, accepts the login, then plays `steps`. Returns a logged-in
/// session and the server task, which yields every command line it saw (literals left out).
pub async fn serve(steps: Vec<Step>) -> (SessionOf<TcpStream>, tokio::task::JoinHandle<Vec<String>>) {
    let mut all = vec![step("LOGIN", &["{tag} OK logged in"])];
    all.extend(steps);
    let (client, server) = greet(all).await;
    let session = client.login("user", "password").await.map_err(|(e, _)| e).unwrap();
    (session, server)
}

/// Start a server that greets, then plays `steps` (the login too). Returns the client after
/// the greeting, and the server task.
pub async fn greet(steps: Vec<Step>) -> (async_imap::Client<TcpStream>, tokio::task::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let (r, mut w) = tcp.into_split();
        let mut r = BufReader::new(r);
        w.write_all(b"* OK scripted server ready\r\n").await.unwrap();
        let mut seen = Vec::new();
        let mut steps = steps.into_iter();
        loop {
            let Some(line) = command(&mut r, &mut w).await else { break };
            let tag = line.split(' ').next().unwrap_or("").to_string();
            seen.push(line.clone());
            if line.contains("LOGOUT") {
                w.write_all(format!("* BYE\r\n{tag} OK bye\r\n").as_bytes()).await.ok();
                break;
            }
            let Some(s) = steps.next() else { panic!("unexpected command after the script ended: {line}") };
            assert!(line.contains(s.expect), "expected a command with {:?}, got {line:?}", s.expect);
            if s.replies.iter().any(|r| r == "<close>") {
                break;
            }
            for reply in s.replies {
                w.write_all(format!("{}\r\n", reply.replace("{tag}", &tag)).as_bytes()).await.unwrap();
            }
        }
        seen
    });
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut client = async_imap::Client::new(tcp);
    client.read_response().await.unwrap().unwrap();
    (client, server)
}

/// Read one command, literals included; `None` when the client hung up.
async fn command(
    r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    w: &mut tokio::net::tcp::OwnedWriteHalf,
) -> Option<String> {
    let mut out = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        let literal = line
            .strip_suffix('}')
            .and_then(|l| l.rsplit_once('{'))
            .map(|(_, n)| (n.trim_end_matches('+').parse::<usize>().ok(), n.ends_with('+')));
        out.push_str(&line);
        match literal {
            Some((Some(n), plus)) => {
                if !plus {
                    w.write_all(b"+ go ahead\r\n").await.ok()?;
                }
                let mut buf = vec![0u8; n];
                r.read_exact(&mut buf).await.ok()?;
            }
            _ => return Some(out),
        }
    }
}
