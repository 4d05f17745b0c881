//! An exact Hamming-radius index over 256-bit PDQ hashes, by multi-index hashing.
//!
//! A hash is cut into 16 slots of 16 bits ([`PdqHash::slot`]). If two hashes differ in `d`
//! bits, the 16 slot distances sum to `d`, so by pigeonhole at least one slot differs in at most
//! `d / 16` bits (integer division). A query of radius `r ≤ 31` therefore probes, in every slot,
//! the query's own 16-bit value and (when `r ≥ 16`) its 16 one-bit neighbours, and verifies each
//! entry found there with the full 256-bit distance. Every stored hash within `r` is found:
//! the index is exact, not approximate, for radii up to [`MAX_RADIUS`] = 31 (PDQ's usual match
//! threshold). A larger radius is refused with [`RadiusTooLarge`] rather than answered by a
//! silent linear scan: [`RadiusIndex::linear_scan`] answers any radius, at its own, visible cost.
//!
//! An entry found through several slots is reported once, with no per-query set: it is kept
//! only in the first slot (lowest index) whose value lies within `r / 16` bits of the query's,
//! the slot where pigeonhole guarantees it is found.
//!
//! Memory layout (`n` entries; figures for `n` = 1,000,000):
//! - entries in parallel vectors indexed by a `u32` entry number: the hash as four `u64`
//!   (32 B), the id (8 B), and one tombstone bit: 40 MB;
//! - per slot, a base table in compressed-row form built in bulk: `starts`, 65,537 `u32`
//!   offsets directly addressed by the 16-bit value, and `items`, the `n` entry numbers grouped
//!   by value (4 B per entry per slot): 16 × (256 KiB + 4 MB) = 68 MB;
//! - per slot, a delta for entries inserted one at a time since the last rebuild: 65,536 list
//!   heads (allocated on the first such insert) and one `next` link per delta entry, 4 B per
//!   entry per slot.
//!
//! So about 104 B per entry, plus 4 MiB of offsets and, once entries are inserted one at a time,
//! 4 MiB of list heads; there is no allocation per bucket. A query allocates its answer and
//! one scratch vector of the entry numbers it verifies (about 265 per slot at a million).
//!
//! Updates: [`RadiusIndex::insert`] links the entry into the delta lists (O(1) after a duplicate
//! check); when the delta outgrows a quarter of the base (and at least 16,384 entries), the
//! whole index is rebuilt into base tables. [`RadiusIndex::remove`] sets the entry's tombstone
//! bit; tombstoned entries are skipped by queries and dropped by the next rebuild, which also
//! happens when more than a quarter of the entries (and at least 4,096) are tombstones. Those
//! rebuilds make the insert or remove that triggers them O(n) (about as long as a bulk build;
//! amortized O(1) per update). Bulk loads ([`FromIterator`], [`Extend`]) append every entry
//! and rebuild once (duplicate pairs are dropped then), the 16 tables built on one thread per
//! core when there are many entries.
//!
//! The index is a set of (hash, id) pairs: several ids may share a hash, and one id may have
//! several hashes, but inserting a pair already present does nothing. Queries take `&self`
//! and the type is `Sync`, so concurrent readers can share it.

use std::fmt;
use std::thread;

use crate::hash::PdqHash;

/// The largest radius [`RadiusIndex::query`] answers (inclusive): 16 slots, each probed within
/// one bit, find every hash within 16 × 2 − 1 = 31 bits.
pub const MAX_RADIUS: u32 = 31;

/// Slots per hash.
const SLOTS: usize = 16;
/// Distinct values of a 16-bit slot: the buckets of one slot's table.
const BUCKETS: usize = 1 << 16;
/// End of a delta list, and one more than the largest entry number.
const NONE: u32 = u32::MAX;
/// The delta may hold this many entries before a rebuild, or a quarter of the base if more.
const DELTA_MIN: usize = 1 << 14;
/// Tombstones may number this many before a rebuild, or a quarter of the entries if more.
const DEAD_MIN: usize = 1 << 12;
/// Rebuilds of at least this many entries build the 16 slot tables on several threads.
const PARALLEL_MIN: usize = 1 << 16;

/// A hash as four big-endian words, the form distances are computed on; aligned to 32 bytes so
/// that no entry straddles two cache lines.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(align(32))]
struct Words([u64; 4]);

impl Words {
    fn of(hash: &PdqHash) -> Self {
        Self(hash.words())
    }
}

/// Slot `i` of a hash in word form; the same value as [`PdqHash::slot`].
fn slot_of(w: &Words, i: usize) -> u16 {
    (w.0[i / 4] >> (48 - 16 * (i % 4))) as u16
}

fn distance(a: &Words, b: &Words) -> u32 {
    (a.0[0] ^ b.0[0]).count_ones()
        + (a.0[1] ^ b.0[1]).count_ones()
        + (a.0[2] ^ b.0[2]).count_ones()
        + (a.0[3] ^ b.0[3]).count_ones()
}

fn hash_of(w: &Words) -> PdqHash {
    let mut bytes = [0u8; 32];
    for (chunk, word) in bytes.chunks_exact_mut(8).zip(&w.0) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    PdqHash(bytes)
}

/// The lowest slot in which `a` and `b` differ in at most `within` bits (`SLOTS` if none).
fn first_close_slot(a: &Words, b: &Words, within: u32) -> usize {
    (0..SLOTS)
        .find(|&j| (slot_of(a, j) ^ slot_of(b, j)).count_ones() <= within)
        .unwrap_or(SLOTS)
}

/// A stored hash within the radius of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Match {
    /// The id it was inserted with.
    pub id: u64,
    /// The stored hash.
    pub hash: PdqHash,
    /// Its Hamming distance to the query (0..=radius).
    pub distance: u32,
}

/// A radius above [`MAX_RADIUS`] was asked of [`RadiusIndex::query`], which would not be exact
/// for it; [`RadiusIndex::linear_scan`] answers any radius.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "radius {radius} is above {MAX_RADIUS}, the largest the index answers exactly; a linear scan answers it"
)]
pub struct RadiusTooLarge {
    /// The radius asked for.
    pub radius: u32,
}

/// Bytes held by a [`RadiusIndex`], from the capacities of its vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemoryUsage {
    /// Hashes, ids and tombstone bits.
    pub entries: usize,
    /// The 16 base tables (offsets and entry numbers), and the index's own struct.
    pub tables: usize,
    /// The 16 delta lists (heads and links).
    pub delta: usize,
}

impl MemoryUsage {
    /// All of it.
    pub fn total(&self) -> usize {
        self.entries + self.tables + self.delta
    }
}

/// One slot's table: the base in compressed-row form plus the delta lists.
#[derive(Clone, Default)]
struct SlotTable {
    /// Empty, or `BUCKETS + 1` offsets into `items`: bucket `v` is `items[starts[v]..starts[v + 1]]`.
    starts: Vec<u32>,
    /// Entry numbers `0..base_len`, grouped by this slot's value, ascending within a bucket.
    items: Vec<u32>,
    /// Empty, or `BUCKETS` heads of the delta lists (`NONE` when a list is empty).
    heads: Vec<u32>,
    /// `next[e - base_len]`: the entry after `e` in its delta list.
    next: Vec<u32>,
}

impl SlotTable {
    fn base(&self, value: u16) -> &[u32] {
        if self.starts.is_empty() {
            return &[];
        }
        let v = usize::from(value);
        &self.items[self.starts[v] as usize..self.starts[v + 1] as usize]
    }

    fn delta_head(&self, value: u16) -> u32 {
        self.heads.get(usize::from(value)).copied().unwrap_or(NONE)
    }

    /// Rebuilds the base from all of `words` (counting sort by the slot's value) and empties
    /// the delta, keeping the allocations.
    fn build(&mut self, slot: usize, words: &[Words]) {
        self.next.clear();
        if !self.heads.is_empty() {
            self.heads.fill(NONE);
        }
        self.items.clear();
        if words.is_empty() {
            self.starts = Vec::new();
            self.items = Vec::new();
            return;
        }
        self.starts.clear();
        self.starts.resize(BUCKETS + 1, 0);
        for w in words {
            self.starts[usize::from(slot_of(w, slot)) + 1] += 1;
        }
        for v in 0..BUCKETS {
            self.starts[v + 1] += self.starts[v];
        }
        let mut cursor = self.starts[..BUCKETS].to_vec();
        self.items.resize(words.len(), 0);
        for (e, w) in words.iter().enumerate() {
            let at = &mut cursor[usize::from(slot_of(w, slot))];
            self.items[*at as usize] = e as u32;
            *at += 1;
        }
    }

    fn bytes(&self) -> (usize, usize) {
        (
            4 * (self.starts.capacity() + self.items.capacity()),
            4 * (self.heads.capacity() + self.next.capacity()),
        )
    }
}

/// Builds every slot's table from `words`, on up to as many threads as there are cores when
/// there are many entries.
fn build_tables(slots: &mut [SlotTable; SLOTS], words: &[Words]) {
    let threads = if words.len() >= PARALLEL_MIN {
        thread::available_parallelism().map_or(1, |n| n.get().min(SLOTS))
    } else {
        1
    };
    if threads <= 1 {
        for (i, table) in slots.iter_mut().enumerate() {
            table.build(i, words);
        }
        return;
    }
    let per_thread = SLOTS.div_ceil(threads);
    thread::scope(|scope| {
        for (chunk_no, chunk) in slots.chunks_mut(per_thread).enumerate() {
            scope.spawn(move || {
                for (k, table) in chunk.iter_mut().enumerate() {
                    table.build(chunk_no * per_thread + k, words);
                }
            });
        }
    });
}

/// What a query looks for, shared by its probes.
struct Probe<'a> {
    query: &'a Words,
    radius: u32,
    /// Slot distance at which an entry is guaranteed to be found: `radius / 16`.
    within: u32,
}

/// An exact Hamming-radius index of (PDQ hash, id) entries; see the [module docs](self) for
/// the method and the memory layout.
#[derive(Clone, Default)]
pub struct RadiusIndex {
    /// Entry `e`'s hash.
    words: Vec<Words>,
    /// Entry `e`'s id.
    ids: Vec<u64>,
    /// Tombstones: bit `e % 64` of word `e / 64` is set once entry `e` is removed.
    dead: Vec<u64>,
    dead_count: usize,
    /// Entries `0..base_len` are in the base tables, the rest in the delta lists.
    base_len: usize,
    slots: [SlotTable; SLOTS],
}

impl RadiusIndex {
    /// An empty index. It allocates nothing until the first entry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of entries ((hash, id) pairs) in the index.
    pub fn len(&self) -> usize {
        self.words.len() - self.dead_count
    }

    /// Whether the index has no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds the entry (`hash`, `id`); returns false, changing nothing, if it is already there.
    /// Other entries may have the same hash or the same id.
    ///
    /// O(1) apart from the duplicate check (one bucket) and, now and then, a rebuild of the
    /// whole index (see the module docs).
    ///
    /// # Panics
    ///
    /// If the index already holds 4,294,967,295 entries (including removed ones not yet
    /// purged): entry numbers are `u32`.
    pub fn insert(&mut self, hash: PdqHash, id: u64) -> bool {
        let w = Words::of(&hash);
        if self.find(&w, id).is_some() {
            return false;
        }
        let e = self.push_raw(w, id);
        self.link_delta(e);
        if self.words.len() - self.base_len > self.delta_limit() {
            self.rebuild(false);
        }
        true
    }

    /// Removes the entry (`hash`, `id`); returns whether it was there. Other entries with the
    /// same hash or id stay.
    pub fn remove(&mut self, hash: &PdqHash, id: u64) -> bool {
        let Some(e) = self.find(&Words::of(hash), id) else {
            return false;
        };
        self.dead[e / 64] |= 1 << (e % 64);
        self.dead_count += 1;
        if self.dead_count > DEAD_MIN.max(self.words.len() / 4) {
            self.rebuild(false);
        }
        true
    }

    /// Whether the entry (`hash`, `id`) is in the index.
    pub fn contains(&self, hash: &PdqHash, id: u64) -> bool {
        self.find(&Words::of(hash), id).is_some()
    }

    /// Every stored hash within `radius` bits of `hash` (distance ≤ `radius`), each entry once,
    /// sorted by distance, then id, then hash. Exact for `radius` up to [`MAX_RADIUS`]; a larger
    /// radius is refused.
    ///
    /// Cost: 16 buckets for `radius` ≤ 15, 272 for 16..=31, each holding about `len / 65,536`
    /// entries for uniformly spread hashes, plus their share of the delta.
    pub fn query(&self, hash: &PdqHash, radius: u32) -> Result<Vec<Match>, RadiusTooLarge> {
        if radius > MAX_RADIUS {
            return Err(RadiusTooLarge { radius });
        }
        let query = Words::of(hash);
        let probe = Probe {
            query: &query,
            radius,
            within: radius / 16,
        };
        // Per slot, the entry numbers of the probed buckets are gathered first and verified in
        // one tight loop after: independent loads the processor can overlap, where verifying
        // bucket by bucket stalls at every bucket's end.
        let mut candidates = Vec::new();
        let mut out = Vec::new();
        for (slot, table) in self.slots.iter().enumerate() {
            candidates.clear();
            let value = slot_of(&query, slot);
            self.gather(table, value, &mut candidates);
            if probe.within == 1 {
                for bit in 0..16 {
                    self.gather(table, value ^ (1 << bit), &mut candidates);
                }
            }
            for &e in &candidates {
                self.check(&probe, slot, e as usize, &mut out);
            }
        }
        sort_matches(&mut out);
        Ok(out)
    }

    /// The same answer as [`query`](Self::query), for any radius, by comparing `hash` with every
    /// entry: the reference the index is tested against, and the way to ask for radii above
    /// [`MAX_RADIUS`].
    pub fn linear_scan(&self, hash: &PdqHash, radius: u32) -> Vec<Match> {
        let query = Words::of(hash);
        let mut out: Vec<Match> = self
            .words
            .iter()
            .enumerate()
            .filter(|&(e, w)| distance(w, &query) <= radius && !self.is_dead(e))
            .map(|(e, w)| Match {
                id: self.ids[e],
                hash: hash_of(w),
                distance: distance(w, &query),
            })
            .collect();
        sort_matches(&mut out);
        out
    }

    /// The entries, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (PdqHash, u64)> + '_ {
        self.words
            .iter()
            .zip(&self.ids)
            .enumerate()
            .filter(|&(e, _)| !self.is_dead(e))
            .map(|(_, (w, &id))| (hash_of(w), id))
    }

    /// Rebuilds the index now: purges removed entries, moves the delta into the base tables
    /// and releases spare capacity, the delta's list heads included (4 MiB, allocated again by
    /// the next insert). Never needed for correctness.
    pub fn compact(&mut self) {
        self.rebuild(false);
        self.words.shrink_to_fit();
        self.ids.shrink_to_fit();
        self.dead.shrink_to_fit();
        for table in &mut self.slots {
            table.items.shrink_to_fit();
            table.heads = Vec::new();
            table.next = Vec::new();
        }
    }

    /// Bytes held by the index's vectors (their capacities, not their lengths), and the
    /// index's own struct.
    pub fn memory(&self) -> MemoryUsage {
        let mut usage = MemoryUsage {
            entries: 32 * self.words.capacity()
                + 8 * self.ids.capacity()
                + 8 * self.dead.capacity(),
            tables: std::mem::size_of::<Self>(),
            delta: 0,
        };
        for table in &self.slots {
            let (base, delta) = table.bytes();
            usage.tables += base;
            usage.delta += delta;
        }
        usage
    }

    fn is_dead(&self, e: usize) -> bool {
        self.dead[e / 64] >> (e % 64) & 1 == 1
    }

    /// Appends the entries of bucket `value` of a slot's table (base and delta) to `out`.
    fn gather(&self, table: &SlotTable, value: u16, out: &mut Vec<u32>) {
        out.extend_from_slice(table.base(value));
        let mut e = table.delta_head(value);
        while e != NONE {
            out.push(e);
            e = table.next[e as usize - self.base_len];
        }
    }

    fn check(&self, probe: &Probe<'_>, slot: usize, e: usize, out: &mut Vec<Match>) {
        let w = &self.words[e];
        let d = distance(w, probe.query);
        if d <= probe.radius
            && !self.is_dead(e)
            && first_close_slot(w, probe.query, probe.within) == slot
        {
            out.push(Match {
                id: self.ids[e],
                hash: hash_of(w),
                distance: d,
            });
        }
    }

    /// The live entry (`w`, `id`) among those in the tables (base or delta), through slot 0.
    fn find(&self, w: &Words, id: u64) -> Option<usize> {
        let table = &self.slots[0];
        let value = slot_of(w, 0);
        let is_it = |e: usize| self.ids[e] == id && self.words[e] == *w && !self.is_dead(e);
        if let Some(&e) = table.base(value).iter().find(|&&e| is_it(e as usize)) {
            return Some(e as usize);
        }
        let mut e = table.delta_head(value);
        while e != NONE {
            if is_it(e as usize) {
                return Some(e as usize);
            }
            e = table.next[e as usize - self.base_len];
        }
        None
    }

    /// Appends an entry to the entry vectors only (not to any table); returns its number.
    fn push_raw(&mut self, w: Words, id: u64) -> usize {
        let e = self.words.len();
        assert!(
            e < NONE as usize,
            "a RadiusIndex holds at most {NONE} entries"
        );
        self.words.push(w);
        self.ids.push(id);
        if e.is_multiple_of(64) {
            self.dead.push(0);
        }
        e
    }

    /// Links entry `e`, the one after the last linked, into every slot's delta list.
    fn link_delta(&mut self, e: usize) {
        let w = self.words[e];
        for (slot, table) in self.slots.iter_mut().enumerate() {
            if table.heads.is_empty() {
                table.heads = vec![NONE; BUCKETS];
            }
            let v = usize::from(slot_of(&w, slot));
            table.next.push(table.heads[v]);
            table.heads[v] = e as u32;
        }
    }

    fn delta_limit(&self) -> usize {
        DELTA_MIN.max(self.base_len / 4)
    }

    /// Drops removed entries, renumbering the rest in order; the tables must be rebuilt after.
    fn retain_live(&mut self) {
        if self.dead_count > 0 {
            let mut kept = 0;
            for e in 0..self.words.len() {
                if !self.is_dead(e) {
                    self.words[kept] = self.words[e];
                    self.ids[kept] = self.ids[e];
                    kept += 1;
                }
            }
            self.words.truncate(kept);
            self.ids.truncate(kept);
            self.dead_count = 0;
        }
        self.dead.clear();
        self.dead.resize(self.words.len().div_ceil(64), 0);
    }

    /// Puts every live entry into the base tables. With `dedup`, entries may have been
    /// appended without the duplicate check: the later copies of a pair are dropped.
    fn rebuild(&mut self, dedup: bool) {
        self.retain_live();
        if dedup && self.mark_duplicates() {
            self.retain_live();
        }
        build_tables(&mut self.slots, &self.words);
        self.base_len = self.words.len();
    }

    /// Tombstones every entry equal, in hash and id, to an earlier one; returns whether there
    /// were any. Builds slot 0's table to group the candidates.
    fn mark_duplicates(&mut self) -> bool {
        if self.words.len() < 2 {
            return false;
        }
        self.slots[0].build(0, &self.words);
        let mut group: Vec<(Words, u64, u32)> = Vec::new();
        let mut duplicates = Vec::new();
        for v in 0..=u16::MAX {
            let bucket = self.slots[0].base(v);
            if bucket.len() < 2 {
                continue;
            }
            group.clear();
            group.extend(
                bucket
                    .iter()
                    .map(|&e| (self.words[e as usize], self.ids[e as usize], e)),
            );
            group.sort_unstable();
            for pair in group.windows(2) {
                if pair[0].0 == pair[1].0 && pair[0].1 == pair[1].1 {
                    duplicates.push(pair[1].2 as usize);
                }
            }
        }
        for &e in &duplicates {
            self.dead[e / 64] |= 1 << (e % 64);
        }
        self.dead_count += duplicates.len();
        !duplicates.is_empty()
    }
}

fn sort_matches(matches: &mut [Match]) {
    matches.sort_unstable_by_key(|m| (m.distance, m.id, m.hash));
}

impl Extend<(PdqHash, u64)> for RadiusIndex {
    /// Adds the entries, skipping pairs already present. Many entries (more than the delta
    /// may hold) are appended and the index rebuilt once; a few are inserted one by one.
    fn extend<I: IntoIterator<Item = (PdqHash, u64)>>(&mut self, entries: I) {
        let entries = entries.into_iter();
        let (lower, _) = entries.size_hint();
        self.words.reserve(lower);
        self.ids.reserve(lower);
        let first = self.words.len();
        for (hash, id) in entries {
            self.push_raw(Words::of(&hash), id);
        }
        if self.words.len() - self.base_len > self.delta_limit() {
            self.rebuild(true);
            return;
        }
        for e in first..self.words.len() {
            if self.find(&self.words[e], self.ids[e]).is_some() {
                self.dead[e / 64] |= 1 << (e % 64);
                self.dead_count += 1;
            }
            self.link_delta(e);
        }
    }
}

impl FromIterator<(PdqHash, u64)> for RadiusIndex {
    /// Builds the index in bulk (one rebuild for many entries).
    fn from_iter<I: IntoIterator<Item = (PdqHash, u64)>>(entries: I) -> Self {
        let mut index = Self::new();
        index.extend(entries);
        index
    }
}

impl fmt::Debug for RadiusIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RadiusIndex")
            .field("len", &self.len())
            .field("base", &self.base_len)
            .field("delta", &(self.words.len() - self.base_len))
            .field("removed_not_purged", &self.dead_count)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> PdqHash {
        "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
            .parse()
            .unwrap()
    }

    #[test]
    fn word_form_agrees_with_the_hash_type() {
        let h = sample();
        let w = Words::of(&h);
        for i in 0..SLOTS {
            assert_eq!(slot_of(&w, i), h.slot(i), "slot {i}");
        }
        assert_eq!(hash_of(&w), h);
        let mut other = h;
        other.0[5] ^= 0b0110_0001;
        assert_eq!(distance(&w, &Words::of(&other)), h.distance(&other));
    }

    #[test]
    fn first_close_slot_is_the_lowest_within() {
        let a = Words::of(&sample());
        let mut b = sample();
        // Two bits in slots 0..3, one in slot 3: within 1 first at slot 3; within 0 nowhere
        // before slot 4.
        for byte in [0, 2, 4] {
            b.0[byte] ^= 0b11;
        }
        b.0[6] ^= 1;
        let b = Words::of(&b);
        assert_eq!(first_close_slot(&a, &b, 1), 3);
        assert_eq!(first_close_slot(&a, &b, 0), 4);
        assert_eq!(first_close_slot(&a, &a, 0), 0);
    }

    fn numbered(id: u64) -> PdqHash {
        let mut h = sample();
        h.0[..8].copy_from_slice(&id.to_be_bytes());
        h
    }

    #[test]
    fn delta_and_tombstone_rebuilds_trigger() {
        let mut index = RadiusIndex::new();
        for id in 0..(DELTA_MIN as u64 + 1) {
            assert!(index.insert(numbered(id), id));
        }
        assert_eq!(
            index.base_len,
            DELTA_MIN + 1,
            "the delta was rebuilt into the base"
        );
        assert!(index.slots.iter().all(|t| t.next.is_empty()));
        for id in 0..(DEAD_MIN as u64 + 1) {
            assert!(index.remove(&numbered(id), id));
        }
        assert_eq!(index.dead_count, 0, "tombstones were purged");
        assert_eq!(index.len(), DELTA_MIN - DEAD_MIN);
        let last = DELTA_MIN as u64;
        let found = index.query(&numbered(last), 0).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].id, found[0].distance), (last, 0));
        assert!(index.query(&numbered(0), 0).unwrap().is_empty());
    }
}
