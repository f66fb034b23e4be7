//! Puts, loads and removes of single keys: every string a key or map name
//! may be, every value shape, the expiry fields, large keys and values.

use crate::harness::*;
use topgun_storage_core::{
    block_on, DataStoreErrorKind, MapDataStore, OrMapEntry, RecordValue, StoredRecord, Timestamp,
    Value, ValueMap, MAX_MILLIS,
};

pub fn put_then_load_returns_the_record<H: Harness>() {
    let s = Fixture::<H>::new();
    let r = rec("v1");
    block_on(s.add("m", Primary, "k", &r)).unwrap();
    assert_eq!(block_on(s.load("m", Primary, "k")).unwrap(), Some(r));
}

pub fn load_of_a_missing_key_is_none<H: Harness>() {
    let s = Fixture::<H>::new();
    assert_eq!(get(&*s, "m", Primary, "absent"), None);
    put(&*s, "m", Primary, "k", "v");
    assert_eq!(get(&*s, "m", Primary, "absent"), None);
    assert_eq!(get(&*s, "other", Primary, "k"), None);
}

pub fn overwrite_replaces_the_record<H: Harness>() {
    let s = Fixture::<H>::new();
    for v in ["a", "b", "c"] {
        put(&*s, "m", Primary, "k", v);
        assert_eq!(get(&*s, "m", Primary, "k").as_deref(), Some(v));
    }
    assert_eq!(scan_all(&*s, "m", Primary, "", 10), ["k"]);
}

pub fn remove_deletes_the_key<H: Harness>() {
    let s = Fixture::<H>::new();
    put(&*s, "m", Primary, "k", "v");
    put(&*s, "m", Primary, "j", "v");
    block_on(s.remove("m", Primary, "k")).unwrap();
    assert_eq!(get(&*s, "m", Primary, "k"), None);
    assert_eq!(get(&*s, "m", Primary, "j").as_deref(), Some("v"));
    assert_eq!(scan_all(&*s, "m", Primary, "", 10), ["j"]);
}

pub fn remove_of_a_missing_key_succeeds<H: Harness>() {
    let s = Fixture::<H>::new();
    block_on(s.remove("m", Primary, "never")).unwrap();
    put(&*s, "m", Primary, "k", "v");
    block_on(s.remove("m", Primary, "never")).unwrap();
    block_on(s.remove("m", Primary, "k")).unwrap();
    block_on(s.remove("m", Primary, "k")).unwrap();
    assert_eq!(get(&*s, "m", Primary, "k"), None);
    assert!(block_on(s.list_maps()).unwrap().is_empty());
}

pub fn put_after_remove_is_visible<H: Harness>() {
    let s = Fixture::<H>::new();
    put(&*s, "m", Primary, "k", "one");
    block_on(s.remove("m", Primary, "k")).unwrap();
    put(&*s, "m", Primary, "k", "two");
    assert_eq!(get(&*s, "m", Primary, "k").as_deref(), Some("two"));
}

pub fn empty_key_round_trips<H: Harness>() {
    let s = Fixture::<H>::new();
    put(&*s, "m", Primary, "", "empty");
    put(&*s, "m", Primary, "a", "a");
    assert_eq!(get(&*s, "m", Primary, "").as_deref(), Some("empty"));
    assert_eq!(scan_all(&*s, "m", Primary, "", 10), ["", "a"]);
    block_on(s.remove("m", Primary, "")).unwrap();
    assert_eq!(get(&*s, "m", Primary, ""), None);
    assert_eq!(get(&*s, "m", Primary, "a").as_deref(), Some("a"));
}

pub fn empty_map_name_round_trips<H: Harness>() {
    let s = Fixture::<H>::new();
    put(&*s, "", Primary, "", "both empty");
    put(&*s, "", Primary, "k", "v");
    put(&*s, "x", Primary, "k", "other");
    assert_eq!(get(&*s, "", Primary, "").as_deref(), Some("both empty"));
    assert_eq!(get(&*s, "", Primary, "k").as_deref(), Some("v"));
    assert_eq!(scan_all(&*s, "", Primary, "", 10), ["", "k"]);
    assert_eq!(block_on(s.list_maps()).unwrap(), ["", "x"]);
}

pub fn unicode_keys_and_map_names_round_trip<H: Harness>() {
    let s = Fixture::<H>::new();
    let names = [
        "é",
        "日本語",
        "😀🎉",
        "עברית",
        "e\u{301}",
        "\u{ffff}",
        "\u{10ffff}",
        "Ω≈ç√",
    ];
    for (i, map) in names.iter().enumerate() {
        for key in names {
            put(&*s, map, Primary, key, &format!("{i}:{key}"));
        }
    }
    for (i, map) in names.iter().enumerate() {
        for key in names {
            let want = format!("{i}:{key}");
            assert_eq!(get(&*s, map, Primary, key), Some(want));
        }
    }
    let mut sorted: Vec<&str> = names.to_vec();
    sorted.sort();
    assert_eq!(block_on(s.list_maps()).unwrap(), sorted);
}

pub fn nul_in_keys_and_map_names_is_kept<H: Harness>() {
    let s = Fixture::<H>::new();
    for key in ["a", "a\0", "a\0b", "\0", "\0\0", "a\u{1}"] {
        put(&*s, "m", Primary, key, key);
    }
    for map in ["\0", "m\0", "m\0\0", "m\u{1}"] {
        put(&*s, map, Primary, "a", map);
    }
    for key in ["a", "a\0", "a\0b", "\0", "\0\0", "a\u{1}"] {
        assert_eq!(get(&*s, "m", Primary, key).as_deref(), Some(key));
    }
    for map in ["\0", "m\0", "m\0\0", "m\u{1}"] {
        assert_eq!(get(&*s, map, Primary, "a").as_deref(), Some(map));
    }
    assert_eq!(
        scan_all(&*s, "m", Primary, "", 100),
        ["\0", "\0\0", "a", "a\0", "a\0b", "a\u{1}"]
    );
}

pub fn keys_are_case_sensitive<H: Harness>() {
    let s = Fixture::<H>::new();
    put(&*s, "m", Primary, "Key", "upper");
    put(&*s, "m", Primary, "key", "lower");
    put(&*s, "M", Primary, "key", "other map");
    assert_eq!(get(&*s, "m", Primary, "Key").as_deref(), Some("upper"));
    assert_eq!(get(&*s, "m", Primary, "key").as_deref(), Some("lower"));
    assert_eq!(get(&*s, "m", Primary, "KEY"), None);
    assert_eq!(get(&*s, "M", Primary, "key").as_deref(), Some("other map"));
}

pub fn keys_are_not_normalized<H: Harness>() {
    let s = Fixture::<H>::new();
    // "é" precomposed and as e + combining accent are different strings.
    put(&*s, "m", Primary, "\u{e9}", "nfc");
    put(&*s, "m", Primary, "e\u{301}", "nfd");
    assert_eq!(get(&*s, "m", Primary, "\u{e9}").as_deref(), Some("nfc"));
    assert_eq!(get(&*s, "m", Primary, "e\u{301}").as_deref(), Some("nfd"));
    assert_eq!(scan_all(&*s, "m", Primary, "", 10).len(), 2);
}

pub fn long_keys_round_trip<H: Harness>() {
    let s = Fixture::<H>::new();
    let len = H::max_key_len().unwrap_or(64 * 1024).min(64 * 1024);
    let long_a = "a".repeat(len);
    let mut long_b = "a".repeat(len - 1);
    long_b.push('b');
    put(&*s, "m", Primary, &long_a, "A");
    put(&*s, "m", Primary, &long_b, "B");
    assert_eq!(get(&*s, "m", Primary, &long_a).as_deref(), Some("A"));
    assert_eq!(get(&*s, "m", Primary, &long_b).as_deref(), Some("B"));
    assert_eq!(scan_all(&*s, "m", Primary, "", 10), [long_a, long_b]);
}

pub fn a_key_past_the_backend_limit_is_rejected_or_kept_whole<H: Harness>() {
    let s = Fixture::<H>::new();
    put(&*s, "m", Primary, "before", "v");
    match H::max_key_len() {
        Some(max) => {
            let key = "k".repeat(max + 1);
            let err = block_on(s.add("m", Primary, &key, &rec("v"))).unwrap_err();
            assert_eq!(err.kind(), DataStoreErrorKind::Rejected, "{err}");
            // A batch holding it is refused whole.
            let r = rec("w");
            let ops = [
                topgun_storage_core::WriteOp::Put {
                    key: "ok",
                    record: &r,
                },
                topgun_storage_core::WriteOp::Put {
                    key: &key,
                    record: &r,
                },
            ];
            assert_kind(
                block_on(s.write("m", Primary, &ops)),
                DataStoreErrorKind::Rejected,
            );
            assert_eq!(get(&*s, "m", Primary, "ok"), None);
        }
        None => {
            let key = "k".repeat(1024 * 1024);
            put(&*s, "m", Primary, &key, "huge key");
            assert_eq!(get(&*s, "m", Primary, &key).as_deref(), Some("huge key"));
        }
    }
    assert_eq!(get(&*s, "m", Primary, "before").as_deref(), Some("v"));
}

pub fn a_16_mib_value_round_trips<H: Harness>() {
    let s = Fixture::<H>::new();
    let big: Vec<u8> = (0..16 * 1024 * 1024)
        .map(|i| (i * 31 % 251) as u8)
        .collect();
    let r = rec_value(big);
    block_on(s.add("m", Primary, "big", &r)).unwrap();
    put(&*s, "m", Primary, "small", "s");
    assert_eq!(block_on(s.load("m", Primary, "big")).unwrap(), Some(r));
    assert_eq!(get(&*s, "m", Primary, "small").as_deref(), Some("s"));
}

pub fn empty_and_null_values_round_trip<H: Harness>() {
    let s = Fixture::<H>::new();
    let records = [
        rec(""),
        rec_value(Value::Null),
        rec_value(Vec::<u8>::new()),
        rec_value(Vec::<Value>::new()),
        rec_value(ValueMap::new()),
    ];
    for (i, r) in records.iter().enumerate() {
        block_on(s.add("m", Primary, &i.to_string(), r)).unwrap();
    }
    for (i, r) in records.iter().enumerate() {
        let got = block_on(s.load("m", Primary, &i.to_string())).unwrap();
        assert_eq!(got.as_ref(), Some(r), "record {i}");
    }
}

pub fn every_value_shape_round_trips<H: Harness>() {
    let s = Fixture::<H>::new();
    let ts = |m| Timestamp::new(m, 7, "node-\0-é");
    let mut map = ValueMap::new();
    map.insert("z".to_owned(), Value::Int(-1));
    map.insert("a".to_owned(), Value::Float(-0.0));
    map.insert(
        "nested".to_owned(),
        Value::Array(vec![Value::Bool(true), Value::Null]),
    );
    let values = [
        RecordValue::lww(i64::MIN, ts(0)),
        RecordValue::lww(i64::MAX, ts(MAX_MILLIS)),
        RecordValue::lww(f64::NAN, ts(1)),
        RecordValue::lww(1.5e300, ts(1)),
        RecordValue::lww(Value::from(map), ts(2)),
        RecordValue::Lww {
            value: Value::from("ttl"),
            timestamp: ts(3),
            ttl_ms: Some(60_000),
        },
        RecordValue::OrMap {
            records: vec![OrMapEntry {
                value: Value::from("x"),
                timestamp: ts(4),
                tag: "tag-1".to_owned(),
                ttl_ms: None,
            }],
        },
        RecordValue::OrMap { records: vec![] },
        RecordValue::OrTombstones {
            tags: vec!["t1".to_owned(), String::new()],
        },
    ];
    for (i, value) in values.iter().enumerate() {
        let r = StoredRecord::new(value.clone(), 5);
        block_on(s.add("m", Primary, &i.to_string(), &r)).unwrap();
    }
    for (i, value) in values.iter().enumerate() {
        let got = block_on(s.load("m", Primary, &i.to_string()))
            .unwrap()
            .expect("stored");
        // Compare encodings: NaN != NaN, but its bytes are kept.
        assert_eq!(
            topgun_storage_core::codec::encode_record_value(&got.value),
            topgun_storage_core::codec::encode_record_value(value),
            "value {i}"
        );
    }
}

pub fn expiry_fields_round_trip_exactly<H: Harness>() {
    let s = Fixture::<H>::new();
    let cases = [
        (0, 0, 0),
        (61_000, 500, 1_000),
        (i64::MAX, u64::MAX, i64::MIN),
        (-1, 1, -5),
        (1_700_000_060_000, 30_000, 1_700_000_000_000),
    ];
    for (i, &(expiration_time, max_idle_millis, write_time)) in cases.iter().enumerate() {
        let r = StoredRecord {
            expiration_time,
            max_idle_millis,
            write_time,
            ..rec("v")
        };
        block_on(s.add("m", Primary, &i.to_string(), &r)).unwrap();
        assert_eq!(
            block_on(s.load("m", Primary, &i.to_string())).unwrap(),
            Some(r)
        );
    }
}

pub fn expired_records_are_returned_as_stored<H: Harness>() {
    let s = Fixture::<H>::new();
    let r = StoredRecord {
        expiration_time: 1,
        ..rec("long gone")
    };
    block_on(s.add("m", Primary, "k", &r)).unwrap();
    let got = block_on(s.load("m", Primary, "k")).unwrap().unwrap();
    assert!(got.is_ttl_expired(2));
    assert_eq!(got, r);
    assert_eq!(scan_all(&*s, "m", Primary, "", 10), ["k"]);
}

pub fn load_all_returns_stored_keys_in_request_order<H: Harness>() {
    let s = Fixture::<H>::new();
    for k in ["a", "b", "c"] {
        put(&*s, "m", Primary, k, &format!("v{k}"));
    }
    let keys: Vec<String> = ["c", "missing", "a", "c", ""]
        .iter()
        .map(|k| (*k).to_owned())
        .collect();
    let got = block_on(s.load_all("m", Primary, &keys)).unwrap();
    let got: Vec<(String, String)> = got.iter().map(|(k, r)| (k.clone(), text(r))).collect();
    let want: Vec<(String, String)> = [("c", "vc"), ("a", "va"), ("c", "vc")]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    assert_eq!(got, want);
}

pub fn load_all_of_no_keys_or_an_unknown_map_is_empty<H: Harness>() {
    let s = Fixture::<H>::new();
    put(&*s, "m", Primary, "a", "v");
    assert!(block_on(s.load_all("m", Primary, &[])).unwrap().is_empty());
    let keys = vec!["a".to_owned()];
    assert!(block_on(s.load_all("nope", Primary, &keys))
        .unwrap()
        .is_empty());
}

pub fn the_batch_helpers_add_all_and_remove_all_work<H: Harness>() {
    let s = Fixture::<H>::new();
    let entries: Vec<(String, StoredRecord)> = numbered(50)
        .into_iter()
        .map(|k| {
            let r = rec(&k);
            (k, r)
        })
        .collect();
    block_on(s.add_all("m", Primary, &entries)).unwrap();
    assert_eq!(scan_all(&*s, "m", Primary, "", 7), numbered(50));
    let gone: Vec<String> = numbered(50).into_iter().step_by(2).collect();
    block_on(s.remove_all("m", Primary, &gone)).unwrap();
    let left: Vec<String> = numbered(50).into_iter().skip(1).step_by(2).collect();
    assert_eq!(scan_all(&*s, "m", Primary, "", 7), left);
    for k in &gone {
        assert_eq!(get(&*s, "m", Primary, k), None);
    }
}

pub fn ten_thousand_single_puts_are_all_kept<H: Harness>() {
    let s = Fixture::<H>::new();
    let keys = numbered(10_000);
    for k in &keys {
        put(&*s, "m", Primary, k, k);
    }
    for k in keys.iter().step_by(97) {
        assert_eq!(get(&*s, "m", Primary, k).as_deref(), Some(k.as_str()));
    }
    assert_eq!(scan_all(&*s, "m", Primary, "", 1000), keys);
}

pub fn a_loaded_record_is_independent_of_later_writes<H: Harness>() {
    let s = Fixture::<H>::new();
    put(&*s, "m", Primary, "k", "first");
    let before = block_on(s.load("m", Primary, "k")).unwrap().unwrap();
    put(&*s, "m", Primary, "k", "second");
    block_on(s.remove("m", Primary, "k")).unwrap();
    assert_eq!(text(&before), "first");
}

fn _assert_object_safe(s: &dyn MapDataStore) {
    let _ = s.is_null();
}

pub fn the_store_is_not_null_and_has_nothing_pending<H: Harness>() {
    let s = Fixture::<H>::new();
    _assert_object_safe(&*s);
    assert!(!s.is_null());
    put(&*s, "m", Primary, "k", "v");
    // Write-through stores have nothing queued once `write` returned;
    // a queueing store drains on hard_flush.
    block_on(s.hard_flush()).unwrap();
    assert_eq!(s.pending_operation_count(), 0);
    assert!(s.is_loadable("m", Primary, "k"));
}
