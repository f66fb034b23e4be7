//! # topgun-storage for Node.js
//!
//! The napi-rs addon behind the npm package `topgun-storage`:
//!
//! * [`storage::Storage`]: one in-memory record store of the core engine
//!   (expiry, bounds with eviction, statistics, observers, cursor
//!   iteration), values in the shape of TopGun's `StorageValue`;
//! * [`adapter::MapStorage`]: TopGun's `IServerStorage` semantics over one
//!   record store per (map, partition), which the package's JavaScript
//!   `TopgunStorageAdapter` exposes with Promises;
//! * [`export`]: `exportTo` / `importFrom` on both classes and
//!   `verifyExport`, Promises over the core's export files;
//! * `encode` / `decode` (MessagePack) and `partitionForKey`.
//!
//! Values cross the boundary as plain JavaScript objects ([`convert`]);
//! failures become `TypeError` or the package's `StorageError`
//! ([`errors`]). The crate has no `unsafe` code of its own; the napi macros
//! generate the FFI glue.

pub mod adapter;
pub mod args;
#[cfg(feature = "bench-baselines")]
pub mod baseline;
pub mod clock;
pub mod convert;
pub mod durable;
pub mod errors;
pub mod export;
pub mod helpers;
pub mod lane;
pub mod observe;
pub mod packed;
pub mod storage;

use napi::bindgen_prelude::Object;
use napi::Env;
use napi_derive::napi;

/// The core's error categories (`"malformed_value"`, ...), from which
/// `lib/errors.js` builds `ErrorCode`. Not part of the API.
#[napi(js_name = "__errorCategories", skip_typescript)]
#[must_use]
pub fn error_categories() -> Vec<&'static str> {
    topgun_storage_core::ErrorCode::ALL
        .iter()
        .map(|c| c.as_str())
        .collect()
}

/// Registers the package's JavaScript helpers (`lib/helpers.js`: the
/// `StorageError` class and the functions that build result objects) for
/// this JavaScript environment. Called once by `lib/index.js`, in every
/// thread that loads the package. Not part of the API.
#[napi(js_name = "__init", skip_typescript)]
pub fn init(env: Env, helpers: Object<'_>) -> napi::Result<()> {
    helpers::init(&env, helpers)
}
