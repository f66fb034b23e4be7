//! MessagePack: the canonical encoder (on top of `rmp`), its exact length
//! (the same encoder writing into a byte counter) and a bounds-checked,
//! depth-limited reader (markers and fixed-size fields read by
//! `rmp::decode`; this module adds offsets, paths and limits).

use super::error::{quoted, BufferTooSmall, DecodeError};
use super::shape::{self, Key, Kind, Num, Source};
use super::MAX_DEPTH;
use crate::record::{OrMapEntry, RecordValue, Timestamp};
use crate::value::{Value, ValueMap};
use rmp::decode::bytes::BytesReadError;
use rmp::decode::{self as dec, Bytes, ValueReadError};
use rmp::encode::{self as enc, ByteBuf, RmpWrite, RmpWriteErr, ValueWriteError};
use rmp::Marker;
use std::convert::Infallible;

// ---------------------------------------------------------------------------
// Envelope keys, pre-encoded (fixstr marker 0xa0 | len, then the bytes).
// A unit test checks each against rmp's own string encoding.

const KEY_VALUE: &[u8] = b"\xa5value";
const KEY_TIMESTAMP: &[u8] = b"\xa9timestamp";
const KEY_TTL_MS: &[u8] = b"\xa5ttlMs";
const KEY_MILLIS: &[u8] = b"\xa6millis";
const KEY_COUNTER: &[u8] = b"\xa7counter";
const KEY_NODE_ID: &[u8] = b"\xa6nodeId";
const KEY_TYPE: &[u8] = b"\xa4type";
const KEY_RECORDS: &[u8] = b"\xa7records";
const KEY_TAG: &[u8] = b"\xa3tag";
const KEY_TAGS: &[u8] = b"\xa4tags";
const STR_OR: &[u8] = b"\xa2OR";
const STR_OR_TOMBSTONES: &[u8] = b"\xadOR_TOMBSTONES";

// ---------------------------------------------------------------------------
// Public API

/// Encodes a record value as canonical MessagePack.
///
/// The output is byte-identical to what Python's `msgpack.packb(obj,
/// use_bin_type=True)` produces for the same data (and to JS msgpackr for
/// integers within 32 bits): integers in their smallest form, floats always as
/// float64, strings as fixstr/str8/16/32, bytes as bin8/16/32, envelope keys in
/// the order `value, timestamp, ttlMs` (LWW), `millis, counter, nodeId`
/// (timestamp), `type, records` (OR), `value, timestamp, tag, ttlMs` (OR
/// entry), `type, tags` (tombstones); `ttlMs` is written only when `Some`.
/// User map keys keep their insertion order.
///
/// Cost: two passes over the value (one to size, one to write) and exactly one
/// allocation of [`encoded_len`] bytes.
///
/// # Panics
///
/// Only if a string, byte string, array or map holds more than `u32::MAX`
/// bytes or elements, which MessagePack cannot represent.
#[must_use]
pub fn encode_record_value(v: &RecordValue) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded_len(v));
    encode_record_value_into(v, &mut out);
    out
}

/// Appends the canonical MessagePack encoding of `v` (see
/// [`encode_record_value`]) to `out`, leaving its existing contents alone.
///
/// Cost: two passes over the value; reserves exactly [`encoded_len`] more
/// bytes, so at most one reallocation of `out`.
///
/// # Panics
///
/// As [`encode_record_value`].
pub fn encode_record_value_into(v: &RecordValue, out: &mut Vec<u8>) {
    out.reserve(encoded_len(v));
    let mut buf = ByteBuf::from_vec(std::mem::take(out));
    infallible(write_record(&mut buf, v));
    *out = buf.into_vec();
}

/// The exact length in bytes of [`encode_record_value`]'s output.
///
/// Runs the encoder itself into a sink that only counts bytes, so the length
/// cannot disagree with the encoding. Cost: one pass over the value; no
/// allocation.
///
/// # Panics
///
/// As [`encode_record_value`].
#[must_use]
pub fn encoded_len(v: &RecordValue) -> usize {
    let mut counter = ByteCounter(0);
    // Writing to a counter cannot fail.
    let _ = write_record(&mut counter, v);
    counter.0
}

/// Writes the canonical MessagePack encoding of `v` (see
/// [`encode_record_value`]) to the start of `buf` and returns its length.
///
/// Performs no heap allocation at all: the bytes go straight into `buf`.
/// Cost: one pass over the value when `buf` is large enough; one more (to
/// compute `needed`) when it is not.
///
/// # Errors
///
/// [`BufferTooSmall`] with the exact length needed when `buf` is shorter than
/// the encoding. The contents of `buf` are then unspecified (a prefix of the
/// encoding may have been written).
///
/// # Panics
///
/// As [`encode_record_value`].
pub fn encode_record_value_to_slice(
    v: &RecordValue,
    buf: &mut [u8],
) -> Result<usize, BufferTooSmall> {
    let capacity = buf.len();
    let mut cursor: &mut [u8] = buf;
    match write_record(&mut cursor, v) {
        Ok(()) => Ok(capacity - cursor.len()),
        Err(_) => Err(BufferTooSmall {
            needed: encoded_len(v),
        }),
    }
}

/// Decodes a record value from MessagePack.
///
/// Accepts the shape of TopGun's `StorageValue` with fields in any order (see
/// the [module docs](super) for what is accepted beyond the canonical form,
/// such as float-encoded `millis` or `ttlMs: nil`). Never panics, and never
/// recurses deeper than [`MAX_DEPTH`] levels of user value nesting, whatever
/// the input. Allocations are bounded by the input size.
///
/// # Errors
///
/// A [`DecodeError`] whose kind is
/// [`Malformed`](super::DecodeErrorKind::Malformed) for bytes that are not one
/// complete MessagePack value (truncated, trailing bytes, invalid UTF-8,
/// reserved marker 0xc1, ext types, nesting over [`MAX_DEPTH`], non-string or
/// duplicate map keys), [`Shape`](super::DecodeErrorKind::Shape) for a valid
/// document of the wrong shape, [`Range`](super::DecodeErrorKind::Range) for
/// out-of-range numbers.
pub fn decode_record_value(bytes: &[u8]) -> Result<RecordValue, DecodeError> {
    let mut reader = MsgpackReader::new(bytes);
    let value = shape::read_record(&mut reader)?;
    reader.finish()?;
    Ok(value)
}

/// Encodes a user value as canonical MessagePack (the rules of
/// [`encode_record_value`]).
///
/// Cost: two passes, one allocation of exactly [`value_encoded_len`] bytes.
///
/// # Panics
///
/// As [`encode_record_value`].
#[must_use]
pub fn encode_value(v: &Value) -> Vec<u8> {
    let mut buf = ByteBuf::with_capacity(value_encoded_len(v));
    infallible(write_value(&mut buf, v));
    buf.into_vec()
}

/// The exact length in bytes of [`encode_value`]'s output (counted as
/// [`encoded_len`] counts).
///
/// Cost: one pass over the value; no allocation.
///
/// # Panics
///
/// As [`encode_record_value`].
#[must_use]
pub fn value_encoded_len(v: &Value) -> usize {
    let mut counter = ByteCounter(0);
    // Writing to a counter cannot fail.
    let _ = write_value(&mut counter, v);
    counter.0
}

/// Decodes a user value from MessagePack.
///
/// float32 becomes [`Value::Float`]; `bin` becomes [`Value::Bytes`]; map keys
/// keep their order. Never panics; nesting is limited to [`MAX_DEPTH`].
///
/// # Errors
///
/// [`Malformed`](super::DecodeErrorKind::Malformed) as for
/// [`decode_record_value`]; [`Range`](super::DecodeErrorKind::Range) for a
/// uint64 above `i64::MAX` (never rounded).
pub fn decode_value(bytes: &[u8]) -> Result<Value, DecodeError> {
    let mut reader = MsgpackReader::new(bytes);
    let value = reader.read_user_value(0)?;
    reader.finish()?;
    Ok(value)
}

// ---------------------------------------------------------------------------
// Encoder

fn infallible(r: Result<(), Infallible>) {
    match r {
        Ok(()) => {}
        Err(never) => match never {},
    }
}

/// Flattens rmp's two-variant write error into the writer's error.
fn flat<T, E: RmpWriteErr>(r: Result<T, ValueWriteError<E>>) -> Result<(), E> {
    match r {
        Ok(_) => Ok(()),
        Err(ValueWriteError::InvalidMarkerWrite(e) | ValueWriteError::InvalidDataWrite(e)) => {
            Err(e)
        }
    }
}

/// A length as MessagePack's u32, or a panic for data MessagePack cannot hold.
fn len32(len: usize) -> u32 {
    match u32::try_from(len) {
        Ok(n) => n,
        Err(_) => too_long(len),
    }
}

#[cold]
#[inline(never)]
fn too_long(len: usize) -> ! {
    panic!("MessagePack cannot encode a string, binary, array or map of {len} bytes/elements (max 2^32-1)")
}

fn write_str<W: RmpWrite>(w: &mut W, s: &str) -> Result<(), W::Error> {
    flat(enc::write_str_len(w, len32(s.len())))?;
    w.write_bytes(s.as_bytes())
}

pub(crate) fn write_value<W: RmpWrite>(w: &mut W, v: &Value) -> Result<(), W::Error> {
    match v {
        Value::Null => enc::write_nil(w),
        Value::Bool(b) => enc::write_bool(w, *b),
        Value::Int(i) => flat(enc::write_sint(w, *i)),
        Value::Float(f) => flat(enc::write_f64(w, *f)),
        Value::String(s) => write_str(w, s),
        Value::Bytes(b) => {
            flat(enc::write_bin_len(w, len32(b.len())))?;
            w.write_bytes(b)
        }
        Value::Array(items) => {
            flat(enc::write_array_len(w, len32(items.len())))?;
            items.iter().try_for_each(|item| write_value(w, item))
        }
        Value::Map(map) => {
            flat(enc::write_map_len(w, len32(map.len())))?;
            map.iter().try_for_each(|(k, item)| {
                write_str(w, k)?;
                write_value(w, item)
            })
        }
    }
}

fn write_timestamp<W: RmpWrite>(w: &mut W, ts: &Timestamp) -> Result<(), W::Error> {
    flat(enc::write_map_len(w, 3))?;
    w.write_bytes(KEY_MILLIS)?;
    flat(enc::write_uint(w, ts.millis))?;
    w.write_bytes(KEY_COUNTER)?;
    flat(enc::write_uint(w, u64::from(ts.counter)))?;
    w.write_bytes(KEY_NODE_ID)?;
    write_str(w, &ts.node_id)
}

/// The map of an LWW record or an OR record entry: `value`, `timestamp`,
/// `tag` (OR only) and `ttlMs` when present.
fn write_fields<W: RmpWrite>(
    w: &mut W,
    value: &Value,
    timestamp: &Timestamp,
    tag: Option<&str>,
    ttl_ms: Option<u64>,
) -> Result<(), W::Error> {
    let len = 2 + u32::from(tag.is_some()) + u32::from(ttl_ms.is_some());
    flat(enc::write_map_len(w, len))?;
    w.write_bytes(KEY_VALUE)?;
    write_value(w, value)?;
    w.write_bytes(KEY_TIMESTAMP)?;
    write_timestamp(w, timestamp)?;
    if let Some(tag) = tag {
        w.write_bytes(KEY_TAG)?;
        write_str(w, tag)?;
    }
    match ttl_ms {
        Some(ttl) => {
            w.write_bytes(KEY_TTL_MS)?;
            flat(enc::write_uint(w, ttl))
        }
        None => Ok(()),
    }
}

fn write_entry<W: RmpWrite>(w: &mut W, e: &OrMapEntry) -> Result<(), W::Error> {
    write_fields(w, &e.value, &e.timestamp, Some(&e.tag), e.ttl_ms)
}

/// The map of an OR or OR tombstones record: `{type: type_tag, key: [items]}`,
/// each item written by `write_item`.
fn write_tagged<W: RmpWrite, T>(
    w: &mut W,
    type_tag: &[u8],
    key: &[u8],
    items: &[T],
    mut write_item: impl FnMut(&mut W, &T) -> Result<(), W::Error>,
) -> Result<(), W::Error> {
    flat(enc::write_map_len(w, 2))?;
    w.write_bytes(KEY_TYPE)?;
    w.write_bytes(type_tag)?;
    w.write_bytes(key)?;
    flat(enc::write_array_len(w, len32(items.len())))?;
    items.iter().try_for_each(|item| write_item(w, item))
}

pub(crate) fn write_record<W: RmpWrite>(w: &mut W, v: &RecordValue) -> Result<(), W::Error> {
    match v {
        RecordValue::Lww {
            value,
            timestamp,
            ttl_ms,
        } => write_fields(w, value, timestamp, None, *ttl_ms),
        RecordValue::OrMap { records } => {
            write_tagged(w, STR_OR, KEY_RECORDS, records, write_entry)
        }
        RecordValue::OrTombstones { tags } => {
            write_tagged(w, STR_OR_TOMBSTONES, KEY_TAGS, tags, |w, t| write_str(w, t))
        }
    }
}

// ---------------------------------------------------------------------------
// Lengths

/// An encoder sink that keeps only the number of bytes written.
struct ByteCounter(usize);

impl std::io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Dates

/// What `JSON.stringify` writes for a JS `Date` of `millis` since the epoch:
/// `Date.prototype.toISOString` (`YYYY-MM-DDTHH:mm:ss.sssZ`, years outside
/// 0..=9999 as `+YYYYYY` / `-YYYYYY`), or `None` (written `null`) beyond the
/// range of a `Date` (±8.64e15 ms).
fn date_json(millis: i128) -> Option<String> {
    const LIMIT: i128 = 8_640_000_000_000_000;
    if !(-LIMIT..=LIMIT).contains(&millis) {
        return None;
    }
    let millis = i64::try_from(millis).ok()?;
    let days = millis.div_euclid(86_400_000);
    let in_day = millis.rem_euclid(86_400_000);
    // Days to a civil date (proleptic Gregorian), after Howard Hinnant's
    // `civil_from_days`.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let year = if (0..=9999).contains(&year) {
        format!("{year:04}")
    } else {
        format!("{}{:06}", if year < 0 { '-' } else { '+' }, year.abs())
    };
    Some(format!(
        "{year}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    ))
}

// ---------------------------------------------------------------------------
// Reader

/// A cursor over MessagePack bytes. Every read is bounds-checked; errors carry
/// the byte offset in their message and the path `$` relative to the value
/// being read (callers prefix their own segments).
pub(crate) struct MsgpackReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// The kind of item a marker starts; `None` for ext types and the reserved
/// marker 0xc1.
fn marker_kind(m: u8) -> Option<Kind> {
    Some(match Marker::from_u8(m) {
        Marker::FixPos(_)
        | Marker::FixNeg(_)
        | Marker::U8
        | Marker::U16
        | Marker::U32
        | Marker::U64
        | Marker::I8
        | Marker::I16
        | Marker::I32
        | Marker::I64 => Kind::Int,
        Marker::FixMap(_) | Marker::Map16 | Marker::Map32 => Kind::Map,
        Marker::FixArray(_) | Marker::Array16 | Marker::Array32 => Kind::Array,
        Marker::FixStr(_) | Marker::Str8 | Marker::Str16 | Marker::Str32 => Kind::Str,
        Marker::Null => Kind::Null,
        Marker::True | Marker::False => Kind::Bool,
        Marker::Bin8 | Marker::Bin16 | Marker::Bin32 => Kind::Bytes,
        Marker::F32 | Marker::F64 => Kind::Float,
        Marker::FixExt1
        | Marker::FixExt2
        | Marker::FixExt4
        | Marker::FixExt8
        | Marker::FixExt16
        | Marker::Ext8
        | Marker::Ext16
        | Marker::Ext32
        | Marker::Reserved => return None,
    })
}

/// `true` for the markers of MessagePack ext types.
fn is_ext(m: u8) -> bool {
    marker_kind(m).is_none() && Marker::from_u8(m) != Marker::Reserved
}

/// The name of what a marker starts, for error messages.
fn marker_name(m: u8) -> &'static str {
    match marker_kind(m) {
        Some(kind) => kind.name(),
        None if is_ext(m) => "ext",
        None => "reserved marker 0xc1",
    }
}

impl<'a> MsgpackReader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Fails unless every byte has been consumed.
    pub(crate) fn finish(&self) -> Result<(), DecodeError> {
        let extra = self.buf.len().saturating_sub(self.pos);
        if extra == 0 {
            Ok(())
        } else {
            Err(DecodeError::malformed(format!(
                "{extra} trailing byte(s) after the value (byte offset {})",
                self.pos
            )))
        }
    }

    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    #[cold]
    fn eof(&self, needed: usize) -> DecodeError {
        DecodeError::malformed(format!(
            "unexpected end of input: {needed} more byte(s) needed at byte offset {} but {} left",
            self.pos,
            self.remaining()
        ))
    }

    fn peek_byte(&self) -> Result<u8, DecodeError> {
        self.buf.get(self.pos).copied().ok_or_else(|| self.eof(1))
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        let b = self.peek_byte()?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or_else(|| self.eof(n))?;
        let slice = self.buf.get(self.pos..end).ok_or_else(|| self.eof(n))?;
        self.pos = end;
        Ok(slice)
    }

    /// Reads the item that starts at `at` (its marker included) with
    /// `read`, one of `rmp::decode`'s readers, and moves past it. Running
    /// out of input is the usual `Malformed` error with the offset.
    fn item<T>(
        &mut self,
        at: usize,
        read: impl FnOnce(&mut Bytes<'a>) -> Result<T, ValueReadError<BytesReadError>>,
    ) -> Result<T, DecodeError> {
        let mut rd = Bytes::new(self.buf.get(at..).unwrap_or_default());
        let result = read(&mut rd);
        let consumed =
            |position: u64| at.saturating_add(usize::try_from(position).unwrap_or(usize::MAX));
        match result {
            Ok(value) => {
                self.pos = consumed(rd.position());
                Ok(value)
            }
            Err(ValueReadError::InvalidMarkerRead(e) | ValueReadError::InvalidDataRead(e)) => {
                let BytesReadError::InsufficientBytes {
                    expected, position, ..
                } = e
                else {
                    return Err(self.eof(1));
                };
                self.pos = consumed(position);
                Err(self.eof(expected))
            }
            // Callers pick the reader by the marker, so it always matches.
            Err(ValueReadError::TypeMismatch(m)) => {
                self.pos = at;
                Err(self.bad_marker(m.to_u8(), at))
            }
        }
    }

    #[cold]
    fn bad_marker(&self, m: u8, at: usize) -> DecodeError {
        if is_ext(m) {
            DecodeError::malformed(format!(
                "MessagePack ext types are not supported (marker 0x{m:02x} at byte offset {at})"
            ))
        } else {
            DecodeError::malformed(format!(
                "invalid MessagePack marker 0x{m:02x} at byte offset {at}"
            ))
        }
    }

    /// Reads a string body of `len` bytes as UTF-8.
    fn str_body(&mut self, len: usize) -> Result<&'a str, DecodeError> {
        let at = self.pos;
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes).map_err(|e| {
            DecodeError::malformed(format!(
                "invalid UTF-8 in string (byte offset {})",
                at + e.valid_up_to()
            ))
        })
    }

    /// Reads the length of the string, bytes, array or map that marker `m`
    /// (just read, and one of those) starts: from the marker itself for the
    /// fix forms, else from the bytes after it.
    fn len_after(&mut self, m: u8) -> Result<usize, DecodeError> {
        let at = self.pos.saturating_sub(1);
        let len = match marker_kind(m) {
            Some(Kind::Map) => self.item(at, dec::read_map_len)?,
            Some(Kind::Array) => self.item(at, dec::read_array_len)?,
            Some(Kind::Str) => self.item(at, dec::read_str_len)?,
            _ => self.item(at, dec::read_bin_len)?,
        };
        // usize is at least 32 bits on supported targets; saturating
        // otherwise, which then fails as truncated input.
        Ok(usize::try_from(len).unwrap_or(usize::MAX))
    }

    /// Reads the next marker if it starts an item of kind `expected`;
    /// otherwise leaves it unread and fails with a `Shape` error.
    fn marker_of(&mut self, expected: Kind) -> Result<u8, DecodeError> {
        let at = self.pos;
        let m = self.byte()?;
        if marker_kind(m) == Some(expected) {
            Ok(m)
        } else {
            self.pos = at;
            Err(DecodeError::shape(format!(
                "expected {}, found {}",
                expected.name(),
                marker_name(m)
            )))
        }
    }

    /// Reads a map key, which must be a string.
    fn key(&mut self) -> Result<&'a str, DecodeError> {
        let at = self.pos;
        let m = self.byte()?;
        if marker_kind(m) != Some(Kind::Str) {
            return Err(DecodeError::malformed(format!(
                "map key is not a string but {} (byte offset {at})",
                marker_name(m)
            )));
        }
        let len = self.len_after(m)?;
        self.str_body(len)
    }

    /// Reads a number of any MessagePack numeric form.
    fn number(&mut self) -> Result<Num, DecodeError> {
        let at = self.pos;
        let m = self.byte()?;
        Ok(match Marker::from_u8(m) {
            Marker::FixPos(n) => Num::I(i64::from(n)),
            Marker::FixNeg(n) => Num::I(i64::from(n)),
            Marker::U8 => Num::I(i64::from(self.item(at, dec::read_u8)?)),
            Marker::U16 => Num::I(i64::from(self.item(at, dec::read_u16)?)),
            Marker::U32 => Num::I(i64::from(self.item(at, dec::read_u32)?)),
            Marker::U64 => {
                let u = self.item(at, dec::read_u64)?;
                i64::try_from(u).map_or(Num::U(u), Num::I)
            }
            Marker::I8 => Num::I(i64::from(self.item(at, dec::read_i8)?)),
            Marker::I16 => Num::I(i64::from(self.item(at, dec::read_i16)?)),
            Marker::I32 => Num::I(i64::from(self.item(at, dec::read_i32)?)),
            Marker::I64 => Num::I(self.item(at, dec::read_i64)?),
            Marker::F32 => Num::F(f64::from(self.item(at, dec::read_f32)?)),
            Marker::F64 => Num::F(self.item(at, dec::read_f64)?),
            _ => {
                self.pos = at;
                return Err(DecodeError::shape(format!(
                    "expected number, found {} (byte offset {at})",
                    marker_name(m)
                )));
            }
        })
    }

    /// Checks the nesting depth before entering a container.
    fn enter(&self, depth: usize) -> Result<usize, DecodeError> {
        let inner = depth + 1;
        if inner > MAX_DEPTH {
            Err(DecodeError::malformed(format!(
                "nesting deeper than {MAX_DEPTH} levels (byte offset {})",
                self.pos
            )))
        } else {
            Ok(inner)
        }
    }

    /// Reads one user value; `depth` is the number of containers around it.
    pub(crate) fn read_user_value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        let at = self.pos;
        let m = self.byte()?;
        Ok(match marker_kind(m) {
            Some(Kind::Map) => {
                let len = self.len_after(m)?;
                self.map_body(len, depth)?
            }
            Some(Kind::Array) => {
                let len = self.len_after(m)?;
                self.array_body(len, depth)?
            }
            Some(Kind::Str) => {
                let len = self.len_after(m)?;
                Value::String(self.str_body(len)?.to_owned())
            }
            Some(Kind::Null) => Value::Null,
            Some(Kind::Bool) => Value::Bool(Marker::from_u8(m) == Marker::True),
            Some(Kind::Bytes) => {
                let len = self.len_after(m)?;
                Value::Bytes(self.take(len)?.to_vec())
            }
            Some(Kind::Int | Kind::Float) => {
                self.pos = at;
                match self.number()? {
                    Num::I(i) => Value::Int(i),
                    Num::F(f) => Value::Float(f),
                    Num::U(u) => {
                        return Err(DecodeError::range(format!(
                            "integer {u} is out of range for i64 (byte offset {at})"
                        )))
                    }
                }
            }
            None if is_ext(m) => self.timestamp_ext(m, at)?,
            None => return Err(self.bad_marker(m, at)),
        })
    }

    /// A MessagePack timestamp (ext type -1; what JS msgpackr writes for a
    /// `Date`), as TopGun's PostgresAdapter would store the `Date` msgpackr
    /// reads from it: `JSON.stringify` writes its ISO 8601 string, or null
    /// for an invalid date (msgpackr writes those as a 1-byte timestamp).
    /// Other ext types are refused.
    fn timestamp_ext(&mut self, m: u8, at: usize) -> Result<Value, DecodeError> {
        let meta = self.item(at, dec::read_ext_meta)?;
        if meta.typeid != -1 {
            self.pos = at;
            return Err(self.bad_marker(m, at));
        }
        let data_at = self.pos;
        let data = self.take(usize::try_from(meta.size).unwrap_or(usize::MAX))?;
        let be = |bytes: &[u8]| bytes.iter().fold(0u64, |n, b| (n << 8) | u64::from(*b));
        // (seconds, nanoseconds) of the three standard forms.
        let (seconds, nanos): (i64, u64) = match data.len() {
            1 => return Ok(Value::Null),
            4 => (i64::try_from(be(data)).unwrap_or(i64::MAX), 0),
            8 => {
                let n = be(data);
                (
                    i64::try_from(n & ((1 << 34) - 1)).unwrap_or(i64::MAX),
                    n >> 34,
                )
            }
            12 => {
                let seconds = i64::from_be_bytes(data[4..].try_into().unwrap_or_default());
                (seconds, be(&data[..4]))
            }
            n => {
                return Err(DecodeError::malformed(format!(
                    "a MessagePack timestamp has 4, 8 or 12 bytes, not {n} (byte offset {data_at})"
                )))
            }
        };
        // Date's own arithmetic: milliseconds, truncated toward zero.
        let millis = (i128::from(seconds) * 1_000_000_000 + i128::from(nanos)) / 1_000_000;
        Ok(date_json(millis).map_or(Value::Null, Value::String))
    }

    fn array_body(&mut self, len: usize, depth: usize) -> Result<Value, DecodeError> {
        let depth = self.enter(depth)?;
        // Every element takes at least one byte: never pre-allocate more than
        // the input could hold.
        let mut items = Vec::with_capacity(len.min(self.remaining()));
        for i in 0..len {
            items.push(self.read_user_value(depth).map_err(|e| e.in_index(i))?);
        }
        Ok(Value::Array(items))
    }

    fn map_body(&mut self, len: usize, depth: usize) -> Result<Value, DecodeError> {
        let depth = self.enter(depth)?;
        // Every entry takes at least two bytes.
        let mut map = ValueMap::with_capacity(len.min(self.remaining() / 2));
        for _ in 0..len {
            let key_at = self.pos;
            let key = self.key()?;
            if map.contains_key(key) {
                return Err(DecodeError::malformed(format!(
                    "duplicate map key {} (byte offset {key_at})",
                    quoted(key)
                )));
            }
            let item = self.read_user_value(depth).map_err(|e| e.in_key(key))?;
            map.insert(key.to_owned(), item);
        }
        Ok(Value::from(map))
    }
}

impl Source for MsgpackReader<'_> {
    type MapState = usize;
    type SeqState = usize;

    fn peek(&mut self) -> Result<Kind, DecodeError> {
        let m = self.peek_byte()?;
        marker_kind(m).ok_or_else(|| self.bad_marker(m, self.pos))
    }

    fn read_null(&mut self) -> Result<(), DecodeError> {
        self.marker_of(Kind::Null).map(drop)
    }

    fn read_str(&mut self) -> Result<String, DecodeError> {
        let m = self.marker_of(Kind::Str)?;
        let len = self.len_after(m)?;
        Ok(self.str_body(len)?.to_owned())
    }

    fn read_num(&mut self) -> Result<Num, DecodeError> {
        self.number()
    }

    fn begin_map(&mut self) -> Result<usize, DecodeError> {
        let m = self.marker_of(Kind::Map)?;
        self.len_after(m)
    }

    fn next_key(&mut self, left: &mut usize, names: &[&str]) -> Result<Option<Key>, DecodeError> {
        if *left == 0 {
            return Ok(None);
        }
        *left -= 1;
        Ok(Some(Key::new(self.key()?, names)))
    }

    fn begin_seq(&mut self) -> Result<usize, DecodeError> {
        let m = self.marker_of(Kind::Array)?;
        self.len_after(m)
    }

    fn next_element(&mut self, left: &mut usize) -> Result<bool, DecodeError> {
        if *left == 0 {
            return Ok(false);
        }
        *left -= 1;
        Ok(true)
    }

    fn seq_size_hint(&self, left: &usize) -> usize {
        (*left).min(self.remaining())
    }

    fn read_value(&mut self) -> Result<Value, DecodeError> {
        self.read_user_value(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::DecodeErrorKind;
    use crate::record::MAX_MILLIS;

    fn rmp_str(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        match rmp::encode::write_str(&mut out, s) {
            Ok(()) => out,
            Err(e) => panic!("{e}"),
        }
    }

    fn ts(millis: u64) -> Timestamp {
        Timestamp::new(millis, 7, "node-a")
    }

    fn enc(v: &Value) -> String {
        hex::encode(encode_value(v))
    }

    fn err(bytes: &[u8]) -> DecodeError {
        match decode_value(bytes) {
            Ok(v) => panic!("decoded {v:?}"),
            Err(e) => e,
        }
    }

    fn rerr(bytes: &[u8]) -> DecodeError {
        match decode_record_value(bytes) {
            Ok(v) => panic!("decoded {v:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn envelope_key_constants_match_rmp() {
        for (bytes, s) in [
            (KEY_VALUE, "value"),
            (KEY_TIMESTAMP, "timestamp"),
            (KEY_TTL_MS, "ttlMs"),
            (KEY_MILLIS, "millis"),
            (KEY_COUNTER, "counter"),
            (KEY_NODE_ID, "nodeId"),
            (KEY_TYPE, "type"),
            (KEY_RECORDS, "records"),
            (KEY_TAG, "tag"),
            (KEY_TAGS, "tags"),
            (STR_OR, "OR"),
            (STR_OR_TOMBSTONES, "OR_TOMBSTONES"),
        ] {
            assert_eq!(bytes, rmp_str(s).as_slice(), "{s}");
        }
    }

    #[test]
    fn integers_use_smallest_forms() {
        let cases: &[(i64, &str)] = &[
            (0, "00"),
            (127, "7f"),
            (128, "cc80"),
            (255, "ccff"),
            (256, "cd0100"),
            (65_535, "cdffff"),
            (65_536, "ce00010000"),
            (4_294_967_295, "ceffffffff"),
            (4_294_967_296, "cf0000000100000000"),
            (i64::MAX, "cf7fffffffffffffff"),
            (-1, "ff"),
            (-32, "e0"),
            (-33, "d0df"),
            (-128, "d080"),
            (-129, "d1ff7f"),
            (-32_768, "d18000"),
            (-32_769, "d2ffff7fff"),
            (-2_147_483_648, "d280000000"),
            (-2_147_483_649, "d3ffffffff7fffffff"),
            (i64::MIN, "d38000000000000000"),
        ];
        for &(i, hex) in cases {
            let v = Value::Int(i);
            assert_eq!(enc(&v), hex, "{i}");
            assert_eq!(value_encoded_len(&v), hex.len() / 2, "{i}");
            assert_eq!(decode_value(&encode_value(&v)), Ok(v));
        }
    }

    #[test]
    fn floats_are_always_float64_with_bits_preserved() {
        assert_eq!(enc(&Value::Float(0.5)), "cb3fe0000000000000");
        assert_eq!(enc(&Value::Float(-0.0)), "cb8000000000000000");
        assert_eq!(enc(&Value::Float(1.0)), "cb3ff0000000000000");
        let nan = f64::from_bits(0x7ff8_0000_0000_0001);
        assert_eq!(enc(&Value::Float(nan)), "cb7ff8000000000001");
        match decode_value(&encode_value(&Value::Float(nan))) {
            Ok(Value::Float(f)) => assert_eq!(f.to_bits(), nan.to_bits()),
            other => panic!("{other:?}"),
        }
        // float32 input decodes to Float.
        assert_eq!(
            decode_value(&[0xca, 0x3f, 0xc0, 0, 0]),
            Ok(Value::Float(1.5))
        );
    }

    #[test]
    fn strings_bytes_and_containers_use_smallest_headers() {
        let s = |n: usize| Value::String("x".repeat(n));
        assert_eq!(&enc(&s(31))[..2], "bf");
        assert_eq!(&enc(&s(32))[..4], "d920");
        assert_eq!(&enc(&s(255))[..4], "d9ff");
        assert_eq!(&enc(&s(256))[..6], "da0100");
        assert_eq!(&enc(&s(65_536))[..10], "db00010000");
        assert_eq!(enc(&Value::Bytes(vec![])), "c400");
        assert_eq!(&enc(&Value::Bytes(vec![0; 256]))[..6], "c50100");
        assert_eq!(&enc(&Value::Bytes(vec![0; 65_536]))[..10], "c600010000");
        assert_eq!(&enc(&Value::Array(vec![Value::Null; 15]))[..2], "9f");
        assert_eq!(&enc(&Value::Array(vec![Value::Null; 16]))[..6], "dc0010");
        assert_eq!(
            &enc(&Value::Array(vec![Value::Null; 65_536]))[..10],
            "dd00010000"
        );
        let map = |n: usize| {
            Value::Map(Box::new(
                (0..n).map(|i| (i.to_string(), Value::Null)).collect(),
            ))
        };
        assert_eq!(&enc(&map(15))[..2], "8f");
        assert_eq!(&enc(&map(16))[..6], "de0010");
        assert_eq!(&enc(&map(65_536))[..10], "df00010000");
        for v in [s(31), s(32), s(65_536), map(16), map(65_536)] {
            assert_eq!(value_encoded_len(&v), encode_value(&v).len());
            assert_eq!(decode_value(&encode_value(&v)).as_ref(), Ok(&v));
        }
    }

    #[test]
    fn map_key_order_is_kept() {
        let v: Value = [("z", 1), ("a", 2)].into_iter().collect();
        assert_eq!(enc(&v), "82a17a01a16102");
        let back = decode_value(&encode_value(&v));
        assert_eq!(back.map(|b| encode_value(&b)), Ok(encode_value(&v)));
    }

    #[test]
    fn lww_envelope_layout() {
        let r = RecordValue::Lww {
            value: Value::Int(1),
            timestamp: ts(5),
            ttl_ms: Some(1000),
        };
        let expect = "83a576616c756501a974696d657374616d7083a66d696c6c697305a7636f756e74657207a66e6f64654964a66e6f64652d61a574746c4d73cd03e8";
        assert_eq!(hex::encode(encode_record_value(&r)), expect);
        assert_eq!(encoded_len(&r), expect.len() / 2);
        assert_eq!(decode_record_value(&encode_record_value(&r)), Ok(r));
    }

    #[test]
    fn record_variants_round_trip() {
        let records = vec![
            RecordValue::lww(Value::Null, ts(1)),
            RecordValue::lww(Value::from("x"), ts(MAX_MILLIS)),
            RecordValue::OrMap { records: vec![] },
            RecordValue::OrMap {
                records: vec![
                    OrMapEntry {
                        value: Value::from(1),
                        timestamp: ts(2),
                        tag: "t1".into(),
                        ttl_ms: None,
                    },
                    OrMapEntry {
                        value: Value::Array(vec![Value::Null]),
                        timestamp: Timestamp::new(3, u32::MAX, ""),
                        tag: "t2".into(),
                        ttl_ms: Some(MAX_MILLIS),
                    },
                ],
            },
            RecordValue::OrTombstones { tags: vec![] },
            RecordValue::OrTombstones {
                tags: vec!["a".into(), "b".into()],
            },
        ];
        for r in records {
            let bytes = encode_record_value(&r);
            assert_eq!(bytes.len(), encoded_len(&r));
            assert_eq!(decode_record_value(&bytes).as_ref(), Ok(&r));
            let mut appended = vec![0xaa];
            encode_record_value_into(&r, &mut appended);
            assert_eq!(appended[0], 0xaa);
            assert_eq!(&appended[1..], bytes.as_slice());
            let mut buf = vec![0u8; bytes.len() + 3];
            assert_eq!(encode_record_value_to_slice(&r, &mut buf), Ok(bytes.len()));
            assert_eq!(&buf[..bytes.len()], bytes.as_slice());
            let mut short = vec![0u8; bytes.len() - 1];
            assert_eq!(
                encode_record_value_to_slice(&r, &mut short),
                Err(BufferTooSmall {
                    needed: bytes.len()
                })
            );
            assert_eq!(
                encode_record_value_to_slice(&r, &mut []),
                Err(BufferTooSmall {
                    needed: bytes.len()
                })
            );
        }
    }

    #[test]
    fn malformed_inputs() {
        let cases: &[(&[u8], &str, &str)] = &[
            (&[], "$", "unexpected end of input: 1 more byte(s) needed at byte offset 0 but 0 left"),
            (&[0xc0, 0xc0], "$", "1 trailing byte(s) after the value (byte offset 1)"),
            (&[0xc1], "$", "invalid MessagePack marker 0xc1 at byte offset 0"),
            (&[0x91, 0xd4, 0x01, 0x02], "$[0]", "MessagePack ext types are not supported (marker 0xd4 at byte offset 1)"),
            (&[0xc7, 0x00, 0x01], "$", "MessagePack ext types are not supported (marker 0xc7 at byte offset 0)"),
            (&[0xa2, b'a'], "$", "unexpected end of input: 2 more byte(s) needed at byte offset 1 but 1 left"),
            (&[0xa1, 0xff], "$", "invalid UTF-8 in string (byte offset 1)"),
            (&[0x81, 0x01, 0x02], "$", "map key is not a string but integer (byte offset 1)"),
            (&[0x82, 0xa1, b'a', 0x01, 0xa1, b'a', 0x02], "$", "duplicate map key \"a\" (byte offset 4)"),
            (&[0x81, 0xa1, b'k', 0x91, 0xa1, 0xc3], "$.k[0]", "invalid UTF-8 in string (byte offset 5)"),
            (&[0xdd, 0xff, 0xff, 0xff, 0xff], "$[0]", "unexpected end of input: 1 more byte(s) needed at byte offset 5 but 0 left"),
            (&[0xcb, 0, 0], "$", "unexpected end of input: 8 more byte(s) needed at byte offset 1 but 2 left"),
            (&[0xdb, 0xff, 0xff, 0xff, 0xff, b'a'], "$", "unexpected end of input: 4294967295 more byte(s) needed at byte offset 5 but 1 left"),
        ];
        for &(bytes, path, message) in cases {
            let e = err(bytes);
            assert_eq!(e.kind(), DecodeErrorKind::Malformed, "{bytes:02x?}");
            assert_eq!((e.path(), e.message()), (path, message), "{bytes:02x?}");
        }
    }

    #[test]
    fn uint64_above_i64_is_a_range_error_for_values() {
        let mut bytes = vec![0x92, 0x01, 0xcf];
        bytes.extend_from_slice(&u64::MAX.to_be_bytes());
        let e = err(&bytes);
        assert_eq!(e.kind(), DecodeErrorKind::Range);
        assert_eq!(e.path(), "$[1]");
        assert_eq!(
            e.message(),
            "integer 18446744073709551615 is out of range for i64 (byte offset 2)"
        );
        let mut ok = vec![0xcf];
        ok.extend_from_slice(&(i64::MAX as u64).to_be_bytes());
        assert_eq!(decode_value(&ok), Ok(Value::Int(i64::MAX)));
    }

    #[test]
    fn depth_limit() {
        let nested = |n: usize| {
            let mut b = vec![0x91; n];
            b.push(0xc0);
            b
        };
        assert!(decode_value(&nested(MAX_DEPTH)).is_ok());
        let e = err(&nested(MAX_DEPTH + 1));
        assert_eq!(e.kind(), DecodeErrorKind::Malformed);
        assert_eq!(
            e.message(),
            "nesting deeper than 256 levels (byte offset 257)"
        );
        assert!(e.path().starts_with("$[0][0]"));
        let e = err(&nested(100_000));
        assert_eq!(e.kind(), DecodeErrorKind::Malformed);
        // The same limit applies to a record's value, counted from the value.
        let mut rec = vec![0x82, 0xa5];
        rec.extend_from_slice(b"value");
        rec.extend(nested(100_000));
        let e = rerr(&rec);
        assert_eq!(e.kind(), DecodeErrorKind::Malformed);
        assert!(e.path().starts_with("$.value[0][0]"));
    }

    #[test]
    fn dates_are_written_as_json_stringify_writes_them() {
        // Expected strings from Node: JSON.stringify(new Date(ms)).
        let cases: &[(i128, Option<&str>)] = &[
            (0, Some("1970-01-01T00:00:00.000Z")),
            (1, Some("1970-01-01T00:00:00.001Z")),
            (-1, Some("1969-12-31T23:59:59.999Z")),
            (-999, Some("1969-12-31T23:59:59.001Z")),
            (1_700_000_000_123, Some("2023-11-14T22:13:20.123Z")),
            (253_402_300_799_999, Some("9999-12-31T23:59:59.999Z")),
            (253_402_300_800_000, Some("+010000-01-01T00:00:00.000Z")),
            (-62_135_596_800_000, Some("0001-01-01T00:00:00.000Z")),
            (-62_198_755_200_000, Some("-000001-01-01T00:00:00.000Z")),
            (-62_198_755_200_001, Some("-000002-12-31T23:59:59.999Z")),
            (8_640_000_000_000_000, Some("+275760-09-13T00:00:00.000Z")),
            (-8_640_000_000_000_000, Some("-271821-04-20T00:00:00.000Z")),
            (951_782_400_000, Some("2000-02-29T00:00:00.000Z")),
            (946_684_799_999, Some("1999-12-31T23:59:59.999Z")),
            (8_640_000_000_000_001, None),
        ];
        for &(ms, json) in cases {
            assert_eq!(date_json(ms).as_deref(), json, "{ms}");
        }
    }

    #[test]
    fn msgpack_timestamps_read_as_msgpackr_and_json_stringify_would() {
        // Bytes JS msgpackr wrote for `{d: <Date>}`, and what
        // JSON.stringify(unpack(bytes)) gave.
        let cases: &[(&str, Value)] = &[
            (
                "81a164d6ff00000000",
                Value::from("1970-01-01T00:00:00.000Z"),
            ),
            (
                "81a164d7ff1d5353006553f100",
                Value::from("2023-11-14T22:13:20.123Z"),
            ),
            (
                "81a164c70cff3b8b87c0ffffffffffffffff",
                Value::from("1969-12-31T23:59:59.999Z"),
            ),
            (
                "81a164c70cff000000000000003afff44180",
                Value::from("+010000-01-01T00:00:00.000Z"),
            ),
            (
                "81a164c70cff3b8b87c0fffffff184aa507f",
                Value::from("-000002-12-31T23:59:59.999Z"),
            ),
            (
                "81a164c70cff1dcd6500ffffffffffffffff",
                Value::from("1969-12-31T23:59:59.500Z"),
            ),
            // An invalid Date, and one beyond a Date's range: null.
            ("81a164d4ffff", Value::Null),
            ("81a164c70cff000000007fffffffffffffff", Value::Null),
        ];
        for (hex, expected) in cases {
            let bytes = hex::decode(hex).unwrap();
            let expected: Value = [("d", expected.clone())].into_iter().collect();
            assert_eq!(decode_value(&bytes), Ok(expected), "{hex}");
        }
        // Other ext types, and timestamps of other sizes, are refused.
        assert!(
            matches!(decode_value(&hex::decode("d40100").unwrap()), Err(e) if e.kind() == DecodeErrorKind::Malformed)
        );
        let e = decode_value(&hex::decode("d5ff0000").unwrap()).unwrap_err();
        assert_eq!(
            e.message(),
            "a MessagePack timestamp has 4, 8 or 12 bytes, not 2 (byte offset 2)"
        );
    }

    #[test]
    fn huge_declared_lengths_do_not_allocate_up_front() {
        // A map32 / array32 claiming 4 billion entries in a 5-byte input.
        assert_eq!(
            err(&[0xdf, 0xff, 0xff, 0xff, 0xff]).kind(),
            DecodeErrorKind::Malformed
        );
        assert_eq!(
            err(&[0xdd, 0xff, 0xff, 0xff, 0xff]).kind(),
            DecodeErrorKind::Malformed
        );
        assert_eq!(
            err(&[0xc6, 0xff, 0xff, 0xff, 0xff]).kind(),
            DecodeErrorKind::Malformed
        );
        let mut rec = vec![0x82, 0xa4];
        rec.extend_from_slice(b"type");
        rec.extend_from_slice(STR_OR);
        rec.extend_from_slice(KEY_RECORDS);
        rec.extend_from_slice(&[0xdd, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(rerr(&rec).kind(), DecodeErrorKind::Malformed);
    }

    #[test]
    fn accepts_what_js_msgpackr_writes() {
        // msgpackr writes numbers above 2^32 as float64 and may write
        // `ttlMs: undefined` as nil; keys can come in any order.
        let mut bytes = vec![0x83];
        bytes.extend_from_slice(KEY_TTL_MS);
        bytes.push(0xc0);
        bytes.extend_from_slice(KEY_TIMESTAMP);
        bytes.push(0x83);
        bytes.extend_from_slice(KEY_NODE_ID);
        bytes.extend_from_slice(b"\xa1n");
        bytes.extend_from_slice(KEY_MILLIS);
        bytes.push(0xcb);
        bytes.extend_from_slice(&1_700_000_000_123f64.to_be_bytes());
        bytes.extend_from_slice(KEY_COUNTER);
        bytes.push(0xca);
        bytes.extend_from_slice(&2f32.to_be_bytes());
        bytes.extend_from_slice(KEY_VALUE);
        bytes.push(0xca);
        bytes.extend_from_slice(&0.5f32.to_be_bytes());
        let r = decode_record_value(&bytes);
        assert_eq!(
            r,
            Ok(RecordValue::lww(
                Value::Float(0.5),
                Timestamp::new(1_700_000_000_123, 2, "n")
            ))
        );
        // Re-encoding gives the canonical form.
        let canonical = r.map(|r| encode_record_value(&r)).unwrap_or_default();
        assert_eq!(
            decode_record_value(&canonical).map(|r| encode_record_value(&r)),
            Ok(canonical.clone())
        );
        assert_ne!(canonical, bytes);
    }

    /// A record with `millis` and `ttlMs` as uint64 (0xcf) MessagePack.
    fn lww_with_u64_fields(millis: u64, ttl_ms: u64) -> Vec<u8> {
        let mut bytes = vec![0x83];
        bytes.extend_from_slice(KEY_VALUE);
        bytes.push(0xc0);
        bytes.extend_from_slice(KEY_TIMESTAMP);
        bytes.push(0x83);
        bytes.extend_from_slice(KEY_MILLIS);
        bytes.push(0xcf);
        bytes.extend_from_slice(&millis.to_be_bytes());
        bytes.extend_from_slice(KEY_COUNTER);
        bytes.push(0xce);
        bytes.extend_from_slice(&u32::MAX.to_be_bytes());
        bytes.extend_from_slice(KEY_NODE_ID);
        bytes.push(0xa0);
        bytes.extend_from_slice(KEY_TTL_MS);
        bytes.push(0xcf);
        bytes.extend_from_slice(&ttl_ms.to_be_bytes());
        bytes
    }

    #[test]
    fn large_unsigned_envelope_fields_are_exact_up_to_2_pow_63() {
        let bytes = lww_with_u64_fields(MAX_MILLIS, MAX_MILLIS - 1);
        let r = RecordValue::Lww {
            value: Value::Null,
            timestamp: Timestamp::new(MAX_MILLIS, u32::MAX, ""),
            ttl_ms: Some(MAX_MILLIS - 1),
        };
        assert_eq!(decode_record_value(&bytes).as_ref(), Ok(&r));
        assert_eq!(encode_record_value(&r), bytes);
        // Beyond 2^63-1: no other form (JSON read back, Python dicts, JS
        // objects) could hold the number, so MessagePack refuses it too.
        for (millis, ttl, path, n) in [
            (1 << 63, 1, "$.timestamp.millis", 1u64 << 63),
            (u64::MAX, 1, "$.timestamp.millis", u64::MAX),
            (1, u64::MAX, "$.ttlMs", u64::MAX),
        ] {
            let e = decode_record_value(&lww_with_u64_fields(millis, ttl)).err();
            let message = format!("{n} is out of range for 0 ..= 2^63-1");
            assert_eq!(
                e.as_ref().map(|e| (e.kind(), e.path(), e.message())),
                Some((DecodeErrorKind::Range, path, message.as_str()))
            );
        }
        // Signed forms of envelope numbers are accepted when non-negative.
        let e = decode_record_value(&[
            0x82, 0xa5, b'v', b'a', b'l', b'u', b'e', 0xc0, 0xa9, b't', b'i', b'm', b'e', b's',
            b't', b'a', b'm', b'p', 0x83, 0xa6, b'm', b'i', b'l', b'l', b'i', b's', 0xd0, 0xff,
            0xa7, b'c', b'o', b'u', b'n', b't', b'e', b'r', 0x00, 0xa6, b'n', b'o', b'd', b'e',
            b'I', b'd', 0xa0,
        ])
        .err();
        assert_eq!(
            e.as_ref().map(|e| (e.kind(), e.path(), e.message())),
            Some((
                DecodeErrorKind::Range,
                "$.timestamp.millis",
                "-1 is out of range for 0 ..= 2^63-1"
            ))
        );
    }

    #[test]
    fn envelope_structure_errors() {
        // A non-string key in the envelope.
        let e = rerr(&[0x81, 0x01, 0xc0]);
        assert_eq!(
            (e.kind(), e.path(), e.message()),
            (
                DecodeErrorKind::Malformed,
                "$",
                "map key is not a string but integer (byte offset 1)"
            )
        );
        // An ext value where the timestamp should be.
        let mut bytes = vec![0x82];
        bytes.extend_from_slice(KEY_VALUE);
        bytes.push(0xc0);
        bytes.extend_from_slice(KEY_TIMESTAMP);
        bytes.extend_from_slice(&[0xd4, 0x00, 0x00]);
        let e = rerr(&bytes);
        assert_eq!(
            (e.kind(), e.path()),
            (DecodeErrorKind::Malformed, "$.timestamp")
        );
        // Invalid UTF-8 in an envelope string.
        let mut bytes = vec![0x82];
        bytes.extend_from_slice(KEY_TYPE);
        bytes.extend_from_slice(&[0xa1, 0xff]);
        let e = rerr(&bytes);
        assert_eq!(
            (e.kind(), e.path(), e.message()),
            (
                DecodeErrorKind::Malformed,
                "$.type",
                "invalid UTF-8 in string (byte offset 7)"
            )
        );
    }

    #[test]
    fn record_trailing_bytes_and_truncation() {
        let r = RecordValue::lww(Value::from("hello"), ts(42));
        let mut bytes = encode_record_value(&r);
        for cut in 0..bytes.len() {
            let e = rerr(&bytes[..cut]);
            assert_eq!(e.kind(), DecodeErrorKind::Malformed, "cut at {cut}");
        }
        bytes.push(0);
        let e = rerr(&bytes);
        assert_eq!(e.kind(), DecodeErrorKind::Malformed);
        assert_eq!(e.path(), "$");
        assert!(e.message().contains("trailing"));
    }
}
