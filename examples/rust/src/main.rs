//! `make demo`, Rust part: the workload of examples/README.md through the
//! record store over a redb file, printing what it did and the digest of the
//! final state; then, in a second process, the file read back.
//!
//! ```text
//! topgun-storage-example write PATH   the workload over a new redb file at PATH
//! topgun-storage-example read PATH    PATH opened again, read back, its digest
//! ```

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Instant;
use topgun_storage_core::codec::{decode_record_value, encode_record_value};
use topgun_storage_core::{
    block_on, partition_for_key, CallerProvenance, DataStoreError, DataStoreSpec,
    DefaultRecordStore, ExpiryPolicy, IterationCursor, ManualClock, MapDataStore, RecordStore,
    RecordValue, StorageConfig, Timestamp, Value,
};

const N: usize = 100_000;
const START: i64 = 1_700_000_000_000;
const TTL: u64 = 60_000;

fn value(i: usize) -> RecordValue {
    let doc: Value = [
        ("id", Value::Int(i as i64)),
        ("name", Value::from(format!("user-{i}"))),
        ("score", Value::Float(i as f64 + 0.25)),
    ]
    .into_iter()
    .collect();
    RecordValue::lww(doc, Timestamp::new(START as u64 + i as u64, 0, "demo-node"))
}

fn rate(n: usize, secs: f64) -> String {
    let per_sec = n as f64 / secs;
    if per_sec < 1e5 {
        format!("{:.1} k ops/s", per_sec / 1e3)
    } else {
        format!("{:.2} M ops/s", per_sec / 1e6)
    }
}

/// FNV-1a 64 of each key, a 0xff byte and its MessagePack value, summed:
/// independent of iteration order, equal across languages for equal data.
fn digest(store: &DefaultRecordStore) -> u64 {
    let mut cursor = IterationCursor::start();
    let mut sum = 0u64;
    while !cursor.is_finished() {
        let page = store
            .fetch_entries(&cursor, 1000)
            .expect("cursor from this store");
        for (key, record) in page.items {
            let mut h = 0xcbf2_9ce4_8422_2325u64;
            for b in key
                .bytes()
                .chain([0xff])
                .chain(encode_record_value(&record.value))
            {
                h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
            sum = sum.wrapping_add(h);
        }
        cursor = page.next_cursor;
    }
    sum
}

/// The demo's store over the redb file at `path`, on `clock`. Durability
/// `os`: an acknowledged write is in the operating system when the call
/// returns, so it survives the end of the process (`fsync`, the default,
/// also survives power loss, at one disk flush per write).
fn open(
    path: &str,
    clock: &ManualClock,
) -> Result<(DefaultRecordStore, Arc<dyn MapDataStore>), DataStoreError> {
    let mut spec = DataStoreSpec::parse("redb", path)?;
    spec.set("durability", "os")?;
    let data_store = spec.open()?;
    let store = DefaultRecordStore::standalone_over(
        "default",
        StorageConfig::default(),
        data_store.clone(),
        Some(Arc::new(clock.clone())),
    );
    Ok((store, data_store))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match (args.first().map(String::as_str), args.get(1)) {
        (Some("write"), Some(path)) => write(path),
        (Some("read"), Some(path)) => read(path),
        _ => {
            eprintln!("usage: topgun-storage-example write|read PATH");
            std::process::exit(2);
        }
    };
    if let Err(e) = result {
        eprintln!("topgun-storage-example: {e}");
        std::process::exit(1);
    }
}

/// The second process: the file opened again on a clock where the first
/// one stopped, every record on disk read back (warm-up), the digest.
fn read(path: &str) -> Result<(), Box<dyn std::error::Error>> {
    let clock = ManualClock::new(START + TTL as i64 + 1);
    let t = Instant::now();
    let (store, data_store) = open(path, &clock)?;
    let warm = block_on(store.warm_up(&mut |_| ControlFlow::Continue(())))?;
    let secs = t.elapsed().as_secs_f64();
    println!("topgun-storage Rust demo, second process: {path} opened again");
    println!(
        "reopen   {} records on disk read in {:.1} ms: {} loaded, {} past their TTL left out; len {}",
        warm.scanned,
        secs * 1e3,
        warm.loaded,
        warm.expired,
        store.size()
    );
    println!("digest   {:016x}", digest(&store));
    block_on(data_store.close())?;
    Ok(())
}

/// The first process: the workload over a new file, then the file closed.
fn write(path: &str) -> Result<(), Box<dyn std::error::Error>> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
        _ => {}
    }
    let clock = ManualClock::new(START);
    let (store, data_store) = open(path, &clock)?;
    println!("topgun-storage Rust demo: writing {path} (redb, durability os)");

    let t = Instant::now();
    for i in 0..N {
        let expiry = if i % 10 == 0 {
            ExpiryPolicy::ttl(TTL)
        } else {
            ExpiryPolicy::NONE
        };
        block_on(store.put(
            &format!("user:{i}"),
            value(i),
            expiry,
            CallerProvenance::Client,
        ))?;
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "put      {N} records in {:.1} ms ({})",
        secs * 1e3,
        rate(N, secs)
    );
    println!(
        "         len {}, estimated cost {} bytes",
        store.size(),
        store.owned_entry_cost()
    );

    let t = Instant::now();
    let mut hits = 0;
    for i in 0..N {
        if block_on(store.get(&format!("user:{}", (i * 7919) % N), true))?.is_some() {
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
    assert_eq!(decode_record_value(&bytes).as_ref(), Ok(&record.value));
    println!(
        "codec    {key} -> {} bytes of MessagePack -> decoded equal; partition {}",
        bytes.len(),
        partition_for_key(key)
    );

    let t = Instant::now();
    let mut removed = 0;
    for i in (1..N).step_by(4) {
        if block_on(store.remove(&format!("user:{i}"), CallerProvenance::Client))?.is_some() {
            removed += 1;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "remove   {removed} keys (i % 4 == 1) in {:.1} ms; len {}",
        secs * 1e3,
        store.size()
    );

    clock.advance(TTL as i64 + 1);
    let mut expired = 0;
    for _ in 0..20 {
        expired += store.maintain().expired;
    }
    println!(
        "expiry   clock +{} ms, 20 maintain() passes: {expired} expired; len {}",
        TTL + 1,
        store.size()
    );
    println!("written  {:016x}", digest(&store));
    block_on(data_store.close())?;
    Ok(())
}
