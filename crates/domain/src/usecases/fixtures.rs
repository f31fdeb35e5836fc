//! Shared test doubles for the use-case tests.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};

use crate::model::{Group, ResetToken, User, UserProfile, UserSettings, UserStatus};
use crate::model::{MailKind, OutgoingMail};
use crate::ports::{
    MockAuditLog, MockClock, MockMailComposer, MockPasswordHasher, MockPublicIdCodec,
    MockRandomSource, MockResetStore, MockUserStore, Ports,
};
use crate::usecases::{
    CreateUser, IssueResetLink, LinkPolicy, RequestPasswordReset, ResetPassword,
};
use crate::values::{GroupId, PasswordHash, ResetSecret, SecurityStamp, UserId};

pub const SECRET: &str = "XR3EdrZXoi5jDAXJUt9yLn85WWMYmmhK";
pub const OTHER_SECRET: &str = "abcdefghijABCDEFGHIJ0123456789xy";

pub fn secret() -> ResetSecret {
    ResetSecret::parse(SECRET).unwrap()
}

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap()
}

pub fn hash(s: &str) -> PasswordHash {
    PasswordHash::new(s.to_owned())
}

pub fn live_token(id: i64, user: i64, secret: &str) -> ResetToken {
    ResetToken {
        id,
        user_id: UserId::new(user).unwrap(),
        digest: ResetSecret::parse(secret).unwrap().digest(),
        created_at: now() - chrono::Duration::minutes(10),
        expires_at: now() + chrono::Duration::minutes(50),
        used_at: None,
        revoked_at: None,
    }
}

pub fn profile(id: i64, status: UserStatus) -> UserProfile {
    UserProfile {
        user: User {
            id: UserId::new(id).unwrap(),
            email: format!("user{id}@example.com"),
            nickname: format!("User {id}"),
            password_hash: hash("$2b$04$old"),
            status,
            avatar: None,
            credit: None,
            settings: UserSettings::default(),
            group_id: GroupId::new(2).unwrap(),
            created_at: now() - chrono::Duration::days(30),
            updated_at: now() - chrono::Duration::days(30),
            security_stamp: SecurityStamp::new("old-stamp".into()),
        },
        group: Group {
            id: GroupId::new(2).unwrap(),
            name: "User".into(),
            permissions: vec![0x9c],
            direct_link_batch_size: 10,
            trash_retention: 604_800,
        },
    }
}

/// One mock per port. A mock with no expectation panics when called, so a
/// test that sets none proves the port was not used.
#[derive(Default)]
pub struct Mocks {
    pub users: MockUserStore,
    pub tokens: MockResetStore,
    pub hasher: MockPasswordHasher,
    pub clock: MockClock,
    pub random: MockRandomSource,
    pub ids: MockPublicIdCodec,
    pub audit: MockAuditLog,
    pub refusals: MockAuditLog,
    pub mail: MockMailComposer,
}

pub fn notice(to: &str) -> OutgoingMail {
    OutgoingMail {
        kind: MailKind::PasswordChanged,
        to: to.to_owned(),
        subject: "changed".into(),
        text: "text".into(),
        html: "html".into(),
    }
}

impl Mocks {
    pub fn ports(self) -> Ports {
        Ports {
            users: Arc::new(self.users),
            tokens: Arc::new(self.tokens),
            hasher: Arc::new(self.hasher),
            clock: Arc::new(self.clock),
            random: Arc::new(self.random),
            ids: Arc::new(self.ids),
            audit: Arc::new(self.audit),
            refusals: Arc::new(self.refusals),
            mail: Arc::new(self.mail),
        }
    }

    pub fn reset(self) -> ResetPassword {
        ResetPassword::new(&self.ports())
    }

    pub fn issue(self, policy: LinkPolicy) -> IssueResetLink {
        IssueResetLink::new(&self.ports(), policy)
    }

    pub fn request(self, policy: LinkPolicy) -> RequestPasswordReset {
        RequestPasswordReset::new(&self.ports(), policy)
    }

    pub fn create_user(self) -> CreateUser {
        CreateUser::new(&self.ports())
    }
}
