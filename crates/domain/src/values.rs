//! Value types that can only hold valid values ("parse, don't validate").
//!
//! Every type here is constructed through a `parse`/`new` function that checks
//! its invariant once; code that holds one never re-checks it. Types that hold
//! secret material print `[redacted]` in `Debug` and have no `Display`.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use thiserror::Error;

/// Writes `[redacted]` for a field that must never reach a log line.
fn redacted(f: &mut fmt::Formatter<'_>, name: &str) -> fmt::Result {
    write!(f, "{name}([redacted])")
}

/// The numeric primary key of a user (always positive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(i64);

/// The numeric primary key of a group (always positive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId(i64);

/// A numeric id was zero or negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("ids are positive integers, got {0}")]
pub struct InvalidId(pub i64);

macro_rules! numeric_id {
    ($ty:ident) => {
        impl $ty {
            /// Accepts positive integers only.
            pub fn new(raw: i64) -> Result<Self, InvalidId> {
                if raw > 0 { Ok(Self(raw)) } else { Err(InvalidId(raw)) }
            }

            /// The raw database value.
            pub fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}
numeric_id!(UserId);
numeric_id!(GroupId);

/// Why a string is not an acceptable email address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum EmailError {
    /// Empty after trimming.
    #[error("email address is empty")]
    Empty,
    /// Longer than RFC 5321 allows (254 bytes).
    #[error("email address is longer than 254 characters")]
    TooLong,
    /// No `@`, an empty local part or domain, or a local part over 64 bytes.
    #[error("email address must look like name@example.com")]
    Malformed,
    /// Whitespace or control characters inside the address.
    #[error("email address must not contain spaces or control characters")]
    IllegalCharacter,
}

/// A syntactically plausible email address, trimmed.
///
/// Matching is case-insensitive: [`Email::normalized`] is the lookup key
/// (ASCII lowercase, which is what every supported database's `lower()` agrees on).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Checks the shape of an address: one `@` splitting a non-empty local part
    /// (at most 64 bytes) from a domain that has no empty labels.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(EmailError::Empty);
        }
        if s.len() > 254 {
            return Err(EmailError::TooLong);
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(EmailError::IllegalCharacter);
        }
        let (local, domain) = s.rsplit_once('@').ok_or(EmailError::Malformed)?;
        let domain_ok = !domain.is_empty()
            && !domain.contains('@')
            && domain.split('.').all(|label| !label.is_empty());
        if local.is_empty() || local.len() > 64 || local.contains('@') || !domain_ok {
            return Err(EmailError::Malformed);
        }
        Ok(Self(s.to_owned()))
    }

    /// The address as entered (trimmed).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-insensitive lookup key.
    pub fn normalized(&self) -> String {
        self.0.to_ascii_lowercase()
    }

    /// The address with its local part hidden (`j***@example.com`), for logs.
    pub fn masked(&self) -> String {
        mask_email(&self.0)
    }
}

/// Masks any string that looks like an email address for logging:
/// keeps the first character of the local part and the domain.
pub fn mask_email(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let first = local.chars().next().map(String::from).unwrap_or_default();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

/// Masks every address-looking word of a free text (an SMTP error that
/// quotes the recipient, say), for logs.
pub fn mask_emails_in(text: &str) -> String {
    fn flush(word: &mut String, out: &mut String) {
        if word.contains('@') {
            out.push_str(&mask_email(word));
        } else {
            out.push_str(word);
        }
        word.clear();
    }
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    for c in text.chars() {
        if c.is_whitespace() || "<>,;\"'()[]:".contains(c) {
            flush(&mut word, &mut out);
            out.push(c);
        } else {
            word.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.masked())
    }
}

/// Why a proposed password is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PasswordError {
    /// Fewer than [`NewPassword::MIN_CHARS`] characters.
    #[error("password must be at least {} characters long", NewPassword::MIN_CHARS)]
    TooShort,
    /// More than [`NewPassword::MAX_CHARS`] characters.
    #[error("password must be at most {} characters long", NewPassword::MAX_CHARS)]
    TooLong,
    /// More than [`NewPassword::MAX_BYTES`] bytes of UTF-8: bcrypt would ignore the rest.
    #[error(
        "password must be at most {} bytes when encoded as UTF-8 (bcrypt ignores anything longer); use fewer non-ASCII characters",
        NewPassword::MAX_BYTES
    )]
    TooManyBytes,
    /// Contains U+0000, which many bcrypt implementations treat as the end of the password.
    #[error("password must not contain the NUL character")]
    ContainsNul,
}

/// A password that satisfies the reset rules: 6..=64 Unicode scalar values
/// (as JSON Schema counts), at most 72 UTF-8 bytes (bcrypt's input limit), no NUL.
#[derive(Clone, PartialEq, Eq)]
pub struct NewPassword(String);

impl NewPassword {
    /// Fewest characters accepted.
    pub const MIN_CHARS: usize = 6;
    /// Most characters accepted.
    pub const MAX_CHARS: usize = 64;
    /// Most UTF-8 bytes accepted: bcrypt reads no further.
    pub const MAX_BYTES: usize = 72;

    /// Checks the password rules.
    pub fn parse(raw: String) -> Result<Self, PasswordError> {
        let chars = raw.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(PasswordError::TooShort);
        }
        if chars > Self::MAX_CHARS {
            return Err(PasswordError::TooLong);
        }
        if raw.len() > Self::MAX_BYTES {
            return Err(PasswordError::TooManyBytes);
        }
        if raw.contains('\0') {
            return Err(PasswordError::ContainsNul);
        }
        Ok(Self(raw))
    }

    /// The clear password, for the hasher only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        redacted(f, "NewPassword")
    }
}

/// A stored password hash (bcrypt, `$2b$…`). Never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a hash produced by a [`crate::ports::PasswordHasher`] or read from storage.
    pub fn new(encoded: String) -> Self {
        Self(encoded)
    }

    /// The encoded hash, for storage and verification.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        redacted(f, "PasswordHash")
    }
}

/// A reset secret does not have Cloudreve's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("a reset secret is {} characters of [0-9A-Za-z]", ResetSecret::LEN)]
pub struct MalformedSecret;

/// The secret of a reset link: 32 characters of `[0-9A-Za-z]`, Cloudreve's format.
///
/// It exists in clear only on its way into the email (or `token issue`'s output);
/// storage keeps its [`SecretDigest`].
#[derive(Clone, PartialEq, Eq)]
pub struct ResetSecret(String);

impl ResetSecret {
    /// Length of every secret.
    pub const LEN: usize = 32;
    /// The characters a secret is drawn from.
    pub const ALPHABET: &'static [u8; 62] =
        b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    /// Accepts exactly [`Self::LEN`] characters from [`Self::ALPHABET`].
    pub fn parse(raw: &str) -> Result<Self, MalformedSecret> {
        if raw.len() == Self::LEN && raw.bytes().all(|b| b.is_ascii_alphanumeric()) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(MalformedSecret)
        }
    }

    /// The SHA-256 digest under which the token is stored and looked up.
    pub fn digest(&self) -> SecretDigest {
        SecretDigest(Sha256::digest(self.0.as_bytes()).into())
    }

    /// The clear secret, for the link and `token issue` only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ResetSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        redacted(f, "ResetSecret")
    }
}

/// Whatever a client sent as `secret`: any string, not yet checked.
#[derive(Clone)]
pub struct SubmittedSecret(String);

impl SubmittedSecret {
    /// Wraps untrusted input.
    pub fn new(raw: String) -> Self {
        Self(raw)
    }

    /// Parses it into a [`ResetSecret`] if it has the right shape.
    pub fn parse(&self) -> Result<ResetSecret, MalformedSecret> {
        ResetSecret::parse(&self.0)
    }
}

impl fmt::Debug for SubmittedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        redacted(f, "SubmittedSecret")
    }
}

/// SHA-256 digest of a [`ResetSecret`]: what storage keeps and indexes.
#[derive(Clone, Copy)]
pub struct SecretDigest([u8; 32]);

impl SecretDigest {
    /// Length in bytes.
    pub const LEN: usize = 32;

    /// Rebuilds a digest read from storage; `None` unless exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// The raw bytes, for storage.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Digests compare in constant time: equality never short-circuits on the
/// first differing byte.
impl PartialEq for SecretDigest {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}
impl Eq for SecretDigest {}

impl fmt::Debug for SecretDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        redacted(f, "SecretDigest")
    }
}

/// An opaque value that changes whenever a user's credentials change, so a
/// host application can end sessions issued before the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityStamp(String);

impl SecurityStamp {
    /// Wraps a stamp produced by a [`crate::ports::RandomSource`] or read from storage.
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The stored value.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ids_must_be_positive() {
        assert_eq!(UserId::new(0), Err(InvalidId(0)));
        assert_eq!(UserId::new(-3), Err(InvalidId(-3)));
        assert_eq!(UserId::new(7).map(UserId::get), Ok(7));
        assert_eq!(GroupId::new(1).map(GroupId::get), Ok(1));
    }

    #[test]
    fn password_length_is_counted_in_scalar_values() {
        assert_eq!(NewPassword::parse("12345".into()), Err(PasswordError::TooShort));
        assert!(NewPassword::parse("123456".into()).is_ok());
        // Six CJK characters: 6 scalar values, 18 bytes.
        assert!(NewPassword::parse("密码密码密码".into()).is_ok());
        // Five emoji are 5 scalar values even though they are 20 bytes.
        assert_eq!(NewPassword::parse("😀😀😀😀😀".into()), Err(PasswordError::TooShort));
        assert!(NewPassword::parse("a".repeat(64)).is_ok());
        assert_eq!(NewPassword::parse("a".repeat(65)), Err(PasswordError::TooLong));
    }

    #[test]
    fn password_byte_limit_is_bcrypts() {
        // 24 three-byte characters = 72 bytes: accepted, all of it is used.
        assert!(NewPassword::parse("密".repeat(24)).is_ok());
        // 25 of them = 75 bytes, only 25 characters: refused, never truncated.
        assert_eq!(NewPassword::parse("密".repeat(25)), Err(PasswordError::TooManyBytes));
        // 64 characters on both sides of the byte limit.
        assert!(NewPassword::parse("a".repeat(56) + &"é".repeat(8)).is_ok());
        assert_eq!(
            NewPassword::parse("a".repeat(55) + &"é".repeat(9)),
            Err(PasswordError::TooManyBytes)
        );
    }

    #[test]
    fn password_refuses_nul() {
        assert_eq!(NewPassword::parse("abc\0def".into()), Err(PasswordError::ContainsNul));
    }

    #[test]
    fn secrets_never_print() {
        let secret = ResetSecret::parse("XR3EdrZXoi5jDAXJUt9yLn85WWMYmmhK").unwrap();
        let password = NewPassword::parse("P@ssw0rd".into()).unwrap();
        let hash = PasswordHash::new("$2b$04$abcdefghijklmnopqrstuv".into());
        let all = format!(
            "{secret:?} {password:?} {hash:?} {:?} {:?}",
            secret.digest(),
            SubmittedSecret::new("XR3EdrZXoi5jDAXJUt9yLn85WWMYmmhK".into())
        );
        assert!(!all.contains("XR3E"), "{all}");
        assert!(!all.contains("P@ss"), "{all}");
        assert!(!all.contains("$2b$"), "{all}");
        assert_eq!(all.matches("[redacted]").count(), 5, "{all}");
    }

    #[test]
    fn secret_shape_is_cloudreves() {
        assert!(ResetSecret::parse("XR3EdrZXoi5jDAXJUt9yLn85WWMYmmhK").is_ok());
        assert_eq!(ResetSecret::parse("XR3EdrZXoi5jDAXJUt9yLn85WWMYmmh"), Err(MalformedSecret));
        assert_eq!(ResetSecret::parse("XR3EdrZXoi5jDAXJUt9yLn85WWMYmmh!"), Err(MalformedSecret));
        assert_eq!(ResetSecret::parse(""), Err(MalformedSecret));
        // 32 bytes but not 32 ASCII characters.
        assert_eq!(ResetSecret::parse(&"é".repeat(16)), Err(MalformedSecret));
    }

    #[test]
    fn digest_is_sha256_of_the_secret() {
        let secret = ResetSecret::parse("00000000000000000000000000000000").unwrap();
        let hex: String = secret.digest().as_bytes().iter().map(|b| format!("{b:02x}")).collect();
        // printf "0%.0s" $(seq 32) | sha256sum
        assert_eq!(hex, "84e0c0eafaa95a34c293f278ac52e45ce537bab5e752a00e6959a13ae103b65a");
        assert_eq!(SecretDigest::from_slice(&[0; 31]).map(|_| ()), None);
    }

    #[test]
    fn email_shapes() {
        assert_eq!(Email::parse("  Jane@Example.COM ").unwrap().as_str(), "Jane@Example.COM");
        assert_eq!(Email::parse("Jane@Example.COM").unwrap().normalized(), "jane@example.com");
        assert_eq!(Email::parse(""), Err(EmailError::Empty));
        assert_eq!(Email::parse("   "), Err(EmailError::Empty));
        assert_eq!(Email::parse("jane"), Err(EmailError::Malformed));
        assert_eq!(Email::parse("@example.com"), Err(EmailError::Malformed));
        assert_eq!(Email::parse("jane@"), Err(EmailError::Malformed));
        assert_eq!(Email::parse("jane@example..com"), Err(EmailError::Malformed));
        assert_eq!(Email::parse("ja ne@example.com"), Err(EmailError::IllegalCharacter));
        assert_eq!(Email::parse(&format!("{}@x.io", "a".repeat(65))), Err(EmailError::Malformed));
        assert_eq!(Email::parse(&format!("a@{}.io", "b".repeat(260))), Err(EmailError::TooLong));
    }

    #[test]
    fn email_masking() {
        let email = Email::parse("jane.doe@example.com").unwrap();
        assert_eq!(email.masked(), "j***@example.com");
        assert_eq!(format!("{email:?}"), "Email(j***@example.com)");
        assert_eq!(mask_email("nonsense"), "***");
        assert_eq!(
            mask_emails_in(
                "550 5.1.1 <jane.doe@example.com>: Recipient address rejected (bob@x.io)"
            ),
            "550 5.1.1 <j***@example.com>: Recipient address rejected (b***@x.io)"
        );
        assert_eq!(mask_emails_in("connection refused"), "connection refused");
    }

    proptest! {
        #[test]
        fn any_accepted_password_obeys_every_rule(raw in "\\PC{0,80}") {
            if let Ok(p) = NewPassword::parse(raw.clone()) {
                let n = p.expose().chars().count();
                prop_assert!((NewPassword::MIN_CHARS..=NewPassword::MAX_CHARS).contains(&n));
                prop_assert!(p.expose().len() <= NewPassword::MAX_BYTES);
                prop_assert_eq!(p.expose(), raw.as_str());
            }
        }

        #[test]
        fn any_accepted_secret_has_cloudreves_shape(raw in "[0-9A-Za-z!-]{30,34}") {
            let ok = ResetSecret::parse(&raw).is_ok();
            prop_assert_eq!(ok, raw.len() == 32 && raw.bytes().all(|b| b.is_ascii_alphanumeric()));
        }

        #[test]
        fn accepted_emails_are_trimmed_and_split_once(raw in "[ a-zA-Z0-9.@+_-]{0,40}") {
            if let Ok(email) = Email::parse(&raw) {
                prop_assert_eq!(email.as_str(), raw.trim());
                prop_assert_eq!(email.as_str().matches('@').count(), 1);
                prop_assert!(!email.as_str().contains(' '));
            }
        }

        #[test]
        fn ids_accept_exactly_the_positive_integers(raw in any::<i64>()) {
            prop_assert_eq!(UserId::new(raw).is_ok(), raw > 0);
            prop_assert_eq!(GroupId::new(raw).map(GroupId::get).ok(), (raw > 0).then_some(raw));
        }

        #[test]
        fn any_text_parses_or_is_refused_without_panicking(raw in "\\PC{0,300}") {
            let _ = Email::parse(&raw);
            let _ = NewPassword::parse(raw.clone());
            let _ = ResetSecret::parse(&raw);
        }

        #[test]
        fn case_variants_of_an_address_share_its_lookup_key(
            local in "[\\PC&&[^@\\s]]{1,12}", domain in "[\\PC&&[^@.\\s]]{1,12}\\.[a-zA-Z]{2,6}",
            flips in prop::collection::vec(any::<bool>(), 40),
        ) {
            let raw = format!("{local}@{domain}");
            let Ok(email) = Email::parse(&raw) else {
                // Only control characters or over-long local parts are refused here.
                prop_assert!(local.len() > 64 || raw.chars().any(char::is_control));
                return Ok(());
            };
            // The same address typed with other ASCII capitals (anything else untouched).
            let varied: String = raw
                .chars()
                .zip(flips.iter().cycle())
                .map(|(c, &flip)| if flip { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() })
                .collect();
            let other = Email::parse(&varied).expect("case does not change validity");
            prop_assert_eq!(other.normalized(), email.normalized());
            // Non-ASCII letters are not folded: `É` and `é` stay distinct keys,
            // as every supported database's lower() would disagree on them.
            let non_ascii: String = email.normalized().chars().filter(|c| !c.is_ascii()).collect();
            prop_assert_eq!(non_ascii, raw.chars().filter(|c| !c.is_ascii()).collect::<String>());
        }

        #[test]
        fn masking_never_shows_more_than_the_first_character(
            local in "[\\PC&&[^@\\s<>,;\"'()\\[\\]:]]{1,20}", domain in "[a-z0-9-]{1,20}\\.[a-z]{2,6}",
        ) {
            let Ok(email) = Email::parse(&format!("{local}@{domain}")) else { return Ok(()) };
            let masked = email.masked();
            // Exactly the first character (not byte) of the name, then the domain.
            let first = local.chars().next().unwrap();
            prop_assert_eq!(&masked, &format!("{first}***@{domain}"));
            prop_assert_eq!(format!("{:?}", email), format!("Email({masked})"));
            prop_assert_eq!(
                mask_emails_in(&format!("550 <{}> rejected", email.as_str())),
                format!("550 <{masked}> rejected")
            );
        }

        #[test]
        fn digests_are_equal_exactly_when_secrets_are(a in "[0-9A-Za-z]{32}", b in "[0-9A-Za-z]{32}") {
            let (sa, sb) = (ResetSecret::parse(&a).unwrap(), ResetSecret::parse(&b).unwrap());
            prop_assert_eq!(sa.digest() == sb.digest(), a == b);
        }
    }
}
