//! Point-in-time snapshots of engines and record stores.
//!
//! A snapshot is a read-only view of the state at the instant it was taken:
//! taking one is O(1) (no data is copied), reads through it never see a
//! later or a partial write, any number may be open at once on any thread,
//! and writers pay a bounded extra cost while they are open. The technique
//! is versioned entries with epoch reclamation:
//!
//! * every write is stamped with the epoch of a [`SnapshotRegistry`]; a
//!   snapshot takes the current epoch and moves it on;
//! * a write that replaces (or removes) a version that an open snapshot
//!   sees keeps that version beside the table; a snapshot reads the newest
//!   version stamped at or below its epoch;
//! * dropping a snapshot frees the kept versions that no other open snapshot
//!   sees (see `registry` for the exact rule and its proof obligations).
//!
//! Layer 1 views implement [`EngineSnapshot`] (for the in-memory engine:
//! [`crate::HashMapSnapshot`]); layer 2 wraps one in a [`StoreSnapshot`],
//! which adds the record store's expiry rules (see its docs for how expiry
//! looks from a snapshot); a [`MapsSnapshot`] holds one per store of a
//! factory, all at one instant. `docs/architecture.md` gives the costs.

mod maps;
pub(crate) mod registry;
mod store;

pub use maps::MapsSnapshot;
pub use registry::{SnapshotRegistry, SnapshotTicket};
pub use store::StoreSnapshot;

use crate::cursor::{CursorError, IterationCursor};
use crate::engine::FetchResult;
use crate::record::Record;

/// A read-only view of a [`crate::StorageEngine`] at one instant: what
/// [`crate::StorageEngine::snapshot`] returns.
///
/// Every read answers for the instant the view was taken, however the
/// engine changes meanwhile, and repeating a read gives the same answer.
/// The cursor of `fetch_with` is exact: a full scan returns each of the
/// view's keys once, with or without concurrent writes to the engine. The
/// other cursor rules of [`crate::StorageEngine`] (errors, finished cursors)
/// hold as written there. Callbacks run under an internal read lock and
/// must not call back into the engine or drop a snapshot.
pub trait EngineSnapshot: Send + Sync {
    /// The epoch of the view: it sees the writes stamped at or below it.
    fn epoch(&self) -> u64;

    /// Calls `f` with the record under `key` in the view, without copying
    /// it; returns whether the key was present.
    fn get_with(&self, key: &str, f: &mut dyn FnMut(&Record)) -> bool;

    /// A copy of the record under `key` in the view.
    fn get(&self, key: &str) -> Option<Record> {
        let mut out = None;
        self.get_with(key, &mut |r| out = Some(r.clone()));
        out
    }

    /// Whether `key` is present in the view.
    fn contains_key(&self, key: &str) -> bool {
        self.get_with(key, &mut |_| {})
    }

    /// Number of records in the view. O(shard count).
    fn len(&self) -> usize;

    /// Whether the view holds no record.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Visits up to `size` entries of the view from `cursor` (as
    /// [`crate::StorageEngine::fetch_with`], exact).
    ///
    /// # Errors
    /// [`CursorError`] for a malformed or foreign cursor, or `size == 0`.
    fn fetch_with(
        &self,
        cursor: &IterationCursor,
        size: usize,
        visit: &mut dyn FnMut(&str, &Record) -> bool,
    ) -> Result<IterationCursor, CursorError>;

    /// The next page of at most `size` keys of the view.
    ///
    /// # Errors
    /// As [`EngineSnapshot::fetch_with`].
    fn fetch_keys(
        &self,
        cursor: &IterationCursor,
        size: usize,
    ) -> Result<FetchResult<String>, CursorError> {
        FetchResult::keys(size, |visit| self.fetch_with(cursor, size, visit))
    }

    /// The next page of at most `size` entries of the view.
    ///
    /// # Errors
    /// As [`EngineSnapshot::fetch_with`].
    fn fetch_entries(
        &self,
        cursor: &IterationCursor,
        size: usize,
    ) -> Result<FetchResult<(String, Record)>, CursorError> {
        FetchResult::entries(size, |visit| self.fetch_with(cursor, size, visit))
    }

    /// Calls `f` on `min(k, len)` distinct entries of the view chosen
    /// uniformly at random; returns how many.
    fn sample_with(&self, k: usize, f: &mut dyn FnMut(&str, &Record)) -> usize;

    /// Copies of `min(k, len)` distinct entries of the view chosen uniformly
    /// at random.
    fn random_samples(&self, k: usize) -> Vec<(String, Record)> {
        let mut out = Vec::with_capacity(k.min(self.len()));
        self.sample_with(k, &mut |key, record| {
            out.push((key.to_owned(), record.clone()));
        });
        out
    }
}
