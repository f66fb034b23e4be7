//! Property tests of the codecs: round trips, exact lengths, slice encoding,
//! and robustness against arbitrary and corrupted input.

use proptest::prelude::*;
use topgun_storage_core::codec::{
    decode_record_value, decode_value, encode_record_value, encode_record_value_into,
    encode_record_value_to_slice, encode_value, encoded_len, record_value_from_json,
    record_value_from_value, record_value_to_json, record_value_to_value, value_encoded_len,
    value_from_json, value_to_json, BufferTooSmall, DecodeErrorKind, EncodeErrorKind, MAX_DEPTH,
};
use topgun_storage_core::{OrMapEntry, RecordValue, Timestamp, Value, ValueMap, MAX_MILLIS};

// ---------------------------------------------------------------------------
// Strategies

fn arb_int() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        -300i64..300,
        prop::sample::select(vec![
            i64::MIN,
            i64::MAX,
            -(1 << 31),
            (1 << 31) - 1,
            1 << 32,
            -32_769,
            65_536,
            1 << 53,
        ]),
    ]
}

fn arb_float() -> impl Strategy<Value = f64> {
    prop_oneof![
        prop::num::f64::ANY,
        prop::sample::select(vec![0.0, -0.0, 1.0, 0.1, 1e300, f64::MIN_POSITIVE, 5e-324]),
    ]
}

fn arb_string() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z]{0,6}", "\\PC{0,12}", any::<String>(), "[a-z]{30,34}",]
}

fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z]{0,3}", "\\PC{0,6}", Just("$bytes".to_owned())]
}

fn arb_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        arb_int().prop_map(Value::Int),
        arb_float().prop_map(Value::Float),
        arb_string().prop_map(Value::String),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(Value::Bytes),
    ]
}

/// Values nested at most 4 containers deep; map keys in random order.
fn arb_value() -> impl Strategy<Value = Value> {
    arb_leaf().prop_recursive(4, 64, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((arb_key(), inner), 0..6)
                .prop_map(|pairs| Value::from(pairs.into_iter().collect::<ValueMap>())),
        ]
    })
}

fn arb_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        0u64..300,
        1_600_000_000_000u64..1_900_000_000_000,
    ]
}

fn arb_timestamp(max: u64) -> impl Strategy<Value = Timestamp> {
    (
        arb_u64().prop_map(move |m| m.min(max)),
        any::<u32>(),
        arb_string(),
    )
        .prop_map(|(millis, counter, node_id)| Timestamp {
            millis,
            counter,
            node_id,
        })
}

/// Records whose `millis` / `ttlMs` never exceed `max`.
fn arb_record_upto(max: u64) -> impl Strategy<Value = RecordValue> {
    let ttl = move || prop::option::of(arb_u64().prop_map(move |t| t.min(max)));
    let entry = (arb_value(), arb_timestamp(max), arb_string(), ttl()).prop_map(
        |(value, timestamp, tag, ttl_ms)| OrMapEntry {
            value,
            timestamp,
            tag,
            ttl_ms,
        },
    );
    prop_oneof![
        (arb_value(), arb_timestamp(max), ttl()).prop_map(|(value, timestamp, ttl_ms)| {
            RecordValue::Lww {
                value,
                timestamp,
                ttl_ms,
            }
        }),
        prop::collection::vec(entry, 0..4).prop_map(|records| RecordValue::OrMap { records }),
        prop::collection::vec(arb_string(), 0..5)
            .prop_map(|tags| RecordValue::OrTombstones { tags }),
    ]
}

/// Records with `millis` and `ttlMs` anywhere in the range every form holds
/// ([`MAX_MILLIS`]).
fn arb_record() -> impl Strategy<Value = RecordValue> {
    arb_record_upto(MAX_MILLIS)
}

// ---------------------------------------------------------------------------
// Helpers

/// `Ok` iff JSON can hold the value: no NaN / infinity, no map that is
/// exactly `{"$bytes": <string>}`.
fn json_problem(v: &Value) -> Option<EncodeErrorKind> {
    match v {
        Value::Float(f) if !f.is_finite() => Some(EncodeErrorKind::NonFiniteFloat),
        Value::Array(items) => items.iter().find_map(json_problem),
        Value::Map(m) => {
            if m.len() == 1 && matches!(m.get("$bytes"), Some(Value::String(_))) {
                return Some(EncodeErrorKind::ReservedBytesKey);
            }
            m.values().find_map(json_problem)
        }
        _ => None,
    }
}

fn record_json_problem(r: &RecordValue) -> Option<EncodeErrorKind> {
    match r {
        RecordValue::Lww { value, .. } => json_problem(value),
        RecordValue::OrMap { records } => records.iter().find_map(|e| json_problem(&e.value)),
        RecordValue::OrTombstones { .. } => None,
    }
}

/// Decoding must not panic; whatever it accepts must re-encode canonically
/// (decode -> encode -> decode -> encode is stable).
fn check_decoders_on(bytes: &[u8]) {
    if let Ok(r) = decode_record_value(bytes) {
        let once = encode_record_value(&r);
        let again = decode_record_value(&once).map(|r| encode_record_value(&r));
        assert_eq!(again.as_ref(), Ok(&once));
    }
    if let Ok(v) = decode_value(bytes) {
        let once = encode_value(&v);
        let again = decode_value(&once).map(|v| encode_value(&v));
        assert_eq!(again.as_ref(), Ok(&once));
    }
}

fn check_json_decoders_on(text: &str) {
    if let Ok(r) = record_value_from_json(text) {
        let once = encode_record_value(&r);
        if let Ok(t) = record_value_to_json(&r) {
            let again = record_value_from_json(&t).map(|r| encode_record_value(&r));
            assert_eq!(again.as_ref(), Ok(&once));
        }
    }
    if let Ok(v) = value_from_json(text) {
        let once = encode_value(&v);
        let t = value_to_json(&v);
        // Anything read from JSON can be written back (floats are finite).
        prop_assert_ok(&t);
        if let Ok(t) = t {
            let again = value_from_json(&t).map(|v| encode_value(&v));
            assert_eq!(again.as_ref(), Ok(&once));
        }
    }
}

fn prop_assert_ok<T, E: std::fmt::Display>(r: &Result<T, E>) {
    if let Err(e) = r {
        panic!("unexpected error: {e}");
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    Truncate(usize),
}

fn arb_mutations() -> impl Strategy<Value = Vec<Mutation>> {
    prop::collection::vec(
        prop_oneof![
            (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
            (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
            any::<usize>().prop_map(Mutation::Remove),
            any::<usize>().prop_map(Mutation::Truncate),
        ],
        1..4,
    )
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = bytes.len();
        match *m {
            Mutation::Set(i, b) if len > 0 => bytes[i % len] = b,
            Mutation::Insert(i, b) => bytes.insert(i % (len + 1), b),
            Mutation::Remove(i) if len > 0 => {
                bytes.remove(i % len);
            }
            Mutation::Truncate(i) => bytes.truncate(i % (len + 1)),
            _ => {}
        }
    }
    bytes
}

// ---------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn record_msgpack_round_trip(r in arb_record()) {
        let bytes = encode_record_value(&r);
        prop_assert_eq!(bytes.len(), encoded_len(&r));
        let decoded = decode_record_value(&bytes);
        prop_assert!(decoded.is_ok(), "{:?}", decoded);
        if let Ok(decoded) = decoded {
            prop_assert_eq!(encode_record_value(&decoded), bytes.clone());
        }
        let mut appended = vec![1, 2, 3];
        encode_record_value_into(&r, &mut appended);
        prop_assert_eq!(&appended[..3], &[1, 2, 3]);
        prop_assert_eq!(&appended[3..], bytes.as_slice());
    }

    #[test]
    fn record_slice_encoding(r in arb_record()) {
        let bytes = encode_record_value(&r);
        let mut exact = vec![0u8; bytes.len()];
        prop_assert_eq!(encode_record_value_to_slice(&r, &mut exact), Ok(bytes.len()));
        prop_assert_eq!(&exact, &bytes);
        let mut short = vec![0u8; bytes.len() - 1];
        prop_assert_eq!(
            encode_record_value_to_slice(&r, &mut short),
            Err(BufferTooSmall { needed: bytes.len() })
        );
        let mut roomy = vec![0xeeu8; bytes.len() + 7];
        prop_assert_eq!(encode_record_value_to_slice(&r, &mut roomy), Ok(bytes.len()));
        prop_assert_eq!(&roomy[..bytes.len()], bytes.as_slice());
        prop_assert!(roomy[bytes.len()..].iter().all(|&b| b == 0xee));
    }

    #[test]
    fn value_msgpack_round_trip(v in arb_value()) {
        let bytes = encode_value(&v);
        prop_assert_eq!(bytes.len(), value_encoded_len(&v));
        let decoded = decode_value(&bytes);
        prop_assert!(decoded.is_ok(), "{:?}", decoded);
        if let Ok(decoded) = decoded {
            prop_assert_eq!(encode_value(&decoded), bytes);
        }
    }

    #[test]
    fn value_json_round_trip(v in arb_value()) {
        match (value_to_json(&v), json_problem(&v)) {
            (Ok(text), None) => {
                let back = value_from_json(&text);
                prop_assert!(back.is_ok(), "{:?} from {}", back, text);
                if let Ok(back) = back {
                    prop_assert_eq!(encode_value(&back), encode_value(&v));
                }
            }
            (Err(e), Some(kind)) => prop_assert_eq!(e.kind(), kind),
            (result, problem) => prop_assert!(false, "{:?} vs {:?}", result, problem),
        }
    }

    /// Beyond [`MAX_MILLIS`] no decoder reads a record back as another
    /// number: MessagePack and JSON both refuse it (a range error).
    #[test]
    fn envelope_times_beyond_2_pow_63_are_refused_never_changed(
        millis in (MAX_MILLIS + 1)..=u64::MAX,
        in_ttl in any::<bool>(),
    ) {
        let (ts, ttl) = if in_ttl { (1, Some(millis)) } else { (millis, None) };
        let r = RecordValue::Lww {
            value: Value::Null,
            timestamp: Timestamp::new(ts, 0, "n"),
            ttl_ms: ttl,
        };
        let from_msgpack = decode_record_value(&encode_record_value(&r));
        prop_assert_eq!(from_msgpack.map_err(|e| e.kind()).err(), Some(DecodeErrorKind::Range));
        let text = record_value_to_json(&r).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let from_json = record_value_from_json(&text);
        prop_assert_eq!(from_json.map_err(|e| e.kind()).err(), Some(DecodeErrorKind::Range));
    }

    /// A JSON integer literal in a user value is an exact `i64` or a range
    /// error, never the nearest float.
    #[test]
    fn json_integer_literals_are_exact_or_refused(n in any::<i128>(), wide in any::<bool>()) {
        // (`0` followed by zeros would not be JSON.)
        let literal = match (wide, n) {
            (true, 0) => "1000000000000000000000".to_owned(),
            (true, n) => format!("{n}000000000000000000000"),
            (false, n) => n.to_string(),
        };
        let parsed = value_from_json(&format!("[{literal}]"));
        match literal.parse::<i64>() {
            Ok(i) => prop_assert_eq!(parsed, Ok(Value::Array(vec![Value::Int(i)]))),
            Err(_) => {
                let e = parsed.err();
                prop_assert_eq!(
                    e.as_ref().map(|e| (e.kind(), e.path(), e.message().to_owned())),
                    Some((DecodeErrorKind::Range, "$[0]", format!("integer {literal} is out of range for i64")))
                );
            }
        }
    }

    #[test]
    fn record_json_round_trip(r in arb_record()) {
        match (record_value_to_json(&r), record_json_problem(&r)) {
            (Ok(text), None) => {
                let back = record_value_from_json(&text);
                prop_assert!(back.is_ok(), "{:?} from {}", back, text);
                if let Ok(back) = back {
                    prop_assert_eq!(encode_record_value(&back), encode_record_value(&r));
                }
            }
            (Err(e), Some(kind)) => prop_assert_eq!(e.kind(), kind),
            (result, problem) => prop_assert!(false, "{:?} vs {:?}", result, problem),
        }
    }

    #[test]
    fn record_value_tree_round_trip(r in arb_record()) {
        let tree = record_value_to_value(&r);
        // The tree has the wire shape: it encodes to the same bytes.
        prop_assert_eq!(encode_value(&tree), encode_record_value(&r));
        let back = record_value_from_value(tree);
        prop_assert!(back.is_ok(), "{:?}", back);
        if let Ok(back) = back {
            prop_assert_eq!(encode_record_value(&back), encode_record_value(&r));
            if record_json_problem(&r).is_none() {
                // No NaN inside (the generator's other floats compare fine).
                prop_assert_eq!(back, r);
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        check_decoders_on(&bytes);
    }

    #[test]
    fn corrupted_record_encodings_never_panic(r in arb_record(), mutations in arb_mutations()) {
        let bytes = mutate(encode_record_value(&r), &mutations);
        check_decoders_on(&bytes);
    }

    #[test]
    fn corrupted_value_encodings_never_panic(v in arb_value(), mutations in arb_mutations()) {
        let bytes = mutate(encode_value(&v), &mutations);
        check_decoders_on(&bytes);
    }

    #[test]
    fn every_truncation_is_malformed(r in arb_record()) {
        let bytes = encode_record_value(&r);
        for cut in 0..bytes.len() {
            let e = decode_record_value(&bytes[..cut]);
            prop_assert_eq!(e.map_err(|e| e.kind()).err(), Some(DecodeErrorKind::Malformed));
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        check_json_decoders_on(&text);
    }

    #[test]
    fn corrupted_json_never_panics_and_agrees_with_serde_json(
        r in arb_record(),
        edits in prop::collection::vec(
            (any::<usize>(), prop::sample::select(
                vec!["", "{", "}", "[", "]", ",", ":", "\"", "\\", "0", "-", ".", "e", "1", " ", "n", "\\u", "é"]
            )),
            1..4,
        ),
    ) {
        let Ok(text) = record_value_to_json(&r) else { return Ok(()) };
        let mut chars: Vec<char> = text.chars().collect();
        for (at, insert) in edits {
            let at = at % (chars.len() + 1);
            if insert.is_empty() {
                if at < chars.len() {
                    chars.remove(at);
                }
            } else {
                for (k, c) in insert.chars().enumerate() {
                    chars.insert(at + k, c);
                }
            }
        }
        let text: String = chars.into_iter().collect();
        check_json_decoders_on(&text);
        // Differential check of the JSON syntax against serde_json: whatever we
        // accept as a value, serde_json accepts; whatever serde_json accepts,
        // we accept unless it has a duplicate key, bad `$bytes` hex or an
        // integer outside i64 (which serde_json reads as a u64 or a float).
        let ours = value_from_json(&text);
        let theirs = serde_json::from_str::<serde_json::Value>(&text);
        match (&ours, &theirs) {
            (Ok(_), Err(e)) => prop_assert!(false, "we accept, serde_json rejects ({}): {}", e, text),
            (Err(e), Ok(_)) => prop_assert!(
                e.message().starts_with("duplicate map key")
                    || e.message().starts_with("invalid hex")
                    || (e.message().starts_with("integer ") && e.message().ends_with(" is out of range for i64")),
                "we reject ({}), serde_json accepts: {}", e, text
            ),
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------
// Deep nesting

#[test]
fn deeply_nested_msgpack_is_malformed_not_a_stack_overflow() {
    let mut bytes = vec![0x91u8; 100_000];
    bytes.push(0xc0);
    let e = decode_value(&bytes).expect_err("too deep");
    assert_eq!(e.kind(), DecodeErrorKind::Malformed);
    assert!(
        e.message().starts_with("nesting deeper than 256 levels"),
        "{e}"
    );

    // Nested maps {"a": {"a": ...}}.
    let mut maps = Vec::new();
    for _ in 0..100_000 {
        maps.extend_from_slice(&[0x81, 0xa1, b'a']);
    }
    maps.push(0xc0);
    assert_eq!(
        decode_value(&maps).map_err(|e| e.kind()).err(),
        Some(DecodeErrorKind::Malformed)
    );

    // Inside a record: {"type": "OR", "records": [{"value": [[[[...]]]]...
    let mut rec = b"\x82\xa4type\xa2OR\xa7records\x91\x83\xa5value".to_vec();
    rec.extend(std::iter::repeat_n(0x91u8, 100_000));
    let e = decode_record_value(&rec).expect_err("too deep");
    assert_eq!(e.kind(), DecodeErrorKind::Malformed);
    assert!(
        e.path().starts_with("$.records[0].value[0][0]"),
        "{}",
        &e.path()[..40]
    );

    // Exactly MAX_DEPTH levels are fine.
    let mut ok = vec![0x91u8; MAX_DEPTH];
    ok.push(0xc0);
    assert!(decode_value(&ok).is_ok());
}

#[test]
fn deeply_nested_json_is_malformed_not_a_stack_overflow() {
    for text in [
        "[".repeat(100_000),
        format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)),
        "{\"a\":".repeat(100_000),
    ] {
        let e = value_from_json(&text).expect_err("too deep");
        assert_eq!(e.kind(), DecodeErrorKind::Malformed);
        let e = record_value_from_json(&format!("{{\"value\":{text}")).expect_err("too deep");
        assert_eq!(e.kind(), DecodeErrorKind::Malformed);
    }
}

#[test]
fn deep_values_built_in_memory_still_encode() {
    // Encoding recurses, but MAX_DEPTH levels are far from the stack limit.
    let mut v = Value::Null;
    for _ in 0..MAX_DEPTH {
        v = Value::Array(vec![v]);
    }
    let bytes = encode_value(&v);
    assert_eq!(bytes.len(), MAX_DEPTH + 1);
    assert_eq!(decode_value(&bytes).map(|d| encode_value(&d)), Ok(bytes));
    let text = value_to_json(&v).expect("finite");
    assert!(value_from_json(&text).is_ok());
}
