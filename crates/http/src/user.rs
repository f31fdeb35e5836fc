//! The seed's `User` and `Group` objects, built from domain types.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::SecondsFormat;
use pwreset_domain::ports::PublicIdCodec;
use pwreset_domain::{Group, UserProfile};
use serde::Serialize;

/// The seed's `Group` schema.
#[derive(Debug, Serialize)]
pub struct GroupResponse {
    /// Group hashid (Cloudreve type 7).
    pub id: String,
    /// Name.
    pub name: String,
    /// Permission boolset, base64.
    pub permission: String,
    /// Most files in one batch of direct links.
    pub direct_link_batch_size: i64,
    /// Seconds a trashed file is kept.
    pub trash_retention: i64,
}

/// The seed's `User` schema, keys in its order. Required keys are always
/// present; the optional `disable_view_sync` and `share_links_in_profile` are
/// omitted when unset, as Cloudreve omits them.
#[derive(Debug, Serialize)]
pub struct UserResponse {
    /// User hashid (Cloudreve type 1).
    pub id: String,
    /// Address.
    pub email: String,
    /// Display name.
    pub nickname: String,
    /// RFC 3339 with offset.
    pub created_at: String,
    /// Always false: resets are for real accounts.
    pub anonymous: bool,
    /// The user's group.
    pub group: GroupResponse,
    /// Account state.
    pub status: &'static str,
    /// `"file"`, `"gravatar"` or null, never `""`.
    pub avatar: Option<&'static str>,
    /// Theme colour or null.
    pub preferred_theme: Option<String>,
    /// Credit or null.
    pub credit: Option<i64>,
    /// Always a language tag; the site default when the user has none.
    pub language: String,
    /// `"true"` when set. The seed types it as a string, and a JavaScript
    /// client reads `"false"` as true, so false is omitted like unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disable_view_sync: Option<&'static str>,
    /// `all_share` or `hide_share`; omitted when unset or empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub share_links_in_profile: Option<String>,
}

impl GroupResponse {
    /// Builds the object for a group.
    pub fn new(group: &Group, ids: &dyn PublicIdCodec) -> Self {
        Self {
            id: ids.encode_group(group.id),
            name: group.name.clone(),
            permission: STANDARD.encode(&group.permissions),
            direct_link_batch_size: group.direct_link_batch_size,
            trash_retention: group.trash_retention,
        }
    }
}

impl UserResponse {
    /// Builds the object for a user and its group.
    pub fn new(profile: &UserProfile, ids: &dyn PublicIdCodec, default_language: &str) -> Self {
        let user = &profile.user;
        let settings = &user.settings;
        Self {
            id: ids.encode_user(user.id),
            email: user.email.clone(),
            nickname: user.nickname.clone(),
            created_at: user.created_at.to_rfc3339_opts(SecondsFormat::Secs, false),
            anonymous: false,
            group: GroupResponse::new(&profile.group, ids),
            status: user.status.as_str(),
            avatar: user.avatar.map(|a| a.as_str()),
            preferred_theme: settings.preferred_theme.clone().filter(|t| !t.is_empty()),
            credit: user.credit,
            language: settings
                .language
                .clone()
                .filter(|l| !l.is_empty())
                .unwrap_or_else(|| default_language.to_owned()),
            disable_view_sync: settings.disable_view_sync.filter(|&on| on).map(|_| "true"),
            share_links_in_profile: settings
                .share_links_in_profile
                .clone()
                .filter(|s| !s.is_empty()),
        }
    }
}
