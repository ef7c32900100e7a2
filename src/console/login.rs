//! The login and logout forms and the language switch.
//!
//! The login form has no session yet, so its CSRF token is a double-submit cookie: the form's
//! hidden value must equal the `postbote_login` cookie, which another site can neither read
//! nor set (`SameSite=Strict`). Before any password is checked, the client's address is looked
//! up in the limiter (`crate::authlimit`, read only): an address over the limit is answered 429
//! with how long to wait, without spending an Argon2 verification, even for the right password.
//! The account name never blocks, so the right password from any address that is not over
//! the limit always gets in. A wrong password counts against the address and the name, and
//! is written to the audit log as `login.failed` (the name as typed and the address, never
//! the password). At most [`super::ARGON2_AT_ONCE`] verifications run at once.

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::auth::{self, LOGIN_COOKIE, Viewer};
use super::i18n::Lang;
use super::layout::{lang_switch, shell};
use super::words as t;
use super::{Web, internal};
use crate::authlimit::{Key, Verdict};
use std::time::{Duration, Instant};

#[derive(Debug, Deserialize)]
pub struct Next {
    next: Option<String>,
}

fn login_page(lang: Lang, next: &str, token: &str, error: Option<String>) -> maud::Markup {
    shell(
        lang,
        t::LOGIN_TITLE,
        html! {
            main.login {
                h1 { "postbote" }
                (lang_switch(lang, &format!("/login?next={}", auth::url_escape(next))))
                @if let Some(e) = error { p.error role="alert" { (e) } }
                form.stack method="post" action="/login" {
                    input type="hidden" name="csrf" value=(token);
                    input type="hidden" name="next" value=(next);
                    label { (lang.t(t::LOGIN_NAME)) input name="name" autocomplete="username" required autofocus; }
                    label { (lang.t(t::LOGIN_PASSWORD)) input type="password" name="password" autocomplete="current-password" required; }
                    button type="submit" { (lang.t(t::LOGIN_BUTTON)) }
                }
            }
        },
    )
}

/// The form, with a fresh double-submit token.
fn form_response(web: &Web, lang: Lang, next: &str, status: StatusCode, error: Option<String>) -> Response {
    let (token, _) = auth::new_session();
    let cookie = auth::set_cookie(LOGIN_COOKIE, &token, Some(3600), web.secure);
    (status, [(header::SET_COOKIE, cookie)], login_page(lang, next, &token, error)).into_response()
}

pub async fn form(State(web): State<Web>, headers: HeaderMap, Query(q): Query<Next>) -> Response {
    let next = auth::safe_next(q.next.as_deref());
    form_response(&web, auth::lang_of(&headers), &next, StatusCode::OK, None)
}

/// "Too many wrong passwords; wait N seconds" (429), with a fresh form.
fn too_many(web: &Web, lang: Lang, next: &str, retry_after: Duration) -> Response {
    let msg = format!("{} {}", lang.t(t::LOGIN_TOO_MANY), retry_after.as_secs().max(1));
    form_response(web, lang, next, StatusCode::TOO_MANY_REQUESTS, Some(msg))
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

pub async fn submit(
    State(web): State<Web>,
    super::ClientIp(ip): super::ClientIp,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let lang = auth::lang_of(&headers);
    let next = auth::safe_next(Some(&f.next));
    let cookie = auth::cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if cookie.is_empty() || !super::guard::tokens_match(&cookie, &f.csrf) {
        return form_response(&web, lang, &next, StatusCode::FORBIDDEN, Some(lang.t(t::LOGIN_EXPIRED_FORM).into()));
    }
    // An address over the limit waits, right password or not, and costs no Argon2 work. Only
    // the address decides here: the account name never blocks, so nobody can lock an
    // account's right password out from another address.
    let now = Instant::now();
    if let Some(retry_after) = Key::addrs(ip).iter().filter_map(|k| web.limiter.over(k, now)).max() {
        tracing::info!(%ip, "console: a login from an address over the limit was refused unchecked");
        return too_many(&web, lang, &next, retry_after);
    }
    // At most `ARGON2_AT_ONCE` verifications run at once; the rest wait their turn here.
    let Ok(_permit) = web.argon2.clone().acquire_owned().await else {
        return internal("the password check is closed");
    };
    let (store, name, password) = (web.app.store.clone(), f.name.clone(), f.password);
    let user = match tokio::task::spawn_blocking(move || auth::check_password(&store, &name, &password)).await {
        Ok(u) => u,
        Err(e) => return internal(&e.to_string()),
    };
    drop(_permit);
    let Some(user) = user else {
        web.audit(f.name.trim(), "login.failed", format!("from {ip}")).await;
        return match auth::count_wrong(&web, ip, &f.name) {
            Verdict::Unauthorized => {
                tracing::info!(%ip, "console: a wrong password was given");
                form_response(&web, lang, &next, StatusCode::UNAUTHORIZED, Some(lang.t(t::LOGIN_WRONG).into()))
            }
            Verdict::TooMany { retry_after } => {
                tracing::info!(%ip, "console: too many wrong passwords");
                too_many(&web, lang, &next, retry_after)
            }
        };
    };
    let (value, hash) = auth::new_session();
    let max = web.app.config.console.session_max.as_secs() as i64;
    let (store, who) = (web.app.store.clone(), user.name.clone());
    let opened =
        tokio::task::spawn_blocking(move || store.console().open_session(&hash, &who, crate::store::now() + max)).await;
    if !matches!(opened, Ok(Ok(()))) {
        return internal("a console session could not be stored");
    }
    web.audit(&user.name, "login", String::new()).await;
    let session = auth::set_cookie(auth::session_cookie(web.secure), &value, Some(max), web.secure);
    let clear = auth::set_cookie(LOGIN_COOKIE, "", Some(0), web.secure);
    let mut res = Redirect::to(&next).into_response();
    res.headers_mut().append(header::SET_COOKIE, session.parse().expect("cookie"));
    res.headers_mut().append(header::SET_COOKIE, clear.parse().expect("cookie"));
    res
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    pub csrf: String,
}

pub async fn logout(State(web): State<Web>, v: Viewer, Form(f): Form<CsrfOnly>) -> Response {
    if let Err(r) = v.csrf(&f.csrf) {
        return r;
    }
    let (store, hash) = (web.app.store.clone(), v.session_hash.clone());
    let _ = tokio::task::spawn_blocking(move || store.console().end_session(&hash)).await;
    web.audit(&v.user.name, "logout", String::new()).await;
    let clear = auth::set_cookie(auth::session_cookie(web.secure), "", Some(0), web.secure);
    ([(header::SET_COOKIE, clear)], Redirect::to("/login")).into_response()
}

#[derive(Deserialize)]
pub struct Back {
    back: Option<String>,
}

/// `/lang/en?back=/outbox`: remember the language (a cookie) and go back.
pub async fn switch_lang(State(web): State<Web>, Path(code): Path<String>, Query(q): Query<Back>) -> Response {
    let lang = Lang::parse(&code).unwrap_or(Lang::De);
    let cookie = format!(
        "lang={}; Path=/; SameSite=Strict; Max-Age=31536000{}",
        lang.code(),
        if web.secure { "; Secure" } else { "" }
    );
    ([(header::SET_COOKIE, cookie)], Redirect::to(&auth::safe_next(q.back.as_deref()))).into_response()
}
