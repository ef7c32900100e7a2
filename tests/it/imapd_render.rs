//! The IMAP server's FETCH rendering against the real Dovecot: the German test messages of
//! `tests/imapd/` are delivered to a fresh Dovecot user; Dovecot is asked for ENVELOPE,
//! BODYSTRUCTURE, BODY[1.MIME], BODY[HEADER.FIELDS (SUBJECT FROM)] and BODY[]<0.100> of each,
//! one command at a time, and `postbote::imapd::render::fetch` renders the same items from the
//! bytes Dovecot holds (read back with BODY.PEEK[], so what delivery added is there too),
//! encoded to wire bytes with imap-codec. The two must be the same bytes, item by item.
//!
//! SEARCH likewise: each key is asked of Dovecot (`SEARCH CHARSET UTF-8`) and of
//! `postbote::imapd::search::matches` over the same messages, flags and dates, and the two
//! must find the same messages. RECENT, NEW and OLD are left out: Dovecot gives `\Recent` to
//! the first session that sees a message, postbote never does. The keys of [`NAMED`] are
//! named differences: postbote reads raw 8-bit header bytes as Windows-1252 (as everything in
//! postbote reads headers), so it finds `jürgen` in a Latin-1 From where Dovecot finds
//! nothing; there postbote must find all Dovecot finds, and more. The keys of [`FEWER`] are
//! the other way round: postbote must find a part of what Dovecot finds and nothing else.
//!
//! One difference in FETCH is accepted and named here: imap-codec writes the body type of a text part
//! as `"TEXT"` and of a message/rfc822 part as `"MESSAGE" "RFC822"`, where Dovecot keeps the
//! letter case of the header (`"text"`, `"Text"`); IMAP reads them case-insensitively, and
//! both sides are put in capitals at those places before comparing.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use postbote::imapd::render::{Msg, fetch};
use postbote::imapd::search::{SearchMsg, matches};
use postbote::store::messages::flag_to_keyword;

use crate::support::{self, deliver, imap_quote, unique_user};

/// The wire helpers the unit tests use too (`items`, `wire`, `accepted`, `search_key`): one
/// copy, in the library's source tree, compiled into this test as a module of its own.
#[path = "../../src/imapd/render/test_wire.rs"]
mod test_wire;
use test_wire::{accepted, items, search_key, wire, with_literals};

const ITEMS: &[&str] = &[
    "ENVELOPE",
    "BODYSTRUCTURE",
    "BODY.PEEK[1.MIME]",
    "BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)]",
    "BODY.PEEK[]<0.100>",
];

/// A byte-exact IMAP client: responses as bytes, literals included (the support client's
/// responses are text, which would blur 8-bit header bytes).
struct Imap {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    tag: u32,
}

impl Imap {
    fn login(user: &str, password: &str) -> Imap {
        let stream = TcpStream::connect((support::HOST, support::IMAP_PORT)).expect("connecting to Dovecot");
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let writer = stream.try_clone().unwrap();
        let mut imap = Imap { reader: BufReader::new(stream), writer, tag: 0 };
        let mut greeting = Vec::new();
        imap.reader.read_until(b'\n', &mut greeting).unwrap();
        imap.command(&format!("LOGIN {} {}", imap_quote(user), imap_quote(password)));
        imap.command("SELECT INBOX");
        imap
    }

    /// The untagged responses to `cmd`, as bytes; panics unless the tagged answer is OK.
    fn command(&mut self, cmd: &str) -> Vec<u8> {
        self.tag += 1;
        let tag = format!("R{} ", self.tag);
        self.writer.write_all(format!("{tag}{cmd}\r\n").as_bytes()).unwrap();
        let mut untagged = Vec::new();
        loop {
            let mut line = Vec::new();
            loop {
                let at = line.len();
                self.reader.read_until(b'\n', &mut line).unwrap();
                assert!(line.len() > at, "Dovecot closed the connection");
                match literal_len(&line) {
                    Some(n) => {
                        let at = line.len();
                        line.resize(at + n, 0);
                        self.reader.read_exact(&mut line[at..]).unwrap();
                    }
                    None => break,
                }
            }
            if line.starts_with(tag.as_bytes()) {
                assert!(line[tag.len()..].starts_with(b"OK"), "{cmd}: {}", String::from_utf8_lossy(&line));
                return untagged;
            }
            untagged.extend_from_slice(&line);
        }
    }
}

fn literal_len(line: &[u8]) -> Option<usize> {
    let inner = line.strip_suffix(b"}\r\n")?;
    let open = inner.iter().rposition(|b| *b == b'{')?;
    std::str::from_utf8(&inner[open + 1..]).ok()?.parse().ok()
}

/// The bytes of the first literal in `answer` (`... {n}\r\n<n bytes>...`).
fn first_literal(answer: &[u8]) -> &[u8] {
    let open = answer.windows(3).position(|w| w == b"}\r\n").expect("a literal");
    let brace = answer[..open].iter().rposition(|b| *b == b'{').unwrap();
    let n: usize = std::str::from_utf8(&answer[brace + 1..open]).unwrap().parse().unwrap();
    &answer[open + 3..open + 3 + n]
}

/// A fresh Dovecot user holding the German test messages, in name order; their names.
fn mailbox_with_test_messages(prefix: &str) -> (Imap, Vec<String>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/imapd");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".eml"))
        .collect();
    names.sort();
    let (user, password) = unique_user(prefix);
    for name in &names {
        deliver(&user, &std::fs::read(dir.join(name)).unwrap());
    }
    (Imap::login(&user, &password), names)
}

#[test]
fn fetch_renders_as_dovecot_answers() {
    let (mut imap, names) = mailbox_with_test_messages("imapd-render");
    let mut differ = Vec::new();
    let mut compared = 0;
    for (i, name) in names.iter().enumerate() {
        let seq = i as u32 + 1;
        // The message as Dovecot holds it: `* n FETCH (BODY[] {len}\r\n<raw>)\r\n`.
        let answer = imap.command(&format!("FETCH {seq} (BODY.PEEK[])"));
        let raw = first_literal(&answer);
        let msg =
            Msg { uid: seq, keywords: &[], deleted: false, internal_date: 0, size: raw.len() as u32, modseq: 1, raw };
        for spec in ITEMS {
            let dovecot = imap.command(&format!("FETCH {seq} ({spec})"));
            let ours = wire(seq, fetch(&msg, &items(spec)));
            compared += 1;
            if accepted(&ours) != accepted(&dovecot) {
                differ.push(format!(
                    "{name} {spec}\n  dovecot: {}\n  ours:    {}",
                    String::from_utf8_lossy(&dovecot).escape_debug(),
                    String::from_utf8_lossy(&ours).escape_debug()
                ));
            }
        }
    }
    assert_eq!(compared, names.len() * ITEMS.len());
    assert!(names.len() >= 10, "the German test messages are missing");
    assert!(differ.is_empty(), "{} of {compared} answers differ from Dovecot's:\n{}", differ.len(), differ.join("\n"));
}

/// SEARCH keys, as a client sends them (a string beyond ASCII as a literal, see `command`).
const KEYS: &[&str] = &[
    "ALL",
    "SEEN",
    "UNSEEN",
    "FLAGGED",
    "UNFLAGGED",
    "DELETED",
    "UNDELETED",
    "ANSWERED",
    "UNANSWERED",
    "DRAFT",
    "UNDRAFT",
    "KEYWORD kunde",
    "UNKEYWORD kunde",
    "LARGER 1000",
    "SMALLER 500",
    "SINCE 1-Jan-2026",
    "BEFORE 1-Jan-2100",
    "ON 1-Jan-2000",
    "SENTBEFORE 3-Nov-2026",
    "SENTON 3-Nov-2026",
    "SENTSINCE 5-Nov-2026",
    "SENTON 2-Nov-2026",
    "SENTBEFORE 4-Nov-2026",
    "SENTSINCE 4-Nov-2026",
    "FROM \"müller\"",
    "FROM kunde-mueller.de",
    "FROM werkstatt",
    "TO anna.schulz",
    "TO becker-haustechnik",
    "CC buchhaltung",
    "CC haus",
    "BCC chef",
    "SUBJECT angebot",
    "SUBJECT \"große straße\"",
    "SUBJECT betreff",
    "HEADER Message-ID 8bit",
    "HEADER X-None \"\"",
    "HEADER Content-Language \"\"",
    "BODY \"wärmepumpe\"",
    "BODY \"maße vor ort\"",
    "BODY \"überfällig\"",
    "BODY \"prüfbericht\"",
    "BODY bitte",
    "TEXT heizungsanlage",
    "TEXT \"k.mueller\"",
    "TEXT bitte",
    "TEXT content-language",
    "TEXT message-id",
    "TEXT wert",
    "TEXT \"return-path: <h.mueller\"",
    "TEXT \"becker-haustechnik.de subject\"",
    "TEXT \"subject: heizungsausfall\"",
    "HEADER Content-Type multipart",
    "HEADER Subject aufmass",
    "1:3",
    "2,4:*",
    "*",
    "UID 1:2",
    "NOT SEEN",
    "OR FLAGGED SEEN",
    "(SEEN UNDELETED) SMALLER 100000",
];

/// Keys where postbote finds more than Dovecot, and why.
const NAMED: &[(&str, &str)] = &[
    ("FROM \"jürgen\"", "a raw Latin-1 From: postbote reads it as Windows-1252"),
    ("SUBJECT \"rechnung für märz\"", "a raw Latin-1 Subject: postbote reads it as Windows-1252"),
];

/// Keys where postbote finds fewer than Dovecot, and why. It must find nothing Dovecot does
/// not (so BODY still never finds a MIME header in the other messages).
const FEWER: &[(&str, &str)] = &[(
    "BODY content-type",
    "zu-tief.eml: Dovecot searches the part cut off at its nesting limit as raw text, where the \
     headers of the deeper messages stand; postbote's body text (the store's message_text) holds \
     text parts only",
)];

#[test]
fn search_finds_what_dovecot_finds() {
    let (mut imap, names) = mailbox_with_test_messages("imapd-search");
    imap.command("STORE 1 +FLAGS (\\Seen)");
    imap.command("STORE 2 +FLAGS (\\Flagged \\Seen)");
    imap.command("STORE 3 +FLAGS (kunde)");
    imap.command("STORE 4 +FLAGS (\\Deleted)");
    imap.command("STORE 5 +FLAGS (\\Answered kunde)");
    imap.command("STORE 6 +FLAGS (\\Draft)");
    struct Held {
        raw: Vec<u8>,
        text: String,
        keywords: Vec<String>,
        deleted: bool,
        internal_date: i64,
    }
    let mut held = Vec::new();
    for seq in 1..=names.len() {
        let raw = first_literal(&imap.command(&format!("FETCH {seq} (BODY.PEEK[])"))).to_vec();
        let meta = String::from_utf8(imap.command(&format!("FETCH {seq} (FLAGS INTERNALDATE)"))).unwrap();
        let flags = meta.split("FLAGS (").nth(1).and_then(|r| r.split(')').next()).unwrap_or_default();
        let date = meta.split("INTERNALDATE \"").nth(1).and_then(|r| r.split('"').next()).unwrap();
        let internal_date = chrono::DateTime::parse_from_str(date, "%d-%b-%Y %H:%M:%S %z").unwrap().timestamp();
        let keywords = flags.split_whitespace().filter_map(flag_to_keyword).collect();
        let deleted = flags.split_whitespace().any(|f| f.eq_ignore_ascii_case("\\Deleted"));
        let text = postbote::message::parse(&raw).search_text;
        held.push(Held { raw, text, keywords, deleted, internal_date });
    }
    let last = held.len() as u32;
    let mut differ = Vec::new();
    for criteria in KEYS.iter().chain(NAMED.iter().chain(FEWER).map(|(k, _)| k)) {
        let answer =
            String::from_utf8(imap.command(&format!("SEARCH CHARSET UTF-8 {}", with_literals(criteria)))).unwrap();
        let dovecot: Vec<u32> = answer
            .lines()
            .filter_map(|l| l.strip_prefix("* SEARCH"))
            .flat_map(|r| r.split_whitespace().map(|n| n.parse::<u32>().unwrap()).collect::<Vec<_>>())
            .collect();
        let key = search_key(criteria);
        let ours: Vec<u32> = held
            .iter()
            .enumerate()
            .filter(|(i, h)| {
                let m = SearchMsg {
                    seq: *i as u32 + 1,
                    uid: *i as u32 + 1,
                    keywords: &h.keywords,
                    deleted: h.deleted,
                    internal_date: h.internal_date,
                    size: h.raw.len() as u32,
                    modseq: 1,
                    raw: &h.raw,
                    text: Some(&h.text),
                };
                matches(&key, &m, last, last)
            })
            .map(|(i, _)| i as u32 + 1)
            .collect();
        let more = ours != dovecot && dovecot.iter().all(|n| ours.contains(n));
        let fewer = ours != dovecot && ours.iter().all(|n| dovecot.contains(n));
        if let Some((_, why)) = NAMED.iter().find(|(k, _)| k == criteria) {
            if !more {
                differ.push(format!("{criteria} ({why}): dovecot {dovecot:?}, ours {ours:?}, want more than dovecot"));
            }
        } else if let Some((_, why)) = FEWER.iter().find(|(k, _)| k == criteria) {
            if !fewer {
                differ.push(format!("{criteria} ({why}): dovecot {dovecot:?}, ours {ours:?}, want fewer than dovecot"));
            }
        } else if ours != dovecot {
            differ.push(format!("{criteria}: dovecot {dovecot:?}, ours {ours:?}"));
        }
    }
    let order: Vec<String> = names.iter().enumerate().map(|(i, n)| format!("{} {n}", i + 1)).collect();
    let keys = KEYS.len() + NAMED.len() + FEWER.len();
    assert!(differ.is_empty(), "{} of {keys} keys differ ({}):\n{}", differ.len(), order.join(", "), differ.join("\n"));
}
