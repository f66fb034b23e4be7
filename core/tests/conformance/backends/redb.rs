//! `RedbDataStore`: every group. Stores live in a temporary directory as
//! `store.redb`, opened at durability `os` (a durable commit without the
//! fsync: what the suite checks holds at every level, and the tests stay
//! fast; `core/tests/redb_store.rs` checks the levels themselves).

use crate::harness::{Corruption, FaultHarness, FaultSwitch, FileHarness, Harness};
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use tempfile::TempDir;
use topgun_storage_core::datastores::{FaultControl, FaultInjectingStorage};
use topgun_storage_core::redb::backends::FileBackend;
use topgun_storage_core::{
    block_on, DataStoreResult, Durability, MapDataStore, RedbDataStore, RedbOptions,
};

pub struct RedbHarness;

fn options() -> RedbOptions {
    RedbOptions {
        durability: Durability::Os,
        cache_size: 16 << 20,
    }
}

fn file(dir: &TempDir) -> PathBuf {
    dir.path().join("store.redb")
}

impl Harness for RedbHarness {
    type Store = RedbDataStore;
    type Location = TempDir;

    fn new_location() -> TempDir {
        tempfile::tempdir().unwrap()
    }

    fn open(dir: &TempDir) -> DataStoreResult<RedbDataStore> {
        RedbDataStore::open(file(dir), options())
    }
}

impl FileHarness for RedbHarness {
    fn open_in(dir: &Path) -> DataStoreResult<RedbDataStore> {
        RedbDataStore::open(dir.join("store.redb"), options())
    }

    fn corrupt(dir: &TempDir, how: Corruption) {
        let path = file(dir);
        let len = std::fs::metadata(&path).unwrap().len();
        match how {
            Corruption::Header => {
                let mut bytes = std::fs::read(&path).unwrap();
                for (i, b) in bytes.iter_mut().take(512).enumerate() {
                    *b = (i as u8).wrapping_mul(37) ^ 0xA5;
                }
                std::fs::write(&path, bytes).unwrap();
            }
            Corruption::Truncate => {
                let f = OpenOptions::new().write(true).open(&path).unwrap();
                f.set_len(len / 2).unwrap();
            }
            Corruption::Garbage => {
                // A fixed xorshift stream: the same garbage every run.
                let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
                let bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        x as u8
                    })
                    .collect();
                std::fs::write(&path, bytes).unwrap();
            }
            Corruption::Empty => std::fs::write(&path, b"").unwrap(),
            Corruption::Foreign => {
                std::fs::remove_file(&path).unwrap();
                let db = topgun_storage_core::redb::Database::create(&path).unwrap();
                let txn = db.begin_write().unwrap();
                {
                    let def: topgun_storage_core::redb::TableDefinition<&str, u64> =
                        topgun_storage_core::redb::TableDefinition::new("someone-else");
                    let mut t = txn.open_table(def).unwrap();
                    t.insert("k", 1).unwrap();
                }
                txn.commit().unwrap();
            }
        }
    }

    fn files(dir: &TempDir) -> Vec<PathBuf> {
        vec![file(dir)]
    }
}

pub struct RedbSwitch(FaultControl);

impl FaultSwitch for RedbSwitch {
    fn fail_storage_writes(&self, on: bool) {
        self.0.fail_writes(on);
    }
}

impl FaultHarness for RedbHarness {
    type Switch = RedbSwitch;

    fn open_with_faults(dir: &TempDir) -> DataStoreResult<(RedbDataStore, RedbSwitch)> {
        if !file(dir).exists() {
            let store = Self::open(dir)?;
            block_on(store.close())?;
        }
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(file(dir))
            .unwrap();
        let control = FaultControl::default();
        let storage = FaultInjectingStorage::new(FileBackend::new(f).unwrap(), control.clone());
        let store = RedbDataStore::open_with_backend(storage, options())?;
        Ok((store, RedbSwitch(control)))
    }
}
