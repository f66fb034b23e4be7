//! D6 and the PostgreSQL row of D8: `PostgresDataStore` against same-run
//! baselines on the same server and the same table.
//!
//! * D6: `storeAll` of 10,000 records and `load` of one, against TopGun's TS
//!   `PostgresAdapter` doing the same in Node through the `pg` package
//!   (`tests/postgres/node/ts_adapter.mjs`: its SQL, a loop of single
//!   upserts for `storeAll`, one select for `load`). Rounds alternate which
//!   side goes first; medians. Targets <= 0.1x and <= 1.0x.
//! * D8 (PostgreSQL): put, get, a scan page of 1000 entries and a batch of
//!   1000 puts, against the raw `tokio-postgres` client doing the same work
//!   on one connection (the equivalent SQL, values encoded in advance, the
//!   exact copy decoded on reads) from the same thread through a Tokio
//!   runtime of one worker, as the store's own. Target <= 1.2x each.
//!
//! Needs a server: `make postgres-bench` (part of `make bench`) starts the
//! throwaway cluster and installs the Node package first. The cluster runs
//! with `fsync = off`, so the figures are the client stack's cost, not a
//! disk's.

mod support;

#[path = "../tests/postgres/node_adapter.rs"]
mod node_adapter;

use criterion::Criterion;
use node_adapter::NodeTsAdapter;
use serde_json::json;
use std::time::{Duration, Instant};
use support::{compare, Indices, Row, Target};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Statement};
use topgun_storage_core::codec::value_to_json;
use topgun_storage_core::datastores::format;
use topgun_storage_core::datastores::{PostgresConfig, PostgresDataStore};
use topgun_storage_core::{
    block_on, MapDataStore, Namespace, RecordValue, ScanRequest, StoredRecord, Timestamp, Value,
};

const TABLE: &str = "bench_topgun_maps";
/// Keys preloaded in each map for the D8 rows.
const KEYS: usize = 10_000;
const BATCH: usize = 1000;
const PAGE: usize = 1000;
/// D6: records per `storeAll`, rounds, loads per round.
const STORE_ALL: usize = 10_000;
const D6_ROUNDS: usize = 5;
const D6_LOADS: usize = 300;

fn url() -> String {
    std::env::var("TOPGUN_TEST_POSTGRES_URL").expect(
        "TOPGUN_TEST_POSTGRES_URL: run through `make postgres-bench` (it starts PostgreSQL)",
    )
}

fn value(i: usize) -> Value {
    [
        ("name", Value::from(format!("user-{i}"))),
        ("score", Value::Int(i as i64)),
        ("active", Value::Bool(true)),
        (
            "tags",
            Value::Array(vec![Value::from("a"), Value::from("b")]),
        ),
    ]
    .into_iter()
    .collect()
}

fn record(i: usize) -> StoredRecord {
    let ts = Timestamp::new(1_700_000_000_000 + i as u64, 0, "bench");
    StoredRecord::new(RecordValue::lww(value(i), ts), 1_700_000_000_000)
}

fn key(i: usize) -> String {
    format!("key-{i:06}")
}

/// The raw client: one connection, its own one-worker runtime, the
/// statements prepared once.
struct Raw {
    rt: tokio::runtime::Runtime,
    client: Client,
    put: Statement,
    get: Statement,
    scan: Statement,
    batch: Statement,
}

/// One row's parameters, encoded in advance: the TS columns and the exact
/// copy, exactly what the store writes.
struct Encoded {
    key: String,
    json: String,
    millis: i64,
    record: Vec<u8>,
}

fn encode(i: usize) -> Encoded {
    let r = record(i);
    Encoded {
        key: key(i),
        json: value_to_json(&value(i)).expect("plain JSON"),
        millis: 1_700_000_000_000 + i as i64,
        record: format::encode_record(&r).expect("small record"),
    }
}

impl Raw {
    fn connect() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let client = rt.block_on(async {
            let (client, connection) = tokio_postgres::connect(&url(), NoTls)
                .await
                .expect("connect");
            tokio::spawn(connection);
            client
        });
        let upsert_tail = "ON CONFLICT (map_name, key) DO UPDATE SET value = EXCLUDED.value, \
             ts_millis = EXCLUDED.ts_millis, ts_counter = EXCLUDED.ts_counter, \
             ts_node_id = EXCLUDED.ts_node_id, is_deleted = EXCLUDED.is_deleted, \
             tgs_record = EXCLUDED.tgs_record, tgs_stamp = COALESCE(cur.tgs_stamp, 0) + 1";
        let (put, get, scan, batch) = rt.block_on(async {
            let put = client
                .prepare(&format!(
                    "INSERT INTO {TABLE} AS cur (map_name, key, value, ts_millis, ts_counter, \
                     ts_node_id, is_deleted, tgs_record, tgs_stamp) \
                     VALUES ($1, $2, $3::text::jsonb, $4, 0, 'bench', false, $5, 0) {upsert_tail}"
                ))
                .await
                .expect("prepare put");
            let get = client
                .prepare(&format!(
                    "SELECT tgs_record FROM {TABLE} WHERE map_name = $1 AND key = $2"
                ))
                .await
                .expect("prepare get");
            let scan = client
                .prepare(&format!(
                    "SELECT key, tgs_record FROM {TABLE} WHERE map_name = $1 \
                     AND key COLLATE \"C\" > $2 ORDER BY key COLLATE \"C\" LIMIT $3"
                ))
                .await
                .expect("prepare scan");
            let batch = client
                .prepare(&format!(
                    "INSERT INTO {TABLE} AS cur (map_name, key, value, ts_millis, ts_counter, \
                     ts_node_id, is_deleted, tgs_record, tgs_stamp) \
                     SELECT $1, u.key, u.value::jsonb, u.millis, 0, 'bench', false, u.record, 0 \
                     FROM UNNEST($2::text[], $3::text[], $4::int8[], $5::bytea[]) \
                     AS u(key, value, millis, record) {upsert_tail}"
                ))
                .await
                .expect("prepare batch");
            (put, get, scan, batch)
        });
        Self {
            rt,
            client,
            put,
            get,
            scan,
            batch,
        }
    }

    fn put(&self, map: &str, e: &Encoded) {
        let params: [&(dyn ToSql + Sync); 5] = [&map, &e.key, &e.json, &e.millis, &e.record];
        self.rt
            .block_on(self.client.execute(&self.put, &params))
            .expect("raw put");
    }

    fn get(&self, map: &str, key: &str) -> StoredRecord {
        let row = self
            .rt
            .block_on(self.client.query_one(&self.get, &[&map, &key]))
            .expect("raw get");
        format::decode_record(row.get(0)).expect("decodes")
    }

    fn scan(&self, map: &str, after: &str) -> Vec<(String, StoredRecord)> {
        let limit = PAGE as i64;
        let rows = self
            .rt
            .block_on(self.client.query(&self.scan, &[&map, &after, &limit]))
            .expect("raw scan");
        rows.iter()
            .map(|r| (r.get(0), format::decode_record(r.get(1)).expect("decodes")))
            .collect()
    }

    fn batch(&self, map: &str, rows: &[Encoded]) {
        let keys: Vec<&str> = rows.iter().map(|e| e.key.as_str()).collect();
        let values: Vec<&str> = rows.iter().map(|e| e.json.as_str()).collect();
        let millis: Vec<i64> = rows.iter().map(|e| e.millis).collect();
        let records: Vec<&[u8]> = rows.iter().map(|e| e.record.as_slice()).collect();
        let params: [&(dyn ToSql + Sync); 5] = [&map, &keys, &values, &millis, &records];
        self.rt
            .block_on(self.client.execute(&self.batch, &params))
            .expect("raw batch");
    }
}

fn timed(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

fn d8(c: &mut Criterion, store: &PostgresDataStore, rows: &mut Vec<Row>) {
    let raw = Raw::connect();
    let encoded: Vec<Encoded> = (0..KEYS).map(encode).collect();
    let records: Vec<(String, StoredRecord)> = (0..KEYS).map(|i| (key(i), record(i))).collect();
    for chunk in encoded.chunks(BATCH) {
        raw.batch("raw", chunk);
    }
    for chunk in records.chunks(BATCH) {
        block_on(store.add_all("ours", Namespace::Primary, chunk)).expect("preload");
    }

    let (mut ib, mut io) = (Indices::new(7), Indices::new(7));
    rows.push(compare(
        c,
        "D8",
        "PostgreSQL put (one upsert)",
        "tokio-postgres",
        Target::TimeRatioAtMost(1.2),
        (1.0, 1.0),
        |n| {
            timed(|| {
                for _ in 0..n {
                    raw.put("raw", &encoded[ib.next(KEYS)]);
                }
            })
        },
        |n| {
            timed(|| {
                for _ in 0..n {
                    let (k, r) = &records[io.next(KEYS)];
                    block_on(store.add("ours", Namespace::Primary, k, r)).expect("put");
                }
            })
        },
    ));

    let (mut ib, mut io) = (Indices::new(11), Indices::new(11));
    rows.push(compare(
        c,
        "D8",
        "PostgreSQL get (hit, decoded)",
        "tokio-postgres",
        Target::TimeRatioAtMost(1.2),
        (1.0, 1.0),
        |n| {
            timed(|| {
                for _ in 0..n {
                    std::hint::black_box(raw.get("raw", &encoded[ib.next(KEYS)].key));
                }
            })
        },
        |n| {
            timed(|| {
                for _ in 0..n {
                    let k = &records[io.next(KEYS)].0;
                    std::hint::black_box(
                        block_on(store.load("ours", Namespace::Primary, k)).expect("get"),
                    );
                }
            })
        },
    ));

    let starts: Vec<String> = (0..KEYS - PAGE).step_by(PAGE / 2).map(key).collect();
    let (mut ib, mut io) = (Indices::new(13), Indices::new(13));
    rows.push(compare(
        c,
        "D8",
        "PostgreSQL scan page of 1000 entries",
        "tokio-postgres",
        Target::TimeRatioAtMost(1.2),
        (1.0, 1.0),
        |n| {
            timed(|| {
                for _ in 0..n {
                    let page = raw.scan("raw", &starts[ib.next(starts.len())]);
                    assert_eq!(page.len(), PAGE);
                }
            })
        },
        |n| {
            timed(|| {
                for _ in 0..n {
                    let after = &starts[io.next(starts.len())];
                    let req = ScanRequest::entries("ours", Namespace::Primary, PAGE)
                        .resume_after(Some(after));
                    let page = block_on(store.scan(&req)).expect("scan");
                    assert_eq!(page.entries.len(), PAGE);
                }
            })
        },
    ));

    let chunks = KEYS / BATCH;
    let (mut ib, mut io) = (Indices::new(17), Indices::new(17));
    rows.push(compare(
        c,
        "D8",
        "PostgreSQL batch of 1000 puts",
        "tokio-postgres",
        Target::TimeRatioAtMost(1.2),
        (1.0, 1.0),
        |n| {
            timed(|| {
                for _ in 0..n {
                    let i = ib.next(chunks) * BATCH;
                    raw.batch("raw", &encoded[i..i + BATCH]);
                }
            })
        },
        |n| {
            timed(|| {
                for _ in 0..n {
                    let i = io.next(chunks) * BATCH;
                    block_on(store.add_all("ours", Namespace::Primary, &records[i..i + BATCH]))
                        .expect("batch");
                }
            })
        },
    ));
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn d6(store: &PostgresDataStore, rows: &mut Vec<Row>) {
    let mut ts = NodeTsAdapter::start(&url(), TABLE);
    let records: Vec<(String, StoredRecord)> =
        (0..STORE_ALL).map(|i| (key(i), record(i))).collect();
    let js: Vec<serde_json::Value> = (0..STORE_ALL)
        .map(|i| {
            let v: serde_json::Value =
                serde_json::from_str(&value_to_json(&value(i)).expect("json")).expect("json");
            json!([key(i), {"value": v, "timestamp": {"millis": 1_700_000_000_000u64 + i as u64, "counter": 0, "nodeId": "bench"}}])
        })
        .collect();
    let store_all_ts = json!({"op": "timeStoreAll", "map": "d6_ts", "records": js});
    let (mut base, mut ours) = (Vec::new(), Vec::new());
    for round in 0..D6_ROUNDS {
        let mut run_ts = || ts.call(store_all_ts.clone())["ns"].as_f64().expect("ns");
        let run_ours = || {
            timed(|| {
                block_on(store.add_all("d6_ours", Namespace::Primary, &records)).expect("storeAll")
            })
            .as_nanos() as f64
        };
        if round % 2 == 0 {
            base.push(run_ts());
            ours.push(run_ours());
        } else {
            ours.push(run_ours());
            base.push(run_ts());
        }
    }
    let row = Row {
        id: "D6".into(),
        what: "storeAll(10k)".into(),
        baseline_name: "TS PostgresAdapter/pg".into(),
        baseline_ns: median(base),
        ours_ns: median(ours),
        target: Target::TimeRatioAtMost(0.1),
    };
    row.print();
    rows.push(row);

    let (mut base, mut ours) = (Vec::new(), Vec::new());
    let load_ts = json!({"op": "timeLoad", "map": "d6_ts", "key": key(4242), "times": D6_LOADS});
    let k = key(4242);
    for round in 0..4 {
        let mut run_ts = |base: &mut Vec<f64>| {
            for ns in ts.call(load_ts.clone())["ns"].as_array().expect("ns") {
                base.push(ns.as_f64().expect("ns"));
            }
        };
        let run_ours = |ours: &mut Vec<f64>| {
            for _ in 0..D6_LOADS {
                let t = Instant::now();
                let r = block_on(store.load("d6_ours", Namespace::Primary, &k)).expect("load");
                ours.push(t.elapsed().as_nanos() as f64);
                assert!(r.is_some());
            }
        };
        if round % 2 == 0 {
            run_ts(&mut base);
            run_ours(&mut ours);
        } else {
            run_ours(&mut ours);
            run_ts(&mut base);
        }
    }
    let row = Row {
        id: "D6".into(),
        what: "load (one key)".into(),
        baseline_name: "TS PostgresAdapter/pg".into(),
        baseline_ns: median(base),
        ours_ns: median(ours),
        target: Target::TimeRatioAtMost(1.0),
    };
    row.print();
    rows.push(row);
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .without_plots()
        .configure_from_args();
    let config = PostgresConfig::from_connection_string(&url())
        .expect("url")
        .with_table_name(TABLE)
        .expect("table");
    let store = block_on(PostgresDataStore::connect(config)).expect("connect");
    let mut rows = Vec::new();
    d6(&store, &mut rows);
    d8(&mut c, &store, &mut rows);
    println!("\n== PostgreSQL: ours vs same-run baseline (median per operation) ==");
    for row in &rows {
        row.print();
    }
}
