//! The radius index against a linear scan: planted neighbours at known distances (spread over
//! the slots as unkindly as pigeonhole allows), clustered and random data at every radius
//! 0..=31, interleaved inserts and removes, and the edge cases.

use rand::rngs::StdRng;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use spool_moderation::PdqHash;
use spool_moderation::index::{MAX_RADIUS, Match, RadiusIndex, RadiusTooLarge};

fn random_hash(rng: &mut StdRng) -> PdqHash {
    PdqHash(rng.random())
}

/// `base` with `d` distinct random bits flipped.
fn flip_random(base: &PdqHash, d: usize, rng: &mut StdRng) -> PdqHash {
    let mut h = *base;
    for bit in sample(rng, 256, d) {
        h.0[bit / 8] ^= 1 << (bit % 8);
    }
    h
}

/// `base` with exactly `per_slot[i]` random bits flipped in slot `i`.
fn flip_per_slot(base: &PdqHash, per_slot: &[usize; 16], rng: &mut StdRng) -> PdqHash {
    let mut h = *base;
    for (slot, &n) in per_slot.iter().enumerate() {
        for bit in sample(rng, 16, n) {
            h.0[2 * slot + bit / 8] ^= 1 << (bit % 8);
        }
    }
    h
}

/// `d` bits spread as evenly as possible over the 16 slots, the larger shares in random
/// slots: every slot as far from the query as the total allows, the case pigeonhole is tight
/// for (31 = fifteen slots of 2 and one of 1).
fn even_spread(d: usize, rng: &mut StdRng) -> [usize; 16] {
    let mut per_slot = [d / 16; 16];
    for slot in sample(rng, 16, d % 16) {
        per_slot[slot] += 1;
    }
    per_slot
}

/// The reference answer, from a plain list of entries.
fn brute_force(entries: &[(PdqHash, u64)], query: &PdqHash, radius: u32) -> Vec<Match> {
    let mut out: Vec<Match> = entries
        .iter()
        .map(|&(hash, id)| Match {
            id,
            hash,
            distance: hash.distance(query),
        })
        .filter(|m| m.distance <= radius)
        .collect();
    out.sort_by_key(|m| (m.distance, m.id, m.hash));
    out
}

/// Every radius 0..=31 from one query: the index, its linear scan and the reference agree.
fn assert_all_radii(index: &RadiusIndex, entries: &[(PdqHash, u64)], query: &PdqHash) {
    let widest = brute_force(entries, query, MAX_RADIUS);
    for radius in 0..=MAX_RADIUS {
        let expected: Vec<Match> = widest
            .iter()
            .copied()
            .filter(|m| m.distance <= radius)
            .collect();
        let got = index.query(query, radius).unwrap();
        assert_eq!(got, expected, "query {query} radius {radius}");
    }
    assert_eq!(
        index.linear_scan(query, MAX_RADIUS),
        widest,
        "linear scan {query}"
    );
}

/// Cases of planted neighbours: a name, how many bits differ in each slot.
fn planted_cases(rng: &mut StdRng) -> Vec<(String, [usize; 16])> {
    let mut cases = vec![
        ("identical".to_string(), [0; 16]),
        ("16 bits, all in slot 0".to_string(), {
            let mut s = [0; 16];
            s[0] = 16;
            s
        }),
        ("31 bits: slots 0 and 1 full but one".to_string(), {
            let mut s = [0; 16];
            s[0] = 16;
            s[1] = 15;
            s
        }),
        ("31 bits: 2 in slots 0..15, 1 in slot 15".to_string(), {
            let mut s = [2; 16];
            s[15] = 1;
            s
        }),
        ("31 bits: 1 in slot 0, 2 in the others".to_string(), {
            let mut s = [2; 16];
            s[0] = 1;
            s
        }),
        ("15 bits: 1 in slots 0..15, slot 15 equal".to_string(), {
            let mut s = [1; 16];
            s[15] = 0;
            s
        }),
        ("16 bits: 1 in every slot".to_string(), [1; 16]),
        ("32 bits: 2 in every slot".to_string(), [2; 16]),
        ("33 bits: 3 in slot 7, 2 elsewhere".to_string(), {
            let mut s = [2; 16];
            s[7] = 3;
            s
        }),
    ];
    for d in 0..=40 {
        cases.push((format!("{d} bits, spread evenly"), even_spread(d, rng)));
        let mut at_random = [0; 16];
        let h = flip_random(&PdqHash([0; 32]), d, rng);
        for (slot, n) in at_random.iter_mut().enumerate() {
            *n = h.slot(slot).count_ones() as usize;
        }
        cases.push((format!("{d} bits at random"), at_random));
    }
    cases
}

#[test]
fn planted_neighbours_are_found_exactly_within_the_radius() {
    let mut rng = StdRng::seed_from_u64(1);
    let mut entries: Vec<(PdqHash, u64)> =
        (0..20_000).map(|id| (random_hash(&mut rng), id)).collect();
    let mut planted = Vec::new(); // (centre, case name, hash, id, distance)
    let mut id = 1_000_000;
    for _ in 0..20 {
        let centre = random_hash(&mut rng);
        for (name, per_slot) in planted_cases(&mut rng) {
            let hash = flip_per_slot(&centre, &per_slot, &mut rng);
            let distance: usize = per_slot.iter().sum();
            assert_eq!(hash.distance(&centre) as usize, distance, "{name}");
            entries.push((hash, id));
            planted.push((centre, name, hash, id, distance as u32));
            id += 1;
        }
    }
    let bulk: RadiusIndex = entries.iter().copied().collect();
    let mut one_by_one = RadiusIndex::new();
    for &(hash, id) in &entries {
        assert!(one_by_one.insert(hash, id));
    }
    for index in [&bulk, &one_by_one] {
        assert_eq!(index.len(), entries.len());
        for (centre, name, hash, id, distance) in &planted {
            for radius in [0, 1, 15, 16, 30, 31] {
                let found = index.query(centre, radius).unwrap();
                let hit = found.iter().find(|m| m.id == *id);
                if *distance <= radius {
                    let hit = hit.unwrap_or_else(|| panic!("{name} missed at radius {radius}"));
                    assert_eq!((hit.hash, hit.distance), (*hash, *distance), "{name}");
                } else {
                    assert!(hit.is_none(), "{name} found at radius {radius}");
                }
            }
        }
        for centre in planted.iter().map(|p| p.0).step_by(10) {
            assert_all_radii(index, &entries, &centre);
        }
    }
}

/// Clusters of hashes within a few dozen bits of each other, so that most queries have many
/// answers at every radius, and some random hashes.
fn clustered(rng: &mut StdRng, clusters: usize, per_cluster: usize, noise: usize) -> Vec<PdqHash> {
    let mut out = Vec::new();
    for _ in 0..clusters {
        let centre = random_hash(rng);
        for _ in 0..per_cluster {
            let d = rng.random_range(0..=48);
            out.push(flip_random(&centre, d, rng));
        }
    }
    out.extend((0..noise).map(|_| random_hash(rng)));
    out
}

#[test]
fn clustered_and_random_queries_equal_the_scan_at_every_radius() {
    let mut rng = StdRng::seed_from_u64(2);
    let hashes = clustered(&mut rng, 150, 60, 6_000);
    let entries: Vec<(PdqHash, u64)> = hashes.iter().copied().zip(0..).collect();
    let index: RadiusIndex = entries.iter().copied().collect();
    let mut answered = 0;
    for q in 0..300 {
        let query = match q % 3 {
            0 => hashes[rng.random_range(0..hashes.len())],
            1 => flip_random(
                &hashes[rng.random_range(0..9_000)],
                rng.random_range(0..=24),
                &mut rng,
            ),
            _ => random_hash(&mut rng),
        };
        assert_all_radii(&index, &entries, &query);
        answered += usize::from(!index.query(&query, MAX_RADIUS).unwrap().is_empty());
    }
    assert!(
        answered >= 180,
        "the data should give most queries answers ({answered})"
    );
}

#[test]
fn interleaved_inserts_and_removes_keep_equal_to_the_scan() {
    let mut rng = StdRng::seed_from_u64(3);
    let pool = clustered(&mut rng, 60, 50, 1_000);
    let mut live: Vec<(PdqHash, u64)> = pool.iter().take(2_000).copied().zip(0..).collect();
    let mut index: RadiusIndex = live.iter().copied().collect();
    let mut next_id = 2_000;
    for step in 0..4_000 {
        match rng.random_range(0..10) {
            0..=3 => {
                // A new entry: a hash from the pool (often shared with other ids) or fresh.
                let hash = if rng.random_bool(0.8) {
                    pool[rng.random_range(0..pool.len())]
                } else {
                    random_hash(&mut rng)
                };
                assert!(index.insert(hash, next_id));
                live.push((hash, next_id));
                next_id += 1;
            }
            4..=6 if !live.is_empty() => {
                let (hash, id) = live.swap_remove(rng.random_range(0..live.len()));
                assert!(index.remove(&hash, id));
                assert!(!index.remove(&hash, id), "removed twice");
            }
            7 if !live.is_empty() => {
                let (hash, id) = live[rng.random_range(0..live.len())];
                assert!(!index.insert(hash, id), "the same pair twice");
                assert!(!index.remove(&hash, id ^ (1 << 40)), "an id never inserted");
            }
            8 if !live.is_empty() => {
                let (hash, id) = live[step % live.len()];
                assert!(index.contains(&hash, id));
                assert!(!index.contains(&hash, u64::MAX));
            }
            _ => {
                if step % 700 == 9 {
                    index.compact();
                }
            }
        }
        assert_eq!(index.len(), live.len());
        if step % 50 == 0 {
            for _ in 0..4 {
                let query = if rng.random_bool(0.5) && !live.is_empty() {
                    flip_random(
                        &live[rng.random_range(0..live.len())].0,
                        rng.random_range(0..=20),
                        &mut rng,
                    )
                } else {
                    pool[rng.random_range(0..pool.len())]
                };
                assert_all_radii(&index, &live, &query);
            }
        }
    }
    let mut stored: Vec<(PdqHash, u64)> = index.iter().collect();
    stored.sort();
    live.sort();
    assert_eq!(stored, live);
}

#[test]
fn many_updates_through_the_automatic_rebuilds() {
    // Enough inserts to move the delta into the base twice, enough removes to purge.
    let mut rng = StdRng::seed_from_u64(4);
    let hashes = clustered(&mut rng, 200, 100, 20_000);
    let mut index = RadiusIndex::new();
    let mut live = Vec::new();
    for (id, &hash) in (0..).zip(&hashes) {
        assert!(index.insert(hash, id));
        live.push((hash, id));
    }
    for _ in 0..15_000 {
        let (hash, id) = live.swap_remove(rng.random_range(0..live.len()));
        assert!(index.remove(&hash, id));
    }
    assert_eq!(index.len(), live.len());
    for _ in 0..60 {
        let query = flip_random(
            &hashes[rng.random_range(0..hashes.len())],
            rng.random_range(0..=16),
            &mut rng,
        );
        assert_all_radii(&index, &live, &query);
    }
    let before = index.memory();
    index.compact();
    assert!(index.memory().total() <= before.total());
    assert_eq!(
        index.memory().delta,
        0,
        "compact moved the delta into the base"
    );
}

#[test]
fn bulk_build_drops_repeated_pairs_and_keeps_shared_hashes() {
    let mut rng = StdRng::seed_from_u64(5);
    let hashes: Vec<PdqHash> = (0..30_000).map(|_| random_hash(&mut rng)).collect();
    // Every hash under ids 2k and 2k+1, every pair given twice: 60,000 entries from 120,000.
    let given = hashes.iter().enumerate().flat_map(|(k, &h)| {
        let k = k as u64;
        [(h, 2 * k), (h, 2 * k + 1), (h, 2 * k), (h, 2 * k + 1)]
    });
    let index: RadiusIndex = given.collect();
    assert_eq!(index.len(), 60_000);
    for (k, h) in hashes.iter().enumerate().step_by(997) {
        let k = k as u64;
        let found = index.query(h, 0).unwrap();
        let ids: Vec<u64> = found.iter().map(|m| m.id).collect();
        assert_eq!(ids, [2 * k, 2 * k + 1]);
    }
    // A few more, some repeated: inserted one by one through the delta.
    let mut index = index;
    index.extend([
        (hashes[0], 0),
        (hashes[0], 7_000_000),
        (hashes[0], 7_000_000),
    ]);
    assert_eq!(index.len(), 60_001);
    assert_eq!(index.query(&hashes[0], 0).unwrap().len(), 3);
}

#[test]
fn edge_cases() {
    let mut rng = StdRng::seed_from_u64(6);
    let h = random_hash(&mut rng);

    let empty = RadiusIndex::new();
    assert!(empty.is_empty());
    assert_eq!(empty.len(), 0);
    assert_eq!(empty.query(&h, 0).unwrap(), []);
    assert_eq!(empty.query(&h, MAX_RADIUS).unwrap(), []);
    assert_eq!(empty.linear_scan(&h, 256), []);
    assert_eq!(empty.iter().count(), 0);
    let empty_bulk: RadiusIndex = std::iter::empty().collect();
    assert_eq!(empty_bulk.query(&h, 20).unwrap(), []);

    let mut index = RadiusIndex::new();
    assert!(!index.remove(&h, 1), "nothing to remove");
    assert!(index.insert(h, 9));
    assert!(index.insert(h, 3), "the same hash under another id");
    assert!(!index.insert(h, 9), "the same pair");
    let near = flip_random(&h, 1, &mut rng);
    assert!(index.insert(near, 1));
    assert_eq!(index.len(), 3);
    let at = |distance, id, hash| Match { id, hash, distance };
    // Radius 0: the exact hash only, both ids, in id order.
    assert_eq!(index.query(&h, 0).unwrap(), [at(0, 3, h), at(0, 9, h)]);
    // Sorted by distance before id.
    assert_eq!(
        index.query(&h, 1).unwrap(),
        [at(0, 3, h), at(0, 9, h), at(1, 1, near)]
    );
    assert_eq!(
        index.query(&near, 1).unwrap(),
        [at(0, 1, near), at(1, 3, h), at(1, 9, h)]
    );
    // The complement is 256 bits away: never within the radius the index answers.
    let far = PdqHash(h.0.map(|b| !b));
    assert_eq!(index.query(&far, MAX_RADIUS).unwrap(), []);
    assert_eq!(index.linear_scan(&far, 256).len(), 3);

    // Above the exact limit: refused, with the radius in the error; the scan answers.
    assert_eq!(index.query(&h, 32), Err(RadiusTooLarge { radius: 32 }));
    assert_eq!(
        index.query(&h, u32::MAX),
        Err(RadiusTooLarge { radius: u32::MAX })
    );
    assert_eq!(index.linear_scan(&h, 32).len(), 3);

    assert!(index.remove(&h, 9));
    assert!(!index.contains(&h, 9));
    assert!(index.contains(&h, 3));
    assert_eq!(index.query(&h, 0).unwrap(), [at(0, 3, h)]);
    index.compact();
    assert_eq!(index.query(&h, 1).unwrap(), [at(0, 3, h), at(1, 1, near)]);
    assert!(index.remove(&h, 3) && index.remove(&near, 1));
    assert!(index.is_empty());
    assert_eq!(index.query(&h, MAX_RADIUS).unwrap(), []);
    index.compact();
    assert_eq!(index.memory().tables, std::mem::size_of::<RadiusIndex>());
    assert!(index.insert(h, 5), "usable after being emptied");
    assert_eq!(index.query(&h, 0).unwrap(), [at(0, 5, h)]);
}
