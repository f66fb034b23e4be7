//! Concurrency checker for snapshot isolation of `HashMapStorage`.
//!
//! Writer threads put, update and remove keys of their own while reader
//! threads take snapshots (up to four open at once, dropped in any order)
//! and read them page by page and key by key, interleaved with the writes.
//! Every operation is bracketed by two ticks of one global counter, so each
//! has an interval in which it took effect. Afterwards, for every snapshot:
//!
//! * all its reads agree (pages, point reads, length; no key twice, no
//!   record whose value and metadata disagree, i.e. no partial write);
//! * there is one instant `T` inside the snapshot's acquisition interval
//!   such that every key shows the version that was current at `T`
//!   (`support/history.rs`).

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use support::history::{check_one_instant, overlaps_writes, tick, write_keys, Op};
use topgun_storage_core::{
    EngineSnapshot, HashMapSnapshot, HashMapStorage, IterationCursor, Record, RecordMetadata,
    RecordValue, StorageEngine, Timestamp, Value,
};

const WRITERS: usize = 2;
const READERS: usize = 2;
const KEYS_PER_WRITER: usize = 200;
const OPS_PER_WRITER: usize = 40_000;

/// What a reader saw through one snapshot.
struct Seen {
    start: u64,
    end: u64,
    state: BTreeMap<String, u64>,
}

fn record(version: u64) -> Record {
    let mut meta = RecordMetadata::new(0, 1);
    meta.creation_time = version as i64;
    Record::new(
        RecordValue::lww(version as i64, Timestamp::new(1, 0, "n")),
        meta,
    )
}

/// The version a record holds; panics on a torn record.
fn version_of(key: &str, r: &Record) -> u64 {
    let RecordValue::Lww {
        value: Value::Int(v),
        ..
    } = &r.value
    else {
        panic!("{key}: unexpected value {:?}", r.value);
    };
    assert_eq!(
        *v, r.metadata.creation_time,
        "{key}: value and metadata from different writes"
    );
    *v as u64
}

fn apply(engine: &HashMapStorage, key: &str, op: Op) {
    match op {
        Op::Put(v) => drop(engine.put(key, record(v))),
        Op::Update(v) => assert!(engine.update(key, &mut |r| {
            r.value = RecordValue::lww(v as i64, Timestamp::new(1, 0, "n"));
            // A reader must never see one without the other.
            thread::yield_now();
            r.metadata.creation_time = v as i64;
        })),
        Op::Remove => drop(engine.remove(key)),
    }
}

/// Reads everything through `snap` in pages and by key, while the writers
/// go on; returns the state and checks the reads agree.
fn read_all(snap: &HashMapSnapshot, page: usize, keys: &[String]) -> BTreeMap<String, u64> {
    let mut state = BTreeMap::new();
    let mut cursor = IterationCursor::start();
    while !cursor.is_finished() {
        let result = snap.fetch_entries(&cursor, page).expect("valid cursor");
        for (k, r) in result.items {
            let v = version_of(&k, &r);
            assert!(state.insert(k, v).is_none(), "a key returned twice");
        }
        cursor = result.next_cursor;
        thread::yield_now();
    }
    assert_eq!(snap.len(), state.len(), "len disagrees with the scan");
    for key in keys {
        let got = snap.get(key).map(|r| version_of(key, &r));
        assert_eq!(
            got,
            state.get(key).copied(),
            "{key}: get disagrees with the scan"
        );
    }
    state
}

#[test]
fn every_snapshot_is_the_state_at_one_instant_of_its_acquisition() {
    let engine = Arc::new(HashMapStorage::with_shards(8));
    let clock = Arc::new(AtomicU64::new(1));
    let done = Arc::new(AtomicBool::new(false));
    let keys: Arc<Vec<String>> = Arc::new(
        (0..WRITERS)
            .flat_map(|w| (0..KEYS_PER_WRITER).map(move |k| format!("w{w}-k{k}")))
            .collect(),
    );

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (engine, clock) = (Arc::clone(&engine), Arc::clone(&clock));
            thread::spawn(move || {
                let prefix = format!("w{w}");
                write_keys(
                    &prefix,
                    KEYS_PER_WRITER,
                    OPS_PER_WRITER,
                    w as u64,
                    &clock,
                    |k, op| {
                        apply(&engine, k, op);
                    },
                )
            })
        })
        .collect();

    let readers: Vec<_> = (0..READERS)
        .map(|r| {
            let (engine, clock, done) =
                (Arc::clone(&engine), Arc::clone(&clock), Arc::clone(&done));
            let keys = Arc::clone(&keys);
            thread::spawn(move || {
                let mut seen = Vec::new();
                let mut open: Vec<(HashMapSnapshot, u64, u64)> = Vec::new();
                let mut i = r;
                while !done.load(Ordering::SeqCst) {
                    let start = tick(&clock);
                    let snap = engine.snapshot();
                    let end = tick(&clock);
                    open.push((snap, start, end));
                    i += 1;
                    if open.len() > 3 {
                        // Read and drop an open snapshot, not always the oldest.
                        let (snap, start, end) = open.remove(i % open.len());
                        let first = read_all(&snap, 1 + i % 13, &keys);
                        let again = read_all(&snap, 64, &keys);
                        assert_eq!(first, again, "a snapshot's reads were not repeatable");
                        seen.push(Seen {
                            start,
                            end,
                            state: first,
                        });
                    }
                }
                for (snap, start, end) in open {
                    let state = read_all(&snap, 7, &keys);
                    seen.push(Seen { start, end, state });
                }
                seen
            })
        })
        .collect();

    let mut histories = BTreeMap::new();
    for w in writers {
        histories.extend(w.join().expect("writer panicked"));
    }
    done.store(true, Ordering::SeqCst);
    let seen: Vec<Seen> = readers
        .into_iter()
        .flat_map(|r| r.join().expect("reader panicked"))
        .collect();

    assert!(
        seen.len() >= 20,
        "too few snapshots checked: {}",
        seen.len()
    );
    let mut concurrent = 0;
    for (n, snap) in seen.iter().enumerate() {
        if let Err(e) = check_one_instant(snap.start, snap.end, &histories, &snap.state) {
            panic!("snapshot {n}: {e}");
        }
        if overlaps_writes(snap.start, snap.end, &histories) {
            concurrent += 1;
        }
    }
    eprintln!(
        "checked {} snapshots, {concurrent} taken during writes",
        seen.len()
    );
    assert!(
        concurrent * 2 >= seen.len(),
        "most snapshots should be taken during writes ({concurrent} of {})",
        seen.len()
    );
    assert_eq!(engine.registry().open_count(), 0);
}
