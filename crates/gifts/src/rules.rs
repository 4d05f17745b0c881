//! The pure rules of gifts: what a count, an amount and an idempotency key may be, how a
//! gift's price splits between creator and platform, and the fingerprint that tells a replay
//! from a reused key. No I/O.

use sha2::{Digest, Sha256};

use crate::GiftError;

/// Most gifts of one kind in one send.
pub const MAX_COUNT: i64 = 9999;
/// The platform's share of every gift, in percent; the creator gets the rest, including
/// what rounding leaves (the platform's share is rounded down).
pub const PLATFORM_SHARE_PERCENT: i64 = 30;
/// Largest grant in one transfer: far from overflowing a 64-bit balance.
pub const MAX_GRANT: i64 = 1_000_000_000_000;
/// Longest idempotency key (Stripe's limit).
pub const MAX_KEY_LEN: usize = 255;

/// A client-chosen idempotency key: 1 to 255 visible ASCII characters (no spaces: HTTP trims
/// them around a header value, so a key with them would not arrive as it was sent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Checks `key`; a missing key is `None`.
    pub fn parse(key: Option<&str>) -> Result<Self, GiftError> {
        let key = key.ok_or_else(|| GiftError::IdempotencyKeyRequired("missing".into()))?;
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return Err(GiftError::IdempotencyKeyRequired(format!(
                "it must be 1 to {MAX_KEY_LEN} characters"
            )));
        }
        if !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(GiftError::IdempotencyKeyRequired(
                "it must be visible ASCII characters, without spaces".into(),
            ));
        }
        Ok(Self(key.to_owned()))
    }

    /// A fresh random key (the CLI's default).
    pub fn random() -> Self {
        Self(hex::encode(rand::random::<[u8; 16]>()))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `count` gifts at `price` each: the amount, or why not.
pub fn gift_amount(price: i64, count: i64) -> Result<i64, GiftError> {
    if !(1..=MAX_COUNT).contains(&count) {
        return Err(GiftError::InvalidCount(count));
    }
    price
        .checked_mul(count)
        .filter(|amount| *amount > 0)
        .ok_or(GiftError::InvalidCount(count))
}

/// A grant's amount, checked.
pub fn grant_amount(amount: i64) -> Result<i64, GiftError> {
    if (1..=MAX_GRANT).contains(&amount) {
        Ok(amount)
    } else {
        Err(GiftError::InvalidAmount(amount))
    }
}

/// `(creator, platform)`: the platform's share rounded down, so the two add up exactly.
pub fn split(amount: i64) -> (i64, i64) {
    let platform = amount * PLATFORM_SHARE_PERCENT / 100;
    (amount - platform, platform)
}

/// SHA-256 over the fields that make a request what it is, separated so no two requests
/// share one: the same key with the same fingerprint is a replay.
pub fn fingerprint(parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    hex::encode(hash.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_amount(price: i64, count: i64, expect: Result<i64, &str>) {
        let got = gift_amount(price, count).map_err(|e| e.code());
        assert_eq!(got, expect, "{count} at {price}");
    }

    #[test]
    fn counts_outside_one_to_9999_are_refused() {
        check_amount(10, 1, Ok(10));
        check_amount(10, 9999, Ok(99_990));
        check_amount(1, 0, Err("invalid_count"));
        check_amount(1, -1, Err("invalid_count"));
        check_amount(1, 10_000, Err("invalid_count"));
        check_amount(1, i64::MIN, Err("invalid_count"));
        check_amount(i64::MAX, 2, Err("invalid_count"));
    }

    fn check_grant(amount: i64, expect: Result<i64, &str>) {
        assert_eq!(
            grant_amount(amount).map_err(|e| e.code()),
            expect,
            "{amount}"
        );
    }

    #[test]
    fn grants_are_positive_and_bounded() {
        check_grant(1, Ok(1));
        check_grant(MAX_GRANT, Ok(MAX_GRANT));
        check_grant(0, Err("invalid_amount"));
        check_grant(-5, Err("invalid_amount"));
        check_grant(MAX_GRANT + 1, Err("invalid_amount"));
    }

    fn check_split(amount: i64, creator: i64, platform: i64) {
        assert_eq!(split(amount), (creator, platform), "{amount}");
        assert_eq!(creator + platform, amount);
    }

    #[test]
    fn the_split_adds_up_and_rounds_for_the_creator() {
        check_split(1, 1, 0);
        check_split(3, 3, 0);
        check_split(4, 3, 1);
        check_split(10, 7, 3);
        check_split(99, 70, 29);
        check_split(500, 350, 150);
        check_split(49_995_000, 34_996_500, 14_998_500);
    }

    fn check_key(key: Option<&str>, ok: bool) {
        assert_eq!(IdempotencyKey::parse(key).is_ok(), ok, "{key:?}");
    }

    #[test]
    fn keys_are_1_to_255_visible_ascii() {
        check_key(Some("a"), true);
        check_key(Some("8e2f-4c1a_key.1"), true);
        check_key(Some("with space"), false);
        check_key(Some(" "), false);
        check_key(Some(&"k".repeat(255)), true);
        check_key(None, false);
        check_key(Some(""), false);
        check_key(Some(&"k".repeat(256)), false);
        check_key(Some("tab\there"), false);
        check_key(Some("ключ"), false);
        check_key(Some("nul\0"), false);
    }

    #[test]
    fn fingerprints_tell_requests_apart() {
        let base = fingerprint(&["gift", "rose", "video", "abc", "2"]);
        assert_eq!(base, fingerprint(&["gift", "rose", "video", "abc", "2"]));
        for other in [
            fingerprint(&["gift", "rose", "video", "abc", "3"]),
            fingerprint(&["gift", "heart", "video", "abc", "2"]),
            fingerprint(&["gift", "rose", "room", "abc", "2"]),
            // Separators cannot be forged by moving characters between fields.
            fingerprint(&["gift", "rosev", "ideo", "abc", "2"]),
        ] {
            assert_ne!(base, other);
        }
    }
}
