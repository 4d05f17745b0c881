//! Media is content-addressed too: a video made from content the server already transcoded
//! with the same ladder settings shares that video's renditions, storyboard, cover candidates
//! and automatic cover (hard links, see `spool_storage::share`) instead of encoding them
//! again, and is `ready` as soon as its `process` job runs.

use spool_config::MediaConfig;
use spool_media::Published;
use spool_metadata::{MetadataError, Store};
use spool_model::{VideoId, VideoStatus};
use spool_storage::{Generation, MediaLayout, StorageError};

/// Bumped when the encoder's settings change in code, so older media is not shared.
const ENCODER_VERSION: &str = "1";

/// Why sharing failed (the caller transcodes, or retries).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ShareError {
    #[error("metadata store: {0}")]
    Metadata(#[from] MetadataError),
}

/// What identifies the output of a transcode of given content: every setting that changes
/// what is encoded. Media is shared only between videos with the same key.
pub(crate) fn ladder_key(media: &MediaConfig) -> String {
    let settings = serde_json::json!({
        "encoder": ENCODER_VERSION,
        "ladder": media.ladder,
        "segment_s": media.segment_s,
        "preset": media.preset,
        "max_output_fps": media.max_output_fps,
        "storyboard_interval_s": media.storyboard_interval_s,
    });
    blake3::hash(settings.to_string().as_bytes()).to_hex()[..16].to_owned()
}

/// Publishes for `video` the complete media of another ready video of the same content and
/// ladder, if there is one. True when the video is done (shared, or gone meanwhile).
pub(crate) async fn share_existing(
    store: &Store,
    layout: &MediaLayout,
    media: &MediaConfig,
    video: &VideoId,
) -> Result<bool, ShareError> {
    let started = std::time::Instant::now();
    let Some(row) = store.video(video).await? else {
        return Ok(false);
    };
    let fresh = matches!(row.status, VideoStatus::Uploaded | VideoStatus::Processing);
    let (Some(hash), true, None) = (&row.blake3, fresh, &row.media) else {
        return Ok(false);
    };
    let key = ladder_key(media);
    for donor in store.media_donors(hash, video).await? {
        let Some(published) = donor
            .media
            .as_deref()
            .and_then(|j| Published::from_json(j).ok())
        else {
            continue;
        };
        if !published.complete || published.ladder_key.as_deref() != Some(key.as_str()) {
            continue;
        }
        let Some(generation) = Generation::parse(&published.generation) else {
            continue;
        };
        // The donor's own choice of cover stays its own; an automatic one is the content's.
        let cover = (!donor.cover_custom)
            .then(|| donor.cover_gen.as_deref().and_then(Generation::parse))
            .flatten();
        let linked = {
            let (layout, from, to) = (layout.clone(), donor.id.clone(), video.clone());
            let (generation, cover) = (generation.clone(), cover.clone());
            tokio::task::spawn_blocking(move || {
                layout.share(&from, &to, &generation, cover.as_ref())
            })
            .await
        };
        match linked {
            Ok(Ok(())) => {}
            // The donor went away meanwhile (deleted): try the next, or transcode.
            Ok(Err(StorageError::Io { path, source })) => {
                tracing::info!(video = %video, donor = %donor.id, "cannot share {}: {source}", path.display());
                continue;
            }
            Err(e) => {
                tracing::warn!(video = %video, "sharing media panicked: {e}");
                continue;
            }
        }
        if store.start_processing(video).await? {
            let size = donor.width.zip(donor.height);
            let size = size.map(|(w, h)| {
                (
                    w.clamp(0, u32::MAX.into()) as u32,
                    h.clamp(0, u32::MAX.into()) as u32,
                )
            });
            store
                .record_probe(video, donor.duration_ms.unwrap_or(0), size)
                .await?;
            if let Some(cover) = &cover {
                store.set_cover(video, cover.as_str(), false).await?;
            }
            if store
                .publish_media(video, &published.to_json(), 100)
                .await?
            {
                tracing::info!(video = %video, donor = %donor.id, ms = started.elapsed().as_millis(),
                    "shared the media of the same content");
                return Ok(true);
            }
        }
        // Deleted or failed meanwhile: nothing may stay behind.
        let (layout, video) = (layout.clone(), video.clone());
        let _ = tokio::task::spawn_blocking(move || layout.remove_video(&video)).await;
        return Ok(true);
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_changes_with_what_is_encoded_only() {
        let base = MediaConfig::default();
        let key = ladder_key(&base);
        assert_eq!(key, ladder_key(&base.clone()));
        let mut other = base.clone();
        other.max_processes += 1; // how many run at once changes no output
        assert_eq!(key, ladder_key(&other));
        for change in [
            |m: &mut MediaConfig| m.ladder.pop().map(|_| ()).unwrap_or(()),
            |m: &mut MediaConfig| m.segment_s += 1,
            |m: &mut MediaConfig| m.preset = "slow".into(),
        ] {
            let mut changed = base.clone();
            change(&mut changed);
            assert_ne!(key, ladder_key(&changed));
        }
    }
}
