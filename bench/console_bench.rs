//! Console benchmark (run with `bench/console.sh`): every console page of this branch rendered
//! by the real router with 10,000 queued or sent messages and 50,000 mirrored ones in the
//! store, 200 requests per page, p50 / p99 / max printed as a table. Target: p99 under 50 ms.
//!
//! The store is filled directly through its own functions (no network, no mail stack): 50,000
//! mirrored messages in INBOX and Sent, 10,000 queued messages of which 7,000 went out (each
//! with its attempt trail), 100 are `unknown` and the rest wait; 200 SMTP transcripts; two
//! verdicts per mailbox. The console's router is served in this process on loopback, and each
//! request is one fresh connection (`Connection: close`), logged in as an office account, so
//! the time includes the session lookup, the store reads and the rendering. Numbers are
//! printed, never asserted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use postbote::app::App;
use postbote::config::Config;
use postbote::store::folders::FolderState;
use postbote::store::messages::{NewMessage, prepare};
use postbote::store::outbox::{AttemptResult, NewOutboxMessage, RcptOutcome, State};
use postbote::store::{Store, now};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const QUEUED: usize = 10_000;
const MIRRORED: usize = 50_000;
const SENT: usize = 7_000;
const UNKNOWN: usize = 100;
const REQUESTS: usize = 200;
const TRANSCRIPTS: usize = 200;

fn sizes() -> (usize, usize, usize) {
    let get = |k: &str, d: usize| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    (
        get("CONSOLE_BENCH_QUEUED", QUEUED),
        get("CONSOLE_BENCH_MIRRORED", MIRRORED),
        get("CONSOLE_BENCH_REQUESTS", REQUESTS),
    )
}

fn config(dir: &std::path::Path) -> Config {
    std::fs::write(dir.join("pw"), "pw\n").unwrap();
    let mb = |id: &str, t: &str| {
        format!(
            "[[mailbox]]\nid = \"{id}\"\nname = \"Mailbox {id}\"\naddresses = [\"{id}@bau-firma.test\"]\nhosted_address = \"{id}@handwerk.test\"\npassword_file = \"{}\"\ntransport = \"{t}\"\n",
            dir.join("pw").display()
        )
    };
    let text = format!(
        "[agent]\ndata_dir = \"{}\"\n[imap]\nhost = \"localhost\"\n[relay]\nhost = \"localhost\"\n[direct]\nhost = \"localhost\"\n{}[mailbox.smtp]\nlogin = \"becker@bau-firma.test\"\npassword_file = \"{}\"\n{}",
        dir.join("data").display(),
        mb("becker", "direct"),
        dir.join("pw").display(),
        mb("info", "relay"),
    );
    let path = dir.join("postbote.toml");
    std::fs::write(&path, text).unwrap();
    Config::load(&path).unwrap()
}

fn mirrored(store: &Store, n: usize) {
    let started = Instant::now();
    let inbox = store.folders().ensure("becker", "INBOX", Some("inbox")).unwrap();
    let sent = store.folders().ensure("becker", "Sent", Some("sent")).unwrap();
    for f in [&inbox, &sent] {
        store.folders().set_state(f.id, FolderState { uidvalidity: 1, uidnext: None, highestmodseq: None }).unwrap();
    }
    let mut uid = 0u32;
    while (uid as usize) < n {
        let folder = if (uid as usize) < n * 4 / 5 { &inbox } else { &sent };
        let batch: Vec<NewMessage> = (0..1000.min(n - uid as usize))
            .map(|_| {
                uid += 1;
                let raw = format!(
                    "From: Kunde {uid} <kunde{uid}@example.de>\r\nTo: becker@bau-firma.test\r\nSubject: Anfrage {uid}\r\nMessage-ID: <m{uid}@example.de>\r\nDate: Fri, 04 Dec 2026 10:00:00 +0100\r\n\r\nGuten Tag, bitte ein Angebot für die Baustelle {uid}.\r\n"
                );
                NewMessage { uid: Some(uid), modseq: None, flags: vec![], internal_date: 1_796_000_000 + uid as i64, raw: raw.into_bytes() }
            })
            .collect();
        store.messages().insert_ready("becker", folder.id, prepare(batch), None).unwrap();
    }
    eprintln!("{n} mirrored messages stored in {:.1} s", started.elapsed().as_secs_f64());
}

/// Queue `n` messages; SENT of them go out, UNKNOWN become unknown. Returns a sent and an unknown id.
fn queue(store: &Store, n: usize) -> (i64, i64) {
    let started = Instant::now();
    let (mut sent_id, mut unknown_id) = (0, 0);
    // 7,000 and 100 of 10,000; the same shares of a smaller run.
    let sent = n * SENT / QUEUED;
    let unknown = (n * UNKNOWN / QUEUED).max(1);
    for i in 0..n {
        let account = if i % 4 == 3 { "info" } else { "becker" };
        let m = NewOutboxMessage {
            account: account.into(),
            origin: "office",
            message_id: format!("q{i}@bau-firma.test"),
            from_addr: format!("{account}@bau-firma.test"),
            subject: format!("Angebot {i}"),
            raw: format!(
                "From: {account}@bau-firma.test\r\nTo: kunde{i}@example.de\r\nSubject: Angebot {i}\r\n\r\nAnbei.\r\n"
            )
            .into_bytes(),
            recipients: vec![format!("kunde{i}@example.de"), format!("buero{i}@example.de")],
            discard_after: None,
        };
        let id = store.outbox().insert(&m).unwrap();
        if i < sent {
            store.outbox().begin(id).unwrap();
            let r = AttemptResult {
                server: "localhost:587 (direct)".into(),
                recipients: m
                    .recipients
                    .iter()
                    .map(|a| (a.clone(), RcptOutcome::Sent, Some(250), "2.0.0 Ok: queued as 4Xb2".to_string()))
                    .collect(),
                notes: vec![],
                status: State::Sent,
                due_at: None,
                last_error: None,
            };
            store.outbox().finish(id, &r).unwrap();
            sent_id = id;
        } else if i < sent + unknown {
            store.outbox().begin(id).unwrap();
            unknown_id = id;
        }
    }
    store.outbox().mark_unknown().unwrap();
    eprintln!("{n} queued messages stored in {:.1} s", started.elapsed().as_secs_f64());
    (sent_id, unknown_id)
}

fn verdicts(store: &Store) {
    for account in ["becker", "info"] {
        for (transport, level) in [("direct", "ok"), ("relay", "will_fail")] {
            let report = serde_json::json!({
                "findings": [{"level": level, "reason": {"de": "Grund", "en": "reason"}, "fix": null}],
                "facts": {"server_ips": {"state": "found", "value": ["127.0.0.1"]},
                          "spf": {"state": "record", "record": "v=spf1 ip4:127.0.0.1 -all", "results": [["127.0.0.1", "pass"]]},
                          "dmarc": {"state": "found", "record": "v=DMARC1; p=reject; rua=mailto:d@bau-firma.test", "p": "reject", "rua": ["mailto:d@bau-firma.test"]}}
            });
            store
                .verdicts()
                .save(&postbote::store::deliverability::StoredVerdict {
                    account: account.into(),
                    domain: "bau-firma.test".into(),
                    transport: transport.into(),
                    configured: (transport == "direct") == (account == "becker"),
                    level: level.into(),
                    definite_level: None,
                    reason_de: "Grund".into(),
                    reason_en: "reason".into(),
                    fix_de: None,
                    fix_en: None,
                    report: report.to_string(),
                    checked_at: now(),
                })
                .unwrap();
        }
    }
}

async fn get(port: u16, path: &str, cookie: &str) -> (u16, usize) {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.set_nodelay(true).unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::with_capacity(1 << 16);
    s.read_to_end(&mut buf).await.unwrap();
    let status = std::str::from_utf8(&buf[9..12]).unwrap().parse().unwrap();
    (status, buf.len())
}

#[tokio::main]
async fn main() {
    postbote::tls::install_provider();
    let (n_queued, n_mirrored, requests) = sizes();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let store = Store::open(&cfg.store_path()).unwrap();
    store.ensure_accounts(["becker", "info"]).unwrap();
    let app = App::new(Arc::new(cfg), store.clone());
    mirrored(&store, n_mirrored);
    let (sent_id, unknown_id) = queue(&store, n_queued);
    verdicts(&store);
    let tdir = postbote::outbox::logging::transcript_dir(&app);
    for i in 0..TRANSCRIPTS {
        let mut t = postbote::smtp::Transcript::create(&tdir, "becker", "localhost:587", "becker", "pw").unwrap();
        t.note(&postbote::outbox::logging::message_note(i as i64 + 1, &format!("q{i}@bau-firma.test")));
        t.client("MAIL FROM:<becker@bau-firma.test>");
        t.server(250, &["2.1.0 Ok".into()]);
    }
    let transcript = postbote::smtp::transcript::list(&tdir)[0].name.clone();

    let h = postbote::console::auth::hash_password("bench").unwrap();
    store.console().put_user("anna", postbote::store::console::Role::Office, None, &h).unwrap();
    let (value, hash) = postbote::console::auth::new_session();
    store.console().open_session(&hash, "anna", now() + 86_400).unwrap();
    let cookie = format!("postbote_session={value}");

    let web = postbote::console::Web::new(app.clone(), false);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, postbote::console::router(web)).await.unwrap() });

    let pages = [
        "/".to_string(),
        "/outbox".into(),
        "/outbox?state=sent".into(),
        "/outbox?mailbox=becker&state=queued".into(),
        format!("/outbox/{sent_id}"),
        format!("/outbox/{unknown_id}"),
        "/sessions".into(),
        "/smtp-logs".into(),
        format!("/smtp-logs/{transcript}"),
        "/deliverability".into(),
        "/audit".into(),
    ];
    println!(
        "console pages: {n_queued} queued or sent messages, {n_mirrored} mirrored, {TRANSCRIPTS} transcripts; {requests} requests per page"
    );
    println!("{:<40} {:>8} {:>9} {:>9} {:>9}", "page", "bytes", "p50 ms", "p99 ms", "max ms");
    let mut worst = Duration::ZERO;
    for p in &pages {
        let (status, bytes) = get(port, p, &cookie).await;
        assert_eq!(status, 200, "{p}");
        let mut times = Vec::with_capacity(requests);
        for _ in 0..requests {
            let t = Instant::now();
            get(port, p, &cookie).await;
            times.push(t.elapsed());
        }
        times.sort();
        let at = |q: f64| times[((times.len() as f64 * q).ceil() as usize).saturating_sub(1).min(times.len() - 1)];
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        worst = worst.max(at(0.99));
        println!(
            "{:<40} {:>8} {:>9.2} {:>9.2} {:>9.2}",
            p,
            bytes,
            ms(at(0.5)),
            ms(at(0.99)),
            ms(*times.last().unwrap())
        );
    }
    println!("worst p99: {:.2} ms (target: under 50 ms)", worst.as_secs_f64() * 1000.0);
}
