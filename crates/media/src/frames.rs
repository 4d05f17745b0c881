//! Frames sampled from a source for perceptual hashing: one decode, `fps=1`, scaled down to
//! at most [`MAX_SIDE`] pixels on the long side (PDQ is made for that: it blurs and decimates
//! to 64x64 anyway), raw RGB read from ffmpeg's stdout one frame at a time, so memory is one
//! frame whatever the video's length.

use std::path::Path;
use std::time::Duration;

use spool_config::MediaConfig;
use tokio::io::AsyncReadExt;

use crate::MediaError;
use crate::probe::{MediaInfo, input_args, os_args};
use crate::process::{ProcessRunner, Tool};

/// Longest side of a sampled frame, pixels.
pub const MAX_SIDE: u32 = 512;

/// One sampled frame: packed RGB24, `width * height * 3` bytes.
#[derive(Clone, Debug)]
pub struct Frame {
    /// Offset in the video, ms (the sampling instant: `index * 1000 / fps`).
    pub at_ms: i64,
    /// Pixels across.
    pub width: u32,
    /// Pixels down.
    pub height: u32,
    /// Packed RGB24.
    pub rgb: Vec<u8>,
}

/// The size frames of a `width` x `height` picture are sampled at: the long side at most
/// [`MAX_SIDE`], the aspect ratio kept, even dimensions of at least 2.
pub fn sample_size(width: u32, height: u32) -> (u32, u32) {
    let long = width.max(height).max(1);
    let scale = (f64::from(MAX_SIDE) / f64::from(long)).min(1.0);
    let even = |v: u32| (((f64::from(v) * scale / 2.0).round() as u32) * 2).max(2);
    (even(width), even(height))
}

/// Samples `source` (probed as `info`) at `fps` frames per second, calling `on_frame` for each
/// in order; `on_frame` answers false to stop early. Returns how many frames were handed over.
/// A source without video hands over none; a video shorter than one sampling interval hands
/// over the first frame ffmpeg's `fps` filter emits (or none).
pub async fn sample(
    processes: &ProcessRunner,
    source: &Path,
    info: &MediaInfo,
    config: &MediaConfig,
    fps: u32,
    mut on_frame: impl FnMut(Frame) -> bool + Send,
) -> Result<u64, MediaError> {
    let Some(video) = &info.video else {
        return Ok(0);
    };
    let fps = fps.max(1);
    let (width, height) = sample_size(video.width, video.height);
    let mut args = os_args(&["-hide_banner", "-nostdin", "-v", "error"]);
    args.extend(input_args(source, config, Some(info.demuxer())));
    args.extend(os_args(&["-map", "0:v:0", "-an", "-sn", "-dn", "-vf"]));
    args.push(format!("fps={fps},scale={width}:{height}:flags=area,format=rgb24").into());
    args.extend(os_args(&["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]));
    let frame_bytes = width as usize * height as usize * 3;
    let timeout = Duration::from_secs(config.transcode_timeout_s.max(1));
    processes
        .run_reading(Tool::Ffmpeg, &args, timeout, |mut stdout| async move {
            let mut count = 0u64;
            loop {
                let mut rgb = vec![0u8; frame_bytes];
                match stdout.read_exact(&mut rgb).await {
                    Ok(_) => {}
                    // The end (a partial last frame is ffmpeg's cut-off output, dropped).
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                        return Ok((count, false));
                    }
                    Err(e) => return Err(MediaError::Io(e)),
                }
                let frame = Frame {
                    at_ms: (count as i64 * 1000) / i64::from(fps),
                    width,
                    height,
                    rgb,
                };
                count += 1;
                if !on_frame(frame) {
                    return Ok((count, true));
                }
            }
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_keep_the_aspect_within_the_cap() {
        for ((w, h), want) in [
            ((1920, 1080), (512, 288)),
            ((480, 720), (342, 512)),
            ((720, 1280), (288, 512)),
            ((320, 240), (320, 240)),
            ((1, 1), (2, 2)),
            ((641, 359), (512, 286)),
        ] {
            assert_eq!(sample_size(w, h), want, "{w}x{h}");
        }
    }
}
