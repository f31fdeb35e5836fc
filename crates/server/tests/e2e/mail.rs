//! The email flow against the real binary and a real SMTP server on
//! loopback: the emailed link resets the password; SMTP outages and restarts
//! lose nothing and send nothing twice.

use std::time::Duration;

use crate::support::Env;
use crate::support::smtp::{SmtpSink, decoded, free_port, link_in};
use pwreset_domain::Email;
use pwreset_domain::ports::{Outbox, PasswordHasher, UserStore};
use pwreset_infra::db::PoolOptions;
use pwreset_infra::{BcryptHasher, DatabaseUrl, DieselStore};

fn store(env: &Env) -> DieselStore {
    let url = DatabaseUrl::parse(&env.database_url).unwrap();
    DieselStore::connect(&url, &PoolOptions::for_backend(url.backend())).unwrap()
}

fn password_is(env: &Env, email: &str, password: &str) -> bool {
    let user = store(env).find_user_by_email(&Email::parse(email).unwrap()).unwrap().unwrap();
    BcryptHasher::new(4).unwrap().verify(password, &user.password_hash).unwrap()
}

fn create_user(env: &Env, email: &str) -> String {
    let user = env.cli_json(
        &["user", "create", "--email", email, "--nickname", "Jane", "--password-stdin"],
        Some("old-password\n"),
    );
    user["id"].as_str().unwrap().to_owned()
}

fn email_flow(mut env: Env) {
    let smtp = SmtpSink::start(0);
    env.set("PWRESET_MAIL", &smtp.url());
    env.set("PWRESET_MAIL_FROM", "Drive <noreply@drive.example.com>");
    let public_id = create_user(&env, "jane@example.com");
    let mut server = env.serve();

    assert_eq!(server.request_link("Jane@Example.com"), serde_json::json!({"code": 0, "msg": ""}));
    assert_eq!(
        server.request_link("nobody@example.com"),
        serde_json::json!({"code": 0, "msg": ""})
    );
    let inbox = smtp.wait_for(1, Duration::from_secs(20));
    let message = &inbox[0];
    let text = decoded(message);
    assert!(text.contains("To: jane@example.com"), "{text}");
    assert!(text.contains("From: Drive <noreply@drive.example.com>"), "{text}");
    assert!(text.contains("Subject: Reset your pwreset password"), "{text}");
    assert!(text.contains("expires at"), "{text}");
    let (id, secret) = link_in(message);
    assert_eq!(id, public_id);
    assert!(
        text.contains(&format!("https://drive.example.com/session/reset?id={id}&secret={secret}"))
    );

    let done = server.reset(&id, "brand-new-password", &secret);
    assert_eq!(done["code"], 0, "{done}");
    assert!(password_is(&env, "jane@example.com", "brand-new-password"));

    let inbox = smtp.wait_for(2, Duration::from_secs(20));
    assert!(
        decoded(&inbox[1]).contains("Subject: Your pwreset password was changed"),
        "{}",
        inbox[1]
    );
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(smtp.received().len(), 2, "one link (the unknown address got none) and one notice");
    assert_eq!(store(&env).pending().unwrap(), 0);

    assert!(server.terminate().success());
    let log = server.log();
    for leak in [secret.as_str(), "brand-new-password", "old-password", "jane@example.com", "$2b$"]
    {
        assert!(!log.contains(leak), "server log leaks {leak:?}:\n{log}");
    }
}

#[test]
fn emailed_link_resets_the_password_on_sqlite() {
    email_flow(Env::sqlite());
}

#[test]
fn emailed_link_resets_the_password_on_postgres() {
    if let Some(env) = Env::postgres() {
        email_flow(env);
    }
}

#[cfg(feature = "mysql")]
#[test]
fn emailed_link_resets_the_password_on_mysql() {
    if let Some(env) = Env::mysql() {
        email_flow(env);
    }
}

#[test]
fn smtp_down_then_up_delivers_exactly_once() {
    let mut env = Env::sqlite();
    let port = free_port();
    env.set("PWRESET_MAIL", &format!("smtp://127.0.0.1:{port}"));
    create_user(&env, "jane@example.com");
    let server = env.serve();
    assert_eq!(
        server.request_link("jane@example.com")["code"],
        0,
        "a mail server that is down never fails the request"
    );

    // Let a few attempts fail.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !server.log().contains("will retry") {
        assert!(std::time::Instant::now() < deadline, "no failed attempt logged: {}", server.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(store(&env).pending().unwrap(), 1, "the message waits");

    let smtp = SmtpSink::start(port);
    let inbox = smtp.wait_for(1, Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(smtp.received().len(), 1, "delivered exactly once");
    let (_, secret) = link_in(&inbox[0]);
    assert_eq!(server.reset(&link_in(&inbox[0]).0, "brand-new-password", &secret)["code"], 0);
}

#[test]
fn a_restart_between_queueing_and_delivery_loses_nothing() {
    for env in [Some(Env::sqlite()), Env::postgres()].into_iter().flatten() {
        let mut env = env;
        let port = free_port();
        env.set("PWRESET_MAIL", &format!("smtp://127.0.0.1:{port}"));
        create_user(&env, "jane@example.com");
        let mut first = env.serve();
        assert_eq!(first.request_link("jane@example.com")["code"], 0);
        assert!(first.terminate().success());
        assert_eq!(store(&env).pending().unwrap(), 1, "queued across the stop");

        let smtp = SmtpSink::start(port);
        let second = env.serve();
        let inbox = smtp.wait_for(1, Duration::from_secs(30));
        let (id, secret) = link_in(&inbox[0]);
        assert_eq!(second.reset(&id, "brand-new-password", &secret)["code"], 0);
        std::thread::sleep(Duration::from_millis(800));
        assert_eq!(smtp.received().len(), 2, "the link, then the notice, each once");
    }
}

#[test]
fn a_permanent_refusal_is_given_up_at_once() {
    let mut env = Env::sqlite();
    let smtp = SmtpSink::start(0);
    env.set("PWRESET_MAIL", &smtp.url());
    create_user(&env, "reject-me@example.com");
    let server = env.serve();
    assert_eq!(server.request_link("reject-me@example.com")["code"], 0);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !server.log().contains("giving up") {
        assert!(std::time::Instant::now() < deadline, "not given up: {}", server.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(store(&env).pending().unwrap(), 0);
    assert!(smtp.received().is_empty());
    let log = server.log();
    assert!(
        log.contains("r***@example.com") && !log.contains("reject-me@example.com"),
        "masked: {log}"
    );
}

/// Every log line of a whole flow — link request, email, reset, notice — at
/// the most verbose level and as JSON: none holds a secret, a password, a
/// bcrypt hash or a full email address, and every request line carries its
/// correlation id.
#[test]
fn no_log_line_leaks_anything() {
    let mut env = Env::sqlite();
    let smtp = SmtpSink::start(0);
    env.set("PWRESET_MAIL", &smtp.url());
    env.set("PWRESET_LOG_FORMAT", "json");
    env.set("RUST_LOG", "trace");
    create_user(&env, "jane.doe@example.com");
    let mut server = env.serve();
    assert_eq!(server.request_link("jane.doe@example.com")["code"], 0);
    assert_eq!(server.request_link("nobody.here@example.com")["code"], 0);
    let inbox = smtp.wait_for(1, Duration::from_secs(20));
    let (id, secret) = link_in(&inbox[0]);
    assert_eq!(server.reset(&id, "short", &secret)["code"], 40001);
    assert_eq!(
        server.reset(&id, "brand-new-password", "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ")["code"],
        40030
    );
    assert_eq!(server.reset(&id, "brand-new-password", &secret)["code"], 0);
    smtp.wait_for(2, Duration::from_secs(20));
    let hash = store(&env)
        .find_user_by_email(&Email::parse("jane.doe@example.com").unwrap())
        .unwrap()
        .unwrap()
        .password_hash
        .expose()
        .to_owned();
    assert!(server.terminate().success());

    let log = server.log();
    let lines: Vec<&str> = log.lines().collect();
    assert!(lines.len() > 20, "trace level logs plenty: {}", lines.len());
    let mut with_correlation = 0;
    for line in &lines {
        let event: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        for leak in [
            secret.as_str(),
            "brand-new-password",
            "old-password",
            &hash,
            &hash[7..],
            "jane.doe@example.com",
            "nobody.here@example.com",
        ] {
            assert!(!line.contains(leak), "leaks {leak:?}: {line}");
        }
        if event["message"] == "request finished" {
            assert!(line.contains("correlation_id"), "{line}");
            with_correlation += 1;
        }
    }
    assert_eq!(with_correlation, 5, "one line per request, each with its correlation id");
    assert!(log.contains("j***@example.com"), "addresses appear masked");
}

/// `config check --connect` reaches the database, the mail server and Redis
/// without sending or creating anything; `mail test` sends one email.
#[test]
fn config_check_connects_and_mail_test_sends_one_email() {
    let mut env = Env::sqlite();
    let smtp = SmtpSink::start(0);
    env.set("PWRESET_MAIL", &smtp.url());
    let dead_port = free_port();
    env.set("PWRESET_REDIS_URL", &format!("redis://:hunter2@127.0.0.1:{dead_port}"));

    let out = env.cli_as_is(&["config", "check", "--connect"], None);
    assert_eq!(out.status.code(), Some(1), "Redis does not answer");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let connections = &report["connections"];
    assert_eq!(connections["database"]["ok"], true, "{report}");
    assert!(connections["database"]["detail"].as_str().unwrap().contains("does not exist yet"));
    assert_eq!(connections["mail"]["ok"], true, "{report}");
    assert_eq!(connections["redis"]["ok"], false, "{report}");
    let why = connections["redis"]["detail"].as_str().unwrap();
    assert!(why.starts_with("Redis is unavailable: "), "{why}");
    assert_eq!(why.matches("refused").count(), 1, "the cause, said once: {why}");
    assert!(!report.to_string().contains("hunter2"), "no password in the report");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot reach: redis"), "{stderr}");
    assert!(smtp.received().is_empty(), "--connect sends nothing");
    let db = env.database_url.strip_prefix("sqlite://").unwrap();
    assert!(!std::path::Path::new(db).exists(), "--connect creates nothing");

    env.vars.retain(|(k, _)| k != "PWRESET_REDIS_URL");
    let report = env.cli_json(&["config", "check", "--connect"], None);
    assert!(report["connections"].get("redis").is_none());

    let sent = env.cli_json(&["mail", "test", "--to", "ops@example.com"], None);
    assert_eq!(sent["sent"], true);
    assert_eq!(sent["to"], "o***@example.com");
    let inbox = smtp.wait_for(1, Duration::from_secs(10));
    assert!(inbox[0].contains("Subject: [pwreset] Test email"), "{}", inbox[0]);
    assert!(inbox[0].contains("ops@example.com"));

    env.set("PWRESET_MAIL", &format!("smtp://127.0.0.1:{dead_port}"));
    let out = env.cli_as_is(&["mail", "test", "--to", "ops@example.com"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not sent"));
    let report = env.cli_as_is(&["config", "check", "--connect"], None);
    let report: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(report["connections"]["mail"]["ok"], false, "{report}");
}

/// An operator exports the built-in templates, edits one, and the emails
/// change; a template that would not render stops every command at start,
/// naming the file and line.
#[test]
fn templates_from_a_folder_write_the_emails_and_a_broken_one_stops_the_start() {
    let mut env = Env::sqlite();
    let smtp = SmtpSink::start(0);
    env.set("PWRESET_MAIL", &smtp.url());
    let dir = env.dir.path().join("templates");
    let dir_text = dir.display().to_string();
    let exported = env.cli_json(&["mail", "export-templates", "--out", &dir_text], None);
    assert_eq!(exported["written"].as_array().unwrap().len(), 12, "{exported}");
    let again = env.cli_json(&["mail", "export-templates", "--out", &dir_text], None);
    assert_eq!(again["written"], serde_json::json!([]), "nothing is overwritten");
    assert_eq!(again["kept"].as_array().unwrap().len(), 12);

    std::fs::write(dir.join("en-US/reset-link.subject"), "{{ site_name }}: your reset link\n")
        .unwrap();
    env.set("PWRESET_TEMPLATES_DIR", &dir_text);
    let check = env.cli_json(&["config", "check"], None);
    assert_eq!(
        check["PWRESET_TEMPLATES_DIR"],
        format!("{dir_text} (languages: en-US, zh-CN)"),
        "{check}"
    );
    create_user(&env, "jane@example.com");
    let server = env.serve();
    assert_eq!(server.request_link("jane@example.com")["code"], 0);
    let inbox = smtp.wait_for(1, Duration::from_secs(20));
    let text = decoded(&inbox[0]);
    assert!(text.contains("Subject: pwreset: your reset link"), "{text}");
    let (id, secret) = link_in(&inbox[0]);
    assert!(
        text.contains(&format!("https://drive.example.com/session/reset?id={id}&secret={secret}"))
    );
    drop(server);

    std::fs::write(dir.join("en-US/reset-link.txt"), "Hello,\n\n{{ url }}\n{{ expires }}\n")
        .unwrap();
    for args in [&["config", "check"][..], &["serve"][..]] {
        let out = env.cli_as_is(args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).trim(),
            format!(
                "pwreset: configuration error: PWRESET_TEMPLATES_DIR: {dir_text}/en-US/reset-link.txt: \
                 unknown variable expires; the reset-link templates know site_name, nickname, email, \
                 url, expires_at, ttl, ttl_minutes, language, subject"
            ),
            "{args:?}"
        );
    }
}
