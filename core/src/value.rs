//! The user value `V` stored inside records.
//!
//! [`Value`] is the dynamic value TopGun's clients store: the JSON data model
//! plus integers kept apart from floats and raw bytes. Map keys are strings and
//! keep their insertion order, because the TypeScript server's objects do and
//! because MessagePack encodes them in that order.

use indexmap::IndexMap;

/// An ordered map of string keys to values; iteration yields insertion order.
pub type ValueMap = IndexMap<String, Value>;

/// A dynamically typed user value.
///
/// Equality is structural: floats compare with IEEE `==` (so `NaN != NaN` and
/// `-0.0 == 0.0`) and maps compare as maps (key order does not affect `==`).
/// Use the encoded bytes ([`crate::codec::encode_value`]) when the exact form
/// matters, for example to check that key order survived a round trip.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// The absent value (`null` in JS, `None` in Python, `nil` in MessagePack).
    #[default]
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed 64-bit integer. Integers outside the i64 range are rejected by
    /// the decoders rather than rounded.
    Int(i64),
    /// An IEEE-754 double, including `-0.0`, infinities and NaN.
    Float(f64),
    /// A UTF-8 string.
    String(String),
    /// Raw bytes (MessagePack `bin`, a `Uint8Array` in JS, `bytes` in Python).
    Bytes(Vec<u8>),
    /// An ordered list of values.
    Array(Vec<Value>),
    /// A map with string keys, in insertion order. Boxed so that every
    /// `Value` stays 32 bytes: records hold values inline.
    Map(Box<ValueMap>),
}

impl Value {
    /// A short name of the value's kind, used in error messages
    /// (`"null"`, `"bool"`, `"integer"`, `"float"`, `"string"`, `"bytes"`,
    /// `"array"`, `"map"`).
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::String(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::Array(_) => "array",
            Value::Map(_) => "map",
        }
    }

    /// Returns `true` for [`Value::Null`].
    #[must_use]
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Int(i64::from(v))
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::String(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::String(v)
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Bytes(v)
    }
}

impl From<Vec<Value>> for Value {
    fn from(v: Vec<Value>) -> Self {
        Value::Array(v)
    }
}

impl From<ValueMap> for Value {
    fn from(v: ValueMap) -> Self {
        Value::Map(Box::new(v))
    }
}

impl<K: Into<String>, V: Into<Value>> FromIterator<(K, V)> for Value {
    /// Builds a [`Value::Map`] from key/value pairs, keeping their order; a
    /// repeated key keeps its first position and takes the last value.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Value::Map(Box::new(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_keeps_insertion_order() {
        let v: Value = [("z", 1), ("a", 2), ("m", 3)].into_iter().collect();
        let Value::Map(m) = v else {
            panic!("not a map")
        };
        let keys: Vec<&str> = m.keys().map(String::as_str).collect();
        assert_eq!(keys, ["z", "a", "m"]);
    }

    #[test]
    fn value_is_small_enough_to_store_inline() {
        assert!(std::mem::size_of::<Value>() <= 32);
    }

    #[test]
    fn kind_names() {
        assert_eq!(Value::Null.kind(), "null");
        assert_eq!(Value::Int(1).kind(), "integer");
        assert_eq!(Value::Float(1.0).kind(), "float");
        assert_eq!(Value::Bytes(vec![]).kind(), "bytes");
        assert!(Value::default().is_null());
    }
}
