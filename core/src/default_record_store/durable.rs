//! The record store's side of the durable tier: what [`DefaultRecordStore`]
//! does when its data store keeps data (anything but `NullDataStore`).
//!
//! * **Write order** ([`WriteGate`]). Every write that reaches the data store
//!   holds the key's stripe of an async mutex from before the data-store
//!   call until memory has changed, and so does every load of a miss. Two
//!   writers of one key therefore reach the data store and memory in the
//!   same order (memory never ends with the older value while the data
//!   store holds the newer), and a load never puts into memory a value that
//!   a concurrent write or remove has already replaced on disk. Batches and
//!   warm-up lock their keys' stripes in ascending order, so they cannot
//!   deadlock with each other. No observer runs while a stripe is held, so
//!   an observer may write to the store. Stores of one
//!   [`crate::RecordStoreFactory`] share one gate; memory-only writes (and a
//!   store over `NullDataStore`) take no stripe.
//! * **Dirty and clean** (`stamp_write`, `is_dirty`). A record is clean
//!   once the data store holds its current version: a write that went
//!   through the data store stamps it clean, one that did not (a memory-only
//!   provenance) stamps it dirty, and while the data store reports the key
//!   not loadable (a write-behind queue holding it) it counts as dirty too.
//!   Only clean records may be evicted, so memory can hold a hot subset of
//!   what is on disk and a read of an evicted key loads it back.
//! * **Loading** (`load_missing`, `load_many`, `hydrate`). A miss is loaded
//!   under the key's stripe, kept only if nothing is resident, clean, with
//!   its TTL deadline kept exactly ([`StoredRecord::metadata_at_load`]); a
//!   record whose TTL has ended is not returned. A store with eviction
//!   `None` that has no room returns the loaded record without keeping it.
//! * **Batches** ([`BatchOp`]). Puts and removes of one map, possibly spread
//!   over several partition stores, admitted together, written to the data
//!   store as one atomic `write`, then applied to memory: all or nothing.
//! * **Warm-up** ([`WarmUpProgress`]). Opening a store loads nothing; an
//!   explicit warm-up pages through the map on disk and fills memory until
//!   the bounds are reached, reporting progress after each page.

use super::{bump, DefaultRecordStore, PAGE};
use crate::cursor::IterationCursor;
use crate::expiry::ExpiryPolicy;
use crate::map_data_store::{MapDataStore, Namespace, ScanRequest, StoredRecord, WriteOp};
use crate::observer::{EventBuffer, PendingEvent};
use crate::record::{Record, RecordMetadata, RecordValue};
use crate::record_store::{entry_cost, EvictionPolicy, RecordStore, StoreError};
use futures_util::lock::{Mutex, MutexGuard};
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::ops::{ControlFlow, Deref};
use std::sync::atomic::Ordering;

/// Stripes of a [`WriteGate`]: enough that unrelated keys rarely wait for
/// each other on two cores, few enough that a batch locking all of them
/// stays cheap (about 60 bytes each).
const STRIPES: usize = 256;

/// Keys per page of a warm-up.
const WARM_UP_PAGE: usize = 256;

/// Keys removed per batch by [`DefaultRecordStore::clear_all`].
const CLEAR_PAGE: usize = 1_000;

/// Per-key write order between the data store and memory (see the module
/// docs): a striped async mutex, so it can be held across a data-store call
/// without blocking an async runtime's thread.
pub(crate) struct WriteGate {
    stripes: Box<[Mutex<()>]>,
    hasher: foldhash::fast::RandomState,
}

impl std::fmt::Debug for WriteGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteGate")
            .field("stripes", &self.stripes.len())
            .finish()
    }
}

/// The stripes a call holds; released when dropped.
/// The guards are only ever dropped, which is what releases them.
#[allow(dead_code)]
pub(crate) enum Held<'g> {
    /// One key's stripe (no allocation).
    One(MutexGuard<'g, ()>),
    /// The stripes of several keys.
    Many(Vec<MutexGuard<'g, ()>>),
}

impl WriteGate {
    pub(crate) fn new() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    fn stripe(&self, map: &str, key: &str) -> usize {
        // Reduced modulo a power of two: the low bits of foldhash are mixed.
        (self.hasher.hash_one((map, key)) as usize) & (STRIPES - 1)
    }

    /// Holds the stripe of `key` in `map`.
    pub(crate) async fn lock(&self, map: &str, key: &str) -> Held<'_> {
        Held::One(self.stripes[self.stripe(map, key)].lock().await)
    }

    /// Holds the stripes of every key, taken in ascending order (so two
    /// callers never wait for each other in a cycle).
    pub(crate) async fn lock_all<'k>(
        &self,
        map: &str,
        keys: impl Iterator<Item = &'k str>,
    ) -> Held<'_> {
        let mut stripes: Vec<usize> = keys.map(|k| self.stripe(map, k)).collect();
        stripes.sort_unstable();
        stripes.dedup();
        let mut guards = Vec::with_capacity(stripes.len());
        for s in stripes {
            guards.push(self.stripes[s].lock().await);
        }
        Held::Many(guards)
    }
}

/// One operation of a batch ([`DefaultRecordStore::write_batch`],
/// [`crate::RecordStoreFactory::write_batch`]).
#[derive(Debug, Clone, PartialEq)]
pub enum BatchOp {
    /// Write `value` under `key` with its own `expiry` (0 limits: the store
    /// defaults), as a `Client` put.
    Put {
        /// The key.
        key: String,
        /// The value.
        value: RecordValue,
        /// The record's own expiry.
        expiry: ExpiryPolicy,
    },
    /// Remove `key` (a missing key is not an error).
    Remove {
        /// The key.
        key: String,
    },
}

impl BatchOp {
    /// The key the operation addresses.
    #[must_use]
    pub fn key(&self) -> &str {
        match self {
            BatchOp::Put { key, .. } | BatchOp::Remove { key } => key,
        }
    }
}

/// How far a warm-up has got; handed to its progress callback after every
/// page and returned at the end. Counts are of records read from the data
/// store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct WarmUpProgress {
    /// Keys read from the data store so far.
    pub scanned: u64,
    /// Records put into memory.
    pub loaded: u64,
    /// Records already in memory (left as they were: memory is newer or
    /// equal).
    pub resident: u64,
    /// Records whose time to live had ended (left out).
    pub expired: u64,
    /// Records left out because their store had reached a bound (warm-up
    /// never evicts).
    pub no_room: u64,
    /// Whether every key of the map has been read.
    pub done: bool,
}

/// Whether a load must fit in memory as it is, or may evict others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fill {
    /// A read missed: keep the record, evicting others by the policy; with
    /// eviction `None`, keep it only if it fits.
    Miss,
    /// Warm-up: keep the record only if it fits; never evict.
    Warm,
}

/// What `hydrate` did with a loaded record.
pub(super) enum Hydrated {
    /// Put into memory (clean).
    Loaded(Record),
    /// A live record was in memory already; it is returned and kept.
    Resident(Record),
    /// Not kept: no room. The record is returned for the read.
    NoRoom(Record),
    /// Its time to live had ended: not kept, not returned.
    Expired,
}

impl DefaultRecordStore {
    /// Whether a live record is under `key`: in memory, else (over a data
    /// store that keeps data) on disk, whose TTL has not ended. Reads the
    /// data store without keeping the record in memory; counts no hit or
    /// miss and touches nothing, so asking changes no statistic, no
    /// eviction order and no idle time. What `contains` means in every
    /// binding. O(1) in memory; one data-store read on a memory miss.
    ///
    /// # Errors
    /// [`StoreError::DataStore`] when the data store read fails.
    pub async fn contains_live(&self, key: &str) -> Result<bool, StoreError> {
        if self.exists_in_memory(key) {
            return Ok(true);
        }
        if self.ds().is_null() {
            return Ok(false);
        }
        let stored = self.ds().load(&self.name, Namespace::Primary, key).await?;
        Ok(stored.is_some_and(|r| !r.is_ttl_expired(self.clock.now_millis())))
    }

    /// The live value under `key` as [`Self::contains_live`] finds it
    /// (memory, else the data store, not kept in memory), without counting
    /// or touching. A binding whose `put` and `remove` return the value
    /// they replaced reads it with this first over a data store, since the
    /// record store's own return holds only what memory held. One data-store
    /// read on a memory miss.
    ///
    /// # Errors
    /// [`StoreError::DataStore`] when the data store read fails.
    pub async fn peek_value(&self, key: &str) -> Result<Option<RecordValue>, StoreError> {
        let expirable = self.is_expirable();
        let now = self.clock.now_millis();
        let mut resident = None;
        self.engine.get_with(key, &mut |r| {
            let live = !(expirable && self.reason(&r.metadata, now).is_expired());
            resident = Some(live.then(|| r.value.clone()));
        });
        // A record memory holds is the newest (expired there: gone).
        if let Some(found) = resident {
            return Ok(found);
        }
        if self.ds().is_null() {
            return Ok(None);
        }
        let stored = self.ds().load(&self.name, Namespace::Primary, key).await?;
        Ok(stored.filter(|r| !r.is_ttl_expired(now)).map(|r| r.value))
    }

    /// [`RecordStore::put`], returning the live value it replaced wherever
    /// it was: in memory, or (over a data store that keeps data) only on
    /// disk, read first as [`Self::peek_value`] reads it. What a binding
    /// whose `put` reports the replaced value returns over a data store
    /// (the record store's own `put` reports only what memory held). Costs
    /// one data-store read more than `put` when memory lacks the key; the
    /// read and the write are not one atomic step, so a concurrent writer
    /// of the same key between them can make the reported value stale.
    ///
    /// # Errors
    /// As [`RecordStore::put`], and [`StoreError::DataStore`] when the read
    /// fails (nothing is written then).
    pub async fn put_replacing(
        &self,
        key: &str,
        value: RecordValue,
        expiry: ExpiryPolicy,
        provenance: crate::record_store::CallerProvenance,
    ) -> Result<Option<RecordValue>, StoreError> {
        let on_disk = self.only_on_disk(key).await?;
        let old = self.put(key, value, expiry, provenance).await?;
        Ok(old.or(on_disk))
    }

    /// [`RecordStore::remove`], returning the live value it removed wherever
    /// it was, as [`Self::put_replacing`] does (same cost and caveat).
    ///
    /// # Errors
    /// As [`RecordStore::remove`], and [`StoreError::DataStore`] when the
    /// read fails (nothing is removed then).
    pub async fn remove_replacing(
        &self,
        key: &str,
        provenance: crate::record_store::CallerProvenance,
    ) -> Result<Option<RecordValue>, StoreError> {
        let on_disk = self.only_on_disk(key).await?;
        let old = self.remove(key, provenance).await?;
        Ok(old.or(on_disk))
    }

    /// The live value of `key` when only the data store holds it.
    async fn only_on_disk(&self, key: &str) -> Result<Option<RecordValue>, StoreError> {
        if self.ds().is_null() || self.exists_in_memory(key) {
            return Ok(None);
        }
        self.peek_value(key).await
    }

    /// Whether a write of `provenance` goes through to the data store, and
    /// if so `key`'s stripe, held (see [`Self::order`]).
    pub(super) async fn write_order(
        &self,
        key: &str,
        provenance: crate::record_store::CallerProvenance,
    ) -> (bool, Option<Held<'_>>) {
        if provenance.writes_through() && !self.ds().is_null() {
            (true, self.order(key).await)
        } else {
            (false, None)
        }
    }

    /// Holds `key`'s stripe if this store writes through to a data store.
    pub(super) async fn order(&self, key: &str) -> Option<Held<'_>> {
        match &self.gate {
            Some(gate) => Some(gate.lock(&self.name, key).await),
            None => None,
        }
    }

    /// A record is dirty only against a data store that keeps data: when
    /// its metadata says it was changed after it was last stored, or while
    /// the data store still has a write of its key queued and not confirmed
    /// by the backend (write-behind: the queue is the confirmation path, so
    /// a record becomes clean exactly when its write reached the backend).
    pub(super) fn is_dirty(&self, key: &str, meta: &RecordMetadata) -> bool {
        !self.ds().is_null()
            && (meta.is_dirty()
                || Namespace::ALL
                    .iter()
                    .any(|&ns| !self.ds().is_loadable(&self.name, ns, key)))
    }

    /// The one place a written version learns whether the data store holds
    /// it: clean when the write went through the data store (`stored`),
    /// dirty otherwise, even if an older version was stored in the same
    /// millisecond.
    pub(super) fn stamp_write(meta: &mut RecordMetadata, stored: bool, now: i64) {
        if stored {
            meta.on_store(now);
        } else {
            meta.on_unstored();
        }
    }

    /// Records in memory that may not be evicted because the data store
    /// does not hold their current version (0 over `NullDataStore`).
    /// O(entries): for tests and diagnostics.
    #[must_use]
    pub fn dirty_count(&self) -> u64 {
        if self.ds().is_null() {
            return 0;
        }
        let mut dirty = 0;
        let mut cursor = IterationCursor::start();
        while !cursor.is_finished() {
            let page = self.engine.fetch_with(&cursor, PAGE, &mut |key, record| {
                dirty += u64::from(self.is_dirty(key, &record.metadata));
                true
            });
            match page {
                Ok(next) => cursor = next,
                // The cursor comes from this engine: it cannot be foreign.
                Err(_) => break,
            }
        }
        dirty
    }

    /// What the data store keeps for `value` written at `now` with `expiry`.
    pub(super) fn stored_record(
        &self,
        value: RecordValue,
        expiry: ExpiryPolicy,
        cost: u64,
        now: i64,
    ) -> StoredRecord {
        let mut meta = RecordMetadata::new(now, cost);
        meta.ttl_millis = expiry.ttl_millis;
        meta.max_idle_millis = expiry.max_idle_millis;
        StoredRecord::from_metadata(value, &meta, self.config.default_expiry())
    }

    /// Whether one more entry of `cost` fits within the bounds as they are.
    fn has_room(&self, cost: u64) -> bool {
        let c = &self.config;
        (c.max_entry_count == 0 || (self.engine.len() as u64) < c.max_entry_count)
            && (c.max_total_cost == 0
                || self.engine.estimated_cost().saturating_add(cost) <= c.max_total_cost)
    }

    /// Puts a record loaded from the data store into memory, clean, unless a
    /// live record is resident (it is newer or equal: every write to the data
    /// store also changed memory under the same stripe), the record's TTL
    /// has ended, or `fill` finds no room. The caller holds `key`'s stripe.
    pub(super) fn hydrate(
        &self,
        key: &str,
        stored: StoredRecord,
        now: i64,
        fill: Fill,
        events: &mut EventBuffer,
    ) -> Hydrated {
        let cost = entry_cost(key, &stored.value);
        let meta = stored.metadata_at_load(now, cost);
        if self.reason(&meta, now).is_expired() {
            return Hydrated::Expired;
        }
        if meta.ttl_millis > 0 || meta.max_idle_millis > 0 {
            self.entry_expiry.store(true, Ordering::Relaxed);
        }
        let loaded = Record::new(stored.value, meta);
        let c = &self.config;
        // With eviction `None` the room check and the insert are one step
        // under the admission lock; a writer holding it means no room now
        // (the caller holds a stripe: waiting here could deadlock).
        let admitted = self.try_admission();
        let room = match fill {
            _ if admitted.is_err() => false,
            Fill::Warm => self.has_room(cost),
            Fill::Miss if c.eviction_policy == EvictionPolicy::None => self.has_room(cost),
            Fill::Miss => c.max_total_cost == 0 || cost <= c.max_total_cost,
        };
        let mut resident = None;
        let mut expired_resident = None;
        self.engine.upsert(key, &mut |current| {
            match current {
                Some(r) if !self.reason(&r.metadata, now).is_expired() => {
                    resident = Some(r.clone());
                    return None;
                }
                Some(r) => expired_resident = Some(r.clone()),
                None => {}
            }
            room.then(|| loaded.clone())
        });
        drop(admitted);
        if let Some(r) = resident {
            return Hydrated::Resident(r);
        }
        if let Some(old) = expired_resident {
            // Replaced (or, without room, still there: removed below).
            if !room {
                self.remove_if_expired(key, now, false, events);
            } else {
                bump(&self.counters.expirations);
                let why = self.reason(&old.metadata, now);
                events.push(|| PendingEvent::Expire(key.to_owned(), old, why, false));
            }
        }
        if !room {
            return Hydrated::NoRoom(loaded);
        }
        events.push(|| PendingEvent::Load(key.to_owned(), loaded.clone(), false));
        Hydrated::Loaded(loaded)
    }

    /// Loads a miss from a data store that keeps data, under the key's
    /// stripe, and keeps it (see `hydrate`).
    pub(super) async fn load_missing(
        &self,
        key: &str,
        events: &mut EventBuffer,
    ) -> Result<Option<Record>, StoreError> {
        // A write-behind store serves a queued key from its queue, so a
        // miss always asks the data store (never a stale backend copy).
        if self.ds().is_null() {
            return Ok(None);
        }
        let order = self.order(key).await;
        let now = self.clock.now_millis();
        // A writer that stored the key meanwhile left it resident, and
        // `hydrate` keeps (and returns) the resident record.
        let Some(stored) = self.ds().load(&self.name, Namespace::Primary, key).await? else {
            return Ok(None);
        };
        let hydrated = self.hydrate(key, stored, now, Fill::Miss, events);
        drop(order);
        Ok(match hydrated {
            Hydrated::Loaded(r) => {
                self.evict_to_bounds(Some(key), now, false, events);
                Some(r)
            }
            Hydrated::Resident(r) | Hydrated::NoRoom(r) => Some(r),
            Hydrated::Expired => None,
        })
    }

    /// Loads several misses with one data-store read (`load_all`) under
    /// their stripes; returns what was found, by key.
    pub(super) async fn load_many(
        &self,
        keys: &[&str],
        events: &mut EventBuffer,
    ) -> Result<HashMap<String, Record>, StoreError> {
        let mut found = HashMap::new();
        if self.ds().is_null() || keys.is_empty() {
            return Ok(found);
        }
        let order = match &self.gate {
            Some(gate) => Some(gate.lock_all(&self.name, keys.iter().copied()).await),
            None => None,
        };
        let now = self.clock.now_millis();
        let missing: Vec<String> = keys.iter().map(|&k| k.to_owned()).collect();
        let stored = self
            .ds()
            .load_all(&self.name, Namespace::Primary, &missing)
            .await?;
        let mut loaded_any = false;
        for (key, record) in stored {
            match self.hydrate(&key, record, now, Fill::Miss, events) {
                Hydrated::Loaded(r) => {
                    loaded_any = true;
                    found.insert(key, r);
                }
                Hydrated::Resident(r) | Hydrated::NoRoom(r) => {
                    found.insert(key, r);
                }
                Hydrated::Expired => {}
            }
        }
        drop(order);
        if loaded_any {
            self.evict_to_bounds(None, now, false, events);
        }
        Ok(found)
    }

    /// Applies `ops` (one map: this store's) as one batch: admitted
    /// together, one atomic data-store `write`, then memory. On error
    /// nothing changed, in memory or in the data store. A key named twice
    /// takes its last operation. Fires the events a `put` / `remove` would.
    ///
    /// # Errors
    /// [`StoreError::DataStore`], [`StoreError::CapacityExceeded`] or
    /// [`StoreError::EntryTooLarge`]; nothing changes then.
    pub async fn write_batch(&self, ops: Vec<BatchOp>) -> Result<(), StoreError> {
        write_batch(
            self.ds(),
            self.gate.as_deref(),
            &self.name,
            ops,
            |_| self,
            |_| Some(self),
        )
        .await
    }

    /// Removes every record of this store's map, from the data store and
    /// from memory (what a user's "clear" means once the data store keeps
    /// data; [`RecordStore::clear`] empties memory only). Pages through the
    /// map's primary keys in the data store, 1,000 at a time, and
    /// removes each page as one [`Self::write_batch`] (so each page is
    /// atomic, the whole is not: after a failure the pages before it are
    /// gone, the rest stays); then empties memory of what only it held.
    /// Fires `on_remove` for each record removed from memory by a page, and
    /// `on_clear` at the end. Cost O(keys on disk). Over a data store that
    /// keeps nothing it is [`RecordStore::clear`].
    ///
    /// Returns how many keys were removed: those on disk (records whose TTL
    /// had ended but that were not yet deleted included) plus those only in
    /// memory.
    ///
    /// # Errors
    /// [`StoreError::DataStore`] when a scan or a batch fails.
    pub async fn clear_all(&self) -> Result<u64, StoreError> {
        let mut removed = 0u64;
        if !self.ds().is_null() {
            loop {
                let request = ScanRequest::keys(&self.name, Namespace::Primary, CLEAR_PAGE);
                let page = self.ds().scan(&request).await?;
                if page.entries.is_empty() {
                    break;
                }
                removed += page.entries.len() as u64;
                let ops = page
                    .entries
                    .into_iter()
                    .map(|e| BatchOp::Remove { key: e.key })
                    .collect();
                self.write_batch(ops).await?;
            }
        }
        Ok(removed + u64::from(self.clear(false)))
    }

    /// Fills memory from the data store: pages through this store's map (in
    /// key order, [`WarmUpProgress`] to `progress` after each page, which may
    /// stop it by returning `Break`) and keeps every live record that fits
    /// within the bounds (warm-up never evicts). Resident records win.
    /// Fires `on_load` for each record kept. Cost O(records read); opening
    /// a store does not do this.
    ///
    /// # Errors
    /// [`StoreError::DataStore`] when a read fails; what was loaded so far
    /// stays.
    pub async fn warm_up(
        &self,
        progress: &mut dyn FnMut(&WarmUpProgress) -> ControlFlow<()>,
    ) -> Result<WarmUpProgress, StoreError> {
        warm_up(
            self.ds(),
            self.gate.as_deref(),
            &self.name,
            |_| self,
            progress,
        )
        .await
    }
}

/// Event buffers of the stores one batch or warm-up touched, delivered once
/// every stripe is released.
struct Touched<S> {
    stores: Vec<(S, EventBuffer)>,
    index: HashMap<*const DefaultRecordStore, usize>,
}

impl<S: Deref<Target = DefaultRecordStore>> Touched<S> {
    fn new() -> Self {
        Self {
            stores: Vec::new(),
            index: HashMap::new(),
        }
    }

    /// The slot of `store`, added on first sight.
    fn slot(&mut self, store: S) -> usize {
        let ptr: *const DefaultRecordStore = &*store;
        *self.index.entry(ptr).or_insert_with(|| {
            let events = store.events();
            self.stores.push((store, events));
            self.stores.len() - 1
        })
    }

    fn deliver(self) {
        for (store, events) in self.stores {
            events.deliver(&store.observer);
        }
    }
}

/// Keeps the last operation on each key, in the order of those last
/// operations (what applying every op in order leaves).
fn last_per_key(ops: Vec<BatchOp>) -> Vec<BatchOp> {
    let mut last: HashMap<&str, usize> = HashMap::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        last.insert(op.key(), i);
    }
    if last.len() == ops.len() {
        return ops;
    }
    let keep: Vec<bool> = (0..ops.len())
        .map(|i| last.get(ops[i].key()) == Some(&i))
        .collect();
    drop(last);
    ops.into_iter()
        .zip(keep)
        .filter_map(|(op, k)| k.then_some(op))
        .collect()
}

/// What a batch does with one key once admitted.
enum Planned {
    Put {
        key: String,
        record: StoredRecord,
        expiry: ExpiryPolicy,
        cost: u64,
        slot: usize,
    },
    Remove {
        key: String,
        slot: Option<usize>,
    },
}

/// A batch over the stores of one map (see [`DefaultRecordStore::write_batch`]):
/// `route_put(key)` names the store a put goes to, `route_remove(key)` the
/// store of a removed key if it exists (a remove of a key whose store does
/// not exist only reaches the data store).
pub(crate) async fn write_batch<S>(
    data_store: &dyn MapDataStore,
    gate: Option<&WriteGate>,
    map: &str,
    ops: Vec<BatchOp>,
    mut route_put: impl FnMut(&str) -> S,
    mut route_remove: impl FnMut(&str) -> Option<S>,
) -> Result<(), StoreError>
where
    S: Deref<Target = DefaultRecordStore>,
{
    if ops.is_empty() {
        return Ok(());
    }
    let ops = last_per_key(ops);
    // Route the puts and admit each store's puts together before anything
    // changes (and before taking stripes: admission may notify observers).
    let mut touched = Touched::new();
    let mut admit: Vec<Vec<(&str, u64)>> = Vec::new();
    let mut put_slots: Vec<(usize, u64)> = Vec::new();
    for op in &ops {
        if let BatchOp::Put { key, value, .. } = op {
            let slot = touched.slot(route_put(key));
            let cost = entry_cost(key, value);
            admit.resize_with(touched.stores.len(), Vec::new);
            admit[slot].push((key, cost));
            put_slots.push((slot, cost));
        }
    }
    // Each store's admission lock (those with eviction `None` and a bound)
    // in partition order, before any stripe, held until memory has changed.
    let mut by_partition: Vec<usize> = (0..touched.stores.len()).collect();
    by_partition.sort_by_key(|&slot| touched.stores[slot].0.partition_id);
    let mut admitted = Vec::new();
    for slot in by_partition {
        admitted.push(touched.stores[slot].0.admission().await);
    }
    for (slot, (store, events)) in touched.stores.iter_mut().enumerate() {
        let now = store.clock.now_millis();
        if let Err(e) = store.admit_many(&admit[slot], now, events) {
            drop(admitted);
            touched.deliver();
            return Err(e);
        }
    }
    drop(admit);
    let order = match gate {
        Some(gate) => Some(gate.lock_all(map, ops.iter().map(BatchOp::key)).await),
        None => None,
    };
    // A remove finds its store under the stripe, so a store created (and
    // the key loaded into it) since the call began is not missed.
    let remove_slots: Vec<Option<usize>> = ops
        .iter()
        .filter_map(|op| match op {
            BatchOp::Remove { key } => Some(route_remove(key).map(|s| touched.slot(s))),
            BatchOp::Put { .. } => None,
        })
        .collect();
    let now: Vec<i64> = touched
        .stores
        .iter()
        .map(|(store, _)| store.clock.now_millis())
        .collect();
    let (mut puts, mut removes) = (put_slots.into_iter(), remove_slots.into_iter());
    let planned: Vec<Planned> = ops
        .into_iter()
        .map(|op| match op {
            BatchOp::Put { key, value, expiry } => {
                let (slot, cost) = puts.next().unwrap_or_default();
                let store = &touched.stores[slot].0;
                let record = store.stored_record(value, expiry, cost, now[slot]);
                Planned::Put {
                    key,
                    record,
                    expiry,
                    cost,
                    slot,
                }
            }
            BatchOp::Remove { key } => Planned::Remove {
                key,
                slot: removes.next().flatten(),
            },
        })
        .collect();
    // One data-store write, then memory.
    let durable = !data_store.is_null();
    if durable {
        let write_ops: Vec<WriteOp<'_>> = planned
            .iter()
            .map(|p| match p {
                Planned::Put { key, record, .. } => WriteOp::Put { key, record },
                Planned::Remove { key, .. } => WriteOp::Remove { key },
            })
            .collect();
        if let Err(e) = data_store.write(map, Namespace::Primary, &write_ops).await {
            drop(order);
            drop(admitted);
            touched.deliver();
            return Err(e.into());
        }
    }
    let mut wrote = vec![false; touched.stores.len()];
    for p in planned {
        match p {
            Planned::Put {
                key,
                record,
                expiry,
                cost,
                slot,
            } => {
                wrote[slot] = true;
                let (store, events) = &mut touched.stores[slot];
                store.apply_put(&key, record.value, expiry, cost, now[slot], durable, events);
            }
            Planned::Remove {
                key,
                slot: Some(slot),
            } => {
                let (store, events) = &mut touched.stores[slot];
                store.apply_remove(&key, now[slot], events);
            }
            Planned::Remove { slot: None, .. } => {}
        }
    }
    drop(order);
    drop(admitted);
    for (slot, (store, events)) in touched.stores.iter_mut().enumerate() {
        if wrote[slot] {
            store.evict_to_bounds(None, now[slot], false, events);
        }
    }
    touched.deliver();
    Ok(())
}

/// Warm-up of one map over the stores `route` names (see
/// [`DefaultRecordStore::warm_up`]).
pub(crate) async fn warm_up<S>(
    data_store: &dyn MapDataStore,
    gate: Option<&WriteGate>,
    map: &str,
    mut route: impl FnMut(&str) -> S,
    progress: &mut dyn FnMut(&WarmUpProgress) -> ControlFlow<()>,
) -> Result<WarmUpProgress, StoreError>
where
    S: Deref<Target = DefaultRecordStore>,
{
    let mut p = WarmUpProgress::default();
    if data_store.is_null() {
        p.done = true;
        let _ = progress(&p);
        return Ok(p);
    }
    let mut after: Option<String> = None;
    loop {
        let request =
            ScanRequest::keys(map, Namespace::Primary, WARM_UP_PAGE).resume_after(after.as_deref());
        let page = data_store.scan(&request).await?;
        let keys: Vec<String> = page.entries.into_iter().map(|e| e.key).collect();
        // Read the records under their stripes, so none is replaced on disk
        // between the read and the insert.
        let order = match gate {
            Some(gate) => Some(gate.lock_all(map, keys.iter().map(String::as_str)).await),
            None => None,
        };
        let records = match data_store.load_all(map, Namespace::Primary, &keys).await {
            Ok(records) => records,
            Err(e) => {
                drop(order);
                return Err(e.into());
            }
        };
        let mut touched = Touched::new();
        for (key, record) in records {
            let slot = touched.slot(route(&key));
            let (store, events) = &mut touched.stores[slot];
            let now = store.clock.now_millis();
            match store.hydrate(&key, record, now, Fill::Warm, events) {
                Hydrated::Loaded(_) => p.loaded += 1,
                Hydrated::Resident(_) => p.resident += 1,
                Hydrated::NoRoom(_) => p.no_room += 1,
                Hydrated::Expired => p.expired += 1,
            }
        }
        drop(order);
        touched.deliver();
        p.scanned += keys.len() as u64;
        after = page.resume_after;
        p.done = after.is_none();
        if progress(&p).is_break() || p.done {
            return Ok(p);
        }
    }
}
