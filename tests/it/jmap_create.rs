//! Email/set create from `bodyStructure`, Email/parse, Email/import of an unknown blob and the
//! one-mailbox rule, against the real daemon (in-process) and the real Dovecot of the local
//! stack: drafts a phone builds reach Dovecot's Drafts as the MIME they describe (read back
//! with doveadm), and come back through Email/get as they were sent, umlauts included. One
//! create goes through the `jmap-client` crate, a client we did not write; the rest is raw
//! JSON, because the error cases are what a client library hides.

use std::time::{Duration, Instant};

use jmap_client::email::EmailBodyPart;
use jmap_client::email::Property;
use mail_parser::MimeHeaders;
use serde_json::{Value, json};

use crate::support::jmapd::{self, Phone};
use crate::support::{self, doveadm};

const USING: [&str; 2] = ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"];
const PDF: &[u8] = b"%PDF-1.4\n% Kostenvoranschlag\n";

/// A daemon for one mailbox "becker" on the Dovecot user `user`, and a device token for it.
async fn daemon(user: &str, pw: &str) -> Phone {
    jmapd::Builder::new()
        .using(&USING)
        .mailbox(jmapd::Mailbox::new("becker", user, pw).name("Hans Becker").folders(r#"["INBOX", "\\Drafts"]"#))
        .start()
        .await
        .phone("becker", &[])
}

/// The messages of `folder` on Dovecot as doveadm shows them (LF line ends), once `n` of
/// them hold `tag` in their decoded Subject (in the raw bytes it may be Q- or B-encoded,
/// whichever is shorter, which depends on the subject's length).
async fn on_dovecot(user: &str, folder: &str, tag: &str, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let uids = doveadm(&["-f", "tab", "fetch", "-u", user, "uid", "mailbox", folder, "all"]);
        let found: Vec<String> = uids
            .lines()
            .skip(1)
            .map(|uid| {
                let out = doveadm(&["-f", "pager", "fetch", "-u", user, "text", "mailbox", folder, "uid", uid.trim()]);
                out.trim_end_matches(['\x0c', '\n']).strip_prefix("text:\n").unwrap_or(&out).to_string()
            })
            .filter(|m| {
                let msg = mail_parser::MessageParser::default().parse(m.as_bytes());
                msg.is_some_and(|msg| msg.subject().is_some_and(|s| s.contains(tag)))
            })
            .collect();
        if found.len() >= n {
            return found;
        }
        assert!(Instant::now() < deadline, "{n} messages with {tag} not in {folder} after 30 s: {found:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The one message of `all` whose Subject holds `word` (in its RFC 2047 form, ASCII).
fn with_subject<'a>(all: &'a [String], word: &str) -> &'a str {
    all.iter()
        .find(|m| {
            let msg = mail_parser::MessageParser::default().parse(m.as_bytes()).unwrap();
            msg.subject().is_some_and(|s| s.contains(word))
        })
        .unwrap_or_else(|| panic!("no message with {word} in its subject"))
}

/// Three drafts from `bodyStructure` (one plain leaf; multipart/alternative; multipart/mixed
/// with an uploaded PDF whose name has umlauts) and one through jmap-client reach Dovecot's
/// Drafts as the MIME they describe, and Email/get gives back what was sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn drafts_from_body_structure_reach_dovecot_as_built() {
    let (user, pw) = support::unique_user("jmapcreate");
    let d = daemon(&user, &pw).await;
    let drafts = d.mailbox_id("drafts").await;
    let pdf = d.upload("application/pdf", PDF).await;
    let tag = format!("t{}", std::process::id());
    let text = "Guten Tag Herr Müller,\nanbei das Angebot für Ihr Bad.\nSchöne Grüße\nHans Becker";
    let html = "<p>Guten Tag Herr Müller,</p><p>anbei das Angebot für Ihr Bad.</p>";
    let file = "Angebot Müller Größe.pdf";
    let base = |subject: &str, body: Value| {
        json!({
            "mailboxIds": {drafts.clone(): true},
            "keywords": {"$draft": true},
            "from": [{"name": "Hans Becker", "email": "becker@bau-firma.test"}],
            "to": [{"name": "Jürgen Müller", "email": "j.mueller@kunde.test"}],
            "subject": format!("{subject} {tag} Grüße"),
            "bodyValues": {"t": {"value": text}, "h": {"value": html}},
            "header:X-Auftrag:asText": "Bad Müller",
            "bodyStructure": body,
        })
    };
    let alternative = json!({"type": "multipart/alternative", "subParts": [
        {"partId": "t", "type": "text/plain"}, {"partId": "h", "type": "text/html"}]});
    let r = d
        .api(json!([["Email/set", {"accountId": "becker", "create": {
            "plain": base("Einfach", json!({"partId": "t", "type": "text/plain"})),
            "alt": base("Alternativ", alternative.clone()),
            "mixed": base("Gemischt", json!({"type": "multipart/mixed", "subParts": [
                alternative,
                {"blobId": pdf, "type": "application/pdf", "name": file, "disposition": "attachment"}]})),
        }}, "s"]]))
        .await;
    let created = &r[0][1]["created"];
    assert!(r[0][1]["notCreated"].as_object().unwrap().is_empty(), "{}", r[0][1]);
    let ids: Vec<String> =
        ["plain", "alt", "mixed"].iter().map(|k| created[*k]["id"].as_str().unwrap().to_string()).collect();

    // The same through a client library we did not write.
    let client = d.client().await;
    let mut req = client.build();
    req.set_email()
        .create()
        .mailbox_ids([drafts.as_str()])
        .subject(format!("Bibliothek {tag} Grüße"))
        .body_value("1".to_string(), text)
        .body_structure(EmailBodyPart::new().part_id("1").content_type("text/plain").into());
    let resp = req.send_single::<jmap_client::core::response::EmailSetResponse>().await.unwrap();
    assert!(resp.created_ids().is_some_and(|mut i| i.next().is_some()), "jmap-client's create went through");

    // What the phone reads back.
    let r = d
        .api(json!([["Email/get", {"accountId": "becker", "ids": ids, "fetchAllBodyValues": true,
            "properties": ["subject", "preview", "bodyValues", "textBody", "htmlBody", "attachments", "header:X-Auftrag:asText"]}, "g"]]))
        .await;
    let list = r[0][1]["list"].as_array().unwrap();
    for e in list {
        assert!(e["subject"].as_str().unwrap().ends_with(" Grüße"), "{e}");
        assert_eq!(e["header:X-Auftrag:asText"], "Bad Müller");
        assert!(
            e["preview"].as_str().unwrap().starts_with("Guten Tag Herr Müller, anbei das Angebot für Ihr Bad."),
            "{e}"
        );
        // The message has CRLF line ends, as RFC 5322 wants; the text is the same.
        let t = e["textBody"][0]["partId"].as_str().unwrap();
        assert_eq!(e["bodyValues"][t]["value"].as_str().unwrap().replace("\r\n", "\n"), text, "{e}");
    }
    let h = list[1]["htmlBody"][0]["partId"].as_str().unwrap();
    assert_eq!(list[1]["bodyValues"][h]["value"], html);
    assert_eq!(list[2]["attachments"][0]["name"], file);
    assert_eq!(list[2]["attachments"][0]["type"], "application/pdf");
    let part_blob = list[2]["attachments"][0]["blobId"].as_str().unwrap();
    assert_eq!(client.download(part_blob).await.unwrap(), PDF);

    // What Dovecot has: the bytes the write-back appended to Drafts.
    let all = on_dovecot(&user, "Drafts", &tag, 4).await;
    let plain = with_subject(&all, "Einfach");
    assert!(plain.contains("Content-Type: text/plain; charset=\"utf-8\""), "{plain}");
    assert!(!plain.contains("multipart"), "{plain}");
    assert!(plain.contains("Subject: =?utf-8?"), "RFC 2047:\n{plain}");
    assert!(plain.contains("X-Auftrag: =?utf-8?"), "RFC 2047:\n{plain}");
    let alt = with_subject(&all, "Alternativ");
    assert!(alt.contains("Content-Type: multipart/alternative;"), "{alt}");
    assert!(alt.contains("Content-Type: text/html; charset=\"utf-8\""), "{alt}");
    let mixed = with_subject(&all, "Gemischt");
    assert!(mixed.contains("Content-Type: multipart/mixed;"), "{mixed}");
    assert!(mixed.contains("Content-Type: multipart/alternative;"), "{mixed}");
    assert!(mixed.contains("filename*=UTF-8''Angebot%20M%C3%BCller%20Gr%C3%B6%C3%9Fe.pdf"), "RFC 2231:\n{mixed}");
    assert!(mixed.is_ascii(), "every byte 7-bit:\n{mixed}");
    let msg = mail_parser::MessageParser::default().parse(mixed.as_bytes()).unwrap();
    assert_eq!(msg.attachment(0).unwrap().attachment_name(), Some(file));
    assert_eq!(msg.attachment(0).unwrap().contents(), PDF);
    assert_eq!(msg.body_text(0).unwrap().replace("\r\n", "\n"), text);
    with_subject(&all, "Bibliothek");
    d.stop().await;
}

/// Email/parse reads an uploaded .eml and a message attached to a stored draft, and gives each
/// part a blob that downloads; a blob that is not a message is notParsable, an unknown one
/// notFound.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn email_parse_reads_uploaded_and_attached_messages() {
    let (user, pw) = support::unique_user("jmapparse");
    let d = daemon(&user, &pw).await;
    let drafts = d.mailbox_id("drafts").await;
    let eml = "From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <j@kunde.test>\r\nTo: becker@bau-firma.test\r\n\
               Subject: =?UTF-8?Q?Anfrage_f=C3=BCr_die_K=C3=BCche?=\r\nMessage-ID: <anfrage.1@kunde.test>\r\n\
               Date: Mon, 2 Nov 2026 09:15:00 +0100\r\nMIME-Version: 1.0\r\n\
               Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
               K\u{f6}nnen Sie n\u{e4}chste Woche vorbeikommen?\r\n";
    let eml_blob = d.upload("message/rfc822", eml.as_bytes()).await;
    let pdf = d.upload("application/pdf", PDF).await;

    // Through jmap-client.
    let client = d.client().await;
    let e = client
        .email_parse(&eml_blob, Some([Property::Subject, Property::From, Property::Preview]), None::<Vec<_>>, None)
        .await
        .unwrap();
    assert_eq!(e.subject(), Some("Anfrage für die Küche"));
    assert_eq!(e.from().unwrap()[0].name(), Some("Jürgen Müller"));
    assert_eq!(e.preview(), Some("Können Sie nächste Woche vorbeikommen?"));

    let r = d
        .api(json!([["Email/parse", {"accountId": "becker", "blobIds": [eml_blob, pdf, "B999999"], "fetchTextBodyValues": true,
            "properties": ["id", "mailboxIds", "keywords", "receivedAt", "threadId", "blobId", "messageId", "subject", "sentAt", "bodyValues", "textBody"]}, "p"]]))
        .await;
    let p = &r[0][1];
    assert_eq!(p["notParsable"], json!([pdf]), "{p}");
    assert_eq!(p["notFound"], json!(["B999999"]), "{p}");
    let e = &p["parsed"][&eml_blob];
    for k in ["id", "mailboxIds", "keywords", "receivedAt", "threadId"] {
        assert_eq!(e[k], Value::Null, "{k}: {e}");
    }
    assert_eq!(e["blobId"], json!(eml_blob));
    assert_eq!(e["messageId"], json!(["anfrage.1@kunde.test"]));
    assert_eq!(e["sentAt"], "2026-11-02T08:15:00Z");
    let t = e["textBody"][0]["partId"].as_str().unwrap();
    assert_eq!(e["bodyValues"][t]["value"], "Können Sie nächste Woche vorbeikommen?\r\n");
    // The part has a blob of its own, which downloads as the decoded text.
    let part = e["textBody"][0]["blobId"].as_str().unwrap();
    assert_eq!(client.download(part).await.unwrap(), "Können Sie nächste Woche vorbeikommen?\r\n".as_bytes());

    // A draft that forwards it as an attached message; the attached part parses as the original.
    let r = d
        .api(json!([
            ["Email/set", {"accountId": "becker", "create": {"fwd": {
                "mailboxIds": {drafts.clone(): true}, "subject": "Fwd: Anfrage für die Küche",
                "bodyValues": {"t": {"value": "Zur Info."}},
                "bodyStructure": {"subParts": [{"partId": "t"}, {"blobId": eml_blob, "type": "message/rfc822"}]}}}}, "s"],
            ["Email/get", {"accountId": "becker", "ids": ["#fwd"],
                "properties": ["attachments"]}, "g"],
        ]))
        .await;
    let att = &r[1][1]["list"][0]["attachments"][0];
    assert_eq!(att["type"], "message/rfc822", "{}", r[1][1]);
    let part_blob = att["blobId"].as_str().unwrap();
    let r = d
        .api(json!([["Email/parse", {"accountId": "becker", "blobIds": [part_blob], "properties": ["subject", "from"]}, "p"]]))
        .await;
    assert_eq!(r[0][1]["parsed"][part_blob]["subject"], "Anfrage für die Küche", "{}", r[0][1]);
    assert_eq!(r[0][1]["parsed"][part_blob]["from"][0]["email"], "j@kunde.test");
    d.stop().await;
}

/// An import of a blob that does not exist is invalidProperties naming blobId (RFC 8621 4.8);
/// an email is in one mailbox, and every way of giving it two is tooManyMailboxes; a create's
/// error names the path of what is wrong.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_import_blob_and_one_mailbox_per_email() {
    let (user, pw) = support::unique_user("jmaponembox");
    let d = daemon(&user, &pw).await;
    let drafts = d.mailbox_id("drafts").await;
    let inbox = d.mailbox_id("inbox").await;

    let (status, _, b) = d.d.authed("GET", "/.well-known/jmap", &d.token, Some("application/json"), b"").await;
    assert_eq!(status, 200);
    let session: Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(
        session["accounts"]["becker"]["accountCapabilities"]["urn:ietf:params:jmap:mail"]["maxMailboxesPerEmail"],
        1
    );

    let eml = b"From: a@kunde.test\r\nSubject: Import\r\nMessage-ID: <imp@kunde.test>\r\n\r\nHallo\r\n";
    let blob = d.upload("message/rfc822", eml).await;
    let r = d
        .api(json!([["Email/import", {"accountId": "becker", "emails": {
            "gone": {"blobId": "B999999", "mailboxIds": {inbox.clone(): true}},
            "two": {"blobId": blob, "mailboxIds": {inbox.clone(): true, drafts.clone(): true}},
        }}, "i"]]))
        .await;
    let nc = &r[0][1]["notCreated"];
    assert_eq!(nc["gone"]["type"], "invalidProperties", "{}", r[0][1]);
    assert_eq!(nc["gone"]["properties"], json!(["blobId"]));
    assert_eq!(nc["two"]["type"], "tooManyMailboxes");

    let draft = |mailboxes: Value| {
        json!({"mailboxIds": mailboxes, "subject": "Entwurf", "bodyValues": {"t": {"value": "x"}},
               "bodyStructure": {"partId": "t"}})
    };
    let r = d
        .api(json!([["Email/set", {"accountId": "becker", "create": {
            "one": draft(json!({drafts.clone(): true})),
            "two": draft(json!({drafts.clone(): true, inbox.clone(): true})),
            "bad": {"mailboxIds": {drafts.clone(): true}, "bodyValues": {"t": {"value": "x"}},
                    "bodyStructure": {"subParts": [{"partId": "t"}, {"partId": "t", "blobId": blob}]}},
        }}, "s"]]))
        .await;
    let res = &r[0][1];
    assert_eq!(res["notCreated"]["two"]["type"], "tooManyMailboxes", "{res}");
    assert_eq!(
        res["notCreated"]["bad"]["properties"],
        json!(["bodyStructure/subParts/1/partId", "bodyStructure/subParts/1/blobId"]),
        "{res}"
    );
    let id = res["created"]["one"]["id"].as_str().unwrap().to_string();
    let r = d
        .api(json!([["Email/set", {"accountId": "becker", "update": {
            id.clone(): {"mailboxIds": {drafts.clone(): true, inbox.clone(): true}},
        }}, "u1"], ["Email/set", {"accountId": "becker", "update": {
            id.clone(): {format!("mailboxIds/{inbox}"): true},
        }}, "u2"], ["Email/set", {"accountId": "becker", "update": {
            id.clone(): {format!("mailboxIds/{inbox}"): true, format!("mailboxIds/{drafts}"): null},
        }}, "u3"]]))
        .await;
    assert_eq!(r[0][1]["notUpdated"][&id]["type"], "tooManyMailboxes", "{}", r[0][1]);
    assert_eq!(r[1][1]["notUpdated"][&id]["type"], "tooManyMailboxes", "{}", r[1][1]);
    assert!(r[2][1]["updated"].get(&id).is_some(), "a move is one mailbox for another: {}", r[2][1]);
    // A whole mailboxIds whose value is not true is refused (RFC 8621 section 4.1.1), not taken
    // as a move into that mailbox.
    let r = d
        .api(json!([["Email/set", {"accountId": "becker", "update": {
            id.clone(): {"mailboxIds": {drafts.clone(): false}},
        }}, "u4"]]))
        .await;
    assert_eq!(r[0][1]["notUpdated"][&id]["type"], "invalidProperties", "{}", r[0][1]);
    assert_eq!(r[0][1]["notUpdated"][&id]["properties"], json!(["mailboxIds"]), "{}", r[0][1]);
    d.stop().await;
}

/// Email/set create and Email/import read mailboxIds, keywords and receivedAt as Email/copy
/// does (RFC 8621 section 4.1.1): a keyword that is not `true` and a receivedAt that is not a
/// UTCDate are invalidProperties, never dropped or taken for "now".
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn creates_and_imports_refuse_false_keywords_and_bad_dates() {
    let (user, pw) = support::unique_user("jmapstrict");
    let d = daemon(&user, &pw).await;
    let drafts = d.mailbox_id("drafts").await;
    let eml = b"From: a@kunde.test\r\nSubject: Streng\r\nMessage-ID: <streng@kunde.test>\r\n\r\nHallo\r\n";
    let blob = d.upload("message/rfc822", eml).await;
    let draft = |extra: Value| {
        let mut o = json!({"mailboxIds": {drafts.clone(): true}, "subject": "Streng",
                           "bodyValues": {"t": {"value": "x"}}, "bodyStructure": {"partId": "t"}});
        for (k, v) in extra.as_object().unwrap() {
            o[k] = v.clone();
        }
        o
    };
    let import = |extra: Value| {
        let mut o = json!({"blobId": blob.clone(), "mailboxIds": {drafts.clone(): true}});
        for (k, v) in extra.as_object().unwrap() {
            o[k] = v.clone();
        }
        o
    };
    let r = d
        .api(json!([["Email/set", {"accountId": "becker", "create": {
            "kw": draft(json!({"keywords": {"$seen": false}})),
            "date": draft(json!({"receivedAt": "gestern"})),
        }}, "s"], ["Email/import", {"accountId": "becker", "emails": {
            "kw": import(json!({"keywords": {"$flagged": false}})),
            "date": import(json!({"receivedAt": "2026-13-45"})),
        }}, "i"]]))
        .await;
    for res in [&r[0][1], &r[1][1]] {
        assert_eq!(res["notCreated"]["kw"]["type"], "invalidProperties", "{res}");
        assert_eq!(res["notCreated"]["kw"]["properties"], json!(["keywords"]), "{res}");
        assert_eq!(res["notCreated"]["date"]["properties"], json!(["receivedAt"]), "{res}");
        assert!(res["created"].as_object().is_none_or(|m| m.is_empty()), "{res}");
    }
    d.stop().await;
}
