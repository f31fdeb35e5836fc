//! Entities of the reset flow, mirroring Cloudreve's users and groups.

use chrono::{DateTime, Utc};

use crate::values::{GroupId, PasswordHash, SecretDigest, SecurityStamp, UserId};

/// Account state, as Cloudreve names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserStatus {
    /// May sign in and reset its password.
    Active,
    /// Registered but not yet activated.
    Inactive,
    /// Banned by an administrator.
    ManualBanned,
    /// Banned by the system (e.g. over quota).
    SysBanned,
}

impl UserStatus {
    /// Every status, in Cloudreve's order.
    pub const ALL: [Self; 4] = [Self::Active, Self::Inactive, Self::ManualBanned, Self::SysBanned];

    /// The stored and serialised name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::ManualBanned => "manual_banned",
            Self::SysBanned => "sys_banned",
        }
    }

    /// Parses a stored or typed name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// Where a user's profile picture comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Avatar {
    /// An uploaded file.
    File,
    /// Gravatar, from the email address.
    Gravatar,
}

impl Avatar {
    /// The stored and serialised name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Gravatar => "gravatar",
        }
    }

    /// Parses a stored name; anything else (including `""`) means no avatar.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "file" => Some(Self::File),
            "gravatar" => Some(Self::Gravatar),
            _ => None,
        }
    }
}

/// Per-user preferences kept in Cloudreve's `settings` column.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct UserSettings {
    /// Primary colour of the user's theme, e.g. `#131313`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_theme: Option<String>,
    /// Preferred language tag, e.g. `zh-CN`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Whether view settings stay local instead of syncing to the server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disable_view_sync: Option<bool>,
    /// Which share links the profile page shows (`""`, `all_share`, `hide_share`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share_links_in_profile: Option<String>,
}

/// A permission group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Primary key.
    pub id: GroupId,
    /// Display name.
    pub name: String,
    /// Cloudreve's permission boolset (bit `n` of byte `n / 8` is permission `n`).
    pub permissions: Vec<u8>,
    /// Most files in one batch of direct links; 0 forbids batches.
    pub direct_link_batch_size: i64,
    /// Seconds a trashed file is kept.
    pub trash_retention: i64,
}

/// A user account, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Primary key.
    pub id: UserId,
    /// Email address as stored.
    pub email: String,
    /// Display name.
    pub nickname: String,
    /// bcrypt hash of the password.
    pub password_hash: PasswordHash,
    /// Account state.
    pub status: UserStatus,
    /// Profile picture source; `None` for none.
    pub avatar: Option<Avatar>,
    /// Credit balance, where the deployment uses credits.
    pub credit: Option<i64>,
    /// Preferences.
    pub settings: UserSettings,
    /// The user's group.
    pub group_id: GroupId,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change to the row.
    pub updated_at: DateTime<Utc>,
    /// Changes whenever the credentials change.
    pub security_stamp: SecurityStamp,
}

/// A user together with its group: what the API returns after a reset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserProfile {
    /// The account.
    pub user: User,
    /// Its group.
    pub group: Group,
}

/// Where a reset token stands at a given instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenState {
    /// Can still reset the password.
    Live,
    /// Its lifetime is over.
    Expired,
    /// It already reset the password.
    Used,
    /// A newer token or a completed reset replaced it.
    Revoked,
}

/// A reset token: the stored half of a reset link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetToken {
    /// Primary key.
    pub id: i64,
    /// The user whose password the link resets.
    pub user_id: UserId,
    /// SHA-256 of the link's secret.
    pub digest: SecretDigest,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// Fixed at issue time; the token is dead from this instant on.
    pub expires_at: DateTime<Utc>,
    /// When it reset the password.
    pub used_at: Option<DateTime<Utc>>,
    /// When it was superseded.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ResetToken {
    /// The token's state at `now`. Used and revoked win over expired, so the
    /// audit trail says what actually happened to it.
    pub fn state(&self, now: DateTime<Utc>) -> TokenState {
        if self.used_at.is_some() {
            TokenState::Used
        } else if self.revoked_at.is_some() {
            TokenState::Revoked
        } else if now >= self.expires_at {
            TokenState::Expired
        } else {
            TokenState::Live
        }
    }
}

/// What a client told us about itself, for the audit trail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// Client IP address.
    pub ip: Option<String>,
    /// `User-Agent` header, truncated by the edge.
    pub user_agent: Option<String>,
    /// Correlation id of the request.
    pub correlation_id: Option<String>,
}

/// Kinds of audit events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditKind {
    /// An operator issued a reset link (`token issue`).
    LinkIssued,
    /// Someone asked for a reset link by email address, whatever the outcome
    /// (the detail says which).
    LinkRequested,
    /// A password was reset with a link.
    ResetSucceeded,
    /// A reset attempt was refused (the detail says why).
    ResetRefused,
    /// A request was refused by a rate limit (the detail says which).
    RateLimited,
}

impl AuditKind {
    /// Every kind.
    pub const ALL: [Self; 5] = [
        Self::LinkIssued,
        Self::LinkRequested,
        Self::ResetSucceeded,
        Self::ResetRefused,
        Self::RateLimited,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LinkIssued => "link_issued",
            Self::LinkRequested => "link_requested",
            Self::ResetSucceeded => "reset_succeeded",
            Self::ResetRefused => "reset_refused",
            Self::RateLimited => "rate_limited",
        }
    }

    /// Parses a stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }
}

/// The languages pwreset writes emails and pages in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    /// English (`en-US`).
    EnUs,
    /// Simplified Chinese (`zh-CN`).
    ZhCn,
}

impl Language {
    /// Every supported language.
    pub const ALL: [Self; 2] = [Self::EnUs, Self::ZhCn];

    /// The BCP 47 tag.
    pub fn tag(self) -> &'static str {
        match self {
            Self::EnUs => "en-US",
            Self::ZhCn => "zh-CN",
        }
    }

    /// Maps a language tag onto a supported language by its primary subtag
    /// (`en`, `en-GB`, `EN_us` → English; `zh`, `zh-Hans`, `zh-CN` → Chinese).
    /// Traditional Chinese tags (`zh-TW`, `zh-HK`, `zh-Hant`) are not
    /// Simplified Chinese and map to nothing.
    pub fn from_tag(tag: &str) -> Option<Self> {
        let tag = tag.trim().to_ascii_lowercase().replace('_', "-");
        let mut parts = tag.split('-');
        match parts.next()? {
            "en" => Some(Self::EnUs),
            "zh" if parts.any(|p| matches!(p, "tw" | "hk" | "mo" | "hant")) => None,
            "zh" => Some(Self::ZhCn),
            _ => None,
        }
    }

    /// The first supported language among the candidates, in order of
    /// preference (e.g. the request's, then the user's setting).
    pub fn choose<'a>(candidates: impl IntoIterator<Item = Option<&'a str>>) -> Option<Self> {
        candidates.into_iter().flatten().find_map(Self::from_tag)
    }
}

/// What an outgoing email is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// Carries a reset link (holds a secret until delivered).
    ResetLink,
    /// Tells the owner their password was changed.
    PasswordChanged,
    /// An operator's test of the mail transport (`pwreset mail test`);
    /// never queued.
    Test,
}

impl MailKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ResetLink => "reset_link",
            Self::PasswordChanged => "password_changed",
            Self::Test => "test",
        }
    }

    /// Parses a stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "reset_link" => Some(Self::ResetLink),
            "password_changed" => Some(Self::PasswordChanged),
            "test" => Some(Self::Test),
            _ => None,
        }
    }
}

/// An email, rendered and ready to queue. A reset-link email holds the clear
/// secret in its bodies, so `Debug` leaves them out.
#[derive(Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    /// What it is for.
    pub kind: MailKind,
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// HTML body.
    pub html: String,
}

impl std::fmt::Debug for OutgoingMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingMail")
            .field("kind", &self.kind)
            .field("to", &crate::values::mask_email(&self.to))
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// One row of the audit trail. Never holds secrets, passwords or hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// What happened.
    pub kind: AuditKind,
    /// The user concerned, when known.
    pub user_id: Option<UserId>,
    /// Who asked.
    pub client: ClientInfo,
    /// Free-form detail (a refusal reason, the issuing channel).
    pub detail: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn token(now: DateTime<Utc>) -> ResetToken {
        ResetToken {
            id: 1,
            user_id: UserId::new(1).unwrap(),
            digest: crate::ResetSecret::parse("00000000000000000000000000000000").unwrap().digest(),
            created_at: now,
            expires_at: now + Duration::hours(1),
            used_at: None,
            revoked_at: None,
        }
    }

    #[test]
    fn token_state_over_time() {
        let now = Utc::now();
        let t = token(now);
        assert_eq!(t.state(now), TokenState::Live);
        assert_eq!(t.state(now + Duration::minutes(59)), TokenState::Live);
        assert_eq!(t.state(now + Duration::hours(1)), TokenState::Expired);
        let used = ResetToken { used_at: Some(now), ..t.clone() };
        assert_eq!(used.state(now + Duration::hours(2)), TokenState::Used);
        let revoked = ResetToken { revoked_at: Some(now), ..t };
        assert_eq!(revoked.state(now), TokenState::Revoked);
    }

    #[test]
    fn languages_from_tags() {
        for (tag, lang) in [
            ("en-US", Some(Language::EnUs)),
            ("en", Some(Language::EnUs)),
            ("EN_gb", Some(Language::EnUs)),
            ("zh-CN", Some(Language::ZhCn)),
            ("zh", Some(Language::ZhCn)),
            ("zh-Hans-CN", Some(Language::ZhCn)),
            ("zh-TW", None),
            ("zh-Hant", None),
            ("fr-FR", None),
            ("", None),
        ] {
            assert_eq!(Language::from_tag(tag), lang, "{tag}");
        }
        assert_eq!(
            Language::choose([Some("fr"), None, Some("zh-CN"), Some("en")]),
            Some(Language::ZhCn)
        );
        assert_eq!(Language::choose([None, Some("de")]), None);
        for l in Language::ALL {
            assert_eq!(Language::from_tag(l.tag()), Some(l));
        }
    }

    #[test]
    fn mail_debug_hides_bodies_and_address() {
        let mail = OutgoingMail {
            kind: MailKind::ResetLink,
            to: "jane@example.com".into(),
            subject: "Reset".into(),
            text: "secret-in-link".into(),
            html: "<a>secret-in-link</a>".into(),
        };
        let shown = format!("{mail:?}");
        assert!(!shown.contains("secret-in-link") && !shown.contains("jane@"), "{shown}");
    }

    #[test]
    fn status_names_round_trip() {
        for s in UserStatus::ALL {
            assert_eq!(UserStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(UserStatus::parse("banned"), None);
        assert_eq!(Avatar::parse(""), None);
        assert_eq!(Avatar::parse("gravatar"), Some(Avatar::Gravatar));
    }
}

/// A rate limit: "at most `max` requests per `per`", enforced with GCRA
/// (the generic cell rate algorithm): a key may burst to `max` at once, then
/// earns one request back every `per / max`. Its state is one instant per
/// key, the "theoretical arrival time" at which its allowance is full again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Requests allowed in a burst and per period.
    pub max: u32,
    /// The period.
    pub per: std::time::Duration,
}

impl Limit {
    /// The time one request costs: `per / max`.
    pub fn interval(self) -> std::time::Duration {
        self.per / self.max.max(1)
    }

    /// How far ahead of now a key's theoretical arrival time may run before
    /// its next request is refused: `per - interval`.
    pub fn tolerance(self) -> std::time::Duration {
        self.per.saturating_sub(self.interval())
    }
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}s", self.max, self.per.as_secs())
    }
}
