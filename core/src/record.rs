//! Records: the stored value ([`RecordValue`]) and the server-side metadata
//! kept beside it ([`RecordMetadata`]).
//!
//! `RecordValue` has exactly the shape of TopGun's TypeScript `StorageValue`
//! (see [`crate::codec`] for the byte forms). `RecordMetadata` is internal to
//! the server and is never encoded with the value.

use crate::value::Value;
use std::cmp::Ordering;

/// Largest `millis` of a [`Timestamp`] and largest `ttlMs` of a record:
/// 2^63 - 1, the largest integer that every form of a record holds exactly
/// (MessagePack, JSON, the [`Value`] tree behind Python dicts and JavaScript
/// objects, whose integers are `i64`). The decoders refuse larger ones with a
/// range error, so whatever a read returns, a write accepts. (TopGun's own
/// times are JavaScript numbers, exact up to 2^53.)
pub const MAX_MILLIS: u64 = i64::MAX as u64;

/// A hybrid logical clock timestamp (`{ millis, counter, nodeId }`).
///
/// `millis` is at most [`MAX_MILLIS`] in every record the codecs read; a
/// larger one can be built in Rust, and is written as it is, but no decoder
/// reads it back.
///
/// Ordered by `millis`, then `counter`, then `node_id` compared byte-wise.
/// (TopGun's TypeScript client breaks the last tie with `localeCompare`; the
/// two orders agree for ASCII node ids of one letter case.)
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Timestamp {
    /// Wall-clock part, epoch milliseconds.
    pub millis: u64,
    /// Logical counter within one millisecond.
    pub counter: u32,
    /// The id of the node that issued the timestamp.
    pub node_id: String,
}

impl Timestamp {
    /// Creates a timestamp.
    #[must_use]
    pub fn new(millis: u64, counter: u32, node_id: impl Into<String>) -> Self {
        Self {
            millis,
            counter,
            node_id: node_id.into(),
        }
    }
}

impl PartialOrd for Timestamp {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Timestamp {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.millis, self.counter, self.node_id.as_str()).cmp(&(
            other.millis,
            other.counter,
            other.node_id.as_str(),
        ))
    }
}

/// One observed-remove map entry (`{ value, timestamp, tag, ttlMs? }`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OrMapEntry {
    /// The entry's value.
    pub value: Value,
    /// When the entry was added.
    pub timestamp: Timestamp,
    /// The unique tag that identifies this add.
    pub tag: String,
    /// Time to live in milliseconds, as the client set it; `None` when absent.
    pub ttl_ms: Option<u64>,
}

/// The stored value, in the shape of TopGun's `StorageValue`.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordValue {
    /// Last-writer-wins record (`{ value, timestamp, ttlMs? }`); a `Null`
    /// value is a tombstone and is stored like any other value.
    Lww {
        /// The value (`Value::Null` for a tombstone).
        value: Value,
        /// The write's HLC timestamp.
        timestamp: Timestamp,
        /// Time to live in milliseconds, as the client set it.
        ttl_ms: Option<u64>,
    },
    /// Observed-remove map value (`{ type: "OR", records: [...] }`).
    OrMap {
        /// The live entries of this key.
        records: Vec<OrMapEntry>,
    },
    /// Observed-remove tombstones (`{ type: "OR_TOMBSTONES", tags: [...] }`),
    /// kept by TopGun under the map-wide key `__tombstones__`.
    OrTombstones {
        /// The removed tags.
        tags: Vec<String>,
    },
}

impl RecordValue {
    /// A last-writer-wins record without a TTL.
    #[must_use]
    pub fn lww(value: impl Into<Value>, timestamp: Timestamp) -> Self {
        RecordValue::Lww {
            value: value.into(),
            timestamp,
            ttl_ms: None,
        }
    }

    /// The name of the variant as TopGun writes it in `type` (`"LWW"` for the
    /// untagged last-writer-wins shape).
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        match self {
            RecordValue::Lww { .. } => "LWW",
            RecordValue::OrMap { .. } => "OR",
            RecordValue::OrTombstones { .. } => "OR_TOMBSTONES",
        }
    }
}

/// Server-side bookkeeping for one record.
///
/// Times are epoch milliseconds (`i64`); `version` and `hits` saturate at
/// `u32::MAX` instead of wrapping. `Default` is all zeros; [`RecordMetadata::new`]
/// is what a fresh record gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecordMetadata {
    /// Write count, starting at 1 for a new record.
    pub version: u32,
    /// When the record was created.
    pub creation_time: i64,
    /// When the record was last read with `touch` (or created).
    pub last_access_time: i64,
    /// When the record was last written (or created).
    pub last_update_time: i64,
    /// When the current version was written to the data store; 0 if it has
    /// not been (a write that does not reach the data store resets it).
    pub last_stored_time: i64,
    /// Touched reads since creation.
    pub hits: u32,
    /// Estimated memory cost of the entry in bytes, as set by the writer.
    pub cost: u64,
    /// The record's own time to live in milliseconds; 0 means the store's
    /// default applies (see [`crate::expiry`]).
    pub ttl_millis: u64,
    /// The record's own max-idle time in milliseconds; 0 means the store's
    /// default applies.
    pub max_idle_millis: u64,
}

impl RecordMetadata {
    /// Metadata of a record created at `now` with the given cost: version 1,
    /// every time `now` except `last_stored_time` (0), no hits, no per-entry
    /// expiry.
    #[must_use]
    pub fn new(now: i64, cost: u64) -> Self {
        Self {
            version: 1,
            creation_time: now,
            last_access_time: now,
            last_update_time: now,
            last_stored_time: 0,
            hits: 0,
            cost,
            ttl_millis: 0,
            max_idle_millis: 0,
        }
    }

    /// Records a read: one more hit (saturating) and `last_access_time = now`.
    pub fn on_access(&mut self, now: i64) {
        self.hits = self.hits.saturating_add(1);
        self.last_access_time = now;
    }

    /// Records a write: version + 1 (saturating) and `last_update_time = now`.
    pub fn on_update(&mut self, now: i64) {
        self.version = self.version.saturating_add(1);
        self.last_update_time = now;
    }

    /// Records a successful write to the data store at `now`: the record is
    /// clean from here on, even if `now` is before its last update (a clock
    /// that went back).
    pub fn on_store(&mut self, now: i64) {
        self.last_stored_time = now.max(self.last_update_time);
    }

    /// Records that the current version has not reached the data store, even
    /// if an older version did in the same millisecond: the record is dirty
    /// from here on.
    pub fn on_unstored(&mut self) {
        self.last_stored_time = 0;
    }

    /// `true` while the last write has not reached the data store
    /// (`last_update_time > last_stored_time`).
    #[must_use]
    pub fn is_dirty(&self) -> bool {
        self.last_update_time > self.last_stored_time
    }
}

/// A stored value with its metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The value.
    pub value: RecordValue,
    /// Server-side bookkeeping.
    pub metadata: RecordMetadata,
}

impl Record {
    /// A record holding `value` with `metadata`.
    #[must_use]
    pub fn new(value: RecordValue, metadata: RecordMetadata) -> Self {
        Self { value, metadata }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_metadata_new_sets_fields_correctly() {
        let m = RecordMetadata::new(1_000, 64);
        assert_eq!(m.version, 1);
        assert_eq!(m.creation_time, 1_000);
        assert_eq!(m.last_access_time, 1_000);
        assert_eq!(m.last_update_time, 1_000);
        assert_eq!(m.last_stored_time, 0);
        assert_eq!(m.hits, 0);
        assert_eq!(m.cost, 64);
    }

    #[test]
    fn record_metadata_on_access_increments_hits_and_updates_time() {
        let mut m = RecordMetadata::new(1_000, 0);
        m.on_access(2_000);
        m.on_access(3_000);
        assert_eq!(m.hits, 2);
        assert_eq!(m.last_access_time, 3_000);
        assert_eq!(m.last_update_time, 1_000);
        assert_eq!(m.version, 1);
    }

    #[test]
    fn record_metadata_on_update_increments_version_and_updates_time() {
        let mut m = RecordMetadata::new(1_000, 0);
        m.on_update(5_000);
        assert_eq!(m.version, 2);
        assert_eq!(m.last_update_time, 5_000);
        assert_eq!(m.last_access_time, 1_000);
        assert_eq!(m.hits, 0);
    }

    #[test]
    fn record_metadata_is_dirty_tracks_store_vs_update() {
        let mut m = RecordMetadata::new(1_000, 0);
        assert!(m.is_dirty(), "a new record has not been stored");
        m.on_store(1_000);
        assert!(!m.is_dirty());
        m.on_update(1_001);
        assert!(m.is_dirty());
        m.on_store(1_001);
        assert!(!m.is_dirty());
        m.on_update(1_002);
        m.on_store(900);
        assert!(!m.is_dirty(), "stored, though the clock went back");
        m.on_unstored();
        assert!(m.is_dirty());
    }

    #[test]
    fn record_metadata_default_is_all_zeros() {
        let m = RecordMetadata::default();
        assert_eq!(
            (
                m.version,
                m.creation_time,
                m.last_access_time,
                m.last_update_time
            ),
            (0, 0, 0, 0)
        );
        assert_eq!((m.last_stored_time, m.hits, m.cost), (0, 0, 0));
        assert_eq!((m.ttl_millis, m.max_idle_millis), (0, 0));
        assert!(!m.is_dirty());
    }

    #[test]
    fn record_metadata_on_access_saturates_at_u32_max() {
        let mut m = RecordMetadata {
            hits: u32::MAX - 1,
            ..RecordMetadata::default()
        };
        m.on_access(1);
        m.on_access(2);
        assert_eq!(m.hits, u32::MAX);
    }

    #[test]
    fn record_metadata_on_update_saturates_at_u32_max() {
        let mut m = RecordMetadata {
            version: u32::MAX,
            ..RecordMetadata::default()
        };
        m.on_update(1);
        assert_eq!(m.version, u32::MAX);
    }

    #[test]
    fn timestamps_order_by_millis_counter_node() {
        let a = Timestamp::new(1, 5, "b");
        let b = Timestamp::new(2, 0, "a");
        let c = Timestamp::new(2, 1, "a");
        let d = Timestamp::new(2, 1, "b");
        assert!(a < b && b < c && c < d);
    }

    #[test]
    fn type_names_match_topgun() {
        let ts = Timestamp::new(1, 0, "n");
        assert_eq!(RecordValue::lww(1, ts).type_name(), "LWW");
        assert_eq!(RecordValue::OrMap { records: vec![] }.type_name(), "OR");
        assert_eq!(
            RecordValue::OrTombstones { tags: vec![] }.type_name(),
            "OR_TOMBSTONES"
        );
    }
}
