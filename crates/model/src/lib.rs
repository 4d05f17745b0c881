//! Domain types shared by every Spool crate.
//!
//! Preconditions live in types: an id that parsed is well formed, a [`ContentHash`]
//! is 32 bytes, a [`Visibility`] is one of three values. Nothing here does I/O.
//!
//! Architecture Invariant: a value of these types is never malformed (an id that parsed is
//! safe in a path or a URL), and nothing here ever does I/O or depends on another Spool crate.

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// The alphabet of our ids: URL-safe, no look-alike punctuation.
const ID_ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-";

/// Why a string is not a valid id or enum value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    /// The id has the wrong length or characters outside the URL-safe alphabet.
    #[error("`{0}` is not a valid {1} id")]
    BadId(String, &'static str),
    /// The value is not one of the allowed names.
    #[error("`{value}` is not a valid {what} (expected one of: {allowed})")]
    BadValue {
        /// What was given.
        value: String,
        /// What kind of value was expected.
        what: &'static str,
        /// The allowed names, comma separated.
        allowed: &'static str,
    },
    /// The content hash is not 64 hex digits.
    #[error("`{0}` is not a BLAKE3 hash (64 hex digits)")]
    BadHash(String),
}

fn random_id(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ID_ALPHABET[rng.random_range(0..ID_ALPHABET.len())] as char)
        .collect()
}

fn check_id(s: &str, len: usize, what: &'static str) -> Result<(), ParseError> {
    if s.len() == len && s.bytes().all(|b| ID_ALPHABET.contains(&b)) {
        Ok(())
    } else {
        Err(ParseError::BadId(s.chars().take(80).collect(), what))
    }
}

macro_rules! random_id_type {
    ($(#[$doc:meta])* $name:ident, $len:expr, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Length of the id in characters.
            pub const LEN: usize = $len;

            /// A fresh random id (6 bits of entropy per character).
            pub fn random() -> Self {
                Self(random_id($len))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, ParseError> {
                check_id(s, $len, $what)?;
                Ok(Self(s.to_owned()))
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }
    };
}

random_id_type!(
    /// A video id: 11 URL-safe characters (66 random bits), like YouTube's, unguessable.
    VideoId, 11, "video"
);
random_id_type!(
    /// A live room id: 11 URL-safe characters, unguessable like a video id.
    RoomId, 11, "live room"
);
random_id_type!(
    /// A comment id: 12 URL-safe characters (72 random bits), unguessable like a video id.
    CommentId, 12, "comment"
);
random_id_type!(
    /// An upload id: 22 URL-safe characters (132 random bits). Knowing it lets the owner's
    /// client resume, so it is long; it is never guessable from the video id.
    UploadId, 22, "upload"
);

/// A user's numeric id in the metadata store.
pub type UserId = i64;

/// A closed set of names stored as text: the enum, `as_str` and `FromStr` from one list.
macro_rules! stored_names {
    ($(#[$doc:meta])* $name:ident, $what:literal, { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "lowercase")]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// The stored name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl FromStr for $name {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, ParseError> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(ParseError::BadValue {
                        value: s.chars().take(40).collect(),
                        what: $what,
                        allowed: &concat!($(", ", $text),+)[2..],
                    }),
                }
            }
        }
    };
}

stored_names!(
    /// Who may see a video.
    Visibility, "visibility", {
        /// Listed and visible to everyone.
        Public = "public",
        /// Visible to anyone with the link, never listed.
        Unlisted = "unlisted",
        /// Visible to the owner (and admins) only.
        Private = "private",
    }
);

stored_names!(
    /// Where a video is in its life.
    VideoStatus, "video status", {
        /// Bytes are still arriving.
        Uploading = "uploading",
        /// All bytes arrived; a processing job is queued.
        Uploaded = "uploaded",
        /// Being processed by the media pipeline.
        Processing = "processing",
        /// Playable.
        Ready = "ready",
        /// Processing failed; the video carries a reason.
        Failed = "failed",
        /// Held by moderation (a hash-list match or users' reports): only its owner and admins
        /// see it, with the reason, until an admin decides.
        Held = "held",
    }
);

stored_names!(
    /// Where a live room is: waiting for its publisher, on air, or over.
    LiveStatus, "live status", {
        /// Created, nobody publishing yet.
        Idle = "idle",
        /// A publisher is on air (or reconnecting within the grace period).
        Live = "live",
        /// The broadcast ended; the room points at its recording.
        Ended = "ended",
    }
);

/// A BLAKE3 content hash: the identity of stored bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContentHash([u8; 32]);

impl ContentHash {
    /// Wraps raw hash bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex, 64 characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl From<blake3::Hash> for ContentHash {
    fn from(h: blake3::Hash) -> Self {
        Self(*h.as_bytes())
    }
}

impl FromStr for ContentHash {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let mut out = [0u8; 32];
        if s.len() != 64 || hex::decode_to_slice(s, &mut out).is_err() {
            return Err(ParseError::BadHash(s.chars().take(80).collect()));
        }
        Ok(Self(out))
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({})", self.to_hex())
    }
}

impl Serialize for ContentHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for ContentHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Milliseconds since the Unix epoch, as stored in every timestamp column.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_video_id(input: &str, ok: bool) {
        assert_eq!(input.parse::<VideoId>().is_ok(), ok, "{input:?}");
    }

    #[test]
    fn video_ids_parse_only_when_well_formed() {
        check_video_id("abcDEF012_-", true);
        check_video_id("abcDEF012_", false);
        check_video_id("abcDEF012_-x", false);
        check_video_id("../../etc/pa", false);
        check_video_id("abcDEF012/-", false);
        check_video_id("", false);
    }

    #[test]
    fn random_ids_are_distinct_and_valid() {
        let a = VideoId::random();
        let b = VideoId::random();
        assert_ne!(a, b);
        assert!(a.as_str().parse::<VideoId>().is_ok());
        assert!(UploadId::random().as_str().parse::<UploadId>().is_ok());
    }

    #[test]
    fn enums_round_trip_and_reject_unknown() {
        for v in [
            Visibility::Public,
            Visibility::Unlisted,
            Visibility::Private,
        ] {
            assert_eq!(v.as_str().parse::<Visibility>(), Ok(v));
        }
        assert!("secret".parse::<Visibility>().is_err());
        assert!("done".parse::<VideoStatus>().is_err());
        assert_eq!("ready".parse::<VideoStatus>(), Ok(VideoStatus::Ready));
    }

    #[test]
    fn content_hash_parses_hex_only() {
        let h = ContentHash::from(blake3::hash(b"spool"));
        assert_eq!(h.to_hex().parse::<ContentHash>(), Ok(h));
        assert!("zz".repeat(32).parse::<ContentHash>().is_err());
        assert!("ab".parse::<ContentHash>().is_err());
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(serde_json::from_str::<ContentHash>(&json).unwrap(), h);
    }
}
