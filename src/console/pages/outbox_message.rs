//! One queued message on the outbox page (`/outbox/{id}`): its facts, recipients, the audit
//! trail with the server's answers, the transcript of the SMTP session that carried it (office
//! accounts only: transcripts reveal whom everyone mails), the buttons a person may press,
//! and for an `unknown` message the decision with the Sent-folder evidence. Rendering only;
//! the handlers and the words are in `outbox`.

use chrono_tz::Tz;
use maud::{Markup, html};

use super::outbox::{
    ANSWER, BACK, CANCEL, DECIDE, DECIDE_EXPLAIN, EVIDENCE, FROM, HISTORY, LAST_ERROR, MIRROR_ELSEWHERE, MIRROR_HAS,
    MIRROR_NONE, NEXT_TRY, NO_TRANSCRIPT, NOTE, OUTBOX_COPY_DONE, OUTBOX_COPY_NONE, PAUSED, QUEUED_AT, RECIPIENTS,
    RETRY, SEND_AGAIN, SEND_AGAIN_EXPLAIN, SENT_AT, SERVER, STATE, TRANSCRIPT, WAITING, WAS_SENT, WAS_SENT_EXPLAIN,
    WHEN, state_mark,
};
use crate::console::auth::Viewer;
use crate::console::i18n::Words;
use crate::console::words as t;
use crate::outbox::State as QState;
use crate::store::outbox::{AttemptRow, OutboxSummary};

/// What the page of one message shows.
pub struct One {
    pub m: OutboxSummary,
    pub attempts: Vec<AttemptRow>,
    /// Transcripts that recorded it: file name and text.
    pub transcripts: Vec<(String, String)>,
    /// Mirrored messages with its Message-ID: folder, its role, received (unix seconds).
    pub found: Vec<(String, Option<String>, i64)>,
    /// Why its mailbox's sending is paused, if it is.
    pub paused: Option<String>,
}

fn button(v: &Viewer, id: i64, action: &str, label: Words, class: &str) -> Markup {
    html! {
        form.inline method="post" action={ "/outbox/" (id) "/" (action) } {
            input type="hidden" name="csrf" value=(v.csrf);
            button class=(class) type="submit" id={ "do-" (action) } { (v.lang.t(label)) }
        }
    }
}

pub fn render(v: &Viewer, tz: Tz, one: &One, done: Option<Words>) -> Markup {
    let (l, m) = (v.lang, &one.m);
    let time = |at: i64| crate::clock::local_time(tz, at);
    let in_sent: Vec<&(String, Option<String>, i64)> =
        one.found.iter().filter(|(_, role, _)| role.as_deref() == Some("sent")).collect();
    html! {
        p { a href="/outbox" { "← " (l.t(BACK)) } }
        @if let Some(d) = done { p.banner role="status" #done { (l.t(d)) } }
        section #message {
            h2 { "#" (m.id) " · " (if m.subject.is_empty() { "–" } else { m.subject.as_str() }) }
            dl.facts {
                dt { (l.t(STATE)) } dd #state { (state_mark(l, m.status)) }
                dt { (l.t(t::MAILBOX)) } dd { (m.account) }
                dt { (l.t(FROM)) } dd { (m.from) }
                dt { "Message-ID" } dd { code { "<" (m.message_id) ">" } }
                dt { (l.t(QUEUED_AT)) } dd { (time(m.created_at)) }
                @if m.status.is_waiting() { dt { (l.t(NEXT_TRY)) } dd { (time(m.due_at)) } }
                @if let Some(w) = &m.waiting { dt { (l.t(WAITING)) } dd { (w) } }
                @if let Some(p) = &one.paused { dt { (l.t(PAUSED)) } dd.bad { (p) } }
                @if let Some(s) = m.sent_at { dt { (l.t(SENT_AT)) } dd { (time(s)) } }
                @if let Some(r) = &m.resolved { dt { (l.t(NOTE)) } dd { (r) } }
                @if let Some(e) = &m.last_error { dt { (l.t(LAST_ERROR)) } dd.bad { (e) } }
            }
            @if v.is_office() && m.status != QState::Unknown {
                div.actions {
                    @if matches!(m.status, QState::Deferred | QState::Failed | QState::Expired) {
                        (button(v, m.id, "retry", RETRY, ""))
                    }
                    @if matches!(m.status, QState::Queued | QState::Deferred) {
                        (button(v, m.id, "cancel", CANCEL, "danger"))
                    }
                }
            }
        }
        @if m.status == QState::Unknown {
            section #decide.banner {
                h2 { (l.t(DECIDE)) }
                p { (l.t(DECIDE_EXPLAIN)) }
                h3 { (l.t(EVIDENCE)) }
                ul #evidence {
                    li { (l.t(if m.sent_copy_done { OUTBOX_COPY_DONE } else { OUTBOX_COPY_NONE })) }
                    @if in_sent.is_empty() { li.warn #sent-none { (l.t(MIRROR_NONE)) } }
                    @for (folder, role, at) in &one.found {
                        // Only a copy in Sent says it went out; one in Drafts or elsewhere
                        // (a phone's draft, say) is shown, but not as evidence.
                        @if role.as_deref() == Some("sent") {
                            li.ok.sent-found { (l.t(MIRROR_HAS)) " " strong { (folder) } " (" (time(*at)) ")" }
                        } @else {
                            li.muted.other-found { (l.t(MIRROR_ELSEWHERE)) " " strong { (folder) } " (" (time(*at)) ")" }
                        }
                    }
                }
                @if v.is_office() {
                    div.decide {
                        div { (button(v, m.id, "sent", WAS_SENT, "")) p.muted { (l.t(WAS_SENT_EXPLAIN)) } }
                        div { (button(v, m.id, "retry", SEND_AGAIN, "secondary")) p.muted { (l.t(SEND_AGAIN_EXPLAIN)) } }
                        div { (button(v, m.id, "cancel", CANCEL, "danger")) }
                    }
                }
            }
        }
        section {
            h2 { (l.t(RECIPIENTS)) }
            table #recipients {
                thead { tr { th { (l.t(RECIPIENTS)) } th { (l.t(STATE)) } th { (l.t(ANSWER)) } } }
                tbody {
                    @for r in &m.recipients {
                        tr {
                            td data-label=(l.t(RECIPIENTS)) { (r.address) }
                            td data-label=(l.t(STATE)) { code { (r.status) } }
                            td data-label=(l.t(ANSWER)) {
                                @if let Some(c) = r.code { code { (c) } " " }
                                (r.text.as_deref().unwrap_or(""))
                            }
                        }
                    }
                }
            }
        }
        section {
            h2 { (l.t(HISTORY)) }
            table #attempts {
                thead { tr { th { (l.t(WHEN)) } th { (l.t(SERVER)) } th { (l.t(ANSWER)) } } }
                tbody {
                    @for a in &one.attempts {
                        tr {
                            td data-label=(l.t(WHEN)) { (time(a.at)) }
                            td data-label=(l.t(SERVER)) { (a.server) }
                            td data-label=(l.t(ANSWER)) {
                                @if let Some(r) = &a.recipient { (r) ": " }
                                @if let Some(c) = a.code { code { (c) } " " }
                                (a.text)
                            }
                        }
                    }
                }
            }
        }
        @if v.is_office() {
            section #transcript {
                h2 { (l.t(TRANSCRIPT)) }
                @if one.transcripts.is_empty() { p.muted { (l.t(NO_TRANSCRIPT)) } }
                @for (name, text) in &one.transcripts {
                    p { a href={ "/smtp-logs/" (name) } { code { (name) } } }
                    pre { (text) }
                }
            }
        }
    }
}
