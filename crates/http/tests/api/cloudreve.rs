//! Replays the stock Cloudreve V4 web app's calls around its forgot and reset
//! pages, and reads every answer the way the app does (`src/api/request.ts`):
//! a non-2xx status is a generic "Request failed" error; on HTTP 200 a code
//! of 401 or 40020 signs the browser out; any other non-zero code is an error
//! shown to the person; code 0 yields `data`.

use crate::support::*;
use actix_web::http::StatusCode;
use actix_web::test;
use pwreset_domain::UserStatus;
use pwreset_http::{ApiSettings, Limit, RateLimits};
use serde_json::{Value, json};

/// What the app makes of an answer.
#[derive(Debug, PartialEq)]
enum AppReads {
    Data(Value),
    ShowsError(i64),
    SignsOut,
    RequestFailed(u16),
}

async fn app_reads(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
    >,
    req: test::TestRequest,
) -> AppReads {
    let res = test::call_service(app, req.to_request()).await;
    if !res.status().is_success() {
        return AppReads::RequestFailed(res.status().as_u16());
    }
    let body: Value = test::read_body_json(res).await;
    match body["code"].as_i64().expect("an envelope has a numeric code") {
        0 => AppReads::Data(body.get("data").cloned().unwrap_or(Value::Null)),
        401 | 40020 => AppReads::SignsOut,
        code => AppReads::ShowsError(code),
    }
}

fn get(uri: &str) -> test::TestRequest {
    test::TestRequest::get().uri(uri)
}

#[actix_web::test]
async fn the_apps_reset_and_forgot_sequences_work() {
    let w = World::new();
    w.user("jane@example.com");
    let app = app(w.state(settings())).await;

    // App start, then the /session/* frame: both configs must be objects.
    let AppReads::Data(basic) = app_reads(&app, get("/api/v4/site/config/basic")).await else {
        panic!("basic")
    };
    assert!(basic.is_object(), "a null data crashes the app: {basic}");
    assert_eq!(basic["title"], "pwreset");
    let AppReads::Data(login) = app_reads(&app, get("/api/v4/site/config/login")).await else {
        panic!("login")
    };
    assert_eq!(login["forget_captcha"], false, "the forgot form must not ask for a captcha");
    assert_eq!(login["login_captcha"], false);

    // The sign-in page asks how to sign in before showing "Forgot password?".
    let known = app_reads(&app, get("/api/v4/session/prepare?email=jane%40example.com")).await;
    let unknown = app_reads(&app, get("/api/v4/session/prepare?email=nobody%40example.com")).await;
    let AppReads::Data(prepare) = &known else { panic!("prepare: {known:?}") };
    assert_eq!(prepare["password_enabled"], true, "otherwise the forgot link never shows");
    assert_eq!(known, unknown, "prepare reveals nothing about accounts");

    // The forgot form: {email, captcha, ticket}; the answer's data is ignored.
    let forgot = test::TestRequest::post()
        .uri("/api/v4/user/reset")
        .set_json(json!({"email": "jane@example.com", "captcha": "", "ticket": ""}));
    assert!(matches!(app_reads(&app, forgot).await, AppReads::Data(_)));

    // The reset page: PATCH with {password, secret}; the app reads data.email.
    let (id, secret) = {
        let outbox = w.store.outbox();
        let text = &outbox[0].mail.text;
        let start = text.find("?id=").unwrap() + 4;
        let query = &text[start..];
        let id = query.split('&').next().unwrap().to_owned();
        let secret =
            query.split("secret=").nth(1).unwrap().split_whitespace().next().unwrap().to_owned();
        (id, secret)
    };
    let reset = test::TestRequest::patch()
        .uri(&format!("/api/v4/user/reset/{id}"))
        .set_json(json!({"password": "n3w-Passw0rd", "secret": secret}));
    let AppReads::Data(user) = app_reads(&app, reset).await else { panic!("reset") };
    assert_eq!(user["email"], "jane@example.com");

    // A stale session in the browser: refreshing signs it out, as it should.
    let refresh = test::TestRequest::post()
        .uri("/api/v4/session/token/refresh")
        .set_json(json!({"refresh_token": "stale"}));
    assert_eq!(app_reads(&app, refresh).await, AppReads::SignsOut);
}

#[actix_web::test]
async fn no_reset_error_ever_signs_the_app_out() {
    let w = World::new();
    let banned = w.user("banned@example.com");
    w.user("jane@example.com");
    let (id, secret) = w.link("banned@example.com");
    w.store.set_status(banned, UserStatus::ManualBanned);
    let limits = RateLimits {
        reset_per_ip: Some(Limit { max: 50, per: std::time::Duration::from_secs(3600) }),
        ..RateLimits::off()
    };
    let app =
        app(w.state(ApiSettings { rate_limits: limits, reveal_account_state: true, ..settings() }))
            .await;
    let patch = |id: &str, body: Value| {
        test::TestRequest::patch().uri(&format!("/api/v4/user/reset/{id}")).set_json(body)
    };
    let post = |body: Value| test::TestRequest::post().uri("/api/v4/user/reset").set_json(body);
    let cases = vec![
        (patch(&id, json!({"password": "x", "secret": secret})), 40001),
        (patch("zzzz", json!({"password": "n3w-Passw0rd", "secret": secret})), 40001),
        (
            patch(
                &id,
                json!({"password": "n3w-Passw0rd", "secret": "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ"}),
            ),
            40030,
        ),
        (patch(&id, json!({"password": "n3w-Passw0rd", "secret": secret})), 40021),
        (patch(&id, json!({"secret": secret})), 40001),
        (post(json!({"email": "nope"})), 40001),
        (post(json!({"email": "nobody@example.com"})), 40021),
        (post(json!({"email": "banned@example.com"})), 40017),
        (post(json!({})), 40001),
    ];
    for (req, code) in cases {
        assert_eq!(app_reads(&app, req).await, AppReads::ShowsError(code));
    }
}

#[actix_web::test]
async fn the_shims_can_be_switched_off() {
    let w = World::new();
    let app = app(w.state(ApiSettings { cloudreve_compat: None, ..settings() })).await;
    for uri in [
        "/api/v4/site/config/basic",
        "/api/v4/site/config/login",
        "/api/v4/session/prepare?email=a%40b.c",
    ] {
        let res = test::call_service(&app, get(uri).to_request()).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{uri}");
    }
}

#[actix_web::test]
async fn prepare_refuses_bad_addresses_without_revealing_anything() {
    let w = World::new();
    let app = app(w.state(settings())).await;
    for (uri, msg) in [
        ("/api/v4/session/prepare", "Email cannot be empty"),
        ("/api/v4/session/prepare?email=", "Email cannot be empty"),
        ("/api/v4/session/prepare?email=not-an-address", "Email format error"),
    ] {
        let answer = send(&app, get(uri)).await;
        assert_eq!(assert_failure(&answer, 40001), msg, "{uri}");
    }
}
