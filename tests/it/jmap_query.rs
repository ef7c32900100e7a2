//! JMAP queries and the RFC's exact semantics, against the real daemon (in-process) and the
//! real Dovecot of the local stack, by raw JSON over HTTP so that every field is seen as a
//! phone sees it: the `header` filter on a raw 8-bit header, the thread-keyword filters and
//! sorts on a thread of three, `Email/queryChanges` with `collapseThreads` after new mail in a
//! thread, `SearchSnippet/get`'s `notFound`, the `notJSON` problem for a body that is not
//! `application/json`, and `#creationId` keys in /set.
//!
//! Each test makes its own Dovecot user, data directory, config and ports; nothing sleeps to
//! wait for a server: every wait polls for its condition with a timeout.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support;
use crate::support::jmapd::{self, Phone, apply};

const USING: [&str; 3] = ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail", "urn:ietf:params:jmap:submission"];

/// A daemon for one mailbox "becker" (Dovecot user `user`) and a phone's token for it.
async fn daemon(user: &str, pw: &str) -> Phone {
    daemon_with(&[("becker", user, pw)]).await
}

/// A daemon for the mailboxes (id, Dovecot user, password), and a phone's token for the first
/// that may use the others too.
async fn daemon_with(mailboxes: &[(&str, &str, &str)]) -> Phone {
    let mut b = jmapd::Builder::new().using(&USING);
    for (id, user, pw) in mailboxes {
        b = b.mailbox(jmapd::Mailbox::new(id, user, pw));
    }
    let grants: Vec<&str> = mailboxes[1..].iter().map(|m| m.0).collect();
    b.start().await.phone(mailboxes[0].0, &grants)
}

/// A raw HTTP/1.1 POST to the API; returns (status, headers lowercased, body).
async fn post(d: &Phone, content_type: Option<&str>, body: &[u8]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    d.d.authed("POST", "/jmap/api/", &d.token, content_type, body).await
}

/// The ids of an Email/query with these arguments (accountId added).
async fn query(d: &Phone, mut args: Value) -> Vec<String> {
    args["accountId"] = json!("becker");
    let r = d.call("Email/query", args).await;
    let ids = r["ids"].as_array().unwrap_or_else(|| panic!("{r}"));
    ids.iter().map(|i| i.as_str().unwrap().to_string()).collect()
}

/// Wait until the mirror has brought in `n` emails.
async fn wait_for(d: &Phone, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while query(d, json!({})).await.len() != n {
        assert!(Instant::now() < deadline, "timed out waiting for {n} emails");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The email id whose subject is `subject`.
async fn id_of(d: &Phone, subject: &str) -> String {
    let r = d.call("Email/query", json!({"accountId": "becker", "filter": {"subject": subject}})).await;
    let ids = r["ids"].as_array().unwrap();
    let r = d.call("Email/get", json!({"accountId": "becker", "ids": ids, "properties": ["subject"]})).await;
    let e = r["list"].as_array().unwrap().iter().find(|e| e["subject"] == subject);
    e.unwrap_or_else(|| panic!("no email \"{subject}\": {r}"))["id"].as_str().unwrap().to_string()
}

/// A message of thread `root` (its first message when `n == root`), received `n` hours after
/// 08:00; `extra` header lines are added as given, raw bytes and all.
fn mail(n: u32, root: u32, subject: &str, extra: &[u8]) -> Vec<u8> {
    let pid = std::process::id();
    let reply = if n == root { String::new() } else { format!("In-Reply-To: <q{root}.{pid}@kunde.test>\r\n") };
    [
        format!(
            "From: Kunde <kunde@kunde.test>\r\nTo: becker@bau-firma.test\r\nSubject: {subject}\r\n\
             Date: Mon, 2 Nov 2026 {:02}:00:00 +0100\r\nMessage-ID: <q{n}.{pid}@kunde.test>\r\n{reply}",
            8 + n
        )
        .as_bytes(),
        extra,
        b"\r\nNachricht zum Angebot\r\n",
    ]
    .concat()
}

/// Set `keyword` on the emails `ids` from the phone.
async fn set_keyword(d: &Phone, ids: &[&str], keyword: &str) {
    let update: serde_json::Map<String, Value> =
        ids.iter().map(|id| (id.to_string(), json!({format!("keywords/{keyword}"): true}))).collect();
    let r = d.call("Email/set", json!({"accountId": "becker", "update": update})).await;
    assert_eq!(r["updated"].as_object().map(|o| o.len()), Some(ids.len()), "{r}");
}

/// A thread of three and a lone message with a raw ISO-8859-1 header: the `header` filter, the
/// thread-keyword filters and sorts, `Email/queryChanges` with `collapseThreads` after a fourth
/// message joins the thread, and `SearchSnippet/get`'s `notFound`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn header_thread_keywords_collapsed_query_changes_and_snippets() {
    let (user, pw) = support::unique_user("jmapquery");
    support::deliver(&user, &mail(1, 1, "Bad", b"X-Kunde: Herr M\xfcller aus K\xf6ln\r\n"));
    support::deliver(&user, &mail(2, 1, "Re: Bad", b""));
    support::deliver(&user, &mail(3, 1, "Re: Re: Bad", b""));
    support::deliver(&user, &mail(4, 4, "Dach", b"X-Prioritaet: hoch\r\n"));
    let d = daemon(&user, &pw).await;
    wait_for(&d, 4).await;
    let (e1, e2, e3, e4) =
        (id_of(&d, "Bad").await, id_of(&d, "Re: Bad").await, id_of(&d, "Re: Re: Bad").await, id_of(&d, "Dach").await);
    let (e1, e2, e3, e4) = (e1.as_str(), e2.as_str(), e3.as_str(), e4.as_str());

    // header: by name alone, and by a value whose bytes are not UTF-8 (read as Latin-1).
    assert_eq!(query(&d, json!({"filter": {"header": ["x-prioritaet"]}})).await, [e4]);
    assert_eq!(query(&d, json!({"filter": {"header": ["X-Kunde", "MÜLLER aus köln"]}})).await, [e1]);
    assert_eq!(query(&d, json!({"filter": {"header": ["X-Kunde", "Meier"]}})).await, Vec::<String>::new());
    assert_eq!(
        query(&d, json!({"filter": {"header": ["In-Reply-To"]}, "sort": [{"property": "receivedAt"}]})).await,
        [e2, e3]
    );
    let r = d.call("Email/query", json!({"accountId": "becker", "filter": {"header": []}})).await;
    assert_eq!(r["type"], "invalidArguments", "{r}");

    // Thread keywords: $flagged on the whole thread, $seen on one of its emails only.
    set_keyword(&d, &[e1, e2, e3], "$flagged").await;
    set_keyword(&d, &[e2], "$seen").await;
    let by_date = json!([{"property": "receivedAt", "isAscending": true}]);
    let q = |filter: Value| query(&d, json!({"filter": filter, "sort": by_date}));
    assert_eq!(q(json!({"someInThreadHaveKeyword": "$seen"})).await, [e1, e2, e3]);
    assert_eq!(q(json!({"noneInThreadHaveKeyword": "$seen"})).await, [e4]);
    assert_eq!(q(json!({"allInThreadHaveKeyword": "$flagged"})).await, [e1, e2, e3]);
    assert_eq!(q(json!({"allInThreadHaveKeyword": "$seen"})).await, Vec::<String>::new());
    assert_eq!(q(json!({"noneInThreadHaveKeyword": "$flagged"})).await, [e4]);
    let sorted = |sort: Value| query(&d, json!({"sort": sort}));
    assert_eq!(
        sorted(
            json!([{"property": "hasKeyword", "keyword": "$seen", "isAscending": false}, {"property": "receivedAt"}])
        )
        .await,
        [e2, e1, e3, e4]
    );
    assert_eq!(
        sorted(json!([{"property": "someInThreadHaveKeyword", "keyword": "$seen"}, {"property": "receivedAt"}])).await,
        [e4, e1, e2, e3]
    );
    assert_eq!(
        sorted(json!([{"property": "allInThreadHaveKeyword", "keyword": "$flagged", "isAscending": false}, {"property": "receivedAt", "isAscending": false}])).await,
        [e3, e2, e1, e4]
    );
    let r = d.call("Email/query", json!({"accountId": "becker", "sort": [{"property": "hasKeyword"}]})).await;
    assert_eq!(r["type"], "invalidArguments", "a keyword sort needs its keyword: {r}");

    // collapseThreads: one email per thread, the newest first; the query can be followed.
    let collapsed = json!({"accountId": "becker", "collapseThreads": true, "sort": [{"property": "receivedAt", "isAscending": false}]});
    let before = d.call("Email/query", collapsed.clone()).await;
    assert_eq!(before["canCalculateChanges"], true, "{before}");
    let old: Vec<String> = serde_json::from_value(before["ids"].clone()).unwrap();
    assert_eq!(old, [e4, e3], "the thread is represented by its newest email");
    // A fourth message joins the thread, newer than everything: it replaces e3.
    support::deliver(&user, &mail(5, 1, "Re: Re: Re: Bad", b""));
    wait_for(&d, 5).await;
    let e5 = id_of(&d, "Re: Re: Re: Bad").await;
    let mut args = collapsed.clone();
    args["sinceQueryState"] = before["queryState"].clone();
    args["calculateTotal"] = json!(true);
    let changes = d.call("Email/queryChanges", args.clone()).await;
    assert!(changes["removed"].as_array().unwrap().contains(&json!(e3)), "the old representative leaves: {changes}");
    assert!(changes["added"].as_array().unwrap().contains(&json!({"id": e5, "index": 0})), "{changes}");
    let now = d.call("Email/query", collapsed.clone()).await;
    assert_eq!(apply(&old, &changes), serde_json::from_value::<Vec<String>>(now["ids"].clone()).unwrap());
    assert_eq!(apply(&old, &changes), [e5.as_str(), e4]);
    assert_eq!(changes["newQueryState"], now["queryState"]);
    assert_eq!(changes["total"], 2);
    // From the new state nothing changed; a maxChanges below the changes is tooManyChanges.
    args["sinceQueryState"] = now["queryState"].clone();
    let none = d.call("Email/queryChanges", args.clone()).await;
    assert_eq!((none["removed"].clone(), none["added"].clone()), (json!([]), json!([])), "{none}");
    args["sinceQueryState"] = before["queryState"].clone();
    args["maxChanges"] = json!(1);
    assert_eq!(d.call("Email/queryChanges", args).await["type"], "tooManyChanges");

    // SearchSnippet/get: notFound is null when every id was found, the list of the others when not.
    let r = d
        .call("SearchSnippet/get", json!({"accountId": "becker", "filter": {"text": "Dach"}, "emailIds": [e4, e1]}))
        .await;
    assert_eq!(r["notFound"], Value::Null, "{r}");
    assert_eq!(r["list"][0]["subject"], "<mark>Dach</mark>");
    let r = d.call("SearchSnippet/get", json!({"accountId": "becker", "emailIds": [e4, "M999999"]})).await;
    assert_eq!(r["notFound"], json!(["M999999"]), "{r}");
    d.stop().await;
}

/// Transport and /set: a body that is not `application/json` gets the `notJSON` problem, and
/// `#creationId` keys in `update` and `destroy` name the mailbox created earlier in the same
/// request, answered under its real id; an unknown reference is `notFound`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn content_type_and_creation_references_in_set() {
    let (user, pw) = support::unique_user("jmapsetref");
    let d = daemon(&user, &pw).await;
    let echo = json!({"using": USING, "methodCalls": [["Core/echo", {"hallo": 1}, "e"]]}).to_string();
    for ct in [None, Some("text/plain"), Some("application/x-www-form-urlencoded"), Some("application/jsonl")] {
        let (status, h, body) = post(&d, ct, echo.as_bytes()).await;
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        assert_eq!(status, 400, "{ct:?}: {v}");
        let ctype = h.iter().find(|(k, _)| k == "content-type").map(|(_, v)| v.as_str());
        assert_eq!(ctype, Some("application/problem+json"), "{ct:?}");
        assert_eq!(v["type"], "urn:ietf:params:jmap:error:notJSON", "{ct:?}: {v}");
        assert_eq!(v["status"], 400, "{v}");
    }
    for ct in ["application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8"] {
        let (status, _, body) = post(&d, Some(ct), echo.as_bytes()).await;
        assert_eq!(status, 200, "{ct}: {}", String::from_utf8_lossy(&body));
    }

    // The mailboxes the mirror brought in, then three new ones and references to them.
    let deadline = Instant::now() + Duration::from_secs(30);
    while d.call("Mailbox/get", json!({"accountId": "becker"})).await["list"].as_array().is_none_or(|l| l.is_empty()) {
        assert!(Instant::now() < deadline, "the mirror brings in the mailboxes");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let r = d
        .args(json!([
            ["Mailbox/set", {"accountId": "becker", "create": {"a": {"name": "Angebote"}, "b": {"name": "Baustellen"}}}, "0"],
            ["Mailbox/set", {"accountId": "becker", "create": {"c": {"name": "Alt"}},
                "update": {"#a": {"name": "Angebote 2027"}, "#x": {"name": "Nichts"}},
                "destroy": ["#b", "#c", "#y"]}, "1"],
        ]))
        .await;
    let (a, b, c) = (
        r[0]["created"]["a"]["id"].as_str().unwrap().to_string(),
        r[0]["created"]["b"]["id"].as_str().unwrap().to_string(),
        r[1]["created"]["c"]["id"].as_str().unwrap().to_string(),
    );
    let mut updated = serde_json::Map::new();
    updated.insert(a.clone(), Value::Null);
    assert_eq!(r[1]["updated"], Value::Object(updated), "{}", r[1]);
    assert_eq!(r[1]["notUpdated"], json!({"#x": {"type": "notFound"}}), "{}", r[1]);
    assert_eq!(r[1]["destroyed"], json!([b, c]), "one from an earlier call, one from this call: {}", r[1]);
    assert_eq!(r[1]["notDestroyed"], json!({"#y": {"type": "notFound"}}), "{}", r[1]);
    let got = d.call("Mailbox/get", json!({"accountId": "becker", "ids": [a], "properties": ["name"]})).await;
    assert_eq!(got["list"][0]["name"], "Angebote 2027", "{got}");
    d.stop().await;
}

/// Mailbox/query and EmailSubmission/query say `canCalculateChanges: true`, and their
/// /queryChanges answer from the query's `queryState` (nothing changed: applying the lists
/// leaves the results as they are, RFC 8620 section 5.6), refuse a state that is not theirs
/// with `cannotCalculateChanges`, after checking the account like every method.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mailbox_and_submission_query_changes_keep_what_their_queries_promise() {
    let (user, pw) = support::unique_user("jmapqcother");
    let d = daemon(&user, &pw).await;
    for (query, changes) in
        [("Mailbox/query", "Mailbox/queryChanges"), ("EmailSubmission/query", "EmailSubmission/queryChanges")]
    {
        // The query, its changes since its own state, and the query again; the mirror may
        // still bring in folders meanwhile: whatever it did, the lists lead to the new results.
        let r = d
            .args(json!([
                [query, {"accountId": "becker"}, "q"],
                [changes, {"accountId": "becker",
                    "#sinceQueryState": {"resultOf": "q", "name": query, "path": "/queryState"}}, "c"],
                [query, {"accountId": "becker"}, "n"],
            ]))
            .await;
        assert_eq!(r[0]["canCalculateChanges"], true, "{query}: {}", r[0]);
        let ids = |v: &Value| -> Vec<String> {
            v["ids"].as_array().unwrap_or_else(|| panic!("{v}")).iter().map(|i| i.as_str().unwrap().into()).collect()
        };
        let state = r[0]["queryState"].as_str().unwrap_or_else(|| panic!("{query}: {}", r[0])).to_string();
        assert_eq!(r[1]["oldQueryState"], state.as_str(), "{changes}: {}", r[1]);
        if r[1]["newQueryState"] == r[2]["queryState"] {
            assert_eq!(apply(&ids(&r[0]), &r[1]), ids(&r[2]), "{changes}: {}", r[1]);
        }
        if r[2]["queryState"] == r[0]["queryState"] {
            assert_eq!((r[1]["removed"].clone(), r[1]["added"].clone()), (json!([]), json!([])), "{}", r[1]);
        }
        let r = d.call(changes, json!({"accountId": "becker", "sinceQueryState": "0000000000000000-1"})).await;
        assert_eq!(r["type"], "cannotCalculateChanges", "{changes}: {r}");
        let r = d.call(changes, json!({"accountId": "fremd", "sinceQueryState": state})).await;
        assert_eq!(r["type"], "accountNotFound", "{changes}: {r}");
    }
    d.stop().await;
}

/// Blob/copy (RFC 8620 section 6.3, core): a raw message of one account of the device becomes
/// readable in its other account under a new id; a copy within one account is refused; a blob
/// the source account cannot read is notFound, and an account the device may not use is
/// fromAccountNotFound.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn blob_copy_between_the_accounts_of_a_device() {
    let (user, pw) = support::unique_user("jmapblobcopy");
    let (info, info_pw) = support::unique_user("jmapblobcopyinfo");
    support::deliver(&user, &mail(1, 1, "Kopie", b""));
    let d = daemon_with(&[("becker", &user, &pw), ("info", &info, &info_pw)]).await;
    wait_for(&d, 1).await;
    let id = id_of(&d, "Kopie").await;
    let r = d.call("Email/get", json!({"accountId": "becker", "ids": [id], "properties": ["blobId"]})).await;
    let blob = r["list"][0]["blobId"].as_str().unwrap().to_string();
    let download = |account: &str, blob: &str| {
        let path = format!("/jmap/download/{account}/{blob}/m.eml?accept=message/rfc822");
        let auth = format!("Bearer {}", d.token);
        async move {
            let mut s = tokio::net::TcpStream::connect(("127.0.0.1", d.d.port)).await.unwrap();
            let req =
                format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: {auth}\r\n\r\n");
            s.write_all(req.as_bytes()).await.unwrap();
            let mut out = Vec::new();
            s.read_to_end(&mut out).await.unwrap();
            String::from_utf8_lossy(&out).split(' ').nth(1).unwrap().parse::<u16>().unwrap()
        }
    };
    assert_eq!(download("info", &blob).await, 404, "not readable in the other account before the copy");
    let r = d
        .call("Blob/copy", json!({"fromAccountId": "becker", "accountId": "info", "blobIds": [blob, "B999999"]}))
        .await;
    let copy = r["copied"][&blob].as_str().unwrap_or_else(|| panic!("{r}")).to_string();
    assert_eq!(r["notCopied"], json!({"B999999": {"type": "notFound"}}), "{r}");
    assert_eq!((r["fromAccountId"].clone(), r["accountId"].clone()), (json!("becker"), json!("info")));
    assert_eq!(download("info", &copy).await, 200, "the copy is readable in the other account");
    let r = d.call("Blob/copy", json!({"fromAccountId": "becker", "accountId": "becker", "blobIds": [blob]})).await;
    assert_eq!(r["type"], "invalidArguments", "a copy within one account is refused: {r}");
    let r = d.call("Blob/copy", json!({"fromAccountId": "fremd", "accountId": "becker", "blobIds": [blob]})).await;
    assert_eq!(r["type"], "fromAccountNotFound", "{r}");
    d.stop().await;
}
