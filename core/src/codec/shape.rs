//! The shape of TopGun's `StorageValue`, interpreted once for every source.
//!
//! The MessagePack reader, the JSON reader and a [`Value`] tree all implement
//! the small pull interface [`Source`]; [`read_record`] walks the envelope
//! through it, so all three give the same errors with the same paths.

use super::error::{quoted, DecodeError};
use super::MAX_DEPTH;
use crate::record::{OrMapEntry, RecordValue, Timestamp, MAX_MILLIS};
use crate::value::{Value, ValueMap};

/// Levels of containers a record envelope puts around a user value at most
/// (`{records: [{value: ...}]}`). A binding that converts a whole envelope
/// from host objects allows [`MAX_RECORD_DEPTH`]; the user values inside
/// are then held to [`MAX_DEPTH`] by [`record_value_from_value`].
pub const ENVELOPE_DEPTH: usize = 3;

/// The nesting a whole record envelope may have: [`MAX_DEPTH`] for its user
/// values plus [`ENVELOPE_DEPTH`].
pub const MAX_RECORD_DEPTH: usize = MAX_DEPTH + ENVELOPE_DEPTH;

/// The kind of the next item of a source, named like [`Value::kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Null,
    Bool,
    Int,
    Float,
    Str,
    Bytes,
    Array,
    Map,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Null => "null",
            Kind::Bool => "bool",
            Kind::Int => "integer",
            Kind::Float => "float",
            Kind::Str => "string",
            Kind::Bytes => "bytes",
            Kind::Array => "array",
            Kind::Map => "map",
        }
    }
}

/// A number as a source read it: `U` only for integers above `i64::MAX`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    I(i64),
    U(u64),
    F(f64),
}

/// A map key: the index of one of the expected names, or any other key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Key {
    Known(usize),
    Unknown(String),
}

impl Key {
    /// Looks `key` up in `names`: `Known(i)` if it equals `names[i]`.
    pub(crate) fn new<K: AsRef<str> + Into<String>>(key: K, names: &[&str]) -> Key {
        match names.iter().position(|n| *n == key.as_ref()) {
            Some(i) => Key::Known(i),
            None => Key::Unknown(key.into()),
        }
    }
}

/// A pull reader over a self-describing tree.
///
/// `read_null`, `read_str`, `read_num`, `begin_map` and `begin_seq` are called
/// after `peek` said the next item has that kind; they still fail cleanly
/// (with a `Shape` error) when it has not. Errors have paths relative to the
/// item being read.
pub(crate) trait Source {
    /// Iteration state of a map being read.
    type MapState;
    /// Iteration state of an array being read.
    type SeqState;

    /// The kind of the next item, without consuming it.
    fn peek(&mut self) -> Result<Kind, DecodeError>;
    /// Consumes a null.
    fn read_null(&mut self) -> Result<(), DecodeError>;
    /// Consumes a string.
    fn read_str(&mut self) -> Result<String, DecodeError>;
    /// Consumes a number.
    fn read_num(&mut self) -> Result<Num, DecodeError>;
    /// Consumes the start of a map.
    fn begin_map(&mut self) -> Result<Self::MapState, DecodeError>;
    /// Consumes the next key of a map (`None` at its end); its value is the
    /// next item. A key equal to `names[i]` is reported as `Key::Known(i)`.
    fn next_key(
        &mut self,
        state: &mut Self::MapState,
        names: &[&str],
    ) -> Result<Option<Key>, DecodeError>;
    /// Consumes the start of an array.
    fn begin_seq(&mut self) -> Result<Self::SeqState, DecodeError>;
    /// `true` if the array has another element, which is then the next item.
    fn next_element(&mut self, state: &mut Self::SeqState) -> Result<bool, DecodeError>;
    /// How many elements are worth pre-allocating for (never more than the
    /// input could hold).
    fn seq_size_hint(&self, state: &Self::SeqState) -> usize;
    /// Consumes a user value of any kind.
    fn read_value(&mut self) -> Result<Value, DecodeError>;
    /// Consumes an item of any kind whose value is not needed (a field no
    /// variant has).
    fn skip(&mut self) -> Result<(), DecodeError> {
        self.read_value().map(drop)
    }
}

// ---------------------------------------------------------------------------
// Field readers

/// The error for an item of kind `found` where `expected` was wanted.
#[cold]
pub(crate) fn wrong_type(expected: &str, found: Kind) -> DecodeError {
    DecodeError::shape(format!("expected {expected}, found {}", found.name()))
}

/// Consumes the start of a map, failing with ``expected {what}`` if the next
/// item is not one.
fn expect_map<S: Source>(s: &mut S, what: &str) -> Result<S::MapState, DecodeError> {
    match s.peek()? {
        Kind::Map => s.begin_map(),
        other => Err(wrong_type(what, other)),
    }
}

fn read_string<S: Source>(s: &mut S) -> Result<String, DecodeError> {
    match s.peek()? {
        Kind::Str => s.read_str(),
        other => Err(wrong_type("string", other)),
    }
}

/// Converts a number to u64: integers in range, or whole finite floats in
/// range (JS msgpackr writes numbers above 2^32 as float64).
fn num_to_u64(n: Num, target: &str) -> Result<u64, DecodeError> {
    match n {
        Num::I(i) => u64::try_from(i)
            .map_err(|_| DecodeError::range(format!("{i} is out of range for {target}"))),
        Num::U(u) => Ok(u),
        Num::F(f) => {
            // 2^64 as f64; every finite float below it and >= 0 converts exactly
            // when whole.
            const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;
            if !f.is_finite() {
                Err(DecodeError::range(format!(
                    "{} is out of range for {target}",
                    float_name(f)
                )))
            } else if f.fract() != 0.0 {
                Err(DecodeError::range(format!(
                    "{f:?} is not a whole number (expected {target})"
                )))
            } else if !(0.0..TWO_POW_64).contains(&f) {
                Err(DecodeError::range(format!(
                    "{f:?} is out of range for {target}"
                )))
            } else {
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                Ok(f as u64)
            }
        }
    }
}

fn float_name(f: f64) -> &'static str {
    if f.is_nan() {
        "NaN"
    } else if f > 0.0 {
        "infinity"
    } else {
        "-infinity"
    }
}

/// `millis` and `ttlMs`: a whole number in `0 ..= MAX_MILLIS` (2^63 - 1),
/// what every form of a record holds exactly (see [`MAX_MILLIS`]).
fn read_millis<S: Source>(s: &mut S) -> Result<u64, DecodeError> {
    const TARGET: &str = "0 ..= 2^63-1";
    let n = match s.peek()? {
        Kind::Int | Kind::Float => num_to_u64(s.read_num()?, TARGET)?,
        other => return Err(wrong_type("integer", other)),
    };
    if n > MAX_MILLIS {
        return Err(DecodeError::range(format!(
            "{n} is out of range for {TARGET}"
        )));
    }
    Ok(n)
}

fn read_u32<S: Source>(s: &mut S) -> Result<u32, DecodeError> {
    let wide = match s.peek()? {
        Kind::Int | Kind::Float => num_to_u64(s.read_num()?, "u32")?,
        other => return Err(wrong_type("integer", other)),
    };
    u32::try_from(wide).map_err(|_| DecodeError::range(format!("{wide} is out of range for u32")))
}

/// `ttlMs`: an unsigned integer, or null meaning absent.
fn read_ttl<S: Source>(s: &mut S) -> Result<Option<u64>, DecodeError> {
    if s.peek()? == Kind::Null {
        s.read_null()?;
        Ok(None)
    } else {
        read_millis(s).map(Some)
    }
}

/// Reads an array whose elements `read_item` reads, prefixing errors with
/// the element's index.
fn read_array<S: Source, T>(
    s: &mut S,
    mut read_item: impl FnMut(&mut S) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    let mut state = match s.peek()? {
        Kind::Array => s.begin_seq()?,
        other => return Err(wrong_type("array", other)),
    };
    let mut out = Vec::with_capacity(s.seq_size_hint(&state));
    while s.next_element(&mut state)? {
        let i = out.len();
        out.push(read_item(s).map_err(|e| e.in_index(i))?);
    }
    Ok(out)
}

#[cold]
fn missing(name: &str) -> DecodeError {
    DecodeError::shape(format!("missing field `{name}`"))
}

/// Reads the value of the map key `name` into `slot` with `read`, rejecting a
/// second occurrence of the key before its value is read. Errors from `read`
/// are rooted at the key.
fn read_field<S: Source, T>(
    s: &mut S,
    slot: &mut Option<T>,
    name: &str,
    read: impl FnOnce(&mut S) -> Result<T, DecodeError>,
) -> Result<(), DecodeError> {
    if slot.is_some() {
        return Err(DecodeError::malformed(format!(
            "duplicate map key {}",
            quoted(name)
        )));
    }
    *slot = Some(read(s).map_err(|e| e.in_key(name))?);
    Ok(())
}

const TIMESTAMP_FIELDS: &[&str] = &["millis", "counter", "nodeId"];

fn read_timestamp<S: Source>(s: &mut S) -> Result<Timestamp, DecodeError> {
    let mut state = expect_map(s, "map (a timestamp {millis, counter, nodeId})")?;
    let (mut millis, mut counter, mut node_id) = (None, None, None);
    while let Some(key) = s.next_key(&mut state, TIMESTAMP_FIELDS)? {
        match key {
            Key::Known(0) => read_field(s, &mut millis, "millis", read_millis)?,
            Key::Known(1) => read_field(s, &mut counter, "counter", read_u32)?,
            Key::Known(_) => read_field(s, &mut node_id, "nodeId", read_string)?,
            Key::Unknown(_) => s.skip()?,
        }
    }
    Ok(Timestamp {
        millis: millis.ok_or_else(|| missing("millis"))?,
        counter: counter.ok_or_else(|| missing("counter"))?,
        node_id: node_id.ok_or_else(|| missing("nodeId"))?,
    })
}

const ENTRY_FIELDS: &[&str] = &["value", "timestamp", "tag", "ttlMs"];

fn read_entry<S: Source>(s: &mut S) -> Result<OrMapEntry, DecodeError> {
    let mut state = expect_map(s, "map (an OR record {value, timestamp, tag, ttlMs?})")?;
    let (mut value, mut timestamp, mut tag, mut ttl_ms) = (None, None, None, None);
    while let Some(key) = s.next_key(&mut state, ENTRY_FIELDS)? {
        match key {
            Key::Known(0) => read_field(s, &mut value, "value", S::read_value)?,
            Key::Known(1) => read_field(s, &mut timestamp, "timestamp", read_timestamp)?,
            Key::Known(2) => read_field(s, &mut tag, "tag", read_string)?,
            Key::Known(_) => read_field(s, &mut ttl_ms, "ttlMs", read_ttl)?,
            Key::Unknown(_) => s.skip()?,
        }
    }
    Ok(OrMapEntry {
        // Absent (`value: undefined` in JS) is null, as TopGun's
        // PostgresAdapter stores it.
        value: value.unwrap_or_default(),
        timestamp: timestamp.ok_or_else(|| missing("timestamp"))?,
        tag: tag.ok_or_else(|| missing("tag"))?,
        ttl_ms: ttl_ms.flatten(),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Or,
    OrTombstones,
}

const ROOT_FIELDS: &[&str] = &["type", "value", "timestamp", "ttlMs", "records", "tags"];

/// `type`: `Some` for `"OR"` and `"OR_TOMBSTONES"`; anything else (another
/// string, another kind of value) makes the record an LWW record, as TopGun
/// tells the variants apart, and is then an ignored field.
fn read_tag<S: Source>(s: &mut S) -> Result<Option<Tag>, DecodeError> {
    if s.peek()? != Kind::Str {
        return s.skip().map(|()| None);
    }
    Ok(match s.read_str()?.as_str() {
        "OR" => Some(Tag::Or),
        "OR_TOMBSTONES" => Some(Tag::OrTombstones),
        _ => None,
    })
}

/// Reads a record value (`StorageValue`) from `s`.
///
/// Fields may come in any order; the variant is chosen by `type` once the
/// whole map has been read (`"OR"`, `"OR_TOMBSTONES"`, else LWW). The record
/// is normalised as TopGun's `PostgresAdapter` stores it (`JSON.stringify`):
/// fields of no variant, and fields of another variant than the record's,
/// are ignored (the latter must still be well-formed); an absent `value` is
/// null. Errors are rooted at the record.
pub(crate) fn read_record<S: Source>(s: &mut S) -> Result<RecordValue, DecodeError> {
    let mut state = expect_map(s, "map (a record value)")?;
    let (mut tag, mut value, mut timestamp) = (None, None, None);
    let (mut ttl_ms, mut records, mut tags) = (None, None, None);
    while let Some(key) = s.next_key(&mut state, ROOT_FIELDS)? {
        match key {
            Key::Known(0) => read_field(s, &mut tag, "type", read_tag)?,
            Key::Known(1) => read_field(s, &mut value, "value", S::read_value)?,
            Key::Known(2) => read_field(s, &mut timestamp, "timestamp", read_timestamp)?,
            Key::Known(3) => read_field(s, &mut ttl_ms, "ttlMs", read_ttl)?,
            Key::Known(4) => read_field(s, &mut records, "records", |s| read_array(s, read_entry))?,
            Key::Known(_) => read_field(s, &mut tags, "tags", |s| read_array(s, read_string))?,
            Key::Unknown(_) => s.skip()?,
        }
    }
    match tag.flatten() {
        None => Ok(RecordValue::Lww {
            // Absent (`value: undefined` in JS) is null, as TopGun's
            // PostgresAdapter stores it.
            value: value.unwrap_or_default(),
            timestamp: timestamp.ok_or_else(|| missing("timestamp"))?,
            ttl_ms: ttl_ms.flatten(),
        }),
        Some(Tag::Or) => Ok(RecordValue::OrMap {
            records: records.ok_or_else(|| missing("records"))?,
        }),
        Some(Tag::OrTombstones) => Ok(RecordValue::OrTombstones {
            tags: tags.ok_or_else(|| missing("tags"))?,
        }),
    }
}

// ---------------------------------------------------------------------------
// Value trees

/// A [`Source`] over an owned [`Value`] tree; user values are moved out, not
/// copied.
struct ValueSource {
    current: Value,
}

fn value_kind(v: &Value) -> Kind {
    match v {
        Value::Null => Kind::Null,
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::String(_) => Kind::Str,
        Value::Bytes(_) => Kind::Bytes,
        Value::Array(_) => Kind::Array,
        Value::Map(_) => Kind::Map,
    }
}

impl Source for ValueSource {
    type MapState = indexmap::map::IntoIter<String, Value>;
    type SeqState = std::vec::IntoIter<Value>;

    fn peek(&mut self) -> Result<Kind, DecodeError> {
        Ok(value_kind(&self.current))
    }

    fn read_null(&mut self) -> Result<(), DecodeError> {
        match std::mem::take(&mut self.current) {
            Value::Null => Ok(()),
            other => Err(wrong_type("null", value_kind(&other))),
        }
    }

    fn read_str(&mut self) -> Result<String, DecodeError> {
        match std::mem::take(&mut self.current) {
            Value::String(s) => Ok(s),
            other => Err(wrong_type("string", value_kind(&other))),
        }
    }

    fn read_num(&mut self) -> Result<Num, DecodeError> {
        match std::mem::take(&mut self.current) {
            Value::Int(i) => Ok(Num::I(i)),
            Value::Float(f) => Ok(Num::F(f)),
            other => Err(wrong_type("number", value_kind(&other))),
        }
    }

    fn begin_map(&mut self) -> Result<Self::MapState, DecodeError> {
        match std::mem::take(&mut self.current) {
            Value::Map(m) => Ok(m.into_iter()),
            other => Err(wrong_type("map", value_kind(&other))),
        }
    }

    fn next_key(
        &mut self,
        state: &mut Self::MapState,
        names: &[&str],
    ) -> Result<Option<Key>, DecodeError> {
        Ok(state.next().map(|(k, v)| {
            self.current = v;
            Key::new(k, names)
        }))
    }

    fn begin_seq(&mut self) -> Result<Self::SeqState, DecodeError> {
        match std::mem::take(&mut self.current) {
            Value::Array(items) => Ok(items.into_iter()),
            other => Err(wrong_type("array", value_kind(&other))),
        }
    }

    fn next_element(&mut self, state: &mut Self::SeqState) -> Result<bool, DecodeError> {
        Ok(state.next().map(|v| self.current = v).is_some())
    }

    fn seq_size_hint(&self, state: &Self::SeqState) -> usize {
        state.len()
    }

    fn read_value(&mut self) -> Result<Value, DecodeError> {
        let value = std::mem::take(&mut self.current);
        super::tree::check_depth(&value, MAX_DEPTH)?;
        Ok(value)
    }

    fn skip(&mut self) -> Result<(), DecodeError> {
        // A field nobody reads is dropped as it is, however deep.
        self.current = Value::Null;
        Ok(())
    }
}

/// The record value as the tree a JS object of TopGun's `StorageValue` would
/// be: `{value, timestamp: {millis, counter, nodeId}, ttlMs?}`,
/// `{type: "OR", records: [{value, timestamp, tag, ttlMs?}]}` or
/// `{type: "OR_TOMBSTONES", tags: [..]}`, keys in that order.
///
/// `millis` and `ttlMs` become [`Value::Int`], exactly, in the range the
/// decoders accept ([`MAX_MILLIS`]). A record built in Rust with a larger one
/// is outside that range: its field becomes the nearest [`Value::Float`],
/// which [`record_value_from_value`] refuses (a range error), never a
/// silently different number.
///
/// Cost: clones the user values and builds the envelope maps (one allocation
/// per map, string and array).
#[must_use]
pub fn record_value_to_value(v: &RecordValue) -> Value {
    match v {
        RecordValue::Lww {
            value,
            timestamp,
            ttl_ms,
        } => fields_to_value(value, timestamp, None, *ttl_ms),
        RecordValue::OrMap { records } => {
            tagged_to_value("OR", "records", records.iter().map(entry_to_value))
        }
        RecordValue::OrTombstones { tags } => tagged_to_value(
            "OR_TOMBSTONES",
            "tags",
            tags.iter().map(|t| Value::String(t.clone())),
        ),
    }
}

/// Interprets a [`Value`] tree of the shape [`record_value_to_value`] produces
/// (TopGun's `StorageValue`, e.g. converted from a Python dict or JS object)
/// as a record value.
///
/// Accepts and normalises the same shapes as
/// [`decode_record_value`](super::decode_record_value): fields in any order,
/// `ttlMs: null` as absent, whole finite floats for `millis` / `counter` /
/// `ttlMs`, ignored extra fields, an absent `value` as null (see the
/// [module docs](super#normalisation)). User values are moved, not copied,
/// and held to [`MAX_DEPTH`] counted from each user value (checked without
/// recursion), as the decoders hold them.
///
/// # Errors
///
/// [`Shape`](super::DecodeErrorKind::Shape) errors for wrong types and
/// missing fields, [`Range`](super::DecodeErrorKind::Range) errors for
/// numbers that do not fit `u32` (`counter`) or `0 ..= 2^63-1` (`millis`,
/// `ttlMs`), and
/// [`Malformed`](super::DecodeErrorKind::Malformed) for a user value nested
/// deeper than [`MAX_DEPTH`], each with the path of the offending field,
/// e.g. ``expected string, found integer at $.records[2].tag``.
pub fn record_value_from_value(v: Value) -> Result<RecordValue, DecodeError> {
    read_record(&mut ValueSource { current: v })
}

fn u64_to_value(u: u64) -> Value {
    match i64::try_from(u) {
        Ok(i) => Value::Int(i),
        #[allow(clippy::cast_precision_loss)]
        Err(_) => Value::Float(u as f64),
    }
}

fn timestamp_to_value(ts: &Timestamp) -> Value {
    let mut m = ValueMap::with_capacity(3);
    m.insert("millis".into(), u64_to_value(ts.millis));
    m.insert("counter".into(), Value::Int(i64::from(ts.counter)));
    m.insert("nodeId".into(), Value::String(ts.node_id.clone()));
    Value::from(m)
}

/// The map of an LWW record or an OR record entry: `value`, `timestamp`,
/// `tag` (OR only) and `ttlMs` when present.
fn fields_to_value(
    value: &Value,
    timestamp: &Timestamp,
    tag: Option<&str>,
    ttl_ms: Option<u64>,
) -> Value {
    let mut m =
        ValueMap::with_capacity(2 + usize::from(tag.is_some()) + usize::from(ttl_ms.is_some()));
    m.insert("value".into(), value.clone());
    m.insert("timestamp".into(), timestamp_to_value(timestamp));
    if let Some(tag) = tag {
        m.insert("tag".into(), Value::from(tag));
    }
    if let Some(ttl) = ttl_ms {
        m.insert("ttlMs".into(), u64_to_value(ttl));
    }
    Value::from(m)
}

fn entry_to_value(e: &OrMapEntry) -> Value {
    fields_to_value(&e.value, &e.timestamp, Some(&e.tag), e.ttl_ms)
}

/// The map of an OR or OR tombstones record: `{type: type_tag, key: [items]}`.
fn tagged_to_value(type_tag: &str, key: &str, items: impl Iterator<Item = Value>) -> Value {
    let mut m = ValueMap::with_capacity(2);
    m.insert("type".into(), Value::from(type_tag));
    m.insert(key.into(), Value::Array(items.collect()));
    Value::from(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::test_support::{assert_fails, decoded, obj};
    use crate::codec::{
        decode_record_value, encode_record_value, encode_value, record_value_from_json,
        record_value_to_json, value_to_json, DecodeErrorKind,
    };

    fn ts_value(millis: Value, counter: Value, node: Value) -> Value {
        obj([("millis", millis), ("counter", counter), ("nodeId", node)])
    }

    fn good_ts() -> Value {
        ts_value(Value::Int(5), Value::Int(1), Value::from("n1"))
    }

    fn s(x: &str) -> Value {
        Value::from(x)
    }

    /// Interprets `tree` through all three sources (the Value tree itself, its
    /// MessagePack encoding and its JSON text when JSON can hold it) and
    /// checks that they agree.
    fn interpret(tree: &Value) -> Result<RecordValue, DecodeError> {
        let from_value = record_value_from_value(tree.clone());
        let from_msgpack = decode_record_value(&encode_value(tree));
        assert_eq!(
            summary(&from_value),
            summary(&from_msgpack),
            "Value vs MessagePack for {tree:?}"
        );
        if let Ok(text) = value_to_json(tree) {
            let from_json = record_value_from_json(&text);
            assert_eq!(
                summary(&from_value),
                summary(&from_json),
                "Value vs JSON for {text}"
            );
        }
        from_value
    }

    /// A comparable summary: the encoded record, or the error's parts.
    fn summary(
        r: &Result<RecordValue, DecodeError>,
    ) -> Result<Vec<u8>, (DecodeErrorKind, String, String)> {
        match r {
            Ok(v) => Ok(encode_record_value(v)),
            Err(e) => Err((e.kind(), e.path().to_owned(), e.message().to_owned())),
        }
    }

    fn ok(tree: &Value) -> RecordValue {
        decoded(tree, interpret(tree))
    }

    #[track_caller]
    fn fails(tree: &Value, kind: DecodeErrorKind, path: &str, message: &str) {
        assert_fails(tree, interpret(tree), kind, path, message);
    }

    use DecodeErrorKind::{Range, Shape};

    #[test]
    fn lww_with_and_without_ttl() {
        let expected = |ttl_ms| RecordValue::Lww {
            value: Value::from(1),
            timestamp: Timestamp::new(5, 1, "n1"),
            ttl_ms,
        };
        assert_eq!(
            ok(&obj([("value", Value::from(1)), ("timestamp", good_ts())])),
            expected(None)
        );
        assert_eq!(
            ok(&obj([
                ("value", Value::from(1)),
                ("timestamp", good_ts()),
                ("ttlMs", Value::Int(9))
            ])),
            expected(Some(9))
        );
        assert_eq!(
            ok(&obj([
                ("value", Value::from(1)),
                ("timestamp", good_ts()),
                ("ttlMs", Value::Null)
            ])),
            expected(None)
        );
        // Any field order; a whole float for ttlMs.
        assert_eq!(
            ok(&obj([
                ("ttlMs", Value::Float(9.0)),
                ("timestamp", good_ts()),
                ("value", Value::from(1))
            ])),
            expected(Some(9))
        );
    }

    #[test]
    fn lww_null_value_is_a_tombstone() {
        assert_eq!(
            ok(&obj([("value", Value::Null), ("timestamp", good_ts())])),
            RecordValue::lww(Value::Null, Timestamp::new(5, 1, "n1"))
        );
    }

    #[test]
    fn lww_normalisation_of_missing_value_and_extra_fields() {
        let lww = RecordValue::lww(Value::Null, Timestamp::new(5, 1, "n1"));
        // `value: undefined` in JS: absent, stored as null.
        assert_eq!(ok(&obj([("timestamp", good_ts())])), lww);
        fails(
            &obj([("value", Value::Null)]),
            Shape,
            "$",
            "missing field `timestamp`",
        );
        // Extra fields, and fields of the OR variants, are ignored.
        let extra = obj([
            ("value", Value::Null),
            ("timestamp", good_ts()),
            ("colour", s("red")),
            ("records", Value::Array(vec![])),
            ("tags", Value::Array(vec![])),
            ("nested", obj([("deep", Value::Array(vec![Value::Null]))])),
        ]);
        assert_eq!(ok(&extra), lww);
        // ... but a field of another variant must still be well-formed.
        fails(
            &obj([
                ("value", Value::Null),
                ("timestamp", good_ts()),
                ("tags", Value::Int(1)),
            ]),
            Shape,
            "$.tags",
            "expected array, found integer",
        );
    }

    #[test]
    fn root_must_be_a_map() {
        for (tree, found) in [
            (Value::Null, "null"),
            (Value::Int(1), "integer"),
            (Value::Float(1.5), "float"),
            (s("x"), "string"),
            (Value::Array(vec![]), "array"),
            (Value::Bool(true), "bool"),
        ] {
            fails(
                &tree,
                Shape,
                "$",
                &format!("expected map (a record value), found {found}"),
            );
        }
        // Bytes are a map in JSON, so check the other two sources directly.
        let e = record_value_from_value(Value::Bytes(vec![1])).err();
        assert_eq!(
            e.map(|e| e.message().to_owned()).as_deref(),
            Some("expected map (a record value), found bytes")
        );
        let e = decode_record_value(&encode_value(&Value::Bytes(vec![1]))).err();
        assert_eq!(
            e.map(|e| e.message().to_owned()).as_deref(),
            Some("expected map (a record value), found bytes")
        );
    }

    fn lww_with_ts(ts: Value) -> Value {
        obj([("value", Value::Null), ("timestamp", ts)])
    }

    fn lww_with_ttl(ttl: Value) -> Value {
        obj([
            ("value", Value::Null),
            ("timestamp", good_ts()),
            ("ttlMs", ttl),
        ])
    }

    #[test]
    fn timestamp_field_types() {
        fails(
            &lww_with_ts(s("yesterday")),
            Shape,
            "$.timestamp",
            "expected map (a timestamp {millis, counter, nodeId}), found string",
        );
        fails(
            &lww_with_ts(ts_value(s("5"), Value::Int(1), s("n"))),
            Shape,
            "$.timestamp.millis",
            "expected integer, found string",
        );
        fails(
            &lww_with_ts(ts_value(Value::Int(5), Value::Null, s("n"))),
            Shape,
            "$.timestamp.counter",
            "expected integer, found null",
        );
        fails(
            &lww_with_ts(ts_value(Value::Int(5), Value::Int(1), Value::Int(7))),
            Shape,
            "$.timestamp.nodeId",
            "expected string, found integer",
        );
        fails(
            &lww_with_ts(ts_value(Value::Int(5), Value::Int(1), Value::Array(vec![]))),
            Shape,
            "$.timestamp.nodeId",
            "expected string, found array",
        );
        fails(
            &lww_with_ts(obj([("millis", Value::Int(5)), ("counter", Value::Int(1))])),
            Shape,
            "$.timestamp",
            "missing field `nodeId`",
        );
        fails(
            &lww_with_ts(obj([("counter", Value::Int(1)), ("nodeId", s("n"))])),
            Shape,
            "$.timestamp",
            "missing field `millis`",
        );
        fails(
            &lww_with_ts(obj([("millis", Value::Int(1)), ("nodeId", s("n"))])),
            Shape,
            "$.timestamp",
            "missing field `counter`",
        );
        // Extra timestamp fields are ignored.
        assert_eq!(
            ok(&lww_with_ts(obj([
                ("millis", Value::Int(1)),
                ("counter", Value::Int(1)),
                ("nodeId", s("n")),
                ("node_id", s("n")),
            ]))),
            RecordValue::lww(Value::Null, Timestamp::new(1, 1, "n"))
        );
    }

    #[test]
    fn timestamp_numbers_accept_whole_floats() {
        // JS msgpackr writes numbers above 2^32 as float64.
        let r = ok(&lww_with_ts(ts_value(
            Value::Float(1.7e12),
            Value::Float(3.0),
            s("n"),
        )));
        assert_eq!(
            r,
            RecordValue::lww(Value::Null, Timestamp::new(1_700_000_000_000, 3, "n"))
        );
        let r = ok(&lww_with_ts(ts_value(
            Value::Float(-0.0),
            Value::Int(0),
            s("n"),
        )));
        assert_eq!(r, RecordValue::lww(Value::Null, Timestamp::new(0, 0, "n")));
        // The largest whole float below 2^63.
        let r = ok(&lww_with_ts(ts_value(
            Value::Float(9_223_372_036_854_774_784.0),
            Value::Float(4_294_967_295.0),
            s("n"),
        )));
        assert_eq!(
            r,
            RecordValue::lww(
                Value::Null,
                Timestamp::new(9_223_372_036_854_774_784, u32::MAX, "n")
            )
        );
    }

    #[test]
    fn timestamp_ranges() {
        let cases: Vec<(Value, Value, &str, &str)> = vec![
            (
                Value::Int(-1),
                Value::Int(0),
                "$.timestamp.millis",
                "-1 is out of range for 0 ..= 2^63-1",
            ),
            (
                Value::Float(-1.0),
                Value::Int(0),
                "$.timestamp.millis",
                "-1.0 is out of range for 0 ..= 2^63-1",
            ),
            (
                Value::Float(1.5),
                Value::Int(0),
                "$.timestamp.millis",
                "1.5 is not a whole number (expected 0 ..= 2^63-1)",
            ),
            (
                Value::Float(18_446_744_073_709_551_616.0),
                Value::Int(0),
                "$.timestamp.millis",
                "1.8446744073709552e19 is out of range for 0 ..= 2^63-1",
            ),
            (
                Value::Float(9_223_372_036_854_775_808.0),
                Value::Int(0),
                "$.timestamp.millis",
                "9223372036854775808 is out of range for 0 ..= 2^63-1",
            ),
            (
                Value::Int(0),
                Value::Int(4_294_967_296),
                "$.timestamp.counter",
                "4294967296 is out of range for u32",
            ),
            (
                Value::Int(0),
                Value::Int(-1),
                "$.timestamp.counter",
                "-1 is out of range for u32",
            ),
            (
                Value::Int(0),
                Value::Float(0.25),
                "$.timestamp.counter",
                "0.25 is not a whole number (expected u32)",
            ),
            (
                Value::Int(0),
                Value::Float(4_294_967_296.0),
                "$.timestamp.counter",
                "4294967296 is out of range for u32",
            ),
        ];
        for (millis, counter, path, message) in cases {
            fails(
                &lww_with_ts(ts_value(millis, counter, s("n"))),
                Range,
                path,
                message,
            );
        }
        // Non-finite floats (no JSON form, so Value and MessagePack only).
        for (f, name) in [
            (f64::NAN, "NaN"),
            (f64::INFINITY, "infinity"),
            (f64::NEG_INFINITY, "-infinity"),
        ] {
            fails(
                &lww_with_ts(ts_value(Value::Float(f), Value::Int(0), s("n"))),
                Range,
                "$.timestamp.millis",
                &format!("{name} is out of range for 0 ..= 2^63-1"),
            );
        }
    }

    #[test]
    fn ttl_types_and_ranges() {
        fails(
            &lww_with_ttl(s("1s")),
            Shape,
            "$.ttlMs",
            "expected integer, found string",
        );
        fails(
            &lww_with_ttl(Value::Bool(true)),
            Shape,
            "$.ttlMs",
            "expected integer, found bool",
        );
        fails(
            &lww_with_ttl(Value::from(ValueMap::new())),
            Shape,
            "$.ttlMs",
            "expected integer, found map",
        );
        fails(
            &lww_with_ttl(Value::Int(-5)),
            Range,
            "$.ttlMs",
            "-5 is out of range for 0 ..= 2^63-1",
        );
        fails(
            &lww_with_ttl(Value::Float(0.5)),
            Range,
            "$.ttlMs",
            "0.5 is not a whole number (expected 0 ..= 2^63-1)",
        );
        let r = ok(&lww_with_ttl(Value::Float(5e15)));
        assert!(matches!(
            r,
            RecordValue::Lww {
                ttl_ms: Some(5_000_000_000_000_000),
                ..
            }
        ));
        let r = ok(&lww_with_ttl(Value::Int(i64::MAX)));
        assert!(matches!(r, RecordValue::Lww { ttl_ms: Some(ttl), .. } if ttl == i64::MAX as u64));
    }

    fn entry(fields: Vec<(&str, Value)>) -> Value {
        obj(fields)
    }

    fn good_entry(tag: &str) -> Value {
        entry(vec![
            ("value", Value::from(1)),
            ("timestamp", good_ts()),
            ("tag", s(tag)),
        ])
    }

    fn or(records: Vec<Value>) -> Value {
        obj([("type", s("OR")), ("records", Value::Array(records))])
    }

    #[test]
    fn or_map_variants() {
        assert_eq!(ok(&or(vec![])), RecordValue::OrMap { records: vec![] });
        let with_ttl = entry(vec![
            ("value", Value::Null),
            ("timestamp", good_ts()),
            ("tag", s("t2")),
            ("ttlMs", Value::Int(60_000)),
        ]);
        let null_ttl = entry(vec![
            ("tag", s("t3")),
            ("ttlMs", Value::Null),
            ("timestamp", good_ts()),
            ("value", s("v")),
        ]);
        let r = ok(&or(vec![good_entry("t1"), with_ttl, null_ttl]));
        let ts = Timestamp::new(5, 1, "n1");
        assert_eq!(
            r,
            RecordValue::OrMap {
                records: vec![
                    OrMapEntry {
                        value: Value::from(1),
                        timestamp: ts.clone(),
                        tag: "t1".into(),
                        ttl_ms: None
                    },
                    OrMapEntry {
                        value: Value::Null,
                        timestamp: ts.clone(),
                        tag: "t2".into(),
                        ttl_ms: Some(60_000)
                    },
                    OrMapEntry {
                        value: s("v"),
                        timestamp: ts,
                        tag: "t3".into(),
                        ttl_ms: None
                    },
                ]
            }
        );
        // `type` may come last.
        let late = obj([("records", Value::Array(vec![])), ("type", s("OR"))]);
        assert_eq!(ok(&late), RecordValue::OrMap { records: vec![] });
    }

    #[test]
    fn or_map_errors_and_ignored_fields() {
        fails(
            &obj([("type", s("OR"))]),
            Shape,
            "$",
            "missing field `records`",
        );
        // Fields of the LWW variant, or of none, are ignored.
        let extra = obj([
            ("type", s("OR")),
            ("records", Value::Array(vec![])),
            ("value", Value::Null),
            ("timestamp", good_ts()),
            ("ttlMs", Value::Null),
            ("owner", s("x")),
        ]);
        assert_eq!(ok(&extra), RecordValue::OrMap { records: vec![] });
        // An OR record without `value` holds null; its extra fields go.
        let entry = obj([
            ("timestamp", good_ts()),
            ("tag", s("t")),
            ("source", s("client")),
        ]);
        let or = obj([("type", s("OR")), ("records", Value::Array(vec![entry]))]);
        assert_eq!(
            ok(&or),
            RecordValue::OrMap {
                records: vec![OrMapEntry {
                    value: Value::Null,
                    timestamp: Timestamp::new(5, 1, "n1"),
                    tag: "t".into(),
                    ttl_ms: None
                }]
            }
        );
    }

    fn tombstones(tags: Value) -> Value {
        obj([("type", s("OR_TOMBSTONES")), ("tags", tags)])
    }

    #[test]
    fn tombstone_variants_and_errors() {
        assert_eq!(
            ok(&tombstones(Value::Array(vec![]))),
            RecordValue::OrTombstones { tags: vec![] }
        );
        assert_eq!(
            ok(&tombstones(Value::Array(vec![s("a"), s("b")]))),
            RecordValue::OrTombstones {
                tags: vec!["a".into(), "b".into()]
            }
        );
        fails(
            &obj([("type", s("OR_TOMBSTONES"))]),
            Shape,
            "$",
            "missing field `tags`",
        );
        fails(
            &tombstones(s("a")),
            Shape,
            "$.tags",
            "expected array, found string",
        );
        fails(
            &tombstones(Value::Array(vec![s("a"), Value::Int(2)])),
            Shape,
            "$.tags[1]",
            "expected string, found integer",
        );
        // Other variants' fields and extra fields are ignored.
        for (name, v) in [
            ("value", Value::Null),
            ("timestamp", good_ts()),
            ("ttlMs", Value::Int(1)),
            ("records", Value::Array(vec![])),
            ("reason", s("gc")),
        ] {
            assert_eq!(
                ok(&obj([
                    ("type", s("OR_TOMBSTONES")),
                    ("tags", Value::Array(vec![])),
                    (name, v),
                ])),
                RecordValue::OrTombstones { tags: vec![] }
            );
        }
    }

    #[test]
    fn any_other_type_makes_an_lww_record() {
        // TopGun tells the variants apart by `type === 'OR'` /
        // `'OR_TOMBSTONES'`; anything else is an LWW record.
        let lww = RecordValue::lww(Value::Null, Timestamp::new(5, 1, "n1"));
        for tag in [
            s("LWW"),
            s("or"),
            Value::Int(1),
            Value::Null,
            obj([("a", Value::Null)]),
        ] {
            assert_eq!(
                ok(&obj([
                    ("type", tag),
                    ("value", Value::Null),
                    ("timestamp", good_ts())
                ])),
                lww
            );
        }
        fails(
            &obj([("type", s("or")), ("records", Value::Array(vec![]))]),
            Shape,
            "$",
            "missing field `timestamp`",
        );
    }

    #[test]
    fn user_values_are_held_to_the_depth_limit_counted_from_the_value() {
        let nested = |n: usize| {
            let mut v = Value::Null;
            for _ in 0..n {
                v = Value::Array(vec![v]);
            }
            v
        };
        let at_limit = obj([("value", nested(MAX_DEPTH)), ("timestamp", good_ts())]);
        assert!(matches!(ok(&at_limit), RecordValue::Lww { .. }));
        let deeper = obj([("value", nested(MAX_DEPTH + 1)), ("timestamp", good_ts())]);
        let e = record_value_from_value(deeper).unwrap_err();
        assert_eq!(e.kind(), DecodeErrorKind::Malformed);
        assert_eq!(e.path(), format!("$.value{}", "[0]".repeat(MAX_DEPTH)));
        let entry = obj([
            ("value", nested(MAX_DEPTH)),
            ("timestamp", good_ts()),
            ("tag", s("t")),
        ]);
        let or = obj([("type", s("OR")), ("records", Value::Array(vec![entry]))]);
        assert!(matches!(ok(&or), RecordValue::OrMap { .. }));
    }

    #[test]
    fn user_value_errors_are_prefixed_with_the_envelope_path() {
        // A uint64 above i64::MAX inside a user value (MessagePack only).
        let mut bytes = vec![0x82, 0xa4];
        bytes.extend_from_slice(b"type");
        bytes.extend_from_slice(b"\xa2OR\xa7records\x91\x83\xa5value\x81\xa1k\xcf");
        bytes.extend_from_slice(&u64::MAX.to_be_bytes());
        let e = decode_record_value(&bytes).err();
        let e = e.as_ref().map(|e| (e.kind(), e.path(), e.message()));
        assert_eq!(
            e,
            Some((
                Range,
                "$.records[0].value.k",
                "integer 18446744073709551615 is out of range for i64 (byte offset 28)"
            ))
        );
        let e = record_value_from_json(r#"{"value":{"a b":[1,{"$bytes":"xyz"}]},"timestamp":{}}"#)
            .err();
        let e = e.as_ref().map(|e| (e.kind(), e.path(), e.message()));
        assert_eq!(
            e,
            Some((Shape, "$.value[\"a b\"][1]", "invalid hex in {\"$bytes\": ...}: Odd number of digits (expected an even number of hex digits)"))
        );
    }

    #[test]
    fn duplicate_envelope_keys_are_malformed() {
        let e = record_value_from_json(
            r#"{"value":1,"value":2,"timestamp":{"millis":1,"counter":0,"nodeId":"n"}}"#,
        )
        .err();
        assert_eq!(
            e.as_ref().map(DecodeError::kind),
            Some(DecodeErrorKind::Malformed)
        );
        assert_eq!(e.as_ref().map(DecodeError::path), Some("$"));
        assert_eq!(
            e.as_ref().map(DecodeError::message),
            Some("duplicate map key \"value\"")
        );
        let e = record_value_from_json(
            r#"{"value":1,"timestamp":{"millis":1,"millis":1,"counter":0,"nodeId":"n"}}"#,
        )
        .err();
        assert_eq!(e.as_ref().map(DecodeError::path), Some("$.timestamp"));
        assert_eq!(
            e.as_ref().map(DecodeError::message),
            Some("duplicate map key \"millis\"")
        );
        // MessagePack: {type: "OR", type: "OR", records: []}
        let bytes = b"\x83\xa4type\xa2OR\xa4type\xa2OR\xa7records\x90";
        let e = decode_record_value(bytes).err();
        assert_eq!(
            e.as_ref().map(DecodeError::kind),
            Some(DecodeErrorKind::Malformed)
        );
        assert_eq!(
            e.as_ref().map(DecodeError::message),
            Some("duplicate map key \"type\"")
        );
        // A duplicate `ttlMs` even when both are null.
        let e = record_value_from_json(r#"{"type":"OR","records":[{"value":1,"tag":"t","ttlMs":null,"ttlMs":null,"timestamp":{"millis":1,"counter":0,"nodeId":"n"}}]}"#).err();
        assert_eq!(e.as_ref().map(DecodeError::path), Some("$.records[0]"));
        assert_eq!(
            e.as_ref().map(DecodeError::message),
            Some("duplicate map key \"ttlMs\"")
        );
    }

    #[test]
    fn bytes_in_an_envelope_field_is_a_shape_error() {
        let tree = lww_with_ts(ts_value(
            Value::Int(1),
            Value::Int(0),
            Value::Bytes(vec![1]),
        ));
        let e = record_value_from_value(tree.clone()).err();
        assert_eq!(
            e.as_ref().map(|e| (e.kind(), e.path(), e.message())),
            Some((Shape, "$.timestamp.nodeId", "expected string, found bytes"))
        );
        let e = decode_record_value(&encode_value(&tree)).err();
        assert_eq!(
            e.as_ref().map(|e| (e.kind(), e.path(), e.message())),
            Some((Shape, "$.timestamp.nodeId", "expected string, found bytes"))
        );
    }

    #[test]
    fn to_value_has_the_typescript_shape() {
        let r = RecordValue::Lww {
            value: obj([("b", Value::Int(1)), ("a", Value::Int(2))]),
            timestamp: Timestamp::new(10, 2, "n"),
            ttl_ms: Some(30),
        };
        let v = record_value_to_value(&r);
        assert_eq!(
            value_to_json(&v).ok().as_deref(),
            Some(
                r#"{"value":{"b":1,"a":2},"timestamp":{"millis":10,"counter":2,"nodeId":"n"},"ttlMs":30}"#
            )
        );
        assert_eq!(value_to_json(&v).ok(), record_value_to_json(&r).ok());
        assert_eq!(record_value_from_value(v).as_ref(), Ok(&r));

        let r = RecordValue::OrMap {
            records: vec![OrMapEntry {
                value: Value::Null,
                timestamp: Timestamp::new(1, 0, "x"),
                tag: "t".into(),
                ttl_ms: Some(5),
            }],
        };
        let v = record_value_to_value(&r);
        assert_eq!(
            value_to_json(&v).ok().as_deref(),
            Some(
                r#"{"type":"OR","records":[{"value":null,"timestamp":{"millis":1,"counter":0,"nodeId":"x"},"tag":"t","ttlMs":5}]}"#
            )
        );
        assert_eq!(encode_value(&v), encode_record_value(&r));
        assert_eq!(record_value_from_value(v).as_ref(), Ok(&r));

        let r = RecordValue::OrTombstones {
            tags: vec!["a".into()],
        };
        let v = record_value_to_value(&r);
        assert_eq!(
            value_to_json(&v).ok().as_deref(),
            Some(r#"{"type":"OR_TOMBSTONES","tags":["a"]}"#)
        );
        assert_eq!(encode_value(&v), encode_record_value(&r));
        assert_eq!(record_value_from_value(v).as_ref(), Ok(&r));
    }

    #[test]
    fn to_value_is_exact_in_range_and_refused_back_beyond_it() {
        let max = RecordValue::Lww {
            value: Value::Null,
            timestamp: Timestamp::new(MAX_MILLIS, 0, "n"),
            ttl_ms: Some(MAX_MILLIS),
        };
        let tree = record_value_to_value(&max);
        assert_eq!(record_value_from_value(tree).as_ref(), Ok(&max));

        let r = RecordValue::Lww {
            value: Value::Null,
            timestamp: Timestamp::new(u64::MAX, 0, "n"),
            ttl_ms: Some(1 << 63),
        };
        let Value::Map(m) = record_value_to_value(&r) else {
            panic!("not a map")
        };
        assert_eq!(
            m.get("ttlMs"),
            Some(&Value::Float(9_223_372_036_854_775_808.0))
        );
        let Some(Value::Map(ts)) = m.get("timestamp") else {
            panic!("no timestamp")
        };
        assert_eq!(
            ts.get("millis"),
            Some(&Value::Float(18_446_744_073_709_551_616.0))
        );
        // Outside the decoders' range: refused, never read back as another
        // number.
        let e = record_value_from_value(Value::Map(m)).err();
        assert_eq!(e.map(|e| e.kind()), Some(Range));
    }
}
