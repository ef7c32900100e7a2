//! The office console over HTTP, as a browser would talk to it, against a running daemon:
//! login with an Argon2id password, the session cookie's flags, the CSRF token on every form,
//! cross-site POSTs refused, the wrong-password limit that never locks out the right
//! password, an employee kept to their own mailbox, session expiry, both languages, and the
//! office session opened and closed from the console.

use std::time::Duration;

use crate::support::{self, jmapd};

/// A daemon with the console on a free loopback port, an office account "anna" and an
/// employee account "becker" bound to the mailbox becker (mailboxes becker and info).
pub(crate) async fn start(extra: &str) -> (jmapd::Daemon, u16) {
    let (u1, p1) = support::unique_user("console-b");
    let (u2, p2) = support::unique_user("console-i");
    let port = support::free_port();
    let d = jmapd::Builder::new()
        .mailbox(jmapd::Mailbox::new("becker", &u1, &p1))
        .mailbox(jmapd::Mailbox::new("info", &u2, &p2).kind("shared"))
        .section(&format!("[console]\nenabled = true\nlisten = \"127.0.0.1:{port}\"\n{extra}"))
        .start()
        .await;
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

pub(crate) type Answer = (u16, Vec<(String, String)>, Vec<u8>);

pub(crate) fn header<'a>(a: &'a Answer, name: &str) -> Vec<&'a str> {
    a.1.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
}

pub(crate) fn body(a: &Answer) -> String {
    String::from_utf8_lossy(&a.2).into_owned()
}

/// The value of `name=` in the Set-Cookie headers.
fn set_cookie(a: &Answer, name: &str) -> Option<String> {
    header(a, "set-cookie")
        .into_iter()
        .find_map(|c| c.strip_prefix(&format!("{name}=")).map(|v| v.split(';').next().unwrap().to_string()))
}

/// The hidden `csrf` value of the first form on the page.
pub(crate) fn csrf(page: &str) -> String {
    let i = page.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
    page[i..i + page[i..].find('"').unwrap()].to_string()
}

fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                v.bytes()
                    .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
                    .collect::<String>()
            )
        })
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

pub(crate) struct Browser {
    port: u16,
    cookies: Vec<(String, String)>,
}

impl Browser {
    pub(crate) fn new(port: u16) -> Browser {
        Browser { port, cookies: vec![] }
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

    pub(crate) async fn get(&mut self, path: &str) -> Answer {
        let c = self.cookie_header();
        let a = jmapd::http_at(self.port, "GET", path, &[("Cookie", &c), ("Accept-Language", "de-DE")], b"").await;
        self.keep(&a);
        a
    }

    pub(crate) async fn post(&mut self, path: &str, pairs: &[(&str, &str)], extra: &[(&str, &str)]) -> Answer {
        let c = self.cookie_header();
        let mut h = vec![("Cookie", c.as_str()), ("Content-Type", "application/x-www-form-urlencoded")];
        h.extend_from_slice(extra);
        let a = jmapd::http_at(self.port, "POST", path, &h, &form(pairs)).await;
        self.keep(&a);
        a
    }

    pub(crate) async fn login(&mut self, name: &str, password: &str) -> Answer {
        let page = self.get("/login").await;
        let token = csrf(&body(&page));
        self.post("/login", &[("csrf", &token), ("next", "/"), ("name", name), ("password", password)], &[]).await
    }
}

#[tokio::test]
async fn login_cookies_csrf_cross_site_roles_languages_and_the_gate() {
    let (d, port) = start("").await;
    let mut b = Browser::new(port);

    // Without a session every page sends to the login form; every answer has the strict headers.
    let a = b.get("/audit?x=1").await;
    assert_eq!(a.0, 303, "{}", body(&a));
    assert_eq!(header(&a, "location"), ["/login?next=/audit%3Fx%3D1"]);
    let a = b.get("/login").await;
    assert_eq!(a.0, 200);
    let csp = header(&a, "content-security-policy")[0];
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(header(&a, "x-content-type-options"), ["nosniff"]);
    assert!(body(&a).contains("Anmelden"), "German by default");

    // A wrong password, then the right one; the cookie is HttpOnly and SameSite=Strict.
    let a = b.login("anna", "falsch").await;
    assert_eq!(a.0, 401);
    assert!(body(&a).contains("Name oder Passwort ist falsch."));
    let a = b.login("anna", "Büro-Passwort 1").await;
    assert_eq!(a.0, 303, "{}", body(&a));
    let cookie = header(&a, "set-cookie").into_iter().find(|c| c.starts_with("postbote_session=")).unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain HTTP on loopback: no Secure flag ({cookie})");
    let session = set_cookie(&a, "postbote_session").unwrap();
    let stored = d
        .app
        .store
        .read(|c| Ok(c.query_row("SELECT id_sha256 FROM console_session", [], |r| r.get::<_, String>(0))?))
        .unwrap();
    assert_ne!(stored, session, "the store keeps only the cookie's hash");

    // The overview shows both mailboxes and the closed gate.
    let a = b.get("/").await;
    assert_eq!(a.0, 200);
    let page = body(&a);
    assert!(page.contains("mailbox-becker") && page.contains("mailbox-info"), "{page}");
    assert!(page.contains("geschlossen"), "no office session yet: {page}");

    // Opening an office session: refused without the CSRF token, and from another site.
    let sessions = body(&b.get("/sessions").await);
    let token = csrf(&sessions);
    let a = b.post("/sessions/open", &[("hours", "2")], &[]).await;
    assert_eq!(a.0, 403, "no CSRF token");
    let a = b.post("/sessions/open", &[("csrf", "0123456789abcdef0123456789abcdef"), ("hours", "2")], &[]).await;
    assert_eq!(a.0, 403, "a wrong CSRF token");
    let a = b.post("/sessions/open", &[("csrf", &token), ("hours", "2")], &[("Origin", "https://evil.example")]).await;
    assert_eq!(a.0, 403, "cross-site Origin");
    let a = b.post("/sessions/open", &[("csrf", &token), ("hours", "2")], &[("Sec-Fetch-Site", "cross-site")]).await;
    assert_eq!(a.0, 403, "cross-site fetch");
    assert!(postbote::outbox::gate::sessions(&d.app).unwrap().is_empty(), "nothing was opened");
    let origin = format!("http://127.0.0.1:{port}");
    let a = b
        .post(
            "/sessions/open",
            &[("csrf", &token), ("hours", "2")],
            &[("Origin", &origin), ("Sec-Fetch-Site", "same-origin")],
        )
        .await;
    // http_at sends `Host: 127.0.0.1` without the port: the Origin with the port is another
    // authority, so this is refused too, as it must be.
    assert_eq!(a.0, 403);
    let a = b.post("/sessions/open", &[("csrf", &token), ("hours", "2")], &[("Sec-Fetch-Site", "same-origin")]).await;
    assert_eq!(a.0, 303, "{}", body(&a));
    let open = postbote::outbox::gate::sessions(&d.app).unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].user, "console:anna");
    assert!(body(&b.get("/").await).contains("offen"));
    let a = b.post(&format!("/sessions/{}/close", open[0].id), &[("csrf", &token)], &[]).await;
    assert_eq!(a.0, 303);
    assert!(postbote::outbox::gate::sessions(&d.app).unwrap().is_empty());
    let audit = body(&b.get("/audit").await);
    assert!(audit.contains("session.open") && audit.contains("session.close") && audit.contains("login"), "{audit}");

    // English by the switch.
    let a = b.get("/lang/en?back=/sessions").await;
    assert_eq!(header(&a, "location"), ["/sessions"]);
    assert!(body(&b.get("/sessions").await).contains("Open an office session"));

    // Logging out ends the session: the old cookie no longer works.
    let a = b.post("/logout", &[("csrf", &token)], &[]).await;
    assert_eq!(a.0, 303);
    let mut old = Browser::new(port);
    old.cookies.push(("postbote_session".into(), session.clone()));
    assert_eq!(old.get("/").await.0, 303);

    // The employee sees only their own mailbox and gets 403 on office pages.
    let mut e = Browser::new(port);
    assert_eq!(e.login("becker", "Becker-Passwort 2").await.0, 303);
    let page = body(&e.get("/").await);
    assert!(page.contains("mailbox-becker") && !page.contains("mailbox-info"), "{page}");
    assert!(!page.contains("/sessions"), "no link to an office page");
    for p in ["/sessions", "/audit"] {
        assert_eq!(e.get(p).await.0, 403, "{p}");
    }
    let token = csrf(&page);
    assert_eq!(e.post("/sessions/open", &[("csrf", &token), ("hours", "1")], &[]).await.0, 403);
    d.stop().await;
}

#[tokio::test]
async fn wrong_passwords_are_limited_and_never_lock_out_the_right_one() {
    let (d, port) = start("").await;
    let mut b = Browser::new(port);
    let mut limited = false;
    for _ in 0..15 {
        let a = b.login("anna", "nicht richtig").await;
        assert!(a.0 == 401 || a.0 == 429, "{}", a.0);
        limited |= a.0 == 429 && body(&a).contains("Zu viele falsche Versuche");
    }
    assert!(limited, "wrong passwords are limited");
    // Unknown names count the same and say the same.
    let a = b.login("niemand", "egal").await;
    assert_eq!(a.0, 429);
    // The right password still gets in, from the same address, at once.
    let a = b.login("anna", "Büro-Passwort 1").await;
    assert_eq!(a.0, 303, "{}", body(&a));
    assert_eq!(b.get("/").await.0, 200);
    // The login form refuses a post without its double-submit cookie.
    let mut other = Browser::new(port);
    let a = other.post("/login", &[("csrf", "x"), ("name", "anna"), ("password", "Büro-Passwort 1")], &[]).await;
    assert_eq!(a.0, 403);
    d.stop().await;
}

#[tokio::test]
async fn sessions_end_when_idle_and_at_their_absolute_end() {
    let (d, port) = start("session_idle = \"2s\"\nsession_max = \"4s\"\n").await;
    let mut b = Browser::new(port);
    assert_eq!(b.login("anna", "Büro-Passwort 1").await.0, 303);
    assert_eq!(b.get("/").await.0, 200);
    // Idle past the limit: back to the login form.
    tokio::time::sleep(Duration::from_millis(3200)).await;
    assert_eq!(b.get("/").await.0, 303);
    // Busy, but past the absolute end: back to the login form too.
    assert_eq!(b.login("anna", "Büro-Passwort 1").await.0, 303);
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        b.get("/").await;
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(b.get("/").await.0, 303);
    d.stop().await;
}
