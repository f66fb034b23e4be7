//! JSON through `serde_json`: [`Serialize`] views of records and values for
//! writing, and [`DeserializeSeed`] visitors that build [`Value`]s directly for
//! reading.
//!
//! The visitors rather than `serde_json::Value` because the codec needs map
//! key order (without the crate-wide `preserve_order` feature), `$bytes`
//! objects, the same [`MAX_DEPTH`] as MessagePack counted from the user value
//! (`serde_json`'s own limit is 128 from the root, so it is switched off and
//! the visitors count instead) and errors with kinds and paths.
//!
//! A record is read in two steps: the text becomes a [`Node`] tree, which the
//! interpreter shared with MessagePack and [`Value`] trees
//! ([`shape::read_record`]) then reads, so shape errors are the same for every
//! source.
//!
//! `serde`'s error types cannot carry a [`DecodeError`] / [`EncodeError`], so
//! the real error travels beside them in a slot: a visitor or view that fails
//! for a reason of its own puts its error there, an error raised by
//! `serde_json` (syntax, or a visitor's `custom` error, to which `serde_json`
//! adds line and column) is converted where it is first caught, and each
//! enclosing level prefixes its path segment on the way out.

use super::error::{quoted, DecodeError, EncodeError, EncodeErrorKind};
use super::shape::{self, wrong_type, Key, Kind, Num, Source};
use super::MAX_DEPTH;
use crate::record::{OrMapEntry, RecordValue, Timestamp};
use crate::value::{Value, ValueMap};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::ser::{self, Serialize, SerializeMap, SerializeSeq, Serializer};
use std::cell::Cell;
use std::fmt;

/// The key of the one-key object that stands for [`Value::Bytes`] in JSON.
const BYTES_KEY: &str = "$bytes";

// ---------------------------------------------------------------------------
// Public API

/// Writes a record value as compact JSON in the shape of TopGun's
/// `StorageValue`, keys in the canonical order (see
/// [`encode_record_value`](super::encode_record_value)).
///
/// User values: integers as integers, floats so that they read back as floats
/// (`1.0`, `-0.0`, `1e+300`: the shortest text that round-trips), bytes as
/// `{"$bytes":"<lowercase hex>"}`, map keys in insertion order. `u64` fields are
/// written exactly. Cost: one pass, output grows as needed.
///
/// # Errors
///
/// [`EncodeError`] naming the path of a NaN or infinite float
/// ([`EncodeErrorKind::NonFiniteFloat`]), or of a user map whose only key is
/// `$bytes` with a string value, which would read back as bytes
/// ([`EncodeErrorKind::ReservedBytesKey`]).
pub fn record_value_to_json(v: &RecordValue) -> Result<String, EncodeError> {
    let slot = EncodeSlot::default();
    to_json(&JsonRecord { r: v, slot: &slot }, &slot)
}

/// Reads a record value from JSON text (the form [`record_value_to_json`]
/// writes, with fields in any order and insignificant whitespace allowed).
///
/// Accepts what [`decode_record_value`](super::decode_record_value) accepts:
/// `ttlMs: null` as absent, whole floats such as `1.7e12` for `millis` /
/// `counter` / `ttlMs`. Envelope integers are exact up to
/// [`MAX_MILLIS`](crate::MAX_MILLIS) (2^63 - 1, the range of `millis` and
/// `ttlMs`); user values follow [`value_from_json`].
///
/// The whole text is parsed before its shape is checked, so a syntax error
/// anywhere wins over a shape error before it.
///
/// # Errors
///
/// [`Malformed`](super::DecodeErrorKind::Malformed) for invalid JSON (with
/// `serde_json`'s message, e.g. ``expected `,` or `]` at line 1 column 4``),
/// trailing characters, lone surrogate escapes, nesting over [`MAX_DEPTH`] in
/// a user value (or in the envelope around it) or duplicate keys;
/// [`Shape`](super::DecodeErrorKind::Shape) and
/// [`Range`](super::DecodeErrorKind::Range) as for
/// [`record_value_from_value`](super::record_value_from_value) and
/// [`value_from_json`].
pub fn record_value_from_json(text: &str) -> Result<RecordValue, DecodeError> {
    let node = parse(text, |de, slot| NodeSeed { slot, depth: 0 }.deserialize(de))?;
    shape::read_record(&mut NodeSource(node))
}

/// Writes a user value as compact JSON (the rules of
/// [`record_value_to_json`]).
///
/// # Errors
///
/// As [`record_value_to_json`].
pub fn value_to_json(v: &Value) -> Result<String, EncodeError> {
    let slot = EncodeSlot::default();
    to_json(&JsonValue { v, slot: &slot }, &slot)
}

/// Reads a user value from JSON text.
///
/// An integer literal (no fraction, no exponent) becomes [`Value::Int`]
/// exactly, or is a range error outside `i64`, as in MessagePack (never the
/// nearest float); every other number is a [`Value::Float`] (so `1.0` stays a
/// float, `1e19` is a float and `-0.0` keeps its sign; `-0` is read as `-0.0`
/// too, as `serde_json` does). An object that is exactly
/// `{"$bytes": "<hex>"}` becomes [`Value::Bytes`]; key order is kept.
///
/// # Errors
///
/// [`Malformed`](super::DecodeErrorKind::Malformed) as for
/// [`record_value_from_json`]; [`Shape`](super::DecodeErrorKind::Shape) for bad
/// hex in a `$bytes` object; [`Range`](super::DecodeErrorKind::Range) for an
/// integer literal outside `i64` (`9223372036854775808`) or a number too
/// large for a float64 (`1e400`), with the path of the number.
pub fn value_from_json(text: &str) -> Result<Value, DecodeError> {
    parse(text, |de, slot| {
        ValueSeed { slot, depth: 0 }.deserialize(de)
    })
}

// ---------------------------------------------------------------------------
// Writer

/// Where a view leaves the reason it failed, its path relative to the value
/// being written.
type EncodeSlot = Cell<Option<EncodeError>>;

fn to_json(view: &impl Serialize, slot: &EncodeSlot) -> Result<String, EncodeError> {
    serde_json::to_string(view).map_err(|e| {
        // `serde_json` only fails through the views (writing to memory cannot
        // fail and every key is a string), which fill the slot.
        slot.take()
            .unwrap_or_else(|| EncodeError::new(EncodeErrorKind::NonFiniteFloat, e.to_string()))
    })
}

/// Puts `err` in the slot; returns the `serde` error to unwind with.
#[cold]
fn reject_encode<E: ser::Error>(slot: &EncodeSlot, err: EncodeError) -> E {
    let e = E::custom(err.message());
    slot.set(Some(err));
    e
}

/// Prefixes a path segment to the error in the slot; passes `e` on.
#[cold]
fn prefix_encode<E>(
    slot: &EncodeSlot,
    e: E,
    segment: impl FnOnce(EncodeError) -> EncodeError,
) -> E {
    if let Some(err) = slot.take() {
        slot.set(Some(segment(err)));
    }
    e
}

/// A user value as `serde` sees it.
struct JsonValue<'a> {
    v: &'a Value,
    slot: &'a EncodeSlot,
}

impl Serialize for JsonValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let slot = self.slot;
        match self.v {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            // `serde_json` writes the shortest text that reads back to the
            // same bits, always with a `.` or an exponent (`1.0`, `-0.0`,
            // `1e+300`), so it reads back as a float.
            Value::Float(f) if f.is_finite() => s.serialize_f64(*f),
            Value::Float(f) => {
                let what = if f.is_nan() {
                    "NaN"
                } else {
                    "an infinite float"
                };
                Err(reject_encode(
                    slot,
                    EncodeError::new(
                        EncodeErrorKind::NonFiniteFloat,
                        format!("{what} cannot be written as JSON"),
                    ),
                ))
            }
            Value::String(text) => s.serialize_str(text),
            Value::Bytes(b) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry(BYTES_KEY, &hex::encode(b))?;
                m.end()
            }
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for (i, v) in items.iter().enumerate() {
                    seq.serialize_element(&JsonValue { v, slot })
                        .map_err(|e| prefix_encode(slot, e, |err| err.in_index(i)))?;
                }
                seq.end()
            }
            Value::Map(map) => {
                if map.len() == 1 && matches!(map.get(BYTES_KEY), Some(Value::String(_))) {
                    return Err(reject_encode(
                        slot,
                        EncodeError::new(
                            EncodeErrorKind::ReservedBytesKey,
                            "a map whose only key is \"$bytes\" with a string value cannot be written as JSON (it would read back as bytes)",
                        ),
                    ));
                }
                let mut m = s.serialize_map(Some(map.len()))?;
                for (k, v) in map.iter() {
                    m.serialize_entry(k, &JsonValue { v, slot })
                        .map_err(|e| prefix_encode(slot, e, |err| err.in_key(k)))?;
                }
                m.end()
            }
        }
    }
}

/// `{millis, counter, nodeId}`.
struct JsonTimestamp<'a>(&'a Timestamp);

impl Serialize for JsonTimestamp<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("millis", &self.0.millis)?;
        m.serialize_entry("counter", &self.0.counter)?;
        m.serialize_entry("nodeId", &self.0.node_id)?;
        m.end()
    }
}

/// The fields an LWW record and an OR record share: `value`, `timestamp`, `tag`
/// (OR only) and `ttlMs` when present.
fn write_fields<M: SerializeMap>(
    m: &mut M,
    slot: &EncodeSlot,
    value: &Value,
    timestamp: &Timestamp,
    tag: Option<&str>,
    ttl_ms: Option<u64>,
) -> Result<(), M::Error> {
    m.serialize_entry("value", &JsonValue { v: value, slot })
        .map_err(|e| prefix_encode(slot, e, |err| err.in_key("value")))?;
    m.serialize_entry("timestamp", &JsonTimestamp(timestamp))?;
    if let Some(tag) = tag {
        m.serialize_entry("tag", tag)?;
    }
    if let Some(ttl) = ttl_ms {
        m.serialize_entry("ttlMs", &ttl)?;
    }
    Ok(())
}

/// The `records` of an OR record.
struct JsonEntries<'a> {
    records: &'a [OrMapEntry],
    slot: &'a EncodeSlot,
}

impl Serialize for JsonEntries<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let slot = self.slot;
        let mut seq = s.serialize_seq(Some(self.records.len()))?;
        for (i, e) in self.records.iter().enumerate() {
            seq.serialize_element(&JsonEntry { e, slot })
                .map_err(|err| prefix_encode(slot, err, |x| x.in_index(i)))?;
        }
        seq.end()
    }
}

struct JsonEntry<'a> {
    e: &'a OrMapEntry,
    slot: &'a EncodeSlot,
}

impl Serialize for JsonEntry<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = self.e;
        let mut m = s.serialize_map(None)?;
        write_fields(
            &mut m,
            self.slot,
            &e.value,
            &e.timestamp,
            Some(&e.tag),
            e.ttl_ms,
        )?;
        m.end()
    }
}

/// A record value in the shape of `StorageValue`.
struct JsonRecord<'a> {
    r: &'a RecordValue,
    slot: &'a EncodeSlot,
}

impl Serialize for JsonRecord<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let slot = self.slot;
        let mut m = s.serialize_map(None)?;
        match self.r {
            RecordValue::Lww {
                value,
                timestamp,
                ttl_ms,
            } => write_fields(&mut m, slot, value, timestamp, None, *ttl_ms)?,
            RecordValue::OrMap { records } => {
                m.serialize_entry("type", "OR")?;
                m.serialize_entry("records", &JsonEntries { records, slot })
                    .map_err(|e| prefix_encode(slot, e, |err| err.in_key("records")))?;
            }
            RecordValue::OrTombstones { tags } => {
                m.serialize_entry("type", "OR_TOMBSTONES")?;
                m.serialize_entry("tags", tags)?;
            }
        }
        m.end()
    }
}

// ---------------------------------------------------------------------------
// Reader

/// What the visitors of one parse share: where a visitor leaves the error of
/// a failed read (its path relative to the value being read), and the number
/// tokens of the text, for the one question `serde_json` cannot answer.
struct Slot<'t> {
    error: Option<DecodeError>,
    numbers: NumberTokens<'t>,
}

/// The number tokens of a JSON text, in document order.
///
/// `serde_json` hands an integer literal that fits neither `u64` nor `i64`
/// (`18446744073709551616`, `-9223372036854775809`) to the visitor as the
/// nearest `f64`, exactly as it hands over `1.8446744073709552e19`; only the
/// text tells them apart. Every number the visitors see counts one token
/// ([`Self::next`]); only for a float that an overflowing integer could have
/// become (whole, and at least 2^64 or at most -2^63: rare) is the text
/// scanned, forward from where the previous question stopped, so a parse
/// scans the text at most once in all.
struct NumberTokens<'t> {
    text: &'t [u8],
    /// Numbers the visitors have seen so far.
    seen: usize,
    /// Where the scan stands, and how many number tokens lie before it.
    pos: usize,
    scanned: usize,
}

impl<'t> NumberTokens<'t> {
    fn new(text: &'t str) -> Self {
        Self {
            text: text.as_bytes(),
            seen: 0,
            pos: 0,
            scanned: 0,
        }
    }

    /// Counts one number seen by a visitor; returns its index.
    fn next(&mut self) -> usize {
        self.seen += 1;
        self.seen - 1
    }

    /// The text of number token `index`, if it is written as an integer (no
    /// fraction, no exponent). Tokens before the scan position cannot be
    /// asked for again (the visitors see numbers in document order).
    #[cold]
    fn integer_literal(&mut self, index: usize) -> Option<&'t str> {
        let text = self.text;
        while self.pos < text.len() {
            match text[self.pos] {
                b'"' => {
                    // Skip the string, escapes included.
                    self.pos += 1;
                    while self.pos < text.len() {
                        match text[self.pos] {
                            b'\\' => self.pos += 2,
                            b'"' => {
                                self.pos += 1;
                                break;
                            }
                            _ => self.pos += 1,
                        }
                    }
                }
                b'-' | b'0'..=b'9' => {
                    let start = self.pos;
                    while self.pos < text.len()
                        && matches!(
                            text[self.pos],
                            b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                        )
                    {
                        self.pos += 1;
                    }
                    let token = &text[start..self.pos];
                    self.scanned += 1;
                    if self.scanned - 1 == index {
                        let integer = !token.iter().any(|b| matches!(b, b'.' | b'e' | b'E'));
                        return integer.then(|| std::str::from_utf8(token).ok()).flatten();
                    }
                }
                _ => self.pos += 1,
            }
        }
        None
    }
}

/// Parses all of `text` with `read`, which gets a `serde_json` deserializer
/// without recursion limit (the visitors limit depth).
fn parse<T>(
    text: &str,
    read: impl FnOnce(
        &mut serde_json::Deserializer<serde_json::de::StrRead<'_>>,
        &mut Slot<'_>,
    ) -> Result<T, serde_json::Error>,
) -> Result<T, DecodeError> {
    let mut de = serde_json::Deserializer::from_str(text);
    de.disable_recursion_limit();
    let mut slot = Slot {
        error: None,
        numbers: NumberTokens::new(text),
    };
    read(&mut de, &mut slot)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| slot.error.take().unwrap_or_else(|| from_serde(&e)))
}

/// A `serde_json` error as a [`DecodeError`] at `$`: `Range` for a number
/// beyond float64, `Malformed` for everything else.
#[cold]
fn from_serde(e: &impl fmt::Display) -> DecodeError {
    let message = e.to_string();
    if message.starts_with("number out of range") {
        DecodeError::range(message)
    } else {
        DecodeError::malformed(message)
    }
}

/// Prefixes a path segment to the error in the slot (converting `e` first if
/// the slot is empty); passes `e` on.
#[cold]
fn prefix<E: fmt::Display>(
    slot: &mut Slot<'_>,
    e: E,
    segment: impl FnOnce(DecodeError) -> DecodeError,
) -> E {
    let err = slot.error.take().unwrap_or_else(|| from_serde(&e));
    slot.error = Some(segment(err));
    e
}

/// Reads the elements of an array with `next`, which reads one element
/// (`None` after the last) with the slot it is given; an error gets the
/// element's index prefixed.
fn read_elements<'t, T, E: fmt::Display>(
    slot: &mut Slot<'t>,
    mut next: impl FnMut(&mut Slot<'t>) -> Result<Option<T>, E>,
) -> Result<Vec<T>, E> {
    let mut items = Vec::new();
    loop {
        let i = items.len();
        match next(slot) {
            Ok(Some(v)) => items.push(v),
            Ok(None) => return Ok(items),
            Err(e) => return Err(prefix(slot, e, |err| err.in_index(i))),
        }
    }
}

/// Puts `err` in the slot; returns the `serde` error to unwind with.
#[cold]
fn reject<E: de::Error>(slot: &mut Slot<'_>, err: DecodeError) -> E {
    let e = E::custom(err.message());
    slot.error = Some(err);
    e
}

/// The error for nesting deeper than [`MAX_DEPTH`] (`serde_json` adds line
/// and column).
#[cold]
fn too_deep<E: de::Error>() -> E {
    E::custom(format_args!("nesting deeper than {MAX_DEPTH} levels"))
}

/// The depth inside a container entered at `depth`. Checked before anything
/// inside is read, so deep input stops long before the stack runs out.
fn enter<E: de::Error>(depth: usize) -> Result<usize, E> {
    if depth < MAX_DEPTH {
        Ok(depth + 1)
    } else {
        Err(too_deep())
    }
}

fn hex_bytes(hex: &str) -> Result<Value, DecodeError> {
    hex::decode(hex).map(Value::Bytes).map_err(|e| {
        DecodeError::shape(format!(
            "invalid hex in {{\"$bytes\": ...}}: {e} (expected an even number of hex digits)"
        ))
    })
}

/// Reads a user value; `depth` is the number of containers around it.
struct ValueSeed<'s, 't> {
    slot: &'s mut Slot<'t>,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_, '_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_, '_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        self.slot.numbers.next();
        Ok(Value::Int(i))
    }

    fn visit_u64<E: de::Error>(self, u: u64) -> Result<Value, E> {
        self.slot.numbers.next();
        // Only integer literals arrive here; above i64::MAX they are out of
        // range, as in MessagePack (never rounded to a float).
        match i64::try_from(u) {
            Ok(i) => Ok(Value::Int(i)),
            Err(_) => Err(reject(self.slot, integer_out_of_range(&u.to_string()))),
        }
    }

    fn visit_f64<E: de::Error>(self, f: f64) -> Result<Value, E> {
        let index = self.slot.numbers.next();
        // An integer literal beyond u64 / below i64::MIN arrives as the
        // nearest float, at least 2^64 or at most -2^63; a float literal
        // (`1e19`, `-9223372036854775808.0`) stays a float.
        const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;
        const MINUS_TWO_POW_63: f64 = -9_223_372_036_854_775_808.0;
        if f.fract() == 0.0 && (f >= TWO_POW_64 || f <= MINUS_TWO_POW_63) {
            if let Some(literal) = self.slot.numbers.integer_literal(index) {
                return Err(reject(self.slot, integer_out_of_range(literal)));
            }
        }
        Ok(Value::Float(f))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let depth = enter(self.depth)?;
        read_elements(self.slot, |slot| {
            seq.next_element_seed(ValueSeed { slot, depth })
        })
        .map(Value::Array)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let slot = self.slot;
        if self.depth >= MAX_DEPTH {
            return bytes_leaf(slot, map);
        }
        let depth = self.depth + 1;
        let mut m = ValueMap::new();
        while let Some(key) = map.next_key::<String>()? {
            if m.contains_key(&key) {
                return Err(de::Error::custom(format_args!(
                    "duplicate map key {}",
                    quoted(&key)
                )));
            }
            let v = map
                .next_value_seed(ValueSeed {
                    slot: &mut *slot,
                    depth,
                })
                .map_err(|e| prefix(slot, e, |err| err.in_key(&key)))?;
            m.insert(key, v);
        }
        if m.len() == 1 {
            if let Some(Value::String(hex)) = m.get(BYTES_KEY) {
                return hex_bytes(hex).map_err(|err| reject(slot, err));
            }
        }
        Ok(Value::from(m))
    }
}

/// The error for an integer literal outside `i64` in a user value (the
/// MessagePack decoder's words, without its byte offset).
#[cold]
fn integer_out_of_range(literal: &str) -> DecodeError {
    DecodeError::range(format!("integer {literal} is out of range for i64"))
}

/// Reads `{"$bytes": "<hex>"}` where no further nesting is allowed: bytes are
/// a leaf (MessagePack bin), not a map. Anything else is too deep.
fn bytes_leaf<'de, A: MapAccess<'de>>(slot: &mut Slot<'_>, mut map: A) -> Result<Value, A::Error> {
    // `String` values fail without descending into arrays or objects.
    let hex = match map.next_key::<String>() {
        Ok(Some(key)) if key == BYTES_KEY => map.next_value::<String>().ok(),
        _ => None,
    };
    match hex {
        Some(hex) if matches!(map.next_key::<String>(), Ok(None)) => {
            hex_bytes(&hex).map_err(|err| reject(slot, err))
        }
        _ => Err(too_deep()),
    }
}

/// A record's JSON as the interpreter reads it: envelope items as they are
/// (integers exact up to `u64::MAX`; the interpreter checks their range),
/// every `value` field already a user
/// [`Value`] (with its own depth count, `$bytes` objects and all). Map keys
/// may repeat; the interpreter rejects repeated fields.
#[derive(Default)]
enum Node {
    #[default]
    Null,
    Bool,
    Num(Num),
    Str(String),
    Array(Vec<Node>),
    Map(Vec<(String, Node)>),
    User(Value),
}

impl Node {
    fn kind(&self) -> Kind {
        match self {
            Node::Null | Node::User(Value::Null) => Kind::Null,
            Node::Bool | Node::User(Value::Bool(_)) => Kind::Bool,
            Node::Num(Num::F(_)) | Node::User(Value::Float(_)) => Kind::Float,
            Node::Num(_) | Node::User(Value::Int(_)) => Kind::Int,
            Node::Str(_) | Node::User(Value::String(_)) => Kind::Str,
            Node::User(Value::Bytes(_)) => Kind::Bytes,
            Node::Array(_) | Node::User(Value::Array(_)) => Kind::Array,
            Node::Map(_) | Node::User(Value::Map(_)) => Kind::Map,
        }
    }
}

/// Reads a [`Node`]; `depth` counts from the record.
struct NodeSeed<'s, 't> {
    slot: &'s mut Slot<'t>,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_, '_> {
    type Value = Node;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NodeSeed<'_, '_> {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Bool)
    }

    fn visit_i64<E>(self, i: i64) -> Result<Node, E> {
        self.slot.numbers.next();
        Ok(Node::Num(Num::I(i)))
    }

    fn visit_u64<E>(self, u: u64) -> Result<Node, E> {
        self.slot.numbers.next();
        Ok(Node::Num(i64::try_from(u).map_or(Num::U(u), Num::I)))
    }

    fn visit_f64<E>(self, f: f64) -> Result<Node, E> {
        self.slot.numbers.next();
        Ok(Node::Num(Num::F(f)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Node, E> {
        Ok(Node::Str(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Node, E> {
        Ok(Node::Str(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let depth = enter(self.depth)?;
        read_elements(self.slot, |slot| {
            seq.next_element_seed(NodeSeed { slot, depth })
        })
        .map(Node::Array)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let slot = self.slot;
        let depth = enter(self.depth)?;
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let item = if key == "value" {
                let seed = ValueSeed {
                    slot: &mut *slot,
                    depth: 0,
                };
                map.next_value_seed(seed).map(Node::User)
            } else {
                let seed = NodeSeed {
                    slot: &mut *slot,
                    depth,
                };
                map.next_value_seed(seed)
            };
            let item = item.map_err(|e| prefix(slot, e, |err| err.in_key(&key)))?;
            entries.push((key, item));
        }
        Ok(Node::Map(entries))
    }
}

/// A [`Source`] over a [`Node`] tree; items are moved out, not copied.
struct NodeSource(Node);

impl NodeSource {
    fn take(&mut self) -> Node {
        std::mem::take(&mut self.0)
    }
}

impl Source for NodeSource {
    type MapState = std::vec::IntoIter<(String, Node)>;
    type SeqState = std::vec::IntoIter<Node>;

    fn peek(&mut self) -> Result<Kind, DecodeError> {
        Ok(self.0.kind())
    }

    fn read_null(&mut self) -> Result<(), DecodeError> {
        match self.take() {
            Node::Null => Ok(()),
            other => Err(wrong_type("null", other.kind())),
        }
    }

    fn read_str(&mut self) -> Result<String, DecodeError> {
        match self.take() {
            Node::Str(s) => Ok(s),
            other => Err(wrong_type("string", other.kind())),
        }
    }

    fn read_num(&mut self) -> Result<Num, DecodeError> {
        match self.take() {
            Node::Num(n) => Ok(n),
            other => Err(wrong_type("number", other.kind())),
        }
    }

    fn begin_map(&mut self) -> Result<Self::MapState, DecodeError> {
        match self.take() {
            Node::Map(entries) => Ok(entries.into_iter()),
            other => Err(wrong_type("map", other.kind())),
        }
    }

    fn next_key(
        &mut self,
        state: &mut Self::MapState,
        names: &[&str],
    ) -> Result<Option<Key>, DecodeError> {
        Ok(state.next().map(|(k, v)| {
            self.0 = v;
            Key::new(k, names)
        }))
    }

    fn begin_seq(&mut self) -> Result<Self::SeqState, DecodeError> {
        match self.take() {
            Node::Array(items) => Ok(items.into_iter()),
            other => Err(wrong_type("array", other.kind())),
        }
    }

    fn next_element(&mut self, state: &mut Self::SeqState) -> Result<bool, DecodeError> {
        Ok(state.next().map(|v| self.0 = v).is_some())
    }

    fn seq_size_hint(&self, state: &Self::SeqState) -> usize {
        state.len()
    }

    fn read_value(&mut self) -> Result<Value, DecodeError> {
        // The interpreter reads user values only from `value` fields, which
        // `NodeSeed` always reads as `Node::User`.
        match self.take() {
            Node::User(v) => Ok(v),
            other => Err(wrong_type("a `value` field", other.kind())),
        }
    }

    fn skip(&mut self) -> Result<(), DecodeError> {
        self.take();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_support::{assert_fails, decoded, obj};
    use crate::codec::{encode_value, DecodeErrorKind};
    use crate::record::MAX_MILLIS;

    fn json(v: &Value) -> String {
        match value_to_json(v) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        }
    }

    fn parse(text: &str) -> Value {
        decoded(&text, value_from_json(text))
    }

    #[track_caller]
    fn fails(text: &str, kind: DecodeErrorKind, path: &str, message: &str) {
        assert_fails(&text, value_from_json(text), kind, path, message);
    }

    #[test]
    fn writes_scalars() {
        assert_eq!(json(&Value::Null), "null");
        assert_eq!(json(&Value::Bool(true)), "true");
        assert_eq!(json(&Value::Bool(false)), "false");
        assert_eq!(json(&Value::Int(i64::MIN)), "-9223372036854775808");
        assert_eq!(json(&Value::Int(i64::MAX)), "9223372036854775807");
        assert_eq!(json(&Value::Float(1.0)), "1.0");
        assert_eq!(json(&Value::Float(-0.0)), "-0.0");
        assert_eq!(json(&Value::Float(0.1)), "0.1");
        assert_eq!(json(&Value::Float(1e300)), "1e+300");
        assert_eq!(json(&Value::Float(-2.5e-10)), "-2.5e-10");
        assert_eq!(json(&Value::Float(5e-324)), "5e-324");
        assert_eq!(json(&Value::Float(1e16)), "1e+16");
        assert_eq!(json(&Value::Float(123_456.0)), "123456.0");
        assert_eq!(
            json(&Value::Bytes(vec![0x00, 0xab, 0xff])),
            r#"{"$bytes":"00abff"}"#
        );
        assert_eq!(json(&Value::Bytes(vec![])), r#"{"$bytes":""}"#);
    }

    #[test]
    fn writes_strings_escaped() {
        assert_eq!(json(&Value::from("a\"b\\c/")), r#""a\"b\\c/""#);
        assert_eq!(
            json(&Value::from("\n\r\t\u{8}\u{c}\0\u{1f}\u{7f}")),
            format!("\"{}\u{7f}\"", r"\n\r\t\b\f\u0000\u001f")
        );
        assert_eq!(json(&Value::from("é😀")), "\"é😀\"");
    }

    #[test]
    fn writes_containers_in_order() {
        let v = obj([
            (
                "z",
                Value::Array(vec![Value::Int(1), Value::Float(2.0), Value::Null]),
            ),
            ("a", obj([])),
            ("m", Value::Array(vec![])),
        ]);
        assert_eq!(json(&v), r#"{"z":[1,2.0,null],"a":{},"m":[]}"#);
        assert_eq!(encode_value(&parse(&json(&v))), encode_value(&v));
    }

    #[test]
    fn non_finite_floats_cannot_be_written() {
        let v = Value::Array(vec![
            Value::Int(1),
            obj([("a b", Value::Array(vec![Value::Float(f64::NAN)]))]),
        ]);
        let e = value_to_json(&v).err();
        let e = e.as_ref().map(|e| (e.kind(), e.path(), e.message()));
        assert_eq!(
            e,
            Some((
                EncodeErrorKind::NonFiniteFloat,
                "$[1][\"a b\"][0]",
                "NaN cannot be written as JSON"
            ))
        );
        for f in [f64::INFINITY, f64::NEG_INFINITY] {
            let e = value_to_json(&Value::Float(f)).err();
            assert_eq!(
                e.map(|e| e.to_string()).as_deref(),
                Some("an infinite float cannot be written as JSON at $")
            );
        }
        let r = RecordValue::OrMap {
            records: vec![
                OrMapEntry {
                    value: Value::Null,
                    timestamp: Timestamp::default(),
                    tag: String::new(),
                    ttl_ms: None,
                },
                OrMapEntry {
                    value: obj([("x", Value::Float(f64::NAN))]),
                    timestamp: Timestamp::default(),
                    tag: String::new(),
                    ttl_ms: None,
                },
            ],
        };
        let e = record_value_to_json(&r).err();
        assert_eq!(
            e.as_ref().map(EncodeError::path),
            Some("$.records[1].value.x")
        );
        let r = RecordValue::lww(Value::Float(f64::NEG_INFINITY), Timestamp::default());
        let e = record_value_to_json(&r).err();
        assert_eq!(e.as_ref().map(EncodeError::path), Some("$.value"));
    }

    #[test]
    fn maps_that_look_like_bytes_cannot_be_written() {
        let e = value_to_json(&Value::Array(vec![obj([("$bytes", Value::from("00"))])])).err();
        let e = e.as_ref().map(|e| (e.kind(), e.path()));
        assert_eq!(e, Some((EncodeErrorKind::ReservedBytesKey, "$[0]")));
        // Other `$bytes` maps are unambiguous and round-trip as maps.
        for v in [
            obj([("$bytes", Value::Int(1))]),
            obj([("$bytes", Value::from("00")), ("x", Value::Null)]),
            obj([("x", Value::Null), ("$bytes", Value::from("00"))]),
        ] {
            assert_eq!(encode_value(&parse(&json(&v))), encode_value(&v));
        }
    }

    #[test]
    fn reads_numbers() {
        assert_eq!(parse("0"), Value::Int(0));
        // serde_json reads `-0` as a float, like `-0.0`.
        match parse("-0") {
            Value::Float(f) => assert!(f == 0.0 && f.is_sign_negative()),
            other => panic!("{other:?}"),
        }
        assert_eq!(parse("-9223372036854775808"), Value::Int(i64::MIN));
        assert_eq!(parse("9223372036854775807"), Value::Int(i64::MAX));
        // Integer literals outside i64 are out of range (as in MessagePack),
        // never the nearest float; float literals of any size are floats.
        for (text, path) in [
            ("9223372036854775808", "$"),
            ("18446744073709551615", "$"),
            ("18446744073709551616", "$"),
            ("-9223372036854775809", "$"),
            ("100000000000000000000000", "$"),
            ("[1.5, -99999999999999999999]", "$[1]"),
            (
                r#"{"a": "1e99 \" 7", "b": [1e19, 18446744073709551616]}"#,
                "$.b[1]",
            ),
        ] {
            let literal = text
                .rsplit(|c: char| !c.is_ascii_digit() && c != '-')
                .find(|t| !t.is_empty())
                .unwrap_or(text);
            fails(
                text,
                DecodeErrorKind::Range,
                path,
                &format!("integer {literal} is out of range for i64"),
            );
        }
        assert_eq!(parse("1e19"), Value::Float(1e19));
        assert_eq!(
            parse("18446744073709551616.0"),
            Value::Float(1.844_674_407_370_955_2e19)
        );
        assert_eq!(
            parse("-9223372036854775808.0"),
            Value::Float(-9_223_372_036_854_775_808.0)
        );
        assert_eq!(parse("1E23"), Value::Float(1e23));
        assert_eq!(parse("1.0"), Value::Float(1.0));
        assert_eq!(parse("1E2"), Value::Float(100.0));
        assert_eq!(parse("1e+2"), Value::Float(100.0));
        assert_eq!(parse("2.5e-3"), Value::Float(0.0025));
        assert_eq!(parse("1e300"), Value::Float(1e300));
        match parse("-0.0") {
            Value::Float(f) => assert!(f == 0.0 && f.is_sign_negative()),
            other => panic!("{other:?}"),
        }
        // Correctly rounded, also where naive algorithms are off by one ulp.
        assert_eq!(
            parse("2.2250738585072011e-308"),
            Value::Float(2.225_073_858_507_201e-308)
        );
        assert_eq!(
            parse("0.1000000000000000055511151231257827"),
            Value::Float(0.1)
        );
        fails(
            "1e400",
            DecodeErrorKind::Range,
            "$",
            "number out of range at line 1 column 5",
        );
        fails(
            "[-1e400]",
            DecodeErrorKind::Range,
            "$[0]",
            "number out of range at line 1 column 7",
        );
        assert_eq!(parse("1e-400"), Value::Float(0.0));
    }

    #[test]
    fn reads_strings() {
        assert_eq!(parse(r#""""#), Value::from(""));
        assert_eq!(
            parse(r#""a\"\\\/\b\f\n\r\t""#),
            Value::from("a\"\\/\u{8}\u{c}\n\r\t")
        );
        assert_eq!(parse(r#""\u00e9\u0000""#), Value::from("é\0"));
        assert_eq!(parse(r#""\ud83d\ude00 😀""#), Value::from("😀 😀"));
        assert_eq!(parse(r#""x\uD83D\uDE00y""#), Value::from("x😀y"));
        assert_eq!(parse("\"\u{7f}é\""), Value::from("\u{7f}é"));
    }

    #[test]
    fn reads_containers_keeping_order() {
        let v = parse(" { \"b\" : [ 1 , { } , [ ] ] ,\n\"a\":null } ");
        assert_eq!(
            encode_value(&v),
            encode_value(&obj([
                (
                    "b",
                    Value::Array(vec![Value::Int(1), obj([]), Value::Array(vec![])])
                ),
                ("a", Value::Null)
            ]))
        );
        assert_eq!(
            parse(r#"{"$bytes":"00FFab"}"#),
            Value::Bytes(vec![0, 0xff, 0xab])
        );
        assert_eq!(parse(r#"{"$bytes":""}"#), Value::Bytes(vec![]));
        assert_eq!(
            encode_value(&parse(r#"{"$bytes":1}"#)),
            encode_value(&obj([("$bytes", Value::Int(1))]))
        );
    }

    #[test]
    fn syntax_errors_have_line_and_column() {
        // serde_json's messages; the path is the innermost container or
        // element being read.
        let cases = [
            ("", "$", "EOF while parsing a value at line 1 column 0"),
            ("   ", "$", "EOF while parsing a value at line 1 column 3"),
            ("[1,\n  x]", "$[1]", "expected value at line 2 column 3"),
            ("[1,]", "$[1]", "trailing comma at line 1 column 4"),
            ("[1 2]", "$[1]", "expected `,` or `]` at line 1 column 4"),
            ("{\"a\":1,}", "$", "trailing comma at line 1 column 8"),
            ("{\"a\" 1}", "$.a", "expected `:` at line 1 column 6"),
            ("{\"a\":1 \"b\":2}", "$", "expected `,` or `}` at line 1 column 8"),
            ("{1:2}", "$", "key must be a string at line 1 column 2"),
            ("{\"a\":1,\"a\":2}", "$", "duplicate map key \"a\" at line 1 column 10"),
            ("1 2", "$", "trailing characters at line 1 column 3"),
            ("nul", "$", "EOF while parsing a value at line 1 column 3"),
            ("True", "$", "expected value at line 1 column 1"),
            ("NaN", "$", "expected value at line 1 column 1"),
            ("01", "$", "invalid number at line 1 column 2"),
            ("+1", "$", "expected value at line 1 column 1"),
            (".5", "$", "expected value at line 1 column 1"),
            ("-", "$", "EOF while parsing a value at line 1 column 1"),
            ("1.", "$", "EOF while parsing a value at line 1 column 2"),
            ("1e", "$", "EOF while parsing a value at line 1 column 2"),
            ("\"abc", "$", "EOF while parsing a string at line 1 column 4"),
            ("\"a\\qb\"", "$", "invalid escape at line 1 column 4"),
            ("\"a\\u12g4\"", "$", "invalid escape at line 1 column 8"),
            ("\"\\ud800\"", "$", "unexpected end of hex escape at line 1 column 8"),
            ("\"\\ud800\\u0041\"", "$", "lone leading surrogate in hex escape at line 1 column 13"),
            ("\"\\udc00\"", "$", "lone leading surrogate in hex escape at line 1 column 7"),
            ("\"a\tb\"", "$", "control character (\\u0000-\\u001F) found while parsing a string at line 1 column 3"),
            ("\"a\\n\nb\"", "$", "control character (\\u0000-\\u001F) found while parsing a string at line 2 column 0"),
            ("[\"é\", ü]", "$[1]", "expected value at line 1 column 8"),
            ("{\"k\":[tru]}", "$.k[0]", "expected ident at line 1 column 10"),
        ];
        for (text, path, message) in cases {
            fails(text, DecodeErrorKind::Malformed, path, message);
        }
    }

    #[test]
    fn bad_hex_is_a_shape_error() {
        fails(
            r#"{"$bytes":"zz"}"#,
            DecodeErrorKind::Shape,
            "$",
            "invalid hex in {\"$bytes\": ...}: Invalid character 'z' at position 0 (expected an even number of hex digits)",
        );
        fails(
            r#"{"a":[{"$bytes":"abc"}]}"#,
            DecodeErrorKind::Shape,
            "$.a[0]",
            "invalid hex in {\"$bytes\": ...}: Odd number of digits (expected an even number of hex digits)",
        );
    }

    #[test]
    fn depth_limit() {
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(value_from_json(&nested(MAX_DEPTH)).is_ok());
        let e = value_from_json(&nested(MAX_DEPTH + 1)).err();
        assert_eq!(
            e.as_ref().map(DecodeError::kind),
            Some(DecodeErrorKind::Malformed)
        );
        assert_eq!(
            e.as_ref().map(DecodeError::message),
            Some("nesting deeper than 256 levels at line 1 column 258")
        );
        let e = value_from_json(&"[".repeat(100_000)).err();
        assert_eq!(
            e.as_ref().map(DecodeError::kind),
            Some(DecodeErrorKind::Malformed)
        );
        let e = value_from_json(&"{\"a\":".repeat(100_000)).err();
        assert_eq!(
            e.as_ref().map(DecodeError::kind),
            Some(DecodeErrorKind::Malformed)
        );
        // Bytes at the deepest level are a leaf, as in MessagePack.
        let deep_bytes = format!(
            "{}{{\"$bytes\":\"00\"}}{}",
            "[".repeat(MAX_DEPTH),
            "]".repeat(MAX_DEPTH)
        );
        let v = parse(&deep_bytes);
        assert_eq!(json(&v), deep_bytes);
        let deep_map = format!(
            "{}{{\"$bytes\":\"00\",\"x\":1}}{}",
            "[".repeat(MAX_DEPTH),
            "]".repeat(MAX_DEPTH)
        );
        let e = value_from_json(&deep_map).err();
        assert_eq!(
            e.as_ref().map(DecodeError::kind),
            Some(DecodeErrorKind::Malformed)
        );
        // In a record the limit counts from the value.
        let rec = format!(
            "{{\"value\":{},\"timestamp\":{{\"millis\":1,\"counter\":0,\"nodeId\":\"n\"}}}}",
            nested(MAX_DEPTH)
        );
        assert!(record_value_from_json(&rec).is_ok());
    }

    #[test]
    fn envelope_nesting_is_limited_too() {
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        // Envelope nesting counts from the record, a `value` inside it from
        // itself: both at their limit is about 2 * MAX_DEPTH levels of
        // recursion, well within a test thread's stack.
        let worst = format!(
            "{}{{\"value\":{}}}{}",
            "[".repeat(MAX_DEPTH - 1),
            nested(MAX_DEPTH),
            "]".repeat(MAX_DEPTH - 1)
        );
        let e = record_value_from_json(&worst).err();
        assert_eq!(
            e.as_ref().map(|e| (e.kind(), e.path(), e.message())),
            Some((
                DecodeErrorKind::Shape,
                "$",
                "expected map (a record value), found array"
            ))
        );
        let e = record_value_from_json(&format!("{{\"x\":{}", "[".repeat(100_000))).err();
        assert_eq!(
            e.as_ref().map(DecodeError::kind),
            Some(DecodeErrorKind::Malformed)
        );
        assert!(e.as_ref().is_some_and(|e| e
            .message()
            .starts_with("nesting deeper than 256 levels at line 1 column")));
    }

    #[test]
    fn envelope_numbers() {
        let rec = |millis: &str| {
            record_value_from_json(&format!(
                "{{\"value\":1,\"timestamp\":{{\"millis\":{millis},\"counter\":0,\"nodeId\":\"n\"}}}}"
            ))
            .map_err(|e| (e.kind(), e.path().to_owned(), e.message().to_owned()))
        };
        // Exact up to 2^63-1 (where a float would round); beyond it, a
        // range error rather than a number no other form can hold.
        let millis = |r: Result<RecordValue, _>| match r {
            Ok(RecordValue::Lww { timestamp, .. }) => Ok(timestamp.millis),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e),
        };
        assert_eq!(millis(rec("9223372036854775807")), Ok(MAX_MILLIS));
        assert_eq!(millis(rec("9007199254740993")), Ok((1 << 53) + 1));
        assert_eq!(millis(rec("1.7e12")), Ok(1_700_000_000_000));
        let out_of_range = |text: &str| {
            Err((
                DecodeErrorKind::Range,
                "$.timestamp.millis".into(),
                format!("{text} is out of range for 0 ..= 2^63-1"),
            ))
        };
        assert_eq!(millis(rec("-1")), out_of_range("-1"));
        assert_eq!(
            millis(rec("9223372036854775808")),
            out_of_range("9223372036854775808")
        );
        assert_eq!(
            millis(rec("18446744073709551615")),
            out_of_range("18446744073709551615")
        );
        assert_eq!(
            millis(rec("1e400")),
            Err((
                DecodeErrorKind::Range,
                "$.timestamp.millis".into(),
                "number out of range at line 1 column 38".into()
            ))
        );
    }

    #[test]
    fn record_json_forms() {
        let ts = Timestamp::new(1_700_000_000_000, 3, "node\"1");
        let cases = [
            (
                RecordValue::lww(Value::Bytes(vec![1, 2]), ts.clone()),
                r#"{"value":{"$bytes":"0102"},"timestamp":{"millis":1700000000000,"counter":3,"nodeId":"node\"1"}}"#,
            ),
            (
                RecordValue::Lww {
                    value: Value::Null,
                    timestamp: Timestamp::new(MAX_MILLIS, u32::MAX, ""),
                    ttl_ms: Some(MAX_MILLIS),
                },
                r#"{"value":null,"timestamp":{"millis":9223372036854775807,"counter":4294967295,"nodeId":""},"ttlMs":9223372036854775807}"#,
            ),
            (
                RecordValue::OrMap {
                    records: vec![
                        OrMapEntry {
                            value: Value::Float(1.0),
                            timestamp: ts.clone(),
                            tag: "t1".into(),
                            ttl_ms: None,
                        },
                        OrMapEntry {
                            value: Value::from("x"),
                            timestamp: ts,
                            tag: "t2".into(),
                            ttl_ms: Some(5),
                        },
                    ],
                },
                r#"{"type":"OR","records":[{"value":1.0,"timestamp":{"millis":1700000000000,"counter":3,"nodeId":"node\"1"},"tag":"t1"},{"value":"x","timestamp":{"millis":1700000000000,"counter":3,"nodeId":"node\"1"},"tag":"t2","ttlMs":5}]}"#,
            ),
            (
                RecordValue::OrMap { records: vec![] },
                r#"{"type":"OR","records":[]}"#,
            ),
            (
                RecordValue::OrTombstones { tags: vec![] },
                r#"{"type":"OR_TOMBSTONES","tags":[]}"#,
            ),
            (
                RecordValue::OrTombstones {
                    tags: vec!["a".into(), "\n".into()],
                },
                r#"{"type":"OR_TOMBSTONES","tags":["a","\n"]}"#,
            ),
        ];
        for (r, text) in cases {
            assert_eq!(record_value_to_json(&r).as_deref(), Ok(text));
            assert_eq!(record_value_from_json(text).as_ref(), Ok(&r));
        }
    }

    #[test]
    fn record_json_accepts_whitespace_null_ttl_and_float_millis() {
        let text = "\n{ \"ttlMs\" : null ,\t\"timestamp\": {\"nodeId\":\"n\",\"counter\":2.0,\"millis\":1.7e12},\r\n \"value\" : [ ] }\n";
        assert_eq!(
            record_value_from_json(text),
            Ok(RecordValue::lww(
                Value::Array(vec![]),
                Timestamp::new(1_700_000_000_000, 2, "n")
            ))
        );
        let e = record_value_from_json(
            r#"{"value":1,"timestamp":{"millis":18446744073709551616,"counter":0,"nodeId":"n"}}"#,
        )
        .err();
        assert_eq!(
            e.as_ref().map(|e| (e.kind(), e.path(), e.message())),
            Some((
                DecodeErrorKind::Range,
                "$.timestamp.millis",
                "1.8446744073709552e19 is out of range for 0 ..= 2^63-1"
            ))
        );
        let e = record_value_from_json(
            r#"{"value":1,"timestamp":{"millis":1,"counter":0,"nodeId":"n"}} x"#,
        )
        .err();
        assert_eq!(
            e.as_ref().map(|e| (e.kind(), e.path(), e.message())),
            Some((
                DecodeErrorKind::Malformed,
                "$",
                "trailing characters at line 1 column 63"
            ))
        );
        let e = record_value_from_json(
            r#"{"value":1,"timestamp":{"millis":1,"counter":0,"nodeId":"n"},}"#,
        )
        .err();
        assert_eq!(
            e.as_ref().map(|e| (e.kind(), e.path(), e.message())),
            Some((
                DecodeErrorKind::Malformed,
                "$",
                "trailing comma at line 1 column 62"
            ))
        );
        let e = record_value_from_json(r#"{"type":"OR","records":[,]}"#).err();
        assert_eq!(
            e.as_ref().map(DecodeError::kind),
            Some(DecodeErrorKind::Malformed)
        );
        let e = record_value_from_json(r#"{"type":"OR_TOMBSTONES","tags":["a" "b"]}"#).err();
        assert_eq!(
            e.as_ref().map(|e| (e.kind(), e.path(), e.message())),
            Some((
                DecodeErrorKind::Malformed,
                "$.tags[1]",
                "expected `,` or `]` at line 1 column 37"
            ))
        );
        let e = record_value_from_json(r#"{"type":"OR","records":[{"value":1,"timestamp":{"millis":1,"counter":0,"nodeId":"n"},"tag":"t"}"#).err();
        assert_eq!(
            e.as_ref().map(|e| (e.kind(), e.path(), e.message())),
            Some((
                DecodeErrorKind::Malformed,
                "$.records[1]",
                "EOF while parsing a list at line 1 column 95"
            ))
        );
    }
}
