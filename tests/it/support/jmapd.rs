//! The daemon under test, in-process, against the stack's Dovecot: one harness for every test
//! that needs a postbote of its own. A [`Builder`] writes a fresh data directory and
//! `postbote.toml` (IMAPS on the stack with its CA, the relay on submission, and the mailboxes
//! it is given, each with a password file), then either only opens the store ([`Builder::open`],
//! for tests that drive the mirror themselves) or runs `daemon::run` with a control endpoint and
//! a JMAP listener on free loopback ports and waits for the JMAP port ([`Builder::start`]).
//!
//! [`Daemon`] then speaks JMAP as a phone does: device tokens, a `jmap-client` [`Client`], and
//! raw HTTP with JSON for what a client library hides; [`Phone`] is a daemon with one device's
//! token, for the tests that speak for a single phone. [`eventually`] and [`apply`] (a client's
//! cached query after `/queryChanges`) are shared by the JMAP tests too. Nothing here sleeps to
//! let a server come up: every wait polls for its condition with a timeout.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jmap_client::client::{Client, Credentials};
use postbote::app::App;
use postbote::config::Config;
use postbote::store::Store;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use super::{ca_file, free_port, stack_dir};

/// Polls `cond` every 50 ms until it holds; fails after `limit`, saying `what` it waited for.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !cond().await {
        assert!(Instant::now() < deadline, "timed out after {limit:?} waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A client's cached query results after RFC 8620 section 5.6: drop every removed id, then
/// insert every added one at its index, lowest index first.
pub fn apply(old: &[String], changes: &Value) -> Vec<String> {
    let list = |k: &str| changes[k].as_array().unwrap_or_else(|| panic!("no {k}: {changes}")).clone();
    let removed: Vec<String> = list("removed").iter().map(|v| v.as_str().unwrap().to_string()).collect();
    let mut out: Vec<String> = old.iter().filter(|id| !removed.contains(id)).cloned().collect();
    let mut added: Vec<(usize, String)> = list("added")
        .iter()
        .map(|a| (a["index"].as_u64().unwrap() as usize, a["id"].as_str().unwrap().to_string()))
        .collect();
    added.sort();
    for (idx, id) in added {
        out.insert(idx.min(out.len()), id);
    }
    out
}

/// The folders a mailbox follows unless a test says otherwise.
pub const FOLDERS: &str = r#"["INBOX", "\\Sent", "\\Drafts", "\\Trash"]"#;

/// One `[[mailbox]]` of the config, on a Dovecot user.
pub struct Mailbox {
    id: String,
    kind: Option<String>,
    name: String,
    address: String,
    user: String,
    password: String,
    login: Option<String>,
    folders: String,
    transport: Option<String>,
    smtp: Option<(String, String)>,
}

impl Mailbox {
    /// Mailbox `id` of kind "employee", named "Mailbox `id`", with the address
    /// `id@bau-firma.test`, on the Dovecot user `user`, following [`FOLDERS`].
    pub fn new(id: &str, user: &str, password: &str) -> Mailbox {
        Mailbox {
            id: id.into(),
            kind: Some("employee".into()),
            name: format!("Mailbox {id}"),
            address: format!("{id}@bau-firma.test"),
            user: user.into(),
            password: password.into(),
            login: None,
            folders: FOLDERS.into(),
            transport: None,
            smtp: None,
        }
    }

    pub fn kind(mut self, kind: &str) -> Mailbox {
        self.kind = Some(kind.into());
        self
    }

    /// No `kind` line: the config's default.
    pub fn default_kind(mut self) -> Mailbox {
        self.kind = None;
        self
    }

    pub fn name(mut self, name: &str) -> Mailbox {
        self.name = name.into();
        self
    }

    pub fn address(mut self, address: &str) -> Mailbox {
        self.address = address.into();
        self
    }

    /// An explicit IMAP `login` line.
    pub fn login(mut self, login: &str) -> Mailbox {
        self.login = Some(login.into());
        self
    }

    /// The folders to follow, as a TOML array.
    pub fn folders(mut self, folders: &str) -> Mailbox {
        self.folders = folders.into();
        self
    }

    pub fn transport(mut self, transport: &str) -> Mailbox {
        self.transport = Some(transport.into());
        self
    }

    /// A `[mailbox.smtp]` login for the direct transport, with its password in a file.
    pub fn smtp(mut self, login: &str, password: &str) -> Mailbox {
        self.smtp = Some((login.into(), password.into()));
        self
    }
}

/// What differs between the daemons of the tests: mailboxes, lines added to a section, whole
/// sections, TLS on the JMAP listener.
#[derive(Default)]
pub struct Builder {
    mailboxes: Vec<Mailbox>,
    agent: String,
    imap_port: Option<u32>,
    relay: String,
    jmap: String,
    sections: String,
    tls: bool,
    using: Vec<String>,
}

impl Builder {
    pub fn new() -> Builder {
        Builder::default()
    }

    pub fn mailbox(mut self, mailbox: Mailbox) -> Builder {
        self.mailboxes.push(mailbox);
        self
    }

    /// Lines added to `[agent]`.
    pub fn agent(mut self, lines: &str) -> Builder {
        self.agent.push_str(lines);
        self.agent.push('\n');
        self
    }

    /// Another IMAPS port than Dovecot's 10993 (Cyrus, the spare Dovecot), or a number that
    /// is no port for a test of the config check.
    pub fn imap_port(mut self, port: impl Into<u32>) -> Builder {
        self.imap_port = Some(port.into());
        self
    }

    /// Lines added to `[relay]`, e.g. `send_while = "session"`.
    pub fn relay(mut self, lines: &str) -> Builder {
        self.relay.push_str(lines);
        self.relay.push('\n');
        self
    }

    /// Lines added to `[jmap]`, e.g. `push_ca_file = "…"` or `trusted_proxies = […]`.
    pub fn jmap(mut self, lines: &str) -> Builder {
        self.jmap.push_str(lines);
        self.jmap.push('\n');
        self
    }

    /// Whole tables, e.g. `[outbox]` or `[direct]`, written before the mailboxes.
    pub fn section(mut self, text: &str) -> Builder {
        self.sections.push('\n');
        self.sections.push_str(text);
        self
    }

    /// Serve JMAP over TLS with the stack's certificate (CN localhost).
    pub fn tls(mut self) -> Builder {
        self.tls = true;
        self
    }

    /// The capabilities [`Daemon::api`] asks for (core and mail unless set).
    pub fn using(mut self, using: &[&str]) -> Builder {
        self.using = using.iter().map(|s| s.to_string()).collect();
        self
    }

    /// The config text; with `listen`, the control endpoint and JMAP ports.
    fn text(&self, dir: &Path, listen: Option<(u16, u16)>) -> String {
        let mut text = format!(
            r#"[agent]
data_dir = "{data}"
{agent}
[imap]
host = "127.0.0.1"
port = {imap_port}
tls = "implicit"
ca_file = "{ca}"

[relay]
host = "127.0.0.1"
port = 10587
{relay}"#,
            data = dir.join("data").display(),
            agent = self.agent,
            imap_port = self.imap_port.unwrap_or(10993),
            ca = ca_file().display(),
            relay = self.relay,
        );
        if let Some((control, port)) = listen {
            text.push_str(&format!(
                "\n[control]\nlisten = \"127.0.0.1:{control}\"\n\n[jmap]\nlisten = \"127.0.0.1:{port}\"\n"
            ));
            if self.tls {
                let certs = stack_dir().join("certs");
                text.push_str(&format!(
                    "tls_cert = \"{}\"\ntls_key = \"{}\"\npublic_url = \"https://localhost:{port}\"\n",
                    certs.join("cert.pem").display(),
                    certs.join("key.pem").display()
                ));
            }
            text.push_str(&self.jmap);
        }
        text.push_str(&self.sections);
        for m in &self.mailboxes {
            let pw_file = dir.join(format!("{}.password", m.id));
            std::fs::write(&pw_file, format!("{}\n", m.password)).unwrap();
            text.push_str(&format!("\n[[mailbox]]\nid = \"{}\"\n", m.id));
            if let Some(kind) = &m.kind {
                text.push_str(&format!("kind = \"{kind}\"\n"));
            }
            text.push_str(&format!(
                "name = \"{}\"\naddresses = [\"{}\"]\nhosted_address = \"{}\"\n",
                m.name, m.address, m.user
            ));
            if let Some(login) = &m.login {
                text.push_str(&format!("login = \"{login}\"\n"));
            }
            text.push_str(&format!("password_file = \"{}\"\nfolders = {}\n", pw_file.display(), m.folders));
            if let Some(transport) = &m.transport {
                text.push_str(&format!("transport = \"{transport}\"\n"));
            }
            if let Some((login, password)) = &m.smtp {
                let f = dir.join(format!("{}.smtp.password", m.id));
                std::fs::write(&f, format!("{password}\n")).unwrap();
                text.push_str(&format!("[mailbox.smtp]\nlogin = \"{login}\"\npassword_file = \"{}\"\n", f.display()));
            }
        }
        text
    }

    /// Writes `postbote.toml` without listeners (and the password files) into `dir`, and
    /// nothing else: for a test of the config check itself. Its path.
    pub fn write(&self, dir: &Path) -> PathBuf {
        let config = dir.join("postbote.toml");
        std::fs::write(&config, self.text(dir, None)).unwrap();
        config
    }

    fn setup(&self, listen: Option<(u16, u16)>) -> Setup {
        postbote::tls::install_provider();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("postbote.toml");
        std::fs::write(&config, self.text(dir.path(), listen)).unwrap();
        let cfg = Config::load(&config).unwrap();
        let store = Store::open(&cfg.store_path()).unwrap();
        store.ensure_accounts(cfg.mailboxes.iter().map(|m| m.id.as_str())).unwrap();
        Setup { app: App::new(Arc::new(cfg), store), config, dir }
    }

    /// The data directory, config and store, without listeners; nothing runs.
    pub fn open(self) -> Setup {
        self.setup(None)
    }

    /// [`Builder::open`] with a control endpoint and a JMAP listener, then `daemon::run`;
    /// returns once the JMAP port accepts connections.
    pub async fn start(self) -> Daemon {
        let port = free_port();
        let Setup { app, config, dir } = self.setup(Some((free_port(), port)));
        let stop = CancellationToken::new();
        let task = tokio::spawn({
            let (app, stop) = (app.clone(), stop.clone());
            async move { postbote::daemon::run(app, stop.cancelled_owned()).await.unwrap() }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(Instant::now() < deadline, "the JMAP port did not open");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let url = if self.tls { format!("https://localhost:{port}") } else { format!("http://127.0.0.1:{port}") };
        let using = if self.using.is_empty() {
            vec!["urn:ietf:params:jmap:core".into(), "urn:ietf:params:jmap:mail".into()]
        } else {
            self.using
        };
        Daemon { app, url, port, config, using, stop, task: Some(task), dir }
    }
}

/// A data directory, config and store that nothing runs on.
pub struct Setup {
    pub app: App,
    pub config: PathBuf,
    pub dir: tempfile::TempDir,
}

/// A running daemon; [`Daemon::stop`] cancels it and waits for it to end.
pub struct Daemon {
    pub app: App,
    /// The JMAP base URL (`http://127.0.0.1:PORT`, or `https://localhost:PORT` with TLS).
    pub url: String,
    /// The JMAP port.
    pub port: u16,
    pub config: PathBuf,
    using: Vec<String>,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
    /// The data directory and config; a test may keep files of its own there.
    pub dir: tempfile::TempDir,
}

impl Daemon {
    /// A device of `mailbox` with these grants, as `postbote device add --grant` makes it; its token.
    pub fn device(&self, mailbox: &str, grants: &[&str]) -> String {
        let (token, hash) = postbote::jmap::auth::new_token();
        let grants: Vec<String> = grants.iter().map(|s| s.to_string()).collect();
        self.app.store.devices().add(mailbox, "Testphone", &grants, &hash).unwrap();
        token
    }

    /// A `jmap-client` client for the device with `token`.
    pub async fn client(&self, token: &str) -> Client {
        Client::new()
            .credentials(Credentials::bearer(token))
            .timeout(Duration::from_secs(30))
            .connect(&self.url)
            .await
            .unwrap()
    }

    /// A raw HTTP/1.1 request to the JMAP port ([`http_at`]).
    pub async fn http(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, Vec<(String, String)>, Vec<u8>) {
        http_at(self.port, method, path, headers, body).await
    }

    /// A request of the device with `token`: its Bearer token and `content_type`, if any.
    pub async fn authed(
        &self,
        method: &str,
        path: &str,
        token: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let auth = format!("Bearer {token}");
        let mut headers = vec![("Authorization", auth.as_str())];
        if let Some(ct) = content_type {
            headers.push(("Content-Type", ct));
        }
        self.http(method, path, &headers, body).await
    }

    /// A whole API request body as JSON; (status, the answer as JSON or null).
    pub async fn post(&self, token: &str, body: &Value) -> (u16, Value) {
        let (status, _, b) =
            self.authed("POST", "/jmap/api/", token, Some("application/json"), body.to_string().as_bytes()).await;
        (status, serde_json::from_slice(&b).unwrap_or(Value::Null))
    }

    /// One API request with `calls` (with the capabilities the builder set); the method
    /// responses. Anything but 200 fails.
    pub async fn api(&self, token: &str, calls: Value) -> Vec<Value> {
        let (status, v) = self.post(token, &json!({"using": self.using, "methodCalls": calls})).await;
        assert_eq!(status, 200, "{v}");
        v["methodResponses"].as_array().cloned().unwrap_or_default()
    }

    /// One call; its response's arguments, an error's included.
    pub async fn call(&self, token: &str, method: &str, args: Value) -> Value {
        self.api(token, json!([[method, args, "c"]])).await.remove(0)[1].clone()
    }

    /// One call that must answer as `method` (not with an error); its response's arguments.
    pub async fn answer(&self, token: &str, method: &str, args: Value) -> Value {
        let r = self.api(token, json!([[method, args, "c"]])).await.remove(0);
        assert_eq!(r[0], method, "{r}");
        r[1].clone()
    }

    /// The id of `account`'s mailbox with `role`, once the mirror has brought it in.
    pub async fn mailbox(&self, token: &str, account: &str, role: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let r = self.api(token, json!([["Mailbox/get", {"accountId": account}, "m"]])).await;
            if let Some(m) = r[0][1]["list"].as_array().and_then(|l| l.iter().find(|m| m["role"] == role)) {
                return m["id"].as_str().unwrap().to_string();
            }
            assert!(Instant::now() < deadline, "no {role} mailbox after 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Uploads `data` of type `ty` into `account`; the blob id.
    pub async fn upload(&self, token: &str, account: &str, ty: &str, data: &[u8]) -> String {
        let (status, _, b) = self.authed("POST", &format!("/jmap/upload/{account}/"), token, Some(ty), data).await;
        assert_eq!(status, 201);
        serde_json::from_slice::<Value>(&b).unwrap()["blobId"].as_str().unwrap().to_string()
    }

    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(t) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(30), t).await.expect("the daemon stops").unwrap();
        }
    }
}

/// A daemon and the token of one device of `mailbox`: for the tests that speak for one phone.
pub struct Phone {
    pub d: Daemon,
    pub token: String,
    account: String,
}

impl Daemon {
    /// This daemon with a device of `mailbox` (with these grants) to speak for.
    pub fn phone(self, mailbox: &str, grants: &[&str]) -> Phone {
        let token = self.device(mailbox, grants);
        Phone { d: self, token, account: postbote::jmap::ids::account(mailbox) }
    }
}

impl Phone {
    /// One API request with `calls`; the method responses.
    pub async fn api(&self, calls: Value) -> Vec<Value> {
        self.d.api(&self.token, calls).await
    }

    /// One API request with `calls`; the method responses' arguments, in order.
    pub async fn args(&self, calls: Value) -> Vec<Value> {
        self.api(calls).await.iter().map(|r| r[1].clone()).collect()
    }

    /// One call; its response's arguments, an error's included.
    pub async fn call(&self, method: &str, args: Value) -> Value {
        self.d.call(&self.token, method, args).await
    }

    /// The id of the phone's own mailbox with `role`, once the mirror has brought it in.
    pub async fn mailbox_id(&self, role: &str) -> String {
        self.d.mailbox(&self.token, &self.account, role).await
    }

    /// Uploads `data` of type `ty` into the phone's own account; the blob id.
    pub async fn upload(&self, ty: &str, data: &[u8]) -> String {
        self.d.upload(&self.token, &self.account, ty, data).await
    }

    pub async fn client(&self) -> Client {
        self.d.client(&self.token).await
    }

    pub async fn stop(self) {
        self.d.stop().await;
    }
}

/// A raw HTTP/1.1 request to a loopback port (Content-Length added unless given); returns
/// (status, headers lowercased, body).
pub async fn http_at(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    exchange(s, head, headers, body).await
}

/// Send `head` (request line and first fields), `headers` (Content-Length added unless
/// given) and `body` on `s`; read the whole answer: (status, headers lowercased, body).
pub async fn exchange(
    mut s: tokio::net::TcpStream,
    mut req: String,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut has_len = false;
    for (k, v) in headers {
        has_len |= k.eq_ignore_ascii_case("content-length");
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !has_len {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    // A server that refuses a body early may close before it is all written: read the
    // answer anyway.
    let _ = s.write_all(body).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut out)).await.expect("HTTP answer in time");
    let end = out.windows(4).position(|w| w == b"\r\n\r\n").expect("a header section") + 4;
    let head = String::from_utf8_lossy(&out[..end]).into_owned();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let hdrs =
        lines.filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))).collect();
    (status, hdrs, out[end..].to_vec())
}
