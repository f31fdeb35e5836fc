//! Passwords in the format Cloudreve's login reads (`inventory/user.go`).
//!
//! Cloudreve writes `<salt>:<lowercase hex sha256(password + salt)>` with a
//! 16-character salt of `[0-9A-Za-z]`, and its `CheckPassword` also accepts
//! two older forms: the same with a SHA-1 digest (V3) and `md5:<hash>:<salt>`
//! (V2). A bcrypt hash would lock the user out: Cloudreve's login refuses it.
//! That is why this hasher, not bcrypt, serves `PWRESET_ACCOUNTS=cloudreve`.

use md5::Md5;
use pwreset_domain::NewPassword;
use pwreset_domain::PasswordHash;
use pwreset_domain::ports::{HashError, PasswordHasher};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Length of the salt Cloudreve writes.
pub const SALT_LEN: usize = 16;

/// Cloudreve's salted SHA-256, salts from the OS CSPRNG (Cloudreve's own
/// come from `math/rand`).
#[derive(Debug, Default, Clone, Copy)]
pub struct CloudreveHasher;

fn hex_digest<D: Digest>(parts: &[&str]) -> String {
    let mut hasher = D::new();
    for part in parts {
        hasher.update(part.as_bytes());
    }
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// `<salt>:<hex sha256(password + salt)>`.
pub fn digest_password(password: &str, salt: &str) -> String {
    format!("{salt}:{}", hex_digest::<Sha256>(&[password, salt]))
}

/// Cloudreve's `CheckPassword`, step for step, with constant-time
/// comparisons: `Ok(false)` for a wrong password, `Err` for a stored value in
/// no known format.
///
/// The steps: split on `:`; two parts are `salt:digest`, three must be
/// `md5:hash:salt`, where `hash` must be `md5(salt + password)`. Then the
/// second part must be the SHA-256 (64 hex characters) or else the SHA-1 of
/// `password + first part`. For a V2 `md5:` value that second check can
/// never pass (Cloudreve's quirk, kept: pwreset answers as Cloudreve's login
/// does, and it never writes that form).
///
/// # Errors
/// [`HashError::Failed`] when `stored` is not a Cloudreve password.
pub fn check_password(candidate: &str, stored: &str) -> Result<bool, HashError> {
    let parts: Vec<&str> = stored.split(':').collect();
    let same = |a: &str, b: &str| -> bool { a.as_bytes().ct_eq(b.as_bytes()).into() };
    match parts.as_slice() {
        [_, _] => {}
        ["md5", hash, salt] => {
            if !same(&hex_digest::<Md5>(&[salt, candidate]), hash) {
                return Ok(false);
            }
        }
        _ => return Err(HashError::Failed("not a Cloudreve password hash".into())),
    }
    let (first, digest) = (parts[0], parts[1]);
    let computed = if digest.len() == 64 {
        hex_digest::<Sha256>(&[candidate, first])
    } else {
        hex_digest::<Sha1>(&[candidate, first])
    };
    Ok(same(&computed, digest))
}

impl PasswordHasher for CloudreveHasher {
    fn hash(&self, password: &NewPassword) -> Result<PasswordHash, HashError> {
        let salt = pwreset_infra::random::alphanumeric(SALT_LEN)
            .map_err(|e| HashError::Failed(e.to_string()))?;
        Ok(PasswordHash::new(digest_password(password.expose(), &salt)))
    }

    fn verify(&self, candidate: &str, hash: &PasswordHash) -> Result<bool, HashError> {
        check_password(candidate, hash.expose())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_password(raw: &str) -> NewPassword {
        NewPassword::parse(raw.to_owned()).unwrap()
    }

    #[test]
    fn hashes_are_cloudreves_format() {
        let hash = CloudreveHasher.hash(&new_password("correct horse")).unwrap();
        let (salt, digest) = hash.expose().split_once(':').unwrap();
        assert_eq!(salt.len(), SALT_LEN);
        assert!(salt.bytes().all(|b| b.is_ascii_alphanumeric()), "{salt}");
        assert_eq!(digest.len(), 64);
        assert!(digest.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert!(CloudreveHasher.verify("correct horse", &hash).unwrap());
        assert!(!CloudreveHasher.verify("correct horsf", &hash).unwrap());
        let again = CloudreveHasher.hash(&new_password("correct horse")).unwrap();
        assert_ne!(hash.expose(), again.expose(), "a fresh salt every time");
    }

    /// Known answers, computed independently (`printf %s passwordsalt | sha256sum`).
    #[test]
    fn known_answers_of_every_format_cloudreve_reads() {
        let sha256 =
            "saltsaltsaltsalt:a9dec8b8e5aae78ec09d5b250053ade5b511186d591952661164df2ca419f23e";
        assert_eq!(digest_password("password", "saltsaltsaltsalt"), sha256);
        assert!(check_password("password", sha256).unwrap());
        assert!(!check_password("Password", sha256).unwrap());
        let sha1 = "salt:c88e9c67041a74e0357befdff93f87dde0904214";
        assert!(check_password("password", sha1).unwrap());
        assert!(!check_password("passwort", sha1).unwrap());
        // V2: md5(salt + password) must match, and then Cloudreve's
        // fall-through SHA-1 check of `password + "md5"` fails: never valid.
        let md5 = "md5:67a1e09bb1f83f5007dc119c14d663aa:salt";
        assert!(!check_password("password", md5).unwrap());
        for bad in ["", "$2b$12$abcdefghijklmnopqrstuv", "a:b:c", "x:y:z:w"] {
            // (bcrypt has no `:` at all: Cloudreve's ErrorUnknownPasswordType.)
            assert!(check_password("password", bad).is_err(), "{bad:?}");
        }
    }
}
