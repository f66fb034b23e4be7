//! JavaScript values <-> core values.
//!
//! Input: a plain JavaScript object in the shape of TopGun's `StorageValue`
//! is read into a generic core [`Value`] tree ([`js_to_value`]), then
//! [`codec::record_value_from_value`] interprets the shape, so the shape
//! rules and their error messages are the core's, the same in every
//! language. Output: a [`RecordValue`] is written straight into JavaScript
//! objects of that shape ([`record_to_js`]), with the same field order as
//! the core's `record_value_to_value`.
//!
//! Number rules (docs/node.md, "Values and numbers"):
//! * a JS number that is a safe integer (|n| <= 2^53 - 1) is an integer,
//!   except `-0`, which stays a float; every other number (fractions, NaN,
//!   +-Infinity, larger magnitudes) is a float;
//! * a BigInt is an integer if it fits i64, else an `ERR_VALUE_RANGE` error;
//! * on the way out an integer beyond +-(2^53 - 1) becomes a BigInt, never a
//!   rounded number; floats are numbers;
//! * `Buffer` / `Uint8Array` <-> bytes (out: a `Buffer`);
//! * object key order is kept; an `undefined` property is left out (as
//!   TopGun's serializer does); `undefined` in an array is `null`.

use crate::errors::{describe, Failure, Outcome};
use crate::helpers::{self, Helpers};
use napi::bindgen_prelude::{
    Array, BigInt, BufferSlice, FromNapiValue, JsObjectValue, Object, ToNapiValue, TypedArray,
    TypedArrayType, Uint8ArraySlice, Unknown,
};
use napi::{sys, Env, JsValue, KeyCollectionMode, KeyConversion, KeyFilter, ValueType};
use topgun_storage_core::codec::{self, MAX_DEPTH};
use topgun_storage_core::{ErrorCode, OrMapEntry, RecordValue, Timestamp, Value, ValueMap};

/// Largest integer a JS number holds exactly (`Number.MAX_SAFE_INTEGER`).
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// One step of a path into a value.
enum Segment {
    Key(String),
    Index(u32),
}

/// A conversion failure with the path to the offending value, innermost
/// segment first (built while the error travels outwards).
struct WalkError {
    kind: WalkErrorKind,
    message: String,
    path: Vec<Segment>,
}

enum WalkErrorKind {
    /// A JavaScript type no value can hold: a `TypeError`.
    Type,
    /// A number out of range: `ERR_VALUE_RANGE`.
    Range,
    /// Nested deeper than [`MAX_DEPTH`] (or cyclic): `ERR_MALFORMED_VALUE`,
    /// as the core's decoders report it.
    Depth,
    /// N-API failed.
    Napi(napi::Error),
}

impl WalkError {
    fn new(kind: WalkErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            path: Vec::new(),
        }
    }

    fn at(mut self, segment: Segment) -> Self {
        self.path.push(segment);
        self
    }

    fn into_failure(self) -> Failure {
        let path = format_path(&self.path);
        match self.kind {
            WalkErrorKind::Type => Failure::type_error(format!("{} at {path}", self.message)),
            WalkErrorKind::Range => Failure::Storage {
                code: ErrorCode::ValueRange,
                message: format!("{} at {path}", self.message),
                path: Some(path),
            },
            WalkErrorKind::Depth => Failure::Storage {
                code: ErrorCode::MalformedValue,
                message: format!("{} at {path}", self.message),
                path: Some(path),
            },
            WalkErrorKind::Napi(e) => Failure::Napi(e),
        }
    }
}

impl From<napi::Error> for WalkError {
    fn from(e: napi::Error) -> Self {
        WalkError::new(WalkErrorKind::Napi(e), "")
    }
}

/// The path in the core's syntax: `$`, `.field`, `["other key"]`, `[3]`.
/// Very deep paths keep their first and last segments only.
fn format_path(inner_first: &[Segment]) -> String {
    const KEEP: usize = 16;
    let mut out = String::from("$");
    let n = inner_first.len();
    for (i, segment) in inner_first.iter().rev().enumerate() {
        if n > 2 * KEEP && i == KEEP {
            out.push_str("...");
        }
        if n > 2 * KEEP && i >= KEEP && i < n - KEEP {
            continue;
        }
        match segment {
            Segment::Index(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
            Segment::Key(k) if is_identifier(k) => {
                out.push('.');
                out.push_str(k);
            }
            Segment::Key(k) => {
                out.push_str("[\"");
                for c in k.chars() {
                    match c {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        '\n' => out.push_str("\\n"),
                        '\r' => out.push_str("\\r"),
                        '\t' => out.push_str("\\t"),
                        c if u32::from(c) < 0x20 => {
                            out.push_str(&format!("\\u{:04x}", u32::from(c)));
                        }
                        c => out.push(c),
                    }
                }
                out.push_str("\"]");
            }
        }
    }
    out
}

fn is_identifier(k: &str) -> bool {
    let mut chars = k.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

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
/// `TypeError` when `value` is not a plain object (or holds a function,
/// symbol or other value no record can hold); `StorageError` with
/// `ERR_VALUE_SHAPE` / `ERR_VALUE_RANGE` / `ERR_MALFORMED_VALUE` from the
/// core for a wrong shape, with the path of the offending field.
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
    let tree = js_to_value(value, 0).map_err(WalkError::into_failure)?;
    Ok(codec::record_value_from_value(tree)?)
}

/// Reads any JavaScript value into a core [`Value`] (see the module docs).
fn js_to_value(value: Unknown<'_>, depth: usize) -> Result<Value, WalkError> {
    match value.get_type()? {
        ValueType::Null | ValueType::Undefined => Ok(Value::Null),
        ValueType::Boolean => Ok(Value::Bool(bool::from_unknown(value)?)),
        ValueType::Number => Ok(number_to_value(f64::from_unknown(value)?)),
        ValueType::String => Ok(Value::String(String::from_unknown(value)?)),
        ValueType::BigInt => bigint_to_value(BigInt::from_unknown(value)?),
        ValueType::Object => {
            if depth >= MAX_DEPTH {
                return Err(WalkError::new(
                    WalkErrorKind::Depth,
                    format!("value nests deeper than {MAX_DEPTH} levels (is it cyclic?)"),
                ));
            }
            object_to_value(value, depth + 1)
        }
        ValueType::Symbol | ValueType::Function | ValueType::External | ValueType::Unknown => {
            Err(WalkError::new(
                WalkErrorKind::Type,
                format!("a {} cannot be stored", describe(&value)),
            ))
        }
    }
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

fn bigint_to_value(big: BigInt) -> Result<Value, WalkError> {
    bigint_to_i64(&big).map(Value::Int).ok_or_else(|| {
        WalkError::new(
            WalkErrorKind::Range,
            "BigInt does not fit a 64-bit signed integer",
        )
    })
}

fn object_to_value(value: Unknown<'_>, depth: usize) -> Result<Value, WalkError> {
    if value.is_array()? {
        let array = Array::from_unknown(value)?;
        let len = array.len();
        let mut items = Vec::with_capacity(len as usize);
        for i in 0..len {
            let item: Unknown<'_> = array.get_element(i)?;
            items.push(js_to_value(item, depth).map_err(|e| e.at(Segment::Index(i)))?);
        }
        return Ok(Value::Array(items));
    }
    if value.is_typedarray()? {
        let typed = TypedArray::from_unknown(value)?;
        if typed.typed_array_type != TypedArrayType::Uint8 {
            return Err(WalkError::new(
                WalkErrorKind::Type,
                format!(
                    "a {} cannot be stored (bytes are a Buffer or Uint8Array)",
                    typed.typed_array_type.as_ref()
                ),
            ));
        }
        let bytes = Uint8ArraySlice::from_unknown(value)?;
        return Ok(Value::Bytes(bytes.to_vec()));
    }
    let object = Object::from_unknown(value)?;
    let names = object.get_all_property_names(
        KeyCollectionMode::OwnOnly,
        KeyFilter::Enumerable,
        KeyConversion::NumbersToStrings,
    )?;
    let count = names.get_array_length()?;
    // Exotic objects have no own enumerable keys: only then is it worth
    // asking what they are (a Date would otherwise be stored as `{}`).
    if count == 0 {
        let what = if value.is_date()? {
            Some("a Date")
        } else if value.is_promise()? {
            Some("a Promise")
        } else if value.is_arraybuffer()? || value.is_dataview()? {
            Some("an ArrayBuffer or DataView (use a Buffer or Uint8Array)")
        } else {
            None
        };
        if let Some(what) = what {
            return Err(WalkError::new(
                WalkErrorKind::Type,
                format!("{what} cannot be stored"),
            ));
        }
    }
    let mut map = ValueMap::with_capacity(count as usize);
    for i in 0..count {
        let name: Unknown<'_> = names.get_element(i)?;
        if name.get_type()? != ValueType::String {
            continue; // a symbol key: not data
        }
        let field: Unknown<'_> = object.get_property(name)?;
        if field.get_type()? == ValueType::Undefined {
            continue;
        }
        let key = String::from_unknown(name)?;
        match js_to_value(field, depth) {
            Ok(v) => {
                map.insert(key, v);
            }
            Err(e) => return Err(e.at(Segment::Key(key))),
        }
    }
    Ok(Value::Map(Box::new(map)))
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

    /// A core [`Value`] (see the module docs for the number rules).
    ///
    /// # Errors
    /// N-API failures only.
    pub fn value(&self, value: &Value) -> napi::Result<Unknown<'e>> {
        match value {
            Value::Null => self.js(napi::bindgen_prelude::Null),
            Value::Bool(b) => self.js(*b),
            Value::Int(n) => self.int(*n),
            Value::Float(f) => self.js(*f),
            Value::String(s) => self.js(s.as_str()),
            Value::Bytes(b) => Ok(BufferSlice::copy_from(self.env, b)?.to_unknown()),
            Value::Array(items) => {
                let items = items
                    .iter()
                    .map(|item| Ok(self.value(item)?.raw()))
                    .collect::<napi::Result<Vec<_>>>()?;
                self.array(items)
            }
            Value::Map(map) => {
                let mut chunks = map.iter().collect::<Vec<_>>();
                let rest = chunks.split_off(chunks.len().min(PAIRS_PER_CALL));
                let mut args = Vec::with_capacity(chunks.len() * 2);
                for (k, v) in chunks {
                    args.push(self.js(k.as_str())?.raw());
                    args.push(self.value(v)?.raw());
                }
                let object = helpers::call(self.env, &self.helpers.object, args)?;
                for chunk in rest.chunks(PAIRS_PER_CALL) {
                    let mut args = Vec::with_capacity(chunk.len() * 2 + 1);
                    args.push(object.raw());
                    for (k, v) in chunk {
                        args.push(self.js(k.as_str())?.raw());
                        args.push(self.value(v)?.raw());
                    }
                    helpers::call(self.env, &self.helpers.assign, args)?;
                }
                Ok(object)
            }
        }
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
