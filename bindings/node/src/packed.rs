//! The byte path of reads: records leave Rust as MessagePack bytes and
//! `lib/packed.js` turns them into objects with msgpackr, in JavaScript.
//!
//! Building a result object through N-API costs a call per string and
//! number and a helper call per object (see [`crate::helpers`]); writing
//! the record's canonical MessagePack (the core's encoder) and letting
//! JavaScript decode it in one pass costs a fraction of that, as lmdb-js
//! does. A single read writes into a scratch buffer that the package
//! registers once per JavaScript environment and reuses for every call (no
//! Buffer is created, nothing is allocated on a hit); a batch read returns
//! one new Buffer holding an array of all its records.
//!
//! msgpackr's decoder gives exactly what [`Out::record`] builds only for
//! records that hold no bytes (it would return a view, not a fresh
//! `Buffer`), no integer beyond +-(2^53 - 1) (it would apply other rules
//! than the number rules of [`crate::convert`]) and no `__proto__` map key
//! (it renames it): [`packable`] checks that. Any other record is built as
//! an object by [`Out`], as before, so both paths return the same values.
//!
//! Writes go the other way: `lib/packed.js` checks that a value is plain
//! data msgpackr writes as the object path reads it (see there), encodes
//! it, and the addon decodes the bytes with the core's decoder, which
//! validates every byte, and the core's shape rules
//! ([`record_from_js_bytes`]). Bytes it does not accept are not an error
//! here: the caller converts the value as before, and that reports it.

use crate::convert::{number_to_value, Out, MAX_SAFE_INTEGER};
use crate::helpers;
use napi::bindgen_prelude::{Buffer, ToNapiValue, Unknown};
use napi::{sys, Env, JsValue};
use topgun_storage_core::codec::{
    decode_value, encode_record_value_into, encode_record_value_to_slice, record_value_from_value,
    walk, Visit,
};
use topgun_storage_core::{ReadOutcome, RecordStore, RecordValue, Timestamp, Value};

/// MessagePack `nil`: a missing record in a batch (JavaScript turns it
/// into `undefined`; a record itself is never `null`).
const NIL: u8 = 0xc0;
/// MessagePack `array 32` marker.
const ARRAY32: u8 = 0xdd;

fn safe(n: i64) -> bool {
    (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&n)
}

fn safe_u(n: u64) -> bool {
    i64::try_from(n).is_ok_and(safe)
}

fn value_packable(value: &Value) -> bool {
    walk(value, |step| match step {
        Visit::Scalar(Value::Int(n)) if !safe(*n) => Err(()),
        Visit::Scalar(Value::Bytes(_)) => Err(()),
        Visit::Key("__proto__") => Err(()),
        _ => Ok(()),
    })
    .is_ok()
}

fn fields_packable(value: &Value, ts: &Timestamp, ttl_ms: Option<u64>) -> bool {
    safe_u(ts.millis) && ttl_ms.is_none_or(safe_u) && value_packable(value)
}

/// Whether `lib/packed.js` decodes the canonical MessagePack of `record`
/// into exactly the object [`Out::record`] builds (see the module docs).
/// One pass over the record, no allocation for flat values.
#[must_use]
pub fn packable(record: &RecordValue) -> bool {
    match record {
        RecordValue::Lww {
            value,
            timestamp,
            ttl_ms,
        } => fields_packable(value, timestamp, *ttl_ms),
        RecordValue::OrMap { records } => records
            .iter()
            .all(|e| fields_packable(&e.value, &e.timestamp, e.ttl_ms)),
        RecordValue::OrTombstones { .. } => true,
    }
}

/// Whether `record` is an LWW record whose value is not a container: one
/// call of the `lww` helper with four values builds it for less than
/// decoding its bytes in JavaScript costs (docs/benchmarks.md, "Node: where
/// the time goes"), so single reads return it as an object.
fn flat(record: &RecordValue) -> bool {
    matches!(record, RecordValue::Lww { value, .. } if !matches!(value, Value::Array(_) | Value::Map(_)))
}

/// Writes `record` into the environment's scratch buffer when it is
/// [`packable`] and fits; returns its length.
///
/// # Errors
/// N-API failures only.
pub fn to_scratch(env: &Env, record: &RecordValue) -> napi::Result<Option<usize>> {
    if !packable(record) {
        return Ok(None);
    }
    let helpers = helpers::get(env)?;
    let Ok(mut scratch) = helpers.scratch.try_borrow_mut() else {
        return Ok(None);
    };
    let Some(buffer) = scratch.as_mut() else {
        return Ok(None);
    };
    Ok(encode_record_value_to_slice(record, buffer).ok())
}

/// The result of a single read for `lib/packed.js`: the length of the
/// record written into the scratch buffer (a number), `undefined` for
/// none, or the record as an object when it is not [`packable`] or does
/// not fit.
///
/// # Errors
/// N-API failures only.
pub fn one<'e>(env: &'e Env, record: Option<&RecordValue>) -> napi::Result<Unknown<'e>> {
    let Some(record) = record else {
        return ().into_unknown(env);
    };
    if flat(record) {
        return Out::new(env)?.record(record);
    }
    match to_scratch(env, record)? {
        #[allow(clippy::cast_precision_loss)]
        Some(len) => (len as f64).into_unknown(env),
        None => Out::new(env)?.record(record),
    }
}

/// Reads `key` from a store whose memory holds everything, writing the
/// record straight from the store into the scratch buffer (no copy of the
/// record, no allocation; a record with a scalar value is copied and built
/// as an object, see [`one`]): the result of [`one`], or `None` when the record
/// must be read with `get` and built as an object (it is not [`packable`]
/// or does not fit; nothing was counted then).
///
/// # Errors
/// N-API failures only.
pub fn read_in_place<'e>(
    env: &'e Env,
    store: &dyn RecordStore,
    key: &str,
) -> napi::Result<Option<Unknown<'e>>> {
    let helpers = helpers::get(env)?;
    let Ok(mut scratch) = helpers.scratch.try_borrow_mut() else {
        return Ok(None);
    };
    let Some(buffer) = scratch.as_mut() else {
        return Ok(None);
    };
    let buffer: &mut [u8] = buffer;
    let mut len = 0;
    let mut copy = None;
    let outcome = store.read_with(key, true, &mut |r| {
        if flat(&r.value) {
            copy = Some(r.value.clone());
            return true;
        }
        packable(&r.value)
            && encode_record_value_to_slice(&r.value, buffer)
                .map(|n| len = n)
                .is_ok()
    });
    drop(scratch);
    Ok(match outcome {
        ReadOutcome::Visited => Some(match copy {
            Some(record) => Out::new(env)?.record(&record)?,
            #[allow(clippy::cast_precision_loss)]
            None => (len as f64).into_unknown(env)?,
        }),
        ReadOutcome::Missing | ReadOutcome::Expired => Some(().into_unknown(env)?),
        ReadOutcome::Refused => None,
    })
}

/// The result of a batch read for `lib/packed.js`, built one key at a
/// time: one Buffer holding a MessagePack array with an item per key (the
/// record, or `nil` for none); when some records are not [`packable`], an
/// array `[buffer, index, object, index, object, ...]` with those records
/// built as objects (their items in the buffer are `nil`).
pub struct Batch {
    bytes: Vec<u8>,
    others: Vec<(u32, RecordValue)>,
    next: u32,
}

impl Batch {
    /// A batch of `count` items.
    ///
    /// # Errors
    /// More than `u32::MAX` items.
    pub fn new(count: usize) -> napi::Result<Self> {
        let count = u32::try_from(count)
            .map_err(|_| napi::Error::from_reason("too many keys for one call"))?;
        let mut bytes = Vec::with_capacity(5 + 64 * count as usize);
        bytes.push(ARRAY32);
        bytes.extend_from_slice(&count.to_be_bytes());
        Ok(Self {
            bytes,
            others: Vec::new(),
            next: 0,
        })
    }

    /// Reads `key` from a store whose memory holds everything straight into
    /// the batch (no copy of the record); `false` when it must be read with
    /// `get` and [`Batch::push`]ed (nothing was counted then).
    pub fn read_in_place(&mut self, store: &dyn RecordStore, key: &str) -> bool {
        let bytes = &mut self.bytes;
        let outcome = store.read_with(key, true, &mut |r| {
            if packable(&r.value) {
                encode_record_value_into(&r.value, bytes);
                true
            } else {
                false
            }
        });
        match outcome {
            ReadOutcome::Visited => {}
            ReadOutcome::Missing | ReadOutcome::Expired => self.bytes.push(NIL),
            ReadOutcome::Refused => return false,
        }
        self.next += 1;
        true
    }

    /// Adds the next item.
    pub fn push(&mut self, record: Option<RecordValue>) {
        match record {
            Some(r) if packable(&r) => encode_record_value_into(&r, &mut self.bytes),
            Some(r) => {
                self.others.push((self.next, r));
                self.bytes.push(NIL);
            }
            None => self.bytes.push(NIL),
        }
        self.next += 1;
    }

    /// The JavaScript result (see [`Batch`]).
    ///
    /// # Errors
    /// N-API failures only.
    pub fn finish(self, env: &Env) -> napi::Result<Unknown<'_>> {
        let buffer = Buffer::from(self.bytes).into_unknown(env)?;
        if self.others.is_empty() {
            return Ok(buffer);
        }
        let out = Out::new(env)?;
        let mut items: Vec<sys::napi_value> = Vec::with_capacity(1 + 2 * self.others.len());
        items.push(buffer.raw());
        for (i, r) in &self.others {
            items.push(out.js(*i)?.raw());
            items.push(out.record(r)?.raw());
        }
        out.array(items)
    }
}

/// Applies the number rules of JavaScript numbers (see
/// [`crate::convert`]) to every float of `root`: msgpackr writes a number
/// outside 32 bits as a float64, so a float that holds a safe integer came
/// from a JavaScript number that is one, and is an integer. A loop over an
/// explicit stack (no recursion).
fn js_numbers(root: &mut Value) {
    let mut stack = vec![root];
    while let Some(v) = stack.pop() {
        match v {
            Value::Float(f) => *v = number_to_value(*f),
            Value::Array(items) => stack.extend(items.iter_mut()),
            Value::Map(map) => stack.extend(map.values_mut()),
            _ => {}
        }
    }
}

/// A record written by `lib/packed.js` (msgpackr, from a value it checked
/// first), read with the same shape rules as [`crate::convert::js_to_record`].
/// `None` when the bytes are not such a record: the caller then converts
/// the value itself, which reports the exact error (the bytes path never
/// decides what is an error).
#[must_use]
pub fn record_from_js_bytes(bytes: &[u8]) -> Option<RecordValue> {
    let mut tree = decode_value(bytes).ok()?;
    js_numbers(&mut tree);
    record_value_from_value(tree).ok()
}

/// The `[key, value]` pairs written by `lib/packed.js` as one MessagePack
/// array, every value read as [`record_from_js_bytes`] reads one, all
/// before anything is written. `None` when any pair is not such a pair
/// (the caller then converts the entries itself).
#[must_use]
pub fn entries_from_js_bytes(bytes: &[u8]) -> Option<Vec<(String, RecordValue)>> {
    let Value::Array(pairs) = decode_value(bytes).ok()? else {
        return None;
    };
    let mut out = Vec::with_capacity(pairs.len());
    for pair in pairs {
        let Value::Array(pair) = pair else {
            return None;
        };
        let [Value::String(key), mut value] = <[Value; 2]>::try_from(pair).ok()? else {
            return None;
        };
        js_numbers(&mut value);
        out.push((key, record_value_from_value(value).ok()?));
    }
    Some(out)
}
