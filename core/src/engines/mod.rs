//! [`crate::StorageEngine`] implementations.

mod hashmap;

pub use hashmap::{HashMapSnapshot, HashMapStorage, MAX_SHARDS};
