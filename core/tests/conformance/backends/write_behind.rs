//! `WriteBehindDataStore` over other backends: the queue and its log must
//! be invisible to every case (reads merge the queue over the backend).
//!
//! Over memory, only the core cases apply: the backend forgets everything
//! at close, so nothing is durable whatever the log does. Over redb, every
//! group but the storage faults (a write-behind `write` succeeds while the
//! backend fails: it queues, and its own tests in `core/tests/write_behind.rs`
//! cover failing backends). The redb file and the log directory share the
//! location; damage to the redb file must still be refused.

use crate::backends::redb::RedbHarness;
use crate::harness::{Corruption, FileHarness, Harness};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tempfile::TempDir;
use topgun_storage_core::{
    DataStoreResult, Durability, MemoryDataStore, RedbDataStore, WriteBehindConfig,
    WriteBehindDataStore,
};

/// The settings every write-behind harness uses: the log on (at `os`, as
/// D3 measures it), a short write delay so the background drain stores
/// while cases run, and small batches so cases see many drain rounds.
pub fn config(dir: &std::path::Path) -> WriteBehindConfig {
    WriteBehindConfig {
        write_delay_millis: 1,
        batch_size: 64,
        backpressure_wait: Duration::from_secs(30),
        ..WriteBehindConfig::with_log(dir.join("wal"), Durability::Os)
    }
}

pub struct WriteBehindMemoryHarness;

impl Harness for WriteBehindMemoryHarness {
    type Store = WriteBehindDataStore<MemoryDataStore>;
    type Location = TempDir;

    fn new_location() -> TempDir {
        tempfile::tempdir().unwrap()
    }

    fn open(dir: &TempDir) -> DataStoreResult<Self::Store> {
        WriteBehindDataStore::open(MemoryDataStore::new(), config(dir.path()))
    }
}

pub struct WriteBehindRedbHarness;

impl Harness for WriteBehindRedbHarness {
    type Store = WriteBehindDataStore<RedbDataStore>;
    type Location = TempDir;

    fn new_location() -> TempDir {
        tempfile::tempdir().unwrap()
    }

    fn open(dir: &TempDir) -> DataStoreResult<Self::Store> {
        Self::open_in(dir.path())
    }
}

impl FileHarness for WriteBehindRedbHarness {
    fn open_in(dir: &Path) -> DataStoreResult<Self::Store> {
        let inner = RedbHarness::open_in(dir)?;
        WriteBehindDataStore::open(inner, config(dir))
    }

    fn corrupt(dir: &TempDir, how: Corruption) {
        RedbHarness::corrupt(dir, how);
    }

    fn files(dir: &TempDir) -> Vec<PathBuf> {
        let mut files = RedbHarness::files(dir);
        if let Ok(entries) = std::fs::read_dir(dir.path().join("wal")) {
            files.extend(entries.map(|e| e.unwrap().path()));
        }
        files.sort();
        files
    }
}
