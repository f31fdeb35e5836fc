//! Cloudreve's three default groups, seeded into every fresh store.
//!
//! The migrations insert the same rows in SQL; the storage contract suite
//! checks that every adapter starts with exactly these.

use pwreset_domain::{Group, GroupId};

/// Cloudreve's group permission bits (`GroupPermission` in its source).
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
    /// Highest bit Cloudreve defines for the admin group.
    pub const LAST: usize = 16;
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

/// The groups a fresh database starts with: 1 Admin, 2 User, 3 Anonymous.
pub fn default_groups() -> Vec<Group> {
    use permission::*;
    let admin: Vec<usize> = (0..=LAST).filter(|&b| b != IS_ANONYMOUS).collect();
    let group = |id: i64, name: &str, bits: &[usize], batch: i64, trash: i64| Group {
        id: GroupId::new(id).expect("positive literal"),
        name: name.to_owned(),
        permissions: boolset(bits),
        direct_link_batch_size: batch,
        trash_retention: trash,
    };
    vec![
        group(1, "Admin", &admin, 10, 864_000),
        group(2, "User", &[SHARE, WEBDAV, ARCHIVE_DOWNLOAD, SHARE_DOWNLOAD], 10, 604_800),
        group(3, "Anonymous", &[IS_ANONYMOUS, SHARE_DOWNLOAD], 0, 0),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_boolset_is_the_seeds_example() {
        // The seed document's example Admin group has permission "/f8B".
        assert_eq!(default_groups()[0].permissions, vec![0xFD, 0xFF, 0x01]);
        assert_eq!(default_groups()[1].permissions, vec![0x9C]);
        assert_eq!(default_groups()[2].permissions, vec![0x82]);
        assert_eq!(boolset(&[]), Vec::<u8>::new());
    }
}
