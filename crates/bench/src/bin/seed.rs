//! Fills a database for the benchmarks, fast (bulk inserts, one precomputed
//! hash):
//!
//! `seed DATABASE_URL OUT_DIR USERS LIVE_TOKENS NOISE_TOKENS`
//!
//! writes `OUT_DIR/users.txt` (public ids), `OUT_DIR/emails.txt` and
//! `OUT_DIR/tokens.txt` (`public_id secret` of live tokens, one user each);
//! `NOISE_TOKENS` more rows of used tokens pad the table for scale tests.

#![allow(clippy::print_stdout)]

use std::io::Write;
use std::sync::Arc;

use chrono::{Duration, SubsecRound, Utc};
use diesel::prelude::*;
use pwreset_domain::UserId;
use pwreset_domain::ports::{PublicIdCodec, RandomSource};
use pwreset_infra::db::schema::{reset_tokens, users};
use pwreset_infra::db::{DatabaseUrl, DbConnection, PoolOptions};
use pwreset_infra::{DieselStore, HashidCodec, OsRandom};

const BATCH: usize = 1000;

/// Runs a batch insert on the concrete connection (the multi-backend
/// connection has no batch insert), in one transaction.
macro_rules! insert_batch {
    ($conn:expr, $table:expr, $rows:expr) => {
        match &mut *$conn {
            DbConnection::Sqlite(c) => {
                c.transaction(|c| diesel::insert_into($table).values($rows).execute(c))
            }
            DbConnection::Postgres(c) => {
                c.transaction(|c| diesel::insert_into($table).values($rows).execute(c))
            }
            #[allow(unreachable_patterns)]
            _ => panic!("the benchmarks seed SQLite and PostgreSQL only"),
        }
    };
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, out, users_n, live_n, noise_n] = &args[..] else {
        panic!("usage: seed DATABASE_URL OUT_DIR USERS LIVE_TOKENS NOISE_TOKENS")
    };
    let (users_n, live_n, noise_n): (usize, usize, usize) =
        (users_n.parse().unwrap(), live_n.parse().unwrap(), noise_n.parse().unwrap());
    assert!(live_n <= users_n, "one live token per user");
    let url = DatabaseUrl::parse(url).expect("database URL");
    let store = Arc::new(
        DieselStore::connect(&url, &PoolOptions::for_backend(url.backend())).expect("connect"),
    );
    store.migrate().expect("migrate");
    let codec = HashidCodec::new(&store.ensure_hashid_salt(None).expect("salt")).expect("codec");
    let mut conn = store.pool().get().expect("connection");
    let now = Utc::now().trunc_subsecs(6).naive_utc();
    // One valid bcrypt hash (cost 4) for everybody: seeding is not the benchmark.
    let hash = bcrypt::hash("seeded-password", 4).expect("hash");

    let mut ids = Vec::with_capacity(users_n);
    for chunk in (0..users_n).collect::<Vec<_>>().chunks(BATCH) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|i| {
                (
                    users::email.eq(format!("user{i}@bench.example")),
                    users::nick.eq(format!("User {i}")),
                    users::password.eq(hash.clone()),
                    users::status.eq("active"),
                    users::group_id.eq(2i64),
                    users::created_at.eq(now),
                    users::updated_at.eq(now),
                    users::security_stamp.eq("seeded"),
                )
            })
            .collect();
        insert_batch!(conn, users::table, &rows).expect("users");
    }
    ids.extend(
        users::table.select(users::id).order(users::id).load::<i64>(&mut *conn).expect("ids"),
    );

    let random = OsRandom;
    let mut live = Vec::with_capacity(live_n);
    let mut token_rows = Vec::with_capacity(live_n + noise_n);
    for &id in ids.iter().take(live_n) {
        let secret = random.reset_secret().expect("randomness");
        token_rows.push((id, secret.digest().as_bytes().to_vec(), now + Duration::hours(3), None));
        live.push((id, secret));
    }
    for n in 0..noise_n {
        let secret = random.reset_secret().expect("randomness");
        let id = ids[n % ids.len()];
        token_rows.push((
            id,
            secret.digest().as_bytes().to_vec(),
            now - Duration::hours(1),
            Some(now - Duration::hours(2)),
        ));
    }
    for chunk in token_rows.chunks(BATCH) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|(id, digest, expires, used)| {
                (
                    reset_tokens::user_id.eq(*id),
                    reset_tokens::digest.eq(digest.clone()),
                    reset_tokens::created_at.eq(now - Duration::hours(3)),
                    reset_tokens::expires_at.eq(*expires),
                    reset_tokens::used_at.eq(*used),
                )
            })
            .collect();
        insert_batch!(conn, reset_tokens::table, &rows).expect("tokens");
    }

    let dir = std::path::Path::new(out);
    std::fs::create_dir_all(dir).expect("out dir");
    let public = |id: i64| codec.encode_user(UserId::new(id).expect("positive"));
    let mut f = std::fs::File::create(dir.join("users.txt")).expect("users.txt");
    for &id in &ids {
        writeln!(f, "{}", public(id)).unwrap();
    }
    let mut f = std::fs::File::create(dir.join("emails.txt")).expect("emails.txt");
    for i in 0..users_n {
        writeln!(f, "user{i}@bench.example").unwrap();
    }
    let mut f = std::fs::File::create(dir.join("tokens.txt")).expect("tokens.txt");
    for (id, secret) in &live {
        writeln!(f, "{} {}", public(*id), secret.expose()).unwrap();
    }
    println!("seeded {} users, {} live tokens, {} noise tokens", ids.len(), live.len(), noise_n);
}
