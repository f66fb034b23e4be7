//! Layer 3: persistence behind a record store ([`MapDataStore`]).
//!
//! The contract every backend meets (memory, redb, LMDB, RocksDB,
//! PostgreSQL, write-behind over any of them), checked by one conformance
//! suite (`core/tests/conformance/`). docs/architecture.md ("The durable
//! tier") describes the guarantees per backend and durability level.
//!
//! * **Maps and namespaces.** One data store serves many maps. Each map has
//!   a [`Namespace::Primary`] and a [`Namespace::Backup`] namespace (TopGun
//!   keeps backup copies of other members' partitions); the two never see
//!   each other's keys. Map names and keys are any UTF-8 string, the empty
//!   string included.
//! * **What is stored** per key: a [`StoredRecord`]: the value (written as
//!   canonical MessagePack by the byte-oriented backends), its absolute
//!   expiration time, its max-idle setting and the time it was written, so
//!   that a record loaded after a restart expires when it would have without
//!   the restart.
//! * **Writes** go through one primitive, [`MapDataStore::write`]: a batch of
//!   puts and removes of one map and namespace, applied in order (a later op
//!   on a key wins) and atomically where the backend can (every durable
//!   backend here can: a failed batch leaves nothing). When `write` returns
//!   `Ok`, the batch is *acknowledged*: it is visible to every later read,
//!   and durable as the store's [`Durability`] says.
//! * **Reads**: point loads and a key-ordered keyset [`scan`](MapDataStore::scan)
//!   (keys compare as UTF-8 bytes, i.e. by code point). A scan resumes
//!   strictly after the last key it returned, so it needs no server-side
//!   state, survives restarts, and under concurrent writes returns every key
//!   present for the whole scan exactly once and in order.
//! * **Errors** carry a [`DataStoreErrorKind`], mapped to an
//!   [`ErrorCode`](crate::ErrorCode) and so to every language. A failed call
//!   changes nothing that was acknowledged before it.

use crate::expiry::{effective_policy, ExpiryPolicy};
use crate::record::{RecordMetadata, RecordValue};
use async_trait::async_trait;
use std::error::Error;
use std::fmt;
use std::io;
use std::str::FromStr;

/// Which copy of a map's data a call addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Namespace {
    /// The partition owner's data.
    Primary,
    /// Backup copies this member keeps for another member's partitions.
    Backup,
}

impl Namespace {
    /// Both namespaces, primary first.
    pub const ALL: [Namespace; 2] = [Namespace::Primary, Namespace::Backup];

    /// Stable lowercase name (`"primary"`, `"backup"`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Namespace::Primary => "primary",
            Namespace::Backup => "backup",
        }
    }
}

/// When an acknowledged write is on stable storage.
///
/// | level | survives a process crash or SIGKILL | survives power loss |
/// |---|---|---|
/// | `Fsync` | yes | yes |
/// | `Os` | yes | no (the OS holds it in its page cache) |
/// | `None` | no guarantee | no |
///
/// [`MapDataStore::flush`] makes everything acknowledged so far durable as
/// with `Fsync`, whatever the level. Backends map the levels to their own
/// settings (documented on each backend type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Durability {
    /// Every acknowledged write has been synced to the device (fsync).
    #[default]
    Fsync,
    /// Every acknowledged write has been handed to the operating system.
    Os,
    /// Writes may stay in the process until a flush or close (tests, caches).
    None,
}

impl Durability {
    /// Stable lowercase name, as accepted by [`FromStr`]: `"fsync"`, `"os"`,
    /// `"none"`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::Fsync => "fsync",
            Durability::Os => "os",
            Durability::None => "none",
        }
    }
}

impl fmt::Display for Durability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Durability {
    type Err = String;

    /// Parses `"fsync"`, `"os"` or `"none"` (exactly; the error names the
    /// accepted values).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fsync" => Ok(Durability::Fsync),
            "os" => Ok(Durability::Os),
            "none" => Ok(Durability::None),
            other => Err(format!(
                "unknown durability {other:?}: expected \"fsync\", \"os\" or \"none\""
            )),
        }
    }
}

/// What a data store keeps for one key.
///
/// Times are epoch milliseconds. `expiration_time` is absolute, so a record
/// written at `t0` with a 60 s TTL and loaded at `t0 + 30 s` still expires at
/// `t0 + 60 s`. The record store fills it in from its clock and the record's
/// metadata; the data store only keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRecord {
    /// The value, in TopGun's `StorageValue` shape.
    pub value: RecordValue,
    /// When the record's time to live ends; 0 means never.
    pub expiration_time: i64,
    /// The longest time the record may go unread, in milliseconds, as it
    /// applied when the record was written; 0 means no limit.
    pub max_idle_millis: u64,
    /// When this version of the record was written.
    pub write_time: i64,
}

impl StoredRecord {
    /// A record with no expiry, written at `write_time`.
    #[must_use]
    pub fn new(value: RecordValue, write_time: i64) -> Self {
        Self {
            value,
            expiration_time: 0,
            max_idle_millis: 0,
            write_time,
        }
    }

    /// What a record store persists for `value` with metadata `meta`: the
    /// TTL deadline and the max-idle limit that apply to it (its own, else
    /// `defaults`), and its last write time.
    #[must_use]
    pub fn from_metadata(
        value: RecordValue,
        meta: &RecordMetadata,
        defaults: ExpiryPolicy,
    ) -> Self {
        let policy = effective_policy(meta, defaults);
        let expiration_time = if policy.ttl_millis > 0 {
            let ttl = i64::try_from(policy.ttl_millis).unwrap_or(i64::MAX);
            meta.last_update_time.saturating_add(ttl)
        } else {
            0
        };
        Self {
            value,
            expiration_time,
            max_idle_millis: policy.max_idle_millis,
            write_time: meta.last_update_time,
        }
    }

    /// The metadata of this record when it is loaded into memory at `now`
    /// with `cost`: clean (stored at `now`, or at its write time if that is
    /// later), last written at its write time, its TTL deadline kept exactly
    /// (as a per-entry TTL counted from the write time), its max-idle limit
    /// kept, and the load counted as an access (idle time restarts at the
    /// load: the data store does not see reads, so the time of the last read
    /// before a restart is not known).
    #[must_use]
    pub fn metadata_at_load(&self, now: i64, cost: u64) -> RecordMetadata {
        let mut meta = RecordMetadata::new(now, cost);
        meta.creation_time = self.write_time.min(now);
        meta.last_update_time = self.write_time;
        meta.last_stored_time = self.write_time.max(now);
        if self.expiration_time > 0 {
            let ttl = self.expiration_time.saturating_sub(self.write_time).max(1);
            meta.ttl_millis = u64::try_from(ttl).unwrap_or(1);
        }
        meta.max_idle_millis = self.max_idle_millis;
        meta
    }

    /// Whether the record's time to live has ended at `now` (strictly after
    /// its expiration time, as the record store decides for records in
    /// memory). Max-idle is not considered: it depends on reads the data
    /// store does not see.
    #[must_use]
    pub fn is_ttl_expired(&self, now: i64) -> bool {
        self.expiration_time > 0 && now > self.expiration_time
    }
}

/// One operation of a [`MapDataStore::write`] batch.
#[derive(Debug, Clone, Copy)]
pub enum WriteOp<'a> {
    /// Insert or overwrite `key`.
    Put {
        /// The key.
        key: &'a str,
        /// What to keep under it.
        record: &'a StoredRecord,
    },
    /// Delete `key`; deleting a missing key succeeds.
    Remove {
        /// The key.
        key: &'a str,
    },
}

impl<'a> WriteOp<'a> {
    /// The key the operation addresses.
    #[must_use]
    pub fn key(&self) -> &'a str {
        match self {
            WriteOp::Put { key, .. } | WriteOp::Remove { key } => key,
        }
    }
}

/// A page request of [`MapDataStore::scan`].
#[derive(Debug, Clone, Copy)]
pub struct ScanRequest<'a> {
    /// The map to scan.
    pub map: &'a str,
    /// Its namespace.
    pub namespace: Namespace,
    /// Only keys that start with this string (empty: every key).
    pub prefix: &'a str,
    /// Resume strictly after this key (`None`: from the first key).
    pub after: Option<&'a str>,
    /// At most this many entries; must be at least 1.
    pub limit: usize,
    /// Return each key's [`StoredRecord`] too (`false`: keys only, which
    /// backends serve without decoding values).
    pub with_records: bool,
}

impl<'a> ScanRequest<'a> {
    /// The first page of keys (without records) of `map`, `limit` at a time.
    #[must_use]
    pub fn keys(map: &'a str, namespace: Namespace, limit: usize) -> Self {
        Self {
            map,
            namespace,
            prefix: "",
            after: None,
            limit,
            with_records: false,
        }
    }

    /// The first page of entries (keys with records) of `map`.
    #[must_use]
    pub fn entries(map: &'a str, namespace: Namespace, limit: usize) -> Self {
        Self {
            with_records: true,
            ..Self::keys(map, namespace, limit)
        }
    }

    /// Refuses a request no backend can answer: a `limit` of 0.
    ///
    /// # Errors
    ///
    /// [`DataStoreErrorKind::Rejected`] when `limit` is 0.
    pub fn check(&self) -> DataStoreResult<()> {
        if self.limit == 0 {
            return Err(DataStoreError::new(
                DataStoreErrorKind::Rejected,
                "scan limit must be at least 1",
            ));
        }
        Ok(())
    }

    /// This request restricted to keys starting with `prefix`.
    #[must_use]
    pub fn with_prefix(self, prefix: &'a str) -> Self {
        Self { prefix, ..self }
    }

    /// This request resumed strictly after `key`.
    #[must_use]
    pub fn resume_after(self, key: Option<&'a str>) -> Self {
        Self { after: key, ..self }
    }
}

/// One entry of a [`ScanPage`].
#[derive(Debug, Clone, PartialEq)]
pub struct ScanEntry {
    /// The key.
    pub key: String,
    /// Its record, when the request asked for records.
    pub record: Option<StoredRecord>,
}

/// One page of a keyset scan, in ascending key order (UTF-8 byte order).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScanPage {
    /// At most `limit` entries, all greater than the request's `after` and
    /// starting with its `prefix`.
    pub entries: Vec<ScanEntry>,
    /// The key to pass as `after` for the next page, or `None` when the
    /// scan has returned every matching key. A page may be full and the
    /// next one empty.
    pub resume_after: Option<String>,
}

/// The category of a data-store failure; each maps to one
/// [`ErrorCode`](crate::ErrorCode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataStoreErrorKind {
    /// Reading or writing failed (the device, the file system, a broken
    /// connection mid-call).
    Io,
    /// What is stored cannot be read back as written: a checksum mismatch,
    /// a torn or damaged file, an unknown format version.
    Corrupt,
    /// Another process holds the store (its file is locked).
    Locked,
    /// The server cannot be reached or did not answer in time; nothing was
    /// changed, and a later call may succeed.
    Unavailable,
    /// The disk (or the database's storage) is full.
    DiskFull,
    /// The backend cannot hold this key or value (too long, a character it
    /// cannot store); nothing was changed.
    Rejected,
    /// The data store was closed.
    Closed,
    /// Anything else the backend reported.
    Other,
}

impl DataStoreErrorKind {
    /// Stable lowercase name, e.g. `"locked"`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            DataStoreErrorKind::Io => "io",
            DataStoreErrorKind::Corrupt => "corrupt",
            DataStoreErrorKind::Locked => "locked",
            DataStoreErrorKind::Unavailable => "unavailable",
            DataStoreErrorKind::DiskFull => "disk_full",
            DataStoreErrorKind::Rejected => "rejected",
            DataStoreErrorKind::Closed => "closed",
            DataStoreErrorKind::Other => "other",
        }
    }

    /// The category of an I/O error: a full disk or quota is
    /// [`DiskFull`](Self::DiskFull), everything else [`Io`](Self::Io).
    #[must_use]
    pub fn of_io(err: &io::Error) -> Self {
        match err.kind() {
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => {
                DataStoreErrorKind::DiskFull
            }
            _ => DataStoreErrorKind::Io,
        }
    }
}

/// A failure reported by a data store: a [`DataStoreErrorKind`], a message,
/// and, when there is one, the underlying error as its [`Error::source`].
#[derive(Debug)]
pub struct DataStoreError {
    kind: DataStoreErrorKind,
    message: String,
    source: Option<Box<dyn Error + Send + Sync + 'static>>,
}

impl DataStoreError {
    /// An error of `kind` with a message only.
    #[must_use]
    pub fn new(kind: DataStoreErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// An error of `kind` with a message and the error that caused it.
    #[must_use]
    pub fn with_source(
        kind: DataStoreErrorKind,
        message: impl Into<String>,
        source: impl Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            kind,
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }

    /// An I/O failure while doing `context` (e.g. `"writing /data/x"`),
    /// classified by [`DataStoreErrorKind::of_io`].
    #[must_use]
    pub fn io(context: impl fmt::Display, err: io::Error) -> Self {
        let kind = DataStoreErrorKind::of_io(&err);
        Self::with_source(kind, format!("{context}: {err}"), err)
    }

    /// The error for a call on a closed data store.
    #[must_use]
    pub fn closed() -> Self {
        Self::new(DataStoreErrorKind::Closed, "the data store is closed")
    }

    /// The category.
    #[must_use]
    pub fn kind(&self) -> DataStoreErrorKind {
        self.kind
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

/// Persistence of one or more maps (`MapStore` in Hazelcast): a record store
/// writes through to it (or a write-behind queue drains into it) and loads
/// its misses from it.
///
/// The trait is object safe and used as `Arc<dyn MapDataStore>`; every
/// implementation is safe to call from several threads at once. The
/// required methods are the ones a backend must think about (`write`,
/// `load`, `scan`, `list_maps`); the rest have defaults that are right for a
/// store with no queue and nothing to sync (memory, null), and that durable
/// backends override where they can do better (`load_all` in one read
/// transaction, `flush`, `close`). Calls after a successful
/// [`close`](MapDataStore::close) fail with [`DataStoreErrorKind::Closed`].
#[async_trait]
pub trait MapDataStore: Send + Sync {
    /// Applies `ops` to `map`'s `namespace` in order (a later op on the same
    /// key wins), atomically where the backend can: on `Err`, none of them
    /// took effect. An empty batch succeeds without effect. `Ok` means the
    /// batch is acknowledged: visible to later reads and durable as the
    /// store's [`Durability`] says.
    async fn write(
        &self,
        map: &str,
        namespace: Namespace,
        ops: &[WriteOp<'_>],
    ) -> DataStoreResult<()>;

    /// The record stored under `key`, or `None`. Expired records are
    /// returned as stored; deciding expiry is the caller's job.
    async fn load(
        &self,
        map: &str,
        namespace: Namespace,
        key: &str,
    ) -> DataStoreResult<Option<StoredRecord>>;

    /// One page of `request.map`'s keys (and records, when asked) in
    /// ascending UTF-8 byte order; see [`ScanRequest`] and [`ScanPage`].
    /// A `limit` of 0 is refused with [`DataStoreErrorKind::Rejected`].
    async fn scan(&self, request: &ScanRequest<'_>) -> DataStoreResult<ScanPage>;

    /// The names of every map with at least one key in either namespace,
    /// sorted (UTF-8 byte order), without duplicates.
    async fn list_maps(&self) -> DataStoreResult<Vec<String>>;

    /// The records of `keys` that are stored, in the order of `keys`
    /// (missing keys left out; a key named twice appears twice). The
    /// default loads them one by one; backends override it to read them in
    /// one transaction or statement.
    async fn load_all(
        &self,
        map: &str,
        namespace: Namespace,
        keys: &[String],
    ) -> DataStoreResult<Vec<(String, StoredRecord)>> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some(record) = self.load(map, namespace, key).await? {
                out.push((key.clone(), record));
            }
        }
        Ok(out)
    }

    /// Stores `record` under `key` (a one-op [`write`](MapDataStore::write)).
    async fn add(
        &self,
        map: &str,
        namespace: Namespace,
        key: &str,
        record: &StoredRecord,
    ) -> DataStoreResult<()> {
        self.write(map, namespace, &[WriteOp::Put { key, record }])
            .await
    }

    /// Stores every entry as one atomic [`write`](MapDataStore::write); a
    /// key given twice keeps the later record.
    async fn add_all(
        &self,
        map: &str,
        namespace: Namespace,
        entries: &[(String, StoredRecord)],
    ) -> DataStoreResult<()> {
        let ops: Vec<WriteOp<'_>> = entries
            .iter()
            .map(|(key, record)| WriteOp::Put { key, record })
            .collect();
        self.write(map, namespace, &ops).await
    }

    /// Deletes `key`; deleting a missing key succeeds.
    async fn remove(&self, map: &str, namespace: Namespace, key: &str) -> DataStoreResult<()> {
        self.write(map, namespace, &[WriteOp::Remove { key }]).await
    }

    /// Deletes every key in `keys` as one atomic
    /// [`write`](MapDataStore::write); missing keys are ignored.
    async fn remove_all(
        &self,
        map: &str,
        namespace: Namespace,
        keys: &[String],
    ) -> DataStoreResult<()> {
        let ops: Vec<WriteOp<'_>> = keys.iter().map(|key| WriteOp::Remove { key }).collect();
        self.write(map, namespace, &ops).await
    }

    /// Whether `key` of `map`'s `namespace` may be loaded from the backend
    /// now: `false` while a write of the key is queued and not yet confirmed
    /// by the backend (a write-behind store; its own `load` then serves the
    /// queued state). A record store treats a record whose key is not
    /// loadable as dirty and never evicts it. Default: always.
    fn is_loadable(&self, _map: &str, _namespace: Namespace, _key: &str) -> bool {
        true
    }

    /// Writes accepted but not yet in the backend. Default: 0.
    fn pending_operation_count(&self) -> u64 {
        0
    }

    /// Starts moving queued writes to the backend without waiting; returns
    /// how many were started. Default: nothing is queued, 0.
    async fn soft_flush(&self) -> DataStoreResult<u64> {
        Ok(0)
    }

    /// Moves every queued write into the backend before returning (not
    /// necessarily synced; see [`flush`](MapDataStore::flush)). Default:
    /// nothing is queued.
    async fn hard_flush(&self) -> DataStoreResult<()> {
        Ok(())
    }

    /// Returns once every write acknowledged before the call is on stable
    /// storage, as with [`Durability::Fsync`], whatever the configured
    /// level (queues drained, files synced). Default: nothing to do.
    async fn flush(&self) -> DataStoreResult<()> {
        Ok(())
    }

    /// Flushes, then releases files, locks and connections. Later calls
    /// fail with [`DataStoreErrorKind::Closed`]; closing twice succeeds.
    /// Default: nothing to release.
    async fn close(&self) -> DataStoreResult<()> {
        Ok(())
    }

    /// Drops queued writes and in-memory state (never persisted data).
    /// Default: nothing to drop.
    fn reset(&self) {}

    /// `true` only for a store that persists nothing: record stores skip
    /// loads and never consider a record dirty against it.
    fn is_null(&self) -> bool {
        false
    }
}

/// A shared data store is a data store: every call goes to the one behind
/// the `Arc` (so a write-behind wrapper and direct readers can share one
/// backend, and a test can keep a handle on a backend it wrapped).
#[async_trait]
impl<D: MapDataStore + ?Sized> MapDataStore for std::sync::Arc<D> {
    async fn write(
        &self,
        map: &str,
        namespace: Namespace,
        ops: &[WriteOp<'_>],
    ) -> DataStoreResult<()> {
        (**self).write(map, namespace, ops).await
    }

    async fn load(
        &self,
        map: &str,
        namespace: Namespace,
        key: &str,
    ) -> DataStoreResult<Option<StoredRecord>> {
        (**self).load(map, namespace, key).await
    }

    async fn scan(&self, request: &ScanRequest<'_>) -> DataStoreResult<ScanPage> {
        (**self).scan(request).await
    }

    async fn list_maps(&self) -> DataStoreResult<Vec<String>> {
        (**self).list_maps().await
    }

    async fn load_all(
        &self,
        map: &str,
        namespace: Namespace,
        keys: &[String],
    ) -> DataStoreResult<Vec<(String, StoredRecord)>> {
        (**self).load_all(map, namespace, keys).await
    }

    fn is_loadable(&self, map: &str, namespace: Namespace, key: &str) -> bool {
        (**self).is_loadable(map, namespace, key)
    }

    fn pending_operation_count(&self) -> u64 {
        (**self).pending_operation_count()
    }

    async fn soft_flush(&self) -> DataStoreResult<u64> {
        (**self).soft_flush().await
    }

    async fn hard_flush(&self) -> DataStoreResult<()> {
        (**self).hard_flush().await
    }

    async fn flush(&self) -> DataStoreResult<()> {
        (**self).flush().await
    }

    async fn close(&self) -> DataStoreResult<()> {
        (**self).close().await
    }

    fn reset(&self) {
        (**self).reset();
    }

    fn is_null(&self) -> bool {
        (**self).is_null()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durability_names_round_trip_and_unknown_names_are_refused() {
        for d in [Durability::Fsync, Durability::Os, Durability::None] {
            assert_eq!(d.as_str().parse::<Durability>(), Ok(d));
        }
        let err = "FSYNC".parse::<Durability>().unwrap_err();
        assert!(err.contains("\"fsync\", \"os\" or \"none\""), "{err}");
        assert_eq!(Durability::default(), Durability::Fsync);
    }

    #[test]
    fn io_errors_are_classified() {
        let full = DataStoreError::io("writing x", io::Error::from(io::ErrorKind::StorageFull));
        assert_eq!(full.kind(), DataStoreErrorKind::DiskFull);
        assert!(full.message().starts_with("writing x: "));
        assert!(full.source().is_some());
        let quota = io::Error::from(io::ErrorKind::QuotaExceeded);
        assert_eq!(
            DataStoreErrorKind::of_io(&quota),
            DataStoreErrorKind::DiskFull
        );
        let denied = io::Error::from(io::ErrorKind::PermissionDenied);
        assert_eq!(DataStoreErrorKind::of_io(&denied), DataStoreErrorKind::Io);
    }

    #[test]
    fn a_reloaded_record_expires_when_it_would_have_without_the_restart() {
        use crate::expiry::{expiry_reason, ExpiryReason};
        let value = RecordValue::lww("v", crate::Timestamp::new(1, 0, "n"));
        // Written at t0 = 1_000 with the store default TTL of 60 s.
        let defaults = ExpiryPolicy::ttl(60_000);
        let written = RecordMetadata::new(1_000, 10);
        let stored = StoredRecord::from_metadata(value, &written, defaults);
        assert_eq!(stored.expiration_time, 61_000);
        assert_eq!(stored.write_time, 1_000);
        // Reloaded at t0 + 30 s by a store whose default is now different.
        let meta = stored.metadata_at_load(31_000, 10);
        assert!(!meta.is_dirty());
        let other = ExpiryPolicy::ttl(5_000);
        assert_eq!(
            expiry_reason(&meta, other, 61_000),
            ExpiryReason::NotExpired
        );
        assert_eq!(expiry_reason(&meta, other, 61_001), ExpiryReason::Ttl);
        // Max-idle is kept and counts from the load.
        let idle = StoredRecord::from_metadata(
            stored.value.clone(),
            &written,
            ExpiryPolicy::max_idle(500),
        );
        assert_eq!((idle.expiration_time, idle.max_idle_millis), (0, 500));
        let meta = idle.metadata_at_load(10_000, 10);
        assert_eq!(
            expiry_reason(&meta, ExpiryPolicy::NONE, 10_500),
            ExpiryReason::NotExpired
        );
        assert_eq!(
            expiry_reason(&meta, ExpiryPolicy::NONE, 10_501),
            ExpiryReason::MaxIdle
        );
        // A write time after `now` (a clock that went back) is still clean.
        assert!(!idle.metadata_at_load(500, 10).is_dirty());
    }

    #[test]
    fn ttl_expiry_is_strictly_after_the_expiration_time() {
        let mut r = StoredRecord::new(RecordValue::lww("v", crate::Timestamp::new(1, 0, "n")), 100);
        assert!(!r.is_ttl_expired(i64::MAX), "0 means never");
        r.expiration_time = 200;
        assert!(!r.is_ttl_expired(200));
        assert!(r.is_ttl_expired(201));
    }
}
