//! What only the LMDB backend has to get right, beside the conformance
//! suite: keys over LMDB's 511-byte limit (stored in chains, still in key
//! order: a property test against `MemoryDataStore`), map growth and its
//! limit, the writer lock, a reader in another process while this one
//! writes and grows the map, and files it must refuse.
#![cfg(feature = "lmdb")]
// Helpers outside `#[test]` functions are test code: a failed unwrap is a
// failed test.
#![allow(clippy::unwrap_used)]

mod support;

use pollster::block_on;
use proptest::prelude::*;
use std::path::Path;
use support::child::{self, Child};
use topgun_storage_core::datastores::{LmdbDataStore, LmdbOptions};
use topgun_storage_core::{
    DataStoreErrorKind, Durability, MapDataStore, MemoryDataStore, Namespace, RecordValue,
    ScanRequest, StoredRecord, Timestamp, WriteOp,
};

const P: Namespace = Namespace::Primary;

fn rec(v: &str) -> StoredRecord {
    StoredRecord::new(RecordValue::lww(v, Timestamp::new(1, 0, "n")), 7)
}

fn small_map() -> LmdbOptions {
    LmdbOptions {
        durability: Durability::None,
        initial_map_size: 1 << 20,
        ..LmdbOptions::default()
    }
}

/// Every key of `map` in order, paging `limit` at a time.
fn all_keys(store: &dyn MapDataStore, map: &str, prefix: &str, limit: usize) -> Vec<String> {
    let mut keys = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let request = ScanRequest::keys(map, P, limit)
            .with_prefix(prefix)
            .resume_after(after.as_deref());
        let page = block_on(store.scan(&request)).unwrap();
        keys.extend(page.entries.into_iter().map(|e| e.key));
        match page.resume_after {
            Some(next) => after = Some(next),
            None => return keys,
        }
    }
}

/// Keys built from a few long shared stems, so that many are longer than
/// 511 bytes, several share a bucket (their first 507 stored bytes) and
/// short keys sort between long ones.
fn key_strategy() -> impl Strategy<Value = String> {
    let stem = prop_oneof![
        Just(String::new()),
        Just("a".repeat(500)),
        Just("a".repeat(505)),
        Just("a".repeat(600)),
        Just("b".repeat(1_000)),
    ];
    (stem, "[a-c]{0,3}", 0usize..3).prop_map(|(stem, tail, pad)| {
        let mut key = stem;
        key.push_str(&tail);
        key.push_str(&"z".repeat(pad * 200));
        key
    })
}

#[derive(Debug, Clone)]
enum Op {
    Put(String, u8),
    Remove(String),
    Batch(Vec<(String, Option<u8>)>),
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (key_strategy(), any::<u8>()).prop_map(|(k, v)| Op::Put(k, v)),
        1 => key_strategy().prop_map(Op::Remove),
        1 => prop::collection::vec((key_strategy(), prop::option::of(any::<u8>())), 0..6)
            .prop_map(Op::Batch),
    ]
}

fn apply(store: &dyn MapDataStore, op: &Op) {
    let records: Vec<(String, Option<StoredRecord>)> = match op {
        Op::Put(k, v) => vec![(k.clone(), Some(rec(&v.to_string())))],
        Op::Remove(k) => vec![(k.clone(), None)],
        Op::Batch(ops) => ops
            .iter()
            .map(|(k, v)| (k.clone(), v.map(|v| rec(&v.to_string()))))
            .collect(),
    };
    let ops: Vec<WriteOp<'_>> = records
        .iter()
        .map(|(key, record)| match record {
            Some(record) => WriteOp::Put { key, record },
            None => WriteOp::Remove { key },
        })
        .collect();
    block_on(store.write("m", P, &ops)).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Long and short keys, written, overwritten and removed singly and in
    /// batches, read back exactly as the in-memory model has them: loads,
    /// full scans in every page size, prefix scans, and the map list.
    #[test]
    fn long_keys_behave_like_the_memory_model(
        ops in prop::collection::vec(op_strategy(), 1..40),
        limit in 1usize..5,
        prefix in prop_oneof![Just(String::new()), Just("a".repeat(503)), Just("b".to_owned()), Just("a".repeat(600))],
    ) {
        let dir = tempfile::tempdir().unwrap();
        let lmdb = LmdbDataStore::open(dir.path(), small_map()).unwrap();
        let model = MemoryDataStore::new();
        for op in &ops {
            apply(&lmdb, op);
            apply(&model, op);
        }
        let keys = all_keys(&model, "m", "", 1000);
        prop_assert_eq!(&all_keys(&lmdb, "m", "", limit), &keys);
        prop_assert_eq!(all_keys(&lmdb, "m", &prefix, limit), all_keys(&model, "m", &prefix, 1000));
        let mut probe = keys.clone();
        probe.push("a".repeat(700));
        for key in &probe {
            prop_assert_eq!(
                block_on(lmdb.load("m", P, key)).unwrap(),
                block_on(model.load("m", P, key)).unwrap()
            );
        }
        prop_assert_eq!(
            block_on(lmdb.load_all("m", P, &probe)).unwrap(),
            block_on(model.load_all("m", P, &probe)).unwrap()
        );
        let entries = block_on(lmdb.scan(&ScanRequest::entries("m", P, 1000))).unwrap();
        let expected = block_on(model.scan(&ScanRequest::entries("m", P, 1000))).unwrap();
        prop_assert_eq!(entries, expected);
        prop_assert_eq!(block_on(lmdb.list_maps()).unwrap(), block_on(model.list_maps()).unwrap());
    }
}

#[test]
fn map_names_longer_than_a_bucket_are_listed_and_scanned() {
    let dir = tempfile::tempdir().unwrap();
    let store = LmdbDataStore::open(dir.path(), small_map()).unwrap();
    let long_map = "m".repeat(700);
    let other = format!("{long_map}x");
    for (map, key) in [(&long_map, "k2"), (&long_map, "k1"), (&other, "k0")] {
        block_on(store.add(map, P, key, &rec(key))).unwrap();
    }
    block_on(store.add("short", Namespace::Backup, "k", &rec("v"))).unwrap();
    let mut expected = vec![long_map.clone(), other.clone(), "short".to_owned()];
    expected.sort();
    assert_eq!(block_on(store.list_maps()).unwrap(), expected);
    assert_eq!(all_keys(&store, &long_map, "", 1), ["k1", "k2"]);
    assert_eq!(all_keys(&store, &other, "", 1), ["k0"]);
}

#[test]
fn a_64_kib_key_round_trips_and_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let key = "κ".repeat(32 * 1024);
    {
        let store = LmdbDataStore::open(dir.path(), small_map()).unwrap();
        block_on(store.add("m", P, &key, &rec("big"))).unwrap();
        block_on(store.add("m", P, "short", &rec("s"))).unwrap();
        block_on(store.close()).unwrap();
    }
    let store = LmdbDataStore::open(dir.path(), small_map()).unwrap();
    assert_eq!(
        block_on(store.load("m", P, &key)).unwrap(),
        Some(rec("big"))
    );
    assert_eq!(
        all_keys(&store, "m", "", 1),
        ["short".to_owned(), key.clone()]
    );
    block_on(store.remove("m", P, &key)).unwrap();
    assert_eq!(block_on(store.load("m", P, &key)).unwrap(), None);
    assert_eq!(all_keys(&store, "m", "", 10), ["short"]);
}

#[test]
fn the_map_grows_when_a_write_needs_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = LmdbDataStore::open(dir.path(), small_map()).unwrap();
    assert_eq!(store.map_size(), 1 << 20);
    let value = "x".repeat(64 * 1024);
    for i in 0..128 {
        block_on(store.add("m", P, &format!("k{i:03}"), &rec(&value))).unwrap();
    }
    // One batch larger than the map it starts with.
    let big = rec(&"y".repeat(3 << 20));
    block_on(store.add("m", P, "big", &big)).unwrap();
    assert!(store.map_size() >= 16 << 20, "map is {}", store.map_size());
    block_on(store.close()).unwrap();
    let store = LmdbDataStore::open(dir.path(), small_map()).unwrap();
    assert!(
        store.map_size() >= 12 << 20,
        "reopened at {}",
        store.map_size()
    );
    assert_eq!(all_keys(&store, "m", "k", 1000).len(), 128);
    assert_eq!(block_on(store.load("m", P, "big")).unwrap(), Some(big));
}

#[test]
fn a_map_at_its_maximum_fails_with_disk_full_and_keeps_what_it_had() {
    let dir = tempfile::tempdir().unwrap();
    let options = LmdbOptions {
        max_map_size: 2 << 20,
        ..small_map()
    };
    let store = LmdbDataStore::open(dir.path(), options).unwrap();
    block_on(store.add("m", P, "kept", &rec("v"))).unwrap();
    let too_big = rec(&"z".repeat(3 << 20));
    let ops = [
        WriteOp::Remove { key: "kept" },
        WriteOp::Put {
            key: "huge",
            record: &too_big,
        },
    ];
    let err = block_on(store.write("m", P, &ops)).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::DiskFull, "{err}");
    assert!(err.message().contains("max_map_size"), "{err}");
    assert_eq!(store.map_size(), 2 << 20);
    assert_eq!(
        block_on(store.load("m", P, "kept")).unwrap(),
        Some(rec("v"))
    );
    assert_eq!(block_on(store.load("m", P, "huge")).unwrap(), None);
    block_on(store.add("m", P, "after", &rec("w"))).unwrap();
    assert_eq!(all_keys(&store, "m", "", 10), ["after", "kept"]);
}

#[test]
fn one_writer_per_store_and_read_only_stores_take_no_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = LmdbDataStore::open(dir.path(), small_map()).unwrap();
    let err = LmdbDataStore::open(dir.path(), small_map()).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::Locked, "{err}");
    // heed allows one environment per path and process.
    let err = LmdbDataStore::open_read_only(dir.path(), &small_map()).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::Locked, "{err}");
    block_on(store.close()).unwrap();
    let reader = LmdbDataStore::open_read_only(dir.path(), &small_map()).unwrap();
    assert!(reader.is_read_only());
    let err = block_on(reader.add("m", P, "k", &rec("v"))).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::Rejected, "{err}");
    block_on(reader.flush()).unwrap();
    block_on(reader.close()).unwrap();
    let again = LmdbDataStore::open(dir.path(), small_map()).unwrap();
    assert_eq!(block_on(again.load("m", P, "k")).unwrap(), None);
}

#[test]
fn a_read_only_open_needs_an_existing_store() {
    let dir = tempfile::tempdir().unwrap();
    let err = LmdbDataStore::open_read_only(dir.path().join("none"), &small_map()).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::Io, "{err}");
}

fn data_file(dir: &Path) -> std::path::PathBuf {
    dir.join("data.mdb")
}

#[test]
fn a_truncated_data_file_is_refused_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = LmdbDataStore::open(dir.path(), small_map()).unwrap();
        for i in 0..200 {
            block_on(store.add("m", P, &format!("k{i}"), &rec(&"v".repeat(500)))).unwrap();
        }
        block_on(store.close()).unwrap();
    }
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(data_file(dir.path()))
        .unwrap();
    let len = file.metadata().unwrap().len();
    file.set_len(len / 2).unwrap();
    drop(file);
    let err = LmdbDataStore::open(dir.path(), small_map()).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::Corrupt, "{err}");
    assert!(err.message().contains("truncated"), "{err}");
}

#[test]
fn a_foreign_file_is_refused_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(data_file(dir.path()), vec![0x5a; 64 * 1024]).unwrap();
    let err = LmdbDataStore::open(dir.path(), small_map()).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::Corrupt, "{err}");
}

#[test]
fn an_lmdb_file_without_a_store_marker_is_refused_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = LmdbDataStore::open(dir.path(), small_map()).unwrap();
        block_on(store.add("m", P, "k", &rec("v"))).unwrap();
        block_on(store.close()).unwrap();
    }
    // Make the marker name a format from the future (in every copy of its
    // page LMDB keeps).
    let mut bytes = std::fs::read(data_file(dir.path())).unwrap();
    let magic = b"topgun-storage\0";
    let places: Vec<usize> = bytes
        .windows(magic.len())
        .enumerate()
        .filter(|(_, w)| w == magic)
        .map(|(at, _)| at + magic.len())
        .collect();
    assert!(!places.is_empty(), "marker in the file");
    for at in places {
        bytes[at] = 99;
    }
    std::fs::write(data_file(dir.path()), bytes).unwrap();
    let err = LmdbDataStore::open(dir.path(), small_map()).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::Corrupt, "{err}");
    assert!(err.message().contains("version 99"), "{err}");
}

#[test]
fn concurrent_writers_share_commits_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = LmdbDataStore::open(
        dir.path(),
        LmdbOptions {
            durability: Durability::Fsync,
            ..small_map()
        },
    )
    .unwrap();
    std::thread::scope(|s| {
        for t in 0..8 {
            let store = &store;
            s.spawn(move || {
                for i in 0..40 {
                    let (a, b) = (format!("t{t}-{i}-a"), format!("t{t}-{i}-b"));
                    let r = rec(&format!("{t}-{i}"));
                    let ops = [
                        WriteOp::Put {
                            key: &a,
                            record: &r,
                        },
                        WriteOp::Put {
                            key: &b,
                            record: &r,
                        },
                    ];
                    block_on(store.write("m", P, &ops)).unwrap();
                }
            });
        }
    });
    assert_eq!(all_keys(&store, "m", "", 100).len(), 8 * 40 * 2);
    assert_eq!(
        block_on(store.load("m", P, "t7-39-b")).unwrap(),
        Some(rec("7-39"))
    );
}

/// The child side of `a_reader_process_sees_commits_while_this_one_writes`:
/// opens the store named by `TOPGUN_LMDB_READER` read-only and answers one
/// line per command on stdin.
#[test]
#[ignore = "run by a_reader_process_sees_commits_while_this_one_writes in a child process"]
fn lmdb_reader_child() {
    let Ok(dir) = std::env::var("TOPGUN_LMDB_READER") else {
        return;
    };
    let reader = LmdbDataStore::open_read_only(&dir, &LmdbOptions::default()).unwrap();
    child::serve(|line| {
        Some(match line.split_once(' ')? {
            ("count", map) => all_keys(&reader, map, "", 1000).len().to_string(),
            ("load", key) => format!("{:?}", block_on(reader.load("m", P, key)).unwrap()),
            ("write", key) => match block_on(reader.add("m", P, key, &rec("x"))) {
                Ok(()) => "written".to_owned(),
                Err(e) => e.kind().as_str().to_owned(),
            },
            _ => return None,
        })
    });
}

#[test]
fn a_reader_process_sees_commits_while_this_one_writes() {
    let dir = tempfile::tempdir().unwrap();
    let writer = LmdbDataStore::open(dir.path(), small_map()).unwrap();
    block_on(writer.add("m", P, "first", &rec("1"))).unwrap();
    let mut child = Child::spawn("lmdb_reader_child", &[("TOPGUN_LMDB_READER", dir.path())]);
    assert_eq!(child.ask("count m"), "1");
    assert_eq!(child.ask("load first"), format!("{:?}", Some(rec("1"))));
    // The writer keeps writing while the reader has the store open, and
    // grows its map well past the size the reader mapped.
    let value = "g".repeat(256 * 1024);
    for i in 0..40 {
        block_on(writer.add("m", P, &format!("grow{i:02}"), &rec(&value))).unwrap();
    }
    assert!(writer.map_size() > 1 << 20);
    block_on(writer.add("other", P, "k", &rec("o"))).unwrap();
    assert_eq!(child.ask("count m"), "41");
    assert_eq!(child.ask("count other"), "1");
    assert_eq!(child.ask("load grow39"), format!("{:?}", Some(rec(&value))));
    assert_eq!(child.ask("write nope"), "rejected");
    block_on(writer.remove("m", P, "first")).unwrap();
    assert_eq!(child.ask("load first"), "None");
    child.finish();
}

/// The child side of `a_writer_in_another_process_locks_the_store_until_it_dies`:
/// opens the store named by `TOPGUN_LMDB_HOLDER` for writing, writes one
/// key, says so, and holds the store until it is killed.
#[test]
#[ignore = "run by a_writer_in_another_process_locks_the_store_until_it_dies in a child process"]
fn lmdb_holder_child() {
    let Ok(dir) = std::env::var("TOPGUN_LMDB_HOLDER") else {
        return;
    };
    let store = LmdbDataStore::open(&dir, small_map()).unwrap();
    block_on(store.add("m", P, "held", &rec("by the child"))).unwrap();
    println!("{}open", child::REPLY);
    child::serve(|_| None);
}

#[test]
fn a_writer_in_another_process_locks_the_store_until_it_dies() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Child::spawn("lmdb_holder_child", &[("TOPGUN_LMDB_HOLDER", dir.path())]);
    assert_eq!(child.reply(), "open");
    let err = LmdbDataStore::open(dir.path(), small_map()).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::Locked, "{err}");
    // Reading alongside the other process's writer is what LMDB is for.
    let reader = LmdbDataStore::open_read_only(dir.path(), &small_map()).unwrap();
    assert_eq!(
        block_on(reader.load("m", P, "held")).unwrap(),
        Some(rec("by the child"))
    );
    block_on(reader.close()).unwrap();
    child.kill();
    // The kernel released the lock with the process; the acknowledged
    // write (at `none`, which LMDB writes as `os`) survived the SIGKILL.
    let store = LmdbDataStore::open(dir.path(), small_map()).unwrap();
    assert_eq!(
        block_on(store.load("m", P, "held")).unwrap(),
        Some(rec("by the child"))
    );
}
