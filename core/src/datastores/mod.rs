//! [`crate::MapDataStore`] implementations, one module per backend, and
//! [`format`], the bytes every byte-oriented backend writes.

mod fault;
pub mod format;
mod memory;
mod null;
mod redb;
pub mod write_behind;

pub use fault::FaultInjectingDataStore;
pub use memory::MemoryDataStore;
pub use null::NullDataStore;
pub use redb::{FaultControl, FaultInjectingStorage, RedbDataStore, RedbOptions};
pub use write_behind::{WriteBehindConfig, WriteBehindDataStore, WriteBehindStats};
