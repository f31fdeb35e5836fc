//! `RequestPasswordReset`: someone who forgot their password asks for a link
//! by email address.
//!
//! Whatever the address, the same shape of work happens (one lookup, one
//! transaction that writes an audit row), so neither the answer nor its timing
//! tells a stranger whether the address has an account. Whether to reveal the
//! outcome is the caller's decision.

use std::sync::Arc;

use thiserror::Error;

use crate::model::{AuditKind, AuditRecord, ClientInfo, Language, UserStatus};
use crate::ports::{
    AuditLog, Clock, MailComposer, NewResetToken, Ports, PublicIdCodec, RandomError, RandomSource,
    ResetLinkMail, ResetStore, StoreError, UserStore,
};
use crate::usecases::LinkPolicy;
use crate::values::Email;

/// A request for a reset link.
#[derive(Debug, Clone)]
pub struct RequestResetCommand {
    /// The address typed into the form.
    pub email: Email,
    /// The language the request asked for, if any.
    pub language: Option<String>,
    /// Who asked, for the audit trail.
    pub client: ClientInfo,
}

/// Why no email was sent. Callers hiding account state answer these exactly
/// like [`RequestResetOutcome::Queued`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ineligible {
    /// No account has this address.
    UnknownUser,
    /// The account exists but was never activated.
    Inactive,
    /// The account is banned.
    Banned,
}

impl Ineligible {
    fn as_str(self) -> &'static str {
        match self {
            Self::UnknownUser => "unknown_address",
            Self::Inactive => "inactive",
            Self::Banned => "banned",
        }
    }
}

/// How a request ended. Both variants are successes for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestResetOutcome {
    /// A link was minted and its email queued.
    Queued,
    /// No link: the address cannot reset a password.
    NotQueued(Ineligible),
}

/// The request could not be handled; nothing changed.
#[derive(Debug, Error)]
pub enum RequestResetError {
    /// Looking the address up failed.
    #[error(transparent)]
    Lookup(StoreError),
    /// Recording the request (queueing the email, or the audit row) failed.
    #[error("the request could not be recorded: {0}")]
    Record(#[source] StoreError),
    /// No randomness for the secret.
    #[error(transparent)]
    Random(#[from] RandomError),
}

/// The request-a-link use case.
#[derive(Clone)]
pub struct RequestPasswordReset {
    users: Arc<dyn UserStore>,
    tokens: Arc<dyn ResetStore>,
    audit: Arc<dyn AuditLog>,
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
    ids: Arc<dyn PublicIdCodec>,
    mail: Arc<dyn MailComposer>,
    policy: LinkPolicy,
}

impl std::fmt::Debug for RequestPasswordReset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestPasswordReset").field("policy", &self.policy).finish_non_exhaustive()
    }
}

impl RequestPasswordReset {
    /// Wires the use case to its ports.
    pub fn new(ports: &Ports, policy: LinkPolicy) -> Self {
        Self {
            users: ports.users.clone(),
            tokens: ports.tokens.clone(),
            audit: ports.audit.clone(),
            clock: ports.clock.clone(),
            random: ports.random.clone(),
            ids: ports.ids.clone(),
            mail: ports.mail.clone(),
            policy,
        }
    }

    /// Handles a request. For an active account: a new secret (older ones
    /// revoked) and its email, queued in one transaction with the audit row.
    /// For any other address: the audit row alone. Blocking.
    ///
    /// # Errors
    /// See [`RequestResetError`].
    pub fn execute(
        &self,
        cmd: RequestResetCommand,
    ) -> Result<RequestResetOutcome, RequestResetError> {
        let user = self.users.find_user_by_email(&cmd.email).map_err(RequestResetError::Lookup)?;
        let now = self.clock.now();
        let audit = |user_id, outcome: &str| AuditRecord {
            kind: AuditKind::LinkRequested,
            user_id,
            client: cmd.client.clone(),
            detail: Some(format!("outcome={outcome} email={}", cmd.email.masked())),
            at: now,
        };
        let user = match user {
            Some(user) if user.status == UserStatus::Active => user,
            other => {
                let reason = match other.as_ref().map(|u| u.status) {
                    None => Ineligible::UnknownUser,
                    Some(UserStatus::Inactive) => Ineligible::Inactive,
                    Some(_) => Ineligible::Banned,
                };
                self.audit
                    .record(&audit(other.map(|u| u.id), reason.as_str()))
                    .map_err(RequestResetError::Record)?;
                return Ok(RequestResetOutcome::NotQueued(reason));
            }
        };

        let secret = self.random.reset_secret()?;
        let expires_at = now + self.policy.ttl;
        let public_id = self.ids.encode_user(user.id);
        let url = self.policy.link(&public_id, &secret);
        let mail = self.mail.reset_link(&ResetLinkMail {
            to: &user.email,
            nickname: &user.nickname,
            url: &url,
            expires_at,
            ttl: self.policy.ttl,
            language: Language::choose([
                cmd.language.as_deref(),
                user.settings.language.as_deref(),
            ]),
            requested_language: cmd.language.as_deref(),
            user_language: user.settings.language.as_deref(),
        });
        self.tokens
            .issue_token(&NewResetToken {
                user_id: user.id,
                digest: secret.digest(),
                created_at: now,
                expires_at,
                mail: Some(mail),
                audit: audit(Some(user.id), "issued"),
            })
            .map_err(RequestResetError::Record)?;
        Ok(RequestResetOutcome::Queued)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{MailKind, OutgoingMail};
    use crate::usecases::fixtures::*;
    use chrono::Duration;

    fn policy() -> LinkPolicy {
        LinkPolicy { ttl: Duration::minutes(30), site_url: "https://drive.example.com".into() }
    }

    fn command(email: &str, language: Option<&str>) -> RequestResetCommand {
        RequestResetCommand {
            email: Email::parse(email).unwrap(),
            language: language.map(str::to_owned),
            client: ClientInfo { ip: Some("198.51.100.4".into()), ..ClientInfo::default() },
        }
    }

    fn link_mail(to: &str) -> OutgoingMail {
        OutgoingMail {
            kind: MailKind::ResetLink,
            to: to.into(),
            subject: "s".into(),
            text: "t".into(),
            html: "h".into(),
        }
    }

    #[test]
    fn active_user_gets_a_link_queued_with_its_token() {
        let mut m = Mocks::default();
        m.users.expect_find_user_by_email().returning(|_| {
            let mut user = profile(1, UserStatus::Active).user;
            user.settings.language = Some("en-US".into());
            Ok(Some(user))
        });
        m.clock.expect_now().returning(now);
        m.random.expect_reset_secret().returning(|| Ok(secret()));
        m.ids.expect_encode_user().returning(|_| "lpua".into());
        m.mail
            .expect_reset_link()
            .withf(|mail| {
                mail.to == "user1@example.com"
                    && mail.url == format!("https://drive.example.com/session/reset?id=lpua&secret={SECRET}")
                    && mail.expires_at == now() + Duration::minutes(30)
                    && mail.ttl == Duration::minutes(30)
                    // The request's language wins over the user's setting.
                    && mail.language == Some(Language::ZhCn)
            })
            .returning(|mail| link_mail(mail.to));
        m.tokens
            .expect_issue_token()
            .withf(|t| {
                t.digest == secret().digest()
                    && t.mail == Some(link_mail("user1@example.com"))
                    && t.audit.kind == AuditKind::LinkRequested
                    && t.audit.user_id.map(|u| u.get()) == Some(1)
                    && t.audit.detail.as_deref() == Some("outcome=issued email=u***@example.com")
            })
            .times(1)
            .returning(|_| Ok(()));
        let outcome =
            m.request(policy()).execute(command("user1@example.com", Some("zh-CN"))).unwrap();
        assert_eq!(outcome, RequestResetOutcome::Queued);
    }

    #[test]
    fn ineligible_addresses_get_an_audit_row_and_nothing_else() {
        let cases = [
            (None, Ineligible::UnknownUser, "unknown_address"),
            (Some(UserStatus::Inactive), Ineligible::Inactive, "inactive"),
            (Some(UserStatus::ManualBanned), Ineligible::Banned, "banned"),
            (Some(UserStatus::SysBanned), Ineligible::Banned, "banned"),
        ];
        for (status, reason, detail) in cases {
            let mut m = Mocks::default();
            m.users
                .expect_find_user_by_email()
                .returning(move |_| Ok(status.map(|s| profile(4, s).user)));
            m.clock.expect_now().returning(now);
            m.audit
                .expect_record()
                .withf(move |r| {
                    r.kind == AuditKind::LinkRequested
                        && r.user_id.map(|u| u.get()) == status.map(|_| 4)
                        && r.detail.as_deref()
                            == Some(&*format!("outcome={detail} email=s***@example.com"))
                        && r.client.ip.as_deref() == Some("198.51.100.4")
                })
                .times(1)
                .returning(|_| Ok(()));
            // No secret is minted, no token issued, no email rendered: the
            // mocks for those have no expectations and would panic.
            let outcome =
                m.request(policy()).execute(command("someone@example.com", None)).unwrap();
            assert_eq!(outcome, RequestResetOutcome::NotQueued(reason));
        }
    }

    #[test]
    fn failures_are_reported_by_stage() {
        let mut m = Mocks::default();
        m.users.expect_find_user_by_email().returning(|_| Err(StoreError::msg("down")));
        let err = m.request(policy()).execute(command("a@example.com", None)).unwrap_err();
        assert!(matches!(err, RequestResetError::Lookup(_)), "{err:?}");

        let mut m = Mocks::default();
        m.users.expect_find_user_by_email().returning(|_| Ok(None));
        m.clock.expect_now().returning(now);
        m.audit.expect_record().returning(|_| Err(StoreError::msg("disk full")));
        let err = m.request(policy()).execute(command("a@example.com", None)).unwrap_err();
        assert!(matches!(err, RequestResetError::Record(_)), "{err:?}");

        let mut m = Mocks::default();
        m.users
            .expect_find_user_by_email()
            .returning(|_| Ok(Some(profile(1, UserStatus::Active).user)));
        m.clock.expect_now().returning(now);
        m.random.expect_reset_secret().returning(|| Ok(secret()));
        m.ids.expect_encode_user().returning(|_| "lpua".into());
        m.mail.expect_reset_link().returning(|mail| link_mail(mail.to));
        m.tokens.expect_issue_token().returning(|_| Err(StoreError::msg("serialization failure")));
        let err = m.request(policy()).execute(command("a@example.com", None)).unwrap_err();
        assert!(matches!(err, RequestResetError::Record(_)), "{err:?}");
    }
}
