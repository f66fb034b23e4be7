//! What the PostgreSQL tests share: the server the Makefile started, fresh
//! table names, a raw client, and TopGun's TS adapter's own SQL.

#![allow(dead_code)] // each module uses its own part

use pollster::block_on;
use postgres::{Client, NoTls};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use topgun_storage_core::datastores::{PostgresConfig, PostgresDataStore};
use topgun_storage_core::{MapDataStore, Namespace, RecordValue, StoredRecord, Timestamp, Value};

/// The server started by `tests/postgres/cluster.sh run` (`make rust-test`).
pub fn url() -> String {
    std::env::var("TOPGUN_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "TOPGUN_TEST_POSTGRES_URL is not set: the PostgreSQL tests need the throwaway \
             server that `make rust-test` starts (or run them through \
             `tests/postgres/cluster.sh run target/postgres cargo test ...`)"
        )
    })
}

/// A table name no other test uses (valid for the TS adapter, <= 49 bytes).
pub fn table(name: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let mut t = format!("t{}_{n}_{name}", std::process::id());
    t.truncate(49);
    t
}

pub fn config(table: &str) -> PostgresConfig {
    PostgresConfig::from_connection_string(&url())
        .unwrap()
        .with_table_name(table)
        .unwrap()
        .with_connect_timeout(Duration::from_secs(10))
}

pub fn connect(config: PostgresConfig) -> PostgresDataStore {
    block_on(PostgresDataStore::connect(config)).unwrap()
}

/// A store on a new table.
pub fn store(name: &str) -> (PostgresDataStore, String) {
    let t = table(name);
    (connect(config(&t)), t)
}

/// A plain client, for looking at and changing the tables behind the store.
pub fn raw() -> Client {
    Client::connect(&url(), NoTls).unwrap()
}

pub fn lww(value: impl Into<Value>) -> RecordValue {
    RecordValue::lww(value, Timestamp::new(1_700_000_000_123, 7, "node-1"))
}

pub fn rec(value: RecordValue) -> StoredRecord {
    StoredRecord::new(value, 1_700_000_000_500)
}

pub fn put(s: &PostgresDataStore, map: &str, key: &str, record: &StoredRecord) {
    block_on(s.add(map, Namespace::Primary, key, record)).unwrap();
}

pub fn get(s: &PostgresDataStore, map: &str, key: &str) -> Option<StoredRecord> {
    block_on(s.load(map, Namespace::Primary, key)).unwrap()
}

/// TopGun's TS `PostgresAdapter`, statement for statement (its SQL and row
/// mapping, run through a Rust client; `tests/postgres/node/` runs the same
/// through the `pg` package from Node).
pub struct TsAdapter {
    pub client: Client,
    pub table: String,
}

impl TsAdapter {
    pub fn new(table: &str) -> Self {
        Self {
            client: raw(),
            table: table.to_owned(),
        }
    }

    pub fn initialize(&mut self) {
        self.client
            .batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS {} (
                  map_name TEXT NOT NULL,
                  key TEXT NOT NULL,
                  value JSONB,
                  ts_millis BIGINT NOT NULL,
                  ts_counter INTEGER NOT NULL,
                  ts_node_id TEXT NOT NULL,
                  is_deleted BOOLEAN DEFAULT FALSE,
                  PRIMARY KEY (map_name, key)
                )",
                self.table
            ))
            .unwrap();
    }

    /// `store(mapName, key, record)` with the TS row mapping; `record` is
    /// the StorageValue as JSON.
    pub fn store(&mut self, map: &str, key: &str, record: &serde_json::Value) {
        let record = &js_numbers(record);
        let sql = format!(
            "INSERT INTO {} (map_name, key, value, ts_millis, ts_counter, ts_node_id, is_deleted)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (map_name, key) DO UPDATE SET
               value = EXCLUDED.value,
               ts_millis = EXCLUDED.ts_millis,
               ts_counter = EXCLUDED.ts_counter,
               ts_node_id = EXCLUDED.ts_node_id,
               is_deleted = EXCLUDED.is_deleted",
            self.table
        );
        let kind = record.get("type").and_then(|t| t.as_str());
        if matches!(kind, Some("OR") | Some("OR_TOMBSTONES")) {
            self.client
                .execute(
                    &sql,
                    &[&map, &key, record, &0i64, &0i32, &"__ORMAP__", &false],
                )
                .unwrap();
        } else {
            let value = &record["value"];
            let ts = &record["timestamp"];
            let millis = ts["millis"].as_i64().unwrap();
            let counter = i32::try_from(ts["counter"].as_i64().unwrap()).unwrap();
            let node = ts["nodeId"].as_str().unwrap();
            self.client
                .execute(
                    &sql,
                    &[
                        &map,
                        &key,
                        value,
                        &millis,
                        &counter,
                        &node,
                        &value.is_null(),
                    ],
                )
                .unwrap();
        }
    }

    /// `load(mapName, key)` with `mapRowToRecord`.
    pub fn load(&mut self, map: &str, key: &str) -> Option<serde_json::Value> {
        let sql = format!(
            "SELECT value, ts_millis, ts_counter, ts_node_id, is_deleted FROM {} \
             WHERE map_name = $1 AND key = $2",
            self.table
        );
        let row = self.client.query_opt(&sql, &[&map, &key]).unwrap()?;
        Some(map_row(&row, 0))
    }

    /// `loadAll(mapName, keys)`.
    pub fn load_all(&mut self, map: &str, keys: &[&str]) -> Vec<(String, serde_json::Value)> {
        let sql = format!(
            "SELECT key, value, ts_millis, ts_counter, ts_node_id, is_deleted FROM {} \
             WHERE map_name = $1 AND key = ANY($2)",
            self.table
        );
        let rows = self.client.query(&sql, &[&map, &keys]).unwrap();
        rows.iter().map(|r| (r.get(0), map_row(r, 1))).collect()
    }

    /// `loadAllKeys(mapName)`.
    pub fn load_all_keys(&mut self, map: &str) -> Vec<String> {
        let sql = format!("SELECT key FROM {} WHERE map_name = $1", self.table);
        let rows = self.client.query(&sql, &[&map]).unwrap();
        let mut keys: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        keys.sort();
        keys
    }

    /// `delete(mapName, key)`.
    pub fn delete(&mut self, map: &str, key: &str) {
        let sql = format!(
            "DELETE FROM {} WHERE map_name = $1 AND key = $2",
            self.table
        );
        self.client.execute(&sql, &[&map, &key]).unwrap();
    }

    /// `deleteAll(mapName, keys)`.
    pub fn delete_all(&mut self, map: &str, keys: &[&str]) {
        let sql = format!(
            "DELETE FROM {} WHERE map_name = $1 AND key = ANY($2)",
            self.table
        );
        self.client.execute(&sql, &[&map, &keys]).unwrap();
    }
}

/// The value as a JS server holds it: every number is a double, and
/// `JSON.stringify` writes a whole one without a fraction (`2.0` as `2`).
fn js_numbers(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        J::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => J::from(f as i64),
            _ => v.clone(),
        },
        J::Array(items) => J::Array(items.iter().map(js_numbers).collect()),
        J::Object(m) => J::Object(m.iter().map(|(k, v)| (k.clone(), js_numbers(v))).collect()),
        _ => v.clone(),
    }
}

/// `mapRowToRecord`: the OR marker returns the value as is; otherwise an
/// LWW record whose value is null when `is_deleted`.
fn map_row(row: &postgres::Row, first: usize) -> serde_json::Value {
    let value: Option<serde_json::Value> = row.get(first);
    let node: String = row.get(first + 3);
    if node == "__ORMAP__" {
        return value.unwrap_or(serde_json::Value::Null);
    }
    let deleted: Option<bool> = row.get(first + 4);
    let millis: i64 = row.get(first + 1);
    let counter: i32 = row.get(first + 2);
    serde_json::json!({
        "value": if deleted == Some(true) { serde_json::Value::Null } else { value.unwrap_or(serde_json::Value::Null) },
        "timestamp": { "millis": millis, "counter": counter, "nodeId": node },
    })
}
