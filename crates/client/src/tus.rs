//! The wire format of the upload protocol: tus header names, `Upload-Metadata` encoding,
//! the Spool proof-of-possession challenge headers, and the server's JSON error body.
//!
//! Pure functions over strings and bytes; no I/O happens here.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use crate::error::ClientError;

/// The tus protocol version every request announces.
pub const TUS_VERSION: &str = "1.0.0";
/// `Tus-Resumable` header.
pub const TUS_RESUMABLE: &str = "tus-resumable";
/// `Upload-Offset` header.
pub const UPLOAD_OFFSET: &str = "upload-offset";
/// `Upload-Length` header.
pub const UPLOAD_LENGTH: &str = "upload-length";
/// `Upload-Metadata` header.
pub const UPLOAD_METADATA: &str = "upload-metadata";
/// `Spool-Video-Id` header: the video an upload feeds.
pub const SPOOL_VIDEO_ID: &str = "spool-video-id";
/// `Spool-Proof-Nonce` header: the key of the proof-of-possession challenge.
pub const SPOOL_PROOF_NONCE: &str = "spool-proof-nonce";
/// `Spool-Proof-Ranges` header: the byte ranges the proofs cover.
pub const SPOOL_PROOF_RANGES: &str = "spool-proof-ranges";
/// Content type of PATCH bodies.
pub const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";

/// Encodes `Upload-Metadata`: `key base64(value)` pairs joined by commas.
///
/// Keys must be non-empty and free of spaces and commas (the tus rule); values may be anything.
pub fn encode_metadata(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            debug_assert!(
                !k.is_empty() && !k.contains([' ', ',']),
                "bad tus key {k:?}"
            );
            if v.is_empty() {
                (*k).to_owned()
            } else {
                format!("{k} {}", STANDARD.encode(v.as_bytes()))
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// One byte range of the file that a proof covers: `length` bytes from `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte.
    pub offset: u64,
    /// Number of bytes.
    pub length: u64,
}

impl ByteRange {
    /// One past the last byte, or `None` on overflow.
    pub fn end(&self) -> Option<u64> {
        self.offset.checked_add(self.length)
    }
}

/// Parses `Spool-Proof-Ranges`: `<offset>-<length>,<offset>-<length>,...` (spaces allowed
/// around items). Every range must fit in a file of `file_len` bytes.
pub fn parse_proof_ranges(header: &str, file_len: u64) -> Result<Vec<ByteRange>, String> {
    let header = header.trim();
    if header.is_empty() {
        return Err("empty Spool-Proof-Ranges".into());
    }
    header
        .split(',')
        .map(|item| {
            let item = item.trim();
            let (o, l) = item
                .split_once('-')
                .ok_or_else(|| format!("range `{item}` is not <offset>-<length>"))?;
            let parse = |s: &str| {
                let s = s.trim();
                if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(format!("range `{item}` is not <offset>-<length>"));
                }
                s.parse::<u64>()
                    .map_err(|_| format!("range `{item}` overflows"))
            };
            let range = ByteRange {
                offset: parse(o)?,
                length: parse(l)?,
            };
            match range.end() {
                Some(end) if end <= file_len => Ok(range),
                _ => Err(format!(
                    "range `{item}` lies outside the file ({file_len} bytes)"
                )),
            }
        })
        .collect()
}

/// Parses `Spool-Proof-Nonce`: 64 hex digits, the 32-byte BLAKE3 key.
pub fn parse_nonce(header: &str) -> Result<[u8; 32], String> {
    let mut key = [0u8; 32];
    let header = header.trim();
    if header.len() != 64 || hex::decode_to_slice(header, &mut key).is_err() {
        return Err(format!(
            "Spool-Proof-Nonce `{}` is not 64 hex digits",
            header.chars().take(80).collect::<String>()
        ));
    }
    Ok(key)
}

/// Parses a non-negative integer header such as `Upload-Offset`.
pub fn parse_u64(name: &str, value: Option<&str>) -> Result<u64, ClientError> {
    let value = value.ok_or_else(|| ClientError::Protocol(format!("missing {name} header")))?;
    let v = value.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ClientError::Protocol(format!(
            "{name} `{}` is not a non-negative integer",
            v.chars().take(40).collect::<String>()
        )));
    }
    v.parse()
        .map_err(|_| ClientError::Protocol(format!("{name} `{v}` overflows")))
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    #[serde(default)]
    message: String,
}

/// Turns an error answer into [`ClientError::Server`], reading `{error:{code,message}}` when the
/// body has it and falling back to the status and the body text otherwise.
pub fn server_error(status: u16, body: &[u8]) -> ClientError {
    if let Ok(b) = serde_json::from_slice::<ErrorBody>(body) {
        return ClientError::Server {
            status,
            code: b.error.code,
            message: b.error.message,
        };
    }
    let code = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .map(|r| r.to_ascii_lowercase().replace([' ', '-'], "_"))
        .unwrap_or_else(|| format!("http_{status}"));
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let message = if text.is_empty() {
        "(no message)".to_owned()
    } else {
        text.chars().take(300).collect()
    };
    ClientError::Server {
        status,
        code,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_metadata(pairs: &[(&str, &str)], expect: &str) {
        assert_eq!(encode_metadata(pairs), expect, "{pairs:?}");
    }

    #[test]
    fn metadata_encoding() {
        check_metadata(&[], "");
        check_metadata(
            &[("filename", "world_domination_plan.pdf")],
            "filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==",
        );
        check_metadata(
            &[
                ("filename", "a.mp4"),
                ("title", "Café, día 1"),
                ("visibility", "private"),
            ],
            "filename YS5tcDQ=,title Q2Fmw6ksIGTDrWEgMQ==,visibility cHJpdmF0ZQ==",
        );
        // tus allows keys without a value.
        check_metadata(
            &[("is_confidential", ""), ("x", "y")],
            "is_confidential,x eQ==",
        );
    }

    fn check_ranges(header: &str, file_len: u64, expect: Result<&[(u64, u64)], &str>) {
        let got = parse_proof_ranges(header, file_len);
        match expect {
            Ok(want) => {
                let want: Vec<_> = want
                    .iter()
                    .map(|&(offset, length)| ByteRange { offset, length })
                    .collect();
                assert_eq!(got, Ok(want), "{header:?}");
            }
            Err(fragment) => {
                let e = got.expect_err(header);
                assert!(e.contains(fragment), "{header:?}: {e}");
            }
        }
    }

    #[test]
    fn proof_ranges() {
        check_ranges("0-10", 10, Ok(&[(0, 10)]));
        check_ranges(
            "0-4096,1000000-4096, 5-0 ",
            2_000_000,
            Ok(&[(0, 4096), (1_000_000, 4096), (5, 0)]),
        );
        check_ranges("0-11", 10, Err("outside the file"));
        check_ranges("18446744073709551615-2", u64::MAX, Err("outside the file"));
        check_ranges("99999999999999999999-1", u64::MAX, Err("overflows"));
        check_ranges("", 10, Err("empty"));
        check_ranges("0:10", 10, Err("not <offset>-<length>"));
        check_ranges("0-", 10, Err("not <offset>-<length>"));
        check_ranges("-1-3", 10, Err("not <offset>-<length>"));
        check_ranges("0-3,,4-1", 10, Err("not <offset>-<length>"));
        check_ranges("+1-3", 10, Err("not <offset>-<length>"));
    }

    #[test]
    fn nonce() {
        let hex64 = "00ff".repeat(16);
        let key = parse_nonce(&hex64).unwrap();
        assert_eq!(key[0], 0);
        assert_eq!(key[1], 0xff);
        assert!(parse_nonce("abc").is_err());
        assert!(parse_nonce(&"zz".repeat(32)).is_err());
    }

    fn check_u64(value: Option<&str>, expect: Option<u64>) {
        assert_eq!(parse_u64("Upload-Offset", value).ok(), expect, "{value:?}");
    }

    #[test]
    fn integer_headers() {
        check_u64(Some("0"), Some(0));
        check_u64(Some(" 1234 "), Some(1234));
        check_u64(Some("-1"), None);
        check_u64(Some("1e3"), None);
        check_u64(Some(""), None);
        check_u64(None, None);
        check_u64(Some("99999999999999999999"), None);
    }

    fn check_error(status: u16, body: &str, code: &str, message: &str) {
        match server_error(status, body.as_bytes()) {
            ClientError::Server {
                status: s,
                code: c,
                message: m,
            } => {
                assert_eq!(
                    (s, c.as_str(), m.as_str()),
                    (status, code, message),
                    "{body:?}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn error_bodies() {
        check_error(
            403,
            r#"{"error":{"code":"proof_rejected","message":"wrong proof"}}"#,
            "proof_rejected",
            "wrong proof",
        );
        check_error(404, "Not found\n", "not_found", "Not found");
        check_error(500, "", "internal_server_error", "(no message)");
        check_error(413, r#"{"other":1}"#, "payload_too_large", r#"{"other":1}"#);
    }
}
