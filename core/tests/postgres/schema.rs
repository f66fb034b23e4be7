//! `initialize`: what it creates, that it is idempotent, that it adopts a
//! table TopGun's TS adapter made and refuses one it did not.

use crate::support::*;
use pollster::block_on;
use topgun_storage_core::datastores::PostgresDataStore;
use topgun_storage_core::{DataStoreErrorKind, MapDataStore};

fn columns(table: &str) -> Vec<(String, String)> {
    let rows = raw()
        .query(
            "SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute \
             WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            &[&table],
        )
        .unwrap();
    rows.iter().map(|r| (r.get(0), r.get(1))).collect()
}

/// The OIDs of the objects initialize makes, to see whether a second run
/// recreated any of them.
fn object_ids(table: &str) -> Vec<Option<u32>> {
    let row = raw()
        .query_one(
            "SELECT to_regclass($1)::oid, to_regclass($1 || '_tgs_extra')::oid, \
             to_regclass($1 || '_tgs_key_order')::oid, to_regprocedure($1 || '_tgs_guard()')::oid, \
             (SELECT oid FROM pg_trigger WHERE tgrelid = to_regclass($1) AND tgname = 'tgs_guard_insert'), \
             (SELECT oid FROM pg_trigger WHERE tgrelid = to_regclass($1) AND tgname = 'tgs_guard_update')",
            &[&table],
        )
        .unwrap();
    (0..6).map(|i| row.get(i)).collect()
}

#[test]
fn initialize_creates_the_ts_table_the_added_columns_and_the_rest_once() {
    let (s, t) = store("init");
    let have = columns(&t);
    let names: Vec<&str> = have.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "map_name",
            "key",
            "value",
            "ts_millis",
            "ts_counter",
            "ts_node_id",
            "is_deleted",
            "tgs_record",
            "tgs_stamp"
        ]
    );
    let ids = object_ids(&t);
    assert!(ids.iter().all(Option::is_some), "{ids:?}");
    // Again, from a second store and through initialize itself: nothing is recreated.
    let again = connect(config(&t));
    block_on(again.initialize()).unwrap();
    block_on(s.initialize()).unwrap();
    assert_eq!(object_ids(&t), ids);
    assert_eq!(columns(&t), have);
}

#[test]
fn concurrent_initializers_do_not_race() {
    let t = table("init_race");
    let stores: Vec<PostgresDataStore> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| connect(config(&t))))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(stores.len(), 4);
    assert!(object_ids(&t).iter().all(Option::is_some));
}

#[test]
fn a_table_the_ts_adapter_created_is_adopted_and_its_rows_kept() {
    let t = table("adopt");
    let mut ts = TsAdapter::new(&t);
    ts.initialize();
    let record = serde_json::json!({"value": {"a": 1}, "timestamp": {"millis": 5, "counter": 1, "nodeId": "n"}});
    ts.store("m", "k", &record);
    let s = connect(config(&t));
    assert_eq!(
        get(&s, "m", "k").unwrap().value,
        lww_at([("a", 1)].into_iter().collect(), 5, 1, "n")
    );
    // The TS adapter keeps working on the table: its own initialize, store, load, delete.
    ts.initialize();
    ts.store("m", "k2", &record);
    assert_eq!(ts.load("m", "k2"), Some(record.clone()));
    ts.delete("m", "k");
    assert_eq!(get(&s, "m", "k"), None);
}

fn lww_at(
    value: topgun_storage_core::Value,
    millis: u64,
    counter: u32,
    node: &str,
) -> topgun_storage_core::RecordValue {
    topgun_storage_core::RecordValue::lww(
        value,
        topgun_storage_core::Timestamp::new(millis, counter, node),
    )
}

#[test]
fn a_table_of_another_layout_is_refused_and_left_alone() {
    // TopGun's Rust server uses the same default name with this layout.
    let t = table("rust_layout");
    raw()
        .batch_execute(&format!(
            "CREATE TABLE {t} (map_name TEXT NOT NULL, key TEXT NOT NULL, value BYTEA NOT NULL, \
             expiration_time BIGINT NOT NULL DEFAULT 0, is_backup BOOLEAN NOT NULL DEFAULT FALSE, \
             created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, PRIMARY KEY (map_name, key, is_backup))"
        ))
        .unwrap();
    let before = columns(&t);
    let err = block_on(PostgresDataStore::connect(config(&t))).unwrap_err();
    assert_eq!(err.kind(), DataStoreErrorKind::Other);
    assert!(
        err.message()
            .contains("column value is bytea, expected jsonb"),
        "{err}"
    );
    assert_eq!(columns(&t), before, "nothing was added");
    let backup: Option<u32> = raw()
        .query_one("SELECT to_regclass($1 || '_tgs_extra')::oid", &[&t])
        .unwrap()
        .get(0);
    assert_eq!(backup, None, "the transaction was rolled back");
}

#[test]
fn a_disabled_or_dropped_trigger_is_restored() {
    let (s, t) = store("trigger_back");
    raw()
        .batch_execute(&format!("ALTER TABLE {t} DISABLE TRIGGER tgs_guard_update"))
        .unwrap();
    block_on(s.initialize()).unwrap();
    let enabled: String = raw()
        .query_one(
            "SELECT tgenabled::text FROM pg_trigger WHERE tgrelid = to_regclass($1) AND tgname = 'tgs_guard_update'",
            &[&t],
        )
        .unwrap()
        .get(0);
    assert_eq!(enabled, "O");
    raw()
        .batch_execute(&format!("DROP TRIGGER tgs_guard_update ON {t}"))
        .unwrap();
    block_on(s.initialize()).unwrap();
    assert!(object_ids(&t)[5].is_some());
    // The guard works again: a TS rewrite of our row drops its exact copy.
    put(&s, "m", "k", &rec(lww("mine")));
    TsAdapter::new(&t).store(
        "m",
        "k",
        &serde_json::json!({"value": "theirs", "timestamp": {"millis": 2, "counter": 0, "nodeId": "ts"}}),
    );
    let ts = topgun_storage_core::Timestamp::new(2, 0, "ts");
    assert_eq!(
        get(&s, "m", "k").unwrap().value,
        topgun_storage_core::RecordValue::lww("theirs", ts)
    );
    block_on(s.close()).unwrap();
}

#[test]
fn mixed_case_names_fold_to_the_table_the_ts_adapter_uses() {
    let t = table("Case");
    let upper = t.to_uppercase();
    let s = connect(config(&upper));
    put(&s, "m", "k", &rec(lww("v")));
    let mut ts = TsAdapter::new(&t.to_lowercase());
    assert_eq!(ts.load_all_keys("m"), ["k"]);
}
