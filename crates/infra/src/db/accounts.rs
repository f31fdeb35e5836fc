//! Whose accounts the SQL store works on. [`Accounts`] is the seam: pwreset's
//! own `users`/`groups` tables ([`PwresetAccounts`]), or another
//! application's, implemented outside this crate (`pwreset-cloudreve` reads
//! and writes a Cloudreve V4's). pwreset's own state (tokens, outbox, audit)
//! stays with [`DieselStore`](super::DieselStore) either way.
//!
//! Every method runs on the connection it is given, inside the store's
//! transaction when the store has one open: what an implementation writes
//! commits or rolls back with the token it goes with.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use pwreset_domain::ports::{CreateUserError, GroupRef, NewUser, StoreError};
use pwreset_domain::{
    Email, Group, PasswordHash, SecurityStamp, User, UserId, UserProfile, UserStatus,
};

use super::connection::DbConnection;
use super::dialect;
use super::rows::{GroupRow, UserRow};
use super::schema::{groups, users};

/// New credentials for one user, written by [`Accounts::set_credentials`].
#[derive(Debug)]
pub struct Credentials<'a> {
    /// The user.
    pub user: UserId,
    /// The new password hash, in the format the accounts' owner reads.
    pub password_hash: &'a PasswordHash,
    /// The new security stamp (stores without a stamp column ignore it).
    pub security_stamp: &'a SecurityStamp,
    /// When the change happened.
    pub at: DateTime<Utc>,
}

/// Reading and changing accounts, on a connection the store provides.
pub trait Accounts: Send + Sync + std::fmt::Debug {
    /// Locks the user's row until the end of the transaction, so that units
    /// of work on one user take turns. May do nothing where the backend
    /// serialises writers anyway (SQLite).
    ///
    /// # Errors
    /// The database error.
    fn lock_user(&self, conn: &mut DbConnection, user: UserId) -> QueryResult<()>;

    /// The user with this address, compared case-insensitively.
    ///
    /// # Errors
    /// [`StoreError`] when storage cannot be read.
    fn user_by_email(
        &self,
        conn: &mut DbConnection,
        email: &Email,
    ) -> Result<Option<User>, StoreError>;

    /// The user and its group.
    ///
    /// # Errors
    /// [`StoreError`] when storage cannot be read.
    fn profile(
        &self,
        conn: &mut DbConnection,
        user: UserId,
    ) -> Result<Option<UserProfile>, StoreError>;

    /// A group by id or exact name.
    ///
    /// # Errors
    /// [`StoreError`] when storage cannot be read.
    fn group(&self, conn: &mut DbConnection, group: &GroupRef)
    -> Result<Option<Group>, StoreError>;

    /// Writes new credentials if, and only if, the user is active; returns
    /// whether it did.
    ///
    /// # Errors
    /// [`StoreError`] when the write fails.
    fn set_credentials(
        &self,
        conn: &mut DbConnection,
        credentials: &Credentials<'_>,
    ) -> Result<bool, StoreError>;

    /// Creates an account, or refuses with [`CreateUserError::Unsupported`]
    /// when the accounts belong to another application.
    ///
    /// # Errors
    /// As [`UserStore::create_user`](pwreset_domain::ports::UserStore::create_user).
    fn create_user(
        &self,
        conn: &mut DbConnection,
        new: &NewUser,
    ) -> Result<UserProfile, CreateUserError>;

    /// Changes a user's status; returns whether the user exists.
    ///
    /// # Errors
    /// [`StoreError`] when the write fails.
    fn set_status(
        &self,
        conn: &mut DbConnection,
        user: UserId,
        status: UserStatus,
    ) -> Result<bool, StoreError>;

    /// Up to `limit` users with ids above `after`, in id order, optionally
    /// only those with `status` (an operator's listing). Adapters whose
    /// users are listed elsewhere (a host's own admin tools) keep the
    /// default, which says so.
    ///
    /// # Errors
    /// [`StoreError`] when the read fails, or listing is not offered.
    fn list_users(
        &self,
        conn: &mut DbConnection,
        status: Option<UserStatus>,
        after: Option<UserId>,
        limit: i64,
    ) -> Result<Vec<UserProfile>, StoreError> {
        let _ = (conn, status, after, limit);
        Err(StoreError::msg("these accounts are listed by the application that owns them"))
    }
}

/// pwreset's own `users` and `groups` tables.
#[derive(Debug, Default, Clone, Copy)]
pub struct PwresetAccounts;

fn db_error(context: &'static str) -> impl FnOnce(DieselError) -> StoreError {
    move |e| StoreError::new(context, e)
}

fn load_profile(conn: &mut DbConnection, id: i64) -> Result<Option<UserProfile>, StoreError> {
    let row = users::table
        .inner_join(groups::table)
        .filter(users::id.eq(id))
        .select((UserRow::as_select(), GroupRow::as_select()))
        .first::<(UserRow, GroupRow)>(conn)
        .optional()
        .map_err(db_error("reading a user"))?;
    row.map(profile_of).transpose()
}

fn profile_of((user, group): (UserRow, GroupRow)) -> Result<UserProfile, StoreError> {
    Ok(UserProfile { user: user.try_into()?, group: group.try_into()? })
}

impl Accounts for PwresetAccounts {
    fn lock_user(&self, conn: &mut DbConnection, user: UserId) -> QueryResult<()> {
        dialect::lock_user(conn, user.get())
    }

    fn user_by_email(
        &self,
        conn: &mut DbConnection,
        email: &Email,
    ) -> Result<Option<User>, StoreError> {
        dialect::user_by_email(conn, &email.normalized())
            .map_err(db_error("looking up a user by email"))?
            .map(User::try_from)
            .transpose()
    }

    fn profile(
        &self,
        conn: &mut DbConnection,
        user: UserId,
    ) -> Result<Option<UserProfile>, StoreError> {
        load_profile(conn, user.get())
    }

    fn group(
        &self,
        conn: &mut DbConnection,
        group: &GroupRef,
    ) -> Result<Option<Group>, StoreError> {
        let query = groups::table.select(GroupRow::as_select());
        let row = match group {
            GroupRef::Id(id) => query.filter(groups::id.eq(id.get())).first::<GroupRow>(conn),
            GroupRef::Name(name) => query.filter(groups::name.eq(name)).first::<GroupRow>(conn),
        };
        row.optional().map_err(db_error("looking up a group"))?.map(Group::try_from).transpose()
    }

    fn set_credentials(
        &self,
        conn: &mut DbConnection,
        credentials: &Credentials<'_>,
    ) -> Result<bool, StoreError> {
        let changed = diesel::update(
            users::table
                .filter(users::id.eq(credentials.user.get()))
                .filter(users::status.eq(UserStatus::Active.as_str())),
        )
        .set((
            users::password.eq(credentials.password_hash.expose()),
            users::security_stamp.eq(credentials.security_stamp.as_str()),
            users::updated_at.eq(credentials.at.naive_utc()),
        ))
        .execute(conn)
        .map_err(db_error("writing a new password"))?;
        Ok(changed == 1)
    }

    fn create_user(
        &self,
        conn: &mut DbConnection,
        new: &NewUser,
    ) -> Result<UserProfile, CreateUserError> {
        let settings_json = serde_json::to_string(&new.settings)
            .map_err(|e| StoreError::new("serialising user settings", e))?;
        // Inserting first: the unique index on lower(email) and the foreign
        // key on group_id decide, race-free.
        let inserted = diesel::insert_into(users::table)
            .values((
                users::email.eq(new.email.as_str()),
                users::nick.eq(&new.nickname),
                users::password.eq(new.password_hash.expose()),
                users::status.eq(new.status.as_str()),
                users::settings.eq(&settings_json),
                users::group_id.eq(new.group_id.get()),
                users::created_at.eq(new.created_at.naive_utc()),
                users::updated_at.eq(new.created_at.naive_utc()),
                users::security_stamp.eq(new.security_stamp.as_str()),
            ))
            .execute(conn);
        match inserted {
            Ok(_) => {}
            Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => {
                return Err(CreateUserError::EmailTaken);
            }
            Err(DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _)) => {
                return Err(CreateUserError::UnknownGroup(new.group_id));
            }
            Err(e) => return Err(StoreError::new("creating a user", e).into()),
        }
        let vanished = || StoreError::msg("user vanished after insert");
        let user = dialect::user_by_email(conn, &new.email.normalized())
            .map_err(db_error("reading a new user"))?
            .ok_or_else(vanished)?;
        Ok(load_profile(conn, user.id())?.ok_or_else(vanished)?)
    }

    fn set_status(
        &self,
        conn: &mut DbConnection,
        user: UserId,
        status: UserStatus,
    ) -> Result<bool, StoreError> {
        let n = diesel::update(users::table.find(user.get()))
            .set(users::status.eq(status.as_str()))
            .execute(conn)
            .map_err(db_error("updating a user's status"))?;
        Ok(n == 1)
    }

    fn list_users(
        &self,
        conn: &mut DbConnection,
        status: Option<UserStatus>,
        after: Option<UserId>,
        limit: i64,
    ) -> Result<Vec<UserProfile>, StoreError> {
        let mut query = users::table
            .inner_join(groups::table)
            .filter(users::id.gt(after.map_or(0, UserId::get)))
            .select((UserRow::as_select(), GroupRow::as_select()))
            .order(users::id.asc())
            .limit(limit)
            .into_boxed();
        if let Some(status) = status {
            query = query.filter(users::status.eq(status.as_str()));
        }
        query
            .load::<(UserRow, GroupRow)>(conn)
            .map_err(db_error("listing users"))?
            .into_iter()
            .map(profile_of)
            .collect()
    }
}
