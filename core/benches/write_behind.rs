//! D3: write-behind against same-run baselines.
//!
//! * D3: `RecordStore::put` (overwrites of 100k keys) into a store over
//!   `WriteBehindDataStore<RedbDataStore>`, write-ahead log on at `os`,
//!   background drain running, against the same put into an in-memory
//!   record store (no data store). Target <= 1.5x.
//! * D3w: the same at the data-store level: `WriteBehindDataStore::add`
//!   (log on, `os`) against `MemoryDataStore::add`. For reading D3.
//! * D3d: the drain rate: storing 100k queued keys with `hard_flush`
//!   (batches of 1000) against writing the same records into a fresh redb
//!   store with `write` batches of 1000 (the backend's batch-write rate).
//!   Target >= 0.8x of the backend's rate.
//!
//! Run with `cargo bench -p topgun-storage-core --bench write_behind`.

mod data;
mod support;

use criterion::Criterion;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{compare, Indices, Row, Target};
use topgun_storage_core::{
    block_on, CallerProvenance, CompositeMutationObserver, DefaultRecordStore, Durability,
    ExpiryPolicy, HashMapStorage, MapDataStore, MemoryDataStore, Namespace, NullDataStore,
    RecordStore, RedbDataStore, RedbOptions, StorageConfig, StoredRecord, WriteBehindConfig,
    WriteBehindDataStore, WriteOp,
};

const POINT: usize = 100_000;
const DRAIN_KEYS: usize = 100_000;
const DRAIN_BATCH: usize = 1000;
const DRAIN_ROUNDS: usize = 7;

fn timed(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

fn redb(dir: &std::path::Path) -> RedbDataStore {
    RedbDataStore::open(
        dir.join("store.redb"),
        RedbOptions {
            durability: Durability::Os,
            ..RedbOptions::default()
        },
    )
    .expect("a fresh redb store opens")
}

fn write_behind_config(dir: &std::path::Path, background: bool) -> WriteBehindConfig {
    WriteBehindConfig {
        capacity: 1 << 22,
        batch_size: DRAIN_BATCH,
        background_drain: background,
        ..WriteBehindConfig::with_log(dir.join("wal"), Durability::Os)
    }
}

fn record_store(data_store: Arc<dyn MapDataStore>) -> DefaultRecordStore {
    DefaultRecordStore::new(
        "bench".into(),
        0,
        Box::new(HashMapStorage::new()),
        data_store,
        Arc::new(CompositeMutationObserver::default()),
        StorageConfig::default(),
    )
}

fn puts(c: &mut Criterion, rows: &mut Vec<Row>) {
    let keys = data::keys(POINT);
    let values: Vec<_> = (0..POINT).map(data::value).collect();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let wb = WriteBehindDataStore::open(redb(dir.path()), write_behind_config(dir.path(), true))
        .expect("write-behind opens");
    let wb: Arc<dyn MapDataStore> = Arc::new(wb);
    let memory = record_store(Arc::new(NullDataStore));
    let behind = record_store(Arc::clone(&wb));
    let put = |store: &DefaultRecordStore, i: usize| {
        block_on(store.put(
            &keys[i],
            values[i].clone(),
            ExpiryPolicy::NONE,
            CallerProvenance::Client,
        ))
        .expect("put succeeds");
    };
    for i in 0..POINT {
        put(&memory, i);
        put(&behind, i);
    }
    rows.push(compare(
        c,
        "D3",
        "RecordStore::put over write-behind+WAL(os)+redb",
        "in-memory RecordStore::put",
        Target::TimeRatioAtMost(1.5),
        (1.0, 1.0),
        |n| {
            let mut ix = Indices::new(11);
            timed(|| {
                for _ in 0..n {
                    put(&memory, black_box(ix.next(POINT)));
                }
            })
        },
        |n| {
            let mut ix = Indices::new(11);
            timed(|| {
                for _ in 0..n {
                    put(&behind, black_box(ix.next(POINT)));
                }
            })
        },
    ));

    let stored: Vec<StoredRecord> = (0..POINT)
        .map(|i| StoredRecord::new(data::value(i), 1_700_000_000_000))
        .collect();
    let mem = MemoryDataStore::new();
    rows.push(compare(
        c,
        "D3w",
        "WriteBehindDataStore::add, WAL(os), over redb",
        "MemoryDataStore::add",
        Target::TimeRatioAtMost(1.5),
        (1.0, 1.0),
        |n| {
            let mut ix = Indices::new(13);
            timed(|| {
                for _ in 0..n {
                    let i = ix.next(POINT);
                    block_on(mem.add("bench", Namespace::Primary, &keys[i], &stored[i]))
                        .expect("memory add");
                }
            })
        },
        |n| {
            let mut ix = Indices::new(13);
            timed(|| {
                for _ in 0..n {
                    let i = ix.next(POINT);
                    block_on(wb.add("bench", Namespace::Primary, &keys[i], &stored[i]))
                        .expect("write-behind add");
                }
            })
        },
    ));
    block_on(wb.close()).expect("write-behind closes");
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// D3d: interleaved rounds of "redb takes 100k records in batches of 1000"
/// and "the drain stores 100k queued keys", each into a fresh store.
fn drain_rate() -> Row {
    let keys = data::keys(DRAIN_KEYS);
    let stored: Vec<StoredRecord> = (0..DRAIN_KEYS)
        .map(|i| StoredRecord::new(data::value(i), 1_700_000_000_000))
        .collect();
    let mut backend = Vec::new();
    let mut drain = Vec::new();
    for round in 0..DRAIN_ROUNDS {
        let direct = || {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let store = redb(dir.path());
            let t = timed(|| {
                for chunk in (0..DRAIN_KEYS).collect::<Vec<_>>().chunks(DRAIN_BATCH) {
                    let ops: Vec<WriteOp<'_>> = chunk
                        .iter()
                        .map(|&i| WriteOp::Put {
                            key: &keys[i],
                            record: &stored[i],
                        })
                        .collect();
                    block_on(store.write("bench", Namespace::Primary, &ops)).expect("redb write");
                }
            });
            block_on(store.close()).expect("redb closes");
            t
        };
        let drained = || {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let wb = WriteBehindDataStore::open(
                redb(dir.path()),
                write_behind_config(dir.path(), false),
            )
            .expect("write-behind opens");
            for i in 0..DRAIN_KEYS {
                block_on(wb.add("bench", Namespace::Primary, &keys[i], &stored[i]))
                    .expect("queued");
            }
            let t = timed(|| block_on(wb.hard_flush()).expect("drained"));
            assert_eq!(wb.pending_operation_count(), 0);
            block_on(wb.close()).expect("write-behind closes");
            t
        };
        // Alternate which goes first; drop round 0 as warm-up.
        let (b, d) = if round % 2 == 0 {
            let b = direct();
            (b, drained())
        } else {
            let d = drained();
            (direct(), d)
        };
        if round > 0 {
            backend.push(b);
            drain.push(d);
        }
    }
    let n = DRAIN_KEYS as f64;
    let row = Row {
        id: "D3d".into(),
        what: "drain rate: hard_flush of 100k queued keys".into(),
        baseline_name: "redb write, batches of 1000".into(),
        baseline_ns: median(backend).as_nanos() as f64 / n,
        ours_ns: median(drain).as_nanos() as f64 / n,
        target: Target::SpeedupAtLeast(0.8),
    };
    row.print();
    row
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .without_plots()
        .configure_from_args();
    let mut rows = Vec::new();
    puts(&mut c, &mut rows);
    rows.push(drain_rate());
    println!("\n== write-behind: ours vs same-run baseline (median per operation) ==");
    for row in &rows {
        row.print();
    }
}
