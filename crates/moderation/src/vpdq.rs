//! vPDQ matching: a video is a set of distinct frame hashes; two videos (or a video and a
//! list item) match when enough of one side's distinct hashes have a counterpart within the
//! radius on the other side. Both shares are reported, as ThreatExchange's vPDQ does.

use std::collections::BTreeSet;

use crate::PdqHash;

/// `part` of `whole` in whole percent, rounded down (79.9 % is not 80 %); 0 of nothing.
pub fn percent(part: usize, whole: usize) -> u32 {
    if whole == 0 {
        return 0;
    }
    ((part.min(whole) * 100) / whole) as u32
}

/// The two shares of a brute-force comparison: the percent of `query`'s distinct hashes with
/// a hash of `compared` within `radius`, and the same the other way.
pub fn compare(query: &[PdqHash], compared: &[PdqHash], radius: u32) -> (u32, u32) {
    let q: BTreeSet<PdqHash> = query.iter().copied().collect();
    let c: BTreeSet<PdqHash> = compared.iter().copied().collect();
    let near = |a: &PdqHash, side: &BTreeSet<PdqHash>| side.iter().any(|b| a.distance(b) <= radius);
    let q_hits = q.iter().filter(|a| near(a, &c)).count();
    let c_hits = c.iter().filter(|b| near(b, &q)).count();
    (percent(q_hits, q.len()), percent(c_hits, c.len()))
}

/// At most `max` of `items`, evenly spread over them (first and last kept), order kept.
pub fn spread<T>(items: Vec<T>, max: usize) -> Vec<T> {
    let n = items.len();
    if n <= max || max == 0 {
        return if max == 0 { Vec::new() } else { items };
    }
    let picks: BTreeSet<usize> = (0..max)
        .map(|i| if max == 1 { 0 } else { i * (n - 1) / (max - 1) })
        .collect();
    items
        .into_iter()
        .enumerate()
        .filter(|(i, _)| picks.contains(i))
        .map(|(_, t)| t)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(byte: u8, flips: usize) -> PdqHash {
        let mut bytes = [byte; 32];
        for bit in 0..flips {
            bytes[bit / 8] ^= 1 << (bit % 8);
        }
        PdqHash(bytes)
    }

    #[test]
    fn shares_both_ways() {
        let video = [h(0x00, 0), h(0x00, 10), h(0xff, 0), h(0x0f, 0)];
        // h(0,0) and h(0,10) are one picture twice; 0xff and 0x0f are far from it.
        let item = [h(0x00, 30)];
        assert_eq!(compare(&item, &video, 31), (100, 50));
        assert_eq!(compare(&video, &item, 31), (50, 100));
        assert_eq!(compare(&item, &video, 20), (100, 25));
        assert_eq!(compare(&item, &video, 19), (0, 0));
        assert_eq!(compare(&[], &video, 31), (0, 0));
        // Distinct: a repeated hash counts once.
        assert_eq!(compare(&[h(1, 0), h(1, 0)], &[h(1, 0)], 0), (100, 100));
    }

    #[test]
    fn percent_rounds_down_and_spread_keeps_the_ends() {
        assert_eq!(percent(799, 1000), 79);
        assert_eq!(percent(4, 5), 80);
        assert_eq!(percent(1, 0), 0);
        assert_eq!(spread((0..10).collect(), 4), vec![0, 3, 6, 9]);
        assert_eq!(spread((0..3).collect(), 4), vec![0, 1, 2]);
        assert_eq!(spread((0..10).collect(), 1), vec![0]);
    }
}
