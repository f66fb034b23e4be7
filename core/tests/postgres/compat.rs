//! Rows written with TopGun's TS adapter's SQL read through this store, and
//! the other way round.

use crate::support::*;
use serde_json::json;
use topgun_storage_core::{OrMapEntry, RecordValue, Timestamp, Value};

#[test]
fn ts_rows_read_as_the_ts_adapter_reads_them() {
    let (s, t) = store("ts_to_ours");
    let mut ts = TsAdapter::new(&t);
    ts.store("m", "obj", &json!({"value": {"name": "x", "n": 3, "f": 1.5, "l": [true, null]}, "timestamp": {"millis": 1700000000000u64, "counter": 2, "nodeId": "a"}}));
    ts.store(
        "m",
        "gone",
        &json!({"value": null, "timestamp": {"millis": 9, "counter": 0, "nodeId": "b"}}),
    );
    ts.store("m", "k3", &json!({"type": "OR", "records": [{"value": "v", "timestamp": {"millis": 1, "counter": 0, "nodeId": "c"}, "tag": "t1", "ttlMs": 500}]}));
    ts.store(
        "m",
        "__tombstones__",
        &json!({"type": "OR_TOMBSTONES", "tags": ["t0", "t9"]}),
    );

    let obj = get(&s, "m", "obj").unwrap();
    let expected: Value = [
        ("f", Value::Float(1.5)),
        ("l", Value::Array(vec![Value::Bool(true), Value::Null])),
        ("n", Value::Int(3)),
        ("name", Value::from("x")),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        obj.value,
        RecordValue::lww(expected, Timestamp::new(1_700_000_000_000, 2, "a"))
    );
    assert_eq!((obj.expiration_time, obj.max_idle_millis), (0, 0));
    assert_eq!(
        obj.write_time, 1_700_000_000_000,
        "the HLC millis stand in for the write time"
    );
    assert_eq!(
        get(&s, "m", "gone").unwrap().value,
        RecordValue::lww(Value::Null, Timestamp::new(9, 0, "b"))
    );
    assert_eq!(
        get(&s, "m", "k3").unwrap().value,
        RecordValue::OrMap {
            records: vec![OrMapEntry {
                value: Value::from("v"),
                timestamp: Timestamp::new(1, 0, "c"),
                tag: "t1".into(),
                ttl_ms: Some(500),
            }]
        }
    );
    assert_eq!(
        get(&s, "m", "__tombstones__").unwrap().value,
        RecordValue::OrTombstones {
            tags: vec!["t0".into(), "t9".into()]
        }
    );
}

#[test]
fn our_rows_read_through_the_ts_adapters_sql_as_it_wrote_them() {
    let (s, t) = store("ours_to_ts");
    let value: Value = [("z", Value::Int(1)), ("a", Value::from("x"))]
        .into_iter()
        .collect();
    put(
        &s,
        "m",
        "obj",
        &rec(RecordValue::lww(
            value,
            Timestamp::new(1_700_000_000_000, 2, "a"),
        )),
    );
    put(
        &s,
        "m",
        "gone",
        &rec(RecordValue::lww(Value::Null, Timestamp::new(9, 0, "b"))),
    );
    let or = RecordValue::OrMap {
        records: vec![OrMapEntry {
            value: Value::Float(0.25),
            timestamp: Timestamp::new(1, 0, "c"),
            tag: "t1".into(),
            ttl_ms: None,
        }],
    };
    put(&s, "m", "k3", &rec(or));
    put(
        &s,
        "m",
        "__tombstones__",
        &rec(RecordValue::OrTombstones {
            tags: vec!["t0".into()],
        }),
    );
    let mut ts = TsAdapter::new(&t);
    assert_eq!(
        ts.load("m", "obj"),
        Some(
            json!({"value": {"z": 1, "a": "x"}, "timestamp": {"millis": 1700000000000u64, "counter": 2, "nodeId": "a"}})
        )
    );
    assert_eq!(
        ts.load("m", "gone"),
        Some(json!({"value": null, "timestamp": {"millis": 9, "counter": 0, "nodeId": "b"}}))
    );
    assert_eq!(
        ts.load("m", "k3"),
        Some(
            json!({"type": "OR", "records": [{"value": 0.25, "timestamp": {"millis": 1, "counter": 0, "nodeId": "c"}, "tag": "t1"}]})
        )
    );
    assert_eq!(
        ts.load("m", "__tombstones__"),
        Some(json!({"type": "OR_TOMBSTONES", "tags": ["t0"]}))
    );
    assert_eq!(
        ts.load_all_keys("m"),
        ["__tombstones__", "gone", "k3", "obj"]
    );
    let all = ts.load_all("m", &["obj", "missing", "k3"]);
    assert_eq!(all.len(), 2);
    // is_deleted is set for a null value, as the TS adapter sets it.
    let deleted: bool = raw()
        .query_one(
            &format!("SELECT is_deleted FROM {t} WHERE map_name = 'm' AND key = 'gone'"),
            &[],
        )
        .unwrap()
        .get(0);
    assert!(deleted);
    ts.delete_all("m", &["obj", "k3"]);
    assert_eq!(get(&s, "m", "obj"), None);
    assert!(get(&s, "m", "gone").is_some());
}

#[test]
fn a_row_the_ts_adapter_rewrites_reads_as_it_wrote_it() {
    let (s, t) = store("rewrite");
    let mut ts = TsAdapter::new(&t);
    // Ours, with what only the exact copy holds: ttlMs, key order, bytes, expiry.
    let value: Value = [("z", Value::Bytes(vec![1, 2])), ("a", Value::Float(2.0))]
        .into_iter()
        .collect();
    let mut mine = rec(RecordValue::Lww {
        value,
        timestamp: Timestamp::new(10, 0, "n"),
        ttl_ms: Some(60_000),
    });
    mine.expiration_time = 1_700_000_060_000;
    mine.max_idle_millis = 5_000;
    put(&s, "m", "k", &mine);
    assert_eq!(get(&s, "m", "k"), Some(mine.clone()));

    // The TS adapter writes the same key with the same value and timestamp as
    // it sees them: its row has no ttlMs and no expiry, and so must ours.
    let seen = ts.load("m", "k").unwrap();
    ts.store("m", "k", &seen);
    let reread = get(&s, "m", "k").unwrap();
    assert_eq!(reread.expiration_time, 0);
    assert_eq!(reread.max_idle_millis, 0);
    let RecordValue::Lww { value, ttl_ms, .. } = &reread.value else {
        panic!("{reread:?}")
    };
    assert_eq!(*ttl_ms, None);
    assert_eq!(
        value,
        &[("a", Value::Int(2)), ("z", Value::Bytes(vec![1, 2]))]
            .into_iter()
            .collect::<Value>()
    );

    // A different value written by the TS adapter is read as written.
    put(&s, "m", "k2", &mine);
    ts.store(
        "m",
        "k2",
        &json!({"value": "theirs", "timestamp": {"millis": 11, "counter": 0, "nodeId": "ts"}}),
    );
    assert_eq!(
        get(&s, "m", "k2").unwrap(),
        rec_at(RecordValue::lww("theirs", Timestamp::new(11, 0, "ts")), 11)
    );

    // And our next write of the row brings the exact copy back.
    put(&s, "m", "k2", &mine);
    assert_eq!(get(&s, "m", "k2"), Some(mine));
}

fn rec_at(value: RecordValue, write_time: i64) -> topgun_storage_core::StoredRecord {
    topgun_storage_core::StoredRecord::new(value, write_time)
}

#[test]
fn any_other_sql_that_changes_a_row_also_drops_the_exact_copy() {
    let (s, t) = store("other_sql");
    put(
        &s,
        "m",
        "k",
        &rec(RecordValue::Lww {
            value: Value::from("v"),
            timestamp: Timestamp::new(1, 0, "n"),
            ttl_ms: Some(5),
        }),
    );
    raw()
        .execute(
            &format!("UPDATE {t} SET is_deleted = true WHERE key = 'k'"),
            &[],
        )
        .unwrap();
    assert_eq!(
        get(&s, "m", "k").unwrap().value,
        RecordValue::lww(Value::Null, Timestamp::new(1, 0, "n"))
    );
}
