//! Cloudreve's public ids: hashids (the go-hashids algorithm) with the default
//! alphabet, minimum length 0 and the site's salt.
//!
//! Cloudreve encodes an object as `hashids.encode([id, type])`; users are
//! type 1 and groups type 7. This is a small, overflow-checked implementation
//! of the algorithm so that hostile input can never panic the decoder; it is
//! tested against the `harsh` crate (which matches Python's `hashids`, hence
//! go-hashids) on random input and on the published vectors.

use pwreset_domain::ports::PublicIdCodec;
use pwreset_domain::{GroupId, UserId};
use thiserror::Error;

const ALPHABET: &[u8; 62] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ1234567890";
const SEPARATORS: &[u8; 14] = b"cfhistuCFHISTU";
const GUARD_DIV: usize = 12;

/// Cloudreve's type tag for user ids.
pub const USER_TYPE: u64 = 1;
/// Cloudreve's type tag for group ids.
pub const GROUP_TYPE: u64 = 7;

/// Public ids longer than this are refused before any decoding work. The
/// longest id of `[i64::MAX, 7]` is 15 characters.
pub const MAX_PUBLIC_ID_LEN: usize = 32;

/// The salt cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SaltError {
    /// go-hashids shuffles characters and this implementation bytes; they
    /// agree only when every character is one byte.
    #[error(
        "the hashid salt must be ASCII (go-hashids and this implementation agree only on ASCII salts)"
    )]
    NotAscii,
}

/// The hashids parameters derived from one salt.
#[derive(Clone)]
pub struct Hashids {
    salt: Vec<u8>,
    alphabet: Vec<u8>,
    separators: Vec<u8>,
}

impl std::fmt::Debug for Hashids {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The salt is what keeps ids unguessable; keep it out of logs.
        f.write_str("Hashids { salt: [redacted], .. }")
    }
}

/// hashids' deterministic shuffle of `values` keyed by `salt`.
fn shuffle(values: &mut [u8], salt: &[u8]) {
    if salt.is_empty() {
        return;
    }
    let (mut v, mut p) = (0usize, 0usize);
    for i in (1..values.len()).rev() {
        v %= salt.len();
        let n = usize::from(salt[v]);
        p += n;
        let j = (n + v + p) % i;
        values.swap(i, j);
        v += 1;
    }
}

impl Hashids {
    /// Derives alphabet, separators and guards from the salt, as hashids does
    /// for the default alphabet.
    pub fn new(salt: &str) -> Result<Self, SaltError> {
        if !salt.is_ascii() {
            return Err(SaltError::NotAscii);
        }
        let salt = salt.as_bytes().to_vec();
        let mut separators = SEPARATORS.to_vec();
        let mut alphabet: Vec<u8> =
            ALPHABET.iter().copied().filter(|c| !separators.contains(c)).collect();
        shuffle(&mut separators, &salt);
        // hashids would rebalance separators here when alphabet/separators
        // exceeds 3.5; with the default alphabet it is 48/14 and never does.
        debug_assert!(alphabet.len() * 2 <= separators.len() * 7);
        shuffle(&mut alphabet, &salt);
        // The guards come off the front of the alphabet. Minimum length 0
        // never pads with them, so only their removal matters here.
        let guard_count = alphabet.len().div_ceil(GUARD_DIV);
        alphabet.drain(..guard_count);
        Ok(Self { salt, alphabet, separators })
    }

    /// Encodes numbers into a hashid (minimum length 0).
    pub fn encode(&self, numbers: &[u64]) -> String {
        if numbers.is_empty() {
            return String::new();
        }
        let nhash =
            numbers.iter().enumerate().fold(0u64, |acc, (i, &n)| acc + n % (i as u64 + 100));
        let mut alphabet = self.alphabet.clone();
        let lottery = alphabet[(nhash % alphabet.len() as u64) as usize];
        let mut out = vec![lottery];
        let mut buffer = Vec::with_capacity(1 + self.salt.len() + alphabet.len());
        let mut digits = Vec::with_capacity(16);
        for (i, &number) in numbers.iter().enumerate() {
            self.reshuffle(&mut alphabet, lottery, &mut buffer);
            digits.clear();
            let base = alphabet.len() as u64;
            let mut n = number;
            loop {
                digits.push(alphabet[(n % base) as usize]);
                n /= base;
                if n == 0 {
                    break;
                }
            }
            digits.reverse();
            out.extend_from_slice(&digits);
            if i + 1 < numbers.len() {
                let n = number % (u64::from(digits[0]) + i as u64);
                out.push(self.separators[(n % self.separators.len() as u64) as usize]);
            }
        }
        // Every byte comes from an ASCII table.
        out.into_iter().map(char::from).collect()
    }

    /// Decodes a hashid. `None` for anything that is not exactly the encoding
    /// of some numbers (including overflowing and non-canonical input).
    pub fn decode(&self, input: &str) -> Option<Vec<u64>> {
        let bytes = input.as_bytes();
        // Minimum length 0 never adds guards, so any guard (or any byte not in
        // the tables) makes the input non-canonical.
        if bytes.len() < 2
            || !bytes.iter().all(|b| self.alphabet.contains(b) || self.separators.contains(b))
        {
            return None;
        }
        let lottery = bytes[0];
        let mut alphabet = self.alphabet.clone();
        let mut buffer = Vec::with_capacity(1 + self.salt.len() + alphabet.len());
        let mut numbers = Vec::new();
        for segment in bytes[1..].split(|b| self.separators.contains(b)) {
            self.reshuffle(&mut alphabet, lottery, &mut buffer);
            numbers.push(unhash(segment, &alphabet)?);
        }
        (self.encode(&numbers) == input).then_some(numbers)
    }

    fn reshuffle(&self, alphabet: &mut [u8], lottery: u8, buffer: &mut Vec<u8>) {
        buffer.clear();
        buffer.push(lottery);
        buffer.extend_from_slice(&self.salt);
        buffer.extend_from_slice(alphabet);
        buffer.truncate(alphabet.len());
        shuffle(alphabet, buffer);
    }
}

/// Reads a segment as a number in base `alphabet.len()`, refusing overflow.
fn unhash(segment: &[u8], alphabet: &[u8]) -> Option<u64> {
    if segment.is_empty() {
        return None;
    }
    let base = alphabet.len() as u64;
    segment.iter().try_fold(0u64, |acc, b| {
        let digit = alphabet.iter().position(|a| a == b)? as u64;
        acc.checked_mul(base)?.checked_add(digit)
    })
}

/// The [`PublicIdCodec`] Cloudreve uses: `encode([id, type])`.
#[derive(Debug, Clone)]
pub struct HashidCodec {
    hashids: Hashids,
}

impl HashidCodec {
    /// A codec for the site salt.
    pub fn new(salt: &str) -> Result<Self, SaltError> {
        Ok(Self { hashids: Hashids::new(salt)? })
    }

    fn encode(&self, id: i64, kind: u64) -> String {
        // Ids are positive by construction (`UserId`, `GroupId`).
        self.hashids.encode(&[id.unsigned_abs(), kind])
    }

    /// Decodes an id of the given type; `None` unless it is exactly `[id, kind]`.
    pub fn decode(&self, public_id: &str, kind: u64) -> Option<i64> {
        if public_id.len() > MAX_PUBLIC_ID_LEN {
            return None;
        }
        match self.hashids.decode(public_id)?.as_slice() {
            &[id, k] if k == kind => i64::try_from(id).ok(),
            _ => None,
        }
    }
}

impl PublicIdCodec for HashidCodec {
    fn encode_user(&self, id: UserId) -> String {
        self.encode(id.get(), USER_TYPE)
    }

    fn decode_user(&self, public_id: &str) -> Option<UserId> {
        self.decode(public_id, USER_TYPE).and_then(|id| UserId::new(id).ok())
    }

    fn encode_group(&self, id: GroupId) -> String {
        self.encode(id.get(), GROUP_TYPE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harsh::Harsh;
    use proptest::prelude::*;

    fn harsh(salt: &str) -> Harsh {
        Harsh::builder().salt(salt).build().unwrap()
    }

    #[test]
    fn published_vectors() {
        let h = Hashids::new("this is my salt").unwrap();
        assert_eq!(h.encode(&[1, 2, 3]), "laHquq");
        assert_eq!(h.encode(&[1_226_198_605_112]), "4o6Z7KqxE");
        assert_eq!(h.decode("laHquq"), Some(vec![1, 2, 3]));
        let unsalted = Hashids::new("").unwrap();
        assert_eq!(unsalted.encode(&[1, 2, 3]), harsh("").encode(&[1, 2, 3]));
    }

    #[test]
    fn user_and_group_ids_round_trip_and_do_not_mix() {
        let codec = HashidCodec::new("site salt").unwrap();
        let user = UserId::new(42).unwrap();
        let public = codec.encode_user(user);
        assert_eq!(codec.decode_user(&public), Some(user));
        let group = codec.encode_group(GroupId::new(42).unwrap());
        assert_ne!(group, public);
        assert_eq!(codec.decode_user(&group), None, "a group id is not a user id");
        assert_eq!(HashidCodec::new("other salt").unwrap().decode_user(&public), None);
    }

    #[test]
    fn refuses_non_ascii_salts() {
        assert_eq!(Hashids::new("sälz").map(|_| ()), Err(SaltError::NotAscii));
    }

    #[test]
    fn refuses_garbage_without_panicking() {
        let codec = HashidCodec::new("site salt").unwrap();
        let long = "z".repeat(40);
        for input in
            ["", "a", "lpua", "!!!!", "ab cd", "ééé", long.as_str(), "zzzzzzzzzzzzzzzzzzzz"]
        {
            assert_eq!(codec.decode_user(input), None, "{input:?}");
        }
        // Longest possible ids of the largest numbers still round-trip.
        let max = UserId::new(i64::MAX).unwrap();
        let public = codec.encode_user(max);
        assert!(public.len() <= 15, "{public}");
        assert_eq!(codec.decode_user(&public), Some(max));
    }

    #[test]
    fn overflowing_segments_are_refused() {
        let h = Hashids::new("").unwrap();
        // 13 digits of the highest value overflow u64 in any base over 30.
        let top = *h.alphabet.last().unwrap() as char;
        let input = format!("{}{}", h.alphabet[0] as char, top.to_string().repeat(13));
        assert_eq!(h.decode(&input), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn encodes_like_harsh(salt in "[ -~]{0,40}", numbers in prop::collection::vec(any::<u64>(), 1..4)) {
            prop_assert_eq!(Hashids::new(&salt).unwrap().encode(&numbers), harsh(&salt).encode(&numbers));
        }

        #[test]
        fn decodes_what_it_encodes(salt in "[ -~]{0,40}", id in 1i64.., kind in 0u64..16) {
            let h = Hashids::new(&salt).unwrap();
            let encoded = h.encode(&[id as u64, kind]);
            prop_assert_eq!(h.decode(&encoded), Some(vec![id as u64, kind]));
        }

        #[test]
        fn decoding_never_panics_and_only_accepts_canonical_ids(input in "[a-zA-Z0-9]{0,20}") {
            let h = Hashids::new("cloudreve").unwrap();
            if let Some(numbers) = h.decode(&input) {
                prop_assert_eq!(h.encode(&numbers), input);
            }
        }
    }
}
