//! One harness per backend: how the suite opens, reopens, locks and damages
//! it.

#[cfg(feature = "lmdb")]
pub mod lmdb;
pub mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod redb;
#[cfg(feature = "rocksdb")]
pub mod rocksdb;
pub mod write_behind;
