//! A bare actix-web JSON handler: the same route and body as the reset
//! endpoint, no storage, no hashing, a fixed answer. The refusal path's
//! throughput is measured against it.

use actix_web::{App, HttpResponse, HttpServer, web};
use serde::Deserialize;

#[derive(Deserialize)]
struct Body {
    #[allow(dead_code)]
    password: String,
    #[allow(dead_code)]
    secret: String,
}

async fn handler(_id: web::Path<String>, _body: web::Json<Body>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"code": 40030, "msg": "Link is expired"}))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:5299".into());
    HttpServer::new(|| {
        App::new()
            .app_data(web::JsonConfig::default().limit(16 * 1024))
            .route("/api/v4/user/reset/{id}", web::patch().to(handler))
    })
    .bind(bind)?
    .run()
    .await
}
