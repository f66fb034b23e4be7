//! [`StoreSnapshot`]: a record store's view at one instant, with expiry.

use super::EngineSnapshot;
use crate::cursor::{CursorError, IterationCursor};
use crate::engine::FetchResult;
use crate::expiry::{expiry_reason, ExpiryPolicy};
use crate::record::Record;

/// Entries visited per page by [`StoreSnapshot::for_each`].
const PAGE: usize = 256;

/// A read-only view of a record store at one instant (what
/// [`crate::RecordStore::snapshot`] returns).
///
/// It holds the engine's [`EngineSnapshot`] and the store's clock reading
/// taken right after it, and has every guarantee of the engine view
/// (isolation, repeatable reads, exact cursor, O(1) to take).
///
/// # Expiry as seen from a snapshot
///
/// A snapshot judges expiry **once, at its own instant**: a record is in
/// the snapshot if it was in the store then and not expired at the clock
/// reading taken with the snapshot ([`StoreSnapshot::now`]), under the
/// store's expiry rules and defaults of that moment. Time does not pass
/// inside a snapshot: a record that expires later stays visible through it,
/// one already expired (but not yet removed from the store) is never
/// returned. Reads through a snapshot never touch a record (no hit, no
/// access time) and never remove anything; the live store's own expiry
/// and eviction go on and do not change the snapshot. The metadata read
/// through a snapshot (times, hits, version) is the metadata at its
/// instant, so a record exported from it and imported later expires when
/// it would have in the original store.
pub struct StoreSnapshot {
    view: Box<dyn EngineSnapshot>,
    name: String,
    partition_id: u32,
    now: i64,
    defaults: ExpiryPolicy,
}

impl std::fmt::Debug for StoreSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreSnapshot")
            .field("name", &self.name)
            .field("partition_id", &self.partition_id)
            .field("epoch", &self.view.epoch())
            .field("now", &self.now)
            .finish_non_exhaustive()
    }
}

impl StoreSnapshot {
    /// The snapshot of store `name` / `partition_id` over the engine view
    /// `view`, judging expiry at `now` with the store's `defaults`.
    #[must_use]
    pub fn new(
        view: Box<dyn EngineSnapshot>,
        name: &str,
        partition_id: u32,
        now: i64,
        defaults: ExpiryPolicy,
    ) -> Self {
        Self {
            view,
            name: name.to_owned(),
            partition_id,
            now,
            defaults,
        }
    }

    /// The store's map name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The store's partition.
    #[must_use]
    pub fn partition_id(&self) -> u32 {
        self.partition_id
    }

    /// The clock reading expiry is judged at (epoch ms).
    #[must_use]
    pub fn now(&self) -> i64 {
        self.now
    }

    /// The engine view's epoch.
    #[must_use]
    pub fn epoch(&self) -> u64 {
        self.view.epoch()
    }

    /// The engine view underneath (expired records included).
    #[must_use]
    pub fn engine_view(&self) -> &dyn EngineSnapshot {
        self.view.as_ref()
    }

    fn live(&self, record: &Record) -> bool {
        !expiry_reason(&record.metadata, self.defaults, self.now).is_expired()
    }

    /// Visits the record under `key` in place if it is live in the
    /// snapshot; returns whether it was.
    pub fn read_with(&self, key: &str, f: &mut dyn FnMut(&Record)) -> bool {
        let mut live = false;
        self.view.get_with(key, &mut |record| {
            if self.live(record) {
                live = true;
                f(record);
            }
        });
        live
    }

    /// A copy of the live record under `key`.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<Record> {
        let mut out = None;
        self.read_with(key, &mut |r| out = Some(r.clone()));
        out
    }

    /// Whether a live record for `key` is in the snapshot.
    #[must_use]
    pub fn contains_key(&self, key: &str) -> bool {
        self.read_with(key, &mut |_| {})
    }

    /// Records in the snapshot, including any already expired at its
    /// instant but not yet removed (as [`crate::RecordStore::size`]).
    /// O(shard count).
    #[must_use]
    pub fn len(&self) -> usize {
        self.view.len()
    }

    /// Whether `len() == 0`.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Visits up to `size` live entries of the snapshot from `cursor`
    /// (expired ones are skipped, so a page may hold fewer); exact, as the
    /// engine view's cursor.
    ///
    /// # Errors
    /// [`CursorError`] for a malformed or foreign cursor, or `size == 0`.
    pub fn fetch_with(
        &self,
        cursor: &IterationCursor,
        size: usize,
        visit: &mut dyn FnMut(&str, &Record) -> bool,
    ) -> Result<IterationCursor, CursorError> {
        self.view.fetch_with(cursor, size, &mut |key, record| {
            !self.live(record) || visit(key, record)
        })
    }

    /// A page of live keys.
    ///
    /// # Errors
    /// As [`StoreSnapshot::fetch_with`].
    pub fn fetch_keys(
        &self,
        cursor: &IterationCursor,
        size: usize,
    ) -> Result<FetchResult<String>, CursorError> {
        FetchResult::keys(size, |visit| self.fetch_with(cursor, size, visit))
    }

    /// A page of live entries.
    ///
    /// # Errors
    /// As [`StoreSnapshot::fetch_with`].
    pub fn fetch_entries(
        &self,
        cursor: &IterationCursor,
        size: usize,
    ) -> Result<FetchResult<(String, Record)>, CursorError> {
        FetchResult::entries(size, |visit| self.fetch_with(cursor, size, visit))
    }

    /// Calls `f` on every live entry, a page at a time (a shard lock is held
    /// only while a page is visited).
    pub fn for_each(&self, f: &mut dyn FnMut(&str, &Record)) {
        let mut cursor = IterationCursor::start();
        while !cursor.is_finished() {
            match self.fetch_with(&cursor, PAGE, &mut |key, record| {
                f(key, record);
                true
            }) {
                Ok(next) => cursor = next,
                // The cursor comes from this very view: it is never refused.
                Err(_) => return,
            }
        }
    }

    /// Copies of up to `k` distinct live entries chosen uniformly at random
    /// (samples expired at the snapshot's instant are left out).
    #[must_use]
    pub fn random_samples(&self, k: usize) -> Vec<(String, Record)> {
        let mut out = Vec::with_capacity(k.min(self.len()));
        self.view.sample_with(k, &mut |key, record| {
            if self.live(record) {
                out.push((key.to_owned(), record.clone()));
            }
        });
        out
    }
}
