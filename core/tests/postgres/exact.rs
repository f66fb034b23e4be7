//! What TopGun's JSONB columns cannot hold round-trips through the exact
//! copy; rows TopGun's table has no room for live in the extra table;
//! keys are ordered by their bytes whatever the database's collation; what
//! PostgreSQL refuses is `Rejected` with nothing written.

use crate::support::*;
use pollster::block_on;
use topgun_storage_core::codec::encode_record_value;
use topgun_storage_core::datastores::postgres::{MAX_KEY_LEN, MAX_MAP_NAME_LEN};
use topgun_storage_core::{
    DataStoreErrorKind, MapDataStore, Namespace, OrMapEntry, RecordValue, ScanRequest,
    StoredRecord, Timestamp, Value, WriteOp, MAX_MILLIS,
};

fn same(a: &StoredRecord, b: &StoredRecord) {
    assert_eq!(
        encode_record_value(&a.value),
        encode_record_value(&b.value),
        "{a:?} vs {b:?}"
    );
    assert_eq!(
        (a.expiration_time, a.max_idle_millis, a.write_time),
        (b.expiration_time, b.max_idle_millis, b.write_time)
    );
}

/// The TS columns of a row, as text.
fn ts_columns(table: &str, key: &str) -> (Option<String>, i64, i32, String, Option<bool>) {
    let row = raw()
        .query_one(
            &format!(
                "SELECT value::text, ts_millis, ts_counter, ts_node_id, is_deleted FROM {table} \
                 WHERE map_name = 'm' AND key = $1"
            ),
            &[&key],
        )
        .unwrap();
    (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4))
}

#[test]
fn what_jsonb_cannot_hold_round_trips_and_the_ts_columns_get_stand_ins() {
    let (s, t) = store("exact");
    let ordered: Value = [
        ("z", Value::Int(1)),
        ("a", Value::Int(2)),
        ("m", Value::Int(3)),
    ]
    .into_iter()
    .collect();
    let awkward = Value::Array(vec![
        Value::Float(f64::NAN),
        Value::Float(f64::INFINITY),
        Value::Float(f64::NEG_INFINITY),
        Value::Float(-0.0),
        Value::Float(2.0),
        Value::Int(2),
        Value::Int(i64::MIN),
        Value::Bytes(vec![0, 1, 255]),
        Value::from("nul\0inside"),
        [("key\0nul", Value::Null)].into_iter().collect(),
    ]);
    let mut cases = vec![
        ("order", rec(lww(ordered))),
        ("awkward", rec(lww(awkward))),
        (
            "ttl",
            rec(RecordValue::Lww {
                value: Value::from("v"),
                timestamp: Timestamp::new(5, 1, "n"),
                ttl_ms: Some(60_000),
            }),
        ),
        (
            "huge_ts",
            rec(RecordValue::lww(
                "v",
                Timestamp::new(MAX_MILLIS, u32::MAX, "n\0de"),
            )),
        ),
        (
            "marker_node",
            rec(RecordValue::lww("v", Timestamp::new(1, 0, "__ORMAP__"))),
        ),
        (
            "or",
            rec(RecordValue::OrMap {
                records: vec![OrMapEntry {
                    value: Value::Bytes(vec![9]),
                    timestamp: Timestamp::new(1, 2, "n\0"),
                    tag: "t\0".into(),
                    ttl_ms: Some(1),
                }],
            }),
        ),
    ];
    let mut expiring = rec(lww("e"));
    expiring.expiration_time = i64::MAX;
    expiring.max_idle_millis = u64::MAX;
    expiring.write_time = i64::MIN;
    cases.push(("expiry", expiring));
    for (key, r) in &cases {
        put(&s, "m", key, r);
    }
    for (key, r) in &cases {
        same(&get(&s, "m", key).unwrap(), r);
    }
    // What a TS server sees: JSON.stringify's form with stand-ins.
    let (json, ..) = ts_columns(&t, "awkward");
    assert_eq!(
        json.unwrap(),
        r#"[null, null, null, 0.0, 2.0, 2, -9223372036854775808, {"$bytes": "0001ff"}, "nul�inside", {"key�nul": null}]"#
    );
    assert_eq!(
        ts_columns(&t, "order").0.unwrap(),
        r#"{"a": 2, "m": 3, "z": 1}"#,
        "JSONB sorts keys"
    );
    let (_, millis, counter, node, deleted) = ts_columns(&t, "huge_ts");
    assert_eq!(
        (millis, counter, node.as_str(), deleted),
        (i64::MAX, i32::MAX, "n\u{FFFD}de", Some(false))
    );
    assert_eq!(
        ts_columns(&t, "marker_node").3,
        "__ORMAP__\u{FFFD}",
        "still an LWW row for the TS adapter"
    );
    assert_eq!(ts_columns(&t, "or").3, "__ORMAP__");
}

#[test]
fn backups_and_nul_keys_live_in_the_extra_table_out_of_the_ts_adapters_sight() {
    let (s, t) = store("extra");
    let r = rec(lww("v"));
    put(&s, "m", "plain", &r);
    put(&s, "m", "with\0nul", &r);
    put(&s, "m\0map", "k", &r);
    block_on(s.add("m", Namespace::Backup, "plain", &rec(lww("backup")))).unwrap();
    let mut ts = TsAdapter::new(&t);
    assert_eq!(ts.load_all_keys("m"), ["plain"]);
    let extra: i64 = raw()
        .query_one(&format!("SELECT count(*) FROM {t}_tgs_extra"), &[])
        .unwrap()
        .get(0);
    assert_eq!(extra, 3);
    // Each namespace reads its own row.
    assert_eq!(get(&s, "m", "plain").unwrap().value, lww("v"));
    let backup = block_on(s.load("m", Namespace::Backup, "plain"))
        .unwrap()
        .unwrap();
    assert_eq!(backup.value, lww("backup"));
    // A scan of the primary namespace merges both tables in byte order.
    for k in ["a", "with", "with\0", "withz", "\0"] {
        put(&s, "m", k, &r);
    }
    let page = block_on(s.scan(&ScanRequest::entries("m", Namespace::Primary, 100))).unwrap();
    let keys: Vec<&str> = page.entries.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        ["\0", "a", "plain", "with", "with\0", "with\0nul", "withz"]
    );
    assert!(page.entries.iter().all(|e| e.record.as_ref() == Some(&r)));
    let maps = block_on(s.list_maps()).unwrap();
    assert_eq!(maps, ["m", "m\0map"]);
    let all = block_on(s.load_all(
        "m",
        Namespace::Primary,
        &["with\0nul".into(), "plain".into(), "none".into()],
    ))
    .unwrap();
    let got: Vec<&str> = all.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(got, ["with\0nul", "plain"]);
}

#[test]
fn keys_sort_by_their_bytes_under_the_databases_icu_collation() {
    let (s, t) = store("order");
    let keys = [
        "b",
        "B",
        "a",
        "_x",
        "é",
        "e\u{301}",
        "Z",
        "10",
        "9",
        "a b",
        "ab",
        "\u{1F600}",
        "\u{FFFD}",
    ];
    let r = rec(lww("v"));
    for k in keys {
        put(&s, "m", k, &r);
    }
    let mut bytewise: Vec<&str> = keys.to_vec();
    bytewise.sort();
    // The database's own order differs (ICU en-US), so a query that forgot
    // COLLATE "C" would fail below.
    let collated: Vec<String> = raw()
        .query(
            &format!("SELECT key FROM {t} WHERE map_name = 'm' ORDER BY key"),
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_ne!(
        collated, bytewise,
        "the test cluster's collation is not byte order"
    );
    for page in [1, 2, 5, 100] {
        let mut got: Vec<String> = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let req =
                ScanRequest::keys("m", Namespace::Primary, page).resume_after(after.as_deref());
            let p = block_on(s.scan(&req)).unwrap();
            got.extend(p.entries.iter().map(|e| e.key.clone()));
            match p.resume_after {
                Some(k) => after = Some(k),
                None => break,
            }
        }
        assert_eq!(got, bytewise, "page size {page}");
    }
    let req = ScanRequest::keys("m", Namespace::Primary, 10).with_prefix("a");
    let p = block_on(s.scan(&req)).unwrap();
    let got: Vec<&str> = p.entries.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(got, ["a", "a b", "ab"]);
}

#[test]
fn the_key_order_index_serves_keyset_scans() {
    let (s, t) = store("plan");
    let records: Vec<(String, StoredRecord)> = (0..2000)
        .map(|i| (format!("k{i:05}"), rec(lww(i))))
        .collect();
    block_on(s.add_all("m", Namespace::Primary, &records)).unwrap();
    let mut c = raw();
    c.batch_execute(&format!("ANALYZE {t}")).unwrap();
    let plan: Vec<String> = c
        .query(
            &format!(
                "EXPLAIN SELECT key FROM {t} WHERE map_name = 'm' AND key COLLATE \"C\" > 'k00100' \
                 AND key COLLATE \"C\" < 'l' ORDER BY key COLLATE \"C\" LIMIT 11"
            ),
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let plan = plan.join("\n");
    assert!(plan.contains(&format!("{t}_tgs_key_order")), "{plan}");
    assert!(!plan.contains("Sort"), "{plan}");
}

#[test]
fn keys_and_map_names_past_the_index_limit_are_refused_whole() {
    let (s, t) = store("limits");
    // Text that does not compress: the longest key and map name accepted
    // still fit every index.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut noise = |n: usize| -> String {
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from(b'!' + (x % 90) as u8)
            })
            .collect()
    };
    let (key, map) = (noise(MAX_KEY_LEN), noise(MAX_MAP_NAME_LEN));
    let r = rec(lww("v"));
    put(&s, &map, &key, &r);
    assert_eq!(get(&s, &map, &key), Some(r.clone()));
    block_on(s.add(&map, Namespace::Backup, &format!("{}\0", &key[1..]), &r)).unwrap();
    let too_long = format!("{key}k");
    let ops = [
        WriteOp::Put {
            key: "fine",
            record: &r,
        },
        WriteOp::Put {
            key: &too_long,
            record: &r,
        },
    ];
    let err = block_on(s.write("m", Namespace::Primary, &ops)).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::Rejected);
    assert!(err.message().contains("2049 bytes"), "{err}");
    let err = block_on(s.add(&format!("{map}m"), Namespace::Primary, "k", &r)).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::Rejected);
    assert_eq!(get(&s, "m", "fine"), None);
    let _ = t;
}

#[test]
fn a_row_the_server_refuses_fails_the_whole_batch_as_rejected() {
    let (s, t) = store("refused");
    let r = rec(lww("v"));
    put(&s, "m", "before", &r);
    // Stand in for one of PostgreSQL's limits (SQLSTATE class 54) on one key.
    raw()
        .batch_execute(&format!(
            "CREATE FUNCTION {t}_limit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
               IF NEW.key = 'too big' THEN RAISE EXCEPTION 'row too big' USING ERRCODE = '54000'; END IF; \
               RETURN NEW; END $$; \
             CREATE TRIGGER limit_rows BEFORE INSERT OR UPDATE ON {t} FOR EACH ROW EXECUTE FUNCTION {t}_limit()"
        ))
        .unwrap();
    let ops = [
        WriteOp::Put {
            key: "a",
            record: &r,
        },
        WriteOp::Remove { key: "before" },
        WriteOp::Put {
            key: "too big",
            record: &r,
        },
        WriteOp::Put {
            key: "z\0",
            record: &r,
        },
    ];
    let err = block_on(s.write("m", Namespace::Primary, &ops)).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::Rejected, "{err}");
    assert!(err.message().contains("row too big"), "{err}");
    assert_eq!(get(&s, "m", "a"), None);
    assert_eq!(get(&s, "m", "z\0"), None);
    assert_eq!(get(&s, "m", "before"), Some(r));
}
