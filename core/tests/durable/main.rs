//! The record store and `MapStorage` over a data store that keeps data: the
//! durable tier seen from above (docs/architecture.md, "The durable tier").
//! Every test is a function generic over a [`backends::Backend`] and runs
//! once per backend (the `backend_suite!` lists at the bottom).
//!
//! What is checked: write-through (every write path is in the data store
//! when it returns, batches are atomic), misses load clean records that
//! expire on schedule, bounds evict only clean records (a larger data set
//! than memory, read back whole), opening loads nothing, warm-up, the
//! `IServerStorage` reads merging disk and memory, failures that change
//! neither memory nor disk, concurrent writers and loaders leaving memory
//! equal to disk, and a restart giving back every acknowledged write with
//! its expiry.

// The tests are generic functions instantiated per backend, not `#[test]`
// functions, so clippy's allowance for tests does not reach them.
#![allow(clippy::unwrap_used)]

mod backends;
mod map_storage;
mod record_store;

use backends::Backend;
use pollster::block_on;
use std::collections::BTreeMap;
use std::sync::Arc;
use topgun_storage_core::{
    CompositeMutationObserver, DefaultRecordStore, EvictionPolicy, HashMapStorage, ManualClock,
    MapDataStore, MapStorage, Namespace, Record, RecordStore, RecordStoreFactory, RecordValue,
    ScanRequest, StorageConfig, StoredRecord, Timestamp,
};

/// Start of every test's clock.
pub const T0: i64 = 1_700_000_000_000;
/// The map the record-store tests use.
pub const MAP: &str = "users";

/// An LWW value holding `n`.
pub fn v(n: u64) -> RecordValue {
    RecordValue::lww(n as i64, Timestamp::new(n, 0, "node"))
}

/// A value that makes an entry cost about `len` bytes.
pub fn sized(n: u64, len: usize) -> RecordValue {
    RecordValue::lww(format!("{n:>len$}"), Timestamp::new(n, 0, "node"))
}

/// At most `max_entries` per store, LRU.
pub fn bounded(max_entries: u64) -> StorageConfig {
    StorageConfig {
        max_entry_count: max_entries,
        eviction_policy: EvictionPolicy::Lru,
        ..StorageConfig::default()
    }
}

/// A record store of `MAP` over `ds`, reading `clock`.
pub fn store_over(
    ds: Arc<dyn MapDataStore>,
    config: StorageConfig,
    clock: &ManualClock,
) -> DefaultRecordStore {
    DefaultRecordStore::new(
        MAP.into(),
        0,
        Box::new(HashMapStorage::new()),
        ds,
        Arc::new(CompositeMutationObserver::default()),
        config,
    )
    .with_clock(Arc::new(clock.clone()))
}

/// `MapStorage` over `ds`, reading `clock`.
pub fn map_storage_over(
    ds: Arc<dyn MapDataStore>,
    config: StorageConfig,
    clock: &ManualClock,
) -> MapStorage {
    MapStorage::new(
        RecordStoreFactory::new(config, ds, Vec::new()).with_clock(Arc::new(clock.clone())),
    )
}

/// Every record of `map`'s `namespace` in the data store.
pub fn on_disk(
    ds: &dyn MapDataStore,
    map: &str,
    namespace: Namespace,
) -> BTreeMap<String, StoredRecord> {
    let mut out = BTreeMap::new();
    let mut after: Option<String> = None;
    loop {
        let req = ScanRequest::entries(map, namespace, 500).resume_after(after.as_deref());
        let page = block_on(ds.scan(&req)).expect("scan");
        for e in page.entries {
            out.insert(e.key, e.record.expect("asked for records"));
        }
        after = page.resume_after;
        if after.is_none() {
            return out;
        }
    }
}

/// Every live record in a store's memory.
pub fn in_memory(store: &dyn RecordStore) -> BTreeMap<String, Record> {
    let mut out = BTreeMap::new();
    store.for_each_boxed(
        &mut |k, r| {
            out.insert(k.to_owned(), r.clone());
        },
        false,
    );
    out
}

/// Instantiates every generic test of the suite for one backend.
macro_rules! backend_suite {
    ($module:ident, $backend:ty) => {
        mod $module {
            type B = $backend;
            backend_suite!(@tests record_store:
                put_is_in_the_data_store_when_it_returns,
                every_write_path_reaches_the_data_store_before_returning,
                a_batch_is_one_atomic_data_store_write,
                a_miss_loads_a_clean_record_that_expires_on_schedule,
                a_record_expired_on_disk_is_never_returned,
                disk_only_records_are_seen_without_loading_and_reported_as_replaced,
                memory_holds_a_hot_subset_and_evicted_keys_load_back,
                a_store_with_eviction_off_serves_misses_it_has_no_room_for,
                opening_loads_nothing,
                warm_up_fills_memory_within_bounds_and_reports_progress,
                warm_up_can_be_stopped_and_keeps_resident_records,
                clear_all_empties_the_data_store_and_memory,
                a_failed_write_changes_neither_memory_nor_disk,
                a_failed_load_is_an_error_and_keeps_nothing,
                concurrent_writers_of_one_key_leave_memory_equal_to_disk,
                a_concurrent_remove_is_never_undone_by_a_load,
            );
            backend_suite!(@tests map_storage:
                a_restart_gives_back_every_acknowledged_write_with_its_expiry,
                load_all_keys_merges_disk_and_memory,
                load_all_reads_what_memory_lacks_without_keeping_it,
                store_all_and_delete_all_are_all_or_nothing,
                a_larger_data_set_than_memory_reads_back_whole,
                reads_of_missing_keys_allocate_no_store,
                close_closes_the_data_store,
                a_read_overlapping_close_is_complete_or_closed,
                warm_up_through_map_storage_routes_to_partitions,
            );
        }
    };
    (@tests $suite:ident: $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                super::$suite::$name::<B>();
            }
        )*
    };
}

backend_suite!(memory, crate::backends::Memory);
backend_suite!(redb, crate::backends::Redb);
#[cfg(feature = "lmdb")]
backend_suite!(lmdb, crate::backends::Lmdb);
#[cfg(feature = "rocksdb")]
backend_suite!(rocksdb, crate::backends::RocksDb);

/// The backend's name, for messages.
pub fn name<B: Backend>() -> &'static str {
    B::NAME
}
