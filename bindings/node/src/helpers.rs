//! JavaScript helper functions the addon calls to build its results.
//!
//! Building an object through N-API costs one `napi_set_named_property` per
//! field, each interning the field name and moving the object through a
//! hidden-class transition: measured here about 1.2-2 µs for a small LWW
//! record. A JavaScript function that returns an object literal does the
//! same in a fraction of that (0.2-0.4 µs including the call), because the
//! JIT builds literals with a fixed shape. So the package entry
//! (`lib/helpers.js`) hands the addon a few such functions once per
//! JavaScript environment (`__init`), kept in the environment's instance
//! data, and every result object (records, pages, events, errors) is made
//! by calling one of them.

use napi::bindgen_prelude::{
    Buffer, Function, FunctionRef, JsObjectValue, JsValuesTupleIntoVec, Object, Unknown,
};
use napi::{sys, Env, JsValue};
use std::cell::RefCell;

/// Arguments of a helper call: already created JavaScript values, any
/// number of them.
pub struct Args(pub Vec<sys::napi_value>);

impl JsValuesTupleIntoVec for Args {
    fn into_vec(self, _env: sys::napi_env) -> napi::Result<Vec<sys::napi_value>> {
        Ok(self.0)
    }
}

/// A helper as kept between calls.
pub type Helper = FunctionRef<Args, Unknown<'static>>;

/// The helpers of one JavaScript environment (see the module docs and
/// `lib/helpers.js` for what each returns).
pub struct Helpers {
    /// `new StorageError(message, code, path)`.
    pub storage_error: Helper,
    /// `(value, millis, counter, nodeId) => LWWRecord`.
    pub lww: Helper,
    /// `(value, millis, counter, nodeId, ttlMs) => LWWRecord`.
    pub lww_ttl: Helper,
    /// `(value, millis, counter, nodeId, tag) => ORMapRecord`.
    pub or_entry: Helper,
    /// `(value, millis, counter, nodeId, tag, ttlMs) => ORMapRecord`.
    pub or_entry_ttl: Helper,
    /// `(records) => ORMapValue`.
    pub or_map: Helper,
    /// `(tags) => ORMapTombstones`.
    pub tombstones: Helper,
    /// `(k1, v1, k2, v2, ...) => object` (own data properties, in order).
    pub object: Helper,
    /// `(target, k1, v1, ...) => target` with the pairs added.
    pub assign: Helper,
    /// `(...items) => items`.
    pub array: Helper,
    /// `(withKeys, ...tagged fields) => records or [key, record] pairs`
    /// (see `Out::batch`).
    pub records: Helper,
    /// `(...arrays) => one array`.
    pub concat: Helper,
    /// `(items, cursor, finished) => page`.
    pub page: Helper,
    /// `(type, key, value, oldValue, reason, isBackup) => StorageEvent`.
    pub event: Helper,
    /// `(value, version, hits, cost, creationTime, lastAccessTime,
    /// lastUpdateTime, lastStoredTime, ttl, maxIdle, expirationTime) =>
    /// StoredRecord`.
    pub stored_record: Helper,
    /// The scratch buffer single reads write their record into
    /// (`lib/packed.js`, see [`crate::packed`]); without one (an entry
    /// that registers none) every read builds objects.
    pub scratch: RefCell<Option<Buffer>>,
}

fn helper(object: &Object<'_>, name: &str) -> napi::Result<Helper> {
    let function: Function<'_, Args, Unknown<'static>> = object.get_named_property(name)?;
    function.create_ref()
}

/// Reads the helpers from the object `lib/helpers.js` exports and keeps them
/// for this environment (replacing an earlier set).
///
/// # Errors
/// A missing or non-function helper.
pub fn init(env: &Env, helpers: Object<'_>) -> napi::Result<()> {
    let set = Helpers {
        storage_error: helper(&helpers, "StorageError")?,
        lww: helper(&helpers, "lww")?,
        lww_ttl: helper(&helpers, "lwwTtl")?,
        or_entry: helper(&helpers, "orEntry")?,
        or_entry_ttl: helper(&helpers, "orEntryTtl")?,
        or_map: helper(&helpers, "orMap")?,
        tombstones: helper(&helpers, "tombstones")?,
        object: helper(&helpers, "object")?,
        assign: helper(&helpers, "assign")?,
        array: helper(&helpers, "array")?,
        records: helper(&helpers, "records")?,
        concat: helper(&helpers, "concat")?,
        page: helper(&helpers, "page")?,
        event: helper(&helpers, "event")?,
        stored_record: helper(&helpers, "storedRecord")?,
        scratch: RefCell::new(helpers.get_named_property("scratch")?),
    };
    env.set_instance_data(set, (), |_| {})
}

/// The helpers of `env`.
///
/// # Errors
/// When the addon was loaded without the package entry (`lib/index.js`),
/// which registers them.
pub fn get(env: &Env) -> napi::Result<&'static Helpers> {
    match env.get_instance_data::<Helpers>()? {
        Some(helpers) => Ok(&*helpers),
        None => Err(napi::Error::new(
            napi::Status::GenericFailure,
            "topgun-storage: the native addon was loaded without its package entry; use require('topgun-storage') or import 'topgun-storage'",
        )),
    }
}

/// Calls `helper` with `args`; returns what it returned.
///
/// # Errors
/// N-API failures, or an exception thrown by the helper.
pub fn call<'e>(
    env: &'e Env,
    helper: &Helper,
    args: Vec<sys::napi_value>,
) -> napi::Result<Unknown<'e>> {
    helper.borrow_back(env)?.call(Args(args))
}

/// Constructs with `helper` (`new helper(...args)`).
///
/// # Errors
/// N-API failures, or an exception thrown by the constructor.
pub fn construct<'e>(
    env: &'e Env,
    helper: &Helper,
    args: Vec<sys::napi_value>,
) -> napi::Result<Unknown<'e>> {
    helper.borrow_back(env)?.new_instance(Args(args))
}

/// The raw handle of a value, for [`Args`].
pub fn raw<'e, V: JsValue<'e>>(value: &V) -> sys::napi_value {
    value.raw()
}
