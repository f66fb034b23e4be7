//! Property tests of the on-disk format (`datastores::format`): record and
//! key round trips, order preservation, prefix-freeness, scan ranges against
//! a plain filter, and damaged bytes (every truncation, every bit flip,
//! arbitrary bytes) giving `Corrupt` errors, never a panic or another record.

use proptest::prelude::*;
use std::ops::Bound;
use topgun_storage_core::datastores::format::{
    check_marker, decode_key, decode_record, encode_key, encode_record, key_after_prefix,
    map_prefix, marker_value, namespace_range, prefix_successor, scan_range, MARKER_KEY,
    RECORD_OVERHEAD,
};
use topgun_storage_core::{
    DataStoreErrorKind, Namespace, OrMapEntry, RecordValue, StoredRecord, Timestamp, Value,
    MAX_MILLIS,
};

// ---------------------------------------------------------------------------
// Strategies

/// Strings built from the characters that matter to the key encoding: NUL,
/// 0x01, 0x02, ASCII, U+00FF (whose UTF-8 holds 0xFF-adjacent bytes) and
/// characters of every UTF-8 length.
fn arb_name() -> impl Strategy<Value = String> {
    let ch = prop::sample::select(vec![
        '\0',
        '\u{1}',
        '\u{2}',
        'a',
        'b',
        'z',
        '\u{7f}',
        '\u{ff}',
        'é',
        '\u{7ff}',
        '\u{800}',
        '中',
        '\u{ffff}',
        '\u{10000}',
        '😀',
        '\u{10ffff}',
    ]);
    prop_oneof![
        prop::collection::vec(ch, 0..6).prop_map(|cs| cs.into_iter().collect()),
        any::<String>(),
    ]
}

fn arb_namespace() -> impl Strategy<Value = Namespace> {
    prop::sample::select(Namespace::ALL.to_vec())
}

fn arb_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(Value::Int),
        any::<String>().prop_map(Value::String),
        prop::collection::vec(any::<u8>(), 0..300).prop_map(Value::Bytes),
        prop::collection::vec(any::<i64>().prop_map(Value::Int), 0..5).prop_map(Value::Array),
    ]
}

/// `millis` and `ttlMs` anywhere in the range records hold ([`MAX_MILLIS`]).
fn arb_millis() -> impl Strategy<Value = u64> {
    prop_oneof![0..=MAX_MILLIS, Just(MAX_MILLIS)]
}

fn arb_timestamp() -> impl Strategy<Value = Timestamp> {
    (arb_millis(), any::<u32>(), arb_name()).prop_map(|(m, c, n)| Timestamp::new(m, c, n))
}

fn arb_record() -> impl Strategy<Value = StoredRecord> {
    let value = prop_oneof![
        (arb_value(), arb_timestamp(), prop::option::of(arb_millis())).prop_map(
            |(value, timestamp, ttl_ms)| RecordValue::Lww {
                value,
                timestamp,
                ttl_ms
            }
        ),
        prop::collection::vec(
            (arb_value(), arb_timestamp(), arb_name()).prop_map(|(value, timestamp, tag)| {
                OrMapEntry {
                    value,
                    timestamp,
                    tag,
                    ttl_ms: None,
                }
            }),
            0..3
        )
        .prop_map(|records| RecordValue::OrMap { records }),
        prop::collection::vec(arb_name(), 0..4).prop_map(|tags| RecordValue::OrTombstones { tags }),
    ];
    (value, any::<i64>(), any::<u64>(), any::<i64>()).prop_map(
        |(value, expiration_time, max_idle_millis, write_time)| StoredRecord {
            value,
            expiration_time,
            max_idle_millis,
            write_time,
        },
    )
}

fn small_record() -> StoredRecord {
    StoredRecord {
        value: RecordValue::lww("value", Timestamp::new(1_700_000_000_000, 3, "node-1")),
        expiration_time: 1_700_000_060_000,
        max_idle_millis: 30_000,
        write_time: 1_700_000_000_000,
    }
}

#[track_caller]
fn assert_corrupt<T: std::fmt::Debug>(
    result: Result<T, topgun_storage_core::DataStoreError>,
    what: &str,
) {
    match result {
        Ok(v) => panic!("{what}: accepted as {v:?}"),
        Err(e) => assert_eq!(e.kind(), DataStoreErrorKind::Corrupt, "{what}: {e}"),
    }
}

// ---------------------------------------------------------------------------
// Records

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn records_round_trip(record in arb_record()) {
        let bytes = encode_record(&record).unwrap();
        prop_assert_eq!(bytes.len(), RECORD_OVERHEAD
            + topgun_storage_core::codec::encoded_len(&record.value));
        prop_assert_eq!(decode_record(&bytes).unwrap(), record);
    }

    #[test]
    fn every_truncation_and_extension_is_an_error(record in arb_record(), extra in 1usize..4) {
        let bytes = encode_record(&record).unwrap();
        for len in 0..bytes.len() {
            assert_corrupt(decode_record(&bytes[..len]), "truncated record");
        }
        let mut longer = bytes.clone();
        longer.extend(std::iter::repeat_n(0u8, extra));
        assert_corrupt(decode_record(&longer), "extended record");
    }

    #[test]
    fn every_bit_flip_is_an_error(record in arb_record()) {
        let bytes = encode_record(&record).unwrap();
        // Every bit of short records; a stride over long ones keeps the
        // test fast while still reaching every field.
        let step = (bytes.len() / 256).max(1);
        for i in (0..bytes.len()).step_by(step) {
            for bit in 0..8 {
                let mut damaged = bytes.clone();
                damaged[i] ^= 1 << bit;
                assert_corrupt(decode_record(&damaged), "bit flip");
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode_record(&bytes);
        let _ = decode_key(&bytes);
        let _ = check_marker(Some(&bytes));
    }

    #[test]
    fn bytes_with_a_valid_header_and_checksum_but_a_bad_value_are_corrupt(
        garbage in prop::collection::vec(any::<u8>(), 0..40),
    ) {
        let mut bytes = vec![1u8];
        bytes.extend_from_slice(&[0; 24]);
        bytes.extend_from_slice(&(garbage.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&garbage);
        let crc = crc32c_of(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        if let Err(e) = decode_record(&bytes) {
            prop_assert_eq!(e.kind(), DataStoreErrorKind::Corrupt);
            prop_assert!(e.message().contains("not a valid record value"), "{}", e);
        }
    }
}

/// CRC32C (Castagnoli, reflected, init and final xor 0xFFFFFFFF), written
/// out bit by bit here so the test does not trust the code it checks.
fn crc32c_of(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn the_checksum_is_crc32c_over_header_and_value() {
    // The standard check value of CRC32C.
    assert_eq!(crc32c_of(b"123456789"), 0xE306_9283);
    let bytes = encode_record(&small_record()).unwrap();
    let body = bytes.len() - 4;
    assert_eq!(bytes[body..], crc32c_of(&bytes[..body]).to_le_bytes());
}

#[test]
fn a_golden_record_decodes_to_the_same_record_forever() {
    // Written by record format version 1; a later release must still read
    // it (the layout is documented in docs/architecture.md).
    let golden = hex::decode(
        "01\
         60ea000000000000\
         6400000000000000\
         e803000000000000\
         2e000000\
         82a576616c7565a176a974696d657374616d7083a66d696c6c697305a7\
         636f756e74657201a66e6f64654964a16e",
    )
    .unwrap();
    let crc = crc32c_of(&golden);
    let mut bytes = golden;
    bytes.extend_from_slice(&crc.to_le_bytes());
    let expected = StoredRecord {
        value: RecordValue::lww("v", Timestamp::new(5, 1, "n")),
        expiration_time: 60_000,
        max_idle_millis: 100,
        write_time: 1_000,
    };
    assert_eq!(decode_record(&bytes).unwrap(), expected);
    assert_eq!(encode_record(&expected).unwrap(), bytes);
}

#[test]
fn damage_is_named_in_the_error() {
    let bytes = encode_record(&small_record()).unwrap();
    let message = |b: &[u8]| decode_record(b).unwrap_err().message().to_owned();
    assert_eq!(message(&[]), "record is empty (0 bytes)");
    assert!(message(&bytes[..10]).starts_with("record truncated: 10 bytes"));
    assert!(message(&bytes[..bytes.len() - 1]).starts_with("record length mismatch"));
    let mut flipped = bytes.clone();
    flipped[5] ^= 4;
    assert!(message(&flipped).starts_with("record checksum mismatch"));
    let mut newer = bytes;
    newer[0] = 2;
    assert!(message(&newer).contains("unknown format version 2"));
}

// ---------------------------------------------------------------------------
// Keys

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn keys_round_trip(ns in arb_namespace(), map in arb_name(), key in arb_name()) {
        let stored = encode_key(ns, &map, &key);
        let entry = decode_key(&stored).unwrap();
        prop_assert_eq!(entry.namespace, ns);
        prop_assert_eq!(&entry.map, &map);
        prop_assert_eq!(entry.key, key.as_str());
        prop_assert_eq!(entry.prefix_len, map_prefix(ns, &map).len());
        prop_assert_eq!(key_after_prefix(&stored, entry.prefix_len).unwrap(), key.as_str());
    }

    #[test]
    fn stored_keys_sort_like_namespace_then_map_then_key_bytes(
        a in (arb_namespace(), arb_name(), arb_name()),
        b in (arb_namespace(), arb_name(), arb_name()),
    ) {
        let model = |(ns, m, k): &(Namespace, String, String)| {
            (*ns, m.as_bytes().to_vec(), k.as_bytes().to_vec())
        };
        prop_assert_eq!(
            encode_key(a.0, &a.1, &a.2).cmp(&encode_key(b.0, &b.1, &b.2)),
            model(&a).cmp(&model(&b))
        );
    }

    #[test]
    fn map_prefixes_are_prefix_free_so_a_map_is_one_range(
        ns in arb_namespace(), m1 in arb_name(), m2 in arb_name(),
        ns2 in arb_namespace(), key in arb_name(),
    ) {
        let p1 = map_prefix(ns, &m1);
        let other = encode_key(ns2, &m2, &key);
        prop_assert_eq!(other.starts_with(&p1), ns == ns2 && m1 == m2);
        // The map's keys lie inside its scan range, other maps' outside.
        let (start, end) = scan_range(ns, &m1, "", None).unwrap();
        let inside = matches!(&start, Bound::Included(s) if other >= *s) && other < end;
        prop_assert_eq!(inside, ns == ns2 && m1 == m2);
        let (ns_start, ns_end) = namespace_range(ns2);
        prop_assert!(other >= ns_start && other < ns_end);
        prop_assert!(!other.starts_with(MARKER_KEY) || other == MARKER_KEY);
        prop_assert!(other[0] != MARKER_KEY[0]);
    }

    #[test]
    fn a_scan_range_holds_exactly_the_keys_a_filter_keeps(
        ns in arb_namespace(), map in arb_name(),
        keys in prop::collection::btree_set(arb_name(), 0..24),
        other_map in arb_name(),
        prefix in arb_name(), after in prop::option::of(arb_name()),
    ) {
        let mut stored: Vec<Vec<u8>> = keys.iter().map(|k| encode_key(ns, &map, k)).collect();
        stored.extend(keys.iter().map(|k| encode_key(ns, &other_map, k)));
        stored.sort();
        stored.dedup();
        let expected: Vec<&str> = keys
            .iter()
            .filter(|k| k.starts_with(prefix.as_str()))
            .filter(|k| after.as_deref().is_none_or(|a| k.as_str() > a))
            .map(String::as_str)
            .collect();
        let got: Vec<String> = match scan_range(ns, &map, &prefix, after.as_deref()) {
            None => Vec::new(),
            Some((start, end)) => {
                let plen = map_prefix(ns, &map).len();
                stored
                    .iter()
                    .filter(|s| match &start {
                        Bound::Included(b) => *s >= b,
                        Bound::Excluded(b) => *s > b,
                        Bound::Unbounded => true,
                    })
                    .filter(|s| **s < end)
                    .map(|s| key_after_prefix(s, plen).unwrap().to_owned())
                    .collect()
            }
        };
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn a_key_damaged_in_its_map_name_is_an_error_or_another_valid_key(
        ns in arb_namespace(), map in arb_name(), key in arb_name(),
        at in any::<prop::sample::Index>(), byte in any::<u8>(),
    ) {
        let mut stored = encode_key(ns, &map, &key);
        let i = at.index(stored.len());
        stored[i] = byte;
        // Keys carry no checksum (the backends' pages do); a damaged key
        // must decode to a key that re-encodes to the same bytes, or fail.
        if let Ok(entry) = decode_key(&stored) {
            prop_assert_eq!(encode_key(entry.namespace, &entry.map, entry.key), stored);
        }
    }
}

#[test]
fn malformed_keys_name_what_is_wrong() {
    let msg = |b: &[u8]| decode_key(b).unwrap_err().message().to_owned();
    assert_eq!(msg(&[]), "stored key is empty");
    assert_eq!(msg(&[9, 0, 1]), "stored key has unknown keyspace tag 0x09");
    assert_eq!(msg(MARKER_KEY), "stored key has unknown keyspace tag 0x00");
    assert_eq!(msg(&[1, b'a']), "stored key has no map-name terminator");
    assert_eq!(
        msg(&[1, b'a', 0]),
        "stored key ends inside an escape of its map name"
    );
    assert!(msg(&[1, 0, 7]).contains("byte 0x07 after 0x00"));
    assert!(msg(&[1, 0xC3, 0, 1]).contains("map name is not UTF-8"));
    assert!(msg(&[1, 0, 1, 0xFF]).contains("key is not UTF-8"));
    let err = key_after_prefix(&[1, 0], 3).unwrap_err();
    assert!(err.message().contains("shorter than its map prefix"));
}

#[test]
fn scan_ranges_at_the_edges() {
    let ns = Namespace::Primary;
    // Resuming at or past the last possible key with the prefix: nothing.
    assert_eq!(scan_range(ns, "m", "a", Some("b")), None);
    assert_eq!(scan_range(ns, "m", "a", Some("\u{10ffff}")), None);
    // Resuming before the prefix starts at the prefix.
    let (start, _) = scan_range(ns, "m", "b", Some("a")).unwrap();
    assert_eq!(start, Bound::Included(encode_key(ns, "m", "b")));
    // Resuming inside the prefix is exclusive.
    let (start, end) = scan_range(ns, "m", "b", Some("bb")).unwrap();
    assert_eq!(start, Bound::Excluded(encode_key(ns, "m", "bb")));
    assert_eq!(end, encode_key(ns, "m", "c"));
    assert_eq!(prefix_successor(&[1, 0xFF, 0xFF]), Some(vec![2]));
    assert_eq!(prefix_successor(&[0xFF]), None);
    assert_eq!(prefix_successor(&[]), None);
}

#[test]
fn the_marker_round_trips() {
    assert_eq!(check_marker(Some(&marker_value())).unwrap(), 1);
    assert!(marker_value().starts_with(b"topgun-storage\0"));
    for len in 0..marker_value().len() {
        assert_corrupt(check_marker(Some(&marker_value()[..len])), "short marker");
    }
    let mut zero = b"topgun-storage\0".to_vec();
    zero.extend_from_slice(&[0, 0]);
    assert_corrupt(check_marker(Some(&zero)), "version 0");
}
