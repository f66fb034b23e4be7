//! [`HashMapStorage`]: the concurrent in-memory [`StorageEngine`].
//!
//! # Structure
//!
//! Keys are spread over a power-of-two number of shards (DashMap's rule: four
//! per core, rounded up) by bits of one hash computed per call. Each shard is
//! an [`IndexMap`] (a dense entry vector plus a hash index) behind a
//! `parking_lot` read-write lock, padded to its own cache line, with its
//! length and cost total mirrored in atomics so `len` and `estimated_cost` do
//! not lock.
//!
//! DashMap's public API offers no positional access to its tables, which a
//! resumable O(page) cursor and O(1) uniform sampling both need; the dense
//! vector gives both without `unsafe`.
//!
//! # Why the cursor never misses a stable key
//!
//! The cursor walks each shard's entry vector from the top index down to 0
//! and remembers how many entries are left below it. The shard only ever
//! moves an entry to a *lower* index: an insert appends at the end, an
//! overwrite stays in place, a removal moves the last entry into the hole
//! (`swap_remove`), and shrinking the hash index never reorders entries. So an
//! entry not yet visited stays below the cursor until visited, and an entry
//! appended after the cursor entered the shard is above it (new keys may be
//! skipped, which `SCAN` allows). Only a removal can move an already visited
//! entry below the cursor, which is the one source of duplicates.
//! Every method that mutates a shard must keep this invariant.

use crate::cursor::{CursorError, CursorState, IterationCursor};
use crate::engine::StorageEngine;
use crate::record::Record;
use crossbeam_utils::CachePadded;
use indexmap::map::raw_entry_v1::RawEntryMut;
use indexmap::map::RawEntryApiV1;
use indexmap::IndexMap;
use parking_lot::RwLock;
use rand::Rng;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// The hasher of every shard and of shard selection: foldhash, fast and
/// seeded per process so that keys cannot be chosen to collide.
type Hasher = foldhash::fast::RandomState;
/// Keys up to 24 bytes live inline in the entry (no allocation, no extra
/// cache miss when comparing); longer keys are on the heap.
type Key = compact_str::CompactString;
type ShardMap = IndexMap<Key, Record, Hasher>;

/// Most shards a store may have (the cursor records the shard in 16 bits).
pub const MAX_SHARDS: usize = 1 << 15;

/// A shard shrinks its tables when fewer than a quarter of their capacity is
/// in use, and only above this capacity.
const SHRINK_MIN_CAPACITY: usize = 64;

/// The entry vector grows by a quarter when full (at least this many).
/// `IndexMap` on its own sizes the vector to the hash index's capacity, up
/// to 1.8 times the entries; records are about 160 bytes inline, so the
/// smaller step saves tens of bytes per entry at the cost of a few more
/// (amortised O(1)) moves.
const MIN_GROWTH: usize = 16;

struct Shard {
    map: RwLock<ShardMap>,
    /// Mirrors `map.len()`, written under the write lock.
    len: AtomicUsize,
    /// Sum of `metadata.cost` in this shard, written under the write lock.
    cost: AtomicU64,
}

/// The concurrent in-memory storage engine (see the module docs for its
/// structure and the reasons behind it).
///
/// * `get`, `put`, `remove`, `contains_key`: O(1) expected, one shard lock.
/// * `len`, `estimated_cost`: O(shard count), lock free.
/// * `fetch_keys` / `fetch_entries`: O(page), with the guarantees of
///   [`StorageEngine`].
/// * `random_samples(k)`: O(k + shard count), uniform over live entries.
/// * Memory per entry: the record, the key (inline up to 24 bytes), 8 bytes
///   of hash and about 10 bytes of index, plus up to a quarter of spare
///   entry capacity; tables shrink when three quarters empty.
pub struct HashMapStorage {
    shards: Box<[CachePadded<Shard>]>,
    hasher: Hasher,
    /// `64 - log2(shard count)`: the shift that picks shard bits.
    shift: u32,
}

impl Default for HashMapStorage {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for HashMapStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashMapStorage")
            .field("shards", &self.shards.len())
            .field("len", &self.len())
            .field("estimated_cost", &self.estimated_cost())
            .finish()
    }
}

impl HashMapStorage {
    /// An empty engine with four shards per available core, rounded up to a
    /// power of two (at least 4).
    #[must_use]
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        Self::with_shards((cores * 4).next_power_of_two().max(4))
    }

    /// An empty engine with `shards` shards, rounded up to a power of two and
    /// clamped to `1..=`[`MAX_SHARDS`]. Cursors only work with the engine
    /// layout that made them, so stores that share cursors need equal counts.
    #[must_use]
    pub fn with_shards(shards: usize) -> Self {
        let count = shards.clamp(1, MAX_SHARDS).next_power_of_two();
        let hasher = Hasher::default();
        let shards = (0..count)
            .map(|_| {
                CachePadded::new(Shard {
                    map: RwLock::new(IndexMap::with_hasher(hasher.clone())),
                    len: AtomicUsize::new(0),
                    cost: AtomicU64::new(0),
                })
            })
            .collect();
        Self {
            shards,
            hasher,
            shift: 64 - count.trailing_zeros(),
        }
    }

    /// Number of shards.
    #[must_use]
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Entries the tables can hold without growing, summed over shards.
    /// Grows with inserts and falls after mass removals or `clear`; O(shard
    /// count), takes each shard's read lock briefly.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.shards.iter().map(|s| s.map.read().capacity()).sum()
    }

    fn shard_count_u16(&self) -> u16 {
        // `with_shards` clamps the count to MAX_SHARDS (2^15).
        u16::try_from(self.shards.len()).unwrap_or(u16::MAX)
    }

    fn locate(&self, key: &str) -> (u64, &Shard) {
        let hash = self.hasher.hash_one(key);
        // The top 7 bits feed the table's control bytes and the low bits its
        // bucket index; take the shard from the bits just below the top 7.
        let index = if self.shift == 64 {
            0
        } else {
            ((hash << 7) >> self.shift) as usize
        };
        (hash, &self.shards[index])
    }

    /// Picks `k` distinct entries uniformly with `rng` and calls `f` on each
    /// under the shard's read lock (no copy); what
    /// [`StorageEngine::sample_with`] does with the thread's generator, for
    /// callers that need a seeded one. Cost O(k + shard count).
    pub fn sample_with_rng(
        &self,
        k: usize,
        rng: &mut impl Rng,
        f: &mut dyn FnMut(&str, &Record),
    ) -> usize {
        let lens: Vec<usize> = self
            .shards
            .iter()
            .map(|s| s.len.load(Ordering::Relaxed))
            .collect();
        let total: usize = lens.iter().sum();
        let k = k.min(total);
        if k == 0 {
            return 0;
        }
        let mut picks = rand::seq::index::sample(rng, total, k).into_vec();
        picks.sort_unstable();
        let mut visited = 0;
        let mut base = 0;
        let mut picks = picks.into_iter().peekable();
        for (shard, &len) in self.shards.iter().zip(&lens) {
            if picks.peek().is_none() {
                break;
            }
            let end = base + len;
            if picks.peek().is_some_and(|&p| p < end) {
                let map = shard.map.read();
                while let Some(&p) = picks.peek() {
                    if p >= end {
                        break;
                    }
                    picks.next();
                    // A concurrent removal may have shortened the shard.
                    if let Some((key, record)) = map.get_index(p - base) {
                        f(key, record);
                        visited += 1;
                    }
                }
            }
            base = end;
        }
        visited
    }

    fn fetch_pages(
        &self,
        cursor: &IterationCursor,
        size: usize,
        visit: &mut dyn FnMut(&str, &Record) -> bool,
    ) -> Result<IterationCursor, CursorError> {
        if size == 0 {
            return Err(CursorError::ZeroPageSize);
        }
        let shard_count = self.shard_count_u16();
        let finished = IterationCursor::from_state(CursorState::Finished { shard_count });
        let (mut shard, mut position) = match cursor.state() {
            CursorState::Start => (0u16, None),
            CursorState::At {
                shard_count: theirs,
                shard,
                position,
            } if theirs == shard_count => (shard, position),
            CursorState::Finished {
                shard_count: theirs,
            } if theirs == shard_count => return Ok(finished),
            CursorState::At {
                shard_count: theirs,
                ..
            }
            | CursorState::Finished {
                shard_count: theirs,
            } => {
                return Err(CursorError::ForeignCursor {
                    cursor: theirs,
                    store: shard_count,
                })
            }
        };
        let mut taken = 0usize;
        let mut refused = false;
        while shard < shard_count && taken < size && !refused {
            let map = self.shards[usize::from(shard)].map.read();
            let len = map.len();
            let mut left = position.map_or(len, |p| usize::try_from(p).unwrap_or(len).min(len));
            while left > 0 && taken < size {
                let Some((key, record)) = map.get_index(left - 1) else {
                    break;
                };
                if !visit(key, record) {
                    refused = true;
                    break;
                }
                left -= 1;
                taken += 1;
            }
            drop(map);
            if left == 0 {
                shard += 1;
                position = None;
            } else {
                position = Some(left as u64);
            }
        }
        // Skip shards that are empty now, so the page that takes the last
        // entry already reports the end (an empty shard holds no key that
        // is present for the whole iteration).
        while shard < shard_count
            && position.is_none()
            && self.shards[usize::from(shard)].len.load(Ordering::Relaxed) == 0
        {
            shard += 1;
        }
        let next = if shard >= shard_count {
            CursorState::Finished { shard_count }
        } else {
            CursorState::At {
                shard_count,
                shard,
                position,
            }
        };
        Ok(IterationCursor::from_state(next))
    }
}

/// Grows a full entry vector by a quarter (see [`MIN_GROWTH`]) before an
/// insert, so `IndexMap` does not size it to the hash index's capacity.
fn reserve_for_insert(map: &mut ShardMap) {
    if map.len() == map.capacity() {
        map.reserve_exact((map.len() / 4).max(MIN_GROWTH));
    }
}

/// Brings the shard's atomics in step after a write and shrinks oversized
/// tables. Called with the write lock held.
fn after_write(shard: &Shard, map: &mut ShardMap, cost_delta: i128) {
    if map.capacity() > SHRINK_MIN_CAPACITY && map.len() * 4 < map.capacity() {
        // Rebuilds the hash index; the entry vector keeps its order.
        map.shrink_to(map.len() * 2);
    }
    shard.len.store(map.len(), Ordering::Relaxed);
    if cost_delta != 0 {
        let cost = i128::from(shard.cost.load(Ordering::Relaxed)) + cost_delta;
        shard.cost.store(
            u64::try_from(cost.max(0)).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
}

impl StorageEngine for HashMapStorage {
    fn put(&self, key: &str, record: Record) -> Option<Record> {
        let (hash, shard) = self.locate(key);
        let mut map = shard.map.write();
        reserve_for_insert(&mut map);
        let new_cost = i128::from(record.metadata.cost);
        let old = match map.raw_entry_mut_v1().from_key_hashed_nocheck(hash, key) {
            RawEntryMut::Occupied(mut slot) => Some(slot.insert(record)),
            RawEntryMut::Vacant(slot) => {
                slot.insert_hashed_nocheck(hash, Key::new(key), record);
                None
            }
        };
        let old_cost = old.as_ref().map_or(0, |r| i128::from(r.metadata.cost));
        after_write(shard, &mut map, new_cost - old_cost);
        old
    }

    fn get(&self, key: &str) -> Option<Record> {
        let (hash, shard) = self.locate(key);
        let map = shard.map.read();
        map.raw_entry_v1()
            .from_key_hashed_nocheck(hash, key)
            .map(|(_, r)| r.clone())
    }

    fn get_with(&self, key: &str, f: &mut dyn FnMut(&Record)) -> bool {
        let (hash, shard) = self.locate(key);
        let map = shard.map.read();
        match map.raw_entry_v1().from_key_hashed_nocheck(hash, key) {
            Some((_, record)) => {
                f(record);
                true
            }
            None => false,
        }
    }

    fn update(&self, key: &str, f: &mut dyn FnMut(&mut Record)) -> bool {
        let (hash, shard) = self.locate(key);
        let mut map = shard.map.write();
        let delta = match map.raw_entry_mut_v1().from_key_hashed_nocheck(hash, key) {
            RawEntryMut::Occupied(mut slot) => {
                let record = slot.get_mut();
                let before = record.metadata.cost;
                f(record);
                i128::from(record.metadata.cost) - i128::from(before)
            }
            RawEntryMut::Vacant(_) => return false,
        };
        after_write(shard, &mut map, delta);
        true
    }

    fn remove(&self, key: &str) -> Option<Record> {
        let (hash, shard) = self.locate(key);
        let mut map = shard.map.write();
        let removed = match map.raw_entry_mut_v1().from_key_hashed_nocheck(hash, key) {
            // swap_remove moves the last entry down into the hole: allowed by
            // the cursor invariant (entries only move to lower indices).
            RawEntryMut::Occupied(slot) => slot.swap_remove(),
            RawEntryMut::Vacant(_) => return None,
        };
        after_write(shard, &mut map, -i128::from(removed.metadata.cost));
        Some(removed)
    }

    fn contains_key(&self, key: &str) -> bool {
        let (hash, shard) = self.locate(key);
        let map = shard.map.read();
        map.raw_entry_v1()
            .from_key_hashed_nocheck(hash, key)
            .is_some()
    }

    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.len.load(Ordering::Relaxed))
            .sum()
    }

    fn clear(&self) {
        for shard in self.shards.iter() {
            let mut map = shard.map.write();
            *map = IndexMap::with_hasher(self.hasher.clone());
            shard.len.store(0, Ordering::Relaxed);
            shard.cost.store(0, Ordering::Relaxed);
        }
    }

    fn destroy(&self) {
        self.clear();
    }

    fn estimated_cost(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.cost.load(Ordering::Relaxed))
            .fold(0u64, u64::saturating_add)
    }

    fn fetch_with(
        &self,
        cursor: &IterationCursor,
        size: usize,
        visit: &mut dyn FnMut(&str, &Record) -> bool,
    ) -> Result<IterationCursor, CursorError> {
        self.fetch_pages(cursor, size, visit)
    }

    fn snapshot_iter(&self) -> Vec<(String, Record)> {
        let mut out = Vec::with_capacity(self.len());
        for shard in self.shards.iter() {
            let map = shard.map.read();
            out.extend(map.iter().map(|(k, r)| (k.as_str().to_owned(), r.clone())));
        }
        out
    }

    fn sample_with(&self, sample_count: usize, f: &mut dyn FnMut(&str, &Record)) -> usize {
        self.sample_with_rng(sample_count, &mut rand::rng(), f)
    }

    fn upsert(
        &self,
        key: &str,
        f: &mut dyn FnMut(Option<&Record>) -> Option<Record>,
    ) -> Option<Record> {
        let (hash, shard) = self.locate(key);
        let mut map = shard.map.write();
        reserve_for_insert(&mut map);
        let (old, delta) = match map.raw_entry_mut_v1().from_key_hashed_nocheck(hash, key) {
            RawEntryMut::Occupied(mut slot) => match f(Some(slot.get())) {
                Some(new) => {
                    let delta = i128::from(new.metadata.cost);
                    let old = slot.insert(new);
                    (Some(old), delta)
                }
                None => return None,
            },
            RawEntryMut::Vacant(slot) => match f(None) {
                Some(new) => {
                    let delta = i128::from(new.metadata.cost);
                    slot.insert_hashed_nocheck(hash, Key::new(key), new);
                    (None, delta)
                }
                None => return None,
            },
        };
        let old_cost = old.as_ref().map_or(0, |r| i128::from(r.metadata.cost));
        after_write(shard, &mut map, delta - old_cost);
        old
    }

    fn remove_if(&self, key: &str, pred: &mut dyn FnMut(&Record) -> bool) -> Option<Record> {
        let (hash, shard) = self.locate(key);
        let mut map = shard.map.write();
        let removed = match map.raw_entry_mut_v1().from_key_hashed_nocheck(hash, key) {
            RawEntryMut::Occupied(slot) if pred(slot.get()) => slot.swap_remove(),
            _ => return None,
        };
        after_write(shard, &mut map, -i128::from(removed.metadata.cost));
        Some(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{RecordMetadata, RecordValue, Timestamp};
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use std::collections::{HashMap, HashSet};
    use std::sync::Arc;

    fn record(n: i64, cost: u64) -> Record {
        Record::new(
            RecordValue::lww(n, Timestamp::new(1, 0, "node")),
            RecordMetadata::new(n, cost),
        )
    }

    fn filled(n: usize) -> HashMapStorage {
        let s = HashMapStorage::new();
        for i in 0..n {
            s.put(&format!("key{i}"), record(i as i64, 1));
        }
        s
    }

    fn scan_keys(s: &HashMapStorage, page: usize) -> Vec<String> {
        let mut cursor = IterationCursor::start();
        let mut out = Vec::new();
        while !cursor.is_finished() {
            let r = s.fetch_keys(&cursor, page).unwrap();
            assert!(r.items.len() <= page);
            out.extend(r.items);
            cursor = r.next_cursor;
        }
        out
    }

    #[test]
    fn put_get_remove_round_trip() {
        let s = HashMapStorage::new();
        assert!(s.put("a", record(1, 10)).is_none());
        assert_eq!(s.get("a"), Some(record(1, 10)));
        let old = s.put("a", record(2, 20));
        assert_eq!(old, Some(record(1, 10)));
        assert_eq!(s.remove("a"), Some(record(2, 20)));
        assert_eq!(s.get("a"), None);
        assert_eq!(s.remove("a"), None);
    }

    #[test]
    fn empty_key_is_an_ordinary_key() {
        let s = HashMapStorage::new();
        s.put("", record(7, 1));
        assert!(s.contains_key(""));
        assert_eq!(scan_keys(&s, 10), vec![String::new()]);
    }

    #[test]
    fn contains_key_reflects_state() {
        let s = HashMapStorage::new();
        assert!(!s.contains_key("a"));
        s.put("a", record(1, 0));
        assert!(s.contains_key("a"));
        s.remove("a");
        assert!(!s.contains_key("a"));
    }

    #[test]
    fn len_and_is_empty() {
        let s = HashMapStorage::new();
        assert!(s.is_empty());
        s.put("a", record(1, 0));
        s.put("b", record(2, 0));
        s.put("a", record(3, 0));
        assert_eq!(s.len(), 2);
        assert!(!s.is_empty());
    }

    #[test]
    fn clear_empties_storage() {
        let s = filled(100);
        s.clear();
        assert!(s.is_empty());
        assert_eq!(s.estimated_cost(), 0);
        assert_eq!(s.get("key1"), None);
        assert!(scan_keys(&s, 10).is_empty());
    }

    #[test]
    fn get_with_and_update_work_in_place() {
        let s = HashMapStorage::new();
        s.put("a", record(1, 5));
        let mut seen = None;
        assert!(s.get_with("a", &mut |r| seen = Some(r.metadata.cost)));
        assert_eq!(seen, Some(5));
        assert!(s.update("a", &mut |r| {
            r.metadata.on_access(9);
            r.metadata.cost = 8;
        }));
        assert_eq!(s.get("a").unwrap().metadata.hits, 1);
        assert_eq!(s.estimated_cost(), 8);
        assert!(!s.update("missing", &mut |_| panic!("called for a missing key")));
        assert!(!s.get_with("missing", &mut |_| panic!("called for a missing key")));
    }

    #[test]
    fn fetch_keys_with_cursor_pagination() {
        let s = filled(5);
        let first = s.fetch_keys(&IterationCursor::start(), 3).unwrap();
        assert_eq!(first.items.len(), 3);
        assert!(!first.next_cursor.is_finished());
        let second = s.fetch_keys(&first.next_cursor, 3).unwrap();
        assert_eq!(second.items.len(), 2);
        assert!(second.next_cursor.is_finished());
        let all: HashSet<String> = first.items.into_iter().chain(second.items).collect();
        assert_eq!(all.len(), 5);
    }

    #[test]
    fn fetch_entries_with_cursor_pagination() {
        let s = filled(5);
        let mut cursor = IterationCursor::start();
        let mut sizes = Vec::new();
        let mut finished = Vec::new();
        let mut seen = HashMap::new();
        while !cursor.is_finished() {
            let page = s.fetch_entries(&cursor, 2).unwrap();
            sizes.push(page.items.len());
            finished.push(page.next_cursor.is_finished());
            for (k, r) in page.items {
                assert_eq!(s.get(&k), Some(r.clone()));
                seen.insert(k, r);
            }
            cursor = page.next_cursor;
        }
        assert_eq!(sizes, [2, 2, 1]);
        assert_eq!(finished, [false, false, true]);
        assert_eq!(seen.len(), 5);
    }

    #[test]
    fn full_page_at_the_end_reports_finished() {
        let s = filled(5);
        let page = s.fetch_keys(&IterationCursor::start(), 5).unwrap();
        assert_eq!(page.items.len(), 5);
        assert!(page.next_cursor.is_finished());
    }

    #[test]
    fn empty_storage_finishes_on_first_call() {
        let s = HashMapStorage::new();
        let page = s.fetch_keys(&IterationCursor::start(), 10).unwrap();
        assert!(page.items.is_empty());
        assert!(page.next_cursor.is_finished());
    }

    #[test]
    fn snapshot_iter_returns_all_entries() {
        let s = filled(50);
        let snap = s.snapshot_iter();
        assert_eq!(snap.len(), 50);
        let keys: HashSet<_> = snap.iter().map(|(k, _)| k.clone()).collect();
        assert_eq!(keys.len(), 50);
        for (k, r) in snap {
            assert_eq!(s.get(&k), Some(r));
        }
    }

    #[test]
    fn random_samples_respects_count() {
        let s = filled(100);
        let five = s.random_samples(5);
        assert_eq!(five.len(), 5);
        let distinct: HashSet<_> = five.iter().map(|(k, _)| k).collect();
        assert_eq!(distinct.len(), 5);
        for (k, r) in &five {
            assert_eq!(s.get(k).as_ref(), Some(r));
        }
        assert_eq!(s.random_samples(200).len(), 100);
        assert!(s.random_samples(0).is_empty());
    }

    #[test]
    fn random_samples_empty_storage() {
        assert!(HashMapStorage::new().random_samples(15).is_empty());
    }

    #[test]
    fn fetch_keys_cursor_past_end() {
        let s = filled(10);
        let all = scan_keys(&s, 3);
        assert_eq!(all.len(), 10);
        // A finished cursor stays finished.
        let end = s
            .fetch_keys(&IterationCursor::start(), 100)
            .unwrap()
            .next_cursor;
        let again = s.fetch_keys(&end, 100).unwrap();
        assert!(again.items.is_empty() && again.next_cursor.is_finished());
        // A cursor whose position is past what is left: the shard shrank.
        let mid = s
            .fetch_keys(&IterationCursor::start(), 1)
            .unwrap()
            .next_cursor;
        s.clear();
        let past = s.fetch_keys(&mid, 100).unwrap();
        assert!(past.items.is_empty() && past.next_cursor.is_finished());
    }

    #[test]
    fn fetch_entries_cursor_past_end() {
        let s = filled(10);
        let mid = s
            .fetch_entries(&IterationCursor::start(), 4)
            .unwrap()
            .next_cursor;
        s.clear();
        let past = s.fetch_entries(&mid, 4).unwrap();
        assert!(past.items.is_empty() && past.next_cursor.is_finished());
        let again = s.fetch_entries(&past.next_cursor, 4).unwrap();
        assert!(again.items.is_empty() && again.next_cursor.is_finished());
    }

    #[test]
    fn zero_page_size_is_an_error() {
        let s = filled(3);
        assert_eq!(
            s.fetch_keys(&IterationCursor::start(), 0),
            Err(CursorError::ZeroPageSize)
        );
    }

    #[test]
    fn cursor_from_another_layout_is_rejected() {
        let big = HashMapStorage::with_shards(16);
        let small = HashMapStorage::with_shards(4);
        for i in 0..100 {
            big.put(&format!("k{i}"), record(i, 0));
        }
        let c = big
            .fetch_keys(&IterationCursor::start(), 7)
            .unwrap()
            .next_cursor;
        assert_eq!(
            small.fetch_keys(&c, 7),
            Err(CursorError::ForeignCursor {
                cursor: 16,
                store: 4
            })
        );
    }

    #[test]
    fn malformed_cursor_bytes_are_errors_not_panics() {
        let s = filled(100);
        let c = s
            .fetch_keys(&IterationCursor::start(), 7)
            .unwrap()
            .next_cursor;
        let bytes = c.to_bytes();
        for len in 1..bytes.len() {
            assert!(IterationCursor::from_bytes(&bytes[..len]).is_err());
        }
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..10_000 {
            let mut b = bytes;
            let i = rng.random_range(0..b.len());
            b[i] = rng.random();
            if let Ok(c) = IterationCursor::from_bytes(&b) {
                // Whatever parses must still be safe to use.
                let _ = s.fetch_keys(&c, 5);
            }
        }
    }

    #[test]
    fn single_shard_store_works() {
        let s = HashMapStorage::with_shards(1);
        for i in 0..20 {
            s.put(&format!("k{i}"), record(i, 1));
        }
        let keys: HashSet<_> = scan_keys(&s, 6).into_iter().collect();
        assert_eq!(keys.len(), 20);
        assert_eq!(s.shard_count(), 1);
    }

    #[test]
    fn estimated_cost_sums_all_records() {
        let s = HashMapStorage::new();
        s.put("a", record(1, 100));
        s.put("b", record(2, 200));
        s.put("c", record(3, 300));
        assert_eq!(s.estimated_cost(), 600);
        s.remove("b");
        assert_eq!(s.estimated_cost(), 400);
        s.put("a", record(1, 50));
        assert_eq!(s.estimated_cost(), 350);
    }

    #[test]
    fn no_duplicates_and_nothing_missed_without_writes() {
        let s = filled(5_000);
        for page in [1, 7, 1000, 10_000] {
            let keys = scan_keys(&s, page);
            let set: HashSet<_> = keys.iter().collect();
            assert_eq!(keys.len(), 5_000, "page {page}");
            assert_eq!(set.len(), 5_000, "page {page}");
        }
    }

    #[test]
    fn removals_between_pages_never_hide_a_remaining_key() {
        let s = filled(2_000);
        let mut cursor = IterationCursor::start();
        let mut seen = HashSet::new();
        let mut round = 0;
        while !cursor.is_finished() {
            let page = s.fetch_keys(&cursor, 50).unwrap();
            seen.extend(page.items);
            cursor = page.next_cursor;
            // Remove keys all over the table, including not yet visited ones.
            for i in (round..2_000).step_by(97) {
                s.remove(&format!("key{i}"));
            }
            round += 1;
        }
        for (key, _) in s.snapshot_iter() {
            assert!(
                seen.contains(&key),
                "{key} was present throughout but missed"
            );
        }
    }

    #[test]
    fn sampling_is_uniform() {
        // 200 keys, 40_000 draws of 15: each key expects 3000 hits. A
        // chi-square statistic over 199 degrees of freedom has mean 199 and
        // standard deviation 20; 320 is six deviations out (seeded: fixed).
        let s = filled(200);
        let mut rng = StdRng::seed_from_u64(0x5eed);
        let mut counts: HashMap<String, u64> = HashMap::new();
        let draws = 40_000;
        for _ in 0..draws {
            let mut picked = HashSet::new();
            let n = s.sample_with_rng(15, &mut rng, &mut |k, _| {
                assert!(picked.insert(k.to_owned()), "duplicate in one sample");
                *counts.entry(k.to_owned()).or_default() += 1;
            });
            assert_eq!(n, 15);
        }
        assert_eq!(counts.len(), 200);
        let expected = (draws * 15) as f64 / 200.0;
        let chi2: f64 = counts
            .values()
            .map(|&c| (c as f64 - expected).powi(2) / expected)
            .sum();
        assert!(chi2 < 320.0, "chi-square {chi2} too large for uniform");
    }

    #[test]
    fn sampling_is_uniform_across_uneven_shards() {
        // Two shards of very different sizes: a per-shard-uniform sampler
        // would favour the small shard's keys.
        let s = HashMapStorage::with_shards(2);
        let mut i = 0;
        let (mut small, mut large) = (Vec::new(), Vec::new());
        while small.len() < 10 || large.len() < 190 {
            let key = format!("u{i}");
            i += 1;
            let (_, shard) = s.locate(&key);
            let is_first = std::ptr::eq(shard, &*s.shards[0]);
            if is_first && small.len() < 10 {
                small.push(key);
            } else if !is_first && large.len() < 190 {
                large.push(key);
            }
        }
        for k in small.iter().chain(&large) {
            s.put(k, record(0, 0));
        }
        let mut rng = StdRng::seed_from_u64(11);
        let small_set: HashSet<_> = small.iter().cloned().collect();
        let mut small_hits = 0u64;
        let draws = 20_000;
        for _ in 0..draws {
            s.sample_with_rng(1, &mut rng, &mut |k, _| {
                if small_set.contains(k) {
                    small_hits += 1;
                }
            });
        }
        // Expected share 10/200 = 5% (1000 of 20000, sd ~31).
        assert!((800..1200).contains(&small_hits), "{small_hits}");
    }

    #[test]
    fn storage_engine_is_object_safe() {
        let engine: Arc<dyn StorageEngine> = Arc::new(HashMapStorage::new());
        engine.put("k", record(1, 1));
        assert_eq!(engine.len(), 1);
    }

    #[test]
    fn fetch_with_resumes_at_a_refused_entry() {
        let s = filled(1_000);
        let mut cursor = IterationCursor::start();
        let mut seen = Vec::new();
        let mut calls = 0;
        while !cursor.is_finished() {
            // Accept 3 entries per call, then refuse the 4th.
            let mut budget = 3;
            cursor = s
                .fetch_with(&cursor, 10, &mut |key, _| {
                    if budget == 0 {
                        return false;
                    }
                    budget -= 1;
                    seen.push(key.to_owned());
                    true
                })
                .unwrap();
            calls += 1;
        }
        let distinct: HashSet<_> = seen.iter().collect();
        assert_eq!(seen.len(), 1_000, "a refused entry was lost or repeated");
        assert_eq!(distinct.len(), 1_000);
        assert!(calls >= 334);
    }

    #[test]
    fn refusing_the_first_entry_makes_no_progress_but_no_loss() {
        let s = filled(5);
        let c = s
            .fetch_with(&IterationCursor::start(), 5, &mut |_, _| false)
            .unwrap();
        assert!(!c.is_finished());
        let rest = s.fetch_keys(&c, 10).unwrap();
        assert_eq!(rest.items.len(), 5);
    }

    #[test]
    fn upsert_inserts_replaces_and_declines() {
        let s = HashMapStorage::new();
        assert_eq!(
            s.upsert("a", &mut |cur| {
                assert!(cur.is_none());
                Some(record(1, 10))
            }),
            None
        );
        let old = s.upsert("a", &mut |cur| {
            let mut next = cur.cloned().unwrap();
            next.metadata.on_update(5);
            next.metadata.cost = 30;
            Some(next)
        });
        assert_eq!(old, Some(record(1, 10)));
        assert_eq!(s.get("a").unwrap().metadata.version, 2);
        assert_eq!(s.estimated_cost(), 30);
        assert_eq!(s.upsert("a", &mut |_| None), None);
        assert_eq!(s.upsert("b", &mut |_| None), None);
        assert!(!s.contains_key("b"));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn remove_if_only_removes_what_the_predicate_accepts() {
        let s = HashMapStorage::new();
        s.put("a", record(1, 10));
        assert_eq!(s.remove_if("a", &mut |r| r.metadata.cost == 99), None);
        assert!(s.contains_key("a"));
        assert_eq!(
            s.remove_if("a", &mut |r| r.metadata.cost == 10),
            Some(record(1, 10))
        );
        assert_eq!(s.estimated_cost(), 0);
        assert_eq!(s.remove_if("a", &mut |_| true), None);
    }

    #[test]
    fn tables_shrink_after_mass_removal() {
        let s = HashMapStorage::with_shards(1);
        for i in 0..10_000 {
            s.put(&format!("k{i}"), record(i, 1));
        }
        let big = s.shards[0].map.read().capacity();
        for i in 0..9_990 {
            s.remove(&format!("k{i}"));
        }
        let small = s.shards[0].map.read().capacity();
        assert!(small * 10 < big, "capacity {big} -> {small}");
        assert_eq!(scan_keys(&s, 3).len(), 10);
    }
}
