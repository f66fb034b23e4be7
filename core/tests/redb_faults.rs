//! Deterministic fault injection under `RedbDataStore`, through redb's
//! pluggable storage backend (`FaultInjectingStorage`): a failed write, a
//! failed fsync, a full disk and a torn page. Each time the store reports a
//! clear error, and a reopen of the file (redb repairs it) finds everything
//! acknowledged before, and of the failed batch all of it or nothing.

// Helpers outside `#[test]` functions are test code too: a failed unwrap
// is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tempfile::TempDir;
use topgun_storage_core::datastores::{FaultControl, FaultInjectingStorage};
use topgun_storage_core::redb::backends::{FileBackend, InMemoryBackend};
use topgun_storage_core::{
    block_on, DataStoreErrorKind, Durability, MapDataStore, Namespace, RecordValue, RedbDataStore,
    RedbOptions, ScanRequest, StoredRecord, Timestamp, WriteOp,
};

const NS: Namespace = Namespace::Primary;

fn rec(v: &str) -> StoredRecord {
    StoredRecord::new(RecordValue::lww(v, Timestamp::new(1, 0, "n")), 1)
}

/// A new store file in `dir`, closed, then opened again over a fault
/// injector.
fn faulty(dir: &TempDir, durability: Durability) -> (RedbDataStore, FaultControl, PathBuf) {
    let path = dir.path().join("store.redb");
    if !path.exists() {
        let s = RedbDataStore::open(&path, RedbOptions::with_durability(durability)).unwrap();
        block_on(s.close()).unwrap();
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let control = FaultControl::default();
    let storage = FaultInjectingStorage::new(FileBackend::new(file).unwrap(), control.clone());
    let store = RedbDataStore::open_with_backend(storage, RedbOptions::with_durability(durability))
        .unwrap();
    (store, control, path)
}

fn put_batch(
    s: &RedbDataStore,
    keys: &[String],
) -> Result<(), topgun_storage_core::DataStoreError> {
    let records: Vec<StoredRecord> = keys.iter().map(|k| rec(k)).collect();
    let ops: Vec<WriteOp<'_>> = keys
        .iter()
        .zip(&records)
        .map(|(key, record)| WriteOp::Put { key, record })
        .collect();
    block_on(s.write("m", NS, &ops))
}

fn keys(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i:04}")).collect()
}

/// Every key of map "m" after opening `path` again without faults, each
/// checked to hold its own name.
fn reopen_and_read(path: &Path) -> BTreeSet<String> {
    let s = RedbDataStore::open(path, RedbOptions::default())
        .unwrap_or_else(|e| panic!("reopen after the fault failed: {e} ({:?})", e.kind()));
    let mut out = BTreeSet::new();
    let mut after: Option<String> = None;
    loop {
        let req = ScanRequest::entries("m", NS, 1000).resume_after(after.as_deref());
        let page = block_on(s.scan(&req)).unwrap();
        for e in &page.entries {
            let r = e.record.as_ref().unwrap();
            assert_eq!(r, &rec(&e.key), "{} holds another record", e.key);
            out.insert(e.key.clone());
        }
        match page.resume_after {
            Some(k) => after = Some(k),
            None => break,
        }
    }
    block_on(s.close()).unwrap();
    out
}

/// `found` holds every acknowledged key and, of `failed`, all or none.
#[track_caller]
fn assert_acknowledged_kept(found: &BTreeSet<String>, acknowledged: &[String], failed: &[String]) {
    for k in acknowledged {
        assert!(found.contains(k), "acknowledged {k} lost");
    }
    let present = failed.iter().filter(|k| found.contains(*k)).count();
    assert!(
        present == 0 || present == failed.len(),
        "half of a failed batch survived: {present} of {}",
        failed.len()
    );
    assert_eq!(
        found.len(),
        acknowledged.len() + present,
        "keys that were never written appeared"
    );
}

#[test]
fn a_failed_write_is_an_io_error_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let (s, control, path) = faulty(&dir, Durability::Fsync);
    let acked = keys("a", 50);
    put_batch(&s, &acked).unwrap();
    control.fail_writes(true);
    let failed = keys("b", 50);
    let err = put_batch(&s, &failed).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::Io, "{err}");
    assert!(
        err.message().contains("injected fault: write failed"),
        "{err}"
    );
    control.heal();
    // redb refuses writes until the store is reopened; it says so.
    let err = put_batch(&s, &keys("c", 1)).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::Io, "{err}");
    // Reads on the same handle still see the acknowledged state, never the
    // failed batch.
    for k in ["a0000", "a0049"] {
        match block_on(s.load("m", NS, k)) {
            Ok(found) => assert_eq!(found, Some(rec(k))),
            Err(e) => assert_eq!(e.kind(), DataStoreErrorKind::Io, "{e}"),
        }
    }
    if let Ok(found) = block_on(s.load("m", NS, "b0000")) {
        assert_eq!(found, None);
    }
    drop(s);
    assert_acknowledged_kept(&reopen_and_read(&path), &acked, &failed);
    assert!(!reopen_and_read(&path).contains("b0000"));
}

#[test]
fn a_failed_fsync_is_an_io_error_and_the_batch_is_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (s, control, path) = faulty(&dir, Durability::Fsync);
    let acked = keys("a", 20);
    put_batch(&s, &acked).unwrap();
    let syncs = control.syncs();
    assert!(syncs > 0, "an fsync commit syncs");
    control.fail_syncs(true);
    let failed = keys("b", 20);
    let err = put_batch(&s, &failed).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::Io, "{err}");
    assert!(err.message().contains("fsync failed"), "{err}");
    control.heal();
    drop(s);
    assert_acknowledged_kept(&reopen_and_read(&path), &acked, &failed);
}

#[test]
fn a_failed_fsync_fails_flush_at_the_os_level() {
    let dir = tempfile::tempdir().unwrap();
    let (s, control, path) = faulty(&dir, Durability::Os);
    let acked = keys("a", 10);
    put_batch(&s, &acked).unwrap();
    assert_eq!(control.syncs(), 0, "os commits do not fsync");
    control.fail_syncs(true);
    let err = block_on(s.flush()).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::Io, "{err}");
    control.heal();
    block_on(s.flush()).unwrap();
    assert_eq!(control.syncs(), 1, "flush at os is one fsync");
    drop(s);
    assert_acknowledged_kept(&reopen_and_read(&path), &acked, &[]);
}

#[test]
fn a_full_disk_is_disk_full_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let (s, control, path) = faulty(&dir, Durability::Fsync);
    let acked = keys("a", 100);
    put_batch(&s, &acked).unwrap();
    let len = std::fs::metadata(&path).unwrap().len();
    control.set_capacity(Some(len));
    // 4 MiB of new data cannot fit without growing the file.
    let big: Vec<String> = (0..64).map(|i| format!("b{i:04}")).collect();
    let value = RecordValue::lww(vec![7u8; 64 * 1024], Timestamp::new(1, 0, "n"));
    let records: Vec<StoredRecord> = big
        .iter()
        .map(|_| StoredRecord::new(value.clone(), 1))
        .collect();
    let ops: Vec<WriteOp<'_>> = big
        .iter()
        .zip(&records)
        .map(|(key, record)| WriteOp::Put { key, record })
        .collect();
    let err = block_on(s.write("m", NS, &ops)).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::DiskFull, "{err}");
    control.heal();
    drop(s);
    let found = reopen_and_read_keys_only(&path);
    for k in &acked {
        assert!(found.contains(k), "{k} lost");
    }
    assert!(
        found.iter().all(|k| k.starts_with('a')),
        "part of the failed batch survived"
    );
}

fn reopen_and_read_keys_only(path: &Path) -> BTreeSet<String> {
    let s = RedbDataStore::open(path, RedbOptions::default()).unwrap();
    let page = block_on(s.scan(&ScanRequest::keys("m", NS, 100_000))).unwrap();
    page.entries.into_iter().map(|e| e.key).collect()
}

#[test]
fn a_torn_page_at_any_write_of_a_commit_keeps_every_acknowledged_write() {
    // Tear the 1st, 2nd, ... write of the commit after the acknowledged
    // ones: a crash in the middle of each of its page writes in turn.
    for durability in [Durability::Fsync, Durability::Os] {
        let mut reached_commit_end = false;
        for tear_at in 0..40 {
            let dir = tempfile::tempdir().unwrap();
            let (s, control, path) = faulty(&dir, durability);
            let acked = keys("a", 30);
            put_batch(&s, &acked[..10]).unwrap();
            put_batch(&s, &acked[10..]).unwrap();
            control.tear_write_after(tear_at);
            let failed = keys("b", 30);
            let result = put_batch(&s, &failed);
            let crashed = control.crashed();
            drop(s);
            let found = reopen_and_read(&path);
            if result.is_ok() {
                // The commit finished before the tear point: acknowledged.
                assert!(!crashed || durability == Durability::Os);
                let mut all = acked.clone();
                all.extend(failed.iter().cloned());
                assert_acknowledged_kept(&found, &all, &[]);
                // Each earlier tear point crashed a different write of it.
                assert!(
                    tear_at >= 3,
                    "{durability:?}: a commit of only {tear_at} writes"
                );
                reached_commit_end = true;
                break;
            }
            assert!(
                crashed,
                "{durability:?} tear {tear_at}: failed without a tear"
            );
            assert_acknowledged_kept(&found, &acked, &failed);
        }
        assert!(
            reached_commit_end,
            "{durability:?}: a commit took over 40 writes"
        );
    }
}

#[test]
fn concurrent_writers_lose_nothing_acknowledged_when_writes_start_failing() {
    let dir = tempfile::tempdir().unwrap();
    let (s, control, path) = faulty(&dir, Durability::Fsync);
    let acknowledged = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for t in 0..4 {
            let (s, acknowledged) = (&s, &acknowledged);
            scope.spawn(move || {
                for i in 0..200 {
                    let batch = vec![format!("t{t}-{i:03}-x"), format!("t{t}-{i:03}-y")];
                    match put_batch(s, &batch) {
                        Ok(()) => acknowledged.lock().unwrap().extend(batch),
                        Err(e) => {
                            assert_eq!(e.kind(), DataStoreErrorKind::Io, "{e}");
                            return;
                        }
                    }
                }
            });
        }
        // Let some commits through, then fail the disk under the writers.
        while control.syncs() < 20 {
            std::thread::yield_now();
        }
        control.fail_writes(true);
    });
    control.heal();
    drop(s);
    let acknowledged = acknowledged.into_inner().unwrap();
    assert!(acknowledged.len() >= 20, "too few writes got through");
    let found = reopen_and_read(&path);
    for k in &acknowledged {
        assert!(found.contains(k), "acknowledged {k} lost");
    }
    // Unacknowledged batches are all-or-nothing: x and y together.
    for k in found.iter().filter(|k| k.ends_with("-x")) {
        assert!(found.contains(&k.replace("-x", "-y")), "half a batch: {k}");
    }
}

#[test]
fn a_store_that_cannot_be_created_on_a_full_disk_says_so() {
    let control = FaultControl::default();
    control.set_capacity(Some(0));
    let storage = FaultInjectingStorage::new(InMemoryBackend::new(), control);
    let err = RedbDataStore::open_with_backend(storage, RedbOptions::default()).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::DiskFull, "{err}");
}

#[test]
fn an_in_memory_backend_holds_a_working_store() {
    let s =
        RedbDataStore::open_with_backend(InMemoryBackend::new(), RedbOptions::default()).unwrap();
    put_batch(&s, &keys("k", 3)).unwrap();
    assert_eq!(block_on(s.list_maps()).unwrap(), ["m"]);
    assert_eq!(s.path(), None);
    assert_eq!(s.durability(), Durability::Fsync);
}
