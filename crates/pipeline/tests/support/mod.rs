//! Shared by the pipeline tests: their configuration, and uploading a generated source the
//! way a client does.
//! Every test binary includes this with `mod support;`.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use spool_config::Config;
use spool_jobs::CancellationToken;
use spool_metadata::User;
use spool_model::VideoId;
use spool_upload::UploadService;

/// Uploads `content` as a new video of `user` in one request; returns the video it feeds.
pub async fn upload_as(uploads: &UploadService, user: &User, content: &[u8]) -> VideoId {
    let up = uploads
        .create(user, Some(content.len() as u64), "")
        .await
        .unwrap();
    let chunk: Result<Bytes, std::io::Error> = Ok(Bytes::copy_from_slice(content));
    uploads
        .append(
            user,
            &up.upload.id,
            0,
            None,
            None,
            futures_util::stream::iter(vec![chunk]),
            CancellationToken::new(),
        )
        .await
        .unwrap()
        .video_id
}

/// The configuration of a test: data dir `data` under `dir`, 1 s segments, then `tweak`.
pub fn config(dir: &Path, tweak: impl FnOnce(&mut Config)) -> Arc<Config> {
    let mut config = Config::default();
    config.server.data_dir = dir.join("data");
    config.media.segment_s = 1;
    tweak(&mut config);
    Arc::new(config)
}
