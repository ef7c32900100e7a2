//! The console's outbox, SMTP-logging and deliverability pages in a real headless Chromium
//! (`support::browser`), by clicking: cancel a queued message, decide an `unknown` one, open
//! an office session and watch a queued message leave through the stack's Postfix, switch SMTP
//! recording on with its switch-off time, check deliverability and see the records; and the
//! pages on a phone-sized screen. Screenshots go to `target/console-screenshots/`.

use std::time::{Duration, Instant};

use postbote::outbox::State;

use crate::console_ops::start_ops;
use crate::support::browser::Browser;

/// Reload `url` until the element `css` shows `want`.
async fn wait_text(b: &Browser, url: &str, css: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        b.goto(url).await;
        if b.text(css).await.contains(want) {
            return;
        }
        assert!(Instant::now() < deadline, "{css} on {url} never showed {want:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn office_cancels_decides_an_unknown_message_and_watches_mail_leave_once_a_session_opens() {
    let o = start_ops().await;
    let Some(b) = Browser::start(1280, 1000).await else { return };
    let base = format!("http://127.0.0.1:{}", o.port);
    let cancel = o.queue("becker", "storno", "Storno bitte");
    let unknown = o.queue("becker", "unklar", "Unklar");
    o.make_unknown(unknown);
    let leave = o.queue("becker", "raus", "Geht raus");
    b.login(&base, "anna", "Büro-Passwort 1").await;

    b.goto(&format!("{base}/outbox")).await;
    let page = b.source().await;
    assert!(page.contains(&format!("msg-{cancel}")) && page.contains(&format!("msg-{leave}")), "{page}");
    b.screenshot("outbox-de").await;

    b.goto(&format!("{base}/outbox/{cancel}")).await;
    b.click("#do-cancel").await;
    assert_eq!(b.path().await, format!("/outbox/{cancel}?done=cancelled"));
    assert!(b.text("#state").await.contains("abgebrochen"));
    assert_eq!(o.state(cancel), State::Cancelled);
    b.screenshot("outbox-cancelled-de").await;

    b.goto(&format!("{base}/outbox/{unknown}")).await;
    let decide = b.text("#decide").await;
    assert!(
        decide.contains("Entscheidung nötig") && decide.contains("keine Nachricht mit dieser Message-ID"),
        "{decide}"
    );
    b.screenshot("outbox-unknown-de").await;
    b.click("#do-sent").await;
    assert_eq!(b.path().await, format!("/outbox/{unknown}?done=sent"));
    assert_eq!(o.state(unknown), State::Sent);

    // The gate is closed: the message waits; an office session opened here lets it go.
    assert_eq!(o.state(leave), State::Queued);
    b.goto(&format!("{base}/sessions")).await;
    b.fill("hours", "1").await;
    b.click("#open-session button").await;
    wait_text(&b, &format!("{base}/outbox/{leave}"), "#state", "gesendet").await;
    assert_eq!(o.state(leave), State::Sent);
    b.screenshot("outbox-sent-de").await;
    b.close().await;
    o.d.stop().await;
}

#[tokio::test]
async fn office_switches_smtp_logging_on_and_checks_deliverability_with_its_records() {
    let o = start_ops().await;
    let Some(b) = Browser::start(1280, 1000).await else { return };
    let base = format!("http://127.0.0.1:{}", o.port);
    b.login(&base, "anna", "Büro-Passwort 1").await;

    b.goto(&format!("{base}/smtp-logs")).await;
    assert!(b.text("#warning").await.contains("wer wem wann schreibt"));
    b.screenshot("smtp-logs-off-de").await;
    let asked = postbote::store::now();
    b.click("#transport-direct form.switch-on button").await;
    assert_eq!(b.path().await, "/smtp-logs");
    let rec = postbote::outbox::logging::recording(&o.d.app, postbote::config::Transport::Direct).unwrap();
    let until = rec.until().expect("on, with a switch-off time");
    assert!((asked + 4 * 3600 - 120..=asked + 4 * 3600 + 60).contains(&until), "the suggested 4 hours: {until}");
    assert!(b.text("#transport-direct").await.contains("Mitschnitt an bis"));
    b.screenshot("smtp-logs-on-de").await;

    b.goto(&format!("{base}/deliverability")).await;
    b.click("#check-again button").await;
    assert_eq!(b.path().await, "/deliverability?checked=ok");
    let verdicts = b.text("#verdicts-becker").await;
    assert!(verdicts.contains("in Ordnung") && verdicts.contains("DMARC besteht"), "{verdicts}");
    let records = b.text("[id='records-bau-firma.test']").await;
    assert!(
        records.contains("v=spf1") && records.contains("_dmarc.bau-firma.test.") && records.contains("✓"),
        "{records}"
    );
    b.screenshot("deliverability-de").await;
    b.click("a[lang=en]").await;
    assert!(b.text("[id='records-bau-firma.test']").await.contains("the relay's include: is missing"));
    b.screenshot("deliverability-en").await;
    b.close().await;
    o.d.stop().await;
}

#[tokio::test]
async fn the_outbox_logging_and_deliverability_pages_fit_a_phone_screen() {
    let o = start_ops().await;
    let unknown = o.queue("becker", "phone", "Auf dem Telefon");
    o.make_unknown(unknown);
    let Some(b) = Browser::start(390, 844).await else { return };
    let base = format!("http://127.0.0.1:{}", o.port);
    b.login(&base, "anna", "Büro-Passwort 1").await;
    for (path, shot) in [
        ("/".to_string(), "overview-office-phone"),
        ("/outbox".to_string(), "outbox-phone"),
        (format!("/outbox/{unknown}"), "outbox-unknown-phone"),
        ("/smtp-logs".to_string(), "smtp-logs-phone"),
        ("/deliverability".to_string(), "deliverability-phone"),
    ] {
        b.goto(&format!("{base}{path}")).await;
        b.screenshot(shot).await;
        // Nothing wider than the screen: no sideways scrolling. (Headless Chromium makes its
        // window at least 500 px wide, so the screen is compared with itself, not with 390.)
        let js = "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]";
        let w = b.client.execute(js, vec![]).await.unwrap();
        let (scroll, client) = (w[0].as_u64().unwrap(), w[1].as_u64().unwrap());
        assert!(client <= 500 && scroll <= client, "{path} is {scroll} px wide on a {client} px screen");
    }
    b.close().await;
    o.d.stop().await;
}
