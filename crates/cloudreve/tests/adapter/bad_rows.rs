//! Rows pwreset cannot read make that one user not resettable — found by
//! nobody, never an error for anyone else.

use pwreset_cloudreve::testing::{CloudreveDb, CloudreveUser};
use pwreset_domain::ports::UserStore;
use pwreset_domain::{Email, UserId};
use pwreset_infra::db::PoolOptions;

#[test]
fn unreadable_users_are_not_found_and_others_are() {
    // SQLite accepts any text in these columns; the servers' types (an
    // enum, jsonb) would refuse most of it at the source.
    let db = CloudreveDb::sqlite();
    let fine = db.add_user(&CloudreveUser::new("fine@example.com", "pw"));
    let odd_status = db.add_user(&CloudreveUser::new("status@example.com", "pw"));
    db.execute(&format!("UPDATE users SET status = 'frozen' WHERE id = {odd_status};"));
    let bad_json = db.add_user(&CloudreveUser::new("json@example.com", "pw"));
    db.execute(&format!("UPDATE users SET settings = '{{not json' WHERE id = {bad_json};"));
    let orphan = db.add_user(&CloudreveUser::new("orphan@example.com", "pw"));
    db.execute("PRAGMA foreign_keys = OFF;");
    db.execute(&format!("UPDATE users SET group_users = 99 WHERE id = {orphan};"));
    let gone_group =
        db.add_user(&CloudreveUser { group: 3, ..CloudreveUser::new("anon@example.com", "pw") });
    db.execute("UPDATE groups SET deleted_at = '2025-01-01 00:00:00+00:00' WHERE id = 3;");

    let url = db.database_url();
    let site =
        pwreset_cloudreve::open(&url, &PoolOptions::for_backend(url.backend()), &|_| None).unwrap();
    let by_email = |e: &str| site.store.find_user_by_email(&Email::parse(e).unwrap()).unwrap();
    for (email, id) in [
        ("status@example.com", odd_status),
        ("json@example.com", bad_json),
        ("orphan@example.com", orphan),
        ("anon@example.com", gone_group),
    ] {
        assert_eq!(by_email(email), None, "{email}");
        assert_eq!(site.store.find_profile(UserId::new(id).unwrap()).unwrap(), None, "{email}");
    }
    let found = by_email("FINE@example.com").expect("the readable user");
    assert_eq!(found.id.get(), fine);
    assert_eq!(site.store.find_profile(found.id).unwrap().unwrap().group.name, "User");
}
