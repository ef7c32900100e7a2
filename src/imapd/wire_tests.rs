//! A client that stops reading, or sends a big literal before logging in, cannot hold a
//! session: the write gives up after the stall time, the read after `BEFORE_LOGIN` bytes.

use std::time::{Duration, Instant};

use imap_codec::imap_types::response::Greeting;
use imap_next::server::Options;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use super::{Stream, Wire, WireError};

async fn pair() -> (Wire, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    let (server, _) = l.accept().await.unwrap();
    let wire = Wire::new(Stream::Plain(server), Options::default(), Greeting::ok(None, "hi").unwrap(), false);
    (wire, client)
}

#[tokio::test]
async fn a_write_to_a_client_that_never_reads_gives_up() {
    let (mut wire, _client) = pair().await;
    wire.write_stall = Duration::from_millis(300);
    wire.out = vec![b'x'; 64 << 20];
    let t = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(20), wire.write_out()).await.expect("the write ended");
    assert!(matches!(r, Err(WireError::Io(ref e)) if e.kind() == std::io::ErrorKind::TimedOut), "{r:?}");
    assert!(t.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_big_literal_before_login_ends_the_connection() {
    let (mut wire, mut client) = pair().await;
    let sender = tokio::spawn(async move {
        client.write_all(b"a LOGIN {50000000}\r\n").await.unwrap();
        let chunk = vec![b'y'; 16 * 1024];
        for _ in 0..64 {
            if client.write_all(&chunk).await.is_err() {
                break;
            }
        }
        client
    });
    let r = loop {
        while wire.ready().is_some() {}
        if let Err(e) = wire.read_more().await {
            break e;
        }
    };
    assert!(matches!(r, WireError::TooMuchBeforeLogin), "{r:?}");
    drop(wire);
    let _ = sender.await;
}
