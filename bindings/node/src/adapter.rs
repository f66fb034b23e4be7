//! `MapStorage`: TopGun's `IServerStorage` semantics (the core's
//! [`topgun_storage_core::MapStorage`]) as a synchronous class. The
//! package's `TopgunStorageAdapter` (`lib/adapter.js`) wraps it in the
//! Promise-returning `IServerStorage` interface.
//!
//! Each key lives in the record store of its (map, partition), routed by
//! the core's `partition_for_key`; `loadAllKeys` walks every partition's
//! cursor. The large reads (`loadAllAsync`, `loadAllKeysAsync`) run the
//! store work on libuv's thread pool and build the JavaScript result when
//! they resolve; writes always run on the calling thread, so that writes
//! apply in the order they were made (fire-and-forget writes from TopGun
//! cannot overtake each other).

use crate::args;
use crate::args::entries_arg;
use crate::convert::{js_to_record, Out};
use crate::errors::{run, Failure, Outcome};
use crate::packed;
use napi::bindgen_prelude::{AsyncTask, JsObjectValue, Object, Unknown};
use napi::Env;
use napi::ScopedTask;
use napi_derive::napi;
use std::sync::Arc;
use topgun_storage_core::{Clock, RecordStoreFactory, RecordValue, StorageConfig, StoreError};

/// Every map of a TopGun server in memory, with the semantics of TopGun's
/// `MemoryServerAdapter` (missing key -> `undefined`, `loadAll` returns only
/// the keys found, upsert, idempotent delete, maps isolated, `close` drops
/// everything and later calls throw `ERR_CLOSED`). Synchronous; use
/// `TopgunStorageAdapter` for the Promise-based `IServerStorage`.
#[napi]
pub struct MapStorage {
    pub(crate) inner: Arc<topgun_storage_core::MapStorage>,
}

/// Names accepted in the options of `MapStorage` / `TopgunStorageAdapter`.
pub const MAP_STORAGE_OPTION_NAMES: [&str; 8] = [
    "ttl",
    "maxIdle",
    "maxEntries",
    "maxCost",
    "eviction",
    "samples",
    "clock",
    "maps",
];

/// What the options of `MapStorage` / `TopgunStorageAdapter` configure:
/// every (map, partition) store, the clock, and single maps.
pub struct FactorySettings {
    /// The configuration of every store.
    pub config: StorageConfig,
    /// The manual clock, if one was given.
    pub clock: Option<Arc<dyn Clock>>,
    /// `options.maps`: the configuration of single maps.
    pub maps: Vec<(String, StorageConfig)>,
}

/// Reads the `StorageOptions` of every store and `maps: { [mapName]:
/// StorageOptions }` (whose `clock` is ignored: one clock serves all maps).
///
/// # Errors
/// As [`args::storage_settings`], naming the map.
pub fn factory_settings(object: Option<&Object<'_>>) -> Outcome<FactorySettings> {
    let settings = args::storage_settings(object, "options")?;
    let mut maps = Vec::new();
    if let Some(object) = object {
        let value: Unknown<'_> = object.get_named_property("maps")?;
        if let Some(value) = args::object(Some(value), "options.maps")? {
            for name in args::own_keys(&value)? {
                let what = format!("options.maps[{name:?}]");
                let map_options: Unknown<'_> = value.get_named_property(&name)?;
                let map_object =
                    args::options(Some(map_options), &what, &args::STORAGE_OPTION_NAMES)?;
                maps.push((
                    name,
                    args::storage_settings(map_object.as_ref(), &what)?.config,
                ));
            }
        }
    }
    Ok(FactorySettings {
        config: settings.config,
        clock: settings.clock,
        maps,
    })
}

#[napi]
impl MapStorage {
    /// Options (all optional) are those of `Storage`, applied to the store
    /// of every (map, partition) — so `maxEntries` bounds each partition —
    /// plus `maps: { [mapName]: StorageOptions }` to configure single maps
    /// (their `clock` is ignored: one clock serves all maps).
    #[napi(constructor, ts_args_type = "options?: TopgunStorageAdapterOptions")]
    pub fn new(env: Env, options: Option<Unknown<'_>>) -> napi::Result<Self> {
        run(&env, || {
            let object = args::options(options, "options", &MAP_STORAGE_OPTION_NAMES)?;
            let settings = factory_settings(object.as_ref())?;
            let mut factory = RecordStoreFactory::new(
                settings.config,
                Arc::new(topgun_storage_core::NullDataStore),
                Vec::new(),
            );
            if let Some(clock) = settings.clock {
                factory = factory.with_clock(clock);
            }
            for (name, config) in settings.maps {
                factory.set_map_config(&name, config);
            }
            Ok(Self {
                inner: Arc::new(topgun_storage_core::MapStorage::new(factory)),
            })
        })
    }

    /// Prepares the storage; after `close` it opens it again, empty (as
    /// TopGun's `MemoryServerAdapter` stays usable after `close`).
    /// Repeating it is harmless.
    #[napi]
    pub fn initialize(&self, env: Env) -> napi::Result<()> {
        run(&env, || Ok(self.inner.initialize()?))
    }

    /// Drops every map's data; later calls throw `ERR_CLOSED` until
    /// `initialize` opens the storage again. Closing twice is harmless.
    /// An async read still running resolves complete or rejects with
    /// `ERR_CLOSED`. O(stores + records).
    #[napi]
    pub fn close(&self, env: Env) -> napi::Result<()> {
        run(&env, || Ok(self.inner.close()?))
    }

    /// Whether `close` was called.
    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Number of (map, partition) stores in memory: only writes create one
    /// (a read of a map or partition that holds nothing allocates nothing);
    /// `close` drops them all. O(maps).
    #[napi(getter)]
    pub fn store_count(&self) -> u32 {
        u32::try_from(self.inner.factory().store_count()).unwrap_or(u32::MAX)
    }

    /// The value of `key` in `mapName`, or `undefined`.
    #[napi(
        ts_args_type = "mapName: string, key: string",
        ts_return_type = "StorageValue | undefined"
    )]
    pub fn load<'e>(
        &self,
        env: &'e Env,
        map_name: Unknown<'_>,
        key: Unknown<'_>,
    ) -> napi::Result<Unknown<'e>> {
        run(env, || {
            let (map, key) = args::map_and_key(map_name, key)?;
            let value = self.inner.load(&map, &key)?;
            Ok(Out::new(env)?.optional_record(value.as_ref())?)
        })
    }

    /// The `[key, value]` pairs of the `keys` found in `mapName`, in the
    /// order of `keys` (missing keys left out).
    #[napi(
        ts_args_type = "mapName: string, keys: string[]",
        ts_return_type = "Array<[string, StorageValue]>"
    )]
    pub fn load_all<'e>(
        &self,
        env: &'e Env,
        map_name: Unknown<'_>,
        keys: Unknown<'_>,
    ) -> napi::Result<Unknown<'e>> {
        run(env, || {
            let map = args::string(map_name, "mapName")?;
            let keys = args::string_array(keys, "keys")?;
            let found = self.inner.load_all(&map, &keys)?;
            Ok(Out::new(env)?.pairs(found.iter().map(|(k, v)| (k.as_str(), v)))?)
        })
    }

    /// As `loadAll`, with the lookups on the thread pool.
    #[napi(
        ts_args_type = "mapName: string, keys: string[]",
        ts_return_type = "Promise<Array<[string, StorageValue]>>"
    )]
    pub fn load_all_async(
        &self,
        env: Env,
        map_name: Unknown<'_>,
        keys: Unknown<'_>,
    ) -> napi::Result<AsyncTask<LoadAllTask>> {
        run(&env, || {
            let map = args::string(map_name, "mapName")?;
            let keys = args::string_array(keys, "keys")?;
            Ok(AsyncTask::new(LoadAllTask {
                storage: Arc::clone(&self.inner),
                map,
                keys,
            }))
        })
    }

    /// Every key of `mapName` (order unspecified).
    #[napi(ts_args_type = "mapName: string")]
    pub fn load_all_keys(&self, env: Env, map_name: Unknown<'_>) -> napi::Result<Vec<String>> {
        run(&env, || {
            let map = args::string(map_name, "mapName")?;
            Ok(self.inner.load_all_keys(&map)?)
        })
    }

    /// As `loadAllKeys`, with the walk on the thread pool.
    #[napi(ts_args_type = "mapName: string", ts_return_type = "Promise<string[]>")]
    pub fn load_all_keys_async(
        &self,
        env: Env,
        map_name: Unknown<'_>,
    ) -> napi::Result<AsyncTask<LoadAllKeysTask>> {
        run(&env, || {
            let map = args::string(map_name, "mapName")?;
            Ok(AsyncTask::new(LoadAllKeysTask {
                storage: Arc::clone(&self.inner),
                map,
            }))
        })
    }

    /// Number of entries of `mapName` in memory (summed over its
    /// partitions; O(partitions)).
    #[napi(ts_args_type = "mapName: string")]
    pub fn map_size(&self, env: Env, map_name: Unknown<'_>) -> napi::Result<f64> {
        run(&env, || {
            let map = args::string(map_name, "mapName")?;
            self.inner.ensure_open()?;
            let size: usize = self
                .inner
                .factory()
                .get_all_for_map(&map)
                .iter()
                .map(|s| s.size())
                .sum();
            #[allow(clippy::cast_precision_loss)]
            Ok(size as f64)
        })
    }

    /// Stores `record` under `key` in `mapName` (insert or overwrite).
    #[napi(ts_args_type = "mapName: string, key: string, record: StorageValue")]
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
            Ok(self.inner.store(&map, &key, record)?)
        })
    }

    /// Stores every entry of `records` (a `Map` or an array of `[key,
    /// value]` pairs) in `mapName`. Every value is checked first: a bad one
    /// stores nothing.
    #[napi(
        ts_args_type = "mapName: string, records: Map<string, StorageValue> | Array<[string, StorageValue]>"
    )]
    pub fn store_all(
        &self,
        env: Env,
        map_name: Unknown<'_>,
        records: Unknown<'_>,
    ) -> napi::Result<()> {
        run(&env, || {
            let map = args::string(map_name, "mapName")?;
            let entries = entries_arg(&env, records, "records")?;
            Ok(self.inner.store_all(&map, entries)?)
        })
    }

    /// @internal The byte path of `load` (`lib/packed.js`): the record's
    /// length in the scratch buffer, `undefined`, or the record as an
    /// object (see `src/packed.rs`). Same checks and errors as `load`.
    #[napi(js_name = "__loadPacked", skip_typescript)]
    pub fn load_packed<'e>(
        &self,
        env: &'e Env,
        map_name: Unknown<'_>,
        key: Unknown<'_>,
    ) -> napi::Result<Unknown<'e>> {
        run(env, || {
            let (map, key) = args::map_and_key(map_name, key)?;
            let value = self.inner.load(&map, &key)?;
            Ok(packed::one(env, value.as_ref())?)
        })
    }

    /// @internal The byte path of `loadAll` (`lib/packed.js`): an item per
    /// key of `keys` (`nil` where nothing is stored; see `src/packed.rs`).
    /// Same checks and errors as `loadAll`.
    #[napi(js_name = "__loadAllPacked", skip_typescript)]
    pub fn load_all_packed<'e>(
        &self,
        env: &'e Env,
        map_name: Unknown<'_>,
        keys: Unknown<'_>,
    ) -> napi::Result<Unknown<'e>> {
        run(env, || {
            let map = args::string(map_name, "mapName")?;
            let keys = args::string_array(keys, "keys")?;
            let found = self.inner.load_each(&map, &keys)?;
            let mut batch = packed::Batch::new(found.len())?;
            for record in found {
                batch.push(record);
            }
            Ok(batch.finish(env)?)
        })
    }

    /// @internal The byte path of `store` (`lib/packed.js`): the record as
    /// msgpackr wrote it. `false` when the bytes are not such a record
    /// (`store` with the record then reports the error), else `true`.
    #[napi(js_name = "__storePacked", skip_typescript)]
    pub fn store_packed(
        &self,
        env: Env,
        map_name: Unknown<'_>,
        key: Unknown<'_>,
        bytes: Unknown<'_>,
    ) -> napi::Result<bool> {
        run(&env, || {
            let (map, key) = args::map_and_key(map_name, key)?;
            let Some(record) = packed::record_from_js_bytes(&args::bytes(bytes, "bytes")?) else {
                return Ok(false);
            };
            self.inner.store(&map, &key, record)?;
            Ok(true)
        })
    }

    /// Deletes `key` from `mapName`; deleting a missing key is fine.
    #[napi(ts_args_type = "mapName: string, key: string")]
    pub fn delete(&self, env: Env, map_name: Unknown<'_>, key: Unknown<'_>) -> napi::Result<()> {
        run(&env, || {
            let (map, key) = args::map_and_key(map_name, key)?;
            Ok(self.inner.delete(&map, &key)?)
        })
    }

    /// Deletes every key of `keys` from `mapName`.
    #[napi(ts_args_type = "mapName: string, keys: string[]")]
    pub fn delete_all(
        &self,
        env: Env,
        map_name: Unknown<'_>,
        keys: Unknown<'_>,
    ) -> napi::Result<()> {
        run(&env, || {
            let map = args::string(map_name, "mapName")?;
            let keys = args::string_array(keys, "keys")?;
            Ok(self.inner.delete_all(&map, &keys)?)
        })
    }
}

/// `loadAllAsync`: lookups on the thread pool, conversion on resolve.
pub struct LoadAllTask {
    storage: Arc<topgun_storage_core::MapStorage>,
    map: String,
    keys: Vec<String>,
}

impl<'t> ScopedTask<'t> for LoadAllTask {
    type Output = Result<Vec<(String, RecordValue)>, StoreError>;
    type JsValue = Unknown<'t>;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(self.storage.load_all(&self.map, &self.keys))
    }

    fn resolve(&mut self, env: &'t Env, output: Self::Output) -> napi::Result<Unknown<'t>> {
        match output {
            Ok(found) => Out::new(env)?.pairs(found.iter().map(|(k, v)| (k.as_str(), v))),
            Err(e) => Err(Failure::from(e).into_napi(env)),
        }
    }
}

/// `loadAllKeysAsync`: the partition walk on the thread pool.
pub struct LoadAllKeysTask {
    storage: Arc<topgun_storage_core::MapStorage>,
    map: String,
}

impl<'t> ScopedTask<'t> for LoadAllKeysTask {
    type Output = Result<Vec<String>, StoreError>;
    type JsValue = Vec<String>;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(self.storage.load_all_keys(&self.map))
    }

    fn resolve(&mut self, env: &'t Env, output: Self::Output) -> napi::Result<Vec<String>> {
        output.map_err(|e| Failure::from(e).into_napi(env))
    }
}
