//! [`MapStorage`]: TopGun's `IServerStorage` semantics over per-partition
//! record stores.
//!
//! TopGun's TypeScript server persists maps through an interface whose every
//! method names the map (`load`, `loadAll`, `loadAllKeys`, `store`,
//! `storeAll`, `delete`, `deleteAll`, `initialize`, `close`). `MapStorage`
//! gives exactly those semantics over a [`RecordStoreFactory`]: each key
//! lives in the record store of its (map, partition), routed by
//! [`crate::partition_for_key`].
//!
//! * a missing key loads as `None`; `load_all` returns only keys found;
//! * `store` upserts; `delete` of a missing key succeeds; `store_all` and
//!   `delete_all` are all or nothing;
//! * maps are isolated from each other;
//! * in memory, `close` drops every map's data; over a durable data store
//!   it closes the data store (see below); either way every later call
//!   fails with [`StoreError::Closed`], until, in memory, `initialize`
//!   opens the storage again (empty), as TopGun's `MemoryServerAdapter`
//!   stays usable after `close`; repeating `initialize` is harmless.
//!
//! Over a durable data store ([`MapStorage::with_data_store`]) memory is a
//! cache of the data store:
//!
//! * every write is acknowledged once the data store holds it (write
//!   through), `store_all` / `delete_all` as one atomic data-store batch;
//! * `load` reads memory, else the data store (and keeps what it loaded);
//!   `load_all` reads memory, then the rest in one data-store read;
//!   `load_all_keys` lists the map on disk merged with what only memory
//!   holds; records whose TTL has ended are never returned;
//! * opening loads nothing; [`MapStorage::warm_up`] fills memory on request;
//! * `close` closes the data store (which flushes it) and drops memory;
//!   opening the same data store again gives back every acknowledged write.
//!
//! Costs. Map names come from TopGun's clients, so no read allocates state
//! for a map: a read or delete of a key whose (map, partition) has no store
//! creates none (over a durable data store, `load` creates the store only
//! when the key is on disk, to keep it); `load_all_keys` costs O(partitions
//! of the map + its keys); `close` O(stores + records).
//!
//! Reads and `close`. A read that overlaps `close` on another thread (the
//! Node adapter runs large reads on libuv's thread pool) returns its whole
//! result or [`StoreError::Closed`], never part of the data: each read
//! checks, after its work, that no `close` began since it started (also
//! one followed by `initialize`). `close` counts itself before it drops a
//! store or closes the data store, and a read that saw a dropped store (the
//! factory's and the store's locks) or a closed data store (its own
//! synchronisation) is ordered after that count, so it sees it.

use crate::blocking::block_on;
use crate::cursor::IterationCursor;
use crate::default_record_store::{BatchOp, WarmUpProgress};
use crate::expiry::ExpiryPolicy;
use crate::export::{ExportError, Progress, Summary};
use crate::factory::RecordStoreFactory;
use crate::map_data_store::{MapDataStore, Namespace, ScanRequest};
use crate::partition::partition_for_key;
use crate::record::{Record, RecordValue};
use crate::record_store::{CallerProvenance, RecordStore, StorageConfig, StoreError};
use crate::snapshot::MapsSnapshot;
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Keys per page when `load_all_keys` walks a partition or the data store.
const KEYS_PAGE: usize = 1024;

/// Every map of a server, as `IServerStorage` sees them (see the module
/// docs). All methods are synchronous: they wait for the data store where
/// there is one (in memory they wait on nothing). Safe to share between
/// threads.
#[derive(Debug, Default)]
pub struct MapStorage {
    factory: RecordStoreFactory,
    closed: AtomicBool,
    /// How many times `close` began; a read that sees it change ran into a
    /// close (see the module docs).
    closes: AtomicU64,
}

impl MapStorage {
    /// Storage over `factory`'s record stores.
    #[must_use]
    pub fn new(factory: RecordStoreFactory) -> Self {
        Self {
            factory,
            closed: AtomicBool::new(false),
            closes: AtomicU64::new(0),
        }
    }

    /// Durable storage: every map persisted in `data_store` (e.g. a
    /// `RedbDataStore` opened on a path), each (map, partition) store
    /// configured by `config` (whose bounds then cap memory, not data).
    /// O(1): nothing is loaded until it is read or warmed up.
    #[must_use]
    pub fn with_data_store(data_store: Arc<dyn MapDataStore>, config: StorageConfig) -> Self {
        Self::new(RecordStoreFactory::new(config, data_store, Vec::new()))
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

    /// [`Self::open`] for a read: also the count of closes so far, for
    /// [`Self::unless_closed`] after the read's work.
    fn begin_read(&self) -> Result<u64, StoreError> {
        let closes = self.closes.load(Ordering::Acquire);
        self.open()?;
        Ok(closes)
    }

    /// `result`, unless a `close` began since the read started (`since`,
    /// from [`Self::begin_read`]): then [`StoreError::Closed`], so that a
    /// read overlapping `close` never returns what `close` was halfway
    /// through dropping (nor a data-store error caused by the close).
    fn unless_closed<T>(&self, since: u64, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if self.closes.load(Ordering::Acquire) != since {
            return Err(StoreError::Closed);
        }
        result
    }

    /// The data store, when it keeps data.
    fn durable(&self) -> Option<&dyn MapDataStore> {
        let ds = self.factory.data_store_ref();
        (!ds.is_null()).then_some(ds)
    }

    /// Prepares the storage; in memory, after [`Self::close`] it opens it
    /// again (with no data: `close` dropped it). Repeating it is harmless.
    ///
    /// # Errors
    /// Over a durable data store, [`StoreError::Closed`] after `close`: the
    /// data store is closed (open it again and build a new storage over it).
    pub fn initialize(&self) -> Result<(), StoreError> {
        if self.durable().is_some() {
            return self.open();
        }
        self.closed.store(false, Ordering::Release);
        Ok(())
    }

    /// Drops every map's memory and closes the data store (which makes
    /// every acknowledged write durable first); later calls fail with
    /// `Closed`, and a read still running returns `Closed` or its whole
    /// result (see the module docs). Closing twice is harmless. O(stores +
    /// records), plus the data store's close.
    ///
    /// # Errors
    /// [`StoreError::DataStore`] when the data store fails to flush or
    /// close; the storage is closed all the same.
    pub fn close(&self) -> Result<(), StoreError> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.closes.fetch_add(1, Ordering::AcqRel);
        self.factory.clear();
        Ok(block_on(self.factory.data_store_ref().close())?)
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

    /// Writes `record` under `key` in `map` as given, metadata included
    /// (see [`RecordStore::restore`]); what an import does per record.
    ///
    /// # Errors
    /// [`StoreError::Closed`], or the record store's refusal; nothing
    /// changes then.
    pub fn restore(&self, map: &str, key: &str, record: Record) -> Result<(), StoreError> {
        self.open()?;
        let store = self.factory.store_for_key(map, key);
        block_on(store.restore(key, record, CallerProvenance::Client))
    }

    /// Exports every map, at one instant, to the file at `path` (see
    /// [`crate::export`]); `progress` is called after every frame.
    ///
    /// # Errors
    /// [`ExportError::Store`] with [`StoreError::Closed`] after `close`,
    /// or the file's [`ExportError::Io`].
    pub fn export(
        &self,
        path: &std::path::Path,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<Summary, ExportError> {
        let snapshot = self.snapshot().map_err(|source| ExportError::Store {
            imported: 0,
            source,
        })?;
        crate::export::export_maps(&snapshot, path, progress)
    }

    /// Imports the export file at `path` (of one store or of a whole
    /// `MapStorage`) into these maps (see [`crate::export::import_maps`]).
    ///
    /// # Errors
    /// As [`crate::export::import_maps`].
    pub fn import(
        &self,
        path: &std::path::Path,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<Summary, ExportError> {
        crate::export::import_maps(self, path, progress)
    }

    /// Whether [`Self::close`] was called.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Makes every write acknowledged so far durable as with
    /// `Durability::Fsync`, whatever the data store's level. Nothing to do
    /// in memory.
    ///
    /// # Errors
    /// [`StoreError::Closed`], or the data store's failure.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.open()?;
        Ok(block_on(self.factory.data_store_ref().flush())?)
    }

    /// The value of `key` in `map`, or `None`. Over a durable data store a
    /// key not in memory is loaded (and kept, clean). A miss in a map with no
    /// store in memory allocates nothing.
    ///
    /// # Errors
    /// [`StoreError::Closed`] (also when `close` began while it ran), or a
    /// data-store failure.
    pub fn load(&self, map: &str, key: &str) -> Result<Option<RecordValue>, StoreError> {
        let since = self.begin_read()?;
        let result = self.load_in(map, key);
        self.unless_closed(since, result)
    }

    fn load_in(&self, map: &str, key: &str) -> Result<Option<RecordValue>, StoreError> {
        let partition = partition_for_key(key);
        let store = match (self.factory.existing(map, partition), self.durable()) {
            (Some(store), _) => store,
            (None, None) => return Ok(None),
            (None, Some(ds)) => {
                // Probe first, so that a key on no disk creates no store.
                if block_on(ds.load(map, Namespace::Primary, key))?.is_none() {
                    return Ok(None);
                }
                self.factory.get_or_create_default(map, partition)
            }
        };
        Ok(block_on(store.get(key, false))?.map(|r| r.value))
    }

    /// The value of `key` in `map` when memory holds it, without touching
    /// the data store: `Ok(None)` when memory does not hold it (over a
    /// durable data store the key may still be on disk: ask [`Self::load`]).
    /// What a binding answers at once, on its event loop, when no write is
    /// queued before the read. O(1); never waits for I/O.
    ///
    /// # Errors
    /// [`StoreError::Closed`], also when a `close` overlapped the read.
    pub fn load_resident(&self, map: &str, key: &str) -> Result<Option<RecordValue>, StoreError> {
        let since = self.begin_read()?;
        let mut value = None;
        if let Some(store) = self.factory.existing(map, partition_for_key(key)) {
            store.read_with(key, false, &mut |r| {
                value = Some(r.value.clone());
                true
            });
        }
        self.unless_closed(since, Ok(value))
    }

    /// The values of the `keys` found in `map` (missing keys left out), in
    /// the order of `keys`. Memory first; over a durable data store the rest
    /// in one data-store read, without keeping them in memory (a whole-map
    /// load does not push the hot records out).
    ///
    /// # Errors
    /// As [`Self::load`].
    pub fn load_all(
        &self,
        map: &str,
        keys: &[String],
    ) -> Result<Vec<(String, RecordValue)>, StoreError> {
        Ok(keys
            .iter()
            .zip(self.load_each(map, keys)?)
            .filter_map(|(k, v)| v.map(|v| (k.clone(), v)))
            .collect())
    }

    /// As [`Self::load_all`], with one item per key of `keys` (`None` where
    /// nothing is stored), for callers that pair the results with the keys
    /// they hold (no key is copied).
    ///
    /// # Errors
    /// As [`Self::load`]; [`StoreError::Closed`] also when `close` began
    /// while it ran (never a part of the map).
    pub fn load_each(
        &self,
        map: &str,
        keys: &[String],
    ) -> Result<Vec<Option<RecordValue>>, StoreError> {
        let since = self.begin_read()?;
        let result = self.load_each_in(map, keys);
        self.unless_closed(since, result)
    }

    fn load_each_in(
        &self,
        map: &str,
        keys: &[String],
    ) -> Result<Vec<Option<RecordValue>>, StoreError> {
        let mut found: Vec<Option<RecordValue>> = Vec::with_capacity(keys.len());
        let mut stores = HashMap::new();
        for key in keys {
            let partition = partition_for_key(key);
            let store = stores
                .entry(partition)
                .or_insert_with(|| self.factory.existing(map, partition));
            let mut value = None;
            if let Some(store) = store {
                store.read_with(key, false, &mut |r| {
                    value = Some(r.value.clone());
                    true
                });
            }
            found.push(value);
        }
        if let Some(ds) = self.durable() {
            let misses: Vec<String> = keys
                .iter()
                .zip(&found)
                .filter(|(_, v)| v.is_none())
                .map(|(k, _)| k.clone())
                .collect();
            if !misses.is_empty() {
                let now = self.factory.now();
                let loaded: HashMap<String, RecordValue> =
                    block_on(ds.load_all(map, Namespace::Primary, &misses))?
                        .into_iter()
                        .filter(|(_, r)| !r.is_ttl_expired(now))
                        .map(|(k, r)| (k, r.value))
                        .collect();
                for (key, value) in keys.iter().zip(&mut found) {
                    if value.is_none() {
                        *value = loaded.get(key).cloned();
                    }
                }
            }
        }
        Ok(found)
    }

    /// Every live key of `map`. In memory, walking each partition's cursor
    /// (order unspecified); over a durable data store, the map's keys on
    /// disk in key order (those whose TTL has ended left out) followed by
    /// the keys only memory holds (written without reaching the data
    /// store). O(partitions of the map + its keys); creates nothing.
    ///
    /// # Errors
    /// [`StoreError::Closed`] (also when `close` began while it ran), or a
    /// data-store failure.
    pub fn load_all_keys(&self, map: &str) -> Result<Vec<String>, StoreError> {
        let since = self.begin_read()?;
        let result = self.load_all_keys_in(map);
        self.unless_closed(since, result)
    }

    fn load_all_keys_in(&self, map: &str) -> Result<Vec<String>, StoreError> {
        let mut keys = Vec::new();
        let Some(ds) = self.durable() else {
            for store in self.factory.get_all_for_map(map) {
                walk(store.as_ref(), &mut |key, _| keys.push(key.to_owned()));
            }
            return Ok(keys);
        };
        // Records come with the keys so that expired ones can be left out.
        let now = self.factory.now();
        let mut after: Option<String> = None;
        loop {
            let request = ScanRequest::entries(map, Namespace::Primary, KEYS_PAGE)
                .resume_after(after.as_deref());
            let page = block_on(ds.scan(&request))?;
            keys.extend(
                page.entries
                    .into_iter()
                    .filter(|e| !e.record.as_ref().is_some_and(|r| r.is_ttl_expired(now)))
                    .map(|e| e.key),
            );
            after = page.resume_after;
            if after.is_none() {
                break;
            }
        }
        let on_disk = keys.len();
        for store in self.factory.get_all_for_map(map) {
            walk(store.as_ref(), &mut |key, dirty| {
                if dirty
                    && keys[..on_disk]
                        .binary_search_by(|k| k.as_str().cmp(key))
                        .is_err()
                {
                    keys.push(key.to_owned());
                }
            });
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

    /// Stores every record, all or nothing: admitted together, then one
    /// atomic data-store batch, then memory. A key given twice keeps the
    /// later value.
    ///
    /// # Errors
    /// As [`Self::store`]; nothing changes then.
    pub fn store_all(
        &self,
        map: &str,
        records: impl IntoIterator<Item = (String, RecordValue)>,
    ) -> Result<(), StoreError> {
        self.open()?;
        let ops = records
            .into_iter()
            .map(|(key, value)| BatchOp::Put {
                key,
                value,
                expiry: ExpiryPolicy::NONE,
            })
            .collect();
        block_on(self.factory.write_batch(map, ops))
    }

    /// Deletes `key` from `map`; deleting a missing key succeeds.
    ///
    /// # Errors
    /// [`StoreError::Closed`], or a data-store failure; nothing changes then.
    pub fn delete(&self, map: &str, key: &str) -> Result<(), StoreError> {
        self.delete_all(map, &[key.to_owned()])
    }

    /// Deletes every key in `keys` from `map`, all or nothing (one atomic
    /// data-store batch).
    ///
    /// # Errors
    /// As [`Self::delete`].
    pub fn delete_all(&self, map: &str, keys: &[String]) -> Result<(), StoreError> {
        self.open()?;
        let ops = keys
            .iter()
            .map(|key| BatchOp::Remove { key: key.clone() })
            .collect();
        block_on(self.factory.write_batch(map, ops))
    }

    /// Fills memory with `map`'s records from the data store, as far as the
    /// bounds allow (see [`RecordStoreFactory::warm_up`]); `progress` sees a
    /// [`WarmUpProgress`] after every page and may stop by returning
    /// `Break`. Nothing to do in memory.
    ///
    /// # Errors
    /// [`StoreError::Closed`], or a data-store failure (what was loaded
    /// stays).
    pub fn warm_up(
        &self,
        map: &str,
        progress: &mut dyn FnMut(&WarmUpProgress) -> ControlFlow<()>,
    ) -> Result<WarmUpProgress, StoreError> {
        self.open()?;
        block_on(self.factory.warm_up(map, progress))
    }
}

/// Visits every live record of `store` as (key, dirty), page by page.
fn walk(store: &dyn RecordStore, visit: &mut dyn FnMut(&str, bool)) {
    let mut cursor = IterationCursor::start();
    while !cursor.is_finished() {
        // The cursor comes from this very store: it cannot be foreign.
        let Ok(next) = store.fetch_with(&cursor, KEYS_PAGE, &mut |key, record| {
            visit(key, record.metadata.is_dirty());
            true
        }) else {
            break;
        };
        cursor = next;
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
    fn reads_and_deletes_of_missing_maps_allocate_nothing() {
        // TopGun's clients choose map names: no read may leave state behind.
        let s = MapStorage::default();
        for i in 0..40_000 {
            assert_eq!(s.load(&format!("m{i}"), "k").unwrap(), None);
        }
        let keys: Vec<String> = (0..1_000).map(|i| format!("k{i}")).collect();
        assert!(s.load_all("missing", &keys).unwrap().is_empty());
        assert!(s.load_all_keys("missing").unwrap().is_empty());
        s.delete("missing", "k").unwrap();
        s.delete_all("missing", &keys).unwrap();
        assert_eq!(s.factory().store_count(), 0);
        assert!(s.factory().map_names().is_empty());
        // A write creates exactly the store of its partition; reads of the
        // other partitions of that map still create nothing.
        s.store("m", "hello", lww(1)).unwrap();
        assert_eq!(s.factory().store_count(), 1);
        assert!(s.load_all("m", &keys).unwrap().is_empty());
        assert_eq!(s.factory().store_count(), 1);
        assert_eq!(s.load("m", "hello").unwrap(), Some(lww(1)));
    }

    #[test]
    fn close_of_many_maps_drops_every_store() {
        // Before, close removed map by map, each removal scanning every
        // store: quadratic (12-38 s for 40,000-50,000 maps).
        let s = MapStorage::default();
        for i in 0..20_000 {
            s.store(&format!("m{i}"), "k", lww(i)).unwrap();
        }
        assert_eq!(s.factory().store_count(), 20_000);
        assert_eq!(s.factory().get_all_for_map("m7").len(), 1);
        s.close().unwrap();
        assert_eq!(s.factory().store_count(), 0);
        assert!(matches!(s.load("m7", "k"), Err(StoreError::Closed)));
    }

    #[test]
    fn a_read_overlapping_close_is_complete_or_closed() {
        // Before, a read on another thread returned whatever close had not
        // dropped yet (e.g. 19,869 of 20,000 keys) as if it were the map.
        use std::sync::Barrier;
        let keys: Vec<String> = (0..4_000).map(|i| format!("k{i}")).collect();
        let mut outcomes = [0usize; 2];
        for _ in 0..60 {
            let s = Arc::new(MapStorage::default());
            s.store_all("m", keys.iter().map(|k| (k.clone(), lww(1))))
                .unwrap();
            let start = Arc::new(Barrier::new(3));
            let reader = |all_keys: bool| {
                let (s, start, keys) = (s.clone(), start.clone(), keys.clone());
                std::thread::spawn(move || {
                    start.wait();
                    if all_keys {
                        s.load_all_keys("m").map(|k| k.len())
                    } else {
                        s.load_all("m", &keys).map(|found| found.len())
                    }
                })
            };
            let (a, b) = (reader(true), reader(false));
            start.wait();
            s.close().unwrap();
            for result in [a.join().unwrap(), b.join().unwrap()] {
                match result {
                    Ok(n) => {
                        assert_eq!(
                            n, 4_000,
                            "a read overlapping close returned part of the map"
                        );
                        outcomes[0] += 1;
                    }
                    Err(StoreError::Closed) => outcomes[1] += 1,
                    Err(e) => panic!("{e}"),
                }
            }
        }
        assert_eq!(outcomes.iter().sum::<usize>(), 120);
    }

    #[test]
    fn load_resident_reads_memory_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("maps.redb");
        let ds = Arc::new(
            crate::RedbDataStore::open(
                &path,
                crate::RedbOptions::with_durability(crate::Durability::None),
            )
            .unwrap(),
        );
        let s = MapStorage::with_data_store(ds.clone(), StorageConfig::default());
        s.store("m", "k", lww(1)).unwrap();
        assert_eq!(s.load_resident("m", "k").unwrap(), Some(lww(1)));
        assert_eq!(s.load_resident("m", "other").unwrap(), None);
        s.close().unwrap();
        assert!(matches!(s.load_resident("m", "k"), Err(StoreError::Closed)));
        // Reopened: on disk, not in memory until loaded.
        let ds = Arc::new(
            crate::RedbDataStore::open(
                &path,
                crate::RedbOptions::with_durability(crate::Durability::None),
            )
            .unwrap(),
        );
        let s = MapStorage::with_data_store(ds, StorageConfig::default());
        assert_eq!(s.load_resident("m", "k").unwrap(), None);
        assert_eq!(s.load("m", "k").unwrap(), Some(lww(1)));
        assert_eq!(s.load_resident("m", "k").unwrap(), Some(lww(1)));
        s.close().unwrap();
    }

    #[test]
    fn close_drops_data_and_later_calls_fail() {
        let s = MapStorage::default();
        s.initialize().unwrap();
        s.initialize().unwrap();
        s.store("m", "k", lww(1)).unwrap();
        s.close().unwrap();
        s.close().unwrap();
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
        s.close().unwrap();
        s.initialize().unwrap();
        assert!(!s.is_closed());
        assert!(s.ensure_open().is_ok());
        assert_eq!(s.load("m", "k").unwrap(), None, "close dropped the data");
        s.store("m", "k", lww(2)).unwrap();
        assert_eq!(s.load("m", "k").unwrap(), Some(lww(2)));
        assert_eq!(s.load_all_keys("m").unwrap(), ["k"]);
    }
}
