//! The config's tests: the example parses, defaults match it, and every error names the key.

use super::*;
use std::path::Path;
use std::time::Duration;

fn write_example_secrets() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), "geheim\n").unwrap();
    dir
}

fn minimal(dir: &Path, extra: &str) -> String {
    format!(
        r#"
[imap]
host = "imap.handwerk.test"
[relay]
host = "smtp.handwerk.test"
{extra}
[[mailbox]]
id = "becker"
addresses = ["Becker@Bau-Firma.de"]
hosted_address = "becker.bau-firma@handwerk.org"
password_file = "{}"
"#,
        dir.join("pw").display()
    )
}

fn err(text: &str, dir: &Path) -> String {
    Config::parse(text, &dir.join("postbote.toml")).unwrap_err().to_string()
}

#[test]
fn example_parses_with_its_password_sources() {
    let dir = write_example_secrets();
    let text = EXAMPLE.replace("/etc/postbote/becker.password", &dir.path().join("pw").display().to_string());
    // SAFETY: tests in this module set this variable only here, to the same value.
    unsafe { std::env::set_var("POSTBOTE_INFO_PASSWORD", "info-secret") };
    let c = Config::parse(&text, &dir.path().join("postbote.toml")).unwrap();
    assert_eq!(c.mailboxes.len(), 2);
    assert_eq!(c.mailboxes[0].password.expose(), "geheim");
    assert_eq!(c.mailboxes[1].kind, MailboxKind::Shared);
    assert_eq!(c.mailboxes[0].folders.len(), 6);
}

/// Leaving a key out must give exactly what config.example.toml shows.
#[test]
fn defaults_match_the_example() {
    let dir = write_example_secrets();
    let d = Config::parse(&minimal(dir.path(), ""), &dir.path().join("p.toml")).unwrap();
    let text = EXAMPLE.replace("/etc/postbote/becker.password", &dir.path().join("pw").display().to_string());
    unsafe { std::env::set_var("POSTBOTE_INFO_PASSWORD", "info-secret") };
    let e = Config::parse(&text, &dir.path().join("postbote.toml")).unwrap();
    assert_eq!(d.agent.data_dir, e.agent.data_dir);
    assert_eq!(d.agent.time_zone, e.agent.time_zone);
    assert_eq!(d.agent.poll, e.agent.poll);
    assert_eq!(d.agent.batch_size, e.agent.batch_size);
    assert_eq!(d.imap.port, e.imap.port);
    assert_eq!(d.imap.tls, e.imap.tls);
    let (dr, er) = (d.relay.unwrap(), e.relay.unwrap());
    assert_eq!((dr.port, dr.tls, dr.send_while, dr.log_sessions), (er.port, er.tls, er.send_while, er.log_sessions));
    assert_eq!(d.outbox.lifetime, e.outbox.lifetime);
    assert_eq!(d.outbox.transcript_retention, e.outbox.transcript_retention);
    assert_eq!(d.outbox.max_messages_per_connection, e.outbox.max_messages_per_connection);
    assert_eq!(d.outbox.retry_schedule, e.outbox.retry_schedule);
    assert!(dr.limits.is_unlimited() && er.limits.is_unlimited(), "no send-rate limit by default");
    assert_eq!(d.outbox.still_waiting_after, e.outbox.still_waiting_after);
    assert_eq!(d.outbox.working_hours, e.outbox.working_hours);
    assert_eq!(d.control.listen, e.control.listen);
    assert_eq!(d.control.session_ttl, e.control.session_ttl);
    assert_eq!(d.control.max_session_ttl, e.control.max_session_ttl);
    assert_eq!(d.jmap.listen, e.jmap.listen);
    assert_eq!(d.jmap.enabled, e.jmap.enabled);
    assert_eq!(d.jmap.trusted_proxies, e.jmap.trusted_proxies);
    assert_eq!(d.doctor.dkim_selectors, e.doctor.dkim_selectors);
    assert_eq!(d.doctor.timeout, e.doctor.timeout);
    assert_eq!((d.console.enabled, d.console.listen), (e.console.enabled, e.console.listen));
    assert_eq!((d.console.session_idle, d.console.session_max), (e.console.session_idle, e.console.session_max));
    let (dp, ep) = (&d.phones, &e.phones);
    assert_eq!((&dp.host, dp.imap_port, dp.imap_security), (&ep.host, ep.imap_port, ep.imap_security));
    assert_eq!((dp.smtp_port, dp.smtp_security), (ep.smtp_port, ep.smtp_security));
    assert_eq!(dp.max_connections_per_device, ep.max_connections_per_device);
    assert_eq!(dp.setup_link_ttl, ep.setup_link_ttl);
    assert_eq!((&d.doctor.reports, &d.doctor.direct_ips), (&e.doctor.reports, &e.doctor.direct_ips));
    assert_eq!(d.doctor.relay_ips, e.doctor.relay_ips);
    let (ds, es) = (&d.submission, &e.submission);
    assert_eq!((ds.enabled, ds.listen, ds.listen_tls), (es.enabled, es.listen, es.listen_tls));
    assert_eq!((ds.max_message_size, ds.idle_timeout), (es.max_message_size, es.idle_timeout));
    assert_eq!((ds.max_message_size, ds.idle_timeout), (25 * 1024 * 1024, Duration::from_secs(300)));
    let (di, ei) = (&d.imap_server, &e.imap_server);
    assert_eq!((di.enabled, di.listen, di.listen_tls), (ei.enabled, ei.listen, ei.listen_tls));
    assert_eq!((di.idle_timeout, di.append_limit), (ei.idle_timeout, ei.append_limit));
    assert_eq!(d.mailboxes[0].folders, e.mailboxes[0].folders);
    assert_eq!(d.mailboxes[0].sent_folder, e.mailboxes[0].sent_folder);
    assert_eq!(d.mailboxes[0].transport, e.mailboxes[0].transport);
    assert_eq!(d.mailboxes[0].kind, e.mailboxes[0].kind);
    // addresses are lowercased
    assert_eq!(d.mailboxes[0].addresses, vec!["becker@bau-firma.de"]);
}

#[test]
fn errors_name_the_mailbox_the_key_and_the_problem() {
    let dir = write_example_secrets();
    let p = dir.path();
    let cases: &[(&str, &str)] = &[
        ("[imap]\nport = 99999", "imap.port 99999 is not a port"),
        ("[agent]\npoll = \"every minute\"", "agent.poll \"every minute\" is not a crontab schedule"),
        ("[agent]\ntime_zone = \"Europe/Bonn\"", "agent.time_zone \"Europe/Bonn\" is not a known time zone"),
        ("[control]\nlisten = \"0.0.0.0:4190\"", "control.listen 0.0.0.0:4190 is not a loopback address"),
        ("[control]\nmax_session_ttl = \"0s\"", "control.max_session_ttl \"0s\" must be more than 0"),
        (
            "[control]\nmax_session_ttl = \"520w\"",
            "control.max_session_ttl \"520w\" must be more than 0 and at most 7d",
        ),
        (
            "[control]\nsession_ttl = \"24h\"",
            "control.session_ttl \"24h\" must be more than 0 and at most control.max_session_ttl (\"12h\")",
        ),
        ("[jmap]\nlisten = \"0.0.0.0:8080\"", "plain HTTP is only allowed on loopback"),
        (
            "[jmap]\npush_ca_file = \"/nonexistent/push-ca.pem\"",
            "jmap.push_ca_file \"/nonexistent/push-ca.pem\" is not a readable file",
        ),
        (
            "[jmap]\ntrusted_proxies = [\"10.0.0.0/8\", \"proxy.lan\"]",
            "jmap.trusted_proxies: \"proxy.lan\" is not an IP address or an address/prefix",
        ),
        (
            "[console]\nenabled = true\nlisten = \"0.0.0.0:8090\"",
            "console.listen 0.0.0.0:8090 is not a loopback address",
        ),
        (
            "[console]\nsession_idle = \"13h\"",
            "console.session_idle must be more than 0 and at most console.session_max",
        ),
        ("[phones]\nimap_security = \"ssl\"", "phones.imap_security \"ssl\" must be \"tls\" or \"starttls\""),
        (
            "[phones]\ntls_cert = \"/nonexistent/c.pem\"\ntls_key = \"/nonexistent/k.pem\"",
            "phones.tls_cert \"/nonexistent/c.pem\" is not a readable file",
        ),
        ("[phones]\nmax_connections_per_device = 0", "phones.max_connections_per_device 0 must be between 1 and 1000"),
        ("[phones]\nhost = \"mail.firma.de:993\"", "phones.host \"mail.firma.de:993\" is not a host name"),
        (
            "[imap_server]\nenabled = true\nlisten = \"0.0.0.0:143\"",
            "imap_server.listen 0.0.0.0:143 is not a loopback address: set phones.tls_cert and phones.tls_key",
        ),
        ("[imap_server]\nappend_limit = \"50 parsecs\"", "imap_server.append_limit \"50 parsecs\" is not a size"),
        ("[imap_server]\nidle_timeout = \"10s\"", "imap_server.idle_timeout must be at least 1m"),
        ("[phones]\nhost = \"[::1]:993\"", "phones.host \"[::1]:993\" is not a host name"),
        ("[outbox]\nlifetime = \"five days\"", "outbox.lifetime \"five days\" is not a duration"),
        (
            "[submission]\nenabled = true\nlisten = \"0.0.0.0:587\"",
            "submission.listen 0.0.0.0:587 is not a loopback address: set phones.tls_cert and phones.tls_key",
        ),
        (
            "[submission]\nenabled = true\nlisten_tls = \"127.0.0.1:1465\"",
            "submission.listen_tls 127.0.0.1:1465 needs a certificate",
        ),
        ("[submission]\nlisten = \"localhost\"", "submission.listen \"localhost\" is not an address:port"),
        ("[submission]\nidle_timeout = \"5 minutes\"", "submission.idle_timeout \"5 minutes\" is not a duration"),
        ("[submission]\nmax_message_size = 10", "submission.max_message_size 10 must be between 1024"),
        ("[outbox]\nlifetime = \"0s\"", "outbox.lifetime \"0s\" must be longer than zero"),
        (
            "[agent]\npoll = \"*/5 25 * * *\"",
            "agent.poll \"*/5 25 * * *\" is not a crontab schedule: the hour field \"25\"",
        ),
        ("[agent]\npoll = \"* * * 13 *\"", "the month field \"13\" is wrong (it takes 1-12 or JAN-DEC)"),
        (
            "[direct]\nhost = \"d.test\"\nmax_per_minute = 0",
            "direct.max_per_minute 0 must be a whole number of at least 1",
        ),
        ("[outbox]\nstill_waiting_after = \"2 hours\"", "outbox.still_waiting_after \"2 hours\" is not a duration"),
        ("[outbox]\nworking_hours = \"Mo-Fr 7-18\"", "outbox.working_hours \"Mo-Fr 7-18\": \"Mo\" is not a day"),
        ("[doctor]\nreports_mailbox = \"info\"", "doctor.reports_mailbox \"info\" is not a configured mailbox"),
        (
            "[doctor]\nreports_mailbox = \"becker\"\nreports_folder = \"DMARC\"",
            "doctor.reports_folder \"DMARC\" is not one of the folders mailbox \"becker\" mirrors",
        ),
        (
            "[doctor]\nreports_folder = \"INBOX\"",
            "doctor.reports_folder \"INBOX\" is set but doctor.reports_mailbox is not",
        ),
        (
            "[doctor]\ndirect_ips = [\"mail.bau-firma.de\"]",
            "doctor.direct_ips: \"mail.bau-firma.de\" is not an IP address",
        ),
    ];
    for (extra, want) in cases {
        // [imap] and [relay] already exist in `minimal`: put overrides in their own table where needed.
        let text = if extra.starts_with("[imap]") {
            minimal(p, "").replace("host = \"imap.handwerk.test\"", "host = \"imap.handwerk.test\"\nport = 99999")
        } else {
            minimal(p, extra)
        };
        let e = err(&text, p);
        assert!(e.contains(want), "{extra:?}: got {e}");
    }
    let e = err(&minimal(p, "").replace("password_file", "password_env = \"NOPE_NOT_SET_X\"\n#"), p);
    assert!(e.contains("mailbox \"becker\": password_env names $NOPE_NOT_SET_X, which is not set"), "{e}");
    let e = err(&minimal(p, "").replace("[\"Becker@Bau-Firma.de\"]", "[\"becker at bau-firma\"]"), p);
    assert!(e.contains("mailbox \"becker\": addresses \"becker at bau-firma\" is not an e-mail address"), "{e}");
    let e = err(&format!("{}transport = \"direct\"\n", minimal(p, "")), p);
    assert!(e.contains("mailbox \"becker\": transport is \"direct\" but there is no [direct] section"), "{e}");
    let e = err(&format!("{}colour = \"blue\"\n", minimal(p, "")), p);
    assert!(e.contains("unknown field `colour`"), "{e}");
    let e = err(&format!("{}[mailbox.smtp]\npassword_env = \"HOME\"\nmax_per_day = -5\n", minimal(p, "")), p);
    assert!(e.contains("mailbox \"becker\": smtp.max_per_day -5 must be a whole number of at least 1"), "{e}");
    let text = format!("{}[mailbox.smtp]\npassword_env = \"HOME\"\nmax_recipients_per_message = 50\n", minimal(p, ""));
    let c = Config::parse(&text, &p.join("p.toml")).unwrap();
    assert_eq!(c.mailboxes[0].smtp.as_ref().unwrap().limits.recipients_per_message, Some(50));
    let e = err(&format!("{}[mailbox.vacation]\ninterval = \"2h\"\n", minimal(p, "")), p);
    assert!(e.contains("mailbox \"becker\": vacation.interval \"2h\" is shorter than one day"), "{e}");
}

/// The example's commented reports keys, switched on, give what they say; the folder defaults
/// to INBOX, which a mailbox with the default folders mirrors.
/// `tls selfsigned --host ::1` prints `host = "::1"`: the config takes an IPv6 literal as
/// written. On main it was refused for its colons.
#[test]
fn phones_host_takes_an_ipv6_literal() {
    let dir = write_example_secrets();
    for host in ["::1", "fd00::20", "2001:db8::1", "192.168.1.20", "mail.bau-firma.lan"] {
        let c =
            Config::parse(&minimal(dir.path(), &format!("[phones]\nhost = \"{host}\"")), &dir.path().join("p.toml"))
                .unwrap_or_else(|e| panic!("{host}: {e}"));
        assert_eq!(c.phones.host, host);
    }
}

#[test]
fn the_reports_folder_defaults_to_the_inbox() {
    let dir = write_example_secrets();
    let text = EXAMPLE
        .replace("/etc/postbote/becker.password", &dir.path().join("pw").display().to_string())
        .replace("# reports_mailbox = \"info\"", "reports_mailbox = \"info\"")
        .replace("# direct_ips = [\"203.0.113.25\"]", "direct_ips = [\"203.0.113.25\"]");
    unsafe { std::env::set_var("POSTBOTE_INFO_PASSWORD", "info-secret") };
    let e = Config::parse(&text, &dir.path().join("postbote.toml")).unwrap();
    let r = e.doctor.reports.clone().unwrap();
    assert_eq!((r.mailbox.as_str(), &r.folder), ("info", &FolderSpec::Name("INBOX".into())));
    let with_folder = text.replace("# reports_folder = \"INBOX\"", "reports_folder = \"INBOX\"");
    let f = Config::parse(&with_folder, &dir.path().join("postbote.toml")).unwrap();
    assert_eq!(f.doctor.reports, e.doctor.reports);
    assert_eq!(e.doctor.direct_ips, vec!["203.0.113.25".parse::<std::net::IpAddr>().unwrap()]);
}

#[test]
fn inline_password_needs_an_owner_only_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = write_example_secrets();
    let path = dir.path().join("postbote.toml");
    let text = minimal(dir.path(), "")
        .replace(&format!("password_file = \"{}\"", dir.path().join("pw").display()), "password = \"inline-pw\"");
    std::fs::write(&path, &text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = Config::load(&path).unwrap_err().to_string();
    assert!(e.contains("mailbox \"becker\": password is written inline") && e.contains("chmod 600"), "{e}");
    assert!(!e.contains("inline-pw"), "the error must not show the password: {e}");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let c = Config::load(&path).unwrap();
    assert_eq!(c.mailboxes[0].password.expose(), "inline-pw");
    assert!(!format!("{c:?}").contains("inline-pw"), "Debug must redact secrets");
}

#[test]
fn durations_and_dates() {
    assert_eq!(parse_duration("5d"), Some(Duration::from_secs(5 * 86_400)));
    assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
    assert_eq!(parse_duration("8h"), Some(Duration::from_secs(8 * 3600)));
    assert_eq!(parse_duration("d"), None);
    assert_eq!(parse_duration("3 days"), None);
    // Regression: a huge count overflowed (a panic in a debug build) instead of being refused.
    assert_eq!(parse_duration("18446744073709551615w"), None);
    assert_eq!(parse_duration("307445734561825861m"), None);
    let tz: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
    let d: toml::value::Datetime = "2026-01-06".parse().unwrap();
    let end = local_datetime(&d, tz, true, "k").unwrap();
    assert_eq!(end.to_rfc3339(), "2026-01-06T23:00:00+00:00"); // midnight after the 6th, CET
    let start = local_datetime(&d, tz, false, "k").unwrap();
    assert_eq!(start.to_rfc3339(), "2026-01-05T23:00:00+00:00");
    // 02:30 on the spring-forward day does not exist in Berlin: moved to 03:30 CEST.
    let d: toml::value::Datetime = "2026-03-29T02:30:00".parse().unwrap();
    assert_eq!(local_datetime(&d, tz, false, "k").unwrap().to_rfc3339(), "2026-03-29T01:30:00+00:00");
}
