//! The strongest compatibility check: TopGun's TS adapter's SQL run the way
//! its server runs it, through the `pg` package from Node, on the table this
//! store shares with it.

use crate::node_adapter::NodeTsAdapter;
use crate::support::*;
use pollster::block_on;
use serde_json::json;
use topgun_storage_core::{
    MapDataStore, Namespace, OrMapEntry, RecordValue, StoredRecord, Timestamp, Value,
};

#[test]
fn rows_written_by_the_ts_adapter_in_node_read_as_it_reads_them() {
    let (s, t) = store("node_to_ours");
    let mut ts = NodeTsAdapter::start(&url(), &t);
    ts.call(json!({"op": "initialize"}));
    ts.store("m", "obj", json!({"value": {"name": "x", "n": 3, "f": 1.5, "whole": 2.0, "l": [true, null]}, "timestamp": {"millis": 1700000000000u64, "counter": 2, "nodeId": "a"}}));
    ts.store(
        "m",
        "gone",
        json!({"value": null, "timestamp": {"millis": 9, "counter": 0, "nodeId": "b"}}),
    );
    ts.store("m", "or", json!({"type": "OR", "records": [{"value": {"v": 1}, "timestamp": {"millis": 1, "counter": 0, "nodeId": "c"}, "tag": "t1", "ttlMs": 500}]}));
    ts.call(json!({"op": "storeAll", "map": "m", "records": [
        ["__tombstones__", {"type": "OR_TOMBSTONES", "tags": ["t0"]}],
        ["s", {"value": "text", "timestamp": {"millis": 5, "counter": 1, "nodeId": "d"}}],
    ]}));

    let obj: Value = [
        ("f", Value::Float(1.5)),
        ("l", Value::Array(vec![Value::Bool(true), Value::Null])),
        ("n", Value::Int(3)),
        ("name", Value::from("x")),
        // A JS number that is whole: JSON.stringify writes 2.
        ("whole", Value::Int(2)),
    ]
    .into_iter()
    .collect();
    let expected = [
        (
            "__tombstones__",
            RecordValue::OrTombstones {
                tags: vec!["t0".into()],
            },
        ),
        (
            "gone",
            RecordValue::lww(Value::Null, Timestamp::new(9, 0, "b")),
        ),
        (
            "obj",
            RecordValue::lww(obj, Timestamp::new(1_700_000_000_000, 2, "a")),
        ),
        (
            "or",
            RecordValue::OrMap {
                records: vec![OrMapEntry {
                    value: [("v", 1)].into_iter().collect(),
                    timestamp: Timestamp::new(1, 0, "c"),
                    tag: "t1".into(),
                    ttl_ms: Some(500),
                }],
            },
        ),
        ("s", RecordValue::lww("text", Timestamp::new(5, 1, "d"))),
    ];
    for (key, value) in &expected {
        assert_eq!(&get(&s, "m", key).unwrap().value, value, "{key}");
    }
    let keys: Vec<String> = expected.iter().map(|(k, _)| (*k).to_owned()).collect();
    let all = block_on(s.load_all("m", Namespace::Primary, &keys)).unwrap();
    assert_eq!(all.len(), expected.len());
    // deleteAll from Node removes the rows for us too.
    ts.call(json!({"op": "deleteAll", "map": "m", "keys": ["obj", "s"]}));
    assert_eq!(get(&s, "m", "obj"), None);
    assert_eq!(get(&s, "m", "s"), None);
    assert!(get(&s, "m", "gone").is_some());
}

#[test]
fn rows_we_write_read_in_node_as_the_ts_adapter_would_have_written_them() {
    let (s, t) = store("ours_to_node");
    let value: Value = [
        ("z", Value::Int(1)),
        ("a", Value::Float(0.5)),
        ("bytes", Value::Bytes(vec![1, 2])),
        ("nan", Value::Float(f64::NAN)),
    ]
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
            value: Value::from("x"),
            timestamp: Timestamp::new(1, 0, "c"),
            tag: "t1".into(),
            ttl_ms: Some(60_000),
        }],
    };
    put(&s, "m", "or", &rec(or));
    put(
        &s,
        "m",
        "__tombstones__",
        &rec(RecordValue::OrTombstones {
            tags: vec!["t0".into()],
        }),
    );
    // Rows the TS table has no room for stay out of the adapter's sight.
    block_on(s.add("m", Namespace::Backup, "obj", &rec(lww("backup")))).unwrap();
    put(&s, "m", "nul\0key", &rec(lww("hidden")));

    let mut ts = NodeTsAdapter::start(&url(), &t);
    ts.call(json!({"op": "initialize"}));
    assert_eq!(
        ts.load("m", "obj"),
        json!({"value": {"z": 1, "a": 0.5, "bytes": {"$bytes": "0102"}, "nan": null}, "timestamp": {"millis": 1700000000000u64, "counter": 2, "nodeId": "a"}})
    );
    assert_eq!(
        ts.load("m", "gone"),
        json!({"value": null, "timestamp": {"millis": 9, "counter": 0, "nodeId": "b"}})
    );
    assert_eq!(
        ts.load("m", "or"),
        json!({"type": "OR", "records": [{"value": "x", "timestamp": {"millis": 1, "counter": 0, "nodeId": "c"}, "tag": "t1", "ttlMs": 60000}]})
    );
    assert_eq!(
        ts.load("m", "__tombstones__"),
        json!({"type": "OR_TOMBSTONES", "tags": ["t0"]})
    );
    assert_eq!(
        ts.call(json!({"op": "loadAllKeys", "map": "m"}))["result"],
        json!(["__tombstones__", "gone", "obj", "or"])
    );
    let all = ts.call(json!({"op": "loadAll", "map": "m", "keys": ["obj", "none", "or"]}))
        ["result"]
        .clone();
    assert_eq!(all.as_array().map(Vec::len), Some(2));
}

#[test]
fn a_row_the_ts_adapter_in_node_rewrites_reads_as_it_wrote_it() {
    let (s, t) = store("node_rewrite");
    let value: Value = [("z", Value::Bytes(vec![7])), ("a", Value::Float(3.0))]
        .into_iter()
        .collect();
    let mut mine = StoredRecord::new(
        RecordValue::Lww {
            value,
            timestamp: Timestamp::new(10, 0, "n"),
            ttl_ms: Some(60_000),
        },
        1_700_000_000_000,
    );
    mine.expiration_time = 1_700_000_060_000;
    put(&s, "m", "k", &mine);
    let mut ts = NodeTsAdapter::start(&url(), &t);
    // The TS server loads the record and stores it back, as it does after a merge.
    let seen = ts.load("m", "k");
    ts.store("m", "k", seen);
    let reread = get(&s, "m", "k").unwrap();
    let expected: Value = [("a", Value::Int(3)), ("z", Value::Bytes(vec![7]))]
        .into_iter()
        .collect();
    assert_eq!(
        reread.value,
        RecordValue::lww(expected, Timestamp::new(10, 0, "n")),
        "no ttlMs, JS numbers"
    );
    assert_eq!(reread.expiration_time, 0, "no stale expiry");
    // And our next write restores the exact copy.
    put(&s, "m", "k", &mine);
    assert_eq!(get(&s, "m", "k"), Some(mine));
}
