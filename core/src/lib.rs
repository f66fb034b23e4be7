//! # topgun-storage-core
//!
//! The storage engine of the TopGun server, after Hazelcast's three layers:
//!
//! | layer | trait | implementation | job |
//! |---|---|---|---|
//! | 1 | [`StorageEngine`] | [`HashMapStorage`] | in-memory key -> [`Record`], cursor iteration, sampling, cost |
//! | 3 | [`MapDataStore`] | [`NullDataStore`] | external persistence |
//!
//! Values have the shape of TopGun's TypeScript `StorageValue`
//! ([`RecordValue`]); [`codec`] turns them into MessagePack (TopGun's wire
//! format) or JSON and back. [`partition_for_key`] routes a key to one of
//! TopGun's 271 partitions.

pub mod codec;
pub mod cursor;
pub mod datastores;
pub mod engine;
pub mod engines;
pub mod map_data_store;
pub mod partition;
pub mod record;
pub mod value;

pub use cursor::{CursorError, IterationCursor};
pub use datastores::NullDataStore;
pub use engine::{FetchResult, StorageEngine};
pub use engines::HashMapStorage;
pub use map_data_store::{DataStoreError, MapDataStore};
pub use partition::{fnv1a32_utf16, partition_for_key, PARTITION_COUNT};
pub use record::{OrMapEntry, Record, RecordMetadata, RecordValue, Timestamp};
pub use value::{Value, ValueMap};

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
