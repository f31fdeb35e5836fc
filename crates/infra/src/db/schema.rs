//! The diesel schema, shared by every backend (the migrations keep the
//! per-backend DDL in step with it).

// `diesel::table!` generates the tables' modules and column types; their
// names are the documentation.
#![allow(missing_docs)]

diesel::table! {
    groups (id) {
        id -> BigInt,
        name -> Text,
        permissions -> Binary,
        direct_link_batch_size -> BigInt,
        trash_retention -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> BigInt,
        email -> Text,
        nick -> Text,
        password -> Text,
        status -> Text,
        avatar -> Nullable<Text>,
        credit -> Nullable<BigInt>,
        settings -> Nullable<Text>,
        group_id -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        security_stamp -> Text,
    }
}

diesel::table! {
    settings (id) {
        id -> BigInt,
        name -> Text,
        value -> Text,
    }
}

diesel::joinable!(users -> groups (group_id));
diesel::joinable!(reset_tokens -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(groups, users, reset_tokens);

diesel::define_sql_function! {
    /// SQL `lower()`: ASCII lowercase on every supported backend.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// pwreset's own state tables — tokens, audit trail, outbox — under the given
/// table names: one definition for both table sets.
macro_rules! state_tables {
    ($tokens:literal, $audit:literal, $outbox:literal) => {
        diesel::table! {
            #[sql_name = $tokens]
            reset_tokens (id) {
                id -> BigInt,
                user_id -> BigInt,
                digest -> Binary,
                created_at -> Timestamp,
                expires_at -> Timestamp,
                used_at -> Nullable<Timestamp>,
                revoked_at -> Nullable<Timestamp>,
            }
        }

        diesel::table! {
            #[sql_name = $audit]
            audit_events (id) {
                id -> BigInt,
                kind -> Text,
                user_id -> Nullable<BigInt>,
                client_ip -> Nullable<Text>,
                user_agent -> Nullable<Text>,
                correlation_id -> Nullable<Text>,
                detail -> Nullable<Text>,
                created_at -> Timestamp,
            }
        }

        diesel::table! {
            #[sql_name = $outbox]
            mail_outbox (id) {
                id -> BigInt,
                kind -> Text,
                recipient -> Text,
                subject -> Text,
                body_text -> Nullable<Text>,
                body_html -> Nullable<Text>,
                status -> Text,
                attempts -> Integer,
                next_attempt_at -> Timestamp,
                locked_until -> Nullable<Timestamp>,
                last_error -> Nullable<Text>,
                created_at -> Timestamp,
                sent_at -> Nullable<Timestamp>,
            }
        }
    };
}

state_tables!("reset_tokens", "audit_events", "mail_outbox");

/// pwreset's state tables under their prefixed names (`pwreset_reset_tokens`,
/// `pwreset_audit_events`, `pwreset_mail_outbox`), for a database shared with
/// another application's accounts. Same columns as the plain tables.
pub mod prefixed {
    #![allow(missing_docs)]
    state_tables!("pwreset_reset_tokens", "pwreset_audit_events", "pwreset_mail_outbox");
}
