//! The automatic-reply form as data: what the fields say ([`SettingsForm`]), how they become
//! `autoreply::Settings` ([`SettingsForm::apply`]) and back ([`SettingsForm::of`]), the leave
//! window in words, and the preview of the reply as it will be sent. Pure: no store, no
//! clock (the caller passes `now`), so it is table-tested here.
//!
//! Dates are whole days in the office time zone with both ends included, like Outlook's
//! "Automatic replies": the first day starts at local midnight, and the last day ends at the
//! following local midnight (the same rule as `config::local_datetime` for a bare end date,
//! which `postbote vacation set --until` uses too). An empty date means no bound.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use maud::{Markup, html};
use serde::Deserialize;

use crate::autoreply::settings::MIN_INTERVAL_SECS;
use crate::autoreply::{Answer, Context, Incoming, Settings, render};
use crate::config::Mailbox;
use crate::console::i18n::{Lang, Words, w};

pub const ENABLED: Words = w("Automatische Antworten senden", "Send automatic replies");
pub const FROM: Words = w("Erster Tag", "First day");
pub const UNTIL: Words = w("Letzter Tag (einschließlich)", "Last day (included)");
pub const DATES_HINT: Words = w(
    "Ganze Tage in der Zeitzone des Büros. Ohne Daten gilt die Antwort, bis sie ausgeschaltet wird.",
    "Whole days in the office's time zone. Without dates the reply is on until it is switched off.",
);
pub const SUBJECT: Words = w("Betreff", "Subject");
pub const SUBJECT_HINT: Words =
    w("{subject} steht für den Betreff der eingegangenen Nachricht.", "{subject} stands for the incoming subject.");
pub const TEXT_OUTSIDE: Words = w("Text für Absender außerhalb der Firma", "Text for senders outside the company");
pub const TEXT_COLLEAGUES: Words =
    w("Text für Kolleginnen und Kollegen (leer: derselbe Text)", "Text for colleagues (empty: the same text)");
pub const INTERVAL: Words =
    w("Denselben Absender höchstens alle so viele Tage beantworten", "Answer one sender at most every this many days");
pub const KNOWN_ONLY: Words = w(
    "Nur bekannten Absendern antworten (schon angeschrieben oder aus der Firma)",
    "Only answer known senders (mailed before, or of the company)",
);
pub const PREVIEW: Words = w("Vorschau", "Preview");
pub const SAVE: Words = w("Speichern", "Save");
pub const PREVIEW_OUTSIDE: Words = w("An einen Kunden", "To a customer");
pub const PREVIEW_COLLEAGUE: Words = w("An einen Kollegen", "To a colleague");
pub const SAMPLE_SUBJECT: Words = w("Angebot Dachsanierung", "Quote for the roof repair");
pub const PREVIEW_FROM: Words = w("Von", "From");
pub const PREVIEW_TO: Words = w("An", "To");
pub const WINDOW_ALWAYS: Words = w("ohne Enddatum", "without an end date");
pub const WINDOW_FROM: Words = w("vom", "from");
/// `{}` is the last day.
pub const WINDOW_UNTIL: Words = w("bis einschließlich {}", "to {} inclusive");
pub const WINDOW_RECURRING: Words = w("wiederkehrend", "recurring");

pub const BAD_DATE: Words = w("Das ist kein Datum:", "That is not a date:");
pub const BAD_ORDER: Words = w("Der letzte Tag liegt vor dem ersten Tag.", "The last day is before the first day.");
pub const BAD_OVER: Words = w("Der letzte Tag ist schon vorbei.", "The last day is already over.");
pub const BAD_INTERVAL: Words = w(
    "Der Abstand muss eine ganze Zahl von Tagen sein, mindestens 1:",
    "The interval must be a whole number of days, at least 1:",
);
pub const BAD_SUBJECT: Words = w("Der Betreff muss eine Zeile sein.", "The subject must be one line.");
pub const BAD_OTHER: Words = w("Die Einstellungen sind ungültig:", "The settings are not valid:");

/// The fields of the form, as posted (every field a string, as a browser sends it).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    pub csrf: String,
    /// "on" when the box is ticked; missing when it is not.
    #[serde(default)]
    pub enabled: Option<String>,
    /// `YYYY-MM-DD` (`<input type=date>`), or empty.
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub until: String,
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub text_body: String,
    #[serde(default)]
    pub internal_body: String,
    #[serde(default)]
    pub interval_days: String,
    #[serde(default)]
    pub known_only: Option<String>,
    /// Which button: "save" or "preview".
    #[serde(default)]
    pub action: String,
}

/// What is wrong with a form: the words, and the value that was wrong (or a detail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem(pub Words, pub String);

impl Problem {
    pub fn show(&self, l: Lang) -> String {
        if self.1.is_empty() { l.t(self.0).to_string() } else { format!("{} {}", l.t(self.0), self.1) }
    }
}

fn local_day(tz: chrono_tz::Tz, t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&tz).date_naive()
}

/// The local midnight that starts `d` (the first instant of the day where midnight is skipped).
fn day_start(tz: chrono_tz::Tz, d: NaiveDate) -> Option<DateTime<Utc>> {
    use chrono::TimeZone;
    let naive = d.and_hms_opt(0, 0, 0)?;
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => Some(t.with_timezone(&Utc)),
        chrono::LocalResult::None => {
            tz.from_local_datetime(&(naive + Duration::hours(1))).earliest().map(|t| t.with_timezone(&Utc))
        }
    }
}

fn parse_day(s: &str) -> Result<Option<NaiveDate>, Problem> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map(Some).map_err(|_| Problem(BAD_DATE, s.to_string()))
}

impl SettingsForm {
    /// The form filled with `s` (the until field shows the last day, the one before the end).
    pub fn of(s: &Settings, tz: chrono_tz::Tz) -> SettingsForm {
        SettingsForm {
            csrf: String::new(),
            enabled: s.is_enabled.then(|| "on".into()),
            from: s.from_date.map(|t| local_day(tz, t).to_string()).unwrap_or_default(),
            until: s.to_date.map(|t| local_day(tz, t - Duration::seconds(1)).to_string()).unwrap_or_default(),
            subject: s.subject.clone().unwrap_or_default(),
            text_body: s.text_body.clone().unwrap_or_default(),
            internal_body: s.internal_body.clone().unwrap_or_default(),
            interval_days: ((s.interval_secs + 86_399) / 86_400).to_string(),
            known_only: (s.answer == Answer::Known).then(|| "on".into()),
            action: String::new(),
        }
    }

    /// `base` (the stored settings) changed as the form says. What the form does not show
    /// (recurring absence, caps, HTML text, the per-sender memory) stays as it was.
    ///
    /// A field left as [`SettingsForm::of`] showed it keeps the stored value exactly: an end
    /// at 14:00 or an interval of 36 hours set elsewhere (JMAP, the command line) is not
    /// rounded to whole days just because the form was saved for another field.
    pub fn apply(&self, base: &Settings, tz: chrono_tz::Tz, now: DateTime<Utc>) -> Result<Settings, Problem> {
        let shown = SettingsForm::of(base, tz);
        let unchanged = |posted: &str, was: &str| posted.trim() == was;
        let mut s = base.clone();
        s.is_enabled = self.enabled.is_some();
        let from = parse_day(&self.from)?;
        let until = parse_day(&self.until)?;
        if let (Some(f), Some(u)) = (from, until)
            && u < f
        {
            return Err(Problem(BAD_ORDER, String::new()));
        }
        let bad = |d: NaiveDate| Problem(BAD_DATE, d.to_string());
        if !unchanged(&self.from, &shown.from) {
            s.from_date = from.map(|d| day_start(tz, d).ok_or_else(|| bad(d))).transpose()?;
        }
        if !unchanged(&self.until, &shown.until) {
            s.to_date = until.map(|d| d.succ_opt().and_then(|n| day_start(tz, n)).ok_or_else(|| bad(d))).transpose()?;
        }
        if s.is_enabled && s.to_date.is_some_and(|t| t <= now) {
            return Err(Problem(BAD_OVER, String::new()));
        }
        let subject = self.subject.trim();
        if subject.contains(['\r', '\n']) {
            return Err(Problem(BAD_SUBJECT, String::new()));
        }
        s.subject = (!subject.is_empty()).then(|| subject.to_string());
        s.text_body = text(&self.text_body);
        s.internal_body = text(&self.internal_body);
        let days = self.interval_days.trim();
        s.interval_secs = match days.parse::<i64>() {
            _ if unchanged(days, &shown.interval_days) => base.interval_secs,
            Ok(d) if (1..=365).contains(&d) => d * 86_400,
            _ if days.is_empty() => base.interval_secs.max(MIN_INTERVAL_SECS),
            _ => return Err(Problem(BAD_INTERVAL, days.to_string())),
        };
        s.answer = if self.known_only.is_some() { Answer::Known } else { Answer::Everyone };
        s.validate().map_err(|e| Problem(BAD_OTHER, e.0))?;
        Ok(s)
    }
}

/// A text as stored: browsers send CRLF; nothing but white space is no text.
fn text(s: &str) -> Option<String> {
    let s = s.replace("\r\n", "\n");
    (!s.trim().is_empty()).then(|| s.trim_end().to_string())
}

/// The leave window in words: "vom 21.12.2026 bis einschließlich 02.01.2027".
pub fn window(l: Lang, s: &Settings, tz: chrono_tz::Tz) -> String {
    let day = |t: DateTime<Utc>| local_day(tz, t).format("%d.%m.%Y").to_string();
    let mut parts = Vec::new();
    if let Some(f) = s.from_date {
        parts.push(format!("{} {}", l.t(WINDOW_FROM), day(f)));
    }
    match s.to_date {
        Some(t) => parts.push(l.t(WINDOW_UNTIL).replace("{}", &day(t - Duration::seconds(1)))),
        None if s.schedule.is_empty() => parts.push(l.t(WINDOW_ALWAYS).to_string()),
        None => {}
    }
    if !s.schedule.is_empty() {
        parts.push(format!("{}: {}", l.t(WINDOW_RECURRING), s.schedule.join(" | ")));
    }
    parts.join(" ")
}

/// One reply as it will be sent: its header lines that matter and its text.
#[derive(Debug, Clone)]
pub struct Preview {
    pub from: String,
    pub to: String,
    pub subject: String,
    pub text: String,
}

/// The reply `settings` send to a customer and to a colleague, rendered by the responder's
/// own `autoreply::render` from a sample message, and read back from the bytes it made.
pub fn previews(
    l: Lang,
    m: &Mailbox,
    settings: &Settings,
    tz: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> Vec<(Words, Preview)> {
    let own = m.primary_address().to_string();
    let domain = own.rsplit_once('@').map_or("example.com", |(_, d)| d).to_string();
    let ctx = Context { mailbox: m, time_zone: tz };
    let mut out = Vec::new();
    for (label, sender, internal) in [
        (PREVIEW_OUTSIDE, "kunde@example.org".to_string(), false),
        (PREVIEW_COLLEAGUE, format!("kollege@{domain}"), true),
    ] {
        let sample = format!(
            "From: <{sender}>\r\nTo: <{own}>\r\nSubject: {}\r\nMessage-ID: <preview@example.org>\r\n\r\n.\r\n",
            l.t(SAMPLE_SUBJECT)
        );
        let msg = Incoming::parse(sample.as_bytes(), now, false, None);
        let r = render::render(&msg, &ctx, settings, &sender, internal, now, "preview");
        let parsed = mail_parser::MessageParser::default().parse(&r.raw);
        let body = parsed.as_ref().and_then(|p| p.body_text(0).map(|t| t.into_owned())).unwrap_or_default();
        let from = format!("{} <{}>", m.name, r.from);
        out.push((label, Preview { from, to: r.to, subject: r.subject, text: body.trim_end().to_string() }));
    }
    out
}

/// The preview section (also what `/static/console.js` puts in place as one types).
pub fn preview_markup(l: Lang, previews: &[(Words, Preview)]) -> Markup {
    html! {
        div #preview-body {
            @for (label, p) in previews {
                div.card.reply {
                    h3 { (l.t(*label)) }
                    dl {
                        dt { (l.t(PREVIEW_FROM)) } dd { (p.from) }
                        dt { (l.t(PREVIEW_TO)) } dd { (p.to) }
                        dt { (l.t(SUBJECT)) } dd.subject { (p.subject) }
                    }
                    pre { (p.text) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TZ: chrono_tz::Tz = chrono_tz::Europe::Berlin;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn form(from: &str, until: &str) -> SettingsForm {
        SettingsForm {
            enabled: Some("on".into()),
            from: from.into(),
            until: until.into(),
            subject: "Abwesend: {subject}".into(),
            text_body: "Bin weg.\r\nAb dem 3. wieder da.\r\n".into(),
            interval_days: "3".into(),
            ..Default::default()
        }
    }

    #[test]
    fn whole_days_with_both_ends_included_in_the_office_time_zone() {
        let now = at("2026-12-04T12:00:00Z");
        let s = form("2026-12-21", "2027-01-02").apply(&Settings::default(), TZ, now).unwrap();
        assert_eq!(s.from_date, Some(at("2026-12-20T23:00:00Z")), "local midnight, CET");
        assert_eq!(s.to_date, Some(at("2027-01-02T23:00:00Z")), "the end of the last day");
        assert_eq!(s.interval_secs, 3 * 86_400);
        assert_eq!(s.text_body.as_deref(), Some("Bin weg.\nAb dem 3. wieder da."));
        assert_eq!(s.internal_body, None, "an empty colleague text is no text");
        assert!(s.is_enabled);
        // And back: the form shows the same two days.
        let f = SettingsForm::of(&s, TZ);
        assert_eq!((f.from.as_str(), f.until.as_str()), ("2026-12-21", "2027-01-02"));
        assert_eq!(window(Lang::De, &s, TZ), "vom 21.12.2026 bis einschließlich 02.01.2027");
        assert_eq!(window(Lang::En, &s, TZ), "from 21.12.2026 to 02.01.2027 inclusive");
        // Summer time: the day starts at 22:00 UTC.
        let s = form("2027-07-01", "2027-07-01").apply(&Settings::default(), TZ, now).unwrap();
        assert_eq!(s.from_date, Some(at("2027-06-30T22:00:00Z")));
        assert_eq!(s.to_date, Some(at("2027-07-01T22:00:00Z")), "one day, both ends included");
    }

    #[test]
    fn wrong_forms_say_what_is_wrong() {
        let now = at("2026-12-04T12:00:00Z");
        let base = Settings::default();
        let e = |f: SettingsForm| f.apply(&base, TZ, now).unwrap_err().0;
        assert_eq!(e(form("21.12.2026", "")), BAD_DATE);
        assert_eq!(e(form("2026-12-22", "2026-12-21")), BAD_ORDER);
        assert_eq!(e(form("", "2026-12-03")), BAD_OVER);
        assert_eq!(e(SettingsForm { interval_days: "0".into(), ..form("", "") }), BAD_INTERVAL);
        assert_eq!(e(SettingsForm { interval_days: "zwei".into(), ..form("", "") }), BAD_INTERVAL);
        assert_eq!(e(SettingsForm { subject: "a\nBcc: x@y".into(), ..form("", "") }), BAD_SUBJECT);
        // Switched off, a past end is only a stored date.
        let off = SettingsForm { enabled: None, ..form("", "2026-12-03") };
        assert!(!off.apply(&base, TZ, now).unwrap().is_enabled);
    }

    #[test]
    fn what_the_form_does_not_show_stays() {
        let base = Settings { schedule: vec!["* * * * 6,0".into()], max_per_hour: 7, ..Settings::default() };
        let s = form("", "").apply(&base, TZ, at("2026-12-04T12:00:00Z")).unwrap();
        assert_eq!(s.schedule, base.schedule);
        assert_eq!(s.max_per_hour, 7);
        assert_eq!(s.from_date, None);
        assert_eq!(s.to_date, None);
    }

    /// Regression: saving the form for another field rounded an end at 14:00 to the end of
    /// that day and an interval of 36 hours to 2 days.
    #[test]
    fn saving_keeps_values_set_elsewhere_when_their_field_is_unchanged() {
        let now = at("2026-12-04T12:00:00Z");
        let base = Settings {
            is_enabled: true,
            from_date: Some(at("2026-12-20T09:30:00Z")),
            to_date: Some(at("2027-01-02T13:00:00Z")),
            interval_secs: 36 * 3600,
            ..Settings::default()
        };
        let mut f = SettingsForm::of(&base, TZ);
        f.subject = "Neuer Betreff".into();
        let s = f.apply(&base, TZ, now).unwrap();
        assert_eq!(s.subject.as_deref(), Some("Neuer Betreff"));
        assert_eq!((s.from_date, s.to_date, s.interval_secs), (base.from_date, base.to_date, base.interval_secs));
        // A field that was changed is taken as whole days, as before.
        f.until = "2027-01-05".into();
        f.interval_days = "4".into();
        let s = f.apply(&base, TZ, now).unwrap();
        assert_eq!(s.from_date, base.from_date);
        assert_eq!(s.to_date, Some(at("2027-01-05T23:00:00Z")));
        assert_eq!(s.interval_secs, 4 * 86_400);
    }
}
