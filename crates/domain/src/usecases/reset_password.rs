//! `ResetPassword`: a secret from a reset link and a new password become a
//! changed password, once.

use std::sync::Arc;

use thiserror::Error;

use crate::model::{
    AuditKind, AuditRecord, ClientInfo, Language, TokenState, UserProfile, UserStatus,
};
use crate::ports::{
    AuditLog, Clock, CompletedReset, HashError, MailComposer, PasswordChangedMail, PasswordHasher,
    Ports, RandomError, RandomSource, ResetCommit, ResetStore, StoreError, UserStore,
};
use crate::values::{NewPassword, SubmittedSecret, UserId};

/// A reset request whose input has already been parsed.
#[derive(Debug, Clone)]
pub struct ResetPasswordCommand {
    /// The user named by the link (decoded from its public id).
    pub user_id: UserId,
    /// The secret from the link, as submitted.
    pub secret: SubmittedSecret,
    /// The new password.
    pub password: NewPassword,
    /// Who asked, for the audit trail.
    pub client: ClientInfo,
}

/// A reset whose link and account checked out, on its way to being hashed
/// and committed by [`ResetPassword::complete`]. Only
/// [`ResetPassword::check`] makes one.
#[derive(Debug)]
pub struct CheckedReset {
    cmd: ResetPasswordCommand,
    token_id: i64,
    profile: UserProfile,
}

/// Why a link did not work. Callers must answer every one of these the same
/// way (so an attacker learns nothing); the distinction is for the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkProblem {
    /// The secret does not have the shape of a secret.
    Malformed,
    /// No token has this secret.
    Unknown,
    /// The token belongs to another user.
    OtherUser,
    /// The token's lifetime is over.
    Expired,
    /// The token already reset a password.
    Used,
    /// A newer token or another reset replaced it.
    Revoked,
}

impl LinkProblem {
    /// A short stable name, for audit rows and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::Unknown => "unknown",
            Self::OtherUser => "other_user",
            Self::Expired => "expired",
            Self::Used => "used",
            Self::Revoked => "revoked",
        }
    }
}

/// Why a reset did not happen. In every case nothing changed.
#[derive(Debug, Error)]
pub enum ResetPasswordError {
    /// The link is not a live link of this user.
    #[error("the reset link is invalid or expired ({})", .0.as_str())]
    InvalidLink(LinkProblem),
    /// The link is live but the account is not active; the link stays usable.
    #[error("the account is not active")]
    UserNotActive,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Hashing failed.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// No randomness for the security stamp.
    #[error(transparent)]
    Random(#[from] RandomError),
}

/// The reset use case. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct ResetPassword {
    users: Arc<dyn UserStore>,
    tokens: Arc<dyn ResetStore>,
    hasher: Arc<dyn PasswordHasher>,
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
    mail: Arc<dyn MailComposer>,
    refusals: Arc<dyn AuditLog>,
}

impl std::fmt::Debug for ResetPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResetPassword")
    }
}

impl ResetPassword {
    /// Wires the use case to its ports.
    pub fn new(ports: &Ports) -> Self {
        Self {
            users: ports.users.clone(),
            tokens: ports.tokens.clone(),
            hasher: ports.hasher.clone(),
            clock: ports.clock.clone(),
            random: ports.random.clone(),
            mail: ports.mail.clone(),
            refusals: ports.refusals.clone(),
        }
    }

    /// Resets the password: [`check`](Self::check), then
    /// [`complete`](Self::complete). Blocking: it reads storage and runs the
    /// hasher, so call it from a thread that may block.
    ///
    /// Order of checks: the secret first (any problem is
    /// [`ResetPasswordError::InvalidLink`], so a user id alone reveals
    /// nothing), then the user's state, then the hash is computed, then
    /// everything is committed atomically, re-checking the token at commit
    /// time so that concurrent resets with one secret produce one winner.
    ///
    /// A refused attempt (a dead link, an inactive account) is recorded in
    /// the audit trail with its reason.
    ///
    /// # Errors
    /// See [`ResetPasswordError`]; nothing changed on any error.
    pub fn execute(&self, cmd: ResetPasswordCommand) -> Result<UserProfile, ResetPasswordError> {
        self.check(cmd).and_then(|checked| self.complete(checked))
    }

    /// The first half of [`execute`](Self::execute): everything up to the
    /// hash. It only reads storage (and audits a refusal), so callers can run
    /// it where storage work runs, and hand the rarer, CPU-heavy
    /// [`complete`](Self::complete) to other threads: a flood of dead links
    /// then never waits behind hashing, nor hashing behind the flood.
    ///
    /// # Errors
    /// As [`execute`](Self::execute), except that hashing and committing
    /// have not happened yet.
    pub fn check(&self, cmd: ResetPasswordCommand) -> Result<CheckedReset, ResetPasswordError> {
        let (user_id, client) = (cmd.user_id, cmd.client.clone());
        let checked = self.check_link(cmd);
        self.audit_refusal(user_id, client, checked)
    }

    /// The second half of [`execute`](Self::execute): hashes the password and
    /// commits the reset, re-checking the token and the account in the
    /// commit's transaction.
    ///
    /// # Errors
    /// See [`ResetPasswordError`]; nothing changed on any error.
    pub fn complete(&self, checked: CheckedReset) -> Result<UserProfile, ResetPasswordError> {
        let (user_id, client) = (checked.cmd.user_id, checked.cmd.client.clone());
        let completed = self.commit(checked);
        self.audit_refusal(user_id, client, completed)
    }

    fn audit_refusal<T>(
        &self,
        user_id: UserId,
        client: ClientInfo,
        result: Result<T, ResetPasswordError>,
    ) -> Result<T, ResetPasswordError> {
        let reason = match &result {
            Err(ResetPasswordError::InvalidLink(problem)) => Some(problem.as_str()),
            Err(ResetPasswordError::UserNotActive) => Some("user_not_active"),
            _ => None,
        };
        if let Some(reason) = reason {
            self.refusals.record(&AuditRecord {
                kind: AuditKind::ResetRefused,
                // The user the link names (for a dead link, only claimed).
                user_id: Some(user_id),
                client,
                detail: Some(format!("reason={reason}")),
                at: self.clock.now(),
            })?;
        }
        result
    }

    fn check_link(&self, cmd: ResetPasswordCommand) -> Result<CheckedReset, ResetPasswordError> {
        let secret = cmd
            .secret
            .parse()
            .map_err(|_| ResetPasswordError::InvalidLink(LinkProblem::Malformed))?;
        let digest = secret.digest();
        let token = self
            .tokens
            .find_token(&digest)?
            .ok_or(ResetPasswordError::InvalidLink(LinkProblem::Unknown))?;
        // The lookup was by digest already; this comparison is defence in
        // depth against an adapter that matches loosely, and it is constant-time.
        if token.digest != digest {
            return Err(ResetPasswordError::InvalidLink(LinkProblem::Unknown));
        }
        if token.user_id != cmd.user_id {
            return Err(ResetPasswordError::InvalidLink(LinkProblem::OtherUser));
        }
        match token.state(self.clock.now()) {
            TokenState::Live => {}
            TokenState::Expired => {
                return Err(ResetPasswordError::InvalidLink(LinkProblem::Expired));
            }
            TokenState::Used => return Err(ResetPasswordError::InvalidLink(LinkProblem::Used)),
            TokenState::Revoked => {
                return Err(ResetPasswordError::InvalidLink(LinkProblem::Revoked));
            }
        }

        let profile = self
            .users
            .find_profile(cmd.user_id)?
            .ok_or(ResetPasswordError::InvalidLink(LinkProblem::Unknown))?;
        if profile.user.status != UserStatus::Active {
            return Err(ResetPasswordError::UserNotActive);
        }
        Ok(CheckedReset { cmd, token_id: token.id, profile })
    }

    fn commit(&self, checked: CheckedReset) -> Result<UserProfile, ResetPasswordError> {
        let CheckedReset { cmd, token_id, profile } = checked;
        let password_hash = self.hasher.hash(&cmd.password)?;
        let security_stamp = self.random.security_stamp()?;
        // Time is read again after hashing: a token that expired while the
        // hash was computed must not be accepted.
        let at = self.clock.now();
        let user = &profile.user;
        let notice = self.mail.password_changed(&PasswordChangedMail {
            to: &user.email,
            nickname: &user.nickname,
            at,
            language: Language::choose([user.settings.language.as_deref()]),
            user_language: user.settings.language.as_deref(),
        });
        let reset = CompletedReset {
            token_id,
            user_id: cmd.user_id,
            password_hash,
            security_stamp,
            at,
            notice: Some(notice),
            audit: AuditRecord {
                kind: AuditKind::ResetSucceeded,
                user_id: Some(cmd.user_id),
                client: cmd.client,
                detail: None,
                at,
            },
        };
        match self.tokens.complete_reset(&reset)? {
            ResetCommit::Applied(profile) => Ok(*profile),
            ResetCommit::TokenNotLive => Err(ResetPasswordError::InvalidLink(LinkProblem::Used)),
            ResetCommit::UserNotActive => Err(ResetPasswordError::UserNotActive),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usecases::fixtures::*;
    use chrono::Duration;
    use mockall::predicate::eq;

    fn command(user: i64, secret: &str, password: &str) -> ResetPasswordCommand {
        ResetPasswordCommand {
            user_id: UserId::new(user).unwrap(),
            secret: SubmittedSecret::new(secret.to_owned()),
            password: NewPassword::parse(password.to_owned()).unwrap(),
            client: ClientInfo { ip: Some("192.0.2.1".into()), ..ClientInfo::default() },
        }
    }

    /// Ports where the token and user below exist, and nothing is expected to
    /// be written unless a test says so.
    fn world(token_user: i64, status: UserStatus) -> Mocks {
        let mut m = Mocks::default();
        let token = live_token(7, token_user, SECRET);
        m.tokens
            .expect_find_token()
            .withf(|d| *d == secret().digest())
            .returning(move |_| Ok(Some(token.clone())));
        m.users.expect_find_profile().returning(move |id| Ok(Some(profile(id.get(), status))));
        m.clock.expect_now().returning(now);
        m.random
            .expect_security_stamp()
            .returning(|| Ok(crate::SecurityStamp::new("new-stamp".into())));
        expect_notice(&mut m);
        m
    }

    fn expect_notice(m: &mut Mocks) {
        m.mail.expect_password_changed().returning(|n| notice(n.to));
    }

    #[test]
    fn live_secret_resets_the_password_atomically() {
        let mut m = world(1, UserStatus::Active);
        m.hasher
            .expect_hash()
            .withf(|p| p.expose() == "n3w-Passw0rd")
            .times(1)
            .returning(|_| Ok(hash("$2b$04$new")));
        m.tokens
            .expect_complete_reset()
            .withf(|r| {
                r.token_id == 7
                    && r.user_id.get() == 1
                    && r.password_hash == hash("$2b$04$new")
                    && r.security_stamp.as_str() == "new-stamp"
                    && r.at == now()
                    && r.audit.kind == AuditKind::ResetSucceeded
                    && r.audit.user_id == UserId::new(1).ok()
                    && r.audit.client.ip.as_deref() == Some("192.0.2.1")
                    && r.notice == Some(notice("user1@example.com"))
            })
            .times(1)
            .returning(|r| {
                Ok(ResetCommit::Applied(Box::new(profile(r.user_id.get(), UserStatus::Active))))
            });
        let profile = m.reset().execute(command(1, SECRET, "n3w-Passw0rd")).unwrap();
        assert_eq!(profile.user.id.get(), 1);
    }

    #[test]
    fn check_reads_without_hashing_and_complete_hashes_and_commits() {
        // No hash or commit expected: check must neither hash nor write.
        let reader = world(1, UserStatus::Active).reset();
        let checked = reader.check(command(1, SECRET, "n3w-Passw0rd")).unwrap();

        let mut m = world(1, UserStatus::Active);
        m.hasher.expect_hash().times(1).returning(|_| Ok(hash("$2b$04$new")));
        m.tokens
            .expect_complete_reset()
            .withf(|r| r.token_id == 7 && r.user_id.get() == 1)
            .times(1)
            .returning(|r| {
                Ok(ResetCommit::Applied(Box::new(profile(r.user_id.get(), UserStatus::Active))))
            });
        let profile = m.reset().complete(checked).unwrap();
        assert_eq!(profile.user.id.get(), 1);
    }

    #[test]
    fn a_refusal_found_at_commit_is_audited_by_complete() {
        let mut m = world(1, UserStatus::Active);
        m.hasher.expect_hash().returning(|_| Ok(hash("$2b$04$new")));
        m.tokens.expect_complete_reset().returning(|_| Ok(ResetCommit::TokenNotLive));
        m.refusals
            .expect_record()
            .withf(|r| {
                r.kind == AuditKind::ResetRefused && r.detail.as_deref() == Some("reason=used")
            })
            .times(1)
            .returning(|_| Ok(()));
        let reset = m.reset();
        let checked = reset.check(command(1, SECRET, "n3w-Passw0rd")).unwrap();
        let refused = reset.complete(checked).unwrap_err();
        assert!(matches!(refused, ResetPasswordError::InvalidLink(LinkProblem::Used)));
    }

    fn expect_refusal(mut m: Mocks, cmd: ResetPasswordCommand) -> ResetPasswordError {
        // Mocks without expectations for hash/complete_reset panic if called:
        // every refusal below is proven to change nothing and hash nothing.
        // Refusals are audited; what is recorded is checked on its own below.
        m.refusals.expect_record().returning(|_| Ok(()));
        m.clock.expect_now().returning(now);
        m.reset().execute(cmd).unwrap_err()
    }

    #[test]
    fn refusals_are_audited_with_their_reason() {
        for (secret, reason) in [("short", "malformed"), (OTHER_SECRET, "unknown")] {
            let mut m = Mocks::default();
            m.tokens.expect_find_token().returning(|_| Ok(None));
            m.clock.expect_now().returning(now);
            let expected = format!("reason={reason}");
            m.refusals
                .expect_record()
                .withf(move |r| {
                    r.kind == AuditKind::ResetRefused
                        && r.user_id.map(|u| u.get()) == Some(1)
                        && r.detail.as_deref() == Some(expected.as_str())
                        && r.client.ip.as_deref() == Some("192.0.2.1")
                        && r.at == now()
                })
                .times(1)
                .returning(|_| Ok(()));
            assert!(m.reset().execute(command(1, secret, "n3w-Passw0rd")).is_err());
        }
        let mut m = world(1, UserStatus::ManualBanned);
        m.refusals
            .expect_record()
            .withf(|r| r.detail.as_deref() == Some("reason=user_not_active"))
            .times(1)
            .returning(|_| Ok(()));
        assert!(matches!(
            m.reset().execute(command(1, SECRET, "n3w-Passw0rd")),
            Err(ResetPasswordError::UserNotActive)
        ));
    }

    #[test]
    fn successes_and_failures_of_the_service_are_not_refusals() {
        // No expectation on `refusals`: recording one would panic.
        let mut m = Mocks::default();
        m.tokens.expect_find_token().returning(|_| Err(StoreError::msg("down")));
        assert!(matches!(
            m.reset().execute(command(1, SECRET, "n3w-Passw0rd")),
            Err(ResetPasswordError::Store(_))
        ));
    }

    #[test]
    fn malformed_secret_is_an_invalid_link_without_touching_storage() {
        for bad in ["", "short", "XR3EdrZXoi5jDAXJUt9yLn85WWMYmmh!", &"a".repeat(5000)] {
            let err = expect_refusal(Mocks::default(), command(1, bad, "n3w-Passw0rd"));
            assert!(
                matches!(err, ResetPasswordError::InvalidLink(LinkProblem::Malformed)),
                "{err:?}"
            );
        }
    }

    #[test]
    fn unknown_secret_is_an_invalid_link() {
        let mut m = Mocks::default();
        m.tokens.expect_find_token().returning(|_| Ok(None));
        let err = expect_refusal(m, command(1, OTHER_SECRET, "n3w-Passw0rd"));
        assert!(matches!(err, ResetPasswordError::InvalidLink(LinkProblem::Unknown)), "{err:?}");
    }

    #[test]
    fn adapter_returning_a_token_with_another_digest_is_refused() {
        let mut m = Mocks::default();
        m.tokens.expect_find_token().returning(|_| Ok(Some(live_token(7, 1, OTHER_SECRET))));
        let err = expect_refusal(m, command(1, SECRET, "n3w-Passw0rd"));
        assert!(matches!(err, ResetPasswordError::InvalidLink(LinkProblem::Unknown)), "{err:?}");
    }

    #[test]
    fn another_users_secret_is_an_invalid_link() {
        let m = world(2, UserStatus::Active);
        let err = expect_refusal(m, command(1, SECRET, "n3w-Passw0rd"));
        assert!(matches!(err, ResetPasswordError::InvalidLink(LinkProblem::OtherUser)), "{err:?}");
    }

    #[test]
    fn expired_used_and_revoked_secrets_are_invalid_links() {
        type Change = fn(&mut crate::ResetToken);
        let cases: [(Change, LinkProblem); 4] = [
            (|t| t.expires_at = now() - Duration::seconds(1), LinkProblem::Expired),
            (|t| t.expires_at = now(), LinkProblem::Expired),
            (|t| t.used_at = Some(now() - Duration::minutes(5)), LinkProblem::Used),
            (|t| t.revoked_at = Some(now() - Duration::minutes(5)), LinkProblem::Revoked),
        ];
        for (change, problem) in cases {
            let mut m = Mocks::default();
            let mut token = live_token(7, 1, SECRET);
            change(&mut token);
            m.tokens.expect_find_token().returning(move |_| Ok(Some(token.clone())));
            m.clock.expect_now().returning(now);
            let err = expect_refusal(m, command(1, SECRET, "n3w-Passw0rd"));
            assert!(
                matches!(err, ResetPasswordError::InvalidLink(p) if p == problem),
                "{problem:?}: {err:?}"
            );
        }
    }

    #[test]
    fn inactive_and_banned_users_are_refused_and_keep_their_secret() {
        for status in [UserStatus::Inactive, UserStatus::ManualBanned, UserStatus::SysBanned] {
            let m = world(1, status);
            let err = expect_refusal(m, command(1, SECRET, "n3w-Passw0rd"));
            assert!(matches!(err, ResetPasswordError::UserNotActive), "{status:?}: {err:?}");
        }
    }

    #[test]
    fn user_missing_behind_a_live_token_is_an_invalid_link() {
        let mut m = Mocks::default();
        m.tokens.expect_find_token().returning(|_| Ok(Some(live_token(7, 1, SECRET))));
        m.clock.expect_now().returning(now);
        m.users.expect_find_profile().with(eq(UserId::new(1).unwrap())).returning(|_| Ok(None));
        let err = expect_refusal(m, command(1, SECRET, "n3w-Passw0rd"));
        assert!(matches!(err, ResetPasswordError::InvalidLink(LinkProblem::Unknown)), "{err:?}");
    }

    #[test]
    fn losing_a_race_at_commit_is_an_invalid_link() {
        let mut m = world(1, UserStatus::Active);
        m.hasher.expect_hash().returning(|_| Ok(hash("$2b$04$new")));
        m.tokens.expect_complete_reset().times(1).returning(|_| Ok(ResetCommit::TokenNotLive));
        let err = expect_refusal(m, command(1, SECRET, "n3w-Passw0rd"));
        assert!(matches!(err, ResetPasswordError::InvalidLink(LinkProblem::Used)), "{err:?}");
    }

    #[test]
    fn user_banned_while_hashing_is_refused() {
        let mut m = world(1, UserStatus::Active);
        m.hasher.expect_hash().returning(|_| Ok(hash("$2b$04$new")));
        m.tokens.expect_complete_reset().times(1).returning(|_| Ok(ResetCommit::UserNotActive));
        let err = expect_refusal(m, command(1, SECRET, "n3w-Passw0rd"));
        assert!(matches!(err, ResetPasswordError::UserNotActive), "{err:?}");
    }

    #[test]
    fn token_that_expires_while_hashing_is_checked_at_commit_time() {
        let mut m = Mocks::default();
        m.tokens.expect_find_token().returning(|_| Ok(Some(live_token(7, 1, SECRET))));
        m.users
            .expect_find_profile()
            .returning(|id| Ok(Some(profile(id.get(), UserStatus::Active))));
        let mut seq = mockall::Sequence::new();
        m.clock.expect_now().times(1).in_sequence(&mut seq).returning(now);
        let later = now() + Duration::hours(2);
        m.clock.expect_now().times(1).in_sequence(&mut seq).returning(move || later);
        m.random.expect_security_stamp().returning(|| Ok(crate::SecurityStamp::new("s".into())));
        m.hasher.expect_hash().returning(|_| Ok(hash("$2b$04$new")));
        expect_notice(&mut m);
        m.tokens
            .expect_complete_reset()
            .withf(move |r| r.at == later)
            .returning(|_| Ok(ResetCommit::TokenNotLive));
        let err = expect_refusal(m, command(1, SECRET, "n3w-Passw0rd"));
        assert!(matches!(err, ResetPasswordError::InvalidLink(_)), "{err:?}");
    }

    #[test]
    fn storage_failure_on_lookup_is_reported() {
        let mut m = Mocks::default();
        m.tokens.expect_find_token().returning(|_| Err(StoreError::msg("connection refused")));
        let err = expect_refusal(m, command(1, SECRET, "n3w-Passw0rd"));
        assert!(matches!(err, ResetPasswordError::Store(_)), "{err:?}");
    }

    #[test]
    fn storage_failure_on_user_lookup_is_reported() {
        let mut m = Mocks::default();
        m.tokens.expect_find_token().returning(|_| Ok(Some(live_token(7, 1, SECRET))));
        m.clock.expect_now().returning(now);
        m.users.expect_find_profile().returning(|_| Err(StoreError::msg("timeout")));
        let err = expect_refusal(m, command(1, SECRET, "n3w-Passw0rd"));
        assert!(matches!(err, ResetPasswordError::Store(_)), "{err:?}");
    }

    #[test]
    fn storage_failure_on_commit_is_reported() {
        let mut m = world(1, UserStatus::Active);
        m.hasher.expect_hash().returning(|_| Ok(hash("$2b$04$new")));
        m.tokens
            .expect_complete_reset()
            .times(1)
            .returning(|_| Err(StoreError::msg("serialization failure")));
        let err = expect_refusal(m, command(1, SECRET, "n3w-Passw0rd"));
        assert!(matches!(err, ResetPasswordError::Store(_)), "{err:?}");
    }

    #[test]
    fn hasher_failure_is_reported_and_nothing_is_committed() {
        for failure in [HashError::Busy, HashError::Failed("bad cost".into())] {
            let mut m = world(1, UserStatus::Active);
            let mut failure = Some(failure);
            m.hasher.expect_hash().times(1).returning(move |_| Err(failure.take().unwrap()));
            let err = expect_refusal(m, command(1, SECRET, "n3w-Passw0rd"));
            assert!(matches!(err, ResetPasswordError::Hash(_)), "{err:?}");
        }
    }

    #[test]
    fn randomness_failure_is_reported_and_nothing_is_committed() {
        let mut m = Mocks::default();
        m.tokens.expect_find_token().returning(|_| Ok(Some(live_token(7, 1, SECRET))));
        m.users
            .expect_find_profile()
            .returning(|id| Ok(Some(profile(id.get(), UserStatus::Active))));
        m.clock.expect_now().returning(now);
        m.hasher.expect_hash().returning(|_| Ok(hash("$2b$04$new")));
        m.random.expect_security_stamp().returning(|| Err(RandomError("getrandom".into())));
        let err = expect_refusal(m, command(1, SECRET, "n3w-Passw0rd"));
        assert!(matches!(err, ResetPasswordError::Random(_)), "{err:?}");
    }
}
