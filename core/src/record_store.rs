//! Layer 2: the record store ([`RecordStore`]) that TopGun's server calls,
//! with its configuration, errors and statistics.

use crate::cursor::{CursorError, IterationCursor};
use crate::engine::{FetchResult, StorageEngine};
use crate::expiry::{ExpiryPolicy, ExpiryReason};
use crate::map_data_store::{DataStoreError, MapDataStore};
use crate::observer::MutationObserver;
use crate::record::{Record, RecordValue};
use crate::snapshot::{EngineSnapshot, SnapshotTicket, StoreSnapshot};
use async_trait::async_trait;
use std::sync::Arc;
use thiserror::Error;

/// Who asked for a write; decides whether it reaches the data store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallerProvenance {
    /// A client write: written through to the data store.
    Client,
    /// A backup copy from the partition owner: memory only.
    Backup,
    /// Replicated from another node: memory only.
    Replication,
    /// Loaded from the data store itself: memory only, stored already.
    Load,
    /// The result of a CRDT merge: written through to the data store.
    CrdtMerge,
}

impl CallerProvenance {
    /// Whether writes with this provenance go to the data store
    /// (`Client` and `CrdtMerge`).
    #[must_use]
    pub fn writes_through(self) -> bool {
        matches!(self, CallerProvenance::Client | CallerProvenance::CrdtMerge)
    }
}

/// How a bounded store chooses what to evict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EvictionPolicy {
    /// Never evict: a write that would break a bound is refused with
    /// [`StoreError::CapacityExceeded`] and changes nothing.
    #[default]
    None,
    /// Least recently used (oldest last read or write) among the samples.
    Lru,
    /// Least frequently used (fewest hits; the older record on a tie).
    Lfu,
    /// Any one of the samples.
    Random,
}

impl EvictionPolicy {
    /// Every policy, in the order of [`EvictionPolicy::as_str`]'s names.
    pub const ALL: [EvictionPolicy; 4] = [
        EvictionPolicy::None,
        EvictionPolicy::Lru,
        EvictionPolicy::Lfu,
        EvictionPolicy::Random,
    ];

    /// The policy's name in every language's options: `"none"`, `"lru"`,
    /// `"lfu"` or `"random"` (what [`str::parse`] reads back).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            EvictionPolicy::None => "none",
            EvictionPolicy::Lru => "lru",
            EvictionPolicy::Lfu => "lfu",
            EvictionPolicy::Random => "random",
        }
    }
}

impl std::fmt::Display for EvictionPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not an [`EvictionPolicy`]; displays as
/// `"must be 'none', 'lru', 'lfu' or 'random', not 'fifo'"`, for bindings
/// to put after the option's name.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("must be 'none', 'lru', 'lfu' or 'random', not '{0}'")]
pub struct UnknownEvictionPolicy(pub String);

impl std::str::FromStr for EvictionPolicy {
    type Err = UnknownEvictionPolicy;

    /// A policy by its [`EvictionPolicy::as_str`] name, ignoring ASCII case.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        EvictionPolicy::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(name))
            .ok_or_else(|| UnknownEvictionPolicy(name.to_owned()))
    }
}

/// Default number of entries sampled per eviction (as Hazelcast).
pub const DEFAULT_EVICTION_SAMPLES: usize = 15;

/// Configuration of one record store. `Default` is unbounded, no expiry,
/// no eviction, 15 eviction samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StorageConfig {
    /// Time to live of records without their own (ms); 0 = never.
    pub default_ttl_millis: u64,
    /// Max idle time of records without their own (ms); 0 = never.
    pub default_max_idle_millis: u64,
    /// Most entries the store holds; 0 = unbounded.
    pub max_entry_count: u64,
    /// Most total cost (bytes, see [`entry_cost`]) the store holds;
    /// 0 = unbounded.
    pub max_total_cost: u64,
    /// What to do when a bound is reached.
    pub eviction_policy: EvictionPolicy,
    /// Entries sampled per eviction (at least 1).
    pub eviction_sample_count: usize,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            default_ttl_millis: 0,
            default_max_idle_millis: 0,
            max_entry_count: 0,
            max_total_cost: 0,
            eviction_policy: EvictionPolicy::None,
            eviction_sample_count: DEFAULT_EVICTION_SAMPLES,
        }
    }
}

impl StorageConfig {
    /// The store-wide expiry defaults as a policy.
    #[must_use]
    pub fn default_expiry(&self) -> ExpiryPolicy {
        ExpiryPolicy {
            ttl_millis: self.default_ttl_millis,
            max_idle_millis: self.default_max_idle_millis,
        }
    }

    /// Whether any bound is set.
    #[must_use]
    pub fn is_bounded(&self) -> bool {
        self.max_entry_count > 0 || self.max_total_cost > 0
    }
}

/// The cost the store charges for an entry: the key's length plus the
/// length of the value's MessagePack encoding. O(size of the value), no
/// allocation.
#[must_use]
pub fn entry_cost(key: &str, value: &RecordValue) -> u64 {
    (key.len() + crate::codec::encoded_len(value)) as u64
}

/// Why a record-store operation failed. A failed write changes nothing.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The data store refused or failed; memory was left as it was.
    #[error("data store: {0}")]
    DataStore(#[from] DataStoreError),
    /// The store is full and its eviction policy is `None`.
    #[error("store is full: {bound} limit of {limit} reached and eviction is off")]
    CapacityExceeded {
        /// `"entry count"` or `"total cost"`.
        bound: &'static str,
        /// The configured limit.
        limit: u64,
    },
    /// One entry costs more than the store may hold in total.
    #[error("entry costs {cost} bytes, more than the store's max total cost of {max}")]
    EntryTooLarge {
        /// The entry's cost.
        cost: u64,
        /// The store's `max_total_cost`.
        max: u64,
    },
    /// The storage was closed; nothing more can be done with it.
    #[error("storage is closed")]
    Closed,
}

/// Counters of one store, taken at one moment. `puts` counts writes of a key
/// that had no live record, `updates` overwrites of a live one; `hits` and
/// `misses` count reads by key; `evictions` and `expirations` count records
/// removed by the store itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct StoreStats {
    /// Reads by key that found a live record.
    pub hits: u64,
    /// Reads by key that found nothing live in memory.
    pub misses: u64,
    /// Writes that created a record.
    pub puts: u64,
    /// Writes that replaced a live record.
    pub updates: u64,
    /// Records removed by callers.
    pub removes: u64,
    /// Records evicted (bounds, or `evict` calls).
    pub evictions: u64,
    /// Records removed because they expired.
    pub expirations: u64,
    /// Records in memory now (may include expired ones not yet removed).
    pub entry_count: u64,
    /// Sum of the records' costs now.
    pub total_cost: u64,
    /// Observer callbacks that panicked (caught and isolated).
    pub observer_panics: u64,
}

/// What [`RecordStore::read_with`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReadOutcome {
    /// A live record was visited and accepted (a hit; touched if asked).
    Visited,
    /// A live record was visited and refused: nothing was counted or
    /// touched (e.g. the caller only asked for the size).
    Refused,
    /// No record in memory (a miss).
    Missing,
    /// The record had expired; it was removed (a miss).
    Expired,
}

/// What one maintenance pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MaintenanceReport {
    /// Entries looked at by the expiry sweep.
    pub scanned: u64,
    /// Expired records removed.
    pub expired: u64,
    /// Records evicted to get back within bounds.
    pub evicted: u64,
}

/// One map partition's records: metadata, expiry, eviction, observers and
/// write-through to a [`MapDataStore`] (SPEC-058c, with the guarantees of
/// docs/architecture.md, "Layer 2").
///
/// Guarantees of every implementation in this crate:
/// * an expired record is never returned by a read (get, get_all, fetch,
///   samples, for_each, exists_in_memory);
/// * a failed write leaves the previous value and metadata untouched;
/// * observers are called after internal locks are released;
/// * all methods may be called from many threads at once.
///
/// The trait is object safe (`Arc<dyn RecordStore>`).
#[async_trait]
pub trait RecordStore: Send + Sync {
    /// The map's name.
    fn name(&self) -> &str;

    /// The partition this store holds.
    fn partition_id(&self) -> u32;

    /// The live record under `key`. With `touch`, counts a hit and sets the
    /// last access time. A miss asks a non-null data store and keeps what it
    /// loads (firing `on_load`).
    ///
    /// # Errors
    /// [`StoreError::DataStore`] when loading a miss fails.
    async fn get(&self, key: &str, touch: bool) -> Result<Option<Record>, StoreError>;

    /// Visits the live record under `key` in place, without copying it, for
    /// callers that serialise it straight into their own buffer. Counts a hit
    /// and (with `touch`) records the access only if `visit` returns `true`;
    /// an expired record is removed and not visited. Memory only: a miss is
    /// not loaded from the data store (use `get` for that). `visit` runs under
    /// an internal lock and must not call back into the store. O(1).
    fn read_with(
        &self,
        key: &str,
        touch: bool,
        visit: &mut dyn FnMut(&Record) -> bool,
    ) -> ReadOutcome;

    /// The primitive behind `fetch_keys` / `fetch_entries`: visits up to
    /// `size` live entries in place (expired ones are skipped, then removed)
    /// and returns the cursor after them; if `visit` returns `false` the page
    /// ends there and the returned cursor starts with that entry. `visit` runs
    /// under an internal lock and must not call back into the store.
    ///
    /// # Errors
    /// [`CursorError`] for a malformed or foreign cursor, or `size == 0`.
    fn fetch_with(
        &self,
        cursor: &IterationCursor,
        size: usize,
        visit: &mut dyn FnMut(&str, &Record) -> bool,
    ) -> Result<IterationCursor, CursorError>;

    /// Whether a live record for `key` is in memory (no load, no touch).
    fn exists_in_memory(&self, key: &str) -> bool;

    /// Writes `value` under `key` with its own `expiry` (0 limits mean the
    /// store defaults); returns the previous live value. Fires `on_put` or
    /// `on_update`; writes through to the data store for `Client` and
    /// `CrdtMerge` before changing memory; may evict other records to stay
    /// within bounds.
    ///
    /// # Errors
    /// [`StoreError::DataStore`], [`StoreError::CapacityExceeded`] or
    /// [`StoreError::EntryTooLarge`]; nothing changes then.
    async fn put(
        &self,
        key: &str,
        value: RecordValue,
        expiry: ExpiryPolicy,
        provenance: CallerProvenance,
    ) -> Result<Option<RecordValue>, StoreError>;

    /// Removes `key`; returns its live value. Always reaches the data store
    /// (first), whatever the provenance. Fires `on_remove`.
    ///
    /// # Errors
    /// [`StoreError::DataStore`]; memory is left as it was.
    async fn remove(
        &self,
        key: &str,
        provenance: CallerProvenance,
    ) -> Result<Option<RecordValue>, StoreError>;

    /// Writes `record` under `key` as given, metadata included (what an
    /// import does with an exported record): the cost is recomputed, the
    /// admission checks of `put` apply, the data store's primary namespace
    /// is written first for `Client` and `CrdtMerge`, `on_put` / `on_update`
    /// fire, and other records may be evicted to stay within bounds. A
    /// record already expired by its metadata is stored and then treated
    /// as expired (never returned).
    ///
    /// # Errors
    /// As [`RecordStore::put`]; nothing changes then.
    async fn restore(
        &self,
        key: &str,
        record: Record,
        provenance: CallerProvenance,
    ) -> Result<(), StoreError>;

    /// Stores a backup copy of `record` as given (metadata included); writes
    /// to the data store's backup namespace for `Client` and `CrdtMerge`.
    ///
    /// # Errors
    /// [`StoreError::DataStore`]; nothing changes then.
    async fn put_backup(
        &self,
        key: &str,
        record: Record,
        provenance: CallerProvenance,
    ) -> Result<(), StoreError>;

    /// Removes the backup copy of `key`; always reaches the data store.
    ///
    /// # Errors
    /// [`StoreError::DataStore`]; memory is left as it was.
    async fn remove_backup(
        &self,
        key: &str,
        provenance: CallerProvenance,
    ) -> Result<(), StoreError>;

    /// The live records of `keys` (missing ones left out), loading misses
    /// like `get(key, false)`.
    ///
    /// # Errors
    /// [`StoreError::DataStore`] when a load fails.
    async fn get_all(&self, keys: &[String]) -> Result<Vec<(String, Record)>, StoreError>;

    /// A page of live keys; the engine's cursor guarantees hold, expired
    /// records are left out (so a page may hold fewer than `size`).
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

    /// A page of live entries; as [`RecordStore::fetch_keys`].
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

    /// Calls `consumer` for every live record, page by page, with no lock
    /// held during the call (it may use the store).
    fn for_each_boxed(&self, consumer: &mut dyn FnMut(&str, &Record), is_backup: bool);

    /// Records in memory (may include expired ones not yet removed).
    fn size(&self) -> usize;

    /// Whether `size() == 0`.
    fn is_empty(&self) -> bool {
        self.size() == 0
    }

    /// Sum of the records' costs. O(1).
    fn owned_entry_cost(&self) -> u64;

    /// Whether `key`'s record is expired at `now` (`NotExpired` if absent).
    fn has_expired(&self, key: &str, now: i64, is_backup: bool) -> ExpiryReason;

    /// Removes expired records found by scanning at most
    /// `max(100, percentage % of size)` entries, resuming where the previous
    /// call stopped. Returns how many were removed.
    fn evict_expired(&self, percentage: u32, now: i64, is_backup: bool) -> u32;

    /// Whether records can expire (a store default, or a record's own).
    fn is_expirable(&self) -> bool;

    /// Evicts `key` now (fires `on_evict`); returns its value.
    fn evict(&self, key: &str, is_backup: bool) -> Option<RecordValue>;

    /// Evicts every record that is not dirty; returns how many.
    fn evict_all(&self, is_backup: bool) -> u32;

    /// Whether a bound is exceeded now.
    fn should_evict(&self) -> bool;

    /// Removes every record (fires `on_clear`); returns how many there were.
    fn clear(&self, is_backup: bool) -> u32;

    /// Clears, and drops the data store's queued writes (fires `on_reset`).
    fn reset(&self);

    /// Clears and releases everything (fires `on_destroy`).
    fn destroy(&self);

    /// Starts flushing the data store's queued writes.
    ///
    /// # Errors
    /// [`StoreError::DataStore`].
    async fn soft_flush(&self) -> Result<u64, StoreError>;

    /// The engine holding the records.
    fn storage(&self) -> &dyn StorageEngine;

    /// The data store behind this store.
    fn map_data_store(&self) -> &dyn MapDataStore;

    /// Copies of up to `k` distinct live records chosen uniformly at random
    /// (expired samples are left out). Cost independent of the size.
    fn random_samples(&self, k: usize) -> Vec<(String, Record)>;

    /// One bounded maintenance pass: the incremental expiry sweep (as
    /// `evict_expired(10, now, false)`) and eviction back within bounds.
    fn maintain(&self) -> MaintenanceReport;

    /// Counters at this moment.
    fn stats(&self) -> StoreStats;

    /// The store's configuration.
    fn config(&self) -> StorageConfig;

    /// Registers an observer for changes made after this returns.
    fn add_observer(&self, observer: Arc<dyn MutationObserver>);

    /// Unregisters an observer (compared by pointer); returns whether it was
    /// registered.
    fn remove_observer(&self, observer: &Arc<dyn MutationObserver>) -> bool;

    /// The current time of the store's clock (epoch ms).
    fn now(&self) -> i64;

    /// A read-only view of the store at this instant: O(1) to take, never
    /// sees a later or partial write, any number may be open on any thread.
    /// Expiry is judged at the clock reading taken with it (see
    /// [`StoreSnapshot`] for the rules). Memory only: records not loaded
    /// from the data store are not in it.
    fn snapshot(&self) -> StoreSnapshot {
        let view = self.storage().snapshot();
        self.view_snapshot(view)
    }

    /// The store's view at the instant of `ticket`, to snapshot several
    /// stores at one instant; `None` if the ticket comes from another
    /// registry than this store's engine.
    fn snapshot_at(&self, ticket: &Arc<SnapshotTicket>) -> Option<StoreSnapshot> {
        let view = self.storage().snapshot_at(ticket)?;
        Some(self.view_snapshot(view))
    }

    /// Wraps an engine view of this store with the store's name and expiry
    /// rules, reading the clock now.
    fn view_snapshot(&self, view: Box<dyn EngineSnapshot>) -> StoreSnapshot {
        StoreSnapshot::new(
            view,
            self.name(),
            self.partition_id(),
            self.now(),
            self.config().default_expiry(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eviction_policies_parse_their_own_names_in_any_case() {
        for policy in EvictionPolicy::ALL {
            assert_eq!(policy.as_str().parse(), Ok(policy));
            assert_eq!(policy.as_str().to_uppercase().parse(), Ok(policy));
            assert_eq!(policy.to_string(), policy.as_str());
        }
        let names: Vec<_> = EvictionPolicy::ALL.map(EvictionPolicy::as_str).into();
        assert_eq!(names, ["none", "lru", "lfu", "random"]);
        let err = "fifo".parse::<EvictionPolicy>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "must be 'none', 'lru', 'lfu' or 'random', not 'fifo'"
        );
        assert!("".parse::<EvictionPolicy>().is_err());
        assert!("lru ".parse::<EvictionPolicy>().is_err());
    }
}
