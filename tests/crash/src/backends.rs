//! The durable backends the harness crashes. Adding one is a few lines: an
//! `open` function and an entry in [`BACKENDS`] (behind the backend's cargo
//! feature when it has one), then a one-line `#[test]` in
//! `tests/crash.rs`.

use std::path::Path;
use std::sync::Arc;
use topgun_storage_core::{DataStoreResult, Durability, MapDataStore, RedbDataStore, RedbOptions};

/// A backend the harness can open in a directory at a durability level.
#[derive(Debug, Clone, Copy)]
pub struct Backend {
    /// The name the child and the tests use.
    pub name: &'static str,
    /// Opens (or creates) the store kept in `dir` at `durability`.
    pub open: fn(dir: &Path, durability: Durability) -> DataStoreResult<Arc<dyn MapDataStore>>,
    /// The levels at which an acknowledged write must survive SIGKILL (the
    /// rounds alternate between them). `Durability::None` promises nothing
    /// across a kill, so it is never listed.
    pub levels: &'static [Durability],
}

/// Every backend this build has.
pub const BACKENDS: &[Backend] = &[
    Backend {
        name: "redb",
        open: open_redb,
        levels: &[Durability::Fsync, Durability::Os],
    },
    #[cfg(feature = "lmdb")]
    Backend {
        name: "lmdb",
        open: open_lmdb,
        levels: &[Durability::Fsync, Durability::Os],
    },
    #[cfg(feature = "rocksdb")]
    Backend {
        name: "rocksdb",
        open: open_rocksdb,
        levels: &[Durability::Fsync, Durability::Os],
    },
    // `os` commits without waiting for the server's WAL flush: the server
    // still has every acknowledged write when the client is killed.
    #[cfg(feature = "postgres")]
    Backend {
        name: "postgres",
        open: open_postgres,
        levels: &[Durability::Fsync, Durability::Os],
    },
];

/// The backend called `name`.
///
/// # Errors
/// A message naming the backends this build has.
pub fn backend(name: &str) -> Result<&'static Backend, String> {
    BACKENDS.iter().find(|b| b.name == name).ok_or_else(|| {
        let known: Vec<&str> = BACKENDS.iter().map(|b| b.name).collect();
        format!("unknown backend {name:?}: this build has {known:?}")
    })
}

fn open_redb(dir: &Path, durability: Durability) -> DataStoreResult<Arc<dyn MapDataStore>> {
    let options = RedbOptions::with_durability(durability);
    Ok(Arc::new(RedbDataStore::open(
        dir.join("store.redb"),
        options,
    )?))
}

#[cfg(feature = "lmdb")]
fn open_lmdb(dir: &Path, durability: Durability) -> DataStoreResult<Arc<dyn MapDataStore>> {
    use topgun_storage_core::datastores::{LmdbDataStore, LmdbOptions};
    let options = LmdbOptions::with_durability(durability);
    Ok(Arc::new(LmdbDataStore::open(dir.join("lmdb"), options)?))
}

#[cfg(feature = "rocksdb")]
fn open_rocksdb(dir: &Path, durability: Durability) -> DataStoreResult<Arc<dyn MapDataStore>> {
    use topgun_storage_core::datastores::{RocksDbDataStore, RocksDbOptions};
    let options = RocksDbOptions::with_durability(durability);
    Ok(Arc::new(RocksDbDataStore::open(
        dir.join("rocksdb"),
        options,
    )?))
}

/// The PostgreSQL store of `dir`: a table of the server in
/// `TOPGUN_TEST_POSTGRES_URL` (the throwaway cluster `make rust-test`
/// starts) named after the directory, so every round of one run reopens the
/// same table.
#[cfg(feature = "postgres")]
fn open_postgres(dir: &Path, durability: Durability) -> DataStoreResult<Arc<dyn MapDataStore>> {
    use topgun_storage_core::datastores::{PostgresConfig, PostgresDataStore};
    use topgun_storage_core::{block_on, fnv1a32_utf16, DataStoreError, DataStoreErrorKind};
    let url = std::env::var("TOPGUN_TEST_POSTGRES_URL").map_err(|_| {
        DataStoreError::new(
            DataStoreErrorKind::Unavailable,
            "TOPGUN_TEST_POSTGRES_URL is not set: run through `make rust-test`, which starts \
             PostgreSQL (tests/postgres/cluster.sh)",
        )
    })?;
    let table = format!("crash_{:08x}", fnv1a32_utf16(&dir.to_string_lossy()));
    let invalid = |e: topgun_storage_core::datastores::PostgresConfigError| {
        DataStoreError::new(DataStoreErrorKind::Other, e.to_string())
    };
    let config = PostgresConfig::from_connection_string(&url)
        .map_err(invalid)?
        .with_table_name(&table)
        .map_err(invalid)?
        .with_durability(durability);
    Ok(Arc::new(block_on(PostgresDataStore::connect(config))?))
}
