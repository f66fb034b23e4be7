//! `RedbDataStore` beyond the conformance suite: what each durability level
//! keeps when the process is killed (real child processes, SIGKILL), the
//! file lock across processes, group commit sharing fsyncs, creation races,
//! damaged records and stores from a later release.
//!
//! The child processes are this test binary run again with
//! `TOPGUN_REDB_CHILD` set: the test named in the command line then acts as
//! the child instead of the parent.

// Helpers outside `#[test]` functions are test code too: a failed unwrap
// is a failed test.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use topgun_storage_core::datastores::{FaultControl, FaultInjectingStorage};
use topgun_storage_core::redb::backends::FileBackend;
use topgun_storage_core::{
    block_on, DataStoreErrorKind, Durability, MapDataStore, Namespace, RecordValue, RedbDataStore,
    RedbOptions, ScanRequest, StoredRecord, Timestamp,
};

const NS: Namespace = Namespace::Primary;
const CHILD: &str = "TOPGUN_REDB_CHILD";

fn rec(v: &str) -> StoredRecord {
    StoredRecord::new(RecordValue::lww(v, Timestamp::new(1, 0, "n")), 1)
}

/// A new, empty, closed store file in a new temporary directory.
fn new_store() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    block_on(
        RedbDataStore::open(&path, RedbOptions::default())
            .unwrap()
            .close(),
    )
    .unwrap();
    (dir, path)
}

fn count_keys(path: &Path) -> usize {
    let s = RedbDataStore::open(path, RedbOptions::default()).unwrap();
    let n = block_on(s.scan(&ScanRequest::keys("m", NS, 1_000_000)))
        .unwrap()
        .entries
        .len();
    block_on(s.close()).unwrap();
    n
}

/// A child process, killed with SIGKILL when dropped (also when the parent
/// test fails first, so no child outlives its test).
struct KilledOnDrop(Child);

impl Drop for KilledOnDrop {
    fn drop(&mut self) {
        // Child::kill sends SIGKILL on Unix: no destructor, no flush runs.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs this binary's test `test` as a child with `args` in its
/// environment, stdout piped.
fn spawn_child(test: &str, args: &str) -> KilledOnDrop {
    KilledOnDrop(
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", test, "--nocapture", "--test-threads=1"])
            .env(CHILD, args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    )
}

/// Reads the child's stdout until a line ending with `line`.
fn wait_for_line(child: &mut KilledOnDrop, line: &str) {
    let out = child.0.stdout.as_mut().unwrap();
    let mut reader = BufReader::new(out);
    let mut buf = String::new();
    loop {
        buf.clear();
        let n = reader.read_line(&mut buf).unwrap();
        assert!(n > 0, "the child exited before printing {line:?}");
        // libtest prints "test <name> ... " before the test runs, on the same line.
        if buf.trim_end().ends_with(line) {
            return;
        }
    }
}

fn kill(child: KilledOnDrop) {
    drop(child);
}

/// Child: opens `path` at `level`, writes `n` keys one commit each,
/// optionally flushes, prints "done" and waits to be killed.
fn write_then_wait(args: &str) {
    let mut parts = args.split('|');
    let (path, level, n, flush) = (
        parts.next().unwrap(),
        parts.next().unwrap().parse::<Durability>().unwrap(),
        parts.next().unwrap().parse::<usize>().unwrap(),
        parts.next().unwrap() == "flush",
    );
    let s = RedbDataStore::open(path, RedbOptions::with_durability(level)).unwrap();
    for i in 0..n {
        block_on(s.add("m", NS, &format!("k{i:04}"), &rec("v"))).unwrap();
    }
    if flush {
        block_on(s.flush()).unwrap();
    }
    println!("done");
    loop {
        std::thread::park();
    }
}

/// Writes 50 single-key commits at `level` in a child, kills it with
/// SIGKILL, and returns how many keys a reopen finds.
fn survivors_of_sigkill(level: Durability, flush: bool) -> usize {
    // Created (durably) here, so the child only writes.
    let (_dir, path) = new_store();
    let args = format!(
        "{}|{level}|50|{}",
        path.display(),
        if flush { "flush" } else { "no-flush" }
    );
    let mut child = spawn_child(
        "acknowledged_writes_and_sigkill_at_each_durability_level",
        &args,
    );
    wait_for_line(&mut child, "done");
    kill(child);
    count_keys(&path)
}

#[test]
fn acknowledged_writes_and_sigkill_at_each_durability_level() {
    if let Ok(args) = std::env::var(CHILD) {
        return write_then_wait(&args);
    }
    // fsync and os: every acknowledged commit survives the kill.
    assert_eq!(survivors_of_sigkill(Durability::Fsync, false), 50);
    assert_eq!(survivors_of_sigkill(Durability::Os, false), 50);
    // none: redb's non-durable commits live in the process only (which is
    // why `os` is a durable commit without fsync, not redb's `None`)...
    assert_eq!(survivors_of_sigkill(Durability::None, false), 0);
    // ...until a flush makes them durable.
    assert_eq!(survivors_of_sigkill(Durability::None, true), 50);
}

#[test]
fn another_process_holding_the_store_locks_it_until_it_dies() {
    if let Ok(path) = std::env::var(CHILD) {
        let _s = RedbDataStore::open(&path, RedbOptions::default()).unwrap();
        println!("open");
        loop {
            std::thread::park();
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let mut child = spawn_child(
        "another_process_holding_the_store_locks_it_until_it_dies",
        &path.display().to_string(),
    );
    wait_for_line(&mut child, "open");
    let err = RedbDataStore::open(&path, RedbOptions::default()).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::Locked, "{err}");
    assert!(err.message().contains(&*path.to_string_lossy()), "{err}");
    kill(child);
    // The kernel released the lock with the process.
    let s = RedbDataStore::open(&path, RedbOptions::default()).unwrap();
    assert!(block_on(s.list_maps()).unwrap().is_empty());
}

#[test]
fn writers_that_queue_during_a_commit_share_the_next_fsync() {
    let (_dir, path) = new_store();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let control = FaultControl::default();
    let storage = FaultInjectingStorage::new(FileBackend::new(file).unwrap(), control.clone());
    let s = RedbDataStore::open_with_backend(storage, RedbOptions::default()).unwrap();
    let before = control.syncs();
    control.hold_syncs(true);
    let done = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let (s, done) = (&s, &done);
        // The first writer's commit waits in its fsync...
        scope.spawn(move || {
            block_on(s.add("m", NS, "first", &rec("v"))).unwrap();
            done.fetch_add(1, Ordering::SeqCst);
        });
        while control.held_syncs() == 0 {
            std::thread::yield_now();
        }
        // ...while eight more queue behind it.
        for t in 0..8 {
            scope.spawn(move || {
                block_on(s.add("m", NS, &format!("t{t}"), &rec("v"))).unwrap();
                done.fetch_add(1, Ordering::SeqCst);
            });
        }
        while s.pending_operation_count() < 8 {
            std::thread::yield_now();
        }
        assert_eq!(
            done.load(Ordering::SeqCst),
            0,
            "acknowledged before its fsync"
        );
        control.hold_syncs(false);
    });
    assert_eq!(done.load(Ordering::SeqCst), 9);
    assert_eq!(s.pending_operation_count(), 0);
    // One fsync for the first commit, one for the eight queued batches.
    assert_eq!(control.syncs() - before, 2);
    assert_eq!(
        block_on(s.scan(&ScanRequest::keys("m", NS, 100)))
            .unwrap()
            .entries
            .len(),
        9
    );
}

#[test]
fn two_threads_creating_one_store_get_one_store_and_one_locked_error() {
    for _ in 0..10 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        let results: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..2)
                .map(|_| scope.spawn(|| RedbDataStore::open(&path, RedbOptions::default())))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let opened = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(opened, 1);
        for r in &results {
            if let Err(e) = r {
                assert_eq!(e.kind(), DataStoreErrorKind::Locked, "{e}");
            }
        }
        drop(results);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["store.redb"], "temporary files left behind");
        assert_eq!(count_keys(&path), 0);
    }
}

#[test]
fn a_damaged_record_is_corrupt_naming_its_map_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let s = RedbDataStore::open(&path, RedbOptions::default()).unwrap();
    block_on(s.add("m", NS, "victim", &rec("UNIQUE-PAYLOAD-0123456789"))).unwrap();
    block_on(s.add("m", NS, "bystander", &rec("fine"))).unwrap();
    block_on(s.close()).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let needle = b"UNIQUE-PAYLOAD-0123456789";
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the value is stored as is");
    bytes[at + 3] ^= 0x20;
    std::fs::write(&path, bytes).unwrap();
    let s = RedbDataStore::open(&path, RedbOptions::default()).unwrap();
    let err = block_on(s.load("m", NS, "victim")).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::Corrupt, "{err}");
    assert!(
        err.message()
            .contains("map \"m\" key \"victim\": record checksum mismatch"),
        "{err}"
    );
    let err = block_on(s.scan(&ScanRequest::entries("m", NS, 10))).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::Corrupt, "{err}");
    // Keys-only scans and the other records still work.
    let page = block_on(s.scan(&ScanRequest::keys("m", NS, 10))).unwrap();
    assert_eq!(page.entries.len(), 2);
    assert_eq!(
        block_on(s.load("m", NS, "bystander")).unwrap(),
        Some(rec("fine"))
    );
}

#[test]
fn a_store_from_a_later_release_is_refused_naming_its_version() {
    use topgun_storage_core::datastores::format::MARKER_KEY;
    use topgun_storage_core::redb::{Database, TableDefinition};
    let (_dir, path) = new_store();
    {
        let db = Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let table: TableDefinition<&[u8], &[u8]> = TableDefinition::new("topgun");
            let mut t = txn.open_table(table).unwrap();
            let mut marker = b"topgun-storage\0".to_vec();
            marker.extend_from_slice(&2u16.to_le_bytes());
            t.insert(MARKER_KEY, marker.as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    let err = RedbDataStore::open(&path, RedbOptions::default()).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::Corrupt, "{err}");
    assert!(err.message().contains("store format version 2"), "{err}");
}

#[test]
fn a_directory_at_the_store_path_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = RedbDataStore::open(dir.path(), RedbOptions::default()).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::Io, "{err}");
    assert!(
        err.message().contains(&*dir.path().to_string_lossy()),
        "{err}"
    );
}

#[test]
fn writes_at_none_are_durable_after_close() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let s = RedbDataStore::open(&path, RedbOptions::with_durability(Durability::None)).unwrap();
    for i in 0..20 {
        block_on(s.add("m", NS, &format!("k{i}"), &rec("v"))).unwrap();
    }
    block_on(s.close()).unwrap();
    assert_eq!(count_keys(&path), 20);
}
