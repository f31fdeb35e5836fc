//! Operations endpoints and the headers every answer carries.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::http::StatusCode;
use actix_web::middleware::from_fn;
use actix_web::{App, test};
use pwreset_http::{Gauge, OpsProbe, security_headers};
use serde_json::{Value, json};
use support::*;

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

    fn gauges(&self) -> Vec<Gauge> {
        vec![Gauge { name: "pwreset_outbox_pending", help: "Emails waiting.", value: 3.0 }]
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
