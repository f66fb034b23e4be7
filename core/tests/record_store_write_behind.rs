//! A record store over a write-behind data store: `put` does not wait for
//! the backend, a record stays dirty until the backend confirmed its write
//! (the queue is the confirmation path), dirty records are never evicted,
//! and evicted records load back with their value.

// Test helpers outside `#[test]` functions panic on setup failures.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;
use topgun_storage_core::datastores::write_behind::LogConfig;
use topgun_storage_core::datastores::FaultInjectingDataStore;
use topgun_storage_core::{
    block_on, CallerProvenance, CompositeMutationObserver, DataStoreErrorKind, DefaultRecordStore,
    EvictionPolicy, ExpiryPolicy, HashMapStorage, ManualClock, MapDataStore, MemoryDataStore,
    Namespace, RecordStore, RecordValue, StorageConfig, Timestamp, WriteBehindConfig,
    WriteBehindDataStore,
};

type Inner = Arc<FaultInjectingDataStore<MemoryDataStore>>;

fn setup(config: StorageConfig) -> (DefaultRecordStore, Arc<WriteBehindDataStore<Inner>>, Inner) {
    let inner: Inner = Arc::new(FaultInjectingDataStore::new(MemoryDataStore::new()));
    let clock = ManualClock::new(1_000);
    let wb = WriteBehindDataStore::open_with_clock(
        Arc::clone(&inner),
        WriteBehindConfig {
            background_drain: false,
            backpressure_wait: Duration::ZERO,
            log: LogConfig::Off,
            ..WriteBehindConfig::without_log()
        },
        Arc::new(clock.clone()),
    )
    .unwrap();
    let wb = Arc::new(wb);
    let store = DefaultRecordStore::new(
        "m".into(),
        0,
        Box::new(HashMapStorage::new()),
        Arc::clone(&wb) as Arc<dyn MapDataStore>,
        Arc::new(CompositeMutationObserver::default()),
        config,
    )
    .with_clock(Arc::new(clock));
    (store, wb, inner)
}

fn value(v: &str) -> RecordValue {
    RecordValue::lww(v, Timestamp::new(1, 0, "n"))
}

fn put(store: &DefaultRecordStore, key: &str, v: &str) {
    block_on(store.put(key, value(v), ExpiryPolicy::NONE, CallerProvenance::Client)).unwrap();
}

#[test]
fn put_returns_while_the_backend_is_down_and_the_write_lands_later() {
    let (store, wb, inner) = setup(StorageConfig::default());
    inner.fail_writes(Some(DataStoreErrorKind::Unavailable));
    put(&store, "k", "v");
    assert_eq!(inner.write_calls(), 0, "put did not touch the backend");
    let got = block_on(store.get("k", false)).unwrap().unwrap();
    assert_eq!(got.value, value("v"));
    assert!(!wb.is_loadable("m", Namespace::Primary, "k"));
    assert!(block_on(wb.hard_flush()).is_err());
    inner.heal();
    block_on(wb.hard_flush()).unwrap();
    let stored = block_on(inner.inner().load("m", Namespace::Primary, "k")).unwrap();
    assert_eq!(stored.unwrap().value, value("v"));
    assert!(wb.is_loadable("m", Namespace::Primary, "k"));
}

#[test]
fn dirty_records_are_never_evicted_and_clean_ones_reload() {
    let bound = StorageConfig {
        max_entry_count: 10,
        eviction_policy: EvictionPolicy::Lru,
        ..StorageConfig::default()
    };
    let (store, wb, _inner) = setup(bound);
    for i in 0..25 {
        put(&store, &format!("a{i:02}"), &format!("a{i}"));
    }
    // Nothing reached the backend: nothing may go, the bound waits.
    assert_eq!(store.size(), 25);
    assert_eq!(store.stats().evictions, 0);
    assert_eq!(store.evict_all(false), 0, "evict_all spares dirty records");
    block_on(wb.hard_flush()).unwrap();
    for i in 0..8 {
        let key = format!("b{i:02}");
        put(&store, &key, &format!("b{i}"));
        // Every record written since the flush is still in memory.
        for j in 0..=i {
            assert!(
                store.exists_in_memory(&format!("b{j:02}")),
                "b{j:02} evicted while dirty"
            );
        }
    }
    assert!(
        store.size() <= 10 + 1,
        "clean records made room: {}",
        store.size()
    );
    assert!(store.stats().evictions >= 15);
    // Evicted records come back from the data store with their value.
    for i in 0..25 {
        let key = format!("a{i:02}");
        let got = block_on(store.get(&key, false)).unwrap().unwrap();
        assert_eq!(got.value, value(&format!("a{i}")));
    }
}

#[test]
fn a_record_becomes_evictable_exactly_when_its_write_is_confirmed() {
    let (store, wb, inner) = setup(StorageConfig::default());
    put(&store, "k", "1");
    assert!(store.evict("x", false).is_none());
    assert_eq!(store.evict_all(false), 0);
    inner.fail_next_writes(1, DataStoreErrorKind::Io);
    assert!(block_on(wb.hard_flush()).is_err());
    assert_eq!(store.evict_all(false), 0, "a failed store leaves it dirty");
    block_on(wb.hard_flush()).unwrap();
    put(&store, "j", "1");
    assert_eq!(store.evict_all(false), 1, "k is clean, j is queued");
    assert!(store.exists_in_memory("j") && !store.exists_in_memory("k"));
}
