//! Admission and eviction of [`DefaultRecordStore`]: what a write must pass
//! before it changes anything, and what goes when a bound is exceeded.
//!
//! * **Admission** (`admit`) refuses an entry larger than the cost bound,
//!   and with eviction off a write past a bound (`CapacityExceeded`);
//!   expired records are cleared out of the way first. It runs before the
//!   data store or memory is touched. With eviction off and a bound set, the
//!   check and the write are one step: every writer holds the store's
//!   admission lock (`admission`) from the check until memory has changed,
//!   so the bounds are exact with any number of threads. A load that would
//!   keep a record only tries that lock; if another writer holds it, the
//!   record is returned without being kept.
//! * **Eviction** runs after a write, while a bound is exceeded: each round
//!   samples `eviction_sample_count` entries and removes one: an expired
//!   sample first, else the policy's choice among samples that are not dirty
//!   and not the key just written (that key only if nothing else can go).
//!   The key just written is spared for the first half of the rounds that
//!   find nothing, and RANDOM picks uniformly among the eligible samples.
//!   Rounds go on while a bound is exceeded; only rounds that remove nothing
//!   count against [`MAX_EVICTION_ROUNDS`] (in a row), so a write that needs
//!   many records to go (one large value) evicts all of them before it
//!   returns, at O(samples) per record evicted.
//! * **What the bound means when a write returns.** Over a data store that
//!   keeps nothing every record but the one just written can go, so the
//!   bounds hold when the write returns; with several writers at once, each
//!   brings the store back within bounds before it returns, so they hold
//!   once every write in flight has returned. Over a durable data store only
//!   clean records go (dirty ones are not yet held by the data store: a
//!   write-behind queue, memory-only provenances). The bounds hold when the
//!   write returns unless [`MAX_EVICTION_ROUNDS`] rounds in a row sampled
//!   only dirty records (and the key just written), which takes nearly all
//!   of memory being dirty; memory then stays above the bound until those
//!   records are stored and a later write or `maintain` evicts them.

use super::{bump, DefaultRecordStore, PAGE};
use crate::cursor::IterationCursor;
use crate::expiry::ExpiryReason;
use crate::observer::{EventBuffer, PendingEvent};
use crate::record::RecordMetadata;
use crate::record_store::{EvictionPolicy, RecordStore, StoreError};
use futures_util::lock::OwnedMutexGuard;
use rand::Rng;
use std::sync::Arc;

/// Most eviction rounds in a row that remove nothing before a write gives
/// up on the bound (only reached when the samples keep finding nothing
/// evictable: dirty records over a durable data store). Rounds that remove
/// a record do not count.
pub const MAX_EVICTION_ROUNDS: usize = 64;

/// An eviction candidate seen in a sample.
struct Candidate {
    key: String,
    meta: RecordMetadata,
    expired: ExpiryReason,
}

impl DefaultRecordStore {
    /// Whether a bound is exceeded now. O(shard count).
    pub(super) fn over_limit(&self) -> bool {
        let c = &self.config;
        (c.max_entry_count > 0 && self.engine.len() as u64 > c.max_entry_count)
            || (c.max_total_cost > 0 && self.engine.estimated_cost() > c.max_total_cost)
    }

    /// The admission lock, held by a writer from its admission check until
    /// memory has changed (`None`: the store needs none, its bounds being
    /// off or kept by eviction). Taken before any stripe of the write gate;
    /// never held while an observer runs.
    pub(super) async fn admission(&self) -> Option<OwnedMutexGuard<()>> {
        match &self.admission {
            Some(lock) => Some(Arc::clone(lock).lock_owned().await),
            None => None,
        }
    }

    /// For a load that would keep a record: `Ok(None)` when the store has no
    /// admission lock, `Ok(Some)` holding it, `Err` when another writer holds
    /// it (the load then keeps nothing).
    pub(super) fn try_admission(&self) -> Result<Option<OwnedMutexGuard<()>>, ()> {
        match &self.admission {
            Some(lock) => lock.try_lock_owned().map(Some).ok_or(()),
            None => Ok(None),
        }
    }

    /// Refuses a write that cannot fit: an entry larger than the cost bound,
    /// or (with eviction off) a write past a bound. Expired records are
    /// cleared out of the way first (their events go to `events`). The
    /// caller holds [`Self::admission`] until its write is in memory.
    pub(super) fn admit(
        &self,
        key: &str,
        cost: u64,
        now: i64,
        events: &mut EventBuffer,
    ) -> Result<(), StoreError> {
        self.admit_many(&[(key, cost)], now, events)
    }

    /// [`Self::admit`] for several writes at once (a batch; distinct keys):
    /// each entry must fit the cost bound, and with eviction off all of them
    /// together must fit both bounds.
    pub(super) fn admit_many(
        &self,
        entries: &[(&str, u64)],
        now: i64,
        events: &mut EventBuffer,
    ) -> Result<(), StoreError> {
        let c = &self.config;
        if let Some(&(_, cost)) = entries
            .iter()
            .find(|(_, cost)| c.max_total_cost > 0 && *cost > c.max_total_cost)
        {
            return Err(StoreError::EntryTooLarge {
                cost,
                max: c.max_total_cost,
            });
        }
        if entries.is_empty() || c.eviction_policy != EvictionPolicy::None || !c.is_bounded() {
            return Ok(());
        }
        let check = || {
            let (mut new_keys, mut old_total, mut new_total) = (0u64, 0u64, 0u64);
            for &(key, cost) in entries {
                let mut old_cost = None;
                self.engine
                    .get_with(key, &mut |r| old_cost = Some(r.metadata.cost));
                new_keys += u64::from(old_cost.is_none());
                old_total = old_total.saturating_add(old_cost.unwrap_or(0));
                new_total = new_total.saturating_add(cost);
            }
            if c.max_entry_count > 0
                && (self.engine.len() as u64).saturating_add(new_keys) > c.max_entry_count
            {
                return Err(StoreError::CapacityExceeded {
                    bound: "entry count",
                    limit: c.max_entry_count,
                });
            }
            let total = self.engine.estimated_cost().saturating_sub(old_total);
            if c.max_total_cost > 0 && total.saturating_add(new_total) > c.max_total_cost {
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
                let mut rounds = 0;
                while check().is_err() && rounds < MAX_EVICTION_ROUNDS {
                    rounds += 1;
                    if self.evict_one(None, now, false, true, events) == 0
                        && self.sweep_expired(100, now, false, events).1 == 0
                    {
                        break;
                    }
                }
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
        events: &mut EventBuffer,
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
        events: &mut EventBuffer,
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
                if expired_only || self.is_dirty(key, meta) {
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
            events.push(|| PendingEvent::Expire(victim.key, record, victim.expired, backup));
        } else {
            bump(&self.counters.evictions);
            events.push(|| PendingEvent::Evict(victim.key, record, backup));
        }
        1
    }

    /// Evicts until within bounds, or until [`MAX_EVICTION_ROUNDS`] rounds in
    /// a row removed nothing; returns how many went. O(samples) per round.
    pub(super) fn evict_to_bounds(
        &self,
        just_written: Option<&str>,
        now: i64,
        backup: bool,
        events: &mut EventBuffer,
    ) -> u64 {
        if self.config.eviction_policy == EvictionPolicy::None {
            return 0;
        }
        let mut evicted = 0;
        let mut idle = 0;
        while idle < MAX_EVICTION_ROUNDS && self.over_limit() {
            // The key just written may go only after half the rounds found
            // nothing else: then nothing else is evictable in all likelihood
            // (every other record dirty, or it is the only record).
            let spare = idle < MAX_EVICTION_ROUNDS / 2;
            match self.evict_one_round(just_written, spare, now, backup, false, events) {
                0 => idle += 1,
                n => {
                    evicted += n;
                    idle = 0;
                }
            }
        }
        evicted
    }

    /// Evicts every record that is not dirty (`RecordStore::evict_all`);
    /// returns how many went.
    pub(super) fn evict_all_clean(&self, is_backup: bool) -> u32 {
        let mut keys = Vec::new();
        let mut cursor = IterationCursor::start();
        while !cursor.is_finished() {
            match self.engine.fetch_with(&cursor, PAGE, &mut |key, record| {
                if !self.is_dirty(key, &record.metadata) {
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
                .remove_if(&key, &mut |r| !self.is_dirty(&key, &r.metadata))
            {
                bump(&self.counters.evictions);
                count = count.saturating_add(1);
                events.push(|| PendingEvent::Evict(key, record, is_backup));
            }
        }
        events.deliver(&self.observer);
        count
    }
}

/// When a record was last used: its last touched read or write.
fn recency(meta: &RecordMetadata) -> i64 {
    meta.last_access_time.max(meta.last_update_time)
}
