//! The console's words, German and English side by side. Pages take their texts from here
//! (or from a feature's own catalog, such as the deliverability verdicts), never inline.

use super::i18n::{Words, w};

pub const TITLE: Words = w("postbote – Büro", "postbote – office");
pub const NAV_OVERVIEW: Words = w("Übersicht", "Overview");
pub const NAV_OUTBOX: Words = w("Postausgang", "Outbox");
pub const NAV_SESSIONS: Words = w("Büro-Sitzungen", "Office sessions");
pub const NAV_AUTOREPLY: Words = w("Abwesenheit", "Automatic reply");
pub const NAV_PHONES: Words = w("Telefone", "Phones");
pub const NAV_DELIVERABILITY: Words = w("Zustellbarkeit", "Deliverability");
pub const NAV_SMTP_LOGS: Words = w("SMTP-Protokolle", "SMTP logs");
pub const NAV_AUDIT: Words = w("Protokoll", "Audit log");
pub const LOGOUT: Words = w("Abmelden", "Log out");
pub const LOGGED_IN_AS: Words = w("Angemeldet als", "Logged in as");

pub const LOGIN_TITLE: Words = w("Anmelden", "Log in");
pub const LOGIN_NAME: Words = w("Name", "Name");
pub const LOGIN_PASSWORD: Words = w("Passwort", "Password");
pub const LOGIN_BUTTON: Words = w("Anmelden", "Log in");
pub const LOGIN_WRONG: Words = w("Name oder Passwort ist falsch.", "Wrong name or password.");
pub const LOGIN_TOO_MANY: Words = w(
    "Zu viele falsche Versuche. Bitte warten Sie so viele Sekunden:",
    "Too many wrong attempts. Please wait this many seconds:",
);
pub const LOGIN_EXPIRED_FORM: Words =
    w("Das Formular war abgelaufen. Bitte noch einmal.", "The form had expired. Please try again.");

pub const FORBIDDEN: Words = w("Das dürfen Sie mit diesem Konto nicht.", "This account may not do that.");
pub const CSRF_REFUSED: Words = w(
    "Abgelehnt: das Formular kam nicht von dieser Seite oder ist abgelaufen. Bitte die Seite neu laden.",
    "Refused: the form did not come from this page or has expired. Please reload the page.",
);
pub const CROSS_SITE_REFUSED: Words =
    w("Abgelehnt: Anfrage von einer anderen Seite.", "Refused: request from another site.");

pub const MAILBOXES: Words = w("Postfächer", "Mailboxes");
pub const MAILBOX: Words = w("Postfach", "Mailbox");
pub const LAST_SYNC: Words = w("Letzter Abgleich", "Last sync");
pub const NEVER: Words = w("noch nie", "never");
pub const ERROR: Words = w("Fehler", "Error");
pub const NONE: Words = w("keine", "none");
pub const MESSAGES: Words = w("Nachrichten", "Messages");
pub const UNREAD: Words = w("ungelesen", "unread");
pub const AUTOREPLY_ON: Words = w("Abwesenheitsnotiz an", "Automatic reply on");
pub const AUTOREPLY_OFF: Words = w("aus", "off");
pub const GATE: Words = w("Versand", "Sending");
pub const GATE_OPEN: Words = w("offen", "open");
pub const GATE_CLOSED: Words =
    w("geschlossen: Mail wartet auf eine Büro-Sitzung", "closed: mail waits for an office session");
pub const QUEUE: Words = w("Warteschlange", "Queue");
pub const QUEUE_EMPTY: Words = w("leer", "empty");
pub const DELIVERABILITY: Words = w("Zustellbarkeit", "Deliverability");
pub const NOT_CHECKED: Words = w("noch nicht geprüft", "not checked yet");
pub const PATH_DIRECT: Words = w("direkt", "direct");
pub const PATH_RELAY: Words = w("Relay", "relay");

pub const SESSIONS_HELD_BY: Words = w("Offene Büro-Sitzungen", "Open office sessions");
pub const SESSIONS_NONE: Words = w(
    "Keine Büro-Sitzung offen: Mail über den direkten Weg wartet.",
    "No office session is open: mail on the direct path waits.",
);
pub const SESSION_USER: Words = w("Wer", "Who");
pub const SESSION_SINCE: Words = w("Seit", "Since");
pub const SESSION_UNTIL: Words = w("Läuft bis", "Lease ends");
pub const SESSION_OPEN: Words = w("Büro-Sitzung öffnen", "Open an office session");
pub const SESSION_CLOSE: Words = w("Schließen", "Close");
pub const SESSION_HOURS: Words = w("Dauer in Stunden", "Length in hours");
pub const SESSION_EXPLAIN: Words = w(
    "Solange eine Büro-Sitzung offen ist, verschickt postbote die wartende Mail. Das Öffnen der Konsole allein öffnet keine Sitzung.",
    "While an office session is open, postbote sends the mail that waits. Opening the console alone does not open one.",
);

pub const AUDIT_AT: Words = w("Wann", "When");
pub const AUDIT_WHO: Words = w("Wer", "Who");
pub const AUDIT_WHAT: Words = w("Was", "What");
pub const AUDIT_DETAIL: Words = w("Einzelheiten", "Details");

#[cfg(test)]
mod tests {
    /// Every text exists in both languages (a page cannot forget one).
    #[test]
    fn no_word_is_empty() {
        let src = include_str!("words.rs");
        for line in src.lines().filter(|l| l.contains("w(\"")) {
            assert!(!line.contains("w(\"\"") && !line.contains(", \"\")"), "{line}");
        }
    }
}
