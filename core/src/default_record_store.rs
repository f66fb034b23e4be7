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
//! * **Expiry.** Reads check expiry under the lock and remove what they find
//!   expired (lazy); [`RecordStore::evict_expired`] / [`RecordStore::maintain`]
//!   sweep a bounded number of entries per call from a cursor that resumes
//!   where the previous call stopped, so every entry is looked at over
//!   successive calls without any call costing more than its budget.
//! * **Eviction.** After a write, while a bound is exceeded, the store samples
//!   `eviction_sample_count` entries and removes one per round: an expired
//!   sample first, else the policy's choice among samples that are not dirty
//!   and not the key just written (that key only if nothing else can go).
//!   The key just written is left out of the first half of the rounds, and
//!   RANDOM picks uniformly among the eligible samples.
//!   The bound holds when the write returns, with two documented slacks:
//!   records that cannot be evicted (dirty ones, when a round samples only
//!   those) and concurrent writers (each may leave one extra entry until its
//!   own eviction runs). A round is bounded; at most
//!   [`MAX_EVICTION_ROUNDS`] run per write.

use crate::clock::{Clock, SystemClock};
use crate::cursor::{CursorError, IterationCursor};
use crate::engine::{FetchResult, StorageEngine};
use crate::expiry::{expiration_time, expiry_reason, ExpiryPolicy, ExpiryReason};
use crate::map_data_store::MapDataStore;
use crate::observer::{CompositeMutationObserver, MutationObserver};
use crate::record::{Record, RecordMetadata, RecordValue};
use crate::record_store::{
    entry_cost, CallerProvenance, EvictionPolicy, MaintenanceReport, ReadOutcome, RecordStore,
    StorageConfig, StoreError, StoreStats,
};
use async_trait::async_trait;
use parking_lot::Mutex;
use rand::Rng;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Most eviction rounds one write runs before giving up on the bound (only
/// reached when the samples keep finding nothing evictable).
pub const MAX_EVICTION_ROUNDS: usize = 64;

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

/// A change to report to the observers once the operation is done.
enum Event {
    Put(String, Record, Option<RecordValue>, bool),
    Update(String, Record, RecordValue, bool),
    Remove(String, Record, bool),
    Evict(String, Record, bool),
    Expire(String, Record, ExpiryReason, bool),
    Load(String, Record, bool),
}

/// Events of one operation; collects nothing when no observer listens.
struct Events {
    enabled: bool,
    list: Vec<Event>,
}

impl Events {
    fn push(&mut self, make: impl FnOnce() -> Event) {
        if self.enabled {
            self.list.push(make());
        }
    }
}

/// An eviction candidate seen in a sample.
struct Candidate {
    key: String,
    meta: RecordMetadata,
    expired: ExpiryReason,
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
        Self {
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
        }
    }

    /// A store on its own (map `"default"`, partition 0): a
    /// [`crate::HashMapStorage`], no persistence, no observers yet, reading
    /// `clock` (the system clock if `None`). What the C, Python and Node
    /// bindings build for a `Storage` handle.
    #[must_use]
    pub fn standalone(config: StorageConfig, clock: Option<Arc<dyn Clock>>) -> Self {
        let store = Self::new(
            "default".to_owned(),
            0,
            Box::new(crate::engines::HashMapStorage::new()),
            Arc::new(crate::datastores::NullDataStore),
            Arc::new(CompositeMutationObserver::default()),
            config,
        );
        match clock {
            Some(clock) => store.with_clock(clock),
            None => store,
        }
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

    fn events(&self) -> Events {
        Events {
            enabled: !self.observer.is_empty(),
            list: Vec::new(),
        }
    }

    fn reason(&self, meta: &RecordMetadata, now: i64) -> ExpiryReason {
        expiry_reason(meta, self.config.default_expiry(), now)
    }

    /// A record is dirty only against a data store that keeps data.
    fn is_dirty(&self, meta: &RecordMetadata) -> bool {
        !self.data_store.is_null() && meta.is_dirty()
    }

    fn over_limit(&self) -> bool {
        let c = &self.config;
        (c.max_entry_count > 0 && self.engine.len() as u64 > c.max_entry_count)
            || (c.max_total_cost > 0 && self.engine.estimated_cost() > c.max_total_cost)
    }

    fn dispatch(&self, events: Events) {
        let o = &self.observer;
        for event in events.list {
            match event {
                Event::Put(k, r, old, b) => o.on_put(&k, &r, old.as_ref(), b),
                Event::Update(k, r, old, b) => {
                    o.on_update(&k, &r, &old, &r.value, b);
                }
                Event::Remove(k, r, b) => o.on_remove(&k, &r, b),
                Event::Evict(k, r, b) => o.on_evict(&k, &r, b),
                Event::Expire(k, r, why, b) => o.on_expire(&k, &r, why, b),
                Event::Load(k, r, b) => o.on_load(&k, &r, b),
            }
        }
    }

    /// Removes `key` if it is (still) expired at `now`.
    fn remove_if_expired(&self, key: &str, now: i64, backup: bool, events: &mut Events) -> bool {
        let mut why = ExpiryReason::NotExpired;
        let removed = self.engine.remove_if(key, &mut |r| {
            why = self.reason(&r.metadata, now);
            why.is_expired()
        });
        match removed {
            Some(record) => {
                bump(&self.counters.expirations);
                events.push(|| Event::Expire(key.to_owned(), record, why, backup));
                true
            }
            None => false,
        }
    }

    /// Refuses a write that cannot fit: an entry larger than the cost bound,
    /// or (with eviction off) a write past a bound. Expired records are
    /// cleared out of the way first.
    fn admit(&self, key: &str, cost: u64, now: i64) -> Result<(), StoreError> {
        let c = &self.config;
        if c.max_total_cost > 0 && cost > c.max_total_cost {
            return Err(StoreError::EntryTooLarge {
                cost,
                max: c.max_total_cost,
            });
        }
        if c.eviction_policy != EvictionPolicy::None || !c.is_bounded() {
            return Ok(());
        }
        let check = || {
            let mut old_cost = None;
            self.engine
                .get_with(key, &mut |r| old_cost = Some(r.metadata.cost));
            if c.max_entry_count > 0
                && old_cost.is_none()
                && self.engine.len() as u64 >= c.max_entry_count
            {
                return Err(StoreError::CapacityExceeded {
                    bound: "entry count",
                    limit: c.max_entry_count,
                });
            }
            let total = self
                .engine
                .estimated_cost()
                .saturating_sub(old_cost.unwrap_or(0));
            if c.max_total_cost > 0 && total.saturating_add(cost) > c.max_total_cost {
                return Err(StoreError::CapacityExceeded {
                    bound: "total cost",
                    limit: c.max_total_cost,
                });
            }
            Ok(())
        };
        match check() {
            Err(_) if self.is_expirable() => {
                // Expired records do not count against the bound.
                let mut events = self.events();
                let mut rounds = 0;
                while check().is_err() && rounds < MAX_EVICTION_ROUNDS {
                    rounds += 1;
                    if self.evict_one(None, now, false, true, &mut events) == 0
                        && self.sweep_expired(100, now, false, &mut events).1 == 0
                    {
                        break;
                    }
                }
                self.dispatch(events);
                check()
            }
            result => result,
        }
    }

    /// Picks a victim from one sample and removes it; returns 1 if a record
    /// went. With `expired_only`, only an expired sample is taken.
    fn evict_one(
        &self,
        just_written: Option<&str>,
        now: i64,
        backup: bool,
        expired_only: bool,
        events: &mut Events,
    ) -> u64 {
        self.evict_one_round(just_written, true, now, backup, expired_only, events)
    }

    /// One eviction round. With `spare_written`, the key just written is
    /// never taken (the caller resamples); without, it is taken only when the
    /// sample offers nothing else.
    fn evict_one_round(
        &self,
        just_written: Option<&str>,
        spare_written: bool,
        now: i64,
        backup: bool,
        expired_only: bool,
        events: &mut Events,
    ) -> u64 {
        let policy = self.config.eviction_policy;
        let expirable = self.is_expirable();
        let mut best: Option<Candidate> = None;
        let mut fallback: Option<Candidate> = None;
        let mut eligible = 0u32;
        let mut rng = rand::rng();
        self.engine
            .sample_with(self.config.eviction_sample_count, &mut |key, record| {
                let meta = &record.metadata;
                let expired = if expirable {
                    self.reason(meta, now)
                } else {
                    ExpiryReason::NotExpired
                };
                let candidate = || Candidate {
                    key: key.to_owned(),
                    meta: *meta,
                    expired,
                };
                if expired.is_expired() {
                    if best.as_ref().is_none_or(|b| !b.expired.is_expired()) {
                        best = Some(candidate());
                    }
                    return;
                }
                if expired_only || self.is_dirty(meta) {
                    return;
                }
                if just_written == Some(key) {
                    if !spare_written {
                        fallback = Some(candidate());
                    }
                    return;
                }
                eligible += 1;
                let better = match &best {
                    None => true,
                    Some(b) if b.expired.is_expired() => false,
                    Some(b) => match policy {
                        EvictionPolicy::Lru => recency(meta) < recency(&b.meta),
                        EvictionPolicy::Lfu => {
                            (meta.hits, meta.creation_time) < (b.meta.hits, b.meta.creation_time)
                        }
                        // Reservoir choice: each eligible sample is kept
                        // with probability 1/n, so the victim is uniform
                        // among them (samples arrive in table order, and
                        // taking the first would favour recent writes).
                        EvictionPolicy::Random => rng.random_range(0..eligible) == 0,
                        EvictionPolicy::None => false,
                    },
                };
                if better {
                    best = Some(candidate());
                }
            });
        let Some(victim) = best.or(fallback) else {
            return 0;
        };
        // Remove only if nobody wrote or read it since it was sampled.
        let seen = victim.meta;
        let removed = self.engine.remove_if(&victim.key, &mut |r| {
            let m = &r.metadata;
            m.version == seen.version
                && m.last_update_time == seen.last_update_time
                && m.hits == seen.hits
        });
        let Some(record) = removed else {
            return 0;
        };
        if victim.expired.is_expired() {
            bump(&self.counters.expirations);
            events.push(|| Event::Expire(victim.key, record, victim.expired, backup));
        } else {
            bump(&self.counters.evictions);
            events.push(|| Event::Evict(victim.key, record, backup));
        }
        1
    }

    /// Evicts until within bounds or out of rounds; returns how many went.
    fn evict_to_bounds(
        &self,
        just_written: Option<&str>,
        now: i64,
        backup: bool,
        events: &mut Events,
    ) -> u64 {
        if self.config.eviction_policy == EvictionPolicy::None {
            return 0;
        }
        let mut evicted = 0;
        let mut rounds = 0;
        while rounds < MAX_EVICTION_ROUNDS && self.over_limit() {
            rounds += 1;
            // The key just written may go only after half the rounds found
            // nothing else: then nothing else is evictable in all likelihood
            // (every other record dirty, or it is the only record).
            let spare = rounds <= MAX_EVICTION_ROUNDS / 2;
            evicted += self.evict_one_round(just_written, spare, now, backup, false, events);
        }
        evicted
    }

    /// Scans at most `budget` entries from the sweep cursor and removes the
    /// expired ones; returns (scanned, removed).
    fn sweep_expired(
        &self,
        budget: usize,
        now: i64,
        backup: bool,
        events: &mut Events,
    ) -> (u64, u64) {
        let mut expired = Vec::new();
        let mut scanned = 0usize;
        {
            let mut cursor = self.sweep.lock();
            while scanned < budget {
                let page = (budget - scanned).min(PAGE);
                let next = self.engine.fetch_with(&cursor, page, &mut |key, record| {
                    scanned += 1;
                    if self.reason(&record.metadata, now).is_expired() {
                        expired.push(key.to_owned());
                    }
                    true
                });
                match next {
                    Ok(next) if !next.is_finished() => *cursor = next,
                    // The end (or a cursor the engine no longer accepts):
                    // start over on the next call.
                    _ => {
                        *cursor = IterationCursor::start();
                        break;
                    }
                }
            }
        }
        let mut removed = 0;
        for key in expired {
            if self.remove_if_expired(&key, now, backup, events) {
                removed += 1;
            }
        }
        (scanned as u64, removed)
    }

    /// Loads a miss from a non-null data store and keeps it.
    async fn load_missing(
        &self,
        key: &str,
        events: &mut Events,
    ) -> Result<Option<Record>, StoreError> {
        if self.data_store.is_null() || !self.data_store.is_loadable(key) {
            return Ok(None);
        }
        let Some(value) = self.data_store.load(&self.name, key).await? else {
            return Ok(None);
        };
        let now = self.clock.now_millis();
        let mut meta = RecordMetadata::new(now, entry_cost(key, &value));
        meta.on_store(now);
        let loaded = Record::new(value, meta);
        let mut resident = None;
        self.engine.upsert(key, &mut |current| match current {
            // A concurrent writer got there first: its record wins.
            Some(r) => {
                resident = Some(r.clone());
                None
            }
            None => Some(loaded.clone()),
        });
        if let Some(r) = resident {
            return Ok(Some(r));
        }
        events.push(|| Event::Load(key.to_owned(), loaded.clone(), false));
        self.evict_to_bounds(Some(key), now, false, events);
        Ok(Some(loaded))
    }

    /// Visits live entries of one page (`visit` may refuse one to end the
    /// page there), removing the expired ones it met afterwards.
    fn fetch_live(
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
            self.dispatch(events);
        }
        Ok(next)
    }
}

/// When a record was last used: its last touched read or write.
fn recency(meta: &RecordMetadata) -> i64 {
    meta.last_access_time.max(meta.last_update_time)
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
        let mut events = self.events();
        if expired {
            self.remove_if_expired(key, now, false, &mut events);
        }
        if found.is_some() {
            bump(&self.counters.hits);
            self.dispatch(events);
            return Ok(found);
        }
        bump(&self.counters.misses);
        let loaded = self.load_missing(key, &mut events).await;
        self.dispatch(events);
        loaded
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
                self.dispatch(events);
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
        self.fetch_live(cursor, size, visit)
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
        let now = self.clock.now_millis();
        let cost = entry_cost(key, &value);
        self.admit(key, cost, now)?;
        let write_through = provenance.writes_through() && !self.data_store.is_null();
        if write_through {
            let mut meta = RecordMetadata::new(now, cost);
            meta.ttl_millis = expiry.ttl_millis;
            meta.max_idle_millis = expiry.max_idle_millis;
            let expires = expiration_time(&meta, self.config.default_expiry());
            self.data_store
                .add(&self.name, key, &value, expires, now)
                .await?;
        }
        if expiry.is_set() {
            self.entry_expiry.store(true, Ordering::Relaxed);
        }
        let expirable = self.is_expirable();
        let mut events = self.events();
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
            if write_through {
                meta.on_store(now);
            } else {
                // This version has not reached the data store, even if an
                // older one did in the same millisecond.
                meta.last_stored_time = 0;
            }
            let record = Record::new(value.take()?, meta);
            if events.enabled {
                written = Some(record.clone());
            }
            Some(record)
        });
        let old_live = match old {
            Some(o) if expirable && self.reason(&o.metadata, now).is_expired() => {
                bump(&self.counters.expirations);
                let why = self.reason(&o.metadata, now);
                events.push(|| Event::Expire(key.to_owned(), o, why, false));
                None
            }
            other => other,
        };
        match &old_live {
            Some(o) => {
                bump(&self.counters.updates);
                if let Some(r) = written {
                    let old_value = o.value.clone();
                    events.push(|| Event::Update(key.to_owned(), r, old_value, false));
                }
            }
            None => {
                bump(&self.counters.puts);
                if let Some(r) = written {
                    events.push(|| Event::Put(key.to_owned(), r, None, false));
                }
            }
        }
        self.evict_to_bounds(Some(key), now, false, &mut events);
        self.dispatch(events);
        Ok(old_live.map(|r| r.value))
    }

    async fn remove(
        &self,
        key: &str,
        _provenance: CallerProvenance,
    ) -> Result<Option<RecordValue>, StoreError> {
        let now = self.clock.now_millis();
        if !self.data_store.is_null() {
            self.data_store.remove(&self.name, key, now).await?;
        }
        let mut events = self.events();
        let result = match self.engine.remove(key) {
            Some(r) if self.reason(&r.metadata, now).is_expired() => {
                bump(&self.counters.expirations);
                let why = self.reason(&r.metadata, now);
                events.push(|| Event::Expire(key.to_owned(), r, why, false));
                None
            }
            Some(r) => {
                bump(&self.counters.removes);
                let value = r.value.clone();
                events.push(|| Event::Remove(key.to_owned(), r, false));
                Some(value)
            }
            None => None,
        };
        self.dispatch(events);
        Ok(result)
    }

    async fn put_backup(
        &self,
        key: &str,
        mut record: Record,
        provenance: CallerProvenance,
    ) -> Result<(), StoreError> {
        let now = self.clock.now_millis();
        if provenance.writes_through() && !self.data_store.is_null() {
            let expires = expiration_time(&record.metadata, self.config.default_expiry());
            self.data_store
                .add_backup(&self.name, key, &record.value, expires, now)
                .await?;
            record.metadata.on_store(now);
        } else {
            record.metadata.last_stored_time = 0;
        }
        if record.metadata.ttl_millis > 0 || record.metadata.max_idle_millis > 0 {
            self.entry_expiry.store(true, Ordering::Relaxed);
        }
        let mut events = self.events();
        let copy = events.enabled.then(|| record.clone());
        let old = self.engine.put(key, record);
        if old.is_some() {
            bump(&self.counters.updates);
        } else {
            bump(&self.counters.puts);
        }
        if let Some(r) = copy {
            events.push(|| Event::Put(key.to_owned(), r, old.map(|o| o.value), true));
        }
        self.evict_to_bounds(Some(key), now, true, &mut events);
        self.dispatch(events);
        Ok(())
    }

    async fn remove_backup(
        &self,
        key: &str,
        _provenance: CallerProvenance,
    ) -> Result<(), StoreError> {
        let now = self.clock.now_millis();
        if !self.data_store.is_null() {
            self.data_store.remove_backup(&self.name, key, now).await?;
        }
        let mut events = self.events();
        if let Some(r) = self.engine.remove(key) {
            bump(&self.counters.removes);
            events.push(|| Event::Remove(key.to_owned(), r, true));
        }
        self.dispatch(events);
        Ok(())
    }

    async fn get_all(&self, keys: &[String]) -> Result<Vec<(String, Record)>, StoreError> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some(record) = self.get(key, false).await? {
                out.push((key.clone(), record));
            }
        }
        Ok(out)
    }

    fn fetch_keys(
        &self,
        cursor: &IterationCursor,
        size: usize,
    ) -> Result<FetchResult<String>, CursorError> {
        let mut items = Vec::with_capacity(size.min(4096));
        let next_cursor = self.fetch_live(cursor, size, &mut |key, _| {
            items.push(key.to_owned());
            true
        })?;
        Ok(FetchResult { items, next_cursor })
    }

    fn fetch_entries(
        &self,
        cursor: &IterationCursor,
        size: usize,
    ) -> Result<FetchResult<(String, Record)>, CursorError> {
        let mut items = Vec::with_capacity(size.min(4096));
        let next_cursor = self.fetch_live(cursor, size, &mut |key, record| {
            items.push((key.to_owned(), record.clone()));
            true
        })?;
        Ok(FetchResult { items, next_cursor })
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
        self.dispatch(events);
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
        events.push(|| Event::Evict(key.to_owned(), record, is_backup));
        self.dispatch(events);
        Some(value)
    }

    fn evict_all(&self, is_backup: bool) -> u32 {
        let mut keys = Vec::new();
        let mut cursor = IterationCursor::start();
        while !cursor.is_finished() {
            match self.engine.fetch_with(&cursor, PAGE, &mut |key, record| {
                if !self.is_dirty(&record.metadata) {
                    keys.push(key.to_owned());
                }
                true
            }) {
                Ok(next) => cursor = next,
                Err(_) => break,
            }
        }
        let mut events = self.events();
        let mut count = 0u32;
        for key in keys {
            if let Some(record) = self
                .engine
                .remove_if(&key, &mut |r| !self.is_dirty(&r.metadata))
            {
                bump(&self.counters.evictions);
                count = count.saturating_add(1);
                events.push(|| Event::Evict(key, record, is_backup));
            }
        }
        self.dispatch(events);
        count
    }

    fn should_evict(&self) -> bool {
        self.over_limit()
    }

    fn init(&mut self) {}

    fn clear(&self, _is_backup: bool) -> u32 {
        let count = self.engine.len();
        self.engine.clear();
        self.observer.on_clear();
        u32::try_from(count).unwrap_or(u32::MAX)
    }

    fn reset(&self) {
        self.engine.clear();
        self.data_store.reset();
        self.observer.on_reset();
    }

    fn destroy(&self) {
        self.engine.destroy();
        self.observer.on_destroy(false);
    }

    async fn soft_flush(&self) -> Result<u64, StoreError> {
        Ok(self.data_store.soft_flush().await?)
    }

    fn storage(&self) -> &dyn StorageEngine {
        self.engine.as_ref()
    }

    fn map_data_store(&self) -> &dyn MapDataStore {
        self.data_store.as_ref()
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
        self.dispatch(events);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::datastores::NullDataStore;
    use crate::engines::HashMapStorage;
    use crate::map_data_store::{DataStoreError, DataStoreResult};
    use crate::observer::tests::CountingObserver;
    use crate::record::Timestamp;
    use pollster::block_on;
    use std::collections::{HashMap, HashSet};
    use std::sync::mpsc;
    use std::time::Duration;

    const T0: i64 = 1_700_000_000_000;

    fn v(n: i64) -> RecordValue {
        RecordValue::lww(n, Timestamp::new(n as u64, 0, "node"))
    }

    struct Fixture {
        store: Arc<DefaultRecordStore>,
        clock: ManualClock,
        counter: Arc<CountingObserver>,
    }

    fn fixture_with(config: StorageConfig, data_store: Arc<dyn MapDataStore>) -> Fixture {
        let clock = ManualClock::new(T0);
        let counter = Arc::new(CountingObserver::default());
        let store = DefaultRecordStore::new(
            "test-map".into(),
            42,
            Box::new(HashMapStorage::new()),
            data_store,
            Arc::new(CompositeMutationObserver::new(vec![counter.clone()])),
            config,
        )
        .with_clock(Arc::new(clock.clone()));
        Fixture {
            store: Arc::new(store),
            clock,
            counter,
        }
    }

    fn fixture(config: StorageConfig) -> Fixture {
        fixture_with(config, Arc::new(NullDataStore))
    }

    fn put(store: &DefaultRecordStore, key: &str, n: i64) -> Option<RecordValue> {
        block_on(store.put(key, v(n), ExpiryPolicy::NONE, CallerProvenance::Client)).unwrap()
    }

    fn get(store: &DefaultRecordStore, key: &str) -> Option<Record> {
        block_on(store.get(key, false)).unwrap()
    }

    fn ttl(ms: u64) -> StorageConfig {
        StorageConfig {
            default_ttl_millis: ms,
            ..StorageConfig::default()
        }
    }

    fn count(c: &AtomicU64) -> u64 {
        CountingObserver::get(c)
    }

    #[test]
    fn put_then_get_round_trip() {
        let f = fixture(StorageConfig::default());
        assert_eq!(put(&f.store, "k", 1), None);
        let r = get(&f.store, "k").unwrap();
        assert_eq!(r.value, v(1));
        assert_eq!(r.metadata.version, 1);
        assert_eq!(r.metadata.creation_time, T0);
        assert_eq!(r.metadata.cost, entry_cost("k", &v(1)));
    }

    #[test]
    fn put_fires_on_put_observer() {
        let f = fixture(StorageConfig::default());
        put(&f.store, "k", 1);
        assert_eq!((count(&f.counter.put), count(&f.counter.update)), (1, 0));
    }

    #[test]
    fn update_fires_on_update_observer() {
        let f = fixture(StorageConfig::default());
        put(&f.store, "k", 1);
        f.clock.advance(10);
        assert_eq!(put(&f.store, "k", 2), Some(v(1)));
        assert_eq!((count(&f.counter.put), count(&f.counter.update)), (1, 1));
        let m = get(&f.store, "k").unwrap().metadata;
        assert_eq!(m.version, 2, "an overwrite bumps the version");
        assert_eq!(m.creation_time, T0, "an overwrite keeps the creation time");
        assert_eq!(m.last_update_time, T0 + 10);
    }

    #[test]
    fn remove_fires_on_remove_observer() {
        let f = fixture(StorageConfig::default());
        put(&f.store, "k", 1);
        let removed = block_on(f.store.remove("k", CallerProvenance::Client)).unwrap();
        assert_eq!(removed, Some(v(1)));
        assert_eq!(count(&f.counter.remove), 1);
        assert_eq!(
            block_on(f.store.remove("k", CallerProvenance::Client)).unwrap(),
            None
        );
        assert_eq!(count(&f.counter.remove), 1);
        assert_eq!(f.store.stats().removes, 1);
    }

    #[test]
    fn has_expired_returns_ttl() {
        let f = fixture(ttl(1_000));
        put(&f.store, "k", 1);
        assert_eq!(
            f.store.has_expired("k", T0 + 2_000, false),
            ExpiryReason::Ttl
        );
    }

    #[test]
    fn has_expired_returns_max_idle() {
        let f = fixture(StorageConfig {
            default_max_idle_millis: 500,
            ..StorageConfig::default()
        });
        put(&f.store, "k", 1);
        assert_eq!(
            f.store.has_expired("k", T0 + 1_000, false),
            ExpiryReason::MaxIdle
        );
    }

    #[test]
    fn has_expired_returns_not_expired_for_fresh() {
        let f = fixture(ttl(1_000));
        put(&f.store, "k", 1);
        assert_eq!(
            f.store.has_expired("k", T0 + 10, false),
            ExpiryReason::NotExpired
        );
    }

    #[test]
    fn has_expired_returns_not_expired_for_missing_key() {
        let f = fixture(ttl(1_000));
        assert_eq!(
            f.store.has_expired("nope", T0 + 5_000, false),
            ExpiryReason::NotExpired
        );
    }

    #[test]
    fn size_and_owned_entry_cost_reflect_records() {
        let f = fixture(StorageConfig::default());
        put(&f.store, "a", 1);
        put(&f.store, "bb", 2);
        assert_eq!(f.store.size(), 2);
        let expected = entry_cost("a", &v(1)) + entry_cost("bb", &v(2));
        assert_eq!(f.store.owned_entry_cost(), expected);
        block_on(f.store.remove("a", CallerProvenance::Client)).unwrap();
        assert_eq!(f.store.owned_entry_cost(), entry_cost("bb", &v(2)));
    }

    #[test]
    fn clear_fires_on_clear_and_empties_store() {
        let f = fixture(StorageConfig::default());
        put(&f.store, "a", 1);
        put(&f.store, "b", 2);
        assert_eq!(f.store.clear(false), 2);
        assert!(f.store.is_empty());
        assert_eq!(f.store.owned_entry_cost(), 0);
        assert_eq!(count(&f.counter.clear), 1);
    }

    #[test]
    fn get_with_touch_updates_access_stats() {
        let f = fixture(StorageConfig::default());
        put(&f.store, "k", 1);
        f.clock.advance(50);
        let touched = block_on(f.store.get("k", true)).unwrap().unwrap();
        assert_eq!(touched.metadata.hits, 1);
        assert_eq!(touched.metadata.last_access_time, T0 + 50);
        let untouched = get(&f.store, "k").unwrap();
        assert_eq!(untouched.metadata.hits, 1, "a plain get does not count");
        assert_eq!(f.store.stats().hits, 2);
        assert!(get(&f.store, "other").is_none());
        assert_eq!(f.store.stats().misses, 1);
    }

    #[test]
    fn read_with_visits_in_place_and_counts_like_get() {
        let f = fixture(ttl(100));
        put(&f.store, "k", 1);
        f.clock.advance(10);
        let mut seen = None;
        let outcome = f.store.read_with("k", true, &mut |r| {
            seen = Some((r.value.clone(), r.metadata.hits));
            true
        });
        assert_eq!(outcome, ReadOutcome::Visited);
        assert_eq!(seen, Some((v(1), 1)), "the visitor sees the access counted");
        let m = get(&f.store, "k").unwrap().metadata;
        assert_eq!((m.hits, m.last_access_time), (1, T0 + 10), "touched");
        // Refused: no hit, no touch.
        f.clock.advance(10);
        assert_eq!(
            f.store.read_with("k", true, &mut |_| false),
            ReadOutcome::Refused
        );
        assert_eq!(get(&f.store, "k").unwrap().metadata.hits, 1);
        assert_eq!(
            f.store.read_with("nope", false, &mut |_| true),
            ReadOutcome::Missing
        );
        f.clock.advance(200);
        assert_eq!(
            f.store
                .read_with("k", false, &mut |_| panic!("expired record visited")),
            ReadOutcome::Expired
        );
        assert_eq!(f.store.size(), 0, "the expired record was removed");
        let s = f.store.stats();
        // Three hits: the accepted visit and the two `get`s that checked
        // metadata (the refused visit counts nothing).
        assert_eq!((s.hits, s.misses, s.expirations), (3, 2, 1));
        assert_eq!(count(&f.counter.expire), 1);
    }

    #[test]
    fn fetch_with_skips_and_removes_expired_and_resumes_at_a_refusal() {
        let f = fixture(StorageConfig::default());
        for i in 0..10 {
            let expiry = if i % 2 == 0 {
                ExpiryPolicy::ttl(5)
            } else {
                ExpiryPolicy::NONE
            };
            block_on(
                f.store
                    .put(&format!("k{i}"), v(i), expiry, CallerProvenance::Client),
            )
            .unwrap();
        }
        f.clock.advance(6);
        let mut cursor = IterationCursor::start();
        let mut seen = Vec::new();
        while !cursor.is_finished() {
            let mut budget = 2;
            cursor = f
                .store
                .fetch_with(&cursor, 4, &mut |key, _| {
                    if budget == 0 {
                        return false;
                    }
                    budget -= 1;
                    seen.push(key.to_owned());
                    true
                })
                .unwrap();
        }
        seen.sort();
        assert_eq!(seen, ["k1", "k3", "k5", "k7", "k9"]);
        assert_eq!(f.store.size(), 5);
    }

    #[test]
    fn exists_in_memory_reflects_state() {
        let f = fixture(ttl(100));
        assert!(!f.store.exists_in_memory("k"));
        put(&f.store, "k", 1);
        assert!(f.store.exists_in_memory("k"));
        f.clock.advance(101);
        assert!(!f.store.exists_in_memory("k"), "expired counts as absent");
    }

    #[test]
    fn name_and_partition_id() {
        let f = fixture(StorageConfig::default());
        assert_eq!(f.store.name(), "test-map");
        assert_eq!(f.store.partition_id(), 42);
    }

    #[test]
    fn is_expirable_reflects_config() {
        assert!(!fixture(StorageConfig::default()).store.is_expirable());
        assert!(fixture(ttl(1)).store.is_expirable());
        let idle = StorageConfig {
            default_max_idle_millis: 1,
            ..StorageConfig::default()
        };
        assert!(fixture(idle).store.is_expirable());
        // A record with its own policy makes the store expirable.
        let f = fixture(StorageConfig::default());
        block_on(
            f.store
                .put("k", v(1), ExpiryPolicy::ttl(5), CallerProvenance::Client),
        )
        .unwrap();
        assert!(f.store.is_expirable());
    }

    #[test]
    fn should_evict_reflects_config() {
        let f = fixture(StorageConfig {
            max_entry_count: 2,
            ..StorageConfig::default()
        });
        put(&f.store, "a", 1);
        put(&f.store, "b", 2);
        assert!(!f.store.should_evict());
        assert!(matches!(
            block_on(
                f.store
                    .put("c", v(3), ExpiryPolicy::NONE, CallerProvenance::Client)
            ),
            Err(StoreError::CapacityExceeded { limit: 2, .. })
        ));
        assert!(!fixture(StorageConfig::default()).store.should_evict());
    }

    #[test]
    fn evict_removes_and_fires_observer() {
        let f = fixture(StorageConfig::default());
        put(&f.store, "k", 1);
        assert_eq!(f.store.evict("k", false), Some(v(1)));
        assert!(get(&f.store, "k").is_none());
        assert_eq!(count(&f.counter.evict), 1);
        assert_eq!(f.store.evict("k", false), None);
        assert_eq!(f.store.stats().evictions, 1);
    }

    #[test]
    fn evict_all_removes_all_entries() {
        let f = fixture(StorageConfig::default());
        for (i, k) in ["a", "b", "c"].iter().enumerate() {
            put(&f.store, k, i as i64);
        }
        assert_eq!(f.store.evict_all(false), 3);
        assert!(f.store.is_empty());
        assert_eq!(count(&f.counter.evict), 3);
    }

    #[test]
    fn reset_fires_on_reset_and_clears() {
        let f = fixture(StorageConfig::default());
        put(&f.store, "a", 1);
        f.store.reset();
        assert!(f.store.is_empty());
        assert_eq!(count(&f.counter.reset), 1);
    }

    #[test]
    fn destroy_fires_on_destroy() {
        let f = fixture(StorageConfig::default());
        put(&f.store, "a", 1);
        f.store.destroy();
        assert!(f.store.is_empty());
        assert_eq!(count(&f.counter.destroy), 1);
    }

    #[test]
    fn default_record_store_is_object_safe() {
        let store: Box<dyn RecordStore> = Box::new(DefaultRecordStore::new(
            "m".into(),
            0,
            Box::new(HashMapStorage::new()),
            Arc::new(NullDataStore),
            Arc::new(CompositeMutationObserver::default()),
            StorageConfig::default(),
        ));
        assert!(store.is_empty());
    }

    #[test]
    fn get_all_returns_matching_entries() {
        let f = fixture(StorageConfig::default());
        put(&f.store, "a", 1);
        put(&f.store, "b", 2);
        let keys = ["a", "b", "missing"].map(String::from);
        let found = block_on(f.store.get_all(&keys)).unwrap();
        assert_eq!(found.len(), 2);
    }

    #[test]
    fn for_each_boxed_skips_expired() {
        let f = fixture(ttl(100));
        put(&f.store, "a", 1);
        put(&f.store, "b", 2);
        f.clock.advance(150);
        let mut visited = 0;
        f.store.for_each_boxed(&mut |_, _| visited += 1, false);
        assert_eq!(visited, 0);
    }

    #[test]
    fn expired_record_is_never_returned_by_any_read_path() {
        let f = fixture(StorageConfig::default());
        block_on(f.store.put(
            "short",
            v(1),
            ExpiryPolicy::ttl(100),
            CallerProvenance::Client,
        ))
        .unwrap();
        block_on(f.store.put(
            "idle",
            v(2),
            ExpiryPolicy::max_idle(100),
            CallerProvenance::Client,
        ))
        .unwrap();
        put(&f.store, "forever", 3);
        f.clock.advance(101);
        let live = |key: &str| key == "forever";
        assert!(block_on(f.store.get("short", false)).unwrap().is_none());
        assert!(block_on(f.store.get("idle", true)).unwrap().is_none());
        let keys = ["short", "idle", "forever"].map(String::from);
        let all = block_on(f.store.get_all(&keys)).unwrap();
        assert!(all.iter().all(|(k, _)| live(k)));
        // Put them back in memory (get removed them) and expire them again,
        // so the scans below meet expired records.
        block_on(f.store.put(
            "short",
            v(1),
            ExpiryPolicy::ttl(100),
            CallerProvenance::Client,
        ))
        .unwrap();
        block_on(f.store.put(
            "idle",
            v(2),
            ExpiryPolicy::max_idle(100),
            CallerProvenance::Client,
        ))
        .unwrap();
        f.clock.advance(101);
        assert_eq!(f.store.size(), 3, "expired but not yet removed");
        for _ in 0..20 {
            assert!(f.store.random_samples(3).iter().all(|(k, _)| live(k)));
        }
        let page = f
            .store
            .fetch_entries(&IterationCursor::start(), 10)
            .unwrap();
        assert_eq!(page.items.len(), 1);
        assert!(live(&page.items[0].0));
        assert_eq!(f.store.size(), 1, "the scan removed what it found expired");
        assert!(!f.store.exists_in_memory("short"));
        assert_eq!(count(&f.counter.expire), 4);
    }

    #[test]
    fn per_entry_expiry_wins_over_the_store_default() {
        let f = fixture(ttl(1_000));
        block_on(
            f.store
                .put("own", v(1), ExpiryPolicy::ttl(10), CallerProvenance::Client),
        )
        .unwrap();
        put(&f.store, "default", 2);
        f.clock.advance(11);
        assert!(get(&f.store, "own").is_none());
        assert!(get(&f.store, "default").is_some());
        f.clock.advance(990);
        assert!(get(&f.store, "default").is_none());
        assert_eq!(f.store.stats().expirations, 2);
    }

    #[test]
    fn touching_keeps_a_max_idle_record_alive() {
        let f = fixture(StorageConfig {
            default_max_idle_millis: 100,
            ..StorageConfig::default()
        });
        put(&f.store, "k", 1);
        for _ in 0..10 {
            f.clock.advance(90);
            assert!(block_on(f.store.get("k", true)).unwrap().is_some());
        }
        f.clock.advance(101);
        assert!(block_on(f.store.get("k", true)).unwrap().is_none());
    }

    #[test]
    fn a_put_over_an_expired_record_starts_a_new_one() {
        let f = fixture(ttl(100));
        put(&f.store, "k", 1);
        f.clock.advance(101);
        assert_eq!(
            put(&f.store, "k", 2),
            None,
            "the expired value is not returned"
        );
        let m = get(&f.store, "k").unwrap().metadata;
        assert_eq!((m.version, m.creation_time), (1, T0 + 101));
        assert_eq!(count(&f.counter.expire), 1);
        assert_eq!(count(&f.counter.put), 2);
    }

    #[test]
    fn maintain_removes_expired_records_in_bounded_steps() {
        let f = fixture(ttl(100));
        for i in 0..1_000 {
            put(&f.store, &format!("k{i}"), i);
        }
        f.clock.advance(101);
        let mut passes = 0;
        let mut removed = 0;
        while f.store.size() > 0 {
            let report = f.store.maintain();
            assert!(report.scanned <= 100, "a pass scanned {}", report.scanned);
            removed += report.expired;
            passes += 1;
            assert!(passes <= 20, "the sweep does not make progress");
        }
        assert_eq!(removed, 1_000);
        assert!(passes >= 10);
        assert_eq!(f.store.stats().expirations, 1_000);
        assert_eq!(count(&f.counter.expire), 1_000);
        // Nothing expirable: maintenance is free.
        assert_eq!(
            fixture(StorageConfig::default()).store.maintain(),
            MaintenanceReport::default()
        );
    }

    #[test]
    fn evict_expired_scans_a_share_and_resumes() {
        let f = fixture(ttl(100));
        for i in 0..2_000 {
            put(&f.store, &format!("k{i}"), i);
        }
        f.clock.advance(101);
        let now = f.clock.now_millis();
        // 10% of the current size per call: 200 of 2000, then 180 of 1800.
        assert_eq!(f.store.evict_expired(10, now, false), 200);
        assert_eq!(f.store.evict_expired(10, now, false), 180);
        assert_eq!(f.store.size(), 1_620);
    }

    #[test]
    fn stats_count_every_kind_of_change() {
        let f = fixture(StorageConfig {
            max_entry_count: 2,
            eviction_policy: EvictionPolicy::Lru,
            default_ttl_millis: 1_000,
            ..StorageConfig::default()
        });
        put(&f.store, "a", 1);
        put(&f.store, "a", 2);
        put(&f.store, "b", 3);
        f.clock.advance(1);
        put(&f.store, "c", 4); // evicts a or b
        block_on(f.store.remove("c", CallerProvenance::Client)).unwrap();
        f.clock.advance(2_000);
        f.store.maintain();
        let s = f.store.stats();
        assert_eq!((s.puts, s.updates, s.removes), (3, 1, 1));
        assert_eq!((s.evictions, s.expirations), (1, 1));
        assert_eq!((s.entry_count, s.total_cost), (0, 0));
    }

    #[test]
    fn backup_writes_report_the_backup_role() {
        #[derive(Default)]
        struct Roles(Mutex<Vec<(&'static str, bool)>>);
        impl MutationObserver for Roles {
            fn on_put(&self, _: &str, _: &Record, _: Option<&RecordValue>, b: bool) {
                self.0.lock().push(("put", b));
            }
            fn on_remove(&self, _: &str, _: &Record, b: bool) {
                self.0.lock().push(("remove", b));
            }
        }
        let f = fixture(StorageConfig::default());
        let roles = Arc::new(Roles::default());
        f.store.add_observer(roles.clone());
        let record = Record::new(v(1), RecordMetadata::new(T0, 10));
        block_on(
            f.store
                .put_backup("k", record.clone(), CallerProvenance::Backup),
        )
        .unwrap();
        assert_eq!(get(&f.store, "k"), Some(record));
        block_on(f.store.remove_backup("k", CallerProvenance::Backup)).unwrap();
        assert_eq!(*roles.0.lock(), [("put", true), ("remove", true)]);
    }

    /// Observers that use the store from inside their callbacks.
    struct Reentrant {
        store: Mutex<Option<Arc<DefaultRecordStore>>>,
        seen: AtomicU64,
    }

    impl MutationObserver for Reentrant {
        fn on_put(&self, key: &str, _: &Record, _: Option<&RecordValue>, _: bool) {
            let Some(store) = self.store.lock().clone() else {
                return;
            };
            if key.starts_with("echo-") {
                return;
            }
            // Read and write the same store (and the same key's shard).
            assert!(block_on(store.get(key, true)).unwrap().is_some());
            block_on(store.put(
                &format!("echo-{key}"),
                v(0),
                ExpiryPolicy::NONE,
                CallerProvenance::Client,
            ))
            .unwrap();
            let _ = store.fetch_keys(&IterationCursor::start(), 100).unwrap();
            let _ = store.random_samples(3);
            self.seen.fetch_add(1, Ordering::SeqCst);
        }
        // `let ... else` drops the guard at once; an `if let` would hold
        // this test's own mutex through the callback.
        fn on_evict(&self, key: &str, _: &Record, _: bool) {
            let Some(store) = self.store.lock().clone() else {
                return;
            };
            assert!(!store.exists_in_memory(key));
            let _ = store.stats();
        }
        fn on_clear(&self) {
            let Some(store) = self.store.lock().clone() else {
                return;
            };
            put(&store, "after-clear", 1);
        }
    }

    #[test]
    fn an_observer_may_call_back_into_the_store_without_deadlock() {
        let f = fixture(StorageConfig {
            max_entry_count: 50,
            eviction_policy: EvictionPolicy::Lru,
            ..StorageConfig::default()
        });
        let observer = Arc::new(Reentrant {
            store: Mutex::new(Some(f.store.clone())),
            seen: AtomicU64::new(0),
        });
        f.store.add_observer(observer.clone());
        let (done, finished) = mpsc::channel();
        let store = f.store.clone();
        let worker = std::thread::spawn(move || {
            for i in 0..200 {
                put(&store, &format!("k{i}"), i);
            }
            store.clear(false);
            done.send(()).unwrap();
        });
        // A deadlock would hang forever; fail instead after a generous wait.
        finished
            .recv_timeout(Duration::from_secs(60))
            .expect("store deadlocked while an observer called back into it");
        worker.join().unwrap();
        // 200 puts, plus the put the on_clear callback made.
        assert_eq!(observer.seen.load(Ordering::SeqCst), 201);
        assert!(f.store.exists_in_memory("after-clear"));
        *observer.store.lock() = None; // break the reference cycle
    }

    struct Panics;
    impl MutationObserver for Panics {
        fn on_put(&self, _: &str, _: &Record, _: Option<&RecordValue>, _: bool) {
            panic!("observer failure (expected by the test)");
        }
    }

    #[test]
    fn a_panicking_observer_neither_poisons_the_store_nor_stops_others() {
        let f = fixture(StorageConfig::default());
        f.store.add_observer(Arc::new(Panics));
        let after = Arc::new(CountingObserver::default());
        f.store.add_observer(after.clone());
        for i in 0..10 {
            put(&f.store, &format!("k{i}"), i);
        }
        assert_eq!(f.store.size(), 10);
        assert_eq!(get(&f.store, "k3").unwrap().value, v(3));
        assert_eq!(
            count(&f.counter.put),
            10,
            "observer before the panicking one"
        );
        assert_eq!(count(&after.put), 10, "observer after the panicking one");
        assert_eq!(f.store.stats().observer_panics, 10);
        // Every other operation still works.
        block_on(f.store.remove("k3", CallerProvenance::Client)).unwrap();
        assert_eq!(f.store.size(), 9);
    }

    #[test]
    fn concurrent_writers_keep_counts_consistent() {
        let f = fixture(StorageConfig::default());
        let threads: Vec<_> =
            (0..4)
                .map(|t| {
                    let store = f.store.clone();
                    std::thread::spawn(move || {
                        for i in 0..500 {
                            put(&store, &format!("k{}", i % 100), t * 1000 + i);
                            if i % 7 == 0 {
                                block_on(store.remove(
                                    &format!("k{}", (i + 3) % 100),
                                    CallerProvenance::Client,
                                ))
                                .unwrap();
                            }
                            let _ = block_on(store.get(&format!("k{}", i % 50), true)).unwrap();
                        }
                    })
                })
                .collect();
        for t in threads {
            t.join().unwrap();
        }
        let s = f.store.stats();
        assert_eq!(s.puts + s.updates, 2_000);
        assert_eq!(count(&f.counter.put), s.puts);
        assert_eq!(count(&f.counter.update), s.updates);
        assert_eq!(count(&f.counter.remove), s.removes);
        let mut live = HashSet::new();
        f.store.for_each_boxed(
            &mut |k, _| {
                live.insert(k.to_owned());
            },
            false,
        );
        assert_eq!(live.len() as u64, s.entry_count);
        assert_eq!(s.puts - s.removes, s.entry_count);
    }

    /// A data store that keeps values in memory, counts calls, and can be
    /// told to fail.
    #[derive(Default)]
    struct MemoryStore {
        data: Mutex<HashMap<String, RecordValue>>,
        adds: AtomicU64,
        removes: AtomicU64,
        fail: AtomicBool,
    }

    impl MemoryStore {
        fn check(&self) -> DataStoreResult<()> {
            if self.fail.load(Ordering::SeqCst) {
                Err(DataStoreError::new("disk on fire"))
            } else {
                Ok(())
            }
        }
    }

    #[async_trait]
    impl MapDataStore for MemoryStore {
        async fn add(
            &self,
            _: &str,
            key: &str,
            value: &RecordValue,
            _: i64,
            _: i64,
        ) -> DataStoreResult<()> {
            self.check()?;
            self.adds.fetch_add(1, Ordering::SeqCst);
            self.data.lock().insert(key.to_owned(), value.clone());
            Ok(())
        }
        async fn add_backup(
            &self,
            _: &str,
            _: &str,
            _: &RecordValue,
            _: i64,
            _: i64,
        ) -> DataStoreResult<()> {
            self.check()
        }
        async fn remove(&self, _: &str, key: &str, _: i64) -> DataStoreResult<()> {
            self.check()?;
            self.removes.fetch_add(1, Ordering::SeqCst);
            self.data.lock().remove(key);
            Ok(())
        }
        async fn remove_backup(&self, _: &str, _: &str, _: i64) -> DataStoreResult<()> {
            self.check()?;
            self.removes.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        async fn load(&self, _: &str, key: &str) -> DataStoreResult<Option<RecordValue>> {
            self.check()?;
            Ok(self.data.lock().get(key).cloned())
        }
        async fn load_all(
            &self,
            _: &str,
            keys: &[String],
        ) -> DataStoreResult<Vec<(String, RecordValue)>> {
            let data = self.data.lock();
            Ok(keys
                .iter()
                .filter_map(|k| data.get(k).map(|v| (k.clone(), v.clone())))
                .collect())
        }
        async fn remove_all(&self, _: &str, keys: &[String]) -> DataStoreResult<()> {
            let mut data = self.data.lock();
            for k in keys {
                data.remove(k);
            }
            Ok(())
        }
        fn is_loadable(&self, _: &str) -> bool {
            true
        }
        fn pending_operation_count(&self) -> u64 {
            0
        }
        async fn soft_flush(&self) -> DataStoreResult<u64> {
            Ok(0)
        }
        async fn hard_flush(&self) -> DataStoreResult<()> {
            Ok(())
        }
        async fn flush_key(
            &self,
            _: &str,
            _: &str,
            _: &RecordValue,
            _: bool,
        ) -> DataStoreResult<()> {
            Ok(())
        }
        fn reset(&self) {}
    }

    #[test]
    fn writes_reach_the_data_store_only_for_client_and_crdt_merge() {
        let ds = Arc::new(MemoryStore::default());
        let f = fixture_with(StorageConfig::default(), ds.clone());
        for (i, p) in [
            CallerProvenance::Client,
            CallerProvenance::Backup,
            CallerProvenance::Replication,
            CallerProvenance::Load,
            CallerProvenance::CrdtMerge,
        ]
        .into_iter()
        .enumerate()
        {
            block_on(f.store.put(&format!("k{i}"), v(1), ExpiryPolicy::NONE, p)).unwrap();
        }
        assert_eq!(ds.adds.load(Ordering::SeqCst), 2);
        let stored: HashSet<String> = ds.data.lock().keys().cloned().collect();
        assert_eq!(stored, HashSet::from(["k0".to_owned(), "k4".to_owned()]));
        // Written through: clean. Not written through: dirty.
        assert!(!get(&f.store, "k0").unwrap().metadata.is_dirty());
        assert!(get(&f.store, "k1").unwrap().metadata.is_dirty());
    }

    #[test]
    fn remove_always_reaches_the_data_store() {
        let ds = Arc::new(MemoryStore::default());
        let f = fixture_with(StorageConfig::default(), ds.clone());
        block_on(f.store.remove("absent", CallerProvenance::Backup)).unwrap();
        block_on(f.store.remove("absent", CallerProvenance::Replication)).unwrap();
        block_on(f.store.remove_backup("absent", CallerProvenance::Backup)).unwrap();
        assert_eq!(ds.removes.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn a_miss_loads_from_the_data_store_and_fires_on_load() {
        let ds = Arc::new(MemoryStore::default());
        ds.data.lock().insert("cold".into(), v(9));
        let f = fixture_with(StorageConfig::default(), ds);
        let r = get(&f.store, "cold").unwrap();
        assert_eq!(r.value, v(9));
        assert!(!r.metadata.is_dirty(), "a loaded record is already stored");
        assert_eq!(count(&f.counter.load), 1);
        assert!(f.store.exists_in_memory("cold"));
        assert!(get(&f.store, "still-missing").is_none());
        assert_eq!(f.store.stats().misses, 2);
    }

    #[test]
    fn a_failed_data_store_write_changes_nothing() {
        let ds = Arc::new(MemoryStore::default());
        let f = fixture_with(StorageConfig::default(), ds.clone());
        put(&f.store, "k", 1);
        let before = get(&f.store, "k").unwrap();
        ds.fail.store(true, Ordering::SeqCst);
        f.clock.advance(5);
        let err = block_on(
            f.store
                .put("k", v(2), ExpiryPolicy::NONE, CallerProvenance::Client),
        );
        assert!(matches!(err, Err(StoreError::DataStore(_))));
        let err = block_on(
            f.store
                .put("new", v(2), ExpiryPolicy::NONE, CallerProvenance::Client),
        );
        assert!(matches!(err, Err(StoreError::DataStore(_))));
        let err = block_on(f.store.remove("k", CallerProvenance::Client));
        assert!(matches!(err, Err(StoreError::DataStore(_))));
        assert_eq!(
            get(&f.store, "k"),
            Some(before),
            "value and metadata intact"
        );
        assert!(!f.store.exists_in_memory("new"));
        assert_eq!(count(&f.counter.put), 1);
        assert_eq!(count(&f.counter.update) + count(&f.counter.remove), 0);
    }

    #[test]
    fn an_oversized_entry_is_refused_and_changes_nothing() {
        let f = fixture(StorageConfig {
            max_total_cost: 30,
            eviction_policy: EvictionPolicy::Lru,
            ..StorageConfig::default()
        });
        let big = RecordValue::lww("x".repeat(100), Timestamp::new(1, 0, "n"));
        let err = block_on(
            f.store
                .put("k", big, ExpiryPolicy::NONE, CallerProvenance::Client),
        );
        assert!(matches!(
            err,
            Err(StoreError::EntryTooLarge { max: 30, .. })
        ));
        assert!(f.store.is_empty());
    }
}
