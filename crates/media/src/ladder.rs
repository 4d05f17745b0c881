//! Ladder planning: which renditions ("rungs") a source gets. Pure computation over the probed
//! [`MediaInfo`] and the configured ladder, so the rules are tested without ffmpeg.
//!
//! A rung is named by its SHORT side ("720p" is 1280x720 for landscape and 720x1280 for
//! portrait). No rung is larger than the source; a source smaller than the lowest rung gets a
//! single rung at its own size. The aspect ratio is kept and both dimensions are even (x264 and
//! yuv420p need that). All rungs share one frame rate, the source's capped at
//! `max_output_fps`, so keyframes can be aligned across rungs.

use serde::{Deserialize, Serialize};
use spool_config::MediaConfig;

use crate::probe::MediaInfo;

/// One rendition to encode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rung {
    /// "720p": the short side followed by "p"; also the rendition's directory name.
    pub name: String,
    /// Output width in pixels (even).
    pub width: u32,
    /// Output height in pixels (even).
    pub height: u32,
    /// Output frame rate (constant).
    pub fps: f64,
    /// Bitrate cap for the encoder (`-maxrate`), kbit/s.
    pub max_bitrate_kbps: u32,
}

/// Frame rate assumed when the source's is missing or absurd.
const FALLBACK_FPS: f64 = 30.0;

/// Standard frame rates (as exact rationals) that nearby measured averages snap to.
const STANDARD_RATES: &[(u32, u32)] = &[
    (24000, 1001),
    (24, 1),
    (25, 1),
    (30000, 1001),
    (30, 1),
    (48, 1),
    (50, 1),
    (60000, 1001),
    (60, 1),
];

/// Plans the rungs for `info`, highest first. Empty when the source has no video stream.
pub fn plan(info: &MediaInfo, config: &MediaConfig) -> Vec<Rung> {
    let Some(video) = &info.video else {
        return Vec::new();
    };
    let (w, h) = (video.width.max(1), video.height.max(1));
    let (short, long) = (w.min(h), w.max(h));
    let portrait = h > w;
    let fps = output_fps(video.fps, config.max_output_fps);

    let mut heights: Vec<u32> = config
        .ladder
        .iter()
        .copied()
        .filter(|&rung| rung > 0 && rung <= short)
        .collect();
    heights.sort_unstable_by(|a, b| b.cmp(a));
    heights.dedup();

    let sizes: Vec<(u32, u32)> = if heights.is_empty() {
        // Smaller than the lowest rung: one rung at (about) its own size.
        vec![(even(f64::from(short)), even(f64::from(long)))]
    } else {
        heights
            .iter()
            .map(|&rung| {
                let long_side = f64::from(long) * f64::from(rung) / f64::from(short);
                (even(f64::from(rung)), even(long_side))
            })
            .collect()
    };
    sizes
        .into_iter()
        .map(|(short_side, long_side)| {
            let (width, height) = if portrait {
                (short_side, long_side)
            } else {
                (long_side, short_side)
            };
            Rung {
                name: format!("{short_side}p"),
                width,
                height,
                fps,
                max_bitrate_kbps: max_bitrate_kbps(width, height, fps),
            }
        })
        .collect()
}

/// Rounds to the nearest even number, at least 2.
fn even(x: f64) -> u32 {
    (((x / 2.0).round() as u32) * 2).max(2)
}

/// The output frame rate for a source averaging `source_fps`: capped at `max_output_fps`,
/// 30 when unknown or absurd, snapped to a standard rate when within 3% of one.
pub fn output_fps(source_fps: f64, max_output_fps: f64) -> f64 {
    let cap = if max_output_fps.is_finite() && max_output_fps >= 1.0 {
        max_output_fps
    } else {
        60.0
    };
    let fps = if source_fps.is_finite() && (1.0..=1000.0).contains(&source_fps) {
        source_fps.min(cap)
    } else {
        FALLBACK_FPS.min(cap)
    };
    let nearest = STANDARD_RATES
        .iter()
        .map(|&(num, den)| f64::from(num) / f64::from(den))
        .filter(|&rate| rate <= cap + 1e-9)
        .min_by(|a, b| (a - fps).abs().total_cmp(&(b - fps).abs()));
    match nearest {
        Some(rate) if (rate - fps).abs() <= fps * 0.03 => rate,
        _ => (fps * 1000.0).round() / 1000.0,
    }
}

/// `fps` as an exact rational `(num, den)`: a standard rate when it is one, else thousandths.
pub(crate) fn fps_rational(fps: f64) -> (u32, u32) {
    for &(num, den) in STANDARD_RATES {
        if (f64::from(num) / f64::from(den) - fps).abs() < 1e-6 {
            return (num, den);
        }
    }
    let num = (fps * 1000.0).round().max(1.0) as u32;
    let g = gcd(num, 1000);
    (num / g, 1000 / g)
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// The bitrate cap for a rung: about 4500 kbit/s at 1080p30, scaling with the pixel count to
/// the power 0.8 (≈2350 at 720p, ≈1230 at 480p, ≈775 at 360p, ≈400 at 240p), times 1.5 above
/// 30 frames per second. Rounded to 10 kbit/s, at least 100.
pub fn max_bitrate_kbps(width: u32, height: u32, fps: f64) -> u32 {
    let pixels = f64::from(width) * f64::from(height);
    let base = 4500.0 * (pixels / (1920.0 * 1080.0)).powf(0.8);
    let motion = if fps > 31.0 { 1.5 } else { 1.0 };
    let kbps = (base * motion / 10.0).round() * 10.0;
    kbps.max(100.0) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::VideoStream;

    fn info(width: u32, height: u32, fps: f64) -> MediaInfo {
        MediaInfo {
            format: "mov,mp4,m4a,3gp,3g2,mj2".into(),
            duration_s: 10.0,
            video: Some(VideoStream {
                width,
                height,
                fps,
                codec: "h264".into(),
            }),
            audio: None,
        }
    }

    /// Plans `(width, height, fps)` with the default config and compares
    /// `name width x height @ fps` of each rung.
    fn check(input: (u32, u32, f64), expect: &[&str]) {
        let rungs = plan(&info(input.0, input.1, input.2), &MediaConfig::default());
        let got: Vec<String> = rungs
            .iter()
            .map(|r| format!("{} {}x{} @{}", r.name, r.width, r.height, r.fps))
            .collect();
        assert_eq!(got, expect, "input {input:?}");
        for r in &rungs {
            assert!(r.width % 2 == 0 && r.height % 2 == 0, "{r:?}");
        }
    }

    #[test]
    fn plans() {
        check(
            (1920, 1080, 30.0),
            &[
                "1080p 1920x1080 @30",
                "720p 1280x720 @30",
                "480p 854x480 @30",
                "360p 640x360 @30",
                "240p 426x240 @30",
            ],
        );
        // Portrait: the rung is the short side.
        check(
            (720, 1280, 30.0),
            &[
                "720p 720x1280 @30",
                "480p 480x854 @30",
                "360p 360x640 @30",
                "240p 240x426 @30",
            ],
        );
        // Never above the source.
        check(
            (1280, 720, 25.0),
            &[
                "720p 1280x720 @25",
                "480p 854x480 @25",
                "360p 640x360 @25",
                "240p 426x240 @25",
            ],
        );
        check(
            (3840, 2160, 60.0),
            &[
                "1080p 1920x1080 @60",
                "720p 1280x720 @60",
                "480p 854x480 @60",
                "360p 640x360 @60",
                "240p 426x240 @60",
            ],
        );
        // Below the lowest rung: one rung at its own size.
        check((176, 144, 15.0), &["144p 176x144 @15"]);
        check((175, 143, 15.0), &["144p 176x144 @15"]);
        // Odd sizes round to even.
        check((641, 359, 25.0), &["240p 428x240 @25"]);
        // Strictly never above: 1079 lines do not make a 1080p rung.
        check(
            (1919, 1079, 30.0),
            &[
                "720p 1280x720 @30",
                "480p 854x480 @30",
                "360p 640x360 @30",
                "240p 426x240 @30",
            ],
        );
        // Wide cinema: the short side picks the rungs.
        check(
            (1920, 800, 24.0),
            &[
                "720p 1728x720 @24",
                "480p 1152x480 @24",
                "360p 864x360 @24",
                "240p 576x240 @24",
            ],
        );
        // Exactly the lowest rung.
        check((320, 240, 30.0), &["240p 320x240 @30"]);
    }

    #[test]
    fn frame_rates() {
        let ntsc = 30000.0 / 1001.0;
        for (source, expect) in [
            (30.0, 30.0),
            (ntsc, ntsc),
            (29.5, ntsc),
            (24.0, 24.0),
            (120.0, 60.0),
            (59.94, 60000.0 / 1001.0),
            (0.0, 30.0),
            (f64::NAN, 30.0),
            (90000.0, 30.0),
            (20.224719, 20.225),
            (12.0, 12.0),
        ] {
            let got = output_fps(source, 60.0);
            assert!(
                (got - expect).abs() < 1e-9,
                "{source} -> {got}, expected {expect}"
            );
        }
        assert_eq!(output_fps(60.0, 30.0), 30.0);
        assert_eq!(
            plan(&info(640, 360, 240.0), &MediaConfig::default())[0].fps,
            60.0
        );
        for (fps, expect) in [
            (30.0, (30, 1)),
            (ntsc, (30000, 1001)),
            (20.225, (809, 40)),
            (12.5, (25, 2)),
            (60000.0 / 1001.0, (60000, 1001)),
        ] {
            assert_eq!(fps_rational(fps), expect, "{fps}");
        }
    }

    #[test]
    fn bitrates() {
        for (w, h, fps, expect) in [
            (1920, 1080, 30.0, 4500),
            (1280, 720, 30.0, 2350),
            (854, 480, 30.0, 1230),
            (640, 360, 30.0, 780),
            (426, 240, 30.0, 410),
            (1920, 1080, 60.0, 6750),
            (1920, 1080, 25.0, 4500),
            (16, 16, 30.0, 100),
        ] {
            assert_eq!(max_bitrate_kbps(w, h, fps), expect, "{w}x{h}@{fps}");
        }
        let rungs = plan(&info(1920, 1080, 30.0), &MediaConfig::default());
        assert!(
            rungs
                .windows(2)
                .all(|w| w[0].max_bitrate_kbps > w[1].max_bitrate_kbps)
        );
    }

    #[test]
    fn no_video_no_rungs() {
        let mut audio_only = info(0, 0, 0.0);
        audio_only.video = None;
        assert!(plan(&audio_only, &MediaConfig::default()).is_empty());
    }

    #[test]
    fn custom_ladder_order_does_not_matter() {
        let config = MediaConfig {
            ladder: vec![360, 1080, 720, 720],
            ..MediaConfig::default()
        };
        let names: Vec<_> = plan(&info(1280, 720, 30.0), &config)
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(names, ["720p", "360p"]);
    }
}
