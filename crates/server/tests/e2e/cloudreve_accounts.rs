//! `PWRESET_ACCOUNTS=cloudreve` end to end, against the real binary and a
//! Cloudreve V4 database on each backend: the link request, the email sent
//! through the Cloudreve's own SMTP settings from its own template, the
//! reset, and then what Cloudreve would see — its login accepting the new
//! password, and nothing else in its tables changed.

use std::time::Duration;

use crate::support::Env;
use crate::support::smtp::{SmtpSink, decoded, link_in};
use pwreset_cloudreve::password::check_password;
use pwreset_cloudreve::testing::{CloudreveDb, CloudreveUser, SALT};
use pwreset_domain::UserStatus;
use pwreset_infra::hashid::Hashids;

const OLD: &str = "old-cloudreve-password";
const NEW: &str = "brand-new-password";

fn cloudreve_flow(db: CloudreveDb) {
    let smtp = SmtpSink::start(0);
    db.set_setting("smtpHost", "127.0.0.1");
    db.set_setting("smtpPort", &smtp.port.to_string());
    db.set_setting("smtpUser", "");
    let jane = db.add_user(&CloudreveUser {
        nick: "Jane".into(),
        ..CloudreveUser::new("Jane@Example.com", OLD)
    });
    let other = db.add_user(&CloudreveUser::new("other@example.com", OLD));
    let banned = db.add_user(&CloudreveUser::new("banned@example.com", OLD));
    db.set_status(banned, UserStatus::ManualBanned);
    let inactive = db.add_user(&CloudreveUser {
        status: UserStatus::Inactive,
        ..CloudreveUser::new("inactive@example.com", OLD)
    });
    let deleted = db.add_user(&CloudreveUser::new("deleted@example.com", OLD));
    db.soft_delete(deleted);
    let before = db.snapshot();

    let env = Env::cloudreve(&db.url);
    let mut server = env.serve();
    // The administration commands read Cloudreve's users; listing them is
    // Cloudreve's admin panel's job.
    let shown = env.cli_json(&["user", "show", "--email", "banned@example.com"], None);
    assert_eq!(shown["status"], "manual_banned");
    let out = env.cli(&["user", "list"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("listed by the application that owns them")
    );
    let quiet = serde_json::json!({"code": 0, "msg": ""});
    for email in [
        "jane@EXAMPLE.com",
        "banned@example.com",
        "inactive@example.com",
        "deleted@example.com",
        "nobody@example.com",
    ] {
        assert_eq!(server.request_link(email), quiet, "{email}: the same answer for everyone");
    }
    let inbox = smtp.wait_for(1, Duration::from_secs(20));
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(smtp.received().len(), 1, "mail only for the active user");

    let message = &inbox[0];
    let text = decoded(message);
    assert!(text.contains("To: Jane@Example.com"), "{text}");
    assert!(text.contains("From: \"Example Cloud\" <no-reply@cloud.example.com>"), "{text}");
    assert!(text.contains("Subject: [Example Cloud] Reset your password"), "{text}");
    assert!(
        text.contains("Please click the button below to reset your password."),
        "the operator's template text: {text}"
    );
    let (public_id, secret) = link_in(message);
    let ids = Hashids::new(SALT).unwrap();
    assert_eq!(ids.encode(&[jane as u64, 1]), public_id, "the id Cloudreve itself would use");
    assert!(
        text.contains(&format!(
            "https://cloud.example.com/session/reset?id={public_id}&secret={secret}"
        )),
        "the link base is the first siteURL: {text}"
    );

    let done = server.reset(&public_id, NEW, &secret);
    assert_eq!(done["code"], 0, "{done}");
    assert_eq!(done["data"]["email"], "Jane@Example.com");
    assert_eq!(done["data"]["nickname"], "Jane");
    assert_eq!(done["data"]["group"]["name"], "User");

    let stored = db.password_of(jane).expect("a password");
    let (salt, digest) = stored.split_once(':').expect("salt:digest");
    assert_eq!((salt.len(), digest.len()), (16, 64), "{stored}");
    assert!(check_password(NEW, &stored).unwrap(), "Cloudreve's login accepts the new password");
    assert!(!check_password(OLD, &stored).unwrap(), "and no longer the old one");
    for user in [other, banned, inactive, deleted] {
        assert!(check_password(OLD, &db.password_of(user).unwrap()).unwrap());
    }
    let replay = server.reset(&public_id, "yet-another-pw", &secret);
    assert_eq!(replay["code"], 40030, "{replay}");

    let after = db.snapshot();
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>(),
        "no row added to or removed from Cloudreve's tables"
    );
    let changed: Vec<_> = before
        .iter()
        .filter(|(key, value)| after[*key] != **value)
        .map(|((table, id, column), _)| (table.as_str(), *id, column.as_str()))
        .collect();
    assert_eq!(
        changed,
        [("users", jane, "password"), ("users", jane, "updated_at")],
        "only the password and updated_at of the one user"
    );
    let updated = after[&("users".to_owned(), jane, "updated_at".to_owned())].clone().unwrap();
    let updated = pwreset_cloudreve::parse_time(&updated).expect("a time Cloudreve reads");
    assert!((chrono::Utc::now() - updated).num_seconds().abs() < 120, "{updated}");

    let tables = db.tables();
    let ours: Vec<&String> = tables.iter().filter(|t| t.starts_with("pwreset_")).collect();
    assert_eq!(
        ours,
        [
            "pwreset_audit_events",
            "pwreset_mail_outbox",
            "pwreset_reset_tokens",
            "pwreset_schema_migrations"
        ]
    );
    for table in &tables {
        assert!(
            table.starts_with("pwreset_")
                || [
                    "storage_policies",
                    "groups",
                    "users",
                    "settings",
                    "files",
                    "shares",
                    "passkeys"
                ]
                .contains(&table.as_str()),
            "pwreset created {table}"
        );
    }

    assert!(server.terminate().success());
    let log = server.log();
    for leak in [secret.as_str(), NEW, OLD, stored.as_str(), salt] {
        assert!(!log.contains(leak), "server log leaks {leak:?}:\n{log}");
    }
}

#[test]
fn cloudreve_accounts_on_sqlite() {
    cloudreve_flow(CloudreveDb::sqlite());
}

#[test]
fn cloudreve_accounts_on_postgres() {
    if let Some(db) = CloudreveDb::postgres() {
        cloudreve_flow(db);
    }
}

#[cfg(feature = "mysql")]
#[test]
fn cloudreve_accounts_on_mariadb() {
    if let Some(db) = CloudreveDb::mysql() {
        cloudreve_flow(db);
    }
}

/// Start-up refusals: one line each, and nothing created or "fixed".
#[test]
fn what_is_not_a_cloudreve_database_is_refused() {
    // pwreset's own database.
    let own = Env::sqlite();
    own.cli_json(
        &["user", "create", "--email", "a@example.com", "--nickname", "A", "--password-stdin"],
        Some("password1\n"),
    );
    let mut as_cloudreve = Env::cloudreve(&own.database_url);
    as_cloudreve.dir = tempfile::tempdir().unwrap();
    let out = as_cloudreve.cli(&["migrate"], None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("no Cloudreve V4 schema"), "{err}");

    // A file that does not exist is not created.
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("cloudreve.db");
    let out = Env::cloudreve(&format!("sqlite://{}", missing.display())).cli(&["migrate"], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    assert!(!missing.exists(), "no database created where a Cloudreve's should be");

    // A Cloudreve without a hashid salt.
    let db = CloudreveDb::sqlite();
    db.execute("DELETE FROM settings WHERE name = 'hash_id_salt';");
    let before = db.tables();
    let out = Env::cloudreve(&db.url).cli(&["migrate"], None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("hash_id_salt"), "{err}");
    assert_eq!(db.tables(), before, "nothing created on a refused database");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");

    // ...unless Cloudreve's own environment variable names it.
    let mut env = Env::cloudreve(&db.url);
    env.set("CR_SETTING_hash_id_salt", SALT);
    let out = env.cli(&["migrate"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        db.tables().iter().any(|t| t == "pwreset_reset_tokens"),
        "migrated once the salt is there"
    );
}

/// `config check` shows what the Cloudreve's settings make of the
/// configuration, and creates nothing.
#[test]
fn config_check_shows_the_cloudreves_settings() {
    let db = CloudreveDb::sqlite();
    let before = db.tables();
    let mut env = Env::cloudreve(&db.url);
    env.set("CR_SETTING_siteName", "Overridden Cloud");
    let config = env.cli_json(&["config", "check"], None);
    assert_eq!(config["PWRESET_ACCOUNTS"], "cloudreve");
    assert_eq!(config["PWRESET_SITE_URL"], "https://cloud.example.com");
    assert_eq!(
        config["PWRESET_SITE_NAME"], "Overridden Cloud",
        "CR_SETTING_ wins, as in Cloudreve"
    );
    assert_eq!(config["PWRESET_LOGIN_URL"], "https://cloud.example.com/session");
    assert_eq!(
        config["PWRESET_MAIL"],
        "smtp://smtp.cloudreve.com:***@smtp.cloudreve.com:25?tls=opportunistic",
        "Cloudreve's SMTP settings, password hidden"
    );
    assert_eq!(config["PWRESET_MAIL_FROM"], "\"Example Cloud\" <no-reply@cloud.example.com>");
    assert_eq!(config["sources"]["PWRESET_SITE_URL"], "cloudreve");
    assert_eq!(config["sources"]["PWRESET_MAIL"], "cloudreve");
    assert_eq!(config["sources"]["PWRESET_ACCOUNTS"], "env");
    assert_eq!(db.tables(), before, "config check creates nothing");

    env.set("PWRESET_SITE_URL", "https://reset.example.com");
    env.set("PWRESET_MAIL", "log");
    let config = env.cli_json(&["config", "check"], None);
    assert_eq!(
        config["PWRESET_SITE_URL"], "https://reset.example.com",
        "pwreset's own setting wins"
    );
    assert_eq!(config["PWRESET_MAIL"], "log");
    assert_eq!(config["sources"]["PWRESET_SITE_URL"], "env");
}

/// Users belong to Cloudreve: the CLI does not create them there.
#[test]
fn users_are_not_created_in_a_cloudreve() {
    let db = CloudreveDb::sqlite();
    let env = Env::cloudreve(&db.url);
    let out = env.cli(
        &["user", "create", "--email", "new@example.com", "--nickname", "N", "--password-stdin"],
        Some("password1\n"),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not create users"));
    assert_eq!(db.user_id("new@example.com"), None);
}
