//! The reset endpoint through the real actix app (the same `configure` a
//! host or the `pwreset` binary uses): every row of the error table and the
//! success path.

use std::sync::Arc;

use crate::support::*;
use actix_web::http::{Method, StatusCode};
use actix_web::{App, test, web};
use chrono::{DateTime, Duration};
use pwreset_domain::UserStatus;
use pwreset_domain::ports::{
    HashError, MockPasswordHasher, MockResetStore, PasswordHasher, Ports, StoreError, UserStore,
};
use pwreset_http::{ApiSettings, ApiState};
use pwreset_infra::HashidCodec;
use serde_json::{Value, json};
use uuid::Uuid;

#[actix_web::test]
async fn success_replaces_the_password_and_returns_the_seed_user() {
    let w = World::new();
    let user = w.user("Jane@Example.com");
    let (public_id, secret) = w.link("jane@example.com");
    let app = app(w.state(settings())).await;
    let correlation = Uuid::new_v4().to_string();

    let (status, header, body) = send(
        &app,
        patch(&public_id, &json!({"password": NEW_PASSWORD, "secret": secret}))
            .insert_header(("X-Cr-Correlation-Id", correlation.as_str())),
    )
    .await;

    assert_eq!(status, StatusCode::OK);
    assert_eq!(header.as_deref(), Some(correlation.as_str()), "success echoes the id too");
    let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["code", "data", "msg"]);
    assert_eq!(body["code"], 0);
    assert_eq!(body["msg"], "");
    let data = &body["data"];
    assert_is_seed_user(data);
    assert_eq!(data["id"], public_id);
    assert_eq!(data["email"], "Jane@Example.com");
    assert_eq!(data["nickname"], "Jane Doe");
    assert_eq!(data["anonymous"], false);
    assert_eq!(data["status"], "active");
    assert_eq!(data["avatar"], Value::Null);
    assert_eq!(data["preferred_theme"], Value::Null);
    assert_eq!(data["credit"], Value::Null);
    assert_eq!(data["language"], "en-US");
    assert_eq!(data["group"]["name"], "User");
    assert_eq!(data["group"]["permission"], "hAg=", "Cloudreve V4's User group");
    assert_eq!(data["group"]["direct_link_batch_size"], 10);
    assert_eq!(data["group"]["trash_retention"], 604_800);
    assert!(
        data.get("disable_view_sync").is_none() && data.get("share_links_in_profile").is_none()
    );
    let created = DateTime::parse_from_rfc3339(data["created_at"].as_str().unwrap()).unwrap();
    assert!(created.to_rfc3339().ends_with("+00:00"));

    assert!(w.password_is("jane@example.com", NEW_PASSWORD));
    assert!(!w.password_is("jane@example.com", OLD_PASSWORD));
    let stamp = w.store.find_profile(user).unwrap().unwrap().user.security_stamp;
    assert_ne!(stamp.as_str(), "", "a new security stamp");
    let kinds: Vec<_> = w.store.audit_records().iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(kinds, ["link_issued", "reset_succeeded"]);
    let audit = w.store.audit_records().pop().unwrap();
    assert_eq!(audit.client.correlation_id.as_deref(), Some(correlation.as_str()));
}

#[actix_web::test]
async fn a_secret_works_once() {
    let w = World::new();
    w.user("once@example.com");
    let (id, secret) = w.link("once@example.com");
    let app = app(w.state(settings())).await;
    let first = send(&app, patch(&id, &json!({"password": NEW_PASSWORD, "secret": secret}))).await;
    assert_eq!(first.2["code"], 0);
    let second = send(&app, patch(&id, &json!({"password": "another-pw", "secret": secret}))).await;
    assert_failure(&second, 40030);
    assert!(w.password_is("once@example.com", NEW_PASSWORD));
}

#[actix_web::test]
async fn bad_input_is_40001_says_why_and_changes_nothing() {
    let w = World::new();
    let user = w.user("bad@example.com");
    let other_group_id = "wrong";
    let (id, secret) = w.link("bad@example.com");
    let app = app(w.state(settings())).await;
    let uri = format!("/api/v4/user/reset/{id}");
    let raw = |body: &str, content_type: &str| {
        test::TestRequest::patch()
            .uri(&uri)
            .insert_header(("Content-Type", content_type))
            .set_payload(body.to_owned())
    };
    let group_public_id = {
        use pwreset_domain::ports::PublicIdCodec;
        HashidCodec::new("test salt")
            .unwrap()
            .encode_group(pwreset_domain::GroupId::new(user.get()).unwrap())
    };
    let cases: Vec<(&str, test::TestRequest, &str)> = vec![
        ("malformed JSON", raw("{\"password\": ", "application/json"), "Malformed JSON"),
        ("not an object", raw("[1,2]", "application/json"), "Invalid request body"),
        (
            "an array whose values fit the fields in order",
            raw(&json!([NEW_PASSWORD, secret]).to_string(), "application/json"),
            "expected a map",
        ),
        ("a string", raw("\"x\"", "application/json"), "Invalid request body"),
        (
            "a gzip-encoded body",
            raw(
                &json!({"password": NEW_PASSWORD, "secret": secret}).to_string(),
                "application/json",
            )
            .insert_header(("Content-Encoding", "gzip")),
            "Content-Encoding",
        ),
        (
            "a deflate-encoded body",
            raw(
                &json!({"password": NEW_PASSWORD, "secret": secret}).to_string(),
                "application/json",
            )
            .insert_header(("Content-Encoding", "deflate")),
            "Content-Encoding",
        ),
        (
            "wrong content type",
            raw(&json!({"password": NEW_PASSWORD, "secret": secret}).to_string(), "text/plain"),
            "Content-Type",
        ),
        ("missing password", patch(&id, &json!({"secret": secret})), "missing field `password`"),
        (
            "missing secret",
            patch(&id, &json!({"password": NEW_PASSWORD})),
            "missing field `secret`",
        ),
        ("wrong type", patch(&id, &json!({"password": 123456, "secret": secret})), "invalid type"),
        ("null password", patch(&id, &json!({"password": null, "secret": secret})), "invalid type"),
        (
            "too short",
            patch(&id, &json!({"password": "12345", "secret": secret})),
            "at least 6 characters",
        ),
        (
            "too long",
            patch(&id, &json!({"password": "a".repeat(65), "secret": secret})),
            "at most 64 characters",
        ),
        (
            "over 72 bytes",
            patch(&id, &json!({"password": "密".repeat(25), "secret": secret})),
            "72 bytes",
        ),
        ("NUL", patch(&id, &json!({"password": "abc\u{0}defg", "secret": secret})), "NUL"),
        (
            "oversized body",
            patch(
                &id,
                &json!({"password": NEW_PASSWORD, "secret": secret, "pad": "x".repeat(17 * 1024)}),
            ),
            "larger than 16 KiB",
        ),
        (
            "undecodable id",
            patch(other_group_id, &json!({"password": NEW_PASSWORD, "secret": secret})),
            "not a valid user id",
        ),
        (
            "group id",
            patch(&group_public_id, &json!({"password": NEW_PASSWORD, "secret": secret})),
            "not a valid user id",
        ),
        (
            "id over 32 characters",
            patch(&"a".repeat(33), &json!({"password": NEW_PASSWORD, "secret": secret})),
            "longer than 32",
        ),
    ];
    for (name, req, expected) in cases {
        let answer = send(&app, req).await;
        let msg = assert_failure(&answer, 40001);
        assert!(msg.contains(expected), "{name}: {msg:?} should mention {expected:?}");
    }
    assert!(w.password_is("bad@example.com", OLD_PASSWORD), "no bad request changed anything");
    let ok = send(&app, patch(&id, &json!({"password": NEW_PASSWORD, "secret": secret}))).await;
    assert_eq!(ok.2["code"], 0, "the secret is still usable: {}", ok.2);
}

#[actix_web::test]
async fn every_kind_of_dead_link_is_40030() {
    let w = World::new();
    w.user("a@example.com");
    w.user("b@example.com");
    let (id_a, secret_a) = w.link("a@example.com");
    let (_id_b, secret_b) = w.link("b@example.com");
    let app = app(w.state(settings())).await;
    let body = |secret: &str| json!({"password": NEW_PASSWORD, "secret": secret});

    let unknown = "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ";
    let malformed = "not-a-secret";
    for (name, secret) in
        [("unknown", unknown), ("malformed", malformed), ("other user's", secret_b.as_str())]
    {
        let answer = send(&app, patch(&id_a, &body(secret))).await;
        assert_failure(&answer, 40030);
        assert!(answer.2["msg"].as_str().unwrap().contains("expired"), "{name}");
    }
    // A revoked secret: a newer link replaced it.
    let (_, newer) = w.link("a@example.com");
    assert_failure(&send(&app, patch(&id_a, &body(&secret_a))).await, 40030);
    // An expired one.
    w.clock.advance(Duration::hours(1));
    assert_failure(&send(&app, patch(&id_a, &body(&newer))).await, 40030);
    assert!(w.password_is("a@example.com", OLD_PASSWORD));
    assert!(w.password_is("b@example.com", OLD_PASSWORD));
    let refusals: Vec<String> = w
        .store
        .audit_records()
        .into_iter()
        .filter(|r| r.kind.as_str() == "reset_refused")
        .map(|r| r.detail.unwrap())
        .collect();
    assert_eq!(
        refusals,
        [
            "reason=unknown",
            "reason=malformed",
            "reason=other_user",
            "reason=revoked",
            "reason=expired"
        ]
    );
}

#[actix_web::test]
async fn inactive_users_get_40021_and_keep_their_secret() {
    let w = World::new();
    let user = w.user("banned@example.com");
    let (id, secret) = w.link("banned@example.com");
    let app = app(w.state(settings())).await;
    let body = json!({"password": NEW_PASSWORD, "secret": secret});
    for status in [UserStatus::Inactive, UserStatus::ManualBanned, UserStatus::SysBanned] {
        w.store.set_status(user, status);
        assert_failure(&send(&app, patch(&id, &body)).await, 40021);
    }
    // The id alone reveals nothing: a wrong secret for the banned user is 40030.
    let wrong = json!({"password": NEW_PASSWORD, "secret": "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ"});
    assert_failure(&send(&app, patch(&id, &wrong)).await, 40030);
    w.store.set_status(user, UserStatus::Active);
    assert_eq!(send(&app, patch(&id, &body)).await.2["code"], 0);
}

/// Ports whose token store fails like a database that went away.
fn failing_store_ports(w: &World) -> Ports {
    let mut tokens = MockResetStore::new();
    tokens
        .expect_find_token()
        .returning(|_| Err(StoreError::msg("could not connect to server: Connection refused")));
    Ports { tokens: Arc::new(tokens), ..w.ports.clone() }
}

#[actix_web::test]
async fn database_failure_is_50001_with_detail_only_in_debug() {
    let w = World::new();
    w.user("db@example.com");
    let (id, secret) = w.link("db@example.com");
    let body = json!({"password": NEW_PASSWORD, "secret": secret});

    let quiet = app(web::Data::new(ApiState::new(&failing_store_ports(&w), settings()))).await;
    let answer = send(&quiet, patch(&id, &body)).await;
    assert_failure(&answer, 50001);
    assert!(!answer.2.to_string().contains("Connection refused"), "no internals in production");

    let settings = ApiSettings { debug: true, ..settings() };
    let debug = app(web::Data::new(ApiState::new(&failing_store_ports(&w), settings))).await;
    let (status, _, body) = send(&debug, patch(&id, &body)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["code"], 50001);
    assert!(body["error"].as_str().unwrap().contains("Connection refused"), "{body}");
}

/// Log lines, as the fmt subscriber writes them.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[actix_web::test]
async fn what_storage_and_hashing_log_carries_the_requests_correlation_id() {
    let w = World::new();
    w.user("logs@example.com");
    let (id, secret) = w.link("logs@example.com");
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber =
        tracing_subscriber::fmt().with_ansi(false).with_writer(move || writer.clone()).finish();
    let _scope = tracing::subscriber::set_default(subscriber);

    // A store that logs while it fails: the storage lane's side.
    let mut tokens = MockResetStore::new();
    tokens.expect_find_token().returning(|_| {
        tracing::warn!(thread = std::thread::current().name(), "storage-side line");
        Err(StoreError::msg("could not connect to server: Connection refused"))
    });
    let ports = Ports { tokens: Arc::new(tokens), ..w.ports.clone() };
    let app = app(web::Data::new(ApiState::new(&ports, settings()))).await;
    let body = json!({"password": NEW_PASSWORD, "secret": secret});
    let storage = Uuid::new_v4().to_string();
    let answer =
        send(&app, patch(&id, &body).insert_header(("X-Cr-Correlation-Id", storage.as_str())))
            .await;
    assert_failure(&answer, 50001);

    // A hasher that logs while it fails: the hashing lane's side.
    let mut hasher = MockPasswordHasher::new();
    hasher.expect_hash().returning(|_| {
        tracing::warn!(thread = std::thread::current().name(), "hashing-side line");
        Err(HashError::Failed("cost not allowed".into()))
    });
    let ports = Ports { hasher: Arc::new(hasher), ..w.ports.clone() };
    let app = self::app(web::Data::new(ApiState::new(&ports, settings()))).await;
    let hashing = Uuid::new_v4().to_string();
    let answer =
        send(&app, patch(&id, &body).insert_header(("X-Cr-Correlation-Id", hashing.as_str())))
            .await;
    assert_failure(&answer, 50005);

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line = |needle: &str| {
        log.lines().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("{needle}: {log}"))
    };
    let stored = line("storage-side line");
    assert!(stored.contains(&format!("correlation_id={storage}")), "{stored}");
    assert!(stored.contains("pwreset-db-"), "logged on a storage thread: {stored}");
    let hashed = line("hashing-side line");
    assert!(hashed.contains(&format!("correlation_id={hashing}")), "{hashed}");
    assert!(hashed.contains("pwreset-hash-"), "logged on a hashing thread: {hashed}");
}

#[actix_web::test]
async fn hasher_failure_is_50005_and_nothing_changes() {
    let w = World::new();
    w.user("hash@example.com");
    let (id, secret) = w.link("hash@example.com");
    let mut hasher = MockPasswordHasher::new();
    hasher.expect_hash().returning(|_| Err(HashError::Failed("cost not allowed".into())));
    let ports = Ports { hasher: Arc::new(hasher), ..w.ports.clone() };
    let app = app(web::Data::new(ApiState::new(&ports, settings()))).await;
    let body = json!({"password": NEW_PASSWORD, "secret": secret});
    assert_failure(&send(&app, patch(&id, &body)).await, 50005);
    assert!(w.password_is("hash@example.com", OLD_PASSWORD));

    let real = self::app(w.state(settings())).await;
    assert_eq!(send(&real, patch(&id, &body)).await.2["code"], 0, "the secret survived");
}

#[actix_web::test]
async fn unknown_routes_and_methods_get_envelopes() {
    let w = World::new();
    let app = app(w.state(settings())).await;
    let (status, _, body) = send(&app, test::TestRequest::get().uri("/api/v4/nope")).await;
    assert_eq!((status, body["code"].as_i64()), (StatusCode::NOT_FOUND, Some(404)));
    // Every route answers other methods with 405 and the `Allow` header RFC
    // 9110 requires (schemathesis found it missing).
    for (uri, allowed) in [
        ("/api/v4/user/reset/abc", "PATCH"),
        ("/api/v4/user/reset", "POST"),
        ("/api/v4/openapi.json", "GET"),
        ("/api/v4/site/config/basic", "GET"),
        ("/api/v4/site/config/login", "GET"),
        ("/api/v4/session/prepare", "GET"),
        ("/api/v4/session/token/refresh", "POST"),
    ] {
        let other = if allowed == "GET" { Method::DELETE } else { Method::GET };
        for method in [other, Method::TRACE] {
            let res = test::call_service(
                &app,
                test::TestRequest::default().method(method.clone()).uri(uri).to_request(),
            )
            .await;
            assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
            assert_eq!(res.headers().get("allow").unwrap(), allowed, "{method} {uri}");
            let body: Value = test::read_body_json(res).await;
            assert_eq!(body["code"], 405, "{method} {uri}");
        }
    }
}

#[actix_web::test]
async fn correlation_ids_are_taken_when_valid_and_minted_otherwise() {
    let w = World::new();
    let app = app(w.state(settings())).await;
    let body = json!({"password": NEW_PASSWORD, "secret": "x"});
    let given = Uuid::new_v4().to_string();
    let answer =
        send(&app, patch("abc", &body).insert_header(("X-Cr-Correlation-Id", given.as_str())))
            .await;
    assert_failure(&answer, 40001);
    assert_eq!(answer.2["correlation_id"], given);

    let answer =
        send(&app, patch("abc", &body).insert_header(("X-Cr-Correlation-Id", "<script>"))).await;
    assert_failure(&answer, 40001);
    assert_ne!(answer.2["correlation_id"], "<script>");
    let fresh = send(&app, patch("abc", &body)).await;
    assert_failure(&fresh, 40001);
    assert_ne!(fresh.2["correlation_id"], answer.2["correlation_id"], "fresh per request");
}

#[actix_web::test]
async fn mounts_under_another_prefix_beside_host_routes() {
    let w = World::new();
    w.user("host@example.com");
    let (id, secret) = w.link("host@example.com");
    let settings = ApiSettings { prefix: "/auth/".into(), ..settings() };
    let app = test::init_service(
        App::new()
            .route("/host", web::get().to(|| async { "host route" }))
            .configure(pwreset_http::configure(w.state(settings))),
    )
    .await;
    let req = test::TestRequest::patch()
        .uri(&format!("/auth/user/reset/{id}"))
        .set_json(json!({"password": NEW_PASSWORD, "secret": secret}));
    assert_eq!(send(&app, req).await.2["code"], 0);
    let host =
        test::call_and_read_body(&app, test::TestRequest::get().uri("/host").to_request()).await;
    assert_eq!(host, "host route");
}

#[actix_web::test]
async fn the_seed_schema_check_bites() {
    let good = json!({
        "id": "lpua", "email": "a@b.c", "nickname": "n", "created_at": "2023-08-06T19:21:59+08:00",
        "anonymous": false, "status": "active", "avatar": null, "preferred_theme": null, "credit": null,
        "language": "en-US",
        "group": {"id": "1AI8", "name": "Admin", "permission": "/f8B", "direct_link_batch_size": 10, "trash_retention": 864000}
    });
    assert_is_seed_user(&good);
    let validator = user_validator();
    let broken = |f: fn(&mut Value)| {
        let mut v = good.clone();
        f(&mut v);
        v
    };
    for bad in [
        broken(|v| v["avatar"] = json!("")),
        broken(|v| v["created_at"] = json!("yesterday")),
        broken(|v| drop(v.as_object_mut().unwrap().remove("language"))),
        broken(|v| drop(v["group"].as_object_mut().unwrap().remove("permission"))),
        broken(|v| v["unexpected"] = json!(1)),
        broken(|v| v["credit"] = json!("many")),
    ] {
        assert!(!validator.is_valid(&bad), "{bad}");
    }
}

#[actix_web::test]
async fn refusals_do_not_wait_behind_a_reset_that_is_hashing() {
    let w = World::new();
    w.user("slow@example.com");
    w.user("other@example.com");
    let (id, secret) = w.link("slow@example.com");
    let (other_id, _) = w.link("other@example.com");
    // A hasher that holds its thread until the test lets it go.
    let (entered, hashing) = std::sync::mpsc::channel::<()>();
    let (release, held) = std::sync::mpsc::channel::<()>();
    let real = w.hasher.clone();
    let mut hasher = MockPasswordHasher::new();
    hasher.expect_hash().times(1).returning(move |password| {
        entered.send(()).unwrap();
        held.recv().unwrap();
        real.hash(password)
    });
    let ports = Ports { hasher: Arc::new(hasher), ..w.ports.clone() };
    // One storage thread: if hashing ran on it, the refusals would never run.
    let settings = ApiSettings { storage_threads: 1, ..settings() };
    let app = app(web::Data::new(ApiState::new(&ports, settings))).await;

    let reset = send(&app, patch(&id, &json!({"password": NEW_PASSWORD, "secret": secret})));
    let refusals = async {
        while hashing.try_recv().is_err() {
            actix_web::rt::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        let wrong = json!({"password": NEW_PASSWORD, "secret": "XR3EdrZXoi5jDAXJUt9yLn85WWMYmmhK"});
        let mut answers = Vec::new();
        for _ in 0..3 {
            answers.push(send(&app, patch(&other_id, &wrong)).await);
        }
        release.send(()).unwrap();
        answers
    };
    let (reset, refusals) = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        tokio::join!(reset, refusals)
    })
    .await
    .expect("refusals were answered while the reset was hashing");
    for refusal in &refusals {
        assert_failure(refusal, 40030);
    }
    assert_eq!(reset.2["code"], 0, "{}", reset.2);
    assert!(w.password_is("slow@example.com", NEW_PASSWORD));
    assert!(w.password_is("other@example.com", OLD_PASSWORD));
}
