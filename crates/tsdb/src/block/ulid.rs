//! ULIDs, the names of block directories: 48 bits of Unix milliseconds then 80 random bits, written as 26
//! characters of Crockford base32 (the first character carries only 3 bits, so it is at most `7`).

use std::fmt;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A 128-bit ULID.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ulid(u128);

impl Ulid {
    /// A new ULID for the current time with random low bits.
    pub fn new() -> Ulid {
        let ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        Ulid::from_parts(ms, random_u128())
    }

    /// The ULID with timestamp `ms` (its low 48 bits) and the low 80 bits of `random`.
    pub fn from_parts(ms: u64, random: u128) -> Ulid {
        let ms = u128::from(ms & ((1 << 48) - 1));
        Ulid((ms << 80) | (random & ((1u128 << 80) - 1)))
    }

    /// The timestamp part, in Unix milliseconds.
    pub fn timestamp_ms(self) -> u64 {
        (self.0 >> 80) as u64
    }

    /// The 128-bit value.
    pub fn as_u128(self) -> u128 {
        self.0
    }

    /// Parses the 26-character form strictly, as Prometheus's `ulid.ParseStrict` (letters in either case).
    pub fn parse(s: &str) -> Option<Ulid> {
        let b = s.as_bytes();
        if b.len() != 26 || b[0] > b'7' {
            return None;
        }
        let mut v = 0u128;
        for &c in b {
            let c = c.to_ascii_uppercase();
            let digit = ALPHABET.iter().position(|&a| a == c)?;
            v = (v << 5) | digit as u128;
        }
        Some(Ulid(v))
    }
}

impl Default for Ulid {
    fn default() -> Ulid {
        Ulid::new()
    }
}

impl fmt::Display for Ulid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = [0u8; 26];
        for (i, c) in out.iter_mut().enumerate() {
            let shift = 5 * (25 - i);
            *c = ALPHABET[((self.0 >> shift) & 0x1f) as usize];
        }
        f.write_str(std::str::from_utf8(&out).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Ulid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ulid({self})")
    }
}

impl std::str::FromStr for Ulid {
    type Err = String;

    fn from_str(s: &str) -> Result<Ulid, String> {
        Ulid::parse(s).ok_or_else(|| format!("invalid ULID {s:?}"))
    }
}

impl serde::Serialize for Ulid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Ulid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Ulid, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// 128 bits from the standard library's per-process random hash keys, a clock reading and a counter. Unique
/// enough for block names (not for cryptography).
fn random_u128() -> u128 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let state = std::collections::hash_map::RandomState::new();
    let half = |salt: u8| state.hash_one((salt, n, nanos, std::process::id()));
    (u128::from(half(1)) << 64) | u128::from(half(2))
}
