//! Playback serving: HLS/DASH manifests, segments, storyboards and covers under `/media/...`,
//! ready for a CDN in front.
//!
//! URL scheme (the tail is the same for every video; only the prefix differs):
//! - public and unlisted videos: `<media base>/media/<video id>/...`
//! - private videos: `<media base>/media/s/<expires>/<signature>/<video id>/...`, where the
//!   signature is an HMAC-SHA256 over the video id and the expiry. The signature sits in the
//!   path, not the query, so every relative URI in a playlist inherits it and a CDN caches by
//!   path alone.

use std::path::{Path, PathBuf};

use axum::http::HeaderMap;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use spool_config::Config;
use spool_metadata::VideoRow;
use spool_model::{VideoId, Visibility, now_millis};

use crate::AppState;

type HmacSha256 = Hmac<Sha256>;

/// Signing-key file kept in the data dir when no key is configured.
const KEY_FILE: &str = "url-signing.key";

/// Playback's own state: where media lives and the URL-signing key.
pub struct Playback {
    media_root: PathBuf,
    key: Vec<u8>,
}

impl Playback {
    /// From the configuration: the key is `playback.signing_key`, else the one kept in the data
    /// dir (generated on first start).
    pub fn new(config: &Config) -> std::io::Result<Self> {
        let key = if config.playback.signing_key.is_empty() {
            load_or_create_key(&config.server.data_dir.join(KEY_FILE))?
        } else {
            config.playback.signing_key.as_bytes().to_vec()
        };
        Ok(Self {
            media_root: config.server.data_dir.join("media"),
            key,
        })
    }

    /// The directory holding every video's published media.
    pub fn media_root(&self) -> &Path {
        &self.media_root
    }

    /// The signature for `video` valid until `expires` (Unix seconds), URL-safe base64.
    pub fn sign(&self, video: &VideoId, expires: i64) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(video.as_str().as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// True when `signature` is valid for `video` and `expires` has not passed.
    pub fn verify(&self, video: &VideoId, expires: i64, signature: &str) -> bool {
        if expires.saturating_mul(1000) < now_millis() {
            return false;
        }
        let Ok(given) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(signature) else {
            return false;
        };
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(video.as_str().as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        mac.verify_slice(&given).is_ok()
    }
}

fn load_or_create_key(path: &Path) -> std::io::Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(key) if key.len() >= 32 => return Ok(key),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let key: [u8; 32] = rand::random();
    let hexed = key.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, &hexed)?;
    std::fs::rename(&tmp, path)?;
    Ok(hexed.into_bytes())
}

/// The URL prefix under which `video`'s media is served, without a trailing slash:
/// `<media base>/media/<id>` for public and unlisted videos, a signed, expiring
/// `<media base>/media/s/<expires>/<signature>/<id>` for private ones (only ever handed to
/// callers allowed to see the video).
pub(crate) fn media_prefix(state: &AppState, headers: &HeaderMap, video: &VideoRow) -> String {
    let configured = state.config.playback.media_base_url.trim_end_matches('/');
    let base = if configured.is_empty() {
        crate::base_url(state, headers)
    } else {
        configured.to_owned()
    };
    match video.visibility {
        Visibility::Private => {
            let ttl = i64::try_from(state.config.playback.signed_url_ttl_s).unwrap_or(i64::MAX);
            // Round the expiry up to the hour so URLs stay stable (cacheable) for a while.
            let expires = (now_millis() / 1000).saturating_add(ttl) / 3600 * 3600 + 3600;
            let signature = state.playback.sign(&video.id, expires);
            format!("{base}/media/s/{expires}/{signature}/{}", video.id)
        }
        Visibility::Public | Visibility::Unlisted => format!("{base}/media/{}", video.id),
    }
}
