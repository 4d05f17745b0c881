//! Parsing of tus header values: `Upload-Metadata` and `Upload-Checksum`.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha1::Digest;

use crate::error::{Result, UploadError};

/// Longest `Upload-Metadata` header accepted (it is stored and echoed on HEAD).
pub const MAX_METADATA_LEN: usize = 4000;

/// Decodes `Upload-Metadata`: comma-separated `key base64value` pairs (value optional).
pub fn parse_metadata(header: &str) -> Result<BTreeMap<String, String>> {
    if header.len() > MAX_METADATA_LEN {
        return Err(UploadError::BadRequest(format!(
            "Upload-Metadata is longer than {MAX_METADATA_LEN} bytes"
        )));
    }
    let mut out = BTreeMap::new();
    for pair in header.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut parts = pair.split(' ');
        let key = parts.next().unwrap_or_default();
        let value = parts.next();
        if parts.next().is_some() || key.is_empty() || !key.is_ascii() {
            return Err(UploadError::BadRequest(format!(
                "Upload-Metadata pair `{}` is not `key base64value`",
                pair.chars().take(60).collect::<String>()
            )));
        }
        let value = match value {
            None => String::new(),
            Some(v) => {
                let bytes = STANDARD.decode(v).map_err(|_| {
                    UploadError::BadRequest(format!(
                        "Upload-Metadata value of `{key}` is not base64"
                    ))
                })?;
                String::from_utf8(bytes).map_err(|_| {
                    UploadError::BadRequest(format!(
                        "Upload-Metadata value of `{key}` is not UTF-8"
                    ))
                })?
            }
        };
        if out.insert(key.to_owned(), value).is_some() {
            return Err(UploadError::BadRequest(format!(
                "Upload-Metadata repeats key `{key}`"
            )));
        }
    }
    Ok(out)
}

/// A checksum the client sent for one PATCH body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedChecksum {
    algorithm: Algorithm,
    digest: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Algorithm {
    Sha1,
    Sha256,
}

/// Parses `Upload-Checksum: <algorithm> <base64 digest>`.
pub fn parse_checksum(header: &str) -> Result<ExpectedChecksum> {
    let (name, digest) = header.trim().split_once(' ').ok_or_else(|| {
        UploadError::BadRequest("Upload-Checksum must be `algorithm base64`".into())
    })?;
    let algorithm = match name {
        "sha1" => Algorithm::Sha1,
        "sha256" => Algorithm::Sha256,
        other => {
            return Err(UploadError::UnsupportedChecksum(
                other.chars().take(20).collect(),
            ));
        }
    };
    let digest = STANDARD
        .decode(digest.trim())
        .map_err(|_| UploadError::BadRequest("Upload-Checksum digest is not base64".into()))?;
    // A digest of the wrong length is kept as it is: no body can match it, so the chunk is
    // discarded as a mismatch (460), as tusd does, rather than refused before it is read.
    Ok(ExpectedChecksum { algorithm, digest })
}

/// A running checksum over one PATCH body.
pub enum RunningChecksum {
    /// SHA-1.
    Sha1(sha1::Sha1, Vec<u8>),
    /// SHA-256.
    Sha256(sha2::Sha256, Vec<u8>),
}

impl RunningChecksum {
    /// Starts checking against `expected`.
    pub fn new(expected: ExpectedChecksum) -> Self {
        match expected.algorithm {
            Algorithm::Sha1 => Self::Sha1(sha1::Sha1::new(), expected.digest),
            Algorithm::Sha256 => Self::Sha256(sha2::Sha256::new(), expected.digest),
        }
    }

    /// Feeds body bytes.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Self::Sha1(h, _) => h.update(data),
            Self::Sha256(h, _) => h.update(data),
        }
    }

    /// True when the body matched.
    pub fn matches(self) -> bool {
        match self {
            Self::Sha1(h, want) => h.finalize().as_slice() == want.as_slice(),
            Self::Sha256(h, want) => h.finalize().as_slice() == want.as_slice(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_metadata(header: &str, expect: Result<&[(&str, &str)], ()>) {
        let got = parse_metadata(header);
        match expect {
            Ok(pairs) => {
                let got = got.unwrap_or_else(|e| panic!("{header:?}: {e}"));
                let want: BTreeMap<String, String> = pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                assert_eq!(got, want, "{header:?}");
            }
            Err(()) => assert!(got.is_err(), "{header:?} should be rejected"),
        }
    }

    #[test]
    fn metadata_headers() {
        check_metadata("", Ok(&[]));
        check_metadata(
            "filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,is_confidential",
            Ok(&[
                ("filename", "world_domination_plan.pdf"),
                ("is_confidential", ""),
            ]),
        );
        check_metadata("title 5pel5pys", Ok(&[("title", "日本")]));
        check_metadata("title not-base64!", Err(()));
        check_metadata("title YQ== extra", Err(()));
        check_metadata("a YQ==,a Yg==", Err(()));
        check_metadata(&"k YQ==,".repeat(700), Err(()));
    }

    #[test]
    fn checksums() {
        let body = b"hello";
        let sha1 = STANDARD.encode(sha1::Sha1::digest(body));
        let mut ok = RunningChecksum::new(parse_checksum(&format!("sha1 {sha1}")).unwrap());
        ok.update(body);
        assert!(ok.matches());
        let mut bad = RunningChecksum::new(parse_checksum(&format!("sha1 {sha1}")).unwrap());
        bad.update(b"hellO");
        assert!(!bad.matches());
        let sha256 = STANDARD.encode(sha2::Sha256::digest(body));
        let mut ok = RunningChecksum::new(parse_checksum(&format!("sha256 {sha256}")).unwrap());
        ok.update(body);
        assert!(ok.matches());
        assert!(matches!(
            parse_checksum("md5 AAAA"),
            Err(UploadError::UnsupportedChecksum(_))
        ));
        assert!(parse_checksum("sha1").is_err());
        // A digest of the wrong length parses, and then never matches.
        let mut short = RunningChecksum::new(parse_checksum("sha1 AAAA").unwrap());
        short.update(body);
        assert!(!short.matches(), "wrong digest length is a mismatch");
    }
}
