//! An in-memory storage adapter, for tests and for embedding pwreset where
//! nothing needs to survive a restart.
//!
//! Atomicity comes from one mutex around all state: every method validates
//! first and mutates only once nothing can fail any more.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use pwreset_domain::ports::{
    AuditLog, AuditQuery, CompletedReset, CreateUserError, GroupRef, NewResetToken, NewUser,
    Outbox, QueuedMail, ResetCommit, ResetStore, StoreError, SweepReport, Sweeper, UserStore,
};
use pwreset_domain::{
    AuditRecord, Email, Group, OutgoingMail, ResetToken, TokenState, User, UserId, UserProfile,
    UserStatus,
};

use crate::defaults::default_groups;
use crate::faults::{FaultPoint, Faults};

pub use crate::outbox::OutboxStatus;

/// One outbox row, as the in-memory store keeps it.
#[derive(Debug, Clone)]
pub struct OutboxEntry {
    /// Row id.
    pub id: i64,
    /// The message; its bodies are emptied once sent or given up.
    pub mail: OutgoingMail,
    /// Delivery state.
    pub status: OutboxStatus,
    /// Attempts so far.
    pub attempts: u32,
    /// Earliest next attempt.
    pub next_attempt_at: DateTime<Utc>,
    /// Reserved for a claimer until then.
    pub locked_until: Option<DateTime<Utc>>,
    /// Last delivery error.
    pub last_error: Option<String>,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Default)]
struct State {
    groups: BTreeMap<i64, Group>,
    users: BTreeMap<i64, User>,
    tokens: BTreeMap<i64, ResetToken>,
    token_by_digest: HashMap<[u8; 32], i64>,
    audit: Vec<AuditRecord>,
    outbox: Vec<OutboxEntry>,
    next_user: i64,
    next_token: i64,
}

/// The in-memory store. Starts with Cloudreve's default groups.
#[derive(Debug)]
pub struct MemoryStore {
    state: Mutex<State>,
    faults: Faults,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// An empty store with the default groups.
    pub fn new() -> Self {
        let groups = default_groups().into_iter().map(|g| (g.id.get(), g)).collect();
        let state = State { groups, next_user: 1, next_token: 1, ..State::default() };
        Self { state: Mutex::new(state), faults: Faults::default() }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave half-applied changes
        // (mutation happens only after validation), so the state is sound.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every audit record, oldest first.
    pub fn audit_records(&self) -> Vec<AuditRecord> {
        self.lock().audit.clone()
    }

    /// Every outbox row, oldest first.
    pub fn outbox(&self) -> Vec<OutboxEntry> {
        self.lock().outbox.clone()
    }

    /// Replaces a user's status, e.g. to ban it.
    pub fn set_status(&self, id: UserId, status: UserStatus) -> bool {
        self.lock().users.get_mut(&id.get()).map(|u| u.status = status).is_some()
    }

    /// Stores a token without revoking the user's others (for the contract suite).
    #[cfg(any(test, feature = "test-support"))]
    pub(crate) fn plant_token(
        &self,
        user: UserId,
        digest: pwreset_domain::SecretDigest,
        created_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) {
        let mut state = self.lock();
        let id = state.next_token;
        state.next_token += 1;
        let token = ResetToken {
            id,
            user_id: user,
            digest,
            created_at,
            expires_at,
            used_at: None,
            revoked_at: None,
        };
        state.tokens.insert(id, token);
        state.token_by_digest.insert(*digest.as_bytes(), id);
    }

    #[cfg(any(test, feature = "test-support"))]
    pub(crate) fn faults(&self) -> &Faults {
        &self.faults
    }
}

impl State {
    fn enqueue(&mut self, mail: &OutgoingMail, at: DateTime<Utc>) {
        let id = self.outbox.last().map_or(1, |e| e.id + 1);
        self.outbox.push(OutboxEntry {
            id,
            mail: mail.clone(),
            status: OutboxStatus::Pending,
            attempts: 0,
            next_attempt_at: at,
            locked_until: None,
            last_error: None,
            created_at: at,
        });
    }

    fn profile(&self, id: i64) -> Result<Option<UserProfile>, StoreError> {
        let Some(user) = self.users.get(&id) else { return Ok(None) };
        let group = self
            .groups
            .get(&user.group_id.get())
            .ok_or_else(|| StoreError::msg(format!("user {id} belongs to a missing group")))?;
        Ok(Some(UserProfile { user: user.clone(), group: group.clone() }))
    }

    /// Tokens of `user` that were neither used nor revoked (expired or not),
    /// the set that issuing a token or completing a reset revokes.
    fn outstanding_tokens_of(&self, user: UserId) -> Vec<i64> {
        self.tokens
            .values()
            .filter(|t| t.user_id == user && t.used_at.is_none() && t.revoked_at.is_none())
            .map(|t| t.id)
            .collect()
    }
}

impl ResetStore for MemoryStore {
    fn find_token(
        &self,
        digest: &pwreset_domain::SecretDigest,
    ) -> Result<Option<ResetToken>, StoreError> {
        let state = self.lock();
        Ok(state
            .token_by_digest
            .get(digest.as_bytes())
            .and_then(|id| state.tokens.get(id))
            .cloned())
    }

    fn issue_token(&self, token: &NewResetToken) -> Result<(), StoreError> {
        let mut state = self.lock();
        if !state.users.contains_key(&token.user_id.get()) {
            return Err(StoreError::msg(format!("no user {}", token.user_id)));
        }
        if state.token_by_digest.contains_key(token.digest.as_bytes()) {
            return Err(StoreError::msg("a token with this digest already exists"));
        }
        let revoke = state.outstanding_tokens_of(token.user_id);
        let id = state.next_token;
        state.next_token += 1;
        for old in revoke {
            if let Some(t) = state.tokens.get_mut(&old) {
                t.revoked_at = Some(token.created_at);
            }
        }
        state.tokens.insert(
            id,
            ResetToken {
                id,
                user_id: token.user_id,
                digest: token.digest,
                created_at: token.created_at,
                expires_at: token.expires_at,
                used_at: None,
                revoked_at: None,
            },
        );
        state.token_by_digest.insert(*token.digest.as_bytes(), id);
        if let Some(mail) = &token.mail {
            state.enqueue(mail, token.created_at);
        }
        state.audit.push(token.audit.clone());
        Ok(())
    }

    fn complete_reset(&self, reset: &CompletedReset) -> Result<ResetCommit, StoreError> {
        let mut state = self.lock();
        let live = state
            .tokens
            .get(&reset.token_id)
            .is_some_and(|t| t.user_id == reset.user_id && t.state(reset.at) == TokenState::Live);
        if !live {
            return Ok(ResetCommit::TokenNotLive);
        }
        match state.users.get(&reset.user_id.get()) {
            Some(user) if user.status == UserStatus::Active => {}
            _ => return Ok(ResetCommit::UserNotActive),
        }
        // Validation is over; from here on, a failure must leave no trace.
        self.faults.check(FaultPoint::AfterTokenUpdate)?;
        let others: Vec<i64> = state
            .outstanding_tokens_of(reset.user_id)
            .into_iter()
            .filter(|&id| id != reset.token_id)
            .collect();
        let mut profile =
            state.profile(reset.user_id.get())?.ok_or_else(|| StoreError::msg("user vanished"))?;
        profile.user.password_hash = reset.password_hash.clone();
        profile.user.security_stamp = reset.security_stamp.clone();
        profile.user.updated_at = reset.at;

        if let Some(t) = state.tokens.get_mut(&reset.token_id) {
            t.used_at = Some(reset.at);
        }
        for id in others {
            if let Some(t) = state.tokens.get_mut(&id) {
                t.revoked_at = Some(reset.at);
            }
        }
        state.users.insert(reset.user_id.get(), profile.user.clone());
        if let Some(notice) = &reset.notice {
            state.enqueue(notice, reset.at);
        }
        state.audit.push(reset.audit.clone());
        Ok(ResetCommit::Applied(Box::new(profile)))
    }
}

impl UserStore for MemoryStore {
    fn find_user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        let key = email.normalized();
        Ok(self.lock().users.values().find(|u| u.email.to_ascii_lowercase() == key).cloned())
    }

    fn find_profile(&self, id: UserId) -> Result<Option<UserProfile>, StoreError> {
        self.lock().profile(id.get())
    }

    fn find_group(&self, group: &GroupRef) -> Result<Option<Group>, StoreError> {
        let state = self.lock();
        Ok(match group {
            GroupRef::Id(id) => state.groups.get(&id.get()).cloned(),
            GroupRef::Name(name) => state.groups.values().find(|g| &g.name == name).cloned(),
        })
    }

    fn create_user(&self, new: &NewUser) -> Result<UserProfile, CreateUserError> {
        let mut state = self.lock();
        let key = new.email.normalized();
        if state.users.values().any(|u| u.email.to_ascii_lowercase() == key) {
            return Err(CreateUserError::EmailTaken);
        }
        if !state.groups.contains_key(&new.group_id.get()) {
            return Err(CreateUserError::UnknownGroup(new.group_id));
        }
        let id =
            UserId::new(state.next_user).map_err(|e| StoreError::new("user id overflow", e))?;
        state.next_user += 1;
        let user = User {
            id,
            email: new.email.as_str().to_owned(),
            nickname: new.nickname.clone(),
            password_hash: new.password_hash.clone(),
            status: new.status,
            avatar: None,
            credit: None,
            settings: new.settings.clone(),
            group_id: new.group_id,
            created_at: new.created_at,
            updated_at: new.created_at,
            security_stamp: new.security_stamp.clone(),
        };
        state.users.insert(id.get(), user);
        Ok(state.profile(id.get())?.expect("just inserted"))
    }
}

impl AuditLog for MemoryStore {
    fn record(&self, record: &AuditRecord) -> Result<(), StoreError> {
        self.lock().audit.push(record.clone());
        Ok(())
    }

    fn record_all(&self, records: &[AuditRecord]) -> Result<(), StoreError> {
        self.lock().audit.extend_from_slice(records);
        Ok(())
    }

    fn list(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, StoreError> {
        let state = self.lock();
        let mut found: Vec<AuditRecord> = state
            .audit
            .iter()
            .rev()
            .filter(|r| r.at >= query.since && query.user.is_none_or(|u| r.user_id == Some(u)))
            .cloned()
            .collect();
        // Newest first; among equal times, the later-recorded first (stable sort).
        found.sort_by_key(|r| std::cmp::Reverse(r.at));
        found.truncate(query.limit);
        Ok(found)
    }
}

impl Sweeper for MemoryStore {
    fn sweep(&self, cutoff: DateTime<Utc>, _batch: usize) -> Result<SweepReport, StoreError> {
        let mut state = self.lock();
        let dead = |t: &ResetToken| {
            t.used_at.is_some_and(|at| at < cutoff)
                || t.revoked_at.is_some_and(|at| at < cutoff)
                || t.expires_at < cutoff
        };
        let gone: Vec<(i64, [u8; 32])> = state
            .tokens
            .values()
            .filter(|t| dead(t))
            .map(|t| (t.id, *t.digest.as_bytes()))
            .collect();
        for (id, digest) in &gone {
            state.tokens.remove(id);
            state.token_by_digest.remove(digest);
        }
        let before = state.outbox.len();
        state.outbox.retain(|e| e.status == OutboxStatus::Pending || e.created_at >= cutoff);
        Ok(SweepReport { tokens: gone.len() as u64, mails: (before - state.outbox.len()) as u64 })
    }
}

fn scrub(mail: &mut OutgoingMail) {
    mail.text.clear();
    mail.html.clear();
}

impl Outbox for MemoryStore {
    fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<QueuedMail>, StoreError> {
        let mut state = self.lock();
        let claimable = |e: &&mut OutboxEntry| {
            e.status == OutboxStatus::Pending
                && e.next_attempt_at <= now
                && e.locked_until.is_none_or(|until| until <= now)
        };
        Ok(state
            .outbox
            .iter_mut()
            .filter(claimable)
            .take(limit)
            .map(|e| {
                e.locked_until = Some(lease_until);
                e.attempts += 1;
                QueuedMail { id: e.id, mail: e.mail.clone(), attempts: e.attempts }
            })
            .collect())
    }

    fn renew(
        &self,
        ids: &[i64],
        held_until: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<i64>, StoreError> {
        let mut state = self.lock();
        Ok(state
            .outbox
            .iter_mut()
            .filter(|e| {
                ids.contains(&e.id)
                    && e.status == OutboxStatus::Pending
                    && e.locked_until == Some(held_until)
            })
            .map(|e| {
                e.locked_until = Some(until);
                e.id
            })
            .collect())
    }

    fn mark_sent(&self, id: i64, _at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut state = self.lock();
        if let Some(e) = state.outbox.iter_mut().find(|e| e.id == id) {
            e.status = OutboxStatus::Sent;
            e.locked_until = None;
            e.last_error = None;
            scrub(&mut e.mail);
        }
        Ok(())
    }

    fn mark_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let mut state = self.lock();
        if let Some(e) = state.outbox.iter_mut().find(|e| e.id == id) {
            e.locked_until = None;
            e.last_error = Some(error.to_owned());
            match retry_at {
                Some(at) => e.next_attempt_at = at,
                None => {
                    e.status = OutboxStatus::Failed;
                    scrub(&mut e.mail);
                }
            }
        }
        Ok(())
    }

    fn pending(&self) -> Result<u64, StoreError> {
        Ok(self.lock().outbox.iter().filter(|e| e.status == OutboxStatus::Pending).count() as u64)
    }
}
