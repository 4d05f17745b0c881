//! What a video has published for playback, stored as JSON in the video row (`videos.media`)
//! and read by the API to build manifests and links.

use serde::{Deserialize, Serialize};

use crate::manifest::{AudioTrack, Rendition};

/// The published state of one video's media.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Published {
    /// Generation directory under the video's media dir (`media/<video>/<generation>/`); a new
    /// transcode writes a new one, so a published file never changes under its name.
    pub generation: String,
    /// Video renditions that are complete and playable, highest first (empty for audio-only).
    pub renditions: Vec<Rendition>,
    /// The audio track, when the source has audio.
    pub audio: Option<AudioTrack>,
    /// True once the whole ladder is published; false while higher rungs are still coming.
    pub complete: bool,
    /// True when `<generation>/storyboard/storyboard.vtt` and its sprite sheets exist.
    pub storyboard: bool,
    /// The ladder settings the media was encoded with (the pipeline's key); media is shared
    /// between videos of the same content only under the same key. None in rows written
    /// before it existed (never shared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ladder_key: Option<String>,
    /// A DASH manifest (`manifest.mpd`) was written over the same segments. False for a live
    /// recording, whose renditions carry the sound inside the picture's fragments (HLS plays
    /// that; DASH players expect separate adaptation sets).
    #[serde(default = "written")]
    pub dash: bool,
}

fn written() -> bool {
    true
}

impl Published {
    /// Parses the stored JSON.
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// The JSON to store.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("Published serializes")
    }
}
