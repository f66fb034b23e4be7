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
//!   such that every key shows the version that was current at `T`: for a
//!   version written by operation `j` of its key, `T` lies after `j` began
//!   and before operation `j + 1` ended. An absent key may be any removal
//!   (or the initial absence), so each key allows a union of intervals and
//!   the checker intersects them over all keys.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use topgun_storage_core::{
    EngineSnapshot, HashMapSnapshot, HashMapStorage, IterationCursor, Record, RecordMetadata,
    RecordValue, StorageEngine, Timestamp, Value,
};

const WRITERS: usize = 2;
const READERS: usize = 2;
const KEYS_PER_WRITER: usize = 200;
const OPS_PER_WRITER: usize = 40_000;

/// One write: its interval on the global counter and what it left.
#[derive(Clone, Copy)]
struct Write {
    start: u64,
    end: u64,
    /// The version now current (`None`: the key is absent).
    version: Option<u64>,
}

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

fn key(writer: usize, k: usize) -> String {
    format!("w{writer}-k{k}")
}

/// Reads everything through `snap` twice, in pages and by key, while the
/// writers go on; returns the state and checks the reads agree.
fn read_all(snap: &HashMapSnapshot, page: usize) -> BTreeMap<String, u64> {
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
    for w in 0..WRITERS {
        for k in 0..KEYS_PER_WRITER {
            let key = key(w, k);
            let got = snap.get(&key).map(|r| version_of(&key, &r));
            assert_eq!(
                got,
                state.get(&key).copied(),
                "{key}: get disagrees with the scan"
            );
        }
    }
    state
}

/// Intersects sorted disjoint open intervals.
fn intersect(a: &[(u64, u64)], b: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let lo = a[i].0.max(b[j].0);
        let hi = a[i].1.min(b[j].1);
        if lo < hi {
            out.push((lo, hi));
        }
        if a[i].1 < b[j].1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// The instants (open intervals) at which `key`'s history shows `seen`.
fn instants(history: &[Write], seen: Option<u64>) -> Vec<(u64, u64)> {
    // State j is current from when write j began (0: the start) until
    // write j + 1 ended (never, for the last).
    let mut out: Vec<(u64, u64)> = Vec::new();
    let states = std::iter::once((0u64, None)).chain(history.iter().map(|w| (w.start, w.version)));
    for (j, (from, version)) in states.enumerate() {
        if version != seen {
            continue;
        }
        let until = history.get(j).map_or(u64::MAX, |next| next.end);
        match out.last_mut() {
            Some(last) if from <= last.1 => last.1 = last.1.max(until),
            _ => out.push((from, until)),
        }
    }
    out
}

#[test]
fn every_snapshot_is_the_state_at_one_instant_of_its_acquisition() {
    let engine = Arc::new(HashMapStorage::with_shards(8));
    let clock = Arc::new(AtomicU64::new(1));
    let done = Arc::new(AtomicBool::new(false));

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (engine, clock) = (Arc::clone(&engine), Arc::clone(&clock));
            thread::spawn(move || {
                let mut histories = vec![Vec::<Write>::new(); KEYS_PER_WRITER];
                let mut next_version = vec![1u64; KEYS_PER_WRITER];
                let mut present = [false; KEYS_PER_WRITER];
                let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ (w as u64 + 1);
                for _ in 0..OPS_PER_WRITER {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let k = (seed % KEYS_PER_WRITER as u64) as usize;
                    let key = key(w, k);
                    let v = next_version[k];
                    next_version[k] += 1;
                    let start = clock.fetch_add(1, Ordering::SeqCst);
                    let version = match (seed >> 32) % 10 {
                        0..=4 => {
                            engine.put(&key, record(v));
                            Some(v)
                        }
                        5 | 6 if present[k] => {
                            assert!(engine.update(&key, &mut |r| {
                                r.value = RecordValue::lww(v as i64, Timestamp::new(1, 0, "n"));
                                // A reader must never see one without the other.
                                thread::yield_now();
                                r.metadata.creation_time = v as i64;
                            }));
                            Some(v)
                        }
                        _ => {
                            engine.remove(&key);
                            None
                        }
                    };
                    let end = clock.fetch_add(1, Ordering::SeqCst);
                    present[k] = version.is_some();
                    histories[k].push(Write {
                        start,
                        end,
                        version,
                    });
                }
                histories
            })
        })
        .collect();

    let readers: Vec<_> = (0..READERS)
        .map(|r| {
            let (engine, clock, done) =
                (Arc::clone(&engine), Arc::clone(&clock), Arc::clone(&done));
            thread::spawn(move || {
                let mut seen = Vec::new();
                let mut open: Vec<(HashMapSnapshot, u64, u64)> = Vec::new();
                let mut i = r;
                while !done.load(Ordering::SeqCst) {
                    let start = clock.fetch_add(1, Ordering::SeqCst);
                    let snap = engine.snapshot();
                    let end = clock.fetch_add(1, Ordering::SeqCst);
                    open.push((snap, start, end));
                    i += 1;
                    if open.len() > 3 {
                        // Read and drop an open snapshot, not always the oldest.
                        let (snap, start, end) = open.remove(i % open.len());
                        let first = read_all(&snap, 1 + i % 13);
                        let again = read_all(&snap, 64);
                        assert_eq!(first, again, "a snapshot's reads were not repeatable");
                        seen.push(Seen {
                            start,
                            end,
                            state: first,
                        });
                    }
                }
                for (snap, start, end) in open {
                    let state = read_all(&snap, 7);
                    seen.push(Seen { start, end, state });
                }
                seen
            })
        })
        .collect();

    let histories: Vec<Vec<Vec<Write>>> = writers
        .into_iter()
        .map(|w| w.join().expect("writer panicked"))
        .collect();
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
        let mut allowed = vec![(snap.start, snap.end)];
        for (w, keys) in histories.iter().enumerate() {
            for (k, history) in keys.iter().enumerate() {
                let observed = snap.state.get(&key(w, k)).copied();
                allowed = intersect(&allowed, &instants(history, observed));
                assert!(
                    !allowed.is_empty(),
                    "snapshot {n} (ticks {}..{}): no single instant explains {} = {observed:?}",
                    snap.start,
                    snap.end,
                    key(w, k)
                );
            }
        }
        if histories
            .iter()
            .flatten()
            .flatten()
            .any(|write| write.start < snap.end && write.end > snap.start)
        {
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
