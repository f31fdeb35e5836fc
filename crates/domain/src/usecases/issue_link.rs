//! `IssueResetLink`: mint a reset secret for a user and build the link that carries it.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use thiserror::Error;

use crate::model::{AuditKind, AuditRecord, ClientInfo, User, UserStatus};
use crate::ports::{
    Clock, NewResetToken, Ports, PublicIdCodec, RandomError, RandomSource, ResetStore, StoreError,
    UserStore,
};
use crate::values::{Email, ResetSecret};

/// How links are made.
#[derive(Debug, Clone)]
pub struct LinkPolicy {
    /// How long a link stays usable (Cloudreve: one hour).
    pub ttl: Duration,
    /// The site's public base URL, e.g. `https://drive.example.com`.
    pub site_url: String,
}

impl LinkPolicy {
    /// `{site_url}/session/reset?id={public_id}&secret={secret}`, Cloudreve's link.
    /// Both values are alphanumeric, so they need no escaping.
    pub fn link(&self, public_id: &str, secret: &ResetSecret) -> String {
        format!(
            "{}/session/reset?id={public_id}&secret={}",
            self.site_url.trim_end_matches('/'),
            secret.expose()
        )
    }
}

/// A request for a link.
#[derive(Debug, Clone)]
pub struct IssueLinkCommand {
    /// Whose link.
    pub email: Email,
    /// Who asked, for the audit trail.
    pub client: ClientInfo,
    /// How it was asked for (`cli`, `api`), for the audit trail.
    pub channel: &'static str,
}

/// A freshly issued link. Holds the clear secret: hand it to the mailer (or
/// the operator) and drop it.
#[derive(Debug, Clone)]
pub struct IssuedLink {
    /// The user it resets.
    pub user: User,
    /// The user's public id, as in the link.
    pub public_id: String,
    /// The secret, as in the link.
    pub secret: ResetSecret,
    /// The whole link.
    pub url: String,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
}

/// Why no link was issued. Nothing changed in any case.
#[derive(Debug, Error)]
pub enum IssueLinkError {
    /// No user has this address.
    #[error("no user has this email address")]
    UnknownUser,
    /// The user exists but may not reset its password.
    #[error("the account is {}", .0.as_str())]
    UserNotActive(UserStatus),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No randomness for the secret.
    #[error(transparent)]
    Random(#[from] RandomError),
}

/// The link-issuing use case.
#[derive(Clone)]
pub struct IssueResetLink {
    users: Arc<dyn UserStore>,
    tokens: Arc<dyn ResetStore>,
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
    ids: Arc<dyn PublicIdCodec>,
    policy: LinkPolicy,
}

impl std::fmt::Debug for IssueResetLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssueResetLink").field("policy", &self.policy).finish_non_exhaustive()
    }
}

impl IssueResetLink {
    /// Wires the use case to its ports.
    pub fn new(ports: &Ports, policy: LinkPolicy) -> Self {
        Self {
            users: ports.users.clone(),
            tokens: ports.tokens.clone(),
            clock: ports.clock.clone(),
            random: ports.random.clone(),
            ids: ports.ids.clone(),
            policy,
        }
    }

    /// Issues a link for an active user, revoking the user's older links.
    /// Blocking: call it from a thread that may block.
    ///
    /// # Errors
    /// See [`IssueLinkError`].
    pub fn execute(&self, cmd: IssueLinkCommand) -> Result<IssuedLink, IssueLinkError> {
        let user = self.users.find_user_by_email(&cmd.email)?.ok_or(IssueLinkError::UnknownUser)?;
        if user.status != UserStatus::Active {
            return Err(IssueLinkError::UserNotActive(user.status));
        }
        let secret = self.random.reset_secret()?;
        let now = self.clock.now();
        let expires_at = now + self.policy.ttl;
        self.tokens.issue_token(&NewResetToken {
            user_id: user.id,
            digest: secret.digest(),
            created_at: now,
            expires_at,
            mail: None,
            audit: AuditRecord {
                kind: AuditKind::LinkIssued,
                user_id: Some(user.id),
                client: cmd.client,
                detail: Some(format!("channel={}", cmd.channel)),
                at: now,
            },
        })?;
        let public_id = self.ids.encode_user(user.id);
        let url = self.policy.link(&public_id, &secret);
        Ok(IssuedLink { user, public_id, secret, url, expires_at })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usecases::fixtures::*;

    fn policy() -> LinkPolicy {
        LinkPolicy { ttl: Duration::hours(1), site_url: "https://drive.example.com/".into() }
    }

    fn command(email: &str) -> IssueLinkCommand {
        IssueLinkCommand {
            email: Email::parse(email).unwrap(),
            client: ClientInfo::default(),
            channel: "cli",
        }
    }

    #[test]
    fn active_user_gets_a_link_and_only_the_digest_is_stored() {
        let mut m = Mocks::default();
        m.users
            .expect_find_user_by_email()
            .withf(|e| e.normalized() == "user1@example.com")
            .returning(|_| Ok(Some(profile(1, UserStatus::Active).user)));
        m.random.expect_reset_secret().returning(|| Ok(secret()));
        m.clock.expect_now().returning(now);
        m.ids.expect_encode_user().returning(|id| format!("h{id}"));
        m.tokens
            .expect_issue_token()
            .withf(|t| {
                t.user_id.get() == 1
                    && t.digest == secret().digest()
                    && t.created_at == now()
                    && t.expires_at == now() + Duration::hours(1)
                    && t.audit.kind == AuditKind::LinkIssued
                    && t.audit.detail.as_deref() == Some("channel=cli")
                    && t.mail.is_none()
            })
            .times(1)
            .returning(|_| Ok(()));
        let link = m.issue(policy()).execute(command("USER1@example.com")).unwrap();
        assert_eq!(link.public_id, "h1");
        assert_eq!(link.secret.expose(), SECRET);
        assert_eq!(link.expires_at, now() + Duration::hours(1));
        assert_eq!(
            link.url,
            format!("https://drive.example.com/session/reset?id=h1&secret={SECRET}")
        );
    }

    #[test]
    fn unknown_and_inactive_users_get_no_link() {
        let mut m = Mocks::default();
        m.users.expect_find_user_by_email().returning(|_| Ok(None));
        let err = m.issue(policy()).execute(command("nobody@example.com")).unwrap_err();
        assert!(matches!(err, IssueLinkError::UnknownUser), "{err:?}");

        for status in [UserStatus::Inactive, UserStatus::ManualBanned, UserStatus::SysBanned] {
            let mut m = Mocks::default();
            m.users
                .expect_find_user_by_email()
                .returning(move |_| Ok(Some(profile(1, status).user)));
            let err = m.issue(policy()).execute(command("user1@example.com")).unwrap_err();
            assert!(matches!(err, IssueLinkError::UserNotActive(s) if s == status), "{err:?}");
        }
    }

    #[test]
    fn storage_failure_is_reported() {
        let mut m = Mocks::default();
        m.users
            .expect_find_user_by_email()
            .returning(|_| Ok(Some(profile(1, UserStatus::Active).user)));
        m.random.expect_reset_secret().returning(|| Ok(secret()));
        m.clock.expect_now().returning(now);
        m.tokens.expect_issue_token().returning(|_| Err(StoreError::msg("disk full")));
        let err = m.issue(policy()).execute(command("user1@example.com")).unwrap_err();
        assert!(matches!(err, IssueLinkError::Store(_)), "{err:?}");
    }
}
