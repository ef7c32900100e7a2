//! The console's outbox, SMTP-logging and deliverability pages over HTTP, against a running
//! daemon whose outbox sends through the stack's Postfix and whose doctor asks the stack's
//! unbound: the queue filtered by mailbox and state, cancel, the decision on an `unknown`
//! message (through the same `outbox` functions as `postbote queue`), an employee kept to their
//! own mail; SMTP recording switched on until a time, its transcript beside the message, read
//! and deleted; the doctor run from the page, its verdicts and the records to publish.

use std::time::Duration;

use postbote::outbox::{self, Origin, Outgoing, State};

use crate::support::console::{self, Browser, body, csrf, header};
use crate::support::{self, jmapd};

/// A daemon with the console; mailbox "becker" sends on the direct path through the stack's
/// Postfix with its own SMTP login, behind the office-session gate; "info" is on the relay.
pub(crate) struct Ops {
    pub(crate) d: jmapd::Daemon,
    pub(crate) port: u16,
    /// Unique to this daemon: in recipients' local parts.
    pub(crate) tag: String,
    pub(crate) from: String,
    pub(crate) smtp_pw: String,
}

pub(crate) async fn start_ops() -> Ops {
    let (u1, p1) = support::unique_user("ops-b");
    let (u2, p2) = support::unique_user("ops-i");
    let tag = support::unique_token().replace('.', "x");
    let from = format!("ops{tag}@bau-firma.test");
    let smtp_pw = format!("{tag}-smtp-Pw!");
    support::stack(&["add-user", &from, &smtp_pw], None);
    let b = jmapd::Builder::new()
        .mailbox(jmapd::Mailbox::new("becker", &u1, &p1).address(&from).transport("direct").smtp(&from, &smtp_pw))
        .mailbox(jmapd::Mailbox::new("info", &u2, &p2).kind("shared"))
        .section(&format!(
            "[direct]\nhost = \"localhost\"\nport = 10587\ntls = \"starttls\"\nca_file = \"{}\"\nsend_while = \"session\"\n",
            support::ca_file().display()
        ))
        .section(&format!("[doctor]\nresolver = \"127.0.0.1:{}\"\ntimeout = \"5s\"\n", support::DNS_PORT));
    let (d, port) = console::start_with(b, "").await;
    Ops { d, port, tag, from, smtp_pw }
}

impl Ops {
    /// Queue a message of `mailbox` to `kunde-TAG-local@kunde.test`; its id.
    pub(crate) fn queue(&self, mailbox: &str, local: &str, subject: &str) -> i64 {
        let from = if mailbox == "becker" { self.from.clone() } else { format!("{mailbox}@bau-firma.test") };
        let raw =
            format!("From: Büro <{from}>\r\nTo: {}\r\nSubject: {subject}\r\n\r\nGuten Tag.\r\n", self.rcpt(local));
        let origin = Origin::Office;
        let out =
            Outgoing { mailbox: mailbox.into(), raw: raw.into_bytes(), recipients: None, origin, discard_after: None };
        outbox::enqueue(&self.d.app, out).unwrap().id
    }

    pub(crate) fn rcpt(&self, local: &str) -> String {
        format!("{local}-{}@kunde.test", self.tag)
    }

    pub(crate) fn state(&self, id: i64) -> State {
        outbox::state(&self.d.app, id).unwrap().unwrap()
    }

    /// Make a queued message `unknown`, as a crash while sending would: `sending` with its
    /// envelope in flight, then the start-up's look at the queue.
    pub(crate) fn make_unknown(&self, id: i64) {
        assert!(self.d.app.store.outbox().begin(id).unwrap());
        self.d.app.store.outbox().mark_unknown().unwrap();
        assert_eq!(self.state(id), State::Unknown);
    }

    pub(crate) async fn wait_state(&self, id: i64, want: State, limit: Duration) {
        jmapd::eventually(limit, &format!("message {id} to be {want}"), || async { self.state(id) == want }).await;
    }
}

/// Office time-zone `datetime-local` text for a unix time.
fn local(app: &postbote::app::App, at: i64) -> String {
    let tz = app.config.agent.time_zone;
    chrono::DateTime::from_timestamp(at, 0).unwrap().with_timezone(&tz).format("%Y-%m-%dT%H:%M").to_string()
}

#[tokio::test]
async fn outbox_is_filtered_cancels_and_settles_unknown_mail_and_keeps_employees_to_their_own() {
    let o = start_ops().await;
    let (a, b, c) =
        (o.queue("becker", "a", "Angebot A"), o.queue("becker", "b", "Angebot B"), o.queue("becker", "c", "C"));
    let i = o.queue("info", "i", "Anfrage");
    let mut office = Browser::new(o.port);
    assert_eq!(office.login("anna", "Büro-Passwort 1").await.0, 303);

    let all = body(&office.get("/outbox").await);
    for id in [a, b, c, i] {
        assert!(all.contains(&format!("id=\"msg-{id}\"")), "{id} listed: {all}");
    }
    let page = body(&office.get("/outbox?mailbox=becker&state=queued").await);
    assert!(page.contains(&format!("msg-{a}")) && !page.contains(&format!("msg-{i}")), "{page}");
    assert!(body(&office.get("/outbox?state=sent").await).contains("no-mail"));
    assert_eq!(office.get("/outbox?state=postponed").await.0, 400);

    // One message: its recipient and its trail; cancel it, and again (refused, it is final).
    let page = body(&office.get(&format!("/outbox/{a}")).await);
    assert!(page.contains(&o.rcpt("a")) && page.contains("queued for 1 recipient(s)"), "{page}");
    let token = csrf(&page);
    assert_eq!(office.post(&format!("/outbox/{a}/cancel"), &[], &[]).await.0, 403, "no CSRF token");
    let r = office.post(&format!("/outbox/{a}/cancel"), &[("csrf", &token)], &[]).await;
    assert_eq!(header(&r, "location"), [format!("/outbox/{a}?done=cancelled").as_str()]);
    assert_eq!(o.state(a), State::Cancelled);
    let r = office.post(&format!("/outbox/{a}/cancel"), &[("csrf", &token)], &[]).await;
    assert_eq!(header(&r, "location"), [format!("/outbox/{a}?done=refused").as_str()]);
    assert!(body(&office.get(&format!("/outbox/{a}?done=cancelled")).await).contains("abgebrochen"));

    // Unknown: the decision with the evidence; "was sent" settles it as `queue sent` would.
    o.make_unknown(b);
    let page = body(&office.get(&format!("/outbox/{b}")).await);
    assert!(page.contains("id=\"decide\"") && page.contains("sent-none"), "{page}");
    assert!(page.contains("Wurde gesendet") && page.contains("Noch einmal senden"), "{page}");
    let r = office.post(&format!("/outbox/{b}/sent"), &[("csrf", &token)], &[]).await;
    assert_eq!(header(&r, "location"), [format!("/outbox/{b}?done=sent").as_str()]);
    let (m, _) = o.d.app.store.outbox().show(b).unwrap().unwrap();
    assert_eq!(m.status, State::Sent);
    assert_eq!(m.resolved.as_deref(), Some("console:anna said it went out"));
    // "Send again": queued again, waiting for the gate.
    o.make_unknown(c);
    let r = office.post(&format!("/outbox/{c}/retry"), &[("csrf", &token)], &[]).await;
    assert_eq!(header(&r, "location"), [format!("/outbox/{c}?done=retried").as_str()]);
    assert_eq!(o.state(c), State::Queued);
    let audit = body(&office.get("/audit").await);
    for action in ["outbox.cancel", "outbox.mark_sent", "outbox.retry"] {
        assert!(audit.contains(action), "{action}: {audit}");
    }

    // The employee: their own mailbox only, and no buttons.
    let mut e = Browser::new(o.port);
    assert_eq!(e.login("becker", "Becker-Passwort 2").await.0, 303);
    let page = body(&e.get("/outbox").await);
    assert!(page.contains(&format!("msg-{c}")) && !page.contains(&format!("msg-{i}")), "{page}");
    assert!(!body(&e.get("/outbox?state=queued").await).contains(&format!("msg-{i}")));
    assert_eq!(e.get(&format!("/outbox/{i}")).await.0, 403);
    assert_eq!(e.get("/outbox?mailbox=info").await.0, 403);
    let page = body(&e.get(&format!("/outbox/{c}")).await);
    assert!(!page.contains("do-cancel"), "{page}");
    let r = e.post(&format!("/outbox/{c}/cancel"), &[("csrf", &csrf(&page))], &[]).await;
    assert_eq!(r.0, 403);
    assert_eq!(o.state(c), State::Queued);
    assert_eq!(e.get("/outbox/999999").await.0, 404);
    o.d.stop().await;
}

#[tokio::test]
async fn smtp_recording_is_switched_on_until_a_time_and_its_transcripts_are_read_and_deleted() {
    let o = start_ops().await;
    let app = o.d.app.clone();
    let mut office = Browser::new(o.port);
    assert_eq!(office.login("anna", "Büro-Passwort 1").await.0, 303);
    let page = body(&office.get("/smtp-logs").await);
    assert!(page.contains("id=\"warning\"") && page.contains("wer wem wann schreibt"), "{page}");
    assert!(page.contains("transport-direct") && page.contains("no-transcripts"), "{page}");
    let token = csrf(&page);
    let now = postbote::store::now();

    // A switch-off time in the past, or weeks away, is refused; two hours is taken.
    for bad in [local(&app, now - 120), local(&app, now + 30 * 86_400), "morgen".into()] {
        let r = office.post("/smtp-logs/on", &[("csrf", &token), ("transport", "direct"), ("until", &bad)], &[]).await;
        assert_eq!(r.0, 400, "{bad}");
    }
    let until = local(&app, now + 7200);
    let r = office.post("/smtp-logs/on", &[("csrf", &token), ("transport", "direct"), ("until", &until)], &[]).await;
    assert_eq!(r.0, 303, "{}", body(&r));
    let rec = outbox::logging::recording(&app, postbote::config::Transport::Direct).unwrap();
    assert!(rec.on && !rec.by_config, "{rec:?}");
    let end = rec.until().unwrap();
    assert!((now + 7200 - 60..=now + 7200).contains(&end), "until {end}, asked {}", now + 7200);
    assert!(outbox::status(&app, "becker").unwrap().transcripts, "status shows the recording");
    assert!(body(&office.get("/smtp-logs").await).contains("Mitschnitt an bis"));

    let mut e = Browser::new(o.port);
    assert_eq!(e.login("becker", "Becker-Passwort 2").await.0, 303);
    assert_eq!(e.get("/smtp-logs").await.0, 403);

    // A message goes out once an office session opens; its session is recorded.
    let id = o.queue("becker", "log", "Mitschnitt");
    let sessions = body(&office.get("/sessions").await);
    let r = office.post("/sessions/open", &[("csrf", &csrf(&sessions)), ("hours", "1")], &[]).await;
    assert_eq!(r.0, 303);
    o.wait_state(id, State::Sent, Duration::from_secs(30)).await;
    let page = body(&office.get(&format!("/outbox/{id}")).await);
    assert!(page.contains("id=\"transcript\"") && page.contains(&format!("MAIL FROM:&lt;{}&gt;", o.from)), "{page}");
    assert!(page.contains(&format!("queue message {id} ")), "{page}");
    assert!(!page.contains(&o.smtp_pw), "no password on the page");
    let employee_view = body(&e.get(&format!("/outbox/{id}")).await);
    assert!(!employee_view.contains("MAIL FROM"), "transcripts are for office accounts");

    let files = postbote::smtp::transcript::list(&outbox::logging::transcript_dir(&app));
    assert!(!files.is_empty());
    let page = body(&office.get("/smtp-logs").await);
    assert!(page.contains(&files[0].name), "{page}");
    let one = body(&office.get(&format!("/smtp-logs/{}", files[0].name)).await);
    assert!(one.contains("RCPT TO:") && !one.contains(&o.smtp_pw), "{one}");
    assert_eq!(office.get("/smtp-logs/..%2F..%2Fpostbote.toml").await.0, 404);
    assert_eq!(office.get("/smtp-logs/nothing.log").await.0, 404);

    let r = office.post("/smtp-logs/off", &[("csrf", &token), ("transport", "direct")], &[]).await;
    assert_eq!(r.0, 303);
    assert!(!outbox::logging::recording(&app, postbote::config::Transport::Direct).unwrap().on);
    // A form without a name, or with an empty one, deletes nothing.
    for fields in [vec![("csrf", token.as_str())], vec![("csrf", token.as_str()), ("name", "")]] {
        assert_eq!(office.post("/smtp-logs/delete", &fields, &[]).await.0, 400);
        assert!(!postbote::smtp::transcript::list(&outbox::logging::transcript_dir(&app)).is_empty());
    }
    let r = office.post("/smtp-logs/delete", &[("csrf", &token), ("all", "yes")], &[]).await;
    assert_eq!(r.0, 303);
    assert!(postbote::smtp::transcript::list(&outbox::logging::transcript_dir(&app)).is_empty());
    let audit = body(&office.get("/audit").await);
    for action in ["smtp_logs.on", "smtp_logs.off", "smtp_logs.delete"] {
        assert!(audit.contains(action), "{action}: {audit}");
    }
    o.d.stop().await;
}

#[tokio::test]
async fn deliverability_is_checked_from_the_page_with_verdicts_and_the_records_to_publish() {
    let o = start_ops().await;
    let mut office = Browser::new(o.port);
    assert_eq!(office.login("anna", "Büro-Passwort 1").await.0, 303);
    let page = body(&office.get("/deliverability").await);
    let token = csrf(&page);
    let r = office.post("/deliverability/check", &[("csrf", &token)], &[]).await;
    assert_eq!(header(&r, "location"), ["/deliverability?checked=ok"], "{}", body(&r));
    assert!(!o.d.app.store.verdicts().all("becker").unwrap().is_empty(), "the check was recorded");

    let page = body(&office.get("/deliverability?checked=ok").await);
    assert!(page.contains("id=\"checked\"") && page.contains("verdicts-becker"), "{page}");
    assert!(page.contains("data-path=\"direct\"") && page.contains("Grund"), "{page}");
    // The records of bau-firma.test: SPF with the relay's include (missing in the zone), the
    // DMARC record the zone publishes (p=reject with rua=, kept), each with DNS's text.
    assert!(page.contains("records-bau-firma.test"), "{page}");
    // (`localhost`, the direct server, has both addresses in the stack's DNS.)
    assert!(page.contains("v=spf1 ip4:127.0.0.1 ip6:::1 include:handwerk.test -all"), "{page}");
    assert!(page.contains("v=spf1 ip4:127.0.0.1 ip6:::1 -all"), "what DNS has: {page}");
    assert!(page.contains("das include: des Relays fehlt"), "{page}");
    let dmarc = "_dmarc.bau-firma.test. IN TXT &quot;v=DMARC1; p=reject; rua=mailto:dmarc@bau-firma.test&quot;";
    assert!(page.contains(dmarc), "{page}");
    assert!(page.contains("data-kind=\"dmarc\" data-mark=\"ok\""), "{page}");
    assert!(page.contains("data-kind=\"spf\" data-mark=\"bad\""), "{page}");
    assert!(body(&office.get("/audit").await).contains("deliverability.check"));

    office.get("/lang/en?back=/deliverability").await;
    let page = body(&office.get("/deliverability").await);
    assert!(
        page.contains("DNS records to publish") && page.contains("the relay&#39;s include: is missing")
            || page.contains("the relay's include: is missing"),
        "{page}"
    );

    let mut e = Browser::new(o.port);
    assert_eq!(e.login("becker", "Becker-Passwort 2").await.0, 303);
    assert_eq!(e.get("/deliverability").await.0, 403);
    assert_eq!(e.post("/deliverability/check", &[("csrf", &token)], &[]).await.0, 403);
    o.d.stop().await;
}
