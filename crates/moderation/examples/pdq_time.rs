//! How long PDQ takes on video-frame sizes: `cargo run --release -p spool-moderation --example
//! pdq_time [ITERATIONS]`. Prints the median, minimum and maximum per call of [`hash_rgb`] and
//! [`hash_rgb_dihedral`] on synthetic RGB frames (the time does not depend on the content).
//! A measurement to read, not a test: nothing is asserted.

use std::time::{Duration, Instant};

use spool_moderation::pdq::{hash_rgb, hash_rgb_dihedral};

fn frame(width: u32, height: u32) -> Vec<u8> {
    let mut rgb = Vec::with_capacity(3 * width as usize * height as usize);
    for y in 0..height {
        for x in 0..width {
            let v = ((x * 7 + y * 13) ^ (x * y)) as u8;
            rgb.extend_from_slice(&[v, v.wrapping_mul(3), v.wrapping_add(x as u8)]);
        }
    }
    rgb
}

fn time(label: &str, iterations: usize, mut f: impl FnMut()) {
    f(); // warm up (the DCT matrix, the allocator)
    let mut times: Vec<Duration> = (0..iterations)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{label:<32} median {:8.3} ms  min {:8.3} ms  max {:8.3} ms  ({iterations} runs)",
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(times[times.len() - 1]),
    );
}

fn main() {
    let iterations = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(50);
    for (w, h) in [(512, 288), (1920, 1080)] {
        let rgb = frame(w, h);
        time(&format!("hash_rgb {w}x{h}"), iterations, || {
            std::hint::black_box(hash_rgb(w, h, &rgb).expect("hash"));
        });
        time(&format!("hash_rgb_dihedral {w}x{h}"), iterations, || {
            std::hint::black_box(hash_rgb_dihedral(w, h, &rgb).expect("hash"));
        });
    }
}
