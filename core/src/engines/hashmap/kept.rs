//! The versions of one shard's slots that open snapshots still see.
//!
//! Versions live in a per-shard pool (`pool`: fixed-size chunks, reused
//! through a free list, so keeping one allocates nothing once the pool has
//! grown, and growing it never moves what it holds).
//! Each slot with kept versions has a chain, newest first, starting at
//! `heads[slot index]` (a vector allocated only while something is kept).
//! Each version records the epoch it was written at (`stamp`) and the epoch
//! a write replaced it at (`until`): it is what snapshots in `[stamp,
//! until)` see. Versions are also filed under `until` in `by_end`, so the
//! collection after a snapshot at epoch `s` is dropped only visits the
//! versions it can free: a version needed by `s` and by no other open
//! snapshot has `until` in `(s, next open epoch after s]` (any version
//! replaced later is also seen by that next snapshot).
//!
//! A freed version's record is dropped at once; its pool entry is reused,
//! and the pool itself is released when the shard keeps nothing.

use crate::record::Record;
use crate::snapshot::registry::still_needed;
use std::collections::BTreeMap;

/// No version (end of a chain, or a slot without kept versions).
const NONE: u32 = u32::MAX;

/// Versions per chunk of the pool (about 45 KiB).
const CHUNK: usize = 256;

/// A version kept for open snapshots.
struct Version {
    stamp: u64,
    until: u64,
    record: Option<Record>,
    /// The next older version of the same slot, or [`NONE`].
    older: u32,
}

/// The kept versions of one shard (see the module docs).
#[derive(Default)]
pub(super) struct Kept {
    /// Newest kept version of each slot, by slot index.
    heads: Vec<u32>,
    pool: Vec<Vec<Version>>,
    /// Free entries of `pool`.
    free: Vec<u32>,
    /// Slot indices by the epoch a version of theirs was replaced at (an
    /// index may be stale: its version already freed).
    by_end: BTreeMap<u64, Vec<u32>>,
    count: usize,
}

impl Kept {
    /// Whether no version is kept.
    pub(super) fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Versions kept.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.count
    }

    fn head(&self, index: usize) -> u32 {
        self.heads.get(index).copied().unwrap_or(NONE)
    }

    fn slot(&self, at: u32) -> Option<&Version> {
        let at = at as usize;
        self.pool.get(at / CHUNK)?.get(at % CHUNK)
    }

    fn slot_mut(&mut self, at: u32) -> &mut Version {
        let at = at as usize;
        &mut self.pool[at / CHUNK][at % CHUNK]
    }

    /// Keeps `record`, written at `stamp` and replaced at `until`, as the
    /// newest kept version of slot `index` (of `slots` slots). O(1)
    /// amortised, no allocation once the pool has grown.
    pub(super) fn keep(
        &mut self,
        index: usize,
        slots: usize,
        stamp: u64,
        until: u64,
        record: Option<Record>,
    ) {
        if self.heads.len() <= index {
            self.heads.resize(slots.max(index + 1), NONE);
        }
        let version = Version {
            stamp,
            until,
            record,
            older: self.heads[index],
        };
        let at = match self.free.pop() {
            Some(at) => {
                *self.slot_mut(at) = version;
                at
            }
            None => {
                if self.pool.last().is_none_or(|chunk| chunk.len() == CHUNK) {
                    self.pool.push(Vec::with_capacity(CHUNK));
                }
                let chunks = self.pool.len() - 1;
                let last = &mut self.pool[chunks];
                last.push(version);
                // The pool holds far fewer than 2^32 versions (one per slot
                // and snapshot epoch at most).
                u32::try_from(chunks * CHUNK + last.len() - 1).unwrap_or(NONE)
            }
        };
        self.heads[index] = at;
        // Slot indices fit in 32 bits: a shard is an IndexMap whose
        // entries would not fit in memory long before.
        let index32 = u32::try_from(index).unwrap_or(u32::MAX);
        match self.by_end.last_entry() {
            Some(mut last) if *last.key() == until => last.get_mut().push(index32),
            _ => self.by_end.entry(until).or_default().push(index32),
        }
        self.count += 1;
    }

    /// What a snapshot at `epoch` sees of slot `index` among its kept
    /// versions: the newest one written at or before `epoch` (`None` if
    /// there is none, or if it is a removal).
    pub(super) fn at(&self, index: usize, epoch: u64) -> Option<&Record> {
        let mut at = self.head(index);
        while let Some(v) = self.slot(at) {
            if v.stamp <= epoch {
                return v.record.as_ref();
            }
            at = v.older;
        }
        None
    }

    fn free(&mut self, at: u32) -> u32 {
        let v = self.slot_mut(at);
        v.record = None;
        let older = std::mem::replace(&mut v.older, NONE);
        self.free.push(at);
        self.count -= 1;
        older
    }

    /// Drops every kept version of slot `index` (it is about to move, or no
    /// snapshot is open); returns whether it had any.
    pub(super) fn forget(&mut self, index: usize) -> bool {
        let head = self.head(index);
        if head == NONE {
            return false;
        }
        self.heads[index] = NONE;
        let mut at = head;
        while at != NONE {
            at = self.free(at);
        }
        self.release_if_empty();
        true
    }

    /// Drops every kept version; pushes the indices that had some onto
    /// `emptied`.
    pub(super) fn clear(&mut self, emptied: &mut Vec<usize>) {
        emptied.extend(
            self.heads
                .iter()
                .enumerate()
                .filter(|(_, &head)| head != NONE)
                .map(|(index, _)| index),
        );
        self.count = 0;
        self.release_if_empty();
    }

    fn release_if_empty(&mut self) {
        if self.count == 0 {
            self.heads = Vec::new();
            self.pool = Vec::new();
            self.free = Vec::new();
            self.by_end = BTreeMap::new();
        }
    }

    /// After the snapshot at `released` was dropped: frees the versions that
    /// only it needed (among `open`, the epochs still open, ascending, and
    /// below `horizon`, the epoch when it was dropped; see the module docs).
    /// Pushes the indices left without versions onto `emptied`.
    pub(super) fn release(
        &mut self,
        released: u64,
        open: &[u64],
        horizon: u64,
        emptied: &mut Vec<usize>,
    ) {
        let next = open.get(open.partition_point(|&s| s <= released));
        let hi = next.map_or(horizon, |&n| n.min(horizon));
        if hi <= released {
            return;
        }
        let ends: Vec<u64> = self
            .by_end
            .range(released + 1..=hi)
            .map(|(&end, _)| end)
            .collect();
        let mut indices = Vec::new();
        for end in ends {
            if let Some(list) = self.by_end.remove(&end) {
                indices.extend(list);
            }
        }
        indices.sort_unstable();
        indices.dedup();
        for index32 in indices {
            let index = index32 as usize;
            // Walk the chain newest first, unlinking what is not needed.
            let mut prev = NONE;
            let mut at = self.head(index);
            while at != NONE {
                let v = self.slot_mut(at);
                let (stamp, until, older) = (v.stamp, v.until, v.older);
                if still_needed(stamp, until, open, horizon) {
                    if until > released && until <= hi {
                        self.by_end.entry(until).or_default().push(index32);
                    }
                    prev = at;
                } else {
                    self.free(at);
                    match prev {
                        NONE => self.heads[index] = older,
                        p => self.slot_mut(p).older = older,
                    }
                }
                at = older;
            }
            if self.head(index) == NONE {
                emptied.push(index);
            }
        }
        self.release_if_empty();
    }
}
