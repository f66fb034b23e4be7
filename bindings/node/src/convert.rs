//! JavaScript values <-> core values.
//!
//! Input: a plain JavaScript object in the shape of TopGun's `StorageValue`
//! is read into a generic core [`Value`] tree ([`js_to_record`]), then
//! [`codec::record_value_from_value`] interprets the shape, so the shape
//! rules, their normalisation and their error messages are the core's, the
//! same in every language. Output: a [`RecordValue`] is written straight
//! into JavaScript objects of that shape ([`Out::record`]), with the same
//! field order as the core's `record_value_to_value`.
//!
//! Both directions are loops over an explicit stack (the core's
//! [`ValueBuilder`] and [`walk`]): no recursion, so no nesting can exhaust
//! the part of the native stack V8 lends the addon, in any build.
//!
//! Number rules (docs/node.md, "Values and numbers"):
//! * a JS number that is a safe integer (|n| <= 2^53 - 1) is an integer,
//!   except `-0`, which stays a float; every other number (fractions, NaN,
//!   +-Infinity, larger magnitudes) is a float;
//! * a BigInt is an integer if it fits i64, else an `ERR_VALUE_RANGE` error;
//! * on the way out an integer beyond +-(2^53 - 1) becomes a BigInt, never a
//!   rounded number; floats are numbers;
//! * `Buffer` / `Uint8Array` <-> bytes (out: a `Buffer`);
//! * a string (or object key) with a lone surrogate has no UTF-8 form: it is
//!   refused (`ERR_MALFORMED_VALUE` with its path), never turned into U+FFFD;
//! * object key order is kept.
//!
//! What JSON cannot hold is normalised as `JSON.stringify` does (what
//! TopGun's PostgresAdapter stores): an `undefined`, function or symbol
//! property is left out, and is `null` in an array; an object with a
//! `toJSON` method (a `Date`, for one) is stored as what `toJSON(key)`
//! returns, and left out (or `null`) when that is `undefined`.

use crate::errors::{describe, Failure, Outcome};
use crate::helpers::{self, Helpers};
use napi::bindgen_prelude::{
    Array, BigInt, BufferSlice, FromNapiValue, Function, JsObjectValue, Object, ToNapiValue,
    TypedArray, TypedArrayType, Uint8ArraySlice, Unknown, Utf16String,
};
use napi::{sys, Env, JsValue, KeyCollectionMode, KeyConversion, KeyFilter, ValueType};
use topgun_storage_core::codec::{self, walk, DecodeError, ValueBuilder, Visit};
use topgun_storage_core::expiry::expiration_time;
use topgun_storage_core::{
    ExpiryPolicy, IterationCursor, OrMapEntry, Record, RecordValue, Timestamp, Value,
};

/// Largest integer a JS number holds exactly (`Number.MAX_SAFE_INTEGER`).
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// Reads a JS number as a core value (see the module docs).
#[must_use]
pub fn number_to_value(n: f64) -> Value {
    #[allow(clippy::cast_precision_loss)]
    let max = MAX_SAFE_INTEGER as f64;
    if n.fract() == 0.0 && n.abs() <= max && !(n == 0.0 && n.is_sign_negative()) {
        #[allow(clippy::cast_possible_truncation)]
        Value::Int(n as i64)
    } else {
        Value::Float(n)
    }
}

/// Reads a `StorageValue` argument (a plain object) into a record value.
///
/// # Errors
/// `TypeError` when `value` is not a plain object (or holds a value no
/// record can hold, such as a typed array other than bytes);
/// `StorageError` with `ERR_VALUE_SHAPE` / `ERR_VALUE_RANGE` /
/// `ERR_MALFORMED_VALUE` from the core for a wrong shape, a number out of
/// range or a value nested deeper than 256 levels (counted from the user
/// value, as every decoder counts), with the path of the offending field.
pub fn js_to_record(value: Unknown<'_>, what: impl std::fmt::Display) -> Outcome<RecordValue> {
    let is_plain_object = value.get_type()? == ValueType::Object
        && !value.is_array()?
        && !value.is_typedarray()?
        && !value.is_arraybuffer()?;
    if !is_plain_object {
        return Err(Failure::type_error(format!(
            "{what} must be a StorageValue object ({{ value, timestamp }} or {{ type: 'OR' | 'OR_TOMBSTONES', ... }}), got {}",
            describe(&value)
        )));
    }
    let tree = js_to_value(value, ValueBuilder::for_record())?;
    Ok(codec::record_value_from_value(tree)?)
}

/// The key `JSON.stringify` hands to `toJSON`: a property name, an array
/// index, or `""` for the root.
enum JsonKey {
    Root,
    Name(String),
    Index(u32),
}

/// A JavaScript container being read.
enum Frame<'e> {
    Array {
        array: Array<'e>,
        len: u32,
        next: u32,
    },
    Object {
        object: Object<'e>,
        names: Object<'e>,
        count: u32,
        next: u32,
    },
}

/// What one JavaScript value is, for the walk.
enum Item<'e> {
    /// Left out of an object, `null` in an array (see the module docs).
    Dropped,
    Scalar(Value),
    Array(Array<'e>, u32),
    Object(Object<'e>, Object<'e>, u32),
}

/// Reads any JavaScript value into a core [`Value`] (see the module docs)
/// with a loop and an explicit stack, feeding `builder` (which counts depth
/// and knows every item's path).
fn js_to_value(root: Unknown<'_>, mut builder: ValueBuilder) -> Outcome<Value> {
    let mut stack: Vec<Frame<'_>> = Vec::new();
    let mut next = Some((root, JsonKey::Root));
    loop {
        if let Some((item, key)) = next.take() {
            let in_array = matches!(key, JsonKey::Index(_));
            let classified = match classify(item, &key) {
                Ok(found) => found,
                Err(problem) => {
                    // Point the error at this item.
                    if let JsonKey::Name(name) = key {
                        builder.key(name);
                    }
                    return Err(problem.at(&builder));
                }
            };
            match classified {
                Item::Dropped if !in_array => {}
                Item::Dropped => {
                    if let Some(done) = builder.value(Value::Null) {
                        return Ok(done);
                    }
                }
                found => {
                    if let JsonKey::Name(name) = key {
                        builder.key(name);
                    }
                    match found {
                        Item::Scalar(v) => {
                            if let Some(done) = builder.value(v) {
                                return Ok(done);
                            }
                        }
                        Item::Array(array, len) => {
                            builder.begin_array(len as usize)?;
                            stack.push(Frame::Array {
                                array,
                                len,
                                next: 0,
                            });
                        }
                        Item::Object(object, names, count) => {
                            builder.begin_map(count as usize)?;
                            stack.push(Frame::Object {
                                object,
                                names,
                                count,
                                next: 0,
                            });
                        }
                        Item::Dropped => {}
                    }
                }
            }
        }
        let Some(top) = stack.last_mut() else {
            // Only a dropped root leaves nothing open without returning.
            return Ok(Value::Null);
        };
        match top {
            Frame::Array {
                array,
                len,
                next: i,
            } => {
                if *i < *len {
                    let item: Unknown<'_> = array.get_element(*i)?;
                    next = Some((item, JsonKey::Index(*i)));
                    *i += 1;
                }
            }
            Frame::Object {
                object,
                names,
                count,
                next: i,
            } => {
                while *i < *count {
                    let name: Unknown<'_> = names.get_element(*i)?;
                    *i += 1;
                    if name.get_type()? != ValueType::String {
                        continue; // a symbol key: not data
                    }
                    let field: Unknown<'_> = object.get_property(name)?;
                    let name = match js_string(name)? {
                        Ok(name) => name,
                        Err(lone) => {
                            return Err(Problem::Malformed(format!(
                                "an object key with {lone} has no UTF-8 form"
                            ))
                            .at(&builder))
                        }
                    };
                    next = Some((field, JsonKey::Name(name)));
                    break;
                }
            }
        }
        if next.is_none() {
            stack.pop();
            if let Some(done) = builder.end() {
                return Ok(done);
            }
        }
    }
}

/// What is wrong with an item, before its path is known.
enum Problem {
    /// A JavaScript type no value can hold: a `TypeError`.
    Type(String),
    /// A number out of range: `ERR_VALUE_RANGE`.
    Range(&'static str),
    /// A string with a lone surrogate: `ERR_MALFORMED_VALUE`, as the core's
    /// decoders report text that is not Unicode.
    Malformed(String),
    /// N-API failed.
    Napi(napi::Error),
}

impl From<napi::Error> for Problem {
    fn from(e: napi::Error) -> Self {
        Problem::Napi(e)
    }
}

impl Problem {
    /// The failure, at the item the builder expects next.
    #[cold]
    fn at(self, builder: &ValueBuilder) -> Failure {
        match self {
            Problem::Type(message) => {
                Failure::type_error(format!("{message} at {}", builder.path()))
            }
            Problem::Range(message) => builder.error(DecodeError::range(message)).into(),
            Problem::Malformed(message) => builder.error(DecodeError::malformed(message)).into(),
            Problem::Napi(e) => Failure::Napi(e),
        }
    }
}

/// What `value` is; calls its `toJSON` method first when it has one (once,
/// as `JSON.stringify` does).
fn classify<'e>(value: Unknown<'e>, key: &JsonKey) -> Result<Item<'e>, Problem> {
    let value = match value.get_type()? {
        ValueType::Object if !value.is_array()? && !value.is_typedarray()? => {
            let object = Object::from_unknown(value)?;
            let to_json: Unknown<'_> = object.get_named_property("toJSON")?;
            if to_json.get_type()? == ValueType::Function {
                let to_json: Function<'_, Unknown<'_>, Unknown<'_>> =
                    Function::from_unknown(to_json)?;
                let env = Env::from_raw(value.value().env);
                let key = match key {
                    JsonKey::Root => "".into_unknown(&env)?,
                    JsonKey::Name(name) => name.as_str().into_unknown(&env)?,
                    JsonKey::Index(i) => i.to_string().into_unknown(&env)?,
                };
                to_json.apply(object, key)?
            } else {
                value
            }
        }
        _ => value,
    };
    Ok(match value.get_type()? {
        ValueType::Undefined | ValueType::Function | ValueType::Symbol => Item::Dropped,
        ValueType::Null => Item::Scalar(Value::Null),
        ValueType::Boolean => Item::Scalar(Value::Bool(bool::from_unknown(value)?)),
        ValueType::Number => Item::Scalar(number_to_value(f64::from_unknown(value)?)),
        ValueType::String => match js_string(value)? {
            Ok(s) => Item::Scalar(Value::String(s)),
            Err(lone) => {
                return Err(Problem::Malformed(format!(
                    "a string with {lone} has no UTF-8 form"
                )))
            }
        },
        ValueType::BigInt => match bigint_to_i64(&BigInt::from_unknown(value)?) {
            Some(i) => Item::Scalar(Value::Int(i)),
            None => {
                return Err(Problem::Range(
                    "BigInt does not fit a 64-bit signed integer",
                ))
            }
        },
        ValueType::Object if value.is_array()? => {
            let array = Array::from_unknown(value)?;
            let len = array.len();
            Item::Array(array, len)
        }
        ValueType::Object if value.is_typedarray()? => {
            let typed = TypedArray::from_unknown(value)?;
            if typed.typed_array_type != TypedArrayType::Uint8 {
                return Err(Problem::Type(format!(
                    "a {} cannot be stored (bytes are a Buffer or Uint8Array)",
                    typed.typed_array_type.as_ref()
                )));
            }
            let bytes = Uint8ArraySlice::from_unknown(value)?;
            Item::Scalar(Value::Bytes(bytes.to_vec()))
        }
        ValueType::Object => {
            let object = Object::from_unknown(value)?;
            let names = object.get_all_property_names(
                KeyCollectionMode::OwnOnly,
                KeyFilter::Enumerable,
                KeyConversion::NumbersToStrings,
            )?;
            let count = names.get_array_length()?;
            Item::Object(object, names, count)
        }
        ValueType::External | ValueType::Unknown => {
            return Err(Problem::Type(format!(
                "a {} cannot be stored",
                describe(&value)
            )))
        }
    })
}

/// Where a JavaScript string stops being well-formed Unicode: its first
/// lone surrogate (a UTF-16 unit 0xD800..=0xDFFF without its partner).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoneSurrogate {
    /// Index of the unit in the string (as `charCodeAt` counts).
    pub index: usize,
    /// The unit.
    pub unit: u16,
}

impl std::fmt::Display for LoneSurrogate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "a lone surrogate (\\u{:04x} at index {})",
            self.unit, self.index
        )
    }
}

/// A JavaScript string as UTF-8, exactly, or its first lone surrogate.
///
/// N-API's UTF-8 conversion replaces a lone surrogate with U+FFFD, so
/// `'\ud800'` and `'\udfff'` would become the same string. Only a result
/// holding U+FFFD is checked again, from the UTF-16 units (a real U+FFFD
/// is kept); the common case costs one scan of the UTF-8 bytes.
///
/// # Errors
/// N-API failures only (a lone surrogate is the inner `Err`).
pub fn js_string(value: Unknown<'_>) -> napi::Result<Result<String, LoneSurrogate>> {
    let text = String::from_unknown(value)?;
    if !text.contains('\u{FFFD}') {
        return Ok(Ok(text));
    }
    let units = Utf16String::from_unknown(value)?;
    let mut index = 0;
    for c in char::decode_utf16(units.iter().copied()) {
        match c {
            Ok(c) => index += c.len_utf16(),
            Err(e) => {
                return Ok(Err(LoneSurrogate {
                    index,
                    unit: e.unpaired_surrogate(),
                }))
            }
        }
    }
    Ok(Ok(text))
}

/// A BigInt as an i64, or `None` when it does not fit.
#[must_use]
pub fn bigint_to_i64(big: &BigInt) -> Option<i64> {
    let low = big.words.first().copied().unwrap_or(0);
    if big.words.iter().skip(1).any(|w| *w != 0) {
        return None;
    }
    if big.sign_bit {
        // -(2^63) is the one magnitude above i64::MAX that fits.
        (-i128::from(low)).try_into().ok()
    } else {
        i64::try_from(low).ok()
    }
}

/// A count or size as a JavaScript number.
#[allow(clippy::cast_precision_loss)]
#[must_use]
pub fn num(n: u64) -> f64 {
    n as f64
}

/// A time or signed count as a JavaScript number.
#[allow(clippy::cast_precision_loss)]
#[must_use]
pub fn num_i(n: i64) -> f64 {
    n as f64
}

/// Output conversions of one call: the environment and its helpers.
pub struct Out<'e> {
    /// The environment of the call.
    pub env: &'e Env,
    helpers: &'static Helpers,
}

/// Most key/value pairs passed to one `object` / `assign` helper call.
const PAIRS_PER_CALL: usize = 64;

/// Most items passed to one `array` / `pairs` helper call (well below the
/// engine's limit on arguments).
const ITEMS_PER_CALL: usize = 4096;

impl<'e> Out<'e> {
    /// The output context of a call in `env`.
    ///
    /// # Errors
    /// When the package entry did not register its helpers.
    pub fn new(env: &'e Env) -> napi::Result<Self> {
        Ok(Self {
            env,
            helpers: helpers::get(env)?,
        })
    }

    /// The helpers of this environment.
    #[must_use]
    pub fn helpers(&self) -> &'static Helpers {
        self.helpers
    }

    /// Any value N-API can convert, as a raw handle.
    ///
    /// # Errors
    /// N-API failures only.
    pub fn js<T: ToNapiValue>(&self, value: T) -> napi::Result<Unknown<'e>> {
        value.into_unknown(self.env)
    }

    /// `undefined`.
    ///
    /// # Errors
    /// N-API failures only.
    pub fn undefined(&self) -> napi::Result<Unknown<'e>> {
        ().into_unknown(self.env)
    }

    /// A core integer: a number, or a BigInt beyond the safe range.
    fn int(&self, n: i64) -> napi::Result<Unknown<'e>> {
        if (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&n) {
            #[allow(clippy::cast_precision_loss)]
            self.js(n as f64)
        } else {
            self.js(BigInt::from(n))
        }
    }

    /// An unsigned envelope number (`millis`, `ttlMs`), exactly.
    fn uint(&self, n: u64) -> napi::Result<Unknown<'e>> {
        match i64::try_from(n) {
            Ok(i) => self.int(i),
            Err(_) => self.js(BigInt::from(n)),
        }
    }

    /// A core [`Value`] (see the module docs for the number rules), built
    /// with a loop over the core's [`walk`] (no recursion).
    ///
    /// # Errors
    /// N-API failures only.
    pub fn value(&self, value: &Value) -> napi::Result<Unknown<'e>> {
        /// A container being built: its elements, or its keys and values.
        enum Open {
            Array(Vec<sys::napi_value>),
            Map(Vec<sys::napi_value>),
        }
        let mut stack: Vec<Open> = Vec::new();
        let mut root = None;
        let mut add = |stack: &mut Vec<Open>, item: Unknown<'e>| match stack.last_mut() {
            None => root = Some(item),
            Some(Open::Array(items) | Open::Map(items)) => items.push(item.raw()),
        };
        walk(value, |step| {
            match step {
                Visit::Scalar(v) => add(&mut stack, self.scalar(v)?),
                Visit::BeginArray(items) => {
                    stack.push(Open::Array(Vec::with_capacity(items.len())))
                }
                Visit::BeginMap(map) => stack.push(Open::Map(Vec::with_capacity(map.len() * 2))),
                Visit::Key(key) => {
                    let key = self.js(key)?;
                    add(&mut stack, key);
                }
                Visit::End => {
                    let done = match stack.pop() {
                        Some(Open::Array(items)) => self.array(items)?,
                        Some(Open::Map(pairs)) => self.object(pairs)?,
                        None => return Ok(()),
                    };
                    add(&mut stack, done);
                }
            }
            Ok::<(), napi::Error>(())
        })?;
        match root {
            Some(root) => Ok(root),
            None => self.js(napi::bindgen_prelude::Null),
        }
    }

    /// A value that is not a container.
    fn scalar(&self, value: &Value) -> napi::Result<Unknown<'e>> {
        match value {
            Value::Bool(b) => self.js(*b),
            Value::Int(n) => self.int(*n),
            Value::Float(f) => self.js(*f),
            Value::String(s) => self.js(s.as_str()),
            Value::Bytes(b) => Ok(BufferSlice::copy_from(self.env, b)?.to_unknown()),
            // Null; containers come through the walk.
            _ => self.js(napi::bindgen_prelude::Null),
        }
    }

    /// An object of `pairs` (key, value, key, value, ...), in order, built
    /// by one `object` helper call per 64 pairs.
    fn object(&self, pairs: Vec<sys::napi_value>) -> napi::Result<Unknown<'e>> {
        let mut chunks = pairs.chunks(PAIRS_PER_CALL * 2);
        let first = chunks.next().map(<[_]>::to_vec).unwrap_or_default();
        let object = helpers::call(self.env, &self.helpers.object, first)?;
        for chunk in chunks {
            let mut args = Vec::with_capacity(chunk.len() + 1);
            args.push(object.raw());
            args.extend_from_slice(chunk);
            helpers::call(self.env, &self.helpers.assign, args)?;
        }
        Ok(object)
    }

    fn timestamp_args(&self, value: &Value, ts: &Timestamp) -> napi::Result<Vec<sys::napi_value>> {
        let mut args = Vec::with_capacity(6);
        args.push(self.value(value)?.raw());
        args.push(self.uint(ts.millis)?.raw());
        args.push(self.js(ts.counter)?.raw());
        args.push(self.js(ts.node_id.as_str())?.raw());
        Ok(args)
    }

    fn entry(&self, entry: &OrMapEntry) -> napi::Result<Unknown<'e>> {
        let mut args = self.timestamp_args(&entry.value, &entry.timestamp)?;
        args.push(self.js(entry.tag.as_str())?.raw());
        let helper = match entry.ttl_ms {
            Some(ttl) => {
                args.push(self.uint(ttl)?.raw());
                &self.helpers.or_entry_ttl
            }
            None => &self.helpers.or_entry,
        };
        helpers::call(self.env, helper, args)
    }

    /// A record value as a `StorageValue` object, fields in the order of the
    /// core's `record_value_to_value` (`value, timestamp, ttlMs?`; `type,
    /// records`; `type, tags`).
    ///
    /// # Errors
    /// N-API failures only.
    pub fn record(&self, record: &RecordValue) -> napi::Result<Unknown<'e>> {
        match record {
            RecordValue::Lww {
                value,
                timestamp,
                ttl_ms,
            } => {
                let mut args = self.timestamp_args(value, timestamp)?;
                let helper = match ttl_ms {
                    Some(ttl) => {
                        args.push(self.uint(*ttl)?.raw());
                        &self.helpers.lww_ttl
                    }
                    None => &self.helpers.lww,
                };
                helpers::call(self.env, helper, args)
            }
            RecordValue::OrMap { records } => {
                let entries = records
                    .iter()
                    .map(|entry| Ok(self.entry(entry)?.raw()))
                    .collect::<napi::Result<Vec<_>>>()?;
                let array = self.array(entries)?;
                helpers::call(self.env, &self.helpers.or_map, vec![array.raw()])
            }
            RecordValue::OrTombstones { tags } => {
                let tags = tags
                    .iter()
                    .map(|tag| Ok(self.js(tag.as_str())?.raw()))
                    .collect::<napi::Result<Vec<_>>>()?;
                let array = self.array(tags)?;
                helpers::call(self.env, &self.helpers.tombstones, vec![array.raw()])
            }
        }
    }

    /// [`Self::record`] for an optional record: `undefined` for `None`.
    ///
    /// # Errors
    /// N-API failures only.
    pub fn optional_record(&self, record: Option<&RecordValue>) -> napi::Result<Unknown<'e>> {
        match record {
            Some(r) => self.record(r),
            None => self.undefined(),
        }
    }

    /// `[key, value]` pairs as an array of two-element arrays.
    ///
    /// # Errors
    /// N-API failures only.
    pub fn pairs<'r>(
        &self,
        pairs: impl ExactSizeIterator<Item = (&'r str, &'r RecordValue)>,
    ) -> napi::Result<Unknown<'e>> {
        self.batch(pairs.map(|(k, v)| (Some(k), Some(v))), true)
    }

    /// Many optional records (`undefined` for `None`) as one array.
    ///
    /// # Errors
    /// N-API failures only.
    pub fn records<'r>(
        &self,
        records: impl Iterator<Item = Option<&'r RecordValue>>,
    ) -> napi::Result<Unknown<'e>> {
        self.batch(records.map(|r| (None, r)), false)
    }

    /// Builds many records (or `[key, record]` pairs) with one `records`
    /// helper call per ~4096 arguments instead of one call per record: each
    /// record is a tag (0 missing, 1 LWW, 2 LWW with `ttlMs`, 3 an object
    /// built already) and its fields; a node id equal to the previous one
    /// reuses its JavaScript string.
    fn batch<'r>(
        &self,
        items: impl Iterator<Item = (Option<&'r str>, Option<&'r RecordValue>)>,
        with_keys: bool,
    ) -> napi::Result<Unknown<'e>> {
        let tags = [
            self.js(0u32)?,
            self.js(1u32)?,
            self.js(2u32)?,
            self.js(3u32)?,
        ]
        .map(|t| t.raw());
        let with_keys = self.js(with_keys)?.raw();
        let mut parts = Vec::new();
        let mut args = vec![with_keys];
        let mut last_node: Option<(&str, sys::napi_value)> = None;
        for (key, record) in items {
            if let Some(key) = key {
                args.push(self.js(key)?.raw());
            }
            match record {
                None => args.push(tags[0]),
                Some(RecordValue::Lww {
                    value,
                    timestamp,
                    ttl_ms,
                }) => {
                    args.push(if ttl_ms.is_some() { tags[2] } else { tags[1] });
                    args.push(self.value(value)?.raw());
                    args.push(self.uint(timestamp.millis)?.raw());
                    args.push(self.js(timestamp.counter)?.raw());
                    let node = match last_node {
                        Some((id, raw)) if id == timestamp.node_id => raw,
                        _ => {
                            let raw = self.js(timestamp.node_id.as_str())?.raw();
                            last_node = Some((timestamp.node_id.as_str(), raw));
                            raw
                        }
                    };
                    args.push(node);
                    if let Some(ttl) = ttl_ms {
                        args.push(self.uint(*ttl)?.raw());
                    }
                }
                Some(other) => {
                    args.push(tags[3]);
                    args.push(self.record(other)?.raw());
                }
            }
            if args.len() >= ITEMS_PER_CALL {
                let chunk = std::mem::replace(&mut args, vec![with_keys]);
                parts.push(helpers::call(self.env, &self.helpers.records, chunk)?.raw());
            }
        }
        if parts.is_empty() {
            return helpers::call(self.env, &self.helpers.records, args);
        }
        if args.len() > 1 {
            parts.push(helpers::call(self.env, &self.helpers.records, args)?.raw());
        }
        helpers::call(self.env, &self.helpers.concat, parts)
    }

    /// An array of strings (keys).
    ///
    /// # Errors
    /// N-API failures only.
    pub fn strings<'s>(&self, items: impl Iterator<Item = &'s str>) -> napi::Result<Unknown<'e>> {
        let items = items
            .map(|s| Ok(self.js(s)?.raw()))
            .collect::<napi::Result<Vec<_>>>()?;
        self.array(items)
    }

    /// A page result object `{ items, cursor, finished }` (`fetchKeys`,
    /// `fetchEntries`).
    ///
    /// # Errors
    /// N-API failures only.
    pub fn page(&self, items: Unknown<'e>, cursor: &IterationCursor) -> napi::Result<Unknown<'e>> {
        let cursor_bytes = BufferSlice::copy_from(self.env, cursor.to_bytes())?;
        helpers::call(
            self.env,
            &self.helpers.page,
            vec![
                items.raw(),
                cursor_bytes.raw(),
                self.js(cursor.is_finished())?.raw(),
            ],
        )
    }

    /// A `StoredRecord` (`getRecord`): the value and its metadata, the
    /// expiration time computed with the store's `default_expiry`.
    ///
    /// # Errors
    /// N-API failures only.
    pub fn stored_record(
        &self,
        record: &Record,
        default_expiry: ExpiryPolicy,
    ) -> napi::Result<Unknown<'e>> {
        let meta = &record.metadata;
        let expires = expiration_time(meta, default_expiry);
        let expires = if expires > 0 {
            self.js(num_i(expires))?
        } else {
            self.js(napi::bindgen_prelude::Null)?
        };
        let args = vec![
            self.record(&record.value)?.raw(),
            self.js(meta.version)?.raw(),
            self.js(meta.hits)?.raw(),
            self.js(num(meta.cost))?.raw(),
            self.js(num_i(meta.creation_time))?.raw(),
            self.js(num_i(meta.last_access_time))?.raw(),
            self.js(num_i(meta.last_update_time))?.raw(),
            self.js(num_i(meta.last_stored_time))?.raw(),
            self.js(num(meta.ttl_millis))?.raw(),
            self.js(num(meta.max_idle_millis))?.raw(),
            expires.raw(),
        ];
        helpers::call(self.env, &self.helpers.stored_record, args)
    }

    /// A JavaScript array of already created values, built by one helper
    /// call (per 4096 items) instead of one N-API call per element.
    ///
    /// # Errors
    /// N-API failures only.
    pub fn array(&self, items: Vec<sys::napi_value>) -> napi::Result<Unknown<'e>> {
        self.chunked(items, ITEMS_PER_CALL, &self.helpers.array)
    }

    /// Calls `helper` on `items` in chunks of `per_call` and concatenates
    /// the arrays it returns.
    fn chunked(
        &self,
        items: Vec<sys::napi_value>,
        per_call: usize,
        helper: &helpers::Helper,
    ) -> napi::Result<Unknown<'e>> {
        if items.len() <= per_call {
            return helpers::call(self.env, helper, items);
        }
        let parts = items
            .chunks(per_call)
            .map(|chunk| Ok(helpers::call(self.env, helper, chunk.to_vec())?.raw()))
            .collect::<napi::Result<Vec<_>>>()?;
        helpers::call(self.env, &self.helpers.concat, parts)
    }
}
