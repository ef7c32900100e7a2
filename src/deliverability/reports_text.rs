//! The words of the DMARC report figures, in German and English: `postbote doctor reports` as
//! text and JSON, and the one line per path that `postbote doctor` puts beside its DNS
//! prediction ("last 7 days: 1,240 messages via the relay, 312 failed DMARC at gmx.de and
//! web.de").
//!
//! Like the verdict's catalog, this is the only place these sentences live; the figures come
//! as plain data from [`super::reports::Summary`] and nothing here counts or decides.

use serde_json::{Value, json};

use super::reports::{Figures, Summary};
use super::verdict::Lang;
use crate::store::dmarc::ReportPath;

/// A count as people write it: 1,240 in English, 1.240 in German.
pub fn number(n: i64, lang: Lang) -> String {
    let sep = match lang {
        Lang::De => '.',
        Lang::En => ',',
    };
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(sep);
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// A count and its noun, singular for one: "1 Nachricht", "2 Nachrichten", "1 report".
fn count(n: i64, one: &str, many: &str, lang: Lang) -> String {
    format!("{} {}", number(n, lang), if n == 1 { one } else { many })
}

fn messages(n: i64, lang: Lang) -> String {
    match lang {
        Lang::De => count(n, "Nachricht", "Nachrichten", lang),
        Lang::En => count(n, "message", "messages", lang),
    }
}

fn date(day: i64) -> String {
    chrono::DateTime::from_timestamp(day * 86_400, 0).map(|d| d.date_naive().to_string()).unwrap_or_default()
}

fn path_name(p: ReportPath, lang: Lang) -> &'static str {
    match (p, lang) {
        (ReportPath::Direct, Lang::De) => "über den eigenen Server (direct)",
        (ReportPath::Direct, Lang::En) => "via the company's own server (direct)",
        (ReportPath::Relay, Lang::De) => "über das Relay (relay)",
        (ReportPath::Relay, Lang::En) => "via the relay (relay)",
        (ReportPath::Unknown, Lang::De) => "von unbekannten Absendern (unknown)",
        (ReportPath::Unknown, Lang::En) => "from unknown senders (unknown)",
        (ReportPath::Unchecked, Lang::De) => "nicht zuzuordnen, DNS antwortete nicht (unchecked)",
        (ReportPath::Unchecked, Lang::En) => "could not check, DNS did not answer (unchecked)",
    }
}

fn and(list: &[String], lang: Lang) -> String {
    let word = match lang {
        Lang::De => "und",
        Lang::En => "and",
    };
    match list {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} {word} {last}", init.join(", ")),
    }
}

fn figures_line(f: &Figures, lang: Lang) -> String {
    let n = |v| number(v, lang);
    match lang {
        Lang::De => format!(
            "{}, DMARC bestanden {}, gescheitert {}; SPF ausgerichtet {}, DKIM ausgerichtet {}; unter Quarantäne {}, abgewiesen {}",
            messages(f.messages, lang),
            n(f.dmarc_pass),
            n(f.dmarc_fail),
            n(f.spf_aligned),
            n(f.dkim_aligned),
            n(f.quarantined),
            n(f.rejected)
        ),
        Lang::En => format!(
            "{}, DMARC passed {}, failed {}; SPF aligned {}, DKIM aligned {}; quarantined {}, rejected {}",
            messages(f.messages, lang),
            n(f.dmarc_pass),
            n(f.dmarc_fail),
            n(f.spf_aligned),
            n(f.dkim_aligned),
            n(f.quarantined),
            n(f.rejected)
        ),
    }
}

/// `postbote doctor reports` for people.
pub fn render(s: &Summary, lang: Lang) -> String {
    let mut out = match lang {
        Lang::De => format!(
            "DMARC-Berichte der Empfänger, {} (ab {}): {}\n",
            days(s.days, lang),
            date(s.since_day),
            count(s.reports, "Bericht", "Berichte", lang)
        ),
        Lang::En => format!(
            "Receivers' DMARC reports, {} (from {}): {}\n",
            days(s.days, lang),
            date(s.since_day),
            count(s.reports, "report", "reports", lang)
        ),
    };
    for p in &s.paths {
        if p.path == ReportPath::Unchecked && p.total.messages == 0 {
            continue;
        }
        out.push_str(&format!("\n{}: {}\n", path_name(p.path, lang), figures_line(&p.total, lang)));
        for (reporter, f) in &p.reporters {
            out.push_str(&format!("  {reporter}: {}\n", figures_line(f, lang)));
        }
    }
    if !s.lookups_failed.is_empty() {
        out.push_str(match lang {
            Lang::De => "\nNicht nachgeschlagen (beim nächsten Aufruf erneut versucht):\n",
            Lang::En => "\nCould not be looked up (tried again next time):\n",
        });
        for e in &s.lookups_failed {
            out.push_str(&format!("  {e}\n"));
        }
    }
    if !s.broken.is_empty() {
        out.push_str(&match lang {
            Lang::De => format!("\nNicht lesbare Berichte ({}), übersprungen:\n", s.broken.len()),
            Lang::En => format!("\nUnreadable reports ({}), skipped:\n", s.broken.len()),
        });
        for b in &s.broken {
            let id = b.rfc_message_id.as_deref().map(|m| format!(" <{m}>")).unwrap_or_default();
            out.push_str(&format!("  {} #{}{id} \"{}\": {}\n", b.account, b.message, b.subject, b.error));
        }
    }
    out
}

fn figures_json(f: &Figures) -> Value {
    json!({
        "messages": f.messages,
        "dmarc_pass": f.dmarc_pass,
        "dmarc_fail": f.dmarc_fail,
        "spf_aligned": f.spf_aligned,
        "dkim_aligned": f.dkim_aligned,
        "quarantined": f.quarantined,
        "rejected": f.rejected,
    })
}

/// `postbote doctor reports --json`.
pub fn to_json(s: &Summary) -> Value {
    let paths: Vec<Value> = s
        .paths
        .iter()
        .map(|p| {
            let mut v = figures_json(&p.total);
            v["path"] = json!(p.path.as_str());
            v["reporters"] = p
                .reporters
                .iter()
                .map(|(r, f)| {
                    let mut v = figures_json(f);
                    v["reporter"] = json!(r);
                    v
                })
                .collect();
            v
        })
        .collect();
    let broken: Vec<Value> = s
        .broken
        .iter()
        .map(|b| {
            json!({
                "mailbox": b.account,
                "message": b.message,
                "message_id": b.rfc_message_id,
                "subject": b.subject,
                "error": b.error,
            })
        })
        .collect();
    json!({
        "days": s.days,
        "since": date(s.since_day),
        "reports": s.reports,
        "paths": paths,
        "lookups_failed": s.lookups_failed,
        "broken": broken,
    })
}

/// The line beside a DNS prediction: what the receivers said about `domain`'s mail on `path`.
pub fn beside(s: &Summary, path: ReportPath, domain: &str, lang: Lang) -> String {
    let (f, failed_at) = s.for_domain(path, domain);
    let via = match (path, lang) {
        (ReportPath::Direct, Lang::De) => "über den eigenen Server",
        (ReportPath::Direct, Lang::En) => "via the company's own server",
        (ReportPath::Relay, Lang::De) => "über das Relay",
        (ReportPath::Relay, Lang::En) => "via the relay",
        (ReportPath::Unknown, Lang::De) => "von unbekannten Absendern",
        (ReportPath::Unknown, Lang::En) => "from unknown senders",
        (ReportPath::Unchecked, Lang::De) => "ohne sicheren Pfad (DNS antwortete nicht)",
        (ReportPath::Unchecked, Lang::En) => "on no path known for sure (DNS did not answer)",
    };
    let n = |v| number(v, lang);
    let d = days(s.days, lang);
    let line = match lang {
        Lang::De if f.messages == 0 => format!("{d}: die Empfänger berichten keine Nachrichten {via}"),
        Lang::En if f.messages == 0 => format!("{d}: the receivers report no messages {via}"),
        Lang::De if f.dmarc_fail == 0 => {
            let all = if f.messages == 1 { "sie bestand" } else { "alle bestanden" };
            format!("{d}: {} {via}, {all} DMARC", messages(f.messages, lang))
        }
        Lang::En if f.dmarc_fail == 0 => {
            let all = if f.messages == 1 { "it passed" } else { "all passed" };
            format!("{d}: {} {via}, {all} DMARC", messages(f.messages, lang))
        }
        Lang::De => format!(
            "{d}: {} {via}, {} an DMARC bei {}",
            messages(f.messages, lang),
            if f.dmarc_fail == 1 { "1 scheiterte".to_string() } else { format!("{} scheiterten", n(f.dmarc_fail)) },
            and(&failed_at, lang)
        ),
        Lang::En => format!(
            "{d}: {} {via}, {} failed DMARC at {}",
            messages(f.messages, lang),
            n(f.dmarc_fail),
            and(&failed_at, lang)
        ),
    };
    let (unchecked, _) = s.for_domain(ReportPath::Unchecked, domain);
    match (unchecked.messages, lang) {
        (0, _) => line,
        (u, Lang::De) => format!("{line}; {} nicht zuzuordnen (DNS antwortete nicht)", messages(u, lang)),
        (u, Lang::En) => format!("{line}; {} could not be checked (DNS did not answer)", messages(u, lang)),
    }
}

/// "letzte 7 Tage", "last 7 days"; "heute", "today" for one.
fn days(n: u32, lang: Lang) -> String {
    match (n, lang) {
        (1, Lang::De) => "heute".into(),
        (1, Lang::En) => "today".into(),
        (n, Lang::De) => format!("letzte {n} Tage"),
        (n, Lang::En) => format!("last {n} days"),
    }
}

/// The label of that line.
pub fn beside_label(lang: Lang) -> &'static str {
    match lang {
        Lang::De => "Berichte der Empfänger",
        Lang::En => "receivers' reports",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deliverability::reports::figures;
    use crate::store::dmarc::DayRow;

    fn row(path: ReportPath, reporter: &str, pass: bool, messages: i64) -> DayRow {
        DayRow {
            day: 20_000,
            source_ip: "192.0.2.1".into(),
            path,
            reporter: reporter.into(),
            header_from: "bau-firma.de".into(),
            spf: "pass".into(),
            spf_aligned: pass,
            dkim: "none".into(),
            dkim_aligned: false,
            disposition: if pass { "none" } else { "reject" }.into(),
            messages,
        }
    }

    fn summary(rows: Vec<DayRow>, reports: i64) -> Summary {
        Summary {
            days: 7,
            since_day: 19_994,
            reports,
            paths: figures(&rows),
            lookups_failed: vec![],
            rows,
            broken: vec![],
        }
    }

    #[test]
    fn one_is_singular() {
        let s = summary(vec![row(ReportPath::Direct, "google.com", true, 1)], 1);
        let de = render(&s, Lang::De);
        assert!(de.starts_with("DMARC-Berichte der Empfänger, letzte 7 Tage (ab 2024-09-28): 1 Bericht\n"), "{de}");
        assert!(de.contains("über den eigenen Server (direct): 1 Nachricht, DMARC bestanden 1"), "{de}");
        assert!(de.contains("(relay): 0 Nachrichten,"), "{de}");
        let en = render(&s, Lang::En);
        assert!(en.starts_with("Receivers' DMARC reports, last 7 days (from 2024-09-28): 1 report\n"), "{en}");
        assert!(en.contains("(direct): 1 message, DMARC passed 1"), "{en}");
        assert!(!en.contains("unchecked"), "no unchecked line without such messages: {en}");
        assert_eq!(
            beside(&s, ReportPath::Direct, "bau-firma.de", Lang::En),
            "last 7 days: 1 message via the company's own server, it passed DMARC"
        );
        assert_eq!(
            beside(&s, ReportPath::Direct, "bau-firma.de", Lang::De),
            "letzte 7 Tage: 1 Nachricht über den eigenen Server, sie bestand DMARC"
        );
        let s = summary(
            vec![row(ReportPath::Relay, "gmx.net", false, 1), row(ReportPath::Unchecked, "gmx.net", true, 1)],
            2,
        );
        assert_eq!(
            beside(&s, ReportPath::Relay, "bau-firma.de", Lang::De),
            "letzte 7 Tage: 1 Nachricht über das Relay, 1 scheiterte an DMARC bei gmx.net; 1 Nachricht nicht zuzuordnen (DNS antwortete nicht)"
        );
        assert_eq!(
            beside(&s, ReportPath::Relay, "bau-firma.de", Lang::En),
            "last 7 days: 1 message via the relay, 1 failed DMARC at gmx.net; 1 message could not be checked (DNS did not answer)"
        );
        assert!(render(&s, Lang::En).contains("could not check, DNS did not answer (unchecked): 1 message"));
    }

    #[test]
    fn the_line_beside_the_prediction_names_the_failing_reporters() {
        let rows = vec![
            row(ReportPath::Relay, "gmx.net", true, 928),
            row(ReportPath::Relay, "gmx.net", false, 300),
            row(ReportPath::Relay, "web.de", false, 12),
            row(ReportPath::Direct, "google.com", true, 5),
        ];
        let s = summary(rows, 3);
        assert_eq!(
            beside(&s, ReportPath::Relay, "mail.bau-firma.de", Lang::En),
            "last 7 days: 1,240 messages via the relay, 312 failed DMARC at gmx.net and web.de"
        );
        assert_eq!(
            beside(&s, ReportPath::Relay, "bau-firma.de", Lang::De),
            "letzte 7 Tage: 1.240 Nachrichten über das Relay, 312 scheiterten an DMARC bei gmx.net und web.de"
        );
        assert_eq!(
            beside(&s, ReportPath::Direct, "bau-firma.de", Lang::En),
            "last 7 days: 5 messages via the company's own server, all passed DMARC"
        );
        assert_eq!(
            beside(&s, ReportPath::Direct, "andere-firma.de", Lang::De),
            "letzte 7 Tage: die Empfänger berichten keine Nachrichten über den eigenen Server"
        );
        let relay = &s.paths[1];
        assert_eq!((relay.total.messages, relay.total.rejected, relay.reporters[0].0.as_str()), (1240, 312, "gmx.net"));
        assert_eq!(number(1_234_567, Lang::De), "1.234.567");
        assert_eq!(number(999, Lang::En), "999");
    }
}
