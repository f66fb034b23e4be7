//! [`MapStorage`]: TopGun's `IServerStorage` semantics over per-partition
//! record stores.
//!
//! TopGun's TypeScript server persists maps through an interface whose every
//! method names the map (`load`, `loadAll`, `loadAllKeys`, `store`,
//! `storeAll`, `delete`, `deleteAll`, `initialize`, `close`). `MapStorage`
//! gives exactly those semantics, as the TS `MemoryServerAdapter` has them,
//! over a [`RecordStoreFactory`]: each key lives in the record store of its
//! (map, partition), routed by [`crate::partition_for_key`].
//!
//! * a missing key loads as `None`; `load_all` returns only keys found;
//! * `load_all_keys` walks the cursor of every partition of the map;
//! * `store` upserts; `delete` of a missing key succeeds;
//! * maps are isolated from each other;
//! * `close` drops all data (as `MemoryServerAdapter` does) and every later
//!   call fails with [`StoreError::Closed`] until `initialize` opens the
//!   storage again (empty: this storage keeps nothing across a close), as
//!   TopGun's `MemoryServerAdapter` stays usable after `close`; repeating
//!   `initialize` is harmless.

use crate::blocking::block_on;
use crate::cursor::IterationCursor;
use crate::expiry::ExpiryPolicy;
use crate::factory::RecordStoreFactory;
use crate::record::RecordValue;
use crate::record_store::{CallerProvenance, StoreError};
use crate::snapshot::MapsSnapshot;
use std::sync::atomic::{AtomicBool, Ordering};

/// Keys per page when `load_all_keys` walks a partition.
const KEYS_PAGE: usize = 1024;

/// Every map of a server, as `IServerStorage` sees them (see the module
/// docs). All methods are synchronous: with an in-memory data store they do
/// not wait on anything. Safe to share between threads.
#[derive(Debug, Default)]
pub struct MapStorage {
    factory: RecordStoreFactory,
    closed: AtomicBool,
}

impl MapStorage {
    /// Storage over `factory`'s record stores.
    #[must_use]
    pub fn new(factory: RecordStoreFactory) -> Self {
        Self {
            factory,
            closed: AtomicBool::new(false),
        }
    }

    /// The factory holding the stores.
    #[must_use]
    pub fn factory(&self) -> &RecordStoreFactory {
        &self.factory
    }

    /// Fails with [`StoreError::Closed`] between [`Self::close`] and the
    /// next [`Self::initialize`]. O(1).
    ///
    /// # Errors
    /// As above.
    pub fn ensure_open(&self) -> Result<(), StoreError> {
        self.open()
    }

    fn open(&self) -> Result<(), StoreError> {
        if self.closed.load(Ordering::Acquire) {
            Err(StoreError::Closed)
        } else {
            Ok(())
        }
    }

    /// Prepares the storage; after [`Self::close`] it opens it again (with
    /// no data: `close` dropped it). Repeating it is harmless.
    ///
    /// # Errors
    /// None for this in-memory storage; the `Result` is for storages that
    /// open something.
    pub fn initialize(&self) -> Result<(), StoreError> {
        self.closed.store(false, Ordering::Release);
        Ok(())
    }

    /// Drops every map's data; later calls fail with `Closed`. Closing
    /// twice is harmless.
    pub fn close(&self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            for map in self.factory.map_names() {
                self.factory.remove_map(&map);
            }
        }
    }

    /// Every map at one instant (see [`MapsSnapshot`]): O(number of
    /// stores) to take, isolated from every later write.
    ///
    /// # Errors
    /// [`StoreError::Closed`].
    pub fn snapshot(&self) -> Result<MapsSnapshot, StoreError> {
        self.open()?;
        Ok(self.factory.snapshot())
    }

    /// Whether [`Self::close`] was called.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The value of `key` in `map`, or `None`.
    ///
    /// # Errors
    /// [`StoreError::Closed`], or a data-store failure.
    pub fn load(&self, map: &str, key: &str) -> Result<Option<RecordValue>, StoreError> {
        self.open()?;
        let store = self.factory.store_for_key(map, key);
        Ok(block_on(store.get(key, false))?.map(|r| r.value))
    }

    /// The values of the `keys` found in `map` (missing keys left out), in
    /// the order of `keys`.
    ///
    /// # Errors
    /// As [`Self::load`].
    pub fn load_all(
        &self,
        map: &str,
        keys: &[String],
    ) -> Result<Vec<(String, RecordValue)>, StoreError> {
        self.open()?;
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let store = self.factory.store_for_key(map, key);
            if let Some(record) = block_on(store.get(key, false))? {
                out.push((key.clone(), record.value));
            }
        }
        Ok(out)
    }

    /// Every key of `map`, walking each partition's cursor. Order is
    /// unspecified. O(number of keys).
    ///
    /// # Errors
    /// [`StoreError::Closed`].
    pub fn load_all_keys(&self, map: &str) -> Result<Vec<String>, StoreError> {
        self.open()?;
        let mut keys = Vec::new();
        for store in self.factory.get_all_for_map(map) {
            let mut cursor = IterationCursor::start();
            while !cursor.is_finished() {
                // The cursor comes from this very store: it cannot be foreign.
                let Ok(page) = store.fetch_keys(&cursor, KEYS_PAGE) else {
                    break;
                };
                keys.extend(page.items);
                cursor = page.next_cursor;
            }
        }
        Ok(keys)
    }

    /// Stores `value` under `key` in `map` (insert or overwrite).
    ///
    /// # Errors
    /// [`StoreError::Closed`], or the record store's refusal (bounds, data
    /// store); nothing changes then.
    pub fn store(&self, map: &str, key: &str, value: RecordValue) -> Result<(), StoreError> {
        self.open()?;
        let store = self.factory.store_for_key(map, key);
        block_on(store.put(key, value, ExpiryPolicy::NONE, CallerProvenance::Client))?;
        Ok(())
    }

    /// Stores every record; stops at the first failure (earlier records
    /// stay stored).
    ///
    /// # Errors
    /// As [`Self::store`].
    pub fn store_all(
        &self,
        map: &str,
        records: impl IntoIterator<Item = (String, RecordValue)>,
    ) -> Result<(), StoreError> {
        self.open()?;
        for (key, value) in records {
            self.store(map, &key, value)?;
        }
        Ok(())
    }

    /// Deletes `key` from `map`; deleting a missing key succeeds.
    ///
    /// # Errors
    /// [`StoreError::Closed`], or a data-store failure.
    pub fn delete(&self, map: &str, key: &str) -> Result<(), StoreError> {
        self.open()?;
        let store = self.factory.store_for_key(map, key);
        block_on(store.remove(key, CallerProvenance::Client))?;
        Ok(())
    }

    /// Deletes every key in `keys` from `map`.
    ///
    /// # Errors
    /// As [`Self::delete`].
    pub fn delete_all(&self, map: &str, keys: &[String]) -> Result<(), StoreError> {
        self.open()?;
        for key in keys {
            self.delete(map, key)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{OrMapEntry, Timestamp};
    use crate::value::Value;
    use std::collections::HashSet;

    fn lww(v: impl Into<Value>) -> RecordValue {
        RecordValue::Lww {
            value: v.into(),
            timestamp: Timestamp::new(1_700_000_000_000, 3, "node-a"),
            ttl_ms: Some(5_000),
        }
    }

    #[test]
    fn missing_key_loads_as_none() {
        let s = MapStorage::default();
        assert_eq!(s.load("m", "nope").unwrap(), None);
    }

    #[test]
    fn store_then_load_round_trips_and_upserts() {
        let s = MapStorage::default();
        s.store("m", "k", lww(1)).unwrap();
        s.store("m", "k", lww(2)).unwrap();
        assert_eq!(s.load("m", "k").unwrap(), Some(lww(2)));
    }

    #[test]
    fn load_all_returns_only_keys_found() {
        let s = MapStorage::default();
        s.store("m", "a", lww(1)).unwrap();
        s.store("m", "b", lww(2)).unwrap();
        let keys = ["a", "x", "b"].map(String::from);
        let found = s.load_all("m", &keys).unwrap();
        assert_eq!(found, vec![("a".into(), lww(1)), ("b".into(), lww(2))]);
    }

    #[test]
    fn load_all_keys_is_complete_across_partitions() {
        let s = MapStorage::default();
        let records: Vec<_> = (0..10_000).map(|i| (format!("key-{i}"), lww(i))).collect();
        s.store_all("m", records).unwrap();
        let keys: HashSet<String> = s.load_all_keys("m").unwrap().into_iter().collect();
        assert_eq!(keys.len(), 10_000);
        assert!(keys.contains("key-9999"));
        assert!(
            s.factory().get_all_for_map("m").len() > 200,
            "spread over partitions"
        );
    }

    #[test]
    fn delete_is_idempotent_and_maps_are_isolated() {
        let s = MapStorage::default();
        s.store("m1", "k", lww(1)).unwrap();
        s.store("m2", "k", lww(2)).unwrap();
        s.delete("m1", "k").unwrap();
        s.delete("m1", "k").unwrap();
        s.delete_all("m1", &["k".into(), "never".into()]).unwrap();
        assert_eq!(s.load("m1", "k").unwrap(), None);
        assert_eq!(s.load("m2", "k").unwrap(), Some(lww(2)));
        assert!(s.load_all_keys("m1").unwrap().is_empty());
    }

    #[test]
    fn or_values_and_tombstones_round_trip() {
        let s = MapStorage::default();
        let or = RecordValue::OrMap {
            records: vec![OrMapEntry {
                value: Value::from("x"),
                timestamp: Timestamp::new(1, 0, "n"),
                tag: "t1".into(),
                ttl_ms: None,
            }],
        };
        let tombstones = RecordValue::OrTombstones {
            tags: vec!["t0".into()],
        };
        s.store("m", "k", or.clone()).unwrap();
        s.store("m", "__tombstones__", tombstones.clone()).unwrap();
        assert_eq!(s.load("m", "k").unwrap(), Some(or));
        assert_eq!(s.load("m", "__tombstones__").unwrap(), Some(tombstones));
    }

    #[test]
    fn close_drops_data_and_later_calls_fail() {
        let s = MapStorage::default();
        s.initialize().unwrap();
        s.initialize().unwrap();
        s.store("m", "k", lww(1)).unwrap();
        s.close();
        s.close();
        assert!(s.is_closed());
        assert!(matches!(s.load("m", "k"), Err(StoreError::Closed)));
        assert!(matches!(s.store("m", "k", lww(1)), Err(StoreError::Closed)));
        assert!(matches!(s.load_all_keys("m"), Err(StoreError::Closed)));
        assert!(matches!(s.ensure_open(), Err(StoreError::Closed)));
        assert!(s.factory().map_names().is_empty());
    }

    #[test]
    fn initialize_after_close_opens_the_storage_again_empty() {
        let s = MapStorage::default();
        s.store("m", "k", lww(1)).unwrap();
        s.close();
        s.initialize().unwrap();
        assert!(!s.is_closed());
        assert!(s.ensure_open().is_ok());
        assert_eq!(s.load("m", "k").unwrap(), None, "close dropped the data");
        s.store("m", "k", lww(2)).unwrap();
        assert_eq!(s.load("m", "k").unwrap(), Some(lww(2)));
        assert_eq!(s.load_all_keys("m").unwrap(), ["k"]);
    }
}
