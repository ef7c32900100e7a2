//! Talking to the office console over HTTP the way a browser without JavaScript does, for
//! every console test: [`start`] runs a daemon with the console and two accounts, [`Browser`]
//! is a cookie jar that GETs and POSTs forms (and uploads files), optionally from another
//! loopback address (`127.0.0.2`, …) so the login limiter sees a different client. Requests
//! carry `Host: 127.0.0.1:PORT` as a browser sends it.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::jmapd;

/// A daemon with the console on a free loopback port, an office account "anna" (password
/// "Büro-Passwort 1") and an employee account "becker" bound to the mailbox becker
/// ("Becker-Passwort 2"); mailboxes becker and info. `extra` is added to `[console]`.
pub async fn start(extra: &str) -> (jmapd::Daemon, u16) {
    let (u1, p1) = super::unique_user("console-b");
    let (u2, p2) = super::unique_user("console-i");
    let b = jmapd::Builder::new()
        .mailbox(jmapd::Mailbox::new("becker", &u1, &p1))
        .mailbox(jmapd::Mailbox::new("info", &u2, &p2).kind("shared"));
    start_with(b, extra).await
}

/// The same with the daemon `b` describes (its mailboxes must include "becker").
pub async fn start_with(b: jmapd::Builder, extra: &str) -> (jmapd::Daemon, u16) {
    let port = super::free_port();
    let d = b.section(&format!("[console]\nenabled = true\nlisten = \"127.0.0.1:{port}\"\n{extra}")).start().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(std::time::Instant::now() < deadline, "the console port did not open");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let c = d.app.store.console();
    let h = postbote::console::auth::hash_password("Büro-Passwort 1").unwrap();
    c.put_user("anna", postbote::store::console::Role::Office, None, &h).unwrap();
    let h = postbote::console::auth::hash_password("Becker-Passwort 2").unwrap();
    c.put_user("becker", postbote::store::console::Role::Employee, Some("becker"), &h).unwrap();
    (d, port)
}

/// Status, headers (names in lower case) and body.
pub type Answer = (u16, Vec<(String, String)>, Vec<u8>);

pub fn header<'a>(a: &'a Answer, name: &str) -> Vec<&'a str> {
    a.1.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
}

pub fn body(a: &Answer) -> String {
    String::from_utf8_lossy(&a.2).into_owned()
}

/// The value of `name=` in the Set-Cookie headers.
pub fn set_cookie(a: &Answer, name: &str) -> Option<String> {
    header(a, "set-cookie")
        .into_iter()
        .find_map(|c| c.strip_prefix(&format!("{name}=")).map(|v| v.split(';').next().unwrap().to_string()))
}

/// The hidden `csrf` value of the first form on the page.
pub fn csrf(page: &str) -> String {
    let i = page.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
    page[i..i + page[i..].find('"').unwrap()].to_string()
}

/// `application/x-www-form-urlencoded`, every byte but letters and digits escaped.
pub fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    let enc = |v: &str| {
        v.bytes()
            .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
            .collect::<String>()
    };
    pairs.iter().map(|(k, v)| format!("{k}={}", enc(v))).collect::<Vec<_>>().join("&").into_bytes()
}

/// One HTTP/1.1 request to the console at `port`, from `from` (a loopback address) when
/// given, with `Host: 127.0.0.1:PORT`.
pub async fn request(
    port: u16,
    from: Option<IpAddr>,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let to = SocketAddr::from(([127, 0, 0, 1], port));
    let s = match from {
        None => tokio::net::TcpStream::connect(to).await.unwrap(),
        Some(ip) => {
            let sock = tokio::net::TcpSocket::new_v4().unwrap();
            sock.bind(SocketAddr::new(ip, 0)).unwrap();
            sock.connect(to).await.unwrap()
        }
    };
    let head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    jmapd::exchange(s, head, headers, body).await
}

/// A cookie jar over raw HTTP, as a browser without JavaScript talks to the console.
pub struct Browser {
    pub port: u16,
    /// The `Accept-Language` sent (German unless changed).
    pub lang: &'static str,
    /// The source address (loopback); `None` is 127.0.0.1.
    pub from: Option<IpAddr>,
    /// The cookies kept, by name.
    pub cookies: Vec<(String, String)>,
}

impl Browser {
    pub fn new(port: u16) -> Browser {
        Browser { port, lang: "de-DE", from: None, cookies: vec![] }
    }

    /// The same, connecting from another loopback address (another client to the limiter).
    pub fn from(port: u16, ip: &str) -> Browser {
        Browser { from: Some(ip.parse().unwrap()), ..Browser::new(port) }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn keep(&mut self, a: &Answer) {
        for c in header(a, "set-cookie") {
            let (kv, _) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = kv.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != k);
            if !v.is_empty() {
                self.cookies.push((k.into(), v.into()));
            }
        }
    }

    pub async fn get(&mut self, path: &str) -> Answer {
        let c = self.cookie_header();
        let h = [("Cookie", c.as_str()), ("Accept-Language", self.lang)];
        let a = request(self.port, self.from, "GET", path, &h, b"").await;
        self.keep(&a);
        a
    }

    /// A POST of `data` with the jar's cookies and `extra` headers.
    pub async fn send(&mut self, path: &str, content_type: &str, data: &[u8], extra: &[(&str, &str)]) -> Answer {
        let c = self.cookie_header();
        let mut h = vec![("Cookie", c.as_str()), ("Content-Type", content_type), ("Accept-Language", self.lang)];
        h.extend_from_slice(extra);
        let a = request(self.port, self.from, "POST", path, &h, data).await;
        self.keep(&a);
        a
    }

    /// A form POST with `extra` headers (`Origin`, `Sec-Fetch-Site`, …).
    pub async fn post(&mut self, path: &str, pairs: &[(&str, &str)], extra: &[(&str, &str)]) -> Answer {
        self.send(path, "application/x-www-form-urlencoded", &form(pairs), extra).await
    }

    /// A `multipart/form-data` POST with text fields and one file field.
    pub async fn upload(&mut self, path: &str, fields: &[(&str, &str)], file: (&str, &str, &[u8])) -> Answer {
        let boundary = "----postbote-test-boundary";
        let mut data = Vec::new();
        for (k, v) in fields {
            data.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").bytes());
        }
        let (name, filename, bytes) = file;
        data.extend(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: message/rfc822\r\n\r\n"
            )
            .bytes(),
        );
        data.extend_from_slice(bytes);
        data.extend(format!("\r\n--{boundary}--\r\n").bytes());
        self.send(path, &format!("multipart/form-data; boundary={boundary}"), &data, &[]).await
    }

    /// Fill in and send the login form; the answer (303 when it worked).
    pub async fn login(&mut self, name: &str, password: &str) -> Answer {
        let page = self.get("/login").await;
        let token = csrf(&body(&page));
        self.post("/login", &[("csrf", &token), ("next", "/"), ("name", name), ("password", password)], &[]).await
    }

    /// Log in and insist that it worked.
    pub async fn log_in(&mut self, name: &str, password: &str) {
        let a = self.login(name, password).await;
        assert_eq!(a.0, 303, "login as {name}: {}", body(&a));
    }
}
