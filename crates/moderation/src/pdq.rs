//! PDQ, Meta's perceptual image hash, bit for bit as the reference C++ in ThreatExchange
//! (`pdq/cpp/hashing/pdqhashing.cpp`, `downscaling.cpp`, `torben.cpp`) computes it: luma,
//! two passes of Jarosz box blurs along rows then columns, decimation to 64x64, the 16x16
//! corner of a DCT, a threshold at the median, and a 0-100 quality from the gradients of the
//! 64x64 image. The eight dihedral variants (rotations and flips) come from the same DCT with
//! sign flips and a transpose, as the reference's `dct16OriginalTo*` do, without hashing again.
//!
//! Every step uses the reference's `f32` arithmetic in the reference's order, so identical
//! pixels give an identical hash and quality (checked against the PyPI package `pdqhash` in
//! `tests/reference.rs`, down to every bit of the DCT on the same luma). Luma is the C++'s
//! `0.299f R + 0.587f G + 0.114f B` in f32; the Python wrapper computes it in f64 and rounds,
//! which differs in the last bit for about a third of the pixels of the test photos and moved
//! no bit of any of their hashes. Different decoders of the same JPEG give slightly different
//! pixels, so there the hashes are only close (Meta's tolerance is 10 bits of 256).
//!
//! Never true: a hash of an image smaller than [`MIN_DIMENSION`] in either direction other
//! than the all-zero hash with quality 0 (the reference's answer for images too small to
//! hash); an image of more than [`MAX_PIXELS`] decoded or hashed.

use std::io::{BufRead, Cursor, Seek};
use std::path::Path;
use std::sync::OnceLock;

use image::{DynamicImage, ImageDecoder, ImageError, ImageReader, Limits};

use crate::hash::PdqHash;

/// Images narrower or shorter than this (in pixels) hash to all zeros with quality 0, as in
/// the reference (`MIN_HASHABLE_DIM`).
pub const MIN_DIMENSION: u32 = 5;

/// The most pixels an image may have to be decoded or hashed here (100 megapixels): a bound
/// on memory (two `f32` planes, 800 MB at the limit) and against decompression bombs.
pub const MAX_PIXELS: u64 = 100_000_000;

/// The largest magnitude [`hash_luma`] accepts. Luma is 0..=255; the bound keeps every sum of
/// the blur and the DCT finite, which the median search needs to end.
pub const MAX_LUMA_MAGNITUDE: f32 = 1.0e30;

/// The most bytes the decoder may allocate for one image (above a 100-megapixel RGBA8 frame).
const MAX_DECODE_ALLOC: u64 = 1 << 30;

/// Side of the downsampled image the DCT reads.
const DOWNSAMPLED: usize = 64;
/// Side of the DCT corner that becomes the hash.
const DCT: usize = 16;
/// Blur passes along rows then columns (`PDQ_NUM_JAROSZ_XY_PASSES`).
const JAROSZ_PASSES: usize = 2;

// The reference declares these `const float x = 0.299;`: the double literal rounded to f32.
const LUMA_FROM_R: f32 = 0.299_f64 as f32;
const LUMA_FROM_G: f32 = 0.587_f64 as f32;
const LUMA_FROM_B: f32 = 0.114_f64 as f32;

/// A PDQ hash with the quality of the image it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PdqOutput {
    /// The 256-bit hash.
    pub hash: PdqHash,
    /// 0 (flat, the hash means little; Meta suggests ignoring hashes under 50) to 100.
    pub quality: u8,
}

/// The 16x16 DCT coefficients a PDQ hash thresholds (Meta's "PDQF", the reference's
/// `pdqFloat256FromFloatLuma`), with the image's quality.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PdqFloat {
    /// Coefficient `16 i + j` is row `i`, column `j` (frequencies `i + 1`, `j + 1`): the
    /// numbering of the hash's bits.
    pub coefficients: [f32; 256],
    /// 0..=100, as in [`PdqOutput::quality`].
    pub quality: u8,
}

/// One of the eight symmetries of a square image, in the order of the reference's
/// `pdqDihedralHash256esFromFloatLuma` (and of [`PdqDihedral::hashes`]). Each names the
/// transform applied to the image whose hash the variant is: the variant equals, up to a few
/// bits of resampling, the hash of the image so transformed (checked in `tests/reference.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dihedral {
    /// The image as it is.
    Original = 0,
    /// Turned a quarter counter-clockwise.
    Rotate90 = 1,
    /// Turned a half.
    Rotate180 = 2,
    /// Turned a quarter clockwise.
    Rotate270 = 3,
    /// Mirrored top to bottom (the reference's `FlipX`: the rows' order is reversed).
    FlipX = 4,
    /// Mirrored left to right (the reference's `FlipY`: the columns' order is reversed).
    FlipY = 5,
    /// Transposed, mirrored about the main diagonal (the reference's `FlipPlus1`).
    Transpose = 6,
    /// Mirrored about the anti-diagonal (the reference's `FlipMinus1`).
    Transverse = 7,
}

impl Dihedral {
    /// All eight, in index order.
    pub const ALL: [Dihedral; 8] = [
        Dihedral::Original,
        Dihedral::Rotate90,
        Dihedral::Rotate180,
        Dihedral::Rotate270,
        Dihedral::FlipX,
        Dihedral::FlipY,
        Dihedral::Transpose,
        Dihedral::Transverse,
    ];

    /// A short name (`rotate90`, `flip_x`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Dihedral::Original => "original",
            Dihedral::Rotate90 => "rotate90",
            Dihedral::Rotate180 => "rotate180",
            Dihedral::Rotate270 => "rotate270",
            Dihedral::FlipX => "flip_x",
            Dihedral::FlipY => "flip_y",
            Dihedral::Transpose => "transpose",
            Dihedral::Transverse => "transverse",
        }
    }

    /// Where the DCT coefficient at (`row`, `col`) of the original goes in this variant, and
    /// whether it changes sign: the reference's `dct16OriginalTo*` tables. Coefficient `i` is
    /// frequency `i + 1`, so even indices are odd cosines, which a mirror negates.
    fn map(self, row: usize, col: usize) -> (usize, usize, bool) {
        let odd = |x: usize| x & 1 == 1;
        match self {
            Dihedral::Original => (row, col, false),
            Dihedral::Rotate90 => (col, row, !odd(col)),
            Dihedral::Rotate180 => (row, col, odd(row + col)),
            Dihedral::Rotate270 => (col, row, !odd(row)),
            Dihedral::FlipX => (row, col, !odd(row)),
            Dihedral::FlipY => (row, col, !odd(col)),
            Dihedral::Transpose => (col, row, false),
            Dihedral::Transverse => (col, row, odd(row + col)),
        }
    }
}

/// The eight dihedral variants of one image's hash, indexed by [`Dihedral`] as `usize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PdqDihedral {
    /// The hashes in [`Dihedral::ALL`] order: original, rotate 90, rotate 180, rotate 270,
    /// flip x, flip y, transpose, transverse.
    pub hashes: [PdqHash; 8],
    /// The image's quality, 0..=100, as in [`PdqOutput::quality`].
    pub quality: u8,
}

impl PdqDihedral {
    /// The variant for `which`.
    pub fn get(&self, which: Dihedral) -> PdqHash {
        self.hashes[which as usize]
    }

    /// The smallest distance from `other` to any of the eight variants: how far `other` is
    /// from this image turned or mirrored in whichever way fits best.
    pub fn distance(&self, other: &PdqHash) -> u32 {
        self.hashes
            .iter()
            .map(|h| h.distance(other))
            .min()
            .unwrap_or(PdqHash::BITS)
    }
}

/// Why an image could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum PdqError {
    /// Zero pixels wide or high.
    #[error("the image is empty ({width}x{height} pixels)")]
    Empty {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// More pixels than [`MAX_PIXELS`], or more memory than the decoder may take.
    #[error("the image is {width}x{height} pixels, more than the 100 megapixels hashed here")]
    TooLarge {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// The pixel buffer does not hold width x height pixels.
    #[error("a {width}x{height} image needs {expected} values, the buffer has {actual}")]
    BufferLength {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// Values needed (3 per pixel for RGB, 1 for luma).
        expected: usize,
        /// Values given.
        actual: usize,
    },
    /// A luma value that is not finite or is beyond [`MAX_LUMA_MAGNITUDE`].
    #[error("luma value {value} at index {index} is not a finite number within ±1e30")]
    InvalidLuma {
        /// Index into the buffer.
        index: usize,
        /// The value.
        value: f32,
    },
    /// Not a JPEG, PNG or WebP image the decoder could read.
    #[error("the image could not be decoded as JPEG, PNG or WebP: {0}")]
    Undecodable(#[source] ImageError),
    /// Reading the file failed.
    #[error("reading the image: {0}")]
    Io(#[from] std::io::Error),
}

impl PdqError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            PdqError::Empty { .. } => "empty_image",
            PdqError::TooLarge { .. } => "image_too_large",
            PdqError::BufferLength { .. } => "buffer_length",
            PdqError::InvalidLuma { .. } => "invalid_luma",
            PdqError::Undecodable(_) => "undecodable_image",
            PdqError::Io(_) => "io_error",
        }
    }
}

/// The PDQ hash and quality of a `width` x `height` image of packed 8-bit RGB, row-major
/// (`3 * width * height` bytes, no row padding).
pub fn hash_rgb(width: u32, height: u32, rgb: &[u8]) -> Result<PdqOutput, PdqError> {
    let luma = luma_from_rgb(width, height, rgb)?;
    Ok(hash_plane(Plane::new(width, height, luma)))
}

/// The eight dihedral variants and the quality of a packed RGB image, as [`hash_rgb`] reads
/// it. `hashes[0]` is [`hash_rgb`]'s hash, except for a 64x64 image, which the reference's
/// plain hash takes as already downsampled while its dihedral hash blurs it all the same.
pub fn hash_rgb_dihedral(width: u32, height: u32, rgb: &[u8]) -> Result<PdqDihedral, PdqError> {
    let luma = luma_from_rgb(width, height, rgb)?;
    Ok(dihedral_plane(Plane::new(width, height, luma)))
}

/// The PDQ hash and quality of a `width` x `height` plane of luma (row-major, nominally
/// 0.0..=255.0), the reference's `pdqHash256FromFloatLuma`. A 64x64 plane is taken as
/// already downsampled (no blur), as there.
pub fn hash_luma(width: u32, height: u32, luma: &[f32]) -> Result<PdqOutput, PdqError> {
    let plane = checked_luma(width, height, luma)?;
    Ok(hash_plane(plane))
}

/// The eight dihedral variants and the quality of a luma plane, the reference's
/// `pdqDihedralHash256esFromFloatLuma` (which blurs a 64x64 plane too).
pub fn hash_luma_dihedral(width: u32, height: u32, luma: &[f32]) -> Result<PdqDihedral, PdqError> {
    let plane = checked_luma(width, height, luma)?;
    Ok(dihedral_plane(plane))
}

/// The unthresholded DCT of a luma plane, the reference's `pdqFloat256FromFloatLuma`: a
/// 64x64 plane is taken as already downsampled, and unlike the hash there is no minimum size
/// (a plane smaller than [`MIN_DIMENSION`] gets coefficients, where its hash is all zeros).
pub fn hash_luma_float(width: u32, height: u32, luma: &[f32]) -> Result<PdqFloat, PdqError> {
    let small = downsample_or_take(checked_luma(width, height, luma)?);
    let dct = dct64_to_16(&small);
    let mut coefficients = [0.0f32; 256];
    for (c, v) in coefficients.iter_mut().zip(dct.iter().flatten()) {
        *c = *v;
    }
    Ok(PdqFloat {
        coefficients,
        quality: quality(&small),
    })
}

/// Decodes a JPEG, PNG or WebP file (by its content, not its name) to RGB and hashes it.
/// Alpha is dropped, 16-bit channels are rounded to 8; refuses images over [`MAX_PIXELS`]
/// before decoding their pixels.
pub fn hash_file(path: impl AsRef<Path>) -> Result<PdqOutput, PdqError> {
    let (width, height, rgb) = decode(ImageReader::open(path)?)?;
    hash_rgb(width, height, &rgb)
}

/// [`hash_file`]'s decoding, then the eight dihedral variants.
pub fn hash_file_dihedral(path: impl AsRef<Path>) -> Result<PdqDihedral, PdqError> {
    let (width, height, rgb) = decode(ImageReader::open(path)?)?;
    hash_rgb_dihedral(width, height, &rgb)
}

/// [`hash_file`] for an encoded image already in memory.
pub fn hash_encoded(bytes: &[u8]) -> Result<PdqOutput, PdqError> {
    let (width, height, rgb) = decode(ImageReader::new(Cursor::new(bytes)))?;
    hash_rgb(width, height, &rgb)
}

/// Decodes to packed RGB8 within the limits: the format from the content, the size from the
/// header before any pixel is decoded.
fn decode<R: BufRead + Seek>(reader: ImageReader<R>) -> Result<(u32, u32, Vec<u8>), PdqError> {
    let mut reader = reader.with_guessed_format()?;
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    reader.limits(limits);
    let decoder = reader.into_decoder().map_err(image_error)?;
    let (width, height) = decoder.dimensions();
    check_size(width, height)?;
    let image = DynamicImage::from_decoder(decoder).map_err(|e| match e {
        ImageError::Limits(_) => PdqError::TooLarge { width, height },
        other => image_error(other),
    })?;
    let rgb = image.into_rgb8();
    Ok((rgb.width(), rgb.height(), rgb.into_raw()))
}

/// A decoder's complaint as ours: a file that ends early or holds nonsense is undecodable
/// (the decoders report those as I/O errors), a read that failed is I/O.
fn image_error(e: ImageError) -> PdqError {
    match e {
        ImageError::IoError(io)
            if !matches!(
                io.kind(),
                std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidData
            ) =>
        {
            PdqError::Io(io)
        }
        other => PdqError::Undecodable(other),
    }
}

/// Width and height as counts, once they are known to be non-zero and within the limit.
fn check_size(width: u32, height: u32) -> Result<(usize, usize), PdqError> {
    if width == 0 || height == 0 {
        return Err(PdqError::Empty { width, height });
    }
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(PdqError::TooLarge { width, height });
    }
    // Both fit: their product is at most MAX_PIXELS.
    Ok((width as usize, height as usize))
}

/// The reference's `fillFloatLumaFromRGB`: `0.299 R + 0.587 G + 0.114 B` in f32, summed left
/// to right.
fn luma_from_rgb(width: u32, height: u32, rgb: &[u8]) -> Result<Vec<f32>, PdqError> {
    let (w, h) = check_size(width, height)?;
    let expected = 3 * w * h;
    if rgb.len() != expected {
        return Err(PdqError::BufferLength {
            width,
            height,
            expected,
            actual: rgb.len(),
        });
    }
    Ok(rgb
        .chunks_exact(3)
        .map(|p| {
            LUMA_FROM_R * f32::from(p[0])
                + LUMA_FROM_G * f32::from(p[1])
                + LUMA_FROM_B * f32::from(p[2])
        })
        .collect())
}

fn checked_luma(width: u32, height: u32, luma: &[f32]) -> Result<Plane, PdqError> {
    let (w, h) = check_size(width, height)?;
    if luma.len() != w * h {
        return Err(PdqError::BufferLength {
            width,
            height,
            expected: w * h,
            actual: luma.len(),
        });
    }
    if let Some((index, &value)) = luma
        .iter()
        .enumerate()
        .find(|(_, v)| !v.is_finite() || v.abs() > MAX_LUMA_MAGNITUDE)
    {
        return Err(PdqError::InvalidLuma { index, value });
    }
    Ok(Plane::new(width, height, luma.to_vec()))
}

/// A luma plane, row-major, of a size already checked.
struct Plane {
    width: usize,
    height: usize,
    data: Vec<f32>,
}

impl Plane {
    fn new(width: u32, height: u32, data: Vec<f32>) -> Self {
        Plane {
            width: width as usize,
            height: height as usize,
            data,
        }
    }

    fn too_small(&self) -> bool {
        self.width < MIN_DIMENSION as usize || self.height < MIN_DIMENSION as usize
    }
}

type Square64 = [[f32; DOWNSAMPLED]; DOWNSAMPLED];
type Square16 = [[f32; DCT]; DCT];

/// `pdqHash256FromFloatLuma`.
fn hash_plane(plane: Plane) -> PdqOutput {
    if plane.too_small() {
        return PdqOutput {
            hash: PdqHash([0; 32]),
            quality: 0,
        };
    }
    let small = downsample_or_take(plane);
    let dct = dct64_to_16(&small);
    PdqOutput {
        hash: bits_from_dct(&dct),
        quality: quality(&small),
    }
}

/// `pdqDihedralHash256esFromFloatLuma`: always blurs and decimates, then one DCT, eight
/// thresholds.
fn dihedral_plane(plane: Plane) -> PdqDihedral {
    if plane.too_small() {
        return PdqDihedral {
            hashes: [PdqHash([0; 32]); 8],
            quality: 0,
        };
    }
    let small = downsample(plane);
    let dct = dct64_to_16(&small);
    let mut hashes = [PdqHash([0; 32]); 8];
    for (hash, which) in hashes.iter_mut().zip(Dihedral::ALL) {
        *hash = bits_from_dct(&transform_dct(&dct, which));
    }
    PdqDihedral {
        hashes,
        quality: quality(&small),
    }
}

/// [`downsample`], except that a 64x64 plane is taken as it is (the reference's shortcut in
/// `pdqFloat256FromFloatLuma`, for video frames that ffmpeg already scaled).
fn downsample_or_take(plane: Plane) -> Square64 {
    if plane.width != DOWNSAMPLED || plane.height != DOWNSAMPLED {
        return downsample(plane);
    }
    let mut small = [[0.0; DOWNSAMPLED]; DOWNSAMPLED];
    for (row, src) in small.iter_mut().zip(plane.data.chunks_exact(DOWNSAMPLED)) {
        row.copy_from_slice(src);
    }
    small
}

/// The reference's `computeJaroszFilterWindowSize(old, 64)`: half of a 64th, rounded up.
fn jarosz_window(old: usize) -> usize {
    old.div_ceil(2 * DOWNSAMPLED)
}

/// `jaroszFilterFloat` (two passes of box blurs, rows then columns) and `decimateFloat`
/// (the pixel at each 64th's centre).
fn downsample(plane: Plane) -> Square64 {
    let Plane {
        width,
        height,
        mut data,
    } = plane;
    let mut scratch = vec![0.0f32; data.len()];
    let mut sums = vec![0.0f32; width];
    let window_along_rows = jarosz_window(width);
    let window_along_cols = jarosz_window(height);
    for _ in 0..JAROSZ_PASSES {
        for (src, dst) in data
            .chunks_exact(width)
            .zip(scratch.chunks_exact_mut(width))
        {
            box_1d(src, dst, window_along_rows);
        }
        box_columns(
            &scratch,
            &mut data,
            width,
            height,
            window_along_cols,
            &mut sums,
        );
    }
    let mut small = [[0.0; DOWNSAMPLED]; DOWNSAMPLED];
    for (i, row) in small.iter_mut().enumerate() {
        let src = centre(i, height) * width;
        for (j, out) in row.iter_mut().enumerate() {
            *out = data[src + centre(j, width)];
        }
    }
    small
}

/// `decimateFloat`'s source index for output `i` of 64: `(int)(((i + 0.5) * n) / 64)`.
fn centre(i: usize, n: usize) -> usize {
    (((i as f64 + 0.5) * n as f64) / DOWNSAMPLED as f64) as usize
}

/// How the reference's `box1DFloat` splits a vector of `len` with window `window` into its
/// four phases: adds without writes, writes of a growing window, writes of the full window,
/// writes of a shrinking window.
struct BoxPhases {
    grow_silent: usize,
    grow: usize,
    full: usize,
    shrink: usize,
}

impl BoxPhases {
    fn new(len: usize, window: usize) -> Self {
        // window = ceil(len / 128) <= len for len >= 1, so `full` cannot underflow.
        let half = (window + 2) / 2;
        BoxPhases {
            grow_silent: half - 1,
            grow: window - half + 1,
            full: len - window,
            shrink: half - 1,
        }
    }
}

/// `box1DFloat` on a contiguous vector: a running f32 sum, added to before it is subtracted
/// from, divided by the count of the window's samples inside the vector.
fn box_1d(input: &[f32], output: &mut [f32], window: usize) {
    let phases = BoxPhases::new(input.len(), window);
    let mut sum = 0.0f32;
    let mut count = 0usize;
    let (mut left, mut right, mut out) = (0, 0, 0);
    for _ in 0..phases.grow_silent {
        sum += input[right];
        count += 1;
        right += 1;
    }
    for _ in 0..phases.grow {
        sum += input[right];
        count += 1;
        output[out] = sum / count as f32;
        right += 1;
        out += 1;
    }
    for _ in 0..phases.full {
        sum += input[right];
        sum -= input[left];
        output[out] = sum / count as f32;
        left += 1;
        right += 1;
        out += 1;
    }
    for _ in 0..phases.shrink {
        sum -= input[left];
        count -= 1;
        output[out] = sum / count as f32;
        left += 1;
        out += 1;
    }
}

/// `boxAlongColsFloat`: [`box_1d`] down every column, the same operations on each column's
/// own running sum in the same order, swept a row at a time (all columns together) so the
/// memory is read in order.
fn box_columns(
    input: &[f32],
    output: &mut [f32],
    width: usize,
    height: usize,
    window: usize,
    sums: &mut [f32],
) {
    let phases = BoxPhases::new(height, window);
    let row = |r: usize| &input[r * width..(r + 1) * width];
    sums.fill(0.0);
    let mut count = 0usize;
    let (mut left, mut right, mut out) = (0, 0, 0);
    for _ in 0..phases.grow_silent {
        for (s, x) in sums.iter_mut().zip(row(right)) {
            *s += x;
        }
        count += 1;
        right += 1;
    }
    for _ in 0..phases.grow {
        count += 1;
        let n = count as f32;
        let dst = &mut output[out * width..(out + 1) * width];
        for ((s, x), o) in sums.iter_mut().zip(row(right)).zip(dst) {
            *s += x;
            *o = *s / n;
        }
        right += 1;
        out += 1;
    }
    for _ in 0..phases.full {
        let n = count as f32;
        let dst = &mut output[out * width..(out + 1) * width];
        for (((s, x), y), o) in sums.iter_mut().zip(row(right)).zip(row(left)).zip(dst) {
            *s += x;
            *s -= y;
            *o = *s / n;
        }
        left += 1;
        right += 1;
        out += 1;
    }
    for _ in 0..phases.shrink {
        count -= 1;
        let n = count as f32;
        let dst = &mut output[out * width..(out + 1) * width];
        for ((s, y), o) in sums.iter_mut().zip(row(left)).zip(dst) {
            *s -= y;
            *o = *s / n;
        }
        left += 1;
        out += 1;
    }
}

/// The reference's `dct_matrix_64`: rows 1..=16 of the 64-point DCT-II,
/// `(float)((double)sqrt(2/64)f * cos(pi / 2 / 64 * (i + 1) * (2j + 1)))`.
fn dct_matrix() -> &'static [[f32; DOWNSAMPLED]; DCT] {
    static MATRIX: OnceLock<[[f32; DOWNSAMPLED]; DCT]> = OnceLock::new();
    MATRIX.get_or_init(|| {
        let scale = (2.0 / DOWNSAMPLED as f64).sqrt() as f32;
        let mut m = [[0.0f32; DOWNSAMPLED]; DCT];
        for (i, row) in m.iter_mut().enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                let angle = (std::f64::consts::PI / 2.0 / DOWNSAMPLED as f64)
                    * (i + 1) as f64
                    * (2 * j + 1) as f64;
                *v = (f64::from(scale) * angle.cos()) as f32;
            }
        }
        m
    })
}

/// `dct64To16`: `D A D^T` with `D` the 16x64 matrix, each sum in f32 from 0 in index order.
fn dct64_to_16(a: &Square64) -> Square16 {
    let d = dct_matrix();
    let mut t = [[0.0f32; DOWNSAMPLED]; DCT];
    for (t_row, d_row) in t.iter_mut().zip(d) {
        for (j, t_ij) in t_row.iter_mut().enumerate() {
            let mut sum = 0.0f32;
            for (d_ik, a_row) in d_row.iter().zip(a) {
                sum += d_ik * a_row[j];
            }
            *t_ij = sum;
        }
    }
    let mut b = [[0.0f32; DCT]; DCT];
    for (b_row, t_row) in b.iter_mut().zip(&t) {
        for (b_ij, d_row) in b_row.iter_mut().zip(d) {
            let mut sum = 0.0f32;
            for (t_ik, d_jk) in t_row.iter().zip(d_row) {
                sum += t_ik * d_jk;
            }
            *b_ij = sum;
        }
    }
    b
}

/// One `dct16OriginalTo*`: the DCT of the transformed image from the original's.
fn transform_dct(a: &Square16, which: Dihedral) -> Square16 {
    let mut b = [[0.0f32; DCT]; DCT];
    for (i, row) in a.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            let (r, c, negate) = which.map(i, j);
            b[r][c] = if negate { -v } else { v };
        }
    }
    b
}

/// `pdqBuffer16x16ToBits`: bit `16 i + j` is set when coefficient (i, j) is above the
/// median.
fn bits_from_dct(dct: &Square16) -> PdqHash {
    let flat: Vec<f32> = dct.iter().flatten().copied().collect();
    let median = torben_median(&flat);
    let mut hash = PdqHash([0; 32]);
    for (k, &v) in flat.iter().enumerate() {
        if v > median {
            hash.set_bit(k);
        }
    }
    hash
}

/// Torben Mogensen's median (N. Devillard's implementation, the reference's `torben`): for an
/// even count, the lower middle value. Bisects on values between the current bounds; every
/// round that does not stop moves a bound to a value strictly inside them, so with finite
/// values (no overflow in `(min + max) / 2`) it ends.
fn torben_median(m: &[f32]) -> f32 {
    let n = m.len();
    let half = n.div_ceil(2);
    let (mut min, mut max) = (m[0], m[0]);
    for &v in &m[1..] {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
    }
    loop {
        let guess = (min + max) / 2.0;
        let (mut less, mut greater, mut equal) = (0usize, 0usize, 0usize);
        let (mut max_lt_guess, mut min_gt_guess) = (min, max);
        for &v in m {
            if v < guess {
                less += 1;
                if v > max_lt_guess {
                    max_lt_guess = v;
                }
            } else if v > guess {
                greater += 1;
                if v < min_gt_guess {
                    min_gt_guess = v;
                }
            } else {
                equal += 1;
            }
        }
        if less <= half && greater <= half {
            return if less >= half {
                max_lt_guess
            } else if less + equal >= half {
                guess
            } else {
                min_gt_guess
            };
        } else if less > greater {
            max = max_lt_guess;
        } else {
            min = min_gt_guess;
        }
    }
}

/// `pdqImageDomainQualityMetric`: the sum of `|(int)((u - v) * 100 / 255)|` over vertical and
/// horizontal neighbours of the 64x64 image, divided by 90, at most 100.
fn quality(a: &Square64) -> u8 {
    // i64 and a saturating cast: the same as the reference's int for luma in 0..=255 (at most
    // 100 per step, 8064 steps), and no overflow for extreme luma.
    let step = |u: f32, v: f32| i64::from((((u - v) * 100.0) / 255.0) as i32).abs();
    let mut gradient_sum = 0i64;
    for (upper, lower) in a.iter().zip(&a[1..]) {
        for (&u, &v) in upper.iter().zip(lower) {
            gradient_sum += step(u, v);
        }
    }
    for row in a {
        for (&u, &v) in row.iter().zip(&row[1..]) {
            gradient_sum += step(u, v);
        }
    }
    // At most 100, so it fits.
    (gradient_sum / 90).min(100) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A smooth, non-symmetric test image: RGB of a few low frequencies.
    fn pattern(width: u32, height: u32) -> Vec<u8> {
        let mut rgb = Vec::with_capacity(3 * (width * height) as usize);
        for y in 0..height {
            for x in 0..width {
                let (fx, fy) = (x as f32 / width as f32, y as f32 / height as f32);
                let v = 128.0 + 60.0 * (5.0 * fx + 2.0 * fy * fy).sin() + 50.0 * (7.0 * fy).cos();
                let g = 128.0 + 90.0 * (3.0 * fx * fy + fx).sin();
                rgb.extend_from_slice(&[v as u8, g as u8, (255.0 * fx) as u8]);
            }
        }
        rgb
    }

    fn check_error(width: u32, height: u32, len: usize, code: &str) {
        let err = hash_rgb(width, height, &vec![0; len]).unwrap_err();
        assert_eq!(err.code(), code, "{width}x{height}, {len} bytes: {err}");
        let err = hash_rgb_dihedral(width, height, &vec![0; len]).unwrap_err();
        assert_eq!(err.code(), code, "{width}x{height}, {len} bytes: {err}");
    }

    #[test]
    fn bad_buffers_and_sizes_are_errors() {
        check_error(4, 4, 47, "buffer_length");
        check_error(4, 4, 49, "buffer_length");
        check_error(4, 4, 16, "buffer_length");
        check_error(0, 4, 0, "empty_image");
        check_error(4, 0, 0, "empty_image");
        check_error(10_001, 10_000, 0, "image_too_large");
        check_error(u32::MAX, u32::MAX, 0, "image_too_large");
        let err = hash_luma(2, 2, &[0.0; 3]).unwrap_err();
        assert_eq!(err.code(), "buffer_length");
        assert_eq!(
            err.to_string(),
            "a 2x2 image needs 4 values, the buffer has 3"
        );
        for bad in [f32::NAN, f32::INFINITY, -f32::INFINITY, 2e30] {
            let err = hash_luma(2, 2, &[0.0, 1.0, bad, 3.0]).unwrap_err();
            assert!(
                matches!(err, PdqError::InvalidLuma { index: 2, .. }),
                "{err}"
            );
        }
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    /// A PNG claiming `width` x `height` RGB8 whose image data is a few bytes of nonsense.
    fn png_header(width: u32, height: u32) -> Vec<u8> {
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut chunk = |kind: &[u8], data: &[u8]| {
            let mut body = kind.to_vec();
            body.extend_from_slice(data);
            png.extend_from_slice(&(data.len() as u32).to_be_bytes());
            png.extend_from_slice(&body);
            png.extend_from_slice(&crc32(&body).to_be_bytes());
        };
        let mut header = width.to_be_bytes().to_vec();
        header.extend_from_slice(&height.to_be_bytes());
        header.extend_from_slice(&[8, 2, 0, 0, 0]);
        chunk(b"IHDR", &header);
        chunk(b"IDAT", &[0x78, 0x9c, 0xde, 0xad, 0xbe, 0xef]);
        chunk(b"IEND", &[]);
        png
    }

    #[test]
    fn encoded_images_decode_and_bad_ones_are_typed_errors() {
        let (w, h) = (120, 90);
        let rgb = pattern(w, h);
        let mut png = Vec::new();
        image::RgbImage::from_raw(w, h, rgb.clone())
            .unwrap()
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        assert_eq!(hash_encoded(&png).unwrap(), hash_rgb(w, h, &rgb).unwrap());

        let check = |bytes: &[u8], code: &str| {
            let err = hash_encoded(bytes).unwrap_err();
            assert_eq!(err.code(), code, "{err}");
        };
        check(b"", "undecodable_image");
        check(&png[..png.len() / 2], "undecodable_image");
        check(b"not an image at all", "undecodable_image");
        // GIF is not among the formats decoded here.
        check(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "undecodable_image");
        // A header for 2.5 gigapixels is refused before any pixel is decoded.
        check(&png_header(50_000, 50_000), "image_too_large");
        check(&png_header(10_001, 10_000), "image_too_large");
        // Within the limit, the missing pixel data is what fails.
        check(&png_header(100, 100), "undecodable_image");
        let err = hash_file("/nonexistent/spool/image.png").unwrap_err();
        assert_eq!(err.code(), "io_error", "{err}");
    }

    #[test]
    fn tiny_images_hash_to_zero_with_quality_zero() {
        for (w, h) in [(1, 1), (2, 3), (4, 100), (100, 4)] {
            let rgb = pattern(w, h);
            let out = hash_rgb(w, h, &rgb).unwrap();
            assert_eq!(out.hash, PdqHash([0; 32]), "{w}x{h}");
            assert_eq!(out.quality, 0, "{w}x{h}");
            let all = hash_rgb_dihedral(w, h, &rgb).unwrap();
            assert_eq!(all.hashes, [PdqHash([0; 32]); 8], "{w}x{h}");
            assert_eq!(all.quality, 0);
        }
        // The smallest hashable size hashes for real.
        let out = hash_rgb(5, 5, &pattern(5, 5)).unwrap();
        assert_ne!(out.hash, PdqHash([0; 32]));
    }

    #[test]
    fn a_uniform_image_has_quality_zero() {
        for (w, h, value) in [(64, 64, 0), (200, 100, 77), (1000, 7, 255)] {
            let rgb = vec![value; 3 * w * h];
            let out = hash_rgb(w as u32, h as u32, &rgb).unwrap();
            assert_eq!(out.quality, 0, "{w}x{h} of {value}");
        }
    }

    #[test]
    fn a_structured_image_has_quality_and_its_variants_differ() {
        let (w, h) = (320, 180);
        let out = hash_rgb(w, h, &pattern(w, h)).unwrap();
        assert!(out.quality > 0);
        let all = hash_rgb_dihedral(w, h, &pattern(w, h)).unwrap();
        assert_eq!(all.get(Dihedral::Original), out.hash);
        assert_eq!(all.quality, out.quality);
        for (i, a) in all.hashes.iter().enumerate() {
            // Half the bits are set: the threshold is the median of 256 distinct values.
            let ones: u32 = a.words().iter().map(|w| w.count_ones()).sum();
            assert_eq!(ones, 128, "variant {i}");
            for b in &all.hashes[i + 1..] {
                assert!(a.distance(b) > 31, "variants {a} and {b}");
            }
        }
        assert_eq!(all.distance(&all.hashes[5]), 0);
    }

    #[test]
    fn luma_matches_the_rgb_path() {
        let (w, h) = (97, 203);
        let rgb = pattern(w, h);
        let luma = luma_from_rgb(w, h, &rgb).unwrap();
        assert_eq!(
            hash_luma(w, h, &luma).unwrap(),
            hash_rgb(w, h, &rgb).unwrap()
        );
        assert_eq!(
            hash_luma_dihedral(w, h, &luma).unwrap(),
            hash_rgb_dihedral(w, h, &rgb).unwrap()
        );
    }

    #[test]
    fn box_filter_phases_cover_the_vector() {
        for len in 1..300 {
            let window = jarosz_window(len);
            let p = BoxPhases::new(len, window);
            assert_eq!(p.grow + p.full + p.shrink, len, "writes, len {len}");
            assert_eq!(p.grow_silent + p.grow + p.full, len, "reads, len {len}");
        }
        let input: Vec<f32> = (0..16).map(|i| i as f32).collect();
        let mut out = vec![0.0; 16];
        // The reference's worked example for a window of 7 (sums 6, 10, 15, ... 54).
        box_1d(&input, &mut out, 7);
        let sums = [
            6, 10, 15, 21, 28, 35, 42, 49, 56, 63, 70, 77, 84, 75, 65, 54,
        ];
        let counts = [4, 5, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 5, 4];
        for ((o, s), c) in out.iter().zip(sums).zip(counts) {
            assert_eq!(*o, s as f32 / c as f32);
        }
    }

    #[test]
    fn columns_are_boxed_as_the_one_dimensional_filter_does() {
        let (w, h) = (7, 300);
        let input: Vec<f32> = (0..w * h).map(|i| ((i * 37) % 251) as f32 * 0.37).collect();
        let mut out = vec![0.0; w * h];
        let mut sums = vec![0.0; w];
        box_columns(&input, &mut out, w, h, 3, &mut sums);
        for c in 0..w {
            let column: Vec<f32> = (0..h).map(|r| input[r * w + c]).collect();
            let mut expect = vec![0.0; h];
            box_1d(&column, &mut expect, 3);
            let got: Vec<f32> = (0..h).map(|r| out[r * w + c]).collect();
            assert_eq!(got, expect, "column {c}");
        }
    }

    #[test]
    fn torben_is_the_lower_median() {
        let check = |values: &[f32], expect: f32| {
            assert_eq!(torben_median(values), expect, "{values:?}");
        };
        check(&[1.0], 1.0);
        check(&[2.0, 1.0], 1.0);
        check(&[3.0, 1.0, 2.0], 2.0);
        check(&[4.0, 1.0, 3.0, 2.0], 2.0);
        check(&[5.0, 5.0, 5.0, 5.0], 5.0);
        check(&[-1.0, 1e20, -1e20, 0.5, 0.25], 0.25);
        let many: Vec<f32> = (0..256).map(|i| ((i * 97) % 256) as f32).collect();
        check(&many, 127.0);
    }

    #[test]
    fn dihedral_tables_compose_as_the_group_does() {
        // Applying a transform's table to an index grid and checking rotations compose:
        // rotate90 twice is rotate180, and thrice rotate270.
        let mut a = [[0.0f32; DCT]; DCT];
        for (i, row) in a.iter_mut().enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = (i * DCT + j + 1) as f32;
            }
        }
        let r90 = |m: &Square16| transform_dct(m, Dihedral::Rotate90);
        assert_eq!(r90(&r90(&a)), transform_dct(&a, Dihedral::Rotate180));
        assert_eq!(r90(&r90(&r90(&a))), transform_dct(&a, Dihedral::Rotate270));
        assert_eq!(r90(&r90(&r90(&r90(&a)))), a);
        let fx = transform_dct(&a, Dihedral::FlipX);
        assert_eq!(transform_dct(&fx, Dihedral::FlipX), a);
        // Transverse is the transpose turned a half.
        assert_eq!(
            transform_dct(&transform_dct(&a, Dihedral::Transpose), Dihedral::Rotate180),
            transform_dct(&a, Dihedral::Transverse)
        );
    }
}
