//! Trust at the JMAP listener, against the real daemon (in-process) and the real Dovecot of the
//! local stack, by raw HTTP so that every status code and header is seen as a phone sees it:
//! no credential and wrong credentials never lock out a valid token, `X-Forwarded-For` counts
//! only from a trusted proxy, filters over the documented limits get a JMAP limit error
//! instead of the store's text, and no string a phone sends can add a header to a message.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support;
use crate::support::jmapd::{self, Daemon};

const USING: [&str; 4] = [
    "urn:ietf:params:jmap:core",
    "urn:ietf:params:jmap:mail",
    "urn:ietf:params:jmap:submission",
    "urn:ietf:params:jmap:vacationresponse",
];

/// A daemon for one mailbox "becker" (Dovecot user `user`), with `jmap_extra` appended to [jmap].
async fn daemon(user: &str, pw: &str, jmap_extra: &str) -> Daemon {
    jmapd::Builder::new()
        .using(&USING)
        .jmap(jmap_extra)
        .mailbox(jmapd::Mailbox::new("becker", user, pw).name("Hans Becker"))
        .start()
        .await
}

/// `GET /.well-known/jmap` with these headers: (status, Retry-After).
async fn session(d: &Daemon, headers: &[(&str, &str)]) -> (u16, Option<String>) {
    let (status, h, _) = d.http("GET", "/.well-known/jmap", headers, b"").await;
    (status, h.into_iter().find(|(k, _)| k == "retry-after").map(|(_, v)| v))
}

/// The raw bytes the store keeps of every email of the account.
fn stored_raw(d: &Daemon) -> Vec<String> {
    let filter = postbote::store::email_query::EmailFilter::And(vec![]);
    let rows = d.app.store.emails().query("becker", &filter, &[]).unwrap();
    rows.iter()
        .map(|(id, _)| String::from_utf8_lossy(&d.app.store.emails().raw("becker", *id).unwrap().unwrap()).into_owned())
        .collect()
}

fn account() -> String {
    postbote::jmap::ids::account("becker")
}

/// Header lines of every part of `raw` (unfolded): what a header injection would have added to.
fn header_lines(raw: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_head = true;
    for line in raw.split("\r\n") {
        if in_head && line.is_empty() {
            in_head = false;
        } else if !in_head && line.starts_with("--") {
            in_head = true;
        } else if in_head {
            out.push(line.to_string());
        }
    }
    out
}

fn assert_no_injected_header(raw: &str) {
    for l in header_lines(raw) {
        let lower = l.to_lowercase();
        assert!(
            !lower.starts_with("bcc:") && !lower.starts_with("x-injected:") && !l.contains("evil@evil.test"),
            "injected header line {l:?} in:\n{raw}"
        );
    }
}

// ------------------------------------------------------------------------ no lock-out

/// Requests without any credential (a phone asking which schemes we take, a health check)
/// count against nobody: after twelve of them a valid token from the same address is served.
/// On main the twelfth got 429 and so did the valid token, for 60 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_credential_requests_never_lock_out_a_valid_token() {
    let (user, pw) = support::unique_user("trustnocred");
    let d = daemon(&user, &pw, "").await;
    let token = d.device("becker", &[]);
    for i in 0..12 {
        let (status, retry) = session(&d, &[]).await;
        assert_eq!((status, retry), (401, None), "request {i} without a credential");
    }
    let bearer = format!("Bearer {token}");
    assert_eq!(session(&d, &[("Authorization", &bearer)]).await.0, 200);
    d.stop().await;
}

/// Twenty wrong tokens from one address end in 429 with Retry-After; a valid token from the
/// same address is still served, and a request without a credential still gets 401. On main
/// the valid token got 429.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wrong_tokens_are_limited_but_a_valid_token_is_served() {
    let (user, pw) = support::unique_user("trustwrong");
    let d = daemon(&user, &pw, "").await;
    let token = d.device("becker", &[]);
    let mut answers = Vec::new();
    for i in 0..20 {
        let wrong = format!("Bearer wrong-token-{i}");
        answers.push(session(&d, &[("Authorization", &wrong)]).await);
    }
    assert!(answers[..9].iter().all(|a| *a == (401, None)), "{answers:?}");
    let (status, retry) = answers.last().unwrap();
    assert_eq!(*status, 429, "{answers:?}");
    let retry: u64 = retry.as_deref().expect("Retry-After").parse().expect("seconds");
    assert!((1..=3600).contains(&retry), "{retry}");
    let bearer = format!("Bearer {token}");
    assert_eq!(session(&d, &[("Authorization", &bearer)]).await.0, 200);
    assert_eq!(d.api(&token, json!([["Core/echo", {"hello": true}, "e"]])).await[0][1]["hello"], true);
    d.stop().await;
}

/// Past the limit a wrong token waits before its 429: at least min(Retry-After, 3 s), so
/// guesses cannot go on at full speed; the right token from the same address is answered at
/// once. On main the 429 came as fast as a 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wrong_tokens_past_the_limit_are_slowed_and_the_right_token_is_not() {
    let (user, pw) = support::unique_user("trustslow");
    let d = daemon(&user, &pw, "").await;
    let token = d.device("becker", &[]);
    let mut status = 0;
    for i in 0..12 {
        if status == 429 {
            break;
        }
        status = session(&d, &[("Authorization", &format!("Bearer slow-wrong-{i}"))]).await.0;
    }
    assert_eq!(status, 429, "the limit is reached");
    for i in 0..2 {
        let started = std::time::Instant::now();
        let (status, retry) = session(&d, &[("Authorization", &format!("Bearer slow-more-{i}"))]).await;
        let took = started.elapsed();
        assert_eq!(status, 429);
        let retry: u64 = retry.expect("Retry-After").parse().unwrap();
        let delay = Duration::from_secs(retry.min(3));
        assert!(took >= delay, "a 429 after {took:?}, the wait is {delay:?}");
    }
    let started = std::time::Instant::now();
    assert_eq!(session(&d, &[("Authorization", &format!("Bearer {token}"))]).await.0, 200);
    assert!(started.elapsed() < Duration::from_secs(1), "the right token waited {:?}", started.elapsed());
    d.stop().await;
}

/// Behind a trusted proxy every phone shares the proxy's address: two clients named by
/// X-Forwarded-For are counted apart, and a valid token behind the proxy is served while the
/// guessing client is over the limit. From a peer that is not a trusted proxy the header is
/// ignored: all its requests count against the peer, whatever they claim. On main
/// `trusted_proxies` did not exist (the config was refused).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forwarded_for_counts_only_from_a_trusted_proxy() {
    let (user, pw) = support::unique_user("trustproxy");
    let d = daemon(&user, &pw, "trusted_proxies = [\"127.0.0.1\"]").await;
    let token = d.device("becker", &[]);
    let bearer = format!("Bearer {token}");
    let guesser = ("X-Forwarded-For", "203.0.113.66");
    let mut last = (0, None);
    for i in 0..12 {
        let wrong = format!("Bearer wrong-{i}");
        last = session(&d, &[("Authorization", &wrong), guesser]).await;
    }
    assert_eq!(last.0, 429, "{last:?}");
    // Another client behind the proxy: its own count (a wrong token is merely 401) ...
    let other = ("X-Forwarded-For", "198.51.100.7");
    assert_eq!(session(&d, &[("Authorization", "Bearer a-typo"), other]).await, (401, None));
    // ... what the client wrote left of the proxy's entry is not believed ...
    let spoofed = ("X-Forwarded-For", "198.51.100.7, 203.0.113.66");
    assert_eq!(session(&d, &[("Authorization", "Bearer wrong-x"), spoofed]).await.0, 429);
    // ... and valid tokens are served, from the other client and from the guessing one.
    assert_eq!(session(&d, &[("Authorization", &bearer), other]).await.0, 200);
    assert_eq!(session(&d, &[("Authorization", &bearer), guesser]).await.0, 200);
    // Wrong passwords for one Basic user name from ever new addresses count against the user
    // name; the right token under that user name is still served.
    use base64::Engine;
    let basic =
        |pw: &str| format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("becker:{pw}")));
    let mut statuses = Vec::new();
    // The tenth is at the limit only if no time passed (scores decay); the eleventh is over it.
    for i in 0..11 {
        let xff = format!("192.0.2.{}", 100 + i);
        statuses
            .push(session(&d, &[("Authorization", &basic(&format!("guess{i}"))), ("X-Forwarded-For", &xff)]).await.0);
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert!(statuses[..9].iter().all(|s| *s == 401), "{statuses:?}");
    assert_eq!(session(&d, &[("Authorization", &basic(&token)), ("X-Forwarded-For", "192.0.2.200")]).await.0, 200);
    d.stop().await;

    // Not a trusted peer: X-Forwarded-For is ignored, so a new address per request does not
    // escape the count of the peer itself.
    let (user, pw) = support::unique_user("trustnoproxy");
    let d = daemon(&user, &pw, "trusted_proxies = [\"192.0.2.1\"]").await;
    let token = d.device("becker", &[]);
    let mut statuses = Vec::new();
    for i in 0..12 {
        let (wrong, xff) = (format!("Bearer wrong-{i}"), format!("203.0.113.{i}"));
        statuses.push(session(&d, &[("Authorization", &wrong), ("X-Forwarded-For", &xff)]).await.0);
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert_eq!(session(&d, &[("Authorization", &format!("Bearer {token}"))]).await.0, 200);
    d.stop().await;
}

// ---------------------------------------------------------------------- limits answer as limits

fn no_store_text(r: &Value) {
    let d = r[1]["description"].as_str().unwrap_or_default().to_lowercase();
    for word in ["sql", "expression tree", "too many terms", "parser stack"] {
        assert!(!d.contains(word), "the store's text reached the client: {r}");
    }
}

/// A filter of 10,000 conditions, one nested deeper than documented, and a sort of 3,000
/// comparators get `unsupportedFilter` / `unsupportedSort` from every method that takes them,
/// never `serverFail` with SQLite's text (on main: serverFail "Expression tree is too large").
/// A filter at the limit still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn oversized_filters_and_sorts_get_limit_errors() {
    let (user, pw) = support::unique_user("trustfilter");
    support::deliver_to_folder(&user, "INBOX", b"From: k@kunde.test\r\nSubject: Angebot\r\n\r\nText\r\n");
    let d = daemon(&user, &pw, "").await;
    let token = d.device("becker", &[]);
    d.mailbox(&token, &account(), "inbox").await;
    let wide = json!({"operator": "AND", "conditions": (0..10_000).map(|i| json!({"text": format!("w{i}")})).collect::<Vec<_>>()});
    let mut deep = json!({"text": "angebot"});
    for _ in 0..30 {
        deep = json!({"operator": "AND", "conditions": [deep]});
    }
    let acc = account();
    for (what, filter) in [("10,000 conditions", &wide), ("30 levels", &deep)] {
        let r = d
            .api(
                &token,
                json!([
                    ["Email/query", {"accountId": acc, "filter": filter}, "q"],
                    ["Email/queryChanges", {"accountId": acc, "filter": filter, "sinceQueryState": "x"}, "qc"],
                    ["SearchSnippet/get", {"accountId": acc, "filter": filter, "emailIds": []}, "s"],
                    ["Mailbox/query", {"accountId": acc, "filter": filter}, "m"],
                    ["EmailSubmission/query", {"accountId": acc, "filter": filter}, "es"],
                ]),
            )
            .await;
        for x in &r {
            assert_eq!((&x[0], &x[1]["type"]), (&json!("error"), &json!("unsupportedFilter")), "{what}: {x}");
            no_store_text(x);
        }
    }
    let sort: Vec<Value> = (0..3000).map(|_| json!({"property": "receivedAt"})).collect();
    let r = d
        .api(
            &token,
            json!([
                ["Email/query", {"accountId": acc, "sort": sort}, "q"],
                ["Mailbox/query", {"accountId": acc, "sort": sort}, "m"],
                ["EmailSubmission/query", {"accountId": acc, "sort": sort}, "es"],
            ]),
        )
        .await;
    for x in &r {
        assert_eq!((&x[0], &x[1]["type"]), (&json!("error"), &json!("unsupportedSort")), "{x}");
        no_store_text(x);
    }
    // At the limit: 99 conditions under one operator (100 in all) are answered.
    let ok = json!({"operator": "OR", "conditions": (0..99).map(|i| json!({"subject": if i == 0 { "angebot".to_string() } else { format!("n{i}") }})).collect::<Vec<_>>()});
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = d.api(&token, json!([["Email/query", {"accountId": acc, "filter": ok}, "q"]])).await;
        assert_eq!(r[0][0], "Email/query", "{}", r[0]);
        if r[0][1]["ids"].as_array().is_some_and(|a| a.len() == 1) {
            break;
        }
        assert!(Instant::now() < deadline, "the message never matched: {}", r[0]);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    d.stop().await;
}

// --------------------------------------------------------------------------- no header injection

/// Every string of an Email/set create that becomes a header (subject, address names and
/// emails, `header:*`, an attachment's type, name and cid) is refused with invalidProperties
/// naming the property when it holds a line break, and nothing stored carries an injected
/// header. On main the subject was flattened and stored, and an attachment's type put a Bcc
/// line into the stored message.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn email_set_refuses_header_injection() {
    let (user, pw) = support::unique_user("trustset");
    let d = daemon(&user, &pw, "").await;
    let token = d.device("becker", &[]);
    let drafts = d.mailbox(&token, &account(), "drafts").await;
    let acc = account();
    // A blob for the attachments.
    let auth = format!("Bearer {token}");
    let (status, _, b) = d
        .http(
            "POST",
            &format!("/jmap/upload/{acc}/"),
            &[("Authorization", &auth), ("Content-Type", "application/pdf")],
            b"%PDF-1.4",
        )
        .await;
    assert_eq!(status, 201);
    let blob = serde_json::from_slice::<Value>(&b).unwrap()["blobId"].as_str().unwrap().to_string();

    let evil = "Hallo\r\nBcc: evil@evil.test\r\nX-Injected: yes";
    let base = |extra: Value| {
        let mut o = json!({
            "mailboxIds": {drafts.clone(): true},
            "from": [{"name": "Hans Becker", "email": "becker@bau-firma.test"}],
            "to": [{"name": "Kunde", "email": "kunde@kunde.test"}],
            "subject": "Angebot",
            "textBody": [{"partId": "t"}],
            "bodyValues": {"t": {"value": "Guten Tag"}},
        });
        for (k, v) in extra.as_object().unwrap() {
            o[k] = v.clone();
        }
        o
    };
    let attempts = [
        ("subject", json!({"subject": evil})),
        ("to", json!({"to": [{"name": evil, "email": "kunde@kunde.test"}]})),
        ("from", json!({"from": [{"name": "Hans", "email": "becker@bau-firma.test\r\nBcc: evil@evil.test"}]})),
        ("replyTo", json!({"replyTo": [{"name": evil, "email": "b@bau-firma.test"}]})),
        ("header:X-Note:asText", json!({"header:X-Note:asText": evil})),
        (
            "attachments",
            json!({"attachments": [{"blobId": blob, "type": "application/pdf\r\nBcc: evil@evil.test", "name": "a.pdf"}]}),
        ),
        ("attachments", json!({"attachments": [{"blobId": blob, "type": "application/pdf", "name": evil}]})),
        (
            "attachments",
            json!({"attachments": [{"blobId": blob, "type": "image/png", "disposition": "inline", "cid": "c@x>\r\nBcc: evil@evil.test"}]}),
        ),
    ];
    let mut create = serde_json::Map::new();
    for (i, (_, extra)) in attempts.iter().enumerate() {
        create.insert(format!("a{i}"), base(extra.clone()));
    }
    // A valid draft with a non-ASCII subject and name next to them is built normally.
    create.insert(
        "ok".into(),
        base(json!({"subject": "Angebot für Ihr Bad", "to": [{"name": "Jürgen Müller", "email": "j@kunde.test"}]})),
    );
    let r = d.api(&token, json!([["Email/set", {"accountId": acc, "create": create}, "s"]])).await;
    let res = &r[0][1];
    assert_eq!(r[0][0], "Email/set", "{res}");
    for (i, (prop, _)) in attempts.iter().enumerate() {
        let e = &res["notCreated"][format!("a{i}")];
        assert_eq!(e["type"], "invalidProperties", "attempt {i} ({prop}): {res}");
        assert_eq!(e["properties"], json!([prop]), "attempt {i}: {e}");
    }
    assert!(res["created"]["ok"]["id"].is_string(), "{res}");
    let raws = stored_raw(&d);
    assert_eq!(raws.len(), 1, "only the valid draft is stored");
    for raw in &raws {
        assert_no_injected_header(raw);
        assert!(raw.contains("<j@kunde.test>"), "{raw}");
    }
    d.stop().await;
}

/// VacationResponse/set refuses a subject with a line break (it would become the header of
/// every auto-reply) and keeps the old one; EmailSubmission refuses an envelope address with
/// a line break (it would become an SMTP command); Identity/set refuses a name with a line
/// break (a phone copies it into From) and keeps the old one.
/// On main the vacation subject was flattened and saved, and a mailFrom was not looked at.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn vacation_submission_and_identity_refuse_line_breaks() {
    let (user, pw) = support::unique_user("trustvac");
    let d = daemon(&user, &pw, "").await;
    let token = d.device("becker", &[]);
    let drafts = d.mailbox(&token, &account(), "drafts").await;
    let acc = account();

    let r = d
        .api(
            &token,
            json!([
                ["VacationResponse/set", {"accountId": acc, "update": {"singleton": {"subject": "Urlaub", "isEnabled": false}}}, "v0"],
                ["VacationResponse/set", {"accountId": acc, "update": {"singleton": {"subject": "Urlaub\r\nBcc: evil@evil.test"}}}, "v1"],
                ["VacationResponse/set", {"accountId": acc, "update": {"singleton": {"subject": "Urlaub\nX-Injected: yes"}}}, "v2"],
                ["VacationResponse/get", {"accountId": acc}, "g"],
            ]),
        )
        .await;
    assert_eq!(r[0][1]["updated"], json!({"singleton": null}), "{}", r[0]);
    for x in &r[1..3] {
        assert_eq!(x[1]["notUpdated"]["singleton"]["type"], "invalidProperties", "{x}");
        assert_eq!(x[1]["notUpdated"]["singleton"]["properties"], json!(["subject"]), "{x}");
    }
    assert_eq!(r[3][1]["list"][0]["subject"], "Urlaub", "{}", r[3]);

    // A draft from the identity's address, then submissions with poisoned envelopes.
    let r = d
        .api(
            &token,
            json!([
                ["Email/set", {"accountId": acc, "create": {"d": {
                    "mailboxIds": {drafts: true},
                    "from": [{"email": "becker@bau-firma.test"}],
                    "to": [{"email": "kunde@kunde.test"}],
                    "subject": "Angebot",
                    "textBody": [{"partId": "t"}], "bodyValues": {"t": {"value": "Guten Tag"}},
                }}}, "e"],
                ["Identity/get", {"accountId": acc}, "i"],
            ]),
        )
        .await;
    let email = r[0][1]["created"]["d"]["id"].as_str().expect("the draft").to_string();
    let identity = r[1][1]["list"][0]["id"].as_str().unwrap().to_string();
    let rcpt = |e: &str| json!({"mailFrom": {"email": "becker@bau-firma.test"}, "rcptTo": [{"email": e}]});
    let r = d
        .api(
            &token,
            json!([
                ["EmailSubmission/set", {"accountId": acc, "create": {
                    "r": {"identityId": identity, "emailId": email, "envelope": rcpt("kunde@kunde.test>\r\nRCPT TO:<evil@evil.test")},
                    "f": {"identityId": identity, "emailId": email, "envelope": {
                        "mailFrom": {"email": "becker@bau-firma.test>\r\nRCPT TO:<evil@evil.test"},
                        "rcptTo": [{"email": "kunde@kunde.test"}]}},
                }}, "s"],
                ["EmailSubmission/get", {"accountId": acc}, "g"],
                ["Identity/set", {"accountId": acc, "update": {identity.clone(): {"name": "Hans\r\nBcc: evil@evil.test"}}}, "is"],
                ["Identity/get", {"accountId": acc}, "ig"],
            ]),
        )
        .await;
    let res = &r[0][1];
    assert_eq!(res["notCreated"]["r"]["type"], "invalidRecipients", "{res}");
    assert_eq!(res["notCreated"]["f"]["type"], "invalidProperties", "{res}");
    assert_eq!(res["notCreated"]["f"]["properties"], json!(["envelope"]), "{res}");
    assert_eq!(r[1][1]["list"], json!([]), "nothing was queued: {}", r[1]);
    assert_eq!(r[2][1]["notUpdated"][&identity]["type"], "invalidProperties", "{}", r[2]);
    assert_eq!(r[2][1]["notUpdated"][&identity]["properties"], json!(["name"]), "{}", r[2]);
    assert_eq!(r[2][1]["updated"], json!({}), "{}", r[2]);
    assert_eq!(r[3][1]["list"][0]["name"], "Hans Becker", "{}", r[3]);
    for raw in stored_raw(&d) {
        assert_no_injected_header(&raw);
    }
    d.stop().await;
}
