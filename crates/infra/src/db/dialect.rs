//! SQL that differs between backends, kept in one place. Everything else is
//! written once with diesel's query builder.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamp};

use super::connection::DbConnection;

/// A row claimed from the outbox.
#[derive(Debug, QueryableByName)]
pub(in crate::db) struct ClaimedRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Text)]
    pub recipient: String,
    #[diesel(sql_type = Text)]
    pub subject: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub body_text: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub body_html: Option<String>,
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
}

/// Claims due outbox rows in one statement: the rows are selected and leased
/// atomically. On PostgreSQL `FOR UPDATE SKIP LOCKED` lets concurrent
/// claimers (other instances) pass over rows another is claiming instead of
/// waiting for them or claiming them twice; SQLite has one writer at a time,
/// which gives the same guarantee.
pub(in crate::db) fn claim_outbox(
    conn: &mut DbConnection,
    table: &str,
    now: NaiveDateTime,
    lease_until: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<ClaimedRow>> {
    const RETURNING: &str =
        "RETURNING id, kind, recipient, subject, body_text, body_html, attempts";
    let pending = crate::OutboxStatus::Pending.as_str();
    match conn {
        DbConnection::Sqlite(c) => diesel::sql_query(format!(
            "UPDATE {table} SET locked_until = ?, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM {table} \
                          WHERE status = '{pending}' AND next_attempt_at <= ? \
                            AND (locked_until IS NULL OR locked_until <= ?) \
                          ORDER BY id LIMIT ?) {RETURNING}"
        ))
        .bind::<Timestamp, _>(lease_until)
        .bind::<Timestamp, _>(now)
        .bind::<Timestamp, _>(now)
        .bind::<BigInt, _>(limit)
        .load(c),
        DbConnection::Postgres(c) => diesel::sql_query(format!(
            "UPDATE {table} SET locked_until = $1, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM {table} \
                          WHERE status = '{pending}' AND next_attempt_at <= $2 \
                            AND (locked_until IS NULL OR locked_until <= $2) \
                          ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED) {RETURNING}"
        ))
        .bind::<Timestamp, _>(lease_until)
        .bind::<Timestamp, _>(now)
        .bind::<BigInt, _>(limit)
        .load(c),
        // MySQL has no UPDATE … RETURNING: lock the due rows (skipping those
        // another claimer holds), lease them, read them back, in one transaction.
        #[cfg(feature = "mysql")]
        DbConnection::Mysql(c) => {
            use diesel::Connection;
            c.transaction(|c| {
                #[derive(QueryableByName)]
                struct Id {
                    #[diesel(sql_type = BigInt)]
                    id: i64,
                }
                let ids: Vec<Id> = diesel::sql_query(format!(
                    "SELECT id FROM {table} \
                     WHERE status = '{pending}' AND next_attempt_at <= ? \
                       AND (locked_until IS NULL OR locked_until <= ?) \
                     ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED",
                ))
                .bind::<Timestamp, _>(now)
                .bind::<Timestamp, _>(now)
                .bind::<BigInt, _>(limit)
                .load(c)?;
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let list = ids.iter().map(|i| i.id.to_string()).collect::<Vec<_>>().join(",");
                diesel::sql_query(format!(
                    "UPDATE {table} SET locked_until = ?, attempts = attempts + 1 WHERE id IN ({list})"
                ))
                .bind::<Timestamp, _>(lease_until)
                .execute(c)?;
                diesel::sql_query(format!(
                    "SELECT id, kind, recipient, subject, body_text, body_html, attempts \
                     FROM {table} WHERE id IN ({list}) ORDER BY id"
                ))
                .load(c)
            })
        }
    }
}

/// The row of `users` whose address, ASCII-lowercased, is `normalized` (the
/// form rate limits count by, `Email::normalized`), on every backend alike.
/// The index each backend has finds the candidates — `lower(email)` on SQLite
/// and PostgreSQL, the case-insensitive collation of `email` on MySQL — and
/// the exact comparison is made here: PostgreSQL's `lower()` also folds
/// non-ASCII letters and MySQL's collation ignores accents, so `Álice@` and
/// `alice@` would otherwise be one account to the lookup and two to the limits.
pub(super) fn user_by_email(
    conn: &mut DbConnection,
    normalized: &str,
) -> QueryResult<Option<super::rows::UserRow>> {
    use super::schema::{lower, users};
    let query = users::table.select(super::rows::UserRow::as_select()).order(users::id).limit(8);
    let candidates: Vec<super::rows::UserRow> = match conn {
        #[cfg(feature = "mysql")]
        DbConnection::Mysql(_) => query.filter(users::email.eq(normalized)).load(conn)?,
        _ => query.filter(lower(users::email).eq(lower(normalized))).load(conn)?,
    };
    Ok(candidates.into_iter().find(|row| row.email().to_ascii_lowercase() == normalized))
}

/// Locks the user's row until the end of the transaction: every unit of work
/// that changes a user's links or password takes it first, so two of them for
/// one user run one after the other. Without it, on PostgreSQL two link
/// requests could each revoke what they saw and both leave a live link, and a
/// reset racing a link request could deadlock. SQLite needs nothing: those
/// units of work begin with a write, and SQLite has one writer at a time.
pub(super) fn lock_user(conn: &mut DbConnection, user: i64) -> QueryResult<()> {
    use super::schema::users;
    let query = users::table.select(users::id).filter(users::id.eq(user));
    match conn {
        DbConnection::Sqlite(_) => Ok(()),
        // NO KEY: serialises callers the same way without blocking the
        // foreign-key checks of other rows that reference the user.
        DbConnection::Postgres(c) => query.for_no_key_update().load::<i64>(c).map(drop),
        #[cfg(feature = "mysql")]
        DbConnection::Mysql(c) => query.for_update().load::<i64>(c).map(drop),
    }
}
