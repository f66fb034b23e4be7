//! D8 for LMDB and RocksDB, and one table of every backend on the same
//! workload (docs/benchmarks.md, "Backends").
//!
//! * D8: our `LmdbDataStore` / `RocksDbDataStore` against the raw crate
//!   (heed / rust-rocksdb) doing the same work on the same bytes: a put
//!   (one transaction or write each), a get (read and decode the record),
//!   a scan page of 1000 entries (walk the range, decode keys and records)
//!   and a batch of 1000 puts (one transaction / `WriteBatch`). As for the
//!   redb row (`--bench datastores`), the raw side encodes and decodes with
//!   the same format functions in the loop (into reused buffers), so the
//!   ratio is the data-store layer's own cost: the async call, the state
//!   lock, the group-commit queue, the long-key check. A reference row
//!   (D8r) gives the raw batch pre-encoded bytes instead: what encoding
//!   the records costs on top.
//!   Both sides at durability `os` (LMDB `MDB_NOSYNC`, RocksDB `sync =
//!   false`), the same options otherwise.
//! * The table: put, get, batch and scan per entry for memory, redb, LMDB
//!   and RocksDB through `MapDataStore`, at durability `os` (and put at
//!   `fsync`), 100,000 records of 16-byte keys and 64-byte values.
//!
//! Run with `make bench`, or `cargo bench -p topgun-storage-core --bench
//! backends --features lmdb,rocksdb` (the Makefile adds the variables that
//! link the system librocksdb).

// The raw heed baseline opens its own environment, which heed marks
// `unsafe` (the store does it in src/datastores/lmdb/env.rs).
#![allow(unsafe_code)]

mod data;
mod support;

use criterion::Criterion;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};
use support::{compare, fmt_ns, measure, Indices, Row, Target};
use topgun_storage_core::datastores::format::{
    decode_record, encode_key, encode_record, encode_record_into, map_prefix, map_prefix_into,
    prefix_successor,
};
use topgun_storage_core::datastores::{
    LmdbDataStore, LmdbOptions, RedbDataStore, RedbOptions, RocksDbDataStore, RocksDbOptions,
};
use topgun_storage_core::{
    block_on, Durability, MapDataStore, MemoryDataStore, Namespace, ScanRequest, StoredRecord,
};

/// Records loaded before the reads.
const N: usize = 100_000;
/// Entries per scan page and per batch.
const PAGE: usize = 1_000;
const MAP: &str = "bench";
const NS: Namespace = Namespace::Primary;
/// D8 target: ours / raw per operation.
const D8_TARGET: f64 = 1.2;

fn timed(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

/// The workload: keys, their records, and the bytes the shared format
/// stores for them.
struct Workload {
    keys: Vec<String>,
    records: Vec<StoredRecord>,
    raw_keys: Vec<Vec<u8>>,
    raw_values: Vec<Vec<u8>>,
    /// Batches of `PAGE` consecutive entries.
    batches: Vec<Vec<(String, StoredRecord)>>,
}

impl Workload {
    fn new() -> Self {
        let keys = data::keys(N);
        let records: Vec<StoredRecord> = (0..N)
            .map(|i| StoredRecord::new(data::value(i), 1_700_000_000_000))
            .collect();
        let raw_keys = keys.iter().map(|k| encode_key(NS, MAP, k)).collect();
        let raw_values = records
            .iter()
            .map(|r| encode_record(r).expect("a small record encodes"))
            .collect();
        let batches = (0..N / PAGE)
            .map(|b| {
                (b * PAGE..(b + 1) * PAGE)
                    .map(|i| (keys[i].clone(), records[i].clone()))
                    .collect()
            })
            .collect();
        Self {
            keys,
            records,
            raw_keys,
            raw_values,
            batches,
        }
    }

    fn load(&self, store: &dyn MapDataStore) {
        for batch in &self.batches {
            block_on(store.add_all(MAP, NS, batch)).expect("loading the data set");
        }
    }
}

/// What a raw crate does for one operation of each kind.
trait Raw {
    fn put(&self, key: &[u8], value: &[u8]);
    fn get(&self, key: &[u8]) -> Option<StoredRecord>;
    /// Up to `PAGE` entries after `after`, with their keys and records
    /// decoded.
    fn page(&self, after: &[u8]) -> Vec<(String, StoredRecord)>;
    fn batch(&self, entries: &[(&[u8], &[u8])]);
}

/// What a user of the raw crate does to store our data: the shared format's
/// key and record encodings, into buffers reused from call to call.
#[derive(Default)]
struct Encoder {
    key: Vec<u8>,
    value: Vec<u8>,
    /// A batch's keys and records, back to back, and where each ends.
    arena: Vec<u8>,
    ends: Vec<(usize, usize)>,
}

impl Encoder {
    fn key(&mut self, key: &str) -> &[u8] {
        self.key.clear();
        map_prefix_into(NS, MAP, &mut self.key);
        self.key.extend_from_slice(key.as_bytes());
        &self.key
    }

    fn entry(&mut self, key: &str, record: &StoredRecord) -> (&[u8], &[u8]) {
        self.key(key);
        self.value.clear();
        encode_record_into(record, &mut self.value).expect("a small record encodes");
        (&self.key, &self.value)
    }

    fn batch(&mut self, entries: &[(String, StoredRecord)]) -> Vec<(&[u8], &[u8])> {
        self.arena.clear();
        self.ends.clear();
        for (key, record) in entries {
            map_prefix_into(NS, MAP, &mut self.arena);
            self.arena.extend_from_slice(key.as_bytes());
            let key_end = self.arena.len();
            encode_record_into(record, &mut self.arena).expect("a small record encodes");
            self.ends.push((key_end, self.arena.len()));
        }
        let mut start = 0;
        self.ends
            .iter()
            .map(|&(key_end, end)| {
                let entry = (&self.arena[start..key_end], &self.arena[key_end..end]);
                start = end;
                entry
            })
            .collect()
    }
}

/// The user key of a stored key of `MAP` (what a raw scan must produce).
fn user_key(stored: &[u8]) -> String {
    let prefix = encode_key(NS, MAP, "").len();
    String::from_utf8(stored[prefix..].to_vec()).expect("keys are UTF-8")
}

/// The first stored key after every key of `MAP`.
fn map_end() -> Vec<u8> {
    prefix_successor(&map_prefix(NS, MAP)).expect("a map prefix has a successor")
}

fn decoded(value: &[u8]) -> StoredRecord {
    decode_record(value).expect("the workload's records decode")
}

struct RawLmdb {
    env: heed::Env<heed::WithoutTls>,
    db: heed::Database<heed::types::Bytes, heed::types::Bytes>,
}

impl RawLmdb {
    fn open(dir: &Path) -> Self {
        let mut options = heed::EnvOpenOptions::new().read_txn_without_tls();
        options.map_size(1 << 30).max_dbs(2);
        // SAFETY: NO_SYNC only drops the commit fsync (the `os` level the
        // store runs at); the directory is a fresh temporary one this
        // benchmark alone uses, opened once.
        let env = unsafe {
            options.flags(heed::EnvFlags::NO_SYNC);
            options.open(dir)
        }
        .expect("raw LMDB environment");
        let mut txn = env.write_txn().expect("write txn");
        let db = env
            .create_database(&mut txn, Some("records"))
            .expect("raw LMDB database");
        txn.commit().expect("commit");
        Self { env, db }
    }
}

impl Raw for RawLmdb {
    fn put(&self, key: &[u8], value: &[u8]) {
        let mut txn = self.env.write_txn().expect("write txn");
        self.db.put(&mut txn, key, value).expect("put");
        txn.commit().expect("commit");
    }

    fn get(&self, key: &[u8]) -> Option<StoredRecord> {
        let txn = self.env.read_txn().expect("read txn");
        self.db.get(&txn, key).expect("get").map(decoded)
    }

    fn page(&self, after: &[u8]) -> Vec<(String, StoredRecord)> {
        let txn = self.env.read_txn().expect("read txn");
        let end = map_end();
        let range = (
            std::ops::Bound::Excluded(after),
            std::ops::Bound::Excluded(end.as_slice()),
        );
        self.db
            .range(&txn, &range)
            .expect("range")
            .take(PAGE)
            .map(|item| {
                let (k, v) = item.expect("entry");
                (user_key(k), decoded(v))
            })
            .collect()
    }

    fn batch(&self, entries: &[(&[u8], &[u8])]) {
        let mut txn = self.env.write_txn().expect("write txn");
        for (k, v) in entries {
            self.db.put(&mut txn, k, v).expect("put");
        }
        txn.commit().expect("commit");
    }
}

struct RawRocks {
    db: rocksdb::DB,
    write: rocksdb::WriteOptions,
}

impl RawRocks {
    /// The options `RocksDbDataStore` opens with.
    fn open(dir: &Path) -> Self {
        let defaults = RocksDbOptions::default();
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        opts.set_paranoid_checks(true);
        opts.set_wal_recovery_mode(rocksdb::DBRecoveryMode::TolerateCorruptedTailRecords);
        opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        opts.set_bottommost_compression_type(rocksdb::DBCompressionType::Zstd);
        opts.set_write_buffer_size(defaults.write_buffer_size);
        opts.increase_parallelism(defaults.background_threads);
        let db = rocksdb::DB::open(&opts, dir).expect("raw RocksDB");
        let mut write = rocksdb::WriteOptions::default();
        write.set_sync(false);
        Self { db, write }
    }
}

impl Raw for RawRocks {
    fn put(&self, key: &[u8], value: &[u8]) {
        self.db.put_opt(key, value, &self.write).expect("put");
    }

    fn get(&self, key: &[u8]) -> Option<StoredRecord> {
        self.db.get_pinned(key).expect("get").map(|v| decoded(&v))
    }

    fn page(&self, after: &[u8]) -> Vec<(String, StoredRecord)> {
        let mut read = rocksdb::ReadOptions::default();
        read.set_iterate_upper_bound(map_end());
        let mut iter = self.db.raw_iterator_opt(read);
        iter.seek(after);
        if iter.key() == Some(after) {
            iter.next();
        }
        let mut out = Vec::with_capacity(PAGE);
        while let Some((k, v)) = iter.item() {
            if out.len() == PAGE {
                break;
            }
            out.push((user_key(k), decoded(v)));
            iter.next();
        }
        iter.status().expect("scan");
        out
    }

    fn batch(&self, entries: &[(&[u8], &[u8])]) {
        let mut batch = rocksdb::WriteBatch::default();
        for (k, v) in entries {
            batch.put(k, v);
        }
        self.db.write_opt(batch, &self.write).expect("write");
    }
}

/// Ours, through `MapDataStore`, for each kind of operation.
fn ours_put(store: &dyn MapDataStore, w: &Workload, n: u64, seed: u64) -> Duration {
    let mut ix = Indices::new(seed);
    timed(|| {
        for _ in 0..n {
            let i = ix.next(N);
            block_on(store.add(MAP, NS, &w.keys[i], &w.records[i])).expect("put");
        }
    })
}

fn ours_get(store: &dyn MapDataStore, w: &Workload, n: u64) -> Duration {
    let mut ix = Indices::new(11);
    timed(|| {
        for _ in 0..n {
            let i = ix.next(N);
            black_box(block_on(store.load(MAP, NS, &w.keys[i])).expect("get"));
        }
    })
}

fn ours_page(store: &dyn MapDataStore, w: &Workload, n: u64) -> Duration {
    let mut ix = Indices::new(13);
    timed(|| {
        for _ in 0..n {
            let after = &w.keys[ix.next(N - PAGE)];
            let request = ScanRequest::entries(MAP, NS, PAGE).resume_after(Some(after));
            black_box(block_on(store.scan(&request)).expect("scan"));
        }
    })
}

fn ours_batch(store: &dyn MapDataStore, w: &Workload, n: u64) -> Duration {
    let mut ix = Indices::new(17);
    timed(|| {
        for _ in 0..n {
            let batch = &w.batches[ix.next(w.batches.len())];
            block_on(store.add_all(MAP, NS, batch)).expect("batch");
        }
    })
}

/// The four D8 rows of one backend: ours against its raw crate.
fn d8(
    c: &mut Criterion,
    rows: &mut Vec<Row>,
    name: &str,
    raw_name: &str,
    store: &dyn MapDataStore,
    raw: &dyn Raw,
    w: &Workload,
) {
    let raw_batches: Vec<Vec<(&[u8], &[u8])>> = (0..N / PAGE)
        .map(|b| {
            (b * PAGE..(b + 1) * PAGE)
                .map(|i| (w.raw_keys[i].as_slice(), w.raw_values[i].as_slice()))
                .collect()
        })
        .collect();
    let target = Target::TimeRatioAtMost(D8_TARGET);
    let enc = std::cell::RefCell::new(Encoder::default());
    rows.push(compare(
        c,
        "D8",
        &format!("{name} put (os), 1 txn each"),
        raw_name,
        target,
        (1.0, 1.0),
        |n| {
            let mut ix = Indices::new(5);
            let enc = &mut *enc.borrow_mut();
            timed(|| {
                for _ in 0..n {
                    let i = ix.next(N);
                    let (key, value) = enc.entry(&w.keys[i], &w.records[i]);
                    raw.put(key, value);
                }
            })
        },
        |n| ours_put(store, w, n, 5),
    ));
    rows.push(compare(
        c,
        "D8",
        &format!("{name} get + decode, 100k"),
        raw_name,
        target,
        (1.0, 1.0),
        |n| {
            let mut ix = Indices::new(11);
            let enc = &mut *enc.borrow_mut();
            timed(|| {
                for _ in 0..n {
                    black_box(raw.get(enc.key(&w.keys[ix.next(N)])));
                }
            })
        },
        |n| ours_get(store, w, n),
    ));
    rows.push(compare(
        c,
        "D8",
        &format!("{name} scan page of 1000, per entry"),
        raw_name,
        target,
        (PAGE as f64, PAGE as f64),
        |n| {
            let mut ix = Indices::new(13);
            let enc = &mut *enc.borrow_mut();
            timed(|| {
                for _ in 0..n {
                    black_box(raw.page(enc.key(&w.keys[ix.next(N - PAGE)])));
                }
            })
        },
        |n| ours_page(store, w, n),
    ));
    rows.push(compare(
        c,
        "D8",
        &format!("{name} batch of 1000 puts, per entry"),
        raw_name,
        target,
        (PAGE as f64, PAGE as f64),
        |n| {
            let mut ix = Indices::new(17);
            let enc = &mut *enc.borrow_mut();
            timed(|| {
                for _ in 0..n {
                    let batch = enc.batch(&w.batches[ix.next(w.batches.len())]);
                    raw.batch(&batch);
                }
            })
        },
        |n| ours_batch(store, w, n),
    ));
    rows.push(compare(
        c,
        "D8r",
        &format!("{name} batch, raw side on pre-encoded bytes"),
        raw_name,
        Target::Reference,
        (PAGE as f64, PAGE as f64),
        |n| {
            let mut ix = Indices::new(17);
            timed(|| {
                for _ in 0..n {
                    raw.batch(&raw_batches[ix.next(raw_batches.len())]);
                }
            })
        },
        |n| ours_batch(store, w, n),
    ));
}

/// One line of the backend table: per-entry median times.
struct TableLine {
    backend: &'static str,
    put_os: f64,
    put_fsync: Option<f64>,
    get: f64,
    batch: f64,
    scan: f64,
}

fn table_line(
    c: &mut Criterion,
    backend: &'static str,
    store: &dyn MapDataStore,
    fsync_store: Option<&dyn MapDataStore>,
    w: &Workload,
) -> TableLine {
    let id = |what: &str| format!("{backend} {what}");
    let slow = &mut Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .without_plots()
        .configure_from_args();
    TableLine {
        backend,
        put_os: measure(c, &id("put (os)"), 1.0, |n| ours_put(store, w, n, 23)),
        put_fsync: fsync_store
            .map(|s| measure(slow, &id("put (fsync)"), 1.0, |n| ours_put(s, w, n, 29))),
        get: measure(c, &id("get"), 1.0, |n| ours_get(store, w, n)),
        batch: measure(c, &id("batch of 1000"), PAGE as f64, |n| {
            ours_batch(store, w, n)
        }),
        scan: measure(c, &id("scan page of 1000"), PAGE as f64, |n| {
            ours_page(store, w, n)
        }),
    }
}

fn print_table(lines: &[TableLine]) {
    println!(
        "\n== backends through MapDataStore: median per entry, {N} records, 16-byte keys, \
         64-byte values =="
    );
    println!(
        "{:<8} {:>11} {:>12} {:>11} {:>14} {:>14}",
        "backend", "put (os)", "put (fsync)", "get", "batch (1000)", "scan (1000)"
    );
    for l in lines {
        println!(
            "{:<8} {:>11} {:>12} {:>11} {:>14} {:>14}",
            l.backend,
            fmt_ns(l.put_os),
            l.put_fsync.map_or_else(|| "-".to_owned(), fmt_ns),
            fmt_ns(l.get),
            fmt_ns(l.batch),
            fmt_ns(l.scan),
        );
    }
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .without_plots()
        .configure_from_args();
    let w = Workload::new();
    let dir = tempfile::tempdir().expect("temporary directory");
    let os = Durability::Os;

    let fsync = Durability::Fsync;
    let lmdb = LmdbDataStore::open(dir.path().join("lmdb"), LmdbOptions::with_durability(os))
        .expect("LMDB store");
    let lmdb_fsync = LmdbDataStore::open(
        dir.path().join("lmdb-fsync"),
        LmdbOptions::with_durability(fsync),
    )
    .expect("LMDB store (fsync)");
    let rocks = RocksDbDataStore::open(
        dir.path().join("rocksdb"),
        RocksDbOptions::with_durability(os),
    )
    .expect("RocksDB store");
    let rocks_fsync = RocksDbDataStore::open(
        dir.path().join("rocksdb-fsync"),
        RocksDbOptions::with_durability(fsync),
    )
    .expect("RocksDB store (fsync)");
    let redb = RedbDataStore::open(dir.path().join("os.redb"), RedbOptions::with_durability(os))
        .expect("redb store");
    let redb_fsync = RedbDataStore::open(
        dir.path().join("fsync.redb"),
        RedbOptions::with_durability(fsync),
    )
    .expect("redb store (fsync)");
    let memory = MemoryDataStore::new();
    let raw_lmdb_dir = dir.path().join("raw-lmdb");
    std::fs::create_dir_all(&raw_lmdb_dir).expect("raw LMDB directory");
    let raw_lmdb = RawLmdb::open(&raw_lmdb_dir);
    let raw_rocks = RawRocks::open(&dir.path().join("raw-rocksdb"));

    let started = Instant::now();
    for store in [
        &lmdb as &dyn MapDataStore,
        &lmdb_fsync,
        &rocks,
        &rocks_fsync,
        &redb,
        &redb_fsync,
        &memory,
    ] {
        w.load(store);
    }
    for (k, v) in w.raw_keys.iter().zip(&w.raw_values) {
        raw_rocks.put(k, v);
    }
    let everything: Vec<(&[u8], &[u8])> = w
        .raw_keys
        .iter()
        .map(Vec::as_slice)
        .zip(w.raw_values.iter().map(Vec::as_slice))
        .collect();
    raw_lmdb.batch(&everything);
    println!(
        "(loaded {N} records into 7 stores and 2 raw databases in {:.1} s)",
        started.elapsed().as_secs_f64()
    );

    let mut rows = Vec::new();
    d8(&mut c, &mut rows, "LMDB", "heed", &lmdb, &raw_lmdb, &w);
    d8(
        &mut c,
        &mut rows,
        "RocksDB",
        "rust-rocksdb",
        &rocks,
        &raw_rocks,
        &w,
    );

    let lines = vec![
        table_line(&mut c, "memory", &memory, None, &w),
        table_line(&mut c, "redb", &redb, Some(&redb_fsync), &w),
        table_line(&mut c, "LMDB", &lmdb, Some(&lmdb_fsync), &w),
        table_line(&mut c, "RocksDB", &rocks, Some(&rocks_fsync), &w),
    ];

    println!("\n== D8: ours vs the raw crate, same run (median per operation) ==");
    for row in &rows {
        row.print();
    }
    print_table(&lines);
}
