//! [`HashMapSnapshot`]: a read-only view of a [`super::HashMapStorage`] at
//! one instant.

use super::{Shared, View};
use crate::cursor::{CursorError, IterationCursor};
use crate::record::Record;
use crate::snapshot::registry::SnapshotTicket;
use crate::snapshot::EngineSnapshot;
use rand::Rng;
use std::sync::Arc;

/// How a snapshot keeps its epoch open.
pub(super) enum Hold {
    /// Its own registration (one engine).
    Own(SnapshotTicket),
    /// One registration shared by the views of several engines.
    Shared(Arc<SnapshotTicket>),
}

/// A read-only view of a [`super::HashMapStorage`] as it was when
/// [`super::HashMapStorage::snapshot`] returned (one instant, between the
/// call and its return).
///
/// * **Isolation.** No read through it sees a write made after that
///   instant, nor part of a write: every read (get, len, pages, samples) is
///   the state at that instant, and repeating a read gives the same answer.
/// * **Any number, any thread.** Views are `Send + Sync`, independent, and
///   may outlive the engine handle they came from (they keep its tables).
/// * **Cost.** Taking one is O(1): no data is copied. A read costs what the
///   same read of the live engine costs, plus a short search among the
///   versions kept for the key when it was written since. While it is
///   open, a writer that replaces a version it sees keeps that version (one
///   move and, for the returned old record, one copy; at most once per key
///   per snapshot taken), and a removal leaves its slot in place.
/// * **Memory.** Kept versions are freed when the last snapshot that sees
///   them is dropped; the slots of removed keys when no open snapshot needs
///   them and the last slot of their shard may move (at the latest when the
///   last snapshot is dropped). Dropping a snapshot runs that collection in
///   the dropping thread: O(kept versions); do not drop one inside a
///   callback that runs under an engine lock.
///
/// Its cursor has the live cursor's format and is exact: with or without
/// concurrent writes, a scan through the snapshot returns every key of the
/// snapshot exactly once.
pub struct HashMapSnapshot {
    shared: Arc<Shared>,
    epoch: u64,
    _hold: Hold,
}

impl std::fmt::Debug for HashMapSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashMapSnapshot")
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

impl HashMapSnapshot {
    pub(super) fn new(shared: Arc<Shared>, hold: Hold) -> Self {
        let epoch = match &hold {
            Hold::Own(ticket) => ticket.epoch(),
            Hold::Shared(ticket) => ticket.epoch(),
        };
        Self {
            shared,
            epoch,
            _hold: hold,
        }
    }

    fn view(&self) -> View {
        View::At(self.epoch)
    }

    /// Picks `k` distinct entries of the snapshot uniformly with `rng` and
    /// calls `f` on each in place; returns how many (`min(k, len)`). Cost
    /// O(k · slots / entries) expected, where slots counts every entry of
    /// the live tables and the kept slots of removed keys; at most O(slots)
    /// (a walk with reservoir sampling when few slots are the snapshot's).
    pub fn sample_with_rng(
        &self,
        k: usize,
        rng: &mut impl Rng,
        f: &mut dyn FnMut(&str, &Record),
    ) -> usize {
        self.shared.sample(self.view(), k, rng, f)
    }

    /// Calls `f` on every entry of the snapshot, shard by shard (each
    /// shard's read lock held while its entries are visited). O(slots).
    pub fn for_each(&self, f: &mut dyn FnMut(&str, &Record)) {
        for shard in self.shared.shards.iter() {
            let table = shard.table.read();
            for index in 0..table.slots() {
                if let Some((key, record)) = table.entry_in(index, self.view()) {
                    f(key, record);
                }
            }
        }
    }
}

impl EngineSnapshot for HashMapSnapshot {
    fn epoch(&self) -> u64 {
        self.epoch
    }

    fn get_with(&self, key: &str, f: &mut dyn FnMut(&Record)) -> bool {
        self.shared.with_read(key, |table, hash| {
            table.get_at(hash, key, self.epoch).map(f).is_some()
        })
    }

    fn len(&self) -> usize {
        self.shared.len_in(self.view())
    }

    fn fetch_with(
        &self,
        cursor: &IterationCursor,
        size: usize,
        visit: &mut dyn FnMut(&str, &Record) -> bool,
    ) -> Result<IterationCursor, CursorError> {
        self.shared.walk(self.view(), cursor, size, visit)
    }

    fn sample_with(&self, k: usize, f: &mut dyn FnMut(&str, &Record)) -> usize {
        self.sample_with_rng(k, &mut rand::rng(), f)
    }
}
