//! The pages through the real app: headers that keep the secret from
//! leaking, language choice, and the assets.

use crate::support::*;
use actix_web::http::StatusCode;
use actix_web::{App, test};
use pwreset_http::{ApiSettings, PageSettings};

#[actix_web::test]
async fn pages_carry_the_headers_that_keep_the_secret_in() {
    let w = World::new();
    let settings = ApiSettings {
        pages: PageSettings { site_name: "My <Drive>".into(), ..PageSettings::default() },
        ..settings()
    };
    let state = w.state(settings);
    let app = test::init_service(
        App::new()
            .configure(pwreset_http::configure(state.clone()))
            .configure(pwreset_http::configure_pages(state)),
    )
    .await;
    for path in
        ["/session/reset?id=lpua&secret=XR3EdrZXoi5jDAXJUt9yLn85WWMYmmhK", "/session/forgot"]
    {
        let res = test::call_service(&app, test::TestRequest::get().uri(path).to_request()).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let h = |name: &str| {
            res.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
        };
        assert_eq!(h("content-type"), "text/html; charset=utf-8");
        assert_eq!(h("referrer-policy"), "no-referrer");
        assert_eq!(h("cache-control"), "no-store");
        assert_eq!(h("x-content-type-options"), "nosniff");
        assert_eq!(h("x-frame-options"), "DENY");
        let csp = h("content-security-policy");
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "frame-ancestors 'none'",
            "form-action 'none'",
        ] {
            assert!(csp.contains(directive), "{csp}");
        }
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
        assert!(!h("x-cr-correlation-id").is_empty());
        let body = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
        assert!(
            !body.contains("XR3EdrZXoi5jDAXJUt9yLn85WWMYmmhK"),
            "the server never echoes the secret"
        );
        assert!(
            body.contains("My &lt;Drive&gt;") && !body.contains("My <Drive>"),
            "the site name is escaped"
        );
        assert!(!body.contains("<script>") && !body.contains(" onclick="), "no inline script");
        assert!(body.contains("type=\"application/json\""), "configuration is data, not code");
    }
}

#[actix_web::test]
async fn language_comes_from_the_query_then_accept_language() {
    let w = World::new();
    let app = test::init_service(
        App::new().configure(pwreset_http::configure_pages(w.state(settings()))),
    )
    .await;
    let page = |uri: &'static str, accept: &'static str| {
        test::TestRequest::get().uri(uri).insert_header(("Accept-Language", accept)).to_request()
    };
    let res = test::call_service(&app, page("/session/forgot", "zh-CN,zh;q=0.9,en;q=0.8")).await;
    assert_eq!(res.headers().get("content-language").unwrap(), "zh-CN");
    let body = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
    assert!(body.contains("<html lang=\"zh-CN\">") && body.contains("忘记密码？"), "{body}");
    let res = test::call_service(&app, page("/session/forgot?lang=en", "zh-CN")).await;
    assert_eq!(res.headers().get("content-language").unwrap(), "en-US");
    let res = test::call_service(&app, page("/session/reset", "fr")).await;
    assert_eq!(res.headers().get("content-language").unwrap(), "en-US");
}

#[actix_web::test]
async fn assets_are_served_with_their_types_and_nothing_else_is() {
    let w = World::new();
    let app = test::init_service(
        App::new().configure(pwreset_http::configure_pages(w.state(settings()))),
    )
    .await;
    for (file, kind) in [
        ("pages.css", "text/css"),
        ("reset.js", "text/javascript"),
        ("forgot.js", "text/javascript"),
    ] {
        let res = test::call_service(
            &app,
            test::TestRequest::get().uri(&format!("/session/assets/{file}")).to_request(),
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK, "{file}");
        assert!(res.headers().get("content-type").unwrap().to_str().unwrap().starts_with(kind));
        assert_eq!(res.headers().get("x-content-type-options").unwrap(), "nosniff");
    }
    for missing in [
        "/session/assets/../Cargo.toml",
        "/session/assets/%2e%2e%2fCargo.toml",
        "/session/assets/app.js",
    ] {
        let res =
            test::call_service(&app, test::TestRequest::get().uri(missing).to_request()).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{missing}");
    }
}
