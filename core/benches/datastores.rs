//! D8: each durable data store against its raw crate doing the same work,
//! in the same run (docs/benchmarks.md). The redb rows compare
//! `RedbDataStore` with raw redb calls on a table holding **the same bytes**
//! (the shared on-disk format: prefixed keys, records with their expiry
//! fields and checksum), encoded and decoded in the loop with the format's
//! functions, so the ratio is the cost of the data-store layer itself:
//!
//! * put: `add` of one record, one commit per put; raw: a write
//!   transaction inserting the encoded key and record. Both at redb's
//!   `Durability::None` (ours: `Durability::None`): the figure is the
//!   layer's cost, not the disk's.
//! * get: `load` of a stored key; raw: a read transaction, a `get` and a
//!   decode of the record.
//! * scan: every key of a 100k-key map in pages of 1000 (keys only); raw: the
//!   map's key range, one read transaction per page, keys as `String`s.
//! * batch: one `write` of 1000 puts; raw: the same 1000 inserts in one write
//!   transaction.
//!
//! Two reference rows (no target) compare the same put and scan with a raw
//! table holding only the user key and the record's MessagePack value: the
//! cost of what the format adds (namespaces, expiry fields, checksum).
//!
//! Run with `cargo bench -p topgun-storage-core --bench datastores`.

mod data;
mod support;

use criterion::Criterion;
use std::hint::black_box;
use std::ops::Bound;
use std::time::{Duration, Instant};
use support::{compare, Indices, Row, Target};
use tempfile::TempDir;
use topgun_storage_core::codec::{decode_record_value, encode_record_value};
use topgun_storage_core::datastores::format;
use topgun_storage_core::redb::{self, Database, ReadableDatabase, TableDefinition};
use topgun_storage_core::{
    block_on, Durability, MapDataStore, Namespace, RedbDataStore, RedbOptions, ScanRequest,
    StoredRecord, WriteOp,
};

const POINT: usize = 100_000;
const PAGE: usize = 1000;
const BATCH: usize = 1000;
const RAW: TableDefinition<&[u8], &[u8]> = TableDefinition::new("raw");
const NS: Namespace = Namespace::Primary;
const MAP: &str = "m";

fn record(i: usize) -> StoredRecord {
    StoredRecord::new(data::value(i), 1_700_000_000_000)
}

/// What the raw table stores.
#[derive(Clone, Copy, PartialEq)]
enum Layout {
    /// Exactly what `RedbDataStore` stores.
    SameBytes,
    /// The user key and the value's MessagePack only.
    Plain,
}

/// Raw redb doing the data store's work by hand.
struct Raw {
    db: Database,
    layout: Layout,
}

impl Raw {
    fn new(dir: &TempDir, layout: Layout, keys: &[String]) -> Self {
        let name = if layout == Layout::Plain {
            "plain.redb"
        } else {
            "raw.redb"
        };
        let db = redb::Builder::new()
            .set_cache_size(64 << 20)
            .create(dir.path().join(name))
            .expect("raw redb");
        let raw = Self { db, layout };
        let records: Vec<StoredRecord> = (0..keys.len()).map(record).collect();
        raw.write(keys, &records, redb::Durability::Immediate);
        raw
    }

    fn key(&self, key: &str) -> Vec<u8> {
        match self.layout {
            Layout::SameBytes => format::encode_key(NS, MAP, key),
            Layout::Plain => key.as_bytes().to_vec(),
        }
    }

    fn value(&self, r: &StoredRecord) -> Vec<u8> {
        match self.layout {
            Layout::SameBytes => format::encode_record(r).expect("encode"),
            Layout::Plain => encode_record_value(&r.value),
        }
    }

    /// One write transaction inserting every key with its record.
    fn write(&self, keys: &[String], records: &[StoredRecord], durability: redb::Durability) {
        let mut txn = self.db.begin_write().expect("write");
        txn.set_durability(durability).expect("durability");
        {
            let mut t = txn.open_table(RAW).expect("table");
            for (k, r) in keys.iter().zip(records) {
                t.insert(self.key(k).as_slice(), self.value(r).as_slice())
                    .expect("insert");
            }
        }
        txn.commit().expect("commit");
    }

    fn get(&self, key: &str) {
        let txn = self.db.begin_read().expect("read");
        let t = txn.open_table(RAW).expect("table");
        let guard = t.get(self.key(key).as_slice()).expect("get").expect("hit");
        match self.layout {
            Layout::SameBytes => {
                black_box(format::decode_record(guard.value()).expect("decode"));
            }
            Layout::Plain => {
                black_box(decode_record_value(guard.value()).expect("decode"));
            }
        }
    }

    /// Every key of the map, one read transaction per page; returns the count.
    fn scan(&self) -> usize {
        let (start, end, strip) = match self.layout {
            Layout::SameBytes => {
                let prefix = format::map_prefix(NS, MAP);
                let end = format::prefix_successor(&prefix).expect("successor");
                (prefix.clone(), Some(end), prefix.len())
            }
            Layout::Plain => (Vec::new(), None, 0),
        };
        let mut after: Option<Vec<u8>> = None;
        let mut n = 0;
        loop {
            let txn = self.db.begin_read().expect("read");
            let t = txn.open_table(RAW).expect("table");
            let low = match &after {
                Some(a) => Bound::Excluded(a.as_slice()),
                None => Bound::Included(start.as_slice()),
            };
            let high = end
                .as_ref()
                .map_or(Bound::Unbounded, |e| Bound::Excluded(e.as_slice()));
            let page: Vec<String> = t
                .range::<&[u8]>((low, high))
                .expect("range")
                .take(PAGE)
                .map(|item| {
                    let (k, _) = item.expect("entry");
                    String::from_utf8(k.value()[strip..].to_vec()).expect("utf8")
                })
                .collect();
            n += page.len();
            match page.last() {
                Some(last) if page.len() == PAGE => after = Some(self.key(last)),
                _ => return n,
            }
        }
    }
}

fn timed(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

fn our_scan(store: &RedbDataStore) -> usize {
    let mut after: Option<String> = None;
    let mut n = 0;
    loop {
        let req = ScanRequest::keys(MAP, NS, PAGE).resume_after(after.as_deref());
        let page = block_on(store.scan(&req)).expect("scan");
        n += page.entries.len();
        match page.resume_after {
            Some(k) => after = Some(k),
            None => return n,
        }
    }
}

/// A row's id, description and baseline name.
type Name<'a> = (&'a str, &'a str, &'a str);

fn put_row(
    c: &mut Criterion,
    raw: &Raw,
    ours: &RedbDataStore,
    keys: &[String],
    (id, what, baseline): Name<'_>,
    target: Target,
) -> Row {
    let mut raw_i = Indices::new(7);
    let mut our_i = Indices::new(7);
    compare(
        c,
        id,
        what,
        baseline,
        target,
        (1.0, 1.0),
        |iters| {
            timed(|| {
                for _ in 0..iters {
                    let i = raw_i.next(POINT);
                    raw.write(&keys[i..=i], &[record(i)], redb::Durability::None);
                }
            })
        },
        |iters| {
            timed(|| {
                for _ in 0..iters {
                    let i = our_i.next(POINT);
                    block_on(ours.add(MAP, NS, &keys[i], &record(i))).expect("add");
                }
            })
        },
    )
}

fn scan_row(
    c: &mut Criterion,
    raw: &Raw,
    ours: &RedbDataStore,
    (id, what, baseline): Name<'_>,
    target: Target,
) -> Row {
    compare(
        c,
        id,
        what,
        baseline,
        target,
        (POINT as f64, POINT as f64),
        |iters| timed(|| (0..iters).for_each(|_| assert_eq!(raw.scan(), POINT))),
        |iters| timed(|| (0..iters).for_each(|_| assert_eq!(our_scan(ours), POINT))),
    )
}

fn redb_rows(c: &mut Criterion, rows: &mut Vec<Row>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let keys = data::keys(POINT);
    let same = Raw::new(&dir, Layout::SameBytes, &keys);
    let plain = Raw::new(&dir, Layout::Plain, &keys);
    let ours = RedbDataStore::open(
        dir.path().join("ours.redb"),
        RedbOptions::with_durability(Durability::None),
    )
    .expect("ours");
    let entries: Vec<(String, StoredRecord)> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| (k.clone(), record(i)))
        .collect();
    block_on(ours.add_all(MAP, NS, &entries)).expect("load ours");
    block_on(ours.flush()).expect("flush");
    let d8 = Target::TimeRatioAtMost(1.2);

    // Reads first, on the freshly loaded files; then the writes.
    let mut raw_i = Indices::new(11);
    let mut our_i = Indices::new(11);
    rows.push(compare(
        c,
        "D8",
        "redb get (100k records)",
        "raw redb get + decode, same bytes",
        d8,
        (1.0, 1.0),
        |iters| timed(|| (0..iters).for_each(|_| same.get(&keys[raw_i.next(POINT)]))),
        |iters| {
            timed(|| {
                for _ in 0..iters {
                    let key = &keys[our_i.next(POINT)];
                    black_box(block_on(ours.load(MAP, NS, key)).expect("load"));
                }
            })
        },
    ));
    rows.push(scan_row(
        c,
        &same,
        &ours,
        (
            "D8",
            "redb scan, 100k keys, pages of 1000",
            "raw redb range per page, same bytes",
        ),
        d8,
    ));
    rows.push(scan_row(
        c,
        &plain,
        &ours,
        (
            "D8r",
            "redb scan, vs key + value only",
            "raw redb range per page, plain keys",
        ),
        Target::Reference,
    ));
    rows.push(put_row(
        c,
        &same,
        &ours,
        &keys,
        (
            "D8",
            "redb put (one commit each, durability none)",
            "raw redb txn, same bytes",
        ),
        d8,
    ));
    let records: Vec<StoredRecord> = (0..BATCH).map(record).collect();
    let mut raw_round = 0usize;
    let mut our_round = 0usize;
    rows.push(compare(
        c,
        "D8",
        "redb batch of 1000 puts (one commit, none)",
        "raw redb txn of 1000 inserts, same bytes",
        d8,
        (BATCH as f64, BATCH as f64),
        |iters| {
            timed(|| {
                for _ in 0..iters {
                    let base = (raw_round * BATCH) % POINT;
                    raw_round += 1;
                    same.write(&keys[base..base + BATCH], &records, redb::Durability::None);
                }
            })
        },
        |iters| {
            timed(|| {
                for _ in 0..iters {
                    let base = (our_round * BATCH) % POINT;
                    our_round += 1;
                    let ops: Vec<WriteOp<'_>> = records
                        .iter()
                        .zip(&keys[base..base + BATCH])
                        .map(|(record, key)| WriteOp::Put { key, record })
                        .collect();
                    block_on(ours.write(MAP, NS, &ops)).expect("write");
                }
            })
        },
    ));
    rows.push(put_row(
        c,
        &plain,
        &ours,
        &keys,
        (
            "D8r",
            "redb put, vs key + value only",
            "raw redb txn, key + msgpack",
        ),
        Target::Reference,
    ));
}

fn main() {
    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    let mut rows = Vec::new();
    redb_rows(&mut c, &mut rows);
    println!("\n== D8: data stores vs their raw crate, same run (median per operation) ==");
    for row in rows.iter().filter(|r| r.ours_ns.is_finite()) {
        row.print();
    }
    c.final_summary();
}
