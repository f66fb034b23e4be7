//! `DefaultRecordStore` through its public API: reads, writes, metadata,
//! expiry, maintenance, stats, observers (re-entrant and panicking ones),
//! concurrent writers, and write-through to a data store (with failures).
//! Eviction has its own suite (`record_store_eviction.rs`), and the model
//! test (`record_store_model.rs`) checks random operation sequences.

mod support;

use parking_lot::Mutex;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;
use support::CountingObserver;
use topgun_storage_core::block_on;
use topgun_storage_core::datastores::FaultInjectingDataStore;
use topgun_storage_core::{
    entry_cost, CallerProvenance, Clock, CompositeMutationObserver, DefaultRecordStore,
    EvictionPolicy, ExpiryPolicy, ExpiryReason, HashMapStorage, IterationCursor, MaintenanceReport,
    ManualClock, MapDataStore, MutationObserver, NullDataStore, ReadOutcome, Record,
    RecordMetadata, RecordStore, RecordValue, StorageConfig, StoreError, Timestamp,
};
use topgun_storage_core::{
    DataStoreErrorKind, MemoryDataStore, Namespace, ScanRequest, StoredRecord,
};

const T0: i64 = 1_700_000_000_000;
/// The map the fixture's store is named after.
const MAP: &str = "test-map";

fn v(n: i64) -> RecordValue {
    RecordValue::lww(n, Timestamp::new(n as u64, 0, "node"))
}

struct Fixture {
    store: Arc<DefaultRecordStore>,
    clock: ManualClock,
    counter: Arc<CountingObserver>,
}

fn fixture_with(config: StorageConfig, data_store: Arc<dyn MapDataStore>) -> Fixture {
    let clock = ManualClock::new(T0);
    let counter = Arc::new(CountingObserver::default());
    let store = DefaultRecordStore::new(
        MAP.into(),
        42,
        Box::new(HashMapStorage::new()),
        data_store,
        Arc::new(CompositeMutationObserver::new(vec![counter.clone()])),
        config,
    )
    .with_clock(Arc::new(clock.clone()));
    Fixture {
        store: Arc::new(store),
        clock,
        counter,
    }
}

fn fixture(config: StorageConfig) -> Fixture {
    fixture_with(config, Arc::new(NullDataStore))
}

fn put(store: &DefaultRecordStore, key: &str, n: i64) -> Option<RecordValue> {
    block_on(store.put(key, v(n), ExpiryPolicy::NONE, CallerProvenance::Client))
        .expect("put with a null data store")
}

fn get(store: &DefaultRecordStore, key: &str) -> Option<Record> {
    block_on(store.get(key, false)).expect("get with a null data store")
}

fn ttl(ms: u64) -> StorageConfig {
    StorageConfig {
        default_ttl_millis: ms,
        ..StorageConfig::default()
    }
}

fn count(c: &AtomicU64) -> u64 {
    CountingObserver::get(c)
}

#[test]
fn put_then_get_round_trip() {
    let f = fixture(StorageConfig::default());
    assert_eq!(put(&f.store, "k", 1), None);
    let r = get(&f.store, "k").unwrap();
    assert_eq!(r.value, v(1));
    assert_eq!(r.metadata.version, 1);
    assert_eq!(r.metadata.creation_time, T0);
    assert_eq!(r.metadata.cost, entry_cost("k", &v(1)));
}

#[test]
fn put_fires_on_put_observer() {
    let f = fixture(StorageConfig::default());
    put(&f.store, "k", 1);
    assert_eq!((count(&f.counter.put), count(&f.counter.update)), (1, 0));
}

#[test]
fn update_fires_on_update_observer() {
    let f = fixture(StorageConfig::default());
    put(&f.store, "k", 1);
    f.clock.advance(10);
    assert_eq!(put(&f.store, "k", 2), Some(v(1)));
    assert_eq!((count(&f.counter.put), count(&f.counter.update)), (1, 1));
    let m = get(&f.store, "k").unwrap().metadata;
    assert_eq!(m.version, 2, "an overwrite bumps the version");
    assert_eq!(m.creation_time, T0, "an overwrite keeps the creation time");
    assert_eq!(m.last_update_time, T0 + 10);
}

#[test]
fn remove_fires_on_remove_observer() {
    let f = fixture(StorageConfig::default());
    put(&f.store, "k", 1);
    let removed = block_on(f.store.remove("k", CallerProvenance::Client)).unwrap();
    assert_eq!(removed, Some(v(1)));
    assert_eq!(count(&f.counter.remove), 1);
    assert_eq!(
        block_on(f.store.remove("k", CallerProvenance::Client)).unwrap(),
        None
    );
    assert_eq!(count(&f.counter.remove), 1);
    assert_eq!(f.store.stats().removes, 1);
}

#[test]
fn has_expired_returns_ttl() {
    let f = fixture(ttl(1_000));
    put(&f.store, "k", 1);
    assert_eq!(
        f.store.has_expired("k", T0 + 2_000, false),
        ExpiryReason::Ttl
    );
}

#[test]
fn has_expired_returns_max_idle() {
    let f = fixture(StorageConfig {
        default_max_idle_millis: 500,
        ..StorageConfig::default()
    });
    put(&f.store, "k", 1);
    assert_eq!(
        f.store.has_expired("k", T0 + 1_000, false),
        ExpiryReason::MaxIdle
    );
}

#[test]
fn has_expired_returns_not_expired_for_fresh() {
    let f = fixture(ttl(1_000));
    put(&f.store, "k", 1);
    assert_eq!(
        f.store.has_expired("k", T0 + 10, false),
        ExpiryReason::NotExpired
    );
}

#[test]
fn has_expired_returns_not_expired_for_missing_key() {
    let f = fixture(ttl(1_000));
    assert_eq!(
        f.store.has_expired("nope", T0 + 5_000, false),
        ExpiryReason::NotExpired
    );
}

#[test]
fn size_and_owned_entry_cost_reflect_records() {
    let f = fixture(StorageConfig::default());
    put(&f.store, "a", 1);
    put(&f.store, "bb", 2);
    assert_eq!(f.store.size(), 2);
    let expected = entry_cost("a", &v(1)) + entry_cost("bb", &v(2));
    assert_eq!(f.store.owned_entry_cost(), expected);
    block_on(f.store.remove("a", CallerProvenance::Client)).unwrap();
    assert_eq!(f.store.owned_entry_cost(), entry_cost("bb", &v(2)));
}

#[test]
fn clear_fires_on_clear_and_empties_store() {
    let f = fixture(StorageConfig::default());
    put(&f.store, "a", 1);
    put(&f.store, "b", 2);
    assert_eq!(f.store.clear(false), 2);
    assert!(f.store.is_empty());
    assert_eq!(f.store.owned_entry_cost(), 0);
    assert_eq!(count(&f.counter.clear), 1);
}

#[test]
fn get_with_touch_updates_access_stats() {
    let f = fixture(StorageConfig::default());
    put(&f.store, "k", 1);
    f.clock.advance(50);
    let touched = block_on(f.store.get("k", true)).unwrap().unwrap();
    assert_eq!(touched.metadata.hits, 1);
    assert_eq!(touched.metadata.last_access_time, T0 + 50);
    let untouched = get(&f.store, "k").unwrap();
    assert_eq!(untouched.metadata.hits, 1, "a plain get does not count");
    assert_eq!(f.store.stats().hits, 2);
    assert!(get(&f.store, "other").is_none());
    assert_eq!(f.store.stats().misses, 1);
}

#[test]
fn read_with_visits_in_place_and_counts_like_get() {
    let f = fixture(ttl(100));
    put(&f.store, "k", 1);
    f.clock.advance(10);
    let mut seen = None;
    let outcome = f.store.read_with("k", true, &mut |r| {
        seen = Some((r.value.clone(), r.metadata.hits));
        true
    });
    assert_eq!(outcome, ReadOutcome::Visited);
    assert_eq!(seen, Some((v(1), 1)), "the visitor sees the access counted");
    let m = get(&f.store, "k").unwrap().metadata;
    assert_eq!((m.hits, m.last_access_time), (1, T0 + 10), "touched");
    // Refused: no hit, no touch.
    f.clock.advance(10);
    assert_eq!(
        f.store.read_with("k", true, &mut |_| false),
        ReadOutcome::Refused
    );
    assert_eq!(get(&f.store, "k").unwrap().metadata.hits, 1);
    assert_eq!(
        f.store.read_with("nope", false, &mut |_| true),
        ReadOutcome::Missing
    );
    f.clock.advance(200);
    assert_eq!(
        f.store
            .read_with("k", false, &mut |_| panic!("expired record visited")),
        ReadOutcome::Expired
    );
    assert_eq!(f.store.size(), 0, "the expired record was removed");
    let s = f.store.stats();
    // Three hits: the accepted visit and the two `get`s that checked
    // metadata (the refused visit counts nothing).
    assert_eq!((s.hits, s.misses, s.expirations), (3, 2, 1));
    assert_eq!(count(&f.counter.expire), 1);
}

#[test]
fn fetch_with_skips_and_removes_expired_and_resumes_at_a_refusal() {
    let f = fixture(StorageConfig::default());
    for i in 0..10 {
        let expiry = if i % 2 == 0 {
            ExpiryPolicy::ttl(5)
        } else {
            ExpiryPolicy::NONE
        };
        block_on(
            f.store
                .put(&format!("k{i}"), v(i), expiry, CallerProvenance::Client),
        )
        .unwrap();
    }
    f.clock.advance(6);
    let mut cursor = IterationCursor::start();
    let mut seen = Vec::new();
    while !cursor.is_finished() {
        let mut budget = 2;
        cursor = f
            .store
            .fetch_with(&cursor, 4, &mut |key, _| {
                if budget == 0 {
                    return false;
                }
                budget -= 1;
                seen.push(key.to_owned());
                true
            })
            .unwrap();
    }
    seen.sort();
    assert_eq!(seen, ["k1", "k3", "k5", "k7", "k9"]);
    assert_eq!(f.store.size(), 5);
}

#[test]
fn exists_in_memory_reflects_state() {
    let f = fixture(ttl(100));
    assert!(!f.store.exists_in_memory("k"));
    put(&f.store, "k", 1);
    assert!(f.store.exists_in_memory("k"));
    f.clock.advance(101);
    assert!(!f.store.exists_in_memory("k"), "expired counts as absent");
}

#[test]
fn name_and_partition_id() {
    let f = fixture(StorageConfig::default());
    assert_eq!(f.store.name(), "test-map");
    assert_eq!(f.store.partition_id(), 42);
}

#[test]
fn is_expirable_reflects_config() {
    assert!(!fixture(StorageConfig::default()).store.is_expirable());
    assert!(fixture(ttl(1)).store.is_expirable());
    let idle = StorageConfig {
        default_max_idle_millis: 1,
        ..StorageConfig::default()
    };
    assert!(fixture(idle).store.is_expirable());
    // A record with its own policy makes the store expirable.
    let f = fixture(StorageConfig::default());
    block_on(
        f.store
            .put("k", v(1), ExpiryPolicy::ttl(5), CallerProvenance::Client),
    )
    .unwrap();
    assert!(f.store.is_expirable());
}

#[test]
fn should_evict_reflects_config() {
    let f = fixture(StorageConfig {
        max_entry_count: 2,
        ..StorageConfig::default()
    });
    put(&f.store, "a", 1);
    put(&f.store, "b", 2);
    assert!(!f.store.should_evict());
    assert!(matches!(
        block_on(
            f.store
                .put("c", v(3), ExpiryPolicy::NONE, CallerProvenance::Client)
        ),
        Err(StoreError::CapacityExceeded { limit: 2, .. })
    ));
    assert!(!fixture(StorageConfig::default()).store.should_evict());
}

#[test]
fn evict_removes_and_fires_observer() {
    let f = fixture(StorageConfig::default());
    put(&f.store, "k", 1);
    assert_eq!(f.store.evict("k", false), Some(v(1)));
    assert!(get(&f.store, "k").is_none());
    assert_eq!(count(&f.counter.evict), 1);
    assert_eq!(f.store.evict("k", false), None);
    assert_eq!(f.store.stats().evictions, 1);
}

#[test]
fn evict_all_removes_all_entries() {
    let f = fixture(StorageConfig::default());
    for (i, k) in ["a", "b", "c"].iter().enumerate() {
        put(&f.store, k, i as i64);
    }
    assert_eq!(f.store.evict_all(false), 3);
    assert!(f.store.is_empty());
    assert_eq!(count(&f.counter.evict), 3);
}

#[test]
fn reset_fires_on_reset_and_clears() {
    let f = fixture(StorageConfig::default());
    put(&f.store, "a", 1);
    f.store.reset();
    assert!(f.store.is_empty());
    assert_eq!(count(&f.counter.reset), 1);
}

#[test]
fn destroy_fires_on_destroy() {
    let f = fixture(StorageConfig::default());
    put(&f.store, "a", 1);
    f.store.destroy();
    assert!(f.store.is_empty());
    assert_eq!(count(&f.counter.destroy), 1);
}

#[test]
fn get_all_returns_matching_entries() {
    let f = fixture(StorageConfig::default());
    put(&f.store, "a", 1);
    put(&f.store, "b", 2);
    let keys = ["a", "b", "missing"].map(String::from);
    let found = block_on(f.store.get_all(&keys)).unwrap();
    assert_eq!(found.len(), 2);
}

#[test]
fn for_each_boxed_skips_expired() {
    let f = fixture(ttl(100));
    put(&f.store, "a", 1);
    put(&f.store, "b", 2);
    f.clock.advance(150);
    let mut visited = 0;
    f.store.for_each_boxed(&mut |_, _| visited += 1, false);
    assert_eq!(visited, 0);
}

#[test]
fn expired_record_is_never_returned_by_any_read_path() {
    let f = fixture(StorageConfig::default());
    block_on(f.store.put(
        "short",
        v(1),
        ExpiryPolicy::ttl(100),
        CallerProvenance::Client,
    ))
    .unwrap();
    block_on(f.store.put(
        "idle",
        v(2),
        ExpiryPolicy::max_idle(100),
        CallerProvenance::Client,
    ))
    .unwrap();
    put(&f.store, "forever", 3);
    f.clock.advance(101);
    let live = |key: &str| key == "forever";
    assert!(block_on(f.store.get("short", false)).unwrap().is_none());
    assert!(block_on(f.store.get("idle", true)).unwrap().is_none());
    let keys = ["short", "idle", "forever"].map(String::from);
    let all = block_on(f.store.get_all(&keys)).unwrap();
    assert!(all.iter().all(|(k, _)| live(k)));
    // Put them back in memory (get removed them) and expire them again,
    // so the scans below meet expired records.
    block_on(f.store.put(
        "short",
        v(1),
        ExpiryPolicy::ttl(100),
        CallerProvenance::Client,
    ))
    .unwrap();
    block_on(f.store.put(
        "idle",
        v(2),
        ExpiryPolicy::max_idle(100),
        CallerProvenance::Client,
    ))
    .unwrap();
    f.clock.advance(101);
    assert_eq!(f.store.size(), 3, "expired but not yet removed");
    for _ in 0..20 {
        assert!(f.store.random_samples(3).iter().all(|(k, _)| live(k)));
    }
    let page = f
        .store
        .fetch_entries(&IterationCursor::start(), 10)
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert!(live(&page.items[0].0));
    assert_eq!(f.store.size(), 1, "the scan removed what it found expired");
    assert!(!f.store.exists_in_memory("short"));
    assert_eq!(count(&f.counter.expire), 4);
}

#[test]
fn per_entry_expiry_wins_over_the_store_default() {
    let f = fixture(ttl(1_000));
    block_on(
        f.store
            .put("own", v(1), ExpiryPolicy::ttl(10), CallerProvenance::Client),
    )
    .unwrap();
    put(&f.store, "default", 2);
    f.clock.advance(11);
    assert!(get(&f.store, "own").is_none());
    assert!(get(&f.store, "default").is_some());
    f.clock.advance(990);
    assert!(get(&f.store, "default").is_none());
    assert_eq!(f.store.stats().expirations, 2);
}

#[test]
fn touching_keeps_a_max_idle_record_alive() {
    let f = fixture(StorageConfig {
        default_max_idle_millis: 100,
        ..StorageConfig::default()
    });
    put(&f.store, "k", 1);
    for _ in 0..10 {
        f.clock.advance(90);
        assert!(block_on(f.store.get("k", true)).unwrap().is_some());
    }
    f.clock.advance(101);
    assert!(block_on(f.store.get("k", true)).unwrap().is_none());
}

#[test]
fn a_put_over_an_expired_record_starts_a_new_one() {
    let f = fixture(ttl(100));
    put(&f.store, "k", 1);
    f.clock.advance(101);
    assert_eq!(
        put(&f.store, "k", 2),
        None,
        "the expired value is not returned"
    );
    let m = get(&f.store, "k").unwrap().metadata;
    assert_eq!((m.version, m.creation_time), (1, T0 + 101));
    assert_eq!(count(&f.counter.expire), 1);
    assert_eq!(count(&f.counter.put), 2);
}

#[test]
fn maintain_removes_expired_records_in_bounded_steps() {
    let f = fixture(ttl(100));
    for i in 0..1_000 {
        put(&f.store, &format!("k{i}"), i);
    }
    f.clock.advance(101);
    let mut passes = 0;
    let mut removed = 0;
    while f.store.size() > 0 {
        let report = f.store.maintain();
        assert!(report.scanned <= 100, "a pass scanned {}", report.scanned);
        removed += report.expired;
        passes += 1;
        assert!(passes <= 20, "the sweep does not make progress");
    }
    assert_eq!(removed, 1_000);
    assert!(passes >= 10);
    assert_eq!(f.store.stats().expirations, 1_000);
    assert_eq!(count(&f.counter.expire), 1_000);
    // Nothing expirable: maintenance is free.
    assert_eq!(
        fixture(StorageConfig::default()).store.maintain(),
        MaintenanceReport::default()
    );
}

#[test]
fn evict_expired_scans_a_share_and_resumes() {
    let f = fixture(ttl(100));
    for i in 0..2_000 {
        put(&f.store, &format!("k{i}"), i);
    }
    f.clock.advance(101);
    let now = f.clock.now_millis();
    // 10% of the current size per call: 200 of 2000, then 180 of 1800.
    assert_eq!(f.store.evict_expired(10, now, false), 200);
    assert_eq!(f.store.evict_expired(10, now, false), 180);
    assert_eq!(f.store.size(), 1_620);
}

#[test]
fn stats_count_every_kind_of_change() {
    let f = fixture(StorageConfig {
        max_entry_count: 2,
        eviction_policy: EvictionPolicy::Lru,
        default_ttl_millis: 1_000,
        ..StorageConfig::default()
    });
    put(&f.store, "a", 1);
    put(&f.store, "a", 2);
    put(&f.store, "b", 3);
    f.clock.advance(1);
    put(&f.store, "c", 4); // evicts a or b
    block_on(f.store.remove("c", CallerProvenance::Client)).unwrap();
    f.clock.advance(2_000);
    f.store.maintain();
    let s = f.store.stats();
    assert_eq!((s.puts, s.updates, s.removes), (3, 1, 1));
    assert_eq!((s.evictions, s.expirations), (1, 1));
    assert_eq!((s.entry_count, s.total_cost), (0, 0));
}

#[test]
fn backup_writes_report_the_backup_role() {
    #[derive(Default)]
    struct Roles(Mutex<Vec<(&'static str, bool)>>);
    impl MutationObserver for Roles {
        fn on_put(&self, _: &str, _: &Record, _: Option<&RecordValue>, b: bool) {
            self.0.lock().push(("put", b));
        }
        fn on_remove(&self, _: &str, _: &Record, b: bool) {
            self.0.lock().push(("remove", b));
        }
    }
    let f = fixture(StorageConfig::default());
    let roles = Arc::new(Roles::default());
    f.store.add_observer(roles.clone());
    let record = Record::new(v(1), RecordMetadata::new(T0, 10));
    block_on(
        f.store
            .put_backup("k", record.clone(), CallerProvenance::Backup),
    )
    .unwrap();
    assert_eq!(get(&f.store, "k"), Some(record));
    block_on(f.store.remove_backup("k", CallerProvenance::Backup)).unwrap();
    assert_eq!(*roles.0.lock(), [("put", true), ("remove", true)]);
}

/// Observers that use the store from inside their callbacks.
struct Reentrant {
    store: Mutex<Option<Arc<DefaultRecordStore>>>,
    seen: AtomicU64,
}

impl MutationObserver for Reentrant {
    fn on_put(&self, key: &str, _: &Record, _: Option<&RecordValue>, _: bool) {
        let Some(store) = self.store.lock().clone() else {
            return;
        };
        if key.starts_with("echo-") {
            return;
        }
        // Read and write the same store (and the same key's shard).
        assert!(block_on(store.get(key, true)).expect("get").is_some());
        block_on(store.put(
            &format!("echo-{key}"),
            v(0),
            ExpiryPolicy::NONE,
            CallerProvenance::Client,
        ))
        .expect("put from an observer");
        let _ = store
            .fetch_keys(&IterationCursor::start(), 100)
            .expect("a start cursor is valid");
        let _ = store.random_samples(3);
        self.seen.fetch_add(1, Ordering::SeqCst);
    }
    // `let ... else` drops the guard at once; an `if let` would hold
    // this test's own mutex through the callback.
    fn on_evict(&self, key: &str, _: &Record, _: bool) {
        let Some(store) = self.store.lock().clone() else {
            return;
        };
        assert!(!store.exists_in_memory(key));
        let _ = store.stats();
    }
    fn on_clear(&self) {
        let Some(store) = self.store.lock().clone() else {
            return;
        };
        put(&store, "after-clear", 1);
    }
}

#[test]
fn an_observer_may_call_back_into_the_store_without_deadlock() {
    let f = fixture(StorageConfig {
        max_entry_count: 50,
        eviction_policy: EvictionPolicy::Lru,
        ..StorageConfig::default()
    });
    let observer = Arc::new(Reentrant {
        store: Mutex::new(Some(f.store.clone())),
        seen: AtomicU64::new(0),
    });
    f.store.add_observer(observer.clone());
    let (done, finished) = mpsc::channel();
    let store = f.store.clone();
    let worker = std::thread::spawn(move || {
        for i in 0..200 {
            put(&store, &format!("k{i}"), i);
        }
        store.clear(false);
        done.send(()).unwrap();
    });
    // A deadlock would hang forever; fail instead after a generous wait.
    finished
        .recv_timeout(Duration::from_secs(60))
        .expect("store deadlocked while an observer called back into it");
    worker.join().unwrap();
    // 200 puts, plus the put the on_clear callback made.
    assert_eq!(observer.seen.load(Ordering::SeqCst), 201);
    assert!(f.store.exists_in_memory("after-clear"));
    *observer.store.lock() = None; // break the reference cycle
}

struct Panics;
impl MutationObserver for Panics {
    fn on_put(&self, _: &str, _: &Record, _: Option<&RecordValue>, _: bool) {
        panic!("observer failure (expected by the test)");
    }
}

#[test]
fn a_panicking_observer_neither_poisons_the_store_nor_stops_others() {
    let f = fixture(StorageConfig::default());
    f.store.add_observer(Arc::new(Panics));
    let after = Arc::new(CountingObserver::default());
    f.store.add_observer(after.clone());
    for i in 0..10 {
        put(&f.store, &format!("k{i}"), i);
    }
    assert_eq!(f.store.size(), 10);
    assert_eq!(get(&f.store, "k3").unwrap().value, v(3));
    assert_eq!(
        count(&f.counter.put),
        10,
        "observer before the panicking one"
    );
    assert_eq!(count(&after.put), 10, "observer after the panicking one");
    assert_eq!(f.store.stats().observer_panics, 10);
    // Every other operation still works.
    block_on(f.store.remove("k3", CallerProvenance::Client)).unwrap();
    assert_eq!(f.store.size(), 9);
}

#[test]
fn concurrent_writers_keep_counts_consistent() {
    let f = fixture(StorageConfig::default());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let store = f.store.clone();
            std::thread::spawn(move || {
                for i in 0..500 {
                    put(&store, &format!("k{}", i % 100), t * 1000 + i);
                    if i % 7 == 0 {
                        block_on(
                            store.remove(&format!("k{}", (i + 3) % 100), CallerProvenance::Client),
                        )
                        .unwrap();
                    }
                    let _ = block_on(store.get(&format!("k{}", i % 50), true)).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let s = f.store.stats();
    assert_eq!(s.puts + s.updates, 2_000);
    assert_eq!(count(&f.counter.put), s.puts);
    assert_eq!(count(&f.counter.update), s.updates);
    assert_eq!(count(&f.counter.remove), s.removes);
    let mut live = HashSet::new();
    f.store.for_each_boxed(
        &mut |k, _| {
            live.insert(k.to_owned());
        },
        false,
    );
    assert_eq!(live.len() as u64, s.entry_count);
    assert_eq!(s.puts - s.removes, s.entry_count);
}

/// A data store that keeps values in memory, counts calls, and can be
/// told to fail.
type TestDataStore = FaultInjectingDataStore<MemoryDataStore>;

fn test_data_store() -> Arc<TestDataStore> {
    Arc::new(FaultInjectingDataStore::new(MemoryDataStore::new()))
}

fn stored_keys(ds: &TestDataStore) -> HashSet<String> {
    let req = ScanRequest::keys(MAP, Namespace::Primary, 1_000);
    let page = block_on(ds.inner().scan(&req)).expect("memory data store");
    page.entries.into_iter().map(|e| e.key).collect()
}

#[test]
fn writes_reach_the_data_store_only_for_client_and_crdt_merge() {
    let ds = test_data_store();
    let f = fixture_with(StorageConfig::default(), ds.clone());
    for (i, p) in [
        CallerProvenance::Client,
        CallerProvenance::Backup,
        CallerProvenance::Replication,
        CallerProvenance::Load,
        CallerProvenance::CrdtMerge,
    ]
    .into_iter()
    .enumerate()
    {
        block_on(f.store.put(&format!("k{i}"), v(1), ExpiryPolicy::NONE, p)).unwrap();
    }
    assert_eq!(ds.written_ops(), 2);
    assert_eq!(
        stored_keys(&ds),
        HashSet::from(["k0".to_owned(), "k4".to_owned()])
    );
    // Written through: clean. Not written through: dirty.
    assert!(!get(&f.store, "k0").unwrap().metadata.is_dirty());
    assert!(get(&f.store, "k1").unwrap().metadata.is_dirty());
}

#[test]
fn remove_always_reaches_the_data_store() {
    let ds = test_data_store();
    let f = fixture_with(StorageConfig::default(), ds.clone());
    block_on(f.store.remove("absent", CallerProvenance::Backup)).unwrap();
    block_on(f.store.remove("absent", CallerProvenance::Replication)).unwrap();
    block_on(f.store.remove_backup("absent", CallerProvenance::Backup)).unwrap();
    assert_eq!(ds.write_calls(), 3);
}

#[test]
fn a_miss_loads_from_the_data_store_and_fires_on_load() {
    let ds = test_data_store();
    let cold = StoredRecord::new(v(9), 0);
    block_on(ds.add(MAP, Namespace::Primary, "cold", &cold)).unwrap();
    let f = fixture_with(StorageConfig::default(), ds);
    let r = get(&f.store, "cold").unwrap();
    assert_eq!(r.value, v(9));
    assert!(!r.metadata.is_dirty(), "a loaded record is already stored");
    assert_eq!(count(&f.counter.load), 1);
    assert!(f.store.exists_in_memory("cold"));
    assert!(get(&f.store, "still-missing").is_none());
    assert_eq!(f.store.stats().misses, 2);
}

#[test]
fn a_failed_data_store_write_changes_nothing() {
    let ds = test_data_store();
    let f = fixture_with(StorageConfig::default(), ds.clone());
    put(&f.store, "k", 1);
    let before = get(&f.store, "k").unwrap();
    ds.fail_writes(Some(DataStoreErrorKind::Io));
    f.clock.advance(5);
    let err = block_on(
        f.store
            .put("k", v(2), ExpiryPolicy::NONE, CallerProvenance::Client),
    );
    assert!(matches!(err, Err(StoreError::DataStore(_))));
    let err = block_on(
        f.store
            .put("new", v(2), ExpiryPolicy::NONE, CallerProvenance::Client),
    );
    assert!(matches!(err, Err(StoreError::DataStore(_))));
    let err = block_on(f.store.remove("k", CallerProvenance::Client));
    assert!(matches!(err, Err(StoreError::DataStore(_))));
    assert_eq!(
        get(&f.store, "k"),
        Some(before),
        "value and metadata intact"
    );
    assert!(!f.store.exists_in_memory("new"));
    assert_eq!(count(&f.counter.put), 1);
    assert_eq!(count(&f.counter.update) + count(&f.counter.remove), 0);
}

#[test]
fn an_oversized_entry_is_refused_and_changes_nothing() {
    let f = fixture(StorageConfig {
        max_total_cost: 30,
        eviction_policy: EvictionPolicy::Lru,
        ..StorageConfig::default()
    });
    let big = RecordValue::lww("x".repeat(100), Timestamp::new(1, 0, "n"));
    let err = block_on(
        f.store
            .put("k", big, ExpiryPolicy::NONE, CallerProvenance::Client),
    );
    assert!(matches!(
        err,
        Err(StoreError::EntryTooLarge { max: 30, .. })
    ));
    assert!(f.store.is_empty());
}
