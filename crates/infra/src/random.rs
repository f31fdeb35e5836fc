//! Randomness from the operating system's CSPRNG.

use pwreset_domain::ports::{RandomError, RandomSource};
use pwreset_domain::{ResetSecret, SecurityStamp};

/// Draws `len` characters uniformly from `[0-9A-Za-z]`, by rejection sampling
/// so that no character is more likely than another.
pub fn alphanumeric(len: usize) -> Result<String, RandomError> {
    const ALPHABET: &[u8; 62] = ResetSecret::ALPHABET;
    // 248 = 4 × 62: bytes at or above it would bias the modulo.
    const LIMIT: u8 = 248;
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut buf).map_err(|e| RandomError(e.to_string()))?;
        for &b in buf.iter().filter(|&&b| b < LIMIT) {
            out.push(char::from(ALPHABET[usize::from(b % 62)]));
            if out.len() == len {
                break;
            }
        }
    }
    Ok(out)
}

/// The production [`RandomSource`].
#[derive(Debug, Clone, Copy, Default)]
pub struct OsRandom;

impl RandomSource for OsRandom {
    fn reset_secret(&self) -> Result<ResetSecret, RandomError> {
        let raw = alphanumeric(ResetSecret::LEN)?;
        ResetSecret::parse(&raw).map_err(|e| RandomError(e.to_string()))
    }

    fn security_stamp(&self) -> Result<SecurityStamp, RandomError> {
        alphanumeric(32).map(SecurityStamp::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    #[test]
    fn secrets_have_cloudreves_shape_and_do_not_repeat() {
        let secrets: HashSet<String> =
            (0..1000).map(|_| OsRandom.reset_secret().unwrap().expose().to_owned()).collect();
        assert_eq!(secrets.len(), 1000);
        assert!(
            secrets.iter().all(|s| s.len() == 32 && s.bytes().all(|b| b.is_ascii_alphanumeric()))
        );
    }

    #[test]
    fn every_character_is_about_equally_likely() {
        let sample = alphanumeric(62 * 2000).unwrap();
        let mut counts: HashMap<char, usize> = HashMap::new();
        sample.chars().for_each(|c| *counts.entry(c).or_default() += 1);
        assert_eq!(counts.len(), 62);
        // Expected 2000 each; a biased modulo would skew the first characters by ~25%.
        let (min, max) = (counts.values().min().unwrap(), counts.values().max().unwrap());
        assert!(*min > 1700 && *max < 2300, "min {min} max {max}");
    }
}
