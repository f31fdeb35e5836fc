//! The storage contract suite of `pwreset-infra`, against a Cloudreve V4
//! database's accounts on every backend: the same macro an outside adapter
//! calls. Accounts are added the way Cloudreve writes them (its schema, its
//! time format, its JSON), not through pwreset.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use pwreset_cloudreve::testing::{CloudreveDb, CloudreveUser};
use pwreset_domain::ports::{NewUser, UserStore};
use pwreset_domain::{ResetSecret, UserId, UserProfile, UserStatus};
use pwreset_infra::DieselStore;
use pwreset_infra::contract::{ContractHooks, FaultPoint, OutboxRow, Subject};
use pwreset_infra::db::PoolOptions;

struct Hooks {
    store: Arc<DieselStore>,
    db: Arc<CloudreveDb>,
}

impl ContractHooks for Hooks {
    fn add_user(&self, new: &NewUser) -> UserProfile {
        let id = self.db.add_user(&CloudreveUser {
            email: new.email.as_str().to_owned(),
            nick: new.nickname.clone(),
            password: Some(new.password_hash.expose().to_owned()),
            status: new.status,
            group: new.group_id.get(),
            language: new.settings.language.clone(),
            at: new.created_at,
        });
        self.store.find_profile(UserId::new(id).unwrap()).unwrap().expect("readable user")
    }
    fn set_status(&self, id: UserId, status: UserStatus) {
        self.db.set_status(id.get(), status);
    }
    fn audit_kinds(&self) -> Vec<String> {
        self.store.audit_kinds()
    }
    fn plant_token(&self, user: UserId, secret: &ResetSecret, expires_at: DateTime<Utc>) {
        self.store.plant_token(user, secret, expires_at);
    }
    fn outbox_rows(&self) -> Vec<OutboxRow> {
        self.store.outbox_rows()
    }
    fn arm_fault(&self, point: FaultPoint) -> bool {
        self.store.arm_fault(point);
        true
    }
    fn creates_users(&self) -> bool {
        false
    }
    fn stores_stamps(&self) -> bool {
        false
    }
    fn time_precision(&self) -> chrono::Duration {
        match self.store.backend() {
            // ent declares MySQL's times `datetime`: whole seconds.
            #[cfg(feature = "mysql")]
            pwreset_infra::db::Backend::Mysql => chrono::Duration::seconds(1),
            _ => chrono::Duration::microseconds(1),
        }
    }
}

fn subject(db: CloudreveDb) -> Subject {
    let url = db.database_url();
    let site = pwreset_cloudreve::open(&url, &PoolOptions::for_backend(url.backend()), &|_| None)
        .expect("opening the Cloudreve database");
    let db = Arc::new(db);
    let hooks = Hooks { store: site.store.clone(), db: db.clone() };
    Subject::new(site.store, Arc::new(hooks), db)
}

fn sqlite() -> Option<Subject> {
    Some(subject(CloudreveDb::sqlite()))
}

fn postgres() -> Option<Subject> {
    CloudreveDb::postgres().map(subject)
}

#[cfg(feature = "mysql")]
fn mysql() -> Option<Subject> {
    CloudreveDb::mysql().map(subject)
}

mod on_sqlite {
    pwreset_infra::storage_contract_suite!(super::sqlite, fault_injection);
}

mod on_postgres {
    pwreset_infra::storage_contract_suite!(super::postgres, fault_injection);
}

#[cfg(feature = "mysql")]
mod on_mysql {
    pwreset_infra::storage_contract_suite!(super::mysql, fault_injection);
}
