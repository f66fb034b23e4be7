//! Layer 3: persistence behind a record store ([`MapDataStore`]).

use crate::record::RecordValue;
use async_trait::async_trait;
use std::error::Error;
use std::fmt;

/// A failure reported by a data store (I/O, the database, a rejected value).
///
/// Carries a message and, when there is one, the underlying error as its
/// [`Error::source`].
#[derive(Debug)]
pub struct DataStoreError {
    message: String,
    source: Option<Box<dyn Error + Send + Sync + 'static>>,
}

impl DataStoreError {
    /// An error with a message only.
    #[must_use]
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// An error with a message and the error that caused it.
    #[must_use]
    pub fn with_source(
        message: impl Into<String>,
        source: impl Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }

    /// The message, without the source.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for DataStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error for DataStoreError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}

/// Result of a data-store call.
pub type DataStoreResult<T> = Result<T, DataStoreError>;

/// External persistence of one or more maps (`MapStore` in Hazelcast).
///
/// A record store writes through to it and loads misses from it. Every
/// method names the map, because one data store serves many maps. Times are
/// epoch milliseconds; an `expiration_time` of 0 means "never". The trait is
/// object safe and used as `Arc<dyn MapDataStore>`; implementations must be
/// safe to call from several threads at once.
#[async_trait]
pub trait MapDataStore: Send + Sync {
    /// Stores `value` under `key` of `map` (insert or overwrite).
    async fn add(
        &self,
        map: &str,
        key: &str,
        value: &RecordValue,
        expiration_time: i64,
        now: i64,
    ) -> DataStoreResult<()>;

    /// Stores a backup copy of `value` (the backup namespace of `map`).
    async fn add_backup(
        &self,
        map: &str,
        key: &str,
        value: &RecordValue,
        expiration_time: i64,
        now: i64,
    ) -> DataStoreResult<()>;

    /// Deletes `key` of `map`; deleting a missing key succeeds.
    async fn remove(&self, map: &str, key: &str, now: i64) -> DataStoreResult<()>;

    /// Deletes the backup copy of `key`; a missing key succeeds.
    async fn remove_backup(&self, map: &str, key: &str, now: i64) -> DataStoreResult<()>;

    /// The stored value of `key`, or `None`.
    async fn load(&self, map: &str, key: &str) -> DataStoreResult<Option<RecordValue>>;

    /// The stored values of `keys`; keys not found are left out.
    async fn load_all(
        &self,
        map: &str,
        keys: &[String],
    ) -> DataStoreResult<Vec<(String, RecordValue)>>;

    /// Deletes every key in `keys`; missing keys are ignored.
    async fn remove_all(&self, map: &str, keys: &[String]) -> DataStoreResult<()>;

    /// Whether `key` may be loaded now (a write-behind store says no while a
    /// write of it is queued).
    fn is_loadable(&self, key: &str) -> bool;

    /// Writes accepted but not yet persisted.
    fn pending_operation_count(&self) -> u64;

    /// Starts persisting queued writes without waiting; returns how many were
    /// started.
    async fn soft_flush(&self) -> DataStoreResult<u64>;

    /// Persists every queued write before returning.
    async fn hard_flush(&self) -> DataStoreResult<()>;

    /// Persists `value` of `key` now, bypassing any queue.
    async fn flush_key(
        &self,
        map: &str,
        key: &str,
        value: &RecordValue,
        is_backup: bool,
    ) -> DataStoreResult<()>;

    /// Drops queued writes and in-memory state (not persisted data).
    fn reset(&self);

    /// `true` only for a store that persists nothing; record stores skip
    /// loads and never consider records dirty against it.
    fn is_null(&self) -> bool {
        false
    }
}
