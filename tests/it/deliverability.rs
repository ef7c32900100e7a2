//! The deliverability doctor against real DNS: unbound on loopback serving the zones under
//! `scripts/dns/zones/` (the stack's 127.0.0.1:5353; `POSTBOTE_TEST_DNS_PORT` points elsewhere
//! during development). Each zone is one case of the issue; the mailbox ids below name them.
//! These tests do not call `support::ensure_stack`: running `scripts/stack up` from a tree
//! whose zones differ restarts the shared unbound. `.ci/run` starts the stack first, and
//! [`zones_are_served`] says so when the zones are missing.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use mail_auth::common::parse::TxtRecordParser;
use mail_auth::common::verify::DomainKey;
use postbote::config::{Config, Transport};
use postbote::deliverability::{self, PathReport, verdict::Level};

use crate::support;

/// The fixture key published in `dkim-ok.test` (a test key, never used for real mail).
const FIXTURE_KEY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/deliverability/dkim-test.key");

fn dns() -> SocketAddr {
    let port: u16 =
        std::env::var("POSTBOTE_TEST_DNS_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(support::DNS_PORT);
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A config with one relay-path mailbox per company domain; `[direct]` is configured too, so
/// the doctor judges both paths. `dkim` lists the mailboxes that sign with the fixture key.
fn config(dir: &Path, resolver: SocketAddr, timeout: &str, mailboxes: &[(&str, &str, bool)]) -> (String, Config) {
    std::fs::write(dir.join("pw"), "pw\n").unwrap();
    let mut text = format!(
        r#"
[agent]
data_dir = "{data}"
[imap]
host = "127.0.0.1"
[relay]
host = "smtp.hosted.test"
[direct]
host = "smtp.provider.test"
[doctor]
resolver = "{resolver}"
timeout = "{timeout}"
"#,
        data = dir.join("data").display(),
    );
    for (id, domain, signs) in mailboxes {
        text.push_str(&format!(
            "[[mailbox]]\nid = \"{id}\"\naddresses = [\"becker@{domain}\"]\nhosted_address = \"becker.{id}@hosted.test\"\npassword_file = \"{}\"\ntransport = \"relay\"\n",
            dir.join("pw").display()
        ));
        if *signs {
            text.push_str(&format!("[mailbox.dkim]\nselector = \"postbote\"\nkey_file = \"{FIXTURE_KEY}\"\n"));
        }
    }
    let path = dir.join("postbote.toml");
    std::fs::write(&path, &text).unwrap();
    let c = Config::load(&path).unwrap();
    (path.display().to_string(), c)
}

/// Fail with a useful message when unbound does not serve this repository's zones yet.
async fn zones_are_served() {
    let r = deliverability::dns::Resolver::new(Some(dns()), Duration::from_secs(5)).unwrap();
    let got = r.txt("_dmarc.strict.test").await;
    assert!(
        matches!(got, deliverability::dns::Dns::Found(_)),
        "unbound on {} does not serve scripts/dns/zones/strict.test.zone ({got:?}): run `scripts/stack up` to load the zones",
        dns()
    );
}

#[tokio::test]
async fn the_daily_task_checks_after_its_first_wait_records_and_stops_when_cancelled() {
    zones_are_served().await;
    let dir = tempfile::tempdir().unwrap();
    let (_, cfg) = config(dir.path(), dns(), "5s", &[("strict", "strict.test", false)]);
    let store = postbote::store::Store::open(&cfg.store_path()).unwrap();
    store.ensure_accounts(["strict"]).unwrap();
    let app = postbote::app::App::new(std::sync::Arc::new(cfg), store.clone());
    let token = tokio_util::sync::CancellationToken::new();
    let task =
        tokio::spawn(deliverability::run_schedule(app, token.clone(), Duration::ZERO, Duration::from_secs(3600)));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while store.verdicts().all("strict").unwrap().len() < 2 {
        assert!(std::time::Instant::now() < deadline, "the first check stored nothing within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rows = store.verdicts().all("strict").unwrap();
    assert_eq!((rows[0].transport.as_str(), rows[0].level.as_str(), rows[0].configured), ("relay", "will_fail", true));
    token.cancel();
    tokio::time::timeout(Duration::from_secs(5), task).await.expect("the task ends when cancelled").unwrap().unwrap();
}

fn find<'a>(reports: &'a [PathReport], mailbox: &str, transport: Transport) -> &'a PathReport {
    reports
        .iter()
        .find(|r| r.mailbox == mailbox && r.transport == transport)
        .unwrap_or_else(|| panic!("no report for {mailbox} {transport:?}"))
}

#[tokio::test]
async fn each_zone_gives_its_verdict_and_reason_on_its_path() {
    zones_are_served().await;
    let dir = tempfile::tempdir().unwrap();
    let (_, cfg) = config(
        dir.path(),
        dns(),
        "5s",
        &[
            ("nospf", "nospf.test", false),
            ("twospf", "twospf.test", false),
            ("missing", "spf-missing-server.test", false),
            ("dmarcnone", "spf-ok-dmarc-none.test", false),
            ("strict", "strict.test", false),
            ("many", "manylookups.test", false),
            ("dkimok", "dkim-ok.test", true),
            ("dkimmissing", "dkim-missing.test", true),
            ("dkimmismatch", "dkim-mismatch.test", true),
            ("dead", "dead.nsdown.test", false),
            ("sub", "sub.strict.test", false),
            ("badspf", "badspf.test", false),
        ],
    );
    let reports =
        tokio::time::timeout(Duration::from_secs(60), deliverability::check(&cfg, None)).await.unwrap().unwrap();
    use Transport::{Direct, Relay};
    // (mailbox, path, level, first finding, words the English reason or fix must contain)
    let cases: &[(&str, Transport, Level, &str, &str)] = &[
        ("nospf", Direct, Level::AtRisk, "spf_missing", "has no SPF record"),
        ("twospf", Direct, Level::WillFail, "spf_multiple", "publishes 2 SPF records"),
        ("missing", Direct, Level::WillFail, "spf_not_authorised", "ip4:127.0.0.2"),
        ("dmarcnone", Direct, Level::Ok, "dmarc_passes", "SPF passes for spf-ok-dmarc-none.test"),
        ("dmarcnone", Relay, Level::AtRisk, "relay_unaligned", "has p=none"),
        ("strict", Relay, Level::WillFail, "relay_unaligned", "DKIM for strict.test cannot be had on this path"),
        ("strict", Direct, Level::Ok, "dmarc_passes", "aligns with From"),
        ("many", Direct, Level::WillFail, "spf_too_many_lookups", "needs 11 DNS lookups"),
        ("dkimok", Relay, Level::Ok, "dmarc_passes", "postbote's DKIM signature (postbote._domainkey.dkim-ok.test)"),
        (
            "dkimmissing",
            Relay,
            Level::WillFail,
            "dkim_key_missing",
            "no key is published at postbote._domainkey.dkim-missing.test",
        ),
        ("dkimmismatch", Relay, Level::WillFail, "dkim_key_mismatch", "does not match the configured private key"),
        ("dead", Direct, Level::CouldNotCheck, "dns_unavailable", "says nothing about dead.nsdown.test"),
        ("dead", Relay, Level::CouldNotCheck, "dns_unavailable", "says nothing about dead.nsdown.test"),
        ("badspf", Direct, Level::WillFail, "spf_invalid", "the term \"ip4:300.1.1.1\" has a malformed argument"),
        // No _dmarc.sub.strict.test: the organisational domain's policy (sp, defaulting to p=reject) applies.
        ("sub", Relay, Level::WillFail, "relay_unaligned", "DKIM for sub.strict.test cannot be had on this path"),
    ];
    for (mailbox, path, level, code, words) in cases {
        let r = find(&reports, mailbox, *path);
        let v = &r.verdict;
        let text = format!("{} {}", v.reason().en, v.fix().map(|f| f.en.as_str()).unwrap_or(""));
        assert_eq!((v.level, v.findings[0].code), (*level, *code), "{mailbox} {path:?}: {:#?}", r.verdict);
        assert!(text.contains(words), "{mailbox} {path:?}: {text}");
        assert!(!v.reason().de.is_empty(), "{mailbox}: German reason");
    }
    match &find(&reports, "sub", Relay).facts.dmarc {
        postbote::deliverability::facts::DmarcState::Found(d) => assert_eq!(d.found_at, "strict.test"),
        other => panic!("no organisational-domain fallback: {other:?}"),
    }
    // The relay path's SPF is the hosted domain's, which authorises the relay but cannot align.
    let strict = find(&reports, "strict", Relay);
    assert_eq!(strict.facts.envelope_domain, "hosted.test");
    assert!(strict.facts.spf.passes(), "{:?}", strict.facts.spf);
}

#[tokio::test]
async fn a_name_server_that_never_answers_gives_could_not_check_in_bounded_time() {
    // A UDP socket that receives and never answers (nothing listens on its TCP port).
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (_, cfg) = config(dir.path(), silent.local_addr().unwrap(), "1s", &[("strict", "strict.test", true)]);
    let reports = tokio::time::timeout(Duration::from_secs(30), deliverability::check(&cfg, None))
        .await
        .expect("the doctor must give up within its own timeouts")
        .unwrap();
    assert_eq!(reports.len(), 2);
    for r in &reports {
        assert_eq!(r.verdict.level, Level::CouldNotCheck, "{:#?}", r.verdict);
    }
    drop(silent);
}

#[tokio::test]
async fn a_message_signed_by_postbote_verifies_against_the_published_key() {
    zones_are_served().await;
    use mail_auth::{AuthenticatedMessage, DkimResult};
    let raw = b"From: Hans Becker <becker@dkim-ok.test>\r\nTo: kunde@example.test\r\nSubject: Angebot Dachsanierung\r\nDate: Sat, 28 Nov 2026 09:00:00 +0100\r\nMessage-ID: <1@dkim-ok.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nGuten Tag,\r\nanbei das Angebot.\r\n";
    let auth = dns_authenticator();
    let verify = |signed: Vec<u8>| {
        let auth = &auth;
        async move {
            let msg = AuthenticatedMessage::parse(&signed).unwrap();
            auth.verify_dkim(&msg).await.into_iter().map(|o| o.result().clone()).collect::<Vec<_>>()
        }
    };
    let dkim = |domain: &str| postbote::config::Dkim {
        selector: "postbote".into(),
        key_file: FIXTURE_KEY.into(),
        domain: domain.into(),
    };

    let signed = postbote::dkim::sign(&dkim("dkim-ok.test"), raw).unwrap();
    let head = String::from_utf8_lossy(&signed[..signed.len() - raw.len()]).to_string();
    assert!(
        head.starts_with("DKIM-Signature:") && head.contains("c=relaxed/relaxed") && head.contains("a=rsa-sha256"),
        "{head}"
    );
    let h = head
        .split("h=")
        .nth(1)
        .and_then(|x| x.split(';').next())
        .unwrap_or_default()
        .replace([' ', '\r', '\n', '\t'], "");
    assert_eq!(h.to_lowercase(), "content-type:mime-version:message-id:date:subject:to:from", "{head}");
    assert_eq!(verify(signed).await, vec![DkimResult::Pass]);

    // The same key under a selector whose published key is another one does not verify.
    let signed = postbote::dkim::sign(&dkim("dkim-mismatch.test"), raw).unwrap();
    let results = verify(signed).await;
    assert!(matches!(results.as_slice(), [DkimResult::Fail(_)]), "{results:?}");
}

fn postbote(config: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_postbote"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

#[tokio::test]
async fn doctor_json_and_status_through_the_binary() {
    zones_are_served().await;
    let dir = tempfile::tempdir().unwrap();
    let (path, _) =
        config(dir.path(), dns(), "5s", &[("strict", "strict.test", false), ("dkimok", "dkim-ok.test", true)]);
    let out = tokio::task::spawn_blocking({
        let path = path.clone();
        move || postbote(&path, &["doctor", "--json", "--mailbox", "strict"])
    })
    .await
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "a configured path that will fail exits 2: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let relay = v.as_array().unwrap().iter().find(|r| r["transport"] == "relay").unwrap();
    assert_eq!(relay["mailbox"], "strict");
    assert_eq!(relay["configured"], true);
    assert_eq!(relay["level"], "will_fail");
    assert!(relay["reason"]["de"].as_str().unwrap().contains("strenge Empfänger weisen die Mail ab"), "{relay}");
    assert_eq!(relay["facts"]["dmarc"]["p"], "reject");

    // `status` shows the verdict the doctor stored.
    let out = tokio::task::spawn_blocking(move || postbote(&path, &["status", "--json"])).await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let strict = s["mailboxes"].as_array().unwrap().iter().find(|m| m["id"] == "strict").unwrap();
    let d = strict["deliverability"].as_array().unwrap();
    assert!(
        d.iter().any(|x| x["transport"] == "relay" && x["level"] == "will_fail" && x["configured"] == true),
        "{strict}"
    );
}

#[tokio::test]
async fn dkim_keygen_writes_a_0600_key_and_a_record_that_parses() {
    zones_are_served().await;
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (path, cfg) = config(dir.path(), dns(), "5s", &[("dkimok", "dkim-ok.test", true)]);
    let out = tokio::task::spawn_blocking({
        let path = path.clone();
        move || postbote(&path, &["dkim", "keygen", "--domain", "bau-firma.test", "--selector", "pb1"])
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key = cfg.agent.data_dir.join("dkim/bau-firma.test.pb1.key");
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    let record = String::from_utf8(out.stdout).unwrap();
    assert!(record.starts_with("pb1._domainkey.bau-firma.test. IN TXT \"v=DKIM1; k=rsa; p="), "{record}");
    let value: String = record.split('"').skip(1).step_by(2).collect();
    let dk = DomainKey::parse(value.as_bytes()).unwrap();
    assert!(postbote::dkim::key_matches(&dk, &postbote::dkim::load_key(&key).unwrap()));

    // `dkim record` for the configured fixture key prints what dkim-ok.test publishes, which
    // the doctor accepts as matching (see the zone cases).
    let out =
        tokio::task::spawn_blocking(move || postbote(&path, &["dkim", "record", "--mailbox", "dkimok"])).await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: String = String::from_utf8(out.stdout).unwrap().split('"').skip(1).step_by(2).collect();
    let r = deliverability::dns::Resolver::new(Some(dns()), Duration::from_secs(5)).unwrap();
    let published = match r.txt("postbote._domainkey.dkim-ok.test").await {
        deliverability::dns::Dns::Found(t) => t.concat(),
        other => panic!("dkim-ok.test publishes no key: {other:?}"),
    };
    assert_eq!(printed.replace(' ', ""), published.replace(' ', ""));
}

#[tokio::test]
async fn a_verdict_that_gets_worse_is_reported_and_could_not_check_is_not() {
    zones_are_served().await;
    let dir = tempfile::tempdir().unwrap();
    let (_, cfg) = config(dir.path(), dns(), "5s", &[("strict", "strict.test", false)]);
    let store = postbote::store::Store::open(&cfg.store_path()).unwrap();
    store.ensure_accounts(["strict"]).unwrap();
    let app = postbote::app::App::new(std::sync::Arc::new(cfg), store);
    // Yesterday the relay path was fine (say, before the domain moved to p=reject).
    let mut reports = deliverability::check(&app.config, None).await.unwrap();
    let relay = reports.iter().position(|r| r.transport == Transport::Relay).unwrap();
    let today = reports[relay].verdict.clone();
    assert_eq!(today.level, Level::WillFail);
    reports[relay].verdict.level = Level::Ok;
    assert!(deliverability::save(&app, &reports).unwrap().is_empty(), "the first verdict is not a change");
    reports[relay].verdict = today;
    let worse = deliverability::save(&app, &reports).unwrap();
    assert_eq!(worse.len(), 1, "{worse:?}");
    assert_eq!((worse[0].before, worse[0].now, worse[0].transport), (Level::Ok, Level::WillFail, Transport::Relay));
    // A DNS outage in between is neither worse nor better, and does not hide the known state.
    reports[relay].verdict.level = Level::CouldNotCheck;
    assert!(deliverability::save(&app, &reports).unwrap().is_empty());
    let rows = app.store.verdicts().all("strict").unwrap();
    let row = rows.iter().find(|r| r.transport == "relay").unwrap();
    assert_eq!((row.level.as_str(), row.definite_level.as_deref()), ("could_not_check", Some("will_fail")));
}

/// Send `data` over plain SMTP to the stack's Postfix ([`support::SMTP_PORT`], no AUTH) and
/// return the final reply. (`support::RawSmtp` would first run `scripts/stack up`.)
async fn smtp_send(from: &str, to: &str, data: &[u8]) -> String {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let stream = tokio::net::TcpStream::connect((support::HOST, support::SMTP_PORT))
        .await
        .expect("Postfix on the stack's SMTP port (scripts/stack up)");
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    async fn reply(r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            r.read_line(&mut line).await.unwrap();
            all.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return all;
            }
        }
    }
    let greeting = reply(&mut r).await;
    assert!(greeting.starts_with("220"), "{greeting}");
    for cmd in
        ["EHLO postbote.test".to_string(), format!("MAIL FROM:<{from}>"), format!("RCPT TO:<{to}>"), "DATA".into()]
    {
        w.write_all(format!("{cmd}\r\n").as_bytes()).await.unwrap();
        let rep = reply(&mut r).await;
        assert!(rep.starts_with('2') || rep.starts_with("354"), "{cmd}: {rep}");
    }
    // Dot-stuffing: a line that starts with '.' gets another.
    let mut body = Vec::new();
    for line in data.split_inclusive(|b| *b == b'\n') {
        if line.first() == Some(&b'.') {
            body.push(b'.');
        }
        body.extend_from_slice(line);
    }
    body.extend_from_slice(b".\r\n");
    w.write_all(&body).await.unwrap();
    let done = reply(&mut r).await;
    w.write_all(b"QUIT\r\n").await.unwrap();
    done
}

#[tokio::test]
async fn a_signed_message_still_verifies_after_passing_the_relay() {
    use mail_auth::{AuthenticatedMessage, DkimResult};
    zones_are_served().await;
    let nonce = support::unique_token();
    let to = format!("dkim.{nonce}@kunde.test");
    let raw = format!(
        "From: Hans Becker <becker@dkim-ok.test>\r\nTo: <{to}>\r\nSubject: Rechnung {nonce}\r\nDate: Sat, 28 Nov 2026 09:00:00 +0100\r\nMessage-ID: <{nonce}@dkim-ok.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nGuten Tag,\r\n.anbei die Rechnung.\r\n"
    );
    let dkim = postbote::config::Dkim {
        selector: "postbote".into(),
        key_file: FIXTURE_KEY.into(),
        domain: "dkim-ok.test".into(),
    };
    let signed = postbote::dkim::sign(&dkim, raw.as_bytes()).unwrap();
    let done = smtp_send("becker.dkimok@hosted.test", &to, &signed).await;
    assert!(done.starts_with("250"), "{done}");

    let rcpt = to.clone();
    let captured =
        tokio::task::spawn_blocking(move || support::wait_captured(&rcpt, 1, Duration::from_secs(30))).await.unwrap();
    assert_eq!(captured.len(), 1, "no captured message for {to} in {}", support::capture_dir().display());
    let eml = &captured[0].raw;
    let auth = dns_authenticator();
    let msg = AuthenticatedMessage::parse(eml).unwrap();
    let results: Vec<DkimResult> = auth.verify_dkim(&msg).await.into_iter().map(|o| o.result().clone()).collect();
    assert_eq!(results, vec![DkimResult::Pass], "{}", String::from_utf8_lossy(eml));
    assert!(String::from_utf8_lossy(eml).starts_with("Received:"), "the relay added its trace header");
}

fn dns_authenticator() -> mail_auth::MessageAuthenticator {
    use mail_auth::hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
    let mut ns = NameServerConfig::udp_and_tcp(dns().ip());
    for c in &mut ns.connections {
        c.port = dns().port();
    }
    mail_auth::MessageAuthenticator::new(ResolverConfig::from_name_servers(vec![ns]), ResolverOpts::default()).unwrap()
}
