//! The storage contract suite: one set of cases that every storage adapter
//! must pass. It checks what the ports in `pwreset_domain::ports` promise,
//! atomicity and behaviour under concurrency included.
//!
//! Available with the `test-support` feature. An adapter crate runs it from
//! its own tests with one macro call:
//!
//! ```ignore
//! // tests/contract.rs of an adapter crate, with
//! // pwreset-infra = { version = "…", features = ["test-support"] } as a dev-dependency.
//! use std::sync::Arc;
//! use pwreset_infra::contract::{ContractHooks, Subject};
//!
//! fn subject() -> Option<Subject> {
//!     let store = Arc::new(MyStore::open_throwaway());
//!     Some(Subject::new(store.clone(), Arc::new(MyHooks(store)), ()))
//! }
//!
//! pwreset_infra::storage_contract_suite!(subject);
//! // or, when the adapter can inject a failure mid-reset:
//! // pwreset_infra::storage_contract_suite!(subject, fault_injection);
//! ```
//!
//! The macro emits one `#[test]` per case; each calls the constructor for a
//! fresh, empty store (with Cloudreve's three default groups). A constructor
//! that returns `None` skips the case (a database server that is not
//! configured, outside CI).

pub mod cases;
mod hooks;

use std::any::Any;
use std::ops::Deref;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use pwreset_domain::ports::{AuditLog, NewUser, Outbox, ResetStore, Sweeper, UserStore};
use pwreset_domain::{ResetSecret, UserId, UserProfile, UserStatus};

pub use crate::faults::FaultPoint;

/// Every storage port at once: what an adapter under test implements.
pub trait ContractStore: UserStore + ResetStore + Outbox + AuditLog + Sweeper {}

impl<T: UserStore + ResetStore + Outbox + AuditLog + Sweeper> ContractStore for T {}

/// One outbox row as the suite reads it back: `(status, text body, html
/// body)`, where a scrubbed body reads as `None`.
pub type OutboxRow = (String, Option<String>, Option<String>);

/// What the suite needs from an adapter beyond the ports: ways to arrange a
/// situation (an account, a status, a planted token, a fault) and to look at
/// what the ports do not return (the audit trail, the outbox rows).
pub trait ContractHooks: Send + Sync {
    /// Stores an account as the application that owns accounts would, and
    /// returns it as the store reads it back. Stores that create users may
    /// simply call [`UserStore::create_user`].
    fn add_user(&self, new: &NewUser) -> UserProfile;

    /// Changes an account's status.
    fn set_status(&self, id: UserId, status: UserStatus);

    /// Kinds of every audit event recorded, oldest first.
    fn audit_kinds(&self) -> Vec<String>;

    /// Stores a live token without revoking anything (the port never does
    /// that; the suite needs it to stand for a race or an older version).
    fn plant_token(&self, user: UserId, secret: &ResetSecret, expires_at: DateTime<Utc>);

    /// Every outbox row, oldest first.
    fn outbox_rows(&self) -> Vec<OutboxRow>;

    /// Makes the next operation that reaches `point` fail; `false` when the
    /// adapter cannot. Only the `fault_injection` form of the suite calls it.
    fn arm_fault(&self, point: FaultPoint) -> bool {
        let _ = point;
        false
    }

    /// Whether [`UserStore::create_user`] creates accounts. A store over
    /// another application's accounts answers `false`, and must then refuse
    /// with [`CreateUserError::Unsupported`](pwreset_domain::ports::CreateUserError::Unsupported).
    fn creates_users(&self) -> bool {
        true
    }

    /// Whether the store keeps the security stamp it is given. A store whose
    /// accounts have no stamp column derives one from the credentials and
    /// answers `false`: the suite then checks that the stamp changes.
    fn stores_stamps(&self) -> bool {
        true
    }

    /// The precision of account times (`updated_at`) as stored.
    fn time_precision(&self) -> chrono::Duration {
        chrono::Duration::microseconds(1)
    }
}

/// An adapter under test: the store, its hooks, and whatever must live as
/// long as they do (a temporary directory, a throwaway database). Cheap to
/// clone; the concurrent cases hand clones to their threads.
#[derive(Clone)]
pub struct Subject {
    store: Arc<dyn ContractStore>,
    hooks: Arc<dyn ContractHooks>,
    _guard: Arc<dyn Any + Send + Sync>,
}

impl std::fmt::Debug for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subject").finish_non_exhaustive()
    }
}

impl Subject {
    /// The store and hooks under test; `guard` is dropped after both.
    pub fn new(
        store: Arc<dyn ContractStore>,
        hooks: Arc<dyn ContractHooks>,
        guard: impl Any + Send + Sync,
    ) -> Self {
        Self { store, hooks, _guard: Arc::new(guard) }
    }

    /// The hooks.
    pub fn hooks(&self) -> &dyn ContractHooks {
        &*self.hooks
    }
}

impl Deref for Subject {
    type Target = dyn ContractStore;

    fn deref(&self) -> &Self::Target {
        &*self.store
    }
}

/// Runs the storage contract suite: one `#[test]` per case, each on a fresh
/// store from `$make`, a function `fn() -> Option<Subject>` (`None` skips).
/// Add `fault_injection` when the hooks can arm [`FaultPoint`]s: the case that
/// proves a failure mid-reset changes nothing is then run too.
#[macro_export]
macro_rules! storage_contract_suite {
    ($make:path) => {
        $crate::__contract_cases!($make;
            fresh_store_has_cloudreves_default_groups,
            users_round_trip_and_are_found_case_insensitively,
            duplicate_addresses_and_unknown_groups_are_refused,
            tokens_are_found_by_digest_only,
            issuing_revokes_the_users_older_tokens,
            a_secret_is_consumed_once,
            a_reset_revokes_the_users_other_tokens,
            expired_used_and_other_users_tokens_are_refused,
            inactive_users_are_refused_and_keep_their_token,
            times_survive_storage_to_the_microsecond,
            issuing_queues_the_email_with_the_token,
            claims_are_leased_in_order_and_counted,
            a_claimer_renews_only_the_leases_it_holds,
            sent_and_given_up_messages_are_scrubbed,
            audit_events_are_recorded,
            audit_events_are_listed_newest_first_by_user_and_time,
            sweeping_deletes_only_what_is_finished_and_old,
            concurrent_consumers_of_one_secret_have_one_winner,
            concurrent_issuers_leave_one_live_link,
            concurrent_resets_and_link_requests_do_not_deadlock,
            work_on_different_users_does_not_interfere,
            concurrent_claimers_never_share_a_message,
        );
    };
    ($make:path, fault_injection) => {
        $crate::storage_contract_suite!($make);
        $crate::__contract_cases!($make; a_failure_inside_the_reset_changes_nothing);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __contract_cases {
    ($make:path; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                let make: fn() -> ::core::option::Option<$crate::contract::Subject> = $make;
                if let ::core::option::Option::Some(subject) = make() {
                    $crate::contract::cases::$case(&subject);
                }
            }
        )*
    };
}

/// The in-tree adapters, through the same entry point an outside adapter uses.
#[cfg(test)]
mod in_tree {
    mod memory {
        use std::sync::Arc;

        use crate::contract::Subject;
        use crate::memory::MemoryStore;

        fn subject() -> Option<Subject> {
            let store = Arc::new(MemoryStore::new());
            Some(Subject::new(store.clone(), store, ()))
        }

        crate::storage_contract_suite!(subject, fault_injection);
    }

    #[cfg(feature = "sql")]
    mod sqlite {
        use crate::contract::Subject;

        fn subject() -> Option<Subject> {
            Some(crate::testing::sqlite_subject())
        }

        crate::storage_contract_suite!(subject, fault_injection);
    }

    #[cfg(feature = "sql")]
    mod postgres {
        crate::storage_contract_suite!(crate::testing::postgres_subject, fault_injection);
    }

    #[cfg(feature = "mysql")]
    mod mysql {
        crate::storage_contract_suite!(crate::testing::mysql_subject, fault_injection);
    }
}
