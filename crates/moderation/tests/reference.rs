//! PDQ against Meta's reference: the PyPI package `pdqhash` (Cython over the ThreatExchange
//! C++), driven by `interop/pdq_reference.py`, over the ThreatExchange PDQ test images in
//! `shared/testdata/threatexchange/pdq/` (a photo and eleven edits of it).
//!
//! Needs `python3` on PATH with `interop/requirements.txt` installed (`scripts/test.sh` puts
//! `interop/.venv` first); without it the test fails, it is never skipped.
//!
//! What is checked, per image:
//! - on the pixels Pillow decoded (written as PPM by the script): our hash, quality and the
//!   eight dihedral variants equal the reference's bit for bit;
//! - on the luma plane the wrapper handed the C++ (it rounds a float64 luma to f32, where the
//!   C++ and we compute in f32): [`hash_luma`] and [`hash_luma_dihedral`] are bit-identical
//!   too, and so is every bit of the 256 DCT coefficients ([`hash_luma_float`]), which the
//!   hash alone would not show (a last-bit difference rarely moves a coefficient across the
//!   median);
//! - our own decode of the JPEG with the `image` crate hashes within 10 bits of the reference
//!   (Meta's tolerance: the decoders' pixels differ a little);
//! - the eight variants are far apart (more than 31 bits), and every edit of the photo is
//!   within 31 bits of the original;
//! - each variant is, give or take resampling, the hash of the image transformed as its
//!   [`Dihedral`] name says.

use std::path::{Path, PathBuf};

use spool_moderation::pdq::{
    hash_file, hash_file_dihedral, hash_luma, hash_luma_dihedral, hash_luma_float, hash_rgb,
    hash_rgb_dihedral,
};
use spool_moderation::{Dihedral, PdqHash};

/// The edits of `aaa-orig.jpg` in the test set; all should stay within 31 bits of it.
const EDITS: &[&str] = &[
    "blur-a-little",
    "blur-a-lot",
    "high-contrast",
    "high-saturation",
    "sharpen-a-little",
    "sharpen-a-lot",
    "shrink-a-little",
    "shrink-a-lot",
    "square-128x128",
    "square-256x256",
    "square-512x512",
];

/// Meta's threshold for "the same image" across decoders and small edits (of 256 bits).
const SAME_DECODER_TOLERANCE: u32 = 10;
/// Meta's suggested match threshold.
const MATCH_THRESHOLD: u32 = 31;

/// The reference's answer for one image.
struct Reference {
    name: String,
    jpeg: PathBuf,
    ppm: PathBuf,
    luma: PathBuf,
    width: u32,
    height: u32,
    hash: PdqHash,
    quality: u8,
    dihedral: [PdqHash; 8],
    dihedral_quality: u8,
    dct: Vec<u32>,
    dct_quality: u8,
}

/// `shared/` sits beside the repository (`../shared` from its root); a worktree may be
/// deeper, so look in every ancestor of the crate.
fn testdata() -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    crate_dir
        .ancestors()
        .map(|dir| dir.join("shared/testdata/threatexchange/pdq"))
        .find(|dir| dir.is_dir())
        .unwrap_or_else(|| {
            panic!(
                "no shared/testdata/threatexchange/pdq beside any ancestor of {}",
                crate_dir.display()
            )
        })
}

#[allow(clippy::disallowed_methods)] // runs the reference implementation, a Python program
fn run_reference(images: &[PathBuf], out: &Path) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/pdq_reference.py");
    let output = std::process::Command::new("python3")
        .arg(&script)
        .arg("--out")
        .arg(out)
        .args(images)
        .output()
        .expect("run python3 (the PDQ reference needs it on PATH)");
    assert!(
        output.status.success(),
        "{} failed ({}): {}\nInstall the reference: python3 -m venv interop/.venv && \
         interop/.venv/bin/pip install -r interop/requirements.txt, and put interop/.venv/bin \
         first on PATH (scripts/test.sh does both).",
        script.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the reference prints JSON")
}

fn parse_hash(v: &serde_json::Value) -> PdqHash {
    v.as_str()
        .expect("a hash is a string")
        .parse()
        .expect("a hash is 64 hex digits")
}

fn references(out: &Path) -> Vec<Reference> {
    let mut images: Vec<PathBuf> = std::fs::read_dir(testdata())
        .expect("read the PDQ test data")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    images.sort();
    assert_eq!(images.len(), 12, "the ThreatExchange PDQ set has 12 images");
    let doc = run_reference(&images, out);
    eprintln!("reference: pdqhash {}", doc["pdqhash"]);
    let entries = doc["images"].as_array().expect("images");
    assert_eq!(entries.len(), images.len());
    entries
        .iter()
        .zip(images)
        .map(|(e, jpeg)| {
            let dihedral: Vec<PdqHash> = e["dihedral"]
                .as_array()
                .expect("dihedral")
                .iter()
                .map(parse_hash)
                .collect();
            let int = |k: &str| e[k].as_u64().unwrap_or_else(|| panic!("{k} is a number"));
            Reference {
                name: jpeg
                    .file_stem()
                    .expect("a file name")
                    .to_string_lossy()
                    .into_owned(),
                jpeg,
                ppm: e["ppm"].as_str().expect("ppm").into(),
                luma: e["luma"].as_str().expect("luma").into(),
                width: int("width") as u32,
                height: int("height") as u32,
                hash: parse_hash(&e["hash"]),
                quality: int("quality") as u8,
                dihedral: dihedral.try_into().expect("8 variants"),
                dihedral_quality: int("dihedral_quality") as u8,
                dct: e["dct"]
                    .as_array()
                    .expect("dct")
                    .iter()
                    .map(|b| b.as_u64().expect("f32 bits") as u32)
                    .collect(),
                dct_quality: int("dct_quality") as u8,
            }
        })
        .collect()
}

/// A binary PPM (P6, maxval 255) as the script writes it: width, height, RGB.
fn read_ppm(path: &Path) -> (u32, u32, Vec<u8>) {
    let bytes = std::fs::read(path).expect("read the PPM");
    let mut fields = Vec::new();
    let mut at = 0;
    while fields.len() < 4 {
        while bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        let start = at;
        while !bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        fields.push(String::from_utf8_lossy(&bytes[start..at]).into_owned());
    }
    assert_eq!((fields[0].as_str(), fields[3].as_str()), ("P6", "255"));
    let (w, h) = (
        fields[1].parse().expect("width"),
        fields[2].parse().expect("height"),
    );
    let pixels = bytes[at + 1..].to_vec();
    assert_eq!(
        pixels.len(),
        3 * w as usize * h as usize,
        "{}",
        path.display()
    );
    (w, h, pixels)
}

fn read_luma(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .expect("read the luma")
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// The image transformed as `which` says, on pixel coordinates (x right, y down).
fn transform(w: u32, h: u32, rgb: &[u8], which: Dihedral) -> (u32, u32, Vec<u8>) {
    let (w, h) = (w as usize, h as usize);
    let (nw, nh) = match which {
        Dihedral::Original | Dihedral::Rotate180 | Dihedral::FlipX | Dihedral::FlipY => (w, h),
        _ => (h, w),
    };
    let mut out = Vec::with_capacity(rgb.len());
    for y in 0..nh {
        for x in 0..nw {
            // The source pixel of (x, y) in the new image.
            let (sx, sy) = match which {
                Dihedral::Original => (x, y),
                // Counter-clockwise: the new top row is the old right column.
                Dihedral::Rotate90 => (w - 1 - y, x),
                Dihedral::Rotate180 => (w - 1 - x, h - 1 - y),
                // Clockwise: the new top row is the old left column, bottom up.
                Dihedral::Rotate270 => (y, h - 1 - x),
                Dihedral::FlipX => (x, h - 1 - y),
                Dihedral::FlipY => (w - 1 - x, y),
                Dihedral::Transpose => (y, x),
                Dihedral::Transverse => (w - 1 - y, h - 1 - x),
            };
            let at = 3 * (sy * w + sx);
            out.extend_from_slice(&rgb[at..at + 3]);
        }
    }
    (nw as u32, nh as u32, out)
}

/// Everything checked of one image; returns our decode's hash for the cross-image checks.
fn check(r: &Reference) -> PdqHash {
    let name = &r.name;
    let (w, h, rgb) = read_ppm(&r.ppm);
    assert_eq!((w, h), (r.width, r.height), "{name}: size");

    // Same pixels: bit-identical.
    let ours = hash_rgb(w, h, &rgb).expect("hash the PPM");
    assert_eq!(ours.hash, r.hash, "{name}: hash of the reference's pixels");
    assert_eq!(ours.quality, r.quality, "{name}: quality");
    let all = hash_rgb_dihedral(w, h, &rgb).expect("dihedral of the PPM");
    for which in Dihedral::ALL {
        assert_eq!(
            all.get(which),
            r.dihedral[which as usize],
            "{name}: {} variant",
            which.name()
        );
    }
    assert_eq!(all.quality, r.dihedral_quality, "{name}: dihedral quality");

    // Same floats as the wrapper gave the C++: bit-identical as well.
    let luma = read_luma(&r.luma);
    let ours = hash_luma(w, h, &luma).expect("hash the luma");
    assert_eq!(
        (ours.hash, ours.quality),
        (r.hash, r.quality),
        "{name}: hash of the reference's luma"
    );
    let all = hash_luma_dihedral(w, h, &luma).expect("dihedral of the luma");
    assert_eq!(all.hashes, r.dihedral, "{name}: dihedral of the luma");
    // ... down to every bit of every float the hash is thresholded from (the hash alone would
    // not notice a last-bit rounding difference in the blur or the DCT).
    let float = hash_luma_float(w, h, &luma).expect("DCT of the luma");
    let bits: Vec<u32> = float.coefficients.iter().map(|c| c.to_bits()).collect();
    let differ = bits.iter().zip(&r.dct).filter(|(a, b)| a != b).count();
    assert_eq!(differ, 0, "{name}: {differ} of 256 DCT coefficients differ");
    assert_eq!(float.quality, r.dct_quality, "{name}: DCT quality");

    // The variants of one image are eight different hashes.
    for (i, a) in r.dihedral.iter().enumerate() {
        for (j, b) in r.dihedral.iter().enumerate().skip(i + 1) {
            let d = a.distance(b);
            assert!(
                d > MATCH_THRESHOLD,
                "{name}: variants {i} and {j} {d} bits apart"
            );
        }
    }

    // Our own decode of the JPEG: close, not equal.
    let decoded = hash_file(&r.jpeg).expect("decode and hash the JPEG");
    let d = decoded.hash.distance(&r.hash);
    let (_, _, our_rgb) = image_rgb(&r.jpeg);
    let differ = our_rgb.iter().zip(&rgb).filter(|(a, b)| a != b).count();
    eprintln!(
        "{name}: {w}x{h}, quality {}; our decode: {:.1}% of bytes differ from Pillow's, \
         hash {d} bits from the reference, quality {}",
        r.quality,
        100.0 * differ as f64 / rgb.len() as f64,
        decoded.quality
    );
    assert!(
        d <= SAME_DECODER_TOLERANCE,
        "{name}: our decode is {d} bits from the reference"
    );
    let decoded_all = hash_file_dihedral(&r.jpeg).expect("decode and hash the JPEG");
    for which in Dihedral::ALL {
        let d = decoded_all.get(which).distance(&r.dihedral[which as usize]);
        assert!(
            d <= SAME_DECODER_TOLERANCE,
            "{name}: our decode's {} variant is {d} bits from the reference",
            which.name()
        );
    }
    decoded.hash
}

#[test]
fn pdq_matches_the_reference_on_the_threatexchange_images() {
    let out = tempfile::tempdir().expect("a temporary directory");
    let refs = references(out.path());
    let ours: Vec<(String, PdqHash)> = refs.iter().map(|r| (r.name.clone(), check(r))).collect();

    let original = refs
        .iter()
        .find(|r| r.name == "aaa-orig")
        .expect("aaa-orig.jpg");
    // Meta's published hash of aaa-orig.jpg.
    assert_eq!(
        original.hash.to_string(),
        "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
    );
    let names: Vec<&str> = refs.iter().map(|r| r.name.as_str()).collect();
    for edit in EDITS {
        assert!(names.contains(edit), "{edit} is in the test set");
    }
    for (r, (_, decoded)) in refs.iter().zip(&ours) {
        if !EDITS.contains(&r.name.as_str()) {
            continue;
        }
        let d = r.hash.distance(&original.hash);
        let ours = decoded.distance(&original.hash);
        assert!(
            d <= MATCH_THRESHOLD && ours <= MATCH_THRESHOLD,
            "{}: {d} bits from aaa-orig (ours {ours})",
            r.name
        );
    }
}

#[test]
fn each_variant_is_the_hash_of_the_image_so_transformed() {
    let path = testdata().join("aaa-orig.jpg");
    let img = image_rgb(&path);
    let (w, h, rgb) = (img.0, img.1, &img.2);
    let all = hash_rgb_dihedral(w, h, rgb).expect("dihedral");
    for which in Dihedral::ALL {
        let (tw, th, trgb) = transform(w, h, rgb, which);
        let direct = hash_rgb(tw, th, &trgb).expect("hash the transformed image");
        let (nearest, d) = Dihedral::ALL
            .iter()
            .map(|&v| (v, all.get(v).distance(&direct.hash)))
            .min_by_key(|&(_, d)| d)
            .expect("eight variants");
        eprintln!(
            "{}: the transformed image is {} bits from its variant",
            which.name(),
            all.get(which).distance(&direct.hash)
        );
        assert_eq!(
            nearest,
            which,
            "{}: nearest variant {} ({d} bits)",
            which.name(),
            nearest.name()
        );
        assert!(d <= SAME_DECODER_TOLERANCE, "{}: {d} bits", which.name());
    }
}

/// Decodes with the `image` crate (the test's own decode; the library's is `hash_file`).
fn image_rgb(path: &Path) -> (u32, u32, Vec<u8>) {
    let img = image::open(path).expect("decode").into_rgb8();
    (img.width(), img.height(), img.into_raw())
}
