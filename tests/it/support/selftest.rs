//! Tests of the test support itself: if these fail, the mail stack (scripts/stack) or this
//! module is broken, not postbote.

use std::net::UdpSocket;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;

fn message(subject: &str, message_id: &str) -> Vec<u8> {
    format!(
        "From: Sabine Müller <sabine.mueller@kunde.test>\r\n\
         To: becker@bau-firma.test\r\n\
         Subject: {subject}\r\n\
         Date: Mon, 03 Mar 2025 08:14:00 +0100\r\n\
         Message-ID: <{message_id}>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         Guten Tag, wir möchten unser Bad sanieren lassen.\r\n\
         .a line that starts with a dot\r\n"
    )
    .into_bytes()
}

#[test]
fn delivered_message_reads_back_over_raw_imap() {
    let (user, password) = unique_user("selftest-deliver");
    let id = format!("{}@selftest.test", unique_token());
    deliver(&user, &message("Anfrage Badsanierung", &id));

    let mut imap = RawImap::login(&user, &password);
    assert_eq!(imap.select("INBOX"), 1);
    let uids = imap.uid_search(&format!("HEADER Message-ID {}", imap_quote(&id)));
    assert_eq!(uids.len(), 1, "message not found by Message-ID");
    // the header comes back as a literal
    let resp = imap.command(&format!("UID FETCH {} (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])", uids[0]));
    assert!(resp.contains("Subject: Anfrage Badsanierung"), "{resp}");
    let resp = imap.command(&format!("UID FETCH {} BODY.PEEK[TEXT]", uids[0]));
    assert!(resp.contains(".a line that starts with a dot"), "{resp}");

    imap.command(&format!("UID STORE {} +FLAGS (\\Seen \\Flagged)", uids[0]));
    assert_eq!(imap.uid_search("FLAGGED SEEN"), uids);
    imap.command(&format!("UID STORE {} +FLAGS (\\Deleted)", uids[0]));
    imap.command("EXPUNGE");
    assert!(imap.uid_search("ALL").is_empty());
    imap.logout();
}

#[test]
fn folders_append_and_deliver_to_folder() {
    let (user, password) = unique_user("selftest-folders");
    deliver_to_folder(&user, "Kunden/Müller", &message("im Unterordner", "sub@selftest.test"));
    let mut imap = RawImap::login(&user, &password);
    // modified UTF-7 on the wire: "Müller" is "M&APw-ller"
    assert_eq!(imap.select("Kunden/M&APw-ller"), 1);

    imap.command("CREATE \"Baustellen\"");
    let uid = imap.append("Baustellen", "\\Seen", &message("appended", "app@selftest.test"));
    assert_eq!(imap.select("Baustellen"), 1);
    assert_eq!(imap.uid_search("SEEN"), vec![uid]);
    imap.command("UNSELECT");
    imap.command("DELETE \"Baustellen\"");
    let err = imap.try_command("SELECT \"Baustellen\"").unwrap_err();
    assert!(err.contains(" NO "), "{err}");
    imap.logout();
}

// Dovecot rereads a passwd-file at most once a second: with one shared file, a user created
// right after another login could stay unknown for up to a second. One file per user fixes it.
#[test]
fn new_user_can_log_in_at_once() {
    for _ in 0..5 {
        let (user, password) = unique_user("selftest-login");
        RawImap::login(&user, &password).logout();
    }
    let mut imap = RawImap::connect();
    let err = imap.try_command("LOGIN \"nobody.here@handwerk.test\" \"x\"").unwrap_err();
    assert!(err.contains("NO"), "{err}");
}

#[test]
fn submission_with_starttls_and_auth_is_captured_with_its_envelope() {
    let rcpt = format!("someone.{}@kunde.test", unique_token());
    let id = format!("{}@bau-firma.test", unique_token());
    swaks_submit(
        SUBMISSION_PORT,
        BECKER_SMTP.address,
        BECKER_SMTP.password,
        BECKER_SMTP.address,
        &[&rcpt],
        &message("Angebot 2025-034", &id),
    );
    let got = wait_captured(&rcpt, 1, Duration::from_secs(20));
    assert_eq!(got.len(), 1, "nothing captured for {rcpt}");
    let c = &got[0];
    assert_eq!(c.mail_from, "becker@bau-firma.test");
    assert_eq!(c.rcpt_to, rcpt);
    assert_eq!(c.sasl_username, "becker@bau-firma.test");
    assert!(!c.queue_id.is_empty());
    let raw = String::from_utf8_lossy(&c.raw);
    assert!(raw.contains(&format!("Message-ID: <{id}>")), "{raw}");
    assert!(c.path.exists());
}

#[test]
fn submissions_with_implicit_tls_as_the_hosted_user() {
    let rcpt = format!("kunde.{}@kunde.test", unique_token());
    swaks_submit(SUBMISSIONS_PORT, INFO.address, INFO.password, INFO.address, &[&rcpt], &message("Termin", "t@x.test"));
    let got = wait_captured(&rcpt, 1, Duration::from_secs(20));
    assert_eq!(got.len(), 1, "nothing captured for {rcpt}");
    assert_eq!(got[0].mail_from, INFO.address);
    assert_eq!(got[0].sasl_username, INFO.address);
}

#[test]
fn mail_for_the_hosted_domain_goes_into_dovecot() {
    let (user, password) = unique_user("selftest-lmtp");
    let id = format!("{}@kunde.test", unique_token());
    smtp_send("sabine.mueller@kunde.test", &[&user], &message("per SMTP", &id));
    let mut imap = RawImap::login(&user, &password);
    let deadline = Instant::now() + Duration::from_secs(20);
    while imap.select("INBOX") == 0 {
        assert!(Instant::now() < deadline, "the message for {user} did not arrive in Dovecot");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(imap.uid_search(&format!("HEADER Message-ID {}", imap_quote(&id))).len(), 1);
}

#[test]
fn scripted_rcpt_answers() {
    let t = unique_token();
    let mut smtp = RawSmtp::connect(SMTP_PORT);
    assert_eq!(smtp.mail_from("becker@bau-firma.test").0, 250);
    assert_eq!(smtp.rcpt_to(&format!("reject.{t}@kunde.test")).0, 550);
    assert_eq!(smtp.rcpt_to(&format!("full.{t}@kunde.test")).0, 552);
    assert_eq!(smtp.rcpt_to(&format!("tempfail.{t}@kunde.test")).0, 451);
    let (code, text) = smtp.rcpt_to(&format!("reject.{t}@kunde.test"));
    assert!(code == 550 && text.contains("5.1.1"), "{text}");
    assert_eq!(smtp.rcpt_to(&format!("ok.{t}@kunde.test")).0, 250);
    smtp.quit();
}

#[test]
fn greylist_answers_450_first_then_accepts() {
    let rcpt = format!("greylist.{}@kunde.test", unique_token());
    let mut smtp = RawSmtp::connect(SMTP_PORT);
    assert_eq!(smtp.mail_from("becker@bau-firma.test").0, 250);
    let first = Instant::now();
    let (code, text) = smtp.rcpt_to(&rcpt);
    assert_eq!(code, 450, "{text}");
    // retry like a client would; the policy accepts once a second has passed
    let deadline = first + Duration::from_secs(10);
    let (code, text) = loop {
        let (code, text) = smtp.rcpt_to(&rcpt);
        if code != 450 || Instant::now() >= deadline {
            break (code, text);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(code, 250, "{text}");
    assert!(first.elapsed() >= Duration::from_secs(1));
    assert_eq!(smtp.data(&message("nach Greylisting", "g@x.test")).0, 250);
    smtp.quit();
    assert_eq!(wait_captured(&rcpt, 1, Duration::from_secs(20)).len(), 1);
}

#[test]
fn dns_serves_the_placeholder_zone() {
    ensure_stack();
    // a hand-made query: id 0x5053, recursion desired, one question "stack.test. IN SOA"
    let mut q = vec![0x50, 0x53, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in ["stack", "test"] {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 6, 0, 1]);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    sock.send_to(&q, ("127.0.0.1", DNS_PORT)).unwrap();
    let mut buf = [0u8; 512];
    let n = sock.recv(&mut buf).expect("no DNS answer from 127.0.0.1:5353");
    assert!(n > 12 && buf[0] == 0x50 && buf[1] == 0x53);
    assert_eq!(buf[3] & 0x0f, 0, "DNS error code");
    assert!(u16::from_be_bytes([buf[6], buf[7]]) >= 1, "no answer records");
}

#[tokio::test]
async fn imaps_certificate_is_trusted_by_rustls() {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, ServerName};
    use tokio::io::AsyncReadExt;
    use tokio_rustls::rustls;

    ensure_stack();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file()).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    for name in ["localhost", "127.0.0.1", "mail.handwerk.test"] {
        let tcp = tokio::net::TcpStream::connect((HOST, IMAPS_PORT)).await.unwrap();
        let server_name = ServerName::try_from(name.to_string()).unwrap();
        let mut tls = connector
            .connect(server_name, tcp)
            .await
            .unwrap_or_else(|e| panic!("TLS to {name}:{IMAPS_PORT} failed: {e}"));
        let mut greeting = [0u8; 4];
        tls.read_exact(&mut greeting).await.unwrap();
        assert_eq!(&greeting, b"* OK");
    }
}
