//! The write-back against the real Dovecot, one test per failure seen there: a folder created
//! and renamed (or destroyed) before its CREATE was written back, a message imported and
//! destroyed within milliseconds while the write-back runs, an expunge queued before its
//! folder was destroyed, refusals that back off instead of being given up within a second, and
//! `isSubscribed` reaching Dovecot's subscriptions.
//!
//! The phone's changes are made through the store (as JMAP makes them) and written back by
//! `mirror::writeback::drain_scheduled` on a real session, so each test decides exactly when
//! the write-back runs. Each test has its own Dovecot user.

use std::sync::Arc;
use std::time::{Duration, Instant};

use postbote::app::App;
use postbote::mirror::Mirror;
use postbote::mirror::writeback::{RetrySchedule, drain_scheduled};

use crate::support::{doveadm, jmapd, unique_user};

pub const ID: &str = "becker";

/// A data directory, config and store for one Dovecot user, mirroring INBOX.
pub struct Env {
    pub app: App,
    pub user: String,
    _dir: tempfile::TempDir,
}

impl Env {
    pub fn new(tag: &str) -> Env {
        Env::with(tag, r#"["INBOX"]"#)
    }

    /// An environment mirroring `folders` (a TOML array).
    pub fn with(tag: &str, folders: &str) -> Env {
        let (user, password) = unique_user(tag);
        Env::for_user(&user, &password, folders)
    }

    /// An environment for an existing user.
    pub fn for_user(user: &str, password: &str, folders: &str) -> Env {
        let mailbox = jmapd::Mailbox::new(ID, user, password).default_kind().name("Hans Becker").folders(folders);
        let setup = jmapd::Builder::new().mailbox(mailbox).open();
        Env { app: setup.app, user: user.to_string(), _dir: setup.dir }
    }

    pub async fn sync(&self) {
        postbote::mirror::sync_once(&self.app, ID, false).await.unwrap();
    }

    /// Write the queue back on a fresh session with `schedule` between refusals.
    pub async fn drain(&self, schedule: &RetrySchedule) -> usize {
        let mb = self.app.config.mailbox(ID).unwrap().clone();
        let mut s = postbote::imap::connect(&self.app.config, &mb).await.unwrap();
        let m = Mirror::prepare(&self.app, &mb, &mut s).await.unwrap();
        let n = drain_scheduled(&self.app, ID, &mut s, &m.profile, schedule).await.unwrap();
        let _ = s.logout().await;
        n
    }

    pub fn folder(&self, name: &str) -> i64 {
        self.app.store.folders().by_name(ID, name).unwrap().unwrap_or_else(|| panic!("no folder {name}")).id
    }

    /// The server's folders but the special ones every new user has, sorted.
    pub fn server_folders(&self) -> Vec<String> {
        let mut v: Vec<String> = doveadm(&["mailbox", "list", "-u", &self.user])
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !["Archive", "Drafts", "Junk", "Sent", "Trash"].contains(&l.as_str()))
            .collect();
        v.sort();
        v
    }

    /// The server's subscribed folders, sorted.
    pub fn server_subscribed(&self) -> Vec<String> {
        let mut v: Vec<String> =
            doveadm(&["mailbox", "list", "-s", "-u", &self.user]).lines().map(|l| l.trim().to_string()).collect();
        v.sort();
        v
    }

    /// The Message-IDs the server holds in `folder`.
    pub fn server_ids(&self, folder: &str) -> Vec<String> {
        let out = doveadm(&["-f", "tab", "fetch", "-u", &self.user, "hdr.message-id", "mailbox", folder, "all"]);
        let mut v: Vec<String> = out.lines().skip(1).map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect();
        v.sort();
        v
    }

    /// The store's folder names, sorted.
    pub fn store_folders(&self) -> Vec<String> {
        let mut v: Vec<String> = self.app.store.folders().all(ID).unwrap().into_iter().map(|f| f.name).collect();
        v.sort();
        v
    }
}

/// Every attempt due at once: a test of order, not of waiting.
fn at_once() -> RetrySchedule {
    RetrySchedule(vec![Duration::ZERO; 11])
}

fn mail(tag: &str, n: u32) -> Vec<u8> {
    format!(
        "From: Kunde <kunde@kunde.test>\r\nTo: becker@bau-firma.test\r\nSubject: {tag} {n}\r\n\
         Date: Mon, 2 Nov 2026 09:15:00 +0100\r\nMessage-ID: <{tag}.{n}.{}@kunde.test>\r\n\r\nNachricht {n}\r\n",
        std::process::id()
    )
    .into_bytes()
}

fn no_store_name(folders: &[String]) {
    assert!(!folders.iter().any(|f| f.contains("(destroyed")), "a store-made name reached the server: {folders:?}");
}

/// Regression: a folder created and renamed before its CREATE was written back used to be
/// created under the new name, the RENAME then failed, and after five refusals the store took
/// the rename back: phone and server disagreed for good. Now CREATE goes out under the name it
/// was queued with and the RENAME follows; a child created below it travels along.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_created_and_renamed_before_write_back_ends_under_the_new_name() {
    let e = Env::new("wbcreren");
    e.sync().await;
    let id = e.app.store.mailboxes().create(ID, "Angebote").unwrap().unwrap();
    e.app.store.mailboxes().create(ID, "Angebote/Meier").unwrap().unwrap();
    e.app.store.mailboxes().rename(ID, id, "Angebote 2026").unwrap().unwrap();
    e.drain(&at_once()).await;
    assert_eq!(e.app.store.writeback().pending(ID).unwrap(), 0, "{:?}", e.app.store.writeback().summary(ID));
    assert_eq!(e.app.store.writeback().summary(ID).unwrap().dropped, 0);
    assert_eq!(e.server_folders(), ["Angebote 2026", "Angebote 2026/Meier", "INBOX"]);
    e.sync().await;
    assert_eq!(e.store_folders(), ["Angebote 2026", "Angebote 2026/Meier", "INBOX"]);
    assert_eq!(e.folder("Angebote 2026"), id, "the mailbox keeps its id");
}

/// Regression: a folder created and destroyed before write-back, and a name taken again by a
/// new folder, used to send the store's name for the destroyed one ("X (destroyed 162)") to
/// the server as a CREATE. Now nothing of the destroyed folder stays there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_created_and_destroyed_before_write_back_leaves_nothing_on_the_server() {
    let e = Env::new("wbcredel");
    e.sync().await;
    let gone = e.app.store.mailboxes().create(ID, "Baustelle").unwrap().unwrap();
    e.app.store.mailboxes().rename(ID, gone, "After Rename").unwrap().unwrap();
    e.app.store.mailboxes().destroy(ID, gone, false).unwrap().unwrap();
    let twice = e.app.store.mailboxes().create(ID, "Lager").unwrap().unwrap();
    e.app.store.mailboxes().destroy(ID, twice, false).unwrap().unwrap();
    // The name is taken again by a new folder: the old row gets a store-made name.
    let again = e.app.store.mailboxes().create(ID, "Lager").unwrap().unwrap();
    e.app.store.mailboxes().create(ID, "After Rename").unwrap().unwrap();
    e.drain(&at_once()).await;
    assert_eq!(e.app.store.writeback().pending(ID).unwrap(), 0);
    let folders = e.server_folders();
    no_store_name(&folders);
    assert_eq!(folders, ["After Rename", "INBOX", "Lager"]);
    e.sync().await;
    assert_eq!(e.store_folders(), ["After Rename", "INBOX", "Lager"]);
    assert_eq!(e.folder("Lager"), again);
}

/// Regression: an expunge queued before its folder was destroyed (and the name taken by a new
/// folder) was sent to the destroyed folder's store-made name. It goes to the folder's server
/// name at its place in the queue, before the DELETE; a rename queued after it does not move it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expunge_goes_to_the_folder_as_the_server_has_it_at_its_turn() {
    let (user, password) = unique_user("wbexpdel");
    crate::support::deliver_to_folder(&user, "Alt", &mail("alt", 1));
    crate::support::deliver_to_folder(&user, "Kunden", &mail("kunden", 1));
    crate::support::deliver_to_folder(&user, "Kunden", &mail("kunden", 2));
    let e = Env::for_user(&user, &password, r#"["INBOX", "Alt", "Kunden"]"#);
    e.sync().await;
    let (alt, kunden) = (e.folder("Alt"), e.folder("Kunden"));
    let ids =
        |f: &str| -> Vec<i64> { e.app.store.messages().list(ID, Some(f), 10).unwrap().iter().map(|m| m.id).collect() };
    assert_eq!((ids("Alt").len(), ids("Kunden").len()), (1, 2), "{:?}", e.store_folders());

    // One message destroyed, then its folder destroyed and the name taken again.
    e.app.store.emails().set(ID, None, &[], &ids("Alt")).unwrap().unwrap();
    e.app.store.mailboxes().destroy(ID, alt, false).unwrap().unwrap();
    e.app.store.mailboxes().create(ID, "Alt").unwrap().unwrap();
    // One message destroyed, then its folder renamed.
    let k = ids("Kunden");
    e.app.store.emails().set(ID, None, &[], &k[..1]).unwrap().unwrap();
    e.app.store.mailboxes().rename(ID, kunden, "Kunden 2026").unwrap().unwrap();
    e.drain(&at_once()).await;
    let w = e.app.store.writeback().summary(ID).unwrap();
    assert_eq!((w.pending, w.dropped, w.last_error.as_deref()), (0, 0, None), "{w:?}");
    let folders = e.server_folders();
    no_store_name(&folders);
    assert_eq!(folders, ["Alt", "INBOX", "Kunden 2026"]);
    assert!(e.server_ids("Alt").is_empty(), "the new Alt is empty");
    assert_eq!(e.server_ids("Kunden 2026").len(), 1, "the destroyed message is gone, the other stays");
}

/// Regression: a message imported (or drafted) and destroyed within milliseconds sometimes
/// stayed on the server for good while the phone never saw it again: the expunge of the copy
/// appended meanwhile got the APPEND op's id (SQLite reuses the largest rowid) and was deleted
/// with it. Twenty times, the write-back running all along: no copy stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn messages_destroyed_within_milliseconds_of_their_import_never_stay_on_the_server() {
    let e = Arc::new(Env::new("wbimpdel"));
    e.sync().await;
    let inbox = e.folder("INBOX");
    // A change that waits all along (refused, not due again for a while) keeps a lower op id
    // alive, as other traffic did when the copies stayed.
    let f = e.app.store.mailboxes().create_with(ID, "Projekt", false, None).unwrap().unwrap();
    e.drain(&at_once()).await;
    doveadm(&["mailbox", "create", "-u", &e.user, "Belegt"]);
    e.app.store.mailboxes().rename(ID, f, "Belegt").unwrap().unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (e, stop) = (e.clone(), stop.clone());
        tokio::spawn(async move {
            let mb = e.app.config.mailbox(ID).unwrap().clone();
            let mut s = postbote::imap::connect(&e.app.config, &mb).await.unwrap();
            let m = Mirror::prepare(&e.app, &mb, &mut s).await.unwrap();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                drain_scheduled(&e.app, ID, &mut s, &m.profile, &RetrySchedule::standard()).await.unwrap();
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let _ = s.logout().await;
        })
    };
    for n in 0..20u32 {
        let c = e.app.store.emails().create(ID, inbox, mail("impdel", n), &[], 1_790_000_000).unwrap().unwrap();
        // 0 to 9 ms: before, during and after the APPEND.
        tokio::time::sleep(Duration::from_millis((n % 10) as u64)).await;
        e.app.store.emails().set(ID, None, &[], &[c.id]).unwrap().unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while e.app.store.writeback().pending(ID).unwrap() > 1 {
        assert!(Instant::now() < deadline, "the queue did not empty: {:?}", e.app.store.writeback().summary(ID));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    writer.await.unwrap();
    assert_eq!(e.server_ids("INBOX"), Vec::<String>::new(), "no destroyed message stays on the server");
    e.sync().await;
    assert!(e.app.store.messages().list(ID, Some("INBOX"), 50).unwrap().is_empty());
}

/// Regression: a refused change was tried again at once, so five refusals could come within
/// half a second. With a schedule of 1 s and 2 s it is tried three times over at least three
/// seconds, then given up and undone (the folder gets its old name back), and `status` says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_change_backs_off_and_is_given_up_only_when_the_schedule_is_used_up() {
    let e = Env::new("wbbackoff");
    e.sync().await;
    let f = e.app.store.mailboxes().create(ID, "Projekt").unwrap().unwrap();
    e.drain(&at_once()).await;
    // A folder the mirror does not follow takes the name the phone renames to: Dovecot says NO.
    doveadm(&["mailbox", "create", "-u", &e.user, "Belegt"]);
    e.app.store.mailboxes().rename(ID, f, "Belegt").unwrap().unwrap();
    let schedule = RetrySchedule(vec![Duration::from_secs(1), Duration::from_secs(2)]);
    let started = Instant::now();
    let mut drains = 0;
    while e.app.store.writeback().pending(ID).unwrap() > 0 {
        e.drain(&schedule).await;
        drains += 1;
        let attempts: i64 = e.app.store.writeback().next(ID, 0).unwrap().map_or(3, |q| q.attempts);
        assert!(attempts <= 3);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(started.elapsed() < Duration::from_secs(30), "never given up");
    }
    assert!(drains >= 10, "drains in between found the change not due ({drains})");
    assert!(started.elapsed() >= Duration::from_secs(2), "given up after {:?}", started.elapsed());
    let w = e.app.store.writeback().summary(ID).unwrap();
    assert_eq!(w.dropped, 1);
    assert!(w.last_dropped.as_deref().unwrap_or("").starts_with("rename folder: [ALREADYEXISTS]"), "{w:?}");
    assert_eq!(w.last_undone.as_deref(), Some("the folder is named \"Projekt\" again"));
    assert_eq!(e.app.store.folders().by_name(ID, "Projekt").unwrap().map(|f| f.id), Some(f));
    let part = postbote::status::writeback::render(&w, chrono_tz::Europe::Berlin);
    assert!(part.lines.iter().any(|l| l == "  undone: the folder is named \"Projekt\" again"), "{:?}", part.lines);
    assert_eq!(part.json["last_undone"], "the folder is named \"Projekt\" again");
}

/// `isSubscribed`: a folder made on the phone is subscribed on the server too; unsubscribing
/// and subscribing again reach Dovecot's subscriptions, under the folder's name at the time;
/// a change made in webmail reaches the store when the mirror lists the folders.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn is_subscribed_reaches_the_servers_subscriptions() {
    let e = Env::new("wbsubs");
    e.sync().await;
    let f = e.app.store.mailboxes().create(ID, "Rechnungen").unwrap().unwrap();
    let quiet = e.app.store.mailboxes().create_with(ID, "Archiv alt", false, Some(3)).unwrap().unwrap();
    e.drain(&at_once()).await;
    assert!(e.server_subscribed().contains(&"Rechnungen".to_string()), "{:?}", e.server_subscribed());
    assert!(!e.server_subscribed().contains(&"Archiv alt".to_string()));
    e.app.store.mailboxes().set_subscribed(ID, f, false).unwrap().unwrap();
    e.app.store.mailboxes().rename(ID, f, "Rechnungen 2026").unwrap().unwrap();
    e.app.store.mailboxes().set_subscribed(ID, quiet, true).unwrap().unwrap();
    e.drain(&at_once()).await;
    let subs = e.server_subscribed();
    assert!(!subs.iter().any(|s| s.starts_with("Rechnungen")), "{subs:?}");
    assert!(subs.contains(&"Archiv alt".to_string()), "{subs:?}");
    e.sync().await;
    let rows = || e.app.store.mailboxes().all(ID).unwrap();
    let row = |id: i64| rows().into_iter().find(|r| r.id == id).unwrap();
    assert_eq!((row(f).subscribed, row(quiet).subscribed, row(quiet).sort_order), (false, true, Some(3)));

    // Changed in webmail: the mirror reads the subscriptions when it lists the folders, and
    // the sortOrder, which IMAP does not have, stays.
    doveadm(&["mailbox", "subscribe", "-u", &e.user, "Rechnungen 2026"]);
    doveadm(&["mailbox", "unsubscribe", "-u", &e.user, "Archiv alt"]);
    e.sync().await;
    assert_eq!((row(f).subscribed, row(quiet).subscribed, row(quiet).sort_order), (true, false, Some(3)));
    let inbox = e.folder("INBOX");
    assert!(!e.server_subscribed().contains(&"INBOX".to_string()), "Dovecot leaves INBOX out here");
    assert!(row(inbox).subscribed, "INBOX is always shown subscribed");
    // A phone's change not yet written back is not overwritten by the server's old state.
    e.app.store.mailboxes().set_subscribed(ID, quiet, true).unwrap().unwrap();
    let mb = e.app.config.mailbox(ID).unwrap().clone();
    let mut s = postbote::imap::connect(&e.app.config, &mb).await.unwrap();
    postbote::mirror::writeback::read_subscriptions(&e.app, ID, &mut s).await.unwrap();
    assert!(row(quiet).subscribed, "the phone's change waits for the server, and shows meanwhile");
    let _ = s.logout().await;
    e.drain(&at_once()).await;
    assert!(e.server_subscribed().contains(&"Archiv alt".to_string()));
}

/// Mailbox `sortOrder` and `isSubscribed` through the JMAP methods: stored, returned by
/// Mailbox/get and Mailbox/query's filter, answered `updated` only once applied, refused when
/// not of their type; the subscription reaches Dovecot, the order stays across syncs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailbox_sort_order_and_is_subscribed_through_jmap() {
    use postbote::jmap::device::{Access, Authed};
    use postbote::jmap::dispatch::{Request, run};
    use serde_json::{Value, json};
    let e = Env::new("wbjmapprefs");
    e.sync().await;
    let authed = Authed {
        device: 1,
        username: ID.into(),
        accounts: vec![Access { account_id: ID.into(), mailbox: ID.into(), personal: true }],
    };
    let call = |calls: Value| {
        let req = Request::parse(
            json!({"using": ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"], "methodCalls": calls}),
        )
        .unwrap();
        run(&e.app, &authed, req, "s".into())["methodResponses"].clone()
    };
    let r = call(
        json!([["Mailbox/set", {"accountId": ID, "create": {"a": {"name": "Aufträge", "isSubscribed": false, "sortOrder": 5}}}, "0"]]),
    );
    let id = r[0][1]["created"]["a"]["id"].as_str().unwrap_or_else(|| panic!("{r}")).to_string();
    assert_eq!(
        (&r[0][1]["created"]["a"]["isSubscribed"], &r[0][1]["created"]["a"]["sortOrder"]),
        (&json!(false), &json!(5))
    );
    let get = |id: &str| {
        let r = call(
            json!([["Mailbox/get", {"accountId": ID, "ids": [id], "properties": ["isSubscribed", "sortOrder"]}, "0"]]),
        );
        (r[0][1]["list"][0]["isSubscribed"].clone(), r[0][1]["list"][0]["sortOrder"].clone())
    };
    assert_eq!(get(&id), (json!(false), json!(5)));
    let r = call(json!([["Mailbox/set", {"accountId": ID, "update": {
        id.clone(): {"isSubscribed": true, "sortOrder": 7}}}, "0"],
        ["Mailbox/set", {"accountId": ID, "update": {id.clone(): {"sortOrder": -1}}}, "1"],
        ["Mailbox/set", {"accountId": ID, "update": {id.clone(): {"isSubscribed": "yes"}}}, "2"],
        ["Mailbox/query", {"accountId": ID, "filter": {"isSubscribed": true}}, "3"]]));
    assert!(r[0][1]["updated"].get(&id).is_some(), "{r}");
    assert_eq!(r[1][1]["notUpdated"][&id]["properties"], json!(["sortOrder"]), "{r}");
    assert_eq!(r[2][1]["notUpdated"][&id]["properties"], json!(["isSubscribed"]), "{r}");
    assert!(r[3][1]["ids"].as_array().unwrap().contains(&json!(id)), "{r}");
    assert_eq!(get(&id), (json!(true), json!(7)));
    e.drain(&at_once()).await;
    assert!(e.server_subscribed().contains(&"Aufträge".to_string()), "{:?}", e.server_subscribed());
    e.sync().await;
    assert_eq!(get(&id), (json!(true), json!(7)), "kept across a sync");
}
