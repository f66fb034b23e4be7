//! Byte forms of [`RecordValue`](crate::RecordValue) and [`Value`](crate::Value):
//! MessagePack (TopGun's wire format) and JSON.
//!
//! # The shape
//!
//! A record value has the shape of TopGun's TypeScript `StorageValue`:
//!
//! | variant | shape |
//! |---|---|
//! | LWW | `{ value: V \| null, timestamp: T, ttlMs?: u64 }` (no `type`) |
//! | OR map | `{ type: "OR", records: [{ value: V, timestamp: T, tag: string, ttlMs?: u64 }] }` |
//! | OR tombstones | `{ type: "OR_TOMBSTONES", tags: [string] }` |
//! | `T` | `{ millis: u64, counter: u32, nodeId: string }` |
//!
//! `V` is any [`Value`](crate::Value); map keys keep their order.
//! [`record_value_to_value`] builds that tree as a [`Value`](crate::Value)
//! (what a JS object would look like) and [`record_value_from_value`] reads it
//! back, which is what language bindings use.
//!
//! # MessagePack
//!
//! [`encode_record_value`] and [`encode_value`] write canonical MessagePack,
//! byte-identical to Python's `msgpack.packb(obj, use_bin_type=True)`:
//! smallest integer forms, floats always float64 (bits as-is, so `-0.0` and NaN
//! payloads survive), smallest str/bin/array/map headers, envelope keys in the
//! order of the table above, `ttlMs` only when present. It is a stable golden
//! format (see `tests/data/golden_vectors.json`).
//!
//! Decoding is strict but accepts what other TopGun peers write: fields in any
//! order; for `millis`, `counter` and `ttlMs` an integer or a whole, finite,
//! in-range float (JS msgpackr writes numbers above 2^32 as float64); float32
//! for user floats; `ttlMs: nil` as absent; a MessagePack timestamp (ext -1,
//! what msgpackr writes for a JS `Date`) as the date's ISO 8601 string. A
//! uint64 above `i64::MAX` in a user value is a
//! [`Range`](DecodeErrorKind::Range) error, never rounded; other ext types
//! are [`Malformed`](DecodeErrorKind::Malformed). Decoders never panic,
//! reject trailing bytes, never allocate more than the input can justify and
//! limit nesting of user values to [`MAX_DEPTH`].
//!
//! # Normalisation
//!
//! TopGun's server writes fire-and-forget and only logs a refused write, so
//! a record is accepted whenever one of TopGun's own adapters would store
//! it, and normalised as its `PostgresAdapter` stores it (`JSON.stringify`).
//! Every reader (MessagePack, JSON, a [`Value`](crate::Value) tree from a
//! binding) does this, identically:
//!
//! * fields of no variant (`{value, timestamp, source: "x"}`), and fields of
//!   another variant than the record's (a `timestamp` on an OR value), are
//!   ignored; the latter must still be well-formed. Extra fields of a
//!   timestamp or an OR record are ignored too;
//! * an absent `value` (JS `value: undefined`) is null;
//! * a `type` other than `"OR"` / `"OR_TOMBSTONES"` makes an LWW record, as
//!   TopGun tells the variants apart;
//! * a MessagePack timestamp becomes its ISO 8601 string (`Date.toJSON`),
//!   or null for an invalid date.
//!
//! The Node binding adds what only JavaScript values can hold (documented in
//! `docs/node.md`): `undefined`, functions and symbols are dropped from
//! objects and become null in arrays, and a `Date` (or any object with a
//! `toJSON` method) is stored as what `toJSON` returns.
//!
//! # JSON
//!
//! The same shape as compact JSON. [`Value::Bytes`](crate::Value::Bytes) is
//! written `{"$bytes":"<lowercase hex>"}` and an object that is exactly one
//! `$bytes` key with a string value reads back as bytes. Integers that fit
//! `i64` read as [`Value::Int`](crate::Value::Int), other numbers (and `-0`)
//! as [`Value::Float`](crate::Value::Float); floats are written so that they read
//! back as floats (`1.0`, `-0.0`). NaN and infinities cannot be written
//! ([`EncodeError`]).
//!
//! # Errors
//!
//! [`DecodeError`] has a [kind](DecodeErrorKind) (`Malformed`, `Shape`,
//! `Range`), a path such as `$.records[0].timestamp` and a message; it displays
//! as ``missing field `nodeId` at $.records[0].timestamp``. [`EncodeError`]
//! (JSON only) has the same parts.
//!
//! Paths: `$` is the root (the record, or the value for the value functions),
//! `.field` a map key that is a plain identifier (`[A-Za-z_][A-Za-z0-9_]*`),
//! `["key"]` any other map key (JSON-escaped, e.g. `$.value["user name"]`) and
//! `[3]` an array index. A missing, unknown or duplicate field is reported at
//! the map that holds it; a wrong type or range at the field itself.

mod error;
mod json;
mod msgpack;
mod path;
mod shape;
#[cfg(test)]
mod test_support;
mod tree;

pub use error::{BufferTooSmall, DecodeError, DecodeErrorKind, EncodeError, EncodeErrorKind};
pub use json::{record_value_from_json, record_value_to_json, value_from_json, value_to_json};
pub use msgpack::{
    decode_record_value, decode_value, encode_record_value, encode_record_value_into,
    encode_record_value_to_slice, encode_value, encoded_len, value_encoded_len,
};
pub use path::{PathSegment, ValuePath};
pub use shape::{record_value_from_value, record_value_to_value, ENVELOPE_DEPTH, MAX_RECORD_DEPTH};
pub use tree::{walk, ValueBuilder, Visit};

/// The deepest nesting of arrays and maps the decoders accept in a user value,
/// counted from the value itself (a bare array is depth 1). The record
/// envelope around a value does not count.
///
/// Deeper input is a [`Malformed`](DecodeErrorKind::Malformed) error, so
/// decoding never overflows the stack.
pub const MAX_DEPTH: usize = 256;
