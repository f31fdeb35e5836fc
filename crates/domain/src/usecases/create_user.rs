//! `CreateUser`: an operator adds an account (the `user create` command).

use std::sync::Arc;

use thiserror::Error;

use crate::model::{UserProfile, UserSettings, UserStatus};
use crate::ports::{
    Clock, CreateUserError, GroupRef, HashError, NewUser, PasswordHasher, Ports, RandomError,
    RandomSource, StoreError, UserStore,
};
use crate::values::{Email, NewPassword};

/// A user to create, its input parsed.
#[derive(Debug, Clone)]
pub struct CreateUserCommand {
    /// Address.
    pub email: Email,
    /// Display name (trimmed; 1 to 255 characters).
    pub nickname: String,
    /// Initial password. Without one the account gets an unusable random
    /// password and its owner sets one through the reset flow.
    pub password: Option<NewPassword>,
    /// Group, by id or name.
    pub group: GroupRef,
    /// Initial state.
    pub status: UserStatus,
}

/// Why no user was created. Nothing changed in any case.
#[derive(Debug, Error)]
pub enum NewUserError {
    /// The nickname is empty, too long or has control characters.
    #[error("nickname must be 1 to 255 characters without control characters")]
    InvalidNickname,
    /// The group does not exist.
    #[error("group {0} does not exist")]
    UnknownGroup(String),
    /// The address is taken.
    #[error("a user with this email address already exists")]
    EmailTaken,
    /// The account store does not create users.
    #[error(
        "this account store does not create users; create them in the application that owns them"
    )]
    Unsupported,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Hashing failed.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// No randomness.
    #[error(transparent)]
    Random(#[from] RandomError),
}

/// The user-creation use case.
#[derive(Clone)]
pub struct CreateUser {
    users: Arc<dyn UserStore>,
    hasher: Arc<dyn PasswordHasher>,
    clock: Arc<dyn Clock>,
    random: Arc<dyn RandomSource>,
}

impl std::fmt::Debug for CreateUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CreateUser")
    }
}

impl CreateUser {
    /// Wires the use case to its ports.
    pub fn new(ports: &Ports) -> Self {
        Self {
            users: ports.users.clone(),
            hasher: ports.hasher.clone(),
            clock: ports.clock.clone(),
            random: ports.random.clone(),
        }
    }

    /// Creates the user. Blocking.
    ///
    /// # Errors
    /// See [`NewUserError`].
    pub fn execute(&self, cmd: CreateUserCommand) -> Result<UserProfile, NewUserError> {
        let nickname = cmd.nickname.trim();
        let length = nickname.chars().count();
        if !(1..=255).contains(&length) || nickname.chars().any(char::is_control) {
            return Err(NewUserError::InvalidNickname);
        }
        let group = self.users.find_group(&cmd.group)?.ok_or_else(|| {
            NewUserError::UnknownGroup(match &cmd.group {
                GroupRef::Id(id) => id.to_string(),
                GroupRef::Name(name) => name.clone(),
            })
        })?;
        let password = match cmd.password {
            Some(password) => password,
            // A 32-character random secret nobody ever sees: the account can
            // only be entered after a reset.
            None => NewPassword::parse(self.random.reset_secret()?.expose().to_owned())
                .map_err(|e| HashError::Failed(e.to_string()))?,
        };
        let new = NewUser {
            email: cmd.email,
            nickname: nickname.to_owned(),
            password_hash: self.hasher.hash(&password)?,
            status: cmd.status,
            group_id: group.id,
            settings: UserSettings::default(),
            security_stamp: self.random.security_stamp()?,
            created_at: self.clock.now(),
        };
        self.users.create_user(&new).map_err(|e| match e {
            CreateUserError::EmailTaken => NewUserError::EmailTaken,
            CreateUserError::UnknownGroup(id) => NewUserError::UnknownGroup(id.to_string()),
            CreateUserError::Unsupported => NewUserError::Unsupported,
            CreateUserError::Store(e) => NewUserError::Store(e),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SecurityStamp;
    use crate::usecases::fixtures::*;

    fn command(password: Option<&str>) -> CreateUserCommand {
        CreateUserCommand {
            email: Email::parse("new@example.com").unwrap(),
            nickname: "  New User ".into(),
            password: password.map(|p| NewPassword::parse(p.into()).unwrap()),
            group: GroupRef::Name("User".into()),
            status: UserStatus::Active,
        }
    }

    fn world() -> Mocks {
        let mut m = Mocks::default();
        m.users
            .expect_find_group()
            .withf(|g| *g == GroupRef::Name("User".into()))
            .returning(|_| Ok(Some(profile(1, UserStatus::Active).group)));
        m.clock.expect_now().returning(now);
        m.random.expect_security_stamp().returning(|| Ok(SecurityStamp::new("stamp".into())));
        m
    }

    #[test]
    fn creates_a_user_with_the_hash_of_its_password() {
        let mut m = world();
        m.hasher
            .expect_hash()
            .withf(|p| p.expose() == "initial-pw")
            .returning(|_| Ok(hash("$2b$04$initial")));
        m.users
            .expect_create_user()
            .withf(|u| {
                u.nickname == "New User"
                    && u.password_hash == hash("$2b$04$initial")
                    && u.group_id.get() == 2
                    && u.security_stamp.as_str() == "stamp"
                    && u.created_at == now()
            })
            .times(1)
            .returning(|_| Ok(profile(5, UserStatus::Active)));
        let created = m.create_user().execute(command(Some("initial-pw"))).unwrap();
        assert_eq!(created.user.id.get(), 5);
    }

    #[test]
    fn without_a_password_the_account_gets_an_unguessable_one() {
        let mut m = world();
        m.random.expect_reset_secret().times(1).returning(|| Ok(secret()));
        m.hasher
            .expect_hash()
            .withf(|p| p.expose() == SECRET)
            .returning(|_| Ok(hash("$2b$04$random")));
        m.users.expect_create_user().returning(|_| Ok(profile(5, UserStatus::Active)));
        assert!(m.create_user().execute(command(None)).is_ok());
    }

    #[test]
    fn refuses_bad_nicknames_unknown_groups_and_taken_addresses() {
        for nick in ["", "   ", "a\u{7}b"] {
            let cmd = CreateUserCommand { nickname: nick.into(), ..command(Some("initial-pw")) };
            let err = Mocks::default().create_user().execute(cmd).unwrap_err();
            assert!(matches!(err, NewUserError::InvalidNickname), "{nick:?}: {err:?}");
        }

        let mut m = Mocks::default();
        m.users.expect_find_group().returning(|_| Ok(None));
        let err = m.create_user().execute(command(Some("initial-pw"))).unwrap_err();
        assert!(matches!(err, NewUserError::UnknownGroup(ref g) if g == "User"), "{err:?}");

        let mut m = world();
        m.hasher.expect_hash().returning(|_| Ok(hash("$2b$04$initial")));
        m.users.expect_create_user().returning(|_| Err(CreateUserError::EmailTaken));
        let err = m.create_user().execute(command(Some("initial-pw"))).unwrap_err();
        assert!(matches!(err, NewUserError::EmailTaken), "{err:?}");
    }
}
