//! [`crate::MapDataStore`] implementations.

mod null;

pub use null::NullDataStore;
