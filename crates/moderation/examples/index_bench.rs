//! Benchmark of the Hamming-radius index: 1,000,000 random PDQ hashes plus planted
//! near-duplicates at known distances, queried at radius 31, against a linear scan in the same
//! process. Each run is a fresh child process (so its RSS growth is its own), with its own
//! seed; the parent prints every run and the medians as markdown.
//!
//! ```sh
//! cargo run --release -p spool-moderation --example index_bench          # or bash bench/moderation.sh
//! RUNS=1 ENTRIES=100000 cargo run --release -p spool-moderation --example index_bench
//! ```
//!
//! Environment: `RUNS` (5), `ENTRIES` random hashes (1,000,000), `PLANTED` centres (1,000),
//! `QUERIES` (10,000, half planted centres, half random), `SCANS` (300: how many of the
//! queries the linear scan answers too), `UPDATES` (10,000 single inserts, then as many
//! removes), `SEED` (1: run k uses SEED + k - 1).

use std::collections::BTreeMap;
use std::env;
use std::process::{Command, ExitCode};
use std::time::Instant;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use spool_moderation::PdqHash;
use spool_moderation::index::{Match, RadiusIndex};

const RADIUS: u32 = 31;
/// Each planted centre's neighbours: (distance, spread evenly over the 16 slots rather than at
/// random bits). The first `INSIDE` are within the radius. Evenly spread is the case
/// pigeonhole is tight for: at 31 bits, fifteen slots differ in 2 bits and one in 1.
const NEIGHBOURS: [(usize, bool); 14] = [
    (1, false),
    (2, false),
    (4, false),
    (8, false),
    (12, false),
    (16, false),
    (20, false),
    (24, false),
    (28, false),
    (31, false),
    (31, true),
    (32, true),
    (36, false),
    (40, false),
];
const INSIDE: usize = 11;
/// Entries per planted centre: itself and its neighbours.
const GROUP: u64 = NEIGHBOURS.len() as u64 + 1;

fn setting(name: &str, default: u64) -> u64 {
    env::var(name)
        .ok()
        .and_then(|v| v.replace(['_', ','], "").parse().ok())
        .unwrap_or(default)
}

fn main() -> ExitCode {
    match env::var("INDEX_BENCH_RUN") {
        Ok(run) => child(run.parse().unwrap_or(1)),
        Err(_) => parent(),
    }
}

// ---- one run ----

fn vm_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn flip(base: &PdqHash, distance: usize, even: bool, rng: &mut StdRng) -> PdqHash {
    let mut h = *base;
    if even {
        let mut per_slot = [distance / 16; 16];
        for slot in sample(rng, 16, distance % 16) {
            per_slot[slot] += 1;
        }
        for (slot, n) in per_slot.into_iter().enumerate() {
            for bit in sample(rng, 16, n) {
                h.0[2 * slot + bit / 8] ^= 1 << (bit % 8);
            }
        }
    } else {
        for bit in sample(rng, 256, distance) {
            h.0[bit / 8] ^= 1 << (bit % 8);
        }
    }
    h
}

/// Times this thread was switched out involuntarily so far (another process took the core),
/// read between timed regions to tell preempted measurements apart.
fn preemptions() -> u64 {
    std::fs::read_to_string("/proc/thread-self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("nonvoluntary_ctxt_switches:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn p50_p99(mut values: Vec<f64>) -> (f64, f64) {
    values.sort_by(f64::total_cmp);
    (percentile(&values, 0.50), percentile(&values, 0.99))
}

fn child(run: u64) -> ExitCode {
    let entries_n = setting("ENTRIES", 1_000_000);
    let planted_n = setting("PLANTED", 1_000);
    let queries_n = setting("QUERIES", 10_000) as usize;
    let scans_n = setting("SCANS", 300) as usize;
    let updates_n = setting("UPDATES", 10_000);
    let seed = setting("SEED", 1) + run - 1;
    let mut rng = StdRng::seed_from_u64(seed);

    let mut entries: Vec<(PdqHash, u64)> =
        Vec::with_capacity((entries_n + planted_n * GROUP) as usize);
    entries.extend((0..entries_n).map(|id| (PdqHash(rng.random()), id)));
    let mut centres = Vec::new();
    for c in 0..planted_n {
        let centre = PdqHash(rng.random());
        let first_id = entries_n + c * GROUP;
        entries.push((centre, first_id));
        for (k, &(distance, even)) in NEIGHBOURS.iter().enumerate() {
            entries.push((
                flip(&centre, distance, even, &mut rng),
                first_id + 1 + k as u64,
            ));
        }
        centres.push((centre, first_id));
    }
    // Half planted centres (each several times), half random hashes, shuffled.
    let mut queries: Vec<(PdqHash, Option<u64>)> = (0..queries_n)
        .map(|q| {
            if q % 2 == 0 && !centres.is_empty() {
                let (centre, first_id) = centres[(q / 2) % centres.len()];
                (centre, Some(first_id))
            } else {
                (PdqHash(rng.random()), None)
            }
        })
        .collect();
    queries.shuffle(&mut rng);
    let updates: Vec<(PdqHash, u64)> = (0..updates_n)
        .map(|k| (PdqHash(rng.random()), u64::MAX - k))
        .collect();

    let rss_before = vm_rss_kib();
    let started = Instant::now();
    let mut index: RadiusIndex = entries.iter().copied().collect();
    let build_ms = started.elapsed().as_secs_f64() * 1e3;
    let rss_after = vm_rss_kib();
    let memory = index.memory();
    if index.len() != entries.len() {
        eprintln!(
            "index holds {} entries, {} were given",
            index.len(),
            entries.len()
        );
        return ExitCode::FAILURE;
    }

    let mut failures = 0;
    let mut all = Vec::with_capacity(queries.len());
    let mut planted_times = Vec::new();
    let mut random_times = Vec::new();
    let mut answers = Vec::with_capacity(queries.len());
    let mut answered_planted = 0usize;
    let mut answered_random = 0usize;
    let mut quiet = Vec::with_capacity(queries.len());
    let mut preempted_flags = Vec::with_capacity(queries.len());
    for (query, planted) in &queries {
        let switches = preemptions();
        let started = Instant::now();
        let found = index.query(query, RADIUS);
        let us = started.elapsed().as_secs_f64() * 1e6;
        let was_preempted = preemptions() != switches;
        if !was_preempted {
            quiet.push(us);
        }
        preempted_flags.push(was_preempted);
        let found = match found {
            Ok(found) => found,
            Err(e) => {
                eprintln!("query refused: {e}");
                return ExitCode::FAILURE;
            }
        };
        all.push(us);
        match planted {
            Some(first_id) => {
                planted_times.push(us);
                answered_planted += found.len();
                // Exactly the centre and its neighbours within the radius, at their distances.
                let expected: Vec<(u64, u32)> = std::iter::once((*first_id, 0))
                    .chain(
                        NEIGHBOURS[..INSIDE]
                            .iter()
                            .enumerate()
                            .map(|(k, &(d, _))| (first_id + 1 + k as u64, d as u32)),
                    )
                    .collect();
                let mut got: Vec<(u64, u32)> = found.iter().map(|m| (m.id, m.distance)).collect();
                got.sort_unstable();
                if got != expected {
                    eprintln!("planted centre {query}: found {got:?}, planted {expected:?}");
                    failures += 1;
                }
            }
            None => {
                random_times.push(us);
                answered_random += found.len();
            }
        }
        answers.push(found);
    }

    let mut scan_times = Vec::new();
    let mut scan_quiet = Vec::new();
    let mut scan_flags = Vec::new();
    let mut scan_planted = 0;
    for ((query, planted), found) in queries.iter().zip(&answers).take(scans_n) {
        let switches = preemptions();
        let started = Instant::now();
        let scanned: Vec<Match> = index.linear_scan(query, RADIUS);
        let us = started.elapsed().as_secs_f64() * 1e6;
        scan_times.push(us);
        let was_preempted = preemptions() != switches;
        if !was_preempted {
            scan_quiet.push(us);
        }
        scan_flags.push(was_preempted);
        scan_planted += usize::from(planted.is_some());
        if &scanned != found {
            eprintln!("query {query}: the index answered {found:?}, the scan {scanned:?}");
            failures += 1;
        }
    }

    let started = Instant::now();
    for &(hash, id) in &updates {
        index.insert(hash, id);
    }
    let insert_us = started.elapsed().as_secs_f64() * 1e6 / updates.len().max(1) as f64;
    let started = Instant::now();
    for (hash, id) in &updates {
        index.remove(hash, *id);
    }
    let remove_us = started.elapsed().as_secs_f64() * 1e6 / updates.len().max(1) as f64;
    let delta_after_updates = index.memory().delta;
    if index.len() != entries.len() {
        eprintln!("after the updates the index holds {} entries", index.len());
        failures += 1;
    }

    if env::var("SHOW_SLOWEST").is_ok() {
        let mut order: Vec<usize> = (0..all.len()).collect();
        order.sort_by(|&x, &y| all[y].total_cmp(&all[x]));
        for &q in order.iter().take(8) {
            eprintln!("slow query #{q}: {:.0} us", all[q]);
        }
    }
    let scanned_n = scans_n.min(all.len());
    let (same_p50, same_p99) = p50_p99(all[..scanned_n].to_vec());
    // The index's times of the scanned queries that neither the index nor the scan had
    // preempted, and the scan's times of the same queries.
    let (mut same_quiet, mut scan_same_quiet) = (Vec::new(), Vec::new());
    for q in 0..scanned_n {
        if !preempted_flags[q] && !scan_flags[q] {
            same_quiet.push(all[q]);
            scan_same_quiet.push(scan_times[q]);
        }
    }
    let (same_quiet_p50, same_quiet_p99) = p50_p99(same_quiet);
    let (scan_same_quiet_p50, scan_same_quiet_p99) = p50_p99(scan_same_quiet);
    let preempted = all.len() - quiet.len();
    let scans_preempted = scan_times.len() - scan_quiet.len();
    let (p50, p99) = p50_p99(all);
    let (quiet_p50, quiet_p99) = p50_p99(quiet);
    let (scan_quiet_p50, scan_quiet_p99) = p50_p99(scan_quiet);
    let (planted_p50, planted_p99) = p50_p99(planted_times);
    let (random_p50, random_p99) = p50_p99(random_times);
    let (scan_p50, scan_p99) = p50_p99(scan_times);
    let planted_queries = queries.iter().filter(|q| q.1.is_some()).count();
    let random_queries = queries.len() - planted_queries;
    let fields = [
        ("seed", seed as f64),
        ("entries", entries.len() as f64),
        ("build_ms", build_ms),
        ("p50_us", p50),
        ("p99_us", p99),
        ("quiet_p50_us", quiet_p50),
        ("quiet_p99_us", quiet_p99),
        ("preempted", preempted as f64),
        ("scan_quiet_p50_us", scan_quiet_p50),
        ("scan_quiet_p99_us", scan_quiet_p99),
        ("scans_preempted", scans_preempted as f64),
        ("speedup_quiet_p50", scan_same_quiet_p50 / same_quiet_p50),
        ("speedup_quiet_p99", scan_same_quiet_p99 / same_quiet_p99),
        ("planted_p50_us", planted_p50),
        ("planted_p99_us", planted_p99),
        ("random_p50_us", random_p50),
        ("random_p99_us", random_p99),
        ("scan_p50_us", scan_p50),
        ("scan_p99_us", scan_p99),
        ("same_p50_us", same_p50),
        ("same_p99_us", same_p99),
        ("speedup_p50", scan_p50 / same_p50),
        ("speedup_p99", scan_p99 / same_p99),
        ("scans", scans_n.min(queries.len()) as f64),
        ("scans_planted", scan_planted as f64),
        ("mismatches", failures as f64),
        (
            "answers_per_planted",
            answered_planted as f64 / planted_queries.max(1) as f64,
        ),
        (
            "answers_per_random",
            answered_random as f64 / random_queries.max(1) as f64,
        ),
        ("memory_entries_mib", memory.entries as f64 / 1048576.0),
        ("memory_tables_mib", memory.tables as f64 / 1048576.0),
        ("memory_delta_mib", delta_after_updates as f64 / 1048576.0),
        ("memory_mib", memory.total() as f64 / 1048576.0),
        (
            "bytes_per_entry",
            memory.total() as f64 / entries.len() as f64,
        ),
        (
            "rss_delta_mib",
            (rss_after.saturating_sub(rss_before)) as f64 / 1024.0,
        ),
        ("insert_us", insert_us),
        ("remove_us", remove_us),
    ];
    let line: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("RESULT {}", line.join(" "));
    if failures > 0 {
        eprintln!("{failures} mismatches");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

// ---- the runs and the table ----

fn first_line_with(path: &str, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    Some(line.split_once(':')?.1.trim().to_string())
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

#[allow(clippy::disallowed_methods)] // runs this benchmark again as a fresh process per run, not media work
fn parent() -> ExitCode {
    let runs = setting("RUNS", 5).max(1);
    let cpu =
        first_line_with("/proc/cpuinfo", "model name").unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mem = first_line_with("/proc/meminfo", "MemTotal")
        .and_then(|v| {
            v.split_whitespace()
                .next()
                .and_then(|k| k.parse::<f64>().ok())
        })
        .map_or("?".to_string(), |kib| format!("{:.0} MiB", kib / 1024.0));
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let load = || std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load_start = load();
    let Ok(exe) = env::current_exe() else {
        eprintln!("cannot find this program to run its runs");
        return ExitCode::FAILURE;
    };

    let mut results: Vec<BTreeMap<String, f64>> = Vec::new();
    let mut failed = false;
    for run in 1..=runs {
        eprintln!("[index_bench] run {run}/{runs}");
        let output = match Command::new(&exe)
            .env("INDEX_BENCH_RUN", run.to_string())
            .output()
        {
            Ok(output) => output,
            Err(e) => {
                eprintln!("run {run} did not start: {e}");
                return ExitCode::FAILURE;
            }
        };
        eprint!("{}", String::from_utf8_lossy(&output.stderr));
        let stdout = String::from_utf8_lossy(&output.stdout);
        let Some(line) = stdout.lines().find_map(|l| l.strip_prefix("RESULT ")) else {
            eprintln!("run {run} gave no result ({})", output.status);
            return ExitCode::FAILURE;
        };
        let fields: BTreeMap<String, f64> = line
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
            .collect();
        eprintln!(
            "[index_bench]   build {:.0} ms; query p50 {:.1} us, p99 {:.1} us; scan p50 {:.0} us, p99 {:.0} us; \
             {:.0} MiB (RSS +{:.0} MiB); {} mismatches",
            fields["build_ms"],
            fields["p50_us"],
            fields["p99_us"],
            fields["scan_p50_us"],
            fields["scan_p99_us"],
            fields["memory_mib"],
            fields["rss_delta_mib"],
            fields["mismatches"]
        );
        failed |= !output.status.success() || fields["mismatches"] != 0.0;
        results.push(fields);
    }
    let load_end = load();

    let col = |key: &str| -> Vec<f64> {
        results
            .iter()
            .map(|r| r.get(key).copied().unwrap_or(f64::NAN))
            .collect()
    };
    let first = &results[0];
    let seeds: Vec<String> = col("seed").iter().map(|s| format!("{s}")).collect();
    println!(
        "Machine: {cores} cores ({cpu}), {mem}; kernel {}; load average at start {}, at end {}.",
        kernel.trim(),
        load_start
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        load_end
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "Data per run: {} uniform random 256-bit hashes + {} planted centres, each with {} neighbours \
         ({} within {RADIUS} bits: 1, 2, 4, 8, 12, 16, 20, 24, 28, 31 bits at random positions and 31 spread \
         evenly over the slots; outside: 32 spread evenly, 36, 40): {} entries, built in bulk (`collect`). \
         Seeds {} (one per run, each run a fresh process).",
        setting("ENTRIES", 1_000_000),
        setting("PLANTED", 1_000),
        NEIGHBOURS.len(),
        INSIDE,
        first["entries"],
        seeds.join(", ")
    );
    println!(
        "Queries per run: {} at radius {RADIUS}, half planted centres, half random hashes, shuffled; \
         the linear scan answers the first {} of them ({} planted in run 1) in the same process, and every \
         planted answer is checked to be exactly its centre and the {} neighbours within the radius.",
        setting("QUERIES", 10_000),
        first["scans"],
        first["scans_planted"],
        INSIDE
    );
    println!();
    let mut header = String::from("| measurement |");
    let mut rule = String::from("|---|");
    for run in 1..=results.len() {
        header += &format!(" run {run} |");
        rule += "---:|";
    }
    println!("{header} **median** |");
    println!("{rule}---:|");
    let rows: &[(&str, &str, usize)] = &[
        ("bulk build, ms", "build_ms", 0),
        ("query p50, µs (all)", "p50_us", 1),
        ("query p99, µs (all)", "p99_us", 1),
        (
            "queries preempted (another process took the core)",
            "preempted",
            0,
        ),
        ("query p50 / p99, µs, not preempted", "quiet_p50_us", 1),
        ("", "quiet_p99_us", 1),
        ("query p50 / p99, µs: planted", "planted_p50_us", 1),
        ("", "planted_p99_us", 1),
        ("query p50 / p99, µs: random", "random_p50_us", 1),
        ("", "random_p99_us", 1),
        (
            "the scanned queries, by the index: p50 / p99, µs",
            "same_p50_us",
            1,
        ),
        ("", "same_p99_us", 1),
        ("linear scan p50, µs", "scan_p50_us", 0),
        ("linear scan p99, µs", "scan_p99_us", 0),
        ("scans preempted", "scans_preempted", 0),
        (
            "linear scan p50 / p99, µs, not preempted",
            "scan_quiet_p50_us",
            0,
        ),
        ("", "scan_quiet_p99_us", 0),
        (
            "speed-up p50 (scan / index, same queries)",
            "speedup_p50",
            1,
        ),
        (
            "speed-up p99 (scan / index, same queries)",
            "speedup_p99",
            1,
        ),
        (
            "speed-up p50 / p99, same queries, neither preempted",
            "speedup_quiet_p50",
            1,
        ),
        ("", "speedup_quiet_p99", 1),
        (
            "answers per planted / random query",
            "answers_per_planted",
            2,
        ),
        ("", "answers_per_random", 2),
        ("index answers ≠ scan answers", "mismatches", 0),
        (
            "index structures after the build, MiB (capacities)",
            "memory_mib",
            1,
        ),
        ("bytes per entry", "bytes_per_entry", 1),
        ("RSS growth over the build, MiB", "rss_delta_mib", 1),
        ("single insert into the built index, µs", "insert_us", 2),
        ("single remove, µs", "remove_us", 2),
        (
            "delta lists after the single inserts, MiB",
            "memory_delta_mib",
            1,
        ),
    ];
    let mut k = 0;
    while k < rows.len() {
        let (label, key, digits) = rows[k];
        // A row with an empty label is the second half of the row before: "a / b".
        let paired = rows.get(k + 1).filter(|r| r.0.is_empty());
        let cell = |v: f64, d: usize| format!("{v:.d$}");
        let mut line = format!("| {label} |");
        let a = col(key);
        let b = paired.map(|r| col(r.1));
        for (i, v) in a.iter().enumerate() {
            match &b {
                Some(b) => line += &format!(" {} / {} |", cell(*v, digits), cell(b[i], digits)),
                None => line += &format!(" {} |", cell(*v, digits)),
            }
        }
        match &b {
            Some(b) => {
                line += &format!(
                    " **{} / {}** |",
                    cell(median(&a), digits),
                    cell(median(b), digits)
                )
            }
            None => line += &format!(" **{}** |", cell(median(&a), digits)),
        }
        println!("{line}");
        k += if paired.is_some() { 2 } else { 1 };
    }
    let p99 = median(&col("p99_us"));
    println!();
    println!(
        "Memory of run 1 (capacities): entries {:.1} MiB (hashes, ids, tombstone bits), base tables {:.1} MiB; \
         after the single inserts and removes, delta lists {:.1} MiB.",
        first["memory_entries_mib"], first["memory_tables_mib"], first["memory_delta_mib"]
    );
    println!(
        "Against the target (query p99 ≤ 5 ms at radius {RADIUS}): **{}**: p99 {:.3} ms over all {} queries \
         (median of {} runs), {:.1}x under the target; {:.3} ms over the queries no other process preempted. \
         The linear scan of the same process: p50 {:.2} ms, p99 {:.2} ms; on the same queries the index is \
         {:.1}x faster at p50 and {:.1}x at p99 ({:.1}x and {:.1}x over the queries neither was preempted in).",
        if p99 <= 5000.0 { "met" } else { "missed" },
        p99 / 1000.0,
        setting("QUERIES", 10_000),
        results.len(),
        5000.0 / p99,
        median(&col("quiet_p99_us")) / 1000.0,
        median(&col("scan_p50_us")) / 1000.0,
        median(&col("scan_p99_us")) / 1000.0,
        median(&col("speedup_p50")),
        median(&col("speedup_p99")),
        median(&col("speedup_quiet_p50")),
        median(&col("speedup_quiet_p99"))
    );
    if failed {
        eprintln!("[index_bench] FAILED: a run failed or the index and the scan disagreed");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
