//! A benchmark baseline (N1 in docs/benchmarks.md): a raw
//! `DashMap<String, RecordValue>` behind the same N-API argument checks and
//! value conversions as `Storage`, with none of the record store's logic
//! (no metadata, expiry, eviction, statistics or observers). Exported as
//! `__BenchRawMap` (marked `@internal` in the typings); not part of the API.

use crate::args;
use crate::convert::{js_to_record, Out};
use crate::errors::run;
use dashmap::DashMap;
use napi::bindgen_prelude::Unknown;
use napi::Env;
use napi_derive::napi;
use topgun_storage_core::RecordValue;

/// @internal Benchmark baseline (raw DashMap, same conversions); not part of the API.
#[napi(js_name = "__BenchRawMap")]
pub struct BenchRawMap {
    map: DashMap<String, RecordValue>,
}

#[napi]
impl BenchRawMap {
    /// An empty map.
    #[napi(constructor)]
    pub fn new() -> Self {
        Self {
            map: DashMap::new(),
        }
    }

    /// Inserts (converting the value as `Storage.put` does).
    #[napi]
    pub fn put(&self, env: Env, key: Unknown<'_>, value: Unknown<'_>) -> napi::Result<bool> {
        run(&env, || {
            let key = args::string(key, "key")?;
            let record = js_to_record(value, "value")?;
            Ok(self.map.insert(key, record).is_some())
        })
    }

    /// Looks up and clones the value, converting it as `Storage.get` does.
    #[napi]
    pub fn get<'e>(&self, env: &'e Env, key: Unknown<'_>) -> napi::Result<Unknown<'e>> {
        run(env, || {
            let key = args::string(key, "key")?;
            let value = self.map.get(&key).map(|v| v.value().clone());
            Ok(Out::new(env)?.optional_record(value.as_ref())?)
        })
    }
}

impl Default for BenchRawMap {
    fn default() -> Self {
        Self::new()
    }
}
