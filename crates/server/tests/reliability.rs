//! Reliability against the real binary: one secret, one reset, across
//! instances; crash safety under load; a database that goes away and comes
//! back.

mod support;

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use pwreset_domain::ports::{PasswordHasher, ResetStore, UserStore};
use pwreset_domain::{Email, ResetSecret};
use pwreset_infra::db::PoolOptions;
use pwreset_infra::{BcryptHasher, DatabaseUrl, DieselStore};
use support::Env;
use support::proxy::Proxy;
use support::smtp::SmtpSink;

fn store(env: &Env) -> DieselStore {
    let url = DatabaseUrl::parse(&env.database_url).unwrap();
    DieselStore::connect(&url, &PoolOptions::for_backend(url.backend())).unwrap()
}

fn hasher() -> BcryptHasher {
    BcryptHasher::new(4, 2, Duration::from_secs(10)).unwrap()
}

fn password_is(store: &DieselStore, email: &str, password: &str) -> bool {
    let user = store.find_user_by_email(&Email::parse(email).unwrap()).unwrap().unwrap();
    hasher().verify(password, &user.password_hash).unwrap()
}

/// An answer during a database outage comes within the 5 s storage wait;
/// the slack is for a loaded machine, well short of the twice-the-wait this
/// guards against.
const WITHIN_STORAGE_WAIT: Duration = Duration::from_millis(7500);

/// PATCH a reset; the envelope's code, or None when the server did not answer.
fn reset(base: &str, id: &str, password: &str, secret: &str) -> Option<i64> {
    let body = serde_json::json!({"password": password, "secret": secret}).to_string();
    let response = ureq::request("PATCH", &format!("{base}/api/v4/user/reset/{id}"))
        .timeout(Duration::from_secs(30))
        .set("Content-Type", "application/json")
        .send_string(&body)
        .ok()?;
    let envelope: serde_json::Value = serde_json::from_str(&response.into_string().ok()?).ok()?;
    envelope["code"].as_i64()
}

/// 64 concurrent resets with one secret, split across two instances on one
/// database: exactly one wins, and its password is the one stored.
fn one_secret_one_reset_across_instances(env: &Env) {
    const RACERS: usize = 64;
    let (id, secret) = env.user_with_link("race@example.com");
    let (a, b) = (env.serve(), env.serve());
    let bases = [a.base.clone(), b.base.clone()];
    let barrier = Arc::new(Barrier::new(RACERS));
    let codes: Vec<(usize, Option<i64>)> = (0..RACERS)
        .map(|i| {
            let (barrier, base, id, secret) =
                (barrier.clone(), bases[i % 2].clone(), id.clone(), secret.clone());
            std::thread::spawn(move || {
                barrier.wait();
                (i, reset(&base, &id, &format!("racer-password-{i:02}"), &secret))
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    let winners: Vec<usize> =
        codes.iter().filter(|(_, c)| *c == Some(0)).map(|(i, _)| *i).collect();
    assert_eq!(winners.len(), 1, "{codes:?}");
    assert_eq!(codes.iter().filter(|(_, c)| *c == Some(40030)).count(), RACERS - 1, "{codes:?}");
    let winner = winners[0];
    let s = store(env);
    assert!(
        password_is(&s, "race@example.com", &format!("racer-password-{winner:02}")),
        "the winner's hash is stored"
    );
    let loser = (winner + 1) % RACERS;
    assert!(!password_is(&s, "race@example.com", &format!("racer-password-{loser:02}")));
}

#[test]
fn one_secret_one_reset_across_instances_on_postgres() {
    if let Some(env) = Env::postgres() {
        one_secret_one_reset_across_instances(&env);
    }
}

#[cfg(feature = "mysql")]
#[test]
fn one_secret_one_reset_across_instances_on_mysql() {
    if let Some(env) = Env::mysql() {
        one_secret_one_reset_across_instances(&env);
    }
}

#[test]
fn one_secret_one_reset_across_instances_on_sqlite() {
    one_secret_one_reset_across_instances(&Env::sqlite());
}

/// Resets and link requests under way, then `kill -9`. Afterwards every
/// token is consumed exactly when its user's password changed, and every
/// queued email is delivered once the server is back.
fn crash_safety(mut env: Env) {
    const USERS: usize = 24;
    let smtp = SmtpSink::start(0);
    env.set("PWRESET_MAIL", &smtp.url());
    // Emails claimed by the killed process come back when their lease ends.
    env.set("PWRESET_MAIL_LEASE", "2s");
    let links: Vec<(String, String)> =
        (0..USERS).map(|i| env.user_with_link(&format!("crash{i}@example.com"))).collect();
    let mut server = env.serve();
    let base = server.base.clone();

    let resetters: Vec<_> = links
        .iter()
        .enumerate()
        .map(|(i, (id, secret))| {
            let (base, id, secret) = (base.clone(), id.clone(), secret.clone());
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis((i as u64 % 8) * 15));
                reset(&base, &id, &format!("crash-password-{i}"), &secret)
            })
        })
        .collect();
    let requester = {
        let base = base.clone();
        std::thread::spawn(move || {
            for i in 0..USERS * 4 {
                let body = serde_json::json!({"email": format!("crash{}@example.com", i % USERS)})
                    .to_string();
                let _ = ureq::post(&format!("{base}/api/v4/user/reset"))
                    .timeout(Duration::from_secs(5))
                    .set("Content-Type", "application/json")
                    .send_string(&body);
            }
        })
    };
    std::thread::sleep(Duration::from_millis(80));
    server.kill();
    let answered: Vec<Option<i64>> = resetters.into_iter().map(|t| t.join().unwrap()).collect();
    requester.join().unwrap();

    let s = store(&env);
    let mut consumed = 0;
    for (i, (_, secret)) in links.iter().enumerate() {
        let email = format!("crash{i}@example.com");
        let token = s
            .find_token(&ResetSecret::parse(secret).unwrap().digest())
            .unwrap()
            .expect("the token is kept");
        let changed = password_is(&s, &email, &format!("crash-password-{i}"));
        assert_eq!(token.used_at.is_some(), changed, "{email}: consumed ⇔ password changed");
        if changed {
            consumed += 1;
            assert!(!password_is(&s, &email, "old-password"));
        } else {
            assert!(password_is(&s, &email, "old-password"), "{email}: untouched");
        }
        if answered[i] == Some(0) {
            assert!(changed, "{email}: a reset answered 0 is durable");
        }
    }
    eprintln!("at the crash: {consumed} of {USERS} resets committed");

    // Back up: everything queued goes out.
    let _server = env.serve();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (pending, _, failed) = s.outbox_counts().unwrap();
        assert_eq!(failed, 0, "nothing given up");
        if pending == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{pending} emails still queued");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (_, sent, _) = s.outbox_counts().unwrap();
    assert!(sent > 0);
    assert!(smtp.received().len() as u64 >= sent, "every queued email was delivered");
}

#[test]
fn crash_safety_on_sqlite() {
    crash_safety(Env::sqlite());
}

#[test]
fn crash_safety_on_postgres() {
    if let Some(env) = Env::postgres() {
        crash_safety(env);
    }
}

/// The database goes away (a proxy in front of it cuts every connection and
/// refuses new ones) and comes back, with no restart of pwreset.
#[test]
fn a_database_outage_is_survived() {
    let Some(mut env) = Env::postgres() else { return };
    let (id, secret) = env.user_with_link("outage@example.com");
    let proxy = Proxy::start(&env.database_url);
    env.set("PWRESET_DATABASE_URL", &proxy.url(&env.database_url));
    let server = env.serve();
    // The HTTP status of a GET (0 when nothing answered).
    let get = |path: &str| match ureq::get(&format!("{}{path}", server.base))
        .timeout(Duration::from_secs(30))
        .call()
    {
        Ok(response) => response.status(),
        Err(ureq::Error::Status(code, _)) => code,
        Err(_) => 0,
    };

    assert_eq!(get("/readyz"), 200);

    proxy.cut();
    for _ in 0..3 {
        let started = Instant::now();
        let body =
            serde_json::json!({"password": "brand-new-password", "secret": secret}).to_string();
        let response = ureq::request("PATCH", &format!("{}/api/v4/user/reset/{id}", server.base))
            .timeout(Duration::from_secs(30))
            .set("Content-Type", "application/json")
            .send_string(&body)
            .expect("an envelope, not a dropped connection");
        let envelope: serde_json::Value =
            serde_json::from_str(&response.into_string().unwrap()).unwrap();
        assert_eq!(envelope["code"], 50001, "{envelope}");
        assert_eq!(envelope["correlation_id"].as_str().unwrap().len(), 36);
        assert!(
            started.elapsed() < WITHIN_STORAGE_WAIT,
            "answered within the storage wait: {:?}",
            started.elapsed()
        );
    }
    let post = ureq::post(&format!("{}/api/v4/user/reset", server.base))
        .timeout(Duration::from_secs(30))
        .set("Content-Type", "application/json")
        .send_string(r#"{"email":"outage@example.com"}"#)
        .unwrap();
    let envelope: serde_json::Value = serde_json::from_str(&post.into_string().unwrap()).unwrap();
    assert_eq!(envelope["code"], 50001, "{envelope}");
    assert_eq!(get("/readyz"), 503, "not ready during the outage");
    assert_eq!(get("/healthz"), 200, "the process is fine");

    proxy.restore();
    assert_eq!(
        reset(&server.base, &id, "brand-new-password", &secret),
        Some(0),
        "the next request succeeds"
    );
    assert_eq!(get("/readyz"), 200);
    assert!(!server.log().contains("panicked"), "{}", server.log());
}

/// Regression: during an outage under steady load, a request that waited its
/// turn for a storage thread then waited the pool's whole 5 s checkout
/// timeout as well, so answers took up to twice the storage wait (9.9 s
/// measured). The wait now counts from the request's arrival. One request
/// every 100 ms for 8 s keeps the 16 storage threads busy and a queue behind
/// them.
#[test]
fn an_outage_under_load_is_answered_within_the_storage_wait() {
    const REQUESTS: u32 = 80;
    let Some(mut env) = Env::postgres() else { return };
    let (id, secret) = env.user_with_link("outage-load@example.com");
    let proxy = Proxy::start(&env.database_url);
    env.set("PWRESET_DATABASE_URL", &proxy.url(&env.database_url));
    let server = env.serve();
    assert_eq!(reset(&server.base, &id, "x", &secret), Some(40001), "the server is up");

    proxy.cut();
    let first = Instant::now() + Duration::from_millis(100);
    let answers: Vec<(Option<i64>, Duration)> = (0..REQUESTS)
        .map(|n| {
            let (base, id, secret) = (server.base.clone(), id.clone(), secret.clone());
            let at = first + Duration::from_millis(100) * n;
            std::thread::spawn(move || {
                std::thread::sleep(at.saturating_duration_since(Instant::now()));
                let started = Instant::now();
                let code = reset(&base, &id, "brand-new-password", &secret);
                (code, started.elapsed())
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    assert!(answers.iter().all(|(code, _)| *code == Some(50001)), "{answers:?}");
    let slowest = answers.iter().map(|(_, took)| *took).max().unwrap();
    assert!(slowest < WITHIN_STORAGE_WAIT, "slowest {slowest:?}: {answers:?}");

    proxy.restore();
    assert_eq!(reset(&server.base, &id, "brand-new-password", &secret), Some(0));
    assert!(!server.log().contains("panicked"), "{}", server.log());
}

/// Regression: short-lived commands against PostgreSQL used to crash now and
/// then at exit (SIGSEGV or abort, about 1 run in 80 under concurrency): the
/// pool's background thread was still opening a TLS connection when the
/// process tore OpenSSL down. 160 runs, 4 at a time; none may die by a signal.
#[test]
fn commands_exit_cleanly_under_concurrency_on_postgres() {
    let Some(env) = Env::postgres() else { return };
    env.cli_json(&["user", "create", "--email", "exit@example.com", "--nickname", "E"], None);
    let env = Arc::new(env);
    let deaths: Vec<String> = (0..4)
        .map(|_| {
            let env = env.clone();
            std::thread::spawn(move || {
                (0..40)
                    .filter_map(|_| {
                        let out = env.cli(&["token", "issue", "--email", "exit@example.com"], None);
                        (!out.status.success()).then(|| {
                            format!("{} {}", out.status, String::from_utf8_lossy(&out.stderr))
                        })
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert!(deaths.is_empty(), "{deaths:?}");
}
