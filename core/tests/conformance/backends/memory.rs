//! `MemoryDataStore`: the core cases only (nothing survives the process,
//! there are no files, locks or storage faults).

use crate::harness::Harness;
use topgun_storage_core::{DataStoreResult, MemoryDataStore};

pub struct MemoryHarness;

impl Harness for MemoryHarness {
    type Store = MemoryDataStore;
    type Location = ();

    fn new_location() {}

    fn open(_: &()) -> DataStoreResult<MemoryDataStore> {
        Ok(MemoryDataStore::new())
    }
}
