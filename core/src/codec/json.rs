//! JSON: a compact writer and a strict, depth-limited pull reader.
//!
//! Both are hand-written rather than built on `serde_json` because the codec
//! needs things `serde_json`'s defaults do not give: map key order on read
//! (without the crate-wide `preserve_order` feature), exact float parsing
//! (without `float_roundtrip`), `u64` envelope numbers next to `i64` user
//! integers, the same [`MAX_DEPTH`] as MessagePack (`serde_json` stops at
//! 128), and errors with paths.

use super::error::{quoted, DecodeError, EncodeError, EncodeErrorKind};
use super::shape::{self, Key, Kind, Num, Source};
use super::MAX_DEPTH;
use crate::record::{OrMapEntry, RecordValue, Timestamp};
use crate::value::{Value, ValueMap};
use std::borrow::Cow;
use std::fmt::Write as _;

/// The key of the one-key object that stands for [`Value::Bytes`] in JSON.
const BYTES_KEY: &str = "$bytes";

// ---------------------------------------------------------------------------
// Public API

/// Writes a record value as compact JSON in the shape of TopGun's
/// `StorageValue`, keys in the canonical order (see
/// [`encode_record_value`](super::encode_record_value)).
///
/// User values: integers as integers, floats so that they read back as floats
/// (`1.0`, `-0.0`, `1e300`: the shortest text that round-trips), bytes as
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
    let mut out = String::new();
    write_record(&mut out, v)?;
    Ok(out)
}

/// Reads a record value from JSON text (the form [`record_value_to_json`]
/// writes, with fields in any order and insignificant whitespace allowed).
///
/// Accepts what [`decode_record_value`](super::decode_record_value) accepts:
/// `ttlMs: null` as absent, whole floats such as `1.7e12` for `millis` /
/// `counter` / `ttlMs`. Integers up to `u64::MAX` are exact in envelope fields.
///
/// # Errors
///
/// [`Malformed`](super::DecodeErrorKind::Malformed) for invalid JSON (with
/// line and column in the message), trailing characters, lone surrogate
/// escapes, nesting over [`MAX_DEPTH`] in a user value or duplicate keys;
/// [`Shape`](super::DecodeErrorKind::Shape) and
/// [`Range`](super::DecodeErrorKind::Range) as for
/// [`record_value_from_value`](super::record_value_from_value).
pub fn record_value_from_json(text: &str) -> Result<RecordValue, DecodeError> {
    let mut reader = JsonReader::new(text);
    let value = shape::read_record(&mut reader)?;
    reader.finish()?;
    Ok(value)
}

/// Writes a user value as compact JSON (the rules of
/// [`record_value_to_json`]).
///
/// # Errors
///
/// As [`record_value_to_json`].
pub fn value_to_json(v: &Value) -> Result<String, EncodeError> {
    let mut out = String::new();
    write_value(&mut out, v)?;
    Ok(out)
}

/// Reads a user value from JSON text.
///
/// Integers that fit `i64` become [`Value::Int`], every other number
/// [`Value::Float`] (so `1.0` stays a float and `-0.0` keeps its sign); an
/// object that is exactly `{"$bytes": "<hex>"}` becomes [`Value::Bytes`]; key
/// order is kept.
///
/// # Errors
///
/// [`Malformed`](super::DecodeErrorKind::Malformed) as for
/// [`record_value_from_json`]; [`Shape`](super::DecodeErrorKind::Shape) for bad
/// hex in a `$bytes` object; [`Range`](super::DecodeErrorKind::Range) for a
/// number too large for a float64 (e.g. `1e400`).
pub fn value_from_json(text: &str) -> Result<Value, DecodeError> {
    let mut reader = JsonReader::new(text);
    let value = reader.user_value(0)?;
    reader.finish()?;
    Ok(value)
}

// ---------------------------------------------------------------------------
// Writer

/// Appends `s` as a JSON string literal (quotes included). Escapes `"`, `\`
/// and control characters; everything else is written as UTF-8.
pub(crate) fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        // `i` is the index of an ASCII byte, hence a char boundary.
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            out.push_str("\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

const HEX: [char; 16] = [
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f',
];

fn write_key(out: &mut String, key: &str) {
    write_json_string(out, key);
    out.push(':');
}

fn write_u64(out: &mut String, u: u64) {
    // Writing to a String cannot fail.
    let _ = write!(out, "{u}");
}

fn write_value(out: &mut String, v: &Value) -> Result<(), EncodeError> {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => {
            if !f.is_finite() {
                let what = if f.is_nan() {
                    "NaN"
                } else {
                    "an infinite float"
                };
                return Err(EncodeError::new(
                    EncodeErrorKind::NonFiniteFloat,
                    format!("{what} cannot be written as JSON"),
                ));
            }
            // `{:?}` is the shortest text that parses back to the same bits
            // and always has a `.` or an exponent (`1.0`, `-0.0`, `1e300`), so
            // it reads back as a float.
            let _ = write!(out, "{f:?}");
        }
        Value::String(s) => write_json_string(out, s),
        Value::Bytes(b) => {
            out.push_str("{\"$bytes\":\"");
            out.reserve(b.len() * 2 + 2);
            for byte in b {
                out.push(HEX[usize::from(byte >> 4)]);
                out.push(HEX[usize::from(byte & 0xf)]);
            }
            out.push_str("\"}");
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item).map_err(|e| e.in_index(i))?;
            }
            out.push(']');
        }
        Value::Map(map) => {
            if map.len() == 1 {
                if let Some(Value::String(_)) = map.get(BYTES_KEY) {
                    return Err(EncodeError::new(
                        EncodeErrorKind::ReservedBytesKey,
                        "a map whose only key is \"$bytes\" with a string value cannot be written as JSON (it would read back as bytes)",
                    ));
                }
            }
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_key(out, k);
                write_value(out, item).map_err(|e| e.in_key(k))?;
            }
            out.push('}');
        }
    }
    Ok(())
}

fn write_timestamp(out: &mut String, ts: &Timestamp) {
    out.push_str("{\"millis\":");
    write_u64(out, ts.millis);
    out.push_str(",\"counter\":");
    write_u64(out, u64::from(ts.counter));
    out.push_str(",\"nodeId\":");
    write_json_string(out, &ts.node_id);
    out.push('}');
}

fn write_ttl(out: &mut String, ttl_ms: Option<u64>) {
    if let Some(ttl) = ttl_ms {
        out.push_str(",\"ttlMs\":");
        write_u64(out, ttl);
    }
}

fn write_entry(out: &mut String, e: &OrMapEntry) -> Result<(), EncodeError> {
    out.push_str("{\"value\":");
    write_value(out, &e.value).map_err(|err| err.in_key("value"))?;
    out.push_str(",\"timestamp\":");
    write_timestamp(out, &e.timestamp);
    out.push_str(",\"tag\":");
    write_json_string(out, &e.tag);
    write_ttl(out, e.ttl_ms);
    out.push('}');
    Ok(())
}

fn write_record(out: &mut String, v: &RecordValue) -> Result<(), EncodeError> {
    match v {
        RecordValue::Lww {
            value,
            timestamp,
            ttl_ms,
        } => {
            out.push_str("{\"value\":");
            write_value(out, value).map_err(|e| e.in_key("value"))?;
            out.push_str(",\"timestamp\":");
            write_timestamp(out, timestamp);
            write_ttl(out, *ttl_ms);
            out.push('}');
        }
        RecordValue::OrMap { records } => {
            out.push_str("{\"type\":\"OR\",\"records\":[");
            for (i, e) in records.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_entry(out, e).map_err(|err| err.in_index(i).in_key("records"))?;
            }
            out.push_str("]}");
        }
        RecordValue::OrTombstones { tags } => {
            out.push_str("{\"type\":\"OR_TOMBSTONES\",\"tags\":[");
            for (i, t) in tags.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(out, t);
            }
            out.push_str("]}");
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Reader

/// A strict RFC 8259 pull parser over a `&str`. Errors have paths relative to
/// the value being read; syntax errors carry line and column (1-based,
/// columns counted in characters).
pub(crate) struct JsonReader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

/// The result of scanning a number literal.
struct NumberToken<'a> {
    literal: &'a str,
    is_float: bool,
}

impl<'a> JsonReader<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Self {
            text,
            bytes: text.as_bytes(),
            pos: 0,
        }
    }

    /// Fails unless only whitespace is left.
    pub(crate) fn finish(&mut self) -> Result<(), DecodeError> {
        self.skip_ws();
        if self.pos < self.bytes.len() {
            Err(self.syntax("trailing characters after the value"))
        } else {
            Ok(())
        }
    }

    /// `(line, column)` of byte offset `pos`, both 1-based.
    fn line_col(&self, pos: usize) -> (usize, usize) {
        let before = self.bytes.get(..pos).unwrap_or(self.bytes);
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        let column = self
            .text
            .get(line_start..pos)
            .map_or(pos - line_start, |s| s.chars().count())
            + 1;
        (line, column)
    }

    #[cold]
    fn syntax_at(&self, pos: usize, what: &str) -> DecodeError {
        let (line, column) = self.line_col(pos);
        DecodeError::malformed(format!("{what} (line {line}, column {column})"))
    }

    #[cold]
    fn syntax(&self, what: &str) -> DecodeError {
        self.syntax_at(self.pos, what)
    }

    #[cold]
    fn unexpected(&self, expected: &str) -> DecodeError {
        match self.bytes.get(self.pos) {
            None => self.syntax(&format!("unexpected end of input, expected {expected}")),
            Some(_) => {
                let found = self.text.get(self.pos..).and_then(|s| s.chars().next());
                let found = found.map_or_else(String::new, |c| {
                    if c.is_control() {
                        format!(" `{}`", c.escape_debug())
                    } else {
                        format!(" `{c}`")
                    }
                });
                self.syntax(&format!("expected {expected}, found{found}"))
            }
        }
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek_byte(&mut self) -> Option<u8> {
        self.skip_ws();
        self.bytes.get(self.pos).copied()
    }

    /// Consumes `b` (after whitespace) or fails naming `expected`.
    fn expect_byte(&mut self, b: u8, expected: &str) -> Result<(), DecodeError> {
        if self.peek_byte() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.unexpected(expected))
        }
    }

    fn literal(&mut self, word: &str) -> Result<(), DecodeError> {
        let end = self.pos + word.len();
        if self.bytes.get(self.pos..end) == Some(word.as_bytes()) {
            self.pos = end;
            Ok(())
        } else {
            Err(self.syntax(&format!("invalid literal, expected `{word}`")))
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// Scans a number literal at `pos` without consuming it.
    fn scan_number(&mut self) -> Result<NumberToken<'a>, DecodeError> {
        let start = self.pos;
        let result = self.scan_number_inner(start);
        let end = self.pos;
        self.pos = start;
        let is_float = result?;
        let literal = self
            .text
            .get(start..end)
            .ok_or_else(|| self.syntax("invalid number"))?;
        Ok(NumberToken { literal, is_float })
    }

    fn scan_number_inner(&mut self, start: usize) -> Result<bool, DecodeError> {
        if self.bytes.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        match self.bytes.get(self.pos) {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.syntax_at(start, "invalid number")),
        }
        let mut is_float = false;
        if self.bytes.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            is_float = true;
            if self.digits() == 0 {
                return Err(self.syntax_at(start, "invalid number: expected digits after `.`"));
            }
        }
        if let Some(b'e' | b'E') = self.bytes.get(self.pos) {
            self.pos += 1;
            is_float = true;
            if let Some(b'+' | b'-') = self.bytes.get(self.pos) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(self.syntax_at(start, "invalid number: expected digits in exponent"));
            }
        }
        Ok(is_float)
    }

    /// Parses and consumes a number literal.
    fn number(&mut self) -> Result<Num, DecodeError> {
        let start = self.pos;
        let token = self.scan_number()?;
        self.pos = start + token.literal.len();
        let lit = token.literal;
        if !token.is_float {
            if let Ok(i) = lit.parse::<i64>() {
                return Ok(Num::I(i));
            }
            if let Ok(u) = lit.parse::<u64>() {
                return Ok(Num::U(u));
            }
        }
        // Rust's float parsing is correctly rounded for any number of digits.
        lit.parse::<f64>()
            .map(Num::F)
            .map_err(|_| self.syntax_at(start, "invalid number"))
    }

    /// Parses a string literal at `pos` (which holds `"`).
    fn string(&mut self) -> Result<Cow<'a, str>, DecodeError> {
        let open = self.pos;
        self.pos += 1;
        let start = self.pos;
        // Fast path: no escapes, borrow from the input.
        loop {
            match self.bytes.get(self.pos) {
                None => return Err(self.syntax_at(open, "unterminated string")),
                Some(b'"') => {
                    let s = self
                        .text
                        .get(start..self.pos)
                        .ok_or_else(|| self.syntax("invalid string"))?;
                    self.pos += 1;
                    return Ok(Cow::Borrowed(s));
                }
                Some(b'\\') => break,
                Some(0x00..=0x1f) => {
                    return Err(self.syntax("control character in string (must be escaped)"))
                }
                Some(_) => self.pos += 1,
            }
        }
        let mut out = String::from(
            self.text
                .get(start..self.pos)
                .ok_or_else(|| self.syntax("invalid string"))?,
        );
        loop {
            let run = self.pos;
            while let Some(&b) = self.bytes.get(self.pos) {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(
                self.text
                    .get(run..self.pos)
                    .ok_or_else(|| self.syntax("invalid string"))?,
            );
            match self.bytes.get(self.pos) {
                None => return Err(self.syntax_at(open, "unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => {
                    let c = self.escape()?;
                    out.push(c);
                }
                Some(_) => return Err(self.syntax("control character in string (must be escaped)")),
            }
        }
    }

    /// Parses an escape sequence at `pos` (which holds `\`).
    fn escape(&mut self) -> Result<char, DecodeError> {
        let at = self.pos;
        self.pos += 1;
        let b = self
            .bytes
            .get(self.pos)
            .copied()
            .ok_or_else(|| self.syntax("unterminated string"))?;
        self.pos += 1;
        Ok(match b {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hi = self.hex4()?;
                match hi {
                    0xd800..=0xdbff => {
                        if self.bytes.get(self.pos..self.pos + 2) != Some(b"\\u") {
                            return Err(self.syntax_at(at, "unpaired surrogate in \\u escape"));
                        }
                        self.pos += 2;
                        let lo = self.hex4()?;
                        if !(0xdc00..=0xdfff).contains(&lo) {
                            return Err(self.syntax_at(at, "unpaired surrogate in \\u escape"));
                        }
                        let code = 0x1_0000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
                        char::from_u32(code)
                            .ok_or_else(|| self.syntax_at(at, "invalid \\u escape"))?
                    }
                    0xdc00..=0xdfff => {
                        return Err(self.syntax_at(at, "unpaired surrogate in \\u escape"))
                    }
                    _ => char::from_u32(hi)
                        .ok_or_else(|| self.syntax_at(at, "invalid \\u escape"))?,
                }
            }
            _ => return Err(self.syntax_at(at, "invalid escape sequence")),
        })
    }

    fn hex4(&mut self) -> Result<u32, DecodeError> {
        let mut code = 0;
        for _ in 0..4 {
            let digit = self
                .bytes
                .get(self.pos)
                .and_then(|&b| char::from(b).to_digit(16))
                .ok_or_else(|| self.syntax("invalid \\u escape: expected 4 hex digits"))?;
            code = code * 16 + digit;
            self.pos += 1;
        }
        Ok(code)
    }

    fn enter(&self, depth: usize) -> Result<usize, DecodeError> {
        let inner = depth + 1;
        if inner > MAX_DEPTH {
            Err(self.syntax(&format!("nesting deeper than {MAX_DEPTH} levels")))
        } else {
            Ok(inner)
        }
    }

    /// Reads one user value; `depth` is the number of containers around it.
    pub(crate) fn user_value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        match self.peek_byte() {
            Some(b'n') => self.literal("null").map(|()| Value::Null),
            Some(b't') => self.literal("true").map(|()| Value::Bool(true)),
            Some(b'f') => self.literal("false").map(|()| Value::Bool(false)),
            Some(b'"') => Ok(Value::String(self.string()?.into_owned())),
            Some(b'-' | b'0'..=b'9') => match self.number()? {
                Num::I(i) => Ok(Value::Int(i)),
                Num::F(f) if f.is_finite() => Ok(Value::Float(f)),
                // Integers above i64::MAX become the nearest float.
                #[allow(clippy::cast_precision_loss)]
                Num::U(u) => Ok(Value::Float(u as f64)),
                Num::F(_) => Err(DecodeError::range("number is too large for a float64")),
            },
            Some(b'[') => self.array(depth),
            Some(b'{') => self.object(depth),
            _ => Err(self.unexpected("a JSON value")),
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, DecodeError> {
        let depth = self.enter(depth)?;
        self.pos += 1;
        let mut items = Vec::new();
        if self.peek_byte() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            let i = items.len();
            items.push(self.user_value(depth).map_err(|e| e.in_index(i))?);
            match self.peek_byte() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.unexpected("`,` or `]`")),
            }
        }
    }

    /// Reads `"key":` (after whitespace).
    fn key(&mut self) -> Result<Cow<'a, str>, DecodeError> {
        if self.peek_byte() != Some(b'"') {
            return Err(self.unexpected("a string key"));
        }
        let key = self.string()?;
        self.expect_byte(b':', "`:`")?;
        Ok(key)
    }

    fn object(&mut self, depth: usize) -> Result<Value, DecodeError> {
        let open = self.pos;
        let Ok(depth) = self.enter(depth) else {
            // One level past the limit is fine for `{"$bytes": ...}`, which is
            // a leaf (MessagePack bin), not a map.
            return self.bytes_only(open);
        };
        self.pos += 1;
        let mut map = ValueMap::new();
        if self.peek_byte() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::from(map));
        }
        let mut first = true;
        loop {
            let key_at = self.pos;
            let key = self.key()?;
            if map.contains_key(key.as_ref()) {
                return Err(self.syntax_at(key_at, &format!("duplicate map key {}", quoted(&key))));
            }
            let item = self.user_value(depth).map_err(|e| e.in_key(&key))?;
            let only = first && key == BYTES_KEY;
            first = false;
            match self.peek_byte() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    if only {
                        if let Value::String(hex) = &item {
                            return hex_bytes(hex);
                        }
                    }
                    map.insert(key.into_owned(), item);
                    return Ok(Value::from(map));
                }
                _ => return Err(self.unexpected("`,` or `}`")),
            }
            map.insert(key.into_owned(), item);
        }
    }

    /// Reads `{"$bytes": "<hex>"}` at `open` where no deeper nesting is
    /// allowed.
    fn bytes_only(&mut self, open: usize) -> Result<Value, DecodeError> {
        self.pos = open + 1;
        let key = self.key();
        if matches!(key.as_deref(), Ok(BYTES_KEY)) && self.peek_byte() == Some(b'"') {
            let hex = self.string()?;
            if self.peek_byte() == Some(b'}') {
                self.pos += 1;
                return hex_bytes(&hex);
            }
        }
        self.pos = open;
        Err(self.syntax(&format!("nesting deeper than {MAX_DEPTH} levels")))
    }
}

fn hex_bytes(hex: &str) -> Result<Value, DecodeError> {
    hex::decode(hex).map(Value::Bytes).map_err(|e| {
        DecodeError::shape(format!(
            "invalid hex in {{\"$bytes\": ...}}: {e} (expected an even number of hex digits)"
        ))
    })
}

impl<'a> Source for JsonReader<'a> {
    /// `true` before the first key.
    type MapState = bool;
    /// `true` before the first element.
    type SeqState = bool;

    fn peek(&mut self) -> Result<Kind, DecodeError> {
        Ok(match self.peek_byte() {
            Some(b'n') => Kind::Null,
            Some(b't' | b'f') => Kind::Bool,
            Some(b'"') => Kind::Str,
            Some(b'[') => Kind::Array,
            Some(b'{') => Kind::Map,
            Some(b'-' | b'0'..=b'9') => {
                if self.scan_number()?.is_float {
                    Kind::Float
                } else {
                    Kind::Int
                }
            }
            _ => return Err(self.unexpected("a JSON value")),
        })
    }

    fn read_null(&mut self) -> Result<(), DecodeError> {
        self.skip_ws();
        self.literal("null")
    }

    fn read_str(&mut self) -> Result<String, DecodeError> {
        if self.peek_byte() == Some(b'"') {
            Ok(self.string()?.into_owned())
        } else {
            let found = self.peek()?;
            Err(DecodeError::shape(format!(
                "expected string, found {}",
                found.name()
            )))
        }
    }

    fn read_num(&mut self) -> Result<Num, DecodeError> {
        if let Some(b'-' | b'0'..=b'9') = self.peek_byte() {
            self.number()
        } else {
            let found = self.peek()?;
            Err(DecodeError::shape(format!(
                "expected number, found {}",
                found.name()
            )))
        }
    }

    fn begin_map(&mut self) -> Result<bool, DecodeError> {
        self.expect_byte(b'{', "`{`")?;
        Ok(true)
    }

    fn next_key(&mut self, first: &mut bool, names: &[&str]) -> Result<Option<Key>, DecodeError> {
        match self.peek_byte() {
            Some(b'}') => {
                self.pos += 1;
                return Ok(None);
            }
            Some(b',') if !*first => self.pos += 1,
            _ if *first => {}
            _ => return Err(self.unexpected("`,` or `}`")),
        }
        *first = false;
        let key = self.key()?;
        Ok(Some(match names.iter().position(|n| *n == key) {
            Some(i) => Key::Known(i),
            None => Key::Unknown(key.into_owned()),
        }))
    }

    fn begin_seq(&mut self) -> Result<bool, DecodeError> {
        self.expect_byte(b'[', "`[`")?;
        Ok(true)
    }

    fn next_element(&mut self, first: &mut bool) -> Result<bool, DecodeError> {
        match self.peek_byte() {
            Some(b']') => {
                self.pos += 1;
                Ok(false)
            }
            Some(b',') if !*first => {
                self.pos += 1;
                *first = false;
                Ok(true)
            }
            _ if *first => {
                *first = false;
                Ok(true)
            }
            _ => Err(self.unexpected("`,` or `]`")),
        }
    }

    fn seq_size_hint(&self, _: &bool) -> usize {
        0
    }

    fn read_value(&mut self) -> Result<Value, DecodeError> {
        self.user_value(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{encode_value, DecodeErrorKind};

    fn json(v: &Value) -> String {
        match value_to_json(v) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        }
    }

    fn parse(text: &str) -> Value {
        match value_from_json(text) {
            Ok(v) => v,
            Err(e) => panic!("{e} for {text:?}"),
        }
    }

    #[track_caller]
    fn fails(text: &str, kind: DecodeErrorKind, path: &str, message: &str) {
        match value_from_json(text) {
            Ok(v) => panic!("accepted {text:?} as {v:?}"),
            Err(e) => assert_eq!(
                (e.kind(), e.path(), e.message()),
                (kind, path, message),
                "{text:?}"
            ),
        }
    }

    fn obj<const N: usize>(pairs: [(&str, Value); N]) -> Value {
        Value::Map(Box::new(
            pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        ))
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
        assert_eq!(json(&Value::Float(1e300)), "1e300");
        assert_eq!(json(&Value::Float(-2.5e-10)), "-2.5e-10");
        assert_eq!(json(&Value::Float(5e-324)), "5e-324");
        assert_eq!(json(&Value::Float(1e16)), "1e16");
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
        assert_eq!(parse("-0"), Value::Int(0));
        assert_eq!(parse("-9223372036854775808"), Value::Int(i64::MIN));
        assert_eq!(parse("9223372036854775807"), Value::Int(i64::MAX));
        assert_eq!(
            parse("9223372036854775808"),
            Value::Float(9_223_372_036_854_775_808.0)
        );
        assert_eq!(
            parse("-9223372036854775809"),
            Value::Float(-9_223_372_036_854_775_808.0)
        );
        assert_eq!(parse("100000000000000000000000"), Value::Float(1e23));
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
            "number is too large for a float64",
        );
        fails(
            "[-1e400]",
            DecodeErrorKind::Range,
            "$[0]",
            "number is too large for a float64",
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
        use DecodeErrorKind::Malformed;
        fails(
            "",
            Malformed,
            "$",
            "unexpected end of input, expected a JSON value (line 1, column 1)",
        );
        fails(
            "   ",
            Malformed,
            "$",
            "unexpected end of input, expected a JSON value (line 1, column 4)",
        );
        fails(
            "[1,\n  x]",
            Malformed,
            "$[1]",
            "expected a JSON value, found `x` (line 2, column 3)",
        );
        fails(
            "[1,]",
            Malformed,
            "$[1]",
            "expected a JSON value, found `]` (line 1, column 4)",
        );
        fails(
            "[1 2]",
            Malformed,
            "$",
            "expected `,` or `]`, found `2` (line 1, column 4)",
        );
        fails(
            "{\"a\":1,}",
            Malformed,
            "$",
            "expected a string key, found `}` (line 1, column 8)",
        );
        fails(
            "{\"a\" 1}",
            Malformed,
            "$",
            "expected `:`, found `1` (line 1, column 6)",
        );
        fails(
            "{\"a\":1 \"b\":2}",
            Malformed,
            "$",
            "expected `,` or `}`, found `\"` (line 1, column 8)",
        );
        fails(
            "{1:2}",
            Malformed,
            "$",
            "expected a string key, found `1` (line 1, column 2)",
        );
        fails(
            "{\"a\":1,\"a\":2}",
            Malformed,
            "$",
            "duplicate map key \"a\" (line 1, column 8)",
        );
        fails(
            "1 2",
            Malformed,
            "$",
            "trailing characters after the value (line 1, column 3)",
        );
        fails(
            "nul",
            Malformed,
            "$",
            "invalid literal, expected `null` (line 1, column 1)",
        );
        fails(
            "True",
            Malformed,
            "$",
            "expected a JSON value, found `T` (line 1, column 1)",
        );
        fails(
            "NaN",
            Malformed,
            "$",
            "expected a JSON value, found `N` (line 1, column 1)",
        );
        fails(
            "01",
            Malformed,
            "$",
            "trailing characters after the value (line 1, column 2)",
        );
        fails(
            "+1",
            Malformed,
            "$",
            "expected a JSON value, found `+` (line 1, column 1)",
        );
        fails(
            ".5",
            Malformed,
            "$",
            "expected a JSON value, found `.` (line 1, column 1)",
        );
        fails("-", Malformed, "$", "invalid number (line 1, column 1)");
        fails(
            "1.",
            Malformed,
            "$",
            "invalid number: expected digits after `.` (line 1, column 1)",
        );
        fails(
            "1e",
            Malformed,
            "$",
            "invalid number: expected digits in exponent (line 1, column 1)",
        );
        fails(
            "\"abc",
            Malformed,
            "$",
            "unterminated string (line 1, column 1)",
        );
        fails(
            "\"a\\qb\"",
            Malformed,
            "$",
            "invalid escape sequence (line 1, column 3)",
        );
        fails(
            "\"a\\u12g4\"",
            Malformed,
            "$",
            "invalid \\u escape: expected 4 hex digits (line 1, column 7)",
        );
        fails(
            "\"\\ud800\"",
            Malformed,
            "$",
            "unpaired surrogate in \\u escape (line 1, column 2)",
        );
        fails(
            "\"\\ud800\\u0041\"",
            Malformed,
            "$",
            "unpaired surrogate in \\u escape (line 1, column 2)",
        );
        fails(
            "\"\\udc00\"",
            Malformed,
            "$",
            "unpaired surrogate in \\u escape (line 1, column 2)",
        );
        fails(
            "\"a\tb\"",
            Malformed,
            "$",
            "control character in string (must be escaped) (line 1, column 3)",
        );
        fails(
            "\"a\\n\nb\"",
            Malformed,
            "$",
            "control character in string (must be escaped) (line 1, column 5)",
        );
        fails(
            "[\"é\", ü]",
            Malformed,
            "$[1]",
            "expected a JSON value, found `ü` (line 1, column 7)",
        );
        fails(
            "{\"k\":[tru]}",
            Malformed,
            "$.k[0]",
            "invalid literal, expected `true` (line 1, column 7)",
        );
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
            Some("nesting deeper than 256 levels (line 1, column 257)")
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
                    timestamp: Timestamp::new(u64::MAX, u32::MAX, ""),
                    ttl_ms: Some(u64::MAX),
                },
                r#"{"value":null,"timestamp":{"millis":18446744073709551615,"counter":4294967295,"nodeId":""},"ttlMs":18446744073709551615}"#,
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
                "1.8446744073709552e19 is out of range for u64"
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
                "trailing characters after the value (line 1, column 63)"
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
                "expected a string key, found `}` (line 1, column 62)"
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
                "$.tags",
                "expected `,` or `]`, found `\"` (line 1, column 37)"
            ))
        );
        let e = record_value_from_json(r#"{"type":"OR","records":[{"value":1,"timestamp":{"millis":1,"counter":0,"nodeId":"n"},"tag":"t"}"#).err();
        assert_eq!(
            e.as_ref().map(|e| (e.kind(), e.message())),
            Some((
                DecodeErrorKind::Malformed,
                "unexpected end of input, expected `,` or `]` (line 1, column 96)"
            ))
        );
    }
}
