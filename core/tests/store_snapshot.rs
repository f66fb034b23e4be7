//! Record-store and `MapStorage` snapshots through the public API: isolation
//! from later writes, expiry judged once at the snapshot's instant, reads
//! that touch nothing, and one instant across every map of a factory.

use std::collections::BTreeMap;
use std::sync::Arc;
use topgun_storage_core::{
    block_on, CallerProvenance, DefaultRecordStore, ExpiryPolicy, IterationCursor, ManualClock,
    MapStorage, RecordStore, RecordStoreFactory, RecordValue, StorageConfig, StoreSnapshot,
    Timestamp, Value,
};

const T0: i64 = 1_700_000_000_000;

fn v(n: i64) -> RecordValue {
    RecordValue::lww(n, Timestamp::new(n as u64, 0, "node"))
}

fn number(value: &RecordValue) -> i64 {
    match value {
        RecordValue::Lww {
            value: Value::Int(n),
            ..
        } => *n,
        other => panic!("unexpected value {other:?}"),
    }
}

fn store(config: StorageConfig) -> (DefaultRecordStore, ManualClock) {
    let clock = ManualClock::new(T0);
    let store = DefaultRecordStore::standalone(config, Some(Arc::new(clock.clone())));
    (store, clock)
}

fn put(store: &DefaultRecordStore, key: &str, n: i64, expiry: ExpiryPolicy) {
    block_on(store.put(key, v(n), expiry, CallerProvenance::Client)).expect("put");
}

fn scan(snap: &StoreSnapshot) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    let mut cursor = IterationCursor::start();
    while !cursor.is_finished() {
        let page = snap.fetch_entries(&cursor, 3).expect("valid cursor");
        for (k, r) in page.items {
            assert!(out.insert(k, number(&r.value)).is_none(), "key twice");
        }
        cursor = page.next_cursor;
    }
    out
}

#[test]
fn a_store_snapshot_is_isolated_from_later_writes() {
    let (s, _) = store(StorageConfig::default());
    put(&s, "a", 1, ExpiryPolicy::NONE);
    put(&s, "b", 2, ExpiryPolicy::NONE);
    let snap = s.snapshot();
    put(&s, "a", 10, ExpiryPolicy::NONE);
    block_on(s.remove("b", CallerProvenance::Client)).expect("remove");
    put(&s, "c", 3, ExpiryPolicy::NONE);
    s.clear(false);
    assert_eq!(snap.name(), "default");
    assert_eq!(snap.len(), 2);
    assert_eq!(
        scan(&snap),
        BTreeMap::from([("a".into(), 1), ("b".into(), 2)])
    );
    assert_eq!(snap.get("a").map(|r| number(&r.value)), Some(1));
    assert!(!snap.contains_key("c"));
    assert_eq!(s.size(), 0);
}

#[test]
fn expiry_is_judged_once_at_the_snapshot_instant() {
    let (s, clock) = store(StorageConfig::default());
    put(&s, "short", 1, ExpiryPolicy::ttl(100));
    put(&s, "long", 2, ExpiryPolicy::ttl(10_000));
    put(&s, "forever", 3, ExpiryPolicy::NONE);
    clock.advance(500);
    // "short" has expired but nothing removed it yet.
    assert_eq!(s.size(), 3);
    let snap = s.snapshot();
    assert_eq!(snap.now(), T0 + 500);
    assert!(!snap.contains_key("short"), "expired at the instant");
    assert!(snap.get("short").is_none());
    assert_eq!(
        scan(&snap),
        BTreeMap::from([("forever".into(), 3), ("long".into(), 2)])
    );
    assert_eq!(snap.len(), 3, "len counts expired records not yet removed");

    // Time passes for the store, not inside the snapshot.
    clock.advance(20_000);
    assert!(block_on(s.get("long", false)).expect("get").is_none());
    assert_eq!(snap.get("long").map(|r| number(&r.value)), Some(2));
    assert_eq!(scan(&snap).len(), 2);
    let samples = snap.random_samples(10);
    assert_eq!(samples.len(), 2, "the expired sample is left out");
    // The store's own expiry removing records does not change the snapshot.
    s.maintain();
    assert_eq!(snap.len(), 3);
    assert_eq!(scan(&snap).len(), 2);
}

#[test]
fn snapshot_reads_touch_nothing_and_see_metadata_as_it_was() {
    let (s, clock) = store(StorageConfig::default());
    put(&s, "k", 1, ExpiryPolicy::NONE);
    let snap = s.snapshot();
    clock.advance(1_000);
    for _ in 0..3 {
        block_on(s.get("k", true)).expect("touched get");
    }
    for _ in 0..5 {
        assert!(snap.get("k").is_some());
    }
    let then = snap.get("k").expect("in the snapshot").metadata;
    let now = block_on(s.get("k", false))
        .expect("get")
        .expect("live")
        .metadata;
    assert_eq!((then.hits, then.last_access_time), (0, T0));
    assert_eq!((now.hits, now.last_access_time), (3, T0 + 1_000));
    assert_eq!(s.stats().hits, 4, "snapshot reads are not hits");
}

#[test]
fn a_map_storage_snapshot_is_one_instant_across_maps() {
    let clock = ManualClock::new(T0);
    let factory = RecordStoreFactory::default().with_clock(Arc::new(clock.clone()));
    let storage = MapStorage::new(factory);
    for i in 0..200 {
        storage
            .store("users", &format!("u{i}"), v(i))
            .expect("store");
        storage
            .store("orders", &format!("o{i}"), v(-i))
            .expect("store");
    }
    let snap = storage.snapshot().expect("open storage");
    for i in 0..200 {
        storage
            .store("users", &format!("u{i}"), v(1000 + i))
            .expect("store");
        storage.delete("orders", &format!("o{i}")).expect("delete");
    }
    storage.store("later", "x", v(1)).expect("store");
    assert_eq!(snap.map_names(), ["orders", "users"]);
    assert_eq!(snap.len(), 400);
    assert_eq!(snap.get("users", "u7").map(|r| number(&r.value)), Some(7));
    assert_eq!(snap.get("orders", "o7").map(|r| number(&r.value)), Some(-7));
    assert!(snap.get("later", "x").is_none());
    let users: usize = snap.map("users").map(StoreSnapshot::len).sum();
    assert_eq!(users, 200);
    let epochs: Vec<u64> = snap.stores().iter().map(StoreSnapshot::epoch).collect();
    assert!(epochs.iter().all(|&e| e == snap.epoch()), "one instant");
    assert!(snap.stores().iter().all(|s| s.now() == T0));
    // Closing drops the data; the snapshot keeps its view.
    storage.close().unwrap();
    assert_eq!(snap.len(), 400);
    assert!(storage.snapshot().is_err());
}
