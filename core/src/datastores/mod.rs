//! [`crate::MapDataStore`] implementations, one module per backend.

mod fault;
mod memory;
mod null;

pub use fault::FaultInjectingDataStore;
pub use memory::MemoryDataStore;
pub use null::NullDataStore;
