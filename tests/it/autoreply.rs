//! Automatic replies, end to end: the `postbote` binary's `vacation` and `autoreply explain
//! --json` commands on a real store, and the daemon answering a message delivered to Dovecot,
//! holding the reply behind the office-session gate and handing it to Postfix.

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{Duration, Utc};
use chrono_tz::Europe::Berlin;
use serde_json::Value;

fn corpus(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/autoreply").join(file)
}

/// A config with one employee and one shared mailbox whose store lives in `dir`. Nothing in it
/// is contacted by `vacation` or `explain`.
fn write_config(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("pw"), "becker-pw\n").unwrap();
    let text = format!(
        r#"
[agent]
data_dir = "{d}/data"
time_zone = "Europe/Berlin"
[imap]
host = "localhost"
port = 10993
[relay]
host = "localhost"
port = 10587
[jmap]
enabled = false
[[mailbox]]
id = "becker"
name = "Hans Becker"
addresses = ["becker@bau-firma.test", "h.becker@bau-firma.test"]
hosted_address = "becker.bau-firma@handwerk.test"
password_file = "{d}/pw"
[[mailbox]]
id = "info"
kind = "shared"
addresses = ["info@bau-firma.test"]
hosted_address = "info.bau-firma@handwerk.test"
password_file = "{d}/pw"
"#,
        d = dir.display()
    );
    let path = dir.join("postbote.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn postbote(config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_postbote"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run postbote");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `explain --json` prints exactly one JSON object with `decision` and `reason`.
fn explain(config: &Path, file: &str, at: &str) -> Value {
    let f = corpus(file);
    let (ok, out, err) =
        postbote(config, &["autoreply", "explain", "--mailbox", "becker", f.to_str().unwrap(), "--at", at, "--json"]);
    assert!(ok, "explain {file} failed: {err}");
    let lines: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one JSON object on one line: {out}");
    serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn local_day(offset_days: i64) -> String {
    (Utc::now().with_timezone(&Berlin) + Duration::days(offset_days)).format("%Y-%m-%d").to_string()
}

#[test]
fn vacation_set_then_explain_json_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    // Before anything is set: off.
    let v = explain(&config, "customer.eml", &format!("{}T10:00", local_day(0)));
    assert_eq!((v["decision"].as_str(), v["reason"].as_str()), (Some("skip"), Some("disabled")), "{v}");

    let (from, until) = (local_day(-1), local_day(10));
    let (ok, out, err) = postbote(
        &config,
        &[
            "vacation",
            "set",
            "--mailbox",
            "becker",
            "--from",
            &from,
            "--until",
            &until,
            "--body",
            "Ich bin im Urlaub. Grüße",
        ],
    );
    assert!(ok, "vacation set failed: {err}");
    assert!(out.contains("automatic replies on"), "{out}");
    let (ok, out, _) = postbote(&config, &["vacation", "show", "--mailbox", "becker", "--json"]);
    assert!(ok);
    let shown: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["isEnabled"], Value::Bool(true));
    assert!(
        shown["toLocal"].as_str().unwrap().starts_with(&local_day(11)),
        "an inclusive end date ends at the next local midnight: {shown}"
    );

    // Inside the leave: a reply, to the return path, with the RFC 3834 headers.
    let inside = format!("{}T09:30", local_day(2));
    let v = explain(&config, "customer.eml", &inside);
    assert_eq!((v["decision"].as_str(), v["reason"].as_str()), (Some("reply"), Some("reply")), "{v}");
    assert_eq!(v["reply"]["to"], "mueller@kunde.test");
    assert_eq!(v["reply"]["from"], "becker@bau-firma.test");
    let headers: Vec<&str> = v["reply"]["headers"].as_array().unwrap().iter().map(|h| h.as_str().unwrap()).collect();
    for want in
        ["Auto-Submitted: auto-replied", "X-Auto-Response-Suppress: All", "In-Reply-To: <c1.20270102@kunde.test>"]
    {
        assert!(headers.contains(&want), "{want} missing in {headers:?}");
    }
    // The forward's SRS return path is answered at the original sender.
    let v = explain(&config, "srs-return-path.eml", &inside);
    assert_eq!(v["reply"]["to"], "anna.roth@kunde-mail.test", "{v}");
    // Harmful cases are skipped with their reason.
    for (file, reason) in [
        ("mailing-list.eml", "list_header"),
        ("bounce-dsn.eml", "empty_return_path"),
        ("other-autoresponder.eml", "auto_submitted"),
        ("bcc.eml", "not_addressed_to_mailbox"),
    ] {
        let v = explain(&config, file, &inside);
        assert_eq!((v["decision"].as_str(), v["reason"].as_str()), (Some("skip"), Some(reason)), "{file}: {v}");
    }
    // The day after the last day of leave: nothing.
    let v = explain(&config, "customer.eml", &format!("{}T00:30", local_day(11)));
    assert_eq!(v["reason"], "outside_leave", "{v}");

    // Switched off: disabled; the text mode prints the decision for people.
    assert!(postbote(&config, &["vacation", "off", "--mailbox", "becker"]).0);
    let f = corpus("customer.eml");
    let (ok, out, _) =
        postbote(&config, &["autoreply", "explain", "--mailbox", "becker", f.to_str().unwrap(), "--at", &inside]);
    assert!(ok);
    assert!(out.starts_with("skip: disabled"), "{out}");
    // A bad mailbox is an error with a message, not a panic.
    let (ok, _, err) = postbote(&config, &["autoreply", "explain", "--mailbox", "nobody", f.to_str().unwrap()]);
    assert!(!ok && err.contains("no mailbox \"nobody\""), "{err}");
}

// ------------------------------------------------------------------------------------------
// End to end against Dovecot and Postfix (scripts/stack up).

mod e2e {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use crate::support::{Captured, ca_file, captured_for, smtp_send, unique_token, unique_user};
    use postbote::app::App;
    use postbote::autoreply::Settings;
    use postbote::config::Config;
    use postbote::store::Store;

    /// What Postfix captured for `rcpt`, as (envelope, message text).
    fn captured(rcpt: &str) -> Vec<(Captured, String)> {
        captured_for(rcpt)
            .into_iter()
            .map(|c| {
                let text = String::from_utf8_lossy(&c.raw).into_owned();
                (c, text)
            })
            .collect()
    }

    async fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
        let start = Instant::now();
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn header<'a>(eml: &'a str, name: &str) -> Option<&'a str> {
        let end = eml.find("\r\n\r\n").or_else(|| eml.find("\n\n")).unwrap_or(eml.len());
        eml[..end].lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then_some(v.trim())
        })
    }

    fn decision_for(app: &App, subject: &str) -> Option<postbote::store::autoreply::DecisionRow> {
        app.store.autoreply().recent("becker", 50).unwrap().into_iter().find(|d| d.subject == subject)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reply_waits_for_an_office_session_then_reaches_postfix_once_per_sender() {
        postbote::tls::install_provider();
        let id = unique_token().replace('.', "-");
        let (hosted, password) = unique_user("autoreply");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("pw"), format!("{password}\n")).unwrap();
        std::fs::write(d.join("smtp-pw"), "becker-smtp-pw\n").unwrap();
        let ca = ca_file();
        let text = format!(
            r#"
[agent]
data_dir = "{d}/data"
time_zone = "Europe/Berlin"
poll = "* * * * *"
[imap]
host = "localhost"
port = 10993
tls = "implicit"
ca_file = "{ca}"
[direct]
host = "localhost"
port = 10587
tls = "starttls"
ca_file = "{ca}"
send_while = "session"
[outbox]
# A first attempt that fails on a busy machine is retried at once, not after a minute.
retry_schedule = ["1s"]
[control]
listen = "unix:{d}/control.sock"
[jmap]
enabled = false
[[mailbox]]
id = "becker"
name = "Hans Becker"
addresses = ["becker@bau-firma.test"]
hosted_address = "{hosted}"
password_file = "{d}/pw"
transport = "direct"
folders = ["INBOX", "\\Sent"]
[mailbox.smtp]
login = "becker@bau-firma.test"
password_file = "{d}/smtp-pw"
"#,
            d = d.display(),
            ca = ca.display(),
        );
        let path = d.join("postbote.toml");
        std::fs::write(&path, text).unwrap();
        let cfg = Config::load(&path).unwrap();
        let store = Store::open(&cfg.store_path()).unwrap();
        store.ensure_accounts(cfg.mailboxes.iter().map(|m| m.id.as_str())).unwrap();
        let app = App::new(Arc::new(cfg), store);
        let now = chrono::Utc::now();
        let leave = Settings {
            is_enabled: true,
            from_date: Some(now - chrono::Duration::hours(1)),
            to_date: Some(now + chrono::Duration::days(2)),
            text_body: Some("Ich bin bis übermorgen im Urlaub.".into()),
            ..Default::default()
        };
        postbote::autoreply::save_settings(&app, "becker", &leave).unwrap();

        // Mail that is in the mailbox before postbote ever looked is old mail: never answered.
        let old_subject = format!("Alte Anfrage {id}");
        let old = format!(
            "From: Altkunde <alt{id}@kunde.test>\r\nTo: becker@bau-firma.test\r\nSubject: {old_subject}\r\n\
             Message-ID: <old-{id}@kunde.test>\r\n\r\nvon letzter Woche\r\n"
        );
        crate::support::deliver(&hosted, old.as_bytes());
        // INTERNALDATE has whole seconds: start watching in a later second than the delivery.
        let delivered_second = chrono::Utc::now().timestamp();
        wait_for("the next second", Duration::from_secs(2), || {
            (chrono::Utc::now().timestamp() > delivered_second).then_some(())
        })
        .await;

        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let daemon = tokio::spawn(postbote::daemon::run(app.clone(), async move {
            let _ = stopped.await;
        }));
        // The mirror has done its first pass and the responder has counted the old message.
        wait_for("the first sync and the responder's cursor", Duration::from_secs(60), || {
            let synced = app.store.sync_state().status("becker").unwrap().last_sync_at.is_some();
            let cursor = app.store.autoreply().cursor("becker").unwrap()?;
            (synced && cursor.initial_skipped == 1).then_some(())
        })
        .await;
        assert!(decision_for(&app, &old_subject).is_none(), "old mail is not decided");

        let customer = format!("kunde{id}@kunde.test");
        let msg = |n: u32, subject: &str| {
            format!(
                "From: Kunde {id} <{customer}>\nTo: Hans Becker <becker@bau-firma.test>\nSubject: {subject}\n\
                 Message-ID: <m{n}-{id}@kunde.test>\nDate: {}\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n\
                 Guten Tag, bitte um Rückruf.\n",
                chrono::Utc::now().to_rfc2822()
            )
        };
        let first = format!("Anfrage Küche {id}");
        let delivered = Instant::now();
        smtp_send(&customer, &[&hosted], msg(1, &first).replace('\n', "\r\n").as_bytes());

        // Mirrored, decided, queued ...
        let row = wait_for("the reply to be queued", Duration::from_secs(90), || decision_for(&app, &first)).await;
        eprintln!("measured: SMTP delivery to reply queued in {} ms", delivered.elapsed().as_millis());
        assert_eq!(row.reason, "reply", "{row:?}");
        assert_eq!(row.sender.as_deref(), Some(customer.as_str()));
        assert!(row.reply_state.is_some(), "the outbox took the reply: {row:?}");
        // ... and held: no office session is logged in, so the direct path stays shut.
        let held_until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < held_until {
            assert!(captured(&customer).is_empty(), "a reply left without an office session");
            let state = decision_for(&app, &first).unwrap().reply_state;
            assert!(matches!(state.as_deref(), Some("queued") | Some("deferred")), "held reply is {state:?}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }

        // An office session opens the gate: Postfix receives the reply.
        postbote::outbox::session_login(&app, "buero", None).unwrap();
        let opened = Instant::now();
        let got = wait_for("Postfix to capture the reply", Duration::from_secs(60), || {
            let c = captured(&customer);
            (!c.is_empty()).then_some(c)
        })
        .await;
        eprintln!("measured: session login to reply captured by Postfix in {} ms", opened.elapsed().as_millis());
        assert_eq!(got.len(), 1, "exactly one reply");
        let (env, eml) = &got[0];
        assert_eq!(env.mail_from, "becker@bau-firma.test", "envelope sender: the company address on the direct path");
        assert_eq!(env.sasl_username, "becker@bau-firma.test", "submitted with the mailbox's own login");
        assert_eq!(header(eml, "Auto-Submitted"), Some("auto-replied"));
        assert_eq!(header(eml, "X-Auto-Response-Suppress"), Some("All"));
        assert_eq!(header(eml, "In-Reply-To"), Some(format!("<m1-{id}@kunde.test>").as_str()));
        assert!(header(eml, "From").unwrap().contains("<becker@bau-firma.test>"), "{eml}");
        assert!(header(eml, "To").unwrap().contains(&customer), "{eml}");
        assert!(header(eml, "Message-ID").unwrap().ends_with("@bau-firma.test>"), "{eml}");
        let parsed = mail_parser::MessageParser::default().parse(eml.as_bytes()).unwrap();
        assert_eq!(parsed.subject(), Some(format!("Automatische Antwort: {first}").as_str()));
        assert_eq!(parsed.body_text(0).unwrap().trim(), "Ich bin bis übermorgen im Urlaub.");

        // The responder sees it sent; the same sender within the interval gets nothing more.
        wait_for("the reply to count as sent", Duration::from_secs(60), || {
            (decision_for(&app, &first)?.reply_state.as_deref() == Some("sent")).then_some(())
        })
        .await;
        let second = format!("Nachtrag Küche {id}");
        smtp_send(&customer, &[&hosted], msg(2, &second).replace('\n', "\r\n").as_bytes());
        let row =
            wait_for("the second message's decision", Duration::from_secs(90), || decision_for(&app, &second)).await;
        assert_eq!(row.reason, "already_answered", "{row:?}");
        assert!(row.reply_state.is_none());
        assert_eq!(captured(&customer).len(), 1, "still exactly one reply");

        let _ = stop.send(());
        daemon.await.unwrap().unwrap();
    }
}
