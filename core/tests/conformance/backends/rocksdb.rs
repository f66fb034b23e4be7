//! `RocksDbDataStore`: the core, durable, file and locking groups. Stores
//! live in `store/` inside a temporary directory, at durability `os`. No
//! fault group: rust-rocksdb exposes no file-system layer to fail writes
//! through (RocksDB's fault-injection environment is C++ only).
//!
//! RocksDB has no single main file; a closed store is its SST files plus
//! the MANIFEST that lists them (close flushes the memtables, so no log
//! holds data). The MANIFEST is what a damaged header, garbage or an
//! emptied file hits (every open reads it whole); a truncation cuts the
//! largest SST file, where the records are.

use crate::harness::{Corruption, FileHarness, Harness};
use std::path::{Path, PathBuf};
use tempfile::TempDir;
use topgun_storage_core::datastores::{RocksDbDataStore, RocksDbOptions};
use topgun_storage_core::{DataStoreResult, Durability};

pub struct RocksDbHarness;

fn options() -> RocksDbOptions {
    RocksDbOptions::with_durability(Durability::Os)
}

fn store_dir(dir: &TempDir) -> PathBuf {
    dir.path().join("store")
}

/// The store's files whose names start with `prefix` and end with `suffix`.
fn files_like(dir: &TempDir, prefix: &str, suffix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(store_dir(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with(prefix) && name.ends_with(suffix)
        })
        .collect();
    files.sort();
    files
}

fn manifest(dir: &TempDir) -> PathBuf {
    let current = std::fs::read_to_string(store_dir(dir).join("CURRENT")).unwrap();
    store_dir(dir).join(current.trim())
}

fn largest_sst(dir: &TempDir) -> PathBuf {
    files_like(dir, "", ".sst")
        .into_iter()
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .expect("a closed store has SST files")
}

impl Harness for RocksDbHarness {
    type Store = RocksDbDataStore;
    type Location = TempDir;

    fn new_location() -> TempDir {
        tempfile::tempdir().unwrap()
    }

    fn open(dir: &TempDir) -> DataStoreResult<RocksDbDataStore> {
        RocksDbDataStore::open(store_dir(dir), options())
    }
}

impl FileHarness for RocksDbHarness {
    fn open_in(dir: &Path) -> DataStoreResult<RocksDbDataStore> {
        RocksDbDataStore::open(dir.join("store"), options())
    }

    fn corrupt(dir: &TempDir, how: Corruption) {
        match how {
            Corruption::Header => {
                let path = manifest(dir);
                let mut bytes = std::fs::read(&path).unwrap();
                for (i, b) in bytes.iter_mut().take(512).enumerate() {
                    *b = (i as u8).wrapping_mul(37) ^ 0xA5;
                }
                std::fs::write(&path, bytes).unwrap();
            }
            Corruption::Truncate => {
                let path = largest_sst(dir);
                let len = std::fs::metadata(&path).unwrap().len();
                let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
                f.set_len(len / 2).unwrap();
            }
            Corruption::Garbage => {
                let path = manifest(dir);
                let len = std::fs::metadata(&path).unwrap().len();
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
            Corruption::Empty => std::fs::write(manifest(dir), b"").unwrap(),
            Corruption::Foreign => {
                let path = store_dir(dir);
                std::fs::remove_dir_all(&path).unwrap();
                let mut opts = rocksdb::Options::default();
                opts.create_if_missing(true);
                let db = rocksdb::DB::open(&opts, &path).unwrap();
                db.put(b"someone-else", b"1").unwrap();
            }
        }
    }

    fn files(dir: &TempDir) -> Vec<PathBuf> {
        let mut files = files_like(dir, "", ".sst");
        files.extend(files_like(dir, "MANIFEST-", ""));
        files.push(store_dir(dir).join("CURRENT"));
        files
    }
}
