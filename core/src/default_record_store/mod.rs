//! [`DefaultRecordStore`]: the record store over any [`StorageEngine`].
//!
//! # How it keeps its promises
//!
//! * **Atomic record updates.** Every change to a record is one engine call
//!   (`upsert`, `update`, `remove_if`) under that key's shard lock, so the
//!   version bump, the expiry check and the write cannot interleave with
//!   another writer of the same key.
//! * **Observers outside locks.** Operations collect events while they work
//!   and hand them to the observers only after every engine call has
//!   returned; no store or engine lock is held during a callback.
//! * **Failure atomicity.** A write that reaches the data store is sent there
//!   before memory changes; if the data store fails, the call returns the
//!   error and memory is untouched. Admission checks (size, bounds) run
//!   before anything changes.
//! * **Durable tier** (`durable.rs`): per-key write order between the data
//!   store and memory, dirty and clean records, loading misses, atomic
//!   batches and warm-up.
//! * **Expiry.** Reads check expiry under the lock and remove what they find
//!   expired (lazy); [`RecordStore::evict_expired`] / [`RecordStore::maintain`]
//!   sweep a bounded number of entries per call (`expiry_sweep.rs`).
//! * **Eviction and admission** (`eviction.rs`): a write that cannot fit is
//!   refused before anything changes; after a write, while a bound is
//!   exceeded, sampled rounds remove records (at most
//!   [`MAX_EVICTION_ROUNDS`] per write).
//! * **Loading.** A miss asks a data store that keeps data, and keeps what it
//!   loads (clean) unless a live record is resident.
//!
//! Observer events are collected in an `EventBuffer` (`crate::observer`)
//! and delivered when the operation is done.

use crate::clock::{Clock, SystemClock};
use crate::cursor::{CursorError, IterationCursor};
use crate::engine::StorageEngine;
use crate::expiry::{expiry_reason, ExpiryPolicy, ExpiryReason};
use crate::map_data_store::{MapDataStore, Namespace, StoredRecord};
use crate::observer::{CompositeMutationObserver, EventBuffer, MutationObserver, PendingEvent};
use crate::record::{Record, RecordMetadata, RecordValue};
use crate::record_store::{
    entry_cost, CallerProvenance, EvictionPolicy, MaintenanceReport, ReadOutcome, RecordStore,
    StorageConfig, StoreError, StoreStats,
};
use async_trait::async_trait;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

mod durable;
mod eviction;
mod expiry_sweep;

pub(crate) use durable::{warm_up, write_batch, WriteGate};
pub use durable::{BatchOp, WarmUpProgress};
pub use eviction::MAX_EVICTION_ROUNDS;

/// Entries visited per page by sweeps and `for_each_boxed`.
const PAGE: usize = 256;

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    puts: AtomicU64,
    updates: AtomicU64,
    removes: AtomicU64,
    evictions: AtomicU64,
    expirations: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// The record store over a [`StorageEngine`] (see the module docs for its
/// guarantees). Cheap operations: `get` is one engine lookup (plus a clock
/// read when touching or when records can expire); `put` is one engine
/// upsert, plus a data-store write for write-through provenances and
/// O(samples) work per eviction round when bounded.
pub struct DefaultRecordStore {
    name: String,
    partition_id: u32,
    engine: Box<dyn StorageEngine>,
    data_store: Arc<dyn MapDataStore>,
    observer: Arc<CompositeMutationObserver>,
    config: StorageConfig,
    clock: Arc<dyn Clock>,
    counters: Counters,
    /// Where the expiry sweep resumes.
    sweep: Mutex<IterationCursor>,
    /// Set once any record carries its own expiry policy.
    entry_expiry: AtomicBool,
    /// Per-key order of writes between the data store and memory; `None`
    /// over a data store that keeps nothing.
    gate: Option<Arc<WriteGate>>,
    /// With eviction `None` and a bound: held from a write's admission
    /// check until its write is in memory, so concurrent writers cannot
    /// both pass the check for the last free place (see `eviction.rs`).
    admission: Option<Arc<futures_util::lock::Mutex<()>>>,
}

impl std::fmt::Debug for DefaultRecordStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DefaultRecordStore")
            .field("name", &self.name)
            .field("partition_id", &self.partition_id)
            .field("config", &self.config)
            .field("size", &self.engine.len())
            .finish_non_exhaustive()
    }
}

impl DefaultRecordStore {
    /// A store of map `name`, partition `partition_id`, keeping records in
    /// `engine`, persisting to `data_store`, reporting to `observer`, reading
    /// the system clock. `eviction_sample_count` below 1 is treated as 1.
    #[must_use]
    pub fn new(
        name: String,
        partition_id: u32,
        engine: Box<dyn StorageEngine>,
        data_store: Arc<dyn MapDataStore>,
        observer: Arc<CompositeMutationObserver>,
        config: StorageConfig,
    ) -> Self {
        let gate = (!data_store.is_null()).then(|| Arc::new(WriteGate::new()));
        let admission = (config.eviction_policy == EvictionPolicy::None && config.is_bounded())
            .then(|| Arc::new(futures_util::lock::Mutex::new(())));
        Self {
            admission,
            name,
            partition_id,
            engine,
            data_store,
            observer,
            config: StorageConfig {
                eviction_sample_count: config.eviction_sample_count.max(1),
                ..config
            },
            clock: Arc::new(SystemClock),
            counters: Counters::default(),
            sweep: Mutex::new(IterationCursor::start()),
            entry_expiry: AtomicBool::new(false),
            gate,
        }
    }

    /// A store on its own (map `"default"`, partition 0): a
    /// [`crate::HashMapStorage`], no persistence, no observers yet, reading
    /// `clock` (the system clock if `None`). What the C, Python and Node
    /// bindings build for a `Storage` handle.
    #[must_use]
    pub fn standalone(config: StorageConfig, clock: Option<Arc<dyn Clock>>) -> Self {
        Self::standalone_over(
            "default",
            config,
            Arc::new(crate::datastores::NullDataStore),
            clock,
        )
    }

    /// A store on its own (map `name`, partition 0) over `data_store`: a
    /// [`crate::HashMapStorage`], no observers yet, reading `clock` (the
    /// system clock if `None`). Over a durable data store (e.g. a
    /// `RedbDataStore`) this is O(1) whatever it holds: misses load from
    /// `data_store`, and [`Self::warm_up`] fills memory on request.
    #[must_use]
    pub fn standalone_over(
        name: &str,
        config: StorageConfig,
        data_store: Arc<dyn MapDataStore>,
        clock: Option<Arc<dyn Clock>>,
    ) -> Self {
        let store = Self::new(
            name.to_owned(),
            0,
            Box::new(crate::engines::HashMapStorage::new()),
            data_store,
            Arc::new(CompositeMutationObserver::default()),
            config,
        );
        match clock {
            Some(clock) => store.with_clock(clock),
            None => store,
        }
    }

    /// The same store sharing `gate` with other stores over the same data
    /// store (a factory's stores share one, so batches across partitions
    /// lock in one order).
    #[must_use]
    pub(crate) fn with_write_gate(mut self, gate: Option<Arc<WriteGate>>) -> Self {
        if !self.ds().is_null() {
            self.gate = gate;
        }
        self
    }

    /// The same store reading `clock` instead of the system clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The observer list this store reports to.
    #[must_use]
    pub fn observers(&self) -> &Arc<CompositeMutationObserver> {
        &self.observer
    }

    /// Whether a read that misses memory asks a data store (a durable
    /// store) rather than ending as a miss (a standalone store, whose
    /// memory holds everything). A caller that reads with
    /// [`RecordStore::read_with`] (memory only) has exactly `get`'s
    /// semantics when this is `false`.
    #[must_use]
    pub fn loads_misses(&self) -> bool {
        !self.ds().is_null()
    }

    /// The data store, called directly (not through the `Arc`'s own
    /// forwarding implementation, which would add a layer to every call).
    fn ds(&self) -> &dyn MapDataStore {
        self.data_store.as_ref()
    }

    fn events(&self) -> EventBuffer {
        EventBuffer::for_observers(&self.observer)
    }

    fn reason(&self, meta: &RecordMetadata, now: i64) -> ExpiryReason {
        expiry_reason(meta, self.config.default_expiry(), now)
    }

    /// The live record under `key` in memory (touched if asked), or `None`
    /// (an expired one is removed). Counts the hit or the miss.
    fn read_memory(&self, key: &str, touch: bool, events: &mut EventBuffer) -> Option<Record> {
        let expirable = self.is_expirable();
        let now = if touch || expirable {
            self.clock.now_millis()
        } else {
            0
        };
        let mut found = None;
        let mut expired = false;
        let mut visit = |record: &Record| {
            if expirable && self.reason(&record.metadata, now).is_expired() {
                expired = true;
                None
            } else {
                Some(record.clone())
            }
        };
        if touch {
            self.engine.update(key, &mut |record| {
                if let Some(mut copy) = visit(record) {
                    record.metadata.on_access(now);
                    copy.metadata = record.metadata;
                    found = Some(copy);
                }
            });
        } else {
            self.engine
                .get_with(key, &mut |record| found = visit(record));
        }
        if expired {
            self.remove_if_expired(key, now, false, events);
        }
        bump(if found.is_some() {
            &self.counters.hits
        } else {
            &self.counters.misses
        });
        found
    }

    /// The memory half of a put: writes `value` under `key` (new metadata,
    /// or the live record's, updated), with its own `expiry`, clean if
    /// `stored` (the data store holds it) and dirty otherwise; counts it and
    /// adds its event. Returns the previous live value.
    #[allow(clippy::too_many_arguments)]
    fn apply_put(
        &self,
        key: &str,
        value: RecordValue,
        expiry: ExpiryPolicy,
        cost: u64,
        now: i64,
        stored: bool,
        events: &mut EventBuffer,
    ) -> Option<RecordValue> {
        if expiry.is_set() {
            self.entry_expiry.store(true, Ordering::Relaxed);
        }
        let expirable = self.is_expirable();
        let mut value = Some(value);
        let mut written = None;
        let old = self.engine.upsert(key, &mut |current| {
            let mut meta = match current {
                Some(c) if !(expirable && self.reason(&c.metadata, now).is_expired()) => {
                    let mut m = c.metadata;
                    m.on_update(now);
                    m
                }
                _ => RecordMetadata::new(now, cost),
            };
            meta.cost = cost;
            meta.ttl_millis = expiry.ttl_millis;
            meta.max_idle_millis = expiry.max_idle_millis;
            Self::stamp_write(&mut meta, stored, now);
            let record = Record::new(value.take()?, meta);
            if events.is_enabled() {
                written = Some(record.clone());
            }
            Some(record)
        });
        let old_live = match old {
            Some(o) if expirable && self.reason(&o.metadata, now).is_expired() => {
                bump(&self.counters.expirations);
                let why = self.reason(&o.metadata, now);
                events.push(|| PendingEvent::Expire(key.to_owned(), o, why, false));
                None
            }
            other => other,
        };
        match &old_live {
            Some(o) => {
                bump(&self.counters.updates);
                if let Some(r) = written {
                    let old_value = o.value.clone();
                    events.push(|| PendingEvent::Update(key.to_owned(), r, old_value, false));
                }
            }
            None => {
                bump(&self.counters.puts);
                if let Some(r) = written {
                    events.push(|| PendingEvent::Put(key.to_owned(), r, None, false));
                }
            }
        }
        old_live.map(|r| r.value)
    }

    /// The memory half of a remove: removes `key`, counts it and adds its
    /// event. Returns the live value it had.
    fn apply_remove(&self, key: &str, now: i64, events: &mut EventBuffer) -> Option<RecordValue> {
        match self.engine.remove(key) {
            Some(r) if self.reason(&r.metadata, now).is_expired() => {
                bump(&self.counters.expirations);
                let why = self.reason(&r.metadata, now);
                events.push(|| PendingEvent::Expire(key.to_owned(), r, why, false));
                None
            }
            Some(r) => {
                bump(&self.counters.removes);
                let value = r.value.clone();
                events.push(|| PendingEvent::Remove(key.to_owned(), r, false));
                Some(value)
            }
            None => None,
        }
    }
}

impl DefaultRecordStore {
    /// Writes `record` as given (metadata included) to memory and, for
    /// write-through provenances, first to the data store's `namespace`:
    /// what `restore` and `put_backup` share. With `admit`, the write passes
    /// admission first (under the admission lock, held until memory has
    /// changed). Observers see its events once every lock is released.
    async fn put_as_given(
        &self,
        key: &str,
        record: Record,
        provenance: CallerProvenance,
        namespace: Namespace,
        admit: bool,
    ) -> Result<(), StoreError> {
        let mut events = self.events();
        let result = self
            .put_as_given_in(key, record, provenance, namespace, admit, &mut events)
            .await;
        events.deliver(&self.observer);
        result
    }

    /// [`Self::put_as_given`], its events to `events`.
    async fn put_as_given_in(
        &self,
        key: &str,
        mut record: Record,
        provenance: CallerProvenance,
        namespace: Namespace,
        admit: bool,
        events: &mut EventBuffer,
    ) -> Result<(), StoreError> {
        let admitted = if admit {
            let admitted = self.admission().await;
            self.admit(key, record.metadata.cost, self.clock.now_millis(), events)?;
            admitted
        } else {
            None
        };
        let backup = namespace == Namespace::Backup;
        let (write_through, order) = self.write_order(key, provenance).await;
        let now = self.clock.now_millis();
        if write_through {
            let stored = StoredRecord::from_metadata(
                record.value,
                &record.metadata,
                self.config.default_expiry(),
            );
            self.ds().add(&self.name, namespace, key, &stored).await?;
            record.value = stored.value;
        }
        Self::stamp_write(&mut record.metadata, write_through, now);
        if record.metadata.ttl_millis > 0 || record.metadata.max_idle_millis > 0 {
            self.entry_expiry.store(true, Ordering::Relaxed);
        }
        let copy = events.is_enabled().then(|| record.clone());
        let old = self.engine.put(key, record);
        drop(order);
        drop(admitted);
        if old.is_some() {
            bump(&self.counters.updates);
        } else {
            bump(&self.counters.puts);
        }
        if let Some(r) = copy {
            events.push(|| PendingEvent::Put(key.to_owned(), r, old.map(|o| o.value), backup));
        }
        self.evict_to_bounds(Some(key), now, backup, events);
        Ok(())
    }

    /// The put of [`RecordStore::put`], its events to `events` (delivered
    /// by the caller once every lock is released).
    async fn put_in(
        &self,
        key: &str,
        value: RecordValue,
        expiry: ExpiryPolicy,
        provenance: CallerProvenance,
        events: &mut EventBuffer,
    ) -> Result<Option<RecordValue>, StoreError> {
        let cost = entry_cost(key, &value);
        let admitted = self.admission().await;
        let now = self.clock.now_millis();
        self.admit(key, cost, now, events)?;
        let (write_through, order) = self.write_order(key, provenance).await;
        // One clock read per put in memory; a write-through put reads it
        // again once it holds the key's order (it may have waited).
        let now = if write_through {
            self.clock.now_millis()
        } else {
            now
        };
        let value = if write_through {
            let stored = self.stored_record(value, expiry, cost, now);
            self.ds()
                .add(&self.name, Namespace::Primary, key, &stored)
                .await?;
            stored.value
        } else {
            value
        };
        let old = self.apply_put(key, value, expiry, cost, now, write_through, events);
        drop(order);
        drop(admitted);
        self.evict_to_bounds(Some(key), now, false, events);
        Ok(old)
    }
}

#[async_trait]
impl RecordStore for DefaultRecordStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn partition_id(&self) -> u32 {
        self.partition_id
    }

    async fn get(&self, key: &str, touch: bool) -> Result<Option<Record>, StoreError> {
        let mut events = self.events();
        let found = match self.read_memory(key, touch, &mut events) {
            Some(record) => Ok(Some(record)),
            None => self.load_missing(key, &mut events).await,
        };
        events.deliver(&self.observer);
        found
    }

    fn read_with(
        &self,
        key: &str,
        touch: bool,
        visit: &mut dyn FnMut(&Record) -> bool,
    ) -> ReadOutcome {
        let expirable = self.is_expirable();
        let now = if touch || expirable {
            self.clock.now_millis()
        } else {
            0
        };
        let mut outcome = ReadOutcome::Missing;
        let mut check = |record: &Record| {
            if visit(record) {
                ReadOutcome::Visited
            } else {
                ReadOutcome::Refused
            }
        };
        let expired =
            |record: &Record| expirable && self.reason(&record.metadata, now).is_expired();
        if touch {
            self.engine.update(key, &mut |record| {
                if expired(record) {
                    outcome = ReadOutcome::Expired;
                    return;
                }
                // The visitor sees the record as `get(key, true)` returns
                // it: with this access counted. A refusal undoes that.
                let before = record.metadata;
                record.metadata.on_access(now);
                outcome = check(record);
                if outcome == ReadOutcome::Refused {
                    record.metadata = before;
                }
            });
        } else {
            self.engine.get_with(key, &mut |record| {
                outcome = if expired(record) {
                    ReadOutcome::Expired
                } else {
                    check(record)
                };
            });
        }
        match outcome {
            ReadOutcome::Visited => bump(&self.counters.hits),
            ReadOutcome::Missing => bump(&self.counters.misses),
            ReadOutcome::Expired => {
                bump(&self.counters.misses);
                let mut events = self.events();
                self.remove_if_expired(key, now, false, &mut events);
                events.deliver(&self.observer);
            }
            ReadOutcome::Refused => {}
        }
        outcome
    }

    fn fetch_with(
        &self,
        cursor: &IterationCursor,
        size: usize,
        visit: &mut dyn FnMut(&str, &Record) -> bool,
    ) -> Result<IterationCursor, CursorError> {
        let expirable = self.is_expirable();
        let now = if expirable {
            self.clock.now_millis()
        } else {
            0
        };
        let mut expired = Vec::new();
        let next = self.engine.fetch_with(cursor, size, &mut |key, record| {
            if expirable && self.reason(&record.metadata, now).is_expired() {
                expired.push(key.to_owned());
                true
            } else {
                visit(key, record)
            }
        })?;
        if !expired.is_empty() {
            let mut events = self.events();
            for key in expired {
                self.remove_if_expired(&key, now, false, &mut events);
            }
            events.deliver(&self.observer);
        }
        Ok(next)
    }

    fn exists_in_memory(&self, key: &str) -> bool {
        let expirable = self.is_expirable();
        let now = if expirable {
            self.clock.now_millis()
        } else {
            0
        };
        let mut live = false;
        self.engine.get_with(key, &mut |r| {
            live = !expirable || !self.reason(&r.metadata, now).is_expired();
        });
        live
    }

    async fn put(
        &self,
        key: &str,
        value: RecordValue,
        expiry: ExpiryPolicy,
        provenance: CallerProvenance,
    ) -> Result<Option<RecordValue>, StoreError> {
        let mut events = self.events();
        let result = self
            .put_in(key, value, expiry, provenance, &mut events)
            .await;
        events.deliver(&self.observer);
        result
    }

    async fn remove(
        &self,
        key: &str,
        _provenance: CallerProvenance,
    ) -> Result<Option<RecordValue>, StoreError> {
        let order = self.order(key).await;
        let now = self.clock.now_millis();
        if !self.ds().is_null() {
            self.ds()
                .remove(&self.name, Namespace::Primary, key)
                .await?;
        }
        let mut events = self.events();
        let result = self.apply_remove(key, now, &mut events);
        drop(order);
        events.deliver(&self.observer);
        Ok(result)
    }

    async fn restore(
        &self,
        key: &str,
        mut record: Record,
        provenance: CallerProvenance,
    ) -> Result<(), StoreError> {
        record.metadata.cost = entry_cost(key, &record.value);
        self.put_as_given(key, record, provenance, Namespace::Primary, true)
            .await
    }

    async fn put_backup(
        &self,
        key: &str,
        record: Record,
        provenance: CallerProvenance,
    ) -> Result<(), StoreError> {
        self.put_as_given(key, record, provenance, Namespace::Backup, false)
            .await
    }

    async fn remove_backup(
        &self,
        key: &str,
        _provenance: CallerProvenance,
    ) -> Result<(), StoreError> {
        let order = self.order(key).await;
        if !self.ds().is_null() {
            self.ds().remove(&self.name, Namespace::Backup, key).await?;
        }
        let mut events = self.events();
        if let Some(r) = self.engine.remove(key) {
            bump(&self.counters.removes);
            events.push(|| PendingEvent::Remove(key.to_owned(), r, true));
        }
        drop(order);
        events.deliver(&self.observer);
        Ok(())
    }

    async fn get_all(&self, keys: &[String]) -> Result<Vec<(String, Record)>, StoreError> {
        let mut events = self.events();
        let found: Vec<Option<Record>> = keys
            .iter()
            .map(|key| self.read_memory(key, false, &mut events))
            .collect();
        let misses: Vec<&str> = keys
            .iter()
            .zip(&found)
            .filter(|(_, r)| r.is_none())
            .map(|(k, _)| k.as_str())
            .collect();
        let loaded = self.load_many(&misses, &mut events).await;
        events.deliver(&self.observer);
        let loaded = loaded?;
        Ok(keys
            .iter()
            .zip(found)
            .filter_map(|(key, record)| {
                record
                    .or_else(|| loaded.get(key).cloned())
                    .map(|r| (key.clone(), r))
            })
            .collect())
    }

    fn for_each_boxed(&self, consumer: &mut dyn FnMut(&str, &Record), _is_backup: bool) {
        let mut cursor = IterationCursor::start();
        while !cursor.is_finished() {
            let Ok(page) = self.fetch_entries(&cursor, PAGE) else {
                return;
            };
            for (key, record) in &page.items {
                consumer(key, record);
            }
            cursor = page.next_cursor;
        }
    }

    fn size(&self) -> usize {
        self.engine.len()
    }

    fn owned_entry_cost(&self) -> u64 {
        self.engine.estimated_cost()
    }

    fn has_expired(&self, key: &str, now: i64, _is_backup: bool) -> ExpiryReason {
        let mut why = ExpiryReason::NotExpired;
        self.engine
            .get_with(key, &mut |r| why = self.reason(&r.metadata, now));
        why
    }

    fn evict_expired(&self, percentage: u32, now: i64, is_backup: bool) -> u32 {
        if !self.is_expirable() {
            return 0;
        }
        let share = self.engine.len().saturating_mul(percentage as usize) / 100;
        let mut events = self.events();
        let (_, removed) = self.sweep_expired(share.max(100), now, is_backup, &mut events);
        events.deliver(&self.observer);
        u32::try_from(removed).unwrap_or(u32::MAX)
    }

    fn is_expirable(&self) -> bool {
        self.config.default_expiry().is_set() || self.entry_expiry.load(Ordering::Relaxed)
    }

    fn evict(&self, key: &str, is_backup: bool) -> Option<RecordValue> {
        let record = self.engine.remove(key)?;
        bump(&self.counters.evictions);
        let value = record.value.clone();
        let mut events = self.events();
        events.push(|| PendingEvent::Evict(key.to_owned(), record, is_backup));
        events.deliver(&self.observer);
        Some(value)
    }

    fn evict_all(&self, is_backup: bool) -> u32 {
        self.evict_all_clean(is_backup)
    }

    fn should_evict(&self) -> bool {
        self.over_limit()
    }

    fn clear(&self, _is_backup: bool) -> u32 {
        let count = self.engine.len();
        self.engine.clear();
        self.observer.on_clear();
        u32::try_from(count).unwrap_or(u32::MAX)
    }

    fn reset(&self) {
        self.engine.clear();
        self.ds().reset();
        self.observer.on_reset();
    }

    fn destroy(&self) {
        self.engine.destroy();
        self.observer.on_destroy(false);
    }

    async fn soft_flush(&self) -> Result<u64, StoreError> {
        Ok(self.ds().soft_flush().await?)
    }

    fn storage(&self) -> &dyn StorageEngine {
        self.engine.as_ref()
    }

    fn map_data_store(&self) -> &dyn MapDataStore {
        self.ds()
    }

    fn random_samples(&self, k: usize) -> Vec<(String, Record)> {
        let expirable = self.is_expirable();
        let now = if expirable {
            self.clock.now_millis()
        } else {
            0
        };
        let mut out = Vec::with_capacity(k.min(self.engine.len()));
        self.engine.sample_with(k, &mut |key, record| {
            if !expirable || !self.reason(&record.metadata, now).is_expired() {
                out.push((key.to_owned(), record.clone()));
            }
        });
        out
    }

    fn maintain(&self) -> MaintenanceReport {
        let now = self.clock.now_millis();
        let mut events = self.events();
        let (scanned, expired) = if self.is_expirable() {
            let share = self.engine.len() / 10;
            self.sweep_expired(share.max(100), now, false, &mut events)
        } else {
            (0, 0)
        };
        let evicted = self.evict_to_bounds(None, now, false, &mut events);
        events.deliver(&self.observer);
        MaintenanceReport {
            scanned,
            expired,
            evicted,
        }
    }

    fn stats(&self) -> StoreStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StoreStats {
            hits: get(&c.hits),
            misses: get(&c.misses),
            puts: get(&c.puts),
            updates: get(&c.updates),
            removes: get(&c.removes),
            evictions: get(&c.evictions),
            expirations: get(&c.expirations),
            entry_count: self.engine.len() as u64,
            total_cost: self.engine.estimated_cost(),
            observer_panics: self.observer.panics(),
        }
    }

    fn config(&self) -> StorageConfig {
        self.config
    }

    fn add_observer(&self, observer: Arc<dyn MutationObserver>) {
        self.observer.add(observer);
    }

    fn remove_observer(&self, observer: &Arc<dyn MutationObserver>) -> bool {
        self.observer.remove(observer)
    }

    fn now(&self) -> i64 {
        self.clock.now_millis()
    }
}
