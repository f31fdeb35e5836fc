//! A pwreset API over the in-memory store, a bcrypt hasher at cost 4 and a
//! clock the tests move, plus helpers to call it and check envelopes.

use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::{App, test, web};
use chrono::{DateTime, Duration, SubsecRound, Utc};
use pwreset_domain::ports::{Clock, PasswordHasher, Ports, UserStore};
use pwreset_domain::usecases::{
    CreateUser, CreateUserCommand, IssueLinkCommand, IssueResetLink, LinkPolicy,
};
use pwreset_domain::{
    ClientInfo, Email, Language, NewPassword, UserId, UserStatus, ports::GroupRef,
};
use pwreset_http::{ApiSettings, ApiState, RateLimits};
use pwreset_infra::{BcryptHasher, HashidCodec, MemoryStore, OsRandom, TemplateComposer};
use serde_json::Value;
use uuid::Uuid;

pub const OLD_PASSWORD: &str = "old-password";

/// Default settings without rate limits or the link-request time floor
/// (their own tests turn them on).
pub fn settings() -> ApiSettings {
    ApiSettings {
        rate_limits: RateLimits::off(),
        link_request_min_time: StdDuration::ZERO,
        ..ApiSettings::default()
    }
}
pub const NEW_PASSWORD: &str = "n3w-Passw0rd!";

/// A clock tests can move.
#[derive(Debug)]
pub struct TestClock(Mutex<DateTime<Utc>>);

impl TestClock {
    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

pub struct World {
    pub store: Arc<MemoryStore>,
    pub hasher: Arc<BcryptHasher>,
    pub clock: Arc<TestClock>,
    pub ports: Ports,
}

impl World {
    pub fn new() -> Self {
        let store = Arc::new(MemoryStore::new());
        let hasher = Arc::new(BcryptHasher::new(4).unwrap());
        let clock = Arc::new(TestClock(Mutex::new(Utc::now().trunc_subsecs(6))));
        let ports = Ports {
            users: store.clone(),
            tokens: store.clone(),
            hasher: hasher.clone(),
            clock: clock.clone(),
            random: Arc::new(OsRandom),
            ids: Arc::new(HashidCodec::new("test salt").unwrap()),
            audit: store.clone(),
            refusals: store.clone(),
            mail: Arc::new(TemplateComposer::new("Test Drive", Language::EnUs)),
        };
        Self { store, hasher, clock, ports }
    }

    pub fn user(&self, email: &str) -> UserId {
        CreateUser::new(&self.ports)
            .execute(CreateUserCommand {
                email: Email::parse(email).unwrap(),
                nickname: "Jane Doe".into(),
                password: Some(NewPassword::parse(OLD_PASSWORD.into()).unwrap()),
                group: GroupRef::Name("User".into()),
                status: UserStatus::Active,
            })
            .unwrap()
            .user
            .id
    }

    /// Issues a link for `email`; returns (public id, secret).
    pub fn link(&self, email: &str) -> (String, String) {
        let policy = LinkPolicy { ttl: Duration::hours(1), site_url: "http://localhost".into() };
        let link = IssueResetLink::new(&self.ports, policy)
            .execute(IssueLinkCommand {
                email: Email::parse(email).unwrap(),
                client: ClientInfo::default(),
                channel: "test",
            })
            .unwrap();
        (link.public_id, link.secret.expose().to_owned())
    }

    pub fn password_is(&self, email: &str, password: &str) -> bool {
        let user = self.store.find_user_by_email(&Email::parse(email).unwrap()).unwrap().unwrap();
        self.hasher.verify(password, &user.password_hash).unwrap()
    }

    pub fn state(&self, settings: ApiSettings) -> web::Data<ApiState> {
        web::Data::new(ApiState::new(&self.ports, settings))
    }
}

pub async fn app(
    state: web::Data<ApiState>,
) -> impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error> {
    test::init_service(App::new().configure(pwreset_http::configure(state))).await
}

pub fn patch(id: &str, body: &Value) -> test::TestRequest {
    test::TestRequest::patch().uri(&format!("/api/v4/user/reset/{id}")).set_json(body)
}

/// Sends a request; returns HTTP status, correlation header and parsed body.
pub async fn send(
    app: &impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
    req: test::TestRequest,
) -> (StatusCode, Option<String>, Value) {
    let res = test::call_service(app, req.to_request()).await;
    let status = res.status();
    let header = res.headers().get("x-cr-correlation-id").map(|v| v.to_str().unwrap().to_owned());
    let bytes = test::read_body(res).await;
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
    (status, header, body)
}

/// Asserts a failure envelope: HTTP 200, the code, exactly the keys
/// `code`, `msg`, `correlation_id`, and the id echoed in the header.
pub fn assert_failure(
    (status, header, body): &(StatusCode, Option<String>, Value),
    code: i64,
) -> String {
    assert_eq!(*status, StatusCode::OK, "{body}");
    assert_eq!(body["code"], code, "{body}");
    // serde_json's map is sorted, so this is the key set, not the wire order.
    let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["code", "correlation_id", "msg"], "{body}");
    let msg = body["msg"].as_str().unwrap().to_owned();
    assert!(!msg.is_empty());
    let id = body["correlation_id"].as_str().unwrap();
    Uuid::parse_str(id).unwrap();
    assert_eq!(header.as_deref(), Some(id), "header echoes the envelope's id");
    msg
}
