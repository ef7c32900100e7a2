//! The page around every console page: the header with the navigation a role may use, the
//! language switch and the logout button, then the page's content. Rendered with `maud`
//! (compiled templates, escaped by default); no inline script or style, so the strict
//! Content-Security-Policy holds (`/static/console.js` is the one script, for progressive
//! enhancement only). The stylesheet makes it usable on a phone screen.

use maud::{DOCTYPE, Markup, html};

use super::auth::{Viewer, url_escape};
use super::i18n::{Lang, Words};
use super::words as t;

/// A page for a logged-in account. `here` is the path, for the language switch's way back.
pub fn page(v: &Viewer, here: &str, title: Words, body: Markup) -> Markup {
    let l = v.lang;
    let mut nav: Vec<(&str, Words)> = vec![("/", t::NAV_OVERVIEW), ("/outbox", t::NAV_OUTBOX)];
    if v.is_office() {
        nav.push(("/sessions", t::NAV_SESSIONS));
    }
    nav.push(("/autoreply", t::NAV_AUTOREPLY));
    nav.push(("/phones", t::NAV_PHONES));
    if v.is_office() {
        nav.extend([
            ("/deliverability", t::NAV_DELIVERABILITY),
            ("/smtp-logs", t::NAV_SMTP_LOGS),
            ("/audit", t::NAV_AUDIT),
        ]);
    }
    shell(
        l,
        title,
        html! {
            header {
                nav {
                    @for (href, w) in &nav {
                        a href=(href) class=[(is_here(here, href)).then_some("here")] { (l.t(*w)) }
                    }
                }
                div.who {
                    span { (l.t(t::LOGGED_IN_AS)) " " strong { (v.user.name) } }
                    (lang_switch(l, here))
                    form method="post" action="/logout" {
                        input type="hidden" name="csrf" value=(v.csrf);
                        button type="submit" { (l.t(t::LOGOUT)) }
                    }
                }
            }
            main { h1 { (l.t(title)) } (body) }
        },
    )
}

fn is_here(here: &str, href: &str) -> bool {
    if href == "/" { here == "/" } else { here == href || here.starts_with(&format!("{href}/")) }
}

/// The links to the other language.
pub fn lang_switch(l: Lang, here: &str) -> Markup {
    let back = url_escape(here);
    html! {
        span.lang {
            @if l == Lang::De { a href={ "/lang/en?back=" (back) } lang="en" { "English" } }
            @else { a href={ "/lang/de?back=" (back) } lang="de" { "Deutsch" } }
        }
    }
}

/// The bare document: head, stylesheet, body.
pub fn shell(l: Lang, title: Words, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(l.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (l.t(title)) " · " (l.t(t::TITLE)) }
                link rel="stylesheet" href="/static/console.css";
                script src="/static/console.js" defer {}
            }
            body { (body) }
        }
    }
}
