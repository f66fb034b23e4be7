//! What a backend provides to the suite (the harness traits) and the helpers
//! every case uses.

#![allow(dead_code)] // not every backend instantiates every group

use std::path::{Path, PathBuf};
use topgun_storage_core::{
    block_on, DataStoreError, DataStoreErrorKind, DataStoreResult, MapDataStore, Namespace,
    RecordValue, ScanPage, ScanRequest, StoredRecord, Timestamp, Value, WriteOp,
};

pub use topgun_storage_core::MapDataStore as _;
pub use Namespace::{Backup, Primary};

/// A backend under test. Implement this (a few lines) and instantiate the
/// groups that apply (see README.md).
pub trait Harness: 'static {
    /// The backend.
    type Store: MapDataStore + 'static;
    /// Where one store lives (a temporary directory, a database schema).
    /// Dropping it removes the store.
    type Location: Send + Sync + 'static;

    /// A new, empty location, different from every other.
    fn new_location() -> Self::Location;

    /// Opens the store at `location`, creating it when there is none. For a
    /// durable backend, opening the same location again after a close gives
    /// back what was acknowledged.
    fn open(location: &Self::Location) -> DataStoreResult<Self::Store>;

    /// The longest user key (in bytes, with a map name of a few bytes) the
    /// backend stores; longer keys must be refused with `Rejected`. `None`:
    /// no limit below 1 MiB.
    fn max_key_len() -> Option<usize> {
        None
    }
}

/// How [`FileHarness::corrupt`] damages a closed store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corruption {
    /// Overwrite the first bytes of the store's main file (its header) with
    /// garbage.
    Header,
    /// Cut the main file to half its length.
    Truncate,
    /// Replace the main file with random bytes of the same length.
    Garbage,
    /// Replace the main file with an empty one.
    Empty,
    /// Replace the store with a valid database of the same engine that is
    /// not a topgun-storage store (no format marker).
    Foreign,
}

/// A backend that keeps its store in files.
pub trait FileHarness: Harness {
    /// Opens (creating) a store whose files go into `dir`.
    fn open_in(dir: &Path) -> DataStoreResult<Self::Store>;

    /// Damages the (closed) store at `location` as `how` says.
    fn corrupt(location: &Self::Location, how: Corruption);

    /// Every file the store at `location` consists of, for checks that a
    /// refused open left them as they were.
    fn files(location: &Self::Location) -> Vec<PathBuf>;
}

/// Turns storage-level faults on and off for a store opened by
/// [`FaultHarness::open_with_faults`].
pub trait FaultSwitch: Send + Sync {
    /// While on, every write the backend makes to its storage fails (after
    /// the part of the write that reached the storage, if any).
    fn fail_storage_writes(&self, on: bool);
}

/// A backend that can make its own storage fail part way through a write
/// (a failed `pwrite`, a failed `fsync`, a full map...).
pub trait FaultHarness: Harness {
    /// The switch for one store.
    type Switch: FaultSwitch;

    /// Opens the store at `location` with a fault switch.
    fn open_with_faults(location: &Self::Location) -> DataStoreResult<(Self::Store, Self::Switch)>;
}

/// A store with the location it lives in (kept alive as long as the store).
pub struct Fixture<H: Harness> {
    pub store: H::Store,
    pub location: H::Location,
}

impl<H: Harness> Fixture<H> {
    /// A fresh, empty store.
    pub fn new() -> Self {
        let location = H::new_location();
        let store = open_ok::<H>(&location);
        Self { store, location }
    }

    /// Closes the store and opens the same location again.
    pub fn reopen(self) -> Self {
        let Self { store, location } = self;
        block_on(store.close()).expect("close before reopen");
        drop(store);
        let store = open_ok::<H>(&location);
        Self { store, location }
    }

    /// Drops the store without closing it and opens the location again.
    pub fn drop_and_reopen(self) -> Self {
        let Self { store, location } = self;
        drop(store);
        let store = open_ok::<H>(&location);
        Self { store, location }
    }

    /// Closes the store and hands back its location.
    pub fn into_closed_location(self) -> H::Location {
        block_on(self.store.close()).expect("close");
        self.location
    }
}

impl<H: Harness> std::ops::Deref for Fixture<H> {
    type Target = H::Store;
    fn deref(&self) -> &H::Store {
        &self.store
    }
}

#[track_caller]
pub fn open_ok<H: Harness>(location: &H::Location) -> H::Store {
    match H::open(location) {
        Ok(store) => store,
        Err(e) => panic!("opening the store failed: {e} ({:?})", e.kind()),
    }
}

/// A record holding the string `v`, written at time 1000, no expiry.
pub fn rec(v: &str) -> StoredRecord {
    StoredRecord::new(RecordValue::lww(v, Timestamp::new(1, 0, "node")), 1_000)
}

/// A record holding an arbitrary value.
pub fn rec_value(v: impl Into<Value>) -> StoredRecord {
    StoredRecord::new(RecordValue::lww(v, Timestamp::new(1, 0, "node")), 1_000)
}

/// The string a record made by [`rec`] holds.
pub fn text(r: &StoredRecord) -> String {
    match &r.value {
        RecordValue::Lww {
            value: Value::String(s),
            ..
        } => s.clone(),
        other => panic!("not a string record: {other:?}"),
    }
}

#[track_caller]
pub fn put<S: MapDataStore + ?Sized>(s: &S, map: &str, ns: Namespace, key: &str, v: &str) {
    if let Err(e) = block_on(s.add(map, ns, key, &rec(v))) {
        panic!("put {map:?}/{key:?} failed: {e}");
    }
}

#[track_caller]
pub fn put_many<S: MapDataStore + ?Sized>(s: &S, map: &str, ns: Namespace, keys: &[&str]) {
    let records: Vec<(String, StoredRecord)> =
        keys.iter().map(|k| ((*k).to_owned(), rec(k))).collect();
    block_on(s.add_all(map, ns, &records)).expect("add_all");
}

#[track_caller]
pub fn get<S: MapDataStore + ?Sized>(s: &S, map: &str, ns: Namespace, key: &str) -> Option<String> {
    match block_on(s.load(map, ns, key)) {
        Ok(r) => r.as_ref().map(text),
        Err(e) => panic!("load {map:?}/{key:?} failed: {e}"),
    }
}

#[track_caller]
pub fn write<S: MapDataStore + ?Sized>(s: &S, map: &str, ns: Namespace, ops: &[WriteOp<'_>]) {
    if let Err(e) = block_on(s.write(map, ns, ops)) {
        panic!("write of {} ops to {map:?} failed: {e}", ops.len());
    }
}

#[track_caller]
pub fn scan<S: MapDataStore + ?Sized>(s: &S, request: &ScanRequest<'_>) -> ScanPage {
    match block_on(s.scan(request)) {
        Ok(page) => page,
        Err(e) => panic!("scan {request:?} failed: {e}"),
    }
}

pub fn keys_of(page: &ScanPage) -> Vec<String> {
    page.entries.iter().map(|e| e.key.clone()).collect()
}

/// Every key of `map` with `prefix`, walking pages of `page` keys; checks
/// that the pages' keys ascend, each page is at most `page` long, and the
/// scan ends.
#[track_caller]
pub fn scan_all<S: MapDataStore + ?Sized>(
    s: &S,
    map: &str,
    ns: Namespace,
    prefix: &str,
    page: usize,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..1_000_000 {
        let req = ScanRequest::keys(map, ns, page)
            .with_prefix(prefix)
            .resume_after(after.as_deref());
        let got = scan(s, &req);
        assert!(got.entries.len() <= page, "page longer than its limit");
        for e in &got.entries {
            if let Some(last) = out.last() {
                assert!(
                    last.as_bytes() < e.key.as_bytes(),
                    "{last:?} then {:?}",
                    e.key
                );
            }
            assert!(
                e.key.starts_with(prefix),
                "{:?} lacks prefix {prefix:?}",
                e.key
            );
            assert!(e.record.is_none(), "a keys-only scan returned a record");
        }
        out.extend(keys_of(&got));
        match got.resume_after {
            None => return out,
            Some(next) => {
                assert_eq!(Some(&next), out.last(), "resume key is the page's last key");
                after = Some(next);
            }
        }
    }
    panic!("the scan did not end");
}

/// Asserts that `result` failed with `kind` and returns the error.
#[track_caller]
pub fn expect_kind<T>(result: DataStoreResult<T>, kind: DataStoreErrorKind) -> DataStoreError {
    match result {
        Ok(_) => panic!("expected a {kind:?} error, got Ok"),
        Err(e) => {
            assert_eq!(e.kind(), kind, "unexpected error: {e}");
            e
        }
    }
}

/// Asserts that `result` failed with `kind`.
#[track_caller]
pub fn assert_kind<T: std::fmt::Debug>(result: DataStoreResult<T>, kind: DataStoreErrorKind) {
    match result {
        Ok(v) => panic!("expected a {kind:?} error, got Ok({v:?})"),
        Err(e) => assert_eq!(e.kind(), kind, "unexpected error: {e}"),
    }
}

/// The keys `k00000`, `k00001`, ... (sorted as strings and as numbers).
pub fn numbered(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("k{i:05}")).collect()
}

/// `DataStoreError` display with its kind, for messages.
pub fn describe(e: &DataStoreError) -> String {
    format!("{:?}: {e}", e.kind())
}
