//! Row types with diesel derives, and their conversion to domain types.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use pwreset_domain::ports::StoreError;
use pwreset_domain::{
    AuditKind, AuditRecord, Avatar, ClientInfo, Group, GroupId, PasswordHash, ResetToken,
    SecretDigest, SecurityStamp, User, UserId, UserSettings, UserStatus,
};

use super::schema::{groups, users};

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = users)]
pub(super) struct UserRow {
    id: i64,
    email: String,
    nick: String,
    password: String,
    status: String,
    avatar: Option<String>,
    credit: Option<i64>,
    settings: Option<String>,
    group_id: i64,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    security_stamp: String,
}

impl UserRow {
    pub(super) fn id(&self) -> i64 {
        self.id
    }

    pub(super) fn email(&self) -> &str {
        &self.email
    }
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = groups)]
pub(super) struct GroupRow {
    id: i64,
    name: String,
    permissions: Vec<u8>,
    direct_link_batch_size: i64,
    trash_retention: i64,
}

/// A reset token as selected: `(id, user_id, digest, created_at, expires_at,
/// used_at, revoked_at)`, from either table set.
#[derive(Debug, Queryable)]
pub(in crate::db) struct TokenRow {
    id: i64,
    user_id: i64,
    digest: Vec<u8>,
    created_at: NaiveDateTime,
    expires_at: NaiveDateTime,
    used_at: Option<NaiveDateTime>,
    revoked_at: Option<NaiveDateTime>,
}

fn corrupt(table: &str, id: i64, what: impl std::fmt::Display) -> StoreError {
    StoreError::msg(format!("{table} row {id} is invalid: {what}"))
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;

    fn try_from(row: UserRow) -> Result<Self, StoreError> {
        let id = row.id;
        let settings = match row.settings.as_deref() {
            None | Some("") => UserSettings::default(),
            Some(json) => serde_json::from_str(json).map_err(|e| corrupt("users", id, e))?,
        };
        Ok(User {
            id: UserId::new(id).map_err(|e| corrupt("users", id, e))?,
            email: row.email,
            nickname: row.nick,
            password_hash: PasswordHash::new(row.password),
            status: UserStatus::parse(&row.status)
                .ok_or_else(|| corrupt("users", id, format!("unknown status {:?}", row.status)))?,
            avatar: row.avatar.as_deref().and_then(Avatar::parse),
            credit: row.credit,
            settings,
            group_id: GroupId::new(row.group_id).map_err(|e| corrupt("users", id, e))?,
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
            security_stamp: SecurityStamp::new(row.security_stamp),
        })
    }
}

impl TryFrom<GroupRow> for Group {
    type Error = StoreError;

    fn try_from(row: GroupRow) -> Result<Self, StoreError> {
        Ok(Group {
            id: GroupId::new(row.id).map_err(|e| corrupt("groups", row.id, e))?,
            name: row.name,
            permissions: row.permissions,
            direct_link_batch_size: row.direct_link_batch_size,
            trash_retention: row.trash_retention,
        })
    }
}

impl TryFrom<TokenRow> for ResetToken {
    type Error = StoreError;

    fn try_from(row: TokenRow) -> Result<Self, StoreError> {
        let id = row.id;
        Ok(ResetToken {
            id,
            user_id: UserId::new(row.user_id).map_err(|e| corrupt("reset_tokens", id, e))?,
            digest: SecretDigest::from_slice(&row.digest)
                .ok_or_else(|| corrupt("reset_tokens", id, "digest is not 32 bytes"))?,
            created_at: row.created_at.and_utc(),
            expires_at: row.expires_at.and_utc(),
            used_at: row.used_at.map(|t| t.and_utc()),
            revoked_at: row.revoked_at.map(|t| t.and_utc()),
        })
    }
}

/// An audit event as selected, from either table set.
#[derive(Debug, Queryable)]
pub(in crate::db) struct AuditRow {
    id: i64,
    kind: String,
    user_id: Option<i64>,
    client_ip: Option<String>,
    user_agent: Option<String>,
    correlation_id: Option<String>,
    detail: Option<String>,
    created_at: NaiveDateTime,
}

impl TryFrom<AuditRow> for AuditRecord {
    type Error = StoreError;

    fn try_from(row: AuditRow) -> Result<Self, StoreError> {
        let id = row.id;
        Ok(AuditRecord {
            kind: AuditKind::parse(&row.kind).ok_or_else(|| {
                corrupt("audit_events", id, format!("unknown kind {:?}", row.kind))
            })?,
            user_id: row
                .user_id
                .map(UserId::new)
                .transpose()
                .map_err(|e| corrupt("audit_events", id, e))?,
            client: ClientInfo {
                ip: row.client_ip,
                user_agent: row.user_agent,
                correlation_id: row.correlation_id,
            },
            detail: row.detail,
            at: row.created_at.and_utc(),
        })
    }
}
