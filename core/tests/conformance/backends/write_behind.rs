//! `WriteBehindDataStore` over other backends: the queue and its log must
//! be invisible to every case (reads merge the queue over the backend).
//!
//! Over memory, only the core cases apply: the backend forgets everything
//! at close, so nothing is durable whatever the log does.

use crate::harness::Harness;
use std::time::Duration;
use tempfile::TempDir;
use topgun_storage_core::{
    DataStoreResult, Durability, MemoryDataStore, WriteBehindConfig, WriteBehindDataStore,
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
