//! The pages a person sees: `GET /session/reset` (the link in the email) and
//! `GET /session/forgot`, self-contained (HTML, CSS and JS served by the
//! binary, nothing external), in English and Simplified Chinese.
//!
//! The secret never leaks: the script removes it from the address bar on
//! load, and every page is served with `Referrer-Policy: no-referrer`, a strict
//! Content-Security-Policy (scripts and styles from this origin only, no inline
//! script, no framing, no form submission), `Cache-Control: no-store` and
//! `X-Content-Type-Options: nosniff`.

mod text;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use pwreset_domain::Language;
use serde_json::json;

use crate::ApiState;

/// The policy of every page: nothing but this origin's own script, style
/// and API; no inline code, no plugins, no framing, no form posts.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'";

const CSS: &str = include_str!("../../assets/pages.css");
const RESET_JS: &str = include_str!("../../assets/reset.js");
const FORGOT_JS: &str = include_str!("../../assets/forgot.js");

/// Settings of the pages.
#[derive(Debug, Clone)]
pub struct PageSettings {
    /// Shown above every page and in titles.
    pub site_name: String,
    /// Where "Go to sign in" leads after a successful reset.
    pub login_url: String,
    /// Language when neither `?lang=` nor `Accept-Language` picks one.
    pub default_language: Language,
}

impl Default for PageSettings {
    fn default() -> Self {
        Self {
            site_name: "pwreset".into(),
            login_url: "/session".into(),
            default_language: Language::EnUs,
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// `?lang=`, then the best-rated supported language of `Accept-Language`,
/// then the default.
fn language(req: &HttpRequest, default: Language) -> Language {
    let query =
        web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
            .ok();
    if let Some(lang) =
        query.as_ref().and_then(|q| q.get("lang")).and_then(|l| Language::from_tag(l))
    {
        return lang;
    }
    let header =
        req.headers().get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut ranked: Vec<(f32, Language)> = header
        .split(',')
        .filter_map(|item| {
            let mut parts = item.split(';');
            let lang = Language::from_tag(parts.next()?.trim())?;
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
            (q > 0.0).then_some((q, lang))
        })
        .collect();
    // Stable: among equal ratings the header's order wins.
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    ranked.first().map_or(default, |(_, lang)| *lang)
}

fn page(state: &ApiState, lang: Language, title: &str, script: &str, body: &str) -> HttpResponse {
    let t = text::text(lang);
    let pages = &state.settings().pages;
    let config = json!({
        "api": state.settings().prefix.trim_end_matches('/'),
        "lang": lang.tag(),
        "text": t,
    });
    // JSON inside <script> must not contain "</script>": escape every '<'.
    let config = config.to_string().replace('<', "\\u003c");
    let other = match lang {
        Language::EnUs => Language::ZhCn,
        Language::ZhCn => Language::EnUs,
    };
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n<meta name=\"robots\" content=\"noindex\">\n\
         <title>{title} · {site}</title>\n<link rel=\"stylesheet\" href=\"/session/assets/pages.css\">\n\
         <script id=\"config\" type=\"application/json\">{config}</script>\n\
         <script src=\"/session/assets/{script}\" defer></script>\n</head>\n<body>\n<main>\n\
         <p class=\"site\">{site}</p>\n{body}\n\
         <p class=\"lang\"><a href=\"?lang={other_tag}\" hreflang=\"{other_tag}\" lang=\"{other_tag}\">{switch}</a></p>\n\
         </main>\n</body>\n</html>\n",
        lang = lang.tag(),
        title = escape(title),
        site = escape(&pages.site_name),
        other_tag = other.tag(),
        switch = t.language_switch,
    );
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CONTENT_LANGUAGE, lang.tag()))
        .insert_header((header::VARY, "Accept-Language"))
        .insert_header(no_store())
        .insert_header(csp())
        .insert_header(("Referrer-Policy", "no-referrer"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("X-Frame-Options", "DENY"))
        .body(html)
}

fn no_store() -> (header::HeaderName, HeaderValue) {
    (header::CACHE_CONTROL, HeaderValue::from_static("no-store"))
}

fn csp() -> (header::HeaderName, HeaderValue) {
    (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY))
}

/// `GET /session/reset?id=…&secret=…`
pub(crate) async fn reset_page(state: web::Data<ApiState>, req: HttpRequest) -> HttpResponse {
    let lang = language(&req, state.settings().pages.default_language);
    let t = text::text(lang);
    let login = escape(&state.settings().pages.login_url);
    let body = format!(
        "<noscript><p class=\"error\">{noscript}</p></noscript>\n\
<section id=\"form\" hidden>\n<h1 tabindex=\"-1\">{reset_title}</h1>\n<p>{reset_intro}</p>\n\
<form id=\"reset-form\" novalidate>\n\
<label for=\"password\">{new_password}</label>\n\
<input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"new-password\" required aria-describedby=\"password-hint error\">\n\
<p class=\"hint\" id=\"password-hint\">{hint}</p>\n\
<label for=\"confirm\">{confirm_password}</label>\n\
<input id=\"confirm\" name=\"confirm\" type=\"password\" autocomplete=\"new-password\" required aria-describedby=\"error\">\n\
<label class=\"check\" for=\"show\"><input id=\"show\" type=\"checkbox\"> {show_password}</label>\n\
<p class=\"error\" id=\"error\" role=\"alert\" aria-live=\"assertive\"></p>\n\
<button id=\"submit\" type=\"submit\" data-label=\"{submit}\">{submit}</button>\n</form>\n</section>\n\
<section id=\"done\" class=\"status-ok\" hidden>\n<h1 tabindex=\"-1\">{done_title}</h1>\n<p>{done_body}</p>\n\
<a class=\"button\" id=\"login\" href=\"{login}\">{go_login}</a>\n</section>\n\
<section id=\"expired\" hidden>\n<h1 tabindex=\"-1\">{expired_title}</h1>\n<p>{expired_body}</p>\n\
<a class=\"button\" href=\"/session/forgot\">{request_new}</a>\n</section>\n\
<section id=\"invalid\" hidden>\n<h1 tabindex=\"-1\">{invalid_title}</h1>\n<p>{invalid_body}</p>\n\
<a class=\"button\" href=\"/session/forgot\">{request_new}</a>\n</section>",
        noscript = t.noscript,
        reset_title = t.reset_title,
        reset_intro = t.reset_intro,
        new_password = t.new_password,
        hint = t.password_hint,
        confirm_password = t.confirm_password,
        show_password = t.show_password,
        submit = t.submit_reset,
        done_title = t.done_title,
        done_body = t.done_body,
        go_login = t.go_login,
        expired_title = t.expired_title,
        expired_body = t.expired_body,
        request_new = t.request_new,
        invalid_title = t.invalid_title,
        invalid_body = t.invalid_body,
    );
    page(&state, lang, t.reset_title, "reset.js", &body)
}

/// `GET /session/forgot`
pub(crate) async fn forgot_page(state: web::Data<ApiState>, req: HttpRequest) -> HttpResponse {
    let lang = language(&req, state.settings().pages.default_language);
    let t = text::text(lang);
    let body = format!(
        "<noscript><p class=\"error\">{noscript}</p></noscript>\n\
<section id=\"form\">\n<h1 tabindex=\"-1\">{title}</h1>\n<p>{intro}</p>\n\
<form id=\"forgot-form\" novalidate>\n\
<label for=\"email\">{email}</label>\n\
<input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"email\" required aria-describedby=\"error\">\n\
<p class=\"error\" id=\"error\" role=\"alert\" aria-live=\"assertive\"></p>\n\
<button id=\"submit\" type=\"submit\" data-label=\"{submit}\">{submit}</button>\n</form>\n</section>\n\
<section id=\"sent\" class=\"status-ok\" hidden>\n<h1 tabindex=\"-1\">{sent_title}</h1>\n<p>{sent_body}</p>\n</section>",
        noscript = t.noscript,
        title = t.forgot_title,
        intro = t.forgot_intro,
        email = t.email,
        submit = t.submit_forgot,
        sent_title = t.sent_title,
        sent_body = t.sent_body,
    );
    page(&state, lang, t.forgot_title, "forgot.js", &body)
}

/// `GET /session/assets/{file}`: the pages' stylesheet and scripts.
pub(crate) async fn asset(file: web::Path<String>) -> HttpResponse {
    let (body, content_type) = match file.as_str() {
        "pages.css" => (CSS, "text/css; charset=utf-8"),
        "reset.js" => (RESET_JS, "text/javascript; charset=utf-8"),
        "forgot.js" => (FORGOT_JS, "text/javascript; charset=utf-8"),
        _ => return HttpResponse::NotFound().insert_header(csp()).finish(),
    };
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn lang(accept: &str, query: &str) -> Language {
        let req = TestRequest::get()
            .uri(&format!("/session/reset?{query}"))
            .insert_header(("Accept-Language", accept))
            .to_http_request();
        language(&req, Language::EnUs)
    }

    #[test]
    fn language_follows_the_query_then_accept_language() {
        assert_eq!(lang("zh-CN,zh;q=0.9,en;q=0.8", ""), Language::ZhCn);
        assert_eq!(lang("fr-FR, en;q=0.5, zh;q=0.9", ""), Language::ZhCn, "by rating");
        assert_eq!(lang("de, fr", ""), Language::EnUs, "the default");
        assert_eq!(
            lang("zh-TW", ""),
            Language::EnUs,
            "Traditional Chinese is not served as Simplified"
        );
        assert_eq!(lang("zh;q=0, en;q=0.1", ""), Language::EnUs);
        assert_eq!(lang("zh-CN", "lang=en-US"), Language::EnUs, "the query wins");
        assert_eq!(lang("", "lang=zh"), Language::ZhCn);
        assert_eq!(lang("garbage;;;q=x", "lang=%3Cscript%3E"), Language::EnUs);
    }
}
