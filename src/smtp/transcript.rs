//! The SMTP session transcript: one file per session under `data_dir/transcripts/`, every
//! command and reply, with every credential blacked out and the message body replaced by its
//! size. [`list`], [`read`], [`delete`] and [`mentioning`] are how a person sees them (the
//! console), always by a file name checked with [`valid_name`], never by a path.
//!
//! Redaction does not rely on the caller's good manners: the [`Redactor`] sees each client line
//! and blacks out the argument of any `AUTH` command and every line sent in answer to a `334`
//! challenge, and then scrubs the password, its base64 forms and the AUTH PLAIN blob wherever
//! they would still appear. It is a pure state machine, tested without I/O. This module must
//! never hand a line to `tracing`: transcripts reveal who mails whom and go only to their file.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

/// What replaces a credential.
pub const HIDDEN: &str = "[credentials hidden]";

/// Blacks out credentials in client lines. Knows the secrets so it can scrub them anywhere.
#[derive(Debug)]
pub struct Redactor {
    secrets: Vec<String>,
    /// The last server reply was a 334 challenge: the next client line is a credential.
    after_challenge: bool,
}

impl Redactor {
    pub fn new(login: &str, password: &str) -> Redactor {
        let mut secrets = Vec::new();
        if !password.is_empty() {
            secrets.push(password.to_string());
            secrets.push(B64.encode(password));
            secrets.push(B64.encode(format!("\0{login}\0{password}")));
            secrets.push(B64.encode(format!("{login}\0{login}\0{password}")));
        }
        // Longest first, so a blob is replaced whole before any part of it.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Redactor { secrets, after_challenge: false }
    }

    /// A client line as it goes into the transcript.
    pub fn client(&mut self, line: &str) -> String {
        let line = line.trim_end_matches(['\r', '\n']);
        let out = if self.after_challenge {
            HIDDEN.to_string()
        } else if line.get(..5).is_some_and(|h| h.eq_ignore_ascii_case("AUTH ")) {
            let mech = line[5..].split_whitespace().next().unwrap_or("");
            format!("AUTH {mech} {HIDDEN}")
        } else {
            line.to_string()
        };
        self.after_challenge = false;
        self.scrub(out)
    }

    /// A server reply (possibly several lines) as it goes into the transcript.
    pub fn server(&mut self, code: u16, lines: &[String]) -> Vec<String> {
        self.after_challenge = code == 334;
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let sep = if i + 1 == lines.len() { ' ' } else { '-' };
                // A 334 challenge's text is base64 of "Username:"/"Password:" or an XOAUTH2
                // error; harmless, but it is shown decoded-free and short.
                self.scrub(format!("{code}{sep}{l}"))
            })
            .collect()
    }

    fn scrub(&self, mut s: String) -> String {
        for secret in &self.secrets {
            if s.contains(secret.as_str()) {
                s = s.replace(secret.as_str(), HIDDEN);
            }
        }
        s
    }
}

/// A transcript file being written. Write errors are remembered, not raised: a full disk
/// must not stop mail, but the file then says it is incomplete if it can.
pub struct Transcript {
    file: Option<std::io::BufWriter<std::fs::File>>,
    redactor: Redactor,
    path: PathBuf,
}

impl std::fmt::Debug for Transcript {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transcript").field("path", &self.path).finish()
    }
}

impl Transcript {
    /// Create `dir/<utc time>-<mailbox>-<pid>-<n>.log` with a header line.
    pub fn create(dir: &Path, mailbox: &str, server: &str, login: &str, password: &str) -> std::io::Result<Transcript> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        crate::files::create_dir(dir)?;
        let name = format!(
            "{}-{}-{}-{}.log",
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
            mailbox,
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let path = dir.join(name);
        let file = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new().create_new(true).write(true).mode(0o600).open(&path)?
        };
        let mut t =
            Transcript { file: Some(std::io::BufWriter::new(file)), redactor: Redactor::new(login, password), path };
        t.line(&format!(
            "# SMTP session of mailbox {mailbox} with {server}, started {}",
            chrono::Utc::now().to_rfc3339()
        ));
        Ok(t)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn client(&mut self, line: &str) {
        let l = self.redactor.client(line);
        self.line(&format!("C: {l}"));
    }

    pub fn server(&mut self, code: u16, lines: &[String]) {
        for l in self.redactor.server(code, lines) {
            self.line(&format!("S: {l}"));
        }
    }

    /// The message body went out: only its size is written.
    pub fn body(&mut self, bytes: usize) {
        self.line(&format!("C: [message body, {bytes} bytes, not recorded]"));
        self.line("C: .");
    }

    pub fn note(&mut self, what: &str) {
        let l = self.redactor.scrub(what.to_string());
        self.line(&format!("# {l}"));
    }

    fn line(&mut self, l: &str) {
        if let Some(f) = &mut self.file {
            let ok = writeln!(f, "{} {l}", chrono::Utc::now().format("%H:%M:%S%.3f")).and_then(|_| f.flush());
            if ok.is_err() {
                self.file = None;
            }
        }
    }
}

/// Delete transcript files older than `retention`. Returns how many were removed.
pub fn cleanup(dir: &Path, retention: std::time::Duration) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    let now = std::time::SystemTime::now();
    let mut n = 0;
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().and_then(|x| x.to_str()) != Some("log") {
            continue;
        }
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age > retention);
        if old && std::fs::remove_file(&p).is_ok() {
            n += 1;
        }
    }
    n
}

/// A transcript file as the console lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The file name (`<utc time>-<mailbox>-<pid>-<n>.log`).
    pub name: String,
    /// The mailbox id in the name.
    pub mailbox: String,
    pub bytes: u64,
    /// Unix seconds of the last write.
    pub modified: i64,
}

/// Whether `name` can be a transcript's file name: no path, no dot-dot, ends in `.log`. Every
/// name that comes from a person is checked with it before a file is opened or removed.
pub fn valid_name(name: &str) -> bool {
    name.ends_with(".log")
        && !name.starts_with('.')
        && name.len() < 256
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !name.contains("..")
}

/// The mailbox id a transcript's name carries.
fn mailbox_of(name: &str) -> Option<String> {
    let stem = name.strip_suffix(".log")?;
    let mut parts = stem.rsplitn(3, '-');
    let (_n, _pid, rest) = (parts.next()?, parts.next()?, parts.next()?);
    rest.split_once('-').map(|(_, mailbox)| mailbox.to_string())
}

/// The transcripts in `dir`, newest first (an unreadable or missing directory is empty).
pub fn list(dir: &Path) -> Vec<Listed> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut out: Vec<Listed> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok().filter(|n| valid_name(n))?;
            let meta = e.metadata().ok().filter(|m| m.is_file())?;
            let modified = meta
                .modified()
                .ok()
                .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs() as i64);
            Some(Listed { mailbox: mailbox_of(&name).unwrap_or_default(), name, bytes: meta.len(), modified })
        })
        .collect();
    out.sort_by(|a, b| b.name.cmp(&a.name));
    out
}

/// The text of transcript `name` in `dir`; `None` for a name that is no transcript's.
pub fn read(dir: &Path, name: &str) -> Option<String> {
    if !valid_name(name) {
        return None;
    }
    // Not through a link: only the regular files `list` shows are read.
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(dir.join(name)).ok()?;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    let mut b = Vec::new();
    std::io::Read::read_to_end(&mut f, &mut b).ok()?;
    Some(String::from_utf8_lossy(&b).into_owned())
}

/// Remove transcript `name` (or, with `None`, every transcript) from `dir`. Returns how many.
pub fn delete(dir: &Path, name: Option<&str>) -> usize {
    let names: Vec<String> = match name {
        Some(n) if valid_name(n) => vec![n.to_string()],
        Some(_) => return 0,
        None => list(dir).into_iter().map(|l| l.name).collect(),
    };
    names.iter().filter(|n| std::fs::remove_file(dir.join(n)).is_ok()).count()
}

/// The transcripts of `mailbox` in `dir` whose text contains `needle` (the note the outbox
/// writes before each message: `queue message ID <Message-ID>`), modified at or after `since`.
pub fn mentioning(dir: &Path, mailbox: &str, needle: &str, since: i64) -> Vec<String> {
    list(dir)
        .into_iter()
        .filter(|l| l.mailbox == mailbox && l.modified >= since)
        .filter(|l| read(dir, &l.name).is_some_and(|t| t.contains(needle)))
        .map(|l| l.name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A link named like a transcript is neither listed nor read.
    #[test]
    fn a_link_is_not_a_transcript() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret.txt"), "geheim").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), dir.path().join("becker-1.log")).unwrap();
        assert!(list(dir.path()).is_empty());
        assert_eq!(read(dir.path(), "becker-1.log"), None);
    }

    /// Regression: a line with a multi-byte character in its first five bytes panicked.
    #[test]
    fn a_line_beyond_ascii_is_kept() {
        let mut r = Redactor::new("becker", "Geh3im!pw");
        assert_eq!(r.client("AUTé x"), "AUTé x");
    }

    #[test]
    fn every_credential_form_is_hidden() {
        let (user, pw) = ("becker@bau-firma.test", "Geh3im!pw");
        let plain = B64.encode(format!("\0{user}\0{pw}"));
        let mut r = Redactor::new(user, pw);
        let cases = [
            (format!("AUTH PLAIN {plain}"), format!("AUTH PLAIN {HIDDEN}")),
            (format!("auth plain {plain}"), format!("AUTH plain {HIDDEN}")),
            ("AUTH LOGIN".to_string(), format!("AUTH LOGIN {HIDDEN}")),
            (
                format!("AUTH XOAUTH2 {}", B64.encode(format!("user={user}\x01auth=Bearer tok\x01\x01"))),
                format!("AUTH XOAUTH2 {HIDDEN}"),
            ),
            ("MAIL FROM:<becker@bau-firma.test>".to_string(), "MAIL FROM:<becker@bau-firma.test>".to_string()),
            // The password itself or its base64 anywhere else is scrubbed too.
            (format!("NOOP {pw}"), format!("NOOP {HIDDEN}")),
            (format!("NOOP {}", B64.encode(pw)), format!("NOOP {HIDDEN}")),
        ];
        for (input, want) in cases {
            assert_eq!(r.client(&input), want, "{input}");
        }
        // AUTH LOGIN: the lines answering 334 challenges are credentials, whatever they hold.
        r.client("AUTH LOGIN");
        r.server(334, &["VXNlcm5hbWU6".into()]);
        assert_eq!(r.client(&B64.encode(user)), HIDDEN);
        r.server(334, &["UGFzc3dvcmQ6".into()]);
        assert_eq!(r.client(&B64.encode(pw)), HIDDEN);
        r.server(235, &["2.7.0 Authentication successful".into()]);
        assert_eq!(r.client("QUIT"), "QUIT");
    }

    #[test]
    fn old_transcripts_are_deleted_and_new_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("old.log");
        let new = dir.path().join("new.log");
        let other = dir.path().join("keep.txt");
        for p in [&old, &new, &other] {
            std::fs::write(p, "x").unwrap();
        }
        let month_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(30 * 86_400);
        for p in [&old, &other] {
            std::fs::File::options().write(true).open(p).unwrap().set_modified(month_ago).unwrap();
        }
        assert_eq!(cleanup(dir.path(), std::time::Duration::from_secs(14 * 86_400)), 1);
        assert!(!old.exists() && new.exists() && other.exists(), "only old transcript files go");
    }

    #[test]
    fn transcript_file_is_private_and_holds_no_secret() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mut t = Transcript::create(dir.path(), "becker", "smtp.test:587", "becker@x.test", "pw-Secret").unwrap();
        t.client("AUTH LOGIN");
        t.server(334, &["VXNlcm5hbWU6".into()]);
        t.client(&B64.encode("becker@x.test"));
        t.server(334, &["UGFzc3dvcmQ6".into()]);
        t.client(&B64.encode("pw-Secret"));
        t.body(1234);
        let path = t.path().to_path_buf();
        drop(t);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("pw-Secret") && !text.contains(&B64.encode("pw-Secret")), "{text}");
        assert!(text.contains("[message body, 1234 bytes, not recorded]"));
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn transcripts_are_listed_read_and_deleted_by_name_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = Transcript::create(dir.path(), "info-2", "smtp.test:587", "u", "p").unwrap();
        t.note("queue message 7 <a@b.test>");
        drop(t);
        std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
        let l = list(dir.path());
        assert_eq!(l.len(), 1, "{l:?}");
        assert_eq!(l[0].mailbox, "info-2");
        assert!(read(dir.path(), &l[0].name).unwrap().contains("# queue message 7 <a@b.test>"));
        assert_eq!(mentioning(dir.path(), "info-2", "queue message 7 <", 0), vec![l[0].name.clone()]);
        assert!(mentioning(dir.path(), "info-2", "queue message 8 <", 0).is_empty());
        for bad in ["../x.log", "/etc/passwd", "notes.txt", "..log", "a/b.log", ".hidden.log"] {
            assert!(read(dir.path(), bad).is_none(), "{bad}");
            assert_eq!(delete(dir.path(), Some(bad)), 0, "{bad}");
        }
        assert_eq!(delete(dir.path(), None), 1);
        assert!(list(dir.path()).is_empty() && dir.path().join("notes.txt").exists());
    }

    #[test]
    fn multiline_replies_keep_their_separators() {
        let mut r = Redactor::new("u", "p");
        let out = r.server(250, &["mail.test".into(), "PIPELINING".into(), "AUTH PLAIN LOGIN".into()]);
        assert_eq!(out, vec!["250-mail.test", "250-PIPELINING", "250 AUTH PLAIN LOGIN"]);
    }
}
