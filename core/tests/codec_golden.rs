//! Golden vectors: `tests/data/golden_vectors.json` holds MessagePack produced
//! by an independent encoder (Python's `msgpack.packb(obj, use_bin_type=True)`)
//! next to the JSON form of the same data. For every vector the codec must
//! decode both to the same thing, re-encode the MessagePack byte for byte, and
//! round-trip through JSON.
//!
//! Each vector is `{"name", "kind": "value" | "record", "msgpack": "<hex>",
//! "json": <JSON form>}`; `"json": null` on any vector but the one named
//! `"null"` means JSON cannot hold the data (NaN, infinities).

use topgun_storage_core::codec::{
    decode_record_value, decode_value, encode_record_value, encode_record_value_to_slice,
    encode_value, encoded_len, record_value_from_json, record_value_from_value,
    record_value_to_json, record_value_to_value, value_encoded_len, value_from_json, value_to_json,
    EncodeErrorKind,
};
use topgun_storage_core::{RecordValue, Value};

const VECTORS: &str = include_str!("data/golden_vectors.json");

struct Vector {
    name: String,
    kind: String,
    msgpack: Vec<u8>,
    /// `None` when JSON cannot hold the data (NaN, infinities).
    json: Option<Value>,
}

fn field<'a>(v: &'a Value, key: &str) -> &'a Value {
    match v {
        Value::Map(m) => m
            .get(key)
            .unwrap_or_else(|| panic!("vector without `{key}`: {v:?}")),
        other => panic!("vector is not a map: {other:?}"),
    }
}

fn string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => panic!("not a string: {other:?}"),
    }
}

fn vectors() -> Vec<Vector> {
    let all = match value_from_json(VECTORS) {
        Ok(Value::Array(items)) => items,
        other => panic!("golden_vectors.json: {other:?}"),
    };
    all.iter()
        .map(|v| Vector {
            name: string(field(v, "name")),
            kind: string(field(v, "kind")),
            msgpack: hex::decode(string(field(v, "msgpack"))).expect("hex"),
            json: match field(v, "json") {
                Value::Null if string(field(v, "name")) != "null" => None,
                other => Some(other.clone()),
            },
        })
        .collect()
}

/// Compares through the encoding, which also checks key order and float bits
/// (and works for NaN, which `==` does not).
fn same_value(a: &Value, b: &Value) -> bool {
    encode_value(a) == encode_value(b)
}

#[test]
fn file_is_valid_json_with_the_expected_vectors() {
    let parsed: serde_json::Value = serde_json::from_str(VECTORS).expect("valid JSON");
    let list = parsed.as_array().expect("a list");
    let ours = vectors();
    assert_eq!(list.len(), ours.len());
    assert!(ours.len() >= 80, "only {} vectors", ours.len());
    for (theirs, ours) in list.iter().zip(&ours) {
        assert_eq!(theirs["name"].as_str(), Some(ours.name.as_str()));
    }
    let names: Vec<&str> = ours.iter().map(|v| v.name.as_str()).collect();
    for required in [
        "null",
        "int -9223372036854775808",
        "int 9223372036854775807",
        "float NaN",
        "float -0.0",
        "string of 65536 bytes",
        "bytes 256",
        "map with unsorted keys",
        "OR with 3 records and ttlMs",
        "OR_TOMBSTONES with 2 tags",
    ] {
        assert!(names.contains(&required), "missing vector {required}");
    }
}

#[test]
fn value_vectors() {
    let mut checked = 0;
    for v in vectors().into_iter().filter(|v| v.kind == "value") {
        let name = &v.name;
        let decoded = decode_value(&v.msgpack).unwrap_or_else(|e| panic!("{name}: {e}"));
        // Re-encoding gives the same bytes.
        assert_eq!(
            hex::encode(encode_value(&decoded)),
            hex::encode(&v.msgpack),
            "{name}"
        );
        assert_eq!(value_encoded_len(&decoded), v.msgpack.len(), "{name}");
        match &v.json {
            Some(from_json) => {
                // MessagePack and JSON decode to the same value.
                assert!(
                    same_value(&decoded, from_json),
                    "{name}: {decoded:?} vs {from_json:?}"
                );
                // JSON round trip.
                let text = value_to_json(&decoded).unwrap_or_else(|e| panic!("{name}: {e}"));
                let back = value_from_json(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(
                    hex::encode(encode_value(&back)),
                    hex::encode(&v.msgpack),
                    "{name}"
                );
                // The text is valid JSON to an independent parser.
                serde_json::from_str::<serde_json::Value>(&text)
                    .unwrap_or_else(|e| panic!("{name}: {e}: {text}"));
            }
            None => {
                let e = value_to_json(&decoded).expect_err(name);
                assert_eq!(e.kind(), EncodeErrorKind::NonFiniteFloat, "{name}");
            }
        }
        checked += 1;
    }
    assert!(checked >= 60, "{checked}");
}

#[test]
fn record_vectors() {
    let mut checked = 0;
    for v in vectors().into_iter().filter(|v| v.kind == "record") {
        let name = &v.name;
        let decoded: RecordValue =
            decode_record_value(&v.msgpack).unwrap_or_else(|e| panic!("{name}: {e}"));
        // Re-encoding gives the same bytes, through every encoder.
        assert_eq!(
            hex::encode(encode_record_value(&decoded)),
            hex::encode(&v.msgpack),
            "{name}"
        );
        assert_eq!(encoded_len(&decoded), v.msgpack.len(), "{name}");
        let mut buf = vec![0u8; v.msgpack.len()];
        assert_eq!(
            encode_record_value_to_slice(&decoded, &mut buf),
            Ok(v.msgpack.len())
        );
        assert_eq!(buf, v.msgpack, "{name}");
        // The TS-shaped tree encodes to the same bytes and reads back.
        let tree = record_value_to_value(&decoded);
        assert_eq!(
            hex::encode(encode_value(&tree)),
            hex::encode(&v.msgpack),
            "{name}"
        );
        let again = record_value_from_value(tree).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(encode_record_value(&again), v.msgpack, "{name}");
        match &v.json {
            Some(json_tree) => {
                // MessagePack and JSON decode to the same record, both from
                // the JSON tree and from its text.
                let from_tree = record_value_from_value(json_tree.clone())
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(encode_record_value(&from_tree), v.msgpack, "{name}");
                let text = value_to_json(json_tree).unwrap_or_else(|e| panic!("{name}: {e}"));
                let from_text =
                    record_value_from_json(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(encode_record_value(&from_text), v.msgpack, "{name}");
                // JSON round trip; the canonical JSON of the record is the
                // canonical JSON of its tree.
                let ours = record_value_to_json(&decoded).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(ours, text, "{name}");
                let back = record_value_from_json(&ours).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(encode_record_value(&back), v.msgpack, "{name}");
                serde_json::from_str::<serde_json::Value>(&ours)
                    .unwrap_or_else(|e| panic!("{name}: {e}: {ours}"));
            }
            None => {
                let e = record_value_to_json(&decoded).expect_err(name);
                assert_eq!(e.kind(), EncodeErrorKind::NonFiniteFloat, "{name}");
                assert_eq!(e.path(), "$.value", "{name}");
            }
        }
        checked += 1;
    }
    assert!(checked >= 15, "{checked}");
}
