//! Operations endpoints and the headers every answer carries.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::support::*;
use actix_web::http::StatusCode;
use actix_web::middleware::from_fn;
use actix_web::{App, test};
use pwreset_http::{OpsProbe, Reading, security_headers};
use serde_json::{Value, json};

struct Probe {
    up: AtomicBool,
}

impl OpsProbe for Probe {
    fn ready(&self) -> Result<(), String> {
        if self.up.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err("database unreachable: connection refused".into())
        }
    }

    fn readings(&self) -> Vec<Reading> {
        vec![
            Reading::gauge("pwreset_outbox_pending", "Emails waiting.", 3.0),
            Reading::counter("pwreset_audit_dropped_total", "Audit events dropped.", 0.0),
        ]
    }
}

#[actix_web::test]
async fn health_readiness_metrics_and_headers() {
    let w = World::new();
    w.user("jane@example.com");
    let (id, secret) = w.link("jane@example.com");
    let probe = Arc::new(Probe { up: AtomicBool::new(true) });
    let state = actix_web::web::Data::new(
        pwreset_http::ApiState::new(&w.ports, settings()).with_probe(probe.clone()),
    );
    let app = test::init_service(
        App::new()
            .app_data(state.clone())
            .wrap(from_fn(security_headers))
            .wrap(from_fn(pwreset_http::correlation_middleware))
            .configure(pwreset_http::configure(state.clone()))
            .configure(pwreset_http::configure_ops(state.clone())),
    )
    .await;

    let res = test::call_service(&app, test::TestRequest::get().uri("/healthz").to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers().get("x-content-type-options").unwrap(), "nosniff");
    assert_eq!(res.headers().get("x-frame-options").unwrap(), "DENY");
    assert_eq!(test::read_body_json::<Value, _>(res).await, json!({"status": "ok"}));

    let res = test::call_service(&app, test::TestRequest::get().uri("/readyz").to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    probe.up.store(false, Ordering::SeqCst);
    let res = test::call_service(&app, test::TestRequest::get().uri("/readyz").to_request()).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = test::read_body_json(res).await;
    assert_eq!(body, json!({"status": "unavailable"}), "the reason is logged, not told");

    // Some traffic, then the numbers.
    let wrong = json!({"password": NEW_PASSWORD, "secret": "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ"});
    test::call_service(&app, patch(&id, &wrong).to_request()).await;
    let api = test::call_service(
        &app,
        patch(&id, &json!({"password": NEW_PASSWORD, "secret": secret})).to_request(),
    )
    .await;
    assert_eq!(
        api.headers().get("cache-control").unwrap(),
        "no-store",
        "API answers are never cached"
    );
    assert!(
        api.headers()
            .get("content-security-policy")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    assert_eq!(api.headers().get("referrer-policy").unwrap(), "no-referrer");
    let post = test::TestRequest::post()
        .uri("/api/v4/user/reset")
        .set_json(json!({"email": "nobody@example.com"}));
    test::call_service(&app, post.to_request()).await;

    let res = test::call_service(&app, test::TestRequest::get().uri("/metrics").to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = String::from_utf8(test::read_body(res).await.to_vec()).unwrap();
    for line in [
        "pwreset_http_requests_total{route=\"/api/v4/user/reset/{user_id}\",method=\"PATCH\",status=\"200\",code=\"40030\"} 1",
        "pwreset_http_requests_total{route=\"/api/v4/user/reset/{user_id}\",method=\"PATCH\",status=\"200\",code=\"0\"} 1",
        "pwreset_http_requests_total{route=\"/readyz\",method=\"GET\",status=\"503\",code=\"-\"} 1",
        "pwreset_resets_total{outcome=\"invalid_link\"} 1",
        "pwreset_resets_total{outcome=\"success\"} 1",
        "pwreset_link_requests_total{outcome=\"unknown_address\"} 1",
        "pwreset_outbox_pending 3",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }
    assert!(text.contains("pwreset_http_request_duration_seconds_bucket{route=\"/api/v4/user/reset/{user_id}\",method=\"PATCH\",le=\"+Inf\"} 2"));
    assert!(
        !text.contains(&secret) && !text.contains("jane@example.com"),
        "labels carry no secrets or addresses"
    );
    assert_series_types(&text);
}

/// Every series `/metrics` exposes, with its Prometheus type: a count is a
/// counter (named `_total`), a latency a histogram (`_seconds`), the rest
/// gauges. Nothing exposed is missing here, and nothing here is missing.
fn assert_series_types(text: &str) {
    let expected = [
        ("pwreset_http_requests_total", "counter"),
        ("pwreset_http_request_duration_seconds", "histogram"),
        ("pwreset_resets_total", "counter"),
        ("pwreset_link_requests_total", "counter"),
        ("pwreset_rate_limited_total", "counter"),
        ("pwreset_rate_limit_fallbacks_total", "counter"),
        ("pwreset_mail_deliveries_total", "counter"),
        ("pwreset_bcrypt_queue_wait_seconds", "histogram"),
        ("pwreset_outbox_pending", "gauge"),
        ("pwreset_audit_dropped_total", "counter"),
        ("pwreset_bcrypt_in_flight", "gauge"),
        ("pwreset_bcrypt_waiting", "gauge"),
    ];
    let exposed: Vec<(&str, &str)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split_once(' ').expect("# TYPE name type"))
        .collect();
    let mut sorted_expected = expected.to_vec();
    sorted_expected.sort_unstable();
    let mut sorted_exposed = exposed.clone();
    sorted_exposed.sort_unstable();
    assert_eq!(sorted_exposed, sorted_expected, "{text}");
    for (name, kind) in exposed {
        assert_eq!(name.ends_with("_total"), kind == "counter", "{name} is a {kind}");
        assert_eq!(name.ends_with("_seconds"), kind == "histogram", "{name} is a {kind}");
    }
}

/// The public listener's set: health and readiness, and no `/metrics` (it
/// counts link requests by outcome, which would tell known addresses from
/// unknown ones).
#[actix_web::test]
async fn the_public_set_has_no_metrics() {
    let w = World::new();
    let state = w.state(settings());
    let app = test::init_service(
        App::new()
            .configure(pwreset_http::configure(state.clone()))
            .configure(pwreset_http::configure_health(state.clone())),
    )
    .await;
    let get = |uri: &str| test::TestRequest::get().uri(uri).to_request();
    assert_eq!(test::call_service(&app, get("/healthz")).await.status(), StatusCode::OK);
    assert_eq!(test::call_service(&app, get("/readyz")).await.status(), StatusCode::OK);
    assert_eq!(test::call_service(&app, get("/metrics")).await.status(), StatusCode::NOT_FOUND);
}

/// A shared limiter for several `ApiState`s ("instances"): counts per key
/// (no refill: the tests run well inside a period), and can be made to fail
/// or to hang.
#[derive(Debug, Default)]
struct FakeShared {
    counts: std::sync::Mutex<std::collections::HashMap<String, u32>>,
    down: AtomicBool,
    hang: AtomicBool,
    /// Checks begun.
    attempts: std::sync::atomic::AtomicUsize,
    /// Checks answered.
    checks: std::sync::atomic::AtomicUsize,
}

impl pwreset_domain::ports::SharedLimiter for FakeShared {
    fn check<'a>(
        &'a self,
        name: &'a str,
        key: &'a str,
        limit: pwreset_http::Limit,
    ) -> pwreset_domain::ports::LimitCheck<'a> {
        Box::pin(async move {
            self.attempts.fetch_add(1, Ordering::SeqCst);
            if self.hang.load(Ordering::SeqCst) {
                actix_web::rt::time::sleep(std::time::Duration::from_secs(30)).await;
            }
            if self.down.load(Ordering::SeqCst) {
                return Err(pwreset_domain::ports::StoreError::msg("connection refused"));
            }
            self.checks.fetch_add(1, Ordering::SeqCst);
            let mut counts = self.counts.lock().unwrap();
            let n = counts.entry(format!("{name}:{key}")).or_default();
            if *n < limit.max {
                *n += 1;
                Ok(Ok(()))
            } else {
                Ok(Err(limit.interval()))
            }
        })
    }

    fn ping(&self) -> pwreset_domain::ports::SharedPing<'_> {
        Box::pin(async move {
            if self.down.load(Ordering::SeqCst) || self.hang.load(Ordering::SeqCst) {
                Err(pwreset_domain::ports::StoreError::msg("connection refused"))
            } else {
                Ok(())
            }
        })
    }
}

fn shared_limits_settings() -> pwreset_http::ApiSettings {
    let hour = std::time::Duration::from_secs(3600);
    pwreset_http::ApiSettings {
        rate_limits: pwreset_http::RateLimits {
            request_per_ip: Some(pwreset_http::Limit { max: 4, per: hour }),
            ..pwreset_http::RateLimits::off()
        },
        ..settings()
    }
}

async fn instance(
    w: &World,
    shared: &Arc<FakeShared>,
) -> impl actix_web::dev::Service<
    actix_http::Request,
    Response = actix_web::dev::ServiceResponse,
    Error = actix_web::Error,
> {
    let state = actix_web::web::Data::new(
        pwreset_http::ApiState::new(&w.ports, shared_limits_settings())
            .with_shared_limits(shared.clone(), std::time::Duration::from_millis(200)),
    );
    test::init_service(
        App::new()
            .configure(pwreset_http::configure(state.clone()))
            .configure(pwreset_http::configure_ops(state)),
    )
    .await
}

async fn code_of(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
    >,
) -> i64 {
    let post = test::TestRequest::post().uri("/api/v4/user/reset");
    let (status, _, body) = send(app, post.set_json(json!({"email": "nobody@example.com"}))).await;
    let code = body["code"].as_i64().unwrap();
    assert_eq!(status == StatusCode::TOO_MANY_REQUESTS, code == 429, "{body}");
    if code == 0 {
        assert_eq!(body, json!({"code": 0, "msg": ""}));
    } else {
        assert!(body["msg"].as_str().unwrap().contains("seconds"), "{body}");
        assert!(body["correlation_id"].is_string(), "{body}");
    }
    code
}

async fn get_text(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
    >,
    uri: &str,
) -> String {
    let res = test::call_service(app, test::TestRequest::get().uri(uri).to_request()).await;
    assert_eq!(res.status(), StatusCode::OK, "{uri}");
    String::from_utf8(test::read_body(res).await.to_vec()).unwrap()
}

#[actix_web::test]
async fn instances_sharing_a_limiter_hold_one_limit() {
    let w = World::new();
    let shared = Arc::new(FakeShared::default());
    let (a, b) = (instance(&w, &shared).await, instance(&w, &shared).await);
    let mut codes = Vec::new();
    for i in 0..8 {
        codes.push(code_of(if i % 2 == 0 { &a } else { &b }).await);
    }
    assert_eq!(
        codes,
        [0, 0, 0, 0, 429, 429, 429, 429],
        "4 per hour for the site, not per instance"
    );
    assert_eq!(get_text(&a, "/readyz").await, r#"{"status":"ready"}"#);
    assert!(get_text(&a, "/metrics").await.contains("\npwreset_rate_limits_shared 1\n"));
}

#[actix_web::test]
async fn without_the_shared_limiter_each_instance_limits_alone_and_says_so() {
    let w = World::new();
    let shared = Arc::new(FakeShared::default());
    let app = instance(&w, &shared).await;
    assert_eq!(code_of(&app).await, 0);
    shared.down.store(true, Ordering::SeqCst);
    // This instance had let 1 through; its own limiter allows 3 more.
    let codes: Vec<i64> = {
        let mut codes = Vec::new();
        for _ in 0..5 {
            codes.push(code_of(&app).await);
        }
        codes
    };
    assert_eq!(codes, [0, 0, 0, 429, 429], "the in-process limits carry this instance's history");
    assert_eq!(get_text(&app, "/readyz").await, r#"{"status":"degraded"}"#);
    let metrics = get_text(&app, "/metrics").await;
    assert!(metrics.contains("\npwreset_rate_limits_shared 0\n"), "{metrics}");
    assert!(
        metrics.contains("pwreset_rate_limit_fallbacks_total{limit=\"request_per_ip\"} 5"),
        "{metrics}"
    );

    // Back: the readiness probe finds it, and checks are shared again.
    shared.down.store(false, Ordering::SeqCst);
    assert_eq!(get_text(&app, "/readyz").await, r#"{"status":"ready"}"#);
    let before = shared.checks.load(Ordering::SeqCst);
    assert_eq!(code_of(&app).await, 0, "the shared count (1 of 4) decides again");
    assert_eq!(shared.checks.load(Ordering::SeqCst), before + 1);
}

#[actix_web::test]
async fn a_hanging_shared_limiter_is_not_waited_for_on_every_request() {
    let w = World::new();
    let shared = Arc::new(FakeShared::default());
    let app = instance(&w, &shared).await;
    shared.hang.store(true, Ordering::SeqCst);
    let mut codes = Vec::new();
    for _ in 0..20 {
        codes.push(code_of(&app).await);
    }
    let mut expected = vec![0; 4];
    expected.resize(20, 429);
    assert_eq!(codes, expected, "decided in memory, every answer an envelope");
    // The first request waits out the 200 ms timeout; the next ones are
    // decided in memory at once until the retry a second later.
    let attempts = shared.attempts.load(Ordering::SeqCst);
    assert!((1..10).contains(&attempts), "{attempts} attempts for 20 requests");
}
