//! The office console over HTTP, as a browser would talk to it, against a running daemon:
//! login with an Argon2id password, the session cookie's flags, the CSRF token on every form,
//! cross-site POSTs refused, the wrong-password limit that never locks out the right
//! password, an employee kept to their own mailbox, session expiry, both languages, and the
//! office session opened and closed from the console.

use std::time::Duration;

use crate::support::console::{Browser, body, csrf, header, set_cookie, start};

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
    // The same host on another port is another origin: refused too.
    let origin = format!("http://127.0.0.1:{}", port.wrapping_add(1));
    let a = b
        .post(
            "/sessions/open",
            &[("csrf", &token), ("hours", "2")],
            &[("Origin", &origin), ("Sec-Fetch-Site", "same-origin")],
        )
        .await;
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
    // Over the limit the address waits, even with the right password: nothing is verified
    // (no Argon2 work for a flood of guesses), the form says how long.
    let a = b.login("anna", "Büro-Passwort 1").await;
    assert_eq!(a.0, 429, "{}", body(&a));
    assert!(body(&a).contains("Zu viele falsche Versuche"), "{}", body(&a));
    assert_eq!(b.get("/").await.0, 303, "still not logged in");
    // The account is not locked: from another address the right password gets in at once,
    // though the name "anna" is far over the limit too.
    let mut elsewhere = Browser::from(port, "127.0.0.2");
    let a = elsewhere.login("anna", "Büro-Passwort 1").await;
    assert_eq!(a.0, 303, "{}", body(&a));
    assert_eq!(elsewhere.get("/").await.0, 200);
    // A wrong password for the name is still counted (and may be told "too many"), but the
    // name never blocks: the right one from that address gets in right after.
    let mut third = Browser::from(port, "127.0.0.3");
    let a = third.login("anna", "auch falsch").await;
    assert!(a.0 == 401 || a.0 == 429, "{}", a.0);
    assert_eq!(third.login("anna-vertippt", "auch falsch").await.0, 401);
    assert_eq!(third.login("anna", "Büro-Passwort 1").await.0, 303);
    // Every failed login is in the audit log with the name as typed and the address, never
    // the password.
    let log = body(&elsewhere.get("/audit").await);
    assert!(log.contains("login.failed") && log.contains("127.0.0.3") && log.contains("anna-vertippt"), "{log}");
    assert!(!log.contains("nicht richtig") && !log.contains("auch falsch"), "{log}");
    // The login form refuses a post without its double-submit cookie.
    let mut other = Browser::new(port);
    let a = other.post("/login", &[("csrf", "x"), ("name", "anna"), ("password", "Büro-Passwort 1")], &[]).await;
    assert_eq!(a.0, 403);
    d.stop().await;
}

/// Regression: `/\t/evil.example` passed the check, and a browser drops the TAB and goes to
/// `//evil.example/`.
#[tokio::test]
async fn the_language_switch_never_sends_to_another_site() {
    let (d, port) = start("").await;
    let mut b = Browser::new(port);
    for back in
        ["/%09/evil.example", "/%0d/evil.example", "/%0A/evil.example", "/%5C/evil.example", "/%20/evil.example"]
    {
        let a = b.get(&format!("/lang/en?back={back}")).await;
        assert_eq!(a.0, 303, "{back}");
        assert_eq!(header(&a, "location"), ["/"], "{back}");
    }
    let a = b.get("/lang/en?back=/outbox").await;
    assert_eq!(header(&a, "location"), ["/outbox"]);
    d.stop().await;
}

/// A browser's POST carries `Origin: http://127.0.0.1:PORT` and `Host: 127.0.0.1:PORT`:
/// the same origin, accepted; another port is another origin.
#[tokio::test]
async fn a_post_whose_origin_and_host_carry_the_port_is_same_origin() {
    let (d, port) = start("").await;
    let mut b = Browser::new(port);
    b.log_in("anna", "Büro-Passwort 1").await;
    let token = csrf(&body(&b.get("/sessions").await));
    let origin = format!("http://127.0.0.1:{port}");
    let a = b.post("/sessions/open", &[("csrf", &token), ("hours", "1")], &[("Origin", &origin)]).await;
    assert_eq!(a.0, 303, "{}", body(&a));
    let other = format!("http://127.0.0.1:{}", port.wrapping_add(1));
    let a = b.post("/sessions/open", &[("csrf", &token), ("hours", "1")], &[("Origin", &other)]).await;
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
