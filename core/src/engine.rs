//! Layer 1: the in-memory key -> [`Record`] map ([`StorageEngine`]).

use crate::cursor::{CursorError, IterationCursor};
use crate::record::Record;
use crate::snapshot::{EngineSnapshot, SnapshotTicket};
use std::sync::Arc;

/// One page of an iteration: the items and the cursor that continues it.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchResult<T> {
    /// The items of this page, at most the page size asked for.
    pub items: Vec<T>,
    /// Pass this to the next call; it is finished when nothing is left.
    pub next_cursor: IterationCursor,
}

/// A `fetch_with` call (of an engine or a record store), given the visitor.
type Visit<'v> = &'v mut dyn FnMut(&str, &Record) -> bool;

impl<T> FetchResult<T> {
    /// The page that one `fetch_with` call visits, taking every entry
    /// offered (at most `size`) as `item(key, record)`. What every
    /// `fetch_keys` and `fetch_entries` ([`StorageEngine`],
    /// [`crate::RecordStore`]) is made of.
    ///
    /// # Errors
    /// Whatever `fetch` returns.
    pub fn collect(
        size: usize,
        fetch: impl FnOnce(Visit<'_>) -> Result<IterationCursor, CursorError>,
        mut item: impl FnMut(&str, &Record) -> T,
    ) -> Result<Self, CursorError> {
        let mut items = Vec::with_capacity(size.min(4096));
        let next_cursor = fetch(&mut |key, record| {
            items.push(item(key, record));
            true
        })?;
        Ok(Self { items, next_cursor })
    }
}

impl FetchResult<String> {
    /// The keys of the page that one `fetch_with` call visits.
    ///
    /// # Errors
    /// Whatever `fetch` returns.
    pub fn keys(
        size: usize,
        fetch: impl FnOnce(Visit<'_>) -> Result<IterationCursor, CursorError>,
    ) -> Result<Self, CursorError> {
        Self::collect(size, fetch, |key, _| key.to_owned())
    }
}

impl FetchResult<(String, Record)> {
    /// The entries (key and a copy of the record) of the page that one
    /// `fetch_with` call visits.
    ///
    /// # Errors
    /// Whatever `fetch` returns.
    pub fn entries(
        size: usize,
        fetch: impl FnOnce(Visit<'_>) -> Result<IterationCursor, CursorError>,
    ) -> Result<Self, CursorError> {
        Self::collect(size, fetch, |key, record| (key.to_owned(), record.clone()))
    }
}

/// The in-memory map of one record store: key -> [`Record`].
///
/// Implementations are safe to share between threads; every method takes
/// `&self`. They hold no knowledge of expiry, eviction or persistence: that is
/// the record store's job (layer 2). The trait is object safe
/// (`Arc<dyn StorageEngine>`).
///
/// # Iteration guarantees (`fetch_keys`, `fetch_entries`)
///
/// Iteration is by pages with an opaque [`IterationCursor`], in the manner of
/// Redis `SCAN`, and holds no lock between pages. While other threads write:
///
/// * every key present for the whole iteration is returned at least once;
/// * a key absent for the whole iteration is never returned;
/// * a key inserted or removed during the iteration may or may not be
///   returned; a key may be returned more than once only if some key was
///   removed during the iteration;
/// * with no concurrent writes every key is returned exactly once;
/// * a finished cursor stays finished (fetching with it returns an empty,
///   finished page), and a cursor past the end returns an empty page;
/// * a malformed cursor, or one from a store with another layout, is an
///   error, never a panic;
/// * a page costs O(page size) (plus O(shard count) to skip empty shards),
///   so a full scan of N keys costs O(N) in total.
///
/// Order is unspecified and differs between stores; compare iterations as
/// sets.
pub trait StorageEngine: Send + Sync + 'static {
    /// Inserts or replaces the record under `key`; returns the previous one.
    fn put(&self, key: &str, record: Record) -> Option<Record>;

    /// A copy of the record under `key`.
    fn get(&self, key: &str) -> Option<Record>;

    /// Calls `f` with a reference to the record under `key`, without copying
    /// it; returns whether the key was present. `f` runs while the engine
    /// holds an internal read lock: it must not call back into this engine.
    fn get_with(&self, key: &str, f: &mut dyn FnMut(&Record)) -> bool;

    /// Calls `f` to modify the record under `key` in place; returns whether
    /// the key was present. The engine's cost total follows any change `f`
    /// makes to `metadata.cost`. `f` runs under an internal write lock: it
    /// must not call back into this engine.
    fn update(&self, key: &str, f: &mut dyn FnMut(&mut Record)) -> bool;

    /// Removes the record under `key`; returns it.
    fn remove(&self, key: &str) -> Option<Record>;

    /// Whether `key` is present.
    fn contains_key(&self, key: &str) -> bool;

    /// Number of records. O(shard count), exact when no write is in flight.
    fn len(&self) -> usize;

    /// Whether there are no records.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every record and releases the memory they used.
    fn clear(&self);

    /// Releases everything; the engine stays usable and empty.
    fn destroy(&self);

    /// Sum of `metadata.cost` over all records. O(shard count), kept in step
    /// on every put, update, remove and clear.
    fn estimated_cost(&self) -> u64;

    /// Atomically replaces the record under `key` with what `f` returns when
    /// given the current record (`None` if absent). If `f` returns `None` the
    /// key is left as it was. Returns the record that was replaced, if any.
    /// `f` runs under an internal write lock: it must not call back into this
    /// engine. The cost total follows the change.
    fn upsert(
        &self,
        key: &str,
        f: &mut dyn FnMut(Option<&Record>) -> Option<Record>,
    ) -> Option<Record>;

    /// Removes the record under `key` if `pred` accepts it (checked under the
    /// same lock as the removal); returns the removed record.
    fn remove_if(&self, key: &str, pred: &mut dyn FnMut(&Record) -> bool) -> Option<Record>;

    /// The primitive behind every page: visits up to `size` entries from
    /// `cursor` without copying them, and returns the cursor that continues
    /// after them. If `visit` returns `false` for an entry, that entry is not
    /// consumed: the page ends there and the returned cursor starts with it
    /// (so a caller whose output buffer is full can resume exactly). Same
    /// guarantees as the trait docs. `visit` runs under an internal read lock
    /// and must not call back into this engine.
    ///
    /// # Errors
    /// [`CursorError`] for a malformed or foreign cursor, or `size == 0`.
    fn fetch_with(
        &self,
        cursor: &IterationCursor,
        size: usize,
        visit: &mut dyn FnMut(&str, &Record) -> bool,
    ) -> Result<IterationCursor, CursorError>;

    /// The next page of at most `size` keys; see the trait docs for the
    /// guarantees. Cost O(size) plus the copies of the keys.
    ///
    /// # Errors
    /// [`CursorError`] for a malformed or foreign cursor, or `size == 0`.
    fn fetch_keys(
        &self,
        cursor: &IterationCursor,
        size: usize,
    ) -> Result<FetchResult<String>, CursorError> {
        FetchResult::keys(size, |visit| self.fetch_with(cursor, size, visit))
    }

    /// The next page of at most `size` entries (key and a copy of the record);
    /// same guarantees and errors as [`StorageEngine::fetch_keys`].
    ///
    /// # Errors
    /// [`CursorError`] for a malformed or foreign cursor, or `size == 0`.
    fn fetch_entries(
        &self,
        cursor: &IterationCursor,
        size: usize,
    ) -> Result<FetchResult<(String, Record)>, CursorError> {
        FetchResult::entries(size, |visit| self.fetch_with(cursor, size, visit))
    }

    /// A copy of every entry, all taken at one instant (through a
    /// snapshot). O(N) time and memory: prefer the cursor, or
    /// [`StorageEngine::snapshot`] and its cursor, for large stores.
    fn snapshot_iter(&self) -> Vec<(String, Record)>;

    /// A read-only view of the engine at this instant: O(1) to take, never
    /// sees a later or partial write, any number may be open on any
    /// thread; writers keep the versions it sees until it is dropped (see
    /// [`crate::snapshot`] and the implementation's docs for the costs).
    /// Must not be called from inside a callback of this engine.
    fn snapshot(&self) -> Box<dyn EngineSnapshot>;

    /// A view at the instant of `ticket` (taken from this engine's
    /// registry), so that views of several engines form one snapshot;
    /// `None` if the ticket comes from another registry.
    fn snapshot_at(&self, ticket: &Arc<SnapshotTicket>) -> Option<Box<dyn EngineSnapshot>>;

    /// Calls `f` on `min(sample_count, len)` distinct entries chosen
    /// uniformly at random, without copying them; returns how many it
    /// visited. Cost O(sample_count + shard count), independent of the
    /// number of entries. Under concurrent removals fewer may be visited.
    /// `f` runs under an internal read lock and must not call back into this
    /// engine.
    fn sample_with(&self, sample_count: usize, f: &mut dyn FnMut(&str, &Record)) -> usize;

    /// Copies of `min(sample_count, len)` distinct entries chosen uniformly
    /// at random; see [`StorageEngine::sample_with`] for the cost.
    fn random_samples(&self, sample_count: usize) -> Vec<(String, Record)> {
        let mut out = Vec::with_capacity(sample_count.min(self.len()));
        self.sample_with(sample_count, &mut |key, record| {
            out.push((key.to_owned(), record.clone()));
        });
        out
    }
}
