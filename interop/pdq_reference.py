#!/usr/bin/env python3
"""Meta's PDQ reference, through the PyPI package `pdqhash` (a Cython wrapper of the C++ in
ThreatExchange), for crates/moderation/tests/reference.rs.

    python3 pdq_reference.py --out DIR IMAGE...

For each image: decode it with Pillow to RGB, write the decoded pixels to DIR/<stem>.ppm (binary
P6, so the Rust side hashes exactly the pixels the reference saw) and the float luma the wrapper
hands to the C++ to DIR/<stem>.luma (little-endian f32, row-major), then print one JSON document:

    {"pdqhash": "0.2.8", "images": [{"path", "ppm", "luma", "width", "height",
      "hash", "quality", "dihedral": [8 hex hashes], "dihedral_quality",
      "dct": [256 f32 bit patterns], "dct_quality"}]}

Hashes are 64 hex digits as the C++ `Hash256::format` writes them. The dihedral order is the
wrapper's: original, rotate 90, rotate 180, rotate 270, flip x, flip y, flip plus1 (transpose),
flip minus1 (transverse). "dct" is the unthresholded 16x16 DCT the hash is taken from
(`pdqFloat256FromFloatLuma`), row-major, each f32 as its IEEE bits so nothing is rounded.
"""

import argparse
import json
import os
import sys

import numpy as np
import pdqhash
from PIL import Image


def to_hex(bits):
    # pdqhash returns 256 bits with bit 255 first, i.e. the order of the C++ hex text.
    bits = np.asarray(bits, dtype=np.uint8)
    if bits.shape != (256,):
        raise ValueError(f"expected 256 bits, got shape {bits.shape}")
    return np.packbits(bits).tobytes().hex()


def wrapper_luma(rgb):
    # The exact expression of pdqhash/bindings.pyx (computed in float64, then cast to float32),
    # so the Rust side can check the C++ core on the very floats it was given.
    return (rgb[:, :, 0] * 0.299 + rgb[:, :, 1] * 0.587 + rgb[:, :, 2] * 0.114).astype("float32")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="directory for the .ppm and .luma files")
    parser.add_argument("images", nargs="+")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    results = []
    for path in args.images:
        with Image.open(path) as img:
            rgb = np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))
        height, width, _ = rgb.shape
        stem = os.path.splitext(os.path.basename(path))[0]
        ppm = os.path.join(args.out, stem + ".ppm")
        with open(ppm, "wb") as f:
            f.write(b"P6\n%d %d\n255\n" % (width, height))
            f.write(rgb.tobytes())
        luma = os.path.join(args.out, stem + ".luma")
        with open(luma, "wb") as f:
            f.write(wrapper_luma(rgb).astype("<f4").tobytes())

        bits, quality = pdqhash.compute(rgb)
        variants, dihedral_quality = pdqhash.compute_dihedral(rgb)
        # compute_float returns the 16x16 DCT flattened and reversed (last coefficient first).
        dct, dct_quality = pdqhash.compute_float(rgb)
        dct = np.ascontiguousarray(np.asarray(dct, dtype=np.float32)[::-1])
        if dct.shape != (256,):
            raise ValueError(f"expected 256 coefficients, got shape {dct.shape}")
        results.append(
            {
                "path": path,
                "ppm": ppm,
                "luma": luma,
                "width": int(width),
                "height": int(height),
                "hash": to_hex(bits),
                "quality": int(quality),
                "dihedral": [to_hex(v) for v in variants],
                "dihedral_quality": int(dihedral_quality),
                "dct": [int(b) for b in dct.view(np.uint32)],
                "dct_quality": int(dct_quality),
            }
        )

    json.dump({"pdqhash": pdqhash.__version__, "images": results}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
