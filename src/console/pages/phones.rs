//! Phones: the devices of the mailboxes this account may see, with their last use and
//! protocol; adding one (its mailbox, its name, and for office accounts the shared mailboxes
//! it may also see) shows its token once, with the manual settings for the phone's mail app
//! (the phone onboarding's `onboard::Account`: host, IMAP and SMTP ports and security from
//! `[phones]`, the mailbox's address as user name; the token as password), the JMAP session
//! URL, and a QR code of them (`onboard::qr`); revoking one stops its
//! token at once and ends its open IMAP and SMTP connections (`devices::live`).
//!
//! The token exists only in the answer to the adding POST (the store keeps its SHA-256), so
//! that answer is the page itself (`no-store`, as every console page), not a redirect to a page that would
//! need the token kept somewhere. An employee adds and revokes only their own phones.

use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use maud::{Markup, html};

use crate::config::MailboxKind;
use crate::console::auth::Viewer;
use crate::console::i18n::{Lang, Words, w};
use crate::console::words as t;
use crate::console::{Web, layout};
use crate::onboard::Account;
use crate::onboard::account::security_word;
use crate::store::devices::Device;

pub const NAME: Words = w("Name", "Name");
pub const ADDED: Words = w("Hinzugefügt", "Added");
pub const LAST_USED: Words = w("Zuletzt benutzt", "Last used");
pub const PROTOCOL: Words = w("über", "via");
pub const ALSO_SEES: Words = w("sieht auch", "also sees");
pub const REVOKE: Words = w("Sperren", "Revoke");
pub const REVOKED: Words = w("gesperrt", "revoked");
pub const NO_PHONES: Words = w("Noch keine Telefone.", "No phones yet.");
pub const ADD: Words = w("Telefon hinzufügen", "Add a phone");
pub const NAME_HINT: Words = w("z. B. iPhone Becker", "e.g. iPhone Becker");
pub const GRANTS: Words = w("Darf auch diese gemeinsamen Postfächer sehen", "May also see these shared mailboxes");
pub const NAME_MISSING: Words = w("Bitte einen Namen angeben.", "Please give a name.");
pub const BAD_GRANT: Words = w(
    "Nur gemeinsame Postfächer außer dem eigenen können freigegeben werden.",
    "Only shared mailboxes other than its own can be granted.",
);
pub const NO_SUCH_PHONE: Words = w("Dieses Telefon gibt es nicht.", "There is no such phone.");
pub const ADDED_TITLE: Words = w("Telefon hinzugefügt", "Phone added");
pub const TOKEN_ONCE: Words = w(
    "Das Passwort (Token) wird nur jetzt angezeigt. Geht es verloren, das Telefon sperren und neu hinzufügen.",
    "The password (token) is shown only now. If it is lost, revoke the phone and add it again.",
);
pub const MANUAL: Words = w("Einstellungen für die Mail-App des Telefons", "Settings for the phone's mail app");
pub const IMAP_SERVER: Words = w("Posteingang (IMAP)", "Incoming (IMAP)");
pub const SMTP_SERVER: Words = w("Postausgang (SMTP)", "Outgoing (SMTP)");
pub const USER: Words = w("Benutzername", "User name");
pub const PASSWORD: Words = w("Passwort", "Password");
pub const JMAP_URL: Words = w("JMAP-Sitzung (für JMAP-Apps)", "JMAP session (for JMAP apps)");
pub const QR: Words = w(
    "Mit der Kamera des Telefons lesen: die Einstellungen als Text.",
    "Read it with the phone's camera: the settings as text.",
);
pub const SETUP_LINK: Words = w("Einrichtung in einem Schritt (iPhone, iPad)", "Set up in one step (iPhone, iPad)");
pub const SETUP_LINK_HOW: Words = w(
    "Mit der Kamera des Telefons lesen und das Profil installieren. Der Link funktioniert einmal, bis",
    "Scan it with the phone's camera and install the profile. The link works once, until",
);
pub const QR_ALT: Words = w("QR-Code mit den Einstellungen", "QR code with the settings");
pub const BACK: Words = w("Zurück zu den Telefonen", "Back to the phones");
pub const PORT: Words = w("Port", "Port");

/// `/phones`: the list and the form to add one.
pub async fn page(State(web): State<Web>, v: Viewer) -> Response {
    let devices = match web.blocking(|app| Ok(app.store.devices().all()?)).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let devices: Vec<Device> = devices.into_iter().filter(|d| v.may_see(&d.mailbox)).collect();
    let body = html! {
        (list(&web, &v, &devices))
        (add_form(&web, &v, None))
    };
    layout::page(&v, "/phones", t::NAV_PHONES, body).into_response()
}

fn list(web: &Web, v: &Viewer, devices: &[Device]) -> Markup {
    let (l, tz, now) = (v.lang, web.app.config.agent.time_zone, crate::store::now());
    html! {
        @if devices.is_empty() { p #no-phones { (l.t(NO_PHONES)) } }
        @else {
            table #phones {
                thead { tr { th { (l.t(NAME)) } th { (l.t(t::MAILBOX)) } th { (l.t(ADDED)) } th { (l.t(LAST_USED)) } th {} } }
                tbody {
                    @for d in devices {
                        tr id={ "phone-" (d.id) } class=[d.revoked_at.map(|_| "revoked")] {
                            td data-label=(l.t(NAME)) { strong { (d.name) } }
                            td data-label=(l.t(t::MAILBOX)) {
                                (d.mailbox)
                                @if !d.grants.is_empty() { br; span.muted { (l.t(ALSO_SEES)) " " (d.grants.join(", ")) } }
                            }
                            td data-label=(l.t(ADDED)) { (crate::clock::local_time_short(tz, d.created_at, now)) }
                            td data-label=(l.t(LAST_USED)) {
                                @match d.last_used_at {
                                    Some(at) => {
                                        (crate::clock::local_time_short(tz, at, now))
                                        @if let Some(p) = &d.last_protocol { " " (l.t(PROTOCOL)) " " (p.to_uppercase()) }
                                    }
                                    None => { span.muted { (l.t(t::NEVER)) } }
                                }
                            }
                            td {
                                @match d.revoked_at {
                                    Some(at) => { span.muted { (l.t(REVOKED)) " " (crate::clock::local_time_short(tz, at, now)) } }
                                    None => {
                                        form method="post" action={ "/phones/" (d.id) "/revoke" } {
                                            input type="hidden" name="csrf" value=(v.csrf);
                                            button.danger type="submit" { (l.t(REVOKE)) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn add_form(web: &Web, v: &Viewer, problem: Option<Words>) -> Markup {
    let l = v.lang;
    let mailboxes = v.mailboxes(&web.app.config);
    let shared: Vec<_> = web.app.config.mailboxes.iter().filter(|m| m.kind == MailboxKind::Shared).collect();
    html! {
        section {
            h2 { (l.t(ADD)) }
            @if let Some(p) = problem { p.error #problem { (l.t(p)) } }
            form.stack #add-phone method="post" action="/phones/add" {
                input type="hidden" name="csrf" value=(v.csrf);
                label { (l.t(t::MAILBOX))
                    select name="mailbox" {
                        @for m in &mailboxes { option value=(m.id) { (m.name) " (" (m.primary_address()) ")" } }
                    }
                }
                label { (l.t(NAME)) input type="text" name="name" required placeholder=(l.t(NAME_HINT)); }
                @if v.is_office() && !shared.is_empty() {
                    fieldset {
                        legend { (l.t(GRANTS)) }
                        @for m in &shared {
                            label.check { input type="checkbox" name="grant" value=(m.id); (m.name) }
                        }
                    }
                }
                button type="submit" { (l.t(ADD)) }
            }
        }
    }
}

/// POST `/phones/add`: register the phone and show its token once.
pub async fn add(State(web): State<Web>, v: Viewer, Form(pairs): Form<Vec<(String, String)>>) -> Response {
    let field = |n: &str| pairs.iter().find(|(k, _)| k == n).map(|(_, v)| v.trim().to_string()).unwrap_or_default();
    let grants: Vec<String> = pairs.iter().filter(|(k, _)| k == "grant").map(|(_, v)| v.clone()).collect();
    let (mailbox, name) = (field("mailbox"), field("name"));
    if let Err(r) = v.csrf(&field("csrf")).and_then(|_| v.mailbox(&mailbox)) {
        return r;
    }
    // Grants of shared mailboxes are the office's to give.
    if !grants.is_empty()
        && let Err(r) = v.office()
    {
        return r;
    }
    let config = &web.app.config;
    let Some(m) = config.mailbox(&mailbox) else {
        return (StatusCode::NOT_FOUND, v.lang.t(super::autoreply::NO_SUCH_MAILBOX)).into_response();
    };
    let bad_grant =
        grants.iter().any(|g| g == &mailbox || config.mailbox(g).is_none_or(|g| g.kind != MailboxKind::Shared));
    let problem = if name.is_empty() {
        Some(NAME_MISSING)
    } else if bad_grant {
        Some(BAD_GRANT)
    } else {
        None
    };
    if let Some(p) = problem {
        let body = add_form(&web, &v, Some(p));
        let mut res = layout::page(&v, "/phones", t::NAV_PHONES, body).into_response();
        *res.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        return res;
    }
    let (token, hash) = crate::devices::new_token();
    let (mb, nm, gr) = (mailbox.clone(), name.clone(), grants.clone());
    let id = match web.blocking(move |app| Ok(app.store.devices().add(&mb, &nm, &gr, &hash)?)).await {
        Ok(id) => id,
        Err(r) => return r,
    };
    let grants_note = if grants.is_empty() { String::new() } else { format!(" (also {})", grants.join(", ")) };
    web.audit(&v.user.name, "phone.add", format!("phone {id} \"{name}\" for mailbox {mailbox}{grants_note}")).await;
    let body = added(&web, v.lang, m, id, &name, &token);
    layout::page(&v, "/phones", ADDED_TITLE, body).into_response()
}

/// The settings a phone's mail app needs, as lines of text (what the QR code holds): the
/// mailbox's [`Account`] as the phone onboarding sees it, with the token and the JMAP URL.
pub fn settings_text(web: &Web, account: &Account, token: &str) -> String {
    format!(
        "IMAP: {host}:{ip} {is}\nSMTP: {host}:{sp} {ss}\nUser: {user}\nPassword: {token}\nJMAP: {jmap}",
        host = account.host,
        ip = account.imap_port,
        is = security_word(account.imap_security),
        sp = account.smtp_port,
        ss = security_word(account.smtp_security),
        user = account.user(),
        jmap = jmap_session_url(web),
    )
}

pub fn jmap_session_url(web: &Web) -> String {
    format!("{}/.well-known/jmap", web.app.config.jmap.public_url.trim_end_matches('/'))
}

/// `text` as a QR code (`onboard::qr::svg`), an SVG image in a `data:` URL (the CSP allows
/// `img-src data:`).
pub fn qr_data_url(text: &str) -> Option<String> {
    let svg = crate::onboard::qr::svg(text).ok()?;
    Some(format!("data:image/svg+xml;base64,{}", base64::engine::general_purpose::STANDARD.encode(svg)))
}

/// The one-time onboarding of a new phone: its setup profile behind a one-time link, shown
/// with the link's QR code (the phone's camera opens it and installs the profile). Nothing
/// when the JMAP listener that serves the link is off, or the link could not be stored (the
/// manual settings below still work).
pub fn onboarding(
    web: &Web,
    l: Lang,
    m: &crate::config::Mailbox,
    device: i64,
    name: &str,
    token: &str,
) -> Option<Markup> {
    let app = &web.app;
    let account = Account::of(&app.config, &m.id)?;
    let issued = match crate::onboard::issue::setup_link(&app.config, &app.store, &account, device, name, token) {
        Ok(i) => i?,
        Err(e) => {
            tracing::warn!(error = %e, device, "console: the setup link could not be stored");
            return None;
        }
    };
    let tz = app.config.agent.time_zone;
    Some(html! {
        section #setup-link {
            h3 { (l.t(SETUP_LINK)) }
            p { (l.t(SETUP_LINK_HOW)) " " (crate::clock::local_time(tz, issued.expires_at)) "." }
            @if let Some(url) = qr_data_url(&issued.url) { img #setup-qr src=(url) alt=(l.t(SETUP_LINK)) width="240" height="240"; }
            p { code #setup-url { (issued.url) } }
        }
    })
}

fn added(web: &Web, l: Lang, m: &crate::config::Mailbox, id: i64, name: &str, token: &str) -> Markup {
    let Some(a) = Account::of(&web.app.config, &m.id) else {
        return html! { p.error { (l.t(NO_SUCH_PHONE)) } };
    };
    let text = settings_text(web, &a, token);
    html! {
        section #new-phone {
            h2 { (name) " · " (m.name) }
            p.banner { (l.t(TOKEN_ONCE)) }
            @if let Some(link) = onboarding(web, l, m, id, name, token) { (link) }
            div.split {
                div {
                    h3 { (l.t(MANUAL)) }
                    dl #manual {
                        dt { (l.t(IMAP_SERVER)) } dd { code { (a.host) } ", " (l.t(PORT)) " " (a.imap_port) ", " (security_word(a.imap_security)) }
                        dt { (l.t(SMTP_SERVER)) } dd { code { (a.host) } ", " (l.t(PORT)) " " (a.smtp_port) ", " (security_word(a.smtp_security)) }
                        dt { (l.t(USER)) } dd { code { (a.user()) } }
                        dt { (l.t(PASSWORD)) } dd { code #token { (token) } }
                        dt { (l.t(JMAP_URL)) } dd { code { (jmap_session_url(web)) } }
                    }
                }
                div.qr {
                    @if let Some(url) = qr_data_url(&text) { img #qr src=(url) alt=(l.t(QR_ALT)) width="240" height="240"; }
                    p.muted { (l.t(QR)) }
                }
            }
            p { a href="/phones" { (l.t(BACK)) } }
        }
    }
}

#[derive(serde::Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    csrf: String,
}

/// POST `/phones/{id}/revoke`: the token stops working, open connections end.
pub async fn revoke(State(web): State<Web>, v: Viewer, Path(id): Path<i64>, Form(f): Form<RevokeForm>) -> Response {
    if let Err(r) = v.csrf(&f.csrf) {
        return r;
    }
    let device = match web.blocking(move |app| Ok(app.store.devices().all()?.into_iter().find(|d| d.id == id))).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let Some(d) = device else { return (StatusCode::NOT_FOUND, v.lang.t(NO_SUCH_PHONE)).into_response() };
    if let Err(r) = v.mailbox(&d.mailbox) {
        return r;
    }
    let revoked = web
        .blocking(move |app| {
            let r = app.store.devices().revoke(id)?;
            // This daemon's own IMAP/SMTP connections of the phone end now, not at the next watch.
            let ended = app.live.revoke(id);
            Ok((r, ended))
        })
        .await;
    match revoked {
        Ok((true, ended)) => {
            let detail = format!("phone {id} \"{}\" of mailbox {} ({ended} connections ended)", d.name, d.mailbox);
            web.audit(&v.user.name, "phone.revoke", detail).await;
            Redirect::to("/phones").into_response()
        }
        Ok((false, _)) => Redirect::to("/phones").into_response(),
        Err(r) => r,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_qr_code_is_an_svg_data_url() {
        let url = super::qr_data_url("IMAP: mail.example:993 SSL/TLS\nPassword: abc").unwrap();
        assert!(url.starts_with("data:image/svg+xml;base64,"), "{url}");
        use base64::Engine;
        let svg = base64::engine::general_purpose::STANDARD.decode(&url[26..]).unwrap();
        assert!(String::from_utf8(svg).unwrap().contains("<svg"));
    }
}
