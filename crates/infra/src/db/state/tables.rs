// The state-table queries, written once and compiled once per table set:
// `state/mod.rs` includes this file in a module where `tables` names either
// the plain schema (`reset_tokens`, …) or the prefixed one (`pwreset_…`).
// No inner doc comment here: `include!` does not allow one.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use pwreset_domain::ports::{AuditQuery, NewResetToken};
use pwreset_domain::{AuditRecord, OutgoingMail, SecretDigest, UserId};

use self::tables::{audit_events, mail_outbox, reset_tokens};
use crate::db::connection::DbConnection;
use crate::db::dialect::{self, ClaimedRow};
use crate::db::rows::{AuditRow, TokenRow};
use crate::db::state::{MAX_ERROR_LEN, StateTables};
use crate::OutboxStatus;

fn naive(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc()
}

/// This module's table set.
#[derive(Debug)]
pub(super) struct Tables;

impl StateTables for Tables {
    fn find_token(
        &self,
        conn: &mut DbConnection,
        digest: &SecretDigest,
    ) -> QueryResult<Option<TokenRow>> {
        use self::tables::reset_tokens as t;
        t::table
            .filter(t::digest.eq(digest.as_bytes().as_slice()))
            .select((t::id, t::user_id, t::digest, t::created_at, t::expires_at, t::used_at, t::revoked_at))
            .first::<TokenRow>(conn)
            .optional()
    }

    fn insert_token(&self, conn: &mut DbConnection, token: &NewResetToken) -> QueryResult<()> {
        diesel::insert_into(reset_tokens::table)
            .values((
                reset_tokens::user_id.eq(token.user_id.get()),
                reset_tokens::digest.eq(token.digest.as_bytes().as_slice()),
                reset_tokens::created_at.eq(naive(token.created_at)),
                reset_tokens::expires_at.eq(naive(token.expires_at)),
            ))
            .execute(conn)
            .map(drop)
    }

    fn consume_token(
        &self,
        conn: &mut DbConnection,
        token: i64,
        user: UserId,
        at: DateTime<Utc>,
    ) -> QueryResult<usize> {
        let at = naive(at);
        diesel::update(
            reset_tokens::table
                .filter(reset_tokens::id.eq(token))
                .filter(reset_tokens::user_id.eq(user.get()))
                .filter(reset_tokens::used_at.is_null())
                .filter(reset_tokens::revoked_at.is_null())
                .filter(reset_tokens::expires_at.gt(at)),
        )
        .set(reset_tokens::used_at.eq(at))
        .execute(conn)
    }

    fn revoke_outstanding(
        &self,
        conn: &mut DbConnection,
        user: UserId,
        keep: Option<i64>,
        at: DateTime<Utc>,
    ) -> QueryResult<usize> {
        let outstanding = reset_tokens::table
            .filter(reset_tokens::user_id.eq(user.get()))
            .filter(reset_tokens::used_at.is_null())
            .filter(reset_tokens::revoked_at.is_null())
            .filter(reset_tokens::id.ne(keep.unwrap_or(0)));
        diesel::update(outstanding).set(reset_tokens::revoked_at.eq(naive(at))).execute(conn)
    }

    fn enqueue_mail(
        &self,
        conn: &mut DbConnection,
        mail: &OutgoingMail,
        at: DateTime<Utc>,
    ) -> QueryResult<()> {
        diesel::insert_into(mail_outbox::table)
            .values((
                mail_outbox::kind.eq(mail.kind.as_str()),
                mail_outbox::recipient.eq(&mail.to),
                mail_outbox::subject.eq(&mail.subject),
                mail_outbox::body_text.eq(&mail.text),
                mail_outbox::body_html.eq(&mail.html),
                mail_outbox::next_attempt_at.eq(naive(at)),
                mail_outbox::created_at.eq(naive(at)),
            ))
            .execute(conn)
            .map(drop)
    }

    fn insert_audit(&self, conn: &mut DbConnection, record: &AuditRecord) -> QueryResult<()> {
        diesel::insert_into(audit_events::table)
            .values((
                audit_events::kind.eq(record.kind.as_str()),
                audit_events::user_id.eq(record.user_id.map(UserId::get)),
                audit_events::client_ip.eq(record.client.ip.as_deref()),
                audit_events::user_agent.eq(record.client.user_agent.as_deref()),
                audit_events::correlation_id.eq(record.client.correlation_id.as_deref()),
                audit_events::detail.eq(record.detail.as_deref()),
                audit_events::created_at.eq(naive(record.at)),
            ))
            .execute(conn)
            .map(drop)
    }

    fn list_audit(&self, conn: &mut DbConnection, query: &AuditQuery) -> QueryResult<Vec<AuditRow>> {
        use self::tables::audit_events::dsl::*;
        let mut select = audit_events
            .filter(created_at.ge(naive(query.since)))
            .order((created_at.desc(), id.desc()))
            .limit(i64::try_from(query.limit).unwrap_or(i64::MAX))
            .select((id, kind, user_id, client_ip, user_agent, correlation_id, detail, created_at))
            .into_boxed();
        if let Some(user) = query.user {
            select = select.filter(user_id.eq(user.get()));
        }
        select.load::<AuditRow>(conn)
    }

    fn sweep_tokens(
        &self,
        conn: &mut DbConnection,
        cutoff: DateTime<Utc>,
        limit: i64,
    ) -> QueryResult<usize> {
        let cutoff = naive(cutoff);
        conn.transaction(|c| {
            let ids: Vec<i64> = reset_tokens::table
                .filter(
                    reset_tokens::used_at
                        .lt(cutoff)
                        .or(reset_tokens::revoked_at.lt(cutoff))
                        .or(reset_tokens::expires_at.lt(cutoff)),
                )
                .select(reset_tokens::id)
                .limit(limit)
                .load(c)?;
            diesel::delete(reset_tokens::table.filter(reset_tokens::id.eq_any(&ids))).execute(c)
        })
    }

    fn sweep_mails(
        &self,
        conn: &mut DbConnection,
        cutoff: DateTime<Utc>,
        limit: i64,
    ) -> QueryResult<usize> {
        let cutoff = naive(cutoff);
        conn.transaction(|c| {
            let ids: Vec<i64> = mail_outbox::table
                .filter(mail_outbox::status.ne(OutboxStatus::Pending.as_str()))
                .filter(mail_outbox::created_at.lt(cutoff))
                .select(mail_outbox::id)
                .limit(limit)
                .load(c)?;
            diesel::delete(mail_outbox::table.filter(mail_outbox::id.eq_any(&ids))).execute(c)
        })
    }

    fn claim(
        &self,
        conn: &mut DbConnection,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> QueryResult<Vec<ClaimedRow>> {
        dialect::claim_outbox(conn, OUTBOX_TABLE, naive(now), naive(lease_until), limit)
    }

    fn renew(
        &self,
        conn: &mut DbConnection,
        ids: &[i64],
        held_until: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> QueryResult<Vec<i64>> {
        // The update is the fence: a row whose lease ended and that another
        // claimer took has another `locked_until`, and is left alone. Its
        // row locks keep the renewed rows ours until the read below.
        conn.transaction(|c| {
            let pending = mail_outbox::status.eq(OutboxStatus::Pending.as_str());
            diesel::update(
                mail_outbox::table
                    .filter(mail_outbox::id.eq_any(ids))
                    .filter(pending)
                    .filter(mail_outbox::locked_until.eq(naive(held_until))),
            )
            .set(mail_outbox::locked_until.eq(naive(until)))
            .execute(c)?;
            mail_outbox::table
                .filter(mail_outbox::id.eq_any(ids))
                .filter(pending)
                .filter(mail_outbox::locked_until.eq(naive(until)))
                .select(mail_outbox::id)
                .order(mail_outbox::id.asc())
                .load(c)
        })
    }

    fn mark_sent(&self, conn: &mut DbConnection, id: i64, at: DateTime<Utc>) -> QueryResult<()> {
        diesel::update(mail_outbox::table.find(id))
            .set((
                mail_outbox::status.eq(OutboxStatus::Sent.as_str()),
                mail_outbox::sent_at.eq(naive(at)),
                mail_outbox::body_text.eq(None::<String>),
                mail_outbox::body_html.eq(None::<String>),
                mail_outbox::locked_until.eq(None::<NaiveDateTime>),
                mail_outbox::last_error.eq(None::<String>),
            ))
            .execute(conn)
            .map(drop)
    }

    fn mark_failed(
        &self,
        conn: &mut DbConnection,
        id: i64,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> QueryResult<()> {
        let error: String = error.chars().take(MAX_ERROR_LEN).collect();
        let row = mail_outbox::table.find(id);
        match retry_at {
            Some(at) => diesel::update(row)
                .set((
                    mail_outbox::next_attempt_at.eq(naive(at)),
                    mail_outbox::locked_until.eq(None::<NaiveDateTime>),
                    mail_outbox::last_error.eq(&error),
                ))
                .execute(conn),
            None => diesel::update(row)
                .set((
                    mail_outbox::status.eq(OutboxStatus::Failed.as_str()),
                    mail_outbox::body_text.eq(None::<String>),
                    mail_outbox::body_html.eq(None::<String>),
                    mail_outbox::locked_until.eq(None::<NaiveDateTime>),
                    mail_outbox::last_error.eq(&error),
                ))
                .execute(conn),
        }
        .map(drop)
    }

    fn pending(&self, conn: &mut DbConnection) -> QueryResult<i64> {
        mail_outbox::table.filter(mail_outbox::status.eq(OutboxStatus::Pending.as_str())).count().get_result(conn)
    }

    fn outbox_list(
        &self,
        conn: &mut DbConnection,
        state: OutboxStatus,
        limit: i64,
    ) -> QueryResult<Vec<crate::db::state::OutboxEntry>> {
        mail_outbox::table
            .filter(mail_outbox::status.eq(state.as_str()))
            .order(mail_outbox::id.asc())
            .limit(limit)
            .select((
                mail_outbox::id,
                mail_outbox::kind,
                mail_outbox::recipient,
                mail_outbox::status,
                mail_outbox::attempts,
                mail_outbox::next_attempt_at,
                mail_outbox::last_error,
                mail_outbox::created_at,
            ))
            .load(conn)
    }

    fn outbox_retry_now(
        &self,
        conn: &mut DbConnection,
        id: Option<i64>,
        now: DateTime<Utc>,
    ) -> QueryResult<usize> {
        let due = mail_outbox::table
            .filter(mail_outbox::status.eq(OutboxStatus::Pending.as_str()))
            .filter(mail_outbox::next_attempt_at.gt(naive(now)));
        match id {
            Some(id) => diesel::update(due.filter(mail_outbox::id.eq(id)))
                .set(mail_outbox::next_attempt_at.eq(naive(now)))
                .execute(conn),
            None => diesel::update(due).set(mail_outbox::next_attempt_at.eq(naive(now))).execute(conn),
        }
    }

    fn outbox_counts(&self, conn: &mut DbConnection) -> QueryResult<Vec<(String, i64)>> {
        mail_outbox::table
            .group_by(mail_outbox::status)
            .select((mail_outbox::status, diesel::dsl::count_star()))
            .load(conn)
    }

    #[cfg(any(test, feature = "test-support"))]
    fn audit_kinds(&self, conn: &mut DbConnection) -> QueryResult<Vec<String>> {
        audit_events::table.order(audit_events::id.asc()).select(audit_events::kind).load(conn)
    }

    #[cfg(any(test, feature = "test-support"))]
    fn plant_token(
        &self,
        conn: &mut DbConnection,
        user: UserId,
        digest: &SecretDigest,
        created_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> QueryResult<()> {
        diesel::insert_into(reset_tokens::table)
            .values((
                reset_tokens::user_id.eq(user.get()),
                reset_tokens::digest.eq(digest.as_bytes().as_slice()),
                reset_tokens::created_at.eq(naive(created_at)),
                reset_tokens::expires_at.eq(naive(expires_at)),
            ))
            .execute(conn)
            .map(drop)
    }

    #[cfg(any(test, feature = "test-support"))]
    fn outbox_rows(
        &self,
        conn: &mut DbConnection,
    ) -> QueryResult<Vec<crate::db::state::OutboxRowParts>> {
        mail_outbox::table
            .order(mail_outbox::id.asc())
            .select((mail_outbox::status, mail_outbox::body_text, mail_outbox::body_html))
            .load(conn)
    }
}
