//! [`crate::StorageEngine`] implementations.

mod hashmap;

pub use hashmap::{HashMapStorage, MAX_SHARDS};
