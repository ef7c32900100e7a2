//! Deliverability (office accounts only): the doctor's last verdict for every mailbox, company
//! domain and path, with its reasons and fixes in the page's language (the verdict catalog's
//! own sentences), and beside each what the receivers' DMARC aggregate reports said
//! (`deliverability::reports`); then, per company domain, the DNS records to publish, ready to
//! copy and as a zone-file snippet, each with what DNS had at the last check marked ✓, ✖ or ?
//! (`deliverability::publish`). "Check again" runs the doctor now, as `postbote doctor` does,
//! and records its verdicts.

use std::collections::BTreeSet;

use axum::extract::{Form, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::overview::level_mark;
use crate::console::Web;
use crate::console::auth::Viewer;
use crate::console::i18n::{Lang, Words, w};
use crate::console::layout;
use crate::console::words as t;
use crate::deliverability::aggregate::PathBlocks;
use crate::deliverability::publish::{self, Mark, Record};
use crate::deliverability::verdict::{self, Level};
use crate::deliverability::{reports, reports_text};
use crate::store::deliverability::StoredVerdict;
use crate::store::dmarc::ReportPath;

/// How many days of the receivers' reports the page sums.
const DAYS: u32 = 7;

const CHECK_AGAIN: Words = w("Jetzt erneut prüfen", "Check again now");
const CHECKED: Words = w("Geprüft und gespeichert.", "Checked and recorded.");
const CHECK_FAILED: Words = w(
    "Die Prüfung ist fehlgeschlagen; Näheres steht im Protokoll des Dienstes.",
    "The check failed; see the daemon's log.",
);
const VERDICTS: Words = w("Urteil je Postfach und Weg", "Verdict per mailbox and path");
const NOT_CHECKED_YET: Words = w(
    "Noch nicht geprüft. postbote prüft kurz nach dem Start und dann täglich, oder jetzt mit dem Knopf.",
    "Not checked yet. postbote checks shortly after it starts and then daily, or now with the button.",
);
const DOMAIN: Words = w("Domain", "Domain");
const PATH: Words = w("Weg", "Path");
const CONFIGURED: Words = w("genutzt", "in use");
const COMPARISON: Words = w("zum Vergleich", "for comparison");
const VERDICT: Words = w("Urteil", "Verdict");
const REASON: Words = w("Grund", "Reason");
const FIX: Words = w("Abhilfe", "Fix");
const MORE: Words = w("Weitere Hinweise", "More");
const CHECKED_AT: Words = w("Geprüft", "Checked");
const RECEIVERS: Words = w("Was die Empfänger berichten", "What the receivers report");
const NO_REPORTS: Words = w(
    "Es werden keine DMARC-Berichte gesammelt (doctor.reports_mailbox ist nicht gesetzt).",
    "No DMARC reports are collected (doctor.reports_mailbox is not set).",
);
const RECORDS: Words = w("DNS-Einträge zum Veröffentlichen", "DNS records to publish");
const RECORD: Words = w("Eintrag", "Record");
const SHOULD: Words = w("Soll", "Should have");
const HAS: Words = w("DNS hat jetzt", "DNS has now");
const NOTHING: Words = w("(nichts)", "(nothing)");
const ZONE: Words = w("Als Zonendatei-Ausschnitt", "As a zone-file snippet");
const RECORDS_NOTE: Words = w(
    "Der Stand von DNS ist der der letzten Prüfung. Nach einer Änderung im DNS: „Jetzt erneut prüfen“.",
    "What DNS has is as of the last check. After changing DNS: “Check again now”.",
);

/// What the last check found, for people.
fn found_words(code: &str) -> Words {
    match code {
        "ok" => w("stimmt", "matches"),
        "absent" => w("fehlt", "missing"),
        "not_authorised" => w("erlaubt den Server nicht", "does not authorise the server"),
        "include_missing" => w("das include: des Relays fehlt", "the relay's include: is missing"),
        "multiple" => w("mehrere SPF-Einträge (ungültig)", "several SPF records (invalid)"),
        "invalid" => w("ungültig", "invalid"),
        "too_many_lookups" => w("zu viele DNS-Abfragen", "too many DNS lookups"),
        "mismatch" => w("veröffentlichter Schlüssel passt nicht", "published key does not match"),
        "revoked" => w("Schlüssel zurückgezogen (p= leer)", "key revoked (empty p=)"),
        "key_unreadable" => w("Schlüsseldatei unlesbar", "key file unreadable"),
        "not_compared" => w("veröffentlicht, nicht verglichen", "published, not compared"),
        "monitor_only" => w("nur Beobachtung (p=none)", "monitoring only (p=none)"),
        "no_rua" => w("ohne rua= (keine Berichte)", "no rua= (no reports)"),
        "could_not_check" => w("nicht prüfbar (DNS antwortete nicht)", "could not check (DNS did not answer)"),
        _ => w("noch nicht geprüft", "not checked yet"),
    }
}

const MARK_OK: Words = w("wie es sein soll", "as it should be");
const MARK_BAD: Words = w("anders als es sein soll", "not as it should be");
const MARK_UNKNOWN: Words = w("nicht feststellbar", "cannot tell");

fn mark(l: Lang, m: Mark) -> Markup {
    match m {
        Mark::Ok => html! { span.ok title=(l.t(MARK_OK)) { "✓" } },
        Mark::Bad => html! { span.bad title=(l.t(MARK_BAD)) { "✖" } },
        Mark::Unknown => html! { span.muted title=(l.t(MARK_UNKNOWN)) { "?" } },
    }
}

fn vlang(l: Lang) -> verdict::Lang {
    match l {
        Lang::De => verdict::Lang::De,
        Lang::En => verdict::Lang::En,
    }
}

/// A stored verdict with its report (as `postbote doctor --json` shows it).
type Checked = (StoredVerdict, serde_json::Value);

/// What the page shows, read in one go off the async threads.
struct Data {
    /// Per mailbox in config order: id, name, its stored verdicts.
    mailboxes: Vec<(String, String, Vec<Checked>)>,
    /// Per company domain: its records.
    domains: Vec<(String, Vec<Record>)>,
    received: Option<reports::Summary>,
}

fn read(app: &crate::app::App, blocks: Option<&PathBlocks>) -> anyhow::Result<Data> {
    let mut mailboxes = Vec::new();
    let mut all = Vec::new();
    for m in &app.config.mailboxes {
        let rows: Vec<Checked> = app
            .store
            .verdicts()
            .all(&m.id)?
            .into_iter()
            .map(|v| {
                let json = serde_json::from_str(&v.report).unwrap_or(serde_json::Value::Null);
                (v, json)
            })
            .collect();
        all.extend(rows.iter().cloned());
        mailboxes.push((m.id.clone(), m.name.clone(), rows));
    }
    let domains: BTreeSet<String> = app.config.mailboxes.iter().flat_map(|m| m.company_domains()).collect();
    let domains = domains
        .into_iter()
        .map(|d| {
            let r = publish::records(&app.config, &d, &all);
            (d, r)
        })
        .collect();
    let received = match (&app.config.doctor.reports, blocks) {
        (Some(_), Some(b)) => Some(reports::summary(&app.store, DAYS, crate::store::now(), b)?),
        _ => None,
    };
    Ok(Data { mailboxes, domains, received })
}

#[derive(Deserialize, Default)]
pub struct Shown {
    checked: Option<String>,
}

pub async fn page(State(web): State<Web>, v: Viewer, Query(q): Query<Shown>) -> Response {
    if let Err(r) = v.office() {
        return r;
    }
    // The receivers' figures are split by path by the paths' addresses in DNS now.
    let blocks = match web.app.config.doctor.reports {
        None => None,
        Some(_) => match crate::deliverability::paths::path_blocks_now(&web.app.config).await {
            Ok(b) => Some(b),
            Err(e) => return crate::console::internal(&e.to_string()),
        },
    };
    let data = match web.blocking(move |app| read(app, blocks.as_ref())).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let (l, tz, now) = (v.lang, web.app.config.agent.time_zone, crate::store::now());
    let vl = vlang(l);
    let body = html! {
        @match q.checked.as_deref() {
            Some("ok") => { p.banner #checked role="status" { (l.t(CHECKED)) } }
            Some("failed") => { p.error role="alert" { (l.t(CHECK_FAILED)) } }
            _ => {}
        }
        form.inline #check-again method="post" action="/deliverability/check" {
            input type="hidden" name="csrf" value=(v.csrf);
            button type="submit" { (l.t(CHECK_AGAIN)) }
        }
        h2 { (l.t(VERDICTS)) }
        @for (id, name, rows) in &data.mailboxes {
            section.verdicts id={ "verdicts-" (id) } {
                h3 { (name) " " span.muted { "(" (id) ")" } }
                @if rows.is_empty() { p.muted { (l.t(NOT_CHECKED_YET)) } }
                @else {
                    table {
                        thead { tr { th { (l.t(DOMAIN)) } th { (l.t(PATH)) } th { (l.t(VERDICT)) } th { (l.t(REASON)) } th { (l.t(CHECKED_AT)) } } }
                        tbody {
                            @for (sv, json) in rows {
                                @let level = Level::parse(&sv.level);
                                tr.verdict data-level=(sv.level) data-path=(sv.transport) {
                                    td data-label=(l.t(DOMAIN)) { (sv.domain) }
                                    td data-label=(l.t(PATH)) {
                                        (l.t(if sv.transport == "direct" { t::PATH_DIRECT } else { t::PATH_RELAY }))
                                        br; span.muted { (l.t(if sv.configured { CONFIGURED } else { COMPARISON })) }
                                    }
                                    td data-label=(l.t(VERDICT)) { (level_mark(level)) " " (level.map(|x| x.label(vl)).unwrap_or(&sv.level)) }
                                    td data-label=(l.t(REASON)) {
                                        (if l == Lang::De { &sv.reason_de } else { &sv.reason_en })
                                        @if let Some(fix) = if l == Lang::De { &sv.fix_de } else { &sv.fix_en } {
                                            br; strong { (l.t(FIX)) ": " } (fix)
                                        }
                                        (more(l, json))
                                        @if let Some(sum) = &data.received {
                                            @let path = if sv.transport == "direct" { ReportPath::Direct } else { ReportPath::Relay };
                                            p.received { strong { (reports_text::beside_label(vl)) ": " } (reports_text::beside(sum, path, &sv.domain, vl)) }
                                        }
                                    }
                                    td data-label=(l.t(CHECKED_AT)) { (crate::clock::local_time_short(tz, sv.checked_at, now)) }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { (l.t(RECORDS)) }
        p.muted { (l.t(RECORDS_NOTE)) }
        @for (domain, records) in &data.domains {
            section.records id={ "records-" (domain) } {
                h3 { (domain) }
                table {
                    thead { tr { th {} th { (l.t(RECORD)) } th { (l.t(SHOULD)) } th { (l.t(HAS)) } } }
                    tbody {
                        @for r in records {
                            tr.record data-kind=(r.kind.as_str()) data-mark=(format!("{:?}", r.mark).to_lowercase()) {
                                td.mark { (mark(l, r.mark)) }
                                td data-label=(l.t(RECORD)) { strong { (r.kind.as_str().to_uppercase()) } br; code { (r.name) } }
                                td data-label=(l.t(SHOULD)) { pre { (r.value) } }
                                td data-label=(l.t(HAS)) {
                                    @if r.seen.is_empty() { span.muted { (l.t(NOTHING)) } }
                                    @for s in &r.seen { pre { (s) } }
                                    span class=(match r.mark { Mark::Ok => "ok", Mark::Bad => "bad", Mark::Unknown => "muted" }) { (l.t(found_words(&r.found))) }
                                }
                            }
                        }
                    }
                }
                h4 { (l.t(ZONE)) }
                pre.zone { (publish::zone_snippet(records)) }
            }
        }
        h2 { (l.t(RECEIVERS)) }
        @match &data.received {
            Some(sum) => { pre #dmarc-reports { (reports_text::render(sum, vl)) } }
            None => { p.muted { (l.t(NO_REPORTS)) } }
        }
    };
    layout::page(&v, "/deliverability", t::NAV_DELIVERABILITY, body).into_response()
}

/// The findings after the first (which is the verdict's reason), from the stored report.
fn more(l: Lang, json: &serde_json::Value) -> Markup {
    let findings: Vec<&serde_json::Value> =
        json["findings"].as_array().map(|a| a.iter().skip(1).collect()).unwrap_or_default();
    let key = if l == Lang::De { "de" } else { "en" };
    html! {
        @if !findings.is_empty() {
            details {
                summary { (l.t(MORE)) " (" (findings.len()) ")" }
                ul {
                    @for f in findings {
                        li {
                            (level_mark(f["level"].as_str().and_then(Level::parse))) " "
                            (f["reason"][key].as_str().unwrap_or(""))
                            @if let Some(fix) = f["fix"][key].as_str() { " → " (fix) }
                        }
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct CheckForm {
    #[serde(default)]
    csrf: String,
}

/// "Check again": the doctor now, recorded, as `postbote doctor` does.
pub async fn check(State(web): State<Web>, v: Viewer, Form(f): Form<CheckForm>) -> Response {
    if let Err(r) = v.office().and_then(|_| v.csrf(&f.csrf)) {
        return r;
    }
    let result = crate::deliverability::check_and_record(&web.app).await;
    let to = match &result {
        Ok(reports) => {
            let worst = reports.iter().filter(|r| r.configured).map(|r| r.verdict.level.as_str()).collect::<Vec<_>>();
            web.audit(
                &v.user.name,
                "deliverability.check",
                format!("{} paths checked: {}", reports.len(), worst.join(", ")),
            )
            .await;
            "/deliverability?checked=ok".to_string()
        }
        Err(e) => {
            // The cause goes to the daemon's log; the page says only that it failed.
            tracing::warn!("console: deliverability check failed: {e:#}");
            "/deliverability?checked=failed".to_string()
        }
    };
    Redirect::to(&to).into_response()
}
