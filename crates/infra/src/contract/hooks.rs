//! [`ContractHooks`] for the in-tree adapters.

use chrono::{DateTime, SubsecRound, Utc};
use pwreset_domain::ports::{NewUser, UserStore};
use pwreset_domain::{ResetSecret, UserId, UserProfile, UserStatus};

use super::{ContractHooks, FaultPoint, OutboxRow};
#[cfg(feature = "sql")]
use crate::db::DieselStore;
use crate::memory::MemoryStore;

impl ContractHooks for MemoryStore {
    fn add_user(&self, new: &NewUser) -> UserProfile {
        self.create_user(new).expect("creating a user")
    }
    fn set_status(&self, id: UserId, status: UserStatus) {
        assert!(MemoryStore::set_status(self, id, status), "no user {id}");
    }
    fn audit_kinds(&self) -> Vec<String> {
        self.audit_records().iter().map(|r| r.kind.as_str().to_owned()).collect()
    }
    fn plant_token(&self, user: UserId, secret: &ResetSecret, expires_at: DateTime<Utc>) {
        MemoryStore::plant_token(
            self,
            user,
            secret.digest(),
            Utc::now().trunc_subsecs(6),
            expires_at,
        );
    }
    fn outbox_rows(&self) -> Vec<OutboxRow> {
        let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        self.outbox()
            .iter()
            .map(|e| (e.status.as_str().to_owned(), some(&e.mail.text), some(&e.mail.html)))
            .collect()
    }
    fn arm_fault(&self, point: FaultPoint) -> bool {
        self.faults().arm(point);
        true
    }
}

/// The SQL store over pwreset's own accounts.
#[cfg(feature = "sql")]
impl ContractHooks for DieselStore {
    fn add_user(&self, new: &NewUser) -> UserProfile {
        self.create_user(new).expect("creating a user")
    }
    fn set_status(&self, id: UserId, status: UserStatus) {
        assert!(DieselStore::set_status(self, id, status).unwrap(), "no user {id}");
    }
    fn audit_kinds(&self) -> Vec<String> {
        DieselStore::audit_kinds(self)
    }
    fn plant_token(&self, user: UserId, secret: &ResetSecret, expires_at: DateTime<Utc>) {
        DieselStore::plant_token(self, user, secret, expires_at);
    }
    fn outbox_rows(&self) -> Vec<OutboxRow> {
        DieselStore::outbox_rows(self)
    }
    fn arm_fault(&self, point: FaultPoint) -> bool {
        DieselStore::arm_fault(self, point);
        true
    }
}
