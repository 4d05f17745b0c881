//! The 256-bit PDQ hash: 64 hex digits as written by Meta's reference, compared by Hamming
//! distance.

use std::fmt;
use std::str::FromStr;

/// A 256-bit PDQ hash. Bit `i` is bit `i % 8` of byte `31 - i / 8` of the hex text, as the
/// reference writes it (its 16 words of 16 bits are printed most significant word first); the
/// in-memory order is the hex order, so parse and display are byte copies.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PdqHash(pub [u8; 32]);

impl PdqHash {
    /// Number of bits.
    pub const BITS: u32 = 256;

    /// The number of bits in which `self` and `other` differ (0..=256).
    pub fn distance(&self, other: &PdqHash) -> u32 {
        self.words()
            .iter()
            .zip(other.words())
            .map(|(a, b)| (a ^ b).count_ones())
            .sum()
    }

    /// The hash as four 64-bit words (hex order, big-endian), for fast distances.
    pub fn words(&self) -> [u64; 4] {
        let mut out = [0u64; 4];
        for (word, chunk) in out.iter_mut().zip(self.0.chunks_exact(8)) {
            *word = u64::from_be_bytes(chunk.try_into().expect("8 bytes"));
        }
        out
    }

    /// Bit `k` (0..256): for a PDQ hash, whether DCT coefficient (row `k / 16`, column
    /// `k % 16`) is above the median. Panics if `k >= 256`.
    pub fn bit(&self, k: usize) -> bool {
        self.0[31 - k / 8] >> (k % 8) & 1 == 1
    }

    /// Sets bit `k` (0..256), numbered as in [`PdqHash::bit`]. Panics if `k >= 256`.
    pub fn set_bit(&mut self, k: usize) {
        self.0[31 - k / 8] |= 1 << (k % 8);
    }

    /// The 16-bit slot `i` (0..16) of the hash, hex order: the four hex digits at `4 * i`.
    pub fn slot(&self, i: usize) -> u16 {
        u16::from_be_bytes([self.0[2 * i], self.0[2 * i + 1]])
    }
}

impl fmt::Display for PdqHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for PdqHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PdqHash({self})")
    }
}

/// Why a text is not a PDQ hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashParseError {
    /// Not 64 characters.
    #[error("a PDQ hash is 64 hex digits, this has {0} characters")]
    Length(usize),
    /// A character that is not a hex digit.
    #[error("a PDQ hash is 64 hex digits, this has a character that is not one")]
    NotHex,
}

impl FromStr for PdqHash {
    type Err = HashParseError;
    fn from_str(s: &str) -> Result<Self, HashParseError> {
        if s.len() != 64 {
            return Err(HashParseError::Length(s.chars().count()));
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| HashParseError::NotHex)?;
        Ok(Self(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_display_and_distance() {
        let a: PdqHash = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
            .parse()
            .unwrap();
        assert_eq!(
            a.to_string(),
            "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
        );
        assert_eq!(a.distance(&a), 0);
        let mut b = a;
        b.0[0] ^= 0b1010_0000;
        b.0[31] ^= 1;
        assert_eq!(a.distance(&b), 3);
        assert_eq!(a.slot(0), 0xf8f8);
        assert_eq!(a.slot(15), 0x9b22);
        assert_eq!("abc".parse::<PdqHash>(), Err(HashParseError::Length(3)));
        assert_eq!(
            "g".repeat(64).parse::<PdqHash>(),
            Err(HashParseError::NotHex)
        );
    }
}
