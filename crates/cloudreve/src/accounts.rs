//! [`CloudreveAccounts`]: a Cloudreve V4's own `users` and `groups`, read as
//! Cloudreve reads them and written only where a reset must write.
//!
//! - Soft-deleted rows (`deleted_at` set) do not exist; addresses match
//!   case-insensitively (ent's `EmailEqualFold`).
//! - A row pwreset cannot read — an unknown status, settings that are not
//!   JSON, a group that is missing — makes that one user not resettable, with
//!   a logged reason; it never fails anyone else's request.
//! - The only write is `users.password` and `users.updated_at`, of an active
//!   user, inside the store's transaction. Users are never created, and their
//!   status is Cloudreve's to change.
//! - Cloudreve has no security stamp: the stamp pwreset reports is derived
//!   from the stored password, so it changes exactly when the password does
//!   (as Cloudreve's refresh tokens, which embed a digest of it, do).

use diesel::sql_types::{BigInt, Binary, Nullable, Text};
use diesel::{QueryResult, RunQueryDsl};
use pwreset_domain::ports::{CreateUserError, GroupRef, NewUser, StoreError};
use pwreset_domain::{
    Avatar, Email, Group, GroupId, PasswordHash, SecurityStamp, User, UserId, UserProfile,
    UserSettings, UserStatus,
};
use pwreset_infra::db::{Accounts, Backend, Credentials, DbConnection};
use sha2::{Digest, Sha256};

use crate::sql::{Dialect, parse_time, run, sqlite_time};

/// A Cloudreve V4 database's accounts.
#[derive(Debug, Clone, Copy)]
pub struct CloudreveAccounts {
    sql: Dialect,
}

impl CloudreveAccounts {
    /// Accounts in a Cloudreve database on `backend`.
    pub fn new(backend: Backend) -> Self {
        Self { sql: Dialect(backend) }
    }

    fn select_profile(&self, condition: &str) -> String {
        let s = self.sql;
        format!(
            "SELECT {uid} AS id, u.email AS email, u.nick AS nick, u.password AS password, \
                    {status} AS status, u.avatar AS avatar, {settings} AS settings, \
                    {group} AS group_id, {created} AS created_at, {updated} AS updated_at, \
                    {gid} AS g_id, g.name AS g_name, g.permissions AS g_permissions, \
                    {gsettings} AS g_settings \
             FROM {users} u LEFT JOIN {groups} g ON g.id = u.group_users AND g.deleted_at IS NULL \
             WHERE {condition} AND u.deleted_at IS NULL ORDER BY u.id LIMIT 8",
            uid = s.int("u.id"),
            status = s.text("u.status"),
            settings = s.text("u.settings"),
            group = s.int("u.group_users"),
            created = s.time("u.created_at"),
            updated = s.time("u.updated_at"),
            gid = s.int("g.id"),
            gsettings = s.text("g.settings"),
            users = s.table("users"),
            groups = s.table("groups"),
        )
    }

    fn select_group(&self, condition: &str) -> String {
        let s = self.sql;
        format!(
            "SELECT {gid} AS id, name, permissions, {settings} AS settings FROM {groups} \
             WHERE {condition} AND deleted_at IS NULL ORDER BY id LIMIT 1",
            gid = s.int("id"),
            settings = s.text("settings"),
            groups = s.table("groups"),
        )
    }
}

/// One user joined with its group, as selected.
#[derive(Debug, diesel::QueryableByName)]
struct ProfileRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    email: String,
    #[diesel(sql_type = Nullable<Text>)]
    nick: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    password: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    status: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    avatar: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    settings: Option<String>,
    #[diesel(sql_type = BigInt)]
    group_id: i64,
    #[diesel(sql_type = Nullable<Text>)]
    created_at: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    updated_at: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    g_id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    g_name: Option<String>,
    #[diesel(sql_type = Nullable<Binary>)]
    g_permissions: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<Text>)]
    g_settings: Option<String>,
}

#[derive(Debug, diesel::QueryableByName)]
struct GroupRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Nullable<Binary>)]
    permissions: Option<Vec<u8>>,
    #[diesel(sql_type = Nullable<Text>)]
    settings: Option<String>,
}

/// The stamp of a password column: changes exactly when it does.
fn stamp_of(password: &str) -> SecurityStamp {
    let digest = Sha256::new().chain_update("pwreset stamp\0").chain_update(password).finalize();
    SecurityStamp::new(digest.iter().take(16).map(|b| format!("{b:02x}")).collect())
}

/// A JSON object column; `None`/empty/`null` read as an empty object.
fn json_object(raw: Option<&str>) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    match raw.map(str::trim) {
        None | Some("" | "null") => Ok(serde_json::Map::new()),
        Some(json) => match serde_json::from_str(json) {
            Ok(serde_json::Value::Object(map)) => Ok(map),
            Ok(_) => Err("settings are not a JSON object".into()),
            Err(e) => Err(format!("settings are not JSON: {e}")),
        },
    }
}

fn string(map: &serde_json::Map<String, serde_json::Value>, key: &str) -> Option<String> {
    map.get(key).and_then(serde_json::Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned)
}

fn int(map: &serde_json::Map<String, serde_json::Value>, key: &str) -> i64 {
    map.get(key).and_then(serde_json::Value::as_i64).unwrap_or(0)
}

fn group_of(
    id: i64,
    name: String,
    permissions: Option<Vec<u8>>,
    settings: Option<&str>,
) -> Result<Group, String> {
    let settings = json_object(settings).map_err(|e| format!("group {id}: {e}"))?;
    Ok(Group {
        id: GroupId::new(id).map_err(|e| format!("group {id}: {e}"))?,
        name,
        permissions: permissions.unwrap_or_default(),
        direct_link_batch_size: int(&settings, "source_batch"),
        trash_retention: int(&settings, "trash_retention"),
    })
}

impl ProfileRow {
    fn into_profile(self) -> Result<UserProfile, String> {
        let status = self.status.as_deref().unwrap_or_default();
        let status =
            UserStatus::parse(status).ok_or_else(|| format!("unknown status {status:?}"))?;
        let settings = json_object(self.settings.as_deref())?;
        let time = |raw: Option<&str>, what: &str| {
            raw.and_then(parse_time).ok_or_else(|| format!("unreadable {what} {raw:?}"))
        };
        let (Some(g_id), Some(g_name)) = (self.g_id, self.g_name) else {
            return Err(format!("its group {} does not exist", self.group_id));
        };
        let group = group_of(g_id, g_name, self.g_permissions, self.g_settings.as_deref())?;
        let password = self.password.unwrap_or_default();
        let user = User {
            id: UserId::new(self.id).map_err(|e| e.to_string())?,
            email: self.email,
            nickname: self.nick.unwrap_or_default(),
            security_stamp: stamp_of(&password),
            password_hash: PasswordHash::new(password),
            status,
            avatar: self.avatar.as_deref().and_then(Avatar::parse),
            credit: None,
            settings: UserSettings {
                preferred_theme: string(&settings, "preferred_theme"),
                language: string(&settings, "email_language"),
                disable_view_sync: settings
                    .get("disable_view_sync")
                    .and_then(serde_json::Value::as_bool),
                share_links_in_profile: string(&settings, "share_links_in_profile"),
            },
            group_id: group.id,
            created_at: time(self.created_at.as_deref(), "created_at")?,
            updated_at: time(self.updated_at.as_deref(), "updated_at")?,
        };
        Ok(UserProfile { user, group })
    }
}

/// A readable profile, or `None` with the reason logged (by id, never by address).
fn readable(row: Option<ProfileRow>) -> Option<UserProfile> {
    let row = row?;
    let id = row.id;
    match row.into_profile() {
        Ok(profile) => Some(profile),
        Err(reason) => {
            tracing::warn!(user_id = id, %reason, "Cloudreve user skipped: not resettable");
            None
        }
    }
}

fn db_error(context: &'static str) -> impl FnOnce(diesel::result::Error) -> StoreError {
    move |e| StoreError::new(context, e)
}

impl Accounts for CloudreveAccounts {
    fn lock_user(&self, conn: &mut DbConnection, user: UserId) -> QueryResult<()> {
        let users = self.sql.table("users");
        let sql = match conn {
            // One writer at a time already.
            DbConnection::Sqlite(_) => return Ok(()),
            DbConnection::Postgres(_) => {
                format!("SELECT id FROM {users} WHERE id = ? FOR NO KEY UPDATE")
            }
            #[cfg(feature = "mysql")]
            DbConnection::Mysql(_) => format!("SELECT id FROM {users} WHERE id = ? FOR UPDATE"),
        };
        run!(conn, &sql, execute, BigInt => user.get()).map(drop)
    }

    fn user_by_email(
        &self,
        conn: &mut DbConnection,
        email: &Email,
    ) -> Result<Option<User>, StoreError> {
        // The backend's lower() finds the candidates (PostgreSQL's and
        // MySQL's also fold non-ASCII letters); the match is the ASCII
        // folding rate limits count addresses by, on every backend.
        let sql = self.select_profile("lower(u.email) = lower(?)");
        let normalized = email.normalized();
        let row: Option<ProfileRow> = run!(conn, &sql, load, Text => &normalized)
            .map_err(db_error("looking up a Cloudreve user by email"))?
            .into_iter()
            .find(|row: &ProfileRow| row.email.to_ascii_lowercase() == normalized);
        Ok(readable(row).map(|p| p.user))
    }

    fn profile(
        &self,
        conn: &mut DbConnection,
        user: UserId,
    ) -> Result<Option<UserProfile>, StoreError> {
        let sql = self.select_profile("u.id = ?");
        let row: Option<ProfileRow> = run!(conn, &sql, load, BigInt => user.get())
            .map_err(db_error("reading a Cloudreve user"))?
            .into_iter()
            .next();
        Ok(readable(row))
    }

    fn group(
        &self,
        conn: &mut DbConnection,
        group: &GroupRef,
    ) -> Result<Option<Group>, StoreError> {
        let rows: Vec<GroupRow> = match group {
            GroupRef::Id(id) => run!(conn, &self.select_group("id = ?"), load, BigInt => id.get()),
            GroupRef::Name(name) => {
                run!(conn, &self.select_group("name = ?"), load, Text => name.as_str())
            }
        }
        .map_err(db_error("reading a Cloudreve group"))?;
        let Some(row) = rows.into_iter().next() else { return Ok(None) };
        let id = row.id;
        match group_of(row.id, row.name, row.permissions, row.settings.as_deref()) {
            Ok(group) => Ok(Some(group)),
            Err(reason) => {
                tracing::warn!(group_id = id, %reason, "Cloudreve group unreadable");
                Ok(None)
            }
        }
    }

    fn set_credentials(
        &self,
        conn: &mut DbConnection,
        credentials: &Credentials<'_>,
    ) -> Result<bool, StoreError> {
        let users = self.sql.table("users");
        let sql = format!(
            "UPDATE {users} SET password = ?, updated_at = ? \
             WHERE id = ? AND status = 'active' AND deleted_at IS NULL"
        );
        let hash = credentials.password_hash.expose();
        let (id, at) = (credentials.user.get(), credentials.at);
        let changed = match conn {
            DbConnection::Sqlite(c) => diesel::sql_query(&sql)
                .bind::<Text, _>(hash)
                .bind::<Text, _>(sqlite_time(at))
                .bind::<BigInt, _>(id)
                .execute(c),
            DbConnection::Postgres(c) => diesel::sql_query(crate::sql::numbered(&sql))
                .bind::<Text, _>(hash)
                .bind::<diesel::sql_types::Timestamptz, _>(at)
                .bind::<BigInt, _>(id)
                .execute(c),
            #[cfg(feature = "mysql")]
            DbConnection::Mysql(c) => diesel::sql_query(&sql)
                .bind::<Text, _>(hash)
                .bind::<diesel::sql_types::Timestamp, _>(at.naive_utc())
                .bind::<BigInt, _>(id)
                .execute(c),
        }
        .map_err(db_error("writing a Cloudreve user's new password"))?;
        Ok(changed == 1)
    }

    fn create_user(
        &self,
        _conn: &mut DbConnection,
        _new: &NewUser,
    ) -> Result<UserProfile, CreateUserError> {
        Err(CreateUserError::Unsupported)
    }

    fn set_status(
        &self,
        _conn: &mut DbConnection,
        _user: UserId,
        _status: UserStatus,
    ) -> Result<bool, StoreError> {
        Err(StoreError::msg(
            "a Cloudreve user's status is Cloudreve's to change: use its admin panel",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stamp_follows_the_password() {
        assert_eq!(stamp_of("a:b").as_str(), stamp_of("a:b").as_str());
        assert_ne!(stamp_of("a:b").as_str(), stamp_of("a:c").as_str());
        assert_eq!(stamp_of("").as_str().len(), 32);
    }

    #[test]
    fn unreadable_rows_say_why() {
        let row = |status: &str, settings: Option<&str>, group: Option<i64>| ProfileRow {
            id: 7,
            email: "a@example.com".into(),
            nick: Some("A".into()),
            password: Some("s:d".into()),
            status: Some(status.into()),
            avatar: None,
            settings: settings.map(Into::into),
            group_id: 2,
            created_at: Some("2025-06-01 12:00:00+00:00".into()),
            updated_at: Some("2025-06-01 12:00:00+00:00".into()),
            g_id: group,
            g_name: group.map(|_| "User".into()),
            g_permissions: Some(vec![0x84, 0x08]),
            g_settings: Some(r#"{"source_batch":10,"trash_retention":604800}"#.into()),
        };
        let ok =
            row("active", Some(r#"{"email_language":"zh-CN"}"#), Some(2)).into_profile().unwrap();
        assert_eq!(ok.user.settings.language.as_deref(), Some("zh-CN"));
        assert_eq!((ok.group.direct_link_batch_size, ok.group.trash_retention), (10, 604800));
        let err = |r: ProfileRow| r.into_profile().unwrap_err();
        assert!(err(row("deleted", None, Some(2))).contains("unknown status"));
        assert!(err(row("active", Some("{not json"), Some(2))).contains("not JSON"));
        assert!(err(row("active", Some("[1]"), Some(2))).contains("not a JSON object"));
        assert!(err(row("active", None, None)).contains("group 2 does not exist"));
    }
}
