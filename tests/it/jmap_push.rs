//! JMAP push subscriptions (RFC 8620 section 7.2) against the real daemon, the real Dovecot
//! and a push service of our own: an HTTPS receiver on loopback whose certificate comes from
//! a throwaway CA made for the test (`openssl`), trusted through `jmap.push_ca_file`.
//!
//! The receiver records every POST (path, headers, body) and answers with the statuses a test
//! scripts (201 once the script is used up). Encrypted pushes are decrypted here with the
//! phone's private key (RFC 8291, written out again on this side so that the daemon's code
//! is not checked against itself). Nothing sleeps to wait for a server: waits poll with a
//! timeout; the only fixed waits are the windows in which something must NOT arrive.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lc_rs::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::agreement::{self, ECDH_P256, PrivateKey, UnparsedPublicKey};
use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use postbote::store::ObjType;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::support::{self, jmapd};

const USING: [&str; 3] = ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail", "urn:ietf:params:jmap:submission"];

// ------------------------------------------------------------------ the push service

/// A CA and a certificate for localhost/127.0.0.1 signed by it, made for this test only.
struct TestCa {
    dir: tempfile::TempDir,
}

impl TestCa {
    fn new() -> TestCa {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let run = |args: &[&str]| {
            let out = Command::new("openssl").args(args).current_dir(d).output().expect("openssl runs");
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        let mut ca = vec!["req", "-x509"];
        ca.extend(ec);
        ca.extend([
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=postbote push test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        run(&ca);
        let mut csr = vec!["req"];
        csr.extend(ec);
        csr.extend(["-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=localhost"]);
        run(&csr);
        std::fs::write(
            d.join("leaf.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        run(&[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
        ]);
        TestCa { dir }
    }

    fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }
}

/// One POST the push service received.
#[derive(Debug, Clone)]
struct Post {
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
    at: Instant,
}

/// An HTTPS push service on loopback.
struct Receiver {
    port: u16,
    posts: mpsc::UnboundedReceiver<Post>,
    /// The statuses to answer, in order; 201 when empty.
    script: Arc<Mutex<VecDeque<u16>>>,
    stop: CancellationToken,
}

impl Receiver {
    async fn start(ca: &TestCa) -> Receiver {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        postbote::tls::install_provider();
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(ca.dir.path().join("leaf.pem")).unwrap().collect::<Result<_, _>>().unwrap();
        let key = PrivateKeyDer::from_pem_file(ca.dir.path().join("leaf.key")).unwrap();
        let config =
            tokio_rustls::rustls::ServerConfig::builder().with_no_client_auth().with_single_cert(certs, key).unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, posts) = mpsc::unbounded_channel();
        let script: Arc<Mutex<VecDeque<u16>>> = Arc::default();
        let stop = CancellationToken::new();
        tokio::spawn({
            let (script, stop) = (script.clone(), stop.clone());
            async move {
                loop {
                    let (tcp, _) = tokio::select! {
                        _ = stop.cancelled() => return,
                        r = listener.accept() => r.unwrap(),
                    };
                    let (acceptor, tx, script) = (acceptor.clone(), tx.clone(), script.clone());
                    tokio::spawn(async move {
                        let Ok(mut s) = acceptor.accept(tcp).await else { return };
                        let Some(post) = read_post(&mut s).await else { return };
                        let status = script.lock().unwrap().pop_front().unwrap_or(201);
                        let _ = tx.send(post);
                        let answer =
                            format!("HTTP/1.1 {status} Scripted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                        let _ = s.write_all(answer.as_bytes()).await;
                        let _ = s.shutdown().await;
                    });
                }
            }
        });
        Receiver { port, posts, script, stop }
    }

    fn url(&self, secret: &str) -> String {
        format!("https://localhost:{}/push/{secret}", self.port)
    }

    fn answer(&self, statuses: &[u16]) {
        self.script.lock().unwrap().extend(statuses);
    }

    async fn next(&mut self, within: Duration, what: &str) -> Post {
        tokio::time::timeout(within, self.posts.recv())
            .await
            .unwrap_or_else(|_| panic!("no POST within {within:?}: {what}"))
            .expect("the receiver runs")
    }

    /// Nothing arrives for `window`.
    async fn nothing_for(&mut self, window: Duration, why: &str) {
        if let Ok(Some(p)) = tokio::time::timeout(window, self.posts.recv()).await {
            panic!("{why}: got a POST to {} with {}", p.path, String::from_utf8_lossy(&p.body));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn read_post<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> Option<Post> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.lines();
    let request = lines.next()?;
    assert!(request.starts_with("POST "), "a push is a POST: {request}");
    let path = request.split(' ').nth(1)?.to_string();
    let headers: HashMap<String, String> =
        lines.filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))).collect();
    let len: usize = headers.get("content-length")?.parse().ok()?;
    while buf.len() < end + len {
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(Post { path, headers, body: buf[end..end + len].to_vec(), at: Instant::now() })
}

// ------------------------------------------------------------------ the phone's keys

/// A phone's Web Push keys: its P-256 key pair and auth secret.
struct PhoneKeys {
    private: PrivateKey,
    public: Vec<u8>,
    auth: [u8; 16],
}

impl PhoneKeys {
    fn new() -> PhoneKeys {
        let private = PrivateKey::generate(&ECDH_P256).unwrap();
        let public = private.compute_public_key().unwrap().as_ref().to_vec();
        let mut auth = [0u8; 16];
        aws_lc_rs::rand::fill(&mut auth).unwrap();
        PhoneKeys { private, public, auth }
    }

    fn json(&self) -> Value {
        json!({"p256dh": URL_SAFE_NO_PAD.encode(&self.public), "auth": URL_SAFE_NO_PAD.encode(self.auth)})
    }

    /// Decrypt an `aes128gcm` body (RFC 8188 with the key schedule of RFC 8291).
    fn decrypt(&self, body: &[u8]) -> Value {
        let hkdf = |salt: &[u8], ikm: &[u8], info: &[u8], len: usize| {
            let prk = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, salt), ikm);
            let mut ctx = hmac::Context::with_key(&hmac::Key::new(hmac::HMAC_SHA256, prk.as_ref()));
            ctx.update(info);
            ctx.update(&[1]);
            ctx.sign().as_ref()[..len].to_vec()
        };
        let salt = &body[..16];
        let rs = u32::from_be_bytes(body[16..20].try_into().unwrap()) as usize;
        let idlen = body[20] as usize;
        let as_public = &body[21..21 + idlen];
        let mut record = body[21 + idlen..].to_vec();
        assert!(record.len() <= rs, "one record");
        let ecdh =
            agreement::agree(&self.private, UnparsedPublicKey::new(&ECDH_P256, as_public), (), |s| Ok(s.to_vec()))
                .unwrap();
        let info = [b"WebPush: info\0".as_slice(), &self.public, as_public].concat();
        let ikm = hkdf(&self.auth, &ecdh, &info, 32);
        let cek = hkdf(salt, &ikm, b"Content-Encoding: aes128gcm\0", 16);
        let nonce = hkdf(salt, &ikm, b"Content-Encoding: nonce\0", 12);
        let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &cek).unwrap());
        let plain = key
            .open_in_place(Nonce::try_assume_unique_for_key(&nonce).unwrap(), Aad::empty(), &mut record)
            .expect("the push decrypts with the phone's key");
        let end = plain.iter().rposition(|b| *b != 0).expect("a padding delimiter");
        assert_eq!(plain[end], 2, "the last record's delimiter");
        serde_json::from_slice(&plain[..end]).unwrap()
    }
}

// ------------------------------------------------------------------ the daemon

/// The daemon for mailbox "becker" and its Dovecot user.
struct Daemon {
    d: jmapd::Daemon,
    user: String,
}

async fn daemon(tag: &str, push_ca: &Path) -> Daemon {
    let (user, pw) = support::unique_user(tag);
    let d = jmapd::Builder::new()
        .using(&USING)
        .jmap(&format!("push_ca_file = \"{}\"", push_ca.display()))
        .mailbox(jmapd::Mailbox::new("becker", &user, &pw))
        .start()
        .await;
    Daemon { d, user }
}

impl Daemon {
    fn device(&self) -> String {
        self.d.device("becker", &[])
    }

    /// One JMAP method call; its response arguments.
    async fn call(&self, token: &str, method: &str, args: Value) -> Value {
        self.d.answer(token, method, args).await
    }

    fn email_modseq(&self) -> i64 {
        self.d.app.store.changes().states("becker").unwrap().map_or(0, |s| s.modseq(ObjType::Email))
    }

    /// Deliver a message on Dovecot and wait until the mirror stored it.
    async fn new_mail(&self, subject: &str) {
        let before = self.email_modseq();
        let raw = format!(
            "From: Kunde <kunde@kunde.test>\r\nTo: becker@bau-firma.test\r\nSubject: {subject}\r\n\
             Date: Mon, 2 Nov 2026 09:15:00 +0100\r\nMessage-ID: <{}@kunde.test>\r\n\r\nHallo\r\n",
            support::unique_token()
        );
        support::deliver(&self.user, raw.as_bytes());
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.email_modseq() == before {
            assert!(Instant::now() < deadline, "the mirror did not store \"{subject}\"");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn stop(self) {
        self.d.stop().await;
    }
}

// ------------------------------------------------------------------ the tests

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_encrypted_subscription_is_verified_then_gets_state_changes_for_new_mail() {
    let ca = TestCa::new();
    let mut rx = Receiver::start(&ca).await;
    let d = daemon("push-enc", &ca.ca_file()).await;
    let (phone, other) = (d.device(), d.device());
    let keys = PhoneKeys::new();
    let in_a_month = chrono::Utc::now() + chrono::Duration::days(30);
    let r = d
        .call(
            &phone,
            "PushSubscription/set",
            json!({"create": {
                "a": {"deviceClientId": "phone-1", "url": rx.url("s3cr3t-a"), "keys": keys.json(),
                      "types": ["Email", "Mailbox"], "expires": in_a_month.format("%Y-%m-%dT%H:%M:%SZ").to_string()},
                "plain": {"deviceClientId": "phone-1", "url": format!("http://localhost:{}/push/x", rx.port)},
            }}),
        )
        .await;
    assert_eq!(r["notCreated"]["plain"]["type"], "invalidProperties", "{r}");
    assert_eq!(r["notCreated"]["plain"]["properties"], json!(["url"]), "{r}");
    let id = r["created"]["a"]["id"].as_str().unwrap_or_else(|| panic!("created: {r}")).to_string();
    // expires is clamped to a week.
    let expires = chrono::DateTime::parse_from_rfc3339(r["created"]["a"]["expires"].as_str().unwrap()).unwrap();
    let week = chrono::Utc::now() + chrono::Duration::days(7);
    assert!(expires.timestamp() <= week.timestamp() + 5 && expires.timestamp() > week.timestamp() - 60, "{r}");

    // The PushVerification, encrypted for the phone.
    let p = rx.next(Duration::from_secs(20), "the PushVerification").await;
    assert_eq!(p.path, "/push/s3cr3t-a");
    assert_eq!(p.headers.get("content-encoding").map(String::as_str), Some("aes128gcm"), "{:?}", p.headers);
    assert!(p.headers.get("ttl").is_some_and(|t| t.parse::<u32>().is_ok()), "{:?}", p.headers);
    let v = keys.decrypt(&p.body);
    assert_eq!(v["@type"], "PushVerification", "{v}");
    assert_eq!(v["pushSubscriptionId"], id.as_str());
    let code = v["verificationCode"].as_str().unwrap().to_string();

    // Not verified yet: new mail brings nothing to the URL.
    d.new_mail("vor der Bestätigung").await;
    rx.nothing_for(Duration::from_millis(2500), "a StateChange before verification").await;

    // Another device neither sees nor changes nor destroys it.
    let g = d.call(&other, "PushSubscription/get", json!({"ids": null})).await;
    assert_eq!(g["list"], json!([]), "{g}");
    let g = d.call(&other, "PushSubscription/get", json!({"ids": [id]})).await;
    assert_eq!(g["notFound"], json!([id]), "{g}");
    let s = d
        .call(
            &other,
            "PushSubscription/set",
            json!({"update": {id.clone(): {"verificationCode": code}}, "destroy": [id]}),
        )
        .await;
    assert_eq!(s["notUpdated"][id.as_str()]["type"], "notFound", "{s}");
    assert_eq!(s["notDestroyed"][id.as_str()]["type"], "notFound", "{s}");

    // A wrong code is refused; immutable properties stay so.
    let s =
        d.call(&phone, "PushSubscription/set", json!({"update": {id.clone(): {"verificationCode": "falsch"}}})).await;
    assert_eq!(s["notUpdated"][id.as_str()]["properties"], json!(["verificationCode"]), "{s}");
    let s = d.call(&phone, "PushSubscription/set", json!({"update": {id.clone(): {"url": rx.url("other")}}})).await;
    assert_eq!(s["notUpdated"][id.as_str()]["properties"], json!(["url"]), "{s}");
    let s = d.call(&phone, "PushSubscription/set", json!({"update": {id.clone(): {"verificationCode": code}}})).await;
    assert!(s["updated"].as_object().is_some_and(|u| u.contains_key(&id)), "{s}");

    // The owner sees it, without url and keys.
    let g = d.call(&phone, "PushSubscription/get", json!({"ids": null})).await;
    let sub = &g["list"][0];
    assert_eq!(sub["id"], id.as_str(), "{g}");
    assert_eq!(sub["verificationCode"], code.as_str());
    assert_eq!(sub["deviceClientId"], "phone-1");
    assert_eq!(sub["types"], json!(["Email", "Mailbox"]));
    assert!(sub.get("url").is_none() && sub.get("keys").is_none(), "{g}");

    // Verified: mail mirrored from Dovecot is pushed, encrypted, filtered by types.
    let t0 = Instant::now();
    d.new_mail("nach der Bestätigung").await;
    let mirrored = d.email_modseq();
    let p = rx.next(Duration::from_secs(20), "a StateChange for new mail").await;
    eprintln!("push {:?} after the delivery to Dovecot", p.at - t0);
    let v = keys.decrypt(&p.body);
    assert_eq!(v["@type"], "StateChange", "{v}");
    let changed = v["changed"]["becker"].as_object().unwrap_or_else(|| panic!("{v}"));
    assert!(changed.contains_key("Email"), "{v}");
    assert!(changed.keys().all(|k| k == "Email" || k == "Mailbox"), "only the subscribed types: {v}");
    // The pushed state is the Email state of the store once the mail was in (or a later one).
    let stored = d.d.app.store.changes().states("becker").unwrap().unwrap();
    let pushed = changed["Email"].as_str().unwrap();
    let (epoch, modseq) = pushed.rsplit_once('-').unwrap();
    assert_eq!(epoch, stored.epoch);
    assert!(modseq.parse::<i64>().unwrap() >= mirrored, "{pushed} is older than the mirrored mail ({mirrored})");

    // A burst: three mails in quick succession reach the URL at most once a second.
    for n in 0..3 {
        d.new_mail(&format!("Schwall {n}")).await;
    }
    let mut pushes = vec![rx.next(Duration::from_secs(20), "a StateChange for the burst").await];
    while let Ok(Some(p)) = tokio::time::timeout(Duration::from_millis(2500), rx.posts.recv()).await {
        pushes.push(p);
    }
    for w in pushes.windows(2) {
        assert!(w[1].at - w[0].at >= Duration::from_millis(900), "two pushes {:?} apart", w[1].at - w[0].at);
    }
    assert!(pushes.len() <= 3, "{} pushes for three mails", pushes.len());

    // Destroyed: nothing more.
    let s = d.call(&phone, "PushSubscription/set", json!({"destroy": [id]})).await;
    assert_eq!(s["destroyed"], json!([id]), "{s}");
    d.new_mail("nach dem Löschen").await;
    rx.nothing_for(Duration::from_millis(2500), "a StateChange after destroy").await;
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_push_is_retried_after_a_server_error_and_a_gone_subscription_is_removed() {
    let ca = TestCa::new();
    let mut rx = Receiver::start(&ca).await;
    let d = daemon("push-retry", &ca.ca_file()).await;
    let phone = d.device();
    // The verification fails once (500), then arrives.
    rx.answer(&[500]);
    let r = d
        .call(&phone, "PushSubscription/set", json!({"create": {"a": {"deviceClientId": "p", "url": rx.url("r3try")}}}))
        .await;
    let id = r["created"]["a"]["id"].as_str().unwrap_or_else(|| panic!("{r}")).to_string();
    let first = rx.next(Duration::from_secs(20), "the first PushVerification").await;
    let again = rx.next(Duration::from_secs(20), "the PushVerification again after the 500").await;
    assert_eq!(first.body, again.body);
    assert!(again.at - first.at >= Duration::from_millis(900), "the retry waits: {:?}", again.at - first.at);
    assert_eq!(again.headers.get("content-type").map(String::as_str), Some("application/json; charset=utf-8"));
    assert!(!again.headers.contains_key("content-encoding"));
    let v: Value = serde_json::from_slice(&again.body).unwrap();
    assert_eq!(v["@type"], "PushVerification");
    let s = d
        .call(
            &phone,
            "PushSubscription/set",
            json!({"update": {id.clone(): {"verificationCode": v["verificationCode"]}}}),
        )
        .await;
    assert!(s["updated"].as_object().is_some_and(|u| u.contains_key(&id)), "{s}");

    // A change made over JMAP: the push service answers 500, then 410 (gone).
    rx.answer(&[500, 410]);
    let m = d.call(&phone, "Mailbox/set", json!({"accountId": "becker", "create": {"n": {"name": "Push-Test"}}})).await;
    assert!(m["created"]["n"]["id"].is_string(), "{m}");
    let p1 = rx.next(Duration::from_secs(20), "a StateChange for the new folder").await;
    let v: Value = serde_json::from_slice(&p1.body).unwrap();
    assert_eq!(v["@type"], "StateChange", "{v}");
    assert!(v["changed"]["becker"]["Mailbox"].is_string(), "{v}");
    let p2 = rx.next(Duration::from_secs(20), "the StateChange again after the 500").await;
    assert_eq!(p1.body, p2.body);
    // 410: the subscription is removed, and nothing more goes to the URL.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let g = d.call(&phone, "PushSubscription/get", json!({})).await;
        if g["list"] == json!([]) {
            break;
        }
        assert!(Instant::now() < deadline, "the gone subscription is still there: {g}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let m =
        d.call(&phone, "Mailbox/set", json!({"accountId": "becker", "create": {"n": {"name": "Push-Test-2"}}})).await;
    assert!(m["created"]["n"]["id"].is_string(), "{m}");
    rx.nothing_for(Duration::from_millis(2500), "a push after 410").await;

    // A URL the push service does not know (404 to the verification): removed at once.
    rx.answer(&[404]);
    let r = d
        .call(
            &phone,
            "PushSubscription/set",
            json!({"create": {"b": {"deviceClientId": "p", "url": rx.url("unbekannt")}}}),
        )
        .await;
    assert!(r["created"]["b"]["id"].is_string(), "{r}");
    let p = rx.next(Duration::from_secs(20), "the PushVerification answered 404").await;
    assert_eq!(p.path, "/push/unbekannt");
    let deadline = Instant::now() + Duration::from_secs(10);
    while d.call(&phone, "PushSubscription/get", json!({})).await["list"] != json!([]) {
        assert!(Instant::now() < deadline, "the subscription answered 404 is still there");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    rx.nothing_for(Duration::from_millis(1500), "a retry after 404").await;
    d.stop().await;
}

/// An Identity/set is pushed like any other change, with the state Identity/get returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_identity_change_is_pushed_with_the_state_identity_get_gives() {
    let ca = TestCa::new();
    let mut rx = Receiver::start(&ca).await;
    let d = daemon("push-ident", &ca.ca_file()).await;
    let phone = d.device();
    let r = d
        .call(
            &phone,
            "PushSubscription/set",
            json!({"create": {"a": {"deviceClientId": "p", "url": rx.url("ident"), "types": ["Identity"]}}}),
        )
        .await;
    let id = r["created"]["a"]["id"].as_str().unwrap_or_else(|| panic!("{r}")).to_string();
    let p = rx.next(Duration::from_secs(20), "the PushVerification").await;
    let v: Value = serde_json::from_slice(&p.body).unwrap();
    let s = d
        .call(
            &phone,
            "PushSubscription/set",
            json!({"update": {id.clone(): {"verificationCode": v["verificationCode"]}}}),
        )
        .await;
    assert!(s["updated"].as_object().is_some_and(|u| u.contains_key(&id)), "{s}");

    let u = d
        .call(
            &phone,
            "Identity/set",
            json!({"accountId": "becker", "update": {"I0": {"name": "Hans Becker, Meister"}}}),
        )
        .await;
    assert!(u["updated"].as_object().is_some_and(|m| m.contains_key("I0")), "{u}");
    let p = rx.next(Duration::from_secs(20), "a StateChange for the identity").await;
    let v: Value = serde_json::from_slice(&p.body).unwrap();
    assert_eq!(v["@type"], "StateChange", "{v}");
    let g = d.call(&phone, "Identity/get", json!({"accountId": "becker"})).await;
    assert_eq!(v["changed"]["becker"]["Identity"], g["state"], "{v} {g}");
    assert_eq!(g["state"], u["newState"], "{g} {u}");
    d.stop().await;
}
