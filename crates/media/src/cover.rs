//! Cover images, in pure Rust (the `image` crate; no process is spawned here).
//!
//! Four jobs:
//! - [`decode_upload`]: check an uploaded cover (JPEG, PNG or WebP, sniffed from its bytes) and
//!   decode it, refusing oversized bodies, other formats, decompression bombs (dimensions are read
//!   from the header and checked before any pixel buffer is allocated) and corrupt data.
//! - [`pick_best`]: choose, among the candidate frames the transcoder wrote, the one that makes
//!   the best cover: sharp, with contrast, neither black nor white nor flat.
//! - [`write_cover_set`]: write the standard sizes ([`COVER_WIDTHS`]) as JPEG files, each
//!   written durably and renamed into place so a reader never sees a partial file.
//! - [`install`]: the one way a cover set is installed, by the pipeline (the best candidate)
//!   and by the API (an upload, a chosen candidate) alike: a fresh set under the one naming
//!   scheme of [`MediaLayout`], durable before the row that points at it is committed, and the
//!   set no longer referenced removed afterwards.
//!
//! Everything but [`install`] is synchronous and CPU-bound; async callers run it in
//! `spawn_blocking` (as [`install`] does).

use std::fs;
use std::io::{BufWriter, Cursor, Write};
use std::path::{Path, PathBuf};

use image::codecs::jpeg::{JpegDecoder, JpegEncoder};
use image::codecs::png::PngDecoder;
use image::codecs::webp::WebPDecoder;
use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{DynamicImage, GenericImageView, ImageDecoder, ImageError, ImageFormat, RgbImage};

use spool_model::VideoId;
use spool_storage::{Generation, MediaLayout};

use crate::MediaError;
use crate::transcode::storage_error;

/// Widths of the standard cover sizes written for every cover (height follows the aspect ratio).
pub const COVER_WIDTHS: [u32; 3] = [1280, 640, 320];

/// JPEG quality of the written cover files.
const JPEG_QUALITY: u8 = 85;

/// The formats an uploaded cover may have, for messages.
const ACCEPTED: &str = "JPEG, PNG or WebP";

/// Caps on an uploaded cover image, checked before it is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoverLimits {
    /// Largest accepted upload, in bytes.
    pub max_bytes: u64,
    /// Largest accepted width, in pixels.
    pub max_width: u32,
    /// Largest accepted height, in pixels.
    pub max_height: u32,
    /// Largest accepted width × height.
    pub max_pixels: u64,
}

impl Default for CoverLimits {
    /// 10 MiB, 8192 × 8192 and 40 megapixels.
    fn default() -> Self {
        Self {
            max_bytes: 10 * 1024 * 1024,
            max_width: 8192,
            max_height: 8192,
            max_pixels: 40_000_000,
        }
    }
}

/// Caps for the candidate frames [`pick_best`] reads: they are our own files (written by the
/// transcoder), so the caps only guard against a broken file, not a hostile one.
const FRAME_LIMITS: CoverLimits = CoverLimits {
    max_bytes: 64 * 1024 * 1024,
    max_width: 16384,
    max_height: 16384,
    max_pixels: 80_000_000,
};

/// Checks an uploaded cover (JPEG, PNG or WebP, sniffed from the bytes, not trusted from a
/// header) and decodes it.
///
/// The EXIF orientation of a JPEG or WebP is applied, so the result is upright.
///
/// # Errors
///
/// - [`MediaError::Invalid`]: empty body; dimensions over `limits` (read from the image header
///   before decoding, so a decompression bomb never gets a pixel buffer); corrupt or truncated
///   data.
/// - [`MediaError::ImageTooLarge`]: more than `limits.max_bytes` bytes.
/// - [`MediaError::UnsupportedImage`]: not an image, or an image in another format (GIF, SVG,
///   BMP, ...), or a JPEG/PNG/WebP using a feature the decoder does not support.
pub fn decode_upload(bytes: &[u8], limits: &CoverLimits) -> Result<DynamicImage, MediaError> {
    if bytes.is_empty() {
        return Err(MediaError::Invalid("the image is empty".into()));
    }
    let size = bytes.len() as u64;
    if size > limits.max_bytes {
        return Err(MediaError::ImageTooLarge {
            bytes: size,
            max_bytes: limits.max_bytes,
        });
    }
    match sniff(bytes)? {
        Accepted::Png => {
            // Check the IHDR ourselves, before the PNG decoder sees the stream at all.
            let (width, height) = png_dimensions(bytes).ok_or_else(|| {
                MediaError::Invalid("the PNG image is corrupt: its header is incomplete".into())
            })?;
            check_dimensions(width, height, limits)?;
            let decoder = PngDecoder::with_limits(Cursor::new(bytes), image_limits(limits))
                .map_err(decode_error)?;
            finish_decode(decoder, limits)
        }
        Accepted::Jpeg => {
            check_jpeg_complete(bytes)?;
            let decoder = JpegDecoder::new(Cursor::new(bytes)).map_err(decode_error)?;
            finish_decode(decoder, limits)
        }
        Accepted::WebP => {
            let decoder = WebPDecoder::new(Cursor::new(bytes)).map_err(decode_error)?;
            finish_decode(decoder, limits)
        }
    }
}

/// Scores candidate frames (JPEG files written by the transcoder) and returns the index of the
/// best cover: a representative, sharp frame — never a black, white or flat one when a better
/// one exists.
///
/// Each frame is reduced to a small grayscale copy and scored by sharpness (variance of its
/// Laplacian) and contrast (standard deviation of luma), damped when its mean luma is near black
/// or white or when most pixels are clipped. Frames that are nearly black, nearly white or nearly
/// flat rank below every other frame. Ties go to the earlier candidate. Candidates that cannot be
/// read or decoded are skipped (and logged).
///
/// # Errors
///
/// [`MediaError::Invalid`] when the list is empty or no candidate decodes
/// ([`MediaError::Io`] when the last failure was an i/o error, which may be transient).
pub fn pick_best(candidates: &[PathBuf]) -> Result<usize, MediaError> {
    if candidates.is_empty() {
        return Err(MediaError::Invalid(
            "there are no cover candidates to choose from".into(),
        ));
    }
    let mut best: Option<(usize, FrameScore)> = None;
    let mut last_error = None;
    for (index, path) in candidates.iter().enumerate() {
        match score_file(path) {
            Ok(score) => {
                tracing::debug!(path = %path.display(), ?score, "scored cover candidate");
                if best.as_ref().is_none_or(|(_, b)| score.beats(b)) {
                    best = Some((index, score));
                }
            }
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "skipping unreadable cover candidate");
                last_error = Some(error);
            }
        }
    }
    match (best, last_error) {
        (Some((index, _)), _) => Ok(index),
        (None, Some(MediaError::Io(error))) => Err(MediaError::Io(std::io::Error::new(
            error.kind(),
            format!("no cover candidate could be read: {error}"),
        ))),
        (None, last) => Err(MediaError::Invalid(format!(
            "none of the {} cover candidates could be decoded{}",
            candidates.len(),
            last.map(|e| format!(" (last error: {e})"))
                .unwrap_or_default()
        ))),
    }
}

/// Writes `<out_dir>/<width>.jpg` for every [`COVER_WIDTHS`] entry and returns the
/// `(width, height)` written for each, in the same order.
///
/// The aspect ratio is kept; a source narrower than a width is never upscaled but written at its
/// own size under that name. Downscaling uses Lanczos3; transparency is flattened onto black (as
/// players letterbox). Files are JPEG at quality 85, each written to a temporary file in
/// `out_dir`, synced, then renamed into place, so a reader sees either the old file or the whole
/// new one. `out_dir` is created if missing.
///
/// # Errors
///
/// [`MediaError::Invalid`] for an image with no pixels; [`MediaError::Io`] when writing fails.
pub fn write_cover_set(
    image: &DynamicImage,
    out_dir: &Path,
) -> Result<Vec<(u32, u32)>, MediaError> {
    let (src_w, src_h) = image.dimensions();
    if src_w == 0 || src_h == 0 {
        return Err(MediaError::Invalid("the cover image has no pixels".into()));
    }
    fs::create_dir_all(out_dir)?;

    // A quick box-filter shrink to twice the largest size first keeps Lanczos cheap on a huge
    // upload; the final resample below still does the quality work.
    let largest = COVER_WIDTHS.iter().copied().max().unwrap_or(src_w);
    let working = if src_w > largest * 2 {
        let w = largest * 2;
        image.thumbnail_exact(w, scaled_height(src_w, src_h, w))
    } else {
        image.clone()
    };
    let working = flatten(&working);

    let mut written = Vec::with_capacity(COVER_WIDTHS.len());
    for &width in &COVER_WIDTHS {
        let (w, h) = if src_w <= width {
            (src_w, src_h)
        } else {
            (width, scaled_height(src_w, src_h, width))
        };
        let resized;
        let out = if (w, h) == working.dimensions() {
            &working
        } else {
            resized = image::imageops::resize(&working, w, h, FilterType::Lanczos3);
            &resized
        };
        write_jpeg_atomically(out, &out_dir.join(format!("{width}.jpg")))?;
        written.push((w, h));
    }
    Ok(written)
}

/// Where a new cover comes from.
#[derive(Debug)]
pub enum CoverSource {
    /// An image the owner uploaded, checked against `limits` before it is decoded.
    Upload {
        /// The uploaded bytes.
        bytes: Vec<u8>,
        /// The caps it must meet.
        limits: CoverLimits,
    },
    /// A frame file the pipeline wrote (a candidate the owner chose).
    Frame(PathBuf),
    /// The best of the candidate frames the pipeline wrote ([`pick_best`]).
    BestOf(Vec<PathBuf>),
}

/// What recording a new cover set in the video row did (the answer of `install`'s `commit`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CoverCommit {
    /// The row points at the new set; `previous` is the set it replaced, if any.
    Replaced {
        /// The replaced set's name (its files go).
        previous: Option<String>,
    },
    /// The row was not changed (the video is gone, or an automatic cover met one the owner
    /// chose): the new set goes.
    Refused,
}

/// Installs a new cover set for `video`: decodes `source` and writes the standard sizes
/// ([`write_cover_set`]) into a fresh cover directory ([`MediaLayout::begin_cover`]), every
/// file durable; only then calls `commit` with the set's name, which records it in the video
/// row; afterwards removes the set that is no longer referenced (the previous one, or the new
/// one when `commit` refused it). Returns the new set's name, or `None` when refused. When
/// `commit` fails the new set is left for [`MediaLayout::sweep`] (the row may or may not point
/// at it).
///
/// # Errors
///
/// Whatever decoding and writing fail with ([`decode_upload`], [`pick_best`]), or `commit`'s
/// error.
pub async fn install<E, F, Fut>(
    layout: &MediaLayout,
    video: &VideoId,
    source: CoverSource,
    commit: F,
) -> Result<Option<Generation>, E>
where
    E: From<MediaError>,
    F: FnOnce(Generation) -> Fut,
    Fut: std::future::Future<Output = Result<CoverCommit, E>>,
{
    let (layout_for_write, video_for_write) = (layout.clone(), video.clone());
    let cover = tokio::task::spawn_blocking(move || -> Result<Generation, MediaError> {
        let image = match source {
            CoverSource::Upload { bytes, limits } => decode_upload(&bytes, &limits)?,
            CoverSource::Frame(path) => decode_frame(&path)?,
            CoverSource::BestOf(candidates) => decode_frame(&candidates[pick_best(&candidates)?])?,
        };
        let (cover, dir) = layout_for_write
            .begin_cover(&video_for_write)
            .map_err(storage_error)?;
        if let Err(e) = write_cover_set(&image, &dir) {
            let _ = layout_for_write.remove_cover(&video_for_write, &cover);
            return Err(e);
        }
        Ok(cover)
    })
    .await
    .map_err(|e| MediaError::Io(std::io::Error::other(format!("cover task failed: {e}"))))??;

    match commit(cover.clone()).await? {
        CoverCommit::Replaced { previous } => {
            let old = previous.as_deref().and_then(Generation::parse);
            if let Some(old) = old.filter(|old| *old != cover) {
                remove_cover_set(layout, video, old).await;
            }
            Ok(Some(cover))
        }
        CoverCommit::Refused => {
            remove_cover_set(layout, video, cover).await;
            Ok(None)
        }
    }
}

/// Removes a cover set no row points to; a failure only leaves it for the sweep.
async fn remove_cover_set(layout: &MediaLayout, video: &VideoId, cover: Generation) {
    let (layout, video) = (layout.clone(), video.clone());
    let removed = tokio::task::spawn_blocking(move || layout.remove_cover(&video, &cover)).await;
    match removed {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!("cannot remove an old cover set: {e}"),
        Err(e) => tracing::warn!("cannot remove an old cover set: {e}"),
    }
}

/// Decodes a frame file the pipeline wrote (our own JPEG; the default caps still apply).
fn decode_frame(path: &Path) -> Result<DynamicImage, MediaError> {
    let bytes = fs::read(path)?;
    decode_upload(&bytes, &CoverLimits::default())
}

/// The formats an uploaded cover may have.
enum Accepted {
    Jpeg,
    Png,
    WebP,
}

/// The accepted format of `bytes`, from their magic numbers (never from a name or header).
fn sniff(bytes: &[u8]) -> Result<Accepted, MediaError> {
    match image::guess_format(bytes) {
        Ok(ImageFormat::Jpeg) => Ok(Accepted::Jpeg),
        Ok(ImageFormat::Png) => Ok(Accepted::Png),
        Ok(ImageFormat::WebP) => Ok(Accepted::WebP),
        Ok(other) => {
            let name = other
                .extensions_str()
                .first()
                .map_or_else(|| format!("{other:?}"), |e| e.to_uppercase());
            Err(MediaError::UnsupportedImage(format!(
                "{name} images are not accepted; use {ACCEPTED}"
            )))
        }
        Err(_) => {
            let head = &bytes[..bytes.len().min(1024)];
            let what = if contains(head, b"<svg") || contains(head, b"<SVG") {
                "SVG images are not accepted"
            } else {
                "the file is not an image"
            };
            Err(MediaError::UnsupportedImage(format!(
                "{what}; use {ACCEPTED}"
            )))
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Width and height from a PNG's IHDR chunk, which the format requires to come first.
fn png_dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    // 8-byte signature, then the IHDR chunk: length (4), type (4), width (4), height (4).
    let ihdr = bytes.get(8..24)?;
    if &ihdr[4..8] != b"IHDR" {
        return None;
    }
    let width = u32::from_be_bytes(ihdr[8..12].try_into().ok()?);
    let height = u32::from_be_bytes(ihdr[12..16].try_into().ok()?);
    Some((width, height))
}

/// Refuses a JPEG that stops before its end-of-image marker.
///
/// The JPEG decoder is lenient and fills a truncated scan with grey, which would make a broken
/// upload look accepted. Walks the marker segments up to the first start-of-scan, then requires an
/// EOI marker (`FF D9`) after it: entropy-coded data can never contain that byte pair (a data
/// `FF` is always followed by `00` or a restart marker). Data after the EOI is allowed.
fn check_jpeg_complete(bytes: &[u8]) -> Result<(), MediaError> {
    let truncated = || MediaError::Invalid("the JPEG image is truncated or corrupt".into());
    let mut pos = 2; // after SOI
    loop {
        // Markers may be preceded by any number of fill bytes.
        if *bytes.get(pos).ok_or_else(truncated)? != 0xFF {
            return Err(truncated());
        }
        while bytes.get(pos) == Some(&0xFF) {
            pos += 1;
        }
        let marker = *bytes.get(pos).ok_or_else(truncated)?;
        pos += 1;
        match marker {
            // Standalone markers: TEM, RSTn.
            0x01 | 0xD0..=0xD7 => continue,
            // EOI before any scan: no image data at all.
            0xD9 => return Err(truncated()),
            _ => {}
        }
        let len = bytes.get(pos..pos + 2).ok_or_else(truncated)?;
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        if len < 2 {
            return Err(truncated());
        }
        pos += len;
        if marker == 0xDA {
            break;
        }
    }
    let rest = bytes.get(pos..).ok_or_else(truncated)?;
    if contains(rest, &[0xFF, 0xD9]) {
        Ok(())
    } else {
        Err(truncated())
    }
}

/// Refuses dimensions over the caps (or zero).
fn check_dimensions(width: u32, height: u32, limits: &CoverLimits) -> Result<(), MediaError> {
    if width == 0 || height == 0 {
        return Err(MediaError::Invalid(format!(
            "the image is {width}x{height} pixels; it has no pixels"
        )));
    }
    let pixels = u64::from(width) * u64::from(height);
    if width > limits.max_width || height > limits.max_height || pixels > limits.max_pixels {
        return Err(MediaError::Invalid(format!(
            "the image is {width}x{height} pixels; the limit is {}x{} and {:.1} megapixels",
            limits.max_width,
            limits.max_height,
            limits.max_pixels as f64 / 1e6
        )));
    }
    Ok(())
}

/// The same caps as an [`image::Limits`], the decoder's own second guard.
fn image_limits(limits: &CoverLimits) -> image::Limits {
    let mut l = image::Limits::default();
    l.max_image_width = Some(limits.max_width);
    l.max_image_height = Some(limits.max_height);
    // The output buffer at up to 8 bytes a pixel (16-bit RGBA), plus room for decoder state.
    l.max_alloc = Some(
        limits
            .max_pixels
            .saturating_mul(8)
            .saturating_add(64 * 1024 * 1024),
    );
    l
}

/// Checks the header dimensions (both ways round when the orientation swaps them), then
/// decodes and makes the image upright.
fn finish_decode(
    mut decoder: impl ImageDecoder,
    limits: &CoverLimits,
) -> Result<DynamicImage, MediaError> {
    let (width, height) = decoder.dimensions();
    check_dimensions(width, height, limits)?;
    // A broken EXIF block is not a reason to refuse the picture.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    if matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    ) {
        check_dimensions(height, width, limits)?;
    }
    let image_limits = image_limits(limits);
    if image_limits
        .max_alloc
        .is_some_and(|max| decoder.total_bytes() > max)
    {
        return Err(MediaError::Invalid(format!(
            "the image ({width}x{height}) needs too much memory to decode"
        )));
    }
    decoder.set_limits(image_limits).map_err(decode_error)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(decode_error)?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// Maps a decoding failure to a human message.
fn decode_error(error: ImageError) -> MediaError {
    match error {
        ImageError::Limits(e) => {
            MediaError::Invalid(format!("the image is too large to decode: {e}"))
        }
        ImageError::Unsupported(e) => MediaError::UnsupportedImage(format!(
            "the image uses a feature that cannot be decoded: {e}"
        )),
        ImageError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            MediaError::Invalid("the image is truncated".into())
        }
        other => MediaError::Invalid(format!("the image is corrupt or truncated: {other}")),
    }
}

/// Height for `width` keeping the aspect of `src_w` × `src_h`, rounded, at least 1.
fn scaled_height(src_w: u32, src_h: u32, width: u32) -> u32 {
    let h = (u64::from(src_h) * u64::from(width) + u64::from(src_w) / 2) / u64::from(src_w);
    u32::try_from(h.max(1)).unwrap_or(u32::MAX)
}

/// 8-bit RGB, with any transparency composited onto black.
fn flatten(image: &DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.to_rgb8();
    }
    let rgba = image.to_rgba8();
    let mut rgb = RgbImage::new(rgba.width(), rgba.height());
    for (dst, src) in rgb.pixels_mut().zip(rgba.pixels()) {
        let [r, g, b, a] = src.0;
        let mul = |c: u8| ((u16::from(c) * u16::from(a) + 127) / 255) as u8;
        dst.0 = [mul(r), mul(g), mul(b)];
    }
    rgb
}

/// Encodes `image` as JPEG through the one durable atomic write: a reader sees the old file
/// or the whole new one, and the new one survives a power loss.
fn write_jpeg_atomically(image: &RgbImage, path: &Path) -> Result<(), MediaError> {
    spool_storage::write_atomic_with(path, |file| {
        let mut out = BufWriter::new(file);
        JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)
            .encode_image(image)
            .map_err(|e| match e {
                ImageError::IoError(e) => e,
                other => std::io::Error::other(other),
            })?;
        out.flush()
    })
    .map_err(storage_error)
}

/// How good a frame is as a cover.
#[derive(Debug, Clone, Copy)]
struct FrameScore {
    /// False for nearly black, white or flat frames: they rank below every usable one.
    usable: bool,
    /// Higher is better.
    score: f64,
}

impl FrameScore {
    fn beats(&self, other: &FrameScore) -> bool {
        (self.usable, self.score).partial_cmp(&(other.usable, other.score))
            == Some(std::cmp::Ordering::Greater)
    }
}

/// Longest side of the grayscale copy frames are scored on: the same scale for every candidate.
const ANALYSIS_SIZE: u32 = 512;

fn score_file(path: &Path) -> Result<FrameScore, MediaError> {
    let bytes = fs::read(path)?;
    let image = decode_upload(&bytes, &FRAME_LIMITS)?;
    Ok(score_frame(&image))
}

fn score_frame(image: &DynamicImage) -> FrameScore {
    let luma = image.to_luma8();
    let (w, h) = luma.dimensions();
    let luma = if w.max(h) > ANALYSIS_SIZE {
        let (nw, nh) = if w >= h {
            (ANALYSIS_SIZE, scaled_height(w, h, ANALYSIS_SIZE))
        } else {
            (scaled_height(h, w, ANALYSIS_SIZE), ANALYSIS_SIZE)
        };
        image::imageops::resize(&luma, nw, nh, FilterType::Triangle)
    } else {
        luma
    };
    let (w, h) = (luma.width() as usize, luma.height() as usize);
    let px: Vec<f64> = luma.as_raw().iter().map(|&v| f64::from(v)).collect();
    let n = px.len() as f64;

    let mean = px.iter().sum::<f64>() / n;
    let std_dev = (px.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    let clipped = px.iter().filter(|&&v| !(20.0..=235.0).contains(&v)).count() as f64 / n;

    // Variance of the 4-neighbour Laplacian over the interior.
    let mut lap_sum = 0.0;
    let mut lap_sq = 0.0;
    let mut count = 0.0;
    for y in 1..h.saturating_sub(1) {
        for x in 1..w.saturating_sub(1) {
            let i = y * w + x;
            let l = px[i - 1] + px[i + 1] + px[i - w] + px[i + w] - 4.0 * px[i];
            lap_sum += l;
            lap_sq += l * l;
            count += 1.0;
        }
    }
    let lap_var = if count > 0.0 {
        let m = lap_sum / count;
        (lap_sq / count - m * m).max(0.0)
    } else {
        0.0
    };

    let usable = std_dev >= 6.0 && (16.0..=240.0).contains(&mean) && clipped < 0.97;
    // 1 at mid-grey, falling steeply near black and white.
    let exposure = 1.0 - ((mean - 127.5) / 127.5).powi(4);
    let coverage = 1.0 - 0.75 * clipped;
    let score = ((1.0 + lap_var).ln() + (1.0 + std_dev).ln()) * exposure.max(0.0) * coverage;
    FrameScore { usable, score }
}
