//! [`crate::MapDataStore`] implementations, one module per backend, and
//! [`format`](mod@format), the bytes every byte-oriented backend writes.

mod fault;
pub mod format;
#[cfg(feature = "lmdb")]
mod lmdb;
mod memory;
mod null;
mod open;
#[cfg(feature = "postgres")]
pub mod postgres;
mod redb;
#[cfg(feature = "rocksdb")]
mod rocksdb;
pub mod write_behind;

pub use fault::FaultInjectingDataStore;
#[cfg(feature = "lmdb")]
pub use lmdb::{LmdbDataStore, LmdbOptions};
pub use memory::MemoryDataStore;
pub use null::NullDataStore;
pub use open::{BackendKind, DataStoreSpec};
#[cfg(feature = "postgres")]
pub use postgres::{PostgresConfig, PostgresConfigError, PostgresDataStore};
pub use redb::{FaultControl, FaultInjectingStorage, RedbDataStore, RedbOptions};
#[cfg(feature = "rocksdb")]
pub use rocksdb::{RocksDbDataStore, RocksDbOptions};
pub use write_behind::{
    drain_leftover_log, WriteBehindConfig, WriteBehindDataStore, WriteBehindStats,
};
