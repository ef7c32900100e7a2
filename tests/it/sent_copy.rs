//! The Sent copy against the real Dovecot when the Sent folder's name is not ASCII
//! ("Éléments envoyés", as a French Outlook names it): every command that names it (EXAMINE,
//! SEARCH's folder, APPEND) must send it in modified UTF-7, or the server refuses it.
//!
//! The test has its own Dovecot users and store; Postfix captures what is sent. Waiting is
//! polling for a condition with a deadline, never a bare sleep.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use postbote::app::App;
use postbote::config::Config;
use postbote::outbox::{self, Origin, Outgoing};
use postbote::store::Store;
use tokio_util::sync::CancellationToken;

use crate::support::{self, free_port, stack_dir};

const SENT: &str = "Éléments envoyés";

fn doveadm(args: &[&str]) -> String {
    let conf = stack_dir().join("dovecot/dovecot.conf");
    let out = Command::new("doveadm").arg("-c").arg(conf).args(args).stdin(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "doveadm {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// How many messages with this Message-ID the server holds in `folder`.
fn on_server(user: &str, folder: &str, message_id: &str) -> usize {
    doveadm(&["-f", "flow", "search", "-u", user, "mailbox", folder, "header", "Message-ID", message_id])
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count()
}

#[tokio::test]
async fn a_sent_folder_with_a_non_ascii_name_gets_its_copies_and_is_searched() {
    postbote::tls::install_provider();
    support::ensure_stack();
    let u = format!("sc{}", support::unique_token().replace('.', "x"));
    let imap_user = format!("{u}.bau-firma@handwerk.test");
    let (imap_pw, smtp_pw) = (format!("{u}-imap-pw"), format!("{u}-smtp-Pw!"));
    support::stack(&["add-user", &imap_user, &imap_pw], None);
    support::stack(&["add-user", &format!("{u}@bau-firma.test"), &smtp_pw], None);
    doveadm(&["mailbox", "create", "-u", &imap_user, SENT]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("imap.pw"), &imap_pw).unwrap();
    std::fs::write(dir.path().join("smtp.pw"), &smtp_pw).unwrap();
    let text = format!(
        r#"
[agent]
data_dir = "{d}/data"
[imap]
host = "localhost"
port = 10143
tls = "starttls"
ca_file = "{ca}"
[relay]
host = "localhost"
port = 10587
tls = "starttls"
ca_file = "{ca}"
send_while = "always"
[direct]
host = "localhost"
port = 10587
tls = "starttls"
ca_file = "{ca}"
send_while = "always"
[outbox]
retry_schedule = ["1s"]
[control]
listen = "127.0.0.1:{port}"
[jmap]
enabled = false
[[mailbox]]
id = "{u}"
name = "Test {u}"
addresses = ["{u}@bau-firma.test"]
hosted_address = "{imap_user}"
password_file = "{d}/imap.pw"
sent_folder = "{SENT}"
[mailbox.smtp]
login = "{u}@bau-firma.test"
password_file = "{d}/smtp.pw"
"#,
        d = dir.path().display(),
        ca = support::ca_file().display(),
        port = free_port(),
    );
    let path = dir.path().join("postbote.toml");
    std::fs::write(&path, text).unwrap();
    let cfg = Config::load(&path).unwrap();
    let store = Store::open(&cfg.store_path()).unwrap();
    store.ensure_accounts([u.as_str()]).unwrap();
    let app = App::new(Arc::new(cfg), store);

    let mk = |local: &str| {
        let raw =
            format!("From: <{u}@bau-firma.test>\r\nTo: <{local}-{u}@kunde.test>\r\nSubject: {local}\r\n\r\nx\r\n");
        let outgoing = Outgoing {
            mailbox: u.clone(),
            raw: raw.into_bytes(),
            recipients: None,
            origin: Origin::Office,
            discard_after: None,
        };
        outbox::enqueue(&app, outgoing).unwrap()
    };
    // One message a crash left unknown whose copy is in the Sent folder: settled by a search
    // there (EXAMINE of the non-ASCII name). One sent normally: its copy is APPENDed there.
    let (found, fresh) = (mk("found"), mk("fresh"));
    assert!(app.store.outbox().begin(found.id).unwrap());
    let copy =
        format!("From: <{u}@bau-firma.test>\r\nMessage-ID: <{}>\r\nSubject: found\r\n\r\nx\r\n", found.message_id);
    support::deliver_to_folder(&imap_user, SENT, copy.as_bytes());

    let token = CancellationToken::new();
    let task = tokio::spawn(outbox::run(app.clone(), token.clone()));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let state = outbox::state(&app, found.id).unwrap();
        let (m, _) = app.store.outbox().show(fresh.id).unwrap().unwrap();
        if state == Some(outbox::State::Sent) && m.sent_copy_done {
            break;
        }
        assert!(Instant::now() < deadline, "found: {state:?}; fresh: copy done {}", m.sent_copy_done);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    token.cancel();
    tokio::time::timeout(Duration::from_secs(30), task).await.expect("the outbox stops").unwrap().unwrap();

    let (f, _) = app.store.outbox().show(found.id).unwrap().unwrap();
    assert!(f.resolved.unwrap().contains(SENT), "settled from the server's folder \"{SENT}\"");
    assert_eq!(on_server(&imap_user, SENT, &fresh.message_id), 1, "one copy, in the folder with the real name");
    assert_eq!(on_server(&imap_user, SENT, &found.message_id), 1, "no second copy of the settled one");
}
