//! Embedding pwreset in an existing actix-web application.
//!
//! The host keeps its own routes and its own users; pwreset's API is mounted
//! under `/auth` (its JSON envelopes, rate limits and correlation ids come
//! with it), its pages under `/session`, over the in-memory store, and its
//! runtime (the mail worker and the sweeper) delivers the emails — into a
//! folder of `.eml` files here. A real host would implement the storage
//! ports on its own database and check them with the storage contract suite
//! (`pwreset_infra::contract`, see docs/architecture.md).
//!
//! ```sh
//! cargo run -p pwreset-http --example embed
//! curl -X POST http://127.0.0.1:8080/auth/user/reset -H 'Content-Type: application/json' -d '{"email":"demo@example.com"}'
//! ls data/embed-outbox   # the email, with its link
//! ```

#![allow(clippy::print_stdout)] // an example talks to its user on stdout

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use pwreset_domain::ports::{GroupRef, Ports};
use pwreset_domain::usecases::{CreateUser, CreateUserCommand, LinkPolicy};
use pwreset_domain::{Email, Language, NewPassword, UserStatus};
use pwreset_http::runtime::{Runtime, RuntimeSettings};
use pwreset_http::{ApiSettings, ApiState, correlation_middleware, security_headers};
use pwreset_infra::mail::{MailTarget, transport};
use pwreset_infra::{
    BcryptHasher, HashidCodec, MemoryStore, OsRandom, SystemClock, TemplateComposer,
};

async fn home() -> &'static str {
    "the host application's own page"
}

/// Everything the host wires: the adapters, a demo account, the runtime
/// (delivering into `outbox`), and the API's state, told to wake the runtime
/// whenever a request queues an email.
fn wire(outbox: &Path) -> std::io::Result<(web::Data<ApiState>, Runtime)> {
    // The adapters: in memory here; the host's own database in real life.
    let store = Arc::new(MemoryStore::new());
    let ports = Ports {
        users: store.clone(),
        tokens: store.clone(),
        audit: store.clone(),
        refusals: store.clone(),
        hasher: Arc::new(BcryptHasher::new(10).expect("cost 10")),
        clock: Arc::new(SystemClock),
        random: Arc::new(OsRandom),
        ids: Arc::new(HashidCodec::new("the host's salt").expect("ASCII salt")),
        mail: Arc::new(TemplateComposer::new("Host App", Language::EnUs)),
    };
    // A demo account, as the host's own sign-up would make it.
    let password = NewPassword::parse("demo-password".into()).expect("valid password");
    CreateUser::new(&ports)
        .execute(CreateUserCommand {
            email: Email::parse("demo@example.com").expect("valid address"),
            nickname: "Demo".into(),
            password: Some(password),
            group: GroupRef::Name("User".into()),
            status: UserStatus::Active,
        })
        .expect("demo user");

    let mailer = transport(&MailTarget::File(outbox.to_owned()), "Host App <noreply@host.example>")
        .map_err(std::io::Error::other)?;
    let runtime = Runtime::start(
        store.clone(),
        store,
        mailer,
        ports.clock.clone(),
        RuntimeSettings::default(),
    )?;
    let settings = ApiSettings {
        prefix: "/auth".into(),
        link: LinkPolicy {
            ttl: chrono::Duration::hours(1),
            site_url: "http://127.0.0.1:8080".into(),
        },
        ..ApiSettings::default()
    };
    let state = ApiState::new(&ports, settings)
        .on_mail_queued(runtime.waker())
        .with_metrics(runtime.metrics().clone());
    Ok((web::Data::new(state), runtime))
}

/// The host's app: its own routes, and pwreset's API and pages.
fn app(
    state: web::Data<ApiState>,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .wrap(from_fn(security_headers))
        .wrap(from_fn(correlation_middleware))
        .route("/", web::get().to(home))
        .configure(pwreset_http::configure(state.clone()))
        .configure(pwreset_http::configure_pages(state))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let outbox = Path::new("data/embed-outbox");
    let (state, runtime) = wire(outbox)?;
    println!("ask for a link for demo@example.com; the email lands in {}", outbox.display());
    let served = HttpServer::new(move || app(state.clone())).bind(("127.0.0.1", 8080))?.run().await;
    runtime.stop(Duration::from_secs(10));
    served
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use actix_web::test;

    use super::*;

    /// A link request through the host's app ends as an email in the outbox,
    /// delivered by the runtime, with a link the API accepts.
    #[actix_web::test]
    async fn the_host_sends_its_reset_email() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = dir.path().join("outbox");
        let (state, runtime) = wire(&outbox).unwrap();
        let app = test::init_service(app(state)).await;

        let home = test::call_service(&app, test::TestRequest::get().uri("/").to_request()).await;
        assert!(home.status().is_success(), "the host's own route");
        let ask = test::TestRequest::post()
            .uri("/auth/user/reset")
            .set_json(serde_json::json!({"email": "demo@example.com"}))
            .to_request();
        let answer: serde_json::Value = test::call_and_read_body_json(&app, ask).await;
        assert_eq!(answer, serde_json::json!({"code": 0, "msg": ""}));

        let deadline = Instant::now() + Duration::from_secs(20);
        let email = loop {
            let files: Vec<_> = std::fs::read_dir(&outbox)
                .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
                .unwrap_or_default();
            if let Some(file) = files.iter().find(|p| p.extension().is_some_and(|e| e == "eml")) {
                break std::fs::read_to_string(file).unwrap();
            }
            assert!(Instant::now() < deadline, "no email was delivered");
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(email.contains("To: demo@example.com"), "{email}");
        let text = email.replace("=\r\n", "").replace("=3D", "=");
        let at = text.find("/session/reset?id=").expect("a link in the email");
        let link: String = text[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || "/?=&".contains(*c))
            .collect();
        let query = link.split_once('?').unwrap().1;
        let param = |name: &str| {
            query.split('&').find_map(|kv| kv.strip_prefix(&format!("{name}="))).unwrap()
        };
        let reset = test::TestRequest::patch()
            .uri(&format!("/auth/user/reset/{}", param("id")))
            .set_json(serde_json::json!({"password": "a-new-password", "secret": param("secret")}))
            .to_request();
        let done: serde_json::Value = test::call_and_read_body_json(&app, reset).await;
        assert_eq!(done["code"], 0, "{done}");
        runtime.stop(Duration::from_secs(5));
    }
}
