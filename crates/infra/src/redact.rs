//! Keeping secrets to their owner: passwords out of printed URLs, private
//! files out of other users' reach.

use std::path::Path;

/// `scheme://user:password@host…` with the password hidden, whatever it
/// holds (`/`, `@`, `:`, `?`): everything between the first `:` of the user
/// part and the last `@` is hidden. An `@` further on (in a query) hides more,
/// never less.
pub fn url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    match rest.rfind('@') {
        Some(at) => match rest[..at].find(':') {
            Some(colon) => format!("{scheme}://{}:***{}", &rest[..colon], &rest[at..]),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Creates `dir` (and its parents) if missing; a folder it creates is
/// `0700` on Unix. An existing folder is left as the operator made it.
///
/// # Errors
/// The folder cannot be created.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Makes a file readable and writable by its owner only (`0600`) on Unix.
///
/// # Errors
/// The permissions cannot be changed.
pub fn private_file(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden_whatever_they_hold() {
        assert_eq!(
            url_password("smtps://bot:hunter2@mail.example.com"),
            "smtps://bot:***@mail.example.com"
        );
        assert_eq!(url_password("postgres://app:s3cr/et@db/x"), "postgres://app:***@db/x");
        assert_eq!(url_password("smtp://a:p@ss@h:25"), "smtp://a:***@h:25");
        assert_eq!(url_password("smtp://h:25"), "smtp://h:25");
        assert_eq!(url_password("postgres://app@db/x"), "postgres://app@db/x");
    }

    #[cfg(unix)]
    #[test]
    fn private_folders_and_files_are_the_owners_only() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        private_dir(&dir).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
        let file = dir.join("f");
        std::fs::write(&file, "x").unwrap();
        private_file(&file).unwrap();
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
