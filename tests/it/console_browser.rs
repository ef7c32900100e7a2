//! The console in a real headless Chromium (`support::browser`): what an office worker and an
//! employee do, by clicking, in both languages, with a screenshot of each page under
//! `target/console-screenshots/`.

use crate::support::browser::Browser;

#[tokio::test]
async fn office_logs_in_opens_and_closes_a_session_and_reads_both_languages() {
    let (d, port) = crate::support::console::start("").await;
    let Some(b) = Browser::start(1280, 1000).await else { return };
    let base = format!("http://127.0.0.1:{port}");

    b.goto(&format!("{base}/")).await;
    assert!(b.path().await.starts_with("/login"), "without a session: the login form");
    assert!(b.source().await.contains("Anmelden"));
    b.screenshot("login-de").await;
    b.login(&base, "anna", "Büro-Passwort 1").await;
    assert_eq!(b.path().await, "/", "{}", b.source().await);
    let gate = b.text("#gate").await;
    assert!(gate.contains("geschlossen"), "{gate}");
    b.screenshot("overview-de").await;

    b.goto(&format!("{base}/sessions")).await;
    b.fill("hours", "3").await;
    b.click("#open-session button").await;
    assert_eq!(b.path().await, "/sessions");
    let open = postbote::outbox::gate::sessions(&d.app).unwrap();
    assert_eq!(open.len(), 1, "the form opened an office session");
    assert!(b.text("#sessions").await.contains("console:anna"));
    b.screenshot("sessions-de").await;
    b.click("#sessions form button").await;
    assert!(postbote::outbox::gate::sessions(&d.app).unwrap().is_empty(), "and closed it");
    assert!(b.source().await.contains("no-sessions"));

    b.click("a[lang=en]").await;
    assert_eq!(b.path().await, "/sessions");
    assert!(b.source().await.contains("Open an office session"));
    b.goto(&format!("{base}/")).await;
    assert!(b.text("#gate").await.contains("closed"));
    b.screenshot("overview-en").await;
    b.close().await;
    d.stop().await;
}

#[tokio::test]
async fn an_employee_on_a_phone_sees_only_their_mailbox() {
    let (d, port) = crate::support::console::start("").await;
    let Some(b) = Browser::start(390, 844).await else { return };
    let base = format!("http://127.0.0.1:{port}");
    b.login(&base, "becker", "Becker-Passwort 2").await;
    let page = b.source().await;
    assert!(page.contains("mailbox-becker") && !page.contains("mailbox-info"));
    b.screenshot("overview-employee-phone").await;
    b.goto(&format!("{base}/audit")).await;
    assert!(b.source().await.contains("Das dürfen Sie mit diesem Konto nicht."));
    b.close().await;
    d.stop().await;
}
