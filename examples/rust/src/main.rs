//! `make demo`: a workload against the engine that prints what it did.
//!
//! 100,000 puts of TopGun-shaped records, gets, a full cursor scan in pages,
//! random samples, a MessagePack round trip, and a digest of the final state
//! (order-independent, so any engine holding the same data prints the same).

use std::time::Instant;
use topgun_storage_core::codec::{decode_record_value, encode_record_value};
use topgun_storage_core::{
    partition_for_key, HashMapStorage, IterationCursor, Record, RecordMetadata, RecordValue,
    StorageEngine, Timestamp, Value,
};

const N: usize = 100_000;

fn value(i: usize) -> RecordValue {
    let doc: Value = [
        ("id", Value::Int(i as i64)),
        ("name", Value::from(format!("user-{i}"))),
        ("score", Value::Float(i as f64 / 7.0)),
    ]
    .into_iter()
    .collect();
    RecordValue::Lww {
        value: doc,
        timestamp: Timestamp::new(1_700_000_000_000 + i as u64, 0, "demo-node"),
        ttl_ms: None,
    }
}

fn rate(n: usize, secs: f64) -> String {
    format!("{:.2} M ops/s", n as f64 / secs / 1e6)
}

/// FNV-1a of each key and its encoded value, combined with a commutative sum
/// so the digest does not depend on iteration order.
fn digest(store: &HashMapStorage) -> u64 {
    let mut cursor = IterationCursor::start();
    let mut sum = 0u64;
    while !cursor.is_finished() {
        let page = store
            .fetch_entries(&cursor, 1000)
            .expect("cursor from this store");
        for (key, record) in page.items {
            let mut h = 0xcbf2_9ce4_8422_2325u64;
            let bytes = encode_record_value(&record.value);
            for b in key.bytes().chain([0xff]).chain(bytes) {
                h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
            sum = sum.wrapping_add(h);
        }
        cursor = page.next_cursor;
    }
    sum
}

fn main() {
    let store = HashMapStorage::new();
    println!("topgun-storage Rust demo: {} shards", store.shard_count());

    let t = Instant::now();
    for i in 0..N {
        let v = value(i);
        let cost = (encode_record_value(&v).len() + 16) as u64;
        store.put(
            &format!("user:{i}"),
            Record::new(v, RecordMetadata::new(0, cost)),
        );
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "put      {N} records in {:.1} ms ({})",
        secs * 1e3,
        rate(N, secs)
    );
    println!(
        "         len {}, estimated cost {} bytes",
        store.len(),
        store.estimated_cost()
    );

    let t = Instant::now();
    let mut hits = 0;
    for i in 0..N {
        if store.get(&format!("user:{}", (i * 7919) % N)).is_some() {
            hits += 1;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "get      {hits}/{N} hits in {:.1} ms ({})",
        secs * 1e3,
        rate(N, secs)
    );

    let t = Instant::now();
    let (mut cursor, mut pages, mut keys) = (IterationCursor::start(), 0, 0);
    while !cursor.is_finished() {
        let page = store
            .fetch_keys(&cursor, 1000)
            .expect("cursor from this store");
        keys += page.items.len();
        pages += 1;
        cursor = page.next_cursor;
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "scan     {keys} keys in {pages} pages of <= 1000 in {:.1} ms",
        secs * 1e3
    );

    let sample = store.random_samples(5);
    let names: Vec<&str> = sample.iter().map(|(k, _)| k.as_str()).collect();
    println!("sample   5 random keys: {}", names.join(", "));

    let (key, record) = &sample[0];
    let bytes = encode_record_value(&record.value);
    let back = decode_record_value(&bytes).expect("own encoding decodes");
    assert_eq!(&back, &record.value);
    println!(
        "codec    {key} -> {} bytes of MessagePack -> decoded equal; partition {}",
        bytes.len(),
        partition_for_key(key)
    );

    for i in (0..N).step_by(2) {
        store.remove(&format!("user:{i}"));
    }
    println!(
        "remove   every second key: len {}, estimated cost {} bytes",
        store.len(),
        store.estimated_cost()
    );
    println!("digest   {:016x}", digest(&store));
    store.clear();
    println!(
        "clear    len {}, estimated cost {}",
        store.len(),
        store.estimated_cost()
    );
}
