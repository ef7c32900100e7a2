//! The console's automatic-reply and phones pages over HTTP, against a running daemon with
//! the real Dovecot behind it: an office account sets an employee's automatic reply (refused
//! without the CSRF token, a wrong form said in words), previews it, JMAP sees the change at
//! once, a message is explained (uploaded as `.eml`, or picked from the mirrored ones), the
//! employee ends it and cannot reach another mailbox; a phone is added with its token shown
//! once and a QR code, the token works, and revoking it stops the token and ends the phone's
//! open connections. Every action is in the audit log, never a token.

use std::time::Duration;

use crate::support::console::{Browser, body, csrf, header};
use crate::support::{self, jmapd};

/// A local date in the office's time zone, `days` from today, as `<input type=date>` sends it.
fn day(d: &jmapd::Daemon, days: i64) -> String {
    let tz = d.app.config.agent.time_zone;
    (chrono::Utc::now().with_timezone(&tz).date_naive() + chrono::Duration::days(days)).to_string()
}

fn refs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

fn message(from: &str, subject: &str, extra: &str) -> Vec<u8> {
    format!(
        "Return-Path: <{from}>\r\nFrom: Kunde <{from}>\r\nTo: <becker@bau-firma.test>\r\nSubject: {subject}\r\n\
         Message-ID: <{}@kunde.example>\r\nDate: Fri, 04 Dec 2026 10:00:00 +0100\r\n{extra}\r\nGuten Tag.\r\n",
        support::unique_token()
    )
    .into_bytes()
}

#[tokio::test]
async fn an_office_sets_an_employees_automatic_reply_and_the_employee_ends_it() {
    let (d, port) = crate::support::console::start("").await;
    let mut office = Browser::new(port);
    office.log_in("anna", "Büro-Passwort 1").await;

    // The list shows both mailboxes, switched off.
    let list = body(&office.get("/autoreply").await);
    assert!(list.contains("autoreply-becker") && list.contains("autoreply-info"), "{list}");
    let page = body(&office.get("/autoreply/becker").await);
    assert!(page.contains("autoreply-form") && !page.contains("autoreply-on"), "{page}");
    let token = csrf(&page);
    assert_eq!(office.get("/autoreply/niemand").await.0, 404);

    let (from, until) = (day(&d, 0), day(&d, 7));
    let form = |csrf: &str, action: &str, until: &str| -> Vec<(&'static str, String)> {
        [
            ("csrf", csrf),
            ("enabled", "on"),
            ("from", from.as_str()),
            ("until", until),
            ("subject", "Im Urlaub: {subject}"),
            ("text_body", "Ich bin bis zum Monatsende nicht im Büro.\r\nIhr Becker"),
            ("internal_body", "Bin im Urlaub, Vertretung hat Anna."),
            ("interval_days", "3"),
            ("action", action),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.to_string()))
        .collect()
    };

    // Without the CSRF token nothing is saved.
    assert_eq!(office.post("/autoreply/becker", &refs(&form("", "save", &until)), &[]).await.0, 403);
    assert!(!postbote::autoreply::load_settings(&d.app, "becker").unwrap().is_enabled);

    // The preview button shows the reply as it will be sent, and saves nothing.
    let preview = form(&token, "preview", &until);
    let a = office.post("/autoreply/becker", &refs(&preview), &[]).await;
    assert_eq!(a.0, 200);
    let page = body(&a);
    for want in [
        "Im Urlaub: Angebot Dachsanierung",
        "Ich bin bis zum Monatsende nicht im Büro.",
        "Vertretung hat Anna",
        "kunde@example.org",
    ] {
        assert!(page.contains(want), "{want}: {page}");
    }
    assert!(!postbote::autoreply::load_settings(&d.app, "becker").unwrap().is_enabled, "a preview saves nothing");
    // The fragment console.js asks for while one types.
    let a = office.post("/autoreply/becker/preview", &refs(&preview), &[]).await;
    assert_eq!(a.0, 200);
    assert!(body(&a).starts_with("<div id=\"preview-body\">") && body(&a).contains("Im Urlaub:"), "{}", body(&a));

    // A last day before the first is said in words, in a preview and when saving, and
    // nothing is saved.
    let a = office.post("/autoreply/becker", &refs(&form(&token, "preview", &day(&d, -3))), &[]).await;
    assert_eq!(a.0, 200);
    assert!(body(&a).contains("Der letzte Tag liegt vor dem ersten Tag."), "{}", body(&a));
    let a = office.post("/autoreply/becker", &refs(&form(&token, "save", &day(&d, -3))), &[]).await;
    assert_eq!(a.0, 422);
    assert!(body(&a).contains("Der letzte Tag liegt vor dem ersten Tag."), "{}", body(&a));
    assert!(!postbote::autoreply::load_settings(&d.app, "becker").unwrap().is_enabled);

    // Saved: the store has it as whole local days, both ends included, and a phone sees it at once.
    let a = office.post("/autoreply/becker", &refs(&form(&token, "save", &until)), &[]).await;
    assert_eq!(a.0, 303, "{}", body(&a));
    assert_eq!(header(&a, "location"), ["/autoreply/becker?done=saved"]);
    let s = postbote::autoreply::load_settings(&d.app, "becker").unwrap();
    let tz = d.app.config.agent.time_zone;
    assert!(s.is_enabled);
    assert_eq!(s.from_date.unwrap().with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(), format!("{from} 00:00"));
    assert_eq!(
        s.to_date.unwrap().with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string(),
        format!("{} 00:00", day(&d, 8))
    );
    assert_eq!(s.interval_secs, 3 * 86_400);
    assert_eq!(s.internal_body.as_deref(), Some("Bin im Urlaub, Vertretung hat Anna."));
    // The overview says the same window as the automatic-reply page, in the page's language
    // with the last day included (it once said the exclusive end, in English).
    let german = |iso: &str| {
        let (y, rest) = iso.split_once('-').unwrap();
        let (m, dd) = rest.split_once('-').unwrap();
        format!("{dd}.{m}.{y}")
    };
    let overview = body(&office.get("/").await);
    assert!(overview.contains(&format!("bis einschließlich {}", german(&until))), "{overview}");
    let phone = d.device("becker", &[]);
    let using = ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:vacationresponse"];
    let call =
        serde_json::json!({"using": using, "methodCalls": [["VacationResponse/get", {"accountId": "becker"}, "v"]]});
    let (status, answer) = d.post(&phone, &call).await;
    assert_eq!(status, 200, "{answer}");
    let vr = &answer["methodResponses"][0][1];
    assert_eq!(vr["list"][0]["isEnabled"], true, "{vr}");
    assert_eq!(vr["list"][0]["subject"], "Im Urlaub: {subject}", "{vr}");
    let page = body(&office.get("/autoreply/becker?done=saved").await);
    assert!(page.contains("autoreply-on") && page.contains("Jetzt beenden") && page.contains("Gespeichert."), "{page}");
    assert!(body(&office.get("/autoreply").await).contains("Abwesenheitsnotiz an"));

    // Explain an uploaded message: a customer's gets a reply, an automatic one does not.
    let a = office
        .upload(
            "/autoreply/becker/explain",
            &[("csrf", &token)],
            ("eml", "kunde.eml", &message("kunde@kunde.example", "Rechnung", "")),
        )
        .await;
    assert_eq!(a.0, 200, "{}", body(&a));
    let page = body(&a);
    assert!(page.contains("explain-result") && page.contains("kunde.eml"), "{page}");
    assert!(page.contains("Bekäme eine automatische Antwort") && page.contains("<code>reply</code>"), "{page}");
    let auto = message("robot@kunde.example", "Lesebestätigung", "Auto-Submitted: auto-replied\r\n");
    let page = body(&office.upload("/autoreply/becker/explain", &[("csrf", &token)], ("eml", "auto.eml", &auto)).await);
    assert!(
        page.contains("Bekäme keine automatische Antwort") && page.contains("<code>auto_submitted</code>"),
        "{page}"
    );
    // Over the body limit: 413, said in the page's language.
    let big = vec![b'x'; 3 << 20];
    let a = office.upload("/autoreply/becker/explain", &[("csrf", &token)], ("eml", "big.eml", &big)).await;
    assert_eq!(a.0, 413);
    assert!(body(&a).contains("Die Datei ist zu groß"), "{}", body(&a));
    let a = office.upload("/autoreply/becker/explain", &[("csrf", "falsch")], ("eml", "auto.eml", &auto)).await;
    assert_eq!(a.0, 403, "the upload form needs its CSRF token too");

    // Explain a mirrored message, picked from the mailbox's recent ones.
    let user = d.app.config.mailbox("becker").unwrap().hosted_address.clone();
    support::deliver(&user, &message("bauherr@kunde.example", "Termin auf der Baustelle", ""));
    let mirrored = || {
        let found = d.app.store.messages().list("becker", None, 5).unwrap();
        found.iter().find(|m| m.subject == "Termin auf der Baustelle").map(|m| m.id)
    };
    jmapd::eventually(Duration::from_secs(30), "the message is mirrored", || {
        let done = mirrored().is_some();
        async move { done }
    })
    .await;
    let id = mirrored();
    let page = body(&office.get("/autoreply/becker").await);
    assert!(page.contains("Termin auf der Baustelle"), "offered in the picker: {page}");
    let id = id.unwrap().to_string();
    let a = office.post("/autoreply/becker/explain-message", &[("csrf", &token), ("message", &id)], &[]).await;
    assert_eq!(a.0, 200);
    assert!(body(&a).contains("explain-result") && body(&a).contains("Termin auf der Baustelle"), "{}", body(&a));

    // The employee sees only their own mailbox, and ends the reply.
    let mut becker = Browser::new(port);
    becker.log_in("becker", "Becker-Passwort 2").await;
    let list = body(&becker.get("/autoreply").await);
    assert!(list.contains("autoreply-becker") && !list.contains("autoreply-info"), "{list}");
    let page = body(&becker.get("/autoreply/becker").await);
    assert!(page.contains("autoreply-on"), "{page}");
    let token = csrf(&page);
    assert_eq!(becker.get("/autoreply/info").await.0, 403);
    assert_eq!(becker.post("/autoreply/info/end", &[("csrf", &token)], &[]).await.0, 403);
    assert_eq!(
        becker.post("/autoreply/info", &[("csrf", &token), ("enabled", "on"), ("action", "save")], &[]).await.0,
        403
    );
    let info_token = csrf(&body(&office.get("/autoreply/info").await));
    let a = office.post("/autoreply/info/explain-message", &[("csrf", &info_token), ("message", &id)], &[]).await;
    assert_eq!(a.0, 422, "a message of another mailbox is not one of info's");
    let a = becker.post("/autoreply/becker/end", &[("csrf", &token)], &[]).await;
    assert_eq!(a.0, 303);
    let s = postbote::autoreply::load_settings(&d.app, "becker").unwrap();
    assert!(!s.is_enabled);
    assert_eq!(s.subject.as_deref(), Some("Im Urlaub: {subject}"), "the texts are kept for next time");
    let page = body(&becker.get("/autoreply/becker?done=ended").await);
    assert!(!page.contains("autoreply-on") && page.contains("Die automatische Antwort ist beendet."), "{page}");

    let audit = body(&office.get("/audit").await);
    assert!(audit.contains("autoreply.save") && audit.contains("autoreply.end"), "{audit}");
    d.stop().await;
}

#[tokio::test]
async fn a_phone_is_added_with_its_token_once_and_revoked() {
    let (d, port) = crate::support::console::start("").await;
    let mut office = Browser::new(port);
    office.log_in("anna", "Büro-Passwort 1").await;
    let page = body(&office.get("/phones").await);
    assert!(page.contains("no-phones") && page.contains("add-phone"), "{page}");
    let token = csrf(&page);

    // Added: the token once, the mail app's settings, the JMAP session URL and a QR code.
    let a = office
        .post(
            "/phones/add",
            &[("csrf", &token), ("mailbox", "becker"), ("name", "iPhone Becker"), ("grant", "info")],
            &[],
        )
        .await;
    assert_eq!(a.0, 200, "{}", body(&a));
    let page = body(&a);
    let i = page.find("<code id=\"token\">").expect("the token") + 17;
    let phone_token = page[i..i + page[i..].find('<').unwrap()].to_string();
    assert_eq!(phone_token.len(), 43, "{phone_token}");
    assert!(page.contains("src=\"data:image/svg+xml;base64,"), "a QR code: {page}");
    assert!(page.contains("becker@bau-firma.test") && page.contains("/.well-known/jmap"), "{page}");
    assert!(page.contains("993") && page.contains("SSL/TLS"), "{page}");
    // The one-time setup link, with its own QR code: the profile once, then 410.
    let i = page.find("<code id=\"setup-url\">").expect("the setup link") + 22;
    let url = page[i..i + page[i..].find('<').unwrap()].to_string();
    let path = &url[url.find("/setup/").expect("a /setup/ URL")..];
    assert!(page.contains("id=\"setup-qr\""), "{page}");
    let first = d.http("GET", path, &[], b"").await;
    assert_eq!(first.0, 200);
    let profile = String::from_utf8_lossy(&first.2).into_owned();
    assert!(profile.contains("com.apple.mail.managed"), "{profile}");
    let second = d.http("GET", path, &[], b"").await;
    assert_eq!(second.0, 410, "the link works once");
    // The token works, for the phone's mailbox and the granted one.
    let session = d.authed("GET", "/.well-known/jmap", &phone_token, None, b"").await;
    assert_eq!(session.0, 200, "{}", body(&session));
    let device = postbote::devices::hash_token(&phone_token);
    let found = d.app.store.devices().by_token(&device, "jmap").unwrap().expect("the device");
    assert_eq!((found.mailbox.as_str(), found.grants.clone()), ("becker", vec!["info".to_string()]));
    // The list never shows the token again.
    let page = body(&office.get("/phones").await);
    assert!(page.contains(&format!("phone-{}", found.id)) && page.contains("iPhone Becker"), "{page}");
    assert!(!page.contains(&phone_token));

    // A phone of the shared mailbox, which the employee must not touch.
    let a = office.post("/phones/add", &[("csrf", &token), ("mailbox", "info"), ("name", "Tablet Büro")], &[]).await;
    assert_eq!(a.0, 200);
    let info_phone = d.app.store.devices().all().unwrap().into_iter().find(|p| p.mailbox == "info").unwrap();
    let a = office.post("/phones/add", &[("csrf", &token), ("mailbox", "becker"), ("name", " ")], &[]).await;
    assert_eq!(a.0, 422);
    assert!(body(&a).contains("Bitte einen Namen angeben."));
    let a = office
        .post("/phones/add", &[("csrf", &token), ("mailbox", "info"), ("name", "x"), ("grant", "becker")], &[])
        .await;
    assert_eq!(a.0, 422, "only shared mailboxes are granted");
    assert_eq!(office.post("/phones/add", &[("mailbox", "becker"), ("name", "ohne Token")], &[]).await.0, 403);

    // The employee: only their own phones, no grants, no other mailbox.
    let mut becker = Browser::new(port);
    becker.log_in("becker", "Becker-Passwort 2").await;
    let page = body(&becker.get("/phones").await);
    assert!(page.contains(&format!("phone-{}", found.id)) && !page.contains("Tablet Büro"), "{page}");
    assert!(!page.contains("name=\"grant\""), "no grants for an employee: {page}");
    let t = csrf(&page);
    assert_eq!(becker.post("/phones/add", &[("csrf", &t), ("mailbox", "info"), ("name", "x")], &[]).await.0, 403);
    assert_eq!(
        becker
            .post("/phones/add", &[("csrf", &t), ("mailbox", "becker"), ("name", "x"), ("grant", "info")], &[])
            .await
            .0,
        403
    );
    assert_eq!(becker.post(&format!("/phones/{}/revoke", info_phone.id), &[("csrf", &t)], &[]).await.0, 403);
    assert_eq!(becker.post("/phones/999999/revoke", &[("csrf", &t)], &[]).await.0, 404);

    // Revoked by its owner: the token stops at once and the phone's open connections end.
    let conn = d.app.live.open(found.id, postbote::devices::Protocol::Imap).await.unwrap();
    let a = becker.post(&format!("/phones/{}/revoke", found.id), &[("csrf", &t)], &[]).await;
    assert_eq!(a.0, 303);
    assert!(conn.is_ended(), "the open IMAP connection was ended");
    assert!(d.app.store.devices().by_token(&device, "jmap").unwrap().is_none());
    assert_eq!(d.authed("GET", "/.well-known/jmap", &phone_token, None, b"").await.0, 401);
    let page = body(&becker.get("/phones").await);
    assert!(page.contains("gesperrt"), "{page}");

    let audit = body(&office.get("/audit").await);
    assert!(
        audit.contains("phone.add") && audit.contains("phone.revoke") && audit.contains("iPhone Becker"),
        "{audit}"
    );
    assert!(!audit.contains(&phone_token), "never a token in the audit log");
    d.stop().await;
}
