//! S1 and S2 of docs/benchmarks.md: taking a snapshot, and writing while
//! snapshots are open, against same-run baselines.
//!
//! * `S1`: `HashMapStorage::snapshot()` on 1M entries against one `get` of
//!   a random key of the same engine (target <= 1x, and < 500 ns). `S1b`:
//!   a record store's `snapshot()` (a boxed engine view, the store's name
//!   and a clock reading). `S1c`: taking and dropping one (information).
//! * `S2`: `put` (overwrite of a random key of 100k) while 4 snapshots are
//!   open against the same puts with none open (target <= 1.3x). The 4
//!   snapshots are taken fresh before every sample, so nearly every put
//!   replaces a version they see and must keep it: the worst case. `S2r`:
//!   the same puts plus dropping the 4 snapshots, which frees every kept
//!   version (information: what reclamation adds per put). After each
//!   sample of either side the allocator is given a large allocation,
//!   outside the clock, so that the merging of freed chunks it defers to
//!   then lands in the reclamation that caused it, not in the next timed
//!   puts (see `settle_allocator`).
//!
//! Run with `make bench` or `cargo bench -p topgun-storage-core --bench snapshot`.

mod data;
mod support;

use criterion::Criterion;
use std::hint::black_box;
use std::time::{Duration, Instant};
use support::{compare, Indices, Row, Target};
use topgun_storage_core::{
    DefaultRecordStore, HashMapSnapshot, HashMapStorage, Record, RecordStore, StorageConfig,
    StorageEngine, StoreSnapshot,
};

/// Entries of the engine S1 snapshots.
const LARGE: usize = 1_000_000;
/// Entries of the engine S2 writes to.
const POINT: usize = 100_000;
/// Snapshots open during S2.
const OPEN: usize = 4;

fn timed(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

fn filled(keys: &[String]) -> HashMapStorage {
    let store = HashMapStorage::new();
    for (i, k) in keys.iter().enumerate() {
        store.put(k, data::record(i));
    }
    store
}

/// Times `n` acquisitions with `take`; the snapshots are dropped after the
/// clock stops, newest first.
fn acquisitions<S>(n: u64, mut take: impl FnMut() -> S) -> Duration {
    let mut held = Vec::with_capacity(n as usize);
    let elapsed = timed(|| {
        for _ in 0..n {
            held.push(take());
        }
    });
    while held.pop().is_some() {}
    elapsed
}

fn s1(c: &mut Criterion, rows: &mut Vec<Row>) {
    let keys = data::keys(LARGE);
    let engine = filled(&keys);
    let one_get = |n: u64| {
        let mut ix = Indices::new(5);
        timed(|| {
            for _ in 0..n {
                black_box(engine.get(&keys[ix.next(LARGE)]));
            }
        })
    };
    rows.push(compare(
        c,
        "S1",
        "snapshot() of an engine with 1M entries",
        "one get",
        Target::TimeRatioAtMost(1.0),
        (1.0, 1.0),
        one_get,
        |n| acquisitions::<HashMapSnapshot>(n, || engine.snapshot()),
    ));
    rows.push(compare(
        c,
        "S1c",
        "snapshot() and drop, 1M entries",
        "one get",
        Target::TimeRatioAtMost(1.0),
        (1.0, 1.0),
        one_get,
        |n| {
            timed(|| {
                for _ in 0..n {
                    black_box(engine.snapshot());
                }
            })
        },
    ));
    drop(engine);

    let store = DefaultRecordStore::standalone(StorageConfig::default(), None);
    for (i, k) in keys.iter().enumerate() {
        store.storage().put(k, data::record(i));
    }
    rows.push(compare(
        c,
        "S1b",
        "record store snapshot(), 1M entries",
        "one get",
        Target::TimeRatioAtMost(1.0),
        (1.0, 1.0),
        |n| {
            let mut ix = Indices::new(5);
            timed(|| {
                for _ in 0..n {
                    black_box(store.storage().get(&keys[ix.next(LARGE)]));
                }
            })
        },
        |n| acquisitions::<StoreSnapshot>(n, || store.snapshot()),
    ));
}

/// `n` overwrites of random keys (the same sequence on both sides).
fn puts(engine: &HashMapStorage, keys: &[String], records: &[Record], n: u64) {
    let mut ix = Indices::new(9);
    for i in 0..n as usize {
        let k = &keys[ix.next(keys.len())];
        black_box(engine.put(k, records[i & 1023].clone()));
    }
}

/// Lets the allocator finish, outside the clock, the work that freeing the
/// previous sample's kept versions left (glibc merges freed small chunks at
/// the next large allocation): that work belongs to reclamation, which S2r
/// times, not to the next sample's puts. Done after both sides' samples.
fn settle_allocator() {
    black_box(vec![0u8; 4096]);
}

fn s2(c: &mut Criterion, rows: &mut Vec<Row>) {
    let keys = data::keys(POINT);
    let plain = filled(&keys);
    let watched = filled(&keys);
    let records: Vec<Record> = (0..1024).map(data::record).collect();
    rows.push(compare(
        c,
        "S2",
        "put while 4 snapshots are open (worst case)",
        "put, none open",
        Target::TimeRatioAtMost(1.3),
        (1.0, 1.0),
        |n| {
            let elapsed = timed(|| puts(&plain, &keys, &records, n));
            settle_allocator();
            elapsed
        },
        |n| {
            let open: Vec<HashMapSnapshot> = (0..OPEN).map(|_| watched.snapshot()).collect();
            let elapsed = timed(|| puts(&watched, &keys, &records, n));
            drop(open);
            settle_allocator();
            elapsed
        },
    ));
    rows.push(compare(
        c,
        "S2r",
        "put with 4 open, then their drop (reclaim)",
        "put, none open",
        Target::TimeRatioAtMost(1.3),
        (1.0, 1.0),
        |n| timed(|| puts(&plain, &keys, &records, n)),
        |n| {
            let open: Vec<HashMapSnapshot> = (0..OPEN).map(|_| watched.snapshot()).collect();
            timed(|| {
                puts(&watched, &keys, &records, n);
                drop(open);
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
    s1(&mut c, &mut rows);
    s2(&mut c, &mut rows);
    println!("\n== snapshots: ours vs same-run baseline (median per operation) ==");
    for row in &rows {
        row.print();
    }
}
