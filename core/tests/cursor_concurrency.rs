//! Concurrency checker for the cursor guarantees of `HashMapStorage`.
//!
//! Writers grow the tables several times over and shrink them again while a
//! scanner pages through, with page sizes 1, 7 and 1000. Checked for every
//! scan: each stable key (present for the whole scan, even if overwritten)
//! is returned; no key absent for the whole scan is returned.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use topgun_storage_core::{
    HashMapStorage, IterationCursor, Record, RecordMetadata, RecordValue, StorageEngine, Timestamp,
};

const STABLE: usize = 5_000;
const GHOSTS: usize = 2_000;
const CHURN_PER_WRITER: usize = 60_000;
const WRITERS: usize = 2;
const CYCLES: i64 = 3;

fn record(n: i64) -> Record {
    Record::new(
        RecordValue::lww(n, Timestamp::new(1, 0, "n")),
        RecordMetadata::new(n, 1),
    )
}

fn check_scan_under_churn(page: usize) {
    let store = Arc::new(HashMapStorage::new());
    for i in 0..STABLE {
        store.put(&format!("stable-{i}"), record(0));
    }
    // Ghosts existed once and are gone before the scan starts.
    for i in 0..GHOSTS {
        store.put(&format!("ghost-{i}"), record(0));
    }
    for i in 0..GHOSTS {
        store.remove(&format!("ghost-{i}"));
    }
    let start_capacity = store.capacity();

    let finished_writers = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(WRITERS));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = Arc::clone(&store);
            let finished_writers = Arc::clone(&finished_writers);
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let (mut max_cap, mut min_cap) = (0, usize::MAX);
                for cycle in 0..CYCLES {
                    for i in 0..CHURN_PER_WRITER {
                        store.put(&format!("churn-{w}-{i}"), record(i as i64));
                        if i % 1_000 == 0 {
                            // Overwrites of stable keys keep them present.
                            store.put(&format!("stable-{}", i % STABLE), record(cycle));
                        }
                    }
                    barrier.wait();
                    max_cap = max_cap.max(store.capacity());
                    barrier.wait();
                    for i in 0..CHURN_PER_WRITER {
                        store.remove(&format!("churn-{w}-{i}"));
                    }
                    barrier.wait();
                    min_cap = min_cap.min(store.capacity());
                    barrier.wait();
                }
                finished_writers.fetch_add(1, Ordering::SeqCst);
                (max_cap, min_cap)
            })
        })
        .collect();

    let mut scans = 0;
    let mut returned_total = 0;
    // Scan again and again until the writers are done, so pages interleave
    // with growth and shrinking.
    loop {
        let mut cursor = IterationCursor::start();
        let mut seen = HashSet::new();
        let mut pages = 0usize;
        while !cursor.is_finished() {
            let result = store.fetch_keys(&cursor, page).expect("valid cursor");
            assert!(result.items.len() <= page);
            returned_total += result.items.len();
            for key in result.items {
                assert!(!key.starts_with("ghost-"), "absent key {key} returned");
                seen.insert(key);
            }
            cursor = result.next_cursor;
            pages += 1;
            assert!(pages < 10_000_000, "scan does not terminate");
        }
        for i in 0..STABLE {
            let key = format!("stable-{i}");
            assert!(seen.contains(&key), "stable key {key} missed (page {page})");
        }
        scans += 1;
        if finished_writers.load(Ordering::SeqCst) == WRITERS {
            break;
        }
    }
    assert!(scans >= 1);
    for w in writers {
        let (max_cap, min_cap) = w.join().expect("writer panicked");
        assert!(
            max_cap >= 8 * start_capacity.max(1) / 2,
            "tables did not grow several times: {start_capacity} -> {max_cap}"
        );
        assert!(
            min_cap * 4 < max_cap,
            "tables did not shrink: {max_cap} -> {min_cap}"
        );
    }
    assert!(returned_total >= STABLE);
    assert_eq!(store.len(), STABLE);
}

#[test]
fn scan_page_1_under_growth_and_shrink() {
    check_scan_under_churn(1);
}

#[test]
fn scan_page_7_under_growth_and_shrink() {
    check_scan_under_churn(7);
}

#[test]
fn scan_page_1000_under_growth_and_shrink() {
    check_scan_under_churn(1000);
}

#[test]
fn quiet_scan_returns_each_key_once() {
    let store = HashMapStorage::new();
    for i in 0..20_000 {
        store.put(&format!("k{i}"), record(i));
    }
    for page in [1, 7, 1000] {
        let mut cursor = IterationCursor::start();
        let mut keys = Vec::new();
        while !cursor.is_finished() {
            let r = store.fetch_keys(&cursor, page).expect("valid cursor");
            keys.extend(r.items);
            cursor = r.next_cursor;
        }
        let distinct: HashSet<_> = keys.iter().collect();
        assert_eq!(keys.len(), 20_000, "page {page}: duplicates or misses");
        assert_eq!(distinct.len(), 20_000);
    }
}
