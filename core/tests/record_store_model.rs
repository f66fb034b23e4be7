//! Property tests: `DefaultRecordStore` (unbounded, null data store, manual
//! clock) against a plain model of its records, expiry rules and counters.
//!
//! The model keeps every record that is in memory, live or expired but not
//! yet removed, and decides liveness with the rules of `expiry.rs` written
//! out again here (the library's expiry functions are not used). Because the
//! store is unbounded nothing is ever evicted, so the model is exact: every
//! visible result, the size, the cost total and every counter must match.

use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use topgun_storage_core::block_on;
use topgun_storage_core::{
    entry_cost, CallerProvenance, Clock, CompositeMutationObserver, DefaultRecordStore,
    ExpiryPolicy, ExpiryReason, HashMapStorage, IterationCursor, ManualClock, NullDataStore,
    Record, RecordStore, RecordValue, StorageConfig, StoreStats, Timestamp,
};

/// Keys are drawn from `k0` .. `k{KEYS - 1}`.
const KEYS: u8 = 6;
const START: i64 = 1_000_000;

fn key(k: u8) -> String {
    format!("k{k}")
}

/// Values of different lengths, so costs differ.
fn value(v: u16) -> RecordValue {
    RecordValue::lww(
        "v".repeat(usize::from(v % 23)),
        Timestamp::new(u64::from(v), 0, "n"),
    )
}

#[derive(Debug, Clone)]
enum Op {
    Put(u8, u16, u64, u64),
    Get(u8, bool),
    Remove(u8),
    Advance(i64),
    Maintain,
    EvictExpired(u32),
    FetchKeys(usize),
    FetchEntries(usize),
    ForEach,
    Samples(usize),
    GetAll(Vec<u8>),
    HasExpired(u8, i64),
    Exists(u8),
}

/// Limits: mostly "none", otherwise small multiples of 50 so that clock
/// steps land exactly on the strict `>` boundaries.
fn limit() -> impl Strategy<Value = u64> {
    prop_oneof![3 => Just(0u64), 1 => Just(50u64), 1 => Just(100u64), 1 => Just(200u64), 1 => 1u64..300]
}

fn step() -> impl Strategy<Value = i64> {
    prop_oneof![
        3 => 0i64..300,
        2 => prop::sample::select(vec![0i64, 1, 50, 100, 150, 200]),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..KEYS, any::<u16>(), limit(), limit()).prop_map(|(k, v, t, i)| Op::Put(k, v, t, i)),
        6 => (0..KEYS, any::<bool>()).prop_map(|(k, t)| Op::Get(k, t)),
        2 => (0..KEYS).prop_map(Op::Remove),
        6 => step().prop_map(Op::Advance),
        1 => Just(Op::Maintain),
        1 => (0u32..=100).prop_map(Op::EvictExpired),
        2 => (1usize..10).prop_map(Op::FetchKeys),
        1 => (1usize..10).prop_map(Op::FetchEntries),
        1 => Just(Op::ForEach),
        2 => (0usize..10).prop_map(Op::Samples),
        1 => prop::collection::vec(0..KEYS, 0..6).prop_map(Op::GetAll),
        2 => (0..KEYS, prop::sample::select(vec![0i64, 1, 50, 100, 101, 200, 301])).prop_map(|(k, d)| Op::HasExpired(k, d)),
        1 => (0..KEYS).prop_map(Op::Exists),
    ]
}

/// One record as the model sees it.
#[derive(Debug, Clone)]
struct MRec {
    value: RecordValue,
    version: u32,
    hits: u32,
    creation_time: i64,
    last_access_time: i64,
    last_update_time: i64,
    ttl: u64,
    max_idle: u64,
    cost: u64,
}

/// The expiry rules of `expiry.rs`, written out independently: a per-entry
/// limit > 0 wins, else the store default; 0 means never; TTL from the last
/// write, max-idle from the last touched read or write, both strictly `>`;
/// TTL first.
fn model_reason(r: &MRec, default_ttl: u64, default_idle: u64, now: i64) -> ExpiryReason {
    let ttl = if r.ttl > 0 { r.ttl } else { default_ttl };
    let idle = if r.max_idle > 0 {
        r.max_idle
    } else {
        default_idle
    };
    if ttl > 0 && now - r.last_update_time > ttl as i64 {
        return ExpiryReason::Ttl;
    }
    let last_used = r.last_access_time.max(r.last_update_time);
    if idle > 0 && now - last_used > idle as i64 {
        return ExpiryReason::MaxIdle;
    }
    ExpiryReason::NotExpired
}

/// The model store: the records in memory (live or expired-not-removed),
/// the "some record had its own policy" flag, and the counters.
struct Model {
    default_ttl: u64,
    default_idle: u64,
    records: BTreeMap<String, MRec>,
    entry_expiry: bool,
    stats: StoreStats,
}

impl Model {
    fn reason(&self, r: &MRec, now: i64) -> ExpiryReason {
        model_reason(r, self.default_ttl, self.default_idle, now)
    }

    fn expired(&self, key: &str, now: i64) -> bool {
        self.records
            .get(key)
            .is_some_and(|r| self.reason(r, now).is_expired())
    }

    fn expirable(&self) -> bool {
        self.default_ttl > 0 || self.default_idle > 0 || self.entry_expiry
    }

    fn live_keys(&self, now: i64) -> BTreeSet<String> {
        self.records
            .iter()
            .filter(|(_, r)| !self.reason(r, now).is_expired())
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn expired_keys(&self, now: i64) -> Vec<String> {
        self.records
            .iter()
            .filter(|(_, r)| self.reason(r, now).is_expired())
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Removes every expired record (what a full sweep or full fetch does).
    fn remove_expired(&mut self, now: i64) -> u64 {
        let gone = self.expired_keys(now);
        for k in &gone {
            self.records.remove(k);
        }
        self.stats.expirations += gone.len() as u64;
        gone.len() as u64
    }

    fn get(&mut self, key: &str, touch: bool, now: i64) -> Option<MRec> {
        if self.expired(key, now) {
            self.records.remove(key);
            self.stats.expirations += 1;
        }
        match self.records.get_mut(key) {
            Some(r) => {
                if touch {
                    r.hits += 1;
                    r.last_access_time = now;
                }
                self.stats.hits += 1;
                Some(r.clone())
            }
            None => {
                self.stats.misses += 1;
                None
            }
        }
    }

    fn put(
        &mut self,
        key: &str,
        value: RecordValue,
        ttl: u64,
        idle: u64,
        now: i64,
    ) -> Option<RecordValue> {
        if ttl > 0 || idle > 0 {
            self.entry_expiry = true;
        }
        let cost = entry_cost(key, &value);
        if self.expired(key, now) {
            self.records.remove(key);
            self.stats.expirations += 1;
        }
        match self.records.get_mut(key) {
            Some(r) => {
                let old = std::mem::replace(&mut r.value, value);
                r.version += 1;
                r.last_update_time = now;
                r.ttl = ttl;
                r.max_idle = idle;
                r.cost = cost;
                self.stats.updates += 1;
                Some(old)
            }
            None => {
                self.records.insert(
                    key.to_owned(),
                    MRec {
                        value,
                        version: 1,
                        hits: 0,
                        creation_time: now,
                        last_access_time: now,
                        last_update_time: now,
                        ttl,
                        max_idle: idle,
                        cost,
                    },
                );
                self.stats.puts += 1;
                None
            }
        }
    }

    fn remove(&mut self, key: &str, now: i64) -> Option<RecordValue> {
        let expired = self.expired(key, now);
        let r = self.records.remove(key)?;
        if expired {
            self.stats.expirations += 1;
            None
        } else {
            self.stats.removes += 1;
            Some(r.value)
        }
    }

    fn expected_stats(&self) -> StoreStats {
        StoreStats {
            entry_count: self.records.len() as u64,
            total_cost: self.records.values().map(|r| r.cost).sum(),
            ..self.stats
        }
    }
}

/// Whether the store's record equals the model's.
fn same(record: &Record, m: &MRec) -> Result<(), TestCaseError> {
    let meta = &record.metadata;
    prop_assert_eq!(&record.value, &m.value);
    prop_assert_eq!(meta.version, m.version, "version");
    prop_assert_eq!(meta.hits, m.hits, "hits");
    prop_assert_eq!(meta.creation_time, m.creation_time, "creation_time");
    prop_assert_eq!(
        meta.last_access_time,
        m.last_access_time,
        "last_access_time"
    );
    prop_assert_eq!(
        meta.last_update_time,
        m.last_update_time,
        "last_update_time"
    );
    prop_assert_eq!(meta.ttl_millis, m.ttl, "ttl");
    prop_assert_eq!(meta.max_idle_millis, m.max_idle, "max_idle");
    prop_assert_eq!(meta.cost, m.cost, "cost");
    Ok(())
}

fn new_store(config: StorageConfig, shards: usize, clock: &ManualClock) -> DefaultRecordStore {
    DefaultRecordStore::new(
        "m".into(),
        0,
        Box::new(HashMapStorage::with_shards(shards)),
        Arc::new(NullDataStore),
        Arc::new(CompositeMutationObserver::default()),
        config,
    )
    .with_clock(Arc::new(clock.clone()))
}

/// Pages through the store; returns every item seen, in order.
fn fetch_all<T>(
    page: usize,
    mut fetch: impl FnMut(&IterationCursor) -> topgun_storage_core::FetchResult<T>,
) -> Vec<T> {
    let mut out = Vec::new();
    let mut cursor = IterationCursor::start();
    let mut pages = 0;
    while !cursor.is_finished() {
        let r = fetch(&cursor);
        assert!(r.items.len() <= page, "page larger than asked for");
        out.extend(r.items);
        cursor = r.next_cursor;
        pages += 1;
        assert!(pages < 10_000, "iteration does not finish");
    }
    out
}

fn run(
    ops: Vec<Op>,
    default_ttl: u64,
    default_idle: u64,
    shards: usize,
) -> Result<(), TestCaseError> {
    let clock = ManualClock::new(START);
    let config = StorageConfig {
        default_ttl_millis: default_ttl,
        default_max_idle_millis: default_idle,
        ..StorageConfig::default()
    };
    let store = new_store(config, shards, &clock);
    let mut model = Model {
        default_ttl,
        default_idle,
        records: BTreeMap::new(),
        entry_expiry: false,
        stats: StoreStats::default(),
    };
    let mut last_expirations = 0;

    for op in ops {
        let now = clock.now_millis();
        let label = format!("{op:?}");
        match op {
            Op::Put(k, v, ttl, idle) => {
                let policy = ExpiryPolicy {
                    ttl_millis: ttl,
                    max_idle_millis: idle,
                };
                let got = block_on(store.put(&key(k), value(v), policy, CallerProvenance::Client))
                    .expect("unbounded put over a null data store succeeds");
                let want = model.put(&key(k), value(v), ttl, idle, now);
                prop_assert_eq!(got, want, "put {} previous value", key(k));
            }
            Op::Get(k, touch) => {
                let got = block_on(store.get(&key(k), touch)).expect("null data store");
                let want = model.get(&key(k), touch, now);
                prop_assert_eq!(got.is_some(), want.is_some(), "get {} presence", key(k));
                if let (Some(g), Some(w)) = (&got, &want) {
                    same(g, w)?;
                }
            }
            Op::Remove(k) => {
                let got = block_on(store.remove(&key(k), CallerProvenance::Client))
                    .expect("null data store");
                prop_assert_eq!(got, model.remove(&key(k), now), "remove {}", key(k));
            }
            Op::Advance(d) => {
                clock.advance(d);
            }
            Op::Maintain => {
                let expirable = model.expirable();
                let present = model.records.len() as u64;
                let report = store.maintain();
                prop_assert_eq!(report.evicted, 0, "nothing to evict when unbounded");
                if expirable {
                    // Fewer than 100 entries: one pass sees all of them.
                    prop_assert_eq!(report.scanned, present, "maintain scanned");
                    prop_assert_eq!(
                        report.expired,
                        model.remove_expired(now),
                        "maintain expired"
                    );
                } else {
                    prop_assert_eq!((report.scanned, report.expired), (0, 0));
                }
            }
            Op::EvictExpired(pct) => {
                let removed = store.evict_expired(pct, now, false);
                let want = if model.expirable() {
                    model.remove_expired(now)
                } else {
                    0
                };
                prop_assert_eq!(u64::from(removed), want, "evict_expired({})", pct);
            }
            Op::FetchKeys(page) => {
                let had_expired = !model.expired_keys(now).is_empty();
                let keys = fetch_all(page, |c| store.fetch_keys(c, page).expect("valid cursor"));
                model.remove_expired(now);
                let set: BTreeSet<String> = keys.iter().cloned().collect();
                prop_assert_eq!(&set, &model.live_keys(now), "fetch_keys({}) key set", page);
                if !had_expired {
                    prop_assert_eq!(
                        set.len(),
                        keys.len(),
                        "a key returned twice without removals"
                    );
                }
            }
            Op::FetchEntries(page) => {
                let had_expired = !model.expired_keys(now).is_empty();
                let entries = fetch_all(page, |c| {
                    store.fetch_entries(c, page).expect("valid cursor")
                });
                model.remove_expired(now);
                let mut seen = BTreeSet::new();
                for (k, r) in &entries {
                    let m = model.records.get(k);
                    prop_assert!(
                        m.is_some(),
                        "fetch_entries returned {} which is not live",
                        k
                    );
                    same(r, m.expect("checked"))?;
                    seen.insert(k.clone());
                }
                prop_assert_eq!(&seen, &model.live_keys(now), "fetch_entries key set");
                if !had_expired {
                    prop_assert_eq!(seen.len(), entries.len());
                }
            }
            Op::ForEach => {
                let mut seen = BTreeMap::new();
                store.for_each_boxed(
                    &mut |k, r| {
                        seen.insert(k.to_owned(), r.clone());
                    },
                    false,
                );
                model.remove_expired(now);
                let keys: BTreeSet<String> = seen.keys().cloned().collect();
                prop_assert_eq!(&keys, &model.live_keys(now), "for_each key set");
                for (k, r) in &seen {
                    same(r, &model.records[k])?;
                }
            }
            Op::Samples(n) => {
                let samples = store.random_samples(n);
                let live = model.live_keys(now);
                let expired_present = model.records.len() - live.len();
                let distinct: BTreeSet<&String> = samples.iter().map(|(k, _)| k).collect();
                prop_assert_eq!(distinct.len(), samples.len(), "samples are distinct");
                for (k, r) in &samples {
                    prop_assert!(live.contains(k), "sample {} is not live", k);
                    same(r, &model.records[k])?;
                }
                if expired_present == 0 {
                    prop_assert_eq!(samples.len(), n.min(live.len()), "random_samples({})", n);
                } else {
                    prop_assert!(samples.len() <= n.min(live.len()));
                    // At most the expired ones sampled are left out.
                    prop_assert!(
                        samples.len() + expired_present >= n.min(model.records.len()),
                        "random_samples({}) left out more than the expired records",
                        n
                    );
                }
            }
            Op::GetAll(ks) => {
                let keys: Vec<String> = ks.iter().map(|&k| key(k)).collect();
                let got = block_on(store.get_all(&keys)).expect("null data store");
                let mut want = Vec::new();
                for k in &keys {
                    if let Some(r) = model.get(k, false, now) {
                        want.push((k.clone(), r));
                    }
                }
                prop_assert_eq!(got.len(), want.len(), "get_all {:?}", keys);
                for ((gk, g), (wk, w)) in got.iter().zip(&want) {
                    prop_assert_eq!(gk, wk);
                    same(g, w)?;
                }
            }
            Op::HasExpired(k, d) => {
                let at = now + d;
                let want = model
                    .records
                    .get(&key(k))
                    .map_or(ExpiryReason::NotExpired, |r| model.reason(r, at));
                prop_assert_eq!(
                    store.has_expired(&key(k), at, false),
                    want,
                    "has_expired({}, now+{})",
                    key(k),
                    d
                );
            }
            Op::Exists(k) => {
                let live = model.records.contains_key(&key(k)) && !model.expired(&key(k), now);
                prop_assert_eq!(
                    store.exists_in_memory(&key(k)),
                    live,
                    "exists_in_memory({})",
                    key(k)
                );
            }
        }

        let stats = store.stats();
        prop_assert!(
            stats.expirations >= last_expirations,
            "expirations went down"
        );
        last_expirations = stats.expirations;
        prop_assert_eq!(stats, model.expected_stats(), "stats after {}", label);
        prop_assert_eq!(store.size(), model.records.len(), "size");
        prop_assert!(store.size() >= model.live_keys(clock.now_millis()).len());
        prop_assert_eq!(
            store.owned_entry_cost(),
            model.expected_stats().total_cost,
            "cost"
        );
        prop_assert_eq!(store.is_expirable(), model.expirable(), "is_expirable");
        prop_assert!(!store.should_evict());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn record_store_matches_model(
        ops in prop::collection::vec(op(), 1..160),
        default_ttl in prop_oneof![2 => Just(0u64), 1 => Just(100u64), 1 => Just(250u64), 1 => 1u64..400],
        default_idle in prop_oneof![2 => Just(0u64), 1 => Just(100u64), 1 => Just(150u64), 1 => 1u64..400],
        shards in prop::sample::select(vec![1usize, 2, 4, 16]),
    ) {
        run(ops, default_ttl, default_idle, shards)?;
    }
}

/// A few fixed sequences on the strict boundaries, so they are covered
/// whatever proptest draws.
#[test]
fn boundaries_are_strict() {
    let clock = ManualClock::new(START);
    let store = new_store(
        StorageConfig {
            default_ttl_millis: 100,
            ..StorageConfig::default()
        },
        4,
        &clock,
    );
    block_on(store.put("a", value(1), ExpiryPolicy::NONE, CallerProvenance::Client)).unwrap();
    block_on(store.put(
        "b",
        value(2),
        ExpiryPolicy::max_idle(50),
        CallerProvenance::Client,
    ))
    .unwrap();
    clock.advance(50);
    // b: idle exactly 50 -> live; touch it.
    assert!(block_on(store.get("b", true)).unwrap().is_some());
    clock.advance(50);
    // a: exactly 100 after its write -> live; b idle 50 again -> live.
    assert_eq!(
        store.has_expired("a", START + 100, false),
        ExpiryReason::NotExpired
    );
    assert_eq!(
        store.has_expired("a", START + 101, false),
        ExpiryReason::Ttl
    );
    assert_eq!(
        store.has_expired("b", START + 100, false),
        ExpiryReason::NotExpired
    );
    // c: own max-idle 20 from its write at START + 100, default TTL 100.
    block_on(store.put(
        "c",
        value(3),
        ExpiryPolicy::max_idle(20),
        CallerProvenance::Client,
    ))
    .unwrap();
    assert_eq!(
        store.has_expired("c", START + 120, false),
        ExpiryReason::NotExpired
    );
    assert_eq!(
        store.has_expired("c", START + 121, false),
        ExpiryReason::MaxIdle
    );
    assert!(block_on(store.get("a", false)).unwrap().is_some());
    assert!(block_on(store.get("b", false)).unwrap().is_some());
    clock.advance(1);
    // b also has the default TTL 100 from its write at START: TTL first.
    assert_eq!(
        store.has_expired("b", START + 101, false),
        ExpiryReason::Ttl
    );
    assert!(block_on(store.get("a", false)).unwrap().is_none());
    assert_eq!(store.evict_expired(100, START + 101, false), 1);
    assert_eq!(store.size(), 1);
    assert!(store.exists_in_memory("c"));
    assert_eq!(store.stats().expirations, 2);
}
