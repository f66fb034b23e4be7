//! What only the RocksDB backend has to get right, beside the conformance
//! suite: compression is on, the directory lock, damage reported as
//! corrupt (a flipped SST block, a directory that is not a database, a
//! database that is not a store), and the `none` level's flush.
#![cfg(feature = "rocksdb")]
// Helpers outside `#[test]` functions are test code: a failed unwrap is a
// failed test.
#![allow(clippy::unwrap_used)]

mod support;

use pollster::block_on;
use std::path::Path;
use support::child::{self, Child};
use topgun_storage_core::datastores::{RocksDbDataStore, RocksDbOptions};
use topgun_storage_core::{
    DataStoreErrorKind, Durability, MapDataStore, Namespace, RecordValue, ScanRequest,
    StoredRecord, Timestamp,
};

const P: Namespace = Namespace::Primary;

fn rec(v: &str) -> StoredRecord {
    StoredRecord::new(RecordValue::lww(v, Timestamp::new(1, 0, "n")), 7)
}

fn options() -> RocksDbOptions {
    RocksDbOptions::with_durability(Durability::Os)
}

/// Repetitive text, as JSON-ish documents are: compresses well.
fn compressible(i: usize) -> String {
    format!("{{\"id\":{i},\"name\":\"user-{i}\",\"tags\":[\"a\",\"b\"]}}").repeat(64)
}

#[test]
fn data_is_stored_compressed() {
    let dir = tempfile::tempdir().unwrap();
    let store = RocksDbDataStore::open(dir.path(), options()).unwrap();
    let mut raw = 0;
    for i in 0..2_000 {
        let value = compressible(i);
        raw += value.len();
        block_on(store.add("m", P, &format!("k{i:05}"), &rec(&value))).unwrap();
    }
    store.compact().unwrap();
    let on_disk = store
        .property("rocksdb.total-sst-files-size")
        .unwrap()
        .unwrap();
    assert!(
        on_disk * 5 < raw as u64,
        "{on_disk} bytes of SST files for {raw} bytes of values: not compressed"
    );
    assert_eq!(
        block_on(store.load("m", P, "k01999")).unwrap(),
        Some(rec(&compressible(1999)))
    );
}

#[test]
fn a_second_open_is_locked_until_the_first_closes() {
    let dir = tempfile::tempdir().unwrap();
    let store = RocksDbDataStore::open(dir.path(), options()).unwrap();
    block_on(store.add("m", P, "k", &rec("v"))).unwrap();
    let err = RocksDbDataStore::open(dir.path(), options()).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::Locked, "{err}");
    block_on(store.close()).unwrap();
    let err = block_on(store.load("m", P, "k")).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::Closed);
    let again = RocksDbDataStore::open(dir.path(), options()).unwrap();
    assert_eq!(block_on(again.load("m", P, "k")).unwrap(), Some(rec("v")));
}

#[test]
fn unsynced_writes_reach_disk_at_flush_and_close() {
    let dir = tempfile::tempdir().unwrap();
    let none = RocksDbDataStore::open(
        dir.path(),
        RocksDbOptions::with_durability(Durability::None),
    )
    .unwrap();
    block_on(none.add("m", P, "flushed", &rec("1"))).unwrap();
    block_on(none.flush()).unwrap();
    block_on(none.add("m", P, "closed", &rec("2"))).unwrap();
    block_on(none.close()).unwrap();
    let store = RocksDbDataStore::open(dir.path(), options()).unwrap();
    assert_eq!(
        block_on(store.load("m", P, "flushed")).unwrap(),
        Some(rec("1"))
    );
    assert_eq!(
        block_on(store.load("m", P, "closed")).unwrap(),
        Some(rec("2"))
    );
}

fn sst_files(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sst"))
        .collect()
}

#[test]
fn a_damaged_sst_block_is_reported_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = RocksDbDataStore::open(dir.path(), options()).unwrap();
        for i in 0..2_000 {
            block_on(store.add("m", P, &format!("k{i:05}"), &rec(&format!("value {i}")))).unwrap();
        }
        store.compact().unwrap();
        block_on(store.close()).unwrap();
    }
    let files = sst_files(dir.path());
    assert!(!files.is_empty());
    for file in &files {
        let mut bytes = std::fs::read(file).unwrap();
        // Data blocks come first; the index and footer are at the end.
        for b in &mut bytes[100..400] {
            *b ^= 0x55;
        }
        std::fs::write(file, bytes).unwrap();
    }
    let outcome = RocksDbDataStore::open(dir.path(), options())
        .and_then(|store| block_on(store.scan(&ScanRequest::entries("m", P, 5_000))).map(drop));
    let err = outcome.expect_err("damage went unnoticed");
    assert_eq!(err.kind(), DataStoreErrorKind::Corrupt, "{err}");
}

#[test]
fn a_directory_that_is_not_a_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let err = RocksDbDataStore::open(dir.path(), options()).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::Corrupt, "{err}");
    assert!(err.message().contains("no CURRENT"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn a_rocksdb_database_with_keys_but_no_marker_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        let db = rocksdb::DB::open(&opts, dir.path()).unwrap();
        db.put(b"someone else's key", b"value").unwrap();
    }
    let err = RocksDbDataStore::open(dir.path(), options()).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::Corrupt, "{err}");
    assert!(err.message().contains("marker"), "{err}");
}

#[test]
fn an_empty_database_without_a_marker_becomes_a_store() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        rocksdb::DB::open(&opts, dir.path()).unwrap();
    }
    let store = RocksDbDataStore::open(dir.path(), options()).unwrap();
    block_on(store.add("m", P, "k", &rec("v"))).unwrap();
    assert_eq!(block_on(store.list_maps()).unwrap(), ["m"]);
}

/// The child side of `another_process_holding_the_store_locks_it_until_it_dies`:
/// opens the store named by `TOPGUN_ROCKSDB_HOLDER`, writes one key, says
/// so, and holds the store until it is killed.
#[test]
#[ignore = "run by another_process_holding_the_store_locks_it_until_it_dies in a child process"]
fn rocksdb_holder_child() {
    let Ok(dir) = std::env::var("TOPGUN_ROCKSDB_HOLDER") else {
        return;
    };
    let store = RocksDbDataStore::open(&dir, options()).unwrap();
    block_on(store.add("m", P, "held", &rec("by the child"))).unwrap();
    println!("{}open", child::REPLY);
    child::serve(|_| None);
}

#[test]
fn another_process_holding_the_store_locks_it_until_it_dies() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Child::spawn(
        "rocksdb_holder_child",
        &[("TOPGUN_ROCKSDB_HOLDER", dir.path())],
    );
    assert_eq!(child.reply(), "open");
    let err = RocksDbDataStore::open(dir.path(), options()).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::Locked, "{err}");
    child.kill();
    // The kernel released the LOCK file with the process; the write the
    // child acknowledged at `os` is replayed from the log.
    let store = RocksDbDataStore::open(dir.path(), options()).unwrap();
    assert_eq!(
        block_on(store.load("m", P, "held")).unwrap(),
        Some(rec("by the child"))
    );
}
