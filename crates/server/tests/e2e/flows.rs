//! End to end against the real binary: a user and a link made with the CLI,
//! the password reset over HTTP, the result checked in the database.

use std::sync::Arc;
use std::time::Duration;

use crate::support::{Env, http};
use chrono::{DateTime, Utc};
use pwreset_domain::Email;
use pwreset_domain::ports::{PasswordHasher, UserStore};
use pwreset_infra::db::PoolOptions;
use pwreset_infra::{BcryptHasher, DatabaseUrl, DieselStore};

const OLD: &str = "old-password";
const NEW: &str = "brand-new-password";

fn stored_password_is(env: &Env, email: &str, password: &str) -> bool {
    let url = DatabaseUrl::parse(&env.database_url).unwrap();
    let store = DieselStore::connect(&url, &PoolOptions::for_backend(url.backend())).unwrap();
    let user = store.find_user_by_email(&Email::parse(email).unwrap()).unwrap().unwrap();
    let hasher = Arc::new(BcryptHasher::new(4).unwrap());
    assert!(user.password_hash.expose().starts_with("$2b$04$"));
    hasher.verify(password, &user.password_hash).unwrap()
}

fn reset_flow(env: &Env) {
    let user = env.cli_json(
        &[
            "user",
            "create",
            "--email",
            "Jane@Example.com",
            "--nickname",
            "Jane",
            "--password-stdin",
        ],
        Some(&format!("{OLD}\n")),
    );
    let public_id = user["id"].as_str().unwrap().to_owned();
    assert_eq!(user["email"], "Jane@Example.com");
    assert_eq!(user["group"]["name"], "User");
    assert!(stored_password_is(env, "jane@example.com", OLD));

    let issued = env.cli_json(&["token", "issue", "--email", "jane@example.com"], None);
    let secret = issued["secret"].as_str().unwrap().to_owned();
    assert_eq!(issued["user_id"], public_id.as_str());
    assert_eq!(
        issued["url"],
        format!("https://drive.example.com/session/reset?id={public_id}&secret={secret}")
    );
    let expires: DateTime<Utc> = issued["expires_at"].as_str().unwrap().parse().unwrap();
    let ttl = expires - Utc::now();
    assert!(ttl > chrono::Duration::minutes(59) && ttl <= chrono::Duration::hours(1), "{ttl}");

    let mut server = env.serve();
    let wrong = server.reset(&public_id, NEW, "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ");
    assert_eq!(wrong["code"], 40030, "{wrong}");
    let done = server.reset(&public_id, NEW, &secret);
    assert_eq!(done["code"], 0, "{done}");
    assert_eq!(done["data"]["id"], public_id.as_str());
    assert_eq!(done["data"]["email"], "Jane@Example.com");

    assert!(stored_password_is(env, "jane@example.com", NEW), "the new password verifies");
    assert!(!stored_password_is(env, "jane@example.com", OLD), "the old one no longer does");

    let replay = server.reset(&public_id, "yet-another-pw", &secret);
    assert_eq!(replay["code"], 40030, "{replay}");
    assert!(stored_password_is(env, "jane@example.com", NEW));

    let status = server.terminate();
    assert!(status.success(), "graceful exit on SIGTERM: {status}");
    let log = server.log();
    assert!(log.contains("pwreset stopped"), "{log}");
    for leak in [secret.as_str(), NEW, OLD, "$2b$"] {
        assert!(!log.contains(leak), "server log leaks {leak:?}:\n{log}");
    }
}

#[test]
fn reset_end_to_end_on_sqlite() {
    reset_flow(&Env::sqlite());
}

#[cfg(feature = "mysql")]
#[test]
fn reset_end_to_end_on_mysql() {
    if let Some(env) = Env::mysql() {
        reset_flow(&env);
    }
}

#[test]
fn reset_end_to_end_on_postgres() {
    if let Some(env) = Env::postgres() {
        reset_flow(&env);
    }
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn cli_refusals_exit_non_zero_with_a_message() {
    let env = Env::sqlite();
    env.cli_json(&["user", "create", "--email", "a@example.com", "--nickname", "A"], None);

    let out = env.cli(&["token", "issue", "--email", "nobody@example.com"], None);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert!(stderr(&out).contains("no user has this email address"), "{}", stderr(&out));

    let out = env.cli(&["user", "create", "--email", "A@EXAMPLE.com", "--nickname", "A2"], None);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));

    env.cli_json(
        &[
            "user",
            "create",
            "--email",
            "b@example.com",
            "--nickname",
            "B",
            "--status",
            "manual_banned",
            "--group",
            "3",
        ],
        None,
    );
    let out = env.cli(&["token", "issue", "--email", "b@example.com"], None);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("manual_banned"), "{}", stderr(&out));

    let out = env.cli(
        &["user", "create", "--email", "c@example.com", "--nickname", "C", "--group", "Nope"],
        None,
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("group Nope does not exist"), "{}", stderr(&out));

    let out = env.cli(
        &["user", "create", "--email", "d@example.com", "--nickname", "D", "--password-stdin"],
        Some("short\n"),
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("at least 6 characters"), "{}", stderr(&out));
}

#[test]
fn bad_configuration_stops_with_one_line_naming_the_setting() {
    let mut env = Env::sqlite();
    env.set("PWRESET_BCRYPT_COST", "3");
    let out = env.cli(&["migrate"], None);
    assert_eq!(out.status.code(), Some(2));
    let text = stderr(&out);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("PWRESET_BCRYPT_COST"), "{text}");

    let mut env = Env::sqlite();
    env.set("PWRESET_DATABASE_URL", "postgres://nobody@127.0.0.1:1/none?connect_timeout=2");
    let out = env.cli(&["migrate"], None);
    assert!(!out.status.success());
    let text = stderr(&out);
    assert!(
        text.starts_with("pwreset: cannot connect to postgres://nobody@127.0.0.1:1/none"),
        "{text}"
    );
    // The driver's own error, said once.
    assert_eq!(text.matches("Connection refused").count(), 1, "{text}");
}

#[test]
fn version_names_the_commit_and_secrets_come_from_files() {
    let env = Env::sqlite();
    let out = env.cli(&["--version"], None);
    assert!(out.status.success());
    let version = String::from_utf8(out.stdout).unwrap();
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8(o.stdout).unwrap().trim().to_owned());
    match head {
        Some(commit) => {
            assert_eq!(
                version.trim(),
                format!("pwreset {} (commit {commit})", env!("CARGO_PKG_VERSION"))
            );
        }
        None => assert_eq!(version.trim(), format!("pwreset {}", env!("CARGO_PKG_VERSION"))),
    }

    // The database URL from a file, as a container secret; a TOML error
    // names its line and column.
    let mut env = Env::sqlite();
    let url = env.database_url.clone();
    let secret = env.dir.path().join("db-url");
    std::fs::write(&secret, format!("{url}\n")).unwrap();
    env.vars.retain(|(k, _)| k != "PWRESET_DATABASE_URL");
    env.set("PWRESET_DATABASE_URL_FILE", secret.to_str().unwrap());
    let checked = env.cli_json(&["config", "check"], None);
    assert_eq!(checked["PWRESET_DATABASE_URL"], url.as_str(), "{checked}");
    assert_eq!(checked["sources"]["PWRESET_DATABASE_URL"], "env file");
    let file = env.dir.path().join("pwreset.toml");
    std::fs::write(&file, "site_name = \"Drive\"\nbcrypt_cost = ten\n").unwrap();
    let out = env.cli(&["--config", file.to_str().unwrap(), "config", "check"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("pwreset.toml: line 2, column 15:"), "{}", stderr(&out));
}

/// Only `serve` and `migrate` change the schema: any other command on a
/// database that is not up to date stops with a line naming the fix, and
/// `migrate --status` says what is pending without changing anything.
fn only_serve_and_migrate_change_the_schema(env: &Env) {
    let status = |env: &Env| -> serde_json::Value {
        let out = env.cli_as_is(&["migrate", "--status"], None);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let before = status(env);
    let total = before["migrations"].as_array().unwrap().len();
    assert!(total >= 2, "{before}");
    assert_eq!(before["pending"], total, "{before}");
    assert_eq!(before["tables"], "pwreset");
    assert!(before["migrations"].as_array().unwrap().iter().all(|m| m["applied"] == false));
    if let Some(path) = env.database_url.strip_prefix("sqlite://") {
        assert!(!std::path::Path::new(path).exists(), "--status created the database");
    }

    for args in [
        &["audit", "list"][..],
        &["token", "sweep"],
        &["token", "issue", "--email", "a@example.com"],
    ] {
        let out = env.cli_as_is(args, None);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let text = stderr(&out);
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            text.contains("not up to date") && text.contains("run `pwreset migrate` first"),
            "{text}"
        );
    }
    assert_eq!(status(env)["pending"], total, "refusing changed nothing");

    // serve with PWRESET_MIGRATE_ON_START=false refuses too.
    let out = env.cli_with(&[("PWRESET_MIGRATE_ON_START", "false")], &["serve"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("run `pwreset migrate` first"), "{}", stderr(&out));

    let out = env.cli_as_is(&["migrate"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let after = status(env);
    assert_eq!(after["pending"], 0, "{after}");
    assert!(after["migrations"].as_array().unwrap().iter().all(|m| m["applied"] == true));
    let out = env.cli_as_is(&["audit", "list"], None);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn only_serve_and_migrate_change_the_schema_on_sqlite() {
    only_serve_and_migrate_change_the_schema(&Env::sqlite());
}

#[test]
fn only_serve_and_migrate_change_the_schema_on_postgres() {
    if let Some(env) = Env::postgres() {
        only_serve_and_migrate_change_the_schema(&env);
    }
}

#[test]
fn a_configured_salt_must_match_the_stored_one() {
    let mut env = Env::sqlite();
    env.set("PWRESET_HASHID_SALT", "first salt");
    let first =
        env.cli_json(&["user", "create", "--email", "s@example.com", "--nickname", "S"], None);
    env.set("PWRESET_HASHID_SALT", "second salt");
    let out = env.cli(&["migrate"], None);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("differs from the salt this database already uses"),
        "{}",
        stderr(&out)
    );
    // Unset, the stored salt is used: ids stay the same.
    env.vars.retain(|(k, _)| k != "PWRESET_HASHID_SALT");
    let issued = env.cli_json(&["token", "issue", "--email", "s@example.com"], None);
    assert_eq!(issued["user_id"], first["id"]);
}

#[test]
fn a_frontend_build_takes_over_the_site_root_and_session_pages() {
    let mut env = Env::sqlite();
    let build = env.dir.path().join("build");
    std::fs::create_dir_all(build.join("assets")).unwrap();
    std::fs::write(
        build.join("index.html"),
        "<title>{siteName}</title><div id=app></div>{siteScript}",
    )
    .unwrap();
    std::fs::write(build.join("assets/index-4f9a2b1c.js"), "/* app */").unwrap();
    env.set("PWRESET_FRONTEND_DIR", build.to_str().unwrap());
    env.set("PWRESET_SITE_NAME", "Drive");
    let server = env.serve();
    let get = |path: &str| http::get_ok(&format!("{}{path}", server.base));
    for path in ["/", "/session/reset?id=a&secret=b", "/session/forgot"] {
        let page = get(path).body;
        assert_eq!(
            page, "<title>Drive</title><div id=app></div>",
            "{path}: the app's index, not pwreset's page"
        );
    }
    let asset = get("/assets/index-4f9a2b1c.js");
    assert_eq!(asset.header("cache-control"), Some("public, max-age=31536000, immutable"));
    let basic = get("/api/v4/site/config/basic").json();
    assert_eq!(basic["data"]["title"], "Drive");
    // Raw requests: an HTTP client would normalise these paths before sending.
    let addr = server.base.trim_start_matches("http://").to_owned();
    for path in ["/../Cargo.toml", "/%2e%2e/secret", "/assets/..%2f..%2fsecret"] {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 404"), "{path}: {answer}");
    }

    let mut bad = Env::sqlite();
    bad.set("PWRESET_FRONTEND_DIR", "/nonexistent");
    let out = bad.cli(&["serve"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("PWRESET_FRONTEND_DIR"), "{}", stderr(&out));
}

#[test]
fn the_audit_trail_and_the_sweep_from_the_command_line() {
    let mut env = Env::sqlite();
    let user =
        env.cli_json(&["user", "create", "--email", "a@example.com", "--nickname", "A"], None);
    let id = user["id"].as_str().unwrap().to_owned();
    let issued = env.cli_json(&["token", "issue", "--email", "a@example.com"], None);
    let mut server = env.serve();
    let secret = issued["secret"].as_str().unwrap();
    assert_eq!(server.reset(&id, NEW, "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ")["code"], 40030);
    assert_eq!(server.reset(&id, NEW, secret)["code"], 0);
    assert!(server.terminate().success(), "shutdown writes the buffered refusals");

    let events = env.cli_json(&["audit", "list", "--user", &id], None);
    let kinds: Vec<&str> =
        events.as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["reset_succeeded", "reset_refused", "link_issued"], "newest first");
    assert_eq!(events[1]["detail"], "reason=unknown");
    assert_eq!(events[0]["user_id"], id.as_str());
    assert!(events[0]["client_ip"].as_str().unwrap().starts_with("127.0.0.1"));
    assert!(events[0]["correlation_id"].as_str().unwrap().len() == 36);
    let text = events.to_string();
    assert!(!text.contains(secret) && !text.contains(NEW), "no secrets in the trail");
    let none = env.cli_json(&["audit", "list", "--since", "1s", "--user", &id], None);
    std::thread::sleep(Duration::from_millis(1100));
    let later = env.cli_json(&["audit", "list", "--since", "1s"], None);
    assert!(none.as_array().unwrap().len() <= 3 && later.as_array().unwrap().is_empty());
    let bad = env.cli(&["audit", "list", "--user", "nope"], None);
    assert!(!bad.status.success() && stderr(&bad).contains("--user"));

    // Used and revoked tokens older than the retention go; so do sent emails.
    env.set("PWRESET_RETENTION", "1s");
    let swept = env.cli_json(&["token", "sweep"], None);
    assert_eq!(swept["tokens"], 1, "{swept}");
    assert_eq!(env.cli_json(&["token", "sweep"], None)["tokens"], 0, "idempotent");
}

#[test]
fn health_readiness_and_metrics_of_the_real_server() {
    let mut env = Env::sqlite();
    let ops_port = crate::support::smtp::free_port();
    env.set("PWRESET_OPS_BIND", &format!("127.0.0.1:{ops_port}"));
    let server = env.serve();
    let get = |path: &str| http::get_ok(&format!("{}{path}", server.base));
    assert_eq!(get("/healthz").body, r#"{"status":"ok"}"#);
    assert_eq!(get("/readyz").body, r#"{"status":"ready"}"#);
    let health = get("/healthz");
    for (header, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
    ] {
        assert_eq!(health.header(header), Some(value), "{header}");
    }
    // /metrics tells outcomes of link requests apart: never on the public listener.
    let public = http::get(&format!("{}/metrics", server.base)).unwrap();
    assert_eq!(public.status, 404, "{public:?}");

    let ops = |path: &str| http::get_ok(&format!("http://127.0.0.1:{ops_port}{path}"));
    assert_eq!(ops("/readyz").body, r#"{"status":"ready"}"#);
    let metrics = ops("/metrics").body;
    for name in [
        "pwreset_db_pool_connections ",
        "pwreset_outbox_pending 0",
        "pwreset_bcrypt_in_flight 0",
        "pwreset_http_requests_total{route=\"/readyz\",method=\"GET\",status=\"200\",code=\"-\"} 2",
    ] {
        assert!(metrics.contains(name), "{name} missing:\n{metrics}");
    }
    let api = http::get(&format!("http://127.0.0.1:{ops_port}/api/v4/openapi.json")).unwrap();
    assert_eq!(api.status, 404, "the API is not on the ops listener");
}

#[test]
fn config_check_shows_the_layered_configuration_without_secrets() {
    let mut env = Env::sqlite();
    let file = env.dir.path().join("pwreset.toml");
    std::fs::write(
        &file,
        "bcrypt_cost = 11\nmail = \"smtps://bot:hunter2@mail.example.com\"\nsite_name = \"File\"\n",
    )
    .unwrap();
    env.set("PWRESET_SITE_NAME", "Env");
    let shown = env.cli_json(&["--config", file.to_str().unwrap(), "config", "check"], None);
    assert_eq!(shown["PWRESET_BCRYPT_COST"], "4", "the environment wins over the file");
    assert_eq!(shown["PWRESET_SITE_NAME"], "Env");
    assert_eq!(shown["PWRESET_MAIL"], "smtps://bot:***@mail.example.com");
    assert!(!shown.to_string().contains("hunter2"));

    env.vars.retain(|(k, _)| k != "PWRESET_BCRYPT_COST");
    let shown = env.cli_json(&["--config", file.to_str().unwrap(), "config", "check"], None);
    assert_eq!(shown["PWRESET_BCRYPT_COST"], "11", "the file fills what the environment leaves");
    // Each setting with where its value came from.
    let sources = &shown["sources"];
    assert_eq!(sources["PWRESET_BCRYPT_COST"], "config file");
    assert_eq!(sources["PWRESET_MAIL"], "config file");
    assert_eq!(sources["PWRESET_SITE_NAME"], "env", "the environment wins");
    assert_eq!(sources["PWRESET_TOKEN_TTL"], "default");
    let listed = shown.as_object().unwrap().keys().filter(|k| k.starts_with("PWRESET_")).count();
    assert_eq!(sources.as_object().unwrap().len(), listed, "a source for every setting");

    std::fs::write(&file, "bcrypt_cots = 11\n").unwrap();
    let out = env.cli(&["--config", file.to_str().unwrap(), "config", "check"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown setting \"bcrypt_cots\""), "{}", stderr(&out));
}

/// The administration commands against the real binary: users listed a page
/// at a time, shown, banned and re-activated; the outbox listed without a
/// body and a waiting message made due.
fn administration(mut env: Env) {
    let create = |env: &Env, email: &str| {
        env.cli_json(
            &["user", "create", "--email", email, "--nickname", "N", "--password-stdin"],
            Some("old-password\n"),
        )
    };
    let ann = create(&env, "ann@example.com");
    let bob = create(&env, "bob@example.com");
    let cid = create(&env, "cid@example.com");

    let all = env.cli_json(&["user", "list"], None);
    let emails = |page: &serde_json::Value| -> Vec<String> {
        page["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["email"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(emails(&all), ["ann@example.com", "bob@example.com", "cid@example.com"]);
    assert_eq!(all["next"], serde_json::Value::Null);
    let first = env.cli_json(&["user", "list", "--limit", "2"], None);
    assert_eq!(emails(&first), ["ann@example.com", "bob@example.com"]);
    assert_eq!(first["next"], bob["id"]);
    let rest = env.cli_json(
        &["user", "list", "--limit", "2", "--after", first["next"].as_str().unwrap()],
        None,
    );
    assert_eq!(emails(&rest), ["cid@example.com"]);

    let shown = env.cli_json(&["user", "show", "--id", ann["id"].as_str().unwrap()], None);
    assert_eq!(shown, env.cli_json(&["user", "show", "--email", "ANN@example.com"], None));
    assert_eq!(shown["email"], "ann@example.com");
    let out = env.cli(&["user", "show", "--email", "nobody@example.com"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no user has this email address"), "{}", stderr(&out));
    let out = env.cli(&["user", "show"], None);
    assert_eq!(out.status.code(), Some(2), "one of --email and --id is required");

    let banned = env.cli_json(
        &["user", "set-status", "--email", "cid@example.com", "--status", "manual_banned"],
        None,
    );
    assert_eq!(banned["status"], "manual_banned");
    let only = env.cli_json(&["user", "list", "--status", "manual_banned"], None);
    assert_eq!(emails(&only), ["cid@example.com"]);
    let out = env.cli(&["token", "issue", "--email", "cid@example.com"], None);
    assert!(stderr(&out).contains("manual_banned"), "a banned user gets no link: {}", stderr(&out));
    let back = env.cli_json(
        &["user", "set-status", "--id", cid["id"].as_str().unwrap(), "--status", "active"],
        None,
    );
    assert_eq!(back["status"], "active");
    env.cli_json(&["token", "issue", "--email", "cid@example.com"], None);
    let out =
        env.cli(&["user", "set-status", "--email", "cid@example.com", "--status", "gone"], None);
    assert_eq!(out.status.code(), Some(2), "statuses are a fixed set");

    // A link request while the mail server is down: the email waits for
    // its retry (10 minutes away); the outbox shows it, never its link.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    env.set("PWRESET_MAIL", &format!("smtp://127.0.0.1:{port}"));
    env.set("PWRESET_MAIL_RETRY_BASE", "10m");
    let server = env.serve();
    assert_eq!(server.request_link("ann@example.com")["code"], 0);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let pending = loop {
        let listed = env.cli_json(&["outbox", "list"], None);
        if listed["messages"][0]["attempts"] == 1 {
            break listed;
        }
        assert!(std::time::Instant::now() < deadline, "no failed attempt: {listed}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let message = &pending["messages"][0];
    assert_eq!(
        (message["recipient"].as_str(), message["kind"].as_str()),
        (Some("ann@example.com"), Some("reset_link"))
    );
    assert!(message["last_error"].as_str().is_some_and(|e| !e.is_empty()), "{message}");
    let keys: Vec<&String> = message.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 8, "{keys:?}");
    assert!(!pending.to_string().contains("secret="), "no link in the listing: {pending}");
    assert_eq!(
        env.cli_json(&["outbox", "list", "--status", "failed"], None)["messages"],
        serde_json::json!([])
    );

    // Made due now, the running server tries it again at its next poll
    // (without the retry it would wait 10 minutes).
    let id = message["id"].as_i64().unwrap().to_string();
    let retried = env.cli_json(&["outbox", "retry", "--id", &id], None);
    assert_eq!(retried["rescheduled"], 1);
    loop {
        let listed = env.cli_json(&["outbox", "list"], None);
        if listed["messages"][0]["attempts"] == 2 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not tried again: {listed}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = env.cli(&["outbox", "retry", "--id", "999999"], None);
    assert_eq!(out.status.code(), Some(1));
    drop(server);
}

#[test]
fn administration_on_sqlite() {
    administration(Env::sqlite());
}

#[test]
fn administration_on_postgres() {
    if let Some(env) = Env::postgres() {
        administration(env);
    }
}

/// `pwreset health` is what a container's HEALTHCHECK runs: 0 and the body
/// while the server answers, 1 and a line naming the address once it is gone.
#[test]
fn health_asks_the_running_server() {
    let env = Env::sqlite();
    let mut server = env.serve();
    let bind = server.base.trim_start_matches("http://").to_owned();
    let wildcard = bind.replace("127.0.0.1", "0.0.0.0");
    for (args, body) in [
        (&["health"][..], r#"{"status":"ok"}"#),
        (&["health", "--ready"][..], r#"{"status":"ready"}"#),
    ] {
        let out = env.cli_with(&[("PWRESET_BIND", &wildcard)], args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), body);
    }
    server.kill();
    let out = env.cli_with(&[("PWRESET_BIND", &bind)], &["health", "--timeout", "1s"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with(&format!("pwreset: {bind}/healthz: ")), "{}", stderr(&out));
}
