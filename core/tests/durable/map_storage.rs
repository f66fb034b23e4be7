//! `MapStorage` (TopGun's `IServerStorage`) over a durable data store.

use crate::backends::Backend;
use crate::{bounded, in_memory, map_storage_over, name, on_disk, v, T0};
use pollster::block_on;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;
use std::sync::Arc;
use topgun_storage_core::datastores::FaultInjectingDataStore;
use topgun_storage_core::{
    partition_for_key, CallerProvenance, DataStoreErrorKind, EvictionPolicy, ExpiryPolicy,
    ManualClock, MapDataStore, MapStorage, Namespace, Record, RecordValue, StorageConfig,
    StoreError, StoredRecord, WarmUpProgress,
};

fn keys(storage: &MapStorage, map: &str) -> BTreeSet<String> {
    storage.load_all_keys(map).unwrap().into_iter().collect()
}

/// Every live record of `map` in memory, over all its partitions.
fn all_in_memory(storage: &MapStorage, map: &str) -> BTreeMap<String, Record> {
    storage
        .factory()
        .get_all_for_map(map)
        .iter()
        .flat_map(|s| in_memory(s.as_ref()))
        .collect()
}

fn set(keys: &[&str]) -> BTreeSet<String> {
    keys.iter().map(|k| (*k).to_owned()).collect()
}

pub fn a_restart_gives_back_every_acknowledged_write_with_its_expiry<B: Backend>() {
    let mut b = B::new();
    let clock = ManualClock::new(T0);
    let config = StorageConfig {
        default_ttl_millis: 60_000,
        ..StorageConfig::default()
    };
    let ds = b.open();
    let storage = map_storage_over(ds.clone(), config, &clock);
    let records: Vec<(String, RecordValue)> = (0..300).map(|i| (format!("k{i}"), v(i))).collect();
    storage.store_all("m", records).unwrap();
    storage.store("m", "", v(1_000)).unwrap();
    storage.store("m", "ключ 🔑", v(1_001)).unwrap();
    storage.store("other", "k1", v(2_000)).unwrap();
    storage.delete("m", "k7").unwrap();
    storage
        .delete_all("m", &["k8".into(), "k9".into()])
        .unwrap();
    clock.advance(1_000);
    storage.store("m", "late", v(3_000)).unwrap();
    storage.close().unwrap();
    b.shutdown(ds);

    clock.set(T0 + 30_000);
    let ds = b.open();
    let storage = map_storage_over(ds, StorageConfig::default(), &clock);
    let mut want: BTreeSet<String> = (0..300).map(|i| format!("k{i}")).collect();
    for gone in ["k7", "k8", "k9"] {
        want.remove(gone);
    }
    want.extend(["".to_owned(), "ключ 🔑".to_owned(), "late".to_owned()]);
    assert_eq!(keys(&storage, "m"), want, "{}", name::<B>());
    assert_eq!(storage.load("m", "k299").unwrap(), Some(v(299)));
    assert_eq!(storage.load("m", "").unwrap(), Some(v(1_000)));
    assert_eq!(storage.load("m", "ключ 🔑").unwrap(), Some(v(1_001)));
    assert_eq!(storage.load("m", "k7").unwrap(), None);
    assert_eq!(storage.load("other", "k1").unwrap(), Some(v(2_000)));
    // The 60 s TTL was written with the records: it still ends on time,
    // though this storage has no default TTL.
    clock.set(T0 + 60_000);
    assert_eq!(storage.load("m", "k0").unwrap(), Some(v(0)));
    clock.set(T0 + 60_001);
    assert_eq!(storage.load("m", "k0").unwrap(), None);
    assert_eq!(storage.load("m", "k1").unwrap(), None);
    assert_eq!(storage.load("m", "late").unwrap(), Some(v(3_000)));
    assert_eq!(keys(&storage, "m"), set(&["late"]));
    let found = storage
        .load_all("m", &["k2".into(), "late".into()])
        .unwrap();
    assert_eq!(found, vec![("late".to_owned(), v(3_000))]);
}

pub fn load_all_keys_merges_disk_and_memory<B: Backend>() {
    let mut b = B::new();
    let ds = b.open();
    let clock = ManualClock::new(T0);
    // On disk only (written by an earlier process), one of them expired.
    block_on(ds.add(
        "m",
        Namespace::Primary,
        "cold",
        &StoredRecord::new(v(1), T0),
    ))
    .unwrap();
    let mut expired = StoredRecord::new(v(2), T0 - 10);
    expired.expiration_time = T0 - 5;
    block_on(ds.add("m", Namespace::Primary, "expired", &expired)).unwrap();
    block_on(ds.add(
        "m",
        Namespace::Backup,
        "backup-only",
        &StoredRecord::new(v(3), T0),
    ))
    .unwrap();
    let storage = map_storage_over(ds.clone(), StorageConfig::default(), &clock);
    storage.store("m", "hot", v(4)).unwrap();
    storage.store("m", "removed", v(5)).unwrap();
    storage.delete("m", "removed").unwrap();
    storage.delete("m", "cold-removed").unwrap();
    // In memory only: a write that did not go through the data store.
    let store = storage.factory().store_for_key("m", "memory-only");
    block_on(store.put(
        "memory-only",
        v(6),
        ExpiryPolicy::NONE,
        CallerProvenance::Backup,
    ))
    .unwrap();
    assert_eq!(
        keys(&storage, "m"),
        set(&["cold", "hot", "memory-only"]),
        "{}",
        name::<B>()
    );
    assert_eq!(storage.load("m", "cold").unwrap(), Some(v(1)));
    assert_eq!(storage.load("m", "expired").unwrap(), None);
    assert_eq!(storage.load("m", "memory-only").unwrap(), Some(v(6)));
    assert!(keys(&storage, "nothing-here").is_empty());
}

pub fn load_all_reads_what_memory_lacks_without_keeping_it<B: Backend>() {
    let mut b = B::new();
    let ds = b.open();
    let clock = ManualClock::new(T0);
    let entries: Vec<(String, StoredRecord)> = (0..500)
        .map(|i| (format!("k{i}"), StoredRecord::new(v(i), T0)))
        .collect();
    block_on(ds.add_all("m", Namespace::Primary, &entries)).unwrap();
    let ds = Arc::new(FaultInjectingDataStore::new(ds));
    let storage = map_storage_over(ds.clone(), StorageConfig::default(), &clock);
    storage.store("m", "k3", v(333)).unwrap();
    let wanted: Vec<String> = ["k3", "k1", "nope", "k499", "k1"]
        .iter()
        .map(|k| (*k).to_owned())
        .collect();
    let reads = ds.read_calls();
    let found = storage.load_all("m", &wanted).unwrap();
    assert_eq!(
        found,
        vec![
            ("k3".to_owned(), v(333)),
            ("k1".to_owned(), v(1)),
            ("k499".to_owned(), v(499)),
            ("k1".to_owned(), v(1)),
        ],
        "{}",
        name::<B>()
    );
    assert_eq!(
        ds.read_calls(),
        reads + 1,
        "the misses in one data-store read"
    );
    let resident: usize = storage
        .factory()
        .all_stores()
        .iter()
        .map(|s| s.size())
        .sum();
    assert_eq!(resident, 1, "a whole-map load does not fill memory");
}

pub fn store_all_and_delete_all_are_all_or_nothing<B: Backend>() {
    let mut b = B::new();
    let ds = Arc::new(FaultInjectingDataStore::new(b.open()));
    let clock = ManualClock::new(T0);
    let storage = map_storage_over(ds.clone(), StorageConfig::default(), &clock);
    storage.store("m", "keep", v(1)).unwrap();
    let batch: Vec<(String, RecordValue)> = (0..1_000).map(|i| (format!("b{i}"), v(i))).collect();
    // One data-store write for a batch spread over many partitions.
    let calls = ds.write_calls();
    storage.store_all("m", batch.clone()).unwrap();
    assert_eq!(ds.write_calls(), calls + 1, "{}", name::<B>());
    assert!(storage.factory().get_all_for_map("m").len() > 200);
    assert_eq!(on_disk(ds.as_ref(), "m", Namespace::Primary).len(), 1_001);
    let doomed: Vec<String> = (0..500).map(|i| format!("b{i}")).collect();
    storage.delete_all("m", &doomed).unwrap();
    assert_eq!(ds.write_calls(), calls + 2);
    assert_eq!(on_disk(ds.as_ref(), "m", Namespace::Primary).len(), 501);
    assert_eq!(storage.load("m", "b0").unwrap(), None);
    // A failing data store: nothing changes, in memory or on disk.
    let disk = on_disk(ds.as_ref(), "m", Namespace::Primary);
    let memory = all_in_memory(&storage, "m");
    ds.fail_writes(Some(DataStoreErrorKind::DiskFull));
    let fresh: Vec<(String, RecordValue)> = (0..100).map(|i| (format!("n{i}"), v(i))).collect();
    assert!(matches!(
        storage.store_all("m", fresh),
        Err(StoreError::DataStore(_))
    ));
    assert!(storage
        .delete_all("m", &["keep".into(), "b600".into()])
        .is_err());
    assert!(storage.delete("m", "keep").is_err());
    ds.heal();
    assert_eq!(on_disk(ds.as_ref(), "m", Namespace::Primary), disk);
    assert_eq!(all_in_memory(&storage, "m"), memory);
    assert_eq!(storage.load("m", "keep").unwrap(), Some(v(1)));
    // A batch that does not fit memory with eviction off is refused before
    // it reaches the data store.
    let full = map_storage_over(
        ds.clone(),
        StorageConfig {
            max_entry_count: 1,
            eviction_policy: EvictionPolicy::None,
            ..StorageConfig::default()
        },
        &clock,
    );
    let key_a = "x0".to_owned();
    let key_b = (1..)
        .map(|i| format!("x{i}"))
        .find(|k| partition_for_key(k) == partition_for_key(&key_a))
        .unwrap();
    let calls = ds.write_calls();
    let refused = full.store_all("n", vec![(key_a.clone(), v(1)), (key_b.clone(), v(2))]);
    assert!(matches!(refused, Err(StoreError::CapacityExceeded { .. })));
    assert_eq!(ds.write_calls(), calls);
    assert!(on_disk(ds.as_ref(), "n", Namespace::Primary).is_empty());
    // A key given twice keeps its last value and counts once.
    full.store_all("n", vec![(key_a.clone(), v(1)), (key_a.clone(), v(2))])
        .unwrap();
    assert_eq!(full.load("n", &key_a).unwrap(), Some(v(2)));
}

pub fn a_larger_data_set_than_memory_reads_back_whole<B: Backend>() {
    let mut b = B::new();
    let clock = ManualClock::new(T0);
    // Each partition store holds at most 2 records: about 540 in memory for
    // a data set of 5,000.
    let config = bounded(2);
    let ds = b.open();
    let storage = map_storage_over(ds.clone(), config, &clock);
    for chunk in (0..5_000u64).collect::<Vec<_>>().chunks(250) {
        let records = chunk.iter().map(|&i| (format!("key-{i}"), v(i)));
        storage.store_all("big", records).unwrap();
        clock.advance(1);
    }
    let resident =
        |s: &MapStorage| -> usize { s.factory().all_stores().iter().map(|s| s.size()).sum() };
    assert!(resident(&storage) <= 2 * 271, "{}", name::<B>());
    storage.close().unwrap();
    b.shutdown(ds);

    let ds = b.open();
    let storage = map_storage_over(ds, config, &clock);
    assert_eq!(storage.load_all_keys("big").unwrap().len(), 5_000);
    for i in (0..5_000u64).step_by(7).chain(0..50) {
        assert_eq!(
            storage.load("big", &format!("key-{i}")).unwrap(),
            Some(v(i))
        );
        assert!(resident(&storage) <= 2 * 271);
    }
    let all: Vec<String> = (0..5_000).map(|i| format!("key-{i}")).collect();
    let found = storage.load_all("big", &all).unwrap();
    assert_eq!(found.len(), 5_000);
    assert!(found
        .iter()
        .enumerate()
        .all(|(i, (_, val))| *val == v(i as u64)));
}

pub fn reads_of_missing_keys_allocate_no_store<B: Backend>() {
    let mut b = B::new();
    let ds = b.open();
    let clock = ManualClock::new(T0);
    let storage = map_storage_over(ds, StorageConfig::default(), &clock);
    for i in 0..100 {
        assert_eq!(storage.load(&format!("map{i}"), "k").unwrap(), None);
        assert!(storage
            .load_all(&format!("map{i}"), &["k".into()])
            .unwrap()
            .is_empty());
        storage.delete(&format!("map{i}"), "k").unwrap();
    }
    assert!(storage.factory().all_stores().is_empty(), "{}", name::<B>());
}

pub fn close_closes_the_data_store<B: Backend>() {
    let mut b = B::new();
    let ds = b.open();
    let clock = ManualClock::new(T0);
    let storage = map_storage_over(ds.clone(), StorageConfig::default(), &clock);
    storage.store("m", "k", v(1)).unwrap();
    storage.flush().unwrap();
    storage.close().unwrap();
    storage.close().unwrap();
    assert!(matches!(storage.load("m", "k"), Err(StoreError::Closed)));
    assert!(matches!(storage.flush(), Err(StoreError::Closed)));
    // The data store stays closed: initialize cannot open the storage again.
    assert!(matches!(storage.initialize(), Err(StoreError::Closed)));
    assert!(matches!(
        storage.store("m", "k", v(2)),
        Err(StoreError::Closed)
    ));
    match block_on(ds.load("m", Namespace::Primary, "k")) {
        Err(e) => assert_eq!(e.kind(), DataStoreErrorKind::Closed, "{}", name::<B>()),
        Ok(found) => panic!("{}: the data store is still open: {found:?}", name::<B>()),
    }
}

pub fn warm_up_through_map_storage_routes_to_partitions<B: Backend>() {
    let mut b = B::new();
    let ds = b.open();
    let clock = ManualClock::new(T0);
    let entries: Vec<(String, StoredRecord)> = (0..2_000)
        .map(|i| (format!("w{i}"), StoredRecord::new(v(i), T0)))
        .collect();
    block_on(ds.add_all("m", Namespace::Primary, &entries)).unwrap();
    let storage = map_storage_over(ds.clone(), StorageConfig::default(), &clock);
    let mut reports = 0;
    let mut progress = |_: &WarmUpProgress| {
        reports += 1;
        ControlFlow::Continue(())
    };
    let report = storage.warm_up("m", &mut progress).unwrap();
    assert_eq!(
        (report.scanned, report.loaded),
        (2_000, 2_000),
        "{}",
        name::<B>()
    );
    assert!(reports >= 8);
    for store in storage.factory().get_all_for_map("m") {
        for (key, record) in in_memory(store.as_ref()) {
            assert_eq!(partition_for_key(&key), store.partition_id());
            assert!(!record.metadata.is_dirty());
        }
    }
    let resident: usize = storage
        .factory()
        .get_all_for_map("m")
        .iter()
        .map(|s| s.size())
        .sum();
    assert_eq!(resident, 2_000);
    // Warm-up of a map with nothing on disk is done at once.
    let report = storage
        .warm_up("empty", &mut |_| ControlFlow::Continue(()))
        .unwrap();
    assert!(report.done && report.scanned == 0);
}

/// A read overlapping `close` on another thread returns its whole result or
/// `Closed`, never part of the map nor the data store's own "closed" error
/// (`close` drops memory and closes the data store under the read).
pub fn a_read_overlapping_close_is_complete_or_closed<B: Backend>() {
    const KEYS: usize = 3_000;
    let mut b = B::new();
    let clock = ManualClock::new(T0);
    let keys: Vec<String> = (0..KEYS).map(|i| format!("k{i}")).collect();
    let mut outcomes = [0usize; 2];
    for round in 0..20 {
        let ds = b.open();
        // Memory holds part of each partition: reads go to disk too.
        let storage = Arc::new(map_storage_over(ds.clone(), bounded(5), &clock));
        if round == 0 {
            storage
                .store_all("m", keys.iter().map(|k| (k.clone(), v(1))))
                .unwrap();
        }
        let start = Arc::new(std::sync::Barrier::new(3));
        let reader = |all_keys: bool| {
            let (s, start, keys) = (storage.clone(), start.clone(), keys.clone());
            std::thread::spawn(move || {
                start.wait();
                if all_keys {
                    s.load_all_keys("m").map(|k| k.len())
                } else {
                    s.load_all("m", &keys).map(|found| found.len())
                }
            })
        };
        let (x, y) = (reader(true), reader(false));
        start.wait();
        storage.close().unwrap();
        for result in [x.join().unwrap(), y.join().unwrap()] {
            match result {
                Ok(n) => {
                    assert_eq!(n, KEYS, "{}: a read returned part of the map", name::<B>());
                    outcomes[0] += 1;
                }
                Err(StoreError::Closed) => outcomes[1] += 1,
                Err(e) => panic!("{}: {e}", name::<B>()),
            }
        }
        // `close` closed the data store.
        drop(storage);
        drop(ds);
    }
    assert_eq!(outcomes.iter().sum::<usize>(), 40);
}
