//! # topgun-storage-core
//!
//! The storage engine of the TopGun server, after Hazelcast's three layers:
//!
//! | layer | trait | implementation | job |
//! |---|---|---|---|
//! | 1 | [`StorageEngine`] | [`HashMapStorage`] | in-memory key -> [`Record`], cursor iteration, sampling, cost |
//! | 2 | [`RecordStore`] | [`DefaultRecordStore`], [`RecordStoreFactory`] | metadata, expiry, eviction, observers, one store per (map, partition) |
//! | 3 | [`MapDataStore`] | [`NullDataStore`], [`MemoryDataStore`], [`RedbDataStore`] (default on disk) | persistence |
//!
//! Values have the shape of TopGun's TypeScript `StorageValue`
//! ([`RecordValue`]); [`codec`] turns them into MessagePack (TopGun's wire
//! format) or JSON and back. [`partition_for_key`] routes a key to one of
//! TopGun's 271 partitions.

pub mod blocking;
pub mod clock;
pub mod codec;
pub mod cursor;
pub mod datastores;
pub mod default_record_store;
pub mod engine;
pub mod engines;
pub mod error_code;
pub mod expiry;
pub mod export;
pub mod factory;
pub mod maintenance;
pub mod map_data_store;
pub mod map_storage;
pub mod observer;
pub mod partition;
pub mod record;
pub mod record_store;
pub mod snapshot;
pub mod subscriptions;
pub mod value;
pub mod wal;

/// The redb crate this build stores in, for
/// [`RedbDataStore::open_with_backend`] (its storage backends and errors).
pub use ::redb;
pub use blocking::block_on;
pub use clock::{Clock, ManualClock, SystemClock};
pub use cursor::{CursorError, IterationCursor, CURSOR_LEN};
pub use datastores::{
    BackendKind, DataStoreSpec, MemoryDataStore, NullDataStore, RedbDataStore, RedbOptions,
    WriteBehindConfig, WriteBehindDataStore, WriteBehindStats,
};
pub use default_record_store::{BatchOp, DefaultRecordStore, WarmUpProgress};
pub use engine::{FetchResult, StorageEngine};
pub use engines::{HashMapSnapshot, HashMapStorage};
pub use error_code::{ErrorCode, UnknownErrorCode};
pub use expiry::{ExpiryPolicy, ExpiryReason, MAX_EXPIRY_MILLIS};
pub use factory::{ObserverFactory, RecordStoreFactory};
pub use maintenance::{spawn_maintenance, MaintenanceHandle};
pub use map_data_store::{
    DataStoreError, DataStoreErrorKind, DataStoreResult, Durability, MapDataStore, Namespace,
    ScanEntry, ScanPage, ScanRequest, StoredRecord, WriteOp,
};
pub use map_storage::MapStorage;
pub use observer::{
    after_delivery, in_delivery, CompositeMutationObserver, EventKind, EventObserver,
    MutationObserver, StoreEvent,
};
pub use partition::{
    fnv1a32_units, fnv1a32_utf16, partition_for_key, partition_for_units, PARTITION_COUNT,
};
pub use record::{OrMapEntry, Record, RecordMetadata, RecordValue, Timestamp, MAX_MILLIS};
pub use record_store::{
    entry_cost, CallerProvenance, EvictionPolicy, MaintenanceReport, ReadOutcome, RecordStore,
    StorageConfig, StoreError, StoreStats, UnknownEvictionPolicy,
};
pub use snapshot::{EngineSnapshot, MapsSnapshot, SnapshotRegistry, SnapshotTicket, StoreSnapshot};
pub use subscriptions::Subscriptions;
pub use value::{Value, ValueMap};

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
