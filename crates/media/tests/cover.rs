//! Cover images: upload validation, choice of the best frame, the standard sizes on disk.
//!
//! Inputs are made with the `image` crate (or crafted byte by byte for hostile ones).

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{DynamicImage, GenericImageView, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};
use spool_media::MediaError;
use spool_media::cover::{COVER_WIDTHS, CoverLimits, decode_upload, pick_best, write_cover_set};

// ---------------------------------------------------------------------------------------------
// Making inputs

/// A small deterministic pseudo-random generator (xorshift), so tests need no `rand`.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn byte(&mut self) -> u8 {
        (self.next() >> 32) as u8
    }
}

/// A detailed mid-tone picture: stripes, a gradient, sharp blocks and noise.
fn textured(width: u32, height: u32, seed: u64) -> RgbImage {
    let mut noise = Noise(seed | 1);
    RgbImage::from_fn(width, height, |x, y| {
        let block = ((x / 8 + y / 8) % 2) as i32 * 60;
        let stripes = (((x as f32) * 0.7).sin() * 30.0) as i32;
        let grad = (x * 60 / width.max(1)) as i32;
        let n = i32::from(noise.byte() % 40);
        let v = |off: i32| (60 + block + stripes + grad + n + off).clamp(0, 255) as u8;
        Rgb([v(0), v(10), v(-10)])
    })
}

/// Left half red, right half blue: shows whether the picture survived resizing unmirrored.
fn halves(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, _| {
        if x < width / 2 {
            Rgb([220, 20, 20])
        } else {
            Rgb([20, 20, 220])
        }
    })
}

fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).expect("encode test image");
    out.into_inner()
}

fn save_jpeg(dir: &Path, name: &str, image: &RgbImage) -> PathBuf {
    let path = dir.join(name);
    fs_write(
        &path,
        &encode(&DynamicImage::ImageRgb8(image.clone()), ImageFormat::Jpeg),
    );
    path
}

fn fs_write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).expect("write test file");
}

/// CRC-32 (IEEE), as PNG chunks need.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32(&body).to_be_bytes());
}

/// A well-formed PNG header declaring `width` × `height` (8-bit grey) with a tiny IDAT: a
/// decompression bomb if anything allocated the declared size.
fn png_bomb(width: u32, height: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]); // depth 8, greyscale, deflate, filter 0, no interlace
    png_chunk(&mut out, b"IHDR", &ihdr);
    // A zlib stream of a few zero bytes (stored block): far less data than declared.
    png_chunk(
        &mut out,
        b"IDAT",
        &[
            0x78, 0x01, 0x01, 0x04, 0x00, 0xFB, 0xFF, 0, 0, 0, 0, 0, 0x04, 0, 0x01,
        ],
    );
    png_chunk(&mut out, b"IEND", &[]);
    out
}

/// A real JPEG whose SOF0 header is patched to declare `width` × `height`.
fn jpeg_bomb(width: u16, height: u16) -> Vec<u8> {
    let mut bytes = encode(
        &DynamicImage::ImageRgb8(textured(16, 16, 3)),
        ImageFormat::Jpeg,
    );
    let sof = bytes
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("baseline SOF0");
    // FF C0, length (2), precision (1), height (2), width (2).
    bytes[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    bytes[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
    bytes
}

/// A lossless WebP header declaring 16383 × 16383 with no image data behind it.
fn webp_bomb() -> Vec<u8> {
    // VP8L: signature 0x2f, then 14 bits width-1, 14 bits height-1, alpha bit, 3 version bits.
    let header: u32 = 16382 | (16382 << 14);
    let mut vp8l = vec![0x2F];
    vp8l.extend_from_slice(&header.to_le_bytes());
    vp8l.extend_from_slice(&[0, 0, 0, 0]);
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&((4 + 8 + vp8l.len()) as u32).to_le_bytes());
    out.extend_from_slice(b"WEBPVP8L");
    out.extend_from_slice(&(vp8l.len() as u32).to_le_bytes());
    out.extend_from_slice(&vp8l);
    out
}

/// The smallest GIF (1 × 1).
const GIF: &[u8] = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";

/// `jpeg` with an EXIF APP1 segment carrying `orientation` inserted after SOI.
fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut tiff = b"MM\x00\x2A\x00\x00\x00\x08".to_vec(); // big-endian, IFD at 8
    tiff.extend_from_slice(&1u16.to_be_bytes()); // one entry
    tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    tiff.extend_from_slice(&1u32.to_be_bytes()); // count
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]); // value padding
    tiff.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

// ---------------------------------------------------------------------------------------------
// Accepted uploads

/// Decodes `bytes` as an upload, writes the cover set and checks every file against `expect`.
fn check_accepted(name: &str, bytes: &[u8], source: (u32, u32), expect: [(u32, u32); 3]) {
    let image = decode_upload(bytes, &CoverLimits::default())
        .unwrap_or_else(|e| panic!("{name}: refused: {e}"));
    assert_eq!(image.dimensions(), source, "{name}: decoded size");

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("covers").join("v1");
    let written = write_cover_set(&image, &out).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(written, expect.to_vec(), "{name}: sizes written");

    let (sw, sh) = (f64::from(source.0), f64::from(source.1));
    for (width, (w, h)) in COVER_WIDTHS.iter().zip(written) {
        assert!(w <= *width && w <= source.0, "{name}: upscaled to {w}");
        // The aspect ratio is kept to within the rounding of one pixel of height.
        let exact_h = f64::from(w) * sh / sw;
        assert!(
            (f64::from(h) - exact_h).abs() <= 0.5 + 1e-9,
            "{name}: {w}x{h}"
        );

        let path = out.join(format!("{width}.jpg"));
        let file = std::fs::read(&path).unwrap_or_else(|e| panic!("{name}: {path:?}: {e}"));
        assert_eq!(
            image::guess_format(&file).unwrap(),
            ImageFormat::Jpeg,
            "{name}: {width}.jpg is a JPEG"
        );
        let decoded = image::load_from_memory(&file).unwrap();
        assert_eq!(decoded.dimensions(), (w, h), "{name}: {width}.jpg");
    }
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["1280.jpg", "320.jpg", "640.jpg"],
        "{name}: no temporary files are left behind"
    );
}

#[test]
fn uploads_in_every_format_are_written_at_every_size() {
    let rgb = |w, h| DynamicImage::ImageRgb8(textured(w, h, u64::from(w * h)));
    // (name, encoded as, picture, sizes written for 1280, 640, 320)
    type Case = (&'static str, ImageFormat, DynamicImage, [(u32, u32); 3]);
    let cases: &[Case] = &[
        (
            "landscape jpeg",
            ImageFormat::Jpeg,
            rgb(2000, 1000),
            [(1280, 640), (640, 320), (320, 160)],
        ),
        (
            "portrait png",
            ImageFormat::Png,
            rgb(900, 1600),
            [(900, 1600), (640, 1138), (320, 569)],
        ),
        (
            "16:9 webp",
            ImageFormat::WebP,
            rgb(1500, 844),
            [(1280, 720), (640, 360), (320, 180)],
        ),
        (
            "portrait webp",
            ImageFormat::WebP,
            rgb(720, 1280),
            [(720, 1280), (640, 1138), (320, 569)],
        ),
        (
            "large jpeg (prescaled)",
            ImageFormat::Jpeg,
            rgb(3000, 2000),
            [(1280, 853), (640, 427), (320, 213)],
        ),
        (
            "small png is never upscaled",
            ImageFormat::Png,
            rgb(400, 300),
            [(400, 300), (400, 300), (320, 240)],
        ),
        (
            "exactly 640 wide",
            ImageFormat::Jpeg,
            rgb(640, 360),
            [(640, 360), (640, 360), (320, 180)],
        ),
        (
            "rgba png",
            ImageFormat::Png,
            DynamicImage::ImageRgba8(RgbaImage::from_pixel(700, 700, Rgba([10, 200, 10, 255]))),
            [(700, 700), (640, 640), (320, 320)],
        ),
        (
            "16-bit png",
            ImageFormat::Png,
            DynamicImage::ImageRgb16(rgb(1281, 721).to_rgb16()),
            [(1280, 720), (640, 360), (320, 180)],
        ),
        (
            "grey jpeg",
            ImageFormat::Jpeg,
            DynamicImage::ImageLuma8(rgb(1000, 1000).to_luma8()),
            [(1000, 1000), (640, 640), (320, 320)],
        ),
    ];
    for (name, format, image, expect) in cases {
        let bytes = encode(image, *format);
        assert_eq!(image::guess_format(&bytes).unwrap(), *format, "{name}");
        check_accepted(name, &bytes, image.dimensions(), *expect);
    }
}

#[test]
fn the_picture_survives_resizing_unmirrored_and_transparency_becomes_black() {
    let dir = tempfile::tempdir().unwrap();

    let image = decode_upload(
        &encode(
            &DynamicImage::ImageRgb8(halves(1600, 900)),
            ImageFormat::Png,
        ),
        &CoverLimits::default(),
    )
    .unwrap();
    write_cover_set(&image, dir.path()).unwrap();
    let small = image::open(dir.path().join("320.jpg")).unwrap().to_rgb8();
    let left = small.get_pixel(40, 90).0;
    let right = small.get_pixel(280, 90).0;
    assert!(left[0] > 180 && left[2] < 60, "left stays red: {left:?}");
    assert!(
        right[2] > 180 && right[0] < 60,
        "right stays blue: {right:?}"
    );

    // Fully transparent top half, opaque white bottom half.
    let rgba = RgbaImage::from_fn(800, 800, |_, y| {
        if y < 400 {
            Rgba([255, 255, 255, 0])
        } else {
            Rgba([255, 255, 255, 255])
        }
    });
    let image = decode_upload(
        &encode(&DynamicImage::ImageRgba8(rgba), ImageFormat::Png),
        &CoverLimits::default(),
    )
    .unwrap();
    write_cover_set(&image, dir.path()).unwrap();
    let small = image::open(dir.path().join("320.jpg")).unwrap().to_rgb8();
    let top = small.get_pixel(160, 40).0;
    let bottom = small.get_pixel(160, 280).0;
    assert!(top.iter().all(|&c| c < 20), "transparent is black: {top:?}");
    assert!(
        bottom.iter().all(|&c| c > 235),
        "opaque stays white: {bottom:?}"
    );
}

#[test]
fn exif_orientation_is_applied() {
    let jpeg = encode(
        &DynamicImage::ImageRgb8(halves(200, 100)),
        ImageFormat::Jpeg,
    );
    // 6: the stored picture must be turned 90° clockwise to be upright.
    let rotated = decode_upload(&with_exif_orientation(&jpeg, 6), &CoverLimits::default())
        .unwrap()
        .to_rgb8();
    assert_eq!(rotated.dimensions(), (100, 200));
    // Red (the stored left half) ends up on top.
    assert!(rotated.get_pixel(50, 20).0[0] > 180);
    assert!(rotated.get_pixel(50, 180).0[2] > 180);
}

#[test]
fn rewriting_a_cover_set_replaces_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let first = DynamicImage::ImageRgb8(textured(1920, 1080, 1));
    assert_eq!(
        write_cover_set(&first, dir.path()).unwrap(),
        [(1280, 720), (640, 360), (320, 180)]
    );
    let second = DynamicImage::ImageRgb8(textured(300, 600, 2));
    assert_eq!(
        write_cover_set(&second, dir.path()).unwrap(),
        [(300, 600), (300, 600), (300, 600)]
    );
    for width in COVER_WIDTHS {
        let decoded = image::open(dir.path().join(format!("{width}.jpg"))).unwrap();
        assert_eq!(decoded.dimensions(), (300, 600));
    }
}

// ---------------------------------------------------------------------------------------------
// Refused uploads

/// What a refusal must look like: the error code and a phrase of its message.
fn check_refused(name: &str, bytes: &[u8], limits: &CoverLimits, code: &str, phrase: &str) {
    match decode_upload(bytes, limits) {
        Ok(image) => panic!("{name}: accepted as {:?}", image.dimensions()),
        Err(error) => {
            assert_eq!(error.code(), code, "{name}: {error}");
            assert!(
                error.to_string().contains(phrase),
                "{name}: message {error:?} lacks {phrase:?}"
            );
            assert!(error.is_permanent(), "{name}: {error} is permanent");
        }
    }
}

#[test]
fn bad_uploads_are_refused_with_the_right_error() {
    let default = CoverLimits::default();
    let jpeg = encode(
        &DynamicImage::ImageRgb8(textured(256, 256, 7)),
        ImageFormat::Jpeg,
    );
    let png = encode(
        &DynamicImage::ImageRgb8(textured(300, 200, 7)),
        ImageFormat::Png,
    );
    let webp = encode(
        &DynamicImage::ImageRgb8(textured(300, 200, 7)),
        ImageFormat::WebP,
    );
    let mut noise = Noise(0x5eed);
    let random: Vec<u8> = (0..4096).map(|_| noise.byte()).collect();
    assert!(
        image::guess_format(&random).is_err(),
        "random bytes look random"
    );
    let svg =
        br#"<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>"#;
    let small_cap = CoverLimits {
        max_bytes: 1000,
        ..default
    };
    let narrow = CoverLimits {
        max_width: 200,
        ..default
    };
    let over_default = vec![0u8; 10 * 1024 * 1024 + 1];

    let cases: &[(&str, &[u8], &CoverLimits, &str, &str)] = &[
        ("empty body", b"", &default, "invalid_media", "empty"),
        (
            "gif",
            GIF,
            &default,
            "unsupported_image",
            "GIF images are not accepted",
        ),
        (
            "svg",
            svg,
            &default,
            "unsupported_image",
            "SVG images are not accepted",
        ),
        (
            "text",
            b"hello, this is not a picture\n",
            &default,
            "unsupported_image",
            "not an image",
        ),
        (
            "random bytes",
            &random,
            &default,
            "unsupported_image",
            "not an image",
        ),
        (
            "bmp",
            b"BM\x3a\0\0\0\0\0\0\0\x36\0\0\0",
            &default,
            "unsupported_image",
            "BMP",
        ),
        (
            "truncated jpeg",
            &jpeg[..jpeg.len() / 2],
            &default,
            "invalid_media",
            "truncated",
        ),
        (
            "jpeg without its last bytes",
            &jpeg[..jpeg.len() - 2],
            &default,
            "invalid_media",
            "truncated",
        ),
        (
            "jpeg header only",
            &jpeg[..20],
            &default,
            "invalid_media",
            "truncated",
        ),
        (
            "jpeg magic only",
            &[0xFF, 0xD8, 0xFF],
            &default,
            "invalid_media",
            "",
        ),
        (
            "truncated png",
            &png[..png.len() / 2],
            &default,
            "invalid_media",
            "",
        ),
        (
            "png signature only",
            &png[..8],
            &default,
            "invalid_media",
            "header",
        ),
        (
            "truncated webp",
            &webp[..webp.len() / 2],
            &default,
            "invalid_media",
            "",
        ),
        (
            "png bomb 60000x60000",
            &png_bomb(60_000, 60_000),
            &default,
            "invalid_media",
            "60000x60000",
        ),
        (
            "png over the pixel cap",
            &png_bomb(8000, 8000),
            &default,
            "invalid_media",
            "8000x8000",
        ),
        (
            "png 0x0",
            &png_bomb(0, 0),
            &default,
            "invalid_media",
            "no pixels",
        ),
        (
            "jpeg bomb 60000x60000",
            &jpeg_bomb(60_000, 60_000),
            &default,
            "invalid_media",
            "60000x60000",
        ),
        (
            "webp bomb 16383x16383",
            &webp_bomb(),
            &default,
            "invalid_media",
            "16383x16383",
        ),
        (
            "wider than the cap",
            &png,
            &narrow,
            "invalid_media",
            "300x200",
        ),
        (
            "over a small byte cap",
            &png,
            &small_cap,
            "image_too_large",
            "limit is 1000 bytes",
        ),
        (
            "over the default byte cap",
            &over_default,
            &default,
            "image_too_large",
            "10485760",
        ),
    ];
    for (name, bytes, limits, code, phrase) in cases {
        check_refused(name, bytes, limits, code, phrase);
    }
}

#[test]
fn trailing_bytes_after_a_complete_jpeg_are_tolerated() {
    let mut jpeg = encode(
        &DynamicImage::ImageRgb8(textured(64, 48, 9)),
        ImageFormat::Jpeg,
    );
    jpeg.extend_from_slice(b"some camera appended this");
    let image = decode_upload(&jpeg, &CoverLimits::default()).unwrap();
    assert_eq!(image.dimensions(), (64, 48));
}

// ---------------------------------------------------------------------------------------------
// Choosing a frame

#[test]
fn pick_best_chooses_the_sharp_frame_in_any_order() {
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (480, 270);
    let sharp = textured(w, h, 11);
    let blurred = image::imageops::blur(&textured(w, h, 12), 4.0);
    let title_card = RgbImage::from_fn(w, h, |x, y| {
        // White text-like bars on black.
        if (120..150).contains(&y) && (x / 6) % 3 == 0 && (100..380).contains(&x) {
            Rgb([255, 255, 255])
        } else {
            Rgb([0, 0, 0])
        }
    });
    let frames = [
        ("sharp", sharp),
        ("black", RgbImage::from_pixel(w, h, Rgb([0, 0, 0]))),
        ("white", RgbImage::from_pixel(w, h, Rgb([255, 255, 255]))),
        ("near black", RgbImage::from_pixel(w, h, Rgb([8, 9, 7]))),
        (
            "flat grey",
            RgbImage::from_pixel(w, h, Rgb([128, 128, 128])),
        ),
        ("blurred", blurred),
        ("title card", title_card),
    ];
    let paths: Vec<(&str, PathBuf)> = frames
        .iter()
        .map(|(name, image)| (*name, save_jpeg(dir.path(), &format!("{name}.jpg"), image)))
        .collect();

    // Every rotation of the list, forwards and backwards.
    for reverse in [false, true] {
        for shift in 0..paths.len() {
            let mut order = paths.clone();
            order.rotate_left(shift);
            if reverse {
                order.reverse();
            }
            let list: Vec<PathBuf> = order.iter().map(|(_, p)| p.clone()).collect();
            let names: Vec<&str> = order.iter().map(|(n, _)| *n).collect();
            let best = pick_best(&list).unwrap();
            assert_eq!(order[best].0, "sharp", "order {names:?}");
        }
    }

    // Without the sharp frame, the blurred one still beats the blank ones.
    let rest: Vec<PathBuf> = paths
        .iter()
        .filter(|(n, _)| *n != "sharp")
        .map(|(_, p)| p.clone())
        .collect();
    let best = pick_best(&rest).unwrap();
    assert_eq!(rest[best], dir.path().join("blurred.jpg"));
}

#[test]
fn pick_best_prefers_a_well_exposed_frame_to_a_dim_one() {
    let dir = tempfile::tempdir().unwrap();
    let normal = textured(320, 180, 21);
    // The same detail, crushed towards black.
    let dim = RgbImage::from_fn(320, 180, |x, y| {
        let p = normal.get_pixel(x, y).0;
        Rgb(p.map(|c| c / 6))
    });
    let list = [
        save_jpeg(dir.path(), "dim.jpg", &dim),
        save_jpeg(dir.path(), "normal.jpg", &normal),
    ];
    assert_eq!(pick_best(&list).unwrap(), 1);
    let list = [list[1].clone(), list[0].clone()];
    assert_eq!(pick_best(&list).unwrap(), 0);
}

#[test]
fn pick_best_skips_unreadable_candidates_and_errors_when_none_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let good = save_jpeg(dir.path(), "good.jpg", &textured(160, 90, 31));
    let garbage = dir.path().join("garbage.jpg");
    fs_write(&garbage, b"not a jpeg at all");
    let missing = dir.path().join("missing.jpg");

    assert_eq!(
        pick_best(&[garbage.clone(), missing.clone(), good]).unwrap(),
        2
    );

    let error = pick_best(&[]).unwrap_err();
    assert_eq!(error.code(), "invalid_media", "{error}");

    let error = pick_best(&[missing.clone(), garbage.clone()]).unwrap_err();
    assert_eq!(error.code(), "invalid_media", "{error}");
    assert!(error.to_string().contains("none of the 2"), "{error}");

    let error = pick_best(&[garbage, missing]).unwrap_err();
    assert!(matches!(error, MediaError::Io(_)), "{error:?}");
}
