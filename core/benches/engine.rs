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
/// Entries in the point-operation data set (R1, R2, R3).
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

    // R3: the same mixed workload on disjoint key halves, one thread
    // against two.
    let work = |part: usize, n: u64| {
        mixed(
            &keys,
            part,
            n,
            |k, r| drop(black_box(store.put(k, records[r].clone()))),
            |k| drop(black_box(store.get(k))),
        );
    };
    rows.push(scaling_row(
        c,
        "R3",
        "2 threads, disjoint keys (90% get/10% put)",
        &work,
    ));
}

/// R3 reference: the same two-thread experiment on a raw DashMap, to tell
/// how much of the scaling the machine itself allows (memory bandwidth and
/// latency are shared by both cores).
fn scaling_reference(c: &mut Criterion, rows: &mut Vec<Row>) {
    let keys = data::keys(POINT);
    let raw = raw_map(&keys);
    let records: Vec<Record> = (0..1024).map(data::record).collect();
    let work = |part: usize, n: u64| {
        mixed(
            &keys,
            part,
            n,
            |k, r| drop(black_box(raw.insert(k.to_owned(), records[r].clone()))),
            |k| drop(black_box(raw.get(k).map(|e| e.value().clone()))),
        );
    };
    rows.push(scaling_row(
        c,
        "R3r",
        "reference: raw DashMap, 2 threads vs 1",
        &work,
    ));
}

/// The R3 workload on half `part` of `keys`: `n` operations, 90% gets and
/// 10% puts (of record number 0..1024), keys drawn by a seeded sequence.
fn mixed(keys: &[String], part: usize, n: u64, put: impl Fn(&str, usize), get: impl Fn(&str)) {
    let half = keys.len() / 2;
    let mut ix = Indices::new(11 + part as u64);
    for i in 0..n as usize {
        let k = &keys[part * half + ix.next(half)];
        if i % 10 == 0 {
            put(k, i & 1023);
        } else {
            get(k);
        }
    }
}

/// Throughput of `work` on two threads (halves 0 and 1) against one thread
/// (half 0), interleaved in the same run.
fn scaling_row(c: &mut Criterion, id: &str, what: &str, work: &(dyn Fn(usize, u64) + Sync)) -> Row {
    compare(
        c,
        id,
        what,
        "same, 1 thread",
        Target::SpeedupAtLeast(1.8),
        (1.0, 2.0),
        |n| {
            timed(|| {
                std::thread::scope(|s| {
                    s.spawn(|| work(0, n));
                })
            })
        },
        |n| {
            timed(|| {
                std::thread::scope(|s| {
                    s.spawn(|| work(0, n));
                    s.spawn(|| work(1, n));
                })
            })
        },
    )
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
    scaling_reference(&mut c, &mut rows);
    large_ops(&mut c, &mut rows);
    println!("\n== core engine: ours vs same-run baseline (median per operation) ==");
    for row in &rows {
        row.print();
    }
}
