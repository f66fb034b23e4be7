//! `LmdbDataStore`: the core, durable, file and locking groups. Stores live
//! in `store/` inside a temporary directory, at durability `os`, with a
//! 1 MiB initial map so that the large cases (16 MiB values, 100,000-entry
//! batches) grow it. No fault group: heed has no pluggable file layer to
//! fail writes through; LMDB's own failure path, a map that cannot grow,
//! is checked in `core/tests/lmdb_backend.rs`.

use crate::harness::{Corruption, FileHarness, Harness};
use std::path::{Path, PathBuf};
use tempfile::TempDir;
use topgun_storage_core::datastores::{LmdbDataStore, LmdbOptions};
use topgun_storage_core::{DataStoreResult, Durability};

pub struct LmdbHarness;

fn options() -> LmdbOptions {
    LmdbOptions {
        durability: Durability::Os,
        initial_map_size: 1 << 20,
        ..LmdbOptions::default()
    }
}

fn store_dir(dir: &TempDir) -> PathBuf {
    dir.path().join("store")
}

/// The main file: LMDB's data file.
fn data_file(dir: &TempDir) -> PathBuf {
    store_dir(dir).join("data.mdb")
}

impl Harness for LmdbHarness {
    type Store = LmdbDataStore;
    type Location = TempDir;

    fn new_location() -> TempDir {
        tempfile::tempdir().unwrap()
    }

    fn open(dir: &TempDir) -> DataStoreResult<LmdbDataStore> {
        LmdbDataStore::open(store_dir(dir), options())
    }
}

impl FileHarness for LmdbHarness {
    fn open_in(dir: &Path) -> DataStoreResult<LmdbDataStore> {
        LmdbDataStore::open(dir.join("store"), options())
    }

    fn corrupt(dir: &TempDir, how: Corruption) {
        let path = data_file(dir);
        let mut bytes = std::fs::read(&path).unwrap();
        match how {
            Corruption::Header => {
                for (i, b) in bytes.iter_mut().take(512).enumerate() {
                    *b = (i as u8).wrapping_mul(37) ^ 0xA5;
                }
            }
            Corruption::Truncate => bytes.truncate(bytes.len() / 2),
            Corruption::Garbage => {
                // A fixed xorshift stream: the same garbage every run.
                let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
                for b in &mut bytes {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    *b = x as u8;
                }
            }
            Corruption::Empty => bytes.clear(),
            Corruption::Foreign => {
                // A valid LMDB file whose marker belongs to someone else:
                // LMDB has no page checksums, so rewriting the marker's
                // magic (in every copy of its page) leaves an intact
                // environment that is not a topgun-storage store.
                let magic = b"topgun-storage\0";
                let places: Vec<usize> = bytes
                    .windows(magic.len())
                    .enumerate()
                    .filter(|(_, w)| w == magic)
                    .map(|(at, _)| at)
                    .collect();
                assert!(!places.is_empty(), "no marker in {}", path.display());
                for at in places {
                    bytes[at..at + magic.len()].copy_from_slice(b"someone-else!!\0");
                }
            }
        }
        std::fs::write(&path, bytes).unwrap();
    }

    fn files(dir: &TempDir) -> Vec<PathBuf> {
        vec![data_file(dir)]
    }
}
