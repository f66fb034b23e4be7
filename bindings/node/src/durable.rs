//! Durable stores: a `Storage` and a `TopgunStorageAdapter` whose data
//! lives in a data store (redb, LMDB, RocksDB, PostgreSQL, or memory behind
//! the write-behind queue), opened from the core's [`DataStoreSpec`].
//!
//! The two classes here are internal: the package's `Storage` and
//! `TopgunStorageAdapter` (`lib/durable.js`) build them when their options
//! name a `path`, a `postgres` connection string or a `backend`, and wrap
//! every call in a Promise. Each method checks and converts its arguments on
//! the JavaScript thread (a wrong type throws `TypeError` at once, a bad
//! value `StorageError`), then queues the work in the store's [`Lane`];
//! `run()` executes what is queued, in call order, on libuv's thread pool.
//! Nothing here touches a disk or a socket on the JavaScript thread.

use crate::args;
use crate::args::entries_arg;
use crate::convert::{js_to_record, num, Out};
use crate::errors::{run, Failure, Outcome};
use crate::lane::{Batch, Done, Job, JobError, JobResult, Lane, Target};
use napi::bindgen_prelude::{AsyncTask, FromNapiValue, JsObjectValue, Null, Object, Unknown};
use napi::{Env, ValueType};
use napi_derive::napi;
use std::sync::Arc;
use topgun_storage_core::codec::{decode_record_value, encode_record_value};
use topgun_storage_core::{
    block_on, BatchOp, CallerProvenance, DataStoreSpec, DefaultRecordStore, ExpiryPolicy,
    MapDataStore, MapStorage, RecordStore, RecordStoreFactory, RecordValue,
};

/// Names a durable store's options add to those of the in-memory classes.
pub const DURABLE_OPTION_NAMES: [&str; 6] = [
    "path",
    "postgres",
    "backend",
    "durability",
    "writeBehind",
    "options",
];

fn string_property(object: &Object<'_>, name: &str) -> Outcome<Option<String>> {
    let value: Unknown<'_> = object.get_named_property(name)?;
    if args::is_absent(&value)? {
        return Ok(None);
    }
    Ok(Some(args::string(value, format!("options.{name}"))?))
}

/// The text form of one entry of `options.options` (core option names,
/// values as text: strings as they are, integers in decimal, booleans as
/// `true` / `false`).
fn option_text(value: Unknown<'_>, what: &str) -> Outcome<String> {
    match value.get_type()? {
        ValueType::String => args::string(value, what),
        ValueType::Boolean => Ok(bool::from_unknown(value)?.to_string()),
        ValueType::Number | ValueType::BigInt => Ok(args::integer(value, what, 0)?.to_string()),
        _ => Err(Failure::type_error(format!(
            "{what} must be a string, a number or a boolean, got {}",
            crate::errors::describe(&value)
        ))),
    }
}

/// The data store a durable store's options describe: `path` (a file for
/// redb, a directory for LMDB and RocksDB) or `postgres` (a connection
/// string), `backend` (default `redb` with a path, `postgres` with a
/// connection string; `memory` needs neither), `durability`, `writeBehind`,
/// and `options` (any other core option by its name: `write_delay_ms`,
/// `wal_dir`, `table_name`, ...; docs/node.md has the table). `extra` maps
/// further option names of the class to core options (`tableName`).
///
/// Every name and value is checked by the core's [`DataStoreSpec`].
///
/// # Errors
/// `TypeError` for a wrong type; `ERR_REJECTED` (the core's message) for an
/// unknown backend or option, a bad value, or a backend not built in;
/// `ERR_INVALID_ARGUMENT` when both `path` and `postgres` are given.
pub fn data_store_spec(object: &Object<'_>, extra: &[(&str, &str)]) -> Outcome<DataStoreSpec> {
    let path = string_property(object, "path")?;
    let postgres = string_property(object, "postgres")?;
    let backend = string_property(object, "backend")?;
    let (backend, location) = match (backend, path, postgres) {
        (_, Some(_), Some(_)) => {
            return Err(Failure::invalid_argument(
                "options.path and options.postgres name two stores: give one",
            ))
        }
        (Some(b), None, Some(_)) if b != "postgres" => {
            return Err(Failure::invalid_argument(format!(
                "options.postgres is a PostgreSQL connection string, but options.backend is {b:?}"
            )))
        }
        (backend, Some(path), None) => (backend.unwrap_or_else(|| "redb".to_owned()), path),
        (_, None, Some(url)) => ("postgres".to_owned(), url),
        (Some(backend), None, None) => (backend, String::new()),
        (None, None, None) => {
            return Err(Failure::invalid_argument(
                "a durable store needs options.path, options.postgres or options.backend",
            ))
        }
    };
    let mut spec = DataStoreSpec::parse(&backend, location)?;
    if let Some(durability) = string_property(object, "durability")? {
        spec.set("durability", &durability)?;
    }
    let write_behind: Unknown<'_> = object.get_named_property("writeBehind")?;
    if !args::is_absent(&write_behind)? {
        if write_behind.get_type()? != ValueType::Boolean {
            return Err(Failure::type_error(format!(
                "options.writeBehind must be a boolean, got {}",
                crate::errors::describe(&write_behind)
            )));
        }
        spec.set(
            "write_behind",
            &bool::from_unknown(write_behind)?.to_string(),
        )?;
    }
    for (name, option) in extra {
        let value: Unknown<'_> = object.get_named_property(name)?;
        if !args::is_absent(&value)? {
            spec.set(option, &option_text(value, &format!("options.{name}"))?)?;
        }
    }
    let options: Unknown<'_> = object.get_named_property("options")?;
    if let Some(options) = args::object(Some(options), "options.options")? {
        for name in args::own_keys(&options)? {
            let value: Unknown<'_> = options.get_named_property(&name)?;
            if !args::is_absent(&value)? {
                spec.set(
                    &name,
                    &option_text(value, &format!("options.options[{name:?}]"))?,
                )?;
            }
        }
    }
    Ok(spec)
}

/// The open side of a durable `Storage`: its record store and data store.
pub struct OpenStore {
    store: Arc<DefaultRecordStore>,
    data_store: Arc<dyn MapDataStore>,
}

impl OpenStore {
    /// A put; `true` when a live value was replaced, a record only on disk
    /// included (checked, not loaded).
    fn put(&self, key: &str, record: RecordValue, expiry: ExpiryPolicy) -> JobResult {
        let old =
            block_on(
                self.store
                    .put_replacing(key, record, expiry, CallerProvenance::Client),
            )?;
        Ok(Done::Bool(old.is_some()))
    }
}

impl Target for OpenStore {
    fn close(&self) -> Result<(), JobError> {
        Ok(block_on(self.data_store.close())?)
    }

    fn store_batch(
        &self,
        _map: &str,
        records: Vec<(String, topgun_storage_core::RecordValue)>,
    ) -> Result<(), JobError> {
        let ops = records
            .into_iter()
            .map(|(key, value)| BatchOp::Put {
                key,
                value,
                expiry: ExpiryPolicy::NONE,
            })
            .collect();
        Ok(block_on(self.store.write_batch(ops))?)
    }
}

/// Names accepted in the options of a durable `Storage`.
const STORAGE_NAMES: [&str; 14] = [
    "ttl",
    "maxIdle",
    "maxEntries",
    "maxCost",
    "eviction",
    "samples",
    "clock",
    "path",
    "postgres",
    "backend",
    "durability",
    "writeBehind",
    "options",
    "map",
];

/// The native side of a durable `Storage` (internal: `lib/durable.js`
/// wraps it). Each method queues its call; `run()` executes the queue.
#[napi(js_name = "__DurableStorage")]
pub struct DurableStorageCore {
    lane: Lane<OpenStore>,
}

#[napi]
impl DurableStorageCore {
    /// Checks the options (nothing is opened: `open()` queues that).
    #[napi(constructor, skip_typescript)]
    pub fn new(env: Env, options: Unknown<'_>) -> napi::Result<Self> {
        run(&env, || {
            let object = args::options(Some(options), "options", &STORAGE_NAMES)?
                .ok_or_else(|| Failure::type_error("options must be an object"))?;
            let spec = data_store_spec(&object, &[])?;
            let settings = args::storage_settings(Some(&object), "options")?;
            let map = string_property(&object, "map")?.unwrap_or_else(|| "default".to_owned());
            let opener = move || -> Result<OpenStore, JobError> {
                let data_store = spec.open()?;
                let store = Arc::new(DefaultRecordStore::standalone_over(
                    &map,
                    settings.config,
                    Arc::clone(&data_store),
                    settings.clock.clone(),
                ));
                Ok(OpenStore { store, data_store })
            };
            Ok(Self {
                lane: Lane::new(
                    "the storage is closed: open() opens it again",
                    Box::new(opener),
                ),
            })
        })
    }

    /// Runs every queued call (see `crate::lane`).
    #[napi(skip_typescript)]
    pub fn run(&self) -> AsyncTask<Batch<OpenStore>> {
        AsyncTask::new(self.lane.batch())
    }

    /// Queues the open.
    #[napi(skip_typescript)]
    pub fn open(&self) {
        self.lane.push(Job::Open);
    }

    /// Queues the close.
    #[napi(skip_typescript)]
    pub fn close(&self) {
        self.lane.push(Job::Close);
    }

    /// Queues a put; resolves `true` when a live value was replaced.
    #[napi(skip_typescript)]
    pub fn put(
        &self,
        env: Env,
        key: Unknown<'_>,
        value: Unknown<'_>,
        options: Option<Unknown<'_>>,
    ) -> napi::Result<()> {
        run(&env, || {
            let key = args::string(key, "key")?;
            let record = js_to_record(value, "value")?;
            let expiry = args::expiry(options, "options")?;
            self.lane.work(move |t| t.put(&key, record, expiry));
            Ok(())
        })
    }

    /// Queues a put of many entries as one data-store batch (all or
    /// nothing); resolves the number written.
    #[napi(skip_typescript)]
    pub fn put_many(
        &self,
        env: Env,
        entries: Unknown<'_>,
        options: Option<Unknown<'_>>,
    ) -> napi::Result<()> {
        run(&env, || {
            let entries = entries_arg(&env, entries, "entries")?;
            let expiry = args::expiry(options, "options")?;
            self.lane.work(move |t| {
                #[allow(clippy::cast_precision_loss)]
                let count = entries.len() as f64;
                let ops = entries
                    .into_iter()
                    .map(|(key, value)| BatchOp::Put { key, value, expiry })
                    .collect();
                block_on(t.store.write_batch(ops))?;
                Ok(Done::Number(count))
            });
            Ok(())
        })
    }

    /// Queues a get (memory, else the data store).
    #[napi(skip_typescript)]
    pub fn get(&self, env: Env, key: Unknown<'_>) -> napi::Result<()> {
        run(&env, || {
            let key = args::string(key, "key")?;
            self.lane.work(move |t| {
                let record = block_on(t.store.get(&key, true))?;
                Ok(Done::Value(record.map(|r| r.value)))
            });
            Ok(())
        })
    }

    /// Queues a get of many keys.
    #[napi(skip_typescript)]
    pub fn get_many(&self, env: Env, keys: Unknown<'_>) -> napi::Result<()> {
        run(&env, || {
            let keys = args::string_array(keys, "keys")?;
            self.lane.work(move |t| {
                let mut values = Vec::with_capacity(keys.len());
                for key in &keys {
                    values.push(block_on(t.store.get(key, true))?.map(|r| r.value));
                }
                Ok(Done::Values(values))
            });
            Ok(())
        })
    }

    /// Queues a presence check (memory, else the data store, not loaded;
    /// nothing counted or touched).
    #[napi(skip_typescript)]
    pub fn has(&self, env: Env, key: Unknown<'_>) -> napi::Result<()> {
        run(&env, || {
            let key = args::string(key, "key")?;
            self.lane
                .work(move |t| Ok(Done::Bool(block_on(t.store.contains_live(&key))?)));
            Ok(())
        })
    }

    /// Queues a remove (memory and the data store); resolves `true` when a
    /// live value was removed.
    #[napi(skip_typescript)]
    pub fn remove(&self, env: Env, key: Unknown<'_>) -> napi::Result<()> {
        run(&env, || {
            let key = args::string(key, "key")?;
            self.lane.work(move |t| {
                // A record only on disk is removed too.
                let old = block_on(t.store.remove_replacing(&key, CallerProvenance::Client))?;
                Ok(Done::Bool(old.is_some()))
            });
            Ok(())
        })
    }

    /// Queues a flush: everything acknowledged so far made durable as with
    /// durability `fsync` (a write-behind queue drained first).
    #[napi(skip_typescript)]
    pub fn flush(&self) {
        self.lane.work(|t| {
            block_on(t.data_store.flush())?;
            Ok(Done::Unit)
        });
    }

    /// Queues a warm-up: memory filled from the data store as far as the
    /// bounds allow; resolves the number of records loaded.
    #[napi(skip_typescript)]
    pub fn warm_up(&self) {
        self.lane.work(|t| {
            let progress = block_on(
                t.store
                    .warm_up(&mut |_| std::ops::ControlFlow::Continue(())),
            )?;
            #[allow(clippy::cast_precision_loss)]
            Ok(Done::Number(progress.loaded as f64))
        });
    }

    /// Queues a put of a record given as MessagePack bytes (decoded and
    /// checked at once); resolves as `put`.
    #[napi(skip_typescript)]
    pub fn put_msgpack(
        &self,
        env: Env,
        key: Unknown<'_>,
        bytes: Unknown<'_>,
        options: Option<Unknown<'_>>,
    ) -> napi::Result<()> {
        run(&env, || {
            let key = args::string(key, "key")?;
            let record = decode_record_value(&args::bytes(bytes, "bytes")?)?;
            let expiry = args::expiry(options, "options")?;
            self.lane.work(move |t| t.put(&key, record, expiry));
            Ok(())
        })
    }

    /// Queues a get (memory, else the data store, as `get`); resolves the
    /// value as MessagePack bytes or `undefined`.
    #[napi(skip_typescript)]
    pub fn get_msgpack(&self, env: Env, key: Unknown<'_>) -> napi::Result<()> {
        run(&env, || {
            let key = args::string(key, "key")?;
            self.lane.work(move |t| {
                let record = block_on(t.store.get(&key, true))?;
                Ok(Done::Bytes(record.map(|r| encode_record_value(&r.value))))
            });
            Ok(())
        })
    }

    /// Queues a get with metadata (memory, else the data store, as `get`:
    /// counted as an access, the metadata returned includes it).
    #[napi(skip_typescript)]
    pub fn get_record(&self, env: Env, key: Unknown<'_>) -> napi::Result<()> {
        run(&env, || {
            let key = args::string(key, "key")?;
            self.lane.work(move |t| {
                let record = block_on(t.store.get(&key, true))?;
                let expiry = t.store.config().default_expiry();
                Ok(Done::Record(record.map(|r| Box::new((r, expiry)))))
            });
            Ok(())
        })
    }

    /// Queues the sum of the costs of the entries in memory.
    #[napi(skip_typescript)]
    pub fn estimated_cost(&self) {
        self.lane
            .work(|t| Ok(Done::Number(num(t.store.owned_entry_cost()))));
    }

    /// Queues a clear of memory and the data store (page by page, 1,000
    /// keys per data-store batch: after a failure the pages before it are
    /// gone); resolves how many keys were removed (on disk, expired ones
    /// not yet deleted included, plus those only in memory), as C and
    /// Python.
    #[napi(skip_typescript)]
    pub fn clear(&self) {
        self.lane
            .work(|t| Ok(Done::Number(num(block_on(t.store.clear_all())?))));
    }

    /// Queues one bounded maintenance pass over memory.
    #[napi(skip_typescript)]
    pub fn maintain(&self) {
        self.lane
            .work(|t| Ok(Done::Maintenance(t.store.maintain())));
    }

    /// Queues a page of keys of memory (the in-memory `fetchKeys`, as
    /// Python's durable `fetch_keys`: what the data store holds beyond
    /// memory is not listed until `warmUp` or a read loads it).
    #[napi(skip_typescript)]
    pub fn fetch_keys(
        &self,
        env: Env,
        cursor: Option<Unknown<'_>>,
        size: Unknown<'_>,
    ) -> napi::Result<()> {
        run(&env, || {
            let cursor = args::cursor(cursor)?;
            let size = args::page_size(size)?;
            self.lane.work(move |t| {
                let page = t.store.fetch_keys(&cursor, size)?;
                Ok(Done::KeysPage(page.items, page.next_cursor))
            });
            Ok(())
        })
    }

    /// As `fetchKeys`, with `[key, value]` pairs.
    #[napi(skip_typescript)]
    pub fn fetch_entries(
        &self,
        env: Env,
        cursor: Option<Unknown<'_>>,
        size: Unknown<'_>,
    ) -> napi::Result<()> {
        run(&env, || {
            let cursor = args::cursor(cursor)?;
            let size = args::page_size(size)?;
            self.lane.work(move |t| {
                let page = t.store.fetch_entries(&cursor, size)?;
                let items = page.items.into_iter().map(|(k, r)| (k, r.value)).collect();
                Ok(Done::EntriesPage(items, page.next_cursor))
            });
            Ok(())
        })
    }

    /// Queues a draw of up to `count` distinct live entries of memory.
    #[napi(skip_typescript)]
    pub fn random_samples(&self, env: Env, count: Unknown<'_>) -> napi::Result<()> {
        run(&env, || {
            let count = args::integer(count, "count", 0)?;
            let count = usize::try_from(count).unwrap_or(usize::MAX);
            self.lane.work(move |t| {
                let samples = t.store.random_samples(count);
                Ok(Done::Pairs(
                    samples.into_iter().map(|(k, r)| (k, r.value)).collect(),
                ))
            });
            Ok(())
        })
    }

    /// Queues a read of the store's counters.
    #[napi(skip_typescript)]
    pub fn stats(&self) {
        self.lane.work(|t| Ok(Done::Stats(t.store.stats())));
    }

    /// Entries in memory now (0 when not open). Synchronous: reads memory
    /// only.
    #[napi(skip_typescript)]
    pub fn size(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        self.lane.current().map_or(0.0, |t| t.store.size() as f64)
    }
}

/// The open side of a durable adapter.
pub struct OpenMaps(MapStorage);

impl Target for OpenMaps {
    fn close(&self) -> Result<(), JobError> {
        Ok(self.0.close()?)
    }

    fn store_batch(
        &self,
        map: &str,
        records: Vec<(String, topgun_storage_core::RecordValue)>,
    ) -> Result<(), JobError> {
        Ok(self.0.store_all(map, records)?)
    }
}

/// The native side of a durable `TopgunStorageAdapter` (internal:
/// `lib/durable.js` wraps it). Each method queues its call; `run()`
/// executes the queue.
#[napi(js_name = "__DurableMapStorage")]
pub struct DurableMapStorageCore {
    lane: Lane<OpenMaps>,
}

#[napi]
impl DurableMapStorageCore {
    /// Checks the options (nothing is opened: `open()` queues that).
    #[napi(constructor, skip_typescript)]
    pub fn new(env: Env, options: Unknown<'_>) -> napi::Result<Self> {
        run(&env, || {
            let mut names = crate::adapter::MAP_STORAGE_OPTION_NAMES.to_vec();
            names.extend(DURABLE_OPTION_NAMES);
            names.push("tableName");
            let object = args::options(Some(options), "options", &names)?
                .ok_or_else(|| Failure::type_error("options must be an object"))?;
            let spec = data_store_spec(&object, &[("tableName", "table_name")])?;
            let settings = crate::adapter::factory_settings(Some(&object))?;
            let opener = move || -> Result<OpenMaps, JobError> {
                let data_store = spec.open()?;
                let mut factory = RecordStoreFactory::new(settings.config, data_store, Vec::new());
                if let Some(clock) = &settings.clock {
                    factory = factory.with_clock(Arc::clone(clock));
                }
                for (map, config) in &settings.maps {
                    factory.set_map_config(map, *config);
                }
                Ok(OpenMaps(MapStorage::new(factory)))
            };
            Ok(Self {
                lane: Lane::new(
                    "the adapter is not open: call initialize() (again after close())",
                    Box::new(opener),
                ),
            })
        })
    }

    /// Runs every queued call (see `crate::lane`).
    #[napi(skip_typescript)]
    pub fn run(&self) -> AsyncTask<Batch<OpenMaps>> {
        AsyncTask::new(self.lane.batch())
    }

    /// Queues the open (`initialize`).
    #[napi(skip_typescript)]
    pub fn open(&self) {
        self.lane.push(Job::Open);
    }

    /// Queues the close.
    #[napi(skip_typescript)]
    pub fn close(&self) {
        self.lane.push(Job::Close);
    }

    /// Queues a `load`.
    #[napi(skip_typescript)]
    pub fn load(&self, env: Env, map_name: Unknown<'_>, key: Unknown<'_>) -> napi::Result<()> {
        run(&env, || {
            let (map, key) = args::map_and_key(map_name, key)?;
            self.lane
                .work(move |t| Ok(Done::Value(t.0.load(&map, &key)?)));
            Ok(())
        })
    }

    /// The value of `key` in `mapName` when memory holds it, read at once
    /// (memory only: no I/O); `null` when it does not (or the adapter is not
    /// open): then `load` must queue. Only valid while nothing is queued or
    /// running (`lib/durable.js` checks), so that it sees every earlier call.
    #[napi(skip_typescript)]
    pub fn load_resident<'e>(
        &self,
        env: &'e Env,
        map_name: Unknown<'_>,
        key: Unknown<'_>,
    ) -> napi::Result<Unknown<'e>> {
        run(env, || {
            let (map, key) = args::map_and_key(map_name, key)?;
            let out = Out::new(env)?;
            let value = self
                .lane
                .current()
                .and_then(|t| t.0.load_resident(&map, &key).ok().flatten());
            Ok(match value {
                Some(value) => out.record(&value)?,
                None => out.js(Null)?,
            })
        })
    }

    /// As `loadResident` for many keys: the `[key, value]` pairs when
    /// memory holds every key, else `null`.
    #[napi(skip_typescript)]
    pub fn load_all_resident<'e>(
        &self,
        env: &'e Env,
        map_name: Unknown<'_>,
        keys: Unknown<'_>,
    ) -> napi::Result<Unknown<'e>> {
        run(env, || {
            let map = args::string(map_name, "mapName")?;
            let keys = args::string_array(keys, "keys")?;
            let out = Out::new(env)?;
            let Some(target) = self.lane.current() else {
                return Ok(out.js(Null)?);
            };
            let mut found = Vec::with_capacity(keys.len());
            for key in &keys {
                match target.0.load_resident(&map, key) {
                    Ok(Some(value)) => found.push(value),
                    _ => return Ok(out.js(Null)?),
                }
            }
            Ok(out.pairs(keys.iter().map(String::as_str).zip(found.iter()))?)
        })
    }

    /// Queues a `loadAll`.
    #[napi(skip_typescript)]
    pub fn load_all(&self, env: Env, map_name: Unknown<'_>, keys: Unknown<'_>) -> napi::Result<()> {
        run(&env, || {
            let map = args::string(map_name, "mapName")?;
            let keys = args::string_array(keys, "keys")?;
            self.lane
                .work(move |t| Ok(Done::Pairs(t.0.load_all(&map, &keys)?)));
            Ok(())
        })
    }

    /// Queues a `loadAllKeys`.
    #[napi(skip_typescript)]
    pub fn load_all_keys(&self, env: Env, map_name: Unknown<'_>) -> napi::Result<()> {
        run(&env, || {
            let map = args::string(map_name, "mapName")?;
            self.lane
                .work(move |t| Ok(Done::Keys(t.0.load_all_keys(&map)?)));
            Ok(())
        })
    }

    /// Queues a `store` (merged with the stores of the same map queued
    /// right after it: one data-store batch).
    #[napi(skip_typescript)]
    pub fn store(
        &self,
        env: Env,
        map_name: Unknown<'_>,
        key: Unknown<'_>,
        record: Unknown<'_>,
    ) -> napi::Result<()> {
        run(&env, || {
            let (map, key) = args::map_and_key(map_name, key)?;
            let record = js_to_record(record, "record")?;
            self.lane.push(Job::Store {
                map,
                records: vec![(key, record)],
            });
            Ok(())
        })
    }

    /// Queues a `storeAll` (every value checked first).
    #[napi(skip_typescript)]
    pub fn store_all(
        &self,
        env: Env,
        map_name: Unknown<'_>,
        records: Unknown<'_>,
    ) -> napi::Result<()> {
        run(&env, || {
            let map = args::string(map_name, "mapName")?;
            let records = entries_arg(&env, records, "records")?;
            self.lane.push(Job::Store { map, records });
            Ok(())
        })
    }

    /// Queues a `delete`.
    #[napi(skip_typescript)]
    pub fn delete(&self, env: Env, map_name: Unknown<'_>, key: Unknown<'_>) -> napi::Result<()> {
        run(&env, || {
            let (map, key) = args::map_and_key(map_name, key)?;
            self.lane.work(move |t| {
                t.0.delete(&map, &key)?;
                Ok(Done::Unit)
            });
            Ok(())
        })
    }

    /// Queues a `deleteAll`.
    #[napi(skip_typescript)]
    pub fn delete_all(
        &self,
        env: Env,
        map_name: Unknown<'_>,
        keys: Unknown<'_>,
    ) -> napi::Result<()> {
        run(&env, || {
            let map = args::string(map_name, "mapName")?;
            let keys = args::string_array(keys, "keys")?;
            self.lane.work(move |t| {
                t.0.delete_all(&map, &keys)?;
                Ok(Done::Unit)
            });
            Ok(())
        })
    }

    /// Queues a flush: every acknowledged write made durable as with
    /// durability `fsync`.
    #[napi(skip_typescript)]
    pub fn flush(&self) {
        self.lane.work(|t| {
            t.0.flush()?;
            Ok(Done::Unit)
        });
    }
}
