//! The bcrypt [`PasswordHasher`].
//!
//! It hashes on the caller's thread; how many hashes run at once is the
//! caller's to bound (the HTTP layer runs them on its hashing lane).

use pwreset_domain::ports::{HashError, PasswordHasher};
use pwreset_domain::{NewPassword, PasswordHash};

/// bcrypt reads this many bytes of a password and ignores the rest.
pub const BCRYPT_MAX_BYTES: usize = 72;

/// Lowest and highest cost bcrypt accepts.
pub const COST_RANGE: std::ops::RangeInclusive<u32> = 4..=31;

/// bcrypt (`$2b$`) at a configured cost.
///
/// Passwords up to 72 bytes are hashed in full (the `bcrypt` crate's
/// `non_truncating_*` functions wrongly refuse exactly 72); longer ones are
/// refused rather than silently truncated.
#[derive(Debug, Clone, Copy)]
pub struct BcryptHasher {
    cost: u32,
}

impl BcryptHasher {
    /// A hasher at `cost`.
    ///
    /// # Errors
    /// [`HashError::Failed`] when the cost is outside 4..=31.
    pub fn new(cost: u32) -> Result<Self, HashError> {
        if !COST_RANGE.contains(&cost) {
            return Err(HashError::Failed(format!("bcrypt cost must be 4..=31, got {cost}")));
        }
        Ok(Self { cost })
    }

    /// The configured cost.
    pub fn cost(&self) -> u32 {
        self.cost
    }
}

impl PasswordHasher for BcryptHasher {
    fn hash(&self, password: &NewPassword) -> Result<PasswordHash, HashError> {
        let bytes = password.expose().as_bytes();
        if bytes.len() > BCRYPT_MAX_BYTES {
            return Err(HashError::Failed("password longer than 72 bytes".into()));
        }
        // `hash` would truncate past 72 bytes; the check above makes that moot.
        bcrypt::hash(bytes, self.cost)
            .map(PasswordHash::new)
            .map_err(|e| HashError::Failed(e.to_string()))
    }

    fn verify(&self, candidate: &str, hash: &PasswordHash) -> Result<bool, HashError> {
        if candidate.len() > BCRYPT_MAX_BYTES {
            // Its first 72 bytes might match; the password itself does not.
            return Ok(false);
        }
        bcrypt::verify(candidate, hash.expose()).map_err(|e| HashError::Failed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> BcryptHasher {
        BcryptHasher::new(4).unwrap()
    }

    fn password(s: &str) -> NewPassword {
        NewPassword::parse(s.to_owned()).unwrap()
    }

    #[test]
    fn hashes_are_2b_and_verify() {
        let h = hasher();
        let hash = h.hash(&password("correct horse")).unwrap();
        assert!(hash.expose().starts_with("$2b$04$"), "{}", hash.expose().len());
        assert_eq!(hash.expose().len(), 60);
        assert!(h.verify("correct horse", &hash).unwrap());
        assert!(!h.verify("correct horsE", &hash).unwrap());
    }

    #[test]
    fn all_72_bytes_count() {
        let h = hasher();
        // 24 × 3 bytes = 72 bytes: the last character must matter.
        let full = "密".repeat(23) + "码";
        let hash = h.hash(&password(&full)).unwrap();
        assert!(h.verify(&full, &hash).unwrap());
        assert!(!h.verify(&("密".repeat(23) + "密"), &hash).unwrap());
        // A 73-byte candidate whose first 72 bytes match is still refused.
        assert!(!h.verify(&(full + "x"), &hash).unwrap());
    }

    #[test]
    fn cost_is_checked() {
        assert!(BcryptHasher::new(3).is_err());
        assert!(BcryptHasher::new(32).is_err());
        assert_eq!(BcryptHasher::new(12).unwrap().cost(), 12);
    }

    #[test]
    fn unparsable_hash_is_an_error_not_a_mismatch() {
        assert!(hasher().verify("whatever", &PasswordHash::new("not a hash".into())).is_err());
    }
}
