//! One shard's table: the entry vector with each slot's stamp, and what is
//! kept for open snapshots (older versions, the history of the live length,
//! the slots of removed keys).
//!
//! # Invariants
//!
//! * A slot's stamp is the epoch of its last write; its record is `None`
//!   for a removed key (a *tombstone*) that an open snapshot may still see
//!   or whose slot cannot move yet.
//! * `kept` holds the versions of slots that open snapshots still see (see
//!   `kept.rs`). Slots with kept versions carry [`HAS_OLDER`] and never
//!   move.
//! * A slot moves (the last slot into the hole of a removed one, as
//!   `swap_remove` does) only when no open snapshot can see the moved slot
//!   or the removed one, or when no snapshot is open. So every entry an open
//!   snapshot sees keeps its position for the snapshot's whole life, which
//!   makes a snapshot's cursor exact; and entries still only move to lower
//!   positions, which keeps the live cursor's guarantees.

use super::kept::Kept;
use crate::record::Record;
use crate::snapshot::registry::{still_needed, WriteStamp};
use indexmap::map::raw_entry_v1::RawEntryMut;
use indexmap::map::RawEntryApiV1;
use indexmap::IndexMap;

/// The hasher of every shard and of shard selection: foldhash, fast and
/// seeded per process so that keys cannot be chosen to collide.
pub(super) type Hasher = foldhash::fast::RandomState;
/// Keys up to 24 bytes live inline in the entry (no allocation, no extra
/// cache miss when comparing); longer keys are on the heap.
pub(super) type Key = compact_str::CompactString;

/// Set in a slot's stamp when `kept` holds versions of it.
const HAS_OLDER: u64 = 1 << 63;

/// A shard shrinks its tables when fewer than a quarter of their capacity is
/// in use, and only above this capacity.
const SHRINK_MIN_CAPACITY: usize = 64;

/// The entry vector grows by a quarter when full (at least this many).
/// `IndexMap` on its own sizes the vector to the hash index's capacity, up
/// to 1.8 times the entries; records are about 160 bytes inline, so the
/// smaller step saves tens of bytes per entry at the cost of a few more
/// (amortised O(1)) moves.
const MIN_GROWTH: usize = 16;

/// One entry: the newest version of a key (`None`: removed).
pub(super) struct Slot {
    stamp: u64,
    record: Option<Record>,
}

impl Slot {
    fn new(stamp: u64, record: Record) -> Self {
        Self {
            stamp,
            record: Some(record),
        }
    }

    fn stamp(&self) -> u64 {
        self.stamp & !HAS_OLDER
    }

    fn has_older(&self) -> bool {
        self.stamp & HAS_OLDER != 0
    }

    /// Restamps the slot for a write at `now`, keeping the flag.
    fn restamp(&mut self, now: u64) {
        self.stamp = now | (self.stamp & HAS_OLDER);
    }

    /// The live record, if the key is present.
    pub(super) fn live(&self) -> Option<&Record> {
        self.record.as_ref()
    }
}

/// What a slot looked like before a write replaced its record.
pub(super) struct Replaced {
    /// The live record it held (`None`: the key was absent).
    pub old: Option<Record>,
}

/// The table of one shard (see the module docs).
pub(super) struct ShardTable {
    map: IndexMap<Key, Slot, Hasher>,
    kept: Kept,
    /// Earlier live lengths open snapshots still see: (from epoch, until
    /// epoch, length).
    lens: Vec<(u64, u64, usize)>,
    /// The epoch of the last change to `live`.
    len_stamp: u64,
    /// Live entries (slots that are not tombstones).
    live: usize,
    /// Positions of tombstones (some may be stale: revived or moved).
    tombstones: Vec<usize>,
}

impl ShardTable {
    pub(super) fn new(hasher: Hasher) -> Self {
        Self {
            map: IndexMap::with_hasher(hasher),
            kept: Kept::default(),
            lens: Vec::new(),
            len_stamp: 0,
            live: 0,
            tombstones: Vec::new(),
        }
    }

    /// Live entries.
    pub(super) fn live(&self) -> usize {
        self.live
    }

    /// Slots, tombstones included: the positions a cursor walks.
    pub(super) fn slots(&self) -> usize {
        self.map.len()
    }

    /// Entries the tables can hold without growing.
    pub(super) fn capacity(&self) -> usize {
        self.map.capacity()
    }

    /// Whether anything is kept for snapshots (older versions, lengths or
    /// tombstones): what a collection has to look at.
    pub(super) fn keeps_anything(&self) -> bool {
        !self.kept.is_empty() || !self.lens.is_empty() || !self.tombstones.is_empty()
    }

    /// Versions kept for snapshots, over all slots.
    #[cfg(test)]
    pub(super) fn older_len(&self) -> usize {
        self.kept.len()
    }

    /// The position of `key`, if it has a slot (live or tombstone).
    pub(super) fn index_of(&self, hash: u64, key: &str) -> Option<usize> {
        self.map
            .raw_entry_v1()
            .index_from_hash(hash, |k| k.as_str() == key)
    }

    /// The live record of `key`.
    #[inline]
    pub(super) fn get(&self, hash: u64, key: &str) -> Option<&Record> {
        self.map
            .raw_entry_v1()
            .from_key_hashed_nocheck(hash, key)
            .and_then(|(_, slot)| slot.live())
    }

    /// The entry at `index` as the live table has it.
    pub(super) fn live_at(&self, index: usize) -> Option<(&str, &Record)> {
        let (key, slot) = self.map.get_index(index)?;
        Some((key.as_str(), slot.live()?))
    }

    /// The entry at `index` as a snapshot at `epoch` sees it.
    pub(super) fn seen_at(&self, index: usize, epoch: u64) -> Option<(&str, &Record)> {
        let (key, slot) = self.map.get_index(index)?;
        Some((key.as_str(), self.version_at(index, slot, epoch)?))
    }

    /// The record of `key` as a snapshot at `epoch` sees it.
    pub(super) fn get_at(&self, hash: u64, key: &str, epoch: u64) -> Option<&Record> {
        let index = self.index_of(hash, key)?;
        let (_, slot) = self.map.get_index(index)?;
        self.version_at(index, slot, epoch)
    }

    fn version_at<'a>(&'a self, index: usize, slot: &'a Slot, epoch: u64) -> Option<&'a Record> {
        if slot.stamp() <= epoch {
            return slot.live();
        }
        if !slot.has_older() {
            return None;
        }
        self.kept.at(index, epoch)
    }

    /// The live length a snapshot at `epoch` sees.
    pub(super) fn len_at(&self, epoch: u64) -> usize {
        if self.len_stamp <= epoch {
            return self.live;
        }
        self.lens
            .iter()
            .rev()
            .find(|(from, _, _)| *from <= epoch)
            .map_or(0, |&(_, _, len)| len)
    }

    /// Writes what `make` returns for the live record of `key` (`None` if
    /// absent); `None` from `make` leaves everything as it was and returns
    /// `None`. Otherwise returns what was replaced.
    pub(super) fn upsert(
        &mut self,
        hash: u64,
        key: &str,
        w: WriteStamp,
        make: impl FnOnce(Option<&Record>) -> Option<Record>,
    ) -> Option<Replaced> {
        if self.map.len() == self.map.capacity() {
            self.map.reserve_exact((self.map.len() / 4).max(MIN_GROWTH));
        }
        let slots = self.map.len();
        let revived = match self
            .map
            .raw_entry_mut_v1()
            .from_key_hashed_nocheck(hash, key)
        {
            RawEntryMut::Occupied(mut entry) => {
                let index = entry.index();
                let slot = entry.get_mut();
                let new = make(slot.live())?;
                let old = supersede(&mut self.kept, slots, index, slot, Some(new), w, true);
                let revived = old.is_none();
                (Replaced { old }, revived)
            }
            RawEntryMut::Vacant(entry) => {
                let new = make(None)?;
                entry.insert_hashed_nocheck(hash, Key::new(key), Slot::new(w.now, new));
                (Replaced { old: None }, true)
            }
        };
        if revived.1 {
            self.set_live(self.live + 1, w);
        }
        Some(revived.0)
    }

    /// Calls `f` on the live record of `key` to change it in place (after
    /// keeping a copy if an open snapshot sees it); returns its cost before
    /// and after, or `None` if the key is absent.
    pub(super) fn update(
        &mut self,
        hash: u64,
        key: &str,
        w: WriteStamp,
        f: impl FnOnce(&mut Record),
    ) -> Option<(u64, u64)> {
        let index = self.index_of(hash, key)?;
        let slots = self.map.len();
        let (_, slot) = self.map.get_index_mut(index)?;
        let stamp = slot.stamp();
        let current = slot.record.as_ref()?;
        if w.keeps(stamp) {
            self.kept
                .keep(index, slots, stamp, w.now, Some(current.clone()));
            slot.stamp = w.now | HAS_OLDER;
        } else {
            slot.restamp(w.now);
        }
        let record = slot.record.as_mut()?;
        let before = record.metadata.cost;
        f(record);
        Some((before, record.metadata.cost))
    }

    /// Removes `key` if `pred` accepts its live record; returns the record.
    pub(super) fn remove_if(
        &mut self,
        hash: u64,
        key: &str,
        w: WriteStamp,
        pred: impl FnOnce(&Record) -> bool,
    ) -> Option<Record> {
        let index = self.index_of(hash, key)?;
        let (_, slot) = self.map.get_index(index)?;
        if !slot.live().is_some_and(pred) {
            return None;
        }
        let movable = !w.any_open()
            || (!slot.has_older() && !w.keeps(slot.stamp()) && self.last_can_move(index, w));
        let removed = if movable {
            self.take_out(index)
        } else {
            let slots = self.map.len();
            let (_, slot) = self.map.get_index_mut(index)?;
            let old = supersede(&mut self.kept, slots, index, slot, None, w, true);
            self.tombstones.push(index);
            old
        };
        self.set_live(self.live - 1, w);
        removed
    }

    /// Removes every live entry (keeping what open snapshots see).
    pub(super) fn clear(&mut self, w: WriteStamp) {
        if !w.any_open() {
            *self = Self::new(self.map.hasher().clone());
            return;
        }
        let slots = self.map.len();
        for (index, slot) in self.map.values_mut().enumerate() {
            if slot.live().is_some() {
                supersede(&mut self.kept, slots, index, slot, None, w, false);
                self.tombstones.push(index);
            }
        }
        self.set_live(0, w);
    }

    /// Shrinks oversized tables. Rebuilds the hash index only; the entry
    /// vector keeps its order.
    pub(super) fn shrink_if_sparse(&mut self) {
        let map = &mut self.map;
        if map.capacity() > SHRINK_MIN_CAPACITY && map.len() * 4 < map.capacity() {
            map.shrink_to(map.len() * 2);
        }
    }

    /// Frees what no open snapshot needs now that the snapshot at
    /// `released` is gone (see [`crate::snapshot::registry`]); `open` are
    /// the epochs still open, `horizon` the epoch when it was dropped, `w`
    /// read under the shard lock. With no snapshot open, frees everything
    /// kept and compacts all tombstones away.
    pub(super) fn collect(&mut self, released: u64, open: &[u64], horizon: u64, w: WriteStamp) {
        let mut emptied = Vec::new();
        if w.any_open() {
            self.kept.release(released, open, horizon, &mut emptied);
            self.lens
                .retain(|&(from, until, _)| still_needed(from, until, open, horizon));
        } else {
            self.kept.clear(&mut emptied);
            self.lens = Vec::new();
        }
        for index in emptied {
            if let Some((_, slot)) = self.map.get_index_mut(index) {
                slot.stamp &= !HAS_OLDER;
            }
        }
        if !w.any_open() || !self.tombstones.is_empty() {
            self.compact(w);
        }
        self.lens.shrink_to_fit();
        self.shrink_if_sparse();
    }

    /// Physically removes the tombstones that no open snapshot needs and
    /// whose removal moves nothing an open snapshot sees.
    fn compact(&mut self, w: WriteStamp) {
        let mut pending = std::mem::take(&mut self.tombstones);
        pending.sort_unstable();
        pending.dedup();
        let mut kept = Vec::new();
        // Highest first: the slot moved into a hole then comes from above
        // every tombstone still to visit.
        while let Some(index) = pending.pop() {
            let Some((_, slot)) = self.map.get_index(index) else {
                continue;
            };
            if slot.live().is_some() {
                continue;
            }
            if w.any_open() && (slot.has_older() || !self.last_can_move(index, w)) {
                kept.push(index);
                continue;
            }
            let before = self.tombstones.len();
            self.take_out(index);
            // A tombstone moved into the hole is visited next.
            pending.extend(self.tombstones.drain(before..));
        }
        kept.reverse();
        kept.shrink_to_fit();
        self.tombstones = kept;
    }

    /// Whether the last slot may move into `index`: it is `index` itself, or
    /// no open snapshot can see it.
    fn last_can_move(&self, index: usize, w: WriteStamp) -> bool {
        let last = self.map.len() - 1;
        if index == last {
            return true;
        }
        self.map.get_index(last).is_some_and(|(_, l)| {
            !l.has_older() && (l.live().is_none() || l.stamp() > w.newest_open)
        })
    }

    /// Removes the slot at `index`, moving the last slot into its place;
    /// returns its record. Versions kept for either slot are dropped: the
    /// callers only move slots no open snapshot sees.
    fn take_out(&mut self, index: usize) -> Option<Record> {
        let (_, slot) = self.map.swap_remove_index(index)?;
        self.kept.forget(index);
        let moved_from = self.map.len();
        if index < moved_from {
            let dropped_older = self.kept.forget(moved_from);
            if let Some((_, moved)) = self.map.get_index_mut(index) {
                if dropped_older {
                    moved.stamp &= !HAS_OLDER;
                }
                if moved.live().is_none() {
                    self.tombstones.push(index);
                }
            }
        }
        slot.record
    }

    fn set_live(&mut self, live: usize, w: WriteStamp) {
        if w.keeps(self.len_stamp) {
            self.lens.push((self.len_stamp, w.now, self.live));
        }
        self.len_stamp = w.now;
        self.live = live;
    }
}

/// Replaces the record of `slot` (at `index`, of `slots`) with `new` for a
/// write `w`, keeping the old version in `kept` if an open snapshot sees
/// it. Returns the old live record (a copy when it was kept and
/// `want_old`).
fn supersede(
    kept: &mut Kept,
    slots: usize,
    index: usize,
    slot: &mut Slot,
    new: Option<Record>,
    w: WriteStamp,
    want_old: bool,
) -> Option<Record> {
    let stamp = slot.stamp();
    if w.keeps(stamp) {
        let old = std::mem::replace(&mut slot.record, new);
        let copy = if want_old { old.clone() } else { None };
        kept.keep(index, slots, stamp, w.now, old);
        slot.stamp = w.now | HAS_OLDER;
        copy
    } else {
        slot.restamp(w.now);
        std::mem::replace(&mut slot.record, new)
    }
}
