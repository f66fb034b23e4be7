//! `Storage`: one record store (the core's `DefaultRecordStore`) for
//! JavaScript, and its key iterator.
//!
//! Every method runs synchronously on the calling JavaScript thread: the
//! store is in memory, so a call costs the store operation plus the
//! conversion of its arguments and result (1-2 µs for a small record on the
//! project's machine, most of it the N-API boundary). Observer callbacks are delivered later, on the same JavaScript
//! thread, through a thread-safe function (see [`Storage::subscribe`]).

use crate::args;
use crate::convert::{js_to_record, num, Out};
use crate::errors::{describe, run, Failure, Outcome};
use crate::observe::Subscriptions;
use crate::packed;
use napi::bindgen_prelude::{
    BufferSlice, FromNapiValue, Generator, JsObjectValue, ToNapiValue, Unknown, Utf16String,
};
use napi::{Env, JsValue, ValueType};
use napi_derive::napi;
use std::sync::Arc;
use topgun_storage_core::codec::{decode_record_value, encode_record_value};
use topgun_storage_core::{
    block_on, CallerProvenance, DefaultRecordStore, ExpiryPolicy, IterationCursor, RecordStore,
    RecordValue,
};

/// Keys per page when iterating with `keys()` / `[Symbol.iterator]`.
const ITERATION_PAGE: usize = 1000;

/// Counters of a store at one moment (see `Storage.stats`).
#[napi(object, object_from_js = false)]
pub struct StoreStats {
    /// Reads by key that found a live record.
    pub hits: f64,
    /// Reads by key that found nothing live.
    pub misses: f64,
    /// Writes that created a record.
    pub puts: f64,
    /// Writes that replaced a live record.
    pub updates: f64,
    /// Records removed by callers.
    pub removes: f64,
    /// Records evicted to respect the bounds.
    pub evictions: f64,
    /// Records removed because they expired.
    pub expirations: f64,
    /// Records in memory now (may include expired ones not yet removed).
    pub entry_count: f64,
    /// Sum of the records' costs now (bytes, see `estimatedCost`).
    pub total_cost: f64,
    /// Observer callbacks that threw (each also emitted a process warning).
    pub observer_errors: f64,
}

/// What one `maintain()` pass did.
#[napi(object, object_from_js = false)]
pub struct MaintenanceReport {
    /// Entries the expiry sweep looked at.
    pub scanned: f64,
    /// Expired records removed.
    pub expired: f64,
    /// Records evicted to get back within the bounds.
    pub evicted: f64,
}

impl StoreStats {
    /// The core's counters, with the observer errors of the JavaScript
    /// subscriptions (none for a durable store, which has no observers).
    #[must_use]
    pub fn new(s: &topgun_storage_core::StoreStats, observer_errors: u64) -> Self {
        Self {
            hits: num(s.hits),
            misses: num(s.misses),
            puts: num(s.puts),
            updates: num(s.updates),
            removes: num(s.removes),
            evictions: num(s.evictions),
            expirations: num(s.expirations),
            entry_count: num(s.entry_count),
            total_cost: num(s.total_cost),
            observer_errors: num(observer_errors),
        }
    }
}

impl From<topgun_storage_core::MaintenanceReport> for MaintenanceReport {
    fn from(r: topgun_storage_core::MaintenanceReport) -> Self {
        Self {
            scanned: num(r.scanned),
            expired: num(r.expired),
            evicted: num(r.evicted),
        }
    }
}

/// An in-memory record store: TopGun `StorageValue` records under string
/// keys, with expiry (store default and per entry), bounds with eviction
/// (LRU, LFU or random by sampling), statistics, observers and cursor
/// iteration. Not shared between threads: each worker creates its own.
///
/// Every method is synchronous. Wrong argument types throw `TypeError`;
/// other failures throw `StorageError` with a `code` (`ERR_VALUE_SHAPE`,
/// `ERR_INVALID_CURSOR`, `ERR_CAPACITY_EXCEEDED`, ...). A failed write
/// changes nothing.
#[napi]
pub struct Storage {
    pub(crate) store: Arc<DefaultRecordStore>,
    subscriptions: Subscriptions,
}

#[napi]
impl Storage {
    /// A new, empty store. Options (all optional): `ttl` and `maxIdle`
    /// (default expiry in ms, 0 = never), `maxEntries` and `maxCost` (bounds,
    /// 0 = none), `eviction` (`'none'` refuses writes beyond a bound with
    /// `ERR_CAPACITY_EXCEEDED`; `'lru'`, `'lfu'`, `'random'` evict), `samples`
    /// (entries sampled per eviction, default 15), `clock` (a `ManualClock`).
    #[napi(constructor, ts_args_type = "options?: StorageOptions")]
    pub fn new(env: Env, options: Option<Unknown<'_>>) -> napi::Result<Self> {
        run(&env, || {
            let object = args::options(options, "options", &args::STORAGE_OPTION_NAMES)?;
            let settings = args::storage_settings(object.as_ref(), "options")?;
            let store = Arc::new(DefaultRecordStore::standalone(
                settings.config,
                settings.clock,
            ));
            Ok(Self {
                subscriptions: Subscriptions::new(&store),
                store,
            })
        })
    }

    /// Stores `value` under `key`, replacing what was there. `options` may
    /// give this entry its own `ttl` / `maxIdle` (ms; 0 = store default).
    /// Returns `true` when a live value was replaced. May evict other
    /// entries when the store is bounded.
    #[napi(
        ts_args_type = "key: string, value: StorageValue, options?: PutOptions",
        ts_return_type = "boolean"
    )]
    pub fn put(
        &self,
        env: Env,
        key: Unknown<'_>,
        value: Unknown<'_>,
        options: Option<Unknown<'_>>,
    ) -> napi::Result<bool> {
        run(&env, || {
            let key = args::string(key, "key")?;
            let record = js_to_record(value, "value")?;
            let expiry = args::expiry(options, "options")?;
            self.write(&key, record, expiry)
        })
    }

    fn write(&self, key: &str, record: RecordValue, expiry: ExpiryPolicy) -> Outcome<bool> {
        let old = block_on(
            self.store
                .put(key, record, expiry, CallerProvenance::Client),
        )?;
        Ok(old.is_some())
    }

    /// The live value under `key`, or `undefined`. Counts as an access (hit
    /// statistics, LRU / LFU order, max-idle).
    #[napi(
        ts_args_type = "key: string",
        ts_return_type = "StorageValue | undefined"
    )]
    pub fn get<'e>(&self, env: &'e Env, key: Unknown<'_>) -> napi::Result<Unknown<'e>> {
        run(env, || {
            let key = args::string(key, "key")?;
            let record = block_on(self.store.get(&key, true))?;
            Ok(Out::new(env)?.optional_record(record.as_ref().map(|r| &r.value))?)
        })
    }

    /// The live record under `key` with its metadata, or `undefined`. Counts
    /// as an access, like `get` (and like `get_record` in Python and
    /// `storage_get_with_metadata` in C): the metadata returned includes it.
    #[napi(
        ts_args_type = "key: string",
        ts_return_type = "StoredRecord | undefined"
    )]
    pub fn get_record<'e>(&self, env: &'e Env, key: Unknown<'_>) -> napi::Result<Unknown<'e>> {
        run(env, || {
            let key = args::string(key, "key")?;
            let out = Out::new(env)?;
            match block_on(self.store.get(&key, true))? {
                Some(record) => {
                    Ok(out.stored_record(&record, self.store.config().default_expiry())?)
                }
                None => Ok(out.undefined()?),
            }
        })
    }

    /// Removes `key`; returns `true` when a live value was removed.
    #[napi(ts_args_type = "key: string")]
    pub fn remove(&self, env: Env, key: Unknown<'_>) -> napi::Result<bool> {
        run(&env, || {
            let key = args::string(key, "key")?;
            Ok(block_on(self.store.remove(&key, CallerProvenance::Client))?.is_some())
        })
    }

    /// Whether a live value is stored under `key` (no access counted).
    #[napi(ts_args_type = "key: string")]
    pub fn has(&self, env: Env, key: Unknown<'_>) -> napi::Result<bool> {
        run(&env, || {
            let key = args::string(key, "key")?;
            Ok(self.store.exists_in_memory(&key))
        })
    }

    /// Number of entries in memory (expired ones not yet removed included).
    #[napi]
    pub fn size(&self) -> f64 {
        num(self.store.size() as u64)
    }

    /// Removes every entry; returns how many there were.
    #[napi]
    pub fn clear(&self) -> f64 {
        num(u64::from(self.store.clear(false)))
    }

    /// Sum of the entries' costs (key length plus MessagePack size of the
    /// value, in bytes). O(1).
    #[napi]
    pub fn estimated_cost(&self) -> f64 {
        num(self.store.owned_entry_cost())
    }

    /// The values of `keys`, in order (`undefined` where nothing is
    /// stored). One call for many keys: cheaper per key than `get`.
    #[napi(
        ts_args_type = "keys: string[]",
        ts_return_type = "Array<StorageValue | undefined>"
    )]
    pub fn get_many<'e>(&self, env: &'e Env, keys: Unknown<'_>) -> napi::Result<Unknown<'e>> {
        run(env, || {
            let keys = args::array(keys, "keys")?;
            let out = Out::new(env)?;
            let mut records = Vec::with_capacity(keys.len() as usize);
            for i in 0..keys.len() {
                let key = args::string(keys.get_element(i)?, args::Item("keys", i, ""))?;
                records.push(block_on(self.store.get(&key, true))?);
            }
            Ok(out.records(records.iter().map(|r| r.as_ref().map(|r| &r.value)))?)
        })
    }

    /// Stores many entries: an array of `[key, value]` pairs or a `Map`.
    /// Every value is checked before anything is written; returns how many
    /// were written. `options` as for `put`, for every entry.
    #[napi(
        ts_args_type = "entries: Array<[string, StorageValue]> | Map<string, StorageValue>, options?: PutOptions"
    )]
    pub fn put_many(
        &self,
        env: Env,
        entries: Unknown<'_>,
        options: Option<Unknown<'_>>,
    ) -> napi::Result<f64> {
        run(&env, || {
            let entries = args::entries_arg(&env, entries, "entries")?;
            let expiry = args::expiry(options, "options")?;
            let count = entries.len();
            for (key, record) in entries {
                self.write(&key, record, expiry)?;
            }
            Ok(num(count as u64))
        })
    }

    /// A page of at most `size` keys from `cursor` (`null` / `undefined` /
    /// empty to start). Pass the returned `cursor` to get the next page
    /// until `finished`. Every key present for the whole iteration is
    /// returned; with no writes in between, each exactly once.
    #[napi(
        ts_args_type = "cursor: Uint8Array | null | undefined, size: number",
        ts_return_type = "KeysPage"
    )]
    pub fn fetch_keys<'e>(
        &self,
        env: &'e Env,
        cursor: Option<Unknown<'_>>,
        size: Unknown<'_>,
    ) -> napi::Result<Unknown<'e>> {
        run(env, || {
            let cursor = args::cursor(cursor)?;
            let size = args::page_size(size)?;
            let page = self.store.fetch_keys(&cursor, size)?;
            let out = Out::new(env)?;
            let items = out.strings(page.items.iter().map(String::as_str))?;
            Ok(out.page(items, &page.next_cursor)?)
        })
    }

    /// As `fetchKeys`, with `[key, value]` pairs.
    #[napi(
        ts_args_type = "cursor: Uint8Array | null | undefined, size: number",
        ts_return_type = "EntriesPage"
    )]
    pub fn fetch_entries<'e>(
        &self,
        env: &'e Env,
        cursor: Option<Unknown<'_>>,
        size: Unknown<'_>,
    ) -> napi::Result<Unknown<'e>> {
        run(env, || {
            let cursor = args::cursor(cursor)?;
            let size = args::page_size(size)?;
            let page = self.store.fetch_entries(&cursor, size)?;
            let out = Out::new(env)?;
            let items = out.pairs(page.items.iter().map(|(k, r)| (k.as_str(), &r.value)))?;
            Ok(out.page(items, &page.next_cursor)?)
        })
    }

    /// Iterates over the keys, a page of 1000 at a time through the cursor
    /// (same guarantees as `fetchKeys`).
    #[napi]
    pub fn keys(&self) -> KeyIterator {
        KeyIterator::new(Arc::clone(&self.store))
    }

    /// `for (const key of storage)`: the same as `keys()`.
    #[napi(well_known_symbol = "iterator")]
    pub fn iterator(&self) -> KeyIterator {
        self.keys()
    }

    /// Up to `count` distinct live entries chosen uniformly at random, as
    /// `[key, value]` pairs. Cost independent of the store's size.
    #[napi(
        ts_args_type = "count: number",
        ts_return_type = "Array<[string, StorageValue]>"
    )]
    pub fn random_samples<'e>(
        &self,
        env: &'e Env,
        count: Unknown<'_>,
    ) -> napi::Result<Unknown<'e>> {
        run(env, || {
            let count = args::integer(count, "count", 0)?;
            let samples = self
                .store
                .random_samples(usize::try_from(count).unwrap_or(usize::MAX));
            Ok(Out::new(env)?.pairs(samples.iter().map(|(k, r)| (k.as_str(), &r.value)))?)
        })
    }

    /// Counters at this moment.
    #[napi]
    pub fn stats(&self) -> StoreStats {
        StoreStats::new(&self.store.stats(), self.subscriptions.errors())
    }

    /// One bounded maintenance pass: removes some expired entries (at most
    /// max(100, 10 % of the size) looked at, resuming where the last pass
    /// stopped) and evicts back within the bounds.
    #[napi]
    pub fn maintain(&self) -> MaintenanceReport {
        MaintenanceReport::from(self.store.maintain())
    }

    /// Calls `callback` with a `StorageEvent` for every change from now on
    /// (put, update, remove, evict, expire, clear). Events are queued by the
    /// thread that made the change, after the store released its locks, and
    /// delivered on this JavaScript thread in a later turn of the event
    /// loop, in the order they happened. A callback that throws does not
    /// stop the others or the store: the error is counted
    /// (`stats().observerErrors`) and emitted as a process warning. A
    /// subscription does not keep the process alive. Returns an id for
    /// `unsubscribe`.
    #[napi(ts_args_type = "callback: (event: StorageEvent) => void")]
    pub fn subscribe(&self, env: Env, callback: Unknown<'_>) -> napi::Result<u32> {
        run(&env, || self.subscriptions.subscribe(&env, callback))
    }

    /// Stops the subscription `id`; events not yet delivered are dropped.
    /// Returns whether it was subscribed.
    #[napi(ts_args_type = "id: number")]
    pub fn unsubscribe(&self, env: Env, id: Unknown<'_>) -> napi::Result<bool> {
        run(&env, || {
            let id = args::integer(id, "id", 0)?;
            Ok(u32::try_from(id).is_ok_and(|id| self.subscriptions.unsubscribe(id)))
        })
    }

    /// Stores a record given as MessagePack bytes (TopGun's wire format, as
    /// `encode` writes). Returns `true` when a live value was replaced.
    #[napi(ts_args_type = "key: string, bytes: Uint8Array, options?: PutOptions")]
    pub fn put_msgpack(
        &self,
        env: Env,
        key: Unknown<'_>,
        bytes: Unknown<'_>,
        options: Option<Unknown<'_>>,
    ) -> napi::Result<bool> {
        run(&env, || {
            let key = args::string(key, "key")?;
            let record = decode_record_value(&args::bytes(bytes, "bytes")?)?;
            let expiry = args::expiry(options, "options")?;
            self.write(&key, record, expiry)
        })
    }

    /// The live value under `key` as MessagePack bytes, or `undefined`.
    /// Counts as an access, as `get`.
    #[napi(ts_args_type = "key: string", ts_return_type = "Buffer | undefined")]
    pub fn get_msgpack<'e>(&self, env: &'e Env, key: Unknown<'_>) -> napi::Result<Unknown<'e>> {
        run(env, || {
            let key = args::string(key, "key")?;
            match block_on(self.store.get(&key, true))? {
                Some(record) => Ok(BufferSlice::copy_from(
                    env,
                    encode_record_value(&record.value),
                )?
                .to_unknown()),
                None => Ok(().into_unknown(env)?),
            }
        })
    }

    /// @internal The byte path of `get` (`lib/packed.js`): the record's
    /// length in the scratch buffer, `undefined`, or the record as an
    /// object (see `src/packed.rs`). Same checks, counting and errors as
    /// `get`.
    #[napi(js_name = "__getPacked", skip_typescript)]
    pub fn get_packed<'e>(&self, env: &'e Env, key: Unknown<'_>) -> napi::Result<Unknown<'e>> {
        run(env, || {
            let key = args::string(key, "key")?;
            if !self.store.loads_misses() {
                if let Some(read) = packed::read_in_place(env, &*self.store, &key)? {
                    return Ok(read);
                }
            }
            let record = block_on(self.store.get(&key, true))?;
            Ok(packed::one(env, record.as_ref().map(|r| &r.value))?)
        })
    }

    /// @internal The byte path of `getMany` (`lib/packed.js`, see
    /// `src/packed.rs`). Same checks, counting and errors as `getMany`.
    #[napi(js_name = "__getManyPacked", skip_typescript)]
    pub fn get_many_packed<'e>(
        &self,
        env: &'e Env,
        keys: Unknown<'_>,
    ) -> napi::Result<Unknown<'e>> {
        run(env, || {
            let keys = args::array(keys, "keys")?;
            let in_place = !self.store.loads_misses();
            let mut batch = packed::Batch::new(keys.len() as usize)?;
            for i in 0..keys.len() {
                let key = args::string(keys.get_element(i)?, args::Item("keys", i, ""))?;
                if !(in_place && batch.read_in_place(&*self.store, &key)) {
                    batch.push(block_on(self.store.get(&key, true))?.map(|r| r.value));
                }
            }
            Ok(batch.finish(env)?)
        })
    }

    /// @internal The byte path of `put` (`lib/packed.js`): the record as
    /// msgpackr wrote it. `null` when the bytes are not such a record
    /// (`put` with the value then reports the error); otherwise as `put`.
    #[napi(js_name = "__putPacked", skip_typescript)]
    pub fn put_packed<'e>(
        &self,
        env: &'e Env,
        key: Unknown<'_>,
        bytes: Unknown<'_>,
        options: Option<Unknown<'_>>,
    ) -> napi::Result<Unknown<'e>> {
        run(env, || {
            let key = args::string(key, "key")?;
            let Some(record) = packed::record_from_js_bytes(&args::bytes(bytes, "bytes")?) else {
                return Ok(napi::bindgen_prelude::Null.into_unknown(env)?);
            };
            let expiry = args::expiry(options, "options")?;
            Ok(self.write(&key, record, expiry)?.into_unknown(env)?)
        })
    }

    /// @internal The byte path of `putMany` (`lib/packed.js`): the
    /// `[key, value]` pairs as msgpackr wrote them. `null` when the bytes
    /// are not such pairs (`putMany` with the entries then reports the
    /// error); otherwise as `putMany`.
    #[napi(js_name = "__putManyPacked", skip_typescript)]
    pub fn put_many_packed<'e>(
        &self,
        env: &'e Env,
        bytes: Unknown<'_>,
        options: Option<Unknown<'_>>,
    ) -> napi::Result<Unknown<'e>> {
        run(env, || {
            let Some(entries) = packed::entries_from_js_bytes(&args::bytes(bytes, "bytes")?) else {
                return Ok(napi::bindgen_prelude::Null.into_unknown(env)?);
            };
            let expiry = args::expiry(options, "options")?;
            let count = entries.len();
            for (key, record) in entries {
                self.write(&key, record, expiry)?;
            }
            Ok(num(count as u64).into_unknown(env)?)
        })
    }
}

/// Iterator over a store's keys (from `keys()` or `[Symbol.iterator]`),
/// fetching a page of keys at a time through the cursor.
#[napi(iterator)]
pub struct KeyIterator {
    store: Arc<DefaultRecordStore>,
    cursor: IterationCursor,
    page: std::vec::IntoIter<String>,
}

impl KeyIterator {
    fn new(store: Arc<DefaultRecordStore>) -> Self {
        Self {
            store,
            cursor: IterationCursor::start(),
            page: Vec::new().into_iter(),
        }
    }
}

#[napi]
impl Generator for KeyIterator {
    type Yield = String;
    type Next = ();
    type Return = ();

    fn next(&mut self, _value: Option<()>) -> Option<String> {
        loop {
            if let Some(key) = self.page.next() {
                return Some(key);
            }
            if self.cursor.is_finished() {
                return None;
            }
            // The cursor comes from this store, so it cannot be refused.
            let page = self.store.fetch_keys(&self.cursor, ITERATION_PAGE).ok()?;
            self.cursor = page.next_cursor;
            self.page = page.items.into_iter();
        }
    }
}

/// Decodes MessagePack bytes (TopGun's wire format) into a `StorageValue`.
///
/// Throws `TypeError` if `bytes` is not a `Buffer` / `Uint8Array`,
/// `StorageError` (`ERR_MALFORMED_VALUE`, `ERR_VALUE_SHAPE`,
/// `ERR_VALUE_RANGE`) if the bytes are not a valid record.
#[napi(ts_args_type = "bytes: Uint8Array", ts_return_type = "StorageValue")]
pub fn decode<'e>(env: &'e Env, bytes: Unknown<'_>) -> napi::Result<Unknown<'e>> {
    run(env, || {
        let record = decode_record_value(&args::bytes(bytes, "bytes")?)?;
        Ok(Out::new(env)?.record(&record)?)
    })
}

/// Encodes a `StorageValue` as MessagePack bytes (canonical, the same bytes
/// the C and Python bindings write).
///
/// Throws `TypeError` for a value that is not an object; `StorageError`
/// for a wrong shape.
#[napi(ts_args_type = "value: StorageValue")]
pub fn encode<'e>(env: &'e Env, value: Unknown<'_>) -> napi::Result<BufferSlice<'e>> {
    run(env, || {
        let record = js_to_record(value, "value")?;
        Ok(BufferSlice::copy_from(env, encode_record_value(&record))?)
    })
}

/// The TopGun partition (0..270) that owns `key`: FNV-1a over the key's
/// UTF-16 code units, modulo 271, as TopGun's servers route keys; for every
/// JavaScript string, lone surrogates included (hashed as the units they
/// are, not converted).
#[napi(ts_args_type = "key: string")]
pub fn partition_for_key(env: Env, key: Unknown<'_>) -> napi::Result<u32> {
    run(&env, || {
        if key.get_type()? != ValueType::String {
            return Err(Failure::type_error(format!(
                "key must be a string, got {}",
                describe(&key)
            )));
        }
        let units = Utf16String::from_unknown(key)?;
        Ok(topgun_storage_core::partition_for_units(
            units.iter().copied(),
        ))
    })
}

/// Number of partitions of every TopGun map (271).
#[napi]
pub const PARTITION_COUNT: u32 = topgun_storage_core::PARTITION_COUNT;
