//! What the child writes and what the parent expects: a sequence of
//! operations fixed by a seed (operation `i` depends only on the seed and
//! `i`, so the parent knows what every acknowledgement meant), how the child
//! applies one through `MapStorage` and its record stores, and the model of
//! what the data store holds after any prefix of the sequence.
//!
//! The child runs [`THREADS`] writers at once over one data store (so their
//! commits are shared, as group commit does): operation `i` belongs to
//! writer `i % THREADS`, which runs its operations in order on keys no other
//! writer touches (`t<writer>-k<n>`).

use std::collections::BTreeMap;
use std::sync::Arc;
use topgun_storage_core::{
    block_on, entry_cost, CallerProvenance, EvictionPolicy, ManualClock, MapDataStore, MapStorage,
    Namespace, Record, RecordMetadata, RecordStoreFactory, RecordValue, ScanRequest, StorageConfig,
    StoreError, StoredRecord, Timestamp,
};

/// The clock of operation `i` reads `T0 + i`, so every write time (and so
/// every expiration time) is known in advance.
pub const T0: i64 = 1_700_000_000_000;
/// Writers in the child, each with its own keys.
pub const THREADS: u64 = 2;
/// Keys per map and writer: with memory bounded to one record per
/// partition store (271 a map), the data set grows to several times what
/// memory holds.
pub const KEYS: u64 = 2_000;
/// Records per partition store in memory (LRU beyond that).
pub const MEMORY_PER_PARTITION: u64 = 1;
/// The map whose records carry no expiry.
pub const PLAIN: &str = "plain";
/// The map whose records get a default TTL of one day (so their
/// expiration time must survive exactly).
pub const TTL: &str = "ttl";
/// That TTL.
pub const TTL_MILLIS: u64 = 86_400_000;
/// Both maps.
pub const MAPS: [&str; 2] = [PLAIN, TTL];

/// One operation of the sequence; each is acknowledged once it returns.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// `MapStorage::store`.
    Store(&'static str, String, RecordValue),
    /// `MapStorage::delete`.
    Delete(&'static str, String),
    /// `MapStorage::store_all`: all or nothing.
    StoreAll(&'static str, Vec<(String, RecordValue)>),
    /// `MapStorage::delete_all`: all or nothing.
    DeleteAll(&'static str, Vec<String>),
    /// `RecordStore::put_backup` (a `Client` write: to the backup namespace).
    Backup(&'static str, String, RecordValue),
    /// `RecordStore::remove_backup`.
    RemoveBackup(&'static str, String),
}

/// splitmix64: a small, well-mixed generator, enough to pick operations.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `stream` of `seed`.
    #[must_use]
    pub fn new(seed: u64, stream: u64) -> Self {
        Rng(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// The writer that runs operation `i`.
#[must_use]
pub fn writer_of(i: u64) -> u64 {
    i % THREADS
}

fn key(i: u64, rng: &mut Rng) -> String {
    format!("t{}-k{:04}", writer_of(i), rng.below(KEYS))
}

/// The value operation `i` writes under `key`: names both, padded to a
/// length that varies (0 to 300 bytes), so a value from the wrong operation
/// or key cannot pass for the right one.
#[must_use]
pub fn value(i: u64, key: &str, rng: &mut Rng) -> RecordValue {
    let pad = "x".repeat(rng.below(301) as usize);
    RecordValue::lww(
        format!("op {i} key {key} {pad}"),
        Timestamp::new(i, 0, "crash"),
    )
}

/// Operation `i` of the sequence of `seed`.
#[must_use]
pub fn op(seed: u64, i: u64) -> Op {
    let mut rng = Rng::new(seed, i);
    let map = MAPS[rng.below(2) as usize];
    match rng.below(100) {
        0..=44 => {
            let k = key(i, &mut rng);
            let v = value(i, &k, &mut rng);
            Op::Store(map, k, v)
        }
        45..=59 => Op::Delete(map, key(i, &mut rng)),
        60..=79 => {
            let n = 1 + rng.below(64);
            let entries = (0..n)
                .map(|_| {
                    let k = key(i, &mut rng);
                    let v = value(i, &k, &mut rng);
                    (k, v)
                })
                .collect();
            Op::StoreAll(map, entries)
        }
        80..=87 => {
            let n = 1 + rng.below(32);
            Op::DeleteAll(map, (0..n).map(|_| key(i, &mut rng)).collect())
        }
        88..=95 => {
            let k = key(i, &mut rng);
            let v = value(i, &k, &mut rng);
            Op::Backup(map, k, v)
        }
        _ => Op::RemoveBackup(map, key(i, &mut rng)),
    }
}

/// The configuration of every (map, partition) store: memory bounded to
/// [`MEMORY_PER_PARTITION`] records, LRU; map [`TTL`] also gets its TTL.
#[must_use]
pub fn config(map: &str) -> StorageConfig {
    StorageConfig {
        max_entry_count: MEMORY_PER_PARTITION,
        eviction_policy: EvictionPolicy::Lru,
        default_ttl_millis: if map == TTL { TTL_MILLIS } else { 0 },
        ..StorageConfig::default()
    }
}

/// `MapStorage` over `data_store` configured as the child runs it, reading
/// `clock`.
#[must_use]
pub fn storage(data_store: Arc<dyn MapDataStore>, clock: &ManualClock) -> MapStorage {
    let factory = RecordStoreFactory::new(config(PLAIN), data_store, Vec::new())
        .with_clock(Arc::new(clock.clone()));
    factory.set_map_config(TTL, config(TTL));
    MapStorage::new(factory)
}

/// Applies `op` (operation `i`) through `storage`, as the child does.
///
/// # Errors
/// Whatever the storage refuses (the child reports it and stops).
pub fn apply(storage: &MapStorage, i: u64, op: &Op) -> Result<(), StoreError> {
    match op {
        Op::Store(map, key, value) => storage.store(map, key, value.clone()),
        Op::Delete(map, key) => storage.delete(map, key),
        Op::StoreAll(map, entries) => storage.store_all(map, entries.iter().cloned()),
        Op::DeleteAll(map, keys) => storage.delete_all(map, keys),
        Op::Backup(map, key, value) => {
            let store = storage.factory().store_for_key(map, key);
            let meta = RecordMetadata::new(T0 + i as i64, entry_cost(key, value));
            let record = Record::new(value.clone(), meta);
            block_on(store.put_backup(key, record, CallerProvenance::Client))
        }
        Op::RemoveBackup(map, key) => {
            let store = storage.factory().store_for_key(map, key);
            block_on(store.remove_backup(key, CallerProvenance::Client))
        }
    }
}

/// Where a record lives: map, namespace, key.
pub type Slot = (&'static str, Namespace, String);

/// The writer whose keys include `slot`'s.
#[must_use]
pub fn writer_of_slot(slot: &Slot) -> Option<u64> {
    let digits: String = slot
        .2
        .strip_prefix('t')?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Everything the data store should hold, exactly (values and expiry).
pub type State = BTreeMap<Slot, StoredRecord>;

/// What the data store holds for `value` written by operation `i` in `map`.
#[must_use]
pub fn stored(map: &str, i: u64, value: RecordValue) -> StoredRecord {
    let write_time = T0 + i as i64;
    let mut record = StoredRecord::new(value, write_time);
    if map == TTL {
        record.expiration_time = write_time + TTL_MILLIS as i64;
    }
    record
}

/// `state` after operation `i`.
pub fn apply_to_model(state: &mut State, i: u64, op: &Op) {
    let mut put = |map: &'static str, ns, key: &str, value: &RecordValue| {
        state.insert((map, ns, key.to_owned()), stored(map, i, value.clone()));
    };
    match op {
        Op::Store(map, key, value) => put(map, Namespace::Primary, key, value),
        Op::StoreAll(map, entries) => {
            for (key, value) in entries {
                put(map, Namespace::Primary, key, value);
            }
        }
        Op::Backup(map, key, value) => put(map, Namespace::Backup, key, value),
        Op::Delete(map, key) => {
            state.remove(&(*map, Namespace::Primary, key.clone()));
        }
        Op::DeleteAll(map, keys) => {
            for key in keys {
                state.remove(&(*map, Namespace::Primary, key.clone()));
            }
        }
        Op::RemoveBackup(map, key) => {
            state.remove(&(*map, Namespace::Backup, key.clone()));
        }
    }
}

/// Everything `data_store` holds in both maps and namespaces.
///
/// # Errors
/// The data store's read failure, as text.
pub fn read_state(data_store: &dyn MapDataStore) -> Result<State, String> {
    let mut state = State::new();
    for map in MAPS {
        for ns in Namespace::ALL {
            let mut after: Option<String> = None;
            loop {
                let request = ScanRequest::entries(map, ns, 1_000).resume_after(after.as_deref());
                let page = block_on(data_store.scan(&request))
                    .map_err(|e| format!("scanning {map} {}: {e}", ns.as_str()))?;
                for entry in page.entries {
                    let record = entry
                        .record
                        .ok_or_else(|| format!("scan of {map} returned no record"))?;
                    state.insert((map, ns, entry.key), record);
                }
                after = page.resume_after;
                if after.is_none() {
                    break;
                }
            }
        }
    }
    Ok(state)
}
