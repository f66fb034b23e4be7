//! [`SnapshotRegistry`]: the version counter and the open snapshots that a
//! group of engines share, and [`SnapshotTicket`], one open snapshot.
//!
//! # The protocol
//!
//! * The registry holds an **epoch** (starting at 1). Every write is stamped,
//!   under its shard's lock, with the epoch it reads there.
//! * Taking a snapshot (under the registry's mutex) records the current epoch
//!   `s` as open, publishes `s` as the newest open epoch, and then moves the
//!   epoch to `s + 1`. The snapshot sees exactly the versions stamped `<= s`.
//!   A writer that read epoch `s + 1` is sequenced after the snapshot and, by
//!   the order of the two stores, also sees `s` as open.
//! * A writer that replaces a version stamped `v` with one stamped `e` keeps
//!   the old version only if it is still seen by an open snapshot: `v < e`
//!   and the newest open epoch is `>= v`. Otherwise it overwrites in place,
//!   as when no snapshot exists. So with no snapshot open a write costs two
//!   atomic loads of one read-mostly cache line more than before.
//! * Dropping a ticket removes its epoch and runs a collection over every
//!   engine of the registry that kept anything: a kept version `[v, w)`
//!   (stamped `v`, replaced at `w`) is freed unless an open snapshot lies in
//!   `[v, w)`. Versions replaced after the drop read the epoch (`w` above
//!   that horizon) are left for a later collection, because a snapshot taken
//!   meanwhile may need them. When the last snapshot is gone, everything
//!   kept is freed and the slots of removed keys are compacted away.
//!
//! The epoch is a `u64`: at one snapshot per nanosecond it lasts 292 years,
//! so exhaustion is not handled beyond a saturating increment.

use crossbeam_utils::CachePadded;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

/// Something that keeps versions for snapshots and can free the ones no
/// open snapshot needs (an engine).
pub(crate) trait Collect: Send + Sync {
    /// Called after the snapshot at `released` was dropped: frees kept
    /// versions that no epoch of `open` (the epochs still open, ascending)
    /// needs, among those replaced at an epoch `<= horizon` (the epoch at
    /// the drop); with no snapshot open any more, frees everything kept.
    fn collect(&self, released: u64, open: &[u64], horizon: u64);
}

/// What a writer reads from the registry, under its shard lock, before it
/// writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WriteStamp {
    /// The epoch this write is stamped with.
    pub now: u64,
    /// The newest open snapshot's epoch; 0 when none is open.
    pub newest_open: u64,
}

impl WriteStamp {
    /// Whether any snapshot is open.
    #[inline]
    pub fn any_open(self) -> bool {
        self.newest_open != 0
    }

    /// Whether a version stamped `stamp`, replaced by this write, is still
    /// seen by an open snapshot (and must be kept).
    #[inline]
    pub fn keeps(self, stamp: u64) -> bool {
        stamp < self.now && self.newest_open != 0 && self.newest_open >= stamp
    }
}

struct Epochs {
    /// The stamp of writes now; a snapshot taken now sees stamps below it.
    current: AtomicU64,
    /// The newest open snapshot's epoch, 0 when none is open.
    newest_open: AtomicU64,
}

/// The version counter and the set of open snapshots shared by a group of
/// engines (one per standalone engine; one per [`crate::RecordStoreFactory`],
/// so that one snapshot of a whole `MapStorage` is a single instant).
///
/// Cost: taking a snapshot locks a mutex and pushes onto a vector (O(1)
/// amortised, no allocation once the vector has grown); dropping one
/// removes it (O(open snapshots)) and runs a collection over the engines
/// that kept versions (O(engines + kept versions)).
pub struct SnapshotRegistry {
    epochs: CachePadded<Epochs>,
    /// Epochs of the open snapshots, ascending.
    open: Mutex<Vec<u64>>,
    engines: Mutex<Vec<Weak<dyn Collect>>>,
}

impl std::fmt::Debug for SnapshotRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotRegistry")
            .field("epoch", &self.epochs.current.load(Ordering::Relaxed))
            .field("open", &self.open.lock().len())
            .finish_non_exhaustive()
    }
}

impl SnapshotRegistry {
    /// A registry with no snapshot open, at epoch 1.
    #[must_use]
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            epochs: CachePadded::new(Epochs {
                current: AtomicU64::new(1),
                newest_open: AtomicU64::new(0),
            }),
            open: Mutex::new(Vec::new()),
            engines: Mutex::new(Vec::new()),
        })
    }

    /// What a writer needs to know; read under the writer's shard lock.
    #[inline]
    pub(crate) fn write_stamp(&self) -> WriteStamp {
        WriteStamp {
            now: self.epochs.current.load(Ordering::SeqCst),
            newest_open: self.epochs.newest_open.load(Ordering::SeqCst),
        }
    }

    /// Adds an engine to the collections that dropped snapshots run.
    pub(crate) fn register(&self, engine: Weak<dyn Collect>) {
        let mut engines = self.engines.lock();
        if engines.len() == engines.capacity() {
            engines.retain(|e| e.strong_count() > 0);
        }
        engines.push(engine);
    }

    /// Opens a snapshot at the current epoch. O(1), no allocation once the
    /// list of open snapshots has grown to its peak.
    #[must_use]
    pub fn acquire(self: &Arc<Self>) -> SnapshotTicket {
        let mut open = self.open.lock();
        let epoch = self.epochs.current.load(Ordering::SeqCst);
        open.push(epoch);
        // Published before the epoch moves on: a writer that reads the new
        // epoch also reads this snapshot as open.
        self.epochs.newest_open.store(epoch, Ordering::SeqCst);
        self.epochs
            .current
            .store(epoch.saturating_add(1), Ordering::SeqCst);
        drop(open);
        SnapshotTicket {
            registry: Arc::clone(self),
            epoch,
        }
    }

    /// How many snapshots are open.
    #[must_use]
    pub fn open_count(&self) -> usize {
        self.open.lock().len()
    }

    /// The epoch a snapshot taken now would get.
    #[must_use]
    pub fn current_epoch(&self) -> u64 {
        self.epochs.current.load(Ordering::SeqCst)
    }

    fn release(&self, epoch: u64) {
        let (open, horizon) = {
            let mut open = self.open.lock();
            if let Ok(i) = open.binary_search(&epoch) {
                open.remove(i);
            }
            let newest = open.last().copied().unwrap_or(0);
            self.epochs.newest_open.store(newest, Ordering::SeqCst);
            let horizon = self.epochs.current.load(Ordering::SeqCst);
            (open.clone(), horizon)
        };
        let engines: Vec<Arc<dyn Collect>> = self
            .engines
            .lock()
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for engine in engines {
            engine.collect(epoch, &open, horizon);
        }
    }
}

/// One open snapshot's registration: its epoch stays open (the versions it
/// sees are kept) until the ticket is dropped. Dropping it frees what no
/// other open snapshot needs (see the module docs); do not drop it inside a
/// callback that runs under an engine lock.
#[derive(Debug)]
pub struct SnapshotTicket {
    registry: Arc<SnapshotRegistry>,
    epoch: u64,
}

impl SnapshotTicket {
    /// The epoch: the snapshot sees the writes stamped at or below it.
    #[must_use]
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The registry this ticket belongs to.
    #[must_use]
    pub fn registry(&self) -> &Arc<SnapshotRegistry> {
        &self.registry
    }
}

impl Drop for SnapshotTicket {
    fn drop(&mut self) {
        self.registry.release(self.epoch);
    }
}

/// Whether a version stamped `from`, replaced at `until`, is still needed:
/// an open snapshot (in `open`, ascending) lies in `[from, until)`, or it was
/// replaced after `horizon` (a snapshot taken since may need it).
#[must_use]
pub(crate) fn still_needed(from: u64, until: u64, open: &[u64], horizon: u64) -> bool {
    if until > horizon {
        return true;
    }
    let first = open.partition_point(|&s| s < from);
    open.get(first).is_some_and(|&s| s < until)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_start_at_one_and_each_snapshot_moves_them() {
        let r = SnapshotRegistry::new();
        assert_eq!(
            r.write_stamp(),
            WriteStamp {
                now: 1,
                newest_open: 0
            }
        );
        let a = r.acquire();
        let b = r.acquire();
        assert_eq!((a.epoch(), b.epoch()), (1, 2));
        assert_eq!(
            r.write_stamp(),
            WriteStamp {
                now: 3,
                newest_open: 2
            }
        );
        drop(b);
        assert_eq!(r.write_stamp().newest_open, 1);
        assert_eq!(r.open_count(), 1);
        drop(a);
        assert_eq!(
            r.write_stamp(),
            WriteStamp {
                now: 3,
                newest_open: 0
            }
        );
    }

    #[test]
    fn keeps_only_what_an_open_snapshot_sees() {
        let w = WriteStamp {
            now: 5,
            newest_open: 3,
        };
        assert!(w.keeps(3));
        assert!(w.keeps(1));
        assert!(!w.keeps(4), "written after the newest snapshot");
        assert!(
            !WriteStamp {
                now: 5,
                newest_open: 5
            }
            .keeps(5),
            "same epoch"
        );
        assert!(
            !WriteStamp {
                now: 5,
                newest_open: 0
            }
            .keeps(0),
            "none open"
        );
    }

    #[test]
    fn still_needed_checks_the_interval_and_the_horizon() {
        let open = [2, 7];
        assert!(still_needed(1, 3, &open, 10));
        assert!(!still_needed(3, 7, &open, 10));
        assert!(still_needed(3, 8, &open, 10));
        assert!(!still_needed(8, 9, &open, 10));
        assert!(still_needed(8, 11, &open, 10), "replaced after the horizon");
        assert!(!still_needed(1, 2, &[], 10));
    }
}
