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
            "{} Nachrichten, DMARC bestanden {}, gescheitert {}; SPF ausgerichtet {}, DKIM ausgerichtet {}; unter Quarantäne {}, abgewiesen {}",
            n(f.messages),
            n(f.dmarc_pass),
            n(f.dmarc_fail),
            n(f.spf_aligned),
            n(f.dkim_aligned),
            n(f.quarantined),
            n(f.rejected)
        ),
        Lang::En => format!(
            "{} messages, DMARC passed {}, failed {}; SPF aligned {}, DKIM aligned {}; quarantined {}, rejected {}",
            n(f.messages),
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
            "DMARC-Berichte der Empfänger, letzte {} Tage (ab {}): {} Berichte\n",
            s.days,
            date(s.since_day),
            number(s.reports, lang)
        ),
        Lang::En => format!(
            "Receivers' DMARC reports, last {} days (from {}): {} reports\n",
            s.days,
            date(s.since_day),
            number(s.reports, lang)
        ),
    };
    for p in &s.paths {
        out.push_str(&format!("\n{}: {}\n", path_name(p.path, lang), figures_line(&p.total, lang)));
        for (reporter, f) in &p.reporters {
            out.push_str(&format!("  {reporter}: {}\n", figures_line(f, lang)));
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
    };
    let n = |v| number(v, lang);
    match lang {
        Lang::De if f.messages == 0 => {
            format!("letzte {} Tage: die Empfänger berichten keine Nachrichten {via}", s.days)
        }
        Lang::En if f.messages == 0 => format!("last {} days: the receivers report no messages {via}", s.days),
        Lang::De if f.dmarc_fail == 0 => {
            format!("letzte {} Tage: {} Nachrichten {via}, alle bestanden DMARC", s.days, n(f.messages))
        }
        Lang::En if f.dmarc_fail == 0 => {
            format!("last {} days: {} messages {via}, all passed DMARC", s.days, n(f.messages))
        }
        Lang::De => format!(
            "letzte {} Tage: {} Nachrichten {via}, {} scheiterten an DMARC bei {}",
            s.days,
            n(f.messages),
            n(f.dmarc_fail),
            and(&failed_at, lang)
        ),
        Lang::En => format!(
            "last {} days: {} messages {via}, {} failed DMARC at {}",
            s.days,
            n(f.messages),
            n(f.dmarc_fail),
            and(&failed_at, lang)
        ),
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

    #[test]
    fn the_line_beside_the_prediction_names_the_failing_reporters() {
        let rows = vec![
            row(ReportPath::Relay, "gmx.net", true, 928),
            row(ReportPath::Relay, "gmx.net", false, 300),
            row(ReportPath::Relay, "web.de", false, 12),
            row(ReportPath::Direct, "google.com", true, 5),
        ];
        let s = Summary { days: 7, since_day: 19_993, reports: 3, paths: figures(&rows), rows, broken: vec![] };
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
