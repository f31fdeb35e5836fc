//! `POST /user/reset` through the real app: no account enumeration, the
//! emailed link working end to end, bad input, rate limits, and every answer
//! checked against the served OpenAPI document.

use crate::support::*;
use actix_web::http::StatusCode;
use actix_web::test;
use chrono::Duration;
use pwreset_domain::{MailKind, UserStatus};
use pwreset_http::{ApiSettings, Limit, RateLimits};
use pwreset_infra::memory::OutboxStatus;
use serde_json::{Value, json};

fn post(body: &Value) -> test::TestRequest {
    test::TestRequest::post().uri("/api/v4/user/reset").set_json(body)
}

/// Pulls `(id, secret)` out of the link in a reset email's text.
fn link_in(text: &str) -> (String, String) {
    let start = text.find("/session/reset?id=").expect("link in the email");
    let link = text[start..].split_whitespace().next().unwrap();
    let query = link.split_once('?').unwrap().1;
    let param = |name: &str| {
        query.split('&').find_map(|kv| kv.strip_prefix(&format!("{name}="))).unwrap().to_owned()
    };
    (param("id"), param("secret"))
}

#[actix_web::test]
async fn every_address_gets_the_same_answer() {
    let w = World::new();
    let active = w.user("active@example.com");
    let banned = w.user("banned@example.com");
    let inactive = w.user("inactive@example.com");
    w.store.set_status(banned, UserStatus::ManualBanned);
    w.store.set_status(inactive, UserStatus::Inactive);
    let app = app(w.state(settings())).await;

    let mut bodies = Vec::new();
    for email in
        ["ACTIVE@example.com", "nobody@example.com", "banned@example.com", "inactive@example.com"]
    {
        let (status, header, body) = send(&app, post(&json!({"email": email}))).await;
        assert_eq!(status, StatusCode::OK);
        assert!(header.is_some());
        bodies.push(body);
    }
    assert!(bodies.iter().all(|b| *b == json!({"code": 0, "msg": ""})), "{bodies:?}");

    let outbox = w.store.outbox();
    assert_eq!(outbox.len(), 1, "only the active account gets an email");
    assert_eq!(outbox[0].mail.to, "active@example.com");
    assert_eq!(outbox[0].mail.kind, MailKind::ResetLink);
    let audit = w.store.audit_records();
    assert_eq!(audit.len(), 4, "every request leaves one audit row");
    assert_eq!(audit[0].user_id, Some(active));
    assert!(audit.iter().all(|r| r.kind.as_str() == "link_requested"));
    let details: Vec<&str> = audit.iter().map(|r| r.detail.as_deref().unwrap()).collect();
    assert_eq!(
        details,
        [
            "outcome=issued email=A***@example.com",
            "outcome=unknown_address email=n***@example.com",
            "outcome=banned email=b***@example.com",
            "outcome=inactive email=i***@example.com"
        ]
    );
}

#[actix_web::test]
async fn revealing_mode_answers_with_cloudreves_codes() {
    let w = World::new();
    let banned = w.user("banned@example.com");
    let inactive = w.user("inactive@example.com");
    w.user("active@example.com");
    w.store.set_status(banned, UserStatus::SysBanned);
    w.store.set_status(inactive, UserStatus::Inactive);
    let app = app(w.state(ApiSettings { reveal_account_state: true, ..settings() })).await;
    for (email, code) in [
        ("nobody@example.com", 40021),
        ("banned@example.com", 40017),
        ("inactive@example.com", 40018),
    ] {
        assert_failure(&send(&app, post(&json!({"email": email}))).await, code);
    }
    assert_eq!(send(&app, post(&json!({"email": "active@example.com"}))).await.2["code"], 0);
}

#[actix_web::test]
async fn the_emailed_link_resets_the_password_and_a_notice_follows() {
    let w = World::new();
    w.user("jane@example.com");
    let app = app(w.state(settings())).await;
    let answer = send(&app, post(&json!({"email": "jane@example.com", "language": "zh-CN"}))).await;
    assert_eq!(answer.2["code"], 0);

    let mail = w.store.outbox().remove(0).mail;
    assert_eq!(mail.subject, "重置您的 Test Drive 密码", "the request's language");
    assert!(mail.html.contains("lang=\"zh-CN\""));
    let (id, secret) = link_in(&mail.text);
    assert!(mail.text.contains("http://127.0.0.1:5212/session/reset?id="), "{}", mail.text);

    let reset = send(&app, patch(&id, &json!({"password": NEW_PASSWORD, "secret": secret}))).await;
    assert_eq!(reset.2["code"], 0, "{}", reset.2);
    assert!(w.password_is("jane@example.com", NEW_PASSWORD));
    let outbox = w.store.outbox();
    assert_eq!(outbox.len(), 2);
    assert_eq!(outbox[1].mail.kind, MailKind::PasswordChanged);
    assert_eq!(outbox[1].mail.to, "jane@example.com");
    assert_eq!(outbox[1].status, OutboxStatus::Pending);
}

#[actix_web::test]
async fn a_new_request_revokes_the_older_link() {
    let w = World::new();
    w.user("jane@example.com");
    let app = app(w.state(settings())).await;
    send(&app, post(&json!({"email": "jane@example.com"}))).await;
    send(&app, post(&json!({"email": "jane@example.com"}))).await;
    let outbox = w.store.outbox();
    let (id, old) = link_in(&outbox[0].mail.text);
    let (_, new) = link_in(&outbox[1].mail.text);
    assert_failure(
        &send(&app, patch(&id, &json!({"password": NEW_PASSWORD, "secret": old}))).await,
        40030,
    );
    assert_eq!(
        send(&app, patch(&id, &json!({"password": NEW_PASSWORD, "secret": new}))).await.2["code"],
        0
    );
}

#[actix_web::test]
async fn bad_input_is_40001_and_queues_nothing() {
    let w = World::new();
    w.user("jane@example.com");
    let app = app(w.state(settings())).await;
    let raw = |body: &str| {
        test::TestRequest::post()
            .uri("/api/v4/user/reset")
            .insert_header(("Content-Type", "application/json"))
            .set_payload(body.to_owned())
    };
    let cases = [
        ("missing email", post(&json!({"language": "en-US"})), "missing field `email`"),
        ("not an address", post(&json!({"email": "jane"})), "Email address must look like"),
        ("empty", post(&json!({"email": "  "})), "Email address is empty"),
        ("spaces", post(&json!({"email": "ja ne@example.com"})), "spaces"),
        ("wrong type", post(&json!({"email": 42})), "invalid type"),
        ("malformed", raw("{\"email\":"), "Malformed JSON"),
        ("an array", raw(r#"["jane@example.com"]"#), "expected a map"),
        ("null", raw("null"), "Invalid request body"),
        (
            "gzip-encoded",
            raw(r#"{"email":"jane@example.com"}"#).insert_header(("Content-Encoding", "gzip")),
            "Content-Encoding",
        ),
        (
            "oversized",
            post(&json!({"email": "jane@example.com", "pad": "x".repeat(20_000)})),
            "16 KiB",
        ),
    ];
    for (name, req, expected) in cases {
        let msg = assert_failure(&send(&app, req).await, 40001);
        assert!(msg.contains(expected), "{name}: {msg}");
    }
    assert!(w.store.outbox().is_empty());
    assert!(w.store.audit_records().is_empty());
}

#[actix_web::test]
async fn rate_limits_trip_and_recover() {
    let w = World::new();
    w.user("jane@example.com");
    let limits = RateLimits {
        request_per_ip: Some(Limit { max: 3, per: std::time::Duration::from_secs(3600) }),
        request_per_email: Some(Limit { max: 2, per: std::time::Duration::from_secs(3600) }),
        reset_per_ip: None,
        reset_per_user: Some(Limit { max: 2, per: std::time::Duration::from_secs(600) }),
        ..RateLimits::off()
    };
    let app = app(w.state(ApiSettings { rate_limits: limits, ..settings() })).await;
    let jane = json!({"email": "jane@example.com"});
    assert_eq!(send(&app, post(&jane)).await.2["code"], 0);
    assert_eq!(send(&app, post(&jane)).await.2["code"], 0);

    let res = test::call_service(&app, post(&jane).to_request()).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = res.headers().get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
    assert_eq!(retry, 1800, "one request back every 60 min / 2");
    assert!(res.headers().get("x-cr-correlation-id").is_some());
    let body: Value = test::read_body_json(res).await;
    assert_eq!(body["code"], 429);
    assert!(body["msg"].as_str().unwrap().contains("1800 seconds"));
    assert_eq!(w.store.outbox().len(), 2, "the refused request queued nothing");

    // Another address from the same client: the refused request counted
    // too, so the client has used its 3 requests an hour.
    let res =
        test::call_service(&app, post(&json!({"email": "other@example.com"})).to_request()).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res.headers().get("retry-after").unwrap(), "1200", "one back every 20 min");

    w.clock.advance(Duration::minutes(30));
    assert_eq!(send(&app, post(&jane)).await.2["code"], 0, "recovered after Retry-After");

    // PATCH per user: the third refused link within the window is a 429...
    let (id, secret) = w.link("jane@example.com");
    let wrong = json!({"password": NEW_PASSWORD, "secret": "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ"});
    assert_failure(&send(&app, patch(&id, &wrong)).await, 40030);
    assert_failure(&send(&app, patch(&id, &wrong)).await, 40030);
    let res = test::call_service(&app, patch(&id, &wrong).to_request()).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res.headers().get("retry-after").unwrap(), "300");
    for _ in 0..20 {
        let res = test::call_service(&app, patch(&id, &wrong).to_request()).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    // ...but whatever others sent for the user id, the live link works.
    let right = json!({"password": NEW_PASSWORD, "secret": secret});
    assert_eq!(
        send(&app, patch(&id, &right)).await.2["code"],
        0,
        "the holder of the link is never blocked"
    );

    // Every hit is in the audit trail, with the limit that was hit.
    let hits: Vec<String> = w
        .store
        .audit_records()
        .into_iter()
        .filter(|r| r.kind.as_str() == "rate_limited")
        .map(|r| r.detail.unwrap())
        .collect();
    assert_eq!(
        hits[..3],
        ["limit=request_per_email", "limit=request_per_ip", "limit=reset_per_user"]
    );
    assert_eq!(hits.len(), 3 + 20);
}

/// Others asking for someone's address can neither keep its owner from
/// getting a working link nor fill the mailbox: a client that keeps asking
/// is told to wait; beyond the address's own allowance nothing is minted,
/// sent or revoked, and the newest link sent stays live.
#[actix_web::test]
async fn nobody_can_block_another_persons_reset_or_bomb_their_mailbox() {
    let w = World::new();
    w.user("jane@example.com");
    let hour = std::time::Duration::from_secs(3600);
    let limits =
        RateLimits { request_per_email: Some(Limit { max: 2, per: hour }), ..RateLimits::off() };
    let app = app(w.state(ApiSettings { rate_limits: limits, ..settings() })).await;
    let jane = json!({"email": "jane@example.com"});
    let from = |peer: &str| post(&jane).peer_addr(peer.parse().unwrap());

    let attacker = "198.51.100.66:4000";
    for _ in 0..2 {
        assert_eq!(send(&app, from(attacker)).await.2["code"], 0);
    }
    let res = test::call_service(&app, from(attacker).to_request()).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "the client that keeps asking waits");
    for peer in ["203.0.113.9:5000", "[2001:db8:77::1]:6000", "192.0.2.44:7000"] {
        let answer = send(&app, from(peer)).await;
        assert_eq!(answer.2, json!({"code": 0, "msg": ""}), "{peer}: never a 429 for others");
    }
    let mails = w.store.outbox();
    assert_eq!(mails.len(), 2, "the mailbox gets the address's allowance, no more");

    let (id, secret) = link_in(&mails[1].mail.text);
    let right = json!({"password": NEW_PASSWORD, "secret": secret});
    assert_eq!(
        send(&app, patch(&id, &right)).await.2["code"],
        0,
        "the newest link sent still works"
    );
    let hits = w.store.audit_records().into_iter().filter_map(|r| r.detail).collect::<Vec<_>>();
    assert_eq!(hits.iter().filter(|d| *d == "limit=request_per_address").count(), 3);
}

/// IPv6 clients are counted per /64: one subscriber cannot rotate through
/// its 2^64 addresses.
#[actix_web::test]
async fn ipv6_clients_are_limited_per_network() {
    let w = World::new();
    let limits = RateLimits {
        request_per_ip: Some(Limit { max: 1, per: std::time::Duration::from_secs(3600) }),
        ..RateLimits::off()
    };
    let app = app(w.state(ApiSettings { rate_limits: limits, ..settings() })).await;
    let ask = |peer: &str, n: u32| {
        post(&json!({"email": format!("x{n}@example.com")})).peer_addr(peer.parse().unwrap())
    };
    assert_eq!(send(&app, ask("[2001:db8:5:6::1]:1000", 1)).await.2["code"], 0);
    let res = test::call_service(&app, ask("[2001:db8:5:6:ffff::2]:1000", 2).to_request()).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "same /64");
    assert_eq!(send(&app, ask("[2001:db8:5:7::1]:1000", 3)).await.2["code"], 0, "another /64");
}

#[actix_web::test]
async fn real_answers_match_the_served_openapi_document() {
    let w = World::new();
    w.user("jane@example.com");
    let limits = RateLimits {
        request_per_email: Some(Limit { max: 1, per: std::time::Duration::from_secs(60) }),
        ..RateLimits::off()
    };
    let app = app(w.state(ApiSettings { rate_limits: limits, ..settings() })).await;
    let (status, _, doc) = send(&app, test::TestRequest::get().uri("/api/v4/openapi.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["servers"][0]["url"], "/api/v4");

    let post_ok = response_validator(&doc, "/user/reset", "post", "200");
    let post_429 = response_validator(&doc, "/user/reset", "post", "429");
    let patch_ok = response_validator(&doc, "/user/reset/{user_id}", "patch", "200");

    assert_valid(&post_ok, &send(&app, post(&json!({"email": "jane@example.com"}))).await.2);
    assert_valid(&post_ok, &send(&app, post(&json!({"email": "nope"}))).await.2);
    assert_valid(&post_429, &send(&app, post(&json!({"email": "jane@example.com"}))).await.2);

    let (id, secret) = link_in(&w.store.outbox()[0].mail.text);
    for body in [
        json!({"password": "x", "secret": secret}),
        json!({"password": NEW_PASSWORD, "secret": "wrong"}),
    ] {
        assert_valid(&patch_ok, &send(&app, patch(&id, &body)).await.2);
    }
    let done = send(&app, patch(&id, &json!({"password": NEW_PASSWORD, "secret": secret}))).await.2;
    assert_eq!(done["code"], 0);
    assert_valid(&patch_ok, &done);
    // And the check bites: a success without data is not a valid answer.
    assert!(!patch_ok.is_valid(&json!({"code": 0, "msg": ""})));
}

#[actix_web::test]
async fn link_requests_take_at_least_the_floor_whatever_the_address() {
    let w = World::new();
    w.user("jane@example.com");
    let floor = std::time::Duration::from_millis(40);
    let app = app(w.state(ApiSettings { link_request_min_time: floor, ..settings() })).await;
    for email in ["jane@example.com", "nobody@example.com"] {
        let started = std::time::Instant::now();
        let answer = send(&app, post(&json!({"email": email}))).await;
        assert_eq!(answer.2["code"], 0);
        assert!(started.elapsed() >= floor, "{email}: {:?}", started.elapsed());
    }
    // Bad input is refused before the floor applies: its timing depends on
    // the input only. (No upper bound is asserted: wall clocks are noisy.)
    assert_failure(&send(&app, post(&json!({"email": "nope"}))).await, 40001);
}

/// Tokens that take their time to issue: the known-address path made slow,
/// as a loaded database makes it.
struct SlowIssue(std::sync::Arc<pwreset_infra::MemoryStore>, std::time::Duration);

impl pwreset_domain::ports::ResetStore for SlowIssue {
    fn find_token(
        &self,
        digest: &pwreset_domain::SecretDigest,
    ) -> Result<Option<pwreset_domain::ResetToken>, pwreset_domain::ports::StoreError> {
        self.0.find_token(digest)
    }
    fn issue_token(
        &self,
        token: &pwreset_domain::ports::NewResetToken,
    ) -> Result<(), pwreset_domain::ports::StoreError> {
        std::thread::sleep(self.1);
        self.0.issue_token(token)
    }
    fn complete_reset(
        &self,
        reset: &pwreset_domain::ports::CompletedReset,
    ) -> Result<pwreset_domain::ports::ResetCommit, pwreset_domain::ports::StoreError> {
        self.0.complete_reset(reset)
    }
}

/// When the known-address path slows down (a loaded database), the floor
/// rises with it: an unknown address answers about as slowly. Compared as a
/// ratio measured in one run, not against wall-clock limits.
#[actix_web::test]
async fn timing_does_not_tell_addresses_apart_when_the_known_path_is_slow() {
    let mut w = World::new();
    w.user("jane@example.com");
    let slow = std::time::Duration::from_millis(150);
    w.ports.tokens = std::sync::Arc::new(SlowIssue(w.store.clone(), slow));
    let floor = std::time::Duration::from_millis(10);
    let app = app(w.state(ApiSettings { link_request_min_time: floor, ..settings() })).await;
    let timed = |email: &'static str| {
        let app = &app;
        async move {
            let started = std::time::Instant::now();
            assert_eq!(send(app, post(&json!({"email": email}))).await.2["code"], 0);
            started.elapsed()
        }
    };
    let known = timed("jane@example.com").await;
    let unknown = timed("nobody@example.com").await;
    assert!(known >= slow);
    assert!(
        unknown * 10 >= known * 9,
        "an unknown address answers about as slowly as a known one: {unknown:?} vs {known:?}"
    );
}

#[actix_web::test]
async fn requests_that_waited_too_long_for_storage_are_50001_and_change_nothing() {
    let w = World::new();
    w.user("queued@example.com");
    let (id, secret) = w.link("queued@example.com");
    let queued_before = w.store.outbox().len();
    // No patience at all: every storage job has waited too long when a thread
    // takes it, so none runs.
    let impatient = ApiSettings { storage_wait: std::time::Duration::ZERO, ..settings() };
    let app = app(w.state(impatient)).await;

    let answer = send(&app, post(&json!({"email": "queued@example.com"}))).await;
    assert_failure(&answer, 50001);
    let reset = json!({"password": NEW_PASSWORD, "secret": secret});
    assert_failure(&send(&app, patch(&id, &reset)).await, 50001);
    assert_eq!(w.store.outbox().len(), queued_before, "no link was queued");
    assert!(w.password_is("queued@example.com", OLD_PASSWORD));

    let patient = self::app(w.state(settings())).await;
    assert_eq!(send(&patient, patch(&id, &reset)).await.2["code"], 0, "the link still works");
}
