//! Embedding pwreset in an existing actix-web application.
//!
//! The host keeps its own routes and its own users; pwreset's API is mounted
//! under `/auth` (its JSON envelopes, rate limits and correlation ids come
//! with it), its pages under `/session`, over the in-memory store. A real
//! host would implement `UserStore`/`ResetStore`/`AuditLog` on its own
//! database and check them with the storage contract suite
//! (`crates/infra/src/contract.rs`).
//!
//! ```sh
//! cargo run -p pwreset-http --example embed
//! # then follow the printed link, or:
//! curl -X POST http://127.0.0.1:8080/auth/user/reset -H 'Content-Type: application/json' -d '{"email":"demo@example.com"}'
//! ```

#![allow(clippy::print_stdout)] // an example talks to its user on stdout

use std::sync::Arc;
use std::time::Duration;

use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use pwreset_domain::ports::{GroupRef, Ports};
use pwreset_domain::usecases::{
    CreateUser, CreateUserCommand, IssueLinkCommand, IssueResetLink, LinkPolicy,
};
use pwreset_domain::{ClientInfo, Email, Language, NewPassword, UserStatus};
use pwreset_http::{ApiSettings, ApiState, correlation_middleware, security_headers};
use pwreset_infra::{
    BcryptHasher, HashidCodec, MemoryStore, OsRandom, SystemClock, TemplateComposer,
};

async fn home() -> &'static str {
    "the host application's own page"
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    // The adapters: in memory here; the host's own database in real life.
    let store = Arc::new(MemoryStore::new());
    let ports = Ports {
        users: store.clone(),
        tokens: store.clone(),
        audit: store.clone(),
        refusals: store.clone(),
        hasher: Arc::new(BcryptHasher::new(10, 2, Duration::from_secs(10)).expect("cost 10")),
        clock: Arc::new(SystemClock),
        random: Arc::new(OsRandom),
        ids: Arc::new(HashidCodec::new("the host's salt").expect("ASCII salt")),
        mail: Arc::new(TemplateComposer::new("Host App", Language::EnUs)),
    };

    // A demo account and a link, as the host's admin tooling might make them.
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
    let policy =
        LinkPolicy { ttl: chrono::Duration::hours(1), site_url: "http://127.0.0.1:8080".into() };
    let link = IssueResetLink::new(&ports, policy.clone())
        .execute(IssueLinkCommand {
            email: Email::parse("demo@example.com").expect("valid address"),
            client: ClientInfo::default(),
            channel: "example",
        })
        .expect("a link");
    println!("open {}", link.url);

    let settings = ApiSettings { prefix: "/auth".into(), link: policy, ..ApiSettings::default() };
    let state = web::Data::new(ApiState::new(&ports, settings));
    HttpServer::new(move || {
        App::new()
            .wrap(from_fn(security_headers))
            .wrap(from_fn(correlation_middleware))
            .route("/", web::get().to(home))
            .configure(pwreset_http::configure(state.clone()))
            .configure(pwreset_http::configure_pages(state.clone()))
    })
    .bind(("127.0.0.1", 8080))?
    .run()
    .await
}
