//! Randomized convergence of the write-back and the mirror against the real Dovecot.
//!
//! A seeded generator interleaves a phone's changes (folder create, rename, move to another
//! parent and destroy, email move, keyword change and destroy, all through the JMAP methods
//! in-process; email import and draft through the store call `Email/import` and `Email/set`
//! make, as those need an uploaded blob) with changes another client makes on the server at the
//! same time (new mail, flags, moves and expunges through `doveadm`, folders it creates or a
//! phone-made folder it deletes), while a mirror task writes back and syncs all along on its
//! own session. Afterwards the write-back queue is run dry and the mirror syncs until nothing
//! changes; then the folder tree, each folder's messages by Message-ID and their keywords must
//! be the same on Dovecot and in the store (which JMAP shows as it is). Refused changes wait
//! one second between attempts here, so a conflict is given up within seconds, and giving up
//! must also converge (the server's state wins).
//!
//! CI runs [`CI_SEEDS`]; `POSTBOTE_CONVERGENCE_SEEDS=N` runs N further seeds (from 1000, or
//! from `POSTBOTE_CONVERGENCE_FROM`),
//! `POSTBOTE_CONVERGENCE_SEED=S` exactly seed S. A failure prints the seed, the operations and
//! the difference; `POSTBOTE_CONVERGENCE_VERBOSE=1` prints every seed's operations.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use postbote::jmap::ids;
use postbote::mirror::writeback::{RetrySchedule, WritebackError, drain_scheduled};
use postbote::mirror::{Mirror, PassOptions};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::support::doveadm;
use crate::writeback::{Env, ID};

/// The seeds CI runs (about 2 s each on a quiet machine).
const CI_SEEDS: [u64; 20] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20];
/// Operations per seed.
const OPS: usize = 40;
/// The special folders every new Dovecot user has; the mirror follows only INBOX here.
const UNFOLLOWED: [&str; 5] = ["Archive", "Drafts", "Junk", "Sent", "Trash"];

fn seeds() -> Vec<u64> {
    if let Ok(s) = std::env::var("POSTBOTE_CONVERGENCE_SEED") {
        return vec![s.trim().parse().unwrap_or_else(|_| panic!("POSTBOTE_CONVERGENCE_SEED \"{s}\" is not a number"))];
    }
    let num = |k: &str| std::env::var(k).ok().and_then(|s| s.trim().parse::<u64>().ok());
    let (more, from) =
        (num("POSTBOTE_CONVERGENCE_SEEDS").unwrap_or(0), num("POSTBOTE_CONVERGENCE_FROM").unwrap_or(1000));
    CI_SEEDS.iter().copied().chain((0..more).map(|i| from + i)).collect()
}

/// Refused changes wait a second (the store counts whole seconds) and get four attempts.
fn schedule() -> RetrySchedule {
    RetrySchedule(vec![Duration::from_millis(1); 3])
}

/// A message as both sides are compared: (folder, Message-ID, keywords).
type Seen = BTreeSet<(String, String, Vec<String>)>;

fn mail(seed: u64, n: usize, tag: &str) -> Vec<u8> {
    format!(
        "From: Kunde <kunde@kunde.test>\r\nTo: becker@bau-firma.test\r\nSubject: {tag} {n}\r\n\
         Date: Mon, 2 Nov 2026 09:15:00 +0100\r\nMessage-ID: <conv.{seed}.{n}.{tag}.{}@kunde.test>\r\n\r\nNachricht {n}\r\n",
        std::process::id()
    )
    .into_bytes()
}

/// The server's folders the mirror follows (all but the special ones and those only the
/// server side made), sorted. Folders only: a name the server keeps as a `\Noselect` node of
/// the hierarchy (a CREATE of `a/b` makes `a` one) is no folder, and `mailbox status` leaves it
/// out.
fn server_tree(e: &Env, server_only: &BTreeSet<String>) -> Vec<String> {
    let out = doveadm(&["-f", "tab", "mailbox", "status", "-u", &e.user, "messages", "*"]);
    let mut v: Vec<String> = out
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
        .map(str::to_string)
        .filter(|f| !server_only.contains(f) && !UNFOLLOWED.contains(&f.as_str()))
        .collect();
    v.sort();
    v
}

/// (folder, uid, Message-ID, keywords) of every message on the server.
fn server_messages(e: &Env) -> Vec<(String, u32, String, Vec<String>)> {
    let out = doveadm(&["-f", "tab", "fetch", "-u", &e.user, "mailbox uid hdr.message-id flags", "all"]);
    out.lines()
        .skip(1)
        .filter_map(|l| {
            let mut it = l.split('\t');
            let (folder, uid, id, flags) = (it.next()?, it.next()?, it.next()?, it.next().unwrap_or(""));
            let mut kw: Vec<String> =
                flags.split_whitespace().filter_map(postbote::store::messages::flag_to_keyword).collect();
            kw.sort();
            kw.dedup();
            Some((folder.to_string(), uid.parse().ok()?, id.trim().trim_matches(['<', '>']).to_string(), kw))
        })
        .collect()
}

fn server_seen(e: &Env, tree: &[String]) -> Seen {
    server_messages(e).into_iter().filter(|(f, ..)| tree.contains(f)).map(|(f, _, id, kw)| (f, id, kw)).collect()
}

fn store_seen(e: &Env) -> Seen {
    e.app
        .store
        .read(|c| {
            let mut s = c.prepare(
                "SELECT f.name, COALESCE(m.message_id, ''), m.keywords FROM message m JOIN folder f ON f.id = m.folder_id
                 WHERE m.account = ?1",
            )?;
            let rows = s.query_map([ID], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))?;
            let mut out = Seen::new();
            for r in rows {
                let (f, id, kw) = r?;
                let mut kw: Vec<String> = serde_json::from_str(&kw).unwrap_or_default();
                kw.sort();
                out.insert((f, id.trim_matches(['<', '>']).to_string(), kw));
            }
            Ok(out)
        })
        .unwrap()
}

/// The mirror task: write back, list the folders, sync, again and again, on one session
/// (a new one after an IMAP error), until `stop`.
async fn mirror_loop(e: Arc<Env>, stop: Arc<AtomicBool>) {
    let mb = e.app.config.mailbox(ID).unwrap().clone();
    while !stop.load(Ordering::SeqCst) {
        let Ok(mut s) = postbote::imap::connect(&e.app.config, &mb).await else { continue };
        let Ok(mut m) = Mirror::prepare(&e.app, &mb, &mut s).await else { continue };
        while !stop.load(Ordering::SeqCst) {
            match drain_scheduled(&e.app, ID, &mut s, &m.profile, &schedule()).await {
                Ok(_) => {}
                Err(WritebackError::Imap(_)) => break,
                Err(WritebackError::Store(err)) => panic!("store: {err}"),
            }
            if m.discover(&mut s).await.is_err() || m.pass(&mut s, PassOptions::default()).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let _ = s.logout().await;
    }
}

/// Run the queue dry and sync until a pass finds the queue still empty.
async fn settle(e: &Env) -> Result<(), String> {
    let mb = e.app.config.mailbox(ID).unwrap().clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if Instant::now() > deadline {
            let mut queue = Vec::new();
            let mut after = 0;
            while let Some(q) = e.app.store.writeback().next(ID, after).unwrap() {
                after = q.id;
                queue.push(format!("{q:?}"));
            }
            return Err(format!("the write-back queue never emptied:\n  {}", queue.join("\n  ")));
        }
        let mut s = postbote::imap::connect(&e.app.config, &mb).await.unwrap();
        let mut m = Mirror::prepare(&e.app, &mb, &mut s).await.unwrap();
        drain_scheduled(&e.app, ID, &mut s, &m.profile, &schedule()).await.unwrap();
        m.discover(&mut s).await.unwrap();
        m.pass(&mut s, PassOptions::default()).await.unwrap();
        let _ = s.logout().await;
        if e.app.store.writeback().pending(ID).unwrap() == 0 {
            // One more round: a pass may have queued nothing, but the write-back of the last
            // round may have left the mirror something to see.
            let mut s = postbote::imap::connect(&e.app.config, &mb).await.unwrap();
            let mut m = Mirror::prepare(&e.app, &mb, &mut s).await.unwrap();
            m.discover(&mut s).await.unwrap();
            m.pass(&mut s, PassOptions::default()).await.unwrap();
            let _ = s.logout().await;
            if e.app.store.writeback().pending(ID).unwrap() == 0 {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The live folders of the store: (id, name, made on the phone).
fn store_folders(e: &Env) -> Vec<(i64, String)> {
    e.app.store.folders().all(ID).unwrap().into_iter().map(|f| (f.id, f.name)).collect()
}

fn store_message_ids(e: &Env) -> Vec<i64> {
    e.app
        .store
        .read(|c| {
            let mut s = c.prepare("SELECT id FROM message WHERE account = ?1 ORDER BY id")?;
            let v = s.query_map([ID], |r| r.get(0))?.collect::<rusqlite::Result<Vec<i64>>>()?;
            Ok(v)
        })
        .unwrap()
}

/// doveadm on the stack's Dovecot, its failure an answer (the server side may lose a race with
/// the phone: a folder or message gone meanwhile).
fn doveadm_result(args: &[&str]) -> Result<(), String> {
    let conf = crate::support::stack_dir().join("dovecot/dovecot.conf");
    let out = std::process::Command::new("doveadm").arg("-c").arg(conf).args(args).output().unwrap();
    if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).trim().to_string()) }
}

/// `doveadm save`: a message into an existing folder (a missing one is an error, not made).
fn doveadm_save(user: &str, folder: &str, raw: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let conf = crate::support::stack_dir().join("dovecot/dovecot.conf");
    let mut child = std::process::Command::new("doveadm")
        .arg("-c")
        .arg(conf)
        .args(["save", "-u", user, "-m", folder])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(raw).unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).trim().to_string()) }
}

fn pick<'a, T>(rng: &mut StdRng, v: &'a [T]) -> Option<&'a T> {
    (!v.is_empty()).then(|| &v[rng.random_range(0..v.len())])
}

/// One JMAP method call made as the phone's device, in-process (the methods the HTTP
/// transport hands requests to); returns the method's response arguments.
fn jmap(e: &Env, method: &str, args: serde_json::Value) -> serde_json::Value {
    use postbote::jmap::device::{Access, Authed};
    use postbote::jmap::dispatch::{Request, run};
    let authed = Authed {
        device: 1,
        username: ID.into(),
        accounts: vec![Access { account_id: ID.into(), mailbox: ID.into(), personal: true }],
    };
    let mut args = args;
    args["accountId"] = serde_json::json!(ID);
    let req = Request::parse(serde_json::json!({
        "using": ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"],
        "methodCalls": [[method, args, "c"]],
    }))
    .unwrap();
    let r = run(&e.app, &authed, req, "s".into());
    r["methodResponses"][0][1].clone()
}

/// A /set response in short: what was created, updated or destroyed, or the error.
fn outcome(r: &serde_json::Value) -> String {
    let full = |v: &Value| {
        !v.is_null() && v.as_object().is_none_or(|o| !o.is_empty()) && v.as_array().is_none_or(|a| !a.is_empty())
    };
    let mut out = Vec::new();
    if let Some(c) = r.get("created").and_then(Value::as_object).filter(|c| !c.is_empty()) {
        out.push(format!("created {:?}", c.values().map(|v| v["id"].to_string()).collect::<Vec<_>>()));
    }
    for k in ["updated", "destroyed", "notCreated", "notUpdated", "notDestroyed", "type", "description"] {
        if let Some(v) = r.get(k).filter(|v| full(v)) {
            out.push(format!("{k} {v}"));
        }
    }
    out.join(", ")
}

/// One operation, phone or server; returns its description.
fn step(e: &Env, rng: &mut StdRng, seed: u64, n: usize, server_only: &mut BTreeSet<String>) -> String {
    let store = &e.app.store;
    let folders = store_folders(e);
    let inbox = folders.iter().find(|(_, f)| f == "INBOX").map(|(id, _)| *id).unwrap();
    let others: Vec<(i64, String)> = folders.iter().filter(|(_, f)| f != "INBOX").cloned().collect();
    let is_leaf = |name: &str| !folders.iter().any(|(_, f)| f.starts_with(&format!("{name}/")));
    let msgs = store_message_ids(e);
    match rng.random_range(0..100) {
        // The phone, through the JMAP methods.
        0..=9 => {
            let parent = if rng.random_bool(0.3) { pick(rng, &others).cloned() } else { None };
            let r = jmap(
                e,
                "Mailbox/set",
                json!({"create": {"k": {"name": format!("p{n}"),
                "parentId": parent.as_ref().map(|(id, _)| ids::mailbox(*id))}}}),
            );
            format!("phone: create folder \"p{n}\" below {:?} -> {}", parent.map(|p| p.1), outcome(&r))
        }
        10..=16 => match pick(rng, &others).cloned() {
            Some((id, old)) => {
                // A new last name, and sometimes a new parent (another folder, or the top).
                let parent = match rng.random_range(0..3) {
                    0 => pick(rng, &others).cloned().filter(|(_, p)| !p.starts_with(&old)).map(Some),
                    1 => Some(None),
                    _ => None,
                };
                let mut patch = json!({"name": format!("r{n}")});
                if let Some(p) = &parent {
                    patch["parentId"] = json!(p.as_ref().map(|(id, _)| ids::mailbox(*id)));
                }
                let r = jmap(e, "Mailbox/set", json!({"update": {ids::mailbox(id): patch}}));
                format!(
                    "phone: rename {old:?} to \"r{n}\" below {:?} -> {}",
                    parent.map(|p| p.map(|p| p.1)),
                    outcome(&r)
                )
            }
            None => "phone: rename (no folder)".into(),
        },
        17..=21 => match pick(rng, &others).cloned().filter(|(_, f)| is_leaf(f)) {
            Some((id, name)) => {
                let r = jmap(e, "Mailbox/set", json!({"destroy": [ids::mailbox(id)], "onDestroyRemoveEmails": true}));
                format!("phone: destroy folder {name:?} -> {}", outcome(&r))
            }
            None => "phone: destroy folder (none without children)".into(),
        },
        22..=33 => {
            let (folder, fname) = pick(rng, &folders).cloned().unwrap();
            let kw: Vec<String> = if rng.random_bool(0.3) { vec!["$seen".into()] } else { vec![] };
            let tag = if rng.random_bool(0.2) { "draft" } else { "import" };
            let kw = if tag == "draft" { vec!["$draft".into()] } else { kw };
            let r = store.emails().create(ID, folder, mail(seed, n, tag), &kw, 1_790_000_000 + n as i64).unwrap();
            format!("phone: {tag} into {fname:?} {kw:?} -> {:?}", r.map(|c| c.id))
        }
        34..=43 => match (pick(rng, &msgs).copied(), pick(rng, &folders).cloned()) {
            (Some(m), Some((to, tname))) => {
                let r =
                    jmap(e, "Email/set", json!({"update": {ids::email(m): {"mailboxIds": {ids::mailbox(to): true}}}}));
                format!("phone: move email {m} to {tname:?} -> {}", outcome(&r))
            }
            _ => "phone: move (nothing)".into(),
        },
        44..=55 => match pick(rng, &msgs).copied() {
            Some(m) => {
                let k = ["$seen", "$flagged", "$answered", "kunde"][rng.random_range(0..4)].to_string();
                let on = rng.random_bool(0.6);
                let patch = json!({format!("keywords/{k}"): if on { json!(true) } else { Value::Null }});
                let r = jmap(e, "Email/set", json!({"update": {ids::email(m): patch}}));
                format!("phone: email {m} {k}={on} -> {}", outcome(&r))
            }
            None => "phone: keyword (nothing)".into(),
        },
        56..=63 => match pick(rng, &msgs).copied() {
            Some(m) => {
                let r = jmap(e, "Email/set", json!({"destroy": [ids::email(m)]}));
                format!("phone: destroy email {m} -> {}", outcome(&r))
            }
            None => "phone: destroy email (nothing)".into(),
        },
        // The server, on folders it has now that the mirror follows.
        _ => {
            let live: BTreeSet<String> = folders.iter().map(|(_, f)| f.clone()).collect();
            let on_server: Vec<String> = e.server_folders().into_iter().filter(|f| live.contains(f)).collect();
            let on_server = if on_server.is_empty() { vec!["INBOX".to_string()] } else { on_server };
            let msgs: Vec<(String, u32, String, Vec<String>)> =
                server_messages(e).into_iter().filter(|(f, ..)| on_server.contains(f)).collect();
            let _ = inbox;
            match rng.random_range(0..100) {
                0..=29 => {
                    let f = pick(rng, &on_server).unwrap().clone();
                    // As another client APPENDs: into a folder that exists (LMTP would make it).
                    let r = doveadm_save(&e.user, &f, &mail(seed, n, "server"));
                    format!("server: new mail in {f:?} -> {r:?}")
                }
                30..=54 => match pick(rng, &msgs).cloned() {
                    Some((f, uid, ..)) => {
                        let flag = ["\\Seen", "\\Flagged", "kunde"][rng.random_range(0..3)];
                        let verb = if rng.random_bool(0.6) { "add" } else { "remove" };
                        let uid_s = uid.to_string();
                        let r = doveadm_result(&["flags", verb, "-u", &e.user, flag, "mailbox", &f, "uid", &uid_s]);
                        format!("server: flags {verb} {flag} on {f:?}/{uid} -> {r:?}")
                    }
                    None => "server: flags (nothing)".into(),
                },
                55..=69 => match (pick(rng, &msgs).cloned(), pick(rng, &on_server).cloned()) {
                    (Some((f, uid, ..)), Some(to)) if f != to => {
                        let uid_s = uid.to_string();
                        let r = doveadm_result(&["move", "-u", &e.user, &to, "mailbox", &f, "uid", &uid_s]);
                        format!("server: move {f:?}/{uid} to {to:?} -> {r:?}")
                    }
                    _ => "server: move (nothing)".into(),
                },
                70..=84 => match pick(rng, &msgs).cloned() {
                    Some((f, uid, ..)) => {
                        let uid_s = uid.to_string();
                        let r = doveadm_result(&["expunge", "-u", &e.user, "mailbox", &f, "uid", &uid_s]);
                        format!("server: expunge {f:?}/{uid} -> {r:?}")
                    }
                    None => "server: expunge (nothing)".into(),
                },
                85..=92 => {
                    let name = format!("s{n}");
                    server_only.insert(name.clone());
                    let r = doveadm_result(&["mailbox", "create", "-u", &e.user, &name]);
                    format!("server: create folder {name:?} (not followed) -> {r:?}")
                }
                _ => {
                    let leaves: Vec<String> =
                        on_server.iter().filter(|f| *f != "INBOX" && is_leaf(f)).cloned().collect();
                    match pick(rng, &leaves).cloned() {
                        Some(f) => {
                            let r = doveadm_result(&["mailbox", "delete", "-u", &e.user, &f]);
                            format!("server: delete folder {f:?} -> {r:?}")
                        }
                        None => "server: delete folder (none)".into(),
                    }
                }
            }
        }
    }
}

async fn run_seed(seed: u64) -> Result<(), String> {
    let e = Arc::new(Env::new(&format!("conv{seed}")));
    for n in 0..3 {
        crate::support::deliver(&e.user, &mail(seed, 900 + n, "start"));
    }
    e.sync().await;
    let mut rng = StdRng::seed_from_u64(seed);
    let stop = Arc::new(AtomicBool::new(false));
    let task = tokio::spawn(mirror_loop(e.clone(), stop.clone()));
    let mut ops = Vec::new();
    let mut server_only = BTreeSet::new();
    for n in 0..OPS {
        let op = {
            let e = e.clone();
            let mut r = StdRng::seed_from_u64(rng.random());
            let mut so = std::mem::take(&mut server_only);
            let (op, so) = tokio::task::spawn_blocking(move || (step(&e, &mut r, seed, n, &mut so), so)).await.unwrap();
            server_only = so;
            op
        };
        ops.push(op);
        e.app.wake_writeback(ID);
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..30))).await;
    }
    stop.store(true, Ordering::SeqCst);
    task.await.map_err(|err| format!("the mirror task failed: {err}\nops:\n  {}", ops.join("\n  ")))?;
    settle(&e).await.map_err(|err| format!("seed {seed}: {err}\nops:\n  {}", ops.join("\n  ")))?;
    let tree = server_tree(&e, &server_only);
    let mut store_tree: Vec<String> = store_folders(&e).into_iter().map(|(_, f)| f).collect();
    store_tree.sort();
    let (server, store) = (server_seen(&e, &tree), store_seen(&e));
    if std::env::var_os("POSTBOTE_CONVERGENCE_VERBOSE").is_some() {
        eprintln!("seed {seed} ops:\n  {}\nfolders: {tree:?}, messages: {}", ops.join("\n  "), server.len());
    }
    if tree == store_tree && server == store {
        return Ok(());
    }
    let only = |a: &Seen, b: &Seen| a.difference(b).map(|x| format!("{x:?}")).collect::<Vec<_>>().join("\n    ");
    Err(format!(
        "seed {seed} did not converge.\nops:\n  {}\nfolders on the server: {tree:?}\nfolders in the store:  {store_tree:?}\n\
         only on the server:\n    {}\nonly in the store:\n    {}\nwrite-back: {:?}",
        ops.join("\n  "),
        only(&server, &store),
        only(&store, &server),
        e.app.store.writeback().summary(ID).unwrap(),
    ))
}

/// Phone and server changes interleaved at random end with the same folders, messages and
/// keywords on Dovecot and in the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn phone_and_server_changes_converge() {
    let started = Instant::now();
    let mut failures = Vec::new();
    let seeds = seeds();
    for seed in &seeds {
        let t = Instant::now();
        match run_seed(*seed).await {
            Ok(()) => eprintln!("convergence: seed {seed} converged in {:.1}s", t.elapsed().as_secs_f64()),
            Err(report) => {
                eprintln!("{report}");
                failures.push(*seed);
            }
        }
    }
    eprintln!("convergence: {} seeds in {:.1}s", seeds.len(), started.elapsed().as_secs_f64());
    assert!(failures.is_empty(), "seeds that did not converge: {failures:?} (each printed above with its operations)");
}
