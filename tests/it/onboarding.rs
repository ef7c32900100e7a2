//! One-step phone setup against the real daemon (in-process, its JMAP listener on loopback)
//! and real software on the other side: Python's `plistlib` reads the Apple profile and
//! `xml.etree` the autoconfig answer as Thunderbird reads it, `openssl` prints the self-signed
//! certificate's fingerprint, and a rustls client trusting only that certificate completes a
//! handshake with the daemon's `ServerTls`. The command line is the real binary.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use postbote::devices::Protocol;
use postbote::onboard::link;
use serde_json::Value;

use crate::support;
use crate::support::jmapd::{self, Daemon};

const PHONES: &str = "[phones]\nhost = \"mail.bau-firma.test\"\nimap_port = 993\nimap_security = \"tls\"\n\
                      smtp_port = 587\nsmtp_security = \"starttls\"\nsetup_link_ttl = \"10m\"\n";

fn postbote(config: &Path, cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_postbote"))
        .current_dir(cwd)
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "{}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

/// Runs `script` with python3, `arg` as argv[1]; its stdout parsed as JSON.
fn python(script: &str, arg: &str) -> Value {
    let o = Command::new("python3").arg("-c").arg(script).arg(arg).output().expect("python3 runs");
    assert!(o.status.success(), "python: {}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// plistlib's reading of a profile file: the top dict and the mail payload.
const PLIST: &str = r#"
import json, plistlib, sys
with open(sys.argv[1], 'rb') as f:
    p = plistlib.load(f)
print(json.dumps(p))
"#;

/// xml.etree's reading of an autoconfig document, as Thunderbird's fields.
const AUTOCONFIG: &str = r#"
import json, sys, xml.etree.ElementTree as ET
root = ET.fromstring(open(sys.argv[1], 'rb').read())
assert root.tag == 'clientConfig', root.tag
p = root.find('emailProvider')
def server(e):
    return {'type': e.get('type'), **{k: e.findtext(k) for k in ['hostname', 'port', 'socketType', 'username', 'authentication']}}
print(json.dumps({
    'version': root.get('version'),
    'id': p.get('id'),
    'domains': [d.text for d in p.findall('domain')],
    'incoming': [server(e) for e in p.findall('incomingServer')],
    'outgoing': [server(e) for e in p.findall('outgoingServer')],
}))
"#;

async fn daemon(user: &str, pw: &str) -> Daemon {
    jmapd::Builder::new()
        .section(PHONES)
        .mailbox(jmapd::Mailbox::new("becker", user, pw).name("Hans Becker"))
        .start()
        .await
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Whether `grep` finds `needle` in any of the store's files (the database and its log).
/// Another process reads them: closing a descriptor of the database in this process would drop
/// the running daemon's SQLite locks on it (POSIX record locks are per process).
fn store_holds(d: &Daemon, needle: &str) -> bool {
    let db = d.app.config.store_path();
    let files: Vec<String> =
        ["", "-wal", "-shm"].iter().map(|s| format!("{}{s}", db.display())).filter(|p| Path::new(p).exists()).collect();
    let o = Command::new("grep").args(["-a", "-F", "-q", "-e", needle]).args(&files).output().unwrap();
    match o.status.code() {
        Some(0) => true,
        Some(1) => false,
        _ => panic!("grep failed: {}", String::from_utf8_lossy(&o.stderr)),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn device_add_profile_plist_one_time_link_and_nothing_in_clear_in_the_store() {
    let (user, pw) = support::unique_user("onboard-link");
    let d = daemon(&user, &pw).await;
    let dir = d.dir.path();
    let profile = dir.join("phone.mobileconfig");
    // Tab and line breaks too: written raw, plistlib would read the CR as a LF.
    let name = "iPhone <Becker & Söhne> \"neu\"\tzwei\r\nZeilen";
    let out = ok(postbote(
        &d.config,
        dir,
        &["device", "add", "--mailbox", "becker", "--name", name, "--profile", profile.to_str().unwrap(), "--json"],
    ));
    let v: Value = serde_json::from_str(&out).unwrap();
    let token = v["token"].as_str().unwrap().to_string();
    let url = v["link"]["url"].as_str().unwrap().to_string();
    assert_eq!(v["link"]["ttl_seconds"], 600);
    assert_eq!(
        (v["manual"]["imap"]["port"].as_u64(), v["manual"]["smtp"]["security"].as_str()),
        (Some(993), Some("starttls"))
    );
    assert!(url.starts_with(&format!("{}/setup/", d.url)), "{url}");
    let secret = url.rsplit('/').next().unwrap().to_string();

    // The file: private, and what plistlib reads in it.
    assert_eq!(std::fs::metadata(&profile).unwrap().permissions().mode() & 0o777, 0o600);
    let p = python(PLIST, profile.to_str().unwrap());
    assert_eq!(p["PayloadType"], "Configuration");
    let content = p["PayloadContent"].as_array().unwrap();
    assert_eq!(content.len(), 1);
    let m = &content[0];
    assert_eq!(m["PayloadType"], "com.apple.mail.managed");
    assert_eq!(m["EmailAccountType"], "EmailTypeIMAP");
    assert_eq!(m["EmailAccountDescription"], name, "an odd device name survives intact");
    assert_eq!(m["EmailAccountName"], "Hans Becker");
    assert_eq!(m["EmailAddress"], "becker@bau-firma.test");
    for k in ["IncomingMailServerHostName", "OutgoingMailServerHostName"] {
        assert_eq!(m[k], "mail.bau-firma.test", "{k}");
    }
    assert_eq!(
        (m["IncomingMailServerPortNumber"].as_u64(), m["OutgoingMailServerPortNumber"].as_u64()),
        (Some(993), Some(587))
    );
    assert_eq!(
        (m["IncomingMailServerUseSSL"].as_bool(), m["OutgoingMailServerUseSSL"].as_bool()),
        (Some(true), Some(true)),
        "\"Use SSL\" means TLS required, by STARTTLS on 587"
    );
    assert_eq!(
        (m["IncomingMailServerUsername"].as_str(), m["OutgoingMailServerUsername"].as_str()),
        (Some("becker@bau-firma.test"), Some("becker@bau-firma.test"))
    );
    assert_eq!(
        (m["IncomingPassword"].as_str(), m["OutgoingPassword"].as_str()),
        (Some(token.as_str()), Some(token.as_str()))
    );
    assert_ne!(m["PayloadUUID"], p["PayloadUUID"]);

    // The store holds neither the token nor the link, in the database or its log.
    assert!(store_holds(&d, "iPhone <Becker"), "the search finds what is there (the device's name)");
    assert!(!store_holds(&d, &token), "the token rests in the store in clear");
    assert!(!store_holds(&d, &secret), "the link rests in the store in clear");
    assert!(!store_holds(&d, "IncomingPassword"), "the profile rests in the store in clear");

    // The link works once, with the profile as iOS wants it, then is gone.
    let path = format!("/setup/{secret}");
    assert_eq!(d.http("HEAD", &path, &[], b"").await.0, 405, "a HEAD does not use the link up");
    let (status, h, body) = d.http("GET", &path, &[], b"").await;
    assert_eq!(status, 200);
    assert_eq!(header(&h, "content-type"), Some("application/x-apple-aspen-config"));
    let cd = header(&h, "content-disposition").unwrap();
    assert!(cd.starts_with("attachment; filename=\"") && cd.ends_with(".mobileconfig\""), "{cd}");
    assert_eq!(body, std::fs::read(&profile).unwrap(), "the link serves the profile that was written");
    let (status, _, _) = d.http("GET", &path, &[], b"").await;
    assert_eq!(status, 410, "a second use");
    assert_eq!(d.http("GET", &format!("/setup/{}", link::new_link()), &[], b"").await.0, 404, "an unknown link");
    assert_eq!(d.http("GET", "/setup/nonsense", &[], b"").await.0, 404);

    // An expired link is gone too.
    let dev = v["id"].as_i64().unwrap();
    let old = link::new_link();
    let now = postbote::store::now();
    d.app
        .store
        .setup_links()
        .add(dev, &link::hash(&old), &link::seal(&old, b"<plist/>"), now - 700, now - 100)
        .unwrap();
    assert_eq!(d.http("GET", &format!("/setup/{old}"), &[], b"").await.0, 410, "an expired link");

    // And so is the link of a revoked device, from `device add` without --json (default file
    // name in the current directory, the QR code and the settings by hand).
    let text = ok(postbote(&d.config, dir, &["device", "add", "--mailbox", "becker", "--name", "iPad Becker"]));
    assert!(dir.join("iPad-Becker.mobileconfig").exists(), "{text}");
    for want in [
        "One-time link to the profile: it works once, for 10 minutes",
        "▀",
        "mail.bau-firma.test, port 587, STARTTLS",
        "Settings for mail apps without profiles",
    ] {
        assert!(text.contains(want), "{want:?} in:\n{text}");
    }
    let second = text.lines().find(|l| l.contains("/setup/")).unwrap().trim().to_string();
    let id: i64 = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let revoked = ok(postbote(&d.config, dir, &["device", "revoke", &id.to_string()]));
    assert!(revoked.contains("within a second") && revoked.contains("setup link, not yet used, is void"), "{revoked}");
    let second_path = second.trim_start_matches(&d.url).to_string();
    assert_eq!(d.http("GET", &second_path, &[], b"").await.0, 410, "a revoked device's link");
    let again = postbote(&d.config, dir, &["device", "add", "--mailbox", "becker", "--name", "iPad Becker"]);
    assert!(!again.status.success(), "an existing profile file is never overwritten");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn autoconfig_as_thunderbird_reads_it_list_shows_protocol_and_status_shows_connections() {
    let (user, pw) = support::unique_user("onboard-auto");
    let d = daemon(&user, &pw).await;
    let dir = d.dir.path();
    for path in [
        "/.well-known/autoconfig/mail/config-v1.1.xml",
        "/mail/config-v1.1.xml",
        "/mail/config-v1.1.xml?emailaddress=becker%40bau-firma.test",
        "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=BECKER@Bau-Firma.test",
    ] {
        let (status, _, body) = d.http("GET", path, &[], b"").await;
        assert_eq!(status, 200, "{path}");
        let f = dir.join("autoconfig.xml");
        std::fs::write(&f, &body).unwrap();
        let a = python(AUTOCONFIG, f.to_str().unwrap());
        assert_eq!(a["version"], "1.1");
        assert_eq!(a["id"], "bau-firma.test");
        assert_eq!(a["domains"], serde_json::json!(["bau-firma.test"]));
        let server = |ty: &str, port: &str, sock: &str| {
            serde_json::json!([{"type": ty, "hostname": "mail.bau-firma.test", "port": port, "socketType": sock,
                "username": "%EMAILADDRESS%", "authentication": "password-cleartext"}])
        };
        assert_eq!(a["incoming"], server("imap", "993", "SSL"), "{path}");
        assert_eq!(a["outgoing"], server("smtp", "587", "STARTTLS"), "{path}");
    }
    let (status, _, _) = d.http("GET", "/mail/config-v1.1.xml?emailaddress=jemand@example.org", &[], b"").await;
    assert_eq!(status, 404, "another domain");

    // `device list` shows when and over which protocol a device was last used.
    let out =
        ok(postbote(&d.config, dir, &["device", "add", "--mailbox", "becker", "--name", "Pixel Becker", "--json"]));
    let v: Value = serde_json::from_str(&out).unwrap();
    let (id, token) = (v["id"].as_i64().unwrap(), v["token"].as_str().unwrap().to_string());
    let listed = ok(postbote(&d.config, dir, &["device", "list"]));
    assert!(listed.contains("Pixel Becker") && listed.contains("last used never"), "{listed}");
    let (status, _, _) =
        d.http("GET", "/.well-known/jmap", &[("Authorization", &format!("Bearer {token}"))], b"").await;
    assert_eq!(status, 200);
    let listed = ok(postbote(&d.config, dir, &["device", "list"]));
    let line = listed.lines().find(|l| l.contains("Pixel Becker")).unwrap();
    assert!(line.contains("over JMAP") && !line.contains("never"), "{line}");
    let j: Value = serde_json::from_str(&ok(postbote(&d.config, dir, &["device", "list", "--json"]))).unwrap();
    let dev = j.as_array().unwrap().iter().find(|x| x["id"] == id).unwrap();
    assert_eq!((dev["last_protocol"].as_str(), dev["revoked"].as_bool()), (Some("jmap"), Some(false)));
    assert!(dev["last_used_at"].as_i64().is_some());

    // `status` shows an open connection of the daemon (as the IMAP server opens one after a
    // login), and revoking from the command line ends it within a second.
    let status_text = ok(postbote(&d.config, dir, &["status"]));
    assert!(status_text.contains("devices connected: none"), "{status_text}");
    let conn = d.app.live.open(id, Protocol::Imap).await.unwrap();
    let status_text = ok(postbote(&d.config, dir, &["status"]));
    assert!(status_text.contains("devices connected: IMAP 1 device (1 connection)"), "{status_text}");
    let s: Value = serde_json::from_str(&ok(postbote(&d.config, dir, &["status", "--json"]))).unwrap();
    assert_eq!(s["devices"]["connected"]["imap"], serde_json::json!({"devices": 1, "connections": 1}));
    ok(postbote(&d.config, dir, &["device", "revoke", &id.to_string()]));
    tokio::time::timeout(Duration::from_secs(3), conn.ended()).await.expect("the revoked device's connection ends");
    let j: Value = serde_json::from_str(&ok(postbote(&d.config, dir, &["device", "list", "--json"]))).unwrap();
    assert_eq!(j.as_array().unwrap().iter().find(|x| x["id"] == id).unwrap()["revoked"], true);
    drop(conn);
    d.stop().await;
}

/// An open EventSource stream is one of the device's connections: `status` counts it, and
/// revoking the device (in the store, as `device revoke` from another process does) ends the
/// stream within a few seconds. On main the stream went on with a revoked token.
#[tokio::test(flavor = "multi_thread")]
async fn revoking_a_device_ends_its_event_source_stream() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (user, pw) = support::unique_user("onboard-es");
    let d = daemon(&user, &pw).await;
    let token = d.device("becker", &[]);
    let id = d.app.store.devices().all().unwrap().iter().map(|x| x.id).max().unwrap();
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", d.port)).await.unwrap();
    let request = format!(
        "GET /jmap/eventsource/?types=*&closeafter=no&ping=0 HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Authorization: Bearer {token}\r\nAccept: text/event-stream\r\nConnection: close\r\n\r\n"
    );
    s.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "closed before the headers: {}", String::from_utf8_lossy(&head));
        head.extend_from_slice(&buf[..n]);
    }
    assert!(head.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&head));
    jmapd::eventually(Duration::from_secs(5), "the stream counts as a JMAP connection", || async {
        d.app.live.counts().iter().any(|(p, _, n)| *p == Protocol::Jmap && *n == 1)
    })
    .await;
    // Still open a moment later: only the revocation ends it.
    if let Ok(r) = tokio::time::timeout(Duration::from_millis(300), s.read(&mut buf)).await {
        assert!(r.unwrap() > 0, "the stream ended before the revocation");
    }
    assert!(d.app.store.devices().revoke(id).unwrap());
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest))
        .await
        .expect("the revoked device's stream ends within a few seconds")
        .unwrap();
    jmapd::eventually(Duration::from_secs(5), "the connection is closed", || async {
        !d.app.live.counts().iter().any(|(p, _, _)| *p == Protocol::Jmap)
    })
    .await;
    d.stop().await;
}

/// A TLS handshake to `acceptor` from a client that trusts only `cert_pem`, naming `name`.
async fn handshake(tls: &postbote::devices::ServerTls, cert: &Path, name: &str) -> Result<(), String> {
    use rustls_pki_types::pem::PemObject;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tls.acceptor();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut s = acceptor.accept(tcp).await.map_err(|e| e.to_string())?;
        s.write_all(b"ok").await.map_err(|e| e.to_string())?;
        s.shutdown().await.map_err(|e| e.to_string())
    });
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::CertificateDer::pem_file_iter(cert).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let server_name = rustls_pki_types::ServerName::try_from(name.to_string()).unwrap();
    let mut s = connector.connect(server_name, tcp).await.map_err(|e| e.to_string())?;
    let mut got = Vec::new();
    s.read_to_end(&mut got).await.map_err(|e| e.to_string())?;
    server.await.unwrap()?;
    if got != b"ok" {
        return Err(format!("read {got:?}"));
    }
    Ok(())
}

fn openssl_fingerprint(cert: &Path) -> String {
    let o =
        Command::new("openssl").args(["x509", "-noout", "-fingerprint", "-sha256", "-in"]).arg(cert).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let line = String::from_utf8(o.stdout).unwrap();
    line.trim().split_once('=').expect("Fingerprint=…").1.to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_selfsigned_fingerprint_as_openssl_modes_and_a_handshake_trusting_only_it() {
    postbote::tls::install_provider();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("certs");
    let no_config = tmp.path().join("none.toml");
    let run = |host: &str, force: bool| {
        let mut args = vec!["tls", "selfsigned", "--host", host, "--out", out.to_str().unwrap()];
        if force {
            args.push("--force");
        }
        postbote(&no_config, tmp.path(), &args)
    };
    let printed = ok(run("localhost", false));
    let (cert, key) = (out.join("phones-cert.pem"), out.join("phones-key.pem"));
    for f in [&cert, &key] {
        assert_eq!(std::fs::metadata(f).unwrap().permissions().mode() & 0o777, 0o600, "{}", f.display());
    }
    let fp = printed.lines().find_map(|l| l.strip_prefix("SHA-256 fingerprint: ")).expect("the fingerprint line");
    assert_eq!(fp, openssl_fingerprint(&cert));
    for want in
        ["[phones]", "host = \"localhost\"", &format!("tls_cert = \"{}\"", cert.canonicalize().unwrap().display())]
    {
        assert!(printed.contains(want), "{want} in:\n{printed}");
    }
    let tls = postbote::devices::ServerTls::load(&cert, &key, &[]).expect("the pair loads");
    handshake(&tls, &cert, "localhost").await.expect("a client trusting only this certificate connects");
    assert!(handshake(&tls, &cert, "mail.example.org").await.is_err(), "another name does not match");

    // Never overwritten without --force; with it, a new pair, and SIGHUP's reload takes it.
    let refused = run("127.0.0.1", false);
    assert!(!refused.status.success());
    assert_eq!(openssl_fingerprint(&cert), fp, "the pair is unchanged");
    let printed = ok(run("127.0.0.1", true));
    let fp2 = printed.lines().find_map(|l| l.strip_prefix("SHA-256 fingerprint: ")).unwrap();
    assert_ne!(fp2, fp);
    assert_eq!(fp2, openssl_fingerprint(&cert));
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    tls.reload().unwrap();
    handshake(&tls, &cert, "127.0.0.1").await.expect("an IP address as the host: an IP SAN");
}

/// The daemon as a process (`postbote run`, logging at trace level): neither the link nor the
/// token it guards reaches its log, while the download itself is logged by device.
#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_never_logs_a_setup_link_or_token() {
    let (user, pw) = support::unique_user("onboard-log");
    let tmp = tempfile::tempdir().unwrap();
    let (control, port) = (support::free_port(), support::free_port());
    let config = jmapd::Builder::new()
        .section(&format!("[control]\nlisten = \"127.0.0.1:{control}\"\n[jmap]\nlisten = \"127.0.0.1:{port}\"\n"))
        .section(PHONES)
        .mailbox(jmapd::Mailbox::new("becker", &user, &pw))
        .write(tmp.path());
    let dir = tmp.path();
    ok(postbote(&config, dir, &["init"]));
    let log_path = dir.join("daemon.log");
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_postbote"))
        .arg("--config")
        .arg(&config)
        .args(["-vv", "run"])
        .env("RUST_LOG", "trace")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    jmapd::eventually(Duration::from_secs(30), "the JMAP port opens", || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok()
    })
    .await;

    let v: Value = serde_json::from_str(&ok(postbote(
        &config,
        dir,
        &["device", "add", "--mailbox", "becker", "--name", "iPhone Log", "--json"],
    )))
    .unwrap();
    let (token, url) = (v["token"].as_str().unwrap().to_string(), v["link"]["url"].as_str().unwrap().to_string());
    let path = url.split_once(&format!("127.0.0.1:{port}")).unwrap().1.to_string();
    let get = |p: String| async move {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        s.write_all(format!("GET {p} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        String::from_utf8_lossy(&out).split_whitespace().nth(1).unwrap().to_string()
    };
    assert_eq!(get(path.clone()).await, "200");
    assert_eq!(get(path.clone()).await, "410");
    jmapd::eventually(Duration::from_secs(10), "the download is logged", || async {
        log().contains("setup: a device's profile was downloaded")
    })
    .await;
    unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
    let _ = tokio::task::spawn_blocking(move || daemon.wait()).await;
    let secret = path.rsplit('/').next().unwrap();
    let log = log();
    assert!(!log.contains(secret), "the link reached the log:\n{log}");
    assert!(!log.contains(&token), "the token reached the log:\n{log}");
}
