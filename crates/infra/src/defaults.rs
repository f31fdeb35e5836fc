//! Cloudreve's three default groups, seeded into every fresh store.
//!
//! The migrations insert the same rows in SQL; the storage contract suite
//! checks that every adapter starts with exactly these.

use pwreset_domain::{Group, GroupId};

/// Cloudreve's group permission bits (`GroupPermission` in its
/// `inventory/types/types.go`; 8, 10, 13, 14 and 15 are placeholders).
pub mod permission {
    /// Administrator.
    pub const IS_ADMIN: usize = 0;
    /// The anonymous (signed-out) group.
    pub const IS_ANONYMOUS: usize = 1;
    /// May create share links.
    pub const SHARE: usize = 2;
    /// May use WebDAV.
    pub const WEBDAV: usize = 3;
    /// May download folders as archives.
    pub const ARCHIVE_DOWNLOAD: usize = 4;
    /// May run archive tasks.
    pub const ARCHIVE_TASK: usize = 5;
    /// May proxy WebDAV.
    pub const WEBDAV_PROXY: usize = 6;
    /// May download shared files.
    pub const SHARE_DOWNLOAD: usize = 7;
    /// May run remote downloads.
    pub const REMOTE_DOWNLOAD: usize = 9;
    /// Redirected direct links (unused by Cloudreve, still set).
    pub const REDIRECTED_SOURCE: usize = 11;
    /// May delete with advanced options.
    pub const ADVANCE_DELETE: usize = 12;
    /// Ignores file ownership (unused by Cloudreve, still set).
    pub const IGNORE_FILE_OWNERSHIP: usize = 16;
}

/// Cloudreve's boolset: bit `n` is bit `n % 8` of byte `n / 8`.
pub fn boolset(bits: &[usize]) -> Vec<u8> {
    let len = bits.iter().max().map_or(0, |max| max / 8 + 1);
    let mut set = vec![0u8; len];
    for &bit in bits {
        set[bit / 8] |= 1 << (bit % 8);
    }
    set
}

/// The groups a fresh database starts with, as Cloudreve V4 creates them at
/// install (`migrateSysGroups`): 1 Admin, 2 User, 3 Anonymous.
pub fn default_groups() -> Vec<Group> {
    use permission::*;
    let week = 7 * 24 * 3600;
    let group = |id: i64, name: &str, bits: &[usize], batch: i64, trash: i64| Group {
        id: GroupId::new(id).expect("positive literal"),
        name: name.to_owned(),
        permissions: boolset(bits),
        direct_link_batch_size: batch,
        trash_retention: trash,
    };
    vec![
        group(
            1,
            "Admin",
            &[
                IS_ADMIN,
                SHARE,
                WEBDAV,
                WEBDAV_PROXY,
                ARCHIVE_DOWNLOAD,
                ARCHIVE_TASK,
                SHARE_DOWNLOAD,
                REMOTE_DOWNLOAD,
                REDIRECTED_SOURCE,
                ADVANCE_DELETE,
                IGNORE_FILE_OWNERSHIP,
            ],
            1000,
            week,
        ),
        group(2, "User", &[SHARE, SHARE_DOWNLOAD, REDIRECTED_SOURCE], 10, week),
        group(3, "Anonymous", &[IS_ANONYMOUS, SHARE_DOWNLOAD], 0, 0),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boolsets_are_cloudreves() {
        // Base64 of these is what Cloudreve V4 sends: "/RoB", "hAg=", "gg==".
        assert_eq!(default_groups()[0].permissions, vec![0xFD, 0x1A, 0x01]);
        assert_eq!(default_groups()[1].permissions, vec![0x84, 0x08]);
        assert_eq!(default_groups()[2].permissions, vec![0x82]);
        assert_eq!(boolset(&[]), Vec::<u8>::new());
        assert_eq!(boolset(&[0, 8]), vec![0x01, 0x01]);
    }
}
