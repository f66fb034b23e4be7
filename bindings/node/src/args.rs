//! Reading and checking JavaScript arguments.
//!
//! Arguments arrive as `Unknown` so that a wrong type becomes a `TypeError`
//! (napi-rs' own conversions throw plain `Error`s) and a value of the right
//! type that can never be valid (a negative TTL, an unknown eviction policy)
//! becomes a `StorageError` with code `ERR_INVALID_ARGUMENT`. The entries
//! of `putMany` / `storeAll` ([`entries_arg`]) are read here too.

use crate::convert::{bigint_to_i64, js_string, js_to_record, MAX_SAFE_INTEGER};
use crate::errors::{describe, Failure, Outcome};
use napi::bindgen_prelude::{
    Array, BigInt, ClassInstance, FromNapiValue, JsObjectValue, Object, TypedArray, TypedArrayType,
    Uint8ArraySlice, Unknown,
};
use napi::{Env, JsValue, KeyCollectionMode, KeyConversion, KeyFilter, ValueType};
use std::fmt::Display;
use std::sync::Arc;
use topgun_storage_core::{Clock, ExpiryPolicy, IterationCursor, RecordValue, StorageConfig};

/// A string argument (a key, a map name), exactly.
///
/// # Errors
/// `TypeError` when `value` is not a string; `ERR_INVALID_ARGUMENT` when it
/// holds a lone surrogate, which has no UTF-8 form (N-API would turn it into
/// U+FFFD, so that `'\ud800'` and `'\udfff'` became one key).
pub fn string(value: Unknown<'_>, what: impl Display) -> Outcome<String> {
    if value.get_type()? != ValueType::String {
        return Err(Failure::type_error(format!(
            "{what} must be a string, got {}",
            describe(&value)
        )));
    }
    js_string(value)?.map_err(|lone| {
        Failure::invalid_argument(format!(
            "{what} holds {lone}; keys and map names must be well-formed Unicode"
        ))
    })
}

/// The `mapName` and `key` arguments of an adapter call, checked as
/// [`string`] checks each (the map name first).
///
/// # Errors
/// As [`string`], naming `mapName` or `key`.
pub fn map_and_key(map_name: Unknown<'_>, key: Unknown<'_>) -> Outcome<(String, String)> {
    Ok((string(map_name, "mapName")?, string(key, "key")?))
}

/// An array of strings (keys).
///
/// # Errors
/// `TypeError` when `value` is not an array or an element is not a string.
pub fn string_array(value: Unknown<'_>, what: &str) -> Outcome<Vec<String>> {
    let array = array(value, what)?;
    let mut out = Vec::with_capacity(array.len() as usize);
    for i in 0..array.len() {
        let item: Unknown<'_> = array.get_element(i)?;
        out.push(string(item, Item(what, i, ""))?);
    }
    Ok(out)
}

/// The name of an element of an argument (`keys[3]`, `entries[2][0] (key)`),
/// formatted only when an error needs it.
pub struct Item<'a>(pub &'a str, pub u32, pub &'a str);

impl Display for Item<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}[{}]{}", self.0, self.1, self.2)
    }
}

/// An array argument.
///
/// # Errors
/// `TypeError` when `value` is not an array.
pub fn array<'e>(value: Unknown<'e>, what: &str) -> Outcome<Array<'e>> {
    if value.get_type()? != ValueType::Object || !value.is_array()? {
        return Err(Failure::type_error(format!(
            "{what} must be an array, got {}",
            describe(&value)
        )));
    }
    Ok(Array::from_unknown(value)?)
}

/// Bytes from a `Buffer` or `Uint8Array`.
///
/// # Errors
/// `TypeError` for anything else.
pub fn bytes<'e>(value: Unknown<'e>, what: &str) -> Outcome<Uint8ArraySlice<'e>> {
    let is_u8 = value.get_type()? == ValueType::Object
        && value.is_typedarray()?
        && TypedArray::from_unknown(value)?.typed_array_type == TypedArrayType::Uint8;
    if !is_u8 {
        return Err(Failure::type_error(format!(
            "{what} must be a Buffer or Uint8Array, got {}",
            describe(&value)
        )));
    }
    Ok(Uint8ArraySlice::from_unknown(value)?)
}

/// Whether `value` is `undefined` or `null` (an omitted optional argument).
///
/// # Errors
/// N-API failures only.
pub fn is_absent(value: &Unknown<'_>) -> Outcome<bool> {
    Ok(matches!(
        value.get_type()?,
        ValueType::Undefined | ValueType::Null
    ))
}

/// An integer count or size: a number or BigInt in `min..=2^53-1`.
///
/// # Errors
/// `TypeError` for another type; `ERR_INVALID_ARGUMENT` for a fraction,
/// NaN, an infinity or a value below `min`.
pub fn integer(value: Unknown<'_>, what: &str, min: i64) -> Outcome<i64> {
    let n = match value.get_type()? {
        ValueType::Number => {
            let f = f64::from_unknown(value)?;
            #[allow(clippy::cast_precision_loss)]
            let max = MAX_SAFE_INTEGER as f64;
            if f.fract() != 0.0 || f.abs() > max {
                return Err(Failure::invalid_argument(format!(
                    "{what} must be an integer, got {f}"
                )));
            }
            #[allow(clippy::cast_possible_truncation)]
            let n = f as i64;
            n
        }
        ValueType::BigInt => {
            let big = BigInt::from_unknown(value)?;
            bigint_to_i64(&big).ok_or_else(|| {
                Failure::invalid_argument(format!("{what} does not fit a 64-bit integer"))
            })?
        }
        _ => {
            return Err(Failure::type_error(format!(
                "{what} must be a number, got {}",
                describe(&value)
            )))
        }
    };
    if n < min {
        return Err(Failure::invalid_argument(format!(
            "{what} must be at least {min}, got {n}"
        )));
    }
    Ok(n)
}

fn non_negative(value: Unknown<'_>, what: &str) -> Outcome<u64> {
    let n = integer(value, what, 0)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// An object argument, `None` for `undefined` / `null` (or a missing
/// argument).
///
/// # Errors
/// `TypeError` when `value` is another type (or an array).
pub fn object<'e>(value: Option<Unknown<'e>>, what: &str) -> Outcome<Option<Object<'e>>> {
    let Some(value) = value else {
        return Ok(None);
    };
    if is_absent(&value)? {
        return Ok(None);
    }
    if value.get_type()? != ValueType::Object || value.is_array()? {
        return Err(Failure::type_error(format!(
            "{what} must be an object, got {}",
            describe(&value)
        )));
    }
    Ok(Some(Object::from_unknown(value)?))
}

/// The options object of an argument, with its own enumerable keys checked
/// against `allowed`. `None` for `undefined` / `null`.
///
/// # Errors
/// `TypeError` when `value` is not an object; `ERR_INVALID_ARGUMENT` for a
/// key not in `allowed`.
pub fn options<'e>(
    value: Option<Unknown<'e>>,
    what: &str,
    allowed: &[&str],
) -> Outcome<Option<Object<'e>>> {
    let Some(object) = object(value, what)? else {
        return Ok(None);
    };
    for name in own_keys(&object)? {
        if !allowed.contains(&name.as_str()) {
            return Err(Failure::invalid_argument(format!(
                "unknown option `{name}` in {what} (expected one of: {})",
                allowed.join(", ")
            )));
        }
    }
    Ok(Some(object))
}

/// The own enumerable string keys of `object`, in order.
///
/// # Errors
/// N-API failures only.
pub fn own_keys(object: &Object<'_>) -> Outcome<Vec<String>> {
    let names = object.get_all_property_names(
        KeyCollectionMode::OwnOnly,
        KeyFilter::Enumerable,
        KeyConversion::NumbersToStrings,
    )?;
    let mut out = Vec::new();
    for i in 0..names.get_array_length()? {
        let name: Unknown<'_> = names.get_element(i)?;
        if name.get_type()? == ValueType::String {
            out.push(String::from_unknown(name)?);
        }
    }
    Ok(out)
}

/// A property of an options object, `None` when `undefined` or `null`.
fn property<'e>(object: &Object<'e>, name: &str) -> Outcome<Option<Unknown<'e>>> {
    let value: Unknown<'e> = object.get_named_property(name)?;
    Ok(if is_absent(&value)? {
        None
    } else {
        Some(value)
    })
}

/// Names accepted in a `StorageOptions` object.
pub const STORAGE_OPTION_NAMES: [&str; 7] = [
    "ttl",
    "maxIdle",
    "maxEntries",
    "maxCost",
    "eviction",
    "samples",
    "clock",
];

/// A store's configuration and clock, read from `StorageOptions`.
pub struct StoreSettings {
    /// Expiry defaults, bounds, eviction.
    pub config: StorageConfig,
    /// The manual clock, if one was given.
    pub clock: Option<Arc<dyn Clock>>,
}

/// Reads `{ ttl, maxIdle, maxEntries, maxCost, eviction, samples, clock }`
/// from an options object (every field optional).
///
/// # Errors
/// `TypeError` for a field of the wrong type; `ERR_INVALID_ARGUMENT` for a
/// negative or fractional number, `samples < 1` or an unknown policy.
pub fn storage_settings(object: Option<&Object<'_>>, what: &str) -> Outcome<StoreSettings> {
    let mut config = StorageConfig::default();
    let mut clock: Option<Arc<dyn Clock>> = None;
    let Some(object) = object else {
        return Ok(StoreSettings { config, clock });
    };
    if let Some(v) = property(object, "ttl")? {
        config.default_ttl_millis = non_negative(v, &format!("{what}.ttl"))?;
    }
    if let Some(v) = property(object, "maxIdle")? {
        config.default_max_idle_millis = non_negative(v, &format!("{what}.maxIdle"))?;
    }
    if let Some(v) = property(object, "maxEntries")? {
        config.max_entry_count = non_negative(v, &format!("{what}.maxEntries"))?;
    }
    if let Some(v) = property(object, "maxCost")? {
        config.max_total_cost = non_negative(v, &format!("{what}.maxCost"))?;
    }
    if let Some(v) = property(object, "eviction")? {
        let name = string(v, format!("{what}.eviction"))?;
        config.eviction_policy = name
            .parse()
            .map_err(|e| Failure::invalid_argument(format!("{what}.eviction {e}")))?;
    }
    if let Some(v) = property(object, "samples")? {
        let n = integer(v, &format!("{what}.samples"), 1)?;
        config.eviction_sample_count = usize::try_from(n).unwrap_or(usize::MAX);
    }
    if let Some(v) = property(object, "clock")? {
        let instance =
            ClassInstance::<crate::clock::ManualClock>::from_unknown(v).map_err(|_| {
                Failure::type_error(format!(
                    "{what}.clock must be a ManualClock, got {}",
                    describe(&v)
                ))
            })?;
        clock = Some(Arc::new(instance.inner.clone()));
    }
    Ok(StoreSettings { config, clock })
}

/// Reads the per-entry `{ ttl, maxIdle }` of a write (0 = store default).
///
/// # Errors
/// As [`storage_settings`].
pub fn expiry(value: Option<Unknown<'_>>, what: &str) -> Outcome<ExpiryPolicy> {
    let Some(object) = options(value, what, &["ttl", "maxIdle"])? else {
        return Ok(ExpiryPolicy::NONE);
    };
    let mut policy = ExpiryPolicy::NONE;
    if let Some(v) = property(&object, "ttl")? {
        policy.ttl_millis = non_negative(v, &format!("{what}.ttl"))?;
    }
    if let Some(v) = property(&object, "maxIdle")? {
        policy.max_idle_millis = non_negative(v, &format!("{what}.maxIdle"))?;
    }
    Ok(policy)
}

/// Reads the entries of `putMany` / `storeAll`: an array of `[key, value]`
/// pairs, a `Map`, or any other iterable of pairs, from this or any other
/// realm (a `Map` made in a `node:vm` context, as Jest's test environment
/// makes them, is not an `instanceof` this realm's `Map`, so the test is
/// the iterator protocol, as TopGun's own adapters iterate with
/// `for...of`). Every entry is converted before anything is written, so a
/// bad entry changes nothing.
///
/// # Errors
/// `TypeError` for a wrong container, pair, key or value type; the core's
/// shape errors for a bad value (the message names the key).
pub fn entries_arg(
    env: &Env,
    value: Unknown<'_>,
    what: &str,
) -> Outcome<Vec<(String, RecordValue)>> {
    let value = if value.get_type()? == ValueType::Object && !value.is_array()? {
        let global = env.get_global()?;
        let symbol: Unknown<'_> = global.get_named_property("Symbol")?;
        let symbol = symbol.coerce_to_object()?;
        let iterator: Unknown<'_> = symbol.get_named_property("iterator")?;
        let method: Unknown<'_> =
            napi::bindgen_prelude::Object::from_unknown(value)?.get_property(iterator)?;
        if method.get_type()? != ValueType::Function {
            return Err(Failure::type_error(format!(
                "{what} must be a Map, an array or another iterable of [key, value] pairs, got {}",
                crate::errors::describe(&value)
            )));
        }
        // Array.from walks any iterable (a Map of any realm included).
        let array_ctor: Unknown<'_> = global.get_named_property("Array")?;
        let array_ctor = array_ctor.coerce_to_object()?;
        let from: napi::bindgen_prelude::Function<Unknown<'_>, Unknown<'_>> =
            array_ctor.get_named_property("from")?;
        from.apply(array_ctor, value)?
    } else {
        value
    };
    let array = array(value, what)?;
    let mut out = Vec::with_capacity(array.len() as usize);
    for i in 0..array.len() {
        let item: Unknown<'_> = array.get_element(i)?;
        let pair_ok = item.get_type()? == ValueType::Object
            && item.is_array()?
            && Array::from_unknown(item)?.len() == 2;
        if !pair_ok {
            return Err(Failure::type_error(format!(
                "{what}[{i}] must be a [key, value] pair, got {}",
                crate::errors::describe(&item)
            )));
        }
        let pair = Array::from_unknown(item)?;
        let key = string(pair.get_element(0)?, Item(what, i, "[0] (key)"))?;
        let record = js_to_record(pair.get_element(1)?, Item(what, i, "[1] (value)"))
            .map_err(|f| name_key(f, &key))?;
        out.push((key, record));
    }
    Ok(out)
}

/// Prefixes a value error's message with the key it belongs to.
pub fn name_key(failure: Failure, key: &str) -> Failure {
    match failure {
        Failure::Storage {
            code,
            message,
            path,
        } => Failure::Storage {
            code,
            message: format!("value of key {key:?}: {message}"),
            path,
        },
        other => other,
    }
}

/// The cursor argument of a page call (`fetchKeys` / `fetchEntries`):
/// `null` / `undefined` / an empty or all-zero buffer starts; anything else
/// must be a cursor this library returned.
///
/// # Errors
/// `TypeError` for a value that is not a `Buffer` / `Uint8Array`;
/// `ERR_INVALID_CURSOR` for bytes that are not a cursor.
pub fn cursor(value: Option<Unknown<'_>>) -> Outcome<IterationCursor> {
    let Some(value) = value else {
        return Ok(IterationCursor::start());
    };
    if is_absent(&value)? {
        return Ok(IterationCursor::start());
    }
    let bytes = bytes(value, "cursor")?;
    Ok(IterationCursor::from_bytes(&bytes)?)
}

/// The page size argument of a page call. 0 is let through: the core
/// refuses it with its own error.
///
/// # Errors
/// As [`integer`].
pub fn page_size(value: Unknown<'_>) -> Outcome<usize> {
    let n = integer(value, "size", 0)?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}
