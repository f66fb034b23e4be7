//! `DefaultRecordStore` over a durable data store.

use crate::backends::{Backend, Stalling};
use crate::{bounded, in_memory, name, on_disk, store_over, v, MAP, T0};
use pollster::block_on;
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::Arc;
use topgun_storage_core::datastores::FaultInjectingDataStore;
use topgun_storage_core::{
    BatchOp, CallerProvenance, DataStoreErrorKind, EvictionPolicy, ExpiryPolicy, ManualClock,
    MapDataStore, Namespace, Record, RecordMetadata, RecordStore, ScanRequest, StorageConfig,
    StoreError, StoredRecord, WarmUpProgress,
};

fn put(store: &dyn RecordStore, key: &str, value: u64) {
    block_on(store.put(key, v(value), ExpiryPolicy::NONE, CallerProvenance::Client)).expect("put");
}

fn get(store: &dyn RecordStore, key: &str) -> Option<Record> {
    block_on(store.get(key, false)).expect("get")
}

fn load(ds: &dyn MapDataStore, namespace: Namespace, key: &str) -> Option<StoredRecord> {
    block_on(ds.load(MAP, namespace, key)).expect("load")
}

/// `n` records of `MAP` written straight into the data store at `T0`.
fn seed(ds: &dyn MapDataStore, n: u64) {
    let entries: Vec<(String, StoredRecord)> = (0..n)
        .map(|i| (format!("k{i:05}"), StoredRecord::new(v(i), T0)))
        .collect();
    for chunk in entries.chunks(1_000) {
        block_on(ds.add_all(MAP, Namespace::Primary, chunk)).expect("seed");
    }
}

pub fn put_is_in_the_data_store_when_it_returns<B: Backend>() {
    let mut b = B::new();
    let ds = b.open();
    let clock = ManualClock::new(T0);
    let s = store_over(ds.clone(), StorageConfig::default(), &clock);
    block_on(s.put("plain", v(1), ExpiryPolicy::NONE, CallerProvenance::Client)).unwrap();
    assert_eq!(
        load(ds.as_ref(), Namespace::Primary, "plain"),
        Some(StoredRecord::new(v(1), T0)),
        "{}",
        name::<B>()
    );
    clock.advance(10);
    let policy = ExpiryPolicy {
        ttl_millis: 60_000,
        max_idle_millis: 5_000,
    };
    block_on(s.put("ttl", v(2), policy, CallerProvenance::CrdtMerge)).unwrap();
    let stored = load(ds.as_ref(), Namespace::Primary, "ttl").unwrap();
    assert_eq!(
        (
            stored.value,
            stored.expiration_time,
            stored.max_idle_millis,
            stored.write_time
        ),
        (v(2), T0 + 10 + 60_000, 5_000, T0 + 10)
    );
    assert!(!get(&s, "ttl").unwrap().metadata.is_dirty());
    // An overwrite restarts the TTL on disk as in memory.
    clock.advance(10);
    block_on(s.put(
        "ttl",
        v(3),
        ExpiryPolicy::ttl(1_000),
        CallerProvenance::Client,
    ))
    .unwrap();
    let stored = load(ds.as_ref(), Namespace::Primary, "ttl").unwrap();
    assert_eq!(
        (stored.expiration_time, stored.max_idle_millis),
        (T0 + 20 + 1_000, 0)
    );
    // Memory-only provenances do not reach the data store and stay dirty.
    for p in [
        CallerProvenance::Backup,
        CallerProvenance::Replication,
        CallerProvenance::Load,
    ] {
        block_on(s.put("mem", v(4), ExpiryPolicy::NONE, p)).unwrap();
        assert_eq!(load(ds.as_ref(), Namespace::Primary, "mem"), None);
        assert!(get(&s, "mem").unwrap().metadata.is_dirty());
    }
    assert_eq!(s.dirty_count(), 1);
}

pub fn every_write_path_reaches_the_data_store_before_returning<B: Backend>() {
    let mut b = B::new();
    let ds = b.open();
    let clock = ManualClock::new(T0);
    let s = store_over(ds.clone(), StorageConfig::default(), &clock);
    put(&s, "a", 1);
    block_on(s.remove("a", CallerProvenance::Client)).unwrap();
    assert_eq!(load(ds.as_ref(), Namespace::Primary, "a"), None);
    // A remove reaches the data store even when memory never had the key.
    block_on(ds.add(
        MAP,
        Namespace::Primary,
        "cold",
        &StoredRecord::new(v(1), T0),
    ))
    .unwrap();
    block_on(s.remove("cold", CallerProvenance::Replication)).unwrap();
    assert_eq!(load(ds.as_ref(), Namespace::Primary, "cold"), None);
    // Backups: the backup namespace, with the record's own expiry.
    let mut meta = RecordMetadata::new(T0 - 5, 10);
    meta.ttl_millis = 1_000;
    let record = Record::new(v(7), meta);
    block_on(s.put_backup("b", record, CallerProvenance::Client)).unwrap();
    let stored = load(ds.as_ref(), Namespace::Backup, "b").unwrap();
    assert_eq!(
        (stored.value, stored.expiration_time),
        (v(7), T0 - 5 + 1_000)
    );
    assert_eq!(load(ds.as_ref(), Namespace::Primary, "b"), None);
    assert!(!get(&s, "b").unwrap().metadata.is_dirty());
    block_on(s.remove_backup("b", CallerProvenance::Client)).unwrap();
    assert_eq!(load(ds.as_ref(), Namespace::Backup, "b"), None);
    // A backup copy from the owner stays in memory, dirty.
    let record = Record::new(v(8), RecordMetadata::new(T0, 10));
    block_on(s.put_backup("c", record, CallerProvenance::Backup)).unwrap();
    assert_eq!(load(ds.as_ref(), Namespace::Backup, "c"), None);
    assert!(get(&s, "c").unwrap().metadata.is_dirty());
}

pub fn a_batch_is_one_atomic_data_store_write<B: Backend>() {
    let mut b = B::new();
    let ds = Arc::new(FaultInjectingDataStore::new(b.open()));
    let clock = ManualClock::new(T0);
    let s = store_over(ds.clone(), StorageConfig::default(), &clock);
    put(&s, "gone", 1);
    let calls = ds.write_calls();
    let ops = vec![
        BatchOp::Put {
            key: "x".into(),
            value: v(1),
            expiry: ExpiryPolicy::ttl(500),
        },
        BatchOp::Remove { key: "gone".into() },
        BatchOp::Put {
            key: "y".into(),
            value: v(2),
            expiry: ExpiryPolicy::NONE,
        },
        // The last op on a key wins.
        BatchOp::Put {
            key: "x".into(),
            value: v(3),
            expiry: ExpiryPolicy::NONE,
        },
        BatchOp::Remove {
            key: "never".into(),
        },
    ];
    block_on(s.write_batch(ops)).unwrap();
    assert_eq!(
        ds.write_calls(),
        calls + 1,
        "{}: one data-store write",
        name::<B>()
    );
    let disk = on_disk(ds.as_ref(), MAP, Namespace::Primary);
    let keys: Vec<&str> = disk.keys().map(String::as_str).collect();
    assert_eq!(keys, ["x", "y"]);
    assert_eq!(disk["x"], StoredRecord::new(v(3), T0));
    let memory = in_memory(&s);
    assert_eq!(memory.keys().collect::<Vec<_>>(), ["x", "y"]);
    assert_eq!(memory["x"].value, v(3));
    assert!(memory.values().all(|r| !r.metadata.is_dirty()));
}

pub fn a_miss_loads_a_clean_record_that_expires_on_schedule<B: Backend>() {
    let mut b = B::new();
    let clock = ManualClock::new(T0);
    let ttl = StorageConfig {
        default_ttl_millis: 60_000,
        ..StorageConfig::default()
    };
    {
        let ds = b.open();
        let s = store_over(ds.clone(), ttl, &clock);
        put(&s, "default-ttl", 1);
        block_on(s.put(
            "own-ttl",
            v(2),
            ExpiryPolicy::ttl(90_000),
            CallerProvenance::Client,
        ))
        .unwrap();
        b.shutdown(ds);
    }
    // Restarted 30 s later with no default TTL at all: the deadlines hold.
    clock.set(T0 + 30_000);
    let ds = b.open();
    let s = store_over(ds, StorageConfig::default(), &clock);
    assert!(s.is_empty(), "{}: opening loaded nothing", name::<B>());
    let r = get(&s, "default-ttl").expect("loaded");
    assert_eq!(r.value, v(1));
    assert!(!r.metadata.is_dirty(), "a loaded record is clean");
    assert_eq!(r.metadata.last_update_time, T0);
    assert_eq!(s.stats().misses, 1);
    assert_eq!(get(&s, "default-ttl").unwrap().value, v(1));
    assert_eq!(s.stats().hits, 1, "the second read is served from memory");
    clock.set(T0 + 60_000);
    assert!(get(&s, "default-ttl").is_some(), "live at its deadline");
    clock.set(T0 + 60_001);
    assert!(get(&s, "default-ttl").is_none(), "expired just after it");
    assert!(!s.exists_in_memory("default-ttl"));
    let all = block_on(s.get_all(&["own-ttl".into(), "default-ttl".into()])).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].0, "own-ttl");
    clock.set(T0 + 90_001);
    assert!(get(&s, "own-ttl").is_none());
}

pub fn a_record_expired_on_disk_is_never_returned<B: Backend>() {
    let mut b = B::new();
    let ds = b.open();
    let clock = ManualClock::new(T0 + 10_000);
    let mut expired = StoredRecord::new(v(1), T0);
    expired.expiration_time = T0 + 1_000;
    block_on(ds.add(MAP, Namespace::Primary, "old", &expired)).unwrap();
    let s = store_over(ds.clone(), StorageConfig::default(), &clock);
    assert!(get(&s, "old").is_none(), "{}", name::<B>());
    assert!(block_on(s.get_all(&["old".into()])).unwrap().is_empty());
    assert!(s.is_empty(), "an expired record is not kept");
    let mut progress = |_: &WarmUpProgress| ControlFlow::Continue(());
    let report = block_on(s.warm_up(&mut progress)).unwrap();
    assert_eq!((report.expired, report.loaded), (1, 0));
    assert!(s.is_empty());
}

pub fn disk_only_records_are_seen_without_loading_and_reported_as_replaced<B: Backend>() {
    let mut b = B::new();
    let ds = b.open();
    let clock = ManualClock::new(T0 + 10_000);
    block_on(ds.add(
        MAP,
        Namespace::Primary,
        "disk",
        &StoredRecord::new(v(7), T0),
    ))
    .unwrap();
    let mut expired = StoredRecord::new(v(8), T0);
    expired.expiration_time = T0 + 1_000;
    block_on(ds.add(MAP, Namespace::Primary, "old", &expired)).unwrap();
    let s = store_over(ds.clone(), StorageConfig::default(), &clock);
    put(&s, "mem", 9);
    let before = s.stats();
    assert!(
        block_on(s.contains_live("disk")).unwrap(),
        "{}",
        name::<B>()
    );
    assert!(block_on(s.contains_live("mem")).unwrap());
    assert!(
        !block_on(s.contains_live("old")).unwrap(),
        "a record whose TTL ended"
    );
    assert!(!block_on(s.contains_live("none")).unwrap());
    assert_eq!(block_on(s.peek_value("disk")).unwrap(), Some(v(7)));
    assert_eq!(block_on(s.peek_value("mem")).unwrap(), Some(v(9)));
    assert_eq!(block_on(s.peek_value("old")).unwrap(), None);
    assert_eq!(block_on(s.peek_value("none")).unwrap(), None);
    // Nothing was loaded, counted or touched.
    assert_eq!(s.size(), 1, "{}: a record was loaded", name::<B>());
    let after = s.stats();
    assert_eq!((after.hits, after.misses), (before.hits, before.misses));
    assert!(!s.exists_in_memory("disk"));
    // put / remove report a value only the data store held.
    block_on(ds.add(
        MAP,
        Namespace::Primary,
        "disk2",
        &StoredRecord::new(v(5), T0),
    ))
    .unwrap();
    let replaced =
        block_on(s.put_replacing("disk", v(70), ExpiryPolicy::NONE, CallerProvenance::Client));
    assert_eq!(replaced.unwrap(), Some(v(7)), "{}", name::<B>());
    let replaced =
        block_on(s.put_replacing("disk", v(71), ExpiryPolicy::NONE, CallerProvenance::Client));
    assert_eq!(replaced.unwrap(), Some(v(70)), "the value in memory");
    let removed = block_on(s.remove_replacing("disk2", CallerProvenance::Client)).unwrap();
    assert_eq!(removed, Some(v(5)));
    assert_eq!(load(ds.as_ref(), Namespace::Primary, "disk2"), None);
    let removed = block_on(s.remove_replacing("old", CallerProvenance::Client)).unwrap();
    assert_eq!(removed, None, "a record whose TTL ended is not reported");
    let new =
        block_on(s.put_replacing("fresh", v(1), ExpiryPolicy::NONE, CallerProvenance::Client));
    assert_eq!(new.unwrap(), None);
}

pub fn memory_holds_a_hot_subset_and_evicted_keys_load_back<B: Backend>() {
    let mut b = B::new();
    let ds = b.open();
    let clock = ManualClock::new(T0);
    let s = store_over(ds.clone(), bounded(50), &clock);
    for i in 0..1_000 {
        put(&s, &format!("k{i:04}"), i);
        clock.advance(1);
        assert!(
            s.size() <= 50,
            "{}: {} entries after put {i}",
            name::<B>(),
            s.size()
        );
    }
    assert_eq!(on_disk(ds.as_ref(), MAP, Namespace::Primary).len(), 1_000);
    // Every key reads back, most of them from disk; memory stays bounded.
    for i in (0..1_000).rev() {
        let key = format!("k{i:04}");
        assert_eq!(get(&s, &key).map(|r| r.value), Some(v(i)), "{key}");
        assert!(s.size() <= 50);
    }
    assert!(s.stats().misses >= 900, "{:?}", s.stats());
    assert!(s.stats().evictions >= 1_900);
    assert_eq!(s.dirty_count(), 0);
    // A dirty record (memory only) is never evicted, however cold.
    block_on(s.put("dirty", v(9), ExpiryPolicy::NONE, CallerProvenance::Backup)).unwrap();
    for i in 0..500 {
        clock.advance(1);
        put(&s, &format!("more{i}"), i);
    }
    assert_eq!(get(&s, "dirty").map(|r| r.value), Some(v(9)));
    assert_eq!(s.dirty_count(), 1);
}

pub fn a_store_with_eviction_off_serves_misses_it_has_no_room_for<B: Backend>() {
    let mut b = B::new();
    let ds = b.open();
    seed(ds.as_ref(), 10);
    let clock = ManualClock::new(T0);
    let config = StorageConfig {
        max_entry_count: 3,
        eviction_policy: EvictionPolicy::None,
        ..StorageConfig::default()
    };
    let s = store_over(ds, config, &clock);
    for i in 0..10 {
        assert_eq!(get(&s, &format!("k{i:05}")).map(|r| r.value), Some(v(i)));
    }
    assert_eq!(s.size(), 3, "{}: kept only what fits", name::<B>());
    assert_eq!(s.stats().evictions, 0);
}

pub fn opening_loads_nothing<B: Backend>() {
    let mut b = B::new();
    let ds = b.open();
    seed(ds.as_ref(), 5_000);
    b.shutdown(ds);
    let ds = Arc::new(FaultInjectingDataStore::new(b.open()));
    let clock = ManualClock::new(T0);
    let s = store_over(ds.clone(), bounded(100), &clock);
    let storage = crate::map_storage_over(ds.clone(), bounded(100), &clock);
    assert_eq!(ds.read_calls(), 0, "{}: nothing read on open", name::<B>());
    assert!(s.is_empty());
    assert!(storage.factory().all_stores().is_empty());
    assert_eq!(get(&s, "k04999").map(|r| r.value), Some(v(4_999)));
    assert_eq!(
        (ds.read_calls(), s.size()),
        (1, 1),
        "a miss loads its key only"
    );
}

pub fn warm_up_fills_memory_within_bounds_and_reports_progress<B: Backend>() {
    let mut b = B::new();
    let ds = b.open();
    seed(ds.as_ref(), 1_000);
    let clock = ManualClock::new(T0);
    let s = store_over(ds.clone(), bounded(600), &clock);
    let mut seen: Vec<WarmUpProgress> = Vec::new();
    let mut progress = |p: &WarmUpProgress| {
        seen.push(*p);
        ControlFlow::Continue(())
    };
    let report = block_on(s.warm_up(&mut progress)).unwrap();
    assert!(report.done, "{}", name::<B>());
    assert_eq!(report.scanned, 1_000);
    assert_eq!((report.loaded, report.no_room), (600, 400));
    assert_eq!(s.size(), 600);
    assert_eq!(s.stats().evictions, 0, "warm-up never evicts");
    assert!(seen.len() >= 4, "one report per page: {seen:?}");
    assert!(seen.windows(2).all(|w| w[0].scanned < w[1].scanned));
    assert_eq!(seen.last(), Some(&report));
    assert!(seen[..seen.len() - 1].iter().all(|p| !p.done));
    // What was loaded is clean and correct; the rest loads on demand.
    let memory = in_memory(&s);
    assert!(memory.values().all(|r| !r.metadata.is_dirty()));
    assert_eq!(memory["k00000"].value, v(0));
    assert_eq!(get(&s, "k00999").map(|r| r.value), Some(v(999)));
}

pub fn warm_up_can_be_stopped_and_keeps_resident_records<B: Backend>() {
    let mut b = B::new();
    let ds = b.open();
    seed(ds.as_ref(), 1_000);
    let clock = ManualClock::new(T0);
    let s = store_over(ds.clone(), StorageConfig::default(), &clock);
    // A memory-only write of a key that is on disk: memory is newer.
    block_on(s.put(
        "k00001",
        v(77),
        ExpiryPolicy::NONE,
        CallerProvenance::Backup,
    ))
    .unwrap();
    let mut pages = 0;
    let mut stop_after_two = |_: &WarmUpProgress| {
        pages += 1;
        if pages == 2 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    let report = block_on(s.warm_up(&mut stop_after_two)).unwrap();
    assert!(!report.done, "{}", name::<B>());
    assert_eq!(pages, 2);
    assert!(report.scanned < 1_000);
    assert_eq!(report.resident, 1);
    assert_eq!(s.size() as u64, report.loaded + 1);
    assert_eq!(get(&s, "k00001").map(|r| r.value), Some(v(77)));
}

/// The whole visible state: memory (live records) and both namespaces on
/// disk.
type State = (
    BTreeMap<String, Record>,
    BTreeMap<String, StoredRecord>,
    BTreeMap<String, StoredRecord>,
);

fn state(s: &dyn RecordStore, ds: &dyn MapDataStore) -> State {
    (
        in_memory(s),
        on_disk(ds, MAP, Namespace::Primary),
        on_disk(ds, MAP, Namespace::Backup),
    )
}

pub fn clear_all_empties_the_data_store_and_memory<B: Backend>() {
    let mut b = B::new();
    let ds = b.open();
    // More than one page of clear_all's batches, and another map it must
    // leave alone.
    seed(ds.as_ref(), 2_500);
    let other = StoredRecord::new(v(7), T0);
    block_on(ds.add("other", Namespace::Primary, "k", &other)).unwrap();
    let clock = ManualClock::new(T0);
    let s = store_over(ds.clone(), StorageConfig::default(), &clock);
    put(&s, "new", 1);
    assert!(get(&s, "k00042").is_some(), "loaded into memory");
    assert_eq!(block_on(s.clear_all()).unwrap(), 2_501, "{}", name::<B>());
    assert!(s.is_empty());
    assert_eq!(get(&s, "k00042"), None, "nothing loads back");
    let left = block_on(ds.scan(&ScanRequest::keys(MAP, Namespace::Primary, 10))).unwrap();
    assert!(left.entries.is_empty(), "{}", name::<B>());
    assert_eq!(
        block_on(ds.load("other", Namespace::Primary, "k")).unwrap(),
        Some(other)
    );
    // Over a data store that keeps nothing it is `clear`.
    let mem = topgun_storage_core::DefaultRecordStore::standalone(
        StorageConfig::default(),
        Some(Arc::new(clock.clone())),
    );
    put(&mem, "a", 1);
    assert_eq!(block_on(mem.clear_all()).unwrap(), 1);
    assert!(mem.is_empty());
}

pub fn a_failed_write_changes_neither_memory_nor_disk<B: Backend>() {
    let mut b = B::new();
    let ds = Arc::new(FaultInjectingDataStore::new(b.open()));
    let clock = ManualClock::new(T0);
    let s = store_over(ds.clone(), bounded(4), &clock);
    for i in 0..6 {
        put(&s, &format!("k{i}"), i);
        clock.advance(1);
    }
    let record = Record::new(v(1), RecordMetadata::new(T0, 10));
    block_on(s.put_backup("bk", record.clone(), CallerProvenance::Client)).unwrap();
    clock.advance(1);
    let before = state(&s, ds.as_ref());
    let stats = s.stats();
    for kind in [
        DataStoreErrorKind::Io,
        DataStoreErrorKind::DiskFull,
        DataStoreErrorKind::Unavailable,
    ] {
        ds.fail_writes(Some(kind));
        let failures: Vec<Result<(), StoreError>> = vec![
            block_on(s.put("k5", v(50), ExpiryPolicy::NONE, CallerProvenance::Client)).map(drop),
            block_on(s.put("new", v(51), ExpiryPolicy::NONE, CallerProvenance::Client)).map(drop),
            block_on(s.remove("k5", CallerProvenance::Client)).map(drop),
            block_on(s.remove("k0", CallerProvenance::Client)).map(drop),
            block_on(s.put_backup("bk", record.clone(), CallerProvenance::Client)),
            block_on(s.remove_backup("bk", CallerProvenance::Client)),
            block_on(s.write_batch(vec![
                BatchOp::Put {
                    key: "k4".into(),
                    value: v(52),
                    expiry: ExpiryPolicy::NONE,
                },
                BatchOp::Remove { key: "k5".into() },
            ])),
        ];
        for (i, result) in failures.into_iter().enumerate() {
            match result {
                Err(StoreError::DataStore(e)) => assert_eq!(e.kind(), kind),
                other => panic!("{}: write {i} gave {other:?}", name::<B>()),
            }
        }
        assert_eq!(state(&s, ds.as_ref()), before, "{}: {kind:?}", name::<B>());
        assert_eq!(s.stats(), stats);
    }
    ds.heal();
    put(&s, "k5", 50);
    assert_eq!(
        load(ds.as_ref(), Namespace::Primary, "k5").unwrap().value,
        v(50)
    );
}

pub fn a_failed_load_is_an_error_and_keeps_nothing<B: Backend>() {
    let mut b = B::new();
    let ds = Arc::new(FaultInjectingDataStore::new(b.open()));
    seed(ds.as_ref(), 3);
    let clock = ManualClock::new(T0);
    let s = store_over(ds.clone(), StorageConfig::default(), &clock);
    ds.fail_reads(Some(DataStoreErrorKind::Corrupt));
    match block_on(s.get("k00001", false)) {
        Err(StoreError::DataStore(e)) => assert_eq!(e.kind(), DataStoreErrorKind::Corrupt),
        other => panic!("{}: {other:?}", name::<B>()),
    }
    assert!(block_on(s.get_all(&["k00000".into()])).is_err());
    let mut progress = |_: &WarmUpProgress| ControlFlow::Continue(());
    assert!(block_on(s.warm_up(&mut progress)).is_err());
    assert!(s.is_empty());
    ds.heal();
    assert_eq!(get(&s, "k00001").map(|r| r.value), Some(v(1)));
}

pub fn concurrent_writers_of_one_key_leave_memory_equal_to_disk<B: Backend>() {
    let mut b = B::new();
    let ds = Arc::new(Stalling::new(b.open()));
    let clock = ManualClock::new(T0);
    let s = Arc::new(store_over(ds.clone(), StorageConfig::default(), &clock));
    for round in 0..20u64 {
        let key = format!("k{round}");
        // The first writer stalls right after its data-store write; the
        // second writes (or removes) while it does.
        ds.arm();
        let first = {
            let (s, key) = (s.clone(), key.clone());
            std::thread::spawn(move || {
                block_on(s.put(&key, v(1), ExpiryPolicy::NONE, CallerProvenance::Client)).unwrap();
            })
        };
        ds.wait_until_reached();
        if round % 2 == 0 {
            block_on(s.put(&key, v(2), ExpiryPolicy::NONE, CallerProvenance::Client)).unwrap();
        } else {
            block_on(s.remove(&key, CallerProvenance::Client)).unwrap();
        }
        first.join().unwrap();
        assert_eq!(
            get(s.as_ref(), &key).map(|r| r.value),
            load(ds.as_ref(), Namespace::Primary, &key).map(|r| r.value),
            "{}: round {round}: memory and disk disagree",
            name::<B>()
        );
    }
}

pub fn a_concurrent_remove_is_never_undone_by_a_load<B: Backend>() {
    let mut b = B::new();
    let ds = Arc::new(Stalling::new(b.open()));
    let clock = ManualClock::new(T0);
    let s = Arc::new(store_over(ds.clone(), StorageConfig::default(), &clock));
    for round in 0..20u64 {
        let key = format!("r{round}");
        block_on(ds.add(
            MAP,
            Namespace::Primary,
            &key,
            &StoredRecord::new(v(round), T0),
        ))
        .unwrap();
        // The reader stalls between loading the key and keeping it; the
        // remove comes in then.
        ds.arm();
        let reader = {
            let (s, key) = (s.clone(), key.clone());
            std::thread::spawn(move || block_on(s.get(&key, false)).unwrap())
        };
        ds.wait_until_reached();
        block_on(s.remove(&key, CallerProvenance::Client)).unwrap();
        let _ = reader.join().unwrap();
        assert!(
            !s.exists_in_memory(&key),
            "{}: round {round}: the removed key is back in memory",
            name::<B>()
        );
        assert_eq!(load(ds.as_ref(), Namespace::Primary, &key), None);
    }
}
