//! `Mailbox/queryChanges` and `EmailSubmission/queryChanges` (RFC 8620 section 5.6) against
//! the real daemon (in-process) and the real Dovecot of the local stack: a phone keeps the
//! results of a query, things change (folders made by the phone and on the server, one
//! destroyed; submissions made and one cancelled), and the `removed`/`added` it gets turn its
//! old results into what the query gives now. A garbage state is `cannotCalculateChanges`,
//! a missing one `invalidArguments`, too small a `maxChanges` `tooManyChanges`.
//!
//! Each test makes its own Dovecot user, data directory, config and ports; nothing sleeps to
//! wait for a server: every wait polls for its condition with a timeout.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::jmapd::{self, Phone, apply};
use crate::support::{self, doveadm};

const USING: [&str; 3] = ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail", "urn:ietf:params:jmap:submission"];

/// A daemon for one mailbox "becker" (Dovecot user `user`) that also mirrors the folders
/// `Lager`, `Kunden` and `Kunden/Meier` once the server has them, whose relay sends only during an office session (none is
/// opened, so submissions wait and can be cancelled), and a phone's token for it.
async fn daemon(user: &str, pw: &str) -> Phone {
    jmapd::Builder::new()
        .using(&USING)
        .relay(r#"send_while = "session""#)
        .mailbox(
            jmapd::Mailbox::new("becker", user, pw)
                .folders(r#"["INBOX", "\\Sent", "\\Drafts", "\\Trash", "Lager", "Kunden", "Kunden/Meier"]"#),
        )
        .start()
        .await
        .phone("becker", &[])
}

/// The ids and queryState of `method` with these arguments (accountId added).
async fn query(d: &Phone, method: &str, args: &Value) -> (Vec<String>, String) {
    let mut args = args.clone();
    args["accountId"] = json!("becker");
    let r = d.call(method, args).await;
    assert_eq!(r["canCalculateChanges"], true, "{method}: {r}");
    let ids = r["ids"].as_array().unwrap_or_else(|| panic!("{method}: {r}"));
    (ids.iter().map(|i| i.as_str().unwrap().to_string()).collect(), r["queryState"].as_str().unwrap().to_string())
}

/// `method` (a /queryChanges) with the query's arguments and these (accountId added).
async fn changes(d: &Phone, method: &str, query: &Value, extra: Value) -> Value {
    let mut args = query.clone();
    args["accountId"] = json!("becker");
    for (k, v) in extra.as_object().unwrap() {
        args[k] = v.clone();
    }
    d.call(method, args).await
}

/// The id of the mailbox whose `prop` (name or role) is `value`, once there is one.
async fn mailbox(d: &Phone, prop: &str, value: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = d.call("Mailbox/get", json!({"accountId": "becker", "properties": ["name", "role"]})).await;
        let found = r["list"].as_array().and_then(|l| l.iter().find(|m| m[prop] == value).cloned());
        if let Some(m) = found {
            return m["id"].as_str().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "no mailbox with {prop} {value}: {r}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().unwrap_or_else(|| panic!("not a list: {v}")).iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

/// Mailbox/query, then a folder made by the phone, two made on Dovecot and mirrored (one the
/// parent of a folder mirrored before), and one destroyed: for a plain query, a role filter,
/// a name-sorted tree and the top-level folders, queryChanges from the
/// old state turns the old results into the new ones; the plain query gets exactly the three
/// folders; the lists respect maxChanges, and a garbage or missing state is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mailbox_query_changes_turn_the_old_folder_list_into_the_new() {
    let (user, pw) = support::unique_user("jmapqcmbox");
    // Kunden/Meier without its parent: a top-level mailbox named "Kunden/Meier" until the
    // server has Kunden too.
    doveadm(&["mailbox", "create", "-u", &user, "Kunden/Meier"]);
    let d = daemon(&user, &pw).await;
    mailbox(&d, "role", "drafts").await;
    let meier = mailbox(&d, "name", "Kunden/Meier").await;
    let r = d.call("Mailbox/set", json!({"accountId": "becker", "create": {"a": {"name": "Alt"}}})).await;
    let alt = r["created"]["a"]["id"].as_str().unwrap_or_else(|| panic!("{r}")).to_string();
    let queries = [
        json!({}),
        json!({"filter": {"hasAnyRole": false}}),
        json!({"sort": [{"property": "name"}], "sortAsTree": true, "filterAsTree": true}),
        // Meier leaves this one when Kunden comes, though Meier itself did not change.
        json!({"filter": {"parentId": null}, "sort": [{"property": "name"}]}),
    ];
    let mut before = Vec::new();
    for q in &queries {
        before.push(query(&d, "Mailbox/query", q).await);
    }
    assert!(before[0].0.contains(&alt), "{:?}", before[0]);
    assert!(before[3].0.contains(&meier), "{:?}", before[3]);

    let r = d.call("Mailbox/set", json!({"accountId": "becker", "create": {"n": {"name": "Neu"}}})).await;
    let neu = r["created"]["n"]["id"].as_str().unwrap_or_else(|| panic!("{r}")).to_string();
    doveadm(&["mailbox", "create", "-u", &user, "Lager"]);
    doveadm(&["mailbox", "create", "-u", &user, "Kunden"]);
    postbote::mirror::sync_once(&d.d.app, "becker", false).await.unwrap();
    let lager = mailbox(&d, "name", "Lager").await;
    mailbox(&d, "name", "Kunden").await;
    assert_eq!(mailbox(&d, "name", "Meier").await, meier, "Meier now sits below Kunden");
    let r = d.call("Mailbox/set", json!({"accountId": "becker", "destroy": [alt]})).await;
    assert_eq!(r["destroyed"], json!([alt]), "{r}");

    for (q, (old, state)) in queries.iter().zip(&before) {
        let c = changes(&d, "Mailbox/queryChanges", q, json!({"sinceQueryState": state, "calculateTotal": true})).await;
        let (new, _) = query(&d, "Mailbox/query", q).await;
        assert_eq!(apply(old, &c), new, "query {q}: old {old:?} changes {c}");
        assert_eq!(c["oldQueryState"], state.as_str());
        assert_eq!(c["total"], new.len(), "{c}");
        assert!(new.contains(&neu) && new.contains(&lager) && !new.contains(&alt), "{new:?}");
        // From the new state: nothing (more) to do.
        let again =
            changes(&d, "Mailbox/queryChanges", q, json!({"sinceQueryState": c["newQueryState"].clone()})).await;
        assert_eq!(apply(&new, &again), new, "{again}");
    }
    // Meier's parent came: the store logged Meier as updated, so the top-level query gets
    // the exact change (Meier removed, not added again) without the whole list.
    let (new, _) = query(&d, "Mailbox/query", &queries[3]).await;
    assert!(!new.contains(&meier), "no longer top-level: {new:?}");
    let c = changes(&d, "Mailbox/queryChanges", &queries[3], json!({"sinceQueryState": before[3].1})).await;
    assert!(strings(&c["removed"]).contains(&meier), "{c}");
    assert!(c["added"].as_array().unwrap().len() < new.len(), "not the whole list again: {c}");
    // A tree query gets the whole list again: a parent's role or sort order also places its
    // children, and the log does not carry those down.
    let (new, _) = query(&d, "Mailbox/query", &queries[2]).await;
    let c = changes(&d, "Mailbox/queryChanges", &queries[2], json!({"sinceQueryState": before[2].1})).await;
    assert_eq!(c["added"].as_array().unwrap().len(), new.len(), "{c}");
    // A query that reads only the mailbox itself gets the exact changes.
    let (old, state) = &before[0];
    let c = changes(&d, "Mailbox/queryChanges", &queries[0], json!({"sinceQueryState": state})).await;
    assert!(strings(&c["removed"]).contains(&alt), "{c}");
    let added: Vec<String> = c["added"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap().into()).collect();
    assert!(added.contains(&neu) && added.contains(&lager), "{c}");
    assert!(added.len() < old.len(), "not the whole list again: {c}");

    let c = changes(&d, "Mailbox/queryChanges", &queries[0], json!({"sinceQueryState": state, "maxChanges": 1})).await;
    assert_eq!(c["type"], "tooManyChanges", "{c}");
    let c = changes(&d, "Mailbox/queryChanges", &queries[0], json!({"sinceQueryState": "garbage"})).await;
    assert_eq!(c["type"], "cannotCalculateChanges", "{c}");
    let c = changes(&d, "Mailbox/queryChanges", &queries[0], json!({})).await;
    assert_eq!(c["type"], "invalidArguments", "{c}");
    d.stop().await;
}

/// EmailSubmission/query, then a submission made and one cancelled (the relay waits for an
/// office session, so both wait in the queue): for a plain query and one for pending
/// submissions, newest first, queryChanges turns the old results into the new ones; the
/// lists respect maxChanges, and a garbage state is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn submission_query_changes_turn_the_old_results_into_the_new() {
    let (user, pw) = support::unique_user("jmapqcsub");
    let d = daemon(&user, &pw).await;
    let drafts = mailbox(&d, "role", "drafts").await;
    let submit = |n: u32| {
        let (d, drafts) = (&d, drafts.clone());
        async move {
            let r = d
                .args(json!([
                    ["Email/set", {"accountId": "becker", "create": {"d": {
                        "mailboxIds": {drafts: true}, "from": [{"email": "becker@bau-firma.test"}],
                        "to": [{"email": format!("kunde{n}@kunde.test")}], "subject": format!("Angebot {n}"),
                        "textBody": [{"partId": "1"}], "bodyValues": {"1": {"value": "Guten Tag"}}}}}, "e"],
                    ["EmailSubmission/set", {"accountId": "becker",
                        "create": {"s": {"identityId": "I0", "emailId": "#d"}}}, "s"],
                ]))
                .await;
            r[1]["created"]["s"]["id"].as_str().unwrap_or_else(|| panic!("not submitted: {r:?}")).to_string()
        }
    };
    let s1 = submit(1).await;
    let s2 = submit(2).await;
    let queries = [
        json!({}),
        json!({"filter": {"undoStatus": "pending"}, "sort": [{"property": "sentAt", "isAscending": false}]}),
    ];
    let mut before = Vec::new();
    for q in &queries {
        before.push(query(&d, "EmailSubmission/query", q).await);
    }
    assert_eq!(before[0].0, [s1.clone(), s2.clone()]);
    assert_eq!(before[1].0.len(), 2, "{:?}", before[1]);

    let s3 = submit(3).await;
    let r = d
        .call("EmailSubmission/set", json!({"accountId": "becker", "update": {s1.clone(): {"undoStatus": "canceled"}}}))
        .await;
    assert!(r["updated"].get(&s1).is_some(), "{r}");

    for (q, (old, state)) in queries.iter().zip(&before) {
        let c = changes(&d, "EmailSubmission/queryChanges", q, json!({"sinceQueryState": state})).await;
        let (new, _) = query(&d, "EmailSubmission/query", q).await;
        assert_eq!(apply(old, &c), new, "query {q}: old {old:?} changes {c}");
        assert!(new.contains(&s3) && new.contains(&s2), "{new:?}");
    }
    let (new, _) = query(&d, "EmailSubmission/query", &queries[1]).await;
    assert!(!new.contains(&s1), "the cancelled one is no longer pending: {new:?}");
    // Exactly what changed: s1 (cancelled) and s3 (new); s2 stays where it was.
    let c = changes(&d, "EmailSubmission/queryChanges", &queries[0], json!({"sinceQueryState": before[0].1})).await;
    assert_eq!(c["removed"], json!([s1]), "{c}");
    assert_eq!(c["added"], json!([{"id": s1, "index": 0}, {"id": s3, "index": 2}]), "{c}");

    let c = changes(
        &d,
        "EmailSubmission/queryChanges",
        &queries[0],
        json!({"sinceQueryState": before[0].1, "maxChanges": 1}),
    )
    .await;
    assert_eq!(c["type"], "tooManyChanges", "{c}");
    let c = changes(&d, "EmailSubmission/queryChanges", &queries[0], json!({"sinceQueryState": "1-2-3"})).await;
    assert_eq!(c["type"], "cannotCalculateChanges", "{c}");
    d.stop().await;
}
