//! [`HashMapStorage`]: the concurrent in-memory [`StorageEngine`], and
//! [`HashMapSnapshot`], a point-in-time view of it.
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
//!
//! # Snapshots
//!
//! Every slot carries the epoch of its last write (8 bytes). While a
//! snapshot is open, a write that replaces a version the snapshot sees
//! keeps that version beside the table, and a removal leaves the slot in
//! place as a tombstone when a snapshot may still see it (see
//! `hashmap/shard.rs` for the invariants and
//! [`crate::snapshot`] for the protocol). A snapshot reads the newest
//! version stamped at or below its epoch; its cursor walks the same vector
//! and is exact, because nothing a snapshot sees moves while it is open.

mod kept;
mod shard;
mod snapshot;
#[cfg(test)]
mod snapshot_tests;
#[cfg(test)]
mod tests;

pub use snapshot::HashMapSnapshot;

use crate::cursor::{CursorError, CursorSeal, CursorState, IterationCursor};
use crate::engine::StorageEngine;
use crate::record::Record;
use crate::snapshot::registry::{Collect, SnapshotRegistry, SnapshotTicket, WriteStamp};
use crate::snapshot::EngineSnapshot;
use crossbeam_utils::CachePadded;
use parking_lot::RwLock;
use rand::Rng;
use shard::{Hasher, ShardTable};
use std::collections::HashSet;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// Most shards a store may have (the cursor records the shard in 16 bits).
pub const MAX_SHARDS: usize = 1 << 15;

struct Shard {
    table: RwLock<ShardTable>,
    /// Mirrors the live length, written under the write lock.
    len: AtomicUsize,
    /// Mirrors the slot count (live entries and tombstones).
    slots: AtomicUsize,
    /// Sum of `metadata.cost` of the live records, written under the lock.
    cost: AtomicU64,
    /// Whether the table keeps anything for snapshots (a collection must
    /// visit it); written under the write lock.
    pinned: AtomicBool,
}

/// Which version of the table a read sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View {
    /// The live table.
    Live,
    /// What a snapshot at this epoch sees.
    At(u64),
}

impl ShardTable {
    fn entry_in(&self, index: usize, view: View) -> Option<(&str, &Record)> {
        match view {
            View::Live => self.live_at(index),
            View::At(epoch) => self.seen_at(index, epoch),
        }
    }

    fn len_in(&self, view: View) -> usize {
        match view {
            View::Live => self.live(),
            View::At(epoch) => self.len_at(epoch),
        }
    }
}

/// What the engine and its snapshots share.
struct Shared {
    shards: Box<[CachePadded<Shard>]>,
    hasher: Hasher,
    /// Binds the cursors this engine makes to it (see [`CursorSeal`]).
    seal: CursorSeal,
    /// `64 - log2(shard count)`: the shift that picks shard bits.
    shift: u32,
    registry: Arc<SnapshotRegistry>,
    /// Whether some shard is pinned (a collection has work here).
    pending: AtomicBool,
}

/// The concurrent in-memory storage engine (see the module docs for its
/// structure and the reasons behind it).
///
/// * `get`, `put`, `remove`, `contains_key`: O(1) expected, one shard lock.
/// * `len`, `estimated_cost`: O(shard count), lock free.
/// * `fetch_keys` / `fetch_entries`: O(page), with the guarantees of
///   [`StorageEngine`].
/// * `random_samples(k)`: O(k + shard count), uniform over live entries.
/// * `snapshot()`: O(1) (a mutex, a vector push, two reference counts).
/// * Memory per entry: the record, the key (inline up to 24 bytes), 8 bytes
///   of hash, 8 bytes of epoch and about 10 bytes of index, plus up to a
///   quarter of spare entry capacity; tables shrink when three quarters
///   empty. While snapshots are open, each version they still see and each
///   removed key's slot is kept until the last snapshot needing it drops.
pub struct HashMapStorage {
    shared: Arc<Shared>,
}

impl Default for HashMapStorage {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for HashMapStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashMapStorage")
            .field("shards", &self.shard_count())
            .field("len", &self.len())
            .field("estimated_cost", &self.estimated_cost())
            .finish()
    }
}

impl HashMapStorage {
    /// An empty engine with four shards per available core, rounded up to a
    /// power of two (at least 4), and a snapshot registry of its own.
    #[must_use]
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        Self::with_shards((cores * 4).next_power_of_two().max(4))
    }

    /// An empty engine with `shards` shards, rounded up to a power of two and
    /// clamped to `1..=`[`MAX_SHARDS`], and a snapshot registry of its own.
    /// Cursors only work with the engine layout that made them, so stores
    /// that share cursors need equal counts.
    #[must_use]
    pub fn with_shards(shards: usize) -> Self {
        Self::with_registry(shards, SnapshotRegistry::new())
    }

    /// As [`Self::with_shards`], sharing `registry` with other engines: one
    /// [`SnapshotTicket`] of it is then one instant across all of them (see
    /// [`Self::snapshot_at`]).
    #[must_use]
    pub fn with_registry(shards: usize, registry: Arc<SnapshotRegistry>) -> Self {
        let count = shards.clamp(1, MAX_SHARDS).next_power_of_two();
        let hasher = Hasher::default();
        let shards = (0..count)
            .map(|_| {
                CachePadded::new(Shard {
                    table: RwLock::new(ShardTable::new(hasher.clone())),
                    len: AtomicUsize::new(0),
                    slots: AtomicUsize::new(0),
                    cost: AtomicU64::new(0),
                    pinned: AtomicBool::new(false),
                })
            })
            .collect();
        let shared = Arc::new(Shared {
            shards,
            hasher,
            seal: CursorSeal::new(),
            shift: 64 - count.trailing_zeros(),
            registry,
            pending: AtomicBool::new(false),
        });
        let weak: std::sync::Weak<dyn Collect> = Arc::downgrade(&shared) as _;
        shared.registry.register(weak);
        Self { shared }
    }

    /// Number of shards.
    #[must_use]
    pub fn shard_count(&self) -> usize {
        self.shared.shards.len()
    }

    /// The snapshot registry this engine stamps its writes from.
    #[must_use]
    pub fn registry(&self) -> &Arc<SnapshotRegistry> {
        &self.shared.registry
    }

    /// Entries the tables can hold without growing, summed over shards.
    /// Grows with inserts and falls after mass removals or `clear`; O(shard
    /// count), takes each shard's read lock briefly.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.shared
            .shards
            .iter()
            .map(|s| s.table.read().capacity())
            .sum()
    }

    /// A read-only view of the engine as it is now: later and concurrent
    /// writes are never seen through it, and every read through it is
    /// repeatable. O(1): no data is copied; writers keep the versions it
    /// sees until it is dropped. See [`HashMapSnapshot`].
    #[must_use]
    pub fn snapshot(&self) -> HashMapSnapshot {
        let ticket = self.shared.registry.acquire();
        HashMapSnapshot::new(Arc::clone(&self.shared), snapshot::Hold::Own(ticket))
    }

    /// A view of this engine at the instant of `ticket`, for a snapshot of
    /// several engines at once; `None` if the ticket comes from another
    /// registry than this engine's.
    #[must_use]
    pub fn snapshot_at(&self, ticket: &Arc<SnapshotTicket>) -> Option<HashMapSnapshot> {
        Arc::ptr_eq(ticket.registry(), &self.shared.registry).then(|| {
            HashMapSnapshot::new(
                Arc::clone(&self.shared),
                snapshot::Hold::Shared(Arc::clone(ticket)),
            )
        })
    }

    /// Picks `k` distinct live entries uniformly with `rng` and calls `f` on
    /// each under the shard's read lock (no copy); what
    /// [`StorageEngine::sample_with`] does with the thread's generator, for
    /// callers that need a seeded one. Cost O(k + shard count) when no
    /// snapshot keeps removed keys' slots, else see
    /// [`HashMapSnapshot::sample_with_rng`].
    pub fn sample_with_rng(
        &self,
        k: usize,
        rng: &mut impl Rng,
        f: &mut dyn FnMut(&str, &Record),
    ) -> usize {
        self.shared.sample(View::Live, k, rng, f)
    }
}

impl Shared {
    fn shard_count_u16(&self) -> u16 {
        // `with_registry` clamps the count to MAX_SHARDS (2^15).
        u16::try_from(self.shards.len()).unwrap_or(u16::MAX)
    }

    #[inline]
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

    /// Runs `op` on the shard of `key` under its write lock, with the write
    /// stamp read under that lock; `op` returns its result and the change
    /// of the cost total.
    #[inline]
    fn write<R>(
        &self,
        key: &str,
        op: impl FnOnce(&mut ShardTable, u64, WriteStamp) -> (R, i128),
    ) -> R {
        let (hash, shard) = self.locate(key);
        let mut table = shard.table.write();
        let w = self.registry.write_stamp();
        let (result, cost_delta) = op(&mut table, hash, w);
        self.after_write(shard, &mut table, cost_delta, w);
        result
    }

    /// Brings the shard's atomics in step after a write and shrinks
    /// oversized tables. Called with the write lock held.
    #[inline]
    fn after_write(&self, shard: &Shard, table: &mut ShardTable, cost_delta: i128, w: WriteStamp) {
        table.shrink_if_sparse();
        shard.len.store(table.live(), Ordering::Relaxed);
        shard.slots.store(table.slots(), Ordering::Relaxed);
        if cost_delta != 0 {
            let cost = i128::from(shard.cost.load(Ordering::Relaxed)) + cost_delta;
            shard.cost.store(
                u64::try_from(cost.max(0)).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
        }
        if w.any_open() && !shard.pinned.load(Ordering::Relaxed) && table.keeps_anything() {
            shard.pinned.store(true, Ordering::Relaxed);
            self.pending.store(true, Ordering::SeqCst);
        }
    }

    fn with_read<R>(&self, key: &str, f: impl FnOnce(&ShardTable, u64) -> R) -> R {
        let (hash, shard) = self.locate(key);
        let table = shard.table.read();
        f(&table, hash)
    }

    /// The page walk under both the live engine and its snapshots (see the
    /// module docs for the invariant it relies on).
    fn walk(
        &self,
        view: View,
        cursor: &IterationCursor,
        size: usize,
        visit: &mut dyn FnMut(&str, &Record) -> bool,
    ) -> Result<IterationCursor, CursorError> {
        if size == 0 {
            return Err(CursorError::ZeroPageSize);
        }
        let shard_count = self.shard_count_u16();
        let finished = self.seal.seal(CursorState::Finished { shard_count });
        // A cursor this engine sealed carries its own shard count; another
        // count means corruption the checksum missed (2^-32) or a bug.
        let layout = Err(CursorError::Malformed {
            reason: "shard count differs from the store's",
        });
        let (mut shard, mut position) = match self.seal.open(cursor)? {
            CursorState::Start => (0u16, None),
            CursorState::At {
                shard_count: theirs,
                shard,
                position,
            } if theirs == shard_count => (shard, position),
            CursorState::Finished {
                shard_count: theirs,
            } if theirs == shard_count => return Ok(finished),
            CursorState::At { .. } | CursorState::Finished { .. } => return layout,
        };
        let mut taken = 0usize;
        let mut refused = false;
        while shard < shard_count && taken < size && !refused {
            let table = self.shards[usize::from(shard)].table.read();
            let slots = table.slots();
            let mut left =
                position.map_or(slots, |p| usize::try_from(p).unwrap_or(slots).min(slots));
            while left > 0 && taken < size {
                if let Some((key, record)) = table.entry_in(left - 1, view) {
                    if !visit(key, record) {
                        refused = true;
                        break;
                    }
                    taken += 1;
                }
                left -= 1;
            }
            drop(table);
            if left == 0 {
                shard += 1;
                position = None;
            } else {
                position = Some(left as u64);
            }
        }
        // Skip shards that hold nothing now, so the page that takes the
        // last entry already reports the end (an empty shard holds no key
        // that is present for the whole iteration, nor a snapshot's key).
        while shard < shard_count && position.is_none() && self.empty(usize::from(shard), view) {
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
        Ok(self.seal.seal(next))
    }

    fn empty(&self, shard: usize, view: View) -> bool {
        let shard = &self.shards[shard];
        match view {
            View::Live => shard.len.load(Ordering::Relaxed) == 0,
            View::At(_) => shard.slots.load(Ordering::Relaxed) == 0,
        }
    }

    /// Entries visible in `view`, summed over shards.
    fn len_in(&self, view: View) -> usize {
        match view {
            View::Live => self
                .shards
                .iter()
                .map(|s| s.len.load(Ordering::Relaxed))
                .sum(),
            View::At(_) => self
                .shards
                .iter()
                .map(|s| s.table.read().len_in(view))
                .sum(),
        }
    }

    /// Calls `f` on `min(k, visible)` distinct entries of `view` chosen
    /// uniformly with `rng`; returns how many it visited.
    ///
    /// When every slot is visible (the live table with no tombstones) it
    /// draws `k` distinct positions at once: O(k + shard count). Otherwise
    /// it draws positions one at a time and rejects invisible ones:
    /// O(k · slots / visible) expected; when fewer than one slot in eight
    /// is visible, or `k` is at least a quarter of the visible entries, or
    /// the draws keep missing, it walks the whole table instead (reservoir
    /// sampling, O(slots)).
    fn sample(
        &self,
        view: View,
        k: usize,
        rng: &mut impl Rng,
        f: &mut dyn FnMut(&str, &Record),
    ) -> usize {
        let slots: Vec<usize> = self
            .shards
            .iter()
            .map(|s| s.slots.load(Ordering::Relaxed))
            .collect();
        let total: usize = slots.iter().sum();
        let visible = self.len_in(view);
        let k = k.min(visible);
        if k == 0 {
            return 0;
        }
        if view == View::Live && visible == total {
            return self.sample_positions(&slots, total, k, view, rng, f);
        }
        let mut chosen = HashSet::new();
        if visible.saturating_mul(8) >= total && k.saturating_mul(4) < visible {
            let mut attempts = 64 * k + 64;
            while chosen.len() < k && attempts > 0 {
                attempts -= 1;
                let (shard, index) = locate_position(&slots, rng.random_range(0..total));
                if chosen.contains(&(shard, index)) {
                    continue;
                }
                let table = self.shards[shard].table.read();
                if let Some((key, record)) = table.entry_in(index, view) {
                    chosen.insert((shard, index));
                    f(key, record);
                }
            }
        }
        let missing = k - chosen.len();
        if missing > 0 {
            self.sample_by_walk(view, missing, &chosen, rng, f);
        }
        k.min(chosen.len() + missing)
    }

    /// `k` distinct positions out of `total`, mapped onto the shards:
    /// uniform over live entries when none is a tombstone.
    fn sample_positions(
        &self,
        slots: &[usize],
        total: usize,
        k: usize,
        view: View,
        rng: &mut impl Rng,
        f: &mut dyn FnMut(&str, &Record),
    ) -> usize {
        let mut picks = rand::seq::index::sample(rng, total, k.min(total)).into_vec();
        picks.sort_unstable();
        let mut visited = 0;
        let mut base = 0;
        let mut picks = picks.into_iter().peekable();
        for (shard, &len) in self.shards.iter().zip(slots) {
            if picks.peek().is_none() {
                break;
            }
            let end = base + len;
            if picks.peek().is_some_and(|&p| p < end) {
                let table = shard.table.read();
                while let Some(&p) = picks.peek() {
                    if p >= end {
                        break;
                    }
                    picks.next();
                    // A concurrent removal may have shortened the shard.
                    if let Some((key, record)) = table.entry_in(p - base, view) {
                        f(key, record);
                        visited += 1;
                    }
                }
            }
            base = end;
        }
        visited
    }

    /// Reservoir sampling of `k` entries of `view` not in `skip`, over a
    /// walk of every slot; then visits them. O(slots).
    fn sample_by_walk(
        &self,
        view: View,
        k: usize,
        skip: &HashSet<(usize, usize)>,
        rng: &mut impl Rng,
        f: &mut dyn FnMut(&str, &Record),
    ) -> usize {
        let mut reservoir: Vec<(usize, usize)> = Vec::with_capacity(k);
        let mut seen = 0usize;
        for (shard_index, shard) in self.shards.iter().enumerate() {
            let table = shard.table.read();
            for index in 0..table.slots() {
                if skip.contains(&(shard_index, index)) || table.entry_in(index, view).is_none() {
                    continue;
                }
                seen += 1;
                if reservoir.len() < k {
                    reservoir.push((shard_index, index));
                } else {
                    let r = rng.random_range(0..seen);
                    if r < k {
                        reservoir[r] = (shard_index, index);
                    }
                }
            }
        }
        reservoir.sort_unstable();
        let mut visited = 0;
        for (shard_index, index) in reservoir {
            let table = self.shards[shard_index].table.read();
            if let Some((key, record)) = table.entry_in(index, view) {
                f(key, record);
                visited += 1;
            }
        }
        visited
    }
}

/// Maps a position among all slots (shards in order) to (shard, index).
fn locate_position(slots: &[usize], mut position: usize) -> (usize, usize) {
    for (shard, &len) in slots.iter().enumerate() {
        if position < len {
            return (shard, position);
        }
        position -= len;
    }
    (slots.len().saturating_sub(1), position)
}

impl Collect for Shared {
    fn collect(&self, released: u64, open: &[u64], horizon: u64) {
        if !self.pending.swap(false, Ordering::SeqCst) {
            return;
        }
        let mut still_pinned = false;
        for shard in self.shards.iter() {
            if !shard.pinned.load(Ordering::Relaxed) {
                continue;
            }
            let mut table = shard.table.write();
            let w = self.registry.write_stamp();
            table.collect(released, open, horizon, w);
            let pinned = table.keeps_anything();
            shard.pinned.store(pinned, Ordering::Relaxed);
            shard.slots.store(table.slots(), Ordering::Relaxed);
            still_pinned |= pinned;
        }
        if still_pinned {
            self.pending.store(true, Ordering::SeqCst);
        }
    }
}

impl StorageEngine for HashMapStorage {
    fn put(&self, key: &str, record: Record) -> Option<Record> {
        let new_cost = i128::from(record.metadata.cost);
        self.shared.write(key, |table, hash, w| {
            let old = table
                .upsert(hash, key, w, |_| Some(record))
                .and_then(|r| r.old);
            let old_cost = old.as_ref().map_or(0, |r| i128::from(r.metadata.cost));
            (old, new_cost - old_cost)
        })
    }

    fn get(&self, key: &str) -> Option<Record> {
        self.shared
            .with_read(key, |table, hash| table.get(hash, key).cloned())
    }

    fn get_with(&self, key: &str, f: &mut dyn FnMut(&Record)) -> bool {
        self.shared
            .with_read(key, |table, hash| table.get(hash, key).map(f).is_some())
    }

    fn update(&self, key: &str, f: &mut dyn FnMut(&mut Record)) -> bool {
        self.shared.write(key, |table, hash, w| {
            match table.update(hash, key, w, |r| f(r)) {
                Some((before, after)) => (true, i128::from(after) - i128::from(before)),
                None => (false, 0),
            }
        })
    }

    fn remove(&self, key: &str) -> Option<Record> {
        self.remove_if(key, &mut |_| true)
    }

    fn contains_key(&self, key: &str) -> bool {
        self.shared
            .with_read(key, |table, hash| table.get(hash, key).is_some())
    }

    fn len(&self) -> usize {
        self.shared.len_in(View::Live)
    }

    fn clear(&self) {
        // Every shard at once, so that no snapshot sees half a clear.
        let mut tables: Vec<_> = self.shared.shards.iter().map(|s| s.table.write()).collect();
        let w = self.shared.registry.write_stamp();
        for (shard, table) in self.shared.shards.iter().zip(tables.iter_mut()) {
            table.clear(w);
            shard.cost.store(0, Ordering::Relaxed);
            self.shared.after_write(shard, table, 0, w);
        }
    }

    fn destroy(&self) {
        self.clear();
    }

    fn estimated_cost(&self) -> u64 {
        self.shared
            .shards
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
        self.shared.walk(View::Live, cursor, size, visit)
    }

    fn snapshot_iter(&self) -> Vec<(String, Record)> {
        let snapshot = self.snapshot();
        let mut out = Vec::with_capacity(snapshot.len());
        snapshot.for_each(&mut |key, record| out.push((key.to_owned(), record.clone())));
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
        self.shared.write(key, |table, hash, w| {
            let mut new_cost = 0;
            let replaced = table.upsert(hash, key, w, |current| {
                let new = f(current)?;
                new_cost = i128::from(new.metadata.cost);
                Some(new)
            });
            let old = replaced.and_then(|r| r.old);
            let old_cost = old.as_ref().map_or(0, |r| i128::from(r.metadata.cost));
            (old, new_cost - old_cost)
        })
    }

    fn remove_if(&self, key: &str, pred: &mut dyn FnMut(&Record) -> bool) -> Option<Record> {
        self.shared.write(key, |table, hash, w| {
            let removed = table.remove_if(hash, key, w, |r| pred(r));
            let cost = removed.as_ref().map_or(0, |r| i128::from(r.metadata.cost));
            (removed, -cost)
        })
    }

    fn snapshot(&self) -> Box<dyn EngineSnapshot> {
        Box::new(HashMapStorage::snapshot(self))
    }

    fn snapshot_at(&self, ticket: &Arc<SnapshotTicket>) -> Option<Box<dyn EngineSnapshot>> {
        HashMapStorage::snapshot_at(self, ticket).map(|s| Box::new(s) as Box<dyn EngineSnapshot>)
    }
}
