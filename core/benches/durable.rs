//! D1, D2 and D4: the record store over redb against redb doing the same
//! work by hand, in the same run (docs/benchmarks.md).
//!
//! * **D1**, write-through put at durability `os`: `RecordStore::put` of a
//!   `Client` write to a store over `RedbDataStore` (one commit per put,
//!   then memory). Baseline: raw redb, one write transaction per put,
//!   inserting the same bytes (the key and record encoded in the loop with
//!   the shared on-disk format), committed at redb's `Immediate` durability
//!   over a file backend whose `sync_data` does nothing: exactly what the
//!   `os` level does (every page written to the OS, no device flush).
//! * **D2**, a get that misses memory and loads from redb: `get` of keys
//!   not in memory, in a store whose memory holds 50,000 other records
//!   (what a batch loaded is evicted again between measured batches,
//!   outside the timing), so each one looks in memory, takes the key's
//!   write-order stripe, loads, decodes, and keeps the record clean.
//!   Baseline: raw redb read transaction, `get` and decode of the same
//!   bytes. A reference row (no target) measures the steady state of a
//!   store whose memory holds 1,000 of the 100,000 records: each miss also
//!   evicts one record.
//! * **D4**, open an existing store and read one key: `RedbDataStore::open`
//!   of a cleanly closed file, `MapStorage::with_data_store` over it, and a
//!   `load` of a key (loaded from disk), with 200,000 records against the
//!   same with 200 (1/1000): the ratio shows whether opening grows with
//!   the data.
//!
//! Run with `cargo bench -p topgun-storage-core --bench durable`.

mod data;
mod support;

use criterion::Criterion;
use std::fs::OpenOptions;
use std::hint::black_box;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{compare, Indices, Row, Target};
use tempfile::TempDir;
use topgun_storage_core::datastores::format;
use topgun_storage_core::redb::backends::FileBackend;
use topgun_storage_core::redb::{
    self, Database, ReadableDatabase, StorageBackend, TableDefinition,
};
use topgun_storage_core::{
    block_on, CallerProvenance, DefaultRecordStore, Durability, EvictionPolicy, ExpiryPolicy,
    MapDataStore, MapStorage, Namespace, RecordStore, RedbDataStore, RedbOptions, StorageConfig,
    StoredRecord,
};

const POINT: usize = 100_000;
const RAW: TableDefinition<&[u8], &[u8]> = TableDefinition::new("raw");
const NS: Namespace = Namespace::Primary;
const MAP: &str = "m";
const T: i64 = 1_700_000_000_000;

fn record(i: usize) -> StoredRecord {
    StoredRecord::new(data::value(i), T)
}

/// A file backend whose `sync_data` does nothing: redb's `Immediate`
/// commit over it is the `os` durability level.
#[derive(Debug)]
struct NoSync(FileBackend);

impl StorageBackend for NoSync {
    fn len(&self) -> Result<u64, io::Error> {
        self.0.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        self.0.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        self.0.set_len(len)
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        self.0.write(offset, data)
    }
}

/// Raw redb holding exactly the bytes `RedbDataStore` holds.
struct Raw {
    db: Database,
}

impl Raw {
    fn new(path: &Path, keys: &[String]) -> Self {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .expect("raw file");
        let db = redb::Builder::new()
            .set_cache_size(64 << 20)
            .create_with_backend(NoSync(FileBackend::new(file).expect("backend")))
            .expect("raw redb");
        let raw = Self { db };
        let txn = raw.db.begin_write().expect("write");
        {
            let mut t = txn.open_table(RAW).expect("table");
            for (i, k) in keys.iter().enumerate() {
                let value = format::encode_record(&record(i)).expect("encode");
                t.insert(format::encode_key(NS, MAP, k).as_slice(), value.as_slice())
                    .expect("insert");
            }
        }
        txn.commit().expect("commit");
        raw
    }

    /// One write transaction, committed at `os`, inserting `key`'s record.
    fn put(&self, key: &str, record: &StoredRecord) {
        let txn = self.db.begin_write().expect("write");
        {
            let mut t = txn.open_table(RAW).expect("table");
            let value = format::encode_record(record).expect("encode");
            t.insert(
                format::encode_key(NS, MAP, key).as_slice(),
                value.as_slice(),
            )
            .expect("insert");
        }
        txn.commit().expect("commit");
    }

    fn get(&self, key: &str) {
        let txn = self.db.begin_read().expect("read");
        let t = txn.open_table(RAW).expect("table");
        let guard = t
            .get(format::encode_key(NS, MAP, key).as_slice())
            .expect("get")
            .expect("hit");
        black_box(format::decode_record(guard.value()).expect("decode"));
    }
}

fn timed(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

/// A `RedbDataStore` at `durability` in `path` holding `keys`' records.
fn filled_store(path: &Path, keys: &[String], durability: Durability) -> RedbDataStore {
    let store = RedbDataStore::open(path, RedbOptions::with_durability(durability)).expect("ours");
    for (n, chunk) in keys.chunks(10_000).enumerate() {
        let entries: Vec<(String, StoredRecord)> = chunk
            .iter()
            .enumerate()
            .map(|(i, k)| (k.clone(), record(n * 10_000 + i)))
            .collect();
        block_on(store.add_all(MAP, NS, &entries)).expect("fill");
    }
    block_on(store.flush()).expect("flush");
    store
}

/// A record store of `MAP` over `store`, memory bounded as `config` says.
fn record_store(store: Arc<dyn MapDataStore>, config: StorageConfig) -> DefaultRecordStore {
    DefaultRecordStore::standalone_over(MAP, config, store, None)
}

fn d1(c: &mut Criterion, dir: &TempDir, keys: &[String]) -> Row {
    let raw = Raw::new(&dir.path().join("d1-raw.redb"), keys);
    let ours = record_store(
        Arc::new(filled_store(
            &dir.path().join("d1-ours.redb"),
            keys,
            Durability::Os,
        )),
        StorageConfig::default(),
    );
    let (mut raw_i, mut our_i) = (Indices::new(3), Indices::new(3));
    compare(
        c,
        "D1",
        "write-through put, redb, durability os",
        "raw redb txn of the same bytes, os",
        Target::TimeRatioAtMost(1.2),
        (1.0, 1.0),
        |iters| {
            timed(|| {
                for _ in 0..iters {
                    let i = raw_i.next(POINT);
                    raw.put(&keys[i], &record(i));
                }
            })
        },
        |iters| {
            timed(|| {
                for _ in 0..iters {
                    let i = our_i.next(POINT);
                    let put = ours.put(
                        &keys[i],
                        data::value(i),
                        ExpiryPolicy::NONE,
                        CallerProvenance::Client,
                    );
                    black_box(block_on(put).expect("put"));
                }
            })
        },
    )
}

fn d2(c: &mut Criterion, dir: &TempDir, keys: &[String], rows: &mut Vec<Row>) {
    let raw = Raw::new(&dir.path().join("d2-raw.redb"), keys);
    let disk: Arc<dyn MapDataStore> = Arc::new(filled_store(
        &dir.path().join("d2-ours.redb"),
        keys,
        Durability::Os,
    ));
    let ours = record_store(Arc::clone(&disk), StorageConfig::default());
    // Memory holds the upper half of the data set throughout (a cache at its
    // working size); the measured gets read the lower half in a fixed random
    // order, and the keys a batch loaded are evicted again, untimed, before
    // the next batch, so every measured get is a miss.
    const RESIDENT: usize = POINT / 2;
    for key in &keys[RESIDENT..] {
        block_on(ours.get(key, false)).expect("warm");
    }
    let mut order: Vec<usize> = (0..RESIDENT).collect();
    let mut shuffle = Indices::new(5);
    for i in (1..RESIDENT).rev() {
        order.swap(i, shuffle.next(i + 1));
    }
    let mut raw_i = Indices::new(9);
    let mut next = 0usize;
    rows.push(compare(
        c,
        "D2",
        "get that misses memory, loads from redb",
        "raw redb get + decode, same bytes",
        Target::TimeRatioAtMost(1.2),
        (1.0, 1.0),
        |iters| timed(|| (0..iters).for_each(|_| raw.get(&keys[raw_i.next(POINT)]))),
        |iters| {
            let mut total = Duration::ZERO;
            let mut left = iters as usize;
            while left > 0 {
                // At most the lower half per timed run, so no key repeats.
                let run = left.min(RESIDENT - next % RESIDENT);
                let batch = &order[next % RESIDENT..next % RESIDENT + run];
                total += timed(|| {
                    for &i in batch {
                        black_box(block_on(ours.get(&keys[i], false)).expect("get"));
                    }
                });
                for &i in batch {
                    ours.evict(&keys[i], false);
                }
                next += run;
                left -= run;
            }
            total
        },
    ));
    // Steady state of a bounded cache: 1% of the data in memory.
    let bounded = record_store(
        disk,
        StorageConfig {
            max_entry_count: 1_000,
            eviction_policy: EvictionPolicy::Lru,
            ..StorageConfig::default()
        },
    );
    let (mut raw_i, mut our_i) = (Indices::new(13), Indices::new(13));
    rows.push(compare(
        c,
        "D2r",
        "miss in a store holding 1% (load + evict one)",
        "raw redb get + decode, same bytes",
        Target::Reference,
        (1.0, 1.0),
        |iters| timed(|| (0..iters).for_each(|_| raw.get(&keys[raw_i.next(POINT)]))),
        |iters| {
            timed(|| {
                for _ in 0..iters {
                    let key = &keys[our_i.next(POINT)];
                    black_box(block_on(bounded.get(key, false)).expect("get"));
                }
            })
        },
    ));
}

/// Opens the store at `path`, builds the durable `MapStorage` over it and
/// loads one key; the store is closed after the timing.
fn open_and_get(path: &Path, key: &str) -> Duration {
    let started = Instant::now();
    let store =
        RedbDataStore::open(path, RedbOptions::with_durability(Durability::Os)).expect("open");
    let storage = MapStorage::with_data_store(Arc::new(store), StorageConfig::default());
    black_box(storage.load(MAP, key).expect("load").expect("found"));
    let took = started.elapsed();
    storage.close().expect("close");
    took
}

fn d4(c: &mut Criterion, dir: &TempDir) -> Row {
    const BIG: usize = 200_000;
    const SMALL: usize = BIG / 1000;
    let keys = data::keys(BIG);
    let path = |n: usize| -> PathBuf { dir.path().join(format!("d4-{n}.redb")) };
    for n in [SMALL, BIG] {
        let store = filled_store(&path(n), &keys[..n], Durability::None);
        block_on(store.close()).expect("close");
    }
    let (big, small) = (path(BIG), path(SMALL));
    let (mut big_i, mut small_i) = (Indices::new(17), Indices::new(17));
    compare(
        c,
        "D4",
        "open a 200k-record store, first get",
        "the same with 200 records",
        Target::TimeRatioAtMost(2.0),
        (1.0, 1.0),
        |iters| {
            (0..iters)
                .map(|_| open_and_get(&small, &keys[small_i.next(SMALL)]))
                .sum()
        },
        |iters| {
            (0..iters)
                .map(|_| open_and_get(&big, &keys[big_i.next(BIG)]))
                .sum()
        },
    )
}

fn main() {
    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    let dir = tempfile::tempdir().expect("temp dir");
    let keys = data::keys(POINT);
    let mut rows = vec![d1(&mut c, &dir, &keys)];
    d2(&mut c, &dir, &keys, &mut rows);
    rows.push(d4(&mut c, &dir));
    println!("\n== D1, D2, D4: the record store over redb, same run (median per operation) ==");
    for row in rows.iter().filter(|r| r.ours_ns.is_finite()) {
        row.print();
    }
    c.final_summary();
}
