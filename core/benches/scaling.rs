//! R3 of docs/benchmarks.md and what bounds it: throughput of two threads
//! on disjoint keys against the same code on one thread, measured
//! interleaved in the same run.
//!
//! Rows, each on a working set that fits in cache (`cache`, 4,096 keys, ~1
//! MiB) and on one that does not (`dram`, 1M keys, ~300 MiB):
//!
//! * `R3`: one `HashMapStorage`, the two threads on disjoint key halves
//!   (90% get, 10% put);
//! * `R3o`: each thread owns its own `HashMapStorage` (TopGun's store per
//!   (map, partition), seed 001's shard set per owner);
//! * `R3r`: the `R3` experiment on a raw `DashMap` (reference);
//! * `R3c`: the machine's own ceiling, loops that share nothing: a compute
//!   loop (no memory traffic) and random reads of a private array of the
//!   working set's size.
//!
//! Run with `make bench` or `cargo bench -p topgun-storage-core --bench scaling`.

mod data;
mod support;

use criterion::Criterion;
use dashmap::DashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};
use support::{compare, Indices, Row, Target};
use topgun_storage_core::{HashMapStorage, Record, StorageEngine};

type Hasher = foldhash::fast::RandomState;

/// Keys of the cache-resident working set (both halves together).
const CACHE: usize = 4_096;
/// Keys of the working set that does not fit in cache.
const DRAM: usize = 1_000_000;

fn timed(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

/// The R3 workload on `keys`: `n` operations, 90% gets and 10% puts (of
/// record number 0..1024), keys drawn by a seeded sequence.
fn mixed(keys: &[String], seed: u64, n: u64, put: impl Fn(&str, usize), get: impl Fn(&str)) {
    let mut ix = Indices::new(11 + seed);
    for i in 0..n as usize {
        let k = &keys[ix.next(keys.len())];
        if i % 10 == 0 {
            put(k, i & 1023);
        } else {
            get(k);
        }
    }
}

/// Throughput of `work(part, n)` on two threads (parts 0 and 1) against one
/// thread (part 0), interleaved in the same run.
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

fn halves(keys: &[String]) -> [&[String]; 2] {
    let (a, b) = keys.split_at(keys.len() / 2);
    [a, b]
}

fn engine_rows(c: &mut Criterion, rows: &mut Vec<Row>, label: &str, size: usize) {
    let keys = data::keys(size);
    let parts = halves(&keys);
    let records: Vec<Record> = (0..1024).map(data::record).collect();

    let shared = HashMapStorage::new();
    for (i, k) in keys.iter().enumerate() {
        shared.put(k, data::record(i));
    }
    let work = |part: usize, n: u64| {
        mixed(
            parts[part],
            part as u64,
            n,
            |k, r| drop(black_box(shared.put(k, records[r].clone()))),
            |k| drop(black_box(shared.get(k))),
        );
    };
    rows.push(scaling_row(
        c,
        &format!("R3 {label}"),
        "one engine, disjoint halves, 90% get",
        &work,
    ));
    drop(shared);

    let owned: Vec<HashMapStorage> = parts
        .iter()
        .map(|part| {
            let store = HashMapStorage::new();
            for (i, k) in part.iter().enumerate() {
                store.put(k, data::record(i));
            }
            store
        })
        .collect();
    let work = |part: usize, n: u64| {
        let store = &owned[part];
        mixed(
            parts[part],
            part as u64,
            n,
            |k, r| drop(black_box(store.put(k, records[r].clone()))),
            |k| drop(black_box(store.get(k))),
        );
    };
    rows.push(scaling_row(
        c,
        &format!("R3o {label}"),
        "an engine per owner (per partition)",
        &work,
    ));
    drop(owned);

    let raw: DashMap<String, Record, Hasher> = DashMap::with_hasher(Hasher::default());
    for (i, k) in keys.iter().enumerate() {
        raw.insert(k.clone(), data::record(i));
    }
    let work = |part: usize, n: u64| {
        mixed(
            parts[part],
            part as u64,
            n,
            |k, r| drop(black_box(raw.insert(k.to_owned(), records[r].clone()))),
            |k| drop(black_box(raw.get(k).map(|e| e.value().clone()))),
        );
    };
    rows.push(scaling_row(
        c,
        &format!("R3r {label}"),
        "reference: raw DashMap, disjoint halves",
        &work,
    ));
}

/// The machine's ceiling: loops that share nothing at all.
fn ceiling_rows(c: &mut Criterion, rows: &mut Vec<Row>) {
    let compute = |part: usize, n: u64| {
        let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ part as u64;
        for _ in 0..n * 64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
        black_box(x);
    };
    rows.push(scaling_row(
        c,
        "R3c cpu",
        "ceiling: compute loop, nothing shared",
        &compute,
    ));
    for (label, size) in [("cache", CACHE), ("dram", DRAM)] {
        // Each thread reads random 256-byte blocks of its own array, the
        // size of its half of the working set at ~300 bytes an entry.
        let blocks = size / 2 * 300 / 256;
        let arrays: Vec<Vec<[u64; 32]>> = (0..2)
            .map(|p| (0..blocks).map(|i| [(i + p) as u64; 32]).collect())
            .collect();
        let reads = |part: usize, n: u64| {
            let array = &arrays[part];
            let mut ix = Indices::new(3 + part as u64);
            let mut sum = 0u64;
            for _ in 0..n {
                let block = &array[ix.next(array.len())];
                sum = sum.wrapping_add(block[0]).wrapping_add(block[31]);
            }
            black_box(sum);
        };
        rows.push(scaling_row(
            c,
            &format!("R3c {label}"),
            "ceiling: random reads of a private array",
            &reads,
        ));
    }
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .without_plots()
        .configure_from_args();
    let mut rows = Vec::new();
    ceiling_rows(&mut c, &mut rows);
    engine_rows(&mut c, &mut rows, "cache", CACHE);
    engine_rows(&mut c, &mut rows, "dram", DRAM);
    println!(
        "\n== R3 disjoint-key scaling: 2 threads vs 1, same run (speedup = throughput ratio) =="
    );
    for row in &rows {
        row.print();
    }
}
