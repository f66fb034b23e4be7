//! [`RecordStoreFactory`]: one record store per (map, partition).

use crate::clock::{Clock, SystemClock};
use crate::datastores::NullDataStore;
use crate::default_record_store::DefaultRecordStore;
use crate::default_record_store::{warm_up, write_batch, BatchOp, WarmUpProgress, WriteGate};
use crate::engines::HashMapStorage;
use crate::map_data_store::MapDataStore;
use crate::observer::{CompositeMutationObserver, MutationObserver};
use crate::partition::partition_for_key;
use crate::record_store::{RecordStore, StorageConfig, StoreError};
use crate::snapshot::{MapsSnapshot, SnapshotRegistry, StoreSnapshot};
use parking_lot::RwLock;
use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::sync::Arc;

/// Makes an observer for each new store (e.g. a Merkle tree per partition);
/// `None` means no observer for that store.
pub trait ObserverFactory: Send + Sync {
    /// The observer for the store of `map_name` / `partition_id`.
    fn create_observer(
        &self,
        map_name: &str,
        partition_id: u32,
    ) -> Option<Arc<dyn MutationObserver>>;
}

/// Creates and caches the record stores of every map: one
/// [`DefaultRecordStore`] over a [`HashMapStorage`] per (map name,
/// partition), created on first use and shared afterwards.
///
/// Each store gets the map's configuration (a per-map override, else the
/// default), the shared data store, the shared observers plus whatever the
/// observer factories make for it, and the shared clock.
///
/// The cache is a table of maps, each holding its stores by partition, so
/// what concerns one map costs what that map has: a lookup
/// ([`Self::get_or_create`], [`Self::store_for_key`], [`Self::get`]) hashes
/// the map name and searches that map's partitions under a read lock,
/// allocating nothing; [`Self::get_all_for_map`] and [`Self::remove_map`]
/// cost O(partitions of that map); [`Self::clear`], [`Self::all_stores`]
/// and [`Self::snapshot`] O(stores). Creation takes the write lock (once per
/// store). Only the `*_or_create` lookups and [`Self::store_for_key`]
/// create a store; a map is in the cache only while it has one.
///
/// Over a data store that keeps data (durable), creating the factory and
/// its stores loads nothing: a miss loads its key, and
/// [`Self::warm_up`] fills memory on request. The stores share one per-key
/// write order, so [`Self::write_batch`] can apply a batch that spans
/// partitions as one atomic data-store write.
pub struct RecordStoreFactory {
    config: StorageConfig,
    map_configs: RwLock<HashMap<String, StorageConfig>>,
    data_store: Arc<dyn MapDataStore>,
    observers: Vec<Arc<dyn MutationObserver>>,
    observer_factories: Vec<Arc<dyn ObserverFactory>>,
    clock: Arc<dyn Clock>,
    shards: usize,
    /// Map name -> its stores by partition.
    maps: RwLock<HashMap<String, BTreeMap<u32, Arc<DefaultRecordStore>>>>,
    /// Shared by every store's engine: one snapshot covers all of them.
    registry: Arc<SnapshotRegistry>,
    /// The write order every store shares (`None` over a null data store).
    gate: Option<Arc<WriteGate>>,
}

impl std::fmt::Debug for RecordStoreFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordStoreFactory")
            .field("config", &self.config)
            .field("stores", &self.store_count())
            .finish_non_exhaustive()
    }
}

impl Default for RecordStoreFactory {
    fn default() -> Self {
        Self::new(
            StorageConfig::default(),
            Arc::new(NullDataStore),
            Vec::new(),
        )
    }
}

impl RecordStoreFactory {
    /// A factory giving every store `config`, `data_store` and `observers`.
    /// Durable when `data_store` keeps data (see the type's docs); this is
    /// O(1) whatever the data store holds.
    #[must_use]
    pub fn new(
        config: StorageConfig,
        data_store: Arc<dyn MapDataStore>,
        observers: Vec<Arc<dyn MutationObserver>>,
    ) -> Self {
        let gate = (!data_store.is_null()).then(|| Arc::new(WriteGate::new()));
        Self {
            gate,
            config,
            map_configs: RwLock::new(HashMap::new()),
            data_store,
            observers,
            observer_factories: Vec::new(),
            clock: Arc::new(SystemClock),
            // One store per partition: a few shards each is plenty.
            shards: 4,
            maps: RwLock::new(HashMap::new()),
            registry: SnapshotRegistry::new(),
        }
    }

    /// Adds factories that make a per-store observer when a store is created.
    #[must_use]
    pub fn with_observer_factories(mut self, factories: Vec<Arc<dyn ObserverFactory>>) -> Self {
        self.observer_factories = factories;
        self
    }

    /// Every store reads `clock` (a manual clock in tests).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Shards per store's engine (default 4).
    #[must_use]
    pub fn with_shards_per_store(mut self, shards: usize) -> Self {
        self.shards = shards.max(1);
        self
    }

    /// Sets the configuration of `map_name`'s stores created from now on.
    pub fn set_map_config(&self, map_name: &str, config: StorageConfig) {
        self.map_configs.write().insert(map_name.to_owned(), config);
    }

    /// The configuration `map_name`'s stores get.
    #[must_use]
    pub fn map_config(&self, map_name: &str) -> StorageConfig {
        self.map_configs
            .read()
            .get(map_name)
            .copied()
            .unwrap_or(self.config)
    }

    /// The store of `map_name` / `partition_id`, created on first use; later
    /// calls return the same `Arc`.
    #[must_use]
    pub fn get_or_create(&self, map_name: &str, partition_id: u32) -> Arc<dyn RecordStore> {
        self.get_or_create_default(map_name, partition_id)
    }

    /// As [`Self::get_or_create`], with the concrete type.
    #[must_use]
    pub fn get_or_create_default(
        &self,
        map_name: &str,
        partition_id: u32,
    ) -> Arc<DefaultRecordStore> {
        if let Some(store) = self.existing(map_name, partition_id) {
            return store;
        }
        let mut maps = self.maps.write();
        let partitions = maps.entry(map_name.to_owned()).or_default();
        if let Some(store) = partitions.get(&partition_id) {
            return Arc::clone(store);
        }
        let mut observers = self.observers.clone();
        observers.extend(
            self.observer_factories
                .iter()
                .filter_map(|f| f.create_observer(map_name, partition_id)),
        );
        let store = Arc::new(
            DefaultRecordStore::new(
                map_name.to_owned(),
                partition_id,
                Box::new(HashMapStorage::with_registry(
                    self.shards,
                    Arc::clone(&self.registry),
                )),
                Arc::clone(&self.data_store),
                Arc::new(CompositeMutationObserver::new(observers)),
                self.map_config(map_name),
            )
            .with_clock(Arc::clone(&self.clock))
            .with_write_gate(self.gate.clone()),
        );
        partitions.insert(partition_id, Arc::clone(&store));
        store
    }

    /// The store of `map_name` / `partition_id` if it exists; creates
    /// nothing. O(log partitions of the map), no allocation.
    #[must_use]
    pub fn get(&self, map_name: &str, partition_id: u32) -> Option<Arc<dyn RecordStore>> {
        self.existing(map_name, partition_id)
            .map(|s| s as Arc<dyn RecordStore>)
    }

    /// The store that owns `key` in `map_name` (routed by
    /// [`partition_for_key`]), created on first use.
    #[must_use]
    pub fn store_for_key(&self, map_name: &str, key: &str) -> Arc<dyn RecordStore> {
        self.get_or_create(map_name, partition_for_key(key))
    }

    /// Names of the maps that have at least one store, sorted. O(maps).
    #[must_use]
    pub fn map_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.maps.read().keys().cloned().collect();
        names.sort_unstable();
        names
    }

    /// Every existing store of `map_name`, by partition. O(partitions of
    /// the map); creates nothing.
    #[must_use]
    pub fn get_all_for_map(&self, map_name: &str) -> Vec<Arc<dyn RecordStore>> {
        self.maps
            .read()
            .get(map_name)
            .map_or_else(Vec::new, |partitions| {
                partitions
                    .values()
                    .map(|s| Arc::clone(s) as Arc<dyn RecordStore>)
                    .collect()
            })
    }

    /// Every existing store. O(stores).
    #[must_use]
    pub fn all_stores(&self) -> Vec<Arc<dyn RecordStore>> {
        self.maps
            .read()
            .values()
            .flat_map(BTreeMap::values)
            .map(|s| Arc::clone(s) as Arc<dyn RecordStore>)
            .collect()
    }

    /// How many stores the cache holds. O(maps).
    #[must_use]
    pub fn store_count(&self) -> usize {
        self.maps.read().values().map(BTreeMap::len).sum()
    }

    /// Drops the stores of `map_name` from the cache (destroying them
    /// outside the lock); returns how many there were. O(partitions of the
    /// map).
    pub fn remove_map(&self, map_name: &str) -> usize {
        let removed = self.maps.write().remove(map_name).unwrap_or_default();
        for store in removed.values() {
            store.destroy();
        }
        removed.len()
    }

    /// Drops every store from the cache (destroying them outside the lock);
    /// returns how many there were. O(stores + their records).
    pub fn clear(&self) -> usize {
        let removed = std::mem::take(&mut *self.maps.write());
        let mut count = 0;
        for store in removed.values().flat_map(BTreeMap::values) {
            store.destroy();
            count += 1;
        }
        count
    }

    /// The shared data store.
    #[must_use]
    pub fn data_store(&self) -> Arc<dyn MapDataStore> {
        Arc::clone(&self.data_store)
    }

    /// Every store at one instant (see [`MapsSnapshot`]): one epoch of the
    /// registry the stores' engines share, and one clock reading for
    /// expiry. O(number of stores); holds the cache's read lock meanwhile,
    /// so no store is created or removed during it.
    #[must_use]
    pub fn snapshot(&self) -> MapsSnapshot {
        let maps = self.maps.read();
        let ticket = Arc::new(self.registry.acquire());
        let now = self.clock.now_millis();
        let views = maps
            .values()
            .flat_map(BTreeMap::values)
            .filter_map(|store| {
                let view = store.storage().snapshot_at(&ticket)?;
                Some(StoreSnapshot::new(
                    view,
                    store.name(),
                    store.partition_id(),
                    now,
                    store.config().default_expiry(),
                ))
            })
            .collect();
        drop(maps);
        MapsSnapshot::new(views, ticket.epoch())
    }

    /// The registry shared by every store's engine.
    #[must_use]
    pub fn snapshot_registry(&self) -> &Arc<SnapshotRegistry> {
        &self.registry
    }

    /// The shared data store, borrowed.
    pub(crate) fn data_store_ref(&self) -> &dyn MapDataStore {
        self.data_store.as_ref()
    }

    /// The current time of the stores' clock.
    pub(crate) fn now(&self) -> i64 {
        self.clock.now_millis()
    }

    /// The store of `map_name` / `partition_id` if it exists (creates
    /// nothing, allocates nothing).
    pub(crate) fn existing(
        &self,
        map_name: &str,
        partition_id: u32,
    ) -> Option<Arc<DefaultRecordStore>> {
        self.maps
            .read()
            .get(map_name)
            .and_then(|partitions| partitions.get(&partition_id))
            .cloned()
    }

    /// Applies `ops` to `map_name` as one batch across its partitions:
    /// admitted together (each partition's bounds), written to the data
    /// store as one atomic `write`, then applied to each partition's memory.
    /// On error nothing changed, in memory or in the data store. A key named
    /// twice takes its last operation; puts are `Client` writes. Creates the
    /// stores the puts need; a remove of a key whose store does not exist
    /// only reaches the data store.
    ///
    /// # Errors
    /// [`StoreError::DataStore`], [`StoreError::CapacityExceeded`] or
    /// [`StoreError::EntryTooLarge`]; nothing changes then.
    pub async fn write_batch(&self, map_name: &str, ops: Vec<BatchOp>) -> Result<(), StoreError> {
        write_batch(
            self.data_store.as_ref(),
            self.gate.as_deref(),
            map_name,
            ops,
            |key| self.get_or_create_default(map_name, partition_for_key(key)),
            |key| self.existing(map_name, partition_for_key(key)),
        )
        .await
    }

    /// Fills the memory of `map_name`'s stores from the data store: pages
    /// through the map on disk in key order, routes each record to its
    /// partition's store and keeps it if it is live and fits within that
    /// store's bounds (never evicting); resident records win. Reports
    /// [`WarmUpProgress`] after each page; `progress` may stop the warm-up
    /// by returning `Break`. O(records on disk); nothing else loads them
    /// ahead of a read.
    ///
    /// # Errors
    /// [`StoreError::DataStore`] when a read fails; what was loaded so far
    /// stays.
    pub async fn warm_up(
        &self,
        map_name: &str,
        progress: &mut dyn FnMut(&WarmUpProgress) -> ControlFlow<()>,
    ) -> Result<WarmUpProgress, StoreError> {
        warm_up(
            self.data_store.as_ref(),
            self.gate.as_deref(),
            map_name,
            |key| self.get_or_create_default(map_name, partition_for_key(key)),
            progress,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocking::block_on;
    use crate::clock::ManualClock;
    use crate::expiry::ExpiryPolicy;
    use crate::observer::{EventKind, EventObserver, StoreEvent};
    use crate::record::{RecordValue, Timestamp};
    use crate::record_store::CallerProvenance;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// An observer counting puts, and that count.
    fn put_counter() -> (Arc<dyn MutationObserver>, Arc<AtomicU64>) {
        let puts = Arc::new(AtomicU64::new(0));
        let count = puts.clone();
        let observer = EventObserver::new(move |e: &StoreEvent<'_>| {
            if e.kind == EventKind::Put {
                count.fetch_add(1, Ordering::SeqCst);
            }
        });
        (Arc::new(observer), puts)
    }

    fn put(store: &dyn RecordStore, key: &str) {
        let value = RecordValue::lww(1, Timestamp::new(1, 0, "n"));
        block_on(store.put(key, value, ExpiryPolicy::NONE, CallerProvenance::Client)).unwrap();
    }

    #[test]
    fn factory_get_or_create_returns_working_record_store() {
        let factory = RecordStoreFactory::default();
        let store = factory.get_or_create("users", 7);
        assert_eq!((store.name(), store.partition_id()), ("users", 7));
        put(store.as_ref(), "alice");
        assert_eq!(store.size(), 1);
    }

    #[test]
    fn storage_config_default_all_zeros() {
        let c = StorageConfig::default();
        assert_eq!(
            (
                c.default_ttl_millis,
                c.default_max_idle_millis,
                c.max_entry_count,
                c.max_total_cost
            ),
            (0, 0, 0, 0)
        );
        assert_eq!(c.eviction_policy, crate::record_store::EvictionPolicy::None);
        assert_eq!(c.eviction_sample_count, 15);
    }

    #[test]
    fn factory_creates_independent_stores() {
        let factory = RecordStoreFactory::default();
        let a = factory.get_or_create("m", 1);
        let b = factory.get_or_create("m", 2);
        let other = factory.get_or_create("n", 1);
        put(a.as_ref(), "k");
        assert_eq!((a.size(), b.size(), other.size()), (1, 0, 0));
    }

    #[test]
    fn cache_hit_returns_same_arc_instance() {
        let factory = RecordStoreFactory::default();
        let first = factory.get_or_create("m", 3);
        let second = factory.get_or_create("m", 3);
        assert!(Arc::ptr_eq(&first, &second));
    }

    #[test]
    fn different_partitions_return_different_stores() {
        let factory = RecordStoreFactory::default();
        assert!(!Arc::ptr_eq(
            &factory.get_or_create("m", 0),
            &factory.get_or_create("m", 1)
        ));
    }

    #[test]
    fn get_all_for_map_returns_all_partitions() {
        let factory = RecordStoreFactory::default();
        for p in [5, 1, 3] {
            let _ = factory.get_or_create("m", p);
        }
        let _ = factory.get_or_create("other", 0);
        let partitions: Vec<u32> = factory
            .get_all_for_map("m")
            .iter()
            .map(|s| s.partition_id())
            .collect();
        assert_eq!(partitions, [1, 3, 5]);
        assert_eq!(factory.map_names(), ["m", "other"]);
        assert_eq!(factory.all_stores().len(), 4);
    }

    #[test]
    fn lookups_that_do_not_create_create_nothing() {
        let factory = RecordStoreFactory::default();
        assert!(factory.get("m", 3).is_none());
        assert!(factory.get_all_for_map("m").is_empty());
        assert_eq!(factory.store_count(), 0);
        assert!(factory.map_names().is_empty());
        let created = factory.store_for_key("m", "hello");
        let found = factory.get("m", created.partition_id()).unwrap();
        assert!(Arc::ptr_eq(&created, &found));
        let _ = factory.get_or_create("n", 1);
        let _ = factory.get_or_create("n", 2);
        assert_eq!(factory.store_count(), 3);
        assert_eq!(factory.remove_map("m"), 1);
        assert_eq!(factory.remove_map("m"), 0);
        assert_eq!(factory.map_names(), ["n"]);
        assert_eq!(factory.clear(), 2);
        assert_eq!(factory.store_count(), 0);
        assert!(factory.map_names().is_empty());
    }

    struct Counting(AtomicU64, Arc<dyn MutationObserver>);
    impl ObserverFactory for Counting {
        fn create_observer(&self, _: &str, partition: u32) -> Option<Arc<dyn MutationObserver>> {
            self.0.fetch_add(1, Ordering::SeqCst);
            (partition == 0).then(|| self.1.clone())
        }
    }

    #[test]
    fn observer_factory_fires_only_on_cache_miss() {
        let (observer, puts) = put_counter();
        let counting = Arc::new(Counting(AtomicU64::new(0), observer));
        let factory = RecordStoreFactory::default().with_observer_factories(vec![counting.clone()]);
        let store = factory.get_or_create("m", 0);
        let _ = factory.get_or_create("m", 0);
        let _ = factory.get_or_create("m", 1);
        assert_eq!(counting.0.load(Ordering::SeqCst), 2);
        put(store.as_ref(), "k");
        put(factory.get_or_create("m", 1).as_ref(), "k");
        assert_eq!(puts.load(Ordering::SeqCst), 1, "only partition 0 has it");
    }

    #[test]
    fn factory_propagates_config() {
        let config = StorageConfig {
            default_ttl_millis: 5_000,
            ..StorageConfig::default()
        };
        let factory = RecordStoreFactory::new(config, Arc::new(NullDataStore), Vec::new());
        assert!(factory.get_or_create("m", 0).is_expirable());
    }

    #[test]
    fn per_map_config_overrides_the_default() {
        let factory = RecordStoreFactory::default();
        factory.set_map_config(
            "sessions",
            StorageConfig {
                default_max_idle_millis: 100,
                ..StorageConfig::default()
            },
        );
        assert!(factory.get_or_create("sessions", 0).is_expirable());
        assert!(!factory.get_or_create("users", 0).is_expirable());
        assert_eq!(factory.map_config("sessions").default_max_idle_millis, 100);
    }

    #[test]
    fn store_for_key_routes_by_partition() {
        let factory = RecordStoreFactory::default();
        let store = factory.store_for_key("m", "hello");
        assert_eq!(store.partition_id(), 95);
        assert!(Arc::ptr_eq(&store, &factory.get_or_create("m", 95)));
    }

    #[test]
    fn shared_clock_and_observers_reach_every_store() {
        let clock = ManualClock::new(1_000);
        let (observer, puts) = put_counter();
        let factory = RecordStoreFactory::new(
            StorageConfig::default(),
            Arc::new(NullDataStore),
            vec![observer],
        )
        .with_clock(Arc::new(clock.clone()));
        let a = factory.get_or_create("m", 0);
        let b = factory.get_or_create("n", 9);
        put(a.as_ref(), "x");
        put(b.as_ref(), "y");
        assert_eq!(puts.load(Ordering::SeqCst), 2);
        clock.set(5_000);
        assert_eq!((a.now(), b.now()), (5_000, 5_000));
    }

    #[test]
    fn remove_map_destroys_and_forgets_its_stores() {
        let factory = RecordStoreFactory::default();
        put(factory.get_or_create("m", 0).as_ref(), "k");
        let _ = factory.get_or_create("m", 1);
        assert_eq!(factory.remove_map("m"), 2);
        assert!(factory.get_all_for_map("m").is_empty());
        assert_eq!(factory.get_or_create("m", 0).size(), 0);
    }

    #[test]
    fn concurrent_get_or_create_makes_one_store() {
        let factory = Arc::new(RecordStoreFactory::default());
        let stores: Vec<_> = (0..8)
            .map(|_| {
                let f = factory.clone();
                std::thread::spawn(move || f.get_or_create("m", 4))
            })
            .map(|t| t.join().unwrap())
            .collect();
        assert!(stores.windows(2).all(|w| Arc::ptr_eq(&w[0], &w[1])));
    }
}
