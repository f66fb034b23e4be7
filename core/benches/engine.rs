//! R1, R2, R3, R8, R9 of docs/benchmarks.md: `HashMapStorage` against a
//! raw `DashMap` (same hasher) or against itself, measured interleaved in the
//! same run. Prints one summary row per target. Run with `make bench` or
//! `cargo bench -p topgun-storage-core --bench engine`.

mod data;
mod support;

use criterion::Criterion;
use dashmap::DashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};
use support::{compare, Indices, Row, Target};
use topgun_storage_core::{HashMapStorage, IterationCursor, Record, StorageEngine};

type Hasher = foldhash::fast::RandomState;

/// Entries in the large data set (R8, R9).
const LARGE: usize = 1_000_000;
/// Entries in the point-operation data set (R1, R2).
const POINT: usize = 100_000;

fn raw_map(keys: &[String]) -> DashMap<String, Record, Hasher> {
    let raw = DashMap::with_hasher(Hasher::default());
    for (i, k) in keys.iter().enumerate() {
        raw.insert(k.clone(), data::record(i));
    }
    raw
}

fn ours(keys: &[String]) -> HashMapStorage {
    let store = HashMapStorage::new();
    for (i, k) in keys.iter().enumerate() {
        store.put(k, data::record(i));
    }
    store
}

fn timed(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

fn point_ops(c: &mut Criterion, rows: &mut Vec<Row>) {
    let keys = data::keys(POINT);
    let raw = raw_map(&keys);
    let store = ours(&keys);

    rows.push(compare(
        c,
        "R1",
        "get hit, 1 thread",
        "DashMap get+clone",
        Target::TimeRatioAtMost(1.1),
        (1.0, 1.0),
        |n| {
            let mut ix = Indices::new(7);
            timed(|| {
                for _ in 0..n {
                    let k = &keys[ix.next(POINT)];
                    black_box(raw.get(k.as_str()).map(|r| r.value().clone()));
                }
            })
        },
        |n| {
            let mut ix = Indices::new(7);
            timed(|| {
                for _ in 0..n {
                    black_box(store.get(&keys[ix.next(POINT)]));
                }
            })
        },
    ));

    let records: Vec<Record> = (0..1024).map(data::record).collect();
    rows.push(compare(
        c,
        "R2",
        "put (overwrite), 1 thread",
        "DashMap insert",
        Target::TimeRatioAtMost(1.3),
        (1.0, 1.0),
        |n| {
            let mut ix = Indices::new(9);
            timed(|| {
                for i in 0..n as usize {
                    let k = &keys[ix.next(POINT)];
                    black_box(raw.insert(k.clone(), records[i & 1023].clone()));
                }
            })
        },
        |n| {
            let mut ix = Indices::new(9);
            timed(|| {
                for i in 0..n as usize {
                    let k = &keys[ix.next(POINT)];
                    black_box(store.put(k, records[i & 1023].clone()));
                }
            })
        },
    ));
}

fn large_ops(c: &mut Criterion, rows: &mut Vec<Row>) {
    let keys = data::keys(LARGE);
    let raw = raw_map(&keys);
    let store = ours(&keys);

    // A full scan takes tens of milliseconds: fewer, longer samples.
    let mut slow = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8))
        .without_plots();
    rows.push(compare(
        &mut slow,
        "R8",
        "full fetch_keys scan, pages of 1000, 1M keys",
        "DashMap::iter collect",
        Target::TimeRatioAtMost(1.2),
        (1.0, 1.0),
        |n| {
            timed(|| {
                for _ in 0..n {
                    let keys: Vec<String> = raw.iter().map(|e| e.key().clone()).collect();
                    assert_eq!(keys.len(), LARGE);
                    black_box(keys);
                }
            })
        },
        |n| {
            timed(|| {
                for _ in 0..n {
                    let mut keys = Vec::with_capacity(LARGE);
                    let mut cursor = IterationCursor::start();
                    while !cursor.is_finished() {
                        let page = store.fetch_keys(&cursor, 1000).expect("valid cursor");
                        keys.extend(page.items);
                        cursor = page.next_cursor;
                    }
                    assert_eq!(keys.len(), LARGE);
                    black_box(keys);
                }
            })
        },
    ));

    // The baseline of R9 and R9b: one get of a random key (captures only
    // references, so the closure is Copy and serves both rows).
    let one_get = |n: u64| {
        let mut ix = Indices::new(5);
        timed(|| {
            for _ in 0..n {
                black_box(store.get(&keys[ix.next(LARGE)]));
            }
        })
    };
    rows.push(compare(
        c,
        "R9",
        "random_samples(15), 1M entries",
        "one get",
        Target::TimeRatioAtMost(10.0),
        (1.0, 1.0),
        one_get,
        |n| {
            timed(|| {
                for _ in 0..n {
                    black_box(store.random_samples(15));
                }
            })
        },
    ));

    let mut rng = rand::rng();
    rows.push(compare(
        c,
        "R9b",
        "sample_with(15) (no copies), 1M entries",
        "one get",
        Target::TimeRatioAtMost(10.0),
        (1.0, 1.0),
        one_get,
        |n| {
            timed(|| {
                for _ in 0..n {
                    let mut newest = 0;
                    store.sample_with_rng(15, &mut rng, &mut |_, r| {
                        newest = newest.max(r.metadata.last_access_time);
                    });
                    black_box(newest);
                }
            })
        },
    ));
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .without_plots()
        .configure_from_args();
    let mut rows = Vec::new();
    point_ops(&mut c, &mut rows);
    large_ops(&mut c, &mut rows);
    println!("\n== core engine: ours vs same-run baseline (median per operation) ==");
    for row in &rows {
        row.print();
    }
}
