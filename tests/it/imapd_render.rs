//! The IMAP server's FETCH rendering against the real Dovecot: the German test messages of
//! `tests/imapd/` are delivered to a fresh Dovecot user; Dovecot is asked for ENVELOPE,
//! BODYSTRUCTURE, BODY[1.MIME], BODY[HEADER.FIELDS (SUBJECT FROM)] and BODY[]<0.100> of each,
//! one command at a time, and `postbote::imapd::render::fetch` renders the same items from the
//! bytes Dovecot holds (read back with BODY.PEEK[], so what delivery added is there too),
//! encoded to wire bytes with imap-codec. The two must be the same bytes, item by item.
//!
//! One difference is accepted and named here: imap-codec writes the body type of a text part
//! as `"TEXT"` and of a message/rfc822 part as `"MESSAGE" "RFC822"`, where Dovecot keeps the
//! letter case of the header (`"text"`, `"Text"`); IMAP reads them case-insensitively, and
//! both sides are put in capitals at those places before comparing.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::num::NonZeroU32;
use std::path::Path;
use std::time::Duration;

use imap_codec::decode::Decoder;
use imap_codec::encode::Encoder;
use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::core::Vec1;
use imap_codec::imap_types::fetch::{MacroOrMessageDataItemNames, MessageDataItemName};
use imap_codec::imap_types::response::{Data, Response};
use imap_codec::{CommandCodec, ResponseCodec};
use postbote::imapd::render::{Msg, fetch};

use crate::support::{self, deliver, imap_quote, unique_user};

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

fn item_names(spec: &str) -> Vec<MessageDataItemName<'static>> {
    let line = format!("a FETCH 1 ({spec})\r\n");
    let (_, cmd) = CommandCodec::default().decode_static(line.as_bytes()).expect("a FETCH command");
    match cmd.body {
        CommandBody::Fetch { macro_or_item_names: MacroOrMessageDataItemNames::MessageDataItemNames(n), .. } => n,
        other => panic!("{other:?}"),
    }
}

/// Both sides in capitals where imap-codec writes the body type in capitals (see above).
fn accepted(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for (from, to) in
        [(&b"(\"text\" "[..], &b"(\"TEXT\" "[..]), (b"(\"message\" \"rfc822\" ", b"(\"MESSAGE\" \"RFC822\" ")]
    {
        let mut i = 0;
        while i + from.len() <= out.len() {
            if out[i..i + from.len()].eq_ignore_ascii_case(from) {
                out[i..i + from.len()].copy_from_slice(to);
                i += from.len();
            } else {
                i += 1;
            }
        }
    }
    out
}

#[test]
fn fetch_renders_as_dovecot_answers() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/imapd");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".eml"))
        .collect();
    names.sort();
    let (user, password) = unique_user("imapd-render");
    for name in &names {
        deliver(&user, &std::fs::read(dir.join(name)).unwrap());
    }
    let mut imap = Imap::login(&user, &password);
    let mut differ = Vec::new();
    let mut compared = 0;
    for (i, name) in names.iter().enumerate() {
        let seq = i as u32 + 1;
        // The message as Dovecot holds it: `* n FETCH (BODY[] {len}\r\n<raw>)\r\n`.
        let answer = imap.command(&format!("FETCH {seq} (BODY.PEEK[])"));
        let start = answer.windows(3).position(|w| w == b"}\r\n").expect("a literal") + 3;
        let raw = &answer[start..answer.len() - 3];
        let msg =
            Msg { uid: seq, keywords: &[], deleted: false, internal_date: 0, size: raw.len() as u32, modseq: 1, raw };
        for spec in ITEMS {
            let dovecot = imap.command(&format!("FETCH {seq} ({spec})"));
            let items = Vec1::try_from(fetch(&msg, &item_names(spec))).expect("one item");
            let resp = Response::Data(Data::Fetch { seq: NonZeroU32::new(seq).unwrap(), items });
            let ours = ResponseCodec::default().encode(&resp).dump();
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
    assert!(names.len() >= 9, "the German test messages are missing");
    assert!(differ.is_empty(), "{} of {compared} answers differ from Dovecot's:\n{}", differ.len(), differ.join("\n"));
}
