//! The automatic-reply and phones pages in a real headless Chromium (`support::browser`):
//! the office sets an employee's automatic reply and sees the preview (from the button, and
//! as it types, through `/static/console.js` under the strict CSP); the employee sees it on,
//! ends it with "end now" and cannot open another mailbox's page; a phone is added, its QR
//! code shown and the phone revoked; and every page of these in German and English, by the
//! switch and by the browser's `Accept-Language`, on a desktop and a phone screen.
//! Screenshots go to `target/console-screenshots/`.

use std::time::{Duration, Instant};

use crate::support::browser::Browser;

/// Set a field's value as a date picker would (typing into `<input type=date>` depends on
/// the browser's locale), then tell the page it changed.
async fn set_value(b: &Browser, name: &str, value: &str) {
    let js = "const e = document.querySelector('[name=\"' + arguments[0] + '\"]'); e.value = arguments[1]; \
              e.dispatchEvent(new Event('input', {bubbles: true}));";
    b.client.execute(js, vec![name.into(), value.into()]).await.unwrap();
}

/// Wait until the text of `css` contains `want`, or fail after 10 s.
async fn until_text(b: &Browser, css: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = b.text(css).await;
        if text.contains(want) {
            return;
        }
        assert!(Instant::now() < deadline, "{css} never showed {want:?}: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn local_day(d: &crate::support::jmapd::Daemon, days: i64) -> String {
    let tz = d.app.config.agent.time_zone;
    (chrono::Utc::now().with_timezone(&tz).date_naive() + chrono::Duration::days(days)).to_string()
}

#[tokio::test]
async fn office_sets_an_employees_reply_the_employee_ends_it_and_cannot_see_another_mailbox() {
    let (d, port) = crate::support::console::start("").await;
    let base = format!("http://127.0.0.1:{port}");
    {
        let Some(b) = Browser::start(1280, 1000).await else { return };
        b.login(&base, "anna", "Büro-Passwort 1").await;
        b.goto(&format!("{base}/autoreply")).await;
        assert!(b.text("#autoreply-becker").await.contains("aus"));
        b.click("#autoreply-becker a").await;
        assert_eq!(b.path().await, "/autoreply/becker");

        b.client.find(fantoccini::Locator::Css("[name=enabled]")).await.unwrap().click().await.unwrap();
        set_value(&b, "from", &local_day(&d, 0)).await;
        set_value(&b, "until", &local_day(&d, 14)).await;
        b.fill("subject", "Abwesend: {subject}").await;
        b.fill("text_body", "Ich bin im Urlaub. Ab dem 4. Januar bin ich wieder da.").await;
        b.fill("internal_body", "Bin weg, Anna vertritt mich.").await;
        b.fill("interval_days", "2").await;

        // The preview button, without JavaScript's help: a new page with the reply.
        b.click("button[value=preview]").await;
        let preview = b.text("#preview").await;
        assert!(preview.contains("Abwesend: Angebot Dachsanierung"), "{preview}");
        assert!(preview.contains("Ich bin im Urlaub.") && preview.contains("Anna vertritt mich"), "{preview}");
        assert!(!postbote::autoreply::load_settings(&d.app, "becker").unwrap().is_enabled, "a preview saves nothing");

        // As one types, console.js asks the server again and the preview follows.
        b.fill("subject", "Nicht im Büro: {subject}").await;
        until_text(&b, "#preview", "Nicht im Büro: Angebot Dachsanierung").await;
        b.screenshot("autoreply-preview-de").await;

        b.click("button[value=save]").await;
        assert_eq!(b.path().await, "/autoreply/becker?done=saved");
        assert!(b.text("#autoreply-on").await.contains("Die automatische Antwort ist an"));
        let s = postbote::autoreply::load_settings(&d.app, "becker").unwrap();
        assert!(s.is_enabled && s.subject.as_deref() == Some("Nicht im Büro: {subject}"), "{s:?}");
        assert_eq!(s.interval_secs, 2 * 86_400);
        b.screenshot("autoreply-saved-de").await;
        b.close().await;
    }

    // The employee, on a phone: sees it on, ends it, and cannot open the shared mailbox's page.
    let Some(b) = Browser::start(390, 844).await else { return };
    b.login(&base, "becker", "Becker-Passwort 2").await;
    b.goto(&format!("{base}/autoreply/becker")).await;
    let banner = b.text("#autoreply-on").await;
    assert!(banner.contains("Die automatische Antwort ist an") && banner.contains("bis einschließlich"), "{banner}");
    b.screenshot("autoreply-employee-phone").await;
    b.click("#autoreply-on button").await;
    assert_eq!(b.path().await, "/autoreply/becker?done=ended");
    assert!(!b.source().await.contains("id=\"autoreply-on\""));
    assert!(!postbote::autoreply::load_settings(&d.app, "becker").unwrap().is_enabled);
    b.goto(&format!("{base}/autoreply/info")).await;
    assert!(b.source().await.contains("Das dürfen Sie mit diesem Konto nicht."));
    b.goto(&format!("{base}/autoreply")).await;
    assert!(!b.source().await.contains("autoreply-info"));
    b.close().await;
    d.stop().await;
}

#[tokio::test]
async fn a_phone_is_added_shows_its_qr_code_and_is_revoked() {
    let (d, port) = crate::support::console::start("").await;
    let base = format!("http://127.0.0.1:{port}");
    let Some(b) = Browser::start(1280, 1000).await else { return };
    b.login(&base, "anna", "Büro-Passwort 1").await;
    b.goto(&format!("{base}/phones")).await;
    b.fill("name", "iPhone Becker").await;
    b.click("#add-phone button").await;
    let token = b.text("#token").await;
    assert_eq!(token.len(), 43, "{token}");
    // The QR code is an image the CSP lets the browser draw.
    let width = b.client.execute("return document.getElementById('qr').naturalWidth", vec![]).await.unwrap();
    assert!(width.as_u64().unwrap_or(0) >= 200, "the QR code was drawn: {width}");
    assert!(b.text("#manual").await.contains("becker@bau-firma.test"));
    b.screenshot("phones-qr-de").await;

    b.click("#new-phone a[href=\"/phones\"]").await;
    let list = b.text("#phones").await;
    assert!(list.contains("iPhone Becker") && !list.contains(&token), "{list}");
    b.screenshot("phones-de").await;
    b.click("#phones form button").await;
    assert_eq!(b.path().await, "/phones");
    assert!(b.text("#phones").await.contains("gesperrt"));
    let hash = postbote::devices::hash_token(&token);
    assert!(d.app.store.devices().by_token(&hash, "jmap").unwrap().is_none(), "revoked");
    b.close().await;
    d.stop().await;
}

/// Every page of these in both languages: by the switch, and by `Accept-Language` alone.
#[tokio::test]
async fn the_reply_and_phone_pages_speak_german_and_english_on_a_phone_screen() {
    let (d, port) = crate::support::console::start("").await;
    let base = format!("http://127.0.0.1:{port}");
    let pages: [(&str, &str, &str); 3] = [
        ("/autoreply", "Abwesenheit", "Automatic reply"),
        ("/autoreply/becker", "Nachricht prüfen", "Explain a message"),
        ("/phones", "Telefon hinzufügen", "Add a phone"),
    ];
    {
        let Some(b) = Browser::start(390, 844).await else { return };
        b.login(&base, "anna", "Büro-Passwort 1").await;
        for (path, de, _) in pages {
            b.goto(&format!("{base}{path}")).await;
            let text = b.text("main").await;
            assert!(text.contains(de), "{path} in German: {text}");
        }
        b.screenshot("phones-de-phone").await;
        b.click("a[lang=en]").await;
        assert_eq!(b.path().await, "/phones", "the switch comes back to the page");
        for (path, de, en) in pages {
            b.goto(&format!("{base}{path}")).await;
            let text = b.text("main").await;
            assert!(text.contains(en) && !text.contains(de), "{path} in English: {text}");
            let name = format!("{}-en-phone", path.trim_start_matches('/').replace('/', "-"));
            b.screenshot(&name).await;
        }
        // The phone layout: nothing is wider than the screen.
        b.goto(&format!("{base}/autoreply/becker")).await;
        let js = "return [window.innerWidth, document.documentElement.scrollWidth]";
        let wide = b.client.execute(js, vec![]).await.unwrap();
        assert_eq!(wide, serde_json::json!([390, 390]), "the page fits a phone's width");
        b.close().await;
    }
    // English from the browser's own language, without the switch.
    let Some(b) = Browser::start_in(1280, 1000, "en-GB").await else { return };
    b.login(&base, "becker", "Becker-Passwort 2").await;
    for (path, _, en) in pages {
        b.goto(&format!("{base}{path}")).await;
        let text = b.text("main").await;
        assert!(text.contains(en), "{path} from Accept-Language: {text}");
    }
    b.screenshot("autoreply-employee-en").await;
    b.close().await;
    d.stop().await;
}
