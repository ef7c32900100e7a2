//! JMAP benchmark against the local stack (run with `bench/jmap.sh`).
//!
//! 1. Catch-up: a Dovecot mailbox of 10,000 messages is mirrored into a fresh store by the real
//!    mirror (`mirror::sync_once`); a phone and an IMAP client both note their state; 500 new
//!    messages arrive and are mirrored; then, in one run, the time for the phone to catch up
//!    (one request: `Email/changes` + `Email/get` of the list properties by result reference)
//!    is compared with an IMAP client catching up on the same data from Dovecot (`SELECT
//!    (CONDSTORE)` + `UID FETCH 1:* (ENVELOPE FLAGS) (CHANGEDSINCE m)`), both on an open
//!    connection and including connect + login. Median of several alternating runs; prints the
//!    ratios.
//! 2. Polling: 50 devices, each on its own keep-alive connection, poll an empty
//!    `Email/changes` for a bounded number of requests; prints requests per second and p50/p99.
//! 3. Drafts: a device creates 100 drafts from `bodyStructure` (multipart/alternative, German
//!    text) and submits each, one request per draft as a phone does (Email/set create +
//!    EmailSubmission/set by creation reference); with the mirror running, prints the time
//!    until all 100 submissions are in the outbox and until all 100 drafts are in Drafts on
//!    Dovecot (written back by APPEND).
//!
//! Loopback only; the server runs in this process (`jmap::router`), so clients and server
//! share the machine's cores. Numbers are printed, never asserted.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_imap::imap_proto::{Response, ResponseCode};
use postbote::app::App;
use postbote::config::Config;
use postbote::imap::{self as conn, wire};
use postbote::store::Store;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const RUNS: usize = 7;
const DEVICES: usize = 50;
const POLLS_PER_DEVICE: usize = 200;
const DRAFTS: usize = 100;

/// Mailbox size and new messages: 10,000 and 500 unless `JMAP_BENCH_BASE` / `JMAP_BENCH_NEW`
/// say otherwise (a quick smoke run of the bench itself).
fn sizes() -> (usize, usize) {
    let get = |k: &str, d: usize| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    (get("JMAP_BENCH_BASE", 10_000), get("JMAP_BENCH_NEW", 500))
}

fn stack_dir() -> PathBuf {
    std::env::var_os("POSTBOTE_STACK_DIR").map(PathBuf::from).expect("set POSTBOTE_STACK_DIR to the running stack")
}

fn stack(args: &[&str]) -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(root.join("scripts/stack"))
        .args(args)
        .env("POSTBOTE_STACK_DIR", stack_dir())
        .stdin(Stdio::null())
        .output()
        .expect("scripts/stack");
    assert!(out.status.success(), "stack {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One HTTP/1.1 connection that stays open (what a phone's HTTP stack does).
struct Http {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Http {
    async fn connect(port: u16) -> Http {
        let s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        s.set_nodelay(true).unwrap();
        Http { s, buf: Vec::with_capacity(1 << 16) }
    }

    async fn post(&mut self, token: &str, body: &[u8]) -> Vec<u8> {
        let head = format!(
            "POST /jmap/api/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        self.s.write_all(head.as_bytes()).await.unwrap();
        self.s.write_all(body).await.unwrap();
        self.buf.clear();
        let mut tmp = [0u8; 65536];
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).to_lowercase();
                assert!(head.starts_with("http/1.1 200"), "{head}");
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map(|v| v.trim().parse().unwrap())
                    .expect("content-length");
                while self.buf.len() < end + 4 + len {
                    let n = self.s.read(&mut tmp).await.unwrap();
                    assert!(n > 0, "connection closed");
                    self.buf.extend_from_slice(&tmp[..n]);
                }
                return self.buf[end + 4..end + 4 + len].to_vec();
            }
            let n = self.s.read(&mut tmp).await.unwrap();
            assert!(n > 0, "connection closed");
            self.buf.extend_from_slice(&tmp[..n]);
        }
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// SELECT (CONDSTORE) and the changed messages' envelopes and flags; returns (fetched, highestmodseq).
async fn imap_catch_up(s: &mut conn::Session, since: u64) -> (usize, u64) {
    let cmd = wire::send(s, "SELECT INBOX (CONDSTORE)", "SELECT").await.unwrap();
    let mut hms = 0;
    while let Some(x) = cmd
        .next(s, |r| match r {
            Response::Data { outcome, .. } => match outcome.code {
                Some(ResponseCode::HighestModSeq(m)) => Some(m),
                _ => None,
            },
            _ => None,
        })
        .await
        .unwrap()
    {
        if let Some(m) = x {
            hms = m;
        }
    }
    if since == 0 {
        return (0, hms);
    }
    let cmd =
        wire::send(s, &format!("UID FETCH 1:* (ENVELOPE FLAGS) (CHANGEDSINCE {since})"), "UID FETCH").await.unwrap();
    let mut n = 0;
    while let Some(is_fetch) = cmd.next(s, |r| matches!(r, Response::Fetch(..))).await.unwrap() {
        n += is_fetch as usize;
    }
    (n, hms)
}

#[allow(non_snake_case)]
#[tokio::main(flavor = "multi_thread")]
async fn main() {
    postbote::tls::install_provider();
    let (BASE, NEW) = sizes();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let user = format!("bench-{}-{nanos}@handwerk.test", std::process::id());
    let pw = format!("bench{nanos}");
    stack(&["add-user", &user, &pw]);
    eprintln!("populating {BASE} messages for {user} ...");
    stack(&["populate", &user, &BASE.to_string(), "3000"]);

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), &pw).unwrap();
    let text = format!(
        "[agent]\ndata_dir = \"{d}/data\"\nbatch_size = 500\n[imap]\nhost = \"localhost\"\nport = 10993\ntls = \"implicit\"\nca_file = \"{ca}\"\n\
         [relay]\nhost = \"localhost\"\nport = 10587\n[jmap]\nenabled = false\n\
         [[mailbox]]\nid = \"bench\"\nname = \"Bench\"\naddresses = [\"bench@bau-firma.test\"]\nhosted_address = \"{user}\"\npassword_file = \"{d}/pw\"\nfolders = [\"INBOX\", \"Drafts\"]\n",
        d = dir.path().display(),
        ca = stack_dir().join("certs/cert.pem").display(),
    );
    let cfg_path = dir.path().join("postbote.toml");
    std::fs::write(&cfg_path, text).unwrap();
    let cfg = Arc::new(Config::load(&cfg_path).unwrap());
    let store = Store::open(&cfg.store_path()).unwrap();
    store.ensure_accounts(["bench"]).unwrap();
    let app = App::new(cfg.clone(), store.clone());
    let t = Instant::now();
    let r = postbote::mirror::sync_once(&app, "bench", false).await.unwrap();
    eprintln!("initial mirror: {r} in {:?}", t.elapsed());

    // The JMAP server on loopback.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let token = tokio_util::sync::CancellationToken::new();
    let server = postbote::jmap::Server::new(app.clone(), token.clone());
    let routes = postbote::jmap::router(server).into_make_service_with_connect_info::<postbote::jmap::PeerAddr>();
    tokio::spawn(async move { axum::serve(listener, routes).await.unwrap() });
    let (phone, hash) = postbote::jmap::auth::new_token();
    store.devices().add("bench", "bench phone", &[], &hash).unwrap();

    // Both clients note their state.
    let mut http = Http::connect(port).await;
    let v: Value = serde_json::from_slice(
        &http.post(&phone, json!({"using": ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"], "methodCalls": [["Email/get", {"accountId": "bench", "ids": []}, "0"]]}).to_string().as_bytes()).await,
    )
    .unwrap();
    let state0 = v["methodResponses"][0][1]["state"].as_str().unwrap().to_string();
    let mb = cfg.mailbox("bench").unwrap().clone();
    let mut imap = conn::connect(&cfg, &mb).await.unwrap();
    let (_, hms0) = imap_catch_up(&mut imap, 0).await;

    eprintln!("{NEW} new messages arrive ...");
    stack(&["populate", &user, &NEW.to_string(), "3000"]);
    let r = postbote::mirror::sync_once(&app, "bench", false).await.unwrap();
    eprintln!("mirrored: {r}");

    let body = json!({"using": ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"], "methodCalls": [
        ["Email/changes", {"accountId": "bench", "sinceState": state0, "maxChanges": 1000}, "c"],
        ["Email/get", {"accountId": "bench", "#ids": {"resultOf": "c", "name": "Email/changes", "path": "/created"},
            "properties": ["id", "threadId", "mailboxIds", "keywords", "size", "receivedAt", "from", "to", "subject", "sentAt", "hasAttachment", "preview"]}, "g"]]})
    .to_string();
    let (mut jmap_t, mut jmap_cold_t, mut imap_t, mut imap_cold_t) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut jmap_bytes = 0;
    for _ in 0..RUNS {
        // JMAP on an open connection.
        let t = Instant::now();
        let resp = http.post(&phone, body.as_bytes()).await;
        let v: Value = serde_json::from_slice(&resp).unwrap();
        jmap_t.push(t.elapsed());
        jmap_bytes = resp.len();
        assert_eq!(
            v["methodResponses"][1][1]["list"].as_array().map(Vec::len),
            Some(NEW),
            "{}",
            &String::from_utf8_lossy(&resp)[..300.min(resp.len())]
        );
        // JMAP including the TCP connect.
        let t = Instant::now();
        let mut h = Http::connect(port).await;
        let v: Value = serde_json::from_slice(&h.post(&phone, body.as_bytes()).await).unwrap();
        jmap_cold_t.push(t.elapsed());
        assert_eq!(v["methodResponses"][1][1]["list"].as_array().map(Vec::len), Some(NEW));
        // IMAP on an open, logged-in connection.
        let t = Instant::now();
        let (n, _) = imap_catch_up(&mut imap, hms0).await;
        imap_t.push(t.elapsed());
        assert_eq!(n, NEW);
        // IMAP including connect, TLS and LOGIN.
        let t = Instant::now();
        let mut s = conn::connect(&cfg, &mb).await.unwrap();
        let (n, _) = imap_catch_up(&mut s, hms0).await;
        imap_cold_t.push(t.elapsed());
        assert_eq!(n, NEW);
        let _ = s.logout().await;
    }
    let (j, jc, i, ic) = (median(jmap_t), median(jmap_cold_t), median(imap_t), median(imap_cold_t));
    println!("catch-up after {NEW} new messages in a {BASE}-message mailbox (median of {RUNS}):");
    println!(
        "  JMAP  Email/changes + Email/get (1 request, {jmap_bytes} bytes), open connection: {:>8.2} ms",
        j.as_secs_f64() * 1e3
    );
    println!(
        "  IMAP  SELECT (CONDSTORE) + UID FETCH CHANGEDSINCE from Dovecot, open session: {:>8.2} ms",
        i.as_secs_f64() * 1e3
    );
    println!(
        "  ratio IMAP/JMAP (open connections):                                         {:>8.2}x",
        i.as_secs_f64() / j.as_secs_f64()
    );
    println!(
        "  JMAP  incl. TCP connect (plain HTTP on loopback):                          {:>8.2} ms",
        jc.as_secs_f64() * 1e3
    );
    println!(
        "  IMAP  incl. TCP connect, TLS and LOGIN:                                     {:>8.2} ms",
        ic.as_secs_f64() * 1e3
    );
    println!(
        "  ratio IMAP/JMAP (new connections; JMAP without TLS here):                   {:>8.2}x",
        ic.as_secs_f64() / jc.as_secs_f64()
    );

    // 50 devices polling an empty Email/changes.
    let mut tokens = Vec::new();
    for i in 0..DEVICES {
        let (t, h) = postbote::jmap::auth::new_token();
        store.devices().add("bench", &format!("poller {i}"), &[], &h).unwrap();
        tokens.push(t);
    }
    let v: Value = serde_json::from_slice(
        &http.post(&phone, json!({"using": ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"], "methodCalls": [["Email/get", {"accountId": "bench", "ids": []}, "0"]]}).to_string().as_bytes()).await,
    )
    .unwrap();
    let now_state = v["methodResponses"][0][1]["state"].as_str().unwrap().to_string();
    let poll = Arc::new(
        json!({"using": ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"], "methodCalls": [["Email/changes", {"accountId": "bench", "sinceState": now_state}, "c"]]})
            .to_string(),
    );
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in tokens {
        let poll = poll.clone();
        tasks.push(tokio::spawn(async move {
            let mut h = Http::connect(port).await;
            let mut lat = Vec::with_capacity(POLLS_PER_DEVICE);
            for _ in 0..POLLS_PER_DEVICE {
                let t0 = Instant::now();
                let r = h.post(&t, poll.as_bytes()).await;
                lat.push(t0.elapsed());
                debug_assert!(r.windows(9).any(|w| w == b"\"created\""));
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(tokio::time::timeout(Duration::from_secs(300), t).await.expect("polling within 5 min").unwrap());
    }
    let elapsed = start.elapsed();
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)].as_secs_f64() * 1e3;
    println!("{DEVICES} devices polling an empty Email/changes, {} requests:", all.len());
    println!(
        "  {:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        all.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        pct(1.0)
    );

    drafts(&app, &cfg, &mb, port, &phone, &token).await;
    token.cancel();
}

/// Messages in `folder` on the hosted server, by STATUS on a fresh session.
async fn hosted_count(cfg: &Config, mb: &postbote::config::Mailbox, folder: &str) -> u64 {
    let mut s = conn::connect(cfg, mb).await.unwrap();
    let st = s.status(folder, "(MESSAGES)").await.unwrap();
    let _ = s.logout().await;
    st.exists as u64
}

/// Part 3: 100 drafts from `bodyStructure`, each submitted, with the mirror writing back.
async fn drafts(
    app: &App,
    cfg: &Config,
    mb: &postbote::config::Mailbox,
    port: u16,
    phone: &str,
    token: &tokio_util::sync::CancellationToken,
) {
    let using = json!(["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail", "urn:ietf:params:jmap:submission"]);
    let mut http = Http::connect(port).await;
    let v: Value = serde_json::from_slice(
        &http
            .post(
                phone,
                json!({"using": using, "methodCalls": [
                ["Mailbox/query", {"accountId": "bench", "filter": {"role": "drafts"}}, "m"],
                ["Identity/get", {"accountId": "bench"}, "i"]]})
                .to_string()
                .as_bytes(),
            )
            .await,
    )
    .unwrap();
    let drafts = v["methodResponses"][0][1]["ids"][0].as_str().unwrap_or_else(|| panic!("no Drafts: {v}")).to_string();
    let identity = v["methodResponses"][1][1]["list"][0]["id"].as_str().unwrap().to_string();
    let before = hosted_count(cfg, mb, "Drafts").await;
    let queued_before = app.store.outbox().list(Some("bench"), None, 1_000_000).map(|l| l.len()).unwrap_or(0);
    let mirror = tokio::spawn(postbote::mirror::run(app.clone(), "bench".into(), token.child_token()));

    let t = Instant::now();
    for i in 0..DRAFTS {
        let body = json!({"using": using, "methodCalls": [
            ["Email/set", {"accountId": "bench", "create": {"d": {
                "mailboxIds": {drafts.clone(): true}, "keywords": {"$draft": true},
                "from": [{"name": "Bench Büro", "email": "bench@bau-firma.test"}],
                "to": [{"name": "Jürgen Käßmann", "email": format!("kunde{i}@kunde.test")}],
                "subject": format!("Angebot Nr. {i}: Dachsanierung, Gerüst und Rinnen"),
                "bodyStructure": {"type": "multipart/alternative", "subParts": [
                    {"partId": "t", "type": "text/plain"},
                    {"partId": "h", "type": "text/html"}]},
                "bodyValues": {
                    "t": {"value": format!("Sehr geehrter Herr Käßmann,\n\nanbei unser Angebot Nr. {i} für die Dachsanierung.\nMit freundlichen Grüßen\nBench Büro\n")},
                    "h": {"value": format!("<p>Sehr geehrter Herr Käßmann,</p><p>anbei unser Angebot Nr. {i} für die Dachsanierung.</p><p>Mit freundlichen Grüßen<br>Bench Büro</p>")}}}}}, "e"],
            ["EmailSubmission/set", {"accountId": "bench", "create": {"s": {"identityId": identity, "emailId": "#d"}}}, "s"]]})
        .to_string();
        let v: Value = serde_json::from_slice(&http.post(phone, body.as_bytes()).await).unwrap();
        assert!(v["methodResponses"][1][1]["created"]["s"]["id"].is_string(), "draft {i} not submitted: {v}");
    }
    let requests = t.elapsed();
    let queued = app.store.outbox().list(Some("bench"), None, 1_000_000).map(|l| l.len()).unwrap_or(0) - queued_before;
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut on_server = 0;
    while on_server < DRAFTS as u64 {
        assert!(Instant::now() < deadline, "only {on_server} of {DRAFTS} drafts reached Dovecot within 5 min");
        tokio::time::sleep(Duration::from_millis(20)).await;
        on_server = hosted_count(cfg, mb, "Drafts").await - before;
    }
    let written_back = t.elapsed();
    println!("{DRAFTS} drafts from bodyStructure, each submitted (one request per draft, mirror running):");
    println!(
        "  all {queued} in the outbox after {:.2} s ({:.1} ms per request); all {DRAFTS} in Drafts on Dovecot after {:.2} s",
        requests.as_secs_f64(),
        requests.as_secs_f64() * 1e3 / DRAFTS as f64,
        written_back.as_secs_f64()
    );
    token.cancel();
    let _ = mirror.await;
}
