//! What keeps the console's forms from being used by another site, and its pages from being
//! framed or scripted: pure rules, tested without a server.
//!
//! - **CSRF.** Every form carries a token. For a logged-in session it is derived from the
//!   session's cookie value (which is `HttpOnly` and never in a page), so another site can
//!   neither read nor compute it; the store keeps only the cookie's hash. The login form, which
//!   has no session yet, uses a double-submit cookie. A POST without the right token is refused.
//! - **Cross-site requests.** A POST whose `Sec-Fetch-Site` says another site, or whose
//!   `Origin` names another host than the one asked, is refused before anything else.
//! - **Headers.** A strict Content-Security-Policy (no inline script or style, nothing from
//!   elsewhere, no framing), `nosniff`, no referrer to other sites, and no caching of pages.

use sha2::{Digest, Sha256};

/// The headers every console answer carries.
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    // Not `no-referrer`: under it Chromium sends `Origin: null` with the console's own forms.
    ("referrer-policy", "same-origin"),
    ("x-frame-options", "DENY"),
    ("cache-control", "no-store"),
];

/// The CSRF token of a session, from its cookie value.
pub fn csrf_token(session_cookie: &str) -> String {
    hex::encode(&Sha256::digest(format!("postbote console csrf\0{session_cookie}").as_bytes())[..16])
}

/// Compare two tokens in constant time.
pub fn tokens_match(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Whether a state-changing request comes from the console's own pages: `Sec-Fetch-Site`
/// (when the browser sends it) is `same-origin` or `none`, and `Origin` (when sent) names the
/// host that was asked (`Host`).
pub fn same_origin(sec_fetch_site: Option<&str>, origin: Option<&str>, host: Option<&str>) -> bool {
    if let Some(s) = sec_fetch_site
        && !matches!(s.trim(), "same-origin" | "none")
    {
        return false;
    }
    match origin {
        None => true,
        Some(o) => {
            let o = o.trim();
            if o == "null" {
                return false;
            }
            let authority = o.split_once("://").map_or("", |(_, rest)| rest).trim_end_matches('/');
            host.is_some_and(|h| h.trim().eq_ignore_ascii_case(authority))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_site_posts_are_refused() {
        let h = Some("127.0.0.1:8090");
        assert!(same_origin(Some("same-origin"), Some("http://127.0.0.1:8090"), h));
        assert!(same_origin(None, None, h), "an old browser without either header");
        assert!(!same_origin(Some("cross-site"), None, h));
        assert!(!same_origin(Some("same-site"), None, h), "a sibling subdomain is another site");
        assert!(!same_origin(None, Some("https://evil.example"), h));
        assert!(!same_origin(None, Some("null"), h));
        assert!(!same_origin(None, Some("http://127.0.0.1:8090"), None));
        assert!(!same_origin(None, Some("http://127.0.0.1:8091"), h));
    }

    #[test]
    fn csrf_tokens_differ_per_session_and_compare_exactly() {
        let (a, b) = (csrf_token("cookie-a"), csrf_token("cookie-b"));
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(tokens_match(&a, &csrf_token("cookie-a")));
        assert!(!tokens_match(&a, &b));
        assert!(!tokens_match(&a, ""));
        assert!(!tokens_match(&a, &a[..31]));
    }
}
