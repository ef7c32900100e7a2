//! The golden corpus: every `.eml` under `tests/autoreply/` decided against a leave, each
//! expected to give the reason its MANIFEST line names (with the options that line sets:
//! mailbox, history, Junk, the reply's address). A file the MANIFEST does not list fails, so
//! no message sits in the corpus untested.

use std::collections::BTreeSet;

use chrono_tz::Europe::Berlin;

use super::{config, corpus_dir, leave, local};
use crate::autoreply::decide::{self, Context, History, Incoming, Reason};
use crate::autoreply::settings::Answer;
use crate::config::Mailbox;

struct Case {
    file: String,
    reason: String,
    opts: Vec<String>,
}

fn manifest() -> Vec<Case> {
    let text = std::fs::read_to_string(corpus_dir().join("MANIFEST")).unwrap();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut w = l.split_whitespace();
            Case {
                file: w.next().unwrap().to_string(),
                reason: w.next().expect("a reason").to_string(),
                opts: w.map(String::from).collect(),
            }
        })
        .collect()
}

/// Every corpus message decided against a leave from 21 Dec to 6 Jan, arriving 2 Jan 10:00.
#[test]
fn corpus() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let received = local("2027-01-02 10:00");
    let now = received + chrono::Duration::minutes(2);
    let cases = manifest();
    let mut failures = Vec::new();
    for c in &cases {
        let opt = |k: &str| c.opts.iter().find_map(|o| o.strip_prefix(&format!("{k}=")).map(str::to_string));
        let flag = |k: &str| c.opts.iter().any(|o| o == k);
        let mailbox: &Mailbox = cfg.mailbox(opt("mailbox").as_deref().unwrap_or("becker")).unwrap();
        let raw = std::fs::read(corpus_dir().join(&c.file)).unwrap_or_else(|e| panic!("{}: {e}", c.file));
        let msg = Incoming::parse(&raw, received, flag("junk"), Some(1));
        let mut settings = leave("2026-12-21", "2027-01-06");
        if opt("answer").as_deref() == Some("known") {
            settings.answer = Answer::Known;
        }
        let history = History {
            last_sent_to_sender: opt("sent").map(|h| now - chrono::Duration::hours(h.parse().unwrap())),
            pending_for_sender: flag("pending"),
            conversation_answered: flag("conversation"),
            replies_last_hour: opt("hour").map(|n| n.parse().unwrap()).unwrap_or(0),
            known_sender: flag("known"),
            watching_since: None,
        };
        let ctx = Context { mailbox, time_zone: Berlin };
        let d = decide::decide(&msg, &ctx, &settings, &history, now);
        assert!(Reason::from_code(&c.reason).is_some(), "{}: unknown reason code {}", c.file, c.reason);
        if d.reason.code() != c.reason || d.reply != (c.reason == "reply") {
            failures.push(format!("{} {:?}: expected {}, got {} ({})", c.file, c.opts, c.reason, d.reason, d.detail));
            continue;
        }
        if let Some(to) = opt("to")
            && msg.return_path.address() != Some(to.as_str())
        {
            failures.push(format!("{}: reply to {:?}, expected {to}", c.file, msg.return_path));
        }
        if flag("internal") != d.internal && d.reply {
            failures.push(format!("{}: internal = {}, expected {}", c.file, d.internal, flag("internal")));
        }
    }
    assert!(failures.is_empty(), "corpus failures:\n{}", failures.join("\n"));
    // Every file of the corpus is in the manifest, so none sits there untested.
    let listed: BTreeSet<&str> = cases.iter().map(|c| c.file.as_str()).collect();
    for e in std::fs::read_dir(corpus_dir()).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().to_string();
        if name.ends_with(".eml") {
            assert!(listed.contains(name.as_str()), "{name} is not in tests/autoreply/MANIFEST");
        }
    }
}
